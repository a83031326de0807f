/*
 * tests/unit/test_virtio_blk.c - virtio-blk on a real temporary image with a
 * real io_uring, driven by a test "guest" through the modern PCI transport:
 * guest RAM from the memory engine (two backends with host-only canary
 * bytes around what the guest sees, so a buffer can straddle two RAM
 * ranges), configuration through pci_bus_config_*, BAR accesses through
 * mem_dispatch, the split ring in guest RAM, kicks through the notify
 * region and MSI-X observed through the PCI msi send hook. The image file is
 * checked directly with pread. Without io_uring (ENOSYS/EPERM) every test
 * skips with a message on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "devices/pci.h"
#include "devices/virtio.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_pci.h"
#include "memory/memory.h"
#include "tests/unit/unit.h"

#define GUARD           (64 * KiB)
#define RAM_A_GPA       0x0ULL
#define RAM_A_SIZE      (4 * MiB)
#define RAM_B_GPA       (4 * MiB)       /* another backend right after A */
#define RAM_B_SIZE      (1 * MiB)
#define MMIO_GPA        (5 * MiB)
#define MMIO_SIZE       (64 * KiB)
#define BAR_GPA         0x8000000000ULL
#define DEVFN           PCI_DEVFN(5, 0)
#define CANARY          0xCC
#define MSI_ADDR        0xFEE00000ULL
#define MSI_DATA(v)     (0x4100u + (v))
#define WAIT_MS         5000

#define QSIZE           256
#define DESC_GPA        0x1000ULL       /* 4 KiB: 256 descriptors */
#define AVAIL_GPA       0x2000ULL
#define USED_GPA        0x3000ULL
#define HEAP_GPA        0x10000ULL

#define IMG_SECTORS     2048            /* 1 MiB image */
#define IMG_SIZE        (IMG_SECTORS * 512ULL)

#define FEAT_DEFAULT    (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | \
			 VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) | \
			 VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE))

/* ---- fixture ----------------------------------------------------------------------- */

struct fx {
	struct mem_space s;
	struct mem_backend *ba, *bb;
	struct mem_region ra, rb, mmio;
	struct pci_bus bus;
	struct virtio_pci vp;
	struct virtio_blk blk;
	bool blk_ready, vp_ready;
	char path[64];
	int fd;                         /* the test's own view of the image */
	unsigned msi[4];                /* by vector, written by the worker */
	unsigned msi_bad;
	uint64_t heap;
	/* the guest's ring state */
	uint16_t avail_idx, used_seen, next_desc;
};

static int dummy_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	(void)opaque;
	(void)off;
	(void)size;
	*val = 0;
	return 0;
}

static int dummy_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	(void)opaque;
	(void)off;
	(void)size;
	(void)val;
	return 0;
}

static const struct access_ops dummy_ops = {
	.read = dummy_read, .write = dummy_write, .min_size = 1, .max_size = 8,
};

static void msi_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct fx *f = opaque;

	if (addr != MSI_ADDR || data < MSI_DATA(0) || data >= MSI_DATA(4)) {
		__atomic_add_fetch(&f->msi_bad, 1, __ATOMIC_SEQ_CST);
		return;
	}
	__atomic_add_fetch(&f->msi[data - MSI_DATA(0)], 1, __ATOMIC_SEQ_CST);
}

static uint64_t bar_rd(struct fx *f, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	(void)mem_dispatch(&f->s, BAR_GPA + off, size, false, &v);
	return v;
}

static void bar_wr(struct fx *f, uint64_t off, unsigned size, uint64_t v)
{
	(void)mem_dispatch(&f->s, BAR_GPA + off, size, true, &v);
}

static void cm_wr(struct fx *f, unsigned off, unsigned size, uint64_t v)
{
	bar_wr(f, VIRTIO_PCI_COMMON_OFF + off, size, v);
}

static uint64_t cm_rd(struct fx *f, unsigned off, unsigned size)
{
	return bar_rd(f, VIRTIO_PCI_COMMON_OFF + off, size);
}

static uint8_t dev_status(struct fx *f)
{
	return (uint8_t)cm_rd(f, VIRTIO_PCI_COMMON_STATUS, 1);
}

static uint64_t devcfg_rd(struct fx *f, unsigned off, unsigned size)
{
	return bar_rd(f, VIRTIO_PCI_DEVICE_OFF + off, size);
}

static void cfg_wr(struct fx *f, unsigned reg, unsigned size, uint32_t v)
{
	ck_assert_int_eq(pci_bus_config_write(&f->bus, DEVFN, reg, size, v), 0);
}

static uint32_t cfg_rd(struct fx *f, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	ck_assert_int_eq(pci_bus_config_read(&f->bus, DEVFN, reg, size, &v), 0);
	return v;
}

static void make_image(struct fx *f, const char *dir, uint64_t size)
{
	uint8_t buf[512];
	uint64_t s;

	snprintf(f->path, sizeof(f->path), "%s/vblk-XXXXXX", dir);
	f->fd = mkstemp(f->path);
	ck_assert_int_ge(f->fd, 0);
	/* Every sector starts with a recognisable pattern: byte = sector ^ offset. */
	for (s = 0; s < size / 512; s++) {
		unsigned i;

		for (i = 0; i < 512; i++)
			buf[i] = (uint8_t)(s * 7 + i);
		ck_assert_int_eq(pwrite(f->fd, buf, 512, (off_t)(s * 512)), 512);
	}
}

static uint8_t img_byte(uint64_t sector, unsigned i)
{
	return (uint8_t)(sector * 7 + i);
}

/* Set up guest RAM, the bus, the image and the device; NULL when io_uring is missing. */
static struct fx *fx_new_at(const char *dir, bool readonly, const char *serial)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct pci_msi_hooks h = { .send = msi_send };
	char err[256];
	int ret;

	ck_assert_ptr_nonnull(f);
	f->fd = -1;
	ck_assert_int_eq(mem_space_init(&f->s, "sys"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ba, "ram-a", RAM_A_SIZE + 2 * GUARD), 0);
	ck_assert_int_eq(mem_backend_create(&f->bb, "ram-b", RAM_B_SIZE + 2 * GUARD), 0);
	memset(f->ba->host, CANARY, GUARD);
	memset(f->ba->host + GUARD + RAM_A_SIZE, CANARY, GUARD);
	memset(f->bb->host, CANARY, GUARD);
	memset(f->bb->host + GUARD + RAM_B_SIZE, CANARY, GUARD);
	mem_region_init_ram(&f->ra, "ram-a", f->ba, GUARD, RAM_A_SIZE);
	mem_region_init_ram(&f->rb, "ram-b", f->bb, GUARD, RAM_B_SIZE);
	mem_region_init_mmio(&f->mmio, "dummy", MMIO_SIZE, &dummy_ops, f);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->ra, RAM_A_GPA, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->rb, RAM_B_GPA, 0), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->mmio, MMIO_GPA, 0), 0);
	ck_assert_int_eq(pci_bus_init(&f->bus, &f->s, NULL), 0);

	make_image(f, dir, IMG_SIZE);
	ret = virtio_blk_init(&f->blk, f->path, readonly, serial, err, sizeof(err));
	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "SKIP test_virtio_blk: io_uring unavailable: %s\n", err);
		close(f->fd);
		unlink(f->path);
		pci_bus_destroy(&f->bus);
		mem_space_destroy(&f->s);
		mem_backend_destroy(f->ba);
		mem_backend_destroy(f->bb);
		free(f);
		return NULL;
	}
	ck_assert_msg(ret == 0, "virtio_blk_init: %d %s", ret, err);
	f->blk_ready = true;
	ck_assert_int_eq(virtio_pci_init(&f->vp, &f->blk.ops, &f->blk, &f->s), 0);
	f->vp_ready = true;
	h.opaque = f;
	pci_dev_set_msi_hooks(&f->vp.pci, &h);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->vp.pci, DEVFN), 0);

	ck_assert_uint_eq(cfg_rd(f, PCI_VENDOR_ID, 2), 0x1AF4);
	ck_assert_uint_eq(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1042);
	cfg_wr(f, PCI_BAR0 + 16, 4, (uint32_t)BAR_GPA);
	cfg_wr(f, PCI_BAR0 + 20, 4, (uint32_t)(BAR_GPA >> 32));
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return f;
}

