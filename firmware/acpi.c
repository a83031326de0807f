/*
 * firmware/acpi.c - ACPI table builder (see acpi.h for the contract).
 *
 * Layouts follow ACPI 6.5: RSDP 5.2.5.3, header 5.2.6, RSDT/XSDT 5.2.7-8,
 * FADT 5.2.9 (276 bytes, revision 6), MADT 5.2.12, SRAT 5.2.16; MCFG from
 * the PCI Firmware spec 3.2 section 4.1.2.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "devices/acpi_pm.h"
#include "devices/cmos.h"
#include "devices/debugport.h"
#include "devices/i8042.h"
#include "devices/serial.h"
#include "firmware/acpi.h"
#include "firmware/aml.h"
#include "firmware/fw_internal.h"

#define ACPI_OEM_ID        "VMM   "     /* 6 bytes */
#define ACPI_OEM_TABLE_ID  "VMMTABLE"   /* 8 bytes */
#define ACPI_CREATOR_ID    "VMM "       /* 4 bytes */
#define ACPI_HYPERVISOR_ID "VMMVMM  "   /* 8 bytes, FADT "Hypervisor Vendor Identity" */
#define ACPI_OEM_REVISION  1
#define ACPI_CREATOR_REV   1

#define HDR_LEN            36
#define HDR_LENGTH_OFF     4
#define HDR_CSUM_OFF       9

/* RSDP fields. */
#define RSDP_CSUM_OFF      8
#define RSDP_OEM_OFF       9
#define RSDP_REV_OFF       15
#define RSDP_RSDT_OFF      16
#define RSDP_LEN_OFF       20
#define RSDP_XSDT_OFF      24
#define RSDP_XCSUM_OFF     32
#define RSDP_V1_LEN        20

/* FADT fields (offsets from the table start). */
#define FADT_LEN           276
#define FADT_REVISION      6
#define FADT_MINOR         5          /* ACPI 6.5 */
#define FADT_DSDT          40
#define FADT_IAPC_BOOT     109
#define FADT_FLAGS         112
#define FADT_RESET_REG     116
#define FADT_RESET_VALUE   128
#define FADT_MINOR_OFF     131
#define FADT_X_DSDT        140
#define FADT_SLEEP_CTL     244
#define FADT_SLEEP_STS     256
#define FADT_HYPERVISOR    268

#define FADT_F_WBINVD      (1u << 0)
#define FADT_F_PWR_BUTTON  (1u << 4)  /* 1: no fixed-feature power button */
#define FADT_F_SLP_BUTTON  (1u << 5)  /* 1: no fixed-feature sleep button */
#define FADT_F_RESET_REG   (1u << 10)
#define FADT_F_HW_REDUCED  (1u << 20)

#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042           (1u << 1)
#define IAPC_NO_VGA         (1u << 2)

#define GAS_SYSTEM_IO      1
#define GAS_ACCESS_BYTE    1
#define ACPI_RESET_VALUE   0x06       /* SYS_RST | RST_CPU at 0xCF9 */

/* MADT. */
#define MADT_REVISION      5
#define MADT_PCAT_COMPAT   1u
#define MADT_LAPIC         0
#define MADT_IOAPIC        1
#define MADT_ISO           2
#define MADT_LAPIC_NMI     4
#define MADT_X2APIC        9
#define MADT_X2APIC_NMI    10
#define MADT_ENABLED       1u
#define MPS_EDGE_HIGH      0x0005     /* polarity 01 active high, trigger 01 edge */
#define ACPI_ALL_CPUS_UID8 0xFF
#define ACPI_ALL_CPUS_UID32 0xFFFFFFFFu
#define ACPI_NMI_LINT      1
#define ACPI_IRQ0_GSI      2          /* the PIT's IRQ0 is wired to IOAPIC pin 2 */

/* SRAT. */
#define SRAT_REVISION      3
#define SRAT_LAPIC         0
#define SRAT_MEM           1
#define SRAT_X2APIC        2
#define SRAT_ENABLED       1u
#define SRAT_HOTPLUG       2u

