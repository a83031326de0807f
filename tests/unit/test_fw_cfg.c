/*
 * tests/unit/test_fw_cfg.c - the fw_cfg device: the traditional ports
 * (signature, ID, reads past the end, the file directory), the DMA
 * interface (read/skip/select/write, and every bad guest request: non-RAM
 * targets and structs, wrapping addresses, a 4 GiB - 1 length, read-only
 * items and ROM), all through iobus_dispatch at 0x510/0x511/0x514/0x518.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "devices/iobus.h"
#include "memory/memory.h"
#include "tests/unit/unit.h"

#define RAM_SIZE   (1 * MiB)          /* RAM at gpa 0 */
#define ROM_GPA    (2 * MiB)          /* read-only RAM: ROM */
#define ROM_SIZE   (64 * KiB)
#define HIGH_GPA   (4 * GiB)          /* RAM above 4 GiB, for the high DMA half */
#define HIGH_SIZE  (64 * KiB)
#define FILL       0xAA
#define ROM_FILL   0x5C

#define DESC       0x1000             /* default FWCfgDmaAccess location */
#define BUF        0x2000             /* default DMA target */
#define SELREAD    (FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ)

struct fx {
	struct mem_space s;
	struct mem_backend *ram, *rom, *high;
	struct mem_region ram_r, rom_r, high_r;
	struct iobus bus;
	struct fw_cfg fw;
};

static struct fx *fx_new_dma(bool dma)
{
	struct fx *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mem_space_init(&f->s, "fwcfg"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ram, "ram", RAM_SIZE), 0);
	ck_assert_int_eq(mem_backend_create(&f->rom, "rom", ROM_SIZE), 0);
	ck_assert_int_eq(mem_backend_create(&f->high, "high", HIGH_SIZE), 0);
	memset(f->ram->host, FILL, RAM_SIZE);
	memset(f->rom->host, ROM_FILL, ROM_SIZE);
	memset(f->high->host, FILL, HIGH_SIZE);
	mem_region_init_ram(&f->ram_r, "ram", f->ram, 0, RAM_SIZE);
	mem_region_init_ram(&f->rom_r, "rom", f->rom, 0, ROM_SIZE);
	f->rom_r.readonly = true;
	mem_region_init_ram(&f->high_r, "high", f->high, 0, HIGH_SIZE);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->ram_r, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->rom_r, ROM_GPA, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->high_r, HIGH_GPA, 0), 0);
	ck_assert_int_eq(iobus_init(&f->bus), 0);
	ck_assert_int_eq(fw_cfg_init(&f->fw, dma ? &f->s : NULL), 0);
	ck_assert_int_eq(fw_cfg_register(&f->fw, &f->bus), 0);
	return f;
}

static struct fx *fx_new(void)
{
	return fx_new_dma(true);
}

static void fx_free(struct fx *f)
{
	fw_cfg_destroy(&f->fw);
	iobus_destroy(&f->bus);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ram);
	mem_backend_destroy(f->rom);
	mem_backend_destroy(f->high);
	free(f);
}

static uint64_t pin(struct fx *f, uint16_t port, unsigned size)
{
	uint64_t v = 0;

	(void)iobus_dispatch(&f->bus, port, size, false, &v);
	return v;
}

static int pout(struct fx *f, uint16_t port, unsigned size, uint64_t v)
{
	return iobus_dispatch(&f->bus, port, size, true, &v);
}

static void sel(struct fx *f, uint16_t key)
{
	ck_assert_int_eq(pout(f, FW_CFG_CTL_PORT, 2, key), 0);
}

static void data(struct fx *f, uint8_t *buf, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)pin(f, FW_CFG_CTL_PORT + 1, 1);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Host pointer of guest RAM at @gpa (low RAM or the high block). */
static uint8_t *hva(struct fx *f, uint64_t gpa)
{
	if (gpa >= HIGH_GPA)
		return f->high->host + (gpa - HIGH_GPA);
	return f->ram->host + gpa;
}

static void put_desc(struct fx *f, uint64_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t *p = hva(f, desc);

	put_be32(p, control);
	put_be32(p + 4, len);
	put_be32(p + 8, (uint32_t)(addr >> 32));
	put_be32(p + 12, (uint32_t)addr);
}

