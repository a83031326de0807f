/*
 * firmware/boot.h - direct Linux boot: the 64-bit bzImage boot protocol and
 * PVH ELF kernels, plus the Intel MP table.
 *
 * Contract
 * - Called by vmm/ once per boot, before the first vCPU runs, with a const
 *   description of the machine (the PC layout, its E820) and the address
 *   space to write. Guest memory is only touched through mem_write().
 * - The whole input (kernel, initrd, command line, CPU count, the places they
 *   go in RAM) is validated before the first byte is written, so a refused
 *   image leaves guest memory as it was.
 * - Errors: 0 or -errno (WUR): -EINVAL for a malformed input, -E2BIG for one
 *   that does not fit, -ENOEXEC for an image that is not a kernel we can
 *   boot. A one-line reason goes into @err when it is non-NULL.
 * - No state: every function works on its arguments alone.
 *
 * Guest physical placement (all below 1 MiB sits inside low RAM, below the
 * EBDA, clear of the IVT/BDA; Linux reserves the whole first MiB anyway):
 *
 *   0x00000-0x004FF  real-mode IVT + BDA (only BDA 0x40E, the EBDA segment)
 *   0x00500-0x0051F  GDT: null, unused, code 0x10, data 0x18
 *   0x01000          PML4               \
 *   0x02000          PDPT                > identity map of 0-4 GiB, 2 MiB pages
 *   0x03000-0x06FFF  4 page directories /  (bzImage only)
 *   0x07000-0x07FFF  boot_params (zero page, bzImage)
 *   0x08000          hvm_start_info (PVH), 0x08040 module list,
 *                    0x08080 memory map (up to 128 entries)
 *   0x09000-0x09FFF  boot stack (rsp = 0x9FF0)
 *   0x20000-0x2FFFF  kernel command line (NUL-terminated)
 *   0x30000-0x8FFFF  setup_data chain (bzImage: SETUP_DTB)
 *   0x90000-0x9FBFF  the VMM's ACPI tables (E820 "ACPI data"; vmm/ writes them)
 *   0x9FC00-0x9FFFF  MP floating pointer + configuration table (EBDA)
 *   0x100000+        bzImage protected-mode code (or at pref_address when
 *                    relocatable and it fits) / PVH PT_LOAD segments at p_paddr
 *   top of RAM<4G    initrd, page-aligned, below initrd_addr_max
 */
#ifndef VMM_FIRMWARE_BOOT_H
#define VMM_FIRMWARE_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "memory/memory.h"
#include "memory/pc.h"

#define FW_GDT_GPA         0x500ULL
#define FW_PML4_GPA        0x1000ULL
#define FW_PDPT_GPA        0x2000ULL
#define FW_PD_GPA          0x3000ULL      /* 4 pages: one per GiB below 4 GiB */
#define FW_ZERO_PAGE_GPA   0x7000ULL
#define FW_START_INFO_GPA  0x8000ULL
#define FW_MODLIST_GPA     0x8040ULL
#define FW_MEMMAP_GPA      0x8080ULL
#define FW_STACK_TOP       0x9FF0ULL
#define FW_CMDLINE_GPA     0x20000ULL
#define FW_CMDLINE_MAX     0x10000ULL     /* bytes, including the NUL */
#define FW_SETUP_DATA_GPA  0x30000ULL
#define FW_SETUP_DATA_MAX  0x60000ULL     /* up to the ACPI tables at 0x90000 */
#define FW_SETUP_DTB       2              /* setup_data type SETUP_DTB */
#define FW_MPTABLE_GPA     PC_EBDA_START  /* Linux scans the first KiB of the EBDA */
#define FW_KERNEL_MIN_GPA  PC_HIGH_START  /* nothing of the kernel below 1 MiB */

#define FW_SEL_CODE        0x10
#define FW_SEL_DATA        0x18

/* The MP table at FW_MPTABLE_GPA must fit the EBDA's last KiB below 640K. */
#define FW_MPTABLE_MAX_CPUS_EBDA 40u
/* 8-bit APIC ids; the IOAPIC takes id ncpus, and 0xFF means broadcast. */
#define FW_MPTABLE_MAX_CPUS      254u

