// SPDX-License-Identifier: MIT
/*
 * Steering for sslocal redir (see include/steer.h): what is installed and
 * how a change of the lists reaches the kernel (the routes and rules are
 * steer_nl.c, the nftables table steer_nft.c, the tries bpf_steer.c), this
 * host's addresses and subnets, and one owner per network namespace. The
 * lists themselves are user/config/steer_spec.c and steer_list.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "steer_impl.h"

struct steer {
	struct steer_params sp;
	struct steer_spec spec;   /* what the kernel holds */
	struct steer_list eff;    /* sk_lookup: the steered prefixes routed locally */
	struct bpf_steer *bpf;
	struct mnl_socket *watch; /* address events */
	int lock;                 /* steer_lock's fd */
	bool taken_over;          /* installed beside the predecessor's; the lock comes later */
};

/* ---- applying a change ------------------------------------------------------ */

static int list_copy(struct steer_list *dst, const struct steer_list *src)
{
	*dst = (struct steer_list){ 0 };
	if (!src->n)
		return 0;
	if (!(dst->p = malloc(src->n * sizeof(*src->p))))
		return -ENOMEM;
	memcpy(dst->p, src->p, src->n * sizeof(*src->p));
	dst->n = dst->cap = src->n;
	return 0;
}

static int spec_copy(struct steer_spec *dst, const struct steer_spec *src)
{
	*dst = *src;
	dst->steer = dst->exclude = (struct steer_list){ 0 };
	if (list_copy(&dst->steer, &src->steer) || list_copy(&dst->exclude, &src->exclude)) {
		steer_spec_free(dst);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Brings the kernel from st->spec to next, which st then holds (next is
 * emptied). The batches forgive what is already there or already gone, so
 * after an error the next change still converges.
 */
static int apply(struct steer *st, struct steer_spec *next, const char **why)
{
	struct steer_list eff;
	struct nl nl;
	int r;

	if (!st->sp.bpf) {
		r = nft_apply(&st->sp, next, why);
	} else if ((r = steer_effective(next, &eff))) {
		*why = "out of memory for the steering lists";
	} else {
		if ((r = bpf_steer_lists(st->bpf, &st->spec.steer, &st->spec.exclude, next)))
			*why = "cannot update the sk_lookup program's prefix tries";
		else if ((r = nl_open(&nl)))
			*why = "cannot open rtnetlink";
		else if ((r = nl_routes_update(&nl, st->sp.table, &st->eff, &st->spec.exclude, &eff,
					       &next->exclude), nl_close(&nl), r))
			*why = "cannot add the steering table's routes (rtnetlink)";
		free(st->eff.p);
		st->eff = eff;
	}
	steer_spec_free(&st->spec);
	st->spec = *next;
	*next = (struct steer_spec){ 0 };
	return r;
}

/* ---- this host's addresses ---------------------------------------------------- */

static int watch_open(struct steer *st)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		mnl_socket_close(nl);
		return r;
	}
	st->watch = nl;
	return 0;
}

/*
 * An address of this host, and (without --steer-iif) the subnet it is on:
 * the replies of a LAN client's forwarded connection are addressed to that
 * subnet, and must be forwarded, not delivered to us.
 */
static void exclude_addr(struct steer_spec *s, const struct steer_prefix *host, unsigned plen)
{
	struct steer_prefix net = *host;

	steer_add_exclude(s, host);
	if (s->niif || plen >= host->len || (host->family == AF_INET && host->addr[0] == 127))
		return;
	net.len = (uint8_t)plen;
	for (int bit = (int)plen; bit < (host->family == AF_INET ? 32 : 128); bit++)
		net.addr[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
	steer_add_exclude(s, &net);
}

static unsigned mask_len(const struct sockaddr *m)
{
	const uint8_t *b = m->sa_family == AF_INET ?
		(const uint8_t *)&((const struct sockaddr_in *)m)->sin_addr :
		((const struct sockaddr_in6 *)m)->sin6_addr.s6_addr;
	unsigned n = 0, len = m->sa_family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < len; i++)
		n += (unsigned)__builtin_popcount(b[i]);
	return n;
}

