/*
 * vfio/iommufd_uapi.h - the part of the iommufd and VFIO-cdev uAPI that
 * vfio/iommufd.c uses, for builds whose kernel headers lack it.
 *
 * Contract
 * - Includes <linux/vfio.h> and, when it exists, <linux/iommufd.h>; every
 *   ioctl below those headers do not define is defined here, together with
 *   its argument structure, so vfio/iommufd.c always compiles (Debian 12's
 *   linux-libc-dev is 6.1: no iommufd.h, no VFIO_DEVICE_BIND_IOMMUFD).
 *   The system header wins whenever it has the symbol.
 * - The numbers and layouts are fixed kernel ABI, taken from Linux 6.12's
 *   include/uapi/linux/iommufd.h and include/uapi/linux/vfio.h (iommufd:
 *   since 6.2; the VFIO cdev ioctls: since 6.6). The static asserts check
 *   them against whichever definition is in use: ioctl numbers and field
 *   offsets exactly, structure sizes as a minimum (later kernels append
 *   fields; the size/argsz word tells the kernel which version we speak).
 * - Only the ioctls used here: IOMMU_DESTROY, IOMMU_IOAS_ALLOC,
 *   IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP, IOMMU_IOAS_UNMAP,
 *   VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT. (Detach is
 *   not needed: closing the device fd detaches and unbinds.)
 */
#ifndef VMM_VFIO_IOMMUFD_UAPI_H
#define VMM_VFIO_IOMMUFD_UAPI_H

#include <stddef.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif

/* Both families share the type ';' (0x3b); VFIO's numbers start at 100. */
#define VFIO_IOMMUFD_UAPI_TYPE ';'
#define VFIO_IOMMUFD_UAPI_CMD_DESTROY 0x80
#define VFIO_IOMMUFD_UAPI_CMD_IOAS_ALLOC 0x81
#define VFIO_IOMMUFD_UAPI_CMD_IOAS_IOVA_RANGES 0x84
#define VFIO_IOMMUFD_UAPI_CMD_IOAS_MAP 0x85
#define VFIO_IOMMUFD_UAPI_CMD_IOAS_UNMAP 0x86
#define VFIO_IOMMUFD_UAPI_VFIO_BIND (100 + 18)
#define VFIO_IOMMUFD_UAPI_VFIO_ATTACH (100 + 19)

/* ---- /dev/iommu ------------------------------------------------------------ */

#ifndef IOMMU_DESTROY
struct iommu_destroy {
	__u32 size;
	__u32 id; /* any destroyable object, e.g. an IOAS */
};
#define IOMMU_DESTROY _IO(VFIO_IOMMUFD_UAPI_TYPE, VFIO_IOMMUFD_UAPI_CMD_DESTROY)
_Static_assert(sizeof(struct iommu_destroy) == 8, "iommu_destroy ABI");
#endif

#ifndef IOMMU_IOAS_ALLOC
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags; /* must be 0 */
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(VFIO_IOMMUFD_UAPI_TYPE, VFIO_IOMMUFD_UAPI_CMD_IOAS_ALLOC)
_Static_assert(sizeof(struct iommu_ioas_alloc) == 12, "iommu_ioas_alloc ABI");
#endif

#ifndef IOMMU_IOAS_IOVA_RANGES
struct iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last; /* inclusive */
};

/*
 * num_iovas in: the room at allowed_iovas; out: how many ranges there are.
 * Too little room: -EMSGSIZE with num_iovas set to the count needed.
 */
struct iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved; /* must be 0 */
	__aligned_u64 allowed_iovas; /* user pointer to struct iommu_iova_range[] */
	__aligned_u64 out_iova_alignment;
};
#define IOMMU_IOAS_IOVA_RANGES \
	_IO(VFIO_IOMMUFD_UAPI_TYPE, VFIO_IOMMUFD_UAPI_CMD_IOAS_IOVA_RANGES)
_Static_assert(sizeof(struct iommu_iova_range) == 16, "iommu_iova_range ABI");
_Static_assert(sizeof(struct iommu_ioas_iova_ranges) == 32, "iommu_ioas_iova_ranges ABI");
#endif

#ifndef IOMMU_IOAS_MAP
/* In the kernel header these are enumerators, so they come with the ioctl. */
enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved; /* must be 0 */
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova; /* in with FIXED_IOVA, else out */
};
#define IOMMU_IOAS_MAP _IO(VFIO_IOMMUFD_UAPI_TYPE, VFIO_IOMMUFD_UAPI_CMD_IOAS_MAP)
_Static_assert(sizeof(struct iommu_ioas_map) == 40, "iommu_ioas_map ABI");
#endif

#ifndef IOMMU_IOAS_UNMAP
struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length; /* in: bytes to unmap; out: bytes unmapped */
};
#define IOMMU_IOAS_UNMAP _IO(VFIO_IOMMUFD_UAPI_TYPE, VFIO_IOMMUFD_UAPI_CMD_IOAS_UNMAP)
_Static_assert(sizeof(struct iommu_ioas_unmap) == 24, "iommu_ioas_unmap ABI");
#endif

