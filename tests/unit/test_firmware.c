/*
 * tests/unit/test_firmware.c - the Linux loaders (bzImage 64-bit boot
 * protocol, PVH ELF) and the MP table, on synthetic images built here and,
 * when tests/integration/get-kernel.sh has filled the cache, on Debian's
 * cloud kernel. Guest memory is a real PC layout from memory/.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/file.h"
#include "firmware/boot.h"
#include "memory/memory.h"
#include "memory/pc.h"
#include "tests/unit/unit.h"

/* ---- fixture: a PC address space -------------------------------------------- */

struct fx {
	struct mem_space s;
	struct mem_backend *ram;
	struct pc_mem *pc;
	struct pc_layout l;
};

static struct fx *fx_new(uint64_t ram_size)
{
	struct pc_layout_cfg c = {
		.ram_size = ram_size, .phys_bits = 40, .amd_hole = PC_AMD_HOLE_OFF,
	};
	struct fx *f = calloc(1, sizeof(*f));
	char err[160];

	ck_assert_ptr_nonnull(f);
	f->pc = calloc(1, sizeof(*f->pc));
	ck_assert_ptr_nonnull(f->pc);
	ck_assert_int_eq(pc_layout_compute(&c, &f->l, err, sizeof(err)), 0);
	ck_assert_int_eq(mem_space_init(&f->s, "fw"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ram, "fw.ram", ram_size), 0);
	ck_assert_int_eq(pc_mem_build(f->pc, &f->s, f->ram, NULL, &f->l), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ram);
	free(f->pc);
	free(f);
}

static uint8_t rd8(struct fx *f, uint64_t gpa)
{
	uint8_t v;

	ck_assert_int_eq(mem_read(&f->s, gpa, &v, 1), 0);
	return v;
}

static uint16_t rd16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	ck_assert_int_eq(mem_read(&f->s, gpa, &v, 2), 0);
	return v;
}

static uint32_t rd32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	ck_assert_int_eq(mem_read(&f->s, gpa, &v, 4), 0);
	return v;
}

static uint64_t rd64(struct fx *f, uint64_t gpa)
{
	uint64_t v;

	ck_assert_int_eq(mem_read(&f->s, gpa, &v, 8), 0);
	return v;
}

/* True when every byte of [gpa, gpa+len) is @v. */
static bool all_byte(struct fx *f, uint64_t gpa, uint64_t len, uint8_t v)
{
	uint8_t buf[4096];

	while (len) {
		uint64_t n = len < sizeof(buf) ? len : sizeof(buf), i;

		ck_assert_int_eq(mem_read(&f->s, gpa, buf, n), 0);
		for (i = 0; i < n; i++)
			if (buf[i] != v)
				return false;
		gpa += n;
		len -= n;
	}
	return true;
}

static bool all_zero(struct fx *f, uint64_t gpa, uint64_t len)
{
	return all_byte(f, gpa, len, 0);
}

/* Nothing a loader writes is there: the proof that a refusal wrote nothing. */
static void assert_untouched(struct fx *f)
{
	ck_assert(all_zero(f, 0, 0x30000));
	ck_assert(all_zero(f, FW_MPTABLE_GPA, 1024));
	ck_assert(all_zero(f, 1 * MiB, 64 * KiB));
	ck_assert(all_zero(f, 16 * MiB, 64 * KiB));
	ck_assert(all_zero(f, 2 * MiB, 64 * KiB));
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ---- synthetic bzImage ------------------------------------------------------ */

#define BZ_SETUP_SECTS 4
#define BZ_PM_OFF      ((BZ_SETUP_SECTS + 1) * 512)

/* A minimal 2.15 bzImage: setup header only, then @pm_size bytes of "kernel". */
static uint8_t *make_bzimage(size_t pm_size, size_t *len)
{
	uint8_t *img;
	size_t i;

	*len = BZ_PM_OFF + pm_size;
	img = calloc(1, *len);
	ck_assert_ptr_nonnull(img);
	img[0x1F1] = BZ_SETUP_SECTS;
	put32(img + 0x1F4, (uint32_t)(pm_size / 16));   /* syssize: the build pads to 16 */
	put16(img + 0x1FE, 0xAA55);
	img[0x200] = 0xEB;
	img[0x201] = 0x6A;                  /* header ends at 0x26C */
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, 0x020F);
	img[0x211] = 0x01;                  /* LOADED_HIGH */
	put32(img + 0x22C, 0x7FFFFFFF);     /* initrd_addr_max */
	put32(img + 0x230, 2 * MiB);        /* kernel_alignment */
	img[0x234] = 1;                     /* relocatable */
	put16(img + 0x236, 0x1 | 0x2);      /* XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	put32(img + 0x238, 2047);           /* cmdline_size */
	put64(img + 0x258, 16 * MiB);       /* pref_address */
	put32(img + 0x260, 32 * MiB);       /* init_size */
	for (i = 0; i < pm_size; i++)
		img[BZ_PM_OFF + i] = (uint8_t)(i * 7 + 1);
	return img;
}

static struct fw_linux_cfg cfg_for(struct fx *f, const uint8_t *k, size_t klen)
{
	struct fw_linux_cfg c = {
		.space = &f->s, .layout = &f->l, .kernel = k, .kernel_len = klen, .ncpus = 2,
	};
	return c;
}

/* ---- synthetic ELF ---------------------------------------------------------- */

#define ELF_PADDR  (2 * MiB)
#define ELF_FILESZ 0x300
#define ELF_MEMSZ  0x5000
#define ELF_DATA   0x400
#define ELF_NOTE   0x200

struct elf_opts {
	bool is32;
	bool no_pt_note;      /* the note only as a section */
	bool no_note;
	uint32_t descsz;      /* 0: 8 for ELF64, 4 for ELF32 */
	uint64_t paddr;
	uint64_t entry_off;   /* entry = paddr + entry_off */
};

/*
 * ELF with one PT_LOAD (ELF_FILESZ bytes of pattern, bss up to ELF_MEMSZ), a
 * PT_NOTE holding a GNU note and then Xen's PHYS32_ENTRY, and a section table
 * (null + the note section).
 */
