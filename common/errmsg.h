/*
 * common/errmsg.h - the one-line reason a failing call leaves in a caller's
 * buffer (err, errlen), the way every parser and loader here reports.
 * Contract: stateless; @err may be NULL or @errlen 0 (nothing is written);
 * the text is truncated to fit and always NUL-terminated.
 */
#ifndef VMM_COMMON_ERRMSG_H
#define VMM_COMMON_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>

#include "common/compiler.h"

void errmsg(char *err, size_t errlen, const char *fmt, ...) PRINTF_FMT(3, 4);
void errmsg_v(char *err, size_t errlen, const char *fmt, va_list ap) PRINTF_FMT(3, 0);

#endif
