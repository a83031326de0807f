/*
 * vmm/passthrough.c - PCI passthrough (--device vfio=...): the VFIO backend
 * (type1 or iommufd), the devices it opens, the usable IOVA ranges that the
 * memory layout must respect, the DMA listener on the system space, and each
 * device on PCI bus 0 with its interrupts as KVM irqfds (MSI/MSI-X through
 * the GSI routes of vmm/devices.c, INTx with a resample irqfd).
 *
 * Order (vm_create): vm_vfio_open before the layout (type1 learns its IOVA
 * ranges when a group attaches), vm_vfio_dma after the memory map,
 * vm_vfio_devices once PCI bus 0 exists. vm_vfio_destroy undoes all of it.
 */
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/kvm.h"
#include "vmm/vm.h"

/* One line per failure: the vfio layer's messages already start with "vfio:". */
static void vm_vfio_error(const char *err, int r)
{
	if (!err[0])
		log_error("vfio: %s", strerror(-r));
	else if (strncasecmp(err, "vfio", 4) == 0)
		log_error("%s", err);
	else
		log_error("vfio: %s", err);
}

int vm_vfio_open(struct vm *vm)
{
	enum vfio_backend_kind kind = VFIO_BACKEND_AUTO;
	char err[256] = "";
	unsigned i;
	int r;

	if (!vm->cfg.nr_vfio)
		return 0;
	if (vm->cfg.vfio_backend && vfio_backend_kind_parse(vm->cfg.vfio_backend, &kind))
		return -EINVAL;
	r = vfio_backend_create(&vm->vfio_be, kind, NULL, err, sizeof(err));
	if (r) {
		vm_vfio_error(err, r);
		return r;
	}
	for (i = 0; i < vm->cfg.nr_vfio; i++) {
		struct vm_vfio *d = &vm->vfio[i];

		d->fd = -1;
		r = vfio_backend_open_device(vm->vfio_be, vm->cfg.vfio[i].dev, &d->fd, err,
					     sizeof(err));
		if (r) {
			log_error("--device vfio=%s: %s", vm->cfg.vfio[i].dev,
				  err[0] ? err : strerror(-r));
			return r;
		}
		vm->nr_vfio_open++;
	}
	vm->nr_usable_iova = 0;
	r = vfio_dma_usable_iova(vm->vfio_be, vm->usable_iova, ARRAY_SIZE(vm->usable_iova),
				 &vm->nr_usable_iova, err, sizeof(err));
	if (r)
		vm_vfio_error(err, r);
	return r;
}

/*
 * With --trace memslots=PATH the DMA listener talks to this backend, which
 * logs "dma-map iova=0x... size=0x... rw|ro" / "dma-unmap iova=... size=..."
 * (with " err=-N" on failure) in the same file, then forwards. A map or unmap
 * after "start" is what seed 01 is about; tests look for them. Teardown is
 * not logged (vm_vfio_destroy sets vfio_trace_off first).
 */
static void vm_vfio_trace(struct vm *vm, const char *what, uint64_t iova, uint64_t size,
			  const char *flags, int r)
{
	char line[128], rc[16] = "";

	if (vm->vfio_trace_off)
		return;
	if (r)
		snprintf(rc, sizeof(rc), " err=%d", r);
	snprintf(line, sizeof(line), "%s iova=0x%llx size=0x%llx%s%s", what,
		 (unsigned long long)iova, (unsigned long long)size, flags, rc);
	memslots_trace_line(&vm->slots, line);
}

static int vm_vfio_trace_map(void *b, uint64_t iova, uint64_t size, void *vaddr, bool readonly)
{
	struct vm *vm = b;
	int r = vm->vfio_be->ops->dma_map(vm->vfio_be->priv, iova, size, vaddr, readonly);

	vm_vfio_trace(vm, "dma-map", iova, size, readonly ? " ro" : " rw", r);
	return r;
}

static int vm_vfio_trace_unmap(void *b, uint64_t iova, uint64_t size)
{
	struct vm *vm = b;
	int r = vm->vfio_be->ops->dma_unmap(vm->vfio_be->priv, iova, size);

	vm_vfio_trace(vm, "dma-unmap", iova, size, "", r);
	return r;
}

static int vm_vfio_trace_ranges(void *b, struct iova_range *out, unsigned max, unsigned *nr)
{
	struct vm *vm = b;

	return vm->vfio_be->ops->iova_ranges(vm->vfio_be->priv, out, max, nr);
}

static const struct vfio_backend_ops vm_vfio_trace_ops = {
	.dma_map = vm_vfio_trace_map,
	.dma_unmap = vm_vfio_trace_unmap,
	.iova_ranges = vm_vfio_trace_ranges,
	.name = "trace",
};

/* Every RAM range of the system space mapped once for the devices' DMA (I5). */
int vm_vfio_dma(struct vm *vm)
{
	struct vfio_backend *be = vm->vfio_be;
	struct timespec t0, t1;
	int r;

	if (!vm->vfio_be)
		return 0;
	if (vm->trace) {
		vm->vfio_trace_be.ops = &vm_vfio_trace_ops;
		vm->vfio_trace_be.priv = vm;
		be = &vm->vfio_trace_be;
	}
	r = vfio_dma_init(&vm->vfio_dma, be, NULL);
	if (r)
		return r;
	vm->vfio_dma_ready = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = vfio_dma_register(&vm->vfio_dma, &vm->space);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r)
		vm_vfio_error(vm->vfio_dma.err, r);
	else
		log_debug("VFIO: DMA-mapped %llu MiB in %llu ranges in %.3f ms (%s)",
			  (unsigned long long)(vm->vfio_dma.stats.map_bytes >> 20),
			  (unsigned long long)vm->vfio_dma.stats.maps,
			  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
			  vfio_backend_name(vm->vfio_be));
	return r;
}

