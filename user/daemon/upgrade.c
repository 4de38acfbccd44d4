// SPDX-License-Identifier: MIT
/* ssctl upgrade and SIGUSR2: the installed binary started on the held sockets, ready or not. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "proc.h"
#include "replay_file.h"
#include "sbuf.h"
#include "sockpool.h"
#include "traffic.h"
#include "upgrade.h"

static char exe[PATH_MAX];
static char **args;

void upgrade_remember(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *gone = " (deleted)";

	exe[n > 0 ? n : 0] = 0;
	/* A package upgrade replaced the file: the installed one is at the same path. */
	if (n > (ssize_t)strlen(gone) && !strcmp(exe + n - strlen(gone), gone))
		exe[n - (ssize_t)strlen(gone)] = 0;
	if (!(args = calloc((size_t)argc + 1, sizeof(*args))))
		return;
	for (int i = 0; i < argc; i++)
		args[i] = argv[i];
}

/* Gone, or a zombie its parent has yet to reap? */
static bool gone(pid_t pid)
{
	char st;

	return proc_stat_of(pid, &st, NULL) || st == 'Z';
}

void upgrade_plugin_take(struct plugin *pl)
{
	const char *pid = getenv("SSBPF_PLUGIN_PID"), *port = getenv("SSBPF_PLUGIN_PORT");
	pid_t p = pid ? (pid_t)atoi(pid) : 0;

	if (p > 0 && port) {
		/* Its ports are the ones this plugin needs: it stops first (its connections with it). */
		log_info("plugin: stopping the predecessor's (pid %d) to start this one's on its ports",
			 (int)p);
		pl->port = atoi(port);
		kill(p, SIGTERM);
		for (int waited = 0; waited < 3000 && !gone(p); waited += 10)
			usleep(10 * 1000);
	}
	unsetenv("SSBPF_PLUGIN_PID");
	unsetenv("SSBPF_PLUGIN_PORT");
}

/* The plugin the successor stops, named in the environment around the fork (NULL: none). */
static void plugin_pass(const struct plugin *pl)
{
	char num[16];

	if (!pl || pl->pid <= 0) {
		unsetenv("SSBPF_PLUGIN_PID");
		unsetenv("SSBPF_PLUGIN_PORT");
		return;
	}
	snprintf(num, sizeof(num), "%d", (int)pl->pid);
	setenv("SSBPF_PLUGIN_PID", num, 1);
	snprintf(num, sizeof(num), "%d", pl->port);
	setenv("SSBPF_PLUGIN_PORT", num, 1);
}

const char *upgrade_refusal(const struct ss_config *cfg)
{
	if (cfg->capture)
		return "redir's capture is not handed over yet; restart instead";
	if (cfg->ctl_socket && !strcmp(cfg->ctl_socket, "off"))
		return NULL;
	return NULL;
}

static bool handed_over;

bool upgrade_handed_over(void)
{
	return handed_over;
}

/* The control socket steps aside (DIR/draining-PID-NAME.sock) for the successor's, or back. */
static void step_aside(struct upgrade *u, bool aside)
{
	const char *path = ctl_path(*u->of.ctl), *slash;

	if (aside && path) {
		snprintf(u->home, sizeof(u->home), "%s", path);
		slash = strrchr(u->home, '/');
		if (snprintf(u->sock, sizeof(u->sock), "%.*sdraining-%d-%s",
			     slash ? (int)(slash - u->home + 1) : 0, u->home, (int)getpid(),
			     slash ? slash + 1 : u->home) >= (int)sizeof(u->sock) ||
		    ctl_move(*u->of.ctl, u->sock))
			u->sock[0] = 0;
	} else if (!aside && u->sock[0]) {
		if (access(u->home, F_OK) && ctl_move(*u->of.ctl, u->home))
			log_warn("control socket: cannot move back to %s", u->home);
		u->sock[0] = 0;
	}
}