static uint8_t *make_elf(const struct elf_opts *o, size_t *len)
{
	uint64_t paddr = o->paddr ? o->paddr : ELF_PADDR;
	uint64_t entry = paddr + (o->entry_off ? o->entry_off : 0x10);
	uint32_t descsz = o->descsz ? o->descsz : (o->is32 ? 4 : 8);
	size_t shoff = ELF_DATA + ELF_FILESZ, i;
	unsigned shentsize = o->is32 ? 40 : 64;
	uint8_t *img, *n, *ph, *sh;
	size_t note_len;

	*len = shoff + 2 * shentsize;
	img = calloc(1, *len);
	ck_assert_ptr_nonnull(img);
	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = o->is32 ? ELFCLASS32 : ELFCLASS64;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;
	put16(img + 16, ET_EXEC);
	put16(img + 18, o->is32 ? EM_386 : EM_X86_64);
	put32(img + 20, EV_CURRENT);

	/* notes: a GNU one first, so the walk has to step over it */
	n = img + ELF_NOTE;
	put32(n, 4);
	put32(n + 4, 4);
	put32(n + 8, 3);
	memcpy(n + 12, "GNU", 4);
	put32(n + 16, 0x12345678);
	n += 20;
	if (!o->no_note) {
		put32(n, 4);
		put32(n + 4, descsz);
		put32(n + 8, 18);
		memcpy(n + 12, "Xen", 4);
		if (descsz == 4)
			put32(n + 16, (uint32_t)entry);
		else if (descsz >= 8)
			put64(n + 16, entry);
		n += 16 + ((descsz + 3) & ~3u);
	}
	note_len = (size_t)(n - (img + ELF_NOTE));

	for (i = 0; i < ELF_FILESZ; i++)
		img[ELF_DATA + i] = (uint8_t)(i * 13 + 5);

	if (o->is32) {
		put32(img + 28, 52);            /* e_phoff */
		put32(img + 32, (uint32_t)shoff);
		put16(img + 40, 52);
		put16(img + 42, 32);
		put16(img + 44, o->no_pt_note ? 1 : 2);
		put16(img + 46, 40);
		put16(img + 48, 2);
		ph = img + 52;
		put32(ph + 0, PT_LOAD);
		put32(ph + 4, ELF_DATA);
		put32(ph + 12, (uint32_t)paddr);
		put32(ph + 16, ELF_FILESZ);
		put32(ph + 20, ELF_MEMSZ);
		put32(ph + 28, 0x1000);
		ph += 32;
		if (!o->no_pt_note) {
			put32(ph + 0, PT_NOTE);
			put32(ph + 4, ELF_NOTE);
			put32(ph + 16, (uint32_t)note_len);
			put32(ph + 20, (uint32_t)note_len);
			put32(ph + 28, 4);
		}
		sh = img + shoff + 40;
		put32(sh + 4, SHT_NOTE);
		put32(sh + 16, ELF_NOTE);
		put32(sh + 20, (uint32_t)note_len);
		put32(sh + 32, 4);
	} else {
		put64(img + 32, 64);            /* e_phoff */
		put64(img + 40, shoff);
		put16(img + 52, 64);
		put16(img + 54, 56);
		put16(img + 56, o->no_pt_note ? 1 : 2);
		put16(img + 58, 64);
		put16(img + 60, 2);
		ph = img + 64;
		put32(ph + 0, PT_LOAD);
		put64(ph + 8, ELF_DATA);
		put64(ph + 16, 0xffffffff80000000ULL + paddr);
		put64(ph + 24, paddr);
		put64(ph + 32, ELF_FILESZ);
		put64(ph + 40, ELF_MEMSZ);
		put64(ph + 48, 0x1000);
		ph += 56;
		if (!o->no_pt_note) {
			put32(ph + 0, PT_NOTE);
			put64(ph + 8, ELF_NOTE);
			put64(ph + 32, note_len);
			put64(ph + 40, note_len);
			put64(ph + 48, 4);
		}
		sh = img + shoff + 64;
		put32(sh + 4, SHT_NOTE);
		put64(sh + 24, ELF_NOTE);
		put64(sh + 32, note_len);
		put64(sh + 48, 4);
	}
	return img;
}

/* Offsets of ELF64 program header 0 fields, for corrupting them. */
#define PH0       64
#define PH0_OFF   (PH0 + 8)
#define PH0_PADDR (PH0 + 24)
#define PH0_FILES (PH0 + 32)
#define PH0_MEMSZ (PH0 + 40)

/* ---- helpers for expected failures ----------------------------------------- */

#define EXPECT_FAIL(call, want, needle)                                              \
	do {                                                                         \
		char _e[256] = "";                                                   \
		int _r = (call);                                                     \
		ck_assert_msg(_r == (want), "%s: got %d, want %d (%s)", #call, _r,   \
			      (want), _e);                                           \
		ck_assert_msg(strstr(_e, (needle)), "reason \"%s\" lacks \"%s\"", _e, \
			      (needle));                                             \
		ck_assert_msg(!strchr(_e, '\n'), "reason is not one line");          \
	} while (0)

/* ---- bzImage parser ------------------------------------------------------- */

START_TEST(test_bz_parse_ok)
{
	struct fw_bzimage_info i;
	char err[256];
	size_t len;
	uint8_t *img = make_bzimage(4096, &len);

	ck_assert_int_eq(fw_bzimage_parse(img, len, &i, err, sizeof(err)), 0);
	ck_assert_uint_eq(i.version, 0x020F);
	ck_assert_uint_eq(i.setup_sects, 4);
	ck_assert_uint_eq(i.pm_offset, BZ_PM_OFF);
	ck_assert_uint_eq(i.pm_size, 4096);
	ck_assert_uint_eq(i.pref_address, 16 * MiB);
	ck_assert_uint_eq(i.init_size, 32 * MiB);
	ck_assert_uint_eq(i.initrd_addr_max, 0x7FFFFFFF);
	ck_assert_uint_eq(i.cmdline_size, 2047);
	ck_assert_uint_eq(i.xloadflags, 3);
	ck_assert_uint_eq(i.kernel_alignment, 2 * MiB);
	ck_assert(i.relocatable);
	ck_assert_uint_eq(i.hdr_end, 0x26C);

	/* setup_sects 0 means 4 */
	img[0x1F1] = 0;
	ck_assert_int_eq(fw_bzimage_parse(img, len, &i, err, sizeof(err)), 0);
	ck_assert_uint_eq(i.setup_sects, 4);
	ck_assert_uint_eq(i.pm_offset, 5 * 512);
	free(img);
}
END_TEST

START_TEST(test_bz_parse_rejects)
{
	struct fw_bzimage_info i;
	size_t len;
	uint8_t *img = make_bzimage(4096, &len);
	uint8_t *copy = malloc(len);

	ck_assert_ptr_nonnull(copy);
#define FRESH() memcpy(copy, img, len)
	FRESH();
	EXPECT_FAIL(fw_bzimage_parse(copy, 0x100, &i, _e, sizeof(_e)), -EINVAL, "truncated");
	EXPECT_FAIL(fw_bzimage_parse(copy, 0x210, &i, _e, sizeof(_e)), -EINVAL, "truncated");
	memcpy(copy + 0x202, "HdrZ", 4);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "magic");
	FRESH();
	put16(copy + 0x206, 0x020B);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "2.11");
	FRESH();
	put16(copy + 0x236, 0x2);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "64-bit");
	FRESH();
	copy[0x1F1] = 200;
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "setup_sects");
	FRESH();
	put32(copy + 0x1F4, 4096 / 16 + 1);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "syssize says 4112");
	put32(copy + 0x1F4, 0);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "syssize 0");
	FRESH();
	/* exactly at EOF: no protected-mode code at all */
	EXPECT_FAIL(fw_bzimage_parse(copy, BZ_PM_OFF, &i, _e, sizeof(_e)), -EINVAL,
		    "past the end");
	put16(copy + 0x1FE, 0x1234);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "boot_flag");
	FRESH();
	copy[0x201] = 0x40;     /* header ends at 0x242, before init_size */
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "init_size");
	FRESH();
	put32(copy + 0x230, 3 * MiB);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "kernel_alignment");
	FRESH();
	put32(copy + 0x260, 0);
	EXPECT_FAIL(fw_bzimage_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "init_size");
