/*
 * vfio/device.c - struct vfio_dev_io over a real VFIO device fd. See
 * vfio/device.h for the contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "common/log.h"
#include "vfio/device.h"

#define VFIO_DEV_CAP_HOPS 64

static int vfio_dev_region_off(struct vfio_dev_fd *d, unsigned index, uint64_t off,
			       uint64_t len, uint64_t *pos)
{
	uint64_t rsize, roff;

	/* Offsets and sizes were asked at init (vfio-pci's index << 40 is not assumed). */
	if (index >= VFIO_DEV_NUM_REGIONS)
		return -EINVAL;
	rsize = d->reg_size[index];
	roff = d->reg_off[index];
	if (range_invalid(off, len) || !range_within(off, len, 0, rsize) || roff + off < roff ||
	    roff + off + len > (uint64_t)INT64_MAX)
		return -EINVAL;
	*pos = roff + off;
	return 0;
}

static int vfio_dev_fd_read(void *opaque, unsigned index, uint64_t off, unsigned size,
			    uint64_t *val)
{
	struct vfio_dev_fd *d = opaque;
	uint64_t pos;
	ssize_t n;
	union { uint8_t b; uint16_t w; uint32_t l; uint64_t q; } u = { .q = 0 };
	int ret;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	ret = vfio_dev_region_off(d, index, off, size, &pos);
	if (ret)
		return ret;
	/* One pread of @size bytes: vfio-pci does one access of that width. */
	n = pread(d->fd, &u, size, (off_t)pos);
	if (n < 0)
		return -errno;
	if ((size_t)n != size)
		return -EIO;
	*val = size == 1 ? u.b : size == 2 ? u.w : size == 4 ? u.l : u.q;
	return 0;
}

static int vfio_dev_fd_write(void *opaque, unsigned index, uint64_t off, unsigned size,
			     uint64_t val)
{
	struct vfio_dev_fd *d = opaque;
	uint64_t pos;
	ssize_t n;
	union { uint8_t b; uint16_t w; uint32_t l; uint64_t q; } u;
	int ret;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	ret = vfio_dev_region_off(d, index, off, size, &pos);
	if (ret)
		return ret;
	if (size == 1)
		u.b = (uint8_t)val;
	else if (size == 2)
		u.w = (uint16_t)val;
	else if (size == 4)
		u.l = (uint32_t)val;
	else
		u.q = val;
	n = pwrite(d->fd, &u, size, (off_t)pos);
	if (n < 0)
		return -errno;
	return (size_t)n == size ? 0 : -EIO;
}

static int vfio_dev_fd_read_buf(void *opaque, unsigned index, uint64_t off, void *buf,
				uint64_t len)
{
	struct vfio_dev_fd *d = opaque;
	uint8_t *p = buf;
	uint64_t pos;
	int ret;

	ret = vfio_dev_region_off(d, index, off, len, &pos);
	if (ret)
		return ret;
	while (len) {
		ssize_t n = pread(d->fd, p, len, (off_t)pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		pos += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int vfio_dev_parse_region_info(const void *info, uint64_t len, struct vfio_dev_region *out)
{
	const struct vfio_region_info *ri = info;
	const uint8_t *base = info;
	uint32_t next;
	unsigned hops;

	if (!info || !out || len < sizeof(*ri))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->size = ri->size;
	out->offset = ri->offset;
	if (ri->flags & VFIO_REGION_INFO_FLAG_READ)
		out->flags |= VFIO_DEV_REGION_READ;
	if (ri->flags & VFIO_REGION_INFO_FLAG_WRITE)
		out->flags |= VFIO_DEV_REGION_WRITE;
	if (ri->flags & VFIO_REGION_INFO_FLAG_MMAP)
		out->flags |= VFIO_DEV_REGION_MMAP;
	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return 0;
	next = ri->cap_offset;
	for (hops = 0; next; hops++) {
		const struct vfio_info_cap_header *h;

		if (hops >= VFIO_DEV_CAP_HOPS || next < sizeof(*ri) ||
		    !range_within(next, sizeof(*h), 0, len) || next % 4)
			return -EINVAL;
		h = (const void *)(base + next);
		if (h->id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) {
			out->msix_mappable = true;
		} else if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			const struct vfio_region_info_cap_sparse_mmap *s = (const void *)h;
			uint64_t need;
			unsigned i;

			if (!range_within(next, sizeof(*s), 0, len))
				return -EINVAL;
			need = sizeof(*s) + (uint64_t)s->nr_areas * sizeof(s->areas[0]);
			if (s->nr_areas > 4096 || !range_within(next, need, 0, len))
				return -EINVAL;
			out->sparse = true;
			out->nr_areas = 0;
			for (i = 0; i < s->nr_areas; i++) {
				const struct vfio_region_sparse_mmap_area *a = &s->areas[i];

				if (a->size == 0)
					continue;
				if (range_invalid(a->offset, a->size) ||
				    !range_within(a->offset, a->size, 0, out->size))
					return -EINVAL;
				if (out->nr_areas == VFIO_DEV_MAX_AREAS) {
					log_warn("vfio: more than %u sparse mmap areas, rest trapped",
						 VFIO_DEV_MAX_AREAS);
					break;
				}
				out->areas[out->nr_areas].off = a->offset;
				out->areas[out->nr_areas].size = a->size;
				out->nr_areas++;
			}
		}
		next = h->next;
	}
	return 0;
}

static int vfio_dev_fd_region_info(void *opaque, unsigned index, struct vfio_dev_region *out)
{
	struct vfio_dev_fd *d = opaque;
	struct vfio_region_info *ri;
	uint32_t argsz = sizeof(*ri);
	int ret, tries;

	for (tries = 0; tries < 3; tries++) {
		ri = calloc(1, argsz);
		if (!ri)
			return -ENOMEM;
		ri->argsz = argsz;
		ri->index = index;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, ri)) {
			ret = -errno;
			free(ri);
			return ret;
		}
		if (ri->argsz <= argsz) {
			ret = vfio_dev_parse_region_info(ri, argsz, out);
			free(ri);
			return ret;
		}
		/* The capability chain did not fit: ask again with the size it needs. */
		argsz = ri->argsz;
		free(ri);
		if (argsz > 64 * 1024)
			return -E2BIG;
	}
	return -EAGAIN;
}

