/*
 * tests/unit/test_memory.c - the memory engine: rendering, merging,
 * transactions and rollback, bounds-checked accesses, dispatch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memory/memory.h"
#include "memory/trace.h"
#include "tests/unit/unit.h"

struct fx {
	struct mem_space s;
	struct mem_backend *b, *b2;
	struct mem_trace t;
};

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mem_space_init(&f->s, "test"), 0);
	ck_assert_int_eq(mem_backend_create(&f->b, "ram", 1 * MiB), 0);
	ck_assert_int_eq(mem_backend_create(&f->b2, "ram2", 1 * MiB), 0);
	ck_assert_int_eq(mem_trace_init(&f->t, 4096), 0);
	ck_assert_int_eq(mem_listener_register(&f->s, &f->t.l), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	mem_listener_unregister(&f->s, &f->t.l);
	mem_trace_destroy(&f->t);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->b);
	mem_backend_destroy(f->b2);
	free(f);
}

/* Expect the view to be exactly @n ranges {gpa, size, mr}. */
struct want {
	uint64_t gpa, size;
	const struct mem_region *mr;
	uint64_t off;
};

static void check_view(struct mem_space *s, const struct want *w, unsigned n)
{
	struct mem_flat_view *v = mem_view_get(s);
	unsigned i;

	ck_assert_uint_eq(v->nr, n);
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(v->ranges[i].gpa, w[i].gpa);
		ck_assert_uint_eq(v->ranges[i].size, w[i].size);
		ck_assert_ptr_eq(v->ranges[i].mr, w[i].mr);
		ck_assert_uint_eq(v->ranges[i].offset_in_region, w[i].off);
	}
	mem_flat_view_put(v);
}

START_TEST(test_render_priorities)
{
	struct fx *f = fx_new();
	struct mem_region a, b, c;

	mem_region_init_ram(&a, "a", f->b, 0, 0x10000);
	mem_region_init_ram(&b, "b", f->b, 0x10000, 0x4000);
	mem_region_init_ram(&c, "c", f->b, 0x20000, 0x2000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a, 0, 0), 0);
	/* Higher priority wins even when added first. */
	ck_assert_int_eq(mem_region_add(&f->s.root, &b, 0x4000, 1), 0);
	{
		const struct want w[] = {
			{ 0, 0x4000, &a, 0 }, { 0x4000, 0x4000, &b, 0 }, { 0x8000, 0x8000, &a, 0x8000 },
		};
		check_view(&f->s, w, 3);
	}
	/* Equal priority: the later-added wins. */
	ck_assert_int_eq(mem_region_add(&f->s.root, &c, 0xF000, 0), 0);
	{
		const struct want w[] = {
			{ 0, 0x4000, &a, 0 }, { 0x4000, 0x4000, &b, 0 }, { 0x8000, 0x7000, &a, 0x8000 },
			{ 0xF000, 0x2000, &c, 0 },
		};
		check_view(&f->s, w, 4);
	}
	/* Lower priority only fills holes. */
	ck_assert_int_eq(mem_region_del(&c), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &c, 0xF000, -1), 0);
	{
		const struct want w[] = {
			{ 0, 0x4000, &a, 0 }, { 0x4000, 0x4000, &b, 0 }, { 0x8000, 0x8000, &a, 0x8000 },
			{ 0x10000, 0x1000, &c, 0x1000 },
		};
		check_view(&f->s, w, 4);
	}
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_render_nested_aliases)
{
	struct fx *f = fx_new();
	struct mem_region ram, a1, a2, a3;
	struct mem_flat_view *v;

	mem_region_init_ram(&ram, "ram", f->b, 0x1000, 0x10000);
	mem_region_init_alias(&a1, "a1", &ram, 0x1000, 0x8000);
	mem_region_init_alias(&a2, "a2", &a1, 0x2000, 0x2000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a2, 0x100000, 0), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 1);
	ck_assert_uint_eq(v->ranges[0].gpa, 0x100000);
	ck_assert_uint_eq(v->ranges[0].size, 0x2000);
	ck_assert_ptr_eq(v->ranges[0].mr, &ram);
	ck_assert_uint_eq(v->ranges[0].offset_in_region, 0x3000);
	ck_assert_uint_eq(v->ranges[0].backend_off, 0x4000);
	mem_flat_view_put(v);

	/* A window larger than its target is refused... */
	mem_region_init_alias(&a3, "a3", &a1, 0x7000, 0x2000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a3, 0, 0), -EINVAL);
	/* ...and so is an offset moving it out. */
	ck_assert_int_eq(mem_region_set_alias_off(&a2, 0x7000), -EINVAL);
	/* Moving the window inside the target re-renders. */
	ck_assert_int_eq(mem_region_set_alias_off(&a2, 0x0), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->ranges[0].offset_in_region, 0x1000);
	mem_flat_view_put(v);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_render_alias_clipped_to_target)
{
	struct mem_region root, cont, r, al;
	struct mem_backend *b;
	struct mem_flat_view *v;

	/* An alias onto a container sees the container's holes and stops at its end. */
	ck_assert_int_eq(mem_backend_create(&b, "b", 64 * KiB), 0);
	mem_region_init_container(&root, "root", 1 * MiB);
	mem_region_init_container(&cont, "cont", 0x4000);
	mem_region_init_ram(&r, "r", b, 0, 0x1000);
	ck_assert_int_eq(mem_region_add(&cont, &r, 0x3000, 0), 0);
	mem_region_init_alias(&al, "al", &cont, 0x2000, 0x2000);
	ck_assert_int_eq(mem_region_add(&root, &al, 0x10000, 0), 0);
	ck_assert_int_eq(mem_render(&root, &v), 0);
	ck_assert_uint_eq(v->nr, 1);
	ck_assert_uint_eq(v->ranges[0].gpa, 0x11000);
	ck_assert_uint_eq(v->ranges[0].size, 0x1000);
	mem_flat_view_put(v);
	mem_backend_destroy(b);
}
END_TEST

