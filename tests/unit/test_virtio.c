/*
 * tests/unit/test_virtio.c - the virtio core, the modern PCI transport,
 * virtio-rng and virtio-console, driven by a test "guest": guest RAM from
 * the memory engine (two backends, so buffers can straddle two RAM ranges,
 * each with canary bytes around the part the guest sees), configuration
 * through pci_bus_config_*, BAR accesses through mem_dispatch, rings built
 * in guest RAM, kicks through the MMIO notify region, MSI-X observed
 * through the PCI msi send hook and INTx through the bus's irq line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "devices/pci.h"
#include "devices/virtio.h"
#include "devices/virtio_console.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_rng.h"
#include "memory/memory.h"
#include "tests/unit/unit.h"

#define GUARD           (64 * KiB)
#define RAM_A_GPA       0x0ULL
#define RAM_A_SIZE      (1 * MiB)
#define RAM_B_GPA       (1 * MiB)
#define RAM_B_SIZE      (1 * MiB)
#define MMIO_GPA        (2 * MiB)
#define MMIO_SIZE       (64 * KiB)
#define BAR_GPA         0x8000000000ULL
#define BAR_GPA2        0x9000000000ULL
#define DEVFN           PCI_DEVFN(4, 0)
#define CANARY          0xCC
#define MSI_ADDR        0xFEE00000ULL
#define MSI_DATA(v)     (0x4000u + (v))
#define WAIT_MS         5000

/* ---- a test device: records what virtq_pop returned ------------------------- */

#define TDEV_ID         42
#define TDEV_MAXQ       2048

struct tdev {
	struct virtio_dev_ops ops;
	struct virtq_elem *e;
	pthread_mutex_t lock;
	unsigned pops;                  /* successful pops */
	int last_ret;                   /* last non-ENOENT result */
	unsigned nr_read, nr_write;
	uint64_t read_len, write_len;
	struct iovec iov[4];
	unsigned activates, resets;
};

static void tdev_kick(struct virtio_dev *vdev, struct virtq *vq)
{
	struct tdev *t = vdev->opaque;
	bool pushed = false;
	int ret;

	while ((ret = virtq_pop(vq, t->e)) == 0) {
		unsigned i;

		pthread_mutex_lock(&t->lock);
		t->pops++;
		t->last_ret = 0;
		t->nr_read = t->e->nr_read;
		t->nr_write = t->e->nr_write;
		t->read_len = t->e->read_len;
		t->write_len = t->e->write_len;
		for (i = 0; i < 4 && i < t->e->nr_read + t->e->nr_write; i++)
			t->iov[i] = t->e->iov[i];
		pthread_mutex_unlock(&t->lock);
		/* Fill the writable side with a pattern, like a device would. */
		for (i = t->e->nr_read; i < t->e->nr_read + t->e->nr_write; i++)
			memset(t->e->iov[i].iov_base, 0x5A, t->e->iov[i].iov_len);
		virtq_push(vq, t->e->head, (uint32_t)t->e->write_len);
		pushed = true;
	}
	if (ret != -ENOENT) {
		pthread_mutex_lock(&t->lock);
		t->last_ret = ret;
		pthread_mutex_unlock(&t->lock);
	}
	if (pushed)
		virtq_notify(vq);
}

static int tdev_activate(struct virtio_dev *vdev)
{
	((struct tdev *)vdev->opaque)->activates++;
	return 0;
}

static void tdev_reset(struct virtio_dev *vdev)
{
	((struct tdev *)vdev->opaque)->resets++;
}

static void tdev_init(struct tdev *t, uint16_t qmax)
{
	memset(t, 0, sizeof(*t));
	t->e = malloc(sizeof(*t->e));
	ck_assert_ptr_nonnull(t->e);
	pthread_mutex_init(&t->lock, NULL);
	t->ops.device_id = TDEV_ID;
	t->ops.pci_class = 0xFF0000;
	t->ops.features = VIRTIO_BIT(3);
	t->ops.num_queues = 1;
	t->ops.queue_max_size = qmax;
	t->ops.queue_kick = tdev_kick;
	t->ops.activate = tdev_activate;
	t->ops.reset = tdev_reset;
}

static void tdev_fini(struct tdev *t)
{
	free(t->e);
	pthread_mutex_destroy(&t->lock);
}

/* ---- fixture ------------------------------------------------------------------ */

enum kind { K_RNG, K_CON, K_TDEV };

struct gq {
	uint16_t size;
	uint64_t desc, avail, used;
	uint8_t *d;                     /* host views of the guest's rings */
	uint16_t *a;
	uint8_t *u;
	uint16_t avail_idx, last_used;
	uint64_t notify;
};

struct notify_rec {
	unsigned on, off;
	uint64_t gpa[8];
	bool bound[8];
	int fd[8];
};

struct fx {
	enum kind kind;
	struct mem_space s;
	struct mem_backend *ba, *bb;
	struct mem_region ra, rb, mmio;
	struct pci_bus bus;
	struct virtio_pci vp;
	struct virtio_rng rng;
	struct virtio_console con;
	struct tdev td;
	int in_pipe[2], out_pipe[2];

	unsigned msi_count[16];         /* by vector, written by the worker */
	unsigned msi_bad;
	int intx_level;
	unsigned intx_calls;
	struct notify_rec nr;

	uint64_t bar;
	unsigned common, isr, devcfg, notify, notify_mult;
	unsigned msix_cap;
	uint64_t alloc;                 /* guest allocator (gpa) */
	struct gq q[2];
};

static int mmio_dummy_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	(void)opaque;
	(void)off;
	(void)size;
	*val = 0;
	return 0;
}

static int mmio_dummy_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	(void)opaque;
	(void)off;
	(void)size;
	(void)val;
	return 0;
}

static const struct access_ops mmio_dummy_ops = {
	.read = mmio_dummy_read, .write = mmio_dummy_write, .min_size = 1, .max_size = 8,
};

static void msi_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct fx *f = opaque;

	if (addr != MSI_ADDR || data < MSI_DATA(0) || data >= MSI_DATA(16)) {
		__atomic_add_fetch(&f->msi_bad, 1, __ATOMIC_SEQ_CST);
		return;
	}
	__atomic_add_fetch(&f->msi_count[data - MSI_DATA(0)], 1, __ATOMIC_SEQ_CST);
}

static void intx_set(void *opaque, unsigned gsi, int level)
{
	struct fx *f = opaque;

	ck_assert_uint_eq(gsi, pci_intx_gsi(PCI_SLOT(DEVFN), 0));
	__atomic_store_n(&f->intx_level, level, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&f->intx_calls, 1, __ATOMIC_SEQ_CST);
}

static void notify_cb(void *opaque, unsigned queue, uint64_t gpa, int kick_fd, bool on)
{
	struct notify_rec *r = opaque;

	ck_assert_uint_lt(queue, 8);
	if (on) {
		ck_assert(!r->bound[queue]);
		r->on++;
		r->gpa[queue] = gpa;
		r->fd[queue] = kick_fd;
	} else {
		ck_assert(r->bound[queue]);
		ck_assert_uint_eq(r->gpa[queue], gpa);
		r->off++;
	}
	r->bound[queue] = on;
}

