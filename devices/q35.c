/*
 * devices/q35.c - Q35-compatible host bridge configuration space and PCI
 * configuration mechanism #1. See devices/q35.h for the contract.
 *
 * Register defaults and access types follow the Intel 3 Series (82Q35 MCH)
 * datasheet, D0:F0; the device ID is 0x29C0, which is what guests written
 * for QEMU's q35 machine expect.
 */
#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "common/log.h"
#include "devices/q35.h"

#define Q35_CONF_MASK  0x80FFFFFCU /* enable, bus, dev, fn, reg; 30:24 and 1:0 reserved */

/* Power-on configuration space; PAM/SMRAM/ESMRAMC live in pc_mem, not here. */
static void q35_cfg_defaults(struct q35_host *h)
{
	memset(h->cfg, 0, sizeof(h->cfg));
	memset(h->wmask, 0, sizeof(h->wmask));
	memset(h->wonce, 0, sizeof(h->wonce));

	put_le16(h->cfg + 0x00, Q35_VENDOR_ID);
	put_le16(h->cfg + 0x02, Q35_DEVICE_ID);
	/* MAE and BME are hard-wired 1: the MCH always decodes memory and masters. */
	put_le16(h->cfg + Q35_PCICMD, 0x0006);
	/* Only PERRE (bit 6) and SERRE (bit 8) are RW on the host bridge. */
	put_le16(h->wmask + Q35_PCICMD, 0x0140);
	/* CLIST (capability at CAPPTR) and FB2B are hard-wired 1. */
	put_le16(h->cfg + Q35_PCISTS, 0x0090);
	h->cfg[0x08] = 0x00;                /* RID: stepping dependent */
	h->cfg[0x0B] = 0x06;                /* base class: bridge */
	h->cfg[0x0A] = 0x00;                /* sub-class: host bridge */
	h->cfg[0x09] = 0x00;                /* prog-if */
	h->cfg[0x0E] = 0x00;                /* header type 0, single function */
	/* SVID/SID are RWO: firmware programs them once after reset. */
	memset(h->wonce + Q35_SVID, 0xFF, 4);
	h->cfg[Q35_CAPPTR] = Q35_CAPID0;
	/* CAPID0: vendor-specific capability, last in the list, 12 bytes, version 1. */
	h->cfg[Q35_CAPID0 + 0] = 0x09;
	h->cfg[Q35_CAPID0 + 1] = 0x00;
	h->cfg[Q35_CAPID0 + 2] = 0x0C;
	h->cfg[Q35_CAPID0 + 3] = 0x01;

	put_le64(h->cfg + Q35_PCIEXBAR, Q35_PCIEXBAR_DEFAULT);
	put_le64(h->wmask + Q35_PCIEXBAR, Q35_PCIEXBAR_WMASK);
}

static bool q35_bar_decode(const struct q35_host *h, uint64_t *base, uint64_t *size)
{
	uint64_t v = get_le64(h->cfg + Q35_PCIEXBAR);
	uint64_t sz;

	switch ((v & Q35_PCIEXBAR_LEN_MASK) >> 1) {
	case 0:
		sz = 256 * MiB;
		break;
	case 1:
		sz = 128 * MiB;
		break;
	case 2:
		sz = 64 * MiB;
		break;
	default:
		/* 11b is reserved: treat the window as not decoded. */
		sz = 0;
		break;
	}
	/* The base is aligned to the window size: the mask bits below it are ignored. */
	*base = sz ? v & ((1ULL << 36) - 1) & ~(sz - 1) : 0;
	*size = sz;
	return (v & Q35_PCIEXBAR_EN) && sz;
}

struct q35_bar_state {
	bool en;
	uint64_t base, size;
};

static void q35_bar_snap(const struct q35_host *h, struct q35_bar_state *s)
{
	s->en = q35_bar_decode(h, &s->base, &s->size);
	if (!s->en)
		s->base = s->size = 0;
}

/* Tell the owner about a changed ECAM window; runs with the lock released. */
static void q35_bar_notify(struct q35_host *h, const struct q35_bar_state *old,
			   const struct q35_bar_state *cur)
{
	if (!h->pciexbar_changed)
		return;
	if (old->en == cur->en && old->base == cur->base && old->size == cur->size)
		return;
	h->pciexbar_changed(h->opaque, cur->en, cur->base, cur->size);
}

static bool q35_is_host(unsigned bus, unsigned devfn)
{
	return bus == 0 && devfn == Q35_DEVFN(0, 0);
}

static bool q35_args_ok(unsigned reg, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && reg < Q35_CFG_SIZE &&
	       reg + size <= Q35_CFG_SIZE;
}