static struct fx *fx_new(bool readonly)
{
	return fx_new_at("/tmp", readonly, "test-serial");
}

/* Check asserts are not free (each reports its location): compare, then assert once. */
static bool all_bytes(const uint8_t *p, uint8_t v, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void check_canaries(struct fx *f)
{
	ck_assert(all_bytes(f->ba->host, CANARY, GUARD));
	ck_assert(all_bytes(f->ba->host + GUARD + RAM_A_SIZE, CANARY, GUARD));
	ck_assert(all_bytes(f->bb->host, CANARY, GUARD));
	ck_assert(all_bytes(f->bb->host + GUARD + RAM_B_SIZE, CANARY, GUARD));
}

static void fx_free(struct fx *f)
{
	if (f->vp_ready)
		virtio_pci_destroy(&f->vp);
	if (f->blk_ready) {
		virtio_blk_destroy(&f->blk);
		virtio_blk_destroy(&f->blk);    /* twice is safe */
	}
	pci_bus_destroy(&f->bus);
	check_canaries(f);
	ck_assert_uint_eq(f->msi_bad, 0);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ba);
	mem_backend_destroy(f->bb);
	if (f->fd >= 0)
		close(f->fd);
	unlink(f->path);
	free(f);
}

#define FX_OR_SKIP(f, ro)                  \
	struct fx *f = fx_new(ro);         \
	if (!f)                            \
		return

/* ---- guest memory -------------------------------------------------------------------- */

static uint64_t galloc(struct fx *f, uint64_t len, uint64_t align)
{
	uint64_t a = align_up(f->heap, align);

	ck_assert(a + len <= RAM_A_GPA + RAM_A_SIZE);
	f->heap = a + len;
	return a;
}

static void gwrite(struct fx *f, uint64_t gpa, const void *buf, uint64_t len)
{
	ck_assert_int_eq(mem_write(&f->s, gpa, buf, len), 0);
}

static void gread(struct fx *f, uint64_t gpa, void *buf, uint64_t len)
{
	ck_assert_int_eq(mem_read(&f->s, gpa, buf, len), 0);
}

static uint8_t gbyte(struct fx *f, uint64_t gpa)
{
	uint8_t b;

	gread(f, gpa, &b, 1);
	return b;
}

static void gfill(struct fx *f, uint64_t gpa, uint8_t v, uint64_t len)
{
	uint8_t buf[4096];

	memset(buf, v, sizeof(buf));
	while (len) {
		uint64_t c = len < sizeof(buf) ? len : sizeof(buf);

		gwrite(f, gpa, buf, c);
		gpa += c;
		len -= c;
	}
}

/* ---- the guest's driver ------------------------------------------------------------- */