#define MCFG_REVISION      1
#define XSDT_REVISION      1
#define RSDT_REVISION      1
#define DSDT_REVISION      2          /* 2: 64-bit AML integers (QWord windows) */

#define ACPI_SLP_TYP_S5    5
#define PCI_SLOTS          32
#define PCI_PINS           4
#define I8042_IRQ          1

struct acpi_builder {
	struct aml_buf blob;               /* the "tables" blob */
	struct acpi_tables *t;
	int err;
};

static void acpi_add_fixup(struct acpi_builder *ab, enum acpi_blob blob, size_t off,
			   uint8_t size)
{
	struct acpi_tables *t = ab->t;

	if (t->nr_fixups == ACPI_MAX_FIXUPS) {
		ab->err = -EINVAL;
		return;
	}
	t->fixups[t->nr_fixups++] = (struct acpi_fixup){ blob, (uint32_t)off, size };
}

static void acpi_add_csum(struct acpi_tables *t, enum acpi_blob blob, uint32_t off,
			  uint32_t start, uint32_t len)
{
	/* Sized for every table this file builds: cannot overflow. */
	t->csums[t->nr_csums++] = (struct acpi_csum){ blob, off, start, len };
}

/* Open a table: 8-byte aligned, header with length and checksum still 0. */
static size_t acpi_table_begin(struct acpi_builder *ab, const char *sig, uint8_t rev)
{
	struct aml_buf *b = &ab->blob;
	size_t start;

	aml_pad(b, 8);
	start = b->len;
	aml_bytes(b, sig, 4);
	aml_u32(b, 0);
	aml_u8(b, rev);
	aml_u8(b, 0);
	aml_bytes(b, ACPI_OEM_ID, 6);
	aml_bytes(b, ACPI_OEM_TABLE_ID, 8);
	aml_u32(b, ACPI_OEM_REVISION);
	aml_bytes(b, ACPI_CREATOR_ID, 4);
	aml_u32(b, ACPI_CREATOR_REV);
	return start;
}

static void acpi_table_end(struct acpi_builder *ab, size_t start)
{
	struct aml_buf *b = &ab->blob;
	struct acpi_tables *t = ab->t;
	struct acpi_table_loc *loc;

	if (b->err)
		return;
	if (t->nr_locs == ACPI_MAX_TABLES || b->len - start > UINT32_MAX) {
		ab->err = -EINVAL;
		return;
	}
	put_le32(b->data + start + HDR_LENGTH_OFF, (uint32_t)(b->len - start));
	loc = &t->locs[t->nr_locs++];
	memcpy(loc->sig, b->data + start, 4);
	loc->sig[4] = '\0';
	loc->offset = (uint32_t)start;
	loc->length = (uint32_t)(b->len - start);
	acpi_add_csum(t, ACPI_BLOB_TABLES, loc->offset + HDR_CSUM_OFF, loc->offset, loc->length);
}

/* ---- DSDT ---------------------------------------------------------------- */

