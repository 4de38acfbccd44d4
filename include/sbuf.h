/* SPDX-License-Identifier: MIT */
#ifndef SS_SBUF_H
#define SS_SBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* A growable text buffer for replies of the control socket and /metrics. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool failed; /* out of memory once: the text is cut */
};

void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included. */
void sbuf_json_str(struct sbuf *b, const char *s);
void sbuf_free(struct sbuf *b);

#endif
