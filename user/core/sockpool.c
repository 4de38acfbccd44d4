// SPDX-License-Identifier: MIT
/* The listening sockets held for a hand-over: inherited (LISTEN_FDS), bound by workers, passed on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "common.h"
#include "log.h"
#include "sockpool.h"

#define LISTEN_FDS_START 3

struct held {
	int fd;
	int owner; /* a worker index, SOCKPOOL_SHARED or SOCKPOOL_METRICS */
	int type;  /* SOCK_STREAM or SOCK_DGRAM */
	bool any_port; /* ssserver --bpf: bound to port 0, the sk_lookup program's */
	bool taken; /* this process's copy went to one of its listeners */
	struct sockaddr_storage sa;
};

/* What a worker tells its parent with the descriptor (SCM_RIGHTS). */
struct report {
	int owner;
	bool any_port;
};

static struct {
	struct held *v;
	int n, cap;
	int chan; /* a tree's worker: where reports go; else -1 */
} pool = { .chan = -1 };

static int hold(int fd, int owner, bool any_port)
{
	struct held h = { .fd = fd, .owner = owner, .any_port = any_port };
	socklen_t len = sizeof(h.sa), tl = sizeof(h.type);

	if (getsockname(fd, (struct sockaddr *)&h.sa, &len) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &h.type, &tl))
		return -errno;
	if (pool.n == pool.cap) {
		int cap = pool.cap ? 2 * pool.cap : 16;
		struct held *v = cap > SOCKPOOL_MAX ? NULL : realloc(pool.v, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pool.v = v;
		pool.cap = cap;
	}
	pool.v[pool.n++] = h;
	return 0;
}

/*
 * "w3": worker 3 ("s3": its sk_lookup socket, bound to port 0); "metrics";
 * anything else (a systemd socket unit's name): shared.
 */
static int owner_of(const char *name, int nworkers, bool *any_port)
{
	char *end;
	long k;

	*any_port = false;
	if (!strcmp(name, "metrics"))
		return SOCKPOOL_METRICS;
	if ((name[0] != 'w' && name[0] != 's') || !name[1])
		return SOCKPOOL_SHARED;
	k = strtol(name + 1, &end, 10);
	if (*end || k < 0)
		return SOCKPOOL_SHARED;
	*any_port = name[0] == 's';
	return (int)(k % (nworkers > 0 ? nworkers : 1));
}

int sockpool_inherit(int nworkers, const char **why)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	char *names = getenv("LISTEN_FDNAMES") ? strdup(getenv("LISTEN_FDNAMES")) : NULL;
	char *save = NULL, *name = names ? strtok_r(names, ":", &save) : NULL;
	int n, r = 0;

	/* sd_listen_fds(3): only for this process, and never for its children. */
	if (!pid || !nfds || atoi(pid) != (int)getpid() || (n = atoi(nfds)) <= 0) {
		free(names);
		return 0;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int i = 0; i < n && !r; i++, name = name ? strtok_r(NULL, ":", &save) : NULL) {
		int fd = LISTEN_FDS_START + i, owner;
		bool any_port;

		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		owner = owner_of(name ? name : "", nworkers, &any_port);
		if ((r = hold(fd, owner, any_port)))
			why_fmt(why, "inherited descriptor %d: %s", fd, strerror(-r));
	}
	free(names);
	return r ? r : n;
}

int sockpool_count(void)
{
	return pool.n;
}

static bool fits(const struct held *h, int worker)
{
	if (h->owner == SOCKPOOL_SHARED)
		return worker >= 0 && (h->type == SOCK_STREAM || worker == 0);
	return h->owner == worker;
}

int sockpool_take(int worker, int type, const struct sockaddr_storage *sa)
{
	for (int i = 0; i < pool.n; i++) {
		struct held *h = &pool.v[i];

		/* Port 0 asks for an sk_lookup socket of that address, whatever port it got. */
		if (h->taken || h->fd < 0 || h->type != type || !fits(h, worker) ||
		    (ss_sa_port(sa) ? !ss_sa_equal(&h->sa, sa) :
				      !h->any_port || !ss_sa_same_ip(&h->sa, sa)))
			continue;
		h->taken = true;
		return fcntl(h->fd, F_DUPFD_CLOEXEC, LISTEN_FDS_START);
	}
	return -1;
}

bool sockpool_covers(int type, const struct sockaddr_storage *sa)
{
	for (int i = 0; i < pool.n; i++)
		if (pool.v[i].fd >= 0 && pool.v[i].type == type && ss_sa_port(sa) &&
		    ss_sa_equal(&pool.v[i].sa, sa))
			return true;
	return false;
}

