/*
 * vfio/pci.h - the passthrough PCI device: a struct pci_dev built over a
 * VFIO device (struct vfio_dev_io: a real fd or a test fake).
 *
 * Contract
 * - Owns: its struct pci_dev (the caller adds it to a bus with pci_bus_add
 *   after vfio_pci_init and destroys with vfio_pci_destroy, which removes
 *   it), the BAR mmaps, the eventfds it creates. Not the device io: the
 *   caller closes the fd (vfio_dev_fd_close) after vfio_pci_destroy.
 * - Config space: IDs, class, subsystem, header copied once; BARs, COMMAND,
 *   STATUS, ROM BAR, interrupt line/pin, MSI and MSI-X are the PCI core's
 *   (the device never sees guest BAR addresses). COMMAND's IO, MEMORY,
 *   MASTER and INTX_DISABLE bits are forwarded to the device when they
 *   change. Kept capabilities are passed through at the device's offsets:
 *   power management (PMCSR writable), PCI Express (device control and
 *   device control 2 writable; an endpoint is shown as a root-complex
 *   integrated endpoint with its link registers reading 0, as on bus 0),
 *   vendor-specific (writable after the length byte). MSI and MSI-X are
 *   emulated by the core, at the device's offset when the core's layout
 *   fits there, else in a free gap. Every other capability is unlinked
 *   from the chain (vfio_pci.hidden lists them); bytes 0x40-0xFF outside
 *   kept capabilities read 0 and ignore writes; extended space
 *   (0x100-0xFFF) is hidden: it reads 0.
 * - BARs: sizes from the VFIO regions. Memory BARs are containers holding
 *   a trapped region over the whole BAR and, above it, RAM regions over
 *   mmaps of the page-aligned mappable parts (sparse areas, minus the pages
 *   holding the MSI-X table and PBA, which the core serves; the rest of
 *   those pages stays trapped, so no sub-page RAM range reaches a memslot).
 *   I/O BARs are trapped. A trapped access reaches the device as exactly
 *   one access of the guest's width (I4), or with opts.split_qword an
 *   8-byte access as two 4-byte ones, low then high. Where the trapped
 *   access falls in a part VFIO lets us mmap (every BAR with
 *   opts.no_mmap, the rest of the MSI-X pages otherwise), it is one
 *   volatile load or store of that width on an access window (an mmap not
 *   given to the guest): vfio-pci before Linux 6.10 splits an 8-byte
 *   pread into two 4-byte reads, a window never does. Elsewhere, and for
 *   unaligned accesses, it is one pread/pwrite of that width (ops->read).
 *   Accesses past the region read all-ones / are dropped.
 * - ROM: the VFIO ROM region is read once at init and served read-only.
 * - Interrupts: MSI/MSI-X follow the guest. When it enables MSI-X, the
 *   index is enabled in VFIO for every vector (unmasked vectors wired to an
 *   eventfd, masked ones -1); a vector is wired when first unmasked and
 *   stays wired when masked again: the interrupt then lands on its eventfd
 *   and must go through vfio_pci_vector_fired (the core sets the PBA bit
 *   and sends on unmask). An owner that binds a KVM irqfd to a vector's
 *   eventfd must detach it while vector_changed says masked. The eventfd
 *   for a vector comes from hooks.vector_eventfd (the owner's, e.g. for an
 *   irqfd) or, when it is NULL or returns < 0, one the model creates.
 *   MSI: the enabled vector count is wired at once. INTx: a trigger and a
 *   resample eventfd are given to VFIO (TRIGGER and UNMASK), for the
 *   owner's KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE (vfio_pci_intx_fds);
 *   without KVM, vfio_pci_poll + vfio_pci_intx_eoi do the same work.
 *   Switching mode disables the old index before enabling the new one
 *   (vfio-pci refuses otherwise).
 * - Reset: VFIO_DEVICE_RESET at init and on pci_dev_reset (ops->reset),
 *   with every interrupt index disabled around it and INTx re-armed after.
 *   vfio_pci_destroy quiesces the device before its owner drops the DMA
 *   mappings: interrupts off, COMMAND's IO/MEMORY/MASTER cleared on the
 *   device, then VFIO_DEVICE_RESET when the device has one. A guest reset
 *   ends the VM in vmm, so this is also the reset at guest reset.
 * - Errors: 0 or -errno (WUR). Runtime failures (an ioctl refused while
 *   the guest runs) are logged and counted in irq_errors, never fatal.
 * - Threads: config hooks run under the PCI bus lock; BAR traps run
 *   without it (the device io must be callable from any vCPU thread).
 */
#ifndef VMM_VFIO_PCI_H
#define VMM_VFIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/pci.h"
#include "memory/memory.h"
#include "vfio/device.h"

#define VFIO_PCI_MAX_MAPS       24
#define VFIO_PCI_MAX_WINDOWS    8
#define VFIO_PCI_MAX_HIDDEN     32

struct vfio_pci_opts {
	const char *name;       /* NULL: "vfio" */
	bool split_qword;       /* x-split-qword: dword-only devices (seed 02, Realtek) */
	bool no_mmap;           /* trap every BAR access (debugging) */
};

