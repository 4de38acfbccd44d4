// SPDX-License-Identifier: MIT
/*
 * UDP relay (SIP004 UDP: each datagram is salt | seal(address + payload) with
 * a fresh salt and a zero nonce). One listening socket per role and a NAT
 * table from client address to an upstream socket, with an LRU for the cap
 * and the idle timeout:
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
#include "conn.h"
#include "dns.h"
#include "log.h"
#include "proxy.h"
#include "udp.h"

#define UDP_BUCKETS 1024
#define UDP_BATCH 64
#define UDP_MAX_DGRAM 65507 /* largest IPv4 UDP payload */

struct nat {
	struct handler h; /* the upstream socket */
	struct udp_relay *r;
	struct sockaddr_storage client;
	socklen_t client_len;
	uint64_t last_active;
	struct nat *prev, *next; /* LRU, oldest first; or the dead list */
	struct nat *hnext;
	struct dns_query *q;     /* a datagram waits for this resolution */
	uint8_t *pending;
	size_t pending_len;
	uint16_t pending_port;
	bool dead;
};

/*
 * redir: a transparent socket bound to a target's address, from which its
 * replies reach the clients. It is not connected, so it never takes the
 * clients' datagrams: TPROXY's established lookup skips unconnected UDP
 * sockets and assigns the redir socket, and sk_lookup's pick wins over any
 * socket that is not connected. Kept while used (timeout), at most REPLY_MAX.
 */
struct reply_sock {
	int fd;
	struct sockaddr_storage addr;
	uint64_t last_used;
	struct reply_sock *hnext;
};

#define REPLY_MAX 256
#define REPLY_BUCKETS 256

struct udp_relay {
	struct handler h;
	struct proxy *p;
	enum udp_role role;
	struct sockaddr_storage bound;
	struct nat *buckets[UDP_BUCKETS];
	struct nat *lru_head, *lru_tail, *dead;
	unsigned n;
	struct reply_sock *rbuckets[REPLY_BUCKETS];
	unsigned nreply;
	struct ss_addr server; /* sslocal: the ssserver */
	struct udp_stats st;
	struct udp_stats *stp;  /* &st, or the listener's for an association's socket */
	struct udp_relay *next;
	/*
	 * SOCKS5 association socket: the only client allowed (its IP, and the port
	 * it announced or 0) and the TCP control connection that keeps it alive.
	 */
	struct conn *owner;
	struct sockaddr_storage allowed;
	uint16_t allowed_port;
};

static const char *sa_str(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	return sockaddr_str((const struct sockaddr *)sa, buf, len);
}

static unsigned sa_hash(const struct sockaddr_storage *sa)
{
	const uint8_t *b = (const uint8_t *)sa;
	size_t n = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	unsigned h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h % UDP_BUCKETS;
}

static bool sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* NAT sockets are dual-stack IPv6: IPv4 peers travel as ::ffff:a.b.c.d. */
static socklen_t to_v6(const struct sockaddr_storage *in, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	if (in->ss_family == AF_INET6) {
		*out = *(const struct sockaddr_in6 *)in;
	} else {
		const struct sockaddr_in *s4 = (const void *)in;

		out->sin6_port = s4->sin_port;
		out->sin6_addr.s6_addr[10] = out->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&out->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
	}
	return sizeof(*out);
}

static void from_v6(const struct sockaddr_storage *in, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *s6 = (const void *)in;

	*out = *in;
	if (in->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct sockaddr_in *s4 = (void *)out;
		uint16_t port = s6->sin6_port;
		struct in_addr a;

		memcpy(&a, &s6->sin6_addr.s6_addr[12], 4);
		memset(out, 0, sizeof(*out));
		s4->sin_family = AF_INET;
		s4->sin_port = port;
		s4->sin_addr = a;
	}
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

static uint16_t sa_port(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port :
					       ((const struct sockaddr_in6 *)a)->sin6_port);
}

static void sa_set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)a)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

