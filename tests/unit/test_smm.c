/*
 * tests/unit/test_smm.c - follower spaces (mem_space_follow) and the SMM view
 * of the PC layout (pc_mem_build_smm): what SMM sees, invariant I1 in both
 * spaces, all-or-nothing commits across the group, destroy orders.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memory/memory.h"
#include "memory/pc.h"
#include "memory/trace.h"
#include "tests/unit/unit.h"

#define BIOS_SIZE (256 * KiB)
#define DRAM_BYTE 0xD7
#define ROM_BYTE  0xB5

/* ---- helpers ---------------------------------------------------------------- */

static bool range_eq(const struct mem_flat_range *a, const struct mem_flat_range *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->mr == b->mr &&
	       a->offset_in_region == b->offset_in_region && a->backend == b->backend &&
	       a->backend_off == b->backend_off && a->readonly == b->readonly &&
	       a->unmergeable == b->unmergeable && a->ops == b->ops && a->opaque == b->opaque;
}

struct excl {
	uint64_t start, size;
};

static bool excluded(const struct mem_flat_range *fr, const struct excl *ex, unsigned nex)
{
	unsigned i;

	for (i = 0; i < nex; i++)
		if (ranges_overlap(fr->gpa, fr->size, ex[i].start, ex[i].size))
			return true;
	return false;
}

static bool view_has(const struct mem_flat_view *v, const struct mem_flat_range *fr)
{
	unsigned i;

	for (i = 0; i < v->nr; i++)
		if (range_eq(&v->ranges[i], fr))
			return true;
	return false;
}

/*
 * The two views are the same range for range outside @ex. A range that
 * crosses into @ex counts as inside: the PC pieces are unmergeable, so a
 * window's boundaries are range boundaries in both views.
 */
static void assert_views_equal_outside(struct mem_space *a, struct mem_space *b,
				       const struct excl *ex, unsigned nex)
{
	struct mem_flat_view *va = mem_view_get(a), *vb = mem_view_get(b);
	unsigned i, na = 0, nb = 0;

	for (i = 0; i < va->nr; i++) {
		if (excluded(&va->ranges[i], ex, nex))
			continue;
		na++;
		ck_assert_msg(view_has(vb, &va->ranges[i]), "range 0x%llx+0x%llx differs",
			      (unsigned long long)va->ranges[i].gpa,
			      (unsigned long long)va->ranges[i].size);
	}
	for (i = 0; i < vb->nr; i++)
		if (!excluded(&vb->ranges[i], ex, nex))
			nb++;
	ck_assert_uint_eq(na, nb);
	ck_assert_uint_gt(na, 0);
	mem_flat_view_put(va);
	mem_flat_view_put(vb);
}

/* Every call in @t's log lies inside [start, start+len). */
static void assert_calls_within(const struct mem_trace *t, uint64_t start, uint64_t len)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		ck_assert_msg(range_within(t->log[i].gpa, t->log[i].size, start, len),
			      "call at 0x%llx+0x%llx outside 0x%llx+0x%llx",
			      (unsigned long long)t->log[i].gpa, (unsigned long long)t->log[i].size,
			      (unsigned long long)start, (unsigned long long)len);
}

static void assert_nothing_above_1m(const struct mem_trace *t)
{
	ck_assert_uint_eq(mem_trace_count_in(t, PC_HIGH_START, UINT64_MAX - PC_HIGH_START), 0);
}

/* ---- generic leader/follower fixture ---------------------------------------- */

struct gfx {
	struct mem_space *l, *f;   /* heap-allocated, so ASan sees a use after destroy */
	struct mem_backend *b;
	struct mem_trace tl, tf;
	struct mem_region a, top, ov;
};

static const struct access_ops g_ops; /* MMIO with no handlers: only identity matters */

static struct gfx *gfx_new(void)
{
	struct gfx *g = calloc(1, sizeof(*g));

	ck_assert_ptr_nonnull(g);
	g->l = calloc(1, sizeof(*g->l));
	g->f = calloc(1, sizeof(*g->f));
	ck_assert(g->l && g->f);
	ck_assert_int_eq(mem_space_init(g->l, "leader"), 0);
	ck_assert_int_eq(mem_space_init(g->f, "follower"), 0);
	ck_assert_int_eq(mem_backend_create(&g->b, "ram", 1 * MiB), 0);
	ck_assert_int_eq(mem_trace_init(&g->tl, 4096), 0);
	ck_assert_int_eq(mem_trace_init(&g->tf, 4096), 0);
	ck_assert_int_eq(mem_listener_register(g->l, &g->tl.l), 0);
	ck_assert_int_eq(mem_listener_register(g->f, &g->tf.l), 0);
	/* RAM at 0, and MMIO in the very last page the root covers. */
	mem_region_init_ram(&g->a, "a", g->b, 0, 0x10000);
	mem_region_init_mmio(&g->top, "top", 0x1000, &g_ops, g);
	ck_assert_int_eq(mem_region_add(&g->l->root, &g->a, 0, 0), 0);
	ck_assert_int_eq(mem_region_add(&g->l->root, &g->top, UINT64_MAX - 0x1000, 0), 0);
	mem_region_init_ram(&g->ov, "overlay", g->b, 0x80000, 0x2000);
	return g;
}

static void gfx_free(struct gfx *g)
{
	if (g->l) {
		mem_listener_unregister(g->l, &g->tl.l);
		mem_space_destroy(g->l);
		free(g->l);
	}
	if (g->f) {
		mem_listener_unregister(g->f, &g->tf.l);
		mem_space_destroy(g->f);
		free(g->f);
	}
	mem_trace_destroy(&g->tl);
	mem_trace_destroy(&g->tf);
	mem_backend_destroy(g->b);
	free(g);
}

