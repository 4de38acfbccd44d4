/* SPDX-License-Identifier: MIT */
#ifndef SS_POOL_H
#define SS_POOL_H

#include <stdbool.h>

/* Size of one relay buffer: 64 KiB of plaintext read at once, plus framing. */
#define POOL_BUF_CAP (64 * 1024 + 1024)
#define POOL_BUF_MAX 256   /* free buffers kept */
#define POOL_BUF_IDLE 16   /* ... and after a crowd has gone */
#define POOL_PIPE_MAX 512  /* free pipe pairs kept */
#define POOL_PIPE_IDLE 8   /* ... when no connection takes them */
#define POOL_PIPE_SIZE (256 * 1024)

/* One worker's free relay buffers and splice pipes (no locks: one per worker). */
struct pool {
	void *bufs;         /* singly linked through their first word */
	unsigned nbufs;
	int (*pipes)[2];
	unsigned npipes;
	unsigned pipes_low; /* fewest pooled since the last trim: those were idle */
};

/* A POOL_BUF_CAP buffer, or NULL. */
void *pool_buf_get(struct pool *p);
void pool_buf_put(struct pool *p, void *buf);
/* Frees pooled buffers beyond POOL_BUF_IDLE (after a crowd). */
void pool_buf_trim(struct pool *p);
/* A pipe pair for the splice tier; 0 or -errno. */
int pool_pipe_get(struct pool *p, int fds[2]);
/* Returns an empty pipe to the pool (a non-empty one is closed); fds become -1. */
void pool_pipe_put(struct pool *p, int fds[2], bool empty);
/*
 * Closes the pooled pipes that nothing took since the last call, but
 * POOL_PIPE_IDLE: called every tick, so the fds go back within a tick or two.
 */
void pool_pipe_trim(struct pool *p);
void pool_free(struct pool *p);

#endif
