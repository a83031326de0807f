/*
 * devices/virtio_blk.c - virtio block device on a raw image with io_uring.
 * See devices/virtio_blk.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "common/bytes.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "devices/virtio_blk.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio-blk headers are little-endian; this device reads them natively"
#endif

/*
 * user_data of an SQE: slot (bits 0-15), segment (16-23), operation
 * (24-31), activation generation (32-63). The generation lets a completion
 * that outlived a reset be recognised and dropped.
 */
enum vblk_op {
	VBLK_OP_RW = 1,         /* readv / writev */
	VBLK_OP_FSYNC,
	VBLK_OP_DISCARD,        /* punch hole; EOPNOTSUPP is fine */
	VBLK_OP_ZERO,           /* zero range; EOPNOTSUPP -> retried as VBLK_OP_PUNCH */
	VBLK_OP_PUNCH,          /* punch hole that must succeed (write zeroes) */
};

struct vblk_seg {
	uint64_t off, len;      /* bytes, validated against the capacity */
	bool unmap;
};

struct virtio_blk_req {
	struct virtq_elem *elem;
	uint8_t *status;        /* host pointer to the last writable byte */
	uint32_t type;
	uint32_t data_len;      /* IN/OUT: bytes to transfer */
	uint32_t written;       /* used length on success (status included) */
	unsigned pending;       /* SQEs not reaped yet */
	uint8_t result;         /* VIRTIO_BLK_S_* so far */
	bool queued;            /* counted in blk->inflight */
	uint64_t t_wake, t_pop, t_sub;  /* stage accounting: see enum virtio_blk_stage */
	uint64_t run_seq;       /* the worker run that popped it */
	unsigned nseg;
	struct vblk_seg seg[VIRTIO_BLK_MAX_DISCARD_SEG];
};

/* vblk_start results */
#define VBLK_QUEUED     0       /* SQEs prepared; completes through the ring */
#define VBLK_DONE       1       /* answered now: result/written set */
#define VBLK_UNANSWERABLE (-1)  /* no status byte */

static void vblk_stat_add(uint64_t *p, uint64_t n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

/* ---- stage accounting ------------------------------------------------------------ */

static uint64_t vblk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void vblk_stage(struct virtio_blk *blk, enum virtio_blk_stage st, uint64_t ns)
{
	struct virtio_blk_stage_acc *a = &blk->prof.stage[st];

	a->n++;
	a->sum_ns += ns;
	if (ns > a->max_ns)
		a->max_ns = ns;
}

/* 0, 1, 2, 3-4, 5-8, 9-16, 17-32, more: the bucket of @n. */
static unsigned vblk_count_bucket(uint64_t n)
{
	unsigned b = 1;

	if (n == 0)
		return 0;
	while (b < VIRTIO_BLK_PROF_COUNTS - 1 && n > 1ULL << (b - 1))
		b++;
	return b;
}

/* <= 512 B, <= 1 KiB, ... <= 2 MiB, more: the bucket of @bytes. */
static unsigned vblk_size_bucket(uint64_t bytes)
{
	unsigned b = 0;

	while (b < VIRTIO_BLK_PROF_SIZES - 1 && bytes > (uint64_t)VIRTIO_BLK_SECTOR_SIZE << b)
		b++;
	return b;
}

static void vblk_drain_fd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

/* ---- iovec helpers -------------------------------------------------------- */

/* Copy up to @len bytes starting @skip bytes into @iov[0..n) to @buf; returns bytes copied. */
static size_t vblk_iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf,
			      size_t len)
{
	size_t done = 0;
	unsigned i;

	for (i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, c;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		c = l - skip < len - done ? l - skip : len - done;
		memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + skip, c);
		done += c;
		skip = 0;
	}
	return done;
}

/* Copy @len bytes of @buf into @iov[0..n); returns bytes copied. */
static size_t vblk_buf_to_iov(const struct iovec *iov, unsigned n, const void *buf, size_t len)
{
	size_t done = 0;
	unsigned i;

	for (i = 0; i < n && done < len; i++) {
		size_t c = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, (const uint8_t *)buf + done, c);
		done += c;
	}
	return done;
}

/* Drop the first @skip bytes of @iov[0..n) in place; returns the new count, *out the start. */
static unsigned vblk_iov_skip(struct iovec *iov, unsigned n, size_t skip, struct iovec **out)
{
	unsigned i = 0;

	while (i < n && skip >= iov[i].iov_len) {
		skip -= iov[i].iov_len;
		i++;
	}
	if (i < n && skip) {
		iov[i].iov_base = (uint8_t *)iov[i].iov_base + skip;
		iov[i].iov_len -= skip;
	}
	*out = iov + i;
	return n - i;
}

/* ---- the ring ----------------------------------------------------------------- */

static uint64_t vblk_udata(const struct virtio_blk *blk, unsigned slot, unsigned seg,
			   enum vblk_op op)
{
	return (uint64_t)blk->gen << 32 | (uint64_t)op << 24 | (uint64_t)seg << 16 | slot;
}