START_TEST(test_render_container_holes)
{
	struct fx *f = fx_new();
	struct mem_region big, cont, small, mmio;
	static const struct access_ops none = { 0 };

	mem_region_init_ram(&big, "big", f->b, 0, 0x40000);
	mem_region_init_container(&cont, "cont", 0x10000);
	mem_region_init_ram(&small, "small", f->b2, 0, 0x1000);
	mem_region_init_mmio(&mmio, "mmio", 0x1000, &none, NULL);
	ck_assert_int_eq(mem_region_add(&cont, &small, 0x4000, 0), 0);
	ck_assert_int_eq(mem_region_add(&cont, &mmio, 0x8000, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &big, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &cont, 0x10000, 1), 0);
	{
		const struct want w[] = {
			{ 0, 0x14000, &big, 0 },
			{ 0x14000, 0x1000, &small, 0 },
			{ 0x15000, 0x3000, &big, 0x15000 },
			{ 0x18000, 0x1000, &mmio, 0 },
			{ 0x19000, 0x27000, &big, 0x19000 },
		};
		check_view(&f->s, w, 5);
	}
	/* Disabling a child shows what lies below; disabling the container, all of it. */
	ck_assert_int_eq(mem_region_set_enabled(&small, false), 0);
	{
		const struct want w[] = {
			{ 0, 0x18000, &big, 0 },
			{ 0x18000, 0x1000, &mmio, 0 },
			{ 0x19000, 0x27000, &big, 0x19000 },
		};
		check_view(&f->s, w, 3);
	}
	ck_assert_int_eq(mem_region_set_enabled(&cont, false), 0);
	{
		const struct want w[] = { { 0, 0x40000, &big, 0 } };
		check_view(&f->s, w, 1);
	}
	/* A disabled region renders nothing at all. */
	ck_assert_int_eq(mem_region_set_enabled(&big, false), 0);
	check_view(&f->s, NULL, 0);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_merge_rules)
{
	struct fx *f = fx_new();
	struct mem_region ram, a1, a2, cont, a3, a4, o1, o2;
	struct mem_flat_view *v;

	mem_region_init_ram(&ram, "ram", f->b, 0, 1 * MiB);
	/* Two mergeable aliases, contiguous in GPA and in the target: one range. */
	mem_region_init_alias(&a1, "a1", &ram, 0, 0x1000);
	mem_region_init_alias(&a2, "a2", &ram, 0x1000, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a1, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a2, 0x1000, 0), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 1);
	ck_assert_uint_eq(v->ranges[0].size, 0x2000);
	mem_flat_view_put(v);

	/* Unmergeable on either side: two ranges (seed 04). */
	mem_region_set_unmergeable(&a2, true);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 2);
	ck_assert(v->ranges[1].unmergeable);
	mem_flat_view_put(v);
	mem_region_set_unmergeable(&a2, false);

	/* Unmergeable is inherited from a container on the path. */
	mem_region_init_container(&cont, "cont", 0x2000);
	mem_region_init_alias(&a3, "a3", &ram, 0x2000, 0x1000);
	mem_region_init_alias(&a4, "a4", &ram, 0x3000, 0x1000);
	ck_assert_int_eq(mem_region_add(&cont, &a3, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&cont, &a4, 0x1000, 0), 0);
	mem_region_set_unmergeable(&cont, true);
	ck_assert_int_eq(mem_region_add(&f->s.root, &cont, 0x2000, 0), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 3); /* [0,2000) merged, then a3, a4 apart */
	ck_assert_uint_eq(v->ranges[0].size, 0x2000);
	ck_assert_uint_eq(v->ranges[1].size, 0x1000);
	mem_flat_view_put(v);
	ck_assert_int_eq(mem_region_del(&cont), 0);

	/* Contiguous GPA but not contiguous offsets: apart. */
	mem_region_init_alias(&o1, "o1", &ram, 0x8000, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &o1, 0x2000, 0), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 2);
	mem_flat_view_put(v);
	ck_assert_int_eq(mem_region_del(&o1), 0);

	/* Different backends (different regions) never merge. */
	mem_region_init_ram(&o2, "o2", f->b2, 0x2000, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &o2, 0x2000, 0), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 2);
	mem_flat_view_put(v);

	/* Different read-only flags never merge. */
	ck_assert_int_eq(mem_region_del(&o2), 0);
	mem_region_init_alias(&o1, "o1", &ram, 0x2000, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &o1, 0x2000, 0), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 1);
	mem_flat_view_put(v);
	ck_assert_int_eq(mem_region_set_readonly(&o1, true), 0);
	v = mem_view_get(&f->s);
	ck_assert_uint_eq(v->nr, 2);
	ck_assert(v->ranges[1].readonly);
	mem_flat_view_put(v);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_commit_no_change_no_calls)
{
	struct fx *f = fx_new();
	struct mem_region a, b;
	uint64_t commits;

	mem_region_init_ram(&a, "a", f->b, 0, 0x10000);
	mem_region_init_ram(&b, "b", f->b2, 0, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &b, 0x20000, 0), 0);
	mem_trace_clear(&f->t);
	commits = f->s.commits;

	/* An edit to the same value is no edit: no render, no call. */
	ck_assert_int_eq(mem_region_set_enabled(&a, true), 0);
	ck_assert_uint_eq(f->s.commits, commits);
	/* An empty transaction renders nothing. */
	mem_begin(&f->s);
	ck_assert_int_eq(mem_commit(&f->s), 0);
	ck_assert_uint_eq(f->s.commits, commits);
	/* A change undone inside one transaction: rendered once, no call. */
	mem_begin(&f->s);
	ck_assert_int_eq(mem_region_set_enabled(&a, false), 0);
	ck_assert_int_eq(mem_region_set_enabled(&a, true), 0);
	ck_assert_int_eq(mem_commit(&f->s), 0);
	ck_assert_uint_eq(f->s.commits, commits + 1);
	ck_assert_uint_eq(f->t.n, 0);

	/* Only the range that changed is told about; b gets no call. */
	ck_assert_int_eq(mem_region_set_readonly(&a, true), 0);
	ck_assert_uint_eq(f->t.n, 2);
	ck_assert(!f->t.log[0].add);
	ck_assert(f->t.log[1].add && f->t.log[1].readonly);
	ck_assert_uint_eq(mem_trace_count_in(&f->t, 0x20000, 0x1000), 0);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_nested_transactions_render_once)
{
	struct fx *f = fx_new();
	struct mem_region r[4];
	uint64_t commits = f->s.commits;
	unsigned i;

	mem_begin(&f->s);
	for (i = 0; i < 4; i++) {
		mem_region_init_ram(&r[i], "r", f->b, i * 0x1000, 0x1000);
		mem_begin(&f->s);
		ck_assert_int_eq(mem_region_add(&f->s.root, &r[i], i * 0x2000, 0), 0);
		ck_assert_int_eq(mem_commit(&f->s), 0);
	}
	/* Nothing is told before the outermost commit. */
	ck_assert_uint_eq(f->t.n, 0);
	ck_assert_uint_eq(f->s.commits, commits);
	ck_assert_int_eq(mem_commit(&f->s), 0);
	ck_assert_uint_eq(f->s.commits, commits + 1);
	ck_assert_uint_eq(f->t.adds, 4);
	ck_assert_uint_eq(f->t.dels, 0);
	/* Deletions come before additions. */
	mem_trace_clear(&f->t);
	mem_begin(&f->s);
	ck_assert_int_eq(mem_region_set_addr(&r[0], 0x1000), 0);
	ck_assert_int_eq(mem_region_set_enabled(&r[3], false), 0);
	ck_assert_int_eq(mem_commit(&f->s), 0);
	ck_assert_uint_eq(f->t.n, 3);
	ck_assert(!f->t.log[0].add && !f->t.log[1].add && f->t.log[2].add);
	ck_assert_int_eq(mem_commit(&f->s), -EINVAL); /* unbalanced */
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_listener_failure_rolls_back)
{
	struct fx *f = fx_new();
	struct mem_trace t2;
	struct mem_region a, b, c, d;
	struct mem_flat_view *before, *after;

	ck_assert_int_eq(mem_trace_init(&t2, 256), 0);
	ck_assert_int_eq(mem_listener_register(&f->s, &t2.l), 0);
	mem_region_init_ram(&a, "a", f->b, 0, 0x10000);
	mem_region_init_ram(&b, "b", f->b2, 0, 0x1000);
	mem_region_init_ram(&c, "c", f->b2, 0x1000, 0x1000);
	mem_region_init_ram(&d, "d", f->b2, 0x2000, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a, 0, 0), 0);
	/* b, c, d overlap at equal priority: d (added last) wins. */
	ck_assert_int_eq(mem_region_add(&f->s.root, &b, 0x20000, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &c, 0x20000, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &d, 0x20000, 0), 0);
	before = mem_view_get(&f->s);

	/* The second listener fails its first add, after both saw their deletes. */
	t2.fail_at = t2.total + 3;
	t2.fail_err = -ENOSPC;
	mem_begin(&f->s);
	ck_assert_int_eq(mem_region_set_enabled(&a, false), 0);
	ck_assert_int_eq(mem_region_del(&d), 0);
	ck_assert_int_eq(mem_region_del(&c), 0);
	ck_assert_int_eq(mem_region_set_addr(&b, 0x30000), 0);
	ck_assert_int_eq(mem_commit(&f->s), -ENOSPC);

	/* The tree is back, in the same paint order. */
	ck_assert(a.enabled);
	ck_assert_ptr_eq(c.parent, &f->s.root);
	ck_assert_ptr_eq(d.parent, &f->s.root);
	ck_assert_uint_eq(b.addr, 0x20000);
	ck_assert_ptr_eq(f->s.root.first_child, &d);
	ck_assert_ptr_eq(d.next_sibling, &c);
	ck_assert_ptr_eq(c.next_sibling, &b);
	/* The old view stays, and every listener's picture equals it. */
	after = mem_view_get(&f->s);
	ck_assert_ptr_eq(after, before);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	ck_assert(mem_trace_matches_view(&t2, &f->s));
	mem_flat_view_put(after);
	mem_flat_view_put(before);

	/* The next transaction starts from a clean journal and works. */
	t2.fail_at = 0;
	ck_assert_int_eq(mem_region_del(&d), 0);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	ck_assert(mem_trace_matches_view(&t2, &f->s));

	/* A failure on the very first call: nothing to undo on anyone. */
	f->t.fail_at = f->t.total + 1;
	ck_assert_int_eq(mem_region_set_enabled(&a, false), -EIO);
	f->t.fail_at = 0;
	ck_assert(a.enabled);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	ck_assert(mem_trace_matches_view(&t2, &f->s));
	/* A failure on the last call: everything before it is undone. */
	t2.fail_at = t2.total + 1;
	t2.fail_err = 0;
	ck_assert_int_eq(mem_region_set_enabled(&a, false), -EIO);
	t2.fail_at = 0;
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	ck_assert(mem_trace_matches_view(&t2, &f->s));
	mem_listener_unregister(&f->s, &t2.l);
	ck_assert_uint_eq(t2.nm, 0);
	mem_trace_destroy(&t2);
	fx_free(f);
}
END_TEST

