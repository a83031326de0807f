/*
 * devices/pci.h - the PCI core: bus 0 (32 slots x 8 functions), type-0
 * configuration space virtualization, BAR placement in the system address
 * space and on the I/O bus, expansion ROM, capability lists, MSI-X, MSI,
 * INTx, and ECAM (PCIe MMCONFIG) decoding.
 *
 * Contract
 * - Owns nothing global: struct pci_bus and every struct pci_dev are caller
 *   owned (a device embeds its struct pci_dev). The bus keeps references to
 *   the system struct mem_space (memory BARs, ROM, ECAM) and struct iobus
 *   (I/O BARs); both must outlive it.
 * - Entry points for the guest: pci_bus_config_read/write (q35's conf1 for
 *   devfn != 0, and the ECAM region), MMIO on BARs (mem_dispatch), PIO on
 *   I/O BARs (iobus_dispatch). Everything the guest writes is validated:
 *   widths 1/2/4 naturally aligned, reg < 4096, devfn < 256; a bad access
 *   reads all-ones / drops the write and returns -EINVAL, an absent
 *   function -ENODEV. Only writable bits change (wmask), status error bits
 *   are write-1-to-clear (w1cmask).
 * - Set-up calls (pci_dev_set_bar*, pci_dev_add_cap, pci_msix_init,
 *   pci_msi_init, pci_dev_set_rom) are made before pci_bus_add; afterwards
 *   they fail with -EBUSY. pci_bus_add snapshots the configuration space as
 *   the power-on image that pci_dev_reset restores.
 * - Placement: memory BARs and the ROM live in the bus's "pci" container,
 *   which covers the whole space at priority PCI_MEM_PRIORITY (-1), so RAM,
 *   firmware and ECAM win where a guest overlaps them (QEMU does the same).
 *   A BAR is decoded only with its COMMAND bit (IO / MEM; the ROM also
 *   needs its enable bit). It stays unmapped when its address is 0, when a
 *   32-bit memory BAR or the ROM would end at or beyond 4 GiB (its last
 *   byte at 0xFFFFFFFF: the sizing pattern, and the firmware's place), when
 *   a 64-bit one wraps or does not fit below 2^phys_bits, or when an I/O BAR
 *   does not fit below 64 KiB or collides with another I/O range. Every
 *   config write that changes what should be decoded applies all changes of
 *   that device in ONE mem_begin/mem_commit (a move is one commit: the old
 *   range removed, the new added). A 64-bit BAR is re-evaluated on each
 *   dword write, like QEMU. If a listener fails the commit, the tree rolls
 *   back and the BAR stays where it was (the write returns the error).
 * - A memory BAR is a container of its size holding, by priority: the
 *   device's trapped region (ops/opaque, priority 0), caller regions such as
 *   VFIO mmaps (pci_dev_bar_add_region, priority 1..PCI_BAR_PRIO_MSIX-1),
 *   and the MSI-X table and PBA (PCI_BAR_PRIO_MSIX). So a device's BAR ops
 *   never see accesses to the MSI-X ranges: the core serves those.
 * - MSI-X: table entries (16 bytes: address lo/hi, data, vector control
 *   with the mask bit) and the PBA take 4- or 8-byte naturally aligned
 *   accesses; others are refused (read all-ones). pci_msix_notify sends
 *   through the owner's msi send callback when the vector is unmasked
 *   (entry mask, function mask, enable), or sets its PBA bit; the pending
 *   message is sent as soon as the vector becomes unmasked. The owner's
 *   vector_changed callback sees every change of a vector's effective
 *   (address, data, masked) triple, for KVM GSI routes. MSI (64-bit,
 *   per-vector masking, 1..32 vectors) works the same way from config space.
 * - INTx: pin 1..4 (INTA..INTD). Bus 0 swizzles into four shared GSIs,
 *   pci_intx_gsi(); the bus wire-ORs every function on one GSI and drives
 *   the irq_line given by pci_bus_set_intx only on changes. A function's
 *   line is blocked while INTx-disable, MSI enable or MSI-X enable is set;
 *   status bit 3 (interrupt status) follows the device's level regardless.
 * - Multi-function: bit 7 of the header type of function 0 is set while any
 *   other function of the same slot is on the bus (Linux scans functions
 *   1-7 only when fn 0 has it). Functions without a fn 0 are not found by
 *   guests. Slot 0 is the host bridge's (q35 answers devfn 0 itself).
 * - Threads and locks: one recursive mutex per bus guards every config
 *   space, BAR, MSI/MSI-X and INTx state of its devices. Lock order:
 *   (q35 host) -> pci bus -> memory space (tree lock) and iobus. Device
 *   hooks and owner callbacks (config_read/config_write, command_changed,
 *   reset, msi send, vector_changed, irq set_level) run with the bus lock
 *   held: they may call back into this API, but must not take a lock that
 *   a thread holds while calling into the PCI core. Device BAR ops are
 *   called by mem_dispatch/iobus_dispatch without any PCI lock. pci_ecam_map
 *   takes the ECAM's own lock, then the memory space's. Nothing here may be called inside a
 *   caller's mem_begin/mem_commit (that would invert the order).
 */
