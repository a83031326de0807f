/*
 * devices/virtio_net.c - virtio-net on a tap (see virtio_net.h).
 *
 * Everything below virtio_net_activate runs on the core's worker thread,
 * which is the only thread touching queue state and the rx/tx fields until
 * reset (the core stops the worker before calling ops.reset).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "devices/tap.h"
#include "devices/virtio_net.h"

/* Ethernet controller, for the PCI transport. */
#define VIRTIO_NET_PCI_CLASS    0x020000

/* Frames handled per wakeup before the other direction gets a turn. */
#define VIRTIO_NET_BUDGET       256
/* Interrupt at least this often inside a long receive batch. */
#define VIRTIO_NET_RX_BATCH     64

/* A read that fills the bounce buffer may have been cut short: one byte of slack proves it was not. */
#define VIRTIO_NET_RXBUF_SIZE   (VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1)

_Static_assert(VIRTIO_NET_HDR_LEN == TAP_VNET_HDR_LEN, "the tap carries our header as is");

/* Header field offsets. */
#define HDR_FLAGS       0
#define HDR_GSO_TYPE    1
#define HDR_NUM_BUFFERS 10

enum rx_result { RX_DONE, RX_DROPPED, RX_NO_BUFFERS, RX_BROKEN };

static void stat_add(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/* ---- iovec helpers ---------------------------------------------------------- */

/* Copy @len bytes of @buf into @iov (cnt entries) from byte @off; returns bytes copied. */
static size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf,
			   size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - off;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, src + done, n);
		done += n;
		off = 0;
	}
	return done;
}

static size_t iov_to_buf(const struct iovec *iov, unsigned cnt, void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t n = iov[i].iov_len;

		if (n > len - done)
			n = len - done;
		memcpy(dst + done, iov[i].iov_base, n);
		done += n;
	}
	return done;
}

static bool has(const struct virtio_net *n, unsigned bit)
{
	return (n->features & VIRTIO_BIT(bit)) != 0;
}

/* ---- the tap watch ------------------------------------------------------------ */

static void tap_update_events(struct virtio_net *n)
{
	uint32_t ev = 0;

	if (!n->watching)
		return;
	if (!n->rx_paused && !n->rx_broken && !n->rx_stopped)
		ev |= EPOLLIN;
	if (n->tx_blocked && !n->tx_broken)
		ev |= EPOLLOUT;
	if (ev == n->tap_events)
		return;
	if (virtio_worker_modify(n->vdev, n->tap_fd, ev) == 0)
		n->tap_events = ev;
	else
		log_warn("virtio-net: cannot change the tap watch");
}

/* ---- receive: tap -> guest ------------------------------------------------------ */

/*
 * The tap filled the header's first 10 bytes. Keep only what the driver
 * agreed to: without GUEST_CSUM flags must be 0 (the tap then gives fully
 * checksummed frames); GSO only of a negotiated kind. false: drop.
 */
static bool rx_fix_header(struct virtio_net *n, uint8_t *hdr)
{
	uint8_t gso = hdr[HDR_GSO_TYPE];

	if (!has(n, VIRTIO_NET_F_GUEST_CSUM))
		hdr[HDR_FLAGS] = 0;
	else
		hdr[HDR_FLAGS] &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return has(n, VIRTIO_NET_F_GUEST_TSO4) && has(n, VIRTIO_NET_F_GUEST_CSUM);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return has(n, VIRTIO_NET_F_GUEST_TSO6) && has(n, VIRTIO_NET_F_GUEST_CSUM);
	default:
		return false;   /* ECN, UDP: never offered */
	}
}

/* A receive chain must be writable only and hold at least the header. */
static bool rx_chain_ok(const struct virtq_elem *e)
{
	return e->nr_read == 0 && e->write_len >= VIRTIO_NET_HDR_LEN;
}

static enum rx_result rx_broken(struct virtio_net *n, const char *why)
{
	log_warn("virtio-net: receive queue: %s; device needs reset", why);
	n->rx_broken = true;
	virtio_dev_set_needs_reset(n->vdev);
	return RX_BROKEN;
}

/* Deliver the frame in rxbuf[0, len): header + frame. */
static enum rx_result rx_deliver(struct virtio_net *n, struct virtq *vq, size_t len)
{
	uint8_t *buf = n->rxbuf;
	unsigned nbuf = 0;
	size_t off = 0;
	int r;

