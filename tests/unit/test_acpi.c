/*
 * tests/unit/test_acpi.c - the AML encoder (PkgLength edges, integers,
 * names, blocks, resource descriptors, sticky errors), the ACPI tables
 * (checksums, lengths, XSDT/RSDT, FADT, MADT for 1..4096 CPUs, MCFG, SRAT,
 * DSDT windows and _PRT against real PC layouts, iasl disassembly), direct
 * placement (absolute pointers, -ENOSPC), the BIOS linker/loader commands run
 * by a small loader written here, and the HW-reduced sleep registers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/acpi_pm.h"
#include "devices/iobus.h"
#include "firmware/acpi.h"
#include "firmware/aml.h"
#include "memory/memory.h"
#include "memory/pc.h"
#include "tests/unit/unit.h"

/* ---- helpers ------------------------------------------------------------- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Decode a PkgLength at @p: returns its byte count, the encoded total in *total. */
static unsigned pkglen_decode(const uint8_t *p, size_t *total)
{
	unsigned k = (p[0] >> 6) + 1, i;

	if (k == 1) {
		*total = p[0] & 0x3F;
		return 1;
	}
	ck_assert_uint_eq(p[0] & 0x30, 0);       /* reserved bits */
	*total = p[0] & 0x0F;
	for (i = 1; i < k; i++)
		*total |= (size_t)p[i] << (4 + 8 * (i - 1));
	return k;
}

static const uint8_t *find_bytes(const uint8_t *hay, size_t hlen, const uint8_t *needle,
				 size_t nlen)
{
	return memmem(hay, hlen, needle, nlen);
}

static void layout_256m(struct pc_layout *l)
{
	struct pc_layout_cfg c = { .ram_size = 256 * MiB, .phys_bits = 40,
				   .amd_hole = PC_AMD_HOLE_OFF };
	char err[160];

	ck_assert_int_eq(pc_layout_compute(&c, l, err, sizeof(err)), 0);
}

static void layout_1100g_amd(struct pc_layout *l)
{
	struct pc_layout_cfg c = { .ram_size = 1100 * GiB, .phys_bits = 48,
				   .amd_hole = PC_AMD_HOLE_ON };
	char err[160];

	ck_assert_int_eq(pc_layout_compute(&c, l, err, sizeof(err)), 0);
	/* The relocation this test depends on: RAM above 4 GiB starts at 1 TiB. */
	ck_assert_uint_eq(l->above_4g_start, PC_AMD_HT_END);
	ck_assert_uint_gt(l->pci64_start, PC_AMD_HT_END);
}

static struct acpi_cfg cfg_of(const struct pc_layout *l, unsigned ncpus)
{
	struct acpi_cfg c = {
		.layout = l, .ncpus = ncpus,
		.ecam_base = PC_ECAM_BASE, .ecam_size = PC_ECAM_SIZE,
	};
	return c;
}

static const uint8_t *table(const struct acpi_tables *t, const char *sig)
{
	const struct acpi_table_loc *loc = acpi_table_find(t, sig);

	ck_assert_msg(loc != NULL, "table %s missing", sig);
	return t->tables + loc->offset;
}

/* Every table's header, length and checksum; the RSDP's two checksums. */
static void check_all_sums(const struct acpi_tables *t)
{
	unsigned i;

	ck_assert_uint_ge(t->nr_locs, 6);
	for (i = 0; i < t->nr_locs; i++) {
		const struct acpi_table_loc *loc = &t->locs[i];
		const uint8_t *p = t->tables + loc->offset;

		ck_assert_uint_eq(loc->offset % 8, 0);
		ck_assert_uint_le((uint64_t)loc->offset + loc->length, t->tables_len);
		ck_assert(!memcmp(p, loc->sig, 4));
		ck_assert_uint_eq(le32(p + 4), loc->length);
		ck_assert_msg(sum8(p, loc->length) == 0, "%s checksum", loc->sig);
		ck_assert(!memcmp(p + 10, "VMM   ", 6));
		ck_assert(!memcmp(p + 16, "VMMTABLE", 8));
		ck_assert(!memcmp(p + 28, "VMM ", 4));
	}
	ck_assert(!memcmp(t->rsdp, "RSD PTR ", 8));
	ck_assert_uint_eq(t->rsdp[15], 2);
	ck_assert_uint_eq(le32(t->rsdp + 20), ACPI_RSDP_LEN);
	ck_assert_uint_eq(sum8(t->rsdp, 20), 0);
	ck_assert_uint_eq(sum8(t->rsdp, ACPI_RSDP_LEN), 0);
}

/* Address of table @sig as the pointers should hold it (offset + @base). */
static uint64_t addr_of(const struct acpi_tables *t, const char *sig, uint64_t base)
{
	const struct acpi_table_loc *loc = acpi_table_find(t, sig);

	ck_assert_ptr_nonnull(loc);
	return base + loc->offset;
}

/* XSDT and RSDT list exactly FACP, APIC, MCFG (+ SRAT); RSDP points at both. */
static void check_root(const struct acpi_tables *t, uint64_t base, const uint8_t *rsdp,
		       bool srat)
{
	static const char *const want[] = { "FACP", "APIC", "MCFG", "SRAT" };
	unsigned n = srat ? 4 : 3, i;
	const uint8_t *x = table(t, "XSDT"), *r = table(t, "RSDT"), *f = table(t, "FACP");

	ck_assert_uint_eq(le32(x + 4), 36 + 8 * n);
	ck_assert_uint_eq(le32(r + 4), 36 + 4 * n);
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(le64(x + 36 + 8 * i), addr_of(t, want[i], base));
		ck_assert_uint_eq(le32(r + 36 + 4 * i), addr_of(t, want[i], base));
	}
	ck_assert_uint_eq(le64(rsdp + 24), addr_of(t, "XSDT", base));
	ck_assert_uint_eq(le32(rsdp + 16), addr_of(t, "RSDT", base));
	ck_assert_uint_eq(le32(f + 40), addr_of(t, "DSDT", base));
	ck_assert_uint_eq(le64(f + 140), addr_of(t, "DSDT", base));
	ck_assert_int_eq(acpi_table_find(t, "SRAT") != NULL, srat);
}

/* ---- AML ------------------------------------------------------------------ */

START_TEST(test_aml_pkglength_edges)
{
	static const struct { size_t payload; unsigned k; } cases[] = {
		{ 0, 1 }, { 1, 1 }, { 61, 1 }, { 62, 1 },          /* total 63: last 1-byte */
		{ 63, 2 }, { 64, 2 }, { 4092, 2 }, { 4093, 2 },    /* total 4095: last 2-byte */
		{ 4094, 3 }, { 4096, 3 }, { 0xFFFFF - 3, 3 },
		{ 0xFFFFF - 2, 4 }, { AML_PKGLENGTH_MAX - 4, 4 },
	};
	uint8_t out[4];
	unsigned i;
	size_t total;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned k = aml_pkglength_encode(cases[i].payload, out);

		ck_assert_msg(k == cases[i].k, "payload %zu: %u bytes", cases[i].payload, k);
		ck_assert_uint_eq(pkglen_decode(out, &total), k);
		ck_assert_uint_eq(total, cases[i].payload + k);
	}
	/* Exact bytes at the first two boundaries. */
	ck_assert_uint_eq(aml_pkglength_encode(62, out), 1);
	ck_assert_uint_eq(out[0], 0x3F);
	ck_assert_uint_eq(aml_pkglength_encode(63, out), 2);
	ck_assert_uint_eq(out[0], 0x41);                   /* 65 = 0x41: lead 0x40|1, 0x04 */
	ck_assert_uint_eq(out[1], 0x04);
	ck_assert_uint_eq(aml_pkglength_encode(4093, out), 2);
	ck_assert_uint_eq(out[0], 0x4F);
	ck_assert_uint_eq(out[1], 0xFF);
	ck_assert_uint_eq(aml_pkglength_encode(4094, out), 3);
	ck_assert_uint_eq(out[0], 0x81);                   /* 4097 = 0x1001 */
	ck_assert_uint_eq(out[1], 0x00);
	ck_assert_uint_eq(out[2], 0x01);
	/* Too long for 28 bits, and sizes that would wrap. */
	ck_assert_uint_eq(aml_pkglength_encode(AML_PKGLENGTH_MAX - 3, out), 0);
	ck_assert_uint_eq(aml_pkglength_encode(SIZE_MAX, out), 0);
	/* Every payload up to 70000: minimal size, exact decode. */
	for (total = 0; total < 70000; total++) {
		size_t dec;
		unsigned k = aml_pkglength_encode(total, out);

		ck_assert_uint_eq(pkglen_decode(out, &dec), k);
		ck_assert_uint_eq(dec, total + k);
		ck_assert_uint_eq(k, total + 1 <= 63 ? 1 : total + 2 <= 4095 ? 2 : 3);
	}
}
END_TEST

