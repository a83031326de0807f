/*
 * tests/unit/test_vfio_dma.c - the DMA listener on a real PC memory map with
 * the recording backend (I1/I2/I5, rollback, the AMD IOVA split feeding the
 * layout), and the type1/iommufd argument, sysfs and capability parsing that
 * can run without VFIO on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "memory/memory.h"
#include "memory/pc.h"
#include "tests/unit/unit.h"
#include "vfio/backend.h"
#include "vfio/dma.h"
#include "vfio/sysfs.h"

#define BIOS_SIZE (256 * KiB)

/* ---- a PC machine with the DMA listener ---------------------------------- */

struct dfx {
	struct mem_space s;
	struct mem_backend *ram, *bios;
	struct pc_mem *pc;
	struct pc_layout l;
	struct vfio_backend *be;
	struct vfio_record *r;
	struct vfio_dma d;
};

static struct pc_layout_cfg cfg_of(uint64_t ram, unsigned bits, enum pc_amd_hole amd)
{
	struct pc_layout_cfg c = { .ram_size = ram, .phys_bits = bits, .amd_hole = amd };

	return c;
}

/* Build the machine; the listener is initialized, not registered. */
static struct dfx *dfx_build(const struct pc_layout_cfg *c, bool with_bios)
{
	struct dfx *f = calloc(1, sizeof(*f));
	char err[160];

	ck_assert_ptr_nonnull(f);
	f->pc = calloc(1, sizeof(*f->pc));
	ck_assert_ptr_nonnull(f->pc);
	ck_assert_int_eq(pc_layout_compute(c, &f->l, err, sizeof(err)), 0);
	ck_assert_int_eq(mem_space_init(&f->s, "pc"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ram, "pc.ram", c->ram_size), 0);
	if (with_bios)
		ck_assert_int_eq(mem_backend_create(&f->bios, "bios", BIOS_SIZE), 0);
	ck_assert_int_eq(pc_mem_build(f->pc, &f->s, f->ram, f->bios, &f->l), 0);
	ck_assert_int_eq(vfio_record_create(&f->be, 4096), 0);
	f->r = vfio_record_of(f->be);
	ck_assert_ptr_nonnull(f->r);
	ck_assert_int_eq(vfio_dma_init(&f->d, f->be, NULL), 0);
	return f;
}

static struct dfx *dfx_new(uint64_t ram, uint64_t hotplug)
{
	struct pc_layout_cfg c = cfg_of(ram, 40, PC_AMD_HOLE_OFF);
	struct dfx *f;

	c.hotplug_size = hotplug;
	f = dfx_build(&c, true);
	ck_assert_int_eq(vfio_dma_register(&f->d, &f->s), 0);
	return f;
}

static void dfx_free(struct dfx *f)
{
	vfio_dma_destroy(&f->d);
	/* Unregistering unmapped everything it had mapped, nothing else. */
	ck_assert_uint_eq(f->r->nlive, 0);
	vfio_backend_destroy(f->be);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ram);
	mem_backend_destroy(f->bios);
	free(f->pc);
	free(f);
}

static bool in_low_window(const struct mem_flat_range *fr)
{
	return range_within(fr->gpa, fr->size, PC_VGA_START, PC_HIGH_START - PC_VGA_START);
}

/*
 * The backend holds exactly the view's RAM ranges outside the PAM/SMRAM
 * window, each once, at the right host address and protection; and the
 * listener's own list agrees.
 */
static void assert_backend_matches_view(struct dfx *f)
{
	struct mem_flat_view *v = mem_view_get(&f->s);
	unsigned i, j, want = 0;

	for (i = 0; i < v->nr; i++) {
		const struct mem_flat_range *fr = &v->ranges[i];
		bool found = false;

		if (!mem_range_is_ram(fr) || in_low_window(fr)) {
			ck_assert(!vfio_dma_is_mapped(&f->d, fr->gpa, fr->size));
			continue;
		}
		want++;
		for (j = 0; j < f->r->nlive; j++) {
			const struct vfio_record_map *m = &f->r->live[j];

			if (m->iova != fr->gpa)
				continue;
			ck_assert(!found);
			found = true;
			ck_assert_uint_eq(m->size, fr->size);
			ck_assert_ptr_eq(m->vaddr, fr->backend->host + fr->backend_off);
			ck_assert(m->readonly == fr->readonly);
		}
		ck_assert_msg(found, "RAM 0x%llx+0x%llx not mapped", (unsigned long long)fr->gpa,
			      (unsigned long long)fr->size);
		ck_assert(vfio_dma_is_mapped(&f->d, fr->gpa, fr->size));
	}
	ck_assert_uint_eq(f->r->nlive, want);
	ck_assert_uint_eq(f->d.nr, want);
	mem_flat_view_put(v);
}

/* ---- I5: mapped once at register --------------------------------------- */

START_TEST(test_register_maps_every_ram_range_once)
{
	static const uint64_t sizes[] = { 2 * MiB, 256 * MiB, 3 * GiB, 6 * GiB };
	unsigned k;

	for (k = 0; k < ARRAY_SIZE(sizes); k++) {
		struct dfx *f = dfx_new(sizes[k], 0);
		uint64_t maps = f->r->maps;

		assert_backend_matches_view(f);
		ck_assert_uint_eq(f->d.stats.maps, maps);
		ck_assert_uint_eq(f->r->unmaps, 0);
		ck_assert_uint_gt(f->d.stats.ignored_low, 0);
		/* Low RAM 0-640K is mapped; the window above it is not. */
		ck_assert(vfio_record_has(f->r, 0, PC_LOW_RAM_END));
		for (unsigned i = 0; i < f->r->nlive; i++)
			ck_assert(!ranges_overlap(f->r->live[i].iova, f->r->live[i].size,
						  PC_VGA_START, PC_HIGH_START - PC_VGA_START));
		/* The firmware flash ending at 4 GiB: read-only. */
		ck_assert(vfio_record_has(f->r, PC_4G - BIOS_SIZE, BIOS_SIZE));
		for (unsigned i = 0; i < f->r->nlive; i++)
			if (f->r->live[i].iova == PC_4G - BIOS_SIZE)
				ck_assert(f->r->live[i].readonly);
		/* Registering twice is refused, with no backend call. */
		ck_assert_int_eq(vfio_dma_register(&f->d, &f->s), -EBUSY);
		ck_assert_uint_eq(f->r->maps, maps);
		/* Unregister: exactly one unmap per map. */
		vfio_dma_unregister(&f->d);
		ck_assert_uint_eq(f->r->unmaps, maps);
		ck_assert_uint_eq(f->r->nlive, 0);
		ck_assert_uint_eq(f->d.nr, 0);
		vfio_dma_unregister(&f->d); /* twice is harmless */
		ck_assert_uint_eq(f->r->unmaps, maps);
		dfx_free(f);
	}
}
END_TEST