static void acpi_dsdt_pci0(struct aml_buf *b, const struct acpi_cfg *cfg)
{
	const struct pc_layout *l = cfg->layout;
	unsigned slot, pin;

	aml_device_begin(b, "PCI0");
	aml_name_eisaid(b, "_HID", "PNP0A08");   /* PCI Express root bridge */
	aml_name_eisaid(b, "_CID", "PNP0A03");   /* ... compatible with PCI */
	aml_name_int(b, "_SEG", 0);
	aml_name_int(b, "_UID", 0);
	aml_name_int(b, "_BBN", 0);
	aml_method_begin(b, "_STA", 0);
	aml_return(b);
	aml_integer(b, 0x0F);                     /* present, enabled, shown, functioning */
	aml_end(b);

	aml_name(b, "_CRS");
	aml_buffer_begin(b);
	/* The buses ECAM covers, as MCFG says. */
	aml_res_word_bus(b, 0x00, (uint16_t)(cfg->ecam_size / MiB - 1));
	/* The configuration ports 0xCF8-0xCFF belong to the bridge itself. */
	aml_res_io(b, 0x0CF8, 0x0CF8, 0x01, 0x08);
	aml_res_word_io(b, 0x0000, 0x0CF7);
	aml_res_word_io(b, 0x0D00, 0xFFFF);
	aml_res_dword_mem(b, AML_RES_MEM_NONCACHEABLE, (uint32_t)l->pci32_start,
			  (uint32_t)(l->pci32_end - 1));
	if (l->pci64_end > l->pci64_start)
		aml_res_qword_mem(b, AML_RES_MEM_CACHEABLE, l->pci64_start, l->pci64_end - 1);
	aml_res_end_tag(b);
	aml_end(b);

	/* GSI-direct routing: {0xSSSSFFFF, pin, 0 (no link device), GSI}. */
	aml_name(b, "_PRT");
	aml_package_begin(b, (PCI_SLOTS - 1) * PCI_PINS);
	for (slot = 1; slot < PCI_SLOTS; slot++) {
		for (pin = 0; pin < PCI_PINS; pin++) {
			aml_package_begin(b, 4);
			aml_integer(b, (uint64_t)slot << 16 | 0xFFFF);
			aml_integer(b, pin);
			aml_integer(b, 0);
			aml_integer(b, acpi_pci_intx_gsi(slot, pin));
			aml_end(b);
		}
	}
	aml_end(b);
	aml_end(b);
}

static void acpi_dsdt_legacy(struct aml_buf *b)
{
	aml_device_begin(b, "COM1");
	aml_name_eisaid(b, "_HID", "PNP0501");
	aml_name_int(b, "_UID", 1);
	aml_name(b, "_CRS");
	aml_buffer_begin(b);
	aml_res_io(b, SERIAL_COM1_BASE, SERIAL_COM1_BASE, 0x01, 0x08);
	aml_res_irq_noflags(b, SERIAL_COM1_IRQ);
	aml_res_end_tag(b);
	aml_end(b);
	aml_end(b);

	/* SeaBIOS looks for PNP0303 in the DSDT before it probes the i8042. */
	aml_device_begin(b, "PS2K");
	aml_name_eisaid(b, "_HID", "PNP0303");
	aml_name(b, "_CRS");
	aml_buffer_begin(b);
	aml_res_io(b, I8042_DATA_PORT, I8042_DATA_PORT, 0x01, 0x01);
	aml_res_io(b, I8042_CMD_PORT, I8042_CMD_PORT, 0x01, 0x01);
	aml_res_irq_noflags(b, I8042_IRQ);
	aml_res_end_tag(b);
	aml_end(b);
	aml_end(b);

	aml_device_begin(b, "RTC");
	aml_name_eisaid(b, "_HID", "PNP0B00");
	aml_name(b, "_CRS");
	aml_buffer_begin(b);
	aml_res_io(b, CMOS_BASE, CMOS_BASE, 0x01, CMOS_LEN);
	aml_res_irq_noflags(b, CMOS_IRQ);
	aml_res_end_tag(b);
	aml_end(b);
	aml_end(b);
}

static size_t acpi_build_dsdt(struct acpi_builder *ab, const struct acpi_cfg *cfg)
{
	struct aml_buf *b = &ab->blob;
	size_t start = acpi_table_begin(ab, "DSDT", DSDT_REVISION);

	/* \_S5: SLP_TYP 5 for the sleep control register (devices/acpi_pm.h). */
	aml_name(b, "\\_S5");
	aml_package_begin(b, 4);
	aml_integer(b, ACPI_SLP_TYP_S5);
	aml_integer(b, ACPI_SLP_TYP_S5);
	aml_integer(b, 0);
	aml_integer(b, 0);
	aml_end(b);

	aml_scope_begin(b, "\\_SB");
	acpi_dsdt_pci0(b, cfg);
	acpi_dsdt_legacy(b);
	aml_end(b);

	acpi_table_end(ab, start);
	return start;
}

