/*
 * tests/unit/test_vfio_iommufd.c - the iommufd backend without the kernel.
 *
 * A fake sysfs and /dev tree (vfio_backend_cfg roots) covers the discovery:
 * BDF forms, the cdev under vfio-dev/, and the one-line error for each
 * missing piece (no /dev/iommu, no IOMMU, wrong driver, no cdev, no node).
 * A fake kernel behind ioctl() covers the rest: this file defines ioctl(),
 * which the backend's calls bind to instead of libc's, and it answers only
 * for the fake tree's files (recognized by inode) the way Linux 6.12's
 * iommufd and VFIO cdev do; every other fd goes to the real syscall. So the
 * two-call IOVA_RANGES protocol, map/unmap and their errors (with the
 * range), bind/attach and destroy are checked here; the rig
 * (tests/rig/check-iommufd.sh) runs them against the real kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "vfio/backend.h"
#include "vfio/iommufd_uapi.h"
#include "vfio/sysfs.h"

/* ---- the fake kernel ------------------------------------------------------- */

#define FK_IOAS 5
#define FK_HWPT 9
#define FK_DEVID 0x55

struct fk_map {
	uint64_t iova, len, va;
	uint32_t flags;
};

struct fk_node {
	dev_t dev;
	ino_t ino;
	bool bound, attached;
	uint32_t pt;
};

/*
 * ioctl() has no context argument, so the fake kernel is the one static of
 * this file; every test starts with fk_reset().
 */
static struct fake_kernel {
	bool on;
	dev_t iommu_dev, vfio_dev;
	ino_t iommu_ino, vfio_ino; /* /dev/iommu and the type1 container */
	struct fk_node cdev[4];
	unsigned ncdev;
	int alloc_err, bind_err, attach_err, map_err, unmap_err, destroy_err, ranges_err;
	uint64_t unmap_short; /* nonzero: report this many bytes unmapped */
	bool ioas_alive;
	uint32_t destroyed;
	unsigned destroys;
	struct iommu_iova_range ranges[8];
	unsigned nranges;
	uint32_t fake_count;  /* nonzero: report this count, ranges or not */
	unsigned grow_calls;  /* this many range calls each add one range first */
	unsigned range_calls;
	struct fk_map maps[16];
	unsigned nmaps;
	bool type1_ok;        /* the container answers like a type1v2 one */
} fk;

static void fk_reset(void)
{
	memset(&fk, 0, sizeof(fk));
	fk.ranges[0] = (struct iommu_iova_range){ 0, 0xfedfffffULL };
	fk.ranges[1] = (struct iommu_iova_range){ 0xfef00000ULL, 0xffffffffffffULL };
	fk.nranges = 2;
}