#ifndef VMM_DEVICES_PCI_H
#define VMM_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/access.h"
#include "common/bytes.h"
#include "common/compiler.h"
#include "devices/iobus.h"
#include "devices/irq.h"
#include "memory/memory.h"

/* ---- configuration space layout (type 0 header) ------------------------- */

#define PCI_CFG_SIZE            4096
#define PCI_CFG_LEGACY_SIZE     256     /* what conf1 reaches */
#define PCI_DEVFN_MAX           256
#define PCI_DEVFN(slot, fn)     ((((slot) & 0x1F) << 3) | ((fn) & 7))
#define PCI_SLOT(devfn)         (((devfn) >> 3) & 0x1F)
#define PCI_FUNC(devfn)         ((devfn) & 7)

#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_CACHE_LINE_SIZE     0x0C
#define PCI_HEADER_TYPE         0x0E
#define PCI_BAR0                0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID        0x2E
#define PCI_ROM_ADDRESS         0x30
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3C
#define PCI_INTERRUPT_PIN       0x3D
#define PCI_CAP_START           0x40    /* first byte the capability builder uses */
#define PCI_EXT_CAP_START       0x100

#define PCI_COMMAND_IO          0x0001
#define PCI_COMMAND_MEMORY      0x0002
#define PCI_COMMAND_MASTER      0x0004
#define PCI_COMMAND_PARITY      0x0040
#define PCI_COMMAND_SERR        0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT    0x0008
#define PCI_STATUS_CAP_LIST     0x0010
#define PCI_STATUS_W1C          0xF900  /* parity, target/master aborts, SERR, DPE */

#define PCI_HEADER_MULTI_FUNCTION 0x80
#define PCI_ROM_ENABLE          0x1
#define PCI_ROM_ADDR_MASK       0xFFFFF800U

#define PCI_BAR_SPACE_IO        0x1     /* low bits of a BAR register */
#define PCI_BAR_MEM_TYPE_64     0x4
#define PCI_BAR_MEM_PREFETCH    0x8

#define PCI_CAP_ID_MSI          0x05
#define PCI_CAP_ID_VNDR         0x09
#define PCI_CAP_ID_EXP          0x10
#define PCI_CAP_ID_MSIX         0x11

/* MSI-X capability (12 bytes) and table. */
#define PCI_MSIX_FLAGS          2       /* message control */
#define PCI_MSIX_FLAGS_QSIZE    0x07FF  /* table size - 1 */
#define PCI_MSIX_FLAGS_MASKALL  0x4000
#define PCI_MSIX_FLAGS_ENABLE   0x8000
#define PCI_MSIX_TABLE          4       /* offset | BIR */
#define PCI_MSIX_PBA            8
#define PCI_MSIX_CAP_SIZE       12
#define PCI_MSIX_ENTRY_SIZE     16
#define PCI_MSIX_ENTRY_ADDR_LO  0
#define PCI_MSIX_ENTRY_ADDR_HI  4
#define PCI_MSIX_ENTRY_DATA     8
#define PCI_MSIX_ENTRY_CTRL     12
#define PCI_MSIX_ENTRY_MASKED   0x1
#define PCI_MSIX_MAX_VECTORS    2048