	if (!rx_fix_header(n, buf)) {
		stat_add(&n->stats.rx_dropped, 1);
		return RX_DROPPED;
	}
	if (!n->mrg_rxbuf) {
		r = virtq_pop(vq, n->elem);
		if (r == -ENOENT)
			return RX_NO_BUFFERS;
		if (r) {
			n->rx_broken = true;
			return RX_BROKEN;
		}
		if (!rx_chain_ok(n->elem))
			return rx_broken(n, "buffer not writable or shorter than the header");
		if (n->elem->write_len < len) {
			/* The buffer stays available for the next, smaller frame. */
			virtq_unpop(vq, 1);
			stat_add(&n->stats.rx_dropped, 1);
			return RX_DROPPED;
		}
		buf[HDR_NUM_BUFFERS] = 1;
		buf[HDR_NUM_BUFFERS + 1] = 0;
		iov_from_buf(n->elem->iov, n->elem->nr_write, 0, buf, len);
		virtq_push(vq, n->elem->head, (uint32_t)len);
		return RX_DONE;
	}

	/*
	 * Mergeable buffers: fill chains in order. The first element is kept
	 * (n->elem) to write num_buffers once the count is known; the others
	 * pass through n->elem2. Writing into a chain that is then given back
	 * is harmless: the driver owns nothing in it until it is used.
	 */
	while (off < len) {
		struct virtq_elem *e = nbuf ? n->elem2 : n->elem;
		size_t chunk;

		if (nbuf == vq->size) {
			/* Every buffer the ring can hold is not enough: never fits. */
			virtq_unpop(vq, nbuf);
			stat_add(&n->stats.rx_dropped, 1);
			return RX_DROPPED;
		}
		r = virtq_pop(vq, e);
		if (r == -ENOENT) {
			virtq_unpop(vq, nbuf);
			return RX_NO_BUFFERS;
		}
		if (r) {
			n->rx_broken = true;
			return RX_BROKEN;
		}
		if (!rx_chain_ok(e))
			return rx_broken(n, "buffer not writable or shorter than the header");
		chunk = len - off;
		if (chunk > e->write_len)
			chunk = (size_t)e->write_len;
		iov_from_buf(e->iov, e->nr_write, 0, buf + off, chunk);
		n->rx_heads[nbuf] = e->head;
		n->rx_lens[nbuf] = (uint32_t)chunk;
		nbuf++;
		off += chunk;
	}
	{
		uint8_t nb[2] = { (uint8_t)nbuf, (uint8_t)(nbuf >> 8) };

		iov_from_buf(n->elem->iov, n->elem->nr_write, HDR_NUM_BUFFERS, nb, sizeof(nb));
	}
	for (unsigned i = 0; i < nbuf; i++)
		virtq_push(vq, n->rx_heads[i], n->rx_lens[i]);
	return RX_DONE;
}

/* Read one frame from the tap into rxbuf; >0 its length, 0 nothing (EAGAIN), <0 stop. */
static ssize_t rx_read_tap(struct virtio_net *n)
{
	for (;;) {
		ssize_t r = read(n->tap_fd, n->rxbuf, VIRTIO_NET_RXBUF_SIZE);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r < 0) {
			int e = errno;

			stat_add(&n->stats.rx_errors, 1);
			log_warn("virtio-net: reading the tap failed (%s); receive stopped",
				 strerror(e));
			return -e;
		}
		if ((size_t)r < VIRTIO_NET_HDR_LEN + VIRTIO_NET_MIN_FRAME ||
		    (size_t)r == VIRTIO_NET_RXBUF_SIZE) {
			stat_add(&n->stats.rx_dropped, 1);
			continue;
		}
		return r;
	}
}

