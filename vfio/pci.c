/*
 * vfio/pci.c - the passthrough PCI device model. See vfio/pci.h.
 *
 * The guest sees the PCI core's configuration space; only the bytes of
 * kept capabilities go to the device (kind[] says which). BAR traps and
 * passthrough config use the device io's single-access read/write, never
 * a copy of device memory (I4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"
#include "common/mmio.h"
#include "vfio/pci.h"

#define VFIO_PCI_CAP_ID_PM      0x01
#define VFIO_PCI_PM_SIZE        8
#define VFIO_PCI_PM_CTRL        4
#define VFIO_PCI_EXP_FLAGS      2
#define VFIO_PCI_EXP_DEVCTL     8
#define VFIO_PCI_EXP_LNKCAP     0x0C
#define VFIO_PCI_EXP_DEVCTL2    0x28
#define VFIO_PCI_EXP_LNKCAP2    0x2C
#define VFIO_PCI_EXP_V1_SIZE    0x14
#define VFIO_PCI_EXP_V2_SIZE    0x3C
#define VFIO_PCI_EXP_TYPE_EP    0x0
#define VFIO_PCI_EXP_TYPE_LEG   0x1
#define VFIO_PCI_EXP_TYPE_RCIEP 0x9
#define VFIO_PCI_MAX_CAPS       48
#define VFIO_PCI_CMD_FORWARD    (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
				 PCI_COMMAND_INTX_DISABLE)

static bool vfio_pci_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* ---- BAR traps -------------------------------------------------------------- */

/* The access window holding [off, off+size) of region @index, or NULL. */
static const struct vfio_pci_window *vfio_pci_window_find(const struct vfio_pci *vp,
							   unsigned index, uint64_t off,
							   unsigned size)
{
	unsigned i;

	if (off % size)
		return NULL;    /* unaligned: the kernel splits it as the bus would */
	for (i = 0; i < vp->nr_windows; i++) {
		const struct vfio_pci_window *w = &vp->windows[i];

		if (w->bar == index && range_within(off, size, w->off, w->size))
			return w;
	}
	return NULL;
}

/* One access of exactly @size bytes: a volatile load on a window, else one pread. */
static int vfio_pci_dev_read(struct vfio_pci *vp, unsigned index, uint64_t off, unsigned size,
			     uint64_t *val)
{
	const struct vfio_pci_window *w = vfio_pci_window_find(vp, index, off, size);

	if (!w) {
		__atomic_fetch_add(&vp->pread_accesses, 1, __ATOMIC_RELAXED);
		return vp->io.ops->read(vp->io.opaque, index, off, size, val);
	}
	__atomic_fetch_add(&vp->window_accesses, 1, __ATOMIC_RELAXED);
	return mmio_read((const uint8_t *)w->host + (off - w->off), size, val);
}

static int vfio_pci_dev_write(struct vfio_pci *vp, unsigned index, uint64_t off, unsigned size,
			      uint64_t val)
{
	const struct vfio_pci_window *w = vfio_pci_window_find(vp, index, off, size);

	if (!w) {
		__atomic_fetch_add(&vp->pread_accesses, 1, __ATOMIC_RELAXED);
		return vp->io.ops->write(vp->io.opaque, index, off, size, val);
	}
	__atomic_fetch_add(&vp->window_accesses, 1, __ATOMIC_RELAXED);
	return mmio_write((uint8_t *)w->host + (off - w->off), size, val);
}

static int vfio_pci_bar_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct vfio_pci_bar *b = opaque;
	struct vfio_pci *vp = b->vp;
	uint64_t lo, hi;
	int ret;

	if (!range_within(off, size, 0, b->size))
		return -EINVAL;
	if (size == 8 && vp->opts.split_qword) {
		ret = vfio_pci_dev_read(vp, b->index, off, 4, &lo);
		if (!ret)
			ret = vfio_pci_dev_read(vp, b->index, off + 4, 4, &hi);
		if (ret)
			return ret;
		*val = (lo & 0xFFFFFFFFULL) | (hi << 32);
		return 0;
	}
	ret = vfio_pci_dev_read(vp, b->index, off, size, val);
	if (!ret)
		*val &= access_ones(size);
	return ret;
}

static int vfio_pci_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct vfio_pci_bar *b = opaque;
	struct vfio_pci *vp = b->vp;
	int ret;

	if (!range_within(off, size, 0, b->size))
		return -EINVAL;
	if (size == 8 && vp->opts.split_qword) {
		ret = vfio_pci_dev_write(vp, b->index, off, 4, val & 0xFFFFFFFFULL);
		if (ret)
			return ret;
		return vfio_pci_dev_write(vp, b->index, off + 4, 4, val >> 32);
	}
	return vfio_pci_dev_write(vp, b->index, off, size, val & access_ones(size));
}

static const struct access_ops vfio_pci_bar_ops = {
	.read = vfio_pci_bar_read,
	.write = vfio_pci_bar_write,
	.min_size = 1,
	.max_size = 8,
};

/* ---- interrupts ----------------------------------------------------------------- */

static void vfio_pci_set_irqs(struct vfio_pci *vp, unsigned index, uint32_t action,
			      unsigned start, unsigned count, const int32_t *fds)
{
	int ret = vp->io.ops->set_irqs(vp->io.opaque, index, action, start, count, fds);

	if (ret) {
		vp->irq_errors++;
		log_warn("vfio: %s: SET_IRQS index %u start %u count %u failed (%d)", vp->name,
			 index, start, count, ret);
	}
}

/* The fd VFIO should signal for a vector: the owner's, else ours (created once). */
static int32_t vfio_pci_vector_src(struct vfio_pci *vp, bool msix, unsigned v,
				   const struct pci_msi_msg *msg)
{
	int32_t *own = msix ? &vp->msix_own[v] : &vp->msi_own[v];
	struct pci_msi_msg m = { 0 };
	int fd;

	if (vp->hooks.vector_eventfd) {
		fd = vp->hooks.vector_eventfd(vp->hooks.opaque, &vp->dev, msix, v, msg ? msg : &m);
		if (fd >= 0)
			return fd;
	}
	if (*own < 0) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0) {
			vp->irq_errors++;
			return -1;
		}
		*own = fd;
	}
	return *own;
}

