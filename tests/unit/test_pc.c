/*
 * tests/unit/test_pc.c - the PC layout (E820, CMOS, AMD hole, phys-bits),
 * and the PAM/SMRAM/TSEG overlays: invariant I1 and the datasheet semantics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory/memory.h"
#include "memory/pc.h"
#include "memory/trace.h"
#include "tests/unit/unit.h"

#define BIOS_SIZE (256 * KiB)
#define DRAM_BYTE 0xD7
#define ROM_BYTE  0xB5

/* ---- layout helpers ------------------------------------------------------ */

static struct pc_layout_cfg cfg_of(uint64_t ram, unsigned bits, enum pc_amd_hole amd)
{
	struct pc_layout_cfg c = {
		.ram_size = ram, .phys_bits = bits, .amd_hole = amd,
	};
	return c;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && ranges_overlap(a, alen, b, blen);
}

/* Checks every layout must pass, whatever its configuration. */
static void check_layout(const struct pc_layout *l, bool ht)
{
	uint64_t ram_e820 = 0;
	unsigned i;

	ck_assert_uint_eq(l->below_4g + l->above_4g, l->ram_size);
	ck_assert_uint_le(l->below_4g, PC_ECAM_BASE);
	ck_assert_uint_ge(l->above_4g_start, PC_4G);
	ck_assert_uint_eq(l->pci64_start % GiB, 0);
	ck_assert_uint_eq(l->pci64_end % GiB, 0);
	ck_assert_uint_ge(l->pci64_end - l->pci64_start, GiB);
	ck_assert_uint_ge(l->pci64_start, l->above_4g_start + l->above_4g);
	if (l->hotplug_end) {
		ck_assert_uint_eq(l->hotplug_start % GiB, 0);
		ck_assert_uint_ge(l->hotplug_start, l->above_4g_start + l->above_4g);
		ck_assert_uint_ge(l->pci64_start, l->hotplug_end);
	}
	ck_assert_uint_le(l->phys_bits_needed, l->phys_bits);
	ck_assert_uint_le(l->pci64_end - 1, (1ULL << l->phys_bits_needed) - 1);
	ck_assert_uint_gt(l->pci64_end - 1, (1ULL << (l->phys_bits_needed - 1)) - 1);
	ck_assert(l->amd_hole == ht);
	if (ht) {
		uint64_t hs = PC_AMD_HT_START, hl = PC_AMD_HT_END - PC_AMD_HT_START;

		ck_assert(!overlaps(l->above_4g_start, l->above_4g, hs, hl));
		ck_assert(!overlaps(l->hotplug_start, l->hotplug_end - l->hotplug_start, hs, hl));
		ck_assert(!overlaps(l->pci64_start, l->pci64_end - l->pci64_start, hs, hl));
	}
	/* E820: sorted, non-overlapping, RAM adds up, the fixed holes present. */
	ck_assert_uint_ge(l->nr_e820, 5);
	for (i = 0; i < l->nr_e820; i++) {
		const struct e820_entry *e = &l->e820[i];

		ck_assert_uint_gt(e->size, 0);
		if (i)
			ck_assert_uint_le(l->e820[i - 1].addr + l->e820[i - 1].size, e->addr);
		if (e->type == E820_RAM)
			ram_e820 += e->size;
		/* Reserved IOVA ranges are never RAM. */
		if (ht && e->type == E820_RAM)
			ck_assert(!overlaps(e->addr, e->size, PC_AMD_HT_START,
					    PC_AMD_HT_END - PC_AMD_HT_START));
	}
	/* Every byte of RAM but the EBDA KiB and 640K-1M is E820 RAM. */
	ck_assert_uint_eq(ram_e820, l->ram_size - (PC_HIGH_START - PC_EBDA_START));
	ck_assert_uint_eq(l->e820[0].addr, 0);
	ck_assert_uint_eq(l->e820[0].size, PC_EBDA_START);
	ck_assert_uint_eq(l->e820[1].addr, PC_EBDA_START);
	ck_assert_uint_eq(l->e820[1].type, E820_RESERVED);
	ck_assert_uint_eq(l->e820[1].size, PC_HIGH_START - PC_EBDA_START);
	ck_assert_uint_eq(l->e820[2].addr, PC_HIGH_START);
	ck_assert_uint_eq(l->e820[2].size, l->below_4g - PC_HIGH_START);
}

/* CMOS says the same as the layout (and so as E820). */
static void check_cmos(const struct pc_layout *l)
{
	struct pc_cmos_mem c;
	uint64_t ext = (l->below_4g - PC_HIGH_START) / KiB;

	pc_layout_cmos(l, &c);
	ck_assert_uint_eq(c.base_kb, 640);
	ck_assert_uint_eq(c.ext_kb, ext > 0xFC00 ? 0xFC00 : ext);
	/* Whole 64 KiB units; the E820 RAM entries end within one unit of it. */
	if (l->below_4g > 16 * MiB)
		ck_assert_uint_eq(c.mem_16m_64k, (l->below_4g - 16 * MiB) / (64 * KiB));
	else
		ck_assert_uint_eq(c.mem_16m_64k, 0);
	if (l->above_4g_start != PC_4G)
		ck_assert_uint_eq(c.mem_4g_64k, 0); /* relocated: E820 only */
	else if (l->above_4g / (64 * KiB) > 0xFFFFFF)
		ck_assert_uint_eq(c.mem_4g_64k, 0xFFFFFF); /* 24 bits: saturates below 1 TiB */
	else
		ck_assert_uint_eq((uint64_t)c.mem_4g_64k * 64 * KiB, l->above_4g);
}

static bool has_e820(const struct pc_layout *l, uint64_t addr, uint64_t size, uint32_t type)
{
	unsigned i;

	for (i = 0; i < l->nr_e820; i++)
		if (l->e820[i].addr == addr && l->e820[i].size == size && l->e820[i].type == type)
			return true;
	return false;
}

