/*
 * devices/debugport.c - debugcon, isa-debug-exit, POST code and the ICH9
 * reset control register (see debugport.h for the contract).
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "devices/debugport.h"

#define RCR_SYS_RST  0x02 /* 1 = hard reset, 0 = soft (INIT) */
#define RCR_RST_CPU  0x04 /* 0 -> 1 starts the reset */
#define RCR_FULL_RST 0x08 /* power-cycle */
#define RCR_KEEP     (RCR_SYS_RST | RCR_FULL_RST)

static int debugport_con_read(void *opaque UNUSED, uint64_t off UNUSED, unsigned size UNUSED,
			      uint64_t *val)
{
	/* QEMU's debugcon reads back 0xE9 so firmware can detect it. */
	*val = DEBUGPORT_CON_READBACK;
	return 0;
}

static int debugport_con_write(void *opaque, uint64_t off UNUSED, unsigned size UNUSED,
			       uint64_t val)
{
	struct debugport *d = opaque;
	uint8_t b = (uint8_t)val;

	/* Under the lock so bytes from two vCPUs don't interleave mid-retry. */
	pthread_mutex_lock(&d->lock);
	fdout_write(&d->con, &b, 1);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

const struct access_ops debugport_con_ops = {
	.read = debugport_con_read,
	.write = debugport_con_write,
	.min_size = 1,
	.max_size = 1,
};

static int debugport_ones_read(void *opaque UNUSED, uint64_t off UNUSED, unsigned size,
			       uint64_t *val)
{
	*val = access_ones(size);
	return 0;
}

static int debugport_exit_write(void *opaque, uint64_t off UNUSED, unsigned size UNUSED,
				uint64_t val)
{
	struct debugport *d = opaque;
	/* In 32 bits as QEMU does; only the low 8 bits survive exit() anyway. */
	int status = (int)(((uint32_t)val << 1) | 1);

	if (d->exit)
		d->exit(d->opaque, status);
	return 0;
}

const struct access_ops debugport_exit_ops = {
	.read = debugport_ones_read,
	.write = debugport_exit_write,
	.min_size = 1,
	.max_size = 4,
};

static int debugport_post_write(void *opaque, uint64_t off UNUSED, unsigned size UNUSED,
				uint64_t val)
{
	struct debugport *d = opaque;

	pthread_mutex_lock(&d->lock);
	d->post = (uint8_t)val;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

const struct access_ops debugport_post_ops = {
	.read = debugport_ones_read,
	.write = debugport_post_write,
	.min_size = 1,
	.max_size = 1,
};

static int debugport_rcr_read(void *opaque, uint64_t off UNUSED, unsigned size UNUSED,
			      uint64_t *val)
{
	struct debugport *d = opaque;

	pthread_mutex_lock(&d->lock);
	*val = d->rcr;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int debugport_rcr_write(void *opaque, uint64_t off UNUSED, unsigned size UNUSED,
			       uint64_t val)
{
	struct debugport *d = opaque;
	bool reset;

	pthread_mutex_lock(&d->lock);
	/*
	 * RST_CPU is never stored (it clears once the reset is under way), so
	 * every write with it set is a 0 -> 1 transition. SYS_RST/FULL_RST from
	 * this write or the previous one only pick hard vs soft vs power cycle,
	 * which all end the same way here.
	 */
	reset = val & RCR_RST_CPU;
	d->rcr = (uint8_t)val & RCR_KEEP;
	pthread_mutex_unlock(&d->lock);

	if (reset && d->reset)
		d->reset(d->opaque);
	return 0;
}

const struct access_ops debugport_rcr_ops = {
	.read = debugport_rcr_read,
	.write = debugport_rcr_write,
	.min_size = 1,
	.max_size = 1,
};

uint8_t debugport_post_code(struct debugport *d)
{
	uint8_t v;

	pthread_mutex_lock(&d->lock);
	v = d->post;
	pthread_mutex_unlock(&d->lock);
	return v;
}

int debugport_init(struct debugport *d, int con_fd, void (*reset_fn)(void *opaque),
		   void (*exit_fn)(void *opaque, int status), void *opaque)
{
	int rc;

	memset(d, 0, sizeof(*d));
	rc = pthread_mutex_init(&d->lock, NULL);
	if (rc)
		return -rc;
	d->ready = true;
	fdout_init(&d->con, con_fd);
	d->reset = reset_fn;
	d->exit = exit_fn;
	d->opaque = opaque;
	return 0;
}

static const struct {
	uint16_t port, len;
	const struct access_ops *ops;
	const char *name;
} debugport_map[] = {
	{ DEBUGPORT_CON_PORT, DEBUGPORT_CON_LEN, &debugport_con_ops, "debugcon" },
	{ DEBUGPORT_EXIT_PORT, DEBUGPORT_EXIT_LEN, &debugport_exit_ops, "debug-exit" },
	{ DEBUGPORT_POST_PORT, DEBUGPORT_POST_LEN, &debugport_post_ops, "post" },
	{ DEBUGPORT_RCR_PORT, DEBUGPORT_RCR_LEN, &debugport_rcr_ops, "reset-control" },
};

int debugport_register(struct debugport *d, struct iobus *bus)
{
	unsigned i;
	int rc = 0;

	for (i = 0; i < ARRAY_SIZE(debugport_map); i++) {
		rc = iobus_register(bus, debugport_map[i].port, debugport_map[i].len,
				    debugport_map[i].ops, d, debugport_map[i].name);
		if (rc)
			goto unwind;
	}
	return 0;

unwind:
	while (i--) {
		/* Registered just above by us: failing here would be a bus bug. */
		if (iobus_unregister(bus, debugport_map[i].port, d))
			log_warn("debugport: cannot unregister port 0x%x", debugport_map[i].port);
	}
	return rc;
}

void debugport_destroy(struct debugport *d)
{
	if (!d->ready)
		return;
	pthread_mutex_destroy(&d->lock);
	d->ready = false;
}
