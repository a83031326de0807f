/*
 * memory/memory.h - the memory engine: backends, the region tree, the flat
 * view, transactions and listeners, and bounds-checked guest memory access.
 *
 * Contract
 * - Owns: guest RAM backends (anonymous, MAP_NORESERVE, huge pages asked for,
 *   nothing touched up front), the region tree of one address space, its
 *   current flat view.
 * - Knows nothing of KVM, VFIO or devices: vmm/ and vfio/ attach listeners,
 *   devices/ hang MMIO regions with struct access_ops.
 * - Errors: functions return 0 or -errno (WUR). A listener that fails makes
 *   mem_commit() roll the tree and every listener back to the previous view
 *   and return that error.
 * - Threads: the tree is changed by one thread at a time under the space's
 *   lock (taken by begin/commit). Lookups (mem_dispatch, mem_read/write,
 *   mem_hva) are safe from any thread concurrently with a commit: they work on
 *   a reference-counted flat view.
 * - Followers (mem_space_follow): a space may show another space's whole tree
 *   under its own overlays (the SMM view shows the system view). A leader and
 *   its followers form one transaction group: see "followers" below.
 */
#ifndef VMM_MEMORY_MEMORY_H
#define VMM_MEMORY_MEMORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"

/* ---- backends ---------------------------------------------------------- */

struct mem_backend {
	char name[32];
	int fd;         /* -1: guest RAM is an anonymous mapping (no fd to share yet) */
	uint8_t *host;  /* mapping of the whole backend */
	uint64_t size;
	/*
	 * Device memory (a passthrough BAR's mmap): the guest reaches it through
	 * a memslot, but the VMM never copies to or from it (mem_read/mem_write/
	 * mem_hva refuse it: invariant I4) and it is never DMA-mapped.
	 */
	bool device;
};

/*
 * @size bytes of anonymous private memory, MAP_NORESERVE, with MADV_HUGEPAGE
 * from 2 MiB up; nothing is touched.
 */
int mem_backend_create(struct mem_backend **out, const char *name, uint64_t size) WUR;
void mem_backend_destroy(struct mem_backend *b);

/* ---- regions ----------------------------------------------------------- */

enum mem_region_type {
	MEM_REGION_RAM,       /* a slice of a backend */
	MEM_REGION_MMIO,      /* trapped: every access goes to ops */
	MEM_REGION_ALIAS,     /* a window onto another region at an offset */
	MEM_REGION_CONTAINER, /* holds prioritized subregions; holes show through */
};

struct mem_region {
	char name[40];
	enum mem_region_type type;
	uint64_t size;
	uint64_t addr;            /* offset inside the parent container */
	int priority;             /* higher wins where siblings overlap */
	bool enabled;             /* a disabled region renders as nothing */
	bool readonly;            /* RAM/alias: guest writes trap instead of landing */
	bool unmergeable;         /* never joined with a neighbour in the flat view */

	/* RAM */
	struct mem_backend *backend;
	uint64_t backend_off;
	/* MMIO, and the write side of a read-only RAM region (NULL: writes dropped) */
	const struct access_ops *ops;
	void *opaque;
	/* ALIAS */
	struct mem_region *alias;
	uint64_t alias_off;

	/* tree links, owned by the engine */
	struct mem_region *parent;
	struct mem_region *first_child, *next_sibling;
	struct mem_space *space;
};

/*
 * Initializers: fill a caller-owned region (caller keeps it alive while it
 * is in a tree). Names are copied, truncated to fit.
 */
void mem_region_init_ram(struct mem_region *r, const char *name, struct mem_backend *b,
			 uint64_t backend_off, uint64_t size);
void mem_region_init_mmio(struct mem_region *r, const char *name, uint64_t size,
			  const struct access_ops *ops, void *opaque);
void mem_region_init_alias(struct mem_region *r, const char *name, struct mem_region *target,
			   uint64_t alias_off, uint64_t size);
