// SPDX-License-Identifier: MIT
/* -f PIDFILE, the background fork and systemd's readiness datagram. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "daemon.h"
#include "log.h"
#include "proc.h"

#define READY_WAIT_MS 60000
#define STOP_WAIT_MS 3000

static pid_t main_pid;
static int ready_fd = -1; /* -f: the shell's parent waits for a byte here */
/* Started by an upgrade: the process replaced, and where it waits for READY=1. */
static pid_t upgrade_from;
static char upgrade_notify[108];

/* The pid a pid file names, or 0. */
static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > 4194304)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* Exited, but not yet reaped by its parent (state Z in /proc/PID/stat)? */
static bool zombie(pid_t pid)
{
	char st;

	return !proc_stat_of(pid, &st, NULL) && st == 'Z';
}

/* A live process other than this one (a zombie has exited)? */
static bool running(pid_t pid)
{
	return pid > 0 && pid != getpid() && (!kill(pid, 0) || errno == EPERM) && !zombie(pid);
}

static int write_pid(const char *path, pid_t pid)
{
	char tmp[4096], line[32];
	int fd, n = snprintf(line, sizeof(line), "%d\n", (int)pid);

	/* Written whole or not at all: a reader never sees half a number. */
	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)pid) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, line, (size_t)n) != n || close(fd) || rename(tmp, path)) {
		int e = errno;

		unlink(tmp);
		return -e;
	}
	return 0;
}

/*
 * The shell's side of -f: what the daemon writes on stderr is copied to the
 * terminal until it is ready (a byte on ready) or gone (EOF: every process
 * of it exited before it was ready, status 1).
 */
_Noreturn static void wait_ready(int ready, int err_out, pid_t pid)
{
	struct pollfd p[2] = { { .fd = ready, .events = POLLIN }, { .fd = err_out, .events = POLLIN } };
	struct timespec t0, now;
	char buf[4096];
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int k = poll(p, err_out >= 0 ? 2 : 1, 100);

		if (k > 0 && (p[1].revents & (POLLIN | POLLHUP)) &&
		    (n = read(err_out, buf, sizeof(buf))) > 0 && write(2, buf, (size_t)n) < 0)
			(void)0;
		if (k > 0 && (p[0].revents & (POLLIN | POLLHUP))) {
			char ok;
			bool up = read(ready, &ok, 1) == 1;

			/* What is left to say, without waiting for a child that still holds the pipe. */
			if (!up && err_out >= 0)
				fcntl(err_out, F_SETFL, O_NONBLOCK);
			while (!up && err_out >= 0 && (n = read(err_out, buf, sizeof(buf))) > 0)
				if (write(2, buf, (size_t)n) < 0)
					break;
			_exit(up ? 0 : 1);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < READY_WAIT_MS);
	fprintf(stderr, "not ready after %d s; still starting in the background (pid %d)\n",
		READY_WAIT_MS / 1000, (int)pid);
	_exit(0);
}

