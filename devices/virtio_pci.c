/*
 * devices/virtio_pci.c - the virtio 1.x modern PCI transport. See
 * devices/virtio_pci.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/log.h"
#include "devices/virtio_pci.h"

/* ---- notify addresses ----------------------------------------------------- */

/* Report every change between what should be bound and what was. notify_lock held. */
static void vp_notify_sync(struct virtio_pci *vp)
{
	unsigned q;

	for (q = 0; q < vp->vdev.ops.num_queues; q++) {
		bool want = vp->bar_mapped && vp->q_enabled[q] && vp->notify_addr;
		uint64_t gpa = vp->bar_addr + VIRTIO_PCI_NOTIFY_OFF +
			       (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
		int fd = virtq_kick_fd(&vp->vdev.vqs[q]);

		if (vp->q_reported[q] && (!want || vp->q_gpa[q] != gpa)) {
			if (vp->notify_addr)
				vp->notify_addr(vp->notify_opaque, q, vp->q_gpa[q], fd, false);
			vp->q_reported[q] = false;
		}
		if (want && !vp->q_reported[q]) {
			vp->notify_addr(vp->notify_opaque, q, gpa, fd, true);
			vp->q_reported[q] = true;
			vp->q_gpa[q] = gpa;
		}
	}
}

/* The BAR may have moved: refresh the cached decode. Called with the bus lock held. */
static void vp_bar_sync(struct virtio_pci *vp)
{
	uint64_t addr = 0;
	bool mapped = pci_dev_bar_mapped(&vp->pci, VIRTIO_PCI_BAR, &addr);

	pthread_mutex_lock(&vp->notify_lock);
	vp->bar_mapped = mapped;
	vp->bar_addr = mapped ? addr : 0;
	vp_notify_sync(vp);
	pthread_mutex_unlock(&vp->notify_lock);
}

static void vp_queues_sync(struct virtio_pci *vp)
{
	unsigned q;

	pthread_mutex_lock(&vp->notify_lock);
	for (q = 0; q < vp->vdev.ops.num_queues; q++)
		vp->q_enabled[q] = vp->vdev.vqs[q].enabled;
	vp_notify_sync(vp);
	pthread_mutex_unlock(&vp->notify_lock);
}

void virtio_pci_set_notify_cb(struct virtio_pci *vp, virtio_pci_notify_addr_fn fn, void *opaque)
{
	bool mapped;

	if (!vp || !vp->ready)
		return;
	pthread_mutex_lock(&vp->notify_lock);
	/* Unbind what the old callback was told, then bind through the new one. */
	mapped = vp->bar_mapped;
	vp->bar_mapped = false;
	vp_notify_sync(vp);
	vp->bar_mapped = mapped;
	vp->notify_addr = fn;
	vp->notify_opaque = opaque;
	vp_notify_sync(vp);
	pthread_mutex_unlock(&vp->notify_lock);
}

/* ---- interrupts (any thread; never the vdev lock) ------------------------------- */

static void vp_intx_raise(struct virtio_pci *vp, uint8_t bit)
{
	__atomic_fetch_or(&vp->vdev.isr, bit, __ATOMIC_SEQ_CST);
	pci_dev_set_irq(&vp->pci, 1);
}

static void vp_interrupt(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	if (pci_dev_irq_mode(&vp->pci) == PCI_IRQ_MSIX) {
		int ret;

		if (vector == VIRTIO_NO_VECTOR)
			return;
		ret = pci_msix_notify(&vp->pci, vector);
		/* MSI-X was switched off meanwhile: fall back to INTx like the guest now expects. */
		if (ret != -ENOTCONN)
			return;
	}
	vp_intx_raise(vp, isr_bit);
}

static void vp_notify_queue(struct virtio_dev *vdev, struct virtq *vq)
{
	struct virtio_pci *vp = vdev->transport_opaque;

	vp_interrupt(vp, __atomic_load_n(&vq->msix_vector, __ATOMIC_ACQUIRE), 1);
}

static void vp_notify_config(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport_opaque;

	vp_interrupt(vp, __atomic_load_n(&vp->msix_config, __ATOMIC_ACQUIRE), 2);
}

static const struct virtio_transport_ops vp_transport = {
	.notify_queue = vp_notify_queue,
	.notify_config = vp_notify_config,
};

static uint8_t vp_isr_read(struct virtio_pci *vp)
{
	uint8_t v = virtio_dev_isr_read_clear(&vp->vdev);

	pci_dev_set_irq(&vp->pci, 0);
	/* A bit set between the clear and the lowering must keep the line up. */
	if (__atomic_load_n(&vp->vdev.isr, __ATOMIC_SEQ_CST))
		pci_dev_set_irq(&vp->pci, 1);
	return v;
}

/* ---- common configuration ---------------------------------------------------------- */

static uint16_t vp_vector(struct virtio_pci *vp, uint16_t v)
{
	return v < vp->nvectors ? v : VIRTIO_NO_VECTOR;
}

/* Width of the field at @off (64-bit halves count as 4), 0 for a hole. */
static unsigned vp_common_width(uint64_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT:
	case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT:
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS:
	case VIRTIO_PCI_COMMON_CFGGEN:
		return 1;
	default:
		return 0;
	}
}