#undef FRESH
	/* a NULL err buffer is fine */
	ck_assert_int_eq(fw_bzimage_parse(img, 0x100, &i, NULL, 0), -EINVAL);
	free(copy);
	free(img);
}
END_TEST

/* ---- bzImage loading ------------------------------------------------------- */

static void check_page_tables(struct fx *f)
{
	unsigned i;

	ck_assert_uint_eq(rd64(f, FW_PML4_GPA), FW_PDPT_GPA | 3);
	ck_assert_uint_eq(rd64(f, FW_PML4_GPA + 8), 0);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(rd64(f, FW_PDPT_GPA + i * 8), (FW_PD_GPA + i * 4096) | 3);
	ck_assert_uint_eq(rd64(f, FW_PDPT_GPA + 32), 0);
	ck_assert_uint_eq(rd64(f, FW_PD_GPA), 0x83);
	ck_assert_uint_eq(rd64(f, FW_PD_GPA + 8), 2 * MiB | 0x83);
	ck_assert_uint_eq(rd64(f, FW_PD_GPA + 4096 + 8), (GiB + 2 * MiB) | 0x83);
	ck_assert_uint_eq(rd64(f, FW_PD_GPA + 4 * 4096 - 8), (4 * GiB - 2 * MiB) | 0x83);
}

static void check_mptable(struct fx *f, uint64_t gpa, unsigned ncpus);

START_TEST(test_bz_load_ok)
{
	struct fx *f = fx_new(256 * MiB);
	const char *cmdline = "console=ttyS0 noxsave root=/dev/vda";
	uint8_t initrd[10000], buf[10000], pm[4096];
	struct fw_entry e;
	struct fw_linux_cfg c;
	uint64_t rd_gpa, zp = FW_ZERO_PAGE_GPA;
	char err[256], got[128];
	size_t len, i;
	uint8_t *img = make_bzimage(sizeof(pm), &len);

	for (i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	c = cfg_for(f, img, len);
	c.cmdline = cmdline;
	c.initrd = initrd;
	c.initrd_len = sizeof(initrd);
	c.ncpus = 4;
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);

	/* entry: long mode at pref_address + 0x200 (relocatable, fits) */
	ck_assert_int_eq(e.mode, FW_ENTRY_LONG64);
	ck_assert_uint_eq(e.rip, 16 * MiB + 0x200);
	ck_assert_uint_eq(e.rsi, zp);
	ck_assert_uint_eq(e.cr3, FW_PML4_GPA);
	ck_assert_uint_eq(e.cr0 & 0x80000001ULL, 0x80000001ULL);
	ck_assert_uint_eq(e.cr4 & 0x20, 0x20);
	ck_assert_uint_eq(e.efer & 0x500, 0x500);
	ck_assert_uint_eq(e.gdt_base, FW_GDT_GPA);
	ck_assert_uint_eq(e.gdt_limit, 31);
	ck_assert_uint_eq(e.code_sel, 0x10);
	ck_assert_uint_eq(e.data_sel, 0x18);
	ck_assert_uint_ne(e.rsp, 0);
	ck_assert_uint_lt(e.rsp, 0x9F000);
	ck_assert_uint_eq(rd64(f, FW_GDT_GPA + 0x10), e.code_desc);
	ck_assert_uint_eq(rd64(f, FW_GDT_GPA + 0x18), e.data_desc);
	ck_assert_uint_eq((e.code_desc >> 53) & 1, 1);   /* L */
	ck_assert_uint_eq((e.code_desc >> 54) & 1, 0);   /* D must be 0 with L */
	ck_assert_uint_eq(rd64(f, FW_GDT_GPA), 0);

	/* kernel bytes */
	ck_assert_int_eq(mem_read(&f->s, 16 * MiB, pm, sizeof(pm)), 0);
	ck_assert_mem_eq(pm, img + BZ_PM_OFF, sizeof(pm));

	/* zero page: header copied, loader fields set */
	ck_assert_uint_eq(rd8(f, zp + 0x1F1), BZ_SETUP_SECTS);
	ck_assert_uint_eq(rd16(f, zp + 0x1FE), 0xAA55);
	ck_assert_uint_eq(rd32(f, zp + 0x202), 0x53726448);  /* "HdrS" */
	ck_assert_uint_eq(rd16(f, zp + 0x206), 0x020F);
	ck_assert_uint_eq(rd32(f, zp + 0x260), 32 * MiB);
	ck_assert_uint_eq(rd8(f, zp + 0x210), 0xFF);
	ck_assert_uint_eq(rd8(f, zp + 0x211), 0x81);
	ck_assert_uint_ne(rd16(f, zp + 0x224), 0);
	ck_assert_uint_eq(rd32(f, zp + 0x228), FW_CMDLINE_GPA);
	ck_assert_int_eq(mem_read(&f->s, FW_CMDLINE_GPA, got, strlen(cmdline) + 1), 0);
	ck_assert_str_eq(got, cmdline);
	/* nothing past the copied header */
	ck_assert(all_zero(f, zp + 0x26C, 0x2D0 - 0x26C));

	/* initrd: page-aligned, as high as RAM allows, beside the kernel */
	rd_gpa = rd32(f, zp + 0x218);
	ck_assert_uint_eq(rd32(f, zp + 0x21C), sizeof(initrd));
	ck_assert_uint_eq(rd_gpa % 4096, 0);
	ck_assert_uint_le(rd_gpa + sizeof(initrd), 256 * MiB);
	ck_assert_uint_gt(rd_gpa + sizeof(initrd), 256 * MiB - 4096);
	ck_assert_int_eq(mem_read(&f->s, rd_gpa, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, initrd, sizeof(initrd));

	/* E820 copied from the layout */
	ck_assert_uint_eq(rd8(f, zp + 0x1E8), f->l.nr_e820);
	for (i = 0; i < f->l.nr_e820; i++) {
		uint64_t ent = zp + 0x2D0 + i * 20;

		ck_assert_uint_eq(rd64(f, ent), f->l.e820[i].addr);
		ck_assert_uint_eq(rd64(f, ent + 8), f->l.e820[i].size);
		ck_assert_uint_eq(rd32(f, ent + 16), f->l.e820[i].type);
	}
	check_page_tables(f);
	check_mptable(f, FW_MPTABLE_GPA, 4);
	free(img);
	fx_free(f);
}
END_TEST

/* ACPI RSDP address and a device tree as setup_data SETUP_DTB (bzImage), RSDP for PVH. */
START_TEST(test_rsdp_and_setup_dtb)
{
	struct fx *f = fx_new(256 * MiB);
	struct elf_opts o = { 0 };
	uint8_t dtb[300], got[300];
	struct fw_entry e;
	struct fw_linux_cfg c;
	char err[256];
	size_t len, i;
	uint8_t *img = make_bzimage(4096, &len), *elf;

	for (i = 0; i < sizeof(dtb); i++)
		dtb[i] = (uint8_t)(i * 7 + 1);
	c = cfg_for(f, img, len);
	c.ncpus = 1;
	c.rsdp_gpa = 0x90000;
	c.dtb = dtb;
	c.dtb_len = sizeof(dtb);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(rd64(f, FW_ZERO_PAGE_GPA + 0x070), 0x90000);
	ck_assert_uint_eq(rd64(f, FW_ZERO_PAGE_GPA + 0x250), FW_SETUP_DATA_GPA);
	ck_assert_uint_eq(rd64(f, FW_SETUP_DATA_GPA), 0);               /* next */
	ck_assert_uint_eq(rd32(f, FW_SETUP_DATA_GPA + 8), FW_SETUP_DTB);
	ck_assert_uint_eq(rd32(f, FW_SETUP_DATA_GPA + 12), sizeof(dtb));
	ck_assert_int_eq(mem_read(&f->s, FW_SETUP_DATA_GPA + 16, got, sizeof(got)), 0);
	ck_assert_mem_eq(got, dtb, sizeof(dtb));

	/* a tree that does not fit below the ACPI tables is refused, nothing loaded */
	c.dtb_len = FW_SETUP_DATA_MAX;
	ck_assert_int_eq(fw_load_linux(&c, &e, err, sizeof(err)), -E2BIG);
	ck_assert_msg(strstr(err, "device tree"), "%s", err);

	/* PVH: rsdp_paddr in hvm_start_info */
	elf = make_elf(&o, &len);
	c = cfg_for(f, elf, len);
	c.ncpus = 1;
	c.rsdp_gpa = 0x90000;
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(rd64(f, FW_START_INFO_GPA + 32), 0x90000);
	free(elf);
	free(img);
	fx_free(f);
}
END_TEST

START_TEST(test_bz_load_addresses)
{
	struct fx *f = fx_new(256 * MiB);
	struct fw_entry e;
	struct fw_linux_cfg c;
	char err[256];
	size_t len;
	uint8_t *img = make_bzimage(4096, &len);

	/* not relocatable: the protected-mode code goes to 1 MiB */
	img[0x234] = 0;
	c = cfg_for(f, img, len);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(e.rip, 1 * MiB + 0x200);
	ck_assert_uint_eq(rd8(f, 1 * MiB), img[BZ_PM_OFF]);

	/* relocatable with pref_address 1 MiB */
	img[0x234] = 1;
	put64(img + 0x258, 1 * MiB);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(e.rip, 1 * MiB + 0x200);

	/*
	 * Relocatable, pref_address 4 MiB, kernel_alignment 2 MiB: loaded there,
	 * it runs in place.
	 */
	put64(img + 0x258, 4 * MiB);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(e.rip, 4 * MiB + 0x200);

	/*
	 * pref_address beyond RAM: the 64-bit entry never decompresses below
	 * LOAD_PHYSICAL_ADDR (= pref_address), so loading it low does not help.
	 */
	put64(img + 0x258, 512 * MiB);
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "RAM below 4 GiB ends");

	/* a nonsense pref_address (above 4 GiB) is ignored: 1 MiB */
	put64(img + 0x258, 1ULL << 48);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(e.rip, 1 * MiB + 0x200);
	free(img);
	fx_free(f);
}
END_TEST

