/*
 * vfio/backend.c - backend selection and the thin call-through helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vfio/backend.h"

int vfio_backend_kind_parse(const char *s, enum vfio_backend_kind *out)
{
	if (!s || !out)
		return -EINVAL;
	if (!strcmp(s, "auto"))
		*out = VFIO_BACKEND_AUTO;
	else if (!strcmp(s, "type1"))
		*out = VFIO_BACKEND_TYPE1;
	else if (!strcmp(s, "iommufd"))
		*out = VFIO_BACKEND_IOMMUFD;
	else
		return -EINVAL;
	return 0;
}

int vfio_backend_create(struct vfio_backend **out, enum vfio_backend_kind kind,
			const struct vfio_backend_cfg *cfg, char *err, size_t errlen)
{
	char e1[256] = "";
	int ret, e2;

	if (!out)
		return -EINVAL;
	*out = NULL;
	switch (kind) {
	case VFIO_BACKEND_TYPE1:
		return vfio_type1_create(out, cfg, err, errlen);
	case VFIO_BACKEND_IOMMUFD:
		return vfio_iommufd_create(out, cfg, err, errlen);
	case VFIO_BACKEND_AUTO:
		/*
		 * type1 first: it is what every Debian kernel has, and on kernels
		 * built without the legacy container, /dev/vfio/vfio is iommufd's
		 * compatibility interface, which speaks the same type1 API.
		 */
		ret = vfio_type1_create(out, cfg, e1, sizeof(e1));
		if (!ret)
			return 0;
		e2 = vfio_iommufd_create(out, cfg, err, errlen);
		if (!e2)
			return 0;
		/* iommufd merely absent: type1's error is the one that says what to fix. */
		if (e2 == -ENODEV) {
			if (err && errlen)
				snprintf(err, errlen, "%s (and iommufd is not available)", e1);
			return ret;
		}
		return e2;
	}
	if (err && errlen)
		snprintf(err, errlen, "vfio: unknown backend kind %d", (int)kind);
	return -EINVAL;
}

void vfio_backend_destroy(struct vfio_backend *be)
{
	if (be && be->ops && be->ops->destroy)
		be->ops->destroy(be->priv);
}

int vfio_backend_dma_map(struct vfio_backend *be, uint64_t iova, uint64_t size, void *vaddr,
			 bool readonly)
{
	if (!be || !vaddr || range_invalid(iova, size))
		return -EINVAL;
	return be->ops->dma_map(be->priv, iova, size, vaddr, readonly);
}

int vfio_backend_dma_unmap(struct vfio_backend *be, uint64_t iova, uint64_t size)
{
	if (!be || range_invalid(iova, size))
		return -EINVAL;
	return be->ops->dma_unmap(be->priv, iova, size);
}

int vfio_backend_iova_ranges(struct vfio_backend *be, struct iova_range *out, unsigned max,
			     unsigned *nr)
{
	if (!be || !nr || (max && !out))
		return -EINVAL;
	return be->ops->iova_ranges(be->priv, out, max, nr);
}

int vfio_backend_open_device(struct vfio_backend *be, const char *dev, int *device_fd,
			     char *err, size_t errlen)
{
	if (!be || !dev || !device_fd)
		return -EINVAL;
	*device_fd = -1;
	return be->ops->open_device(be->priv, dev, device_fd, err, errlen);
}
