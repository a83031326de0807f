/*
 * tests/unit/test_linuxboot.c - the Linux boot option ROM image (header,
 * checksums, $PnP/BEV) and fw_linuxboot_setup(): fw_cfg items read back
 * with fw_cfg_get() and through the file directory, the patched setup
 * header, placement, and refused inputs, against the real devices/fw_cfg.
 * The layout is a real PC layout from memory/. A C model of the ROM then
 * loads the items through the fw_cfg ports (DMA and data port) into a PC
 * address space. When VMM_KERNEL_CACHE (or /var/cache/vmm-kernel) holds a
 * bzImage, it is fed too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "devices/iobus.h"
#include "firmware/boot.h"
#include "firmware/linuxboot.h"
#include "memory/memory.h"
#include "memory/pc.h"
#include "common/file.h"
#include "tests/unit/unit.h"

/* ---- helpers ------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static struct pc_layout layout(uint64_t ram_size)
{
	struct pc_layout_cfg c = {
		.ram_size = ram_size, .phys_bits = 40, .amd_hole = PC_AMD_HOLE_OFF,
	};
	struct pc_layout l;
	char err[160];

	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	return l;
}

/* ---- synthetic bzImage --------------------------------------------------------- */

#define SETUP_SECTS 6
#define PM_OFF      ((SETUP_SECTS + 1) * 512)
#define INIT_SIZE   (32 * MiB)
#define PREF_ADDR   (16 * MiB)

/* A minimal 2.15 bzImage: setup header in SETUP_SECTS sectors, then @pm_size bytes. */
static uint8_t *make_bzimage(size_t pm_size, size_t *len)
{
	uint8_t *img;
	size_t i;

	*len = PM_OFF + pm_size;
	img = calloc(1, *len);
	ck_assert_ptr_nonnull(img);
	for (i = 0; i < PM_OFF; i++)                /* recognisable setup bytes */
		img[i] = (uint8_t)(i * 3 + 5);
	memset(img + 0x1F1, 0, 0x290 - 0x1F1);
	img[0x1F1] = SETUP_SECTS;
	put32(img + 0x1F4, (uint32_t)(pm_size / 16));
	put16(img + 0x1FA, 0x0003);                 /* vid_mode: must become 0xFFFF */
	put16(img + 0x1FE, 0xAA55);
	img[0x200] = 0xEB;
	img[0x201] = 0x6A;
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, 0x020F);
	img[0x211] = 0x01;                          /* LOADED_HIGH */
	put32(img + 0x22C, 0x7FFFFFFF);             /* initrd_addr_max */
	put32(img + 0x230, 2 * MiB);                /* kernel_alignment */
	img[0x234] = 1;                             /* relocatable */
	put16(img + 0x236, 0x1);                    /* XLF_KERNEL_64 */
	put32(img + 0x238, 2047);                   /* cmdline_size */
	put64(img + 0x258, PREF_ADDR);
	put32(img + 0x260, INIT_SIZE);
	for (i = 0; i < pm_size; i++)
		img[PM_OFF + i] = (uint8_t)(i * 7 + 1);
	return img;
}

static uint8_t *make_initrd(size_t len)
{
	uint8_t *p = malloc(len);
	size_t i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i ^ (i >> 8) ^ 0x5A);
	return p;
}

/* ---- fw_cfg access -------------------------------------------------------------- */

static struct fw_cfg *cfg_new(void)
{
	struct fw_cfg *fw = calloc(1, sizeof(*fw));

	ck_assert_ptr_nonnull(fw);
	ck_assert_int_eq(fw_cfg_init(fw, NULL), 0);
	return fw;
}

static void cfg_free(struct fw_cfg *fw)
{
	fw_cfg_destroy(fw);
	free(fw);
}

static const uint8_t *item(struct fw_cfg *fw, uint16_t key, uint32_t *len)
{
	const uint8_t *d = NULL;

	*len = 0;
	ck_assert_msg(fw_cfg_get(fw, key, &d, len) == 0, "fw_cfg key 0x%x missing", key);
	ck_assert(*len == 0 || d != NULL);
	return d;
}

static uint32_t item32(struct fw_cfg *fw, uint16_t key)
{
	uint32_t len;
	const uint8_t *d = item(fw, key, &len);

	ck_assert_msg(len == 4, "fw_cfg key 0x%x has %u bytes, want 4", key, len);
	return get32(d);
}

static bool has_item(struct fw_cfg *fw, uint16_t key)
{
	const uint8_t *d;
	uint32_t len;

	/* the real device may answer an absent key as an empty item */
	return fw_cfg_get(fw, key, &d, &len) == 0 && len > 0;
}

/*
 * Find a file the way SeaBIOS does: through the big-endian directory at
 * FW_CFG_FILE_DIR ({BE32 count} then {BE32 size, BE16 select, u16, name[56]}).
 */