static void finish(struct upgrade *u, bool ok)
{
	if (u->notify.fd >= 0) {
		loop_forget(u->of.loop, &u->notify);
		close(u->notify.fd);
		u->notify.fd = -1;
	}
	if (u->exited.fd >= 0) {
		loop_forget(u->of.loop, &u->exited);
		close(u->exited.fd);
		u->exited.fd = -1;
	}
	u->state = ok ? UPGRADE_DONE : UPGRADE_FAILED;
	handed_over |= ok;
	if (ok) {
		metrics_close(*u->of.metrics);
		*u->of.metrics = NULL;
	} else {
		step_aside(u, false);
		traffic_hand_over(u->of.traffic, false); /* this process carries on counting */
	}
	if (ok)
		log_info("upgrade: pid %d is ready and serves; this process (pid %d) drains",
			 (int)u->ready_pid, (int)getpid());
	else
		log_err("upgrade failed, still serving: %s", u->why);
	u->of.done(u->of.arg, ok);
}

static void failed_status(struct upgrade *u, int st)
{
	char how[64];

	if (WIFEXITED(st))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
	else
		snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(st));
	snprintf(u->why, sizeof(u->why), "the new process (%.150s, pid %d) %s%s%.250s", exe,
		 (int)u->child, how, u->status[0] ? ": " : "", u->status);
}

bool upgrade_reaped(struct upgrade *u, pid_t pid, int status)
{
	if (!u || pid != u->child || pid <= 0)
		return false;
	if (u->state == UPGRADE_STARTING) {
		failed_status(u, status);
		u->child = -1;
		finish(u, false);
	} else {
		u->child = -1;
		log_warn("upgrade: the new process (pid %d) is gone", (int)pid);
	}
	return true;
}

static void on_exited(struct handler *h, uint32_t events)
{
	struct upgrade *u = container_of(h, struct upgrade, exited);
	int st;

	(void)events;
	if (u->child > 0 && waitpid(u->child, &st, WNOHANG) == u->child)
		upgrade_reaped(u, u->child, st);
}

