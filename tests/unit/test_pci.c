/*
 * tests/unit/test_pci.c - the PCI core: configuration reads and bad
 * accesses, BAR sizing and placement (proved with a recording listener),
 * MMIO/PIO dispatch into BARs, ECAM, the capability chain, MSI-X and MSI
 * delivery with masking, INTx with the shared-GSI wire-OR, the expansion
 * ROM, reset, listener failure, and a random-write fuzzer that checks the
 * decode always matches the registers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/iobus.h"
#include "devices/pci.h"
#include "memory/memory.h"
#include "memory/trace.h"
#include "tests/unit/unit.h"

#define VID 0x1AF4
#define DID 0x1041
#define DEVFN_A PCI_DEVFN(3, 0)
#define BAR_ADDR 0xC0000000ULL
#define ECAM_BASE 0xB0000000ULL

/* ---- fixture -------------------------------------------------------------- */

struct fake {
	unsigned reads, writes;
	uint64_t last_off;
	unsigned last_size;
	uint64_t last_val;
	bool saw_msix;          /* an access landed in the MSI-X table or PBA */
	uint64_t tbl_lo, tbl_hi, pba_lo, pba_hi;
};

struct msi_rec {
	unsigned sends;
	uint64_t addr;
	uint32_t data;
	unsigned changes;
	bool last_msix;
	unsigned last_vector;
	struct pci_msi_msg last_msg;
};

struct irq_rec {
	int level[32];
	unsigned calls;
};

struct fx {
	struct mem_space s;
	struct iobus io;
	struct pci_bus bus;
	struct mem_trace t;
	struct pci_dev a;
	struct fake fa;
	struct msi_rec mr;
	struct irq_rec ir;
};

static int fake_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct fake *f = opaque;

	f->reads++;
	f->last_off = off;
	f->last_size = size;
	if ((off >= f->tbl_lo && off < f->tbl_hi) || (off >= f->pba_lo && off < f->pba_hi))
		f->saw_msix = true;
	*val = 0xA5A5A5A5A5A5A5A5ULL ^ off;
	return 0;
}

static int fake_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct fake *f = opaque;

	f->writes++;
	f->last_off = off;
	f->last_size = size;
	f->last_val = val;
	if ((off >= f->tbl_lo && off < f->tbl_hi) || (off >= f->pba_lo && off < f->pba_hi))
		f->saw_msix = true;
	return 0;
}

static const struct access_ops fake_ops = {
	.read = fake_read,
	.write = fake_write,
	.min_size = 1,
	.max_size = 8,
};

static void msi_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct msi_rec *r = opaque;

	r->sends++;
	r->addr = addr;
	r->data = data;
}

static void msi_changed(void *opaque, struct pci_dev *dev, bool msix, unsigned vector,
			const struct pci_msi_msg *msg)
{
	struct msi_rec *r = opaque;

	(void)dev;
	r->changes++;
	r->last_msix = msix;
	r->last_vector = vector;
	r->last_msg = *msg;
}

static void irq_set(void *opaque, unsigned gsi, int level)
{
	struct irq_rec *r = opaque;

	ck_assert_uint_lt(gsi, 32);
	r->level[gsi] = level;
	r->calls++;
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct irq_line line = { .set_level = irq_set };

	ck_assert_ptr_nonnull(f);
	line.opaque = &f->ir;
	ck_assert_int_eq(mem_space_init(&f->s, "sys"), 0);
	ck_assert_int_eq(iobus_init(&f->io), 0);
	ck_assert_int_eq(pci_bus_init(&f->bus, &f->s, &f->io), 0);
	ck_assert_int_eq(pci_bus_set_phys_bits(&f->bus, 40), 0);
	pci_bus_set_intx(&f->bus, &line);
	ck_assert_int_eq(mem_trace_init(&f->t, 256), 0);
	ck_assert_int_eq(mem_listener_register(&f->s, &f->t.l), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	pci_dev_destroy(&f->a);
	pci_bus_destroy(&f->bus);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	mem_listener_unregister(&f->s, &f->t.l);
	ck_assert_uint_eq(f->t.bad, 0);
	mem_trace_destroy(&f->t);
	iobus_destroy(&f->io);
	mem_space_destroy(&f->s);
	free(f);
}

static void hooks_for(struct fx *f, struct pci_dev *d)
{
	struct pci_msi_hooks h = { .send = msi_send, .vector_changed = msi_changed,
				   .opaque = &f->mr };

	pci_dev_set_msi_hooks(d, &h);
}

static uint32_t cfg_rd(struct fx *f, unsigned devfn, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	ck_assert_int_eq(pci_bus_config_read(&f->bus, devfn, reg, size, &v), 0);
	return v;
}

static void cfg_wr(struct fx *f, unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
	ck_assert_int_eq(pci_bus_config_write(&f->bus, devfn, reg, size, v), 0);
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

/* A plain device: BAR0 MEM32 4 KiB (trapped), BAR1 I/O 32 bytes, BAR2 MEM64+pf 1 MiB. */
static void dev_plain(struct fx *f, struct pci_dev *d, struct fake *fk, unsigned devfn)
{
	pci_dev_init(d, "plain", VID, DID, 0x010000, 1, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar(d, 0, PCI_BAR_MEM32, 4 * KiB, &fake_ops, fk), 0);
	ck_assert_int_eq(pci_dev_set_bar(d, 1, PCI_BAR_IO, 32, &fake_ops, fk), 0);
	ck_assert_int_eq(pci_dev_set_bar(d, 2, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, 1 * MiB,
					 &fake_ops, fk), 0);
	ck_assert_int_eq(pci_dev_set_intx_pin(d, 1), 0);
	hooks_for(f, d);
	ck_assert_int_eq(pci_bus_add(&f->bus, d, devfn), 0);
}

/* ---- configuration space ------------------------------------------------------ */

START_TEST(test_config_ids)
{
	struct fx *f = fx_new();
	struct pci_dev b;
	uint32_t v;

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0, 4), ((uint32_t)DID << 16) | VID);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0, 2), VID);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 2, 2), DID);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 1, 1), VID >> 8);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 8, 4), 0x01000001); /* class 01 00 00, rev 1 */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_HEADER_TYPE, 1), 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_INTERRUPT_PIN, 1), 1);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(3, 0));

	/* Read-only IDs ignore writes. */
	cfg_wr(f, DEVFN_A, 0, 4, 0x12345678);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0, 4), ((uint32_t)DID << 16) | VID);

	/* Absent function: all-ones and -ENODEV. */
	ck_assert_int_eq(pci_bus_config_read(&f->bus, PCI_DEVFN(4, 0), 0, 4, &v), -ENODEV);
	ck_assert_uint_eq(v, 0xFFFFFFFF);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, PCI_DEVFN(3, 1), 0, 2, &v), -ENODEV);
	ck_assert_uint_eq(v, 0xFFFF);
	ck_assert_int_eq(pci_bus_config_write(&f->bus, PCI_DEVFN(4, 0), 4, 2, 7), -ENODEV);

	/* Bad widths, misaligned, out of range, bad devfn. */
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 0, 3, &v), -EINVAL);
	ck_assert_uint_eq(v, 0xFFFFFF);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 0, 8, &v), -EINVAL);
	ck_assert_uint_eq(v, 0xFFFFFFFF);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 1, 2, &v), -EINVAL);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 2, 4, &v), -EINVAL);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 4096, 1, &v), -EINVAL);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 0xFFFFFFFC, 4, &v), -EINVAL);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, 256, 0, 4, &v), -EINVAL);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 0, 0, &v), -EINVAL);
	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN_A, 0, 4, NULL), -EINVAL);
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN_A, 4, 4, 0x2), 0);
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN_A, 5, 2, 0x2), -EINVAL);
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN_A, 4094, 4, 0), -EINVAL);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 4092, 4), 0);

	/* Duplicate devfn, bad devfn, device already on a bus. */
	pci_dev_init(&b, "b", VID, 0x1000, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_bus_add(&f->bus, &b, DEVFN_A), -EEXIST);
	ck_assert_int_eq(pci_bus_add(&f->bus, &b, 256), -EINVAL);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, PCI_DEVFN(5, 0)), -EBUSY);

	/* Multi-function: fn 0's header type bit 7 while fn 1 exists. */
	ck_assert_int_eq(pci_bus_add(&f->bus, &b, PCI_DEVFN(3, 1)), 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_HEADER_TYPE, 1), PCI_HEADER_MULTI_FUNCTION);
	ck_assert_uint_eq(cfg_rd(f, PCI_DEVFN(3, 1), PCI_HEADER_TYPE, 1), 0);
	ck_assert_uint_eq(cfg_rd(f, PCI_DEVFN(3, 1), 2, 2), 0x1000);
	ck_assert_ptr_eq(pci_bus_find(&f->bus, PCI_DEVFN(3, 1)), &b);
	ck_assert_int_eq(pci_bus_remove(&f->bus, &b), 0);
	ck_assert_int_eq(pci_bus_remove(&f->bus, &b), -ENOENT);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_HEADER_TYPE, 1), 0);
	pci_dev_destroy(&b);
	fx_free(f);
}
END_TEST

