/*
 * tests/unit/test_fdt.c - the FDT machine description: header, /chosen,
 * /cpus, memory nodes against E820, reserved-memory (AMD HT hole, tiling of
 * the whole address map), the PCI host node, fdt_write_file() read back by
 * dtc and fdtget, and refused input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libfdt.h>

#include "firmware/fdt.h"
#include "memory/pc.h"
#include "tests/unit/unit.h"

#define CMDLINE "console=ttyS0,115200 root=/dev/vda rw quiet"

enum lay { LAY_256M, LAY_4G, LAY_1100G_AMD, LAY_NR };

static void layout_make(enum lay which, struct pc_layout *l)
{
	struct pc_layout_cfg c = { .phys_bits = 40, .amd_hole = PC_AMD_HOLE_OFF };
	char err[160];

	switch (which) {
	case LAY_256M:
		c.ram_size = 256 * MiB;
		break;
	case LAY_4G:
		c.ram_size = 4 * GiB;
		break;
	case LAY_1100G_AMD:
		c.ram_size = 1100 * GiB;
		c.phys_bits = 48;
		c.amd_hole = PC_AMD_HOLE_AUTO;
		c.host_is_amd = true;
		break;
	default:
		ck_abort();
	}
	ck_assert_msg(pc_layout_compute(&c, l, err, sizeof(err)) == 0, "layout: %s", err);
}

static void cfg_make(struct fdt_cfg *c, const struct pc_layout *l, unsigned ncpus)
{
	memset(c, 0, sizeof(*c));
	c->layout = l;
	c->ncpus = ncpus;
	c->cmdline = CMDLINE;
	c->ecam_base = PC_ECAM_BASE;
	c->ecam_size = PC_ECAM_SIZE;
}

static void *build_ok(const struct fdt_cfg *c, size_t *len)
{
	void *blob = NULL;
	int r = fdt_build(c, &blob, len);

	ck_assert_int_eq(r, 0);
	ck_assert_ptr_nonnull(blob);
	ck_assert_int_eq(fdt_check_header(blob), 0);
	ck_assert_int_eq(fdt_check_full(blob, *len), 0);
	ck_assert_uint_eq(fdt_totalsize(blob), *len);
	return blob;
}

static uint64_t be_cells(const fdt32_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v = (v << 32) | fdt32_to_cpu(p[i]);
	return v;
}

/* reg of a node with 2+2 cells: returns false when absent or malformed. */
static bool reg64(const void *blob, int node, uint64_t *addr, uint64_t *size)
{
	int n;
	const fdt32_t *p = fdt_getprop(blob, node, "reg", &n);

	if (!p || n != 16)
		return false;
	*addr = be_cells(p, 2);
	*size = be_cells(p + 2, 2);
	return true;
}

static uint32_t prop_u32(const void *blob, int node, const char *name)
{
	int n;
	const fdt32_t *p = fdt_getprop(blob, node, name, &n);

	ck_assert_msg(p && n == 4, "property %s", name);
	return fdt32_to_cpu(*p);
}

/* ---- header and root ------------------------------------------------------- */

START_TEST(test_header_root)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	const char *s;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 2);
	blob = build_ok(&c, &len);
	ck_assert_uint_eq(prop_u32(blob, 0, "#address-cells"), 2);
	ck_assert_uint_eq(prop_u32(blob, 0, "#size-cells"), 2);
	s = fdt_getprop(blob, 0, "compatible", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "vmm,pc-q35");
	ck_assert_ptr_nonnull(fdt_getprop(blob, 0, "model", NULL));
	free(blob);
}
END_TEST

START_TEST(test_bootargs_roundtrip)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	int node, n;
	const char *s;

	layout_make(LAY_4G, &l);
	cfg_make(&c, &l, 1);
	blob = build_ok(&c, &len);
	node = fdt_path_offset(blob, "/chosen");
	ck_assert_int_ge(node, 0);
	s = fdt_getprop(blob, node, "bootargs", &n);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(n, (int)sizeof(CMDLINE));
	ck_assert_str_eq(s, CMDLINE);
	ck_assert_ptr_null(fdt_getprop(blob, node, "linux,initrd-start", NULL));
	free(blob);

	/* No command line: /chosen is there, bootargs is not. */
	c.cmdline = NULL;
	blob = build_ok(&c, &len);
	node = fdt_path_offset(blob, "/chosen");
	ck_assert_int_ge(node, 0);
	ck_assert_ptr_null(fdt_getprop(blob, node, "bootargs", NULL));
	free(blob);
}
END_TEST