static uint32_t cfg_rd(struct fx *f, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN, reg, size, &v), 0);
	return v;
}

static void cfg_wr(struct fx *f, unsigned reg, unsigned size, uint32_t v)
{
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN, reg, size, v), 0);
}

static uint64_t bar_rd(struct fx *f, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	(void)mem_dispatch(&f->s, f->bar + off, size, false, &v);
	return v;
}

static void bar_wr(struct fx *f, uint64_t off, unsigned size, uint64_t v)
{
	(void)mem_dispatch(&f->s, f->bar + off, size, true, &v);
}

static uint64_t cm_rd(struct fx *f, unsigned off, unsigned size)
{
	return bar_rd(f, f->common + off, size);
}

static void cm_wr(struct fx *f, unsigned off, unsigned size, uint64_t v)
{
	bar_wr(f, f->common + off, size, v);
}

static uint8_t status(struct fx *f)
{
	return (uint8_t)cm_rd(f, VIRTIO_PCI_COMMON_STATUS, 1);
}

/* Walk the capability list like a driver: find the virtio structures. */
static void find_caps(struct fx *f)
{
	unsigned at = cfg_rd(f, PCI_CAPABILITY_LIST, 1), n = 0;
	bool seen[6] = { false };

	ck_assert(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	while (at && n++ < 48) {
		unsigned id = cfg_rd(f, at, 1);

		if (id == PCI_CAP_ID_MSIX) {
			f->msix_cap = at;
		} else if (id == PCI_CAP_ID_VNDR) {
			unsigned type = cfg_rd(f, at + VIRTIO_PCI_CAP_CFG_TYPE, 1);
			unsigned off = cfg_rd(f, at + VIRTIO_PCI_CAP_OFFSET, 4);

			ck_assert_uint_eq(cfg_rd(f, at + VIRTIO_PCI_CAP_BAR, 1), 4);
			ck_assert_uint_le(type, 5);
			seen[type] = true;
			switch (type) {
			case VIRTIO_PCI_CAP_COMMON_CFG:
				f->common = off;
				ck_assert_uint_ge(cfg_rd(f, at + VIRTIO_PCI_CAP_LENGTH, 4), 0x38);
				break;
			case VIRTIO_PCI_CAP_ISR_CFG:
				f->isr = off;
				break;
			case VIRTIO_PCI_CAP_DEVICE_CFG:
				f->devcfg = off;
				break;
			case VIRTIO_PCI_CAP_NOTIFY_CFG:
				ck_assert_uint_eq(cfg_rd(f, at + VIRTIO_PCI_CAP_LEN, 1), 20);
				f->notify = off;
				f->notify_mult = cfg_rd(f, at + VIRTIO_PCI_CAP_NOTIFY_MULT, 4);
				break;
			}
		}
		at = cfg_rd(f, at + 1, 1);
	}
	ck_assert(seen[VIRTIO_PCI_CAP_COMMON_CFG] && seen[VIRTIO_PCI_CAP_ISR_CFG] &&
		  seen[VIRTIO_PCI_CAP_NOTIFY_CFG]);
	ck_assert_uint_ne(f->msix_cap, 0);
	ck_assert_uint_eq(f->notify_mult, 4);
}

static void map_bar(struct fx *f, uint64_t gpa)
{
	cfg_wr(f, PCI_BAR0 + 4 * 4, 4, (uint32_t)gpa);
	cfg_wr(f, PCI_BAR0 + 5 * 4, 4, (uint32_t)(gpa >> 32));
	f->bar = gpa;
}

static struct fx *fx_new(enum kind kind)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct irq_line line = { .set_level = intx_set };
	struct pci_msi_hooks h = { .send = msi_send };
	const struct virtio_dev_ops *ops = NULL;
	void *dev = NULL;

	ck_assert_ptr_nonnull(f);
	f->kind = kind;
	f->in_pipe[0] = f->in_pipe[1] = f->out_pipe[0] = f->out_pipe[1] = -1;
	ck_assert_int_eq(mem_space_init(&f->s, "sys"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ba, "ram-a", RAM_A_SIZE + 2 * GUARD), 0);
	ck_assert_int_eq(mem_backend_create(&f->bb, "ram-b", RAM_B_SIZE + 2 * GUARD), 0);
	memset(f->ba->host, CANARY, GUARD);
	memset(f->ba->host + GUARD + RAM_A_SIZE, CANARY, GUARD);
	memset(f->bb->host, CANARY, GUARD);
	memset(f->bb->host + GUARD + RAM_B_SIZE, CANARY, GUARD);
	mem_region_init_ram(&f->ra, "ram-a", f->ba, GUARD, RAM_A_SIZE);
	mem_region_init_ram(&f->rb, "ram-b", f->bb, GUARD, RAM_B_SIZE);
	mem_region_init_mmio(&f->mmio, "dummy", MMIO_SIZE, &mmio_dummy_ops, f);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->ra, RAM_A_GPA, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->rb, RAM_B_GPA, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->mmio, MMIO_GPA, 0), 0);

	ck_assert_int_eq(pci_bus_init(&f->bus, &f->s, NULL), 0);
	line.opaque = f;
	pci_bus_set_intx(&f->bus, &line);

	switch (kind) {
	case K_RNG:
		ck_assert_int_eq(virtio_rng_init(&f->rng), 0);
		ops = &f->rng.ops;
		dev = &f->rng;
		break;
	case K_CON:
		ck_assert_int_eq(pipe2(f->in_pipe, O_CLOEXEC | O_NONBLOCK), 0);
		ck_assert_int_eq(pipe2(f->out_pipe, O_CLOEXEC | O_NONBLOCK), 0);
		ck_assert_int_eq(virtio_console_init(&f->con, f->in_pipe[0], f->out_pipe[1], 80, 25),
				 0);
		ops = &f->con.ops;
		dev = &f->con;
		break;
	case K_TDEV:
		tdev_init(&f->td, TDEV_MAXQ);
		ops = &f->td.ops;
		dev = &f->td;
		break;
	}
	ck_assert_int_eq(virtio_pci_init(&f->vp, ops, dev, &f->s), 0);
	h.opaque = f;
	pci_dev_set_msi_hooks(&f->vp.pci, &h);
	virtio_pci_set_notify_cb(&f->vp, notify_cb, &f->nr);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->vp.pci, DEVFN), 0);

	find_caps(f);
	map_bar(f, BAR_GPA);
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	f->alloc = RAM_A_GPA + 0x1000;
	return f;
}

static bool canary_intact(const uint8_t *p)
{
	uint64_t i;

	for (i = 0; i < GUARD; i++)
		if (p[i] != CANARY)
			return false;
	return true;
}