START_TEST(test_layout_256m)
{
	struct pc_layout_cfg c = cfg_of(256 * MiB, 40, PC_AMD_HOLE_OFF);
	struct pc_layout l;
	char err[128];

	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.below_4g, 256 * MiB);
	ck_assert_uint_eq(l.above_4g, 0);
	ck_assert_uint_eq(l.pci32_start, PC_PCI32_START);
	ck_assert_uint_eq(l.pci32_end, PC_IOAPIC_BASE);
	ck_assert_uint_eq(l.pci64_start, PC_4G);
	ck_assert_uint_eq(l.pci64_end, PC_4G + 32 * GiB);
	ck_assert_uint_eq(l.phys_bits_needed, 36);
	ck_assert_uint_eq(l.nr_e820, 5);
	ck_assert(has_e820(&l, PC_ECAM_BASE, PC_ECAM_SIZE, E820_RESERVED));
	ck_assert(has_e820(&l, PC_KVM_TSS, 16 * KiB, E820_RESERVED));
	check_layout(&l, false);
	check_cmos(&l);
}
END_TEST

/* Direct boot: the VMM's ACPI tables sit below the EBDA as "ACPI data". */
START_TEST(test_layout_acpi_low)
{
	struct pc_layout_cfg c = cfg_of(256 * MiB, 40, PC_AMD_HOLE_OFF);
	struct pc_layout l;
	char err[128];

	c.acpi_low = true;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.nr_e820, 6);
	ck_assert(has_e820(&l, 0, PC_ACPI_LOW_START, E820_RAM));
	ck_assert(has_e820(&l, PC_ACPI_LOW_START, PC_EBDA_START - PC_ACPI_LOW_START, E820_ACPI));
	ck_assert(has_e820(&l, PC_EBDA_START, PC_HIGH_START - PC_EBDA_START, E820_RESERVED));
	ck_assert(has_e820(&l, PC_HIGH_START, 255 * MiB, E820_RAM));
}
END_TEST

START_TEST(test_layout_3g_4g)
{
	struct pc_layout_cfg c = cfg_of(3 * GiB, 40, PC_AMD_HOLE_OFF);
	struct pc_layout l;
	struct pc_cmos_mem cm;

	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_uint_eq(l.below_4g, 2 * GiB);
	ck_assert_uint_eq(l.above_4g, 1 * GiB);
	ck_assert_uint_eq(l.above_4g_start, PC_4G);
	ck_assert_uint_eq(l.pci64_start, 5 * GiB);
	ck_assert(has_e820(&l, PC_4G, 1 * GiB, E820_RAM));
	check_layout(&l, false);
	check_cmos(&l);
	pc_layout_cmos(&l, &cm);
	ck_assert_uint_eq(cm.mem_4g_64k, 16384);
	ck_assert_uint_eq(cm.mem_16m_64k, (2 * GiB - 16 * MiB) / (64 * KiB));

	c.ram_size = 4 * GiB;
	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_uint_eq(l.below_4g, 2 * GiB);
	ck_assert_uint_eq(l.above_4g, 2 * GiB);
	check_layout(&l, false);
	check_cmos(&l);

	/* Just below the ECAM threshold everything stays low. */
	c.ram_size = PC_ECAM_BASE - 4 * KiB;
	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_uint_eq(l.below_4g, c.ram_size);
	ck_assert_uint_eq(l.above_4g, 0);
	check_layout(&l, false);
	check_cmos(&l);
	/* At the threshold, low RAM stops at 2 GiB. */
	c.ram_size = PC_ECAM_BASE;
	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_uint_eq(l.below_4g, PC_LOWMEM_MAX);
	check_layout(&l, false);
}
END_TEST

START_TEST(test_layout_1100g_amd)
{
	struct pc_layout_cfg c = cfg_of(1100 * GiB, 48, PC_AMD_HOLE_ON);
	struct pc_layout l;
	char err[160];

	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	/* RAM above 4 GiB would cross the HT range: moved whole to 1 TiB. */
	ck_assert_uint_eq(l.above_4g_start, PC_AMD_HT_END);
	ck_assert_uint_eq(l.above_4g, 1098 * GiB);
	ck_assert(l.amd_hole);
	ck_assert(has_e820(&l, PC_AMD_HT_START, PC_AMD_HT_END - PC_AMD_HT_START, E820_RESERVED));
	ck_assert(has_e820(&l, PC_AMD_HT_END, 1098 * GiB, E820_RAM));
	ck_assert_uint_eq(l.pci64_start, PC_AMD_HT_END + 1098 * GiB);
	ck_assert_uint_eq(l.phys_bits_needed, 42);
	check_layout(&l, true);
	check_cmos(&l);

	/* AUTO follows the host. */
	c.amd_hole = PC_AMD_HOLE_AUTO;
	c.host_is_amd = true;
	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_uint_eq(l.above_4g_start, PC_AMD_HT_END);
	c.host_is_amd = false;
	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_uint_eq(l.above_4g_start, PC_4G);
	ck_assert(!l.amd_hole);

	/* Too few phys-bits: refused before the guest runs, saying how many. */
	c = cfg_of(1100 * GiB, 40, PC_AMD_HOLE_ON);
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
	ck_assert_str_eq(err, "memory layout needs 42 phys-bits, guest has 40 "
			      "(lower --memory or raise phys-bits)");
	c.phys_bits = 41;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
	ck_assert_ptr_nonnull(strstr(err, "needs 42 phys-bits, guest has 41"));
}
END_TEST

START_TEST(test_layout_1100g_intel)
{
	struct pc_layout_cfg c = cfg_of(1100 * GiB, 46, PC_AMD_HOLE_OFF);
	struct pc_layout l;
	char err[160];

	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.above_4g_start, PC_4G);
	ck_assert_uint_eq(l.pci64_start, PC_4G + 1098 * GiB);
	ck_assert_uint_eq(l.phys_bits_needed, 41);
	ck_assert(!has_e820(&l, PC_AMD_HT_START, PC_AMD_HT_END - PC_AMD_HT_START, E820_RESERVED));
	check_layout(&l, false);
	check_cmos(&l);
	c.phys_bits = 40;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
	ck_assert_str_eq(err, "memory layout needs 41 phys-bits, guest has 40 "
			      "(lower --memory or raise phys-bits)");
}
END_TEST

