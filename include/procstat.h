/* SPDX-License-Identifier: MIT */
#ifndef SS_PROCSTAT_H
#define SS_PROCSTAT_H

#include <stddef.h>
#include <sys/types.h>

struct sbuf;

/*
 * The standard process_* families of Prometheus exporters (CPU seconds,
 * resident and virtual memory, open and maximum fds, start time) for this
 * process and the given workers, summed (a daemon is its whole tree; the
 * start time and the fd limit are this process's).
 */
void procstat_prometheus(struct sbuf *out, const pid_t *workers, size_t n);

#endif
