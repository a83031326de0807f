/*
 * memory/pc.h - the x86 PC (Q35-like) guest physical layout.
 *
 * Contract
 * - pc_layout_compute() is pure: from the configuration it places low RAM,
 *   the 32-bit PCI hole, ECAM, RAM above 4 GiB (moved past reserved IOVA
 *   ranges such as the AMD HyperTransport hole), the hotplug area and the
 *   64-bit PCI window, and checks it all fits the guest's phys-bits. It fails
 *   with -EINVAL/-ERANGE and a one-line reason in @err.
 * - pc_mem_build() puts that layout into an address space as separate
 *   unmergeable aliases of one RAM backend (below 1 MiB, each PAM segment,
 *   the SMRAM window, 1 MiB to TSEG, the TSEG pieces, above 4 GiB), so that
 *   PAM/SMRAM/TSEG changes touch only their own piece (invariant I1).
 * - The E820 table and the CMOS memory-size values are derived from the
 *   layout, never computed separately.
 * - pc_mem_build_smm() (optional, when the hypervisor has an SMM address
 *   space) makes a second space follow the first and adds the SMRAM and
 *   TSEG DRAM that only SMM sees; every register write then updates both
 *   spaces in one transaction group (all or nothing).
 */
#ifndef VMM_MEMORY_PC_H
#define VMM_MEMORY_PC_H

#include "memory/memory.h"

/* Reasons for holes; each constant says why it is where it is. */
#define PC_LOW_RAM_END     0xA0000ULL      /* 640 KiB: VGA/SMRAM window starts here */
#define PC_EBDA_START      0x9FC00ULL      /* last KiB below 640K: EBDA / MP table, kept in E820 */
#define PC_ACPI_LOW_START  0x90000ULL      /* direct boot: the VMM's ACPI tables up to the EBDA */
#define PC_VGA_START       0xA0000ULL      /* legacy VGA / SMRAM window, 128 KiB */
#define PC_PAM_START       0xC0000ULL      /* 13 PAM segments up to 1 MiB */
#define PC_BIOS_START      0xE0000ULL      /* last 128 KiB of the firmware image is mirrored here */
#define PC_HIGH_START      0x100000ULL     /* 1 MiB */
#define PC_ECAM_BASE       0xB0000000ULL   /* Q35 PCIEXBAR default, 256 buses */
#define PC_ECAM_SIZE       0x10000000ULL
#define PC_PCI32_START     0xC0000000ULL   /* 32-bit PCI MMIO window, above ECAM */
#define PC_IOAPIC_BASE     0xFEC00000ULL   /* IOAPIC; the 32-bit window ends here */
#define PC_KVM_TSS         0xFEFFC000ULL   /* 3 pages for KVM_SET_TSS_ADDR + identity map page */
#define PC_LAPIC_BASE      0xFEE00000ULL
#define PC_4G              0x100000000ULL
#define PC_AMD_HT_START    0xFD00000000ULL /* AMD HyperTransport reserved IOVA, up to 1 TiB */
#define PC_AMD_HT_END      0x10000000000ULL
#define PC_LOWMEM_MAX      0x80000000ULL   /* Q35: with >= 2.75 GiB, low RAM stops at 2 GiB */

#define PC_PAM_SEGMENTS 13

enum e820_type {
	E820_RAM = 1,
	E820_RESERVED = 2,
	E820_ACPI = 3,
	E820_NVS = 4,
	E820_UNUSABLE = 5,
};

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct iova_range {
	uint64_t start;
	uint64_t end; /* inclusive */
};

enum pc_amd_hole { PC_AMD_HOLE_AUTO, PC_AMD_HOLE_ON, PC_AMD_HOLE_OFF };

struct pc_layout_cfg {
	uint64_t ram_size;              /* bytes, > 1 MiB, multiple of 4 KiB */
	unsigned phys_bits;             /* guest phys-bits (CPUID 0x80000008) */
	enum pc_amd_hole amd_hole;
	bool host_is_amd;               /* consulted when amd_hole is AUTO */
	/* extra usable-IOVA description (from VFIO); nr 0 when unknown */
	const struct iova_range *usable_iova;
	unsigned nr_usable_iova;
	uint64_t hotplug_size;          /* 0: no hotplug area */
	uint64_t pci64_size;            /* 64-bit PCI window size; 0 picks a default */
	/*
	 * Direct boot (no firmware): [PC_ACPI_LOW_START, PC_EBDA_START) holds the
	 * VMM's ACPI tables and is E820 "ACPI data". Firmware allocates its own.
	 */
	bool acpi_low;
};

