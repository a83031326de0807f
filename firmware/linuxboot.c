/*
 * firmware/linuxboot.c - feed a bzImage, initrd and command line to the
 * option ROM through fw_cfg (see firmware/linuxboot.h). The ROM loads them
 * and enters the kernel's real-mode setup code, as the Linux/x86 boot
 * protocol describes for a 16-bit boot loader (Documentation/arch/x86/
 * boot.rst: "Loading the rest of the kernel", "Running the kernel").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "firmware/fw_internal.h"
#include "firmware/linuxboot.h"

/* Setup header fields (boot.rst), offsets in the image. */
#define LB_VID_MODE        0x1FA
#define LB_TYPE_OF_LOADER  0x210
#define LB_LOADFLAGS       0x211
#define LB_RAMDISK_IMAGE   0x218
#define LB_RAMDISK_SIZE    0x21C
#define LB_HEAP_END_PTR    0x224
#define LB_CMD_LINE_PTR    0x228
#define LB_HDR_FIELDS_END  0x22C   /* every field patched here lies before this */

#define LB_LOADED_HIGH     0x01
#define LB_CAN_USE_HEAP    0x80
#define LB_VID_NORMAL      0xFFFF

/*
 * The end of what the kernel occupies from FW_LB_KERNEL_GPA: its code, and
 * where the 32-bit entry decompresses. That entry runs at the load address
 * rounded up to kernel_alignment but never below LOAD_PHYSICAL_ADDR (=
 * pref_address) when relocatable, at pref_address otherwise, and needs
 * init_size bytes there (arch/x86/boot/compressed/head_64.S). 0 when the
 * footprint does not end below 4 GiB.
 */
static uint64_t lb_kernel_end(const struct fw_bzimage_info *i)
{
	uint64_t pref = i->pref_address, run, end;

	if (pref < FW_LB_KERNEL_GPA || pref >= PC_4G)
		pref = FW_LB_KERNEL_GPA;
	run = pref;
	if (i->relocatable && align_up(FW_LB_KERNEL_GPA, i->kernel_alignment) > pref)
		run = align_up(FW_LB_KERNEL_GPA, i->kernel_alignment);
	end = run + i->init_size;
	if (FW_LB_KERNEL_GPA + i->pm_size > end)
		end = FW_LB_KERNEL_GPA + i->pm_size;
	return end <= PC_4G ? end : 0;
}

/* Everything fw_linuxboot_setup() decides before it adds anything. */
struct lb_plan {
	struct fw_bzimage_info info;
	uint32_t setup_size;
	uint32_t cmdline_size;     /* with the NUL */
	uint64_t kernel_end;
	uint64_t initrd_gpa;
};