START_TEST(test_render_failure_rolls_back)
{
	struct fx *f = fx_new();
	struct mem_region cont, loop, r;

	/* An alias of its own ancestor would render forever: refused at commit. */
	mem_region_init_ram(&r, "r", f->b, 0, 0x1000);
	mem_region_init_container(&cont, "cont", 0x10000);
	ck_assert_int_eq(mem_region_add(&cont, &r, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &cont, 0, 0), 0);
	mem_region_init_alias(&loop, "loop", &cont, 0, 0x8000);
	ck_assert_int_eq(mem_region_add(&cont, &loop, 0, -1), -ELOOP);
	ck_assert_ptr_null(loop.parent);
	ck_assert(mem_trace_matches_view(&f->t, &f->s));
	fx_free(f);
}
END_TEST

START_TEST(test_edit_validation)
{
	struct fx *f = fx_new();
	struct mem_region a, b, cont, sub, al;

	mem_region_init_ram(&a, "a", f->b, 0, 0x1000);
	mem_region_init_ram(&b, "b", f->b, 0, 0x1000);
	mem_region_init_container(&cont, "cont", 0x10000);
	mem_region_init_container(&sub, "sub", 0x10000);
	ck_assert_int_eq(mem_region_add(&a, &b, 0, 0), -EINVAL);            /* not a container */
	ck_assert_int_eq(mem_region_add(&cont, &a, 0xF001, 0), -EINVAL);     /* does not fit */
	ck_assert_int_eq(mem_region_add(&f->s.root, &a, UINT64_MAX - 0x10, 0), -EINVAL); /* wraps */
	ck_assert_int_eq(mem_region_add(&cont, &a, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a, 0, 0), -EBUSY);      /* one tree only */
	ck_assert_int_eq(mem_region_add(&cont, &cont, 0, 0), -EINVAL);
	ck_assert_int_eq(mem_region_add(&cont, &sub, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&sub, &cont, 0, 0), -ELOOP);        /* own ancestor */
	ck_assert_int_eq(mem_region_del(&sub), 0);
	ck_assert_int_eq(mem_region_del(&sub), -EINVAL);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->s.root, 0, 0), -EINVAL);
	ck_assert_int_eq(mem_region_add(&sub, &f->s.root, 0, 0), -EBUSY);
	/* RAM past its backend, alias without target. */
	mem_region_init_ram(&b, "b", f->b, 1 * MiB - 0x800, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &b, 0, 0), -EINVAL);
	mem_region_init_alias(&al, "al", NULL, 0, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &al, 0, 0), -EINVAL);
	ck_assert_int_eq(mem_region_set_addr(&a, 0xF800), -EINVAL);
	ck_assert_int_eq(mem_region_set_addr(&a, 0xF000), 0);
	ck_assert_int_eq(mem_region_set_alias_off(&a, 0), -EINVAL);         /* not an alias */
	fx_free(f);
}
END_TEST