static const uint8_t *file(struct fw_cfg *fw, const char *name, uint32_t *len)
{
	uint32_t dlen, n, i;
	const uint8_t *dir = item(fw, FW_CFG_FILE_DIR, &dlen);

	ck_assert_uint_ge(dlen, 4);
	n = get_be32(dir);
	ck_assert_uint_ge(dlen, 4 + (uint64_t)n * 64);
	for (i = 0; i < n; i++) {
		const uint8_t *e = dir + 4 + i * 64;

		if (!strncmp((const char *)e + 8, name, FW_CFG_MAX_FILE_PATH)) {
			const uint8_t *d = item(fw, (uint16_t)(e[4] << 8 | e[5]), len);

			ck_assert_uint_eq(*len, get_be32(e));
			return d;
		}
	}
	return NULL;
}

/* ---- the ROM image -------------------------------------------------------------- */

START_TEST(test_rom_header)
{
	const uint8_t *r = fw_linuxboot_rom;
	size_t n = fw_linuxboot_rom_size;

	ck_assert_uint_ge(n, 512);
	ck_assert_uint_eq(n % 512, 0);
	ck_assert_uint_le(n, 255 * 512);
	ck_assert_uint_eq(r[0], 0x55);
	ck_assert_uint_eq(r[1], 0xAA);
	ck_assert_uint_eq((size_t)r[2] * 512, n);
	ck_assert_uint_eq(sum8(r, n), 0);
	/* init entry at offset 3: a bare far return (retf), nothing to install */
	ck_assert_uint_eq(r[3], 0xCB);
	ck_assert_uint_eq(get16(r + 0x18), 0);          /* no PCI data structure */
}
END_TEST

START_TEST(test_rom_pnp_bev)
{
	const uint8_t *r = fw_linuxboot_rom;
	size_t n = fw_linuxboot_rom_size;
	uint16_t pnp = get16(r + 0x1A), bev, s;
	size_t plen;

	ck_assert_uint_ne(pnp, 0);
	ck_assert_uint_le(pnp + 32, n);
	ck_assert_int_eq(memcmp(r + pnp, "$PnP", 4), 0);
	ck_assert_uint_eq(r[pnp + 4], 1);                /* revision */
	plen = (size_t)r[pnp + 5] * 16;
	ck_assert_uint_ge(plen, 32);
	ck_assert_uint_le(pnp + plen, n);
	ck_assert_uint_eq(sum8(r + pnp, plen), 0);
	ck_assert_uint_eq(get16(r + pnp + 6), 0);        /* one header only */
	ck_assert_uint_eq(get16(r + pnp + 0x16), 0);     /* no BCV: SeaBIOS adds the BEV */
	bev = get16(r + pnp + 0x1A);
	ck_assert_uint_ne(bev, 0);
	ck_assert_uint_gt(bev, pnp + plen - 1);          /* code, not inside the header */
	ck_assert_uint_lt(bev, n - 1);                   /* not the checksum byte */
	/* the BEV saves the caller's flags first, so an error path can return */
	ck_assert_uint_eq(r[bev], 0x9C);                 /* pushf */
	/* manufacturer and product strings: NUL-terminated inside the ROM */
	s = get16(r + pnp + 0x0E);
	ck_assert_uint_lt(s, n);
	ck_assert_ptr_nonnull(memchr(r + s, 0, n - s));
	s = get16(r + pnp + 0x10);
	ck_assert_uint_lt(s, n);
	ck_assert_ptr_nonnull(memchr(r + s, 0, n - s));
	ck_assert_ptr_nonnull(memmem(r + s, n - s, "Linux", 5));
}
END_TEST

/* The ROM's I/O: the fw_cfg ports, DMA ports and the debug console, all as immediates. */
START_TEST(test_rom_ports)
{
	const uint8_t *r = fw_linuxboot_rom;
	size_t n = fw_linuxboot_rom_size;
	static const uint16_t ports[] = { 0x510, 0x511, 0x514, 0x518, 0x402 };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(ports); i++) {
		/* mov $port, %dx = BA lo hi */
		uint8_t pat[3] = { 0xBA, (uint8_t)ports[i], (uint8_t)(ports[i] >> 8) };

		ck_assert_msg(memmem(r, n, pat, 3) != NULL, "ROM never loads port 0x%x", ports[i]);
	}
	/* The bounce buffer is where linuxboot.h says. */
	ck_assert(memmem(r, n, (const uint8_t[]){ 0x00, 0x00, 0x03, 0x00 }, 4) != NULL);
	ck_assert_uint_eq(FW_LB_BOUNCE_GPA, 0x30000);
}
END_TEST

/* ---- fw_linuxboot_setup ------------------------------------------------------- */

static void expect_refused(const struct pc_layout *l, const uint8_t *k, size_t klen,
			   const uint8_t *ird, size_t ilen, const char *cmd, int want,
			   const char *needle);