START_TEST(test_layout_amd_windows)
{
	struct pc_layout_cfg c = cfg_of(1000 * GiB, 48, PC_AMD_HOLE_ON);
	struct pc_layout l;
	char err[160];

	/* RAM ends at 1002G, below the hole: it stays; the 32G window moves past. */
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.above_4g_start, PC_4G);
	ck_assert_uint_eq(l.pci64_start, PC_AMD_HT_END);
	ck_assert(has_e820(&l, PC_AMD_HT_START, PC_AMD_HT_END - PC_AMD_HT_START, E820_RESERVED));
	check_layout(&l, true);
	check_cmos(&l);

	/* With 40 phys-bits the default window shrinks into the gap below the hole. */
	c.phys_bits = 40;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.pci64_start, 1002 * GiB);
	ck_assert_uint_eq(l.pci64_end, PC_AMD_HT_START);
	ck_assert_uint_eq(l.phys_bits_needed, 40);
	/* Nothing lies above the hole: no need to reserve it. */
	ck_assert(!has_e820(&l, PC_AMD_HT_START, PC_AMD_HT_END - PC_AMD_HT_START, E820_RESERVED));
	check_layout(&l, true);
	/* An explicit size is never shrunk. */
	c.pci64_size = 32 * GiB;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
	ck_assert_ptr_nonnull(strstr(err, "needs 41 phys-bits, guest has 40"));

	/* The hotplug area crossing the hole moves past it as well. */
	c = cfg_of(1000 * GiB, 48, PC_AMD_HOLE_ON);
	c.hotplug_size = 16 * GiB;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.hotplug_start, PC_AMD_HT_END);
	ck_assert_uint_eq(l.hotplug_end, PC_AMD_HT_END + 16 * GiB);
	ck_assert_uint_eq(l.pci64_start, l.hotplug_end);
	check_layout(&l, true);

	/* 1 TiB on AMD at 41 bits: RAM relocated, window shrunk to the 2 GiB left. */
	c = cfg_of(1024 * GiB, 41, PC_AMD_HOLE_ON);
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.above_4g_start, PC_AMD_HT_END);
	ck_assert_uint_eq(l.pci64_end - l.pci64_start, 2 * GiB);
	ck_assert_uint_eq(l.phys_bits_needed, 41);
	check_layout(&l, true);
	c.phys_bits = 40;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
}
END_TEST

START_TEST(test_layout_usable_iova)
{
	/* An Intel-like host whose IOMMU leaves out the MSI window and 512-516 GiB. */
	static const struct iova_range usable[] = {
		{ 0x8100000000ULL, 0xFFFFFFFFFFFFULL },
		{ 0, 0xFEDFFFFFULL },
		{ 0xFEF00000ULL, 0x7FFFFFFFFFULL },
	};
	struct pc_layout_cfg c = cfg_of(600 * GiB, 48, PC_AMD_HOLE_OFF);
	struct pc_layout l;
	char err[160];
	unsigned i;

	c.usable_iova = usable;
	c.nr_usable_iova = ARRAY_SIZE(usable);
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	/* 4G + 598G would cross 512G: the block starts past the gap. */
	ck_assert_uint_eq(l.above_4g_start, 0x8100000000ULL);
	ck_assert(has_e820(&l, 0x8000000000ULL, 4 * GiB, E820_RESERVED));
	ck_assert(!l.amd_hole);
	check_layout(&l, false);
	check_cmos(&l);
	/* Nothing lies in a gap, nor past the last usable address. */
	for (i = 0; i < l.nr_e820; i++)
		if (l.e820[i].type == E820_RAM)
			ck_assert(!overlaps(l.e820[i].addr, l.e820[i].size, 0x8000000000ULL,
					    4 * GiB));
	ck_assert_uint_le(l.pci64_end, 0x1000000000000ULL);

	/* The same host description on AMD includes the HT hole: both are avoided. */
	c.amd_hole = PC_AMD_HOLE_ON;
	c.ram_size = 1100 * GiB;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.above_4g_start, PC_AMD_HT_END);
	check_layout(&l, true);

	/* A usable list that ends too low cannot hold the guest. */
	{
		static const struct iova_range small[] = { { 0, 0x3FFFFFFFFFULL } }; /* 256 GiB */

		c = cfg_of(600 * GiB, 48, PC_AMD_HOLE_OFF);
		c.usable_iova = small;
		c.nr_usable_iova = 1;
		ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
		ck_assert_ptr_nonnull(strstr(err, "usable IOVA"));
	}
	/* A hole in low RAM cannot be moved around. */
	{
		static const struct iova_range rmrr[] = {
			{ 0, 0x7FFFFFFULL }, { 0x8100000ULL, UINT64_MAX },
		};

		c = cfg_of(1 * GiB, 48, PC_AMD_HOLE_OFF);
		c.usable_iova = rmrr;
		c.nr_usable_iova = 2;
		ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
		ck_assert_ptr_nonnull(strstr(err, "RAM below 4 GiB"));
	}
}
END_TEST

START_TEST(test_layout_validation)
{
	struct pc_layout_cfg c = cfg_of(1 * MiB, 40, PC_AMD_HOLE_OFF);
	struct pc_layout l;
	char err[160];

	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -EINVAL);
	ck_assert_uint_gt(strlen(err), 0);
	c.ram_size = 2 * MiB + 512;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -EINVAL);
	c.ram_size = 2 * MiB;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	check_layout(&l, false);
	check_cmos(&l);
	c.ram_size = UINT64_MAX & ~0xFFFULL; /* would wrap */
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
	c.ram_size = 1ULL << 62;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
	c.ram_size = 1 * GiB;
	c.phys_bits = 20;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -EINVAL);
	c.phys_bits = 40;
	c.hotplug_size = 100;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -EINVAL);
	c.hotplug_size = 0;
	c.pci64_size = UINT64_MAX;
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), -ERANGE);
	ck_assert_int_eq(pc_layout_compute(NULL, &l, err, sizeof(err)), -EINVAL);
}
END_TEST

/* ---- built machines ------------------------------------------------------- */

struct pcfx {
	struct mem_space s;
	struct mem_backend *ram, *bios;
	struct mem_trace t;
	struct pc_mem *pc;
	struct pc_layout l;
};