/* Properties are only 4-byte aligned: read a u64 without assuming more. */
static uint64_t get64(const void *p)
{
	fdt64_t v;

	memcpy(&v, p, sizeof(v));
	return fdt64_to_cpu(v);
}

START_TEST(test_initrd)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	const void *p;
	int node, n;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 1);
	c.initrd_start = 0x8000000;
	c.initrd_size = 0x123000;
	blob = build_ok(&c, &len);
	node = fdt_path_offset(blob, "/chosen");
	p = fdt_getprop(blob, node, "linux,initrd-start", &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(n, 8);
	ck_assert_uint_eq(get64(p), 0x8000000);
	p = fdt_getprop(blob, node, "linux,initrd-end", &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(n, 8);
	ck_assert_uint_eq(get64(p), 0x8123000);   /* exclusive end */
	free(blob);
}
END_TEST

/* ---- cpus ------------------------------------------------------------------ */

static void check_cpus(unsigned ncpus)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	unsigned count = 0;
	int cpus, node;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, ncpus);
	blob = build_ok(&c, &len);
	cpus = fdt_path_offset(blob, "/cpus");
	ck_assert_int_ge(cpus, 0);
	ck_assert_uint_eq(prop_u32(blob, cpus, "#address-cells"), 1);
	ck_assert_uint_eq(prop_u32(blob, cpus, "#size-cells"), 0);
	fdt_for_each_subnode(node, blob, cpus) {
		char want[16];
		const char *dt = fdt_getprop(blob, node, "device_type", NULL);

		ck_assert_ptr_nonnull(dt);
		ck_assert_str_eq(dt, "cpu");
		ck_assert_ptr_nonnull(fdt_getprop(blob, node, "compatible", NULL));
		/* in order, APIC id = index, unit address = APIC id */
		ck_assert_uint_eq(prop_u32(blob, node, "reg"), count);
		snprintf(want, sizeof(want), "cpu@%x", count);
		ck_assert_str_eq(fdt_get_name(blob, node, NULL), want);
		count++;
	}
	ck_assert_uint_eq(count, ncpus);
	free(blob);
}

START_TEST(test_cpus_1)
{
	check_cpus(1);
}
END_TEST

START_TEST(test_cpus_64)
{
	check_cpus(64);
}
END_TEST

START_TEST(test_cpus_255)
{
	check_cpus(FDT_MAX_CPUS);
}
END_TEST

/* ---- memory and reserved-memory ------------------------------------------- */

static void check_memory_nodes(enum lay which)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	unsigned i, nr_ram = 0, found = 0;
	int node;

	layout_make(which, &l);
	cfg_make(&c, &l, 4);
	blob = build_ok(&c, &len);
	for (i = 0; i < l.nr_e820; i++)
		if (l.e820[i].type == E820_RAM)
			nr_ram++;
	/* Every memory node is one E820 RAM entry, and each entry has a node. */
	fdt_for_each_subnode(node, blob, 0) {
		const char *dt = fdt_getprop(blob, node, "device_type", NULL);
		uint64_t a, s;
		bool match = false;
		char want[40];

		if (!dt || strcmp(dt, "memory"))
			continue;
		ck_assert(reg64(blob, node, &a, &s));
		for (i = 0; i < l.nr_e820; i++)
			if (l.e820[i].type == E820_RAM && l.e820[i].addr == a && l.e820[i].size == s)
				match = true;
		ck_assert_msg(match, "memory node 0x%llx+0x%llx is no E820 RAM entry",
			      (unsigned long long)a, (unsigned long long)s);
		snprintf(want, sizeof(want), "memory@%llx", (unsigned long long)a);
		ck_assert_str_eq(fdt_get_name(blob, node, NULL), want);
		found++;
	}
	ck_assert_uint_eq(found, nr_ram);
	ck_assert_uint_ge(found, 2);
	free(blob);
}

START_TEST(test_memory_256m)
{
	check_memory_nodes(LAY_256M);
}
END_TEST

START_TEST(test_memory_4g)
{
	check_memory_nodes(LAY_4G);
}
END_TEST

START_TEST(test_memory_1100g_amd)
{
	check_memory_nodes(LAY_1100G_AMD);
}
END_TEST