static socklen_t sa_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void lru_unlink(struct udp_relay *r, struct nat *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		r->lru_head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		r->lru_tail = n->prev;
	n->prev = n->next = NULL;
}

static void lru_append(struct udp_relay *r, struct nat *n)
{
	n->prev = r->lru_tail;
	n->next = NULL;
	if (r->lru_tail)
		r->lru_tail->next = n;
	else
		r->lru_head = n;
	r->lru_tail = n;
}

static void nat_touch(struct nat *n)
{
	n->last_active = loop_now(n->r->p->loop);
	if (n->r->lru_tail != n) {
		lru_unlink(n->r, n);
		lru_append(n->r, n);
	}
}

/* Closes the NAT socket now; the memory goes at the end of the epoll batch. */
static void nat_kill(struct nat *n)
{
	struct udp_relay *r = n->r;
	struct nat **pp = &r->buckets[sa_hash(&n->client)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
	lru_unlink(r, n);
	dns_cancel(n->q);
	n->q = NULL;
	free(n->pending);
	n->pending = NULL;
	loop_forget(r->p->loop, &n->h);
	close(n->h.fd);
	n->dead = true;
	n->next = r->dead;
	r->dead = n;
	r->n--;
}

static void on_nat_event(struct handler *h, uint32_t events);

static struct nat *nat_get(struct udp_relay *r, const struct sockaddr_storage *client, socklen_t len)
{
	unsigned b = sa_hash(client);
	struct nat *n;
	char cs[64];

	for (n = r->buckets[b]; n; n = n->hnext)
		if (sa_equal(&n->client, client))
			return n;
	if (r->n >= r->p->udp_max && r->lru_head) {
		r->stp->evicted++;
		log_info("udp: %u associations (the cap); evicting the oldest, %s", r->n,
			 sa_str(&r->lru_head->client, cs, sizeof(cs)));
		nat_kill(r->lru_head);
	}
	if (!(n = calloc(1, sizeof(*n))))
		return NULL;
	n->h.fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->h.fd < 0) {
		log_warn("udp: socket: %s", strerror(errno));
		free(n);
		return NULL;
	}
	setsockopt(n->h.fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 0 }, sizeof(int));
	n->h.on_event = on_nat_event;
	n->r = r;
	n->client = *client;
	n->client_len = len;
	if (loop_watch(r->p->loop, &n->h, EPOLLIN)) {
		close(n->h.fd);
		free(n);
		return NULL;
	}
	n->hnext = r->buckets[b];
	r->buckets[b] = n;
	n->last_active = loop_now(r->p->loop);
	lru_append(r, n);
	r->n++;
	log_debug("udp: new association for %s (%u live)", sa_str(client, cs, sizeof(cs)), r->n);
	return n;
}

static void nat_sendto(struct nat *n, const struct sockaddr_storage *to, const uint8_t *data,
		       size_t len)
{
	struct sockaddr_in6 s6;
	socklen_t sl = to_v6(to, &s6);
	const char *rule;

	if (n->r->role == UDP_SERVER &&
	    (rule = policy_refuses(&n->r->p->policy, (const struct sockaddr *)to))) {
		char ts[64];

		n->r->stp->refused++;
		log_debug("udp: target %s refused by policy: %s", sa_str(to, ts, sizeof(ts)), rule);
		return;
	}
	if (sendto(n->h.fd, data, len, 0, (struct sockaddr *)&s6, sl) < 0) {
		n->r->stp->send_failed++;
		log_debug("udp: sendto: %s", strerror(errno));
		return;
	}
	n->r->stp->in++;
}

static void on_nat_resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct nat *n = arg;
	struct sockaddr_storage to;

	n->q = NULL;
	if (!err) {
		memset(&to, 0, sizeof(to));
		memcpy(&to, sa, len);
		nat_sendto(n, &to, n->pending, n->pending_len);
	} else {
		n->r->stp->unresolved++;
	}
	free(n->pending);
	n->pending = NULL;
}

