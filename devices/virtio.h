/*
 * devices/virtio.h - the virtio 1.x core: device state (status, features,
 * config generation, ISR), split virtqueues with a validating pop, used-ring
 * push and interrupt suppression, per-queue kick eventfds and the device's
 * worker thread.
 *
 * Contract
 * - Layers: a device model (virtio_rng, virtio_blk, ...) fills a struct
 *   virtio_dev_ops; a transport (devices/virtio_pci) embeds a struct
 *   virtio_dev, calls virtio_dev_init with those ops, serves the guest's
 *   register accesses through the virtio_dev_* / virtio_queue_* calls below
 *   and delivers interrupts through struct virtio_transport_ops. Devices
 *   never include the transport; the transport never includes a device.
 * - No globals: every object is caller owned. The ops are copied at init,
 *   so a device may build them per instance (features, queue count that
 *   depend on its backend).
 * - Guest memory: rings and buffers are reached only through the
 *   struct mem_space given at init. virtq_pop validates the whole chain
 *   before it returns anything (see virtq_pop); an element's iovecs are host
 *   pointers into guest RAM that stay valid while the RAM backend lives.
 * - Errors: 0 or -errno (WUR). A malformed chain makes the queue "broken":
 *   the core sets DEVICE_NEEDS_RESET (status 0x40), raises a config
 *   interrupt, and every later virtq_pop on that queue returns -EIO until
 *   the driver resets the device.
 * - Threads: guest register accesses (vCPU threads) are serialized by the
 *   device's lock. Each queue has a kick eventfd owned by the core for the
 *   device's whole life (virtq_kick_fd): a notify written to the transport
 *   writes it, or vmm/ binds it as a KVM ioeventfd. At DRIVER_OK the core
 *   calls ops.activate (vCPU thread), then starts ONE worker thread per
 *   device, which waits (epoll) on the kick fds of the enabled queues, a stop
 *   eventfd, and any fds the device registered with virtio_worker_watch;
 *   it calls ops.queue_kick / the watch callbacks. From DRIVER_OK until
 *   reset, queue state (virtq_pop/push/notify) is touched ONLY by the
 *   worker. A reset (status 0, ops.reset) first stops and joins the worker,
 *   so ops.reset runs with no worker and may free per-activation state.
 * - Interrupts: virtq_notify and virtio_config_changed may be called from
 *   the worker; they go to the transport (MSI-X vector or INTx + ISR) and
 *   never take the device's lock. The PCI transport's interrupt path takes
 *   the PCI bus lock, so nothing may stop a worker (reset, destroy) while
 *   holding the PCI bus lock: vmm/ calls virtio_pci_reset() before
 *   pci_bus_reset() for a machine reset.
 */
#ifndef VMM_DEVICES_VIRTIO_H
#define VMM_DEVICES_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "memory/memory.h"

/* ---- spec constants --------------------------------------------------------- */

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE       0x01
#define VIRTIO_STATUS_DRIVER            0x02
#define VIRTIO_STATUS_DRIVER_OK         0x04
#define VIRTIO_STATUS_FEATURES_OK       0x08
#define VIRTIO_STATUS_NEEDS_RESET       0x40
#define VIRTIO_STATUS_FAILED            0x80

/* Transport/ring feature bits (device-specific bits are 0..23). */
#define VIRTIO_F_INDIRECT_DESC          28
#define VIRTIO_F_EVENT_IDX              29
#define VIRTIO_F_VERSION_1              32
#define VIRTIO_F_ACCESS_PLATFORM        33
#define VIRTIO_BIT(b)                   (1ULL << (b))

/* Device IDs. */
#define VIRTIO_ID_NET                   1
#define VIRTIO_ID_BLOCK                 2
#define VIRTIO_ID_CONSOLE               3
#define VIRTIO_ID_RNG                   4

/* Split ring layout. */
#define VIRTQ_DESC_F_NEXT               1
#define VIRTQ_DESC_F_WRITE              2
#define VIRTQ_DESC_F_INDIRECT           4
#define VIRTQ_AVAIL_F_NO_INTERRUPT      1
#define VIRTQ_USED_F_NO_NOTIFY          1

#define VIRTQ_MAX_SIZE                  32768   /* split ring limit */
#define VIRTQ_MAX_SEGS                  1024    /* iovecs per element */
#define VIRTIO_MAX_QUEUES               64
#define VIRTIO_CONFIG_MAX               256     /* device config bytes */
#define VIRTIO_NO_VECTOR                0xFFFF

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* ---- elements --------------------------------------------------------------- */

/*
 * One popped chain: iov[0 .. nr_read) are the device-readable segments in
 * chain order, iov[nr_read .. nr_read + nr_write) the device-writable ones.
 * A descriptor crossing a RAM range boundary is split into several iovecs.
 * Zero-length descriptors are skipped (they count toward the chain length,
 * add no iovec). About 16 KiB: allocate elements, do not put many on a stack.
 */