START_TEST(test_command_status)
{
	struct fx *f = fx_new();

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	/* Only IO, MEM, MASTER, PARITY, SERR, INTX_DISABLE are writable. */
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, 0xFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_COMMAND, 2), 0x0547);
	ck_assert(pci_dev_bus_master(&f->a));
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, 0);
	ck_assert(!pci_dev_bus_master(&f->a));

	/* Status error bits are write-1-to-clear; others read-only. */
	f->a.cfg[PCI_STATUS + 1] |= 0xF9; /* the device reports errors */
	cfg_wr(f, DEVFN_A, PCI_STATUS, 2, 0x0800);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_STATUS, 2), 0xF100);
	cfg_wr(f, DEVFN_A, PCI_STATUS, 2, 0x00FF); /* low byte: nothing to clear or set */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_STATUS, 2), 0xF100);
	cfg_wr(f, DEVFN_A, PCI_STATUS, 2, 0xFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_STATUS, 2), 0);
	/* Cache line and interrupt line are plain read/write bytes. */
	cfg_wr(f, DEVFN_A, PCI_INTERRUPT_LINE, 1, 0x0B);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_INTERRUPT_LINE, 2), 0x010B);
	cfg_wr(f, DEVFN_A, PCI_CACHE_LINE_SIZE, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_CACHE_LINE_SIZE, 4), 0x000000FF);
	fx_free(f);
}
END_TEST

/* ---- BARs ------------------------------------------------------------------- */

START_TEST(test_bar_sizing)
{
	struct fx *f = fx_new();
	struct pci_dev big;

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0, 4), 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 4, 4), PCI_BAR_SPACE_IO);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 8, 4), 0xC);
	for (unsigned n = 0; n < 6; n++)
		cfg_wr(f, DEVFN_A, PCI_BAR0 + 4 * n, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0, 4), 0xFFFFF000);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 4, 4), 0xFFFFFFE1);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 8, 4), 0xFFF0000C);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 12, 4), 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 16, 4), 0); /* unimplemented */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 20, 4), 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_ROM_ADDRESS, 4), 0); /* no ROM */
	/* Sizing with decode off maps nothing. */
	ck_assert_uint_eq(f->t.adds, 0);

	/* An 8 GiB 64-bit BAR: the size shows in the high dword. */
	pci_dev_init(&big, "big", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar(&big, 4, PCI_BAR_MEM64, 8 * GiB, &fake_ops, &f->fa), 0);
	ck_assert_int_eq(pci_bus_add(&f->bus, &big, PCI_DEVFN(4, 0)), 0);
	cfg_wr(f, PCI_DEVFN(4, 0), PCI_BAR0 + 16, 4, 0xFFFFFFFF);
	cfg_wr(f, PCI_DEVFN(4, 0), PCI_BAR0 + 20, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, PCI_DEVFN(4, 0), PCI_BAR0 + 16, 4), 0x4);
	ck_assert_uint_eq(cfg_rd(f, PCI_DEVFN(4, 0), PCI_BAR0 + 20, 4), 0xFFFFFFFE);
	pci_dev_destroy(&big);
	fx_free(f);
}
END_TEST

START_TEST(test_bar_setup_validation)
{
	struct pci_dev d;
	struct mem_region r;
	unsigned off;

	pci_dev_init(&d, "v", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 6, PCI_BAR_MEM32, 4096, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 3000, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 8, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 4 * GiB, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32 | PCI_BAR_IO, 4096, &fake_ops, NULL),
			 -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_IO, 16, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_IO | PCI_BAR_PREFETCH, 16, &fake_ops, NULL),
			 -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_IO, 128 * KiB, &fake_ops, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 5, PCI_BAR_MEM64, 4096, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 0x100, 4096, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 1, PCI_BAR_MEM64, 4096, NULL, NULL), 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, 2, PCI_BAR_MEM32, 4096, NULL, NULL), -EEXIST);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, PCI_BAR_MEM64, 4096, NULL, NULL), -EEXIST);
	/* A region must fit its BAR; priority must stay below MSI-X. */
	mem_region_init_mmio(&r, "r", 8192, &fake_ops, NULL);
	ck_assert_int_eq(pci_dev_bar_add_region(&d, 1, &r, 0, 1), -EINVAL);
	mem_region_init_mmio(&r, "r", 1024, &fake_ops, NULL);
	ck_assert_int_eq(pci_dev_bar_add_region(&d, 1, &r, 0, PCI_BAR_PRIO_MSIX), -EINVAL);
	ck_assert_int_eq(pci_dev_bar_add_region(&d, 2, &r, 0, 1), -EINVAL); /* upper half */
	ck_assert_int_eq(pci_dev_bar_add_region(&d, 1, &r, 3072, 1), 0);
	ck_assert_int_eq(pci_dev_set_intx_pin(&d, 5), -EINVAL);
	/* Capability space runs out. */
	ck_assert_int_eq(pci_dev_add_cap(&d, 9, 1, &off), -EINVAL);
	ck_assert_int_eq(pci_dev_add_cap(&d, 9, 0xC0, &off), 0);
	ck_assert_int_eq(pci_dev_add_cap(&d, 9, 2, &off), -ENOSPC);
	ck_assert_int_eq(pci_dev_set_rom(&d, "x", 0), -EINVAL);
	pci_dev_destroy(&d);
	pci_dev_destroy(&d); /* twice is fine */
}
END_TEST

START_TEST(test_bar_placement)
{
	struct fx *f = fx_new();
	uint64_t commits, at = 0;

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	mem_trace_clear(&f->t);
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)BAR_ADDR);
	ck_assert_uint_eq(f->t.n, 0); /* MEM decode is off */
	ck_assert(!pci_dev_bar_mapped(&f->a, 0, NULL));

	commits = f->s.commits;
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(f->s.commits, commits + 1);
	ck_assert_uint_eq(f->t.n, 1);
	ck_assert(f->t.log[0].add);
	ck_assert_uint_eq(f->t.log[0].gpa, BAR_ADDR);
	ck_assert_uint_eq(f->t.log[0].size, 4 * KiB);
	ck_assert(!f->t.log[0].ram);
	ck_assert(pci_dev_bar_mapped(&f->a, 0, &at));
	ck_assert_uint_eq(at, BAR_ADDR);

	/* Dispatch reaches the device ops at the BAR offset. */
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + 0x10, 4), (uint32_t)(0xA5A5A5A5 ^ 0x10));
	ck_assert_uint_eq(f->fa.last_off, 0x10);
	ck_assert_uint_eq(f->fa.last_size, 4);
	ck_assert_int_eq(mmio_wr(f, BAR_ADDR + 0xFFE, 2, 0xBEEF), 0);
	ck_assert_uint_eq(f->fa.last_off, 0xFFE);
	ck_assert_uint_eq(f->fa.last_val, 0xBEEF);

	/* A move is one commit: the old range removed, then the new one added. */
	mem_trace_clear(&f->t);
	commits = f->s.commits;
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)(BAR_ADDR + 0x10000));
	ck_assert_uint_eq(f->s.commits, commits + 1);
	ck_assert_uint_eq(f->t.n, 2);
	ck_assert(!f->t.log[0].add);
	ck_assert_uint_eq(f->t.log[0].gpa, BAR_ADDR);
	ck_assert(f->t.log[1].add);
	ck_assert_uint_eq(f->t.log[1].gpa, BAR_ADDR + 0x10000);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR, 4), 0xFFFFFFFF);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));

	/* Writing the same address again changes nothing: no commit at all. */
	commits = f->s.commits;
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)(BAR_ADDR + 0x10000));
	cfg_wr(f, DEVFN_A, PCI_INTERRUPT_LINE, 1, 5);
	ck_assert_uint_eq(f->s.commits, commits);

	/* Turning MEM off removes it. */
	mem_trace_clear(&f->t);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, 0);
	ck_assert_uint_eq(f->t.n, 1);
	ck_assert(!f->t.log[0].add);
	ck_assert_uint_eq(f->t.log[0].gpa, BAR_ADDR + 0x10000);
	ck_assert(!pci_dev_bar_mapped(&f->a, 0, NULL));
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + 0x10000, 4), 0xFFFFFFFF);
	fx_free(f);
}
END_TEST

