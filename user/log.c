// SPDX-License-Identifier: MIT
/*
 * One-line log records on stderr (time, program, pid, level, message), on a
 * log file put in stderr's place, or to syslog.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "log_sink.h"

static const char *log_prog = "ssbpf";
static int log_verbosity = LOG_INFO;
static int log_to_syslog;

void log_init(const char *prog, int verbosity)
{
	log_prog = prog;
	log_verbosity = verbosity;
}

int log_open(const char *file, int use_syslog)
{
	int fd;

	if (use_syslog) {
		log_sink_syslog_open(log_prog);
		log_to_syslog = 1;
	}
	if (!file)
		return 0;
	/* stderr itself: workers and the plugin write there too. */
	fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (dup2(fd, 2) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

int log_enabled(enum log_level l)
{
	return (int)l <= log_verbosity;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024], ts[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if (!log_enabled(l))
		return;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ld %s[%d] %s: ", ts, (long)tv.tv_usec / 1000,
		     log_prog, (int)getpid(), names[l]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (log_to_syslog)
		log_sink_syslog(l, line + n);
	else
		fprintf(stderr, "%s\n", line);
}