START_TEST(test_bz_load_rejects)
{
	struct fx *f = fx_new(256 * MiB);
	struct fw_entry e;
	struct fw_linux_cfg c;
	char cmdline[64];
	size_t len, big = 300 * MiB;
	uint8_t *img = make_bzimage(4096, &len);
	uint8_t *huge = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			     -1, 0);

	ck_assert_ptr_ne(huge, MAP_FAILED);
	c = cfg_for(f, img, len);

	/* command line longer than cmdline_size (16); exactly 16 passes later */
	put32(img + 0x238, 16);
	memset(cmdline, 'x', 17);
	cmdline[17] = '\0';
	c.cmdline = cmdline;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "cmdline_size");
	assert_untouched(f);

	/* init_size larger than RAM */
	c.cmdline = NULL;
	put32(img + 0x260, 1024 * MiB);
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "RAM below 4 GiB ends");
	put32(img + 0x260, 32 * MiB);
	assert_untouched(f);

	/* initrd larger than memory */
	c.initrd = huge;
	c.initrd_len = big;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG,
		    "initrd of 314572800 bytes does not fit below");
	assert_untouched(f);

	/*
	 * initrd_addr_max 64 KiB past the kernel's end (16 MiB + init_size 32
	 * MiB): an initrd that fits neither there nor in the 15 MiB below the
	 * kernel is refused, though RAM has room for it.
	 */
	put32(img + 0x22C, 48 * MiB + 64 * KiB - 1);
	c.initrd_len = 16 * MiB;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "does not fit below 0x3010000");
	assert_untouched(f);

	/* 128 KiB goes under the kernel, 64 KiB right above it */
	c.initrd_len = 128 * KiB;
	ck_assert_int_eq(fw_load_linux(&c, &e, NULL, 0), 0);
	ck_assert_uint_eq(rd32(f, FW_ZERO_PAGE_GPA + 0x218), 16 * MiB - 128 * KiB);
	c.initrd_len = 64 * KiB;
	ck_assert_int_eq(fw_load_linux(&c, &e, NULL, 0), 0);
	ck_assert_uint_eq(rd32(f, FW_ZERO_PAGE_GPA + 0x218), 48 * MiB);

	/* bad ncpus, bad layout, garbage and empty images */
	c.initrd = NULL;
	c.initrd_len = 0;
	c.ncpus = 0;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -EINVAL, "vCPU");
	c.ncpus = FW_MPTABLE_MAX_CPUS_EBDA + 1;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "MP table");
	c.ncpus = 1;
	c.kernel_len = 0;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -EINVAL, "empty");
	c.kernel_len = 0x300;
	memcpy(img + 0x202, "NOPE", 4);
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -ENOEXEC, "neither");
	memcpy(img + 0x202, "HdrS", 4);
	c.kernel_len = len;
	c.initrd_len = 5;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -EINVAL, "initrd");

	/* exactly cmdline_size bytes is accepted */
	c.initrd_len = 0;
	cmdline[16] = '\0';
	c.cmdline = cmdline;
	ck_assert_int_eq(fw_load_linux(&c, &e, NULL, 0), 0);
	ck_assert_uint_eq(rd8(f, FW_CMDLINE_GPA + 15), 'x');
	ck_assert_uint_eq(rd8(f, FW_CMDLINE_GPA + 16), 0);

	munmap(huge, big);
	free(img);
	fx_free(f);
}
END_TEST

