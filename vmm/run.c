/*
 * vmm/run.c - interrupt routing, the stop protocol, and running the VM:
 * one thread per vCPU, the main thread forwards stdin to COM1.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/kvm.h"
#include "vmm/vm.h"

/*
 * GSI routing of a PC: ISA IRQs 0-15 on the PICs, GSIs 0-23 on the IOAPIC
 * with the timer (GSI 0) on pin 2, as the MP table and MADT describe it.
 */
int vm_irq_routing(struct vm *vm)
{
	struct kvm_irq_routing *rt;
	unsigned n = 0, i;
	int r;

	rt = calloc(1, sizeof(*rt) + (40 + VM_MAX_MSI) * sizeof(rt->entries[0]));
	if (!rt)
		return -ENOMEM;
	for (i = 0; i < 16; i++) {
		if (i == 2)
			continue; /* the cascade */
		rt->entries[n].gsi = i;
		rt->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt->entries[n].u.irqchip.irqchip = i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		rt->entries[n].u.irqchip.pin = i % 8;
		n++;
	}
	for (i = 0; i < 24; i++) {
		if (i == 2)
			continue;
		rt->entries[n].gsi = i;
		rt->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		rt->entries[n].u.irqchip.pin = i == 0 ? 2 : i;
		n++;
	}
	/* MSI/MSI-X vectors of PCI devices, one GSI each (vm_msi_vector_changed) */
	for (i = 0; i < vm->nr_msi; i++) {
		const struct vm_msi_route *m = &vm->msi[i];

		rt->entries[n].gsi = m->gsi;
		rt->entries[n].type = KVM_IRQ_ROUTING_MSI;
		rt->entries[n].u.msi.address_lo = (uint32_t)m->addr;
		rt->entries[n].u.msi.address_hi = (uint32_t)(m->addr >> 32);
		rt->entries[n].u.msi.data = m->data;
		n++;
	}
	rt->nr = n;
	r = kvm_ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, rt);
	free(rt);
	return r < 0 ? r : 0;
}

void vm_stop(struct vm *vm, int status, const char *why)
{
	uint64_t one = 1;
	unsigned i;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stopping) {
		pthread_mutex_unlock(&vm->stop_lock);
		return;
	}
	vm->stopping = true;
	vm->exit_status = status;
	if (why)
		log_error("%s", why);
	/* kick every vCPU out of KVM_RUN; immediate_exit covers one not yet inside */
	for (i = 0; i < vm->nr_vcpus; i++) {
		if (!vm->vcpus[i].started)
			continue;
		vm->vcpus[i].run->immediate_exit = 1;
		pthread_kill(vm->vcpus[i].thread, SIGUSR1);
	}
	pthread_cond_broadcast(&vm->stop_cond);
	pthread_mutex_unlock(&vm->stop_lock);
	if (write(vm->stop_efd, &one, sizeof(one)) < 0)
		log_debug("stop eventfd write failed");
}

static void vm_kick_handler(int sig)
{
	(void)sig;
}

/* Forward stdin to COM1 until the VM stops; a full FIFO holds input back. */
static void vm_stdin_loop(struct vm *vm)
{
	struct pollfd p[2] = {
		{ .fd = vm->stop_efd, .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	uint8_t buf[64];
	size_t have = 0, off = 0;
	unsigned nfds = vm->cfg.serial == SERIAL_STDIO ? 2 : 1;

	for (;;) {
		int r = poll(p, nfds, have ? 10 : -1);

		if (r < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			break;
		if (have) {
			off += serial_input(&vm->serial, buf + off, have - off);
			if (off == have)
				have = off = 0;
			continue;
		}
		if (nfds > 1 && (p[1].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n <= 0) {
				nfds = 1; /* EOF: keep waiting for the guest */
				continue;
			}
			have = n;
			off = 0;
		}
	}
}

int vm_run(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = vm_kick_handler };
	struct termios saved, raw;
	bool tty = false;
	unsigned i;
	int r;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	if (vm->cfg.serial == SERIAL_STDIO && isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST | ONLCR;
		raw.c_lflag |= ISIG; /* Ctrl-C still stops the VMM */
		tty = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	memslots_trace_line(&vm->slots, "start");
	for (i = 0; i < vm->nr_vcpus; i++) {
		r = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (r) {
			vm_stop(vm, 1, "cannot start a vCPU thread");
			break;
		}
		pthread_mutex_lock(&vm->stop_lock);
		vm->vcpus[i].started = true;
		if (vm->stopping) {
			vm->vcpus[i].run->immediate_exit = 1;
			pthread_kill(vm->vcpus[i].thread, SIGUSR1);
		}
		pthread_mutex_unlock(&vm->stop_lock);
	}
	vm_stdin_loop(vm);
	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			pthread_join(vm->vcpus[i].thread, NULL);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (atomic_load(&vm->ram_mmio_exits))
		log_warn("%llu MMIO exits landed in guest RAM (first at gpa 0x%llx): "
			 "a memslot was missing while the guest ran",
			 (unsigned long long)atomic_load(&vm->ram_mmio_exits),
			 (unsigned long long)atomic_load(&vm->ram_mmio_first));
	return vm->exit_status;
}
