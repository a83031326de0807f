/*
 * vfio/iommufd.c - the iommufd backend: /dev/iommu, one IOAS per VM, each
 * device through its VFIO cdev (/dev/vfio/devices/vfioN) bound to the
 * iommufd and attached to the IOAS.
 *
 * Always built: vfio/iommufd_uapi.h supplies the uAPI when the build's
 * headers lack it (Debian 12's 6.1 headers do). Whether the running kernel
 * has it shows at run time: /dev/iommu exists only with CONFIG_IOMMUFD,
 * a device's vfio-dev/vfioN sysfs entry only with CONFIG_VFIO_DEVICE_CDEV.
 * No Debian kernel has both (tests/rig/iommufd-kernel.sh builds one that
 * does).
 *
 * The IOVA ranges narrow as devices attach (each device's reserved regions,
 * e.g. the MSI window, are cut out of the IOAS), so the VMM asks for them
 * after open_device, as with type1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/log.h"
#include "vfio/backend.h"
#include "vfio/iommufd_uapi.h"
#include "vfio/sysfs.h"

#define VFIO_IOMMUFD_MISSING \
	"iommufd not available on this kernel (needs CONFIG_IOMMUFD and VFIO cdev)"
/* More ranges than any IOMMU reports; a bigger count is a broken answer. */
#define VFIO_IOMMUFD_MAX_RANGES 4096

struct vfio_iommufd {
	struct vfio_backend be;
	char sysfs[PATH_MAX / 2];
	char dev[PATH_MAX / 2];
	int iommufd;
	uint32_t ioas;
	bool ioas_valid;
	unsigned devices;
};

static const char *vfio_fd_map_hint(int err)
{
	switch (err) {
	case EEXIST:
		return " (overlaps a mapping already in the IOAS)";
	case EINVAL:
		return " (outside the usable IOVA ranges, or misaligned)";
	case EOVERFLOW:
		return " (the range wraps)";
	case EFAULT:
		return " (the host address is not mapped in the vmm)";
	case EPERM:
		return " (a writable mapping of read-only memory)";
	default:
		return "";
	}
}

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
	struct rlimit rl;
	int e;

	if (ioctl(f->iommufd, IOMMU_IOAS_MAP, &m) == 0)
		return 0;
	e = errno;
	log_error("vfio: iommufd: IOMMU_IOAS_MAP iova [0x%llx, 0x%llx] %s -> %p failed: %s%s",
		  (unsigned long long)iova, (unsigned long long)(iova + size - 1),
		  readonly ? "ro" : "rw", vaddr, strerror(e), vfio_fd_map_hint(e));
	/* iommufd pins the pages and charges them to RLIMIT_MEMLOCK, like type1. */
	if (e == ENOMEM && !getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY)
		log_error("vfio: iommufd pins guest RAM: RLIMIT_MEMLOCK is %llu KiB, raise it "
			  "(ulimit -l) to at least the guest RAM size",
			  (unsigned long long)rl.rlim_cur / 1024);
	return -e;
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
	int e;

	if (ioctl(f->iommufd, IOMMU_IOAS_UNMAP, &u) < 0) {
		e = errno;
		log_error("vfio: iommufd: IOMMU_IOAS_UNMAP iova [0x%llx, 0x%llx] failed: %s",
			  (unsigned long long)iova, (unsigned long long)(iova + size - 1),
			  strerror(e));
		return -e;
	}
	/* The kernel says how much it unmapped: anything else is a bookkeeping bug. */
	if (u.length != size) {
		log_error("vfio: iommufd: IOMMU_IOAS_UNMAP iova [0x%llx, 0x%llx] unmapped 0x%llx "
			  "bytes, not 0x%llx", (unsigned long long)iova,
			  (unsigned long long)(iova + size - 1), (unsigned long long)u.length,
			  (unsigned long long)size);
		return -EIO;
	}
	return 0;
}

/* The kernel's list must be ascending, disjoint, each start <= last. */
static int vfio_fd_ranges_check(const struct iommu_iova_range *r, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (r[i].last < r[i].start)
			return -EINVAL;
		if (i && r[i].start <= r[i - 1].last)
			return -EINVAL;
	}
	return 0;
}

