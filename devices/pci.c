/*
 * devices/pci.c - the PCI core: configuration space virtualization, BAR
 * placement, expansion ROM, capabilities, MSI-X, MSI, INTx and ECAM. See
 * devices/pci.h for the contract.
 *
 * Every guest-visible register lives in dev->cfg; wmask and w1cmask say
 * which bits a guest write may set or clear. After each write the core
 * recomputes what the device should decode (pci_dev_remap) and what each
 * message vector looks like (pci_msix_vector_update/pci_msi_vector_update),
 * and acts only on differences: an unchanged BAR costs no transaction, an
 * unchanged vector no callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/log.h"
#include "devices/pci.h"

#define PCI_ROM_MIN       (2 * KiB)
#define PCI_4G            0x100000000ULL
#define PCI_ECAM_BUS_SHIFT 20
#define PCI_ECAM_MAX      (256 * MiB)

static bool pci_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Size, alignment and range of a configuration access. */
static bool pci_cfg_args_ok(unsigned reg, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && reg < PCI_CFG_SIZE && !(reg % size);
}

static void pci_lock(struct pci_dev *dev)
{
	if (dev->bus)
		pthread_mutex_lock(&dev->bus->lock);
}

static void pci_unlock(struct pci_dev *dev)
{
	if (dev->bus)
		pthread_mutex_unlock(&dev->bus->lock);
}

static uint16_t pci_cmd(const struct pci_dev *dev)
{
	return get_le16(dev->cfg + PCI_COMMAND);
}

/* ---- INTx ---------------------------------------------------------------- */

static bool pci_msix_enabled(const struct pci_dev *dev)
{
	return dev->msix.nr &&
	       (get_le16(dev->cfg + dev->msix.cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE);
}

static bool pci_msi_enabled(const struct pci_dev *dev)
{
	return dev->msi.nr &&
	       (get_le16(dev->cfg + dev->msi.cap + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE);
}

/* Add or remove this function's vote on its shared GSI. Bus lock held. */
static void pci_intx_vote(struct pci_dev *dev, bool assert)
{
	struct pci_bus *bus = dev->bus;
	unsigned pin = dev->cfg[PCI_INTERRUPT_PIN];
	unsigned gsi, i;

	/* Only a function with a valid pin ever asserts, so pin - 1 is 0..3 here. */
	if (assert == dev->intx_asserted || pin < 1 || pin > 4)
		return;
	gsi = pci_intx_gsi(PCI_SLOT(dev->devfn), pin - 1);
	i = gsi - 16;
	dev->intx_asserted = assert;
	if (assert) {
		if (bus->intx_count[i]++ == 0 && bus->intx.set_level)
			bus->intx.set_level(bus->intx.opaque, gsi, 1);
	} else {
		if (--bus->intx_count[i] == 0 && bus->intx.set_level)
			bus->intx.set_level(bus->intx.opaque, gsi, 0);
	}
}

/* Status bit 3 follows the level; the line follows it unless blocked. */
static void pci_intx_update(struct pci_dev *dev)
{
	unsigned pin = dev->cfg[PCI_INTERRUPT_PIN];
	uint16_t st = get_le16(dev->cfg + PCI_STATUS);
	bool want;

	st = dev->intx_level ? (st | PCI_STATUS_INTERRUPT) : (st & ~PCI_STATUS_INTERRUPT);
	put_le16(dev->cfg + PCI_STATUS, st);
	if (!dev->bus)
		return;
	want = dev->intx_level && pin >= 1 && pin <= 4 &&
	       !(pci_cmd(dev) & PCI_COMMAND_INTX_DISABLE) && !pci_msi_enabled(dev) &&
	       !pci_msix_enabled(dev);
	pci_intx_vote(dev, want);
}

void pci_dev_set_irq(struct pci_dev *dev, int level)
{
	if (!dev || !dev->ready)
		return;
	pci_lock(dev);
	dev->intx_level = level != 0;
	pci_intx_update(dev);
	pci_unlock(dev);
}

/* ---- MSI-X ---------------------------------------------------------------- */

static bool pci_msg_equal(const struct pci_msi_msg *a, const struct pci_msi_msg *b)
{
	return a->addr == b->addr && a->data == b->data && a->masked == b->masked;
}

static void pci_msi_report(struct pci_dev *dev, bool msix, unsigned v, struct pci_msi_msg *last,
			   const struct pci_msi_msg *m)
{
	if (pci_msg_equal(last, m))
		return;
	*last = *m;
	if (dev->msi_hooks.vector_changed)
		dev->msi_hooks.vector_changed(dev->msi_hooks.opaque, dev, msix, v, m);
}

static void pci_msi_send(struct pci_dev *dev, const struct pci_msi_msg *m)
{
	if (dev->msi_hooks.send)
		dev->msi_hooks.send(dev->msi_hooks.opaque, m->addr, m->data);
}

static void pci_msix_msg(const struct pci_dev *dev, unsigned v, struct pci_msi_msg *m)
{
	const uint8_t *e = dev->msix.table + (size_t)v * PCI_MSIX_ENTRY_SIZE;
	uint16_t ctrl = get_le16(dev->cfg + dev->msix.cap + PCI_MSIX_FLAGS);

	m->addr = get_le32(e + PCI_MSIX_ENTRY_ADDR_LO) |
		  ((uint64_t)get_le32(e + PCI_MSIX_ENTRY_ADDR_HI) << 32);
	m->data = get_le32(e + PCI_MSIX_ENTRY_DATA);
	m->masked = !(ctrl & PCI_MSIX_FLAGS_ENABLE) || (ctrl & PCI_MSIX_FLAGS_MASKALL) ||
		    (get_le32(e + PCI_MSIX_ENTRY_CTRL) & PCI_MSIX_ENTRY_MASKED);
}

static bool pci_msix_pending(const struct pci_dev *dev, unsigned v)
{
	return (dev->msix.pba[v / 64] >> (v % 64)) & 1;
}

/* Report a changed vector, and send its pending message once it is unmasked. */
static void pci_msix_vector_update(struct pci_dev *dev, unsigned v)
{
	struct pci_msi_msg m;

	pci_msix_msg(dev, v, &m);
	pci_msi_report(dev, true, v, &dev->msix.last[v], &m);
	if (!m.masked && pci_msix_pending(dev, v)) {
		dev->msix.pba[v / 64] &= ~(1ULL << (v % 64));
		pci_msi_send(dev, &m);
	}
}

static void pci_msix_update_all(struct pci_dev *dev)
{
	unsigned v;

	for (v = 0; v < dev->msix.nr; v++)
		pci_msix_vector_update(dev, v);
}

/* Table and PBA: dword or qword, naturally aligned, inside @len. */
static bool pci_msix_access_ok(uint64_t off, unsigned size, uint64_t len)
{
	return (size == 4 || size == 8) && !(off % size) && range_within(off, size, 0, len);
}

static int pci_msix_table_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct pci_dev *dev = opaque;
	uint64_t v = 0;
	unsigned i;

	if (!pci_msix_access_ok(off, size, (uint64_t)dev->msix.nr * PCI_MSIX_ENTRY_SIZE))
		return -EINVAL;
	pci_lock(dev);
	for (i = 0; i < size; i++)
		v |= (uint64_t)dev->msix.table[off + i] << (8 * i);
	pci_unlock(dev);
	*val = v;
	return 0;
}

static int pci_msix_table_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pci_dev *dev = opaque;
	unsigned i;

	if (!pci_msix_access_ok(off, size, (uint64_t)dev->msix.nr * PCI_MSIX_ENTRY_SIZE))
		return -EINVAL;
	pci_lock(dev);
	/* One dword at a time; a qword never leaves its 16-byte entry. */
	for (i = 0; i < size / 4; i++) {
		uint64_t o = off + 4 * i;
		uint32_t d = (uint32_t)(val >> (32 * i));
		uint8_t *p = dev->msix.table + o;

		switch (o % PCI_MSIX_ENTRY_SIZE) {
		case PCI_MSIX_ENTRY_ADDR_LO:
			d &= ~3U; /* dword-aligned message address: bits 1:0 read 0 */
			break;
		case PCI_MSIX_ENTRY_CTRL:
			d &= PCI_MSIX_ENTRY_MASKED; /* other bits reserved, read 0 */
			break;
		default:
			break;
		}
		put_le32(p, d);
	}
	pci_msix_vector_update(dev, (unsigned)(off / PCI_MSIX_ENTRY_SIZE));
	pci_unlock(dev);
	return 0;
}

