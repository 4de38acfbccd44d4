// SPDX-License-Identifier: MIT
/* The control socket: requests from ssctl, answered from a backend. */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "metrics.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "reqserver.h"
#include "sbuf.h"
#include "sockpool.h"
#include "sip002.h"

#define CTL_LINE 4096
#define CTL_TIMEOUT_MS 2000

struct ctl {
	struct rq_server rq;    /* the listener and its clients */
	struct handler h;       /* or the channel: a worker's socketpair, many requests */
	struct loop *loop;
	struct ctl_backend b;
	bool channel;
	char path[108];
	char buf[CTL_LINE];     /* the channel's */
	size_t len;
};

void ctl_default_path(char *out, size_t len, const char *prog, int port)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");

	/* systemd may list several folders; the first is ours. */
	snprintf(out, len, "%.*s/%s-%d.sock", dir ? (int)strcspn(dir, ":") : 10,
		 dir ? dir : "/run/ssbpf", prog, port);
}

struct uri_list {
	struct sbuf *out;
	bool first;
};

static void add_uri(void *arg, const char *uri)
{
	struct uri_list *l = arg;

	sbuf_printf(l->out, "%s", l->first ? "" : ",");
	sbuf_json_str(l->out, uri);
	l->first = false;
}

/* {"urls": [...]}: what a client needs, from the configuration in force. */
static void urls(const struct ctl_backend *b, struct sbuf *r)
{
	struct uri_list l = { r, true };

	sbuf_printf(r, "{\"urls\":[");
	sip002_uris(b->config(b->arg), add_uri, &l);
	sbuf_printf(r, "]}");
}

void ctl_answer(const struct ctl_backend *b, const char *line, const char *who, struct sbuf *r)
{
	const char *err = "";
	char cmd[16] = "";
	unsigned long long id = 0;
	struct json *j = NULL;
	struct ctl_capture q = { .op = "" };

	if (line[0] == '{') {
		if (!(j = json_parse(line, strlen(line), &err))) {
			sbuf_printf(r, "{\"error\":");
			sbuf_json_str(r, err);
			sbuf_printf(r, "}");
			return;
		}
		for (const struct json *f = j->type == JSON_OBJECT ? j->child : NULL; f; f = f->next) {
			if (!strcmp(f->key, "cmd") && f->type == JSON_STRING)
				snprintf(cmd, sizeof(cmd), "%s", f->string);
			else if (!strcmp(f->key, "id") && f->type == JSON_NUMBER && f->number >= 0)
				id = (unsigned long long)f->number;
			else if (!strcmp(f->key, "op") && f->type == JSON_STRING)
				snprintf(q.op, sizeof(q.op), "%s", f->string);
			else if (!strcmp(f->key, "cgroup") && f->type == JSON_STRING)
				q.cgroup = f->string;
			else if (!strcmp(f->key, "netns") && f->type == JSON_STRING)
				q.netns = f->string;
			else if (!strcmp(f->key, "upstream") && f->type == JSON_STRING)
				q.upstream = f->string;
		}
	} else if (sscanf(line, "%15s %llu", cmd, &id) < 1) {
		cmd[0] = 0;
	}
	if (!strcmp(cmd, "conns")) {
		sbuf_printf(r, "{\"connections\":[");
		b->conns(b->arg, r);
		sbuf_printf(r, "]}");
	} else if (!strcmp(cmd, "stats")) {
		sbuf_printf(r, "{\"stats\":");
		b->stats(b->arg, r);
		sbuf_printf(r, "}");
	} else if (!strcmp(cmd, "kill") && id) {
		if (b->kill(b->arg, id, who))
			sbuf_printf(r, "{\"error\":\"no connection %llu\"}", id);
		else
			sbuf_printf(r, "{\"ok\":true}");
	} else if (!strcmp(cmd, "url") && b->config) {
		urls(b, r);
	} else if (!strcmp(cmd, "capture") && b->capture) {
		b->capture(b->arg, &q, who, r);
	} else if ((!strcmp(cmd, "upgrade") || !strcmp(cmd, "upgrade-status")) && b->upgrader) {
		sbuf_printf(r, "{\"upgrade\":");
		b->upgrader(b->arg, !strcmp(cmd, "upgrade"), who, r);
		sbuf_printf(r, "}");
	} else if (!strcmp(cmd, "upgrade") || !strcmp(cmd, "upgrade-status")) {
		sbuf_printf(r, "{\"error\":\"this process is not upgraded this way (a worker, or "
			    "ssmanager: upgrade each server)\"}");
	} else if (!strcmp(cmd, "capture")) {
		sbuf_printf(r, "{\"error\":\"this daemon captures nothing: capture is sslocal "
			    "redir's (--capture)\"}");
	} else {
		sbuf_printf(r, "{\"error\":\"unknown request; try conns, stats, kill ID, url, "
			    "capture or upgrade\"}");
	}
	json_free(j);
}