START_TEST(test_bar_rules)
{
	struct fx *f = fx_new();
	uint64_t at = 0;

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	/* At 0: unmapped. */
	ck_assert(!pci_dev_bar_mapped(&f->a, 0, NULL));
	/* A 32-bit BAR whose last byte is 0xFFFFFFFF (the sizing pattern): unmapped. */
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, 0xFFFFF000);
	ck_assert(!pci_dev_bar_mapped(&f->a, 0, NULL));
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, 0xFFFFE000);
	ck_assert(pci_dev_bar_mapped(&f->a, 0, &at));
	ck_assert_uint_eq(at, 0xFFFFE000);

	/* 64-bit: above 4 GiB and below 2^40 maps; beyond phys-bits does not. */
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 8, 4, 0);
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 12, 4, 0x80);
	ck_assert(pci_dev_bar_mapped(&f->a, 2, &at));
	ck_assert_uint_eq(at, 0x8000000000ULL);
	ck_assert_uint_eq(mmio_rd(f, 0x8000000000ULL + 8, 8), 0xA5A5A5A5A5A5A5A5ULL ^ 8);
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 12, 4, 0xFF);
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 8, 4, 0xFFF00000);
	ck_assert(pci_dev_bar_mapped(&f->a, 2, &at)); /* ends exactly at 2^40 */
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 12, 4, 0x100);
	ck_assert(!pci_dev_bar_mapped(&f->a, 2, NULL));
	/* The sizing pattern in both halves: far beyond phys-bits. */
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 8, 4, 0xFFFFFFFF);
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 12, 4, 0xFFFFFFFF);
	ck_assert(!pci_dev_bar_mapped(&f->a, 2, NULL));
	/* A 64-bit BAR in the low 4 GiB is fine too. */
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 12, 4, 0);
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 8, 4, 0xE0000000);
	ck_assert(pci_dev_bar_mapped(&f->a, 2, &at));
	ck_assert_uint_eq(at, 0xE0000000);
	/* Bigger phys-bits admit more. */
	ck_assert_int_eq(pci_bus_set_phys_bits(&f->bus, 31), -EINVAL);
	ck_assert_int_eq(pci_bus_set_phys_bits(&f->bus, 53), -EINVAL);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_io_bar)
{
	struct fx *f = fx_new();
	struct fake other = { 0 };
	uint64_t v = 0, at = 0;

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 4, 4, 0xC000);
	ck_assert(!pci_dev_bar_mapped(&f->a, 1, NULL));
	ck_assert_int_eq(iobus_dispatch(&f->io, 0xC004, 2, false, &v), -ENOENT);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_IO);
	ck_assert(pci_dev_bar_mapped(&f->a, 1, &at));
	ck_assert_uint_eq(at, 0xC000);
	ck_assert_int_eq(iobus_dispatch(&f->io, 0xC004, 2, false, &v), 0);
	ck_assert_uint_eq(f->fa.last_off, 4);
	ck_assert_uint_eq(v, (0xA5A5A5A5A5A5A5A5ULL ^ 4) & 0xFFFF);
	/* Memory BARs stay off with only IO decode. */
	ck_assert_uint_eq(f->t.adds, 0);

	/* Move: the old ports go away. */
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 4, 4, 0xC101); /* low bits are read-only */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0 + 4, 4), 0xC101);
	ck_assert_int_eq(iobus_dispatch(&f->io, 0xC004, 2, false, &v), -ENOENT);
	ck_assert_int_eq(iobus_dispatch(&f->io, 0xC11F, 1, true, &v), 0);
	ck_assert_uint_eq(f->fa.last_off, 0x1F);

	/* A clash with a port someone else owns: left unmapped, no crash. */
	ck_assert_int_eq(iobus_register(&f->io, 0x3F8, 8, &fake_ops, &other, "uart"), 0);
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 4, 4, 0x3E0);
	ck_assert(!pci_dev_bar_mapped(&f->a, 1, NULL));
	ck_assert_int_eq(iobus_dispatch(&f->io, 0x3F8, 1, false, &v), 0);
	ck_assert_uint_eq(other.reads, 1);
	/* Above 64 KiB: unmapped. */
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 4, 4, 0x10000);
	ck_assert(!pci_dev_bar_mapped(&f->a, 1, NULL));
	cfg_wr(f, DEVFN_A, PCI_BAR0 + 4, 4, 0xFFE0);
	ck_assert(pci_dev_bar_mapped(&f->a, 1, &at));
	ck_assert_uint_eq(at, 0xFFE0);
	/* IO off unregisters. */
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, 0);
	ck_assert(!pci_dev_bar_mapped(&f->a, 1, NULL));
	ck_assert_int_eq(iobus_dispatch(&f->io, 0xFFE0, 1, false, &v), -ENOENT);
	fx_free(f);
}
END_TEST

START_TEST(test_bar_region)
{
	struct fx *f = fx_new();
	struct mem_backend *be;
	struct mem_region ram;
	uint64_t v = 0;

	ck_assert_int_eq(mem_backend_create(&be, "vfio-bar", 64 * KiB), 0);
	memset(be->host, 0x5A, 64 * KiB);
	mem_region_init_ram(&ram, "bar-ram", be, 0, 64 * KiB);
	pci_dev_init(&f->a, "ramdev", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar_region(&f->a, 0, PCI_BAR_MEM32, 64 * KiB, &ram), 0);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, DEVFN_A), 0);
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)BAR_ADDR);
	mem_trace_clear(&f->t);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(f->t.n, 1);
	ck_assert(f->t.log[0].ram);
	ck_assert_uint_eq(f->t.log[0].size, 64 * KiB);
	ck_assert_int_eq(mem_dispatch(&f->s, BAR_ADDR + 100, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0x5A);
	ck_assert_ptr_eq(mem_hva(&f->s, BAR_ADDR, 4096), be->host);
	pci_dev_destroy(&f->a);
	ck_assert_ptr_null(mem_hva(&f->s, BAR_ADDR, 4096));
	pci_bus_destroy(&f->bus);
	mem_listener_unregister(&f->s, &f->t.l);
	mem_trace_destroy(&f->t);
	iobus_destroy(&f->io);
	mem_space_destroy(&f->s);
	mem_backend_destroy(be);
	free(f);
}
END_TEST

START_TEST(test_listener_failure)
{
	struct fx *f = fx_new();

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)BAR_ADDR);
	f->t.fail_at = f->t.total + 1;
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN_A, PCI_COMMAND, 2,
					      PCI_COMMAND_MEMORY), -EIO);
	/* Rolled back: the register says MEM, the BAR is not mapped. */
	ck_assert(!pci_dev_bar_mapped(&f->a, 0, NULL));
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR, 4), 0xFFFFFFFF);
	/* The next write retries and succeeds. */
	cfg_wr(f, DEVFN_A, PCI_INTERRUPT_LINE, 1, 9);
	ck_assert(pci_dev_bar_mapped(&f->a, 0, NULL));
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

