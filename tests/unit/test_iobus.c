/*
 * tests/unit/test_iobus.c - the port I/O bus: registration refusals,
 * unclaimed accesses, dispatch to the right handler with the right offset,
 * width and range checks, unregister, re-entrancy and concurrent use.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "devices/iobus.h"
#include "unit.h"

struct rec {
	unsigned reads, writes;
	uint64_t off, val;
	unsigned size;
	int rc;          /* what the handler returns */
	uint64_t rval;   /* what a read returns */
};

static int rec_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct rec *r = opaque;

	r->reads++;
	r->off = off;
	r->size = size;
	*val = r->rval;
	return r->rc;
}

static int rec_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct rec *r = opaque;

	r->writes++;
	r->off = off;
	r->size = size;
	r->val = val;
	return r->rc;
}

static const struct access_ops rec_ops = { .read = rec_read, .write = rec_write };
static const struct access_ops rec_ops_byte = {
	.read = rec_read, .write = rec_write, .min_size = 1, .max_size = 1,
};
static const struct access_ops rec_ops_word = {
	.read = rec_read, .write = rec_write, .min_size = 2, .max_size = 4,
};

static struct iobus bus;

static void setup(void)
{
	ck_assert_int_eq(iobus_init(&bus), 0);
}

static void teardown(void)
{
	iobus_destroy(&bus);
}

START_TEST(test_iobus_refuses_zero_length_and_wrap)
{
	struct rec r = { 0 };

	ck_assert_int_eq(iobus_register(&bus, 0x100, 0, &rec_ops, &r, "zero"), -EINVAL);
	ck_assert_int_eq(iobus_register(&bus, ~0ULL, 2, &rec_ops, &r, "wrap"), -EINVAL);
	ck_assert_int_eq(iobus_register(&bus, ~0ULL - 3, 8, &rec_ops, &r, "wrap"), -EINVAL);
	ck_assert_int_eq(iobus_register(&bus, 0x100, 4, NULL, &r, "noops"), -EINVAL);
	ck_assert_uint_eq(bus.nr, 0);
	/* The largest range that ends exactly at the top is fine. */
	ck_assert_int_eq(iobus_register(&bus, ~0ULL - 1, 1, &rec_ops, &r, "top"), 0);
}
END_TEST

START_TEST(test_iobus_refuses_overlap)
{
	struct rec r = { 0 };

	ck_assert_int_eq(iobus_register(&bus, 0x100, 0x10, &rec_ops, &r, "a"), 0);
	ck_assert_int_eq(iobus_register(&bus, 0x100, 0x10, &rec_ops, &r, "same"), -EEXIST);
	ck_assert_int_eq(iobus_register(&bus, 0xF8, 0x10, &rec_ops, &r, "left"), -EEXIST);
	ck_assert_int_eq(iobus_register(&bus, 0x10F, 0x10, &rec_ops, &r, "right"), -EEXIST);
	ck_assert_int_eq(iobus_register(&bus, 0x104, 2, &rec_ops, &r, "inside"), -EEXIST);
	ck_assert_int_eq(iobus_register(&bus, 0x0, 0x1000, &rec_ops, &r, "around"), -EEXIST);
	/* Touching is not overlapping. */
	ck_assert_int_eq(iobus_register(&bus, 0xF0, 0x10, &rec_ops, &r, "below"), 0);
	ck_assert_int_eq(iobus_register(&bus, 0x110, 0x10, &rec_ops, &r, "above"), 0);
	ck_assert_uint_eq(bus.nr, 3);
}
END_TEST

START_TEST(test_iobus_unclaimed_reads_all_ones)
{
	struct rec r = { 0 };
	uint64_t v;

	ck_assert_int_eq(iobus_register(&bus, 0x3F8, 8, &rec_ops, &r, "com1"), 0);
	v = 0;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x2F8, 1, false, &v), -ENOENT);
	ck_assert_uint_eq(v, 0xFF);
	v = 0;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x2F8, 2, false, &v), -ENOENT);
	ck_assert_uint_eq(v, 0xFFFF);
	v = 0;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x400, 4, false, &v), -ENOENT);
	ck_assert_uint_eq(v, 0xFFFFFFFF);
	v = 0x12;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x400, 1, true, &v), -ENOENT);
	ck_assert_uint_eq(bus.unclaimed, 4);
	ck_assert_uint_eq(r.reads + r.writes, 0);
}
END_TEST