struct virtq_elem {
	uint16_t head;
	unsigned nr_read, nr_write;
	uint64_t read_len, write_len;   /* byte totals of each side */
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* ---- queues ----------------------------------------------------------------- */

struct virtio_dev;

struct virtq {
	struct virtio_dev *vdev;
	unsigned index;
	int kick_fd;                    /* eventfd, core owned, lives with the device */

	/* driver-programmed (common cfg), under the device lock */
	uint16_t size;                  /* queue_size: power of 2, <= max_size */
	uint16_t max_size;
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* worker-owned after DRIVER_OK */
	struct virtq_desc *desc;        /* host views of the rings (set at enable) */
	uint16_t *avail;                /* flags, idx, ring[size], used_event */
	uint8_t *used;                  /* flags, idx, {id, len}[size], avail_event */
	uint16_t last_avail;            /* next avail entry to pop */
	uint16_t used_idx;              /* next used entry to write */
	uint16_t signalled_used;        /* used_idx at the last interrupt */
	bool signalled_valid;
	bool indirect, event_idx;       /* negotiated ring features */
	bool broken;                    /* malformed chain seen: -EIO until reset */
};

/*
 * Pop the next available chain into @e.
 * 0: an element; -ENOENT: ring empty (with EVENT_IDX the core has published
 * avail_event first, so the driver will kick for the next buffer); -EIO:
 * queue broken or not enabled; -EINVAL/-EFAULT: malformed chain - the queue
 * is now broken, NEEDS_RESET is set and a config interrupt raised; the
 * device must stop using this queue (nothing was consumed).
 * Checks: avail idx moved by at most the queue size; head and every next
 * < size; at most size descriptors per chain (loops); no readable segment
 * after a writable one; each addr+len does not wrap and lies in guest RAM
 * (writable segments: not in read-only RAM); at most VIRTQ_MAX_SEGS iovecs;
 * INDIRECT only when negotiated, only on the head descriptor (not with
 * NEXT), table len a non-zero multiple of 16 and at most size entries, the
 * table inside one RAM range, no INDIRECT inside it.
 * A device pops until -ENOENT before it waits for the next kick (with
 * EVENT_IDX, only that -ENOENT re-arms the driver's notifications).
 */
int virtq_pop(struct virtq *vq, struct virtq_elem *e) WUR;
/* Give back the last @n popped elements (they will be popped again). */
void virtq_unpop(struct virtq *vq, unsigned n);
/* Add @head to the used ring with @written bytes (release-ordered idx). */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);
/*
 * Interrupt the driver for used entries pushed since the last interrupt,
 * unless it suppressed them (VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX
 * the used_event index). Returns 1 when an interrupt was sent, 0 when not.
 */
int virtq_notify(struct virtq *vq);
/* The queue's kick eventfd (valid for the device's life). */
int virtq_kick_fd(const struct virtq *vq);

/* ---- devices ---------------------------------------------------------------- */

struct virtio_dev_ops {
	uint16_t device_id;             /* VIRTIO_ID_* */
	uint32_t pci_class;             /* 24-bit class code for the PCI transport */
	uint64_t features;              /* device features; the core adds VERSION_1,
					   INDIRECT_DESC and EVENT_IDX */
	unsigned config_size;           /* device config bytes, <= VIRTIO_CONFIG_MAX */
	unsigned num_queues;            /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size;        /* power of 2, <= VIRTQ_MAX_SIZE */

	/*
	 * Device config access, @off + @len <= config_size already checked
	 * (vCPU thread, device lock held). Read fills @buf with the
	 * little-endian bytes. NULL read: zeros; NULL write: dropped.
	 */
	void (*config_read)(struct virtio_dev *vdev, unsigned off, void *buf, unsigned len);
	void (*config_write)(struct virtio_dev *vdev, unsigned off, const void *buf,
			     unsigned len);
	/*
	 * DRIVER_OK (vCPU thread): vdev->features holds the negotiated set and
	 * the enabled queues are valid. May register fds (virtio_worker_watch).
	 * An error sets NEEDS_RESET instead of starting the worker.
	 */
	int (*activate)(struct virtio_dev *vdev);
	/* Worker thread: queue @vq was kicked (its eventfd already drained). */
	void (*queue_kick)(struct virtio_dev *vdev, struct virtq *vq);
	/*
	 * After the worker stopped, before the core clears its state. Called
	 * on every reset and at destroy, also when activate never ran or
	 * failed: it must be idempotent.
	 */
	void (*reset)(struct virtio_dev *vdev);
};

/* How the core reaches its transport (set by the transport at init). */
struct virtio_transport_ops {
	/* Queue / config interrupt. Any thread; must not take the device lock. */
	void (*notify_queue)(struct virtio_dev *vdev, struct virtq *vq);
	void (*notify_config)(struct virtio_dev *vdev);
};

