/*
 * firmware/acpi.h - the ACPI tables the VMM builds for its guests: RSDP,
 * XSDT (+ RSDT), FADT (hardware-reduced), DSDT, MADT, MCFG and, with more
 * than one NUMA node, SRAT.
 *
 * Contract
 * - acpi_build() turns a const machine description into two blobs: "tables"
 *   (every table but the RSDP, each 8-byte aligned) and the 36-byte "rsdp".
 *   Every pointer field holds an offset into "tables" and is listed in
 *   fixups[]; every checksum is listed in csums[] (and already right for the
 *   offset form). It validates the whole description first: -EINVAL for a
 *   bad one, -ENOMEM. The result is freed with acpi_tables_free(), which is
 *   safe on a zeroed or half-built struct and twice.
 * - Two ways to hand the tables to the guest:
 *   (a) direct boot: acpi_place() adds the guest addresses to each pointer
 *       and redoes the checksums; the caller then writes both blobs into
 *       guest RAM (acpi_write_direct() does both at ACPI_DIRECT_*).
 *   (b) SeaBIOS: the unplaced blobs go to fw_cfg as ACPI_FILE_TABLES and
 *       ACPI_FILE_RSDP, with acpi_loader()'s commands as ACPI_FILE_LOADER
 *       (QEMU's BIOS linker/loader format, see ACPI_LOADER_*).
 *   A placed struct cannot be placed again or given to acpi_loader()
 *   (-EINVAL); build a new one instead.
 * - Machine facts the tables state, which the rest of the VMM must match:
 *   LAPIC ids = vCPU index (xAPIC entries below 255, x2APIC entries from
 *   255); one IOAPIC, id ACPI_IOAPIC_ID, at PC_IOAPIC_BASE, GSI base 0;
 *   ISA IRQ0 -> GSI 2 (edge, high), other ISA IRQs identity; PCI INTx of
 *   slot s, pin p (0 = INTA) -> GSI acpi_pci_intx_gsi(s, p) (level, active
 *   low, as _PRT GSIs are). THE PCI CORE MUST ROUTE INTx WITH THAT SAME
 *   FUNCTION. Reset: write 0x06 to I/O port 0xCF9 (devices/debugport).
 *   Power off: the HW-reduced sleep registers of devices/acpi_pm.h with
 *   \_S5 = {5, 5, 0, 0}.
 * - No state: every function works on its arguments alone.
 */
#ifndef VMM_FIRMWARE_ACPI_H
#define VMM_FIRMWARE_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "memory/memory.h"
#include "memory/pc.h"

/*
 * Direct boot: [ACPI_DIRECT_BASE, ACPI_DIRECT_END) is E820 "ACPI data"
 * (memory/pc, pc_layout_cfg.acpi_low); RSDP at its start, the tables 64
 * bytes later. It ends where the EBDA (MP table) begins. Linux does not scan this area for
 * the RSDP: the loader passes ACPI_DIRECT_RSDP in boot_params.acpi_rsdp_addr
 * or hvm_start_info.rsdp_paddr.
 */
#define ACPI_DIRECT_BASE   0x90000ULL
#define ACPI_DIRECT_END    0x9FC00ULL
#define ACPI_DIRECT_RSDP   ACPI_DIRECT_BASE
#define ACPI_DIRECT_TABLES (ACPI_DIRECT_BASE + 0x40)
_Static_assert(ACPI_DIRECT_BASE == PC_ACPI_LOW_START && ACPI_DIRECT_END == PC_EBDA_START,
	       "the direct-boot ACPI region is the E820 'ACPI data' range of memory/pc.h");

#define ACPI_RSDP_LEN      36
/* LAPIC ids 0..254 fit xAPIC MADT entries; 255 is the broadcast id. */
#define ACPI_XAPIC_CPUS    255u
#define ACPI_MAX_CPUS      4096u
#define ACPI_MAX_NODES     64u
#define ACPI_MAX_MEM_RANGES 256u

/*
 * The IOAPIC id: 0, the value KVM's in-kernel IOAPIC resets its 4-bit ID
 * register to, so the table and the device agree (ACPI IOAPIC ids are a
 * namespace of their own, apart from LAPIC ids). The MP table uses ncpus.
 */
#define ACPI_IOAPIC_ID     0
#define ACPI_PCI_GSI_BASE  16u

/*
 * INTx routing (GSI-direct _PRT, no link devices): slot 1..31, pin 0..3
 * (INTA..INTD). The classic swizzle over the four IOAPIC pins 16-19. The
 * PCI core must compute a device's GSI with this very function.
 */
static inline unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin)
{
	return ACPI_PCI_GSI_BASE + ((slot + pin) % 4);
}

/* fw_cfg file names SeaBIOS (and OVMF) look for. */
#define ACPI_FILE_TABLES   "etc/acpi/tables"
#define ACPI_FILE_RSDP     "etc/acpi/rsdp"
#define ACPI_FILE_LOADER   "etc/table-loader"