static struct pcfx *pcfx_new(uint64_t ram_size, enum pc_amd_hole amd, unsigned bits,
			     bool with_bios)
{
	struct pc_layout_cfg c = cfg_of(ram_size, bits, amd);
	struct pcfx *f = calloc(1, sizeof(*f));
	char err[160];

	ck_assert_ptr_nonnull(f);
	f->pc = calloc(1, sizeof(*f->pc));
	ck_assert_ptr_nonnull(f->pc);
	ck_assert_int_eq(pc_layout_compute(&c, &f->l, err, sizeof(err)), 0);
	ck_assert_int_eq(mem_space_init(&f->s, "pc"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ram, "pc.ram", ram_size), 0);
	if (with_bios) {
		ck_assert_int_eq(mem_backend_create(&f->bios, "bios", BIOS_SIZE), 0);
		memset(f->bios->host, ROM_BYTE, BIOS_SIZE);
	}
	/* DRAM under the PAM and SMRAM windows has a recognizable content. */
	memset(f->ram->host + PC_VGA_START, DRAM_BYTE, PC_HIGH_START - PC_VGA_START);
	ck_assert_int_eq(mem_trace_init(&f->t, 65536), 0);
	ck_assert_int_eq(mem_listener_register(&f->s, &f->t.l), 0);
	ck_assert_int_eq(pc_mem_build(f->pc, &f->s, f->ram, f->bios, &f->l), 0);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	mem_trace_clear(&f->t);
	return f;
}

static void pcfx_free(struct pcfx *f)
{
	mem_listener_unregister(&f->s, &f->t.l);
	mem_trace_destroy(&f->t);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ram);
	mem_backend_destroy(f->bios);
	free(f->pc);
	free(f);
}

/* Every E820 RAM byte is RAM in the view; every writable RAM range above 1 MiB is E820 RAM. */
static void check_e820_vs_view(struct mem_space *s, const struct pc_layout *l)
{
	struct mem_flat_view *v = mem_view_get(s);
	unsigned i, j;

	for (i = 0; i < l->nr_e820; i++) {
		const struct e820_entry *e = &l->e820[i];
		uint64_t a = e->addr;

		if (e->type != E820_RAM)
			continue;
		while (a < e->addr + e->size) {
			const struct mem_flat_range *fr = mem_view_find(v, a);

			ck_assert_ptr_nonnull(fr);
			ck_assert(mem_range_is_ram(fr) && !fr->readonly);
			ck_assert_uint_eq(fr->backend_off + (a - fr->gpa),
					  a < PC_4G ? a : a - l->above_4g_start + l->below_4g);
			a = fr->gpa + fr->size;
		}
	}
	for (i = 0; i < v->nr; i++) {
		const struct mem_flat_range *fr = &v->ranges[i];
		bool inside = false;

		/* Read-only RAM is the firmware flash, not memory the OS may use. */
		if (!mem_range_is_ram(fr) || fr->readonly || fr->gpa < PC_HIGH_START)
			continue;
		for (j = 0; j < l->nr_e820 && !inside; j++)
			inside = l->e820[j].type == E820_RAM &&
				 range_within(fr->gpa, fr->size, l->e820[j].addr, l->e820[j].size);
		ck_assert_msg(inside, "view RAM 0x%llx+0x%llx not in E820",
			      (unsigned long long)fr->gpa, (unsigned long long)fr->size);
	}
	mem_flat_view_put(v);
}