static void vblk_fail_device(struct virtio_blk *blk, const char *why)
{
	if (!blk->failed)
		log_warn("virtio-blk %s: %s; needs reset", blk->path, why);
	blk->failed = true;
	if (blk->vdev)
		virtio_dev_set_needs_reset(blk->vdev);
}

/* Submit every queued SQE. */
static void vblk_submit(struct virtio_blk *blk)
{
	unsigned busy = 0;

	while (io_uring_sq_ready(&blk->ring)) {
		int r = io_uring_submit(&blk->ring);

		if (r > 0) {
			vblk_stat_add(&blk->stats.submits, 1);
			vblk_stat_add(&blk->stats.sqes, (uint64_t)r);
			continue;
		}
		if (r == -EINTR)
			continue;
		/* The kernel is short of memory or the CQ overflowed: give it a moment. */
		if ((r == -EAGAIN || r == -EBUSY) && busy++ < 1000) {
			usleep(100);
			continue;
		}
		/* The SQEs stay queued; reset submits them and waits for them. */
		log_error("virtio-blk %s: io_uring_submit: %s", blk->path,
			  strerror(r < 0 ? -r : EIO));
		vblk_fail_device(blk, "cannot submit I/O");
		return;
	}
}

/* A free SQE, submitting the queued ones when the SQ is full; NULL if none. */
static struct io_uring_sqe *vblk_get_sqe(struct virtio_blk *blk)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&blk->ring);

	if (!sqe) {
		vblk_submit(blk);
		sqe = io_uring_get_sqe(&blk->ring);
	}
	return sqe;
}

static void vblk_sqe_common(struct virtio_blk *blk, struct io_uring_sqe *sqe, unsigned slot,
			    unsigned seg, enum vblk_op op)
{
	if (blk->fixed_file)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, vblk_udata(blk, slot, seg, op));
	blk->reqs[slot].pending++;
	blk->sqes_out++;
}

static int vblk_sqe_fd(const struct virtio_blk *blk)
{
	return blk->fixed_file ? 0 : blk->fd;
}

static bool vblk_queue_falloc(struct virtio_blk *blk, unsigned slot, unsigned seg,
			      enum vblk_op op)
{
	const struct vblk_seg *s = &blk->reqs[slot].seg[seg];
	struct io_uring_sqe *sqe = vblk_get_sqe(blk);
	int mode;

	if (!sqe)
		return false;
	if (op == VBLK_OP_ZERO)
		mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	else
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	io_uring_prep_fallocate(sqe, vblk_sqe_fd(blk), mode, (off_t)s->off, (off_t)s->len);
	vblk_sqe_common(blk, sqe, slot, seg, op);
	return true;
}

/* ---- requests ----------------------------------------------------------------- */