static uint64_t features_offered(struct fx *f)
{
	uint64_t v;

	cm_wr(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	v = cm_rd(f, VIRTIO_PCI_COMMON_DF, 4);
	cm_wr(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	return v | cm_rd(f, VIRTIO_PCI_COMMON_DF, 4) << 32;
}

static void msix_on(struct fx *f)
{
	unsigned cap = cfg_rd(f, PCI_CAPABILITY_LIST, 1), n = 0, v;

	while (cap && cfg_rd(f, cap, 1) != PCI_CAP_ID_MSIX && n++ < 48)
		cap = cfg_rd(f, cap + 1, 1);
	ck_assert_uint_ne(cap, 0);
	cfg_wr(f, cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	for (v = 0; v < 2; v++) {
		uint64_t e = VIRTIO_PCI_MSIX_TABLE_OFF + 16ULL * v;

		bar_wr(f, e + PCI_MSIX_ENTRY_ADDR_LO, 4, MSI_ADDR);
		bar_wr(f, e + PCI_MSIX_ENTRY_ADDR_HI, 4, 0);
		bar_wr(f, e + PCI_MSIX_ENTRY_DATA, 4, MSI_DATA(v));
		bar_wr(f, e + PCI_MSIX_ENTRY_CTRL, 4, 0);
	}
}

/* Reset and bring the device up with @feat and one queue of QSIZE; rings zeroed. */
static void drv_start(struct fx *f, uint64_t feat)
{
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(dev_status(f), 0);
	gfill(f, DESC_GPA, 0, 16 * QSIZE);
	gfill(f, AVAIL_GPA, 0, 6 + 2 * QSIZE);
	gfill(f, USED_GPA, 0, 6 + 8 * QSIZE);
	f->avail_idx = f->used_seen = f->next_desc = 0;
	f->heap = HEAP_GPA;
	msix_on(f);
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	cm_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cm_wr(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)feat);
	cm_wr(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cm_wr(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(feat >> 32));
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK);
	ck_assert(dev_status(f) & VIRTIO_STATUS_FEATURES_OK);
	cm_wr(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTIO_BLK_QUEUE_SIZE);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8, DESC_GPA);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, AVAIL_GPA);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_USEDLO, 8, USED_GPA);
	cm_wr(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	ck_assert_uint_eq(cm_rd(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(dev_status(f) & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET),
			  VIRTIO_STATUS_DRIVER_OK);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Chain @n segments into descriptors and make the head available (no kick). */
static uint16_t post_chain(struct fx *f, const struct seg *s, unsigned n, uint16_t extra_flags)
{
	uint16_t head = f->next_desc, i;
	uint16_t avail_ring_idx;

	ck_assert_uint_le(n, QSIZE);
	for (i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		struct virtq_desc d = {
			.addr = s[i].gpa,
			.len = s[i].len,
			.flags = (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    ((unsigned)i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | extra_flags),
			.next = (uint16_t)((idx + 1) % QSIZE),
		};

		gwrite(f, DESC_GPA + 16ULL * idx, &d, sizeof(d));
	}
	f->next_desc = (uint16_t)((head + n) % QSIZE);
	avail_ring_idx = f->avail_idx % QSIZE;
	gwrite(f, AVAIL_GPA + 4 + 2ULL * avail_ring_idx, &head, 2);
	f->avail_idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	gwrite(f, AVAIL_GPA + 2, &f->avail_idx, 2);
	return head;
}

static void kick(struct fx *f)
{
	bar_wr(f, VIRTIO_PCI_NOTIFY_OFF, 2, 0);
}

static uint16_t used_idx(struct fx *f)
{
	uint16_t v;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	gread(f, USED_GPA + 2, &v, 2);
	return v;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

/* Wait (bounded) until @n more used entries appeared. */
static void wait_used(struct fx *f, unsigned n)
{
	int t;

	for (t = 0; t < WAIT_MS * 10; t++) {
		if ((uint16_t)(used_idx(f) - f->used_seen) >= n)
			break;
		sleep_us(100);
	}
	ck_assert_msg((uint16_t)(used_idx(f) - f->used_seen) == n, "used %u, expected %u",
		      (uint16_t)(used_idx(f) - f->used_seen), n);
	f->used_seen = (uint16_t)(f->used_seen + n);
}

static void wait_status(struct fx *f, uint8_t bit)
{
	int t;

	for (t = 0; t < WAIT_MS * 10 && !(dev_status(f) & bit); t++)
		sleep_us(100);
	ck_assert(dev_status(f) & bit);
}

/* Used entry number @k (counting from 0 since start). */
static void used_elem(struct fx *f, uint16_t k, uint32_t *id, uint32_t *len)
{
	uint32_t e[2];

	gread(f, USED_GPA + 4 + 8ULL * (k % QSIZE), e, sizeof(e));
	*id = e[0];
	*len = e[1];
}

/* The used length reported for descriptor head @head among the last @n entries. */
static uint32_t used_len_of(struct fx *f, uint16_t head, unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++) {
		uint32_t id, len;

		used_elem(f, (uint16_t)(f->used_seen - n + k), &id, &len);
		if (id == head)
			return len;
	}
	ck_abort_msg("head %u not in the used ring", head);
	return 0;
}

struct req {
	uint64_t hdr, data, status;
	uint32_t len;
	uint16_t head;
};

static uint64_t new_hdr(struct fx *f, uint32_t type, uint64_t sector)
{
	uint8_t h[16] = { 0 };
	uint64_t gpa = galloc(f, 16, 16);

	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	gwrite(f, gpa, h, 16);
	return gpa;
}

/* A standard three-descriptor request: header, data (@len may be 0: none), status. */
static struct req post_req(struct fx *f, uint32_t type, uint64_t sector, uint64_t data,
			   uint32_t len, bool data_writable)
{
	struct req r = { .data = data, .len = len };
	struct seg s[3];
	unsigned n = 0;

	r.hdr = new_hdr(f, type, sector);
	r.status = galloc(f, 1, 1);
	gfill(f, r.status, 0xEE, 1);
	s[n++] = (struct seg){ r.hdr, 16, false };
	if (len)
		s[n++] = (struct seg){ data, len, data_writable };
	s[n++] = (struct seg){ r.status, 1, true };
	r.head = post_chain(f, s, n, 0);
	return r;
}

/* Post, kick, wait: one request; returns its status byte. */
static uint8_t do_req(struct fx *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		      bool data_writable, uint32_t *used_len)
{
	struct req r = post_req(f, type, sector, data, len, data_writable);
	uint32_t id, ulen;

	kick(f);
	wait_used(f, 1);
	used_elem(f, (uint16_t)(f->used_seen - 1), &id, &ulen);
	ck_assert_uint_eq(id, r.head);
	if (used_len)
		*used_len = ulen;
	return gbyte(f, r.status);
}

/* ---- image helpers ------------------------------------------------------------------- */

static void img_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	ck_assert_int_eq(pread(f->fd, buf, len, (off_t)off), (ssize_t)len);
}

/* The image still holds the initial pattern in [sector, sector + n). */
static void img_pristine(struct fx *f, uint64_t sector, uint64_t n)
{
	uint8_t buf[512];
	uint64_t s;
	unsigned i;

	for (s = sector; s < sector + n; s++) {
		img_read(f, s * 512, buf, 512);
		for (i = 0; i < 512 && buf[i] == img_byte(s, i); i++)
			;
		ck_assert_msg(i == 512, "sector %llu byte %u changed", (unsigned long long)s, i);
	}
}

static void img_zero(struct fx *f, uint64_t sector, uint64_t n)
{
	uint8_t buf[512];
	uint64_t s;

	for (s = sector; s < sector + n; s++) {
		img_read(f, s * 512, buf, 512);
		ck_assert_msg(all_bytes(buf, 0, 512), "sector %llu not zero",
			      (unsigned long long)s);
	}
}

/* ---- tests --------------------------------------------------------------------------- */

START_TEST(test_config_space)
{
	uint64_t feat;
	FX_OR_SKIP(f, false);

	feat = features_offered(f);
	ck_assert(feat & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	ck_assert(feat & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	ck_assert(feat & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX));
	ck_assert(feat & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX));
	ck_assert(feat & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE));
	ck_assert(feat & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	ck_assert(feat & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	ck_assert(!(feat & VIRTIO_BIT(VIRTIO_BLK_F_RO)));
	ck_assert(!(feat & VIRTIO_BIT(VIRTIO_BLK_F_MQ)));
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_CAPACITY, 8), IMG_SECTORS);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_CAPACITY, 4), IMG_SECTORS);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_CAPACITY + 4, 4), 0);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_SEG_MAX, 4), VIRTIO_BLK_SEG_MAX);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_SIZE_MAX, 4), VIRTIO_BLK_SIZE_MAX);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, 4),
			  VIRTIO_BLK_MAX_DISCARD_SECTORS);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4),
			  VIRTIO_BLK_MAX_DISCARD_SEG);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_DISCARD_ALIGN, 4), 8);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_MAX_WZ_SEG, 4), VIRTIO_BLK_MAX_DISCARD_SEG);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_WZ_MAY_UNMAP, 1), 1);
	/* The guest cannot change it. */
	bar_wr(f, VIRTIO_PCI_DEVICE_OFF + VIRTIO_BLK_CFG_CAPACITY, 4, 1);
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_CAPACITY, 8), IMG_SECTORS);
	/* Past the end of the 60 bytes: nothing (all-ones or 0), no crash. */
	(void)bar_rd(f, VIRTIO_PCI_DEVICE_OFF + VIRTIO_BLK_CFG_SIZE - 2, 4);
	(void)bar_rd(f, VIRTIO_PCI_DEVICE_OFF + 0x1000 - 8, 8);
	ck_assert_uint_eq(cfg_rd(f, PCI_CLASS_PROG + 1, 2), 0x0100);
	fx_free(f);
}
END_TEST

START_TEST(test_write_read)
{
	uint64_t out, in, cross;
	uint8_t buf[8192], back[8192];
	uint32_t ulen;
	unsigned i;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	out = galloc(f, 4096, 4096);
	in = galloc(f, 4096, 4096);
	for (i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	gwrite(f, out, buf, 4096);

	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, 100, out, 4096, false, &ulen), 0);
	ck_assert_uint_eq(ulen, 1);
	img_read(f, 100 * 512, back, 4096);
	ck_assert_mem_eq(back, buf, 4096);
	img_pristine(f, 99, 1);
	img_pristine(f, 108, 1);

	gfill(f, in, 0, 4096);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, 100, in, 4096, true, &ulen), 0);
	ck_assert_uint_eq(ulen, 4097);
	gread(f, in, back, 4096);
	ck_assert_mem_eq(back, buf, 4096);

	/* A buffer straddling the two RAM backends (two iovecs for one descriptor). */
	cross = RAM_B_GPA - 4096;
	for (i = 0; i < 8192; i++)
		buf[i] = (uint8_t)(i * 5 + 3);
	gwrite(f, cross, buf, 8192);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, IMG_SECTORS - 16, cross, 8192, false, NULL),
			  0);
	img_read(f, (IMG_SECTORS - 16) * 512ULL, back, 8192);
	ck_assert_mem_eq(back, buf, 8192);
	gfill(f, cross, 0, 8192);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 16, cross, 8192, true, &ulen),
			  0);
	ck_assert_uint_eq(ulen, 8193);
	gread(f, cross, back, 8192);
	ck_assert_mem_eq(back, buf, 8192);

	/* The last sector exactly (written just above). */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, in, 512, true, NULL), 0);
	gread(f, in, back, 512);
	ck_assert_mem_eq(back, buf + 8192 - 512, 512);
	ck_assert_uint_gt(f->msi[1], 0);
	fx_free(f);
}
END_TEST