/* Find the reserved-memory child with @reason; -1 when none (asserts it is unique). */
static int find_reason(const void *blob, const char *reason, uint64_t *a, uint64_t *s)
{
	int rm = fdt_path_offset(blob, "/reserved-memory"), node, hit = -1;

	ck_assert_int_ge(rm, 0);
	fdt_for_each_subnode(node, blob, rm) {
		const char *r = fdt_getprop(blob, node, "reason", NULL);

		ck_assert_ptr_nonnull(r);
		if (strcmp(r, reason))
			continue;
		ck_assert_msg(hit < 0, "two %s nodes", reason);
		hit = node;
		ck_assert(reg64(blob, node, a, s));
	}
	return hit;
}

/* The reserved-memory child starting at @addr; -1 when none. */
static int find_at(const void *blob, uint64_t addr, uint64_t *size)
{
	int rm = fdt_path_offset(blob, "/reserved-memory"), node;
	uint64_t a, s;

	fdt_for_each_subnode(node, blob, rm) {
		ck_assert(reg64(blob, node, &a, &s));
		if (a == addr) {
			*size = s;
			return node;
		}
	}
	return -1;
}

START_TEST(test_amd_ht_hole)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	uint64_t a = 0, s = 0;
	int node;

	layout_make(LAY_1100G_AMD, &l);
	ck_assert(l.amd_hole);
	cfg_make(&c, &l, 8);
	blob = build_ok(&c, &len);
	node = find_reason(blob, "amd-ht-hole", &a, &s);
	ck_assert_int_ge(node, 0);
	ck_assert_uint_eq(a, 0xFD00000000ULL);
	ck_assert_uint_eq(a + s, 0x10000000000ULL);
	ck_assert_ptr_nonnull(fdt_getprop(blob, node, "no-map", NULL));
	ck_assert_uint_eq(prop_u32(blob, node, "e820-type"), E820_RESERVED);
	/* RAM moved past it: 4 GiB up to the hole is no RAM, and says so. */
	node = find_at(blob, PC_4G, &s);
	ck_assert_int_ge(node, 0);
	ck_assert_str_eq(fdt_getprop(blob, node, "reason", NULL), "unassigned");
	ck_assert_uint_eq(PC_4G + s, 0xFD00000000ULL);
	free(blob);

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 8);
	blob = build_ok(&c, &len);
	ck_assert_int_lt(find_reason(blob, "amd-ht-hole", &a, &s), 0);
	free(blob);
}
END_TEST

START_TEST(test_named_holes)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	uint64_t a = 0, s = 0;
	int node;

	layout_make(LAY_4G, &l);
	cfg_make(&c, &l, 2);
	blob = build_ok(&c, &len);

	ck_assert_int_ge(find_reason(blob, "ebda-mp-table-bios", &a, &s), 0);
	ck_assert_uint_eq(a, PC_EBDA_START);
	ck_assert_uint_eq(a + s, PC_HIGH_START);

	node = find_reason(blob, "pci-ecam", &a, &s);
	ck_assert_int_ge(node, 0);
	ck_assert_uint_eq(a, PC_ECAM_BASE);
	ck_assert_uint_eq(s, PC_ECAM_SIZE);
	ck_assert_uint_eq(prop_u32(blob, node, "e820-type"), E820_RESERVED);

	ck_assert_int_ge(find_reason(blob, "kvm-tss-identity-map", &a, &s), 0);
	ck_assert_uint_eq(a, PC_KVM_TSS);

	/* Holes E820 does not list: no e820-type, still no-map. */
	node = find_reason(blob, "pci-hole-32", &a, &s);
	ck_assert_int_ge(node, 0);
	ck_assert_uint_eq(a, l.pci32_start);
	ck_assert_uint_eq(a + s, l.pci32_end);
	ck_assert_ptr_null(fdt_getprop(blob, node, "e820-type", NULL));
	ck_assert_ptr_nonnull(fdt_getprop(blob, node, "no-map", NULL));

	ck_assert_int_ge(find_reason(blob, "pci-hole-64", &a, &s), 0);
	ck_assert_uint_eq(a, l.pci64_start);
	ck_assert_uint_eq(a + s, l.pci64_end);

	/* E820 does not carve TSEG out, so neither does the tree. */
	ck_assert_int_lt(find_reason(blob, "tseg", &a, &s), 0);
	ck_assert_int_lt(find_reason(blob, "amd-ht-hole", &a, &s), 0);
	free(blob);
}
END_TEST

struct span {
	uint64_t a, e;
	bool ram;
};

static int span_cmp(const void *x, const void *y)
{
	const struct span *p = x, *q = y;

	return p->a < q->a ? -1 : p->a > q->a;
}