START_TEST(test_setup_items)
{
	struct pc_layout l = layout(256 * MiB);
	struct fw_cfg *fw = cfg_new();
	size_t klen, ilen = 3 * MiB + 123;
	uint8_t *k = make_bzimage(64 * KiB, &klen);
	uint8_t *ird = make_initrd(ilen);
	const char *cmd = "console=ttyS0 root=/dev/vda rw";
	const uint8_t *d;
	uint32_t len, initrd_gpa;
	char err[200];

	ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, klen, ird, ilen, cmd, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");

	/* setup */
	ck_assert_uint_eq(item32(fw, FW_CFG_SETUP_ADDR), FW_LB_SETUP_GPA);
	ck_assert_uint_eq(item32(fw, FW_CFG_SETUP_SIZE), PM_OFF);
	d = item(fw, FW_CFG_SETUP_DATA, &len);
	ck_assert_uint_eq(len, PM_OFF);
	ck_assert_int_eq(memcmp(d, k, 0x1F1), 0);               /* boot sector as is */
	ck_assert_int_eq(memcmp(d + 0x290, k + 0x290, PM_OFF - 0x290), 0);
	ck_assert_int_eq(memcmp(d + 0x202, "HdrS", 4), 0);

	/* kernel: everything after the setup, at 1 MiB */
	ck_assert_uint_eq(item32(fw, FW_CFG_KERNEL_ADDR), 0x100000);
	ck_assert_uint_eq(item32(fw, FW_CFG_KERNEL_SIZE), 64 * KiB);
	d = item(fw, FW_CFG_KERNEL_DATA, &len);
	ck_assert_uint_eq(len, 64 * KiB);
	ck_assert_int_eq(memcmp(d, k + PM_OFF, len), 0);

	/* initrd: page-aligned, below top of RAM - 8 MiB, clear of the kernel's footprint */
	initrd_gpa = item32(fw, FW_CFG_INITRD_ADDR);
	ck_assert_uint_eq(item32(fw, FW_CFG_INITRD_SIZE), ilen);
	ck_assert_uint_eq(initrd_gpa % 4096, 0);
	ck_assert_uint_le(initrd_gpa + ilen, 256 * MiB - 8 * MiB);
	ck_assert_uint_gt(initrd_gpa + ilen, 256 * MiB - 8 * MiB - 4096);  /* as high as it goes */
	ck_assert_uint_ge(initrd_gpa, PREF_ADDR + INIT_SIZE);
	d = item(fw, FW_CFG_INITRD_DATA, &len);
	ck_assert_uint_eq(len, ilen);
	ck_assert_int_eq(memcmp(d, ird, ilen), 0);

	/* cmdline: NUL-terminated, SIZE counts the NUL */
	ck_assert_uint_eq(item32(fw, FW_CFG_CMDLINE_ADDR), FW_LB_CMDLINE_GPA);
	ck_assert_uint_eq(item32(fw, FW_CFG_CMDLINE_SIZE), strlen(cmd) + 1);
	d = item(fw, FW_CFG_CMDLINE_DATA, &len);
	ck_assert_uint_eq(len, strlen(cmd) + 1);
	ck_assert_str_eq((const char *)d, cmd);

	/* patched header fields */
	d = item(fw, FW_CFG_SETUP_DATA, &len);
	ck_assert_uint_eq(get16(d + 0x1FA), 0xFFFF);             /* vid_mode */
	ck_assert_uint_eq(d[0x210], 0xB0);                       /* type_of_loader */
	ck_assert_uint_eq(d[0x211], 0x81);                       /* LOADED_HIGH | CAN_USE_HEAP */
	ck_assert_uint_eq(get16(d + 0x224), 0xFE00);             /* heap_end_ptr */
	ck_assert_uint_eq(get32(d + 0x228), FW_LB_CMDLINE_GPA);  /* cmd_line_ptr */
	ck_assert_uint_eq(get32(d + 0x218), initrd_gpa);         /* ramdisk_image */
	ck_assert_uint_eq(get32(d + 0x21C), ilen);               /* ramdisk_size */
	/* fields the loader must not touch */
	ck_assert_uint_eq(get32(d + 0x22C), 0x7FFFFFFF);
	ck_assert_uint_eq(get16(d + 0x206), 0x020F);
	ck_assert_uint_eq(d[0x1F1], SETUP_SECTS);

	/* no boot menu wait; the ROM as a genroms file, first in the boot order */
	d = item(fw, FW_CFG_BOOT_MENU, &len);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(get16(d), 0);
	d = file(fw, "genroms/linuxboot_dma.bin", &len);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(len, fw_linuxboot_rom_size);
	ck_assert_int_eq(memcmp(d, fw_linuxboot_rom, len), 0);
	d = file(fw, "bootorder", &len);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(len, sizeof("/rom@genroms/linuxboot_dma.bin"));
	ck_assert_str_eq((const char *)d, "/rom@genroms/linuxboot_dma.bin");

	free(k);
	free(ird);
	cfg_free(fw);
}
END_TEST

