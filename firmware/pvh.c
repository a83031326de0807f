/*
 * firmware/pvh.c - ELF kernels booted through the PVH entry
 * (xen/include/public/arch-x86/hvm/start_info.h, XEN_ELFNOTE_PHYS32_ENTRY):
 * PT_LOAD segments at p_paddr, an hvm_start_info with the module list and
 * memory map, and the BSP in flat 32-bit protected mode, paging off, at the
 * note's entry with %ebx = the start info.
 *
 * Every field is read with explicit offsets and bounds: the image is untrusted.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/bytes.h"
#include "firmware/boot.h"
#include "firmware/fw_internal.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC          0x336ec578u
#define HVM_START_VERSION        1    /* version 1 adds the memory map */
#define HVM_START_INFO_SIZE      56
#define HVM_MODLIST_ENTRY_SIZE   32
#define HVM_MEMMAP_ENTRY_SIZE    24
#define HVM_MEMMAP_MAX           128  /* room left in the start-info page */

/* Real kernels have a handful of each; the caps bound the work on a hostile image. */
#define FW_ELF_MAX_PHNUM 64
#define FW_ELF_MAX_SHNUM 4096

#define X86_CR0_PE 0x1ULL

struct elf_ctx {
	const uint8_t *img;
	size_t len;
	bool is64;
	uint64_t phoff, shoff;
	unsigned phnum, shnum;
	unsigned phentsize, shentsize;
};

struct elf_seg {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz, align;
};

static void elf_read_phdr(const struct elf_ctx *c, unsigned idx, struct elf_seg *s)
{
	const uint8_t *p = c->img + c->phoff + (uint64_t)idx * c->phentsize;

	s->type = get_le32(p);
	if (c->is64) {
		s->offset = get_le64(p + 8);
		s->paddr = get_le64(p + 24);
		s->filesz = get_le64(p + 32);
		s->memsz = get_le64(p + 40);
		s->align = get_le64(p + 48);
	} else {
		s->offset = get_le32(p + 4);
		s->paddr = get_le32(p + 12);
		s->filesz = get_le32(p + 16);
		s->memsz = get_le32(p + 20);
		s->align = get_le32(p + 28);
	}
}

/* Section header @idx as a segment-shaped record (type, offset, size, alignment). */
static void elf_read_shdr(const struct elf_ctx *c, unsigned idx, struct elf_seg *s)
{
	const uint8_t *p = c->img + c->shoff + (uint64_t)idx * c->shentsize;

	memset(s, 0, sizeof(*s));
	s->type = get_le32(p + 4);
	if (c->is64) {
		s->offset = get_le64(p + 24);
		s->filesz = get_le64(p + 32);
		s->align = get_le64(p + 48);
	} else {
		s->offset = get_le32(p + 16);
		s->filesz = get_le32(p + 20);
		s->align = get_le32(p + 32);
	}
}

