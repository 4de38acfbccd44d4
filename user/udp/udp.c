// SPDX-License-Identifier: MIT
/*
 * UDP relay: address + payload sealed for the peer by the key's method_ops
 * (each datagram alone, or within the NAT entry's datagram session for an
 * edition that has them). One listening socket per kind (udp_server.c,
 * udp_local.c: what the datagrams look like on the client's side), SOCKS5
 * associations with sockets of their own, and a NAT table from client address
 * to an upstream socket (udp_nat.c), with an LRU for the cap and the idle
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
#include "common.h"
#include "counters.h"
#include "ctx.h"
#include "listener.h"
#include "log.h"
#include "server_ports.h"
#include "sockpool.h"
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

bool udp_salt_replayed(struct ctx *p, const struct ss_key *k, const uint8_t *dgram)
{
	return k->m->key_len && replay_check_add(&p->replay, dgram, k->m->key_len);
}

int udp_seal(struct ctx *p, struct nat *n, const struct ss_key *k, const uint8_t *in, size_t len,
	     uint8_t *out, size_t cap, size_t *olen)
{
	int r;

	if (n->sess)
		return k->ops->session_seal(n->sess, in, len, out, cap, olen);
	if (!(r = k->ops->udp_seal(k->m, k->master, in, len, out, cap, olen)))
		remember_salt(p, k, out);
	return r;
}

bool udp_admit(struct nat *n, const struct ss_key *k, bool up, size_t len)
{
	uint64_t now = loop_now(n->r->p->loop), *t = &n->rate_tokens[up ? 0 : 1];

	/* A spent data_limit ends the user's datagrams both ways, as it ends its connections. */
	if (k && traffic_spent(n->r->p->traffic, k)) {
		n->r->p->ctr->udp.refused++;
		return false;
	}
	if (!k || !k->rate)
		return true;
	if (!n->rate_at) {
		n->rate_tokens[0] = n->rate_tokens[1] = k->rate;
	} else if (now > n->rate_at) {
		for (int d = 0; d < 2; d++)
			n->rate_tokens[d] = MIN((uint64_t)k->rate,
						n->rate_tokens[d] + (now - n->rate_at) * k->rate / 1000);
	}
	n->rate_at = now;
	if (*t < len) {
		n->r->p->ctr->udp.refused++;
		return false;
	}
	*t -= len;
	return true;
}

/* Sends a reply to the entry's client from the listening socket. */
void udp_client_send(struct nat *n, const uint8_t *data, size_t len)
{
	struct udp_relay *r = n->r;

	if (sendto(r->h.fd, data, len, 0, (struct sockaddr *)&n->client, n->client_len) < 0) {
		r->p->ctr->udp.send_failed++;
		return;
	}
	r->p->ctr->udp.out++;
	r->bytes_down += len;
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
		n->r->kind->to_client(n, buf + SS_ADDR_MAX, (size_t)len, &from);
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
				     .msg_controllen = r->kind->orig_dst ? sizeof(ctl) : 0 };
		ssize_t len = recvmsg(h->fd, &mh, 0);

		if (len < 0)
			return;
		r->bytes_up += (uint64_t)len; /* as the client sent it (an association's close line) */
		r->kind->from_client(r, buf + SS_ADDR_MAX, (size_t)len, &src, mh.msg_namelen,
				     r->kind->orig_dst && orig_dst(&mh, &orig) ? &orig : NULL);
	}
}

/* sslocal: the server of this relay's associations. */
static int upstream_addr(const struct ss_config *cfg, struct ss_addr *a)
{
	const char *host;
	uint16_t port;

	host = cfg->nservers ? cfg->servers[0] : "";
	port = (uint16_t)cfg->server_port;
	return addr_from_host(a, host, port);
}

/* A relay on fd (closed on failure), watched and listed; NULL on failure. */
static struct udp_relay *relay_new(struct ctx *p, const struct udp_kind *kind, int fd,
				   const struct sockaddr_storage *sa, struct port_keys *pk)
{
	struct udp_relay *r = calloc(1, sizeof(*r));

	if (!r || (!kind->serves && upstream_addr(p->cfg, &r->server))) {
		close(fd);
		free(r);
		return NULL;
	}
	r->bound = *sa;
	r->pk = pk;
	r->h.fd = fd;
	r->h.on_event = on_listen_event;
	r->p = p;
	r->kind = kind;
	r->next = p->udp;
	p->udp = r;
	loop_watch(p->loop, &r->h, EPOLLIN);
	return r;
}