static int rec_mmio_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	uint64_t *last = opaque;

	last[0] = off;
	last[1] = size;
	*val = 0x1122334455667788ULL;
	return 0;
}

static int rec_mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	uint64_t *last = opaque;

	last[0] = off;
	last[1] = size;
	last[2] = val;
	last[3]++;
	return off == 0xFF8 ? -EPERM : 0;
}

static const struct access_ops dword_ops = {
	.read = rec_mmio_read, .write = rec_mmio_write, .min_size = 4, .max_size = 4,
};
static const struct access_ops any_ops = {
	.read = rec_mmio_read, .write = rec_mmio_write,
};

START_TEST(test_dispatch_widths_and_unassigned)
{
	struct fx *f = fx_new();
	struct mem_region mmio, ram, rom, rom2;
	uint64_t last[4] = { 0 }, val;

	mem_region_init_mmio(&mmio, "mmio", 0x1000, &dword_ops, last);
	mem_region_init_ram(&ram, "ram", f->b, 0, 0x1000);
	mem_region_init_ram(&rom, "rom", f->b, 0x1000, 0x1000);
	mem_region_init_ram(&rom2, "rom2", f->b, 0x2000, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &mmio, 0x10000, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &ram, 0x11000, 0), 0);
	ck_assert_int_eq(mem_region_set_readonly(&rom, true), 0);
	ck_assert_int_eq(mem_region_set_ops(&rom, &any_ops, last), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &rom, 0x12000, 0), 0);
	rom2.readonly = true;
	ck_assert_int_eq(mem_region_add(&f->s.root, &rom2, 0x13000, 0), 0);

	/* Declared width: dword only. */
	ck_assert_int_eq(mem_dispatch(&f->s, 0x10010, 4, false, &val), 0);
	ck_assert_uint_eq(val, 0x55667788);
	ck_assert_uint_eq(last[0], 0x10);
	ck_assert_int_eq(mem_dispatch(&f->s, 0x10010, 2, false, &val), -EINVAL);
	ck_assert_uint_eq(val, 0xFFFF);
	ck_assert_int_eq(mem_dispatch(&f->s, 0x10010, 8, false, &val), -EINVAL);
	ck_assert_uint_eq(val, ~0ULL);
	ck_assert_int_eq(mem_dispatch(&f->s, 0x10010, 3, false, &val), -EINVAL);
	ck_assert_int_eq(mem_dispatch(&f->s, 0x10010, 0, true, &val), -EINVAL);
	/* Straddling the end of a range is refused before the handler. */
	last[0] = 0;
	ck_assert_int_eq(mem_dispatch(&f->s, 0x10FFE, 4, false, &val), -EINVAL);
	ck_assert_uint_eq(last[0], 0);
	ck_assert_uint_eq(val, 0xFFFFFFFF);
	/* A handler's refusal reads as all-ones. */
	val = 7;
	ck_assert_int_eq(mem_dispatch(&f->s, 0x10FF8, 4, true, &val), -EPERM);
	/* Unassigned: all-ones, writes dropped, no crash. */
	ck_assert_int_eq(mem_dispatch(&f->s, 0x900000, 4, false, &val), -ENOENT);
	ck_assert_uint_eq(val, 0xFFFFFFFF);
	ck_assert_int_eq(mem_dispatch(&f->s, UINT64_MAX, 1, true, &val), -ENOENT);
	ck_assert_int_eq(mem_dispatch(&f->s, UINT64_MAX - 3, 8, false, &val), -ENOENT);

	/* RAM through dispatch: exact width, any alignment. */
	val = 0xA1B2C3D4;
	ck_assert_int_eq(mem_dispatch(&f->s, 0x11003, 4, true, &val), 0);
	ck_assert_uint_eq(f->b->host[3], 0xD4);
	ck_assert_int_eq(mem_dispatch(&f->s, 0x11003, 2, false, &val), 0);
	ck_assert_uint_eq(val, 0xC3D4);
	/* Read-only RAM with ops: reads direct, writes to the ops at the region offset. */
	f->b->host[0x1010] = 0x5A;
	ck_assert_int_eq(mem_dispatch(&f->s, 0x12010, 1, false, &val), 0);
	ck_assert_uint_eq(val, 0x5A);
	val = 0x99;
	last[3] = 0;
	ck_assert_int_eq(mem_dispatch(&f->s, 0x12010, 1, true, &val), 0);
	ck_assert_uint_eq(last[3], 1);
	ck_assert_uint_eq(last[0], 0x10);
	ck_assert_uint_eq(f->b->host[0x1010], 0x5A);
	/* Read-only RAM without ops: writes dropped. */
	f->b->host[0x2000] = 0x11;
	ck_assert_int_eq(mem_dispatch(&f->s, 0x13000, 1, true, &val), 0);
	ck_assert_uint_eq(f->b->host[0x2000], 0x11);
	ck_assert_uint_eq(last[3], 1);
	fx_free(f);
}
END_TEST

