/*
 * devices/virtio.c - the virtio 1.x core: status and feature negotiation,
 * split virtqueues (validating pop, push, interrupt suppression), kick
 * eventfds and the per-device worker thread. See devices/virtio.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "common/log.h"
#include "devices/virtio.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio rings are little-endian; this core reads them natively"
#endif

/* epoll tags: kind in the high half, index in the low half. */
#define VIRTIO_TAG_STOP   (1ULL << 32)
#define VIRTIO_TAG_QUEUE  (2ULL << 32)
#define VIRTIO_TAG_WATCH  (3ULL << 32)
#define VIRTIO_TAG_KIND   (~0ULL << 32)

#define VIRTIO_CORE_FEATURES \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

static bool virtio_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static void virtio_drain_fd(int fd)
{
	uint64_t v;

	if (fd >= 0)
		while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			;
}

static void virtio_signal_fd(int fd)
{
	uint64_t one = 1;
	ssize_t r;

	do {
		r = write(fd, &one, sizeof(one));
	} while (r < 0 && errno == EINTR);
	/* EAGAIN: the counter is saturated, so a wake-up is pending anyway. */
}

/* ---- ring views ---------------------------------------------------------- */

static inline uint16_t virtq_avail_idx(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE);
}

static inline uint16_t virtq_avail_flags(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail[0], __ATOMIC_RELAXED);
}

static inline uint16_t virtq_used_event(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail[2 + vq->size], __ATOMIC_RELAXED);
}