/* MSI capability, 64-bit with per-vector masking (24 bytes). */
#define PCI_MSI_FLAGS           2
#define PCI_MSI_FLAGS_ENABLE    0x0001
#define PCI_MSI_FLAGS_QMASK     0x000E  /* multiple message capable */
#define PCI_MSI_FLAGS_QSIZE     0x0070  /* multiple message enable */
#define PCI_MSI_FLAGS_64BIT     0x0080
#define PCI_MSI_FLAGS_MASKBIT   0x0100
#define PCI_MSI_ADDRESS_LO      4
#define PCI_MSI_ADDRESS_HI      8
#define PCI_MSI_DATA            12
#define PCI_MSI_MASK            16
#define PCI_MSI_PENDING         20
#define PCI_MSI_CAP_SIZE        24
#define PCI_MSI_MAX_VECTORS     32

#define PCI_NUM_BARS            6
#define PCI_MEM_PRIORITY        (-1)    /* the "pci" container under RAM and ROM */
#define PCI_ECAM_PRIORITY       0
#define PCI_BAR_PRIO_MSIX       100     /* MSI-X table/PBA inside a BAR container */
#define PCI_IO_LIMIT            0x10000ULL
#define PCI_PHYS_BITS_DEFAULT   40
#define PCI_ROM_MAX             (16 * MiB)

/*
 * The GSI of a bus-0 INTx: slot @slot (0..31), pin @pin0 (0 = INTA .. 3 =
 * INTD). The swizzle spreads neighbouring slots over GSIs 16-19; the ACPI
 * _PRT (firmware/) must use this same formula.
 */
static inline unsigned pci_intx_gsi(unsigned slot, unsigned pin0)
{
	return 16 + ((slot + pin0) % 4);
}

/* ---- devices --------------------------------------------------------------- */

/* pci_dev_set_bar @flags: exactly one of IO/MEM32/MEM64, plus PREFETCH for memory. */
#define PCI_BAR_IO              0x1u
#define PCI_BAR_MEM32           0x2u
#define PCI_BAR_MEM64           0x4u
#define PCI_BAR_PREFETCH        0x8u
#define PCI_BAR_UPPER           0x10u   /* internal: the high dword of a 64-bit BAR */

struct pci_dev;

struct pci_bar {
	struct pci_dev *dev;
	unsigned flags;                 /* 0: not implemented */
	uint64_t size;
	const struct access_ops *ops;   /* trapped accesses (I/O BARs: required) */
	void *opaque;
	struct mem_region container;    /* memory BAR: what gets mapped */
	struct mem_region trap;         /* the ops region inside the container */
	bool mapped;                    /* current decode (memory: in the space; I/O: on the bus) */
	uint64_t addr;
	char name[40];
};

struct pci_dev_ops {
	/*
	 * Device-specific configuration registers (VFIO passes most of the
	 * space through). Return true when handled (a read sets *val);
	 * false lets the core do its default. @reg/@size are already
	 * validated. The pci_dev_cfg_*_default helpers give the core's view.
	 */
	bool (*config_read)(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t *val);
	bool (*config_write)(struct pci_dev *dev, unsigned reg, unsigned size, uint32_t val);
	/* COMMAND changed (after BARs were remapped): bus master gates DMA. */
	void (*command_changed)(struct pci_dev *dev, uint16_t old_cmd, uint16_t new_cmd);
	/* Device-specific reset, after the core restored the power-on state. */
	void (*reset)(struct pci_dev *dev);
};

/* A vector's effective message; masked covers entry, function mask and enable. */
struct pci_msi_msg {
	uint64_t addr;
	uint32_t data;
	bool masked;
};

/* Set by the owner (vmm/): how messages leave the device. */
struct pci_msi_hooks {
	void (*send)(void *opaque, uint64_t addr, uint32_t data);
	void (*vector_changed)(void *opaque, struct pci_dev *dev, bool msix, unsigned vector,
			       const struct pci_msi_msg *msg);
	void *opaque;
};

