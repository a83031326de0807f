/*
 * bench/bench_blk.c - what virtio-blk costs: 4 KiB random reads at queue
 * depth 32 through the whole engine (virtio-pci transport, virtio core,
 * virtio_blk on io_uring), against an image file given on the command line.
 *
 * The "guest" is this program's main thread: guest RAM from the memory
 * engine, the device brought up through config space and BAR accesses, then
 * a driver loop that keeps QD requests posted. Each round it waits for the
 * queue's MSI-X message (the msi send hook writes an eventfd, standing in
 * for an irqfd), harvests every used entry, reposts as many requests with
 * new random sectors and kicks ONCE by writing the queue's kick eventfd
 * (what KVM does for an ioeventfd), so several requests go per notify.
 *
 * Reported: requests/s, VMM CPU per request (process CPU time minus the
 * driver thread's own: the device worker plus any io_uring workers),
 * driver CPU per request, requests per kick and per interrupt.
 *
 * Usage: bench_blk IMAGE [seconds] [queue-depth]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "devices/pci.h"
#include "devices/virtio.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_pci.h"
#include "memory/memory.h"

#define RAM_SIZE        (64 * MiB)
#define BAR_GPA         0x8000000000ULL
#define DEVFN           PCI_DEVFN(3, 0)
#define QSIZE           256
#define DESC_GPA        0x1000ULL
#define AVAIL_GPA       0x2000ULL
#define USED_GPA        0x3000ULL
#define HDR_GPA         0x10000ULL      /* 16 bytes per slot */
#define STATUS_GPA      0x20000ULL      /* 1 byte per slot */
#define DATA_GPA        0x100000ULL     /* 4 KiB per slot */
#define BS              4096
#define MAX_QD          (QSIZE / 3)

struct bench {
	struct mem_space s;
	struct mem_backend *ram;
	struct mem_region rr;
	struct pci_bus bus;
	struct virtio_pci vp;
	struct virtio_blk blk;
	int irq_fd;                     /* the queue's MSI-X vector lands here */
	uint64_t irqs;
	uint8_t *host;                  /* guest RAM */
	uint16_t avail_idx, published, last_used;
	uint64_t blocks;
	uint64_t rng;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_blk: %s: %s\n", what, err ? strerror(err < 0 ? -err : err) : "");
	exit(1);
}