/* A Scope whose payload lands exactly on each PkgLength boundary. */
START_TEST(test_aml_block_sizes)
{
	static const size_t payloads[] = { 62, 63, 64, 4093, 4094, 4095, 4096, 70000 };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(payloads); i++) {
		struct aml_buf b;
		uint8_t *fill;
		size_t body = payloads[i] - 5, total;  /* NameString "\_SB_" is 5 bytes */
		unsigned k;

		fill = malloc(body);
		ck_assert_ptr_nonnull(fill);
		memset(fill, 0xA5, body);
		aml_init(&b);
		aml_scope_begin(&b, "\\_SB");
		aml_bytes(&b, fill, body);
		aml_end(&b);
		ck_assert_int_eq(aml_finish(&b), 0);
		ck_assert_uint_eq(b.data[0], AML_SCOPE_OP);
		k = pkglen_decode(b.data + 1, &total);
		ck_assert_uint_eq(total, payloads[i] + k);
		ck_assert_uint_eq(b.len, 1 + total);
		ck_assert(!memcmp(b.data + 1 + k, "\\_SB_", 5));
		ck_assert(!memcmp(b.data + 1 + k + 5, fill, body));
		aml_free(&b);
		free(fill);
	}
}
END_TEST

START_TEST(test_aml_integers_strings)
{
	static const struct { uint64_t v; uint8_t enc[9]; unsigned n; } cases[] = {
		{ 0, { 0x00 }, 1 },
		{ 1, { 0x01 }, 1 },
		{ 2, { 0x0A, 0x02 }, 2 },
		{ 0xFF, { 0x0A, 0xFF }, 2 },
		{ 0x100, { 0x0B, 0x00, 0x01 }, 3 },
		{ 0xFFFF, { 0x0B, 0xFF, 0xFF }, 3 },
		{ 0x10000, { 0x0C, 0x00, 0x00, 0x01, 0x00 }, 5 },
		{ 0xFFFFFFFF, { 0x0C, 0xFF, 0xFF, 0xFF, 0xFF }, 5 },
		{ 0x100000000ULL, { 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 }, 9 },
		{ UINT64_MAX, { 0x0E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF }, 9 },
	};
	struct aml_buf b;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		aml_init(&b);
		aml_integer(&b, cases[i].v);
		ck_assert_int_eq(aml_finish(&b), 0);
		ck_assert_uint_eq(b.len, cases[i].n);
		ck_assert(!memcmp(b.data, cases[i].enc, cases[i].n));
		aml_free(&b);
	}

	aml_init(&b);
	aml_string(&b, "ACPI0007");
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert_uint_eq(b.len, 10);
	ck_assert(!memcmp(b.data, "\x0D" "ACPI0007", 10));
	aml_string(&b, "\xC3\xA9");                       /* not ASCII */
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);

	/* EISAID: the compressed form, always DWordPrefix. */
	aml_init(&b);
	aml_eisaid(&b, "PNP0A03");
	aml_eisaid(&b, "PNP0303");
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert(!memcmp(b.data, "\x0C\x41\xD0\x0A\x03" "\x0C\x41\xD0\x03\x03", 10));
	aml_free(&b);
	{
		static const char *const bad[] = { "pnp0a03", "PNP0A0G", "PNP0A0", "PNP0A033",
						   "P@P0A03", "" };

		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			aml_init(&b);
			aml_eisaid(&b, bad[i]);
			ck_assert_msg(aml_finish(&b) == -EINVAL, "%s accepted", bad[i]);
			ck_assert_uint_eq(b.len, 0);
			aml_free(&b);
		}
		aml_init(&b);
		aml_eisaid(&b, NULL);
		ck_assert_int_eq(aml_finish(&b), -EINVAL);
		aml_free(&b);
	}
}
END_TEST

START_TEST(test_aml_names)
{
	static const struct { const char *path; const char *enc; size_t n; } ok[] = {
		{ "_HID", "_HID", 4 },
		{ "RTC", "RTC_", 4 },
		{ "\\_SB", "\\_SB_", 5 },
		{ "\\_SB.PCI0", "\\\x2E_SB_PCI0", 10 },
		{ "A.B.C", "\x2F\x03" "A___B___C___", 14 },
		{ "^^FOO", "^^FOO_", 6 },
		{ "\\", "\\\0", 2 },
		{ "", "\0", 1 },
	};
	static const char *const bad[] = {
		"abcd", "TOOLONG", "1ABC", "A..B", "A.", ".A", "\\^A", "A-B", "^\\A", "S5 ",
	};
	struct aml_buf b;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		aml_init(&b);
		aml_namestring(&b, ok[i].path);
		ck_assert_msg(aml_finish(&b) == 0, "%s refused", ok[i].path);
		ck_assert_uint_eq(b.len, ok[i].n);
		ck_assert_msg(!memcmp(b.data, ok[i].enc, ok[i].n), "%s", ok[i].path);
		aml_free(&b);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		aml_init(&b);
		aml_namestring(&b, bad[i]);
		ck_assert_msg(aml_finish(&b) == -EINVAL, "%s accepted", bad[i]);
		aml_free(&b);
	}
	aml_init(&b);
	aml_namestring(&b, NULL);
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);
}
END_TEST

START_TEST(test_aml_objects)
{
	struct aml_buf b;
	size_t total;
	unsigned k, i;

	/* Method(_STA, 0) { Return (0x0F) } */
	aml_init(&b);
	aml_method_begin(&b, "_STA", 0);
	aml_return(&b);
	aml_integer(&b, 0x0F);
	aml_end(&b);
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert_uint_eq(b.len, 10);
	ck_assert(!memcmp(b.data, "\x14\x09_STA\x00\xA4\x0A\x0F", 10));
	aml_free(&b);

	/* Device(\_SB.DEV0) { Name(_UID, One) } */
	aml_init(&b);
	aml_device_begin(&b, "\\_SB.DEV0");
	aml_name_int(&b, "_UID", 1);
	aml_end(&b);
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert_uint_eq(b.len, 19);
	ck_assert(!memcmp(b.data, "\x5B\x82\x11\\\x2E_SB_DEV0\x08_UID\x01", 19));
	aml_free(&b);

	/* Package(2) {One, "A"} */
	aml_init(&b);
	aml_package_begin(&b, 2);
	aml_integer(&b, 1);
	aml_string(&b, "A");
	aml_end(&b);
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert_uint_eq(b.len, 7);
	ck_assert(!memcmp(b.data, "\x12\x06\x02\x01\x0D" "A", 7));   /* with the NUL */
	aml_free(&b);

	/* Buffers: BufferSize follows the PkgLength and counts only the bytes. */
	for (i = 0; i < 3; i++) {
		static const size_t n[] = { 0, 10, 300 };
		uint8_t fill[300];
		size_t off;

		memset(fill, 0x5A, sizeof(fill));
		aml_init(&b);
		aml_buffer_begin(&b);
		aml_bytes(&b, fill, n[i]);
		aml_end(&b);
		ck_assert_int_eq(aml_finish(&b), 0);
		ck_assert_uint_eq(b.data[0], AML_BUFFER_OP);
		k = pkglen_decode(b.data + 1, &total);
		ck_assert_uint_eq(b.len, 1 + total);
		off = 1 + k;
		if (n[i] == 0) {
			ck_assert_uint_eq(b.data[off], AML_ZERO_OP);
			off += 1;
		} else if (n[i] < 256) {
			ck_assert_uint_eq(b.data[off], AML_BYTE_PREFIX);
			ck_assert_uint_eq(b.data[off + 1], n[i]);
			off += 2;
		} else {
			ck_assert_uint_eq(b.data[off], AML_WORD_PREFIX);
			ck_assert_uint_eq(le16(b.data + off + 1), n[i]);
			off += 3;
		}
		ck_assert_uint_eq(b.len - off, n[i]);
		aml_free(&b);
	}
}
END_TEST

