/*
 * devices/virtio_console.h - virtio console (virtio id 3), a single port
 * (no MULTIPORT): queue 0 receiveq (host -> guest), queue 1 transmitq
 * (guest -> host), connected to an fd pair like the --serial backends.
 *
 * Contract
 * - Transport-agnostic: init fills con->ops; the owner (vmm/) builds the
 *   transport with virtio_pci_init(&vp, &con->ops, con, mem) and destroys
 *   the transport before the device. The fds stay the caller's (never
 *   closed, flags never changed); either may be -1 (no input / output
 *   discarded).
 * - Runs only on the core's worker thread. Input: while in_fd is readable
 *   and the guest posted receive buffers, one read(2) per readiness goes
 *   straight into the guest's writable segments (so a blocking in_fd never
 *   blocks the worker); with no buffer the worker stops watching in_fd until
 *   the guest kicks the receiveq; at EOF it stops for good. Output: every
 *   readable byte of a transmit chain goes to out_fd through devices/fdout
 *   (a stalled reader costs one bounded wait, then bytes are dropped).
 * - VIRTIO_CONSOLE_F_SIZE is offered when init gets cols and rows (> 0);
 *   the config space is {cols, rows, max_nr_ports, emerg_wr}, read-only.
 * - A malformed chain takes the core's error path (NEEDS_RESET).
 */
#ifndef VMM_DEVICES_VIRTIO_CONSOLE_H
#define VMM_DEVICES_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/fdout.h"
#include "devices/virtio.h"

#define VIRTIO_CONSOLE_F_SIZE           0
#define VIRTIO_CONSOLE_F_MULTIPORT      1
#define VIRTIO_CONSOLE_F_EMERG_WRITE    2

#define VIRTIO_CONSOLE_RXQ              0
#define VIRTIO_CONSOLE_TXQ              1
#define VIRTIO_CONSOLE_QUEUE_SIZE       128
#define VIRTIO_CONSOLE_CONFIG_SIZE      12
#define VIRTIO_CONSOLE_PCI_CLASS        0x078000        /* communication, other */

struct virtio_console {
	struct virtio_dev_ops ops;
	int in_fd;
	struct fdout out;
	uint8_t config[VIRTIO_CONSOLE_CONFIG_SIZE];
	struct virtq_elem *rx_elem, *tx_elem;   /* worker's scratch elements */
	bool in_paused;                 /* no receive buffer: waiting for a kick */
	bool in_eof;
	uint64_t rx_bytes, tx_bytes;    /* for tests/stats */
};

int virtio_console_init(struct virtio_console *con, int in_fd, int out_fd, uint16_t cols,
			uint16_t rows) WUR;
/* Safe on a zeroed or half-built object, and twice. */
void virtio_console_destroy(struct virtio_console *con);

#endif
