/* SPDX-License-Identifier: MIT */
#ifndef SS_SERVE_H
#define SS_SERVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "serve_bpf_limits.h"

struct ss_config;

/*
 * ssserver --bpf with several ports (or a range): every port from one TCP
 * and one UDP socket per listen address and worker (bpf/serve.bpf.c). Loaded
 * and attached by the supervisor before the workers start, with the listen
 * addresses of the configuration it started with; each worker puts its
 * sockets in the map; worker 0 writes which ports are served.
 */
struct serve;

/* The listen addresses (servers[], then the ports' own), fixed at start. */
struct serve_addrs {
	int n;
	const char *host[SERVE_ADDRS]; /* the configuration's strings */
	struct sockaddr_storage sa[SERVE_ADDRS];
	bool v6only[SERVE_ADDRS];
};

/*
 * Whether cfg's ports are to be served this way: two or more ports, a range
 * or --bpf-ports; no plugin, --bpf not off.
 */
bool serve_wanted(const struct ss_config *cfg);
/* Loads and attaches the program for cfg's addresses; 0 or -errno with *why. */
int serve_open(struct serve **out, const struct ss_config *cfg, const char **why);
void serve_close(struct serve *s);
const struct serve_addrs *serve_addrs(const struct serve *s);
/* The index of a listen address (IPv4 also as ::ffff:a.b.c.d), or -1. */
int serve_addr_index(const struct serve *s, const struct sockaddr_storage *sa);
/* Puts a worker's socket for address ai (TCP or UDP) in the map; 0 or -errno. */
int serve_sock_set(struct serve *s, int ai, int worker, bool udp, int fd);
/* Sets port's mask of addresses (bit ai) to serve it on (when it changes); 0 or -errno. */
int serve_port_set(struct serve *s, uint16_t port, uint32_t mask);
/* Connections and datagrams handed to our sockets so far. */
void serve_counts(const struct serve *s, uint64_t *tcp, uint64_t *udp);
/*
 * The served-port maps of the other ssservers whose program is attached in
 * this network namespace (not own's; own may be NULL), as new fds in fds:
 * how many (0 when it cannot tell).
 */
int serve_other_maps(const struct serve *own, int *fds, int max);
/* Does such a map serve port? */
bool serve_map_has(int fd, uint16_t port);

#endif
