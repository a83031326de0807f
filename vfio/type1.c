/*
 * vfio/type1.c - the VFIO container backend (VFIO_TYPE1v2_IOMMU).
 *
 * One container per VM; every group of every passthrough device is set on
 * it, so they share one DMA map set. The IOMMU type can only be set once a
 * group is attached: until the first open_device the container has no
 * IOMMU, and dma_map/iova_ranges say so (-ENODEV).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "common/errmsg.h"
#include "common/log.h"
#include "vfio/backend.h"
#include "vfio/sysfs.h"

struct vfio_group {
	unsigned num;
	int fd;
};

struct vfio_type1 {
	struct vfio_backend be;
	char sysfs[PATH_MAX / 2];
	char dev[PATH_MAX / 2];
	int container;
	bool iommu_set;
	struct vfio_group *groups;
	unsigned ngroups, gcap;
};

/* ---- the IOVA-range capability (pure, tested without a kernel) ----------- */

int vfio_type1_parse_iova_caps(const void *info, size_t len, struct iova_range *out,
			       unsigned max, unsigned *nr)
{
	const uint8_t *p = info;
	struct vfio_iommu_type1_info hdr;
	uint64_t off, prev = 0;
	unsigned hops;

	if (!info || !nr || (max && !out))
		return -EINVAL;
	*nr = 0;
	if (len < sizeof(hdr))
		return -EINVAL;
	memcpy(&hdr, p, sizeof(hdr));
	if (!(hdr.flags & VFIO_IOMMU_INFO_CAPS) || !hdr.cap_offset)
		return 0;
	/* Offsets only grow along the chain: a loop or a backward link is refused. */
	for (off = hdr.cap_offset, hops = 0; off; hops++) {
		struct vfio_info_cap_header ch;

		if (off < sizeof(hdr) || off <= prev || off > len || len - off < sizeof(ch) ||
		    hops > 64)
			return -EINVAL;
		memcpy(&ch, p + off, sizeof(ch));
		if (ch.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE && ch.version == 1) {
			struct vfio_iommu_type1_info_cap_iova_range cap;
			uint64_t room = len - off;
			unsigned i;

			if (room < sizeof(cap))
				return -EINVAL;
			memcpy(&cap, p + off, sizeof(cap));
			if ((room - sizeof(cap)) / sizeof(struct vfio_iova_range) < cap.nr_iovas)
				return -EINVAL;
			for (i = 0; i < cap.nr_iovas; i++) {
				struct vfio_iova_range r;

				memcpy(&r, p + off + sizeof(cap) + i * sizeof(r), sizeof(r));
				if (r.end < r.start)
					return -EINVAL;
				if (i < max)
					out[i] = (struct iova_range){ r.start, r.end };
			}
			*nr = cap.nr_iovas;
			return 0;
		}
		prev = off;
		off = ch.next;
	}
	return 0;
}

/* ---- ops ----------------------------------------------------------------- */

static int vfio_t1_dma_map(void *b, uint64_t iova, uint64_t size, void *vaddr, bool readonly)
{
	struct vfio_type1 *t = b;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | (readonly ? 0 : VFIO_DMA_MAP_FLAG_WRITE),
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	if (!t->iommu_set)
		return -ENODEV;
	if (ioctl(t->container, VFIO_IOMMU_MAP_DMA, &m) < 0) {
		int e = errno;

		if (e == ENOMEM) {
			struct rlimit rl;

			/* type1 pins the pages: RLIMIT_MEMLOCK is the usual cause. */
			if (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY)
				log_error("vfio: type1 pins guest RAM: RLIMIT_MEMLOCK is %llu KiB, "
					  "raise it (ulimit -l) to at least the guest RAM size",
					  (unsigned long long)rl.rlim_cur / 1024);
		}
		return -e;
	}
	return 0;
}

static int vfio_t1_dma_unmap(void *b, uint64_t iova, uint64_t size)
{
	struct vfio_type1 *t = b;
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.iova = iova,
		.size = size,
	};

	if (!t->iommu_set)
		return -ENODEV;
	if (ioctl(t->container, VFIO_IOMMU_UNMAP_DMA, &u) < 0)
		return -errno;
	/* The kernel says how much it unmapped: anything else is a bookkeeping bug. */
	return u.size == size ? 0 : -EIO;
}

static int vfio_t1_iova_ranges(void *b, struct iova_range *out, unsigned max, unsigned *nr)
{
	struct vfio_type1 *t = b;
	struct vfio_iommu_type1_info *info;
	uint32_t argsz = sizeof(*info);
	unsigned tries;
	int ret;

	*nr = 0;
	if (!t->iommu_set)
		return -ENODEV;
	/* Ask once for the size, then with room for the chain (it may grow between). */
	for (tries = 0; tries < 4; tries++) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		if (ioctl(t->container, VFIO_IOMMU_GET_INFO, info) < 0) {
			ret = -errno;
			free(info);
			return ret;
		}
		if (info->argsz <= argsz) {
			ret = vfio_type1_parse_iova_caps(info, argsz, out, max, nr);
			free(info);
			return ret;
		}
		argsz = info->argsz;
		free(info);
		if (argsz > 1024 * 1024)
			return -E2BIG;
	}
	return -EAGAIN;
}

static struct vfio_group *vfio_t1_group_find(struct vfio_type1 *t, unsigned num)
{
	unsigned i;

	for (i = 0; i < t->ngroups; i++)
		if (t->groups[i].num == num)
			return &t->groups[i];
	return NULL;
}