struct vfio_pci_hooks {
	struct pci_msi_hooks msi;       /* the owner's send/vector_changed, forwarded */
	/*
	 * The eventfd VFIO should signal for a vector (the owner keeps it
	 * open while the device lives), or < 0 to let the model create one.
	 */
	int (*vector_eventfd)(void *opaque, struct pci_dev *dev, bool msix, unsigned vector,
			      const struct pci_msi_msg *msg);
	void *opaque;                   /* for vector_eventfd */
};

struct vfio_pci;

struct vfio_pci_bar {
	struct vfio_pci *vp;
	unsigned index;
	uint64_t size;                  /* the VFIO region's size (the BAR may be larger) */
	bool io;
};

struct vfio_pci_map {
	struct mem_backend be;          /* host = the mmap, fd = -1 */
	struct mem_region mr;
	void *host;
	uint64_t size;
	unsigned bar;
	uint64_t off;                   /* inside the BAR */
};

/* An mmap of a trapped, mappable part of a BAR, for width-exact accesses. */
struct vfio_pci_window {
	void *host;
	uint64_t off, size;             /* inside the region */
	unsigned bar;
};

/* What vfio-pci currently has enabled. */
enum vfio_pci_vmode { VFIO_PCI_VM_NONE, VFIO_PCI_VM_INTX, VFIO_PCI_VM_MSI, VFIO_PCI_VM_MSIX };

struct vfio_pci {
	struct pci_dev dev;
	struct vfio_dev_io io;
	struct vfio_pci_opts opts;
	struct vfio_pci_hooks hooks;
	char name[24];
	bool ready;
	bool has_reset;
	uint64_t page_size;

	uint8_t devcfg[PCI_CFG_LEGACY_SIZE];    /* the device's config at init */
	uint8_t kind[PCI_CFG_LEGACY_SIZE];      /* VFIO_PCI_CFG_* per byte */
	uint8_t hidden[VFIO_PCI_MAX_HIDDEN];    /* capability IDs unlinked */
	unsigned nr_hidden;

	struct vfio_pci_bar bars[PCI_NUM_BARS];
	struct vfio_pci_map maps[VFIO_PCI_MAX_MAPS];
	unsigned nr_maps;
	struct vfio_pci_window windows[VFIO_PCI_MAX_WINDOWS];
	unsigned nr_windows;
	uint64_t window_accesses, pread_accesses;       /* trapped BAR accesses, by path */

	/* MSI-X as found on the device (msix_nr 0: none/hidden) */
	unsigned msix_nr, msix_cap_dev, msix_table_bar, msix_pba_bar;
	uint64_t msix_table_off, msix_pba_off;
	unsigned msi_nr, msi_cap_dev;
	unsigned pcie_cap;                      /* 0: none kept */

	/* interrupts */
	enum vfio_pci_vmode vmode;
	unsigned vfio_msi_count;                /* vectors enabled in VFIO for MSI */
	int32_t *msix_wired;                    /* msix_nr: fd VFIO signals, -1 none */
	int32_t *msix_own;                      /* msix_nr: eventfds we created */
	int32_t msi_wired[PCI_MSI_MAX_VECTORS];
	int32_t msi_own[PCI_MSI_MAX_VECTORS];
	bool intx;                              /* the device has INTx and it is wired */
	int intx_fd, intx_resample_fd;
	uint64_t irq_errors;
};

/* Per-byte config kinds. */
#define VFIO_PCI_CFG_EMU        0       /* the core's cfg/wmask */
#define VFIO_PCI_CFG_PT_RO      1       /* read from the device, writes dropped */
#define VFIO_PCI_CFG_PT_RW      2       /* read from and written to the device */

/*
 * Build @vp over @io. @hooks may be NULL. Resets the device (when it can),
 * reads its config space, sets up BARs, ROM, capabilities and INTx.
 * On failure everything is undone (vfio_pci_destroy is still safe).
 */
int vfio_pci_init(struct vfio_pci *vp, const struct vfio_dev_io *io,
		  const struct vfio_pci_opts *opts, const struct vfio_pci_hooks *hooks) WUR;
/* Remove from the bus, disable interrupts, unmap, close own eventfds. Safe twice / half-built. */
void vfio_pci_destroy(struct vfio_pci *vp);

/* Device reset: the core's power-on state, then VFIO_DEVICE_RESET (ops->reset). */
void vfio_pci_reset(struct vfio_pci *vp);

/* A vector's eventfd fired (owner's poll loop): goes through the core (PBA when masked). */
void vfio_pci_vector_fired(struct vfio_pci *vp, bool msix, unsigned vector);
/* The eventfd VFIO signals for a vector, -1 when not wired. */
int vfio_pci_vector_fd(struct vfio_pci *vp, bool msix, unsigned vector);
/* INTx trigger and resample eventfds (-ENOENT: no INTx). */
int vfio_pci_intx_fds(struct vfio_pci *vp, int *trigger, int *resample) WUR;
/*
 * Slow path without irqfds: drain the model's own eventfds (MSI, MSI-X,
 * INTx trigger) and deliver through the core. Returns events seen.
 */
unsigned vfio_pci_poll(struct vfio_pci *vp);
/* Slow-path INTx end of interrupt: lower the line and unmask in VFIO. */
void vfio_pci_intx_eoi(struct vfio_pci *vp);

#endif