START_TEST(test_skip_readonly)
{
	struct pc_layout_cfg c = cfg_of(256 * MiB, 40, PC_AMD_HOLE_OFF);
	struct vfio_dma_cfg dc = { .skip_readonly = true };
	struct dfx *f = dfx_build(&c, true);

	ck_assert_int_eq(vfio_dma_init(&f->d, f->be, &dc), 0);
	ck_assert_int_eq(vfio_dma_register(&f->d, &f->s), 0);
	ck_assert(!vfio_record_has(f->r, PC_4G - BIOS_SIZE, BIOS_SIZE));
	for (unsigned i = 0; i < f->r->nlive; i++)
		ck_assert(!f->r->live[i].readonly);
	ck_assert_uint_gt(f->d.stats.ignored_other, 0);
	dfx_free(f);
}
END_TEST

/* ---- I1/I5: PAM and SMRAM never reach the backend ------------------------ */

START_TEST(test_i1_pam_smram_no_backend_calls)
{
	struct dfx *f = dfx_new(512 * MiB, 0);
	uint64_t total = f->r->total;
	unsigned reg, v, seg, from, to;

	/* Every value of every PAM register. */
	for (reg = 0; reg < 7; reg++)
		for (v = 0; v < 256; v++)
			ck_assert_int_eq(pc_mem_pam_write(f->pc, reg, (uint8_t)v), 0);
	/* Every from->to mode pair of every segment. */
	for (seg = 0; seg < PC_PAM_SEGMENTS; seg++) {
		unsigned r = seg == 12 ? 0 : seg / 2 + 1, shift = seg == 12 ? 4 : (seg % 2) * 4;

		for (from = 0; from < 4; from++)
			for (to = 0; to < 4; to++) {
				ck_assert_int_eq(pc_mem_pam_write(f->pc, r, (uint8_t)(from << shift)),
						 0);
				ck_assert_int_eq(pc_mem_pam_write(f->pc, r, (uint8_t)(to << shift)),
						 0);
				ck_assert_uint_eq(f->pc->pam[seg].mode, to);
			}
	}
	/* Every SMRAM value, from the power-on state and after each (lock included). */
	for (v = 0; v < 256; v++) {
		ck_assert_int_eq(pc_mem_reset(f->pc), 0);
		ck_assert_int_eq(pc_mem_smram_write(f->pc, (uint8_t)v), 0);
		ck_assert_int_eq(pc_mem_smram_write(f->pc, PC_SMRAM_G_SMRAME | PC_SMRAM_D_OPEN), 0);
		ck_assert_int_eq(pc_mem_smram_write(f->pc, 0), 0);
	}
	/* ESMRAMC without T_EN (H_SMRAME moves the window, TSEG stays off). */
	for (v = 0; v < 256; v++) {
		ck_assert_int_eq(pc_mem_reset(f->pc), 0);
		ck_assert_int_eq(pc_mem_smram_write(f->pc, PC_SMRAM_G_SMRAME | PC_SMRAM_D_OPEN), 0);
		ck_assert_int_eq(pc_mem_esmramc_write(f->pc, (uint8_t)(v & ~PC_ESMRAMC_T_EN)), 0);
	}
	ck_assert_int_eq(pc_mem_reset(f->pc), 0);
	/* Not one backend call: the DMA map set never changed (I5). */
	ck_assert_uint_eq(f->r->total, total);
	ck_assert_uint_eq(f->d.stats.unmaps, 0);
	ck_assert_uint_gt(f->d.stats.ignored_low, 0);
	assert_backend_matches_view(f);
	dfx_free(f);
}
END_TEST

/* TSEG is above 1 MiB: enabling it hides that DRAM from devices; only its pieces move. */
START_TEST(test_tseg_touches_only_tseg)
{
	struct dfx *f = dfx_new(512 * MiB, 0);
	uint64_t top = f->l.below_4g, i;

	vfio_record_clear(f->r);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, PC_SMRAM_G_SMRAME), 0);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, PC_ESMRAMC_T_EN | 0x4), 0); /* 8 MiB */
	ck_assert_uint_gt(f->r->unmaps, 0);
	for (i = 0; i < f->r->n; i++)
		ck_assert(range_within(f->r->log[i].iova, f->r->log[i].size, top - PC_TSEG_MAX,
				       PC_TSEG_MAX));
	assert_backend_matches_view(f);
	ck_assert_int_eq(pc_mem_reset(f->pc), 0);
	assert_backend_matches_view(f);
	dfx_free(f);
}
END_TEST

