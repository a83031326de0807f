/*
 * devices/serial.c - 16550A UART (see serial.h for the contract).
 * Register facts from the National PC16550D datasheet.
 */
#include <errno.h>
#include <string.h>

#include "devices/serial.h"

/* Offsets; DLAB=1 turns 0/1 into the divisor latch. */
#define UART_RBR 0 /* read: receive buffer;  write: THR */
#define UART_IER 1
#define UART_IIR 2 /* read: interrupt id;    write: FCR */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_ERBFI 0x01 /* RX data available (and FIFO timeout) */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK  0x0F /* 4..7 read 0: Linux's XScale probe relies on it */

#define IIR_NONE    0x01
#define IIR_MSI     0x00
#define IIR_THRI    0x02
#define IIR_RDI     0x04
#define IIR_RLSI    0x06
#define IIR_TIMEOUT 0x0C
#define IIR_FIFO    0xC0 /* both set when FCR.0 is set; bit 5 (64-byte FIFO) stays 0 */

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_KEEP     0xC9 /* enable, DMA mode, trigger level; 1 and 2 self-clear */

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_PE   0x04
#define LSR_FE   0x08
#define LSR_BI   0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERR  (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80
#define MSR_DELTA 0x0F

static unsigned serial_fifo_cap(const struct serial *s)
{
	return (s->fcr & FCR_ENABLE) ? SERIAL_FIFO_SIZE : 1;
}

/* Room for bytes from outside: none in loopback, where the RX pin is cut off. */
static unsigned serial_rx_room(const struct serial *s)
{
	if (s->mcr & MCR_LOOP)
		return 0;
	return serial_fifo_cap(s) - s->rx_count;
}

static void serial_rx_clear(struct serial *s)
{
	s->rx_head = s->rx_count = 0;
}

/* false when the FIFO is full: the caller decides whether that is an overrun. */
static bool serial_rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count >= serial_fifo_cap(s))
		return false;
	s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = b;
	s->rx_count++;
	return true;
}

static uint8_t serial_rx_trigger(const struct serial *s)
{
	static const uint8_t level[4] = { 1, 4, 8, 14 };

	return level[s->fcr >> 6];
}

/* The highest-priority pending source, as IIR bits 0..3. */
static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & IER_ELSI) && (s->lsr_err & LSR_ERR))
		return IIR_RLSI;
	if ((s->ier & IER_ERBFI) && s->rx_count) {
		/*
		 * Below the trigger level a real 16550 reports a timeout after four
		 * idle character times; input arrives in bursts here, so report it
		 * at once rather than run a timer.
		 */
		if ((s->fcr & FCR_ENABLE) && s->rx_count < serial_rx_trigger(s))
			return IIR_TIMEOUT;
		return IIR_RDI;
	}
	if ((s->ier & IER_ETBEI) && s->thr_ipending)
		return IIR_THRI;
	if ((s->ier & IER_EDSSI) && (s->msr & MSR_DELTA))
		return IIR_MSI;
	return IIR_NONE;
}

