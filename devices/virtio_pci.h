/*
 * devices/virtio_pci.h - the virtio 1.x modern PCI transport (no legacy
 * I/O BAR): one PCI function per virtio device.
 *
 * Contract
 * - IDs: vendor 0x1AF4, device 0x1040 + virtio id, revision 1, subsystem
 *   0x1AF4:0x1100, class from the device ops, INTA.
 * - BAR 4, 64-bit prefetchable, VIRTIO_PCI_BAR_SIZE bytes, holds every
 *   region (vendor capabilities point at them): common cfg at 0x0000, ISR at
 *   0x1000, device cfg at 0x2000 (when config_size > 0), notify at 0x3000
 *   (queue_notify_off = queue index, notify_off_multiplier 4, so queue q is
 *   kicked by a 2- or 4-byte write at 0x3000 + 4q), MSI-X table at 0x4000
 *   and PBA at 0x6000 (num_queues + 1 vectors, served by the PCI core).
 * - Register widths follow the spec (common cfg: 32/16/8-bit fields; 64-bit
 *   queue addresses as two 32-bit halves or one 64-bit access); an access of
 *   the wrong width reads all-ones and a write is dropped. Out-of-range
 *   vectors read back VIRTIO_NO_VECTOR. Queue fields of an enabled queue,
 *   and all of them after DRIVER_OK, are read-only.
 * - Interrupts: MSI-X when the guest enabled it (the queue's / msix_config
 *   vector; NO_VECTOR sends nothing), else INTx with ISR bit 0 (queue) or
 *   bit 1 (config); an ISR read returns and clears the bits and lowers INTx.
 * - Notify addresses: the owner's notify_addr callback is told
 *   (queue, gpa, kick_fd, on=true) when queue q is enabled while BAR 4 is
 *   decoded, and on=false (with the old gpa) when the BAR is unmapped or
 *   moves, the queue is reset, or the transport is destroyed. vmm/ binds
 *   KVM_IOEVENTFD {addr = gpa, len = 0 (any width) or 2/4, fd = kick_fd} on
 *   true and removes it on false; without it, MMIO exits reach the notify
 *   region, which writes the same eventfd. Callback context: a vCPU thread
 *   in a BAR access, or a config write/reset with the PCI bus lock held; it
 *   must not call back into this transport.
 * - Locks: guest BAR accesses take the virtio device lock; order: virtio
 *   device lock -> PCI bus lock -> notify lock. The PCI reset hook
 *   (pci_bus_reset) only re-reads the BAR decode (notify addresses go
 *   off); it cannot reset the virtio device (it runs with the bus lock
 *   held, and the worker's interrupts need that lock): for a machine reset,
 *   vmm/ calls virtio_pci_reset() first, with no PCI lock held.
 */
#ifndef VMM_DEVICES_VIRTIO_PCI_H
#define VMM_DEVICES_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/pci.h"
#include "devices/virtio.h"
#include "memory/memory.h"

#define VIRTIO_PCI_VENDOR_ID            0x1AF4
#define VIRTIO_PCI_DEVICE_ID_BASE       0x1040
#define VIRTIO_PCI_SUBSYS_ID            0x1100
#define VIRTIO_PCI_BAR                  4
#define VIRTIO_PCI_BAR_SIZE             0x8000ULL

/* Regions inside BAR 4. */
#define VIRTIO_PCI_COMMON_OFF           0x0000
#define VIRTIO_PCI_COMMON_LEN           0x38
#define VIRTIO_PCI_ISR_OFF              0x1000
#define VIRTIO_PCI_ISR_LEN              4
#define VIRTIO_PCI_DEVICE_OFF           0x2000
#define VIRTIO_PCI_NOTIFY_OFF           0x3000
#define VIRTIO_PCI_NOTIFY_MULT          4
#define VIRTIO_PCI_MSIX_TABLE_OFF       0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF         0x6000

/* Vendor capability types (cfg_type). */
#define VIRTIO_PCI_CAP_COMMON_CFG       1
#define VIRTIO_PCI_CAP_NOTIFY_CFG       2
#define VIRTIO_PCI_CAP_ISR_CFG          3
#define VIRTIO_PCI_CAP_DEVICE_CFG       4
#define VIRTIO_PCI_CAP_PCI_CFG          5

