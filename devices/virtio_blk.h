/*
 * devices/virtio_blk.h - virtio block device (virtio id 2) on a raw image
 * file, with the I/O done by io_uring.
 *
 * Contract
 * - Transport-agnostic, like virtio_rng: virtio_blk_init opens the image,
 *   builds the io_uring and fills blk->ops; the owner (vmm/) then builds the
 *   transport with virtio_pci_init(&vp, &blk->ops, blk, mem) and destroys
 *   the transport (which stops the worker and calls ops.reset) BEFORE
 *   virtio_blk_destroy.
 * - Backend: a raw image, opened O_RDWR (O_RDONLY when read-only), no
 *   O_DIRECT (the host page cache is used). Its size must be a non-zero
 *   multiple of 512 bytes; capacity = size / 512, fixed at init. A block
 *   device works too (size from BLKGETSIZE64).
 * - One request queue of VIRTIO_BLK_QUEUE_SIZE entries (no MQ). Offered
 *   features: SIZE_MAX, SEG_MAX, BLK_SIZE (512), FLUSH, and either RO (a
 *   read-only image) or DISCARD + WRITE_ZEROES. Config space: the 60-byte
 *   virtio 1.1 struct virtio_blk_config (capacity, size_max, seg_max,
 *   blk_size, discard/write-zeroes limits); read-only for the guest.
 * - Requests run ONLY on the core's worker thread (queue_kick and the watch
 *   on the ring's eventfd), never on a vCPU: the worker pops every available
 *   chain (up to inflight_limit requests in flight, default the queue size,
 *   tracked by io_uring user_data; beyond it requests wait in the avail
 *   ring until completions free slots), prepares one SQE per request
 *   (READ/WRITE for one data segment, READV/WRITEV otherwise; one per
 *   segment for discard/write-zeroes), submits the whole batch with one io_uring_submit,
 *   reaps whatever completed, pushes used entries and sends one virtq_notify
 *   per batch. Completions that arrive later wake the worker through the
 *   eventfd registered with io_uring_register_eventfd.
 * - Validation (everything the guest controls, where it is read):
 *   header is the first 16 readable bytes (any descriptor layout), status
 *   the last writable byte. No writable byte at all: the request cannot be
 *   answered, so the device sets NEEDS_RESET and stops serving the queue
 *   until reset (malformed chains already take the core's path). Otherwise
 *   every bad request gets a status byte and nothing touches the image:
 *   header shorter than 16 bytes, IN/OUT data not a multiple of 512,
 *   sector + length beyond capacity (computed without overflow), a transfer
 *   above VIRTIO_BLK_MAX_XFER, a write/discard/write-zeroes to a read-only
 *   disk, bad discard/write-zeroes segments (count, length, range)
 *   -> VIRTIO_BLK_S_IOERR; an unknown type, a type whose feature was not
 *   negotiated, reserved segment flags, or unmap on a discard
 *   -> VIRTIO_BLK_S_UNSUPP.
 * - Completions: a negative res or a short read/write -> IOERR (short
 *   transfers are not retried: inside the capacity of a regular file they
 *   only happen when the image shrank under us). Used length: data bytes +
 *   the status byte on success, 1 (the status) on error.
 * - Write cache: with FLUSH negotiated, writes complete from the page cache
 *   and FLUSH is fdatasync; without it every write is RWF_DSYNC
 *   (write-through, as the spec requires when the driver cannot flush) and
 *   a FLUSH request gets UNSUPP.
 * - WRITE_ZEROES: FALLOC_FL_ZERO_RANGE, or PUNCH_HOLE|KEEP_SIZE when the
 *   driver asked for unmap (write_zeroes_may_unmap = 1) or the file system
 *   has no ZERO_RANGE (tmpfs); DISCARD: PUNCH_HOLE|KEEP_SIZE, and a file
 *   system without hole punching makes it a successful no-op (discard is
 *   advisory).
 * - Reset (ops.reset, worker already stopped; on the thread that resets,
 *   a vCPU): waits, at most 5 s, for every request still in the ring (they
 *   may write guest RAM) without pushing them, then
 *   forgets them. Completions of an earlier activation are recognised by a
 *   generation number in user_data and dropped.
 * - Accounting: besides the counters (struct virtio_blk_stats), the worker
 *   times every answered request through its stages (enum virtio_blk_stage)
 *   and counts request sizes, data segments, chains per kick and in-flight
 *   depth (struct virtio_blk_prof); virtio_blk_destroy logs them at debug
 *   level (VMM_DEBUG), once.
 * - Errors: init returns 0 or -errno and writes a one-line reason into @err
 *   (e.g. "disk.img: size 1000 is not a multiple of 512 bytes"). io_uring
 *   missing (-ENOSYS) or forbidden (-EPERM) is reported as such.
 */
#ifndef VMM_DEVICES_VIRTIO_BLK_H
#define VMM_DEVICES_VIRTIO_BLK_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/virtio.h"

