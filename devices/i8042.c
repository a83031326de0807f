/*
 * devices/i8042.c - PS/2 controller without devices behind it (see i8042.h).
 * Command and status bit facts from the 8042 / PS/2 controller references.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "devices/i8042.h"

/* Status register (read 0x64) */
#define STR_OBF     0x01 /* output buffer full: 0x60 has a byte */
#define STR_SYS     0x04 /* mirrors command byte bit 2 */
#define STR_CMD     0x08 /* last write was to 0x64 */
#define STR_UNLOCK  0x10 /* keyboard not inhibited by the key lock */
#define STR_AUXDATA 0x20 /* the byte in the output buffer came from aux */

/* Command byte */
#define CB_KBDINT 0x01
#define CB_SYS    0x04
#define CB_KBDDIS 0x10
#define CB_AUXDIS 0x20
#define CB_XLATE  0x40

/* Output port */
#define OUT_RESET 0x01 /* active low: 0 holds the CPU in reset */
#define OUT_A20   0x02

#define CMD_READ_CB     0x20
#define CMD_WRITE_CB    0x60
#define CMD_AUX_DISABLE 0xA7
#define CMD_AUX_ENABLE  0xA8
#define CMD_AUX_TEST    0xA9
#define CMD_SELF_TEST   0xAA
#define CMD_KBD_TEST    0xAB
#define CMD_KBD_DISABLE 0xAD
#define CMD_KBD_ENABLE  0xAE
#define CMD_READ_INPORT 0xC0
#define CMD_READ_OUTPORT  0xD0
#define CMD_WRITE_OUTPORT 0xD1
#define CMD_WRITE_KBD_OBUF 0xD2
#define CMD_WRITE_AUX_OBUF 0xD3
#define CMD_WRITE_AUX   0xD4
#define CMD_READ_TEST   0xE0
#define CMD_PULSE_BASE  0xF0 /* 0xF0-0xFF: bits 0-3 low = pulse that output line */

#define SELF_TEST_OK 0x55
#define INPORT_VALUE 0x80    /* bit 7: keyboard not inhibited */

static void i8042_push(struct i8042 *k, uint8_t b, bool aux)
{
	unsigned i;

	/* A real controller has one byte; a short queue only keeps replies in order. */
	if (k->ocount == I8042_OBUF)
		return;
	i = (k->ohead + k->ocount) % I8042_OBUF;
	k->obuf[i] = b;
	k->obuf_aux[i] = aux;
	k->ocount++;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t st = STR_UNLOCK;

	if (k->ocount) {
		st |= STR_OBF;
		if (k->obuf_aux[k->ohead])
			st |= STR_AUXDATA;
	}
	if (k->cmd_byte & CB_SYS)
		st |= STR_SYS;
	if (k->last_was_cmd)
		st |= STR_CMD;
	return st;
}

static int i8042_read(void *opaque, uint64_t off, unsigned size UNUSED, uint64_t *val)
{
	struct i8042 *k = opaque;

	pthread_mutex_lock(&k->lock);
	switch (off) {
	case I8042_DATA_OFF:
		if (k->ocount) {
			k->last_data = k->obuf[k->ohead];
			k->ohead = (k->ohead + 1) % I8042_OBUF;
			k->ocount--;
		}
		*val = k->last_data;
		break;
	case I8042_CMD_OFF:
		*val = i8042_status(k);
		break;
	default:
		*val = 0xFF;
		break;
	}
	pthread_mutex_unlock(&k->lock);
	return 0;
}

/* Returns true when the write pulls the reset line. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->last_was_cmd = true;
	k->pending = 0;
	switch (cmd) {
	case CMD_READ_CB:
		i8042_push(k, k->cmd_byte, false);
		break;
	case CMD_WRITE_CB:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		k->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		k->cmd_byte |= CB_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		k->cmd_byte &= ~CB_AUXDIS;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		i8042_push(k, 0x00, false); /* 0 = no clock/data line stuck */
		break;
	case CMD_SELF_TEST:
		k->cmd_byte |= CB_SYS; /* a passed self-test sets the system flag */
		i8042_push(k, SELF_TEST_OK, false);
		break;
	case CMD_KBD_DISABLE:
		k->cmd_byte |= CB_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		k->cmd_byte &= ~CB_KBDDIS;
		break;
	case CMD_READ_INPORT:
		i8042_push(k, INPORT_VALUE, false);
		break;
	case CMD_READ_OUTPORT:
		i8042_push(k, k->outport, false);
		break;
	case CMD_READ_TEST:
		i8042_push(k, 0x00, false);
		break;
	default:
		if (cmd >= CMD_PULSE_BASE)
			return !(cmd & OUT_RESET);
		/* Unknown or vendor commands: a real 8042 ignores them too. */
		break;
	}
	return false;
}