static void check_canaries(struct fx *f)
{
	ck_assert(canary_intact(f->ba->host));
	ck_assert(canary_intact(f->ba->host + GUARD + RAM_A_SIZE));
	ck_assert(canary_intact(f->bb->host));
	ck_assert(canary_intact(f->bb->host + GUARD + RAM_B_SIZE));
}

static void fx_free(struct fx *f)
{
	unsigned q;

	virtio_pci_destroy(&f->vp);
	virtio_pci_destroy(&f->vp); /* twice is safe */
	for (q = 0; q < 8; q++)
		ck_assert(!f->nr.bound[q]);
	ck_assert_uint_eq(f->nr.on, f->nr.off);
	switch (f->kind) {
	case K_RNG:
		virtio_rng_destroy(&f->rng);
		break;
	case K_CON:
		virtio_console_destroy(&f->con);
		break;
	case K_TDEV:
		tdev_fini(&f->td);
		break;
	}
	for (q = 0; q < 2; q++) {
		if (f->in_pipe[q] >= 0)
			close(f->in_pipe[q]);
		if (f->out_pipe[q] >= 0)
			close(f->out_pipe[q]);
	}
	pci_bus_destroy(&f->bus);
	check_canaries(f);
	ck_assert_uint_eq(f->msi_bad, 0);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ba);
	mem_backend_destroy(f->bb);
	free(f);
}

static uint64_t galloc(struct fx *f, uint64_t len, uint64_t align)
{
	uint64_t a = align_up(f->alloc, align);

	ck_assert(a + len <= RAM_A_GPA + RAM_A_SIZE);
	f->alloc = a + len;
	return a;
}

static void *hva(struct fx *f, uint64_t gpa, uint64_t len)
{
	void *p = mem_hva(&f->s, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* ---- the test guest's driver ------------------------------------------------------- */

static void msix_on(struct fx *f, unsigned nvec)
{
	unsigned v, tbl = cfg_rd(f, f->msix_cap + PCI_MSIX_TABLE, 4);

	ck_assert_uint_eq(tbl & 7, 4);
	ck_assert_uint_eq((cfg_rd(f, f->msix_cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1,
			  nvec);
	cfg_wr(f, f->msix_cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	for (v = 0; v < nvec; v++) {
		uint64_t e = (tbl & ~7u) + 16ULL * v;

		bar_wr(f, e + PCI_MSIX_ENTRY_ADDR_LO, 4, MSI_ADDR);
		bar_wr(f, e + PCI_MSIX_ENTRY_ADDR_HI, 4, 0);
		bar_wr(f, e + PCI_MSIX_ENTRY_DATA, 4, MSI_DATA(v));
		bar_wr(f, e + PCI_MSIX_ENTRY_CTRL, 4, 0);
	}
}

/* Reset, acknowledge, offer @feat; returns the status read back after FEATURES_OK. */
static uint8_t drv_negotiate(struct fx *f, uint64_t feat)
{
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(status(f), 0);
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	cm_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cm_wr(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)feat);
	cm_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cm_wr(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(feat >> 32));
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						       VIRTIO_STATUS_FEATURES_OK);
	return status(f);
}

/* Program queue @q (size @size) with rings in fresh guest RAM; 0 when enabled. */
static int drv_queue(struct fx *f, unsigned q, uint16_t size, uint16_t vector)
{
	struct gq *g = &f->q[q];

	memset(g, 0, sizeof(*g));
	g->size = size;
	g->desc = galloc(f, 16ULL * size, 16);
	g->avail = galloc(f, 6ULL + 2ULL * size, 2);
	g->used = galloc(f, 6ULL + 8ULL * size, 4);
	g->d = hva(f, g->desc, 16ULL * size);
	g->a = hva(f, g->avail, 6ULL + 2ULL * size);
	g->u = hva(f, g->used, 6ULL + 8ULL * size);
	memset(g->d, 0, 16ULL * size);
	memset(g->a, 0, 6ULL + 2ULL * size);
	memset(g->u, 0, 6ULL + 8ULL * size);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, vector);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)g->desc);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(g->desc >> 32));
	cm_wr(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, g->avail);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)g->used);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(g->used >> 32));
	cm_wr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	g->notify = f->notify + cm_rd(f, VIRTIO_PCI_COMMON_Q_NOFF, 2) * f->notify_mult;
	return cm_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1 ? 0 : -1;
}

static void drv_ok(struct fx *f)
{
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						       VIRTIO_STATUS_FEATURES_OK |
						       VIRTIO_STATUS_DRIVER_OK);
	ck_assert(status(f) & VIRTIO_STATUS_DRIVER_OK);
}