/* Trigger a transfer with a 32-bit struct address, as SeaBIOS does (one BE write to 0x518). */
static void kick32(struct fx *f, uint32_t desc)
{
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 4, 4, __builtin_bswap32(desc)), 0);
}

/* Build a struct at DESC, run it, return the control word written back. */
static uint32_t dma(struct fx *f, uint32_t control, uint32_t len, uint64_t addr)
{
	put_desc(f, DESC, control, len, addr);
	kick32(f, DESC);
	return be32(hva(f, DESC));
}

static bool all_bytes(const uint8_t *p, uint8_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* ---- traditional interface ------------------------------------------------- */

START_TEST(test_signature_data_port)
{
	struct fx *f = fx_new();
	uint8_t b[8];

	/* Power-on state selects the signature, like QEMU after reset. */
	data(f, b, 4);
	ck_assert_mem_eq(b, "QEMU", 4);
	sel(f, FW_CFG_SIGNATURE);
	data(f, b, 8);
	ck_assert_mem_eq(b, "QEMU\0\0\0\0", 8);
	/* Reselecting rewinds. */
	sel(f, FW_CFG_SIGNATURE);
	data(f, b, 2);
	ck_assert_mem_eq(b, "QE", 2);
	fw_cfg_reset(&f->fw);
	data(f, b, 4);
	ck_assert_mem_eq(b, "QEMU", 4);
	fx_free(f);
}
END_TEST

START_TEST(test_id_bits)
{
	struct fx *f = fx_new();
	struct fx *g = fx_new_dma(false);
	uint8_t b[4];

	sel(f, FW_CFG_ID);
	data(f, b, 4);
	ck_assert_mem_eq(b, "\x03\0\0\0", 4);
	sel(g, FW_CFG_ID);
	data(g, b, 4);
	ck_assert_mem_eq(b, "\x01\0\0\0", 4);
	/* Without DMA nobody claims 0x514: all-ones, writes dropped. */
	ck_assert_uint_eq(pin(g, FW_CFG_DMA_PORT, 4), 0xffffffffu);
	ck_assert_int_eq(pout(g, FW_CFG_DMA_PORT + 4, 4, 0), -ENOENT);
	fx_free(f);
	fx_free(g);
}
END_TEST

START_TEST(test_integers_le)
{
	struct fx *f = fx_new();
	const uint8_t *p;
	uint32_t len;
	uint8_t b[8];

	ck_assert_int_eq(fw_cfg_add_i16(&f->fw, FW_CFG_NOGRAPHIC, 0x1234), 0);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_NB_CPUS, 0x89abcdef), 0);
	ck_assert_int_eq(fw_cfg_add_i64(&f->fw, FW_CFG_RAM_SIZE, 0x0102030405060708ULL), 0);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_E820_TABLE, 7), 0);

	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_NOGRAPHIC, &p, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(p, "\x34\x12", 2);
	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_NB_CPUS, &p, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(p, "\xef\xcd\xab\x89", 4);
	sel(f, FW_CFG_RAM_SIZE);
	data(f, b, 8);
	ck_assert_mem_eq(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	sel(f, FW_CFG_E820_TABLE);
	data(f, b, 4);
	ck_assert_mem_eq(b, "\x07\0\0\0", 4);

	/* Key rules. */
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_NB_CPUS, 1), -EEXIST);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_SIGNATURE, 1), -EEXIST);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_ID, 1), -EEXIST);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_FILE_DIR, 1), -EEXIST);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_FILE_FIRST, 1), -EINVAL);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, 0x4005, 1), -EINVAL);
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_INVALID, 1), -EINVAL);
	ck_assert_int_eq(fw_cfg_add_bytes(&f->fw, FW_CFG_UUID, NULL, 16), -EINVAL);
	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_UUID, &p, &len), -ENOENT);
	/* Empty items are fine and read as nothing. */
	ck_assert_int_eq(fw_cfg_add_bytes(&f->fw, FW_CFG_UUID, NULL, 0), 0);
	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_UUID, &p, &len), 0);
	ck_assert_uint_eq(len, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_read_past_end)
{
	struct fx *f = fx_new();
	uint8_t b[6];

	ck_assert_int_eq(fw_cfg_add_i16(&f->fw, FW_CFG_BOOT_MENU, 0xBEEF), 0);
	sel(f, FW_CFG_BOOT_MENU);
	data(f, b, 6);
	ck_assert_mem_eq(b, "\xef\xbe\0\0\0\0", 6);
	/* An unknown key, FW_CFG_INVALID and an empty item read as zeros. */
	sel(f, 0x1e);
	data(f, b, 3);
	ck_assert_mem_eq(b, "\0\0\0", 3);
	sel(f, FW_CFG_INVALID);
	data(f, b, 3);
	ck_assert_mem_eq(b, "\0\0\0", 3);
	/* Bit 14 (the old write channel) selects the same item. */
	sel(f, 0x4000 | FW_CFG_BOOT_MENU);
	data(f, b, 2);
	ck_assert_mem_eq(b, "\xef\xbe", 2);
	fx_free(f);
}
END_TEST

