/*
 * vfio/record.c - a backend with no kernel behind it: it records every call,
 * keeps the live map set like an IOMMU would, fails the Nth call on demand
 * and reports whatever IOVA ranges it is given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfio/backend.h"

struct vfio_record_be {
	struct vfio_backend be; /* first: vfio_record_of checks ops */
	struct vfio_record r;
};

static void vfio_record_log(struct vfio_record *r, bool map, uint64_t iova, uint64_t size,
			    void *vaddr, bool readonly, int ret)
{
	if (r->n < r->log_cap)
		r->log[r->n++] = (struct vfio_record_call){ map, iova, size, vaddr, readonly, ret };
}

/* The error this call must fail with (the Nth call), or 0. */
static int vfio_record_injected(struct vfio_record *r)
{
	r->total++;
	if (r->fail_at && r->total == r->fail_at)
		return r->fail_err ? r->fail_err : -EIO;
	return 0;
}

static int vfio_record_map(void *b, uint64_t iova, uint64_t size, void *vaddr, bool readonly)
{
	struct vfio_record *r = &((struct vfio_record_be *)b)->r;
	unsigned i;
	int ret = vfio_record_injected(r);

	if (!ret && ((iova | size) & 0xFFF))
		ret = -EINVAL; /* what type1 says for unaligned ranges */
	/* Like type1: a map outside the reported IOVA ranges is refused. */
	if (!ret && r->nr_ranges) {
		bool inside = false;

		for (i = 0; i < r->nr_ranges && !inside; i++)
			inside = iova >= r->ranges[i].start && iova + size - 1 <= r->ranges[i].end;
		if (!inside)
			ret = -EINVAL;
	}
	for (i = 0; !ret && i < r->nlive; i++)
		if (ranges_overlap(iova, size, r->live[i].iova, r->live[i].size))
			ret = -EEXIST;
	if (!ret && r->nlive == r->live_cap) {
		unsigned cap = r->live_cap ? r->live_cap * 2 : 16;
		struct vfio_record_map *n = realloc(r->live, cap * sizeof(*n));

		if (!n)
			ret = -ENOMEM;
		else {
			r->live = n;
			r->live_cap = cap;
		}
	}
	if (!ret) {
		r->live[r->nlive++] = (struct vfio_record_map){ iova, size, vaddr, readonly };
		r->maps++;
		r->map_bytes += size;
	}
	vfio_record_log(r, true, iova, size, vaddr, readonly, ret);
	return ret;
}

static int vfio_record_unmap(void *b, uint64_t iova, uint64_t size)
{
	struct vfio_record *r = &((struct vfio_record_be *)b)->r;
	unsigned i;
	int ret = vfio_record_injected(r);

	if (!ret) {
		ret = -ENOENT;
		for (i = 0; i < r->nlive; i++) {
			if (r->live[i].iova == iova && r->live[i].size == size) {
				r->live[i] = r->live[--r->nlive];
				r->unmaps++;
				ret = 0;
				break;
			}
		}
	}
	vfio_record_log(r, false, iova, size, NULL, false, ret);
	return ret;
}

static int vfio_record_iova(void *b, struct iova_range *out, unsigned max, unsigned *nr)
{
	struct vfio_record *r = &((struct vfio_record_be *)b)->r;
	unsigned i;

	for (i = 0; i < r->nr_ranges && i < max; i++)
		out[i] = r->ranges[i];
	*nr = r->nr_ranges;
	return 0;
}

static int vfio_record_open(void *b, const char *dev, int *device_fd, char *err, size_t errlen)
{
	struct vfio_record *r = &((struct vfio_record_be *)b)->r;

	(void)device_fd;
	r->devices_opened++;
	if (err && errlen)
		snprintf(err, errlen, "vfio: the recording backend has no device %s", dev);
	return -EOPNOTSUPP;
}

static void vfio_record_destroy(void *b)
{
	struct vfio_record_be *rb = b;

	free(rb->r.log);
	free(rb->r.live);
	free(rb);
}

static const struct vfio_backend_ops vfio_record_ops = {
	.dma_map = vfio_record_map,
	.dma_unmap = vfio_record_unmap,
	.iova_ranges = vfio_record_iova,
	.open_device = vfio_record_open,
	.destroy = vfio_record_destroy,
	.name = "record",
};

int vfio_record_create(struct vfio_backend **out, unsigned log_cap)
{
	struct vfio_record_be *rb;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	if (log_cap) {
		rb->r.log = calloc(log_cap, sizeof(*rb->r.log));
		if (!rb->r.log) {
			free(rb);
			return -ENOMEM;
		}
	}
	rb->r.log_cap = log_cap;
	rb->be.ops = &vfio_record_ops;
	rb->be.priv = rb;
	*out = &rb->be;
	return 0;
}

struct vfio_record *vfio_record_of(struct vfio_backend *be)
{
	if (!be || be->ops != &vfio_record_ops)
		return NULL;
	return &((struct vfio_record_be *)be->priv)->r;
}

void vfio_record_clear(struct vfio_record *r)
{
	r->n = 0;
	r->maps = r->unmaps = r->map_bytes = 0;
}

bool vfio_record_has(const struct vfio_record *r, uint64_t iova, uint64_t size)
{
	unsigned i;

	for (i = 0; i < r->nlive; i++)
		if (r->live[i].iova == iova && r->live[i].size == size)
			return true;
	return false;
}
