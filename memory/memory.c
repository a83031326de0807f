/*
 * memory/memory.c - the region tree, transactions with an undo journal,
 * listeners, and bounds-checked accesses through the current flat view.
 *
 * A tree edit on a region that belongs to a space is journaled (the old
 * values, or where the region sat in its parent's list) and marks the
 * transaction pending. The outermost mem_commit() renders, diffs and tells
 * the listeners; if a listener fails, every call already made is undone on
 * every listener, the journal is replayed backwards and the old view stays.
 * Edits to regions outside any space (a container being populated, an alias
 * target that is not itself in a tree) apply at once and take effect at the
 * next commit of a space that shows them; they are not journaled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "memory/mem_internal.h"
#include "memory/memory.h"

/* ---- regions ----------------------------------------------------------- */

static void mem_region_init_common(struct mem_region *r, const char *name,
				   enum mem_region_type type, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	r->type = type;
	r->size = size;
	r->enabled = true;
}

void mem_region_init_ram(struct mem_region *r, const char *name, struct mem_backend *b,
			 uint64_t backend_off, uint64_t size)
{
	mem_region_init_common(r, name, MEM_REGION_RAM, size);
	r->backend = b;
	r->backend_off = backend_off;
}

void mem_region_init_mmio(struct mem_region *r, const char *name, uint64_t size,
			  const struct access_ops *ops, void *opaque)
{
	mem_region_init_common(r, name, MEM_REGION_MMIO, size);
	r->ops = ops;
	r->opaque = opaque;
}

void mem_region_init_alias(struct mem_region *r, const char *name, struct mem_region *target,
			   uint64_t alias_off, uint64_t size)
{
	mem_region_init_common(r, name, MEM_REGION_ALIAS, size);
	r->alias = target;
	r->alias_off = alias_off;
}

void mem_region_init_container(struct mem_region *r, const char *name, uint64_t size)
{
	mem_region_init_common(r, name, MEM_REGION_CONTAINER, size);
}

/* ---- the undo journal ---------------------------------------------------- */

/* The fields an edit may change; saved before every journaled edit. */
struct mem_fields {
	uint64_t addr, alias_off;
	int priority;
	bool enabled, readonly, unmergeable;
	const struct access_ops *ops;
	void *opaque;
};

enum mem_undo_kind { MEM_UNDO_ADD, MEM_UNDO_DEL, MEM_UNDO_FIELDS };

struct mem_undo {
	enum mem_undo_kind kind;
	struct mem_region *r;
	struct mem_region *parent, *prev; /* DEL: where r sat in the list */
	struct mem_fields old;
};

struct mem_journal {
	struct mem_undo *e;
	size_t nr, cap;
	/*
	 * An edit that could not be journaled was not made, but the caller's
	 * transaction is no longer what it asked for: the outermost commit then
	 * rolls all of it back and fails, so a transaction stays all-or-nothing.
	 */
	int failed;
};

static void mem_fields_get(const struct mem_region *r, struct mem_fields *f)
{
	f->addr = r->addr;
	f->alias_off = r->alias_off;
	f->priority = r->priority;
	f->enabled = r->enabled;
	f->readonly = r->readonly;
	f->unmergeable = r->unmergeable;
	f->ops = r->ops;
	f->opaque = r->opaque;
}

static void mem_fields_set(struct mem_region *r, const struct mem_fields *f)
{
	r->addr = f->addr;
	r->alias_off = f->alias_off;
	r->priority = f->priority;
	r->enabled = f->enabled;
	r->readonly = f->readonly;
	r->unmergeable = f->unmergeable;
	r->ops = f->ops;
	r->opaque = f->opaque;
}

static bool mem_fields_equal(const struct mem_fields *a, const struct mem_fields *b)
{
	return a->addr == b->addr && a->alias_off == b->alias_off &&
	       a->priority == b->priority && a->enabled == b->enabled &&
	       a->readonly == b->readonly && a->unmergeable == b->unmergeable &&
	       a->ops == b->ops && a->opaque == b->opaque;
}

static int mem_journal_push(struct mem_space *s, enum mem_undo_kind kind, struct mem_region *r,
			    struct mem_region *parent, struct mem_region *prev)
{
	struct mem_journal *j = s->journal;
	struct mem_undo *u;

