/*
 * vmm/vcpu.c - vCPU creation, boot register state, CPUID/MSRs, and the flat
 * run loop: each exit reason calls one function.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/kvm.h"
#include "vmm/vm.h"

#define MSR_IA32_TSC            0x10
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102

int vcpu_create(struct vm *vm, unsigned id)
{
	struct vcpu *v = &vm->vcpus[id];
	int fd;

	v->vm = vm;
	v->id = id;
	v->fd = -1;
	fd = kvm_ioctl(vm->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)id);
	if (fd < 0)
		return fd;
	v->fd = fd;
	vm->nr_vcpus = id + 1;
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->started) {
		char ports[VCPU_PORT_STATS * 24 + 32] = "";
		size_t len = 0;
		unsigned i;

		for (i = 0; i < VCPU_PORT_STATS && v->port_stats[i].n; i++)
			len += snprintf(ports + len, sizeof(ports) - len, " %#x:%llu",
					v->port_stats[i].port, (unsigned long long)v->port_stats[i].n);
		if (v->port_other)
			snprintf(ports + len, sizeof(ports) - len, " other:%llu",
				 (unsigned long long)v->port_other);
		log_debug("vcpu %u: %llu I/O exits, %llu MMIO exits; by port%s", v->id,
			  (unsigned long long)v->io_exits, (unsigned long long)v->mmio_exits,
			  ports[0] ? ports : " -");
	}
	if (v->run)
		munmap(v->run, v->vm->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

/*
 * CPUID: what KVM supports, with our topology and phys-bits. The vendor is
 * kept: the guest must see the host's (AMD hole rules, errata).
 */
static int vcpu_cpuid(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_cpuid2 *c;
	unsigned n = 256, i;
	int r;

	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = n;
	r = kvm_ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c);
	if (r < 0)
		goto out;
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* initial APIC id, logical count, and "running under a hypervisor" */
			e->ebx = (e->ebx & 0x0000ffff) | (v->id << 24) | ((vm->cfg.cpus & 0xff) << 16);
			e->ecx |= 1u << 31;
			if (vm->cfg.cpus > 1)
				e->edx |= 1u << 28; /* HTT: the logical count is valid */
			break;
		case 0xb:
		case 0x1f:
			e->edx = v->id; /* x2APIC id */
			break;
		case 0x80000008:
			e->eax = (e->eax & ~0xffu) | vm->layout.phys_bits;
			break;
		}
	}
	r = kvm_ioctl(v->fd, KVM_SET_CPUID2, c);
out:
	free(c);
	return r < 0 ? r : 0;
}

static int vcpu_msrs(struct vcpu *v)
{
	static const struct { uint32_t idx; uint64_t val; } init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_TSC, 0 },
		/* fast strings, as firmware leaves it */
		{ MSR_IA32_MISC_ENABLE, 1 },
		/* MTRRs on, default write-back: Linux maps RAM uncached otherwise */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[ARRAY_SIZE(init)];
	} m;
	unsigned i;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = ARRAY_SIZE(init);
	for (i = 0; i < ARRAY_SIZE(init); i++) {
		m.e[i].index = init[i].idx;
		m.e[i].data = init[i].val;
	}
	r = kvm_ioctl(v->fd, KVM_SET_MSRS, &m);
	if (r >= 0 && (unsigned)r != ARRAY_SIZE(init))
		log_warn("vcpu %u: KVM took %d of %zu MSRs", v->id, r, ARRAY_SIZE(init));
	return r < 0 ? r : 0;
}

static void vcpu_seg_from_desc(struct kvm_segment *s, uint16_t sel, uint64_t d)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	s->limit = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
	s->type = (d >> 40) & 0xf;
	s->s = (d >> 44) & 1;
	s->dpl = (d >> 45) & 3;
	s->present = (d >> 47) & 1;
	s->avl = (d >> 52) & 1;
	s->l = (d >> 53) & 1;
	s->db = (d >> 54) & 1;
	s->g = (d >> 55) & 1;
	if (s->g)
		s->limit = (s->limit << 12) | 0xfff;
}

