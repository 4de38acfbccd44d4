// SPDX-License-Identifier: MIT
/*
 * connbench: connection rate and connect-to-first-byte latency through a
 * relay, loopback only. It runs its own echo target on 127.0.0.1:ECHO_PORT
 * (give 0 to pick one; the chosen port is printed first, then it waits for a
 * line on stdin), then C client threads each open N/C connections in turn to
 * 127.0.0.1:PORT, send one byte, wait for it to come back, close.
 * Prints: conns/s, p50 and p99 latency in microseconds.
 * pingpong: one connection, ROUNDS times SIZE bytes sent and the same
 * echoed back (request/response latency); prints rounds, p50 and p99 us.
 * Usage: connbench serve | connbench run PORT TOTAL CONCURRENCY |
 *        connbench pingpong PORT SIZE ROUNDS
 * Environment (namespaces of the capture benchmark): CONNBENCH_BIND, the
 * IPv4 address serve listens on; CONNBENCH_HOST, the IPv4 address run and
 * pingpong connect to (both default 127.0.0.1); CONNBENCH_SOCKS=IP:PORT,
 * reach HOST:PORT through that SOCKS5 proxy (no authentication) instead.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The IPv4 address in environment variable name, or 127.0.0.1. */
static in_addr_t env_addr(const char *name)
{
	const char *v = getenv(name);
	struct in_addr a;

	return v && inet_pton(AF_INET, v, &a) == 1 ? a.s_addr : htonl(INADDR_LOOPBACK);
}

/*
 * Connects fd to a (through CONNBENCH_SOCKS when set: a SOCKS5 CONNECT to a,
 * RFC 1928, no authentication); 0 or -1.
 */
static int dial(int fd, const struct sockaddr_in *a)
{
	const char *socks = getenv("CONNBENCH_SOCKS");
	struct sockaddr_in p = { .sin_family = AF_INET };
	unsigned char req[10] = { 5, 1, 0, 1 }, rep[10];
	char host[64];
	const char *colon;

	if (!socks)
		return connect(fd, (const struct sockaddr *)a, sizeof(*a));
	if (!(colon = strchr(socks, ':')) || (size_t)(colon - socks) >= sizeof(host))
		return -1;
	memcpy(host, socks, (size_t)(colon - socks));
	host[colon - socks] = 0;
	p.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &p.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&p, sizeof(p)) || write(fd, "\x05\x01\x00", 3) != 3 ||
	    read(fd, rep, 2) != 2 || rep[1] != 0)
		return -1;
	memcpy(req + 4, &a->sin_addr, 4);
	memcpy(req + 8, &a->sin_port, 2);
	if (write(fd, req, sizeof(req)) != sizeof(req) || read(fd, rep, sizeof(rep)) != sizeof(rep) ||
	    rep[1] != 0)
		return -1;
	return 0;
}

static int serve(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = env_addr("CONNBENCH_BIND") };
	socklen_t al = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 4096))
		return 1;
	getsockname(ls, (struct sockaddr *)&a, &al);
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			char buf[4096];

			if (fd == ls) {
				int c = accept(ls, NULL, NULL);

				if (c >= 0) {
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r <= 0 || write(fd, buf, (size_t)r) != r) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
}

struct job {
	int port, count;
	double *lat;
	int done;
};

static void *client(void *arg)
{
	struct job *j = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)j->port),
				 .sin_addr.s_addr = env_addr("CONNBENCH_HOST") };

	for (int i = 0; i < j->count; i++) {
		double t0 = now_us();
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char b = 'x';

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (dial(fd, &a) || write(fd, &b, 1) != 1 ||
		    read(fd, &b, 1) != 1) {
			close(fd);
			continue;
		}
		j->lat[j->done++] = now_us() - t0;
		close(fd);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int pingpong(int port, int size, int rounds)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = env_addr("CONNBENCH_HOST") };
	int fd = socket(AF_INET, SOCK_STREAM, 0), done = 0;
	double *lat = calloc((size_t)rounds, sizeof(double));
	char *buf = calloc(1, (size_t)size);

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (!lat || !buf || dial(fd, &a))
		return 1;
	for (; done < rounds; done++) {
		double t0 = now_us();
		ssize_t got = 0, r;

		if (write(fd, buf, (size_t)size) != size)
			break;
		while (got < size && (r = read(fd, buf + got, (size_t)(size - got))) > 0)
			got += r;
		if (got != size)
			break;
		lat[done] = now_us() - t0;
	}
	close(fd);
	qsort(lat, (size_t)done, sizeof(double), cmp);
	printf("%d %.1f %.1f\n", done, done ? lat[done / 2] : 0, done ? lat[(done * 99) / 100] : 0);
	return done == rounds ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "serve"))
		return serve();
	if (argc == 5 && !strcmp(argv[1], "pingpong"))
		return pingpong(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	if (argc != 5 || strcmp(argv[1], "run")) {
		fprintf(stderr, "usage: connbench serve | connbench run PORT TOTAL CONCURRENCY | "
			"connbench pingpong PORT SIZE ROUNDS\n");
		return 2;
	}
	int port = atoi(argv[2]), total = atoi(argv[3]), conc = atoi(argv[4]), ok = 0;
	struct job *jobs = calloc((size_t)conc, sizeof(*jobs));
	pthread_t *th = calloc((size_t)conc, sizeof(*th));
	double *all = calloc((size_t)total, sizeof(double)), t0 = now_us();

	for (int i = 0; i < conc; i++) {
		jobs[i].port = port;
		jobs[i].count = total / conc;
		jobs[i].lat = calloc((size_t)jobs[i].count, sizeof(double));
		pthread_create(&th[i], NULL, client, &jobs[i]);
	}
	for (int i = 0; i < conc; i++) {
		pthread_join(th[i], NULL);
		memcpy(all + ok, jobs[i].lat, (size_t)jobs[i].done * sizeof(double));
		ok += jobs[i].done;
	}
	double secs = (now_us() - t0) / 1e6;
	qsort(all, (size_t)ok, sizeof(double), cmp);
	printf("%d %.0f %.0f %.0f\n", ok, ok / secs, ok ? all[ok / 2] : 0, ok ? all[(ok * 99) / 100] : 0);
	return ok == total / conc * conc ? 0 : 1;
}