START_TEST(test_build_views_agree_with_e820)
{
	static const uint64_t sizes[] = { 2 * MiB, 256 * MiB, 3 * GiB, 4 * GiB };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct pcfx *f = pcfx_new(sizes[i], PC_AMD_HOLE_OFF, 40, true);
		struct mem_flat_view *v = mem_view_get(&f->s);

		check_e820_vs_view(&f->s, &f->l);
		/* Every RAM piece stands alone: nothing was merged across pieces. */
		for (unsigned j = 0; j < v->nr; j++)
			ck_assert(v->ranges[j].unmergeable);
		mem_flat_view_put(v);
		pcfx_free(f);
	}
}
END_TEST

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (!fp)
		return 0;
	if (fscanf(fp, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(fp);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

START_TEST(test_build_1100g_amd)
{
	long before = rss_kib();
	struct pcfx *f = pcfx_new(1100 * GiB, PC_AMD_HOLE_ON, 48, true);
	const struct mem_flat_range *fr;
	struct mem_flat_view *v;
	uint8_t byte = 0x42, back = 0;

	/* 1100 GiB reserved, nothing touched: RSS grows by far less than 1 GiB. */
	ck_assert_uint_eq(f->ram->size, 1100 * GiB);
	ck_assert_int_lt(rss_kib() - before, 256 * 1024);
	v = mem_view_get(&f->s);
	fr = mem_view_find(v, PC_AMD_HT_END);
	ck_assert_ptr_nonnull(fr);
	ck_assert_uint_eq(fr->gpa, PC_AMD_HT_END);
	ck_assert_uint_eq(fr->size, 1098 * GiB);
	ck_assert_uint_eq(fr->backend_off, 2 * GiB);
	/* The HT range is empty in the view. */
	ck_assert_ptr_null(mem_view_find(v, PC_AMD_HT_START));
	ck_assert_ptr_null(mem_view_find(v, PC_AMD_HT_END - 1));
	mem_flat_view_put(v);
	check_e820_vs_view(&f->s, &f->l);
	/* The last byte of guest RAM is the last byte of the backend. */
	ck_assert_int_eq(mem_write(&f->s, PC_AMD_HT_END + 1098 * GiB - 1, &byte, 1), 0);
	ck_assert_uint_eq(f->ram->host[1100 * GiB - 1], 0x42);
	ck_assert_int_eq(mem_read(&f->s, PC_AMD_HT_END + 1098 * GiB - 1, &back, 1), 0);
	ck_assert_uint_eq(back, 0x42);
	ck_assert_int_eq(mem_read(&f->s, PC_AMD_HT_END + 1098 * GiB - 1, &back, 2), -EFAULT);
	pcfx_free(f);
}
END_TEST

static const struct pc_pam_seg *seg_at(const struct pcfx *f, unsigned i)
{
	return &f->pc->pam[i];
}

/* Build the register value that puts @mode into segment @seg and keeps its sibling. */
static void pam_reg_for(const struct pcfx *f, unsigned seg, enum pam_mode mode, unsigned *reg,
			uint8_t *val)
{
	unsigned lo, hi;

	if (seg == 12) {
		*reg = 0;
		*val = (uint8_t)(mode << 4);
		return;
	}
	*reg = seg / 2 + 1;
	lo = seg % 2 == 0 ? mode : f->pc->pam[seg - 1].mode;
	hi = seg % 2 == 1 ? mode : f->pc->pam[seg + 1].mode;
	*val = (uint8_t)(lo | hi << 4);
}

static void set_mode(struct pcfx *f, unsigned seg, enum pam_mode mode)
{
	unsigned reg;
	uint8_t val;

	pam_reg_for(f, seg, mode, &reg, &val);
	ck_assert_int_eq(pc_mem_pam_write(f->pc, reg, val), 0);
	ck_assert_uint_eq(f->pc->pam[seg].mode, mode);
}

/* Nothing at or above 1 MiB was told anything since the last clear. */
static void assert_nothing_above_1m(const struct pcfx *f)
{
	ck_assert_uint_eq(mem_trace_count_in(&f->t, PC_HIGH_START, UINT64_MAX - PC_HIGH_START), 0);
}

START_TEST(test_pam_register_layout)
{
	struct pcfx *f = pcfx_new(512 * MiB, PC_AMD_HOLE_OFF, 40, true);
	unsigned i;

	/* Geometry: 12 x 16 KiB from 0xC0000, then 0xF0000 64 KiB. */
	for (i = 0; i < 12; i++) {
		ck_assert_uint_eq(seg_at(f, i)->start, 0xC0000 + i * 0x4000);
		ck_assert_uint_eq(seg_at(f, i)->size, 0x4000);
	}
	ck_assert_uint_eq(seg_at(f, 12)->start, 0xF0000);
	ck_assert_uint_eq(seg_at(f, 12)->size, 0x10000);

	/* PAM1 bits 5:4 = HIENABLE for 0xC4000; bits 1:0 for 0xC0000. */
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 1, 0x30), 0);
	ck_assert_uint_eq(f->pc->pam[0].mode, PAM_OFF);
	ck_assert_uint_eq(f->pc->pam[1].mode, PAM_RW);
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 1, 0x01), 0);
	ck_assert_uint_eq(f->pc->pam[0].mode, PAM_RO);
	ck_assert_uint_eq(f->pc->pam[1].mode, PAM_OFF);
	/* Bits 3:2 and 7:6 are reserved: no effect, read back 0. */
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 1, 0xCC), 0);
	ck_assert_uint_eq(f->pc->pam[0].mode, PAM_OFF);
	ck_assert_uint_eq(f->pc->pam_regs[1], 0);
	/* PAM0: only bits 5:4, for 0xF0000. */
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 0, 0x33), 0);
	ck_assert_uint_eq(f->pc->pam[12].mode, PAM_RW);
	ck_assert_uint_eq(f->pc->pam_regs[0], 0x30);
	/* PAM5 lo = 0xE0000, PAM6 hi = 0xEC000, PAM4 hi = 0xDC000. */
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 5, 0x02), 0);
	ck_assert_uint_eq(f->pc->pam[8].mode, PAM_WO);
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 6, 0x10), 0);
	ck_assert_uint_eq(f->pc->pam[11].mode, PAM_RO);
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 4, 0x30), 0);
	ck_assert_uint_eq(f->pc->pam[7].mode, PAM_RW);
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 7, 0x33), -EINVAL);
	assert_nothing_above_1m(f);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	pcfx_free(f);
}
END_TEST

/* I1 for PAM: every segment, every from->to pair. */
START_TEST(test_i1_pam_all_transitions)
{
	struct pcfx *f = pcfx_new(512 * MiB, PC_AMD_HOLE_OFF, 40, true);
	unsigned seg, from, to, i;

	for (seg = 0; seg < PC_PAM_SEGMENTS; seg++) {
		const struct pc_pam_seg *s = seg_at(f, seg);

		for (from = 0; from < 4; from++) {
			for (to = 0; to < 4; to++) {
				set_mode(f, seg, from);
				mem_trace_clear(&f->t);
				set_mode(f, seg, to);
				if (from == to) {
					ck_assert_uint_eq(f->t.n, 0);
					continue;
				}
				/* A del and an add, of this segment only. */
				ck_assert_uint_ge(f->t.n, 2);
				for (i = 0; i < f->t.n; i++)
					ck_assert_msg(range_within(f->t.log[i].gpa, f->t.log[i].size,
								   s->start, s->size),
						      "seg %u %u->%u touched 0x%llx", seg, from, to,
						      (unsigned long long)f->t.log[i].gpa);
				assert_nothing_above_1m(f);
			}
		}
		set_mode(f, seg, PAM_OFF);
	}
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	pcfx_free(f);
}
END_TEST

/* I1 for a whole SeaBIOS-like boot: shadow the BIOS, lock it, reset. */
START_TEST(test_i1_firmware_sequence)
{
	struct pcfx *f = pcfx_new(512 * MiB, PC_AMD_HOLE_OFF, 40, true);
	unsigned reg;

	for (reg = 0; reg < 7; reg++)
		ck_assert_int_eq(pc_mem_pam_write(f->pc, reg, 0x33), 0);
	for (reg = 0; reg < 7; reg++)
		ck_assert_int_eq(pc_mem_pam_write(f->pc, reg, 0x11), 0);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), 0);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x1A), 0);
	ck_assert_int_eq(pc_mem_reset(f->pc), 0);
	ck_assert_uint_gt(f->t.n, 0);
	assert_nothing_above_1m(f);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	pcfx_free(f);
}
END_TEST

static uint64_t rd(struct pcfx *f, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;

	(void)mem_dispatch(&f->s, gpa, size, false, &v);
	return v;
}

static void wr(struct pcfx *f, uint64_t gpa, unsigned size, uint64_t v)
{
	(void)mem_dispatch(&f->s, gpa, size, true, &v);
}

