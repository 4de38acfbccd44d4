// SPDX-License-Identifier: MIT
/* Loader of bpf/relay.bpf.c: the only file of the daemon that touches libbpf. */
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_common.h"
#include "relay.h"
#include "relay_bpf.h"
#include "log.h"
#include "relay.skel.h"

struct bpf_relay {
	struct relay_bpf *skel;
	int run_fd, park_fd, peers_fd;
	struct ring_buffer *rb;
	void (*cb)(void *ctx, uint64_t cookie);
	void *cb_ctx;
};

static int on_ring_event(void *ctx, void *data, size_t len)
{
	struct bpf_relay *b = ctx;
	uint64_t cookie;

	if (len >= sizeof(cookie) && b->cb) {
		memcpy(&cookie, data, sizeof(cookie));
		b->cb(b->cb_ctx, cookie);
	}
	return 0;
}

int bpf_relay_events_fd(struct bpf_relay *b)
{
	return bpf_map__fd(b->skel->maps.events);
}

void bpf_relay_events(struct bpf_relay *b, void (*cb)(void *ctx, uint64_t cookie), void *ctx)
{
	b->cb = cb;
	b->cb_ctx = ctx;
	ring_buffer__consume(b->rb);
	b->cb = NULL;
}

int bpf_relay_open(struct bpf_relay **out, const char **why)
{
	struct bpf_relay *b = calloc(1, sizeof(*b));
	int prog_parser, prog_verdict, r;

	if (!b) {
		*why = "out of memory";
		return -ENOMEM;
	}
	bpf_log_via_daemon();
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		*why = "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
		r = -ENOTSUP;
		goto err_free;
	}
	b->skel = relay_bpf__open_and_load();
	if (!b->skel) {
		r = -errno;
		*why = bpf_load_failed(r, "the kernel refused the sockmap programs (too old, or BPF "
				       "disabled)");
		goto err_free;
	}
	b->run_fd = bpf_map__fd(b->skel->maps.sock_run);
	b->park_fd = bpf_map__fd(b->skel->maps.sock_park);
	b->peers_fd = bpf_map__fd(b->skel->maps.peers);
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_ring_event, b, NULL);
	if (!b->rb) {
		r = -errno;
		*why = "cannot open the BPF ring buffer";
		goto err_destroy;
	}
	prog_parser = bpf_program__fd(b->skel->progs.prog_parser);
	prog_verdict = bpf_program__fd(b->skel->progs.prog_verdict);
	/* libbpf 1.1 has no bpf_program__attach_sockmap: attach to the map by fd. */
	if (bpf_prog_attach(prog_parser, b->run_fd, BPF_SK_SKB_STREAM_PARSER, 0) ||
	    bpf_prog_attach(prog_verdict, b->run_fd, BPF_SK_SKB_STREAM_VERDICT, 0)) {
		r = -errno;
		*why = "cannot attach the stream parser/verdict programs to the sockhash";
		goto err_destroy;
	}
	*out = b;
	return 0;

err_destroy:
	ring_buffer__free(b->rb);
	relay_bpf__destroy(b->skel);
err_free:
	free(b);
	return r;
}

void bpf_relay_close(struct bpf_relay *b)
{
	if (!b)
		return;
	/* Closing the last fds frees the programs and maps: nothing is pinned. */
	ring_buffer__free(b->rb);
	relay_bpf__destroy(b->skel);
	free(b);
}

static int cookie_of(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) ? -errno : 0;
}

int bpf_relay_attach(struct bpf_relay *b, int fd_a, int fd_b, uint64_t written_b,
		     uint64_t written_a, uint64_t limit, uint64_t *ca, uint64_t *cb)
{
	struct relay_peer pa = { .base = written_b, .limit = limit },
			  pb = { .base = written_a, .limit = limit };
	uint64_t va = (uint64_t)fd_a, vb = (uint64_t)fd_b;
	int r;

	if ((r = cookie_of(fd_a, ca)) || (r = cookie_of(fd_b, cb)))
		return r;
	pa.peer = *cb;
	pb.peer = *ca;
	/*
	 * Order matters: peers and park first (valid redirect targets), then
	 * run, which starts interception; then a kick so that bytes queued
	 * before the attach go through the parser, in order.
	 */
	if (bpf_map_update_elem(b->peers_fd, ca, &pa, BPF_NOEXIST) ||
	    bpf_map_update_elem(b->peers_fd, cb, &pb, BPF_NOEXIST) ||
	    bpf_map_update_elem(b->park_fd, ca, &va, BPF_NOEXIST) ||
	    bpf_map_update_elem(b->park_fd, cb, &vb, BPF_NOEXIST) ||
	    bpf_map_update_elem(b->run_fd, ca, &va, BPF_NOEXIST) ||
	    bpf_map_update_elem(b->run_fd, cb, &vb, BPF_NOEXIST)) {
		r = -errno;
		bpf_relay_detach(b, *ca, *cb);
		return r ? r : -EIO;
	}
	setsockopt(fd_a, SOL_SOCKET, SO_RCVLOWAT, &(int){ 1 }, sizeof(int));
	setsockopt(fd_b, SOL_SOCKET, SO_RCVLOWAT, &(int){ 1 }, sizeof(int));
	return 0;
}

void bpf_relay_stop(struct bpf_relay *b, uint64_t cookie)
{
	bpf_map_delete_elem(b->run_fd, &cookie);
}

void bpf_relay_detach(struct bpf_relay *b, uint64_t ca, uint64_t cb)
{
	bpf_map_delete_elem(b->run_fd, &ca);
	bpf_map_delete_elem(b->run_fd, &cb);
	bpf_map_delete_elem(b->park_fd, &ca);
	bpf_map_delete_elem(b->park_fd, &cb);
	bpf_map_delete_elem(b->peers_fd, &ca);
	bpf_map_delete_elem(b->peers_fd, &cb);
}

int bpf_relay_bytes(struct bpf_relay *b, uint64_t cookie, uint64_t *bytes)
{
	struct relay_peer p;

	if (bpf_map_lookup_elem(b->peers_fd, &cookie, &p))
		return -errno;
	*bytes = p.bytes;
	return 0;
}

int bpf_relay_count(struct bpf_relay *b, unsigned *socks, unsigned *peers)
{
	*socks = bpf_map_entries(b->run_fd, sizeof(uint64_t)) +
		 bpf_map_entries(b->park_fd, sizeof(uint64_t));
	*peers = bpf_map_entries(b->peers_fd, sizeof(uint64_t));
	return 0;
}

int tcp_send_progress(int fd, uint64_t *written, uint32_t *outq, uint8_t *state)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int q = 0;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ioctl(fd, SIOCOUTQ, &q))
		return -errno;
	*written = ti.tcpi_bytes_acked + (uint64_t)q;
	*outq = (uint32_t)q;
	*state = ti.tcpi_state;
	return 0;
}

int tcp_bytes_written(int fd, uint64_t *out)
{
	uint32_t outq;
	uint8_t state;

	return tcp_send_progress(fd, out, &outq, &state);
}

int tcp_bytes_unread(int fd, int *out)
{
	return ioctl(fd, SIOCINQ, out) ? -errno : 0;
}
