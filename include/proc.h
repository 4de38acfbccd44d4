/* SPDX-License-Identifier: MIT */
#ifndef SS_PROC_H
#define SS_PROC_H

#include <sys/types.h>

/*
 * A process's state letter ('Z': exited, not yet reaped) and its parent's
 * pid, from /proc/PID/stat (either may be NULL); 0, or -errno when there is
 * no such process.
 */
int proc_stat_of(pid_t pid, char *state, pid_t *ppid);

#endif