START_TEST(test_port_widths)
{
	struct fx *f = fx_new();
	uint8_t b[4];

	sel(f, FW_CFG_SIGNATURE);
	data(f, b, 1);
	/* An 8-bit write to the selector is refused and changes nothing. */
	ck_assert_int_eq(pout(f, FW_CFG_CTL_PORT, 1, FW_CFG_ID), -EINVAL);
	data(f, b + 1, 1);
	ck_assert_mem_eq(b, "QE", 2);
	/* The selector is write-only; the data port is 8-bit. */
	ck_assert_uint_eq(pin(f, FW_CFG_CTL_PORT, 1), 0xff);
	ck_assert_uint_eq(pin(f, FW_CFG_CTL_PORT, 2), 0xffff);
	ck_assert_uint_eq(pin(f, FW_CFG_CTL_PORT + 1, 2), 0xffff);
	ck_assert_int_eq(pout(f, FW_CFG_CTL_PORT, 4, 0), -EINVAL);
	ck_assert_int_eq(pout(f, FW_CFG_CTL_PORT + 1, 2, 0), -EINVAL);
	/* 8-bit data writes are ignored (QEMU >= 2.4). */
	ck_assert_int_eq(pout(f, FW_CFG_CTL_PORT + 1, 1, 'X'), 0);
	data(f, b + 2, 2);
	ck_assert_mem_eq(b, "QEMU", 4);
	/* None of the refused accesses moved the offset. */
	fx_free(f);
}
END_TEST

START_TEST(test_file_dir)
{
	struct fx *f = fx_new();
	static const char *names[] = { "zeta", "etc/mid", "alpha", "etc/acpi/tables" };
	static const uint32_t sizes[] = { 3, 1, 0, 7 };
	static const uint8_t blob[8] = "1234567";
	uint8_t d[4 + 4 * 64];
	const uint8_t *p;
	uint16_t key;
	uint32_t len;
	unsigned i;

	/* Empty directory at init: count 0. */
	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_FILE_DIR, &p, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(be32(p), 0);

	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(fw_cfg_add_file(&f->fw, names[i], blob, sizes[i], 0, &key), 0);
		ck_assert_uint_eq(key, FW_CFG_FILE_FIRST + i); /* keys in add order, stable */
	}
	sel(f, FW_CFG_FILE_DIR);
	data(f, d, sizeof(d));
	ck_assert_uint_eq(be32(d), 4);
	{
		/* Sorted by name: alpha, etc/acpi/tables, etc/mid, zeta. */
		static const unsigned order[] = { 2, 3, 1, 0 };

		for (i = 0; i < 4; i++) {
			const uint8_t *e = d + 4 + i * 64;
			unsigned k = order[i];

			ck_assert_uint_eq(be32(e), sizes[k]);
			ck_assert_uint_eq(be16(e + 4), FW_CFG_FILE_FIRST + k);
			ck_assert_uint_eq(be16(e + 6), 0);
			ck_assert_str_eq((const char *)e + 8, names[k]);
			ck_assert(all_bytes(e + 8 + strlen(names[k]), 0, 56 - strlen(names[k])));
		}
	}
	/* The file itself through the data port. */
	sel(f, FW_CFG_FILE_FIRST + 3);
	data(f, d, 8);
	ck_assert_mem_eq(d, "1234567\0", 8);
	fx_free(f);
}
END_TEST