/*
 * Memory nodes and reserved-memory children tile [0, top) exactly: no
 * overlap, no gap; every E820 entry appears as itself; top covers the
 * 64-bit window.
 */
static void check_tiling(enum lay which)
{
	struct pc_layout l;
	struct fdt_cfg c;
	struct span sp[256];
	unsigned n = 0, i, j;
	size_t len;
	void *blob;
	int node, rm;

	layout_make(which, &l);
	cfg_make(&c, &l, 1);
	blob = build_ok(&c, &len);
	fdt_for_each_subnode(node, blob, 0) {
		const char *dt = fdt_getprop(blob, node, "device_type", NULL);
		uint64_t a, s;

		if (!dt || strcmp(dt, "memory"))
			continue;
		ck_assert(reg64(blob, node, &a, &s));
		ck_assert_uint_lt(n, ARRAY_SIZE(sp));
		sp[n++] = (struct span){ a, a + s, true };
	}
	rm = fdt_path_offset(blob, "/reserved-memory");
	ck_assert_int_ge(rm, 0);
	ck_assert_uint_eq(prop_u32(blob, rm, "#address-cells"), 2);
	ck_assert_uint_eq(prop_u32(blob, rm, "#size-cells"), 2);
	ck_assert_ptr_nonnull(fdt_getprop(blob, rm, "ranges", NULL));
	fdt_for_each_subnode(node, blob, rm) {
		uint64_t a, s;

		ck_assert(reg64(blob, node, &a, &s));
		ck_assert_uint_gt(s, 0);
		ck_assert_ptr_nonnull(fdt_getprop(blob, node, "no-map", NULL));
		ck_assert_ptr_nonnull(fdt_getprop(blob, node, "reason", NULL));
		ck_assert_uint_lt(n, ARRAY_SIZE(sp));
		sp[n++] = (struct span){ a, a + s, false };
	}
	qsort(sp, n, sizeof(sp[0]), span_cmp);
	ck_assert_uint_eq(sp[0].a, 0);
	for (i = 1; i < n; i++)
		ck_assert_msg(sp[i].a == sp[i - 1].e, "gap or overlap at 0x%llx",
			      (unsigned long long)sp[i].a);
	ck_assert_uint_ge(sp[n - 1].e, l.pci64_end);
	/* Each E820 entry is one span with the same RAM-ness. */
	for (i = 0; i < l.nr_e820; i++) {
		bool found = false;

		for (j = 0; j < n; j++)
			if (sp[j].a == l.e820[i].addr && sp[j].e == l.e820[i].addr + l.e820[i].size &&
			    sp[j].ram == (l.e820[i].type == E820_RAM))
				found = true;
		ck_assert_msg(found, "E820 entry %u missing", i);
	}
	free(blob);
}

START_TEST(test_tiling_all_layouts)
{
	check_tiling(LAY_256M);
	check_tiling(LAY_4G);
	check_tiling(LAY_1100G_AMD);
}
END_TEST

/* ---- PCI ------------------------------------------------------------------- */

static const struct fdt_pci_dev g_pci[] = {
	{ .devfn = 0x00, .vendor = 0x8086, .device = 0x29c0, .class_code = 0x060000,
	  .name = "host-bridge" },
	{ .devfn = 0x08, .vendor = 0x1af4, .device = 0x1042, .class_code = 0x010000,
	  .name = "virtio-blk" },
	{ .devfn = 0x11, .vendor = 0x10de, .device = 0x1eb8, .class_code = 0x030200 },
};