/* Full bring-up with MSI-X: config vector 0, queue q vector q + 1. */
static void drv_up(struct fx *f, uint64_t feat, unsigned nq, uint16_t size)
{
	unsigned q;

	msix_on(f, nq + 1);
	ck_assert(drv_negotiate(f, feat) & VIRTIO_STATUS_FEATURES_OK);
	cm_wr(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	for (q = 0; q < nq; q++)
		ck_assert_int_eq(drv_queue(f, q, size, (uint16_t)(q + 1)), 0);
	drv_ok(f);
}

static void set_desc(struct gq *g, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	ck_assert_uint_lt(i, g->size);
	memcpy(g->d + 16 * i, &d, sizeof(d));
}

/* Make @head available and kick through the notify region. */
static void post(struct fx *f, unsigned q, uint16_t head)
{
	struct gq *g = &f->q[q];

	g->a[2 + g->avail_idx % g->size] = head;
	g->avail_idx++;
	__atomic_store_n(&g->a[1], g->avail_idx, __ATOMIC_RELEASE);
	bar_wr(f, g->notify, 2, q);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
	return __atomic_load_n((uint16_t *)(f->q[q].u + 2), __ATOMIC_ACQUIRE);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait (bounded) until @n more used entries appeared; false on timeout. */
static bool wait_used(struct fx *f, unsigned q, uint16_t n)
{
	uint64_t end = now_ms() + WAIT_MS;
	uint16_t want = (uint16_t)(f->q[q].last_used + n);

	while ((uint16_t)(used_idx(f, q) - want) > 0x7FFF) {
		if (now_ms() > end)
			return false;
		usleep(200);
	}
	f->q[q].last_used = want;
	return true;
}

static void used_elem(struct fx *f, unsigned q, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint32_t e[2];

	memcpy(e, f->q[q].u + 4 + 8 * (i % f->q[q].size), sizeof(e));
	*id = e[0];
	*len = e[1];
}

static bool wait_status(struct fx *f, uint8_t bit)
{
	uint64_t end = now_ms() + WAIT_MS;

	while (!(status(f) & bit)) {
		if (now_ms() > end)
			return false;
		usleep(200);
	}
	return true;
}

static bool wait_msi(struct fx *f, unsigned v, unsigned n)
{
	uint64_t end = now_ms() + WAIT_MS;

	while (__atomic_load_n(&f->msi_count[v], __ATOMIC_SEQ_CST) < n) {
		if (now_ms() > end)
			return false;
		usleep(200);
	}
	return true;
}

static unsigned msi(struct fx *f, unsigned v)
{
	return __atomic_load_n(&f->msi_count[v], __ATOMIC_SEQ_CST);
}

static uint64_t base_feat(void)
{
	return VIRTIO_BIT(VIRTIO_F_VERSION_1);
}

/* ---- identity and registers ------------------------------------------------------ */

START_TEST(test_identity)
{
	struct fx *f = fx_new(K_RNG);

	ck_assert_uint_eq(cfg_rd(f, PCI_VENDOR_ID, 2), 0x1AF4);
	ck_assert_uint_eq(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	ck_assert_uint_eq(cfg_rd(f, PCI_REVISION_ID, 1), 1);
	ck_assert_uint_eq(cfg_rd(f, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1AF4);
	ck_assert_uint_ge(cfg_rd(f, PCI_SUBSYSTEM_ID, 2), 0x40);
	ck_assert_uint_eq(cfg_rd(f, PCI_REVISION_ID, 4) >> 8, VIRTIO_RNG_PCI_CLASS);
	ck_assert_uint_eq(cfg_rd(f, PCI_INTERRUPT_PIN, 1), 1);
	/* BAR 4: 64-bit prefetchable memory, sized by the all-ones pattern. */
	ck_assert_uint_eq(cfg_rd(f, PCI_BAR0 + 16, 4) & 0xF, PCI_BAR_MEM_TYPE_64 | PCI_BAR_MEM_PREFETCH);
	ck_assert_uint_eq(f->common, VIRTIO_PCI_COMMON_OFF);
	ck_assert_uint_eq(f->isr, VIRTIO_PCI_ISR_OFF);
	ck_assert_uint_eq(f->devcfg, 0); /* rng: no device cfg */
	ck_assert_uint_eq(f->notify, VIRTIO_PCI_NOTIFY_OFF);
	/* Device features: VERSION_1 offered in the high word. */
	cm_wr(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	ck_assert(cm_rd(f, VIRTIO_PCI_COMMON_DF, 4) & 1);
	cm_wr(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	ck_assert(cm_rd(f, VIRTIO_PCI_COMMON_DF, 4) & (1u << VIRTIO_F_INDIRECT_DESC));
	cm_wr(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 7);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_DF, 4), 0);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	fx_free(f);
}
END_TEST

START_TEST(test_common_widths)
{
	struct fx *f = fx_new(K_TDEV);

	/* Wrong widths: reads all-ones, writes dropped. */
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_NUMQ, 4), 0xFFFFFFFF);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_STATUS, 2), 0xFFFF);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_DF, 2), 0xFFFF);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_DF, 8), ~0ULL);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_DESCHI, 8), ~0ULL); /* misaligned 8 */
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_SIZE + 1, 1), 0xFF);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 4, 16);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), TDEV_MAXQ);
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 4, VIRTIO_STATUS_ACKNOWLEDGE);
	ck_assert_uint_eq(status(f), 0);
	/* 64-bit address as two halves and as one access. */
	cm_wr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x11223340);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0x55667788);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x5566778811223340ULL);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4), 0x55667788);
	/* Vectors: in range kept, out of range reads NO_VECTOR. */
	cm_wr(f, VIRTIO_PCI_COMMON_MSIX, 2, 1);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_MSIX, 2), 1);
	cm_wr(f, VIRTIO_PCI_COMMON_MSIX, 2, 2);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_NO_VECTOR);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 0x1234);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_NO_VECTOR);
	/* A queue that does not exist reads size 0 and ignores writes. */
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 5);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	/* Read-only fields ignore writes. */
	cm_wr(f, VIRTIO_PCI_COMMON_NUMQ, 2, 9);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	/* ISR takes byte reads only; notify of a missing queue is ignored. */
	ck_assert_uint_eq(bar_rd(f, f->isr, 4), 0xFFFFFFFF);
	bar_wr(f, f->notify + 4 * 40, 2, 40);
	bar_wr(f, f->notify + 1, 1, 0);
	/* Holes read 0, accesses past the BAR are unassigned. */
	ck_assert_uint_eq(bar_rd(f, 0x7000, 4), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_feature_negotiation)
{
	struct fx *f = fx_new(K_TDEV);

	/* No VERSION_1: FEATURES_OK refused (the driver sees it cleared). */
	ck_assert(!(drv_negotiate(f, VIRTIO_BIT(3)) & VIRTIO_STATUS_FEATURES_OK));
	/* A feature the device did not offer. */
	ck_assert(!(drv_negotiate(f, base_feat() | VIRTIO_BIT(5)) & VIRTIO_STATUS_FEATURES_OK));
	ck_assert(!(drv_negotiate(f, base_feat() | VIRTIO_BIT(40)) & VIRTIO_STATUS_FEATURES_OK));
	/* DRIVER_OK without FEATURES_OK is not accepted either. */
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						       VIRTIO_STATUS_DRIVER_OK);
	ck_assert(!(status(f) & VIRTIO_STATUS_DRIVER_OK));
	ck_assert_uint_eq(f->td.activates, 0);
	/* Acceptable: subset with VERSION_1. */
	ck_assert(drv_negotiate(f, base_feat() | VIRTIO_BIT(3)) & VIRTIO_STATUS_FEATURES_OK);
	cm_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_GF, 4), 1);
	/* Frozen after FEATURES_OK. */
	cm_wr(f, VIRTIO_PCI_COMMON_GF, 4, 0);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_GF, 4), 1);
	ck_assert(virtio_has_feature(&f->vp.vdev, 3));
	ck_assert(!virtio_has_feature(&f->vp.vdev, VIRTIO_F_INDIRECT_DESC));
	/* The driver cannot set NEEDS_RESET. */
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						       VIRTIO_STATUS_FEATURES_OK |
						       VIRTIO_STATUS_NEEDS_RESET);
	ck_assert(!(status(f) & VIRTIO_STATUS_NEEDS_RESET));
	fx_free(f);
}
END_TEST