/* Header and data in one descriptor, data and status in one, header split in two. */
START_TEST(test_any_layout)
{
	uint8_t h[16 + 1024] = { 0 }, back[1024];
	uint32_t type = VIRTIO_BLK_T_OUT, ulen, id;
	uint64_t sector = 40, a, b, st;
	struct seg s[4];
	uint16_t head;
	unsigned i;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	for (i = 0; i < 1024; i++)
		h[16 + i] = (uint8_t)(0xA0 ^ i);
	a = galloc(f, sizeof(h), 16);
	gwrite(f, a, h, sizeof(h));
	st = galloc(f, 1, 1);
	s[0] = (struct seg){ a, sizeof(h), false };
	s[1] = (struct seg){ st, 1, true };
	post_chain(f, s, 2, 0);
	kick(f);
	wait_used(f, 1);
	ck_assert_uint_eq(gbyte(f, st), VIRTIO_BLK_S_OK);
	img_read(f, 40 * 512, back, 1024);
	ck_assert_mem_eq(back, h + 16, 1024);

	/* Header split 5 + 11 bytes; data + status in one writable descriptor. */
	type = VIRTIO_BLK_T_IN;
	memcpy(h, &type, 4);
	a = galloc(f, 16, 16);
	gwrite(f, a, h, 16);
	b = galloc(f, 1025, 16);
	gfill(f, b, 0x11, 1025);
	s[0] = (struct seg){ a, 5, false };
	s[1] = (struct seg){ a + 5, 11, false };
	s[2] = (struct seg){ b, 1025, true };
	head = post_chain(f, s, 3, 0);
	kick(f);
	wait_used(f, 1);
	used_elem(f, (uint16_t)(f->used_seen - 1), &id, &ulen);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(ulen, 1025);
	ck_assert_uint_eq(gbyte(f, b + 1024), VIRTIO_BLK_S_OK);
	gread(f, b, back, 1024);
	ck_assert_mem_eq(back, h + 16, 1024);

	/* Many small data descriptors (one per 512-byte sector). */
	{
		struct seg m[18];
		uint64_t d = galloc(f, 16 * 512, 512);

		m[0] = (struct seg){ new_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false };
		for (i = 0; i < 16; i++)
			m[1 + i] = (struct seg){ d + 512ULL * (15 - i), 512, true };
		st = galloc(f, 1, 1);
		m[17] = (struct seg){ st, 1, true };
		post_chain(f, m, 18, 0);
		kick(f);
		wait_used(f, 1);
		ck_assert_uint_eq(gbyte(f, st), VIRTIO_BLK_S_OK);
		for (i = 0; i < 16; i++)
			ck_assert_uint_eq(gbyte(f, d + 512ULL * (15 - i) + 3), img_byte(i, 3));
	}
	fx_free(f);
}
END_TEST

/* 32 reads and 32 writes in flight from one kick each, answered in few batches. */
START_TEST(test_many_in_flight)
{
	struct virtio_blk_stats st0, st1;
	struct req r[32];
	uint64_t data;
	unsigned i, j;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	data = galloc(f, 32 * 4096, 4096);
	gfill(f, data, 0, 32 * 4096);
	virtio_blk_get_stats(&f->blk, &st0);
	for (i = 0; i < 32; i++)
		r[i] = post_req(f, VIRTIO_BLK_T_IN, 8ULL * ((i * 37) % 200), data + 4096ULL * i,
				4096, true);
	kick(f);
	wait_used(f, 32);
	virtio_blk_get_stats(&f->blk, &st1);
	ck_assert_uint_eq(st1.requests - st0.requests, 32);
	ck_assert_uint_eq(st1.reads - st0.reads, 32);
	/* One io_uring_submit for the whole batch, all 32 in flight together. */
	ck_assert_uint_eq(st1.submits - st0.submits, 1);
	ck_assert_uint_eq(st1.sqes - st0.sqes, 32);
	ck_assert_uint_ge(st1.max_inflight, 32);
	ck_assert_uint_le(st1.notifies - st0.notifies, 32);
	for (i = 0; i < 32; i++) {
		uint64_t sector = 8ULL * ((i * 37) % 200);

		ck_assert_uint_eq(gbyte(f, r[i].status), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(used_len_of(f, r[i].head, 32), 4097);
		for (j = 0; j < 4096; j += 509)
			ck_assert_uint_eq(gbyte(f, r[i].data + j), img_byte(sector + j / 512, j % 512));
	}

	/* 32 writes of distinct patterns. */
	for (i = 0; i < 32; i++) {
		gfill(f, data + 4096ULL * i, (uint8_t)(0x40 + i), 4096);
		r[i] = post_req(f, VIRTIO_BLK_T_OUT, 1024 + 8ULL * i, data + 4096ULL * i, 4096,
				false);
	}
	kick(f);
	wait_used(f, 32);
	for (i = 0; i < 32; i++) {
		uint8_t back[4096];

		ck_assert_uint_eq(gbyte(f, r[i].status), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(used_len_of(f, r[i].head, 32), 1);
		img_read(f, (1024 + 8ULL * i) * 512, back, 4096);
		ck_assert(all_bytes(back, (uint8_t)(0x40 + i), 4096));
	}
	/* Several hundred more, more than the ring holds at once, in waves of 64. */
	for (j = 0; j < 8; j++) {
		for (i = 0; i < 64; i++)
			(void)post_req(f, VIRTIO_BLK_T_IN, i, data + 2048ULL * (i % 64), 512, true);
		kick(f);
		wait_used(f, 64);
		f->heap = HEAP_GPA + 33 * 4096;
	}
	fx_free(f);
}
END_TEST

START_TEST(test_flush_and_get_id)
{
	uint64_t id;
	uint8_t buf[32];
	uint32_t ulen;
	struct virtio_blk_stats st;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &ulen), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, 1);
	/* A flush carries no sector; a junk one is ignored. */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_FLUSH, ~0ULL, 0, 0, false, NULL),
			  VIRTIO_BLK_S_OK);
	virtio_blk_get_stats(&f->blk, &st);
	ck_assert_uint_eq(st.flushes, 2);

	id = galloc(f, 32, 8);
	gfill(f, id, 0x77, 32);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_GET_ID, 0, id, 20, true, &ulen), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, 21);
	gread(f, id, buf, 21);
	ck_assert_mem_eq(buf, "test-serial\0\0\0\0\0\0\0\0\0", 20);
	ck_assert_uint_eq(buf[20], 0x77);       /* nothing past the 20 bytes */
	/* A short id buffer gets what fits. */
	gfill(f, id, 0x77, 32);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_GET_ID, 0, id, 4, true, &ulen), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, 5);
	gread(f, id, buf, 5);
	ck_assert_mem_eq(buf, "test", 4);
	ck_assert_uint_eq(buf[4], 0x77);

	/* FLUSH not negotiated: UNSUPP (and writes become write-through). */
	drv_start(f, FEAT_DEFAULT & ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL),
			  VIRTIO_BLK_S_UNSUPP);
	ck_assert(f->blk.dsync);
	id = galloc(f, 512, 512);
	gfill(f, id, 0x5C, 512);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, 3, id, 512, false, NULL), VIRTIO_BLK_S_OK);
	img_read(f, 3 * 512, buf, 32);
	ck_assert_uint_eq(buf[31], 0x5C);
	fx_free(f);
}
END_TEST