START_TEST(test_pci_host)
{
	struct pc_layout l;
	struct fdt_cfg c;
	size_t len;
	void *blob;
	const fdt32_t *p;
	const char *s;
	uint64_t a, sz;
	int node, n, child;
	unsigned count = 0;
	char path[64];

	layout_make(LAY_1100G_AMD, &l);
	cfg_make(&c, &l, 4);
	c.pci = g_pci;
	c.nr_pci = ARRAY_SIZE(g_pci);
	blob = build_ok(&c, &len);
	snprintf(path, sizeof(path), "/pci@%llx", (unsigned long long)PC_ECAM_BASE);
	node = fdt_path_offset(blob, path);
	ck_assert_int_ge(node, 0);
	s = fdt_getprop(blob, node, "compatible", NULL);
	ck_assert_str_eq(s, "pci-host-ecam-generic");
	s = fdt_getprop(blob, node, "device_type", NULL);
	ck_assert_str_eq(s, "pci");
	ck_assert_uint_eq(prop_u32(blob, node, "#address-cells"), 3);
	ck_assert_uint_eq(prop_u32(blob, node, "#size-cells"), 2);
	ck_assert(reg64(blob, node, &a, &sz));
	ck_assert_uint_eq(a, PC_ECAM_BASE);
	ck_assert_uint_eq(sz, PC_ECAM_SIZE);
	p = fdt_getprop(blob, node, "bus-range", &n);
	ck_assert_int_eq(n, 8);
	ck_assert_uint_eq(fdt32_to_cpu(p[0]), 0);
	ck_assert_uint_eq(fdt32_to_cpu(p[1]), 255);

	/* ranges: I/O, 32-bit, 64-bit, 7 cells each, windows equal to the layout */
	p = fdt_getprop(blob, node, "ranges", &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(n, 3 * 7 * 4);
	ck_assert_uint_eq(fdt32_to_cpu(p[0]), 0x01000000);
	ck_assert_uint_eq(be_cells(p + 1, 2), 0);
	ck_assert_uint_eq(be_cells(p + 3, 2), 0);
	ck_assert_uint_eq(be_cells(p + 5, 2), 0x10000);
	p += 7;
	ck_assert_uint_eq(fdt32_to_cpu(p[0]), 0x02000000);
	ck_assert_uint_eq(be_cells(p + 1, 2), l.pci32_start);   /* PCI address */
	ck_assert_uint_eq(be_cells(p + 3, 2), l.pci32_start);   /* CPU address */
	ck_assert_uint_eq(be_cells(p + 5, 2), l.pci32_end - l.pci32_start);
	p += 7;
	ck_assert_uint_eq(fdt32_to_cpu(p[0]) & 0x03000000, 0x03000000);
	ck_assert_uint_eq(be_cells(p + 1, 2), l.pci64_start);
	ck_assert_uint_eq(be_cells(p + 3, 2), l.pci64_start);
	ck_assert_uint_eq(be_cells(p + 5, 2), l.pci64_end - l.pci64_start);
	ck_assert_uint_ge(l.pci64_start, 0x10000000000ULL);   /* past the HT hole */

	fdt_for_each_subnode(child, blob, node) {
		const struct fdt_pci_dev *d = &g_pci[count];
		const char *cs;
		int cn;

		ck_assert_uint_lt(count, ARRAY_SIZE(g_pci));
		p = fdt_getprop(blob, child, "reg", &n);
		ck_assert_int_eq(n, 20);
		ck_assert_uint_eq(fdt32_to_cpu(p[0]), d->devfn << 8);
		ck_assert_uint_eq(prop_u32(blob, child, "vendor-id"), d->vendor);
		ck_assert_uint_eq(prop_u32(blob, child, "device-id"), d->device);
		ck_assert_uint_eq(prop_u32(blob, child, "class-code"), d->class_code);
		cs = fdt_getprop(blob, child, "compatible", &cn);
		ck_assert_ptr_nonnull(cs);
		ck_assert_int_eq(fdt_stringlist_count(blob, child, "compatible"), 2);
		count++;
	}
	ck_assert_uint_eq(count, ARRAY_SIZE(g_pci));
	ck_assert_int_ge(fdt_subnode_offset(blob, node, "host-bridge@0"), 0);
	ck_assert_int_ge(fdt_subnode_offset(blob, node, "virtio-blk@1"), 0);
	ck_assert_int_ge(fdt_subnode_offset(blob, node, "pci-device@2,1"), 0);
	child = fdt_subnode_offset(blob, node, "virtio-blk@1");
	ck_assert_int_eq(fdt_stringlist_search(blob, child, "compatible", "pci1af4,1042"), 0);
	ck_assert_int_eq(fdt_stringlist_search(blob, child, "compatible", "pciclass,010000"), 1);
	free(blob);

	/* A small ECAM: fewer buses. */
	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 1);
	c.ecam_size = 64 * MiB;
	blob = build_ok(&c, &len);
	node = fdt_path_offset(blob, path);
	p = fdt_getprop(blob, node, "bus-range", &n);
	ck_assert_uint_eq(fdt32_to_cpu(p[1]), 63);
	free(blob);
}
END_TEST

/* ---- the file, read back by dtc and fdtget ---------------------------------- */

static bool tools_present(void)
{
	return system("command -v fdtget >/dev/null 2>&1 && command -v dtc >/dev/null 2>&1") == 0;
}