static bool fk_stat(int fd, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

static int fk_fail(int e)
{
	errno = e;
	return -1;
}

static int fk_iova_ranges(struct iommu_ioas_iova_ranges *q)
{
	struct iommu_iova_range *out = (void *)(uintptr_t)q->allowed_iovas;
	uint32_t room = q->num_iovas, i;

	if (q->size < sizeof(*q) || q->__reserved)
		return fk_fail(EINVAL);
	if (q->ioas_id != FK_IOAS || !fk.ioas_alive)
		return fk_fail(ENOENT);
	fk.range_calls++;
	if (fk.ranges_err)
		return fk_fail(fk.ranges_err);
	if (fk.grow_calls && fk.nranges < 8) {
		fk.grow_calls--;
		fk.ranges[fk.nranges] = (struct iommu_iova_range){
			0x1000000000000ULL + fk.nranges * 0x100000000ULL,
			0x1000000000000ULL + fk.nranges * 0x100000000ULL + 0xfffff };
		fk.nranges++;
	}
	q->num_iovas = fk.fake_count ? fk.fake_count : fk.nranges;
	q->out_iova_alignment = 4096;
	for (i = 0; i < fk.nranges && i < room; i++)
		out[i] = fk.ranges[i];
	return q->num_iovas > room ? fk_fail(EMSGSIZE) : 0;
}

static int fk_map(struct iommu_ioas_map *m)
{
	unsigned i;

	if (m->size < sizeof(*m) || m->__reserved)
		return fk_fail(EINVAL);
	if (m->ioas_id != FK_IOAS || !fk.ioas_alive)
		return fk_fail(ENOENT);
	if (!(m->flags & IOMMU_IOAS_MAP_FIXED_IOVA) || !(m->flags & IOMMU_IOAS_MAP_READABLE))
		return fk_fail(EINVAL);
	if (fk.map_err)
		return fk_fail(fk.map_err);
	for (i = 0; i < fk.nmaps; i++)
		if (m->iova < fk.maps[i].iova + fk.maps[i].len &&
		    fk.maps[i].iova < m->iova + m->length)
			return fk_fail(EEXIST);
	if (fk.nmaps == 16)
		return fk_fail(ENOMEM);
	fk.maps[fk.nmaps++] = (struct fk_map){ m->iova, m->length, m->user_va, m->flags };
	return 0;
}

static int fk_unmap(struct iommu_ioas_unmap *u)
{
	unsigned i;

	if (u->size < sizeof(*u))
		return fk_fail(EINVAL);
	if (u->ioas_id != FK_IOAS)
		return fk_fail(ENOENT);
	if (fk.unmap_err)
		return fk_fail(fk.unmap_err);
	for (i = 0; i < fk.nmaps; i++) {
		if (fk.maps[i].iova == u->iova && fk.maps[i].len == u->length) {
			fk.maps[i] = fk.maps[--fk.nmaps];
			if (fk.unmap_short)
				u->length = fk.unmap_short;
			return 0;
		}
	}
	return fk_fail(ENOENT);
}

static int fk_iommufd(unsigned long req, void *arg)
{
	if (req == IOMMU_IOAS_ALLOC) {
		struct iommu_ioas_alloc *a = arg;

		if (a->size < sizeof(*a) || a->flags)
			return fk_fail(EINVAL);
		if (fk.alloc_err)
			return fk_fail(fk.alloc_err);
		a->out_ioas_id = FK_IOAS;
		fk.ioas_alive = true;
		return 0;
	}
	if (req == IOMMU_DESTROY) {
		struct iommu_destroy *d = arg;

		fk.destroys++;
		fk.destroyed = d->id;
		if (d->size < sizeof(*d))
			return fk_fail(EINVAL);
		if (fk.destroy_err)
			return fk_fail(fk.destroy_err);
		fk.ioas_alive = false;
		return 0;
	}
	if (req == IOMMU_IOAS_IOVA_RANGES)
		return fk_iova_ranges(arg);
	if (req == IOMMU_IOAS_MAP)
		return fk_map(arg);
	if (req == IOMMU_IOAS_UNMAP)
		return fk_unmap(arg);
	return fk_fail(ENOTTY);
}

static int fk_cdev(struct fk_node *n, unsigned long req, void *arg)
{
	if (req == VFIO_DEVICE_BIND_IOMMUFD) {
		struct vfio_device_bind_iommufd *b = arg;
		dev_t dev;
		ino_t ino;

		if (b->argsz < sizeof(*b) || b->flags || b->iommufd < 0)
			return fk_fail(EINVAL);
		if (n->bound) /* one device cannot be bound twice */
			return fk_fail(EINVAL);
		if (!fk_stat(b->iommufd, &dev, &ino) || dev != fk.iommu_dev || ino != fk.iommu_ino)
			return fk_fail(EBADF); /* iommufd_ctx_from_fd on something else */
		if (fk.bind_err)
			return fk_fail(fk.bind_err);
		n->bound = true;
		b->out_devid = FK_DEVID;
		return 0;
	}
	if (req == VFIO_DEVICE_ATTACH_IOMMUFD_PT) {
		struct vfio_device_attach_iommufd_pt *a = arg;

		if (a->argsz < sizeof(*a) || a->flags || !n->bound)
			return fk_fail(EINVAL);
		if (a->pt_id != FK_IOAS || !fk.ioas_alive)
			return fk_fail(ENOENT);
		if (fk.attach_err)
			return fk_fail(fk.attach_err);
		n->attached = true;
		n->pt = a->pt_id;
		a->pt_id = FK_HWPT; /* the kernel answers with the hwpt it made */
		return 0;
	}
	return fk_fail(ENOTTY);
}

static int fk_container(unsigned long req, unsigned long arg)
{
	if (!fk.type1_ok)
		return fk_fail(ENOTTY);
	if (req == VFIO_GET_API_VERSION)
		return VFIO_API_VERSION;
	if (req == VFIO_CHECK_EXTENSION)
		return arg == VFIO_TYPE1v2_IOMMU;
	return fk_fail(ENOTTY);
}

/* Binds ahead of libc's (and the sanitizers') ioctl for every caller in this program. */
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	dev_t dev;
	ino_t ino;
	unsigned i;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fk.on && fk_stat(fd, &dev, &ino)) {
		if (dev == fk.iommu_dev && ino == fk.iommu_ino)
			return fk_iommufd(req, arg);
		if (dev == fk.vfio_dev && ino == fk.vfio_ino)
			return fk_container(req, (unsigned long)(uintptr_t)arg);
		for (i = 0; i < fk.ncdev; i++)
			if (dev == fk.cdev[i].dev && ino == fk.cdev[i].ino)
				return fk_cdev(&fk.cdev[i], req, arg);
	}
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