struct pc_layout {
	uint64_t ram_size;
	uint64_t below_4g;              /* RAM bytes below 4 GiB (incl. the first MiB) */
	uint64_t above_4g;              /* RAM bytes above 4 GiB */
	uint64_t above_4g_start;        /* 4 GiB, or past a reserved IOVA range */
	uint64_t pci32_start, pci32_end;/* [start, end) */
	uint64_t pci64_start, pci64_end;
	uint64_t hotplug_start, hotplug_end;
	bool amd_hole;                  /* the HT range is reserved */
	unsigned phys_bits;
	unsigned phys_bits_needed;
	struct e820_entry e820[16];
	unsigned nr_e820;
};

int pc_layout_compute(const struct pc_layout_cfg *cfg, struct pc_layout *out,
		      char *err, size_t errlen) WUR;

/* CMOS memory-size registers derived from the layout (values per the PC BIOS convention). */
struct pc_cmos_mem {
	uint16_t base_kb;    /* 0x15/0x16: 640 */
	uint16_t ext_kb;     /* 0x17/0x18 and 0x30/0x31: KiB 1 MiB-64 MiB, capped at 0xFC00 */
	uint16_t mem_16m_64k;/* 0x34/0x35: RAM 16 MiB-4 GiB in 64 KiB units */
	uint32_t mem_4g_64k; /* 0x5B/0x5C/0x5D: RAM above 4 GiB in 64 KiB units (24 bits) */
};
void pc_layout_cmos(const struct pc_layout *l, struct pc_cmos_mem *out);

/* ---- the layout in the region tree, with PAM and SMRAM -------------------- */

enum pam_mode { PAM_OFF = 0, PAM_RO = 1, PAM_WO = 2, PAM_RW = 3 };

/* SMRAM (0x9D) bits. */
#define PC_SMRAM_D_OPEN      0x40
#define PC_SMRAM_D_CLS       0x20
#define PC_SMRAM_D_LCK       0x10
#define PC_SMRAM_G_SMRAME    0x08
#define PC_SMRAM_C_BASE_SEG  0x02 /* hard-wired 010b: compatible SMRAM at 0xA0000 */
#define PC_SMRAM_POWER_ON    0x02
/* ESMRAMC (0x9E) bits. */
#define PC_ESMRAMC_H_SMRAME  0x80
#define PC_ESMRAMC_E_SMERR   0x40 /* write 1 to clear */
#define PC_ESMRAMC_SM_CACHE  0x20 /* read-only 1 */
#define PC_ESMRAMC_SM_L1     0x10 /* read-only 1 */
#define PC_ESMRAMC_SM_L2     0x08 /* read-only 1 */
#define PC_ESMRAMC_TSEG_SZ   0x06 /* 00: 1 MiB, 01: 2 MiB, 10: 8 MiB, 11: reserved */
#define PC_ESMRAMC_T_EN      0x01
#define PC_ESMRAMC_POWER_ON  0x38

/* TSEG is carved out of the top 8 MiB of low RAM; below 16 MiB there is none. */
#define PC_TSEG_MAX          (8 * MiB)
#define PC_TSEG_MIN_LOWMEM   (16 * MiB)

/*
 * One PAM segment: a container holding its DRAM side (an alias of RAM) and
 * its PCI/ROM side (read-only RAM of the firmware image for 0xE0000-0xFFFFF,
 * unassigned MMIO elsewhere or without firmware).
 */
struct pc_pam_seg {
	uint64_t start, size;
	enum pam_mode mode;
	struct mem_region container;
	struct mem_region dram;      /* alias of RAM at the same offset */
	struct mem_region rom;       /* ROM (RAM of the bios backend) or unassigned MMIO */
	bool rom_is_ram;
	struct pc_mem *pc;           /* back pointer for write ops */
};

struct pc_mem {
	struct mem_space *space;
	struct mem_backend *ram;
	struct mem_backend *bios;    /* firmware image backend, NULL when none */
	struct pc_layout layout;
	bool built;