/* With the SMM view following the system space, SMRAM/TSEG toggles still stay off the backend. */
START_TEST(test_i1_with_smm_view_and_two_machines)
{
	struct dfx *f = dfx_new(512 * MiB, 0), *g = dfx_new(256 * MiB, 0);
	struct mem_space smm;
	uint64_t tf, tg;
	unsigned v;

	ck_assert_int_eq(mem_space_init(&smm, "smm"), 0);
	ck_assert_int_eq(pc_mem_build_smm(f->pc, &smm), 0);
	tf = f->r->total;
	tg = g->r->total;
	for (v = 0; v < 256; v++) {
		ck_assert_int_eq(pc_mem_reset(f->pc), 0);
		ck_assert_int_eq(pc_mem_smram_write(f->pc, (uint8_t)v), 0);
		ck_assert_int_eq(pc_mem_pam_write(f->pc, v % 7, (uint8_t)v), 0);
	}
	ck_assert_int_eq(pc_mem_reset(f->pc), 0);
	ck_assert_uint_eq(f->r->total, tf);
	/* Two machines in one process: each listener has its own state and backend. */
	ck_assert_uint_eq(g->r->total, tg);
	ck_assert_ptr_ne(f->d.maps, g->d.maps);
	assert_backend_matches_view(f);
	assert_backend_matches_view(g);
	dfx_free(g);
	dfx_free(f);
	mem_space_destroy(&smm);
}
END_TEST

/* ---- I2: hotplug blocks ------------------------------------------------- */

START_TEST(test_i2_hotplug_maps_exactly_the_block)
{
	struct dfx *f = dfx_new(1 * GiB, 4 * GiB);
	struct mem_backend *devmem;
	struct mem_region dev, blk[4];
	uint64_t base = f->l.hotplug_start;
	unsigned i;

	ck_assert_int_eq(mem_backend_create(&devmem, "vmem", 4 * GiB), 0);
	mem_region_init_ram(&dev, "vmem", devmem, 0, devmem->size);
	for (i = 0; i < 4; i++) {
		mem_region_init_alias(&blk[i], "vmem-blk", &dev, i * GiB, GiB);
		vfio_record_clear(f->r);
		ck_assert_int_eq(mem_region_add(&f->pc->hotplug, &blk[i], i * GiB, 0), 0);
		/* Plug: one map, of that block, at its host address. */
		ck_assert_uint_eq(f->r->n, 1);
		ck_assert(f->r->log[0].map);
		ck_assert_uint_eq(f->r->log[0].iova, base + i * GiB);
		ck_assert_uint_eq(f->r->log[0].size, GiB);
		ck_assert_ptr_eq(f->r->log[0].vaddr, devmem->host + i * GiB);
	}
	/* Unplug the second: one unmap of that block only. */
	vfio_record_clear(f->r);
	ck_assert_int_eq(mem_region_set_enabled(&blk[1], false), 0);
	ck_assert_uint_eq(f->r->n, 1);
	ck_assert(!f->r->log[0].map);
	ck_assert_uint_eq(f->r->log[0].iova, base + GiB);
	ck_assert_uint_eq(f->r->log[0].size, GiB);
	ck_assert(!vfio_record_has(f->r, base + GiB, GiB));
	/* Replug: one map. */
	vfio_record_clear(f->r);
	ck_assert_int_eq(mem_region_set_enabled(&blk[1], true), 0);
	ck_assert_uint_eq(f->r->n, 1);
	ck_assert(f->r->log[0].map);
	ck_assert(vfio_record_has(f->r, base + GiB, GiB));
	/* Removing a block from the tree: one unmap. */
	vfio_record_clear(f->r);
	ck_assert_int_eq(mem_region_del(&blk[3]), 0);
	ck_assert_uint_eq(f->r->n, 1);
	ck_assert_uint_eq(f->r->unmaps, 1);
	assert_backend_matches_view(f);
	/* Disable and re-enable in one commit: the range is identical, no call at all. */
	vfio_record_clear(f->r);
	mem_begin(&f->s);
	ck_assert_int_eq(mem_region_set_enabled(&blk[0], false), 0);
	ck_assert_int_eq(mem_region_set_enabled(&blk[0], true), 0);
	ck_assert_int_eq(mem_commit(&f->s), 0);
	ck_assert_uint_eq(f->r->n, 0);
	assert_backend_matches_view(f);

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(mem_region_del(&blk[i]), 0);
	assert_backend_matches_view(f);
	dfx_free(f);
	mem_backend_destroy(devmem);
}
END_TEST

/* ---- errors and rollback --------------------------------------------------- */