START_TEST(test_rw_bounds)
{
	struct fx *f = fx_new();
	struct mem_region r1, r2, mmio, hi;
	static const struct access_ops none = { 0 };
	uint8_t buf[0x3000], chk[0x3000];

	mem_region_init_ram(&r1, "r1", f->b, 0x1000, 0x2000);
	mem_region_init_ram(&r2, "r2", f->b2, 0, 0x2000);
	mem_region_init_mmio(&mmio, "mmio", 0x1000, &none, NULL);
	mem_region_init_ram(&hi, "hi", f->b2, 0x10000, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &r1, 0x1000, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &r2, 0x3000, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &mmio, 0x5000, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &hi, UINT64_MAX - 0x1000, 0), 0);

	/* Spanning two RAM ranges of different backends works. */
	memset(buf, 0xAB, sizeof(buf));
	ck_assert_int_eq(mem_write(&f->s, 0x2000, buf, 0x2000), 0);
	ck_assert_uint_eq(f->b->host[0x2FFF], 0xAB);
	ck_assert_uint_eq(f->b2->host[0xFFF], 0xAB);
	memset(chk, 0, sizeof(chk));
	ck_assert_int_eq(mem_read(&f->s, 0x2000, chk, 0x2000), 0);
	ck_assert_mem_eq(chk, buf, 0x2000);

	/* Running into MMIO: -EFAULT and nothing copied. */
	memset(buf, 0xCD, sizeof(buf));
	ck_assert_int_eq(mem_write(&f->s, 0x4000, buf, 0x1001), -EFAULT);
	ck_assert_uint_eq(f->b2->host[0x1000], 0);
	memset(chk, 0x77, sizeof(chk));
	ck_assert_int_eq(mem_read(&f->s, 0x4000, chk, 0x1001), -EFAULT);
	ck_assert_uint_eq(chk[0], 0x77);
	/* Starting in a hole, or ending in one. */
	ck_assert_int_eq(mem_read(&f->s, 0x800, chk, 0x1000), -EFAULT);
	ck_assert_int_eq(mem_read(&f->s, 0x6000, chk, 1), -EFAULT);
	/* Wrapping. */
	ck_assert_int_eq(mem_read(&f->s, UINT64_MAX - 0x10, chk, 0x20), -EFAULT);
	ck_assert_int_eq(mem_read(&f->s, UINT64_MAX - 0x1000, chk, UINT64_MAX), -EFAULT);
	ck_assert_int_eq(mem_read(&f->s, UINT64_MAX - 0x1000, chk, 0x1000), 0);
	ck_assert_int_eq(mem_read(&f->s, 0x1000, chk, 0), 0);

	/* mem_hva: inside one RAM range only. */
	ck_assert_ptr_eq(mem_hva(&f->s, 0x1000, 0x2000), f->b->host + 0x1000);
	ck_assert_ptr_null(mem_hva(&f->s, 0x1000, 0x2001));
	ck_assert_ptr_null(mem_hva(&f->s, 0x5000, 1));
	ck_assert_ptr_null(mem_hva(&f->s, UINT64_MAX - 0x10, 0x20));
	fx_free(f);
}
END_TEST

