/*
 * tests/unit/test_q35.c - the Q35 host bridge: IDs and read-only registers
 * through configuration mechanism #1, PAM/SMRAM decoding into memory/pc,
 * PCIEXBAR, the reset-control byte at 0xCF9 sharing the address dword, and
 * absent devices / bad accesses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/debugport.h"
#include "devices/iobus.h"
#include "devices/q35.h"
#include "memory/memory.h"
#include "memory/pc.h"
#include "tests/unit/unit.h"

#define RAM_SIZE  (64 * MiB)
#define BIOS_SIZE (256 * KiB)
#define DRAM_BYTE 0xD7
#define ROM_BYTE  0xB5

struct fx {
	struct mem_space s;
	struct mem_backend *ram, *bios;
	struct pc_mem pc;
	struct iobus bus;
	struct debugport dbg;
	struct q35_host h;
	unsigned resets;
	unsigned bar_calls;
	bool bar_en;
	uint64_t bar_base, bar_size;
};

static void on_reset(void *opaque)
{
	struct fx *f = opaque;

	f->resets++;
}

static void on_bar(void *opaque, bool en, uint64_t base, uint64_t size)
{
	struct fx *f = opaque;

	f->bar_calls++;
	f->bar_en = en;
	f->bar_base = base;
	f->bar_size = size;
}

static struct fx *fx_new(void)
{
	struct pc_layout_cfg c = { .ram_size = RAM_SIZE, .phys_bits = 40,
				   .amd_hole = PC_AMD_HOLE_OFF };
	struct pc_layout l;
	struct fx *f = calloc(1, sizeof(*f));
	char err[160];

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(pc_layout_compute(&c, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(mem_space_init(&f->s, "q35"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ram, "ram", RAM_SIZE), 0);
	ck_assert_int_eq(mem_backend_create(&f->bios, "bios", BIOS_SIZE), 0);
	memset(f->bios->host, ROM_BYTE, BIOS_SIZE);
	memset(f->ram->host + PC_VGA_START, DRAM_BYTE, PC_HIGH_START - PC_VGA_START);
	ck_assert_int_eq(pc_mem_build(&f->pc, &f->s, f->ram, f->bios, &l), 0);
	ck_assert_int_eq(iobus_init(&f->bus), 0);
	ck_assert_int_eq(debugport_init(&f->dbg, -1, on_reset, NULL, f), 0);
	ck_assert_int_eq(q35_init(&f->h, &f->pc, &f->dbg), 0);
	q35_set_pciexbar_cb(&f->h, on_bar, f);
	ck_assert_int_eq(q35_register(&f->h, &f->bus), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	q35_destroy(&f->h);
	debugport_destroy(&f->dbg);
	iobus_destroy(&f->bus);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ram);
	mem_backend_destroy(f->bios);
	free(f);
}

static uint64_t pin(struct fx *f, uint16_t port, unsigned size)
{
	uint64_t v = 0;

	(void)iobus_dispatch(&f->bus, port, size, false, &v);
	return v;
}

static void pout(struct fx *f, uint16_t port, unsigned size, uint64_t v)
{
	(void)iobus_dispatch(&f->bus, port, size, true, &v);
}

static uint32_t conf_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return Q35_CONF_ENABLE | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC);
}

/* Read @size bytes at @reg of 00:00.0 through 0xCF8/0xCFC. */
static uint32_t cfg_rd(struct fx *f, unsigned reg, unsigned size)
{
	pout(f, 0xCF8, 4, conf_addr(0, 0, 0, reg));
	return (uint32_t)pin(f, 0xCFC + (reg & 3), size);
}

static void cfg_wr(struct fx *f, unsigned reg, unsigned size, uint32_t v)
{
	pout(f, 0xCF8, 4, conf_addr(0, 0, 0, reg));
	pout(f, 0xCFC + (reg & 3), size, v);
}

static uint64_t mrd(struct fx *f, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;

	(void)mem_dispatch(&f->s, gpa, size, false, &v);
	return v;
}

