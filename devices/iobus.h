/*
 * devices/iobus.h - the port I/O bus: a registry of {range, ops, opaque}.
 *
 * Contract
 * - Owned by struct vm (one per VM, no globals). Devices register at setup
 *   and PCI I/O BARs register/unregister at run time.
 * - iobus_register() refuses zero length, wraparound and overlap (-EINVAL,
 *   -EEXIST). Dispatch checks width (access_width_ok) and that the access
 *   lies inside the range before the handler runs.
 * - An access nobody claims reads all-ones and drops writes, and returns
 *   -ENOENT so the caller may log it; it never fails the VM.
 * - Thread-safe: dispatch from any vCPU thread, concurrent with register.
 */
#ifndef VMM_DEVICES_IOBUS_H
#define VMM_DEVICES_IOBUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"

struct iobus_range {
	uint64_t base, len;
	const struct access_ops *ops;
	void *opaque;
	char name[24];
};

struct iobus {
	pthread_rwlock_t lock;
	struct iobus_range *ranges; /* sorted by base */
	unsigned nr, cap;
	uint64_t unclaimed;         /* accesses nobody claimed, for tests */
};

int iobus_init(struct iobus *bus) WUR;
void iobus_destroy(struct iobus *bus);
int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, const struct access_ops *ops,
		   void *opaque, const char *name) WUR;
int iobus_unregister(struct iobus *bus, uint64_t base, void *opaque) WUR;
int iobus_dispatch(struct iobus *bus, uint64_t addr, unsigned size, bool is_write, uint64_t *val);

#endif
