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
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "bpf_relay.h"
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
static int pump(struct conn *c, struct dir *d, int src, int sink, bool can_read);
static void maybe_handoff(struct conn *c);
static int kernel_waiting(struct conn *c, struct dir *d, uint64_t progress, bool moving,
			  uint64_t stall_ms);

/*
 * sockmap: while the daemon waits on a kernel queue (bytes before a FIN, or
 * a demoted pair's backlog), progress must show within KERNEL_STALL_MS; a
 * queue that stops moving has lost its bytes, and the pair is torn down so
 * the peers see an error instead of a silently truncated stream.
 */
#define KERNEL_STALL_MS 3000
/*
 * Bytes that reached a source before it was attached are parsed only when
 * more data arrives; after a FIN or a reset none will: such bytes still
 * unread after PARSER_STALL_MS are read by the daemon once the pair has left
 * the sockmap tier.
 */
#define PARSER_STALL_MS 20
/* Pairs that moved less wait for empty receive queues before the sockmap hand-off. */
#define HANDOFF_EXACT_BYTES (256u << 10)

static void set_stage(struct conn *c, enum conn_stage s)
{
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
static void lru_unlink(struct proxy *p, struct conn *c)
{
	struct conn **head = c->in_hs ? &p->hs_head : &p->lru_head;
	struct conn **tail = c->in_hs ? &p->hs_tail : &p->lru_tail;

	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		*tail = c->prev;
	c->prev = c->next = NULL;
}

static void lru_append(struct proxy *p, struct conn *c)
{
	struct conn **head = c->in_hs ? &p->hs_head : &p->lru_head;
	struct conn **tail = c->in_hs ? &p->hs_tail : &p->lru_tail;

	c->prev = *tail;
	c->next = NULL;
	if (*tail)
		(*tail)->next = c;
	else
		*head = c;
	*tail = c;
}

/* O(1): activity moves the connection to the young end of the list. */
static void touch(struct conn *c)
{
	struct proxy *p = c->p;

	c->last_active = loop_now(p->loop);
	if (!c->in_hs && p->lru_tail != c) {
		lru_unlink(p, c);
		lru_append(p, c);
	}
}

/* The request is complete: from now on the idle timeout applies. */
static void leave_handshake(struct conn *c)
{
	if (!c->in_hs)
		return;
	lru_unlink(c->p, c);
	c->in_hs = false;
	lru_append(c->p, c);
	touch(c);
}

#define COOKIE_SLOT(k) ((unsigned)((k) * 0x9E3779B97F4A7C15ull >> 52) % 4096u)

static void cookie_add(struct proxy *p, struct dir *d)
{
	unsigned i = COOKIE_SLOT(d->cookie);

	d->cnext = p->cookies[i];
	p->cookies[i] = d;
}

static void cookie_del(struct proxy *p, struct dir *d)
{
	struct dir **pp = &p->cookies[COOKIE_SLOT(d->cookie)];

	while (*pp && *pp != d)
		pp = &(*pp)->cnext;
	if (*pp)
		*pp = d->cnext;
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

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* <linux/netfilter_ipv4.h> */
#endif
#define IP6T_SO_ORIGINAL_DST 80 /* <linux/netfilter_ipv6/ip6_tables.h> */

/* Whether sa is an address of this host (a plain socket can bind to it). */
static bool is_local_addr(const struct ss_addr *a)
{
	struct sockaddr_storage sa;
	socklen_t len = (socklen_t)addr_to_sockaddr(a, &sa);
	int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool local;

	if (fd < 0)
		return false;
	((struct sockaddr_in *)&sa)->sin_port = 0; /* same offset in sockaddr_in6 */
	local = !bind(fd, (struct sockaddr *)&sa, len);
	close(fd);
	return local;
}

/*
 * redir: the original destination becomes the target. Under TPROXY or
 * sk_lookup it is the accepted socket's local address; after a NAT REDIRECT
 * conntrack has it (SO_ORIGINAL_DST), and it equals the local address when
 * conntrack saw no NAT. NULL, or why the connection is refused.
 */
static const char *redir_target(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = c->local.h.fd;

	memset(&ss, 0, sizeof(ss));
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &sl) &&
	    (sl = sizeof(ss), getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &sl)) &&
	    (sl = sizeof(ss), getsockname(fd, (struct sockaddr *)&ss, &sl)))
		return "cannot read the original destination";
	if (addr_from_sockaddr(&c->target, (struct sockaddr *)&ss))
		return "original destination of an unknown address family";
	/* Not redirected: a client that connected to the redir port itself would loop. */
	if (c->target.port == c->p->cfg->local_port && is_local_addr(&c->target))
		return "not a redirected connection (its destination is the redir port itself)";
	return NULL;
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
	c->tier = TIER_USER;
	c->passthrough = role == ROLE_RELAY || p->method->id == SS_M_NONE;
	c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl)) {
		c->peer_sa = ss;
		sockaddr_str((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	}
	if (p->cfg->no_delay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	p->nconns++;
	c->last_active = c->accepted_at = loop_now(p->loop);
	c->in_hs = true;
	lru_append(p, c);
	log_debug("conn %llu: accepted from %s", (unsigned long long)c->id, c->peer);
	if (ss_dec_init(&c->dec, p->method, SS_BACKEND_AUTO, p->master)) {
		conn_destroy(c, "cipher set-up failed");
		return;
	}
	c->dec_ready = true;
	if (role == ROLE_TUNNEL || role == ROLE_RELAY) {
		c->target = p->tunnel;
		start_target(c, NULL, 0);
		return;
	}
	if (role == ROLE_REDIR) {
		const char *why = redir_target(c);

		if (why)
			conn_destroy(c, why);
		else
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
	/* A reset passes through as a reset: both sockets close with SO_LINGER 0. */
	if (c->up.reset || c->down.reset) {
		struct linger lg = { 1, 0 };

		setsockopt(c->local.h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (c->remote.h.fd >= 0)
			setsockopt(c->remote.h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (c->stage == ST_UDP_ASSOC) {
		struct conn **pp = &p->assocs;

		while (*pp != c)
			pp = &(*pp)->assoc_next;
		*pp = c->assoc_next;
		udp_assoc_close(p, c->assoc_udp);
		c->assoc_udp = NULL;
	}
	if (c->tier == TIER_SOCKMAP) {
		bpf_relay_detach(p->bpf, c->up.cookie, c->down.cookie);
		cookie_del(p, &c->up);
		cookie_del(p, &c->down);
	}
	if (c->polling) {
		struct conn **pp = &p->polls;

		while (*pp != c)
			pp = &(*pp)->poll_next;
		*pp = c->poll_next;
		c->polling = false;
	}
	for (struct dir *d = &c->up; d; d = d == &c->up ? &c->down : NULL)
		if (d->pipe[0] >= 0)
			proxy_pipe_put(p, d->pipe, d->pipe_len == 0);
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

/* sockmap: bytes the kernel moved since the last look count as activity. */
static bool kernel_moved_bytes(struct conn *c)
{
	bool moved = false;

	for (struct dir *d = &c->up; d; d = d == &c->up ? &c->down : NULL) {
		uint64_t n;

		if (d->ks == KS_KERNEL && !bpf_relay_bytes(c->p->bpf, d->cookie, &n) && n != d->seen) {
			d->seen = n;
			moved = true;
		}
	}
	return moved;
}

void conn_sweep(struct proxy *p, uint64_t now, uint64_t timeout_ms, uint64_t hs_ms)
{
	while (p->hs_head && now - p->hs_head->accepted_at >= hs_ms)
		conn_destroy(p->hs_head, p->hs_head->bad_auth ? NULL : "handshake deadline");
	while (p->lru_head && now - p->lru_head->last_active >= timeout_ms) {
		struct conn *c = p->lru_head;

		if (c->tier == TIER_SOCKMAP && kernel_moved_bytes(c))
			touch(c);
		else
			conn_destroy(c, "idle timeout");
	}
}

static size_t dir_pending(const struct dir *d)
{
	return d->out.len + d->pipe_len;
}

/* The read side of direction d is handled by the kernel (no epoll reads). */
static bool dir_in_kernel(const struct conn *c, const struct dir *d)
{
	return c->tier == TIER_SOCKMAP && d->ks != KS_USER;
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
		/*
		 * sockmap: a kernel direction's source is watched for its FIN
		 * (RDHUP) and for bytes passed up when flow control paused it.
		 */
		if (dir_in_kernel(c, &c->up))
			lev |= c->up.eof || c->up.ks == KS_DEMOTING ? 0 : EPOLLIN | EPOLLRDHUP;
		else if (!c->up.eof && !dir_pending(&c->up))
			lev |= EPOLLIN;
		if (dir_pending(&c->down))
			lev |= EPOLLOUT;
		if (dir_in_kernel(c, &c->down))
			rev |= c->down.eof || c->down.ks == KS_DEMOTING ? 0 : EPOLLIN | EPOLLRDHUP;
		else if (!c->down.eof && !dir_pending(&c->down))
			rev |= EPOLLIN;
		if (dir_pending(&c->up))
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
	while (d->pipe_len) {
		ssize_t n = splice(d->pipe[0], NULL, sink, NULL, d->pipe_len,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : n ? -errno : -EPIPE;
		d->pipe_len -= (size_t)n;
		touch(c);
	}
	while (d->out.len) {
		ssize_t n = send(sink, d->out.data + d->out.off, d->out.len, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		d->out.off += (size_t)n;
		d->out.len -= (size_t)n;
		d->user_written += (size_t)n;
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

	if (c->tier == TIER_SPLICE) {
		n = splice(src, NULL, d->pipe[1], NULL, PROXY_PIPE_SIZE,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0)
			return errno == EINTR ? -EAGAIN : -errno;
		d->pipe_len += (size_t)n;
		d->bytes += (size_t)n;
		return n;
	}
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

/* Every salt this process generates goes into the replay filter. */
static void remember_own_salt(struct conn *c)
{
	if (c->p->method->key_len)
		replay_check_add(&c->p->replay, c->enc.salt, c->p->method->key_len);
}

/*
 * Checked once, as soon as the peer's salt is complete (had_salt: it was not
 * before the last read), whatever the chunks after it hold.
 */
static bool peer_salt_replayed(struct conn *c, bool had_salt)
{
	return !had_salt && ss_dec_has_salt(&c->dec) && c->p->method->key_len &&
	       replay_check_add(&c->p->replay, c->dec.salt, c->p->method->key_len);
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
	int r;

	if (udp_socks_bound(p, &bound)) {
		send_socks_reply(c, SOCKS5_REP_CMD_UNSUPPORTED);
		conn_destroy(c, "UDP ASSOCIATE, but UDP is off (mode tcp_only)");
		return;
	}
	r = getsockname(c->local.h.fd, (struct sockaddr *)&here, &hl) ? -errno :
	    udp_assoc_open(p, c, &here, &c->assoc_udp, &bound);
	if (r) {
		send_socks_reply(c, SOCKS5_REP_FAIL);
		log_warn("conn %llu: UDP ASSOCIATE: no UDP socket: %s", (unsigned long long)c->id,
			 strerror(-r));
		conn_destroy(c, "UDP ASSOCIATE failed");
		return;
	}
	addr_from_sockaddr(&a, (struct sockaddr *)&bound);
	send_socks_reply_addr(c, SOCKS5_REP_OK, &a);
	leave_handshake(c);
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
	maybe_handoff(c);
	update_events(c);
}

static void start_connect(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	const struct ss_config *cfg = c->p->cfg;
	const char *rule;
	int fd;

	/* Checked on the address actually dialled, so DNS cannot smuggle one in. */
	if (c->role == ROLE_SERVER && (rule = policy_refuses(&c->p->policy, sa))) {
		char t[300], where[64], msg[512];

		snprintf(msg, sizeof(msg), "target %s (%s) refused by policy: %s; allow it with "
			 "--allow-private or an ACL file", addr_str(&c->target, t, sizeof(t)),
			 sockaddr_str(sa, where, sizeof(where)), rule);
		conn_destroy(c, msg);
		return;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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

	leave_handshake(c);
	if (c->role == ROLE_SOCKS || c->role == ROLE_TUNNEL || c->role == ROLE_REDIR) {
		uint8_t first[SS_ADDR_MAX + sizeof(c->hs)];
		size_t got;
		int hl = addr_encode(&c->target, first, sizeof(first));

		if (hl < 0 || ss_enc_init(&c->enc, p->method, SS_BACKEND_AUTO, p->master, NULL)) {
			conn_destroy(c, "cannot encode the target address");
			return;
		}
		c->enc_ready = true;
		remember_own_salt(c);
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
		/* Our own salts too: a reflected response must not pass as a request. */
		if (c->role == ROLE_SERVER)
			remember_own_salt(c);
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
	bool had_salt = ss_dec_has_salt(&c->dec);

	n = read_into(c, &c->up, c->local.h.fd, &derr);
	if (n != -EAGAIN && peer_salt_replayed(c, had_salt)) {
		n = -EBADMSG;
		derr = SS_ERR_REPLAY;
	}
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

/*
 * Direction d has reached its end at sink: a FIN, or, when its source was
 * reset, a reset once the sink's peer has every byte: conn_destroy resets
 * both sockets once the other direction is over too. 1 while it waits.
 */
static int dir_end(struct conn *c, struct dir *d, int sink)
{
	int outq = 0;

	if (!d->reset) {
		shutdown(sink, SHUT_WR);
		d->shut = true;
		return 0;
	}
	/*
	 * A reset drops what the sink's peer has not acknowledged: wait for
	 * SIOCOUTQ to reach 0 (polled), unless the peer stops reading for
	 * KERNEL_STALL_MS.
	 */
	if (!ioctl(sink, SIOCOUTQ, &outq) && outq > 0 &&
	    !kernel_waiting(c, d, (uint64_t)outq, false, KERNEL_STALL_MS)) {
		proxy_poll_add(c->p, c);
		return 1;
	}
	d->mark_at = 0;
	d->shut = true;
	return 0;
}

/*
 * The sink of direction d was reset by its peer: what d still holds is lost,
 * and the other direction, which that peer was the source of, ends with a
 * reset after the bytes it still delivers.
 */
static void sink_reset(struct conn *c, struct dir *d)
{
	struct dir *o = d == &c->up ? &c->down : &c->up;

	d->eof = d->shut = true;
	d->out.len = 0;
	buf_release(c->p, &d->out);
	if (d->pipe[0] >= 0 && d->pipe_len) {
		proxy_pipe_put(c->p, d->pipe, false);
		d->pipe[0] = d->pipe[1] = -1;
		d->pipe_len = 0;
	}
	o->reset = true;
}

static const char *conn_end_reason(const struct conn *c)
{
	return c->up.reset || c->down.reset ? "reset by a peer" : "closed";
}

/* STREAM: move one direction along; returns 0 or -errno. */
static int pump(struct conn *c, struct dir *d, int src, int sink, bool can_read)
{
	int r, derr = 0;
	ssize_t n;

	if (d->shut)
		return 0;
	if ((r = flush(c, d, sink))) {
		if (r != -ECONNRESET && r != -EPIPE)
			return r;
		sink_reset(c, d);
		return 0;
	}
	if (dir_pending(d))
		return 0;
	if (!d->eof && can_read) {
		bool had_salt = ss_dec_has_salt(&c->dec);

		n = read_into(c, d, src, &derr);
		if (n > 0 && c->role != ROLE_SERVER && d == &c->down && peer_salt_replayed(c, had_salt)) {
			n = -EBADMSG;
			derr = SS_ERR_REPLAY;
		}
		if (n == -EBADMSG) {
			log_info("conn %llu: %s in stream from %s", (unsigned long long)c->id,
				 ss_result_str(derr), d == &c->up ? "client" : "server");
			return -EBADMSG;
		}
		if (n == -ECONNRESET) {
			/* Nothing more reaches the source's peer; what it sent before goes on. */
			sink_reset(c, d == &c->up ? &c->down : &c->up);
			d->eof = true;
			n = -EAGAIN;
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
	/* Half-close: pass the FIN (or reset) on once everything before it is written. */
	if (d->eof && !dir_pending(d) && !d->shut)
		dir_end(c, d, sink);
	return 0;
}

/*
 * Leaves the sockmap tier for good: stop intercepting both sockets now (TCP
 * windows then hold the senders back) and let conn_poll detach the pair once
 * the kernel has handed every redirected byte to TCP.
 */
static void kernel_release(struct conn *c, const char *why)
{
	for (struct dir *d = &c->up; d; d = d == &c->up ? &c->down : NULL) {
		bpf_relay_stop(c->p->bpf, d->cookie);
		if (d->ks == KS_KERNEL)
			d->ks = KS_DEMOTING;
		d->mark_at = 0;
	}
	log_debug("conn %llu: %s; leaving sockmap for splice", (unsigned long long)c->id, why);
	proxy_poll_add(c->p, c);
}

void conn_over_limit(struct proxy *p, uint64_t cookie)
{
	for (struct dir *d = p->cookies[COOKIE_SLOT(cookie)]; d; d = d->cnext)
		if (d->cookie == cookie && d->owner->stage == ST_STREAM &&
		    d->owner->tier == TIER_SOCKMAP) {
			kernel_release(d->owner, "over the sockmap flow-control limit");
			return;
		}
}


static int kernel_waiting(struct conn *c, struct dir *d, uint64_t progress, bool moving,
			  uint64_t stall_ms)
{
	uint64_t now = loop_now(c->p->loop);

	if (moving || !d->mark_at || progress != d->mark) {
		d->mark = progress;
		d->mark_at = now;
		return 0;
	}
	return now - d->mark_at < stall_ms ? 0 : -EPIPE;
}

/*
 * sockmap: has the sink's TCP stream taken every byte sent its way? 1 when
 * it has, 0 while it is on its way, -errno when it never will.
 */
static int kernel_drained(struct conn *c, struct dir *d, int sink)
{
	uint64_t redirected, written;
	uint32_t outq;
	uint8_t state;

	if (bpf_relay_bytes(c->p->bpf, d->cookie, &redirected) ||
	    tcp_send_progress(sink, &written, &outq, &state))
		return 1; /* the pair is gone: nothing left to wait for */
	if (written - d->base >= redirected + d->user_written) {
		d->mark_at = 0;
		return 1;
	}
	if (state == TCP_CLOSE)
		return -ECONNRESET;
	if (kernel_waiting(c, d, written, outq != 0, KERNEL_STALL_MS)) {
		log_warn("conn %llu: sockmap: the redirect queue made no progress for %d s; "
			 "closing the pair", (unsigned long long)c->id, KERNEL_STALL_MS / 1000);
		return -EPIPE;
	}
	return 0;
}

/*
 * Hands a pass-through pair to the kernel once the daemon holds none of its
 * bytes (what was buffered at hand-off has been written, in order).
 */
static void maybe_handoff(struct conn *c)
{
	struct proxy *p = c->p;
	int lfd = c->local.h.fd, rfd = c->remote.h.fd;

	if (!c->passthrough || c->tier != TIER_USER || p->pass_tier == TIER_USER ||
	    dir_pending(&c->up) || dir_pending(&c->down))
		return;
	/* A pair that flow control took out of sockmap goes on with splice. */
	if (p->pass_tier == TIER_SOCKMAP && !c->left_kernel) {
		uint64_t wl, wr;
		int ul = 0, ur = 0;

		/*
		 * Bytes already queued at attach are parsed by deferred work; a
		 * reset before it runs unhashes the socket and the kernel drops
		 * them. Small pairs therefore wait for empty receive queues (read
		 * meanwhile in userspace); bulk pairs accept that narrow window.
		 */
		if (c->up.bytes + c->down.bytes < HANDOFF_EXACT_BYTES &&
		    (tcp_bytes_unread(lfd, &ul) || tcp_bytes_unread(rfd, &ur) || ul || ur))
			return;
		if (tcp_bytes_written(rfd, &wr) || tcp_bytes_written(lfd, &wl) ||
		    bpf_relay_attach(p->bpf, lfd, rfd, wr, wl, PROXY_SOCKMAP_LIMIT, &c->up.cookie,
				     &c->down.cookie)) {
			log_debug("conn %llu: sockmap attach failed; staying in userspace",
				  (unsigned long long)c->id);
			return;
		}
		c->up.base = wr;
		c->down.base = wl;
		c->up.user_written = c->down.user_written = 0;
		c->up.owner = c->down.owner = c;
		p->to_sockmap++;
		cookie_add(p, &c->up);
		cookie_add(p, &c->down);
		c->tier = TIER_SOCKMAP;
		/* A direction that already ended stays with the daemon. */
		c->up.ks = c->up.eof ? KS_USER : KS_KERNEL;
		c->down.ks = c->down.eof ? KS_USER : KS_KERNEL;
		return;
	}
	if (proxy_pipe_get(p, c->up.pipe) || proxy_pipe_get(p, c->down.pipe)) {
		log_debug("conn %llu: no pipes for splice; staying in userspace",
			  (unsigned long long)c->id);
		return;
	}
	c->tier = TIER_SPLICE;
	p->to_splice++;
}

/*
 * sockmap: the FIN of a kernel direction is passed on once the sink drained.
 * 0 when done (or nothing to do), 1 while it waits (the caller polls), -errno.
 */
static int kernel_finish_dir(struct conn *c, struct dir *d, int sink)
{
	int r;

	if (!d->eof || d->shut)
		return 0;
	r = kernel_drained(c, d, sink);
	if (r > 0)
		return dir_end(c, d, sink);
	return r < 0 ? r : !r;
}

/*
 * sockmap: the source of kernel direction d woke up (or is polled): its FIN?
 * 0, 1 while the daemon waits on a kernel queue (the caller polls), -errno.
 */
static int kernel_check(struct conn *c, struct dir *d, int src)
{
	struct pollfd pf = { .fd = src, .events = POLLRDHUP };
	int unread = 0;
	ssize_t n;
	char byte;

	if (d->ks != KS_KERNEL || d->eof)
		return 0;
	/* No FIN yet: the kernel goes on moving bytes, and the FIN will wake us. */
	if (poll(&pf, 1, 0) <= 0 || !(pf.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return 0;
	/*
	 * EOF once the parser has taken every byte before the FIN. It takes
	 * them without waking epoll, and the FIN's wake-up is spent: poll.
	 */
	n = recv(src, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && errno == ECONNRESET) {
		/* The error is now taken: what is left to read comes next. */
		sink_reset(c, d == &c->up ? &c->down : &c->up);
		n = recv(src, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	if (n || tcp_bytes_unread(src, &unread) || unread) {
		if (kernel_waiting(c, d, (uint64_t)unread + (n > 0), false, PARSER_STALL_MS))
			kernel_release(c, "the stream parser left bytes before the FIN");
		return 1;
	}
	d->mark_at = 0;
	d->eof = true;
	return kernel_finish_dir(c, d, d == &c->up ? c->remote.h.fd : c->local.h.fd);
}

/* Userspace and splice tiers: a reset that waits for its sink's peer to acknowledge all. */
static bool user_poll(struct conn *c)
{
	bool again = false;

	for (struct dir *d = &c->up; d; d = d == &c->up ? &c->down : NULL)
		if (d->eof && !d->shut && !dir_pending(d))
			again |= dir_end(c, d, d == &c->up ? c->remote.h.fd : c->local.h.fd) > 0;
	if (c->up.shut && c->down.shut) {
		conn_destroy(c, conn_end_reason(c));
		return false;
	}
	if (!again)
		c->polling = false;
	return again;
}

bool conn_poll(struct conn *c)
{
	struct proxy *p = c->p;
	bool again = false, demoting = false;
	int r = 0;

	if (c->stage != ST_STREAM)
		return false;
	if (c->tier != TIER_SOCKMAP)
		return user_poll(c);
	for (struct dir *d = &c->up; d && !r; d = d == &c->up ? &c->down : NULL) {
		int src = d == &c->up ? c->local.h.fd : c->remote.h.fd;
		int sink = d == &c->up ? c->remote.h.fd : c->local.h.fd;

		if (d->shut) /* ended, or its sink is gone: nothing to wait for */
			continue;
		if (d->ks == KS_DEMOTING) {
			int k = kernel_drained(c, d, sink);

			demoting = true;
			again |= !k;
			r = k < 0 ? k : 0;
		} else if (d->ks == KS_KERNEL) {
			int k = d->eof ? kernel_finish_dir(c, d, sink) : kernel_check(c, d, src);

			again |= k > 0;
			r = k < 0 ? k : 0;
		}
	}
	if (r < 0) {
		if (r == -ECONNRESET)
			c->up.reset = true;
		conn_destroy(c, strerror(-r));
		return false;
	}
	if (demoting && !again) {
		/*
		 * Both kernel queues are empty: detach the pair (the sockets
		 * become plain TCP sockets again) and relay it with splice.
		 */
		bpf_relay_detach(p->bpf, c->up.cookie, c->down.cookie);
		cookie_del(p, &c->up);
		cookie_del(p, &c->down);
		c->up.ks = c->down.ks = KS_USER;
		c->tier = TIER_USER;
		c->left_kernel = true;
		p->left_sockmap++;
		c->up.user_written = c->down.user_written = 0;
		log_debug("conn %llu: out of the sockmap tier for good", (unsigned long long)c->id);
		maybe_handoff(c);
	}
	if (c->up.shut && c->down.shut) {
		conn_destroy(c, conn_end_reason(c));
		return false;
	}
	update_events(c);
	if (!again)
		c->polling = false;
	return again;
}

/* STREAM with the sockmap tier: kernel directions, and demoted ones in userspace. */
static int sockmap_event(struct conn *c, bool is_local, uint32_t events)
{
	int lfd = c->local.h.fd, rfd = c->remote.h.fd, err = 0, r = 0;
	struct dir *rd = is_local ? &c->up : &c->down;   /* read from this socket */
	struct dir *wd = is_local ? &c->down : &c->up;   /* written to this socket */
	int fd = is_local ? lfd : rfd;

	if (events & EPOLLERR) {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){ sizeof(err) });
		/* fd's peer reset: the bytes it sent before still go to the other side. */
		if (err == ECONNRESET || err == EPIPE)
			sink_reset(c, wd);
		else if (err)
			return -err;
	}
	if (rd->ks == KS_USER)
		r = pump(c, rd, fd, is_local ? rfd : lfd, events & (EPOLLIN | EPOLLHUP | EPOLLERR));
	else if ((r = kernel_check(c, rd, fd)) > 0) {
		proxy_poll_add(c->p, c);
		r = 0;
	}
	if (!r && wd->ks == KS_USER && (events & EPOLLOUT))
		r = pump(c, wd, is_local ? rfd : lfd, fd, false);
	return r;
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

		if (c->tier == TIER_SOCKMAP) {
			r = sockmap_event(c, is_local, events);
		} else if (is_local) {
			r = pump(c, &c->up, lfd, rfd, readable);
		} else {
			r = pump(c, &c->down, rfd, lfd, readable);
		}
		if (!r && writable && c->tier != TIER_SOCKMAP) {
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
			conn_destroy(c, conn_end_reason(c));
			return;
		}
		maybe_handoff(c);
		break;
	}
	default:
		return;
	}
	if (c->stage != ST_DESTROYED && c->stage != ST_DNS)
		update_events(c);
}
