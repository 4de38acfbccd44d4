// SPDX-License-Identifier: MIT
/*
 * STREAM in the daemon's loop, for every tier that reads there (tier_user,
 * tier_splice, sockmap's demoted directions): each direction reads (through
 * its tier) only while its sink has nothing pending (back-pressure),
 * transforms (seal/open, or nothing for pass-through) into one relay buffer
 * or a pipe, and writes; a FIN is passed on after everything before it, a
 * reset as a reset. stream_read is the userspace read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "pair.h"
#include "counters.h"
#include "ctx.h"
#include "log.h"
#include "traffic.h"
#include "upstream.h"

/*
 * Ciphertext read at once when decrypting into room bytes, so the plaintext
 * always fits: a read releases at most what it brings plus what the decoder
 * already holds (plaintext is never longer than its ciphertext).
 */
static size_t dec_read_max(const struct conn *c, size_t room)
{
	size_t held = c->key->ops->dec_held(&c->dec);

	return room > held ? room - held : 0;
}

/*
 * A read under a data_limit takes at most one chunk past what is left of it,
 * so a spent user's transfer ends at the limit plus one chunk.
 */
static size_t within_allowance(const struct conn *c, size_t want)
{
	uint64_t left = c->in->serves ? traffic_allowance(c->p->traffic, c->key) : UINT64_MAX;

	return left < want && want - left > SS_MAX_PAYLOAD ? (size_t)left + SS_MAX_PAYLOAD : want;
}

void stream_buf_release(struct ctx *p, struct relay_buf *b)
{
	if (b->data)
		pool_buf_put(&p->pool, b->data);
	b->data = NULL;
	b->off = b->len = 0;
}

int stream_buf_reserve(struct ctx *p, struct relay_buf *b)
{
	if (!b->data && !(b->data = pool_buf_get(&p->pool)))
		return -ENOMEM;
	if (b->off && b->len) {
		memmove(b->data, b->data + b->off, b->len);
	}
	b->off = 0;
	return 0;
}

size_t stream_pending(const struct dir *d)
{
	return d->out.len + d->pipe_len;
}

