// SPDX-License-Identifier: MIT
/*
 * Asynchronous DNS: c-ares driven by the event loop (its sockets live in the
 * same epoll set), plus a small cache that honours the answers' TTLs.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common.h"
#include "dns.h"
#include "log.h"
#include "loop.h"

#define DNS_CACHE_SLOTS 512
#define DNS_MAX_SOCKS 16
#define DNS_MAX_TTL 3600

struct dns_sock {
	struct handler h;
	struct dns *d;
};

struct cache_entry {
	char name[256];
	struct sockaddr_storage sa; /* port 0 */
	socklen_t len;
	time_t expires;
};

struct dns {
	ares_channel ch;
	struct loop *loop;
	bool ipv6_first;
	struct dns_sock socks[DNS_MAX_SOCKS];
	struct cache_entry *cache;
	uint64_t hits, misses;
};

struct dns_query {
	struct dns *d;
	dns_cb cb;
	void *arg;
	uint16_t port;
	bool cancelled;
	bool in_call; /* inside ares_getaddrinfo: c-ares may answer at once */
	bool done;
	int err;
	struct sockaddr_storage sa;
	socklen_t len;
	char name[256];
};

/* Delivers a result: kept for dns_resolve when it comes during the call. */
static void deliver(struct dns_query *q, int err, const struct sockaddr_storage *sa,
		    socklen_t len)
{
	if (q->in_call) {
		q->done = true;
		q->err = err;
		if (sa)
			q->sa = *sa;
		q->len = len;
		return;
	}
	if (!q->cancelled)
		q->cb(q->arg, err, (const struct sockaddr *)sa, len);
	free(q);
}

static void on_ares_event(struct handler *h, uint32_t events)
{
	struct dns_sock *s = (struct dns_sock *)h;
	ares_socket_t r = ARES_SOCKET_BAD, w = ARES_SOCKET_BAD;

	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		r = h->fd;
	if (events & EPOLLOUT)
		w = h->fd;
	ares_process_fd(s->d->ch, r, w);
}

/* c-ares tells us which of its sockets to watch. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock *slot = NULL;

	for (int i = 0; i < DNS_MAX_SOCKS; i++) {
		if (d->socks[i].h.registered && d->socks[i].h.fd == fd) {
			slot = &d->socks[i];
			break;
		}
		if (!slot && !d->socks[i].h.registered)
			slot = &d->socks[i];
	}
	if (!slot) {
		log_err("dns: more than %d resolver sockets", DNS_MAX_SOCKS);
		return;
	}
	if (!readable && !writable) {
		if (slot->h.registered && slot->h.fd == fd)
			loop_forget(d->loop, &slot->h);
		return;
	}
	slot->h.fd = fd;
	slot->h.on_event = on_ares_event;
	slot->d = d;
	loop_watch(d->loop, &slot->h, (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0));
}

int dns_new(struct dns **out, struct loop *l, const char *nameserver, bool ipv6_first,
	    const char **why)
{
	struct ares_options opts = { 0 };
	struct dns *d = calloc(1, sizeof(*d));
	int r;

	*why = "out of memory";
	if (!d)
		return -ENOMEM;
	d->cache = calloc(DNS_CACHE_SLOTS, sizeof(*d->cache));
	if (!d->cache)
		goto err_free;
	if ((r = ares_library_init(ARES_LIB_INIT_ALL))) {
		*why = ares_strerror(r);
		goto err_free;
	}
	d->loop = l;
	d->ipv6_first = ipv6_first;
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = d;
	opts.timeout = 2000;
	opts.tries = 2;
	r = ares_init_options(&d->ch, &opts,
			      ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (r) {
		*why = ares_strerror(r);
		goto err_lib;
	}
	if (nameserver && (r = ares_set_servers_ports_csv(d->ch, nameserver))) {
		*why = "nameserver must be ip[:port][,ip[:port]...]";
		ares_destroy(d->ch);
		goto err_lib;
	}
	*out = d;
	return 0;

err_lib:
	ares_library_cleanup();
err_free:
	free(d->cache);
	free(d);
	return -EINVAL;
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	/* Pending queries are called back with ARES_EDESTRUCTION and freed. */
	ares_destroy(d->ch);
	ares_library_cleanup();
	free(d->cache);
	free(d);
}

static unsigned name_hash(const char *s)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)(*s | 0x20)) * 16777619u;
	return h % DNS_CACHE_SLOTS;
}

static void set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

static bool is_invalid_tld(const char *name)
{
	size_t n = strlen(name);

	while (n && name[n - 1] == '.')
		n--;
	return (n == 7 && !strncasecmp(name, "invalid", 7)) ||
	       (n > 7 && !strncasecmp(name + n - 8, ".invalid", 8));
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_query *q = arg;
	struct dns *d = q->d;
	struct ares_addrinfo_node *best = NULL;
	int want = d->ipv6_first ? AF_INET6 : AF_INET;

	(void)timeouts;
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next) {
			if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
				continue;
			if (!best || (best->ai_family != want && n->ai_family == want))
				best = n;
		}
	}
	if (best && status != ARES_EDESTRUCTION) {
		struct cache_entry *e = &d->cache[name_hash(q->name)];
		struct sockaddr_storage sa;

		memset(&sa, 0, sizeof(sa));
		memcpy(&sa, best->ai_addr, best->ai_addrlen);
		if (best->ai_ttl > 0) {
			snprintf(e->name, sizeof(e->name), "%s", q->name);
			e->sa = sa;
			set_port(&e->sa, 0);
			e->len = best->ai_addrlen;
			e->expires = time(NULL) + MIN(best->ai_ttl, DNS_MAX_TTL);
		}
		set_port(&sa, q->port);
		socklen_t len = best->ai_addrlen;
		ares_freeaddrinfo(res);
		deliver(q, 0, &sa, len);
		return;
	}
	int err = status == ARES_ETIMEOUT ? -ETIMEDOUT :
		  (status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_SUCCESS) ?
						-ENOENT : -EIO;
	log_debug("dns: %s: %s", q->name, ares_strerror(status));
	if (res)
		ares_freeaddrinfo(res);
	deliver(q, err, NULL, 0);
}

int dns_resolve(struct dns *d, const char *name, uint16_t port, struct sockaddr_storage *sa,
		socklen_t *len, dns_cb cb, void *arg, struct dns_query **qp)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
	struct cache_entry *e;
	struct dns_query *q;

	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, name, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, name, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	if (is_invalid_tld(name) || strlen(name) > 255)
		return -ENOENT;
	e = &d->cache[name_hash(name)];
	if (e->expires > time(NULL) && !strcasecmp(e->name, name)) {
		d->hits++;
		*sa = e->sa;
		*len = e->len;
		set_port(sa, port);
		return 0;
	}
	d->misses++;
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->port = port;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->in_call = true;
	ares_getaddrinfo(d->ch, name, NULL, &hints, on_addrinfo, q);
	q->in_call = false;
	if (q->done) {
		int err = q->err;

		*sa = q->sa;
		*len = q->len;
		free(q);
		return err;
	}
	*qp = q;
	return 1;
}

void dns_stats(const struct dns *d, uint64_t *hits, uint64_t *misses, uint64_t *entries)
{
	time_t now = time(NULL);

	*hits = d->hits;
	*misses = d->misses;
	*entries = 0;
	for (unsigned i = 0; i < DNS_CACHE_SLOTS; i++)
		*entries += d->cache[i].expires > now;
}

void dns_cancel(struct dns_query *q)
{
	if (q)
		q->cancelled = true;
}

void dns_tick(struct dns *d)
{
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}