START_TEST(test_aml_resources)
{
	struct aml_buf b;

	aml_init(&b);
	aml_res_io(&b, 0x3F8, 0x3F8, 1, 8);
	aml_res_irq_noflags(&b, 4);
	aml_res_end_tag(&b);
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert_uint_eq(b.len, 8 + 3 + 2);
	ck_assert(!memcmp(b.data, "\x47\x01\xF8\x03\xF8\x03\x01\x08" "\x22\x10\x00" "\x79\x00", 13));
	aml_free(&b);

	aml_init(&b);
	aml_res_word_bus(&b, 0, 0xFF);
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert(!memcmp(b.data, "\x88\x0D\x00\x02\x0C\x00\x00\x00\x00\x00\xFF\x00\x00\x00"
			  "\x00\x01", 16));
	aml_free(&b);

	aml_init(&b);
	aml_res_word_io(&b, 0x0D00, 0xFFFF);
	aml_res_dword_mem(&b, AML_RES_MEM_NONCACHEABLE, 0xC0000000, 0xFEBFFFFF);
	aml_res_qword_mem(&b, AML_RES_MEM_CACHEABLE, 0x100000000ULL, 0x8FFFFFFFFULL);
	ck_assert_int_eq(aml_finish(&b), 0);
	ck_assert_uint_eq(b.len, 16 + 26 + 46);
	ck_assert(!memcmp(b.data, "\x88\x0D\x00\x01\x0C\x03", 6));
	ck_assert_uint_eq(le16(b.data + 14), 0xF300);
	ck_assert(!memcmp(b.data + 16, "\x87\x17\x00\x00\x0C\x01", 6));
	ck_assert_uint_eq(le32(b.data + 16 + 10), 0xC0000000);
	ck_assert_uint_eq(le32(b.data + 16 + 14), 0xFEBFFFFF);
	ck_assert_uint_eq(le32(b.data + 16 + 22), 0x3EC00000);
	ck_assert(!memcmp(b.data + 42, "\x8A\x2B\x00\x00\x0C\x03", 6));
	ck_assert_uint_eq(le64(b.data + 42 + 14), 0x100000000ULL);
	ck_assert_uint_eq(le64(b.data + 42 + 22), 0x8FFFFFFFFULL);
	ck_assert_uint_eq(le64(b.data + 42 + 38), 0x800000000ULL);
	aml_free(&b);

	/* Bad descriptors: inverted ranges, lengths a field cannot hold, IRQ > 15. */
	{
		int i;

		for (i = 0; i < 7; i++) {
			aml_init(&b);
			switch (i) {
			case 0: aml_res_io(&b, 0x100, 0xFF, 1, 1); break;
			case 1: aml_res_word_io(&b, 0, 0xFFFF); break;
			case 2: aml_res_dword_mem(&b, 0, 0, UINT32_MAX); break;
			case 3: aml_res_qword_mem(&b, 0, 0, UINT64_MAX); break;
			case 4: aml_res_irq_noflags(&b, 16); break;
			case 5: aml_res_dword_mem(&b, 4, 0, 1); break;
			case 6: aml_res_word_bus(&b, 2, 1); break;
			}
			ck_assert_msg(aml_finish(&b) == -EINVAL, "case %d", i);
			aml_free(&b);
		}
	}
}
END_TEST

START_TEST(test_aml_errors)
{
	struct aml_buf b;
	size_t len;
	unsigned i;

	aml_init(&b);
	aml_end(&b);                                      /* nothing open */
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);

	aml_init(&b);
	aml_scope_begin(&b, "\\_SB");                     /* never closed */
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);

	aml_init(&b);
	for (i = 0; i <= AML_MAX_DEPTH; i++)
		aml_package_begin(&b, 1);
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);

	aml_init(&b);
	aml_package_begin(&b, 256);
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);

	aml_init(&b);
	aml_method_begin(&b, "MTHD", 8);
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);

	aml_init(&b);
	aml_pad(&b, 3);
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);

	/* Sticky: after the first error nothing more is written, the first error stays. */
	aml_init(&b);
	aml_integer(&b, 7);
	aml_namestring(&b, "bad");
	len = b.len;
	aml_integer(&b, 0x12345678);
	aml_bytes(&b, "xyz", 3);
	aml_scope_begin(&b, "\\_SB");
	aml_end(&b);
	ck_assert_uint_eq(b.len, len);
	ck_assert_int_eq(aml_finish(&b), -EINVAL);
	aml_free(&b);
	aml_free(&b);                                     /* twice is fine */

	/* Padding. */
	aml_init(&b);
	aml_u8(&b, 1);
	aml_pad(&b, 8);
	ck_assert_uint_eq(b.len, 8);
	aml_pad(&b, 8);
	ck_assert_uint_eq(b.len, 8);
	aml_u16(&b, 0x1234);
	aml_u32(&b, 0x89ABCDEF);
	aml_u64(&b, 0x0102030405060708ULL);
	ck_assert_uint_eq(le16(b.data + 8), 0x1234);
	ck_assert_uint_eq(le32(b.data + 10), 0x89ABCDEF);
	ck_assert_uint_eq(le64(b.data + 14), 0x0102030405060708ULL);
	ck_assert_int_eq(aml_finish(&b), 0);
	aml_free(&b);
}
END_TEST

/* ---- tables ---------------------------------------------------------------- */

START_TEST(test_acpi_sums_and_root)
{
	static const unsigned ncpus[] = { 1, 2, 40, 255, 256, 1000 };
	struct pc_layout l;
	unsigned i;

	layout_256m(&l);
	for (i = 0; i < ARRAY_SIZE(ncpus); i++) {
		struct acpi_cfg c = cfg_of(&l, ncpus[i]);
		struct acpi_tables t;

		ck_assert_int_eq(acpi_build(&c, &t), 0);
		check_all_sums(&t);
		ck_assert_uint_eq(t.nr_locs, 6);       /* DSDT FACP APIC MCFG XSDT RSDT */
		check_root(&t, 0, t.rsdp, false);
		ck_assert(!t.placed);
		ck_assert_ptr_null(acpi_table_find(&t, "FAC"));
		ck_assert_ptr_null(acpi_table_find(&t, "FACPX"));
		acpi_tables_free(&t);
		acpi_tables_free(&t);                     /* twice is fine */
	}
}
END_TEST

START_TEST(test_acpi_fadt)
{
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;
	const uint8_t *f;

	layout_256m(&l);
	c = cfg_of(&l, 2);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	f = table(&t, "FACP");
	ck_assert_uint_eq(le32(f + 4), 276);
	ck_assert_uint_eq(f[8], 6);                       /* revision */
	ck_assert_uint_eq(f[131], 5);                     /* minor: 6.5 */
	ck_assert_uint_eq(le32(f + 112) & (1u << 20), 1u << 20);  /* HW_REDUCED_ACPI */
	ck_assert_uint_eq(le32(f + 112) & (1u << 10), 1u << 10);  /* RESET_REG_SUP */
	ck_assert_uint_eq(le16(f + 109), 0x0007);         /* legacy, 8042, no VGA */
	/* RESET_REG: system I/O 0xCF9, 8 bits, byte access; value 6. */
	ck_assert(!memcmp(f + 116, "\x01\x08\x00\x01", 4));
	ck_assert_uint_eq(le64(f + 120), 0xCF9);
	ck_assert_uint_eq(f[128], 0x06);
	ck_assert(!memcmp(f + 244, "\x01\x08\x00\x01", 4));
	ck_assert_uint_eq(le64(f + 248), ACPI_PM_SLEEP_CTL_PORT);
	ck_assert(!memcmp(f + 256, "\x01\x08\x00\x01", 4));
	ck_assert_uint_eq(le64(f + 260), ACPI_PM_SLEEP_STS_PORT);
	ck_assert(!memcmp(f + 268, "VMMVMM  ", 8));
	/* No SCI, no PM1 blocks, no FACS: hardware-reduced. */
	ck_assert_uint_eq(le16(f + 46), 0);
	ck_assert_uint_eq(le32(f + 36), 0);
	ck_assert_uint_eq(le32(f + 64), 0);
	ck_assert_uint_eq(le64(f + 132), 0);
	acpi_tables_free(&t);
}
END_TEST

/* Walk the MADT entries, counting each kind and checking the fixed ones. */
static void check_madt(const struct acpi_tables *t, unsigned ncpus)
{
	const uint8_t *m = table(t, "APIC");
	uint32_t len = le32(m + 4), off = 44;
	unsigned lapic = 0, x2apic = 0, ioapic = 0, iso = 0, nmi = 0, x2nmi = 0;

	ck_assert_uint_eq(le32(m + 36), 0xFEE00000);
	ck_assert_uint_eq(le32(m + 40), 1);               /* PCAT_COMPAT */
	while (off < len) {
		const uint8_t *e = m + off;

		ck_assert_uint_ge(e[1], 2);
		ck_assert_uint_le(off + e[1], len);
		switch (e[0]) {
		case 0:
			ck_assert_uint_eq(e[1], 8);
			ck_assert_uint_eq(e[2], lapic);   /* UID = index */
			ck_assert_uint_eq(e[3], lapic);   /* APIC id = index */
			ck_assert_uint_eq(le32(e + 4), 1);
			lapic++;
			break;
		case 9:
			ck_assert_uint_eq(e[1], 16);
			ck_assert_uint_eq(le32(e + 4), 255 + x2apic);
			ck_assert_uint_eq(le32(e + 8), 1);
			ck_assert_uint_eq(le32(e + 12), 255 + x2apic);
			x2apic++;
			break;
		case 1:
			ck_assert_uint_eq(e[1], 12);
			ck_assert_uint_eq(e[2], ACPI_IOAPIC_ID);
			ck_assert_uint_eq(le32(e + 4), 0xFEC00000);
			ck_assert_uint_eq(le32(e + 8), 0);
			ioapic++;
			break;
		case 2:
			ck_assert_uint_eq(e[1], 10);
			ck_assert_uint_eq(e[2], 0);
			ck_assert_uint_eq(e[3], 0);
			ck_assert_uint_eq(le32(e + 4), 2);
			ck_assert_uint_eq(le16(e + 8), 0x0005);
			iso++;
			break;
		case 4:
			ck_assert_uint_eq(e[1], 6);
			ck_assert_uint_eq(e[2], 0xFF);
			ck_assert_uint_eq(e[5], 1);
			nmi++;
			break;
		case 10:
			ck_assert_uint_eq(e[1], 12);
			ck_assert_uint_eq(le32(e + 4), 0xFFFFFFFF);
			ck_assert_uint_eq(e[8], 1);
			x2nmi++;
			break;
		default:
			ck_abort_msg("unexpected MADT entry %u", e[0]);
		}
		off += e[1];
	}
	ck_assert_uint_eq(off, len);
	ck_assert_uint_eq(lapic, ncpus < 255 ? ncpus : 255);
	ck_assert_uint_eq(x2apic, ncpus > 255 ? ncpus - 255 : 0);
	ck_assert_uint_eq(ioapic, 1);
	ck_assert_uint_eq(iso, 1);
	ck_assert_uint_eq(nmi, 1);
	ck_assert_uint_eq(x2nmi, ncpus > 255 ? 1 : 0);
}

