// SPDX-License-Identifier: MIT
/* The reasons of failed calls that format one (common.h: why_fmt). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "common.h"

#define WHY_SLOTS 8
#define WHY_LEN 512

int why_fmt(const char **why, const char *fmt, ...)
{
	/* A few in turn: a caller may format a reason around the one it was given. */
	static __thread char slots[WHY_SLOTS][WHY_LEN];
	static __thread unsigned next;
	char *s = slots[next++ % WHY_SLOTS];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s, WHY_LEN, fmt, ap);
	va_end(ap);
	*why = s;
	return -EINVAL;
}