/* ---- the fake tree ----------------------------------------------------------- */

struct tree {
	char root[64];
	struct vfio_backend_cfg cfg;
};

static void t_path(const struct tree *t, const char *rel, char *out, size_t len)
{
	ck_assert_int_lt(snprintf(out, len, "%s/%s", t->root, rel), (int)len);
}

static void t_mkdirs(const struct tree *t, const char *rel)
{
	char path[PATH_MAX], *p;

	t_path(t, rel, path, sizeof(path));
	for (p = path + strlen(t->root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(path, 0755);
			*p = '/';
		}
	}
	(void)mkdir(path, 0755);
}

static void t_symlink(const struct tree *t, const char *rel, const char *target)
{
	char path[PATH_MAX];

	t_path(t, rel, path, sizeof(path));
	(void)unlink(path);
	ck_assert_int_eq(symlink(target, path), 0);
}

/* An empty regular file at @rel; its inode, so the fake kernel can recognize it. */
static void t_file(const struct tree *t, const char *rel, const char *text, dev_t *dev,
		   ino_t *ino)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	t_path(t, rel, path, sizeof(path));
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	if (text)
		ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	if (dev)
		*dev = st.st_dev;
	if (ino)
		*ino = st.st_ino;
}

/* sysfs: PCI device @bdf, bound to @drv (NULL: none), in IOMMU group @group (<0: none). */
static void t_pci(const struct tree *t, const char *bdf, const char *drv, int group)
{
	char rel[256], tgt[256];

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", bdf);
	t_mkdirs(t, rel);
	if (drv) {
		snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/driver", bdf);
		snprintf(tgt, sizeof(tgt), "../../../bus/pci/drivers/%s", drv);
		t_symlink(t, rel, tgt);
	}
	if (group >= 0) {
		snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%d/devices", group);
		t_mkdirs(t, rel);
		snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/iommu_group", bdf);
		snprintf(tgt, sizeof(tgt), "../../../kernel/iommu_groups/%d", group);
		t_symlink(t, rel, tgt);
	}
}

/* sysfs: @bdf's VFIO cdev vfio@n (vfio-dev/vfioN with its "dev" file). */
static void t_cdev_sysfs(const struct tree *t, const char *bdf, unsigned n, const char *devnum)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/vfio-dev/vfio%u", bdf, n);
	t_mkdirs(t, rel);
	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/vfio-dev/vfio%u/dev", bdf, n);
	t_file(t, rel, devnum, NULL, NULL);
}

/* /dev: the cdev node vfio@n, known to the fake kernel. */
static struct fk_node *t_cdev_node(const struct tree *t, unsigned n)
{
	struct fk_node *node = &fk.cdev[fk.ncdev++];
	char rel[64];

	t_mkdirs(t, "dev/vfio/devices");
	snprintf(rel, sizeof(rel), "dev/vfio/devices/vfio%u", n);
	t_file(t, rel, NULL, &node->dev, &node->ino);
	return node;
}

static void t_iommu_node(const struct tree *t)
{
	t_file(t, "dev/iommu", NULL, &fk.iommu_dev, &fk.iommu_ino);
}

/* A host where 0000:00:03.0 is on vfio-pci in group 7 with cdev vfio12, and /dev/iommu. */
static struct fk_node *t_host(struct tree *t)
{
	struct fk_node *n;

	t_pci(t, "0000:00:03.0", "vfio-pci", 7);
	t_cdev_sysfs(t, "0000:00:03.0", 12, "511:12\n");
	n = t_cdev_node(t, 12);
	t_iommu_node(t);
	return n;
}