static void on_notify(struct handler *h, uint32_t events)
{
	struct upgrade *u = container_of(h, struct upgrade, notify);
	char msg[600], *at;
	ssize_t n;

	(void)events;
	while ((n = recv(h->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
		msg[n] = 0;
		if ((at = strstr(msg, "STATUS=")))
			snprintf(u->status, sizeof(u->status), "%.*s", (int)strcspn(at + 7, "\n"),
				 at + 7);
		if (!strstr(msg, "READY=1") || u->state != UPGRADE_STARTING)
			continue;
		u->ready_pid = (at = strstr(msg, "MAINPID=")) ? (pid_t)atoi(at + 8) : u->child;
		/* systemd follows the new main process (NotifyAccess=main lets this one say so). */
		snprintf(msg, sizeof(msg), "MAINPID=%d\nREADY=1\n", (int)u->ready_pid);
		daemon_notify(getenv("NOTIFY_SOCKET"), msg);
		finish(u, true);
		return;
	}
}

/* In the child: the held sockets as LISTEN_FDS, where to say READY=1, then the binary. */
_Noreturn static void start_child(const char *notify)
{
	sigset_t none;
	char from[16];

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The memfds first, above where the sockets go (which may be where they are now). */
	replay_mem_pass(3 + sockpool_count());
	if (sockpool_pass())
		_exit(126);
	if (getenv("NOTIFY_SOCKET"))
		setenv("SSBPF_NOTIFY_SOCKET", getenv("NOTIFY_SOCKET"), 1);
	setenv("NOTIFY_SOCKET", notify, 1);
	snprintf(from, sizeof(from), "%d", (int)getppid());
	setenv("SSBPF_UPGRADE_FROM", from, 1);
	execv(exe, args);
	fprintf(stderr, "upgrade: cannot run %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/* The private notify socket, an abstract name; its fd, or -errno. */
static int notify_socket(char *name, size_t len)
{
	static unsigned seq;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(name, len, "@ssbpf-upgrade-%d-%u", (int)getpid(), ++seq);
	memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name)))) {
		int r = -errno;

		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/* Refusals before anything starts; 0 or -errno with *why. */
static int refused(const struct upgrade *u, const struct upgrade_of *o, const char **why)
{
	pid_t from = daemon_upgraded_from();

	if (o->stopping && u->state != UPGRADE_DONE) {
		*why = "the daemon is stopping";
		return -EINVAL;
	}
	if (u->state == UPGRADE_STARTING)
		return why_fmt(why, "an upgrade is starting already (pid %d)", (int)u->child);
	if (u->state == UPGRADE_DONE)
		return why_fmt(why, "this process is draining after an upgrade; upgrade pid %d",
			       (int)u->ready_pid);
	if (from && getppid() == from)
		return why_fmt(why, "the process this one replaced (pid %d) is still draining; "
			       "upgrade again once it has exited", (int)from);
	if ((*why = upgrade_refusal(o->cfg)))
		return -EOPNOTSUPP;
	if (!exe[0] || !args) {
		*why = "the binary's path is not known";
		return -ENOENT;
	}
	return 0;
}

/* What each port and user carried, saved for the successor to start from; counted apart after. */
static void save_carried(const struct upgrade_of *o)
{
	char path[PATH_MAX];
	int r;

	if (!o->traffic || !o->traffic->names || !traffic_path(o->cfg, path, sizeof(path)))
		return;
	traffic_take_added(o->traffic, path);
	if ((r = traffic_save(o->traffic, path)))
		log_warn("data limits: cannot write %s: %s", path, strerror(-r));
	traffic_hand_over(o->traffic, true);
}

/* The child, with the notify socket it answers on; 0 or -errno with *why. */
static int spawn(struct upgrade *u, const struct upgrade_of *o, const char **why)
{
	char name[64];
	int fd;

	if ((fd = notify_socket(name, sizeof(name))) < 0)
		return why_fmt(why, "notify socket: %s", strerror(-fd));
	save_carried(o);
	step_aside(u, true);
	plugin_pass(o->plugin);
	if ((u->child = fork()) == 0)
		start_child(name);
	plugin_pass(NULL);
	if (u->child < 0) {
		close(fd);
		step_aside(u, false);
		traffic_hand_over(o->traffic, false);
		return why_fmt(why, "fork: %s", strerror(errno));
	}
	u->notify = (struct handler){ .fd = fd, .on_event = on_notify };
	u->exited = (struct handler){ .fd = (int)syscall(SYS_pidfd_open, u->child, 0),
				      .on_event = on_exited };
	loop_watch(o->loop, &u->notify, EPOLLIN);
	if (u->exited.fd >= 0)
		loop_watch(o->loop, &u->exited, EPOLLIN);
	return 0;
}

int upgrade_begin(struct upgrade *u, const struct upgrade_of *o, const char **why)
{
	int r;

	if (u->state == UPGRADE_NONE)
		u->notify.fd = u->exited.fd = -1;
	log_info("upgrade, asked by %s", o->who);
	if (!(r = refused(u, o, why))) {
		u->of = *o;
		u->why[0] = u->status[0] = 0;
		u->ready_pid = 0;
		r = spawn(u, o, why);
	}
	if (r) {
		log_err("upgrade refused: %s", *why);
		return r;
	}
	u->deadline = loop_now(o->loop) + UPGRADE_READY_S * 1000ull;
	u->state = UPGRADE_STARTING;
	log_info("upgrade: started %s (pid %d) on %d listening sockets", exe, (int)u->child,
		 sockpool_count());
	return 0;
}

void upgrade_tick(struct upgrade *u, uint64_t now_ms)
{
	if (u->state != UPGRADE_STARTING || now_ms < u->deadline)
		return;
	kill(u->child, SIGTERM);
	snprintf(u->why, sizeof(u->why), "the new process (pid %d) was not ready after %d s; "
		 "stopped it%s%s", (int)u->child, UPGRADE_READY_S, u->status[0] ? ": " : "",
		 u->status);
	finish(u, false);
}

void upgrade_json(const struct upgrade *u, int r, const char *why, struct sbuf *out)
{
	static const char *const names[] = { "none", "starting", "failed", "done" };

	if (r) {
		sbuf_printf(out, "{\"state\":\"refused\",\"pid\":%d,\"why\":", (int)getpid());
		sbuf_json_str(out, why);
		sbuf_printf(out, "}");
		return;
	}
	sbuf_printf(out, "{\"state\":\"%s\",\"pid\":%d", names[u->state], (int)getpid());
	if (u->state != UPGRADE_NONE)
		sbuf_printf(out, ",\"new\":%d", (int)(u->ready_pid ? u->ready_pid : u->child));
	if (u->state == UPGRADE_FAILED) {
		sbuf_printf(out, ",\"why\":");
		sbuf_json_str(out, u->why);
	}
	if (u->sock[0]) {
		sbuf_printf(out, ",\"socket\":");
		sbuf_json_str(out, u->sock);
	}
	sbuf_printf(out, "}");
}