START_TEST(test_acpi_madt)
{
	static const unsigned ncpus[] = { 1, 2, 40, 255, 256, 300, ACPI_MAX_CPUS };
	struct pc_layout l;
	unsigned i;

	layout_256m(&l);
	for (i = 0; i < ARRAY_SIZE(ncpus); i++) {
		struct acpi_cfg c = cfg_of(&l, ncpus[i]);
		struct acpi_tables t;

		ck_assert_int_eq(acpi_build(&c, &t), 0);
		check_madt(&t, ncpus[i]);
		acpi_tables_free(&t);
	}
}
END_TEST

START_TEST(test_acpi_mcfg)
{
	static const struct { uint64_t base, size; unsigned end_bus; } cases[] = {
		{ PC_ECAM_BASE, PC_ECAM_SIZE, 255 },
		{ 0xE0000000, 64 * MiB, 63 },
		{ 0x100000000000ULL, 1 * MiB, 0 },
	};
	struct pc_layout l;
	unsigned i;

	layout_256m(&l);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct acpi_cfg c = cfg_of(&l, 1);
		struct acpi_tables t;
		const uint8_t *m;

		c.ecam_base = cases[i].base;
		c.ecam_size = cases[i].size;
		ck_assert_int_eq(acpi_build(&c, &t), 0);
		m = table(&t, "MCFG");
		ck_assert_uint_eq(le32(m + 4), 60);
		ck_assert_uint_eq(le64(m + 44), cases[i].base);
		ck_assert_uint_eq(le16(m + 52), 0);
		ck_assert_uint_eq(m[54], 0);
		ck_assert_uint_eq(m[55], cases[i].end_bus);
		/* PCI0._CRS decodes the same buses: WordBusNumber 0..end_bus. */
		{
			const struct acpi_table_loc *loc = acpi_table_find(&t, "DSDT");
			uint8_t bus[12] = { 0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00,
					    0x00, 0x00, (uint8_t)cases[i].end_bus, 0x00 };

			ck_assert_ptr_nonnull(find_bytes(t.tables + loc->offset, loc->length, bus,
							 sizeof(bus)));
		}
		acpi_tables_free(&t);
	}
}
END_TEST

/* The DSDT holds the layout's windows as exact descriptors, and the _PRT. */
static void check_dsdt_windows(const struct acpi_tables *t, const struct pc_layout *l)
{
	const struct acpi_table_loc *loc = acpi_table_find(t, "DSDT");
	const uint8_t *d = t->tables + loc->offset;
	uint8_t want[46];

	/* DWordMemory: producer, fixed, non-cacheable RW, [pci32_start, pci32_end). */
	memcpy(want, "\x87\x17\x00\x00\x0C\x01\x00\x00\x00\x00", 10);
	memcpy(want + 10, (uint8_t[]){ (uint8_t)l->pci32_start, (uint8_t)(l->pci32_start >> 8),
				       (uint8_t)(l->pci32_start >> 16),
				       (uint8_t)(l->pci32_start >> 24) }, 4);
	ck_assert_ptr_nonnull(find_bytes(d, loc->length, want, 14));
	{
		const uint8_t *p = find_bytes(d, loc->length, want, 14);

		ck_assert_uint_eq(le32(p + 14), l->pci32_end - 1);
		ck_assert_uint_eq(le32(p + 22), l->pci32_end - l->pci32_start);
	}
	/* QWordMemory: cacheable RW, [pci64_start, pci64_end). */
	memcpy(want, "\x8A\x2B\x00\x00\x0C\x03", 6);
	memset(want + 6, 0, 8);
	{
		unsigned i;
		const uint8_t *p;

		for (i = 0; i < 8; i++)
			want[14 + i] = (uint8_t)(l->pci64_start >> (8 * i));
		p = find_bytes(d, loc->length, want, 22);
		if (l->pci64_end > l->pci64_start) {
			ck_assert_ptr_nonnull(p);
			ck_assert_uint_eq(le64(p + 22), l->pci64_end - 1);
			ck_assert_uint_eq(le64(p + 38), l->pci64_end - l->pci64_start);
		} else {
			ck_assert_ptr_null(find_bytes(d, loc->length,
						      (const uint8_t *)"\x8A\x2B\x00", 3));
		}
	}
}

START_TEST(test_acpi_dsdt_windows)
{
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;

	layout_256m(&l);
	c = cfg_of(&l, 4);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	check_dsdt_windows(&t, &l);
	acpi_tables_free(&t);

	layout_1100g_amd(&l);
	c = cfg_of(&l, 4);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	check_dsdt_windows(&t, &l);
	acpi_tables_free(&t);

	/* An empty 64-bit window is left out. */
	layout_256m(&l);
	l.pci64_end = l.pci64_start;
	c = cfg_of(&l, 4);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	check_dsdt_windows(&t, &l);
	check_all_sums(&t);
	acpi_tables_free(&t);
}
END_TEST

START_TEST(test_acpi_prt)
{
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;
	const struct acpi_table_loc *loc;
	unsigned slot, pin;

	/* The swizzle itself. */
	ck_assert_uint_eq(acpi_pci_intx_gsi(0, 0), 16);
	ck_assert_uint_eq(acpi_pci_intx_gsi(1, 0), 17);
	ck_assert_uint_eq(acpi_pci_intx_gsi(1, 3), 16);
	ck_assert_uint_eq(acpi_pci_intx_gsi(31, 3), 18);

	layout_256m(&l);
	c = cfg_of(&l, 1);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	loc = acpi_table_find(&t, "DSDT");
	/* Name(_PRT, Package(124) ...) */
	ck_assert_ptr_nonnull(find_bytes(t.tables + loc->offset, loc->length,
					 (const uint8_t *)"\x08_PRT\x12", 6));
	{
		const uint8_t *p = find_bytes(t.tables + loc->offset, loc->length,
					      (const uint8_t *)"\x08_PRT\x12", 6);
		size_t total;
		unsigned k = pkglen_decode(p + 6, &total);

		ck_assert_uint_eq(k, 2);
		ck_assert_uint_eq(p[6 + k], 124);
	}
	for (slot = 1; slot < 32; slot++) {
		for (pin = 0; pin < 4; pin++) {
			/* Package(4){0xSSSSFFFF, pin, Zero, gsi}, hand-encoded. */
			uint8_t e[16];
			unsigned n = 0, gsi = acpi_pci_intx_gsi(slot, pin);

			e[n++] = 0x12;
			e[n++] = pin < 2 ? 11 : 12;       /* PkgLength incl. itself */
			e[n++] = 4;
			e[n++] = 0x0C;
			e[n++] = 0xFF;
			e[n++] = 0xFF;
			e[n++] = (uint8_t)slot;
			e[n++] = 0;
			if (pin < 2) {
				e[n++] = (uint8_t)pin;    /* ZeroOp / OneOp */
			} else {
				e[n++] = 0x0A;
				e[n++] = (uint8_t)pin;
			}
			e[n++] = 0x00;
			e[n++] = 0x0A;
			e[n++] = (uint8_t)gsi;
			ck_assert_msg(find_bytes(t.tables + loc->offset, loc->length, e, n) != NULL,
				      "_PRT slot %u pin %u", slot, pin);
		}
	}
	/* No entry for slot 0 (the host bridge). */
	ck_assert_ptr_null(find_bytes(t.tables + loc->offset, loc->length,
				      (const uint8_t *)"\x0C\xFF\xFF\x00\x00", 5));
	acpi_tables_free(&t);
}
END_TEST