static bool vp_common_width_ok(uint64_t off, unsigned size)
{
	unsigned w = vp_common_width(off);

	if (size == 8)
		return off == VIRTIO_PCI_COMMON_Q_DESCLO || off == VIRTIO_PCI_COMMON_Q_AVAILLO ||
		       off == VIRTIO_PCI_COMMON_Q_USEDLO;
	return w && size == w;
}

static uint64_t *vp_queue_addr(struct virtq *vq, uint64_t off)
{
	switch (off & ~7ULL) {
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		return &vq->desc_gpa;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		return &vq->avail_gpa;
	default:
		return &vq->used_gpa;
	}
}

static uint64_t vp_common_read(struct virtio_pci *vp, uint64_t off, unsigned size)
{
	struct virtio_dev *vdev = &vp->vdev;
	struct virtq *vq = virtio_queue(vdev, vp->queue_sel);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return vp->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return virtio_dev_host_features(vdev, vp->dfselect);
	case VIRTIO_PCI_COMMON_GFSELECT:
		return vp->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return virtio_dev_driver_features(vdev, vp->gfselect);
	case VIRTIO_PCI_COMMON_MSIX:
		return vp->msix_config;
	case VIRTIO_PCI_COMMON_NUMQ:
		return vdev->ops.num_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return virtio_dev_get_status(vdev);
	case VIRTIO_PCI_COMMON_CFGGEN:
		return __atomic_load_n(&vdev->config_generation, __ATOMIC_ACQUIRE);
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return vp->queue_sel;
	}
	/* Queue fields: a non-existent queue reads as size 0 (not available). */
	if (!vq)
		return off == VIRTIO_PCI_COMMON_Q_MSIX ? VIRTIO_NO_VECTOR : 0;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return vq->size;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return vq->msix_vector;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return vq->enabled;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return vq->index;
	default: {
		uint64_t v = *vp_queue_addr(vq, off);

		if (size == 8)
			return v;
		return (off & 4) ? v >> 32 : (uint32_t)v;
	}
	}
}

static void vp_common_write(struct virtio_pci *vp, uint64_t off, unsigned size, uint64_t val)
{
	struct virtio_dev *vdev = &vp->vdev;
	struct virtq *vq = virtio_queue(vdev, vp->queue_sel);
	uint8_t status = virtio_dev_get_status(vdev);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		vp->dfselect = (uint32_t)val;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		vp->gfselect = (uint32_t)val;
		return;
	case VIRTIO_PCI_COMMON_GF:
		virtio_dev_set_driver_features(vdev, vp->gfselect, (uint32_t)val);
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		__atomic_store_n(&vp->msix_config, vp_vector(vp, (uint16_t)val), __ATOMIC_RELEASE);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_dev_set_status(vdev, (uint8_t)val);
		if (!val) {
			vp->dfselect = vp->gfselect = 0;
			vp->queue_sel = 0;
			__atomic_store_n(&vp->msix_config, VIRTIO_NO_VECTOR, __ATOMIC_RELEASE);
			pci_dev_set_irq(&vp->pci, 0);
		}
		vp_queues_sync(vp);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		vp->queue_sel = (uint16_t)val;
		return;
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_CFGGEN:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return;
	}
	/* Queue fields: frozen once the queue is enabled or the device runs. */
	if (!vq || vq->enabled || (status & VIRTIO_STATUS_DRIVER_OK))
		return;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* Validated again at enable; a bad size is refused there. */
		vq->size = (uint16_t)val;
		return;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		__atomic_store_n(&vq->msix_vector, vp_vector(vp, (uint16_t)val), __ATOMIC_RELEASE);
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (val == 1) {
			if (virtio_queue_enable(vdev, vq->index))
				return;
			vp_queues_sync(vp);
		}
		return;
	default: {
		uint64_t *p = vp_queue_addr(vq, off);

		if (size == 8)
			*p = val;
		else if (off & 4)
			*p = (*p & 0xFFFFFFFFULL) | (val << 32);
		else
			*p = (*p & ~0xFFFFFFFFULL) | (uint32_t)val;
		return;
	}
	}
}

