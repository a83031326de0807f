/*
 * vmm/machine.c - builds one PC-like machine from struct vm_config, in a
 * fixed order, and tears it down. The order is the table in vm_create().
 */
#include <cpuid.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/file.h"
#include "firmware/acpi.h"
#include "firmware/fdt.h"
#include "vmm/kvm.h"
#include "vmm/vm.h"

#define FIRMWARE_MAX (16 * MiB)   /* the flash window below 4 GiB that Q35 decodes */
#define KERNEL_MAX   (512 * MiB)

static void host_cpu_info(unsigned *phys_bits, bool *is_amd)
{
	unsigned a, b, c, d;

	*is_amd = false;
	*phys_bits = 36;
	if (__get_cpuid(0, &a, &b, &c, &d))
		*is_amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163; /* AuthenticAMD */
	if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000008 &&
	    __get_cpuid(0x80000008, &a, &b, &c, &d))
		*phys_bits = a & 0xff;
}

static int vm_layout(struct vm *vm, const struct vm_config *cfg)
{
	struct pc_layout_cfg lc = {
		.ram_size = cfg->memory,
		.amd_hole = cfg->amd_hole,
		.acpi_low = cfg->kernel && !cfg->firmware,
		.usable_iova = vm->nr_usable_iova ? vm->usable_iova : NULL,
		.nr_usable_iova = vm->nr_usable_iova,
	};
	char err[256] = "";
	int r;

	host_cpu_info(&vm->host_phys_bits, &vm->host_is_amd);
	lc.phys_bits = cfg->phys_bits ? cfg->phys_bits : vm->host_phys_bits;
	lc.host_is_amd = vm->host_is_amd;
	r = pc_layout_compute(&lc, &vm->layout, err, sizeof(err));
	if (r)
		log_error("%s", err[0] ? err : "cannot lay out guest memory");
	return r;
}

/* The firmware image: a multiple of 64 KiB, at most the 16 MiB flash window. */
static int vm_load_firmware(struct vm *vm, const char *path)
{
	uint8_t *img = NULL;
	size_t len = 0;
	int r;

	r = file_read_all(path, &img, &len, FIRMWARE_MAX);
	if (r == -EFBIG) {
		log_error("firmware %s is larger than %llu MiB", path, FIRMWARE_MAX / MiB);
		return -EINVAL;
	}
	if (r) {
		log_error("cannot read firmware %s: %s", path, strerror(-r));
		return r;
	}
	if (len == 0 || len % (64 * KiB)) {
		log_error("firmware %s is %zu bytes, not a non-zero multiple of 64 KiB", path, len);
		free(img);
		return -EINVAL;
	}
	r = mem_backend_create(&vm->bios, "bios", len);
	if (r) {
		log_error("cannot allocate firmware memory: %s", strerror(-r));
		free(img);
		return r;
	}
	memcpy(vm->bios->host, img, len);
	free(img);
	return 0;
}

/* The SMM view (SMRAM and TSEG as SMM code sees them) in KVM address space 1. */
static int vm_smm(struct vm *vm, int vm_fd, unsigned max_slots)
{
	int r;

	r = mem_space_init(&vm->smm_space, "smm");
	if (r)
		return r;
	vm->smm_space_ready = true;
	r = pc_mem_build_smm(&vm->pc, &vm->smm_space);
	r = r ?: memslots_init(&vm->smm_slots, vm_fd, max_slots, vm->trace);
	if (r) {
		log_error("cannot build the SMM memory view: %s", strerror(-r));
		return r;
	}
	memslots_set_as(&vm->smm_slots, 1);
	r = mem_listener_register(&vm->smm_space, &vm->smm_slots.listener);
	if (r)
		return r;
	vm->smm_slots_registered = true;
	return 0;
}