static int elf_read_header(const uint8_t *img, size_t len, struct elf_ctx *c, char *err,
			   size_t errlen)
{
	unsigned ehsize, machine, want_ph, want_sh;

	memset(c, 0, sizeof(*c));
	c->img = img;
	c->len = len;
	if (!img || len < EI_NIDENT)
		return fw_fail(err, errlen, -EINVAL, "ELF truncated: %zu bytes", len);
	if (memcmp(img, ELFMAG, SELFMAG))
		return fw_fail(err, errlen, -ENOEXEC, "bad ELF magic");
	if (img[EI_CLASS] != ELFCLASS64 && img[EI_CLASS] != ELFCLASS32)
		return fw_fail(err, errlen, -ENOEXEC, "unknown ELF class %u", img[EI_CLASS]);
	c->is64 = img[EI_CLASS] == ELFCLASS64;
	if (img[EI_DATA] != ELFDATA2LSB)
		return fw_fail(err, errlen, -ENOEXEC, "ELF is not little-endian");
	if (img[EI_VERSION] != EV_CURRENT)
		return fw_fail(err, errlen, -ENOEXEC, "unknown ELF version %u", img[EI_VERSION]);
	ehsize = c->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (len < ehsize)
		return fw_fail(err, errlen, -EINVAL,
			       "ELF truncated: %zu bytes, the header alone is %u", len, ehsize);
	if (get_le16(img + 16) != ET_EXEC)
		return fw_fail(err, errlen, -ENOEXEC, "ELF type %u is not an executable",
			       get_le16(img + 16));
	machine = get_le16(img + 18);
	if ((c->is64 && machine != EM_X86_64) || (!c->is64 && machine != EM_386))
		return fw_fail(err, errlen, -ENOEXEC, "ELF machine %u is not x86", machine);

	if (c->is64) {
		c->phoff = get_le64(img + 32);
		c->shoff = get_le64(img + 40);
		c->phentsize = get_le16(img + 54);
		c->phnum = get_le16(img + 56);
		c->shentsize = get_le16(img + 58);
		c->shnum = get_le16(img + 60);
	} else {
		c->phoff = get_le32(img + 28);
		c->shoff = get_le32(img + 32);
		c->phentsize = get_le16(img + 42);
		c->phnum = get_le16(img + 44);
		c->shentsize = get_le16(img + 46);
		c->shnum = get_le16(img + 48);
	}
	want_ph = c->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	want_sh = c->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);

	if (!c->phnum)
		return fw_fail(err, errlen, -ENOEXEC, "ELF has no program headers");
	if (c->phnum > FW_ELF_MAX_PHNUM)
		return fw_fail(err, errlen, -EINVAL, "ELF e_phnum %u is too large (at most %u)",
			       c->phnum, FW_ELF_MAX_PHNUM);
	if (c->phentsize != want_ph)
		return fw_fail(err, errlen, -EINVAL, "ELF e_phentsize %u, want %u",
			       c->phentsize, want_ph);
	if (!range_within(c->phoff, (uint64_t)c->phnum * c->phentsize, 0, len))
		return fw_fail(err, errlen, -EINVAL,
			       "ELF program headers at 0x%" PRIx64 " lie outside the %zu-byte file",
			       c->phoff, len);
	/* Section headers are optional; only checked when present, used for notes. */
	if (!c->shoff || !c->shnum) {
		c->shnum = 0;
		return 0;
	}
	if (c->shnum > FW_ELF_MAX_SHNUM)
		return fw_fail(err, errlen, -EINVAL, "ELF e_shnum %u is too large (at most %u)",
			       c->shnum, FW_ELF_MAX_SHNUM);
	if (c->shentsize != want_sh)
		return fw_fail(err, errlen, -EINVAL, "ELF e_shentsize %u, want %u",
			       c->shentsize, want_sh);
	if (!range_within(c->shoff, (uint64_t)c->shnum * c->shentsize, 0, len))
		return fw_fail(err, errlen, -EINVAL,
			       "ELF section headers at 0x%" PRIx64 " lie outside the %zu-byte file",
			       c->shoff, len);
	return 0;
}

/*
 * Walk the notes in [off, off+size) of the file looking for Xen's
 * PHYS32_ENTRY. Notes are padded to 4 bytes (8 when the container says so).
 */
static int elf_scan_notes(const struct elf_ctx *c, uint64_t off, uint64_t size, uint64_t align,
			  uint64_t *entry, bool *found, char *err, size_t errlen)
{
	const uint8_t *p;
	uint64_t pos = 0;

	if (!range_within(off, size, 0, c->len))
		return fw_fail(err, errlen, -EINVAL,
			       "ELF note at 0x%" PRIx64 " (+%" PRIu64 ") lies outside the file",
			       off, size);
	align = align == 8 ? 8 : 4;
	p = c->img + off;
	while (size - pos >= 12) {
		uint64_t namesz = get_le32(p + pos), descsz = get_le32(p + pos + 4);
		uint32_t type = get_le32(p + pos + 8);
		uint64_t name_off = pos + 12;
		uint64_t desc_off = name_off + align_up(namesz, align);

		if (desc_off > size || descsz > size - desc_off)
			return fw_fail(err, errlen, -EINVAL,
				       "ELF note at 0x%" PRIx64 " runs past its section",
				       off + pos);
		if (namesz == 4 && !memcmp(p + name_off, "Xen", 4) &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (descsz == 4)
				*entry = get_le32(p + desc_off);
			else if (descsz == 8)
				*entry = get_le64(p + desc_off);
			else
				return fw_fail(err, errlen, -EINVAL,
					       "PVH entry note has descsz %" PRIu64 " (want 4 or 8)",
					       descsz);
			*found = true;
			return 0;
		}
		/* The last note may lack its padding; any further note needs it. */
		if (align_up(descsz, align) >= size - desc_off)
			break;
		pos = desc_off + align_up(descsz, align);
	}
	return 0;
}