static const struct access_ops pci_msix_table_ops = {
	.read = pci_msix_table_read,
	.write = pci_msix_table_write,
	.min_size = 4,
	.max_size = 8,
};

static uint64_t pci_msix_pba_len(unsigned nr)
{
	return (uint64_t)((nr + 63) / 64) * 8;
}

static int pci_msix_pba_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct pci_dev *dev = opaque;
	uint64_t w;

	if (!pci_msix_access_ok(off, size, pci_msix_pba_len(dev->msix.nr)))
		return -EINVAL;
	pci_lock(dev);
	w = dev->msix.pba[off / 8];
	pci_unlock(dev);
	*val = size == 8 ? w : (uint32_t)(w >> (8 * (off % 8)));
	return 0;
}

static int pci_msix_pba_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pci_dev *dev = opaque;

	(void)val;
	/* Read-only: a write is dropped, but a malformed one is still refused. */
	return pci_msix_access_ok(off, size, pci_msix_pba_len(dev->msix.nr)) ? 0 : -EINVAL;
}

static const struct access_ops pci_msix_pba_ops = {
	.read = pci_msix_pba_read,
	.write = pci_msix_pba_write,
	.min_size = 4,
	.max_size = 8,
};

int pci_msix_notify(struct pci_dev *dev, unsigned vector)
{
	struct pci_msi_msg m;
	int ret = 0;

	if (!dev || !dev->ready)
		return -EINVAL;
	if (!dev->bus)
		return -ENODEV;
	if (vector >= dev->msix.nr)
		return -EINVAL;
	pci_lock(dev);
	if (!pci_msix_enabled(dev)) {
		ret = -ENOTCONN;
	} else {
		pci_msix_msg(dev, vector, &m);
		if (m.masked)
			dev->msix.pba[vector / 64] |= 1ULL << (vector % 64);
		else
			pci_msi_send(dev, &m);
	}
	pci_unlock(dev);
	return ret;
}

bool pci_msix_vector_masked(struct pci_dev *dev, unsigned vector)
{
	struct pci_msi_msg m;

	if (!dev || !dev->ready || vector >= dev->msix.nr)
		return true;
	pci_lock(dev);
	pci_msix_msg(dev, vector, &m);
	pci_unlock(dev);
	return m.masked;
}

static void pci_msix_table_reset(struct pci_dev *dev)
{
	unsigned v;

	memset(dev->msix.table, 0, (size_t)dev->msix.nr * PCI_MSIX_ENTRY_SIZE);
	for (v = 0; v < dev->msix.nr; v++)
		put_le32(dev->msix.table + (size_t)v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CTRL,
			  PCI_MSIX_ENTRY_MASKED);
	memset(dev->msix.pba, 0, pci_msix_pba_len(dev->msix.nr));
}

int pci_msix_init(struct pci_dev *dev, unsigned nr, unsigned table_bar, uint64_t table_off,
		  unsigned pba_bar, uint64_t pba_off)
{
	struct pci_msix *x;
	struct pci_bar *tb, *pb;
	uint64_t tlen, plen;
	unsigned cap, v;
	int ret;

	if (!dev || !dev->ready || nr == 0 || nr > PCI_MSIX_MAX_VECTORS ||
	    table_bar >= PCI_NUM_BARS || pba_bar >= PCI_NUM_BARS)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	x = &dev->msix;
	if (x->nr)
		return -EEXIST;
	tb = &dev->bars[table_bar];
	pb = &dev->bars[pba_bar];
	/* The table and PBA live in memory BARs only (the BIR names the low dword). */
	if (!(tb->flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64)) ||
	    !(pb->flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64)))
		return -EINVAL;
	tlen = (uint64_t)nr * PCI_MSIX_ENTRY_SIZE;
	plen = pci_msix_pba_len(nr);
	if ((table_off | pba_off) & 7 || table_off > UINT32_MAX || pba_off > UINT32_MAX ||
	    !range_within(table_off, tlen, 0, tb->size) || !range_within(pba_off, plen, 0, pb->size))
		return -EINVAL;
	if (table_bar == pba_bar && ranges_overlap(table_off, tlen, pba_off, plen))
		return -EINVAL;
	/* Room for the capability before anything is allocated. */
	if (align_up(dev->cap_next, 4) + PCI_MSIX_CAP_SIZE > PCI_CFG_LEGACY_SIZE)
		return -ENOSPC;

	x->table = calloc(1, tlen);
	x->pba = calloc(1, plen);
	x->last = calloc(nr, sizeof(*x->last));
	if (!x->table || !x->pba || !x->last) {
		ret = -ENOMEM;
		goto err_free;
	}
	x->nr = nr;
	x->table_bar = table_bar;
	x->pba_bar = pba_bar;
	x->table_off = table_off;
	x->pba_off = pba_off;
	pci_msix_table_reset(dev);
	for (v = 0; v < nr; v++)
		x->last[v].masked = true;

	mem_region_init_mmio(&x->table_mr, "msix-table", tlen, &pci_msix_table_ops, dev);
	mem_region_init_mmio(&x->pba_mr, "msix-pba", plen, &pci_msix_pba_ops, dev);
	ret = mem_region_add(&tb->container, &x->table_mr, table_off, PCI_BAR_PRIO_MSIX);
	if (ret)
		goto err_free;
	x->table_added = true;
	ret = mem_region_add(&pb->container, &x->pba_mr, pba_off, PCI_BAR_PRIO_MSIX);
	if (ret)
		goto err_table;
	x->pba_added = true;

	ret = pci_dev_add_cap(dev, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_SIZE, &cap);
	if (ret)
		goto err_pba;
	x->cap = cap;
	put_le16(dev->cfg + cap + PCI_MSIX_FLAGS, (uint16_t)(nr - 1));
	put_le16(dev->wmask + cap + PCI_MSIX_FLAGS,
		  PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	put_le32(dev->cfg + cap + PCI_MSIX_TABLE, (uint32_t)table_off | table_bar);
	put_le32(dev->cfg + cap + PCI_MSIX_PBA, (uint32_t)pba_off | pba_bar);
	return 0;

err_pba:
	if (mem_region_del(&x->pba_mr))
		log_warn("pci: %s: cannot unwind the MSI-X PBA", dev->name);
	x->pba_added = false;
err_table:
	if (mem_region_del(&x->table_mr))
		log_warn("pci: %s: cannot unwind the MSI-X table", dev->name);
	x->table_added = false;
err_free:
	free(x->table);
	free(x->pba);
	free(x->last);
	memset(x, 0, sizeof(*x));
	return ret;
}