START_TEST(test_file_refusals)
{
	struct fx *f = fx_new();
	char name[80];
	const uint8_t *p;
	uint32_t len;
	unsigned i;

	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/a", "x", 1, 0, NULL), 0);
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/a", "y", 1, 0, NULL), -EEXIST);
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "", "y", 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, NULL, "y", 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/b", NULL, 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/b", "y", 1, 0x80, NULL), -EINVAL);
	/* 56 characters leave no room for the NUL; 55 do. */
	memset(name, 'n', sizeof(name));
	name[56] = '\0';
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, name, "y", 1, 0, NULL), -ENAMETOOLONG);
	name[79] = '\0';
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, name, "y", 1, 0, NULL), -ENAMETOOLONG);
	name[55] = '\0';
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, name, "y", 1, 0, NULL), 0);
	/* Refusals left the directory alone: two files. */
	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_FILE_DIR, &p, &len), 0);
	ck_assert_uint_eq(be32(p), 2);
	ck_assert_uint_eq(len, 4 + 2 * 64);
	/* Fill every slot, then one more. */
	for (i = 2; i < FW_CFG_FILE_SLOTS; i++) {
		snprintf(name, sizeof(name), "opt/f%u", i);
		ck_assert_int_eq(fw_cfg_add_file(&f->fw, name, "z", 1, 0, NULL), 0);
	}
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "opt/last", "z", 1, 0, NULL), -ENOSPC);
	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_FILE_DIR, &p, &len), 0);
	ck_assert_uint_eq(be32(p), FW_CFG_FILE_SLOTS);
	/* Fixed keys still fit after all file slots are used. */
	ck_assert_int_eq(fw_cfg_add_i32(&f->fw, FW_CFG_HPET, 1), 0);
	fx_free(f);
}
END_TEST

/* ---- DMA ports --------------------------------------------------------------- */

START_TEST(test_dma_signature_port)
{
	struct fx *f = fx_new();
	uint64_t v = pin(f, FW_CFG_DMA_PORT, 8);

	/* Address order "QEMU CFG": be64_to_cpu of the port value is the signature. */
	ck_assert_uint_eq(__builtin_bswap64(v), FW_CFG_DMA_SIGNATURE);
	ck_assert_mem_eq(&v, "QEMU CFG", 8);
	ck_assert_uint_eq(__builtin_bswap32((uint32_t)pin(f, FW_CFG_DMA_PORT, 4)), 0x51454d55);
	ck_assert_uint_eq(__builtin_bswap32((uint32_t)pin(f, FW_CFG_DMA_PORT + 4, 4)), 0x20434647);
	ck_assert_uint_eq(pin(f, FW_CFG_DMA_PORT, 1), 'Q');
	ck_assert_uint_eq(pin(f, FW_CFG_DMA_PORT + 7, 1), 'G');
	/* A read running past 0x51B is refused by the bus. */
	ck_assert_uint_eq(pin(f, FW_CFG_DMA_PORT + 6, 4), 0xffffffffu);
	fx_free(f);
}
END_TEST

START_TEST(test_dma_read)
{
	struct fx *f = fx_new();
	uint8_t *buf = hva(f, BUF);

	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/blob", "abcdef", 6, 0, NULL), 0);
	/* SELECT + READ of 10 bytes: 6 item bytes, then zeros; nothing after. */
	ck_assert_uint_eq(dma(f, FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT |
			      FW_CFG_DMA_CTL_READ, 10, BUF), 0);
	ck_assert_mem_eq(buf, "abcdef\0\0\0\0", 10);
	ck_assert_uint_eq(buf[10], FILL);
	ck_assert_uint_eq(buf[-1], FILL);
	ck_assert_uint_eq(f->fw.dma_errors, 0);
	/* The DMA address register reads 0 again ... and the signature still reads. */
	ck_assert_uint_eq(f->fw.dma_addr, 0);

	/* READ wins over WRITE and SKIP. */
	memset(buf, FILL, 16);
	ck_assert_uint_eq(dma(f, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT |
			      FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_WRITE | FW_CFG_DMA_CTL_SKIP,
			      4, BUF), 0);
	ck_assert_mem_eq(buf, "QEMU", 4);
	ck_assert_uint_eq(buf[4], FILL);

	/* Length 0 and no operation: success, nothing written. */
	memset(buf, FILL, 16);
	ck_assert_uint_eq(dma(f, FW_CFG_DMA_CTL_READ, 0, BUF), 0);
	ck_assert_uint_eq(dma(f, 0, 16, BUF), 0);
	ck_assert(all_bytes(buf, FILL, 16));
	fx_free(f);
}
END_TEST

