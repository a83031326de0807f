/*
 * vmm/coalesced.c - posted port writes through KVM's coalesced I/O ring.
 *
 * A write to a coalesced zone does not exit: KVM appends it to a ring page
 * shared by the VM's vCPUs, and we play the ring back into the devices at
 * the next exit of any vCPU, before that exit is handled, so every device
 * sees its accesses in guest order. When the ring is full KVM exits as
 * usual; the drain before the handling keeps the order then too.
 *
 * COM1's THR is such a zone while the UART says a THR write cannot raise an
 * interrupt or loop back (devices/serial.h, serial_set_tx_post): a console
 * printk then costs one exit a character (the LSR poll, which drains the
 * byte before it) instead of two.
 */
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/vm.h"

/* Play every entry KVM has appended into the devices, oldest first. */
void vm_coalesced_drain(struct vm *vm)
{
	struct kvm_coalesced_mmio_ring *ring = vm->coalesced_ring;
	uint32_t first, last;

	if (!ring)
		return;
	/* cheap test first: most exits find the ring empty */
	if (__atomic_load_n(&ring->first, __ATOMIC_RELAXED) ==
	    __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->coalesced_lock);
	first = ring->first;
	last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
	/* KVM owns last; a value out of range would index past the page */
	if (last >= VM_COALESCED_MAX || first >= VM_COALESCED_MAX) {
		pthread_mutex_unlock(&vm->coalesced_lock);
		return;
	}
	while (first != last) {
		struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[first];
		uint64_t val = 0;
		unsigned len = e->len;

		if (len && len <= sizeof(val)) {
			memcpy(&val, e->data, len);
			if (e->pio)
				iobus_dispatch(&vm->pio, (uint16_t)e->phys_addr, len, true, &val);
			else
				mem_dispatch(&vm->space, e->phys_addr, len, true, &val);
			vm->coalesced_writes++;
		}
		first = (first + 1) % VM_COALESCED_MAX;
		/* the entry is consumed once first moves past it: KVM may reuse it */
		__atomic_store_n(&ring->first, first, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->coalesced_lock);
}

/* serial_set_tx_post's callback: COM1's THR posted or trapped. */
static void vm_com1_tx_post(void *opaque, bool on)
{
	struct vm *vm = opaque;
	struct kvm_coalesced_mmio_zone z = {
		.addr = SERIAL_COM1_BASE, .size = 1, .pio = 1,
	};
	int r;

	if (on == vm->com1_posted)
		return;
	r = __kvm_ioctl(vm->vm_fd, on ? KVM_REGISTER_COALESCED_MMIO : KVM_UNREGISTER_COALESCED_MMIO,
			&z);
	if (r && on) {
		/* no room for a zone: THR writes simply keep exiting */
		log_debug("COM1 THR writes not posted: %s", strerror(-r));
		return;
	}
	if (r) {
		log_error("COM1: cannot stop posting THR writes: %s", strerror(-r));
		return;
	}
	vm->com1_posted = on;
}

/*
 * After the vCPUs exist (the ring is a page of every vCPU's mapping): find
 * the ring, then let COM1 decide. Without KVM_CAP_COALESCED_PIO every write
 * keeps exiting, which is only slower.
 */
int vm_coalesced_init(struct vm *vm)
{
	int off, pio;

	pthread_mutex_init(&vm->coalesced_lock, NULL);
	vm->coalesced_lock_ready = true;
	off = __kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_COALESCED_MMIO);
	pio = __kvm_ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_COALESCED_PIO);
	if (off <= 0 || pio <= 0 || !vm->nr_vcpus ||
	    (size_t)(off + 1) * VM_COALESCED_PAGE > (size_t)vm->run_size) {
		log_debug("no coalesced port I/O (KVM: ring page %d, PIO %d): COM1 THR writes exit",
			  off, pio);
		return 0;
	}
	vm->coalesced_ring = (struct kvm_coalesced_mmio_ring *)((uint8_t *)vm->vcpus[0].run +
							       (size_t)off * VM_COALESCED_PAGE);
	serial_set_tx_post(&vm->serial, vm_com1_tx_post, vm);
	return 0;
}

/* Before the vCPUs go: stop posting, play back what is left. */
void vm_coalesced_destroy(struct vm *vm)
{
	if (vm->coalesced_ring) {
		if (vm->serial_ready)
			serial_set_tx_post(&vm->serial, NULL, NULL);
		vm_coalesced_drain(vm);
		log_debug("%llu port writes posted through the coalesced ring",
			  (unsigned long long)vm->coalesced_writes);
		vm->coalesced_ring = NULL;
	}
	if (vm->coalesced_lock_ready) {
		pthread_mutex_destroy(&vm->coalesced_lock);
		vm->coalesced_lock_ready = false;
	}
}