START_TEST(test_queue_enable_validation)
{
	struct fx *f = fx_new(K_TDEV);
	unsigned i;
	struct {
		uint16_t size;
		uint64_t desc, avail, used;
	} bad[] = {
		{ 12, 0x10000, 0x11000, 0x12000 },                 /* not a power of 2 */
		{ 0, 0x10000, 0x11000, 0x12000 },
		{ 4096, 0x10000, 0x11000, 0x12000 },               /* > max */
		{ 16, 0x10008, 0x11000, 0x12000 },                 /* desc align 16 */
		{ 16, 0x10000, 0x11001, 0x12000 },                 /* avail align 2 */
		{ 16, 0x10000, 0x11000, 0x12002 },                 /* used align 4 */
		{ 16, MMIO_GPA, 0x11000, 0x12000 },                /* desc in MMIO */
		{ 16, 0x10000, 0x11000, 0x40000000 },              /* used unassigned */
		{ 256, RAM_A_SIZE - 0x800, 0x11000, 0x12000 },     /* desc across two ranges */
		{ 16, 0x10000, ~0ULL - 7, 0x12000 },               /* wraps */
	};

	ck_assert(drv_negotiate(f, base_feat()) & VIRTIO_STATUS_FEATURES_OK);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		cm_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
		cm_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, bad[i].size);
		cm_wr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8, bad[i].desc);
		cm_wr(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, bad[i].avail);
		cm_wr(f, VIRTIO_PCI_COMMON_Q_USEDLO, 8, bad[i].used);
		cm_wr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
		ck_assert_msg(cm_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0, "case %u enabled", i);
		ck_assert_msg(status(f) & VIRTIO_STATUS_NEEDS_RESET, "case %u", i);
		ck_assert_uint_eq(f->nr.on, 0);
		ck_assert(drv_negotiate(f, base_feat()) & VIRTIO_STATUS_FEATURES_OK);
		ck_assert(!(status(f) & VIRTIO_STATUS_NEEDS_RESET));
	}
	/* A good queue enables; its fields are then frozen. */
	ck_assert_int_eq(drv_queue(f, 0, 16, 1), 0);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 32);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 16);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4), f->q[0].desc);
	fx_free(f);
}
END_TEST

/* ---- notify addresses, reset ------------------------------------------------------- */

START_TEST(test_notify_addr_and_reset)
{
	struct fx *f = fx_new(K_TDEV);
	uint64_t v = 0;
	unsigned resets;

	ck_assert_uint_eq(f->nr.on, 0);
	drv_up(f, base_feat(), 1, 16);
	ck_assert_uint_eq(f->nr.on, 1);
	ck_assert(f->nr.bound[0]);
	ck_assert_uint_eq(f->nr.gpa[0], BAR_GPA + VIRTIO_PCI_NOTIFY_OFF);
	ck_assert_int_eq(f->nr.fd[0], virtq_kick_fd(virtio_queue(&f->vp.vdev, 0)));
	ck_assert_uint_eq(f->td.activates, 1);

	/* The kick eventfd is what an ioeventfd would write: it works alone. */
	set_desc(&f->q[0], 0, 0x80000, 64, VIRTQ_DESC_F_WRITE, 0);
	f->q[0].a[2] = 0;
	f->q[0].avail_idx = 1;
	__atomic_store_n(&f->q[0].a[1], 1, __ATOMIC_RELEASE);
	v = 1;
	ck_assert_int_eq(write(f->nr.fd[0], &v, 8), 8);
	ck_assert(wait_used(f, 0, 1));
	ck_assert(wait_msi(f, 1, 1));

	/* BAR moves: unbound at the old address, bound at the new one. */
	map_bar(f, BAR_GPA2);
	ck_assert(f->nr.bound[0]);
	ck_assert_uint_eq(f->nr.gpa[0], BAR_GPA2 + VIRTIO_PCI_NOTIFY_OFF);
	ck_assert_uint_ge(f->nr.off, 1);
	/* Memory decode off: unbound. */
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	ck_assert(!f->nr.bound[0]);
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ck_assert(f->nr.bound[0]);

	/* Device reset: status, features, queues cleared, notify unbound. */
	resets = f->td.resets;
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(status(f), 0);
	ck_assert(!f->nr.bound[0]);
	ck_assert_uint_eq(f->td.resets, resets + 1);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), TDEV_MAXQ);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_NO_VECTOR);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_NO_VECTOR);
	cm_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_GF, 4), 0);

	/* And it works again after the reset (new rings, used idx from 0). */
	f->alloc = RAM_A_GPA + 0x1000;
	drv_up(f, base_feat(), 1, 16);
	set_desc(&f->q[0], 0, 0x80000, 32, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	ck_assert_uint_eq(f->td.pops, 2);
	ck_assert_uint_eq(f->td.activates, 2);

	/* virtio_pci_reset (machine reset path) does the same. */
	virtio_pci_reset(&f->vp);
	ck_assert_uint_eq(status(f), 0);
	ck_assert(!f->nr.bound[0]);
	fx_free(f);
}
END_TEST

/* ---- virtio-rng ------------------------------------------------------------------ */

START_TEST(test_rng)
{
	struct fx *f = fx_new(K_RNG);
	uint32_t id, len;
	uint8_t *buf;
	unsigned i, nz = 0;

	drv_up(f, base_feat(), 1, 64);
	buf = hva(f, 0x80000, 256);
	memset(buf, 0, 256);
	set_desc(&f->q[0], 3, 0x80000, 256, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 3);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 0, &id, &len);
	ck_assert_uint_eq(id, 3);
	ck_assert_uint_eq(len, 256);
	for (i = 0; i < 256; i++)
		nz += buf[i] != 0;
	ck_assert_uint_gt(nz, 200);
	ck_assert(wait_msi(f, 1, 1));
	ck_assert_uint_eq(msi(f, 0), 0); /* no config interrupt */

	/* A buffer straddling the two RAM ranges, in two descriptors. */
	memset(hva(f, RAM_B_GPA - 100, 100), 0, 100);
	memset(hva(f, RAM_B_GPA, 100), 0, 100);
	set_desc(&f->q[0], 0, RAM_B_GPA - 100, 200, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(&f->q[0], 1, 0x90000, 16, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 1, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 216);
	ck_assert_uint_eq(__atomic_load_n(&f->rng.bytes, __ATOMIC_RELAXED), 256 + 216);

	/* A read-only descriptor gets nothing. */
	set_desc(&f->q[0], 2, 0x80000, 64, 0, 0);
	post(f, 0, 2);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 2, &id, &len);
	ck_assert_uint_eq(len, 0);
	ck_assert(!(status(f) & VIRTIO_STATUS_NEEDS_RESET));

	/* An oversized buffer is capped. */
	set_desc(&f->q[0], 4, RAM_A_GPA + 0x80000, 0x80000 + VIRTIO_RNG_MAX_REQ, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 4);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 3, &id, &len);
	ck_assert_uint_eq(len, VIRTIO_RNG_MAX_REQ);
	fx_free(f);
}
END_TEST