/* Run a shell command, return its stdout (first 4 KiB) and exit status. */
static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *f = popen(cmd, "r");
	size_t n;
	int st;

	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_write_file_tools)
{
	struct pc_layout l;
	struct fdt_cfg c;
	char dir[] = "/tmp/test_fdt.XXXXXX", path[96], cmd[320], out[4096];
	size_t len;
	void *blob;
	struct stat st;

	layout_make(LAY_1100G_AMD, &l);
	cfg_make(&c, &l, 4);
	c.pci = g_pci;
	c.nr_pci = ARRAY_SIZE(g_pci);
	c.initrd_start = 0x4000000;
	c.initrd_size = 0x100000;
	blob = build_ok(&c, &len);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/machine.dtb", dir);
	ck_assert_int_eq(fdt_write_file(blob, len, path), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, len);
	/* Overwrite in place: same size, still valid. */
	ck_assert_int_eq(fdt_write_file(blob, len, path), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, len);

	if (!tools_present()) {
		fprintf(stderr,
			"\n*** SKIP: fdtget/dtc not installed (apt-get install device-tree-compiler) ***\n\n");
	} else {
		/* dtc decompiles it with exit 0 and without a single warning. */
		snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts -o %s/machine.dts %s 2>&1", dir, path);
		ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
		ck_assert_msg(out[0] == '\0', "dtc said: %s", out);

		snprintf(cmd, sizeof(cmd), "fdtget -t s %s /chosen bootargs", path);
		ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
		ck_assert_str_eq(out, CMDLINE);

		/* RAM above the HT hole, at 1 TiB: 1098 GiB = 0x112_8000_0000 */
		snprintf(cmd, sizeof(cmd), "fdtget -t x %s /memory@%llx reg", path,
			 (unsigned long long)l.above_4g_start);
		ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
		ck_assert_uint_eq(l.above_4g_start, 0x10000000000ULL);
		ck_assert_uint_eq(l.above_4g, 1098 * GiB);
		ck_assert_str_eq(out, "100 0 112 80000000");

		snprintf(cmd, sizeof(cmd), "fdtget -t x %s /memory@100000 reg", path);
		ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
		ck_assert_str_eq(out, "0 100000 0 7ff00000");

		snprintf(cmd, sizeof(cmd), "fdtget -t x %s /reserved-memory/amd-ht-hole@fd00000000 reg",
			 path);
		ck_assert_int_eq(run(cmd, out, sizeof(out)), 0);
		ck_assert_str_eq(out, "fd 0 3 0");

		/* A node that is not there: fdtget fails (the check above could fail). */
		snprintf(cmd, sizeof(cmd), "fdtget -t x %s /memory@123 reg 2>/dev/null", path);
		ck_assert_int_ne(run(cmd, out, sizeof(out)), 0);

		snprintf(cmd, sizeof(cmd), "%s/machine.dts", dir);
		unlink(cmd);
	}
	unlink(path);
	ck_assert_int_eq(rmdir(dir), 0);
	free(blob);
}
END_TEST

START_TEST(test_write_file_errors)
{
	struct pc_layout l;
	struct fdt_cfg c;
	char dir[] = "/tmp/test_fdt.XXXXXX", path[96];
	uint8_t junk[64];
	size_t len;
	void *blob;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 1);
	blob = build_ok(&c, &len);
	ck_assert_ptr_nonnull(mkdtemp(dir));

	ck_assert_int_eq(fdt_write_file(blob, len, "/nonexistent-dir/x/machine.dtb"), -ENOENT);
	ck_assert_int_eq(fdt_write_file(blob, len, dir), -EISDIR);
	snprintf(path, sizeof(path), "%s/x.dtb", dir);
	ck_assert_int_eq(fdt_write_file(blob, len, "/dev/full"), -ENOSPC);
	/* Bad blobs: nothing is created. */
	ck_assert_int_eq(fdt_write_file(NULL, len, path), -EINVAL);
	ck_assert_int_eq(fdt_write_file(blob, len, NULL), -EINVAL);
	ck_assert_int_eq(fdt_write_file(blob, len - 1, path), -EINVAL);
	ck_assert_int_eq(fdt_write_file(blob, 4, path), -EINVAL);
	memset(junk, 0xA5, sizeof(junk));
	ck_assert_int_eq(fdt_write_file(junk, sizeof(junk), path), -EINVAL);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(blob);
}
END_TEST

/* ---- refused input ---------------------------------------------------------- */