void mem_region_init_container(struct mem_region *r, const char *name, uint64_t size);

/*
 * Tree edits. Each may be called inside or outside a transaction; outside
 * one it is its own transaction. They validate: the child fits its parent
 * (no wrap), an alias window fits its target, a region is in one tree only.
 * A region in no space's tree (a container being filled, a region that is
 * only an alias target) changes at once and shows at the next commit of a
 * space that sees it; such edits are not rolled back. A transaction is
 * all-or-nothing: if an edit inside it cannot be journaled (-ENOMEM), the
 * outermost commit undoes the whole transaction and fails.
 */
int mem_region_add(struct mem_region *parent, struct mem_region *child, uint64_t addr,
		   int priority) WUR;
int mem_region_del(struct mem_region *child) WUR;
int mem_region_set_enabled(struct mem_region *r, bool enabled) WUR;
int mem_region_set_readonly(struct mem_region *r, bool readonly) WUR;
int mem_region_set_addr(struct mem_region *r, uint64_t addr) WUR;
int mem_region_set_alias_off(struct mem_region *r, uint64_t alias_off) WUR;
int mem_region_set_ops(struct mem_region *r, const struct access_ops *ops, void *opaque) WUR;
void mem_region_set_unmergeable(struct mem_region *r, bool unmergeable);

/* ---- flat view ----------------------------------------------------------- */

/* One range of the rendered address space. */
struct mem_flat_range {
	uint64_t gpa;
	uint64_t size;
	const struct mem_region *mr;  /* the terminal region (RAM or MMIO) */
	uint64_t offset_in_region;    /* of gpa inside mr */
	/* RAM only */
	struct mem_backend *backend;
	uint64_t backend_off;         /* of gpa inside backend */
	bool readonly;
	bool unmergeable;
	/* trapped accesses: MMIO, or writes to a read-only RAM range */
	const struct access_ops *ops;
	void *opaque;
};

static inline bool mem_range_is_ram(const struct mem_flat_range *fr)
{
	return fr->backend != NULL;
}

struct mem_flat_view {
	int refcount;
	unsigned nr;
	struct mem_flat_range *ranges; /* sorted by gpa, non-overlapping */
};

/* Pure function: render a tree into a new, simplified view (refcount 1). */
int mem_render(const struct mem_region *root, struct mem_flat_view **out) WUR;
void mem_flat_view_put(struct mem_flat_view *v);

/* ---- address spaces, transactions, listeners ----------------------------- */

struct mem_listener {
	/* Called on commit with ranges removed first, then ranges added. */
	int (*range_del)(struct mem_listener *l, const struct mem_flat_range *fr);
	int (*range_add)(struct mem_listener *l, const struct mem_flat_range *fr);
	struct mem_listener *next; /* owned by the engine */
};

struct mem_space {
	struct mem_region root;         /* container covering the whole 64-bit space */
	struct mem_flat_view *view;     /* current view; swap under view_lock */
	pthread_mutex_t view_lock;      /* guards the view pointer and refcounts */
	pthread_mutex_t tree_lock;      /* recursive: held from outermost begin to commit */
	unsigned depth;                 /* transaction nesting (a follower uses its leader's) */
	bool pending;                   /* a change was made in this transaction */
	struct mem_listener *listeners;
	void *journal;                  /* undo log of this transaction (engine-private) */
	uint64_t commits;               /* commits that rendered, for tests and benches */

	/* followers, engine-owned (see mem_space_follow) */
	struct mem_space *leader;       /* the space this one shows under its overlays */
	struct mem_space *followers;    /* spaces that show this one */
	struct mem_space *next_follower;
	struct mem_region follow_alias; /* in root at priority 0: the leader's root */
};

int mem_space_init(struct mem_space *s, const char *name) WUR;
/*
 * Regions are caller-owned and not touched; no listener is called. A
 * follower leaves its leader's list. A destroyed leader detaches its
 * followers: their trees lose the leader's alias silently (their views and
 * listeners keep the old ranges until their next commit, which deletes them).
 * Not concurrent with any other use of the spaces involved.
 */
