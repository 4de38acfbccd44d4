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

#include "config.h"
#include "ctl.h"
#include "metrics.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "sbuf.h"

#define CTL_LINE 4096
#define CTL_TIMEOUT_MS 2000

struct ctl_client {
	struct handler h;
	struct ctl *ctl;
	struct ctl_client *next;
	char buf[CTL_LINE];
	size_t len;
	char who[64];
};

struct ctl {
	struct handler h;       /* the listener, or the channel */
	struct loop *loop;
	struct ctl_backend b;
	struct ctl_client *clients;
	bool channel;           /* a worker's socketpair: many requests, never closed here */
	char path[108];
	char buf[CTL_LINE];
	size_t len;
};

void ctl_default_path(char *out, size_t len, const char *prog, int port)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");

	/* systemd may list several folders; the first is ours. */
	snprintf(out, len, "%.*s/%s-%d.sock", dir ? (int)strcspn(dir, ":") : 10,
		 dir ? dir : "/run/ssbpf", prog, port);
}

void ctl_answer(const struct ctl_backend *b, const char *line, const char *who, struct sbuf *r)
{
	char err[160], cmd[16] = "";
	unsigned long long id = 0;
	struct json *j = NULL;

	if (line[0] == '{') {
		if (!(j = json_parse(line, strlen(line), err, sizeof(err)))) {
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
		}
		json_free(j);
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
	} else {
		sbuf_printf(r, "{\"error\":\"unknown request; try conns, stats or kill ID\"}");
	}
}

/* Writes all of buf, waiting at most CTL_TIMEOUT_MS in all. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (poll(&pfd, 1, CTL_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

static void reply(const struct ctl_backend *b, int fd, const char *line, const char *who)
{
	struct sbuf r = { 0 };

	ctl_answer(b, line, who, &r);
	sbuf_printf(&r, "\n");
	if (!r.failed && write_all(fd, r.p, r.len))
		log_debug("control socket: reply not taken");
	sbuf_free(&r);
}

static void client_close(struct ctl_client *cl)
{
	struct ctl_client **at = &cl->ctl->clients;

	while (*at != cl)
		at = &(*at)->next;
	*at = cl->next;
	loop_forget(cl->ctl->loop, &cl->h);
	close(cl->h.fd);
	free(cl);
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

static void on_client(struct handler *h, uint32_t events)
{
	struct ctl_client *cl = (struct ctl_client *)h;
	ssize_t r = read_line(h->fd, cl->buf, &cl->len, sizeof(cl->buf));

	(void)events;
	if (r > 0)
		reply(&cl->ctl->b, h->fd, cl->buf, cl->who);
	if (r != 0)
		client_close(cl);
}

static void on_listener(struct handler *h, uint32_t events)
{
	struct ctl *c = (struct ctl *)h;
	struct ctl_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)events;
	if (fd < 0)
		return;
	if (!(cl = calloc(1, sizeof(*cl)))) {
		close(fd);
		return;
	}
	cl->h.fd = fd;
	cl->h.on_event = on_client;
	cl->ctl = c;
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		snprintf(cl->who, sizeof(cl->who), "uid %u pid %d", (unsigned)cred.uid, (int)cred.pid);
	cl->next = c->clients;
	c->clients = cl;
	loop_watch(c->loop, &cl->h, EPOLLIN);
}

/* The parent's requests on a worker's channel: many lines, answered in turn. */
static void on_channel(struct handler *h, uint32_t events)
{
	struct ctl *c = (struct ctl *)h;
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
	c->h.fd = fd;
	c->h.on_event = on_listener;
	c->loop = l;
	c->b = *b;
	snprintf(c->path, sizeof(c->path), "%s", path);
	*out = c;
	return loop_watch(l, &c->h, EPOLLIN);
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	while (c->clients)
		client_close(c->clients);
	loop_forget(c->loop, &c->h);
	if (!c->channel) {
		close(c->h.fd);
		unlink(c->path);
	}
	free(c);
}

int ctl_ask(int fd, const char *line, struct sbuf *reply)
{
	char buf[65536];
	int r;

	if ((r = write_all(fd, line, strlen(line))) || (r = write_all(fd, "\n", 1)))
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
}
