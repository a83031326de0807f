/*
 * firmware/bzimage.c - bzImage through the Linux/x86 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst, zero-page.rst): the protected-mode code
 * goes to 1 MiB (or pref_address), the zero page to 0x7000, and the BSP
 * starts in long mode at load address + 0x200 with %rsi = the zero page.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/bytes.h"
#include "firmware/boot.h"
#include "firmware/fw_internal.h"

/* Setup header offsets, in the image and in boot_params alike. */
#define BZ_SETUP_SECTS      0x1F1
#define BZ_SYSSIZE          0x1F4
#define BZ_BOOT_FLAG        0x1FE
#define BZ_JUMP             0x200
#define BZ_HEADER           0x202
#define BZ_VERSION          0x206
#define BZ_TYPE_OF_LOADER   0x210
#define BZ_LOADFLAGS        0x211
#define BZ_RAMDISK_IMAGE    0x218
#define BZ_RAMDISK_SIZE     0x21C
#define BZ_HEAP_END_PTR     0x224
#define BZ_CMD_LINE_PTR     0x228
#define BZ_INITRD_ADDR_MAX  0x22C
#define BZ_KERNEL_ALIGNMENT 0x230
#define BZ_RELOCATABLE      0x234
#define BZ_XLOADFLAGS       0x236
#define BZ_CMDLINE_SIZE     0x238
#define BZ_SETUP_DATA       0x250
#define BZ_PREF_ADDRESS     0x258
#define BZ_INIT_SIZE        0x260
#define BZ_FIELDS_END       0x264   /* every field we read lies before this */
#define BZ_HDR_MAX_END      0x290   /* boot_params: edd_mbr_sig_buffer starts here */

/* boot_params outside the setup header (zero-page.rst). */
#define ZP_ACPI_RSDP_ADDR   0x070
#define ZP_E820_ENTRIES     0x1E8
#define ZP_E820_TABLE       0x2D0
#define ZP_E820_MAX         128
#define ZP_E820_ENTRY_SIZE  20
#define ZP_SIZE             4096

#define BZ_MIN_VERSION      0x020C  /* 2.12: xloadflags, the 64-bit entry */
#define XLF_KERNEL_64       (1u << 0)
#define LOADED_HIGH         0x01
#define CAN_USE_HEAP        0x80
#define BZ_LOADER_UNDEFINED 0xFF
/* No real-mode code runs, so the heap end only has to look sane to the kernel. */
#define BZ_HEAP_END         0xFE00
#define BZ_ENTRY64_OFFSET   0x200

#define X86_CR0_PE   0x1ULL
#define X86_CR0_ET   0x10ULL
#define X86_CR0_NE   0x20ULL
#define X86_CR0_PG   0x80000000ULL
#define X86_CR4_PAE  0x20ULL
#define EFER_LME     0x100ULL
#define EFER_LMA     0x400ULL