static void t_init(struct tree *t)
{
	char path[PATH_MAX];

	fk_reset();
	snprintf(t->root, sizeof(t->root), "/tmp/vfio-iommufd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->root));
	t_mkdirs(t, "sys/kernel/iommu_groups");
	t_mkdirs(t, "dev");
	snprintf(path, sizeof(path), "%s/sys", t->root);
	t->cfg.sysfs_root = strdup(path);
	snprintf(path, sizeof(path), "%s/dev", t->root);
	t->cfg.dev_root = strdup(path);
	ck_assert_ptr_nonnull(t->cfg.sysfs_root);
	ck_assert_ptr_nonnull(t->cfg.dev_root);
	fk.on = true;
}

static void t_free(struct tree *t)
{
	char cmd[128];

	fk.on = false;
	free((void *)t->cfg.sysfs_root);
	free((void *)t->cfg.dev_root);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	ck_assert_int_eq(system(cmd), 0);
}

/* The lowest free fd: unchanged across a failing call means nothing leaked. */
static int lowest_fd(void)
{
	int fd = dup(0);

	ck_assert_int_ge(fd, 0);
	close(fd);
	return fd;
}

/* stderr into a file, for the lines log_error writes. */
struct capture {
	int saved;
	FILE *f;
	char text[2048];
};

static void cap_begin(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	ck_assert_ptr_nonnull(c->f);
	c->saved = dup(2);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_ge(dup2(fileno(c->f), 2), 0);
}

static const char *cap_end(struct capture *c)
{
	size_t n;

	fflush(stderr);
	ck_assert_int_ge(dup2(c->saved, 2), 0);
	close(c->saved);
	rewind(c->f);
	n = fread(c->text, 1, sizeof(c->text) - 1, c->f);
	c->text[n] = '\0';
	fclose(c->f);
	return c->text;
}

/* ---- the uAPI ------------------------------------------------------------------ */

START_TEST(test_uapi_numbers)
{
	/* Linux 6.12 include/uapi/linux/iommufd.h and vfio.h: type ';', fixed numbers. */
	ck_assert_uint_eq(IOMMU_DESTROY, 0x3b80);
	ck_assert_uint_eq(IOMMU_IOAS_ALLOC, 0x3b81);
	ck_assert_uint_eq(IOMMU_IOAS_IOVA_RANGES, 0x3b84);
	ck_assert_uint_eq(IOMMU_IOAS_MAP, 0x3b85);
	ck_assert_uint_eq(IOMMU_IOAS_UNMAP, 0x3b86);
	ck_assert_uint_eq(VFIO_DEVICE_BIND_IOMMUFD, 0x3b76);
	ck_assert_uint_eq(VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0x3b77);
	ck_assert_uint_ge(sizeof(struct iommu_ioas_map), 40);
	ck_assert_uint_eq(offsetof(struct iommu_ioas_map, iova), 32);
	ck_assert_uint_eq(sizeof(struct iommu_iova_range), 16);
	ck_assert_uint_eq(offsetof(struct iommu_ioas_iova_ranges, allowed_iovas), 16);
	ck_assert_uint_eq(offsetof(struct vfio_device_bind_iommufd, out_devid), 12);
}
END_TEST

/* ---- create ---------------------------------------------------------------------- */

START_TEST(test_create_missing_iommu)
{
	struct vfio_backend *be = (void *)1;
	struct tree t;
	char err[512];

	t_init(&t);
	/* No /dev/iommu: the kernel lacks CONFIG_IOMMUFD, said in one line. */
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_null(be);
	ck_assert_ptr_nonnull(strstr(err, "CONFIG_IOMMUFD"));
	ck_assert_ptr_nonnull(strstr(err, "/dev/iommu"));
	ck_assert_ptr_nonnull(strstr(err, "--vfio-backend type1"));
	ck_assert_ptr_null(strchr(err, '\n'));
	/* The same through the selector. */
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_IOMMUFD, &t.cfg, err, sizeof(err)),
			 -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "CONFIG_IOMMUFD"));
	/* A small buffer is truncated, not overrun; a NULL one is fine. */
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, 8), -ENODEV);
	ck_assert_uint_eq(strlen(err), 7);
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, NULL, 0), -ENODEV);
	ck_assert_int_eq(vfio_iommufd_create(NULL, &t.cfg, err, sizeof(err)), -EINVAL);
	t_free(&t);
}
END_TEST

START_TEST(test_create_not_iommufd)
{
	struct vfio_backend_cfg long_cfg = { 0 };
	struct vfio_backend *be;
	char err[512], *longpath;
	struct tree t;
	int before;

	t_init(&t);
	/* Something at /dev/iommu that does not answer IOMMU_IOAS_ALLOC. */
	t_file(&t, "dev/iommu", NULL, NULL, NULL);
	before = lowest_fd();
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_null(be);
	ck_assert_ptr_nonnull(strstr(err, "IOMMU_IOAS_ALLOC"));
	ck_assert_ptr_nonnull(strstr(err, "not an iommufd"));
	ck_assert_int_eq(lowest_fd(), before);

	/* The real one failing IOAS_ALLOC with another error keeps that error. */
	t_iommu_node(&t);
	fk.alloc_err = ENOMEM;
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "IOMMU_IOAS_ALLOC"));
	ck_assert_uint_eq(fk.destroys, 0); /* no IOAS, nothing to destroy */
	ck_assert_int_eq(lowest_fd(), before);

	/* Roots too long for the backend's buffers. */
	longpath = malloc(PATH_MAX);
	ck_assert_ptr_nonnull(longpath);
	memset(longpath, 'a', PATH_MAX - 1);
	longpath[PATH_MAX - 1] = '\0';
	long_cfg.dev_root = longpath;
	ck_assert_int_eq(vfio_iommufd_create(&be, &long_cfg, err, sizeof(err)), -ENAMETOOLONG);
	long_cfg.dev_root = NULL;
	long_cfg.sysfs_root = longpath;
	ck_assert_int_eq(vfio_iommufd_create(&be, &long_cfg, err, sizeof(err)), -ENAMETOOLONG);
	free(longpath);
	t_free(&t);
}
END_TEST