static int vfio_dev_fd_irq_info(void *opaque, unsigned index, struct vfio_dev_irq *out)
{
	struct vfio_dev_fd *d = opaque;
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = index };

	if (ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii))
		return -errno;
	out->flags = ii.flags;
	out->count = ii.count;
	return 0;
}

static int vfio_dev_fd_set_irqs(void *opaque, unsigned index, uint32_t action, unsigned start,
				unsigned count, const int32_t *fds)
{
	struct vfio_dev_fd *d = opaque;
	struct vfio_irq_set *s;
	size_t sz = sizeof(*s) + (fds ? (size_t)count * sizeof(int32_t) : 0);
	int ret = 0;

	if (count > 4096 || (action & ~(uint32_t)VFIO_IRQ_SET_ACTION_TYPE_MASK))
		return -EINVAL;
	s = calloc(1, sz);
	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)sz;
	s->flags = action | (fds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	s->index = index;
	s->start = start;
	s->count = count;
	if (fds)
		memcpy(s->data, fds, (size_t)count * sizeof(int32_t));
	if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s))
		ret = -errno;
	free(s);
	return ret;
}

static int vfio_dev_fd_reset(void *opaque)
{
	struct vfio_dev_fd *d = opaque;

	return ioctl(d->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

static int vfio_dev_fd_mmap(void *opaque, unsigned index, uint64_t off, uint64_t size,
			    void **host)
{
	struct vfio_dev_fd *d = opaque;
	uint64_t pos;
	void *p;
	int ret;

	ret = vfio_dev_region_off(d, index, off, size, &pos);
	if (ret)
		return ret;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, (off_t)pos);
	if (p == MAP_FAILED)
		return -errno;
	*host = p;
	return 0;
}

static void vfio_dev_fd_munmap(void *opaque, void *host, uint64_t size)
{
	(void)opaque;
	if (host && munmap(host, size))
		log_warn("vfio: munmap of a BAR mapping failed");
}

static int vfio_dev_fd_info(void *opaque, uint32_t *flags, unsigned *num_regions,
			    unsigned *num_irqs)
{
	struct vfio_dev_fd *d = opaque;
	struct vfio_device_info di = { .argsz = sizeof(di) };

	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &di))
		return -errno;
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI))
		return -ENODEV;
	*flags = (di.flags & VFIO_DEVICE_FLAGS_RESET) ? VFIO_DEV_FLAG_RESET : 0;
	*num_regions = di.num_regions;
	*num_irqs = di.num_irqs;
	return 0;
}

static const struct vfio_dev_io_ops vfio_dev_fd_ops = {
	.read = vfio_dev_fd_read,
	.write = vfio_dev_fd_write,
	.read_buf = vfio_dev_fd_read_buf,
	.region_info = vfio_dev_fd_region_info,
	.irq_info = vfio_dev_fd_irq_info,
	.set_irqs = vfio_dev_fd_set_irqs,
	.reset = vfio_dev_fd_reset,
	.mmap = vfio_dev_fd_mmap,
	.munmap = vfio_dev_fd_munmap,
	.info = vfio_dev_fd_info,
};

int vfio_dev_fd_init(struct vfio_dev_fd *d, int fd)
{
	struct vfio_dev_region r;
	unsigned i;

	if (!d || fd < 0)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->io.ops = &vfio_dev_fd_ops;
	d->io.opaque = d;
	for (i = 0; i < VFIO_DEV_NUM_REGIONS; i++) {
		/* A region the kernel does not describe stays size 0: every access refused. */
		if (vfio_dev_fd_region_info(d, i, &r))
			continue;
		d->reg_size[i] = r.size;
		d->reg_off[i] = r.offset;
	}
	return 0;
}

void vfio_dev_fd_close(struct vfio_dev_fd *d)
{
	if (!d || !d->io.ops)
		return;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->io.ops = NULL;
}