START_TEST(test_iobus_dispatch_right_handler_and_offset)
{
	struct rec a = { .rval = 0xAA }, b = { .rval = 0xBBCC }, c = { .rval = 0x11223344 };
	uint64_t v;

	/* Out of order on purpose: the array must end up sorted. */
	ck_assert_int_eq(iobus_register(&bus, 0x3F8, 8, &rec_ops, &b, "b"), 0);
	ck_assert_int_eq(iobus_register(&bus, 0x60, 5, &rec_ops, &a, "a"), 0);
	ck_assert_int_eq(iobus_register(&bus, 0xCFC, 4, &rec_ops, &c, "c"), 0);
	ck_assert_uint_eq(bus.ranges[0].base, 0x60);
	ck_assert_uint_eq(bus.ranges[1].base, 0x3F8);
	ck_assert_uint_eq(bus.ranges[2].base, 0xCFC);
	ck_assert_str_eq(bus.ranges[1].name, "b");

	ck_assert_int_eq(iobus_dispatch(&bus, 0x64, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0xAA);
	ck_assert_uint_eq(a.off, 4);
	ck_assert_uint_eq(a.reads, 1);

	/* A read result is cut to the access width. */
	ck_assert_int_eq(iobus_dispatch(&bus, 0x3FB, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0xCC);
	ck_assert_uint_eq(b.off, 3);
	ck_assert_uint_eq(b.size, 1);

	v = 0xDEADBEEF;
	ck_assert_int_eq(iobus_dispatch(&bus, 0xCFE, 2, true, &v), 0);
	ck_assert_uint_eq(c.off, 2);
	ck_assert_uint_eq(c.val, 0xBEEF);
	ck_assert_uint_eq(c.writes, 1);
	ck_assert_uint_eq(a.writes + b.writes, 0);
	ck_assert_uint_eq(bus.unclaimed, 0);
}
END_TEST

START_TEST(test_iobus_refuses_bad_width_and_straddle)
{
	struct rec byte = { .rval = 1 }, word = { .rval = 2 };
	uint64_t v;

	ck_assert_int_eq(iobus_register(&bus, 0x70, 2, &rec_ops_byte, &byte, "byte"), 0);
	ck_assert_int_eq(iobus_register(&bus, 0x80, 4, &rec_ops_word, &word, "word"), 0);

	v = 0;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x70, 2, false, &v), -EINVAL);
	ck_assert_uint_eq(v, 0xFFFF);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x80, 1, false, &v), -EINVAL);
	ck_assert_uint_eq(v, 0xFF);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x80, 8, false, &v), -EINVAL);
	/* Not a power of two. */
	ck_assert_int_eq(iobus_dispatch(&bus, 0x80, 3, false, &v), -EINVAL);
	/* Right width, but runs past the end of the range. */
	ck_assert_int_eq(iobus_dispatch(&bus, 0x82, 4, false, &v), -EINVAL);
	ck_assert_uint_eq(v, 0xFFFFFFFF);
	v = 5;
	ck_assert_int_eq(iobus_dispatch(&bus, 0x83, 2, true, &v), -EINVAL);
	ck_assert_uint_eq(byte.reads + byte.writes + word.reads + word.writes, 0);

	ck_assert_int_eq(iobus_dispatch(&bus, 0x82, 2, false, &v), 0);
	ck_assert_uint_eq(word.off, 2);
	ck_assert_uint_eq(v, 2);
}
END_TEST

START_TEST(test_iobus_handler_error_reads_all_ones)
{
	struct rec r = { .rval = 0x12, .rc = -EIO };
	uint64_t v = 0;

	ck_assert_int_eq(iobus_register(&bus, 0x10, 1, &rec_ops, &r, "err"), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x10, 1, false, &v), -EIO);
	ck_assert_uint_eq(v, 0xFF);
}
END_TEST

START_TEST(test_iobus_null_handlers)
{
	static const struct access_ops none = { 0 };
	uint64_t v = 0;

	ck_assert_int_eq(iobus_register(&bus, 0x10, 1, &none, NULL, "none"), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x10, 1, false, &v), 0);
	ck_assert_uint_eq(v, 0xFF);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x10, 1, true, &v), 0);
	ck_assert_uint_eq(bus.unclaimed, 0);
}
END_TEST

START_TEST(test_iobus_unregister)
{
	struct rec a = { 0 }, b = { 0 };
	uint64_t v;

	ck_assert_int_eq(iobus_register(&bus, 0x100, 8, &rec_ops, &a, "a"), 0);
	ck_assert_int_eq(iobus_register(&bus, 0x200, 8, &rec_ops, &b, "b"), 0);
	ck_assert_int_eq(iobus_unregister(&bus, 0x100, &b), -ENOENT); /* not the owner */
	ck_assert_int_eq(iobus_unregister(&bus, 0x104, &a), -ENOENT); /* not the base */
	ck_assert_int_eq(iobus_unregister(&bus, 0x300, &a), -ENOENT);
	ck_assert_int_eq(iobus_unregister(&bus, 0x100, &a), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x100, 1, false, &v), -ENOENT);
	ck_assert_int_eq(iobus_dispatch(&bus, 0x200, 1, false, &v), 0);
	ck_assert_uint_eq(b.reads, 1);
	/* The space is free again. */
	ck_assert_int_eq(iobus_register(&bus, 0xFC, 8, &rec_ops, &a, "a2"), 0);
	ck_assert_uint_eq(bus.nr, 2);
}
END_TEST