/* struct virtio_pci_cap field offsets (16 bytes; notify adds a 32-bit multiplier). */
#define VIRTIO_PCI_CAP_LEN              2
#define VIRTIO_PCI_CAP_CFG_TYPE         3
#define VIRTIO_PCI_CAP_BAR              4
#define VIRTIO_PCI_CAP_ID               5
#define VIRTIO_PCI_CAP_OFFSET           8
#define VIRTIO_PCI_CAP_LENGTH           12
#define VIRTIO_PCI_CAP_NOTIFY_MULT      16
#define VIRTIO_PCI_CAP_SIZE             16
#define VIRTIO_PCI_NOTIFY_CAP_SIZE      20

/* Common configuration structure. */
#define VIRTIO_PCI_COMMON_DFSELECT      0x00    /* le32 */
#define VIRTIO_PCI_COMMON_DF            0x04    /* le32, RO */
#define VIRTIO_PCI_COMMON_GFSELECT      0x08    /* le32 */
#define VIRTIO_PCI_COMMON_GF            0x0C    /* le32 */
#define VIRTIO_PCI_COMMON_MSIX          0x10    /* le16 */
#define VIRTIO_PCI_COMMON_NUMQ          0x12    /* le16, RO */
#define VIRTIO_PCI_COMMON_STATUS        0x14    /* u8 */
#define VIRTIO_PCI_COMMON_CFGGEN        0x15    /* u8, RO */
#define VIRTIO_PCI_COMMON_Q_SELECT      0x16    /* le16 */
#define VIRTIO_PCI_COMMON_Q_SIZE        0x18    /* le16 */
#define VIRTIO_PCI_COMMON_Q_MSIX        0x1A    /* le16 */
#define VIRTIO_PCI_COMMON_Q_ENABLE      0x1C    /* le16 */
#define VIRTIO_PCI_COMMON_Q_NOFF        0x1E    /* le16, RO */
#define VIRTIO_PCI_COMMON_Q_DESCLO      0x20    /* le64 as two le32 */
#define VIRTIO_PCI_COMMON_Q_DESCHI      0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO     0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI     0x2C
#define VIRTIO_PCI_COMMON_Q_USEDLO      0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI      0x34

typedef void (*virtio_pci_notify_addr_fn)(void *opaque, unsigned queue, uint64_t gpa,
					  int kick_fd, bool on);

struct virtio_pci {
	struct pci_dev pci;             /* pass &vp->pci to pci_bus_add */
	struct virtio_dev vdev;

	/* transport registers, under vdev.lock */
	uint32_t dfselect, gfselect;
	uint16_t queue_sel;
	uint16_t msix_config;           /* read atomically by the worker */
	unsigned nvectors;

	/* notify addresses, under notify_lock */
	pthread_mutex_t notify_lock;
	virtio_pci_notify_addr_fn notify_addr;
	void *notify_opaque;
	bool bar_mapped;
	uint64_t bar_addr;
	bool q_enabled[VIRTIO_MAX_QUEUES];
	bool q_reported[VIRTIO_MAX_QUEUES];
	uint64_t q_gpa[VIRTIO_MAX_QUEUES];
	bool ready;
};

/*
 * Build the PCI function and the virtio core for @ops (see virtio.h; the
 * device model's @opaque is vdev.opaque). @mem is the space the device DMAs
 * into (the system space). The owner then sets MSI hooks and the notify
 * callback and calls pci_bus_add(bus, &vp->pci, devfn). -EINVAL, -ENOMEM,
 * or an fd/PCI error; on failure nothing is left allocated.
 */
int virtio_pci_init(struct virtio_pci *vp, const struct virtio_dev_ops *ops, void *opaque,
		    struct mem_space *mem) WUR;
/*
 * Stop the worker, report every bound notify address off, remove the
 * function from its bus and free everything. Safe on a zeroed or
 * half-built object and twice. Not with the PCI bus lock held.
 */
void virtio_pci_destroy(struct virtio_pci *vp);

/* Owner's notify address callback (any time; the current bindings are reported at once). */
void virtio_pci_set_notify_cb(struct virtio_pci *vp, virtio_pci_notify_addr_fn fn,
			      void *opaque);

/* Device reset as if the driver wrote status 0 (machine reset). Not with the PCI bus lock held. */
void virtio_pci_reset(struct virtio_pci *vp);

static inline struct virtio_dev *virtio_pci_vdev(struct virtio_pci *vp)
{
	return &vp->vdev;
}

#endif