/*
 * SeaBIOS's DSDT scan finds a device by the bytes after "Name(_HID," being
 * DWordPrefix + EISAID, and treats a device without _STA as present; it
 * probes the PS/2 controller only when PNP0303 is there.
 */
START_TEST(test_acpi_dsdt_seabios)
{
	static const struct { const char *what; const uint8_t hid[10]; } devs[] = {
		{ "PNP0303", { 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x03, 0x03 } },
		{ "PNP0501", { 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01 } },
		{ "PNP0B00", { 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0B, 0x00 } },
		{ "PNP0A08", { 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0A, 0x08 } },
	};
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;
	const struct acpi_table_loc *loc;
	const uint8_t *d, *kbd, *next;
	unsigned i;

	layout_256m(&l);
	c = cfg_of(&l, 1);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	loc = acpi_table_find(&t, "DSDT");
	d = t.tables + loc->offset;
	for (i = 0; i < ARRAY_SIZE(devs); i++)
		ck_assert_msg(find_bytes(d, loc->length, devs[i].hid, 10) != NULL, "%s",
			      devs[i].what);
	/* Between the keyboard's _HID and the next Device there is no _STA. */
	kbd = find_bytes(d, loc->length, devs[0].hid, 10);
	next = find_bytes(kbd, loc->length - (size_t)(kbd - d), (const uint8_t *)"\x5B\x82", 2);
	ck_assert_ptr_nonnull(next);
	ck_assert_ptr_null(find_bytes(kbd, (size_t)(next - kbd), (const uint8_t *)"_STA", 4));
	/* \_S5 = Package(4){5, 5, 0, 0}, the SLP_TYP acpi_pm acts on. */
	ck_assert_ptr_nonnull(find_bytes(d, loc->length, (const uint8_t *)
					 "\x08\\_S5_\x12\x08\x04\x0A\x05\x0A\x05\x00\x00", 15));
	acpi_tables_free(&t);
}
END_TEST

START_TEST(test_acpi_srat)
{
	static const struct acpi_numa_mem mem[] = {
		{ 0, 0x80000000ULL, 0, false },
		{ PC_4G, 2 * GiB, 1, false },
		{ 8 * GiB, 1 * GiB, 2, true },
	};
	unsigned node[300], i, cpus = 0, mems = 0;
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;
	const uint8_t *s;
	uint32_t len, off;

	for (i = 0; i < ARRAY_SIZE(node); i++)
		node[i] = i % 3;
	layout_256m(&l);
	c = cfg_of(&l, 300);
	c.nr_nodes = 3;
	c.cpu_node = node;
	c.mem = mem;
	c.nr_mem = ARRAY_SIZE(mem);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	check_all_sums(&t);
	check_root(&t, 0, t.rsdp, true);
	s = table(&t, "SRAT");
	len = le32(s + 4);
	ck_assert_uint_eq(le32(s + 36), 1);
	for (off = 48; off < len; ) {
		const uint8_t *e = s + off;

		ck_assert_uint_ge(e[1], 2);
		if (e[0] == 0) {
			ck_assert_uint_eq(e[1], 16);
			ck_assert_uint_eq(e[3], cpus);
			ck_assert_uint_eq(e[2] | e[9] << 8 | e[10] << 16 | e[11] << 24,
					  node[cpus]);
			ck_assert_uint_eq(le32(e + 4), 1);
			cpus++;
		} else if (e[0] == 2) {
			ck_assert_uint_eq(e[1], 24);
			ck_assert_uint_eq(le32(e + 4), node[cpus]);
			ck_assert_uint_eq(le32(e + 8), cpus);
			cpus++;
		} else {
			ck_assert_uint_eq(e[0], 1);
			ck_assert_uint_eq(e[1], 40);
			ck_assert_uint_eq(le32(e + 2), mem[mems].node);
			ck_assert_uint_eq(le64(e + 8), mem[mems].base);
			ck_assert_uint_eq(le64(e + 16), mem[mems].size);
			ck_assert_uint_eq(le32(e + 28), mem[mems].hotplug ? 3 : 1);
			mems++;
		}
		off += e[1];
	}
	ck_assert_uint_eq(off, len);
	ck_assert_uint_eq(cpus, 300);
	ck_assert_uint_eq(mems, 3);
	acpi_tables_free(&t);

	/* One node: no SRAT, whatever the rest says. */
	c.nr_nodes = 1;
	c.cpu_node = NULL;
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_ptr_null(acpi_table_find(&t, "SRAT"));
	check_root(&t, 0, t.rsdp, false);
	acpi_tables_free(&t);
}
END_TEST

START_TEST(test_acpi_bad_cfg)
{
	static const struct acpi_numa_mem overlap[] = {
		{ 0, 2 * GiB, 0, false }, { 1 * GiB, 2 * GiB, 1, false },
	};
	static const struct acpi_numa_mem wrap[] = { { UINT64_MAX - 10, 100, 0, false } };
	static const struct acpi_numa_mem empty[] = { { 4 * GiB, 0, 0, false } };
	static const struct acpi_numa_mem badnode[] = { { 0, 1 * GiB, 2, false } };
	unsigned node[4] = { 0, 1, 0, 1 }, badcpu[4] = { 0, 1, 2, 0 };
	struct pc_layout l, bad_l;
	struct acpi_cfg c;
	struct acpi_tables t;
	int i;

	layout_256m(&l);
	for (i = 0; i < 22; i++) {
		c = cfg_of(&l, 4);
		c.nr_nodes = 2;
		c.cpu_node = node;
		bad_l = l;
		switch (i) {
		case 0: c.ncpus = 0; break;
		case 1: c.ncpus = ACPI_MAX_CPUS + 1; break;
		case 2: c.layout = NULL; break;
		case 3: c.ecam_size = 0; break;
		case 4: c.ecam_size = 512 * MiB; break;
		case 5: c.ecam_size = MiB + 4096; break;
		case 6: c.ecam_base = PC_ECAM_BASE + 4096; break;
		case 7: c.ecam_base = UINT64_MAX - MiB + 1; break;
		case 8: bad_l.pci32_end = bad_l.pci32_start; c.layout = &bad_l; break;
		case 9: bad_l.pci32_end = PC_4G + 4096; c.layout = &bad_l; break;
		case 10: bad_l.pci64_end = bad_l.pci64_start - 1; c.layout = &bad_l; break;
		case 11: c.cpu_node = NULL; break;
		case 12: c.cpu_node = badcpu; break;
		case 13: c.nr_nodes = ACPI_MAX_NODES + 1; break;
		case 14: c.mem = overlap; c.nr_mem = 2; break;
		case 15: c.mem = wrap; c.nr_mem = 1; break;
		case 16: c.mem = empty; c.nr_mem = 1; break;
		case 17: c.mem = badnode; c.nr_mem = 1; break;
		case 18: c.mem = NULL; c.nr_mem = 1; break;
		case 19: c.mem = overlap; c.nr_mem = ACPI_MAX_MEM_RANGES + 1; break;
		case 20: bad_l.pci32_start = bad_l.pci32_end + 1; c.layout = &bad_l; break;
		case 21: c.ecam_size = MiB / 2; break;
		}
		memset(&t, 0x5A, sizeof(t));
		ck_assert_msg(acpi_build(&c, &t) == -EINVAL, "case %d accepted", i);
		ck_assert_ptr_null(t.tables);             /* nothing to free */
		acpi_tables_free(&t);
	}
	ck_assert_int_eq(acpi_build(NULL, &t), -EINVAL);
	c = cfg_of(&l, 1);
	ck_assert_int_eq(acpi_build(&c, NULL), -EINVAL);
}
END_TEST

/* ---- iasl ------------------------------------------------------------------- */

static bool have_iasl(void)
{
	return access("/usr/bin/iasl", X_OK) == 0 || system("command -v iasl >/dev/null 2>&1") == 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Disassemble every table with iasl; returns the DSDT's .dsl text (free it). */
static char *iasl_all(const struct acpi_tables *t)
{
	char dir[] = "/tmp/vmm-acpi-XXXXXX", path[256], cmd[512];
	char *dsl = NULL;
	unsigned i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (i = 0; i < t->nr_locs; i++) {
		const struct acpi_table_loc *loc = &t->locs[i];
		char *log;
		FILE *f;
		int rc;

		snprintf(path, sizeof(path), "%s/%s.dat", dir, loc->sig);
		f = fopen(path, "wb");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(t->tables + loc->offset, 1, loc->length, f), loc->length);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat > %s.log 2>&1", dir, loc->sig,
			 loc->sig);
		rc = system(cmd);
		snprintf(path, sizeof(path), "%s/%s.log", dir, loc->sig);
		log = slurp(path);
		ck_assert_msg(rc == 0, "iasl -d %s: status %d\n%s", loc->sig, rc, log);
		ck_assert_msg(strstr(log, "Error") == NULL && strstr(log, "Warning") == NULL,
			      "iasl -d %s:\n%s", loc->sig, log);
		free(log);
		snprintf(path, sizeof(path), "%s/%s.dsl", dir, loc->sig);
		if (!strcmp(loc->sig, "DSDT"))
			dsl = slurp(path);
		else
			free(slurp(path));                /* it exists */
	}
	/* The disassembly compiles back cleanly: the AML is well-formed ASL, not just parseable. */
	{
		char *log;
		int rc;

		snprintf(cmd, sizeof(cmd), "cd %s && iasl -p re DSDT.dsl > re.log 2>&1", dir);
		rc = system(cmd);
		snprintf(path, sizeof(path), "%s/re.log", dir);
		log = slurp(path);
		ck_assert_msg(rc == 0 && strstr(log, "Compilation successful. 0 Errors, 0 Warnings"),
			      "iasl DSDT.dsl: status %d\n%s", rc, log);
		free(log);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_ptr_nonnull(dsl);
	return dsl;
}

