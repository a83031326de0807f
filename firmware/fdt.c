/*
 * firmware/fdt.c - the FDT machine description, built with libfdt's
 * sequential-write API.
 *
 * The address map is computed first, as a plain list of non-overlapping
 * [start, end) pieces, each with a reason: the E820 entries as they are,
 * then the holes E820 does not list (each one minus what is already
 * placed), then "unassigned" for every gap left below the top. The tree is
 * then written in one pass; when the buffer is too small the pass restarts
 * with a larger one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libfdt.h>

#include "firmware/boot.h"
#include "firmware/fdt.h"

/* PCI bus binding, phys.hi: npt000ss bbbbbbbb dddddfff rrrrrrrr. */
#define FDT_PCI_SPACE_IO     0x01000000u
#define FDT_PCI_SPACE_MEM32  0x02000000u
/*
 * The 64-bit window is non-prefetchable: a host bridge window without the
 * prefetchable bit may hold both kinds of BARs, while a prefetchable one
 * would push every 64-bit non-prefetchable BAR (common on passthrough
 * devices) into the small 32-bit window.
 */
#define FDT_PCI_SPACE_MEM64  0x03000000u
/* x86 port space is separate from memory: ports map to themselves. */
#define FDT_PCI_IO_SIZE      0x10000u
#define FDT_ECAM_BUS_SIZE    MiB       /* 32 devices x 8 functions x 4 KiB */
#define FDT_ECAM_MAX_BUSES   256u
#define FDT_KVM_TSS_SIZE     (16 * KiB) /* what memory/pc.c reserves in E820 */

#define FDT_BLOB_START       (16 * KiB)
#define FDT_MAP_MAX          128u

struct fdt_piece {
	uint64_t start, end;   /* [start, end) */
	const char *reason;    /* NULL for RAM */
	uint32_t e820_type;    /* 0 for a hole E820 does not list */
};

struct fdt_map {
	struct fdt_piece p[FDT_MAP_MAX];
	unsigned nr;
};

static int fdt_map_add(struct fdt_map *m, uint64_t start, uint64_t end, const char *reason,
		       uint32_t type)
{
	if (m->nr == FDT_MAP_MAX)
		return -E2BIG;
	m->p[m->nr++] = (struct fdt_piece){ start, end, reason, type };
	return 0;
}

/* Add the parts of [s, e) that no piece covers yet. */
static int fdt_map_add_uncovered(struct fdt_map *m, uint64_t s, uint64_t e, const char *reason)
{
	int r;

	while (s < e) {
		const struct fdt_piece *best = NULL;
		unsigned i;

		for (i = 0; i < m->nr; i++) {
			const struct fdt_piece *p = &m->p[i];

			if (p->start < e && s < p->end && (!best || p->start < best->start))
				best = p;
		}
		if (!best)
			return fdt_map_add(m, s, e, reason, 0);
		if (best->start > s) {
			r = fdt_map_add(m, s, best->start, reason, 0);
			if (r)
				return r;
		}
		s = best->end;
	}
	return 0;
}

