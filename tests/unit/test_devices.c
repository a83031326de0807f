/*
 * tests/unit/test_devices.c - the legacy platform devices: 16550A UART,
 * i8042, MC146818 CMOS/RTC, debugcon / debug-exit / POST / reset control,
 * each driven through its access_ops as a vCPU would, and all of them on one
 * iobus at their PC addresses.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/cmos.h"
#include "devices/debugport.h"
#include "devices/i8042.h"
#include "devices/iobus.h"
#include "devices/serial.h"
#include "unit.h"

/* ---- helpers ------------------------------------------------------------ */

static uint8_t rd(const struct access_ops *ops, void *o, uint64_t off)
{
	uint64_t v = 0xAAAA;

	ck_assert_int_eq(ops->read(o, off, 1, &v), 0);
	ck_assert_uint_le(v, 0xFF);
	return (uint8_t)v;
}

static void wr(const struct access_ops *ops, void *o, uint64_t off, uint8_t v)
{
	ck_assert_int_eq(ops->write(o, off, 1, v), 0);
}

/* An irq_line that records what the device drives. */
struct irq_rec {
	int level;
	unsigned raises, lowers;
	unsigned gsi;
};

static void irq_rec_set(void *opaque, unsigned gsi, int level)
{
	struct irq_rec *r = opaque;

	r->gsi = gsi;
	if (level && !r->level)
		r->raises++;
	if (!level && r->level)
		r->lowers++;
	r->level = level;
}

static void pipe_nb(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

/* Everything currently in the pipe, NUL-terminated. */
static size_t pipe_drain(int fd, char *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap - 1);

	if (n < 0)
		n = 0;
	buf[n] = 0;
	return (size_t)n;
}

/* ---- serial -------------------------------------------------------------- */

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

static struct serial uart;
static struct irq_rec uart_irq;
static int uart_pipe[2];

static void serial_setup(void)
{
	struct irq_line line = { irq_rec_set, &uart_irq, SERIAL_COM1_IRQ };

	memset(&uart_irq, 0, sizeof(uart_irq));
	pipe_nb(uart_pipe);
	ck_assert_int_eq(serial_init(&uart, &line, uart_pipe[1]), 0);
}

static void serial_teardown(void)
{
	serial_destroy(&uart);
	close(uart_pipe[0]);
	close(uart_pipe[1]);
}

#define S_RD(off) rd(&serial_ops, &uart, (off))
#define S_WR(off, v) wr(&serial_ops, &uart, (off), (v))