START_TEST(test_pam_semantics)
{
	struct pcfx *f = pcfx_new(512 * MiB, PC_AMD_HOLE_OFF, 40, true);
	static const unsigned segs[] = { 0, 7, 8, 12 }; /* C0000, DC000, E0000, F0000 */
	unsigned k, m;

	for (k = 0; k < ARRAY_SIZE(segs); k++) {
		const struct pc_pam_seg *s = seg_at(f, segs[k]);
		bool rom = s->start >= PC_BIOS_START;
		uint64_t a = s->start + 0x10;
		uint8_t *dram = f->ram->host + a;
		uint8_t *flash = f->bios->host + BIOS_SIZE - 128 * KiB + (a - PC_BIOS_START);
		uint8_t buf;

		for (m = 0; m < 4; m++) {
			set_mode(f, segs[k], m);
			*dram = DRAM_BYTE;
			wr(f, a, 1, 0x5A);
			switch (m) {
			case PAM_OFF:
				/* Both go to PCI/ROM: ROM content or all-ones; DRAM untouched. */
				ck_assert_uint_eq(rd(f, a, 1), rom ? ROM_BYTE : 0xFF);
				ck_assert_uint_eq(rd(f, a, 4), rom ? 0xB5B5B5B5 : 0xFFFFFFFF);
				ck_assert_uint_eq(*dram, DRAM_BYTE);
				ck_assert_int_eq(mem_read(&f->s, a, &buf, 1), rom ? 0 : -EFAULT);
				break;
			case PAM_RO:
				/* Reads DRAM, the write never reaches it. */
				ck_assert_uint_eq(rd(f, a, 1), DRAM_BYTE);
				ck_assert_uint_eq(*dram, DRAM_BYTE);
				ck_assert_int_eq(mem_read(&f->s, a, &buf, 1), 0);
				ck_assert_uint_eq(buf, DRAM_BYTE);
				break;
			case PAM_WO:
				/* The write lands in DRAM, the read comes from ROM/PCI. */
				ck_assert_uint_eq(*dram, 0x5A);
				ck_assert_uint_eq(rd(f, a, 1), rom ? ROM_BYTE : 0xFF);
				/* Exact width, unaligned too. */
				wr(f, a + 1, 4, 0x11223344);
				ck_assert_uint_eq(dram[1], 0x44);
				ck_assert_uint_eq(dram[4], 0x11);
				ck_assert_uint_eq(dram[5], DRAM_BYTE);
				memset(dram, DRAM_BYTE, 8);
				break;
			case PAM_RW:
				ck_assert_uint_eq(*dram, 0x5A);
				ck_assert_uint_eq(rd(f, a, 1), 0x5A);
				break;
			}
			/* The flash itself never changes through the guest. */
			if (rom)
				ck_assert_uint_eq(*flash, ROM_BYTE);
			*dram = DRAM_BYTE;
		}
		set_mode(f, segs[k], PAM_OFF);
	}
	/* Power-on: 0xFFFF0 reads the end of the firmware image; so does 4G - 16. */
	f->bios->host[BIOS_SIZE - 16] = 0xEA;
	ck_assert_uint_eq(rd(f, 0xFFFF0, 1), 0xEA);
	ck_assert_uint_eq(rd(f, PC_4G - 16, 1), 0xEA);
	/* Writes to the flash at 4 GiB are dropped. */
	wr(f, PC_4G - 16, 1, 0);
	ck_assert_uint_eq(f->bios->host[BIOS_SIZE - 16], 0xEA);
	pcfx_free(f);
}
END_TEST

START_TEST(test_pam_without_bios)
{
	struct pcfx *f = pcfx_new(64 * MiB, PC_AMD_HOLE_OFF, 40, false);

	/* No firmware image: the ROM side is unassigned. */
	ck_assert_uint_eq(rd(f, 0xFFFF0, 4), 0xFFFFFFFF);
	set_mode(f, 12, PAM_WO);
	wr(f, 0xF0000, 2, 0xBEEF);
	ck_assert_uint_eq(rd(f, 0xF0000, 2), 0xFFFF);
	set_mode(f, 12, PAM_RW);
	ck_assert_uint_eq(rd(f, 0xF0000, 2), 0xBEEF);
	pcfx_free(f);
}
END_TEST

static void assert_calls_within(const struct pcfx *f, uint64_t start, uint64_t size)
{
	unsigned i;

	for (i = 0; i < f->t.n; i++)
		ck_assert_msg(range_within(f->t.log[i].gpa, f->t.log[i].size, start, size),
			      "call at 0x%llx+0x%llx outside 0x%llx+0x%llx",
			      (unsigned long long)f->t.log[i].gpa,
			      (unsigned long long)f->t.log[i].size, (unsigned long long)start,
			      (unsigned long long)size);
}

START_TEST(test_smram_semantics_and_i1)
{
	struct pcfx *f = pcfx_new(512 * MiB, PC_AMD_HOLE_OFF, 40, true);
	uint8_t buf;

	ck_assert_uint_eq(f->pc->smram, 0x02);
	ck_assert_uint_eq(f->pc->esmramc, 0x38);
	/* Power-on: the VGA hole. */
	ck_assert_uint_eq(rd(f, 0xA0000, 1), 0xFF);
	ck_assert_int_eq(mem_read(&f->s, 0xA0000, &buf, 1), -EFAULT);

	/* D_OPEN without G_SMRAME does not open anything. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x42), 0);
	ck_assert_uint_eq(f->t.n, 0);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), 0xFF);
	/* G_SMRAME | D_OPEN: SMRAM DRAM visible, only the window changes. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), 0);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), DRAM_BYTE);
	ck_assert_int_eq(mem_read(&f->s, 0xBFFFF, &buf, 1), 0);
	ck_assert_uint_gt(f->t.n, 0);
	assert_calls_within(f, PC_VGA_START, 128 * KiB);
	/* H_SMRAME moves compatible SMRAM away: the window is VGA again. */
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x80), 0);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), 0xFF);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x00), 0);
	ck_assert_uint_eq(f->pc->esmramc, 0x38);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), DRAM_BYTE);
	assert_calls_within(f, PC_VGA_START, 128 * KiB);
	/* Close; D_CLS changes nothing outside SMM. */
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), 0xFF);
	assert_calls_within(f, PC_VGA_START, 128 * KiB);
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x2A), 0);
	ck_assert_uint_eq(f->t.n, 0);
	/* Lock while open: D_OPEN drops in the same write. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), 0);
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x5A), 0);
	ck_assert_uint_eq(f->pc->smram, 0x1A);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), 0xFF);
	assert_calls_within(f, PC_VGA_START, 128 * KiB);
	/* Locked: reopening, clearing the lock or G_SMRAME, changing TSEG: all ignored. */
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), 0);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x42), 0);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x00), 0);
	ck_assert_uint_eq(f->pc->smram, 0x1A);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x85), 0);
	ck_assert_uint_eq(f->pc->esmramc, 0x38);
	ck_assert_uint_eq(f->t.n, 0);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), 0xFF);
	/* D_CLS stays writable under the lock. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x20), 0);
	ck_assert_uint_eq(f->pc->smram, 0x3A);
	/* Reset unlocks. */
	ck_assert_int_eq(pc_mem_reset(f->pc), 0);
	ck_assert_uint_eq(f->pc->smram, 0x02);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), 0);
	ck_assert_uint_eq(rd(f, 0xA0000, 1), DRAM_BYTE);
	assert_nothing_above_1m(f);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	pcfx_free(f);
}
END_TEST

