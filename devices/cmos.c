/*
 * devices/cmos.c - MC146818 RTC + CMOS NVRAM (see cmos.h for the contract).
 * Register facts from the Motorola MC146818A datasheet; memory-size
 * locations per the PC/AT BIOS convention SeaBIOS reads.
 */
#include <errno.h>
#include <string.h>

#include "devices/cmos.h"

#define CMOS_INDEX_OFF 0
#define CMOS_DATA_OFF  1
#define CMOS_INDEX_MASK 0x7F /* bit 7 of the index port is NMI disable */

/* Clock and control registers */
#define RTC_SECONDS       0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES       0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS         0x04
#define RTC_HOURS_ALARM   0x05
#define RTC_DAY_OF_WEEK   0x06
#define RTC_DAY_OF_MONTH  0x07
#define RTC_MONTH         0x08
#define RTC_YEAR          0x09
#define RTC_REG_A         0x0A
#define RTC_REG_B         0x0B
#define RTC_REG_C         0x0C
#define RTC_REG_D         0x0D
#define RTC_CENTURY       0x32

#define REG_A_UIP   0x80
#define REG_A_DV    0x70
#define REG_A_DV_32K 0x20 /* 32.768 kHz time base, divider running */
#define REG_A_RS    0x0F

#define REG_B_DSE   0x01
#define REG_B_24H   0x02
#define REG_B_DM    0x04 /* 1 = binary, 0 = BCD */
#define REG_B_UIE   0x10
#define REG_B_AIE   0x20
#define REG_B_PIE   0x40
#define REG_B_SET   0x80

#define REG_C_UF    0x10
#define REG_C_AF    0x20
#define REG_C_PF    0x40
#define REG_C_IRQF  0x80

#define REG_D_VRT   0x80 /* the battery is fine */

#define HOUR_PM     0x80 /* 12-hour mode */
#define ALARM_DONT_CARE 0xC0 /* alarm byte with both top bits set matches anything */

/* Machine description bytes */
#define CMOS_SHUTDOWN   0x0F
#define CMOS_FLOPPY     0x10
#define CMOS_EQUIPMENT  0x14
#define CMOS_BASE_LO    0x15
#define CMOS_BASE_HI    0x16
#define CMOS_EXT_LO     0x17
#define CMOS_EXT_HI     0x18
#define CMOS_CSUM_HI    0x2E
#define CMOS_CSUM_LO    0x2F
#define CMOS_EXT2_LO    0x30
#define CMOS_EXT2_HI    0x31
#define CMOS_16M_LO     0x34
#define CMOS_16M_HI     0x35
#define CMOS_4G_LO      0x5B
#define CMOS_4G_MID     0x5C
#define CMOS_4G_HI      0x5D
#define CMOS_NCPUS_M1   0x5F
#define CMOS_CSUM_FIRST 0x10
#define CMOS_CSUM_LAST  0x2D

#define EQUIP_FPU       0x02 /* no floppy (bit 0), EGA/VGA display (bits 4-5 = 0) */

#define NSEC_PER_SEC 1000000000LL

static int64_t cmos_host_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static uint64_t cmos_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static bool cmos_binary(const struct cmos *c)
{
	return c->ram[RTC_REG_B] & REG_B_DM;
}

static uint8_t cmos_enc(const struct cmos *c, int v)
{
	unsigned u = (unsigned)v % 100;

	return cmos_binary(c) ? (uint8_t)u : (uint8_t)(((u / 10) << 4) | (u % 10));
}

/* Guest-written bytes may be invalid BCD; the result is merely wrong, never UB. */
static int cmos_dec(const struct cmos *c, uint8_t v)
{
	return cmos_binary(c) ? v : (v >> 4) * 10 + (v & 0x0F);
}

static uint8_t cmos_enc_hour(const struct cmos *c, int h)
{
	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_enc(c, h);
	return cmos_enc(c, h % 12 ? h % 12 : 12) | (h >= 12 ? HOUR_PM : 0);
}

static int cmos_dec_hour(const struct cmos *c, uint8_t v)
{
	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_dec(c, v);
	return cmos_dec(c, v & ~HOUR_PM) % 12 + ((v & HOUR_PM) ? 12 : 0);
}

