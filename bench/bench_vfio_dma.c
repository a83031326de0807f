/*
 * bench/bench_vfio_dma.c - what the DMA listener costs: time to map the
 * whole guest RAM of a PC layout (1, 16 and 64 GiB of MAP_NORESERVE memfd)
 * on the recording backend, the number of map calls that takes, and the
 * backend calls a SeaBIOS-like PAM/SMRAM sequence makes afterwards (0: I5).
 *
 * The recording backend does no pinning: these numbers are the VMM's own
 * cost. With type1 the kernel pins every page at MAP_DMA time, which is
 * what dominates on a real host (and needs RLIMIT_MEMLOCK >= guest RAM).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memory/memory.h"
#include "memory/pc.h"
#include "vfio/backend.h"
#include "vfio/dma.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_vfio_dma: %s: %d\n", what, err);
	exit(1);
}

static void run(uint64_t ram_gib)
{
	struct pc_layout_cfg c = {
		.ram_size = ram_gib * GiB, .phys_bits = 46, .amd_hole = PC_AMD_HOLE_OFF,
	};
	struct pc_mem *pc = calloc(1, sizeof(*pc));
	struct mem_backend *ram;
	struct vfio_backend *be;
	struct vfio_record *r;
	struct vfio_dma d;
	struct mem_space s;
	struct pc_layout l;
	double t0, t_map, t_unmap;
	uint64_t before;
	char err[160];
	int ret, reg;

	if (!pc)
		die("calloc", -12);
	ret = pc_layout_compute(&c, &l, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_vfio_dma: %s\n", err);
		exit(1);
	}
	if ((ret = mem_space_init(&s, "bench")) ||
	    (ret = mem_backend_create(&ram, "ram", c.ram_size)))
		die("space/backend", ret);
	if ((ret = pc_mem_build(pc, &s, ram, NULL, &l)))
		die("pc_mem_build", ret);
	if ((ret = vfio_record_create(&be, 0)))
		die("vfio_record_create", ret);
	r = vfio_record_of(be);
	if ((ret = vfio_dma_init(&d, be, NULL)))
		die("vfio_dma_init", ret);

	t0 = now_us();
	if ((ret = vfio_dma_register(&d, &s)))
		die("vfio_dma_register", ret);
	t_map = now_us() - t0;
	before = r->total;
	/* Firmware-like: shadow the BIOS, lock it, SMRAM open/close/lock, reset. */
	for (reg = 0; reg < 7; reg++)
		if ((ret = pc_mem_pam_write(pc, (unsigned)reg, 0x33)))
			die("pam", ret);
	for (reg = 0; reg < 7; reg++)
		if ((ret = pc_mem_pam_write(pc, (unsigned)reg, 0x11)))
			die("pam", ret);
	if ((ret = pc_mem_smram_write(pc, 0x4A)) || (ret = pc_mem_smram_write(pc, 0x0A)) ||
	    (ret = pc_mem_smram_write(pc, 0x1A)) || (ret = pc_mem_reset(pc)))
		die("smram", ret);

	printf("%4llu GiB: map %8.1f us, %llu map calls (%llu MiB mapped), "
	       "%llu backend calls for 14 PAM + 3 SMRAM writes + reset",
	       (unsigned long long)ram_gib, t_map, (unsigned long long)d.stats.maps,
	       (unsigned long long)(d.stats.map_bytes / MiB),
	       (unsigned long long)(r->total - before));
	t0 = now_us();
	vfio_dma_unregister(&d);
	t_unmap = now_us() - t0;
	printf(", unmap %.1f us (%llu calls)\n", t_unmap, (unsigned long long)d.stats.unmaps);

	vfio_dma_destroy(&d);
	vfio_backend_destroy(be);
	mem_space_destroy(&s);
	mem_backend_destroy(ram);
	free(pc);
}

int main(void)
{
	static const uint64_t sizes[] = { 1, 16, 64 };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		run(sizes[i]);
	return 0;
}