START_TEST(test_serial_thr_goes_to_fd)
{
	char buf[64];

	S_WR(THR, 'h');
	S_WR(THR, 'i');
	S_WR(THR, '\n');
	ck_assert_uint_eq(pipe_drain(uart_pipe[0], buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "hi\n");
	/* Transmission is instant: THRE and TEMT stay set. */
	ck_assert_uint_eq(S_RD(LSR) & 0x60, 0x60);
}
END_TEST

START_TEST(test_serial_discards_without_fd)
{
	struct serial s;

	ck_assert_int_eq(serial_init(&s, NULL, -1), 0);
	wr(&serial_ops, &s, THR, 'x');
	ck_assert_uint_eq(rd(&serial_ops, &s, LSR), 0x60);
	serial_destroy(&s);
	serial_destroy(&s); /* idempotent */
}
END_TEST

START_TEST(test_serial_lsr_bits)
{
	uint8_t b = 'q';

	ck_assert_uint_eq(S_RD(LSR), 0x60); /* THRE | TEMT, no data */
	ck_assert_int_eq(serial_input(&uart, &b, 1), 1);
	ck_assert_uint_eq(S_RD(LSR), 0x61); /* + DR */
	ck_assert_uint_eq(S_RD(RBR), 'q');
	ck_assert_uint_eq(S_RD(LSR), 0x60);
	/* Empty RBR reads the last byte again and does not underflow. */
	ck_assert_uint_eq(S_RD(RBR), 'q');
	ck_assert_uint_eq(S_RD(LSR), 0x60);
}
END_TEST

START_TEST(test_serial_dlab_divisor_roundtrip)
{
	char buf[8];

	S_WR(LCR, 0x83); /* DLAB, 8N1 */
	S_WR(DLL, 0x01);
	S_WR(DLM, 0x02);
	ck_assert_uint_eq(S_RD(DLL), 0x01);
	ck_assert_uint_eq(S_RD(DLM), 0x02);
	ck_assert_uint_eq(S_RD(LCR), 0x83);
	S_WR(LCR, 0x03);
	/* The latch did not reach IER or the transmitter. */
	ck_assert_uint_eq(S_RD(IER), 0);
	ck_assert_uint_eq(pipe_drain(uart_pipe[0], buf, sizeof(buf)), 0);
	S_WR(IER, 0xFF);
	ck_assert_uint_eq(S_RD(IER), 0x0F); /* bits 4-7 read 0 */
	S_WR(LCR, 0x83);
	ck_assert_uint_eq(S_RD(DLL), 0x01);
	ck_assert_uint_eq(S_RD(DLM), 0x02);
}
END_TEST

START_TEST(test_serial_thre_interrupt_sequence)
{
	char buf[8];

	ck_assert_uint_eq(S_RD(IIR), 0x01);
	S_WR(MCR, 0x08); /* OUT2: the PC's IRQ gate */
	S_WR(IER, 0x02); /* ETBEI with THR empty raises THRE at once */
	ck_assert_int_eq(uart_irq.level, 1);
	ck_assert_uint_eq(uart_irq.gsi, SERIAL_COM1_IRQ);
	ck_assert_uint_eq(S_RD(IIR), 0x02);
	/* Reading IIR acknowledged it. */
	ck_assert_int_eq(uart_irq.level, 0);
	ck_assert_uint_eq(S_RD(IIR), 0x01);

	/* Each byte sent empties THR again: a new THRE interrupt. */
	S_WR(THR, 'a');
	ck_assert_int_eq(uart_irq.level, 1);
	ck_assert_uint_eq(uart_irq.raises, 2);
	ck_assert_uint_eq(S_RD(IIR), 0x02);
	ck_assert_int_eq(uart_irq.level, 0);

	/* Disable then enable again re-asserts (Linux's UART_BUG_THRE test). */
	S_WR(IER, 0x00);
	S_WR(IER, 0x02);
	ck_assert_uint_eq(S_RD(IIR), 0x02);

	/* With OUT2 clear the source is pending in IIR but the line stays low. */
	S_WR(MCR, 0x00);
	S_WR(THR, 'b');
	ck_assert_int_eq(uart_irq.level, 0);
	S_WR(MCR, 0x08);
	ck_assert_int_eq(uart_irq.level, 1);
	S_WR(IER, 0x00);
	ck_assert_int_eq(uart_irq.level, 0);
	ck_assert_uint_eq(S_RD(IIR), 0x01);

	/* FIFO enabled: IIR bits 6-7 set. */
	S_WR(FCR, 0x07);
	ck_assert_uint_eq(S_RD(IIR), 0xC1);
	ck_assert_uint_eq(pipe_drain(uart_pipe[0], buf, sizeof(buf)), 2);
}
END_TEST

START_TEST(test_serial_rx_raises_irq_and_reads_back)
{
	const uint8_t in[] = "ab";

	S_WR(FCR, 0x01);  /* FIFO, trigger level 1 */
	S_WR(MCR, 0x0B);  /* DTR | RTS | OUT2 */
	S_WR(IER, 0x01);  /* RX data available */
	ck_assert_int_eq(uart_irq.level, 0);
	ck_assert_int_eq(serial_input(&uart, in, 2), 2);
	ck_assert_int_eq(uart_irq.level, 1);
	ck_assert_uint_eq(S_RD(IIR), 0xC4);
	ck_assert_uint_eq(S_RD(LSR) & 0x01, 0x01);
	ck_assert_uint_eq(S_RD(RBR), 'a');
	ck_assert_int_eq(uart_irq.level, 1);
	ck_assert_uint_eq(S_RD(RBR), 'b');
	ck_assert_int_eq(uart_irq.level, 0);
	ck_assert_uint_eq(S_RD(IIR), 0xC1);
	ck_assert_uint_eq(S_RD(LSR) & 0x01, 0);
}
END_TEST

START_TEST(test_serial_rx_below_trigger_is_timeout)
{
	const uint8_t in[] = "xyz";

	S_WR(FCR, 0xC1); /* trigger level 14 */
	S_WR(MCR, 0x08);
	S_WR(IER, 0x01);
	ck_assert_int_eq(serial_input(&uart, in, 3), 3);
	ck_assert_uint_eq(S_RD(IIR), 0xCC);
	ck_assert_int_eq(uart_irq.level, 1);
	/* FCR bit 1 empties the RX FIFO. */
	S_WR(FCR, 0xC3);
	ck_assert_uint_eq(S_RD(LSR) & 0x01, 0);
	ck_assert_int_eq(uart_irq.level, 0);
}
END_TEST

START_TEST(test_serial_interrupt_priority)
{
	uint8_t i;

	S_WR(FCR, 0x01);
	S_WR(MCR, 0x18); /* loopback + OUT2: lets the UART overrun itself */
	for (i = 0; i < SERIAL_FIFO_SIZE + 1; i++)
		S_WR(THR, i);
	S_WR(IER, 0x0F);
	/* Line status (OE) first, then RX data, then THRE, then modem status. */
	ck_assert_uint_eq(S_RD(IIR), 0xC6);
	ck_assert_uint_eq(S_RD(LSR) & 0x03, 0x03); /* OE cleared by this read */
	ck_assert_uint_eq(S_RD(IIR), 0xC4);
	for (i = 0; i < SERIAL_FIFO_SIZE; i++)
		ck_assert_uint_eq(S_RD(RBR), i);
	ck_assert_uint_eq(S_RD(IIR), 0xC2);
	ck_assert_uint_eq(S_RD(IIR), 0xC0); /* MCR write changed loopback MSR: deltas */
	ck_assert_uint_eq(S_RD(MSR) & 0x0F, 0x03); /* DCTS, DDSR: loopback dropped CTS, DSR */
	ck_assert_uint_eq(S_RD(IIR), 0xC1);
}
END_TEST

START_TEST(test_serial_loopback)
{
	const uint8_t in = 'Z';
	char buf[8];

	/* Linux's autoconfig: LOOP | OUT2 | RTS must read CTS | DCD. */
	S_WR(MCR, 0x1A);
	ck_assert_uint_eq(S_RD(MSR) & 0xF0, 0x90);
	S_WR(MCR, 0x1F);
	ck_assert_uint_eq(S_RD(MSR) & 0xF0, 0xF0);
	S_WR(IER, 0x01);
	S_WR(THR, 'x');
	ck_assert_uint_eq(pipe_drain(uart_pipe[0], buf, sizeof(buf)), 0);
	ck_assert_uint_eq(S_RD(LSR) & 0x01, 0x01);
	/* In loopback OUT2 does not reach the pin: no IRQ on a PC. */
	ck_assert_int_eq(uart_irq.level, 0);
	ck_assert_uint_eq(S_RD(IIR) & 0x0F, 0x04);
	ck_assert_uint_eq(S_RD(RBR), 'x');
	/* The RX pin is cut off in loopback. */
	ck_assert_int_eq(serial_input(&uart, &in, 1), 0);
	S_WR(MCR, 0x0B);
	ck_assert_uint_eq(S_RD(MSR), 0xB0 | 0x04); /* CTS DSR DCD, TERI from RI 1->0 */
	ck_assert_uint_eq(S_RD(MSR), 0xB0);
	ck_assert_int_eq(serial_input(&uart, &in, 1), 1);
	ck_assert_int_eq(uart_irq.level, 1);
	ck_assert_uint_eq(S_RD(RBR), 'Z');
	S_WR(THR, 'y');
	ck_assert_uint_eq(pipe_drain(uart_pipe[0], buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "y");
}
END_TEST

START_TEST(test_serial_fifo_overflow_sets_oe)
{
	unsigned i;

	S_WR(FCR, 0x07);
	S_WR(MCR, 0x10);
	for (i = 0; i < 20; i++)
		S_WR(THR, (uint8_t)('A' + i));
	ck_assert_uint_eq(S_RD(LSR), 0x63); /* THRE TEMT OE DR */
	ck_assert_uint_eq(S_RD(LSR), 0x61); /* OE is cleared by reading LSR */
	for (i = 0; i < SERIAL_FIFO_SIZE; i++)
		ck_assert_uint_eq(S_RD(RBR), 'A' + i);
	ck_assert_uint_eq(S_RD(LSR), 0x60);
}
END_TEST

static unsigned notified;

static void count_notify(void *opaque UNUSED)
{
	notified++;
}

START_TEST(test_serial_input_backpressure)
{
	uint8_t in[32];
	unsigned i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	notified = 0;
	serial_set_rx_notify(&uart, count_notify, NULL);
	/* 16450 mode (FIFO off) holds one byte. */
	ck_assert_int_eq(serial_input(&uart, in, 4), 1);
	ck_assert_uint_eq(S_RD(RBR), 0);
	ck_assert_uint_eq(notified, 1);
	S_WR(FCR, 0x01);
	ck_assert_int_eq(serial_input(&uart, in, sizeof(in)), SERIAL_FIFO_SIZE);
	ck_assert_int_eq(serial_input(&uart, in, sizeof(in)), 0);
	/* Refused bytes are the caller's to keep: no overrun. */
	ck_assert_uint_eq(S_RD(LSR) & 0x02, 0);
	ck_assert_uint_eq(notified, 1);
	ck_assert_uint_eq(S_RD(RBR), 0);
	ck_assert_uint_eq(notified, 2);
	ck_assert_int_eq(serial_input(&uart, in + 16, 1), 1);
	for (i = 1; i < SERIAL_FIFO_SIZE; i++)
		ck_assert_uint_eq(S_RD(RBR), i);
	ck_assert_uint_eq(S_RD(RBR), 16);
	ck_assert_uint_eq(notified, 2);
}
END_TEST

/* What serial_set_tx_post's callback was told, in order. */
struct post_rec {
	bool seen[16];
	unsigned n;
};

static void post_rec_fn(void *opaque, bool on)
{
	struct post_rec *r = opaque;

	if (r->n < 16)
		r->seen[r->n] = on;
	r->n++;
}

/*
 * THR writes may be posted exactly while ETBEI and loopback are off: the
 * callback hears the state at once, then each change and nothing else.
 */
START_TEST(test_serial_tx_post_follows_etbei_and_loopback)
{
	struct post_rec r = { 0 };
	char buf[8];

	serial_set_tx_post(&uart, post_rec_fn, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert(r.seen[0]);                  /* reset state: IER 0, no loopback */
	S_WR(IER, 0x01);                       /* RX interrupts: no change */
	S_WR(THR, 'a');
	ck_assert_uint_eq(r.n, 1);
	S_WR(IER, 0x03);                       /* THRE interrupts on: trap THR again */
	ck_assert_uint_eq(r.n, 2);
	ck_assert(!r.seen[1]);
	S_WR(IER, 0x01);
	ck_assert_uint_eq(r.n, 3);
	ck_assert(r.seen[2]);
	S_WR(MCR, 0x10);                       /* loopback: THR feeds RBR */
	ck_assert_uint_eq(r.n, 4);
	ck_assert(!r.seen[3]);
	S_WR(IER, 0x00);                       /* still loopback: no change */
	ck_assert_uint_eq(r.n, 4);
	S_WR(MCR, 0x08);
	ck_assert_uint_eq(r.n, 5);
	ck_assert(r.seen[4]);
	/* The same writes through LCR.DLAB reach the divisor, not IER. */
	S_WR(LCR, 0x80);
	S_WR(IER, 0x02);
	S_WR(LCR, 0x03);
	ck_assert_uint_eq(r.n, 5);
	serial_set_tx_post(&uart, NULL, NULL);
	S_WR(IER, 0x02);
	ck_assert_uint_eq(r.n, 5);             /* detached: no more calls */
	ck_assert_uint_eq(pipe_drain(uart_pipe[0], buf, sizeof(buf)), 1);
}
END_TEST

START_TEST(test_serial_msr_and_scratch)
{
	ck_assert_uint_eq(S_RD(MSR), 0xB0); /* CTS DSR DCD, no deltas */
	S_WR(SCR, 0xA5);
	ck_assert_uint_eq(S_RD(SCR), 0xA5);
	S_WR(SCR, 0x5A);
	ck_assert_uint_eq(S_RD(SCR), 0x5A);
	S_WR(MCR, 0xFF);
	ck_assert_uint_eq(S_RD(MCR), 0x1F);
}
END_TEST

struct feeder {
	struct serial *s;
	unsigned sent;
};

static void *feed_thread(void *arg)
{
	struct feeder *f = arg;
	uint8_t b;

	while (f->sent < 1000) {
		b = (uint8_t)f->sent;
		if (serial_input(f->s, &b, 1) == 1)
			f->sent++;
		else
			usleep(10);
	}
	return NULL;
}

START_TEST(test_serial_input_from_another_thread)
{
	struct feeder f = { .s = &uart };
	pthread_t t;
	unsigned got = 0;

	S_WR(FCR, 0x01);
	ck_assert_int_eq(pthread_create(&t, NULL, feed_thread, &f), 0);
	while (got < 1000) {
		if (S_RD(LSR) & 0x01) {
			ck_assert_uint_eq(S_RD(RBR), got & 0xFF);
			got++;
		}
	}
	pthread_join(t, NULL);
	ck_assert_uint_eq(S_RD(LSR) & 0x02, 0);
}
END_TEST

/* ---- i8042 ---------------------------------------------------------------- */

static unsigned resets;

static void count_reset(void *opaque)
{
	ck_assert_ptr_eq(opaque, &resets);
	resets++;
}

#define K_DATA(k) rd(&i8042_ops, (k), I8042_DATA_OFF)
#define K_STATUS(k) rd(&i8042_ops, (k), I8042_CMD_OFF)
#define K_CMD(k, v) wr(&i8042_ops, (k), I8042_CMD_OFF, (v))
#define K_OUT(k, v) wr(&i8042_ops, (k), I8042_DATA_OFF, (v))

START_TEST(test_i8042_self_test_and_tests)
{
	struct i8042 k;

	ck_assert_int_eq(i8042_init(&k, count_reset, &resets), 0);
	ck_assert_uint_eq(K_STATUS(&k) & 0x01, 0);
	K_CMD(&k, 0xAA);
	ck_assert_uint_eq(K_STATUS(&k) & 0x2D, 0x0D); /* OBF, SYS, last was a command */
	ck_assert_uint_eq(K_DATA(&k), 0x55);
	ck_assert_uint_eq(K_STATUS(&k) & 0x01, 0);
	K_CMD(&k, 0xAB);
	ck_assert_uint_eq(K_DATA(&k), 0x00);
	K_CMD(&k, 0xA9);
	ck_assert_uint_eq(K_DATA(&k), 0x00);
	/* Offsets 1-3 of the 0x60-0x64 range are not the controller's. */
	ck_assert_uint_eq(rd(&i8042_ops, &k, 1), 0xFF);
	i8042_destroy(&k);
}
END_TEST

START_TEST(test_i8042_command_byte_and_ports)
{
	struct i8042 k;

	ck_assert_int_eq(i8042_init(&k, count_reset, &resets), 0);
	K_CMD(&k, 0x20);
	ck_assert_uint_eq(K_DATA(&k), 0x45);
	K_CMD(&k, 0x60);
	K_OUT(&k, 0x65);
	ck_assert_uint_eq(K_STATUS(&k) & 0x09, 0x00); /* data write, nothing queued */
	K_CMD(&k, 0x20);
	ck_assert_uint_eq(K_DATA(&k), 0x65);
	K_CMD(&k, 0xA8); /* enable aux */
	K_CMD(&k, 0xAE); /* enable kbd */
	K_CMD(&k, 0x20);
	ck_assert_uint_eq(K_DATA(&k), 0x45);
	K_CMD(&k, 0xA7);
	K_CMD(&k, 0xAD);
	K_CMD(&k, 0x20);
	ck_assert_uint_eq(K_DATA(&k), 0x75);
	K_CMD(&k, 0xD0);
	ck_assert_uint_eq(K_DATA(&k) & 0x03, 0x03); /* not in reset, A20 on */
	/* Writes to the keyboard get no answer: there is no keyboard. */
	K_OUT(&k, 0xF2);
	ck_assert_uint_eq(K_STATUS(&k) & 0x01, 0);
	/* Nor writes to the mouse. */
	K_CMD(&k, 0xD4);
	K_OUT(&k, 0xF2);
	ck_assert_uint_eq(K_STATUS(&k) & 0x01, 0);
	ck_assert_uint_eq(resets, 0);
	i8042_destroy(&k);
}
END_TEST

START_TEST(test_i8042_aux_loopback)
{
	struct i8042 k;

	ck_assert_int_eq(i8042_init(&k, NULL, NULL), 0);
	/* Linux's I8042_CMD_AUX_LOOP: the byte returns as aux data. */
	K_CMD(&k, 0xD3);
	K_OUT(&k, 0x5A);
	ck_assert_uint_eq(K_STATUS(&k) & 0x21, 0x21);
	ck_assert_uint_eq(K_DATA(&k), 0x5A);
	K_CMD(&k, 0xD2);
	K_OUT(&k, 0x12);
	ck_assert_uint_eq(K_STATUS(&k) & 0x21, 0x01);
	ck_assert_uint_eq(K_DATA(&k), 0x12);
	ck_assert_uint_eq(K_STATUS(&k) & 0x21, 0x00);
	i8042_destroy(&k);
}
END_TEST

START_TEST(test_i8042_reset_callback)
{
	struct i8042 k;

	resets = 0;
	ck_assert_int_eq(i8042_init(&k, count_reset, &resets), 0);
	K_CMD(&k, 0xFF); /* pulse nothing */
	K_CMD(&k, 0xD1);
	K_OUT(&k, 0xDF); /* A20 on, reset line high */
	ck_assert_uint_eq(resets, 0);
	K_CMD(&k, 0xFE);
	ck_assert_uint_eq(resets, 1);
	K_CMD(&k, 0xD1);
	K_OUT(&k, 0xDE); /* reset line low */
	ck_assert_uint_eq(resets, 2);
	ck_assert_uint_eq(k.resets, 2);
	i8042_destroy(&k);

	/* Without a callback the request is only counted. */
	ck_assert_int_eq(i8042_init(&k, NULL, NULL), 0);
	K_CMD(&k, 0xFE);
	ck_assert_uint_eq(k.resets, 1);
	i8042_destroy(&k);
}
END_TEST

/* ---- CMOS ------------------------------------------------------------------ */

static uint8_t c_rd(struct cmos *c, uint8_t idx)
{
	wr(&cmos_ops, c, 0, idx);
	return rd(&cmos_ops, c, 1);
}

static void c_wr(struct cmos *c, uint8_t idx, uint8_t v)
{
	wr(&cmos_ops, c, 0, idx);
	wr(&cmos_ops, c, 1, v);
}

static const struct pc_cmos_mem test_mem = {
	.base_kb = 640,
	.ext_kb = 0xFC00,
	.mem_16m_64k = 0xBF00,
	.mem_4g_64k = 0x123456,
};

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

START_TEST(test_cmos_memory_registers)
{
	struct cmos c;
	uint16_t sum = 0;
	unsigned i;

	ck_assert_int_eq(cmos_init(&c, &test_mem, 4, NULL), 0);
	ck_assert_uint_eq(c_rd(&c, 0x15), 0x80);
	ck_assert_uint_eq(c_rd(&c, 0x16), 0x02);
	ck_assert_uint_eq(c_rd(&c, 0x17), 0x00);
	ck_assert_uint_eq(c_rd(&c, 0x18), 0xFC);
	ck_assert_uint_eq(c_rd(&c, 0x30), 0x00);
	ck_assert_uint_eq(c_rd(&c, 0x31), 0xFC);
	ck_assert_uint_eq(c_rd(&c, 0x34), 0x00);
	ck_assert_uint_eq(c_rd(&c, 0x35), 0xBF);
	ck_assert_uint_eq(c_rd(&c, 0x5B), 0x56);
	ck_assert_uint_eq(c_rd(&c, 0x5C), 0x34);
	ck_assert_uint_eq(c_rd(&c, 0x5D), 0x12);
	ck_assert_uint_eq(c_rd(&c, 0x5F), 3);
	ck_assert_uint_eq(c_rd(&c, 0x0F), 0);
	ck_assert_uint_eq(c_rd(&c, 0x10), 0);
	ck_assert_uint_eq(c_rd(&c, 0x14), 0x02);
	for (i = 0x10; i <= 0x2D; i++)
		sum += c_rd(&c, (uint8_t)i);
	ck_assert_uint_eq((c_rd(&c, 0x2E) << 8) | c_rd(&c, 0x2F), sum);
	/* The NMI-disable bit of the index is ignored. */
	ck_assert_uint_eq(c_rd(&c, 0x80 | 0x5F), 3);
	ck_assert_uint_eq(cmos_peek(&c, 0x35), 0xBF);
	/* Plain NVRAM is writable; the index port reads all-ones. */
	c_wr(&c, 0x0F, 0x0A);
	ck_assert_uint_eq(c_rd(&c, 0x0F), 0x0A);
	ck_assert_uint_eq(rd(&cmos_ops, &c, 0), 0xFF);
	cmos_destroy(&c);
}
END_TEST

START_TEST(test_cmos_init_refuses)
{
	struct cmos c;

	ck_assert_int_eq(cmos_init(&c, NULL, 1, NULL), -EINVAL);
	cmos_destroy(&c);
	ck_assert_int_eq(cmos_init(&c, &test_mem, 0, NULL), -EINVAL);
	ck_assert_int_eq(cmos_init(&c, &test_mem, 257, NULL), -EINVAL);
	ck_assert_int_eq(cmos_init(&c, &test_mem, 256, NULL), 0);
	ck_assert_uint_eq(c_rd(&c, 0x5F), 255);
	cmos_destroy(&c);
}
END_TEST

/* Read the clock registers, retrying until no second boundary fell in between. */
static void cmos_read_clock(struct cmos *c, uint8_t r[10], uint8_t *century, struct tm *host)
{
	time_t before, after;
	unsigned i;

	do {
		before = time(NULL);
		for (i = 0; i < 10; i++)
			r[i] = c_rd(c, (uint8_t)i);
		*century = c_rd(c, 0x32);
		after = time(NULL);
	} while (before != after);
	gmtime_r(&after, host);
}

START_TEST(test_cmos_time_bcd_and_binary)
{
	struct cmos c;
	struct tm tm;
	uint8_t r[10], cent;

	ck_assert_int_eq(cmos_init(&c, &test_mem, 1, NULL), 0);
	ck_assert_uint_eq(c_rd(&c, 0x0B), 0x02); /* BCD, 24h */

	cmos_read_clock(&c, r, &cent, &tm);
	ck_assert_uint_eq(r[0], bcd(tm.tm_sec));
	ck_assert_uint_eq(r[2], bcd(tm.tm_min));
	ck_assert_uint_eq(r[4], bcd(tm.tm_hour));
	ck_assert_uint_eq(r[6], bcd(tm.tm_wday + 1));
	ck_assert_uint_eq(r[7], bcd(tm.tm_mday));
	ck_assert_uint_eq(r[8], bcd(tm.tm_mon + 1));
	ck_assert_uint_eq(r[9], bcd((tm.tm_year + 1900) % 100));
	ck_assert_uint_eq(cent, bcd((tm.tm_year + 1900) / 100));

	c_wr(&c, 0x0B, 0x06); /* binary, 24h */
	cmos_read_clock(&c, r, &cent, &tm);
	ck_assert_uint_eq(r[0], tm.tm_sec);
	ck_assert_uint_eq(r[2], tm.tm_min);
	ck_assert_uint_eq(r[4], tm.tm_hour);
	ck_assert_uint_eq(r[7], tm.tm_mday);
	ck_assert_uint_eq(r[8], tm.tm_mon + 1);
	ck_assert_uint_eq(r[9], (tm.tm_year + 1900) % 100);
	ck_assert_uint_eq(cent, (tm.tm_year + 1900) / 100);

	c_wr(&c, 0x0B, 0x04); /* binary, 12h */
	cmos_read_clock(&c, r, &cent, &tm);
	ck_assert_uint_eq(r[4] & 0x7F, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12);
	ck_assert_uint_eq(r[4] & 0x80, tm.tm_hour >= 12 ? 0x80 : 0);

	/* A: divider running, UIP never set; D: valid RAM and time. */
	ck_assert_uint_eq(c_rd(&c, 0x0A) & 0x80, 0);
	ck_assert_uint_eq(c_rd(&c, 0x0D), 0x80);
	c_wr(&c, 0x0D, 0x00);
	ck_assert_uint_eq(c_rd(&c, 0x0D), 0x80);
	cmos_destroy(&c);
}
END_TEST

START_TEST(test_cmos_guest_sets_clock)
{
	struct cmos c;
	uint8_t sec;

	ck_assert_int_eq(cmos_init(&c, &test_mem, 1, NULL), 0);
	/* As Linux's mc146818_set_time: SET, year first, then month, day... */
	c_wr(&c, 0x0B, 0x82);
	c_wr(&c, 0x32, 0x20);
	c_wr(&c, 0x09, 0x01);
	c_wr(&c, 0x08, 0x02);
	c_wr(&c, 0x07, 0x28);
	c_wr(&c, 0x04, 0x23);
	c_wr(&c, 0x02, 0x59);
	c_wr(&c, 0x00, 0x30);
	/* Frozen while SET is on. */
	ck_assert_uint_eq(c_rd(&c, 0x07), 0x28);
	c_wr(&c, 0x0B, 0x02);
	ck_assert_uint_eq(c_rd(&c, 0x09), 0x01);
	ck_assert_uint_eq(c_rd(&c, 0x08), 0x02);
	ck_assert_uint_eq(c_rd(&c, 0x07), 0x28);
	ck_assert_uint_eq(c_rd(&c, 0x06), 0x04); /* 2001-02-28 was a Wednesday */
	ck_assert_uint_eq(c_rd(&c, 0x04), 0x23);
	ck_assert_uint_eq(c_rd(&c, 0x02), 0x59);
	sec = c_rd(&c, 0x00);
	ck_assert(sec == 0x30 || sec == 0x31);
	ck_assert_uint_eq(c_rd(&c, 0x32), 0x20);
	cmos_destroy(&c);
}
END_TEST

START_TEST(test_cmos_reg_c_clear_on_read_and_irq)
{
	struct irq_rec irq = { 0 };
	struct irq_line line = { irq_rec_set, &irq, CMOS_IRQ };
	struct cmos c;
	uint8_t v;

	ck_assert_int_eq(cmos_init(&c, &test_mem, 1, &line), 0);
	c_wr(&c, 0x0A, 0x23);       /* 8192 Hz periodic rate */
	c_wr(&c, 0x0B, 0x02 | 0x40); /* PIE */
	usleep(2000);
	ck_assert_int_ge(cmos_tick(&c), 0);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(irq.gsi, CMOS_IRQ);
	c_wr(&c, 0x0A, 0x63);       /* divider held in reset: no new flags */
	v = c_rd(&c, 0x0C);
	ck_assert_uint_eq(v & 0xC0, 0xC0); /* IRQF | PF */
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(c_rd(&c, 0x0C), 0x00);
	ck_assert_uint_eq(irq.raises, 1);
	cmos_destroy(&c);
}
END_TEST

START_TEST(test_cmos_no_irq_unless_enabled)
{
	struct irq_rec irq = { 0 };
	struct irq_line line = { irq_rec_set, &irq, CMOS_IRQ };
	struct cmos c;
	uint8_t v;

	ck_assert_int_eq(cmos_init(&c, &test_mem, 1, &line), 0);
	c_wr(&c, 0x0A, 0x23);
	usleep(2000);
	ck_assert_int_eq(cmos_tick(&c), -1);
	ck_assert_int_eq(irq.level, 0);
	c_wr(&c, 0x0A, 0x63);
	v = c_rd(&c, 0x0C);
	ck_assert_uint_eq(v & 0xC0, 0x40); /* PF, but no IRQF */
	ck_assert_uint_eq(irq.raises, 0);
	cmos_destroy(&c);
}
END_TEST

/* ---- debug ports ------------------------------------------------------------ */

struct dbg_rec {
	unsigned resets, exits;
	int status;
};

static void dbg_reset(void *opaque)
{
	((struct dbg_rec *)opaque)->resets++;
}

static void dbg_exit(void *opaque, int status)
{
	struct dbg_rec *r = opaque;

	r->exits++;
	r->status = status;
}

START_TEST(test_debug_exit_status)
{
	static const struct { uint64_t v; int status; } cases[] = {
		{ 0, 1 }, { 1, 3 }, { 0x7F, 255 }, { 0x80, 257 },
	};
	struct dbg_rec r = { 0 };
	struct debugport d;
	uint64_t v = 0;
	unsigned i, size;

	ck_assert_int_eq(debugport_init(&d, -1, dbg_reset, dbg_exit, &r), 0);
	for (size = 1; size <= 4; size *= 2) {
		for (i = 0; i < ARRAY_SIZE(cases); i++) {
			if (cases[i].v > access_ones(size))
				continue;
			ck_assert_int_eq(debugport_exit_ops.write(&d, 0, size, cases[i].v), 0);
			ck_assert_int_eq(r.status, cases[i].status);
		}
	}
	ck_assert_int_eq(debugport_exit_ops.read(&d, 0, 2, &v), 0);
	ck_assert_uint_eq(v, 0xFFFF);
	ck_assert_uint_eq(r.resets, 0);
	debugport_destroy(&d);
}
END_TEST

START_TEST(test_debugcon_to_pipe)
{
	struct debugport d;
	const char *msg = "SeaBIOS\n";
	char buf[32];
	int p[2];

	pipe_nb(p);
	ck_assert_int_eq(debugport_init(&d, p[1], NULL, NULL, NULL), 0);
	for (; *msg; msg++)
		wr(&debugport_con_ops, &d, 0, (uint8_t)*msg);
	ck_assert_uint_eq(pipe_drain(p[0], buf, sizeof(buf)), 8);
	ck_assert_str_eq(buf, "SeaBIOS\n");
	ck_assert_uint_eq(rd(&debugport_con_ops, &d, 0), 0xE9);
	debugport_destroy(&d);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_debugcon_full_pipe_does_not_block)
{
	struct debugport d;
	struct timespec t0, t1;
	char junk[4096];
	int p[2];
	unsigned i;

	pipe_nb(p);
	ck_assert_int_eq(debugport_init(&d, p[1], NULL, NULL, NULL), 0);
	memset(junk, 'j', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* One bounded wait, then the stalled output drops bytes at full speed. */
	for (i = 0; i < 1000; i++)
		wr(&debugport_con_ops, &d, 0, 'x');
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
	ck_assert(d.con.stalled);
	/* Once the reader catches up, output flows again. */
	while (read(p[0], junk, sizeof(junk)) > 0)
		;
	wr(&debugport_con_ops, &d, 0, 'y');
	ck_assert(!d.con.stalled);
	ck_assert_int_eq(read(p[0], junk, sizeof(junk)), 1);
	ck_assert_int_eq(junk[0], 'y');
	debugport_destroy(&d);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_post_code_and_reset_control)
{
	struct dbg_rec r = { 0 };
	struct debugport d;

	ck_assert_int_eq(debugport_init(&d, -1, dbg_reset, dbg_exit, &r), 0);
	wr(&debugport_post_ops, &d, 0, 0x42);
	ck_assert_uint_eq(debugport_post_code(&d), 0x42);
	ck_assert_uint_eq(rd(&debugport_post_ops, &d, 0), 0xFF);

	/* Linux reboot=pci: SYS_RST, then SYS_RST | RST_CPU. */
	wr(&debugport_rcr_ops, &d, 0, 0x02);
	ck_assert_uint_eq(r.resets, 0);
	ck_assert_uint_eq(rd(&debugport_rcr_ops, &d, 0), 0x02);
	wr(&debugport_rcr_ops, &d, 0, 0x06);
	ck_assert_uint_eq(r.resets, 1);
	ck_assert_uint_eq(rd(&debugport_rcr_ops, &d, 0), 0x02); /* RST_CPU self-clears */
	wr(&debugport_rcr_ops, &d, 0, 0x0E);
	ck_assert_uint_eq(r.resets, 2);
	ck_assert_uint_eq(rd(&debugport_rcr_ops, &d, 0), 0x0A);
	wr(&debugport_rcr_ops, &d, 0, 0x00);
	ck_assert_uint_eq(rd(&debugport_rcr_ops, &d, 0), 0x00);
	ck_assert_uint_eq(r.resets, 2);
	ck_assert_uint_eq(r.exits, 0);
	debugport_destroy(&d);
}
END_TEST

/* ---- all of them on one bus, as the machine builds it ------------------------ */

START_TEST(test_devices_on_pc_bus)
{
	struct dbg_rec r = { 0 };
	struct iobus bus;
	struct serial s;
	struct i8042 k;
	struct cmos c;
	struct debugport d;
	uint64_t v;

	ck_assert_int_eq(iobus_init(&bus), 0);
	ck_assert_int_eq(serial_init(&s, NULL, -1), 0);
	ck_assert_int_eq(i8042_init(&k, dbg_reset, &r), 0);
	ck_assert_int_eq(cmos_init(&c, &test_mem, 2, NULL), 0);
	ck_assert_int_eq(debugport_init(&d, -1, dbg_reset, dbg_exit, &r), 0);
	ck_assert_int_eq(iobus_register(&bus, SERIAL_COM1_BASE, SERIAL_NR_REGS, &serial_ops, &s,
					"com1"), 0);
	ck_assert_int_eq(i8042_register(&k, &bus), 0);
	ck_assert_int_eq(iobus_register(&bus, CMOS_BASE, CMOS_LEN, &cmos_ops, &c, "cmos"), 0);
	ck_assert_int_eq(debugport_register(&d, &bus), 0);
	/* 0x61 (port B) stays free for whoever serves it. */
	ck_assert_int_eq(iobus_dispatch(&bus, 0x61, 1, false, &v), -ENOENT);
	bus.unclaimed = 0;

	ck_assert_int_eq(iobus_dispatch(&bus, 0x3FD, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0x60);
	/* Wider than a UART register: refused by the bus, all-ones. */
	ck_assert_int_eq(iobus_dispatch(&bus, 0x3F8, 2, false, &v), -EINVAL);
	ck_assert_uint_eq(v, 0xFFFF);
	v = 0x5F;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x70, 1, true, &v), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x71, 1, false, &v), 0);
	ck_assert_uint_eq(v, 1);
	v = 0xAA;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x64, 1, true, &v), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x60, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0x55);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x402, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0xE9);
	v = 0x80;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x80, 1, true, &v), 0);
	ck_assert_uint_eq(debugport_post_code(&d), 0x80);
	/* outl to the exit port reaches the handler. */
	v = 0x7F;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x501, 4, true, &v), 0);
	ck_assert_int_eq(r.status, 255);
	v = 0xFE;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x64, 1, true, &v), 0);
	v = 0x06;
	ck_assert_int_eq(iobus_dispatch(&bus, 0xCF9, 1, true, &v), 0);
	ck_assert_uint_eq(r.resets, 2);
	ck_assert_uint_eq(bus.unclaimed, 0);

	debugport_destroy(&d);
	cmos_destroy(&c);
	i8042_destroy(&k);
	serial_destroy(&s);
	iobus_destroy(&bus);
}
END_TEST