/* Sends towards dst (numeric or a name resolved through the shared resolver). */
static void nat_send(struct nat *n, const struct ss_addr *dst, const uint8_t *data, size_t len)
{
	struct sockaddr_storage to;
	socklen_t tl;
	int r;

	if (dst->atyp != SS_ATYP_DOMAIN) {
		addr_to_sockaddr(dst, &to);
		nat_sendto(n, &to, data, len);
		return;
	}
	if (n->q) { /* one datagram waits per association; this one is dropped */
		n->r->stp->unresolved++;
		return;
	}
	r = dns_resolve(n->r->p->dns, dst->host, dst->port, &to, &tl, on_nat_resolved, n, &n->q);
	if (r == 0) {
		nat_sendto(n, &to, data, len);
	} else if (r < 0 || !(n->pending = malloc(len))) {
		dns_cancel(n->q);
		n->q = NULL;
		n->r->stp->unresolved++;
	} else {
		memcpy(n->pending, data, len);
		n->pending_len = len;
	}
}

/*
 * An association's own socket takes datagrams from its client only; the shared
 * listener (for clients that ignore BND.PORT) from any client with an
 * association in this worker.
 */
static bool socks_client_allowed(struct udp_relay *r, const struct sockaddr_storage *src)
{
	if (r->owner) {
		/* Its socket has the family of the address it is bound to: src is not mapped. */
		if (!same_ip(src, &r->allowed) || (r->allowed_port && sa_port(src) != r->allowed_port))
			return false;
		conn_keepalive(r->owner);
		return true;
	}
	for (struct conn *c = r->p->assocs; c; c = c->assoc_next) {
		if (same_ip(&c->peer_sa, src)) {
			conn_keepalive(c);
			return true;
		}
	}
	return false;
}

/* A datagram from a client on the listening socket (redir: orig is its destination). */
static void from_client(struct udp_relay *r, uint8_t *buf, size_t len,
			const struct sockaddr_storage *src, socklen_t slen,
			const struct sockaddr_storage *orig)
{
	struct proxy *p = r->p;
	uint8_t out[UDP_MAX_DGRAM + 512];
	struct ss_addr a;
	size_t used, olen;
	struct nat *n;
	char cs[64];
	int rc;

	if (r->role == UDP_SERVER) {
		/* Opened in place: plaintext = address header + payload. */
		rc = ss_udp_open(p->method, SS_BACKEND_AUTO, p->master, buf, len, out, sizeof(out), &olen);
		if (rc) {
			r->stp->bad_crypto++;
			log_debug("udp: dropped a datagram from %s: %s", sa_str(src, cs, sizeof(cs)),
				  ss_result_str(rc));
			return;
		}
		if (p->method->key_len && replay_check_add(&p->replay, buf, p->method->key_len)) {
			r->stp->replayed++;
			log_debug("udp: dropped a datagram from %s: replayed salt",
				  sa_str(src, cs, sizeof(cs)));
			return;
		}
		if (addr_parse(out, olen, &a, &used) != SS_OK) {
			r->stp->bad_header++;
			log_debug("udp: dropped a datagram from %s: bad address header",
				  sa_str(src, cs, sizeof(cs)));
			return;
		}
		if ((n = nat_get(r, src, slen))) {
			nat_touch(n);
			nat_send(n, &a, out + used, olen - used);
		}
		return;
	}
	if (r->role == UDP_SOCKS) {
		/* RFC 1928 section 7: RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA */
		if (!socks_client_allowed(r, src)) {
			r->stp->no_assoc++;
			log_debug("udp: dropped a datagram from %s: no UDP ASSOCIATE from it",
				  sa_str(src, cs, sizeof(cs)));
			return;
		}
		if (len < 4 || buf[0] || buf[1]) {
			r->stp->bad_header++;
			return;
		}
		if (buf[2]) {
			r->stp->fragmented++;
			log_debug("udp: dropped a fragment (FRAG %u) from %s", buf[2],
				  sa_str(src, cs, sizeof(cs)));
			return;
		}
		if (addr_parse(buf + 3, len - 3, &a, &used) != SS_OK) {
			r->stp->bad_header++;
			log_debug("udp: dropped a datagram from %s: bad SOCKS5 UDP header",
				  sa_str(src, cs, sizeof(cs)));
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
				r->stp->bad_header++;
				log_debug("udp: dropped a datagram from %s: no original destination",
					  sa_str(src, cs, sizeof(cs)));
				return;
			}
		} else {
			a = p->tunnel;
		}
		hl = addr_encode(&a, hdr, sizeof(hdr));
		buf -= hl;
		memcpy(buf, hdr, (size_t)hl);
		len += (size_t)hl;
	}
	if (len + ss_udp_overhead(p->method) > UDP_MAX_DGRAM) {
		r->stp->oversize++;
		return;
	}
	if (!(n = nat_get(r, src, slen)))
		return;
	nat_touch(n);
	if (ss_udp_seal(p->method, SS_BACKEND_AUTO, p->master, buf, len, out, sizeof(out), &olen))
		return;
	nat_send(n, &r->server, out, olen);
}