struct pci_msix {
	unsigned nr;                    /* 0: no MSI-X */
	unsigned cap;                   /* capability offset */
	unsigned table_bar, pba_bar;
	uint64_t table_off, pba_off;
	uint8_t *table;                 /* nr * 16 bytes */
	uint64_t *pba;                  /* (nr + 63) / 64 words */
	struct pci_msi_msg *last;       /* what vector_changed last reported */
	struct mem_region table_mr, pba_mr;
	bool table_added, pba_added;
};

struct pci_msi {
	unsigned nr;                    /* vectors capable, 0: no MSI */
	unsigned cap;
	struct pci_msi_msg last[PCI_MSI_MAX_VECTORS];
};

struct pci_bus;

struct pci_dev {
	char name[24];
	struct pci_bus *bus;            /* set while on a bus */
	unsigned devfn;
	const struct pci_dev_ops *ops;
	void *opaque;                   /* the device model's, for its hooks */

	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];    /* guest-writable bits */
	uint8_t w1cmask[PCI_CFG_SIZE];  /* write-1-to-clear bits */
	uint8_t cfg_reset[PCI_CFG_SIZE];/* power-on image, taken by pci_bus_add */

	struct pci_bar bars[PCI_NUM_BARS];
	unsigned cap_next;              /* next free byte for pci_dev_add_cap */
	unsigned cap_last;              /* last capability (0: none) */
	unsigned ext_next, ext_last;

	uint8_t *rom;                   /* expansion ROM contents, rom_size bytes */
	uint64_t rom_size;              /* power of two >= 2 KiB, 0: none */
	struct mem_region rom_mr;
	bool rom_mapped;
	uint64_t rom_addr;

	struct pci_msix msix;
	struct pci_msi msi;
	struct pci_msi_hooks msi_hooks;

	bool intx_level;                /* what the device drives */
	bool intx_asserted;             /* what it contributes to the shared GSI */
	bool ready;
};

/*
 * Start a function: zeroed state, IDs, class code (24-bit: base class,
 * sub-class, prog-if), revision, header type 0, the generic writable and
 * write-1-to-clear bits. @ops/@opaque may be NULL.
 */
void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, const struct pci_dev_ops *ops,
		  void *opaque);
/* Free what the core allocated; removes the device from its bus first. Safe twice. */
void pci_dev_destroy(struct pci_dev *dev);

void pci_dev_set_subsystem(struct pci_dev *dev, uint16_t svid, uint16_t sid);
/* Interrupt pin 1..4 (INTA..INTD), 0 for none. */
int pci_dev_set_intx_pin(struct pci_dev *dev, unsigned pin) WUR;

/*
 * BAR @n (0..5; a 64-bit BAR also takes n+1). Size: power of two, I/O 4
 * bytes..64 KiB, memory 16 bytes..2 GiB (32-bit) or 2^63 (64-bit). @ops
 * serve trapped accesses at offsets inside the BAR (an I/O BAR needs them;
 * for memory they may be NULL when the BAR holds only regions and MSI-X).
 * -EINVAL bad arguments, -EEXIST BAR taken, -EBUSY already on a bus.
 */
int pci_dev_set_bar(struct pci_dev *dev, unsigned n, unsigned flags, uint64_t size,
		    const struct access_ops *ops, void *opaque) WUR;
/* A RAM-like memory BAR: @r (caller-owned, e.g. a VFIO mmap) fills it. */
int pci_dev_set_bar_region(struct pci_dev *dev, unsigned n, unsigned flags, uint64_t size,
			   struct mem_region *r) WUR;
/* Add caller region @r at @off of memory BAR @n, priority 1..PCI_BAR_PRIO_MSIX-1. */
int pci_dev_bar_add_region(struct pci_dev *dev, unsigned n, struct mem_region *r, uint64_t off,
			   int priority) WUR;