/* ---- MSI ------------------------------------------------------------------- */

/* Vectors the guest enabled: 2^MME, capped at what the function offers. */
static unsigned pci_msi_nvec(const struct pci_dev *dev)
{
	uint16_t ctrl = get_le16(dev->cfg + dev->msi.cap + PCI_MSI_FLAGS);
	unsigned mme = (ctrl & PCI_MSI_FLAGS_QSIZE) >> 4;

	/* MME above MMC is a guest error; honour no more than we offered. */
	if (mme > 5 || (1u << mme) > dev->msi.nr)
		return dev->msi.nr;
	return 1u << mme;
}

static void pci_msi_msg(const struct pci_dev *dev, unsigned v, struct pci_msi_msg *m)
{
	const uint8_t *c = dev->cfg + dev->msi.cap;
	unsigned n = pci_msi_nvec(dev);
	uint32_t data = get_le16(c + PCI_MSI_DATA);

	m->addr = get_le32(c + PCI_MSI_ADDRESS_LO) |
		  ((uint64_t)get_le32(c + PCI_MSI_ADDRESS_HI) << 32);
	/* Multiple messages: the vector number replaces the low log2(n) data bits. */
	m->data = (data & ~(n - 1)) | (v & (n - 1));
	m->masked = !(get_le16(c + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE) || v >= n ||
		    ((get_le32(c + PCI_MSI_MASK) >> v) & 1);
}

static void pci_msi_vector_update(struct pci_dev *dev, unsigned v)
{
	uint8_t *pend = dev->cfg + dev->msi.cap + PCI_MSI_PENDING;
	struct pci_msi_msg m;
	uint32_t p;

	pci_msi_msg(dev, v, &m);
	pci_msi_report(dev, false, v, &dev->msi.last[v], &m);
	p = get_le32(pend);
	if (!m.masked && ((p >> v) & 1)) {
		put_le32(pend, p & ~(1U << v));
		pci_msi_send(dev, &m);
	}
}

static void pci_msi_update_all(struct pci_dev *dev)
{
	unsigned v;

	for (v = 0; v < dev->msi.nr; v++)
		pci_msi_vector_update(dev, v);
}

int pci_msi_notify(struct pci_dev *dev, unsigned vector)
{
	struct pci_msi_msg m;
	uint8_t *pend;
	int ret = 0;

	if (!dev || !dev->ready)
		return -EINVAL;
	if (!dev->bus)
		return -ENODEV;
	if (!dev->msi.nr || vector >= PCI_MSI_MAX_VECTORS)
		return -EINVAL;
	pci_lock(dev);
	if (!pci_msi_enabled(dev)) {
		ret = -ENOTCONN;
	} else if (vector >= pci_msi_nvec(dev)) {
		ret = -EINVAL;
	} else {
		pci_msi_msg(dev, vector, &m);
		pend = dev->cfg + dev->msi.cap + PCI_MSI_PENDING;
		if (m.masked)
			put_le32(pend, get_le32(pend) | (1U << vector));
		else
			pci_msi_send(dev, &m);
	}
	pci_unlock(dev);
	return ret;
}

int pci_msi_init(struct pci_dev *dev, unsigned nr)
{
	unsigned cap, log2n = 0, v;
	uint32_t vmask;
	int ret;

	if (!dev || !dev->ready || !pci_is_pow2(nr) || nr > PCI_MSI_MAX_VECTORS)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	if (dev->msi.nr)
		return -EEXIST;
	ret = pci_dev_add_cap(dev, PCI_CAP_ID_MSI, PCI_MSI_CAP_SIZE, &cap);
	if (ret)
		return ret;
	while ((1u << log2n) < nr)
		log2n++;
	dev->msi.nr = nr;
	dev->msi.cap = cap;
	for (v = 0; v < PCI_MSI_MAX_VECTORS; v++)
		dev->msi.last[v].masked = true;
	put_le16(dev->cfg + cap + PCI_MSI_FLAGS,
		  (uint16_t)((log2n << 1) | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT));
	put_le16(dev->wmask + cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
	put_le32(dev->wmask + cap + PCI_MSI_ADDRESS_LO, 0xFFFFFFFCU);
	put_le32(dev->wmask + cap + PCI_MSI_ADDRESS_HI, 0xFFFFFFFFU);
	put_le16(dev->wmask + cap + PCI_MSI_DATA, 0xFFFF);
	vmask = nr == 32 ? 0xFFFFFFFFU : (1U << nr) - 1;
	put_le32(dev->wmask + cap + PCI_MSI_MASK, vmask);
	return 0;
}

void pci_dev_set_msi_hooks(struct pci_dev *dev, const struct pci_msi_hooks *hooks)
{
	if (!dev || !dev->ready)
		return;
	pci_lock(dev);
	if (hooks)
		dev->msi_hooks = *hooks;
	else
		memset(&dev->msi_hooks, 0, sizeof(dev->msi_hooks));
	pci_unlock(dev);
}

enum pci_irq_mode pci_dev_irq_mode(struct pci_dev *dev)
{
	enum pci_irq_mode m = PCI_IRQ_INTX;

	if (!dev || !dev->ready)
		return m;
	pci_lock(dev);
	if (pci_msix_enabled(dev))
		m = PCI_IRQ_MSIX;
	else if (pci_msi_enabled(dev))
		m = PCI_IRQ_MSI;
	pci_unlock(dev);
	return m;
}

/* ---- BAR placement -------------------------------------------------------- */

/* A memory window the bus may decode: see the contract for each rule. */
static bool pci_mem_place_ok(const struct pci_bus *bus, uint64_t addr, uint64_t size, bool is64)
{
	if (addr == 0 || range_invalid(addr, size))
		return false;
	if (!is64 && addr + size >= PCI_4G)
		return false;
	return bus->phys_bits >= 64 || addr + size <= (1ULL << bus->phys_bits);
}

/* Where BAR @n should be decoded now; false when it should not be. */
static bool pci_bar_target(const struct pci_dev *dev, unsigned n, uint64_t *addr)
{
	const struct pci_bar *b = &dev->bars[n];
	const uint8_t *r = dev->cfg + PCI_BAR0 + 4 * n;
	uint16_t cmd = pci_cmd(dev);
	uint64_t a;

	if (b->flags & PCI_BAR_IO) {
		if (!(cmd & PCI_COMMAND_IO) || !dev->bus->iobus)
			return false;
		a = get_le32(r) & ~3ULL & ~(b->size - 1);
		if (a == 0 || range_invalid(a, b->size) || a + b->size > PCI_IO_LIMIT)
			return false;
		*addr = a;
		return true;
	}
	if (!(b->flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64)) || !(cmd & PCI_COMMAND_MEMORY))
		return false;
	a = get_le32(r) & ~0xFULL;
	if (b->flags & PCI_BAR_MEM64)
		a |= (uint64_t)get_le32(r + 4) << 32;
	a &= ~(b->size - 1);
	if (!pci_mem_place_ok(dev->bus, a, b->size, b->flags & PCI_BAR_MEM64))
		return false;
	*addr = a;
	return true;
}

static bool pci_rom_target(const struct pci_dev *dev, uint64_t *addr)
{
	uint32_t r = get_le32(dev->cfg + PCI_ROM_ADDRESS);
	uint64_t a;

	if (!dev->rom_size || !(r & PCI_ROM_ENABLE) || !(pci_cmd(dev) & PCI_COMMAND_MEMORY))
		return false;
	a = r & PCI_ROM_ADDR_MASK & ~(dev->rom_size - 1);
	if (!pci_mem_place_ok(dev->bus, a, dev->rom_size, false))
		return false;
	*addr = a;
	return true;
}

/* Move, add or remove one memory region of the "pci" container (inside a transaction). */
static int pci_region_place(struct pci_bus *bus, struct mem_region *r, bool want, uint64_t at)
{
	if (!want)
		return r->parent ? mem_region_del(r) : 0;
	if (r->parent)
		return mem_region_set_addr(r, at);
	return mem_region_add(&bus->mem, r, at, 0);
}

/*
 * Make the device's decode match its registers (@off: unmap everything).
 * Memory changes go into one transaction; the state is read back from the
 * tree afterwards, so a rolled-back commit leaves no stale bookkeeping.
 * Bus lock held.
 */
static int pci_dev_remap(struct pci_dev *dev, bool off)
{
	struct pci_bus *bus = dev->bus;
	bool want[PCI_NUM_BARS], rom_want = false, mem_change = false;
	uint64_t at[PCI_NUM_BARS], rom_at = 0;
	unsigned n;
	int ret = 0, r;

	for (n = 0; n < PCI_NUM_BARS; n++) {
		struct pci_bar *b = &dev->bars[n];

		at[n] = 0;
		want[n] = !off && (b->flags & (PCI_BAR_IO | PCI_BAR_MEM32 | PCI_BAR_MEM64)) &&
			  pci_bar_target(dev, n, &at[n]);
		if ((b->flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64)) &&
		    (want[n] != b->mapped || (want[n] && at[n] != b->addr)))
			mem_change = true;
	}
	if (dev->rom_size) {
		rom_want = !off && pci_rom_target(dev, &rom_at);
		if (rom_want != dev->rom_mapped || (rom_want && rom_at != dev->rom_addr))
			mem_change = true;
	}

	if (mem_change) {
		mem_begin(bus->space);
		for (n = 0; n < PCI_NUM_BARS; n++) {
			struct pci_bar *b = &dev->bars[n];

			if (!(b->flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64)))
				continue;
			r = pci_region_place(bus, &b->container, want[n], at[n]);
			if (r && !ret)
				ret = r;
		}
		if (dev->rom_size) {
			r = pci_region_place(bus, &dev->rom_mr, rom_want, rom_at);
			if (r && !ret)
				ret = r;
		}
		r = mem_commit(bus->space);
		if (r && !ret)
			ret = r;
		for (n = 0; n < PCI_NUM_BARS; n++) {
			struct pci_bar *b = &dev->bars[n];

			if (!(b->flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64)))
				continue;
			b->mapped = b->container.parent != NULL;
			b->addr = b->mapped ? b->container.addr : 0;
		}
		dev->rom_mapped = dev->rom_mr.parent != NULL;
		dev->rom_addr = dev->rom_mapped ? dev->rom_mr.addr : 0;
		if (ret)
			log_warn("pci: %s: BAR remap failed (%d), mapping kept", dev->name, ret);
	}

	for (n = 0; n < PCI_NUM_BARS; n++) {
		struct pci_bar *b = &dev->bars[n];

		if (!(b->flags & PCI_BAR_IO) || (want[n] == b->mapped && (!want[n] || at[n] == b->addr)))
			continue;
		if (b->mapped) {
			if (iobus_unregister(bus->iobus, b->addr, b->opaque))
				log_warn("pci: %s: I/O BAR at 0x%llx was not registered", dev->name,
					 (unsigned long long)b->addr);
			b->mapped = false;
			b->addr = 0;
		}
		if (want[n]) {
			/* A clash with another port range leaves the BAR undecoded. */
			r = iobus_register(bus->iobus, at[n], b->size, b->ops, b->opaque, b->name);
			if (r) {
				log_debug("pci: %s: I/O BAR %u at 0x%llx refused (%d)", dev->name, n,
					  (unsigned long long)at[n], r);
			} else {
				b->mapped = true;
				b->addr = at[n];
			}
		}
	}
	return ret;
}

