// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * Capture by cgroup (container egress): cgroup/connect and cgroup/sendmsg
 * programs on each captured cgroup rewrite an outgoing TCP connect or UDP
 * send to a slot address in 127.16.0.0/12 at the capture port, where the
 * daemon holds a listener in the process's own network namespace; the slot
 * records the original destination (cap_slots). cgroup/recvmsg and
 * cgroup/getpeername show the application the original address in place of
 * the slot's. Loopback, excluded prefixes (cap_exclude), multicast and the
 * daemon's own processes (cap_pids) are left alone. No netfilter rule,
 * route or pin: the programs hang on links the daemon holds.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "capture_bpf.h"
#include "net_bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CAP_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct cap_orig);
} cap_slots SEC(".maps");

/* The slot of an original destination (cap_orig with netns 0), while it holds it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CAP_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cap_orig);
	__type(value, __u32);
} cap_of SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cap_next SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cap_conf);
} cap_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CAP_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} cap_pids SEC(".maps");

/* The captured cgroups by id: a process in a cgroup below one belongs to that entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CAP_ENTRIES);
	__type(key, __u64);
	__type(value, __u8);
} cap_entries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CAP_TRIE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cap_key);
	__type(value, __u8);
} cap_exclude SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CAP_T_N);
	__type(key, __u32);
	__type(value, __u64);
} cap_counts SEC(".maps");

/* Connects and datagrams captured per cgroup v2 id of the sending process ([0] TCP, [1] UDP). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CAP_CGROUPS_SEEN);
	__type(key, __u64);
	__type(value, struct cap_cg_count);
} cap_by_cgroup SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&cap_counts, &what);

	if (v)
		(*v)++;
}

/* The capture port in network order, or 0 when nothing is set up. */
static __always_inline __u16 cap_port(void)
{
	__u32 zero = 0;
	struct cap_conf *c = bpf_map_lookup_elem(&cap_conf, &zero);

	return c ? c->port : 0;
}

static __always_inline __u32 cpu_bits(void)
{
	__u32 zero = 0;
	struct cap_conf *c = bpf_map_lookup_elem(&cap_conf, &zero);

	return c ? c->cpu_bits & 15 : 0;
}

static __always_inline bool is_v4mapped(const __u32 *a)
{
	return !a[0] && !a[1] && a[2] == bpf_htonl(0xffff);
}

/* Whether a (::ffff:v4 for IPv4) must stay direct: loopback, unspecified, multicast, excluded. */
static __always_inline bool stays_direct(const __u32 *a)
{
	struct cap_key k = { .prefixlen = 128 };

	if (is_v4mapped(a)) {
		__u32 h = bpf_ntohl(a[3]);

		if ((h >> 24) == 127 || !h || (h >> 28) == 0xe || h == 0xffffffffu)
			return true;
	} else {
		__u32 w0 = bpf_ntohl(a[0]);

		if (!a[0] && !a[1] && !a[2] && (!a[3] || a[3] == bpf_htonl(1)))
			return true; /* :: and ::1 */
		if ((w0 >> 24) == 0xff || (w0 >> 22) == (0xfe80 >> 6))
			return true; /* multicast, link-local */
	}
	k.addr[0] = a[0];
	k.addr[1] = a[1];
	k.addr[2] = a[2];
	k.addr[3] = a[3];
	return bpf_map_lookup_elem(&cap_exclude, &k);
}

/* The capture entry of the current process: its deepest captured cgroup, or its own. */
static __always_inline __u64 entry_of_current(void)
{
	__u64 entry = 0;

	for (int level = 0; level < CAP_LEVELS; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			break;
		if (bpf_map_lookup_elem(&cap_entries, &id))
			entry = id;
	}
	return entry ? entry : bpf_get_current_cgroup_id();
}

/* The slot of o, taken on first use (the previous holder's mapping dropped). */
static __always_inline int slot_for(struct cap_orig *o, __u32 *slot)
{
	struct cap_orig key = *o, *old;
	__u32 zero = 0, n, *s, *next;

	key.netns = 0;
	s = bpf_map_lookup_elem(&cap_of, &key);
	if (s) {
		*slot = *s;
		return 0;
	}
	next = bpf_map_lookup_elem(&cap_next, &zero);
	if (!next)
		return -1;
	n = ((*next)++ << cpu_bits() | bpf_get_smp_processor_id()) & CAP_SLOT_MASK;
	old = bpf_map_lookup_elem(&cap_slots, &n);
	if (old) {
		struct cap_orig gone = *old;

		gone.netns = 0;
		bpf_map_delete_elem(&cap_of, &gone);
	}
	if (bpf_map_update_elem(&cap_slots, &n, o, BPF_ANY) ||
	    bpf_map_update_elem(&cap_of, &key, &n, BPF_ANY))
		return -1;
	*slot = n;
	return 0;
}

/*
 * Decides for a connect or send to a (::ffff:v4 for IPv4) port (network
 * order): 0 leaves it alone, 1 rewrites it to *slot_ip (network order) at
 * the capture port, -1 refuses it.
 */
