/*
 * tests/unit/test_virtio_net.c - virtio-net on a real tap, driven by a test
 * "guest": guest RAM from the memory engine with canary RAM on both sides,
 * the PCI transport programmed through pci_bus_config_* and mem_dispatch
 * on BAR 4, rings and buffers built in guest RAM, kicks through the MMIO
 * notify region, MSI-X observed through the msi send hook. The host side
 * of the tap is an AF_PACKET socket bound to it: it injects frames
 * (host -> guest) and captures what the guest sends (guest -> host).
 * Needs root and /dev/net/tun; without them the tap tests skip loudly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "devices/pci.h"
#include "devices/tap.h"
#include "devices/virtio.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "memory/memory.h"
#include "tests/unit/unit.h"

#define CAN_SIZE        (64 * KiB)
#define CAN_LO_GPA      (1 * MiB - CAN_SIZE)
#define RAM_GPA         (1 * MiB)
#define RAM_SIZE        (8 * MiB)
#define CAN_HI_GPA      (RAM_GPA + RAM_SIZE)
#define CANARY          0xCC
#define BAR_GPA         0x8000000000ULL
#define DEVFN           PCI_DEVFN(5, 0)
#define MSI_ADDR        0xFEE00000ULL
#define MSI_DATA(v)     (0x4100u + (v))
#define VEC_RX          0
#define VEC_TX          1
#define VEC_CFG         2
#define ETH_TEST        0x88B5          /* local experimental ethertype */
#define WAIT_MS         5000
#define QSZ             256
#define GUARD_LEN       64
#define GUARD_BYTE      0xA5
#define MAX_GUARDS      1024
#define FRAME_MAX       2048

static const uint8_t host_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF };

#define F_BASE (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) | \
		VIRTIO_BIT(VIRTIO_NET_F_STATUS))
#define F_MRG  VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)

/* ---- fixture ------------------------------------------------------------------- */

struct gq {
	uint16_t size;
	uint64_t desc, avail, used;
	uint8_t *d;
	uint16_t *a;
	uint8_t *u;
	uint16_t avail_idx, last_used, next_desc;
	uint64_t buf_gpa[QSZ];          /* by head: the first buffer of the chain */
};

struct fx {
	struct mem_space s;
	struct mem_backend *ram, *clo, *chi;
	struct mem_region rram, rclo, rchi;
	struct pci_bus bus;
	struct virtio_net net;
	struct virtio_pci vp;
	int tap, pk;
	char ifname[TAP_NAME_MAX];
	int ifindex;

	unsigned msi[3];                /* by vector, written by the worker */
	unsigned msi_bad;

	uint64_t bar;
	unsigned common, devcfg, notify, notify_mult, msix_cap;
	uint64_t alloc;
	struct gq q[2];
	uint64_t guards[MAX_GUARDS];
	unsigned nguards;
};

/* Whether this host can run the tap tests; prints the skip line once per test. */
static bool tap_usable(const char *test)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		fprintf(stderr, "SKIP: needs root and /dev/net/tun (%s)\n", test);
		return false;
	}
	return true;
}

static void msi_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct fx *f = opaque;

	if (addr != MSI_ADDR || data < MSI_DATA(0) || data > MSI_DATA(2)) {
		__atomic_add_fetch(&f->msi_bad, 1, __ATOMIC_SEQ_CST);
		return;
	}
	__atomic_add_fetch(&f->msi[data - MSI_DATA(0)], 1, __ATOMIC_SEQ_CST);
}

static unsigned msi_count(struct fx *f, unsigned v)
{
	return __atomic_load_n(&f->msi[v], __ATOMIC_SEQ_CST);
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

	ck_assert_int_eq(mem_dispatch(&f->s, f->bar + off, size, false, &v), 0);
	return v;
}

static void bar_wr(struct fx *f, uint64_t off, unsigned size, uint64_t v)
{
	ck_assert_int_eq(mem_dispatch(&f->s, f->bar + off, size, true, &v), 0);
}

static uint8_t status_rd(struct fx *f)
{
	return (uint8_t)bar_rd(f, f->common + VIRTIO_PCI_COMMON_STATUS, 1);
}

static void status_wr(struct fx *f, uint8_t st)
{
	bar_wr(f, f->common + VIRTIO_PCI_COMMON_STATUS, 1, st);
}