/* ---- FADT ---------------------------------------------------------------- */

static void acpi_gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = 8;                 /* bit width */
	p[2] = 0;                 /* bit offset */
	p[3] = GAS_ACCESS_BYTE;
	put_le64(p + 4, port);
}

static size_t acpi_build_fadt(struct acpi_builder *ab, size_t dsdt)
{
	uint8_t f[FADT_LEN];
	size_t start = acpi_table_begin(ab, "FACP", FADT_REVISION);

	memset(f, 0, sizeof(f));
	/* Pointers hold the DSDT's offset in "tables"; both forms, see acpi_build(). */
	put_le32(f + FADT_DSDT, (uint32_t)dsdt);
	put_le64(f + FADT_X_DSDT, dsdt);
	put_le16(f + FADT_IAPC_BOOT, IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_NO_VGA);
	put_le32(f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
				 FADT_F_RESET_REG | FADT_F_HW_REDUCED);
	acpi_gas_io8(f + FADT_RESET_REG, DEBUGPORT_RCR_PORT);
	f[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
	f[FADT_MINOR_OFF] = FADT_MINOR;
	acpi_gas_io8(f + FADT_SLEEP_CTL, ACPI_PM_SLEEP_CTL_PORT);
	acpi_gas_io8(f + FADT_SLEEP_STS, ACPI_PM_SLEEP_STS_PORT);
	memcpy(f + FADT_HYPERVISOR, ACPI_HYPERVISOR_ID, 8);
	aml_bytes(&ab->blob, f + HDR_LEN, sizeof(f) - HDR_LEN);

	acpi_add_fixup(ab, ACPI_BLOB_TABLES, start + FADT_DSDT, 4);
	acpi_add_fixup(ab, ACPI_BLOB_TABLES, start + FADT_X_DSDT, 8);
	acpi_table_end(ab, start);
	return start;
}

/* ---- MADT ---------------------------------------------------------------- */

static size_t acpi_build_madt(struct acpi_builder *ab, const struct acpi_cfg *cfg)
{
	struct aml_buf *b = &ab->blob;
	size_t start = acpi_table_begin(ab, "APIC", MADT_REVISION);
	unsigned i;

	aml_u32(b, (uint32_t)PC_LAPIC_BASE);
	aml_u32(b, MADT_PCAT_COMPAT);             /* dual 8259s present (KVM's PIC) */
	for (i = 0; i < cfg->ncpus; i++) {
		if (i < ACPI_XAPIC_CPUS) {
			aml_u8(b, MADT_LAPIC);
			aml_u8(b, 8);
			aml_u8(b, (uint8_t)i);    /* ACPI processor UID */
			aml_u8(b, (uint8_t)i);    /* APIC id */
			aml_u32(b, MADT_ENABLED);
		} else {
			aml_u8(b, MADT_X2APIC);
			aml_u8(b, 16);
			aml_u16(b, 0);
			aml_u32(b, i);            /* x2APIC id */
			aml_u32(b, MADT_ENABLED);
			aml_u32(b, i);            /* ACPI processor UID */
		}
	}
	aml_u8(b, MADT_IOAPIC);
	aml_u8(b, 12);
	aml_u8(b, ACPI_IOAPIC_ID);
	aml_u8(b, 0);
	aml_u32(b, (uint32_t)PC_IOAPIC_BASE);
	aml_u32(b, 0);                            /* GSI base */

	aml_u8(b, MADT_ISO);
	aml_u8(b, 10);
	aml_u8(b, 0);                             /* bus: ISA */
	aml_u8(b, 0);                             /* IRQ0 */
	aml_u32(b, ACPI_IRQ0_GSI);
	aml_u16(b, MPS_EDGE_HIGH);

	aml_u8(b, MADT_LAPIC_NMI);
	aml_u8(b, 6);
	aml_u8(b, ACPI_ALL_CPUS_UID8);
	aml_u16(b, MPS_EDGE_HIGH);
	aml_u8(b, ACPI_NMI_LINT);
	if (cfg->ncpus > ACPI_XAPIC_CPUS) {
		aml_u8(b, MADT_X2APIC_NMI);
		aml_u8(b, 12);
		aml_u16(b, MPS_EDGE_HIGH);
		aml_u32(b, ACPI_ALL_CPUS_UID32);
		aml_u8(b, ACPI_NMI_LINT);
		aml_u8(b, 0);
		aml_u16(b, 0);
	}
	acpi_table_end(ab, start);
	return start;
}

/* ---- MCFG, SRAT ---------------------------------------------------------- */

static size_t acpi_build_mcfg(struct acpi_builder *ab, const struct acpi_cfg *cfg)
{
	struct aml_buf *b = &ab->blob;
	size_t start = acpi_table_begin(ab, "MCFG", MCFG_REVISION);

	aml_u64(b, 0);                            /* reserved */
	aml_u64(b, cfg->ecam_base);
	aml_u16(b, 0);                            /* segment */
	aml_u8(b, 0);                             /* start bus */
	aml_u8(b, (uint8_t)(cfg->ecam_size / MiB - 1));
	aml_u32(b, 0);
	acpi_table_end(ab, start);
	return start;
}

static size_t acpi_build_srat(struct acpi_builder *ab, const struct acpi_cfg *cfg)
{
	struct aml_buf *b = &ab->blob;
	size_t start = acpi_table_begin(ab, "SRAT", SRAT_REVISION);
	unsigned i;

	aml_u32(b, 1);                            /* reserved, 1 for compatibility */
	aml_u64(b, 0);
	for (i = 0; i < cfg->ncpus; i++) {
		uint32_t node = cfg->cpu_node[i];

		if (i < ACPI_XAPIC_CPUS) {
			aml_u8(b, SRAT_LAPIC);
			aml_u8(b, 16);
			aml_u8(b, (uint8_t)node);         /* proximity domain [7:0] */
			aml_u8(b, (uint8_t)i);            /* APIC id */
			aml_u32(b, SRAT_ENABLED);
			aml_u8(b, 0);                     /* local SAPIC EID */
			aml_u8(b, (uint8_t)(node >> 8));  /* proximity domain [31:8] */
			aml_u16(b, (uint16_t)(node >> 16));
			aml_u32(b, 0);                    /* clock domain */
		} else {
			aml_u8(b, SRAT_X2APIC);
			aml_u8(b, 24);
			aml_u16(b, 0);
			aml_u32(b, node);
			aml_u32(b, i);
			aml_u32(b, SRAT_ENABLED);
			aml_u32(b, 0);
			aml_u32(b, 0);
		}
	}
	for (i = 0; i < cfg->nr_mem; i++) {
		const struct acpi_numa_mem *m = &cfg->mem[i];

		aml_u8(b, SRAT_MEM);
		aml_u8(b, 40);
		aml_u32(b, m->node);
		aml_u16(b, 0);
		aml_u64(b, m->base);
		aml_u64(b, m->size);
		aml_u32(b, 0);
		aml_u32(b, SRAT_ENABLED | (m->hotplug ? SRAT_HOTPLUG : 0));
		aml_u64(b, 0);
	}
	acpi_table_end(ab, start);
	return start;
}

/* ---- XSDT, RSDT, RSDP ---------------------------------------------------- */

static size_t acpi_build_sdt(struct acpi_builder *ab, bool x, const size_t *tbl, unsigned n)
{
	struct aml_buf *b = &ab->blob;
	size_t start = acpi_table_begin(ab, x ? "XSDT" : "RSDT", x ? XSDT_REVISION : RSDT_REVISION);
	unsigned i;

	for (i = 0; i < n; i++) {
		acpi_add_fixup(ab, ACPI_BLOB_TABLES, b->len, x ? 8 : 4);
		if (x)
			aml_u64(b, tbl[i]);
		else
			aml_u32(b, (uint32_t)tbl[i]);
	}
	acpi_table_end(ab, start);
	return start;
}

static void acpi_build_rsdp(struct acpi_builder *ab, size_t rsdt, size_t xsdt)
{
	struct acpi_tables *t = ab->t;
	uint8_t *r = t->rsdp;

	memset(r, 0, ACPI_RSDP_LEN);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + RSDP_OEM_OFF, ACPI_OEM_ID, 6);
	r[RSDP_REV_OFF] = 2;
	put_le32(r + RSDP_RSDT_OFF, (uint32_t)rsdt);
	put_le32(r + RSDP_LEN_OFF, ACPI_RSDP_LEN);
	put_le64(r + RSDP_XSDT_OFF, xsdt);
	acpi_add_fixup(ab, ACPI_BLOB_RSDP, RSDP_RSDT_OFF, 4);
	acpi_add_fixup(ab, ACPI_BLOB_RSDP, RSDP_XSDT_OFF, 8);
	acpi_add_csum(t, ACPI_BLOB_RSDP, RSDP_CSUM_OFF, 0, RSDP_V1_LEN);
	acpi_add_csum(t, ACPI_BLOB_RSDP, RSDP_XCSUM_OFF, 0, ACPI_RSDP_LEN);
}

