/*
 * vfio/dma.h - the DMA listener: guest RAM mapped into the host IOMMU with
 * IOVA = GPA, and the usable IOVA ranges the layout must respect.
 *
 * Contract
 * - Owns: a struct mem_listener on the system address space (not the SMM
 *   view: devices never see SMM-only memory) and the list of ranges it has
 *   mapped. The backend is borrowed and must outlive the listener.
 * - Which ranges: every RAM range of the flat view, mapped once when it
 *   appears (iova = gpa, vaddr = backend host pointer + backend offset) and
 *   unmapped only when that exact range leaves the view (hotplug unplug,
 *   unregister). MMIO ranges are not mapped (no peer-to-peer DMA).
 * - Below 1 MiB: ranges inside [PC_VGA_START, PC_HIGH_START) are ignored,
 *   mapped or not. That is where the PAM segments and the SMRAM window come
 *   and go; firmware flips them dozens of times during boot, and each flip
 *   would be an unmap+map (QEMU does exactly that, and unmapping DMA under a
 *   running device is what seed 01 is about). No device DMAs there: Linux
 *   reserves the first MiB and never hands it to a driver. RAM 0-640K is
 *   static and is mapped once like any other RAM. So a PAM or SMRAM change
 *   makes no backend call at all (invariants I1 and I5).
 * - Read-only RAM (the firmware flash below 4 GiB, shadowed ROM) is mapped
 *   read-only (device reads work, device writes fault in the IOMMU), as
 *   QEMU does; vfio_dma_cfg.skip_readonly leaves it out instead.
 * - What the engine gives us, and we rely on: a commit calls range_del and
 *   range_add only for ranges that really changed, deletions first, each
 *   with the exact range the listener was earlier told to add (also on a
 *   rollback). So a del is matched to a mapping by (gpa, size); a del of a
 *   range never mapped (ignored or MMIO) is a no-op; an identical range
 *   removed and re-added in one commit produces no call at all and stays
 *   mapped.
 * - Errors: a backend map failure fails range_add with its -errno, which
 *   makes mem_commit (or mem_listener_register) roll back; the one-line
 *   reason is logged and kept in vfio_dma.err. A failed unmap is logged and
 *   counted; the range is forgotten (the engine cannot undo a del's effect
 *   on the view), so the listener's picture stays the view's.
 * - Threads: the callbacks run under the space's tree lock; stats are for
 *   the thread that commits (tests, benches).
 */
#ifndef VMM_VFIO_DMA_H
#define VMM_VFIO_DMA_H

#include "memory/memory.h"
#include "memory/pc.h"
#include "vfio/backend.h"

struct vfio_dma_stats {
	uint64_t maps, unmaps;        /* successful backend calls */
	uint64_t map_bytes;
	uint64_t map_failures, unmap_failures;
	uint64_t ignored_low;         /* RAM ranges inside the PAM/SMRAM window */
	uint64_t ignored_other;       /* MMIO, read-only when skipped, nothing left after alignment */
};

struct vfio_dma_map {
	uint64_t gpa, size;           /* the flat range, as the engine gave it */
	uint64_t iova, len;           /* what was mapped: the range shrunk to whole pages */
};

struct vfio_dma_cfg {
	bool skip_readonly;           /* leave read-only RAM out instead of mapping it read-only */
};

struct vfio_dma {
	struct mem_listener l;
	struct vfio_backend *be;
	struct mem_space *space;      /* where it is registered, NULL when not */
	struct vfio_dma_cfg cfg;
	struct vfio_dma_map *maps;    /* sorted by gpa, non-overlapping */
	unsigned nr, cap;
	struct vfio_dma_stats stats;
	char err[192];                /* the last map failure, one line */
};

/* No backend call yet; @cfg may be NULL. */
int vfio_dma_init(struct vfio_dma *d, struct vfio_backend *be, const struct vfio_dma_cfg *cfg) WUR;
/* Register on @s: every RAM range is mapped now; on failure nothing stays mapped. */
int vfio_dma_register(struct vfio_dma *d, struct mem_space *s) WUR;
/* Unregister (everything mapped is unmapped); safe when not registered. */
void vfio_dma_unregister(struct vfio_dma *d);
/* Unregister and free; safe on a zeroed or half-built struct. */
void vfio_dma_destroy(struct vfio_dma *d);

/* true when [gpa, gpa+size) is exactly one range this listener has mapped. */
bool vfio_dma_is_mapped(const struct vfio_dma *d, uint64_t gpa, uint64_t size);

/*
 * Sort, check and merge IOVA ranges (overlapping or adjacent ones join) in
 * place; *nr becomes the merged count. -EINVAL on a range with end < start.
 */
int vfio_iova_normalize(struct iova_range *r, unsigned *nr) WUR;

/*
 * The backend's usable IOVA ranges, normalized, for pc_layout_cfg.usable_iova
 * (the layout treats the gaps as reserved and moves RAM past them, e.g.
 * above the AMD HyperTransport hole). *nr 0: the backend does not know
 * (leave usable_iova unset). -E2BIG with an error when more than @max.
 */
int vfio_dma_usable_iova(struct vfio_backend *be, struct iova_range *out, unsigned max,
			 unsigned *nr, char *err, size_t errlen) WUR;

#endif
