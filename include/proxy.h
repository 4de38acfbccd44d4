/* SPDX-License-Identifier: MIT */
#ifndef SS_PROXY_H
#define SS_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "crypto.h"
#include "loop.h"
#include "policy.h"
#include "replay.h"

struct conn;
struct dns;

/* Size of one relay buffer: 64 KiB of plaintext read at once, plus framing. */
#define PROXY_BUF_CAP (64 * 1024 + 1024)
#define PROXY_POOL_MAX 256
#define PROXY_PIPE_POOL_MAX 512
#define PROXY_PIPE_IDLE 8 /* pooled pipe pairs kept when no connection takes them */
#define PROXY_PIPE_SIZE (256 * 1024)
/* sockmap: bytes allowed between the redirect and the peer's TCP stream. */
#define PROXY_SOCKMAP_LIMIT (4u << 20)

struct listener {
	struct handler h;
	struct proxy *p;
	struct listener *next;
	bool paused; /* accept failed for lack of fds; retried on the tick */
};

/* One per worker: everything its connections share. No globals. */
struct proxy {
	const struct ss_config *cfg;
	const struct ss_method *method;
	uint8_t master[SS_MAX_KEY];
	struct loop *loop;
	struct dns *dns;
	struct listener *listeners;
	struct udp_relay *udp;   /* UDP listeners with their NAT tables */
	struct udp_relay *udp_dead; /* association sockets closed in this batch */
	unsigned udp_max;        /* cap on UDP associations per listener */
	struct conn *assocs;     /* sslocal: connections in UDP_ASSOC */

	/* Live connections ordered by last activity, oldest first (idle sweep). */
	struct conn *lru_head, *lru_tail;
	/* Connections still in their handshake, oldest accept first (deadline sweep). */
	struct conn *hs_head, *hs_tail;
	struct replay replay;  /* salts seen, shared by every connection of the worker */
	struct policy policy;  /* ssserver: which targets may be reached */
	bool full;             /* accepting paused at max_connections */
	unsigned peak;         /* most connections since memory was last trimmed */
	struct conn *dead;     /* destroyed during this batch, freed at its end */
	unsigned nconns;
	uint64_t next_id;

	bool draining;
	uint64_t drain_deadline;

	uint8_t *scratch;      /* one read buffer shared by all connections */
	void *pool;            /* free relay buffers (singly linked) */
	unsigned pool_len;

	/* STREAM tiers for pass-through pairs (method none, --relay). */
	enum conn_tier pass_tier;
	struct bpf_relay *bpf;
	int (*pipes)[2];       /* free pipe pairs */
	unsigned npipes;
	unsigned pipes_low;    /* fewest pooled since the last tick: those were idle */
	struct handler poll;   /* timerfd armed while sockmap connections need polling */
	struct conn *polls;
	struct handler bpf_events; /* sockets over their flow-control limit */
	uint64_t to_sockmap, to_splice, left_sockmap; /* pairs handed to each tier */
	struct dir *cookies[4096]; /* sockmap directions by source cookie */

	int index;               /* worker number, 0 .. workers - 1 */
	struct steer *steer;     /* redir --steer: installed by worker 0 */
	struct handler steer_watch; /* this host's address changes, for steering */

	/* sslocal: the ssserver to use, and the fixed target of tunnel mode. */
	uint16_t server_port;
	struct ss_addr tunnel;
};

/* Runs the ssserver or sslocal described by argv; returns the exit status. */
int proxy_main(enum prog_kind prog, int argc, char **argv);

void *proxy_buf_get(struct proxy *p);
void proxy_buf_put(struct proxy *p, void *buf);
/* A pipe pair for the splice tier; 0 or -errno. */
int proxy_pipe_get(struct proxy *p, int fds[2]);
/* Returns an empty pipe to the pool (a non-empty one is closed). */
void proxy_pipe_put(struct proxy *p, int fds[2], bool empty);
/* IP_TRANSPARENT (and IPV6_TRANSPARENT): binds to and accepts for foreign addresses. */
int proxy_transparent(int fd);
/* Makes sure conn_poll(c) runs soon and until it returns false. */
void proxy_poll_add(struct proxy *p, struct conn *c);

#endif