START_TEST(test_map_failure_rolls_back)
{
	struct pc_layout_cfg c = cfg_of(1 * GiB, 40, PC_AMD_HOLE_OFF);
	struct mem_backend *devmem;
	struct mem_region dev, blk[3];
	struct mem_flat_view *before, *after;
	uint64_t base;
	struct dfx *f;
	unsigned i;

	c.hotplug_size = 4 * GiB;
	f = dfx_build(&c, true);
	base = f->l.hotplug_start;

	/* Register with the third map failing: refused, nothing stays mapped. */
	f->r->fail_at = f->r->total + 3;
	f->r->fail_err = -ENOMEM;
	ck_assert_int_eq(vfio_dma_register(&f->d, &f->s), -ENOMEM);
	ck_assert_ptr_null(f->d.space);
	ck_assert_uint_eq(f->r->nlive, 0);
	ck_assert_uint_eq(f->d.nr, 0);
	ck_assert_uint_eq(f->d.stats.map_failures, 1);
	ck_assert_ptr_nonnull(strstr(f->d.err, "DMA map of 0x"));
	ck_assert_ptr_nonnull(strstr(f->d.err, "Cannot allocate memory"));
	f->r->fail_at = 0;
	ck_assert_int_eq(vfio_dma_register(&f->d, &f->s), 0);
	assert_backend_matches_view(f);

	ck_assert_int_eq(mem_backend_create(&devmem, "vmem", 3 * GiB), 0);
	mem_region_init_ram(&dev, "vmem", devmem, 0, devmem->size);
	for (i = 0; i < 3; i++)
		mem_region_init_alias(&blk[i], "vmem-blk", &dev, i * GiB, GiB);
	ck_assert_int_eq(mem_region_add(&f->pc->hotplug, &blk[0], 0, 0), 0);

	/* A plug whose map fails: the commit fails, the view and the map set stay. */
	before = mem_view_get(&f->s);
	f->r->fail_at = f->r->total + 1;
	f->r->fail_err = 0;
	ck_assert_int_eq(mem_region_add(&f->pc->hotplug, &blk[1], GiB, 0), -EIO);
	after = mem_view_get(&f->s);
	ck_assert_ptr_eq(before, after);
	mem_flat_view_put(after);
	mem_flat_view_put(before);
	ck_assert(!vfio_record_has(f->r, base + GiB, GiB));
	ck_assert_ptr_null(blk[1].parent);
	{
		char want[96];

		snprintf(want, sizeof(want), "DMA map of 0x%llx-0x%llx (vmem) on record failed",
			 (unsigned long long)(base + GiB), (unsigned long long)(base + 2 * GiB - 1));
		ck_assert_msg(strstr(f->d.err, want), "err: %s", f->d.err);
	}
	assert_backend_matches_view(f);

	/* Unplug one and plug another in one commit, the map fails: the unmap is undone. */
	vfio_record_clear(f->r);
	f->r->fail_at = f->r->total + 2; /* call 1 unmaps blk0, call 2 maps blk2 */
	mem_begin(&f->s);
	ck_assert_int_eq(mem_region_set_enabled(&blk[0], false), 0);
	ck_assert_int_eq(mem_region_add(&f->pc->hotplug, &blk[2], 2 * GiB, 0), 0);
	ck_assert_int_eq(mem_commit(&f->s), -EIO);
	ck_assert(blk[0].enabled);
	ck_assert(vfio_record_has(f->r, base, GiB));
	ck_assert(!vfio_record_has(f->r, base + 2 * GiB, GiB));
	ck_assert_uint_eq(f->r->unmaps, 1); /* blk0 ... */
	ck_assert_uint_eq(f->r->maps, 1);   /* ... mapped again by the rollback */
	assert_backend_matches_view(f);

	/* A failing unmap does not fail the unplug; it is counted and forgotten. */
	f->r->fail_at = f->r->total + 1;
	ck_assert_int_eq(mem_region_set_enabled(&blk[0], false), 0);
	ck_assert_uint_eq(f->d.stats.unmap_failures, 1);
	ck_assert(!vfio_dma_is_mapped(&f->d, base, GiB));
	f->r->fail_at = 0;
	/* The recording backend still has it (the "IOMMU" kept it): drop it by hand. */
	ck_assert_int_eq(vfio_backend_dma_unmap(f->be, base, GiB), 0);
	assert_backend_matches_view(f);

	ck_assert_int_eq(mem_region_del(&blk[0]), 0);
	dfx_free(f);
	mem_backend_destroy(devmem);
}
END_TEST

/* ---- usable IOVA ranges feed the layout ----------------------------------- */

/* AMD-Vi as measured in the rig: split at 0xfcffffffff, resuming at 1 TiB. */
static void set_amd_ranges(struct vfio_record *r)
{
	/* Out of order, with a duplicate and an overlap, as a sloppy IOMMU might say. */
	r->ranges[0] = (struct iova_range){ 0x10000000000ULL, 0xFFFFFFFFFFFFULL };
	r->ranges[1] = (struct iova_range){ 0, 0xFCFFFFFFFFULL };
	r->ranges[2] = (struct iova_range){ 0x1000, 0x7FFFFFFFULL };
	r->ranges[3] = (struct iova_range){ 0x10000000000ULL, 0x100FFFFFFFFULL };
	r->nr_ranges = 4;
}

START_TEST(test_amd_split_relocates_ram)
{
	struct iova_range usable[8];
	struct pc_layout_cfg c = cfg_of(1100 * GiB, 48, PC_AMD_HOLE_OFF);
	struct vfio_backend *be;
	struct vfio_record *r;
	unsigned nr = 0, i;
	char err[160];
	struct dfx *f;

	ck_assert_int_eq(vfio_record_create(&be, 0), 0);
	r = vfio_record_of(be);
	set_amd_ranges(r);
	ck_assert_int_eq(vfio_dma_usable_iova(be, usable, ARRAY_SIZE(usable), &nr, err,
					      sizeof(err)), 0);
	ck_assert_uint_eq(nr, 2);
	ck_assert_uint_eq(usable[0].start, 0);
	ck_assert_uint_eq(usable[0].end, 0xFCFFFFFFFFULL);
	ck_assert_uint_eq(usable[1].start, 0x10000000000ULL);
	ck_assert_uint_eq(usable[1].end, 0xFFFFFFFFFFFFULL);
	/* Too small an output array: refused, saying how many. */
	ck_assert_int_eq(vfio_dma_usable_iova(be, usable, 3, &nr, err, sizeof(err)), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "4 usable IOVA ranges"));
	vfio_backend_destroy(be);

	/*
	 * The layout is told nothing about AMD (hole OFF, not an AMD host): the
	 * IOVA list alone moves the 1098 GiB above 4 GiB to 1 TiB.
	 */
	c.usable_iova = usable;
	c.nr_usable_iova = 2;
	f = dfx_build(&c, true);
	ck_assert_uint_eq(f->l.above_4g_start, PC_AMD_HT_END);
	ck_assert_uint_eq(f->l.above_4g, 1098 * GiB);
	set_amd_ranges(f->r);
	ck_assert_int_eq(vfio_dma_register(&f->d, &f->s), 0);
	ck_assert(vfio_record_has(f->r, PC_AMD_HT_END, 1098 * GiB));
	for (i = 0; i < f->r->nlive; i++)
		ck_assert(!ranges_overlap(f->r->live[i].iova, f->r->live[i].size, 0xFD00000000ULL,
					  PC_AMD_HT_END - 0xFD00000000ULL));
	assert_backend_matches_view(f);
	dfx_free(f);

	/* Without the list the RAM crosses the hole, and the backend refuses the map. */
	c.usable_iova = NULL;
	c.nr_usable_iova = 0;
	f = dfx_build(&c, true);
	ck_assert_uint_eq(f->l.above_4g_start, PC_4G);
	set_amd_ranges(f->r);
	ck_assert_int_eq(vfio_dma_register(&f->d, &f->s), -EINVAL);
	ck_assert_ptr_nonnull(strstr(f->d.err, "DMA map of 0x100000000-0x"));
	ck_assert_uint_eq(f->r->nlive, 0);
	dfx_free(f);
}
END_TEST