static int vm_memory(struct vm *vm, int vm_fd, unsigned max_slots)
{
	int r;

	r = mem_space_init(&vm->space, "system");
	if (r)
		return r;
	vm->space_ready = true;
	r = mem_backend_create(&vm->ram, "ram", vm->layout.ram_size);
	if (r) {
		log_error("cannot allocate %llu MiB of guest RAM: %s",
			  (unsigned long long)(vm->layout.ram_size / MiB), strerror(-r));
		return r;
	}
	if (vm->cfg.firmware) {
		r = vm_load_firmware(vm, vm->cfg.firmware);
		if (r)
			return r;
	}
	r = memslots_init(&vm->slots, vm_fd, max_slots, vm->trace);
	if (r)
		return r;
	r = mem_listener_register(&vm->space, &vm->slots.listener);
	if (r)
		return r;
	vm->slots_registered = true;
	r = pc_mem_build(&vm->pc, &vm->space, vm->ram, vm->bios, &vm->layout);
	if (r) {
		log_error("cannot build the memory map: %s", strerror(-r));
		return r;
	}
	return vm->has_smm ? vm_smm(vm, vm_fd, max_slots) : 0;
}

static const char *e820_name(uint32_t type)
{
	switch (type) {
	case E820_RAM: return "usable";
	case E820_RESERVED: return "reserved";
	case E820_ACPI: return "ACPI data";
	case E820_NVS: return "ACPI NVS";
	case E820_UNUSABLE: return "unusable";
	default: return "type ?";
	}
}

int vm_print_memory_map(const struct vm_config *cfg, FILE *f)
{
	struct vm *vm;
	unsigned i;
	int r;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	r = vm_layout(vm, cfg);
	if (r)
		goto out;
	for (i = 0; i < vm->layout.nr_e820; i++) {
		const struct e820_entry *e = &vm->layout.e820[i];

		fprintf(f, "e820: [mem 0x%016llx-0x%016llx] %s\n", (unsigned long long)e->addr,
			(unsigned long long)(e->addr + e->size - 1), e820_name(e->type));
	}
	fprintf(f, "pci32: [mem 0x%016llx-0x%016llx]\n", (unsigned long long)vm->layout.pci32_start,
		(unsigned long long)vm->layout.pci32_end - 1);
	fprintf(f, "pci64: [mem 0x%016llx-0x%016llx]\n", (unsigned long long)vm->layout.pci64_start,
		(unsigned long long)vm->layout.pci64_end - 1);
	fprintf(f, "phys-bits: %u needed, %u available\n", vm->layout.phys_bits_needed,
		vm->layout.phys_bits);
	/* The memslots come from the same engine and listener a running VM uses, dry. */
	r = vm_memory(vm, -1, 32764);
	if (r)
		goto out;
	memslots_print(&vm->slots, f);
out:
	vm_destroy(vm);
	free(vm);
	return r;
}

/*
 * --numa N: the guest's RAM (its E820 RAM ranges, in address order) cut into N
 * slices of equal size, vCPUs in N equal runs; node i gets slice i.
 */
static int vm_numa(const struct vm *vm, unsigned *cpu_node, struct acpi_numa_mem *mem,
		   unsigned *nr_mem)
{
	const struct pc_layout *l = &vm->layout;
	unsigned nodes = vm->cfg.numa_nodes, i, n = 0, node = 0;
	uint64_t per = align_down(l->ram_size / nodes, 2 * MiB), used = 0;

	if (!per) {
		log_error("--numa %u: %llu MiB of RAM is too little for that many nodes", nodes,
			  (unsigned long long)(l->ram_size / MiB));
		return -EINVAL;
	}
	for (i = 0; i < vm->cfg.cpus; i++)
		cpu_node[i] = i * nodes / vm->cfg.cpus;
	for (i = 0; i < l->nr_e820; i++) {
		uint64_t base = l->e820[i].addr, left = l->e820[i].size;

		if (l->e820[i].type != E820_RAM)
			continue;
		while (left) {
			uint64_t take = left;

			if (node < nodes - 1 && used + take > per)
				take = per - used;
			if (n == ACPI_MAX_MEM_RANGES)
				return -E2BIG;
			mem[n++] = (struct acpi_numa_mem){ .base = base, .size = take, .node = node };
			base += take;
			left -= take;
			used += take;
			if (node < nodes - 1 && used == per) {
				node++;
				used = 0;
			}
		}
	}
	*nr_mem = n;
	return 0;
}

