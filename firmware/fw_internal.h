/*
 * firmware/fw_internal.h - helpers shared by the boot loaders; not a public
 * interface. Images are little-endian byte arrays of any alignment, so every
 * field is read and written through the byte helpers below.
 */
#ifndef VMM_FIRMWARE_FW_INTERNAL_H
#define VMM_FIRMWARE_FW_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "common/bytes.h"
#include "common/compiler.h"
#include "firmware/boot.h"

/* snprintf into @err when there is room; returns @ret so callers can `return fw_fail(...)`. */
int fw_fail(char *err, size_t errlen, int ret, const char *fmt, ...) PRINTF_FMT(4, 5);

/* [gpa, gpa+len) lies in E820 RAM (adjacent RAM entries count as one). */
bool fw_e820_is_ram(const struct pc_layout *l, uint64_t gpa, uint64_t len);
/* End of the highest E820 RAM entry below 4 GiB (clipped to 4 GiB); 0 if none. */
uint64_t fw_e820_top_below_4g(const struct pc_layout *l);
/* [gpa, gpa+len) is RAM in the current flat view of @space. */
bool fw_space_is_ram(struct mem_space *space, uint64_t gpa, uint64_t len);

/*
 * Highest page-aligned place for @size bytes in E820 RAM within
 * [FW_KERNEL_MIN_GPA, limit) that does not overlap [avoid, avoid_end).
 */
int fw_place_initrd(const struct pc_layout *l, uint64_t size, uint64_t limit, uint64_t avoid,
		    uint64_t avoid_end, uint64_t *gpa, char *err, size_t errlen) WUR;

/* Checks shared by both loaders before anything is written. */
int fw_check_common(const struct fw_linux_cfg *cfg, size_t *cmdline_len, char *err,
		    size_t errlen) WUR;
/* GDT at FW_GDT_GPA (64-bit or 32-bit code), filling the entry's GDT fields. */
int fw_write_gdt(struct mem_space *space, bool long_mode, struct fw_entry *entry) WUR;
/* Identity map of 0-4 GiB with 2 MiB pages at FW_PML4_GPA. */
int fw_write_page_tables(struct mem_space *space) WUR;
/* Command line (NUL-terminated; empty when NULL) at FW_CMDLINE_GPA. */
int fw_write_cmdline(struct mem_space *space, const char *cmdline, size_t len) WUR;
/* Zero [gpa, gpa+len) in bounded chunks. */
int fw_zero(struct mem_space *space, uint64_t gpa, uint64_t len) WUR;
/*
 * Copy @src to [gpa, gpa+len) except the guest pages whose part of @src is
 * all zeros: for RAM that already holds zeros.
 */
int fw_write_nonzero(struct mem_space *space, uint64_t gpa, const uint8_t *src,
		     uint64_t len) WUR;

int fw_load_bzimage(const struct fw_linux_cfg *cfg, struct fw_entry *entry, char *err,
		    size_t errlen) WUR;
int fw_load_pvh(const struct fw_linux_cfg *cfg, struct fw_entry *entry, char *err,
		size_t errlen) WUR;

#endif