static int elf_check_load(const struct elf_ctx *c, unsigned idx, const struct elf_seg *s,
			  char *err, size_t errlen)
{
	if (s->filesz > s->memsz)
		return fw_fail(err, errlen, -EINVAL,
			       "ELF segment %u: p_filesz %" PRIu64 " > p_memsz %" PRIu64,
			       idx, s->filesz, s->memsz);
	if (s->filesz && !range_within(s->offset, s->filesz, 0, c->len))
		return fw_fail(err, errlen, -EINVAL,
			       "ELF segment %u: file bytes 0x%" PRIx64 "+0x%" PRIx64
			       " lie outside the %zu-byte file", idx, s->offset, s->filesz, c->len);
	if (range_invalid(s->paddr, s->memsz))
		return fw_fail(err, errlen, -EINVAL,
			       "ELF segment %u: 0x%" PRIx64 "+0x%" PRIx64 " wraps around",
			       idx, s->paddr, s->memsz);
	if (s->paddr < FW_KERNEL_MIN_GPA)
		return fw_fail(err, errlen, -EINVAL,
			       "ELF segment %u at 0x%" PRIx64
			       " overlaps the boot structures below 1 MiB", idx, s->paddr);
	if (!range_within(s->paddr, s->memsz, 0, PC_4G))
		return fw_fail(err, errlen, -E2BIG,
			       "ELF segment %u at 0x%" PRIx64 "+0x%" PRIx64 " is not below 4 GiB",
			       idx, s->paddr, s->memsz);
	return 0;
}