START_TEST(test_dma_skip_select)
{
	struct fx *f = fx_new();
	uint8_t *buf = hva(f, BUF);
	uint8_t b[4];

	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/blob", "0123456789", 10, 0, NULL), 0);
	/* SELECT alone selects (offset 0) for the data port. */
	ck_assert_uint_eq(dma(f, FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT, 0, 0), 0);
	data(f, b, 2);
	ck_assert_mem_eq(b, "01", 2);
	/* SKIP advances the shared offset; the data port continues after it. */
	ck_assert_uint_eq(dma(f, FW_CFG_DMA_CTL_SKIP, 3, 0), 0);
	data(f, b, 2);
	ck_assert_mem_eq(b, "56", 2);
	/* DMA READ continues from the offset too, without SELECT. */
	ck_assert_uint_eq(dma(f, FW_CFG_DMA_CTL_READ, 2, BUF), 0);
	ck_assert_mem_eq(buf, "78", 2);
	/* SELECT + SKIP a huge length: offset parks at the end, reads give zeros. */
	ck_assert_uint_eq(dma(f, FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT |
			      FW_CFG_DMA_CTL_SKIP, 0xFFFFFFFFu, 0xFFFFFFFFFFFFFFF0ULL), 0);
	data(f, b, 2);
	ck_assert_mem_eq(b, "\0\0", 2);
	ck_assert_uint_eq(f->fw.dma_errors, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_dma_write)
{
	struct fx *f = fx_new();
	uint8_t *buf = hva(f, BUF);
	const uint8_t *p;
	uint16_t rw, ro;
	uint32_t len;

	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/rw", "........", 8, FW_CFG_F_WRITABLE, &rw), 0);
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/ro", "--------", 8, 0, &ro), 0);
	memcpy(buf, "WXYZ", 4);

	/* SELECT, SKIP 2, WRITE 4: lands at offset 2. */
	ck_assert_uint_eq(dma(f, (uint32_t)rw << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP,
			      2, 0), 0);
	ck_assert_uint_eq(dma(f, FW_CFG_DMA_CTL_WRITE, 4, BUF), 0);
	ck_assert_int_eq(fw_cfg_get(&f->fw, rw, &p, &len), 0);
	ck_assert_uint_eq(len, 8);
	ck_assert_mem_eq(p, "..WXYZ..", 8);
	ck_assert_uint_eq(f->fw.dma_errors, 0);

	/* Running past the end (offset 6 + 4 > 8): ERROR, dropped whole. */
	ck_assert_uint_eq(dma(f, FW_CFG_DMA_CTL_WRITE, 4, BUF), FW_CFG_DMA_CTL_ERROR);
	ck_assert_mem_eq(p, "..WXYZ..", 8);
	ck_assert_uint_eq(f->fw.dma_errors, 1);
	/* A write starting at the end. */
	ck_assert_uint_eq(dma(f, (uint32_t)rw << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP,
			      8, 0), 0);
	ck_assert_uint_eq(dma(f, FW_CFG_DMA_CTL_WRITE, 1, BUF), FW_CFG_DMA_CTL_ERROR);
	/* A huge length. */
	ck_assert_uint_eq(dma(f, (uint32_t)rw << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
			      0xFFFFFFFFu, BUF), FW_CFG_DMA_CTL_ERROR);
	ck_assert_mem_eq(p, "..WXYZ..", 8);
	/* A source outside RAM: ERROR, item unchanged. */
	ck_assert_uint_eq(dma(f, (uint32_t)rw << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
			      8, RAM_SIZE - 4), FW_CFG_DMA_CTL_ERROR);
	ck_assert_mem_eq(p, "..WXYZ..", 8);
	/* A read-only file, a fixed key, the directory, an unknown key. */
	ck_assert_uint_eq(dma(f, (uint32_t)ro << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
			      4, BUF), FW_CFG_DMA_CTL_ERROR);
	ck_assert_int_eq(fw_cfg_get(&f->fw, ro, &p, &len), 0);
	ck_assert_mem_eq(p, "--------", 8);
	ck_assert_uint_eq(dma(f, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
			      4, BUF), FW_CFG_DMA_CTL_ERROR);
	ck_assert_uint_eq(dma(f, FW_CFG_FILE_DIR << 16 | FW_CFG_DMA_CTL_SELECT |
			      FW_CFG_DMA_CTL_WRITE, 4, BUF), FW_CFG_DMA_CTL_ERROR);
	ck_assert_uint_eq(dma(f, 0x3f << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
			      4, BUF), FW_CFG_DMA_CTL_ERROR);
	ck_assert_int_eq(fw_cfg_get(&f->fw, FW_CFG_ID, &p, &len), 0);
	ck_assert_mem_eq(p, "\x03\0\0\0", 4);
	ck_assert_uint_eq(f->fw.dma_errors, 8);
	/* A whole-item write from RAM above 4 GiB. */
	memcpy(hva(f, HIGH_GPA + 0x100), "ABCDEFGH", 8);
	ck_assert_uint_eq(dma(f, (uint32_t)rw << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
			      8, HIGH_GPA + 0x100), 0);
	ck_assert_int_eq(fw_cfg_get(&f->fw, rw, &p, &len), 0);
	ck_assert_mem_eq(p, "ABCDEFGH", 8);
	fx_free(f);
}
END_TEST

START_TEST(test_dma_bad_targets)
{
	struct fx *f = fx_new();
	uint64_t errs = 0;

	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/blob", "abcdefgh", 8, 0, NULL), 0);
	/* A target in the hole above RAM. */
	ck_assert_uint_eq(dma(f, SELREAD, 8, RAM_SIZE + 0x1000), FW_CFG_DMA_CTL_ERROR);
	ck_assert_uint_eq(f->fw.dma_errors, ++errs);
	/* Straddling the end of RAM: nothing lands in the RAM part either. */
	ck_assert_uint_eq(dma(f, SELREAD, 8, RAM_SIZE - 4), FW_CFG_DMA_CTL_ERROR);
	ck_assert(all_bytes(hva(f, RAM_SIZE - 4), FILL, 4));
	ck_assert_uint_eq(f->fw.dma_errors, ++errs);
	/* ROM (read-only RAM) is not a DMA target. */
	ck_assert_uint_eq(dma(f, SELREAD, 8, ROM_GPA), FW_CFG_DMA_CTL_ERROR);
	ck_assert(all_bytes(f->rom->host, ROM_FILL, 16));
	ck_assert_uint_eq(f->fw.dma_errors, ++errs);
	/* An address + length that wraps past 2^64. */
	ck_assert_uint_eq(dma(f, SELREAD, 0x20, 0xFFFFFFFFFFFFFFF0ULL), FW_CFG_DMA_CTL_ERROR);
	ck_assert_uint_eq(f->fw.dma_errors, ++errs);
	ck_assert_uint_eq(dma(f, SELREAD, 0xFFFFFFFFu, 0xFFFFFFFF00000002ULL),
			  FW_CFG_DMA_CTL_ERROR);
	ck_assert_uint_eq(f->fw.dma_errors, ++errs);
	/* Zero-fill past the item straight into the hole. */
	ck_assert_uint_eq(dma(f, SELREAD, 0x2000, RAM_SIZE - 0x1000), FW_CFG_DMA_CTL_ERROR);
	ck_assert_uint_eq(f->fw.dma_errors, ++errs);
	/* Nothing else in guest RAM changed (besides the struct). */
	ck_assert(all_bytes(hva(f, 0), FILL, DESC));
	ck_assert(all_bytes(hva(f, DESC + 16), FILL, RAM_SIZE - 0x1000 - DESC - 16));
	fx_free(f);
}
END_TEST

START_TEST(test_dma_huge_length)
{
	struct fx *f = fx_new();
	const uint64_t tgt = 0xF0000;

	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "etc/blob", "abcdefgh", 8, 0, NULL), 0);
	/* 4 GiB - 1 into 1 MiB of RAM: item bytes, zeros to the end of RAM, then ERROR. */
	ck_assert_uint_eq(dma(f, SELREAD, 0xFFFFFFFFu, tgt), FW_CFG_DMA_CTL_ERROR);
	ck_assert_mem_eq(hva(f, tgt), "abcdefgh", 8);
	ck_assert(all_bytes(hva(f, tgt + 8), 0, RAM_SIZE - tgt - 8));
	ck_assert(all_bytes(hva(f, DESC + 16), FILL, tgt - DESC - 16));
	ck_assert(all_bytes(f->rom->host, ROM_FILL, ROM_SIZE));
	ck_assert(all_bytes(f->high->host, FILL, HIGH_SIZE));
	ck_assert_uint_eq(f->fw.dma_errors, 1);
	fx_free(f);
}
END_TEST