static void reply_unlink(struct udp_relay *r, struct reply_sock *rs)
{
	struct reply_sock **pp = &r->rbuckets[sa_hash(&rs->addr) % REPLY_BUCKETS];

	while (*pp != rs)
		pp = &(*pp)->hnext;
	*pp = rs->hnext;
	r->nreply--;
	close(rs->fd);
	free(rs);
}

/*
 * Closes the reply sockets unused since before, or (before == 0) the least
 * recently used one. A scan of at most REPLY_MAX entries, at the tick or when
 * the table is full.
 */
static void reply_expire(struct udp_relay *r, uint64_t before)
{
	struct reply_sock *oldest = NULL;

	for (unsigned b = 0; b < REPLY_BUCKETS; b++) {
		for (struct reply_sock *rs = r->rbuckets[b], *next; rs; rs = next) {
			next = rs->hnext;
			if (before && rs->last_used < before)
				reply_unlink(r, rs);
			else if (!before && (!oldest || rs->last_used < oldest->last_used))
				oldest = rs;
		}
	}
	if (oldest)
		reply_unlink(r, oldest);
}

/* The reply socket bound to addr, made on first use; NULL with errno. */
static struct reply_sock *reply_sock(struct udp_relay *r, const struct sockaddr_storage *addr,
				     socklen_t len)
{
	unsigned b = sa_hash(addr) % REPLY_BUCKETS;
	struct reply_sock *rs;
	int fd, e;

	for (rs = r->rbuckets[b]; rs; rs = rs->hnext)
		if (sa_equal(&rs->addr, addr))
			return rs;
	fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* Bound only to send; a small receive buffer in case anything arrives. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 0 }, sizeof(int));
	if (proxy_transparent(fd) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int)) ||
	    bind(fd, (const struct sockaddr *)addr, len) || !(rs = calloc(1, sizeof(*rs)))) {
		e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	if (r->nreply >= REPLY_MAX)
		reply_expire(r, 0);
	rs->fd = fd;
	rs->addr = *addr;
	rs->hnext = r->rbuckets[b];
	r->rbuckets[b] = rs;
	r->nreply++;
	return rs;
}

/* redir: the reply leaves from the address the client sent to. */
static void redir_reply(struct nat *n, const struct ss_addr *from, const uint8_t *data, size_t len)
{
	struct udp_relay *r = n->r;
	struct sockaddr_storage src, dst;
	socklen_t sl = (socklen_t)addr_to_sockaddr(from, &src), dl;
	struct reply_sock *rs = NULL;

	/* The client's address family decides: an IPv4 client behind a dual-stack socket. */
	from_v6(&n->client, &dst);
	dl = sa_len(&dst);
	if (src.ss_family != dst.ss_family || !(rs = reply_sock(r, &src, sl)) ||
	    sendto(rs->fd, data, len, 0, (struct sockaddr *)&dst, dl) < 0) {
		char fs[64];

		r->stp->send_failed++;
		log_debug("udp: redir reply from %s: %s", sa_str(&src, fs, sizeof(fs)),
			  src.ss_family != dst.ss_family ? "address family differs from the client's" :
			  strerror(errno));
	} else {
		r->stp->out++;
		nat_touch(n);
	}
	if (rs)
		rs->last_used = loop_now(r->p->loop);
}

