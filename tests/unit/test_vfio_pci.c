/*
 * tests/unit/test_vfio_pci.c - the passthrough PCI model over a fake VFIO
 * device: BAR sizing and placement, exact-width trapped accesses (I4) and
 * x-split-qword, mmapped parts as RAM with the MSI-X pages trapped, config
 * virtualization (BARs and hidden capabilities never reach the device,
 * COMMAND forwarding, PCIe/PM pass-through), MSI-X/MSI programming of
 * SET_IRQS with masking and the PBA, INTx, ROM, reset, the region-info
 * parser, and bad guest input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "common/bytes.h"
#include "devices/iobus.h"
#include "devices/pci.h"
#include "memory/memory.h"
#include "tests/unit/unit.h"
#include "vfio/pci.h"

#define DEVFN     PCI_DEVFN(4, 0)
#define BAR0_SIZE (64 * KiB)
#define BAR2_SIZE (4 * KiB)
#define BAR4_SIZE 32
#define ROM_SIZE  (2 * KiB)
#define TBL_OFF   0x3000
#define PBA_OFF   0x3800
#define NVEC      5
#define BAR0_GPA  0xE0000000ULL
#define BAR2_GPA  0xE0100000ULL
#define ROM_GPA   0xE0200000ULL
#define IO_PORT   0xC000

#define CAP_PM    0x40
#define CAP_MSI   0x50
#define CAP_EXP   0x60
#define CAP_MSIX  0xA0
#define CAP_VPD   0xB0
#define CAP_VNDR  0xC0

/* ---- the fake device ----------------------------------------------------------- */

struct acc {
	bool write;
	unsigned index, size;
	uint64_t off, val;
};

struct irqset {
	unsigned index, start, count;
	uint32_t action;
	bool data;
	int32_t fds[8];
};

struct fake {
	uint8_t cfg[256];
	uint8_t bar2[BAR2_SIZE];
	uint8_t rom[ROM_SIZE];
	struct acc log[64];
	unsigned nlog;
	struct irqset irqs[64];
	unsigned nirqs;
	int active;                  /* index with a trigger enabled, -1 none */
	unsigned resets, mmaps, munmaps;
	bool sparse;                 /* BAR0 reports sparse areas around the MSI-X page */
};

static uint64_t region_size(unsigned index)
{
	switch (index) {
	case 0: return BAR0_SIZE;
	case 2: return BAR2_SIZE;
	case 4: return BAR4_SIZE;
	case VFIO_DEV_ROM: return ROM_SIZE;
	case VFIO_DEV_CONFIG: return 256;
	default: return 0;
	}
}

static void logacc(struct fake *f, bool w, unsigned index, uint64_t off, unsigned size,
		   uint64_t val)
{
	ck_assert_uint_lt(f->nlog, 64);
	f->log[f->nlog++] = (struct acc){ w, index, size, off, val };
}

static int f_read(void *o, unsigned index, uint64_t off, unsigned size, uint64_t *val)
{
	struct fake *f = o;
	uint64_t v = 0;
	unsigned i;

	ck_assert(size == 1 || size == 2 || size == 4 || size == 8);
	ck_assert(range_within(off, size, 0, region_size(index)));
	logacc(f, false, index, off, size, 0);
	for (i = 0; i < size; i++) {
		uint8_t b = index == VFIO_DEV_CONFIG ? f->cfg[off + i] :
			    index == 2 ? f->bar2[off + i] : (uint8_t)(0x10 + off + i);
		v |= (uint64_t)b << (8 * i);
	}
	*val = v;
	return 0;
}

static int f_write(void *o, unsigned index, uint64_t off, unsigned size, uint64_t val)
{
	struct fake *f = o;
	unsigned i;

	ck_assert(size == 1 || size == 2 || size == 4 || size == 8);
	ck_assert(range_within(off, size, 0, region_size(index)));
	ck_assert(index != VFIO_DEV_ROM);
	logacc(f, true, index, off, size, val);
	for (i = 0; i < size; i++) {
		if (index == VFIO_DEV_CONFIG)
			f->cfg[off + i] = (uint8_t)(val >> (8 * i));
		else if (index == 2)
			f->bar2[off + i] = (uint8_t)(val >> (8 * i));
	}
	return 0;
}

static int f_read_buf(void *o, unsigned index, uint64_t off, void *buf, uint64_t len)
{
	struct fake *f = o;

	ck_assert(range_within(off, len, 0, region_size(index)));
	if (index == VFIO_DEV_CONFIG)
		memcpy(buf, f->cfg + off, len);
	else if (index == VFIO_DEV_ROM)
		memcpy(buf, f->rom + off, len);
	else
		return -EINVAL; /* never for BARs */
	return 0;
}

static int f_region_info(void *o, unsigned index, struct vfio_dev_region *r)
{
	struct fake *f = o;

	memset(r, 0, sizeof(*r));
	r->size = region_size(index);
	r->offset = (uint64_t)index << 40;
	r->flags = r->size ? VFIO_DEV_REGION_READ | VFIO_DEV_REGION_WRITE : 0;
	if (index == 0) {
		r->flags |= VFIO_DEV_REGION_MMAP;
		if (f->sparse) {
			r->sparse = true;
			r->nr_areas = 2;
			r->areas[0] = (struct vfio_dev_area){ 0, 0x3000 };
			r->areas[1] = (struct vfio_dev_area){ 0x4000, BAR0_SIZE - 0x4000 };
		} else {
			r->msix_mappable = true;
		}
	}
	return 0;
}

static int f_irq_info(void *o, unsigned index, struct vfio_dev_irq *irq)
{
	(void)o;
	irq->flags = VFIO_IRQ_INFO_EVENTFD;
	irq->count = index == VFIO_DEV_IRQ_INTX ? 1 : index == VFIO_DEV_IRQ_MSI ? 1 :
		     index == VFIO_DEV_IRQ_MSIX ? NVEC : 0;
	return 0;
}