static void serial_update_irq(struct serial *s)
{
	bool level = serial_iir_id(s) != IIR_NONE &&
		     (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	irq_line_set(&s->irq, level);
}

/* Modem status inputs: the MCR outputs in loopback, a cable with a terminal otherwise. */
static void serial_update_msr(struct serial *s)
{
	uint8_t old = s->msr, st = 0, d = 0;

	if (s->mcr & MCR_LOOP) {
		st |= (s->mcr & MCR_RTS) ? MSR_CTS : 0;
		st |= (s->mcr & MCR_DTR) ? MSR_DSR : 0;
		st |= (s->mcr & MCR_OUT1) ? MSR_RI : 0;
		st |= (s->mcr & MCR_OUT2) ? MSR_DCD : 0;
	} else {
		st = MSR_CTS | MSR_DSR | MSR_DCD;
	}
	d |= ((old ^ st) & MSR_CTS) ? MSR_DCTS : 0;
	d |= ((old ^ st) & MSR_DSR) ? MSR_DDSR : 0;
	d |= ((old & MSR_RI) && !(st & MSR_RI)) ? MSR_TERI : 0; /* trailing edge only */
	d |= ((old ^ st) & MSR_DCD) ? MSR_DDCD : 0;
	s->msr = st | (old & MSR_DELTA) | d;
}

static void serial_transmit(struct serial *s, uint8_t b)
{
	if (s->mcr & MCR_LOOP) {
		if (!serial_rx_push(s, b))
			s->lsr_err |= LSR_OE;
	} else {
		fdout_write(&s->out, &b, 1);
	}
	/* The byte left at once: THR is empty again, which is the THRE interrupt. */
	s->thr_ipending = true;
}

static uint8_t serial_lsr(const struct serial *s)
{
	return s->lsr_err | (s->rx_count ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
}

/* THR writes may be posted while they cannot raise an interrupt or loop back. */
static bool serial_can_post(const struct serial *s)
{
	return !(s->ier & IER_ETBEI) && !(s->mcr & MCR_LOOP);
}

static void serial_update_tx_post(struct serial *s)
{
	bool on = serial_can_post(s);

	if (!s->tx_post || on == s->tx_posting)
		return;
	s->tx_posting = on;
	s->tx_post(s->tx_post_opaque, on);
}

/* Called with the lock held at the end of every access: true when rx_notify is due. */
static bool serial_finish(struct serial *s)
{
	serial_update_irq(s);
	serial_update_tx_post(s);
	if (s->rx_blocked && serial_rx_room(s)) {
		s->rx_blocked = false;
		return s->rx_notify != NULL;
	}
	return false;
}

static void serial_unlock(struct serial *s, bool notify)
{
	void (*fn)(void *) = s->rx_notify;
	void *opaque = s->rx_notify_opaque;

	pthread_mutex_unlock(&s->lock);
	if (notify && fn)
		fn(opaque);
}

static int serial_read(void *opaque, uint64_t off, unsigned size UNUSED, uint64_t *val)
{
	struct serial *s = opaque;
	uint8_t v = 0, id;
	bool notify;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB) {
			v = s->divisor & 0xFF;
		} else if (s->rx_count) {
			v = s->rx_fifo[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
			s->rx_count--;
			s->rx_last = v;
		} else {
			v = s->rx_last;
		}
		break;
	case UART_IER:
		v = (s->lcr & LCR_DLAB) ? s->divisor >> 8 : s->ier;
		break;
	case UART_IIR:
		id = serial_iir_id(s);
		v = id | ((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
		/* Reading IIR while it names THRE is what acknowledges THRE. */
		if (id == IIR_THRI)
			s->thr_ipending = false;
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = serial_lsr(s);
		s->lsr_err = 0;
		break;
	case UART_MSR:
		v = s->msr;
		s->msr &= ~MSR_DELTA;
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	notify = serial_finish(s);
	serial_unlock(s, notify);
	*val = v;
	return 0;
}

static void serial_write_fcr(struct serial *s, uint8_t v)
{
	/* Toggling FCR.0 empties both FIFOs. */
	if ((v ^ s->fcr) & FCR_ENABLE)
		serial_rx_clear(s);
	/* With FCR.0 clear the other bits are not programmed. */
	if (!(v & FCR_ENABLE)) {
		s->fcr = 0;
		return;
	}
	if (v & FCR_CLEAR_RX)
		serial_rx_clear(s);
	/* FCR_CLEAR_TX: the transmitter never holds bytes here. */
	s->fcr = v & FCR_KEEP;
}

static int serial_write(void *opaque, uint64_t off, unsigned size UNUSED, uint64_t val)
{
	struct serial *s = opaque;
	uint8_t v = (uint8_t)val;
	bool notify;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			s->divisor = (s->divisor & 0xFF00) | v;
		else
			serial_transmit(s, v);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->divisor = (uint16_t)((s->divisor & 0x00FF) | (v << 8));
			break;
		}
		/*
		 * Enabling ETBEI while THR is empty raises THRE at once; Linux's
		 * startup test (UART_BUG_TXEN/THRE) expects exactly that.
		 */
		if ((v & IER_ETBEI) && !(s->ier & IER_ETBEI))
			s->thr_ipending = true;
		s->ier = v & IER_MASK;
		break;
	case UART_IIR:
		serial_write_fcr(s, v);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & MCR_MASK;
		serial_update_msr(s);
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default:
		/* LSR and MSR writes are factory test modes: ignored. */
		break;
	}
	notify = serial_finish(s);
	serial_unlock(s, notify);
	return 0;
}

const struct access_ops serial_ops = {
	.read = serial_read,
	.write = serial_write,
	.min_size = 1,
	.max_size = 1,
};

int serial_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	bool notify;

	pthread_mutex_lock(&s->lock);
	while (n < len && serial_rx_room(s)) {
		serial_rx_push(s, buf[n]);
		n++;
	}
	if (n < len)
		s->rx_blocked = true;
	notify = serial_finish(s);
	serial_unlock(s, notify);
	return (int)n; /* at most SERIAL_FIFO_SIZE */
}

void serial_set_rx_notify(struct serial *s, void (*fn)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->rx_notify = fn;
	s->rx_notify_opaque = opaque;
	pthread_mutex_unlock(&s->lock);
}

void serial_set_tx_post(struct serial *s, void (*fn)(void *opaque, bool on), void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->tx_post = fn;
	s->tx_post_opaque = opaque;
	if (fn) {
		s->tx_posting = serial_can_post(s);
		fn(opaque, s->tx_posting);
	}
	pthread_mutex_unlock(&s->lock);
}

int serial_init(struct serial *s, const struct irq_line *irq, int out_fd)
{
	int rc;

	memset(s, 0, sizeof(*s));
	rc = pthread_mutex_init(&s->lock, NULL);
	if (rc)
		return -rc;
	s->ready = true;
	if (irq)
		s->irq = *irq;
	fdout_init(&s->out, out_fd);
	s->divisor = 12; /* 9600 baud until firmware or the kernel programs it */
	serial_update_msr(s);
	s->msr &= ~MSR_DELTA; /* power-on state is not a change */
	return 0;
}

void serial_destroy(struct serial *s)
{
	if (!s->ready)
		return;
	pthread_mutex_destroy(&s->lock);
	s->ready = false;
}
