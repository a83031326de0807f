/*
 * tests/unit/unit.h - shared scaffolding for the Check unit tests.
 * Each tests/unit/test_NAME.c defines `Suite *NAME_suite(void)` and ends with
 * UNIT_MAIN(NAME_suite); the runner exits non-zero on any failure.
 */
#ifndef VMM_TESTS_UNIT_H
#define VMM_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

/* The largest kernel image a test reads whole (file_read_all's cap). */
#define KERNEL_FILE_MAX ((size_t)512 << 20)

#define UNIT_MAIN(suite_fn)                                          \
	int main(void)                                               \
	{                                                            \
		SRunner *sr = srunner_create(suite_fn());            \
		int failed;                                          \
		srunner_set_fork_status(sr, CK_NOFORK);              \
		srunner_run_all(sr, CK_NORMAL);                      \
		failed = srunner_ntests_failed(sr);                  \
		srunner_free(sr);                                    \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;         \
	}

#endif