	if (j->nr == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 32;
		struct mem_undo *n = realloc(j->e, cap * sizeof(*n));

		if (!n) {
			j->failed = -ENOMEM;
			return -ENOMEM;
		}
		j->e = n;
		j->cap = cap;
	}
	u = &j->e[j->nr++];
	u->kind = kind;
	u->r = r;
	u->parent = parent;
	u->prev = prev;
	mem_fields_get(r, &u->old);
	return 0;
}

/* ---- tree links ---------------------------------------------------------- */

static void mem_set_space(struct mem_region *r, struct mem_space *s)
{
	struct mem_region *c;

	r->space = s;
	for (c = r->first_child; c; c = c->next_sibling)
		mem_set_space(c, s);
}

/* Insert @child after @prev (NULL: at the head) in @parent's list. */
static void mem_link_after(struct mem_region *parent, struct mem_region *child,
			   struct mem_region *prev)
{
	if (prev) {
		child->next_sibling = prev->next_sibling;
		prev->next_sibling = child;
	} else {
		child->next_sibling = parent->first_child;
		parent->first_child = child;
	}
	child->parent = parent;
	mem_set_space(child, parent->space);
}

/*
 * The list is the paint order: priority descending, and a newcomer goes in
 * front of the siblings of equal priority so that the later-added one wins.
 */
static struct mem_region *mem_sorted_prev(struct mem_region *parent, int priority)
{
	struct mem_region *c, *prev = NULL;

	for (c = parent->first_child; c && c->priority > priority; c = c->next_sibling)
		prev = c;
	return prev;
}

static void mem_unlink(struct mem_region *child)
{
	struct mem_region *parent = child->parent, *c, *prev = NULL;

	for (c = parent->first_child; c != child; c = c->next_sibling)
		prev = c;
	if (prev)
		prev->next_sibling = child->next_sibling;
	else
		parent->first_child = child->next_sibling;
	child->next_sibling = NULL;
	child->parent = NULL;
	mem_set_space(child, NULL);
}

static void mem_journal_undo(struct mem_space *s)
{
	struct mem_journal *j = s->journal;

	while (j->nr) {
		struct mem_undo *u = &j->e[--j->nr];

		switch (u->kind) {
		case MEM_UNDO_ADD:
			mem_unlink(u->r);
			break;
		case MEM_UNDO_DEL:
			/* Later edits are already undone: prev sits where it did. */
			mem_link_after(u->parent, u->r, u->prev);
			break;
		case MEM_UNDO_FIELDS:
			break;
		}
		mem_fields_set(u->r, &u->old);
	}
}

static bool mem_is_space_root(const struct mem_region *r)
{
	return r->space && &r->space->root == r;
}

/* ---- tree edits ---------------------------------------------------------- */