int fw_bzimage_parse(const uint8_t *img, size_t len, struct fw_bzimage_info *out, char *err,
		     size_t errlen)
{
	struct fw_bzimage_info i;
	uint64_t pm_offset;

	if (!img || !out)
		return fw_fail(err, errlen, -EINVAL, "no bzImage");
	if (len < BZ_VERSION + 2)
		return fw_fail(err, errlen, -EINVAL,
			       "bzImage truncated: %zu bytes, too short for a setup header", len);
	if (memcmp(img + BZ_HEADER, "HdrS", 4))
		return fw_fail(err, errlen, -ENOEXEC, "bad bzImage magic (no \"HdrS\" at 0x202)");
	memset(&i, 0, sizeof(i));
	i.version = get_le16(img + BZ_VERSION);
	if (i.version < BZ_MIN_VERSION)
		return fw_fail(err, errlen, -ENOEXEC,
			       "boot protocol %u.%02u is older than 2.12 (no 64-bit entry)",
			       i.version >> 8, i.version & 0xff);
	if (len < BZ_FIELDS_END)
		return fw_fail(err, errlen, -EINVAL,
			       "bzImage truncated: %zu bytes, the 2.12 setup header needs %u",
			       len, BZ_FIELDS_END);
	if (get_le16(img + BZ_BOOT_FLAG) != 0xAA55)
		return fw_fail(err, errlen, -ENOEXEC, "bad bzImage boot_flag 0x%04x (want 0xaa55)",
			       get_le16(img + BZ_BOOT_FLAG));
	/* The jump at 0x200 skips exactly the header: its byte tells the header's length. */
	i.hdr_end = BZ_HEADER + img[BZ_JUMP + 1];
	if (i.hdr_end < BZ_FIELDS_END)
		return fw_fail(err, errlen, -EINVAL,
			       "setup header ends at 0x%x, before init_size (0x%x)",
			       i.hdr_end, BZ_FIELDS_END);
	i.xloadflags = get_le16(img + BZ_XLOADFLAGS);
	if (!(i.xloadflags & XLF_KERNEL_64))
		return fw_fail(err, errlen, -ENOEXEC,
			       "bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)");

	i.setup_sects = img[BZ_SETUP_SECTS] ? img[BZ_SETUP_SECTS] : 4;
	pm_offset = ((uint64_t)i.setup_sects + 1) * 512;
	if (pm_offset >= len)
		return fw_fail(err, errlen, -EINVAL,
			       "setup_sects %u puts the kernel at %" PRIu64
			       ", past the end of the %zu-byte image", i.setup_sects, pm_offset, len);
	if (len - pm_offset > UINT32_MAX)
		return fw_fail(err, errlen, -E2BIG, "bzImage of %zu bytes is too large", len);
	i.pm_offset = (uint32_t)pm_offset;
	i.pm_size = (uint32_t)(len - pm_offset);
	/*
	 * syssize is the only length the image declares for its own kernel:
	 * the file may carry more (Debian appends a signature), never less.
	 */
	i.syssize = get_le32(img + BZ_SYSSIZE);
	if (!i.syssize)
		return fw_fail(err, errlen, -EINVAL, "bzImage has syssize 0");
	if ((uint64_t)i.syssize * 16 > i.pm_size)
		return fw_fail(err, errlen, -EINVAL,
			       "bzImage truncated: syssize says %" PRIu64 " bytes of kernel, "
			       "the file has %u", (uint64_t)i.syssize * 16, i.pm_size);

	i.initrd_addr_max = get_le32(img + BZ_INITRD_ADDR_MAX);
	i.kernel_alignment = get_le32(img + BZ_KERNEL_ALIGNMENT);
	i.relocatable = img[BZ_RELOCATABLE] != 0;
	i.cmdline_size = get_le32(img + BZ_CMDLINE_SIZE);
	i.pref_address = get_le64(img + BZ_PREF_ADDRESS);
	i.init_size = get_le32(img + BZ_INIT_SIZE);
	if (i.relocatable && (!i.kernel_alignment ||
			      (i.kernel_alignment & (i.kernel_alignment - 1))))
		return fw_fail(err, errlen, -EINVAL,
			       "relocatable bzImage with kernel_alignment 0x%x (not a power of two)",
			       i.kernel_alignment);
	if (!i.init_size)
		return fw_fail(err, errlen, -EINVAL, "bzImage has init_size 0");
	*out = i;
	return 0;
}

/*
 * Where the kernel runs and how far it reaches when loaded at @load. The
 * 64-bit entry decompresses at @load rounded up to kernel_alignment, but
 * never below LOAD_PHYSICAL_ADDR (which is pref_address); a non-relocatable
 * kernel always runs at pref_address. It then needs init_size bytes there.
 * Returns the end of the footprint, or 0 when it does not end below 4 GiB.
 */