/* The guest's clock, broken down. Frozen at what was written while SET is on. */
static void cmos_now_tm(const struct cmos *c, struct tm *tm)
{
	time_t t;

	if (c->ram[RTC_REG_B] & REG_B_SET) {
		*tm = c->set_tm;
		return;
	}
	t = (time_t)(cmos_host_sec() + c->offset);
	gmtime_r(&t, tm);
}

static bool cmos_is_clock(unsigned idx)
{
	switch (idx) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		return true;
	}
	return false;
}

static uint8_t cmos_clock_read(const struct cmos *c, unsigned idx)
{
	struct tm tm;
	int year;

	cmos_now_tm(c, &tm);
	year = tm.tm_year + 1900;
	switch (idx) {
	case RTC_SECONDS:
		return cmos_enc(c, tm.tm_sec);
	case RTC_MINUTES:
		return cmos_enc(c, tm.tm_min);
	case RTC_HOURS:
		return cmos_enc_hour(c, tm.tm_hour);
	case RTC_DAY_OF_WEEK:
		return cmos_enc(c, tm.tm_wday + 1); /* 1 = Sunday */
	case RTC_DAY_OF_MONTH:
		return cmos_enc(c, tm.tm_mday);
	case RTC_MONTH:
		return cmos_enc(c, tm.tm_mon + 1);
	case RTC_YEAR:
		return cmos_enc(c, year % 100);
	default: /* RTC_CENTURY */
		return cmos_enc(c, year / 100);
	}
}

static void cmos_clock_write(struct cmos *c, unsigned idx, uint8_t v)
{
	struct tm tm;
	int year;

	cmos_now_tm(c, &tm);
	year = tm.tm_year + 1900;
	switch (idx) {
	case RTC_SECONDS:
		tm.tm_sec = cmos_dec(c, v);
		break;
	case RTC_MINUTES:
		tm.tm_min = cmos_dec(c, v);
		break;
	case RTC_HOURS:
		tm.tm_hour = cmos_dec_hour(c, v);
		break;
	case RTC_DAY_OF_MONTH:
		tm.tm_mday = cmos_dec(c, v);
		break;
	case RTC_MONTH:
		tm.tm_mon = cmos_dec(c, v) - 1;
		break;
	case RTC_YEAR:
		tm.tm_year = year / 100 * 100 + cmos_dec(c, v) - 1900;
		break;
	case RTC_CENTURY:
		tm.tm_year = cmos_dec(c, v) * 100 + year % 100 - 1900;
		break;
	default:
		/* Day of week is derived from the date. */
		return;
	}
	if (c->ram[RTC_REG_B] & REG_B_SET) {
		/*
		 * Keep the fields raw until SET drops: Linux writes year, month,
		 * day... one at a time, and normalising "Feb 31" in between would
		 * move the date.
		 */
		c->set_tm = tm;
		return;
	}
	c->offset = (int64_t)timegm(&tm) - cmos_host_sec();
}

static uint64_t cmos_period_ns(const struct cmos *c)
{
	unsigned rs = c->ram[RTC_REG_A] & REG_A_RS;

	if (!rs)
		return 0;
	/* 32.768 kHz base: rates 1 and 2 repeat 256 and 128 Hz, then 32768 >> (rs - 1). */
	if (rs <= 2)
		return NSEC_PER_SEC / (256 >> (rs - 1));
	return NSEC_PER_SEC / (32768 >> (rs - 1));
}

static bool cmos_alarm_match(const struct cmos *c, uint8_t alarm, int v, bool hour)
{
	if ((alarm & ALARM_DONT_CARE) == ALARM_DONT_CARE)
		return true;
	return (hour ? cmos_dec_hour(c, alarm) : cmos_dec(c, alarm)) == v;
}