/* ---- BAR 4 ------------------------------------------------------------------------- */

static int vp_bar_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = &vp->vdev;

	*val = 0;
	if (off % size)
		return -EINVAL;
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
		if (!vp_common_width_ok(off, size))
			return -EINVAL;
		pthread_mutex_lock(&vdev->lock);
		*val = vp_common_read(vp, off, size);
		pthread_mutex_unlock(&vdev->lock);
		return 0;
	}
	if (off >= VIRTIO_PCI_ISR_OFF && off < VIRTIO_PCI_ISR_OFF + VIRTIO_PCI_ISR_LEN) {
		if (size != 1)
			return -EINVAL;
		if (off == VIRTIO_PCI_ISR_OFF)
			*val = vp_isr_read(vp);
		return 0;
	}
	if (off >= VIRTIO_PCI_DEVICE_OFF && off - VIRTIO_PCI_DEVICE_OFF < vdev->ops.config_size) {
		uint64_t coff = off - VIRTIO_PCI_DEVICE_OFF;
		uint8_t buf[8] = { 0 };

		if (size > vdev->ops.config_size - coff)
			return -EINVAL;
		pthread_mutex_lock(&vdev->lock);
		if (vdev->ops.config_read)
			vdev->ops.config_read(vdev, (unsigned)coff, buf, size);
		pthread_mutex_unlock(&vdev->lock);
		memcpy(val, buf, size);
		return 0;
	}
	/* Notify region and holes read 0. */
	return 0;
}

static int vp_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vdev = &vp->vdev;

	if (off % size)
		return -EINVAL;
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
		if (!vp_common_width_ok(off, size))
			return -EINVAL;
		pthread_mutex_lock(&vdev->lock);
		vp_common_write(vp, off, size, val);
		pthread_mutex_unlock(&vdev->lock);
		return 0;
	}
	if (off >= VIRTIO_PCI_DEVICE_OFF && off - VIRTIO_PCI_DEVICE_OFF < vdev->ops.config_size) {
		uint64_t coff = off - VIRTIO_PCI_DEVICE_OFF;
		uint8_t buf[8];

		if (size > vdev->ops.config_size - coff)
			return -EINVAL;
		memcpy(buf, &val, size);
		pthread_mutex_lock(&vdev->lock);
		if (vdev->ops.config_write)
			vdev->ops.config_write(vdev, (unsigned)coff, buf, size);
		pthread_mutex_unlock(&vdev->lock);
		return 0;
	}
	if (off >= VIRTIO_PCI_NOTIFY_OFF &&
	    off - VIRTIO_PCI_NOTIFY_OFF < (uint64_t)vdev->ops.num_queues * VIRTIO_PCI_NOTIFY_MULT) {
		/* The queue is the address; the value (its index) is not trusted. */
		if (size != 2 && size != 4)
			return -EINVAL;
		virtio_queue_kick(vdev, (unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) /
						   VIRTIO_PCI_NOTIFY_MULT));
		return 0;
	}
	return 0;
}

static const struct access_ops vp_bar_ops = {
	.read = vp_bar_read,
	.write = vp_bar_write,
	.min_size = 1,
	.max_size = 8,
};

/* ---- PCI hooks (bus lock held) ------------------------------------------------------ */

static bool vp_pci_config_write(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t val)
{
	struct virtio_pci *vp = dev->opaque;
	int ret = pci_dev_cfg_write_default(dev, reg, size, val);

	if (ret)
		log_warn("virtio-pci: %s: config write 0x%x: %s", dev->name, reg, strerror(-ret));
	vp_bar_sync(vp);
	return true;
}

static void vp_pci_reset(struct pci_dev *dev)
{
	struct virtio_pci *vp = dev->opaque;

	/* The BAR is unmapped now; the virtio device is reset by virtio_pci_reset(). */
	vp_bar_sync(vp);
}

static const struct pci_dev_ops vp_pci_ops = {
	.config_write = vp_pci_config_write,
	.reset = vp_pci_reset,
};

/* ---- life cycle ------------------------------------------------------------------- */