static uint8_t *acpi_blob(struct acpi_tables *t, enum acpi_blob blob, size_t *len)
{
	if (blob == ACPI_BLOB_RSDP) {
		*len = ACPI_RSDP_LEN;
		return t->rsdp;
	}
	*len = t->tables_len;
	return t->tables;
}

static void acpi_checksum_all(struct acpi_tables *t)
{
	unsigned i;

	for (i = 0; i < t->nr_csums; i++) {
		const struct acpi_csum *c = &t->csums[i];
		size_t len, j;
		uint8_t *p = acpi_blob(t, c->blob, &len);
		uint8_t sum = 0;

		p[c->offset] = 0;
		for (j = 0; j < c->length; j++)
			sum = (uint8_t)(sum + p[c->start + j]);
		p[c->offset] = (uint8_t)-sum;
	}
}

/* ---- validation ---------------------------------------------------------- */

static int acpi_check_cfg(const struct acpi_cfg *cfg)
{
	const struct pc_layout *l = cfg->layout;
	unsigned i, j;

	if (!l || cfg->ncpus == 0 || cfg->ncpus > ACPI_MAX_CPUS)
		return -EINVAL;
	if (cfg->ecam_size < MiB || cfg->ecam_size > 256 * MiB || cfg->ecam_size % MiB ||
	    cfg->ecam_base % MiB || range_invalid(cfg->ecam_base, cfg->ecam_size))
		return -EINVAL;
	if (l->pci32_start >= l->pci32_end || l->pci32_end > PC_4G ||
	    l->pci64_start > l->pci64_end)
		return -EINVAL;
	if (cfg->nr_nodes <= 1)
		return 0;
	if (cfg->nr_nodes > ACPI_MAX_NODES || !cfg->cpu_node || cfg->nr_mem > ACPI_MAX_MEM_RANGES ||
	    (cfg->nr_mem && !cfg->mem))
		return -EINVAL;
	for (i = 0; i < cfg->ncpus; i++) {
		if (cfg->cpu_node[i] >= cfg->nr_nodes)
			return -EINVAL;
	}
	for (i = 0; i < cfg->nr_mem; i++) {
		const struct acpi_numa_mem *m = &cfg->mem[i];

		if (m->node >= cfg->nr_nodes || range_invalid(m->base, m->size))
			return -EINVAL;
		for (j = 0; j < i; j++) {
			if (ranges_overlap(m->base, m->size, cfg->mem[j].base, cfg->mem[j].size))
				return -EINVAL;
		}
	}
	return 0;
}

