// SPDX-License-Identifier: MIT
/* process_* metrics from /proc: what Prometheus users expect of every exporter. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"
#include "sbuf.h"

struct proc_sample {
	double cpu_s, start_s;
	unsigned long long vsize, rss_pages;
	long fds;
};

/* Fields of /proc/PID/stat after the command: state is field 3, utime 14, stime 15, starttime 22. */
static int read_stat(pid_t pid, struct proc_sample *p)
{
	char path[64], buf[1024], *s;
	unsigned long long utime, stime, start;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	if (!(s = strrchr(buf, ')')) ||
	    sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
		   "%*d %llu %llu %llu", &utime, &stime, &start, &p->vsize, &p->rss_pages) != 5)
		return -1;
	p->cpu_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	p->start_s = (double)start / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static long count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Seconds since the epoch at boot (btime in /proc/stat). */
static double boot_time(void)
{
	char line[256];
	double bt = 0;
	FILE *f = fopen("/proc/stat", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lf", &bt) == 1)
			break;
	if (f)
		fclose(f);
	return bt;
}

static void family(struct sbuf *out, const char *name, const char *type, const char *help, double v)
{
	sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void procstat_prometheus(struct sbuf *out, const pid_t *workers, size_t n)
{
	struct proc_sample self = { 0 }, w;
	long page = sysconf(_SC_PAGESIZE), max_fds = sysconf(_SC_OPEN_MAX);

	if (read_stat(getpid(), &self))
		return;
	self.fds = count_fds(getpid());
	for (size_t i = 0; i < n; i++) {
		if (workers[i] <= 0 || read_stat(workers[i], &w))
			continue;
		self.cpu_s += w.cpu_s;
		self.vsize += w.vsize;
		self.rss_pages += w.rss_pages;
		self.fds += count_fds(workers[i]);
	}
	family(out, "process_cpu_seconds_total", "counter",
	       "User and system CPU time of the daemon's processes, in seconds.", self.cpu_s);
	family(out, "process_resident_memory_bytes", "gauge", "Resident memory of its processes.",
	       (double)self.rss_pages * (double)page);
	family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory of its processes.",
	       (double)self.vsize);
	family(out, "process_open_fds", "gauge", "Open file descriptors of its processes.",
	       (double)self.fds);
	family(out, "process_max_fds", "gauge", "The open file limit of each process.", (double)max_fds);
	family(out, "process_start_time_seconds", "gauge",
	       "Start time of the daemon since the epoch, in seconds.", boot_time() + self.start_s);
}
