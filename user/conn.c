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

#include "conn.h"
#include "dns.h"
#include "log.h"
#include "proxy.h"
#include "socks5.h"
#include "udp.h"

/* Ciphertext read at once when decrypting, so the plaintext always fits. */
#define DEC_READ_MAX (PROXY_BUF_CAP - SS_MAX_PAYLOAD - SS_TAG - SS_ADDR_MAX)

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
static void update_events(struct conn *c);
static void start_target(struct conn *c, const uint8_t *extra, size_t n);

static void set_stage(struct conn *c, enum conn_stage s)
{
	log_debug("conn %llu: %s -> %s", (unsigned long long)c->id, stage_names[c->stage],
		  stage_names[s]);
	c->stage = s;
}

static void lru_unlink(struct proxy *p, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		p->lru_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		p->lru_tail = c->prev;
	c->prev = c->next = NULL;
}

static void lru_append(struct proxy *p, struct conn *c)
{
	c->prev = p->lru_tail;
	c->next = NULL;
	if (p->lru_tail)
		p->lru_tail->next = c;
	else
		p->lru_head = c;
	p->lru_tail = c;
}

/* O(1): activity moves the connection to the young end of the list. */
static void touch(struct conn *c)
{
	struct proxy *p = c->p;

	c->last_active = loop_now(p->loop);
	if (p->lru_tail != c) {
		lru_unlink(p, c);
		lru_append(p, c);
	}
}

static void buf_release(struct proxy *p, struct relay_buf *b)
{
	if (b->data)
		proxy_buf_put(p, b->data);
	b->data = NULL;
	b->off = b->len = 0;
}

static int buf_reserve(struct proxy *p, struct relay_buf *b)
{
	if (!b->data && !(b->data = proxy_buf_get(p)))
		return -ENOMEM;
	if (b->off && b->len) {
		memmove(b->data, b->data + b->off, b->len);
	}
	b->off = 0;
	return 0;
}