/* The BSP of a direct Linux boot starts in the state firmware/ prepared. */
static int vcpu_boot_regs(struct vcpu *v)
{
	const struct fw_entry *e = &v->vm->entry;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	int r;

	r = kvm_ioctl(v->fd, KVM_GET_SREGS, &sregs);
	if (r)
		return r;
	vcpu_seg_from_desc(&sregs.cs, e->code_sel, e->code_desc);
	vcpu_seg_from_desc(&sregs.ds, e->data_sel, e->data_desc);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = e->gdt_base;
	sregs.gdt.limit = e->gdt_limit;
	sregs.cr0 = e->cr0;
	sregs.cr3 = e->cr3;
	sregs.cr4 = e->cr4;
	sregs.efer = e->efer;
	r = kvm_ioctl(v->fd, KVM_SET_SREGS, &sregs);
	if (r)
		return r;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = e->rip;
	regs.rsp = e->rsp;
	regs.rsi = e->rsi;
	regs.rbx = e->rbx;
	r = kvm_ioctl(v->fd, KVM_SET_REGS, &regs);
	if (r)
		return r;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	return kvm_ioctl(v->fd, KVM_SET_FPU, &fpu);
}

/* LINT0 ExtINT and LINT1 NMI, as a PC BIOS leaves them for a direct boot. */
static int vcpu_lapic(struct vcpu *v)
{
	struct kvm_lapic_state l;
	uint32_t *lvt0, *lvt1;
	int r;

	r = kvm_ioctl(v->fd, KVM_GET_LAPIC, &l);
	if (r)
		return r;
	lvt0 = (uint32_t *)&l.regs[0x350];
	lvt1 = (uint32_t *)&l.regs[0x360];
	*lvt0 = (*lvt0 & ~0x700u & ~0x10000u) | (7u << 8);
	*lvt1 = (*lvt1 & ~0x700u & ~0x10000u) | (4u << 8);
	return kvm_ioctl(v->fd, KVM_SET_LAPIC, &l);
}

int vcpu_setup(struct vcpu *v)
{
	int r;

	r = vcpu_cpuid(v);
	r = r ?: vcpu_msrs(v);
	if (r)
		return r;
	if (!v->vm->direct_boot)
		return 0; /* firmware: KVM's reset state is the PC's reset vector */
	r = vcpu_lapic(v);
	if (!r && v->id == 0)
		r = vcpu_boot_regs(v);
	return r;
}

static void vcpu_dump(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (__kvm_ioctl(v->fd, KVM_GET_REGS, &r) || __kvm_ioctl(v->fd, KVM_GET_SREGS, &s))
		return;
	fprintf(stderr,
		"vmm: vcpu %u: rip=%#llx rsp=%#llx rflags=%#llx rax=%#llx rbx=%#llx rcx=%#llx "
		"rdx=%#llx rsi=%#llx rdi=%#llx cs=%#x(base %#llx) cr0=%#llx cr3=%#llx cr4=%#llx "
		"efer=%#llx\n",
		v->id, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi,
		s.cs.selector, s.cs.base, s.cr0, s.cr3, s.cr4, s.efer);
}

static void vcpu_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char bytes[64] = "";
	unsigned i, n;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		for (i = 0; i < n; i++)
			snprintf(bytes + 3 * i, sizeof(bytes) - 3 * i, " %02x",
				 run->emulation_failure.insn_bytes[i]);
	}
	log_error("vcpu %u: KVM internal error, suberror %u%s%s", v->id, run->internal.suberror,
		  bytes[0] ? ", instruction bytes:" : "", bytes);
	vcpu_dump(v);
}

/*
 * APM_CNT (port 0xB2, ICH9): a write raises an SMI on the writing CPU, as on
 * Q35 with SMI_EN.APMC_EN; without KVM SMM there is nothing to raise.
 */
static void vcpu_smi(struct vcpu *v)
{
	if (v->vm->has_smm && __kvm_ioctl(v->fd, KVM_SMI, NULL) < 0)
		log_warn("vcpu %u: KVM_SMI failed", v->id);
}

static void vcpu_count_port(struct vcpu *v, uint16_t port)
{
	unsigned i;

	for (i = 0; i < VCPU_PORT_STATS; i++) {
		if (v->port_stats[i].n && v->port_stats[i].port != port)
			continue;
		v->port_stats[i].port = port;
		v->port_stats[i].n++;
		return;
	}
	v->port_other++;
}

