/*
 * devices/fdout.h - byte output from a device model to a host fd (the 8250
 * console, the debugcon).
 *
 * Contract
 * - Used by devices only; the fd belongs to the caller (vmm/), which chose its
 *   blocking mode: this module never changes the fd's flags or closes it.
 * - fd < 0 discards. EINTR is retried. EAGAIN waits in poll() for at most
 *   FDOUT_STALL_MS, then drops the rest and marks the output stalled: while
 *   stalled, writes try once without waiting, until one gets through. So a
 *   console nobody reads costs one bounded wait, never a stuck vCPU.
 * - Other errors drop the bytes: a guest's console output has nobody to
 *   report a failure to.
 * - Not locked: the owning device serialises calls.
 */
#ifndef VMM_DEVICES_FDOUT_H
#define VMM_DEVICES_FDOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDOUT_STALL_MS 1000

struct fdout {
	int fd;
	bool stalled;
};

static inline void fdout_init(struct fdout *o, int fd)
{
	o->fd = fd;
	o->stalled = false;
}

/* Returns the number of bytes written (< len when some were dropped). */
size_t fdout_write(struct fdout *o, const uint8_t *buf, size_t len);

#endif
