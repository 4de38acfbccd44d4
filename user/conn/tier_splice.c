// SPDX-License-Identifier: MIT
/*
 * The splice tier (pass-through pairs): a direction's bytes go from its
 * source socket into a pipe from the worker's pool and from the pipe to the
 * sink (stream_flush), never through the daemon's memory. Events, interest
 * and back-pressure are the userspace tier's: the pipe is the relay buffer.
 */
#include <errno.h>
#include <fcntl.h>

#include "pair.h"
#include "counters.h"
#include "ctx.h"

static ssize_t splice_read(struct conn *c, struct dir *d, int src, int *derr)
{
	ssize_t n = splice(src, NULL, d->pipe[1], NULL, POOL_PIPE_SIZE,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	(void)derr;
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	d->pipe_len += (size_t)n;
	d->bytes += (size_t)n;
	stream_count(c, d, CTR_SPLICE, (size_t)n);
	return n;
}

int splice_enter(struct conn *c)
{
	struct ctx *p = c->p;

	/* A pair that found no pipes before may hold one of them already. */
	if ((c->up.pipe[0] < 0 && pool_pipe_get(&p->pool, c->up.pipe)) ||
	    (c->down.pipe[0] < 0 && pool_pipe_get(&p->pool, c->down.pipe)))
		return -ENOMEM;
	c->tier = &tier_splice;
	p->ctr->to_splice++;
	return 0;
}

const struct tier_ops tier_splice = {
	.id = TIER_SPLICE, .sock_event = tier_user_sock_event, .read = splice_read,
	.interest = tier_user_interest, .poll = tier_user_poll,
	.moved = tier_none_moved, .forget = tier_none_forget,
};
