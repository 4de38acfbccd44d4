// SPDX-License-Identifier: MIT
/*
 * sslocal's UDP kinds: what a client's datagram says about its target and
 * what a reply looks like on its way back.
 *   socks:  RFC 1928 section 7's header (RSV FRAG ATYP DST.ADDR DST.PORT) both ways
 *   tunnel: raw payload; the target is the configured one (-L)
 *   redir:  raw payload; the target is the datagram's original destination,
 *           and the reply leaves from it (udp_redir.c)
 * Between, every kind seals address + payload for the server the same way.
 */
#include <string.h>

#include "capture.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "udp_relay.h"

/* The pool's server of an association: its own while healthy, else the one chosen now. */
static struct upstream *pool_server(struct ctx *p, const struct nat *n)
{
	struct upstream *u = n->upstream;

	if (u && u->st && !upstream_is_failed(u))
		return u;
	return upstream_pick(p->servers, 0);
}

/*
 * Address + payload (buf) sealed for the server (up: a captured cgroup's own,
 * else the daemon's), through the client's NAT entry (or NULL).
 */
static struct nat *to_server(struct udp_relay *r, uint8_t *buf, size_t len,
			     const struct sockaddr_storage *src, socklen_t slen,
			     struct upstream *up)
{
	struct ctx *p = r->p;
	const struct ss_key *k = up ? &up->key : &p->key;
	uint8_t out[UDP_MAX_DGRAM + 512];
	struct nat *n;
	size_t olen;

	if (len + k->ops->udp_overhead(k->m) > UDP_MAX_DGRAM) {
		p->ctr->udp.oversize++;
		return NULL;
	}
	if (!(n = nat_get(r, src, slen, NULL)))
		return NULL;
	if (!up && p->servers)
		up = pool_server(p, n);
	if (up && up != n->upstream) { /* its key seals and opens this client's datagrams */
		if (n->sess) { /* a session belongs to one server's key */
			nat_key(n)->ops->session_free(n->sess);
			n->sess = NULL;
		}
		upstream_put(n->upstream);
		n->upstream = up;
		n->key = &up->key;
		up->refs++;
		upstream_count(up, &up->st->udp_assocs, 1);
	}
	k = nat_key(n);
	nat_touch(n);
	if (k->ops->session_new && !n->sess && !(n->sess = k->ops->session_new(k, false))) {
		nat_kill(n);
		return NULL;
	}
	if (udp_seal(p, n, k, buf, len, out, sizeof(out), &olen))
		return n;
	nat_send(n, n->upstream ? &n->upstream->server : &r->server, out, olen);
	return n;
}

/* Its socket has the family of the address it is bound to: src is not mapped. */
static bool assoc_allows(const struct udp_relay *r, const struct sockaddr_storage *src)
{
	return ss_sa_same_ip(src, &r->allowed) && (!r->allowed_port || ss_sa_port(src) == r->allowed_port);
}

/*
 * An association's own socket takes datagrams from its client only; the shared
 * listener (for clients that ignore BND.PORT) from any client with an
 * association in this worker.
 */
static bool socks_client_allowed(struct udp_relay *r, const struct sockaddr_storage *src)
{
	struct sockaddr_storage s;

	if (r->owner) {
		if (!assoc_allows(r, src))
			return false;
		r->keepalive(r->owner);
		return true;
	}
	ss_sa_from_v6(src, &s);
	for (struct udp_relay *a = r->p->udp; a; a = a->next) {
		if (a->owner && ss_sa_same_ip(&s, &a->allowed)) {
			a->keepalive(a->owner);
			return true;
		}
	}
	return false;
}

/* RFC 1928 section 7: RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA */
static void socks_from_client(struct udp_relay *r, uint8_t *buf, size_t len,
			      const struct sockaddr_storage *src, socklen_t slen,
			      const struct sockaddr_storage *orig)
{
	struct udp_stats *ctr = &r->p->ctr->udp;
	struct ss_addr a;
	size_t used;
	char cs[64];

	(void)orig;
	if (!socks_client_allowed(r, src)) {
		ctr->no_assoc++;
		log_debug("udp: dropped a datagram from %s: no UDP ASSOCIATE from it",
			  ss_sa_str(src, cs, sizeof(cs)));
		return;
	}
	if (len < 4 || buf[0] || buf[1]) {
		ctr->bad_header++;
		return;
	}
	if (buf[2]) {
		ctr->fragmented++;
		log_debug("udp: dropped a fragment (FRAG %u) from %s", buf[2],
			  ss_sa_str(src, cs, sizeof(cs)));
		return;
	}
	if (addr_parse(buf + 3, len - 3, &a, &used) != SS_OK) {
		ctr->bad_header++;
		log_debug("udp: dropped a datagram from %s: bad SOCKS5 UDP header",
			  ss_sa_str(src, cs, sizeof(cs)));
		return;
	}
	to_server(r, buf + 3, len - 3, src, slen, NULL);
}

/* Tunnel, redir: the target's header goes before the payload (buf has room before it). */
static struct nat *headed_to_server(struct udp_relay *r, const struct ss_addr *a, uint8_t *buf,
				    size_t len, const struct sockaddr_storage *src, socklen_t slen,
				    struct upstream *up)
{
	const struct ss_key *k = up ? &up->key : &r->p->key;
	uint8_t hdr[SS_ADDR_MAX];
	int hl = k->ops->header_encode(a, hdr, sizeof(hdr));