bool pci_dev_bar_mapped(struct pci_dev *dev, unsigned n, uint64_t *addr)
{
	bool m;

	if (!dev || !dev->ready || n >= PCI_NUM_BARS)
		return false;
	pci_lock(dev);
	m = dev->bars[n].mapped;
	if (m && addr)
		*addr = dev->bars[n].addr;
	pci_unlock(dev);
	return m;
}

/* ---- configuration space ---------------------------------------------------- */

int pci_dev_cfg_read_default(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t *val)
{
	uint32_t v = 0;
	unsigned i;

	if (!val)
		return -EINVAL;
	*val = (uint32_t)access_ones(size > 4 ? 4 : size);
	if (!dev || !dev->ready || !pci_cfg_args_ok(reg, size))
		return -EINVAL;
	pci_lock(dev);
	for (i = 0; i < size; i++)
		v |= (uint32_t)dev->cfg[reg + i] << (8 * i);
	pci_unlock(dev);
	*val = v;
	return 0;
}

static bool pci_touches(unsigned reg, unsigned size, unsigned start, unsigned len)
{
	return len && ranges_overlap(reg, size, start, len);
}

int pci_dev_cfg_write_default(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t val)
{
	uint16_t old_cmd, cmd;
	unsigned i;
	int ret = 0;

	if (!dev || !dev->ready || !pci_cfg_args_ok(reg, size))
		return -EINVAL;
	pci_lock(dev);
	old_cmd = pci_cmd(dev);
	for (i = 0; i < size; i++) {
		unsigned r = reg + i;
		uint8_t b = (uint8_t)(val >> (8 * i));
		uint8_t v = (uint8_t)((dev->cfg[r] & ~dev->wmask[r]) | (b & dev->wmask[r]));

		dev->cfg[r] = (uint8_t)(v & ~(b & dev->w1cmask[r]));
	}
	if (dev->bus)
		ret = pci_dev_remap(dev, false);
	if (dev->msix.nr && pci_touches(reg, size, dev->msix.cap, PCI_MSIX_CAP_SIZE))
		pci_msix_update_all(dev);
	if (dev->msi.nr && pci_touches(reg, size, dev->msi.cap, PCI_MSI_CAP_SIZE))
		pci_msi_update_all(dev);
	/* INTx-disable, MSI enable and MSI-X enable all gate the line. */
	pci_intx_update(dev);
	cmd = pci_cmd(dev);
	if (cmd != old_cmd && dev->ops && dev->ops->command_changed)
		dev->ops->command_changed(dev, old_cmd, cmd);
	pci_unlock(dev);
	return ret;
}