/*
 * IOMMU_IOAS_IOVA_RANGES in two calls: the first with no room learns the
 * count (-EMSGSIZE, num_iovas set), the second fetches them. The list can
 * grow between the two (a device attaching elsewhere), hence the loop.
 */
static int vfio_fd_iova_ranges(void *b, struct iova_range *out, unsigned max, unsigned *nr)
{
	struct vfio_iommufd *f = b;
	struct iommu_iova_range *r = NULL;
	unsigned room = 0, tries, i;
	int ret;

	*nr = 0;
	for (tries = 0; tries < 4; tries++) {
		struct iommu_ioas_iova_ranges q = {
			.size = sizeof(q),
			.ioas_id = f->ioas,
			.num_iovas = room,
			.allowed_iovas = (uintptr_t)r,
		};

		if (ioctl(f->iommufd, IOMMU_IOAS_IOVA_RANGES, &q) == 0) {
			if (q.num_iovas > room) { /* never from a sane kernel */
				ret = -EPROTO;
				goto out;
			}
			ret = vfio_fd_ranges_check(r, q.num_iovas);
			if (ret) {
				log_error("vfio: iommufd: IOMMU_IOAS_IOVA_RANGES returned a "
					  "list that is not ascending and disjoint");
				goto out;
			}
			/* No usable IOVA at all: "unknown" (0) would mean everything. */
			if (!q.num_iovas) {
				log_error("vfio: iommufd: IOAS %u has no usable IOVA range",
					  f->ioas);
				ret = -ENOSPC;
				goto out;
			}
			for (i = 0; i < q.num_iovas && i < max; i++)
				out[i] = (struct iova_range){ r[i].start, r[i].last };
			*nr = q.num_iovas;
			ret = 0;
			goto out;
		}
		ret = -errno;
		if (ret != -EMSGSIZE)
			goto out;
		if (q.num_iovas <= room || q.num_iovas > VFIO_IOMMUFD_MAX_RANGES) {
			ret = q.num_iovas > VFIO_IOMMUFD_MAX_RANGES ? -E2BIG : -EPROTO;
			goto out;
		}
		room = q.num_iovas;
		free(r);
		r = calloc(room, sizeof(*r));
		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = -EAGAIN;
out:
	free(r);
	return ret;
}

/*
 * The device number of @bdf's cdev, from sysfs's vfio-dev/vfioN/dev
 * ("MAJ:MIN"). Since Linux 6.1 every VFIO device has a vfio-dev/vfioN
 * entry, but only a kernel with CONFIG_VFIO_DEVICE_CDEV gives it a device
 * number (and /dev/vfio/devices/vfioN): no "dev" file is -ENODEV.
 */
static int vfio_fd_cdev_devt(struct vfio_iommufd *f, const char *bdf, const char *cdev,
			     unsigned *maj, unsigned *min, char *err, size_t errlen)
{
	char sp[PATH_MAX], buf[32];
	ssize_t n;
	int sfd;

	snprintf(sp, sizeof(sp), "%s/bus/pci/devices/%s/vfio-dev/%s/dev", f->sysfs, bdf, cdev);
	sfd = open(sp, O_RDONLY | O_CLOEXEC);
	if (sfd < 0) {
		errmsg(err, errlen,
		       "vfio: %s has no VFIO cdev (%s missing): the kernel lacks "
		       "CONFIG_VFIO_DEVICE_CDEV, which iommufd needs (use --vfio-backend type1)",
		       bdf, sp);
		return -ENODEV;
	}
	n = read(sfd, buf, sizeof(buf) - 1);
	close(sfd);
	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%u:%u", maj, min) != 2) {
		errmsg(err, errlen, "vfio: %s: cannot parse %s (want MAJ:MIN)", bdf, sp);
		return -EINVAL;
	}
	return 0;
}

/*
 * A real char device must be the one sysfs names: a stale or renamed node
 * would otherwise hand us another device. (A test's fake tree has regular
 * files: nothing to compare.)
 */
static int vfio_fd_check_node(int fd, const char *path, const char *bdf, const char *cdev,
			      unsigned maj, unsigned min, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
		return 0;
	if (major(st.st_rdev) == maj && minor(st.st_rdev) == min)
		return 0;
	errmsg(err, errlen, "vfio: %s is device %u:%u, but %s's cdev %s is %u:%u (stale /dev?)",
	       path, major(st.st_rdev), minor(st.st_rdev), bdf, cdev, maj, min);
	return -ENODEV;
}

