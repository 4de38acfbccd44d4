/* SPDX-License-Identifier: MIT */
#ifndef SS_DNS_H
#define SS_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct loop;
struct dns;
struct dns_query;

/* err is 0 or -errno (-ENOENT: no such name, -ETIMEDOUT, -EIO). */
typedef void (*dns_cb)(void *arg, int err, const struct sockaddr *sa, socklen_t len);

/*
 * Creates the resolver on loop. nameserver ("ip[:port],...") overrides
 * /etc/resolv.conf when non-NULL. 0 or -errno; on error *why is set.
 */
int dns_new(struct dns **out, struct loop *l, const char *nameserver, bool ipv6_first,
	    const char **why);
void dns_free(struct dns *d);

/*
 * Resolves name to an address with the given port. Returns 0 with *sa filled
 * when the answer is known at once (a literal or a cached name), 1 when a
 * query was started (cb is called later from the loop, never from inside this
 * call; *q lets the caller cancel it), or -errno (-ENOENT for names under
 * .invalid, RFC 6761 section 6.4).
 */
int dns_resolve(struct dns *d, const char *name, uint16_t port, struct sockaddr_storage *sa,
		socklen_t *len, dns_cb cb, void *arg, struct dns_query **q);
/* The callback of q will not be called. */
void dns_cancel(struct dns_query *q);
/* Processes c-ares timeouts; call from the loop tick. */
void dns_tick(struct dns *d);

/* Names answered from the cache, names sent to the resolver, and live cache entries. */
void dns_stats(const struct dns *d, uint64_t *hits, uint64_t *misses, uint64_t *entries);

#endif
