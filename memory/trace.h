/*
 * memory/trace.h - a listener that records what a commit tells listeners.
 *
 * Contract
 * - For tests, benches and debugging: it logs every range_add/range_del
 *   (gpa, size, readonly, RAM or not), counts them, and keeps a mirror of the
 *   ranges it holds, so a caller can prove an invariant ("no call above
 *   1 MiB") and check that after any commit or rollback the listener's
 *   picture equals the space's view.
 * - It can be told to fail its Nth call, to exercise rollback.
 * - Not thread-safe on its own; the space calls listeners under its lock.
 */
#ifndef VMM_MEMORY_TRACE_H
#define VMM_MEMORY_TRACE_H

#include "memory/memory.h"

struct mem_trace_call {
	bool add;
	uint64_t gpa, size;
	bool readonly, ram;
};

struct mem_trace {
	struct mem_listener l;
	struct mem_trace_call *log;    /* the first log_cap calls since the last clear */
	unsigned log_cap, n;
	uint64_t adds, dels;           /* successful calls since the last clear */
	uint64_t total;                /* every call ever made, failed ones included */
	uint64_t fail_at;              /* fail the call whose total is this; 0: never */
	int fail_err;                  /* the error to fail with (-EIO when 0) */
	struct mem_flat_range *mirror; /* ranges currently added, unordered */
	unsigned nm, mirror_cap;
	unsigned bad;                  /* deletes of unknown ranges, or allocation failures */
};

int mem_trace_init(struct mem_trace *t, unsigned log_cap) WUR;
void mem_trace_destroy(struct mem_trace *t);
/* Forget the log and counters (not the mirror: it is the listener's state). */
void mem_trace_clear(struct mem_trace *t);
/* true when the mirror holds exactly the ranges of @s's current view. */
bool mem_trace_matches_view(const struct mem_trace *t, struct mem_space *s);
/* Calls in the log that touch [start, start+len). */
unsigned mem_trace_count_in(const struct mem_trace *t, uint64_t start, uint64_t len);

#endif