static int vfio_fd_open_device(void *b, const char *arg, int *device_fd, char *err,
			       size_t errlen)
{
	struct vfio_iommufd *f = b;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = f->iommufd };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = f->ioas };
	char bdf[VFIO_BDF_LEN], cdev[32], path[PATH_MAX];
	unsigned group, maj, min;
	int fd, ret;

	/* Parses the argument, finds the device, its IOMMU group, and checks vfio-pci. */
	ret = vfio_sysfs_resolve(f->sysfs, arg, bdf, &group, err, errlen);
	if (ret)
		return ret;
	/* Bound to vfio-pci but no vfio-dev/vfioN: the kernel lacks CONFIG_VFIO_DEVICE_CDEV. */
	ret = vfio_sysfs_cdev(f->sysfs, bdf, cdev, sizeof(cdev), err, errlen);
	if (ret)
		return ret;
	ret = vfio_fd_cdev_devt(f, bdf, cdev, &maj, &min, err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/vfio/devices/%s", f->dev, cdev);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			errmsg(err, errlen,
			       "vfio: %s has the VFIO cdev %s but %s is missing (devtmpfs not "
			       "mounted on %s?)", bdf, cdev, path, f->dev);
		else
			errmsg(err, errlen, "vfio: cannot open %s for %s: %s", path, bdf,
			       strerror(-ret));
		return ret;
	}
	ret = vfio_fd_check_node(fd, path, bdf, cdev, maj, min, err, errlen);
	if (ret)
		goto err_close;
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		char hint[96] = "";

		ret = -errno;
		if (ret == -EBUSY)
			snprintf(hint, sizeof(hint),
				 " (its group %u is open through type1, here or elsewhere)", group);
		else if (ret == -EINVAL)
			snprintf(hint, sizeof(hint),
				 " (already open: twice on the command line, or elsewhere?)");
		errmsg(err, errlen, "vfio: VFIO_DEVICE_BIND_IOMMUFD %s (%s): %s%s", bdf, path,
		       strerror(-ret), hint);
		goto err_close;
	}
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: VFIO_DEVICE_ATTACH_IOMMUFD_PT %s to IOAS %u: %s", bdf,
		       f->ioas, strerror(-ret));
		goto err_close; /* closing the fd unbinds */
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
	if (f->iommufd >= 0) {
		/*
		 * Destroying the IOAS drops its mappings now; while a device is
		 * still attached the kernel refuses (EBUSY) and the close below
		 * leaves it to the last device fd's close.
		 */
		if (f->ioas_valid) {
			struct iommu_destroy d = { .size = sizeof(d), .id = f->ioas };

			if (ioctl(f->iommufd, IOMMU_DESTROY, &d) < 0 && errno != EBUSY)
				log_warn("vfio: iommufd: IOMMU_DESTROY of IOAS %u: %s", f->ioas,
					 strerror(errno));
		}
		close(f->iommufd);
	}
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
			errmsg(err, errlen,
			       "vfio: " VFIO_IOMMUFD_MISSING ": no %s, the kernel lacks "
			       "CONFIG_IOMMUFD (use --vfio-backend type1)", path);
			ret = -ENODEV;
		} else {
			errmsg(err, errlen, "vfio: cannot open %s: %s%s", path, strerror(-ret),
			       ret == -EACCES || ret == -EPERM ? " (iommufd needs root or "
								 "access to it)" : "");
		}
		goto err;
	}
	if (ioctl(f->iommufd, IOMMU_IOAS_ALLOC, &a) < 0) {
		ret = -errno;
		errmsg(err, errlen, "vfio: IOMMU_IOAS_ALLOC on %s: %s%s", path, strerror(-ret),
		       ret == -ENOTTY ? " (not an iommufd)" : "");
		if (ret == -ENOTTY)
			ret = -ENODEV;
		goto err;
	}
	f->ioas = a.out_ioas_id;
	f->ioas_valid = true;
	f->be.ops = &vfio_iommufd_ops;
	f->be.priv = f;
	*out = &f->be;
	return 0;
err:
	vfio_fd_destroy(f);
	return ret;
}
