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
 *
 * A leader and its followers are one transaction group: each space keeps its
 * own journal and pending flag, the depth lives in the leader, and the
 * group's outermost commit renders, diffs and notifies every space that may
 * have changed, or rolls all of them back (mem_group_finish).
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

static void mem_follower_unlink(struct mem_space *leader, struct mem_space *f)
{
	struct mem_space **pp;

	for (pp = &leader->followers; *pp && *pp != f; pp = &(*pp)->next_follower)
		;
	if (*pp)
		*pp = f->next_follower;
	f->next_follower = NULL;
	__atomic_store_n(&f->leader, NULL, __ATOMIC_RELEASE);
}

/* Regions are caller-owned and are not touched: they may be gone already. */
void mem_space_destroy(struct mem_space *s)
{
	struct mem_journal *j;

	if (!s || !s->journal)
		return;
	if (s->leader) {
		struct mem_space *l = s->leader;

		/* leader is written under the follower's lock (mem_lock relies on it). */
		pthread_mutex_lock(&l->tree_lock);
		pthread_mutex_lock(&s->tree_lock);
		mem_follower_unlink(l, s);
		pthread_mutex_unlock(&s->tree_lock);
		pthread_mutex_unlock(&l->tree_lock);
	}
	pthread_mutex_lock(&s->tree_lock);
	while (s->followers) {
		struct mem_space *f = s->followers;

		/* The alias targets our root, which is about to go: drop it unseen. */
		pthread_mutex_lock(&f->tree_lock);
		if (f->follow_alias.parent)
			mem_unlink(&f->follow_alias);
		mem_follower_unlink(s, f);
		pthread_mutex_unlock(&f->tree_lock);
	}
	pthread_mutex_unlock(&s->tree_lock);
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

/* Undo every call of a fully notified diff, newest first. */
static void mem_notify_undo(const struct mem_diff *d)
{
	size_t k = (d->ndel + d->nadd) * d->nls;

	while (k--) {
		int uret = mem_diff_call(d, k, true);

		if (uret)
			log_error("memory: listener rollback failed: %d", uret);
	}
}

/* One space's part of a group commit. */
struct mem_pass {
	struct mem_space *s;
	struct mem_flat_view *nv;  /* rendered and different from the current view */
	struct mem_diff d;
	bool notified;
};

static unsigned mem_group_size(const struct mem_space *g)
{
	const struct mem_space *f;
	unsigned n = 1;

	for (f = g->followers; f; f = f->next_follower)
		n++;
	return n;
}

static void mem_group_undo_journals(struct mem_space *g)
{
	struct mem_space *f;

	for (f = g->followers; f; f = f->next_follower)
		mem_journal_undo(f);
	mem_journal_undo(g);
}

/* Render one space of the group; p->nv stays NULL when nothing changed. */
static int mem_pass_render(struct mem_pass *p, struct mem_space *g)
{
	struct mem_flat_view *nv;
	int ret;

	/* A follower's tree is also guarded by its own lock (order: leader first). */
	if (p->s != g)
		pthread_mutex_lock(&p->s->tree_lock);
	ret = mem_render(&p->s->root, &nv);
	if (p->s != g)
		pthread_mutex_unlock(&p->s->tree_lock);
	if (ret)
		return ret;
	p->s->commits++;
	ret = mem_diff_build(p->s, p->s->view, nv, &p->d);
	if (ret || (!p->d.ndel && !p->d.nadd)) {
		/* Nothing a listener could see changed: keep the old view. */
		if (!ret)
			mem_diff_free(&p->d); /* a failed build freed its own */
		memset(&p->d, 0, sizeof(p->d));
		mem_flat_view_put(nv);
		return ret;
	}
	p->nv = nv;
	return 0;
}

/*
 * Render, diff and notify the leader @g and its followers; all or nothing.
 * The leader is rendered only when its own tree changed, a follower when it
 * or the leader changed (its tree shows the leader's).
 */
static int mem_group_update(struct mem_space *g)
{
	struct mem_space *f;
	struct mem_pass *ps;
	unsigned n = mem_group_size(g), i;
	int ret = 0;

	ps = calloc(n, sizeof(*ps));
	if (!ps) {
		mem_group_undo_journals(g);
		return -ENOMEM;
	}
	ps[0].s = g;
	for (i = 1, f = g->followers; f; f = f->next_follower)
		ps[i++].s = f;

	for (i = 0; i < n && !ret; i++)
		if (ps[i].s->pending || g->pending)
			ret = mem_pass_render(&ps[i], g);
	for (i = 0; i < n && !ret; i++) {
		if (!ps[i].nv)
			continue;
		/* On failure mem_notify has undone its own calls already. */
		ret = mem_notify(&ps[i].d);
		ps[i].notified = !ret;
	}
	if (ret) {
		for (i = n; i-- > 0;)
			if (ps[i].notified)
				mem_notify_undo(&ps[i].d);
		mem_group_undo_journals(g);
	}
	for (i = 0; i < n; i++) {
		mem_diff_free(&ps[i].d);
		if (!ps[i].nv)
			continue;
		if (ret)
			mem_flat_view_put(ps[i].nv);
		else
			mem_view_swap(ps[i].s, ps[i].nv);
	}
	free(ps);
	return ret;
}

/* The outermost commit of the group led by @g (tree lock of @g held). */
static int mem_group_finish(struct mem_space *g)
{
	struct mem_space *f;
	bool pending = g->pending;
	int failed = ((struct mem_journal *)g->journal)->failed, ret = 0;

	for (f = g->followers; f; f = f->next_follower) {
		struct mem_journal *fj = f->journal;

		pending |= f->pending;
		if (!failed)
			failed = fj->failed;
	}
	if (failed) {
		mem_group_undo_journals(g);
		ret = failed;
	} else if (pending) {
		ret = mem_group_update(g);
	}
	for (f = g; f; f = (f == g) ? g->followers : f->next_follower) {
		struct mem_journal *fj = f->journal;

		f->pending = false;
		fj->failed = 0;
		fj->nr = 0;
	}
	return ret;
}

/*
 * Lock @s for a tree change: its leader's tree lock first, then its own.
 * The leader can change only under the follower's lock, so it is re-read
 * once that is held. Returns the leader locked (NULL when none).
 */
static struct mem_space *mem_lock(struct mem_space *s)
{
	for (;;) {
		struct mem_space *l = __atomic_load_n(&s->leader, __ATOMIC_ACQUIRE);

		if (l)
			pthread_mutex_lock(&l->tree_lock);
		pthread_mutex_lock(&s->tree_lock);
		if (s->leader == l)
			return l;
		pthread_mutex_unlock(&s->tree_lock);
		if (l)
			pthread_mutex_unlock(&l->tree_lock);
	}
}

static void mem_unlock(struct mem_space *s, struct mem_space *l)
{
	pthread_mutex_unlock(&s->tree_lock);
	if (l)
		pthread_mutex_unlock(&l->tree_lock);
}

void mem_begin(struct mem_space *s)
{
	struct mem_space *l = mem_lock(s);

	(l ? l : s)->depth++;
}

int mem_commit(struct mem_space *s)
{
	struct mem_space *l = s->leader, *g = l ? l : s;
	int ret = 0;

	if (g->depth == 0) {
		log_error("memory: commit without begin");
		return -EINVAL;
	}
	if (--g->depth == 0)
		ret = mem_group_finish(g);
	mem_unlock(s, l);
	return ret;
}

/* ---- followers ------------------------------------------------------------ */

int mem_space_follow(struct mem_space *follower, struct mem_space *leader)
{
	struct mem_space *f = follower;
	char name[sizeof(f->follow_alias.name)];
	int ret;

	if (!f || !leader || f == leader || !f->journal || !leader->journal)
		return -EINVAL;
	pthread_mutex_lock(&leader->tree_lock);
	pthread_mutex_lock(&f->tree_lock);
	if (leader->leader || f->leader || f->followers) {
		ret = -EINVAL; /* one level only, and one leader */
		goto out;
	}
	if (leader->depth || f->depth) {
		ret = -EBUSY;
		goto out;
	}
	snprintf(name, sizeof(name), "follow:%.32s", leader->root.name);
	mem_region_init_alias(&f->follow_alias, name, &leader->root, 0, leader->root.size);
	f->next_follower = leader->followers;
	leader->followers = f;
	__atomic_store_n(&f->leader, leader, __ATOMIC_RELEASE);
	/* Its own transaction of the group: renders the follower only. */
	ret = mem_region_add(&f->root, &f->follow_alias, 0, 0);
	if (ret)
		mem_follower_unlink(leader, f);
out:
	pthread_mutex_unlock(&f->tree_lock);
	pthread_mutex_unlock(&leader->tree_lock);
	return ret;
}

int mem_space_unfollow(struct mem_space *follower)
{
	struct mem_space *l;
	int ret = 0;

	if (!follower)
		return -EINVAL;
	l = mem_lock(follower);
	if (!l) {
		ret = -EINVAL;
		goto out;
	}
	if (l->depth) {
		ret = -EBUSY;
		goto out;
	}
	if (follower->follow_alias.parent)
		ret = mem_region_del(&follower->follow_alias);
	if (!ret)
		mem_follower_unlink(l, follower);
out:
	mem_unlock(follower, l);
	return ret;
}

/* ---- listeners ---------------------------------------------------------- */

int mem_listener_register(struct mem_space *s, struct mem_listener *l)
{
	struct mem_space *leader;
	struct mem_listener **pp;
	unsigned i;
	int ret = 0;

	if (!s || !l)
		return -EINVAL;
	leader = mem_lock(s);
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
	mem_unlock(s, leader);
	return ret;
}

void mem_listener_unregister(struct mem_space *s, struct mem_listener *l)
{
	struct mem_space *leader;
	struct mem_listener **pp;
	unsigned i;

	if (!s || !l)
		return;
	leader = mem_lock(s);
	for (pp = &s->listeners; *pp && *pp != l; pp = &(*pp)->next)
		;
	if (*pp) {
		for (i = 0; l->range_del && i < s->view->nr; i++)
			if (l->range_del(l, &s->view->ranges[i]))
				log_error("memory: listener refused range_del on unregister");
		*pp = l->next;
		l->next = NULL;
	}
	mem_unlock(s, leader);
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

		if (!fr || !mem_range_is_ram(fr) || fr->backend->device)
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
	if (fr && mem_range_is_ram(fr) && !fr->backend->device &&
	    range_within(gpa, len, fr->gpa, fr->size))
		p = fr->backend->host + fr->backend_off + (gpa - fr->gpa);
	mem_flat_view_put(v);
	return p;
}