static void assert_views_identical(struct mem_space *a, struct mem_space *b)
{
	struct mem_flat_view *va = mem_view_get(a), *vb = mem_view_get(b);
	unsigned i;

	ck_assert_uint_eq(va->nr, vb->nr);
	for (i = 0; i < va->nr; i++)
		ck_assert(range_eq(&va->ranges[i], &vb->ranges[i]));
	mem_flat_view_put(va);
	mem_flat_view_put(vb);
}

START_TEST(test_follow_shows_leader_and_overlays)
{
	struct gfx *g = gfx_new();
	struct mem_region b;
	uint64_t lc, fc;

	mem_trace_clear(&g->tl);
	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	/* The follower got the leader's ranges, including the last page of the space. */
	ck_assert_uint_eq(g->tl.n, 0);
	ck_assert_uint_eq(g->tf.adds, 2);
	assert_views_identical(g->l, g->f);
	ck_assert_ptr_nonnull(mem_view_find(g->f->view, UINT64_MAX - 1));

	/* A follower overlay changes the follower only. */
	mem_trace_clear(&g->tf);
	ck_assert_int_eq(mem_region_add(&g->f->root, &g->ov, 0x4000, 1), 0);
	ck_assert_uint_eq(g->tl.n, 0);
	ck_assert_uint_eq(g->tf.dels, 1);
	ck_assert_uint_eq(g->tf.adds, 3);
	ck_assert_uint_eq(g->f->view->nr, 4);

	/* A leader edit elsewhere: one call in each space, for that range only. */
	mem_trace_clear(&g->tl);
	mem_trace_clear(&g->tf);
	mem_region_init_ram(&b, "b", g->b, 0x40000, 0x1000);
	ck_assert_int_eq(mem_region_add(&g->l->root, &b, 0x100000, 0), 0);
	ck_assert_uint_eq(g->tl.n, 1);
	ck_assert_uint_eq(g->tf.n, 1);
	ck_assert_uint_eq(g->tf.log[0].gpa, 0x100000);

	/* A leader edit under the overlay: the follower is told about what it sees only. */
	mem_trace_clear(&g->tl);
	mem_trace_clear(&g->tf);
	lc = g->l->commits;
	fc = g->f->commits;
	ck_assert_int_eq(mem_region_set_readonly(&g->a, true), 0);
	ck_assert_uint_eq(g->l->commits, lc + 1);
	ck_assert_uint_eq(g->f->commits, fc + 1);
	ck_assert_uint_eq(g->tl.n, 2);
	ck_assert_uint_eq(g->tf.n, 4); /* the two pieces of a around the overlay */
	ck_assert_uint_eq(mem_trace_count_in(&g->tf, 0x4000, 0x2000), 0);

	/* An edit that changes nothing visible renders, but calls nobody. */
	mem_trace_clear(&g->tl);
	mem_trace_clear(&g->tf);
	mem_begin(g->l);
	ck_assert_int_eq(mem_region_set_enabled(&b, false), 0);
	ck_assert_int_eq(mem_region_set_enabled(&b, true), 0);
	ck_assert_int_eq(mem_commit(g->l), 0);
	ck_assert_uint_eq(g->tl.n + g->tf.n, 0);

	ck_assert(mem_trace_matches_view(&g->tl, g->l));
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	ck_assert_int_eq(mem_region_del(&b), 0);
	gfx_free(g);
}
END_TEST

/* Edits to both spaces, nested either way: nothing is told before the group's end. */
START_TEST(test_group_transaction)
{
	struct gfx *g = gfx_new();
	uint64_t lc, fc;
	unsigned order;

	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	for (order = 0; order < 2; order++) {
		struct mem_space *outer = order ? g->f : g->l, *inner = order ? g->l : g->f;

		mem_trace_clear(&g->tl);
		mem_trace_clear(&g->tf);
		lc = g->l->commits;
		fc = g->f->commits;
		mem_begin(outer);
		mem_begin(inner);
		ck_assert_int_eq(mem_region_set_enabled(&g->a, order == 1), 0);
		ck_assert_int_eq(mem_region_set_enabled(&g->ov, true), 0);
		if (!order)
			ck_assert_int_eq(mem_region_add(&g->f->root, &g->ov, 0x4000, 1), 0);
		ck_assert_int_eq(mem_commit(inner), 0);
		ck_assert_uint_eq(g->tl.n + g->tf.n, 0);
		ck_assert_uint_eq(g->l->commits, lc);
		ck_assert_int_eq(mem_commit(outer), 0);
		/* One render of each space. */
		ck_assert_uint_eq(g->l->commits, lc + 1);
		ck_assert_uint_eq(g->f->commits, fc + 1);
		ck_assert_uint_gt(g->tl.n, 0);
		ck_assert_uint_gt(g->tf.n, 0);
		ck_assert(mem_trace_matches_view(&g->tl, g->l));
		ck_assert(mem_trace_matches_view(&g->tf, g->f));
	}
	/* A follower-only transaction does not render the leader. */
	lc = g->l->commits;
	ck_assert_int_eq(mem_region_set_enabled(&g->ov, false), 0);
	ck_assert_uint_eq(g->l->commits, lc);
	gfx_free(g);
}
END_TEST