/* Returns true when the write pulls the reset line. */
static bool i8042_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->last_was_cmd = false;
	k->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CB:
		k->cmd_byte = v;
		break;
	case CMD_WRITE_OUTPORT:
		k->outport = v;
		return !(v & OUT_RESET);
	case CMD_WRITE_KBD_OBUF:
		i8042_push(k, v, false);
		break;
	case CMD_WRITE_AUX_OBUF:
		i8042_push(k, v, true);
		break;
	default:
		/* To the keyboard (none) or to the mouse via 0xD4 (none): no answer. */
		break;
	}
	return false;
}

static int i8042_write(void *opaque, uint64_t off, unsigned size UNUSED, uint64_t val)
{
	struct i8042 *k = opaque;
	bool reset = false;

	pthread_mutex_lock(&k->lock);
	if (off == I8042_CMD_OFF)
		reset = i8042_command(k, (uint8_t)val);
	else if (off == I8042_DATA_OFF)
		reset = i8042_data(k, (uint8_t)val);
	if (reset)
		k->resets++;
	pthread_mutex_unlock(&k->lock);

	/* Outside the lock: the VMM's reset path may well touch the device again. */
	if (reset && k->reset)
		k->reset(k->opaque);
	return 0;
}

const struct access_ops i8042_ops = {
	.read = i8042_read,
	.write = i8042_write,
	.min_size = 1,
	.max_size = 1,
};

/*
 * Per-port views for i8042_register(): each port registered on its own sees
 * offset 0, so these pin the offset that i8042_ops would have seen.
 */
static int i8042_data_read(void *opaque, uint64_t off UNUSED, unsigned size, uint64_t *val)
{
	return i8042_read(opaque, I8042_DATA_OFF, size, val);
}

static int i8042_data_write(void *opaque, uint64_t off UNUSED, unsigned size, uint64_t val)
{
	return i8042_write(opaque, I8042_DATA_OFF, size, val);
}

static int i8042_cmd_read(void *opaque, uint64_t off UNUSED, unsigned size, uint64_t *val)
{
	return i8042_read(opaque, I8042_CMD_OFF, size, val);
}

static int i8042_cmd_write(void *opaque, uint64_t off UNUSED, unsigned size, uint64_t val)
{
	return i8042_write(opaque, I8042_CMD_OFF, size, val);
}

static const struct access_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
	.min_size = 1,
	.max_size = 1,
};

static const struct access_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
	.min_size = 1,
	.max_size = 1,
};

int i8042_register(struct i8042 *k, struct iobus *bus)
{
	int rc;

	rc = iobus_register(bus, I8042_DATA_PORT, 1, &i8042_data_ops, k, "i8042-data");
	if (rc)
		return rc;
	rc = iobus_register(bus, I8042_CMD_PORT, 1, &i8042_cmd_ops, k, "i8042-cmd");
	if (rc && iobus_unregister(bus, I8042_DATA_PORT, k))
		log_warn("i8042: cannot unregister port 0x%x", I8042_DATA_PORT);
	return rc;
}

int i8042_init(struct i8042 *k, void (*reset)(void *opaque), void *opaque)
{
	int rc;

	memset(k, 0, sizeof(*k));
	rc = pthread_mutex_init(&k->lock, NULL);
	if (rc)
		return -rc;
	k->ready = true;
	k->reset = reset;
	k->opaque = opaque;
	/* What firmware leaves behind: translated set 1, kbd IRQ on, self-test passed. */
	k->cmd_byte = CB_XLATE | CB_SYS | CB_KBDINT;
	k->outport = OUT_RESET | OUT_A20;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k->ready)
		return;
	pthread_mutex_destroy(&k->lock);
	k->ready = false;
}
