// SPDX-License-Identifier: MIT
/*
 * UDP relay: address + payload sealed for the peer by the key's method_ops
 * (each datagram alone, or within the NAT entry's datagram session for an
 * edition that has them). One listening socket per role and a NAT table from
 * client address to an upstream socket, with an LRU for the cap and the idle
 * timeout:
 *   ssserver:        client  <-AEAD->  [listener | NAT socket]  <-raw->  targets
 *   sslocal socks:   client <-SOCKS5 UDP header-> [listener | NAT socket] <-AEAD-> ssserver
 *   sslocal tunnel:  client <-raw-> [listener | NAT socket] <-AEAD-> ssserver
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aead.h"
#include "counters.h"
#include "ctx.h"
#include "listener.h"
#include "log.h"
#include "traffic.h"
#include "udp_relay.h"
#include "upstream.h"

/*
 * Every salt this process seals goes into the replay filter (shared by the
 * workers), and every salt it opens is checked against it, on both sides: a
 * replayed datagram, and one of our own reflected back, is refused the first
 * time.
 */
static void remember_salt(struct ctx *p, const struct ss_key *k, const uint8_t *dgram)
{
	if (k->m->key_len)
		replay_check_add(&p->replay, dgram, k->m->key_len);
}

static bool salt_replayed(struct ctx *p, const struct ss_key *k, const uint8_t *dgram)
{
	return k->m->key_len && replay_check_add(&p->replay, dgram, k->m->key_len);
}

/* Seals address + payload for the peer: in the entry's session if it has one, else alone. */
static int seal_dgram(struct ctx *p, struct nat *n, const struct ss_key *k, const uint8_t *in,
		      size_t len, uint8_t *out, size_t cap, size_t *olen)
{
	int r;

	if (n->sess)
		return k->ops->session_seal(n->sess, in, len, out, cap, olen);
	if (!(r = k->ops->udp_seal(k->m, k->master, in, len, out, cap, olen)))
		remember_salt(p, k, out);
	return r;
}

