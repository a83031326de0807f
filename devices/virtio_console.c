/*
 * devices/virtio_console.c - virtio console, one port. See
 * devices/virtio_console.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "common/log.h"
#include "devices/virtio_console.h"

static void virtio_console_pause_input(struct virtio_dev *vdev, struct virtio_console *con)
{
	int ret = virtio_worker_modify(vdev, con->in_fd, 0);

	if (ret)
		log_warn("virtio-console: cannot pause input: %s", strerror(-ret));
	con->in_paused = true;
}

/* in_fd is readable: one read into one receive buffer. */
static void virtio_console_input(struct virtio_dev *vdev, void *arg, uint32_t events)
{
	struct virtio_console *con = arg;
	struct virtq *vq = virtio_queue(vdev, VIRTIO_CONSOLE_RXQ);
	struct virtq_elem *e = con->rx_elem;
	ssize_t n;
	int ret;

	(void)events;
	if (con->in_paused || con->in_eof)
		return;
	ret = virtq_pop(vq, e);
	if (ret) {
		/* No buffer (or a broken queue): wait for the guest's kick. */
		virtio_console_pause_input(vdev, con);
		return;
	}
	if (!e->nr_write) {
		virtq_push(vq, e->head, 0);
		virtq_notify(vq);
		return;
	}
	do {
		n = readv(con->in_fd, e->iov + e->nr_read, (int)e->nr_write);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		virtq_push(vq, e->head, (uint32_t)n);
		con->rx_bytes += (uint64_t)n;
		virtq_notify(vq);
		return;
	}
	virtq_unpop(vq, 1);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n < 0)
		log_warn("virtio-console: input: %s; input closed", strerror(errno));
	con->in_eof = true;
	virtio_console_pause_input(vdev, con);
}

static void virtio_console_rx_kick(struct virtio_dev *vdev, struct virtio_console *con)
{
	int ret;

	if (!con->in_paused || con->in_eof || con->in_fd < 0)
		return;
	ret = virtio_worker_modify(vdev, con->in_fd, EPOLLIN);
	if (ret) {
		log_warn("virtio-console: cannot resume input: %s", strerror(-ret));
		return;
	}
	con->in_paused = false;
}

static void virtio_console_tx_kick(struct virtio_dev *vdev, struct virtio_console *con,
				   struct virtq *vq)
{
	struct virtq_elem *e = con->tx_elem;
	bool pushed = false;

	(void)vdev;
	while (virtq_pop(vq, e) == 0) {
		unsigned i;

		for (i = 0; i < e->nr_read; i++)
			con->tx_bytes += fdout_write(&con->out, e->iov[i].iov_base,
						     e->iov[i].iov_len);
		virtq_push(vq, e->head, 0);
		pushed = true;
	}
	if (pushed)
		virtq_notify(vq);
}

static void virtio_console_kick(struct virtio_dev *vdev, struct virtq *vq)
{
	struct virtio_console *con = vdev->opaque;

	if (vq->index == VIRTIO_CONSOLE_RXQ)
		virtio_console_rx_kick(vdev, con);
	else
		virtio_console_tx_kick(vdev, con, vq);
}

static int virtio_console_activate(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->opaque;

	con->in_paused = false;
	if (con->in_fd < 0 || con->in_eof)
		return 0;
	return virtio_worker_watch(vdev, con->in_fd, EPOLLIN, virtio_console_input, con);
}

static void virtio_console_reset(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->opaque;

	/* The core dropped the watch; the next activate adds it again. */
	con->in_paused = false;
}

static void virtio_console_config_read(struct virtio_dev *vdev, unsigned off, void *buf,
				       unsigned len)
{
	struct virtio_console *con = vdev->opaque;

	memcpy(buf, con->config + off, len);
}

int virtio_console_init(struct virtio_console *con, int in_fd, int out_fd, uint16_t cols,
			uint16_t rows)
{
	if (!con)
		return -EINVAL;
	memset(con, 0, sizeof(*con));
	con->in_fd = in_fd < 0 ? -1 : in_fd;
	fdout_init(&con->out, out_fd);
	con->rx_elem = malloc(sizeof(*con->rx_elem));
	con->tx_elem = malloc(sizeof(*con->tx_elem));
	if (!con->rx_elem || !con->tx_elem) {
		virtio_console_destroy(con);
		return -ENOMEM;
	}
	con->ops.device_id = VIRTIO_ID_CONSOLE;
	con->ops.pci_class = VIRTIO_CONSOLE_PCI_CLASS;
	con->ops.config_size = VIRTIO_CONSOLE_CONFIG_SIZE;
	con->ops.num_queues = 2;
	con->ops.queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE;
	con->ops.config_read = virtio_console_config_read;
	con->ops.activate = virtio_console_activate;
	con->ops.queue_kick = virtio_console_kick;
	con->ops.reset = virtio_console_reset;
	if (cols && rows) {
		con->ops.features |= VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE);
		con->config[0] = (uint8_t)cols;
		con->config[1] = (uint8_t)(cols >> 8);
		con->config[2] = (uint8_t)rows;
		con->config[3] = (uint8_t)(rows >> 8);
	}
	con->config[4] = 1;     /* max_nr_ports, meaningful with MULTIPORT only */
	return 0;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (!con)
		return;
	free(con->rx_elem);
	free(con->tx_elem);
	con->rx_elem = con->tx_elem = NULL;
}