/* Open group @num, check it is viable and set it on the container (and the IOMMU, first time). */
static int vfio_t1_group_add(struct vfio_type1 *t, unsigned num, const char *bdf,
			     struct vfio_group **out, char *err, size_t errlen)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[PATH_MAX];
	int fd, ret;

	if (t->ngroups == t->gcap) {
		unsigned cap = t->gcap ? t->gcap * 2 : 4;
		struct vfio_group *g = realloc(t->groups, cap * sizeof(*g));

		if (!g)
			return -ENOMEM;
		t->groups = g;
		t->gcap = cap;
	}
	snprintf(path, sizeof(path), "%s/vfio/%u", t->dev, num);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EBUSY)
			errmsg(err, errlen,
				    "vfio: group %u of %s (%s) is in use by another process", num,
				    bdf, path);
		else
			errmsg(err, errlen, "vfio: cannot open group %u of %s (%s): %s", num,
				    bdf, path, strerror(-ret));
		return ret;
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: VFIO_GROUP_GET_STATUS on group %u: %s", num,
			    strerror(-ret));
		goto err_close;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		char list[512];
		unsigned n = 0;

		if (vfio_sysfs_group_blockers(t->sysfs, num, list, sizeof(list), &n) || !n)
			snprintf(list, sizeof(list), "some device of the group");
		errmsg(err, errlen,
			    "vfio: group %u of %s is not viable: bind every device of it to "
			    "vfio-pci (not bound: %s)", num, bdf, list);
		ret = -EPERM;
		goto err_close;
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &t->container) < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: VFIO_GROUP_SET_CONTAINER for group %u: %s", num,
			    strerror(-ret));
		goto err_close;
	}
	if (!t->iommu_set) {
		if (ioctl(t->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
			ret = -errno;
			errmsg(err, errlen, "vfio: VFIO_SET_IOMMU type1v2 for group %u: %s",
				    num, strerror(-ret));
			goto err_unset;
		}
		t->iommu_set = true;
	}
	t->groups[t->ngroups] = (struct vfio_group){ num, fd };
	*out = &t->groups[t->ngroups++];
	return 0;

err_unset:
	if (ioctl(fd, VFIO_GROUP_UNSET_CONTAINER) < 0)
		log_warn("vfio: VFIO_GROUP_UNSET_CONTAINER for group %u failed", num);
err_close:
	close(fd);
	return ret;
}

static int vfio_t1_open_device(void *b, const char *arg, int *device_fd, char *err,
			       size_t errlen)
{
	struct vfio_type1 *t = b;
	struct vfio_group *g;
	char bdf[VFIO_BDF_LEN];
	unsigned num;
	int fd, ret;

	ret = vfio_sysfs_resolve(t->sysfs, arg, bdf, &num, err, errlen);
	if (ret)
		return ret;
	g = vfio_t1_group_find(t, num);
	if (!g) {
		ret = vfio_t1_group_add(t, num, bdf, &g, err, errlen);
		if (ret)
			return ret;
	}
	/* A group that stays open without its device costs nothing; destroy closes it. */
	fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (fd < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: VFIO_GROUP_GET_DEVICE_FD %s (group %u): %s%s", bdf,
			    num, strerror(-ret),
			    ret == -EBUSY ? " (already open, maybe twice on the command line)" : "");
		return ret;
	}
	*device_fd = fd;
	return 0;
}

static void vfio_t1_destroy(void *b)
{
	struct vfio_type1 *t = b;
	unsigned i;

	if (!t)
		return;
	/* Closing the groups detaches them; closing the container drops every mapping. */
	for (i = 0; i < t->ngroups; i++)
		close(t->groups[i].fd);
	free(t->groups);
	if (t->container >= 0)
		close(t->container);
	free(t);
}

static const struct vfio_backend_ops vfio_type1_ops = {
	.dma_map = vfio_t1_dma_map,
	.dma_unmap = vfio_t1_dma_unmap,
	.iova_ranges = vfio_t1_iova_ranges,
	.open_device = vfio_t1_open_device,
	.destroy = vfio_t1_destroy,
	.name = "type1",
};

int vfio_type1_create(struct vfio_backend **out, const struct vfio_backend_cfg *cfg, char *err,
		      size_t errlen)
{
	const char *sysfs = cfg && cfg->sysfs_root ? cfg->sysfs_root : "/sys";
	const char *dev = cfg && cfg->dev_root ? cfg->dev_root : "/dev";
	char path[PATH_MAX];
	struct vfio_type1 *t;
	int ret, v;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (strlen(sysfs) >= sizeof(t->sysfs) || strlen(dev) >= sizeof(t->dev))
		return -ENAMETOOLONG;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	strcpy(t->sysfs, sysfs);
	strcpy(t->dev, dev);
	snprintf(path, sizeof(path), "%s/vfio/vfio", dev);
	t->container = open(path, O_RDWR | O_CLOEXEC);
	if (t->container < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: no VFIO container %s (%s): modprobe vfio-pci", path,
			    strerror(-ret));
		goto err;
	}
	v = ioctl(t->container, VFIO_GET_API_VERSION);
	if (v != VFIO_API_VERSION) {
		ret = v < 0 ? -errno : -EPROTO;
		errmsg(err, errlen, "vfio: %s is not a VFIO container of API version %d (%s)",
			    path, VFIO_API_VERSION, v < 0 ? strerror(-ret) : "other version");
		goto err;
	}
	if (ioctl(t->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		ret = -ENODEV;
		errmsg(err, errlen,
			    "vfio: the container has no type1v2 IOMMU: modprobe vfio_iommu_type1");
		goto err;
	}
	t->be.ops = &vfio_type1_ops;
	t->be.priv = t;
	*out = &t->be;
	return 0;
err:
	vfio_t1_destroy(t);
	return ret;
}
