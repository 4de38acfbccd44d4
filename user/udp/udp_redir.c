// SPDX-License-Identifier: MIT
/*
 * redir UDP: replies must leave from the address the client sent to, so
 * they go out through transparent sockets bound to each target's address,
 * kept while used and at most REPLY_MAX.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "counters.h"
#include "ctx.h"
#include "listener.h"
#include "log.h"
#include "udp_relay.h"

static void reply_unlink(struct udp_relay *r, struct reply_sock *rs)
{
	struct reply_sock **pp = &r->rbuckets[ss_sa_hash(&rs->addr) % REPLY_BUCKETS];

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
void reply_expire(struct udp_relay *r, uint64_t before)
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
	unsigned b = ss_sa_hash(addr) % REPLY_BUCKETS;
	struct reply_sock *rs;
	int fd, e;

	for (rs = r->rbuckets[b]; rs; rs = rs->hnext)
		if (ss_sa_equal(&rs->addr, addr))
			return rs;
	fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* Bound only to send; a small receive buffer in case anything arrives. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 0 }, sizeof(int));
	if (listener_transparent(fd) ||
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
void redir_reply(struct nat *n, const struct ss_addr *from, const uint8_t *data, size_t len)
{
	struct udp_relay *r = n->r;
	struct sockaddr_storage src, dst;
	socklen_t sl = (socklen_t)addr_to_sockaddr(from, &src), dl;
	struct reply_sock *rs = NULL;

	/* The client's address family decides: an IPv4 client behind a dual-stack socket. */
	ss_sa_from_v6(&n->client, &dst);
	dl = ss_sa_len(&dst);
	if (src.ss_family != dst.ss_family || !(rs = reply_sock(r, &src, sl)) ||
	    sendto(rs->fd, data, len, 0, (struct sockaddr *)&dst, dl) < 0) {
		char fs[64];

		r->p->ctr->udp.send_failed++;
		log_debug("udp: redir reply from %s: %s", ss_sa_str(&src, fs, sizeof(fs)),
			  src.ss_family != dst.ss_family ? "address family differs from the client's" :
			  strerror(errno));
	} else {
		r->p->ctr->udp.out++;
		nat_touch(n);
	}
	if (rs)
		rs->last_used = loop_now(r->p->loop);
}

/* redir: the destination the client sent to, from IP(V6)_ORIGDSTADDR. */
bool orig_dst(struct msghdr *mh, struct sockaddr_storage *out)
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

int capture_target(struct udp_relay *r, const struct sockaddr_storage *orig,
		   struct capture_orig *o)
{
	int c = r->p->cap ? capture_lookup(r->p->cap, orig, o) : 0;

	if (c)
		return c > 0 ? 1 : -1;
	/* A listener in a captured namespace takes captured datagrams only. */
	return !r->p->cap || capture_netns_cookie(r->h.fd) == capture_own_netns() ? 0 : -1;
}

void capture_reply(struct nat *n, const struct ss_addr *from, const uint8_t *data, size_t len)
{
	struct udp_relay *r = n->r;
	struct sockaddr_in slot;
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { .msg_name = &n->client, .msg_namelen = n->client_len, .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	struct in_pktinfo pi = { 0 };

	if (capture_slot_of(r->p->cap, from, n->cap_cgroup, &slot)) {
		r->p->ctr->udp.send_failed++;
		log_debug("udp: a captured reply's slot is gone");
		return;
	}
	pi.ipi_spec_dst = slot.sin_addr;
	cm->cmsg_level = SOL_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	if (sendmsg(r->h.fd, &mh, 0) < 0) {
		r->p->ctr->udp.send_failed++;
		log_debug("udp: captured reply: %s", strerror(errno));
		return;
	}
	r->p->ctr->udp.out++;
	counters_capture_add(r->p->ctr, n->cap_row, n->cap_cgroup, 0, len);
	nat_touch(n);
}