static __always_inline int decide(struct bpf_sock_addr *ctx, const __u32 *a, __u32 port,
				  __u32 *slot_ip)
{
	struct cap_orig o = {};
	struct cap_cg_count *cg;
	__u32 slot;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 0;
	if (bpf_map_lookup_elem(&cap_pids, &(__u32){ bpf_get_current_pid_tgid() >> 32 }))
		return 0;
	if (stays_direct(a)) {
		count(CAP_T_EXCLUDED);
		return 0;
	}
	if (!cap_port())
		goto refuse;
	o.addr[0] = a[0];
	o.addr[1] = a[1];
	o.addr[2] = a[2];
	o.addr[3] = a[3];
	o.port = (__u16)port;
	o.proto = (__u8)ctx->protocol;
	o.cgroup = entry_of_current();
	o.netns = bpf_get_netns_cookie(ctx);
	if (slot_for(&o, &slot))
		goto refuse;
	*slot_ip = bpf_htonl(CAP_SLOT_BASE | slot);
	count(o.proto == IPPROTO_TCP ? CAP_T_TCP : CAP_T_UDP);
	cg = bpf_map_lookup_elem(&cap_by_cgroup, &o.cgroup);
	if (!cg) {
		struct cap_cg_count zero = {};

		bpf_map_update_elem(&cap_by_cgroup, &o.cgroup, &zero, BPF_NOEXIST);
		cg = bpf_map_lookup_elem(&cap_by_cgroup, &o.cgroup);
	}
	if (cg)
		__sync_fetch_and_add(&cg->n[o.proto == IPPROTO_TCP ? 0 : 1], 1);
	return 1;
refuse:
	count(CAP_T_REFUSED);
	return -1;
}

static __always_inline int capture4(struct bpf_sock_addr *ctx)
{
	__u32 a[4] = { 0, 0, bpf_htonl(0xffff), ctx->user_ip4 }, ip;
	int d = decide(ctx, a, ctx->user_port, &ip);

	if (d > 0) {
		ctx->user_ip4 = ip;
		ctx->user_port = cap_port();
	}
	return d < 0 ? 0 : 1;
}

static __always_inline int capture6(struct bpf_sock_addr *ctx, bool may_map)
{
	__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	__u32 ip;
	int d = decide(ctx, a, ctx->user_port, &ip);

	if (d > 0 && !may_map)
		return 0; /* the kernel cannot send an IPv6 socket's datagram v4-mapped */
	if (d > 0) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0xffff);
		ctx->user_ip6[3] = ip;
		ctx->user_port = cap_port();
	}
	return d < 0 ? 0 : 1;
}

SEC("cgroup/connect4")
int cap_connect4(struct bpf_sock_addr *ctx)
{
	return capture4(ctx);
}

SEC("cgroup/sendmsg4")
int cap_sendmsg4(struct bpf_sock_addr *ctx)
{
	return capture4(ctx);
}

SEC("cgroup/connect6")
int cap_connect6(struct bpf_sock_addr *ctx)
{
	return capture6(ctx, true);
}

SEC("cgroup/sendmsg6")
int cap_sendmsg6(struct bpf_sock_addr *ctx)
{
	return capture6(ctx, false);
}

/* The original destination of slot address ip (network order) at port, or NULL. */
static __always_inline struct cap_orig *orig_of(__u32 ip, __u32 port)
{
	__u32 h = bpf_ntohl(ip), slot = h & CAP_SLOT_MASK;

	if ((h & ~CAP_SLOT_MASK) != CAP_SLOT_BASE || port != cap_port())
		return NULL;
	return bpf_map_lookup_elem(&cap_slots, &slot);
}

static __always_inline int unmap4(struct bpf_sock_addr *ctx)
{
	struct cap_orig *o = orig_of(ctx->user_ip4, ctx->user_port);

	if (o && is_v4mapped(o->addr)) {
		ctx->user_ip4 = o->addr[3];
		ctx->user_port = o->port;
	}
	return 1;
}

static __always_inline int unmap6(struct bpf_sock_addr *ctx)
{
	__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	struct cap_orig *o;

	if (!is_v4mapped(a))
		return 1;
	if (!(o = orig_of(a[3], ctx->user_port)))
		return 1;
	ctx->user_ip6[0] = o->addr[0];
	ctx->user_ip6[1] = o->addr[1];
	ctx->user_ip6[2] = o->addr[2];
	ctx->user_ip6[3] = o->addr[3];
	ctx->user_port = o->port;
	return 1;
}

SEC("cgroup/recvmsg4")
int cap_recvmsg4(struct bpf_sock_addr *ctx)
{
	return unmap4(ctx);
}

SEC("cgroup/recvmsg6")
int cap_recvmsg6(struct bpf_sock_addr *ctx)
{
	return unmap6(ctx);
}

SEC("cgroup/getpeername4")
int cap_getpeername4(struct bpf_sock_addr *ctx)
{
	return unmap4(ctx);
}

SEC("cgroup/getpeername6")
int cap_getpeername6(struct bpf_sock_addr *ctx)
{
	return unmap6(ctx);
}