static int build_err(const struct fdt_cfg *c)
{
	char sentinel;
	void *blob = &sentinel;   /* must stay untouched on error */
	size_t len = 77;
	int r = fdt_build(c, &blob, &len);

	if (r == 0) {
		free(blob);
		return 0;
	}
	ck_assert_ptr_eq(blob, &sentinel);
	ck_assert_uint_eq(len, 77);
	return r;
}

START_TEST(test_cmdline_limits)
{
	struct pc_layout l;
	struct fdt_cfg c;
	char *big = malloc(64 * KiB + 1);
	size_t len;
	void *blob;
	int node;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 64 * KiB);
	big[64 * KiB] = '\0';
	c.cmdline = big;
	ck_assert_int_eq(build_err(&c), -EINVAL);   /* 64 KiB + NUL does not fit */

	big[64 * KiB - 1] = '\0';                    /* the largest that does */
	blob = build_ok(&c, &len);
	node = fdt_path_offset(blob, "/chosen");
	ck_assert_uint_eq(strlen(fdt_getprop(blob, node, "bootargs", NULL)), 64 * KiB - 1);
	free(blob);
	free(big);
}
END_TEST

START_TEST(test_ncpus_limits)
{
	struct pc_layout l;
	struct fdt_cfg c;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 0);
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ncpus = 256;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ncpus = 100000;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ncpus = UINT32_MAX;
	ck_assert_int_eq(build_err(&c), -EINVAL);
}
END_TEST

START_TEST(test_bad_args)
{
	struct pc_layout l;
	struct fdt_cfg c;
	void *blob;
	size_t len;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 1);
	ck_assert_int_eq(fdt_build(NULL, &blob, &len), -EINVAL);
	ck_assert_int_eq(fdt_build(&c, NULL, &len), -EINVAL);
	ck_assert_int_eq(fdt_build(&c, &blob, NULL), -EINVAL);
	c.layout = NULL;
	ck_assert_int_eq(build_err(&c), -EINVAL);
}
END_TEST

START_TEST(test_bad_ecam)
{
	struct pc_layout l;
	struct fdt_cfg c;

	layout_make(LAY_4G, &l);
	cfg_make(&c, &l, 1);
	c.ecam_size = 0;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_size = 512 * MiB;                      /* more than 256 buses */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_size = PC_ECAM_SIZE + 4 * KiB;         /* not whole buses */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_size = PC_ECAM_SIZE;
	c.ecam_base = PC_ECAM_BASE + 4 * KiB;         /* misaligned */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_base = 0x40000000;                     /* over RAM */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_base = PC_PCI32_START;                 /* over the 32-bit window */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_base = l.pci64_start;                  /* over the 64-bit window */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_base = UINT64_MAX - MiB + 1;           /* wraps */
	c.ecam_size = 2 * MiB;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.ecam_base = 0xFFF00000000ULL;               /* a free place: fine, still described */
	c.ecam_size = 16 * MiB;
	ck_assert_int_eq(build_err(&c), 0);
}
END_TEST

START_TEST(test_bad_initrd)
{
	struct pc_layout l;
	struct fdt_cfg c;

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 1);
	c.initrd_start = 255 * MiB;
	c.initrd_size = 2 * MiB;                      /* runs past RAM */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.initrd_start = UINT64_MAX - 4095;
	c.initrd_size = 8192;                         /* wraps */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.initrd_start = PC_ECAM_BASE;                /* not RAM */
	c.initrd_size = 4096;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.initrd_start = 0x9F000;                     /* straddles RAM and the EBDA */
	c.initrd_size = 0x2000;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.initrd_start = 0;                           /* size 0: no initrd, start ignored */
	c.initrd_size = 0;
	c.initrd_start = UINT64_MAX;
	ck_assert_int_eq(build_err(&c), 0);
}
END_TEST

