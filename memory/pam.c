/*
 * memory/pam.c - the PC layout in the region tree, and the Q35 MCH
 * PAM/SMRAM/ESMRAMC registers that reshape the first MiB and TSEG.
 *
 * Every piece is its own unmergeable alias of the one RAM backend, so that a
 * register write changes only the flat ranges of the piece it controls:
 * RAM from 1 MiB up is never deleted or re-added while firmware programs
 * PAM or SMRAM (seed 01, invariant I1), and TSEG changes touch only the
 * TSEG pieces.
 *
 * PAM semantics follow the Intel MCH datasheets (PAM0-PAM6 at 0x90-0x96,
 * each segment a 2-bit field: bit 0 RE (reads claimed by DRAM), bit 1 WE
 * (writes claimed by DRAM); what DRAM does not claim goes to DMI/PCI, which
 * for 0xE0000-0xFFFFF is the firmware flash):
 *   OFF (00) reads and writes to PCI/ROM;
 *   RO  (01) reads from DRAM, writes to PCI/ROM (so they never reach DRAM);
 *   WO  (10) writes to DRAM, reads from PCI/ROM;
 *   RW  (11) DRAM.
 * QEMU 7.2 maps WO like OFF (reads and writes both to PCI), so firmware
 * that shadows through write-only mode loses its writes; this file keeps the
 * datasheet's write-only path. RO writes go to the PCI/ROM side, where
 * nothing claims them here, so they are dropped.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "memory/mem_internal.h"
#include "memory/pc.h"

/* ---- access handlers ------------------------------------------------------ */

/* What an address nobody claims looks like: all-ones, writes vanish. */
static int pc_unassigned_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	(void)opaque;
	(void)off;
	*val = access_ones(size);
	return 0;
}

static int pc_unassigned_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	(void)opaque;
	(void)off;
	(void)size;
	(void)val;
	return 0;
}

static const struct access_ops pc_unassigned_ops = {
	.read = pc_unassigned_read,
	.write = pc_unassigned_write,
};

/*
 * PAM write-only: the write is claimed by DRAM. Store exactly the guest's
 * width into the RAM backend at the segment's own offset (backend offset ==
 * GPA below 4 GiB); the dispatcher has checked off + size fits the segment.
 */
static int pc_pam_wo_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct pc_pam_seg *seg = opaque;

	mem_store_width(seg->pc->ram->host + seg->start + off, size, val);
	return 0;
}

/* Used both as the ROM side's write trap and as MMIO where there is no ROM. */
static const struct access_ops pc_pam_wo_ops = {
	.read = pc_unassigned_read,
	.write = pc_pam_wo_write,
};

/* ---- register decoding ---------------------------------------------------- */

static void pc_pam_seg_geometry(unsigned i, uint64_t *start, uint64_t *size)
{
	/* 12 segments of 16 KiB from 0xC0000, then the 64 KiB BIOS segment. */
	if (i < 12) {
		*start = PC_PAM_START + i * 16 * KiB;
		*size = 16 * KiB;
	} else {
		*start = 0xF0000;
		*size = 64 * KiB;
	}
}

/*
 * PAM0 bits 5:4 (HIENABLE) control 0xF0000-0xFFFFF, bits 1:0 are reserved.
 * PAMn (n = 1..6) bits 1:0 (LOENABLE) and 5:4 (HIENABLE) control the two
 * 16 KiB segments 0xC0000 + (n-1) * 32 KiB and the one 16 KiB above it.
 * Returns the segment index of a field, or -1 for a reserved field.
 */
static int pc_pam_field_seg(unsigned reg, bool hi)
{
	if (reg == 0)
		return hi ? 12 : -1;
	return (int)(2 * (reg - 1) + (hi ? 1 : 0));
}

/* ---- applying state to the tree ---------------------------------------- */