START_TEST(test_rng_intx)
{
	struct fx *f = fx_new(K_RNG);
	uint64_t end;

	/* No MSI-X: INTx with the ISR. */
	ck_assert(drv_negotiate(f, base_feat()) & VIRTIO_STATUS_FEATURES_OK);
	ck_assert_int_eq(drv_queue(f, 0, 64, VIRTIO_NO_VECTOR), 0);
	drv_ok(f);
	set_desc(&f->q[0], 0, 0x80000, 32, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	end = now_ms() + WAIT_MS;
	while (!__atomic_load_n(&f->intx_level, __ATOMIC_SEQ_CST) && now_ms() < end)
		usleep(200);
	ck_assert_int_eq(f->intx_level, 1);
	ck_assert(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(bar_rd(f, f->isr, 1), 1);     /* queue bit */
	ck_assert_int_eq(f->intx_level, 0);             /* read cleared and lowered */
	ck_assert_uint_eq(bar_rd(f, f->isr, 1), 0);
	ck_assert_uint_eq(msi(f, 0) + msi(f, 1), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_interrupt_suppression)
{
	struct fx *f = fx_new(K_TDEV);
	uint16_t *used_event;
	uint64_t end;

	/* NO_INTERRUPT: used entries appear, no message. */
	drv_up(f, base_feat(), 1, 16);
	f->q[0].a[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	set_desc(&f->q[0], 0, 0x80000, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	usleep(20000);
	ck_assert_uint_eq(msi(f, 1), 0);
	f->q[0].a[0] = 0;
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	ck_assert(wait_msi(f, 1, 1));

	/* EVENT_IDX: interrupt only when used_event is crossed. */
	f->alloc = RAM_A_GPA + 0x1000;
	drv_up(f, base_feat() | VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 1, 16);
	used_event = &f->q[0].a[2 + 16];
	*used_event = 5;        /* interrupt when entry 5 is used */
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	ck_assert(wait_msi(f, 1, 2));   /* the first one always goes out */
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	usleep(20000);
	ck_assert_uint_eq(msi(f, 1), 2);
	post(f, 0, 0);
	post(f, 0, 0);
	post(f, 0, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 4));
	ck_assert(wait_msi(f, 1, 3));
	/* The device published avail_event when it ran dry. */
	end = now_ms() + WAIT_MS;
	while (__atomic_load_n((uint16_t *)(f->q[0].u + 4 + 8 * 16), __ATOMIC_SEQ_CST) != 6 &&
	       now_ms() < end)
		usleep(200);
	ck_assert_uint_eq(*(uint16_t *)(f->q[0].u + 4 + 8 * 16), 6);
	fx_free(f);
}
END_TEST

START_TEST(test_chain_shapes)
{
	struct fx *f = fx_new(K_TDEV);
	struct gq *g;
	uint8_t *tbl;
	struct virtq_desc d[3];

	drv_up(f, base_feat() | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), 1, 16);
	g = &f->q[0];
	/* readable, zero-length (skipped), writable across the RAM boundary. */
	set_desc(g, 0, 0x80000, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(g, 5, 0x12345, 0, VIRTQ_DESC_F_NEXT, 9);
	set_desc(g, 9, RAM_B_GPA - 8, 24, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	ck_assert_int_eq(f->td.last_ret, 0);
	ck_assert_uint_eq(f->td.nr_read, 1);
	ck_assert_uint_eq(f->td.nr_write, 2);           /* split at the range boundary */
	ck_assert_uint_eq(f->td.read_len, 16);
	ck_assert_uint_eq(f->td.write_len, 24);
	ck_assert_uint_eq(f->td.iov[1].iov_len, 8);
	ck_assert_ptr_eq(f->td.iov[1].iov_base, f->ba->host + GUARD + RAM_A_SIZE - 8);
	ck_assert_ptr_eq(f->td.iov[2].iov_base, f->bb->host + GUARD);
	ck_assert_uint_eq(f->ba->host[GUARD + RAM_A_SIZE - 1], 0x5A);
	ck_assert_uint_eq(f->bb->host[GUARD + 15], 0x5A);

	/* An indirect table of three. */
	tbl = hva(f, 0x70000, sizeof(d));
	d[0] = (struct virtq_desc){ 0x81000, 10, VIRTQ_DESC_F_NEXT, 1 };
	d[1] = (struct virtq_desc){ 0x82000, 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 };
	d[2] = (struct virtq_desc){ 0x83000, 30, VIRTQ_DESC_F_WRITE, 0 };
	memcpy(tbl, d, sizeof(d));
	set_desc(g, 2, 0x70000, sizeof(d), VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 0, 2);
	ck_assert(wait_used(f, 0, 1));
	ck_assert_int_eq(f->td.last_ret, 0);
	ck_assert_uint_eq(f->td.nr_read, 1);
	ck_assert_uint_eq(f->td.nr_write, 2);
	ck_assert_uint_eq(f->td.write_len, 50);

	/* A chain of all 16 descriptors is fine (not a loop). */
	for (unsigned i = 0; i < 16; i++)
		set_desc(g, i, 0x84000 + 64 * i, 64, VIRTQ_DESC_F_WRITE |
			 (i < 15 ? VIRTQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	ck_assert_int_eq(f->td.last_ret, 0);
	ck_assert_uint_eq(f->td.write_len, 16 * 64);
	ck_assert(!(status(f) & VIRTIO_STATUS_NEEDS_RESET));
	ck_assert_uint_eq(f->td.pops, 3);
	fx_free(f);
}
END_TEST

/* ---- malformed chains ------------------------------------------------------------- */

enum bad_case {
	BAD_LOOP, BAD_NEXT_RANGE, BAD_HEAD_RANGE, BAD_OUT_OF_RAM, BAD_MMIO, BAD_WRAP,
	BAD_READ_AFTER_WRITE, BAD_LONG_INDIRECT_LOOP, BAD_IND_LEN, BAD_IND_ZERO, BAD_IND_BIG,
	BAD_IND_NESTED, BAD_IND_NOT_NEGOTIATED, BAD_IND_WITH_NEXT, BAD_IND_TABLE_OUT,
	BAD_AVAIL_JUMP, BAD_TOO_MANY_SEGS, BAD_STRADDLE_MMIO, BAD_NR
};

static const char *const bad_names[BAD_NR] = {
	"loop", "next >= size", "head >= size", "out of RAM", "in MMIO", "addr+len wraps",
	"readable after writable", "loop in indirect table", "indirect len % 16",
	"indirect len 0", "indirect len > size", "nested indirect", "indirect not negotiated",
	"indirect with NEXT", "indirect table out of RAM", "avail idx jump", "too many segments",
	"buffer runs from RAM into MMIO",
};

static void build_bad(struct fx *f, enum bad_case c, uint16_t *head, uint16_t *jump)
{
	struct gq *g = &f->q[0];
	struct virtq_desc d[4];
	uint8_t *tbl = hva(f, 0x70000, 64 * 16);
	unsigned i;

	*head = 0;
	*jump = 0;
	memset(d, 0, sizeof(d));
	switch (c) {
	case BAD_LOOP:
		set_desc(g, 0, 0x80000, 8, VIRTQ_DESC_F_NEXT, 1);
		set_desc(g, 1, 0x80000, 8, VIRTQ_DESC_F_NEXT, 0);
		break;
	case BAD_NEXT_RANGE:
		set_desc(g, 0, 0x80000, 8, VIRTQ_DESC_F_NEXT, 16);
		break;
	case BAD_HEAD_RANGE:
		*head = 16;
		break;
	case BAD_OUT_OF_RAM:
		set_desc(g, 0, 0x40000000, 8, VIRTQ_DESC_F_WRITE, 0);
		break;
	case BAD_MMIO:
		set_desc(g, 0, MMIO_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
		break;
	case BAD_WRAP:
		set_desc(g, 0, ~0ULL - 10, 100, VIRTQ_DESC_F_WRITE, 0);
		break;
	case BAD_READ_AFTER_WRITE:
		set_desc(g, 0, 0x80000, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
		set_desc(g, 1, 0x81000, 8, 0, 0);
		break;
	case BAD_LONG_INDIRECT_LOOP:
		d[0] = (struct virtq_desc){ 0x80000, 8, VIRTQ_DESC_F_NEXT, 1 };
		d[1] = (struct virtq_desc){ 0x80000, 8, VIRTQ_DESC_F_NEXT, 2 };
		d[2] = (struct virtq_desc){ 0x80000, 8, VIRTQ_DESC_F_NEXT, 0 };
		memcpy(tbl, d, 48);
		set_desc(g, 0, 0x70000, 48, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_IND_LEN:
		set_desc(g, 0, 0x70000, 20, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_IND_ZERO:
		set_desc(g, 0, 0x70000, 0, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_IND_BIG:
		set_desc(g, 0, 0x70000, 17 * 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_IND_NESTED:
		d[0] = (struct virtq_desc){ 0x70000, 16, VIRTQ_DESC_F_INDIRECT, 0 };
		memcpy(tbl, d, 16);
		set_desc(g, 0, 0x70000, 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_IND_NOT_NEGOTIATED:
		d[0] = (struct virtq_desc){ 0x80000, 8, VIRTQ_DESC_F_WRITE, 0 };
		memcpy(tbl, d, 16);
		set_desc(g, 0, 0x70000, 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_IND_WITH_NEXT:
		d[0] = (struct virtq_desc){ 0x80000, 8, VIRTQ_DESC_F_WRITE, 0 };
		memcpy(tbl, d, 16);
		set_desc(g, 0, 0x70000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
		set_desc(g, 1, 0x80000, 8, VIRTQ_DESC_F_WRITE, 0);
		break;
	case BAD_IND_TABLE_OUT:
		set_desc(g, 0, RAM_B_GPA + RAM_B_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_AVAIL_JUMP:
		set_desc(g, 0, 0x80000, 8, VIRTQ_DESC_F_WRITE, 0);
		*jump = 17;
		break;
	case BAD_TOO_MANY_SEGS:
		/* Needs a queue bigger than VIRTQ_MAX_SEGS: see the caller. */
		for (i = 0; i < g->size; i++)
			set_desc(g, i, 0x80000 + i, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
		set_desc(g, (unsigned)g->size - 1, 0x80000, 1, 0, 0);
		break;
	case BAD_STRADDLE_MMIO:
		set_desc(g, 0, MMIO_GPA - 8, 16, VIRTQ_DESC_F_WRITE, 0);
		break;
	case BAD_NR:
		break;
	}
}

START_TEST(test_malformed)
{
	enum bad_case c = (enum bad_case)_i;
	struct fx *f = fx_new(K_TDEV);
	uint64_t feat = base_feat();
	uint16_t size = c == BAD_TOO_MANY_SEGS ? TDEV_MAXQ : 16;
	uint16_t head, jump;
	uint32_t id, len;
	int ret;

	if (c != BAD_IND_NOT_NEGOTIATED)
		feat |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	drv_up(f, feat, 1, size);
	/* One good request first: the queue works. */
	set_desc(&f->q[0], 3, 0x88000, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 3);
	ck_assert(wait_used(f, 0, 1));

	build_bad(f, c, &head, &jump);
	if (jump) {
		f->q[0].avail_idx = (uint16_t)(f->q[0].avail_idx + jump - 1);
		post(f, 0, head);
	} else {
		post(f, 0, head);
	}
	ck_assert_msg(wait_status(f, VIRTIO_STATUS_NEEDS_RESET), "%s: no NEEDS_RESET",
		      bad_names[c]);
	ck_assert_msg(wait_msi(f, 0, 1), "%s: no config interrupt", bad_names[c]);
	pthread_mutex_lock(&f->td.lock);
	ret = f->td.last_ret;
	pthread_mutex_unlock(&f->td.lock);
	ck_assert_msg(ret == -EINVAL || ret == -EFAULT, "%s: pop returned %d", bad_names[c], ret);
	ck_assert_uint_eq(f->td.pops, 1);
	ck_assert_uint_eq(used_idx(f, 0), 1);

	/* Broken: a further good chain is not processed until reset. */
	set_desc(&f->q[0], 3, 0x88000, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 3);
	usleep(10000);
	ck_assert_uint_eq(used_idx(f, 0), 1);
	ck_assert_uint_eq(msi(f, 0), 1);    /* one config interrupt per episode */

	/* After a reset the device works again. */
	f->alloc = RAM_A_GPA + 0x1000;
	drv_up(f, base_feat(), 1, 16);
	ck_assert(!(status(f) & VIRTIO_STATUS_NEEDS_RESET));
	set_desc(&f->q[0], 7, 0x88000, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 7);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 0, &id, &len);
	ck_assert_uint_eq(id, 7);
	ck_assert_uint_eq(len, 8);
	fx_free(f);     /* checks the canaries */
}
END_TEST

/* The rng through the same path: a malformed chain does not crash the real device. */
START_TEST(test_rng_malformed)
{
	struct fx *f = fx_new(K_RNG);

	drv_up(f, base_feat(), 1, 64);
	set_desc(&f->q[0], 0, RAM_B_GPA + RAM_B_SIZE - 8, 64, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_status(f, VIRTIO_STATUS_NEEDS_RESET));
	ck_assert_uint_eq(used_idx(f, 0), 0);
	f->alloc = RAM_A_GPA + 0x1000;
	drv_up(f, base_feat(), 1, 64);
	set_desc(&f->q[0], 0, 0x80000, 64, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	fx_free(f);
}
END_TEST

/* ---- virtio-console --------------------------------------------------------------- */

static bool read_all(int fd, char *buf, size_t len)
{
	uint64_t end = now_ms() + WAIT_MS;
	size_t got = 0;

	while (got < len && now_ms() < end) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r > 0)
			got += (size_t)r;
		else
			usleep(200);
	}
	return got == len;
}

START_TEST(test_console)
{
	struct fx *f = fx_new(K_CON);
	char out[32] = { 0 };
	uint32_t id, len;
	uint8_t *rx;

	ck_assert_uint_eq(f->devcfg, VIRTIO_PCI_DEVICE_OFF);
	drv_up(f, base_feat() | VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE), 2, 32);
	/* Config: cols 80, rows 25; bad widths refused. */
	ck_assert_uint_eq(bar_rd(f, f->devcfg, 2), 80);
	ck_assert_uint_eq(bar_rd(f, f->devcfg + 2, 2), 25);
	ck_assert_uint_eq(bar_rd(f, f->devcfg, 4), 80 | (25 << 16));
	ck_assert_uint_eq(bar_rd(f, f->devcfg + 1, 2), 0xFFFF);
	ck_assert_uint_eq(bar_rd(f, f->devcfg + 8, 8), ~0ULL); /* runs past the 12 bytes */
	ck_assert_uint_eq(bar_rd(f, f->devcfg + 12, 4), 0);

	/* Guest -> host: a transmit chain of two readable pieces. */
	memcpy(hva(f, 0x80000, 6), "hello ", 6);
	ck_assert_int_eq(mem_write(&f->s, RAM_B_GPA - 2, "world", 5), 0); /* straddles */
	set_desc(&f->q[1], 0, 0x80000, 6, VIRTQ_DESC_F_NEXT, 1);
	set_desc(&f->q[1], 1, RAM_B_GPA - 2, 5, 0, 0);
	post(f, 1, 0);
	ck_assert(wait_used(f, 1, 1));
	ck_assert(read_all(f->out_pipe[0], out, 11));
	ck_assert_str_eq(out, "hello world");
	ck_assert(wait_msi(f, 2, 1));

	/* Host -> guest: input waits for a buffer, then lands in it. */
	ck_assert_int_eq(write(f->in_pipe[1], "abc", 3), 3);
	usleep(20000);
	ck_assert_uint_eq(used_idx(f, 0), 0);
	rx = hva(f, 0x90000, 64);
	memset(rx, 0, 64);
	set_desc(&f->q[0], 0, 0x90000, 64, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 0);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 0, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(memcmp(rx, "abc", 3), 0);
	ck_assert(wait_msi(f, 1, 1));

	/* A buffer posted first, input later. */
	set_desc(&f->q[0], 1, 0x91000, 2, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 1);
	usleep(10000);
	ck_assert_int_eq(write(f->in_pipe[1], "xyz", 3), 3);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 1, &id, &len);
	ck_assert_uint_eq(len, 2);      /* the buffer holds two; 'z' waits */
	ck_assert_int_eq(memcmp(hva(f, 0x91000, 2), "xy", 2), 0);
	set_desc(&f->q[0], 2, 0x92000, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 2);
	ck_assert(wait_used(f, 0, 1));
	used_elem(f, 0, 2, &id, &len);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(*(uint8_t *)hva(f, 0x92000, 1), 'z');

	/* EOF on input: no more reads, no busy loop, output still works. */
	close(f->in_pipe[1]);
	f->in_pipe[1] = -1;
	set_desc(&f->q[0], 3, 0x93000, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0, 3);
	usleep(20000);
	ck_assert_uint_eq(used_idx(f, 0), 3);
	memcpy(hva(f, 0x80000, 3), "end", 3);
	set_desc(&f->q[1], 2, 0x80000, 3, 0, 0);
	post(f, 1, 2);
	ck_assert(wait_used(f, 1, 1));
	memset(out, 0, sizeof(out));
	ck_assert(read_all(f->out_pipe[0], out, 3));
	ck_assert_str_eq(out, "end");

	/* A malformed transmit chain: NEEDS_RESET, then a reset brings it back. */
	set_desc(&f->q[1], 3, 0x80000, 8, VIRTQ_DESC_F_NEXT, 3);
	post(f, 1, 3);
	ck_assert(wait_status(f, VIRTIO_STATUS_NEEDS_RESET));
	f->alloc = RAM_A_GPA + 0x1000;
	drv_up(f, base_feat(), 2, 32);
	memcpy(hva(f, 0x80000, 2), "ok", 2);
	set_desc(&f->q[1], 0, 0x80000, 2, 0, 0);
	post(f, 1, 0);
	ck_assert(wait_used(f, 1, 1));
	memset(out, 0, sizeof(out));
	ck_assert(read_all(f->out_pipe[0], out, 2));
	ck_assert_str_eq(out, "ok");
	fx_free(f);
}
END_TEST

/* ---- core API edges --------------------------------------------------------------- */

static void null_notify(struct virtio_dev *vdev, struct virtq *vq)
{
	(void)vdev;
	(void)vq;
}

static void null_config(struct virtio_dev *vdev)
{
	(void)vdev;
}

static const struct virtio_transport_ops null_transport = {
	.notify_queue = null_notify, .notify_config = null_config,
};

START_TEST(test_core_api)
{
	struct mem_space s;
	struct virtio_dev vdev;
	struct virtio_dev_ops ops = { .device_id = 1, .num_queues = 1, .queue_max_size = 8 };
	struct virtq_elem *e = malloc(sizeof(*e));

	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(mem_space_init(&s, "s"), 0);
	memset(&vdev, 0, sizeof(vdev));
	virtio_dev_destroy(&vdev);              /* zeroed: nothing to do */
	ops.queue_max_size = 12;
	ck_assert_int_eq(virtio_dev_init(&vdev, &ops, NULL, &s, &null_transport, NULL), -EINVAL);
	ops.queue_max_size = 8;
	ops.num_queues = 0;
	ck_assert_int_eq(virtio_dev_init(&vdev, &ops, NULL, &s, &null_transport, NULL), -EINVAL);
	ops.num_queues = VIRTIO_MAX_QUEUES + 1;
	ck_assert_int_eq(virtio_dev_init(&vdev, &ops, NULL, &s, &null_transport, NULL), -EINVAL);
	ops.num_queues = 1;
	ops.config_size = VIRTIO_CONFIG_MAX + 1;
	ck_assert_int_eq(virtio_dev_init(&vdev, &ops, NULL, &s, &null_transport, NULL), -EINVAL);
	ops.config_size = 0;
	virtio_dev_destroy(&vdev);              /* after a failed init */
	ck_assert_int_eq(virtio_dev_init(&vdev, &ops, NULL, &s, &null_transport, NULL), 0);
	/* A disabled queue pops nothing. */
	ck_assert_int_eq(virtq_pop(virtio_queue(&vdev, 0), e), -EIO);
	ck_assert_ptr_null(virtio_queue(&vdev, 1));
	ck_assert_int_eq(virtq_notify(virtio_queue(&vdev, 0)), 0);
	ck_assert_int_ge(virtq_kick_fd(virtio_queue(&vdev, 0)), 0);
	ck_assert_int_eq(virtio_worker_watch(&vdev, -1, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(virtio_worker_modify(&vdev, 99, 1), -ENOENT);
	virtio_dev_destroy(&vdev);
	virtio_dev_destroy(&vdev);
	mem_space_destroy(&s);
	free(e);
}
END_TEST

static Suite *virtio_suite(void)
{
	Suite *s = suite_create("virtio");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_core_api);
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_common_widths);
	tcase_add_test(tc, test_feature_negotiation);
	tcase_add_test(tc, test_queue_enable_validation);
	tcase_add_test(tc, test_notify_addr_and_reset);
	tcase_add_test(tc, test_interrupt_suppression);
	tcase_add_test(tc, test_chain_shapes);
	tcase_add_loop_test(tc, test_malformed, 0, BAD_NR);
	suite_add_tcase(s, tc);

	tc = tcase_create("devices");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rng);
	tcase_add_test(tc, test_rng_intx);
	tcase_add_test(tc, test_rng_malformed);
	tcase_add_test(tc, test_console);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(virtio_suite);
