/* SPDX-License-Identifier: MIT */
#ifndef SS_LOG_H
#define SS_LOG_H

#include <stdbool.h>
#include <time.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/*
 * The verbosity is the one process-wide setting: it is written once by
 * main() before any loop starts and only read afterwards.
 */
void log_init(const char *prog, int verbosity);
/* Sends the log to syslog and/or appends it to file (put in stderr's place); 0 or -errno. */
int log_open(const char *file, int use_syslog);
/* Sets the verbosity (unless negative) for a stretch of start-up; the previous one. */
int log_set_verbosity(int verbosity);
int log_enabled(enum log_level l);

/* A line an outsider can cause (a refused client): at most LOG_RATE_BURST per LOG_RATE_S. */
#define LOG_RATE_BURST 10
#define LOG_RATE_S 10
struct log_rate {
	time_t since;
	unsigned n, quiet;
};
/* May the line go out? *quiet: how many were held back since the last one that did. */
bool log_rate_ok(struct log_rate *r, unsigned *quiet);
void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Also hands each error line (without its prefix) to fn; NULL: no more. */
void log_set_err_hook(void (*fn)(const char *line));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                            \
	do {                                      \
		if (log_enabled(LOG_DEBUG))       \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
