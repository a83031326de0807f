/*
 * vfio/sysfs.h - finding a PCI device, its driver and its IOMMU group in sysfs.
 *
 * Contract
 * - Pure lookups under a caller-given sysfs root ("/sys", or a fake tree in
 *   a test); nothing is written, nothing is cached.
 * - Errors: 0 or -errno (WUR); with err/errlen, one line saying what is
 *   wrong and how to fix it:
 *   -EINVAL   the argument is not a PCI address or a path ending in one;
 *   -ENOENT   no such device;
 *   -ENODEV   no IOMMU (no groups at all, or none for this device), or the
 *             device is bound to no driver;
 *   -EBUSY    the device is bound to another driver than vfio-pci.
 */
#ifndef VMM_VFIO_SYSFS_H
#define VMM_VFIO_SYSFS_H

#include <stddef.h>

#include "common/compiler.h"

#define VFIO_BDF_LEN 13 /* "dddd:bb:dd.f" and the NUL */

/*
 * Accepts "0000:00:03.0", "00:03.0" (domain 0) or a path whose last
 * component is one ("/sys/bus/pci/devices/0000:00:03.0/"). Hex digits may
 * be either case; the result is the kernel's lowercase form.
 */
int vfio_bdf_parse(const char *arg, char bdf[VFIO_BDF_LEN]) WUR;

/* The driver bound to @bdf ("" when none). -ENOENT when no such device. */
int vfio_sysfs_driver(const char *sysfs, const char *bdf, char *drv, size_t len) WUR;

/* The IOMMU group number of @bdf; -ENODEV with an error when there is none. */
int vfio_sysfs_group(const char *sysfs, const char *bdf, unsigned *group, char *err,
		     size_t errlen) WUR;

/*
 * The devices of @group not bound to vfio-pci, as "0000:00:03.1 (snd_hda_intel),
 * 0000:00:03.2 (no driver)" into @list; *count of them.
 */
int vfio_sysfs_group_blockers(const char *sysfs, unsigned group, char *list, size_t len,
			      unsigned *count) WUR;

/*
 * Everything a backend checks before it opens anything: @arg parses, the
 * device exists, an IOMMU group covers it, and it is bound to vfio-pci.
 */
int vfio_sysfs_resolve(const char *sysfs, const char *arg, char bdf[VFIO_BDF_LEN],
		       unsigned *group, char *err, size_t errlen) WUR;

/* The VFIO cdev name of @bdf ("vfio3", from .../vfio-dev/); -ENODEV with an error if none. */
int vfio_sysfs_cdev(const char *sysfs, const char *bdf, char *name, size_t len, char *err,
		    size_t errlen) WUR;

#endif
