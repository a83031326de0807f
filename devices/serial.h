/*
 * devices/serial.h - a 16550A UART: the COM1 console (port 0x3F8, IRQ 4).
 *
 * Contract
 * - State lives in a struct serial the caller owns (one per port per VM).
 *   serial_ops serves offsets 0..7 with 1-byte accesses, opaque = the
 *   struct serial; register it as iobus_register(bus, SERIAL_COM1_BASE,
 *   SERIAL_NR_REGS, &serial_ops, s, "com1").
 * - Transmit: each byte written to THR goes to @out_fd at init with write()
 *   (-1 discards; the fd stays the caller's, see devices/fdout.h for how a
 *   full fd is handled without stopping the vCPU). Transmission is instant,
 *   so LSR.THRE/TEMT read back set at once.
 * - Receive: serial_input(), from any thread (the VMM's stdin thread), moves
 *   bytes into the RX FIFO (16 bytes with FCR.0 set, 1 byte in 16450 mode)
 *   and raises the IRQ. It never drops: it returns how many bytes it took,
 *   and a short count means the FIFO is full (or the UART is in loopback,
 *   where the RX pin is disconnected). The caller keeps the rest and tries
 *   again when the optional rx_notify callback says there is room.
 *   OE is set only when the UART itself overruns its FIFO (loopback).
 * - Interrupts: the IIR source (priority: line status, RX data/timeout,
 *   THR empty, modem status) drives the irq_line only when MCR.OUT2 is set
 *   and loopback is off: on a PC, OUT2 gates the IRQ buffer and the OUT2 pin
 *   is forced inactive in loopback. The level is driven on change only,
 *   high while a source is pending and low when none is (edge-triggered
 *   PICs see one edge per idle-to-pending transition, as with a real 8250).
 * - Posted THR writes: while THR-empty interrupts (IER.ETBEI) and loopback
 *   are both off, a THR write has no effect but the byte it sends, so a
 *   hypervisor may buffer such writes and deliver them later, in order, as
 *   long as it delivers them before it hands this UART any other access.
 *   serial_set_tx_post() reports when that holds.
 * - Thread-safe: an internal mutex serialises register access, input and
 *   the irq_line / rx_notify calls' ordering. rx_notify runs without the
 *   mutex held and may call serial_input().
 */
#ifndef VMM_DEVICES_SERIAL_H
#define VMM_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"
#include "devices/fdout.h"
#include "devices/irq.h"

#define SERIAL_COM1_BASE 0x3F8
#define SERIAL_COM1_IRQ  4
#define SERIAL_NR_REGS   8
#define SERIAL_FIFO_SIZE 16

struct serial {
	pthread_mutex_t lock;
	bool ready;                  /* mutex initialised: destroy may run */
	struct irq_line irq;         /* copied at init; zeroed when none */
	bool irq_level;              /* what we last drove on the line */
	struct fdout out;

	uint8_t rx_fifo[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t rx_last;             /* RBR reads this when the FIFO is empty */
	bool rx_blocked;             /* serial_input() was refused bytes */
	void (*rx_notify)(void *opaque);
	void *rx_notify_opaque;

	uint16_t divisor;
	uint8_t ier, lcr, mcr, fcr, scr;
	uint8_t lsr_err;             /* sticky OE/PE/FE/BI until LSR is read */
	uint8_t msr;                 /* status bits 4..7 and delta bits 0..3 */
	bool thr_ipending;           /* THRE interrupt latched, cleared by IIR read/THR write */
	void (*tx_post)(void *opaque, bool on);
	void *tx_post_opaque;
	bool tx_posting;             /* what tx_post was last told */
};

extern const struct access_ops serial_ops;

int serial_init(struct serial *s, const struct irq_line *irq, int out_fd) WUR;
void serial_destroy(struct serial *s);

/* Push received bytes (from any thread); returns how many were accepted. */
int serial_input(struct serial *s, const uint8_t *buf, size_t len);

/*
 * Optional: @fn runs (on the thread that made room, without the lock) once
 * after a short serial_input() when the FIFO can take bytes again.
 */
void serial_set_rx_notify(struct serial *s, void (*fn)(void *opaque), void *opaque);

/*
 * Optional: @fn(opaque, true) when THR writes may be posted (see Contract),
 * @fn(opaque, false) when they must be handled one by one again. Called at
 * once with the current state, then on each change, with the UART's lock
 * held: @fn must not access this UART. NULL stops the calls.
 */
void serial_set_tx_post(struct serial *s, void (*fn)(void *opaque, bool on), void *opaque);

#endif