enum fw_entry_mode { FW_ENTRY_PROT32, FW_ENTRY_LONG64 };

struct fw_entry {            /* register state the VMM (vmm/) loads into the BSP */
	enum fw_entry_mode mode;
	uint64_t rip, rsp, rsi, rbx;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base; uint16_t gdt_limit;
	uint16_t code_sel, data_sel;   /* selectors into that GDT: flat 4 GiB, code is 64-bit (L=1) in LONG64, 32-bit in PROT32 */
	/*
	 * The raw descriptors written at code_sel and data_sel, so the VMM can
	 * fill the hidden segment state without reading guest memory back.
	 */
	uint64_t code_desc, data_desc;
};

struct fw_linux_cfg {
	struct mem_space *space;
	const struct pc_layout *layout;   /* E820 comes from layout->e820 */
	const uint8_t *kernel; size_t kernel_len;
	const uint8_t *initrd; size_t initrd_len; /* initrd may be NULL/0 */
	const char *cmdline;              /* may be NULL: empty */
	unsigned ncpus;
	uint64_t rsdp_gpa;                /* ACPI RSDP already in guest memory; 0: none */
	/* bzImage only: a flattened device tree handed over as setup_data SETUP_DTB */
	const void *dtb; size_t dtb_len;
	/*
	 * Guest RAM is known to hold only zeros (a VM that never ran): PVH
	 * skips the kernel's all-zero pages and its bss instead of writing
	 * zeros, which only costs the host fresh pages the guest may never use.
	 */
	bool ram_is_zero;
};

/*
 * Detect the format (ELF with a PVH note -> PVH; "HdrS" bzImage -> 64-bit
 * boot protocol), load kernel, initrd, cmdline, boot_params or
 * hvm_start_info (+ memmap + module list), page tables and GDT, the MP
 * table; fill @entry. On bad input return -EINVAL/-E2BIG/-ENOEXEC with a
 * one-line reason in err.
 */
int fw_load_linux(const struct fw_linux_cfg *cfg, struct fw_entry *entry, char *err,
		  size_t errlen) WUR;

/* Parsers exposed for unit tests: validate only, no guest memory. */
struct fw_bzimage_info {
	uint16_t version;
	uint8_t setup_sects;          /* as used: 0 in the image reads as 4 */
	uint32_t pm_offset, pm_size;  /* protected-mode code in the file */
	uint32_t syssize;             /* its declared size, 16-byte units */
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint16_t xloadflags;
	uint32_t kernel_alignment;
	bool relocatable;
	uint32_t hdr_end;             /* 0x202 + byte at 0x201: end of the setup header */
};
int fw_bzimage_parse(const uint8_t *img, size_t len, struct fw_bzimage_info *out, char *err,
		     size_t errlen) WUR;

struct fw_elf_info {
	uint64_t pvh_entry;
	uint64_t lowest_paddr, highest_paddr_end;
	unsigned nr_load;             /* PT_LOAD segments with p_memsz > 0 */
};
int fw_elf_parse(const uint8_t *img, size_t len, struct fw_elf_info *out, char *err,
		 size_t errlen) WUR;

/*
 * Intel MP table (floating pointer + config table) for ncpus LAPICs (ids
 * 0..n-1), one IOAPIC (id n, 0xFEC00000, 24 pins), ISA bus and the 16 ISA
 * IRQs routed to IOAPIC pins (IRQ0 -> pin 2, the rest identity), written at
 * @gpa (in the EBDA, 0x9FC00); also sets BDA 0x40E to the EBDA segment.
 * -EINVAL for ncpus 0 or a @gpa not on a 16-byte boundary, -E2BIG when the
 * table would not fit (more than FW_MPTABLE_MAX_CPUS, or past 640K),
 * -EFAULT when the target is not RAM.
 */
int fw_mptable_write(struct mem_space *space, uint64_t gpa, unsigned ncpus) WUR;
/* Bytes fw_mptable_write() writes for @ncpus. */
size_t fw_mptable_size(unsigned ncpus);

#endif