static void check_dsl_has(const char *dsl, uint64_t v, int width)
{
	char s[32];

	snprintf(s, sizeof(s), "0x%0*" PRIX64 ",", width, v);
	ck_assert_msg(strstr(dsl, s) != NULL, "%s not in the DSDT", s);
}

START_TEST(test_acpi_iasl)
{
	static const struct acpi_numa_mem mem[] = {
		{ 0, 128 * MiB, 0, false }, { 128 * MiB, 128 * MiB, 1, true },
	};
	unsigned node[300], i, pass;
	struct pc_layout l;

	if (!have_iasl()) {
		fprintf(stderr, "\n*** SKIP: iasl not installed (apt-get install acpica-tools) ***\n\n");
		return;
	}
	for (i = 0; i < ARRAY_SIZE(node); i++)
		node[i] = i & 1;
	for (pass = 0; pass < 2; pass++) {
		struct acpi_cfg c;
		struct acpi_tables t;
		char *dsl;

		if (pass == 0)
			layout_256m(&l);
		else
			layout_1100g_amd(&l);
		c = cfg_of(&l, 300);                  /* xAPIC and x2APIC entries */
		c.nr_nodes = 2;
		c.cpu_node = node;
		c.mem = mem;
		c.nr_mem = ARRAY_SIZE(mem);
		ck_assert_int_eq(acpi_build(&c, &t), 0);
		dsl = iasl_all(&t);
		check_dsl_has(dsl, l.pci32_start, 8);
		check_dsl_has(dsl, l.pci32_end - 1, 8);
		check_dsl_has(dsl, l.pci32_end - l.pci32_start, 8);
		check_dsl_has(dsl, l.pci64_start, 16);
		check_dsl_has(dsl, l.pci64_end - 1, 16);
		check_dsl_has(dsl, l.pci64_end - l.pci64_start, 16);
		ck_assert_ptr_nonnull(strstr(dsl, "EisaId (\"PNP0A08\")"));
		ck_assert_ptr_nonnull(strstr(dsl, "EisaId (\"PNP0501\")"));
		ck_assert_ptr_nonnull(strstr(dsl, "Name (\\_S5, Package (0x04)"));
		ck_assert_ptr_nonnull(strstr(dsl, "Name (_PRT, Package (0x7C)"));
		ck_assert_ptr_nonnull(strstr(dsl, "0x001FFFFF,"));
		free(dsl);
		acpi_tables_free(&t);
	}
}
END_TEST

/* ---- placement ---------------------------------------------------------------- */

START_TEST(test_acpi_place)
{
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;
	unsigned i;

	layout_256m(&l);
	c = cfg_of(&l, 8);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_int_eq(acpi_place(&t, ACPI_DIRECT_TABLES, ACPI_DIRECT_RSDP), 0);
	ck_assert(t.placed);
	check_all_sums(&t);
	check_root(&t, ACPI_DIRECT_TABLES, t.rsdp, false);
	/* Every fixup now holds an absolute address inside the tables. */
	for (i = 0; i < t.nr_fixups; i++) {
		const uint8_t *p = (t.fixups[i].blob == ACPI_BLOB_RSDP ? t.rsdp : t.tables) +
				   t.fixups[i].offset;
		uint64_t v = t.fixups[i].size == 4 ? le32(p) : le64(p);

		ck_assert_uint_ge(v, ACPI_DIRECT_TABLES);
		ck_assert_uint_lt(v, ACPI_DIRECT_TABLES + t.tables_len);
	}
	ck_assert_uint_le(ACPI_DIRECT_TABLES + t.tables_len, ACPI_DIRECT_END);
	/* Once placed, no second placement and no loader. */
	ck_assert_int_eq(acpi_place(&t, ACPI_DIRECT_TABLES, ACPI_DIRECT_RSDP), -EINVAL);
	{
		uint8_t *cmds = NULL;
		size_t len = 0;

		ck_assert_int_eq(acpi_loader(&t, &cmds, &len), -EINVAL);
		ck_assert_ptr_null(cmds);
	}
	acpi_tables_free(&t);

	/* Elsewhere below 4 GiB (e.g. where a firmware would put them). */
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_int_eq(acpi_place(&t, 0x7FFE0000, 0xF5A40), 0);
	check_all_sums(&t);
	check_root(&t, 0x7FFE0000, t.rsdp, false);
	acpi_tables_free(&t);
}
END_TEST

START_TEST(test_acpi_place_errors)
{
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;
	uint8_t *copy, rsdp[ACPI_RSDP_LEN];
	int i;

	layout_256m(&l);
	c = cfg_of(&l, 8);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	copy = malloc(t.tables_len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, t.tables, t.tables_len);
	memcpy(rsdp, t.rsdp, sizeof(rsdp));
	for (i = 0; i < 9; i++) {
		uint64_t tg = ACPI_DIRECT_TABLES, rg = ACPI_DIRECT_RSDP;
		int want = -EINVAL;

		switch (i) {
		case 0: tg += 4; break;                           /* misaligned */
		case 1: rg += 8; break;                           /* RSDP not 16-aligned */
		case 2: rg = tg; break;                           /* overlap */
		case 3: tg = UINT64_MAX - 7; break;               /* wraps */
		case 4: rg = UINT64_MAX - 15; break;              /* RSDP wraps */
		case 5: tg = PC_4G - 64; want = -ERANGE; break;   /* crosses 4 GiB */
		case 6: tg = 0x100000000000ULL; want = -ERANGE; break;
		case 7: tg = ACPI_DIRECT_END - 64; want = -ENOSPC; break;
		case 8: rg = ACPI_DIRECT_END - 16; want = -ENOSPC; break;
		}
		ck_assert_msg(acpi_place(&t, tg, rg) == want, "case %d", i);
		ck_assert(!t.placed);
		ck_assert(!memcmp(copy, t.tables, t.tables_len));
		ck_assert(!memcmp(rsdp, t.rsdp, sizeof(rsdp)));
	}
	ck_assert_int_eq(acpi_place(NULL, ACPI_DIRECT_TABLES, ACPI_DIRECT_RSDP), -EINVAL);
	free(copy);
	acpi_tables_free(&t);
	/* A freed struct is refused too. */
	ck_assert_int_eq(acpi_place(&t, ACPI_DIRECT_TABLES, ACPI_DIRECT_RSDP), -EINVAL);
}
END_TEST

START_TEST(test_acpi_too_many_cpus)
{
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t;

	layout_256m(&l);
	/* 2048 vCPUs still fit below the EBDA... */
	c = cfg_of(&l, 2048);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_int_eq(acpi_place(&t, ACPI_DIRECT_TABLES, ACPI_DIRECT_RSDP), 0);
	acpi_tables_free(&t);
	/* ...4096 (an x2APIC MADT of 60+ KiB) do not, though the loader can take them. */
	c = cfg_of(&l, ACPI_MAX_CPUS);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_uint_gt(t.tables_len, ACPI_DIRECT_END - ACPI_DIRECT_TABLES);
	ck_assert_int_eq(acpi_place(&t, ACPI_DIRECT_TABLES, ACPI_DIRECT_RSDP), -ENOSPC);
	ck_assert(!t.placed);
	ck_assert_int_eq(acpi_place(&t, 0x7FF00000, 0xF0000), 0);
	check_all_sums(&t);
	acpi_tables_free(&t);
}
END_TEST