/* Loopback, this host's addresses and their subnets join s's exclusions. */
static void exclude_own(struct steer_spec *s)
{
	struct ifaddrs *ifa, *i;
	struct steer_prefix p;

	steer_parse_prefix("127.0.0.0/8", &p);
	steer_add_exclude(s, &p);
	steer_parse_prefix("::1/128", &p);
	steer_add_exclude(s, &p);
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && steer_host_prefix(i->ifa_addr, &p))
			exclude_addr(s, &p, i->ifa_netmask && i->ifa_netmask->sa_family ==
				     i->ifa_addr->sa_family ? mask_len(i->ifa_netmask) : p.len);
	freeifaddrs(ifa);
}

/* A new address of this host (and its subnet), once steering is in place. */
static void exclude_new(struct steer *st, const struct steer_prefix *host, unsigned plen)
{
	struct steer_spec next;
	const char *why = "";
	char a[80];
	int r;

	if (spec_copy(&next, &st->spec)) {
		log_warn("steering: out of memory for a new address of this host");
		return;
	}
	exclude_addr(&next, host, plen);
	if (next.exclude.n == st->spec.exclude.n &&
	    !memcmp(next.exclude.p, st->spec.exclude.p, next.exclude.n * sizeof(*next.exclude.p))) {
		steer_spec_free(&next);
		return;
	}
	steer_prefix_str(host, a, sizeof(a));
	if ((r = apply(st, &next, &why)))
		log_warn("steering: cannot exclude %s, a new address of this host: %s (%s)", a,
			 why, strerror(-r));
	else
		log_info("steering: %s is a new address of this host; excluded (its subnet too: "
			 "prefix length %u)", a, plen);
}

static int on_addr_event(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *local = NULL, *addr = NULL, *at;
	struct steer_prefix p = { .family = ifa->ifa_family };
	size_t len = p.family == AF_INET ? 4 : p.family == AF_INET6 ? 16 : 0;

	if (nlh->nlmsg_type != RTM_NEWADDR || !len)
		return MNL_CB_OK;
	mnl_attr_for_each(at, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(at) == IFA_LOCAL)
			local = at;
		else if (mnl_attr_get_type(at) == IFA_ADDRESS)
			addr = at;
	}
	/* IPv4 point-to-point links put the peer in IFA_ADDRESS; ours is IFA_LOCAL. */
	at = local ? local : addr;
	if (!at || mnl_attr_get_payload_len(at) != len)
		return MNL_CB_OK;
	memcpy(p.addr, mnl_attr_get_payload(at), len);
	p.len = (uint8_t)(len * 8);
	exclude_new(data, &p, ifa->ifa_prefixlen);
	return MNL_CB_OK;
}

int steer_watch_fd(const struct steer *s)
{
	return s && s->watch ? mnl_socket_get_fd(s->watch) : -1;
}

void steer_watch_read(struct steer *s)
{
	char buf[8192];
	ssize_t n;

	while ((n = mnl_socket_recvfrom(s->watch, buf, sizeof(buf))) > 0)
		mnl_cb_run(buf, (size_t)n, 0, 0, on_addr_event, s);
	if (n < 0 && errno == ENOBUFS) {
		struct steer_spec next;
		const char *why = "";

		log_warn("steering: address events overran; reading this host's addresses again");
		if (!spec_copy(&next, &s->spec)) {
			exclude_own(&next);
			if (apply(s, &next, &why))
				log_warn("steering: %s", why);
		}
	}
}

/* ---- one owner per network namespace ------------------------------------ */

/*
 * The lock file of this network namespace: /run/ssbpf/steer-INODE.lock (the
 * namespace's inode), or in /tmp where /run/ssbpf cannot be made.
 */