START_TEST(test_setup_no_initrd_no_cmdline)
{
	struct pc_layout l = layout(128 * MiB);
	struct fw_cfg *fw = cfg_new();
	size_t klen;
	uint8_t *k = make_bzimage(4096 + 48, &klen);   /* odd multiple of 16 */
	const uint8_t *d;
	uint32_t len;
	char err[200];

	ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, klen, NULL, 0, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(item32(fw, FW_CFG_INITRD_ADDR), 0);
	ck_assert_uint_eq(item32(fw, FW_CFG_INITRD_SIZE), 0);
	ck_assert(!has_item(fw, FW_CFG_INITRD_DATA));
	ck_assert_uint_eq(item32(fw, FW_CFG_CMDLINE_SIZE), 1);
	d = item(fw, FW_CFG_CMDLINE_DATA, &len);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(d[0], 0);
	d = item(fw, FW_CFG_SETUP_DATA, &len);
	ck_assert_uint_eq(get32(d + 0x218), 0);
	ck_assert_uint_eq(get32(d + 0x21C), 0);
	ck_assert_uint_eq(item32(fw, FW_CFG_KERNEL_SIZE), 4096 + 48);
	free(k);
	cfg_free(fw);
}
END_TEST

/* setup_sects 0 means 4; a non-relocatable kernel decompresses at pref_address. */
START_TEST(test_setup_sects_zero_and_fixed_kernel)
{
	struct pc_layout l = layout(256 * MiB);
	struct fw_cfg *fw = cfg_new();
	size_t klen, ilen = 100 * KiB, pm = 8192, len0;
	uint8_t *k = make_bzimage(pm, &klen);
	uint8_t *k0, *ird = make_initrd(ilen);
	uint32_t len;
	char err[200];

	/* rebuild with setup_sects = 0: 4 sectors of setup + the boot sector */
	len0 = 5 * 512 + pm;
	k0 = calloc(1, len0);
	ck_assert_ptr_nonnull(k0);
	memcpy(k0, k, 0x290);
	k0[0x1F1] = 0;
	k0[0x234] = 0;                                  /* not relocatable */
	put64(k0 + 0x258, 200 * MiB);                   /* pref: kernel runs 200-232 MiB */
	memcpy(k0 + 5 * 512, k + PM_OFF, pm);
	/* 256 MiB RAM: the 200 + 32 MiB footprint fits, the initrd goes above it */
	ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k0, len0, ird, ilen, "x", err, sizeof(err)),
			 0);
	ck_assert_uint_eq(item32(fw, FW_CFG_SETUP_SIZE), 5 * 512);
	item(fw, FW_CFG_SETUP_DATA, &len);
	ck_assert_uint_eq(len, 5 * 512);
	ck_assert_uint_eq(item32(fw, FW_CFG_KERNEL_SIZE), pm);
	/* the initrd stays clear of 1 MiB up to the end of the footprint at 232 MiB */
	ck_assert_uint_ge(item32(fw, FW_CFG_INITRD_ADDR), 232 * MiB);
	ck_assert_uint_le(item32(fw, FW_CFG_INITRD_ADDR) + ilen, 248 * MiB);
	/* at 220 MiB the footprint ends at 252 MiB, past the 248 MiB initrd limit: no room */
	put64(k0 + 0x258, 220 * MiB);
	expect_refused(&l, k0, len0, ird, ilen, "x", -E2BIG, "initrd");
	/* the same kernel without an initrd is fine */
	cfg_free(fw);
	fw = cfg_new();
	ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k0, len0, NULL, 0, "x", err, sizeof(err)), 0);
	free(k);
	free(k0);
	free(ird);
	cfg_free(fw);
}
END_TEST

/* initrd_addr_max caps the placement. */
START_TEST(test_initrd_addr_max)
{
	struct pc_layout l = layout(512 * MiB);
	struct fw_cfg *fw = cfg_new();
	size_t klen, ilen = 1 * MiB;
	uint8_t *k = make_bzimage(4096, &klen);
	uint8_t *ird = make_initrd(ilen);
	uint32_t gpa;
	char err[200];

	put32(k + 0x22C, 100 * MiB - 1);
	ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, klen, ird, ilen, "", err, sizeof(err)), 0);
	gpa = item32(fw, FW_CFG_INITRD_ADDR);
	ck_assert_uint_eq(gpa, 100 * MiB - 1 * MiB);
	free(k);
	free(ird);
	cfg_free(fw);
}
END_TEST

static void expect_refused(const struct pc_layout *l, const uint8_t *k, size_t klen,
			   const uint8_t *ird, size_t ilen, const char *cmd, int want,
			   const char *needle)
{
	struct fw_cfg *fw = cfg_new();
	char err[200] = "unset";
	uint32_t dlen;
	const uint8_t *dir;
	int ret = fw_linuxboot_setup(fw, l, k, klen, ird, ilen, cmd, err, sizeof(err));

	ck_assert_msg(ret == want, "want %d got %d (%s)", want, ret, err);
	ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
	ck_assert_ptr_null(strchr(err, '\n'));
	/* refused before anything was added */
	ck_assert(!has_item(fw, FW_CFG_SETUP_ADDR));
	ck_assert(!has_item(fw, FW_CFG_KERNEL_DATA));
	dir = item(fw, FW_CFG_FILE_DIR, &dlen);
	ck_assert(dlen < 4 || get_be32(dir) == 0);
	cfg_free(fw);
}