/* Validate and decode discard / write-zeroes segments; a VIRTIO_BLK_S_* status. */
static uint8_t vblk_parse_segs(struct virtio_blk *blk, struct virtio_blk_req *req,
			       const struct iovec *rd, unsigned nrd, uint64_t plen)
{
	uint8_t raw[VIRTIO_BLK_MAX_DISCARD_SEG * VIRTIO_BLK_SEG_SIZE];
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	uint32_t max_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
	unsigned n, i;

	if (plen == 0 || plen % VIRTIO_BLK_SEG_SIZE ||
	    plen / VIRTIO_BLK_SEG_SIZE > VIRTIO_BLK_MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_IOERR;
	n = (unsigned)(plen / VIRTIO_BLK_SEG_SIZE);
	if (vblk_iov_to_buf(rd, nrd, VIRTIO_BLK_HDR_SIZE, raw, plen) != plen)
		return VIRTIO_BLK_S_IOERR;
	/* Flags first: an unsupported request is UNSUPP whatever its ranges. */
	for (i = 0; i < n; i++) {
		uint32_t flags = get_le32(raw + i * VIRTIO_BLK_SEG_SIZE + 12);

		if ((flags & ~VIRTIO_BLK_WZ_F_UNMAP) || (discard && (flags & VIRTIO_BLK_WZ_F_UNMAP)))
			return VIRTIO_BLK_S_UNSUPP;
	}
	req->nseg = 0;
	for (i = 0; i < n; i++) {
		const uint8_t *p = raw + i * VIRTIO_BLK_SEG_SIZE;
		uint64_t sector = get_le64(p);
		uint32_t num = get_le32(p + 8);
		uint32_t flags = get_le32(p + 12);

		if (num > max_sectors || sector > blk->capacity || num > blk->capacity - sector)
			return VIRTIO_BLK_S_IOERR;
		if (!num)
			continue;       /* nothing to do, as QEMU */
		req->seg[req->nseg].off = sector << VIRTIO_BLK_SECTOR_SHIFT;
		req->seg[req->nseg].len = (uint64_t)num << VIRTIO_BLK_SECTOR_SHIFT;
		req->seg[req->nseg].unmap = flags & VIRTIO_BLK_WZ_F_UNMAP;
		req->nseg++;
	}
	return VIRTIO_BLK_S_OK;
}

static int vblk_done(struct virtio_blk_req *req, uint8_t status)
{
	req->result = status;
	return VBLK_DONE;
}

/* Parse the request in slot @slot and queue its SQEs (or answer it at once). */
static int vblk_start(struct virtio_blk *blk, unsigned slot)
{
	struct virtio_blk_req *req = &blk->reqs[slot];
	struct virtq_elem *e = req->elem;
	struct iovec *rd = e->iov, *wr = e->iov + e->nr_read, *data;
	unsigned nrd = e->nr_read, nwr = e->nr_write, ndata, i;
	uint8_t hdr[VIRTIO_BLK_HDR_SIZE];
	struct io_uring_sqe *sqe;
	uint64_t sector, len;
	uint8_t st;

	req->pending = 0;
	req->nseg = 0;
	req->written = 1;
	req->result = VIRTIO_BLK_S_OK;
	req->type = 0;
	req->data_len = 0;
	if (!nwr || !e->write_len)
		return VBLK_UNANSWERABLE;
	/* The status is the last writable byte; the data is what precedes it. */
	req->status = (uint8_t *)wr[nwr - 1].iov_base + wr[nwr - 1].iov_len - 1;
	if (--wr[nwr - 1].iov_len == 0)
		nwr--;
	if (e->read_len < VIRTIO_BLK_HDR_SIZE)
		return vblk_done(req, VIRTIO_BLK_S_IOERR);
	if (vblk_iov_to_buf(rd, nrd, 0, hdr, sizeof(hdr)) != sizeof(hdr))
		return vblk_done(req, VIRTIO_BLK_S_IOERR);
	req->type = get_le32(hdr);
	sector = get_le64(hdr + 8);

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (req->type == VIRTIO_BLK_T_IN) {
			len = e->write_len - 1;
			data = wr;
			ndata = nwr;
			vblk_stat_add(&blk->stats.reads, 1);
		} else {
			vblk_stat_add(&blk->stats.writes, 1);
			if (blk->readonly)
				return vblk_done(req, VIRTIO_BLK_S_IOERR);
			len = e->read_len - VIRTIO_BLK_HDR_SIZE;
			ndata = vblk_iov_skip(rd, nrd, VIRTIO_BLK_HDR_SIZE, &data);
		}
		if (len % VIRTIO_BLK_SECTOR_SIZE || len > VIRTIO_BLK_MAX_XFER ||
		    sector > blk->capacity ||
		    (len >> VIRTIO_BLK_SECTOR_SHIFT) > blk->capacity - sector)
			return vblk_done(req, VIRTIO_BLK_S_IOERR);
		if (!len)
			return vblk_done(req, VIRTIO_BLK_S_OK);
		req->data_len = (uint32_t)len;
		blk->prof.size_hist[vblk_size_bucket(len)]++;
		blk->prof.segs_hist[vblk_count_bucket(ndata)]++;
		sqe = vblk_get_sqe(blk);
		if (!sqe)
			return vblk_done(req, VIRTIO_BLK_S_IOERR);
		/* One segment (the common case): plain read/write, no iovec import. */
		if (req->type == VIRTIO_BLK_T_IN) {
			if (ndata == 1)
				io_uring_prep_read(sqe, vblk_sqe_fd(blk), data[0].iov_base,
						   (unsigned)data[0].iov_len,
						   sector << VIRTIO_BLK_SECTOR_SHIFT);
			else
				io_uring_prep_readv(sqe, vblk_sqe_fd(blk), data, ndata,
						    sector << VIRTIO_BLK_SECTOR_SHIFT);
			req->written = (uint32_t)len + 1;
		} else {
			if (ndata == 1)
				io_uring_prep_write(sqe, vblk_sqe_fd(blk), data[0].iov_base,
						    (unsigned)data[0].iov_len,
						    sector << VIRTIO_BLK_SECTOR_SHIFT);
			else
				io_uring_prep_writev(sqe, vblk_sqe_fd(blk), data, ndata,
						     sector << VIRTIO_BLK_SECTOR_SHIFT);
			sqe->rw_flags = blk->dsync ? RWF_DSYNC : 0;
		}
		vblk_sqe_common(blk, sqe, slot, 0, VBLK_OP_RW);
		return VBLK_QUEUED;

	case VIRTIO_BLK_T_FLUSH:
		vblk_stat_add(&blk->stats.flushes, 1);
		if (!virtio_has_feature(blk->vdev, VIRTIO_BLK_F_FLUSH))
			return vblk_done(req, VIRTIO_BLK_S_UNSUPP);
		sqe = vblk_get_sqe(blk);
		if (!sqe)
			return vblk_done(req, VIRTIO_BLK_S_IOERR);
		io_uring_prep_fsync(sqe, vblk_sqe_fd(blk), IORING_FSYNC_DATASYNC);
		vblk_sqe_common(blk, sqe, slot, 0, VBLK_OP_FSYNC);
		return VBLK_QUEUED;

	case VIRTIO_BLK_T_GET_ID:
		vblk_stat_add(&blk->stats.get_ids, 1);
		/* Shorter than 20 bytes: NUL-terminated (serial is zero padded). */
		req->written = (uint32_t)vblk_buf_to_iov(wr, nwr, blk->serial,
							 sizeof(blk->serial)) + 1;
		return vblk_done(req, VIRTIO_BLK_S_OK);

	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		vblk_stat_add(req->type == VIRTIO_BLK_T_DISCARD ? &blk->stats.discards :
								  &blk->stats.write_zeroes, 1);
		if (!virtio_has_feature(blk->vdev, req->type == VIRTIO_BLK_T_DISCARD ?
					VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES))
			return vblk_done(req, VIRTIO_BLK_S_UNSUPP);
		if (blk->readonly)
			return vblk_done(req, VIRTIO_BLK_S_IOERR);
		st = vblk_parse_segs(blk, req, rd, nrd, e->read_len - VIRTIO_BLK_HDR_SIZE);
		if (st != VIRTIO_BLK_S_OK)
			return vblk_done(req, st);
		for (i = 0; i < req->nseg; i++) {
			enum vblk_op op = VBLK_OP_DISCARD;

			if (req->type == VIRTIO_BLK_T_WRITE_ZEROES)
				op = req->seg[i].unmap || blk->no_zero_range ? VBLK_OP_PUNCH :
									       VBLK_OP_ZERO;
			if (!vblk_queue_falloc(blk, slot, i, op)) {
				req->result = VIRTIO_BLK_S_IOERR;
				break;
			}
		}
		return req->pending ? VBLK_QUEUED : VBLK_DONE;

	default:
		return vblk_done(req, VIRTIO_BLK_S_UNSUPP);
	}
}

