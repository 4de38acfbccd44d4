// SPDX-License-Identifier: MIT
/* -f PIDFILE, the background fork and systemd's readiness datagram. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"

static pid_t main_pid;

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

int daemon_start(const char *pid_file, bool keep_stderr, char *why, size_t why_len)
{
	pid_t old = read_pid(pid_file), pid;
	int ready[2], null, r;
	char ok;

	if (old > 0 && old != getpid() && (!kill(old, 0) || errno == EPERM)) {
		snprintf(why, why_len, "pid file %s names a running process %d; stop it or remove the file",
			 pid_file, (int)old);
		return -EEXIST;
	}
	if (pipe2(ready, O_CLOEXEC)) {
		snprintf(why, why_len, "pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, why_len, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid > 0) {
		/* The caller's shell returns once the pid file is there (or the start failed). */
		close(ready[1]);
		r = read(ready[0], &ok, 1) == 1 ? 0 : 1;
		_exit(r);
	}
	close(ready[0]);
	setsid();
	if (chdir("/"))
		(void)0;
	if ((null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		/* A log file is already on stderr; keep it. */
		if (!keep_stderr)
			dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if ((r = write_pid(pid_file, getpid()))) {
		snprintf(why, why_len, "cannot write pid file %s: %s", pid_file, strerror(-r));
		close(ready[1]);
		return r;
	}
	ok = 1;
	if (write(ready[1], &ok, 1) != 1)
		(void)0;
	close(ready[1]);
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

void daemon_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[64];
	socklen_t len;
	int fd, n;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	/* '@': an abstract socket, whose name starts with a NUL byte. */
	if (path[0] == '@')
		sa.sun_path[0] = 0;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	n = snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d\n", (int)(main_pid ? main_pid : getpid()));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&sa, len) < 0)
		(void)0;
	close(fd);
}
