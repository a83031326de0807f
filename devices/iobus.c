/*
 * devices/iobus.c - the port I/O bus: a sorted array of ranges, searched
 * with a binary search under a rwlock (see iobus.h for the contract).
 *
 * Locking: dispatch looks the range up under the read lock, copies
 * {ops, opaque, base} and calls the handler after dropping the lock. Holding
 * the lock across the handler would deadlock as soon as a handler changes the
 * bus itself (a PCI config write that moves an I/O BAR registers and
 * unregisters from inside the 0xCFC handler, on the same thread). The price:
 * a handler looked up just before iobus_unregister() returned may still run
 * once afterwards, so a device's opaque must stay valid until the vCPUs have
 * stopped, which is already how devices are torn down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/iobus.h"

int iobus_init(struct iobus *bus)
{
	pthread_rwlockattr_t attr;
	int rc;

	memset(bus, 0, sizeof(*bus));
	rc = pthread_rwlockattr_init(&attr);
	if (rc)
		return -rc;
	/*
	 * glibc's default lets a steady stream of vCPU reads starve a writer:
	 * a BAR move could wait for as long as the guest keeps doing I/O.
	 * Writers first is safe because no thread ever holds the read lock
	 * twice (handlers run without it).
	 */
	rc = pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (!rc)
		rc = pthread_rwlock_init(&bus->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return -rc;
}

void iobus_destroy(struct iobus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first range whose base is > @addr (0..nr). Caller holds the lock. */
static unsigned iobus_upper(const struct iobus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The range containing @addr, or NULL. Caller holds the lock. */
static const struct iobus_range *iobus_find(const struct iobus *bus, uint64_t addr)
{
	unsigned i = iobus_upper(bus, addr);
	const struct iobus_range *r;

	if (i == 0)
		return NULL;
	r = &bus->ranges[i - 1];
	return addr - r->base < r->len ? r : NULL;
}

static int iobus_grow(struct iobus *bus)
{
	unsigned cap = bus->cap ? bus->cap * 2 : 16;
	struct iobus_range *n;

	if (cap < bus->cap)
		return -ENOMEM;
	n = realloc(bus->ranges, (size_t)cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	bus->ranges = n;
	bus->cap = cap;
	return 0;
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, const struct access_ops *ops,
		   void *opaque, const char *name)
{
	struct iobus_range *r;
	unsigned i;
	int rc = 0;

	if (!ops || range_invalid(base, len))
		return -EINVAL;

	pthread_rwlock_wrlock(&bus->lock);
	i = iobus_upper(bus, base);
	/* Sorted and disjoint: only the neighbours on either side can overlap. */
	if (i > 0) {
		r = &bus->ranges[i - 1];
		if (ranges_overlap(base, len, r->base, r->len)) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (i < bus->nr) {
		r = &bus->ranges[i];
		if (ranges_overlap(base, len, r->base, r->len)) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (bus->nr == bus->cap) {
		rc = iobus_grow(bus);
		if (rc)
			goto out;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*r));
	r = &bus->ranges[i];
	r->base = base;
	r->len = len;
	r->ops = ops;
	r->opaque = opaque;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

int iobus_unregister(struct iobus *bus, uint64_t base, void *opaque)
{
	const struct iobus_range *r;
	unsigned i;
	int rc = 0;

	pthread_rwlock_wrlock(&bus->lock);
	r = iobus_find(bus, base);
	/* Exact base and owner: a stale caller must not remove someone else's range. */
	if (!r || r->base != base || r->opaque != opaque) {
		rc = -ENOENT;
		goto out;
	}
	i = (unsigned)(r - bus->ranges);
	memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->nr - i - 1) * sizeof(*r));
	bus->nr--;
out:
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

int iobus_dispatch(struct iobus *bus, uint64_t addr, unsigned size, bool is_write, uint64_t *val)
{
	const struct iobus_range *r;
	const struct access_ops *ops = NULL;
	void *opaque = NULL;
	uint64_t off = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&bus->lock);
	r = iobus_find(bus, addr);
	if (!r) {
		rc = -ENOENT;
	} else if (!access_width_ok(r->ops, size) || !range_within(addr, size, r->base, r->len)) {
		/* Claimed, but not at this width or it runs past the end. */
		rc = -EINVAL;
	} else {
		ops = r->ops;
		opaque = r->opaque;
		off = addr - r->base;
	}
	pthread_rwlock_unlock(&bus->lock);

	if (rc == -ENOENT)
		__atomic_fetch_add(&bus->unclaimed, 1, __ATOMIC_RELAXED);

	if (is_write) {
		if (!rc && ops->write)
			rc = ops->write(opaque, off, size, *val & access_ones(size));
		return rc;
	}

	*val = access_ones(size);
	if (!rc && ops->read) {
		uint64_t v = 0;

		rc = ops->read(opaque, off, size, &v);
		if (!rc)
			*val = v & access_ones(size);
	}
	return rc;
}