/* A reply on a NAT socket: wrap it and send it to the client. */
static void to_client(struct nat *n, uint8_t *buf, size_t len, const struct sockaddr_storage *from)
{
	struct udp_relay *r = n->r;
	struct proxy *p = r->p;
	uint8_t out[UDP_MAX_DGRAM + 512];
	struct sockaddr_storage src;
	struct ss_addr a;
	size_t olen, used;
	const uint8_t *send_buf = out;
	int rc;

	if (r->role == UDP_SERVER) {
		/* buf was received SS_ADDR_MAX bytes into its buffer: prepend the source. */
		uint8_t hdr[SS_ADDR_MAX];
		int hl;

		from_v6(from, &src);
		addr_from_sockaddr(&a, (struct sockaddr *)&src);
		hl = addr_encode(&a, hdr, sizeof(hdr));
		buf -= hl;
		memcpy(buf, hdr, (size_t)hl);
		len += (size_t)hl;
		if (len + ss_udp_overhead(p->method) > UDP_MAX_DGRAM ||
		    ss_udp_seal(p->method, SS_BACKEND_AUTO, p->master, buf, len, out, sizeof(out), &olen)) {
			r->stp->oversize++;
			return;
		}
	} else {
		rc = ss_udp_open(p->method, SS_BACKEND_AUTO, p->master, buf, len, out + 3,
				 sizeof(out) - 3, &olen);
		if (rc || addr_parse(out + 3, olen, &a, &used) != SS_OK) {
			r->stp->bad_crypto++;
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
		r->stp->send_failed++;
		return;
	}
	r->stp->out++;
	nat_touch(n);
}

static void on_nat_event(struct handler *h, uint32_t events)
{
	struct nat *n = (struct nat *)h;
	uint8_t *buf = n->r->p->scratch;

	(void)events;
	for (int i = 0; i < UDP_BATCH && !n->dead; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(h->fd, buf + SS_ADDR_MAX, PROXY_BUF_CAP - SS_ADDR_MAX, 0,
				       (struct sockaddr *)&from, &fl);

		if (len < 0)
			return;
		to_client(n, buf + SS_ADDR_MAX, (size_t)len, &from);
	}
}

/* redir: the destination the client sent to, from IP(V6)_ORIGDSTADDR. */
static bool orig_dst(struct msghdr *mh, struct sockaddr_storage *out)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if ((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_ORIGDSTADDR) ||
		    (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_ORIGDSTADDR)) {
			size_t n = cm->cmsg_len - CMSG_LEN(0);

			memset(out, 0, sizeof(*out));
			memcpy(out, CMSG_DATA(cm), n < sizeof(*out) ? n : sizeof(*out));
			return true;
		}
	}
	return false;
}

static void on_listen_event(struct handler *h, uint32_t events)
{
	struct udp_relay *r = (struct udp_relay *)h;
	uint8_t *buf = r->p->scratch;

	(void)events;
	for (int i = 0; i < UDP_BATCH; i++) {
		struct sockaddr_storage src, orig;
		struct iovec iov = { buf + SS_ADDR_MAX, PROXY_BUF_CAP - SS_ADDR_MAX };
		char ctl[CMSG_SPACE(sizeof(struct sockaddr_in6))];
		struct msghdr mh = { .msg_name = &src, .msg_namelen = sizeof(src), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = ctl,
				     .msg_controllen = r->role == UDP_REDIR ? sizeof(ctl) : 0 };
		ssize_t len = recvmsg(h->fd, &mh, 0);

		if (len < 0)
			return;
		from_client(r, buf + SS_ADDR_MAX, (size_t)len, &src, mh.msg_namelen,
			    r->role == UDP_REDIR && orig_dst(&mh, &orig) ? &orig : NULL);
	}
}

