/*
 * devices/cmos.h - the MC146818 RTC and its 128 bytes of CMOS NVRAM
 * (ports 0x70 index, 0x71 data; IRQ 8).
 *
 * Contract
 * - State lives in a struct cmos the caller owns. cmos_ops serves offsets
 *   0 (index) and 1 (data) with 1-byte accesses, opaque = the struct cmos:
 *     iobus_register(bus, CMOS_BASE, CMOS_LEN, &cmos_ops, c, "cmos");
 *   Index bit 7 (NMI disable) is kept but has no effect; the index port
 *   reads all-ones, as it is write-only on a PC.
 * - Time registers (0x00-0x09, century 0x32) are computed at read time from
 *   the host's CLOCK_REALTIME (UTC) plus an offset the guest sets by writing
 *   them (with or without register B's SET bit), in BCD or binary and 12h
 *   or 24h as register B says. UIP always reads 0, so a guest waiting for it
 *   to clear never loops. Register C clears on read; D reads VRT=1.
 * - Memory and machine registers are filled from @mem and @ncpus at init:
 *   0x15/0x16 base KiB, 0x17/0x18 and 0x30/0x31 extended KiB, 0x34/0x35
 *   RAM 16 MiB-4 GiB and 0x5B-0x5D RAM above 4 GiB in 64 KiB units,
 *   0x5F CPUs - 1 (SeaBIOS), 0x0F shutdown 0, 0x10 no floppy, 0x14
 *   equipment (FPU present), checksum 0x2E/0x2F over 0x10-0x2D.
 * - Interrupts: register C's flags (PF, AF, UF) are brought up to date when
 *   C is read and when cmos_tick() runs; IRQ 8 is asserted only while a flag
 *   is set whose enable bit (PIE, AIE, UIE) is set in register B, and drops
 *   when C is read. devices/ owns no threads: a VMM that wants RTC
 *   interrupts calls cmos_tick() from its own timer thread. An alarm fires
 *   only if a tick or C read happens during the matching second.
 * - Thread-safe: an internal mutex.
 */
#ifndef VMM_DEVICES_CMOS_H
#define VMM_DEVICES_CMOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/access.h"
#include "common/compiler.h"
#include "devices/irq.h"
#include "memory/pc.h"

#define CMOS_BASE 0x70
#define CMOS_LEN  2
#define CMOS_IRQ  8
#define CMOS_SIZE 128

struct cmos {
	pthread_mutex_t lock;
	bool ready;
	struct irq_line irq;
	bool irq_level;
	uint8_t index;               /* last index written, bit 7 = NMI disable */
	uint8_t ram[CMOS_SIZE];      /* NVRAM, alarm and A-D registers; not the clock */
	int64_t offset;              /* guest clock minus host clock, seconds */
	struct tm set_tm;            /* the clock as written while B.SET is set */
	int64_t last_sec;            /* host second of the last update-cycle check */
	uint64_t last_period;        /* periodic tick index of the last check */
};

extern const struct access_ops cmos_ops;

int cmos_init(struct cmos *c, const struct pc_cmos_mem *mem, unsigned ncpus,
	      const struct irq_line *irq) WUR;
void cmos_destroy(struct cmos *c);

/* What a data-port read of @idx would return, without side effects (for tests). */
uint8_t cmos_peek(struct cmos *c, unsigned idx);

/*
 * Bring the interrupt flags up to date and drive IRQ 8. Returns the
 * nanoseconds until the next event an enabled interrupt waits for, or -1
 * when register B enables none (poll again later: B may change).
 */
int64_t cmos_tick(struct cmos *c);

#endif