static void msi_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct bench *b = opaque;
	uint64_t one = 1;

	(void)addr;
	if (data == 1) {
		__atomic_add_fetch(&b->irqs, 1, __ATOMIC_RELAXED);
		if (write(b->irq_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			die("irq eventfd write", errno);
	}
}

static void bar_wr(struct bench *b, uint64_t off, unsigned size, uint64_t v)
{
	(void)mem_dispatch(&b->s, BAR_GPA + off, size, true, &v);
}

static uint64_t bar_rd(struct bench *b, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	(void)mem_dispatch(&b->s, BAR_GPA + off, size, false, &v);
	return v;
}

static void cfg_wr(struct bench *b, unsigned reg, unsigned size, uint32_t v)
{
	int ret = pci_bus_config_write(&b->bus, DEVFN, reg, size, v);

	if (ret)
		die("config write", ret);
}

static void cm_wr(struct bench *b, unsigned off, unsigned size, uint64_t v)
{
	bar_wr(b, VIRTIO_PCI_COMMON_OFF + off, size, v);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static uint64_t next_rand(struct bench *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

static void setup(struct bench *b, const char *image)
{
	struct pci_msi_hooks h = { .send = msi_send };
	char err[256];
	unsigned v;
	int ret;

	ret = mem_space_init(&b->s, "sys");
	if (!ret)
		ret = mem_backend_create(&b->ram, "ram", RAM_SIZE);
	if (ret)
		die("guest RAM", ret);
	mem_region_init_ram(&b->rr, "ram", b->ram, 0, RAM_SIZE);
	ret = mem_region_add(&b->s.root, &b->rr, 0, 0);
	if (!ret)
		ret = pci_bus_init(&b->bus, &b->s, NULL);
	if (ret)
		die("bus", ret);
	b->host = b->ram->host;
	ret = virtio_blk_init(&b->blk, image, true, "bench", err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_blk: %s\n", err);
		exit(ret == -ENOSYS || ret == -EPERM ? 2 : 1);
	}
	b->blocks = b->blk.capacity / (BS / 512);
	ret = virtio_pci_init(&b->vp, &b->blk.ops, &b->blk, &b->s);
	if (ret)
		die("virtio_pci_init", ret);
	h.opaque = b;
	pci_dev_set_msi_hooks(&b->vp.pci, &h);
	ret = pci_bus_add(&b->bus, &b->vp.pci, DEVFN);
	if (ret)
		die("pci_bus_add", ret);
	cfg_wr(b, PCI_BAR0 + 16, 4, (uint32_t)BAR_GPA);
	cfg_wr(b, PCI_BAR0 + 20, 4, (uint32_t)(BAR_GPA >> 32));
	cfg_wr(b, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	/* MSI-X: capability found by walking the list, two vectors (config, queue). */
	{
		uint32_t cap = 0, n = 0;

		ret = pci_bus_config_read(&b->bus, DEVFN, PCI_CAPABILITY_LIST, 1, &cap);
		while (!ret && cap && n++ < 48) {
			uint32_t id = 0;

			ret = pci_bus_config_read(&b->bus, DEVFN, cap, 1, &id);
			if (id == PCI_CAP_ID_MSIX)
				break;
			ret = pci_bus_config_read(&b->bus, DEVFN, cap + 1, 1, &cap);
		}
		if (ret || !cap)
			die("no MSI-X capability", ret);
		cfg_wr(b, cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	}
	for (v = 0; v < 2; v++) {
		uint64_t e = VIRTIO_PCI_MSIX_TABLE_OFF + 16ULL * v;

		bar_wr(b, e + PCI_MSIX_ENTRY_ADDR_LO, 4, 0xFEE00000);
		bar_wr(b, e + PCI_MSIX_ENTRY_ADDR_HI, 4, 0);
		bar_wr(b, e + PCI_MSIX_ENTRY_DATA, 4, v);
		bar_wr(b, e + PCI_MSIX_ENTRY_CTRL, 4, 0);
	}

	cm_wr(b, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	cm_wr(b, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	cm_wr(b, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cm_wr(b, VIRTIO_PCI_COMMON_GF, 4, VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
	      VIRTIO_BIT(VIRTIO_BLK_F_RO));
	cm_wr(b, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cm_wr(b, VIRTIO_PCI_COMMON_GF, 4, 1);   /* VERSION_1 */
	cm_wr(b, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK);
	if (!(bar_rd(b, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, 1) &
	      VIRTIO_STATUS_FEATURES_OK))
		die("FEATURES_OK refused", 0);
	cm_wr(b, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	cm_wr(b, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cm_wr(b, VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
	cm_wr(b, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	cm_wr(b, VIRTIO_PCI_COMMON_Q_DESCLO, 8, DESC_GPA);
	cm_wr(b, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, AVAIL_GPA);
	cm_wr(b, VIRTIO_PCI_COMMON_Q_USEDLO, 8, USED_GPA);
	cm_wr(b, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	cm_wr(b, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	if ((bar_rd(b, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, 1) &
	     (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) != VIRTIO_STATUS_DRIVER_OK)
		die("device did not start", 0);
}

/* Slot @i: descriptors 3i (header), 3i+1 (4 KiB data), 3i+2 (status); set once. */
static void build_slot(struct bench *b, unsigned i)
{
	struct virtq_desc d[3] = {
		{ HDR_GPA + 16ULL * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 1) },
		{ DATA_GPA + (uint64_t)BS * i, BS, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		  (uint16_t)(3 * i + 2) },
		{ STATUS_GPA + i, 1, VIRTQ_DESC_F_WRITE, 0 },
	};
	uint32_t type = VIRTIO_BLK_T_IN;

	memcpy(b->host + DESC_GPA + 16ULL * 3 * i, d, sizeof(d));
	memcpy(b->host + HDR_GPA + 16ULL * i, &type, 4);
	memset(b->host + HDR_GPA + 16ULL * i + 4, 0, 12);
}

/* New random sector into slot @i's header, head into the avail ring (not published). */
static void post_slot(struct bench *b, unsigned i)
{
	uint64_t sector = (next_rand(b) % b->blocks) * (BS / 512);
	uint16_t head = (uint16_t)(3 * i);

	memcpy(b->host + HDR_GPA + 16ULL * i + 8, &sector, 8);
	b->host[STATUS_GPA + i] = 0xFF;
	memcpy(b->host + AVAIL_GPA + 4 + 2ULL * (b->avail_idx % QSIZE), &head, 2);
	b->avail_idx++;
}

static void publish_and_kick(struct bench *b, int kick_fd)
{
	uint64_t one = 1;

	__atomic_store_n((uint16_t *)(b->host + AVAIL_GPA + 2), b->avail_idx, __ATOMIC_RELEASE);
	b->published = b->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		die("kick", errno);
}

int main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct virtio_blk_stats st0, st1;
	double secs = argc > 2 ? atof(argv[2]) : 5.0;
	unsigned qd = argc > 3 ? (unsigned)atoi(argv[3]) : 32, i;
	uint64_t done = 0, errors = 0, kicks = 0, irqs0;
	double t0, t1, cpu0, cpu1, drv0, drv1;
	int kick_fd;

	if (!b)
		die("calloc", ENOMEM);
	if (argc < 2) {
		fprintf(stderr, "usage: bench_blk IMAGE [seconds] [queue-depth]\n");
		return 1;
	}
	if (qd < 1 || qd > MAX_QD || secs <= 0)
		die("bad seconds or queue depth", EINVAL);
	b->irq_fd = eventfd(0, EFD_CLOEXEC);
	if (b->irq_fd < 0)
		die("eventfd", errno);
	b->rng = 0x9E3779B97F4A7C15ULL;
	setup(b, argv[1]);
	kick_fd = virtq_kick_fd(virtio_queue(&b->vp.vdev, 0));

	for (i = 0; i < qd; i++)
		build_slot(b, i);
	virtio_blk_get_stats(&b->blk, &st0);
	irqs0 = __atomic_load_n(&b->irqs, __ATOMIC_RELAXED);
	t0 = now_s();
	cpu0 = process_cpu_s();
	drv0 = thread_cpu_s();
	for (i = 0; i < qd; i++)
		post_slot(b, i);
	publish_and_kick(b, kick_fd);
	kicks++;
	for (;;) {
		uint16_t used;
		uint64_t v;
		unsigned n = 0;

		used = __atomic_load_n((uint16_t *)(b->host + USED_GPA + 2), __ATOMIC_ACQUIRE);
		if (used == b->last_used) {
			if (read(b->irq_fd, &v, sizeof(v)) < 0)
				die("irq eventfd read", errno);
			continue;
		}
		while (b->last_used != used) {
			uint32_t id;

			memcpy(&id, b->host + USED_GPA + 4 + 8ULL * (b->last_used % QSIZE), 4);
			b->last_used++;
			if (id % 3 || id / 3 >= qd)
				die("bad used id", EIO);
			if (b->host[STATUS_GPA + id / 3] != VIRTIO_BLK_S_OK)
				errors++;
			done++;
			post_slot(b, id / 3);
			n++;
		}
		if (now_s() - t0 >= secs)
			break;
		publish_and_kick(b, kick_fd);
		kicks++;
	}
	t1 = now_s();
	drv1 = thread_cpu_s();
	/* Let the published requests finish before reading the process's CPU time. */
	while (__atomic_load_n((uint16_t *)(b->host + USED_GPA + 2), __ATOMIC_ACQUIRE) !=
	       b->published) {
		uint64_t v;

		if (read(b->irq_fd, &v, sizeof(v)) < 0)
			break;
	}
	cpu1 = process_cpu_s();
	virtio_blk_get_stats(&b->blk, &st1);

	{
		double el = t1 - t0, vmm = (cpu1 - cpu0) - (drv1 - drv0);
		uint64_t irqs = __atomic_load_n(&b->irqs, __ATOMIC_RELAXED) - irqs0;
		uint64_t reqs = st1.requests - st0.requests;

		printf("engine: %llu requests in %.2f s: %.0f req/s, QD %u, errors %llu\n",
		       (unsigned long long)done, el, done / el, qd, (unsigned long long)errors);
		printf("engine: VMM CPU %.2f us/request (worker + io_uring workers), "
		       "driver CPU %.2f us/request\n", vmm * 1e6 / reqs, (drv1 - drv0) * 1e6 / done);
		printf("engine: %.1f requests per kick, %.1f per interrupt, %.1f per io_uring_submit\n",
		       (double)done / kicks, irqs ? (double)reqs / irqs : 0.0,
		       st1.submits > st0.submits ? (double)(st1.sqes - st0.sqes) /
						   (st1.submits - st0.submits) : 0.0);
		printf("RESULT engine_iops=%.0f vmm_us_per_req=%.3f\n", done / el, vmm * 1e6 / reqs);
	}
	virtio_pci_destroy(&b->vp);
	virtio_blk_destroy(&b->blk);
	pci_bus_destroy(&b->bus);
	mem_space_destroy(&b->s);
	mem_backend_destroy(b->ram);
	close(b->irq_fd);
	free(b);
	return errors ? 1 : 0;
}
