/*
 * tests/unit/test_coalesced.c - playing KVM's coalesced I/O ring back into
 * the devices (vmm/coalesced.c, vm_coalesced_drain): order across the wrap,
 * every entry consumed, bad lengths not dispatched, indices out of range left
 * alone. The ring here is a page of our own, filled as KVM fills it.
 */
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/vm.h"
#include "unit.h"

struct port_log {
	char bytes[16];
	unsigned n;
	unsigned sizes[16];
};

static int log_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct port_log *l = opaque;

	(void)off;
	if (l->n < sizeof(l->bytes)) {
		l->sizes[l->n] = size;
		l->bytes[l->n] = (char)val;
	}
	l->n++;
	return 0;
}

static int log_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	(void)opaque;
	(void)off;
	(void)size;
	*val = 0;
	return 0;
}

static const struct access_ops log_ops = { .read = log_read, .write = log_write };

static struct vm *vm;
static struct kvm_coalesced_mmio_ring *ring;
static struct port_log plog;

static void setup(void)
{
	vm = calloc(1, sizeof(*vm));
	ring = calloc(1, VM_COALESCED_PAGE);
	ck_assert_ptr_nonnull(vm);
	ck_assert_ptr_nonnull(ring);
	memset(&plog, 0, sizeof(plog));
	ck_assert_int_eq(iobus_init(&vm->pio), 0);
	ck_assert_int_eq(iobus_register(&vm->pio, 0x3f8, 1, &log_ops, &plog, "thr"), 0);
	pthread_mutex_init(&vm->coalesced_lock, NULL);
	vm->coalesced_ring = ring;
}

static void teardown(void)
{
	pthread_mutex_destroy(&vm->coalesced_lock);
	iobus_destroy(&vm->pio);
	free(ring);
	free(vm);
}

/* Append a port write the way KVM does: entry first, then last moves on. */
static void post(uint16_t port, unsigned len, uint64_t val)
{
	struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[ring->last];

	memset(e, 0, sizeof(*e));
	e->phys_addr = port;
	e->len = len;
	e->pio = 1;
	memcpy(e->data, &val, sizeof(val));
	ring->last = (ring->last + 1) % VM_COALESCED_MAX;
}

START_TEST(test_drain_in_order_across_the_wrap)
{
	ck_assert_uint_eq(VM_COALESCED_MAX, 170);   /* (4096 - 8) / 24 */
	ring->first = ring->last = VM_COALESCED_MAX - 2;
	post(0x3f8, 1, 'a');
	post(0x3f8, 1, 'b');
	post(0x3f8, 1, 'c');                         /* lands in entry 0 */
	ck_assert_uint_eq(ring->last, 1);
	vm_coalesced_drain(vm);
	ck_assert_uint_eq(plog.n, 3);
	ck_assert_mem_eq(plog.bytes, "abc", 3);
	ck_assert_uint_eq(plog.sizes[0], 1);
	ck_assert_uint_eq(ring->first, ring->last);  /* all consumed: KVM may reuse them */
	ck_assert_uint_eq(vm->coalesced_writes, 3);
	vm_coalesced_drain(vm);                      /* empty: nothing more */
	ck_assert_uint_eq(plog.n, 3);
}
END_TEST

START_TEST(test_bad_lengths_consumed_not_dispatched)
{
	post(0x3f8, 0, 'x');
	post(0x3f8, 9, 'y');                         /* more than the 8 data bytes */
	post(0x3f8, 1, 'z');
	vm_coalesced_drain(vm);
	ck_assert_uint_eq(plog.n, 1);
	ck_assert_int_eq(plog.bytes[0], 'z');
	ck_assert_uint_eq(ring->first, 3);
	ck_assert_uint_eq(vm->coalesced_writes, 1);
}
END_TEST

START_TEST(test_indices_out_of_range_left_alone)
{
	post(0x3f8, 1, 'q');
	ring->last = VM_COALESCED_MAX;               /* not an index */
	vm_coalesced_drain(vm);
	ck_assert_uint_eq(plog.n, 0);
	ck_assert_uint_eq(ring->first, 0);
	ring->last = 1;
	ring->first = VM_COALESCED_MAX + 5;
	vm_coalesced_drain(vm);
	ck_assert_uint_eq(plog.n, 0);
	ck_assert_uint_eq(ring->first, VM_COALESCED_MAX + 5);
}
END_TEST

START_TEST(test_no_ring_is_a_no_op)
{
	post(0x3f8, 1, 'n');
	vm->coalesced_ring = NULL;                   /* KVM without coalesced PIO */
	vm_coalesced_drain(vm);
	ck_assert_uint_eq(plog.n, 0);
	vm->coalesced_ring = ring;
	vm_coalesced_drain(vm);
	ck_assert_uint_eq(plog.n, 1);
}
END_TEST

static Suite *coalesced_suite(void)
{
	Suite *s = suite_create("coalesced");
	TCase *tc = tcase_create("drain");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_drain_in_order_across_the_wrap);
	tcase_add_test(tc, test_bad_lengths_consumed_not_dispatched);
	tcase_add_test(tc, test_indices_out_of_range_left_alone);
	tcase_add_test(tc, test_no_ring_is_a_no_op);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(coalesced_suite)