static int fdt_piece_cmp(const void *a, const void *b)
{
	const struct fdt_piece *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static int fdt_e820_cmp(const void *a, const void *b)
{
	const struct e820_entry *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return 0;
}

/* Why E820 lists a non-RAM entry, from where it is. */
static const char *fdt_e820_reason(const struct fdt_cfg *cfg, const struct e820_entry *e)
{
	const struct pc_layout *l = cfg->layout;

	switch (e->type) {
	case E820_ACPI:
		return "acpi-tables";
	case E820_NVS:
		return "acpi-nvs";
	case E820_UNUSABLE:
		return "unusable";
	case E820_RESERVED:
		break;
	default:
		return "e820-other";
	}
	if (e->addr == PC_EBDA_START && e->size == PC_HIGH_START - PC_EBDA_START)
		return "ebda-mp-table-bios";
	if (e->addr == cfg->ecam_base && e->size == cfg->ecam_size)
		return "pci-ecam";
	if (e->addr == PC_KVM_TSS && e->size == FDT_KVM_TSS_SIZE)
		return "kvm-tss-identity-map";
	if (l->amd_hole && ranges_overlap(e->addr, e->size, PC_AMD_HT_START,
					  PC_AMD_HT_END - PC_AMD_HT_START))
		return "amd-ht-hole";
	if (e->addr >= PC_4G)
		return "reserved-iova";   /* a gap in the IOMMU's usable IOVA ranges */
	return "reserved";
}

static int fdt_map_build(const struct fdt_cfg *cfg, struct fdt_map *m)
{
	const struct pc_layout *l = cfg->layout;
	struct e820_entry e820[ARRAY_SIZE(l->e820)];
	const struct {
		const char *reason;
		uint64_t start, end;
	} holes[] = {
		/* The legacy VGA/SMRAM window, option ROMs and BIOS segment (PAM). */
		{ "vga-pam-legacy", PC_VGA_START, PC_HIGH_START },
		{ "pci-ecam", cfg->ecam_base, cfg->ecam_base + cfg->ecam_size },
		{ "pci-hole-32", l->pci32_start, l->pci32_end },
		/* IOAPIC at 0xFEC00000, LAPIC at 0xFEE00000: up to the KVM TSS pages. */
		{ "ioapic-lapic", PC_IOAPIC_BASE, PC_KVM_TSS },
		/* The firmware image is mapped so that it ends at 4 GiB. */
		{ "firmware-flash", PC_KVM_TSS + FDT_KVM_TSS_SIZE, PC_4G },
		{ "memory-hotplug", l->hotplug_start, l->hotplug_end },
		{ "pci-hole-64", l->pci64_start, l->pci64_end },
	};
	uint64_t top = 0;
	unsigned i;
	int r;

	m->nr = 0;
	memcpy(e820, l->e820, l->nr_e820 * sizeof(e820[0]));
	qsort(e820, l->nr_e820, sizeof(e820[0]), fdt_e820_cmp);
	for (i = 0; i < l->nr_e820; i++) {
		const struct e820_entry *e = &e820[i];

		if (range_invalid(e->addr, e->size))
			return -EINVAL;
		if (i && e->addr < e820[i - 1].addr + e820[i - 1].size)
			return -EINVAL;
		r = fdt_map_add(m, e->addr, e->addr + e->size,
				e->type == E820_RAM ? NULL : fdt_e820_reason(cfg, e), e->type);
		if (r)
			return r;
	}
	for (i = 0; i < ARRAY_SIZE(holes); i++) {
		r = fdt_map_add_uncovered(m, holes[i].start, holes[i].end, holes[i].reason);
		if (r)
			return r;
	}
	for (i = 0; i < m->nr; i++)
		if (m->p[i].end > top)
			top = m->p[i].end;
	r = fdt_map_add_uncovered(m, 0, top, "unassigned");
	if (r)
		return r;
	qsort(m->p, m->nr, sizeof(m->p[0]), fdt_piece_cmp);
	return 0;
}

static bool fdt_name_ok(const char *s)
{
	size_t n = strnlen(s, FDT_NAME_MAX + 1), i;

	if (n == 0 || n > FDT_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == ',' || c == '.' || c == '_' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

/* true when [start, start+size) lies inside one E820 RAM entry. */
static bool fdt_in_ram(const struct pc_layout *l, uint64_t start, uint64_t size)
{
	unsigned i;

	for (i = 0; i < l->nr_e820; i++)
		if (l->e820[i].type == E820_RAM &&
		    range_within(start, size, l->e820[i].addr, l->e820[i].size))
			return true;
	return false;
}

/* true when [start, start+size) meets any E820 RAM entry. */
static bool fdt_meets_ram(const struct pc_layout *l, uint64_t start, uint64_t size)
{
	unsigned i;

	for (i = 0; i < l->nr_e820; i++)
		if (l->e820[i].type == E820_RAM && !range_invalid(l->e820[i].addr, l->e820[i].size) &&
		    ranges_overlap(start, size, l->e820[i].addr, l->e820[i].size))
			return true;
	return false;
}

static int fdt_validate(const struct fdt_cfg *cfg)
{
	const struct pc_layout *l = cfg->layout;
	unsigned i, j;

	if (!l || l->nr_e820 > ARRAY_SIZE(l->e820))
		return -EINVAL;
	if (cfg->ncpus == 0 || cfg->ncpus > FDT_MAX_CPUS)
		return -EINVAL;
	if (cfg->cmdline && strnlen(cfg->cmdline, FW_CMDLINE_MAX) >= FW_CMDLINE_MAX)
		return -EINVAL;

	/* Windows: ordered, no wrap; the 32-bit one below 4 GiB. */
	if (l->pci32_start >= l->pci32_end || l->pci32_end > PC_4G)
		return -EINVAL;
	if (l->pci64_start > l->pci64_end || l->hotplug_start > l->hotplug_end)
		return -EINVAL;

	/* ECAM: whole buses, at most 256, not over RAM or a PCI window. */
	if (range_invalid(cfg->ecam_base, cfg->ecam_size) ||
	    cfg->ecam_base % FDT_ECAM_BUS_SIZE || cfg->ecam_size % FDT_ECAM_BUS_SIZE ||
	    cfg->ecam_size / FDT_ECAM_BUS_SIZE > FDT_ECAM_MAX_BUSES)
		return -EINVAL;
	if (fdt_meets_ram(l, cfg->ecam_base, cfg->ecam_size) ||
	    ranges_overlap(cfg->ecam_base, cfg->ecam_size, l->pci32_start,
			   l->pci32_end - l->pci32_start) ||
	    (l->pci64_end > l->pci64_start &&
	     ranges_overlap(cfg->ecam_base, cfg->ecam_size, l->pci64_start,
			    l->pci64_end - l->pci64_start)))
		return -EINVAL;

	if (cfg->initrd_size &&
	    (range_invalid(cfg->initrd_start, cfg->initrd_size) ||
	     !fdt_in_ram(l, cfg->initrd_start, cfg->initrd_size)))
		return -EINVAL;

	if (cfg->nr_pci && !cfg->pci)
		return -EINVAL;
	if (cfg->nr_pci > 256)
		return -EINVAL;
	for (i = 0; i < cfg->nr_pci; i++) {
		const struct fdt_pci_dev *d = &cfg->pci[i];

		if (d->devfn > 0xFF || d->class_code > 0xFFFFFF)
			return -EINVAL;
		if (d->name && !fdt_name_ok(d->name))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (cfg->pci[j].devfn == d->devfn)
				return -EINVAL;
	}
	return 0;
}

/* ---- the tree -------------------------------------------------------------- */

static int fdt_prop_cells(void *fdt, const char *name, const uint32_t *cells, unsigned n)
{
	fdt32_t v[8];
	unsigned i;

	for (i = 0; i < n && i < ARRAY_SIZE(v); i++)
		v[i] = cpu_to_fdt32(cells[i]);
	return fdt_property(fdt, name, v, (int)(i * sizeof(v[0])));
}

/* reg = <addr size> with 2 + 2 cells. */
static int fdt_prop_reg64(void *fdt, uint64_t addr, uint64_t size)
{
	const uint32_t c[4] = { addr >> 32, (uint32_t)addr, size >> 32, (uint32_t)size };

	return fdt_prop_cells(fdt, "reg", c, 4);
}

#define FDT_TRY(expr)               \
	do {                        \
		int r_ = (expr);    \
		if (r_ < 0)         \
			return r_;  \
	} while (0)

static int fdt_emit_chosen(void *fdt, const struct fdt_cfg *cfg)
{
	FDT_TRY(fdt_begin_node(fdt, "chosen"));
	if (cfg->cmdline)
		FDT_TRY(fdt_property_string(fdt, "bootargs", cfg->cmdline));
	if (cfg->initrd_size) {
		FDT_TRY(fdt_property_u64(fdt, "linux,initrd-start", cfg->initrd_start));
		FDT_TRY(fdt_property_u64(fdt, "linux,initrd-end",
					 cfg->initrd_start + cfg->initrd_size));
	}
	return fdt_end_node(fdt);
}

static int fdt_emit_cpus(void *fdt, const struct fdt_cfg *cfg)
{
	char name[16];
	unsigned i;

	FDT_TRY(fdt_begin_node(fdt, "cpus"));
	FDT_TRY(fdt_property_u32(fdt, "#address-cells", 1));
	FDT_TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (i = 0; i < cfg->ncpus; i++) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		FDT_TRY(fdt_begin_node(fdt, name));
		FDT_TRY(fdt_property_string(fdt, "device_type", "cpu"));
		FDT_TRY(fdt_property_string(fdt, "compatible", "intel,x86"));
		FDT_TRY(fdt_property_u32(fdt, "reg", i));   /* the APIC id */
		FDT_TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int fdt_emit_memory(void *fdt, const struct fdt_map *m)
{
	char name[32];
	unsigned i;

	for (i = 0; i < m->nr; i++) {
		const struct fdt_piece *p = &m->p[i];

		if (p->reason)
			continue;
		snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)p->start);
		FDT_TRY(fdt_begin_node(fdt, name));
		FDT_TRY(fdt_property_string(fdt, "device_type", "memory"));
		FDT_TRY(fdt_prop_reg64(fdt, p->start, p->end - p->start));
		FDT_TRY(fdt_end_node(fdt));
	}
	return 0;
}

static int fdt_emit_reserved(void *fdt, const struct fdt_map *m)
{
	char name[64];
	unsigned i;

	FDT_TRY(fdt_begin_node(fdt, "reserved-memory"));
	FDT_TRY(fdt_property_u32(fdt, "#address-cells", 2));
	FDT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	FDT_TRY(fdt_property(fdt, "ranges", NULL, 0));
	for (i = 0; i < m->nr; i++) {
		const struct fdt_piece *p = &m->p[i];

		if (!p->reason)
			continue;
		snprintf(name, sizeof(name), "%s@%llx", p->reason, (unsigned long long)p->start);
		FDT_TRY(fdt_begin_node(fdt, name));
		FDT_TRY(fdt_prop_reg64(fdt, p->start, p->end - p->start));
		FDT_TRY(fdt_property(fdt, "no-map", NULL, 0));
		FDT_TRY(fdt_property_string(fdt, "reason", p->reason));
		if (p->e820_type)
			FDT_TRY(fdt_property_u32(fdt, "e820-type", p->e820_type));
		FDT_TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int fdt_emit_pci_dev(void *fdt, const struct fdt_pci_dev *d)
{
	unsigned slot = d->devfn >> 3, fn = d->devfn & 7;
	const uint32_t reg[5] = { d->devfn << 8, 0, 0, 0, 0 };   /* config space, bus 0 */
	char name[FDT_NAME_MAX + 16], compat[64];
	int n1, n2;

	/* Unit address per the PCI binding: "slot" or "slot,function". */
	if (fn)
		snprintf(name, sizeof(name), "%s@%x,%x", d->name ? d->name : "pci-device", slot, fn);
	else
		snprintf(name, sizeof(name), "%s@%x", d->name ? d->name : "pci-device", slot);
	/* A string list: "pciVVVV,DDDD\0pciclass,CCSSPP\0". */
	n1 = snprintf(compat, sizeof(compat), "pci%x,%x", d->vendor, d->device);
	n2 = snprintf(compat + n1 + 1, sizeof(compat) - n1 - 1, "pciclass,%06x", d->class_code);

	FDT_TRY(fdt_begin_node(fdt, name));
	FDT_TRY(fdt_property(fdt, "compatible", compat, n1 + 1 + n2 + 1));
	FDT_TRY(fdt_prop_cells(fdt, "reg", reg, 5));
	FDT_TRY(fdt_property_u32(fdt, "vendor-id", d->vendor));
	FDT_TRY(fdt_property_u32(fdt, "device-id", d->device));
	FDT_TRY(fdt_property_u32(fdt, "class-code", d->class_code));
	return fdt_end_node(fdt);
}

static int fdt_emit_pci(void *fdt, const struct fdt_cfg *cfg)
{
	const struct pc_layout *l = cfg->layout;
	uint64_t s32 = l->pci32_start, n32 = l->pci32_end - l->pci32_start;
	uint64_t s64 = l->pci64_start, n64 = l->pci64_end - l->pci64_start;
	/* child (3 cells), parent (2), size (2) */
	const uint32_t ranges[] = {
		FDT_PCI_SPACE_IO, 0, 0, 0, 0, 0, FDT_PCI_IO_SIZE,
		FDT_PCI_SPACE_MEM32, s32 >> 32, (uint32_t)s32, s32 >> 32, (uint32_t)s32,
		n32 >> 32, (uint32_t)n32,
		FDT_PCI_SPACE_MEM64, s64 >> 32, (uint32_t)s64, s64 >> 32, (uint32_t)s64,
		n64 >> 32, (uint32_t)n64,
	};
	const uint32_t bus_range[2] = { 0, (uint32_t)(cfg->ecam_size / FDT_ECAM_BUS_SIZE) - 1 };
	fdt32_t v[ARRAY_SIZE(ranges)];
	unsigned i, nr_ranges = n64 ? ARRAY_SIZE(ranges) : ARRAY_SIZE(ranges) - 7;
	char name[32];

	snprintf(name, sizeof(name), "pci@%llx", (unsigned long long)cfg->ecam_base);
	FDT_TRY(fdt_begin_node(fdt, name));
	FDT_TRY(fdt_property_string(fdt, "compatible", "pci-host-ecam-generic"));
	FDT_TRY(fdt_property_string(fdt, "device_type", "pci"));
	FDT_TRY(fdt_property_u32(fdt, "#address-cells", 3));
	FDT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	FDT_TRY(fdt_prop_cells(fdt, "bus-range", bus_range, 2));
	FDT_TRY(fdt_property_u32(fdt, "linux,pci-domain", 0));
	FDT_TRY(fdt_prop_reg64(fdt, cfg->ecam_base, cfg->ecam_size));
	for (i = 0; i < nr_ranges; i++)
		v[i] = cpu_to_fdt32(ranges[i]);
	FDT_TRY(fdt_property(fdt, "ranges", v, (int)(nr_ranges * sizeof(v[0]))));
	for (i = 0; i < cfg->nr_pci; i++)
		FDT_TRY(fdt_emit_pci_dev(fdt, &cfg->pci[i]));
	return fdt_end_node(fdt);
}

/* One pass into @buf of @size bytes; a libfdt error code (< 0) on failure. */
static int fdt_emit(void *buf, size_t size, const struct fdt_cfg *cfg, const struct fdt_map *m)
{
	FDT_TRY(fdt_create(buf, (int)size));
	FDT_TRY(fdt_finish_reservemap(buf));
	FDT_TRY(fdt_begin_node(buf, ""));
	FDT_TRY(fdt_property_u32(buf, "#address-cells", 2));
	FDT_TRY(fdt_property_u32(buf, "#size-cells", 2));
	FDT_TRY(fdt_property_string(buf, "compatible", "vmm,pc-q35"));
	FDT_TRY(fdt_property_string(buf, "model", "vmm Q35-like PC (KVM)"));
	FDT_TRY(fdt_emit_chosen(buf, cfg));
	FDT_TRY(fdt_emit_cpus(buf, cfg));
	FDT_TRY(fdt_emit_memory(buf, m));
	FDT_TRY(fdt_emit_reserved(buf, m));
	FDT_TRY(fdt_emit_pci(buf, cfg));
	FDT_TRY(fdt_end_node(buf));
	return fdt_finish(buf);
}

static int fdt_errno(int fdt_err)
{
	switch (fdt_err) {
	case -FDT_ERR_NOSPACE:
		return -E2BIG;
	case -FDT_ERR_BADVALUE:
	case -FDT_ERR_BADOFFSET:
	case -FDT_ERR_BADPATH:
	case -FDT_ERR_BADSTATE:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int fdt_build(const struct fdt_cfg *cfg, void **blob, size_t *len)
{
	struct fdt_map *m = NULL;
	void *buf = NULL, *shrunk;
	size_t size;
	int r;

	if (!cfg || !blob || !len)
		return -EINVAL;
	r = fdt_validate(cfg);
	if (r)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = fdt_map_build(cfg, m);
	if (r)
		goto out;

	size = FDT_BLOB_START + (cfg->cmdline ? strlen(cfg->cmdline) : 0);
	for (;;) {
		buf = malloc(size);
		if (!buf) {
			r = -ENOMEM;
			goto out;
		}
		r = fdt_emit(buf, size, cfg, m);
		if (r != -FDT_ERR_NOSPACE || size >= FDT_MAX_BLOB)
			break;
		free(buf);
		buf = NULL;
		size = size * 2 > FDT_MAX_BLOB ? FDT_MAX_BLOB : size * 2;
	}
	if (r < 0) {
		r = fdt_errno(r);
		goto out;
	}
	/* fdt_finish() leaves the strings right after the structure: trim the rest. */
	size = fdt_totalsize(buf);
	shrunk = realloc(buf, size);
	if (shrunk)
		buf = shrunk;
	*blob = buf;
	*len = size;
	buf = NULL;
	r = 0;
out:
	free(buf);
	free(m);
	return r;
}

int fdt_write_file(const void *blob, size_t len, const char *path)
{
	const uint8_t *p = blob;
	size_t done = 0;
	int fd, r = 0;

	if (!blob || !path || len < sizeof(struct fdt_header) || fdt_check_header(blob) ||
	    fdt_totalsize(blob) != len)
		return -EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}