/* Expansion ROM (read-only, copied): BAR size is @len rounded up to a power of two, >= 2 KiB. */
int pci_dev_set_rom(struct pci_dev *dev, const void *data, size_t len) WUR;

/*
 * Append a capability of @size bytes (>= 2, dword aligned placement in
 * 0x40-0xFF), link it at the end of the list, set status bit 4; *off gets
 * its offset. Bytes after the 2-byte header are zero and read-only until the
 * device sets cfg/wmask. -ENOSPC when full.
 */
int pci_dev_add_cap(struct pci_dev *dev, uint8_t id, unsigned size, unsigned *off) WUR;
/* Extended capability (0x100-0xFFF, reachable through ECAM only), @size >= 4. */
int pci_dev_add_ext_cap(struct pci_dev *dev, uint16_t id, uint8_t version, unsigned size,
			unsigned *off) WUR;

/*
 * MSI-X with @nr vectors (1..2048): the table at @table_off of memory BAR
 * @table_bar, the PBA at @pba_off of @pba_bar (offsets 8-byte aligned, each
 * inside its BAR, not overlapping each other). Vectors start masked.
 */
int pci_msix_init(struct pci_dev *dev, unsigned nr, unsigned table_bar, uint64_t table_off,
		  unsigned pba_bar, uint64_t pba_off) WUR;
/* MSI, 64-bit with per-vector masking, @nr 1, 2, 4, 8, 16 or 32. */
int pci_msi_init(struct pci_dev *dev, unsigned nr) WUR;

/* How this function's messages leave (any time; NULL fields are skipped). */
void pci_dev_set_msi_hooks(struct pci_dev *dev, const struct pci_msi_hooks *hooks);

/*
 * Raise MSI-X vector @vector: sent now when unmasked, else its PBA bit is
 * set and the message goes out on unmask. -ENOTCONN when MSI-X is not
 * enabled (use MSI or INTx), -EINVAL bad vector, -ENODEV not on a bus.
 */
int pci_msix_notify(struct pci_dev *dev, unsigned vector);
/* The same for MSI; @vector must be below the enabled vector count. */
int pci_msi_notify(struct pci_dev *dev, unsigned vector);

enum pci_irq_mode { PCI_IRQ_INTX, PCI_IRQ_MSI, PCI_IRQ_MSIX };
/* Which of the three the guest enabled (MSI-X wins over MSI). */
enum pci_irq_mode pci_dev_irq_mode(struct pci_dev *dev);
bool pci_msix_vector_masked(struct pci_dev *dev, unsigned vector);

/* Drive the INTx level (level-triggered); updates status bit 3. */
void pci_dev_set_irq(struct pci_dev *dev, int level);

uint16_t pci_dev_command(struct pci_dev *dev);
bool pci_dev_bus_master(struct pci_dev *dev);
/* Where BAR @n is decoded right now; false when unmapped. */
bool pci_dev_bar_mapped(struct pci_dev *dev, unsigned n, uint64_t *addr);

/*
 * The core's own configuration behaviour, for a device hook that merges
 * it with device-specific bytes. Same validation as the bus entry points.
 */
int pci_dev_cfg_read_default(struct pci_dev *dev, unsigned reg, unsigned size,
			     uint32_t *val) WUR;
int pci_dev_cfg_write_default(struct pci_dev *dev, unsigned reg, unsigned size,
			      uint32_t val) WUR;

/* Power-on state (BARs unmapped, vectors masked, INTx low), then ops->reset. */
void pci_dev_reset(struct pci_dev *dev);

/* ---- the bus ----------------------------------------------------------- */

struct pci_bus {
	pthread_mutex_t lock;           /* recursive; see the contract */
	bool ready;
	struct mem_space *space;
	struct iobus *iobus;
	struct mem_region mem;          /* "pci": container for BARs and ROMs */
	unsigned phys_bits;
	struct irq_line intx;           /* set_level/opaque; gsi given per call */
	unsigned intx_count[4];         /* functions asserting GSI 16 + i */
	struct pci_dev *devs[PCI_DEVFN_MAX];
};