static int f_set_irqs(void *o, unsigned index, uint32_t action, unsigned start, unsigned count,
		      const int32_t *fds)
{
	struct fake *f = o;
	struct irqset *s;
	unsigned i;

	ck_assert_uint_lt(f->nirqs, 64);
	s = &f->irqs[f->nirqs++];
	memset(s, 0, sizeof(*s));
	s->index = index;
	s->action = action;
	s->start = start;
	s->count = count;
	s->data = fds != NULL;
	for (i = 0; fds && i < count && i < 8; i++)
		s->fds[i] = fds[i];
	if (action == VFIO_DEV_IRQ_TRIGGER) {
		if (count == 0 && !fds) {
			if (f->active == (int)index)
				f->active = -1;
			return 0;
		}
		/* vfio-pci: one index at a time. */
		if (f->active >= 0 && f->active != (int)index)
			return -EINVAL;
		f->active = (int)index;
	}
	return 0;
}

static int f_reset(void *o)
{
	((struct fake *)o)->resets++;
	return 0;
}

static int f_mmap(void *o, unsigned index, uint64_t off, uint64_t size, void **host)
{
	struct fake *f = o;
	void *p;

	ck_assert_uint_eq(index, 0);
	ck_assert(range_within(off, size, 0, BAR0_SIZE));
	ck_assert_uint_eq(off % 4096, 0);
	ck_assert_uint_eq(size % 4096, 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	/* BAR0's bytes as f_read gives them, so both paths read the same values. */
	for (uint64_t i = 0; i < size; i++)
		((uint8_t *)p)[i] = (uint8_t)(0x10 + off + i);
	f->mmaps++;
	*host = p;
	return 0;
}

static void f_munmap(void *o, void *host, uint64_t size)
{
	((struct fake *)o)->munmaps++;
	ck_assert_int_eq(munmap(host, size), 0);
}

static int f_info(void *o, uint32_t *flags, unsigned *nr, unsigned *ni)
{
	(void)o;
	*flags = VFIO_DEV_FLAG_RESET;
	*nr = 9;
	*ni = 5;
	return 0;
}

static const struct vfio_dev_io_ops fake_ops = {
	.read = f_read, .write = f_write, .read_buf = f_read_buf, .region_info = f_region_info,
	.irq_info = f_irq_info, .set_irqs = f_set_irqs, .reset = f_reset, .mmap = f_mmap,
	.munmap = f_munmap, .info = f_info,
};

static void put_cap(uint8_t *c, unsigned off, uint8_t id, uint8_t next)
{
	c[off] = id;
	c[off + 1] = next;
}

static void fake_init(struct fake *f)
{
	uint8_t *c = f->cfg;

	memset(f, 0, sizeof(*f));
	f->active = -1;
	put_le16(c + PCI_VENDOR_ID, 0x8086);
	put_le16(c + PCI_DEVICE_ID, 0x10D3);
	put_le16(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
	put_le32(c + PCI_REVISION_ID, 0x02000003);
	put_le32(c + PCI_BAR0, 0xFEB00004);          /* 64-bit, the host's address */
	put_le32(c + PCI_BAR0 + 4, 0);
	put_le32(c + PCI_BAR0 + 8, 0xFEBF0000);      /* 32-bit */
	put_le32(c + PCI_BAR0 + 16, 0xE001);         /* I/O */
	put_le16(c + PCI_SUBSYSTEM_VENDOR_ID, 0x1AF4);
	put_le16(c + PCI_SUBSYSTEM_ID, 0x1100);
	c[PCI_CAPABILITY_LIST] = CAP_PM;
	c[PCI_INTERRUPT_PIN] = 1;
	put_cap(c, CAP_PM, 0x01, CAP_MSI);
	put_le16(c + CAP_PM + 2, 0x0003);
	put_le16(c + CAP_PM + 4, 0x0008);
	put_cap(c, CAP_MSI, PCI_CAP_ID_MSI, CAP_EXP);
	put_le16(c + CAP_MSI + 2, PCI_MSI_FLAGS_64BIT); /* 14 bytes on the device */
	put_cap(c, CAP_EXP, PCI_CAP_ID_EXP, CAP_MSIX);
	put_le16(c + CAP_EXP + 2, 0x0002);             /* v2 endpoint */
	put_le32(c + CAP_EXP + 0x0C, 0x00011111);      /* link cap */
	put_le16(c + CAP_EXP + 0x12, 0x1011);          /* link status */
	put_cap(c, CAP_MSIX, PCI_CAP_ID_MSIX, CAP_VPD);
	put_le16(c + CAP_MSIX + 2, NVEC - 1);
	put_le32(c + CAP_MSIX + 4, TBL_OFF | 0);
	put_le32(c + CAP_MSIX + 8, PBA_OFF | 0);
	put_cap(c, CAP_VPD, 0x03, CAP_VNDR);
	put_cap(c, CAP_VNDR, PCI_CAP_ID_VNDR, 0);
	c[CAP_VNDR + 2] = 8;
	c[CAP_VNDR + 4] = 0x5A;
	f->rom[0] = 0x55;
	f->rom[1] = 0xAA;
	f->rom[2] = 4;
}

/* ---- fixture --------------------------------------------------------------------- */

struct rec {
	unsigned sends, changes;
	uint64_t addr;
	uint32_t data;
	int efd_calls;
};

struct fx {
	struct mem_space s;
	struct iobus io;
	struct pci_bus bus;
	struct fake fk;
	struct vfio_pci vp;
	struct rec r;
};

static void o_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct rec *r = opaque;

	r->sends++;
	r->addr = addr;
	r->data = data;
}

static void o_changed(void *opaque, struct pci_dev *dev, bool msix, unsigned v,
		      const struct pci_msi_msg *m)
{
	struct rec *r = opaque;

	(void)dev;
	(void)msix;
	(void)v;
	(void)m;
	r->changes++;
}

static struct fx *fx_new_opts(bool split, bool sparse, bool no_mmap)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vfio_dev_io io;
	struct vfio_pci_opts o = { .name = "nic", .split_qword = split, .no_mmap = no_mmap };
	struct vfio_pci_hooks h = { .msi = { .send = o_send, .vector_changed = o_changed } };

	ck_assert_ptr_nonnull(f);
	fake_init(&f->fk);
	f->fk.sparse = sparse;
	io.ops = &fake_ops;
	io.opaque = &f->fk;
	h.msi.opaque = &f->r;
	ck_assert_int_eq(mem_space_init(&f->s, "sys"), 0);
	ck_assert_int_eq(iobus_init(&f->io), 0);
	ck_assert_int_eq(pci_bus_init(&f->bus, &f->s, &f->io), 0);
	ck_assert_int_eq(vfio_pci_init(&f->vp, &io, &o, &h), 0);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->vp.dev, DEVFN), 0);
	return f;
}