/* VFIO signals the irqfd eventfd of the vector's GSI route: no VMM thread in the path. */
static int vm_vfio_vector_eventfd(void *opaque, struct pci_dev *dev, bool msix, unsigned vector,
				  const struct pci_msi_msg *msg)
{
	return vm_msi_vector_fd(opaque, dev, msix, vector, msg);
}

static int vm_vfio_intx(struct vm *vm, struct vm_vfio *d, unsigned slot)
{
	struct kvm_irqfd irqfd = { 0 };
	int trigger, resample, r;
	uint8_t pin = d->vp.dev.cfg[PCI_INTERRUPT_PIN];

	r = vfio_pci_intx_fds(&d->vp, &trigger, &resample);
	if (r == -ENOENT || pin < 1 || pin > 4)
		return 0;
	if (r)
		return r;
	/* level-triggered: KVM lowers the line at EOI and signals resample to unmask */
	irqfd.fd = (uint32_t)trigger;
	irqfd.resamplefd = (uint32_t)resample;
	irqfd.gsi = pci_intx_gsi(slot, pin - 1);
	irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
	r = __kvm_ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
	if (r < 0) {
		log_error("%s: no INTx irqfd on GSI %u: %s", d->name, irqfd.gsi, strerror(-r));
		return r;
	}
	d->intx_gsi = irqfd.gsi;
	d->intx_fd = trigger;
	return 0;
}

int vm_vfio_devices(struct vm *vm)
{
	unsigned i;
	int r;

	for (i = 0; i < vm->nr_vfio_open; i++) {
		struct vm_vfio *d = &vm->vfio[i];
		struct vfio_pci_opts opts = { .split_qword = vm->cfg.vfio[i].split_qword,
					      .no_mmap = vm->cfg.vfio[i].no_mmap };
		struct vfio_pci_hooks hooks = {
			.msi = { .send = vm_msi_send, .vector_changed = vm_msi_vector_changed,
				 .opaque = vm },
			.vector_eventfd = vm_vfio_vector_eventfd,
			.opaque = vm,
		};
		unsigned slot = 1 + vm->nr_virtio + i;

		snprintf(d->name, sizeof(d->name), "vfio%u", i);
		opts.name = d->name;
		r = vfio_dev_fd_init(&d->dfd, d->fd);
		if (r) {
			log_error("--device vfio=%s: cannot read the device: %s", vm->cfg.vfio[i].dev,
				  strerror(-r));
			return r;
		}
		d->fd = -1;              /* the vfio_dev_fd owns it now */
		d->dfd_ready = true;
		r = vfio_pci_init(&d->vp, &d->dfd.io, &opts, &hooks);
		if (r) {
			log_error("--device vfio=%s: %s", vm->cfg.vfio[i].dev, strerror(-r));
			return r;
		}
		d->vp_ready = true;
		r = pci_bus_add(&vm->pci, &d->vp.dev, slot << 3);
		if (r) {
			log_error("%s: cannot put it in PCI slot %u: %s", d->name, slot, strerror(-r));
			return r;
		}
		d->intx_fd = -1;
		r = vm_vfio_intx(vm, d, slot);
		if (r)
			return r;
		log_debug("%s: %s in slot %u", d->name, vm->cfg.vfio[i].dev, slot);
	}
	return 0;
}

void vm_vfio_destroy(struct vm *vm)
{
	char line[128];
	unsigned i;

	/* What the guest did through the traps, for the trace; teardown is not traced. */
	for (i = 0; i < vm->nr_vfio_open; i++) {
		if (!vm->vfio[i].vp_ready)
			continue;
		snprintf(line, sizeof(line), "vfio %s trapped window=%llu pread=%llu",
			 vm->vfio[i].name, (unsigned long long)vm->vfio[i].vp.window_accesses,
			 (unsigned long long)vm->vfio[i].vp.pread_accesses);
		memslots_trace_line(&vm->slots, line);
	}
	vm->vfio_trace_off = true;
	for (i = 0; i < vm->nr_vfio_open; i++) {
		struct vm_vfio *d = &vm->vfio[i];

		if (d->intx_fd >= 0 && vm->vm_fd >= 0) {
			struct kvm_irqfd irqfd = { .fd = (uint32_t)d->intx_fd, .gsi = d->intx_gsi,
						   .flags = KVM_IRQFD_FLAG_DEASSIGN };

			(void)__kvm_ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
		}
		if (d->vp_ready)
			vfio_pci_destroy(&d->vp);
		if (d->dfd_ready)
			vfio_dev_fd_close(&d->dfd);
		if (d->fd >= 0)
			close(d->fd);
		d->vp_ready = d->dfd_ready = false;
		d->fd = -1;
	}
	vm->nr_vfio_open = 0;
	if (vm->vfio_dma_ready)
		vfio_dma_destroy(&vm->vfio_dma);
	vm->vfio_dma_ready = false;
}

void vm_vfio_backend_destroy(struct vm *vm)
{
	vfio_backend_destroy(vm->vfio_be);
	vm->vfio_be = NULL;
}
