/*
 * devices/q35.h - the Q35-compatible PCI host bridge (MCH, bus 0 dev 0 fn 0)
 * and PCI configuration mechanism #1 (0xCF8 address, 0xCFC data).
 *
 * Contract
 * - The host bridge decodes its configuration space only; PAM0-6 (0x90-0x96),
 *   SMRAM (0x9D) and ESMRAMC (0x9E) are handed to memory/pc (pc_mem_*_write)
 *   which owns their semantics and their values, so reads come from there.
 * - PCIEXBAR (0x60, 64-bit) is stored; q35_pciexbar() decodes it and an
 *   optional callback tells the owner when the decoded window changes (ECAM).
 * - Everything else is read-only (SVID/SID are write-once, as on the MCH).
 *   Writes of any width change only writable bits; a write spanning several
 *   PAM registers calls pc_mem_pam_write() once per register, in order.
 * - 0xCF8-0xCFB is one 4-byte I/O range: a dword access is CONFIG_ADDRESS,
 *   a byte access at 0xCF9 goes to the ICH9 reset control register
 *   (debugport_rcr_ops of the debugport given at init; the iobus forbids
 *   overlap, so the host must forward it), other widths/offsets are refused
 *   (all-ones / dropped). 0xCFC-0xCFF is the data window, 1/2/4 bytes, the
 *   port's low bits select the bytes within the addressed dword.
 * - Other functions of bus 0 go to the PCI bus given with q35_set_bus()
 *   (devices/pci.h), outside the host's lock; without one, and on other
 *   buses, absent devices read all-ones and drop writes.
 * - Thread-safe: one mutex per host, held across pc_mem calls (lock order
 *   q35 -> memory) and released for the PCIEXBAR callback and the
 *   reset-control forward (its callback may end the VM).
 */
#ifndef VMM_DEVICES_Q35_H
#define VMM_DEVICES_Q35_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"
#include "devices/debugport.h"
#include "devices/iobus.h"
#include "devices/pci.h"
#include "memory/pc.h"

#define Q35_CONF_ADDR_PORT   0xCF8
#define Q35_CONF_ADDR_LEN    4
#define Q35_CONF_DATA_PORT   0xCFC
#define Q35_CONF_DATA_LEN    4

#define Q35_VENDOR_ID        0x8086
#define Q35_DEVICE_ID        0x29C0
#define Q35_CFG_SIZE         4096   /* PCIe extended space, for ECAM later */

/* Host bridge register offsets (Intel 3 Series / Q35 MCH, D0:F0). */
#define Q35_PCICMD           0x04
#define Q35_PCISTS           0x06
#define Q35_SVID             0x2C
#define Q35_CAPPTR           0x34
#define Q35_PCIEXBAR         0x60
#define Q35_PAM0             0x90
#define Q35_PAM_REGS         7      /* PAM0..PAM6 */
#define Q35_SMRAM            0x9D
#define Q35_ESMRAMC          0x9E
#define Q35_CAPID0           0xE0

/* PCIEXBAR fields. */
#define Q35_PCIEXBAR_EN       0x1ULL
#define Q35_PCIEXBAR_LEN_MASK 0x6ULL
#define Q35_PCIEXBAR_DEFAULT  0xE0000000ULL  /* datasheet power-on value, disabled */
#define Q35_PCIEXBAR_WMASK    0xFFC000007ULL /* bits 35:26 and 2:0 */

#define Q35_CONF_ENABLE      0x80000000U

/* PCI_DEVFN(dev, fn). */
#define Q35_DEVFN(dev, fn)   (((dev) << 3) | (fn))

struct q35_host {
	pthread_mutex_t lock;
	bool ready;
	struct pc_mem *pc;
	struct debugport *dbg;          /* reset control at 0xCF9; may be NULL */
	uint32_t conf_addr;             /* CONFIG_ADDRESS as last written */
	uint64_t dropped;               /* conf1 data writes refused (absent device, pc_mem error) */
	uint8_t cfg[Q35_CFG_SIZE];
	uint8_t wmask[Q35_CFG_SIZE];    /* writable bits of plain (stored) registers */
	uint8_t wonce[Q35_CFG_SIZE];    /* write-once bits not yet written */
	/* Called (lock released) when the decoded PCIEXBAR window changes. */
	void (*pciexbar_changed)(void *opaque, bool enabled, uint64_t base, uint64_t size);
	void *opaque;
	struct pci_bus *bus;            /* bus 0's other functions; NULL: none */
};

extern const struct access_ops q35_conf_addr_ops;
extern const struct access_ops q35_conf_data_ops;

/* @pc must be built (pc_mem_build) before the guest runs; @dbg may be NULL. */
int q35_init(struct q35_host *h, struct pc_mem *pc, struct debugport *dbg) WUR;
void q35_destroy(struct q35_host *h);

/* Claim 0xCF8-0xCFB and 0xCFC-0xCFF on @bus; on failure neither stays. */
int q35_register(struct q35_host *h, struct iobus *bus) WUR;

/*
 * Configuration-space access for bus/devfn/reg, @size 1, 2 or 4 within the
 * 4 KiB space. Absent devices: *val all-ones / write dropped, -ENODEV.
 * Bad size or range: -EINVAL (*val all-ones). A pc_mem failure is returned
 * and stops a multi-byte write at that byte.
 */
int q35_config_read(struct q35_host *h, unsigned bus, unsigned devfn, unsigned reg,
		    unsigned size, uint32_t *val) WUR;
int q35_config_write(struct q35_host *h, unsigned bus, unsigned devfn, unsigned reg,
		     unsigned size, uint32_t val) WUR;

/* Set the PCIEXBAR change callback (may be NULL); call before the guest runs. */
void q35_set_pciexbar_cb(struct q35_host *h,
			 void (*fn)(void *opaque, bool enabled, uint64_t base, uint64_t size),
			 void *opaque);
/* Forward bus 0 functions other than 00:00.0 to @bus (NULL: none); before the guest runs. */
void q35_set_bus(struct q35_host *h, struct pci_bus *bus);
/* The decoded PCIEXBAR: true when enabled with a valid length. */
bool q35_pciexbar(struct q35_host *h, uint64_t *base, uint64_t *size);

/* Power-on values for the config space and CONFIG_ADDRESS, then pc_mem_reset(). */
int q35_reset(struct q35_host *h) WUR;

#endif
