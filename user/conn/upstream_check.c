// SPDX-License-Identifier: MIT
/*
 * Health checks of sslocal's servers, run by one worker for the tree: every
 * check interval, through each server, a real Shadowsocks request for the
 * check target (an HTTP request, as shadowsocks-rust's balancer sends). A
 * server passes when an answer comes back that decrypts under its key
 * within max_server_rtt: that proves the server is up, has our key, and
 * relays. It fails on a refused or reset connection, on silence, and on a
 * close before any answer (a server with another key drops the request).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctx.h"
#include "dns.h"
#include "log.h"
#include "loop.h"
#include "sockopts.h"
#include "upstream.h"
#include "upstream_check.h"

#define CHECK_OUT (64 * 1024 + 4096)

struct check {
	struct handler h; /* first: the loop hands it back */
	struct upstream_checks *k;
	struct upstream *u;
	union method_enc enc;
	union method_dec dec;
	bool enc_ready, dec_ready, busy;
	uint64_t started_us;
	struct dns_query *q;
	uint8_t first[4096]; /* room for SIP022 padding */
	size_t first_len, sent;
};

struct upstream_checks {
	struct ctx *p;
	struct check c[UPSTREAM_MAX];
	uint64_t next_ms; /* the next round */
	struct ss_addr target;
	char request[400];
	uint8_t *plain; /* CHECK_OUT bytes: what an answer decrypts to */
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void end(struct check *ck)
{
	dns_cancel(ck->q);
	ck->q = NULL;
	if (ck->h.fd >= 0) {
		loop_forget(ck->k->p->loop, &ck->h);
		close(ck->h.fd);
		ck->h.fd = -1;
	}
	if (ck->enc_ready)
		ck->u->key.ops->enc_free(&ck->enc);
	if (ck->dec_ready)
		ck->u->key.ops->dec_free(&ck->dec);
	ck->enc_ready = ck->dec_ready = ck->busy = false;
	upstream_put(ck->u); /* a server the list dropped meanwhile goes now */
	ck->u = NULL;
}

/* The check is over: the server's record says so. why NULL: it passed. */
static void done(struct check *ck, const char *why)
{
	struct upstream *u = ck->u;
	struct upstream_stat *st = u->st;
	uint32_t rtt = (uint32_t)(now_us() - ck->started_us), old;

	if (!st) { /* the list dropped it during its check */
		end(ck);
		return;
	}
	upstream_count(u, &st->checks, 1);
	st->last_check_ms = loop_now(ck->k->p->loop);
	if (why) {
		upstream_count(u, &st->check_failures, 1);
		if (__atomic_exchange_n(&st->state, UP_FAILED, __ATOMIC_RELAXED) != UP_FAILED)
			log_warn("server %s:%u failed its check: %s", u->host, u->port, why);
		snprintf(st->why, sizeof(st->why), "%s", why);
		end(ck);
		return;
	}
	rtt = rtt ? rtt : 1;
	old = __atomic_load_n(&st->rtt_us, __ATOMIC_RELAXED);
	/* Smoothed as TCP smooths its RTT (RFC 6298: 7/8 old, 1/8 new), the first taken whole. */
	__atomic_store_n(&st->rtt_us, old ? (uint32_t)(((uint64_t)old * 7 + rtt) / 8) : rtt,
			 __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&st->state, UP_OK, __ATOMIC_RELAXED) == UP_FAILED)
		log_info("server %s:%u passes its check again (%.1f ms)", u->host, u->port,
			 rtt / 1000.0);
	end(ck);
}

/* An answer: any byte that decrypts under the server's key passes. */
static void readable(struct check *ck)
{
	uint8_t in[4096];
	size_t used, got = 0;
	ssize_t n = recv(ck->h.fd, in, sizeof(in), 0);
	int r;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		done(ck, n ? strerror(errno) : "closed before answering (another key, or the "
					       "check target refused)");
		return;
	}
	r = ck->u->key.ops->dec_feed(&ck->dec, in, (size_t)n, &used, ck->k->plain, CHECK_OUT, &got);
	if (r < 0)
		done(ck, "its answer does not decrypt under our key");
	else if (got)
		done(ck, NULL);
}

static void on_event(struct handler *h, uint32_t events)
{
	struct check *ck = (struct check *)h;
	int err = 0;
	socklen_t el = sizeof(err);

	if (ck->sent < ck->first_len) {
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			done(ck, strerror(err ? err : errno));
			return;
		}
		ssize_t n = send(h->fd, ck->first + ck->sent, ck->first_len - ck->sent, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN) {
			done(ck, strerror(errno));
			return;
		}
		ck->sent += n > 0 ? (size_t)n : 0;
		if (ck->sent == ck->first_len)
			loop_watch(ck->k->p->loop, h, EPOLLIN);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		readable(ck);
}