START_TEST(test_iova_normalize)
{
	struct iova_range r[6];
	unsigned n;

	/* Adjacent and overlapping join; the top of the space absorbs everything after. */
	r[0] = (struct iova_range){ 0x3000, 0x3FFF };
	r[1] = (struct iova_range){ 0, 0xFFF };
	r[2] = (struct iova_range){ 0x1000, 0x1FFF };
	r[3] = (struct iova_range){ 0x8000, UINT64_MAX };
	r[4] = (struct iova_range){ 0x9000, 0x9FFF };
	r[5] = (struct iova_range){ 0x3800, 0x47FF };
	n = 6;
	ck_assert_int_eq(vfio_iova_normalize(r, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(r[0].start, 0);
	ck_assert_uint_eq(r[0].end, 0x1FFF);
	ck_assert_uint_eq(r[1].start, 0x3000);
	ck_assert_uint_eq(r[1].end, 0x47FF);
	ck_assert_uint_eq(r[2].start, 0x8000);
	ck_assert_uint_eq(r[2].end, UINT64_MAX);
	/* One byte ranges are fine; an inverted one is not. */
	r[0] = (struct iova_range){ 5, 5 };
	n = 1;
	ck_assert_int_eq(vfio_iova_normalize(r, &n), 0);
	r[1] = (struct iova_range){ 10, 9 };
	n = 2;
	ck_assert_int_eq(vfio_iova_normalize(r, &n), -EINVAL);
	n = 0;
	ck_assert_int_eq(vfio_iova_normalize(NULL, &n), 0);
	n = 1;
	ck_assert_int_eq(vfio_iova_normalize(NULL, &n), -EINVAL);
	ck_assert_int_eq(vfio_iova_normalize(r, NULL), -EINVAL);
}
END_TEST

START_TEST(test_listener_bad_ranges)
{
	struct vfio_backend *be;
	struct vfio_record *r;
	struct mem_backend *mb;
	struct mem_flat_range fr;
	struct mem_region mr;
	struct vfio_dma d;

	ck_assert_int_eq(vfio_record_create(&be, 16), 0);
	r = vfio_record_of(be);
	ck_assert_int_eq(mem_backend_create(&mb, "b", 64 * KiB), 0);
	mem_region_init_ram(&mr, "b", mb, 0, mb->size);
	ck_assert_int_eq(vfio_dma_init(&d, be, NULL), 0);
	ck_assert_int_eq(vfio_dma_init(NULL, be, NULL), -EINVAL);
	ck_assert_int_eq(vfio_dma_init(&d, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vfio_dma_init(&d, be, NULL), 0);

	memset(&fr, 0, sizeof(fr));
	fr.mr = &mr;
	fr.backend = mb;
	/* Beyond the backend, wrapping: refused before the backend is asked. */
	fr.gpa = 0x100000;
	fr.size = 128 * KiB;
	ck_assert_int_eq(d.l.range_add(&d.l, &fr), -EINVAL);
	fr.size = 4 * KiB;
	fr.backend_off = UINT64_MAX - 100;
	ck_assert_int_eq(d.l.range_add(&d.l, &fr), -EINVAL);
	fr.backend_off = 0;
	fr.gpa = UINT64_MAX - 0xFFF;
	fr.size = 0x2000;
	ck_assert_int_eq(d.l.range_add(&d.l, &fr), -EINVAL);
	ck_assert_uint_eq(r->total, 0);
	/* Not page aligned: shrunk to whole pages; less than a page: skipped. */
	fr.gpa = 0x200800;
	fr.size = 0x3000;
	ck_assert_int_eq(d.l.range_add(&d.l, &fr), 0);
	ck_assert(vfio_record_has(r, 0x201000, 0x2000));
	ck_assert_ptr_eq(r->live[0].vaddr, mb->host + 0x800);
	fr.gpa = 0x300100;
	fr.size = 0x800;
	ck_assert_int_eq(d.l.range_add(&d.l, &fr), 0);
	ck_assert_uint_eq(r->maps, 1);
	/* An overlapping add is refused (the engine never does that; a bug must not double-map). */
	fr.gpa = 0x202000;
	fr.size = 0x1000;
	ck_assert_int_eq(d.l.range_add(&d.l, &fr), -EEXIST);
	/* Del of something never mapped: no call; del of the mapped range: its pages. */
	ck_assert_int_eq(d.l.range_del(&d.l, &fr), 0);
	ck_assert_uint_eq(r->unmaps, 0);
	fr.gpa = 0x200800;
	fr.size = 0x3000;
	ck_assert_int_eq(d.l.range_del(&d.l, &fr), 0);
	ck_assert_uint_eq(r->unmaps, 1);
	ck_assert_uint_eq(r->nlive, 0);
	/* MMIO is not mapped. */
	fr.backend = NULL;
	ck_assert_int_eq(d.l.range_add(&d.l, &fr), 0);
	ck_assert_uint_eq(r->maps, 1);

	/* Backend helpers refuse empty and wrapping ranges. */
	ck_assert_int_eq(vfio_backend_dma_map(be, 0, 0, mb->host, false), -EINVAL);
	ck_assert_int_eq(vfio_backend_dma_map(be, UINT64_MAX - 0xFFF, 0x2000, mb->host, false),
			 -EINVAL);
	ck_assert_int_eq(vfio_backend_dma_map(be, 0x1000, 0x1000, NULL, false), -EINVAL);
	ck_assert_int_eq(vfio_backend_dma_unmap(be, 0x5000, 0x1000), -ENOENT);
	ck_assert_int_eq(vfio_backend_dma_map(be, 0x1800, 0x1000, mb->host, false), -EINVAL);
	vfio_dma_destroy(&d);
	vfio_dma_destroy(NULL);
	mem_backend_destroy(mb);
	vfio_backend_destroy(be);
}
END_TEST

/* ---- type1: IOVA capability chain -------------------------------------- */

struct t1_reply {
	struct vfio_iommu_type1_info info;
	uint8_t pad[4];
	struct vfio_info_cap_header other; /* a non-IOVA cap first */
	uint64_t other_body;
	struct vfio_iommu_type1_info_cap_iova_range cap;
	struct vfio_iova_range r[2];
};

static void t1_reply_init(struct t1_reply *t)
{
	memset(t, 0, sizeof(*t));
	t->info.argsz = sizeof(*t);
	t->info.flags = VFIO_IOMMU_INFO_CAPS | VFIO_IOMMU_INFO_PGSIZES;
	t->info.cap_offset = offsetof(struct t1_reply, other);
	t->other.id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION;
	t->other.version = 1;
	t->other.next = offsetof(struct t1_reply, cap);
	t->cap.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
	t->cap.header.version = 1;
	t->cap.nr_iovas = 2;
	t->r[0] = (struct vfio_iova_range){ 0, 0xFCFFFFFFFFULL };
	t->r[1] = (struct vfio_iova_range){ 0x10000000000ULL, 0xFFFFFFFFFFFFULL };
}

START_TEST(test_type1_iova_caps)
{
	struct iova_range out[4];
	struct t1_reply t;
	unsigned nr = 99;

	t1_reply_init(&t);
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), 0);
	ck_assert_uint_eq(nr, 2);
	ck_assert_uint_eq(out[0].end, 0xFCFFFFFFFFULL);
	ck_assert_uint_eq(out[1].start, 0x10000000000ULL);
	/* Room for one: the count says two, one is written. */
	memset(out, 0xAA, sizeof(out));
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 1, &nr), 0);
	ck_assert_uint_eq(nr, 2);
	ck_assert_uint_eq(out[0].start, 0);
	ck_assert_uint_eq(out[1].start, 0xAAAAAAAAAAAAAAAAULL);
	/* No caps flag, or no offset: unknown. */
	t.info.flags = 0;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), 0);
	ck_assert_uint_eq(nr, 0);
	t1_reply_init(&t);
	t.info.cap_offset = 0;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), 0);
	ck_assert_uint_eq(nr, 0);
	/* A chain without the IOVA cap: unknown. */
	t1_reply_init(&t);
	t.other.next = 0;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), 0);
	ck_assert_uint_eq(nr, 0);
	/* A loop, a backward link, an offset into the header, past the end. */
	t1_reply_init(&t);
	t.other.next = offsetof(struct t1_reply, other);
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	t.other.next = 4;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	t1_reply_init(&t);
	t.info.cap_offset = 8;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	t1_reply_init(&t);
	t.other.next = sizeof(t) - 4;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	t.other.next = UINT32_MAX;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	/* nr_iovas larger than the buffer holds (also one that would overflow a multiply). */
	t1_reply_init(&t);
	t.cap.nr_iovas = 3;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	t.cap.nr_iovas = UINT32_MAX;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	t1_reply_init(&t);
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t) - 1, out, 4, &nr), -EINVAL);
	/* An inverted range, a header shorter than the struct. */
	t1_reply_init(&t);
	t.r[1].end = 0;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), -EINVAL);
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, 8, out, 4, &nr), -EINVAL);
	ck_assert_int_eq(vfio_type1_parse_iova_caps(NULL, 8, out, 4, &nr), -EINVAL);
	/* An unknown version of the IOVA cap is skipped, not misread. */
	t1_reply_init(&t);
	t.cap.header.version = 2;
	ck_assert_int_eq(vfio_type1_parse_iova_caps(&t, sizeof(t), out, 4, &nr), 0);
	ck_assert_uint_eq(nr, 0);
}
END_TEST