START_TEST(test_acpi_write_direct)
{
	struct pc_layout_cfg lc = { .ram_size = 64 * MiB, .phys_bits = 40,
				    .amd_hole = PC_AMD_HOLE_OFF, .acpi_low = true };
	struct pc_layout l;
	struct mem_space s, empty;
	struct mem_backend *ram;
	struct pc_mem *pc;
	struct acpi_cfg c;
	struct acpi_tables t;
	uint8_t *back, rsdp[ACPI_RSDP_LEN];
	char err[160];
	unsigned i;
	bool acpi_e820 = false;

	ck_assert_int_eq(pc_layout_compute(&lc, &l, err, sizeof(err)), 0);
	for (i = 0; i < l.nr_e820; i++) {
		if (l.e820[i].type == E820_ACPI) {
			ck_assert_uint_eq(l.e820[i].addr, ACPI_DIRECT_BASE);
			ck_assert_uint_eq(l.e820[i].addr + l.e820[i].size, ACPI_DIRECT_END);
			acpi_e820 = true;
		}
	}
	ck_assert(acpi_e820);
	pc = calloc(1, sizeof(*pc));
	ck_assert_ptr_nonnull(pc);
	ck_assert_int_eq(mem_space_init(&s, "acpi"), 0);
	ck_assert_int_eq(mem_backend_create(&ram, "acpi.ram", 64 * MiB), 0);
	ck_assert_int_eq(pc_mem_build(pc, &s, ram, NULL, &l), 0);

	c = cfg_of(&l, 4);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_int_eq(acpi_write_direct(&t, &s), 0);
	ck_assert_int_eq(mem_read(&s, ACPI_DIRECT_RSDP, rsdp, sizeof(rsdp)), 0);
	ck_assert(!memcmp(rsdp, t.rsdp, sizeof(rsdp)));
	back = malloc(t.tables_len);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(mem_read(&s, ACPI_DIRECT_TABLES, back, t.tables_len), 0);
	ck_assert(!memcmp(back, t.tables, t.tables_len));
	/* What the guest sees: the RSDP's XSDT pointer lands on "XSDT" in RAM. */
	ck_assert(!memcmp(back + (le64(rsdp + 24) - ACPI_DIRECT_TABLES), "XSDT", 4));
	free(back);
	ck_assert_int_eq(acpi_write_direct(&t, &s), -EINVAL);   /* already placed */
	acpi_tables_free(&t);

	/* No RAM there: -EFAULT, nothing written. */
	ck_assert_int_eq(mem_space_init(&empty, "none"), 0);
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_int_eq(acpi_write_direct(&t, &empty), -EFAULT);
	ck_assert_int_eq(acpi_write_direct(&t, NULL), -EINVAL);
	acpi_tables_free(&t);
	mem_space_destroy(&empty);

	mem_space_destroy(&s);
	mem_backend_destroy(ram);
	free(pc);
}
END_TEST

/* ---- linker/loader ------------------------------------------------------------- */

struct fake_file {
	const char *name;
	uint8_t *data;
	size_t len;
	uint64_t addr;   /* guest address the fake BIOS gave it */
	bool allocated;
};

/* Execute the commands the way SeaBIOS's romfile_loader does; fail on anything odd. */
static void run_loader(const uint8_t *cmds, size_t len, struct fake_file *files, unsigned nf)
{
	size_t off;

	ck_assert_uint_eq(len % ACPI_LOADER_CMD_SIZE, 0);
	for (off = 0; off < len; off += ACPI_LOADER_CMD_SIZE) {
		const uint8_t *c = cmds + off;
		uint32_t cmd = le32(c);
		struct fake_file *a = NULL, *b = NULL;
		unsigned i;

		ck_assert_uint_eq(c[4 + ACPI_LOADER_FILESZ - 1], 0);
		for (i = 0; i < nf; i++) {
			if (!strcmp((const char *)c + 4, files[i].name))
				a = &files[i];
		}
		ck_assert_msg(a != NULL, "unknown file %s", (const char *)c + 4);
		if (cmd == ACPI_LOADER_ALLOCATE) {
			uint32_t align = le32(c + 4 + ACPI_LOADER_FILESZ);
			uint8_t zone = c[4 + ACPI_LOADER_FILESZ + 4];

			ck_assert(!a->allocated);
			ck_assert_uint_eq(align & (align - 1), 0);
			ck_assert_uint_eq(a->addr % align, 0);
			if (!strcmp(a->name, ACPI_FILE_RSDP)) {
				ck_assert_uint_eq(zone, ACPI_LOADER_ZONE_FSEG);
				ck_assert_uint_eq(align, 16);
			} else {
				ck_assert_uint_eq(zone, ACPI_LOADER_ZONE_HIGH);
				ck_assert_uint_eq(align, 64);
			}
			a->allocated = true;
		} else if (cmd == ACPI_LOADER_ADD_POINTER) {
			uint32_t po = le32(c + 4 + 2 * ACPI_LOADER_FILESZ);
			uint8_t size = c[4 + 2 * ACPI_LOADER_FILESZ + 4];
			uint64_t v = 0;

			ck_assert_uint_eq(c[4 + 2 * ACPI_LOADER_FILESZ - 1], 0);
			for (i = 0; i < nf; i++) {
				if (!strcmp((const char *)c + 4 + ACPI_LOADER_FILESZ, files[i].name))
					b = &files[i];
			}
			ck_assert_ptr_nonnull(b);
			ck_assert(a->allocated && b->allocated);
			ck_assert(size == 1 || size == 2 || size == 4 || size == 8);
			ck_assert_uint_le((uint64_t)po + size, a->len);
			for (i = 0; i < size; i++)
				v |= (uint64_t)a->data[po + i] << (8 * i);
			v += b->addr;
			for (i = 0; i < size; i++)
				a->data[po + i] = (uint8_t)(v >> (8 * i));
		} else if (cmd == ACPI_LOADER_ADD_CHECKSUM) {
			uint32_t co = le32(c + 4 + ACPI_LOADER_FILESZ);
			uint32_t start = le32(c + 4 + ACPI_LOADER_FILESZ + 4);
			uint32_t clen = le32(c + 4 + ACPI_LOADER_FILESZ + 8);

			ck_assert(a->allocated);
			ck_assert_uint_lt(co, a->len);
			ck_assert_uint_le((uint64_t)start + clen, a->len);
			a->data[co] = (uint8_t)(a->data[co] - sum8(a->data + start, clen));
		} else {
			ck_abort_msg("unknown command %u", cmd);
		}
	}
}

START_TEST(test_acpi_loader)
{
	static const uint64_t tables_addr = 0x7FFC0040, rsdp_addr = 0xF5A30 + 0x10;
	unsigned node[6] = { 0, 0, 0, 1, 1, 1 }, i;
	static const struct acpi_numa_mem mem[] = { { 0, 128 * MiB, 0, false },
						    { 128 * MiB, 128 * MiB, 1, false } };
	struct pc_layout l;
	struct acpi_cfg c;
	struct acpi_tables t, placed;
	uint8_t *cmds = NULL;
	size_t len = 0;

	layout_1100g_amd(&l);
	c = cfg_of(&l, 6);
	c.nr_nodes = 2;
	c.cpu_node = node;
	c.mem = mem;
	c.nr_mem = 2;
	ck_assert_int_eq(acpi_build(&c, &t), 0);
	ck_assert_int_eq(acpi_loader(&t, &cmds, &len), 0);
	ck_assert_uint_eq(len, (2 + t.nr_fixups + t.nr_csums) * ACPI_LOADER_CMD_SIZE);
	/* Pointers: RSDP 2, XSDT 4, RSDT 4, FADT 2. Checksums: 7 tables + RSDP 2. */
	ck_assert_uint_eq(t.nr_fixups, 12);
	ck_assert_uint_eq(t.nr_csums, 9);
	/* Kinds in order: 2 ALLOCATE, the ADD_POINTERs, then the ADD_CHECKSUMs. */
	for (i = 0; i < len / ACPI_LOADER_CMD_SIZE; i++) {
		uint32_t want = i < 2 ? ACPI_LOADER_ALLOCATE :
				i < 2 + t.nr_fixups ? ACPI_LOADER_ADD_POINTER :
				ACPI_LOADER_ADD_CHECKSUM;

		ck_assert_uint_eq(le32(cmds + i * ACPI_LOADER_CMD_SIZE), want);
	}
	/* The RSDP's short checksum comes before its extended one. */
	{
		const uint8_t *a = cmds + (len - 2 * ACPI_LOADER_CMD_SIZE);
		const uint8_t *b = cmds + (len - ACPI_LOADER_CMD_SIZE);

		ck_assert_str_eq((const char *)a + 4, ACPI_FILE_RSDP);
		ck_assert_uint_eq(le32(a + 4 + ACPI_LOADER_FILESZ), 8);
		ck_assert_uint_eq(le32(a + 4 + ACPI_LOADER_FILESZ + 8), 20);
		ck_assert_uint_eq(le32(b + 4 + ACPI_LOADER_FILESZ), 32);
		ck_assert_uint_eq(le32(b + 4 + ACPI_LOADER_FILESZ + 8), 36);
	}

	/* Run them against copies of the blobs, at made-up BIOS addresses. */
	{
		struct fake_file files[2] = {
			{ ACPI_FILE_TABLES, malloc(t.tables_len), t.tables_len, tables_addr, false },
			{ ACPI_FILE_RSDP, malloc(ACPI_RSDP_LEN), ACPI_RSDP_LEN, rsdp_addr, false },
		};

		ck_assert_ptr_nonnull(files[0].data);
		ck_assert_ptr_nonnull(files[1].data);
		memcpy(files[0].data, t.tables, t.tables_len);
		memcpy(files[1].data, t.rsdp, ACPI_RSDP_LEN);
		run_loader(cmds, len, files, 2);

		/* Same bytes as acpi_place() at those addresses... */
		ck_assert_int_eq(acpi_build(&c, &placed), 0);
		ck_assert_int_eq(acpi_place(&placed, tables_addr, rsdp_addr), 0);
		ck_assert(!memcmp(files[0].data, placed.tables, t.tables_len));
		ck_assert(!memcmp(files[1].data, placed.rsdp, ACPI_RSDP_LEN));
		/* ...valid checksums, and an RSDP that leads to the XSDT. */
		check_all_sums(&placed);
		check_root(&placed, tables_addr, files[1].data, true);
		ck_assert(!memcmp(files[0].data + (le64(files[1].data + 24) - tables_addr),
				  "XSDT", 4));
		ck_assert(!memcmp(files[0].data + (le32(files[1].data + 16) - tables_addr),
				  "RSDT", 4));
		acpi_tables_free(&placed);
		free(files[0].data);
		free(files[1].data);
	}
	free(cmds);
	ck_assert_int_eq(acpi_loader(NULL, &cmds, &len), -EINVAL);
	ck_assert_int_eq(acpi_loader(&t, NULL, &len), -EINVAL);
	acpi_tables_free(&t);
	ck_assert_int_eq(acpi_loader(&t, &cmds, &len), -EINVAL);
}
END_TEST

