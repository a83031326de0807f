/*
 * memory/pc.c - the Q35-like guest physical layout, its E820 table and its
 * CMOS memory-size values.
 *
 * Below 4 GiB the layout is fixed (low RAM, the legacy holes, ECAM, the
 * 32-bit PCI window, the APIC/firmware area). Above 4 GiB, blocks are placed
 * in order - RAM, the hotplug area, the 64-bit PCI window - and none of them
 * may touch a reserved IOVA range: the AMD HyperTransport range, and every
 * gap in the usable IOVA ranges VFIO reported. A block that would touch one
 * moves past it whole (seed 03): VFIO_IOMMU_MAP_DMA of a reserved IOVA fails,
 * and splitting RAM around it would only make more memslots.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "memory/pc.h"

#define PC_PCI64_DEFAULT (32 * GiB)
#define PC_WINDOW_ALIGN  GiB
#define PC_MIN_RAM       (2 * MiB)
/* x86-64 architectural maximum of MAXPHYADDR. */
#define PC_MAX_PHYS_BITS 52
#define PC_MIN_PHYS_BITS 32

/* A reserved IOVA range, [start, end] inclusive so that it may end at 2^64-1. */
struct pc_resv {
	uint64_t start, end;
};

struct pc_resv_list {
	struct pc_resv *r;
	unsigned nr;
};

