// SPDX-License-Identifier: MIT
/*
 * ssserver's SIP022 UDP sessions (sip022_udp.h has the packets): found by client
 * session ID, not by address; a session belongs to the worker that made it,
 * claimed in the shared salt window. The kernel spreads datagrams over the
 * workers by source address, so a client that moves, or a replay sent from
 * elsewhere, may reach another worker: that worker hands the datagram to the
 * session's owner over a datagram socketpair made before the workers forked,
 * and the owner's window decides.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "traffic.h"
#include "udp_relay.h"

#define RENEW_MS 20000 /* an owner renews its claim this often while the session lives */

/* What a worker hands another with a datagram: which port, and from whom. */
struct fwd_hdr {
	struct sockaddr_storage bound;
	struct sockaddr_storage client;
	socklen_t client_len;
	int ai; /* ssserver --bpf: the listen address of a port served through it, or -1 */
};

static void forward(struct udp_relay *r, int owner, const uint8_t *buf, size_t len,
		    const struct sockaddr_storage *src, socklen_t slen)
{
	struct fwd_hdr h = { .bound = r->bound, .client = *src, .client_len = slen,
			     .ai = r->lazy ? r->ai : -1 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)buf, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	if (sendmsg(r->p->s22_fwd[owner][1], &mh, MSG_DONTWAIT) < 0)
		r->p->ctr->udp.send_failed++;
}

/*
 * The key of a packet of a session this worker does not hold: the port's,
 * or (SIP023) the user its identity header names. 0, or an SS_ERR code.
 */
static int user_of(const struct port_keys *pk, const uint8_t *buf, size_t len,
		   const struct ss_key **k)
{
	uint8_t hash[S22_EIH];
	int u, rc;

	*k = &pk->keys[0];
	if (!(*k)->eih)
		return 0;
	if ((rc = s22_udp_peek_user((*k)->m, (*k)->id.ipsk, buf, len, hash)))
		return rc;
	if ((u = port_keys_by_identity(pk, hash)) < 0)
		return SS_ERR_TAG;
	*k = &pk->keys[u];
	return 0;
}

/*
 * A session new to this worker passed every check: claim it, or learn which
 * worker holds it. 0: ours now; 1: handed to its owner; an SS_ERR code. A
 * session an earlier process held (a restart) is taken over above the
 * packet IDs that process accepted.
 */
static int claim(struct udp_relay *r, const uint8_t *sid, struct s22_udp *s, bool forwarded,
		 const uint8_t *buf, size_t len, const struct sockaddr_storage *src, socklen_t slen,
		 struct salt_claim *cl)
{
	struct ctx *p = r->p;
	int holder = -1, rc;

	if (!p->salts)
		return 0;
	cl->top = s->cur.win.top;
	rc = salt_window_claim(p->salts, sid, S22_SID, p->index, &holder, cl);
	if (rc == SS_ERR_REPLAY && !forwarded && holder >= 0 && holder != p->index &&
	    holder < p->s22_nfwd) {
		forward(r, holder, buf, len, src, slen);
		return 1;
	}
	if (rc == 1) {
		s->cur.win.floor = cl->floor;
		return 0;
	}
	/* Held by no live worker, or by this one after its session ended: a replay. */
	return rc;
}

static void dropped(struct ctx *p, int rc, const struct sockaddr_storage *src)
{
	char cs[64];

	if (rc == SS_ERR_REPLAY || rc == SS_ERR_TIME)
		p->ctr->udp.replayed++;
	else if (rc == SS_ERR_ATYP)
		p->ctr->udp.bad_header++;
	else
		p->ctr->udp.bad_crypto++;
	log_debug("udp: dropped a datagram from %s: %s", ss_sa_str(src, cs, sizeof(cs)),
		  ss_result_str(rc ? rc : SS_ERR));
}