static int pc_pam_apply(struct pc_pam_seg *seg, enum pam_mode mode)
{
	const struct access_ops *rom_ops;
	bool dram_on = mode == PAM_RO || mode == PAM_RW;
	int ret;

	/* The ROM/PCI side: plain ROM or all-ones, or the write-only path to DRAM. */
	if (mode == PAM_WO)
		rom_ops = &pc_pam_wo_ops;
	else
		rom_ops = seg->rom_is_ram ? NULL : &pc_unassigned_ops;

	ret = mem_region_set_enabled(&seg->dram, dram_on);
	if (!ret && dram_on)
		ret = mem_region_set_readonly(&seg->dram, mode == PAM_RO);
	if (!ret)
		ret = mem_region_set_enabled(&seg->rom, !dram_on);
	if (!ret)
		ret = mem_region_set_ops(&seg->rom, rom_ops, rom_ops ? seg : NULL);
	if (!ret)
		seg->mode = mode;
	return ret;
}

static uint64_t pc_tseg_size(uint8_t esmramc)
{
	switch ((esmramc & PC_ESMRAMC_TSEG_SZ) >> 1) {
	case 0:
		return 1 * MiB;
	case 1:
		return 2 * MiB;
	case 2:
		return 8 * MiB;
	default:
		return 0; /* reserved encoding: no TSEG */
	}
}

/*
 * Outside SMM (the system view, KVM address space 0), the SMRAM window shows
 * DRAM only while compatible SMRAM is enabled (G_SMRAME), open (D_OPEN, which
 * D_LCK forces to 0) and not remapped high (H_SMRAME: it would then live at
 * 0xFEDA0000, which this VMM does not map: that would put an SMRAM change
 * above 1 MiB). Otherwise the window is the VGA hole. D_CLS only affects data
 * accesses from inside SMM, so it changes nothing here.
 *
 * TSEG, with T_EN and G_SMRAME, hides the top TSEG_SZ of low RAM from
 * non-SMM accesses: its pieces read all-ones and drop writes.
 *
 * The SMM view (when built) sees SMRAM DRAM in the window whenever
 * compatible SMRAM is enabled and not remapped high (G_SMRAME, !H_SMRAME),
 * and the DRAM of the TSEG pieces the system view hides. Its overlays are
 * toggled in the same transaction group as the system view's regions.
 */
static int pc_tseg_set(struct mem_region piece[3], uint64_t hidden)
{
	int ret;

	/* Pieces from the top: [1M..0] hidden from 1 MiB, [2M..1M] from 2 MiB, [8M..2M] at 8. */
	ret = mem_region_set_enabled(&piece[2], hidden >= 1 * MiB);
	if (!ret)
		ret = mem_region_set_enabled(&piece[1], hidden >= 2 * MiB);
	if (!ret)
		ret = mem_region_set_enabled(&piece[0], hidden >= 8 * MiB);
	return ret;
}

static int pc_smram_apply(struct pc_mem *pc)
{
	bool g_smrame = pc->smram & PC_SMRAM_G_SMRAME;
	bool low = g_smrame && !(pc->esmramc & PC_ESMRAMC_H_SMRAME);
	bool open = low && (pc->smram & PC_SMRAM_D_OPEN) && !(pc->smram & PC_SMRAM_D_LCK);
	uint64_t hidden = 0;
	int ret;

	ret = mem_region_set_enabled(&pc->smram_dram, open);
	if (!ret && pc->smm)
		ret = mem_region_set_enabled(&pc->smm_window, low);
	if (ret || !pc->has_tseg)
		return ret; /* without TSEG pieces, T_EN has nothing to hide */

	if ((pc->esmramc & PC_ESMRAMC_T_EN) && g_smrame)
		hidden = pc_tseg_size(pc->esmramc);
	ret = pc_tseg_set(pc->tseg_blackhole, hidden);
	if (!ret && pc->smm)
		ret = pc_tseg_set(pc->smm_tseg, hidden);
	return ret;
}

/* ---- build ---------------------------------------------------------------- */

static int pc_add(struct mem_region *parent, struct mem_region *r, uint64_t addr, int prio)
{
	mem_region_set_unmergeable(r, true);
	return mem_region_add(parent, r, addr, prio);
}