/* A failing listener anywhere in the group fails the commit and changes nothing. */
START_TEST(test_group_rollback)
{
	struct gfx *g = gfx_new();
	struct mem_flat_view *vl, *vf, *nl, *nf;
	unsigned k;

	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	ck_assert_int_eq(mem_region_add(&g->f->root, &g->ov, 0x4000, 1), 0);
	/* Fail the follower's 1st..4th call, then the leader's 1st and 2nd. */
	for (k = 0; k < 6; k++) {
		struct mem_trace *t = k < 4 ? &g->tf : &g->tl;

		vl = mem_view_get(g->l);
		vf = mem_view_get(g->f);
		t->fail_at = t->total + (k < 4 ? k + 1 : k - 3);
		ck_assert_int_eq(mem_region_set_readonly(&g->a, true), -EIO);
		t->fail_at = 0;
		/* The tree, the views and every listener's picture are as before. */
		ck_assert(!g->a.readonly);
		nl = mem_view_get(g->l);
		nf = mem_view_get(g->f);
		ck_assert_ptr_eq(nl, vl);
		ck_assert_ptr_eq(nf, vf);
		mem_flat_view_put(nl);
		mem_flat_view_put(nf);
		mem_flat_view_put(vl);
		mem_flat_view_put(vf);
		ck_assert(mem_trace_matches_view(&g->tl, g->l));
		ck_assert(mem_trace_matches_view(&g->tf, g->f));
	}
	/* A failure in a mixed transaction undoes the follower's edits too. */
	g->tf.fail_at = g->tf.total + 1;
	mem_begin(g->l);
	ck_assert_int_eq(mem_region_set_enabled(&g->ov, false), 0);
	ck_assert_int_eq(mem_region_set_enabled(&g->top, false), 0);
	ck_assert_int_eq(mem_commit(g->l), -EIO);
	g->tf.fail_at = 0;
	ck_assert(g->ov.enabled && g->top.enabled);
	ck_assert(mem_trace_matches_view(&g->tl, g->l));
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	/* And the next commit works. */
	ck_assert_int_eq(mem_region_set_readonly(&g->a, true), 0);
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	gfx_free(g);
}
END_TEST

START_TEST(test_follow_validation)
{
	struct gfx *g = gfx_new();
	struct mem_space *x = calloc(1, sizeof(*x));
	struct mem_space zero;

	memset(&zero, 0, sizeof(zero));
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(mem_space_init(x, "x"), 0);
	ck_assert_int_eq(mem_space_follow(NULL, g->l), -EINVAL);
	ck_assert_int_eq(mem_space_follow(g->f, NULL), -EINVAL);
	ck_assert_int_eq(mem_space_follow(g->f, g->f), -EINVAL);
	ck_assert_int_eq(mem_space_follow(&zero, g->l), -EINVAL); /* never initialized */
	ck_assert_int_eq(mem_space_unfollow(g->f), -EINVAL);     /* not a follower */
	/* Not inside a transaction. */
	mem_begin(g->l);
	ck_assert_int_eq(mem_space_follow(g->f, g->l), -EBUSY);
	ck_assert_int_eq(mem_commit(g->l), 0);
	ck_assert(g->f->leader == NULL);

	/* A failing follower listener: follow fails, nothing changed. */
	g->tf.fail_at = g->tf.total + 2;
	ck_assert_int_eq(mem_space_follow(g->f, g->l), -EIO);
	g->tf.fail_at = 0;
	ck_assert(g->f->leader == NULL && g->l->followers == NULL);
	ck_assert(g->f->follow_alias.parent == NULL);
	ck_assert_uint_eq(g->f->view->nr, 0);
	ck_assert(mem_trace_matches_view(&g->tf, g->f));

	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	/* One leader; one level. */
	ck_assert_int_eq(mem_space_follow(g->f, x), -EINVAL);
	ck_assert_int_eq(mem_space_follow(x, g->f), -EINVAL);
	ck_assert_int_eq(mem_space_follow(g->l, x), -EINVAL);
	/* A second follower of the same leader is fine. */
	ck_assert_int_eq(mem_space_follow(x, g->l), 0);
	assert_views_identical(g->l, x);
	ck_assert_int_eq(mem_region_set_enabled(&g->top, false), 0);
	assert_views_identical(g->l, x);
	assert_views_identical(g->l, g->f);
	/*
	 * An alias of a follower's root in its leader that maps an address onto
	 * itself is an endless cycle: refused at render, and rolled back.
	 */
	{
		struct mem_region loop;

		mem_region_init_alias(&loop, "loop", &g->f->root, 0x200000, 0x1000);
		ck_assert_int_eq(mem_region_add(&g->l->root, &loop, 0x200000, 0), -ELOOP);
		ck_assert(loop.parent == NULL);
	}
	ck_assert(mem_trace_matches_view(&g->tl, g->l));
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	mem_space_destroy(x);
	free(x);
	gfx_free(g);
}
END_TEST

START_TEST(test_unfollow)
{
	struct gfx *g = gfx_new();

	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	ck_assert_int_eq(mem_region_add(&g->f->root, &g->ov, 0x4000, 1), 0);
	/* A failing listener keeps it following. */
	g->tf.fail_at = g->tf.total + 1;
	ck_assert_int_eq(mem_space_unfollow(g->f), -EIO);
	g->tf.fail_at = 0;
	ck_assert_ptr_eq(g->f->leader, g->l);
	ck_assert(mem_trace_matches_view(&g->tf, g->f));

	mem_trace_clear(&g->tf);
	ck_assert_int_eq(mem_space_unfollow(g->f), 0);
	ck_assert(g->f->leader == NULL && g->l->followers == NULL);
	/* Only its own overlay is left. */
	ck_assert_uint_eq(g->f->view->nr, 1);
	ck_assert_ptr_eq(g->f->view->ranges[0].mr, &g->ov);
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	/* The leader goes on alone. */
	mem_trace_clear(&g->tl);
	mem_trace_clear(&g->tf);
	ck_assert_int_eq(mem_region_set_enabled(&g->a, false), 0);
	ck_assert_uint_eq(g->tf.n, 0);
	ck_assert_uint_eq(g->tl.n, 1);
	/* And may be followed again. */
	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	gfx_free(g);
}
END_TEST