/* Set PF/UF/AF for the time that passed since the last check. Lock held. */
static void cmos_update_flags(struct cmos *c)
{
	uint8_t *rc = &c->ram[RTC_REG_C];
	bool running = (c->ram[RTC_REG_A] & REG_A_DV) == REG_A_DV_32K;
	uint64_t period = cmos_period_ns(c);
	int64_t sec = cmos_host_sec();
	struct tm tm;

	if (running && period) {
		uint64_t idx = cmos_mono_ns() / period;

		if (idx != c->last_period)
			*rc |= REG_C_PF;
		c->last_period = idx;
	}
	/* SET holds off update cycles, and with them UF and AF. */
	if (running && !(c->ram[RTC_REG_B] & REG_B_SET) && sec != c->last_sec) {
		*rc |= REG_C_UF;
		cmos_now_tm(c, &tm);
		if (cmos_alarm_match(c, c->ram[RTC_SECONDS_ALARM], tm.tm_sec, false) &&
		    cmos_alarm_match(c, c->ram[RTC_MINUTES_ALARM], tm.tm_min, false) &&
		    cmos_alarm_match(c, c->ram[RTC_HOURS_ALARM], tm.tm_hour, true))
			*rc |= REG_C_AF;
	}
	c->last_sec = sec;
}

static void cmos_update_irq(struct cmos *c)
{
	uint8_t b = c->ram[RTC_REG_B], f = c->ram[RTC_REG_C];
	bool level = ((f & REG_C_PF) && (b & REG_B_PIE)) ||
		     ((f & REG_C_AF) && (b & REG_B_AIE)) ||
		     ((f & REG_C_UF) && (b & REG_B_UIE));

	if (level)
		c->ram[RTC_REG_C] |= REG_C_IRQF;
	else
		c->ram[RTC_REG_C] &= ~REG_C_IRQF;
	if (level == c->irq_level)
		return;
	c->irq_level = level;
	irq_line_set(&c->irq, level);
}

/* A data-port read without side effects. Lock held. */
static uint8_t cmos_value(const struct cmos *c, unsigned idx)
{
	if (cmos_is_clock(idx))
		return cmos_clock_read(c, idx);
	if (idx == RTC_REG_A)
		return c->ram[idx] & ~REG_A_UIP; /* never in an update: no guest spins on it */
	if (idx == RTC_REG_D)
		return REG_D_VRT;
	return c->ram[idx];
}