static int pc_resv_cmp(const void *a, const void *b)
{
	const struct pc_resv *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static int pc_iova_cmp(const void *a, const void *b)
{
	const struct iova_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/*
 * The reserved ranges: the HT range when the AMD hole applies, plus the
 * complement of the usable IOVA ranges when they are known. Sorted, merged.
 */
static int pc_resv_build(const struct pc_layout_cfg *cfg, bool ht, struct pc_resv_list *l,
			 char *err, size_t errlen)
{
	struct iova_range *u = NULL;
	unsigned i, n = 0, cap = cfg->nr_usable_iova + 2, w;
	uint64_t next = 0;
	bool covered_all = false;

	l->r = calloc(cap, sizeof(*l->r));
	if (!l->r)
		return -ENOMEM;
	if (ht)
		l->r[n++] = (struct pc_resv){ PC_AMD_HT_START, PC_AMD_HT_END - 1 };

	if (cfg->nr_usable_iova) {
		if (!cfg->usable_iova) {
			errmsg(err, errlen, "usable IOVA ranges: count without ranges");
			return -EINVAL;
		}
		u = malloc(cfg->nr_usable_iova * sizeof(*u));
		if (!u)
			return -ENOMEM;
		memcpy(u, cfg->usable_iova, cfg->nr_usable_iova * sizeof(*u));
		qsort(u, cfg->nr_usable_iova, sizeof(*u), pc_iova_cmp);
		/* Walk the union of the usable ranges; what it skips is reserved. */
		for (i = 0; i < cfg->nr_usable_iova && !covered_all; i++) {
			if (u[i].end < u[i].start) {
				errmsg(err, errlen, "usable IOVA range 0x%llx-0x%llx is empty",
				       (unsigned long long)u[i].start, (unsigned long long)u[i].end);
				free(u);
				return -EINVAL;
			}
			if (u[i].end < next)
				continue;
			if (u[i].start > next)
				l->r[n++] = (struct pc_resv){ next, u[i].start - 1 };
			if (u[i].end == UINT64_MAX)
				covered_all = true;
			else
				next = u[i].end + 1;
		}
		if (!covered_all)
			l->r[n++] = (struct pc_resv){ next, UINT64_MAX };
		free(u);
	}

	qsort(l->r, n, sizeof(*l->r), pc_resv_cmp);
	for (i = 1, w = 0; i < n; i++) {
		if (l->r[w].end != UINT64_MAX && l->r[i].start <= l->r[w].end + 1) {
			if (l->r[i].end > l->r[w].end)
				l->r[w].end = l->r[i].end;
		} else {
			l->r[++w] = l->r[i];
		}
	}
	l->nr = n ? w + 1 : 0;
	return 0;
}

/* The first reserved range meeting [start, start+size), or NULL. size > 0, no wrap. */
static const struct pc_resv *pc_resv_hit(const struct pc_resv_list *l, uint64_t start,
					 uint64_t size)
{
	uint64_t last = start + size - 1;
	unsigned i;

	for (i = 0; i < l->nr; i++)
		if (l->r[i].start <= last && start <= l->r[i].end)
			return &l->r[i];
	return NULL;
}

/*
 * Place a block of @size at the first @align-aligned address >= @base that
 * touches no reserved range. -ERANGE when it would run off 2^64.
 */
static int pc_place(const struct pc_resv_list *l, uint64_t base, uint64_t size, uint64_t align,
		    uint64_t *out)
{
	const struct pc_resv *hit;
	uint64_t pos = base;

	for (;;) {
		if (pos > UINT64_MAX - (align - 1))
			return -ERANGE;
		pos = align_up(pos, align);
		if (range_invalid(pos, size))
			return -ERANGE;
		hit = pc_resv_hit(l, pos, size);
		if (!hit) {
			*out = pos;
			return 0;
		}
		if (hit->end == UINT64_MAX)
			return -ERANGE;
		pos = hit->end + 1;
	}
}

static unsigned pc_bits_for(uint64_t top_exclusive)
{
	uint64_t last = top_exclusive - 1;

	return last ? 64 - (unsigned)__builtin_clzll(last) : 1;
}

static int pc_e820_add(struct pc_layout *l, uint64_t addr, uint64_t size, uint32_t type)
{
	if (!size)
		return 0;
	if (l->nr_e820 == ARRAY_SIZE(l->e820))
		return -E2BIG;
	l->e820[l->nr_e820++] = (struct e820_entry){ addr, size, type };
	return 0;
}

static int pc_e820_cmp(const void *a, const void *b)
{
	const struct e820_entry *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return 0;
}

static int pc_e820_build(struct pc_layout *l, const struct pc_resv_list *resv, bool acpi_low)
{
	uint64_t top = l->pci64_end;
	unsigned i;
	int ret = 0;

	/*
	 * From the last KiB below 640K (EBDA, MP table) to 1 MiB (VGA window,
	 * option ROMs, BIOS segment) nothing is RAM for the OS. One reserved
	 * range, because Linux's PVH entry reserves the ISA range 0xA0000-1M
	 * itself: so the kernel's map equals ours on both boot paths.
	 */
	if (acpi_low) {
		/* the VMM's own ACPI tables for a direct boot, just below the EBDA */
		ret |= pc_e820_add(l, 0, PC_ACPI_LOW_START, E820_RAM);
		ret |= pc_e820_add(l, PC_ACPI_LOW_START, PC_EBDA_START - PC_ACPI_LOW_START,
				   E820_ACPI);
	} else {
		ret |= pc_e820_add(l, 0, PC_EBDA_START, E820_RAM);
	}
	ret |= pc_e820_add(l, PC_EBDA_START, PC_HIGH_START - PC_EBDA_START, E820_RESERVED);
	/*
	 * TSEG is not carved out here: for a direct Linux boot nothing enables
	 * it, and firmware that does enable it reserves it itself.
	 */
	ret |= pc_e820_add(l, PC_HIGH_START, l->below_4g - PC_HIGH_START, E820_RAM);
	ret |= pc_e820_add(l, PC_ECAM_BASE, PC_ECAM_SIZE, E820_RESERVED);
	ret |= pc_e820_add(l, PC_KVM_TSS, 16 * KiB, E820_RESERVED);
	ret |= pc_e820_add(l, l->above_4g_start, l->above_4g, E820_RAM);
	/*
	 * A reserved IOVA range with guest RAM or windows above it is a hole the
	 * guest must not use for anything (it would place BARs there).
	 */
	for (i = 0; i < resv->nr; i++) {
		const struct pc_resv *r = &resv->r[i];

		if (r->start < PC_4G || r->start >= top)
			continue;
		ret |= pc_e820_add(l, r->start, (r->end < top ? r->end + 1 : top) - r->start,
				   E820_RESERVED);
	}
	if (ret)
		return -E2BIG;
	qsort(l->e820, l->nr_e820, sizeof(l->e820[0]), pc_e820_cmp);
	return 0;
}

/* Fixed structures below 4 GiB must already lie in usable IOVA space. */
static int pc_check_low(const struct pc_resv_list *resv, const struct pc_layout *l, char *err,
			size_t errlen)
{
	static const struct { const char *what; uint64_t start, size; } fixed[] = {
		{ "the 32-bit PCI window", PC_PCI32_START, PC_IOAPIC_BASE - PC_PCI32_START },
		{ "ECAM", PC_ECAM_BASE, PC_ECAM_SIZE },
	};
	const struct pc_resv *hit;
	unsigned i;

	hit = pc_resv_hit(resv, 0, l->below_4g);
	if (hit) {
		errmsg(err, errlen, "reserved IOVA range 0x%llx-0x%llx overlaps RAM below 4 GiB",
		       (unsigned long long)hit->start, (unsigned long long)hit->end);
		return -ERANGE;
	}
	for (i = 0; i < ARRAY_SIZE(fixed); i++) {
		hit = pc_resv_hit(resv, fixed[i].start, fixed[i].size);
		if (hit) {
			errmsg(err, errlen, "reserved IOVA range 0x%llx-0x%llx overlaps %s",
			       (unsigned long long)hit->start, (unsigned long long)hit->end,
			       fixed[i].what);
			return -ERANGE;
		}
	}
	return 0;
}

/*
 * The 64-bit window goes at the first place past RAM and hotplug that avoids
 * reserved ranges. When that does not fit the guest's phys-bits and the size
 * is the default one, it shrinks (in whole GiB, at least 1 GiB) into the first
 * free gap below the limit: a guest then still boots with a smaller window.
 * An explicitly requested size is never shrunk.
 */
static int pc_place_pci64(const struct pc_resv_list *resv, uint64_t base, uint64_t want,
			  bool may_shrink, unsigned phys_bits, uint64_t *start, uint64_t *size)
{
	uint64_t limit = 1ULL << phys_bits, pos, g0, g1;
	unsigned i;
	int ret;

	ret = pc_place(resv, base, want, PC_WINDOW_ALIGN, &pos);
	if (!ret && (pos + want <= limit || !may_shrink)) {
		*start = pos;
		*size = want;
		return 0;
	}
	if (!may_shrink)
		return ret;

	/* Free gaps at or above base, below the limit: between reserved ranges. */
	g0 = base;
	for (i = 0; i <= resv->nr && g0 < limit; i++) {
		g1 = i < resv->nr ? resv->r[i].start : limit;
		if (i < resv->nr && resv->r[i].end < g0)
			continue;
		if (g1 > limit)
			g1 = limit;
		if (g1 > g0) {
			uint64_t a = align_up(g0, PC_WINDOW_ALIGN), e = align_down(g1, PC_WINDOW_ALIGN);

			if (e > a && e - a >= PC_WINDOW_ALIGN) {
				*start = a;
				*size = e - a < want ? e - a : want;
				return 0;
			}
		}
		if (i < resv->nr) {
			if (resv->r[i].end == UINT64_MAX)
				break;
			if (resv->r[i].end + 1 > g0)
				g0 = resv->r[i].end + 1;
		}
	}
	if (ret)
		return ret;
	/* Keep the full window: the phys-bits check refuses it with the bits needed. */
	*start = pos;
	*size = want;
	return 0;
}

int pc_layout_compute(const struct pc_layout_cfg *cfg, struct pc_layout *out, char *err,
		      size_t errlen)
{
	struct pc_resv_list resv = { 0 };
	uint64_t ram_end, next, pci64_want;
	bool ht;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || !out) {
		errmsg(err, errlen, "no configuration");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (cfg->ram_size < PC_MIN_RAM || cfg->ram_size % (4 * KiB)) {
		errmsg(err, errlen, "memory size %llu: must be at least 2 MiB and a multiple of 4 KiB",
		       (unsigned long long)cfg->ram_size);
		return -EINVAL;
	}
	if (cfg->phys_bits < PC_MIN_PHYS_BITS || cfg->phys_bits > PC_MAX_PHYS_BITS) {
		errmsg(err, errlen, "phys-bits %u: must be %u to %u", cfg->phys_bits,
		       PC_MIN_PHYS_BITS, PC_MAX_PHYS_BITS);
		return -EINVAL;
	}
	if (cfg->hotplug_size % (4 * KiB)) {
		errmsg(err, errlen, "hotplug size must be a multiple of 4 KiB");
		return -EINVAL;
	}
	pci64_want = cfg->pci64_size ? cfg->pci64_size : PC_PCI64_DEFAULT;
	if (pci64_want > UINT64_MAX - PC_WINDOW_ALIGN) {
		errmsg(err, errlen, "64-bit PCI window too large");
		return -ERANGE;
	}
	pci64_want = align_up(pci64_want, PC_WINDOW_ALIGN);

	out->ram_size = cfg->ram_size;
	out->phys_bits = cfg->phys_bits;
	/* Q35: with 2.75 GiB or more, low RAM stops at 2 GiB and ECAM sits above it. */
	out->below_4g = cfg->ram_size < PC_ECAM_BASE ? cfg->ram_size : PC_LOWMEM_MAX;
	out->above_4g = cfg->ram_size - out->below_4g;
	out->pci32_start = PC_PCI32_START;
	out->pci32_end = PC_IOAPIC_BASE;

	ht = cfg->amd_hole == PC_AMD_HOLE_ON ||
	     (cfg->amd_hole == PC_AMD_HOLE_AUTO && cfg->host_is_amd);
	ret = pc_resv_build(cfg, ht, &resv, err, errlen);
	if (ret) {
		if (ret == -ENOMEM)
			errmsg(err, errlen, "out of memory");
		goto out;
	}
	out->amd_hole = pc_resv_hit(&resv, PC_AMD_HT_START, PC_AMD_HT_END - PC_AMD_HT_START);
	ret = pc_check_low(&resv, out, err, errlen);
	if (ret)
		goto out;

	/* RAM above 4 GiB: one block, moved whole past any reserved range it meets. */
	out->above_4g_start = PC_4G;
	ram_end = PC_4G;
	if (out->above_4g) {
		ret = pc_place(&resv, PC_4G, out->above_4g, PC_WINDOW_ALIGN, &out->above_4g_start);
		if (ret) {
			errmsg(err, errlen, "%llu MiB of RAM above 4 GiB do not fit the usable IOVA space",
			       (unsigned long long)(out->above_4g / MiB));
			goto out;
		}
		ram_end = out->above_4g_start + out->above_4g;
	}

	next = ram_end;
	if (cfg->hotplug_size) {
		ret = pc_place(&resv, ram_end, cfg->hotplug_size, PC_WINDOW_ALIGN, &out->hotplug_start);
		if (ret) {
			errmsg(err, errlen, "the hotplug area does not fit the usable IOVA space");
			goto out;
		}
		out->hotplug_end = out->hotplug_start + cfg->hotplug_size;
		next = out->hotplug_end;
	}

	ret = pc_place_pci64(&resv, next, pci64_want, cfg->pci64_size == 0, cfg->phys_bits,
			     &out->pci64_start, &pci64_want);
	if (ret) {
		errmsg(err, errlen, "the 64-bit PCI window does not fit the usable IOVA space");
		goto out;
	}
	out->pci64_end = out->pci64_start + pci64_want;

	out->phys_bits_needed = pc_bits_for(out->pci64_end);
	if (out->phys_bits_needed > cfg->phys_bits) {
		errmsg(err, errlen,
		       "memory layout needs %u phys-bits, guest has %u (lower --memory or raise phys-bits)",
		       out->phys_bits_needed, cfg->phys_bits);
		ret = -ERANGE;
		goto out;
	}

	ret = pc_e820_build(out, &resv, cfg->acpi_low);
	if (ret)
		errmsg(err, errlen, "too many reserved IOVA ranges for the E820 table");
out:
	free(resv.r);
	return ret;
}

void pc_layout_cmos(const struct pc_layout *l, struct pc_cmos_mem *out)
{
	uint64_t v;

	memset(out, 0, sizeof(*out));
	out->base_kb = PC_LOW_RAM_END / KiB;

	/* 1 MiB to 64 MiB, in KiB; 0xFC00 (63 MiB) is all the registers hold. */
	v = (l->below_4g > PC_HIGH_START ? l->below_4g - PC_HIGH_START : 0) / KiB;
	out->ext_kb = v > 0xFC00 ? 0xFC00 : (uint16_t)v;

	/* 16 MiB to 4 GiB, in 64 KiB units. */
	v = (l->below_4g > 16 * MiB ? l->below_4g - 16 * MiB : 0) / (64 * KiB);
	out->mem_16m_64k = v > 0xFFFF ? 0xFFFF : (uint16_t)v;

	/*
	 * Above 4 GiB: the registers can only say "this much RAM from 4 GiB up".
	 * RAM moved past a reserved range does not start at 4 GiB, so it is
	 * reported as 0 here and described by E820 only; saying otherwise would
	 * make a CMOS-reading BIOS put RAM where there is none.
	 */
	v = l->above_4g_start == PC_4G ? l->above_4g / (64 * KiB) : 0;
	out->mem_4g_64k = v > 0xFFFFFF ? 0xFFFFFF : (uint32_t)v;
}
