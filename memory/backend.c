/*
 * memory/backend.c - guest RAM backends.
 *
 * A backend is anonymous private memory, mapped MAP_NORESERVE and untouched
 * so that a 1 TiB guest costs no host memory until the guest writes to it,
 * and madvise(MADV_HUGEPAGE)d so that the host backs it with transparent huge
 * pages where it can (the default on Debian: THP "always" or "madvise"). That
 * matters most under nested virtualization: every 4 KiB page the guest first
 * touches is a host page fault plus a nested-paging fault, and with 2 MiB
 * pages the guest's early boot, which touches most of its RAM, makes 512
 * times fewer of them (bench/boot.sh, Linux to /init and power-off: 18.5 s
 * on a memfd, 16.7 s now, QEMU microvm 19.2 s in the same run; bench/dd.sh
 * counted ~87k stage-2 faults for a 256 MiB read on a memfd against QEMU's
 * ~730 on THP-backed anonymous RAM). It also gives VFIO type1
 * physically contiguous runs to pin. A memfd (MAP_SHARED, as vhost-user
 * would need) gets no huge pages unless the host turns shmem THP on, which
 * Debian does not; no user of an fd exists yet (VFIO maps by address).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "memory/memory.h"

#define MEM_HUGE_SIZE (2ULL << 20)

/*
 * Map b->size bytes of anonymous memory at a 2 MiB-aligned address when the
 * size allows huge pages at all. KVM maps a guest range with a 2 MiB page only
 * where host and guest addresses agree modulo 2 MiB, and Linux 6.1 does not
 * align anonymous mappings by itself (a helper measured it: unaligned, the
 * guest's page cache still took ~87k 4 KiB stage-2 faults for 256 MiB read).
 * So: reserve 2 MiB more, keep the aligned middle, unmap the rest.
 */
static int mem_backend_map(struct mem_backend *b)
{
	const int prot = PROT_READ | PROT_WRITE;
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint8_t *raw, *start;
	uint64_t head, tail;

	/* (mem_backend_create capped the size at INT64_MAX: size + 2 MiB cannot wrap) */
	if (b->size < MEM_HUGE_SIZE) {
		b->host = mmap(NULL, b->size, prot, flags, -1, 0);
		return b->host == MAP_FAILED ? -errno : 0;
	}
	raw = mmap(NULL, b->size + MEM_HUGE_SIZE, prot, flags, -1, 0);
	if (raw == MAP_FAILED)
		return -errno;
	start = (uint8_t *)(((uintptr_t)raw + MEM_HUGE_SIZE - 1) & ~(uintptr_t)(MEM_HUGE_SIZE - 1));
	head = (uint64_t)(start - raw);
	tail = MEM_HUGE_SIZE - head;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap(start + b->size, tail);
	b->host = start;
	/*
	 * Huge pages where the host has THP (see above); a refusal is not an error.
	 * The first 2 MiB stay small pages: at the start of guest RAM they hold the
	 * real-mode area, boot structures and firmware data, touched sparsely, and a
	 * tiny guest would otherwise pay 2 MiB of RSS for a few pages there.
	 */
	(void)madvise(b->host, MEM_HUGE_SIZE, MADV_NOHUGEPAGE);
	if (b->size > MEM_HUGE_SIZE)
		(void)madvise(b->host + MEM_HUGE_SIZE, b->size - MEM_HUGE_SIZE, MADV_HUGEPAGE);
	return 0;
}

int mem_backend_create(struct mem_backend **out, const char *name, uint64_t size)
{
	struct mem_backend *b;
	long page = sysconf(_SC_PAGESIZE);
	int ret;

	if (!out || !name)
		return -EINVAL;
	*out = NULL;
	if (page <= 0)
		page = 4096;
	/* page-sized, and small enough for every offset to fit an off_t */
	if (size == 0 || size % (uint64_t)page || size > (uint64_t)INT64_MAX)
		return -EINVAL;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->size = size;
	b->host = MAP_FAILED;

	b->fd = -1;
	ret = mem_backend_map(b);
	if (ret)
		goto err_free;
	*out = b;
	return 0;

err_free:
	log_error("memory backend %s (%llu bytes): %s", b->name, (unsigned long long)size,
		  strerror(-ret));
	free(b);
	return ret;
}

void mem_backend_destroy(struct mem_backend *b)
{
	if (!b)
		return;
	if (b->host && b->host != MAP_FAILED)
		munmap(b->host, b->size);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}