static int lb_plan(const struct pc_layout *l, const uint8_t *kernel, size_t klen,
		   const uint8_t *initrd, size_t ilen, const char *cmdline, struct lb_plan *p,
		   char *err, size_t errlen)
{
	size_t n = 0;
	int ret;

	if (!l || !kernel || !klen)
		return fw_fail(err, errlen, -EINVAL, "linuxboot: no layout or empty kernel image");
	if (ilen && !initrd)
		return fw_fail(err, errlen, -EINVAL, "linuxboot: initrd length %zu without data",
			       ilen);
	if (!l->nr_e820 || l->nr_e820 > ARRAY_SIZE(l->e820))
		return fw_fail(err, errlen, -EINVAL, "linuxboot: layout has %u E820 entries",
			       l->nr_e820);
	ret = fw_bzimage_parse(kernel, klen, &p->info, err, errlen);
	if (ret)
		return ret;
	if (!(kernel[LB_LOADFLAGS] & LB_LOADED_HIGH))
		return fw_fail(err, errlen, -ENOEXEC,
			       "linuxboot: kernel is not loaded high (LOADED_HIGH clear): not a bzImage");
	/* fw_bzimage_parse(): pm_offset = (setup_sects + 1) * 512 >= 1 KiB, below klen. */
	p->setup_size = p->info.pm_offset;
	if (p->setup_size > FW_LB_SETUP_MAX)
		return fw_fail(err, errlen, -E2BIG,
			       "linuxboot: real-mode setup of %u bytes is larger than %u",
			       p->setup_size, FW_LB_SETUP_MAX);

	if (cmdline)
		n = strnlen(cmdline, FW_LB_CMDLINE_MAX);
	if (n >= FW_LB_CMDLINE_MAX)
		return fw_fail(err, errlen, -E2BIG, "linuxboot: command line is longer than %u bytes",
			       FW_LB_CMDLINE_MAX - 1);
	if (n > p->info.cmdline_size)
		return fw_fail(err, errlen, -E2BIG,
			       "linuxboot: command line of %zu bytes is longer than the kernel's "
			       "cmdline_size %u", n, p->info.cmdline_size);
	p->cmdline_size = (uint32_t)n + 1;

	/* Setup segment, command line and the ROM's bounce buffer: plain RAM. */
	if (!fw_e820_is_ram(l, FW_LB_SETUP_GPA,
			    FW_LB_BOUNCE_GPA + FW_LB_BOUNCE_LEN - FW_LB_SETUP_GPA))
		return fw_fail(err, errlen, -EINVAL,
			       "linuxboot: 0x%llx-0x%llx is not RAM in E820: no room for the "
			       "real-mode setup", FW_LB_SETUP_GPA,
			       FW_LB_BOUNCE_GPA + FW_LB_BOUNCE_LEN - 1);

	p->kernel_end = lb_kernel_end(&p->info);
	if (!p->kernel_end ||
	    !fw_e820_is_ram(l, FW_LB_KERNEL_GPA, p->kernel_end - FW_LB_KERNEL_GPA))
		return fw_fail(err, errlen, -E2BIG,
			       "linuxboot: kernel needs RAM from 0x%llx to 0x%" PRIx64
			       " (init_size %u), RAM below 4 GiB ends at 0x%" PRIx64,
			       FW_LB_KERNEL_GPA, p->kernel_end ? p->kernel_end : (uint64_t)PC_4G,
			       p->info.init_size, fw_e820_top_below_4g(l));

	p->initrd_gpa = 0;
	if (ilen) {
		uint64_t top = fw_e820_top_below_4g(l);
		uint64_t limit = (uint64_t)p->info.initrd_addr_max + 1;

		if (ilen > UINT32_MAX)
			return fw_fail(err, errlen, -E2BIG,
				       "linuxboot: initrd of %zu bytes is larger than 4 GiB", ilen);
		if (top <= FW_LB_TOP_GAP)
			return fw_fail(err, errlen, -E2BIG,
				       "linuxboot: RAM below 4 GiB ends at 0x%" PRIx64
				       ": no room for an initrd", top);
		if (limit > top - FW_LB_TOP_GAP)
			limit = top - FW_LB_TOP_GAP;
		ret = fw_place_initrd(l, ilen, limit, FW_LB_KERNEL_GPA, p->kernel_end,
				      &p->initrd_gpa, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* The image's setup sectors with the loader's fields filled in. */
static void lb_patch_setup(uint8_t *setup, const struct lb_plan *p, size_t ilen)
{
	put_le16(setup + LB_VID_MODE, LB_VID_NORMAL);
	setup[LB_TYPE_OF_LOADER] = FW_LB_LOADER_TYPE;
	setup[LB_LOADFLAGS] |= LB_CAN_USE_HEAP;
	put_le16(setup + LB_HEAP_END_PTR, (uint16_t)FW_LB_HEAP_END_PTR);
	put_le32(setup + LB_CMD_LINE_PTR, (uint32_t)FW_LB_CMDLINE_GPA);
	put_le32(setup + LB_RAMDISK_IMAGE, (uint32_t)p->initrd_gpa);
	put_le32(setup + LB_RAMDISK_SIZE, (uint32_t)ilen);
}

int fw_linuxboot_setup(struct fw_cfg *fw, const struct pc_layout *l, const uint8_t *kernel,
		       size_t klen, const uint8_t *initrd, size_t ilen, const char *cmdline,
		       char *err, size_t errlen)
{
	static const char bootorder[] = FW_LB_BOOTORDER;
	struct lb_plan p;
	uint8_t *setup;
	const char *what;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!fw)
		return fw_fail(err, errlen, -EINVAL, "linuxboot: no fw_cfg device");
	memset(&p, 0, sizeof(p));
	ret = lb_plan(l, kernel, klen, initrd, ilen, cmdline, &p, err, errlen);
	if (ret)
		return ret;
	if (fw_linuxboot_rom_size > UINT32_MAX)
		return fw_fail(err, errlen, -EINVAL, "linuxboot: option ROM image is too large");

	setup = malloc(p.setup_size);
	if (!setup)
		return fw_fail(err, errlen, -ENOMEM, "linuxboot: out of memory");
	_Static_assert(LB_HDR_FIELDS_END <= 1024, "patched fields lie in the smallest setup");
	memcpy(setup, kernel, p.setup_size);
	lb_patch_setup(setup, &p, ilen);

	/* Nothing below can fail on the inputs: only the device (duplicates, no slot). */
	what = "SETUP";
	ret = fw_cfg_add_i32(fw, FW_CFG_SETUP_ADDR, (uint32_t)FW_LB_SETUP_GPA);
	if (!ret)
		ret = fw_cfg_add_i32(fw, FW_CFG_SETUP_SIZE, p.setup_size);
	if (!ret)
		ret = fw_cfg_add_bytes(fw, FW_CFG_SETUP_DATA, setup, p.setup_size);
	free(setup);
	if (!ret) {
		what = "KERNEL";
		ret = fw_cfg_add_i32(fw, FW_CFG_KERNEL_ADDR, (uint32_t)FW_LB_KERNEL_GPA);
	}
	if (!ret)
		ret = fw_cfg_add_i32(fw, FW_CFG_KERNEL_SIZE, p.info.pm_size);
	if (!ret)
		ret = fw_cfg_add_bytes(fw, FW_CFG_KERNEL_DATA, kernel + p.setup_size,
				       p.info.pm_size);
	if (!ret) {
		what = "INITRD";
		ret = fw_cfg_add_i32(fw, FW_CFG_INITRD_ADDR, (uint32_t)p.initrd_gpa);
	}
	if (!ret)
		ret = fw_cfg_add_i32(fw, FW_CFG_INITRD_SIZE, (uint32_t)ilen);
	if (!ret && ilen)
		ret = fw_cfg_add_bytes(fw, FW_CFG_INITRD_DATA, initrd, (uint32_t)ilen);
	if (!ret) {
		what = "CMDLINE";
		ret = fw_cfg_add_i32(fw, FW_CFG_CMDLINE_ADDR, (uint32_t)FW_LB_CMDLINE_GPA);
	}
	if (!ret)
		ret = fw_cfg_add_i32(fw, FW_CFG_CMDLINE_SIZE, p.cmdline_size);
	if (!ret)
		/* NULL: the single NUL of "" */
		ret = fw_cfg_add_bytes(fw, FW_CFG_CMDLINE_DATA, cmdline ? cmdline : "",
				       p.cmdline_size);
	if (!ret) {
		what = "BOOT_MENU";
		ret = fw_cfg_add_i16(fw, FW_CFG_BOOT_MENU, 0);
	}
	if (!ret) {
		what = FW_LB_ROM_FILE;
		ret = fw_cfg_add_file(fw, FW_LB_ROM_FILE, fw_linuxboot_rom,
				      (uint32_t)fw_linuxboot_rom_size, 0, NULL);
	}
	if (!ret) {
		what = "bootorder";
		ret = fw_cfg_add_file(fw, "bootorder", bootorder, sizeof(bootorder), 0, NULL);
	}
	if (ret)
		return fw_fail(err, errlen, ret, "linuxboot: adding fw_cfg %s failed: %s", what,
			       strerror(-ret));
	return 0;
}