static void rx_run(struct virtio_net *n)
{
	struct virtq *vq = virtio_queue(n->vdev, VIRTIO_NET_RXQ);
	unsigned done = 0, since_notify = 0;
	bool more = false;

	if (n->rx_broken || n->rx_stopped || !vq)
		return;
	for (;;) {
		enum rx_result res;

		if (done == VIRTIO_NET_BUDGET) {
			more = true;
			break;
		}
		if (!n->rx_pending) {
			ssize_t r = rx_read_tap(n);

			if (r == 0) {
				n->rx_paused = false;
				break;
			}
			if (r < 0) {
				n->rx_stopped = true;
				break;
			}
			n->rx_pending = (size_t)r;
		}
		res = rx_deliver(n, vq, n->rx_pending);
		if (res == RX_NO_BUFFERS) {
			n->rx_paused = true;
			break;
		}
		if (res == RX_BROKEN)
			break;
		if (res == RX_DONE) {
			stat_add(&n->stats.rx_frames, 1);
			stat_add(&n->stats.rx_bytes, n->rx_pending - VIRTIO_NET_HDR_LEN);
			if (++since_notify == VIRTIO_NET_RX_BATCH) {
				(void)virtq_notify(vq);
				since_notify = 0;
			}
		}
		n->rx_pending = 0;
		done++;
	}
	if (since_notify)
		(void)virtq_notify(vq);
	tap_update_events(n);
	if (more)
		virtio_queue_kick(n->vdev, VIRTIO_NET_RXQ);     /* come back after tx had a turn */
}

/* ---- transmit: guest -> tap ----------------------------------------------------- */

/* Offloads a transmit header may ask for, per the negotiated features. */
static bool tx_header_ok(const struct virtio_net *n, const uint8_t *hdr)
{
	uint8_t flags = hdr[HDR_FLAGS];
	uint8_t gso = hdr[HDR_GSO_TYPE];

	if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !has(n, VIRTIO_NET_F_CSUM))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return has(n, VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return has(n, VIRTIO_NET_F_HOST_TSO6);
	default:
		return false;   /* ECN, UDP: never offered */
	}
}

static void tx_broken(struct virtio_net *n, const char *why)
{
	log_warn("virtio-net: transmit queue: %s; device needs reset", why);
	n->tx_broken = true;
	virtio_dev_set_needs_reset(n->vdev);
}

/*
 * Build [our header copy][the frame's segments] in n->tx_iov. The header is
 * copied so the guest cannot change it between the check and the write.
 * Returns the iovec count, or 0 when there are too many segments for writev.
 */
static unsigned tx_build_iov(struct virtio_net *n, const struct virtq_elem *e, uint8_t *hdr)
{
	size_t skip = VIRTIO_NET_HDR_LEN;
	unsigned cnt = 1;

	n->tx_iov[0].iov_base = hdr;
	n->tx_iov[0].iov_len = VIRTIO_NET_HDR_LEN;
	for (unsigned i = 0; i < e->nr_read; i++) {
		const struct iovec *v = &e->iov[i];

		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		if (cnt == IOV_MAX)
			return 0;
		n->tx_iov[cnt].iov_base = (uint8_t *)v->iov_base + skip;
		n->tx_iov[cnt].iov_len = v->iov_len - skip;
		skip = 0;
		cnt++;
	}
	return cnt;
}

static void tx_run(struct virtio_net *n)
{
	struct virtq *vq = virtio_queue(n->vdev, VIRTIO_NET_TXQ);
	struct virtq_elem *e = n->elem2;
	unsigned done = 0;
	bool more = false;

	if (n->tx_broken || n->tx_blocked || !vq)
		return;
	for (;;) {
		uint8_t hdr[VIRTIO_NET_HDR_LEN];
		uint64_t frame;
		unsigned cnt;
		ssize_t w;
		int r;

		if (done == VIRTIO_NET_BUDGET) {
			more = true;
			break;
		}
		r = virtq_pop(vq, e);
		if (r == -ENOENT)
			break;
		if (r) {
			n->tx_broken = true;
			break;
		}
		if (e->nr_write) {
			tx_broken(n, "buffer with a device-writable segment");
			break;
		}
		if (e->read_len < VIRTIO_NET_HDR_LEN) {
			tx_broken(n, "buffer shorter than the virtio-net header");
			break;
		}
		done++;
		frame = e->read_len - VIRTIO_NET_HDR_LEN;
		iov_to_buf(e->iov, e->nr_read, hdr, sizeof(hdr));
		cnt = tx_build_iov(n, e, hdr);
		if (frame < VIRTIO_NET_MIN_FRAME || frame > VIRTIO_NET_MAX_FRAME || !cnt ||
		    !tx_header_ok(n, hdr)) {
			stat_add(&n->stats.tx_dropped, 1);
			virtq_push(vq, e->head, 0);
			continue;
		}
		do
			w = writev(n->tap_fd, n->tx_iov, (int)cnt);
		while (w < 0 && errno == EINTR);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			/* The tap's send buffer is full: retry this chain when it drains. */
			virtq_unpop(vq, 1);
			done--;
			n->tx_blocked = true;
			break;
		}
		if (w < 0) {
			/* e.g. EINVAL: the kernel refused the header; EIO: interface down. */
			stat_add(&n->stats.tx_errors, 1);
		} else {
			stat_add(&n->stats.tx_frames, 1);
			stat_add(&n->stats.tx_bytes, frame);
		}
		/* Transmit buffers are read-only: nothing written. */
		virtq_push(vq, e->head, 0);
	}
	if (done)
		(void)virtq_notify(vq);
	tap_update_events(n);
	if (more)
		virtio_queue_kick(n->vdev, VIRTIO_NET_TXQ);
}