/* ---- ECAM ------------------------------------------------------------------ */

static int host_read(void *opaque, unsigned bus, unsigned devfn, unsigned reg, unsigned size,
		     uint32_t *val)
{
	struct fx *f = opaque;

	if (bus == 0 && devfn == 0 && reg == 0 && size == 4) {
		*val = 0x29C08086;
		return 0;
	}
	if (bus != 0 || devfn == 0)
		return -ENODEV;
	return pci_bus_config_read(&f->bus, devfn, reg, size, val);
}

static int host_write(void *opaque, unsigned bus, unsigned devfn, unsigned reg, unsigned size,
		      uint32_t val)
{
	struct fx *f = opaque;

	if (bus != 0 || devfn == 0)
		return -ENODEV;
	return pci_bus_config_write(&f->bus, devfn, reg, size, val);
}

START_TEST(test_ecam)
{
	struct fx *f = fx_new();
	struct pci_ecam e;
	uint64_t base = ECAM_BASE, off = (uint64_t)DEVFN_A << 12, commits;
	unsigned ext;

	pci_dev_init(&f->a, "ecam", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar(&f->a, 0, PCI_BAR_MEM32, 4 * KiB, &fake_ops, &f->fa), 0);
	ck_assert_int_eq(pci_dev_add_ext_cap(&f->a, 0x0B, 1, 16, &ext), 0);
	ck_assert_uint_eq(ext, 0x100);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, DEVFN_A), 0);
	ck_assert_int_eq(pci_ecam_init(&e, &f->bus), 0);

	ck_assert_int_eq(pci_ecam_map(&e, base + 4096, 256 * MiB), -EINVAL);
	ck_assert_int_eq(pci_ecam_map(&e, base, 512 * MiB), -EINVAL);
	ck_assert_int_eq(pci_ecam_map(&e, base, 3 * MiB / 2), -EINVAL);
	ck_assert_int_eq(pci_ecam_map(&e, 0xFFFFFFFFFFF00000ULL, 2 * MiB), -EINVAL);
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pci_ecam_map(&e, base, 256 * MiB), 0);
	ck_assert_uint_eq(f->t.n, 1);
	ck_assert_uint_eq(f->t.log[0].gpa, base);
	ck_assert_uint_eq(f->t.log[0].size, 256 * MiB);

	ck_assert_uint_eq(mmio_rd(f, base + off, 4), ((uint32_t)DID << 16) | VID);
	ck_assert_uint_eq(mmio_rd(f, base + off + 2, 2), DID);
	ck_assert_uint_eq(mmio_rd(f, base + off + 1, 1), VID >> 8);
	ck_assert_uint_eq(mmio_rd(f, base + off + 0x100, 4), 0x0001000B);
	/* Absent functions, other buses, misaligned and 8-byte accesses: all-ones. */
	ck_assert_uint_eq(mmio_rd(f, base + ((uint64_t)PCI_DEVFN(9, 0) << 12), 4), 0xFFFFFFFF);
	ck_assert_uint_eq(mmio_rd(f, base + (1ULL << 20) + off, 4), 0xFFFFFFFF);
	ck_assert_uint_eq(mmio_rd(f, base + off + 1, 2), 0xFFFF);
	ck_assert_uint_eq(mmio_rd(f, base + off + 2, 4), 0xFFFFFFFF);
	ck_assert_uint_eq(mmio_rd(f, base + off, 8), ~0ULL);
	ck_assert_uint_eq(mmio_rd(f, base + 256 * MiB - 4, 4), 0xFFFFFFFF);

	/* Writes through ECAM program the device. */
	ck_assert_int_eq(mmio_wr(f, base + off + PCI_BAR0, 4, BAR_ADDR), 0);
	ck_assert_int_eq(mmio_wr(f, base + off + PCI_COMMAND, 2, PCI_COMMAND_MEMORY), 0);
	ck_assert(pci_dev_bar_mapped(&f->a, 0, NULL));
	ck_assert_int_eq(mmio_wr(f, base + off + PCI_COMMAND + 1, 2, 0), -EINVAL);
	ck_assert(pci_dev_bar_mapped(&f->a, 0, NULL));

	/* A move (and a resize) is one commit: del old, add new. */
	mem_trace_clear(&f->t);
	commits = f->s.commits;
	ck_assert_int_eq(pci_ecam_map(&e, 0xE0000000ULL, 64 * MiB), 0);
	ck_assert_uint_eq(f->s.commits, commits + 1);
	ck_assert_uint_eq(f->t.n, 2);
	ck_assert(!f->t.log[0].add);
	ck_assert_uint_eq(f->t.log[0].gpa, base);
	ck_assert(f->t.log[1].add);
	ck_assert_uint_eq(f->t.log[1].gpa, 0xE0000000ULL);
	ck_assert_uint_eq(f->t.log[1].size, 64 * MiB);
	ck_assert_uint_eq(mmio_rd(f, base + off, 4), 0xFFFFFFFF);
	ck_assert_uint_eq(mmio_rd(f, 0xE0000000ULL + off, 2), VID);
	/* Same window again: nothing happens. */
	commits = f->s.commits;
	ck_assert_int_eq(pci_ecam_map(&e, 0xE0000000ULL, 64 * MiB), 0);
	ck_assert_uint_eq(f->s.commits, commits);

	/* Routed through a host (q35-like): devfn 0 answered by it. */
	pci_ecam_set_target(&e, host_read, host_write, f);
	ck_assert_uint_eq(mmio_rd(f, 0xE0000000ULL, 4), 0x29C08086);
	ck_assert_uint_eq(mmio_rd(f, 0xE0000000ULL + off, 2), VID);

	/* The q35 callback shape. */
	pci_ecam_pciexbar_cb(&e, false, 0, 0);
	ck_assert_uint_eq(mmio_rd(f, 0xE0000000ULL + off, 2), 0xFFFF);
	pci_ecam_pciexbar_cb(&e, true, base, 128 * MiB);
	ck_assert_uint_eq(mmio_rd(f, base + off, 2), VID);
	ck_assert_uint_eq(mmio_rd(f, base + 128 * MiB + off, 2), 0xFFFF);
	pci_ecam_destroy(&e);
	ck_assert_uint_eq(mmio_rd(f, base + off, 2), 0xFFFF);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

/* ---- capabilities ------------------------------------------------------------ */