/* Writes what the direction has pending; 0, or -errno on a fatal error. */
int stream_flush(struct conn *c, struct dir *d, int sink)
{
	while (d->pipe_len) {
		ssize_t n = splice(d->pipe[0], NULL, sink, NULL, d->pipe_len,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : n ? -errno : -EPIPE;
		d->pipe_len -= (size_t)n;
		conn_touch(c);
	}
	while (d->out.len) {
		ssize_t n = send(sink, d->out.data + d->out.off, d->out.len, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		d->out.off += (size_t)n;
		d->out.len -= (size_t)n;
		d->user_written += (size_t)n;
		conn_touch(c);
	}
	/* An empty direction holds no buffer: idle connections stay small. */
	stream_buf_release(c->p, &d->out);
	return 0;
}

/* Is this direction's data encrypted on the way to its sink? */
bool stream_encrypts(const struct conn *c, const struct dir *d)
{
	return c->in->serves == (d == &c->down);
}

/*
 * Reads once from src and appends the transformed bytes to d->out.
 * Returns bytes read (0 at EOF), -EAGAIN, -EBADMSG on a failed decryption
 * (the decoder's error code is in *derr), or another -errno.
 */
ssize_t stream_read(struct conn *c, struct dir *d, int src, int *derr)
{
	struct ctx *p = c->p;
	bool enc = stream_encrypts(c, d);
	size_t room, max, got, hl;
	ssize_t n;

	if (stream_buf_reserve(p, &d->out))
		return -ENOMEM;
	room = POOL_BUF_CAP - d->out.len;
	if (c->bypass) {
		/* An ACL bypass: the bytes pass as they are, both ways. */
		if (!room)
			return -EAGAIN;
		n = conn_recv(c, src, d->out.data + d->out.len, room);
		if (n <= 0)
			return n < 0 ? (errno == EINTR ? -EAGAIN : -errno) : 0;
		d->out.len += (size_t)n;
		d->bytes += (size_t)n;
		stream_count(c, d, CTR_USER, (size_t)n);
		return n;
	}
	/* sslocal: a request header still waiting goes first, in the same chunk. */
	hl = enc && c->hdr_pending ? c->hs_len : 0;
	max = enc ? c->key->ops->enc_fit(&c->enc, room) : dec_read_max(c, room);
	if (max <= hl)
		return -EAGAIN;
	max = hl + within_allowance(c, max - hl);
	memcpy(p->scratch, c->hs, hl);
	n = conn_recv(c, src, p->scratch + hl, max - hl);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return hl ? stream_send_header(c) : 0; /* EOF: the header, then the FIN */
	d->bytes += (size_t)n;
	stream_count(c, d, CTR_USER, (size_t)n);
	if (enc) {
		if (c->key->ops->enc_feed(&c->enc, p->scratch, hl + (size_t)n, d->out.data + d->out.len,
				     &got))
			return -EIO;
		d->out.len += got;
		c->hdr_pending = false;
		c->hs_len = 0;
	} else {
		size_t used;
		int r = c->key->ops->dec_feed(&c->dec, p->scratch, (size_t)n, &used, d->out.data,
				    POOL_BUF_CAP, &d->out.len);

		if (r) {
			*derr = r;
			return -EBADMSG;
		}
	}
	return n;
}

bool stream_connected(int fd)
{
	struct sockaddr_storage sa;

	return !getpeername(fd, (struct sockaddr *)&sa, &(socklen_t){ sizeof(sa) });
}

/*
 * Direction d has reached its end at sink: a FIN, or, when its source was
 * reset, a reset once the sink's peer has every byte: conn_destroy resets
 * both sockets once the other direction is over too. 1 while it waits.
 */
int stream_end(struct conn *c, struct dir *d, int sink)
{
	struct dir *o = d == &c->up ? &c->down : &c->up;
	int outq = 0;

	if (!d->reset) {
		/* A shutdown before the SYN-ACK would abort the connection: wait (polled). */
		if (sink == c->remote.h.fd && c->tfo_pending) {
			if (!stream_connected(sink)) {
				conn_poll_add(c->p, c);
				return 1;
			}
			c->tfo_pending = false;
		}
		/* When the other way is over too, the close right after sends this FIN. */
		if (!(o->shut && o->eof && !o->reset))
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
	    !stream_waiting(c, d, (uint64_t)outq, false, KERNEL_STALL_MS)) {
		conn_poll_add(c->p, c);
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
void stream_sink_reset(struct conn *c, struct dir *d)
{
	struct dir *o = d == &c->up ? &c->down : &c->up;

	d->eof = d->shut = true;
	d->out.len = 0;
	stream_buf_release(c->p, &d->out);
	if (d->pipe[0] >= 0 && d->pipe_len) {
		pool_pipe_put(&c->p->pool, d->pipe, false);
		d->pipe[0] = d->pipe[1] = -1;
		d->pipe_len = 0;
	}
	o->reset = true;
}

ssize_t conn_recv(struct conn *c, int fd, void *buf, size_t len)
{
	struct sock *s = fd == c->local.h.fd ? &c->local : &c->remote;
	ssize_t n = recv(fd, buf, len, 0);
	int e = errno;

	if (n > 0)
		s->rd += (uint64_t)n;
	if (s->sc)
		shortcut_read(c, s, n < 0 && e == EAGAIN);
	errno = e;
	return n;
}

/* STREAM: move one direction along; returns 0 or -errno. */
int stream_pump(struct conn *c, struct dir *d, int src, int sink, bool can_read)
{
	int r, derr = 0;
	ssize_t n;

	if (d->shut)
		return 0;
	if ((r = stream_flush(c, d, sink))) {
		if (r != -ECONNRESET && r != -EPIPE)
			return r;
		stream_sink_reset(c, d);
		return 0;
	}
	if (stream_pending(d))
		return 0;
	if (!d->eof && can_read) {
		bool had_salt = c->key->ops->dec_salt(&c->dec) != NULL;

		/* A spent data_limit reads as the end: what was read before is delivered. */
		n = c->spent ? 0 : c->tier->read(c, d, src, &derr);
		if (n > 0 && !c->in->serves && d == &c->down && stream_salt_replayed(c, had_salt)) {
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
			stream_sink_reset(c, d == &c->up ? &c->down : &c->up);
			d->eof = true;
			n = -EAGAIN;
		}
		if (n < 0 && n != -EAGAIN)
			return (int)n;
		if (n == 0) {
			d->eof = true;
			if (!c->bypass && !c->spent && !stream_encrypts(c, d) &&
			    (r = c->key->ops->dec_finish(&c->dec)) != SS_OK) {
				log_info("conn %llu: %s from %s", (unsigned long long)c->id,
					 ss_result_str(r), d == &c->up ? "client" : "server");
				return -EBADMSG;
			}
		}
		if (n > 0)
			conn_touch(c);
		/* Out at once: what was read, or sslocal's request header that an EOF released. */
		if ((n > 0 || (n == 0 && stream_pending(d))) && (r = stream_flush(c, d, sink)))
			return r;
	}
	/* Half-close: pass the FIN (or reset) on once everything before it is written. */
	if (d->eof && !stream_pending(d) && !d->shut)
		stream_end(c, d, sink);
	return 0;
}

int stream_waiting(struct conn *c, struct dir *d, uint64_t progress, bool moving,
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

void stream_release(struct conn *c)
{
	for (struct dir *d = &c->up; d; d = d == &c->up ? &c->down : NULL) {
		if (d->pipe[0] >= 0)
			pool_pipe_put(&c->p->pool, d->pipe, d->pipe_len == 0);
		stream_buf_release(c->p, &d->out);
	}
}

const char *stream_end_reason(const struct conn *c)
{
	return c->up.reset || c->down.reset ? "reset by a peer" : "closed";
}

/* Every salt this process generates goes into the replay filter. */
void stream_remember_salt(struct conn *c)
{
	if (c->key->m->key_len && !c->key->ops->exact_salts)
		replay_check_add(&c->p->replay, c->key->ops->enc_salt(&c->enc), c->key->m->key_len);
}

/*
 * Checked once, as soon as the peer's salt is complete (had_salt: it was not
 * before the last read), whatever the chunks after it hold.
 */
bool stream_salt_replayed(struct conn *c, bool had_salt)
{
	const uint8_t *salt = c->key->ops->dec_salt(&c->dec);

	if (had_salt || !salt || !c->key->m->key_len)
		return false;
	/* SIP022: a server keeps request salts; a response names its request instead. */
	if (c->key->ops->exact_salts) {
		int r = c->in->serves ?
				salt_window_check_add(c->p->salts, salt, c->key->m->key_len) : 0;

		if (r == SS_ERR_FULL)
			log_warn("conn %llu: the SIP022 salt window is full (%u salts a minute); "
				 "refused, as a salt it cannot keep could be replayed",
				 (unsigned long long)c->id, SALT_WINDOW_SLOTS);
		return r != 0;
	}
	return replay_check_add(&c->p->replay, salt, c->key->m->key_len);
}

/*
 * A data_limit spent: neither socket is read again (stream_pump takes each
 * read as the end; the shutdown wakes both), so what was read is delivered
 * and both directions end with a FIN. The sockmap tier moves bytes without
 * reading them: both sockets are shut.
 */
void stream_spent(struct conn *c)
{
	int how = c->tier->id == TIER_SOCKMAP ? SHUT_RDWR : SHUT_RD;

	c->spent = true;
	log_info("conn %llu: the data limit of %s%s%d is spent; closing", (unsigned long long)c->id,
		 c->key->user, *c->key->user ? " on port " : "port ", c->key->port);
	shutdown(c->local.h.fd, how);
	if (c->remote.h.fd >= 0)
		shutdown(c->remote.h.fd, how);
}

void stream_count(struct conn *c, const struct dir *d, enum ctr_tier t, uint64_t n)
{
	if (t == CTR_USER && conn_on_shortcut(c))
		t = CTR_SHORTCUT;
	if (d == &c->up)
		c->p->ctr->bytes_up[t] += n;
	else
		c->p->ctr->bytes_down[t] += n;
	if (traffic_add_key(c->p->traffic, c->p->index, c->key, d == &c->up, n) && !c->spent)
		stream_spent(c);
	counters_capture_add(c->p->ctr, c->cap_row, c->cgroup, d == &c->up, n);
	if (c->upstream && c->upstream->st)
		upstream_count(c->upstream, d == &c->up ? &c->upstream->st->bytes_up :
							  &c->upstream->st->bytes_down, n);
}

int stream_send_header(struct conn *c)
{
	struct ctx *p = c->p;
	size_t got;

	if (!c->hdr_pending)
		return 0;
	if (stream_buf_reserve(p, &c->up.out) ||
	    c->key->ops->enc_feed(&c->enc, c->hs, c->hs_len, c->up.out.data + c->up.out.len, &got))
		return -ENOMEM;
	c->up.out.len += got;
	c->hdr_pending = false;
	c->hs_len = 0;
	return 0;
}

int stream_take_plain(struct conn *c, const uint8_t *data, size_t n)
{
	if (!n)
		return 0;
	if (stream_buf_reserve(c->p, &c->up.out))
		return -ENOMEM;
	memcpy(c->up.out.data, data, n);
	c->up.out.len = n;
	c->up.bytes += n;
	stream_count(c, &c->up, CTR_USER, n);
	return 0;
}