void conn_accept(struct proxy *p, int fd, enum conn_role role)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!c) {
		log_err("out of memory for a new connection");
		close(fd);
		return;
	}
	c->p = p;
	c->role = role;
	c->id = ++p->next_id;
	c->local.c = c->remote.c = c;
	c->local.h.fd = fd;
	c->remote.h.fd = -1;
	c->local.h.on_event = c->remote.h.on_event = on_sock_event;
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl)) {
		c->peer_sa = ss;
		sockaddr_str((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	}
	if (p->cfg->no_delay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	p->nconns++;
	c->last_active = loop_now(p->loop);
	lru_append(p, c);
	log_debug("conn %llu: accepted from %s", (unsigned long long)c->id, c->peer);
	if (ss_dec_init(&c->dec, p->method, SS_BACKEND_AUTO, p->master)) {
		conn_destroy(c, "cipher set-up failed");
		return;
	}
	c->dec_ready = true;
	if (role == ROLE_TUNNEL) {
		c->target = p->tunnel;
		start_target(c, NULL, 0);
		return;
	}
	update_events(c);
}

void conn_destroy(struct conn *c, const char *why)
{
	struct proxy *p = c->p;

	if (c->stage == ST_DESTROYED)
		return;
	if (log_enabled(LOG_DEBUG) || (why && c->stage != ST_STREAM)) {
		char t[300] = "-";

		if (c->target.atyp)
			addr_str(&c->target, t, sizeof(t));
		/* A connection that closes before sending anything (a port probe) is not news. */
		bool quiet = !why || !strcmp(why, "closed") ||
			     (c->stage == ST_INIT && !c->up.bytes && !c->hs_len);
		log_msg(quiet ? LOG_DEBUG : LOG_INFO,
			"conn %llu %s -> %s: %s in %s (up %llu, down %llu bytes)",
			(unsigned long long)c->id, c->peer, t, why ? why : "closed",
			stage_names[c->stage], (unsigned long long)c->up.bytes,
			(unsigned long long)c->down.bytes);
	}
	dns_cancel(c->q);
	c->q = NULL;
	if (c->stage == ST_UDP_ASSOC) {
		struct conn **pp = &p->assocs;

		while (*pp != c)
			pp = &(*pp)->assoc_next;
		*pp = c->assoc_next;
		udp_assoc_closed(p, (struct sockaddr *)&c->peer_sa, c->target.port);
	}
	loop_forget(p->loop, &c->local.h);
	loop_forget(p->loop, &c->remote.h);
	close(c->local.h.fd);
	if (c->remote.h.fd >= 0)
		close(c->remote.h.fd);
	buf_release(p, &c->up.out);
	buf_release(p, &c->down.out);
	set_stage(c, ST_DESTROYED);
	lru_unlink(p, c);
	c->next = p->dead;
	p->dead = c;
	p->nconns--;
}

void conn_reap(struct proxy *p)
{
	while (p->dead) {
		struct conn *c = p->dead;

		p->dead = c->next;
		if (c->enc_ready)
			ss_enc_free(&c->enc);
		if (c->dec_ready)
			ss_dec_free(&c->dec);
		free(c);
	}
}

void conn_sweep(struct proxy *p, uint64_t now, uint64_t timeout_ms)
{
	while (p->lru_head && now - p->lru_head->last_active >= timeout_ms)
		conn_destroy(p->lru_head, "idle timeout");
}

/* Interest of each socket follows from the stage and the per-direction state. */
static void update_events(struct conn *c)
{
	struct loop *l = c->p->loop;
	uint32_t lev = 0, rev = 0;

	switch (c->stage) {
	case ST_INIT:
	case ST_ADDR:
	case ST_UDP_ASSOC:
		lev = EPOLLIN;
		break;
	case ST_CONNECTING:
		rev = EPOLLOUT;
		break;
	case ST_STREAM:
		if (!c->up.eof && !c->up.out.len)
			lev |= EPOLLIN;
		if (c->down.out.len)
			lev |= EPOLLOUT;
		if (!c->down.eof && !c->down.out.len)
			rev |= EPOLLIN;
		if (c->up.out.len)
			rev |= EPOLLOUT;
		break;
	default:
		break;
	}
	if (loop_watch(l, &c->local.h, lev) ||
	    (c->remote.h.fd >= 0 && loop_watch(l, &c->remote.h, rev)))
		conn_destroy(c, "epoll_ctl failed");
}

/* Writes what the direction has pending; 0, or -errno on a fatal error. */
static int flush(struct conn *c, struct dir *d, int sink)
{
	while (d->out.len) {
		ssize_t n = send(sink, d->out.data + d->out.off, d->out.len, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		d->out.off += (size_t)n;
		d->out.len -= (size_t)n;
		touch(c);
	}
	/* An empty direction holds no buffer: idle connections stay small. */
	buf_release(c->p, &d->out);
	return 0;
}

/* Is this direction's data encrypted on the way to its sink? */
static bool dir_encrypts(const struct conn *c, const struct dir *d)
{
	return (c->role == ROLE_SERVER) == (d == &c->down);
}

/*
 * Reads once from src and appends the transformed bytes to d->out.
 * Returns bytes read (0 at EOF), -EAGAIN, -EBADMSG on a failed decryption
 * (the decoder's error code is in *derr), or another -errno.
 */
static ssize_t read_into(struct conn *c, struct dir *d, int src, int *derr)
{
	struct proxy *p = c->p;
	bool enc = dir_encrypts(c, d);
	size_t room, max, got;
	ssize_t n;

	if (buf_reserve(p, &d->out))
		return -ENOMEM;
	room = PROXY_BUF_CAP - d->out.len;
	max = enc ? ss_enc_fit(&c->enc, room) : MIN(room, (size_t)DEC_READ_MAX);
	if (!max)
		return -EAGAIN;
	n = recv(src, p->scratch, max, 0);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return 0;
	d->bytes += (size_t)n;
	if (enc) {
		if (ss_enc_feed(&c->enc, p->scratch, (size_t)n, d->out.data + d->out.len, &got))
			return -EIO;
		d->out.len += got;
	} else {
		size_t used;
		int r = ss_dec_feed(&c->dec, p->scratch, (size_t)n, &used, d->out.data,
				    PROXY_BUF_CAP, &d->out.len);

		if (r) {
			*derr = r;
			return -EBADMSG;
		}
	}
	return n;
}

void conn_keepalive(struct conn *c)
{
	touch(c);
}

static void send_socks_reply_addr(struct conn *c, uint8_t rep, const struct ss_addr *bound)
{
	uint8_t buf[32];
	size_t n = socks5_reply(buf, rep, bound);

	/* A few bytes on a fresh socket: the send buffer always has room. */
	if (send(c->local.h.fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		log_debug("conn %llu: SOCKS5 reply not sent", (unsigned long long)c->id);
}

static void send_socks_reply(struct conn *c, uint8_t rep)
{
	send_socks_reply_addr(c, rep, NULL);
}

/*
 * UDP ASSOCIATE (RFC 1928 section 7): reply with the UDP relay's address and
 * hold this TCP connection; the association ends when it closes.
 */
static void start_udp_assoc(struct conn *c)
{
	struct proxy *p = c->p;
	struct sockaddr_storage bound, here;
	socklen_t hl = sizeof(here);
	struct ss_addr a;

	if (udp_socks_bound(p, &bound)) {
		send_socks_reply(c, SOCKS5_REP_CMD_UNSUPPORTED);
		conn_destroy(c, "UDP ASSOCIATE, but UDP is off (mode tcp_only)");
		return;
	}
	addr_from_sockaddr(&a, (struct sockaddr *)&bound);
	/* Bound to a wildcard: answer with the address the client reached us on. */
	if (((a.atyp == SS_ATYP_IPV4 && a.v4.s_addr == INADDR_ANY) ||
	     (a.atyp == SS_ATYP_IPV6 && IN6_IS_ADDR_UNSPECIFIED(&a.v6))) &&
	    !getsockname(c->local.h.fd, (struct sockaddr *)&here, &hl)) {
		uint16_t port = a.port;

		addr_from_sockaddr(&a, (struct sockaddr *)&here);
		a.port = port;
	}
	send_socks_reply_addr(c, SOCKS5_REP_OK, &a);
	set_stage(c, ST_UDP_ASSOC);
	c->assoc_next = p->assocs;
	p->assocs = c;
	update_events(c);
}

static uint8_t socks_rep_for(int err)
{
	switch (err) {
	case -ECONNREFUSED: return SOCKS5_REP_REFUSED;
	case -EHOSTUNREACH: case -ENOENT: case -ETIMEDOUT: return SOCKS5_REP_HOST_UNREACH;
	case -ENETUNREACH: return SOCKS5_REP_NET_UNREACH;
	default: return SOCKS5_REP_FAIL;
	}
}

/* Connect or resolve failed before STREAM. */
static void fail_connect(struct conn *c, int err, const char *what)
{
	char msg[128];

	if (c->role == ROLE_SOCKS)
		send_socks_reply(c, socks_rep_for(err));
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-err));
	conn_destroy(c, msg);
}

static void enter_stream(struct conn *c)
{
	set_stage(c, ST_STREAM);
	touch(c);
	if (c->role == ROLE_SOCKS)
		send_socks_reply(c, SOCKS5_REP_OK);
	int r = flush(c, &c->up, c->remote.h.fd);
	if (r) {
		fail_connect(c, r, "send");
		return;
	}
	update_events(c);
}

static void start_connect(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	const struct ss_config *cfg = c->p->cfg;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fail_connect(c, -errno, "socket");
		return;
	}
	c->remote.h.fd = fd;
	if (cfg->no_delay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	/* sslocal -> ssserver: the first flight rides in the SYN (RFC 7413). */
	if (cfg->fast_open && c->role != ROLE_SERVER)
		setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &(int){ 1 }, sizeof(int));
	set_stage(c, ST_CONNECTING);
	if (connect(fd, sa, len) == 0) {
		enter_stream(c);
		return;
	}
	if (errno != EINPROGRESS) {
		fail_connect(c, -errno, "connect");
		return;
	}
	update_events(c);
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
	struct proxy *p = c->p;
	struct sockaddr_storage sa;
	socklen_t len;
	const char *host;
	uint16_t port;
	char tbuf[300];
	int r;

	if (c->role != ROLE_SERVER) {
		uint8_t first[SS_ADDR_MAX + sizeof(c->hs)];
		size_t got;
		int hl = addr_encode(&c->target, first, sizeof(first));

		if (hl < 0 || ss_enc_init(&c->enc, p->method, SS_BACKEND_AUTO, p->master, NULL)) {
			conn_destroy(c, "cannot encode the target address");
			return;
		}
		c->enc_ready = true;
		memcpy(first + hl, extra, n);
		if (buf_reserve(p, &c->up.out) ||
		    ss_enc_feed(&c->enc, first, (size_t)hl + n, c->up.out.data, &got)) {
			conn_destroy(c, "out of memory");
			return;
		}
		c->up.out.len = got;
		c->up.bytes += n;
		host = p->cfg->servers[0];
		port = p->server_port;
	} else {
		if (ss_enc_init(&c->enc, p->method, SS_BACKEND_AUTO, p->master, NULL)) {
			conn_destroy(c, "cipher set-up failed");
			return;
		}
		c->enc_ready = true;
		host = c->target.atyp == SS_ATYP_DOMAIN ? c->target.host :
							  addr_str(&c->target, tbuf, sizeof(tbuf));
		port = c->target.port;
		if (c->target.atyp != SS_ATYP_DOMAIN) {
			len = (socklen_t)addr_to_sockaddr(&c->target, &sa);
			start_connect(c, (struct sockaddr *)&sa, len);
			return;
		}
	}
	set_stage(c, ST_DNS);
	loop_watch(p->loop, &c->local.h, 0);
	r = dns_resolve(p->dns, host, port, &sa, &len, on_resolved, c, &c->q);
	if (r == 0)
		start_connect(c, (struct sockaddr *)&sa, len);
	else if (r < 0)
		fail_connect(c, r, "resolve");
}

static void hs_consume(struct conn *c, size_t n)
{
	memmove(c->hs, c->hs + n, c->hs_len - n);
	c->hs_len = (uint16_t)(c->hs_len - n);
}

/* SOCKS5 method negotiation, optional RFC 1929 auth, then the request. */
static void socks_handshake(struct conn *c)
{
	const struct ss_config *cfg = c->p->cfg;
	ssize_t n = recv(c->local.h.fd, c->hs + c->hs_len, sizeof(c->hs) - c->hs_len, 0);
	size_t used;
	int r;

	if (n == 0) {
		conn_destroy(c, "client closed during SOCKS5 handshake");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_destroy(c, strerror(errno));
		return;
	}
	c->hs_len = (uint16_t)(c->hs_len + n);
	touch(c);
	for (;;) {
		if (c->stage == ST_INIT && !c->socks_auth) {
			uint8_t method, reply[2] = { SOCKS5_VER, 0 };

			r = socks5_parse_greeting(c->hs, c->hs_len, cfg->socks_user != NULL,
						  &method, &used);
			if (r == SS_AGAIN)
				break;
			if (r != SS_OK) {
				conn_destroy(c, "not a SOCKS5 greeting");
				return;
			}
			reply[1] = method;
			send(c->local.h.fd, reply, 2, MSG_NOSIGNAL);
			hs_consume(c, used);
			if (method == SOCKS5_METHOD_NONE) {
				conn_destroy(c, "no acceptable SOCKS5 method offered");
				return;
			}
			if (method == SOCKS5_METHOD_USERPASS)
				c->socks_auth = true;
			else
				set_stage(c, ST_ADDR);
		} else if (c->stage == ST_INIT) {
			char user[256], pass[256];
			uint8_t reply[2] = { 1, 0 };

			r = socks5_parse_auth(c->hs, c->hs_len, user, pass, &used);
			if (r == SS_AGAIN)
				break;
			bool ok = r == SS_OK && !strcmp(user, cfg->socks_user) &&
				  !strcmp(pass, cfg->socks_pass);
			reply[1] = ok ? 0 : 1;
			send(c->local.h.fd, reply, 2, MSG_NOSIGNAL);
			if (!ok) {
				conn_destroy(c, "SOCKS5 authentication failed");
				return;
			}
			hs_consume(c, used);
			c->socks_auth = false;
			set_stage(c, ST_ADDR);
		} else {
			uint8_t cmd = 0;

			r = socks5_parse_request(c->hs, c->hs_len, &cmd, &c->target, &used);
			if (r == SS_AGAIN)
				break;
			if (r == SS_ERR_ATYP) {
				send_socks_reply(c, SOCKS5_REP_ATYP_UNSUPPORTED);
				conn_destroy(c, "SOCKS5 request with an unknown address type");
				return;
			}
			if (r != SS_OK) {
				send_socks_reply(c, SOCKS5_REP_FAIL);
				conn_destroy(c, "malformed SOCKS5 request");
				return;
			}
			if (cmd == SOCKS5_CMD_UDP_ASSOCIATE) {
				hs_consume(c, used);
				start_udp_assoc(c);
				return;
			}
			if (cmd != SOCKS5_CMD_CONNECT) {
				send_socks_reply(c, SOCKS5_REP_CMD_UNSUPPORTED);
				conn_destroy(c, cmd == SOCKS5_CMD_BIND ?
							"SOCKS5 BIND is not supported" :
							"unsupported SOCKS5 command");
				return;
			}
			hs_consume(c, used);
			start_target(c, c->hs, c->hs_len);
			c->hs_len = 0;
			return;
		}
	}
	if (c->hs_len == sizeof(c->hs))
		conn_destroy(c, "SOCKS5 handshake too long");
}

/* ssserver INIT/ADDR: salt, first chunk(s), then the address header. */
static void server_handshake(struct conn *c)
{
	int derr = 0;
	ssize_t n;

	if (c->bad_auth) {
		/* Probe resistance: swallow everything, close only on the timeout. */
		n = recv(c->local.h.fd, c->p->scratch, PROXY_BUF_CAP, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_destroy(c, NULL);
		return;
	}
	n = read_into(c, &c->up, c->local.h.fd, &derr);
	if (n == -EAGAIN)
		return;
	if (n == -EBADMSG) {
		log_info("conn %llu: authentication failed from %s (%s); holding until timeout",
			 (unsigned long long)c->id, c->peer, ss_result_str(derr));
		c->bad_auth = true;
		buf_release(c->p, &c->up.out);
		return;
	}
	if (n <= 0) {
		conn_destroy(c, n == 0 ? "client closed before the address header" :
					 strerror((int)-n));
		return;
	}
	touch(c);
	if (ss_dec_has_salt(&c->dec) && c->stage == ST_INIT)
		set_stage(c, ST_ADDR);
	if (!c->up.out.len)
		return;

	size_t used;
	int r = addr_parse(c->up.out.data, c->up.out.len, &c->target, &used);
	if (r == SS_AGAIN)
		return;
	if (r != SS_OK) {
		conn_destroy(c, r == SS_ERR_ATYP ? "unknown address type in header" :
						   "malformed address header");
		return;
	}
	c->up.out.off = used;
	c->up.out.len -= used;
	c->up.bytes -= MIN(c->up.bytes, used);
	if (log_enabled(LOG_DEBUG)) {
		char t[300];

		log_debug("conn %llu: %s wants %s", (unsigned long long)c->id, c->peer,
			  addr_str(&c->target, t, sizeof(t)));
	}
	start_target(c, NULL, 0);
}

/* STREAM: move one direction along; returns 0 or -errno. */
static int pump(struct conn *c, struct dir *d, int src, int sink, bool can_read)
{
	int r, derr = 0;
	ssize_t n;

	if ((r = flush(c, d, sink)))
		return r;
	if (d->out.len)
		return 0;
	if (!d->eof && can_read) {
		n = read_into(c, d, src, &derr);
		if (n == -EBADMSG) {
			log_info("conn %llu: %s in stream from %s", (unsigned long long)c->id,
				 ss_result_str(derr), d == &c->up ? "client" : "server");
			return -EBADMSG;
		}
		if (n < 0 && n != -EAGAIN)
			return (int)n;
		if (n == 0) {
			d->eof = true;
			if (!dir_encrypts(c, d) && (r = ss_dec_finish(&c->dec)) != SS_OK) {
				log_info("conn %llu: %s from %s", (unsigned long long)c->id,
					 ss_result_str(r), d == &c->up ? "client" : "server");
				return -EBADMSG;
			}
		}
		if (n > 0) {
			touch(c);
			if ((r = flush(c, d, sink)))
				return r;
		}
	}
	/* Half-close: pass the FIN on once everything before it is written. */
	if (d->eof && !d->out.len && !d->shut) {
		shutdown(sink, SHUT_WR);
		d->shut = true;
	}
	return 0;
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
		if (c->role == ROLE_SERVER)
			server_handshake(c);
		else
			socks_handshake(c);
		break;
	case ST_UDP_ASSOC: {
		ssize_t n = recv(h->fd, c->p->scratch, PROXY_BUF_CAP, 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_destroy(c, "UDP association closed");
		return;
	}
	case ST_CONNECTING:
		getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){ sizeof(err) });
		if (err)
			fail_connect(c, -err, "connect");
		else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			enter_stream(c);
		return;
	case ST_STREAM: {
		bool readable = events & (EPOLLIN | EPOLLHUP | EPOLLERR);
		bool writable = events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
		int lfd = c->local.h.fd, rfd = c->remote.h.fd;

		if (is_local)
			r = pump(c, &c->up, lfd, rfd, readable);
		else
			r = pump(c, &c->down, rfd, lfd, readable);
		if (!r && writable) {
			if (is_local)
				r = pump(c, &c->down, rfd, lfd, false);
			else
				r = pump(c, &c->up, lfd, rfd, false);
		}
		if (r) {
			conn_destroy(c, r == -EBADMSG ? "bad data" : strerror(-r));
			return;
		}
		if (c->up.shut && c->down.shut) {
			conn_destroy(c, "closed");
			return;
		}
		break;
	}
	default:
		return;
	}
	if (c->stage != ST_DESTROYED && c->stage != ST_DNS)
		update_events(c);
}