START_TEST(test_tseg_semantics_and_i1)
{
	struct pcfx *f = pcfx_new(512 * MiB, PC_AMD_HOLE_OFF, 40, true);
	static const uint64_t sizes[4] = { 1 * MiB, 2 * MiB, 8 * MiB, 0 };
	uint64_t top = f->l.below_4g, lo = top - PC_TSEG_MAX;
	unsigned sz;

	f->ram->host[top - 1] = 0x77;
	f->ram->host[lo] = 0x66;
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0); /* G_SMRAME */
	mem_trace_clear(&f->t);
	for (sz = 0; sz < 4; sz++) {
		uint64_t hidden = sizes[sz];
		uint8_t buf;

		/* T_EN with each size hides exactly the top TSEG_SZ. */
		ck_assert_int_eq(pc_mem_esmramc_write(f->pc, (uint8_t)(sz << 1 | 1)), 0);
		ck_assert_uint_eq(rd(f, top - 1, 1), hidden ? 0xFF : 0x77);
		if (hidden) {
			ck_assert_int_eq(mem_read(&f->s, top - hidden, &buf, 1), -EFAULT);
			ck_assert_int_eq(mem_read(&f->s, top - hidden - 1, &buf, 1), 0);
		}
		ck_assert_uint_eq(rd(f, lo, 1), hidden == 8 * MiB ? 0xFF : 0x66);
		assert_calls_within(f, lo, PC_TSEG_MAX);
		/* Off again. */
		ck_assert_int_eq(pc_mem_esmramc_write(f->pc, (uint8_t)(sz << 1)), 0);
		ck_assert_uint_eq(rd(f, top - 1, 1), 0x77);
		assert_calls_within(f, lo, PC_TSEG_MAX);
	}
	/* Growing TSEG touches only the pieces that change. */
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x01), 0); /* 1 MiB */
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x03), 0); /* 2 MiB */
	assert_calls_within(f, top - 2 * MiB, 1 * MiB);
	mem_trace_clear(&f->t);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x05), 0); /* 8 MiB */
	assert_calls_within(f, lo, 6 * MiB);
	/* Without G_SMRAME, T_EN hides nothing. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x02), 0);
	ck_assert_uint_eq(rd(f, top - 1, 1), 0x77);
	/* RAM from 1 MiB to TSEG and above 4 GiB was never touched. */
	ck_assert_uint_eq(mem_trace_count_in(&f->t, PC_HIGH_START, lo - PC_HIGH_START), 0);
	ck_assert_uint_eq(mem_trace_count_in(&f->t, PC_4G, UINT64_MAX - PC_4G), 0);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	pcfx_free(f);
}
END_TEST

START_TEST(test_tseg_absent_in_small_guest)
{
	struct pcfx *f = pcfx_new(8 * MiB, PC_AMD_HOLE_OFF, 40, true);

	/* Below 16 MiB of low RAM there are no TSEG pieces: T_EN has no effect. */
	ck_assert(!f->pc->has_tseg);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x05), 0);
	ck_assert_uint_eq(f->t.n, 0);
	ck_assert_uint_eq(rd(f, 8 * MiB - 1, 1), 0);
	check_e820_vs_view(&f->s, &f->l);
	pcfx_free(f);
}
END_TEST

START_TEST(test_register_write_rolls_back)
{
	struct pcfx *f = pcfx_new(256 * MiB, PC_AMD_HOLE_OFF, 40, true);
	struct mem_flat_view *before, *after;

	before = mem_view_get(&f->s);
	f->t.fail_at = f->t.total + 2; /* the add after the del */
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 1, 0x33), -EIO);
	ck_assert_uint_eq(f->pc->pam[0].mode, PAM_OFF);
	ck_assert_uint_eq(f->pc->pam[1].mode, PAM_OFF);
	ck_assert_uint_eq(f->pc->pam_regs[1], 0);
	after = mem_view_get(&f->s);
	ck_assert_ptr_eq(before, after);
	mem_flat_view_put(after);
	mem_flat_view_put(before);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	f->t.fail_at = f->t.total + 1;
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), -EIO);
	ck_assert_uint_eq(f->pc->smram, 0x02);
	f->t.fail_at = 0;
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 1, 0x33), 0);
	ck_assert_uint_eq(f->pc->pam[1].mode, PAM_RW);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	pcfx_free(f);
}
END_TEST