static int vp_add_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len,
		      unsigned size, unsigned *at)
{
	uint8_t *c;
	int ret = pci_dev_add_cap(&vp->pci, PCI_CAP_ID_VNDR, size, at);

	if (ret)
		return ret;
	c = vp->pci.cfg + *at;
	c[VIRTIO_PCI_CAP_LEN] = (uint8_t)size;
	c[VIRTIO_PCI_CAP_CFG_TYPE] = type;
	c[VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_BAR;
	c[VIRTIO_PCI_CAP_ID] = 0;
	put_le32(c + VIRTIO_PCI_CAP_OFFSET, off);
	put_le32(c + VIRTIO_PCI_CAP_LENGTH, len);
	return 0;
}

static const char *vp_name(uint16_t id)
{
	switch (id) {
	case VIRTIO_ID_NET:
		return "virtio-net";
	case VIRTIO_ID_BLOCK:
		return "virtio-blk";
	case VIRTIO_ID_CONSOLE:
		return "virtio-console";
	case VIRTIO_ID_RNG:
		return "virtio-rng";
	default:
		return "virtio";
	}
}

int virtio_pci_init(struct virtio_pci *vp, const struct virtio_dev_ops *ops, void *opaque,
		    struct mem_space *mem)
{
	unsigned at;
	int ret;

	if (!vp)
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	if (!ops || !mem || ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES ||
	    ops->device_id > 0xFFFF - VIRTIO_PCI_DEVICE_ID_BASE)
		return -EINVAL;
	pci_dev_init(&vp->pci, vp_name(ops->device_id), VIRTIO_PCI_VENDOR_ID,
		     (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + ops->device_id), ops->pci_class, 1,
		     &vp_pci_ops, vp);
	pci_dev_set_subsystem(&vp->pci, VIRTIO_PCI_VENDOR_ID, VIRTIO_PCI_SUBSYS_ID);
	ret = pci_dev_set_intx_pin(&vp->pci, 1);
	if (ret)
		goto err_pci;
	ret = pci_dev_set_bar(&vp->pci, VIRTIO_PCI_BAR, PCI_BAR_MEM64 | PCI_BAR_PREFETCH,
			      VIRTIO_PCI_BAR_SIZE, &vp_bar_ops, vp);
	if (ret)
		goto err_pci;
	ret = vp_add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
			 VIRTIO_PCI_COMMON_LEN, VIRTIO_PCI_CAP_SIZE, &at);
	if (ret)
		goto err_pci;
	ret = vp_add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_LEN,
			 VIRTIO_PCI_CAP_SIZE, &at);
	if (ret)
		goto err_pci;
	if (ops->config_size) {
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
				 ops->config_size, VIRTIO_PCI_CAP_SIZE, &at);
		if (ret)
			goto err_pci;
	}
	ret = vp_add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
			 ops->num_queues * VIRTIO_PCI_NOTIFY_MULT, VIRTIO_PCI_NOTIFY_CAP_SIZE, &at);
	if (ret)
		goto err_pci;
	put_le32(vp->pci.cfg + at + VIRTIO_PCI_CAP_NOTIFY_MULT, VIRTIO_PCI_NOTIFY_MULT);
	vp->nvectors = ops->num_queues + 1;
	ret = pci_msix_init(&vp->pci, vp->nvectors, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_TABLE_OFF,
			    VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_PBA_OFF);
	if (ret)
		goto err_pci;
	vp->msix_config = VIRTIO_NO_VECTOR;
	ret = -pthread_mutex_init(&vp->notify_lock, NULL);
	if (ret)
		goto err_pci;
	ret = virtio_dev_init(&vp->vdev, ops, opaque, mem, &vp_transport, vp);
	if (ret)
		goto err_lock;
	vp->ready = true;
	return 0;

err_lock:
	pthread_mutex_destroy(&vp->notify_lock);
err_pci:
	pci_dev_destroy(&vp->pci);
	return ret;
}

void virtio_pci_reset(struct virtio_pci *vp)
{
	if (!vp || !vp->ready)
		return;
	pthread_mutex_lock(&vp->vdev.lock);
	vp_common_write(vp, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	pthread_mutex_unlock(&vp->vdev.lock);
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	unsigned q;

	if (!vp || !vp->ready)
		return;
	/* The worker first: its interrupts go through the PCI function. */
	virtio_pci_reset(vp);
	pthread_mutex_lock(&vp->notify_lock);
	for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->q_enabled[q] = false;
	vp->bar_mapped = false;
	vp_notify_sync(vp);
	pthread_mutex_unlock(&vp->notify_lock);
	virtio_dev_destroy(&vp->vdev);
	pci_dev_destroy(&vp->pci);
	pthread_mutex_destroy(&vp->notify_lock);
	vp->ready = false;
}