START_TEST(test_dma_bad_struct)
{
	struct fx *f = fx_new();
	uint8_t *rom_desc = f->rom->host + 0x100;
	uint8_t tail[16];

	/* The struct in the hole, straddling the end of RAM, wrapping, in ROM: ignored. */
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 4, 4, __builtin_bswap32(RAM_SIZE + 0x100)), 0);
	ck_assert_uint_eq(f->fw.dma_errors, 1);
	put_desc(f, RAM_SIZE - 16, FW_CFG_DMA_CTL_READ, 4, BUF);
	memcpy(tail, hva(f, RAM_SIZE - 16), sizeof(tail));
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 4, 4, __builtin_bswap32(RAM_SIZE - 8)), 0);
	ck_assert_uint_eq(f->fw.dma_errors, 2);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT, 8, __builtin_bswap64(0xFFFFFFFFFFFFFFF8ULL)), 0);
	ck_assert_uint_eq(f->fw.dma_errors, 3);
	put_be32(rom_desc, FW_CFG_DMA_CTL_READ);
	put_be32(rom_desc + 4, 4);
	put_be32(rom_desc + 8, 0);
	put_be32(rom_desc + 12, BUF);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 4, 4, __builtin_bswap32(ROM_GPA + 0x100)), 0);
	ck_assert_uint_eq(f->fw.dma_errors, 4);
	ck_assert_uint_eq(be32(rom_desc), FW_CFG_DMA_CTL_READ); /* not written back */
	ck_assert(all_bytes(hva(f, 0), FILL, RAM_SIZE - 16));
	ck_assert_mem_eq(hva(f, RAM_SIZE - 16), tail, sizeof(tail)); /* only what the test put */
	/* Unaligned structs are fine, as in QEMU. */
	put_desc(f, DESC + 3, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, BUF);
	kick32(f, DESC + 3);
	ck_assert_uint_eq(be32(hva(f, DESC + 3)), 0);
	ck_assert_mem_eq(hva(f, BUF), "QEMU", 4);
	ck_assert_uint_eq(f->fw.dma_errors, 4);
	fx_free(f);
}
END_TEST