static void vblk_free_slot(struct virtio_blk *blk, unsigned slot)
{
	blk->free_slots[blk->nr_free++] = (uint16_t)slot;
}

/* A slot is free and the in-flight limit allows one more request. */
static bool vblk_slot_available(const struct virtio_blk *blk)
{
	return blk->nr_free && VIRTIO_BLK_QUEUE_SIZE - blk->nr_free < blk->inflight_limit;
}

/* Stage accounting of a request answered at blk->now; the run's sums for vblk_run. */
static void vblk_account_done(struct virtio_blk *blk, const struct virtio_blk_req *req, bool io)
{
	if (io) {
		vblk_stage(blk, VIRTIO_BLK_ST_IO, blk->now - req->t_sub);
		if (req->run_seq == blk->run_seq)
			blk->prof.inline_done++;
	}
	if (!blk->run_answered || blk->now < blk->run_reap_min)
		blk->run_reap_min = blk->now;
	if (!blk->run_answered || req->t_wake < blk->run_wake_min)
		blk->run_wake_min = req->t_wake;
	blk->run_answered++;
	blk->run_reap_sum += blk->now;
	blk->run_wake_sum += req->t_wake;
}

/* Answer the request in @slot: status byte, used entry, slot back. */
static void vblk_complete(struct virtio_blk *blk, unsigned slot)
{
	struct virtio_blk_req *req = &blk->reqs[slot];
	bool io = req->queued;

	if (req->queued) {
		req->queued = false;
		blk->inflight--;
	}
	if (!blk->failed && blk->vq) {
		uint32_t written = req->result == VIRTIO_BLK_S_OK ? req->written : 1;

		*(volatile uint8_t *)req->status = req->result;
		virtq_push(blk->vq, req->elem->head, written);
		vblk_account_done(blk, req, io);
		blk->pushed++;
		vblk_stat_add(&blk->stats.requests, 1);
		if (req->result == VIRTIO_BLK_S_IOERR)
			vblk_stat_add(&blk->stats.ioerr, 1);
		else if (req->result == VIRTIO_BLK_S_UNSUPP)
			vblk_stat_add(&blk->stats.unsupp, 1);
	}
	vblk_free_slot(blk, slot);
}