START_TEST(test_cap_chain)
{
	struct fx *f = fx_new();
	unsigned vnd, off, ext1, ext2, seen = 0;
	uint8_t ids[8];
	uint32_t h;

	pci_dev_init(&f->a, "caps", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar(&f->a, 0, PCI_BAR_MEM32, 16 * KiB, NULL, NULL), 0);
	ck_assert_int_eq(pci_dev_add_cap(&f->a, PCI_CAP_ID_VNDR, 14, &vnd), 0);
	ck_assert_uint_eq(vnd, 0x40);
	ck_assert_int_eq(pci_msi_init(&f->a, 4), 0);
	ck_assert_int_eq(pci_msix_init(&f->a, 8, 0, 0, 0, 0x1000), 0);
	ck_assert_int_eq(pci_dev_add_ext_cap(&f->a, 0x0001, 2, 0x30, &ext1), 0);
	ck_assert_int_eq(pci_dev_add_ext_cap(&f->a, 0x000B, 1, 8, &ext2), 0);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, DEVFN_A), 0);
	ck_assert_int_eq(pci_dev_add_cap(&f->a, PCI_CAP_ID_VNDR, 4, &off), -EBUSY);
	ck_assert_int_eq(pci_msi_init(&f->a, 1), -EBUSY);

	ck_assert(cfg_rd(f, DEVFN_A, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	off = cfg_rd(f, DEVFN_A, PCI_CAPABILITY_LIST, 1);
	while (off && seen < ARRAY_SIZE(ids)) {
		ck_assert_uint_ge(off, 0x40);
		ck_assert_uint_eq(off % 4, 0);
		ids[seen++] = (uint8_t)cfg_rd(f, DEVFN_A, off, 1);
		off = cfg_rd(f, DEVFN_A, off + 1, 1);
	}
	ck_assert_uint_eq(seen, 3);
	ck_assert_uint_eq(ids[0], PCI_CAP_ID_VNDR);
	ck_assert_uint_eq(ids[1], PCI_CAP_ID_MSI);
	ck_assert_uint_eq(ids[2], PCI_CAP_ID_MSIX);
	/* Caps do not overlap: MSI starts after the 14-byte vendor cap. */
	ck_assert_uint_eq(f->a.msi.cap, 0x50);
	ck_assert_uint_eq(f->a.msix.cap, 0x68);
	/* The next pointers and IDs are read-only. */
	cfg_wr(f, DEVFN_A, 0x40, 2, 0xFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0x40, 2), 0x5000 | PCI_CAP_ID_VNDR);
	/* MSI-X: table size N-1, BIR 0 / offsets. */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0x68 + PCI_MSIX_FLAGS, 2), 7);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0x68 + PCI_MSIX_TABLE, 4), 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0x68 + PCI_MSIX_PBA, 4), 0x1000);
	/* MSI: 4 vectors capable, 64-bit, per-vector mask. */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0x50 + PCI_MSI_FLAGS, 2), 0x0184);

	/* Extended list. */
	h = cfg_rd(f, DEVFN_A, 0x100, 4);
	ck_assert_uint_eq(h & 0xFFFF, 1);
	ck_assert_uint_eq((h >> 16) & 0xF, 2);
	ck_assert_uint_eq(h >> 20, ext2);
	h = cfg_rd(f, DEVFN_A, ext2, 4);
	ck_assert_uint_eq(h, 0x0001000B);
	fx_free(f);
}
END_TEST

/* ---- MSI-X ---------------------------------------------------------------------- */

#define TBL 0x2000ULL
#define PBA 0x3000ULL

/* BAR0: 16 KiB, device registers at 0-0x1FFF, table (16 vectors) at 0x2000, PBA at 0x3000. */
static void dev_msix(struct fx *f)
{
	pci_dev_init(&f->a, "msix", VID, DID, 0x020000, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar(&f->a, 0, PCI_BAR_MEM32, 16 * KiB, &fake_ops, &f->fa), 0);
	/* Validation first. */
	ck_assert_int_eq(pci_msix_init(&f->a, 0, 0, TBL, 0, PBA), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 2049, 0, TBL, 0, PBA), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 1, TBL, 0, PBA), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 0, TBL + 4, 0, PBA), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 0, 16 * KiB - 128, 0, PBA), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 0, TBL, 0, TBL + 0xF8), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 0, TBL, 0, 16 * KiB), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 0, TBL, 0, ~0ULL - 7), -EINVAL);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 0, TBL, 0, PBA), 0);
	ck_assert_int_eq(pci_msix_init(&f->a, 16, 0, TBL, 0, PBA), -EEXIST);
	ck_assert_int_eq(pci_dev_set_intx_pin(&f->a, 1), 0);
	hooks_for(f, &f->a);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, DEVFN_A), 0);
	f->fa.tbl_lo = TBL;
	f->fa.tbl_hi = TBL + 16 * PCI_MSIX_ENTRY_SIZE;
	f->fa.pba_lo = PBA;
	f->fa.pba_hi = PBA + 8;
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)BAR_ADDR);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void msix_ctrl(struct fx *f, uint16_t v)
{
	cfg_wr(f, DEVFN_A, f->a.msix.cap + PCI_MSIX_FLAGS, 2, v);
}