static int mem_region_check_target(const struct mem_region *r, uint64_t alias_off)
{
	switch (r->type) {
	case MEM_REGION_RAM:
		if (!r->backend || !range_within(r->backend_off, r->size, 0, r->backend->size))
			return -EINVAL;
		break;
	case MEM_REGION_ALIAS:
		if (!r->alias || r->alias == r || !range_within(alias_off, r->size, 0, r->alias->size))
			return -EINVAL;
		break;
	case MEM_REGION_MMIO:
	case MEM_REGION_CONTAINER:
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

int mem_region_add(struct mem_region *parent, struct mem_region *child, uint64_t addr,
		   int priority)
{
	struct mem_space *s;
	struct mem_region *top;
	int ret, cret;

	if (!parent || !child || parent == child || parent->type != MEM_REGION_CONTAINER)
		return -EINVAL;
	if (child->parent || mem_is_space_root(child))
		return -EBUSY;
	if (range_invalid(addr, child->size) || !range_within(addr, child->size, 0, parent->size))
		return -EINVAL;
	ret = mem_region_check_target(child, child->alias_off);
	if (ret)
		return ret;
	/* A region that has no parent can only be an ancestor as the top. */
	for (top = parent; top->parent; top = top->parent)
		;
	if (top == child)
		return -ELOOP;

	s = parent->space;
	if (!s) {
		child->addr = addr;
		child->priority = priority;
		mem_link_after(parent, child, mem_sorted_prev(parent, priority));
		return 0;
	}
	mem_begin(s);
	ret = mem_journal_push(s, MEM_UNDO_ADD, child, NULL, NULL);
	if (!ret) {
		child->addr = addr;
		child->priority = priority;
		mem_link_after(parent, child, mem_sorted_prev(parent, priority));
		s->pending = true;
	}
	cret = mem_commit(s);
	return ret ? ret : cret;
}

int mem_region_del(struct mem_region *child)
{
	struct mem_region *parent, *prev, *c;
	struct mem_space *s;
	int ret, cret;

	if (!child || !child->parent)
		return -EINVAL;
	s = child->space;
	if (!s) {
		mem_unlink(child);
		return 0;
	}
	mem_begin(s);
	parent = child->parent;
	for (c = parent->first_child, prev = NULL; c != child; c = c->next_sibling)
		prev = c;
	/* Journal first, so a failed push leaves the tree as it was. */
	ret = mem_journal_push(s, MEM_UNDO_DEL, child, parent, prev);
	if (!ret) {
		mem_unlink(child);
		s->pending = true;
	}
	cret = mem_commit(s);
	return ret ? ret : cret;
}

/* Apply new field values to @r as one journaled edit (a no-op when equal). */
static int mem_region_edit(struct mem_region *r, const struct mem_fields *nf)
{
	struct mem_fields cur;
	struct mem_space *s;
	int ret, cret;

	mem_fields_get(r, &cur);
	if (mem_fields_equal(&cur, nf))
		return 0;
	s = r->space;
	if (!s) {
		mem_fields_set(r, nf);
		return 0;
	}
	mem_begin(s);
	ret = mem_journal_push(s, MEM_UNDO_FIELDS, r, NULL, NULL);
	if (!ret) {
		mem_fields_set(r, nf);
		s->pending = true;
	}
	cret = mem_commit(s);
	return ret ? ret : cret;
}

int mem_region_set_enabled(struct mem_region *r, bool enabled)
{
	struct mem_fields f;

	if (!r)
		return -EINVAL;
	mem_fields_get(r, &f);
	f.enabled = enabled;
	return mem_region_edit(r, &f);
}

int mem_region_set_readonly(struct mem_region *r, bool readonly)
{
	struct mem_fields f;

	if (!r)
		return -EINVAL;
	mem_fields_get(r, &f);
	f.readonly = readonly;
	return mem_region_edit(r, &f);
}

int mem_region_set_addr(struct mem_region *r, uint64_t addr)
{
	struct mem_fields f;

	if (!r || mem_is_space_root(r))
		return -EINVAL;
	if (r->parent && !range_within(addr, r->size, 0, r->parent->size))
		return -EINVAL;
	mem_fields_get(r, &f);
	f.addr = addr;
	return mem_region_edit(r, &f);
}

int mem_region_set_alias_off(struct mem_region *r, uint64_t alias_off)
{
	struct mem_fields f;

	if (!r || r->type != MEM_REGION_ALIAS || mem_region_check_target(r, alias_off))
		return -EINVAL;
	mem_fields_get(r, &f);
	f.alias_off = alias_off;
	return mem_region_edit(r, &f);
}

int mem_region_set_ops(struct mem_region *r, const struct access_ops *ops, void *opaque)
{
	struct mem_fields f;

	if (!r)
		return -EINVAL;
	mem_fields_get(r, &f);
	f.ops = ops;
	f.opaque = opaque;
	return mem_region_edit(r, &f);
}

void mem_region_set_unmergeable(struct mem_region *r, bool unmergeable)
{
	struct mem_fields f;

	if (!r)
		return;
	mem_fields_get(r, &f);
	f.unmergeable = unmergeable;
	/* Only a journal allocation or a listener can fail; say so, the caller cannot. */
	if (mem_region_edit(r, &f))
		log_error("memory: %s: setting unmergeable=%d failed", r->name, unmergeable);
}

/* ---- spaces --------------------------------------------------------------- */

int mem_space_init(struct mem_space *s, const char *name)
{
	pthread_mutexattr_t attr;
	int ret;

	if (!s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	/* One byte short of 2^64: sizes are uint64_t, and no guest reaches it. */
	mem_region_init_container(&s->root, name, UINT64_MAX);
	s->root.space = s;

	s->journal = calloc(1, sizeof(struct mem_journal));
	s->view = calloc(1, sizeof(*s->view));
	if (!s->journal || !s->view) {
		ret = -ENOMEM;
		goto err_free;
	}
	s->view->refcount = 1;

	ret = -pthread_mutex_init(&s->view_lock, NULL);
	if (ret)
		goto err_free;
	ret = -pthread_mutexattr_init(&attr);
	if (ret)
		goto err_view_lock;
	ret = -pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	if (!ret)
		ret = -pthread_mutex_init(&s->tree_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (ret)
		goto err_view_lock;
	return 0;

err_view_lock:
	pthread_mutex_destroy(&s->view_lock);
err_free:
	free(s->journal);
	free(s->view);
	s->journal = NULL;
	s->view = NULL;
	return ret;
}

/* Regions are caller-owned and are not touched: they may be gone already. */
void mem_space_destroy(struct mem_space *s)
{
	struct mem_journal *j;

	if (!s || !s->journal)
		return;
	j = s->journal;
	free(j->e);
	free(j);
	s->journal = NULL;
	mem_flat_view_put(s->view);
	s->view = NULL;
	pthread_mutex_destroy(&s->view_lock);
	pthread_mutex_destroy(&s->tree_lock);
}

struct mem_flat_view *mem_view_get(struct mem_space *s)
{
	struct mem_flat_view *v;

	pthread_mutex_lock(&s->view_lock);
	v = s->view;
	__atomic_add_fetch(&v->refcount, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&s->view_lock);
	return v;
}

static void mem_view_swap(struct mem_space *s, struct mem_flat_view *nv)
{
	struct mem_flat_view *old;

	pthread_mutex_lock(&s->view_lock);
	old = s->view;
	s->view = nv;
	pthread_mutex_unlock(&s->view_lock);
	/* Readers holding a reference keep the old view alive until they drop it. */
	mem_flat_view_put(old);
}

/* ---- commit: diff and notify ------------------------------------------- */

static bool mem_range_equal(const struct mem_flat_range *a, const struct mem_flat_range *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->mr == b->mr &&
	       a->offset_in_region == b->offset_in_region && a->backend == b->backend &&
	       a->backend_off == b->backend_off && a->readonly == b->readonly &&
	       a->unmergeable == b->unmergeable && a->ops == b->ops && a->opaque == b->opaque;
}

struct mem_diff {
	const struct mem_flat_range **del, **add;
	size_t ndel, nadd;
	struct mem_listener **ls;
	size_t nls;
};

static void mem_diff_free(struct mem_diff *d)
{
	free(d->del);
	free(d->add);
	free(d->ls);
}

static int mem_diff_build(struct mem_space *s, const struct mem_flat_view *ov,
			  const struct mem_flat_view *nv, struct mem_diff *d)
{
	struct mem_listener *l;
	unsigned i = 0, j = 0;

	memset(d, 0, sizeof(*d));
	for (l = s->listeners; l; l = l->next)
		d->nls++;
	/* Everything is allocated before the first call, so no call is made in vain. */
	d->del = malloc((ov->nr + 1) * sizeof(*d->del));
	d->add = malloc((nv->nr + 1) * sizeof(*d->add));
	d->ls = malloc((d->nls + 1) * sizeof(*d->ls));
	if (!d->del || !d->add || !d->ls) {
		mem_diff_free(d);
		return -ENOMEM;
	}
	d->nls = 0;
	for (l = s->listeners; l; l = l->next)
		d->ls[d->nls++] = l;

	while (i < ov->nr || j < nv->nr) {
		const struct mem_flat_range *o = i < ov->nr ? &ov->ranges[i] : NULL;
		const struct mem_flat_range *n = j < nv->nr ? &nv->ranges[j] : NULL;

		if (o && n && mem_range_equal(o, n)) {
			i++;
			j++;
		} else if (o && (!n || o->gpa <= n->gpa)) {
			d->del[d->ndel++] = o;
			i++;
		} else {
			d->add[d->nadd++] = n;
			j++;
		}
	}
	return 0;
}

/*
 * Call k of a commit: the deletions first (range-major, every listener for
 * one range), then the additions. Returns the error of the call.
 */
static int mem_diff_call(const struct mem_diff *d, size_t k, bool undo)
{
	struct mem_listener *l = d->ls[k % d->nls];
	size_t r = k / d->nls;

	if (r < d->ndel) {
		if (undo)
			return l->range_add ? l->range_add(l, d->del[r]) : 0;
		return l->range_del ? l->range_del(l, d->del[r]) : 0;
	}
	r -= d->ndel;
	if (undo)
		return l->range_del ? l->range_del(l, d->add[r]) : 0;
	return l->range_add ? l->range_add(l, d->add[r]) : 0;
}

static int mem_notify(const struct mem_diff *d)
{
	size_t k, total = (d->ndel + d->nadd) * d->nls;
	int ret;

	for (k = 0; k < total; k++) {
		ret = mem_diff_call(d, k, false);
		if (!ret)
			continue;
		/* The failed call had no effect; undo the others, newest first. */
		while (k--) {
			int uret = mem_diff_call(d, k, true);

			if (uret)
				log_error("memory: listener rollback failed: %d", uret);
		}
		return ret;
	}
	return 0;
}

static int mem_update(struct mem_space *s)
{
	struct mem_flat_view *nv;
	struct mem_diff d;
	int ret;

	ret = mem_render(&s->root, &nv);
	if (ret)
		goto err_undo;
	s->commits++;
	ret = mem_diff_build(s, s->view, nv, &d);
	if (ret)
		goto err_put;
	if (!d.ndel && !d.nadd) {
		/* Nothing a listener could see changed: keep the old view. */
		mem_diff_free(&d);
		mem_flat_view_put(nv);
		return 0;
	}
	ret = mem_notify(&d);
	mem_diff_free(&d);
	if (ret)
		goto err_put;
	mem_view_swap(s, nv);
	return 0;

err_put:
	mem_flat_view_put(nv);
err_undo:
	mem_journal_undo(s);
	return ret;
}

void mem_begin(struct mem_space *s)
{
	pthread_mutex_lock(&s->tree_lock);
	s->depth++;
}

int mem_commit(struct mem_space *s)
{
	struct mem_journal *j = s->journal;
	int ret = 0;

	if (s->depth == 0) {
		log_error("memory: commit without begin");
		return -EINVAL;
	}
	if (--s->depth == 0) {
		if (j->failed) {
			mem_journal_undo(s);
			ret = j->failed;
		} else if (s->pending) {
			ret = mem_update(s);
		}
		s->pending = false;
		j->failed = 0;
		j->nr = 0;
	}
	pthread_mutex_unlock(&s->tree_lock);
	return ret;
}

/* ---- listeners ---------------------------------------------------------- */

int mem_listener_register(struct mem_space *s, struct mem_listener *l)
{
	struct mem_listener **pp;
	unsigned i;
	int ret = 0;

	if (!s || !l)
		return -EINVAL;
	pthread_mutex_lock(&s->tree_lock);
	for (pp = &s->listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			ret = -EEXIST;
			goto out;
		}
	}
	for (i = 0; l->range_add && i < s->view->nr; i++) {
		ret = l->range_add(l, &s->view->ranges[i]);
		if (ret) {
			while (i--)
				if (l->range_del && l->range_del(l, &s->view->ranges[i]))
					log_error("memory: listener rollback failed");
			goto out;
		}
	}
	l->next = NULL;
	*pp = l;
out:
	pthread_mutex_unlock(&s->tree_lock);
	return ret;
}

void mem_listener_unregister(struct mem_space *s, struct mem_listener *l)
{
	struct mem_listener **pp;
	unsigned i;

	if (!s || !l)
		return;
	pthread_mutex_lock(&s->tree_lock);
	for (pp = &s->listeners; *pp && *pp != l; pp = &(*pp)->next)
		;
	if (*pp) {
		for (i = 0; l->range_del && i < s->view->nr; i++)
			if (l->range_del(l, &s->view->ranges[i]))
				log_error("memory: listener refused range_del on unregister");
		*pp = l->next;
		l->next = NULL;
	}
	pthread_mutex_unlock(&s->tree_lock);
}

/* ---- accesses ------------------------------------------------------------ */

int mem_dispatch(struct mem_space *s, uint64_t gpa, unsigned size, bool is_write,
		 uint64_t *val)
{
	const struct mem_flat_range *fr;
	struct mem_flat_view *v;
	uint64_t off;
	int ret = 0;

	if (!val)
		return -EINVAL;
	if (size != 1 && size != 2 && size != 4 && size != 8) {
		if (!is_write)
			*val = ~0ULL;
		return -EINVAL;
	}
	if (!is_write)
		*val = access_ones(size);
	if (!s)
		return -EINVAL;

	v = mem_view_get(s);
	fr = mem_view_find(v, gpa);
	if (!fr) {
		ret = -ENOENT;
		goto out;
	}
	/* The access must lie inside one range: a straddling one is refused. */
	if (!range_within(gpa, size, fr->gpa, fr->size)) {
		ret = -EINVAL;
		goto out;
	}
	off = gpa - fr->gpa;

	if (mem_range_is_ram(fr) && !(is_write && fr->readonly)) {
		uint8_t *p = fr->backend->host + fr->backend_off + off;

		if (is_write)
			mem_store_width(p, size, *val);
		else
			*val = mem_load_width(p, size);
		goto out;
	}
	/* MMIO, or a write to read-only RAM: the ops, if any, decide. */
	if (!fr->ops) {
		/* ROM without a write handler drops writes by design. */
		ret = mem_range_is_ram(fr) ? 0 : -ENOENT;
		goto out;
	}
	if (!access_width_ok(fr->ops, size)) {
		ret = -EINVAL;
		goto out;
	}
	if (is_write) {
		ret = fr->ops->write ? fr->ops->write(fr->opaque, fr->offset_in_region + off, size,
						      *val) : -EINVAL;
	} else {
		uint64_t tmp = 0;

		ret = fr->ops->read ? fr->ops->read(fr->opaque, fr->offset_in_region + off, size,
						    &tmp) : -EINVAL;
		*val = ret ? access_ones(size) : tmp & access_ones(size);
	}
out:
	mem_flat_view_put(v);
	return ret;
}

/*
 * Walk [gpa, gpa+len) over RAM ranges of @v; with @buf NULL only check. The
 * caller checks first, then copies from the same (immutable) view, so a
 * failure copies nothing.
 */
static int mem_ram_walk(const struct mem_flat_view *v, uint64_t gpa, uint8_t *rbuf,
			const uint8_t *wbuf, uint64_t len)
{
	while (len) {
		const struct mem_flat_range *fr = mem_view_find(v, gpa);
		uint64_t off, chunk;
		uint8_t *host;

		if (!fr || !mem_range_is_ram(fr))
			return -EFAULT;
		off = gpa - fr->gpa;
		chunk = fr->size - off;
		if (chunk > len)
			chunk = len;
		host = fr->backend->host + fr->backend_off + off;
		if (rbuf) {
			memcpy(rbuf, host, chunk);
			rbuf += chunk;
		} else if (wbuf) {
			memcpy(host, wbuf, chunk);
			wbuf += chunk;
		}
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

static int mem_rw(struct mem_space *s, uint64_t gpa, void *rbuf, const void *wbuf, uint64_t len)
{
	struct mem_flat_view *v;
	int ret;

	if (!s || (!rbuf && !wbuf && len))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (range_invalid(gpa, len))
		return -EFAULT;
	v = mem_view_get(s);
	ret = mem_ram_walk(v, gpa, NULL, NULL, len);
	if (!ret)
		ret = mem_ram_walk(v, gpa, rbuf, wbuf, len);
	mem_flat_view_put(v);
	return ret;
}

int mem_read(struct mem_space *s, uint64_t gpa, void *buf, uint64_t len)
{
	return mem_rw(s, gpa, buf, NULL, len);
}

int mem_write(struct mem_space *s, uint64_t gpa, const void *buf, uint64_t len)
{
	return mem_rw(s, gpa, NULL, buf, len);
}

void *mem_hva(struct mem_space *s, uint64_t gpa, uint64_t len)
{
	const struct mem_flat_range *fr;
	struct mem_flat_view *v;
	void *p = NULL;

	if (!s || (len && range_invalid(gpa, len)))
		return NULL;
	v = mem_view_get(s);
	fr = mem_view_find(v, gpa);
	if (fr && mem_range_is_ram(fr) && range_within(gpa, len, fr->gpa, fr->size))
		p = fr->backend->host + fr->backend_off + (gpa - fr->gpa);
	mem_flat_view_put(v);
	return p;
}