/* A serial of exactly 20 bytes is not terminated; a longer one is cut. */
START_TEST(test_get_id_long_serial)
{
	struct fx *f = fx_new_at("/tmp", false, "0123456789abcdefghijKLMN");
	uint8_t buf[24];
	uint64_t id;

	if (!f)
		return;
	drv_start(f, FEAT_DEFAULT);
	id = galloc(f, 24, 8);
	gfill(f, id, 0x77, 24);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_GET_ID, 0, id, 24, true, NULL), VIRTIO_BLK_S_OK);
	gread(f, id, buf, 24);
	ck_assert_mem_eq(buf, "0123456789abcdefghij", 20);
	ck_assert_uint_eq(buf[20], 0x77);
	fx_free(f);
}
END_TEST

/* Discard / write-zeroes segments in guest memory. */
static uint64_t new_segs(struct fx *f, const uint64_t (*sg)[3], unsigned n)
{
	uint64_t gpa = galloc(f, 16ULL * n, 16);
	unsigned i;

	for (i = 0; i < n; i++) {
		uint8_t b[16];
		uint32_t num = (uint32_t)sg[i][1], flags = (uint32_t)sg[i][2];

		memcpy(b, &sg[i][0], 8);
		memcpy(b + 8, &num, 4);
		memcpy(b + 12, &flags, 4);
		gwrite(f, gpa + 16ULL * i, b, 16);
	}
	return gpa;
}

static uint8_t do_segs(struct fx *f, uint32_t type, const uint64_t (*sg)[3], unsigned n)
{
	return do_req(f, type, 0, new_segs(f, sg, n), 16 * n, false, NULL);
}

static void discard_wz_checks(struct fx *f)
{
	static const uint64_t two[2][3] = { { 64, 16, 0 }, { 128, 8, 0 } };
	static const uint64_t wz[2][3] = { { 200, 8, 0 }, { 300, 5, VIRTIO_BLK_WZ_F_UNMAP } };
	static const uint64_t unmap[1][3] = { { 400, 8, VIRTIO_BLK_WZ_F_UNMAP } };
	static const uint64_t resv[1][3] = { { 400, 8, 0x2 } };
	static const uint64_t oor[2][3] = { { 400, 8, 0 }, { IMG_SECTORS - 4, 8, 0 } };
	static const uint64_t wrap[1][3] = { { ~0ULL - 3, 8, 0 } };
	static const uint64_t zero[1][3] = { { 500, 0, 0 } };
	uint64_t many[VIRTIO_BLK_MAX_DISCARD_SEG + 1][3];
	unsigned i;

	drv_start(f, FEAT_DEFAULT);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, two, 2), VIRTIO_BLK_S_OK);
	img_zero(f, 64, 16);
	img_zero(f, 128, 8);
	img_pristine(f, 63, 1);
	img_pristine(f, 80, 48);
	img_pristine(f, 136, 1);

	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_WRITE_ZEROES, wz, 2), VIRTIO_BLK_S_OK);
	img_zero(f, 200, 8);
	img_zero(f, 300, 5);
	img_pristine(f, 199, 1);
	img_pristine(f, 208, 1);
	img_pristine(f, 299, 1);
	img_pristine(f, 305, 1);
	/* Once more: after a fallback the device goes straight to punching. */
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_WRITE_ZEROES, wz, 1), VIRTIO_BLK_S_OK);

	/* Refused without touching the image. */
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, unmap, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_WRITE_ZEROES, resv, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, resv, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_WRITE_ZEROES, oor, 2), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, wrap, 1), VIRTIO_BLK_S_IOERR);
	img_pristine(f, 400, 8);
	img_pristine(f, IMG_SECTORS - 4, 4);
	for (i = 0; i < ARRAY_SIZE(many); i++) {
		many[i][0] = 600 + i;
		many[i][1] = 1;
		many[i][2] = 0;
	}
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, (const uint64_t (*)[3])many,
				  ARRAY_SIZE(many)), VIRTIO_BLK_S_IOERR);
	img_pristine(f, 600, ARRAY_SIZE(many));
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, (const uint64_t (*)[3])many,
				  VIRTIO_BLK_MAX_DISCARD_SEG), VIRTIO_BLK_S_OK);
	img_zero(f, 600, VIRTIO_BLK_MAX_DISCARD_SEG);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, zero, 1), VIRTIO_BLK_S_OK);
	/* Segment bytes that are not a multiple of 16, or none at all. */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_DISCARD, 0, new_segs(f, two, 2), 24, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, 0, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	img_pristine(f, 80, 48);

	/* Not negotiated: UNSUPP. */
	drv_start(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, unmap, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_WRITE_ZEROES, resv, 1), VIRTIO_BLK_S_UNSUPP);
	img_pristine(f, 400, 8);
}

START_TEST(test_discard_write_zeroes)
{
	struct stat st0, st1;
	FX_OR_SKIP(f, false);

	ck_assert_int_eq(fstat(f->fd, &st0), 0);
	discard_wz_checks(f);
	ck_assert_int_eq(fstat(f->fd, &st1), 0);
	ck_assert_int_eq(st1.st_size, (off_t)IMG_SIZE);        /* KEEP_SIZE */
	/* Holes were punched (the file system of /tmp supports it). */
	ck_assert_int_lt(st1.st_blocks, st0.st_blocks);
	fx_free(f);
}
END_TEST

/* tmpfs has PUNCH_HOLE but no ZERO_RANGE: write zeroes falls back to punching. */
START_TEST(test_write_zeroes_tmpfs)
{
	struct fx *f;

	if (access("/dev/shm", W_OK)) {
		fprintf(stderr, "SKIP test_write_zeroes_tmpfs: no writable /dev/shm\n");
		return;
	}
	f = fx_new_at("/dev/shm", false, NULL);
	if (!f)
		return;
	discard_wz_checks(f);
	/* Learnt once (a property of the file system, kept across resets). */
	ck_assert(f->blk.no_zero_range);
	fx_free(f);
}
END_TEST

START_TEST(test_readonly)
{
	uint8_t back[4096];
	uint64_t feat, data;
	static const uint64_t sg[1][3] = { { 8, 8, 0 } };
	unsigned i;
	FX_OR_SKIP(f, true);

	feat = features_offered(f);
	ck_assert(feat & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	ck_assert(!(feat & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)));
	ck_assert(!(feat & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)));
	ck_assert_uint_eq(devcfg_rd(f, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, 4), 0);
	drv_start(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |
		  VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	data = galloc(f, 4096, 4096);
	gfill(f, data, 0xAB, 4096);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, 0, data, 4096, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, 16, data, 512, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_DISCARD, sg, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_segs(f, VIRTIO_BLK_T_WRITE_ZEROES, sg, 1), VIRTIO_BLK_S_UNSUPP);
	img_pristine(f, 0, 32);
	/* Reads and flushes work. */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, 16, data, 4096, true, NULL), VIRTIO_BLK_S_OK);
	gread(f, data, back, 4096);
	for (i = 0; i < 4096 && back[i] == img_byte(16 + i / 512, i % 512); i++)
		;
	ck_assert_uint_eq(i, 4096);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	fx_free(f);
}
END_TEST

START_TEST(test_out_of_range)
{
	uint64_t data;
	struct virtio_blk_stats st0, st1;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	data = galloc(f, 8192, 4096);
	gfill(f, data, 0x99, 8192);
	virtio_blk_get_stats(&f->blk, &st0);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, data, 1024, true, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, IMG_SECTORS, data, 512, true, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, data, 1024, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	/* sector + length wraps 64 bits */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, ~0ULL, data, 512, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, ~0ULL >> 9, data, 512, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, 1ULL << 55, data, 8192, true, NULL),
			  VIRTIO_BLK_S_IOERR);
	/* Zero-length transfer at the very end: nothing to do, OK. */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, IMG_SECTORS, 0, 0, true, NULL),
			  VIRTIO_BLK_S_OK);
	virtio_blk_get_stats(&f->blk, &st1);
	ck_assert_uint_eq(st1.ioerr - st0.ioerr, 6);
	ck_assert_uint_eq(st1.sqes, st0.sqes);          /* none reached the ring */
	img_pristine(f, IMG_SECTORS - 2, 2);
	/* The data buffer of a refused read was not written. */
	ck_assert_uint_eq(gbyte(f, data), 0x99);
	fx_free(f);
}
END_TEST

