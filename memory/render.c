/*
 * memory/render.c - the region tree rendered into a flat view.
 *
 * Rendering is a pure function of the tree. It works in two steps:
 *
 * 1. Collect leaves: a depth-first walk that visits siblings in list order
 *    (priority descending, later-added first among equals) and follows
 *    aliases. Every terminal region (RAM or MMIO) reached this way becomes a
 *    leaf, clipped by every container and alias window on its path, and
 *    carrying the readonly/unmergeable flags inherited from that path. The
 *    order of the walk is the paint order: a leaf found earlier hides any
 *    leaf found later where they overlap (that is exactly "higher priority
 *    wins, holes show what lies below").
 * 2. Sweep: sort the leaves' start/end points, keep the live leaves in a
 *    min-heap keyed by paint order, and emit the winner between each pair of
 *    consecutive points. O(n log n), so a commit over thousands of regions
 *    stays cheap (inserting into a sorted array region by region would be
 *    quadratic).
 *
 * Then simplification joins neighbours that mem_can_merge() accepts.
 * Arithmetic is done in 128 bits: an alias may place its target's offset 0
 * below address 0, and a window may end exactly at 2^64.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/memory.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

/* Deeper than any sane tree; stops alias cycles (an alias of an ancestor). */
#define MEM_RENDER_MAX_DEPTH 64

struct mem_leaf {
	u128 start, end;               /* absolute, clipped, end exclusive */
	s128 origin;                   /* absolute address of mr's offset 0 */
	const struct mem_region *mr;
	bool readonly, unmergeable;
};

struct mem_render_ctx {
	struct mem_leaf *leaves;
	size_t nr, cap;
	int err;
};

struct mem_event {
	u128 pos;
	uint32_t leaf;
	bool is_start;
};

static void mem_leaf_push(struct mem_render_ctx *c, const struct mem_leaf *l)
{
	if (c->nr == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct mem_leaf *n;

		/* uint32_t leaf indices in events, and 2 events per leaf */
		if (cap > UINT32_MAX / 2) {
			c->err = -E2BIG;
			return;
		}
		n = realloc(c->leaves, cap * sizeof(*n));
		if (!n) {
			c->err = -ENOMEM;
			return;
		}
		c->leaves = n;
		c->cap = cap;
	}
	c->leaves[c->nr++] = *l;
}

static void mem_render_region(struct mem_render_ctx *c, const struct mem_region *r, s128 origin,
			      u128 clip_start, u128 clip_end, bool readonly, bool unmergeable,
			      unsigned depth)
{
	s128 wstart = origin, wend = origin + (s128)r->size;
	const struct mem_region *child;
	struct mem_leaf leaf;

	if (c->err || !r->enabled)
		return;
	if (depth > MEM_RENDER_MAX_DEPTH) {
		c->err = -ELOOP;
		return;
	}
	if (wstart < (s128)clip_start)
		wstart = (s128)clip_start;
	if (wend > (s128)clip_end)
		wend = (s128)clip_end;
	if (wstart >= wend)
		return;

	readonly |= r->readonly;
	unmergeable |= r->unmergeable;

	switch (r->type) {
	case MEM_REGION_RAM:
	case MEM_REGION_MMIO:
		leaf.start = (u128)wstart;
		leaf.end = (u128)wend;
		leaf.origin = origin;
		leaf.mr = r;
		leaf.readonly = readonly;
		leaf.unmergeable = unmergeable;
		mem_leaf_push(c, &leaf);
		break;
	case MEM_REGION_ALIAS:
		/*
		 * The target is seen through the window, and clipped to itself.
		 * Its own addr and parent play no part, so the target may be
		 * another space's root (a follower showing its leader): that tree
		 * is only read, under the leader's lock the follower's commit holds.
		 */
		if (r->alias)
			mem_render_region(c, r->alias, origin - (s128)r->alias_off, (u128)wstart,
					  (u128)wend, readonly, unmergeable, depth + 1);
		break;
	case MEM_REGION_CONTAINER:
		for (child = r->first_child; child && !c->err; child = child->next_sibling)
			mem_render_region(c, child, origin + (s128)child->addr, (u128)wstart,
					  (u128)wend, readonly, unmergeable, depth + 1);
		break;
	}
}

static int mem_event_cmp(const void *a, const void *b)
{
	const struct mem_event *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return 0;
}

/* Min-heap of leaf indices: the smallest index is the highest-priority leaf. */
static void mem_heap_push(uint32_t *h, size_t *n, uint32_t v)
{
	size_t i = (*n)++;

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (h[p] <= v)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = v;
}

