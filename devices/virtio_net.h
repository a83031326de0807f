/*
 * devices/virtio_net.h - virtio-net (device id 1) on a Linux tap.
 *
 * Contract
 * - Owns: the device model state and its buffers. The tap fd belongs to the
 *   caller (devices/tap.h prepares it: IFF_VNET_HDR, 12-byte header,
 *   O_NONBLOCK) and must outlive the device; the device never closes it.
 * - Wiring: virtio_net_init fills n->ops; the owner passes &n->ops and @n as
 *   the opaque to the transport (virtio_pci_init), which copies them.
 *   virtio_net_destroy after the transport is destroyed (no worker runs).
 * - Queues: 0 receiveq, 1 transmitq (no control queue, no multiqueue).
 * - Features offered: VERSION_1 (core), MAC, STATUS (link always up),
 *   MRG_RXBUF, CSUM, HOST_TSO4/6, and GUEST_CSUM / GUEST_TSO4/6 only when
 *   the tap accepts the matching TUNSETOFFLOAD. At DRIVER_OK the tap's
 *   offloads follow the negotiated GUEST_* bits (a TSO bit counts only with
 *   GUEST_CSUM).
 * - Data path: only on the core's worker thread (never a vCPU). tx: each
 *   chain is [12-byte virtio_net_hdr][frame] in readable segments; the
 *   header is copied once, checked against the negotiated features and
 *   written to the tap with the frame (writev, no copy of the frame). rx: a
 *   frame is read from the tap into a bounce buffer, then copied into one
 *   chain (header + frame must fit) or, with MRG_RXBUF, as many chains as
 *   needed (num_buffers set in the first). With no buffer posted the frame
 *   waits and the tap is not read until the driver kicks the receiveq. One
 *   interrupt per batch.
 * - Guest errors: a frame bigger than its chain (no MRG_RXBUF), or than
 *   the whole receiveq, is dropped and counted; so is a tx header that uses
 *   an offload not negotiated, or a frame the tap refuses. A chain that
 *   breaks the protocol (tx: writable segment or fewer than 12 readable
 *   bytes; rx: readable segment or fewer than 12 writable bytes) sets
 *   NEEDS_RESET and the device stops using that queue until reset, like a
 *   malformed chain caught by virtq_pop.
 * - Errors: 0 or -errno (WUR). Counters are read with virtio_net_stats from
 *   any thread.
 */
#ifndef VMM_DEVICES_VIRTIO_NET_H
#define VMM_DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/virtio.h"

/* Feature bits (virtio 1.x, 5.1.3). */
#define VIRTIO_NET_F_CSUM               0
#define VIRTIO_NET_F_GUEST_CSUM         1
#define VIRTIO_NET_F_MAC                5
#define VIRTIO_NET_F_GUEST_TSO4         7
#define VIRTIO_NET_F_GUEST_TSO6         8
#define VIRTIO_NET_F_GUEST_ECN          9
#define VIRTIO_NET_F_GUEST_UFO          10
#define VIRTIO_NET_F_HOST_TSO4          11
#define VIRTIO_NET_F_HOST_TSO6          12
#define VIRTIO_NET_F_HOST_ECN           13
#define VIRTIO_NET_F_HOST_UFO           14
#define VIRTIO_NET_F_MRG_RXBUF          15
#define VIRTIO_NET_F_STATUS             16
#define VIRTIO_NET_F_CTRL_VQ            17

#define VIRTIO_NET_S_LINK_UP            1

/* struct virtio_net_hdr (12 bytes, little-endian, num_buffers included). */
#define VIRTIO_NET_HDR_LEN              12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM     1
#define VIRTIO_NET_HDR_F_DATA_VALID     2
#define VIRTIO_NET_HDR_GSO_NONE         0
#define VIRTIO_NET_HDR_GSO_TCPV4        1
#define VIRTIO_NET_HDR_GSO_UDP          3
#define VIRTIO_NET_HDR_GSO_TCPV6        4
#define VIRTIO_NET_HDR_GSO_ECN          0x80

/* Device config: mac[6], status, max_virtqueue_pairs (always 1), mtu (not offered). */
#define VIRTIO_NET_CFG_MAC              0
#define VIRTIO_NET_CFG_STATUS           6
#define VIRTIO_NET_CFG_MAX_PAIRS        8
#define VIRTIO_NET_CFG_MTU              10
#define VIRTIO_NET_CFG_SIZE             12

#define VIRTIO_NET_RXQ                  0
#define VIRTIO_NET_TXQ                  1
#define VIRTIO_NET_QUEUE_SIZE           256
/* Largest frame either way (64 KiB GSO frame + Ethernet/VLAN headers). */
#define VIRTIO_NET_MAX_FRAME            (65536 + 14 + 4)
#define VIRTIO_NET_MIN_FRAME            14      /* an Ethernet header */

struct virtio_net_cfg {
	int tap_fd;             /* ready tap (devices/tap.h), caller owned */
	bool has_mac;           /* false: a random locally administered unicast MAC */
	uint8_t mac[6];
};

/* Counters; dropped = lost by a guest or size error, errors = the tap failed. */
struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, rx_dropped, rx_errors;
	uint64_t tx_frames, tx_bytes, tx_dropped, tx_errors;
};

struct virtio_net {
	struct virtio_dev_ops ops;      /* for the transport */
	int tap_fd;
	uint8_t mac[6];
	unsigned tap_offload_ok;        /* TAP_OFFLOAD_* the tap accepted at init */

	/* worker-owned after DRIVER_OK, cleared by reset */
	struct virtio_dev *vdev;        /* set at activate */
	uint64_t features;              /* negotiated, copied at activate */
	bool mrg_rxbuf;
	bool rx_broken, tx_broken;
	bool rx_paused;                 /* tap not read until a receiveq kick */
	bool rx_stopped;                /* tap read failed for good: stop reading */
	bool tx_blocked;                /* tap full: wait for EPOLLOUT */
	bool watching;
	uint32_t tap_events;            /* events currently watched on the tap */
	uint8_t *rxbuf;                 /* bounce buffer: header + one frame */
	size_t rx_pending;              /* bytes of a frame waiting for buffers, 0: none */
	struct virtq_elem *elem, *elem2;/* heap: about 16 KiB each */
	uint16_t *rx_heads;             /* chains used by one merged frame */
	uint32_t *rx_lens;
	struct iovec *tx_iov;           /* header copy + the frame's segments */

	struct virtio_net_stats stats;  /* atomics */
	bool ready;
};

/*
 * Probe the tap's offloads, choose the MAC, build n->ops, allocate
 * buffers. -EINVAL bad fd, -ENOMEM.
 */
int virtio_net_init(struct virtio_net *n, const struct virtio_net_cfg *cfg) WUR;
/* Free the buffers; the transport (and so the worker) must be gone. Safe on a zeroed n, twice. */
void virtio_net_destroy(struct virtio_net *n);

/* Snapshot of the counters (any thread). */
void virtio_net_stats(const struct virtio_net *n, struct virtio_net_stats *out);

#endif