START_TEST(test_bad_header_len)
{
	uint64_t data, hdr, st;
	struct seg s[3];
	uint32_t ulen;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	data = galloc(f, 4096, 4096);
	gfill(f, data, 0x31, 4096);
	/* Data not a multiple of 512. */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT, 0, data, 100, false, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, 0, data, 513, true, &ulen),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(ulen, 1);
	ck_assert_uint_eq(gbyte(f, data), 0x31);
	img_pristine(f, 0, 2);
	/* Unknown and unimplemented types. */
	ck_assert_uint_eq(do_req(f, 0x1234, 0, data, 512, false, NULL), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_req(f, 10 /* GET_LIFETIME */, 0, data, 512, true, NULL),
			  VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_req(f, 14 /* SECURE_ERASE */, 0, data, 512, false, NULL),
			  VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_OUT | 0x80000000u, 0, data, 512, false, NULL),
			  VIRTIO_BLK_S_UNSUPP);
	img_pristine(f, 0, 2);
	/* A header of 8 bytes only. */
	hdr = new_hdr(f, VIRTIO_BLK_T_IN, 0);
	st = galloc(f, 1, 1);
	s[0] = (struct seg){ hdr, 8, false };
	s[1] = (struct seg){ data, 512, true };
	s[2] = (struct seg){ st, 1, true };
	post_chain(f, s, 3, 0);
	kick(f);
	wait_used(f, 1);
	ck_assert_uint_eq(gbyte(f, st), VIRTIO_BLK_S_IOERR);
	/* No header at all: only a writable status. */
	s[0] = (struct seg){ st, 1, true };
	post_chain(f, s, 1, 0);
	kick(f);
	wait_used(f, 1);
	ck_assert_uint_eq(gbyte(f, st), VIRTIO_BLK_S_IOERR);
	/* The device still works. */
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, 0, data, 512, true, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(dev_status(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fx_free(f);
}
END_TEST

/* Transfers above VIRTIO_BLK_MAX_XFER are refused before any I/O. */
START_TEST(test_oversized)
{
	struct seg s[VIRTIO_BLK_MAX_XFER / RAM_A_SIZE + 3];
	struct virtio_blk_stats st0, st1;
	uint64_t st;
	unsigned i, n = 0;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	st = galloc(f, 1, 1);
	/* 65 descriptors of 4 MiB all over RAM A (the rings too: the device never writes). */
	s[n++] = (struct seg){ new_hdr(f, VIRTIO_BLK_T_OUT, 0), 16, false };
	for (i = 0; i <= VIRTIO_BLK_MAX_XFER / RAM_A_SIZE; i++)
		s[n++] = (struct seg){ RAM_A_GPA, (uint32_t)RAM_A_SIZE, false };
	s[n++] = (struct seg){ st, 1, true };
	virtio_blk_get_stats(&f->blk, &st0);
	post_chain(f, s, n, 0);
	kick(f);
	wait_used(f, 1);
	ck_assert_uint_eq(gbyte(f, st), VIRTIO_BLK_S_IOERR);
	virtio_blk_get_stats(&f->blk, &st1);
	ck_assert_uint_eq(st1.sqes, st0.sqes);
	img_pristine(f, 0, 16);
	fx_free(f);
}
END_TEST

/* A chain the device cannot answer, and chains the core refuses: NEEDS_RESET. */
START_TEST(test_malformed_chains)
{
	uint64_t data, hdr, st;
	struct seg s[3];
	uint16_t loop_head;
	struct virtq_desc d;
	int round;
	FX_OR_SKIP(f, false);

	for (round = 0; round < 4; round++) {
		drv_start(f, FEAT_DEFAULT);
		data = galloc(f, 4096, 4096);
		gfill(f, data, 0x42, 4096);
		hdr = new_hdr(f, VIRTIO_BLK_T_OUT, 0);
		st = galloc(f, 1, 1);
		gfill(f, st, 0xEE, 1);
		switch (round) {
		case 0: /* no writable byte: no place for a status */
			s[0] = (struct seg){ hdr, 16, false };
			s[1] = (struct seg){ data, 512, false };
			post_chain(f, s, 2, 0);
			break;
		case 1: /* a loop: next points back at the head */
			s[0] = (struct seg){ hdr, 16, false };
			s[1] = (struct seg){ data, 512, false };
			loop_head = post_chain(f, s, 2, 0);
			gread(f, DESC_GPA + 16ULL * ((loop_head + 1) % QSIZE), &d, sizeof(d));
			d.flags |= VIRTQ_DESC_F_NEXT;
			d.next = loop_head;
			gwrite(f, DESC_GPA + 16ULL * ((loop_head + 1) % QSIZE), &d, sizeof(d));
			break;
		case 2: /* data outside guest RAM (the MMIO region) */
			s[0] = (struct seg){ hdr, 16, false };
			s[1] = (struct seg){ MMIO_GPA, 512, true };
			s[2] = (struct seg){ st, 1, true };
			post_chain(f, s, 3, 0);
			break;
		case 3: /* writable status followed by readable data */
			s[0] = (struct seg){ hdr, 16, false };
			s[1] = (struct seg){ st, 1, true };
			s[2] = (struct seg){ data, 512, false };
			post_chain(f, s, 3, 0);
			break;
		}
		kick(f);
		wait_status(f, VIRTIO_STATUS_NEEDS_RESET);
		/* Nothing answered, nothing written to the image or the status byte. */
		sleep_us(20000);
		ck_assert_uint_eq(used_idx(f), 0);
		ck_assert_uint_eq(gbyte(f, st), 0xEE);
		img_pristine(f, 0, 8);
		ck_assert_uint_gt(f->msi[0], 0);        /* config interrupt */
		/* Later kicks are ignored until reset. */
		post_req(f, VIRTIO_BLK_T_IN, 0, data, 512, true);
		kick(f);
		sleep_us(20000);
		ck_assert_uint_eq(used_idx(f), 0);
		/* After a reset the device works again. */
		drv_start(f, FEAT_DEFAULT);
		ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, 1, data, 512, true, NULL),
				  VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(gbyte(f, data + 5), img_byte(1, 5));
		check_canaries(f);
	}
	fx_free(f);
}
END_TEST

