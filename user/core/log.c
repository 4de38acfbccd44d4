// SPDX-License-Identifier: MIT
/*
 * One-line log records on stderr (time, program, pid, level, message), on a
 * log file put in stderr's place, or to syslog.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "log_sink.h"

static const char *log_prog = "ssbpf";
static int log_verbosity = LOG_INFO;
static int log_to_syslog;
static bool log_stamp = true; /* false when stderr is the journal, which stamps each line */

/* systemd names the stream it gave us in JOURNAL_STREAM ("dev:inode"); is stderr still it? */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *prog, int verbosity)
{
	log_prog = prog;
	log_verbosity = verbosity;
	log_stamp = !stderr_is_journal();
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
	log_stamp = true;
	return 0;
}

int log_set_verbosity(int verbosity)
{
	int was = log_verbosity;

	if (verbosity >= 0)
		log_verbosity = verbosity;
	return was;
}

bool log_rate_ok(struct log_rate *r, unsigned *quiet)
{
	time_t now = time(NULL);

	if (now - r->since >= LOG_RATE_S) {
		r->since = now;
		r->n = 0;
	}
	if (r->n++ >= LOG_RATE_BURST) {
		r->quiet++;
		return false;
	}
	*quiet = r->quiet;
	r->quiet = 0;
	return true;
}

int log_enabled(enum log_level l)
{
	return (int)l <= log_verbosity;
}

static void (*err_hook)(const char *line);

void log_msg(enum log_level l, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024], ts[40], zone[8];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;

	if (!log_enabled(l))
		return;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	/* Date, time and UTC offset, as an operator correlating logs needs them. */
	n = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ld", (long)tv.tv_usec / 1000);
	strftime(zone, sizeof(zone), "%z", &tm);
	if (log_stamp)
		n = snprintf(line, sizeof(line), "%s%s %s[%d] %s: ", ts, zone, log_prog,
			     (int)getpid(), names[l]);
	else
		n = snprintf(line, sizeof(line), "%s[%d] %s: ", log_prog, (int)getpid(), names[l]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (log_to_syslog)
		log_sink_syslog(l, line + n);
	else
		fprintf(stderr, "%s\n", line);
	if (l == LOG_ERR && err_hook)
		err_hook(line + n);
}

void log_set_err_hook(void (*fn)(const char *line))
{
	err_hook = fn;
}
