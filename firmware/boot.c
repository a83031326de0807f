/*
 * firmware/boot.c - fw_load_linux(): format detection and the pieces both
 * loaders share (GDT, page tables, command line, E820 queries, initrd
 * placement). The loaders themselves are in bzimage.c and pvh.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/errmsg.h"
#include "firmware/boot.h"
#include "firmware/fw_internal.h"

/* Flat 4 GiB descriptors; the accessed bit is preset so the CPU never writes the GDT. */
#define FW_DESC_CODE64 0x00AF9B000000FFFFULL /* G, L=1, P, DPL0, execute/read */
#define FW_DESC_CODE32 0x00CF9B000000FFFFULL /* G, D=1, P, DPL0, execute/read */
#define FW_DESC_DATA   0x00CF93000000FFFFULL /* G, B=1, P, DPL0, read/write */
#define FW_GDT_ENTRIES 4

#define FW_PTE_P   0x1ULL
#define FW_PTE_RW  0x2ULL
#define FW_PTE_PS  0x80ULL

/* Everything fw_load_linux() may write below 1 MiB besides the MP table. */
#define FW_LOW_AREA_END (FW_CMDLINE_GPA + FW_CMDLINE_MAX)

int fw_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errmsg_v(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

bool fw_e820_is_ram(const struct pc_layout *l, uint64_t gpa, uint64_t len)
{
	uint64_t cur = gpa, end;
	unsigned i;
	bool progress;

	if (range_invalid(gpa, len))
		return false;
	end = gpa + len;
	/* Entries need not be sorted: hop from entry to entry until covered. */
	do {
		progress = false;
		for (i = 0; i < l->nr_e820 && i < ARRAY_SIZE(l->e820); i++) {
			const struct e820_entry *e = &l->e820[i];

			if (e->type != E820_RAM || range_invalid(e->addr, e->size))
				continue;
			if (cur < e->addr || cur - e->addr >= e->size)
				continue;
			if (end - e->addr <= e->size)
				return true;
			cur = e->addr + e->size;
			progress = true;
		}
	} while (progress);
	return false;
}

uint64_t fw_e820_top_below_4g(const struct pc_layout *l)
{
	uint64_t top = 0;
	unsigned i;

	for (i = 0; i < l->nr_e820 && i < ARRAY_SIZE(l->e820); i++) {
		const struct e820_entry *e = &l->e820[i];
		uint64_t end;

		if (e->type != E820_RAM || range_invalid(e->addr, e->size) || e->addr >= PC_4G)
			continue;
		end = e->addr + e->size;
		if (end > PC_4G)
			end = PC_4G;
		if (end > top)
			top = end;
	}
	return top;
}

bool fw_space_is_ram(struct mem_space *space, uint64_t gpa, uint64_t len)
{
	struct mem_flat_view *v;
	uint64_t cur = gpa, end;
	bool ok = false;

	if (range_invalid(gpa, len))
		return false;
	end = gpa + len;
	v = mem_view_get(space);
	if (!v)
		return false;
	for (;;) {
		const struct mem_flat_range *fr = mem_view_find(v, cur);

		if (!fr || !mem_range_is_ram(fr))
			break;
		if (end - fr->gpa <= fr->size) {
			ok = true;
			break;
		}
		cur = fr->gpa + fr->size;
	}
	mem_flat_view_put(v);
	return ok;
}

/* Best fit of @size in [s, e): the highest page-aligned start, or 0 if none. */
static uint64_t fw_fit_high(uint64_t s, uint64_t e, uint64_t size)
{
	uint64_t g;

	if (e <= s || e - s < size)
		return 0;
	g = align_down(e - size, 4 * KiB);
	return g >= s ? g : 0;
}

int fw_place_initrd(const struct pc_layout *l, uint64_t size, uint64_t limit, uint64_t avoid,
		    uint64_t avoid_end, uint64_t *gpa, char *err, size_t errlen)
{
	uint64_t best = 0;
	unsigned i;

	if (limit > PC_4G)
		limit = PC_4G;
	for (i = 0; i < l->nr_e820 && i < ARRAY_SIZE(l->e820); i++) {
		const struct e820_entry *e = &l->e820[i];
		uint64_t s, end, g;

		if (e->type != E820_RAM || range_invalid(e->addr, e->size))
			continue;
		s = e->addr > FW_KERNEL_MIN_GPA ? e->addr : FW_KERNEL_MIN_GPA;
		end = e->size > UINT64_MAX - e->addr ? UINT64_MAX : e->addr + e->size;
		if (end > limit)
			end = limit;
		if (end <= s)
			continue;
		/* The entry minus the kernel: up to two pieces, above and below it. */
		if (avoid_end > s && avoid < end) {
			g = fw_fit_high(avoid_end > s ? avoid_end : s, end, size);
			if (!g)
				g = fw_fit_high(s, avoid < end ? avoid : end, size);
		} else {
			g = fw_fit_high(s, end, size);
		}
		if (g > best)
			best = g;
	}
	if (!best)
		return fw_fail(err, errlen, -E2BIG,
			       "initrd of %" PRIu64 " bytes does not fit below 0x%" PRIx64
			       " beside the kernel at 0x%" PRIx64 "-0x%" PRIx64,
			       size, limit, avoid, avoid_end);
	*gpa = best;
	return 0;
}

int fw_check_common(const struct fw_linux_cfg *cfg, size_t *cmdline_len, char *err,
		    size_t errlen)
{
	const struct pc_layout *l = cfg->layout;
	size_t n = 0;

	if (!cfg->space || !l)
		return fw_fail(err, errlen, -EINVAL, "no address space or layout to load into");
	if (!cfg->kernel || !cfg->kernel_len)
		return fw_fail(err, errlen, -EINVAL, "empty kernel image");
	if (cfg->initrd_len && !cfg->initrd)
		return fw_fail(err, errlen, -EINVAL, "initrd length %zu without data",
			       cfg->initrd_len);
	if (!l->nr_e820 || l->nr_e820 > ARRAY_SIZE(l->e820))
		return fw_fail(err, errlen, -EINVAL, "layout has %u E820 entries", l->nr_e820);
	if (!cfg->ncpus)
		return fw_fail(err, errlen, -EINVAL, "no vCPUs");
	if (cfg->ncpus > FW_MPTABLE_MAX_CPUS_EBDA)
		return fw_fail(err, errlen, -E2BIG,
			       "%u vCPUs do not fit the MP table in the EBDA (at most %u)",
			       cfg->ncpus, FW_MPTABLE_MAX_CPUS_EBDA);
	if (cfg->cmdline) {
		n = strnlen(cfg->cmdline, FW_CMDLINE_MAX);
		if (n >= FW_CMDLINE_MAX)
			return fw_fail(err, errlen, -E2BIG,
				       "command line is longer than %llu bytes",
				       FW_CMDLINE_MAX - 1);
	}
	/* The boot structures need plain RAM under them, whatever E820 says. */
	if (!fw_space_is_ram(cfg->space, 0, FW_LOW_AREA_END) ||
	    !fw_space_is_ram(cfg->space, FW_MPTABLE_GPA, fw_mptable_size(cfg->ncpus)))
		return fw_fail(err, errlen, -EINVAL,
			       "guest memory below 640 KiB is not RAM: no room for boot structures");
	*cmdline_len = n;
	return 0;
}

int fw_write_gdt(struct mem_space *space, bool long_mode, struct fw_entry *entry)
{
	uint8_t gdt[FW_GDT_ENTRIES * 8] = { 0 };
	uint64_t code = long_mode ? FW_DESC_CODE64 : FW_DESC_CODE32;
	int ret;

	/* 0x00 null, 0x08 unused: the boot protocol's __BOOT_CS/__BOOT_DS are 0x10/0x18. */
	put_le64(gdt + FW_SEL_CODE, code);
	put_le64(gdt + FW_SEL_DATA, FW_DESC_DATA);
	ret = mem_write(space, FW_GDT_GPA, gdt, sizeof(gdt));
	if (ret)
		return ret;
	entry->gdt_base = FW_GDT_GPA;
	entry->gdt_limit = sizeof(gdt) - 1;
	entry->code_sel = FW_SEL_CODE;
	entry->data_sel = FW_SEL_DATA;
	entry->code_desc = code;
	entry->data_desc = FW_DESC_DATA;
	return 0;
}

int fw_write_page_tables(struct mem_space *space)
{
	uint8_t page[4096];
	unsigned i, j;
	int ret;

	memset(page, 0, sizeof(page));
	put_le64(page, FW_PDPT_GPA | FW_PTE_P | FW_PTE_RW);
	ret = mem_write(space, FW_PML4_GPA, page, sizeof(page));
	if (ret)
		return ret;

	memset(page, 0, sizeof(page));
	for (i = 0; i < 4; i++)
		put_le64(page + i * 8, (FW_PD_GPA + i * 4096ULL) | FW_PTE_P | FW_PTE_RW);
	ret = mem_write(space, FW_PDPT_GPA, page, sizeof(page));
	if (ret)
		return ret;

	for (i = 0; i < 4; i++) {
		for (j = 0; j < 512; j++) {
			uint64_t pa = ((uint64_t)i * 512 + j) * 2 * MiB;

			put_le64(page + j * 8, pa | FW_PTE_P | FW_PTE_RW | FW_PTE_PS);
		}
		ret = mem_write(space, FW_PD_GPA + i * 4096ULL, page, sizeof(page));
		if (ret)
			return ret;
	}
	return 0;
}

int fw_write_cmdline(struct mem_space *space, const char *cmdline, size_t len)
{
	static const char empty[1];
	int ret;

	if (len) {
		ret = mem_write(space, FW_CMDLINE_GPA, cmdline, len);
		if (ret)
			return ret;
	}
	return mem_write(space, FW_CMDLINE_GPA + len, empty, 1);
}

static bool fw_all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int fw_write_nonzero(struct mem_space *space, uint64_t gpa, const uint8_t *src, uint64_t len)
{
	while (len) {
		/* up to the next guest page boundary */
		uint64_t n = 4096 - (gpa & 4095);
		int ret;

		if (n > len)
			n = len;
		if (!fw_all_zero(src, n)) {
			ret = mem_write(space, gpa, src, n);
			if (ret)
				return ret;
		}
		gpa += n;
		src += n;
		len -= n;
	}
	return 0;
}

int fw_zero(struct mem_space *space, uint64_t gpa, uint64_t len)
{
	static const uint8_t zeros[64 * KiB];
	int ret;

	while (len) {
		uint64_t n = len < sizeof(zeros) ? len : sizeof(zeros);

		ret = mem_write(space, gpa, zeros, n);
		if (ret)
			return ret;
		gpa += n;
		len -= n;
	}
	return 0;
}

int fw_load_linux(const struct fw_linux_cfg *cfg, struct fw_entry *entry, char *err,
		  size_t errlen)
{
	static const uint8_t elf_magic[4] = { 0x7f, 'E', 'L', 'F' };

	if (!cfg || !entry)
		return fw_fail(err, errlen, -EINVAL, "no configuration");
	if (err && errlen)
		err[0] = '\0';
	if (cfg->kernel && cfg->kernel_len >= sizeof(elf_magic) &&
	    !memcmp(cfg->kernel, elf_magic, sizeof(elf_magic))) {
		if (cfg->dtb_len)
			return fw_fail(err, errlen, -EINVAL,
				       "a device tree needs a bzImage (PVH has no setup_data)");
		return fw_load_pvh(cfg, entry, err, errlen);
	}
	if (cfg->kernel && cfg->kernel_len >= 0x206 && !memcmp(cfg->kernel + 0x202, "HdrS", 4))
		return fw_load_bzimage(cfg, entry, err, errlen);
	if (!cfg->kernel || !cfg->kernel_len)
		return fw_fail(err, errlen, -EINVAL, "empty kernel image");
	return fw_fail(err, errlen, -ENOEXEC,
		       "kernel image is neither an ELF (PVH) nor a bzImage (no \"HdrS\" at 0x202)");
}