/* Reset with requests in flight, many times: no crash, no stale completion. */
START_TEST(test_reset_in_flight)
{
	uint64_t data;
	unsigned round, i;
	FX_OR_SKIP(f, false);

	for (round = 0; round < 20; round++) {
		drv_start(f, FEAT_DEFAULT);
		data = galloc(f, 64 * 4096, 4096);
		for (i = 0; i < 64; i++) {
			if (i % 8 == 7)
				(void)post_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
			else
				(void)post_req(f, i % 2 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
					       512 + 8ULL * i, data + 4096ULL * i, 4096, i % 2);
		}
		kick(f);
		if (round % 2)
			sleep_us(200);
		cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
		ck_assert_uint_eq(dev_status(f), 0);
		ck_assert_uint_eq(f->blk.inflight, 0);
		ck_assert_uint_eq(f->blk.sqes_out, 0);
		ck_assert_uint_eq(f->blk.nr_free, VIRTIO_BLK_QUEUE_SIZE);
	}
	drv_start(f, FEAT_DEFAULT);
	data = galloc(f, 512, 512);
	ck_assert_uint_eq(do_req(f, VIRTIO_BLK_T_IN, 7, data, 512, true, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(gbyte(f, data + 9), img_byte(7, 9));
	fx_free(f);
}
END_TEST

static uint64_t stage_sum(const struct virtio_blk_prof *p, enum virtio_blk_stage st)
{
	return p->stage[st].sum_ns;
}

/*
 * Stage accounting: every answered request is timed through each stage
 * (the stages of one request add up to its total exactly), sizes and data
 * segments are counted only for valid transfers, kicks by how many chains
 * they brought, and the in-flight depth after each pop.
 */
START_TEST(test_stage_accounting)
{
	static const uint32_t sizes[4] = { 512, 4096, 64 * 1024 + 512, 1024 * 1024 };
	const struct virtio_blk_prof *p;
	uint64_t data, sum, st;
	struct seg m[4];
	unsigned i;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	p = &f->blk.prof;
	data = galloc(f, 1024 * 1024, 4096);
	/* Kick 1: four reads, 512 B to 1 MiB. */
	for (i = 0; i < 4; i++)
		(void)post_req(f, VIRTIO_BLK_T_IN, 0, data, sizes[i], true);
	kick(f);
	wait_used(f, 4);
	/* Kick 2: one read of two data segments. */
	m[0] = (struct seg){ new_hdr(f, VIRTIO_BLK_T_IN, 8), 16, false };
	m[1] = (struct seg){ data, 512, true };
	m[2] = (struct seg){ data + 4096, 1024, true };
	st = galloc(f, 1, 1);
	m[3] = (struct seg){ st, 1, true };
	post_chain(f, m, 4, 0);
	kick(f);
	wait_used(f, 1);
	ck_assert_uint_eq(gbyte(f, st), VIRTIO_BLK_S_OK);
	/* Kick 3: bad requests, answered at once: no I/O, not in the size histogram. */
	(void)post_req(f, VIRTIO_BLK_T_IN, 0, data, 700, true);
	(void)post_req(f, VIRTIO_BLK_T_IN, IMG_SECTORS, data, 512, true);
	(void)post_req(f, 0x7777, 0, data, 512, true);
	kick(f);
	wait_used(f, 3);
	/* Kick 4: 40 small reads: the 33+ buckets. */
	for (i = 0; i < 40; i++)
		(void)post_req(f, VIRTIO_BLK_T_IN, i, data + 512ULL * i, 512, true);
	kick(f);
	wait_used(f, 40);
	/* The worker stops at reset: the counters are stable from here. */
	cm_wr(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);

	ck_assert_uint_eq(p->kick_runs, 4);
	for (sum = 0, i = 0; i < VIRTIO_BLK_PROF_COUNTS; i++)
		sum += p->per_kick[i];
	ck_assert_uint_eq(sum, 4);
	ck_assert_uint_eq(p->per_kick[0], p->kick_empty);
	/*
	 * A completion run may pop a batch before its kick is seen (a stale
	 * completion signal): that kick then found nothing.
	 */
	if (p->kick_empty == 0) {
		ck_assert_uint_eq(p->per_kick[3], 2);   /* 3-4: kicks 1 and 3 */
		ck_assert_uint_eq(p->per_kick[1], 1);
		ck_assert_uint_eq(p->per_kick[7], 1);
	}
	ck_assert_uint_eq(p->size_hist[0], 1 + 40);
	ck_assert_uint_eq(p->size_hist[2], 1);          /* 1.5 KiB in two segments */
	ck_assert_uint_eq(p->size_hist[3], 1);          /* 4 KiB */
	ck_assert_uint_eq(p->size_hist[8], 1);          /* 64.5 KiB: up to 128 KiB */
	ck_assert_uint_eq(p->size_hist[11], 1);         /* 1 MiB */
	for (sum = 0, i = 0; i < VIRTIO_BLK_PROF_SIZES; i++)
		sum += p->size_hist[i];
	ck_assert_uint_eq(sum, 45);
	ck_assert_uint_eq(p->segs_hist[1], 44);
	ck_assert_uint_eq(p->segs_hist[2], 1);
	/* Depth: 1, 2, 3, 4 in kick 1; 1 in kick 2; 1..40 in kick 4 (the bad ones never queue). */
	ck_assert_uint_eq(p->depth[1], 3);
	ck_assert_uint_eq(p->depth[2], 2);
	ck_assert_uint_eq(p->depth[3], 2 + 2);
	ck_assert_uint_eq(p->depth[7], 40 - 32);
	/* 48 answered, 45 with I/O; each one's stages add up to its total. */
	ck_assert_uint_eq(p->stage[VIRTIO_BLK_ST_POP].n, 48);
	ck_assert_uint_eq(p->stage[VIRTIO_BLK_ST_SUBMIT].n, 45);
	ck_assert_uint_eq(p->stage[VIRTIO_BLK_ST_IO].n, 45);
	ck_assert_uint_eq(p->stage[VIRTIO_BLK_ST_ANSWER].n, 48);
	ck_assert_uint_eq(p->stage[VIRTIO_BLK_ST_TOTAL].n, 48);
	ck_assert_uint_eq(stage_sum(p, VIRTIO_BLK_ST_POP) + stage_sum(p, VIRTIO_BLK_ST_SUBMIT) +
			  stage_sum(p, VIRTIO_BLK_ST_IO) + stage_sum(p, VIRTIO_BLK_ST_ANSWER),
			  stage_sum(p, VIRTIO_BLK_ST_TOTAL));
	for (i = 0; i < VIRTIO_BLK_NR_STAGES; i++) {
		const struct virtio_blk_stage_acc *a = &p->stage[i];

		ck_assert_uint_le(a->max_ns, a->sum_ns);
		ck_assert(a->n == 0 || a->max_ns >= a->sum_ns / a->n);
	}
	ck_assert_uint_gt(stage_sum(p, VIRTIO_BLK_ST_TOTAL), 0);
	/* Every kick after the first followed an interrupt (no EVENT_IDX: none suppressed). */
	ck_assert_uint_eq(p->irq_suppressed, 0);
	ck_assert_uint_ge(p->irq_sent, 4);
	ck_assert_uint_eq(p->stage[VIRTIO_BLK_ST_GUEST].n, 3);
	ck_assert_uint_le(p->inline_done, 45);
	ck_assert_uint_le(p->cq_empty, p->cq_runs);
	ck_assert_uint_eq(f->msi[1], p->irq_sent);
	/* Kept across the reset; logged (VMM_DEBUG) once at destroy, then cleared. */
	drv_start(f, FEAT_DEFAULT);
	ck_assert_uint_eq(p->kick_runs, 4);
	setenv("VMM_DEBUG", "1", 1);
	virtio_pci_destroy(&f->vp);
	f->vp_ready = false;
	virtio_blk_destroy(&f->blk);
	unsetenv("VMM_DEBUG");
	ck_assert_uint_eq(p->kick_runs, 0);
	ck_assert_uint_eq(p->stage[VIRTIO_BLK_ST_TOTAL].n, 0);
	fx_free(f);
}
END_TEST

/* An in-flight limit of 4: 64 requests from one kick go through 4 at a time. */
START_TEST(test_inflight_limit)
{
	struct virtio_blk_stats st0, st1;
	struct req r[64];
	uint64_t data;
	unsigned i;
	FX_OR_SKIP(f, false);

	f->blk.inflight_limit = 4;
	drv_start(f, FEAT_DEFAULT);
	data = galloc(f, 64 * 512, 512);
	virtio_blk_get_stats(&f->blk, &st0);
	for (i = 0; i < 64; i++)
		r[i] = post_req(f, VIRTIO_BLK_T_IN, i, data + 512ULL * i, 512, true);
	kick(f);
	wait_used(f, 64);
	virtio_blk_get_stats(&f->blk, &st1);
	for (i = 0; i < 64; i++) {
		ck_assert_uint_eq(gbyte(f, r[i].status), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(gbyte(f, r[i].data + 100), img_byte(i, 100));
	}
	ck_assert_uint_le(st1.max_inflight, 4);
	ck_assert_uint_ge(st1.starved - st0.starved, 64 / 4 - 1);
	ck_assert_uint_ge(st1.submits - st0.submits, 64 / 4);
	/* A bad limit falls back to the queue size at activation. */
	f->blk.inflight_limit = 0;
	drv_start(f, FEAT_DEFAULT);
	ck_assert_uint_eq(f->blk.inflight_limit, VIRTIO_BLK_QUEUE_SIZE);
	fx_free(f);
}
END_TEST

/*
 * A guest may make one head available many times while it is in flight:
 * every copy is a request of its own, more than the device has slots for
 * (it stops popping and resumes as completions free slots).
 */
START_TEST(test_duplicate_heads)
{
	struct virtio_blk_stats st;
	uint16_t head, k;
	struct seg s[2];
	unsigned round;
	uint64_t st_gpa;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	st_gpa = galloc(f, 1, 1);
	s[0] = (struct seg){ new_hdr(f, VIRTIO_BLK_T_FLUSH, 0), 16, false };
	s[1] = (struct seg){ st_gpa, 1, true };
	head = post_chain(f, s, 2, 0);
	for (round = 0; round < 3; round++) {
		/* 255 more copies (the ring holds QSIZE), kick, then QSIZE more at once. */
		for (k = 0; k < QSIZE - (round == 0); k++) {
			gwrite(f, AVAIL_GPA + 4 + 2ULL * (f->avail_idx % QSIZE), &head, 2);
			f->avail_idx++;
		}
		gwrite(f, AVAIL_GPA + 2, &f->avail_idx, 2);
		kick(f);
		wait_used(f, QSIZE);
		ck_assert_uint_eq(gbyte(f, st_gpa), VIRTIO_BLK_S_OK);
	}
	virtio_blk_get_stats(&f->blk, &st);
	ck_assert_uint_eq(st.flushes, 3 * QSIZE);
	ck_assert_uint_eq(st.requests, 3 * QSIZE);
	ck_assert_uint_le(st.max_inflight, VIRTIO_BLK_QUEUE_SIZE);
	ck_assert_uint_eq(dev_status(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fx_free(f);
}
END_TEST

/* Random headers, sizes and layouts: every request answered with a valid status. */
START_TEST(test_random_requests)
{
	static const uint32_t types[] = { 0, 1, 4, 8, 11, 13, 2, 10, 0xFFFFFFFF };
	uint64_t data;
	unsigned round, i;
	uint32_t seed = 12345;
	FX_OR_SKIP(f, false);

	drv_start(f, FEAT_DEFAULT);
	data = galloc(f, 64 * KiB, 4096);
	for (round = 0; round < 40; round++) {
		struct req r[16];
		uint64_t base = f->heap;

		for (i = 0; i < 16; i++) {
			uint64_t sector;
			uint32_t type, len;

			seed = seed * 1103515245u + 12345u;
			type = types[(seed >> 16) % ARRAY_SIZE(types)];
			seed = seed * 1103515245u + 12345u;
			sector = (seed >> 8) % 4 == 0 ? ((uint64_t)seed << 32 | seed) :
							 (seed >> 12) % (IMG_SECTORS + 8);
			seed = seed * 1103515245u + 12345u;
			len = (seed >> 10) % 3 == 0 ? (seed >> 4) % 4096 :
						      512u * ((seed >> 4) % 9);
			r[i] = post_req(f, type, sector, data + 4096ULL * i, len,
					type != VIRTIO_BLK_T_OUT && type != 11 && type != 13);
		}
		kick(f);
		wait_used(f, 16);
		for (i = 0; i < 16; i++)
			ck_assert_uint_le(gbyte(f, r[i].status), VIRTIO_BLK_S_UNSUPP);
		f->heap = base;
	}
	ck_assert_uint_eq(dev_status(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_init_errors)
{
	struct virtio_blk blk;
	char path[64], err[256];
	int fd;

	memset(&blk, 0, sizeof(blk));
	virtio_blk_destroy(&blk);       /* zeroed: safe */
	virtio_blk_destroy(NULL);

	ck_assert_int_eq(virtio_blk_init(&blk, "/nonexistent/disk.img", false, NULL, err,
					 sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/disk.img"));
	ck_assert_ptr_null(strchr(err, '\n'));
	virtio_blk_destroy(&blk);
	ck_assert_int_eq(virtio_blk_init(&blk, NULL, false, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(virtio_blk_init(&blk, "/tmp", true, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));

	snprintf(path, sizeof(path), "/tmp/vblk-bad-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	/* empty */
	ck_assert_int_eq(virtio_blk_init(&blk, path, false, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "multiple of 512"));
	/* 1000 bytes */
	ck_assert_int_eq(ftruncate(fd, 1000), 0);
	ck_assert_int_eq(virtio_blk_init(&blk, path, true, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "1000"));
	ck_assert_int_eq(blk.fd_open, false);
	/* A tiny err buffer is fine. */
	ck_assert_int_eq(virtio_blk_init(&blk, path, true, NULL, err, 4), -EINVAL);
	ck_assert_uint_le(strlen(err), 3);
	ck_assert_int_eq(virtio_blk_init(&blk, path, true, NULL, NULL, 0), -EINVAL);
	/* 4 KiB: fine, default serial from the inode. */
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	{
		int ret = virtio_blk_init(&blk, path, false, NULL, err, sizeof(err));

		if (ret == -ENOSYS || ret == -EPERM) {
			fprintf(stderr, "SKIP test_init_errors (rest): io_uring unavailable\n");
		} else {
			ck_assert_int_eq(ret, 0);
			ck_assert_uint_eq(blk.capacity, 8);
			ck_assert_mem_eq(blk.serial, "vmm-", 4);
			virtio_blk_destroy(&blk);
			virtio_blk_destroy(&blk);
		}
	}
	/* Read-only permission: read-write open fails, read-only works. */
	if (geteuid() != 0) {
		ck_assert_int_eq(fchmod(fd, 0400), 0);
		ck_assert_int_eq(virtio_blk_init(&blk, path, false, NULL, err, sizeof(err)),
				 -EACCES);
		ck_assert_ptr_nonnull(strstr(err, "read-write"));
	}
	close(fd);
	unlink(path);
}
END_TEST

static Suite *virtio_blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_init_errors);
	tcase_add_test(tc, test_config_space);
	tcase_add_test(tc, test_write_read);
	tcase_add_test(tc, test_any_layout);
	tcase_add_test(tc, test_many_in_flight);
	tcase_add_test(tc, test_flush_and_get_id);
	tcase_add_test(tc, test_get_id_long_serial);
	tcase_add_test(tc, test_discard_write_zeroes);
	tcase_add_test(tc, test_write_zeroes_tmpfs);
	tcase_add_test(tc, test_readonly);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_bad_header_len);
	tcase_add_test(tc, test_oversized);
	tcase_add_test(tc, test_malformed_chains);
	tcase_add_test(tc, test_reset_in_flight);
	tcase_add_test(tc, test_duplicate_heads);
	tcase_add_test(tc, test_inflight_limit);
	tcase_add_test(tc, test_stage_accounting);
	tcase_add_test(tc, test_random_requests);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(virtio_blk_suite);