static void vfio_pci_intx_arm(struct vfio_pci *vp)
{
	int32_t fd;

	if (!vp->intx)
		return;
	fd = vp->intx_fd;
	vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_INTX, VFIO_DEV_IRQ_TRIGGER, 0, 1, &fd);
	fd = vp->intx_resample_fd;
	vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_INTX, VFIO_DEV_IRQ_UNMASK, 0, 1, &fd);
	vp->vmode = VFIO_PCI_VM_INTX;
}

/* Disable whatever index VFIO has enabled. */
static void vfio_pci_irq_off(struct vfio_pci *vp)
{
	unsigned v;

	switch (vp->vmode) {
	case VFIO_PCI_VM_INTX:
		vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_INTX, VFIO_DEV_IRQ_TRIGGER, 0, 0, NULL);
		break;
	case VFIO_PCI_VM_MSI:
		vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_MSI, VFIO_DEV_IRQ_TRIGGER, 0, 0, NULL);
		break;
	case VFIO_PCI_VM_MSIX:
		vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_MSIX, VFIO_DEV_IRQ_TRIGGER, 0, 0, NULL);
		break;
	default:
		break;
	}
	for (v = 0; v < vp->msix_nr; v++)
		vp->msix_wired[v] = -1;
	for (v = 0; v < PCI_MSI_MAX_VECTORS; v++)
		vp->msi_wired[v] = -1;
	vp->vfio_msi_count = 0;
	vp->vmode = VFIO_PCI_VM_NONE;
}

/* MSI vectors the guest enabled (as the core counts them). Bus lock held. */
static unsigned vfio_pci_msi_nvec(const struct vfio_pci *vp)
{
	uint16_t ctrl = get_le16(vp->dev.cfg + vp->dev.msi.cap + PCI_MSI_FLAGS);
	unsigned mme = (ctrl & PCI_MSI_FLAGS_QSIZE) >> 4;

	if (mme > 5 || (1u << mme) > vp->dev.msi.nr)
		return vp->dev.msi.nr;
	return 1u << mme;
}

/* Make VFIO's enabled index follow the guest's mode. Bus lock held. */
static void vfio_pci_mode_sync(struct vfio_pci *vp)
{
	enum pci_irq_mode m = pci_dev_irq_mode(&vp->dev);
	unsigned v, n;

	if (m == PCI_IRQ_MSIX && vp->msix_nr) {
		int32_t *fds;

		if (vp->vmode == VFIO_PCI_VM_MSIX)
			return;
		vfio_pci_irq_off(vp);
		fds = malloc(sizeof(*fds) * vp->msix_nr);
		if (!fds) {
			vp->irq_errors++;
			return;
		}
		/* Every vector allocated at once; only unmasked ones get an eventfd now. */
		for (v = 0; v < vp->msix_nr; v++) {
			fds[v] = -1;
			if (!pci_msix_vector_masked(&vp->dev, v))
				fds[v] = vfio_pci_vector_src(vp, true, v, &vp->dev.msix.last[v]);
			vp->msix_wired[v] = fds[v];
		}
		vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_MSIX, VFIO_DEV_IRQ_TRIGGER, 0, vp->msix_nr, fds);
		free(fds);
		vp->vmode = VFIO_PCI_VM_MSIX;
		return;
	}
	if (m == PCI_IRQ_MSI && vp->msi_nr) {
		int32_t fds[PCI_MSI_MAX_VECTORS];

		n = vfio_pci_msi_nvec(vp);
		if (vp->vmode == VFIO_PCI_VM_MSI && vp->vfio_msi_count == n)
			return;
		vfio_pci_irq_off(vp);
		for (v = 0; v < n; v++) {
			fds[v] = vfio_pci_vector_src(vp, false, v, &vp->dev.msi.last[v]);
			vp->msi_wired[v] = fds[v];
		}
		vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_MSI, VFIO_DEV_IRQ_TRIGGER, 0, n, fds);
		vp->vfio_msi_count = n;
		vp->vmode = VFIO_PCI_VM_MSI;
		return;
	}
	if (vp->vmode == VFIO_PCI_VM_INTX || (vp->vmode == VFIO_PCI_VM_NONE && !vp->intx))
		return;
	vfio_pci_irq_off(vp);
	vfio_pci_intx_arm(vp);
}

static void vfio_pci_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct vfio_pci *vp = opaque;

	if (vp->hooks.msi.send)
		vp->hooks.msi.send(vp->hooks.msi.opaque, addr, data);
}

static void vfio_pci_vector_changed(void *opaque, struct pci_dev *dev, bool msix, unsigned v,
				    const struct pci_msi_msg *msg)
{
	struct vfio_pci *vp = opaque;
	int32_t fd;

	if (vp->hooks.msi.vector_changed)
		vp->hooks.msi.vector_changed(vp->hooks.msi.opaque, dev, msix, v, msg);
	vfio_pci_mode_sync(vp);
	/* Wire a MSI-X vector the first time it is unmasked; it stays wired on mask. */
	if (!msix || vp->vmode != VFIO_PCI_VM_MSIX || v >= vp->msix_nr || msg->masked ||
	    vp->msix_wired[v] >= 0)
		return;
	fd = vfio_pci_vector_src(vp, true, v, msg);
	if (fd < 0)
		return;
	vp->msix_wired[v] = fd;
	vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_MSIX, VFIO_DEV_IRQ_TRIGGER, v, 1, &fd);
}

void vfio_pci_vector_fired(struct vfio_pci *vp, bool msix, unsigned vector)
{
	if (!vp || !vp->ready)
		return;
	if (msix)
		(void)pci_msix_notify(&vp->dev, vector);
	else
		(void)pci_msi_notify(&vp->dev, vector);
}