/* One completion. @quiesce: reset is draining; nothing is resubmitted or answered. */
static void vblk_cqe(struct virtio_blk *blk, uint64_t ud, int res, bool quiesce)
{
	unsigned slot = (unsigned)(ud & 0xFFFF), seg = (unsigned)(ud >> 16) & 0xFF;
	enum vblk_op op = (enum vblk_op)((ud >> 24) & 0xFF);
	struct virtio_blk_req *req;

	if ((uint32_t)(ud >> 32) != blk->gen || slot >= VIRTIO_BLK_QUEUE_SIZE)
		return;         /* from before a reset that gave up waiting */
	req = &blk->reqs[slot];
	if (!req->pending || !blk->sqes_out)
		return;
	req->pending--;
	blk->sqes_out--;
	switch (op) {
	case VBLK_OP_RW:
		if (res < 0 || (uint32_t)res != req->data_len)
			req->result = VIRTIO_BLK_S_IOERR;
		break;
	case VBLK_OP_DISCARD:
		/* Discard is advisory: a file system without holes still succeeds. */
		if (res < 0 && res != -EOPNOTSUPP)
			req->result = VIRTIO_BLK_S_IOERR;
		break;
	case VBLK_OP_ZERO:
		if (res == -EOPNOTSUPP && !quiesce && seg < req->nseg) {
			/* tmpfs has no ZERO_RANGE; a punched hole reads as zeros too. */
			blk->no_zero_range = true;
			if (vblk_queue_falloc(blk, slot, seg, VBLK_OP_PUNCH))
				return;
		}
		if (res < 0)
			req->result = VIRTIO_BLK_S_IOERR;
		break;
	default:
		if (res < 0)
			req->result = VIRTIO_BLK_S_IOERR;
		break;
	}
	if (req->pending)
		return;
	if (quiesce) {
		if (req->queued) {
			req->queued = false;
			blk->inflight--;
		}
		vblk_free_slot(blk, slot);
		return;
	}
	vblk_complete(blk, slot);
}

/* Handle every completion already in the CQ. */
static void vblk_reap(struct virtio_blk *blk)
{
	struct io_uring_cqe *cqes[64];
	unsigned n, i;

	while ((n = io_uring_peek_batch_cqe(&blk->ring, cqes, ARRAY_SIZE(cqes))) > 0) {
		blk->now = vblk_now();
		blk->run_reaped += n;
		for (i = 0; i < n; i++)
			vblk_cqe(blk, io_uring_cqe_get_data64(cqes[i]), cqes[i]->res, false);
		io_uring_cq_advance(&blk->ring, n);
	}
}

/* Pop every available request (while slots last), queue them, submit once. */
static void vblk_pump(struct virtio_blk *blk)
{
	uint16_t queued[VIRTIO_BLK_QUEUE_SIZE];
	unsigned before = blk->sqes_out, nq = 0, i;

	blk->starved = false;
	while (!blk->failed) {
		struct virtio_blk_req *req;
		unsigned slot;
		int ret;

		if (!vblk_slot_available(blk)) {
			blk->starved = true;
			vblk_stat_add(&blk->stats.starved, 1);
			break;
		}
		slot = blk->free_slots[blk->nr_free - 1];
		req = &blk->reqs[slot];
		ret = virtq_pop(blk->vq, req->elem);
		if (ret)
			break;  /* -ENOENT, or a malformed chain the core reported */
		blk->nr_free--;
		blk->now = req->t_pop = req->t_sub = vblk_now();
		req->t_wake = blk->run_t0;
		req->run_seq = blk->run_seq;
		blk->run_popped++;
		vblk_stage(blk, VIRTIO_BLK_ST_POP, req->t_pop - req->t_wake);
		if (blk->irq_unanswered) {
			blk->irq_unanswered = false;
			vblk_stage(blk, VIRTIO_BLK_ST_GUEST, req->t_pop - blk->last_irq);
		}
		ret = vblk_start(blk, slot);
		if (ret == VBLK_QUEUED) {
			req->queued = true;
			queued[nq++] = (uint16_t)slot;
			if (++blk->inflight > blk->stats.max_inflight)
				__atomic_store_n(&blk->stats.max_inflight, blk->inflight,
						 __ATOMIC_RELAXED);
			blk->prof.depth[vblk_count_bucket(blk->inflight)]++;
		} else if (ret == VBLK_DONE) {
			vblk_complete(blk, slot);
		} else {
			vblk_free_slot(blk, slot);
			vblk_fail_device(blk, "request without a status byte");
		}
	}
	if (io_uring_sq_ready(&blk->ring)) {
		vblk_submit(blk);
		/*
		 * Reads from the page cache often complete inside the submit:
		 * they are reaped below, so the eventfd signal they left is stale.
		 */
		if (blk->sqes_out != before)
			vblk_drain_fd(blk->cq_fd);
	}
	/* SQEs a full SQ pushed out early count from here too: close enough. */
	blk->now = vblk_now();
	for (i = 0; i < nq; i++) {
		struct virtio_blk_req *req = &blk->reqs[queued[i]];

		if (req->queued && req->pending && req->run_seq == blk->run_seq) {
			req->t_sub = blk->now;
			vblk_stage(blk, VIRTIO_BLK_ST_SUBMIT, req->t_sub - req->t_pop);
		}
	}
}

/* The run answered requests and called virtq_notify (@sent: it interrupted). */
static void vblk_account_run(struct virtio_blk *blk, int sent)
{
	uint64_t t = vblk_now(), n = blk->run_answered;
	struct virtio_blk_stage_acc *a;

	if (sent) {
		blk->prof.irq_sent++;
		blk->last_irq = t;
		blk->irq_unanswered = true;
	} else {
		blk->prof.irq_suppressed++;
	}
	if (!n)
		return;
	/* Every request of the run ends at t: sums and maxima without a list. */
	a = &blk->prof.stage[VIRTIO_BLK_ST_ANSWER];
	a->n += n;
	a->sum_ns += n * t - blk->run_reap_sum;
	if (t - blk->run_reap_min > a->max_ns)
		a->max_ns = t - blk->run_reap_min;
	a = &blk->prof.stage[VIRTIO_BLK_ST_TOTAL];
	a->n += n;
	a->sum_ns += n * t - blk->run_wake_sum;
	if (t - blk->run_wake_min > a->max_ns)
		a->max_ns = t - blk->run_wake_min;
}