int daemon_start(const char *pid_file, bool keep_stderr, const char **why)
{
	pid_t old = read_pid(pid_file), pid;
	int ready[2], errp[2] = { -1, -1 }, null, r;

	/* An upgrade's successor is in the background already: it only takes the pid file. */
	if (upgrade_from && (r = write_pid(pid_file, getpid()))) {
		why_fmt(why, "cannot write pid file %s: %s", pid_file, strerror(-r));
		return r;
	}
	if (upgrade_from)
		return 0;
	/* One that is stopping (a restart) is given a moment to go. */
	for (int waited = 0; waited < STOP_WAIT_MS && running(old); waited += 50)
		usleep(50 * 1000);
	if (running(old)) {
		why_fmt(why, "pid file %s names a running process %d; stop it or remove the file",
			pid_file, (int)old);
		return -EEXIST;
	}
	if (pipe2(ready, O_CLOEXEC) || (!keep_stderr && pipe2(errp, O_CLOEXEC))) {
		r = -errno;
		why_fmt(why, "pipe: %s", strerror(-r));
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		why_fmt(why, "fork: %s", strerror(-r));
		return r;
	}
	if (pid > 0) {
		close(ready[1]);
		if (errp[1] >= 0)
			close(errp[1]);
		wait_ready(ready[0], errp[0], pid);
	}
	close(ready[0]);
	ready_fd = ready[1];
	setsid();
	if (chdir("/"))
		(void)0;
	if ((null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
	/* Until ready, stderr reaches the shell (a log file is already on it). */
	if (errp[1] >= 0) {
		close(errp[0]);
		dup2(errp[1], 2);
		close(errp[1]);
	}
	if ((r = write_pid(pid_file, getpid()))) {
		why_fmt(why, "cannot write pid file %s: %s", pid_file, strerror(-r));
		return r;
	}
	return 0;
}

void daemon_remove_pid(const char *pid_file)
{
	if (pid_file && read_pid(pid_file) == getpid())
		unlink(pid_file);
}

void daemon_set_main_pid(void)
{
	main_pid = getpid();
}

bool daemon_is_main(void)
{
	return getpid() == main_pid;
}

pid_t daemon_take_upgrade(void)
{
	const char *from = getenv("SSBPF_UPGRADE_FROM"), *path = getenv("NOTIFY_SOCKET");
	const char *sd = getenv("SSBPF_NOTIFY_SOCKET");

	if (!from || atoi(from) <= 0)
		return 0;
	upgrade_from = (pid_t)atoi(from);
	snprintf(upgrade_notify, sizeof(upgrade_notify), "%s", path ? path : "");
	/* systemd's own socket again, for this process's successor in turn. */
	if (sd)
		setenv("NOTIFY_SOCKET", sd, 1);
	else
		unsetenv("NOTIFY_SOCKET");
	unsetenv("SSBPF_NOTIFY_SOCKET");
	unsetenv("SSBPF_UPGRADE_FROM");
	return upgrade_from;
}

pid_t daemon_upgraded_from(void)
{
	return upgrade_from;
}

void daemon_follow_manager(void)
{
	static pid_t manager = -1;
	pid_t parent;

	if (manager < 0)
		manager = getenv("SSBPF_MANAGER_PID") ? (pid_t)atoi(getenv("SSBPF_MANAGER_PID")) : 0;
	if (manager <= 0 || !upgrade_from || (parent = getppid()) == upgrade_from)
		return;
	if (parent == manager) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == manager) {
			manager = 0;
			return;
		}
	}
	log_warn("ssmanager (pid %d) is gone; stopping", (int)manager);
	manager = 0;
	kill(getpid(), SIGTERM);
}

int daemon_notify(const char *path, const char *msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, r = 0;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, strlen(path));
	/* '@': an abstract socket, whose name starts with a NUL byte. */
	if (path[0] == '@')
		sa.sun_path[0] = 0;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, len) < 0)
		r = -errno;
	close(fd);
	return r;
}

void daemon_upgrade_status(const char *line)
{
	char msg[600];

	if (!upgrade_notify[0])
		return;
	snprintf(msg, sizeof(msg), "STATUS=%s\n", line);
	daemon_notify(upgrade_notify, msg);
}

void daemon_notify_ready(void)
{
	char msg[64];

	if (ready_fd >= 0) {
		if (write(ready_fd, "", 1) != 1)
			(void)0;
		close(ready_fd);
		ready_fd = -1;
	}
	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d\n", (int)(main_pid ? main_pid : getpid()));
	/* The process being replaced hands systemd over once this one is ready. */
	if (upgrade_notify[0]) {
		daemon_notify(upgrade_notify, msg);
		upgrade_notify[0] = 0;
		return;
	}
	daemon_notify(getenv("NOTIFY_SOCKET"), msg);
}