int vfio_pci_vector_fd(struct vfio_pci *vp, bool msix, unsigned vector)
{
	if (!vp || !vp->ready)
		return -1;
	if (msix)
		return vector < vp->msix_nr ? vp->msix_wired[vector] : -1;
	return vector < PCI_MSI_MAX_VECTORS ? vp->msi_wired[vector] : -1;
}

int vfio_pci_intx_fds(struct vfio_pci *vp, int *trigger, int *resample)
{
	if (!vp || !vp->ready || !trigger || !resample)
		return -EINVAL;
	if (!vp->intx)
		return -ENOENT;
	*trigger = vp->intx_fd;
	*resample = vp->intx_resample_fd;
	return 0;
}

static bool vfio_pci_drain(int fd)
{
	uint64_t cnt;

	return fd >= 0 && read(fd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt) && cnt;
}

unsigned vfio_pci_poll(struct vfio_pci *vp)
{
	unsigned v, seen = 0;

	if (!vp || !vp->ready)
		return 0;
	for (v = 0; v < vp->msix_nr; v++)
		if (vp->msix_own[v] >= 0 && vfio_pci_drain(vp->msix_own[v])) {
			vfio_pci_vector_fired(vp, true, v);
			seen++;
		}
	for (v = 0; v < PCI_MSI_MAX_VECTORS; v++)
		if (vp->msi_own[v] >= 0 && vfio_pci_drain(vp->msi_own[v])) {
			vfio_pci_vector_fired(vp, false, v);
			seen++;
		}
	if (vp->intx && vfio_pci_drain(vp->intx_fd)) {
		pci_dev_set_irq(&vp->dev, 1);
		seen++;
	}
	return seen;
}

void vfio_pci_intx_eoi(struct vfio_pci *vp)
{
	if (!vp || !vp->ready || !vp->intx)
		return;
	pci_dev_set_irq(&vp->dev, 0);
	vfio_pci_set_irqs(vp, VFIO_DEV_IRQ_INTX, VFIO_DEV_IRQ_UNMASK, 0, 1, NULL);
}

/* ---- configuration space hooks ----------------------------------------------------- */

static bool vfio_pci_cfg_read(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t *val)
{
	struct vfio_pci *vp = dev->opaque;
	uint32_t core = 0;
	uint64_t d;
	unsigned i;
	bool any = false;

	if (reg >= PCI_CFG_LEGACY_SIZE)
		return false;
	for (i = 0; i < size; i++)
		any |= vp->kind[reg + i] != VFIO_PCI_CFG_EMU;
	if (!any)
		return false;
	if (pci_dev_cfg_read_default(dev, reg, size, &core))
		return false;
	/* One device access of the guest's width, emulated bytes laid over it. */
	if (vp->io.ops->read(vp->io.opaque, VFIO_DEV_CONFIG, reg, size, &d))
		d = access_ones(size);
	for (i = 0; i < size; i++)
		if (vp->kind[reg + i] == VFIO_PCI_CFG_EMU) {
			d &= ~(0xFFULL << (8 * i));
			d |= (uint64_t)((core >> (8 * i)) & 0xFF) << (8 * i);
		}
	*val = (uint32_t)d;
	return true;
}

static bool vfio_pci_touches(unsigned reg, unsigned size, unsigned cap, unsigned len)
{
	return cap && ranges_overlap(reg, size, cap, len);
}

static bool vfio_pci_cfg_write(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t val)
{
	struct vfio_pci *vp = dev->opaque;
	unsigned i, nrw = 0, nemu = 0;

	if (reg >= PCI_CFG_LEGACY_SIZE)
		return false;
	for (i = 0; i < size; i++) {
		nrw += vp->kind[reg + i] == VFIO_PCI_CFG_PT_RW;
		nemu += vp->kind[reg + i] == VFIO_PCI_CFG_EMU;
	}
	if (nemu == size) {
		bool irq = vfio_pci_touches(reg, size, dev->msix.nr ? dev->msix.cap : 0,
					    PCI_MSIX_CAP_SIZE) ||
			   vfio_pci_touches(reg, size, dev->msi.nr ? dev->msi.cap : 0,
					    PCI_MSI_CAP_SIZE);

		if (!irq)
			return false; /* the core's, with its error reporting */
		if (pci_dev_cfg_write_default(dev, reg, size, val))
			log_debug("vfio: %s: config write 0x%x failed", vp->name, reg);
		vfio_pci_mode_sync(vp);
		return true;
	}
	if (nrw == size) {
		if (vp->io.ops->write(vp->io.opaque, VFIO_DEV_CONFIG, reg, size, val))
			log_debug("vfio: %s: config write 0x%x to the device failed", vp->name, reg);
		return true;
	}
	/* Mixed: byte by byte, each byte to its owner; read-only passthrough bytes dropped. */
	for (i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (vp->kind[reg + i] == VFIO_PCI_CFG_PT_RW) {
			if (vp->io.ops->write(vp->io.opaque, VFIO_DEV_CONFIG, reg + i, 1, b))
				log_debug("vfio: %s: config write 0x%x failed", vp->name, reg + i);
		} else if (vp->kind[reg + i] == VFIO_PCI_CFG_EMU) {
			if (pci_dev_cfg_write_default(dev, reg + i, 1, b))
				log_debug("vfio: %s: config write 0x%x failed", vp->name, reg + i);
		}
	}
	vfio_pci_mode_sync(vp);
	return true;
}

static void vfio_pci_command_changed(struct pci_dev *dev, uint16_t old_cmd, uint16_t new_cmd)
{
	struct vfio_pci *vp = dev->opaque;
	uint64_t cur;
	uint16_t c;

	if (!((old_cmd ^ new_cmd) & VFIO_PCI_CMD_FORWARD))
		return;
	if (vp->io.ops->read(vp->io.opaque, VFIO_DEV_CONFIG, PCI_COMMAND, 2, &cur)) {
		log_warn("vfio: %s: cannot read the device's COMMAND", vp->name);
		return;
	}
	c = (uint16_t)((cur & ~VFIO_PCI_CMD_FORWARD) | (new_cmd & VFIO_PCI_CMD_FORWARD));
	if (vp->io.ops->write(vp->io.opaque, VFIO_DEV_CONFIG, PCI_COMMAND, 2, c))
		log_warn("vfio: %s: cannot write the device's COMMAND", vp->name);
}