START_TEST(test_dma_port_writes)
{
	struct fx *f = fx_new();
	const uint64_t desc = HIGH_GPA + 0x800;

	/* The struct above 4 GiB, target in low RAM: two 32-bit BE writes, high first. */
	put_desc(f, desc, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, BUF);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT, 4, __builtin_bswap32((uint32_t)(desc >> 32))), 0);
	ck_assert_uint_eq(f->fw.dma_addr, desc & ~0xffffffffULL);
	ck_assert_uint_eq(be32(hva(f, desc)), FW_CFG_ID << 16 | 0x0a); /* not started yet */
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 4, 4, __builtin_bswap32((uint32_t)desc)), 0);
	ck_assert_uint_eq(be32(hva(f, desc)), 0);
	ck_assert_mem_eq(hva(f, BUF), "\x03\0\0\0", 4);
	/* The register is 0 after the operation: a low-only write targets low RAM. */
	ck_assert_uint_eq(f->fw.dma_addr, 0);
	put_desc(f, 0x800, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
		 4, BUF);
	kick32(f, 0x800);
	ck_assert_uint_eq(be32(hva(f, 0x800)), 0);
	ck_assert_mem_eq(hva(f, BUF), "QEMU", 4);
	/* One 64-bit BE write does both halves. */
	memset(hva(f, BUF), FILL, 4);
	put_desc(f, desc, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 2, BUF);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT, 8, __builtin_bswap64(desc)), 0);
	ck_assert_uint_eq(be32(hva(f, desc)), 0);
	ck_assert_mem_eq(hva(f, BUF), "\x03\0\xaa\xaa", 4);
	/* Other widths/offsets are refused and start nothing. */
	put_desc(f, DESC, FW_CFG_DMA_CTL_READ, 4, BUF);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 4, 2, 0), -EINVAL);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 7, 1, 0), -EINVAL);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 2, 4, 0), -EINVAL);
	ck_assert_int_eq(pout(f, FW_CFG_DMA_PORT + 4, 8, 0), -EINVAL); /* runs past 0x51B */
	ck_assert_uint_eq(be32(hva(f, DESC)), FW_CFG_DMA_CTL_READ);
	ck_assert_uint_eq(f->fw.dma_errors, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_register)
{
	struct fx *f = fx_new();
	struct fw_cfg other;

	/* The ports are taken: a second device cannot claim them. */
	ck_assert_int_eq(fw_cfg_init(&other, &f->s), 0);
	ck_assert_int_eq(fw_cfg_register(&other, &f->bus), -EEXIST);
	fw_cfg_destroy(&other);
	/* 0x512/0x513 stay unclaimed. */
	ck_assert_uint_eq(pin(f, 0x512, 1), 0xff);
	ck_assert_int_eq(pout(f, 0x513, 1, 0), -ENOENT);
	/* destroy is safe twice and on a zeroed struct. */
	fw_cfg_destroy(&other);
	memset(&other, 0, sizeof(other));
	fw_cfg_destroy(&other);
	fx_free(f);
}
END_TEST