uint16_t pci_dev_command(struct pci_dev *dev)
{
	uint16_t c;

	if (!dev || !dev->ready)
		return 0;
	pci_lock(dev);
	c = pci_cmd(dev);
	pci_unlock(dev);
	return c;
}

bool pci_dev_bus_master(struct pci_dev *dev)
{
	return pci_dev_command(dev) & PCI_COMMAND_MASTER;
}

/* ---- device set-up ------------------------------------------------------------ */

void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, const struct pci_dev_ops *ops,
		  void *opaque)
{
	if (!dev)
		return;
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name ? name : "pci");
	dev->ops = ops;
	dev->opaque = opaque;
	put_le16(dev->cfg + PCI_VENDOR_ID, vendor);
	put_le16(dev->cfg + PCI_DEVICE_ID, device);
	dev->cfg[PCI_REVISION_ID] = revision;
	dev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	dev->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	dev->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	dev->cfg[PCI_HEADER_TYPE] = 0;
	put_le16(dev->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
		  PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
		  PCI_COMMAND_INTX_DISABLE);
	put_le16(dev->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xFF;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xFF;
	dev->cap_next = PCI_CAP_START;
	dev->ext_next = PCI_EXT_CAP_START;
	dev->ready = true;
}

void pci_dev_destroy(struct pci_dev *dev)
{
	if (!dev)
		return;
	if (dev->bus && pci_bus_remove(dev->bus, dev))
		log_error("pci: %s: still mapped at destroy", dev->name);
	free(dev->msix.table);
	free(dev->msix.pba);
	free(dev->msix.last);
	free(dev->rom);
	dev->msix.table = NULL;
	dev->msix.pba = NULL;
	dev->msix.last = NULL;
	dev->msix.nr = 0;
	dev->rom = NULL;
	dev->rom_size = 0;
	dev->ready = false;
}

void pci_dev_set_subsystem(struct pci_dev *dev, uint16_t svid, uint16_t sid)
{
	if (!dev || !dev->ready)
		return;
	pci_lock(dev);
	put_le16(dev->cfg + PCI_SUBSYSTEM_VENDOR_ID, svid);
	put_le16(dev->cfg + PCI_SUBSYSTEM_ID, sid);
	pci_unlock(dev);
}

int pci_dev_set_intx_pin(struct pci_dev *dev, unsigned pin)
{
	if (!dev || !dev->ready || pin > 4)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	dev->cfg[PCI_INTERRUPT_PIN] = (uint8_t)pin;
	return 0;
}

static void pci_bar_clear(struct pci_dev *dev, unsigned n)
{
	struct pci_bar *b = &dev->bars[n];

	if (b->flags & PCI_BAR_MEM64 && n + 1 < PCI_NUM_BARS)
		memset(&dev->bars[n + 1], 0, sizeof(dev->bars[n + 1]));
	memset(b, 0, sizeof(*b));
	memset(dev->cfg + PCI_BAR0 + 4 * n, 0, 4);
	memset(dev->wmask + PCI_BAR0 + 4 * n, 0, 4);
}