START_TEST(test_cmdline_too_long_for_area)
{
	struct fx *f = fx_new(64 * MiB);
	struct elf_opts o = { 0 };
	struct fw_entry e;
	struct fw_linux_cfg c;
	size_t len, n = FW_CMDLINE_MAX;
	uint8_t *img = make_elf(&o, &len);
	char *cmdline = malloc(n + 1);

	ck_assert_ptr_nonnull(cmdline);
	memset(cmdline, 'y', n);
	cmdline[n] = '\0';
	c = cfg_for(f, img, len);
	c.cmdline = cmdline;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "command line");
	assert_untouched(f);
	cmdline[n - 1] = '\0';
	ck_assert_int_eq(fw_load_linux(&c, &e, NULL, 0), 0);
	free(cmdline);
	free(img);
	fx_free(f);
}
END_TEST

/* ---- ELF parser ------------------------------------------------------------- */

START_TEST(test_elf_parse_ok)
{
	struct elf_opts o = { 0 };
	struct fw_elf_info i;
	char err[256];
	size_t len;
	uint8_t *img = make_elf(&o, &len);

	ck_assert_msg(fw_elf_parse(img, len, &i, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(i.pvh_entry, ELF_PADDR + 0x10);
	ck_assert_uint_eq(i.lowest_paddr, ELF_PADDR);
	ck_assert_uint_eq(i.highest_paddr_end, ELF_PADDR + ELF_MEMSZ);
	ck_assert_uint_eq(i.nr_load, 1);
	free(img);

	/* ELF32 with a 4-byte note */
	o.is32 = true;
	img = make_elf(&o, &len);
	ck_assert_msg(fw_elf_parse(img, len, &i, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(i.pvh_entry, ELF_PADDR + 0x10);
	ck_assert_uint_eq(i.nr_load, 1);
	free(img);

	/* ELF64 with a 4-byte note value */
	o.is32 = false;
	o.descsz = 4;
	img = make_elf(&o, &len);
	ck_assert_msg(fw_elf_parse(img, len, &i, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(i.pvh_entry, ELF_PADDR + 0x10);
	free(img);

	/* the note only in a SHT_NOTE section, both classes */
	o.descsz = 0;
	o.no_pt_note = true;
	img = make_elf(&o, &len);
	ck_assert_msg(fw_elf_parse(img, len, &i, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(i.pvh_entry, ELF_PADDR + 0x10);
	free(img);
	o.is32 = true;
	img = make_elf(&o, &len);
	ck_assert_msg(fw_elf_parse(img, len, &i, err, sizeof(err)) == 0, "%s", err);
	free(img);
}
END_TEST

START_TEST(test_elf_parse_rejects)
{
	struct elf_opts o = { 0 };
	struct fw_elf_info i;
	size_t len;
	uint8_t *img = make_elf(&o, &len);
	uint8_t *copy = malloc(len);

	ck_assert_ptr_nonnull(copy);
#define FRESH() memcpy(copy, img, len)
	FRESH();
	EXPECT_FAIL(fw_elf_parse(copy, 10, &i, _e, sizeof(_e)), -EINVAL, "truncated");
	EXPECT_FAIL(fw_elf_parse(copy, 40, &i, _e, sizeof(_e)), -EINVAL, "truncated");
	copy[1] = 'X';
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "magic");
	FRESH();
	copy[EI_CLASS] = 7;
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "class");
	FRESH();
	copy[EI_DATA] = ELFDATA2MSB;
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "little-endian");
	FRESH();
	put16(copy + 18, EM_AARCH64);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "machine");
	FRESH();
	put16(copy + 16, ET_DYN);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "executable");
	FRESH();
	/* header fields pointing out of the file */
	put64(copy + 32, len - 8);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "program headers");
	FRESH();
	put64(copy + 32, UINT64_MAX - 16);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "program headers");
	FRESH();
	put16(copy + 56, 1000);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "e_phnum");
	FRESH();
	put16(copy + 56, 0);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "program headers");
	FRESH();
	put16(copy + 54, 32);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "e_phentsize");
	FRESH();
	put64(copy + 40, len);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "section headers");
	FRESH();
	put16(copy + 60, 60000);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "e_shnum");
	FRESH();
	/* segments */
	put64(copy + PH0_FILES, ELF_MEMSZ + 1);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "p_filesz");
	FRESH();
	put64(copy + PH0_OFF, len - 0x10);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "outside the");
	FRESH();
	put64(copy + PH0_OFF, UINT64_MAX - 0x10);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "outside the");
	FRESH();
	put64(copy + PH0_PADDR, UINT64_MAX - 0x1000);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "wraps");
	FRESH();
	put64(copy + PH0_PADDR, 0x7000);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -EINVAL, "boot structures");
	FRESH();
	put64(copy + PH0_PADDR, PC_4G - 0x1000);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -E2BIG, "4 GiB");
	FRESH();
	put64(copy + PH0_MEMSZ, 0);
	EXPECT_FAIL(fw_elf_parse(copy, len, &i, _e, sizeof(_e)), -ENOEXEC, "PT_LOAD");
#undef FRESH
	free(img);

	/* notes */
	o.no_note = true;
	img = make_elf(&o, &len);
	EXPECT_FAIL(fw_elf_parse(img, len, &i, _e, sizeof(_e)), -ENOEXEC,
		    "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
	free(img);
	o.no_note = false;
	o.descsz = 6;
	img = make_elf(&o, &len);
	EXPECT_FAIL(fw_elf_parse(img, len, &i, _e, sizeof(_e)), -EINVAL, "descsz 6");
	free(img);
	o.descsz = 0;
	o.entry_off = ELF_MEMSZ + 0x100;
	img = make_elf(&o, &len);
	EXPECT_FAIL(fw_elf_parse(img, len, &i, _e, sizeof(_e)), -ENOEXEC, "not inside");
	free(img);
	o.entry_off = 0;
	img = make_elf(&o, &len);
	/* the Xen note's descsz reaching past the PT_NOTE */
	put32(img + ELF_NOTE + 20 + 4, 0x1000);
	EXPECT_FAIL(fw_elf_parse(img, len, &i, _e, sizeof(_e)), -EINVAL, "past");
	/* a huge namesz must not wrap */
	put32(img + ELF_NOTE, 0xFFFFFFFF);
	EXPECT_FAIL(fw_elf_parse(img, len, &i, _e, sizeof(_e)), -EINVAL, "past");
	free(img);
	free(copy);
}
END_TEST

/* Every prefix of a valid image is refused cleanly (ASan watches the reads). */
START_TEST(test_truncations)
{
	struct elf_opts o = { 0 };
	struct fw_elf_info ei;
	struct fw_bzimage_info bi;
	size_t len, n;
	uint8_t *img = make_elf(&o, &len);

	for (n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, img, n);
		/* a cut inside the section table leaves a good ELF: those may pass */
		if (n < ELF_DATA + ELF_FILESZ)
			ck_assert_int_ne(fw_elf_parse(cut, n, &ei, NULL, 0), 0);
		else
			(void)!fw_elf_parse(cut, n, &ei, NULL, 0);
		free(cut);
	}
	free(img);
	img = make_bzimage(64, &len);
	for (n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, img, n);
		ck_assert_int_ne(fw_bzimage_parse(cut, n, &bi, NULL, 0), 0);
		free(cut);
	}
	free(img);
}
END_TEST

