#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"

static void log_v(const char *level, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "vmm: %s%s\n", level, buf);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v("error: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v("", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;
	struct timespec ts;
	char level[48];

	if (!getenv("VMM_DEBUG"))
		return;
	/* CLOCK_MONOTONIC in ms: the differences between lines time the phases of a run */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(level, sizeof(level), "debug: [%.1f] ", ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
	va_start(ap, fmt);
	log_v(level, fmt, ap);
	va_end(ap);
}