int pci_dev_set_bar(struct pci_dev *dev, unsigned n, unsigned flags, uint64_t size,
		    const struct access_ops *ops, void *opaque)
{
	unsigned type = flags & (PCI_BAR_IO | PCI_BAR_MEM32 | PCI_BAR_MEM64);
	uint32_t lowbits, mask_lo, mask_hi = 0;
	char name[sizeof(dev->bars[0].name)];
	struct pci_bar *b;
	uint8_t *r;
	int ret;

	if (!dev || !dev->ready || n >= PCI_NUM_BARS || !pci_is_pow2(type) ||
	    (flags & ~(type | PCI_BAR_PREFETCH)) || !pci_is_pow2(size))
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	switch (type) {
	case PCI_BAR_IO:
		if ((flags & PCI_BAR_PREFETCH) || !ops || size < 4 || size > PCI_IO_LIMIT)
			return -EINVAL;
		break;
	case PCI_BAR_MEM32:
		if (size < 16 || size > 2 * GiB)
			return -EINVAL;
		break;
	default:
		if (size < 16 || size > (1ULL << 63) || n + 1 >= PCI_NUM_BARS)
			return -EINVAL;
		break;
	}
	b = &dev->bars[n];
	if (b->flags || (type == PCI_BAR_MEM64 && dev->bars[n + 1].flags))
		return -EEXIST;

	memset(b, 0, sizeof(*b));
	b->dev = dev;
	b->flags = flags;
	b->size = size;
	b->ops = ops;
	b->opaque = opaque;
	/* Via a local: GCC cannot tell b->name and dev->name apart (-Wrestrict). */
	snprintf(name, sizeof(name), "%s-bar%u", dev->name, n);
	memcpy(b->name, name, sizeof(b->name));

	r = dev->cfg + PCI_BAR0 + 4 * n;
	if (type == PCI_BAR_IO) {
		lowbits = PCI_BAR_SPACE_IO;
		mask_lo = (uint32_t)~(size - 1) & ~3U;
	} else {
		lowbits = (type == PCI_BAR_MEM64 ? PCI_BAR_MEM_TYPE_64 : 0) |
			  (flags & PCI_BAR_PREFETCH ? PCI_BAR_MEM_PREFETCH : 0);
		mask_lo = (uint32_t)~(size - 1) & ~0xFU;
		mask_hi = (uint32_t)(~(size - 1) >> 32);
	}
	put_le32(r, lowbits);
	put_le32(dev->wmask + PCI_BAR0 + 4 * n, mask_lo);
	if (type == PCI_BAR_MEM64) {
		struct pci_bar *hi = &dev->bars[n + 1];

		memset(hi, 0, sizeof(*hi));
		hi->dev = dev;
		hi->flags = PCI_BAR_UPPER;
		put_le32(r + 4, 0);
		put_le32(dev->wmask + PCI_BAR0 + 4 * (n + 1), mask_hi);
	}
	if (type == PCI_BAR_IO)
		return 0;

	mem_region_init_container(&b->container, b->name, size);
	if (ops) {
		mem_region_init_mmio(&b->trap, b->name, size, ops, opaque);
		ret = mem_region_add(&b->container, &b->trap, 0, 0);
		if (ret) {
			pci_bar_clear(dev, n);
			return ret;
		}
	}
	return 0;
}

static bool pci_bar_is_mem(const struct pci_dev *dev, unsigned n)
{
	return n < PCI_NUM_BARS && (dev->bars[n].flags & (PCI_BAR_MEM32 | PCI_BAR_MEM64));
}

int pci_dev_bar_add_region(struct pci_dev *dev, unsigned n, struct mem_region *r, uint64_t off,
			   int priority)
{
	if (!dev || !dev->ready || !r || !pci_bar_is_mem(dev, n) || priority < 1 ||
	    priority >= PCI_BAR_PRIO_MSIX)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	return mem_region_add(&dev->bars[n].container, r, off, priority);
}

int pci_dev_set_bar_region(struct pci_dev *dev, unsigned n, unsigned flags, uint64_t size,
			   struct mem_region *r)
{
	int ret;

	if (!r || (flags & PCI_BAR_IO))
		return -EINVAL;
	ret = pci_dev_set_bar(dev, n, flags, size, NULL, NULL);
	if (ret)
		return ret;
	ret = pci_dev_bar_add_region(dev, n, r, 0, 1);
	if (ret)
		pci_bar_clear(dev, n);
	return ret;
}

static int pci_rom_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct pci_dev *dev = opaque;
	uint64_t v = 0;
	unsigned i;

	/* The contents never change after set-up: no lock needed. */
	if (!range_within(off, size, 0, dev->rom_size))
		return -EINVAL;
	for (i = 0; i < size; i++)
		v |= (uint64_t)dev->rom[off + i] << (8 * i);
	*val = v;
	return 0;
}

static int pci_rom_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	(void)opaque;
	(void)off;
	(void)size;
	(void)val;
	return 0; /* read-only: dropped */
}

static const struct access_ops pci_rom_ops = {
	.read = pci_rom_read,
	.write = pci_rom_write,
};

int pci_dev_set_rom(struct pci_dev *dev, const void *data, size_t len)
{
	uint64_t size = PCI_ROM_MIN;
	char name[40];

	if (!dev || !dev->ready || !data || len == 0 || len > PCI_ROM_MAX)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	if (dev->rom_size)
		return -EEXIST;
	while (size < len)
		size <<= 1;
	dev->rom = calloc(1, size);
	if (!dev->rom)
		return -ENOMEM;
	memcpy(dev->rom, data, len);
	dev->rom_size = size;
	snprintf(name, sizeof(name), "%s-rom", dev->name);
	mem_region_init_mmio(&dev->rom_mr, name, size, &pci_rom_ops, dev);
	put_le32(dev->wmask + PCI_ROM_ADDRESS,
		  ((uint32_t)~(size - 1) & PCI_ROM_ADDR_MASK) | PCI_ROM_ENABLE);
	return 0;
}

int pci_dev_add_cap(struct pci_dev *dev, uint8_t id, unsigned size, unsigned *off)
{
	unsigned o;

	if (!dev || !dev->ready || !off || size < 2 || size > PCI_CFG_LEGACY_SIZE)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	o = (unsigned)align_up(dev->cap_next, 4);
	if (o + size > PCI_CFG_LEGACY_SIZE)
		return -ENOSPC;
	dev->cfg[o] = id;
	dev->cfg[o + 1] = 0;
	if (dev->cap_last)
		dev->cfg[dev->cap_last + 1] = (uint8_t)o;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)o;
	dev->cap_last = o;
	dev->cap_next = o + size;
	put_le16(dev->cfg + PCI_STATUS, get_le16(dev->cfg + PCI_STATUS) | PCI_STATUS_CAP_LIST);
	*off = o;
	return 0;
}

int pci_dev_add_ext_cap(struct pci_dev *dev, uint16_t id, uint8_t version, unsigned size,
			unsigned *off)
{
	unsigned o;

	if (!dev || !dev->ready || !off || size < 4 || size > PCI_CFG_SIZE - PCI_EXT_CAP_START ||
	    version > 0xF)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	o = (unsigned)align_up(dev->ext_next, 4);
	if (o + size > PCI_CFG_SIZE)
		return -ENOSPC;
	/* Header: ID 15:0, version 19:16, next 31:20 (0 ends the list). */
	put_le32(dev->cfg + o, id | ((uint32_t)version << 16));
	if (dev->ext_last)
		put_le32(dev->cfg + dev->ext_last,
			  get_le32(dev->cfg + dev->ext_last) | ((uint32_t)o << 20));
	dev->ext_last = o;
	dev->ext_next = o + size;
	*off = o;
	return 0;
}

/* ---- reset ---------------------------------------------------------------- */