/* Writes all of buf, waiting at most CTL_TIMEOUT_MS in all. */
static void reply(const struct ctl_backend *b, int fd, const char *line, const char *who)
{
	struct sbuf r = { 0 };

	ctl_answer(b, line, who, &r);
	sbuf_printf(&r, "\n");
	if (!r.failed && rq_send_all(fd, r.p, r.len, CTL_TIMEOUT_MS))
		log_debug("control socket: reply not taken");
	sbuf_free(&r);
}

/* Reads into buf; the first complete line (at most buf_cap - 1) is a request. */
static ssize_t read_line(int fd, char *buf, size_t *len, size_t cap)
{
	ssize_t n = recv(fd, buf + *len, cap - 1 - *len, MSG_DONTWAIT);
	char *nl;

	if (n <= 0)
		return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
	*len += (size_t)n;
	buf[*len] = 0;
	if ((nl = memchr(buf, '\n', *len))) {
		*nl = 0;
		return nl - buf + 1;
	}
	return *len == cap - 1 ? -1 : 0;
}

/* A request on the socket: its first line (a longer one is closed unanswered). */
static size_t line_whole(char *buf, size_t len)
{
	char *nl = memchr(buf, '\n', len);

	if (!nl)
		return 0;
	*nl = 0;
	return (size_t)(nl - buf) + 1;
}

static void line_answer(void *arg, char *req, bool full, const char *who, struct sbuf *out)
{
	if (full)
		return;
	ctl_answer(arg, req, who, out);
	sbuf_printf(out, "\n");
}

static const struct rq_ops ctl_rq = {
	.cap = CTL_LINE, .send_ms = CTL_TIMEOUT_MS, .whole = line_whole, .answer = line_answer,
};

/* The parent's requests on a worker's channel: many lines, answered in turn. */
static void on_channel(struct handler *h, uint32_t events)
{
	struct ctl *c = container_of(h, struct ctl, h);
	ssize_t r;

	(void)events;
	while ((r = read_line(h->fd, c->buf, &c->len, sizeof(c->buf))) > 0) {
		reply(&c->b, h->fd, c->buf, "the parent");
		memmove(c->buf, c->buf + r, c->len - (size_t)r);
		c->len -= (size_t)r;
	}
	if (r < 0)
		loop_forget(c->loop, h);
}

int ctl_channel(struct ctl **out, struct loop *l, int fd, const struct ctl_backend *b)
{
	struct ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->h.fd = fd;
	c->h.on_event = on_channel;
	c->loop = l;
	c->b = *b;
	c->channel = true;
	*out = c;
	return loop_watch(l, &c->h, EPOLLIN);
}

/* Does a live daemon answer on path? */
static bool live_socket(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live = fd >= 0 && !connect(fd, (const struct sockaddr *)sa, sizeof(*sa));

	if (fd >= 0)
		close(fd);
	return live;
}