START_TEST(test_msix_table)
{
	struct fx *f = fx_new();
	uint64_t e1 = BAR_ADDR + TBL + 16;

	dev_msix(f);
	/* Reset state: zero message, masked. */
	ck_assert_uint_eq(mmio_rd(f, e1 + PCI_MSIX_ENTRY_CTRL, 4), 1);
	ck_assert_uint_eq(mmio_rd(f, e1, 8), 0);
	ck_assert_int_eq(mmio_wr(f, e1, 4, 0xFEE01003), 0); /* low bits read 0 */
	ck_assert_int_eq(mmio_wr(f, e1 + 4, 4, 0x1), 0);
	ck_assert_int_eq(mmio_wr(f, e1 + 8, 8, 0xFFFFFFFE00004041ULL), 0); /* data + ctrl */
	ck_assert_uint_eq(mmio_rd(f, e1, 4), 0xFEE01000);
	ck_assert_uint_eq(mmio_rd(f, e1, 8), 0x1FEE01000ULL);
	ck_assert_uint_eq(mmio_rd(f, e1 + 8, 4), 0x4041);
	ck_assert_uint_eq(mmio_rd(f, e1 + 12, 4), 0); /* reserved bits dropped, unmasked */

	/* Refused: narrow, misaligned. Reads all-ones, writes change nothing. */
	ck_assert_uint_eq(mmio_rd(f, e1 + 8, 2), 0xFFFF);
	ck_assert_uint_eq(mmio_rd(f, e1 + 8, 1), 0xFF);
	ck_assert_uint_eq(mmio_rd(f, e1 + 2, 4), 0xFFFFFFFF);
	ck_assert_uint_eq(mmio_rd(f, e1 + 4, 8), ~0ULL);
	ck_assert_int_ne(mmio_wr(f, e1 + 8, 2, 0), 0);
	ck_assert_int_ne(mmio_wr(f, e1 + 10, 4, 0), 0);
	ck_assert_uint_eq(mmio_rd(f, e1 + 8, 4), 0x4041);
	/* PBA is read-only. */
	ck_assert_int_eq(mmio_wr(f, BAR_ADDR + PBA, 8, ~0ULL), 0);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA, 8), 0);

	/* The device's own region never sees the MSI-X ranges... */
	ck_assert(!f->fa.saw_msix);
	/* ...but gets everything around them, including past the table's end. */
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + TBL + 16 * 16, 4),
			  (uint32_t)(0xA5A5A5A5 ^ (TBL + 256)));
	ck_assert_uint_eq(f->fa.last_off, TBL + 256);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + 0x100, 2), (0xA5A5 ^ 0x100) & 0xFFFF);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA + 8, 4), (uint32_t)(0xA5A5A5A5 ^ (PBA + 8)));
	ck_assert(!f->fa.saw_msix);
	/* A move of the BAR carries the table along. */
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)(BAR_ADDR + 0x100000));
	ck_assert_uint_eq(mmio_rd(f, e1 + 0x100000, 4), 0xFEE01000);
	ck_assert_uint_eq(mmio_rd(f, e1, 4), 0xFFFFFFFF);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_msix_delivery)
{
	struct fx *f = fx_new();
	uint64_t e3 = BAR_ADDR + TBL + 3 * 16;
	unsigned changes;

	dev_msix(f);
	ck_assert_int_eq(pci_msix_notify(&f->a, 3), -ENOTCONN); /* not enabled */
	ck_assert_int_eq(pci_msix_notify(&f->a, 16), -EINVAL);
	ck_assert_int_eq(pci_msix_notify(&f->a, ~0u), -EINVAL);
	ck_assert_int_eq(pci_dev_irq_mode(&f->a), PCI_IRQ_INTX);

	ck_assert_int_eq(mmio_wr(f, e3, 8, 0xFEE00000ULL), 0);
	ck_assert_int_eq(mmio_wr(f, e3 + 8, 4, 0x23), 0);
	/* Address and data changes are reported even while masked (enable is off). */
	ck_assert_uint_eq(f->mr.changes, 2);
	ck_assert(f->mr.last_msg.masked);
	ck_assert_uint_eq(f->mr.last_msg.data, 0x23);
	msix_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(pci_dev_irq_mode(&f->a), PCI_IRQ_MSIX);
	ck_assert(pci_msix_vector_masked(&f->a, 3));

	/* Masked vector: the PBA bit is set, nothing sent. */
	ck_assert_int_eq(pci_msix_notify(&f->a, 3), 0);
	ck_assert_uint_eq(f->mr.sends, 0);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA, 8), 1u << 3);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA, 4), 1u << 3);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA + 4, 4), 0);

	/* Unmask: the owner hears of the route, the pending message goes out. */
	changes = f->mr.changes;
	ck_assert_int_eq(mmio_wr(f, e3 + 12, 4, 0), 0);
	ck_assert_uint_eq(f->mr.changes, changes + 1);
	ck_assert(f->mr.last_msix);
	ck_assert_uint_eq(f->mr.last_vector, 3);
	ck_assert_uint_eq(f->mr.last_msg.addr, 0xFEE00000ULL);
	ck_assert_uint_eq(f->mr.last_msg.data, 0x23);
	ck_assert(!f->mr.last_msg.masked);
	ck_assert_uint_eq(f->mr.sends, 1);
	ck_assert_uint_eq(f->mr.addr, 0xFEE00000ULL);
	ck_assert_uint_eq(f->mr.data, 0x23);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA, 8), 0);

	/* Unmasked: straight out. */
	ck_assert_int_eq(pci_msix_notify(&f->a, 3), 0);
	ck_assert_uint_eq(f->mr.sends, 2);
	/* Rewriting the same entry reports nothing. */
	changes = f->mr.changes;
	ck_assert_int_eq(mmio_wr(f, e3 + 8, 4, 0x23), 0);
	ck_assert_uint_eq(f->mr.changes, changes);

	/* Function mask: pending, then delivered when it clears. */
	msix_ctrl(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	ck_assert(f->mr.last_msg.masked);
	ck_assert_int_eq(pci_msix_notify(&f->a, 3), 0);
	ck_assert_uint_eq(f->mr.sends, 2);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA, 8), 1u << 3);
	msix_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_uint_eq(f->mr.sends, 3);
	ck_assert_uint_eq(mmio_rd(f, BAR_ADDR + PBA, 8), 0);
	/* The table size field is read-only. */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, f->a.msix.cap + PCI_MSIX_FLAGS, 2),
			  PCI_MSIX_FLAGS_ENABLE | 15);

	/* MSI-X enabled blocks INTx. */
	pci_dev_set_irq(&f->a, 1);
	ck_assert_int_eq(f->ir.level[pci_intx_gsi(3, 0)], 0);
	ck_assert(cfg_rd(f, DEVFN_A, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	msix_ctrl(f, 0);
	ck_assert_int_eq(f->ir.level[pci_intx_gsi(3, 0)], 1);
	ck_assert_int_eq(pci_msix_notify(&f->a, 3), -ENOTCONN);
	pci_dev_set_irq(&f->a, 0);
	ck_assert_int_eq(f->ir.level[pci_intx_gsi(3, 0)], 0);
	fx_free(f);
}
END_TEST

/* ---- MSI ------------------------------------------------------------------------ */

START_TEST(test_msi)
{
	struct fx *f = fx_new();
	unsigned c;

	pci_dev_init(&f->a, "msi", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_msi_init(&f->a, 3), -EINVAL);
	ck_assert_int_eq(pci_msi_init(&f->a, 64), -EINVAL);
	ck_assert_int_eq(pci_msi_init(&f->a, 4), 0);
	hooks_for(f, &f->a);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, DEVFN_A), 0);
	c = f->a.msi.cap;
	ck_assert_int_eq(pci_msi_notify(&f->a, 0), -ENOTCONN);

	cfg_wr(f, DEVFN_A, c + PCI_MSI_ADDRESS_LO, 4, 0xFEE0F00F);
	cfg_wr(f, DEVFN_A, c + PCI_MSI_ADDRESS_HI, 4, 0);
	cfg_wr(f, DEVFN_A, c + PCI_MSI_DATA, 4, 0xFFFF0040); /* extended data is not writable */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, c + PCI_MSI_ADDRESS_LO, 4), 0xFEE0F00C);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, c + PCI_MSI_DATA, 4), 0x0040);
	/* Enable with MME = 2 (4 vectors); capability bits stay. */
	cfg_wr(f, DEVFN_A, c + PCI_MSI_FLAGS, 2, 0xFFFF & (PCI_MSI_FLAGS_ENABLE | (2 << 4) | 0xFE00));
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, c + PCI_MSI_FLAGS, 2), 0x01A5);
	ck_assert_int_eq(pci_dev_irq_mode(&f->a), PCI_IRQ_MSI);
	ck_assert_int_eq(pci_msi_notify(&f->a, 2), 0);
	ck_assert_uint_eq(f->mr.sends, 1);
	ck_assert_uint_eq(f->mr.addr, 0xFEE0F00CULL);
	ck_assert_uint_eq(f->mr.data, 0x42);
	ck_assert_int_eq(pci_msi_notify(&f->a, 4), -EINVAL);
	ck_assert_int_eq(pci_msi_notify(&f->a, 99), -EINVAL);

	/* Per-vector mask: pending bit, then delivery on unmask. */
	cfg_wr(f, DEVFN_A, c + PCI_MSI_MASK, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, c + PCI_MSI_MASK, 4), 0xF);
	ck_assert(f->mr.last_msg.masked);
	ck_assert_int_eq(pci_msi_notify(&f->a, 1), 0);
	ck_assert_uint_eq(f->mr.sends, 1);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, c + PCI_MSI_PENDING, 4), 0x2);
	cfg_wr(f, DEVFN_A, c + PCI_MSI_PENDING, 4, 0); /* read-only */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, c + PCI_MSI_PENDING, 4), 0x2);
	cfg_wr(f, DEVFN_A, c + PCI_MSI_MASK, 4, 0xD);
	ck_assert_uint_eq(f->mr.sends, 2);
	ck_assert_uint_eq(f->mr.data, 0x41);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, c + PCI_MSI_PENDING, 4), 0);
	ck_assert(!f->mr.last_msix);
	/* An MME beyond what is offered is capped at the capability. */
	cfg_wr(f, DEVFN_A, c + PCI_MSI_MASK, 4, 0);
	cfg_wr(f, DEVFN_A, c + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | (7 << 4));
	ck_assert_int_eq(pci_msi_notify(&f->a, 3), 0);
	ck_assert_uint_eq(f->mr.data, 0x43);
	ck_assert_int_eq(pci_msi_notify(&f->a, 4), -EINVAL);
	fx_free(f);
}
END_TEST

/* ---- INTx --------------------------------------------------------------------- */