/* Feature bits (virtio 1.1, 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX           1
#define VIRTIO_BLK_F_SEG_MAX            2
#define VIRTIO_BLK_F_GEOMETRY           4
#define VIRTIO_BLK_F_RO                 5
#define VIRTIO_BLK_F_BLK_SIZE           6
#define VIRTIO_BLK_F_FLUSH              9
#define VIRTIO_BLK_F_TOPOLOGY           10
#define VIRTIO_BLK_F_CONFIG_WCE         11
#define VIRTIO_BLK_F_MQ                 12
#define VIRTIO_BLK_F_DISCARD            13
#define VIRTIO_BLK_F_WRITE_ZEROES       14

/* Request types. */
#define VIRTIO_BLK_T_IN                 0
#define VIRTIO_BLK_T_OUT                1
#define VIRTIO_BLK_T_FLUSH              4
#define VIRTIO_BLK_T_GET_ID             8
#define VIRTIO_BLK_T_DISCARD            11
#define VIRTIO_BLK_T_WRITE_ZEROES       13

/* Status byte. */
#define VIRTIO_BLK_S_OK                 0
#define VIRTIO_BLK_S_IOERR              1
#define VIRTIO_BLK_S_UNSUPP             2

/* Discard / write-zeroes segment: le64 sector, le32 num_sectors, le32 flags. */
#define VIRTIO_BLK_SEG_SIZE             16
#define VIRTIO_BLK_WZ_F_UNMAP           0x1u

#define VIRTIO_BLK_HDR_SIZE             16      /* le32 type, le32 ioprio, le64 sector */
#define VIRTIO_BLK_SECTOR_SIZE          512
#define VIRTIO_BLK_SECTOR_SHIFT         9
#define VIRTIO_BLK_ID_BYTES             20

/* struct virtio_blk_config offsets (all little-endian). */
#define VIRTIO_BLK_CFG_CAPACITY         0       /* le64 */
#define VIRTIO_BLK_CFG_SIZE_MAX         8       /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX          12      /* le32 */
#define VIRTIO_BLK_CFG_BLK_SIZE         20      /* le32 */
#define VIRTIO_BLK_CFG_NUM_QUEUES       34      /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36   /* le32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG  40      /* le32 */
#define VIRTIO_BLK_CFG_DISCARD_ALIGN    44      /* le32 */
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS   48      /* le32 */
#define VIRTIO_BLK_CFG_MAX_WZ_SEG       52      /* le32 */
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP     56      /* u8 */
#define VIRTIO_BLK_CFG_SIZE             60

/* Our limits. */
#define VIRTIO_BLK_QUEUE_SIZE           256
#define VIRTIO_BLK_SEG_MAX              (VIRTIO_BLK_QUEUE_SIZE - 2)
/* A driver keeping to seg_max * size_max (254 MiB) never meets MAX_XFER. */
#define VIRTIO_BLK_SIZE_MAX             (1u * 1024 * 1024)      /* per segment */
#define VIRTIO_BLK_MAX_XFER             (256u * 1024 * 1024)    /* per request, any layout */
#define VIRTIO_BLK_MAX_DISCARD_SEG      16
/* Largest int-sized byte count in whole 4 KiB units, in sectors. */
#define VIRTIO_BLK_MAX_DISCARD_SECTORS  ((0x7FFFFFFFu >> VIRTIO_BLK_SECTOR_SHIFT) & ~7u)
#define VIRTIO_BLK_DISCARD_ALIGN        8       /* sectors: 4 KiB, the page/fs block */
#define VIRTIO_BLK_RING_ENTRIES         VIRTIO_BLK_QUEUE_SIZE
#define VIRTIO_BLK_PCI_CLASS            0x010000 /* mass storage, SCSI (as QEMU) */

struct virtio_blk_req;

/* Counters, written by the worker only (relaxed atomics), read by anyone. */
struct virtio_blk_stats {
	uint64_t requests;      /* answered (pushed) */
	uint64_t reads, writes, flushes, get_ids, discards, write_zeroes;
	uint64_t ioerr, unsupp; /* requests answered with that status */
	uint64_t submits;       /* io_uring_submit calls that submitted something */
	uint64_t sqes;          /* SQEs submitted */
	uint64_t notifies;      /* virtq_notify calls (batches answered) */
	uint64_t max_inflight;  /* most requests in flight at once */
	uint64_t starved;       /* pops postponed: the in-flight limit was reached */
};

/*
 * Stage accounting, per request, in the worker (CLOCK_MONOTONIC). A "run" is
 * one worker wake-up for this queue: a kick, or the completion eventfd.
 */
enum virtio_blk_stage {
	VIRTIO_BLK_ST_POP,      /* worker woke -> chain popped */
	VIRTIO_BLK_ST_SUBMIT,   /* popped -> io_uring_submit returned */
	VIRTIO_BLK_ST_IO,       /* submitted -> completion reaped */
	VIRTIO_BLK_ST_ANSWER,   /* reaped (or answered at once) -> used + virtq_notify */
	VIRTIO_BLK_ST_TOTAL,    /* worker woke for it -> used + virtq_notify */
	VIRTIO_BLK_ST_GUEST,    /* interrupt sent -> next chain popped (the guest's turn) */
	VIRTIO_BLK_NR_STAGES
};