START_TEST(test_create_and_destroy)
{
	struct vfio_backend *be = NULL;
	struct tree t;
	char err[256] = "";
	int before;

	t_init(&t);
	t_iommu_node(&t);
	before = lowest_fd();
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(be);
	ck_assert_str_eq(vfio_backend_name(be), "iommufd");
	ck_assert(fk.ioas_alive);
	vfio_backend_destroy(be);
	/* Destroy names the IOAS, then closes /dev/iommu. */
	ck_assert_uint_eq(fk.destroys, 1);
	ck_assert_uint_eq(fk.destroyed, FK_IOAS);
	ck_assert(!fk.ioas_alive);
	ck_assert_int_eq(lowest_fd(), before);

	/* A device still attached keeps the IOAS (EBUSY): quietly left to the kernel. */
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);
	fk.destroy_err = EBUSY;
	vfio_backend_destroy(be);
	ck_assert_uint_eq(fk.destroys, 2);
	ck_assert_int_eq(lowest_fd(), before);
	vfio_backend_destroy(NULL);
	t_free(&t);
}
END_TEST

START_TEST(test_auto_prefers_type1)
{
	struct vfio_backend *be = NULL;
	struct tree t;
	char err[512];

	t_init(&t);
	t_iommu_node(&t);
	t_mkdirs(&t, "dev/vfio");
	t_file(&t, "dev/vfio/vfio", NULL, &fk.vfio_dev, &fk.vfio_ino);
	/* Both work: auto takes type1. */
	fk.type1_ok = true;
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_AUTO, &t.cfg, err, sizeof(err)), 0);
	ck_assert_str_eq(vfio_backend_name(be), "type1");
	vfio_backend_destroy(be);
	ck_assert_uint_eq(fk.destroys, 0); /* no IOAS was made */
	/* Asked for by name, iommufd. */
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_IOMMUFD, &t.cfg, err,
					     sizeof(err)), 0);
	ck_assert_str_eq(vfio_backend_name(be), "iommufd");
	vfio_backend_destroy(be);
	/* No usable container: auto falls back to iommufd. */
	fk.type1_ok = false;
	ck_assert_int_eq(vfio_backend_create(&be, VFIO_BACKEND_AUTO, &t.cfg, err, sizeof(err)), 0);
	ck_assert_str_eq(vfio_backend_name(be), "iommufd");
	vfio_backend_destroy(be);
	t_free(&t);
}
END_TEST

/* ---- open_device: discovery and each missing piece ---------------------------------- */

