/* SPDX-License-Identifier: MIT */
#ifndef SS_FETCH_H
#define SS_FETCH_H

#include <stddef.h>

/* The largest document fetched. */
#define FETCH_MAX (1024 * 1024)

/*
 * GET url, blocking, within timeout_s seconds: https:// (TLS through
 * OpenSSL, the server's certificate verified against ca_file or, when NULL,
 * the system's store, and its name or address checked) or file:///PATH.
 * The body (NUL-terminated, freed by the caller) and its length; 0, or
 * -errno with one line in why.
 */
int fetch_url(const char *url, const char *ca_file, int timeout_s, char **body, size_t *len,
	      const char **why);

#endif