/* Random descriptions: only 0 or -EINVAL, and any built table is consistent. */
START_TEST(test_acpi_random_cfg)
{
	struct acpi_numa_mem mem[4];
	unsigned node[600], i, j;
	struct pc_layout l;
	unsigned seed = 12345;

	layout_256m(&l);
	for (i = 0; i < 300; i++) {
		struct pc_layout rl = l;
		struct acpi_cfg c;
		struct acpi_tables t;
		int rc;

		c = cfg_of(&rl, (unsigned)(rand_r(&seed) % 600));
		if (rand_r(&seed) % 4 == 0)
			c.ecam_size = (uint64_t)rand_r(&seed) * 4096;
		if (rand_r(&seed) % 4 == 0)
			c.ecam_base = (uint64_t)rand_r(&seed) << 20;
		if (rand_r(&seed) % 8 == 0)
			rl.pci32_end = (uint64_t)rand_r(&seed) << 4;
		if (rand_r(&seed) % 8 == 0)
			rl.pci64_end = rl.pci64_start + ((uint64_t)rand_r(&seed) << 20) -
				       (1ULL << 40);
		c.nr_nodes = (unsigned)(rand_r(&seed) % 5);
		for (j = 0; j < ARRAY_SIZE(node); j++)
			node[j] = (unsigned)(rand_r(&seed) % 5);
		c.cpu_node = node;
		for (j = 0; j < ARRAY_SIZE(mem); j++) {
			mem[j].base = (uint64_t)(rand_r(&seed) % 64) << 30;
			mem[j].size = (uint64_t)(rand_r(&seed) % 4) << 30;
			mem[j].node = (unsigned)(rand_r(&seed) % 5);
			mem[j].hotplug = rand_r(&seed) & 1;
		}
		c.mem = mem;
		c.nr_mem = (unsigned)(rand_r(&seed) % 5);
		rc = acpi_build(&c, &t);
		ck_assert_msg(rc == 0 || rc == -EINVAL, "rc %d", rc);
		if (!rc) {
			check_all_sums(&t);
			check_madt(&t, c.ncpus);
			check_root(&t, 0, t.rsdp, c.nr_nodes > 1);
		}
		acpi_tables_free(&t);
	}
}
END_TEST

/* ---- acpi_pm --------------------------------------------------------------------- */

static void on_poweroff(void *opaque)
{
	unsigned *n = opaque;

	(*n)++;
}

START_TEST(test_acpi_pm)
{
	struct iobus bus;
	struct acpi_pm pm, pm2;
	unsigned n = 0, typ;
	uint64_t v;

	ck_assert_int_eq(iobus_init(&bus), 0);
	acpi_pm_init(&pm, on_poweroff, &n);
	ck_assert_int_eq(acpi_pm_register(&pm, &bus), 0);
	acpi_pm_init(&pm2, on_poweroff, &n);
	ck_assert_int_eq(acpi_pm_register(&pm2, &bus), -EEXIST);

	/* SLP_EN with SLP_TYP 5: exactly one call per write. */
	v = (ACPI_PM_SLP_TYP_S5 << 2) | ACPI_PM_SLP_EN;
	ck_assert_uint_eq(v, 0x34);
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 1, true, &v), 0);
	ck_assert_uint_eq(n, 1);
	/* Other sleep types, or no SLP_EN, do nothing. */
	for (typ = 0; typ < 8; typ++) {
		if (typ == ACPI_PM_SLP_TYP_S5)
			continue;
		v = (typ << 2) | ACPI_PM_SLP_EN;
		ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 1, true, &v), 0);
	}
	v = ACPI_PM_SLP_TYP_S5 << 2;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 1, true, &v), 0);
	v = 0xFF & ~ACPI_PM_SLP_EN;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 1, true, &v), 0);
	/* The status register: W1C of WAK_STS, never a power-off. */
	v = 0xFF;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_STS_PORT, 1, true, &v), 0);
	ck_assert_uint_eq(n, 1);
	/* Extra bits around a valid request still power off (bits 7,6,1,0 ignored). */
	v = 0xC3 | 0x34;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 1, true, &v), 0);
	ck_assert_uint_eq(n, 2);

	/* Reads are 0. */
	v = 0xAA;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0);
	v = 0xAA;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_STS_PORT, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0);

	/* Wider accesses are refused before the device sees them. */
	v = 0x3434;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 2, true, &v), -EINVAL);
	v = 0x34;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 4, true, &v), -EINVAL);
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_STS_PORT, 2, true, &v), -EINVAL);
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 8, false, &v), -EINVAL);
	ck_assert_uint_eq(v, 0xFFFFFFFFFFFFFFFFULL);
	ck_assert_uint_eq(n, 2);

	/* No callback: the request is dropped, nothing breaks. */
	ck_assert_int_eq(iobus_unregister(&bus, ACPI_PM_SLEEP_PORT, &pm), 0);
	acpi_pm_init(&pm2, NULL, NULL);
	ck_assert_int_eq(acpi_pm_register(&pm2, &bus), 0);
	v = 0x34;
	ck_assert_int_eq(iobus_dispatch(&bus, ACPI_PM_SLEEP_CTL_PORT, 1, true, &v), 0);
	ck_assert_uint_eq(n, 2);
	iobus_destroy(&bus);
}
END_TEST

Suite *acpi_suite(void);

Suite *acpi_suite(void)
{
	Suite *s = suite_create("acpi");
	TCase *aml = tcase_create("aml");
	TCase *tc = tcase_create("tables");
	TCase *pm = tcase_create("acpi_pm");

	tcase_add_test(aml, test_aml_pkglength_edges);
	tcase_add_test(aml, test_aml_block_sizes);
	tcase_add_test(aml, test_aml_integers_strings);
	tcase_add_test(aml, test_aml_names);
	tcase_add_test(aml, test_aml_objects);
	tcase_add_test(aml, test_aml_resources);
	tcase_add_test(aml, test_aml_errors);
	suite_add_tcase(s, aml);

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_acpi_sums_and_root);
	tcase_add_test(tc, test_acpi_fadt);
	tcase_add_test(tc, test_acpi_madt);
	tcase_add_test(tc, test_acpi_mcfg);
	tcase_add_test(tc, test_acpi_dsdt_windows);
	tcase_add_test(tc, test_acpi_prt);
	tcase_add_test(tc, test_acpi_dsdt_seabios);
	tcase_add_test(tc, test_acpi_srat);
	tcase_add_test(tc, test_acpi_bad_cfg);
	tcase_add_test(tc, test_acpi_iasl);
	tcase_add_test(tc, test_acpi_place);
	tcase_add_test(tc, test_acpi_place_errors);
	tcase_add_test(tc, test_acpi_too_many_cpus);
	tcase_add_test(tc, test_acpi_write_direct);
	tcase_add_test(tc, test_acpi_loader);
	tcase_add_test(tc, test_acpi_random_cfg);
	suite_add_tcase(s, tc);

	tcase_add_test(pm, test_acpi_pm);
	suite_add_tcase(s, pm);
	return s;
}

UNIT_MAIN(acpi_suite);