/* ---- PVH loading ------------------------------------------------------------- */

START_TEST(test_pvh_load_ok)
{
	struct fx *f = fx_new(256 * MiB);
	struct elf_opts o = { 0 };
	const char *cmdline = "console=hvc0 quiet";
	uint8_t initrd[5000], buf[5000], garbage[ELF_MEMSZ];
	struct fw_entry e;
	struct fw_linux_cfg c;
	uint64_t si = FW_START_INFO_GPA, mod, mm, rd;
	char err[256], got[64];
	size_t len, i;
	uint8_t *img = make_elf(&o, &len);

	/* a previous boot's bytes in the bss: the loader must clear them */
	memset(garbage, 0xAA, sizeof(garbage));
	ck_assert_int_eq(mem_write(&f->s, ELF_PADDR, garbage, sizeof(garbage)), 0);
	for (i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3);
	c = cfg_for(f, img, len);
	c.cmdline = cmdline;
	c.initrd = initrd;
	c.initrd_len = sizeof(initrd);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);

	ck_assert_int_eq(e.mode, FW_ENTRY_PROT32);
	ck_assert_uint_eq(e.rip, ELF_PADDR + 0x10);
	ck_assert_uint_eq(e.rbx, si);
	ck_assert_uint_eq(e.cr0, 1);
	ck_assert_uint_eq(e.cr4, 0);
	ck_assert_uint_eq(e.efer, 0);
	ck_assert_uint_eq(e.code_sel, 0x10);
	ck_assert_uint_eq(e.data_sel, 0x18);
	ck_assert_uint_eq(rd64(f, FW_GDT_GPA + 0x10), e.code_desc);
	ck_assert_uint_eq((e.code_desc >> 53) & 1, 0);   /* not L */
	ck_assert_uint_eq((e.code_desc >> 54) & 1, 1);   /* D: 32-bit */

	/* segment: file bytes, then a zeroed bss */
	ck_assert_int_eq(mem_read(&f->s, ELF_PADDR, buf, ELF_FILESZ), 0);
	ck_assert_mem_eq(buf, img + ELF_DATA, ELF_FILESZ);
	ck_assert(all_zero(f, ELF_PADDR + ELF_FILESZ, ELF_MEMSZ - ELF_FILESZ));

	/* hvm_start_info */
	ck_assert_uint_eq(rd32(f, si), 0x336ec578);
	ck_assert_uint_eq(rd32(f, si + 4), 1);
	ck_assert_uint_eq(rd32(f, si + 8), 0);
	ck_assert_uint_eq(rd32(f, si + 12), 1);
	mod = rd64(f, si + 16);
	ck_assert_uint_ne(mod, 0);
	ck_assert_uint_eq(rd64(f, si + 24), FW_CMDLINE_GPA);
	ck_assert_uint_eq(rd64(f, si + 32), 0);
	mm = rd64(f, si + 40);
	ck_assert_uint_eq(rd32(f, si + 48), f->l.nr_e820);
	ck_assert_int_eq(mem_read(&f->s, FW_CMDLINE_GPA, got, strlen(cmdline) + 1), 0);
	ck_assert_str_eq(got, cmdline);

	/* module list: the initrd */
	rd = rd64(f, mod);
	ck_assert_uint_eq(rd64(f, mod + 8), sizeof(initrd));
	ck_assert_uint_eq(rd64(f, mod + 16), 0);
	ck_assert_uint_eq(rd64(f, mod + 24), 0);
	ck_assert_uint_eq(rd % 4096, 0);
	ck_assert_uint_le(rd + sizeof(initrd), 256 * MiB);
	ck_assert(!ranges_overlap(rd, sizeof(initrd), ELF_PADDR, ELF_MEMSZ));
	ck_assert_int_eq(mem_read(&f->s, rd, buf, sizeof(initrd)), 0);
	ck_assert_mem_eq(buf, initrd, sizeof(initrd));

	/* memory map */
	for (i = 0; i < f->l.nr_e820; i++) {
		ck_assert_uint_eq(rd64(f, mm + i * 24), f->l.e820[i].addr);
		ck_assert_uint_eq(rd64(f, mm + i * 24 + 8), f->l.e820[i].size);
		ck_assert_uint_eq(rd32(f, mm + i * 24 + 16), f->l.e820[i].type);
		ck_assert_uint_eq(rd32(f, mm + i * 24 + 20), 0);
	}
	check_mptable(f, FW_MPTABLE_GPA, 2);
	free(img);

	/* no initrd: no modules, no module list */
	o.is32 = true;
	img = make_elf(&o, &len);
	c = cfg_for(f, img, len);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(rd32(f, si + 12), 0);
	ck_assert_uint_eq(rd64(f, si + 16), 0);
	ck_assert_uint_eq(rd8(f, FW_CMDLINE_GPA), 0);
	free(img);
	fx_free(f);
}
END_TEST

/*
 * ram_is_zero: the loader writes only the pages that hold something. RAM
 * here holds a marker instead of zeros, so what was skipped shows.
 */
START_TEST(test_pvh_load_ram_is_zero)
{
	struct fx *f = fx_new(256 * MiB);
	struct elf_opts o = { 0 };
	uint8_t marker[ELF_MEMSZ], buf[ELF_FILESZ];
	struct fw_linux_cfg c;
	struct fw_entry e;
	char err[256];
	size_t len;
	uint8_t *img = make_elf(&o, &len);

	memset(marker, 0xAA, sizeof(marker));
	/* file bytes written, the bss left alone */
	ck_assert_int_eq(mem_write(&f->s, ELF_PADDR, marker, sizeof(marker)), 0);
	c = cfg_for(f, img, len);
	c.ram_is_zero = true;
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(mem_read(&f->s, ELF_PADDR, buf, ELF_FILESZ), 0);
	ck_assert_mem_eq(buf, img + ELF_DATA, ELF_FILESZ);
	ck_assert(all_byte(f, ELF_PADDR + ELF_FILESZ, ELF_MEMSZ - ELF_FILESZ, 0xAA));

	/* an all-zero page of the file is skipped too ... */
	memset(img + ELF_DATA, 0, ELF_FILESZ);
	ck_assert_int_eq(mem_write(&f->s, ELF_PADDR, marker, sizeof(marker)), 0);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert(all_byte(f, ELF_PADDR, ELF_MEMSZ, 0xAA));

	/* ... and one non-zero byte makes its page written whole */
	img[ELF_DATA + ELF_FILESZ - 1] = 0x77;
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert(all_byte(f, ELF_PADDR, ELF_FILESZ - 1, 0));
	ck_assert_uint_eq(rd8(f, ELF_PADDR + ELF_FILESZ - 1), 0x77);

	/* without the promise every byte of the segment is written */
	ck_assert_int_eq(mem_write(&f->s, ELF_PADDR, marker, sizeof(marker)), 0);
	img[ELF_DATA + ELF_FILESZ - 1] = 0;
	c.ram_is_zero = false;
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert(all_byte(f, ELF_PADDR, ELF_MEMSZ, 0));
	free(img);
	fx_free(f);
}
END_TEST