START_TEST(test_refuse_not_bzimage)
{
	struct pc_layout l = layout(128 * MiB);
	size_t klen;
	uint8_t *k = make_bzimage(4096, &klen);
	uint8_t junk[4096];

	memset(junk, 0x90, sizeof(junk));
	expect_refused(&l, junk, sizeof(junk), NULL, 0, NULL, -ENOEXEC, "magic");
	expect_refused(&l, NULL, 0, NULL, 0, NULL, -EINVAL, "empty kernel");
	expect_refused(&l, k, 0, NULL, 0, NULL, -EINVAL, "empty kernel");
	/* truncated: no room for the header, then less kernel than syssize declares */
	expect_refused(&l, k, 0x100, NULL, 0, NULL, -EINVAL, "truncated");
	expect_refused(&l, k, klen - 16, NULL, 0, NULL, -EINVAL, "truncated");
	/* setup_sects pointing past the end of the file */
	k[0x1F1] = 200;
	expect_refused(&l, k, klen, NULL, 0, NULL, -EINVAL, "setup_sects");
	k[0x1F1] = SETUP_SECTS;
	/* too old a protocol */
	put16(k + 0x206, 0x0206);
	expect_refused(&l, k, klen, NULL, 0, NULL, -ENOEXEC, "older");
	put16(k + 0x206, 0x020F);
	/* zImage: not loaded high */
	k[0x211] = 0;
	expect_refused(&l, k, klen, NULL, 0, NULL, -ENOEXEC, "LOADED_HIGH");
	k[0x211] = 1;
	/* initrd length without data */
	expect_refused(&l, k, klen, NULL, 10, NULL, -EINVAL, "without data");
	free(k);
}
END_TEST

START_TEST(test_refuse_too_big)
{
	struct pc_layout l = layout(128 * MiB);
	struct pc_layout small = layout(32 * MiB);
	size_t klen, big_len, i;
	uint8_t *k = make_bzimage(4096, &klen);
	uint8_t *big, *ird;
	char *cmd;

	/* setup larger than 32 KiB (setup_sects 64: 32.5 KiB) */
	big_len = 65 * 512 + 4096;
	big = calloc(1, big_len);
	ck_assert_ptr_nonnull(big);
	memcpy(big, k, 0x290);
	big[0x1F1] = 64;
	expect_refused(&l, big, big_len, NULL, 0, NULL, -E2BIG, "setup");
	free(big);

	/* command line longer than cmdline_size, and longer than the room below the bounce buffer */
	cmd = malloc(FW_LB_CMDLINE_MAX + 10);
	ck_assert_ptr_nonnull(cmd);
	memset(cmd, 'a', FW_LB_CMDLINE_MAX + 9);
	cmd[2048] = '\0';
	expect_refused(&l, k, klen, NULL, 0, cmd, -E2BIG, "cmdline_size");
	cmd[2048] = 'a';
	cmd[FW_LB_CMDLINE_MAX + 9] = '\0';
	put32(k + 0x238, 0x7FFFFFFF);
	expect_refused(&l, k, klen, NULL, 0, cmd, -E2BIG, "command line");
	/* exactly cmdline_size bytes is fine */
	cmd[2047] = '\0';
	put32(k + 0x238, 2047);
	{
		struct fw_cfg *fw = cfg_new();
		char err[200];

		ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, klen, NULL, 0, cmd, err,
						    sizeof(err)), 0);
		ck_assert_uint_eq(item32(fw, FW_CFG_CMDLINE_SIZE), 2048);
		cfg_free(fw);
	}
	free(cmd);

	/* kernel footprint (16 MiB + 32 MiB init_size) beyond 32 MiB of RAM */
	expect_refused(&small, k, klen, NULL, 0, NULL, -E2BIG, "init_size");
	/* init_size that would run past 4 GiB */
	put32(k + 0x260, 0xFFFFF000);
	expect_refused(&l, k, klen, NULL, 0, NULL, -E2BIG, "kernel needs RAM");
	put32(k + 0x260, INIT_SIZE);

	/* initrd larger than the RAM left below 4 GiB */
	ird = make_initrd(128 * MiB);
	expect_refused(&l, k, klen, ird, 128 * MiB, NULL, -E2BIG, "initrd");
	/* 128 MiB RAM: kernel to 48 MiB, top gap 8 MiB: 72 MiB left, 72 MiB + 1 page is not */
	expect_refused(&l, k, klen, ird, 72 * MiB + 1, NULL, -E2BIG, "initrd");
	{
		struct fw_cfg *fw = cfg_new();
		char err[200];

		ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, klen, ird, 72 * MiB, NULL, err,
						    sizeof(err)), 0);
		ck_assert_uint_eq(item32(fw, FW_CFG_INITRD_ADDR), 48 * MiB);
		cfg_free(fw);
	}
	free(ird);
	/* a wrapping initrd length (no data needed to be refused: size check first) */
	for (i = 0; i < 2; i++) {
		size_t huge = i ? SIZE_MAX : (size_t)UINT32_MAX + 1;
		uint8_t dummy = 0;

		expect_refused(&l, k, klen, &dummy, huge, NULL, -E2BIG, "initrd");
	}
	free(k);
}
END_TEST