typedef void (*virtio_watch_fn)(struct virtio_dev *vdev, void *arg, uint32_t events);

struct virtio_watch {
	int fd;                         /* -1: free slot */
	virtio_watch_fn fn;
	void *arg;
	bool paused;                    /* events 0: out of the epoll set */
};

#define VIRTIO_MAX_WATCH 8

struct virtio_dev {
	struct virtio_dev_ops ops;      /* copied at init */
	void *opaque;                   /* the device model's */
	struct mem_space *mem;
	const struct virtio_transport_ops *transport;
	void *transport_opaque;

	pthread_mutex_t lock;           /* guest register accesses */
	uint64_t host_features;         /* offered (ops.features + core bits) */
	uint64_t driver_features;       /* as written by the driver */
	uint64_t features;              /* negotiated, fixed at FEATURES_OK */
	uint8_t status;                 /* read/written atomically */
	uint8_t isr;                    /* INTx ISR bits, atomic */
	uint8_t config_generation;      /* atomic */

	struct virtq *vqs;              /* ops.num_queues */

	/* worker */
	int epoll_fd, stop_fd;
	pthread_t worker;
	bool worker_running;
	struct virtio_watch watch[VIRTIO_MAX_WATCH];
	bool ready;
};

/*
 * Build the core state: validate @ops, allocate the queues and their kick
 * eventfds, the epoll and stop fds. -EINVAL bad ops, -ENOMEM, or an fd error.
 * @mem: the address space the device's DMA sees (the system space).
 */
int virtio_dev_init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, void *opaque,
		    struct mem_space *mem, const struct virtio_transport_ops *transport,
		    void *transport_opaque) WUR;
/* Stop the worker, free everything. Safe on a zeroed or half-built vdev, and twice. */
void virtio_dev_destroy(struct virtio_dev *vdev);

/*
 * Register-side calls below (reset, set_status, driver features,
 * queue_enable, and writes to struct virtq's driver-programmed fields) are
 * made by the transport with vdev->lock held; they may stop or start the
 * worker, so that lock is never taken by a worker.
 */

/* Reset to the power-on state: stop the worker, ops.reset, clear queues, features, ISR, status. */
void virtio_dev_reset(struct virtio_dev *vdev);

/* Status register write (0 resets); FEATURES_OK is kept only when acceptable. */
void virtio_dev_set_status(struct virtio_dev *vdev, uint8_t status);
uint8_t virtio_dev_get_status(struct virtio_dev *vdev);
/* Driver feature word (before FEATURES_OK only). */
void virtio_dev_set_driver_features(struct virtio_dev *vdev, unsigned sel, uint32_t val);
uint32_t virtio_dev_host_features(struct virtio_dev *vdev, unsigned sel);
uint32_t virtio_dev_driver_features(struct virtio_dev *vdev, unsigned sel);
static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
	return bit < 64 && (vdev->features & VIRTIO_BIT(bit));
}

/*
 * Enable queue @q after validating size (power of 2, <= max), alignment
 * (desc 16, avail 2, used 4) and that each ring lies in one RAM range.
 * Refused (-EINVAL/-EFAULT; -EBUSY after DRIVER_OK): the queue stays
 * disabled and NEEDS_RESET is set.
 */
int virtio_queue_enable(struct virtio_dev *vdev, unsigned q) WUR;
static inline struct virtq *virtio_queue(struct virtio_dev *vdev, unsigned q)
{
	return q < vdev->ops.num_queues ? &vdev->vqs[q] : NULL;
}

/* Guest notify for queue @q (the transport's MMIO notify path): writes the kick fd. */
void virtio_queue_kick(struct virtio_dev *vdev, unsigned q);

/* Device config changed (any thread): bump config_generation, config interrupt. */
void virtio_config_changed(struct virtio_dev *vdev);
/* Mark NEEDS_RESET and raise a config interrupt (any thread). */
void virtio_dev_set_needs_reset(struct virtio_dev *vdev);

/* ISR read-and-clear (INTx): the transport lowers INTx after. */
uint8_t virtio_dev_isr_read_clear(struct virtio_dev *vdev);

/*
 * Watch @fd in the device's worker (@events: EPOLLIN/EPOLLOUT...): @fn runs
 * on the worker when it is ready. Call from ops.activate or the worker.
 * virtio_worker_modify changes the events (0: pause without forgetting);
 * every watch is dropped when the worker stops (reset). -ENOSPC, -errno.
 */
int virtio_worker_watch(struct virtio_dev *vdev, int fd, uint32_t events, virtio_watch_fn fn,
			void *arg) WUR;
int virtio_worker_modify(struct virtio_dev *vdev, int fd, uint32_t events) WUR;

#endif