/* sslocal: opens a reply from the server (SS_ERR_REPLAY: its salt or packet ID came before). */
static int open_dgram(struct ctx *p, struct nat *n, const struct ss_key *k, const uint8_t *in,
		      size_t len, uint8_t *out, size_t cap, size_t *olen)
{
	int r;

	if (k->ops->session_new)
		return n->sess ? k->ops->session_open(n->sess, in, len, out, cap, olen) : SS_ERR;
	if ((r = k->ops->udp_open(k->m, k->master, in, len, out, cap, olen)))
		return r;
	return salt_replayed(p, k, in) ? SS_ERR_REPLAY : SS_OK;
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

/* ssserver, SIP004: address header + payload, under the key of one of the port's users. */
static void server_from_client(struct udp_relay *r, const uint8_t *buf, size_t len,
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
	if (salt_replayed(p, k, buf)) {
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
	if ((n = nat_get(r, src, slen, NULL))) {
		n->key = k;
		nat_touch(n);
		traffic_add_key(p->traffic, p->index, k, true, olen - used);
		nat_send(n, &a, out + used, olen - used);
	}
}

/* A datagram from a client on the listening socket (redir: orig is its destination). */
static void from_client(struct udp_relay *r, uint8_t *buf, size_t len,
			const struct sockaddr_storage *src, socklen_t slen,
			const struct sockaddr_storage *orig)
{
	struct ctx *p = r->p;
	uint8_t out[UDP_MAX_DGRAM + 512];
	struct ss_addr a;
	size_t used, olen;
	struct nat *n;
	const struct ss_key *k = &p->key;
	char cs[64];

	if (r->role == UDP_SERVER) {
		if (r->pk->keys[0].ops->session_new)
			sessions_from_client(r, buf, len, src, slen, false);
		else
			server_from_client(r, buf, len, src, slen);
		return;
	}
	if (r->role == UDP_SOCKS) {
		/* RFC 1928 section 7: RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA */
		if (!socks_client_allowed(r, src)) {
			r->p->ctr->udp.no_assoc++;
			log_debug("udp: dropped a datagram from %s: no UDP ASSOCIATE from it",
				  ss_sa_str(src, cs, sizeof(cs)));
			return;
		}
		if (len < 4 || buf[0] || buf[1]) {
			r->p->ctr->udp.bad_header++;
			return;
		}
		if (buf[2]) {
			r->p->ctr->udp.fragmented++;
			log_debug("udp: dropped a fragment (FRAG %u) from %s", buf[2],
				  ss_sa_str(src, cs, sizeof(cs)));
			return;
		}
		if (addr_parse(buf + 3, len - 3, &a, &used) != SS_OK) {
			r->p->ctr->udp.bad_header++;
			log_debug("udp: dropped a datagram from %s: bad SOCKS5 UDP header",
				  ss_sa_str(src, cs, sizeof(cs)));
			return;
		}
		buf += 3;
		len -= 3;
	} else {
		/* Tunnel, redir: prepend the target's header (buf has room before it). */
		uint8_t hdr[SS_ADDR_MAX];
		int hl;

		if (r->role == UDP_REDIR) {
			if (!orig || addr_from_sockaddr(&a, (const struct sockaddr *)orig)) {
				r->p->ctr->udp.bad_header++;
				log_debug("udp: dropped a datagram from %s: no original destination",
					  ss_sa_str(src, cs, sizeof(cs)));
				return;
			}
		} else {
			a = p->cfg->tunnel;
		}
		hl = k->ops->header_encode(&a, hdr, sizeof(hdr));
		buf -= hl;
		memcpy(buf, hdr, (size_t)hl);
		len += (size_t)hl;
	}
	if (len + k->ops->udp_overhead(k->m) > UDP_MAX_DGRAM) {
		r->p->ctr->udp.oversize++;
		return;
	}
	if (!(n = nat_get(r, src, slen, NULL)))
		return;
	nat_touch(n);
	if (k->ops->session_new && !n->sess && !(n->sess = k->ops->session_new(k, false))) {
		nat_kill(n);
		return;
	}
	if (seal_dgram(p, n, k, buf, len, out, sizeof(out), &olen))
		return;
	nat_send(n, &r->server, out, olen);
}

/* A reply on a NAT socket: wrap it and send it to the client. */
static void to_client(struct nat *n, uint8_t *buf, size_t len, const struct sockaddr_storage *from)
{
	struct udp_relay *r = n->r;
	struct ctx *p = r->p;
	uint8_t out[UDP_MAX_DGRAM + 512];
	struct sockaddr_storage src;
	struct ss_addr a;
	size_t olen, used;
	const uint8_t *send_buf = out;
	/* ssserver answers under the key the client's last datagram came under. */
	const struct ss_key *k = nat_key(n);
	int rc;

	if (r->role == UDP_SERVER) {
		/* buf was received SS_ADDR_MAX bytes into its buffer: prepend the source. */
		uint8_t hdr[SS_ADDR_MAX];
		int hl;

		ss_sa_from_v6(from, &src);
		addr_from_sockaddr(&a, (struct sockaddr *)&src);
		hl = k->ops->header_encode(&a, hdr, sizeof(hdr));
		buf -= hl;
		memcpy(buf, hdr, (size_t)hl);
		len += (size_t)hl;
		if (len + k->ops->udp_overhead(k->m) > UDP_MAX_DGRAM ||
		    seal_dgram(p, n, k, buf, len, out, sizeof(out), &olen)) {
			r->p->ctr->udp.oversize++;
			return;
		}
		traffic_add_key(p->traffic, p->index, k, false, len - (size_t)hl);
	} else {
		rc = open_dgram(p, n, k, buf, len, out + 3, sizeof(out) - 3, &olen);
		if (rc == SS_ERR_REPLAY || rc == SS_ERR_TIME) {
			r->p->ctr->udp.replayed++;
			log_debug("udp: dropped a reply from the server: %s", ss_result_str(rc));
			return;
		}
		if (rc || k->ops->header_parse(out + 3, olen, &a, &used) != SS_OK) {
			r->p->ctr->udp.bad_crypto++;
			log_debug("udp: dropped a reply from the server: %s",
				  rc ? ss_result_str(rc) : "bad address header");
			return;
		}
		if (r->role == UDP_SOCKS) {
			out[0] = out[1] = out[2] = 0; /* RSV RSV FRAG */
			olen += 3;
		} else {
			send_buf = out + 3 + used;
			olen -= used;
		}
		if (r->role == UDP_REDIR) {
			redir_reply(n, &a, send_buf, olen);
			return;
		}
	}
	if (sendto(r->h.fd, send_buf, olen, 0, (struct sockaddr *)&n->client, n->client_len) < 0) {
		r->p->ctr->udp.send_failed++;
		return;
	}
	r->p->ctr->udp.out++;
	r->bytes_down += olen;
	nat_touch(n);
}

void udp_on_nat_event(struct handler *h, uint32_t events)
{
	struct nat *n = (struct nat *)h;
	uint8_t *buf = n->r->p->scratch;

	(void)events;
	for (int i = 0; i < UDP_BATCH && !n->dead; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(h->fd, buf + SS_ADDR_MAX, POOL_BUF_CAP - SS_ADDR_MAX, 0,
				       (struct sockaddr *)&from, &fl);

		if (len < 0)
			return;
		to_client(n, buf + SS_ADDR_MAX, (size_t)len, &from);
	}
}

static void on_listen_event(struct handler *h, uint32_t events)
{
	struct udp_relay *r = (struct udp_relay *)h;
	uint8_t *buf = r->p->scratch;

	(void)events;
	for (int i = 0; i < UDP_BATCH; i++) {
		struct sockaddr_storage src, orig;
		struct iovec iov = { buf + SS_ADDR_MAX, POOL_BUF_CAP - SS_ADDR_MAX };
		char ctl[CMSG_SPACE(sizeof(struct sockaddr_in6))];
		struct msghdr mh = { .msg_name = &src, .msg_namelen = sizeof(src), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = ctl,
				     .msg_controllen = r->role == UDP_REDIR ? sizeof(ctl) : 0 };
		ssize_t len = recvmsg(h->fd, &mh, 0);

		if (len < 0)
			return;
		r->bytes_up += (uint64_t)len; /* as the client sent it (an association's close line) */
		from_client(r, buf + SS_ADDR_MAX, (size_t)len, &src, mh.msg_namelen,
			    r->role == UDP_REDIR && orig_dst(&mh, &orig) ? &orig : NULL);
	}
}

/* sslocal: the server of this relay's associations. */
static int upstream_addr(const struct ss_config *cfg, struct ss_addr *a)
{
	const char *host;
	uint16_t port;

	upstream_udp(cfg, &host, &port);
	return addr_from_host(a, host, port);
}

int udp_listen(struct ctx *p, enum udp_role role, const char *host, int port,
	       struct port_keys *pk, const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res;
	struct udp_relay *r;
	char ports[8], where[64];
	int fd, rc;

	snprintf(ports, sizeof(ports), "%d", port);
	if ((rc = getaddrinfo(host, ports, &hints, &res))) {
		*why = gai_strerror(rc);
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Workers share the port; the kernel keeps each client flow on one of them. */
	if (fd >= 0 && p->cfg->reuse_port)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){ 1 }, sizeof(int));
	if (fd >= 0 && role == UDP_REDIR) {
		if (listener_transparent(fd))
			log_warn("udp redir: IP_TRANSPARENT: %s; replies cannot carry the original "
				 "source address", strerror(errno));
		setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &(int){ 1 }, sizeof(int));
		setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &(int){ 1 }, sizeof(int));
	}
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen)) {
		rc = -errno;
		*why = strerror(errno);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return rc;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		close(fd);
		freeaddrinfo(res);
		*why = "out of memory";
		return -ENOMEM;
	}
	memcpy(&r->bound, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	r->pk = pk;
	r->h.fd = fd;
	r->h.on_event = on_listen_event;
	r->p = p;
	r->role = role;
	if (role != UDP_SERVER && upstream_addr(p->cfg, &r->server)) {
		close(fd);
		free(r);
		*why = "bad server address";
		return -EINVAL;
	}
	r->next = p->udp;
	p->udp = r;
	loop_watch(p->loop, &r->h, EPOLLIN);
	log_info("udp: listening on %s (%s)", ss_sa_str(&r->bound, where, sizeof(where)),
		 role == UDP_SERVER ? "server" : role == UDP_SOCKS ? "SOCKS5 UDP ASSOCIATE" :
		 role == UDP_REDIR ? "redir" : "tunnel");
	return 0;
}