static struct fx *fx_new(bool split, bool sparse)
{
	return fx_new_opts(split, sparse, false);
}

static void fx_free(struct fx *f)
{
	unsigned maps = f->fk.mmaps;

	vfio_pci_destroy(&f->vp);
	vfio_pci_destroy(&f->vp); /* safe twice */
	ck_assert_uint_eq(f->fk.munmaps, maps);
	pci_bus_destroy(&f->bus);
	iobus_destroy(&f->io);
	mem_space_destroy(&f->s);
	free(f);
}

static uint32_t cfg_rd(struct fx *f, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN, reg, size, &v), 0);
	return v;
}

static void cfg_wr(struct fx *f, unsigned reg, unsigned size, uint32_t v)
{
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN, reg, size, v), 0);
}

static uint64_t mmio_rd(struct fx *f, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;

	(void)mem_dispatch(&f->s, gpa, size, false, &v);
	return v;
}

static int mmio_wr(struct fx *f, uint64_t gpa, unsigned size, uint64_t v)
{
	return mem_dispatch(&f->s, gpa, size, true, &v);
}

static void program_bars(struct fx *f)
{
	cfg_wr(f, PCI_BAR0, 4, (uint32_t)BAR0_GPA);
	cfg_wr(f, PCI_BAR0 + 4, 4, 0);
	cfg_wr(f, PCI_BAR0 + 8, 4, (uint32_t)BAR2_GPA);
	cfg_wr(f, PCI_BAR0 + 16, 4, IO_PORT);
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

static bool is_ram(struct fx *f, uint64_t gpa)
{
	struct mem_flat_view *v = mem_view_get(&f->s);
	const struct mem_flat_range *r = mem_view_find(v, gpa);
	bool ram = r && mem_range_is_ram(r);

	mem_flat_view_put(v);
	return ram;
}

/* No write to the device's BAR registers or hidden capabilities ever. */
static void assert_no_bad_cfg_writes(struct fake *fk)
{
	unsigned i;

	for (i = 0; i < fk->nlog; i++) {
		const struct acc *a = &fk->log[i];

		if (!a->write || a->index != VFIO_DEV_CONFIG)
			continue;
		ck_assert(!ranges_overlap(a->off, a->size, PCI_BAR0, 0x28 - PCI_BAR0));
		ck_assert(!ranges_overlap(a->off, a->size, PCI_ROM_ADDRESS, 4));
		ck_assert(!ranges_overlap(a->off, a->size, CAP_VPD, 8));
		ck_assert(!ranges_overlap(a->off, a->size, CAP_MSIX, PCI_MSIX_CAP_SIZE));
		ck_assert(!ranges_overlap(a->off, a->size, CAP_MSI, 14));
	}
}

/* ---- BARs ------------------------------------------------------------------------ */

START_TEST(test_bar_sizing)
{
	struct fx *f = fx_new(false, false);

	ck_assert_uint_eq(cfg_rd(f, 0, 4), 0x10D38086);
	ck_assert_uint_eq(cfg_rd(f, 8, 4), 0x02000003);
	ck_assert_uint_eq(cfg_rd(f, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001AF4);
	/* The host's BAR addresses are not shown: the core's registers are. */
	ck_assert_uint_eq(cfg_rd(f, PCI_BAR0, 4), PCI_BAR_MEM_TYPE_64);
	cfg_wr(f, PCI_BAR0, 4, 0xFFFFFFFF);
	cfg_wr(f, PCI_BAR0 + 4, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, PCI_BAR0, 4), (uint32_t)~(BAR0_SIZE - 1) | PCI_BAR_MEM_TYPE_64);
	ck_assert_uint_eq(cfg_rd(f, PCI_BAR0 + 4, 4), 0xFFFFFFFF);
	cfg_wr(f, PCI_BAR0 + 8, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, PCI_BAR0 + 8, 4), (uint32_t)~(BAR2_SIZE - 1));
	cfg_wr(f, PCI_BAR0 + 16, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, PCI_BAR0 + 16, 4), (uint32_t)~(BAR4_SIZE - 1) | 1);
	ck_assert_uint_eq(cfg_rd(f, PCI_BAR0 + 12, 4), 0); /* BAR3: absent */
	program_bars(f);
	ck_assert(pci_dev_bar_mapped(&f->vp.dev, 0, NULL));
	ck_assert(pci_dev_bar_mapped(&f->vp.dev, 2, NULL));
	ck_assert(pci_dev_bar_mapped(&f->vp.dev, 4, NULL));
	/* COMMAND forwarded, BARs never. */
	ck_assert_uint_eq(get_le16(f->fk.cfg + PCI_COMMAND) & 7, 7);
	ck_assert_uint_eq(get_le32(f->fk.cfg + PCI_BAR0), 0xFEB00004);
	assert_no_bad_cfg_writes(&f->fk);
	ck_assert_uint_eq(f->fk.resets, 1);
	fx_free(f);
}
END_TEST

