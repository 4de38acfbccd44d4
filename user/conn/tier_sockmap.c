// SPDX-License-Identifier: MIT
/*
 * The sockmap tier of pass-through pairs (method none, --relay): the
 * attach to the relay program (bpf_relay.c) at a quiet moment, FINs and
 * resets after the kernel queues drain, flow control out of sockmap (a pair
 * leaves for splice), and the poll visits for what no socket event reports. While the kernel waits on a queue
 * (bytes before a FIN, a demoted pair's backlog), progress must show within
 * KERNEL_STALL_MS; a queue that stops moving has lost its bytes, and the
 * pair is torn down so the peers see an error instead of a silently
 * truncated stream.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common.h"
#include "relay.h"
#include "pair.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"

/* sockmap: bytes allowed between the redirect and the peer's TCP stream. */
#define SOCKMAP_LIMIT (4u << 20)
#define COOKIE_SLOT(k) ((unsigned)((k) * 0x9E3779B97F4A7C15ull >> 52) % CONN_COOKIE_SLOTS)

/*
 * Bytes that reached a source before it was attached are parsed only when
 * more data arrives; after a FIN or a reset none will: such bytes still
 * unread after PARSER_STALL_MS are read by the daemon once the pair has left
 * the sockmap tier.
 */
#define PARSER_STALL_MS 20
/* Pairs that moved more without empty receive queues go to splice, not sockmap. */
#define HANDOFF_EXACT_BYTES (256u << 10)


static void cookie_add(struct ctx *p, struct dir *d)
{
	unsigned i = COOKIE_SLOT(d->cookie);

	d->cnext = p->conns.cookies[i];
	p->conns.cookies[i] = d;
}

static void cookie_del(struct ctx *p, struct dir *d)
{
	struct dir **pp = &p->conns.cookies[COOKIE_SLOT(d->cookie)];

	while (*pp && *pp != d)
		pp = &(*pp)->cnext;
	if (*pp)
		*pp = d->cnext;
}

/* The bytes the kernel redirected for the pair, read from the map before it leaves. */
static void count_redirected(struct conn *c)
{
	for (struct dir *d = &c->up; d; d = d == &c->up ? &c->down : NULL) {
		uint64_t n;

		if (!bpf_relay_bytes(c->p->bpf, d->cookie, &n))
			stream_count(c, d, CTR_SOCKMAP, n);
	}
}

/* sockmap: bytes the kernel moved since the last look count as activity. */
static bool sockmap_moved(struct conn *c)
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

/* The read side of direction d is handled by the kernel (no epoll reads). */
static bool kernel_owns_read(const struct conn *c, const struct dir *d)
{
	return c->tier == &tier_sockmap && d->ks != KS_USER;
}

/*
 * Leaves the sockmap tier for good: stop intercepting both sockets now (TCP
 * windows then hold the senders back) and let sockmap_poll detach the pair once
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
	conn_poll_add(c->p, c);
}

static void conn_over_limit(struct ctx *p, uint64_t cookie)
{
	for (struct dir *d = p->conns.cookies[COOKIE_SLOT(cookie)]; d; d = d->cnext)
		if (d->cookie == cookie && d->owner->stage == ST_STREAM &&
		    d->owner->tier == &tier_sockmap) {
			kernel_release(d->owner, "over the sockmap flow-control limit");
			return;
		}
}


/*
 * sockmap: has the sink's TCP stream taken every byte sent its way? Like
 * every waiting helper here: 0 when it has (done), 1 while the bytes are on
 * their way, -errno when they never will arrive.
 */
static int kernel_drained(struct conn *c, struct dir *d, int sink)
{
	uint64_t redirected, written;
	uint32_t outq;
	uint8_t state;

	if (bpf_relay_bytes(c->p->bpf, d->cookie, &redirected) ||
	    tcp_send_progress(sink, &written, &outq, &state))
		return 0; /* the pair is gone: nothing left to wait for */
	if (written - d->base >= redirected + d->user_written) {
		d->mark_at = 0;
		return 0;
	}
	if (state == TCP_CLOSE)
		return -ECONNRESET;
	if (stream_waiting(c, d, written, outq != 0, KERNEL_STALL_MS)) {
		log_warn("conn %llu: sockmap: the redirect queue made no progress for %d s; "
			 "closing the pair", (unsigned long long)c->id, KERNEL_STALL_MS / 1000);
		return -EPIPE;
	}
	return 1;
}

