/*
 * devices/fw_cfg.h - a firmware configuration device compatible with QEMU's
 * fw_cfg on x86 (docs/specs/fw_cfg.rst in QEMU), the way SeaBIOS and
 * Linux's linuxboot option ROM read it.
 *
 * Contract
 * - Ports: selector 0x510 (16-bit write, little-endian selector; 8-bit
 *   writes and reads of the write-only selector are refused), data 0x511
 *   (8-bit reads; 8-bit writes ignored as in QEMU >= 2.4; wider accesses
 *   refused), DMA address 0x514-0x51B, a big-endian register: the device
 *   byte-swaps the port value, so the guest writes cpu_to_be32(half) (a
 *   32-bit write to 0x514 sets the high half, a 32-bit write to 0x518 sets
 *   the low half and starts the transfer; a 64-bit write to 0x514 with
 *   cpu_to_be64(addr) does both; other writes are refused). Reads of any
 *   width there return the bytes of "QEMU CFG" in address order, so a
 *   64-bit read at 0x514 gives the value whose be64_to_cpu() is
 *   FW_CFG_DMA_SIGNATURE (0x51454d5520434647), as QEMU does on x86. The
 *   register reads back 0 after each transfer.
 *   fw_cfg_register() claims FW_CFG_CTL_PORT (2 bytes, control + data) and,
 *   only when DMA is enabled, FW_CFG_DMA_PORT (8 bytes) on an iobus.
 * - Items: fixed keys (FW_CFG_SIGNATURE ... FW_CFG_FILE_DIR, and the x86
 *   keys at 0x8000+) and named files from FW_CFG_FILE_FIRST up, listed in
 *   the big-endian directory at FW_CFG_FILE_DIR (sorted by name, as QEMU
 *   does). File keys are handed out in add order and never change (QEMU
 *   renumbers them into name order; guests find keys through the
 *   directory, so *key_out stays valid). The device copies every item's
 *   bytes at add time; the caller keeps nothing alive.
 * - Reads past an item's end return 0 (the traditional data port) or zeros
 *   (DMA), exactly as QEMU. An unknown selector reads as an empty item.
 *   Bit 14 of a selector (the old write channel) is ignored, as in QEMU.
 * - DMA: the FWCfgDmaAccess struct {BE32 control, BE32 length, BE64 address}
 *   is read from guest memory through the memory engine (mem_read/mem_write
 *   on the space given at init), so every guest address is bounds-checked.
 *   Control bits ERROR/READ/SKIP/SELECT/WRITE as in QEMU (READ wins over
 *   WRITE, WRITE over SKIP). A transfer to or from memory that is not guest
 *   RAM (a READ into read-only RAM/ROM included), an address + length that
 *   wraps, or a write to a read-only item sets ERROR in the control word
 *   written back (0 on success); nothing outside guest RAM is touched, the
 *   VMM never crashes. The copy goes in bounded chunks whatever the guest's
 *   length (up to 4 GiB - 1); nothing is allocated for it. A WRITE must lie
 *   inside the item (no resize) and lands whole or not at all. Writes are
 *   allowed only to files added with FW_CFG_F_WRITABLE. A struct that is
 *   not all in writable guest RAM (or wraps) is ignored: nothing is written,
 *   dma_errors still counts it.
 * - Thread-safe: one mutex per device (vCPU threads may race).
 * - Errors: add functions return 0 or -errno (-EEXIST duplicate key/name,
 *   -ENOSPC no key left, -ENAMETOOLONG name >= 56 bytes, -EINVAL).
 */
#ifndef VMM_DEVICES_FW_CFG_H
#define VMM_DEVICES_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"
#include "devices/iobus.h"
#include "memory/memory.h"

#define FW_CFG_CTL_PORT      0x510  /* selector; data at +1 */
#define FW_CFG_CTL_LEN       2
#define FW_CFG_DMA_PORT      0x514
#define FW_CFG_DMA_LEN       8
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL /* "QEMU CFG" */

