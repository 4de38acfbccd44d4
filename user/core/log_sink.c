// SPDX-License-Identifier: MIT
/*
 * Where log lines go besides stderr: syslog. Kept apart from log.c because
 * <syslog.h> defines LOG_ERR, LOG_INFO and LOG_DEBUG as macros.
 */
#include <syslog.h>

#include "log_sink.h"

static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_sink_syslog_open(const char *prog)
{
	openlog(prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_sink_syslog(int level, const char *msg)
{
	syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", msg);
}