/*
 * Every PCI device sits on bus 0 (there are no bridges), so MCFG, the root
 * bridge's _CRS and the FDT describe bus 0 alone, although the PCIEXBAR window
 * decodes 256 buses. Linux scans every bus up to MCFG's last for peer host
 * bridges (pcibios_fixup_peer_bridges), 32 type-1 config reads a bus: with
 * 0-255 described, that was 16k port-I/O exits of every boot.
 */
#define VM_PCI_BUSES       1
#define VM_ECAM_DESCRIBED  ((uint64_t)VM_PCI_BUSES * MiB)

/* The VMM's ACPI tables for this machine (unplaced; the caller places or loads them). */
int vm_build_acpi(const struct vm *vm, struct acpi_tables *t)
{
	struct acpi_cfg ac = {
		.layout = &vm->layout, .ncpus = vm->cfg.cpus,
		.ecam_base = PC_ECAM_BASE, .ecam_size = VM_ECAM_DESCRIBED,
	};
	unsigned cpu_node[VM_MAX_CPUS];
	struct acpi_numa_mem *mem = NULL;
	int r = 0;

	if (vm->cfg.numa_nodes > 1) {
		mem = calloc(ACPI_MAX_MEM_RANGES, sizeof(*mem));
		if (!mem)
			return -ENOMEM;
		r = vm_numa(vm, cpu_node, mem, &ac.nr_mem);
		ac.nr_nodes = vm->cfg.numa_nodes;
		ac.cpu_node = cpu_node;
		ac.mem = mem;
	}
	r = r ?: acpi_build(&ac, t);
	if (r)
		log_error("cannot build the ACPI tables: %s", strerror(-r));
	free(mem);
	return r;
}

/* Direct boot: the tables go below the EBDA, the kernel learns the RSDP address. */
static int vm_acpi_direct(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_tables t;
	int r = vm_build_acpi(vm, &t);

	if (r)
		return r;
	r = acpi_write_direct(&t, &vm->space);
	if (r)
		log_error("cannot place the ACPI tables below the EBDA: %s", strerror(-r));
	acpi_tables_free(&t);
	*rsdp = ACPI_DIRECT_RSDP;
	return r;
}

/* A sysfs attribute of a host PCI device as a number (passthrough IDs), or @dflt. */
static unsigned long vm_sysfs_num(const char *dev, const char *attr, unsigned long dflt)
{
	char path[512], buf[32];
	unsigned long v = dflt;
	FILE *f;

	if (strchr(dev, '/'))
		snprintf(path, sizeof(path), "%s/%s", dev, attr);
	else
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, attr);
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f))
			v = strtoul(buf, NULL, 0);
		fclose(f);
	}
	return v;
}

/*
 * The functions of bus 0 in the order vm_devices() and vm_vfio_devices()
 * place them: the host bridge, then rng, console, nets, disks, passthrough.
 */
static unsigned vm_pci_list(const struct vm_config *cfg, struct fdt_pci_dev *d)
{
	static const struct { uint16_t id; uint32_t cls; const char *name; } vio[] = {
		{ 0x1044, 0xff0000, "virtio-rng" }, { 0x1043, 0x078000, "virtio-console" },
		{ 0x1041, 0x020000, "virtio-net" }, { 0x1042, 0x010000, "virtio-blk" },
	};
	unsigned n = 0, slot = 1, i;

	d[n++] = (struct fdt_pci_dev){ .devfn = 0, .vendor = Q35_VENDOR_ID,
				       .device = Q35_DEVICE_ID, .class_code = 0x060000,
				       .name = "host-bridge" };
#define VIO(k) (d[n++] = (struct fdt_pci_dev){ .devfn = (slot++) << 3, .vendor = 0x1af4, \
		.device = vio[k].id, .class_code = vio[k].cls, .name = vio[k].name })
	if (cfg->rng)
		VIO(0);
	if (cfg->console != CONSOLE_NONE)
		VIO(1);
	for (i = 0; i < cfg->nr_nets; i++)
		VIO(2);
	for (i = 0; i < cfg->nr_disks; i++)
		VIO(3);