/* ---- public -------------------------------------------------------------- */

int acpi_build(const struct acpi_cfg *cfg, struct acpi_tables *out)
{
	struct acpi_builder ab;
	size_t tbl[ACPI_MAX_TABLES], dsdt, rsdt, xsdt;
	unsigned n = 0;
	int rc;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!cfg)
		return -EINVAL;
	rc = acpi_check_cfg(cfg);
	if (rc)
		return rc;

	memset(&ab, 0, sizeof(ab));
	aml_init(&ab.blob);
	ab.t = out;

	dsdt = acpi_build_dsdt(&ab, cfg);
	tbl[n++] = acpi_build_fadt(&ab, dsdt);
	tbl[n++] = acpi_build_madt(&ab, cfg);
	tbl[n++] = acpi_build_mcfg(&ab, cfg);
	if (cfg->nr_nodes > 1)
		tbl[n++] = acpi_build_srat(&ab, cfg);
	xsdt = acpi_build_sdt(&ab, true, tbl, n);
	/*
	 * An RSDT too: Linux uses the XSDT, but SeaBIOS's find_acpi_table()
	 * walks only the RSDT (reset register, DSDT scan for PS/2 and COM).
	 */
	rsdt = acpi_build_sdt(&ab, false, tbl, n);

	rc = aml_finish(&ab.blob);
	if (!rc)
		rc = ab.err;
	if (!rc && (ab.blob.len > UINT32_MAX || rsdt > UINT32_MAX))
		rc = -E2BIG;
	if (rc)
		goto fail;

	out->tables = ab.blob.data;
	out->tables_len = ab.blob.len;
	ab.blob.data = NULL;
	acpi_build_rsdp(&ab, rsdt, xsdt);
	acpi_checksum_all(out);
	return 0;

