/*
 * bench/bench_memory.c - what the memory engine costs, and what PAM costs.
 *
 * (a) Listener calls per PAM/SMRAM register write along a SeaBIOS-like
 *     sequence, on the real layout (every piece unmergeable) and, for
 *     comparison, on the same tree with merging allowed (what a layout of
 *     plain mergeable aliases gives: seed 01's problem).
 * (b) Time of one commit (render + diff + notify) against the number of
 *     regions in the tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memory/memory.h"
#include "memory/pc.h"

struct counter {
	struct mem_listener l;
	unsigned long adds, dels, above_1m;
};

static int count(struct mem_listener *l, const struct mem_flat_range *fr, bool add)
{
	struct counter *c = (struct counter *)l;

	if (add)
		c->adds++;
	else
		c->dels++;
	if (fr->gpa + fr->size > PC_HIGH_START)
		c->above_1m++;
	return 0;
}

static int count_add(struct mem_listener *l, const struct mem_flat_range *fr)
{
	return count(l, fr, true);
}

static int count_del(struct mem_listener *l, const struct mem_flat_range *fr)
{
	return count(l, fr, false);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_memory: %s: %d\n", what, err);
	exit(1);
}

/* Undo what pc_mem_build made unmergeable: a tree of plain aliases. */
static void allow_merging(struct pc_mem *pc)
{
	unsigned i;

	mem_region_set_unmergeable(&pc->ram_low, false);
	mem_region_set_unmergeable(&pc->ram_mid, false);
	mem_region_set_unmergeable(&pc->smram_container, false);
	for (i = 0; i < 3; i++) {
		mem_region_set_unmergeable(&pc->tseg[i], false);
		mem_region_set_unmergeable(&pc->tseg_blackhole[i], false);
	}
	for (i = 0; i < PC_PAM_SEGMENTS; i++)
		mem_region_set_unmergeable(&pc->pam[i].container, false);
}

struct step {
	const char *what;
	int kind; /* 0 PAM, 1 SMRAM */
	unsigned reg;
	uint8_t val;
};

/* Roughly what SeaBIOS does on Q35: shadow, copy, write-protect, SMM setup. */
static const struct step seq[] = {
	{ "PAM0 = 0x30 (F seg RW)", 0, 0, 0x30 },
	{ "PAM1 = 0x33", 0, 1, 0x33 },
	{ "PAM2 = 0x33", 0, 2, 0x33 },
	{ "PAM3 = 0x33", 0, 3, 0x33 },
	{ "PAM4 = 0x33", 0, 4, 0x33 },
	{ "PAM5 = 0x33", 0, 5, 0x33 },
	{ "PAM6 = 0x33", 0, 6, 0x33 },
	{ "SMRAM = 0x4A (open)", 1, 0, 0x4A },
	{ "SMRAM = 0x0A (close)", 1, 0, 0x0A },
	{ "PAM1 = 0x11 (RO)", 0, 1, 0x11 },
	{ "PAM5 = 0x11 (RO)", 0, 5, 0x11 },
	{ "PAM6 = 0x11 (RO)", 0, 6, 0x11 },
	{ "PAM0 = 0x10 (F seg RO)", 0, 0, 0x10 },
	{ "PAM3 = 0x33 (no change)", 0, 3, 0x33 },
	{ "SMRAM = 0x1A (lock)", 1, 0, 0x1A },
};