/* ---- BDF parsing and a fake sysfs ----------------------------------------- */

START_TEST(test_bdf_parse)
{
	static const char *const bad[] = {
		"", "0000:00:03", "0000:00:20.0", "0000:00:03.8", "zz:00.0", "0000-00:03.0",
		"0000:00:03.0x", "/sys/bus/pci/devices/", "00:3.0", "0000:000:03.0", "00:03.0 ",
		" 00:03.0", "g000:00:03.0", "0000:00:03:0", "//", "/", "0000:00:1f.-",
	};
	char bdf[VFIO_BDF_LEN], *lng;
	unsigned i;

	ck_assert_int_eq(vfio_bdf_parse("0000:00:03.0", bdf), 0);
	ck_assert_str_eq(bdf, "0000:00:03.0");
	ck_assert_int_eq(vfio_bdf_parse("00:1F.7", bdf), 0);
	ck_assert_str_eq(bdf, "0000:00:1f.7");
	ck_assert_int_eq(vfio_bdf_parse("ABCD:fe:1f.7", bdf), 0);
	ck_assert_str_eq(bdf, "abcd:fe:1f.7");
	ck_assert_int_eq(vfio_bdf_parse("/sys/bus/pci/devices/0000:01:00.1", bdf), 0);
	ck_assert_str_eq(bdf, "0000:01:00.1");
	ck_assert_int_eq(vfio_bdf_parse("/sys/devices/pci0000:00/0000:00:02.0///", bdf), 0);
	ck_assert_str_eq(bdf, "0000:00:02.0");
	ck_assert_int_eq(vfio_bdf_parse("0000:00:02.0/", bdf), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(vfio_bdf_parse(bad[i], bdf) == -EINVAL, "accepted '%s'", bad[i]);
	ck_assert_int_eq(vfio_bdf_parse(NULL, bdf), -EINVAL);
	/* Longer than PATH_MAX: refused without reading past it. */
	lng = malloc(PATH_MAX + 64);
	ck_assert_ptr_nonnull(lng);
	memset(lng, '/', PATH_MAX + 63);
	lng[PATH_MAX + 63] = '\0';
	memcpy(lng + PATH_MAX + 63 - 12, "0000:00:03.0", 12);
	ck_assert_int_eq(vfio_bdf_parse(lng, bdf), -EINVAL);
	free(lng);
}
END_TEST

struct fakesys {
	char root[64];
};

static void fs_mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(path, 0755);
		*p = '/';
	}
	(void)mkdir(path, 0755);
}

