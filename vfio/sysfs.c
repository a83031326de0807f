/*
 * vfio/sysfs.c - PCI device, driver and IOMMU group lookups in sysfs.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "vfio/sysfs.h"

static int vfio_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly @n hex digits at @s; their value, or -1. */
static long vfio_hexn(const char *s, unsigned n)
{
	long v = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		int d = vfio_hex(s[i]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

int vfio_bdf_parse(const char *arg, char bdf[VFIO_BDF_LEN])
{
	const char *s, *end;
	long dom = 0, bus, dev, fn;
	size_t len;

	if (!arg || !bdf)
		return -EINVAL;
	len = strnlen(arg, PATH_MAX);
	if (len == 0 || len >= PATH_MAX)
		return -EINVAL;
	/* A path: its last component, trailing slashes ignored. */
	end = arg + len;
	while (end > arg + 1 && end[-1] == '/')
		end--;
	for (s = end; s > arg && s[-1] != '/'; s--)
		;
	len = (size_t)(end - s);
	if (len == 12) {
		if (s[4] != ':')
			return -EINVAL;
		dom = vfio_hexn(s, 4);
		s += 5;
	} else if (len != 7) {
		return -EINVAL;
	}
	if (s[2] != ':' || s[5] != '.')
		return -EINVAL;
	bus = vfio_hexn(s, 2);
	dev = vfio_hexn(s + 3, 2);
	fn = vfio_hexn(s + 6, 1);
	if (dom < 0 || bus < 0 || dev < 0 || dev > 0x1f || fn < 0 || fn > 7)
		return -EINVAL;
	snprintf(bdf, VFIO_BDF_LEN, "%04lx:%02lx:%02lx.%lx", dom, bus, dev, fn);
	return 0;
}

/* The last component of a symlink's target; -errno from readlink. */
static int vfio_link_base(const char *path, char *out, size_t len)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	const char *b;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	b = strrchr(buf, '/');
	b = b ? b + 1 : buf;
	if (strlen(b) >= len)
		return -ENAMETOOLONG;
	strcpy(out, b);
	return 0;
}

static int vfio_dev_path(char *out, size_t len, const char *sysfs, const char *bdf,
			 const char *leaf)
{
	int n = snprintf(out, len, "%s/bus/pci/devices/%s%s%s", sysfs, bdf, leaf ? "/" : "",
			 leaf ? leaf : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int vfio_sysfs_driver(const char *sysfs, const char *bdf, char *drv, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	int ret;

	if (!sysfs || !bdf || !drv || !len)
		return -EINVAL;
	ret = vfio_dev_path(path, sizeof(path), sysfs, bdf, NULL);
	if (ret)
		return ret;
	if (stat(path, &st) < 0)
		return -ENOENT;
	ret = vfio_dev_path(path, sizeof(path), sysfs, bdf, "driver");
	if (ret)
		return ret;
	ret = vfio_link_base(path, drv, len);
	if (ret == -ENOENT) {
		drv[0] = '\0';
		return 0;
	}
	return ret;
}

/* true when @dir has at least one entry besides . and .. */
static bool vfio_dir_has_entries(const char *dir)
{
	struct dirent *e;
	bool any = false;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return any;
}

static int vfio_parse_uint(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT_MAX)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int vfio_sysfs_group(const char *sysfs, const char *bdf, unsigned *group, char *err,
		     size_t errlen)
{
	char path[PATH_MAX], name[64];
	int ret;

	if (!sysfs || !bdf || !group)
		return -EINVAL;
	ret = vfio_dev_path(path, sizeof(path), sysfs, bdf, "iommu_group");
	if (ret)
		return ret;
	ret = vfio_link_base(path, name, sizeof(name));
	if (ret == -ENOENT) {
		char groups[PATH_MAX];

		snprintf(groups, sizeof(groups), "%s/kernel/iommu_groups", sysfs);
		if (!vfio_dir_has_entries(groups))
			errmsg(err, errlen,
				       "vfio: no IOMMU on this host (%s is empty): enable VT-d/AMD-Vi "
				       "in firmware and boot with intel_iommu=on or amd_iommu=on",
				       groups);
		else
			errmsg(err, errlen,
				       "vfio: %s has no IOMMU group (no IOMMU covers it)", bdf);
		return -ENODEV;
	}
	if (ret) {
		errmsg(err, errlen, "vfio: %s: cannot read %s: %s", bdf, path,
			       strerror(-ret));
		return ret;
	}
	if (vfio_parse_uint(name, group)) {
		errmsg(err, errlen, "vfio: %s: iommu_group link ends in '%s', not a number",
			       bdf, name);
		return -EINVAL;
	}
	return 0;
}

int vfio_sysfs_group_blockers(const char *sysfs, unsigned group, char *list, size_t len,
			      unsigned *count)
{
	char path[PATH_MAX], drv[64];
	struct dirent *e;
	size_t used = 0;
	DIR *d;

	if (!sysfs || !list || !len || !count)
		return -EINVAL;
	list[0] = '\0';
	*count = 0;
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%u/devices", sysfs, group);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char bdf[VFIO_BDF_LEN];
		int n;

		/* Skip ., .. and anything that is not a PCI address (non-PCI group members). */
		if (strlen(e->d_name) != 12 || vfio_bdf_parse(e->d_name, bdf))
			continue;
		if (vfio_sysfs_driver(sysfs, bdf, drv, sizeof(drv)))
			drv[0] = '\0';
		if (!strcmp(drv, "vfio-pci"))
			continue;
		(*count)++;
		n = snprintf(list + used, len - used, "%s%s (%s)", used ? ", " : "", bdf,
			     drv[0] ? drv : "no driver");
		if (n < 0 || (size_t)n >= len - used)
			used = len - 1; /* truncated: the count still says how many */
		else
			used += (size_t)n;
	}
	closedir(d);
	return 0;
}

int vfio_sysfs_resolve(const char *sysfs, const char *arg, char bdf[VFIO_BDF_LEN],
		       unsigned *group, char *err, size_t errlen)
{
	char drv[64];
	int ret;

	if (!sysfs || !bdf || !group)
		return -EINVAL;
	if (vfio_bdf_parse(arg, bdf)) {
		errmsg(err, errlen,
			       "vfio: '%s' is not a PCI address (expected 0000:00:03.0, 00:03.0 "
			       "or a sysfs device path)", arg ? arg : "(null)");
		return -EINVAL;
	}
	ret = vfio_sysfs_driver(sysfs, bdf, drv, sizeof(drv));
	if (ret == -ENOENT) {
		errmsg(err, errlen, "vfio: no PCI device %s (%s/bus/pci/devices/%s missing)",
			       bdf, sysfs, bdf);
		return ret;
	}
	if (ret) {
		errmsg(err, errlen, "vfio: %s: cannot read its driver: %s", bdf,
			       strerror(-ret));
		return ret;
	}
	/* Without an IOMMU vfio-pci cannot bind: say that first, it is the real cause. */
	ret = vfio_sysfs_group(sysfs, bdf, group, err, errlen);
	if (ret)
		return ret;
	if (strcmp(drv, "vfio-pci")) {
		errmsg(err, errlen,
			       "vfio: %s is %s%s, not vfio-pci: echo vfio-pci > "
			       "%s/bus/pci/devices/%s/driver_override%s; echo %s > "
			       "%s/bus/pci/drivers_probe",
			       bdf, drv[0] ? "bound to " : "bound to no driver", drv, sysfs, bdf,
			       drv[0] ? "; echo the address to its driver's unbind" : "", bdf,
			       sysfs);
		return drv[0] ? -EBUSY : -ENODEV;
	}
	return 0;
}

int vfio_sysfs_cdev(const char *sysfs, const char *bdf, char *name, size_t len, char *err,
		    size_t errlen)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret = -ENODEV;

	if (!sysfs || !bdf || !name || !len)
		return -EINVAL;
	if (vfio_dev_path(path, sizeof(path), sysfs, bdf, "vfio-dev"))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (d) {
		while ((e = readdir(d))) {
			unsigned n;

			if (strncmp(e->d_name, "vfio", 4) || vfio_parse_uint(e->d_name + 4, &n))
				continue;
			if (strlen(e->d_name) >= len) {
				ret = -ENAMETOOLONG;
				break;
			}
			strcpy(name, e->d_name);
			ret = 0;
			break;
		}
		closedir(d);
	}
	if (ret)
		errmsg(err, errlen,
			       "vfio: %s has no VFIO cdev (%s): iommufd needs CONFIG_VFIO_DEVICE_CDEV",
			       bdf, path);
	return ret;
}