/* A UDP socket bound to sa for the kind, with its options; the fd or -errno (*why set). */
static int udp_bind(struct ctx *p, enum udp_role role, const struct udp_kind *kind,
		    const struct sockaddr_storage *sa, socklen_t sl, const char **why)
{
	int fd = socket(sa->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), rc;

	/* Workers share the port; the kernel keeps each client flow on one of them. */
	if (fd >= 0 && p->cfg->reuse_port)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){ 1 }, sizeof(int));
	if (fd >= 0 && kind->orig_dst) {
		if (role == UDP_REDIR && listener_transparent(fd))
			log_warn("udp redir: IP_TRANSPARENT: %s; replies cannot carry the original "
				 "source address", strerror(errno));
		setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &(int){ 1 }, sizeof(int));
		setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &(int){ 1 }, sizeof(int));
	}
	if (fd < 0 || bind(fd, (const struct sockaddr *)sa, sl)) {
		rc = -errno;
		*why = strerror(errno);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

/* A relay of the kind on fd, said in the log; 0 or -EINVAL. */
static int udp_relay_on(struct ctx *p, const struct udp_kind *kind, int fd,
			const struct sockaddr_storage *sa, struct port_keys *pk, const char **why)
{
	struct udp_relay *r = relay_new(p, kind, fd, sa, pk);
	char where[64];

	if (!r) {
		*why = "bad server address";
		return -EINVAL;
	}
	log_info("udp: listening on %s (%s)", ss_sa_str(&r->bound, where, sizeof(where)), kind->name);
	return 0;
}

int udp_listen(struct ctx *p, enum udp_role role, const char *host, int port,
	       struct port_keys *pk, bool held, const char **why)
{
	static const struct udp_kind *const kinds[] = {
		[UDP_SERVER] = &udp_kind_server, [UDP_SOCKS] = &udp_kind_socks,
		[UDP_TUNNEL] = &udp_kind_tunnel, [UDP_REDIR] = &udp_kind_redir,
		[UDP_SHARED] = &udp_kind_shared,
	};
	const struct udp_kind *kind = kinds[role];
	struct sockaddr_storage sa;
	socklen_t sl;
	int fd, rc, n = 0;

	if ((rc = listener_resolve(host, port, SOCK_DGRAM, &sa, &sl, why)))
		return rc;
	/* Held sockets first (inherited, or a restarted worker's own): the same options again. */
	while (held && (fd = sockpool_take(p->index, SOCK_DGRAM, &sa)) >= 0) {
		if (kind->orig_dst) {
			if (role == UDP_REDIR)
				listener_transparent(fd);
			setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &(int){ 1 }, sizeof(int));
			setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &(int){ 1 }, sizeof(int));
		}
		if ((rc = udp_relay_on(p, kind, fd, &sa, pk, why)))
			return rc;
		n++;
	}
	if (n || (held && sockpool_covers(SOCK_DGRAM, &sa)))
		return 0;
	if ((fd = udp_bind(p, role, kind, &sa, sl, why)) < 0)
		return fd;
	if (!port)
		getsockname(fd, (struct sockaddr *)&sa, &sl);
	if (held)
		sockpool_report(p->index, fd, !port);
	return udp_relay_on(p, kind, fd, &sa, pk, why);
}

int udp_listen_shared(struct ctx *p, const char *host, int ai, const char **why)
{
	int r = udp_listen(p, UDP_SHARED, host, 0, NULL, true, why);

	if (r)
		return r;
	p->udp->ai = ai;
	return p->udp->h.fd;
}

/* The bucket of p->udp_lazy for a port's relays, made at first use; NULL without memory. */
static struct udp_relay **lazy_bucket(struct ctx *p, const struct sockaddr_storage *sa)
{
	if (!p->udp_lazy && !(p->udp_lazy = calloc(UDP_LAZY_BUCKETS, sizeof(*p->udp_lazy))))
		return NULL;
	return &p->udp_lazy[ss_sa_port(sa) % UDP_LAZY_BUCKETS];
}

/* r leaves p->udp: a port's relay leaves its bucket too. */
static void lazy_forget(struct ctx *p, struct udp_relay *r)
{
	struct udp_relay **at = r->lazy && p->udp_lazy ? lazy_bucket(p, &r->bound) : NULL;

	for (; at && *at; at = &(*at)->lazy_next)
		if (*at == r) {
			*at = r->lazy_next;
			return;
		}
}

struct udp_relay *udp_port_relay(struct ctx *p, int ai, const struct sockaddr_storage *orig)
{
	struct udp_relay **head = lazy_bucket(p, orig), *r;
	struct port_keys *pk;
	int fd;