static void fs_link(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	(void)unlink(path);
	ck_assert_int_eq(symlink(target, path), 0);
}

/* A PCI device with an optional driver and IOMMU group (0: none). */
static void fs_dev(struct fakesys *fs, const char *bdf, const char *drv, int group)
{
	char rel[256], tgt[256];

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s", bdf);
	fs_mkdirs(fs->root, rel);
	if (drv) {
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver", bdf);
		snprintf(tgt, sizeof(tgt), "../../../bus/pci/drivers/%s", drv);
		fs_link(fs->root, rel, tgt);
	}
	if (group >= 0) {
		snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/devices", group);
		fs_mkdirs(fs->root, rel);
		snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/devices/%s", group, bdf);
		snprintf(tgt, sizeof(tgt), "../../../../bus/pci/devices/%s", bdf);
		fs_link(fs->root, rel, tgt);
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/iommu_group", bdf);
		snprintf(tgt, sizeof(tgt), "../../../kernel/iommu_groups/%d", group);
		fs_link(fs->root, rel, tgt);
	}
}

static void fs_init(struct fakesys *fs)
{
	snprintf(fs->root, sizeof(fs->root), "/tmp/vfio-sysfs-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fs->root));
}

static void fs_free(struct fakesys *fs)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fs->root);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_sysfs_no_iommu)
{
	struct fakesys fs;
	char bdf[VFIO_BDF_LEN], err[256];
	unsigned group;

	fs_init(&fs);
	fs_dev(&fs, "0000:00:03.0", "e1000e", -1);
	fs_mkdirs(fs.root, "kernel/iommu_groups");
	/* No group anywhere: the host has no IOMMU, said before the driver. */
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "00:03.0", bdf, &group, err, sizeof(err)),
			 -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "no IOMMU on this host"));
	ck_assert_ptr_nonnull(strstr(err, "intel_iommu=on"));
	/* Groups exist, just not for this device. */
	fs_dev(&fs, "0000:00:04.0", "vfio-pci", 3);
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "00:03.0", bdf, &group, err, sizeof(err)),
			 -ENODEV);
	ck_assert_str_eq(err, "vfio: 0000:00:03.0 has no IOMMU group (no IOMMU covers it)");
	/* A group link not ending in a number. */
	fs_link(fs.root, "bus/pci/devices/0000:00:03.0/iommu_group", "../../kernel/iommu_groups/x7");
	ck_assert_int_eq(vfio_sysfs_group(fs.root, "0000:00:03.0", &group, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a number"));
	fs_free(&fs);
}
END_TEST

START_TEST(test_sysfs_resolve_and_blockers)
{
	struct fakesys fs;
	char bdf[VFIO_BDF_LEN], err[512], list[256], drv[32], cdev[16];
	unsigned group = 0, n = 0;

	fs_init(&fs);
	fs_dev(&fs, "0000:00:03.0", "vfio-pci", 7);
	fs_dev(&fs, "0000:00:03.1", "snd_hda_intel", 7);
	fs_dev(&fs, "0000:00:03.2", NULL, 7);
	fs_dev(&fs, "0000:00:05.0", "e1000e", 9);
	fs_dev(&fs, "0000:00:06.0", NULL, 10);
	fs_mkdirs(fs.root, "kernel/iommu_groups/7/devices/not-a-pci-device");

	/* Every accepted form of the argument names the same device. */
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "0000:00:03.0", bdf, &group, err,
					    sizeof(err)), 0);
	ck_assert_uint_eq(group, 7);
	group = 0;
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "00:03.0", bdf, &group, err, sizeof(err)), 0);
	ck_assert_uint_eq(group, 7);
	snprintf(list, sizeof(list), "%s/bus/pci/devices/0000:00:03.0/", fs.root);
	group = 0;
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, list, bdf, &group, err, sizeof(err)), 0);
	ck_assert_uint_eq(group, 7);
	ck_assert_str_eq(bdf, "0000:00:03.0");

	/* The group's other devices that keep it from being viable. */
	ck_assert_int_eq(vfio_sysfs_group_blockers(fs.root, 7, list, sizeof(list), &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_nonnull(strstr(list, "0000:00:03.1 (snd_hda_intel)"));
	ck_assert_ptr_nonnull(strstr(list, "0000:00:03.2 (no driver)"));
	ck_assert_ptr_null(strstr(list, "03.0"));
	/* A tiny buffer truncates but still counts. */
	ck_assert_int_eq(vfio_sysfs_group_blockers(fs.root, 7, list, 8, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_lt(strlen(list), 8);
	ck_assert_int_eq(vfio_sysfs_group_blockers(fs.root, 99, list, sizeof(list), &n), -ENOENT);

	/* Bound elsewhere, bound to nothing, absent, not an address. */
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "0000:00:05.0", bdf, &group, err,
					    sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "0000:00:05.0 is bound to e1000e, not vfio-pci"));
	ck_assert_ptr_nonnull(strstr(err, "driver_override"));
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "0000:00:06.0", bdf, &group, err,
					    sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "0000:00:06.0 is bound to no driver, not vfio-pci"));
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "0000:00:07.0", bdf, &group, err,
					    sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no PCI device 0000:00:07.0"));
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, "eth0", bdf, &group, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "vfio: 'eth0' is not a PCI address (expected 0000:00:03.0, "
			      "00:03.0 or a sysfs device path)");
	ck_assert_int_eq(vfio_sysfs_resolve(fs.root, NULL, bdf, &group, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(vfio_sysfs_driver(fs.root, "0000:00:03.1", drv, sizeof(drv)), 0);
	ck_assert_str_eq(drv, "snd_hda_intel");
	ck_assert_int_eq(vfio_sysfs_driver(fs.root, "0000:00:03.1", drv, 4), -ENAMETOOLONG);

	/* The VFIO cdev for iommufd. */
	ck_assert_int_eq(vfio_sysfs_cdev(fs.root, "0000:00:03.0", cdev, sizeof(cdev), err,
					 sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "has no VFIO cdev"));
	fs_mkdirs(fs.root, "bus/pci/devices/0000:00:03.0/vfio-dev/vfio12");
	ck_assert_int_eq(vfio_sysfs_cdev(fs.root, "0000:00:03.0", cdev, sizeof(cdev), err,
					 sizeof(err)), 0);
	ck_assert_str_eq(cdev, "vfio12");
	fs_free(&fs);
}
END_TEST

/* ---- backend selection and errors without VFIO ---------------------------- */

START_TEST(test_backend_create_errors)
{
	struct vfio_backend_cfg cfg = { 0 };
	struct vfio_backend *be = (struct vfio_backend *)&cfg;
	enum vfio_backend_kind k;
	struct fakesys fs;
	char err[512], path[PATH_MAX];
	int fd, dev_fd = 7;

	ck_assert_int_eq(vfio_backend_kind_parse("auto", &k), 0);
	ck_assert_int_eq(k, VFIO_BACKEND_AUTO);
	ck_assert_int_eq(vfio_backend_kind_parse("type1", &k), 0);
	ck_assert_int_eq(k, VFIO_BACKEND_TYPE1);
	ck_assert_int_eq(vfio_backend_kind_parse("iommufd", &k), 0);
	ck_assert_int_eq(k, VFIO_BACKEND_IOMMUFD);
	ck_assert_int_eq(vfio_backend_kind_parse("Type1", &k), -EINVAL);
	ck_assert_int_eq(vfio_backend_kind_parse("", &k), -EINVAL);
	ck_assert_int_eq(vfio_backend_kind_parse(NULL, &k), -EINVAL);

	fs_init(&fs);
	cfg.sysfs_root = fs.root;
	cfg.dev_root = fs.root;
	/* No container, no /dev/iommu. */
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_TYPE1, &cfg, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_null(be);
	ck_assert_ptr_nonnull(strstr(err, "no VFIO container"));
	ck_assert_ptr_nonnull(strstr(err, "modprobe vfio-pci"));
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_IOMMUFD, &cfg, err, sizeof(err)),
			 -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "iommufd not available on this kernel (needs "
					  "CONFIG_IOMMUFD and VFIO cdev)"));
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_AUTO, &cfg, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no VFIO container"));
	ck_assert_ptr_nonnull(strstr(err, "iommufd"));
	ck_assert_int_eq(vfio_backend_create(&be, (enum vfio_backend_kind)42, &cfg, err,
					     sizeof(err)), -EINVAL);
	/* Something at /dev/vfio/vfio that is not a container (a regular file). */
	fs_mkdirs(fs.root, "vfio");
	snprintf(path, sizeof(path), "%s/vfio/vfio", fs.root);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_TYPE1, &cfg, err, sizeof(err)),
			 -ENOTTY);
	ck_assert_ptr_nonnull(strstr(err, "is not a VFIO container"));
	ck_assert_ptr_null(be);
	/* A NULL destroy is harmless. */
	vfio_backend_destroy(NULL);

	/* The recording backend has no devices. */
	ck_assert_int_eq(vfio_record_create(&be, 0), 0);
	ck_assert_str_eq(vfio_backend_name(be), "record");
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &dev_fd, err, sizeof(err)),
			 -EOPNOTSUPP);
	ck_assert_int_eq(dev_fd, -1);
	ck_assert_int_eq(vfio_backend_open_device(be, NULL, &dev_fd, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(vfio_record_of(NULL));
	vfio_backend_destroy(be);
	fs_free(&fs);
}
END_TEST

static Suite *vfio_dma_suite(void)
{
	Suite *s = suite_create("vfio_dma");
	TCase *tl = tcase_create("listener");
	TCase *tp = tcase_create("parsing");

	tcase_set_timeout(tl, 120);
	tcase_add_test(tl, test_register_maps_every_ram_range_once);
	tcase_add_test(tl, test_skip_readonly);
	tcase_add_test(tl, test_i1_pam_smram_no_backend_calls);
	tcase_add_test(tl, test_tseg_touches_only_tseg);
	tcase_add_test(tl, test_i1_with_smm_view_and_two_machines);
	tcase_add_test(tl, test_i2_hotplug_maps_exactly_the_block);
	tcase_add_test(tl, test_map_failure_rolls_back);
	tcase_add_test(tl, test_amd_split_relocates_ram);
	tcase_add_test(tl, test_iova_normalize);
	tcase_add_test(tl, test_listener_bad_ranges);
	suite_add_tcase(s, tl);

	tcase_add_test(tp, test_type1_iova_caps);
	tcase_add_test(tp, test_bdf_parse);
	tcase_add_test(tp, test_sysfs_no_iommu);
	tcase_add_test(tp, test_sysfs_resolve_and_blockers);
	tcase_add_test(tp, test_backend_create_errors);
	suite_add_tcase(s, tp);
	return s;
}

UNIT_MAIN(vfio_dma_suite)