	memcpy(buf - hl, hdr, (size_t)hl);
	return to_server(r, buf - hl, len + (size_t)hl, src, slen, up);
}

static void tunnel_from_client(struct udp_relay *r, uint8_t *buf, size_t len,
			       const struct sockaddr_storage *src, socklen_t slen,
			       const struct sockaddr_storage *orig)
{
	(void)orig;
	headed_to_server(r, &r->p->cfg->tunnel, buf, len, src, slen, NULL);
}

static void redir_from_client(struct udp_relay *r, uint8_t *buf, size_t len,
			      const struct sockaddr_storage *src, socklen_t slen,
			      const struct sockaddr_storage *orig)
{
	struct capture_orig o = { .cgroup = 0 };
	struct ss_addr a;
	struct nat *n;
	char cs[64];
	int cap = orig ? capture_target(r, orig, &o) : -1;

	if (cap < 0 || (!cap && addr_from_sockaddr(&a, (const struct sockaddr *)orig))) {
		r->p->ctr->udp.bad_header++;
		log_debug("udp: dropped a datagram from %s: %s", ss_sa_str(src, cs, sizeof(cs)),
			  cap < 0 ? "not captured, or its slot is gone" : "no original destination");
		return;
	}
	n = headed_to_server(r, cap ? &o.dst : &a, buf, len, src, slen,
			     cap ? (struct upstream *)capture_upstream_of(r->p->cap, o.cgroup) :
				   NULL);
	if (n && cap && n->cap_cgroup != o.cgroup) {
		n->cap_cgroup = o.cgroup;
		n->cap_row = capture_has(r->p->cap, o.cgroup) ? counters_capture_row(r->p->ctr, o.cgroup) :
								 -1;
	}
	if (n && cap)
		counters_capture_add(r->p->ctr, n->cap_row, n->cap_cgroup, 1, len);
}

/* Opens a reply from the server (SS_ERR_REPLAY: its salt or packet ID came before). */
static int open_dgram(struct ctx *p, struct nat *n, const struct ss_key *k, const uint8_t *in,
		      size_t len, uint8_t *out, size_t cap, size_t *olen)
{
	int r;

	if (k->ops->session_new)
		return n->sess ? k->ops->session_open(n->sess, in, len, out, cap, olen) : SS_ERR;
	if ((r = k->ops->udp_open(k->m, k->master, in, len, out, cap, olen)))
		return r;
	return udp_salt_replayed(p, k, in) ? SS_ERR_REPLAY : SS_OK;
}

/* A reply from the server, opened: address header + payload in out + 3 (room for RSV RSV FRAG). */
struct reply {
	uint8_t out[UDP_MAX_DGRAM + 512];
	size_t len, used; /* opened bytes; of them, the address header */
	struct ss_addr from;
};

/* False: dropped (counted). */
static bool open_reply(struct nat *n, const uint8_t *buf, size_t len, struct reply *rp)
{
	struct ctx *p = n->r->p;
	const struct ss_key *k = nat_key(n);
	int rc = open_dgram(p, n, k, buf, len, rp->out + 3, sizeof(rp->out) - 3, &rp->len);

	if (rc == SS_ERR_REPLAY || rc == SS_ERR_TIME) {
		p->ctr->udp.replayed++;
		log_debug("udp: dropped a reply from the server: %s", ss_result_str(rc));
		return false;
	}
	if (rc || k->ops->header_parse(rp->out + 3, rp->len, &rp->from, &rp->used) != SS_OK) {
		p->ctr->udp.bad_crypto++;
		log_debug("udp: dropped a reply from the server: %s",
			  rc ? ss_result_str(rc) : "bad address header");
		return false;
	}
	return true;
}

/* SOCKS5: RSV RSV FRAG, then the source's address and the payload as the server sent them. */
static void socks_to_client(struct nat *n, uint8_t *buf, size_t len,
			    const struct sockaddr_storage *from)
{
	struct reply rp;

	(void)from;
	if (!open_reply(n, buf, len, &rp))
		return;
	memset(rp.out, 0, 3);
	udp_client_send(n, rp.out, rp.len + 3);
}

static void tunnel_to_client(struct nat *n, uint8_t *buf, size_t len,
			     const struct sockaddr_storage *from)
{
	struct reply rp;

	(void)from;
	if (open_reply(n, buf, len, &rp))
		udp_client_send(n, rp.out + 3 + rp.used, rp.len - rp.used);
}

/* redir: the payload alone, sent from the address the client sent to. */
static void redir_to_client(struct nat *n, uint8_t *buf, size_t len,
			    const struct sockaddr_storage *from)
{
	struct reply rp;

	(void)from;
	if (!open_reply(n, buf, len, &rp))
		return;
	if (n->cap_cgroup)
		capture_reply(n, &rp.from, rp.out + 3 + rp.used, rp.len - rp.used);
	else
		redir_reply(n, &rp.from, rp.out + 3 + rp.used, rp.len - rp.used);
}

const struct udp_kind udp_kind_socks = {
	.name = "SOCKS5 UDP ASSOCIATE",
	.from_client = socks_from_client,
	.to_client = socks_to_client,
};

const struct udp_kind udp_kind_tunnel = {
	.name = "tunnel",
	.from_client = tunnel_from_client,
	.to_client = tunnel_to_client,
};

const struct udp_kind udp_kind_redir = {
	.name = "redir",
	.orig_dst = true,
	.from_client = redir_from_client,
	.to_client = redir_to_client,
};