START_TEST(test_iobus_many_ranges_sorted)
{
	static struct rec r[300];
	uint64_t v;
	unsigned i, k;

	/* 300 ranges in a scrambled order (7 is coprime with 300). */
	for (i = 0; i < 300; i++) {
		k = (i * 7) % 300;
		r[k].rval = k;
		ck_assert_int_eq(iobus_register(&bus, 0x1000 + k * 4, 4, &rec_ops, &r[k], "r"), 0);
	}
	ck_assert_uint_eq(bus.nr, 300);
	for (i = 1; i < bus.nr; i++)
		ck_assert_uint_lt(bus.ranges[i - 1].base, bus.ranges[i].base);
	for (k = 0; k < 300; k++) {
		ck_assert_int_eq(iobus_dispatch(&bus, 0x1000 + k * 4 + 3, 1, false, &v), 0);
		ck_assert_uint_eq(v, k & 0xFF);
		ck_assert_uint_eq(r[k].off, 3);
	}
	ck_assert_int_eq(iobus_dispatch(&bus, 0x1000 + 300 * 4, 1, false, &v), -ENOENT);
	ck_assert_int_eq(iobus_dispatch(&bus, 0xFFF, 1, false, &v), -ENOENT);
}
END_TEST

/* A handler that changes the bus it is called from, as a PCI BAR write does. */
static int moving_write(void *opaque, uint64_t off UNUSED, unsigned size UNUSED, uint64_t val)
{
	struct iobus *b = opaque;

	if (val)
		return iobus_register(b, val, 4, &rec_ops, NULL, "bar");
	return iobus_unregister(b, 0xC000, NULL);
}

START_TEST(test_iobus_handler_may_change_bus)
{
	static const struct access_ops moving = { .write = moving_write };
	uint64_t v = 0xC000;

	ck_assert_int_eq(iobus_register(&bus, 0xCFC, 4, &moving, &bus, "cfc"), 0);
	ck_assert_int_eq(iobus_dispatch(&bus, 0xCFC, 4, true, &v), 0);
	ck_assert_uint_eq(bus.nr, 2);
	v = 0;
	ck_assert_int_eq(iobus_dispatch(&bus, 0xCFC, 4, true, &v), 0);
	ck_assert_uint_eq(bus.nr, 1);
}
END_TEST

struct hammer {
	struct iobus *bus;
	unsigned long hits;
	unsigned long bad;   /* ck_assert must not run off the test's thread */
	int stop;
};

static int count_read(void *opaque, uint64_t off UNUSED, unsigned size UNUSED, uint64_t *val)
{
	__atomic_fetch_add((unsigned long *)opaque, 1, __ATOMIC_RELAXED);
	*val = 0x5A;
	return 0;
}

static const struct access_ops count_ops = { .read = count_read };

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	uint64_t v;

	while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		if (iobus_dispatch(h->bus, 0x3F8, 1, false, &v) || v != 0x5A)
			__atomic_fetch_add(&h->bad, 1, __ATOMIC_RELAXED);
		(void)iobus_dispatch(h->bus, 0x5000, 1, false, &v);
	}
	return NULL;
}

START_TEST(test_iobus_concurrent_dispatch_and_register)
{
	struct hammer h = { .bus = &bus };
	pthread_t t[4];
	unsigned i, round;

	ck_assert_int_eq(iobus_register(&bus, 0x3F8, 8, &count_ops, &h.hits, "com1"), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_thread, &h), 0);
	for (round = 0; round < 300; round++) {
		/* Grows and shrinks the array under the readers' feet. */
		for (i = 0; i < 20; i++)
			ck_assert_int_eq(iobus_register(&bus, 0x5000 + i * 2, 2, &count_ops,
							&h.hits, "x"), 0);
		for (i = 0; i < 20; i++)
			ck_assert_int_eq(iobus_unregister(&bus, 0x5000 + i * 2, &h.hits), 0);
	}
	__atomic_store_n(&h.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_gt(h.hits, 0);
	ck_assert_uint_eq(h.bad, 0);
	ck_assert_uint_eq(bus.nr, 1);
}
END_TEST

static Suite *iobus_suite(void)
{
	Suite *s = suite_create("iobus");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_iobus_refuses_zero_length_and_wrap);
	tcase_add_test(tc, test_iobus_refuses_overlap);
	tcase_add_test(tc, test_iobus_unclaimed_reads_all_ones);
	tcase_add_test(tc, test_iobus_dispatch_right_handler_and_offset);
	tcase_add_test(tc, test_iobus_refuses_bad_width_and_straddle);
	tcase_add_test(tc, test_iobus_handler_error_reads_all_ones);
	tcase_add_test(tc, test_iobus_null_handlers);
	tcase_add_test(tc, test_iobus_unregister);
	tcase_add_test(tc, test_iobus_many_ranges_sorted);
	tcase_add_test(tc, test_iobus_handler_may_change_bus);
	tcase_add_test(tc, test_iobus_concurrent_dispatch_and_register);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(iobus_suite)
