/* SPDX-License-Identifier: MIT */
#ifndef SS_PORT_INDEX_H
#define SS_PORT_INDEX_H

struct port_keys;

/*
 * ssserver: its ports by number, so that a connection or datagram that came
 * through a listen address's one socket (--bpf) finds its port's keys in a
 * few steps whatever the number of ports: single ports in buckets by
 * number, ranges (few) in a list of their own.
 */
#define PORT_INDEX_BUCKETS 4096

struct port_index {
	struct port_keys *bucket[PORT_INDEX_BUCKETS]; /* chained by same_bucket */
	struct port_keys *ranges;                     /* chained by same_bucket too */
};

/* Indexes every port of list (chained by next), replacing what ix held. */
void port_index_build(struct port_index *ix, struct port_keys *list);
/* The port served through listen address ai at port, or NULL. */
struct port_keys *port_index_find(const struct port_index *ix, int ai, int port);

#endif