static void *hva(struct fx *f, uint64_t gpa, uint64_t len)
{
	void *p = mem_hva(&f->s, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Guest allocator: bump, @align a power of two; never reused within a fixture. */
static uint64_t galloc(struct fx *f, uint64_t len, uint64_t align)
{
	uint64_t gpa = align_up(f->alloc, align);

	ck_assert(gpa + len <= RAM_GPA + RAM_SIZE);
	f->alloc = gpa + len;
	return gpa;
}

static void find_caps(struct fx *f)
{
	unsigned pos = cfg_rd(f, PCI_CAPABILITY_LIST, 1);
	unsigned guard = 0;

	while (pos && guard++ < 48) {
		unsigned id = cfg_rd(f, pos, 1);

		if (id == PCI_CAP_ID_VNDR) {
			unsigned type = cfg_rd(f, pos + VIRTIO_PCI_CAP_CFG_TYPE, 1);
			unsigned off = cfg_rd(f, pos + VIRTIO_PCI_CAP_OFFSET, 4);

			ck_assert_uint_eq(cfg_rd(f, pos + VIRTIO_PCI_CAP_BAR, 1), VIRTIO_PCI_BAR);
			if (type == VIRTIO_PCI_CAP_COMMON_CFG)
				f->common = off;
			else if (type == VIRTIO_PCI_CAP_DEVICE_CFG)
				f->devcfg = off;
			else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
				f->notify = off;
				f->notify_mult = cfg_rd(f, pos + VIRTIO_PCI_CAP_NOTIFY_MULT, 4);
			}
		} else if (id == PCI_CAP_ID_MSIX) {
			f->msix_cap = pos;
		}
		pos = cfg_rd(f, pos + 1, 1);
	}
	ck_assert_uint_ne(f->msix_cap, 0);
	ck_assert_uint_ne(f->notify_mult, 0);
	ck_assert_uint_ne(f->devcfg, 0);
}

static void msix_enable(struct fx *f)
{
	uint32_t tbl = cfg_rd(f, f->msix_cap + PCI_MSIX_TABLE, 4);
	uint64_t t = f->bar + (tbl & ~7u);
	unsigned v;

	ck_assert_uint_eq(tbl & 7, VIRTIO_PCI_BAR);
	for (v = 0; v < 3; v++) {
		uint64_t e = t + 16ULL * v;
		uint64_t val;

		val = (uint32_t)MSI_ADDR;
		ck_assert_int_eq(mem_dispatch(&f->s, e + PCI_MSIX_ENTRY_ADDR_LO, 4, true, &val), 0);
		val = 0;
		ck_assert_int_eq(mem_dispatch(&f->s, e + PCI_MSIX_ENTRY_ADDR_HI, 4, true, &val), 0);
		val = MSI_DATA(v);
		ck_assert_int_eq(mem_dispatch(&f->s, e + PCI_MSIX_ENTRY_DATA, 4, true, &val), 0);
		val = 0;
		ck_assert_int_eq(mem_dispatch(&f->s, e + PCI_MSIX_ENTRY_CTRL, 4, true, &val), 0);
	}
	cfg_wr(f, f->msix_cap + PCI_MSIX_FLAGS, 2,
	       cfg_rd(f, f->msix_cap + PCI_MSIX_FLAGS, 2) | PCI_MSIX_FLAGS_ENABLE);
}

static void set_if_up(const char *name)
{
	struct ifreq ifr;
	char path[128];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FILE *fp;

	/* No IPv6 on the tap: the kernel would send router solicitations into it. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fp = fopen(path, "w");
	if (fp) {
		fputs("1\n", fp);
		fclose(fp);
	}
	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static void set_if_down(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags &= ~IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

/* An ethtool "get" of a boolean feature of the tap (what TUNSETOFFLOAD turned on). */
static unsigned ethtool_get(const char *name, uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&ev;
	ck_assert_int_eq(ioctl(s, SIOCETHTOOL, &ifr), 0);
	close(s);
	return ev.data;
}

static int packet_socket(int ifindex)
{
	struct sockaddr_ll sll;
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	ck_assert_int_ge(s, 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* NULL (after printing SKIP) when this host cannot make a tap. */
static struct fx *fx_new(const char *test, bool with_mac)
{
	struct virtio_net_cfg nc = { .tap_fd = -1, .has_mac = with_mac };
	struct pci_msi_hooks h = { .send = msi_send };
	char err[160];
	struct fx *f;
	int ret;

	if (!tap_usable(test))
		return NULL;
	f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	f->tap = f->pk = -1;
	ret = tap_open(NULL, &f->tap, f->ifname, err, sizeof(err));
	if (ret == -EPERM || ret == -EACCES || ret == -ENOENT || ret == -ENODEV) {
		fprintf(stderr, "SKIP: needs root and /dev/net/tun (%s: %s)\n", test, err);
		free(f);
		return NULL;
	}
	ck_assert_msg(ret == 0, "tap_open: %s", err);
	f->ifindex = (int)if_nametoindex(f->ifname);
	ck_assert_int_gt(f->ifindex, 0);
	set_if_up(f->ifname);
	f->pk = packet_socket(f->ifindex);

	ck_assert_int_eq(mem_space_init(&f->s, "sys"), 0);
	ck_assert_int_eq(mem_backend_create(&f->ram, "ram", RAM_SIZE), 0);
	ck_assert_int_eq(mem_backend_create(&f->clo, "canary-lo", CAN_SIZE), 0);
	ck_assert_int_eq(mem_backend_create(&f->chi, "canary-hi", CAN_SIZE), 0);
	memset(f->clo->host, CANARY, CAN_SIZE);
	memset(f->chi->host, CANARY, CAN_SIZE);
	mem_region_init_ram(&f->rram, "ram", f->ram, 0, RAM_SIZE);
	mem_region_init_ram(&f->rclo, "canary-lo", f->clo, 0, CAN_SIZE);
	mem_region_init_ram(&f->rchi, "canary-hi", f->chi, 0, CAN_SIZE);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->rram, RAM_GPA, 1), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->rclo, CAN_LO_GPA, 1), 0);
	ck_assert_int_eq(mem_region_add(&f->s.root, &f->rchi, CAN_HI_GPA, 1), 0);
	ck_assert_int_eq(pci_bus_init(&f->bus, &f->s, NULL), 0);

	nc.tap_fd = f->tap;
	memcpy(nc.mac, guest_mac, 6);
	ck_assert_int_eq(virtio_net_init(&f->net, &nc), 0);
	ck_assert_int_eq(virtio_pci_init(&f->vp, &f->net.ops, &f->net, &f->s), 0);
	h.opaque = f;
	pci_dev_set_msi_hooks(&f->vp.pci, &h);
	ck_assert_int_eq(pci_bus_add(&f->bus, &f->vp.pci, DEVFN), 0);

	/* BAR 4 (64-bit) at BAR_GPA, memory decoding and bus mastering on. */
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, 4, (uint32_t)BAR_GPA);
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 4, 4, (uint32_t)(BAR_GPA >> 32));
	cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ck_assert(pci_dev_bar_mapped(&f->vp.pci, VIRTIO_PCI_BAR, &f->bar));
	ck_assert_uint_eq(f->bar, BAR_GPA);
	find_caps(f);
	msix_enable(f);
	f->alloc = RAM_GPA;
	return f;
}

static void check_canaries(struct fx *f)
{
	uint64_t bad_lo = 0, bad_hi = 0;

	for (uint64_t i = 0; i < CAN_SIZE; i++) {
		bad_lo += f->clo->host[i] != CANARY;
		bad_hi += f->chi->host[i] != CANARY;
	}
	ck_assert_uint_eq(bad_lo, 0);
	ck_assert_uint_eq(bad_hi, 0);
	for (unsigned g = 0; g < f->nguards; g++) {
		const uint8_t *p = hva(f, f->guards[g], GUARD_LEN);
		unsigned bad = 0;

		for (unsigned i = 0; i < GUARD_LEN; i++)
			bad += p[i] != GUARD_BYTE;
		ck_assert_msg(bad == 0, "guard %u: %u bytes overwritten", g, bad);
	}
}

static void fx_free(struct fx *f)
{
	if (!f)
		return;
	check_canaries(f);
	ck_assert_uint_eq(__atomic_load_n(&f->msi_bad, __ATOMIC_SEQ_CST), 0);
	virtio_pci_destroy(&f->vp);
	virtio_net_destroy(&f->net);
	pci_bus_destroy(&f->bus);
	mem_space_destroy(&f->s);
	mem_backend_destroy(f->ram);
	mem_backend_destroy(f->clo);
	mem_backend_destroy(f->chi);
	if (f->pk >= 0)
		close(f->pk);
	if (f->tap >= 0)
		close(f->tap);
	free(f);
}

/* ---- the guest driver ---------------------------------------------------------- */