/* Destroy orders: ASan proves nobody touches the freed space afterwards. */
START_TEST(test_destroy_orders)
{
	struct gfx *g = gfx_new();
	struct mem_region c;

	/* Follower first: the leader's commits no longer visit it. */
	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	mem_listener_unregister(g->f, &g->tf.l);
	mem_space_destroy(g->f);
	free(g->f);
	g->f = NULL;
	ck_assert(g->l->followers == NULL);
	ck_assert_int_eq(mem_region_set_enabled(&g->a, false), 0);
	ck_assert_int_eq(mem_region_set_enabled(&g->a, true), 0);
	gfx_free(g);

	/* Leader first: the follower loses the alias and works on its own. */
	g = gfx_new();
	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	mem_listener_unregister(g->l, &g->tl.l);
	mem_space_destroy(g->l);
	free(g->l);
	g->l = NULL;
	ck_assert(g->f->leader == NULL && g->f->follow_alias.parent == NULL);
	/* Its next commit renders without the leader: the old ranges go. */
	mem_region_init_ram(&c, "c", g->b, 0, 0x1000);
	ck_assert_int_eq(mem_region_add(&g->f->root, &c, 0x300000, 1), 0);
	ck_assert_uint_eq(g->f->view->nr, 1);
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	gfx_free(g);
}
END_TEST

/* Lock order: leader and follower edited from two threads must not deadlock. */
struct race {
	struct gfx *g;
	struct mem_region *r;
	int err;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	unsigned i;

	for (i = 0; i < 2000 && !r->err; i++)
		r->err = mem_region_set_enabled(r->r, i % 2 == 0);
	return NULL;
}

START_TEST(test_two_threads)
{
	struct gfx *g = gfx_new();
	struct race rl = { g, &g->a, 0 }, rf = { g, &g->ov, 0 };
	struct mem_flat_view *fresh;
	pthread_t tl, tf;
	unsigned i;

	ck_assert_int_eq(mem_space_follow(g->f, g->l), 0);
	ck_assert_int_eq(mem_region_add(&g->f->root, &g->ov, 0x4000, 1), 0);
	ck_assert_int_eq(pthread_create(&tl, NULL, race_thread, &rl), 0);
	ck_assert_int_eq(pthread_create(&tf, NULL, race_thread, &rf), 0);
	ck_assert_int_eq(pthread_join(tl, NULL), 0);
	ck_assert_int_eq(pthread_join(tf, NULL), 0);
	ck_assert_int_eq(rl.err, 0);
	ck_assert_int_eq(rf.err, 0);
	/* The follower's view is what its tree renders to now. */
	ck_assert_int_eq(mem_render(&g->f->root, &fresh), 0);
	ck_assert_uint_eq(fresh->nr, g->f->view->nr);
	for (i = 0; i < fresh->nr; i++)
		ck_assert(range_eq(&fresh->ranges[i], &g->f->view->ranges[i]));
	mem_flat_view_put(fresh);
	ck_assert(mem_trace_matches_view(&g->tl, g->l));
	ck_assert(mem_trace_matches_view(&g->tf, g->f));
	gfx_free(g);
}
END_TEST

/* ---- the PC SMM view ------------------------------------------------------------ */

struct pcfx {
	struct mem_space *s, *smm;
	struct mem_backend *ram, *bios;
	struct mem_trace ts, tm;
	struct pc_mem *pc;
	struct pc_layout l;
};

static struct pcfx *pcfx_new_opt(uint64_t ram_size, bool build_smm)
{
	struct pc_layout_cfg c = { .ram_size = ram_size, .phys_bits = 40,
				   .amd_hole = PC_AMD_HOLE_OFF };
	struct pcfx *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->pc = calloc(1, sizeof(*f->pc));
	f->s = calloc(1, sizeof(*f->s));
	f->smm = calloc(1, sizeof(*f->smm));
	ck_assert(f->pc && f->s && f->smm);
	ck_assert_int_eq(pc_layout_compute(&c, &f->l, NULL, 0), 0);
	ck_assert_int_eq(mem_space_init(f->s, "system"), 0);
	ck_assert_int_eq(mem_space_init(f->smm, "smm"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ram, "pc.ram", ram_size), 0);
	ck_assert_int_eq(mem_backend_create(&f->bios, "bios", BIOS_SIZE), 0);
	memset(f->bios->host, ROM_BYTE, BIOS_SIZE);
	memset(f->ram->host + PC_VGA_START, DRAM_BYTE, PC_HIGH_START - PC_VGA_START);
	ck_assert_int_eq(mem_trace_init(&f->ts, 65536), 0);
	ck_assert_int_eq(mem_trace_init(&f->tm, 65536), 0);
	ck_assert_int_eq(mem_listener_register(f->s, &f->ts.l), 0);
	ck_assert_int_eq(mem_listener_register(f->smm, &f->tm.l), 0);
	ck_assert_int_eq(pc_mem_build(f->pc, f->s, f->ram, f->bios, &f->l), 0);
	mem_trace_clear(&f->ts);
	if (!build_smm)
		return f;
	ck_assert_int_eq(pc_mem_build_smm(f->pc, f->smm), 0);
	/* Building the SMM view tells the system listeners nothing. */
	ck_assert_uint_eq(f->ts.n, 0);
	ck_assert(mem_trace_matches_view(&f->ts, f->s));
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	mem_trace_clear(&f->tm);
	return f;
}

static struct pcfx *pcfx_new(uint64_t ram_size)
{
	return pcfx_new_opt(ram_size, true);
}