static int pc_alias(struct pc_mem *pc, struct mem_region *r, const char *name, uint64_t gpa,
		    uint64_t backend_off, uint64_t size)
{
	mem_region_init_alias(r, name, &pc->ram_all, backend_off, size);
	return pc_add(&pc->space->root, r, gpa, 0);
}

/* Remove every region this file put into the space (inside the caller's transaction). */
static void pc_mem_unbuild(struct pc_mem *pc)
{
	struct mem_region *top[] = {
		&pc->ram_low, &pc->smram_container, &pc->ram_mid, &pc->tseg[0], &pc->tseg[1],
		&pc->tseg[2], &pc->tseg_blackhole[0], &pc->tseg_blackhole[1],
		&pc->tseg_blackhole[2], &pc->ram_high, &pc->bios_4g, &pc->hotplug,
	};
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(top); i++)
		if (top[i]->parent == &pc->space->root && mem_region_del(top[i]))
			log_error("pc: cannot remove %s", top[i]->name);
	for (i = 0; i < PC_PAM_SEGMENTS; i++)
		if (pc->pam[i].container.parent == &pc->space->root &&
		    mem_region_del(&pc->pam[i].container))
			log_error("pc: cannot remove %s", pc->pam[i].container.name);
}

static int pc_build_pam(struct pc_mem *pc)
{
	unsigned i;
	int ret;

	for (i = 0; i < PC_PAM_SEGMENTS; i++) {
		struct pc_pam_seg *seg = &pc->pam[i];
		uint64_t bios_base;

		seg->pc = pc;
		pc_pam_seg_geometry(i, &seg->start, &seg->size);
		mem_region_init_container(&seg->container, "pam", seg->size);
		mem_region_init_alias(&seg->dram, "pam-dram", &pc->ram_all, seg->start, seg->size);
		seg->rom_is_ram = pc->bios && seg->start >= PC_BIOS_START;
		if (seg->rom_is_ram) {
			/* The last 128 KiB of the image mirror 0xE0000-0xFFFFF. */
			bios_base = pc->bios->size - 128 * KiB;
			mem_region_init_ram(&seg->rom, "pam-rom", pc->bios,
					    bios_base + (seg->start - PC_BIOS_START), seg->size);
			seg->rom.readonly = true;
		} else {
			mem_region_init_mmio(&seg->rom, "pam-pci", seg->size, &pc_unassigned_ops,
					     seg);
		}
		/* The mode is applied below; start from "nothing decided". */
		seg->dram.enabled = false;
		seg->mode = PAM_OFF;
		ret = mem_region_add(&seg->container, &seg->dram, 0, 1);
		if (!ret)
			ret = mem_region_add(&seg->container, &seg->rom, 0, 0);
		if (!ret)
			ret = pc_add(&pc->space->root, &seg->container, seg->start, 0);
		if (ret)
			return ret;
	}
	return 0;
}

static int pc_build_smram(struct pc_mem *pc)
{
	int ret;

	mem_region_init_container(&pc->smram_container, "smram-window", 128 * KiB);
	mem_region_init_mmio(&pc->smram_vga, "vga-hole", 128 * KiB, &pc_unassigned_ops, NULL);
	mem_region_init_alias(&pc->smram_dram, "smram-dram", &pc->ram_all, PC_VGA_START,
			      128 * KiB);
	pc->smram_dram.enabled = false;
	ret = mem_region_add(&pc->smram_container, &pc->smram_vga, 0, 0);
	if (!ret)
		ret = mem_region_add(&pc->smram_container, &pc->smram_dram, 0, 1);
	if (!ret)
		ret = pc_add(&pc->space->root, &pc->smram_container, PC_VGA_START, 0);
	return ret;
}

static int pc_build_tseg(struct pc_mem *pc)
{
	static const uint64_t top_off[4] = { 8 * MiB, 2 * MiB, 1 * MiB, 0 };
	uint64_t top = pc->layout.below_4g;
	unsigned i;
	int ret;

	for (i = 0; i < 3; i++) {
		uint64_t start = top - top_off[i], size = top_off[i] - top_off[i + 1];

		ret = pc_alias(pc, &pc->tseg[i], "tseg", start, start, size);
		if (ret)
			return ret;
		mem_region_init_mmio(&pc->tseg_blackhole[i], "tseg-blackhole", size,
				     &pc_unassigned_ops, NULL);
		pc->tseg_blackhole[i].enabled = false;
		ret = pc_add(&pc->space->root, &pc->tseg_blackhole[i], start, 1);
		if (ret)
			return ret;
	}
	return 0;
}