/* Serve the queue until nothing more can be done now, then one interrupt. */
static void vblk_run(struct virtio_blk *blk, bool kicked)
{
	if (!blk->vq)
		return;
	blk->run_seq++;
	blk->run_t0 = blk->now = vblk_now();
	blk->run_popped = blk->run_reaped = blk->run_answered = 0;
	blk->run_reap_sum = blk->run_wake_sum = 0;
	for (;;) {
		vblk_pump(blk);
		vblk_reap(blk);
		/* Completions may have queued retries (write zeroes fallback). */
		while (io_uring_sq_ready(&blk->ring) && !blk->failed) {
			vblk_submit(blk);
			vblk_reap(blk);
		}
		if (!blk->starved || !vblk_slot_available(blk) || blk->failed)
			break;
	}
	if (blk->pushed) {
		int sent;

		blk->pushed = 0;
		sent = virtq_notify(blk->vq);
		vblk_stat_add(&blk->stats.notifies, 1);
		vblk_account_run(blk, sent);
	}
	if (kicked) {
		blk->prof.kick_runs++;
		blk->prof.per_kick[vblk_count_bucket(blk->run_popped)]++;
		if (!blk->run_popped)
			blk->prof.kick_empty++;
	} else {
		blk->prof.cq_runs++;
		if (!blk->run_reaped)
			blk->prof.cq_empty++;
	}
}

/* ---- virtio ops ------------------------------------------------------------------ */

static void vblk_queue_kick(struct virtio_dev *vdev, struct virtq *vq)
{
	struct virtio_blk *blk = vdev->opaque;

	if (vq == blk->vq)
		vblk_run(blk, true);
}

static void vblk_cq_ready(struct virtio_dev *vdev, void *arg, uint32_t events)
{
	struct virtio_blk *blk = arg;

	(void)vdev;
	(void)events;
	vblk_drain_fd(blk->cq_fd);
	vblk_run(blk, false);
}

static void vblk_config_read(struct virtio_dev *vdev, unsigned off, void *buf, unsigned len)
{
	struct virtio_blk *blk = vdev->opaque;

	/* The core checked off + len <= config_size. */
	memcpy(buf, blk->config + off, len);
}

static int vblk_activate(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;

	blk->vdev = vdev;
	blk->vq = virtio_queue(vdev, 0);
	if (blk->inflight_limit < 1 || blk->inflight_limit > VIRTIO_BLK_QUEUE_SIZE)
		blk->inflight_limit = VIRTIO_BLK_QUEUE_SIZE;
	blk->dsync = !virtio_has_feature(vdev, VIRTIO_BLK_F_FLUSH);
	blk->failed = false;
	blk->starved = false;
	blk->pushed = 0;
	vblk_drain_fd(blk->cq_fd);
	return virtio_worker_watch(vdev, blk->cq_fd, EPOLLIN, vblk_cq_ready, blk);
}

/* Wait (bounded) for every SQE still out; nothing is answered. */
static void vblk_quiesce(struct virtio_blk *blk)
{
	struct __kernel_timespec ts = { .tv_sec = 5 };

	if (io_uring_sq_ready(&blk->ring))
		(void)io_uring_submit(&blk->ring);
	while (blk->sqes_out) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe_timeout(&blk->ring, &cqe, &ts);

		if (r == -EINTR)
			continue;
		if (r) {
			log_warn("virtio-blk %s: %u I/O still in flight at reset (%s); "
				 "their completions will be ignored", blk->path, blk->sqes_out,
				 strerror(-r));
			break;
		}
		vblk_cqe(blk, io_uring_cqe_get_data64(cqe), cqe->res, true);
		io_uring_cqe_seen(&blk->ring, cqe);
	}
}

static void vblk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;
	unsigned i;

	if (!blk || !blk->ring_ready)
		return;
	vblk_quiesce(blk);
	/* Whatever is left is from this generation: the new one ignores it. */
	blk->gen++;
	blk->sqes_out = 0;
	blk->inflight = 0;
	blk->nr_free = 0;
	for (i = VIRTIO_BLK_QUEUE_SIZE; i-- > 0;) {
		blk->reqs[i].pending = 0;
		blk->reqs[i].queued = false;
		vblk_free_slot(blk, i);
	}
	blk->vq = NULL;
	blk->vdev = NULL;
	blk->failed = false;
	blk->starved = false;
	blk->pushed = 0;
	blk->irq_unanswered = false;
	vblk_drain_fd(blk->cq_fd);
}