static void mwr(struct fx *f, uint64_t gpa, unsigned size, uint64_t v)
{
	(void)mem_dispatch(&f->s, gpa, size, true, &v);
}

START_TEST(test_ids)
{
	struct fx *f = fx_new();

	ck_assert_uint_eq(cfg_rd(f, 0x00, 4), 0x29C08086);
	ck_assert_uint_eq(cfg_rd(f, 0x00, 2), 0x8086);
	ck_assert_uint_eq(cfg_rd(f, 0x02, 2), 0x29C0);
	ck_assert_uint_eq(cfg_rd(f, 0x03, 1), 0x29);
	ck_assert_uint_eq(cfg_rd(f, 0x08, 4) >> 8, 0x060000);
	ck_assert_uint_eq(cfg_rd(f, 0x0E, 1), 0x00);
	ck_assert_uint_eq(cfg_rd(f, 0x04, 2), 0x0006);
	ck_assert_uint_eq(cfg_rd(f, 0x06, 2), 0x0090);
	ck_assert_uint_eq(cfg_rd(f, Q35_CAPPTR, 1), Q35_CAPID0);
	ck_assert_uint_eq(cfg_rd(f, Q35_CAPID0, 1), 0x09);
	/* Unaligned word inside the data dword. */
	ck_assert_uint_eq(cfg_rd(f, 0x01, 2), 0xC080);
	/* The address register reads back with the reserved bits clear. */
	pout(f, 0xCF8, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(pin(f, 0xCF8, 4), 0x80FFFFFC);
	fx_free(f);
}
END_TEST

START_TEST(test_read_only)
{
	struct fx *f = fx_new();
	uint32_t v;

	cfg_wr(f, 0x00, 4, 0);
	ck_assert_uint_eq(cfg_rd(f, 0x00, 4), 0x29C08086);
	cfg_wr(f, 0x08, 4, 0);
	ck_assert_uint_eq(cfg_rd(f, 0x08, 4) >> 8, 0x060000);
	/* PCICMD: only PERRE and SERRE move; MAE/BME stay 1. */
	cfg_wr(f, 0x04, 2, 0xFFFF);
	ck_assert_uint_eq(cfg_rd(f, 0x04, 2), 0x0146);
	cfg_wr(f, 0x04, 2, 0);
	ck_assert_uint_eq(cfg_rd(f, 0x04, 2), 0x0006);
	/* SVID/SID are write-once. */
	cfg_wr(f, Q35_SVID, 4, 0x11001AF4);
	cfg_wr(f, Q35_SVID, 4, 0);
	ck_assert_uint_eq(cfg_rd(f, Q35_SVID, 4), 0x11001AF4);
	/* Unmodelled registers read 0 and stay 0; extended space too. */
	cfg_wr(f, 0x40, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, 0x40, 4), 0);
	ck_assert_int_eq(q35_config_write(&f->h, 0, 0, 0x100, 4, 0xFFFFFFFF), 0);
	ck_assert_int_eq(q35_config_read(&f->h, 0, 0, 0x100, 4, &v), 0);
	ck_assert_uint_eq(v, 0);
	/* Reset brings SVID back to writable. */
	ck_assert_int_eq(q35_reset(&f->h), 0);
	ck_assert_uint_eq(cfg_rd(f, Q35_SVID, 4), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_pam_through_conf1)
{
	struct fx *f = fx_new();

	/* Power-on: 0xF0000 reads the firmware, writes do not reach DRAM. */
	ck_assert_uint_eq(cfg_rd(f, Q35_PAM0, 1), 0x00);
	ck_assert_uint_eq(mrd(f, 0xF0000, 1), ROM_BYTE);
	/* PAM0 = 0x30: 0xF0000-0xFFFFF read/write DRAM. */
	cfg_wr(f, Q35_PAM0, 1, 0x30);
	ck_assert_uint_eq(f->pc.pam[12].mode, PAM_RW);
	ck_assert_uint_eq(mrd(f, 0xF0000, 1), DRAM_BYTE);
	mwr(f, 0xF0000, 1, 0x5A);
	ck_assert_uint_eq(f->ram->host[0xF0000], 0x5A);
	ck_assert_uint_eq(cfg_rd(f, Q35_PAM0, 1), 0x30);
	/* Read-only: writes dropped, DRAM still read. */
	cfg_wr(f, Q35_PAM0, 1, 0x10);
	mwr(f, 0xF0000, 1, 0x11);
	ck_assert_uint_eq(mrd(f, 0xF0000, 1), 0x5A);
	/* Reserved bits read back 0 (pc_mem keeps the register). */
	cfg_wr(f, Q35_PAM0, 1, 0xFF);
	ck_assert_uint_eq(cfg_rd(f, Q35_PAM0, 1), 0x30);

	/* A dword at 0x90 covers PAM0-PAM3; one at 0x94 covers PAM4-6 and LAC. */
	cfg_wr(f, Q35_PAM0, 4, 0x33221100);
	cfg_wr(f, 0x94, 4, 0xFF332211);
	ck_assert_uint_eq(cfg_rd(f, Q35_PAM0, 4), 0x33221100);
	ck_assert_uint_eq(cfg_rd(f, 0x94, 4), 0x00332211);
	ck_assert_uint_eq(f->pc.pam[12].mode, PAM_OFF);    /* PAM0 hi */
	ck_assert_uint_eq(f->pc.pam[0].mode, PAM_RO);      /* PAM1 lo: 0xC0000 */
	ck_assert_uint_eq(f->pc.pam[1].mode, PAM_RO);      /* PAM1 hi: 0xC4000 */
	ck_assert_uint_eq(f->pc.pam[2].mode, PAM_WO);      /* PAM2 lo: 0xC8000 */
	ck_assert_uint_eq(f->pc.pam[5].mode, PAM_RW);      /* PAM3 hi: 0xD4000 */
	ck_assert_uint_eq(f->pc.pam[6].mode, PAM_RO);      /* PAM4 lo: 0xD8000 */
	ck_assert_uint_eq(f->pc.pam[11].mode, PAM_RW);     /* PAM6 hi: 0xEC000 */
	/* A word straddling PAM6 and LAC reaches PAM6 only. */
	cfg_wr(f, 0x96, 2, 0xFF00);
	ck_assert_uint_eq(cfg_rd(f, 0x96, 2), 0x0000);
	ck_assert_uint_eq(f->pc.pam[11].mode, PAM_OFF);
	ck_assert_uint_eq(mrd(f, 0xEC000, 1), ROM_BYTE);

	/* Reset puts the firmware back. */
	cfg_wr(f, Q35_PAM0, 1, 0x30);
	ck_assert_int_eq(q35_reset(&f->h), 0);
	ck_assert_uint_eq(cfg_rd(f, Q35_PAM0, 1), 0);
	ck_assert_uint_eq(mrd(f, 0xF0000, 1), ROM_BYTE);
	fx_free(f);
}
END_TEST

START_TEST(test_smram_lock)
{
	struct fx *f = fx_new();
	uint8_t buf;

	ck_assert_uint_eq(cfg_rd(f, Q35_SMRAM, 1), PC_SMRAM_POWER_ON);
	ck_assert_uint_eq(cfg_rd(f, Q35_ESMRAMC, 1), PC_ESMRAMC_POWER_ON);
	/* G_SMRAME | D_OPEN: SMRAM DRAM shows at 0xA0000. */
	cfg_wr(f, Q35_SMRAM, 1, 0x4A);
	ck_assert_uint_eq(cfg_rd(f, Q35_SMRAM, 1), 0x4A);
	ck_assert_uint_eq(mrd(f, 0xA0000, 1), DRAM_BYTE);
	/* D_LCK closes and locks; reading the dword at 0x9C sees both registers. */
	cfg_wr(f, Q35_SMRAM, 1, 0x1A);
	ck_assert_uint_eq(cfg_rd(f, 0x9C, 4), 0x00381A00);
	ck_assert_int_eq(mem_read(&f->s, 0xA0000, &buf, 1), -EFAULT);
	/* Locked: D_OPEN and G_SMRAME no longer move, the window stays shut. */
	cfg_wr(f, Q35_SMRAM, 1, 0x40);
	ck_assert_uint_eq(cfg_rd(f, Q35_SMRAM, 1), 0x1A);
	ck_assert_uint_eq(mrd(f, 0xA0000, 1), 0xFF);
	/* ESMRAMC's T_EN is frozen by D_LCK too. */
	cfg_wr(f, Q35_ESMRAMC, 1, PC_ESMRAMC_T_EN);
	ck_assert_uint_eq(cfg_rd(f, Q35_ESMRAMC, 1), PC_ESMRAMC_POWER_ON);
	/* Only reset unlocks. */
	ck_assert_int_eq(q35_reset(&f->h), 0);
	ck_assert_uint_eq(cfg_rd(f, Q35_SMRAM, 1), PC_SMRAM_POWER_ON);
	cfg_wr(f, Q35_SMRAM, 1, 0x4A);
	ck_assert_uint_eq(cfg_rd(f, Q35_SMRAM, 1), 0x4A);
	fx_free(f);
}
END_TEST

START_TEST(test_cf9_shares_address_dword)
{
	struct fx *f = fx_new();

	pout(f, 0xCF8, 4, conf_addr(0, 0, 0, 0));
	/* RST_CPU | SYS_RST at 0xCF9 resets and leaves CONFIG_ADDRESS alone. */
	pout(f, 0xCF9, 1, 0x06);
	ck_assert_uint_eq(f->resets, 1);
	ck_assert_uint_eq(pin(f, 0xCF9, 1), 0x02);
	ck_assert_uint_eq(pin(f, 0xCF8, 4), Q35_CONF_ENABLE);
	ck_assert_uint_eq(pin(f, 0xCFC, 4), 0x29C08086);
	/* A dword at 0xCF8 whose byte 1 has RST_CPU set is only an address. */
	pout(f, 0xCF8, 4, Q35_CONF_ENABLE | 0x0400);
	ck_assert_uint_eq(f->resets, 1);
	ck_assert_uint_eq(pin(f, 0xCF8, 4), Q35_CONF_ENABLE | 0x0400);
	/* Other narrow accesses in the address dword are not ours: all-ones, dropped. */
	ck_assert_uint_eq(pin(f, 0xCF8, 1), 0xFF);
	ck_assert_uint_eq(pin(f, 0xCF8, 2), 0xFFFF);
	ck_assert_uint_eq(pin(f, 0xCFA, 2), 0xFFFF);
	pout(f, 0xCF8, 2, 0x0600);
	pout(f, 0xCFA, 1, 0x06);
	ck_assert_uint_eq(f->resets, 1);
	ck_assert_uint_eq(pin(f, 0xCF8, 4), Q35_CONF_ENABLE | 0x0400);
	fx_free(f);
}
END_TEST

START_TEST(test_cf9_without_debugport)
{
	struct fx *f = fx_new();
	struct q35_host *h = calloc(1, sizeof(*h));
	uint64_t v = 0;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(q35_init(h, &f->pc, NULL), 0);
	ck_assert_int_ne(q35_conf_addr_ops.read(h, 1, 1, &v), 0);
	ck_assert_int_ne(q35_conf_addr_ops.write(h, 1, 1, 0x06), 0);
	ck_assert_uint_eq(f->resets, 0);
	q35_destroy(h);
	free(h);
	fx_free(f);
}
END_TEST

START_TEST(test_absent_devices)
{
	struct fx *f = fx_new();
	uint32_t v;

	/* Device 1, function 1, bus 1: nobody there. */
	pout(f, 0xCF8, 4, conf_addr(0, 1, 0, 0));
	ck_assert_uint_eq(pin(f, 0xCFC, 4), 0xFFFFFFFF);
	ck_assert_uint_eq(pin(f, 0xCFE, 2), 0xFFFF);
	pout(f, 0xCFC, 4, 0);
	pout(f, 0xCF8, 4, conf_addr(0, 0, 1, 0));
	ck_assert_uint_eq(pin(f, 0xCFC, 4), 0xFFFFFFFF);
	pout(f, 0xCF8, 4, conf_addr(1, 0, 0, 0));
	ck_assert_uint_eq(pin(f, 0xCFC, 4), 0xFFFFFFFF);
	/* Enable bit clear: no configuration cycle at all. */
	pout(f, 0xCF8, 4, 0x90);
	ck_assert_uint_eq(pin(f, 0xCFC, 1), 0xFF);
	pout(f, 0xCFC, 1, 0x30);
	ck_assert_uint_eq(f->pc.pam_regs[0], 0);
	/* The direct API says why. */
	ck_assert_int_eq(q35_config_read(&f->h, 0, Q35_DEVFN(31, 0), 0, 4, &v), -ENODEV);
	ck_assert_uint_eq(v, 0xFFFFFFFF);
	ck_assert_int_eq(q35_config_write(&f->h, 2, 0, 0x90, 1, 0x30), -ENODEV);
	ck_assert_uint_eq(f->pc.pam_regs[0], 0);
	ck_assert_uint_eq(cfg_rd(f, 0x00, 4), 0x29C08086);
	fx_free(f);
}
END_TEST

START_TEST(test_bad_accesses)
{
	struct fx *f = fx_new();
	static const unsigned sizes[] = { 0, 3, 5, 8, 16 };
	uint64_t v = 0;
	uint32_t w;
	unsigned i, port;

	/* Through the bus: wrong widths and accesses running past the window. */
	pout(f, 0xCF8, 4, conf_addr(0, 0, 0, 0));
	for (port = 0xCF6; port < 0xD02; port++)
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			v = 0;
			(void)iobus_dispatch(&f->bus, port, sizes[i], false, &v);
			(void)iobus_dispatch(&f->bus, port, sizes[i], true, &v);
		}
	ck_assert_int_ne(iobus_dispatch(&f->bus, 0xCFC, 8, false, &v), 0);
	ck_assert_int_ne(iobus_dispatch(&f->bus, 0xCFF, 2, false, &v), 0);
	ck_assert_uint_eq(f->resets, 0);
	/* Handlers called directly with offsets the bus would never pass. */
	ck_assert_int_ne(q35_conf_data_ops.read(&f->h, 4, 1, &v), 0);
	ck_assert_int_ne(q35_conf_data_ops.read(&f->h, 3, 4, &v), 0);
	ck_assert_int_ne(q35_conf_data_ops.write(&f->h, 7, 2, 0), 0);
	ck_assert_int_ne(q35_conf_addr_ops.read(&f->h, 2, 4, &v), 0);
	/* The direct API: sizes and ranges. */
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		ck_assert_int_eq(q35_config_read(&f->h, 0, 0, 0, sizes[i], &w), -EINVAL);
		ck_assert_int_eq(q35_config_write(&f->h, 0, 0, 0x90, sizes[i], 0x33), -EINVAL);
	}
	ck_assert_int_eq(q35_config_read(&f->h, 0, 0, Q35_CFG_SIZE - 2, 4, &w), -EINVAL);
	ck_assert_uint_eq(w, 0xFFFFFFFF);
	ck_assert_int_eq(q35_config_read(&f->h, 0, 0, Q35_CFG_SIZE - 4, 4, &w), 0);
	ck_assert_int_eq(q35_config_read(&f->h, 0, 0, 0xFFFFFFFFu, 1, &w), -EINVAL);
	ck_assert_int_eq(q35_config_write(&f->h, 0, 0, 0xFFFFFFFEu, 4, 0), -EINVAL);
	ck_assert_int_eq(q35_config_read(&f->h, 0, 0, 0, 4, NULL), -EINVAL);
	ck_assert_int_eq(q35_config_read(NULL, 0, 0, 0, 4, &w), -EINVAL);
	ck_assert_int_eq(q35_init(NULL, &f->pc, NULL), -EINVAL);
	/* Nothing leaked into PAM, and the bridge still answers. */
	ck_assert_uint_eq(f->pc.pam_regs[0], 0);
	ck_assert_uint_eq(cfg_rd(f, 0x00, 4), 0x29C08086);
	/* A second registration collides on the bus. */
	ck_assert_int_eq(q35_register(&f->h, &f->bus), -EEXIST);
	fx_free(f);
}
END_TEST