void sessions_from_client(struct udp_relay *r, const uint8_t *buf, size_t len,
			  const struct sockaddr_storage *src, socklen_t slen, bool forwarded)
{
	struct ctx *p = r->p;
	const struct port_keys *pk = r->pk;
	const struct ss_key *k = &pk->keys[0];
	uint8_t out[UDP_MAX_DGRAM + 512], sid[S22_SID];
	struct udp_session *s = NULL;
	struct ss_addr a;
	struct nat *n = NULL;
	struct salt_claim cl = { 0 };
	size_t olen, used;
	int rc;

	/* With users (SIP023) the separate header is under the port's identity PSK. */
	rc = s22_udp_peek_sid(k->m, k->eih ? k->id.ipsk : k->master, buf, len, sid);
	if (!rc && !(n = nat_find_sid(r, sid)))
		rc = user_of(pk, buf, len, &k);
	if (!rc) {
		k = n ? n->key : k;
		s = n ? n->sess : k->ops->session_new(k, true);
		rc = !s ? SS_ERR : k->ops->session_open(s, buf, len, out, sizeof(out), &olen);
		if (!rc && !n)
			rc = claim(r, sid, &s->s22, forwarded, buf, len, src, slen, &cl);
	}
	if (!rc && addr_parse(out, olen, &a, &used) != SS_OK)
		rc = SS_ERR_ATYP;
	if (!rc && !n && (n = nat_get(r, src, slen, sid))) {
		n->sess = s;
		n->claim = cl;
		n->claimed_at = loop_now(p->loop);
	}
	if (rc || !n) {
		if (rc != 1)
			dropped(p, rc, src);
		if (!n || n->sess != s)
			k->ops->session_free(s);
		return;
	}
	if (p->salts) {
		/* What a process after this one must not accept again. */
		salt_window_set_top(p->salts, &n->claim, s->s22.cur.win.top);
		if (loop_now(p->loop) - n->claimed_at >= RENEW_MS) {
			struct salt_claim again = n->claim;
			int holder;

			salt_window_claim(p->salts, sid, S22_SID, p->index, &holder, &again);
			n->claimed_at = loop_now(p->loop);
		}
	}
	/* The session's client moves with it: replies go where it last sent from. */
	n->client = *src;
	n->client_len = slen;
	n->key = k;
	nat_touch(n);
	if (!udp_admit(n, k, true, olen - used))
		return;
	traffic_add_key(p->traffic, p->index, k, true, olen - used);
	nat_send(n, &a, out + used, olen - used);
}

/* A datagram another worker handed over: its session is held here. */
static void on_forwarded(struct handler *h, uint32_t events)
{
	struct ctx *p = container_of(h, struct ctx, s22_fwd_h);
	uint8_t *buf = p->scratch;

	(void)events;
	for (int i = 0; i < UDP_BATCH; i++) {
		ssize_t n = recv(h->fd, buf, POOL_BUF_CAP, MSG_DONTWAIT);
		struct fwd_hdr fh;

		if (n < (ssize_t)sizeof(fh))
			return;
		memcpy(&fh, buf, sizeof(fh));
		struct udp_relay *r = p->udp;

		while (r && !(r->kind == &udp_kind_server && r->pk &&
			      ss_sa_equal(&r->bound, &fh.bound)))
			r = r->next;
		if (!r && fh.ai >= 0)
			r = udp_port_relay(p, fh.ai, &fh.bound);
		if (r && r->pk->keys[0].ops->session_new)
			sessions_from_client(r, buf + sizeof(fh), (size_t)n - sizeof(fh),
					     &fh.client, fh.client_len, true);
	}
}

int udp22_forwarding_open(struct ctx *p)
{
	if (p->s22_nfwd < 2)
		return 0;
	p->s22_fwd_h.fd = p->s22_fwd[p->index][0];
	p->s22_fwd_h.on_event = on_forwarded;
	return loop_watch(p->loop, &p->s22_fwd_h, EPOLLIN);
}
