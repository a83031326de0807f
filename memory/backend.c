/*
 * memory/backend.c - guest RAM backends.
 *
 * A backend is a memfd mapped MAP_SHARED|MAP_NORESERVE: shared so that the
 * same pages can be handed to vhost/VFIO by fd and never copied; NORESERVE
 * and untouched so that a 1 TiB guest costs no host memory until the guest
 * writes to it. memfd files are created without accounting (VM_NORESERVE),
 * so ftruncate() to a huge size is free as well.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "memory/memory.h"

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
	/* off_t is signed: refuse sizes ftruncate() cannot express. */
	if (size == 0 || size % (uint64_t)page || size > (uint64_t)INT64_MAX)
		return -EINVAL;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->size = size;
	b->host = MAP_FAILED;

	b->fd = memfd_create(b->name, MFD_CLOEXEC);
	if (b->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	if (ftruncate(b->fd, (off_t)size) < 0) {
		ret = -errno;
		goto err_close;
	}
	b->host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, b->fd, 0);
	if (b->host == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	/*
	 * Huge pages where the host allows them for shmem (shmem_enabled=advise
	 * or within_size): fewer TLB misses for the guest and, for VFIO, physically
	 * contiguous runs that type1 pins and maps as large IOMMU pages. Without
	 * that setting it changes nothing, so its failure is not an error.
	 */
	if (size >= (2u << 20))
		(void)madvise(b->host, size, MADV_HUGEPAGE);
	*out = b;
	return 0;

err_close:
	close(b->fd);
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