/* Adds the empty "pci" container to @space's root. @iobus may be NULL (no I/O BARs decode). */
int pci_bus_init(struct pci_bus *bus, struct mem_space *space, struct iobus *iobus) WUR;
/* Removes every device (unmapping its BARs) and the container. Safe on a half-built bus. */
void pci_bus_destroy(struct pci_bus *bus);

/* Guest phys-bits (32..52): memory BARs must end below 2^bits. Default 40. */
int pci_bus_set_phys_bits(struct pci_bus *bus, unsigned bits) WUR;
/* The INTx sink (KVM_IRQ_LINE in vmm/); its gsi field is ignored. */
void pci_bus_set_intx(struct pci_bus *bus, const struct irq_line *line);

/* -EEXIST devfn taken, -EINVAL bad devfn/device, -EBUSY device on a bus. */
int pci_bus_add(struct pci_bus *bus, struct pci_dev *dev, unsigned devfn) WUR;
/* Unmap, drop its INTx, free the devfn. -ENOENT when not on @bus. */
int pci_bus_remove(struct pci_bus *bus, struct pci_dev *dev) WUR;
struct pci_dev *pci_bus_find(struct pci_bus *bus, unsigned devfn);

/*
 * Configuration access to bus 0 @devfn: @size 1/2/4, @reg aligned to it
 * and < 4096. Absent: all-ones / dropped, -ENODEV. Bad: -EINVAL.
 * A write may return a memory-commit error (the BAR did not move).
 */
int pci_bus_config_read(struct pci_bus *bus, unsigned devfn, unsigned reg, unsigned size,
			uint32_t *val) WUR;
int pci_bus_config_write(struct pci_bus *bus, unsigned devfn, unsigned reg, unsigned size,
			 uint32_t val) WUR;

/* Reset every function on the bus (pci_dev_reset). */
void pci_bus_reset(struct pci_bus *bus);

/* ---- ECAM -------------------------------------------------------------- */

/* A configuration accessor, the shape of q35_config_read/write with an opaque. */
typedef int (*pci_cfg_read_fn)(void *opaque, unsigned bus, unsigned devfn, unsigned reg,
			       unsigned size, uint32_t *val);
typedef int (*pci_cfg_write_fn)(void *opaque, unsigned bus, unsigned devfn, unsigned reg,
				unsigned size, uint32_t val);

/*
 * The memory-mapped configuration window: offset = bus << 20 | devfn << 12
 * | reg. By default bus 0 goes to pci_bus_config_* and other buses read
 * all-ones; pci_ecam_set_target routes every access elsewhere instead (vmm/:
 * through q35, which answers devfn 0 itself and forwards the rest to the
 * bus). 1, 2 and 4-byte naturally aligned accesses; others are refused. Two
 * regions take turns so that a move is one transaction (old removed, new
 * added).
 */
struct pci_ecam {
	pthread_mutex_t lock;           /* guards active; order: ecam -> memory space */
	struct pci_bus *bus;
	pci_cfg_read_fn read;           /* NULL: bus 0 of @bus */
	pci_cfg_write_fn write;
	void *target;
	struct mem_space *space;
	struct mem_region win[2];
	int active;                     /* index of the mapped window, -1: none */
	bool ready;
};

int pci_ecam_init(struct pci_ecam *e, struct pci_bus *bus) WUR;
/* Route every ECAM access (all 256 buses) to @rd/@wr; call before mapping. */
void pci_ecam_set_target(struct pci_ecam *e, pci_cfg_read_fn rd, pci_cfg_write_fn wr,
			 void *opaque);
void pci_ecam_destroy(struct pci_ecam *e);
/* @base 1 MiB aligned, @size a multiple of 1 MiB up to 256 MiB, no wrap. */
int pci_ecam_map(struct pci_ecam *e, uint64_t base, uint64_t size) WUR;
int pci_ecam_unmap(struct pci_ecam *e) WUR;
/* Ready-made q35_set_pciexbar_cb() callback; @opaque is the struct pci_ecam. */
void pci_ecam_pciexbar_cb(void *opaque, bool enabled, uint64_t base, uint64_t size);

#endif