static uint64_t bz_footprint_end(const struct fw_bzimage_info *i, uint64_t load)
{
	uint64_t pref = i->pref_address, run, end;

	/* A pref_address we could never honour is ignored, as if 1 MiB. */
	if (pref < FW_KERNEL_MIN_GPA || pref >= PC_4G)
		pref = FW_KERNEL_MIN_GPA;
	if (i->relocatable) {
		run = align_up(load, i->kernel_alignment);
		if (run < pref)
			run = pref;
	} else {
		run = pref;
	}
	end = run + i->init_size;
	if (load + i->pm_size > end)
		end = load + i->pm_size;
	return end <= PC_4G ? end : 0;
}

/* Pick the load address: pref_address when it is usable and fits, else 1 MiB. */
static int bz_place_kernel(const struct fw_linux_cfg *cfg, const struct fw_bzimage_info *i,
			   uint64_t *load, uint64_t *end, char *err, size_t errlen)
{
	const struct pc_layout *l = cfg->layout;
	uint64_t e;

	if (i->relocatable && i->pref_address >= FW_KERNEL_MIN_GPA && i->pref_address < PC_4G) {
		e = bz_footprint_end(i, i->pref_address);
		if (e && fw_e820_is_ram(l, i->pref_address, e - i->pref_address)) {
			*load = i->pref_address;
			*end = e;
			return 0;
		}
	}
	e = bz_footprint_end(i, FW_KERNEL_MIN_GPA);
	if (e && fw_e820_is_ram(l, FW_KERNEL_MIN_GPA, e - FW_KERNEL_MIN_GPA)) {
		*load = FW_KERNEL_MIN_GPA;
		*end = e;
		return 0;
	}
	return fw_fail(err, errlen, -E2BIG,
		       "kernel needs %u bytes (init_size) beside %u bytes of code from 0x%x,"
		       " but RAM below 4 GiB ends at 0x%" PRIx64,
		       i->init_size, i->pm_size, (unsigned)FW_KERNEL_MIN_GPA,
		       fw_e820_top_below_4g(l));
}

static void bz_build_zero_page(uint8_t *zp, const struct fw_linux_cfg *cfg,
			       const struct fw_bzimage_info *i, uint64_t initrd_gpa)
{
	const struct pc_layout *l = cfg->layout;
	uint32_t hdr_end = i->hdr_end < BZ_HDR_MAX_END ? i->hdr_end : BZ_HDR_MAX_END;
	unsigned n;

	memset(zp, 0, ZP_SIZE);
	memcpy(zp + BZ_SETUP_SECTS, cfg->kernel + BZ_SETUP_SECTS, hdr_end - BZ_SETUP_SECTS);
	zp[BZ_TYPE_OF_LOADER] = BZ_LOADER_UNDEFINED;
	zp[BZ_LOADFLAGS] |= CAN_USE_HEAP | LOADED_HIGH;
	put_le16(zp + BZ_HEAP_END_PTR, BZ_HEAP_END);
	put_le32(zp + BZ_CMD_LINE_PTR, (uint32_t)FW_CMDLINE_GPA);
	put_le32(zp + BZ_RAMDISK_IMAGE, (uint32_t)initrd_gpa);
	put_le32(zp + BZ_RAMDISK_SIZE, (uint32_t)cfg->initrd_len);
	/* 0 (no tables) makes the kernel search for an RSDP itself */
	put_le64(zp + ZP_ACPI_RSDP_ADDR, cfg->rsdp_gpa);
	if (cfg->dtb_len)
		put_le64(zp + BZ_SETUP_DATA, FW_SETUP_DATA_GPA);

	for (n = 0; n < l->nr_e820 && n < ARRAY_SIZE(l->e820) && n < ZP_E820_MAX; n++) {
		uint8_t *e = zp + ZP_E820_TABLE + n * ZP_E820_ENTRY_SIZE;

		put_le64(e, l->e820[n].addr);
		put_le64(e + 8, l->e820[n].size);
		put_le32(e + 16, l->e820[n].type);
	}
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
}