static int lock_path(char *buf, size_t len)
{
	const char *dir = "/run/ssbpf";
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return -errno;
	if (mkdir(dir, 0755) && errno != EEXIST)
		dir = "/tmp";
	snprintf(buf, len, "%s/steer-%lu.lock", dir, (unsigned long)st.st_ino);
	return 0;
}

int steer_lock(int *owner)
{
	char path[96], pid[24];
	ssize_t n;
	int fd, r;

	*owner = 0;
	if ((r = lock_path(path, sizeof(path))))
		return r;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (r == -EBUSY && (n = pread(fd, pid, sizeof(pid) - 1, 0)) > 0) {
			pid[n] = 0;
			*owner = atoi(pid);
		}
		close(fd);
		return r;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
		log_debug("steering: cannot write the owner into %s: %s", path, strerror(errno));
	return fd;
}

/* ---- install / reload / remove --------------------------------------------------- */

static void log_installed(const struct steer *st, const char *what)
{
	const struct steer_spec *s = &st->spec;

	log_info("steering (%s) %s: %zu prefixes, %zu exclusions (%zu from files, %zu from the "
		 "ACL, this host's addresses%s), %s%s, to port %u; table %u, rules at priority "
		 "%u-%u%s", st->sp.bpf ? "sk_lookup" : "nftables TPROXY", what, s->steer.n,
		 s->exclude.n, s->from_files, s->from_acl, s->niif ? "" : " and subnets",
		 s->nports ? "selected ports" : "every port", s->niif ? " from the named interfaces" : "",
		 st->sp.port, st->sp.table, STEER_RULE_PRIO, STEER_RULE_PRIO + 2,
		 st->sp.bpf ? "" : ", nft table inet " STEER_NFT_TABLE);
}

/* Is pid the upgrade's predecessor, or one of its workers? */
static bool of_predecessor(int pid, int predecessor)
{
	pid_t ppid;

	if (!predecessor || pid == predecessor)
		return predecessor != 0;
	return !proc_stat_of(pid, NULL, &ppid) && ppid == predecessor;
}

/* The lock, the address watch, the leftovers of a crash; then the BPF program, if any. */
static int prepare(struct steer *st, const struct steer_spec *next, const char **why)
{
	int r, left = 0, owner;

	/* An upgrade: the predecessor's steering stays; this one goes in beside it. */
	if ((st->lock = steer_lock(&owner)) == -EBUSY && of_predecessor(owner, st->sp.predecessor)) {
		log_info("steering: taking over from pid %d (an upgrade); its rules stay in place",
			 owner);
		st->taken_over = true;
		st->lock = -1;
	} else if (st->lock < 0) {
		/* A live daemon's steering is not a leftover: never replace it. */
		r = st->lock;
		*why = r == -EBUSY ? "another sslocal steers this network namespace (see the line above)" :
				     "cannot take the steering lock";
		if (r == -EBUSY)
			log_err("steering: sslocal pid %d already steers this network namespace; "
				"stop it first (its SIGTERM removes its rules)", owner);
		return r;
	}
	/* Subscribed before reading the addresses, so none added meanwhile is missed. */
	if ((r = watch_open(st)))
		log_warn("steering: cannot watch this host's addresses (%s); one added later "
			 "will not be excluded until a restart", strerror(-r));
	/* Leftovers of a crashed run would duplicate or contradict ours. */
	if (!st->taken_over)
		left = steer_cleanup(st->sp.table, false);
	if (left > 0)
		log_info("steering: removed %d leftover rules/routes/tables of an earlier run", left);
	return st->sp.bpf ? bpf_steer_open(&st->bpf, next, st->sp.tcp_fd, st->sp.udp_fd, why) : 0;
}