/* ---- core hooks ----------------------------------------------------------------- */

static struct virtio_net *to_net(struct virtio_dev *vdev)
{
	return vdev->opaque;
}

static void virtio_net_config_read(struct virtio_dev *vdev, unsigned off, void *buf,
				   unsigned len)
{
	struct virtio_net *n = to_net(vdev);
	uint8_t cfg[VIRTIO_NET_CFG_SIZE] = { 0 };

	memcpy(cfg + VIRTIO_NET_CFG_MAC, n->mac, sizeof(n->mac));
	cfg[VIRTIO_NET_CFG_STATUS] = VIRTIO_NET_S_LINK_UP;
	cfg[VIRTIO_NET_CFG_MAX_PAIRS] = 1;
	if (off > sizeof(cfg) || len > sizeof(cfg) - off) {
		memset(buf, 0, len);
		return;
	}
	memcpy(buf, cfg + off, len);
}

static void tap_ready_cb(struct virtio_dev *vdev, void *arg, uint32_t events)
{
	struct virtio_net *n = arg;

	(void)vdev;
	if (events & EPOLLOUT) {
		n->tx_blocked = false;
		tx_run(n);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rx_run(n);
	tap_update_events(n);
}

static void virtio_net_queue_kick(struct virtio_dev *vdev, struct virtq *vq)
{
	struct virtio_net *n = to_net(vdev);

	if (vq->index == VIRTIO_NET_RXQ)
		rx_run(n);      /* new buffers: deliver a waiting frame, read the tap again */
	else if (vq->index == VIRTIO_NET_TXQ)
		tx_run(n);
}

/* What the tap may hand us, from the negotiated GUEST_* bits. */
static unsigned guest_offloads(const struct virtio_net *n)
{
	unsigned fl = 0;

	if (!has(n, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	fl |= TAP_OFFLOAD_CSUM;
	if (has(n, VIRTIO_NET_F_GUEST_TSO4))
		fl |= TAP_OFFLOAD_TSO4;
	if (has(n, VIRTIO_NET_F_GUEST_TSO6))
		fl |= TAP_OFFLOAD_TSO6;
	return fl & n->tap_offload_ok;
}

static int virtio_net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);
	int ret;

	n->vdev = vdev;
	n->features = vdev->features;
	n->mrg_rxbuf = has(n, VIRTIO_NET_F_MRG_RXBUF);
	n->rx_broken = n->tx_broken = false;
	n->rx_paused = n->rx_stopped = n->tx_blocked = false;
	n->rx_pending = 0;
	n->watching = false;
	n->tap_events = EPOLLIN;
	ret = tap_set_offload(n->tap_fd, guest_offloads(n));
	if (ret) {
		log_warn("virtio-net: cannot set the tap offloads: %s", strerror(-ret));
		return ret;
	}
	ret = virtio_worker_watch(vdev, n->tap_fd, EPOLLIN, tap_ready_cb, n);
	if (ret)
		return ret;
	n->watching = true;
	return 0;
}

static void virtio_net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = to_net(vdev);

	/* The worker is gone and its watches with it; a waiting frame is lost. */
	if (n->rx_pending)
		stat_add(&n->stats.rx_dropped, 1);
	n->rx_pending = 0;
	n->watching = false;
	n->rx_broken = n->tx_broken = false;
	n->rx_paused = n->rx_stopped = n->tx_blocked = false;
	n->features = 0;
	n->mrg_rxbuf = false;
	if (tap_set_offload(n->tap_fd, 0))
		log_debug("virtio-net: cannot clear the tap offloads");
}