/* ---- the VFIO device cdev (/dev/vfio/devices/vfioN) ------------------------- */

#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags; /* must be 0 */
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_IOMMUFD_UAPI_TYPE, VFIO_IOMMUFD_UAPI_VFIO_BIND)
_Static_assert(sizeof(struct vfio_device_bind_iommufd) == 16, "vfio_device_bind_iommufd ABI");
#endif

#ifndef VFIO_DEVICE_ATTACH_IOMMUFD_PT
struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags; /* must be 0 */
	__u32 pt_id; /* in: an IOAS (or HWPT); out: the HWPT attached */
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT \
	_IO(VFIO_IOMMUFD_UAPI_TYPE, VFIO_IOMMUFD_UAPI_VFIO_ATTACH)
_Static_assert(sizeof(struct vfio_device_attach_iommufd_pt) == 12,
	       "vfio_device_attach_iommufd_pt ABI");
#endif

/* ---- checks on whichever definitions are in use ----------------------------- */

_Static_assert(IOMMU_DESTROY == _IO(0x3b, 0x80), "IOMMU_DESTROY number");
_Static_assert(IOMMU_IOAS_ALLOC == _IO(0x3b, 0x81), "IOMMU_IOAS_ALLOC number");
_Static_assert(IOMMU_IOAS_IOVA_RANGES == _IO(0x3b, 0x84), "IOMMU_IOAS_IOVA_RANGES number");
_Static_assert(IOMMU_IOAS_MAP == _IO(0x3b, 0x85), "IOMMU_IOAS_MAP number");
_Static_assert(IOMMU_IOAS_UNMAP == _IO(0x3b, 0x86), "IOMMU_IOAS_UNMAP number");
_Static_assert(VFIO_DEVICE_BIND_IOMMUFD == _IO(0x3b, 118), "VFIO_DEVICE_BIND_IOMMUFD number");
_Static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == _IO(0x3b, 119),
	       "VFIO_DEVICE_ATTACH_IOMMUFD_PT number");
_Static_assert(IOMMU_IOAS_MAP_FIXED_IOVA == 1 && IOMMU_IOAS_MAP_WRITEABLE == 2 &&
		       IOMMU_IOAS_MAP_READABLE == 4,
	       "iommufd map flags");

_Static_assert(sizeof(struct iommu_destroy) >= 8 && offsetof(struct iommu_destroy, id) == 4,
	       "iommu_destroy layout");
_Static_assert(sizeof(struct iommu_ioas_alloc) >= 12 &&
		       offsetof(struct iommu_ioas_alloc, flags) == 4 &&
		       offsetof(struct iommu_ioas_alloc, out_ioas_id) == 8,
	       "iommu_ioas_alloc layout");
_Static_assert(sizeof(struct iommu_iova_range) == 16 &&
		       offsetof(struct iommu_iova_range, last) == 8,
	       "iommu_iova_range layout (an array element: exact)");
_Static_assert(sizeof(struct iommu_ioas_iova_ranges) >= 32 &&
		       offsetof(struct iommu_ioas_iova_ranges, ioas_id) == 4 &&
		       offsetof(struct iommu_ioas_iova_ranges, num_iovas) == 8 &&
		       offsetof(struct iommu_ioas_iova_ranges, allowed_iovas) == 16 &&
		       offsetof(struct iommu_ioas_iova_ranges, out_iova_alignment) == 24,
	       "iommu_ioas_iova_ranges layout");
_Static_assert(sizeof(struct iommu_ioas_map) >= 40 && offsetof(struct iommu_ioas_map, flags) == 4 &&
		       offsetof(struct iommu_ioas_map, ioas_id) == 8 &&
		       offsetof(struct iommu_ioas_map, user_va) == 16 &&
		       offsetof(struct iommu_ioas_map, length) == 24 &&
		       offsetof(struct iommu_ioas_map, iova) == 32,
	       "iommu_ioas_map layout");
_Static_assert(sizeof(struct iommu_ioas_unmap) >= 24 &&
		       offsetof(struct iommu_ioas_unmap, ioas_id) == 4 &&
		       offsetof(struct iommu_ioas_unmap, iova) == 8 &&
		       offsetof(struct iommu_ioas_unmap, length) == 16,
	       "iommu_ioas_unmap layout");
_Static_assert(sizeof(struct vfio_device_bind_iommufd) >= 16 &&
		       offsetof(struct vfio_device_bind_iommufd, flags) == 4 &&
		       offsetof(struct vfio_device_bind_iommufd, iommufd) == 8 &&
		       offsetof(struct vfio_device_bind_iommufd, out_devid) == 12,
	       "vfio_device_bind_iommufd layout");
_Static_assert(sizeof(struct vfio_device_attach_iommufd_pt) >= 12 &&
		       offsetof(struct vfio_device_attach_iommufd_pt, flags) == 4 &&
		       offsetof(struct vfio_device_attach_iommufd_pt, pt_id) == 8,
	       "vfio_device_attach_iommufd_pt layout");

#endif