static void pcfx_free(struct pcfx *f)
{
	if (f->smm) {
		mem_listener_unregister(f->smm, &f->tm.l);
		mem_space_destroy(f->smm);
		free(f->smm);
	}
	if (f->s) {
		mem_listener_unregister(f->s, &f->ts.l);
		mem_space_destroy(f->s);
		free(f->s);
	}
	mem_trace_destroy(&f->ts);
	mem_trace_destroy(&f->tm);
	mem_backend_destroy(f->ram);
	mem_backend_destroy(f->bios);
	free(f->pc);
	free(f);
}

static void clear(struct pcfx *f)
{
	mem_trace_clear(&f->ts);
	mem_trace_clear(&f->tm);
}

static uint64_t rd(struct mem_space *s, uint64_t gpa)
{
	uint64_t v = 0;

	(void)mem_dispatch(s, gpa, 1, false, &v);
	return v;
}

/* The range of @s's view at @gpa is writable DRAM at backend offset @gpa. */
static void assert_dram_at(struct mem_space *s, uint64_t gpa, uint64_t len)
{
	struct mem_flat_view *v = mem_view_get(s);
	const struct mem_flat_range *fr = mem_view_find(v, gpa);

	ck_assert_ptr_nonnull(fr);
	ck_assert(mem_range_is_ram(fr) && !fr->readonly && fr->unmergeable);
	ck_assert(range_within(gpa, len, fr->gpa, fr->size));
	ck_assert_uint_eq(fr->backend_off + (gpa - fr->gpa), gpa);
	mem_flat_view_put(v);
}

START_TEST(test_smm_view_equals_system_except_windows)
{
	struct pcfx *f = pcfx_new(512 * MiB);
	uint64_t top = f->l.below_4g;
	const struct excl ex[] = {
		{ PC_VGA_START, 128 * KiB }, { top - PC_TSEG_MAX, PC_TSEG_MAX },
	};

	/* Power-on: SMRAM disabled, the two views are the same view. */
	assert_views_identical(f->s, f->smm);
	/* G_SMRAME, TSEG 8 MiB, some PAM shadowing: still equal outside the windows. */
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 0, 0x30), 0);
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 3, 0x12), 0);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, PC_SMRAM_G_SMRAME), 0);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x05), 0);
	assert_views_equal_outside(f->s, f->smm, ex, 2);
	/* Inside them, SMM sees DRAM where the system sees VGA and the blackhole. */
	assert_dram_at(f->smm, PC_VGA_START, 128 * KiB);
	assert_dram_at(f->smm, top - 8 * MiB, 6 * MiB);
	assert_dram_at(f->smm, top - 2 * MiB, 1 * MiB);
	assert_dram_at(f->smm, top - 1 * MiB, 1 * MiB);
	ck_assert_ptr_null(mem_hva(f->s, PC_VGA_START, 1));
	ck_assert_ptr_null(mem_hva(f->s, top - 1, 1));
	ck_assert_ptr_eq(mem_hva(f->smm, top - 1, 1), f->ram->host + top - 1);
	/* RAM above 4 GiB is absent in this guest; the firmware flash is in both. */
	ck_assert_uint_eq(rd(f->smm, PC_4G - 1), ROM_BYTE);
	ck_assert(mem_trace_matches_view(&f->ts, f->s));
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	pcfx_free(f);
}
END_TEST

START_TEST(test_smram_closed_smm_sees_dram)
{
	struct pcfx *f = pcfx_new(256 * MiB);
	const uint8_t pat[4] = { 0x11, 0x22, 0x33, 0x44 };
	uint8_t buf[4];

	/* Power-on: VGA in both. */
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), 0xFF);
	ck_assert_int_eq(mem_read(f->smm, PC_VGA_START, buf, 1), -EFAULT);

	/* G_SMRAME, D_OPEN clear: system VGA, SMM DRAM; calls only in the window. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	ck_assert_uint_eq(f->ts.n, 0);
	ck_assert_uint_gt(f->tm.n, 0);
	assert_calls_within(&f->tm, PC_VGA_START, 128 * KiB);
	ck_assert_uint_eq(rd(f->s, PC_VGA_START), 0xFF);
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), DRAM_BYTE);
	ck_assert_int_eq(mem_write(f->smm, PC_VGA_START, pat, sizeof(pat)), 0);
	ck_assert_int_eq(mem_read(f->s, PC_VGA_START, buf, sizeof(buf)), -EFAULT);
	ck_assert_uint_eq(rd(f->s, PC_VGA_START), 0xFF);
	ck_assert_int_eq(mem_write(f->smm, 0xBFFFC, pat, sizeof(pat)), 0);
	/* Straddling into PAM segment 0 (off: not RAM) fails whole, nothing written. */
	ck_assert_int_eq(mem_write(f->smm, 0xBFFFE, "\xAA\xAA\xAA\xAA", 4), -EFAULT);
	ck_assert_uint_eq(f->ram->host[0xBFFFE], 0x33);

	/* D_OPEN: the same DRAM in the system view; SMM is told nothing. */
	clear(f);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), 0);
	ck_assert_uint_eq(f->tm.n, 0);
	assert_calls_within(&f->ts, PC_VGA_START, 128 * KiB);
	ck_assert_int_eq(mem_read(f->s, PC_VGA_START, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, pat, sizeof(pat));
	/* Close again: SMM still sees it, the system does not. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	ck_assert_int_eq(mem_read(f->smm, PC_VGA_START, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(buf, pat, sizeof(pat));
	ck_assert_int_eq(mem_read(f->s, PC_VGA_START, buf, sizeof(buf)), -EFAULT);
	/* D_CLS is ignored: SMM still sees DRAM. */
	clear(f);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x2A), 0);
	ck_assert_uint_eq(f->ts.n + f->tm.n, 0);
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), 0x11);
	/* H_SMRAME moves SMRAM high (unmapped): the window is VGA in both. */
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, PC_ESMRAMC_H_SMRAME), 0);
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), 0xFF);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0), 0);
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), 0x11);
	/* D_LCK: the system view is locked out, SMM keeps its SMRAM. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x5A), 0);
	ck_assert_uint_eq(f->pc->smram, 0x1A);
	ck_assert_uint_eq(rd(f->s, PC_VGA_START), 0xFF);
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), 0x11);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x00), 0); /* ignored while locked */
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), 0x11);
	/* Reset: VGA in both again. */
	clear(f);
	ck_assert_int_eq(pc_mem_reset(f->pc), 0);
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), 0xFF);
	assert_nothing_above_1m(&f->ts);
	assert_nothing_above_1m(&f->tm);
	assert_views_identical(f->s, f->smm);
	ck_assert(mem_trace_matches_view(&f->ts, f->s));
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	pcfx_free(f);
}
END_TEST

