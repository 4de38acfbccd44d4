// SPDX-License-Identifier: MIT
/*
 * The relay handler: two sockets, one stage machine
 * (INIT -> ADDR -> DNS -> CONNECTING -> STREAM -> DESTROYED), the same code
 * for sslocal (SOCKS5 or tunnel on the left) and ssserver (AEAD on the left).
 * Each direction reads only while its sink has nothing pending
 * (back-pressure), so a connection never buffers more than one relay buffer
 * per direction.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pair.h"
#include "capture.h"
#include "counters.h"
#include "ctx.h"
#include "dns.h"
#include "log.h"
#include "sockopts.h"
#include "udp.h"
#include "upstream.h"

static const char *const stage_names[] = {
	[ST_INIT] = "INIT", [ST_ADDR] = "ADDR", [ST_UDP_ASSOC] = "UDP_ASSOC",
	[ST_DNS] = "DNS", [ST_CONNECTING] = "CONNECTING", [ST_STREAM] = "STREAM",
	[ST_DESTROYED] = "DESTROYED",
};

const char *conn_stage_name(enum conn_stage s)
{
	return stage_names[s];
}

static void on_sock_event(struct handler *h, uint32_t events);
static void conn_update_events(struct conn *c);
static void start_target(struct conn *c, const uint8_t *extra, size_t n);
static void handshake(struct conn *c);

static void set_stage(struct conn *c, enum conn_stage s)
{
	struct counters *k = c->p->ctr;

	uint64_t now = loop_now(c->p->loop);

	k->live[c->stage]--;
	if (c->stage == ST_DNS) {
		counters_observe(k->dns_ms, counters_dns_le, DNS_BUCKETS, (double)(now - c->stage_at));
		k->dns_sum_ms += now - c->stage_at;
	}
	if (s == ST_DESTROYED) {
		k->closed++;
		counters_observe(k->duration, counters_duration_le, DURATION_BUCKETS,
				 (double)(now - c->accepted_at) / 1000);
		k->duration_sum_ms += now - c->accepted_at;
	} else {
		k->live[s]++;
	}
	c->stage_at = now;
	log_debug("conn %llu: %s -> %s", (unsigned long long)c->id, stage_names[c->stage],
		  stage_names[s]);
	c->stage = s;
}

/*
 * A connection is on one of two lists: the handshake list (ordered by
 * accept, swept at the handshake deadline, so the close of a probe does not
 * depend on what it sends) until its request is complete, then the LRU
 * (ordered by activity, swept at the idle timeout).
 */
void conn_accept(struct ctx *p, int fd, const struct sockaddr_storage *peer, enum conn_role role,
		 struct port_keys *pk)
{
	struct conn *c = calloc(1, sizeof(*c));
	const char *why = NULL;