fail:
	aml_free(&ab.blob);
	acpi_tables_free(out);
	return rc;
}

int acpi_place(struct acpi_tables *t, uint64_t tables_gpa, uint64_t rsdp_gpa)
{
	unsigned i;

	if (!t || !t->tables || t->placed)
		return -EINVAL;
	if (tables_gpa % 8 || rsdp_gpa % 16 || range_invalid(tables_gpa, t->tables_len) ||
	    range_invalid(rsdp_gpa, ACPI_RSDP_LEN) ||
	    ranges_overlap(tables_gpa, t->tables_len, rsdp_gpa, ACPI_RSDP_LEN))
		return -EINVAL;
	if ((tables_gpa >= ACPI_DIRECT_BASE && tables_gpa < ACPI_DIRECT_END &&
	     !range_within(tables_gpa, t->tables_len, ACPI_DIRECT_BASE,
			   ACPI_DIRECT_END - ACPI_DIRECT_BASE)) ||
	    (rsdp_gpa >= ACPI_DIRECT_BASE && rsdp_gpa < ACPI_DIRECT_END &&
	     !range_within(rsdp_gpa, ACPI_RSDP_LEN, ACPI_DIRECT_BASE,
			   ACPI_DIRECT_END - ACPI_DIRECT_BASE)))
		return -ENOSPC;
	if (tables_gpa + t->tables_len > PC_4G)
		return -ERANGE;

	for (i = 0; i < t->nr_fixups; i++) {
		const struct acpi_fixup *f = &t->fixups[i];
		size_t len;
		uint8_t *p = acpi_blob(t, f->blob, &len) + f->offset;

		if (f->size == 4)
			put_le32(p, (uint32_t)(get_le32(p) + tables_gpa));
		else
			put_le64(p, get_le64(p) + tables_gpa);
	}
	acpi_checksum_all(t);
	t->placed = true;
	return 0;
}

int acpi_write_direct(struct acpi_tables *t, struct mem_space *space)
{
	size_t off = ACPI_DIRECT_TABLES - ACPI_DIRECT_RSDP;
	uint8_t *img;
	int rc;

	if (!space)
		return -EINVAL;
	rc = acpi_place(t, ACPI_DIRECT_TABLES, ACPI_DIRECT_RSDP);
	if (rc)
		return rc;
	/* One write of RSDP + gap + tables, so a refused write leaves RAM untouched. */
	img = calloc(1, off + t->tables_len);
	if (!img)
		return -ENOMEM;
	memcpy(img, t->rsdp, ACPI_RSDP_LEN);
	memcpy(img + off, t->tables, t->tables_len);
	rc = mem_write(space, ACPI_DIRECT_RSDP, img, off + t->tables_len);
	free(img);
	return rc;
}