/* Two vCPUs reading different items by DMA at once: SELECT+READ is atomic. */
struct racer {
	struct fx *f;
	uint32_t desc, buf;
	uint16_t key;
	const char *want;
	unsigned bad;
};

static void *race_fn(void *opaque)
{
	struct racer *r = opaque;
	unsigned i;

	for (i = 0; i < 2000; i++) {
		put_desc(r->f, r->desc, (uint32_t)r->key << 16 | FW_CFG_DMA_CTL_SELECT |
			 FW_CFG_DMA_CTL_READ, 8, r->buf);
		(void)pout(r->f, FW_CFG_DMA_PORT + 4, 4, __builtin_bswap32(r->desc));
		if (be32(hva(r->f, r->desc)) != 0 || memcmp(hva(r->f, r->buf), r->want, 8))
			r->bad++;
		memset(hva(r->f, r->buf), 0, 8);
	}
	return NULL;
}

START_TEST(test_dma_threads)
{
	struct fx *f = fx_new();
	struct racer r[2] = {
		{ f, 0x3000, 0x4000, FW_CFG_FILE_FIRST, "11111111", 0 },
		{ f, 0x5000, 0x6000, FW_CFG_FILE_FIRST + 1, "22222222", 0 },
	};
	pthread_t t[2];
	unsigned i;

	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "a", "11111111", 8, 0, NULL), 0);
	ck_assert_int_eq(fw_cfg_add_file(&f->fw, "b", "22222222", 8, 0, NULL), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race_fn, &r[i]), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_uint_eq(r[0].bad, 0);
	ck_assert_uint_eq(r[1].bad, 0);
	ck_assert_uint_eq(f->fw.dma_errors, 0);
	fx_free(f);
}
END_TEST

Suite *fw_cfg_suite(void);
Suite *fw_cfg_suite(void)
{
	Suite *s = suite_create("fw_cfg");
	TCase *tc = tcase_create("fw_cfg");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_signature_data_port);
	tcase_add_test(tc, test_id_bits);
	tcase_add_test(tc, test_integers_le);
	tcase_add_test(tc, test_read_past_end);
	tcase_add_test(tc, test_port_widths);
	tcase_add_test(tc, test_file_dir);
	tcase_add_test(tc, test_file_refusals);
	tcase_add_test(tc, test_dma_signature_port);
	tcase_add_test(tc, test_dma_read);
	tcase_add_test(tc, test_dma_skip_select);
	tcase_add_test(tc, test_dma_write);
	tcase_add_test(tc, test_dma_bad_targets);
	tcase_add_test(tc, test_dma_huge_length);
	tcase_add_test(tc, test_dma_bad_struct);
	tcase_add_test(tc, test_dma_port_writes);
	tcase_add_test(tc, test_register);
	tcase_add_test(tc, test_dma_threads);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(fw_cfg_suite);