void udp_reap(struct ctx *p)
{
	for (struct udp_relay *r = p->udp; r; r = r->next)
		nat_reap(r);
	while (p->udp_dead) {
		struct udp_relay *r = p->udp_dead;

		p->udp_dead = r->next;
		nat_reap(r);
		free(r);
	}
}

/* Closes the listeners; association sockets close with their TCP connections. */
void udp_retag(struct ctx *p, const struct port_keys *old, struct port_keys *pk)
{
	for (struct udp_relay *r = p->udp; r; r = r->next) {
		if (r->pk != old)
			continue;
		/* Its NAT entries answer under the old keys: they start again. */
		while (r->lru_head)
			nat_kill(r->lru_head);
		r->pk = pk;
	}
}

void udp_close_all(struct ctx *p, const struct port_keys *pk)
{
	struct udp_relay **pp = &p->udp;

	while (*pp) {
		struct udp_relay *r = *pp;

		if (r->owner || (pk && r->pk != pk)) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		while (r->lru_head)
			nat_kill(r->lru_head);
		reply_expire(r, UINT64_MAX);
		nat_reap(r);
		loop_forget(p->loop, &r->h);
		close(r->h.fd);
		free(r);
	}
}

void udp_sweep(struct ctx *p, uint64_t now, uint64_t timeout_ms)
{
	for (struct udp_relay *r = p->udp; r; r = r->next) {
		while (r->lru_head && now - r->lru_head->last_active >= timeout_ms)
			nat_kill(r->lru_head);
		if (r->nreply && now > timeout_ms)
			reply_expire(r, now - timeout_ms + 1);
	}
}

