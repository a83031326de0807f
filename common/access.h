/*
 * common/access.h - the shape of a trapped access handler, shared by the
 * PIO bus (devices/iobus) and MMIO regions (memory/).
 *
 * A handler serves accesses at an offset inside its range. Widths a handler
 * accepts are declared in min_size/max_size (powers of two, 1..8); the
 * dispatcher checks width and range before the handler runs, so handlers never
 * re-check them. A handler returns 0, or -errno for an access it refuses
 * (the dispatcher then treats a read as all-ones and drops a write).
 */
#ifndef VMM_COMMON_ACCESS_H
#define VMM_COMMON_ACCESS_H

#include <stdint.h>

struct access_ops {
	int (*read)(void *opaque, uint64_t off, unsigned size, uint64_t *val);
	int (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
	unsigned min_size; /* 0 means 1 */
	unsigned max_size; /* 0 means 8 */
};

/* All-ones for an access of @size bytes: what unassigned reads return. */
static inline uint64_t access_ones(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* Width check used by every dispatcher: size is 1,2,4,8 and within the ops' range. */
static inline int access_width_ok(const struct access_ops *ops, unsigned size)
{
	unsigned lo = ops->min_size ? ops->min_size : 1;
	unsigned hi = ops->max_size ? ops->max_size : 8;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return 0;
	return size >= lo && size <= hi;
}

#endif