START_TEST(test_pciexbar)
{
	struct fx *f = fx_new();
	uint64_t base, size;

	ck_assert_uint_eq(cfg_rd(f, Q35_PCIEXBAR, 4), 0xE0000000);
	ck_assert_uint_eq(cfg_rd(f, Q35_PCIEXBAR + 4, 4), 0);
	ck_assert(!q35_pciexbar(&f->h, NULL, NULL));
	/* Firmware's usual write: 0xB0000000, 256 buses, enabled. */
	cfg_wr(f, Q35_PCIEXBAR + 4, 4, 0);
	cfg_wr(f, Q35_PCIEXBAR, 4, (uint32_t)PC_ECAM_BASE | 1);
	ck_assert_uint_eq(f->bar_calls, 1);
	ck_assert(f->bar_en);
	ck_assert_uint_eq(f->bar_base, PC_ECAM_BASE);
	ck_assert_uint_eq(f->bar_size, PC_ECAM_SIZE);
	ck_assert(q35_pciexbar(&f->h, &base, &size));
	ck_assert_uint_eq(base, PC_ECAM_BASE);
	ck_assert_uint_eq(size, 256 * MiB);
	/* Rewriting the same value is no change. */
	cfg_wr(f, Q35_PCIEXBAR, 4, (uint32_t)PC_ECAM_BASE | 1);
	ck_assert_uint_eq(f->bar_calls, 1);
	/* Reserved bits stay 0: 25:3 low, 63:36 high. */
	cfg_wr(f, Q35_PCIEXBAR, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, Q35_PCIEXBAR, 4), 0xFC000007);
	ck_assert(!q35_pciexbar(&f->h, NULL, NULL)); /* length 11b is reserved */
	cfg_wr(f, Q35_PCIEXBAR + 4, 4, 0xFFFFFFFF);
	ck_assert_uint_eq(cfg_rd(f, Q35_PCIEXBAR + 4, 4), 0xF);
	/* 64 MiB: base bits 35:26. */
	cfg_wr(f, Q35_PCIEXBAR, 4, 0xE4000005);
	ck_assert(q35_pciexbar(&f->h, &base, &size));
	ck_assert_uint_eq(base, 0xFE4000000ULL);
	ck_assert_uint_eq(size, 64 * MiB);
	ck_assert_uint_eq(f->bar_base, 0xFE4000000ULL);
	/* Reset disables it and says so. */
	ck_assert_int_eq(q35_reset(&f->h), 0);
	ck_assert(!f->bar_en);
	ck_assert_uint_eq(cfg_rd(f, Q35_PCIEXBAR, 4), 0xE0000000);
	fx_free(f);
}
END_TEST

static Suite *q35_suite(void)
{
	Suite *s = suite_create("q35");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_pam_through_conf1);
	tcase_add_test(tc, test_smram_lock);
	tcase_add_test(tc, test_cf9_shares_address_dword);
	tcase_add_test(tc, test_cf9_without_debugport);
	tcase_add_test(tc, test_absent_devices);
	tcase_add_test(tc, test_bad_accesses);
	tcase_add_test(tc, test_pciexbar);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(q35_suite)