#define VIRTIO_BLK_PROF_SIZES   14      /* data bytes <= 512 << i for i < 13; then larger */
#define VIRTIO_BLK_PROF_COUNTS  8       /* 0, 1, 2, 3-4, 5-8, 9-16, 17-32, more */

struct virtio_blk_stage_acc {
	uint64_t n, sum_ns, max_ns;
};

/*
 * Written by the worker only, with plain stores: read it when no worker
 * runs (after a reset, or in virtio_blk_destroy, which logs it at debug
 * level). Kept across resets.
 */
struct virtio_blk_prof {
	struct virtio_blk_stage_acc stage[VIRTIO_BLK_NR_STAGES];
	uint64_t kick_runs, kick_empty; /* runs started by a kick; those that popped nothing */
	uint64_t cq_runs, cq_empty;     /* runs started by completions; those that reaped none */
	uint64_t inline_done;           /* I/O completed in the run that submitted it */
	uint64_t irq_sent, irq_suppressed;      /* virtq_notify: sent / the driver suppressed it */
	uint64_t size_hist[VIRTIO_BLK_PROF_SIZES];      /* IN/OUT data bytes */
	uint64_t segs_hist[VIRTIO_BLK_PROF_COUNTS];     /* IN/OUT data iovecs */
	uint64_t per_kick[VIRTIO_BLK_PROF_COUNTS];      /* chains popped per kick run */
	uint64_t depth[VIRTIO_BLK_PROF_COUNTS];         /* requests in flight after each pop */
};

struct virtio_blk {
	struct virtio_dev_ops ops;
	char path[256];                 /* for messages */
	int fd;
	bool fd_open;
	bool readonly;
	uint64_t capacity;              /* 512-byte sectors */
	uint64_t ino;                   /* of the image, for the default serial */
	uint8_t serial[VIRTIO_BLK_ID_BYTES];
	uint8_t config[VIRTIO_BLK_CFG_SIZE];

	struct io_uring ring;
	bool ring_ready;
	bool fixed_file;                /* fd registered as fixed file 0 */
	int cq_fd;                      /* eventfd registered with the ring */
	bool cq_fd_open;

	/* request slots: elems[i] belongs to reqs[i]; free ones on a stack */
	struct virtio_blk_req *reqs;
	struct virtq_elem *elems;
	uint16_t *free_slots;
	unsigned nr_free;

	/*
	 * Requests in flight at most (1..VIRTIO_BLK_QUEUE_SIZE, default the
	 * queue size); the rest wait in the avail ring. The owner may lower it
	 * while the device is not running (before DRIVER_OK or after reset).
	 */
	unsigned inflight_limit;

	/* worker-owned between activate and reset */
	struct virtio_dev *vdev;
	struct virtq *vq;
	uint32_t gen;                   /* activation number, in user_data */
	unsigned inflight;              /* requests with SQEs outstanding */
	unsigned sqes_out;              /* SQEs submitted or queued, not yet reaped */
	unsigned pushed;                /* used entries since the last notify */
	bool starved;                   /* stopped popping: no free slot */
	bool dsync;                     /* FLUSH not negotiated: write-through */
	bool no_zero_range;             /* the fs refused FALLOC_FL_ZERO_RANGE */
	bool failed;                    /* NEEDS_RESET raised: queue not served */

	struct virtio_blk_stats stats;

	/* stage accounting (worker) and the current run's sums */
	struct virtio_blk_prof prof;
	uint64_t now;                   /* time of the event being handled */
	uint64_t run_seq, run_t0;
	unsigned run_popped, run_reaped, run_answered;
	uint64_t run_reap_sum, run_wake_sum, run_reap_min, run_wake_min;
	uint64_t last_irq;              /* when the last interrupt was sent */
	bool irq_unanswered;            /* no chain popped since last_irq */
};

/*
 * Open @path (read-only when @readonly), size it, create the io_uring
 * (VIRTIO_BLK_RING_ENTRIES) with its eventfd and fill blk->ops. @serial:
 * the GET_ID string (at most 20 bytes used), NULL for "vmm-" + the image's
 * inode number in hex. On failure nothing stays open and @err (if
 * @errlen > 0) holds one line: -ENOENT/-EACCES... from open, -EINVAL size
 * not a multiple of 512 or zero, -ENOSYS/-EPERM io_uring unavailable,
 * -ENOMEM.
 */
int virtio_blk_init(struct virtio_blk *blk, const char *path, bool readonly, const char *serial,
		    char *err, size_t errlen) WUR;
/* Log the accounting (debug), close everything. Safe on a zeroed or half-built object, twice. */
void virtio_blk_destroy(struct virtio_blk *blk);

/* A snapshot of the counters (any thread). */
void virtio_blk_get_stats(const struct virtio_blk *blk, struct virtio_blk_stats *out);

#endif