START_TEST(test_bar_mmap_and_trap)
{
	struct fx *f = fx_new(false, false);

	program_bars(f);
	/* BAR0 is mmappable (MSIX_MAPPABLE) but the MSI-X pages stay trapped. */
	ck_assert(is_ram(f, BAR0_GPA));
	ck_assert(is_ram(f, BAR0_GPA + 0x2FFF));
	ck_assert(!is_ram(f, BAR0_GPA + TBL_OFF));
	ck_assert(!is_ram(f, BAR0_GPA + TBL_OFF + 0x100));
	ck_assert(!is_ram(f, BAR0_GPA + PBA_OFF));
	ck_assert(is_ram(f, BAR0_GPA + 0x4000));
	ck_assert(is_ram(f, BAR0_GPA + BAR0_SIZE - 1));
	ck_assert(!is_ram(f, BAR2_GPA));
	/* Two RAM pieces around the MSI-X page, and an access window over that page. */
	ck_assert_uint_eq(f->fk.mmaps, 3);
	ck_assert_uint_eq(f->vp.nr_windows, 1);
	ck_assert_uint_eq(f->vp.windows[0].off, TBL_OFF);
	ck_assert_uint_eq(f->vp.windows[0].size, 0x1000);
	/* The MSI-X table itself is the core's: the device sees nothing. */
	f->fk.nlog = 0;
	(void)mmio_rd(f, BAR0_GPA + TBL_OFF, 4);
	ck_assert_int_eq(mmio_wr(f, BAR0_GPA + TBL_OFF + 8, 4, 0x1234), 0);
	ck_assert_uint_eq(f->fk.nlog, 0);
	ck_assert_uint_eq(f->vp.window_accesses + f->vp.pread_accesses, 0);
	/*
	 * The rest of the table's page is trapped: one 8-byte load on the window
	 * (a pread would be split in two by vfio-pci before Linux 6.10).
	 */
	ck_assert_uint_eq(mmio_rd(f, BAR0_GPA + TBL_OFF + 0x100, 8), 0x1716151413121110ULL);
	ck_assert_uint_eq(f->fk.nlog, 0);
	ck_assert_uint_eq(f->vp.window_accesses, 1);
	/* Unaligned: one pread of the guest's width, which the kernel splits as the bus would. */
	ck_assert_uint_eq(mmio_rd(f, BAR0_GPA + TBL_OFF + 0x102, 4), 0x15141312);
	ck_assert_uint_eq(f->fk.nlog, 1);
	ck_assert_uint_eq(f->fk.log[0].size, 4);
	ck_assert_uint_eq(f->fk.log[0].off, TBL_OFF + 0x102);
	ck_assert_uint_eq(f->vp.pread_accesses, 1);
	fx_free(f);
}
END_TEST

/* x-no-mmap: nothing is RAM; the mappable areas serve trapped accesses through windows. */
START_TEST(test_no_mmap_windows)
{
	struct fx *f = fx_new_opts(false, true, true);
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	uint64_t v;
	unsigned i;

	program_bars(f);
	ck_assert(!is_ram(f, BAR0_GPA));
	ck_assert(!is_ram(f, BAR0_GPA + 0x4000));
	ck_assert_uint_eq(f->vp.nr_maps, 0);
	ck_assert_uint_eq(f->vp.nr_windows, 2);         /* the two sparse areas */
	f->fk.nlog = 0;
	for (i = 0; i < 4; i++) {
		v = mmio_rd(f, BAR0_GPA + 0x1000, sizes[i]);
		ck_assert_uint_eq(v, 0x1716151413121110ULL & access_ones(sizes[i]));
		ck_assert_int_eq(mmio_wr(f, BAR0_GPA + 0x4000, sizes[i], 0xA1A2A3A4A5A6A7A8ULL), 0);
		v = mmio_rd(f, BAR0_GPA + 0x4000, 8);
		ck_assert_uint_eq(v & access_ones(sizes[i]), 0xA1A2A3A4A5A6A7A8ULL & access_ones(sizes[i]));
	}
	ck_assert_uint_eq(f->fk.nlog, 0);
	ck_assert_uint_eq(f->vp.window_accesses, 12);
	/* Outside the areas (the non-mappable page): one pread of the guest's width. */
	ck_assert_uint_eq(mmio_rd(f, BAR0_GPA + 0x3808, 8), 0x1F1E1D1C1B1A1918ULL);
	ck_assert_uint_eq(f->fk.nlog, 1);
	ck_assert_uint_eq(f->fk.log[0].size, 8);
	fx_free(f);
}
END_TEST

/* Closing quiesces the device before the owner drops DMA: MASTER off, then a reset. */
START_TEST(test_close_quiesces)
{
	struct fx *f = fx_new(false, false);
	unsigned resets;

	program_bars(f);
	ck_assert(get_le16(f->fk.cfg + PCI_COMMAND) & PCI_COMMAND_MASTER);
	resets = f->fk.resets;
	f->fk.nlog = 0;
	vfio_pci_destroy(&f->vp);
	ck_assert_uint_eq(get_le16(f->fk.cfg + PCI_COMMAND) &
			  (PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY | PCI_COMMAND_IO), 0);
	ck_assert_uint_eq(f->fk.resets, resets + 1);
	fx_free(f);     /* destroy again: nothing more */
}
END_TEST

START_TEST(test_sparse_areas)
{
	struct fx *f = fx_new(false, true);

	program_bars(f);
	ck_assert(is_ram(f, BAR0_GPA + 0x1000));
	ck_assert(!is_ram(f, BAR0_GPA + 0x3000));
	ck_assert(!is_ram(f, BAR0_GPA + 0x3FFF));
	ck_assert(is_ram(f, BAR0_GPA + 0x4000));
	ck_assert_uint_eq(f->fk.mmaps, 2);
	fx_free(f);
}
END_TEST

