/*
 * firmware/linuxboot.h - Linux boot through SeaBIOS: the kernel, initrd and
 * command line handed over in fw_cfg, loaded by our option ROM
 * (firmware/optionrom/linuxboot.S), the way QEMU's -kernel does with a BIOS.
 *
 * Contract
 * - Called by vmm/ once, after fw_cfg_init() and before the first vCPU
 *   runs, when the machine boots a BIOS image (SeaBIOS) with --kernel. It
 *   reads a const PC layout and writes nothing to guest memory: it only adds
 *   fw_cfg items. The guest's option ROM does the loading at boot time.
 * - Accepted kernels: bzImage, boot protocol >= 2.12 with a 64-bit entry
 *   (exactly what fw_bzimage_parse() accepts for direct boot), loaded high
 *   (LOADED_HIGH), real-mode setup of at most FW_LB_SETUP_MAX bytes.
 * - Placement (QEMU's x86_load_linux for a modern kernel):
 *     FW_LB_SETUP_GPA    real-mode setup (boot sector + setup code); its
 *                        64 KiB segment holds setup, heap and stack
 *     FW_LB_CMDLINE_GPA  command line, NUL-terminated, right after that
 *                        segment (cmd_line_ptr); below FW_LB_BOUNCE_GPA
 *     FW_LB_BOUNCE_GPA   the ROM's 32 KiB bounce buffer when fw_cfg has no DMA
 *     FW_LB_KERNEL_GPA   protected-mode code (1 MiB); the decompressor's
 *                        footprint (init_size at the run address) is kept
 *                        clear of the initrd
 *     initrd             page-aligned, as high as possible below
 *                        min(initrd_addr_max + 1, top of RAM below 4 GiB -
 *                        FW_LB_TOP_GAP), in E820 RAM
 * - The setup header copy in FW_CFG_SETUP_DATA is patched: vid_mode 0xFFFF,
 *   type_of_loader 0xB0, loadflags |= CAN_USE_HEAP, heap_end_ptr
 *   (FW_LB_HEAP_END_PTR), cmd_line_ptr, ramdisk_image, ramdisk_size.
 * - fw_cfg items added: SETUP_ADDR/SIZE/DATA, KERNEL_ADDR/SIZE/DATA,
 *   INITRD_ADDR/SIZE (0/0 without an initrd) and INITRD_DATA (only with
 *   one), CMDLINE_ADDR/SIZE/DATA (SIZE counts the NUL), BOOT_MENU = 0 (no
 *   menu wait), file FW_LB_ROM_FILE (the ROM) and file "bootorder" naming
 *   it first (FW_LB_BOOTORDER). vmm/ must not add those keys or files
 *   itself.
 * - Errors: 0 or -errno (WUR). Every input check happens before the first
 *   fw_cfg add: -EINVAL malformed input, -ENOEXEC not a kernel we boot this
 *   way, -E2BIG something does not fit (setup, command line, kernel
 *   footprint, initrd below 4 GiB), with one line in @err. An fw_cfg add
 *   failing afterwards (-EEXIST, -ENOSPC) is returned as is, with the item
 *   named in @err; fw_cfg then holds a partial set (destroy it).
 * - No state: works on its arguments alone.
 */
#ifndef VMM_FIRMWARE_LINUXBOOT_H
#define VMM_FIRMWARE_LINUXBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/fw_cfg.h"
#include "memory/pc.h"

#define FW_LB_SETUP_GPA     0x10000ULL
#define FW_LB_SETUP_MAX     0x8000u      /* boot.rst layout: setup below X+0x8000 */
#define FW_LB_CMDLINE_GPA   0x20000ULL   /* setup + 64 KiB */
#define FW_LB_CMDLINE_MAX   0x10000u     /* bytes with the NUL: ends at the bounce buffer */
#define FW_LB_BOUNCE_GPA    0x30000ULL   /* must match BOUNCE_PHYS in linuxboot.S */
#define FW_LB_BOUNCE_LEN    0x8000u
#define FW_LB_KERNEL_GPA    0x100000ULL
/* heap_end_ptr: end of heap/stack as an offset from setup, minus 0x200: the whole segment */
#define FW_LB_HEAP_END_PTR  (FW_LB_CMDLINE_GPA - FW_LB_SETUP_GPA - 0x200)
/* Below the top of RAM under 4 GiB: TSEG and SeaBIOS's high tables live here. */
#define FW_LB_TOP_GAP       (8 * MiB)
#define FW_LB_LOADER_TYPE   0xB0         /* QEMU's type_of_loader */
#define FW_LB_ROM_FILE      "genroms/linuxboot_dma.bin"
#define FW_LB_BOOTORDER     "/rom@" FW_LB_ROM_FILE

/* The option ROM image (firmware/linuxboot_rom.c, built from firmware/optionrom/). */
extern const uint8_t fw_linuxboot_rom[];
extern const size_t fw_linuxboot_rom_size;

/*
 * Validate @kernel (bzImage), @initrd (may be NULL with @ilen 0) and
 * @cmdline (NULL: empty) against the layout @l and add the fw_cfg items
 * listed above to @fw.
 */
int fw_linuxboot_setup(struct fw_cfg *fw, const struct pc_layout *l, const uint8_t *kernel,
		       size_t klen, const uint8_t *initrd, size_t ilen, const char *cmdline,
		       char *err, size_t errlen) WUR;

#endif