/* Bit 7 of fn 0's header type: set while another function of its slot is present. */
static void pci_bus_fix_multifunction(struct pci_bus *bus, unsigned slot)
{
	struct pci_dev *fn0 = bus->devs[PCI_DEVFN(slot, 0)];
	bool others = false;
	unsigned f;

	if (!fn0)
		return;
	for (f = 1; f < 8; f++)
		others |= bus->devs[PCI_DEVFN(slot, f)] != NULL;
	if (others)
		fn0->cfg[PCI_HEADER_TYPE] |= PCI_HEADER_MULTI_FUNCTION;
	else
		fn0->cfg[PCI_HEADER_TYPE] &= (uint8_t)~PCI_HEADER_MULTI_FUNCTION;
}

void pci_dev_reset(struct pci_dev *dev)
{
	uint16_t old_cmd, cmd;

	if (!dev || !dev->ready)
		return;
	pci_lock(dev);
	old_cmd = pci_cmd(dev);
	if (dev->bus) {
		memcpy(dev->cfg, dev->cfg_reset, sizeof(dev->cfg));
		pci_bus_fix_multifunction(dev->bus, PCI_SLOT(dev->devfn));
	}
	if (dev->msix.nr)
		pci_msix_table_reset(dev);
	dev->intx_level = false;
	if (dev->bus && pci_dev_remap(dev, false))
		log_warn("pci: %s: reset could not unmap every BAR", dev->name);
	if (dev->msix.nr)
		pci_msix_update_all(dev);
	if (dev->msi.nr)
		pci_msi_update_all(dev);
	pci_intx_update(dev);
	cmd = pci_cmd(dev);
	if (cmd != old_cmd && dev->ops && dev->ops->command_changed)
		dev->ops->command_changed(dev, old_cmd, cmd);
	if (dev->ops && dev->ops->reset)
		dev->ops->reset(dev);
	pci_unlock(dev);
}

/* ---- the bus ---------------------------------------------------------------- */