START_TEST(test_i8042_as_one_range)
{
	struct iobus bus;
	struct i8042 k;
	uint64_t v = 0xAA;

	ck_assert_int_eq(iobus_init(&bus), 0);
	ck_assert_int_eq(i8042_init(&k, NULL, NULL), 0);
	ck_assert_int_eq(iobus_register(&bus, I8042_BASE, I8042_LEN, &i8042_ops, &k, "i8042"), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x64, 1, true, &v), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x64, 1, false, &v), 0);
	ck_assert_uint_eq(v & 0x01, 0x01);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x60, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0x55);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x62, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0xFF);
	i8042_destroy(&k);
	iobus_destroy(&bus);
}
END_TEST

START_TEST(test_register_helpers_all_or_nothing)
{
	static const struct access_ops none = { 0 };
	struct iobus bus;
	struct i8042 k;
	struct debugport d;

	ck_assert_int_eq(iobus_init(&bus), 0);
	ck_assert_int_eq(i8042_init(&k, NULL, NULL), 0);
	ck_assert_int_eq(debugport_init(&d, -1, NULL, NULL, NULL), 0);
	/* Someone else holds 0xCF8-0xCFB (a PCI host) and 0x64. */
	ck_assert_int_eq(iobus_register(&bus, 0xCF8, 4, &none, NULL, "pci"), 0);
	ck_assert_int_eq(iobus_register(&bus, 0x64, 1, &none, NULL, "other"), 0);
	ck_assert_int_eq(debugport_register(&d, &bus), -EEXIST);
	ck_assert_int_eq(i8042_register(&k, &bus), -EEXIST);
	ck_assert_uint_eq(bus.nr, 2);
	debugport_destroy(&d);
	i8042_destroy(&k);
	iobus_destroy(&bus);
}
END_TEST