START_TEST(test_intx)
{
	struct fx *f = fx_new();
	struct pci_dev b, c;
	struct fake fb = { 0 };
	unsigned g;

	ck_assert_uint_eq(pci_intx_gsi(0, 0), 16);
	ck_assert_uint_eq(pci_intx_gsi(1, 0), 17);
	ck_assert_uint_eq(pci_intx_gsi(3, 0), 19);
	ck_assert_uint_eq(pci_intx_gsi(3, 1), 16);
	ck_assert_uint_eq(pci_intx_gsi(4, 3), 19);
	ck_assert_uint_eq(pci_intx_gsi(31, 3), 18);

	dev_plain(f, &f->a, &f->fa, DEVFN_A);
	g = pci_intx_gsi(3, 0);
	pci_dev_set_irq(&f->a, 1);
	ck_assert_int_eq(f->ir.level[g], 1);
	ck_assert(cfg_rd(f, DEVFN_A, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* INTx disable drops the line, the status bit stays. */
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	ck_assert_int_eq(f->ir.level[g], 0);
	ck_assert(cfg_rd(f, DEVFN_A, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_dev_set_irq(&f->a, 0);
	pci_dev_set_irq(&f->a, 1);
	ck_assert_int_eq(f->ir.level[g], 0);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, 0);
	ck_assert_int_eq(f->ir.level[g], 1);

	/* Slot 7 INTA shares GSI 19 (7 % 4 == 3): the wire-OR keeps it up. */
	dev_plain(f, &b, &fb, PCI_DEVFN(7, 0));
	ck_assert_uint_eq(pci_intx_gsi(7, 0), g);
	pci_dev_set_irq(&b, 1);
	pci_dev_set_irq(&f->a, 0);
	ck_assert_int_eq(f->ir.level[g], 1);
	pci_dev_set_irq(&b, 0);
	ck_assert_int_eq(f->ir.level[g], 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	/* Repeated levels make no extra calls. */
	f->ir.calls = 0;
	pci_dev_set_irq(&b, 0);
	pci_dev_set_irq(&b, 1);
	pci_dev_set_irq(&b, 1);
	ck_assert_uint_eq(f->ir.calls, 1);
	/* Removing an asserting device releases its vote. */
	ck_assert_int_eq(pci_bus_remove(&f->bus, &b), 0);
	ck_assert_int_eq(f->ir.level[g], 0);
	pci_dev_destroy(&b);

	/* No pin: never drives anything. */
	pci_dev_init(&c, "nopin", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_bus_add(&f->bus, &c, PCI_DEVFN(8, 0)), 0);
	f->ir.calls = 0;
	pci_dev_set_irq(&c, 1);
	ck_assert_uint_eq(f->ir.calls, 0);
	ck_assert(cfg_rd(f, PCI_DEVFN(8, 0), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_dev_destroy(&c);
	fx_free(f);
}
END_TEST

/* ---- ROM, reset ---------------------------------------------------------------- */

START_TEST(test_rom)
{
	struct fx *f = fx_new();
	uint8_t blob[3000];
	uint64_t rom = 0xC0100000ULL;

	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7);
	blob[0] = 0x55;
	blob[1] = 0xAA;
	pci_dev_init(&f->a, "rom", VID, DID, 0, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_rom(&f->a, blob, sizeof(blob)), 0);
	ck_assert_int_eq(pci_dev_set_rom(&f->a, blob, sizeof(blob)), -EEXIST);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, DEVFN_A), 0);
	cfg_wr(f, DEVFN_A, PCI_ROM_ADDRESS, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_ROM_ADDRESS, 4), 0xFFFFF001); /* 4 KiB */
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert(!f->a.rom_mapped); /* the sizing pattern ends at 4 GiB */
	cfg_wr(f, DEVFN_A, PCI_ROM_ADDRESS, 4, (uint32_t)rom);
	ck_assert(!f->a.rom_mapped); /* enable bit clear */
	cfg_wr(f, DEVFN_A, PCI_ROM_ADDRESS, 4, (uint32_t)rom | PCI_ROM_ENABLE);
	ck_assert(f->a.rom_mapped);
	ck_assert_uint_eq(mmio_rd(f, rom, 2), 0xAA55);
	ck_assert_uint_eq(mmio_rd(f, rom + 100, 1), (uint8_t)(100 * 7));
	ck_assert_uint_eq(mmio_rd(f, rom + 4095, 1), 0); /* padding */
	ck_assert_int_eq(mmio_wr(f, rom, 4, 0), 0);
	ck_assert_uint_eq(mmio_rd(f, rom, 2), 0xAA55);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, 0);
	ck_assert(!f->a.rom_mapped);
	ck_assert_uint_eq(mmio_rd(f, rom, 2), 0xFFFF);
	fx_free(f);
}
END_TEST

static unsigned reset_calls;

static void dev_reset_hook(struct pci_dev *dev)
{
	(void)dev;
	reset_calls++;
}

static const struct pci_dev_ops reset_ops = { .reset = dev_reset_hook };

START_TEST(test_reset)
{
	struct fx *f = fx_new();
	uint64_t e0 = BAR_ADDR + TBL;

	dev_msix(f);
	f->a.ops = &reset_ops;
	reset_calls = 0;
	ck_assert_int_eq(mmio_wr(f, e0 + 12, 4, 0), 0);
	msix_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	cfg_wr(f, DEVFN_A, PCI_INTERRUPT_LINE, 1, 0x77);
	pci_dev_set_irq(&f->a, 1);
	ck_assert(pci_dev_bar_mapped(&f->a, 0, NULL));
	pci_bus_reset(&f->bus);
	ck_assert_uint_eq(reset_calls, 1);
	ck_assert(!pci_dev_bar_mapped(&f->a, 0, NULL));
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_COMMAND, 2), 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_BAR0, 4), 0);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(3, 0));
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, f->a.msix.cap + PCI_MSIX_FLAGS, 2), 15);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	ck_assert_int_eq(f->ir.level[pci_intx_gsi(3, 0)], 0);
	ck_assert(f->mr.last_msg.masked);
	ck_assert(pci_msix_vector_masked(&f->a, 0));
	/* The table is back to masked: visible once the BAR is placed again. */
	cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)BAR_ADDR);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(mmio_rd(f, e0 + 12, 4), 1);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

/* ---- device hooks ------------------------------------------------------------- */

struct hooked {
	struct pci_dev dev;
	uint32_t scratch;
	unsigned cmd_changes;
	uint16_t last_cmd;
};

static bool hk_read(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t *val)
{
	struct hooked *h = container_of(dev, struct hooked, dev);

	if (reg < 0x80 || reg >= 0x84)
		return false;
	*val = (h->scratch >> (8 * (reg - 0x80))) & (uint32_t)access_ones(size);
	return true;
}

static bool hk_write(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t val)
{
	struct hooked *h = container_of(dev, struct hooked, dev);

	if (reg == 0x80 && size == 4) {
		h->scratch = val;
		return true;
	}
	return false;
}

static void hk_cmd(struct pci_dev *dev, uint16_t old_cmd, uint16_t cmd)
{
	struct hooked *h = container_of(dev, struct hooked, dev);

	(void)old_cmd;
	h->cmd_changes++;
	h->last_cmd = cmd;
	/* Hooks run under the bus lock and may call back into the core. */
	ck_assert_uint_eq(pci_dev_command(dev), cmd);
}

static const struct pci_dev_ops hk_ops = {
	.config_read = hk_read,
	.config_write = hk_write,
	.command_changed = hk_cmd,
};

START_TEST(test_hooks)
{
	struct fx *f = fx_new();
	struct hooked *h = calloc(1, sizeof(*h));

	ck_assert_ptr_nonnull(h);
	pci_dev_init(&h->dev, "hooked", VID, DID, 0, 0, &hk_ops, h);
	ck_assert_int_eq(pci_bus_add(&f->bus, &h->dev, DEVFN_A), 0);
	cfg_wr(f, DEVFN_A, 0x80, 4, 0xCAFEF00D);
	ck_assert_uint_eq(h->scratch, 0xCAFEF00D);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0x80, 4), 0xCAFEF00D);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0x82, 2), 0xCAFE);
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0, 2), VID); /* default path */
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	ck_assert_uint_eq(h->cmd_changes, 1);
	ck_assert_uint_eq(h->last_cmd, PCI_COMMAND_MASTER);
	cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	ck_assert_uint_eq(h->cmd_changes, 1);
	pci_dev_destroy(&h->dev);
	free(h);
	fx_free(f);
}
END_TEST

/* ---- fuzz ------------------------------------------------------------------------ */

/* What the registers say BAR @n should decode, computed independently of the core. */
static bool expect_bar(struct fx *f, unsigned n, uint64_t size, bool is64, bool io,
		       uint64_t *addr)
{
	uint16_t cmd = (uint16_t)cfg_rd(f, DEVFN_A, PCI_COMMAND, 2);
	uint64_t a = cfg_rd(f, DEVFN_A, PCI_BAR0 + 4 * n, 4);

	if (io) {
		a &= ~3ULL;
		if (!(cmd & PCI_COMMAND_IO) || a == 0 || a + size > 0x10000)
			return false;
		*addr = a;
		return true;
	}
	a &= ~0xFULL;
	if (is64)
		a |= (uint64_t)cfg_rd(f, DEVFN_A, PCI_BAR0 + 4 * n + 4, 4) << 32;
	if (!(cmd & PCI_COMMAND_MEMORY) || a == 0 || a + size < a)
		return false;
	if (!is64 && a + size >= 0x100000000ULL)
		return false;
	if (a + size > (1ULL << 40))
		return false;
	*addr = a;
	return true;
}

static bool pci_cfg_args_ok_for_test(unsigned reg, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && reg < PCI_CFG_SIZE && reg % size == 0;
}

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