START_TEST(test_tseg_smm_sees_dram)
{
	struct pcfx *f = pcfx_new(512 * MiB);
	static const uint64_t sizes[4] = { 1 * MiB, 2 * MiB, 8 * MiB, 0 };
	uint64_t top = f->l.below_4g, lo = top - PC_TSEG_MAX;
	unsigned sz;

	f->ram->host[top - 1] = 0x77;
	f->ram->host[lo] = 0x66;
	ck_assert_int_eq(pc_mem_smram_write(f->pc, PC_SMRAM_G_SMRAME), 0);
	clear(f);
	for (sz = 0; sz < 4; sz++) {
		uint64_t hidden = sizes[sz];
		uint8_t buf;

		ck_assert_int_eq(pc_mem_esmramc_write(f->pc, (uint8_t)(sz << 1 | 1)), 0);
		/* System: blackhole over exactly the top TSEG_SZ. SMM: always DRAM. */
		ck_assert_uint_eq(rd(f->s, top - 1), hidden ? 0xFF : 0x77);
		ck_assert_uint_eq(rd(f->smm, top - 1), 0x77);
		ck_assert_uint_eq(rd(f->s, lo), hidden == 8 * MiB ? 0xFF : 0x66);
		ck_assert_uint_eq(rd(f->smm, lo), 0x66);
		if (hidden) {
			ck_assert_int_eq(mem_read(f->s, top - hidden, &buf, 1), -EFAULT);
			ck_assert_int_eq(mem_read(f->smm, top - hidden, &buf, 1), 0);
			buf = 0x5A;
			ck_assert_int_eq(mem_write(f->smm, top - hidden + 1, &buf, 1), 0);
			ck_assert_uint_eq(f->ram->host[top - hidden + 1], 0x5A);
			ck_assert_int_eq(mem_write(f->s, top - hidden + 1, &buf, 1), -EFAULT);
			assert_dram_at(f->smm, top - hidden, hidden > 2 * MiB ? 6 * MiB : 1 * MiB);
		}
		ck_assert_int_eq(pc_mem_esmramc_write(f->pc, (uint8_t)(sz << 1)), 0);
		ck_assert_uint_eq(rd(f->s, top - 1), 0x77);
	}
	/* ESMRAMC touches only TSEG in the system view, and SMM's picture never changes. */
	ck_assert_uint_gt(f->ts.n, 0);
	assert_calls_within(&f->ts, lo, PC_TSEG_MAX);
	ck_assert_uint_eq(f->tm.n, 0);
	/* Without G_SMRAME, T_EN hides nothing: the system sees DRAM too. */
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x05), 0);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x02), 0);
	ck_assert_uint_eq(rd(f->s, lo), 0x66);
	assert_views_identical(f->s, f->smm);
	ck_assert(mem_trace_matches_view(&f->ts, f->s));
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	pcfx_free(f);
}
END_TEST

static void pam_reg_for(const struct pcfx *f, unsigned seg, unsigned mode, unsigned *reg,
			uint8_t *val)
{
	unsigned lo, hi;

	if (seg == 12) {
		*reg = 0;
		*val = (uint8_t)(mode << 4);
		return;
	}
	*reg = seg / 2 + 1;
	lo = seg % 2 == 0 ? mode : f->pc->pam[seg - 1].mode;
	hi = seg % 2 == 1 ? mode : f->pc->pam[seg + 1].mode;
	*val = (uint8_t)(lo | hi << 4);
}

static void set_mode(struct pcfx *f, unsigned seg, unsigned mode)
{
	unsigned reg;
	uint8_t val;

	pam_reg_for(f, seg, mode, &reg, &val);
	ck_assert_int_eq(pc_mem_pam_write(f->pc, reg, val), 0);
	ck_assert_uint_eq(f->pc->pam[seg].mode, mode);
}