static int pc_mem_apply_power_on(struct pc_mem *pc)
{
	unsigned i;
	int ret = 0;

	pc->smram = PC_SMRAM_POWER_ON;
	pc->esmramc = PC_ESMRAMC_POWER_ON;
	memset(pc->pam_regs, 0, sizeof(pc->pam_regs));
	for (i = 0; i < PC_PAM_SEGMENTS && !ret; i++)
		ret = pc_pam_apply(&pc->pam[i], PAM_OFF);
	if (!ret)
		ret = pc_smram_apply(pc);
	return ret;
}

int pc_mem_build(struct pc_mem *pc, struct mem_space *space, struct mem_backend *ram,
		 struct mem_backend *bios, const struct pc_layout *layout)
{
	const struct pc_layout *l = layout;
	uint64_t mid_end;
	int ret, cret;

	if (!pc || !space || !ram || !layout)
		return -EINVAL;
	if (l->below_4g < PC_HIGH_START + 4 * KiB || l->below_4g > PC_ECAM_BASE ||
	    l->ram_size != l->below_4g + l->above_4g || ram->size < l->ram_size ||
	    (l->above_4g && range_invalid(l->above_4g_start, l->above_4g))) {
		log_error("pc: layout does not match the RAM backend");
		return -EINVAL;
	}
	/* The image ends at 4 GiB and must stay above the KVM TSS pages. */
	if (bios && (bios->size % (64 * KiB) || bios->size < 128 * KiB ||
		     bios->size > PC_4G - (PC_KVM_TSS + 16 * KiB))) {
		log_error("pc: firmware image of %llu bytes: want 128 KiB to 16 MiB in 64 KiB units",
			  (unsigned long long)bios->size);
		return -EINVAL;
	}

	memset(pc, 0, sizeof(*pc));
	pc->space = space;
	pc->ram = ram;
	pc->bios = bios;
	pc->layout = *layout;
	pc->has_tseg = l->below_4g >= PC_TSEG_MIN_LOWMEM;
	mid_end = pc->has_tseg ? l->below_4g - PC_TSEG_MAX : l->below_4g;
	mem_region_init_ram(&pc->ram_all, "pc.ram", ram, 0, ram->size);

	mem_begin(space);
	ret = pc_alias(pc, &pc->ram_low, "ram-below-640k", 0, 0, PC_LOW_RAM_END);
	if (!ret)
		ret = pc_build_smram(pc);
	if (!ret)
		ret = pc_build_pam(pc);
	if (!ret)
		ret = pc_alias(pc, &pc->ram_mid, "ram-1m-to-tseg", PC_HIGH_START, PC_HIGH_START,
			       mid_end - PC_HIGH_START);
	if (!ret && pc->has_tseg)
		ret = pc_build_tseg(pc);
	/* RAM above 4 GiB follows low RAM in the backend, wherever it is mapped. */
	if (!ret && l->above_4g)
		ret = pc_alias(pc, &pc->ram_high, "ram-above-4g", l->above_4g_start, l->below_4g,
			       l->above_4g);
	if (!ret && l->hotplug_end > l->hotplug_start) {
		mem_region_init_container(&pc->hotplug, "hotplug",
					  l->hotplug_end - l->hotplug_start);
		ret = pc_add(&space->root, &pc->hotplug, l->hotplug_start, 0);
	}
	if (!ret && bios) {
		/* Firmware flash: read-only, and without ops writes are dropped. */
		mem_region_init_ram(&pc->bios_4g, "bios", bios, 0, bios->size);
		pc->bios_4g.readonly = true;
		ret = pc_add(&space->root, &pc->bios_4g, PC_4G - bios->size, 0);
	}
	if (!ret)
		ret = pc_mem_apply_power_on(pc);
	if (ret)
		pc_mem_unbuild(pc);
	cret = mem_commit(space);
	if (!ret)
		ret = cret;
	if (ret) {
		log_error("pc: building the memory layout failed: %d", ret);
		return ret;
	}
	pc->built = true;
	return 0;
}