START_TEST(test_open_device_missing_pieces)
{
	struct vfio_backend *be;
	struct fk_node *n;
	struct tree t;
	char err[512];
	int fd = 7, before;

	t_init(&t);
	t_iommu_node(&t);
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);
	before = lowest_fd();

	/* Not an address. */
	ck_assert_int_eq(vfio_backend_open_device(be, "eth0", &fd, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "'eth0' is not a PCI address"));
	ck_assert_int_eq(fd, -1);
	/* No such device. */
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no PCI device 0000:00:03.0"));
	/* The device, but no IOMMU on the host at all. */
	t_pci(&t, "0000:00:03.0", "e1000e", -1);
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "no IOMMU on this host"));
	/* An IOMMU group, but bound to another driver. */
	t_pci(&t, "0000:00:03.0", "e1000e", 7);
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "bound to e1000e, not vfio-pci"));
	ck_assert_ptr_nonnull(strstr(err, "driver_override"));
	/* On vfio-pci, but no vfio-dev/: the kernel lacks the VFIO cdev. */
	t_pci(&t, "0000:00:03.0", "vfio-pci", 7);
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "has no VFIO cdev"));
	ck_assert_ptr_nonnull(strstr(err, "CONFIG_VFIO_DEVICE_CDEV"));
	/*
	 * vfio-dev/vfio12 without a device number: what Linux 6.1 to 6.5, or a
	 * kernel without CONFIG_VFIO_DEVICE_CDEV, shows for every VFIO device.
	 */
	t_mkdirs(&t, "sys/bus/pci/devices/0000:00:03.0/vfio-dev/vfio12");
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "0000:00:03.0 has no VFIO cdev"));
	ck_assert_ptr_nonnull(strstr(err, "vfio12/dev missing"));
	ck_assert_ptr_nonnull(strstr(err, "CONFIG_VFIO_DEVICE_CDEV"));
	/* A device number that does not parse. */
	t_cdev_sysfs(&t, "0000:00:03.0", 12, "banana\n");
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "want MAJ:MIN"));
	t_cdev_sysfs(&t, "0000:00:03.0", 12, "");
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -EINVAL);
	/* A cdev in sysfs but no node in /dev. */
	t_cdev_sysfs(&t, "0000:00:03.0", 12, "511:12\n");
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "has the VFIO cdev vfio12"));
	ck_assert_ptr_nonnull(strstr(err, "/dev/vfio/devices/vfio12 is missing"));
	/* The node exists but the device is busy through its group (type1). */
	n = t_cdev_node(&t, 12);
	fk.bind_err = EBUSY;
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "VFIO_DEVICE_BIND_IOMMUFD 0000:00:03.0"));
	ck_assert_ptr_nonnull(strstr(err, "group 7 is open through type1"));
	ck_assert(!n->bound);
	/* Bound, but the attach fails: the fd is closed again (which unbinds). */
	fk.bind_err = 0;
	fk.attach_err = EINVAL;
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "VFIO_DEVICE_ATTACH_IOMMUFD_PT 0000:00:03.0 to IOAS 5"));
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(lowest_fd(), before);
	vfio_backend_destroy(be);
	t_free(&t);
}
END_TEST

START_TEST(test_open_device_bind_attach)
{
	struct vfio_backend *be;
	struct fk_node *n, *n2;
	struct tree t;
	char err[512], path[PATH_MAX];
	int fd = -1, fd2 = -1, fd3 = 7, before;

	t_init(&t);
	n = t_host(&t);
	t_pci(&t, "0000:00:1f.7", "vfio-pci", 8);
	t_cdev_sysfs(&t, "0000:00:1f.7", 3, "511:3\n");
	n2 = t_cdev_node(&t, 3);
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);
	before = lowest_fd();

	ck_assert_int_eq(vfio_backend_open_device(be, "0000:00:03.0", &fd, err, sizeof(err)), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert(n->bound);
	ck_assert(n->attached);
	ck_assert_uint_eq(n->pt, FK_IOAS);
	/* The same device again: the kernel refuses a second bind, said plainly. */
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:03.0/", t.cfg.sysfs_root);
	ck_assert_int_eq(vfio_backend_open_device(be, path, &fd3, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "already open"));
	ck_assert_int_eq(fd3, -1);
	/* A second device, by an upper-case address, joins the same IOAS. */
	ck_assert_int_eq(vfio_backend_open_device(be, "00:1F.7", &fd2, err, sizeof(err)), 0);
	ck_assert_int_ne(fd2, fd);
	ck_assert(n2->attached);
	ck_assert_uint_eq(n2->pt, FK_IOAS);
	/* Addresses that do not parse never reach sysfs. */
	ck_assert_int_eq(vfio_backend_open_device(be, "00:20.0", &fd3, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.8", &fd3, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(vfio_backend_open_device(be, "0000:00:03.0x", &fd3, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(vfio_backend_open_device(be, "", &fd3, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(vfio_backend_open_device(be, NULL, &fd3, err, sizeof(err)), -EINVAL);
	close(fd);
	close(fd2);
	ck_assert_int_eq(lowest_fd(), before);
	vfio_backend_destroy(be);
	t_free(&t);
}
END_TEST

/* A real char node whose numbers disagree with sysfs is refused (needs mknod: root). */
START_TEST(test_open_device_stale_node)
{
	struct vfio_backend *be;
	struct tree t;
	char err[512], path[PATH_MAX];
	int fd = 7;

	t_init(&t);
	t_pci(&t, "0000:00:03.0", "vfio-pci", 7);
	t_cdev_sysfs(&t, "0000:00:03.0", 12, "511:12\n");
	t_iommu_node(&t);
	t_mkdirs(&t, "dev/vfio/devices");
	t_path(&t, "dev/vfio/devices/vfio12", path, sizeof(path));
	/* /dev/null's numbers: opening it is harmless. */
	if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) < 0) {
		fprintf(stderr, "SKIP test_open_device_stale_node: mknod: %s\n", strerror(errno));
		t_free(&t);
		return;
	}
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "is device 1:3, but 0000:00:03.0's cdev vfio12 is 511:12"));
	/* Numbers that agree pass the check and reach the bind (which /dev/null refuses). */
	t_cdev_sysfs(&t, "0000:00:03.0", 12, "1:3\n");
	ck_assert_int_eq(vfio_backend_open_device(be, "00:03.0", &fd, err, sizeof(err)), -ENOTTY);
	ck_assert_ptr_nonnull(strstr(err, "VFIO_DEVICE_BIND_IOMMUFD"));
	vfio_backend_destroy(be);
	t_free(&t);
}
END_TEST