/* I1 in both spaces: PAM, SMRAM and ESMRAMC never reach RAM at or above 1 MiB. */
START_TEST(test_i1_both_spaces)
{
	struct pcfx *f = pcfx_new(512 * MiB);
	uint64_t top = f->l.below_4g, lo = top - PC_TSEG_MAX;
	unsigned seg, from, to, v, e;

	for (seg = 0; seg < PC_PAM_SEGMENTS; seg++) {
		const struct pc_pam_seg *s = &f->pc->pam[seg];

		for (from = 0; from < 4; from++) {
			for (to = 0; to < 4; to++) {
				set_mode(f, seg, from);
				clear(f);
				set_mode(f, seg, to);
				if (from == to) {
					ck_assert_uint_eq(f->ts.n + f->tm.n, 0);
					continue;
				}
				/* The same segment changes in both spaces, and only it. */
				ck_assert_uint_ge(f->ts.n, 2);
				ck_assert_uint_eq(f->tm.n, f->ts.n);
				assert_calls_within(&f->ts, s->start, s->size);
				assert_calls_within(&f->tm, s->start, s->size);
			}
		}
		set_mode(f, seg, PAM_OFF);
	}
	/* Every SMRAM byte from every SMRAM byte (the lock reset in between). */
	clear(f);
	for (v = 0; v < 256; v++) {
		for (e = 0; e < 256; e += 17) {
			ck_assert_int_eq(pc_mem_reset(f->pc), 0);
			ck_assert_int_eq(pc_mem_esmramc_write(f->pc, (uint8_t)e), 0);
			ck_assert_int_eq(pc_mem_smram_write(f->pc, (uint8_t)v), 0);
			ck_assert_int_eq(pc_mem_smram_write(f->pc, (uint8_t)(v ^ 0x4A)), 0);
			ck_assert_int_eq(pc_mem_esmramc_write(f->pc, (uint8_t)(e ^ 0x87)), 0);
			/* Only the window and the TSEG pieces, in both spaces. */
			for (unsigned i = 0; i < f->ts.n; i++)
				ck_assert(range_within(f->ts.log[i].gpa, f->ts.log[i].size,
						       PC_VGA_START, 128 * KiB) ||
					  range_within(f->ts.log[i].gpa, f->ts.log[i].size, lo,
						       PC_TSEG_MAX));
			ck_assert_uint_eq(mem_trace_count_in(&f->tm, PC_HIGH_START,
							     UINT64_MAX - PC_HIGH_START), 0);
			clear(f);
		}
	}
	/* I1 proper: SMRAM writes alone never reach 1 MiB in either space. */
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x05), 0);
	clear(f);
	for (v = 0; v < 256; v++) {
		ck_assert_int_eq(pc_mem_reset(f->pc), 0);
		ck_assert_int_eq(pc_mem_smram_write(f->pc, (uint8_t)v), 0);
		assert_calls_within(&f->tm, PC_VGA_START, 128 * KiB);
		ck_assert_uint_eq(mem_trace_count_in(&f->ts, PC_HIGH_START, lo - PC_HIGH_START), 0);
		ck_assert_uint_eq(mem_trace_count_in(&f->ts, top, UINT64_MAX - top), 0);
		clear(f);
	}
	ck_assert(mem_trace_matches_view(&f->ts, f->s));
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	pcfx_free(f);
}
END_TEST

/* A failing SMM listener fails the register write; both views stay as they were. */
START_TEST(test_smm_listener_failure)
{
	struct pcfx *f = pcfx_new(256 * MiB);
	struct mem_flat_view *vs, *vm, *ns, *nm;
	unsigned k;

	for (k = 1; k <= 2; k++) {
		vs = mem_view_get(f->s);
		vm = mem_view_get(f->smm);
		/* PAM: the system view is told first, then SMM fails (1st or 2nd call). */
		f->tm.fail_at = f->tm.total + k;
		ck_assert_int_eq(pc_mem_pam_write(f->pc, 1, 0x33), -EIO);
		ck_assert_uint_eq(f->pc->pam[0].mode, PAM_OFF);
		ck_assert_uint_eq(f->pc->pam[1].mode, PAM_OFF);
		ck_assert_uint_eq(f->pc->pam_regs[1], 0);
		/* SMRAM: G_SMRAME changes only the SMM view; its failure fails the write. */
		f->tm.fail_at = f->tm.total + k;
		ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), -EIO);
		ck_assert_uint_eq(f->pc->smram, 0x02);
		ck_assert(!f->pc->smm_window.enabled);
		f->tm.fail_at = 0;
		ns = mem_view_get(f->s);
		nm = mem_view_get(f->smm);
		ck_assert_ptr_eq(ns, vs);
		ck_assert_ptr_eq(nm, vm);
		mem_flat_view_put(ns);
		mem_flat_view_put(nm);
		mem_flat_view_put(vs);
		mem_flat_view_put(vm);
		ck_assert(mem_trace_matches_view(&f->ts, f->s));
		ck_assert(mem_trace_matches_view(&f->tm, f->smm));
		ck_assert_uint_eq(rd(f->s, 0xC0000), 0xFF);
		ck_assert_uint_eq(rd(f->smm, 0xC0000), 0xFF);
	}
	/* A failing system listener: SMM is never told. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	clear(f);
	f->ts.fail_at = f->ts.total + 1;
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x4A), -EIO);
	ck_assert_uint_eq(f->tm.n, 0);
	ck_assert_uint_eq(f->pc->smram, 0x0A);
	f->ts.fail_at = 0;
	/* Everything works afterwards. */
	ck_assert_int_eq(pc_mem_pam_write(f->pc, 1, 0x33), 0);
	ck_assert_uint_eq(rd(f->smm, 0xC0000), DRAM_BYTE);
	ck_assert_uint_eq(rd(f->s, 0xC0000), DRAM_BYTE);
	ck_assert_int_eq(pc_mem_reset(f->pc), 0);
	assert_views_identical(f->s, f->smm);
	ck_assert(mem_trace_matches_view(&f->ts, f->s));
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	pcfx_free(f);
}
END_TEST