/* The first flight: the target's address header and the request, in one chunk. */
static int first_flight(struct check *ck)
{
	const struct method_ops *ops = ck->u->key.ops;
	uint8_t plain[SS_ADDR_MAX + sizeof(ck->k->request)];
	int hl = ops->header_encode(&ck->k->target, plain, sizeof(plain));
	size_t len = strlen(ck->k->request);

	if (hl < 0 || ops->enc_init(&ck->enc, &ck->u->key))
		return -1;
	ck->enc_ready = true;
	if (ops->dec_init(&ck->dec, &ck->u->key))
		return -1;
	ck->dec_ready = true;
	if (ops->bind)
		ops->bind(&ck->enc, &ck->dec, false);
	memcpy(plain + hl, ck->k->request, len);
	if (ops->enc_fit(&ck->enc, sizeof(ck->first)) < (size_t)hl + len)
		return -1;
	return ops->enc_feed(&ck->enc, plain, (size_t)hl + len, ck->first, &ck->first_len);
}

static void on_resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct check *ck = arg;
	int fd;

	ck->q = NULL;
	if (err) {
		done(ck, "its name does not resolve");
		return;
	}
	if ((fd = sock_outbound_tcp(ck->k->p->cfg, sa->sa_family)) < 0) {
		done(ck, strerror(-fd));
		return;
	}
	ck->h = (struct handler){ .on_event = on_event, .fd = fd };
	if (first_flight(ck)) {
		done(ck, "cannot encrypt a request under its key");
		return;
	}
	if (connect(fd, sa, len) && errno != EINPROGRESS) {
		done(ck, strerror(errno));
		return;
	}
	loop_watch(ck->k->p->loop, &ck->h, EPOLLOUT);
}

static void start(struct check *ck)
{
	struct sockaddr_storage sa;
	socklen_t len;
	const char *host;
	uint16_t port;
	int r;

	ck->u->refs++; /* held until the check ends */
	upstream_tcp(ck->k->p->cfg, ck->u, &host, &port);
	ck->busy = true;
	ck->started_us = now_us();
	ck->sent = ck->first_len = 0;
	r = dns_resolve(ck->k->p->dns, host, port, &sa, &len, on_resolved, ck, &ck->q);
	if (r == 0)
		on_resolved(ck, 0, (struct sockaddr *)&sa, len);
	else if (r < 0)
		on_resolved(ck, r, NULL, 0);
}

int upstream_checks_open(struct ctx *p, struct upstream_checks **out, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	const char *spec = cfg->check_target ? cfg->check_target : "www.gstatic.com:80";
	struct upstream_checks *k = calloc(1, sizeof(*k));
	char host[300];
	int port;

	if (!k || !(k->plain = malloc(CHECK_OUT))) {
		free(k);
		return why_fmt(why, "out of memory");
	}
	if (config_split_hostport(spec, host, sizeof(host), &port) ||
	    addr_from_host(&k->target, host, (uint16_t)port)) {
		upstream_checks_close(k);
		return why_fmt(why, "check target \"%s\" is not host:port", spec);
	}
	snprintf(k->request, sizeof(k->request),
		 "GET /generate_204 HTTP/1.1\r\nHost: %s\r\nUser-Agent: ssbpf-check\r\n"
		 "Connection: close\r\n\r\n", host);
	k->p = p;
	for (int i = 0; i < UPSTREAM_MAX; i++)
		k->c[i] = (struct check){ .k = k, .h.fd = -1 };
	*out = k;
	return 0;
}

void upstream_checks_tick(struct upstream_checks *k)
{
	uint64_t now = loop_now(k->p->loop);
	uint64_t limit = (uint64_t)k->p->cfg->max_server_rtt * 1000;
	struct upstream_pool *pl = k->p->servers;

	for (int i = 0; i < UPSTREAM_MAX; i++) {
		struct check *ck = &k->c[i];

		if (ck->busy && now_us() - ck->started_us > limit) {
			char why[64];

			snprintf(why, sizeof(why), "no answer within %d ms", k->p->cfg->max_server_rtt);
			done(ck, why);
		}
	}
	if (now < k->next_ms)
		return;
	k->next_ms = now + (uint64_t)k->p->cfg->check_interval * 1000;
	upstream_pool_sync(pl);
	if (upstream_pool_live(pl) < 2) /* with one server there is no choice */
		return;
	for (int i = 0; i < pl->n; i++) {
		if (!k->c[i].busy && pl->u[i]) {
			k->c[i].u = pl->u[i];
			start(&k->c[i]);
		}
	}
}

void upstream_checks_close(struct upstream_checks *k)
{
	if (!k)
		return;
	for (int i = 0; k->p && i < UPSTREAM_MAX; i++)
		if (k->c[i].busy)
			end(&k->c[i]);
	free(k->plain);
	free(k);
}