START_TEST(test_exact_widths)
{
	struct fx *f = fx_new(false, false);
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	unsigned i;
	uint64_t v;

	program_bars(f);
	for (i = 0; i < 8; i++)
		f->fk.bar2[0x40 + i] = (uint8_t)(0xA0 + i);
	for (i = 0; i < 4; i++) {
		f->fk.nlog = 0;
		v = mmio_rd(f, BAR2_GPA + 0x40, sizes[i]);
		ck_assert_uint_eq(f->fk.nlog, 1);
		ck_assert(!f->fk.log[0].write);
		ck_assert_uint_eq(f->fk.log[0].index, 2);
		ck_assert_uint_eq(f->fk.log[0].size, sizes[i]);
		ck_assert_uint_eq(f->fk.log[0].off, 0x40);
		ck_assert_uint_eq(v, 0xA7A6A5A4A3A2A1A0ULL & access_ones(sizes[i]));
		f->fk.nlog = 0;
		ck_assert_int_eq(mmio_wr(f, BAR2_GPA + 0x80, sizes[i], 0x1122334455667788ULL), 0);
		ck_assert_uint_eq(f->fk.nlog, 1);
		ck_assert(f->fk.log[0].write);
		ck_assert_uint_eq(f->fk.log[0].size, sizes[i]);
		ck_assert_uint_eq(f->fk.log[0].val, 0x1122334455667788ULL & access_ones(sizes[i]));
	}
	/* I/O BAR: one access too. */
	f->fk.nlog = 0;
	v = 0;
	ck_assert_int_eq(iobus_dispatch(&f->io, IO_PORT + 4, 2, false, &v), 0);
	ck_assert_uint_eq(f->fk.nlog, 1);
	ck_assert_uint_eq(f->fk.log[0].index, 4);
	ck_assert_uint_eq(f->fk.log[0].off, 4);
	ck_assert_uint_eq(f->fk.log[0].size, 2);
	fx_free(f);
}
END_TEST

START_TEST(test_split_qword)
{
	struct fx *f = fx_new(true, false);
	uint64_t v;
	unsigned i;

	program_bars(f);
	for (i = 0; i < 8; i++)
		f->fk.bar2[0x8 + i] = (uint8_t)(0x30 + i);
	f->fk.nlog = 0;
	v = mmio_rd(f, BAR2_GPA + 0x8, 8);
	ck_assert_uint_eq(v, 0x3736353433323130ULL);
	ck_assert_uint_eq(f->fk.nlog, 2);
	ck_assert_uint_eq(f->fk.log[0].size, 4);
	ck_assert_uint_eq(f->fk.log[0].off, 0x8);
	ck_assert_uint_eq(f->fk.log[1].size, 4);
	ck_assert_uint_eq(f->fk.log[1].off, 0xC);
	f->fk.nlog = 0;
	ck_assert_int_eq(mmio_wr(f, BAR2_GPA + 0x10, 8, 0xAABBCCDD11223344ULL), 0);
	ck_assert_uint_eq(f->fk.nlog, 2);
	ck_assert_uint_eq(f->fk.log[0].off, 0x10);
	ck_assert_uint_eq(f->fk.log[0].val, 0x11223344);
	ck_assert_uint_eq(f->fk.log[1].off, 0x14);
	ck_assert_uint_eq(f->fk.log[1].val, 0xAABBCCDD);
	/* Narrower accesses are untouched by the option. */
	f->fk.nlog = 0;
	(void)mmio_rd(f, BAR2_GPA + 0x8, 4);
	ck_assert_uint_eq(f->fk.nlog, 1);
	fx_free(f);
}
END_TEST

/* ---- config space ------------------------------------------------------------------ */