static void vcpu_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size, i;

	if (!v->io_exits++)
		log_debug("vcpu %u: first I/O exit, port %#x", v->id, run->io.port);
	vcpu_count_port(v, run->io.port);

	/* KVM bounds the data area; a guest rep ins/outs arrives as count items */
	for (i = 0; i < run->io.count; i++, data += size) {
		uint64_t val = 0;

		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&val, data, size);
			if (run->io.port == VM_APM_CNT_PORT)
				vcpu_smi(v);
			iobus_dispatch(&v->vm->pio, run->io.port, size, true, &val);
		} else {
			iobus_dispatch(&v->vm->pio, run->io.port, size, false, &val);
			memcpy(data, &val, size);
		}
	}
}

/* An MMIO exit on RAM that KVM should have had in a memslot: count it. */
static void vcpu_check_hole(struct vm *vm, struct mem_space *space, uint64_t gpa, bool is_write)
{
	struct mem_flat_view *view = mem_view_get(space);
	const struct mem_flat_range *fr = mem_view_find(view, gpa);
	uint64_t zero = 0;

	if (fr && mem_range_is_ram(fr) && !(is_write && fr->readonly)) {
		atomic_compare_exchange_strong(&vm->ram_mmio_first, &zero, gpa);
		atomic_fetch_add(&vm->ram_mmio_exits, 1);
	}
	mem_flat_view_put(view);
}

static void vcpu_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct mem_space *space = &v->vm->space;
	unsigned len = run->mmio.len;
	uint64_t val = 0;

	if (len > 8)
		return; /* KVM never sends more; a bad length must not reach the copy */
	/* in SMM the vCPU sees the SMM view (KVM address space 1) */
	if ((run->flags & KVM_RUN_X86_SMM) && v->vm->has_smm)
		space = &v->vm->smm_space;
	vcpu_check_hole(v->vm, space, run->mmio.phys_addr, run->mmio.is_write);
	if (run->mmio.is_write) {
		memcpy(&val, run->mmio.data, len);
		mem_dispatch(space, run->mmio.phys_addr, len, true, &val);
	} else {
		mem_dispatch(space, run->mmio.phys_addr, len, false, &val);
		memcpy(run->mmio.data, &val, len);
	}
}

static bool vcpu_stopping(struct vm *vm)
{
	bool s;

	pthread_mutex_lock(&vm->stop_lock);
	s = vm->stopping;
	pthread_mutex_unlock(&vm->stop_lock);
	return s;
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char why[160];
	int r;

	while (!vcpu_stopping(vm)) {
		r = __kvm_ioctl(v->fd, KVM_RUN, NULL);
		/* writes KVM posted while the guest ran come before this exit */
		vm_coalesced_drain(vm);
		if (r == -EINTR || r == -EAGAIN) {
			v->run->immediate_exit = 0;
			continue;
		}
		if (r < 0) {
			snprintf(why, sizeof(why), "vcpu %u: KVM_RUN failed: %s", v->id, strerror(-r));
			vm_stop(vm, 1, why);
			break;
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			vcpu_io(v);
			break;
		case KVM_EXIT_MMIO:
			v->mmio_exits++;
			vcpu_mmio(v);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_HLT:
			/* the in-kernel LAPIC handles HLT; only a vCPU without one gets here */
			snprintf(why, sizeof(why), "vcpu %u: guest halted with no irqchip", v->id);
			vm_stop(vm, 1, why);
			break;
		case KVM_EXIT_SHUTDOWN:
			snprintf(why, sizeof(why), "vcpu %u: guest triple fault (shutdown)", v->id);
			vm_stop(vm, 1, why);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			vm_stop(vm, 0, NULL);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			vcpu_internal_error(v);
			vm_stop(vm, 1, NULL);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(why, sizeof(why), "vcpu %u: VM entry failed, reason %#llx", v->id,
				 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
			vm_stop(vm, 1, why);
			break;
		default:
			snprintf(why, sizeof(why), "vcpu %u: unhandled KVM exit %u", v->id,
				 v->run->exit_reason);
			vm_stop(vm, 1, why);
			break;
		}
	}
	return NULL;
}
