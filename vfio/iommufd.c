/*
 * vfio/iommufd.c - the iommufd backend: /dev/iommu, one IOAS per VM, each
 * device through its VFIO cdev (/dev/vfio/devices/vfioN) bound to the
 * iommufd and attached to the IOAS.
 *
 * Built only when the uAPI headers have it (linux/iommufd.h and
 * VFIO_DEVICE_BIND_IOMMUFD in linux/vfio.h: Linux >= 6.6 headers). Debian
 * 6.1's linux-libc-dev has neither, and no Debian kernel enables
 * CONFIG_IOMMUFD with the VFIO cdev; there create says so and returns
 * -ENODEV.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif

#include "common/errmsg.h"
#include "vfio/backend.h"
#include "vfio/sysfs.h"

#define VFIO_IOMMUFD_MISSING \
	"iommufd not available on this kernel (needs CONFIG_IOMMUFD and VFIO cdev)"

#if defined(IOMMU_IOAS_ALLOC) && defined(VFIO_DEVICE_BIND_IOMMUFD) && \
	defined(VFIO_DEVICE_ATTACH_IOMMUFD_PT)

struct vfio_iommufd {
	struct vfio_backend be;
	char sysfs[PATH_MAX / 2];
	char dev[PATH_MAX / 2];
	int iommufd;
	uint32_t ioas;
	unsigned devices;
};

static int vfio_fd_dma_map(void *b, uint64_t iova, uint64_t size, void *vaddr, bool readonly)
{
	struct vfio_iommufd *f = b;
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 (readonly ? 0 : IOMMU_IOAS_MAP_WRITEABLE),
		.ioas_id = f->ioas,
		.user_va = (uintptr_t)vaddr,
		.length = size,
		.iova = iova,
	};

	return ioctl(f->iommufd, IOMMU_IOAS_MAP, &m) < 0 ? -errno : 0;
}

static int vfio_fd_dma_unmap(void *b, uint64_t iova, uint64_t size)
{
	struct vfio_iommufd *f = b;
	struct iommu_ioas_unmap u = {
		.size = sizeof(u),
		.ioas_id = f->ioas,
		.iova = iova,
		.length = size,
	};

	if (ioctl(f->iommufd, IOMMU_IOAS_UNMAP, &u) < 0)
		return -errno;
	return u.length == size ? 0 : -EIO;
}

static int vfio_fd_iova_ranges(void *b, struct iova_range *out, unsigned max, unsigned *nr)
{
	struct vfio_iommufd *f = b;
	struct iommu_iova_range *r = NULL;
	unsigned want = max ? max : 1, i, tries;
	int ret = -EAGAIN;

	*nr = 0;
	for (tries = 0; tries < 4; tries++) {
		struct iommu_ioas_iova_ranges q = { .size = sizeof(q), .ioas_id = f->ioas };

		free(r);
		r = calloc(want, sizeof(*r));
		if (!r)
			return -ENOMEM;
		q.num_iovas = want;
		q.allowed_iovas = (uintptr_t)r;
		if (ioctl(f->iommufd, IOMMU_IOAS_IOVA_RANGES, &q) < 0) {
			ret = -errno;
			if (ret == -EMSGSIZE && q.num_iovas > want && q.num_iovas < 4096) {
				want = q.num_iovas;
				continue;
			}
			break;
		}
		for (i = 0; i < q.num_iovas && i < want; i++) {
			if (r[i].last < r[i].start) {
				free(r);
				return -EINVAL;
			}
			if (i < max)
				out[i] = (struct iova_range){ r[i].start, r[i].last };
		}
		*nr = q.num_iovas;
		ret = 0;
		break;
	}
	free(r);
	return ret;
}

static int vfio_fd_open_device(void *b, const char *arg, int *device_fd, char *err,
			       size_t errlen)
{
	struct vfio_iommufd *f = b;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = f->iommufd };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = f->ioas };
	char bdf[VFIO_BDF_LEN], cdev[32], path[PATH_MAX];
	unsigned group;
	int fd, ret;

	ret = vfio_sysfs_resolve(f->sysfs, arg, bdf, &group, err, errlen);
	if (ret)
		return ret;
	ret = vfio_sysfs_cdev(f->sysfs, bdf, cdev, sizeof(cdev), err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/vfio/devices/%s", f->dev, cdev);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: cannot open %s for %s: %s", path, bdf,
			    strerror(-ret));
		return ret;
	}
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: VFIO_DEVICE_BIND_IOMMUFD %s: %s%s", bdf,
			    strerror(-ret),
			    ret == -EBUSY ? " (in use, or its group is open through type1)" : "");
		goto err_close;
	}
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: VFIO_DEVICE_ATTACH_IOMMUFD_PT %s to IOAS %u: %s",
			    bdf, f->ioas, strerror(-ret));
		goto err_close;
	}
	f->devices++;
	*device_fd = fd;
	return 0;
err_close:
	close(fd);
	return ret;
}

static void vfio_fd_destroy(void *b)
{
	struct vfio_iommufd *f = b;

	if (!f)
		return;
	/* Closing the iommufd destroys the IOAS and every mapping in it. */
	if (f->iommufd >= 0)
		close(f->iommufd);
	free(f);
}

static const struct vfio_backend_ops vfio_iommufd_ops = {
	.dma_map = vfio_fd_dma_map,
	.dma_unmap = vfio_fd_dma_unmap,
	.iova_ranges = vfio_fd_iova_ranges,
	.open_device = vfio_fd_open_device,
	.destroy = vfio_fd_destroy,
	.name = "iommufd",
};

int vfio_iommufd_create(struct vfio_backend **out, const struct vfio_backend_cfg *cfg,
			char *err, size_t errlen)
{
	const char *sysfs = cfg && cfg->sysfs_root ? cfg->sysfs_root : "/sys";
	const char *dev = cfg && cfg->dev_root ? cfg->dev_root : "/dev";
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	char path[PATH_MAX];
	struct vfio_iommufd *f;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (strlen(sysfs) >= sizeof(f->sysfs) || strlen(dev) >= sizeof(f->dev))
		return -ENAMETOOLONG;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	strcpy(f->sysfs, sysfs);
	strcpy(f->dev, dev);
	snprintf(path, sizeof(path), "%s/iommu", dev);
	f->iommufd = open(path, O_RDWR | O_CLOEXEC);
	if (f->iommufd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO) {
			errmsg(err, errlen, "vfio: " VFIO_IOMMUFD_MISSING " (%s missing)",
				    path);
			ret = -ENODEV;
		} else {
			errmsg(err, errlen, "vfio: cannot open %s: %s", path, strerror(-ret));
		}
		goto err;
	}
	if (ioctl(f->iommufd, IOMMU_IOAS_ALLOC, &a) < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: IOMMU_IOAS_ALLOC on %s: %s", path, strerror(-ret));
		if (ret == -ENOTTY)
			ret = -ENODEV;
		goto err;
	}
	f->ioas = a.out_ioas_id;
	f->be.ops = &vfio_iommufd_ops;
	f->be.priv = f;
	*out = &f->be;
	return 0;
err:
	vfio_fd_destroy(f);
	return ret;
}

#else /* the build's headers have no iommufd */

int vfio_iommufd_create(struct vfio_backend **out, const struct vfio_backend_cfg *cfg,
			char *err, size_t errlen)
{
	(void)cfg;
	if (out)
		*out = NULL;
	errmsg(err, errlen, "vfio: " VFIO_IOMMUFD_MISSING
		    " (this vmm was built with headers that lack it)");
	return -ENODEV;
}

#endif