/* ---- register writes -------------------------------------------------------- */

struct pc_saved {
	enum pam_mode modes[PC_PAM_SEGMENTS];
	uint8_t pam_regs[7], smram, esmramc;
};

static void pc_save(const struct pc_mem *pc, struct pc_saved *sv)
{
	unsigned i;

	for (i = 0; i < PC_PAM_SEGMENTS; i++)
		sv->modes[i] = pc->pam[i].mode;
	memcpy(sv->pam_regs, pc->pam_regs, sizeof(sv->pam_regs));
	sv->smram = pc->smram;
	sv->esmramc = pc->esmramc;
}

/* The tree was rolled back by the engine; bring the register image back too. */
static void pc_restore(struct pc_mem *pc, const struct pc_saved *sv)
{
	unsigned i;

	for (i = 0; i < PC_PAM_SEGMENTS; i++)
		pc->pam[i].mode = sv->modes[i];
	memcpy(pc->pam_regs, sv->pam_regs, sizeof(pc->pam_regs));
	pc->smram = sv->smram;
	pc->esmramc = sv->esmramc;
}

/*
 * One register write is one transaction of each space: the system view and,
 * when built, the SMM view, which follows it (one group, all or nothing).
 */
static void pc_begin(struct pc_mem *pc, struct pc_saved *sv)
{
	mem_begin(pc->space);
	if (pc->smm)
		mem_begin(pc->smm);
	pc_save(pc, sv);
}

/* Commit what the caller changed since pc_begin; on failure restore @sv. */
static int pc_finish(struct pc_mem *pc, const struct pc_saved *sv, int ret)
{
	int cret = 0;

	/* The inner commit only unnests; the outer one finishes the group. */
	if (pc->smm)
		cret = mem_commit(pc->smm);
	if (!cret)
		cret = mem_commit(pc->space);
	else if (mem_commit(pc->space))
		log_error("pc: commit after a failed SMM commit failed too");
	if (!ret)
		ret = cret;
	if (ret)
		pc_restore(pc, sv);
	return ret;
}

int pc_mem_pam_write(struct pc_mem *pc, unsigned reg, uint8_t val)
{
	struct pc_saved sv;
	unsigned f;
	int ret = 0;

	if (!pc || !pc->built || reg > 6)
		return -EINVAL;
	pc_begin(pc, &sv);
	for (f = 0; f < 2 && !ret; f++) {
		int seg = pc_pam_field_seg(reg, f == 1);
		enum pam_mode mode = (enum pam_mode)((val >> (f ? 4 : 0)) & 3);

		if (seg < 0)
			continue;
		/* Only a segment whose mode changes is touched. */
		if (pc->pam[seg].mode != mode)
			ret = pc_pam_apply(&pc->pam[seg], mode);
	}
	/* Reserved bits read back as 0. */
	pc->pam_regs[reg] = val & (reg == 0 ? 0x30 : 0x33);
	return pc_finish(pc, &sv, ret);
}

int pc_mem_smram_write(struct pc_mem *pc, uint8_t val)
{
	struct pc_saved sv;
	uint8_t nv;

	if (!pc || !pc->built)
		return -EINVAL;
	pc_begin(pc, &sv);
	if (pc->smram & PC_SMRAM_D_LCK) {
		/*
		 * Locked until reset: only D_CLS stays writable. The datasheet says
		 * the Open/Close/Lock bits "function only when G_SMRAME is set";
		 * the lock is honoured regardless, which is the safe reading.
		 */
		nv = (pc->smram & ~PC_SMRAM_D_CLS) | (val & PC_SMRAM_D_CLS);
	} else {
		nv = (val & (PC_SMRAM_D_OPEN | PC_SMRAM_D_CLS | PC_SMRAM_D_LCK |
			     PC_SMRAM_G_SMRAME)) | PC_SMRAM_C_BASE_SEG;
		/* Setting D_LCK clears D_OPEN, in the same write. */
		if (nv & PC_SMRAM_D_LCK)
			nv &= ~PC_SMRAM_D_OPEN;
	}
	pc->smram = nv;
	return pc_finish(pc, &sv, pc_smram_apply(pc));
}