/* ---- whatever the guest writes, nothing breaks (I6) --------------------------- */

START_TEST(test_devices_survive_random_accesses)
{
	struct serial s;
	struct i8042 k;
	struct cmos c;
	struct debugport d;
	struct irq_rec irq = { 0 };
	struct irq_line line = { irq_rec_set, &irq, 4 };
	unsigned seed = 12345, i;
	uint64_t v = 0;
	uint8_t in[24] = { 0 };

	ck_assert_int_eq(serial_init(&s, &line, -1), 0);
	ck_assert_int_eq(i8042_init(&k, NULL, NULL), 0);
	ck_assert_int_eq(cmos_init(&c, &test_mem, 8, &line), 0);
	ck_assert_int_eq(debugport_init(&d, -1, NULL, NULL, NULL), 0);
	for (i = 0; i < 100000; i++) {
		unsigned r = (unsigned)rand_r(&seed);
		uint8_t val = (uint8_t)(r >> 8);
		bool write = r & 1;

		switch ((r >> 16) % 5) {
		case 0:
			if (write)
				ck_assert_int_eq(serial_ops.write(&s, (r >> 1) & 7, 1, val), 0);
			else
				ck_assert_int_eq(serial_ops.read(&s, (r >> 1) & 7, 1, &v), 0);
			break;
		case 1:
			ck_assert_int_le(serial_input(&s, in, (r >> 1) % sizeof(in)), SERIAL_FIFO_SIZE);
			break;
		case 2:
			if (write)
				ck_assert_int_eq(i8042_ops.write(&k, (r >> 1) % 5, 1, val), 0);
			else
				ck_assert_int_eq(i8042_ops.read(&k, (r >> 1) % 5, 1, &v), 0);
			break;
		case 3:
			if (write)
				ck_assert_int_eq(cmos_ops.write(&c, (r >> 1) & 1, 1, val), 0);
			else
				ck_assert_int_eq(cmos_ops.read(&c, (r >> 1) & 1, 1, &v), 0);
			if (!(i % 1000))
				(void)cmos_tick(&c);
			break;
		default:
			if (write)
				ck_assert_int_eq(debugport_rcr_ops.write(&d, 0, 1, val & ~0x04), 0);
			else
				ck_assert_int_eq(debugport_rcr_ops.read(&d, 0, 1, &v), 0);
			break;
		}
		ck_assert_uint_le(v, 0xFF);
	}
	debugport_destroy(&d);
	cmos_destroy(&c);
	i8042_destroy(&k);
	serial_destroy(&s);
}
END_TEST