	if (!c) {
		log_err("out of memory for a new connection");
		close(fd);
		return;
	}
	c->p = p;
	c->role = role;
	c->in = inbound_of(role);
	/* Unique in the tree: the worker is id % workers (ssctl kill finds it so). */
	c->id = ++p->conns.next_id * (uint64_t)p->cfg->workers + (uint64_t)p->index;
	c->local.c = c->remote.c = c;
	c->local.h.fd = fd;
	c->remote.h.fd = -1;
	c->local.h.on_event = c->remote.h.on_event = on_sock_event;
	c->tier = &tier_user;
	/* A port with several users learns the key from the first chunk (inbound_ss.c). */
	c->pk = pk;
	if (pk)
		pk->refs++;
	/* sslocal: the configuration's key until the connection's server is chosen. */
	c->key = pk ? (pk->n == 1 ? &pk->keys[0] : NULL) : &p->key;
	c->passthrough = c->in->plain || (c->key && c->key->m->id == SS_M_NONE);
	c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
	c->peer_sa = *peer;
	sockaddr_str((const struct sockaddr *)peer, c->peer, sizeof(c->peer));
	if (p->cfg->no_delay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	sock_accepted(p->cfg, fd);
	p->conns.n++;
	p->ctr->accepted++;
	p->ctr->live[ST_INIT]++;
	c->last_active = c->accepted_at = loop_now(p->loop);
	c->in_hs = true;
	conn_table_add(p, c);
	log_debug("conn %llu: accepted from %s", (unsigned long long)c->id, c->peer);
	if (c->key && c->key->ops->dec_init(&c->dec, c->key)) {
		conn_destroy(c, "cipher set-up failed");
		return;
	}
	c->dec_ready = c->key != NULL;
	switch (c->in->start(c, &why)) {
	case HS_TARGET:
		start_target(c, NULL, 0);
		return;
	case HS_CLOSE:
		conn_destroy(c, why);
		return;
	default:
		break;
	}
	/* The client speaks first: under load its first bytes are often here already. */
	handshake(c);
	if (c->stage != ST_DESTROYED && c->stage != ST_DNS)
		conn_update_events(c);
}

/* The close line: what the connection (and a SOCKS5 association's datagrams) carried. */
static void log_close(const struct conn *c, const char *why)
{
	char t[300] = "-", udp[96] = "";
	uint64_t up, down;

	if (c->target.atyp)
		addr_str(&c->target, t, sizeof(t));
	if (c->assoc_udp) {
		udp_assoc_bytes(c->assoc_udp, &up, &down);
		snprintf(udp, sizeof(udp), "; UDP up %llu, down %llu bytes", (unsigned long long)up,
			 (unsigned long long)down);
	}
	/* A connection that closes before sending anything (a port probe) is not news. */
	bool quiet = !why || !strcmp(why, "closed") ||
		     (c->stage == ST_INIT && !c->up.bytes && !c->hs_len);
	log_msg(quiet ? LOG_DEBUG : LOG_INFO, "conn %llu %s -> %s: %s in %s (up %llu, down %llu bytes%s)",
		(unsigned long long)c->id, c->peer, t, why ? why : "closed", stage_names[c->stage],
		(unsigned long long)c->up.bytes, (unsigned long long)c->down.bytes, udp);
}

void conn_destroy(struct conn *c, const char *why)
{
	struct ctx *p = c->p;

	if (c->stage == ST_DESTROYED)
		return;
	if (log_enabled(LOG_DEBUG) || (why && c->stage != ST_STREAM))
		log_close(c, why);
	dns_cancel(c->q);
	c->q = NULL;
	/* A reset passes through as a reset: both sockets close with SO_LINGER 0. */
	if (c->up.reset || c->down.reset) {
		struct linger lg = { 1, 0 };

		setsockopt(c->local.h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (c->remote.h.fd >= 0)
			setsockopt(c->remote.h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (c->assoc_udp) {
		udp_assoc_close(p, c->assoc_udp);
		c->assoc_udp = NULL;
	}
	shortcut_end(c);
	c->tier->forget(c);
	conn_poll_forget(p, c);
	/* No epoll_ctl: closing a socket's only descriptor takes it out of the epoll set. */
	close(c->local.h.fd);
	if (c->remote.h.fd >= 0)
		close(c->remote.h.fd);
	stream_release(c);
	set_stage(c, ST_DESTROYED);
	conn_table_remove(p, c);
	c->next = p->conns.dead;
	p->conns.dead = c;
	p->conns.n--;
}

void conn_reap(struct ctx *p)
{
	while (p->conns.dead) {
		struct conn *c = p->conns.dead;

		p->conns.dead = c->next;
		if (c->enc_ready)
			c->key->ops->enc_free(&c->enc);
		if (c->dec_ready)
			c->key->ops->dec_free(&c->dec);
		if (c->pk)
			c->pk->refs--;
		upstream_put(c->upstream);
		free(c->http);
		free(c->first);
		free(c);
	}
}

void conn_sweep(struct ctx *p, uint64_t now, uint64_t timeout_ms, uint64_t hs_ms)
{
	while (p->conns.hs_head && now - p->conns.hs_head->accepted_at >= hs_ms) {
		struct conn *c = p->conns.hs_head;

		/* Probes that failed authentication go quietly; a FIN held since is no news. */
		if (!c->bad_auth && !c->up.eof)
			ctr_fail(c, FAIL_DEADLINE);
		conn_destroy(c, c->bad_auth ? NULL : c->up.eof ?
				"client closed before the address header" : "handshake deadline");
	}
	while (p->conns.lru_head && now - p->conns.lru_head->last_active >= timeout_ms) {
		struct conn *c = p->conns.lru_head;

		if (c->tier->moved(c))
			conn_touch(c);
		else
			conn_destroy(c, "idle timeout");
	}
}

/* Interest of each socket follows from the stage and the per-direction state. */
static void conn_update_events(struct conn *c)
{
	struct loop *l = c->p->loop;
	uint32_t lev = 0, rev = 0;

	switch (c->stage) {
	case ST_INIT:
	case ST_ADDR:
	case ST_UDP_ASSOC:
		lev = c->up.eof ? 0 : EPOLLIN; /* a held probe's FIN is not read again */
		break;
	case ST_CONNECTING:
		rev = EPOLLOUT;
		break;
	case ST_STREAM:
		c->tier->interest(c, &lev, &rev);
		break;
	default:
		break;
	}
	if (loop_watch(l, &c->local.h, lev) ||
	    (c->remote.h.fd >= 0 && loop_watch(l, &c->remote.h, rev)))
		conn_destroy(c, "epoll_ctl failed");
}

/* UDP traffic of a SOCKS5 association keeps its TCP control connection alive. */
static void keepalive(void *c)
{
	conn_touch(c);
}

/* Tells the client how its request ended, if its kind says anything (SOCKS5). */
static void tell(struct conn *c, int err, const struct ss_addr *bound)
{
	if (c->in->reply)
		c->in->reply(c, err, bound);
}

/*
 * UDP ASSOCIATE (RFC 1928 section 7): reply with the UDP relay's address and
 * hold this TCP connection; the association ends when it closes.
 */
static void start_udp_assoc(struct conn *c)
{
	struct ctx *p = c->p;
	struct sockaddr_storage bound, here;
	socklen_t hl = sizeof(here);
	struct ss_addr a;
	int r;

	if (udp_socks_bound(p, &bound)) {
		tell(c, -EOPNOTSUPP, NULL);
		conn_destroy(c, "UDP ASSOCIATE, but UDP is off (mode tcp_only)");
		return;
	}
	struct udp_assoc ua = { .here = &here, .client = &c->peer_sa,
				.client_port = c->target.port, .owner = c, .keepalive = keepalive };

	r = getsockname(c->local.h.fd, (struct sockaddr *)&here, &hl) ? -errno :
	    udp_assoc_open(p, &ua, &c->assoc_udp, &bound);
	if (r) {
		tell(c, -EIO, NULL);
		log_warn("conn %llu: UDP ASSOCIATE: no UDP socket: %s", (unsigned long long)c->id,
			 strerror(-r));
		conn_destroy(c, "UDP ASSOCIATE failed");
		return;
	}
	addr_from_sockaddr(&a, (struct sockaddr *)&bound);
	tell(c, 0, &a);
	conn_leave_handshake(c);
	set_stage(c, ST_UDP_ASSOC);
	conn_update_events(c);
}

static void dial(struct conn *c, const char *host, uint16_t port);

/* Connect or resolve failed before STREAM: another server, or the end. */
static void fail_connect(struct conn *c, int err, const char *what)
{
	char msg[128];
	const char *host;
	uint16_t port;

	if (c->stage != ST_DESTROYED && server_retry(c, err, what)) {
		upstream_tcp(c->p->cfg, c->upstream, &host, &port);
		dial(c, host, port);
		return;
	}
	if (c->stage == ST_DESTROYED)
		return;
	ctr_fail(c, !strcmp(what, "resolve") ? FAIL_RESOLVE : FAIL_CONNECT);
	tell(c, err, NULL);
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-err));
	conn_destroy(c, msg);
}

static void enter_stream(struct conn *c)
{
	shortcut_start(c);
	conn_pace(c);
	set_stage(c, ST_STREAM);
	conn_touch(c);
	tell(c, 0, NULL);
	/*
	 * The first flight goes out. sslocal's request header waits for the
	 * client's first data, which has usually come by now: read it at once,
	 * without another wake-up. If not, the poll timer sends the header alone
	 * when the client has said nothing for first_data_wait.
	 */
	int r = stream_pump(c, &c->up, c->local.h.fd, c->remote.h.fd, c->hdr_pending);

	if (!r && c->hdr_pending) {
		c->stream_at = loop_now(c->p->loop);
		conn_poll_add(c->p, c);
	}
	if (r) {
		fail_connect(c, r, "send");
		return;
	}
	tier_handoff(c);
	conn_update_events(c);
}

static void start_connect(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	const struct ss_config *cfg = c->p->cfg;
	const char *rule;
	int fd;

	/* Checked on the address actually dialled, so DNS cannot smuggle one in. */
	if (c->in->serves && (rule = policy_refuses(&c->p->policy, sa))) {
		char t[300], where[64], msg[512];

		ctr_fail(c, FAIL_POLICY);
		snprintf(msg, sizeof(msg), "target %s (%s) refused by policy: %s%s",
			 addr_str(&c->target, t, sizeof(t)), sockaddr_str(sa, where, sizeof(where)),
			 rule, cfg->allow_private ? " (a rule of the ACL file)" :
			 "; allow it with --allow-private or an ACL file");
		conn_destroy(c, msg);
		return;
	}
	fd = sock_outbound_tcp(cfg, sa->sa_family);
	if (fd < 0) {
		fail_connect(c, fd, "socket");
		return;
	}
	c->remote.h.fd = fd;
	shortcut_dial(c, fd, sa);
	if (cfg->no_delay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	/* sslocal -> ssserver: the first flight rides in the SYN (RFC 7413). */
	if (cfg->fast_open && !c->in->serves)
		setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &(int){ 1 }, sizeof(int));
	set_stage(c, ST_CONNECTING);
	if (connect(fd, sa, len) == 0) { /* Fast Open: the SYN leaves with the first write */
		c->tfo_pending = cfg->fast_open && !c->in->serves;
		enter_stream(c);
		return;
	}
	if (errno != EINPROGRESS) {
		fail_connect(c, -errno, "connect");
		return;
	}
	/* A local handshake is usually over by now: go on without waiting for a wake-up. */
	if (stream_connected(fd)) {
		enter_stream(c);
		return;
	}
	conn_update_events(c);
}

static void on_resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct conn *c = arg;

	c->q = NULL;
	if (err) {
		fail_connect(c, err, "resolve");
		return;
	}
	start_connect(c, sa, len);
}

/*
 * The target is known (SOCKS5 request, tunnel address or decrypted header):
 * queue the first flight and move on to DNS / CONNECTING. For sslocal the
 * first flight is the address header plus whatever the client already sent,
 * encrypted; for ssserver it is already in c->up.out.
 */
static void start_target(struct conn *c, const uint8_t *extra, size_t n)
{
	enum acl_route r = hs_route(c);

	conn_leave_handshake(c);
	c->bypass = r == ROUTE_BYPASS;
	if (r == ROUTE_RESOLVE && server_acl_resolve(c, extra, n)) {
		set_stage(c, ST_DNS);
		loop_watch(c->p->loop, &c->local.h, 0);
		return;
	}
	conn_route(c, extra, n);
}

void conn_route(struct conn *c, const uint8_t *extra, size_t n)
{
	struct ctx *p = c->p;
	struct sockaddr_storage sa;
	socklen_t len;
	const char *host;
	uint16_t port;
	char tbuf[300];

	/* An ACL bypass: sslocal dials the target itself and relays the bytes as they are. */
	if (c->bypass) {
		c->passthrough = true;
		log_debug("conn %llu: the ACL bypasses the server for this target",
			  (unsigned long long)c->id);
	}
	if (!c->bypass && !c->in->serves && !c->in->plain) {
		if (server_choose(c) || server_first_flight(c, extra, n))
			return;
		/* A captured cgroup's own server is dialled directly (its plugin is not used). */
		if (c->upstream && c->upstream->index < 0) {
			host = c->upstream->host;
			port = c->upstream->port;
		} else {
			upstream_tcp(p->cfg, c->upstream, &host, &port);
		}
	} else {
		if (c->bypass ? stream_take_plain(c, extra, n) :
				c->key->ops->enc_init(&c->enc, c->key)) {
			conn_destroy(c, "cipher set-up failed");
			return;
		}
		c->enc_ready = !c->bypass;
		/* Our own salts too: a reflected response must not pass as a request. */
		if (c->in->serves)
			stream_remember_salt(c);
		if (c->in->serves && c->key->ops->bind)
			c->key->ops->bind(&c->enc, &c->dec, true);
		host = c->target.atyp == SS_ATYP_DOMAIN ? c->target.host :
							  addr_str(&c->target, tbuf, sizeof(tbuf));
		port = c->target.port;
		if (c->target.atyp != SS_ATYP_DOMAIN) {
			len = (socklen_t)addr_to_sockaddr(&c->target, &sa);
			start_connect(c, (struct sockaddr *)&sa, len);
			return;
		}
	}
	dial(c, host, port);
}

/* To host:port (a name resolved first). */
static void dial(struct conn *c, const char *host, uint16_t port)
{
	struct sockaddr_storage sa;
	socklen_t len;
	int r;

	set_stage(c, ST_DNS);
	loop_watch(c->p->loop, &c->local.h, 0);
	r = dns_resolve(c->p->dns, host, port, &sa, &len, on_resolved, c, &c->q);
	if (r == 0)
		start_connect(c, (struct sockaddr *)&sa, len);
	else if (r < 0)
		fail_connect(c, r, "resolve");
}

/* INIT and ADDR: the inbound kind (c->in) reads and parses; the stage changes here. */
static void handshake(struct conn *c)
{
	const char *why = NULL;
	enum hs_outcome o = c->in->read(c, &why);

	if (o == HS_MORE) {
		conn_touch(c);
		while ((o = c->in->parse(c, &why)) == HS_ADDR)
			set_stage(c, ST_ADDR);
	}
	switch (o) {
	case HS_CLOSE:
		conn_destroy(c, why);
		break;
	case HS_UDP_ASSOC:
		start_udp_assoc(c);
		break;
	case HS_TARGET:
	{
		/* What the client sent after its request rides with the header. */
		size_t n = c->first ? c->first_len : c->hs_len;
		uint8_t *first = c->first;

		c->hs_len = 0; /* start_target may keep the request header there */
		c->first = NULL;
		start_target(c, first ? first : n ? c->hs : NULL, n);
		free(first);
		break;
	}
	default: /* HS_AGAIN, HS_HOLD: more bytes or the deadline */
		break;
	}
}

static void on_sock_event(struct handler *h, uint32_t events)
{
	struct sock *s = (struct sock *)h;
	struct conn *c = s->c;
	bool is_local = s == &c->local;
	int r = 0, err = 0;

	switch (c->stage) {
	case ST_INIT:
	case ST_ADDR:
		handshake(c);
		break;
	case ST_UDP_ASSOC: {
		ssize_t n = recv(h->fd, c->p->scratch, POOL_BUF_CAP, 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_destroy(c, "UDP association closed");
		return;
	}
	case ST_CONNECTING: /* writable without an error: connected, no SO_ERROR to ask */
		if (events & (EPOLLERR | EPOLLHUP))
			getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){ sizeof(err) });
		if (err)
			fail_connect(c, -err, "connect");
		else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			enter_stream(c);
		return;
	case ST_STREAM:
		if ((r = c->tier->sock_event(c, is_local, events))) {
			conn_destroy(c, r == -EBADMSG ? "bad data" : strerror(-r));
			return;
		}
		if (c->up.shut && c->down.shut) {
			conn_destroy(c, stream_end_reason(c));
			return;
		}
		tier_handoff(c);
		break;
	default:
		return;
	}
	if (c->stage != ST_DESTROYED && c->stage != ST_DNS)
		conn_update_events(c);
}