START_TEST(test_fuzz_config)
{
	struct fx *f = fx_new();
	static const unsigned sizes[] = { 1, 2, 4, 3, 8, 0 };
	uint8_t blob[5000] = { 0x55, 0xAA };
	unsigned seed = 12345, i, seen_mapped[5] = { 0 }, sends;
	struct pci_ecam e;

	pci_dev_init(&f->a, "fuzz", VID, DID, 0x020000, 0, NULL, NULL);
	ck_assert_int_eq(pci_dev_set_bar(&f->a, 0, PCI_BAR_MEM32, 16 * KiB, &fake_ops, &f->fa), 0);
	ck_assert_int_eq(pci_dev_set_bar(&f->a, 1, PCI_BAR_IO, 64, &fake_ops, &f->fa), 0);
	ck_assert_int_eq(pci_dev_set_bar(&f->a, 2, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, 4 * MiB,
					 &fake_ops, &f->fa), 0);
	ck_assert_int_eq(pci_dev_set_bar(&f->a, 4, PCI_BAR_MEM64, 64 * KiB, NULL, NULL), 0);
	ck_assert_int_eq(pci_msix_init(&f->a, 40, 0, TBL, 4, 0x8000), 0);
	ck_assert_int_eq(pci_msi_init(&f->a, 8), 0);
	ck_assert_int_eq(pci_dev_set_rom(&f->a, blob, sizeof(blob)), 0);
	ck_assert_int_eq(pci_dev_set_intx_pin(&f->a, 2), 0);
	hooks_for(f, &f->a);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->a, DEVFN_A), 0);
	ck_assert_int_eq(pci_ecam_init(&e, &f->bus), 0);
	ck_assert_int_eq(pci_ecam_map(&e, ECAM_BASE, 256 * MiB), 0);

	for (i = 0; i < 60000; i++) {
		unsigned size = sizes[rnd(&seed) % ARRAY_SIZE(sizes)];
		unsigned reg = rnd(&seed) % 4200;
		uint32_t val = rnd(&seed) ^ (rnd(&seed) << 16);
		uint64_t v64;
		int ret;

		/* Bias towards the interesting registers, with plausible addresses. */
		switch (rnd(&seed) % 8) {
		case 0:
			reg = PCI_COMMAND;
			size = 2;
			break;
		case 1:
			reg = PCI_BAR0 + 4 * (rnd(&seed) % 6);
			size = 4;
			if (rnd(&seed) % 2 == 0)
				break;
			if (reg == PCI_BAR0 + 4)
				val = 0xC000u + (rnd(&seed) % 0x40) * 0x40u;   /* ports */
			else if (reg == PCI_BAR0 + 12 || reg == PCI_BAR0 + 20)
				val = rnd(&seed) % 0x101;   /* high dwords around 2^40 */
			else
				val = 0xC0000000u + (rnd(&seed) % 0x100) * 0x10000u;
			break;
		case 2:
			reg = f->a.msix.cap + (rnd(&seed) % PCI_MSIX_CAP_SIZE);
			break;
		case 3:
			reg = PCI_ROM_ADDRESS;
			size = 4;
			break;
		default:
			break;
		}
		if (rnd(&seed) % 4 == 0) {
			/* Through ECAM, at any width and alignment. */
			v64 = val;
			(void)mem_dispatch(&f->s, ECAM_BASE + ((uint64_t)DEVFN_A << 12) + reg,
					   size, true, &v64);
		} else {
			ret = pci_bus_config_write(&f->bus, DEVFN_A, reg, size, val);
			if (!pci_cfg_args_ok_for_test(reg, size))
				ck_assert_int_eq(ret, -EINVAL);
		}
		/* Random MMIO into the MSI-X window and notifications. */
		if (rnd(&seed) % 4 == 0) {
			uint64_t at;

			if (pci_dev_bar_mapped(&f->a, 0, &at)) {
				v64 = rnd(&seed);
				(void)mem_dispatch(&f->s, at + TBL + rnd(&seed) % (40 * 16 + 8),
						   sizes[rnd(&seed) % 6], rnd(&seed) % 2, &v64);
			}
			(void)pci_msix_notify(&f->a, rnd(&seed) % 48);
			(void)pci_msi_notify(&f->a, rnd(&seed) % 40);
			pci_dev_set_irq(&f->a, rnd(&seed) % 2);
		}
		if (i % 97 == 0) {
			static const uint64_t bsz[] = { 16 * KiB, 64, 4 * MiB, 0, 64 * KiB };
			static const bool b64[] = { false, false, true, false, true };
			uint64_t want = 0, got = 0;

			for (unsigned n = 0; n < 5; n++) {
				bool exp, have;

				if (!bsz[n])
					continue;
				exp = expect_bar(f, n, bsz[n], b64[n], n == 1, &want);
				have = pci_dev_bar_mapped(&f->a, n, &got);
				ck_assert_int_eq(exp, have);
				if (exp)
					ck_assert_uint_eq(want, got);
				seen_mapped[n] += have;
			}
			ck_assert(mem_trace_matches_view(&f->t, &f->s));
			ck_assert_uint_eq(f->t.bad, 0);
		}
	}
	/* The run reached the decoded states it claims to check. */
	ck_assert_uint_gt(seen_mapped[0], 10);
	ck_assert_uint_gt(seen_mapped[1], 10);
	ck_assert_uint_gt(seen_mapped[2], 10);
	sends = f->mr.sends;
	ck_assert_uint_gt(sends, 0);
	/* After all of it, the device still answers with its IDs and resets cleanly. */
	ck_assert_uint_eq(cfg_rd(f, DEVFN_A, 0, 4), ((uint32_t)DID << 16) | VID);
	pci_dev_reset(&f->a);
	for (unsigned n = 0; n < 6; n++)
		ck_assert(!pci_dev_bar_mapped(&f->a, n, NULL));
	pci_ecam_destroy(&e);
	fx_free(f);
}
END_TEST

/* ---- concurrency ------------------------------------------------------------------ */

struct race {
	struct fx *f;
	volatile bool stop;
};

static void *race_reader(void *arg)
{
	struct race *r = arg;
	uint64_t v;

	while (!r->stop) {
		(void)mem_dispatch(&r->f->s, BAR_ADDR + 8, 4, false, &v);
		(void)mem_dispatch(&r->f->s, BAR_ADDR + 0x10000 + TBL, 4, false, &v);
		(void)pci_msix_notify(&r->f->a, 1);
	}
	return NULL;
}

START_TEST(test_concurrent_remap)
{
	struct fx *f = fx_new();
	struct race r = { .f = f };
	pthread_t th;
	unsigned i;

	dev_msix(f);
	msix_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(pthread_create(&th, NULL, race_reader, &r), 0);
	for (i = 0; i < 2000; i++) {
		cfg_wr(f, DEVFN_A, PCI_BAR0, 4, (uint32_t)(BAR_ADDR + (i % 2) * 0x10000));
		if (i % 3 == 0)
			cfg_wr(f, DEVFN_A, PCI_COMMAND, 2, (i % 2) ? 0 : PCI_COMMAND_MEMORY);
	}
	r.stop = true;
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

static Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_config_ids);
	tcase_add_test(tc, test_command_status);
	tcase_add_test(tc, test_bar_sizing);
	tcase_add_test(tc, test_bar_setup_validation);
	tcase_add_test(tc, test_bar_placement);
	tcase_add_test(tc, test_bar_rules);
	tcase_add_test(tc, test_io_bar);
	tcase_add_test(tc, test_bar_region);
	tcase_add_test(tc, test_listener_failure);
	tcase_add_test(tc, test_ecam);
	tcase_add_test(tc, test_cap_chain);
	tcase_add_test(tc, test_msix_table);
	tcase_add_test(tc, test_msix_delivery);
	tcase_add_test(tc, test_msi);
	tcase_add_test(tc, test_intx);
	tcase_add_test(tc, test_rom);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_hooks);
	tcase_add_test(tc, test_fuzz_config);
	tcase_add_test(tc, test_concurrent_remap);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(pci_suite);