void udp_stats(const struct ctx *p, struct udp_stats *o)
{
	*o = p->ctr->udp;
}

int udp_redir_fd(const struct ctx *p)
{
	for (const struct udp_relay *r = p->udp; r; r = r->next)
		if (r->role == UDP_REDIR)
			return r->h.fd;
	return -1;
}

int udp_socks_bound(const struct ctx *p, struct sockaddr_storage *sa)
{
	for (const struct udp_relay *r = p->udp; r; r = r->next) {
		if (r->role == UDP_SOCKS) {
			*sa = r->bound;
			return 0;
		}
	}
	return -ENOENT;
}

/* A SOCKS5 association's own socket: the relay takes the listener's settings and counters. */
int udp_assoc_open(struct ctx *p, const struct udp_assoc *a, struct udp_relay **out,
		   struct sockaddr_storage *bound)
{
	struct udp_relay *ls, *r;
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	int fd, e;

	for (ls = p->udp; ls && (ls->role != UDP_SOCKS || ls->owner); ls = ls->next)
		;
	if (!ls)
		return -ENOENT;
	ss_sa_from_v6(a->here, &sa);
	ss_sa_set_port(&sa, 0);
	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, ss_sa_len(&sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) || !(r = calloc(1, sizeof(*r)))) {
		e = errno;
		close(fd);
		return -e;
	}
	r->h.fd = fd;
	r->h.on_event = on_listen_event;
	r->p = p;
	r->role = UDP_SOCKS;
	r->bound = sa;
	r->server = ls->server;
	r->owner = a->owner;
	r->keepalive = a->keepalive;
	ss_sa_from_v6(a->client, &r->allowed);
	r->allowed_port = a->client_port;
	if ((e = loop_watch(p->loop, &r->h, EPOLLIN))) {
		close(fd);
		free(r);
		return e;
	}
	r->next = p->udp;
	p->udp = r;
	*out = r;
	*bound = sa;
	return 0;
}

void udp_assoc_bytes(const struct udp_relay *r, uint64_t *up, uint64_t *down)
{
	*up = r->bytes_up;
	*down = r->bytes_down;
}

/* Ends an association: its socket and NAT entries close now, the memory at batch end. */
void udp_assoc_close(struct ctx *p, struct udp_relay *r)
{
	struct udp_relay **pp = &p->udp;

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	while (r->lru_head)
		nat_kill(r->lru_head);
	reply_expire(r, UINT64_MAX);
	loop_forget(p->loop, &r->h);
	close(r->h.fd);
	r->h.fd = -1; /* later events of this batch read nothing */
	r->owner = NULL;
	r->next = p->udp_dead;
	p->udp_dead = r;
}