static Suite *devices_suite(void)
{
	Suite *s = suite_create("devices");
	TCase *tc;

	tc = tcase_create("serial");
	tcase_add_checked_fixture(tc, serial_setup, serial_teardown);
	tcase_add_test(tc, test_serial_thr_goes_to_fd);
	tcase_add_test(tc, test_serial_discards_without_fd);
	tcase_add_test(tc, test_serial_lsr_bits);
	tcase_add_test(tc, test_serial_dlab_divisor_roundtrip);
	tcase_add_test(tc, test_serial_thre_interrupt_sequence);
	tcase_add_test(tc, test_serial_rx_raises_irq_and_reads_back);
	tcase_add_test(tc, test_serial_rx_below_trigger_is_timeout);
	tcase_add_test(tc, test_serial_interrupt_priority);
	tcase_add_test(tc, test_serial_loopback);
	tcase_add_test(tc, test_serial_fifo_overflow_sets_oe);
	tcase_add_test(tc, test_serial_input_backpressure);
	tcase_add_test(tc, test_serial_msr_and_scratch);
	tcase_add_test(tc, test_serial_tx_post_follows_etbei_and_loopback);
	tcase_add_test(tc, test_serial_input_from_another_thread);
	suite_add_tcase(s, tc);

	tc = tcase_create("i8042");
	tcase_add_test(tc, test_i8042_self_test_and_tests);
	tcase_add_test(tc, test_i8042_command_byte_and_ports);
	tcase_add_test(tc, test_i8042_aux_loopback);
	tcase_add_test(tc, test_i8042_reset_callback);
	suite_add_tcase(s, tc);

	tc = tcase_create("cmos");
	tcase_add_test(tc, test_cmos_memory_registers);
	tcase_add_test(tc, test_cmos_init_refuses);
	tcase_add_test(tc, test_cmos_time_bcd_and_binary);
	tcase_add_test(tc, test_cmos_guest_sets_clock);
	tcase_add_test(tc, test_cmos_reg_c_clear_on_read_and_irq);
	tcase_add_test(tc, test_cmos_no_irq_unless_enabled);
	suite_add_tcase(s, tc);

	tc = tcase_create("debugport");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_debug_exit_status);
	tcase_add_test(tc, test_debugcon_to_pipe);
	tcase_add_test(tc, test_debugcon_full_pipe_does_not_block);
	tcase_add_test(tc, test_post_code_and_reset_control);
	tcase_add_test(tc, test_devices_on_pc_bus);
	tcase_add_test(tc, test_i8042_as_one_range);
	tcase_add_test(tc, test_register_helpers_all_or_nothing);
	tcase_add_test(tc, test_devices_survive_random_accesses);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(devices_suite)