static void vfio_pci_dev_reset(struct pci_dev *dev)
{
	struct vfio_pci *vp = dev->opaque;
	int ret;

	vfio_pci_irq_off(vp);
	if (vp->has_reset) {
		ret = vp->io.ops->reset(vp->io.opaque);
		if (ret)
			log_warn("vfio: %s: VFIO_DEVICE_RESET failed (%d)", vp->name, ret);
	}
	vfio_pci_intx_arm(vp);
}

static const struct pci_dev_ops vfio_pci_dev_ops = {
	.config_read = vfio_pci_cfg_read,
	.config_write = vfio_pci_cfg_write,
	.command_changed = vfio_pci_command_changed,
	.reset = vfio_pci_dev_reset,
};

void vfio_pci_reset(struct vfio_pci *vp)
{
	if (!vp || !vp->ready)
		return;
	pci_dev_reset(&vp->dev);
}

/* ---- set-up: BARs ----------------------------------------------------------------- */

/* Cut [s, e) around the excluded ranges, page-align and mmap each piece. */
static int vfio_pci_map_piece(struct vfio_pci *vp, unsigned n, uint64_t s, uint64_t e)
{
	struct vfio_pci_map *m;
	char name[40];
	int ret;

	s = align_up(s, vp->page_size);
	e = align_down(e, vp->page_size);
	if (s >= e)
		return 0;
	if (vp->nr_maps == VFIO_PCI_MAX_MAPS) {
		log_warn("vfio: %s: too many BAR mappings, the rest is trapped", vp->name);
		return 0;
	}
	m = &vp->maps[vp->nr_maps];
	memset(m, 0, sizeof(*m));
	ret = vp->io.ops->mmap(vp->io.opaque, n, s, e - s, &m->host);
	if (ret) {
		/* Not fatal: the trap region serves the range. */
		log_warn("vfio: %s: mmap of BAR%u+0x%llx failed (%d), trapped", vp->name, n,
			 (unsigned long long)s, ret);
		return 0;
	}
	m->size = e - s;
	m->bar = n;
	m->off = s;
	snprintf(name, sizeof(name), "%s-bar%u-mmap", vp->name, n);
	memcpy(m->be.name, name, sizeof(m->be.name) - 1);
	m->be.fd = -1;
	m->be.device = true;            /* no DMA map, no memcpy (I4) */
	m->be.host = m->host;
	m->be.size = m->size;
	mem_region_init_ram(&m->mr, name, &m->be, 0, m->size);
	mem_region_set_unmergeable(&m->mr, true);
	ret = pci_dev_bar_add_region(&vp->dev, n, &m->mr, s, 1);
	if (ret) {
		vp->io.ops->munmap(vp->io.opaque, m->host, m->size);
		return ret;
	}
	vp->nr_maps++;
	return 0;
}

/* Pages holding the MSI-X table or PBA of BAR @n: never mapped (the core serves them). */
static unsigned vfio_pci_msix_holes(struct vfio_pci *vp, unsigned n, struct vfio_dev_area *h)
{
	unsigned k = 0;

	if (!vp->msix_nr)
		return 0;
	if (vp->msix_table_bar == n) {
		h[k].off = align_down(vp->msix_table_off, vp->page_size);
		h[k].size = align_up(vp->msix_table_off + (uint64_t)vp->msix_nr * PCI_MSIX_ENTRY_SIZE,
				     vp->page_size) - h[k].off;
		k++;
	}
	if (vp->msix_pba_bar == n) {
		h[k].off = align_down(vp->msix_pba_off, vp->page_size);
		h[k].size = align_up(vp->msix_pba_off + ((uint64_t)vp->msix_nr + 63) / 64 * 8,
				     vp->page_size) - h[k].off;
		k++;
	}
	return k;
}

static int vfio_pci_map_area(struct vfio_pci *vp, unsigned n, uint64_t s, uint64_t e,
			     const struct vfio_dev_area *holes, unsigned nh)
{
	unsigned i;
	int ret;

	for (i = 0; i < nh; i++) {
		uint64_t hs = holes[i].off, he = holes[i].off + holes[i].size;

		if (he <= s || hs >= e)
			continue;
		/* Left of the hole, then whatever is right of it against the remaining holes. */
		if (hs > s) {
			ret = vfio_pci_map_area(vp, n, s, hs, holes + i + 1, nh - i - 1);
			if (ret)
				return ret;
		}
		if (he < e)
			return vfio_pci_map_area(vp, n, he, e, holes, nh);
		return 0;
	}
	return vfio_pci_map_piece(vp, n, s, e);
}

/*
 * An access window over the mappable area [s, e) of BAR @n, for the trapped
 * accesses that land there. Not fatal when it cannot be made: those accesses
 * then go through pread.
 */
static void vfio_pci_add_window(struct vfio_pci *vp, unsigned n, uint64_t s, uint64_t e)
{
	struct vfio_pci_window *w;
	int ret;

	s = align_down(s, vp->page_size);
	e = align_up(e, vp->page_size);
	if (s >= e || vfio_pci_window_find(vp, VFIO_DEV_BAR0 + n, s, 1))
		return; /* empty, or already there (the MSI-X table and PBA share a page) */
	if (vp->nr_windows == VFIO_PCI_MAX_WINDOWS) {
		log_warn("vfio: %s: too many access windows, BAR%u+0x%llx uses pread", vp->name,
			 n, (unsigned long long)s);
		return;
	}
	w = &vp->windows[vp->nr_windows];
	ret = vp->io.ops->mmap(vp->io.opaque, n, s, e - s, &w->host);
	if (ret) {
		log_debug("vfio: %s: no access window on BAR%u+0x%llx (%d), pread", vp->name, n,
			  (unsigned long long)s, ret);
		return;
	}
	w->off = s;
	w->size = e - s;
	w->bar = VFIO_DEV_BAR0 + n;
	vp->nr_windows++;
}

