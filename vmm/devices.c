/*
 * vmm/devices.c - the virtio-pci devices of the command line (--rng,
 * --console, --net, --disk) on bus 0, wired to KVM: queue notifies through
 * ioeventfds (the vCPU never runs device code), MSI/MSI-X vectors as GSI
 * routes with one irqfd each (the device's worker raises an interrupt with
 * an eventfd write), INTx through KVM_IRQ_LINE. Slots in command-line order from 1 up: rng, console, nets,
 * disks.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "devices/tap.h"
#include "vmm/kvm.h"
#include "vmm/vm.h"

/*
 * A message from a device's worker: the irqfd of the vector routed to it,
 * one eventfd write, as KVM injects from there; a message no route has yet
 * (programmed a moment ago) goes through KVM_SIGNAL_MSI.
 */
void vm_msi_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct vm *vm = opaque;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	uint64_t one = 1;
	unsigned i;

	pthread_mutex_lock(&vm->msi_lock);
	for (i = 0; i < vm->nr_msi; i++) {
		if (vm->msi[i].bound && vm->msi[i].addr == addr && vm->msi[i].data == data) {
			ssize_t w = write(vm->msi[i].efd, &one, sizeof(one));

			pthread_mutex_unlock(&vm->msi_lock);
			if (w != sizeof(one))
				log_warn("irqfd write for gsi %u failed", vm->msi[i].gsi);
			return;
		}
	}
	pthread_mutex_unlock(&vm->msi_lock);
	if (__kvm_ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		log_warn("KVM_SIGNAL_MSI 0x%llx/0x%x failed", (unsigned long long)addr, data);
}

/* Bind or unbind a route's irqfd; a count left pending while unbound injects on rebind. */
static int vm_msi_bind(struct vm *vm, struct vm_msi_route *m, bool on)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)m->efd, .gsi = m->gsi,
				   .flags = on ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	if (m->bound == on)
		return 0;
	if (__kvm_ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	m->bound = on;
	return 0;
}

/* The route of a vector, made (GSI, eventfd, KVM route) on first use; msi_lock held. */
static struct vm_msi_route *vm_msi_route(struct vm *vm, struct pci_dev *dev, bool msix,
					 unsigned vector, const struct pci_msi_msg *msg,
					 bool passthrough)
{
	struct vm_msi_route *m;
	unsigned i;
	int efd;

	for (i = 0; i < vm->nr_msi; i++)
		if (vm->msi[i].dev == dev && vm->msi[i].msix == msix && vm->msi[i].vector == vector)
			return &vm->msi[i];
	if (vm->nr_msi == VM_MAX_MSI) {
		/*
		 * An emulated device falls back to KVM_SIGNAL_MSI; VFIO signals an
		 * eventfd that only a GSI route's irqfd turns into an interrupt.
		 */
		if (passthrough)
			log_error("%s: no GSI route left for %s vector %u (all %u in use): its "
				  "interrupts cannot reach the guest", dev->name,
				  msix ? "MSI-X" : "MSI", vector, VM_MAX_MSI);
		else if (!vm->msi_full_warned)
			log_warn("more than %u MSI vectors: the rest use KVM_SIGNAL_MSI", VM_MAX_MSI);
		vm->msi_full_warned = true;
		return NULL;
	}
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return NULL;
	m = &vm->msi[vm->nr_msi];
	*m = (struct vm_msi_route){ .dev = dev, .msix = msix, .vector = vector, .addr = msg->addr,
				    .data = msg->data, .gsi = VM_MSI_GSI_BASE + vm->nr_msi,
				    .efd = efd };
	vm->nr_msi++;
	if (vm_irq_routing(vm)) {
		log_warn("no GSI route for an MSI vector: it uses KVM_SIGNAL_MSI");
		close(efd);
		vm->nr_msi--;
		return NULL;
	}
	return m;
}

/*
 * A vector's message or mask changed: its GSI route follows. A passthrough
 * vector's irqfd is bound only while the vector is unmasked (masking
 * honoured: a message VFIO raises while masked stays pending in the eventfd
 * and arrives on unmask).
 */
void vm_msi_vector_changed(void *opaque, struct pci_dev *dev, bool msix, unsigned vector,
			   const struct pci_msi_msg *msg)
{
	struct vm *vm = opaque;
	struct vm_msi_route *m;

	pthread_mutex_lock(&vm->msi_lock);
	m = vm_msi_route(vm, dev, msix, vector, msg, false);
	if (m) {
		if (m->addr != msg->addr || m->data != msg->data) {
			m->addr = msg->addr;
			m->data = msg->data;
			if (vm_irq_routing(vm))
				log_warn("cannot update the GSI route of an MSI vector");
		}
		/*
		 * A passthrough vector's irqfd follows its mask (VFIO signals it
		 * directly); an emulated device's stays bound, as the PCI core
		 * never sends while the vector is masked.
		 */
		if (vm_msi_bind(vm, m, !(msg->masked && m->follow_mask)))
			log_warn("cannot %s the irqfd of GSI %u", msg->masked ? "unbind" : "bind", m->gsi);
	}
	pthread_mutex_unlock(&vm->msi_lock);
}

