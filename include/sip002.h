/* SPDX-License-Identifier: MIT */
#ifndef SS_SIP002_H
#define SS_SIP002_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/*
 * Applies a SIP002 ss://BASE64URL(method:password)@host:port URI (the
 * userinfo may also be percent-encoded plain text): method, password,
 * server and port. 0, or -EINVAL with one line in *why.
 */
int sip002_apply(struct ss_config *c, const char *url, const char **why);
/* Appends s percent-encoded (RFC 3986: all but unreserved characters) at buf + *n. */
bool sip002_pct_append(char *buf, size_t len, size_t *n, const char *s);
/*
 * A SIP002 URI into out: ss://USERINFO@HOST:PORT[#TAG], the userinfo
 * base64url (no padding) of method:password, or percent-encoded for a 2022
 * method, as SIP002 asks. 0 or -ENOSPC.
 */
int sip002_format(char *out, size_t cap, const struct ss_method *m, const char *password,
		  const char *host, int port, const char *tag);
/*
 * Calls fn with each URI a client needs: ssserver's per port (per user of
 * a port with users; a wildcard listen address shown as this host's name),
 * sslocal's per server.
 */
void sip002_uris(const struct ss_config *cfg, void (*fn)(void *arg, const char *uri), void *arg);

#endif