START_TEST(test_bad_pci)
{
	struct pc_layout l;
	struct fdt_cfg c;
	struct fdt_pci_dev d[2] = {
		{ .devfn = 8, .vendor = 1, .device = 2, .class_code = 0x020000, .name = "net" },
		{ .devfn = 16, .vendor = 1, .device = 3, .class_code = 0x020000, .name = "net" },
	};
	char longname[40];

	layout_make(LAY_256M, &l);
	cfg_make(&c, &l, 1);
	c.pci = d;
	c.nr_pci = 2;
	ck_assert_int_eq(build_err(&c), 0);
	d[1].devfn = 8;                               /* duplicate */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	d[1].devfn = 256;                             /* out of range */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	d[1].devfn = 16;
	d[1].class_code = 0x1000000;                  /* more than 24 bits */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	d[1].class_code = 0x020000;
	d[1].name = "bad name";
	ck_assert_int_eq(build_err(&c), -EINVAL);
	d[1].name = "9net";
	ck_assert_int_eq(build_err(&c), -EINVAL);
	d[1].name = "net@1";
	ck_assert_int_eq(build_err(&c), -EINVAL);
	d[1].name = "";
	ck_assert_int_eq(build_err(&c), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	d[1].name = longname;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	longname[FDT_NAME_MAX] = '\0';                /* exactly 31: fine */
	ck_assert_int_eq(build_err(&c), 0);
	c.pci = NULL;                                 /* count without entries */
	ck_assert_int_eq(build_err(&c), -EINVAL);
	c.nr_pci = 0;
	ck_assert_int_eq(build_err(&c), 0);
}
END_TEST

START_TEST(test_bad_layout)
{
	struct pc_layout l, good;
	struct fdt_cfg c;

	layout_make(LAY_4G, &good);
	cfg_make(&c, &l, 1);

	l = good;
	l.nr_e820 = ARRAY_SIZE(l.e820) + 1;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	l = good;
	l.nr_e820 = UINT32_MAX;
	ck_assert_int_eq(build_err(&c), -EINVAL);

	l = good;                                     /* overlapping E820 entries */
	l.e820[l.nr_e820++] = (struct e820_entry){ 0x200000, 0x1000, E820_RESERVED };
	ck_assert_int_eq(build_err(&c), -EINVAL);

	l = good;                                     /* a wrapping entry */
	l.e820[l.nr_e820++] = (struct e820_entry){ UINT64_MAX - 0xFFF, 0x2000, E820_RESERVED };
	ck_assert_int_eq(build_err(&c), -EINVAL);

	l = good;                                     /* an empty entry */
	l.e820[l.nr_e820++] = (struct e820_entry){ 0x1000000000000ULL, 0, E820_RESERVED };
	ck_assert_int_eq(build_err(&c), -EINVAL);

	l = good;
	l.pci32_end = l.pci32_start;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	l = good;
	l.pci32_end = PC_4G + 1;
	ck_assert_int_eq(build_err(&c), -EINVAL);
	l = good;
	l.pci64_end = l.pci64_start - 1;
	ck_assert_int_eq(build_err(&c), -EINVAL);

	l = good;                                     /* an extra ACPI entry keeps its own reason */
	l.e820[l.nr_e820++] = (struct e820_entry){ 0x1000000000000ULL, 0x1000, E820_ACPI };
	ck_assert_int_eq(build_err(&c), 0);

	l = good;                                     /* no 64-bit window: two ranges only */
	l.pci64_start = l.pci64_end = 0;
	{
		void *blob;
		size_t len;
		int node, n;

		blob = build_ok(&c, &len);
		node = fdt_path_offset(blob, "/pci@b0000000");
		ck_assert_ptr_nonnull(fdt_getprop(blob, node, "ranges", &n));
		ck_assert_int_eq(n, 2 * 7 * 4);
		free(blob);
	}
}
END_TEST

Suite *fdt_suite(void);
Suite *fdt_suite(void)
{
	Suite *s = suite_create("fdt");
	TCase *tc = tcase_create("fdt");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_header_root);
	tcase_add_test(tc, test_bootargs_roundtrip);
	tcase_add_test(tc, test_initrd);
	tcase_add_test(tc, test_cpus_1);
	tcase_add_test(tc, test_cpus_64);
	tcase_add_test(tc, test_cpus_255);
	tcase_add_test(tc, test_memory_256m);
	tcase_add_test(tc, test_memory_4g);
	tcase_add_test(tc, test_memory_1100g_amd);
	tcase_add_test(tc, test_amd_ht_hole);
	tcase_add_test(tc, test_named_holes);
	tcase_add_test(tc, test_tiling_all_layouts);
	tcase_add_test(tc, test_pci_host);
	tcase_add_test(tc, test_write_file_tools);
	tcase_add_test(tc, test_write_file_errors);
	tcase_add_test(tc, test_cmdline_limits);
	tcase_add_test(tc, test_ncpus_limits);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_bad_ecam);
	tcase_add_test(tc, test_bad_initrd);
	tcase_add_test(tc, test_bad_pci);
	tcase_add_test(tc, test_bad_layout);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(fdt_suite);