static uint8_t q35_read_byte(const struct q35_host *h, unsigned r)
{
	/* pc_mem keeps the values it acted on, so they cannot disagree. */
	if (r >= Q35_PAM0 && r < Q35_PAM0 + Q35_PAM_REGS)
		return h->pc->pam_regs[r - Q35_PAM0];
	if (r == Q35_SMRAM)
		return h->pc->smram;
	if (r == Q35_ESMRAMC)
		return h->pc->esmramc;
	return h->cfg[r];
}

static int q35_write_byte(struct q35_host *h, unsigned r, uint8_t b)
{
	uint8_t m;

	if (r >= Q35_PAM0 && r < Q35_PAM0 + Q35_PAM_REGS)
		return pc_mem_pam_write(h->pc, r - Q35_PAM0, b);
	if (r == Q35_SMRAM)
		return pc_mem_smram_write(h->pc, b);
	if (r == Q35_ESMRAMC)
		return pc_mem_esmramc_write(h->pc, b);
	m = h->wmask[r] | h->wonce[r];
	h->cfg[r] = (h->cfg[r] & ~m) | (b & m);
	h->wonce[r] = 0;
	return 0;
}

int q35_config_read(struct q35_host *h, unsigned bus, unsigned devfn, unsigned reg,
		    unsigned size, uint32_t *val)
{
	uint32_t v = 0;
	unsigned i;

	if (!val)
		return -EINVAL;
	*val = (uint32_t)access_ones(size > 4 ? 4 : size);
	if (!h || !h->ready || !q35_args_ok(reg, size))
		return -EINVAL;
	if (!q35_is_host(bus, devfn))
		return bus == 0 && h->bus ? pci_bus_config_read(h->bus, devfn, reg, size, val)
					  : -ENODEV;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < size; i++)
		v |= (uint32_t)q35_read_byte(h, reg + i) << (8 * i);
	pthread_mutex_unlock(&h->lock);
	*val = v;
	return 0;
}

int q35_config_write(struct q35_host *h, unsigned bus, unsigned devfn, unsigned reg,
		     unsigned size, uint32_t val)
{
	struct q35_bar_state old, cur;
	unsigned i;
	int ret = 0;

	if (!h || !h->ready || !q35_args_ok(reg, size))
		return -EINVAL;
	if (!q35_is_host(bus, devfn))
		return bus == 0 && h->bus ? pci_bus_config_write(h->bus, devfn, reg, size, val)
					  : -ENODEV;
	pthread_mutex_lock(&h->lock);
	q35_bar_snap(h, &old);
	/* Byte by byte, in address order: one pc_mem call per PAM register. */
	for (i = 0; i < size && !ret; i++)
		ret = q35_write_byte(h, reg + i, (uint8_t)(val >> (8 * i)));
	q35_bar_snap(h, &cur);
	pthread_mutex_unlock(&h->lock);
	q35_bar_notify(h, &old, &cur);
	return ret;
}

void q35_set_pciexbar_cb(struct q35_host *h,
			 void (*fn)(void *opaque, bool enabled, uint64_t base, uint64_t size),
			 void *opaque)
{
	pthread_mutex_lock(&h->lock);
	h->pciexbar_changed = fn;
	h->opaque = opaque;
	pthread_mutex_unlock(&h->lock);
}

void q35_set_bus(struct q35_host *h, struct pci_bus *bus)
{
	h->bus = bus;
}

bool q35_pciexbar(struct q35_host *h, uint64_t *base, uint64_t *size)
{
	uint64_t b, s;
	bool en;

	pthread_mutex_lock(&h->lock);
	en = q35_bar_decode(h, &b, &s);
	pthread_mutex_unlock(&h->lock);
	if (base)
		*base = b;
	if (size)
		*size = s;
	return en;
}

/* ---- configuration mechanism #1 ----------------------------------------- */

/*
 * 0xCF8-0xCFB: only a dword is CONFIG_ADDRESS (as on the ICH9, narrower
 * accesses are plain I/O cycles); the byte at 0xCF9 is the reset control
 * register, which lives in the debugport.
 */
static int q35_addr_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct q35_host *h = opaque;

	if (off == 0 && size == 4) {
		pthread_mutex_lock(&h->lock);
		*val = h->conf_addr;
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	if (off == DEBUGPORT_RCR_PORT - Q35_CONF_ADDR_PORT && size == 1 && h->dbg)
		return debugport_rcr_ops.read(h->dbg, 0, 1, val);
	return -EINVAL;
}