START_TEST(test_build_validation)
{
	struct pc_layout_cfg c = cfg_of(64 * MiB, 40, PC_AMD_HOLE_OFF);
	struct mem_backend *ram, *odd;
	struct pc_layout l;
	struct mem_space s;
	struct pc_mem *pc = calloc(1, sizeof(*pc));

	ck_assert_ptr_nonnull(pc);
	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_int_eq(mem_space_init(&s, "v"), 0);
	ck_assert_int_eq(mem_backend_create(&ram, "small", 32 * MiB), 0);
	ck_assert_int_eq(mem_backend_create(&odd, "odd", 68 * KiB), 0);
	/* A backend smaller than the layout, a firmware image of an odd size. */
	ck_assert_int_eq(pc_mem_build(pc, &s, ram, NULL, &l), -EINVAL);
	mem_backend_destroy(ram);
	ck_assert_int_eq(mem_backend_create(&ram, "ram", 64 * MiB), 0);
	ck_assert_int_eq(pc_mem_build(pc, &s, ram, odd, &l), -EINVAL);
	ck_assert_int_eq(pc_mem_pam_write(pc, 0, 0), -EINVAL); /* never built */
	ck_assert_uint_eq(s.view->nr, 0);
	ck_assert_int_eq(pc_mem_build(pc, &s, ram, NULL, &l), 0);
	ck_assert_uint_gt(s.view->nr, 0);
	mem_space_destroy(&s);
	mem_backend_destroy(ram);
	mem_backend_destroy(odd);
	free(pc);
}
END_TEST

START_TEST(test_two_machines_one_process)
{
	struct pcfx *a = pcfx_new(64 * MiB, PC_AMD_HOLE_OFF, 40, true);
	struct pcfx *b = pcfx_new(128 * MiB, PC_AMD_HOLE_OFF, 40, true);

	/* No shared state: programming one leaves the other alone. */
	ck_assert_int_eq(pc_mem_pam_write(a->pc, 0, 0x30), 0);
	ck_assert_uint_eq(a->pc->pam[12].mode, PAM_RW);
	ck_assert_uint_eq(b->pc->pam[12].mode, PAM_OFF);
	ck_assert_uint_eq(b->t.n, 0);
	ck_assert_uint_eq(rd(b, 0xF0000, 1), ROM_BYTE);
	ck_assert_uint_eq(rd(a, 0xF0000, 1), DRAM_BYTE);
	pcfx_free(a);
	pcfx_free(b);
}
END_TEST

START_TEST(test_i2_hotplug_blocks)
{
	struct pc_layout_cfg c = cfg_of(1 * GiB, 40, PC_AMD_HOLE_OFF);
	struct mem_region dev, blk[4];
	struct mem_backend *ram, *devmem;
	struct mem_trace t;
	struct pc_layout l;
	struct mem_space s;
	struct pc_mem *pc = calloc(1, sizeof(*pc));
	unsigned i;

	ck_assert_ptr_nonnull(pc);
	c.hotplug_size = 4 * GiB;
	ck_assert_int_eq(pc_layout_compute(&c, &l, NULL, 0), 0);
	ck_assert_int_eq(mem_space_init(&s, "i2"), 0);
	ck_assert_int_eq(mem_backend_create(&ram, "ram", c.ram_size), 0);
	ck_assert_int_eq(mem_backend_create(&devmem, "vmem", 4 * GiB), 0);
	ck_assert_int_eq(mem_trace_init(&t, 256), 0);
	ck_assert_int_eq(mem_listener_register(&s, &t.l), 0);
	ck_assert_int_eq(pc_mem_build(pc, &s, ram, NULL, &l), 0);
	ck_assert_ptr_eq(pc->hotplug.parent, &s.root);

	/* Four contiguous 1 GiB blocks of one device backend, plain aliases. */
	mem_region_init_ram(&dev, "vmem", devmem, 0, devmem->size);
	for (i = 0; i < 4; i++) {
		mem_region_init_alias(&blk[i], "vmem-blk", &dev, i * GiB, GiB);
		ck_assert_int_eq(mem_region_add(&pc->hotplug, &blk[i], i * GiB, 0), 0);
	}
	/* Unplugging the second one: one call, for that block only. */
	mem_trace_clear(&t);
	ck_assert_int_eq(mem_region_set_enabled(&blk[1], false), 0);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(!t.log[0].add);
	ck_assert_uint_eq(t.log[0].gpa, l.hotplug_start + GiB);
	ck_assert_uint_eq(t.log[0].size, GiB);
	mem_trace_clear(&t);
	ck_assert_int_eq(mem_region_set_enabled(&blk[1], true), 0);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(t.log[0].add);
	ck_assert_uint_eq(t.log[0].gpa, l.hotplug_start + GiB);
	ck_assert(mem_trace_matches_view(&t, &s));

	mem_listener_unregister(&s, &t.l);
	mem_trace_destroy(&t);
	mem_space_destroy(&s);
	mem_backend_destroy(ram);
	mem_backend_destroy(devmem);
	free(pc);
}
END_TEST

static Suite *pc_suite(void)
{
	Suite *s = suite_create("pc");
	TCase *tl = tcase_create("layout");
	TCase *tm = tcase_create("machine");

	tcase_add_test(tl, test_layout_256m);
	tcase_add_test(tl, test_layout_acpi_low);
	tcase_add_test(tl, test_layout_3g_4g);
	tcase_add_test(tl, test_layout_1100g_amd);
	tcase_add_test(tl, test_layout_1100g_intel);
	tcase_add_test(tl, test_layout_amd_windows);
	tcase_add_test(tl, test_layout_usable_iova);
	tcase_add_test(tl, test_layout_validation);
	suite_add_tcase(s, tl);

	tcase_set_timeout(tm, 120);
	tcase_add_test(tm, test_build_views_agree_with_e820);
	tcase_add_test(tm, test_build_1100g_amd);
	tcase_add_test(tm, test_pam_register_layout);
	tcase_add_test(tm, test_i1_pam_all_transitions);
	tcase_add_test(tm, test_i1_firmware_sequence);
	tcase_add_test(tm, test_pam_semantics);
	tcase_add_test(tm, test_pam_without_bios);
	tcase_add_test(tm, test_smram_semantics_and_i1);
	tcase_add_test(tm, test_tseg_semantics_and_i1);
	tcase_add_test(tm, test_tseg_absent_in_small_guest);
	tcase_add_test(tm, test_register_write_rolls_back);
	tcase_add_test(tm, test_build_validation);
	tcase_add_test(tm, test_two_machines_one_process);
	tcase_add_test(tm, test_i2_hotplug_blocks);
	suite_add_tcase(s, tm);
	return s;
}

UNIT_MAIN(pc_suite)
