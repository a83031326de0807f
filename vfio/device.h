/*
 * vfio/device.h - the few operations the passthrough PCI model needs from a
 * VFIO device fd, behind a table of function pointers so the unit tests can
 * supply a fake device.
 *
 * Contract
 * - struct vfio_dev_io is {ops, opaque}; vfio/pci calls ops with opaque.
 * - read/write are exactly ONE access of @size bytes (1, 2, 4 or 8) at @off
 *   of region @index (I4): the real implementation is one pread/pwrite of
 *   @size bytes, which vfio-pci turns into one ioread/iowrite of that width
 *   for an aligned access. Never a copy loop, never memcpy.
 * - read_buf copies a whole range of a region that is not device memory as
 *   such (config space, the ROM image) in as many preads as the kernel
 *   wants; it is never used for BAR accesses.
 * - region_info parses the capability chain: sparse mmap areas (each
 *   checked against the region size) and MSIX_MAPPABLE.
 * - mmap maps [off, off+size) of a region shared read/write; munmap undoes it.
 * - set_irqs: @fds NULL means DATA_NONE, else @count eventfds (-1: none).
 * - Every op returns 0 or -errno (WUR).
 * - vfio_dev_fd: the real implementation over a device fd it owns (closed
 *   by vfio_dev_fd_close, which is safe twice and on a zeroed struct).
 */
#ifndef VMM_VFIO_DEVICE_H
#define VMM_VFIO_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

/* Region indexes and IRQ indexes of vfio-pci (linux/vfio.h, fixed by the uAPI). */
#define VFIO_DEV_BAR0           0
#define VFIO_DEV_ROM            6
#define VFIO_DEV_CONFIG         7
#define VFIO_DEV_NUM_REGIONS    9
#define VFIO_DEV_IRQ_INTX       0
#define VFIO_DEV_IRQ_MSI        1
#define VFIO_DEV_IRQ_MSIX       2

#define VFIO_DEV_REGION_READ    0x1u
#define VFIO_DEV_REGION_WRITE   0x2u
#define VFIO_DEV_REGION_MMAP    0x4u

#define VFIO_DEV_MAX_AREAS      16

/* set_irqs @action (same values as VFIO_IRQ_SET_ACTION_*). */
#define VFIO_DEV_IRQ_MASK       (1u << 3)
#define VFIO_DEV_IRQ_UNMASK     (1u << 4)
#define VFIO_DEV_IRQ_TRIGGER    (1u << 5)

/* VFIO_DEVICE_GET_INFO flags we care about. */
#define VFIO_DEV_FLAG_RESET     0x1u

struct vfio_dev_area {
	uint64_t off, size;
};

struct vfio_dev_region {
	uint64_t size;          /* 0: not implemented */
	uint64_t offset;        /* of the region in the device fd */
	uint32_t flags;         /* VFIO_DEV_REGION_* */
	bool sparse;            /* areas[] limit what may be mmapped */
	bool msix_mappable;
	unsigned nr_areas;      /* with sparse: how many areas (0: none mappable) */
	struct vfio_dev_area areas[VFIO_DEV_MAX_AREAS];
};

struct vfio_dev_irq {
	uint32_t flags;         /* VFIO_IRQ_INFO_* */
	uint32_t count;
};

struct vfio_dev_io_ops {
	int (*read)(void *opaque, unsigned index, uint64_t off, unsigned size, uint64_t *val);
	int (*write)(void *opaque, unsigned index, uint64_t off, unsigned size, uint64_t val);
	int (*read_buf)(void *opaque, unsigned index, uint64_t off, void *buf, uint64_t len);
	int (*region_info)(void *opaque, unsigned index, struct vfio_dev_region *out);
	int (*irq_info)(void *opaque, unsigned index, struct vfio_dev_irq *out);
	int (*set_irqs)(void *opaque, unsigned index, uint32_t action, unsigned start,
			unsigned count, const int32_t *fds);
	int (*reset)(void *opaque);
	int (*mmap)(void *opaque, unsigned index, uint64_t off, uint64_t size, void **host);
	void (*munmap)(void *opaque, void *host, uint64_t size);
	/* VFIO_DEVICE_GET_INFO: flags (VFIO_DEV_FLAG_*), region and irq counts. */
	int (*info)(void *opaque, uint32_t *flags, unsigned *num_regions, unsigned *num_irqs);
};

struct vfio_dev_io {
	const struct vfio_dev_io_ops *ops;
	void *opaque;
};

/* The real thing: a VFIO device fd. */
struct vfio_dev_fd {
	int fd;
	struct vfio_dev_io io;  /* ops over this struct, filled by vfio_dev_fd_init */
	uint64_t reg_off[VFIO_DEV_NUM_REGIONS];  /* asked once at init */
	uint64_t reg_size[VFIO_DEV_NUM_REGIONS];
};

/* Take ownership of @fd (a VFIO device fd), fill @d->io, learn the region offsets. */
int vfio_dev_fd_init(struct vfio_dev_fd *d, int fd) WUR;
void vfio_dev_fd_close(struct vfio_dev_fd *d);

/*
 * Parse a VFIO_DEVICE_GET_REGION_INFO reply of @len bytes (the struct and
 * its capability chain) into @out. Every capability offset is checked
 * against @len, a loop is cut after a bounded number of hops, and sparse
 * areas that wrap or leave the region are refused (-EINVAL). Exposed for
 * the unit tests.
 */
int vfio_dev_parse_region_info(const void *info, uint64_t len, struct vfio_dev_region *out) WUR;

#endif
