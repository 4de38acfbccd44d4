/* SPDX-License-Identifier: MIT */
#ifndef SS_SIP002_H
#define SS_SIP002_H

#include <stddef.h>

#include "config.h"

/*
 * Applies a SIP002 ss://BASE64URL(method:password)@host:port URI (the
 * userinfo may also be percent-encoded plain text): method, password,
 * server and port. 0, or -EINVAL with one line in *why.
 */
int sip002_apply(struct ss_config *c, const char *url, const char **why);

#endif
