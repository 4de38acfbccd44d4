// SPDX-License-Identifier: MIT
/* Free relay buffers and splice pipe pairs of one worker. */
#include <fcntl.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"

void *pool_buf_get(struct pool *p)
{
	void **b = p->bufs;

	if (b) {
		p->bufs = *b;
		p->nbufs--;
		return b;
	}
	return malloc(POOL_BUF_CAP);
}

void pool_buf_put(struct pool *p, void *buf)
{
	if (p->nbufs >= POOL_BUF_MAX) {
		free(buf);
		return;
	}
	*(void **)buf = p->bufs;
	p->bufs = buf;
	p->nbufs++;
}

void pool_buf_trim(struct pool *p)
{
	while (p->nbufs > POOL_BUF_IDLE)
		free(pool_buf_get(p));
}

int pool_pipe_get(struct pool *p, int fds[2])
{
	if (p->npipes) {
		p->npipes--;
		if (p->npipes < p->pipes_low)
			p->pipes_low = p->npipes;
		fds[0] = p->pipes[p->npipes][0];
		fds[1] = p->pipes[p->npipes][1];
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	/* A larger pipe moves more per splice call; the default 64 KiB is kept if refused. */
	fcntl(fds[1], F_SETPIPE_SZ, POOL_PIPE_SIZE);
	return 0;
}

void pool_pipe_put(struct pool *p, int fds[2], bool empty)
{
	if (!p->pipes)
		p->pipes = calloc(POOL_PIPE_MAX, sizeof(*p->pipes));
	if (empty && p->pipes && p->npipes < POOL_PIPE_MAX) {
		p->pipes[p->npipes][0] = fds[0];
		p->pipes[p->npipes][1] = fds[1];
		p->npipes++;
	} else {
		close(fds[0]);
		close(fds[1]);
	}
	fds[0] = fds[1] = -1;
}

static void pipe_close_last(struct pool *p)
{
	p->npipes--;
	close(p->pipes[p->npipes][0]);
	close(p->pipes[p->npipes][1]);
}

void pool_pipe_trim(struct pool *p)
{
	unsigned idle = p->pipes_low > POOL_PIPE_IDLE ? p->pipes_low - POOL_PIPE_IDLE : 0;

	while (idle-- && p->npipes)
		pipe_close_last(p);
	p->pipes_low = p->npipes;
}

void pool_free(struct pool *p)
{
	while (p->bufs)
		free(pool_buf_get(p));
	while (p->npipes)
		pipe_close_last(p);
	free(p->pipes);
	p->pipes = NULL;
}