/* A layout with no E820 entries, or a NULL device/layout, is refused cleanly. */
START_TEST(test_refuse_bad_args)
{
	struct pc_layout l = layout(128 * MiB), empty;
	size_t klen;
	uint8_t *k = make_bzimage(4096, &klen);
	char err[200];

	ck_assert_int_eq(fw_linuxboot_setup(NULL, &l, k, klen, NULL, 0, NULL, err, sizeof(err)),
			 -EINVAL);
	expect_refused(NULL, k, klen, NULL, 0, NULL, -EINVAL, "layout");
	empty = l;
	empty.nr_e820 = 0;
	expect_refused(&empty, k, klen, NULL, 0, NULL, -EINVAL, "E820");
	empty.nr_e820 = 1000;
	expect_refused(&empty, k, klen, NULL, 0, NULL, -EINVAL, "E820");
	/* err may be NULL */
	{
		struct fw_cfg *fw = cfg_new();

		ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, 10, NULL, 0, NULL, NULL, 0), -EINVAL);
		cfg_free(fw);
	}
	free(k);
}
END_TEST

/* A second call on the same device: the keys exist, -EEXIST, named in err. */
START_TEST(test_duplicate_add)
{
	struct pc_layout l = layout(128 * MiB);
	struct fw_cfg *fw = cfg_new();
	size_t klen;
	uint8_t *k = make_bzimage(4096, &klen);
	char err[200];

	ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, klen, NULL, 0, "a", err, sizeof(err)), 0);
	ck_assert_int_eq(fw_linuxboot_setup(fw, &l, k, klen, NULL, 0, "a", err, sizeof(err)),
			 -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "SETUP"));
	free(k);
	cfg_free(fw);
}
END_TEST

/* ---- a real bzImage, when one is cached ------------------------------------------ */

START_TEST(test_real_kernel)
{
	const char *dir = getenv("VMM_KERNEL_CACHE");
	struct pc_layout l = layout(512 * MiB);
	char path[512], err[200];
	struct fw_cfg *fw;
	const uint8_t *d;
	uint32_t len, setup;
	size_t klen;
	uint8_t *k;

	snprintf(path, sizeof(path), "%s/bzImage", dir ? dir : "/var/cache/vmm-kernel");
	k = NULL;
	if (file_read_all(path, &k, &klen, KERNEL_FILE_MAX)) {
		fprintf(stderr, "test_real_kernel: SKIPPED, no %s\n", path);
		return;
	}
	fw = cfg_new();
	ck_assert_msg(fw_linuxboot_setup(fw, &l, k, klen, k, 4 * MiB, "console=ttyS0", err,
					 sizeof(err)) == 0, "%s", err);
	setup = item32(fw, FW_CFG_SETUP_SIZE);
	ck_assert_uint_eq(setup, ((size_t)(k[0x1F1] ? k[0x1F1] : 4) + 1) * 512);
	ck_assert_uint_eq(item32(fw, FW_CFG_KERNEL_SIZE), klen - setup);
	d = item(fw, FW_CFG_SETUP_DATA, &len);
	ck_assert_int_eq(memcmp(d + 0x202, "HdrS", 4), 0);
	ck_assert_uint_eq(d[0x210], 0xB0);
	ck_assert_uint_eq(item32(fw, FW_CFG_INITRD_ADDR) % 4096, 0);
	ck_assert_uint_le(item32(fw, FW_CFG_INITRD_ADDR) + 4 * MiB, 512 * MiB - 8 * MiB);
	free(k);
	cfg_free(fw);
}
END_TEST

/* ---- the ROM's steps, port for port, against the real fw_cfg device --------------- */

/*
 * A C model of firmware/optionrom/linuxboot.S: the same port accesses (16-bit
 * selector writes, 8-bit data reads, the two 32-bit DMA address writes with
 * a byte-swapped value, INT 15h moves of whole words through the bounce
 * buffer) on a PC address space, so the items fw_linuxboot_setup() adds are
 * proven loadable the way the ROM loads them.
 */
#define ROM_DESC_GPA 0x6FF0ULL        /* a 16-byte-aligned slot on a BIOS-like stack */

struct machine {
	struct mem_space s;
	struct mem_backend *ram;
	struct pc_mem *pc;
	struct pc_layout l;
	struct iobus bus;
	struct fw_cfg fw;
};