/*
 * sockmap takes a pair only while both receive queues are empty: bytes
 * queued at attach are parsed by deferred work, and a reset before it runs
 * unhashes the socket and the kernel drops them; a pair attached in the
 * middle of a bulk stream was also seen to stall for good once flow control
 * demoted it. A pair that finds no such moment within HANDOFF_EXACT_BYTES
 * goes on with splice (SOCKMAP_SPLICE), as does one that flow control took
 * out of sockmap.
 */
enum sockmap_entry sockmap_enter(struct conn *c)
{
	struct ctx *p = c->p;
	int lfd = c->local.h.fd, rfd = c->remote.h.fd, ul = 0, ur = 0;
	uint64_t wl, wr;

	if (tcp_bytes_unread(lfd, &ul) || tcp_bytes_unread(rfd, &ur) || ul || ur) {
		if (c->up.bytes + c->down.bytes < HANDOFF_EXACT_BYTES)
			return SOCKMAP_LATER; /* read in userspace meanwhile */
		log_debug("conn %llu: no quiet moment for sockmap; handing it to splice",
			  (unsigned long long)c->id);
		c->left_kernel = true;
		return SOCKMAP_SPLICE;
	}
	if (tcp_bytes_written(rfd, &wr) || tcp_bytes_written(lfd, &wl) ||
	    bpf_relay_attach(p->bpf, lfd, rfd, wr, wl, SOCKMAP_LIMIT, &c->up.cookie,
			     &c->down.cookie)) {
		log_debug("conn %llu: sockmap attach failed; staying in userspace",
			  (unsigned long long)c->id);
		return SOCKMAP_NO;
	}
	c->up.base = wr;
	c->down.base = wl;
	c->up.user_written = c->down.user_written = 0;
	c->up.owner = c->down.owner = c;
	p->ctr->to_sockmap++;
	cookie_add(p, &c->up);
	cookie_add(p, &c->down);
	c->tier = &tier_sockmap;
	/* A direction that already ended stays with the daemon. */
	c->up.ks = c->up.eof ? KS_USER : KS_KERNEL;
	c->down.ks = c->down.eof ? KS_USER : KS_KERNEL;
	return SOCKMAP_IN;
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
	return r ? r : stream_end(c, d, sink);
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
		stream_sink_reset(c, d == &c->up ? &c->down : &c->up);
		n = recv(src, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	if (n || tcp_bytes_unread(src, &unread) || unread) {
		if (stream_waiting(c, d, (uint64_t)unread + (n > 0), false, PARSER_STALL_MS))
			kernel_release(c, "the stream parser left bytes before the FIN");
		return 1;
	}
	d->mark_at = 0;
	d->eof = true;
	return kernel_finish_dir(c, d, d == &c->up ? c->remote.h.fd : c->local.h.fd);
}

static int sockmap_poll(struct conn *c, const char **why)
{
	struct ctx *p = c->p;
	bool again = false, demoting = false;
	int r = 0;

	for (struct dir *d = &c->up; d && !r; d = d == &c->up ? &c->down : NULL) {
		int src = d == &c->up ? c->local.h.fd : c->remote.h.fd;
		int sink = d == &c->up ? c->remote.h.fd : c->local.h.fd;

		if (d->shut) /* ended, or its sink is gone: nothing to wait for */
			continue;
		if (d->ks == KS_DEMOTING) {
			int k = kernel_drained(c, d, sink);

			demoting = true;
			again |= k > 0;
			r = k < 0 ? k : 0;
		} else if (d->ks == KS_KERNEL) {
			int k = d->eof ? kernel_finish_dir(c, d, sink) : kernel_check(c, d, src);

			again |= k > 0;
			r = k < 0 ? k : 0;
		}
	}
	if (r < 0) {
		/* A sink reset while bytes were on their way: the other side is reset too. */
		if (r == -ECONNRESET)
			c->up.reset = true;
		*why = strerror(-r);
		return -1;
	}
	if (demoting && !again) {
		/*
		 * Both kernel queues are empty: detach the pair (the sockets
		 * become plain TCP sockets again) and relay it with splice.
		 */
		count_redirected(c);
		bpf_relay_detach(p->bpf, c->up.cookie, c->down.cookie);
		cookie_del(p, &c->up);
		cookie_del(p, &c->down);
		c->up.ks = c->down.ks = KS_USER;
		c->tier = &tier_user; /* conn.c hands it to splice once it holds none of its bytes */
		c->left_kernel = true;
		p->ctr->left_sockmap++;
		c->up.user_written = c->down.user_written = 0;
		log_debug("conn %llu: out of the sockmap tier for good", (unsigned long long)c->id);
	}
	return again;
}

/* STREAM with the sockmap tier: kernel directions, and demoted ones in userspace. */
static int sockmap_sock_event(struct conn *c, bool is_local, uint32_t events)
{
	int lfd = c->local.h.fd, rfd = c->remote.h.fd, err = 0, r = 0;
	struct dir *rd = is_local ? &c->up : &c->down;   /* read from this socket */
	struct dir *wd = is_local ? &c->down : &c->up;   /* written to this socket */
	int fd = is_local ? lfd : rfd;

	if (events & EPOLLERR) {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){ sizeof(err) });
		/* fd's peer reset: the bytes it sent before still go to the other side. */
		if (err == ECONNRESET || err == EPIPE)
			stream_sink_reset(c, wd);
		else if (err)
			return -err;
	}
	if (rd->ks == KS_USER)
		r = stream_pump(c, rd, fd, is_local ? rfd : lfd, events & (EPOLLIN | EPOLLHUP | EPOLLERR));
	else if ((r = kernel_check(c, rd, fd)) > 0) {
		conn_poll_add(c->p, c);
		r = 0;
	}
	if (!r && wd->ks == KS_USER && (events & EPOLLOUT))
		r = stream_pump(c, wd, is_local ? rfd : lfd, fd, false);
	return r;
}