START_TEST(test_pvh_load_rejects)
{
	struct fx *f = fx_new(64 * MiB);
	struct elf_opts o = { .paddr = 128 * MiB };
	struct fw_entry e;
	struct fw_linux_cfg c;
	size_t len;
	uint8_t *img = make_elf(&o, &len);
	uint8_t *initrd = calloc(1, 2 * MiB);

	ck_assert_ptr_nonnull(initrd);
	initrd[0] = 1;

	/* segment past the end of RAM */
	c = cfg_for(f, img, len);
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "not in RAM");
	assert_untouched(f);
	free(img);

	/* segment in the PCI hole below 4 GiB */
	o.paddr = PC_ECAM_BASE;
	img = make_elf(&o, &len);
	c = cfg_for(f, img, len);
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG, "not in RAM");
	free(img);

	/*
	 * The kernel fills RAM from 2 MiB to 4 KiB below the top: 1 MiB is left
	 * below it. A 2 MiB initrd does not fit; 512 KiB goes right under it.
	 */
	o.paddr = 0;
	img = make_elf(&o, &len);
	put64(img + PH0_MEMSZ, 62 * MiB - 0x1000);
	c = cfg_for(f, img, len);
	c.initrd = initrd;
	c.initrd_len = 2 * MiB;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -E2BIG,
		    "initrd of 2097152 bytes does not fit below 0x4000000");
	assert_untouched(f);
	c.initrd_len = 512 * KiB;
	ck_assert_int_eq(fw_load_linux(&c, &e, NULL, 0), 0);
	ck_assert_uint_eq(rd64(f, rd64(f, FW_START_INFO_GPA + 16)), 2 * MiB - 512 * KiB);
	ck_assert_uint_eq(rd8(f, 2 * MiB - 512 * KiB), 1);
	free(initrd);
	free(img);
	fx_free(f);
}
END_TEST

/* An E820 that promises RAM the address space lacks is caught before any write. */
START_TEST(test_e820_without_ram)
{
	struct fx *f = fx_new(64 * MiB);
	struct elf_opts o = { .paddr = 96 * MiB };
	struct pc_layout l = f->l;
	struct fw_entry e;
	struct fw_linux_cfg c;
	size_t len, bzlen;
	unsigned i;
	uint8_t *img = make_elf(&o, &len);
	uint8_t *bz = make_bzimage(4096, &bzlen);

	for (i = 0; i < l.nr_e820; i++)
		if (l.e820[i].addr == PC_HIGH_START)
			l.e820[i].size = 128 * MiB - PC_HIGH_START;
	c = cfg_for(f, img, len);
	c.layout = &l;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -EINVAL, "address space has none");
	assert_untouched(f);

	put64(bz + 0x258, 96 * MiB);
	c.kernel = bz;
	c.kernel_len = bzlen;
	EXPECT_FAIL(fw_load_linux(&c, &e, _e, sizeof(_e)), -EINVAL, "address space has none");
	assert_untouched(f);
	free(bz);
	free(img);
	fx_free(f);
}
END_TEST

/* ---- MP table --------------------------------------------------------------- */

static uint8_t sum_bytes(struct fx *f, uint64_t gpa, size_t len)
{
	uint8_t buf[8192], s = 0;
	size_t i;

	ck_assert_uint_le(len, sizeof(buf));
	ck_assert_int_eq(mem_read(&f->s, gpa, buf, len), 0);
	for (i = 0; i < len; i++)
		s += buf[i];
	return s;
}

static void check_mptable(struct fx *f, uint64_t gpa, unsigned ncpus)
{
	uint64_t cfg, p, end;
	unsigned cpus = 0, ints = 0, lints = 0, buses = 0, ioapics = 0, count, i;
	bool seen_irq[16] = { false };

	ck_assert_uint_eq(rd32(f, gpa), 0x5f504d5f);       /* "_MP_" */
	ck_assert_uint_eq(rd8(f, gpa + 8), 1);
	ck_assert_uint_eq(rd8(f, gpa + 9), 4);
	ck_assert_uint_eq(sum_bytes(f, gpa, 16), 0);
	if (gpa < PC_HIGH_START)
		ck_assert_uint_eq(rd16(f, 0x40E), gpa >> 4);
	cfg = rd32(f, gpa + 4);
	ck_assert_uint_eq(rd32(f, cfg), 0x504d4350);       /* "PCMP" */
	ck_assert_uint_eq(rd8(f, cfg + 6), 4);
	ck_assert_uint_eq(sum_bytes(f, cfg, rd16(f, cfg + 4)), 0);
	ck_assert_uint_eq(rd32(f, cfg + 36), 0xFEE00000);
	ck_assert_uint_eq(rd16(f, cfg + 40), 0);           /* no extended table */
	count = rd16(f, cfg + 34);
	ck_assert_uint_eq(count, ncpus + 1 + 1 + 15 + 2);
	end = cfg + rd16(f, cfg + 4);
	ck_assert_uint_eq(end - gpa, fw_mptable_size(ncpus));
	p = cfg + 44;
	for (i = 0; i < count; i++) {
		uint8_t type = rd8(f, p);

		ck_assert_uint_lt(p, end);
		switch (type) {
		case 0:
			ck_assert_uint_eq(rd8(f, p + 1), cpus);
			ck_assert_uint_eq(rd8(f, p + 3), cpus == 0 ? 3 : 1);
			cpus++;
			p += 20;
			break;
		case 1:
			ck_assert_uint_eq(rd8(f, p + 1), 0);
			ck_assert_uint_eq(rd32(f, p + 2), 0x20415349);   /* "ISA " */
			buses++;
			p += 8;
			break;
		case 2:
			ck_assert_uint_eq(rd8(f, p + 1), ncpus);
			ck_assert_uint_eq(rd8(f, p + 3), 1);
			ck_assert_uint_eq(rd32(f, p + 4), 0xFEC00000);
			ioapics++;
			p += 8;
			break;
		case 3: {
			uint8_t irq = rd8(f, p + 5);

			ck_assert_uint_eq(rd8(f, p + 1), 0);            /* INT */
			ck_assert_uint_eq(rd16(f, p + 2), 0);           /* conforming */
			ck_assert_uint_eq(rd8(f, p + 4), 0);            /* ISA */
			ck_assert_uint_lt(irq, 16);
			ck_assert_uint_ne(irq, 2);
			ck_assert(!seen_irq[irq]);
			seen_irq[irq] = true;
			ck_assert_uint_eq(rd8(f, p + 6), ncpus);
			ck_assert_uint_eq(rd8(f, p + 7), irq == 0 ? 2 : irq);
			ints++;
			p += 8;
			break;
		}
		case 4:
			ck_assert_uint_eq(rd8(f, p + 1), lints == 0 ? 3 : 1);  /* ExtINT, NMI */
			ck_assert_uint_eq(rd8(f, p + 6), 0xFF);
			ck_assert_uint_eq(rd8(f, p + 7), lints);                /* LINT0, LINT1 */
			lints++;
			p += 8;
			break;
		default:
			ck_abort_msg("unknown MP entry type %u", type);
		}
	}
	ck_assert_uint_eq(p, end);
	ck_assert_uint_eq(cpus, ncpus);
	ck_assert_uint_eq(buses, 1);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(ints, 15);
	ck_assert_uint_eq(lints, 2);
}