#undef VIO
	for (i = 0; i < cfg->nr_vfio; i++)
		d[n++] = (struct fdt_pci_dev){
			.devfn = (slot++) << 3,
			.vendor = (uint16_t)vm_sysfs_num(cfg->vfio[i].dev, "vendor", 0xffff),
			.device = (uint16_t)vm_sysfs_num(cfg->vfio[i].dev, "device", 0xffff),
			.class_code = (uint32_t)vm_sysfs_num(cfg->vfio[i].dev, "class", 0) & 0xffffff,
			.name = "passthrough",
		};
	return n;
}

/* The machine description: layout, CPUs, command line, the PCI host and its devices. */
static int vm_build_dtb(const struct vm_config *cfg, const struct pc_layout *l, void **blob,
			size_t *len)
{
	struct fdt_pci_dev pci[1 + 2 + VM_MAX_NETS + VM_MAX_DISKS + VM_MAX_VFIO];
	struct fdt_cfg fc = {
		.layout = l, .ncpus = cfg->cpus, .cmdline = cfg->append,
		.ecam_base = PC_ECAM_BASE, .ecam_size = VM_ECAM_DESCRIBED, .pci = pci,
	};
	int r;

	fc.nr_pci = vm_pci_list(cfg, pci);
	r = fdt_build(&fc, blob, len);
	if (r)
		log_error("cannot build the device tree: %s", strerror(-r));
	return r;
}

int vm_dump_dtb(const struct vm_config *cfg)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	void *blob = NULL;
	size_t len = 0;
	int r;

	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	r = vm_layout(vm, cfg);
	if (!r)
		r = vm_build_dtb(cfg, &vm->layout, &blob, &len);
	if (!r) {
		r = fdt_write_file(blob, len, cfg->dump_dtb);
		if (r)
			log_error("cannot write the device tree to %s: %s", cfg->dump_dtb,
				  strerror(-r));
	}
	free(blob);
	free(vm);
	return r;
}

int vm_open_file(const char *path, int flags, const char *what)
{
	int fd = open(path, flags | O_CLOEXEC, 0644), r;

	if (fd >= 0)
		return fd;
	r = -errno;
	log_error("cannot open %s %s: %s", what, path, strerror(-r));
	return r;
}

