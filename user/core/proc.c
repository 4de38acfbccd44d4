// SPDX-License-Identifier: MIT
/* A process's state and parent, from /proc/PID/stat. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proc.h"

int proc_stat_of(pid_t pid, char *state, pid_t *ppid)
{
	char path[40], buf[512], *close, st = 0;
	int parent = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* "pid (comm) S PPID ...": comm may hold spaces and parentheses; the rest follows the last ')'. */
	if (!(close = strrchr(buf, ')')) || sscanf(close + 1, " %c %d", &st, &parent) != 2)
		return -EINVAL;
	if (state)
		*state = st;
	if (ppid)
		*ppid = (pid_t)parent;
	return 0;
}