static uint64_t host_features(struct fx *f)
{
	uint64_t lo, hi;

	bar_wr(f, f->common + VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	lo = bar_rd(f, f->common + VIRTIO_PCI_COMMON_DF, 4);
	bar_wr(f, f->common + VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	hi = bar_rd(f, f->common + VIRTIO_PCI_COMMON_DF, 4);
	return lo | (hi << 32);
}

static void setup_queue(struct fx *f, unsigned q, uint16_t size)
{
	struct gq *g = &f->q[q];
	uint64_t c = f->common;

	memset(g, 0, sizeof(*g));
	g->size = size;
	g->desc = galloc(f, 16ULL * size, 4096);
	g->avail = galloc(f, 6ULL + 2ULL * size, 4096);
	g->used = galloc(f, 6ULL + 8ULL * size, 4096);
	g->d = hva(f, g->desc, 16ULL * size);
	g->a = hva(f, g->avail, 6ULL + 2ULL * size);
	g->u = hva(f, g->used, 6ULL + 8ULL * size);
	memset(g->d, 0, 16ULL * size);
	memset(g->a, 0, 6ULL + 2ULL * size);
	memset(g->u, 0, 6ULL + 8ULL * size);
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	ck_assert_uint_eq(bar_rd(f, c + VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTIO_NET_QUEUE_SIZE);
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_MSIX, 2, q == 0 ? VEC_RX : VEC_TX);
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)g->desc);
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(g->desc >> 32));
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)g->avail);
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(g->avail >> 32));
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)g->used);
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(g->used >> 32));
	bar_wr(f, c + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	ck_assert_uint_eq(bar_rd(f, c + VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

/* Reset, negotiate @features, set up both queues with @rx_size / QSZ entries, DRIVER_OK. */
static void drv_start(struct fx *f, uint64_t features, uint16_t rx_size)
{
	uint8_t st;

	status_wr(f, 0);
	ck_assert_uint_eq(status_rd(f), 0);
	status_wr(f, VIRTIO_STATUS_ACKNOWLEDGE);
	status_wr(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(features & ~host_features(f), 0);
	bar_wr(f, f->common + VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	bar_wr(f, f->common + VIRTIO_PCI_COMMON_GF, 4, (uint32_t)features);
	bar_wr(f, f->common + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	bar_wr(f, f->common + VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(features >> 32));
	st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	status_wr(f, st);
	ck_assert_uint_eq(status_rd(f), st);
	bar_wr(f, f->common + VIRTIO_PCI_COMMON_MSIX, 2, VEC_CFG);
	setup_queue(f, VIRTIO_NET_RXQ, rx_size);
	setup_queue(f, VIRTIO_NET_TXQ, QSZ);
	st |= VIRTIO_STATUS_DRIVER_OK;
	status_wr(f, st);
	ck_assert_uint_eq(status_rd(f), st);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Write a chain of @n descriptors and make it available (no kick). Returns the head. */
static uint16_t add_chain(struct gq *g, const struct seg *s, unsigned n)
{
	uint16_t head = g->next_desc % g->size;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((g->next_desc + i) % g->size);
		struct virtq_desc d = {
			.addr = s[i].gpa, .len = s[i].len,
			.flags = (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)((g->next_desc + i + 1) % g->size),
		};

		memcpy(g->d + 16 * (size_t)idx, &d, sizeof(d));
	}
	g->next_desc = (uint16_t)((g->next_desc + n) % g->size);
	g->buf_gpa[head] = s[0].gpa;
	g->a[2 + g->avail_idx % g->size] = head;
	g->avail_idx++;
	__atomic_store_n(&g->a[1], g->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static void kick(struct fx *f, unsigned q)
{
	bar_wr(f, f->notify + (uint64_t)q * f->notify_mult, 2, q);
}

static uint16_t used_idx(struct gq *g)
{
	return __atomic_load_n((uint16_t *)(g->u + 2), __ATOMIC_ACQUIRE);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait until @n used entries are pending on @g; false on timeout. */
static bool wait_used(struct gq *g, unsigned n, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while ((uint16_t)(used_idx(g) - g->last_used) < n) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

static void next_used(struct gq *g, uint32_t *id, uint32_t *len)
{
	uint32_t e[2];

	memcpy(e, g->u + 4 + 8 * (size_t)(g->last_used % g->size), sizeof(e));
	g->last_used++;
	*id = e[0];
	*len = e[1];
}

static bool wait_status(struct fx *f, uint8_t bit, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (!(status_rd(f) & bit)) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* Post @n receive buffers of @len bytes (one writable descriptor each), guarded. */
static void post_rx(struct fx *f, unsigned n, uint32_t len)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = galloc(f, len + GUARD_LEN, 64);
		struct seg s = { gpa, len, true };

		memset(hva(f, gpa, len), 0xEE, len);
		memset(hva(f, gpa + len, GUARD_LEN), GUARD_BYTE, GUARD_LEN);
		ck_assert_uint_lt(f->nguards, MAX_GUARDS);
		f->guards[f->nguards++] = gpa + len;
		add_chain(&f->q[VIRTIO_NET_RXQ], &s, 1);
	}
}

/* ---- the host side --------------------------------------------------------------- */

/* A test frame: dst, src, ETH_TEST, then a pattern seeded by @seq. */
static size_t make_frame(uint8_t *b, size_t len, const uint8_t dst[6], unsigned seq)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, host_mac, 6);
	b[12] = ETH_TEST >> 8;
	b[13] = ETH_TEST & 0xFF;
	b[14] = (uint8_t)seq;
	for (size_t i = 15; i < len; i++)
		b[i] = (uint8_t)(i * 7 + seq * 13);
	return len;
}

static void inject(struct fx *f, size_t len, unsigned seq)
{
	uint8_t b[FRAME_MAX];

	ck_assert_uint_le(len, sizeof(b));
	make_frame(b, len, guest_mac, seq);
	ck_assert_int_eq(send(f->pk, b, len, 0), (ssize_t)len);
}

/* Next frame of ours the guest sent; 0 on timeout. */
static size_t capture(struct fx *f, uint8_t *buf, size_t cap, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = f->pk, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		int64_t left = (int64_t)(end - now_ms());
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		n = recvfrom(f->pk, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 14 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (buf[12] != (ETH_TEST >> 8) || buf[13] != (ETH_TEST & 0xFF))
			continue;
		return (size_t)n;
	}
}

/*
 * Read the next frame of ours from the receive queue, skipping any other
 * frame the kernel put on the tap. Copies header (12 bytes) + frame into
 * @out, returns its length; *nbuf gets num_buffers, lens[] the used lens.
 */
static size_t rx_frame(struct fx *f, uint8_t *out, size_t cap, unsigned *nbuf, uint32_t *lens)
{
	struct gq *g = &f->q[VIRTIO_NET_RXQ];

	for (;;) {
		uint32_t id, len;
		size_t total = 0;
		uint16_t nb;
		uint8_t *p;

		ck_assert_msg(wait_used(g, 1, WAIT_MS), "no frame received");
		next_used(g, &id, &len);
		ck_assert_uint_lt(id, g->size);
		ck_assert_uint_ge(len, VIRTIO_NET_HDR_LEN);
		p = hva(f, g->buf_gpa[id], len);
		nb = (uint16_t)(p[10] | (p[11] << 8));
		ck_assert_uint_ge(nb, 1);
		ck_assert_uint_le(len, cap);
		memcpy(out, p, len);
		total = len;
		lens[0] = len;
		for (unsigned i = 1; i < nb; i++) {
			ck_assert_msg(wait_used(g, 1, WAIT_MS), "merged buffer %u missing", i);
			next_used(g, &id, &len);
			ck_assert_uint_lt(id, g->size);
			ck_assert_uint_le(total + len, cap);
			memcpy(out + total, hva(f, g->buf_gpa[id], len), len);
			if (i < 8)
				lens[i] = len;
			total += len;
		}
		*nbuf = nb;
		if (total >= VIRTIO_NET_HDR_LEN + 14 && out[12 + 12] == (ETH_TEST >> 8) &&
		    out[12 + 13] == (ETH_TEST & 0xFF))
			return total;
	}
}

static void check_rx_frame(const uint8_t *got, size_t got_len, size_t len, unsigned seq)
{
	uint8_t want[FRAME_MAX];

	make_frame(want, len, guest_mac, seq);
	ck_assert_uint_eq(got_len, VIRTIO_NET_HDR_LEN + len);
	ck_assert_int_eq(memcmp(got + VIRTIO_NET_HDR_LEN, want, len), 0);
}

static struct virtio_net_stats stats(struct fx *f)
{
	struct virtio_net_stats s;

	virtio_net_stats(&f->net, &s);
	return s;
}

/* ---- tap ----------------------------------------------------------------------- */

START_TEST(test_tap_errors)
{
	char err[160] = "", name[TAP_NAME_MAX];
	int fd = 123, p[2];

	ck_assert_int_eq(tap_open("this-name-is-far-too-long", &fd, NULL, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(fd, -1);
	ck_assert_ptr_nonnull(strstr(err, "longer"));
	ck_assert_int_eq(tap_open("a/b", &fd, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(tap_adopt_fd(-1, NULL, err, sizeof(err)), -EBADF);
	ck_assert_int_eq(tap_adopt_fd(1000000, NULL, NULL, 0), -EBADF);
	ck_assert_int_eq(pipe(p), 0);
	err[0] = '\0';
	ck_assert_int_eq(tap_adopt_fd(p[0], name, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a tap"));
	ck_assert_int_eq(tap_set_offload(p[0], 0x100), -EINVAL);
	ck_assert_int_lt(tap_set_offload(p[0], TAP_OFFLOAD_CSUM), 0);
	ck_assert_uint_eq(tap_probe_offload(p[0]), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_tap_open_adopt)
{
	char err[160], name[TAP_NAME_MAX], name2[TAP_NAME_MAX];
	int fd, fd2, fl;
	unsigned ok;

	if (!tap_usable("test_tap_open_adopt"))
		return;
	fd = tap_open(NULL, &fd2, name, err, sizeof(err));
	if (fd == -EPERM || fd == -EACCES) {
		fprintf(stderr, "SKIP: needs root and /dev/net/tun (test_tap_open_adopt: %s)\n", err);
		return;
	}
	ck_assert_msg(fd == 0, "%s", err);
	fd = fd2;
	ck_assert_int_eq(strncmp(name, "tap", 3), 0);
	fl = fcntl(fd, F_GETFL);
	ck_assert(fl & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* A tap fd is idle: nothing to read, and no blocking. */
	{
		uint8_t b[64];

		ck_assert_int_eq(read(fd, b, sizeof(b)), -1);
		ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	}
	/* The same interface cannot be attached twice (single queue). */
	ck_assert_int_eq(tap_open(name, &fd2, NULL, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, name));
	/* An inherited fd (--net fd=N) is accepted and reports its interface. */
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
	ck_assert_msg(tap_adopt_fd(fd, name2, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(name, name2);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	/* Offloads: CSUM is universal; TSO without CSUM is refused by the kernel. */
	ok = tap_probe_offload(fd);
	ck_assert(ok & TAP_OFFLOAD_CSUM);
	ck_assert_int_eq(tap_set_offload(fd, TAP_OFFLOAD_TSO4), -EINVAL);
	ck_assert_int_eq(tap_set_offload(fd, ok), 0);
	ck_assert_int_eq(tap_set_offload(fd, 0), 0);
	close(fd);
}
END_TEST

/* ---- device ---------------------------------------------------------------------- */

START_TEST(test_net_init_errors)
{
	struct virtio_net n;
	struct virtio_net_cfg c = { .tap_fd = -1 };
	int p[2];

	ck_assert_int_eq(virtio_net_init(&n, &c), -EINVAL);
	virtio_net_destroy(&n);
	ck_assert_int_eq(virtio_net_init(&n, NULL), -EINVAL);
	ck_assert_int_eq(pipe(p), 0);
	c.tap_fd = p[0];
	c.has_mac = true;
	c.mac[0] = 0x01;        /* multicast */
	ck_assert_int_eq(virtio_net_init(&n, &c), -EINVAL);
	/* Default MAC: unicast, locally administered; no tap offloads -> no GUEST_*. */
	c.has_mac = false;
	ck_assert_int_eq(virtio_net_init(&n, &c), 0);
	ck_assert_uint_eq(n.mac[0] & 3, 2);
	ck_assert_uint_eq(n.ops.device_id, VIRTIO_ID_NET);
	ck_assert_uint_eq(n.ops.num_queues, 2);
	ck_assert_uint_eq(n.ops.features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM), 0);
	ck_assert_uint_eq(n.ops.features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4), 0);
	ck_assert_uint_ne(n.ops.features & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4), 0);
	virtio_net_destroy(&n);
	virtio_net_destroy(&n);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_net_features_config)
{
	struct fx *f = fx_new("test_net_features_config", true);
	uint64_t hf;
	unsigned i;

	if (!f)
		return;
	ck_assert_uint_eq(cfg_rd(f, PCI_VENDOR_ID, 2), 0x1AF4);
	ck_assert_uint_eq(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1041);
	ck_assert_uint_eq(cfg_rd(f, PCI_REVISION_ID, 4) >> 8, 0x020000);
	hf = host_features(f);
	ck_assert_uint_ne(hf & VIRTIO_BIT(VIRTIO_F_VERSION_1), 0);
	ck_assert_uint_ne(hf & VIRTIO_BIT(VIRTIO_NET_F_MAC), 0);
	ck_assert_uint_ne(hf & VIRTIO_BIT(VIRTIO_NET_F_STATUS), 0);
	ck_assert_uint_ne(hf & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF), 0);
	ck_assert_uint_ne(hf & VIRTIO_BIT(VIRTIO_NET_F_CSUM), 0);
	ck_assert_uint_ne(hf & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4), 0);
	ck_assert_uint_ne(hf & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6), 0);
	ck_assert_uint_eq(hf & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ), 0);
	ck_assert_uint_eq(hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO), 0);
	ck_assert_uint_eq(hf & VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO), 0);
	ck_assert_uint_eq(hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN), 0);
	ck_assert_uint_eq(!!(hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)),
			  !!(f->net.tap_offload_ok & TAP_OFFLOAD_CSUM));
	ck_assert_uint_eq(!!(hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4)),
			  !!(f->net.tap_offload_ok & TAP_OFFLOAD_TSO4));
	ck_assert_uint_eq(bar_rd(f, f->common + VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	for (i = 0; i < 6; i++)
		ck_assert_uint_eq(bar_rd(f, f->devcfg + VIRTIO_NET_CFG_MAC + i, 1), guest_mac[i]);
	ck_assert_uint_eq(bar_rd(f, f->devcfg + VIRTIO_NET_CFG_STATUS, 2), VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(bar_rd(f, f->devcfg + VIRTIO_NET_CFG_MAX_PAIRS, 2), 1);
	/* 1.x drivers must not write the MAC: a write changes nothing. */
	bar_wr(f, f->devcfg, 1, 0x77);
	ck_assert_uint_eq(bar_rd(f, f->devcfg, 1), guest_mac[0]);
	/* Negotiating the offloads sets the tap's: the device starts. */
	drv_start(f, F_BASE | (hf & (VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
				     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
				     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6))), QSZ);
	ck_assert_uint_eq(status_rd(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* ... and the tap's: the kernel may now hand it partial checksums and TSO frames. */
	if (hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM))
		ck_assert_uint_eq(ethtool_get(f->ifname, ETHTOOL_GTXCSUM), 1);
	if (hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4))
		ck_assert_uint_eq(ethtool_get(f->ifname, ETHTOOL_GTSO), 1);
	/* A reset takes them back; without GUEST_CSUM, TSO alone does not enable them. */
	status_wr(f, 0);
	ck_assert_uint_eq(ethtool_get(f->ifname, ETHTOOL_GTXCSUM), 0);
	ck_assert_uint_eq(ethtool_get(f->ifname, ETHTOOL_GTSO), 0);
	drv_start(f, F_BASE | (hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4)), QSZ);
	ck_assert_uint_eq(ethtool_get(f->ifname, ETHTOOL_GTXCSUM), 0);
	ck_assert_uint_eq(ethtool_get(f->ifname, ETHTOOL_GTSO), 0);
	fx_free(f);
}
END_TEST

/* Guest -> host: three layouts of header and frame. */
START_TEST(test_net_tx)
{
	struct fx *f = fx_new("test_net_tx", true);
	uint8_t frame[3][FRAME_MAX], got[FRAME_MAX];
	static const size_t len[3] = { 60, 1000, 1514 };
	const uint8_t dst[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct gq *g;
	struct virtio_net_stats s;
	unsigned i;

	if (!f)
		return;
	drv_start(f, F_BASE | F_MRG | VIRTIO_BIT(VIRTIO_NET_F_CSUM), QSZ);
	g = &f->q[VIRTIO_NET_TXQ];
	for (i = 0; i < 3; i++) {
		uint64_t gpa = galloc(f, VIRTIO_NET_HDR_LEN + len[i], 64);
		uint8_t *p = hva(f, gpa, VIRTIO_NET_HDR_LEN + len[i]);

		make_frame(frame[i], len[i], dst, 100 + i);
		memset(p, 0, VIRTIO_NET_HDR_LEN);
		memcpy(p + VIRTIO_NET_HDR_LEN, frame[i], len[i]);
		if (i == 0) {
			/* header alone, then the frame */
			struct seg sg[2] = { { gpa, VIRTIO_NET_HDR_LEN, false },
					     { gpa + VIRTIO_NET_HDR_LEN, (uint32_t)len[i], false } };

			add_chain(g, sg, 2);
		} else if (i == 1) {
			/* header and frame in one buffer */
			struct seg sg = { gpa, (uint32_t)(VIRTIO_NET_HDR_LEN + len[i]), false };

			add_chain(g, &sg, 1);
		} else {
			/* the header itself split, the frame in three pieces */
			struct seg sg[4] = { { gpa, 5, false }, { gpa + 5, 100, false },
					     { gpa + 105, 1, false },
					     { gpa + 106, (uint32_t)(VIRTIO_NET_HDR_LEN + len[i] - 106),
					       false } };

			add_chain(g, sg, 4);
		}
	}
	kick(f, VIRTIO_NET_TXQ);
	ck_assert(wait_used(g, 3, WAIT_MS));
	for (i = 0; i < 3; i++) {
		uint32_t id, ulen;

		next_used(g, &id, &ulen);
		ck_assert_uint_eq(ulen, 0);
	}
	for (i = 0; i < 3; i++) {
		size_t n = capture(f, got, sizeof(got), WAIT_MS);

		ck_assert_uint_eq(n, len[i]);
		ck_assert_int_eq(memcmp(got, frame[i], n), 0);
	}
	s = stats(f);
	ck_assert_uint_eq(s.tx_frames, 3);
	ck_assert_uint_eq(s.tx_bytes, 60 + 1000 + 1514);
	ck_assert_uint_eq(s.tx_dropped + s.tx_errors, 0);
	ck_assert_uint_ge(msi_count(f, VEC_TX), 1);
	ck_assert_uint_eq(status_rd(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fx_free(f);
}
END_TEST

/* Host -> guest without mergeable buffers: one buffer holds header and frame. */
START_TEST(test_net_rx)
{
	struct fx *f = fx_new("test_net_rx", true);
	static const size_t len[3] = { 60, 200, 1514 };
	uint8_t got[4096];
	uint32_t lens[8];
	unsigned i, nb;

	if (!f)
		return;
	drv_start(f, F_BASE, QSZ);
	post_rx(f, 8, 1526);
	kick(f, VIRTIO_NET_RXQ);
	for (i = 0; i < 3; i++)
		inject(f, len[i], i + 1);
	for (i = 0; i < 3; i++) {
		size_t n = rx_frame(f, got, sizeof(got), &nb, lens);

		ck_assert_uint_eq(nb, 1);
		ck_assert_uint_eq(lens[0], VIRTIO_NET_HDR_LEN + len[i]);
		ck_assert_uint_eq(got[0], 0);   /* flags: no GUEST_CSUM */
		ck_assert_uint_eq(got[1], VIRTIO_NET_HDR_GSO_NONE);
		check_rx_frame(got, n, len[i], i + 1);
	}
	ck_assert_uint_ge(msi_count(f, VEC_RX), 1);
	ck_assert_uint_ge(stats(f).rx_frames, 3);
	ck_assert_uint_eq(status_rd(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fx_free(f);
}
END_TEST

/* MRG_RXBUF: a frame larger than one buffer spans several, num_buffers says how many. */
START_TEST(test_net_rx_mrg)
{
	struct fx *f = fx_new("test_net_rx_mrg", true);
	uint8_t got[4096];
	uint32_t lens[8];
	unsigned nb;
	size_t n;

	if (!f)
		return;
	drv_start(f, F_BASE | F_MRG, QSZ);
	post_rx(f, 16, 512);
	kick(f, VIRTIO_NET_RXQ);
	inject(f, 1400, 7);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	ck_assert_uint_eq(nb, 3);
	ck_assert_uint_eq(lens[0], 512);
	ck_assert_uint_eq(lens[1], 512);
	ck_assert_uint_eq(lens[2], VIRTIO_NET_HDR_LEN + 1400 - 1024);
	check_rx_frame(got, n, 1400, 7);
	/* A small one after it takes one buffer. */
	inject(f, 100, 8);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	ck_assert_uint_eq(nb, 1);
	check_rx_frame(got, n, 100, 8);
	fx_free(f);
}
END_TEST

/* No buffers: frames wait in the tap, none is lost, and they arrive in order once posted. */
START_TEST(test_net_rx_waits_for_buffers)
{
	struct fx *f = fx_new("test_net_rx_waits_for_buffers", true);
	struct gq *g;
	uint8_t got[4096];
	uint32_t lens[8];
	unsigned nb;
	size_t n;

	if (!f)
		return;
	drv_start(f, F_BASE | F_MRG, QSZ);
	g = &f->q[VIRTIO_NET_RXQ];
	inject(f, 300, 1);
	inject(f, 400, 2);
	sleep_ms(200);
	ck_assert_uint_eq(used_idx(g), 0);
	ck_assert_uint_eq(stats(f).rx_dropped, 0);
	post_rx(f, 2, 2048);
	kick(f, VIRTIO_NET_RXQ);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	check_rx_frame(got, n, 300, 1);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	check_rx_frame(got, n, 400, 2);

	/* Merged frame with too few buffers: it waits for the third one. */
	post_rx(f, 2, 512);
	kick(f, VIRTIO_NET_RXQ);
	sleep_ms(50);
	inject(f, 1400, 3);
	sleep_ms(200);
	ck_assert_uint_eq((uint16_t)(used_idx(g) - g->last_used), 0);
	post_rx(f, 1, 512);
	kick(f, VIRTIO_NET_RXQ);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	ck_assert_uint_eq(nb, 3);
	check_rx_frame(got, n, 1400, 3);
	ck_assert_uint_eq(stats(f).rx_dropped, 0);
	fx_free(f);
}
END_TEST

/* Too big for its buffer: dropped and counted; the buffer serves the next frame. */
START_TEST(test_net_rx_too_big)
{
	struct fx *f = fx_new("test_net_rx_too_big", true);
	uint8_t got[4096];
	uint32_t lens[8];
	unsigned nb;
	size_t n;

	if (!f)
		return;
	drv_start(f, F_BASE, QSZ);
	post_rx(f, 1, 200);
	kick(f, VIRTIO_NET_RXQ);
	inject(f, 600, 1);
	inject(f, 100, 2);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	check_rx_frame(got, n, 100, 2);
	ck_assert_uint_ge(stats(f).rx_dropped, 1);

	/* Mergeable, but the whole ring (4 x 64 bytes) cannot hold it. */
	drv_start(f, F_BASE | F_MRG, 4);
	post_rx(f, 4, 64);
	kick(f, VIRTIO_NET_RXQ);
	inject(f, 1000, 3);
	inject(f, 40, 4);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	ck_assert_uint_eq(nb, 1);
	check_rx_frame(got, n, 40, 4);
	ck_assert_uint_ge(stats(f).rx_dropped, 2);
	ck_assert_uint_eq(status_rd(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fx_free(f);
}
END_TEST

/* One valid frame through the transmit queue (after a reset, to show the device recovered). */
static void tx_one(struct fx *f, unsigned seq)
{
	const uint8_t dst[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	uint8_t frame[100], got[FRAME_MAX];
	uint64_t gpa = galloc(f, VIRTIO_NET_HDR_LEN + sizeof(frame), 64);
	uint8_t *p = hva(f, gpa, VIRTIO_NET_HDR_LEN + sizeof(frame));
	struct seg sg = { gpa, VIRTIO_NET_HDR_LEN + sizeof(frame), false };
	struct gq *g = &f->q[VIRTIO_NET_TXQ];
	uint32_t id, len;
	size_t n;

	make_frame(frame, sizeof(frame), dst, seq);
	memset(p, 0, VIRTIO_NET_HDR_LEN);
	memcpy(p + VIRTIO_NET_HDR_LEN, frame, sizeof(frame));
	add_chain(g, &sg, 1);
	kick(f, VIRTIO_NET_TXQ);
	ck_assert(wait_used(g, 1, WAIT_MS));
	next_used(g, &id, &len);
	ck_assert_uint_eq(len, 0);
	/* Skip frames of ours sent earlier (the fuzz test's random chains may carry some). */
	do
		n = capture(f, got, sizeof(got), WAIT_MS);
	while (n && (n != sizeof(frame) || memcmp(got, frame, n)));
	ck_assert_uint_eq(n, sizeof(frame));
}

/* Transmit chains that break the protocol: NEEDS_RESET, then a reset brings it back. */
START_TEST(test_net_tx_malformed)
{
	struct fx *f = fx_new("test_net_tx_malformed", true);
	unsigned c;

	if (!f)
		return;
	for (c = 0; c < 5; c++) {
		uint64_t gpa = galloc(f, 256, 64);
		unsigned cfg_irqs;
		struct seg sg[2];
		unsigned n = 1;

		drv_start(f, F_BASE | F_MRG, QSZ);
		memset(hva(f, gpa, 256), 0, 256);
		switch (c) {
		case 0: /* shorter than the header */
			sg[0] = (struct seg){ gpa, 8, false };
			break;
		case 1: /* a device-writable segment */
			sg[0] = (struct seg){ gpa, 12, false };
			sg[1] = (struct seg){ gpa + 64, 100, true };
			n = 2;
			break;
		case 2: /* outside guest RAM */
			sg[0] = (struct seg){ 0x40000000, 100, false };
			break;
		case 3: /* wrapping */
			sg[0] = (struct seg){ 0xFFFFFFFFFFFFFF00ULL, 0x1000, false };
			break;
		default: /* writable only */
			sg[0] = (struct seg){ gpa, 100, true };
			break;
		}
		cfg_irqs = msi_count(f, VEC_CFG);
		add_chain(&f->q[VIRTIO_NET_TXQ], sg, n);
		kick(f, VIRTIO_NET_TXQ);
		ck_assert_msg(wait_status(f, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS), "case %u", c);
		ck_assert_uint_gt(msi_count(f, VEC_CFG), cfg_irqs);
		ck_assert_uint_eq(stats(f).tx_frames, 0);
		/* The device stopped using the queue: a later good chain is not sent. */
		{
			uint64_t ok = galloc(f, 12 + 100, 64);
			struct seg good = { ok, 12 + 100, false };

			memset(hva(f, ok, 12), 0, 12);
			make_frame(hva(f, ok + 12, 100), 100, host_mac, 40 + c);
			add_chain(&f->q[VIRTIO_NET_TXQ], &good, 1);
			kick(f, VIRTIO_NET_TXQ);
		}
		sleep_ms(30);
		ck_assert_uint_eq(used_idx(&f->q[VIRTIO_NET_TXQ]), 0);
		ck_assert_uint_eq(stats(f).tx_frames, 0);
	}
	drv_start(f, F_BASE | F_MRG, QSZ);
	ck_assert_uint_eq(status_rd(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	tx_one(f, 9);
	ck_assert_uint_eq(stats(f).tx_frames, 1);
	fx_free(f);
}
END_TEST

/* Bad but well-formed transmit requests: dropped and counted, the queue keeps going. */
START_TEST(test_net_tx_dropped)
{
	struct fx *f = fx_new("test_net_tx_dropped", true);
	struct gq *g;
	uint64_t big;
	unsigned c;

	if (!f)
		return;
	/* No CSUM, no HOST_TSO: headers asking for them are refused. */
	drv_start(f, F_BASE, QSZ);
	g = &f->q[VIRTIO_NET_TXQ];
	for (c = 0; c < 5; c++) {
		uint64_t gpa = galloc(f, 12 + 100, 64);
		uint8_t *p = hva(f, gpa, 12 + 100);
		struct seg sg = { gpa, 12 + 100, false };

		memset(p, 0, 12);
		make_frame(p + 12, 100, host_mac, 50 + c);
		switch (c) {
		case 0:
			p[1] = VIRTIO_NET_HDR_GSO_TCPV4;
			break;
		case 1:
			p[1] = VIRTIO_NET_HDR_GSO_TCPV6;
			break;
		case 2:
			p[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			break;
		case 3:
			p[1] = VIRTIO_NET_HDR_GSO_UDP;
			break;
		default: /* header and a frame too short for Ethernet */
			sg.len = 12 + 6;
			break;
		}
		add_chain(g, &sg, 1);
	}
	/* Larger than any frame (70000 bytes). */
	big = galloc(f, 70000, 64);
	memset(hva(f, big, 70000), 0, 70000);
	{
		struct seg sg = { big, 70000, false };

		add_chain(g, &sg, 1);
	}
	kick(f, VIRTIO_NET_TXQ);
	ck_assert(wait_used(g, 6, WAIT_MS));
	for (c = 0; c < 6; c++) {
		uint32_t id, len;

		next_used(g, &id, &len);
		ck_assert_uint_eq(len, 0);
	}
	ck_assert_uint_eq(stats(f).tx_dropped, 6);
	ck_assert_uint_eq(stats(f).tx_frames, 0);
	ck_assert_uint_eq(status_rd(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* The tap refuses frames while its interface is down: an error, not a guest fault. */
	set_if_down(f->ifname);
	{
		uint64_t gpa = galloc(f, 12 + 100, 64);
		struct seg sg = { gpa, 12 + 100, false };
		uint32_t id, len;

		memset(hva(f, gpa, 12), 0, 12);
		make_frame(hva(f, gpa + 12, 100), 100, host_mac, 59);
		add_chain(g, &sg, 1);
		kick(f, VIRTIO_NET_TXQ);
		ck_assert(wait_used(g, 1, WAIT_MS));
		next_used(g, &id, &len);
		ck_assert_uint_eq(len, 0);
	}
	ck_assert_uint_eq(stats(f).tx_errors, 1);
	ck_assert_uint_eq(stats(f).tx_frames, 0);
	set_if_up(f->ifname);
	ck_assert_uint_eq(status_rd(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	tx_one(f, 60);
	ck_assert_uint_eq(stats(f).tx_frames, 1);
	fx_free(f);
}
END_TEST

/* Receive chains that break the protocol: NEEDS_RESET once a frame needs them. */
START_TEST(test_net_rx_malformed)
{
	struct fx *f = fx_new("test_net_rx_malformed", true);
	uint8_t got[4096];
	uint32_t lens[8];
	unsigned c, nb;
	size_t n;

	if (!f)
		return;
	for (c = 0; c < 3; c++) {
		uint64_t gpa = galloc(f, 2048, 64);
		struct seg sg[2];
		unsigned cnt = 1;

		drv_start(f, F_BASE | (c == 2 ? F_MRG : 0), QSZ);
		if (c == 0) {
			sg[0] = (struct seg){ gpa, 1526, false };       /* readable */
		} else if (c == 1) {
			sg[0] = (struct seg){ gpa, 8, true };           /* shorter than the header */
		} else {
			/* MRG: a good first buffer, then a tiny one */
			sg[0] = (struct seg){ gpa, 512, true };
			add_chain(&f->q[VIRTIO_NET_RXQ], sg, 1);
			sg[0] = (struct seg){ gpa + 1024, 4, true };
		}
		add_chain(&f->q[VIRTIO_NET_RXQ], sg, cnt);
		kick(f, VIRTIO_NET_RXQ);
		inject(f, 1000, 20 + c);
		ck_assert_msg(wait_status(f, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS), "case %u", c);
		sleep_ms(20);
		ck_assert_uint_eq(used_idx(&f->q[VIRTIO_NET_RXQ]), 0);
	}
	drv_start(f, F_BASE, QSZ);
	post_rx(f, 4, 1526);
	kick(f, VIRTIO_NET_RXQ);
	inject(f, 100, 30);
	n = rx_frame(f, got, sizeof(got), &nb, lens);
	check_rx_frame(got, n, 100, 30);
	fx_free(f);
}
END_TEST

/*
 * Receive checksum offload, end to end: a UDP/IPv4 frame injected with a
 * partial checksum (PACKET_VNET_HDR). With GUEST_CSUM the tap hands it on
 * as NEEDS_CSUM; without it the kernel completes the checksum first.
 */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

static size_t make_udp(uint8_t *b, unsigned payload)
{
	static const uint8_t src[4] = { 10, 0, 0, 1 }, dst[4] = { 10, 0, 0, 2 };
	size_t ulen = 8 + payload, ilen = 20 + ulen;
	uint32_t ps;
	uint8_t *ip = b + 14, *udp = ip + 20;

	memcpy(b, guest_mac, 6);
	memcpy(b + 6, host_mac, 6);
	b[12] = 0x08;
	b[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ilen >> 8);
	ip[3] = (uint8_t)ilen;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	{
		uint16_t c = (uint16_t)~csum_fold(csum_add(0, ip, 20));

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	udp[0] = 0x30;
	udp[1] = 0x39;
	udp[2] = 0x30;
	udp[3] = 0x3A;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	for (unsigned i = 0; i < payload; i++)
		udp[8 + i] = (uint8_t)(i * 3 + 1);
	/* Partial checksum convention: the field holds the folded pseudo-header sum. */
	ps = csum_add(0, ip + 12, 8) + 17 + (uint32_t)ulen;
	udp[6] = (uint8_t)(csum_fold(ps) >> 8);
	udp[7] = (uint8_t)csum_fold(ps);
	return 14 + ilen;
}

static bool udp_csum_ok(const uint8_t *frame, size_t len)
{
	const uint8_t *ip = frame + 14, *udp = ip + 20;
	size_t ulen = len - 34;
	uint32_t sum = csum_add(0, ip + 12, 8) + 17 + (uint32_t)ulen;

	sum = csum_add(sum, udp, ulen);
	return csum_fold(sum) == 0xFFFF;
}

static void rx_udp_partial(struct fx *f, bool guest_csum)
{
	struct {
		uint8_t flags, gso_type;
		uint16_t hdr_len, gso_size, csum_start, csum_offset;
	} __attribute__((packed)) vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					 .csum_start = 34, .csum_offset = 6 };
	uint8_t pkt[10 + 256], got[4096];
	struct sockaddr_ll sll;
	int one = 1, s;
	uint32_t lens[8];
	unsigned nb;
	size_t len, n;
	uint8_t *fr;

	drv_start(f, F_BASE | (guest_csum ? VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) : 0), QSZ);
	post_rx(f, 4, 1526);
	kick(f, VIRTIO_NET_RXQ);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = f->ifindex;
	memcpy(pkt, &vh, 10);
	len = make_udp(pkt + 10, 64);
	ck_assert_int_eq(sendto(s, pkt, 10 + len, 0, (struct sockaddr *)&sll, sizeof(sll)),
			 (ssize_t)(10 + len));
	close(s);
	/* Our UDP frame is the first IPv4 frame on this tap: no address, no IPv6. */
	for (;;) {
		struct gq *g = &f->q[VIRTIO_NET_RXQ];
		uint32_t id, ulen;

		ck_assert(wait_used(g, 1, WAIT_MS));
		next_used(g, &id, &ulen);
		fr = hva(f, g->buf_gpa[id], ulen);
		if (ulen == VIRTIO_NET_HDR_LEN + len && fr[12 + 12] == 0x08 && fr[12 + 13] == 0)
			break;
	}
	n = VIRTIO_NET_HDR_LEN + len;
	memcpy(got, fr, n);
	(void)nb;
	(void)lens;
	if (guest_csum) {
		ck_assert_uint_eq(got[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		ck_assert_uint_eq(got[6] | got[7] << 8, 34);
		ck_assert_uint_eq(got[8] | got[9] << 8, 6);
	} else {
		ck_assert_uint_eq(got[0], 0);
		ck_assert(udp_csum_ok(got + VIRTIO_NET_HDR_LEN, len));
	}
	ck_assert_uint_eq(got[10] | got[11] << 8, 1);   /* num_buffers without MRG_RXBUF */
}

START_TEST(test_net_rx_csum_offload)
{
	struct fx *f = fx_new("test_net_rx_csum_offload", true);

	if (!f)
		return;
	if (!(f->net.tap_offload_ok & TAP_OFFLOAD_CSUM)) {
		fprintf(stderr, "SKIP: tap has no TUN_F_CSUM (test_net_rx_csum_offload)\n");
		fx_free(f);
		return;
	}
	rx_udp_partial(f, false);
	rx_udp_partial(f, true);
	fx_free(f);
}
END_TEST

/*
 * Random descriptors on both queues (addresses in RAM, outside it, or
 * wrapping; random flags, lengths, next), random kicks and injected frames,
 * with resets: nothing crashes, nothing outside the buffers changes.
 */
START_TEST(test_net_fuzz)
{
	struct fx *f = fx_new("test_net_fuzz", true);
	unsigned seed = 0x5eed, round;
	uint64_t area, area_len = 256 * KiB;

	if (!f)
		return;
	area = galloc(f, area_len, 4096);
	for (round = 0; round < 40; round++) {
		unsigned q, i;

		drv_start(f, F_BASE | ((round & 1) ? F_MRG : 0) |
			     VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
			     VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4), QSZ);
		for (q = 0; q < 2; q++) {
			struct gq *g = &f->q[q];

			for (i = 0; i < 16; i++) {
				struct virtq_desc d;
				unsigned k = (unsigned)rand_r(&seed) % 8;

				d.addr = area + (uint64_t)(rand_r(&seed) % (int)area_len);
				d.len = (uint32_t)(rand_r(&seed) % 4096);
				if (k == 0)
					d.addr = 0x40000000ULL + (uint64_t)rand_r(&seed);
				else if (k == 1)
					d.addr = ~0ULL - (uint64_t)(rand_r(&seed) % 100);
				else if (k == 2)
					d.len = 0xFFFFFFFFu;
				if (d.addr >= area && d.len < 0xFFFFFFFFu &&
				    d.addr + d.len > area + area_len)
					d.len = (uint32_t)(area + area_len - d.addr);
				d.flags = (uint16_t)(rand_r(&seed) & 7);
				if (k > 3)
					d.flags &= (uint16_t)~VIRTQ_DESC_F_INDIRECT;
				d.next = (uint16_t)(rand_r(&seed) % (k == 3 ? 65536 : 32));
				memcpy(g->d + 16 * (size_t)i, &d, sizeof(d));
			}
			for (i = 0; i < 8; i++) {
				g->a[2 + g->avail_idx % g->size] = (uint16_t)(rand_r(&seed) % 20);
				g->avail_idx++;
			}
			__atomic_store_n(&g->a[1], g->avail_idx, __ATOMIC_RELEASE);
		}
		/* Some transmit headers in the area look valid, some not. */
		inject(f, 60 + (size_t)(rand_r(&seed) % 1400), round);
		kick(f, VIRTIO_NET_TXQ);
		kick(f, VIRTIO_NET_RXQ);
		sleep_ms(15);
	}
	/* Still a working device after all that. */
	drv_start(f, F_BASE | F_MRG, QSZ);
	tx_one(f, 200);
	fx_free(f);
}
END_TEST

static Suite *virtio_net_suite(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tap_errors);
	tcase_add_test(tc, test_tap_open_adopt);
	tcase_add_test(tc, test_net_init_errors);
	tcase_add_test(tc, test_net_features_config);
	tcase_add_test(tc, test_net_tx);
	tcase_add_test(tc, test_net_rx);
	tcase_add_test(tc, test_net_rx_mrg);
	tcase_add_test(tc, test_net_rx_waits_for_buffers);
	tcase_add_test(tc, test_net_rx_too_big);
	tcase_add_test(tc, test_net_tx_malformed);
	tcase_add_test(tc, test_net_tx_dropped);
	tcase_add_test(tc, test_net_rx_malformed);
	tcase_add_test(tc, test_net_rx_csum_offload);
	tcase_add_test(tc, test_net_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(virtio_net_suite);