void sockpool_report(int worker, int fd, bool any_port)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct report rep = { .owner = worker, .any_port = any_port };
	struct iovec iov = { &rep, sizeof(rep) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int copy, r;

	if (pool.chan >= 0) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(pool.chan, &m, MSG_NOSIGNAL) < 0)
			log_warn("upgrade: cannot hand a listener to the parent: %s", strerror(errno));
		return;
	}
	copy = fcntl(fd, F_DUPFD_CLOEXEC, LISTEN_FDS_START);
	if (copy < 0 || (r = hold(copy, worker, any_port))) {
		log_warn("upgrade: cannot keep a listener for a successor: %s", strerror(errno));
		if (copy >= 0)
			close(copy);
		return;
	}
	pool.v[pool.n - 1].taken = true;
}

void sockpool_channel(int fd)
{
	pool.chan = fd;
}

void sockpool_drop_copies(void)
{
	for (int i = 0; i < pool.n; i++)
		if (pool.v[i].fd >= 0)
			close(pool.v[i].fd);
	free(pool.v);
	pool.v = NULL;
	pool.n = pool.cap = 0;
}

int sockpool_receive(int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct report rep;
	struct iovec iov = { &rep, sizeof(rep) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int got = -1, r;
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n <= 0)
		return n ? -errno : -EAGAIN;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&got, CMSG_DATA(c), sizeof(int));
	if (got < 0 || n != sizeof(rep))
		return got < 0 ? -EBADMSG : (close(got), -EBADMSG);
	if ((r = hold(got, rep.owner, rep.any_port)))
		close(got);
	return r;
}

/* Closes the held sockets that drop(h, arg) picks. */
static void drop_if(bool (*drop)(const struct held *h, const void *arg), const void *arg)
{
	int k = 0;

	for (int i = 0; i < pool.n; i++) {
		struct held *h = &pool.v[i];

		if (drop(h, arg)) {
			close(h->fd);
			continue;
		}
		pool.v[k++] = *h;
	}
	pool.n = k;
}

struct prune {
	bool (*keep)(int port, void *arg);
	void *arg;
};

static bool port_gone(const struct held *h, const void *arg)
{
	const struct prune *p = arg;
	char where[64];

	if (h->owner == SOCKPOOL_METRICS || h->any_port || p->keep(ss_sa_port(&h->sa), p->arg))
		return false;
	log_info("listening socket %s closed: its port is no longer served",
		 ss_sa_str(&h->sa, where, sizeof(where)));
	return true;
}

void sockpool_prune(bool (*keep)(int port, void *arg), void *arg)
{
	drop_if(port_gone, &(struct prune){ keep, arg });
}

static bool owned_by(const struct held *h, const void *arg)
{
	return h->owner == *(const int *)arg;
}

void sockpool_drop_owner(int worker)
{
	drop_if(owned_by, &worker);
}

static bool unused(const struct held *h, const void *arg)
{
	return h->owner == *(const int *)arg && !h->taken;
}

void sockpool_drop_unused(int owner)
{
	drop_if(unused, &owner);
}

int sockpool_pass(void)
{
	char num[16], *names = calloc((size_t)pool.n + 1, 16);
	size_t at = 0;

	if (!names)
		return -ENOMEM;
	/* Out of the way first, so that no dup2 below overwrites one not yet moved. */
	for (int i = 0; i < pool.n; i++)
		if ((pool.v[i].fd = fcntl(pool.v[i].fd, F_DUPFD_CLOEXEC,
					  LISTEN_FDS_START + pool.n)) < 0)
			return -errno;
	for (int i = 0; i < pool.n; i++) {
		const struct held *h = &pool.v[i];

		if (dup2(h->fd, LISTEN_FDS_START + i) < 0)
			return -errno;
		if (h->owner == SOCKPOOL_METRICS)
			at += (size_t)sprintf(names + at, "%smetrics", i ? ":" : "");
		else if (h->owner == SOCKPOOL_SHARED)
			at += (size_t)sprintf(names + at, "%sshared", i ? ":" : "");
		else
			at += (size_t)sprintf(names + at, "%s%c%d", i ? ":" : "", h->any_port ? 's' : 'w',
					      h->owner);
	}
	snprintf(num, sizeof(num), "%d", pool.n);
	setenv("LISTEN_FDS", num, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	return 0;
}