	struct mem_region ram_all;       /* the whole RAM backend: target of every alias */
	struct mem_region ram_low;       /* 0 - 640 KiB */
	struct mem_region ram_mid;       /* 1 MiB - (below_4g - TSEG max) */
	struct mem_region tseg[3];       /* TSEG pieces: 8 MiB..2, 2..1, 1..0 below top of low RAM */
	struct mem_region ram_high;      /* above 4 GiB */
	struct mem_region bios_4g;       /* the whole firmware image ending at 4 GiB (ROM) */
	/*
	 * The hotplug area [hotplug_start, hotplug_end), empty, when the layout
	 * has one: virtio-mem adds one alias per block at offsets inside it.
	 * It is unmergeable, so every block below it is its own range and
	 * plugging one calls listeners for that block only (invariant I2).
	 */
	struct mem_region hotplug;
	bool has_tseg;                   /* low RAM is large enough for TSEG */

	struct pc_pam_seg pam[PC_PAM_SEGMENTS];
	uint8_t pam_regs[7];             /* PAM0..PAM6 as last written (reserved bits 0) */

	/* SMRAM window 0xA0000-0xBFFFF: VGA (unassigned) or SMRAM DRAM */
	struct mem_region smram_container;
	struct mem_region smram_dram;
	struct mem_region smram_vga;
	struct mem_region tseg_blackhole[3];
	uint8_t smram, esmramc;          /* current register values */

	/*
	 * The SMM view (pc_mem_build_smm), NULL when none: a follower of
	 * @space with overlays at priority 1. smm_window shows SMRAM DRAM at
	 * 0xA0000 while G_SMRAME && !H_SMRAME; smm_tseg[i] show the TSEG
	 * pieces' DRAM while T_EN && G_SMRAME hide them from @space.
	 */
	struct mem_space *smm;
	struct mem_region smm_window;
	struct mem_region smm_tseg[3];
};

/*
 * Build the layout into @space from one RAM backend and an optional firmware
 * image backend (its size a multiple of 64 KiB, mapped to end at 4 GiB; its
 * last 128 KiB back the 0xE0000-0xFFFFF PAM segments' ROM side).
 */
int pc_mem_build(struct pc_mem *pc, struct mem_space *space, struct mem_backend *ram,
		 struct mem_backend *bios, const struct pc_layout *layout) WUR;

/*
 * The SMM address space (KVM address space 1) as a follower of pc->space:
 * everything the system view shows, except that
 * - 0xA0000-0xBFFFF is SMRAM DRAM whenever G_SMRAME is set and H_SMRAME is
 *   clear, whatever D_OPEN and D_LCK say. D_CLS (data accesses in SMM go to
 *   VGA, code fetches to SMRAM) is ignored: a memslot cannot tell a fetch
 *   from a load. With H_SMRAME, SMRAM would be at 0xFEDA0000, which is not
 *   mapped (an SMRAM change would then reach above 1 MiB): the window is VGA
 *   in both views, as on the datasheet.
 * - TSEG (T_EN with G_SMRAME, TSEG_SZ from the top of low RAM) is DRAM where
 *   the system view has its blackhole.
 * Call after pc_mem_build, outside any transaction; @smm is an initialized
 * space not following anything (it may have listeners). On failure @smm is
 * left not following. Without this call nothing changes. @smm must outlive
 * every later register write (destroy it at teardown only).
 */
int pc_mem_build_smm(struct pc_mem *pc, struct mem_space *smm) WUR;

/* PAM register (0x90-0x96) write: @reg 0..6, @val the register byte. One transaction. */
int pc_mem_pam_write(struct pc_mem *pc, unsigned reg, uint8_t val) WUR;
/* SMRAM (0x9D) and ESMRAMC (0x9E) writes; lock semantics (D_LCK) enforced here. */
int pc_mem_smram_write(struct pc_mem *pc, uint8_t val) WUR;
int pc_mem_esmramc_write(struct pc_mem *pc, uint8_t val) WUR;
/* Reset the PAM/SMRAM registers to their power-on values (firmware visible at 0xE0000). */
int pc_mem_reset(struct pc_mem *pc) WUR;

#endif
