/* SPDX-License-Identifier: MIT */
#ifndef SS_HTTP_PROXY_H
#define SS_HTTP_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

/* HTTP proxy requests on sslocal's port (http_proxy.c). */
#define HTTP_HEAD_MAX 16384 /* a request head larger than this gets 431 */
#define HTTP_MORE (-1)      /* the head is not whole yet */

struct http_request {
	bool connect;          /* CONNECT: a tunnel once 200 is sent */
	struct ss_addr target;
	size_t head_len;       /* the head's bytes in the input, through its empty line */
	size_t out_len;        /* absolute form: the origin's request head written to out */
};

/*
 * Parses the head at the start of in (len bytes): 0 with rq filled (and,
 * for a request in absolute form, the request for the origin in out, cap
 * bytes), HTTP_MORE, or the status to answer with (400 malformed, 407
 * without the credentials, 431 too large, 501 https:// in absolute form).
 * credentials: base64("user:password") that Basic must carry, or NULL.
 */
int http_proxy_parse(const char *in, size_t len, const char *credentials,
		     struct http_request *rq, char *out, size_t cap);
/* A response head of status (200 for CONNECT; errors close); its length, or 0. */
size_t http_proxy_status(int status, char *out, size_t cap);

#endif