int steer_install(struct steer **out, const struct steer_params *sp, const char **why)
{
	struct steer *st = calloc(1, sizeof(*st));
	struct steer_spec next = *sp->spec;
	struct nl nl;
	int r;

	*out = NULL;
	*sp->spec = (struct steer_spec){ 0 };
	if (!st) {
		steer_spec_free(&next);
		*why = "out of memory";
		return -ENOMEM;
	}
	st->sp = *sp;
	st->sp.spec = &st->spec;
	st->lock = -1;
	/* Ports and interfaces are there from the start: the rules need them. */
	memcpy(st->spec.ports, next.ports, sizeof(next.ports));
	st->spec.nports = next.nports;
	memcpy(st->spec.iif, next.iif, sizeof(next.iif));
	st->spec.niif = next.niif;
	exclude_own(&next);
	if ((r = prepare(st, &next, why)) || (r = apply(st, &next, why)))
		goto fail;
	if ((r = nl_open(&nl))) {
		*why = "cannot open rtnetlink";
		goto fail;
	}
	r = nl_install_rules(&nl, &st->sp, &st->spec);
	nl_close(&nl);
	if (r) {
		*why = "cannot add the policy routing rules (rtnetlink)";
		goto fail;
	}
	log_installed(st, "installed");
	*out = st;
	return 0;
fail:
	steer_spec_free(&next);
	steer_remove(st);
	return r;
}

int steer_reload(struct steer *st, struct steer_spec *spec, const char **why)
{
	size_t was_steer = st->spec.steer.n, was_exclude = st->spec.exclude.n;
	int r;

	if (spec->nports != st->spec.nports || spec->niif != st->spec.niif ||
	    memcmp(spec->ports, st->spec.ports, sizeof(spec->ports)) ||
	    memcmp(spec->iif, st->spec.iif, sizeof(spec->iif)))
		log_warn("steering: --steer-ports and --steer-iif keep their start-up values "
			 "until a restart");
	memcpy(spec->ports, st->spec.ports, sizeof(spec->ports));
	spec->nports = st->spec.nports;
	memcpy(spec->iif, st->spec.iif, sizeof(spec->iif));
	spec->niif = st->spec.niif;
	exclude_own(spec);
	if ((r = apply(st, spec, why)))
		return r;
	log_installed(st, "reloaded");
	log_info("steering: %zu prefixes were steered and %zu excluded before", was_steer,
		 was_exclude);
	return 0;
}

void steer_tick(struct steer *s)
{
	int owner;

	if (!s || !s->taken_over || (s->lock = steer_lock(&owner)) < 0)
		return;
	s->taken_over = false;
	log_info("steering: the process it replaced is gone; this one owns the steering");
}

static void let_go(struct steer *s, bool remove)
{
	if (!s)
		return;
	if (s->watch)
		mnl_socket_close(s->watch);
	if (s->bpf)
		bpf_steer_close(s->bpf);
	if (s->lock >= 0) {
		if (remove)
			steer_cleanup(s->sp.table, false);
		close(s->lock);
	}
	steer_spec_free(&s->spec);
	free(s->eff.p);
	free(s);
}

void steer_remove(struct steer *s)
{
	let_go(s, true);
}

void steer_leave(struct steer *s)
{
	if (s)
		log_info("steering: left in place for the process that replaced this one");
	let_go(s, false);
}

int steer_cleanup(uint32_t table, bool verbose)
{
	struct nl nl;
	int n = 0, r;

	if (nft_remove() > 0) {
		n++;
		if (verbose)
			printf("removed nft table inet %s\n", STEER_NFT_TABLE);
	}
	if ((r = nl_open(&nl)))
		return n ? n : r;
	r = nl_remove(&nl, table);
	nl_close(&nl);
	if (verbose && r)
		printf("removed %d policy routing rules and routes (priority %u-%u, table %u)\n", r,
		       STEER_RULE_PRIO, STEER_RULE_PRIO + 2, table);
	return n + r;
}

void steer_get_stats(const struct steer *s, struct steer_stats *out)
{
	*out = (struct steer_stats){ .mode = s->sp.bpf ? "sk_lookup" : "nftables",
				     .steer = s->spec.steer.n, .exclude = s->spec.exclude.n,
				     .from_files = s->spec.from_files, .from_acl = s->spec.from_acl };
	if (s->bpf)
		bpf_steer_counts(s->bpf, &out->steered_tcp, &out->steered_udp);
}