int vm_msi_vector_fd(struct vm *vm, struct pci_dev *dev, bool msix, unsigned vector,
		     const struct pci_msi_msg *msg)
{
	struct vm_msi_route *m;
	int fd = -1;

	pthread_mutex_lock(&vm->msi_lock);
	m = vm_msi_route(vm, dev, msix, vector, msg, true);
	if (m) {
		fd = m->efd;
		m->follow_mask = true;
		if (vm_msi_bind(vm, m, !msg->masked))
			log_warn("cannot bind the irqfd of GSI %u", m->gsi);
	}
	pthread_mutex_unlock(&vm->msi_lock);
	return fd;
}

void vm_msi_destroy(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_msi; i++) {
		if (vm->vm_fd >= 0)
			(void)vm_msi_bind(vm, &vm->msi[i], false);
		close(vm->msi[i].efd);
	}
	vm->nr_msi = 0;
}

/* A queue's notify address: a write there signals @kick_fd inside KVM. */
static void vm_notify_addr(void *opaque, unsigned queue, uint64_t gpa, int kick_fd, bool on)
{
	struct vm_virtio *d = opaque;
	struct kvm_ioeventfd io = {
		.addr = gpa,
		.len = d->vm->ioeventfd_any_len ? 0 : 2,
		.fd = kick_fd,
		.flags = on ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (__kvm_ioctl(d->vm->vm_fd, KVM_IOEVENTFD, &io) < 0 && on)
		log_warn("%s: no ioeventfd for queue %u at 0x%llx: notifies take the slow path",
			 d->name, queue, (unsigned long long)gpa);
}

static int vm_open_console(struct vm *vm, int *in_fd, int *out_fd)
{
	const struct vm_config *c = &vm->cfg;

	*in_fd = *out_fd = -1;
	switch (c->console) {
	case CONSOLE_NONE:
	case CONSOLE_NULL:
		return 0;
	case CONSOLE_STDIO:
		*in_fd = dup(STDIN_FILENO);
		*out_fd = *in_fd < 0 ? -1 : dup(STDOUT_FILENO);
		if (*out_fd >= 0)
			return 0;
		log_error("cannot use stdio for the console: %s", strerror(errno));
		return -EIO;
	case CONSOLE_FILE:
		*out_fd = vm_open_file(c->console_out, VM_OPEN_OUTPUT, "console file");
		return *out_fd < 0 ? *out_fd : 0;
	case CONSOLE_FIFO:
		/* read-write: opening a FIFO neither blocks nor sees EOF when the peer is late */
		*in_fd = vm_open_file(c->console_in, O_RDWR, "console FIFO");
		if (*in_fd < 0)
			return *in_fd;
		*out_fd = vm_open_file(c->console_out, O_RDWR, "console FIFO");
		return *out_fd < 0 ? *out_fd : 0;
	}
	return -EINVAL;
}

/* The device model behind one virtio-pci function: returns its ops and opaque. */
static int vm_virtio_model(struct vm *vm, struct vm_virtio *d, unsigned idx,
			   const struct virtio_dev_ops **ops, void **opaque)
{
	char err[256] = "";
	int r;

	switch (d->kind) {
	case VM_VIRTIO_RNG:
		snprintf(d->name, sizeof(d->name), "virtio-rng");
		r = virtio_rng_init(&d->u.rng);
		*ops = &d->u.rng.ops;
		*opaque = &d->u.rng;
		break;
	case VM_VIRTIO_CONSOLE:
		snprintf(d->name, sizeof(d->name), "virtio-console");
		r = vm_open_console(vm, &d->fd[0], &d->fd[1]);
		r = r ?: virtio_console_init(&d->u.con, d->fd[0], d->fd[1], 80, 25);
		*ops = &d->u.con.ops;
		*opaque = &d->u.con;
		break;
	case VM_VIRTIO_NET: {
		const struct vm_net_cfg *n = &vm->cfg.nets[idx];
		struct virtio_net_cfg nc = { .has_mac = n->has_mac };
		char ifname[32] = "";

		snprintf(d->name, sizeof(d->name), "virtio-net%u", idx);
		if (n->tap) {
			r = tap_open(n->tap, &d->fd[0], ifname, err, sizeof(err));
		} else {
			r = tap_adopt_fd(n->fd, ifname, err, sizeof(err));
		}
		if (r) {
			log_error("--net: %s", err[0] ? err : strerror(-r));
			return r;
		}
		nc.tap_fd = n->tap ? d->fd[0] : n->fd;
		memcpy(nc.mac, n->mac, sizeof(nc.mac));
		r = virtio_net_init(&d->u.net, &nc);
		*ops = &d->u.net.ops;
		*opaque = &d->u.net;
		break;
	}
	case VM_VIRTIO_BLK: {
		const struct vm_disk_cfg *dc = &vm->cfg.disks[idx];
		char serial[24];

		snprintf(d->name, sizeof(d->name), "virtio-blk%u", idx);
		snprintf(serial, sizeof(serial), "vmm-disk%u", idx);
		r = virtio_blk_init(&d->u.blk, dc->path, dc->readonly, serial, err, sizeof(err));
		if (r) {
			log_error("--disk %s: %s", dc->path, err[0] ? err : strerror(-r));
			return r;
		}
		*ops = &d->u.blk.ops;
		*opaque = &d->u.blk;
		break;
	}
	default:
		return -EINVAL;
	}
	if (r)
		log_error("%s: %s", d->name, strerror(-r));
	return r;
}

static int vm_virtio_add(struct vm *vm, enum vm_virtio_kind kind, unsigned idx)
{
	struct vm_virtio *d = &vm->virtio[vm->nr_virtio];
	struct pci_msi_hooks hooks = {
		.send = vm_msi_send, .vector_changed = vm_msi_vector_changed, .opaque = vm,
	};
	const struct virtio_dev_ops *ops = NULL;
	void *opaque = NULL;
	unsigned slot = 1 + vm->nr_virtio;
	int r;

	d->vm = vm;
	d->kind = kind;
	d->fd[0] = d->fd[1] = -1;
	vm->nr_virtio++;
	d->model_ready = true;            /* every model's destroy is safe half-built */
	r = vm_virtio_model(vm, d, idx, &ops, &opaque);
	if (r)
		return r;
	r = virtio_pci_init(&d->vp, ops, opaque, &vm->space);
	if (r) {
		log_error("%s: cannot create its PCI function: %s", d->name, strerror(-r));
		return r;
	}
	d->vp_ready = true;
	pci_dev_set_msi_hooks(&d->vp.pci, &hooks);
	virtio_pci_set_notify_cb(&d->vp, vm_notify_addr, d);
	r = pci_bus_add(&vm->pci, &d->vp.pci, slot << 3);
	if (r)
		log_error("%s: cannot put it in PCI slot %u: %s", d->name, slot, strerror(-r));
	return r;
}

int vm_devices(struct vm *vm)
{
	struct irq_line intx = { .set_level = vm_irq_set, .opaque = vm };
	const struct vm_config *c = &vm->cfg;
	unsigned n = (c->rng ? 1 : 0) + (c->console != CONSOLE_NONE ? 1 : 0) + c->nr_nets +
		     c->nr_disks, i;
	int r = 0;

	pci_bus_set_intx(&vm->pci, &intx);
	if (!n)
		return 0;
	if (n > 31) {
		log_error("too many PCI devices (%u, bus 0 has 31 free slots)", n);
		return -E2BIG;
	}
	vm->ioeventfd_any_len =
		__kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
	vm->virtio = calloc(n, sizeof(*vm->virtio));
	if (!vm->virtio)
		return -ENOMEM;
	if (c->rng)
		r = vm_virtio_add(vm, VM_VIRTIO_RNG, 0);
	if (!r && c->console != CONSOLE_NONE)
		r = vm_virtio_add(vm, VM_VIRTIO_CONSOLE, 0);
	for (i = 0; !r && i < c->nr_nets; i++)
		r = vm_virtio_add(vm, VM_VIRTIO_NET, i);
	for (i = 0; !r && i < c->nr_disks; i++)
		r = vm_virtio_add(vm, VM_VIRTIO_BLK, i);
	return r;
}

/* Transport first (stops the worker, unbinds the notifies), then the model, then its fds. */
void vm_devices_destroy(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio *d = &vm->virtio[i];

		if (d->vp_ready)
			virtio_pci_destroy(&d->vp);
		if (d->model_ready) {
			switch (d->kind) {
			case VM_VIRTIO_RNG: virtio_rng_destroy(&d->u.rng); break;
			case VM_VIRTIO_CONSOLE: virtio_console_destroy(&d->u.con); break;
			case VM_VIRTIO_NET: virtio_net_destroy(&d->u.net); break;
			case VM_VIRTIO_BLK: virtio_blk_destroy(&d->u.blk); break;
			}
		}
		if (d->fd[0] >= 0)
			close(d->fd[0]);
		if (d->fd[1] >= 0)
			close(d->fd[1]);
	}
	free(vm->virtio);
	vm->virtio = NULL;
	vm->nr_virtio = 0;
}