/* Keys (selector values). */
#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_UUID          0x02
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NOGRAPHIC     0x04
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_MACHINE_ID    0x06
#define FW_CFG_KERNEL_ADDR   0x07
#define FW_CFG_KERNEL_SIZE   0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR   0x0a
#define FW_CFG_INITRD_SIZE   0x0b
#define FW_CFG_BOOT_DEVICE   0x0c
#define FW_CFG_NUMA          0x0d
#define FW_CFG_BOOT_MENU     0x0e
#define FW_CFG_MAX_CPUS      0x0f
#define FW_CFG_KERNEL_ENTRY  0x10
#define FW_CFG_KERNEL_DATA   0x11
#define FW_CFG_INITRD_DATA   0x12
#define FW_CFG_CMDLINE_ADDR  0x13
#define FW_CFG_CMDLINE_SIZE  0x14
#define FW_CFG_CMDLINE_DATA  0x15
#define FW_CFG_SETUP_ADDR    0x16
#define FW_CFG_SETUP_SIZE    0x17
#define FW_CFG_SETUP_DATA    0x18
#define FW_CFG_FILE_DIR      0x19
#define FW_CFG_FILE_FIRST    0x20
#define FW_CFG_FILE_SLOTS    0x20   /* files 0x20..0x3f, QEMU's default (>= 2.9) */
#define FW_CFG_ARCH_LOCAL    0x8000
#define FW_CFG_ACPI_TABLES   (FW_CFG_ARCH_LOCAL + 0)
#define FW_CFG_SMBIOS_ENTRIES (FW_CFG_ARCH_LOCAL + 1)
#define FW_CFG_IRQ0_OVERRIDE (FW_CFG_ARCH_LOCAL + 2)
#define FW_CFG_E820_TABLE    (FW_CFG_ARCH_LOCAL + 3)
#define FW_CFG_HPET          (FW_CFG_ARCH_LOCAL + 4)
#define FW_CFG_INVALID       0xffff

/* FW_CFG_ID feature bits. */
#define FW_CFG_VERSION       0x01
#define FW_CFG_VERSION_DMA   0x02

/* DMA control bits. */
#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10

#define FW_CFG_MAX_FILE_PATH 56
#define FW_CFG_MAX_ITEMS     0x50   /* all keys below FW_CFG_FILE_FIRST + arch keys + files */

/* Item flags. */
#define FW_CFG_F_WRITABLE    0x1

struct fw_cfg_item {
	uint16_t key;
	uint32_t flags;
	uint8_t *data;               /* owned copy; NULL when len is 0 */
	uint32_t len;
	char name[FW_CFG_MAX_FILE_PATH]; /* files only */
};

struct fw_cfg {
	pthread_mutex_t lock;
	bool ready;
	struct mem_space *dma_space; /* guest memory for DMA; NULL disables DMA */
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	unsigned nr_items;
	unsigned nr_files;
	uint16_t cur_key;            /* selected key */
	uint32_t cur_off;            /* offset inside the selected item */
	uint64_t dma_addr;           /* high half as last written */
	uint64_t dma_errors;         /* transfers that ended with ERROR, for tests */
	uint8_t *dir;                /* FW_CFG_FILE_DIR contents, rebuilt on add */
	uint32_t dir_len;
};

extern const struct access_ops fw_cfg_ctl_ops;  /* 0x510 selector + 0x511 data */
extern const struct access_ops fw_cfg_dma_ops;  /* 0x514..0x51B */

/*
 * @dma_space: where DMA transfers go (the VM's system space); NULL offers no
 * DMA (FW_CFG_ID then says FW_CFG_VERSION only). Adds SIGNATURE "QEMU", ID
 * and an empty file directory.
 */
int fw_cfg_init(struct fw_cfg *fw, struct mem_space *dma_space) WUR;
void fw_cfg_destroy(struct fw_cfg *fw);
int fw_cfg_register(struct fw_cfg *fw, struct iobus *bus) WUR;

/* A fixed key (below FW_CFG_FILE_FIRST, or arch-local 0x8000+). */
int fw_cfg_add_bytes(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len) WUR;
/* Little-endian integers, as QEMU's fw_cfg_add_i16/i32/i64. */
int fw_cfg_add_i16(struct fw_cfg *fw, uint16_t key, uint16_t v) WUR;
int fw_cfg_add_i32(struct fw_cfg *fw, uint16_t key, uint32_t v) WUR;
int fw_cfg_add_i64(struct fw_cfg *fw, uint16_t key, uint64_t v) WUR;
/* A named file; *key_out (may be NULL) gets its selector. */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len,
		    uint32_t flags, uint16_t *key_out) WUR;
/* The current bytes of an item (for tests and for reading back writable items). */
int fw_cfg_get(struct fw_cfg *fw, uint16_t key, const uint8_t **data, uint32_t *len) WUR;
/* The power-on state, as QEMU's reset: key 0 (signature) selected, offset 0, DMA address 0. */
void fw_cfg_reset(struct fw_cfg *fw);

#endif
