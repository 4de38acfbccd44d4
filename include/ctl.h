/* SPDX-License-Identifier: MIT */
#ifndef SS_CTL_H
#define SS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct sbuf;

/*
 * The control socket that ssctl talks to: a unix stream socket, mode 0600,
 * one request line per connection ({"cmd": "conns"}, {"cmd": "stats"},
 * {"cmd": "kill", "id": N}, or the bare words) and one JSON line back:
 * {"connections": [...]}, {"stats": {...}}, {"ok": true} or {"error": "..."}.
 * A worker of a tree answers its parent the same way over a socketpair.
 */
/* {"cmd": "capture", "op": OP, "cgroup": PATH, "netns": PATH}: ssctl capture (sslocal redir). */
struct ctl_capture {
	char op[16];         /* add, del, list; between a tree and its workers: listen, unlisten */
	const char *cgroup;  /* NULL when not given */
	const char *netns;   /* NULL: the daemon's own */
	const char *upstream; /* a SIP002 URI of the cgroup's own server, or NULL */
};

struct ctl_backend {
	void (*conns)(void *arg, struct sbuf *rows); /* comma-separated row objects */
	void (*stats)(void *arg, struct sbuf *out);  /* one object */
	int (*kill)(void *arg, uint64_t id, const char *who); /* 0 or -ENOENT */
	/* ssctl capture: one object into out ({"ok": ...} or {"error": ...}); NULL: none here */
	void (*capture)(void *arg, const struct ctl_capture *q, const char *who, struct sbuf *out);
	/* ssctl url: the configuration in force, whose SIP002 URIs it lists; NULL: none */
	const struct ss_config *(*config)(void *arg);
	/* ssctl upgrade (start: begin one) and upgrade-status: one object into out; NULL: none */
	void (*upgrader)(void *arg, bool start, const char *who, struct sbuf *out);
	void *arg;
};

struct ctl;

/* $RUNTIME_DIRECTORY or /run/ssbpf, then PROG-PORT.sock. */
void ctl_default_path(char *out, size_t len, const char *prog, int port);
/*
 * Listens on path (made 0600 and given to uid/gid when they are not -1);
 * a stale socket is replaced, a live one is left alone. 0 or -errno, why set.
 */
int ctl_open(struct ctl **out, struct loop *l, const char *path, uid_t uid, gid_t gid,
	     const struct ctl_backend *b, const char **why);
/*
 * The daemon's control socket (--ctl-socket, or PROG-PORT.sock in the
 * default folder; "off": none) and its --metrics listener, in loop l,
 * answered by b and metrics_fn; a failure is one warning line and the daemon
 * goes on without them. For the parent of a tree, a lone worker, ssmanager.
 */
struct ss_config;
struct metrics;
void ctl_start(const struct ss_config *cfg, const char *prog, struct loop *l,
	       const struct ctl_backend *b, void (*metrics_fn)(void *arg, struct sbuf *out),
	       struct ctl **ctl, struct metrics **metrics);
/* Renames the socket's path (a draining process steps aside); 0 or -errno. */
int ctl_move(struct ctl *c, const char *path);
/* The socket's path, or NULL (none, or a worker's channel). */
const char *ctl_path(const struct ctl *c);
/* Closes the listener and open requests, and removes the path. */
void ctl_close(struct ctl *c);
/* Serves requests arriving on fd (a worker's end of its socketpair with the parent). */
int ctl_channel(struct ctl **out, struct loop *l, int fd, const struct ctl_backend *b);
/* Answers one request line. */
void ctl_answer(const struct ctl_backend *b, const char *line, const char *who, struct sbuf *reply);
/*
 * Parent side: sends line to a worker's channel and reads the one-line
 * reply into reply (at most 2 s); 0 or -errno.
 */
int ctl_ask(int fd, const char *line, struct sbuf *reply);

#endif