/* ---- life cycle ----------------------------------------------------------------- */

static void default_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, GRND_NONBLOCK) != 6) {
		static const uint8_t fallback[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

		memcpy(mac, fallback, 6);
	}
	/* Unicast (bit 0 clear), locally administered (bit 1 set). */
	mac[0] = (uint8_t)((mac[0] & 0xFC) | 0x02);
}

int virtio_net_init(struct virtio_net *n, const struct virtio_net_cfg *cfg)
{
	uint64_t f;

	memset(n, 0, sizeof(*n));
	n->tap_fd = -1;
	if (!cfg || cfg->tap_fd < 0 || fcntl(cfg->tap_fd, F_GETFD) < 0)
		return -EINVAL;
	if (cfg->has_mac && (cfg->mac[0] & 1))
		return -EINVAL; /* a multicast address cannot be a station's */
	n->tap_fd = cfg->tap_fd;
	if (cfg->has_mac)
		memcpy(n->mac, cfg->mac, sizeof(n->mac));
	else
		default_mac(n->mac);

	n->rxbuf = malloc(VIRTIO_NET_RXBUF_SIZE);
	n->elem = malloc(sizeof(*n->elem));
	n->elem2 = malloc(sizeof(*n->elem2));
	n->rx_heads = calloc(VIRTIO_NET_QUEUE_SIZE, sizeof(*n->rx_heads));
	n->rx_lens = calloc(VIRTIO_NET_QUEUE_SIZE, sizeof(*n->rx_lens));
	n->tx_iov = calloc(VIRTQ_MAX_SEGS + 1, sizeof(*n->tx_iov));
	if (!n->rxbuf || !n->elem || !n->elem2 || !n->rx_heads || !n->rx_lens || !n->tx_iov)
		goto nomem;

	n->tap_offload_ok = tap_probe_offload(n->tap_fd);
	f = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
	    VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
	    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6);
	if (n->tap_offload_ok & TAP_OFFLOAD_CSUM)
		f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	if (n->tap_offload_ok & TAP_OFFLOAD_TSO4)
		f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4);
	if (n->tap_offload_ok & TAP_OFFLOAD_TSO6)
		f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);

	n->ops = (struct virtio_dev_ops){
		.device_id = VIRTIO_ID_NET,
		.pci_class = VIRTIO_NET_PCI_CLASS,
		.features = f,
		.config_size = VIRTIO_NET_CFG_SIZE,
		.num_queues = 2,
		.queue_max_size = VIRTIO_NET_QUEUE_SIZE,
		.config_read = virtio_net_config_read,
		.config_write = NULL,   /* 1.x: the driver must not write the MAC */
		.activate = virtio_net_activate,
		.queue_kick = virtio_net_queue_kick,
		.reset = virtio_net_reset,
	};
	n->ready = true;
	return 0;
nomem:
	virtio_net_destroy(n);
	return -ENOMEM;
}

void virtio_net_destroy(struct virtio_net *n)
{
	free(n->rxbuf);
	free(n->elem);
	free(n->elem2);
	free(n->rx_heads);
	free(n->rx_lens);
	free(n->tx_iov);
	n->rxbuf = NULL;
	n->elem = n->elem2 = NULL;
	n->rx_heads = NULL;
	n->rx_lens = NULL;
	n->tx_iov = NULL;
	n->ready = false;
}

void virtio_net_stats(const struct virtio_net *n, struct virtio_net_stats *out)
{
	out->rx_frames = __atomic_load_n(&n->stats.rx_frames, __ATOMIC_RELAXED);
	out->rx_bytes = __atomic_load_n(&n->stats.rx_bytes, __ATOMIC_RELAXED);
	out->rx_dropped = __atomic_load_n(&n->stats.rx_dropped, __ATOMIC_RELAXED);
	out->rx_errors = __atomic_load_n(&n->stats.rx_errors, __ATOMIC_RELAXED);
	out->tx_frames = __atomic_load_n(&n->stats.tx_frames, __ATOMIC_RELAXED);
	out->tx_bytes = __atomic_load_n(&n->stats.tx_bytes, __ATOMIC_RELAXED);
	out->tx_dropped = __atomic_load_n(&n->stats.tx_dropped, __ATOMIC_RELAXED);
	out->tx_errors = __atomic_load_n(&n->stats.tx_errors, __ATOMIC_RELAXED);
}
