// SPDX-License-Identifier: MIT
/* The listening sockets held for a hand-over: inherited (LISTEN_FDS), bound by workers, passed on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
	struct rlimit rl;

	/* Descriptors are numbered from the lowest free one: fd tells how many are open. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)fd + SOCKPOOL_SPARE >= rl.rlim_cur)
		return -EMFILE;
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
		if (pool.chan >= 0) {
			/* A tree's worker: its parent keeps the copy; this one is the listener's. */
			int fd = h->fd;

			h->fd = -1;
			return fd;
		}
		return fcntl(h->fd, F_DUPFD_CLOEXEC, LISTEN_FDS_START);
	}
	return -1;
}

bool sockpool_covers(int type, const struct sockaddr_storage *sa)
{
	for (int i = 0; i < pool.n; i++)
		if (pool.v[i].type == type && ss_sa_port(sa) && ss_sa_equal(&pool.v[i].sa, sa))
			return true;
	return false;
}

/* One line for the first socket the pool cannot hold (each one after would repeat it). */
static void cannot_hold(int err)
{
	static bool said;

	if (said)
		return;
	said = true;
	log_warn("upgrade: %d listening sockets held, and no more (%s): those after are not handed "
		 "to a successor, which binds them anew (raise the open file limit, -n, or serve the "
		 "ports through BPF)", pool.n, strerror(-err));
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
		cannot_hold(copy < 0 ? -errno : r);
		if (copy >= 0)
			close(copy);
		return;
	}
	pool.v[pool.n - 1].taken = true;
}

void sockpool_channel(int fd, int worker)
{
	pool.chan = fd;
	/*
	 * The copies of other workers' sockets go at once (a pool as large as the
	 * open file limit allows leaves no room for a second set); their entries
	 * stay, so that sockpool_covers still knows those addresses are served.
	 */
	for (int i = 0; i < pool.n; i++) {
		struct held *h = &pool.v[i];

		if (h->fd >= 0 && h->owner != SOCKPOOL_METRICS && !fits(h, worker)) {
			close(h->fd);
			h->fd = -1;
		}
	}
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
	if (got < 0 || n != sizeof(rep)) {
		/* No descriptor: this process has as many open as it may (MSG_CTRUNC). */
		if (got < 0 && (m.msg_flags & MSG_CTRUNC))
			cannot_hold(-EMFILE);
		return got < 0 ? -EBADMSG : (close(got), -EBADMSG);
	}
	if ((r = hold(got, rep.owner, rep.any_port))) {
		cannot_hold(r);
		close(got);
	}
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

/* The name a held socket is passed under: its owner ("w3", "s3", "metrics", "shared"). */
static int name_of(const struct held *h, char *out, bool first)
{
	const char *sep = first ? "" : ":";

	if (h->owner == SOCKPOOL_METRICS)
		return sprintf(out, "%smetrics", sep);
	if (h->owner == SOCKPOOL_SHARED)
		return sprintf(out, "%sshared", sep);
	return sprintf(out, "%s%c%d", sep, h->any_port ? 's' : 'w', h->owner);
}

/*
 * Held socket i to descriptor t (3 + i), in place: a held socket in the way
 * moves to any free descriptor first (at[fd]: index + 1 of the held socket
 * there), anything else there is closed. No copy of the whole set is made,
 * so a pool as large as the open file limit allows still fits.
 */
static int place(int i, int t, int *at)
{
	struct held *h = &pool.v[i];
	int j = at[t] - 1;

	if (h->fd == t)
		return fcntl(t, F_SETFD, 0) ? -errno : 0; /* kept across exec */
	if (j >= 0) {
		int moved = fcntl(t, F_DUPFD_CLOEXEC, LISTEN_FDS_START);

		if (moved < 0)
			return -errno;
		pool.v[j].fd = moved;
		at[moved] = j + 1;
	}
	if (dup2(h->fd, t) < 0)
		return -errno;
	close(h->fd);
	at[h->fd] = 0;
	h->fd = t;
	at[t] = i + 1;
	return 0;
}

int sockpool_pass(void)
{
	char num[16], *names = calloc((size_t)pool.n + 1, 16);
	struct rlimit rl;
	size_t at_n, len = 0;
	int *at, r = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1 << 20;
	at_n = (size_t)rl.rlim_cur;
	if (!names || !(at = calloc(at_n, sizeof(*at)))) {
		free(names);
		return -ENOMEM;
	}
	for (int i = 0; i < pool.n; i++)
		at[pool.v[i].fd] = i + 1;
	for (int i = 0; i < pool.n && !r; i++)
		if (!(r = place(i, LISTEN_FDS_START + i, at)))
			len += (size_t)name_of(&pool.v[i], names + len, !i);
	free(at);
	if (r) {
		free(names);
		return r;
	}
	snprintf(num, sizeof(num), "%d", pool.n);
	setenv("LISTEN_FDS", num, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	free(names);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	return 0;
}