/* ---- IOVA ranges ----------------------------------------------------------------------- */

START_TEST(test_iova_ranges_two_calls)
{
	struct iova_range r[4], one[2];
	struct vfio_backend *be;
	struct tree t;
	char err[256];
	unsigned nr = 99;

	t_init(&t);
	t_iommu_node(&t);
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);

	/* Count first, then the list: two calls. */
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 4, &nr), 0);
	ck_assert_uint_eq(fk.range_calls, 2);
	ck_assert_uint_eq(nr, 2);
	ck_assert_uint_eq(r[0].start, 0);
	ck_assert_uint_eq(r[0].end, 0xfedfffffULL);
	ck_assert_uint_eq(r[1].start, 0xfef00000ULL);
	ck_assert_uint_eq(r[1].end, 0xffffffffffffULL);
	/* Room for fewer: the count is still the whole, only @max written. */
	one[1] = (struct iova_range){ 0x1234, 0x5678 };
	ck_assert_int_eq(vfio_backend_iova_ranges(be, one, 1, &nr), 0);
	ck_assert_uint_eq(nr, 2);
	ck_assert_uint_eq(one[0].end, 0xfedfffffULL);
	ck_assert_uint_eq(one[1].start, 0x1234);
	ck_assert_int_eq(vfio_backend_iova_ranges(be, NULL, 0, &nr), 0);
	ck_assert_uint_eq(nr, 2);
	/* The list grows between the count and the fetch: asked again. */
	fk.range_calls = 0;
	fk.grow_calls = 2;
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 4, &nr), 0);
	ck_assert_uint_eq(nr, 4);
	ck_assert_uint_eq(fk.range_calls, 3);
	ck_assert_uint_eq(r[3].start, 0x1000000000000ULL + 3 * 0x100000000ULL);
	/* ...and one that never settles gives up. */
	fk.grow_calls = 100;
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 4, &nr), -EAGAIN);
	ck_assert_uint_eq(nr, 0);
	fk.grow_calls = 0;
	vfio_backend_destroy(be);
	t_free(&t);
}
END_TEST

START_TEST(test_iova_ranges_bad_answers)
{
	struct iova_range r[8];
	struct vfio_backend *be;
	struct capture c;
	struct tree t;
	char err[256];
	unsigned nr;

	t_init(&t);
	t_iommu_node(&t);
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);
	/* A range ending before it starts. */
	fk.ranges[1] = (struct iommu_iova_range){ 0x2000000, 0x1ffffff };
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 8, &nr), -EINVAL);
	ck_assert_ptr_nonnull(strstr(cap_end(&c), "not ascending and disjoint"));
	ck_assert_uint_eq(nr, 0);
	/* Overlapping, and out of order. */
	fk.ranges[1] = (struct iommu_iova_range){ 0xfed00000ULL, 0xffffffffULL };
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 8, &nr), -EINVAL);
	cap_end(&c);
	fk.ranges[1] = (struct iommu_iova_range){ 0, 0xfff };
	fk.ranges[0] = (struct iommu_iova_range){ 0x100000, 0x1fffff };
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 8, &nr), -EINVAL);
	cap_end(&c);
	/* Nothing usable at all is not "unknown". */
	fk.nranges = 0;
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 8, &nr), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(cap_end(&c), "no usable IOVA range"));
	ck_assert_uint_eq(nr, 0);
	/* An absurd count is refused before allocating for it. */
	fk.nranges = 2;
	fk.fake_count = 1u << 30;
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 8, &nr), -E2BIG);
	fk.fake_count = 0;
	/* Any other error comes back as is. */
	fk.ranges_err = EIO;
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 8, &nr), -EIO);
	ck_assert_uint_eq(nr, 0);
	fk.ranges_err = 0;
	ck_assert_int_eq(vfio_backend_iova_ranges(be, r, 8, NULL), -EINVAL);
	ck_assert_int_eq(vfio_backend_iova_ranges(be, NULL, 8, &nr), -EINVAL);
	vfio_backend_destroy(be);
	t_free(&t);
}
END_TEST