/* ---- init ------------------------------------------------------------------------ */

static void vblk_build_config(struct virtio_blk *blk)
{
	uint8_t *c = blk->config;

	memset(c, 0, sizeof(blk->config));
	put_le64(c + VIRTIO_BLK_CFG_CAPACITY, blk->capacity);
	put_le32(c + VIRTIO_BLK_CFG_SIZE_MAX, VIRTIO_BLK_SIZE_MAX);
	put_le32(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	put_le32(c + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE);
	put_le16(c + VIRTIO_BLK_CFG_NUM_QUEUES, 1);
	if (blk->readonly)
		return;
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
	put_le32(c + VIRTIO_BLK_CFG_DISCARD_ALIGN, VIRTIO_BLK_DISCARD_ALIGN);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
	c[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
}

static int vblk_open(struct virtio_blk *blk, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size;
	int ret;

	blk->fd = open(path, (blk->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (blk->fd < 0) {
		ret = -errno;
		errmsg(err, errlen, "%s: cannot open%s: %s", path,
			 blk->readonly ? " read-only" : " read-write", strerror(-ret));
		return ret;
	}
	blk->fd_open = true;
	if (fstat(blk->fd, &st)) {
		ret = -errno;
		errmsg(err, errlen, "%s: stat: %s", path, strerror(-ret));
		return ret;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(blk->fd, BLKGETSIZE64, &size)) {
			ret = -errno;
			errmsg(err, errlen, "%s: BLKGETSIZE64: %s", path, strerror(-ret));
			return ret;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		errmsg(err, errlen, "%s: not a regular file or block device", path);
		return -EINVAL;
	}
	if (size == 0 || size % VIRTIO_BLK_SECTOR_SIZE) {
		errmsg(err, errlen, "%s: size %llu is not a non-zero multiple of 512 bytes",
			 path, (unsigned long long)size);
		return -EINVAL;
	}
	blk->capacity = size >> VIRTIO_BLK_SECTOR_SHIFT;
	blk->ino = (uint64_t)st.st_ino;
	return 0;
}

static int vblk_ring_init(struct virtio_blk *blk, char *err, size_t errlen)
{
	struct io_uring_params p;
	int ret;

	/* SUBMIT_ALL (5.18): one bad SQE does not hold back the rest of a batch. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SUBMIT_ALL;
	ret = io_uring_queue_init_params(VIRTIO_BLK_RING_ENTRIES, &blk->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(VIRTIO_BLK_RING_ENTRIES, &blk->ring, &p);
	}
	if (ret) {
		errmsg(err, errlen, "%s: io_uring unavailable: %s", blk->path, strerror(-ret));
		return ret;
	}
	blk->ring_ready = true;
	ret = io_uring_register_eventfd(&blk->ring, blk->cq_fd);
	if (ret) {
		errmsg(err, errlen, "%s: io_uring_register_eventfd: %s", blk->path,
			 strerror(-ret));
		return ret;
	}
	/* A registered file saves a file lookup per request; optional. */
	blk->fixed_file = io_uring_register_files(&blk->ring, &blk->fd, 1) == 0;
	return 0;
}

static const struct virtio_dev_ops virtio_blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = VIRTIO_BLK_PCI_CLASS,
	.config_size = VIRTIO_BLK_CFG_SIZE,
	.num_queues = 1,
	.queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
	.config_read = vblk_config_read,
	.activate = vblk_activate,
	.queue_kick = vblk_queue_kick,
	.reset = vblk_reset,
};

int virtio_blk_init(struct virtio_blk *blk, const char *path, bool readonly, const char *serial,
		    char *err, size_t errlen)
{
	unsigned i;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!blk)
		return -EINVAL;
	memset(blk, 0, sizeof(*blk));
	blk->fd = blk->cq_fd = -1;
	if (!path || !*path) {
		errmsg(err, errlen, "virtio-blk: no image path");
		return -EINVAL;
	}
	snprintf(blk->path, sizeof(blk->path), "%s", path);
	blk->readonly = readonly;

	ret = vblk_open(blk, path, err, errlen);
	if (ret)
		goto fail;
	if (serial)
		memcpy(blk->serial, serial, strnlen(serial, sizeof(blk->serial)));
	else
		snprintf((char *)blk->serial, sizeof(blk->serial), "vmm-%llx",
			 (unsigned long long)blk->ino);

	ret = -ENOMEM;
	blk->reqs = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*blk->reqs));
	/* 4 MiB of address space; only the iovecs a request uses get touched. */
	blk->elems = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*blk->elems));
	blk->free_slots = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*blk->free_slots));
	if (!blk->reqs || !blk->elems || !blk->free_slots) {
		errmsg(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	for (i = VIRTIO_BLK_QUEUE_SIZE; i-- > 0;) {
		blk->reqs[i].elem = &blk->elems[i];
		vblk_free_slot(blk, i);
	}
	blk->inflight_limit = VIRTIO_BLK_QUEUE_SIZE;

	blk->cq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (blk->cq_fd < 0) {
		ret = -errno;
		errmsg(err, errlen, "%s: eventfd: %s", path, strerror(-ret));
		goto fail;
	}
	blk->cq_fd_open = true;
	ret = vblk_ring_init(blk, err, errlen);
	if (ret)
		goto fail;

	vblk_build_config(blk);
	blk->ops = virtio_blk_ops;
	blk->ops.features = VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (readonly)
		blk->ops.features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		blk->ops.features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
				     VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	return 0;

fail:
	virtio_blk_destroy(blk);
	return ret;
}

/* "label a b c ..." of @n counters into @buf. */
static void vblk_fmt_hist(char *buf, size_t len, const char *const *label, const uint64_t *v,
			  unsigned n)
{
	size_t off = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++) {
		int w;

		if (!v[i])
			continue;
		w = snprintf(buf + off, len - off, " %s:%llu", label[i], (unsigned long long)v[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* The stage accounting, a few debug lines (VMM_DEBUG). */
static void vblk_log_prof(const struct virtio_blk *blk)
{
	static const char *const stage_name[VIRTIO_BLK_NR_STAGES] = {
		"wake->pop", "pop->submit", "submit->done", "done->irq", "wake->irq",
		"irq->next-pop",
	};
	static const char *const size_name[VIRTIO_BLK_PROF_SIZES] = {
		"512", "1K", "2K", "4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K",
		"1M", "2M", "more",
	};
	static const char *const count_name[VIRTIO_BLK_PROF_COUNTS] = {
		"0", "1", "2", "3-4", "5-8", "9-16", "17-32", "33+",
	};
	const struct virtio_blk_prof *p = &blk->prof;
	char buf[512];
	unsigned i;

	if (!p->kick_runs && !p->cq_runs)
		return;
	log_debug("virtio-blk %s: %llu requests (%llu reads, %llu writes, %llu flushes); "
		  "kick runs %llu (%llu empty), completion runs %llu (%llu empty); "
		  "inline completions %llu; interrupts %llu sent, %llu suppressed",
		  blk->path, (unsigned long long)blk->stats.requests,
		  (unsigned long long)blk->stats.reads, (unsigned long long)blk->stats.writes,
		  (unsigned long long)blk->stats.flushes, (unsigned long long)p->kick_runs,
		  (unsigned long long)p->kick_empty, (unsigned long long)p->cq_runs,
		  (unsigned long long)p->cq_empty, (unsigned long long)p->inline_done,
		  (unsigned long long)p->irq_sent, (unsigned long long)p->irq_suppressed);
	for (i = 0; i < VIRTIO_BLK_NR_STAGES; i++) {
		const struct virtio_blk_stage_acc *a = &p->stage[i];

		log_debug("virtio-blk %s: stage %-13s n %llu avg %llu us max %llu us", blk->path,
			  stage_name[i], (unsigned long long)a->n,
			  (unsigned long long)(a->n ? a->sum_ns / a->n / 1000 : 0),
			  (unsigned long long)(a->max_ns / 1000));
	}
	vblk_fmt_hist(buf, sizeof(buf), size_name, p->size_hist, VIRTIO_BLK_PROF_SIZES);
	log_debug("virtio-blk %s: request sizes (bytes <=):%s", blk->path, buf);
	vblk_fmt_hist(buf, sizeof(buf), count_name, p->segs_hist, VIRTIO_BLK_PROF_COUNTS);
	log_debug("virtio-blk %s: data segments per request:%s", blk->path, buf);
	vblk_fmt_hist(buf, sizeof(buf), count_name, p->per_kick, VIRTIO_BLK_PROF_COUNTS);
	log_debug("virtio-blk %s: requests per kick:%s", blk->path, buf);
	vblk_fmt_hist(buf, sizeof(buf), count_name, p->depth, VIRTIO_BLK_PROF_COUNTS);
	log_debug("virtio-blk %s: in flight after a pop:%s", blk->path, buf);
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	vblk_log_prof(blk);
	memset(&blk->prof, 0, sizeof(blk->prof));      /* logged once */
	if (blk->ring_ready) {
		io_uring_queue_exit(&blk->ring);
		blk->ring_ready = false;
	}
	if (blk->cq_fd_open) {
		close(blk->cq_fd);
		blk->cq_fd_open = false;
	}
	blk->cq_fd = -1;
	if (blk->fd_open) {
		close(blk->fd);
		blk->fd_open = false;
	}
	blk->fd = -1;
	free(blk->reqs);
	free(blk->elems);
	free(blk->free_slots);
	blk->reqs = NULL;
	blk->elems = NULL;
	blk->free_slots = NULL;
	blk->nr_free = 0;
}

void virtio_blk_get_stats(const struct virtio_blk *blk, struct virtio_blk_stats *out)
{
	const uint64_t *src = (const uint64_t *)&blk->stats;
	uint64_t *dst = (uint64_t *)out;
	size_t i;

	for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
