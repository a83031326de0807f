/*
 * devices/fdout.c - bounded byte output to a host fd (see fdout.h).
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "devices/fdout.h"

#define FDOUT_POLL_MS 10

size_t fdout_write(struct fdout *o, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	int waited_ms = o->stalled ? FDOUT_STALL_MS : 0;

	if (o->fd < 0)
		return 0;
	while (done < len) {
		ssize_t n = write(o->fd, buf + done, len - done);

		if (n > 0) {
			done += (size_t)n;
			o->stalled = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = o->fd, .events = POLLOUT };

			if (waited_ms >= FDOUT_STALL_MS) {
				o->stalled = true;
				break;
			}
			/* Charge a full slice even when poll returns early: the budget must end. */
			(void)poll(&p, 1, FDOUT_POLL_MS);
			waited_ms += FDOUT_POLL_MS;
			continue;
		}
		break;
	}
	return done;
}