static void over_limit(void *ctx, uint64_t cookie)
{
	conn_over_limit(ctx, cookie);
}

static void on_bpf_events(struct handler *h, uint32_t events)
{
	struct ctx *p = container_of(h, struct ctx, conns.bpf_events);

	(void)events;
	bpf_relay_events(p->bpf, over_limit, p);
}

int sockmap_open(struct ctx *p, bool pass, const char **why)
{
	const struct ss_config *cfg = p->cfg;
	bool want_bpf = cfg->tier == TIER_SOCKMAP || cfg->bpf == BPF_ON ||
			(cfg->bpf == BPF_AUTO && cfg->tier == TIER_AUTO && pass);
	const char *bpf_why = "--bpf off";
	int r;

	if (want_bpf && (r = bpf_relay_open(&p->bpf, &bpf_why))) {
		if (cfg->bpf == BPF_ON || cfg->tier == TIER_SOCKMAP) {
			*why = bpf_why;
			return r;
		}
		log_info("sockmap tier unavailable: %s; falling back to splice", bpf_why);
	}
	if (p->bpf) {
		p->conns.bpf_events.fd = bpf_relay_events_fd(p->bpf);
		p->conns.bpf_events.on_event = on_bpf_events;
		loop_watch(p->loop, &p->conns.bpf_events, EPOLLIN);
	}
	return 0;
}

void sockmap_close(struct ctx *p)
{
	if (p->bpf)
		loop_forget(p->loop, &p->conns.bpf_events);
	bpf_relay_close(p->bpf);
	p->bpf = NULL;
}

static void sockmap_forget(struct conn *c)
{
	struct ctx *p = c->p;

	count_redirected(c);
	bpf_relay_detach(p->bpf, c->up.cookie, c->down.cookie);
	cookie_del(p, &c->up);
	cookie_del(p, &c->down);
}

static void sockmap_interest(const struct conn *c, uint32_t *lev, uint32_t *rev)
{
	/*
	 * A direction reads while its sink has nothing pending (back-pressure)
	 * and waits for writability while it has. sockmap: a kernel
	 * direction's source is watched for its FIN (RDHUP) and for bytes
	 * passed up when flow control paused it.
	 */
	if (kernel_owns_read(c, &c->up))
		*lev |= c->up.eof || c->up.ks == KS_DEMOTING ? 0 : EPOLLIN | EPOLLRDHUP;
	else if (!c->up.eof && !stream_pending(&c->up))
		*lev |= EPOLLIN;
	if (stream_pending(&c->down))
		*lev |= EPOLLOUT;
	if (kernel_owns_read(c, &c->down))
		*rev |= c->down.eof || c->down.ks == KS_DEMOTING ? 0 : EPOLLIN | EPOLLRDHUP;
	else if (!c->down.eof && !stream_pending(&c->down))
		*rev |= EPOLLIN;
	if (stream_pending(&c->up))
		*rev |= EPOLLOUT;
}

const struct tier_ops tier_sockmap = {
	.id = TIER_SOCKMAP, .sock_event = sockmap_sock_event, .read = stream_read,
	.interest = sockmap_interest, .poll = sockmap_poll,
	.moved = sockmap_moved, .forget = sockmap_forget,
};
