// SPDX-License-Identifier: MIT
/*
 * The userspace tier: every pair starts here, and a pair that encrypts one
 * leg stays (the bytes differ on the two legs, so the kernel cannot move
 * them). A socket's event moves its direction along (conn_stream.c: read,
 * seal or open, write) and, when writable, the direction that writes to it.
 * Its poll visits pass on a FIN or reset once the sink took every byte.
 */
#include <sys/epoll.h>

#include "pair.h"

int tier_user_sock_event(struct conn *c, bool is_local, uint32_t events)
{
	bool readable = events & (EPOLLIN | EPOLLHUP | EPOLLERR);
	bool writable = events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
	int lfd = c->local.h.fd, rfd = c->remote.h.fd, r;

	if (is_local)
		r = stream_pump(c, &c->up, lfd, rfd, readable);
	else
		r = stream_pump(c, &c->down, rfd, lfd, readable);
	if (!r && writable) {
		if (is_local)
			r = stream_pump(c, &c->down, rfd, lfd, false);
		else
			r = stream_pump(c, &c->up, lfd, rfd, false);
	}
	return r;
}

/*
 * A direction reads while its sink has nothing pending (back-pressure) and
 * waits for writability while it has.
 */
void tier_user_interest(const struct conn *c, uint32_t *lev, uint32_t *rev)
{
	if (!c->up.eof && !stream_pending(&c->up))
		*lev |= EPOLLIN;
	if (stream_pending(&c->down))
		*lev |= EPOLLOUT;
	if (!c->down.eof && !stream_pending(&c->down))
		*rev |= EPOLLIN;
	if (stream_pending(&c->up))
		*rev |= EPOLLOUT;
}

/* A reset that waits for its sink's peer to acknowledge all. */
int tier_user_poll(struct conn *c, const char **why)
{
	bool again = false;

	(void)why;
	for (struct dir *d = &c->up; d; d = d == &c->up ? &c->down : NULL)
		if (d->eof && !d->shut && !stream_pending(d))
			again |= stream_end(c, d, d == &c->up ? c->remote.h.fd : c->local.h.fd) > 0;
	return again;
}

/* The daemon moves every byte of these tiers itself: its reads are the activity. */
bool tier_none_moved(struct conn *c)
{
	(void)c;
	return false;
}

void tier_none_forget(struct conn *c)
{
	(void)c;
}

const struct tier_ops tier_user = {
	.id = TIER_USER, .sock_event = tier_user_sock_event, .read = stream_read,
	.interest = tier_user_interest, .poll = tier_user_poll,
	.moved = tier_none_moved, .forget = tier_none_forget,
};