/* ---- map / unmap --------------------------------------------------------------------------- */

START_TEST(test_map_unmap)
{
	static char buf[4 * 4096] __attribute__((aligned(4096)));
	struct vfio_backend *be;
	struct capture c;
	struct tree t;
	char err[256];
	const char *log;

	t_init(&t);
	t_iommu_node(&t);
	ck_assert_int_eq(vfio_iommufd_create(&be, &t.cfg, err, sizeof(err)), 0);

	ck_assert_int_eq(vfio_backend_dma_map(be, 0x100000, 0x2000, buf, false), 0);
	ck_assert_uint_eq(fk.nmaps, 1);
	ck_assert_uint_eq(fk.maps[0].iova, 0x100000);
	ck_assert_uint_eq(fk.maps[0].len, 0x2000);
	ck_assert_uint_eq(fk.maps[0].va, (uintptr_t)buf);
	ck_assert_uint_eq(fk.maps[0].flags, IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
						    IOMMU_IOAS_MAP_WRITEABLE);
	/* Read-only memory (ROM) maps without WRITEABLE. */
	ck_assert_int_eq(vfio_backend_dma_map(be, 0x200000, 0x2000, buf + 0x2000, true), 0);
	ck_assert_uint_eq(fk.maps[1].flags, IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE);
	/* An overlap fails with the range in the log line. */
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_dma_map(be, 0x101000, 0x2000, buf, false), -EEXIST);
	log = cap_end(&c);
	ck_assert_ptr_nonnull(strstr(log, "IOMMU_IOAS_MAP iova [0x101000, 0x102fff] rw"));
	ck_assert_ptr_nonnull(strstr(log, "overlaps a mapping"));
	ck_assert_uint_eq(fk.nmaps, 2);
	/* The kernel out of memory: the RLIMIT_MEMLOCK hint. */
	fk.map_err = ENOMEM;
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_dma_map(be, 0x400000, 0x1000, buf, false), -ENOMEM);
	log = cap_end(&c);
	ck_assert_ptr_nonnull(strstr(log, "[0x400000, 0x400fff]"));
	fk.map_err = 0;
	/* Wrapping or empty ranges stop before the kernel. */
	ck_assert_int_eq(vfio_backend_dma_map(be, UINT64_MAX - 0xfff, 0x2000, buf, false), -EINVAL);
	ck_assert_int_eq(vfio_backend_dma_map(be, 0x500000, 0, buf, false), -EINVAL);
	ck_assert_int_eq(vfio_backend_dma_map(be, 0x500000, 0x1000, NULL, false), -EINVAL);
	ck_assert_uint_eq(fk.nmaps, 2);

	/* Unmap exactly what was mapped. */
	ck_assert_int_eq(vfio_backend_dma_unmap(be, 0x100000, 0x2000), 0);
	ck_assert_uint_eq(fk.nmaps, 1);
	/* Unknown range: the kernel's ENOENT, logged with the range. */
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_dma_unmap(be, 0x100000, 0x2000), -ENOENT);
	ck_assert_ptr_nonnull(strstr(cap_end(&c), "IOMMU_IOAS_UNMAP iova [0x100000, 0x101fff]"));
	/* The kernel unmapping another amount than asked is a bookkeeping bug. */
	fk.unmap_short = 0x1000;
	cap_begin(&c);
	ck_assert_int_eq(vfio_backend_dma_unmap(be, 0x200000, 0x2000), -EIO);
	ck_assert_ptr_nonnull(strstr(cap_end(&c), "unmapped 0x1000 bytes, not 0x2000"));
	ck_assert_int_eq(vfio_backend_dma_unmap(be, UINT64_MAX, 2), -EINVAL);
	vfio_backend_destroy(be);
	t_free(&t);
}
END_TEST

static Suite *vfio_iommufd_suite(void)
{
	Suite *s = suite_create("vfio_iommufd");
	TCase *tc = tcase_create("iommufd");

	tcase_add_test(tc, test_uapi_numbers);
	tcase_add_test(tc, test_create_missing_iommu);
	tcase_add_test(tc, test_create_not_iommufd);
	tcase_add_test(tc, test_create_and_destroy);
	tcase_add_test(tc, test_auto_prefers_type1);
	tcase_add_test(tc, test_open_device_missing_pieces);
	tcase_add_test(tc, test_open_device_bind_attach);
	tcase_add_test(tc, test_open_device_stale_node);
	tcase_add_test(tc, test_iova_ranges_two_calls);
	tcase_add_test(tc, test_iova_ranges_bad_answers);
	tcase_add_test(tc, test_map_unmap);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(vfio_iommufd_suite);