START_TEST(test_build_smm_validation)
{
	struct pcfx *f = pcfx_new(8 * MiB); /* no TSEG in so small a guest */
	struct mem_space *x = calloc(1, sizeof(*x));
	struct pc_mem *unbuilt = calloc(1, sizeof(*unbuilt));
	unsigned nr;

	ck_assert(x && unbuilt);
	ck_assert(!f->pc->has_tseg);
	ck_assert_int_eq(mem_space_init(x, "x"), 0);
	ck_assert_int_eq(pc_mem_build_smm(NULL, x), -EINVAL);
	ck_assert_int_eq(pc_mem_build_smm(f->pc, NULL), -EINVAL);
	ck_assert_int_eq(pc_mem_build_smm(unbuilt, x), -EINVAL);
	ck_assert_int_eq(pc_mem_build_smm(f->pc, f->s), -EINVAL);
	ck_assert_int_eq(pc_mem_build_smm(f->pc, x), -EBUSY); /* already has one */
	ck_assert(x->leader == NULL);
	mem_space_destroy(x);
	free(x);
	free(unbuilt);

	/* No TSEG: ESMRAMC changes nothing in either space; SMRAM still works. */
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	ck_assert_int_eq(pc_mem_esmramc_write(f->pc, 0x05), 0);
	ck_assert_uint_eq(f->ts.n, 0);
	ck_assert_uint_gt(f->tm.n, 0);
	assert_calls_within(&f->tm, PC_VGA_START, 128 * KiB);
	ck_assert_uint_eq(rd(f->smm, PC_VGA_START), DRAM_BYTE);
	ck_assert_uint_eq(rd(f->smm, 8 * MiB - 1), 0);
	pcfx_free(f);

	/*
	 * A build whose SMM listener fails in the overlay commit (after the
	 * follow's adds went through) leaves nothing behind and can be retried.
	 * G_SMRAME is set before the build, so the build itself changes the window.
	 */
	f = pcfx_new_opt(64 * MiB, false);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	nr = f->s->view->nr;
	f->tm.fail_at = f->tm.total + nr + 1;
	ck_assert_int_eq(pc_mem_build_smm(f->pc, f->smm), -EIO);
	f->tm.fail_at = 0;
	ck_assert_uint_eq(f->tm.adds, nr);
	ck_assert_uint_eq(f->tm.dels, nr); /* the unfollow took them back */
	ck_assert_ptr_null(f->pc->smm);
	ck_assert(f->smm->leader == NULL && f->s->followers == NULL);
	ck_assert(f->pc->smm_window.parent == NULL);
	ck_assert_uint_eq(f->smm->view->nr, 0);
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	/* The system view never noticed. */
	ck_assert_uint_eq(f->ts.n, 0);
	ck_assert_uint_eq(rd(f->s, PC_VGA_START), 0xFF);
	/* A failing follow itself (the first add) also leaves nothing. */
	f->tm.fail_at = f->tm.total + 1;
	ck_assert_int_eq(pc_mem_build_smm(f->pc, f->smm), -EIO);
	f->tm.fail_at = 0;
	ck_assert_ptr_null(f->pc->smm);
	ck_assert(f->smm->leader == NULL);
	/* Retry works, and the SMM view reflects the registers as they are. */
	ck_assert_int_eq(pc_mem_build_smm(f->pc, f->smm), 0);
	ck_assert_ptr_eq(f->pc->smm, f->smm);
	assert_dram_at(f->smm, PC_VGA_START, 128 * KiB);
	ck_assert_uint_eq(rd(f->s, PC_VGA_START), 0xFF);
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	ck_assert(mem_trace_matches_view(&f->ts, f->s));
	pcfx_free(f);
}
END_TEST

/* Teardown in either order with the PC view built (ASan: no use after free). */
START_TEST(test_pc_destroy_orders)
{
	struct pcfx *f = pcfx_new(64 * MiB);

	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	mem_listener_unregister(f->smm, &f->tm.l);
	mem_space_destroy(f->smm);
	free(f->smm);
	f->smm = NULL;
	ck_assert(f->s->followers == NULL);
	pcfx_free(f);

	f = pcfx_new(64 * MiB);
	ck_assert_int_eq(pc_mem_smram_write(f->pc, 0x0A), 0);
	mem_listener_unregister(f->s, &f->ts.l);
	mem_space_destroy(f->s);
	free(f->s);
	f->s = NULL;
	ck_assert(f->smm->leader == NULL);
	/* The SMM view's own overlays are still rendered by its next commit. */
	ck_assert_int_eq(mem_region_set_enabled(&f->pc->smm_window, false), 0);
	ck_assert(mem_trace_matches_view(&f->tm, f->smm));
	pcfx_free(f);
}
END_TEST

static Suite *smm_suite(void)
{
	Suite *s = suite_create("smm");
	TCase *tg = tcase_create("follow");
	TCase *tp = tcase_create("pc");

	tcase_set_timeout(tg, 120);
	tcase_add_test(tg, test_follow_shows_leader_and_overlays);
	tcase_add_test(tg, test_group_transaction);
	tcase_add_test(tg, test_group_rollback);
	tcase_add_test(tg, test_follow_validation);
	tcase_add_test(tg, test_unfollow);
	tcase_add_test(tg, test_destroy_orders);
	tcase_add_test(tg, test_two_threads);
	suite_add_tcase(s, tg);

	tcase_set_timeout(tp, 300);
	tcase_add_test(tp, test_smm_view_equals_system_except_windows);
	tcase_add_test(tp, test_smram_closed_smm_sees_dram);
	tcase_add_test(tp, test_tseg_smm_sees_dram);
	tcase_add_test(tp, test_i1_both_spaces);
	tcase_add_test(tp, test_smm_listener_failure);
	tcase_add_test(tp, test_build_smm_validation);
	tcase_add_test(tp, test_pc_destroy_orders);
	suite_add_tcase(s, tp);
	return s;
}

UNIT_MAIN(smm_suite);