START_TEST(test_config_caps)
{
	struct fx *f = fx_new(false, false);
	unsigned p, hops = 0, msi = 0, msix = 0, exp = 0, pm = 0, vndr = 0;

	ck_assert(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	for (p = cfg_rd(f, PCI_CAPABILITY_LIST, 1); p; p = cfg_rd(f, p + 1, 1)) {
		unsigned id = cfg_rd(f, p, 1);

		ck_assert_uint_lt(++hops, 10);
		ck_assert_uint_ne(id, 0x03); /* VPD hidden */
		if (id == PCI_CAP_ID_MSI)
			msi = p;
		else if (id == PCI_CAP_ID_MSIX)
			msix = p;
		else if (id == PCI_CAP_ID_EXP)
			exp = p;
		else if (id == 0x01)
			pm = p;
		else if (id == PCI_CAP_ID_VNDR)
			vndr = p;
	}
	ck_assert_uint_eq(hops, 5);
	ck_assert_uint_eq(pm, CAP_PM);
	ck_assert_uint_eq(exp, CAP_EXP);
	ck_assert_uint_eq(msix, CAP_MSIX);
	ck_assert_uint_eq(vndr, CAP_VNDR);
	/* The core's MSI (24 bytes) does not fit at 0x50 before PCIe: moved, not overlapping. */
	ck_assert_uint_ne(msi, 0);
	ck_assert(!ranges_overlap(msi, PCI_MSI_CAP_SIZE, CAP_EXP, 0x3C));
	ck_assert(!ranges_overlap(msi, PCI_MSI_CAP_SIZE, CAP_PM, 8));
	ck_assert_uint_eq(f->vp.nr_hidden, 1);
	ck_assert_uint_eq(f->vp.hidden[0], 0x03);
	/* VPD bytes and extended space read 0. */
	ck_assert_uint_eq(cfg_rd(f, CAP_VPD, 4), 0);
	ck_assert_uint_eq(cfg_rd(f, 0x100, 4), 0);
	/* PM passes through; PMCSR writes reach the device. */
	ck_assert_uint_eq(cfg_rd(f, CAP_PM + 4, 2), 0x0008);
	cfg_wr(f, CAP_PM + 4, 2, 0x0003);
	ck_assert_uint_eq(get_le16(f->fk.cfg + CAP_PM + 4), 0x0003);
	ck_assert_uint_eq(cfg_rd(f, CAP_PM + 4, 2), 0x0003);
	/* PCIe: shown as an integrated endpoint, no link; link control writes dropped. */
	ck_assert_uint_eq((cfg_rd(f, CAP_EXP + 2, 2) >> 4) & 0xF, 9);
	ck_assert_uint_eq(cfg_rd(f, CAP_EXP + 0x0C, 4), 0);
	ck_assert_uint_eq(cfg_rd(f, CAP_EXP + 0x10, 4), 0);
	cfg_wr(f, CAP_EXP + 0x10, 2, 0x0010); /* link disable */
	ck_assert_uint_eq(get_le16(f->fk.cfg + CAP_EXP + 0x10), 0);
	cfg_wr(f, CAP_EXP + 8, 2, 0x2810);
	ck_assert_uint_eq(get_le16(f->fk.cfg + CAP_EXP + 8), 0x2810);
	/* The header of a kept cap is ours: a dword write over it reaches only the body. */
	cfg_wr(f, CAP_VNDR, 4, 0x77FFFFFF);
	ck_assert_uint_eq(f->fk.cfg[CAP_VNDR], PCI_CAP_ID_VNDR);
	ck_assert_uint_eq(f->fk.cfg[CAP_VNDR + 2], 8);
	ck_assert_uint_eq(f->fk.cfg[CAP_VNDR + 3], 0x77);
	ck_assert_uint_eq(cfg_rd(f, CAP_VNDR + 4, 1), 0x5A);
	assert_no_bad_cfg_writes(&f->fk);
	fx_free(f);
}
END_TEST

static const struct irqset *last_irqset(struct fx *f)
{
	ck_assert_uint_gt(f->fk.nirqs, 0);
	return &f->fk.irqs[f->fk.nirqs - 1];
}

START_TEST(test_msix_set_irqs)
{
	struct fx *f = fx_new(false, false);
	const struct irqset *s;
	uint64_t entry = BAR0_GPA + TBL_OFF + 2 * PCI_MSIX_ENTRY_SIZE;
	unsigned n0, i;
	int fd;
	uint64_t one = 1;

	/* INTx armed at init: trigger + resample(unmask). */
	ck_assert_uint_eq(f->fk.active, VFIO_DEV_IRQ_INTX);
	ck_assert_uint_eq(f->fk.irqs[1].action, VFIO_DEV_IRQ_UNMASK);
	program_bars(f);
	n0 = f->fk.nirqs;
	cfg_wr(f, CAP_MSIX + 2, 2, PCI_MSIX_FLAGS_ENABLE);
	/* INTx off, then MSI-X with every vector (all masked: no eventfds). */
	ck_assert_uint_eq(f->fk.nirqs, n0 + 2);
	ck_assert_uint_eq(f->fk.irqs[n0].index, VFIO_DEV_IRQ_INTX);
	ck_assert_uint_eq(f->fk.irqs[n0].count, 0);
	s = last_irqset(f);
	ck_assert_uint_eq(s->index, VFIO_DEV_IRQ_MSIX);
	ck_assert_uint_eq(s->count, NVEC);
	for (i = 0; i < NVEC; i++)
		ck_assert_int_eq(s->fds[i], -1);
	ck_assert_int_eq(f->fk.active, VFIO_DEV_IRQ_MSIX);
	/* Program and unmask vector 2: wired alone. */
	ck_assert_int_eq(mmio_wr(f, entry, 8, 0xFEE01000ULL), 0);
	ck_assert_int_eq(mmio_wr(f, entry + 8, 4, 0x41), 0);
	n0 = f->fk.nirqs;
	ck_assert_int_eq(mmio_wr(f, entry + 12, 4, 0), 0);
	ck_assert_uint_eq(f->fk.nirqs, n0 + 1);
	s = last_irqset(f);
	ck_assert_uint_eq(s->start, 2);
	ck_assert_uint_eq(s->count, 1);
	ck_assert_int_ge(s->fds[0], 0);
	fd = vfio_pci_vector_fd(&f->vp, true, 2);
	ck_assert_int_eq(fd, s->fds[0]);
	ck_assert_int_eq(vfio_pci_vector_fd(&f->vp, true, 1), -1);
	/* Fired while unmasked: sent. */
	ck_assert_int_eq(write(fd, &one, 8), 8);
	ck_assert_uint_eq(vfio_pci_poll(&f->vp), 1);
	ck_assert_uint_eq(f->r.sends, 1);
	ck_assert_uint_eq(f->r.addr, 0xFEE01000ULL);
	ck_assert_uint_eq(f->r.data, 0x41);
	/* Masked: stays wired, the interrupt becomes a PBA bit, sent on unmask. */
	n0 = f->fk.nirqs;
	ck_assert_int_eq(mmio_wr(f, entry + 12, 4, 1), 0);
	ck_assert_uint_eq(f->fk.nirqs, n0);
	ck_assert_int_eq(write(fd, &one, 8), 8);
	ck_assert_uint_eq(vfio_pci_poll(&f->vp), 1);
	ck_assert_uint_eq(f->r.sends, 1);
	ck_assert_uint_eq(mmio_rd(f, BAR0_GPA + PBA_OFF, 8), 1u << 2);
	ck_assert_int_eq(mmio_wr(f, entry + 12, 4, 0), 0);
	ck_assert_uint_eq(f->r.sends, 2);
	ck_assert_uint_eq(mmio_rd(f, BAR0_GPA + PBA_OFF, 8), 0);
	ck_assert_uint_gt(f->r.changes, 0);
	/* Disable: MSI-X off, INTx back. */
	cfg_wr(f, CAP_MSIX + 2, 2, 0);
	ck_assert_int_eq(f->fk.active, VFIO_DEV_IRQ_INTX);
	ck_assert_uint_eq(f->vp.irq_errors, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_msi_and_intx)
{
	struct fx *f = fx_new(false, false);
	unsigned p, msi = 0;
	const struct irqset *s;
	int trig, res;
	uint64_t one = 1;

	for (p = cfg_rd(f, PCI_CAPABILITY_LIST, 1); p; p = cfg_rd(f, p + 1, 1))
		if (cfg_rd(f, p, 1) == PCI_CAP_ID_MSI)
			msi = p;
	ck_assert_uint_ne(msi, 0);
	/* Only 1 vector offered (the device's MMC and VFIO's count). */
	ck_assert_uint_eq(cfg_rd(f, msi + 2, 2) & PCI_MSI_FLAGS_QMASK, 0);
	cfg_wr(f, msi + 4, 4, 0xFEE00000);
	cfg_wr(f, msi + 12, 2, 0x30);
	cfg_wr(f, msi + 2, 2, PCI_MSI_FLAGS_ENABLE);
	s = last_irqset(f);
	ck_assert_uint_eq(s->index, VFIO_DEV_IRQ_MSI);
	ck_assert_uint_eq(s->count, 1);
	ck_assert_int_ge(s->fds[0], 0);
	ck_assert_int_eq(f->fk.active, VFIO_DEV_IRQ_MSI);
	cfg_wr(f, msi + 2, 2, 0);
	ck_assert_int_eq(f->fk.active, VFIO_DEV_IRQ_INTX);
	/* INTx slow path: trigger -> line up, EOI -> down + unmask. */
	ck_assert_int_eq(vfio_pci_intx_fds(&f->vp, &trig, &res), 0);
	ck_assert_int_ge(trig, 0);
	ck_assert_int_ge(res, 0);
	ck_assert_int_eq(write(trig, &one, 8), 8);
	ck_assert_uint_eq(vfio_pci_poll(&f->vp), 1);
	ck_assert(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	vfio_pci_intx_eoi(&f->vp);
	ck_assert(!(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	s = last_irqset(f);
	ck_assert_uint_eq(s->action, VFIO_DEV_IRQ_UNMASK);
	ck_assert(!s->data);
	ck_assert_uint_eq(f->vp.irq_errors, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_rom_readonly)
{
	struct fx *f = fx_new(false, false);

	cfg_wr(f, PCI_ROM_ADDRESS, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, PCI_ROM_ADDRESS, 4) & ~1u, (uint32_t)~(ROM_SIZE - 1));
	cfg_wr(f, PCI_ROM_ADDRESS, 4, (uint32_t)ROM_GPA | PCI_ROM_ENABLE);
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(mmio_rd(f, ROM_GPA, 2), 0xAA55);
	f->fk.nlog = 0;
	(void)mmio_wr(f, ROM_GPA, 2, 0);
	ck_assert_uint_eq(mmio_rd(f, ROM_GPA, 2), 0xAA55);
	ck_assert_uint_eq(f->fk.nlog, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_reset)
{
	struct fx *f = fx_new(false, false);

	program_bars(f);
	cfg_wr(f, CAP_MSIX + 2, 2, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f->fk.active, VFIO_DEV_IRQ_MSIX);
	vfio_pci_reset(&f->vp);
	ck_assert_uint_eq(f->fk.resets, 2);
	ck_assert_int_eq(f->fk.active, VFIO_DEV_IRQ_INTX);
	ck_assert(!pci_dev_bar_mapped(&f->vp.dev, 0, NULL));
	/* The device's COMMAND follows the reset (decode off). */
	ck_assert_uint_eq(get_le16(f->fk.cfg + PCI_COMMAND) & 7, 0);
	fx_free(f);
}
END_TEST

/* ---- bad guest input -------------------------------------------------------------------- */

START_TEST(test_bad_mmio)
{
	struct fx *f = fx_new(false, false);
	uint64_t v = 0;
	unsigned i;

	program_bars(f);
	f->fk.nlog = 0;
	/* Odd widths and accesses past the BAR never reach the device. */
	ck_assert_int_ne(mem_dispatch(&f->s, BAR2_GPA, 3, false, &v), 0);
	ck_assert_int_ne(mem_dispatch(&f->s, BAR2_GPA, 16, true, &v), 0);
	(void)mem_dispatch(&f->s, BAR2_GPA + BAR2_SIZE - 4, 8, false, &v);
	(void)mem_dispatch(&f->s, BAR2_GPA + BAR2_SIZE - 1, 2, true, &v);
	for (i = 0; i < f->fk.nlog; i++)
		ck_assert(range_within(f->fk.log[i].off, f->fk.log[i].size, 0, BAR2_SIZE));
	/* MSI-X table: narrow and misaligned accesses refused, garbage harmless. */
	f->fk.nlog = 0;
	ck_assert_int_ne(mmio_wr(f, BAR0_GPA + TBL_OFF, 1, 0xFF), 0);
	ck_assert_int_ne(mmio_wr(f, BAR0_GPA + TBL_OFF + 2, 4, 0xFF), 0);
	for (i = 0; i < NVEC * PCI_MSIX_ENTRY_SIZE; i += 4)
		(void)mmio_wr(f, BAR0_GPA + TBL_OFF + i, 4, 0xDEADBEEF ^ i);
	cfg_wr(f, CAP_MSIX + 2, 2, 0xFFFF);
	for (i = 0; i < NVEC * PCI_MSIX_ENTRY_SIZE; i += 8)
		(void)mmio_wr(f, BAR0_GPA + TBL_OFF + i, 8, ~0ULL);
	ck_assert_uint_eq(f->fk.nlog, 0);
	ck_assert_uint_eq(f->vp.irq_errors, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_bad_bar_placement)
{
	struct fx *f = fx_new(false, false);

	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	/* BAR at 0: not decoded. */
	ck_assert(!pci_dev_bar_mapped(&f->vp.dev, 0, NULL));
	/* A 32-bit BAR reaching 4 GiB: not decoded. */
	cfg_wr(f, PCI_BAR0 + 8, 4, 0xFFFFF000);
	ck_assert(!pci_dev_bar_mapped(&f->vp.dev, 2, NULL));
	/* A 64-bit BAR beyond phys-bits: not decoded. */
	cfg_wr(f, PCI_BAR0, 4, 0xFFFF0000);
	cfg_wr(f, PCI_BAR0 + 4, 4, 0xFFFFFFFF);
	ck_assert(!pci_dev_bar_mapped(&f->vp.dev, 0, NULL));
	/* Straddling 4 GiB is fine for a 64-bit BAR (in the window). */
	cfg_wr(f, PCI_BAR0, 4, 0xFFFF0000);
	cfg_wr(f, PCI_BAR0 + 4, 4, 0);
	ck_assert(pci_dev_bar_mapped(&f->vp.dev, 0, NULL));
	/* Overlapping BARs: both decode, the device still sees its offsets only. */
	cfg_wr(f, PCI_BAR0 + 8, 4, 0xFFFF0000);
	f->fk.nlog = 0;
	(void)mmio_rd(f, 0xFFFF0000ULL + 0x10, 4);
	ck_assert_uint_le(f->fk.nlog, 1);
	assert_no_bad_cfg_writes(&f->fk);
	fx_free(f);
}
END_TEST

START_TEST(test_config_fuzz)
{
	struct fx *f = fx_new(false, false);
	static const unsigned sizes[] = { 1, 2, 4 };
	enum pci_irq_mode m;
	unsigned i;
	uint32_t v;

	srand(7);
	for (i = 0; i < 20000; i++) {
		unsigned size = sizes[rand() % 3];
		unsigned reg = ((unsigned)rand() % 260) & ~(size - 1);

		/* Keep the BARs away from RAM-sized chaos but let everything else be random. */
		int ret;

		if (rand() & 1)
			ret = pci_bus_config_write(&f->bus, DEVFN, reg, size, (uint32_t)rand());
		else
			ret = pci_bus_config_read(&f->bus, DEVFN, reg, size, &v);
		ck_assert(ret == 0 || ret == -EINVAL);
		if (f->fk.nlog > 48)
			f->fk.nlog = 0;
		if (f->fk.nirqs > 48)
			f->fk.nirqs = 0;
		assert_no_bad_cfg_writes(&f->fk);
		/* VFIO's enabled index always follows the guest's mode. */
		m = pci_dev_irq_mode(&f->vp.dev);
		ck_assert_int_eq(f->fk.active, m == PCI_IRQ_MSIX ? VFIO_DEV_IRQ_MSIX :
					       m == PCI_IRQ_MSI ? VFIO_DEV_IRQ_MSI :
					       VFIO_DEV_IRQ_INTX);
	}
	/* Unaligned and oversized config accesses are refused by the core. */
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN, 0x41, 4, &v), -EINVAL);
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN, 4096, 1, 0), -EINVAL);
	ck_assert_uint_eq(f->vp.irq_errors, 0);
	fx_free(f);
}
END_TEST

/* ---- the region-info parser --------------------------------------------------------------- */

START_TEST(test_parse_region_info)
{
	struct {
		struct vfio_region_info ri;
		struct vfio_region_info_cap_sparse_mmap sp;
		struct vfio_region_sparse_mmap_area a[2];
		struct vfio_info_cap_header mx;
	} __attribute__((packed)) b;
	struct vfio_dev_region r;

	memset(&b, 0, sizeof(b));
	b.ri.argsz = sizeof(b);
	b.ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP |
		     VFIO_REGION_INFO_FLAG_CAPS;
	b.ri.size = 0x10000;
	b.ri.offset = 1ULL << 40;
	b.ri.cap_offset = sizeof(b.ri);
	b.sp.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	b.sp.header.version = 1;
	b.sp.header.next = (uint32_t)((char *)&b.mx - (char *)&b);
	b.sp.nr_areas = 2;
	b.a[0].offset = 0;
	b.a[0].size = 0x3000;
	b.a[1].offset = 0x4000;
	b.a[1].size = 0xC000;
	b.mx.id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE;
	ck_assert_int_eq(vfio_dev_parse_region_info(&b, sizeof(b), &r), 0);
	ck_assert(r.sparse);
	ck_assert(r.msix_mappable);
	ck_assert_uint_eq(r.nr_areas, 2);
	ck_assert_uint_eq(r.areas[1].off, 0x4000);
	ck_assert_uint_eq(r.flags, VFIO_DEV_REGION_READ | VFIO_DEV_REGION_MMAP);
	/* Truncated reply: the chain points outside. */
	ck_assert_int_eq(vfio_dev_parse_region_info(&b, sizeof(b.ri) + 4, &r), -EINVAL);
	/* A loop. */
	b.mx.next = b.ri.cap_offset;
	ck_assert_int_eq(vfio_dev_parse_region_info(&b, sizeof(b), &r), -EINVAL);
	b.mx.next = 0;
	/* An area leaving the region, and one that wraps. */
	b.a[1].size = 0xD000;
	ck_assert_int_eq(vfio_dev_parse_region_info(&b, sizeof(b), &r), -EINVAL);
	b.a[1].offset = ~0ULL - 0x10;
	b.a[1].size = 0x1000;
	ck_assert_int_eq(vfio_dev_parse_region_info(&b, sizeof(b), &r), -EINVAL);
	/* Too many areas for the reply. */
	b.a[1].offset = 0x4000;
	b.a[1].size = 0xC000;
	b.sp.nr_areas = 1000;
	ck_assert_int_eq(vfio_dev_parse_region_info(&b, sizeof(b), &r), -EINVAL);
	ck_assert_int_eq(vfio_dev_parse_region_info(&b, 4, &r), -EINVAL);
}
END_TEST

Suite *vfio_pci_suite(void);

Suite *vfio_pci_suite(void)
{
	Suite *s = suite_create("vfio_pci");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_bar_sizing);
	tcase_add_test(tc, test_bar_mmap_and_trap);
	tcase_add_test(tc, test_sparse_areas);
	tcase_add_test(tc, test_exact_widths);
	tcase_add_test(tc, test_no_mmap_windows);
	tcase_add_test(tc, test_close_quiesces);
	tcase_add_test(tc, test_split_qword);
	tcase_add_test(tc, test_config_caps);
	tcase_add_test(tc, test_msix_set_irqs);
	tcase_add_test(tc, test_msi_and_intx);
	tcase_add_test(tc, test_rom_readonly);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_bad_mmio);
	tcase_add_test(tc, test_bad_bar_placement);
	tcase_add_test(tc, test_config_fuzz);
	tcase_add_test(tc, test_parse_region_info);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(vfio_pci_suite);