START_TEST(test_mptable)
{
	struct fx *f = fx_new(64 * MiB);
	static const unsigned counts[] = { 1, 2, 8, FW_MPTABLE_MAX_CPUS_EBDA };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(counts); i++) {
		ck_assert_int_eq(fw_mptable_write(&f->s, FW_MPTABLE_GPA, counts[i]), 0);
		check_mptable(f, FW_MPTABLE_GPA, counts[i]);
		ck_assert_uint_le(FW_MPTABLE_GPA + fw_mptable_size(counts[i]), PC_LOW_RAM_END);
	}
	ck_assert_int_eq(fw_mptable_write(&f->s, FW_MPTABLE_GPA, FW_MPTABLE_MAX_CPUS_EBDA + 1),
			 -E2BIG);
	ck_assert_int_eq(fw_mptable_write(&f->s, FW_MPTABLE_GPA, 0), -EINVAL);
	ck_assert_int_eq(fw_mptable_write(&f->s, FW_MPTABLE_GPA + 4, 1), -EINVAL);
	/* a large table elsewhere in RAM; the BDA keeps pointing at the EBDA */
	ck_assert_int_eq(fw_mptable_write(&f->s, 8 * MiB, FW_MPTABLE_MAX_CPUS), 0);
	check_mptable(f, 8 * MiB, FW_MPTABLE_MAX_CPUS);
	ck_assert_uint_eq(rd16(f, 0x40E), FW_MPTABLE_GPA >> 4);
	ck_assert_int_eq(fw_mptable_write(&f->s, 8 * MiB, FW_MPTABLE_MAX_CPUS + 1), -E2BIG);
	/* not RAM: the VGA window, the PCI hole */
	ck_assert_int_eq(fw_mptable_write(&f->s, PC_VGA_START, 1), -EFAULT);
	ck_assert_int_eq(fw_mptable_write(&f->s, PC_PCI32_START, 1), -EFAULT);
	fx_free(f);
}
END_TEST

/* ---- Debian's cloud kernel, when tests/integration/get-kernel.sh fetched it --- */

START_TEST(test_real_kernel)
{
	const char *dir = getenv("VMM_KERNEL_CACHE");
	char bzpath[512], elfpath[512], err[256];
	struct fw_bzimage_info bi;
	struct fw_elf_info ei;
	struct fw_linux_cfg c;
	struct fw_entry e;
	uint8_t *bz, *elf, initrd[4096] = { 0x42 };
	size_t bzlen = 0, elflen = 0;
	struct fx *f;

	if (!dir || !*dir)
		dir = "/var/cache/vmm-kernel";
	snprintf(bzpath, sizeof(bzpath), "%s/bzImage", dir);
	snprintf(elfpath, sizeof(elfpath), "%s/vmlinux", dir);
	bz = elf = NULL;
	if (file_read_all(bzpath, &bz, &bzlen, KERNEL_FILE_MAX) ||
	    file_read_all(elfpath, &elf, &elflen, KERNEL_FILE_MAX)) {
		fprintf(stderr, "\n*** SKIP test_real_kernel: %s or %s missing; run "
			"tests/integration/get-kernel.sh to fetch Debian's cloud kernel ***\n\n",
			bzpath, elfpath);
		free(bz);
		free(elf);
		return;
	}
	ck_assert_msg(fw_bzimage_parse(bz, bzlen, &bi, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_ge(bi.version, 0x020C);
	ck_assert(bi.xloadflags & 1);
	ck_assert_uint_gt(bi.init_size, bi.pm_size);
	ck_assert_msg(fw_elf_parse(elf, elflen, &ei, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_ne(ei.pvh_entry, 0);
	ck_assert_uint_ge(ei.lowest_paddr, 1 * MiB);
	ck_assert_uint_gt(ei.nr_load, 0);
	fprintf(stderr, "real kernel: bzImage protocol %x.%02x init_size 0x%x pref 0x%llx; "
		"vmlinux PVH entry 0x%llx, %u PT_LOAD 0x%llx-0x%llx\n",
		bi.version >> 8, bi.version & 0xff, bi.init_size,
		(unsigned long long)bi.pref_address, (unsigned long long)ei.pvh_entry,
		ei.nr_load, (unsigned long long)ei.lowest_paddr,
		(unsigned long long)ei.highest_paddr_end);

	/* and both load into a 256 MiB PC */
	f = fx_new(256 * MiB);
	c = cfg_for(f, bz, bzlen);
	c.cmdline = "console=ttyS0 noxsave";
	c.initrd = initrd;
	c.initrd_len = sizeof(initrd);
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(e.mode, FW_ENTRY_LONG64);
	ck_assert_uint_eq(e.rip, bi.pref_address + 0x200);
	c.kernel = elf;
	c.kernel_len = elflen;
	ck_assert_msg(fw_load_linux(&c, &e, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(e.mode, FW_ENTRY_PROT32);
	ck_assert_uint_eq(e.rip, ei.pvh_entry);
	ck_assert_uint_eq(rd32(f, FW_START_INFO_GPA), 0x336ec578);
	fx_free(f);
	free(bz);
	free(elf);
}
END_TEST

static Suite *firmware_suite(void)
{
	Suite *s = suite_create("firmware");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bz_parse_ok);
	tcase_add_test(tc, test_bz_parse_rejects);
	tcase_add_test(tc, test_bz_load_ok);
	tcase_add_test(tc, test_bz_load_addresses);
	tcase_add_test(tc, test_rsdp_and_setup_dtb);
	tcase_add_test(tc, test_bz_load_rejects);
	tcase_add_test(tc, test_cmdline_too_long_for_area);
	tcase_add_test(tc, test_elf_parse_ok);
	tcase_add_test(tc, test_elf_parse_rejects);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_pvh_load_ok);
	tcase_add_test(tc, test_pvh_load_ram_is_zero);
	tcase_add_test(tc, test_pvh_load_rejects);
	tcase_add_test(tc, test_e820_without_ram);
	tcase_add_test(tc, test_mptable);
	tcase_add_test(tc, test_real_kernel);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(firmware_suite)