static int elf_parse(const uint8_t *img, size_t len, struct elf_ctx *c, struct fw_elf_info *out,
		     char *err, size_t errlen)
{
	struct fw_elf_info info = { .lowest_paddr = UINT64_MAX };
	struct elf_seg s, t;
	bool found = false;
	uint64_t entry = 0;
	unsigned i, j;
	int ret;

	ret = elf_read_header(img, len, c, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < c->phnum; i++) {
		elf_read_phdr(c, i, &s);
		if (s.type == PT_NOTE && !found) {
			ret = elf_scan_notes(c, s.offset, s.filesz, s.align, &entry, &found,
					     err, errlen);
			if (ret)
				return ret;
		}
		if (s.type != PT_LOAD || !s.memsz)
			continue;
		ret = elf_check_load(c, i, &s, err, errlen);
		if (ret)
			return ret;
		for (j = 0; j < i; j++) {
			elf_read_phdr(c, j, &t);
			if (t.type == PT_LOAD && t.memsz &&
			    ranges_overlap(s.paddr, s.memsz, t.paddr, t.memsz))
				return fw_fail(err, errlen, -EINVAL,
					       "ELF segments %u and %u overlap at 0x%" PRIx64,
					       j, i, s.paddr);
		}
		info.nr_load++;
		if (s.paddr < info.lowest_paddr)
			info.lowest_paddr = s.paddr;
		if (s.paddr + s.memsz > info.highest_paddr_end)
			info.highest_paddr_end = s.paddr + s.memsz;
	}
	if (!info.nr_load)
		return fw_fail(err, errlen, -ENOEXEC, "ELF has no PT_LOAD segment");
	for (i = 0; i < c->shnum && !found; i++) {
		elf_read_shdr(c, i, &s);
		if (s.type != SHT_NOTE)
			continue;
		ret = elf_scan_notes(c, s.offset, s.filesz, s.align, &entry, &found, err, errlen);
		if (ret)
			return ret;
	}
	if (!found)
		return fw_fail(err, errlen, -ENOEXEC,
			       "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
	/* The entry must land in code we load, and be reachable in 32-bit mode. */
	for (i = 0; i < c->phnum; i++) {
		elf_read_phdr(c, i, &s);
		if (s.type == PT_LOAD && s.memsz && entry >= s.paddr && entry - s.paddr < s.memsz)
			break;
	}
	if (i == c->phnum)
		return fw_fail(err, errlen, -ENOEXEC,
			       "PVH entry 0x%" PRIx64 " is not inside a loaded segment", entry);
	info.pvh_entry = entry;
	*out = info;
	return 0;
}

int fw_elf_parse(const uint8_t *img, size_t len, struct fw_elf_info *out, char *err,
		 size_t errlen)
{
	struct elf_ctx c;

	if (!out)
		return fw_fail(err, errlen, -EINVAL, "no output");
	return elf_parse(img, len, &c, out, err, errlen);
}

static void pvh_build_start_info(uint8_t *buf, size_t buflen, const struct fw_linux_cfg *cfg,
				 uint64_t initrd_gpa)
{
	const struct pc_layout *l = cfg->layout;
	uint8_t *si = buf;
	uint8_t *mod = buf + (FW_MODLIST_GPA - FW_START_INFO_GPA);
	uint8_t *mm = buf + (FW_MEMMAP_GPA - FW_START_INFO_GPA);
	unsigned n;

	memset(buf, 0, buflen);
	put_le32(si + 0, HVM_START_MAGIC);
	put_le32(si + 4, HVM_START_VERSION);
	put_le32(si + 8, 0);                          /* flags */
	put_le32(si + 12, cfg->initrd_len ? 1 : 0);   /* nr_modules */
	put_le64(si + 16, cfg->initrd_len ? FW_MODLIST_GPA : 0);
	put_le64(si + 24, FW_CMDLINE_GPA);
	put_le64(si + 32, cfg->rsdp_gpa);             /* rsdp_paddr; 0: none */
	put_le64(si + 40, FW_MEMMAP_GPA);
	put_le32(si + 48, l->nr_e820);

	if (cfg->initrd_len) {
		put_le64(mod + 0, initrd_gpa);
		put_le64(mod + 8, cfg->initrd_len);
		/* cmdline_paddr and reserved stay 0: the initrd takes no arguments */
	}
	for (n = 0; n < l->nr_e820 && n < ARRAY_SIZE(l->e820); n++) {
		uint8_t *e = mm + n * HVM_MEMMAP_ENTRY_SIZE;

		put_le64(e + 0, l->e820[n].addr);
		put_le64(e + 8, l->e820[n].size);
		put_le32(e + 16, l->e820[n].type);
	}
}

int fw_load_pvh(const struct fw_linux_cfg *cfg, struct fw_entry *entry, char *err,
		size_t errlen)
{
	uint8_t si[(FW_MEMMAP_GPA - FW_START_INFO_GPA) + ARRAY_SIZE(cfg->layout->e820) *
		   HVM_MEMMAP_ENTRY_SIZE];
	struct fw_elf_info info;
	uint64_t initrd_gpa = 0;
	size_t cmdline_len;
	struct elf_ctx c;
	struct elf_seg s;
	unsigned i;
	int ret;

	/* The memory map must fit the start-info page, clear of the stack. */
	_Static_assert(ARRAY_SIZE(cfg->layout->e820) <= HVM_MEMMAP_MAX, "memmap too large");
	_Static_assert(FW_START_INFO_GPA + HVM_START_INFO_SIZE <= FW_MODLIST_GPA, "modlist");
	_Static_assert(FW_MODLIST_GPA + HVM_MODLIST_ENTRY_SIZE <= FW_MEMMAP_GPA, "memmap");
	_Static_assert(FW_MEMMAP_GPA + HVM_MEMMAP_MAX * HVM_MEMMAP_ENTRY_SIZE <= 0x9000,
		       "memmap reaches the stack");

	ret = fw_check_common(cfg, &cmdline_len, err, errlen);
	if (ret)
		return ret;
	ret = elf_parse(cfg->kernel, cfg->kernel_len, &c, &info, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < c.phnum; i++) {
		elf_read_phdr(&c, i, &s);
		if (s.type != PT_LOAD || !s.memsz)
			continue;
		if (!fw_e820_is_ram(cfg->layout, s.paddr, s.memsz))
			return fw_fail(err, errlen, -E2BIG,
				       "ELF segment %u at 0x%" PRIx64 "-0x%" PRIx64
				       " is not in RAM (RAM below 4 GiB ends at 0x%" PRIx64 ")",
				       i, s.paddr, s.paddr + s.memsz,
				       fw_e820_top_below_4g(cfg->layout));
		if (!fw_space_is_ram(cfg->space, s.paddr, s.memsz))
			return fw_fail(err, errlen, -EINVAL,
				       "E820 says RAM but the address space has none at 0x%" PRIx64,
				       s.paddr);
	}
	if (cfg->initrd_len) {
		ret = fw_place_initrd(cfg->layout, cfg->initrd_len,
				      fw_e820_top_below_4g(cfg->layout), info.lowest_paddr,
				      info.highest_paddr_end, &initrd_gpa, err, errlen);
		if (ret)
			return ret;
		if (!fw_space_is_ram(cfg->space, initrd_gpa, cfg->initrd_len))
			return fw_fail(err, errlen, -EINVAL,
				       "E820 says RAM but the address space has none at 0x%" PRIx64,
				       initrd_gpa);
	}

	/* Everything is validated: from here on only guest writes can fail. */
	for (i = 0; i < c.phnum && !ret; i++) {
		elf_read_phdr(&c, i, &s);
		if (s.type != PT_LOAD || !s.memsz)
			continue;
		if (s.filesz && cfg->ram_is_zero)
			ret = fw_write_nonzero(cfg->space, s.paddr, c.img + s.offset, s.filesz);
		else if (s.filesz)
			ret = mem_write(cfg->space, s.paddr, c.img + s.offset, s.filesz);
		/* The bss part: RAM may hold a previous boot's bytes. */
		if (!ret && s.memsz > s.filesz && !cfg->ram_is_zero)
			ret = fw_zero(cfg->space, s.paddr + s.filesz, s.memsz - s.filesz);
	}
	if (!ret && cfg->initrd_len)
		ret = mem_write(cfg->space, initrd_gpa, cfg->initrd, cfg->initrd_len);
	if (!ret)
		ret = fw_write_cmdline(cfg->space, cfg->cmdline, cmdline_len);
	if (!ret) {
		size_t n = (FW_MEMMAP_GPA - FW_START_INFO_GPA) +
			   (size_t)cfg->layout->nr_e820 * HVM_MEMMAP_ENTRY_SIZE;

		pvh_build_start_info(si, sizeof(si), cfg, initrd_gpa);
		ret = mem_write(cfg->space, FW_START_INFO_GPA, si, n);
	}
	if (!ret)
		ret = fw_write_gdt(cfg->space, false, entry);
	if (!ret)
		ret = fw_mptable_write(cfg->space, FW_MPTABLE_GPA, cfg->ncpus);
	if (ret)
		return fw_fail(err, errlen, ret, "writing the boot image into guest memory failed");

	entry->mode = FW_ENTRY_PROT32;
	entry->rip = info.pvh_entry;
	entry->rbx = FW_START_INFO_GPA;
	entry->rsp = FW_STACK_TOP;
	entry->rsi = 0;
	entry->cr0 = X86_CR0_PE;
	entry->cr3 = 0;
	entry->cr4 = 0;
	entry->efer = 0;
	return 0;
}
