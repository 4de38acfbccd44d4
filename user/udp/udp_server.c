// SPDX-License-Identifier: MIT
/*
 * ssserver's UDP kind: a client's datagram is sealed under the key of one of
 * the port's users (SIP004, each datagram alone) or belongs to a client
 * session (an edition with datagram sessions: udp_sessions.c); the target's
 * replies go back sealed under the key the client's last datagram came under.
 */
#include <string.h>

#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "traffic.h"
#include "udp_relay.h"

/* SIP004: address header + payload, under the key of one of the port's users. */
static void open_from_client(struct udp_relay *r, const uint8_t *buf, size_t len,
			     const struct sockaddr_storage *src, socklen_t slen)
{
	struct ctx *p = r->p;
	uint8_t out[UDP_MAX_DGRAM + 512];
	const struct ss_key *k;
	struct ss_addr a;
	size_t used, olen;
	struct nat *n;
	char cs[64];
	int rc;

	if ((rc = port_keys_open_dgram(r->pk, buf, len, out, sizeof(out), &olen)) < 0) {
		p->ctr->udp.bad_crypto++;
		log_debug("udp: dropped a datagram from %s: authentication failed (no key "
			  "of the port opens it)", ss_sa_str(src, cs, sizeof(cs)));
		return;
	}
	k = &r->pk->keys[rc];
	if (udp_salt_replayed(p, k, buf)) {
		p->ctr->udp.replayed++;
		log_debug("udp: dropped a datagram from %s: replayed salt",
			  ss_sa_str(src, cs, sizeof(cs)));
		return;
	}
	if (k->ops->header_parse(out, olen, &a, &used) != SS_OK) {
		p->ctr->udp.bad_header++;
		log_debug("udp: dropped a datagram from %s: bad address header",
			  ss_sa_str(src, cs, sizeof(cs)));
		return;
	}
	if (traffic_spent(p->traffic, k)) {
		p->ctr->udp.refused++;
		return;
	}
	if ((n = nat_get(r, src, slen, NULL))) {
		n->key = k;
		nat_touch(n);
		if (!udp_admit(n, k, true, olen - used))
			return;
		traffic_add_key(p->traffic, p->index, k, true, olen - used);
		nat_send(n, &a, out + used, olen - used);
	}
}

static void server_from_client(struct udp_relay *r, uint8_t *buf, size_t len,
			       const struct sockaddr_storage *src, socklen_t slen,
			       const struct sockaddr_storage *orig)
{
	(void)orig;
	if (r->pk->keys[0].ops->session_new)
		sessions_from_client(r, buf, len, src, slen, false);
	else
		open_from_client(r, buf, len, src, slen);
}

/* A target's reply (SS_ADDR_MAX bytes of room before buf): its source + payload, sealed. */
static void server_to_client(struct nat *n, uint8_t *buf, size_t len,
			     const struct sockaddr_storage *from)
{
	struct ctx *p = n->r->p;
	uint8_t out[UDP_MAX_DGRAM + 512];
	const struct ss_key *k = nat_key(n);
	struct sockaddr_storage src;
	uint8_t hdr[SS_ADDR_MAX];
	struct ss_addr a;
	size_t olen;
	int hl;

	ss_sa_from_v6(from, &src);
	addr_from_sockaddr(&a, (struct sockaddr *)&src);
	hl = k->ops->header_encode(&a, hdr, sizeof(hdr));
	buf -= hl;
	memcpy(buf, hdr, (size_t)hl);
	len += (size_t)hl;
	if (!udp_admit(n, k, false, len))
		return;
	if (len + k->ops->udp_overhead(k->m) > UDP_MAX_DGRAM ||
	    udp_seal(p, n, k, buf, len, out, sizeof(out), &olen)) {
		p->ctr->udp.oversize++;
		return;
	}
	traffic_add_key(p->traffic, p->index, k, false, len - (size_t)hl);
	udp_client_send(n, out, olen);
}

/*
 * ssserver --bpf: a datagram to any port of this listen address goes to that
 * port's relay, whose socket, bound where the client sent it, the replies
 * leave from.
 */
static void shared_from_client(struct udp_relay *r, uint8_t *buf, size_t len,
			       const struct sockaddr_storage *src, socklen_t slen,
			       const struct sockaddr_storage *orig)
{
	struct sockaddr_storage from = *src;
	struct udp_relay *pr;

	/* A port no longer served (a reload removed it while the kernel steered the datagram). */
	if (!orig || !(pr = udp_port_relay(r->p, r->ai, orig))) {
		r->p->ctr->udp.refused++;
		return;
	}
	/* An IPv4 client seen through a dual-stack socket is answered from an IPv4 one. */
	if (pr->bound.ss_family == AF_INET) {
		ss_sa_from_v6(src, &from);
		slen = ss_sa_len(&from);
	}
	pr->bytes_up += len;
	server_from_client(pr, buf, len, &from, slen, NULL);
}

const struct udp_kind udp_kind_shared = {
	.name = "server, every port",
	.serves = true,
	.orig_dst = true,
	.from_client = shared_from_client,
};

const struct udp_kind udp_kind_server = {
	.name = "server",
	.serves = true,
	.from_client = server_from_client,
	.to_client = server_to_client,
};
