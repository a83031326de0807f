/*
 * devices/virtio_rng.c - virtio entropy device. See devices/virtio_rng.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "devices/virtio_rng.h"

/* Fill @len bytes; returns how many were filled (short only on a getrandom error). */
static size_t virtio_rng_fill(uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = getrandom(p + done, len - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_warn("virtio-rng: getrandom: %s", strerror(errno));
			break;
		}
		done += (size_t)r;
	}
	return done;
}

static void virtio_rng_kick(struct virtio_dev *vdev, struct virtq *vq)
{
	struct virtio_rng *rng = vdev->opaque;
	struct virtq_elem *e = rng->elem;
	bool pushed = false;

	while (virtq_pop(vq, e) == 0) {
		size_t left = VIRTIO_RNG_MAX_REQ, written = 0;
		unsigned i;

		for (i = e->nr_read; i < e->nr_read + e->nr_write && left; i++) {
			size_t want = e->iov[i].iov_len < left ? e->iov[i].iov_len : left;
			size_t got = virtio_rng_fill(e->iov[i].iov_base, want);

			written += got;
			left -= got;
			if (got < want)
				break;
		}
		virtq_push(vq, e->head, (uint32_t)written);
		/* Statistics read from other threads. */
		__atomic_add_fetch(&rng->bytes, written, __ATOMIC_RELAXED);
		__atomic_add_fetch(&rng->requests, 1, __ATOMIC_RELAXED);
		pushed = true;
	}
	if (pushed)
		virtq_notify(vq);
}

static const struct virtio_dev_ops virtio_rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.pci_class = VIRTIO_RNG_PCI_CLASS,
	.features = 0,
	.config_size = 0,
	.num_queues = 1,
	.queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
	.queue_kick = virtio_rng_kick,
};

int virtio_rng_init(struct virtio_rng *rng)
{
	if (!rng)
		return -EINVAL;
	memset(rng, 0, sizeof(*rng));
	rng->elem = malloc(sizeof(*rng->elem));
	if (!rng->elem)
		return -ENOMEM;
	rng->ops = virtio_rng_ops;
	return 0;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	free(rng->elem);
	rng->elem = NULL;
}
