/*
 * vmm/memslots.h - the KVM memslot listener: turns RAM ranges of the flat
 * view into KVM_SET_USER_MEMORY_REGION calls and owns slot numbers.
 *
 * Contract: registered on the VM's mem_space by the machine. With vm_fd < 0
 * it runs dry (assigns slots, makes no ioctl): --memory-map uses that to
 * show the memslots the guest would get. Every call is counted and, when a
 * trace file is set, logged as
 *   add|del slot=N gpa=0x... size=0x... flags=rw|ro
 * Errors: -ENOSPC when slots run out, or the ioctl's -errno.
 */
#ifndef VMM_VMM_MEMSLOTS_H
#define VMM_VMM_MEMSLOTS_H

#include <stdio.h>

#include "memory/memory.h"

struct memslot {
	bool used;
	uint64_t gpa, size;
	void *hva;
	bool readonly;
	char name[40];
};

struct memslots {
	struct mem_listener listener;
	int vm_fd;
	unsigned max;
	unsigned hw;            /* slots at or above this were never used */
	struct memslot *slots;
	FILE *trace;            /* not owned */
	pthread_mutex_t trace_lock;
	uint64_t adds, dels;
	unsigned as_id;         /* KVM address space: 0 normal, 1 SMM (trace flag ",smm") */
};

int memslots_init(struct memslots *ms, int vm_fd, unsigned max_slots, FILE *trace) WUR;
void memslots_destroy(struct memslots *ms);
/* Use KVM address space @as_id (slot field (as_id << 16) | n); before registering. */
void memslots_set_as(struct memslots *ms, unsigned as_id);
/*
 * Teardown: from now on the listener only does its bookkeeping, with no
 * ioctl and no trace line. Closing the VM fd frees every slot at once, so a
 * trace ends with the guest's last real change, not with the teardown.
 */
void memslots_detach(struct memslots *ms);
void memslots_trace_line(struct memslots *ms, const char *line);
void memslots_print(const struct memslots *ms, FILE *f);

#endif