struct reader_arg {
	struct mem_space *s;
	bool stop;
	unsigned long reads, bad;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	uint8_t buf[16];

	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
		uint64_t val;
		int ret = mem_dispatch(a->s, 0x1000, 4, false, &val);

		/* Either the RAM (zeroes) or unassigned (all-ones): never anything else. */
		if (!((ret == 0 && val == 0) || (ret == -ENOENT && val == 0xFFFFFFFF)))
			a->bad++;
		ret = mem_read(a->s, 0x1000, buf, sizeof(buf));
		if (ret && ret != -EFAULT)
			a->bad++;
		a->reads++;
	}
	return NULL;
}

START_TEST(test_concurrent_readers)
{
	struct fx *f = fx_new();
	struct reader_arg arg = { .s = &f->s };
	struct mem_region r;
	pthread_t th;
	unsigned i;

	mem_region_init_ram(&r, "r", f->b, 0, 0x10000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &r, 0, 0), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, reader, &arg), 0);
	for (i = 0; i < 2000; i++)
		ck_assert_int_eq(mem_region_set_enabled(&r, i & 1), 0);
	__atomic_store_n(&arg.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	ck_assert_uint_eq(arg.bad, 0);
	ck_assert_uint_gt(arg.reads, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_backend)
{
	struct mem_backend *b;

	ck_assert_int_eq(mem_backend_create(&b, "zero", 0), -EINVAL);
	ck_assert_int_eq(mem_backend_create(&b, "odd", 4097), -EINVAL);
	ck_assert_int_eq(mem_backend_create(&b, "a-name-much-longer-than-thirty-two-chars", 8192), 0);
	ck_assert_int_eq(b->fd, -1);            /* anonymous */
	ck_assert_uint_eq(strlen(b->name), sizeof(b->name) - 1);
	ck_assert_uint_eq(b->host[0] | b->host[8191], 0);
	b->host[8191] = 1;
	mem_backend_destroy(b);
	/* From 2 MiB up the mapping is 2 MiB-aligned, for huge pages in KVM's stage 2. */
	ck_assert_int_eq(mem_backend_create(&b, "big", 6ULL << 20), 0);
	ck_assert_uint_eq((uintptr_t)b->host % (2ULL << 20), 0);
	b->host[(6ULL << 20) - 1] = 1;
	mem_backend_destroy(b);
	mem_backend_destroy(NULL);
}
END_TEST

START_TEST(test_listener_register_unregister)
{
	struct fx *f = fx_new();
	struct mem_trace t2;
	struct mem_region a, b;

	mem_region_init_ram(&a, "a", f->b, 0, 0x1000);
	mem_region_init_ram(&b, "b", f->b2, 0, 0x1000);
	ck_assert_int_eq(mem_region_add(&f->s.root, &a, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &b, 0x10000, 0), 0);
	ck_assert_int_eq(mem_trace_init(&t2, 16), 0);
	/* A late listener is told the whole view; a failing one is left clean. */
	t2.fail_at = 2;
	ck_assert_int_eq(mem_listener_register(&f->s, &t2.l), -EIO);
	ck_assert_uint_eq(t2.nm, 0);
	t2.fail_at = 0;
	ck_assert_int_eq(mem_listener_register(&f->s, &t2.l), 0);
	ck_assert_int_eq(mem_listener_register(&f->s, &t2.l), -EEXIST);
	ck_assert(mem_trace_matches_view(&t2, &f->s));
	mem_listener_unregister(&f->s, &t2.l);
	ck_assert_uint_eq(t2.nm, 0);
	mem_trace_destroy(&t2);
	fx_free(f);
}
END_TEST

/* Reference: which terminal region, at which offset, serves @addr (paint order). */
static const struct mem_region *ref_lookup(const struct mem_region *r, int64_t origin,
					   uint64_t addr, uint64_t *off)
{
	const struct mem_region *c, *hit;

	if (!r->enabled || (int64_t)addr < origin || (int64_t)addr >= origin + (int64_t)r->size)
		return NULL;
	switch (r->type) {
	case MEM_REGION_RAM:
	case MEM_REGION_MMIO:
		*off = addr - (uint64_t)origin;
		return r;
	case MEM_REGION_ALIAS:
		return ref_lookup(r->alias, origin - (int64_t)r->alias_off, addr, off);
	case MEM_REGION_CONTAINER:
		for (c = r->first_child; c; c = c->next_sibling) {
			hit = ref_lookup(c, origin + (int64_t)c->addr, addr, off);
			if (hit)
				return hit;
		}
		return NULL;
	}
	return NULL;
}

#define RND_PAGES 256
#define RND_REGIONS 48

START_TEST(test_render_random_vs_reference)
{
	static const struct access_ops none = { 0 };
	struct mem_region *tgt, *reg, root, tcont;
	struct mem_backend *b;
	unsigned iter, i, p;

	ck_assert_int_eq(mem_backend_create(&b, "rnd", RND_PAGES * 4 * KiB), 0);
	tgt = calloc(8, sizeof(*tgt));
	reg = calloc(RND_REGIONS, sizeof(*reg));
	ck_assert_ptr_nonnull(tgt);
	ck_assert_ptr_nonnull(reg);
	srand(1234);
	for (iter = 0; iter < 300; iter++) {
		struct mem_flat_view *v;
		struct mem_region *conts[8];
		unsigned nconts = 1;

		memset(tgt, 0, 8 * sizeof(*tgt));
		memset(reg, 0, RND_REGIONS * sizeof(*reg));
		mem_region_init_container(&root, "root", RND_PAGES * 0x1000);
		conts[0] = &root;
		/* Alias targets outside the tree: RAM slices and a container of them. */
		for (i = 0; i < 4; i++)
			mem_region_init_ram(&tgt[i], "t", b, (uint64_t)(rand() % 64) * 0x1000,
					    (uint64_t)(1 + rand() % 64) * 0x1000);
		mem_region_init_container(&tcont, "tc", 32 * 0x1000);
		for (i = 4; i < 8; i++) {
			mem_region_init_ram(&tgt[i], "tc-r", b, (uint64_t)(rand() % 64) * 0x1000,
					    (uint64_t)(1 + rand() % 8) * 0x1000);
			ck_assert_int_eq(mem_region_add(&tcont, &tgt[i],
							(uint64_t)(rand() % 24) * 0x1000,
							rand() % 3), 0);
		}
		for (i = 0; i < RND_REGIONS; i++) {
			struct mem_region *r = &reg[i], *parent = conts[rand() % nconts];
			uint64_t size = (uint64_t)(1 + rand() % 32) * 0x1000;
			unsigned kind = (unsigned)rand() % 5;

			if (size > parent->size)
				size = parent->size;
			switch (kind) {
			case 0:
				mem_region_init_mmio(r, "m", size, &none, NULL);
				break;
			case 1:
				mem_region_init_container(r, "c", size);
				break;
			case 2: {
				struct mem_region *t = rand() % 3 ? &tgt[rand() % 4] : &tcont;

				if (size > t->size)
					size = t->size;
				mem_region_init_alias(r, "a", t,
						      (uint64_t)(rand() % ((t->size - size) / 0x1000 + 1)) * 0x1000,
						      size);
				break;
			}
			default:
				mem_region_init_ram(r, "r", b, (uint64_t)(rand() % 128) * 0x1000, size);
				break;
			}
			r->enabled = rand() % 6 != 0;
			r->readonly = rand() % 5 == 0;
			r->unmergeable = rand() % 4 == 0;
			ck_assert_int_eq(mem_region_add(parent, r,
				(uint64_t)(rand() % ((parent->size - size) / 0x1000 + 1)) * 0x1000,
				rand() % 5 - 2), 0);
			if (kind == 1 && nconts < 8)
				conts[nconts++] = r;
		}
		ck_assert_int_eq(mem_render(&root, &v), 0);
		/* Every page agrees with the reference. */
		for (p = 0; p < RND_PAGES; p++) {
			uint64_t addr = (uint64_t)p * 0x1000, off = 0;
			const struct mem_region *want = ref_lookup(&root, 0, addr, &off);
			const struct mem_flat_range *fr = mem_view_find(v, addr);

			if (!want) {
				ck_assert_ptr_null(fr);
				continue;
			}
			ck_assert_ptr_nonnull(fr);
			ck_assert_ptr_eq(fr->mr, want);
			ck_assert_uint_eq(fr->offset_in_region + (addr - fr->gpa), off);
			if (want->type == MEM_REGION_RAM)
				ck_assert_uint_eq(fr->backend_off + (addr - fr->gpa),
						  want->backend_off + off);
		}
		/* Sorted, non-overlapping, and simplified as far as allowed. */
		for (i = 1; i < v->nr; i++) {
			const struct mem_flat_range *a = &v->ranges[i - 1], *c = &v->ranges[i];

			ck_assert_uint_le(a->gpa + a->size, c->gpa);
			ck_assert(!(a->gpa + a->size == c->gpa && a->mr == c->mr &&
				    a->offset_in_region + a->size == c->offset_in_region &&
				    a->readonly == c->readonly && !a->unmergeable && !c->unmergeable));
		}
		mem_flat_view_put(v);
	}
	free(reg);
	free(tgt);
	mem_backend_destroy(b);
}
END_TEST

static Suite *memory_suite(void)
{
	Suite *s = suite_create("memory");
	TCase *tc = tcase_create("engine");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_render_priorities);
	tcase_add_test(tc, test_render_nested_aliases);
	tcase_add_test(tc, test_render_alias_clipped_to_target);
	tcase_add_test(tc, test_render_random_vs_reference);
	tcase_add_test(tc, test_render_container_holes);
	tcase_add_test(tc, test_merge_rules);
	tcase_add_test(tc, test_commit_no_change_no_calls);
	tcase_add_test(tc, test_nested_transactions_render_once);
	tcase_add_test(tc, test_listener_failure_rolls_back);
	tcase_add_test(tc, test_render_failure_rolls_back);
	tcase_add_test(tc, test_edit_validation);
	tcase_add_test(tc, test_dispatch_widths_and_unassigned);
	tcase_add_test(tc, test_rw_bounds);
	tcase_add_test(tc, test_concurrent_readers);
	tcase_add_test(tc, test_backend);
	tcase_add_test(tc, test_listener_register_unregister);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(memory_suite)