int ctl_open(struct ctl **out, struct loop *l, const char *path, uid_t uid, gid_t gid,
	     const struct ctl_backend *b, const char **why)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl *c;
	char dir[sizeof(sa.sun_path)];
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*why = "path too long";
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path));
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/') && strrchr(dir, '/') != dir) {
		*strrchr(dir, '/') = 0;
		mkdir(dir, 0755);
	}
	if (live_socket(&sa)) {
		*why = "another daemon answers there";
		return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* 0600 from the start: no moment where others may connect. */
	mode_t old = umask(0177);
	int r = fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16) ? -errno : 0;

	umask(old);
	if (!r && uid != (uid_t)-1 && chown(path, uid, gid))
		r = -errno;
	if (r || !(c = calloc(1, sizeof(*c)))) {
		*why = r ? strerror(-r) : "out of memory";
		if (fd >= 0)
			close(fd);
		return r ? r : -ENOMEM;
	}
	c->loop = l;
	c->b = *b;
	snprintf(c->path, sizeof(c->path), "%s", path);
	*out = c;
	return rq_serve(&c->rq, l, fd, &ctl_rq, &c->b);
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	if (c->channel) {
		loop_forget(c->loop, &c->h);
	} else {
		rq_stop(&c->rq);
		unlink(c->path);
	}
	free(c);
}

int ctl_move(struct ctl *c, const char *path)
{
	if (!c || c->channel || strlen(path) >= sizeof(c->path))
		return -EINVAL;
	if (rename(c->path, path))
		return -errno;
	snprintf(c->path, sizeof(c->path), "%s", path);
	return 0;
}

const char *ctl_path(const struct ctl *c)
{
	return c && !c->channel ? c->path : NULL;
}

int ctl_ask(int fd, const char *line, struct sbuf *reply)
{
	char buf[65536];
	int r;

	if ((r = rq_send_all(fd, line, strlen(line), CTL_TIMEOUT_MS)) ||
	    (r = rq_send_all(fd, "\n", 1, CTL_TIMEOUT_MS)))
		return r;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, CTL_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		if ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			return -EPIPE;
		}
		sbuf_printf(reply, "%.*s", (int)n, buf);
		if (memchr(buf, '\n', (size_t)n))
			return reply->failed ? -ENOMEM : 0;
	}
}

/* The port a daemon is known by: ssserver's first port, sslocal's local port, the manager's. */
static int daemon_port(const struct ss_config *cfg)
{
	char host[300];
	int port = 0;

	if (cfg->prog == PROG_MANAGER)
		config_split_hostport(cfg->manager_address, host, sizeof(host), &port);
	return cfg->prog == PROG_SERVER ? cfg->server_port : cfg->prog == PROG_LOCAL ?
									    cfg->local_port : port;
}

void ctl_start(const struct ss_config *cfg, const char *prog, struct loop *l,
	       const struct ctl_backend *b, void (*metrics_fn)(void *arg, struct sbuf *out),
	       struct ctl **ctl, struct metrics **metrics)
{
	struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;
	char path[108];
	const char *why = "";

	*ctl = NULL;
	*metrics = NULL;
	if (!cfg->ctl_socket || strcmp(cfg->ctl_socket, "off")) {
		if (cfg->ctl_socket)
			snprintf(path, sizeof(path), "%s", cfg->ctl_socket);
		else
			ctl_default_path(path, sizeof(path), prog, daemon_port(cfg));
		if (ctl_open(ctl, l, path, pw ? pw->pw_uid : (uid_t)-1, pw ? pw->pw_gid : (gid_t)-1, b,
			     &why))
			log_warn("control socket %s: %s; ssctl cannot reach this daemon", path, why);
		else
			log_info("control socket %s", path);
	}
	if (cfg->metrics && metrics_open(metrics, l, cfg->metrics, metrics_fn, b->arg, &why))
		log_warn("metrics %s: %s; no /metrics", cfg->metrics, why);
	sockpool_drop_unused(SOCKPOOL_METRICS);
}
