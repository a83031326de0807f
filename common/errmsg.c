#include <stdio.h>

#include "common/errmsg.h"

void errmsg_v(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void errmsg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errmsg_v(err, errlen, fmt, ap);
	va_end(ap);
}
