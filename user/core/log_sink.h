/* SPDX-License-Identifier: MIT */
#ifndef SS_LOG_SINK_H
#define SS_LOG_SINK_H

/* syslog as a log destination; level is an enum log_level. */
void log_sink_syslog_open(const char *prog);
void log_sink_syslog(int level, const char *msg);

#endif