static int cmos_read(void *opaque, uint64_t off, unsigned size UNUSED, uint64_t *val)
{
	struct cmos *c = opaque;
	unsigned idx;

	if (off == CMOS_INDEX_OFF) {
		*val = 0xFF;
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	idx = c->index & CMOS_INDEX_MASK;
	if (idx == RTC_REG_C) {
		cmos_update_flags(c);
		cmos_update_irq(c);
		*val = c->ram[RTC_REG_C];
		c->ram[RTC_REG_C] = 0;
		cmos_update_irq(c);
	} else {
		*val = cmos_value(c, idx);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void cmos_write_b(struct cmos *c, uint8_t v)
{
	uint8_t old = c->ram[RTC_REG_B];

	if ((v & REG_B_SET) && !(old & REG_B_SET)) {
		/* Freeze the clock as it reads now; the guest then rewrites fields. */
		cmos_now_tm(c, &c->set_tm);
		v &= ~REG_B_UIE; /* the datasheet clears UIE when SET goes high */
	}
	c->ram[RTC_REG_B] = v;
	if (!(v & REG_B_SET) && (old & REG_B_SET)) {
		struct tm tm = c->set_tm;

		c->offset = (int64_t)timegm(&tm) - cmos_host_sec();
		c->last_sec = cmos_host_sec();
	}
}

static int cmos_write(void *opaque, uint64_t off, unsigned size UNUSED, uint64_t val)
{
	struct cmos *c = opaque;
	uint8_t v = (uint8_t)val;
	unsigned idx;

	pthread_mutex_lock(&c->lock);
	if (off == CMOS_INDEX_OFF) {
		c->index = v;
		goto out;
	}
	idx = c->index & CMOS_INDEX_MASK;
	if (cmos_is_clock(idx)) {
		cmos_clock_write(c, idx, v);
		goto out;
	}
	switch (idx) {
	case RTC_REG_A:
		c->ram[idx] = v & ~REG_A_UIP;
		/* A new rate starts counting now, not from the epoch. */
		if (cmos_period_ns(c))
			c->last_period = cmos_mono_ns() / cmos_period_ns(c);
		break;
	case RTC_REG_B:
		cmos_write_b(c, v);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		c->ram[idx] = v;
		break;
	}
	cmos_update_irq(c);
out:
	pthread_mutex_unlock(&c->lock);
	return 0;
}

const struct access_ops cmos_ops = {
	.read = cmos_read,
	.write = cmos_write,
	.min_size = 1,
	.max_size = 1,
};

uint8_t cmos_peek(struct cmos *c, unsigned idx)
{
	uint8_t v;

	pthread_mutex_lock(&c->lock);
	v = cmos_value(c, idx & CMOS_INDEX_MASK);
	pthread_mutex_unlock(&c->lock);
	return v;
}

int64_t cmos_tick(struct cmos *c)
{
	int64_t next = -1;
	uint64_t period;
	uint8_t b;

	pthread_mutex_lock(&c->lock);
	cmos_update_flags(c);
	cmos_update_irq(c);
	b = c->ram[RTC_REG_B];
	period = cmos_period_ns(c);
	if ((b & REG_B_PIE) && period)
		next = (int64_t)(period - cmos_mono_ns() % period);
	if (b & (REG_B_UIE | REG_B_AIE)) {
		struct timespec ts;
		int64_t to_sec;

		clock_gettime(CLOCK_REALTIME, &ts);
		to_sec = NSEC_PER_SEC - ts.tv_nsec;
		if (next < 0 || to_sec < next)
			next = to_sec;
	}
	pthread_mutex_unlock(&c->lock);
	return next;
}

static void cmos_set16(struct cmos *c, unsigned lo, uint16_t v)
{
	c->ram[lo] = v & 0xFF;
	c->ram[lo + 1] = v >> 8;
}

int cmos_init(struct cmos *c, const struct pc_cmos_mem *mem, unsigned ncpus,
	      const struct irq_line *irq)
{
	uint16_t sum = 0;
	unsigned i;
	int rc;

	memset(c, 0, sizeof(*c));
	/* 0x5F holds CPUs - 1 in one byte. */
	if (!mem || ncpus == 0 || ncpus > 256)
		return -EINVAL;
	rc = pthread_mutex_init(&c->lock, NULL);
	if (rc)
		return -rc;
	c->ready = true;
	if (irq)
		c->irq = *irq;

	c->ram[RTC_REG_A] = REG_A_DV_32K | 0x06; /* 1024 Hz rate selected, as firmware leaves it */
	c->ram[RTC_REG_B] = REG_B_24H;           /* BCD, 24h, no interrupts */
	c->ram[CMOS_SHUTDOWN] = 0;               /* normal POST on reset */
	c->ram[CMOS_FLOPPY] = 0;
	c->ram[CMOS_EQUIPMENT] = EQUIP_FPU;
	cmos_set16(c, CMOS_BASE_LO, mem->base_kb);
	cmos_set16(c, CMOS_EXT_LO, mem->ext_kb);
	cmos_set16(c, CMOS_EXT2_LO, mem->ext_kb);
	cmos_set16(c, CMOS_16M_LO, mem->mem_16m_64k);
	c->ram[CMOS_4G_LO] = mem->mem_4g_64k & 0xFF;
	c->ram[CMOS_4G_MID] = (mem->mem_4g_64k >> 8) & 0xFF;
	c->ram[CMOS_4G_HI] = (mem->mem_4g_64k >> 16) & 0xFF;
	c->ram[CMOS_NCPUS_M1] = (uint8_t)(ncpus - 1);
	for (i = CMOS_CSUM_FIRST; i <= CMOS_CSUM_LAST; i++)
		sum += c->ram[i];
	c->ram[CMOS_CSUM_HI] = sum >> 8;
	c->ram[CMOS_CSUM_LO] = sum & 0xFF;

	c->last_sec = cmos_host_sec();
	c->last_period = cmos_mono_ns() / cmos_period_ns(c);
	return 0;
}

void cmos_destroy(struct cmos *c)
{
	if (!c->ready)
		return;
	pthread_mutex_destroy(&c->lock);
	c->ready = false;
}
