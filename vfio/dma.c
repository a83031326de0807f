/*
 * vfio/dma.c - the DMA listener (see dma.h for what is mapped and why).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vfio/dma.h"

#define VFIO_DMA_PAGE 4096ULL

/* Index of the first mapping with gpa >= @gpa. */
static unsigned vfio_dma_lower(const struct vfio_dma *d, uint64_t gpa)
{
	unsigned lo = 0, hi = d->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (d->maps[mid].gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int vfio_dma_find(const struct vfio_dma *d, uint64_t gpa, uint64_t size)
{
	unsigned i = vfio_dma_lower(d, gpa);

	if (i < d->nr && d->maps[i].gpa == gpa && d->maps[i].size == size)
		return (int)i;
	return -1;
}

bool vfio_dma_is_mapped(const struct vfio_dma *d, uint64_t gpa, uint64_t size)
{
	return d && vfio_dma_find(d, gpa, size) >= 0;
}

/* Inside the PAM/SMRAM window: never reaches the backend (see dma.h). */
static bool vfio_dma_in_low_window(const struct mem_flat_range *fr)
{
	return range_within(fr->gpa, fr->size, PC_VGA_START, PC_HIGH_START - PC_VGA_START);
}

static int vfio_dma_add(struct mem_listener *l, const struct mem_flat_range *fr)
{
	struct vfio_dma *d = container_of(l, struct vfio_dma, l);
	uint64_t iova, end, len;
	unsigned i;
	void *vaddr;
	int ret;

	if (!mem_range_is_ram(fr) || fr->backend->device ||
	    (fr->readonly && d->cfg.skip_readonly)) {
		d->stats.ignored_other++;
		return 0;
	}
	if (vfio_dma_in_low_window(fr)) {
		d->stats.ignored_low++;
		return 0;
	}
	if (range_invalid(fr->gpa, fr->size) ||
	    !range_within(fr->backend_off, fr->size, 0, fr->backend->size)) {
		snprintf(d->err, sizeof(d->err),
			 "vfio: DMA map of 0x%llx+0x%llx: range wraps or lies outside its backend %s",
			 (unsigned long long)fr->gpa, (unsigned long long)fr->size, fr->backend->name);
		log_error("%s", d->err);
		return -EINVAL;
	}
	/* The IOMMU maps whole pages: keep the pages wholly inside the range. */
	iova = align_up(fr->gpa, VFIO_DMA_PAGE);
	end = align_down(fr->gpa + fr->size, VFIO_DMA_PAGE);
	if (iova < fr->gpa || end <= iova) {
		d->stats.ignored_other++;
		return 0;
	}
	len = end - iova;
	vaddr = fr->backend->host + fr->backend_off + (iova - fr->gpa);
	i = vfio_dma_lower(d, fr->gpa);
	if ((i < d->nr && ranges_overlap(d->maps[i].gpa, d->maps[i].size, fr->gpa, fr->size)) ||
	    (i > 0 && ranges_overlap(d->maps[i - 1].gpa, d->maps[i - 1].size, fr->gpa,
				     fr->size))) {
		snprintf(d->err, sizeof(d->err),
			 "vfio: DMA map of 0x%llx-0x%llx overlaps a range already mapped",
			 (unsigned long long)fr->gpa, (unsigned long long)(fr->gpa + fr->size - 1));
		log_error("%s", d->err);
		return -EEXIST;
	}
	/* Room first, so a map that succeeded is never lost to an allocation failure. */
	if (d->nr == d->cap) {
		unsigned cap = d->cap ? d->cap * 2 : 32;
		struct vfio_dma_map *n = realloc(d->maps, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->maps = n;
		d->cap = cap;
	}
	ret = vfio_backend_dma_map(d->be, iova, len, vaddr, fr->readonly);
	if (ret) {
		d->stats.map_failures++;
		snprintf(d->err, sizeof(d->err),
			 "vfio: DMA map of 0x%llx-0x%llx (%s%s) on %s failed: %s",
			 (unsigned long long)iova, (unsigned long long)(iova + len - 1),
			 fr->mr ? fr->mr->name : fr->backend->name, fr->readonly ? ", read-only" : "",
			 vfio_backend_name(d->be), strerror(-ret));
		log_error("%s", d->err);
		return ret;
	}
	memmove(&d->maps[i + 1], &d->maps[i], (d->nr - i) * sizeof(*d->maps));
	d->maps[i] = (struct vfio_dma_map){ fr->gpa, fr->size, iova, len };
	d->nr++;
	d->stats.maps++;
	d->stats.map_bytes += len;
	return 0;
}

static int vfio_dma_del(struct mem_listener *l, const struct mem_flat_range *fr)
{
	struct vfio_dma *d = container_of(l, struct vfio_dma, l);
	struct vfio_dma_map m;
	int i = vfio_dma_find(d, fr->gpa, fr->size);
	int ret;

	if (i < 0)
		return 0; /* never mapped: ignored, MMIO, or too small */
	m = d->maps[i];
	memmove(&d->maps[i], &d->maps[i + 1], (d->nr - (unsigned)i - 1) * sizeof(*d->maps));
	d->nr--;
	ret = vfio_backend_dma_unmap(d->be, m.iova, m.len);
	if (ret) {
		/*
		 * The range leaves the view whatever we say; refusing would only
		 * make the engine's picture and ours disagree.
		 */
		d->stats.unmap_failures++;
		log_error("vfio: DMA unmap of 0x%llx-0x%llx on %s failed: %s",
			  (unsigned long long)m.iova, (unsigned long long)(m.iova + m.len - 1),
			  vfio_backend_name(d->be), strerror(-ret));
		return 0;
	}
	d->stats.unmaps++;
	return 0;
}

int vfio_dma_init(struct vfio_dma *d, struct vfio_backend *be, const struct vfio_dma_cfg *cfg)
{
	if (!d || !be)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->be = be;
	if (cfg)
		d->cfg = *cfg;
	d->l.range_add = vfio_dma_add;
	d->l.range_del = vfio_dma_del;
	return 0;
}

int vfio_dma_register(struct vfio_dma *d, struct mem_space *s)
{
	int ret;

	if (!d || !s || !d->be)
		return -EINVAL;
	if (d->space)
		return -EBUSY;
	ret = mem_listener_register(s, &d->l);
	if (ret)
		return ret;
	d->space = s;
	return 0;
}

void vfio_dma_unregister(struct vfio_dma *d)
{
	if (!d || !d->space)
		return;
	mem_listener_unregister(d->space, &d->l);
	d->space = NULL;
}

void vfio_dma_destroy(struct vfio_dma *d)
{
	if (!d)
		return;
	vfio_dma_unregister(d);
	free(d->maps);
	d->maps = NULL;
	d->nr = d->cap = 0;
}

static int vfio_iova_cmp(const void *a, const void *b)
{
	const struct iova_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

int vfio_iova_normalize(struct iova_range *r, unsigned *nr)
{
	unsigned i, w;

	if (!nr || (*nr && !r))
		return -EINVAL;
	for (i = 0; i < *nr; i++)
		if (r[i].end < r[i].start)
			return -EINVAL;
	if (!*nr)
		return 0;
	qsort(r, *nr, sizeof(*r), vfio_iova_cmp);
	for (i = 1, w = 0; i < *nr; i++) {
		/* Joins overlapping and adjacent ranges; end == UINT64_MAX absorbs the rest. */
		if (r[w].end == UINT64_MAX || r[i].start <= r[w].end + 1) {
			if (r[i].end > r[w].end)
				r[w].end = r[i].end;
		} else {
			r[++w] = r[i];
		}
	}
	*nr = w + 1;
	return 0;
}

int vfio_dma_usable_iova(struct vfio_backend *be, struct iova_range *out, unsigned max,
			 unsigned *nr, char *err, size_t errlen)
{
	unsigned n = 0;
	int ret;

	if (!be || !nr || (max && !out))
		return -EINVAL;
	*nr = 0;
	ret = vfio_backend_iova_ranges(be, out, max, &n);
	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "vfio: cannot read the usable IOVA ranges from %s: %s",
				 vfio_backend_name(be), strerror(-ret));
		return ret;
	}
	if (n > max) {
		if (err && errlen)
			snprintf(err, errlen, "vfio: %s reports %u usable IOVA ranges, more than %u",
				 vfio_backend_name(be), n, max);
		return -E2BIG;
	}
	ret = vfio_iova_normalize(out, &n);
	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "vfio: %s reports an empty IOVA range",
				 vfio_backend_name(be));
		return ret;
	}
	*nr = n;
	return 0;
}
