#include <stdlib.h>
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/memslots.h"

static void memslots_trace(struct memslots *ms, const char *op, unsigned slot,
			   const struct memslot *s)
{
	if (!ms->trace)
		return;
	pthread_mutex_lock(&ms->trace_lock);
	fprintf(ms->trace, "%s slot=%u gpa=0x%llx size=0x%llx flags=%s%s\n", op,
		(ms->as_id << 16) | slot,
		(unsigned long long)s->gpa, (unsigned long long)s->size, s->readonly ? "ro" : "rw",
		ms->as_id ? ",smm" : "");
	fflush(ms->trace);
	pthread_mutex_unlock(&ms->trace_lock);
}

void memslots_trace_line(struct memslots *ms, const char *line)
{
	if (!ms->trace)
		return;
	pthread_mutex_lock(&ms->trace_lock);
	fprintf(ms->trace, "%s\n", line);
	fflush(ms->trace);
	pthread_mutex_unlock(&ms->trace_lock);
}

static int memslots_set(struct memslots *ms, unsigned slot, const struct memslot *s, bool add)
{
	struct kvm_userspace_memory_region r = {
		.slot = (ms->as_id << 16) | slot,
		.flags = s->readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = s->gpa,
		.memory_size = add ? s->size : 0,
		.userspace_addr = (uint64_t)(uintptr_t)s->hva,
	};

	if (ms->vm_fd < 0)
		return 0;
	return kvm_ioctl(ms->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

/* KVM maps whole pages only; a sub-page RAM range stays trapped (mem_dispatch serves it). */
static bool memslots_mappable(const struct mem_flat_range *fr)
{
	return mem_range_is_ram(fr) && !(fr->gpa & 4095) && !(fr->size & 4095);
}

static int memslots_add(struct mem_listener *l, const struct mem_flat_range *fr)
{
	struct memslots *ms = container_of(l, struct memslots, listener);
	struct memslot *s;
	unsigned i;
	int r;

	if (!memslots_mappable(fr))
		return 0;
	for (i = 0; i < ms->max && ms->slots[i].used; i++)
		;
	if (i >= ms->hw && i < ms->max)
		ms->hw = i + 1;
	if (i == ms->max) {
		log_error("out of KVM memslots (%u) mapping gpa 0x%llx", ms->max,
			  (unsigned long long)fr->gpa);
		return -ENOSPC;
	}
	s = &ms->slots[i];
	s->gpa = fr->gpa;
	s->size = fr->size;
	s->hva = fr->backend->host + fr->backend_off;
	s->readonly = fr->readonly;
	snprintf(s->name, sizeof(s->name), "%s", fr->mr ? fr->mr->name : "");
	r = memslots_set(ms, i, s, true);
	if (r)
		return r;
	s->used = true;
	ms->adds++;
	memslots_trace(ms, "add", i, s);
	return 0;
}

static int memslots_del(struct mem_listener *l, const struct mem_flat_range *fr)
{
	struct memslots *ms = container_of(l, struct memslots, listener);
	unsigned i;
	int r;

	if (!memslots_mappable(fr))
		return 0;
	for (i = 0; i < ms->hw; i++) {
		struct memslot *s = &ms->slots[i];

		if (!s->used || s->gpa != fr->gpa || s->size != fr->size)
			continue;
		r = memslots_set(ms, i, s, false);
		if (r)
			return r;
		s->used = false;
		ms->dels++;
		memslots_trace(ms, "del", i, s);
		return 0;
	}
	log_error("memslot for gpa 0x%llx size 0x%llx not found", (unsigned long long)fr->gpa,
		  (unsigned long long)fr->size);
	return -ENOENT;
}

int memslots_init(struct memslots *ms, int vm_fd, unsigned max_slots, FILE *trace)
{
	memset(ms, 0, sizeof(*ms));
	ms->slots = calloc(max_slots, sizeof(*ms->slots));
	if (!ms->slots)
		return -ENOMEM;
	ms->vm_fd = vm_fd;
	ms->max = max_slots;
	ms->trace = trace;
	ms->listener.range_add = memslots_add;
	ms->listener.range_del = memslots_del;
	pthread_mutex_init(&ms->trace_lock, NULL);
	return 0;
}

void memslots_set_as(struct memslots *ms, unsigned as_id)
{
	ms->as_id = as_id;
}

void memslots_detach(struct memslots *ms)
{
	pthread_mutex_lock(&ms->trace_lock);
	ms->vm_fd = -1;
	ms->trace = NULL;
	pthread_mutex_unlock(&ms->trace_lock);
}

void memslots_destroy(struct memslots *ms)
{
	if (!ms->slots)
		return;
	free(ms->slots);
	ms->slots = NULL;
	pthread_mutex_destroy(&ms->trace_lock);
}

void memslots_print(const struct memslots *ms, FILE *f)
{
	unsigned i;

	for (i = 0; i < ms->hw; i++) {
		const struct memslot *s = &ms->slots[i];

		if (!s->used)
			continue;
		fprintf(f, "memslot %3u  gpa 0x%016llx-0x%016llx  size %#14llx  %s  %s\n", i,
			(unsigned long long)s->gpa, (unsigned long long)(s->gpa + s->size - 1),
			(unsigned long long)s->size, s->readonly ? "ro" : "rw", s->name);
	}
}