/* BIOS linker/loader commands: 128 bytes, little-endian (SeaBIOS romfile_loader). */
#define ACPI_LOADER_CMD_SIZE 128
#define ACPI_LOADER_FILESZ   56
#define ACPI_LOADER_ALLOCATE     1  /* file[56], align u32, zone u8 */
#define ACPI_LOADER_ADD_POINTER  2  /* dest[56], src[56], offset u32, size u8 */
#define ACPI_LOADER_ADD_CHECKSUM 3  /* file[56], offset u32, start u32, length u32 */
#define ACPI_LOADER_ZONE_HIGH    1
#define ACPI_LOADER_ZONE_FSEG    2

enum acpi_blob { ACPI_BLOB_TABLES, ACPI_BLOB_RSDP };

/* A pointer field in @blob at @offset, @size 4 or 8 bytes, into "tables". */
struct acpi_fixup {
	enum acpi_blob blob;
	uint32_t offset;
	uint8_t size;
};

/* The checksum byte at @offset makes bytes [start, start+length) sum to 0. */
struct acpi_csum {
	enum acpi_blob blob;
	uint32_t offset, start, length;
};

/* Where one table sits in "tables". */
struct acpi_table_loc {
	char sig[5];
	uint32_t offset, length;
};

/* One SRAT memory affinity range. */
struct acpi_numa_mem {
	uint64_t base, size;
	unsigned node;
	bool hotplug;
};

struct acpi_cfg {
	const struct pc_layout *layout;  /* PCI windows for \_SB.PCI0._CRS */
	unsigned ncpus;                  /* 1..ACPI_MAX_CPUS */
	uint64_t ecam_base, ecam_size;   /* size: 1..256 MiB, MiB multiple; base MiB-aligned */
	/* NUMA: with nr_nodes <= 1 there is no SRAT and the rest is ignored. */
	unsigned nr_nodes;               /* <= ACPI_MAX_NODES */
	const unsigned *cpu_node;        /* [ncpus]: node of each vCPU */
	const struct acpi_numa_mem *mem; /* [nr_mem], no two overlapping */
	unsigned nr_mem;                 /* <= ACPI_MAX_MEM_RANGES */
};

#define ACPI_MAX_TABLES 8
#define ACPI_MAX_FIXUPS (2 + 2 * ACPI_MAX_TABLES + 2)
#define ACPI_MAX_CSUMS  (ACPI_MAX_TABLES + 2)

struct acpi_tables {
	uint8_t *tables;
	size_t tables_len;
	uint8_t rsdp[ACPI_RSDP_LEN];
	struct acpi_fixup fixups[ACPI_MAX_FIXUPS];
	unsigned nr_fixups;
	/* In the order they must be computed (the RSDP's 20-byte one before its 36-byte one). */
	struct acpi_csum csums[ACPI_MAX_CSUMS];
	unsigned nr_csums;
	struct acpi_table_loc locs[ACPI_MAX_TABLES];
	unsigned nr_locs;
	bool placed;
};

/*
 * Build every table for @cfg into @out (zeroed first, also on error).
 * -EINVAL for a bad description (see struct acpi_cfg), -ENOMEM.
 */
int acpi_build(const struct acpi_cfg *cfg, struct acpi_tables *out) WUR;

/*
 * Patch every pointer to an absolute guest address (tables at @tables_gpa,
 * 8-byte aligned; RSDP at @rsdp_gpa, 16-byte aligned) and redo the
 * checksums. -EINVAL for misalignment, wrap-around, overlap or a second
 * call; -ERANGE when the tables end above 4 GiB (RSDT and FADT.DSDT are
 * 32-bit); -ENOSPC when a blob starts inside the direct-boot region
 * [ACPI_DIRECT_BASE, ACPI_DIRECT_END) but does not end inside it.
 * On error nothing is changed.
 */
int acpi_place(struct acpi_tables *t, uint64_t tables_gpa, uint64_t rsdp_gpa) WUR;

/*
 * Direct boot in one call: acpi_place() at ACPI_DIRECT_TABLES /
 * ACPI_DIRECT_RSDP, then both blobs written to guest RAM in one mem_write
 * (-EFAULT when that is not RAM: nothing is written, but @t stays placed).
 * The loader then hands ACPI_DIRECT_RSDP to the kernel (boot_params /
 * hvm_start_info), as Linux does not scan 0x90000 for the RSDP.
 */
int acpi_write_direct(struct acpi_tables *t, struct mem_space *space) WUR;

/*
 * The etc/table-loader blob for unplaced tables: ALLOCATE rsdp (FSEG, align
 * 16) and tables (HIGH, align 64), one ADD_POINTER per fixup, one
 * ADD_CHECKSUM per checksum, in that order. *out is malloc'd (free()).
 */
int acpi_loader(const struct acpi_tables *t, uint8_t **out, size_t *len) WUR;

/* The table with signature @sig ("FACP", "APIC", ...), or NULL. */
const struct acpi_table_loc *acpi_table_find(const struct acpi_tables *t, const char *sig);

void acpi_tables_free(struct acpi_tables *t);

#endif