int udp_listen(struct proxy *p, enum udp_role role, const char *host, int port, const char **why)
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
		if (proxy_transparent(fd))
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
	r->h.fd = fd;
	r->h.on_event = on_listen_event;
	r->p = p;
	r->role = role;
	r->stp = &r->st;
	if (role != UDP_SERVER &&
	    addr_from_host(&r->server, p->cfg->servers[0], (uint16_t)p->cfg->server_port)) {
		close(fd);
		free(r);
		*why = "bad server address";
		return -EINVAL;
	}
	r->next = p->udp;
	p->udp = r;
	loop_watch(p->loop, &r->h, EPOLLIN);
	log_info("udp: listening on %s (%s)", sa_str(&r->bound, where, sizeof(where)),
		 role == UDP_SERVER ? "server" : role == UDP_SOCKS ? "SOCKS5 UDP ASSOCIATE" :
		 role == UDP_REDIR ? "redir" : "tunnel");
	return 0;
}

static void reap(struct udp_relay *r)
{
	while (r->dead) {
		struct nat *n = r->dead;

		r->dead = n->next;
		free(n);
	}
}

void udp_reap(struct proxy *p)
{
	for (struct udp_relay *r = p->udp; r; r = r->next)
		reap(r);
	while (p->udp_dead) {
		struct udp_relay *r = p->udp_dead;

		p->udp_dead = r->next;
		reap(r);
		free(r);
	}
}

/* Closes the listeners; association sockets close with their TCP connections. */
void udp_close_all(struct proxy *p)
{
	struct udp_relay **pp = &p->udp;

	while (*pp) {
		struct udp_relay *r = *pp;

		if (r->owner) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		while (r->lru_head)
			nat_kill(r->lru_head);
		reply_expire(r, UINT64_MAX);
		reap(r);
		loop_forget(p->loop, &r->h);
		close(r->h.fd);
		free(r);
	}
}

void udp_sweep(struct proxy *p, uint64_t now, uint64_t timeout_ms)
{
	for (struct udp_relay *r = p->udp; r; r = r->next) {
		while (r->lru_head && now - r->lru_head->last_active >= timeout_ms)
			nat_kill(r->lru_head);
		if (r->nreply && now > timeout_ms)
			reply_expire(r, now - timeout_ms + 1);
	}
}

void udp_stats(const struct proxy *p, struct udp_stats *o)
{
	memset(o, 0, sizeof(*o));
	for (const struct udp_relay *r = p->udp; r; r = r->next) {
		const uint64_t *a = (const uint64_t *)&r->st;
		uint64_t *b = (uint64_t *)o;

		for (size_t i = 0; i < sizeof(*o) / sizeof(uint64_t); i++)
			b[i] += a[i];
	}
}

int udp_redir_fd(const struct proxy *p)
{
	for (const struct udp_relay *r = p->udp; r; r = r->next)
		if (r->role == UDP_REDIR)
			return r->h.fd;
	return -1;
}

int udp_socks_bound(const struct proxy *p, struct sockaddr_storage *sa)
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
int udp_assoc_open(struct proxy *p, struct conn *c, const struct sockaddr_storage *here,
		   struct udp_relay **out, struct sockaddr_storage *bound)
{
	struct udp_relay *ls, *r;
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	int fd, e;

	for (ls = p->udp; ls && (ls->role != UDP_SOCKS || ls->owner); ls = ls->next)
		;
	if (!ls)
		return -ENOENT;
	from_v6(here, &sa);
	sa_set_port(&sa, 0);
	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sa_len(&sa)) ||
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
	r->stp = ls->stp;
	r->owner = c;
	from_v6(&c->peer_sa, &r->allowed);
	r->allowed_port = c->target.port;
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

/* Ends an association: its socket and NAT entries close now, the memory at batch end. */
void udp_assoc_close(struct proxy *p, struct udp_relay *r)
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
