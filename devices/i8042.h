/*
 * devices/i8042.h - the PS/2 (8042) keyboard controller, with no keyboard
 * or mouse behind it: enough for Linux's i8042 driver to probe it and not
 * hang, and the reset line the guest pulls to reboot.
 *
 * Contract
 * - State lives in a struct i8042 the caller owns. Two ways onto a bus,
 *   both with 1-byte accesses and opaque = the struct i8042:
 *   - i8042_register(k, bus) claims 0x60 and 0x64 as two 1-byte ranges and
 *     leaves 0x61-0x63 free (0x61 is port B: PIT gate/speaker, NMI status).
 *     Preferred.
 *   - i8042_ops serves ONE 5-byte range 0x60..0x64: offset 0 = data port,
 *     offset 4 = status/command; offsets 1..3 read all-ones and drop writes.
 *       iobus_register(bus, I8042_BASE, I8042_LEN, &i8042_ops, k, "i8042");
 *   Registering i8042_ops at 0x60 and 0x64 separately does NOT work: both
 *   would see offset 0, the data port.
 * - Controller commands: 0x20 read / 0x60 write command byte, 0xA7/0xA8
 *   disable/enable aux, 0xA9 aux test (0x00), 0xAA self-test (0x55),
 *   0xAB kbd interface test (0x00), 0xAD/0xAE disable/enable kbd, 0xC0 input
 *   port, 0xD0/0xD1 read/write output port, 0xD2/0xD3 write the kbd/aux
 *   output buffer (the byte comes back as if from that device: the aux
 *   loopback Linux uses), 0xD4 write to the aux device (no mouse: no reply),
 *   0xF0-0xFF pulse output lines.
 * - Reset: pulsing output-port bit 0 (0xFE, or any 0xF0-0xFF with bit 0
 *   clear) or writing an output port value with bit 0 clear (0xD1) calls
 *   reset(opaque) on the vCPU thread, outside the device lock. The VMM
 *   decides what a reset means (it exits 0).
 * - Bytes written to the keyboard (0x60 with no command pending) are
 *   dropped: no keyboard answers, so Linux's atkbd times out and goes on.
 * - No IRQ is raised (no keyboard or mouse data ever arrives); Linux's aux
 *   IRQ test then times out and it leaves the aux port alone.
 * - Thread-safe: an internal mutex.
 */
#ifndef VMM_DEVICES_I8042_H
#define VMM_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"
#include "devices/iobus.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_BASE     0x60
#define I8042_LEN      5
#define I8042_DATA_OFF 0
#define I8042_CMD_OFF  4
#define I8042_OBUF     8   /* bytes queued for the data port */

struct i8042 {
	pthread_mutex_t lock;
	bool ready;
	void (*reset)(void *opaque);
	void *opaque;

	uint8_t cmd_byte;            /* controller RAM 0 */
	uint8_t outport;
	uint8_t pending;             /* command waiting for its data byte, 0 = none */
	bool last_was_cmd;           /* status bit 3: last write went to 0x64 */
	uint8_t obuf[I8042_OBUF];
	bool obuf_aux[I8042_OBUF];   /* byte came from the aux side: status bit 5 */
	unsigned ohead, ocount;
	uint8_t last_data;           /* 0x60 reads this when nothing is queued */
	unsigned long resets;        /* reset requests, for tests */
};

extern const struct access_ops i8042_ops;

int i8042_init(struct i8042 *k, void (*reset)(void *opaque), void *opaque) WUR;
void i8042_destroy(struct i8042 *k);

/* Claim 0x60 and 0x64 on @bus (see above); on failure neither stays registered. */
int i8042_register(struct i8042 *k, struct iobus *bus) WUR;

#endif
