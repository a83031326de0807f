/*
 * memory/trace.c - the recording listener (see trace.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/trace.h"

static bool mem_trace_range_eq(const struct mem_flat_range *a, const struct mem_flat_range *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->mr == b->mr &&
	       a->offset_in_region == b->offset_in_region && a->backend == b->backend &&
	       a->backend_off == b->backend_off && a->readonly == b->readonly &&
	       a->unmergeable == b->unmergeable && a->ops == b->ops && a->opaque == b->opaque;
}

static int mem_trace_call(struct mem_trace *t, bool add, const struct mem_flat_range *fr)
{
	unsigned i;

	t->total++;
	if (t->fail_at && t->total == t->fail_at)
		return t->fail_err ? t->fail_err : -EIO;
	if (t->n < t->log_cap)
		t->log[t->n++] = (struct mem_trace_call){ add, fr->gpa, fr->size, fr->readonly,
							  mem_range_is_ram(fr) };
	if (add) {
		t->adds++;
		if (t->nm == t->mirror_cap) {
			unsigned cap = t->mirror_cap ? t->mirror_cap * 2 : 64;
			struct mem_flat_range *n = realloc(t->mirror, cap * sizeof(*n));

			if (!n) {
				t->bad++;
				return 0;
			}
			t->mirror = n;
			t->mirror_cap = cap;
		}
		t->mirror[t->nm++] = *fr;
		return 0;
	}
	t->dels++;
	for (i = 0; i < t->nm; i++) {
		if (mem_trace_range_eq(&t->mirror[i], fr)) {
			t->mirror[i] = t->mirror[--t->nm];
			return 0;
		}
	}
	t->bad++;
	return 0;
}

static int mem_trace_add(struct mem_listener *l, const struct mem_flat_range *fr)
{
	return mem_trace_call(container_of(l, struct mem_trace, l), true, fr);
}

static int mem_trace_del(struct mem_listener *l, const struct mem_flat_range *fr)
{
	return mem_trace_call(container_of(l, struct mem_trace, l), false, fr);
}

int mem_trace_init(struct mem_trace *t, unsigned log_cap)
{
	memset(t, 0, sizeof(*t));
	t->l.range_add = mem_trace_add;
	t->l.range_del = mem_trace_del;
	if (log_cap) {
		t->log = calloc(log_cap, sizeof(*t->log));
		if (!t->log)
			return -ENOMEM;
	}
	t->log_cap = log_cap;
	return 0;
}

void mem_trace_destroy(struct mem_trace *t)
{
	if (!t)
		return;
	free(t->log);
	free(t->mirror);
	t->log = NULL;
	t->mirror = NULL;
	t->log_cap = t->mirror_cap = t->n = t->nm = 0;
}

void mem_trace_clear(struct mem_trace *t)
{
	t->n = 0;
	t->adds = t->dels = 0;
}

bool mem_trace_matches_view(const struct mem_trace *t, struct mem_space *s)
{
	struct mem_flat_view *v = mem_view_get(s);
	bool ok = t->bad == 0 && t->nm == v->nr;
	unsigned i, j;

	for (i = 0; ok && i < v->nr; i++) {
		bool found = false;

		for (j = 0; j < t->nm && !found; j++)
			found = mem_trace_range_eq(&t->mirror[j], &v->ranges[i]);
		ok = found;
	}
	mem_flat_view_put(v);
	return ok;
}

unsigned mem_trace_count_in(const struct mem_trace *t, uint64_t start, uint64_t len)
{
	unsigned i, c = 0;

	for (i = 0; i < t->n; i++)
		if (ranges_overlap(t->log[i].gpa, t->log[i].size, start, len))
			c++;
	return c;
}