static void mem_heap_pop(uint32_t *h, size_t *n)
{
	size_t i = 0;
	uint32_t v;

	if (--(*n) == 0)
		return;
	v = h[*n];
	for (;;) {
		size_t l = 2 * i + 1, m;

		if (l >= *n)
			break;
		m = (l + 1 < *n && h[l + 1] < h[l]) ? l + 1 : l;
		if (h[m] >= v)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = v;
}

static void mem_range_from_leaf(struct mem_flat_range *fr, const struct mem_leaf *l, u128 a, u128 b)
{
	const struct mem_region *mr = l->mr;
	uint64_t off = (uint64_t)((s128)a - l->origin);

	memset(fr, 0, sizeof(*fr));
	fr->gpa = (uint64_t)a;
	fr->size = (uint64_t)(b - a);
	fr->mr = mr;
	fr->offset_in_region = off;
	fr->unmergeable = l->unmergeable;
	if (mr->type == MEM_REGION_RAM) {
		fr->backend = mr->backend;
		fr->backend_off = mr->backend_off + off;
		fr->readonly = l->readonly;
		/* Only writes to read-only RAM trap; their handler is the RAM region's. */
		if (l->readonly && mr->ops) {
			fr->ops = mr->ops;
			fr->opaque = mr->opaque;
		}
	} else if (mr->ops) {
		fr->ops = mr->ops;
		fr->opaque = mr->opaque;
	}
}

/*
 * Two neighbours may become one range only when a listener could not tell the
 * difference: same terminal region at contiguous offsets, same backend at
 * contiguous offsets, same attributes, and nobody on either path asked to
 * stay separate (seed 04).
 */
static bool mem_can_merge(const struct mem_flat_range *a, const struct mem_flat_range *b)
{
	return a->gpa + a->size == b->gpa &&
	       a->mr == b->mr &&
	       a->offset_in_region + a->size == b->offset_in_region &&
	       a->backend == b->backend &&
	       (!a->backend || a->backend_off + a->size == b->backend_off) &&
	       a->readonly == b->readonly &&
	       a->ops == b->ops && a->opaque == b->opaque &&
	       !a->unmergeable && !b->unmergeable;
}

static int mem_sweep(const struct mem_render_ctx *c, struct mem_flat_view *v)
{
	size_t nev = c->nr * 2, i, nheap = 0, nout = 0, cap = 0;
	struct mem_flat_range *out = NULL;
	struct mem_event *ev = NULL;
	uint32_t *heap = NULL, last_leaf = 0;
	bool *live = NULL;
	int ret = -ENOMEM;

	if (!c->nr)
		return 0;
	ev = malloc(nev * sizeof(*ev));
	heap = malloc(c->nr * sizeof(*heap));
	live = calloc(c->nr, sizeof(*live));
	if (!ev || !heap || !live)
		goto out;

	for (i = 0; i < c->nr; i++) {
		ev[2 * i] = (struct mem_event){ c->leaves[i].start, (uint32_t)i, true };
		ev[2 * i + 1] = (struct mem_event){ c->leaves[i].end, (uint32_t)i, false };
	}
	qsort(ev, nev, sizeof(*ev), mem_event_cmp);

	i = 0;
	while (i < nev) {
		u128 pos = ev[i].pos, next;

		for (; i < nev && ev[i].pos == pos; i++) {
			if (ev[i].is_start) {
				live[ev[i].leaf] = true;
				mem_heap_push(heap, &nheap, ev[i].leaf);
			} else {
				live[ev[i].leaf] = false; /* popped lazily */
			}
		}
		if (i == nev)
			break;
		next = ev[i].pos;
		while (nheap && !live[heap[0]])
			mem_heap_pop(heap, &nheap);
		if (!nheap)
			continue;

		/* The same leaf on both sides of a point where nothing changed. */
		if (nout && last_leaf == heap[0] && out[nout - 1].gpa + out[nout - 1].size == pos) {
			out[nout - 1].size += (uint64_t)(next - pos);
			continue;
		}
		if (nout == cap) {
			struct mem_flat_range *n;

			cap = cap ? cap * 2 : 64;
			n = realloc(out, cap * sizeof(*n));
			if (!n)
				goto out;
			out = n;
		}
		mem_range_from_leaf(&out[nout++], &c->leaves[heap[0]], pos, next);
		last_leaf = heap[0];
	}

	/* Simplify. */
	if (nout) {
		size_t w = 0;

		for (i = 1; i < nout; i++) {
			if (mem_can_merge(&out[w], &out[i]))
				out[w].size += out[i].size;
			else
				out[++w] = out[i];
		}
		nout = w + 1;
	}
	v->ranges = out;
	v->nr = (unsigned)nout;
	out = NULL;
	ret = 0;
out:
	free(out);
	free(ev);
	free(heap);
	free(live);
	return ret;
}

int mem_render(const struct mem_region *root, struct mem_flat_view **out)
{
	struct mem_render_ctx c = { 0 };
	struct mem_flat_view *v;
	int ret;

	if (!root || !out)
		return -EINVAL;
	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->refcount = 1;

	/* The root's own addr is relative to a parent we do not render. */
	mem_render_region(&c, root, 0, 0, (u128)1 << 64, false, false, 0);
	ret = c.err;
	if (!ret)
		ret = mem_sweep(&c, v);
	free(c.leaves);
	if (ret) {
		free(v);
		return ret;
	}
	*out = v;
	return 0;
}

void mem_flat_view_put(struct mem_flat_view *v)
{
	if (!v)
		return;
	if (__atomic_sub_fetch(&v->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
		free(v->ranges);
		free(v);
	}
}

const struct mem_flat_range *mem_view_find(const struct mem_flat_view *v, uint64_t gpa)
{
	unsigned lo = 0, hi;

	if (!v || !v->nr)
		return NULL;
	hi = v->nr;
	/* First range whose gpa is > @gpa; the candidate is the one before it. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (v->ranges[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if (gpa - v->ranges[lo - 1].gpa < v->ranges[lo - 1].size)
		return &v->ranges[lo - 1];
	return NULL;
}