void mem_space_destroy(struct mem_space *s);

/*
 * Begin/commit nest; only the outermost commit renders and notifies. For a
 * follower, begin takes the leader's tree lock first, then its own, and the
 * nesting depth is the group's: the outermost commit of either space
 * finishes the transaction of the whole group.
 */
void mem_begin(struct mem_space *s);
int mem_commit(struct mem_space *s) WUR;

/*
 * Followers: @follower shows @leader's whole tree (an alias of the leader's
 * root, [0, UINT64_MAX), at priority 0 in the follower's root) under the
 * follower's own regions, which should use priority >= 1 to win over it.
 *
 * - One transaction group: edits to the leader's or any follower's regions,
 *   in any mix and nesting, are finished by the group's outermost commit.
 *   It renders the leader (if it changed) and every follower (if it or the
 *   leader changed), diffs each against its current view and notifies the
 *   leader's listeners, then each follower's: a follower's listeners see
 *   only ranges that really changed in the follower's view (a PAM toggle
 *   gives calls in both spaces for that segment only).
 * - All or nothing: if any render or any listener of any space in the group
 *   fails, every call already made in the group is undone (newest first),
 *   every space's tree is rolled back, every view stays as it was, and the
 *   commit returns that error (so a follower's listener can make a leader's
 *   edit fail).
 * - Lock order: leader tree lock, then follower tree lock. Nobody takes a
 *   leader's lock while holding only a follower's.
 * - One level only: a leader cannot follow, a follower cannot lead.
 * - Call follow/unfollow outside any transaction of either space (-EBUSY).
 *   Follow renders the follower at once (its listeners get the leader's
 *   ranges); on failure nothing changed. Unfollow removes the alias (its
 *   listeners get range_del for the leader's ranges); on a listener failure
 *   it returns the error and stays a follower.
 */
int mem_space_follow(struct mem_space *follower, struct mem_space *leader) WUR;
int mem_space_unfollow(struct mem_space *follower) WUR;

/* Register: the listener is told range_add for every range of the current view. */
int mem_listener_register(struct mem_space *s, struct mem_listener *l) WUR;
/* Unregister: range_del for every range of the current view, then removed. */
void mem_listener_unregister(struct mem_space *s, struct mem_listener *l);

/* Take a reference to the current view (any thread). */
struct mem_flat_view *mem_view_get(struct mem_space *s);
/* Binary search; NULL when @gpa is in no range. */
const struct mem_flat_range *mem_view_find(const struct mem_flat_view *v, uint64_t gpa);

/* ---- accesses ------------------------------------------------------------ */

/*
 * Serve a trapped access (a KVM MMIO exit): width and range are checked,
 * then the range's ops run. Unassigned reads give all-ones, unassigned or
 * refused writes are dropped; both return -ENOENT/-EINVAL for the caller's
 * log, never crash. A write to read-only RAM goes to its ops or is dropped.
 */
int mem_dispatch(struct mem_space *s, uint64_t gpa, unsigned size, bool is_write,
		 uint64_t *val);

/*
 * Bounds-checked guest RAM access: succeeds only when [gpa, gpa+len) is all
 * RAM (it may span ranges) and none of it device memory; -EFAULT otherwise,
 * with nothing copied.
 * mem_write ignores the read-only flag (the VMM loading ROM images uses it).
 */
int mem_read(struct mem_space *s, uint64_t gpa, void *buf, uint64_t len) WUR;
int mem_write(struct mem_space *s, uint64_t gpa, const void *buf, uint64_t len) WUR;

/*
 * Host pointer for [gpa, gpa+len) when it lies inside one RAM range of the
 * current view (device memory excluded); NULL otherwise. The backend mapping lives as long as the
 * backend, so the pointer stays valid after the view changes.
 */
void *mem_hva(struct mem_space *s, uint64_t gpa, uint64_t len);

#endif