static inline void virtq_set_avail_event(struct virtq *vq, uint16_t v)
{
	uint16_t *p = (uint16_t *)(vq->used + 4 + 8 * (size_t)vq->size);

	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void virtq_clear(struct virtq *vq)
{
	vq->size = vq->max_size;
	vq->msix_vector = VIRTIO_NO_VECTOR;
	vq->enabled = false;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->indirect = vq->event_idx = false;
	vq->broken = false;
}

/* ---- status and interrupts --------------------------------------------------- */

uint8_t virtio_dev_get_status(struct virtio_dev *vdev)
{
	return __atomic_load_n(&vdev->status, __ATOMIC_ACQUIRE);
}

void virtio_config_changed(struct virtio_dev *vdev)
{
	__atomic_add_fetch(&vdev->config_generation, 1, __ATOMIC_ACQ_REL);
	if (vdev->transport && vdev->transport->notify_config)
		vdev->transport->notify_config(vdev);
}

void virtio_dev_set_needs_reset(struct virtio_dev *vdev)
{
	uint8_t old = __atomic_fetch_or(&vdev->status, VIRTIO_STATUS_NEEDS_RESET,
					__ATOMIC_ACQ_REL);

	/* One config interrupt per episode is enough for the driver. */
	if (!(old & VIRTIO_STATUS_NEEDS_RESET) && vdev->transport &&
	    vdev->transport->notify_config)
		vdev->transport->notify_config(vdev);
}

uint8_t virtio_dev_isr_read_clear(struct virtio_dev *vdev)
{
	return __atomic_exchange_n(&vdev->isr, 0, __ATOMIC_ACQ_REL);
}

/* Store @val as the status, keeping a NEEDS_RESET set meanwhile by a worker. */
static void virtio_status_store(struct virtio_dev *vdev, uint8_t val)
{
	uint8_t cur = __atomic_load_n(&vdev->status, __ATOMIC_ACQUIRE);

	while (!__atomic_compare_exchange_n(&vdev->status, &cur,
					    (uint8_t)(val | (cur & VIRTIO_STATUS_NEEDS_RESET)),
					    false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

/* ---- the worker ------------------------------------------------------------- */

static void *virtio_worker_main(void *arg)
{
	struct virtio_dev *vdev = arg;
	struct epoll_event ev[16];

	for (;;) {
		int n = epoll_wait(vdev->epoll_fd, ev, (int)ARRAY_SIZE(ev), -1);
		int i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("virtio: worker epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (i = 0; i < n; i++)
			if ((ev[i].data.u64 & VIRTIO_TAG_KIND) == VIRTIO_TAG_STOP)
				return NULL;
		for (i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			unsigned idx = (unsigned)(tag & 0xFFFFFFFFu);

			if ((tag & VIRTIO_TAG_KIND) == VIRTIO_TAG_QUEUE) {
				struct virtq *vq = &vdev->vqs[idx];

				virtio_drain_fd(vq->kick_fd);
				if (!vq->broken && vdev->ops.queue_kick)
					vdev->ops.queue_kick(vdev, vq);
			} else if ((tag & VIRTIO_TAG_KIND) == VIRTIO_TAG_WATCH) {
				struct virtio_watch *w = &vdev->watch[idx];

				if (w->fd >= 0 && w->fn)
					w->fn(vdev, w->arg, ev[i].events);
			}
		}
	}
}

static int virtio_epoll_add(struct virtio_dev *vdev, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(vdev->epoll_fd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static void virtio_worker_forget(struct virtio_dev *vdev)
{
	unsigned i;

	for (i = 0; i < vdev->ops.num_queues; i++)
		(void)epoll_ctl(vdev->epoll_fd, EPOLL_CTL_DEL, vdev->vqs[i].kick_fd, NULL);
	for (i = 0; i < VIRTIO_MAX_WATCH; i++) {
		if (vdev->watch[i].fd >= 0)
			(void)epoll_ctl(vdev->epoll_fd, EPOLL_CTL_DEL, vdev->watch[i].fd, NULL);
		vdev->watch[i].fd = -1;
		vdev->watch[i].fn = NULL;
		vdev->watch[i].arg = NULL;
		vdev->watch[i].paused = false;
	}
}

static int virtio_worker_start(struct virtio_dev *vdev)
{
	sigset_t all, old;
	unsigned i;
	int ret;

	for (i = 0; i < vdev->ops.num_queues; i++) {
		if (!vdev->vqs[i].enabled)
			continue;
		ret = virtio_epoll_add(vdev, vdev->vqs[i].kick_fd, EPOLLIN, VIRTIO_TAG_QUEUE | i);
		if (ret)
			goto err;
	}
	/* The worker takes no signals: they belong to the vCPU threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&vdev->worker, NULL, virtio_worker_main, vdev);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto err;
	vdev->worker_running = true;
	return 0;
err:
	virtio_worker_forget(vdev);
	return ret;
}

static void virtio_worker_stop(struct virtio_dev *vdev)
{
	if (vdev->worker_running) {
		virtio_signal_fd(vdev->stop_fd);
		pthread_join(vdev->worker, NULL);
		vdev->worker_running = false;
		virtio_drain_fd(vdev->stop_fd);
	}
	virtio_worker_forget(vdev);
}

int virtio_worker_watch(struct virtio_dev *vdev, int fd, uint32_t events, virtio_watch_fn fn,
			void *arg)
{
	unsigned i;
	int ret;

	if (!vdev || !vdev->ready || fd < 0 || !fn)
		return -EINVAL;
	for (i = 0; i < VIRTIO_MAX_WATCH; i++)
		if (vdev->watch[i].fd == fd)
			return -EEXIST;
	for (i = 0; i < VIRTIO_MAX_WATCH; i++)
		if (vdev->watch[i].fd < 0)
			break;
	if (i == VIRTIO_MAX_WATCH)
		return -ENOSPC;
	if (events) {
		ret = virtio_epoll_add(vdev, fd, events, VIRTIO_TAG_WATCH | i);
		if (ret)
			return ret;
	}
	vdev->watch[i].fd = fd;
	vdev->watch[i].fn = fn;
	vdev->watch[i].arg = arg;
	vdev->watch[i].paused = !events;
	return 0;
}

int virtio_worker_modify(struct virtio_dev *vdev, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	struct virtio_watch *w = NULL;
	unsigned i;

	if (!vdev || !vdev->ready || fd < 0)
		return -EINVAL;
	for (i = 0; i < VIRTIO_MAX_WATCH; i++)
		if (vdev->watch[i].fd == fd)
			w = &vdev->watch[i];
	if (!w)
		return -ENOENT;
	ev.data.u64 = VIRTIO_TAG_WATCH | (uint64_t)(w - vdev->watch);
	/*
	 * Pausing removes the fd: epoll reports HUP/ERR even for an empty
	 * event mask, which would spin the worker on a closed pipe.
	 */
	if (!events) {
		if (!w->paused && epoll_ctl(vdev->epoll_fd, EPOLL_CTL_DEL, fd, NULL))
			return -errno;
		w->paused = true;
		return 0;
	}
	if (epoll_ctl(vdev->epoll_fd, w->paused ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev))
		return -errno;
	w->paused = false;
	return 0;
}

/* ---- devices ------------------------------------------------------------------ */

int virtio_dev_init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, void *opaque,
		    struct mem_space *mem, const struct virtio_transport_ops *transport,
		    void *transport_opaque)
{
	unsigned i;
	int ret;

	if (!vdev)
		return -EINVAL;
	memset(vdev, 0, sizeof(*vdev));
	vdev->epoll_fd = vdev->stop_fd = -1;
	if (!ops || !mem || !transport || ops->num_queues == 0 ||
	    ops->num_queues > VIRTIO_MAX_QUEUES || !virtio_is_pow2(ops->queue_max_size) ||
	    ops->queue_max_size > VIRTQ_MAX_SIZE || ops->config_size > VIRTIO_CONFIG_MAX)
		return -EINVAL;
	vdev->ops = *ops;
	vdev->opaque = opaque;
	vdev->mem = mem;
	vdev->transport = transport;
	vdev->transport_opaque = transport_opaque;
	vdev->host_features = ops->features | VIRTIO_CORE_FEATURES;
	for (i = 0; i < VIRTIO_MAX_WATCH; i++)
		vdev->watch[i].fd = -1;

	vdev->vqs = calloc(ops->num_queues, sizeof(*vdev->vqs));
	if (!vdev->vqs)
		return -ENOMEM;
	for (i = 0; i < ops->num_queues; i++)
		vdev->vqs[i].kick_fd = -1;
	for (i = 0; i < ops->num_queues; i++) {
		struct virtq *vq = &vdev->vqs[i];

		vq->vdev = vdev;
		vq->index = i;
		vq->max_size = ops->queue_max_size;
		virtq_clear(vq);
		vq->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vq->kick_fd < 0) {
			ret = -errno;
			goto err_fds;
		}
	}
	vdev->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vdev->stop_fd < 0) {
		ret = -errno;
		goto err_fds;
	}
	vdev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (vdev->epoll_fd < 0) {
		ret = -errno;
		goto err_fds;
	}
	ret = virtio_epoll_add(vdev, vdev->stop_fd, EPOLLIN, VIRTIO_TAG_STOP);
	if (ret)
		goto err_fds;
	ret = -pthread_mutex_init(&vdev->lock, NULL);
	if (ret)
		goto err_fds;
	vdev->ready = true;
	return 0;

err_fds:
	if (vdev->epoll_fd >= 0)
		close(vdev->epoll_fd);
	if (vdev->stop_fd >= 0)
		close(vdev->stop_fd);
	for (i = 0; i < ops->num_queues; i++)
		if (vdev->vqs[i].kick_fd >= 0)
			close(vdev->vqs[i].kick_fd);
	free(vdev->vqs);
	vdev->vqs = NULL;
	vdev->epoll_fd = vdev->stop_fd = -1;
	return ret;
}

void virtio_dev_destroy(struct virtio_dev *vdev)
{
	unsigned i;

	if (!vdev || !vdev->ready)
		return;
	virtio_worker_stop(vdev);
	if (vdev->ops.reset)
		vdev->ops.reset(vdev);
	for (i = 0; i < vdev->ops.num_queues; i++)
		close(vdev->vqs[i].kick_fd);
	close(vdev->epoll_fd);
	close(vdev->stop_fd);
	free(vdev->vqs);
	vdev->vqs = NULL;
	pthread_mutex_destroy(&vdev->lock);
	vdev->ready = false;
}

void virtio_dev_reset(struct virtio_dev *vdev)
{
	unsigned i;

	if (!vdev || !vdev->ready)
		return;
	virtio_worker_stop(vdev);
	if (vdev->ops.reset)
		vdev->ops.reset(vdev);
	for (i = 0; i < vdev->ops.num_queues; i++) {
		virtq_clear(&vdev->vqs[i]);
		virtio_drain_fd(vdev->vqs[i].kick_fd);
	}
	vdev->driver_features = 0;
	vdev->features = 0;
	__atomic_store_n(&vdev->isr, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&vdev->status, 0, __ATOMIC_RELEASE);
}

static bool virtio_features_acceptable(const struct virtio_dev *vdev)
{
	return !(vdev->driver_features & ~vdev->host_features) &&
	       (vdev->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void virtio_queue_features(struct virtio_dev *vdev)
{
	unsigned i;

	for (i = 0; i < vdev->ops.num_queues; i++) {
		vdev->vqs[i].indirect = virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC);
		vdev->vqs[i].event_idx = virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX);
	}
}

void virtio_dev_set_status(struct virtio_dev *vdev, uint8_t val)
{
	uint8_t old, st;
	int ret;

	if (!vdev || !vdev->ready)
		return;
	if (val == 0) {
		virtio_dev_reset(vdev);
		return;
	}
	old = virtio_dev_get_status(vdev);
	/* NEEDS_RESET is the device's; the rest only grows until a reset. */
	st = (uint8_t)((val & ~VIRTIO_STATUS_NEEDS_RESET) |
		       (old & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)));
	if ((st & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		if (virtio_features_acceptable(vdev)) {
			vdev->features = vdev->driver_features;
			virtio_queue_features(vdev);
		} else {
			st &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if (!(st & VIRTIO_STATUS_FEATURES_OK))
		st &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	if ((st & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		virtio_queue_features(vdev);
		ret = vdev->ops.activate ? vdev->ops.activate(vdev) : 0;
		if (!ret)
			ret = virtio_worker_start(vdev);
		else
			virtio_worker_forget(vdev);
		virtio_status_store(vdev, st);
		if (ret) {
			log_warn("virtio: device %u could not start: %s", vdev->ops.device_id,
				 strerror(-ret));
			virtio_dev_set_needs_reset(vdev);
		}
		return;
	}
	virtio_status_store(vdev, st);
}

void virtio_dev_set_driver_features(struct virtio_dev *vdev, unsigned sel, uint32_t val)
{
	if (!vdev || !vdev->ready || sel > 1 ||
	    (virtio_dev_get_status(vdev) & VIRTIO_STATUS_FEATURES_OK))
		return;
	if (sel == 0)
		vdev->driver_features = (vdev->driver_features & ~0xFFFFFFFFULL) | val;
	else
		vdev->driver_features = (vdev->driver_features & 0xFFFFFFFFULL) |
					((uint64_t)val << 32);
}

uint32_t virtio_dev_host_features(struct virtio_dev *vdev, unsigned sel)
{
	if (!vdev || sel > 1)
		return 0;
	return (uint32_t)(vdev->host_features >> (32 * sel));
}

uint32_t virtio_dev_driver_features(struct virtio_dev *vdev, unsigned sel)
{
	if (!vdev || sel > 1)
		return 0;
	return (uint32_t)(vdev->driver_features >> (32 * sel));
}

/* ---- queues ------------------------------------------------------------------- */

int virtio_queue_enable(struct virtio_dev *vdev, unsigned q)
{
	struct virtq *vq = virtio_queue(vdev, q);
	uint64_t dlen, alen, ulen;
	void *d, *a, *u;
	int ret = -EINVAL;

	if (!vq)
		return -EINVAL;
	if (vq->enabled)
		return 0;
	if (virtio_dev_get_status(vdev) & VIRTIO_STATUS_DRIVER_OK)
		return -EBUSY;
	if (!virtio_is_pow2(vq->size) || vq->size > vq->max_size)
		goto refuse;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		goto refuse;
	dlen = 16ULL * vq->size;
	alen = 6ULL + 2ULL * vq->size;
	ulen = 6ULL + 8ULL * vq->size;
	ret = -EFAULT;
	if (range_invalid(vq->desc_gpa, dlen) || range_invalid(vq->avail_gpa, alen) ||
	    range_invalid(vq->used_gpa, ulen))
		goto refuse;
	d = mem_hva(vdev->mem, vq->desc_gpa, dlen);
	a = mem_hva(vdev->mem, vq->avail_gpa, alen);
	u = mem_hva(vdev->mem, vq->used_gpa, ulen);
	/* The host side must be as aligned as the guest side for atomic access. */
	if (!d || !a || !u || ((uintptr_t)a & 1) || ((uintptr_t)u & 3))
		goto refuse;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->broken = false;
	vq->indirect = virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC);
	vq->event_idx = virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX);
	vq->enabled = true;
	return 0;
refuse:
	log_warn("virtio: device %u queue %u: bad ring (size %u desc 0x%llx avail 0x%llx "
		 "used 0x%llx)", vdev->ops.device_id, q, vq->size,
		 (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
		 (unsigned long long)vq->used_gpa);
	virtio_dev_set_needs_reset(vdev);
	return ret;
}

void virtio_queue_kick(struct virtio_dev *vdev, unsigned q)
{
	struct virtq *vq = virtio_queue(vdev, q);

	if (vq)
		virtio_signal_fd(vq->kick_fd);
}

int virtq_kick_fd(const struct virtq *vq)
{
	return vq ? vq->kick_fd : -1;
}

static int virtq_fail(struct virtq *vq, struct virtq_elem *e, int err, const char *why)
{
	vq->broken = true;
	e->nr_read = e->nr_write = 0;
	e->read_len = e->write_len = 0;
	log_warn("virtio: device %u queue %u: %s; needs reset", vq->vdev->ops.device_id,
		 vq->index, why);
	virtio_dev_set_needs_reset(vq->vdev);
	return err;
}

/* Map one descriptor's buffer, split at RAM range boundaries. */
static int virtq_map(struct virtq_elem *e, const struct mem_flat_view *view, uint64_t addr,
		     uint32_t len, bool writable, const char **why)
{
	uint64_t left = len;

	if (range_invalid(addr, len)) {
		*why = "buffer wraps";
		return -EFAULT;
	}
	while (left) {
		const struct mem_flat_range *fr = mem_view_find(view, addr);
		uint64_t off, chunk;
		struct iovec *iov;

		if (!fr || !mem_range_is_ram(fr) || (writable && fr->readonly)) {
			*why = "buffer outside guest RAM";
			return -EFAULT;
		}
		if (e->nr_read + e->nr_write >= VIRTQ_MAX_SEGS) {
			*why = "too many segments";
			return -EINVAL;
		}
		off = addr - fr->gpa;
		chunk = fr->size - off < left ? fr->size - off : left;
		iov = &e->iov[e->nr_read + e->nr_write];
		iov->iov_base = fr->backend->host + fr->backend_off + off;
		iov->iov_len = chunk;
		if (writable) {
			e->nr_write++;
			e->write_len += chunk;
		} else {
			e->nr_read++;
			e->read_len += chunk;
		}
		addr += chunk;
		left -= chunk;
	}
	return 0;
}

/* Walk the chain at @head; 0 or -errno with *why set. */
static int virtq_walk(struct virtq *vq, struct virtq_elem *e, const struct mem_flat_view *view,
		      uint16_t head, const char **why)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	unsigned tsize = vq->size, count = 0, idx = head;
	bool in_indirect = false;
	struct virtq_desc d;
	int ret;

	for (;;) {
		if (idx >= tsize) {
			*why = "descriptor index out of range";
			return -EINVAL;
		}
		if (++count > tsize) {
			*why = "descriptor chain too long (loop)";
			return -EINVAL;
		}
		memcpy(&d, table + 16 * (size_t)idx, sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect) {
				*why = "indirect descriptor not negotiated";
				return -EINVAL;
			}
			if (in_indirect) {
				*why = "nested indirect descriptor";
				return -EINVAL;
			}
			if (count != 1 || (d.flags & VIRTQ_DESC_F_NEXT)) {
				*why = "indirect descriptor not alone in its chain";
				return -EINVAL;
			}
			if (d.len == 0 || d.len % 16 || d.len / 16 > vq->size) {
				*why = "bad indirect table length";
				return -EINVAL;
			}
			if (range_invalid(d.addr, d.len)) {
				*why = "indirect table wraps";
				return -EFAULT;
			}
			table = mem_hva(vq->vdev->mem, d.addr, d.len);
			if (!table) {
				*why = "indirect table outside guest RAM";
				return -EFAULT;
			}
			tsize = d.len / 16;
			count = 0;
			idx = 0;
			in_indirect = true;
			continue;
		}
		if (d.len) {
			bool writable = d.flags & VIRTQ_DESC_F_WRITE;

			if (!writable && e->nr_write) {
				*why = "readable descriptor after a writable one";
				return -EINVAL;
			}
			ret = virtq_map(e, view, d.addr, d.len, writable, why);
			if (ret)
				return ret;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_elem *e)
{
	struct mem_flat_view *view;
	const char *why = "bad chain";
	uint16_t avail, head;
	int ret;

	if (!vq || !e)
		return -EINVAL;
	if (!vq->enabled || vq->broken || !vq->desc)
		return -EIO;
	avail = virtq_avail_idx(vq);
	if (avail == vq->last_avail) {
		if (!vq->event_idx)
			return -ENOENT;
		/* Ask for a kick at the next buffer, then look once more. */
		virtq_set_avail_event(vq, vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail = virtq_avail_idx(vq);
		if (avail == vq->last_avail)
			return -ENOENT;
	}
	if ((uint16_t)(avail - vq->last_avail) > vq->size)
		return virtq_fail(vq, e, -EINVAL, "avail index moved beyond the queue size");
	head = __atomic_load_n(&vq->avail[2 + vq->last_avail % vq->size], __ATOMIC_RELAXED);
	e->head = head;
	e->nr_read = e->nr_write = 0;
	e->read_len = e->write_len = 0;
	if (head >= vq->size)
		return virtq_fail(vq, e, -EINVAL, "head index out of range");
	view = mem_view_get(vq->vdev->mem);
	ret = virtq_walk(vq, e, view, head, &why);
	mem_flat_view_put(view);
	if (ret)
		return virtq_fail(vq, e, ret, why);
	vq->last_avail++;
	return 0;
}

void virtq_unpop(struct virtq *vq, unsigned n)
{
	if (vq)
		vq->last_avail = (uint16_t)(vq->last_avail - n);
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	uint32_t elem[2] = { head, written };

	if (!vq || !vq->enabled || !vq->used)
		return;
	memcpy(vq->used + 4 + 8 * (size_t)(vq->used_idx % vq->size), elem, sizeof(elem));
	vq->used_idx++;
	/* The element is visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(vq->used + 2), vq->used_idx, __ATOMIC_RELEASE);
}

int virtq_notify(struct virtq *vq)
{
	struct virtio_dev *vdev;
	uint16_t old, now;
	bool valid;

	if (!vq || !vq->enabled || !vq->used)
		return 0;
	vdev = vq->vdev;
	/* Our used idx store is ordered before reading the driver's suppression. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	now = vq->used_idx;
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	if (valid && now == old)
		return 0;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (vq->event_idx) {
		uint16_t ev = virtq_used_event(vq);

		/* Interrupt when used_event lies in (old, now], see the spec's vring_need_event. */
		if (valid && (uint16_t)(now - ev - 1) >= (uint16_t)(now - old))
			return 0;
	} else if (virtq_avail_flags(vq) & VIRTQ_AVAIL_F_NO_INTERRUPT) {
		return 0;
	}
	if (vdev->transport && vdev->transport->notify_queue)
		vdev->transport->notify_queue(vdev, vq);
	return 1;
}