void vm_irq_set(void *opaque, unsigned gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (__kvm_ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("KVM_IRQ_LINE gsi %u failed", gsi);
}

static void vm_on_reset(void *opaque)
{
	vm_stop(opaque, 0, NULL);
}

static void vm_on_exit(void *opaque, int status)
{
	vm_stop(opaque, status, NULL);
}

static int vm_ecam_read(void *opaque, unsigned bus, unsigned devfn, unsigned reg, unsigned size,
			uint32_t *val)
{
	return q35_config_read(opaque, bus, devfn, reg, size, val);
}

static int vm_ecam_write(void *opaque, unsigned bus, unsigned devfn, unsigned reg, unsigned size,
			 uint32_t val)
{
	return q35_config_write(opaque, bus, devfn, reg, size, val);
}

/* Bus 0 behind the host bridge, reached by conf1 and by ECAM where PCIEXBAR puts it. */
static int vm_pci(struct vm *vm)
{
	int r;

	r = pci_bus_init(&vm->pci, &vm->space, &vm->pio);
	if (r)
		return r;
	vm->pci_ready = true;
	r = pci_bus_set_phys_bits(&vm->pci, vm->layout.phys_bits);
	if (r)
		return r;
	q35_set_bus(&vm->q35, &vm->pci);
	r = pci_ecam_init(&vm->ecam, &vm->pci);
	if (r)
		return r;
	vm->ecam_ready = true;
	pci_ecam_set_target(&vm->ecam, vm_ecam_read, vm_ecam_write, &vm->q35);
	q35_set_pciexbar_cb(&vm->q35, pci_ecam_pciexbar_cb, &vm->ecam);
	return 0;
}

static int vm_platform(struct vm *vm)
{
	struct irq_line com1 = { .set_level = vm_irq_set, .opaque = vm, .gsi = 4 };
	struct irq_line rtc = { .set_level = vm_irq_set, .opaque = vm, .gsi = 8 };
	struct pc_cmos_mem cm;
	int r;

	r = iobus_init(&vm->pio);
	if (r)
		return r;
	vm->pio_ready = true;

	switch (vm->cfg.serial) {
	case SERIAL_STDIO:
		vm->serial_fd = dup(STDOUT_FILENO);
		if (vm->serial_fd < 0)
			return -errno;
		break;
	case SERIAL_NULL:
		vm->serial_fd = -1;
		break;
	case SERIAL_FILE:
		vm->serial_fd = vm_open_file(vm->cfg.serial_path, VM_OPEN_OUTPUT, "serial file");
		if (vm->serial_fd < 0)
			return vm->serial_fd;
		break;
	}
	if (vm->cfg.debugcon) {
		vm->debugcon_fd = vm_open_file(vm->cfg.debugcon, VM_OPEN_OUTPUT, "debugcon file");
		if (vm->debugcon_fd < 0)
			return vm->debugcon_fd;
	}

	r = serial_init(&vm->serial, &com1, vm->serial_fd);
	if (r)
		return r;
	vm->serial_ready = true;
	r = i8042_init(&vm->kbd, vm_on_reset, vm);
	if (r)
		return r;
	pc_layout_cmos(&vm->layout, &cm);
	r = cmos_init(&vm->cmos, &cm, vm->cfg.cpus, &rtc);
	if (r)
		return r;
	vm->cmos_ready = true;
	r = debugport_init(&vm->dbg, vm->debugcon_fd, vm_on_reset, vm_on_exit, vm);
	if (r)
		return r;

	/* The legacy port map of a PC; each entry is one device's registers. */
	r = iobus_register(&vm->pio, 0x3f8, 8, &serial_ops, &vm->serial, "com1");
	r = r ?: i8042_register(&vm->kbd, &vm->pio);
	r = r ?: iobus_register(&vm->pio, 0x70, 2, &cmos_ops, &vm->cmos, "cmos");
	r = r ?: iobus_register(&vm->pio, DEBUGPORT_CON_PORT, DEBUGPORT_CON_LEN, &debugport_con_ops,
				&vm->dbg, "debugcon");
	r = r ?: iobus_register(&vm->pio, DEBUGPORT_EXIT_PORT, DEBUGPORT_EXIT_LEN,
				&debugport_exit_ops, &vm->dbg, "debug-exit");
	r = r ?: iobus_register(&vm->pio, DEBUGPORT_POST_PORT, DEBUGPORT_POST_LEN,
				&debugport_post_ops, &vm->dbg, "post");
	/* ACPI sleep control (HW-reduced FADT): S5 powers off */
	acpi_pm_init(&vm->pm, vm_on_reset, vm);
	r = r ?: acpi_pm_register(&vm->pm, &vm->pio);
	if (r) {
		log_error("cannot register platform I/O ports: %s", strerror(-r));
		return r;
	}
	/* The host bridge owns 0xCF8-0xCFF and hands the 0xCF9 byte to the reset control. */
	r = q35_init(&vm->q35, &vm->pc, &vm->dbg);
	if (r)
		return r;
	r = q35_register(&vm->q35, &vm->pio);
	if (r) {
		log_error("cannot register the PCI host bridge: %s", strerror(-r));
		return r;
	}
	return vm_pci(vm);
}

int vm_read_kernel(struct vm *vm, const uint8_t **kernel, size_t *klen, const uint8_t **initrd,
		   size_t *ilen)
{
	int r;

	*kernel = *initrd = NULL;
	*klen = *ilen = 0;
	r = file_map(vm->cfg.kernel, kernel, klen, KERNEL_MAX);
	if (r) {
		log_error("cannot read kernel %s: %s", vm->cfg.kernel,
			  r == -EFBIG ? "larger than 512 MiB" : strerror(-r));
		return r;
	}
	if (vm->cfg.initrd) {
		r = file_map(vm->cfg.initrd, initrd, ilen, vm->layout.below_4g);
		if (r) {
			log_error("cannot read initrd %s: %s", vm->cfg.initrd,
				  r == -EFBIG ? "larger than guest RAM below 4 GiB" : strerror(-r));
			vm_unmap_kernel(*kernel, *klen, NULL, 0);
			*kernel = NULL;
			*klen = 0;
		}
	}
	return r;
}

void vm_unmap_kernel(const uint8_t *kernel, size_t klen, const uint8_t *initrd, size_t ilen)
{
	file_unmap(kernel, klen);
	file_unmap(initrd, ilen);
}

static int vm_load_kernel(struct vm *vm)
{
	struct fw_linux_cfg lc = {
		.space = &vm->space,
		.layout = &vm->layout,
		.cmdline = vm->cfg.append,
		.ncpus = vm->cfg.cpus,
		.ram_is_zero = true, /* fresh anonymous memory: vmm never reuses a VM's RAM */
	};
	const uint8_t *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;
	void *dtb = NULL;
	char err[256] = "";
	int r;

	r = vm_acpi_direct(vm, &lc.rsdp_gpa);
	if (r)
		return r;
	/* what firmware does: ECAM where the MCFG table says it is */
	r = q35_config_write(&vm->q35, 0, 0, Q35_PCIEXBAR + 4, 4, (uint32_t)(PC_ECAM_BASE >> 32));
	r = r ?: q35_config_write(&vm->q35, 0, 0, Q35_PCIEXBAR, 4,
				  (uint32_t)PC_ECAM_BASE | Q35_PCIEXBAR_EN);
	if (r) {
		log_error("cannot enable ECAM at 0x%llx: %s", PC_ECAM_BASE, strerror(-r));
		return r;
	}
	/*
	 * and what firmware leaves behind: 0xC0000-0xFFFFF as RAM (PAM read/write).
	 * Without it the kernel's scans of the BIOS area (option ROMs, MP table,
	 * SMBIOS, EBDA) were tens of thousands of MMIO exits to unassigned space:
	 * seconds of a nested boot.
	 */
	for (unsigned i = 0; i < Q35_PAM_REGS && !r; i++)
		r = q35_config_write(&vm->q35, 0, 0, Q35_PAM0 + i, 1, i ? 0x33 : 0x30);
	if (r) {
		log_error("cannot open the BIOS area as RAM (PAM): %s", strerror(-r));
		return r;
	}
	if (vm->cfg.dtb_to_guest) {
		r = vm_build_dtb(&vm->cfg, &vm->layout, &dtb, &lc.dtb_len);
		if (r)
			return r;
		lc.dtb = dtb;
	}
	r = vm_read_kernel(vm, &kernel, &klen, &initrd, &ilen);
	if (r)
		goto out;
	lc.kernel = kernel;
	lc.kernel_len = klen;
	lc.initrd = initrd;
	lc.initrd_len = ilen;
	r = fw_load_linux(&lc, &vm->entry, err, sizeof(err));
	if (r)
		log_error("kernel %s: %s", vm->cfg.kernel, err[0] ? err : strerror(-r));
	vm->direct_boot = true;
out:
	vm_unmap_kernel(kernel, klen, initrd, ilen);
	free(dtb);
	return r;
}

/* In-kernel LAPIC/IOAPIC/PIC and PIT, and the KVM private pages below 4 GiB. */
static int vm_kvm(struct vm *vm, unsigned *max_slots)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t ident = PC_KVM_TSS;
	int r;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = -errno;
		log_error("cannot open /dev/kvm: %s", strerror(errno));
		return r;
	}
	r = __kvm_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, NULL);
	if (r != KVM_API_VERSION) {
		log_error("KVM API version %d, need %d", r, KVM_API_VERSION);
		return -EINVAL;
	}
	vm->vm_fd = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vm->vm_fd;
	vm->run_size = kvm_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (vm->run_size < 0)
		return vm->run_size;
	r = __kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_NR_MEMSLOTS);
	*max_slots = r > 0 ? (unsigned)r : 32;
	vm->has_smm = __kvm_ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_X86_SMM) > 0 &&
		      __kvm_ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
				  (void *)(long)KVM_CAP_MULTI_ADDRESS_SPACE) >= 2;
	if (!vm->has_smm)
		log_debug("KVM has no SMM address space: no SMM view, SMIs are ignored");
	/* identity map page, then 3 TSS pages: E820 reserves them */
	r = kvm_ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
	r = r ?: kvm_ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)(PC_KVM_TSS + 4096));
	r = r ?: kvm_ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, NULL);
	r = r ?: kvm_ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit);
	if (r)
		return r;
	return vm_irq_routing(vm);
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	unsigned max_slots = 0, i;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->serial_fd = vm->debugcon_fd = -1;
	vm->stop_efd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->msi_lock, NULL);
	pthread_cond_init(&vm->stop_cond, NULL);

	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return -errno;
	if (cfg->trace_memslots) {
		vm->trace = fopen(cfg->trace_memslots, "we");
		if (!vm->trace) {
			r = -errno;
			log_error("cannot open trace file %s: %s", cfg->trace_memslots, strerror(errno));
			return r;
		}
	}
	r = vm_vfio_open(vm);
	r = r ?: vm_layout(vm, cfg);
	r = r ?: vm_kvm(vm, &max_slots);
	r = r ?: vm_memory(vm, vm->vm_fd, max_slots);
	if (!r)
		log_debug("KVM VM and guest memory ready");
	r = r ?: vm_vfio_dma(vm);
	r = r ?: vm_platform(vm);
	r = r ?: vm_devices(vm);
	r = r ?: vm_vfio_devices(vm);
	if (r)
		return r;
	log_debug("platform and devices ready");
	if (cfg->firmware) {
		r = vm_firmware_setup(vm);
		if (r)
			return r;
	} else if (cfg->kernel) {
		r = vm_load_kernel(vm);
		if (r)
			return r;
	}
	log_debug("%s loaded", cfg->firmware ? "firmware" : "kernel");
	for (i = 0; i < cfg->cpus; i++) {
		r = vcpu_create(vm, i);
		if (r)
			return r;
		r = vcpu_setup(&vm->vcpus[i]);
		if (r)
			return r;
	}
	return vm_coalesced_init(vm);
}

