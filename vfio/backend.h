/*
 * vfio/backend.h - one small interface to the host IOMMU, several backends.
 *
 * Contract
 * - Owns: the host IOMMU context of one VM (a type1 container with its
 *   groups, or an iommufd IOAS), i.e. one DMA map set shared by every
 *   passthrough device of the VM. Device fds handed out by open_device are
 *   the caller's (vfio/pci closes them); the backend keeps the groups.
 * - Backends: "type1" (/dev/vfio/vfio + /dev/vfio/N, VFIO_TYPE1v2_IOMMU),
 *   "iommufd" (/dev/iommu + /dev/vfio/devices/vfioN; only when the build's
 *   headers and the running kernel have it), "record" (vfio/record.c: no
 *   kernel, records every call, for tests and benches).
 * - Order for the VMM: create, open_device for each device, iova_ranges
 *   (type1 knows them only once a group is attached), compute the layout
 *   from them, build memory, then register the DMA listener (vfio/dma.h).
 *   A device opened later joins the same map set (type1 replays the
 *   container's mappings into a new group's domain; iommufd attaches to the
 *   same IOAS).
 * - Errors: 0 or -errno (WUR). Functions taking err/errlen write one line
 *   saying what is wrong and what to do about it.
 * - Threads: not thread-safe; the caller serializes (the DMA listener runs
 *   under the memory space's lock).
 * - sysfs and /dev are parameters (struct vfio_backend_cfg) so tests can
 *   point them at a fake tree.
 */
#ifndef VMM_VFIO_BACKEND_H
#define VMM_VFIO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "memory/pc.h" /* struct iova_range */

struct vfio_backend_ops {
	/* Map [iova, iova+size) to host [vaddr, vaddr+size); page aligned. */
	int (*dma_map)(void *b, uint64_t iova, uint64_t size, void *vaddr, bool readonly);
	/* Unmap exactly a range earlier given to dma_map. */
	int (*dma_unmap)(void *b, uint64_t iova, uint64_t size);
	/*
	 * The usable IOVA ranges as the IOMMU reports them (inclusive ends);
	 * *nr is the count the IOMMU has, which may exceed @max (only @max
	 * are written). *nr == 0: unknown (treat everything as usable).
	 */
	int (*iova_ranges)(void *b, struct iova_range *out, unsigned max, unsigned *nr);
	/* Open a device ("0000:00:03.0", "00:03.0" or a sysfs path); *device_fd is the caller's. */
	int (*open_device)(void *b, const char *bdf_or_sysfs_path, int *device_fd, char *err,
			   size_t errlen);
	void (*destroy)(void *b);
	const char *name;
};

struct vfio_backend {
	const struct vfio_backend_ops *ops;
	void *priv; /* passed as @b to every op */
};

enum vfio_backend_kind {
	VFIO_BACKEND_AUTO,    /* type1 when /dev/vfio/vfio works, else iommufd */
	VFIO_BACKEND_TYPE1,
	VFIO_BACKEND_IOMMUFD,
};

struct vfio_backend_cfg {
	const char *sysfs_root; /* NULL: "/sys" */
	const char *dev_root;   /* NULL: "/dev" */
};

/* "auto", "type1", "iommufd" -> kind; -EINVAL otherwise. */
int vfio_backend_kind_parse(const char *s, enum vfio_backend_kind *out) WUR;

/* @cfg may be NULL. On failure *out is NULL and @err says why. */
int vfio_backend_create(struct vfio_backend **out, enum vfio_backend_kind kind,
			const struct vfio_backend_cfg *cfg, char *err, size_t errlen) WUR;
/* Closes the groups / IOAS (the kernel drops every mapping). NULL is fine. */
void vfio_backend_destroy(struct vfio_backend *be);

static inline const char *vfio_backend_name(const struct vfio_backend *be)
{
	return be->ops->name;
}

int vfio_backend_dma_map(struct vfio_backend *be, uint64_t iova, uint64_t size, void *vaddr,
			 bool readonly) WUR;
int vfio_backend_dma_unmap(struct vfio_backend *be, uint64_t iova, uint64_t size) WUR;
int vfio_backend_iova_ranges(struct vfio_backend *be, struct iova_range *out, unsigned max,
			     unsigned *nr) WUR;
int vfio_backend_open_device(struct vfio_backend *be, const char *dev, int *device_fd,
			     char *err, size_t errlen) WUR;

/* The individual backends (vfio_backend_create picks among the first two). */
int vfio_type1_create(struct vfio_backend **out, const struct vfio_backend_cfg *cfg, char *err,
		      size_t errlen) WUR;
int vfio_iommufd_create(struct vfio_backend **out, const struct vfio_backend_cfg *cfg,
			char *err, size_t errlen) WUR;

/*
 * Parse a VFIO_IOMMU_GET_INFO reply (struct vfio_iommu_type1_info and its
 * capability chain, @len bytes as returned) for the IOVA-range capability.
 * Every offset is checked against @len; a chain that loops or points
 * outside is -EINVAL. No capability: *nr = 0.
 */
int vfio_type1_parse_iova_caps(const void *info, size_t len, struct iova_range *out,
			       unsigned max, unsigned *nr) WUR;

/* ---- the recording backend (tests, benches) ------------------------------ */

struct vfio_record_call {
	bool map;
	uint64_t iova, size;
	void *vaddr;
	bool readonly;
	int ret;
};

struct vfio_record_map {
	uint64_t iova, size;
	void *vaddr;
	bool readonly;
};

struct vfio_record {
	struct vfio_record_call *log; /* the first log_cap calls since the last clear */
	unsigned log_cap, n;
	uint64_t maps, unmaps;        /* successful calls since the last clear */
	uint64_t map_bytes;
	uint64_t total;               /* every map/unmap ever, failed ones included */
	uint64_t fail_at;             /* fail the map/unmap whose total is this; 0: never */
	int fail_err;                 /* the error to fail with (-EIO when 0) */
	/* What is mapped now, like an IOMMU: overlapping maps are -EEXIST, unknown unmaps -ENOENT. */
	struct vfio_record_map *live;
	unsigned nlive, live_cap;
	/* Reported by iova_ranges, and maps outside them fail (-EINVAL); nr_ranges 0: "unknown". */
	struct iova_range ranges[16];
	unsigned nr_ranges;
	unsigned devices_opened;
};

int vfio_record_create(struct vfio_backend **out, unsigned log_cap) WUR;
/* The recording state of a backend made by vfio_record_create, else NULL. */
struct vfio_record *vfio_record_of(struct vfio_backend *be);
void vfio_record_clear(struct vfio_record *r);
/* true when [iova, iova+size) is exactly one live mapping. */
bool vfio_record_has(const struct vfio_record *r, uint64_t iova, uint64_t size);

#endif