	for (r = head ? *head : NULL; r; r = r->lazy_next)
		if (ss_sa_equal(&r->bound, orig))
			return r;
	if (!head || !(pk = server_ports_find(p, ai, ss_sa_port(orig))))
		return NULL;
	/* Only sends: the program hands this port's datagrams to the shared socket. */
	fd = socket(orig->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int)) ||
	    bind(fd, (const struct sockaddr *)orig, ss_sa_len(orig))) {
		char where[64];

		log_debug("udp: cannot send from %s: %s", ss_sa_str(orig, where, sizeof(where)),
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if ((r = relay_new(p, &udp_kind_server, fd, orig, pk))) {
		r->lazy = true;
		r->ai = ai;
		r->lazy_next = *head;
		*head = r;
	}
	return r;
}

/* Frees r's dead NAT entries now, and takes it off the worker's list to reap. */
static void reap_now(struct ctx *p, struct udp_relay *r)
{
	for (struct udp_relay **at = r->dead ? &p->udp_reap : NULL; at && *at; at = &(*at)->reap_next)
		if (*at == r) {
			*at = r->reap_next;
			break;
		}
	nat_reap(r);
}

void udp_reap(struct ctx *p)
{
	/* Only the relays whose entries died in this batch (a walk of every relay cost a miss each). */
	while (p->udp_reap) {
		struct udp_relay *r = p->udp_reap;

		p->udp_reap = r->reap_next;
		nat_reap(r);
	}
	/* Their entries were on the list above: each was killed before its relay was closed. */
	while (p->udp_dead) {
		struct udp_relay *r = p->udp_dead;

		p->udp_dead = r->next;
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

struct close_pick {
	const struct port_keys *pk;
	bool (*drop)(int fd, void *arg);
	void *arg;
};

static void close_picked(struct ctx *p, const struct close_pick *k)
{
	struct udp_relay **pp = &p->udp;

	while (*pp) {
		struct udp_relay *r = *pp;

		if (r->owner || (k->pk && r->pk != k->pk) || (k->drop && !k->drop(r->h.fd, k->arg))) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		lazy_forget(p, r);
		while (r->lru_head)
			nat_kill(r->lru_head);
		reply_expire(r, UINT64_MAX);
		reap_now(p, r);
		loop_forget(p->loop, &r->h);
		close(r->h.fd);
		free(r);
	}
}

void udp_close_all(struct ctx *p, const struct port_keys *pk)
{
	close_picked(p, &(struct close_pick){ .pk = pk });
	if (!pk) {
		free(p->udp_lazy);
		p->udp_lazy = NULL;
	}
}

void udp_close_if(struct ctx *p, bool (*drop)(int fd, void *arg), void *arg)
{
	close_picked(p, &(struct close_pick){ .drop = drop, .arg = arg });
}

void udp_drain(struct ctx *p)
{
	for (struct udp_relay *r = p->udp; r; r = r->next) {
		if (r->owner)
			continue; /* a SOCKS5 association's socket goes with its connection */
		loop_watch(p->loop, &r->h, 0);
		r->draining = true;
	}
}

void udp_sweep(struct ctx *p, uint64_t now, uint64_t timeout_ms)
{
	for (struct udp_relay **pp = &p->udp; *pp;) {
		struct udp_relay *r = *pp;

		while (r->lru_head && now - r->lru_head->last_active >= timeout_ms)
			nat_kill(r->lru_head);
		if (r->nreply && now > timeout_ms)
			reply_expire(r, now - timeout_ms + 1);
		/* A port's relay made for its datagrams, or a drained one, goes with its last client. */
		if ((r->lazy || r->draining) && !r->n) {
			*pp = r->next;
			lazy_forget(p, r);
			loop_forget(p->loop, &r->h);
			close(r->h.fd);
			r->next = p->udp_dead;
			p->udp_dead = r;
			continue;
		}
		pp = &r->next;
	}
}

void udp_stats(const struct ctx *p, struct udp_stats *o)
{
	*o = p->ctr->udp;
}

int udp_redir_fd(const struct ctx *p)
{
	for (const struct udp_relay *r = p->udp; r; r = r->next)
		if (r->kind == &udp_kind_redir)
			return r->h.fd;
	return -1;
}

int udp_socks_bound(const struct ctx *p, struct sockaddr_storage *sa)
{
	for (const struct udp_relay *r = p->udp; r; r = r->next) {
		if (r->kind == &udp_kind_socks) {
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

	for (ls = p->udp; ls && (ls->kind != &udp_kind_socks || ls->owner); ls = ls->next)
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
	r->kind = &udp_kind_socks;
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