int pci_bus_init(struct pci_bus *bus, struct mem_space *space, struct iobus *iobus)
{
	pthread_mutexattr_t attr;
	int ret;

	if (!bus || !space)
		return -EINVAL;
	memset(bus, 0, sizeof(*bus));
	ret = -pthread_mutexattr_init(&attr);
	if (ret)
		return ret;
	/* Recursive: device hooks run under it and may call back into the core. */
	ret = -pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	if (!ret)
		ret = -pthread_mutex_init(&bus->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (ret)
		return ret;
	bus->space = space;
	bus->iobus = iobus;
	bus->phys_bits = PCI_PHYS_BITS_DEFAULT;
	mem_region_init_container(&bus->mem, "pci", UINT64_MAX);
	ret = mem_region_add(&space->root, &bus->mem, 0, PCI_MEM_PRIORITY);
	if (ret)
		goto err_lock;
	bus->ready = true;
	return 0;

err_lock:
	pthread_mutex_destroy(&bus->lock);
	return ret;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	unsigned i;

	if (!bus || !bus->ready)
		return;
	for (i = 0; i < PCI_DEVFN_MAX; i++)
		if (bus->devs[i] && pci_bus_remove(bus, bus->devs[i]))
			log_error("pci: devfn %u still mapped at bus destroy", i);
	if (bus->mem.parent && mem_region_del(&bus->mem))
		log_error("pci: cannot remove the pci container");
	bus->ready = false;
	pthread_mutex_destroy(&bus->lock);
}

int pci_bus_set_phys_bits(struct pci_bus *bus, unsigned bits)
{
	if (!bus || !bus->ready || bits < 32 || bits > 52)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	bus->phys_bits = bits;
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

void pci_bus_set_intx(struct pci_bus *bus, const struct irq_line *line)
{
	if (!bus || !bus->ready)
		return;
	pthread_mutex_lock(&bus->lock);
	if (line) {
		bus->intx.set_level = line->set_level;
		bus->intx.opaque = line->opaque;
	} else {
		bus->intx.set_level = NULL;
		bus->intx.opaque = NULL;
	}
	pthread_mutex_unlock(&bus->lock);
}

int pci_bus_add(struct pci_bus *bus, struct pci_dev *dev, unsigned devfn)
{
	unsigned pin;
	int ret = 0;

	if (!bus || !bus->ready || !dev || !dev->ready || devfn >= PCI_DEVFN_MAX)
		return -EINVAL;
	if (dev->bus)
		return -EBUSY;
	pthread_mutex_lock(&bus->lock);
	if (bus->devs[devfn]) {
		ret = -EEXIST;
		goto out;
	}
	pin = dev->cfg[PCI_INTERRUPT_PIN];
	/* Firmware reprograms it; a direct-booted guest without _PRT can use it as is. */
	if (pin)
		dev->cfg[PCI_INTERRUPT_LINE] = (uint8_t)pci_intx_gsi(PCI_SLOT(devfn), pin - 1);
	memcpy(dev->cfg_reset, dev->cfg, sizeof(dev->cfg));
	dev->bus = bus;
	dev->devfn = devfn;
	bus->devs[devfn] = dev;
	pci_bus_fix_multifunction(bus, PCI_SLOT(devfn));
	ret = pci_dev_remap(dev, false);
	pci_intx_update(dev);
	if (ret) {
		/* Only a device that set its own decode bits can get here. */
		if (pci_dev_remap(dev, true))
			log_error("pci: %s: cannot unwind its BARs", dev->name);
		pci_intx_vote(dev, false);
		bus->devs[devfn] = NULL;
		dev->bus = NULL;
		pci_bus_fix_multifunction(bus, PCI_SLOT(devfn));
	}
out:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

int pci_bus_remove(struct pci_bus *bus, struct pci_dev *dev)
{
	unsigned n;
	int ret;

	if (!bus || !bus->ready || !dev)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	if (dev->bus != bus || dev->devfn >= PCI_DEVFN_MAX || bus->devs[dev->devfn] != dev) {
		ret = -ENOENT;
		goto out;
	}
	ret = pci_dev_remap(dev, true);
	for (n = 0; n < PCI_NUM_BARS; n++)
		if (dev->bars[n].mapped && !ret)
			ret = -EBUSY;
	if (dev->rom_mapped && !ret)
		ret = -EBUSY;
	if (ret)
		goto out; /* still in the tree: it must stay reachable */
	pci_intx_vote(dev, false);
	bus->devs[dev->devfn] = NULL;
	dev->bus = NULL;
	pci_bus_fix_multifunction(bus, PCI_SLOT(dev->devfn));
out:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

struct pci_dev *pci_bus_find(struct pci_bus *bus, unsigned devfn)
{
	struct pci_dev *d;

	if (!bus || !bus->ready || devfn >= PCI_DEVFN_MAX)
		return NULL;
	pthread_mutex_lock(&bus->lock);
	d = bus->devs[devfn];
	pthread_mutex_unlock(&bus->lock);
	return d;
}

int pci_bus_config_read(struct pci_bus *bus, unsigned devfn, unsigned reg, unsigned size,
			uint32_t *val)
{
	struct pci_dev *dev;
	uint32_t v = 0;
	int ret = 0;

	if (!val)
		return -EINVAL;
	*val = (uint32_t)access_ones(size > 4 ? 4 : size);
	if (!bus || !bus->ready || devfn >= PCI_DEVFN_MAX || !pci_cfg_args_ok(reg, size))
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	dev = bus->devs[devfn];
	if (!dev) {
		ret = -ENODEV;
	} else if (dev->ops && dev->ops->config_read &&
		   dev->ops->config_read(dev, reg, size, &v)) {
		*val = v & (uint32_t)access_ones(size);
	} else {
		ret = pci_dev_cfg_read_default(dev, reg, size, val);
	}
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

int pci_bus_config_write(struct pci_bus *bus, unsigned devfn, unsigned reg, unsigned size,
			 uint32_t val)
{
	struct pci_dev *dev;
	int ret = 0;

	if (!bus || !bus->ready || devfn >= PCI_DEVFN_MAX || !pci_cfg_args_ok(reg, size))
		return -EINVAL;
	val &= (uint32_t)access_ones(size);
	pthread_mutex_lock(&bus->lock);
	dev = bus->devs[devfn];
	if (!dev)
		ret = -ENODEV;
	else if (!(dev->ops && dev->ops->config_write && dev->ops->config_write(dev, reg, size, val)))
		ret = pci_dev_cfg_write_default(dev, reg, size, val);
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

void pci_bus_reset(struct pci_bus *bus)
{
	unsigned i;

	if (!bus || !bus->ready)
		return;
	pthread_mutex_lock(&bus->lock);
	for (i = 0; i < PCI_DEVFN_MAX; i++)
		if (bus->devs[i])
			pci_dev_reset(bus->devs[i]);
	pthread_mutex_unlock(&bus->lock);
}

/* ---- ECAM ---------------------------------------------------------------------- */

static void pci_ecam_decode(uint64_t off, unsigned *bus, unsigned *devfn, unsigned *reg)
{
	*bus = (unsigned)(off >> PCI_ECAM_BUS_SHIFT) & 0xFF;
	*devfn = (unsigned)(off >> 12) & 0xFF;
	*reg = (unsigned)off & 0xFFF;
}

static int pci_ecam_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct pci_ecam *e = opaque;
	unsigned bus, devfn, reg;
	uint32_t v;
	int ret;

	*val = access_ones(size);
	if (size > 4 || off % size)
		return -EINVAL;
	pci_ecam_decode(off, &bus, &devfn, &reg);
	if (e->read)
		ret = e->read(e->target, bus, devfn, reg, size, &v);
	else if (bus == 0)
		ret = pci_bus_config_read(e->bus, devfn, reg, size, &v);
	else
		ret = -ENODEV;
	/* An absent function is a master abort: all-ones, not an error. */
	if (!ret)
		*val = v & access_ones(size);
	return 0;
}

static int pci_ecam_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pci_ecam *e = opaque;
	unsigned bus, devfn, reg;
	int ret;

	if (size > 4 || off % size)
		return -EINVAL;
	pci_ecam_decode(off, &bus, &devfn, &reg);
	if (e->write)
		ret = e->write(e->target, bus, devfn, reg, size, (uint32_t)val);
	else if (bus == 0)
		ret = pci_bus_config_write(e->bus, devfn, reg, size, (uint32_t)val);
	else
		ret = -ENODEV;
	if (ret && ret != -ENODEV)
		log_debug("pci: ECAM write %02x:%02x.%x+0x%x failed (%d)", bus, PCI_SLOT(devfn),
			  PCI_FUNC(devfn), reg, ret);
	return 0;
}

static const struct access_ops pci_ecam_ops = {
	.read = pci_ecam_read,
	.write = pci_ecam_write,
	.min_size = 1,
	.max_size = 4,
};

int pci_ecam_init(struct pci_ecam *e, struct pci_bus *bus)
{
	int ret;

	if (!e || !bus || !bus->ready)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	ret = -pthread_mutex_init(&e->lock, NULL);
	if (ret)
		return ret;
	e->bus = bus;
	e->space = bus->space;
	e->active = -1;
	e->ready = true;
	return 0;
}

void pci_ecam_set_target(struct pci_ecam *e, pci_cfg_read_fn rd, pci_cfg_write_fn wr,
			 void *opaque)
{
	if (!e || !e->ready)
		return;
	e->read = rd;
	e->write = wr;
	e->target = opaque;
}

void pci_ecam_destroy(struct pci_ecam *e)
{
	if (!e || !e->ready)
		return;
	if (pci_ecam_unmap(e))
		log_error("pci: cannot unmap ECAM at destroy");
	e->ready = false;
	pthread_mutex_destroy(&e->lock);
}

/* Which window the tree holds (after a commit or a rollback). Lock held. */
static void pci_ecam_readback(struct pci_ecam *e)
{
	e->active = e->win[0].parent ? 0 : e->win[1].parent ? 1 : -1;
}

int pci_ecam_map(struct pci_ecam *e, uint64_t base, uint64_t size)
{
	struct mem_region *cur, *nxt;
	int ret = 0, cret;

	if (!e || !e->ready || size < MiB || size > PCI_ECAM_MAX || size % MiB || base % MiB ||
	    range_invalid(base, size))
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	cur = e->active >= 0 ? &e->win[e->active] : NULL;
	if (cur && cur->addr == base && cur->size == size)
		goto out;
	/* The idle window is in no tree, so it can be re-sized freely. */
	nxt = &e->win[e->active == 0 ? 1 : 0];
	mem_region_init_mmio(nxt, "pci-ecam", size, &pci_ecam_ops, e);
	mem_begin(e->space);
	ret = mem_region_add(&e->space->root, nxt, base, PCI_ECAM_PRIORITY);
	if (!ret && cur)
		ret = mem_region_del(cur);
	cret = mem_commit(e->space);
	if (!ret)
		ret = cret;
	pci_ecam_readback(e);
out:
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int pci_ecam_unmap(struct pci_ecam *e)
{
	int ret = 0;

	if (!e || !e->ready)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	if (e->active >= 0) {
		ret = mem_region_del(&e->win[e->active]);
		pci_ecam_readback(e);
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

void pci_ecam_pciexbar_cb(void *opaque, bool enabled, uint64_t base, uint64_t size)
{
	struct pci_ecam *e = opaque;
	int ret = enabled ? pci_ecam_map(e, base, size) : pci_ecam_unmap(e);

	if (ret)
		log_warn("pci: ECAM %s at 0x%llx+0x%llx failed (%d)", enabled ? "map" : "unmap",
			 (unsigned long long)base, (unsigned long long)size, ret);
}