static void bench_pam(bool merging)
{
	struct pc_layout_cfg cfg = { .ram_size = 512 * MiB, .phys_bits = 40 };
	struct counter c = { .l = { .range_add = count_add, .range_del = count_del } };
	struct mem_backend *ram, *bios;
	struct pc_mem *pc = calloc(1, sizeof(*pc));
	unsigned long tot = 0, tot_hi = 0;
	struct pc_layout l;
	struct mem_space s;
	unsigned i;
	int ret;

	if (!pc)
		die("calloc", 0);
	ret = pc_layout_compute(&cfg, &l, NULL, 0);
	if (!ret)
		ret = mem_space_init(&s, "bench");
	if (!ret)
		ret = mem_backend_create(&ram, "ram", cfg.ram_size);
	if (!ret)
		ret = mem_backend_create(&bios, "bios", 256 * KiB);
	if (!ret)
		ret = pc_mem_build(pc, &s, ram, bios, &l);
	if (ret)
		die("setup", ret);
	if (merging)
		allow_merging(pc);
	ret = mem_listener_register(&s, &c.l);
	if (ret)
		die("listener", ret);

	printf("\n(a) listener calls per register write, 512 MiB guest, %s\n",
	       merging ? "pieces MERGEABLE (plain aliases, for comparison)" :
			 "pieces unmergeable (the real layout)");
	printf("  %-26s %6s %5s %5s %16s\n", "write", "calls", "dels", "adds",
	       "calls >= 1 MiB");
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		unsigned long a0 = c.adds, d0 = c.dels, h0 = c.above_1m, n;

		ret = seq[i].kind ? pc_mem_smram_write(pc, seq[i].val) :
				    pc_mem_pam_write(pc, seq[i].reg, seq[i].val);
		if (ret)
			die("register write", ret);
		n = (c.adds - a0) + (c.dels - d0);
		tot += n;
		tot_hi += c.above_1m - h0;
		printf("  %-26s %6lu %5lu %5lu %16lu\n", seq[i].what, n, c.dels - d0, c.adds - a0,
		       c.above_1m - h0);
	}
	printf("  %-26s %6lu %5s %5s %16lu   (%.1f calls per write)\n", "total", tot, "", "",
	       tot_hi, (double)tot / (sizeof(seq) / sizeof(seq[0])));

	mem_listener_unregister(&s, &c.l);
	mem_space_destroy(&s);
	mem_backend_destroy(ram);
	mem_backend_destroy(bios);
	free(pc);
}

static void bench_commit(unsigned n)
{
	struct counter c = { .l = { .range_add = count_add, .range_del = count_del } };
	struct mem_region target, *r = calloc(n, sizeof(*r));
	struct mem_backend *b;
	struct mem_space s;
	unsigned i, iters = n >= 1000 ? 200 : 2000;
	double t0, t_build, t_commit;
	int ret;

	if (!r)
		die("calloc", 0);
	ret = mem_space_init(&s, "bench");
	if (!ret)
		ret = mem_backend_create(&b, "ram", (uint64_t)n * 64 * KiB);
	if (!ret)
		ret = mem_listener_register(&s, &c.l);
	if (ret)
		die("setup", ret);
	mem_region_init_ram(&target, "ram", b, 0, b->size);

	/* n unmergeable aliases side by side, like n memslots of hotplug blocks. */
	t0 = now_us();
	mem_begin(&s);
	for (i = 0; i < n; i++) {
		mem_region_init_alias(&r[i], "blk", &target, (uint64_t)i * 64 * KiB, 64 * KiB);
		mem_region_set_unmergeable(&r[i], true);
		ret = mem_region_add(&s.root, &r[i], PC_4G + (uint64_t)i * 64 * KiB, 0);
		if (ret)
			die("add", ret);
	}
	ret = mem_commit(&s);
	if (ret)
		die("commit", ret);
	t_build = now_us() - t0;

	/* One region unplugged and plugged back: one commit each. */
	t0 = now_us();
	for (i = 0; i < iters; i++) {
		ret = mem_region_set_enabled(&r[(i / 2) % n], i % 2);
		if (ret)
			die("toggle", ret);
	}
	t_commit = (now_us() - t0) / iters;
	printf("  %8u %14.1f %14.1f %12.2f\n", n, t_build, t_commit,
	       (double)(c.adds + c.dels - n) / iters);

	mem_listener_unregister(&s, &c.l);
	mem_space_destroy(&s);
	mem_backend_destroy(b);
	free(r);
}

int main(void)
{
	static const unsigned sizes[] = { 10, 100, 1000, 5000, 20000 };
	unsigned i;

	bench_pam(false);
	bench_pam(true);

	printf("\n(b) commit time vs number of regions (render + diff + notify, one toggle)\n");
	printf("  %8s %14s %14s %12s\n", "regions", "build_us", "commit_us", "calls/commit");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		bench_commit(sizes[i]);
	return 0;
}