int pc_mem_esmramc_write(struct pc_mem *pc, uint8_t val)
{
	struct pc_saved sv;
	uint8_t nv;

	if (!pc || !pc->built)
		return -EINVAL;
	pc_begin(pc, &sv);
	/* E_SMERR is write-1-to-clear; the cache bits are hard-wired to 1. */
	nv = pc->esmramc;
	if (val & PC_ESMRAMC_E_SMERR)
		nv &= ~PC_ESMRAMC_E_SMERR;
	/* D_LCK freezes H_SMRAME, TSEG_SZ and T_EN until reset. */
	if (!(pc->smram & PC_SMRAM_D_LCK)) {
		nv &= ~(PC_ESMRAMC_H_SMRAME | PC_ESMRAMC_TSEG_SZ | PC_ESMRAMC_T_EN);
		nv |= val & (PC_ESMRAMC_H_SMRAME | PC_ESMRAMC_TSEG_SZ | PC_ESMRAMC_T_EN);
	}
	nv |= PC_ESMRAMC_SM_CACHE | PC_ESMRAMC_SM_L1 | PC_ESMRAMC_SM_L2;
	pc->esmramc = nv;
	return pc_finish(pc, &sv, pc_smram_apply(pc));
}

int pc_mem_reset(struct pc_mem *pc)
{
	struct pc_saved sv;

	if (!pc || !pc->built)
		return -EINVAL;
	pc_begin(pc, &sv);
	return pc_finish(pc, &sv, pc_mem_apply_power_on(pc));
}

/* ---- the SMM view ------------------------------------------------------------ */

static void pc_smm_unbuild(struct pc_mem *pc)
{
	unsigned i;

	if (pc->smm_window.parent && mem_region_del(&pc->smm_window))
		log_error("pc: cannot remove %s", pc->smm_window.name);
	for (i = 0; i < 3; i++)
		if (pc->smm_tseg[i].parent && mem_region_del(&pc->smm_tseg[i]))
			log_error("pc: cannot remove %s", pc->smm_tseg[i].name);
}

int pc_mem_build_smm(struct pc_mem *pc, struct mem_space *smm)
{
	struct pc_saved sv;
	unsigned i;
	int ret;

	if (!pc || !pc->built || !smm || smm == pc->space)
		return -EINVAL;
	if (pc->smm)
		return -EBUSY;
	ret = mem_space_follow(smm, pc->space);
	if (ret)
		return ret;

	/* Overlays over the followed system view (priority 0), off until applied. */
	mem_region_init_alias(&pc->smm_window, "smram-smm", &pc->ram_all, PC_VGA_START,
			      128 * KiB);
	pc->smm_window.enabled = false;
	for (i = 0; pc->has_tseg && i < 3; i++) {
		mem_region_init_alias(&pc->smm_tseg[i], "tseg-smm", &pc->ram_all,
				      pc->tseg[i].addr, pc->tseg[i].size);
		pc->smm_tseg[i].enabled = false;
	}
	pc->smm = smm;

	pc_begin(pc, &sv);
	ret = pc_add(&smm->root, &pc->smm_window, PC_VGA_START, 1);
	for (i = 0; !ret && pc->has_tseg && i < 3; i++)
		ret = pc_add(&smm->root, &pc->smm_tseg[i], pc->tseg[i].addr, 1);
	if (!ret)
		ret = pc_smram_apply(pc);
	if (ret)
		pc_smm_unbuild(pc);
	ret = pc_finish(pc, &sv, ret);
	if (ret) {
		pc->smm = NULL;
		if (mem_space_unfollow(smm))
			log_error("pc: SMM space could not stop following after a failed build");
		log_error("pc: building the SMM view failed: %d", ret);
	}
	return ret;
}