static struct machine *machine_new(uint64_t ram_size, bool dma)
{
	struct machine *m = calloc(1, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	m->pc = calloc(1, sizeof(*m->pc));
	ck_assert_ptr_nonnull(m->pc);
	m->l = layout(ram_size);
	ck_assert_int_eq(mem_space_init(&m->s, "lb"), 0);
	ck_assert_int_eq(mem_backend_create(&m->ram, "lb.ram", ram_size), 0);
	ck_assert_int_eq(pc_mem_build(m->pc, &m->s, m->ram, NULL, &m->l), 0);
	ck_assert_int_eq(iobus_init(&m->bus), 0);
	ck_assert_int_eq(fw_cfg_init(&m->fw, dma ? &m->s : NULL), 0);
	ck_assert_int_eq(fw_cfg_register(&m->fw, &m->bus), 0);
	return m;
}

static void machine_free(struct machine *m)
{
	fw_cfg_destroy(&m->fw);
	iobus_destroy(&m->bus);
	mem_space_destroy(&m->s);
	mem_backend_destroy(m->ram);
	free(m->pc);
	free(m);
}

static uint64_t port_in(struct machine *m, uint16_t port, unsigned size)
{
	uint64_t v = 0;

	ck_assert_int_eq(iobus_dispatch(&m->bus, port, size, false, &v), 0);
	return v;
}

static void port_out(struct machine *m, uint16_t port, unsigned size, uint64_t v)
{
	ck_assert_int_eq(iobus_dispatch(&m->bus, port, size, true, &v), 0);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* cfg_read32: outw key, then four inb, little-endian. */
static uint32_t rom_cfg_read32(struct machine *m, uint16_t key)
{
	uint32_t v = 0;
	unsigned i;

	port_out(m, FW_CFG_CTL_PORT, 2, key);
	for (i = 0; i < 4; i++)
		v |= (uint32_t)port_in(m, FW_CFG_CTL_PORT + 1, 1) << (8 * i);
	return v;
}

/* dma_read: the access struct in guest RAM, high half 0 to 0x514, bswap(low) to 0x518. */
static bool rom_dma_read(struct machine *m, uint16_t key, uint32_t dst, uint32_t len)
{
	uint8_t d[16];

	put_be32(d, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
	put_be32(d + 4, len);
	put_be32(d + 8, 0);
	put_be32(d + 12, dst);
	ck_assert_int_eq(mem_write(&m->s, ROM_DESC_GPA, d, sizeof(d)), 0);
	port_out(m, FW_CFG_DMA_PORT, 4, 0);
	port_out(m, FW_CFG_DMA_PORT + 4, 4, __builtin_bswap32((uint32_t)ROM_DESC_GPA));
	ck_assert_int_eq(mem_read(&m->s, ROM_DESC_GPA, d, 4), 0);
	return get_be32(d) == 0;      /* all bits clear: done, no ERROR */
}

/* pio_read: 32 KiB chunks by inb into the bounce buffer, moved as whole words (INT 15h/87h). */
static bool rom_pio_read(struct machine *m, uint16_t key, uint32_t dst, uint32_t len)
{
	uint8_t *chunk = malloc(FW_LB_BOUNCE_LEN);
	uint32_t n, i, words;
	bool ok = true;

	ck_assert_ptr_nonnull(chunk);
	port_out(m, FW_CFG_CTL_PORT, 2, key);
	while (len && ok) {
		n = len < FW_LB_BOUNCE_LEN ? len : FW_LB_BOUNCE_LEN;
		for (i = 0; i < n; i++)
			chunk[i] = (uint8_t)port_in(m, FW_CFG_CTL_PORT + 1, 1);
		ck_assert_int_eq(mem_write(&m->s, FW_LB_BOUNCE_GPA, chunk, n), 0);
		words = (n + 1) / 2;
		ck_assert_int_eq(mem_read(&m->s, FW_LB_BOUNCE_GPA, chunk, words * 2), 0);
		ok = mem_write(&m->s, dst, chunk, words * 2) == 0;
		dst += n;
		len -= n;
	}
	free(chunk);
	return ok;
}

struct rom_entry {
	bool dma;
	uint16_t seg;                 /* ds = es = fs = gs = ss; cs = seg + 0x20, ip = 0 */
	uint32_t sp;
};

/* The BEV: load the four items, check the layout and "HdrS", compute the entry. */
static bool rom_boot(struct machine *m, struct rom_entry *e)
{
	static const uint16_t items[][3] = {
		{ FW_CFG_SETUP_ADDR, FW_CFG_SETUP_SIZE, FW_CFG_SETUP_DATA },
		{ FW_CFG_KERNEL_ADDR, FW_CFG_KERNEL_SIZE, FW_CFG_KERNEL_DATA },
		{ FW_CFG_INITRD_ADDR, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA },
		{ FW_CFG_CMDLINE_ADDR, FW_CFG_CMDLINE_SIZE, FW_CFG_CMDLINE_DATA },
	};
	uint32_t setup, diff;
	uint8_t magic[4];
	unsigned i;

	e->dma = rom_cfg_read32(m, FW_CFG_ID) & FW_CFG_VERSION_DMA;
	for (i = 0; i < ARRAY_SIZE(items); i++) {
		uint32_t addr = rom_cfg_read32(m, items[i][0]);
		uint32_t size = rom_cfg_read32(m, items[i][1]);

		if (!size)
			continue;
		if (addr + size < addr)
			return false;
		if (!(e->dma ? rom_dma_read : rom_pio_read)(m, items[i][2], addr, size))
			return false;
	}
	setup = rom_cfg_read32(m, FW_CFG_SETUP_ADDR);
	diff = rom_cfg_read32(m, FW_CFG_CMDLINE_ADDR) - setup;
	if (diff <= 0x10 || diff > 0x10000 || (setup & 0xF) || setup > 0x90000)
		return false;
	ck_assert_int_eq(mem_read(&m->s, setup + 0x202, magic, 4), 0);
	if (memcmp(magic, "HdrS", 4))
		return false;
	e->seg = (uint16_t)(setup >> 4);
	e->sp = diff - 16;
	return true;
}

static void check_rom_boot(bool dma)
{
	struct machine *m = machine_new(256 * MiB, dma);
	size_t klen, ilen = 2 * FW_LB_BOUNCE_LEN + 4465;  /* three chunks, odd length */
	uint8_t *k = make_bzimage(100 * KiB + 48, &klen);
	uint8_t *ird = make_initrd(ilen), *buf = malloc(klen + ilen);
	const char *cmd = "console=ttyS0 init=/init quiet";
	const uint8_t *setup;
	struct rom_entry e;
	uint32_t len, initrd_gpa;
	char err[200];

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fw_linuxboot_setup(&m->fw, &m->l, k, klen, ird, ilen, cmd, err,
					    sizeof(err)), 0);
	ck_assert(rom_boot(m, &e));
	ck_assert(e.dma == dma);
	ck_assert_uint_eq(e.seg, 0x1000);
	ck_assert_uint_eq(e.sp, 0xFFF0);

	setup = item(&m->fw, FW_CFG_SETUP_DATA, &len);
	ck_assert_int_eq(mem_read(&m->s, FW_LB_SETUP_GPA, buf, len), 0);
	ck_assert_int_eq(memcmp(buf, setup, len), 0);
	ck_assert_uint_eq(get32(buf + 0x228), FW_LB_CMDLINE_GPA);
	ck_assert_int_eq(mem_read(&m->s, FW_LB_KERNEL_GPA, buf, klen - PM_OFF), 0);
	ck_assert_int_eq(memcmp(buf, k + PM_OFF, klen - PM_OFF), 0);
	initrd_gpa = get32(setup + 0x218);
	ck_assert_uint_eq(initrd_gpa, item32(&m->fw, FW_CFG_INITRD_ADDR));
	ck_assert_int_eq(mem_read(&m->s, initrd_gpa, buf, ilen), 0);
	ck_assert_int_eq(memcmp(buf, ird, ilen), 0);
	ck_assert_int_eq(mem_read(&m->s, FW_LB_CMDLINE_GPA, buf, strlen(cmd) + 1), 0);
	ck_assert_str_eq((const char *)buf, cmd);
	/* the stack top and the command line stay apart, inside the setup segment */
	ck_assert_uint_lt((uint64_t)e.seg * 16 + e.sp, FW_LB_CMDLINE_GPA);
	ck_assert_uint_ge((uint64_t)e.seg * 16 + e.sp, FW_LB_SETUP_GPA + len);
	ck_assert_uint_eq(m->fw.dma_errors, 0);

	free(buf);
	free(k);
	free(ird);
	machine_free(m);
}

START_TEST(test_rom_model_dma)
{
	check_rom_boot(true);
}
END_TEST

START_TEST(test_rom_model_data_port)
{
	check_rom_boot(false);
}
END_TEST

/* ---- suite ---------------------------------------------------------------------- */

static Suite *linuxboot_suite(void)
{
	Suite *s = suite_create("linuxboot");
	TCase *t = tcase_create("rom");

	tcase_add_test(t, test_rom_header);
	tcase_add_test(t, test_rom_pnp_bev);
	tcase_add_test(t, test_rom_ports);
	suite_add_tcase(s, t);
	t = tcase_create("setup");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_setup_items);
	tcase_add_test(t, test_setup_no_initrd_no_cmdline);
	tcase_add_test(t, test_setup_sects_zero_and_fixed_kernel);
	tcase_add_test(t, test_initrd_addr_max);
	tcase_add_test(t, test_refuse_not_bzimage);
	tcase_add_test(t, test_refuse_too_big);
	tcase_add_test(t, test_refuse_bad_args);
	tcase_add_test(t, test_duplicate_add);
	tcase_add_test(t, test_real_kernel);
	suite_add_tcase(s, t);
	t = tcase_create("rom model");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_rom_model_dma);
	tcase_add_test(t, test_rom_model_data_port);
	suite_add_tcase(s, t);
	return s;
}

UNIT_MAIN(linuxboot_suite);
