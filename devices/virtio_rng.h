/*
 * devices/virtio_rng.h - virtio entropy device (virtio id 4): one request
 * queue whose writable buffers are filled from getrandom(2).
 *
 * Contract
 * - Transport-agnostic: init fills rng->ops; the owner (vmm/) builds the
 *   transport with virtio_pci_init(&vp, &rng->ops, rng, mem) and destroys
 *   the transport before the device.
 * - Runs only on the core's worker thread (queue_kick): each buffer gets
 *   at most VIRTIO_RNG_MAX_REQ bytes (a guest posting a huge buffer cannot
 *   stall the worker); the used length is what was filled.
 * - A malformed chain takes the core's error path (NEEDS_RESET).
 */
#ifndef VMM_DEVICES_VIRTIO_RNG_H
#define VMM_DEVICES_VIRTIO_RNG_H

#include <stdint.h>

#include "common/compiler.h"
#include "devices/virtio.h"

#define VIRTIO_RNG_QUEUE_SIZE   64
#define VIRTIO_RNG_MAX_REQ      (64 * 1024)
#define VIRTIO_RNG_PCI_CLASS    0xFF0000        /* "other" (as QEMU) */

struct virtio_rng {
	struct virtio_dev_ops ops;
	struct virtq_elem *elem;        /* worker's scratch element */
	uint64_t bytes;                 /* entropy handed out, for tests/stats */
	uint64_t requests;
};

int virtio_rng_init(struct virtio_rng *rng) WUR;
/* Safe on a zeroed or half-built object, and twice. */
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
