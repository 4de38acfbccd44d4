// SPDX-License-Identifier: MIT
/*
 * sslocal's side of a connection to its server: which server of the pool
 * (upstream.h) it goes to, under that server's key, the first flight, and
 * a second try on another server when the first cannot be reached, before
 * the client has been answered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pair.h"
#include "counters.h"
#include "ctx.h"
#include "dns.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "pool.h"
#include "traffic.h"
#include "upstream.h"

int conn_use_key(struct conn *c, const struct ss_key *k)
{
	if (c->key == k)
		return 0;
	/* The decoder accept set up under the old key goes. */
	if (c->dec_ready)
		c->key->ops->dec_free(&c->dec);
	c->key = k;
	c->dec_ready = !k->ops->dec_init(&c->dec, k);
	return c->dec_ready ? 0 : -1;
}

/*
 * The kernel paces what each socket sends (TCP's own pacing without the fq
 * qdisc): the client's socket carries the download, the target's the upload.
 * ~0 lifts the limit.
 */
void conn_pace(struct conn *c)
{
	uint32_t rate;

	if (c->role != ROLE_SERVER || !c->key)
		return;
	rate = c->key->rate ? c->key->rate : ~0u;
	if (!c->key->rate && !c->paced)
		return;
	c->paced = c->key->rate != 0;
	for (int i = 0; i < 2; i++) {
		int fd = i ? c->remote.h.fd : c->local.h.fd;

		if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof(rate)))
			log_debug("conn %llu: SO_MAX_PACING_RATE: %s", (unsigned long long)c->id,
				  strerror(errno));
	}
}

void conn_pace_all(struct ctx *p, const struct port_keys *pk)
{
	struct conn *lists[2] = { p->conns.hs_head, p->conns.lru_head };

	for (int i = 0; i < 2; i++)
		for (struct conn *c = lists[i]; c; c = c->next)
			if (c->pk == pk && c->stage == ST_STREAM)
				conn_pace(c);
}

void conn_end_spent(struct ctx *p)
{
	struct conn *lists[2] = { p->conns.hs_head, p->conns.lru_head };

	for (int i = 0; i < 2; i++)
		for (struct conn *c = lists[i]; c; c = c->next)
			if (c->stage == ST_STREAM && c->key && c->key->data_limit && !c->spent &&
			    traffic_spent(p->traffic, c->key))
				stream_spent(c);
}

int server_choose(struct conn *c)
{
	struct upstream *u;

	if (c->upstream || !c->p->servers) /* a capture entry's own, or --relay */
		return 0;
	if (!(u = upstream_pick(c->p->servers, c->tried))) {
		conn_destroy(c, "no server left to try");
		return -1;
	}
	c->tried |= 1ull << u->index;
	u->refs++;
	c->upstream = u;
	upstream_count(u, &u->st->connects, 1);
	if (conn_use_key(c, &u->key)) {
		conn_destroy(c, "cipher set-up failed");
		return -1;
	}
	return 0;
}

/*
 * sslocal: the address header goes with the client's first data, in one
 * chunk and one write (a first packet of fixed size would be a fingerprint,
 * and a header alone could be cut off and replayed): it waits in c->hs
 * until that data comes, or first_data_wait passes. Not for method none,
 * whose header is plain anyway and whose pair goes to the kernel tiers as
 * soon as it is connected. 0, or -1 when the connection is destroyed.
 */
int server_first_flight(struct conn *c, const uint8_t *extra, size_t n)
{
	struct ctx *p = c->p;
	uint8_t hdr[SS_ADDR_MAX + sizeof(c->hs)], *first = hdr;
	size_t got;
	int hl = c->key->ops->header_encode(&c->target, hdr, sizeof(hdr)), r;

	if (hl < 0 || c->key->ops->enc_init(&c->enc, c->key)) {
		conn_destroy(c, "cannot encode the target address");
		return -1;
	}
	c->enc_ready = true;
	if (c->key->ops->bind)
		c->key->ops->bind(&c->enc, &c->dec, false);
	stream_remember_salt(c);
	if (!n && p->cfg->first_data_wait && !c->passthrough) {
		memcpy(c->hs, first, (size_t)hl);
		c->hs_len = (uint16_t)hl;
		c->hdr_pending = true;
		return 0;
	}
	/* An HTTP request's head may outgrow hdr: one chunk all the same. */
	if ((size_t)hl + n > sizeof(hdr) && (first = malloc((size_t)hl + n)))
		memcpy(first, hdr, (size_t)hl);
	if (first)
		memcpy(first + hl, extra, n);
	r = !first || stream_buf_reserve(p, &c->up.out) ||
	    c->key->ops->enc_fit(&c->enc, POOL_BUF_CAP) < (size_t)hl + n ||
	    c->key->ops->enc_feed(&c->enc, first, (size_t)hl + n, c->up.out.data, &got);
	if (first != hdr)
		free(first);
	if (r) {
		conn_destroy(c, "out of memory");
		return -1;
	}
	c->up.out.len = got;
	c->up.bytes += n;
	p->ctr->bytes_up[CTR_USER] += n;
	return 0;
}

bool server_retry(struct conn *c, int err, const char *what)
{
	struct upstream *old = c->upstream;
	char why[128];

	if (!old || !old->st || c->in->serves || c->bypass || c->stage == ST_STREAM)
		return false;
	snprintf(why, sizeof(why), "%s: %s", what, strerror(-err));
	upstream_failed(old, why);
	/* Only while none of the client's bytes went into the first flight. */
	if (c->up.bytes || !upstream_pick(c->p->servers, c->tried))
		return false;
	log_debug("conn %llu: server %s:%u: %s; trying another", (unsigned long long)c->id,
		  old->host, old->port, why);
	/* Back to where the target was known: no socket, no encoder, nothing queued. */
	if (c->remote.h.fd >= 0) {
		loop_forget(c->p->loop, &c->remote.h);
		close(c->remote.h.fd);
		c->remote.h.fd = -1;
	}
	if (c->enc_ready)
		c->key->ops->enc_free(&c->enc);
	c->enc_ready = c->hdr_pending = false;
	c->up.out.len = 0;
	c->upstream = NULL;
	upstream_put(old);
	return !server_choose(c) && !server_first_flight(c, NULL, 0);
}

static void on_acl_resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct conn *c = arg;
	uint8_t *first = c->first;
	size_t n = c->first_len;

	(void)len;
	c->q = NULL;
	c->bypass = !err && policy_bypass(&c->p->policy, NULL, sa);
	c->first = NULL;
	c->first_len = 0;
	conn_route(c, first, n);
	free(first);
}

int server_acl_resolve(struct conn *c, const uint8_t *extra, size_t n)
{
	struct sockaddr_storage sa;
	socklen_t len;
	uint8_t *keep = NULL;
	int r;

	/* The caller's buffer goes when it returns: what the client sent waits here. */
	if (n && !(keep = malloc(n)))
		return 0;
	r = dns_resolve(c->p->dns, c->target.host, c->target.port, &sa, &len, on_acl_resolved, c,
			&c->q);
	if (r > 0) {
		if (n)
			memcpy(keep, extra, n);
		c->first = keep;
		c->first_len = (uint32_t)n;
		return 1;
	}
	free(keep);
	/* A name that does not resolve goes through the server, as libev sends it. */
	c->bypass = !r && policy_bypass(&c->p->policy, NULL, (struct sockaddr *)&sa);
	return 0;
}