/* Windows over the MSI-X pages inside the mappable area [s, e) (never given to the guest). */
static void vfio_pci_msix_windows(struct vfio_pci *vp, unsigned n, uint64_t s, uint64_t e,
				  const struct vfio_dev_area *holes, unsigned nh)
{
	unsigned i;

	for (i = 0; i < nh; i++) {
		uint64_t hs = holes[i].off > s ? holes[i].off : s;
		uint64_t he = holes[i].off + holes[i].size < e ? holes[i].off + holes[i].size : e;

		if (hs < he)
			vfio_pci_add_window(vp, n, hs, he);
	}
}

static int vfio_pci_setup_bars(struct vfio_pci *vp)
{
	struct vfio_dev_region r;
	struct vfio_dev_area holes[2], whole;
	const struct vfio_dev_area *areas;
	unsigned n, i, nh, nareas;
	int ret;

	for (n = 0; n < PCI_NUM_BARS; n++) {
		uint32_t raw = get_le32(vp->devcfg + PCI_BAR0 + 4 * n);
		struct vfio_pci_bar *b = &vp->bars[n];
		unsigned flags;
		uint64_t size;

		ret = vp->io.ops->region_info(vp->io.opaque, VFIO_DEV_BAR0 + n, &r);
		if (ret || r.size == 0)
			continue;
		b->vp = vp;
		b->index = VFIO_DEV_BAR0 + n;
		b->size = r.size;
		size = r.size;
		if (raw & PCI_BAR_SPACE_IO) {
			if (!vfio_pci_pow2(size) || size > PCI_IO_LIMIT) {
				log_warn("vfio: %s: I/O BAR%u size 0x%llx unusable, hidden", vp->name,
					 n, (unsigned long long)size);
				continue;
			}
			b->io = true;
			ret = pci_dev_set_bar(&vp->dev, n, PCI_BAR_IO, size < 4 ? 4 : size,
					      &vfio_pci_bar_ops, b);
			if (ret)
				return ret;
			continue;
		}
		flags = (raw & 6) == PCI_BAR_MEM_TYPE_64 ? PCI_BAR_MEM64 : PCI_BAR_MEM32;
		if (raw & PCI_BAR_MEM_PREFETCH)
			flags |= PCI_BAR_PREFETCH;
		if (!vfio_pci_pow2(size) || (flags & PCI_BAR_MEM64 && n == PCI_NUM_BARS - 1) ||
		    (flags & PCI_BAR_MEM32 && size > 2 * GiB)) {
			log_warn("vfio: %s: BAR%u (0x%llx bytes) unusable, hidden", vp->name, n,
				 (unsigned long long)size);
			continue;
		}
		ret = pci_dev_set_bar(&vp->dev, n, flags, size < 16 ? 16 : size,
				      &vfio_pci_bar_ops, b);
		if (ret)
			return ret;
		if (r.flags & VFIO_DEV_REGION_MMAP) {
			whole.off = 0;
			whole.size = size;
			areas = r.sparse ? r.areas : &whole;
			nareas = r.sparse ? r.nr_areas : 1;
			nh = vfio_pci_msix_holes(vp, n, holes);
			for (i = 0; i < nareas; i++) {
				uint64_t as = areas[i].off, ae = areas[i].off + areas[i].size;

				if (!range_within(areas[i].off, areas[i].size, 0, size))
					continue;
				/* Trapped parts of a mappable area: width-exact loads there. */
				if (vp->opts.no_mmap) {
					vfio_pci_add_window(vp, n, as, ae);
					continue;
				}
				vfio_pci_msix_windows(vp, n, as, ae, holes, nh);
				ret = vfio_pci_map_area(vp, n, as, ae, holes, nh);
				if (ret)
					return ret;
			}
		}
		if (flags & PCI_BAR_MEM64)
			n++; /* the upper half */
	}
	return 0;
}

static int vfio_pci_setup_rom(struct vfio_pci *vp)
{
	struct vfio_dev_region r;
	void *buf;
	int ret;

	if (vp->io.ops->region_info(vp->io.opaque, VFIO_DEV_ROM, &r) || r.size == 0)
		return 0;
	if (r.size > PCI_ROM_MAX) {
		log_warn("vfio: %s: ROM of 0x%llx bytes too large, hidden", vp->name,
			 (unsigned long long)r.size);
		return 0;
	}
	buf = malloc(r.size);
	if (!buf)
		return -ENOMEM;
	ret = vp->io.ops->read_buf(vp->io.opaque, VFIO_DEV_ROM, 0, buf, r.size);
	if (ret) {
		/* Many devices advertise a ROM BAR with nothing readable behind it. */
		log_debug("vfio: %s: ROM unreadable (%d), hidden", vp->name, ret);
		free(buf);
		return 0;
	}
	ret = pci_dev_set_rom(&vp->dev, buf, r.size);
	free(buf);
	return ret;
}

/* ---- set-up: capabilities ---------------------------------------------------------- */

struct vfio_pci_cap {
	unsigned off, id, len;
	bool keep;
};

static void vfio_pci_hide(struct vfio_pci *vp, unsigned id)
{
	if (vp->nr_hidden < VFIO_PCI_MAX_HIDDEN)
		vp->hidden[vp->nr_hidden++] = (uint8_t)id;
}