static int q35_addr_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct q35_host *h = opaque;

	if (off == 0 && size == 4) {
		pthread_mutex_lock(&h->lock);
		h->conf_addr = (uint32_t)val & Q35_CONF_MASK;
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	/* Outside our lock: the reset callback may tear the VM down. */
	if (off == DEBUGPORT_RCR_PORT - Q35_CONF_ADDR_PORT && size == 1 && h->dbg)
		return debugport_rcr_ops.write(h->dbg, 0, 1, val);
	return -EINVAL;
}

const struct access_ops q35_conf_addr_ops = {
	.read = q35_addr_read,
	.write = q35_addr_write,
	.min_size = 1,
	.max_size = 4,
};

/* Split CONFIG_ADDRESS; false when the enable bit is clear. */
static bool q35_decode_addr(struct q35_host *h, uint64_t off, unsigned *bus, unsigned *devfn,
			    unsigned *reg)
{
	uint32_t a;

	pthread_mutex_lock(&h->lock);
	a = h->conf_addr;
	pthread_mutex_unlock(&h->lock);
	if (!(a & Q35_CONF_ENABLE))
		return false;
	*bus = (a >> 16) & 0xFF;
	*devfn = (a >> 8) & 0xFF;
	*reg = (a & 0xFC) + (unsigned)off;
	return true;
}

static int q35_data_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct q35_host *h = opaque;
	unsigned bus, devfn, reg;
	uint32_t v;

	*val = access_ones(size);
	if (off >= Q35_CONF_DATA_LEN || off + size > Q35_CONF_DATA_LEN)
		return -EINVAL;
	/* Disabled or absent: a master abort, which reads all-ones. */
	if (!q35_decode_addr(h, off, &bus, &devfn, &reg))
		return 0;
	if (!q35_config_read(h, bus, devfn, reg, size, &v))
		*val = v;
	return 0;
}

static int q35_data_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct q35_host *h = opaque;
	unsigned bus, devfn, reg;

	if (off >= Q35_CONF_DATA_LEN || off + size > Q35_CONF_DATA_LEN)
		return -EINVAL;
	if (!q35_decode_addr(h, off, &bus, &devfn, &reg))
		return 0;
	/*
	 * Absent devices drop the write, and a refused PAM/SMRAM change keeps
	 * the old mapping (pc_mem rolls back): neither is the guest's error.
	 */
	if (q35_config_write(h, bus, devfn, reg, size, (uint32_t)val))
		__atomic_fetch_add(&h->dropped, 1, __ATOMIC_RELAXED);
	return 0;
}

const struct access_ops q35_conf_data_ops = {
	.read = q35_data_read,
	.write = q35_data_write,
	.min_size = 1,
	.max_size = 4,
};

/* ---- lifecycle ------------------------------------------------------------- */

int q35_init(struct q35_host *h, struct pc_mem *pc, struct debugport *dbg)
{
	int rc;

	if (!h || !pc)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	rc = pthread_mutex_init(&h->lock, NULL);
	if (rc)
		return -rc;
	h->pc = pc;
	h->dbg = dbg;
	q35_cfg_defaults(h);
	h->ready = true;
	return 0;
}

void q35_destroy(struct q35_host *h)
{
	if (!h || !h->ready)
		return;
	h->ready = false;
	pthread_mutex_destroy(&h->lock);
}

int q35_register(struct q35_host *h, struct iobus *bus)
{
	int rc;

	if (!h || !h->ready || !bus)
		return -EINVAL;
	rc = iobus_register(bus, Q35_CONF_ADDR_PORT, Q35_CONF_ADDR_LEN, &q35_conf_addr_ops, h,
			    "pci-conf-addr");
	if (rc)
		return rc;
	rc = iobus_register(bus, Q35_CONF_DATA_PORT, Q35_CONF_DATA_LEN, &q35_conf_data_ops, h,
			    "pci-conf-data");
	if (rc) {
		/* We just claimed this base ourselves, so the unwind cannot fail. */
		if (iobus_unregister(bus, Q35_CONF_ADDR_PORT, h))
			log_warn("q35: cannot unregister port 0x%x", Q35_CONF_ADDR_PORT);
		return rc;
	}
	return 0;
}

int q35_reset(struct q35_host *h)
{
	struct q35_bar_state old, cur;
	int ret;

	if (!h || !h->ready)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	q35_bar_snap(h, &old);
	q35_cfg_defaults(h);
	h->conf_addr = 0;
	ret = pc_mem_reset(h->pc);
	q35_bar_snap(h, &cur);
	pthread_mutex_unlock(&h->lock);
	q35_bar_notify(h, &old, &cur);
	return ret;
}