/* One setup_data node {u64 next = 0, u32 type, u32 len, data} at FW_SETUP_DATA_GPA. */
static int bz_write_setup_dtb(const struct fw_linux_cfg *cfg)
{
	uint8_t hdr[16];
	int ret;

	put_le64(hdr, 0);
	put_le32(hdr + 8, FW_SETUP_DTB);
	put_le32(hdr + 12, (uint32_t)cfg->dtb_len);
	ret = mem_write(cfg->space, FW_SETUP_DATA_GPA, hdr, sizeof(hdr));
	return ret ?: mem_write(cfg->space, FW_SETUP_DATA_GPA + sizeof(hdr), cfg->dtb, cfg->dtb_len);
}

int fw_load_bzimage(const struct fw_linux_cfg *cfg, struct fw_entry *entry, char *err,
		    size_t errlen)
{
	struct fw_bzimage_info i;
	uint64_t load = 0, end = 0, initrd_gpa = 0;
	uint8_t zp[ZP_SIZE];
	size_t cmdline_len;
	int ret;

	ret = fw_check_common(cfg, &cmdline_len, err, errlen);
	if (ret)
		return ret;
	ret = fw_bzimage_parse(cfg->kernel, cfg->kernel_len, &i, err, errlen);
	if (ret)
		return ret;
	if (cmdline_len > i.cmdline_size)
		return fw_fail(err, errlen, -E2BIG,
			       "command line of %zu bytes is longer than the kernel's cmdline_size %u",
			       cmdline_len, i.cmdline_size);
	if (cfg->dtb_len && cfg->dtb_len > FW_SETUP_DATA_MAX - 16)
		return fw_fail(err, errlen, -E2BIG, "device tree of %zu bytes is larger than %llu",
			       cfg->dtb_len, (unsigned long long)FW_SETUP_DATA_MAX - 16);
	ret = bz_place_kernel(cfg, &i, &load, &end, err, errlen);
	if (ret)
		return ret;
	if (cfg->initrd_len) {
		uint64_t limit = (uint64_t)i.initrd_addr_max + 1;
		uint64_t top = fw_e820_top_below_4g(cfg->layout);

		if (limit > top)
			limit = top;
		ret = fw_place_initrd(cfg->layout, cfg->initrd_len, limit, load, end, &initrd_gpa,
				      err, errlen);
		if (ret)
			return ret;
	}
	if (!fw_space_is_ram(cfg->space, load, end - load) ||
	    (cfg->initrd_len && !fw_space_is_ram(cfg->space, initrd_gpa, cfg->initrd_len)))
		return fw_fail(err, errlen, -EINVAL,
			       "E820 says RAM but the address space has none at the kernel or initrd");

	/* Everything is validated: from here on only guest writes can fail. */
	ret = mem_write(cfg->space, load, cfg->kernel + i.pm_offset, i.pm_size);
	if (!ret && cfg->initrd_len)
		ret = mem_write(cfg->space, initrd_gpa, cfg->initrd, cfg->initrd_len);
	if (!ret)
		ret = fw_write_cmdline(cfg->space, cfg->cmdline, cmdline_len);
	if (!ret) {
		bz_build_zero_page(zp, cfg, &i, initrd_gpa);
		ret = mem_write(cfg->space, FW_ZERO_PAGE_GPA, zp, sizeof(zp));
	}
	if (!ret && cfg->dtb_len)
		ret = bz_write_setup_dtb(cfg);
	if (!ret)
		ret = fw_write_page_tables(cfg->space);
	if (!ret)
		ret = fw_write_gdt(cfg->space, true, entry);
	if (!ret)
		ret = fw_mptable_write(cfg->space, FW_MPTABLE_GPA, cfg->ncpus);
	if (ret)
		return fw_fail(err, errlen, ret, "writing the boot image into guest memory failed");

	entry->mode = FW_ENTRY_LONG64;
	entry->rip = load + BZ_ENTRY64_OFFSET;
	entry->rsp = FW_STACK_TOP;
	entry->rsi = FW_ZERO_PAGE_GPA;
	entry->rbx = 0;
	entry->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	entry->cr3 = FW_PML4_GPA;
	entry->cr4 = X86_CR4_PAE;
	entry->efer = EFER_LME | EFER_LMA;
	return 0;
}