/* Walk the device's chain: bounded, loop-safe, every pointer in 0x40-0xFC. */
static unsigned vfio_pci_walk_caps(struct vfio_pci *vp, struct vfio_pci_cap *caps)
{
	bool seen[PCI_CFG_LEGACY_SIZE] = { false };
	unsigned nr = 0, p;

	if (!(get_le16(vp->devcfg + PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	p = vp->devcfg[PCI_CAPABILITY_LIST] & ~3u;
	while (p >= PCI_CAP_START && p <= PCI_CFG_LEGACY_SIZE - 4 && !seen[p] &&
	       nr < VFIO_PCI_MAX_CAPS) {
		seen[p] = true;
		caps[nr].off = p;
		caps[nr].id = vp->devcfg[p];
		caps[nr].len = 2;
		caps[nr].keep = false;
		nr++;
		p = vp->devcfg[p + 1] & ~3u;
	}
	return nr;
}

static void vfio_pci_mark(struct vfio_pci *vp, unsigned off, unsigned len, uint8_t kind)
{
	unsigned i;

	for (i = off; i < off + len && i < PCI_CFG_LEGACY_SIZE; i++)
		vp->kind[i] = kind;
}

/* A dword-aligned gap of @len bytes no kept capability uses; @pref first. */
static bool vfio_pci_gap_ok(const bool *used, unsigned o, unsigned len)
{
	unsigned i;

	if (o % 4 || o < PCI_CAP_START || o + len > PCI_CFG_LEGACY_SIZE)
		return false;
	for (i = 0; i < len; i++)
		if (used[o + i])
			return false;
	return true;
}

static unsigned vfio_pci_find_gap(const bool *used, unsigned pref, unsigned len)
{
	unsigned o;

	if (pref && vfio_pci_gap_ok(used, pref, len))
		return pref;
	for (o = PCI_CAP_START; o + len <= PCI_CFG_LEGACY_SIZE; o += 4)
		if (vfio_pci_gap_ok(used, o, len))
			return o;
	return 0;
}

static void vfio_pci_use(bool *used, unsigned off, unsigned len)
{
	unsigned i;

	for (i = off; i < off + len && i < PCI_CFG_LEGACY_SIZE; i++)
		used[i] = true;
}

/* The core's capability builder, told where to put the next one. */
static int vfio_pci_emulate_cap(struct vfio_pci *vp, bool *used, bool msix, unsigned pref)
{
	unsigned len = msix ? PCI_MSIX_CAP_SIZE : PCI_MSI_CAP_SIZE;
	unsigned at = vfio_pci_find_gap(used, pref, len);
	int ret;

	if (!at)
		return -ENOSPC;
	vp->dev.cap_next = at;
	if (msix)
		ret = pci_msix_init(&vp->dev, vp->msix_nr, vp->msix_table_bar, vp->msix_table_off,
				    vp->msix_pba_bar, vp->msix_pba_off);
	else
		ret = pci_msi_init(&vp->dev, vp->msi_nr);
	if (!ret)
		vfio_pci_use(used, at, len);
	return ret;
}

static unsigned vfio_pci_irq_count(struct vfio_pci *vp, unsigned index)
{
	struct vfio_dev_irq irq;

	if (vp->io.ops->irq_info(vp->io.opaque, index, &irq) || !(irq.flags & 1u /* EVENTFD */))
		return 0;
	return irq.count;
}

/* Decide what is kept, before the BARs (MSI-X holes) are set up. */
static void vfio_pci_scan_caps(struct vfio_pci *vp, struct vfio_pci_cap *caps, unsigned nr)
{
	unsigned i, cnt;

	for (i = 0; i < nr; i++) {
		struct vfio_pci_cap *c = &caps[i];
		const uint8_t *p = vp->devcfg + c->off;
		unsigned room = PCI_CFG_LEGACY_SIZE - c->off;

		switch (c->id) {
		case PCI_CAP_ID_MSIX: {
			uint32_t t = get_le32(p + PCI_MSIX_TABLE), b = get_le32(p + PCI_MSIX_PBA);

			if (vp->msix_nr || room < PCI_MSIX_CAP_SIZE)
				break;
			cnt = vfio_pci_irq_count(vp, VFIO_DEV_IRQ_MSIX);
			vp->msix_nr = (get_le16(p + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1u;
			if (cnt < vp->msix_nr)
				vp->msix_nr = cnt;
			vp->msix_table_bar = t & 7;
			vp->msix_table_off = t & ~7u;
			vp->msix_pba_bar = b & 7;
			vp->msix_pba_off = b & ~7u;
			vp->msix_cap_dev = c->off;
			if (vp->msix_table_bar >= PCI_NUM_BARS || vp->msix_pba_bar >= PCI_NUM_BARS)
				vp->msix_nr = 0;
			c->len = PCI_MSIX_CAP_SIZE;
			break;
		}
		case PCI_CAP_ID_MSI:
			if (vp->msi_nr)
				break;
			cnt = vfio_pci_irq_count(vp, VFIO_DEV_IRQ_MSI);
			vp->msi_nr = 1u << ((get_le16(p + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QMASK) >> 1);
			if (vp->msi_nr > PCI_MSI_MAX_VECTORS)
				vp->msi_nr = PCI_MSI_MAX_VECTORS;
			while (vp->msi_nr > cnt && vp->msi_nr)
				vp->msi_nr >>= 1;
			vp->msi_cap_dev = c->off;
			break;
		case VFIO_PCI_CAP_ID_PM:
			if (room >= VFIO_PCI_PM_SIZE) {
				c->keep = true;
				c->len = VFIO_PCI_PM_SIZE;
			}
			break;
		case PCI_CAP_ID_EXP:
			if (vp->pcie_cap)
				break;
			c->len = (get_le16(p + VFIO_PCI_EXP_FLAGS) & 0xF) >= 2 ?
				 VFIO_PCI_EXP_V2_SIZE : VFIO_PCI_EXP_V1_SIZE;
			if (c->len <= room) {
				c->keep = true;
				vp->pcie_cap = c->off;
			}
			break;
		case PCI_CAP_ID_VNDR:
			c->len = p[2];
			if (c->len >= 3 && c->len <= room)
				c->keep = true;
			break;
		default:
			break;
		}
	}
}

/* Pass kept capabilities through, emulate MSI/MSI-X, rebuild the chain. */
static int vfio_pci_setup_caps(struct vfio_pci *vp, struct vfio_pci_cap *caps, unsigned nr)
{
	bool used[PCI_CFG_LEGACY_SIZE] = { false };
	unsigned order[VFIO_PCI_MAX_CAPS + 2], no = 0, i, j, prev;
	uint8_t *cfg = vp->dev.cfg;
	int ret;

	vfio_pci_use(used, 0, PCI_CAP_START);
	for (i = 0; i < nr; i++) {
		struct vfio_pci_cap *c = &caps[i];

		if (!c->keep) {
			if (!(c->id == PCI_CAP_ID_MSIX && vp->msix_nr && c->off == vp->msix_cap_dev) &&
			    !(c->id == PCI_CAP_ID_MSI && vp->msi_nr && c->off == vp->msi_cap_dev))
				vfio_pci_hide(vp, c->id);
			continue;
		}
		vfio_pci_use(used, c->off, c->len);
		cfg[c->off] = (uint8_t)c->id;
		vfio_pci_mark(vp, c->off + 2, c->len - 2, VFIO_PCI_CFG_PT_RO);
		order[no++] = c->off;
		switch (c->id) {
		case VFIO_PCI_CAP_ID_PM:
			vfio_pci_mark(vp, c->off + VFIO_PCI_PM_CTRL, 2, VFIO_PCI_CFG_PT_RW);
			break;
		case PCI_CAP_ID_EXP: {
			uint16_t fl = get_le16(vp->devcfg + c->off + VFIO_PCI_EXP_FLAGS);
			unsigned type = (fl >> 4) & 0xF;

			vfio_pci_mark(vp, c->off + VFIO_PCI_EXP_DEVCTL, 2, VFIO_PCI_CFG_PT_RW);
			if (c->len >= VFIO_PCI_EXP_V2_SIZE)
				vfio_pci_mark(vp, c->off + VFIO_PCI_EXP_DEVCTL2, 2,
					      VFIO_PCI_CFG_PT_RW);
			if (type == VFIO_PCI_EXP_TYPE_EP || type == VFIO_PCI_EXP_TYPE_LEG) {
				/* On bus 0 it is an integrated endpoint: no link (QEMU does the same). */
				fl = (uint16_t)((fl & ~0xF0u) | (VFIO_PCI_EXP_TYPE_RCIEP << 4));
				put_le16(cfg + c->off + VFIO_PCI_EXP_FLAGS, fl);
				vfio_pci_mark(vp, c->off + VFIO_PCI_EXP_FLAGS, 2, VFIO_PCI_CFG_EMU);
				vfio_pci_mark(vp, c->off + VFIO_PCI_EXP_LNKCAP, 8, VFIO_PCI_CFG_EMU);
				if (c->len >= VFIO_PCI_EXP_V2_SIZE)
					vfio_pci_mark(vp, c->off + VFIO_PCI_EXP_LNKCAP2, 8,
						      VFIO_PCI_CFG_EMU);
			}
			break;
		}
		case PCI_CAP_ID_VNDR:
			vfio_pci_mark(vp, c->off + 3, c->len - 3, VFIO_PCI_CFG_PT_RW);
			break;
		default:
			break;
		}
	}
	if (vp->msix_nr) {
		ret = vfio_pci_emulate_cap(vp, used, true, vp->msix_cap_dev);
		if (ret) {
			log_warn("vfio: %s: MSI-X cannot be emulated (%d), hidden", vp->name, ret);
			vfio_pci_hide(vp, PCI_CAP_ID_MSIX);
			vp->msix_nr = 0;
		} else {
			order[no++] = vp->dev.msix.cap;
		}
	}
	if (vp->msi_nr) {
		ret = vfio_pci_emulate_cap(vp, used, false, vp->msi_cap_dev);
		if (ret) {
			log_warn("vfio: %s: MSI cannot be emulated (%d), hidden", vp->name, ret);
			vfio_pci_hide(vp, PCI_CAP_ID_MSI);
			vp->msi_nr = 0;
		} else {
			order[no++] = vp->dev.msi.cap;
		}
	}
	vp->dev.cap_next = PCI_CFG_LEGACY_SIZE; /* nothing else goes in */
	/* Chain in ascending offsets (insertion sort: at most 50). */
	for (i = 1; i < no; i++)
		for (j = i; j > 0 && order[j - 1] > order[j]; j--) {
			unsigned t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	prev = PCI_CAPABILITY_LIST;
	for (i = 0; i < no; i++) {
		if (prev == PCI_CAPABILITY_LIST)
			cfg[PCI_CAPABILITY_LIST] = (uint8_t)order[i];
		else
			cfg[prev + 1] = (uint8_t)order[i];
		prev = order[i];
	}
	if (no) {
		cfg[prev + 1] = 0;
		put_le16(cfg + PCI_STATUS, get_le16(cfg + PCI_STATUS) | PCI_STATUS_CAP_LIST);
	} else {
		cfg[PCI_CAPABILITY_LIST] = 0;
		put_le16(cfg + PCI_STATUS, get_le16(cfg + PCI_STATUS) & ~PCI_STATUS_CAP_LIST);
	}
	return 0;
}

/* ---- init / destroy --------------------------------------------------------------- */

static int vfio_pci_setup_intx(struct vfio_pci *vp)
{
	unsigned pin = vp->devcfg[PCI_INTERRUPT_PIN];
	int ret;

	if (pin < 1 || pin > 4 || vfio_pci_irq_count(vp, VFIO_DEV_IRQ_INTX) == 0)
		return 0;
	ret = pci_dev_set_intx_pin(&vp->dev, pin);
	if (ret)
		return ret;
	vp->intx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vp->intx_fd < 0)
		return -errno;
	vp->intx_resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vp->intx_resample_fd < 0)
		return -errno;
	vp->intx = true;
	vfio_pci_intx_arm(vp);
	return 0;
}

int vfio_pci_init(struct vfio_pci *vp, const struct vfio_dev_io *io,
		  const struct vfio_pci_opts *opts, const struct vfio_pci_hooks *hooks)
{
	struct vfio_pci_cap caps[VFIO_PCI_MAX_CAPS];
	struct pci_msi_hooks mh;
	struct vfio_dev_region cr;
	uint32_t dflags = 0;
	unsigned nregions = 0, nirqs = 0, ncaps, v;
	long ps;
	int ret;

	if (!vp)
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	vp->intx_fd = vp->intx_resample_fd = -1;
	for (v = 0; v < PCI_MSI_MAX_VECTORS; v++)
		vp->msi_wired[v] = vp->msi_own[v] = -1;
	if (!io || !io->ops)
		return -EINVAL;
	vp->io = *io;
	if (opts)
		vp->opts = *opts;
	if (hooks)
		vp->hooks = *hooks;
	snprintf(vp->name, sizeof(vp->name), "%s", vp->opts.name ? vp->opts.name : "vfio");
	vp->opts.name = vp->name;
	ps = sysconf(_SC_PAGESIZE);
	vp->page_size = ps > 0 ? (uint64_t)ps : 4096;

	ret = io->ops->info(io->opaque, &dflags, &nregions, &nirqs);
	if (ret)
		return ret;
	if (nregions <= VFIO_DEV_CONFIG)
		return -ENODEV;
	vp->has_reset = dflags & VFIO_DEV_FLAG_RESET;
	if (vp->has_reset) {
		ret = io->ops->reset(io->opaque);
		if (ret)
			log_warn("vfio: %s: reset at init failed (%d)", vp->name, ret);
	}
	ret = io->ops->region_info(io->opaque, VFIO_DEV_CONFIG, &cr);
	if (ret)
		return ret;
	if (cr.size < PCI_CAP_START)
		return -ENODEV;
	ret = io->ops->read_buf(io->opaque, VFIO_DEV_CONFIG, 0, vp->devcfg,
				cr.size < PCI_CFG_LEGACY_SIZE ? cr.size : PCI_CFG_LEGACY_SIZE);
	if (ret)
		return ret;
	if (get_le16(vp->devcfg + PCI_VENDOR_ID) == 0xFFFF)
		return -ENODEV;
	if ((vp->devcfg[PCI_HEADER_TYPE] & 0x7F) != 0)
		return -ENOTSUP; /* bridges are not passed through */

	pci_dev_init(&vp->dev, vp->name, get_le16(vp->devcfg + PCI_VENDOR_ID),
		     get_le16(vp->devcfg + PCI_DEVICE_ID),
		     get_le32(vp->devcfg + PCI_REVISION_ID) >> 8, vp->devcfg[PCI_REVISION_ID],
		     &vfio_pci_dev_ops, vp);
	vp->ready = true; /* from here vfio_pci_destroy has something to undo */
	pci_dev_set_subsystem(&vp->dev, get_le16(vp->devcfg + PCI_SUBSYSTEM_VENDOR_ID),
			      get_le16(vp->devcfg + PCI_SUBSYSTEM_ID));

	ncaps = vfio_pci_walk_caps(vp, caps);
	vfio_pci_scan_caps(vp, caps, ncaps);
	if (vp->msix_nr) {
		vp->msix_wired = malloc(sizeof(int32_t) * vp->msix_nr);
		vp->msix_own = malloc(sizeof(int32_t) * vp->msix_nr);
		if (!vp->msix_wired || !vp->msix_own) {
			ret = -ENOMEM;
			goto err;
		}
		for (v = 0; v < vp->msix_nr; v++)
			vp->msix_wired[v] = vp->msix_own[v] = -1;
	}
	ret = vfio_pci_setup_bars(vp);
	if (ret)
		goto err;
	ret = vfio_pci_setup_rom(vp);
	if (ret)
		goto err;
	ret = vfio_pci_setup_caps(vp, caps, ncaps);
	if (ret)
		goto err;
	ret = vfio_pci_setup_intx(vp);
	if (ret)
		goto err;
	mh.send = vfio_pci_send;
	mh.vector_changed = vfio_pci_vector_changed;
	mh.opaque = vp;
	pci_dev_set_msi_hooks(&vp->dev, &mh);
	return 0;

err:
	vfio_pci_destroy(vp);
	return ret;
}

static void vfio_pci_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vfio_pci_destroy(struct vfio_pci *vp)
{
	unsigned i;

	if (!vp || !vp->ready)
		return;
	pci_dev_destroy(&vp->dev); /* off the bus: no BAR is mapped any more */
	if (vp->vmode != VFIO_PCI_VM_NONE)
		vfio_pci_irq_off(vp);
	/*
	 * Quiesce before the owner drops the DMA mappings: bus mastering off, then
	 * the device reset, so no DMA of the guest's outlives them (an in-flight
	 * transfer would fault in the IOMMU or, worse, land in reused memory).
	 */
	vfio_pci_command_changed(&vp->dev, VFIO_PCI_CMD_FORWARD, 0);
	if (vp->has_reset && vp->io.ops->reset(vp->io.opaque))
		log_warn("vfio: %s: VFIO_DEVICE_RESET at close failed", vp->name);
	for (i = 0; i < vp->nr_maps; i++) {
		struct vfio_pci_map *m = &vp->maps[i];

		if (m->mr.parent && mem_region_del(&m->mr))
			log_warn("vfio: %s: cannot unlink a BAR mapping", vp->name);
		vp->io.ops->munmap(vp->io.opaque, m->host, m->size);
	}
	vp->nr_maps = 0;
	for (i = 0; i < vp->nr_windows; i++)
		vp->io.ops->munmap(vp->io.opaque, vp->windows[i].host, vp->windows[i].size);
	vp->nr_windows = 0;
	if (vp->msix_own)
		for (i = 0; i < vp->msix_nr; i++)
			vfio_pci_close(&vp->msix_own[i]);
	for (i = 0; i < PCI_MSI_MAX_VECTORS; i++)
		vfio_pci_close(&vp->msi_own[i]);
	free(vp->msix_wired);
	free(vp->msix_own);
	vp->msix_wired = vp->msix_own = NULL;
	vp->msix_nr = 0;
	vfio_pci_close(&vp->intx_fd);
	vfio_pci_close(&vp->intx_resample_fd);
	vp->intx = false;
	vp->ready = false;
}