static void acpi_loader_name(uint8_t *p, const char *name)
{
	/* Names are our constants, all shorter than ACPI_LOADER_FILESZ. */
	memcpy(p, name, strlen(name) + 1);
}

int acpi_loader(const struct acpi_tables *t, uint8_t **out, size_t *len)
{
	static const char *const file[] = {
		[ACPI_BLOB_TABLES] = ACPI_FILE_TABLES,
		[ACPI_BLOB_RSDP] = ACPI_FILE_RSDP,
	};
	size_t n;
	uint8_t *buf, *c;
	unsigned i;

	if (!t || !out || !len || !t->tables || t->placed)
		return -EINVAL;
	n = 2 + t->nr_fixups + t->nr_csums;
	buf = calloc(n, ACPI_LOADER_CMD_SIZE);
	if (!buf)
		return -ENOMEM;
	c = buf;

	/* The RSDP must sit in the F segment, where OSes scan for it. */
	put_le32(c, ACPI_LOADER_ALLOCATE);
	acpi_loader_name(c + 4, ACPI_FILE_RSDP);
	put_le32(c + 4 + ACPI_LOADER_FILESZ, 16);
	c[4 + ACPI_LOADER_FILESZ + 4] = ACPI_LOADER_ZONE_FSEG;
	c += ACPI_LOADER_CMD_SIZE;

	put_le32(c, ACPI_LOADER_ALLOCATE);
	acpi_loader_name(c + 4, ACPI_FILE_TABLES);
	put_le32(c + 4 + ACPI_LOADER_FILESZ, 64);
	c[4 + ACPI_LOADER_FILESZ + 4] = ACPI_LOADER_ZONE_HIGH;
	c += ACPI_LOADER_CMD_SIZE;

	/* Pointers first: a checksum must see the patched bytes. */
	for (i = 0; i < t->nr_fixups; i++, c += ACPI_LOADER_CMD_SIZE) {
		const struct acpi_fixup *f = &t->fixups[i];

		put_le32(c, ACPI_LOADER_ADD_POINTER);
		acpi_loader_name(c + 4, file[f->blob]);
		acpi_loader_name(c + 4 + ACPI_LOADER_FILESZ, ACPI_FILE_TABLES);
		put_le32(c + 4 + 2 * ACPI_LOADER_FILESZ, f->offset);
		c[4 + 2 * ACPI_LOADER_FILESZ + 4] = f->size;
	}
	for (i = 0; i < t->nr_csums; i++, c += ACPI_LOADER_CMD_SIZE) {
		const struct acpi_csum *k = &t->csums[i];

		put_le32(c, ACPI_LOADER_ADD_CHECKSUM);
		acpi_loader_name(c + 4, file[k->blob]);
		put_le32(c + 4 + ACPI_LOADER_FILESZ, k->offset);
		put_le32(c + 4 + ACPI_LOADER_FILESZ + 4, k->start);
		put_le32(c + 4 + ACPI_LOADER_FILESZ + 8, k->length);
	}
	*out = buf;
	*len = n * ACPI_LOADER_CMD_SIZE;
	return 0;
}

const struct acpi_table_loc *acpi_table_find(const struct acpi_tables *t, const char *sig)
{
	unsigned i;

	if (!t || !sig)
		return NULL;
	for (i = 0; i < t->nr_locs; i++) {
		if (!strncmp(t->locs[i].sig, sig, 4) && strlen(sig) == 4)
			return &t->locs[i];
	}
	return NULL;
}

void acpi_tables_free(struct acpi_tables *t)
{
	if (!t)
		return;
	free(t->tables);
	memset(t, 0, sizeof(*t));
}