void vm_destroy(struct vm *vm)
{
	unsigned i;

	vm_coalesced_destroy(vm);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	vm->nr_vcpus = 0;
	/* the PCI regions live in the memory space: they go first */
	vm_vfio_destroy(vm);
	vm_devices_destroy(vm);
	vm_msi_destroy(vm);
	if (vm->ecam_ready)
		pci_ecam_destroy(&vm->ecam);
	if (vm->pci_ready)
		pci_bus_destroy(&vm->pci);
	vm->ecam_ready = vm->pci_ready = false;
	if (vm->smm_slots_registered) {
		memslots_detach(&vm->smm_slots);
		mem_listener_unregister(&vm->smm_space, &vm->smm_slots.listener);
		vm->smm_slots_registered = false;
	}
	memslots_destroy(&vm->smm_slots);
	if (vm->smm_space_ready) {
		mem_space_destroy(&vm->smm_space);
		vm->smm_space_ready = false;
	}
	if (vm->slots_registered) {
		memslots_detach(&vm->slots);
		mem_listener_unregister(&vm->space, &vm->slots.listener);
		vm->slots_registered = false;
	}
	memslots_destroy(&vm->slots);
	if (vm->space_ready) {
		mem_space_destroy(&vm->space);
		vm->space_ready = false;
	}
	mem_backend_destroy(vm->ram);
	mem_backend_destroy(vm->bios);
	vm->ram = vm->bios = NULL;
	if (vm->serial_ready)
		serial_destroy(&vm->serial);
	if (vm->cmos_ready)
		cmos_destroy(&vm->cmos);
	vm->serial_ready = vm->cmos_ready = false;
	if (vm->fw_ready)
		fw_cfg_destroy(&vm->fw);
	vm->fw_ready = false;
	q35_destroy(&vm->q35);
	debugport_destroy(&vm->dbg);
	if (vm->pio_ready)
		iobus_destroy(&vm->pio);
	vm->pio_ready = false;
	if (vm->serial_fd >= 0)
		close(vm->serial_fd);
	if (vm->debugcon_fd >= 0)
		close(vm->debugcon_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->trace)
		fclose(vm->trace);
	vm->trace = NULL;
	vm_vfio_backend_destroy(vm);
	vm->serial_fd = vm->debugcon_fd = vm->vm_fd = vm->kvm_fd = vm->stop_efd = -1;
}
