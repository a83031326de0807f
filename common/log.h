/*
 * common/log.h - diagnostics to stderr, prefixed "vmm: ".
 * Contract: stateless; safe from any thread (one fprintf per message).
 * log_debug prints only when the environment variable VMM_DEBUG is set, with
 * CLOCK_MONOTONIC in ms: "vmm: debug: [12345.6] ...".
 */
#ifndef VMM_COMMON_LOG_H
#define VMM_COMMON_LOG_H

#include "common/compiler.h"

void log_error(const char *fmt, ...) PRINTF_FMT(1, 2);
void log_warn(const char *fmt, ...) PRINTF_FMT(1, 2);
void log_info(const char *fmt, ...) PRINTF_FMT(1, 2);
void log_debug(const char *fmt, ...) PRINTF_FMT(1, 2);

#endif