/* A connection the poll timer runs for: false once it needs no more polling. */
static bool poll_one(struct conn *c)
{
	const char *why = NULL;
	int r;

	if (c->stage != ST_STREAM)
		return false;
	if (c->hdr_pending) {
		/* A server-speaks-first protocol: the header goes alone. */
		if (loop_now(c->p->loop) - c->stream_at < (uint64_t)c->p->cfg->first_data_wait)
			return true;
		/* Its data may wait behind this timer in the same batch: one last read first. */
		r = stream_pump(c, &c->up, c->local.h.fd, c->remote.h.fd, true);
		if (r || (c->hdr_pending && ((r = stream_send_header(c)) ||
					     (r = stream_flush(c, &c->up, c->remote.h.fd))))) {
			conn_destroy(c, strerror(-r));
			return false;
		}
	}
	r = c->tier->poll(c, &why);
	if (r < 0 || (c->up.shut && c->down.shut)) {
		conn_destroy(c, r < 0 ? why : stream_end_reason(c));
		return false;
	}
	/* A pair that left sockmap goes on in splice once the daemon holds none of its bytes. */
	tier_handoff(c);
	conn_update_events(c);
	return r > 0;
}

int conn_tiers_open(struct ctx *p, const char **why)
{
	int r = tiers_open(p, why);

	return r ? r : conn_poll_open(p, poll_one, why);
}

void conn_tiers_close(struct ctx *p)
{
	conn_poll_close(p);
	tiers_close(p);
}

void conn_destroy_all(struct ctx *p, const struct port_keys *pk, const char *why)
{
	struct conn *lists[2] = { p->conns.hs_head, p->conns.lru_head };

	for (int i = 0; i < 2; i++)
		for (struct conn *c = lists[i], *next; c; c = next) {
			next = c->next;
			if (!pk || c->pk == pk)
				conn_destroy(c, why);
		}
}
