// SPDX-License-Identifier: MIT
/*
 * Steering for sslocal redir (see include/steer.h): policy routing through
 * rtnetlink (libmnl), the nftables TPROXY fallback through the nft program
 * (one atomic transaction per change), this host's address changes, and one
 * owner per network namespace. The prefix and port lists are steer_spec.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sbuf.h"
#include "steer.h"

struct steer {
	struct steer_params sp;
	struct steer_spec spec;
	struct bpf_steer *bpf;
	struct mnl_socket *watch; /* address events */
	int lock;                 /* steer_lock's fd */
};

/* ---- rtnetlink ---------------------------------------------------------- */

struct nl {
	struct mnl_socket *sock;
	unsigned seq, portid;
	char buf[16384];
};

static int nl_open(struct nl *nl)
{
	nl->sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		if (nl->sock)
			mnl_socket_close(nl->sock);
		return r;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned)time(NULL);
	return 0;
}

/* Sends one request and waits for its acknowledgement; 0 or -errno. */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh)
{
	int n;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = (int)mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
	if (n < 0)
		return -errno;
	return mnl_cb_run(nl->buf, (size_t)n, nl->seq, nl->portid, NULL, NULL) < 0 ? -errno : 0;
}

/* A policy rule: "[iif lo] [to prefix] [dport lo-hi] [fwmark m] lookup table" at prio. */
struct rule {
	int family;
	uint32_t prio, table, mark;
	const struct steer_prefix *to;
	uint16_t dlo, dhi;
	bool iif_lo;
};

/* A request of type with flags in buf (*nlh); returns its family header, len bytes. */
static void *nl_request(char *buf, int type, unsigned flags, size_t len, struct nlmsghdr **nlh)
{
	*nlh = mnl_nlmsg_put_header(buf);
	(*nlh)->nlmsg_type = (uint16_t)type;
	(*nlh)->nlmsg_flags = (uint16_t)flags;
	return mnl_nlmsg_put_extra_header(*nlh, len);
}

static int rule_msg(struct nl *nl, int type, unsigned flags, const struct rule *ru)
{
	char buf[512];
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh = nl_request(buf, type, flags, sizeof(*frh), &nlh);

	frh->family = (uint8_t)ru->family;
	frh->action = type == RTM_NEWRULE ? FR_ACT_TO_TBL : FR_ACT_UNSPEC;
	frh->table = RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, ru->prio);
	if (type == RTM_NEWRULE) {
		mnl_attr_put_u32(nlh, FRA_TABLE, ru->table);
		if (ru->to) {
			frh->dst_len = ru->to->len;
			mnl_attr_put(nlh, FRA_DST, ru->family == AF_INET ? 4 : 16, ru->to->addr);
		}
		if (ru->mark) {
			mnl_attr_put_u32(nlh, FRA_FWMARK, ru->mark);
			mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffff);
		}
		if (ru->iif_lo)
			mnl_attr_put_strz(nlh, FRA_IIFNAME, "lo");
		if (ru->dlo) {
			struct fib_rule_port_range pr = { ru->dlo, ru->dhi };

			mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof(pr), &pr);
		}
	}
	return nl_talk(nl, nlh);
}

/* "local default dev lo table T" for one family. */
static int route_msg(struct nl *nl, int type, unsigned flags, int family, uint32_t table)
{
	char buf[256];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm = nl_request(buf, type, flags, sizeof(*rtm), &nlh);

	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_table = RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_HOST;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put_u32(nlh, RTA_OIF, if_nametoindex("lo"));
	return nl_talk(nl, nlh);
}

static const int families[] = { AF_INET, AF_INET6 };

/* Deletes the routes and every rule at our priorities; returns how many. */
static int nl_remove(struct nl *nl, uint32_t table)
{
	int n = 0;

	for (int f = 0; f < 2; f++) {
		for (uint32_t prio = STEER_RULE_PRIO; prio <= STEER_RULE_PRIO + 2; prio++) {
			struct rule ru = { .family = families[f], .prio = prio };

			/* Bounded: a rule deleted per round, never more than we could add. */
			for (int i = 0; i < 4 * STEER_MAX * STEER_MAX + 8; i++) {
				if (rule_msg(nl, RTM_DELRULE, 0, &ru))
					break;
				n++;
			}
		}
		if (!route_msg(nl, RTM_DELROUTE, 0, families[f], table))
			n++;
	}
	return n;
}

static int nl_add_rule(struct nl *nl, const struct rule *ru)
{
	int r = rule_msg(nl, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, ru);

	return r == -EEXIST ? 0 : r;
}

/*
 * BPF steering: locally generated traffic keeps the main table, excluded
 * prefixes too; steered prefixes (per port range) are delivered locally.
 * nft steering: packets marked by the TPROXY rule are delivered locally.
 */
static int nl_install(struct nl *nl, const struct steer_params *sp, const struct steer_spec *s)
{
	int r;

	for (int f = 0; f < 2; f++) {
		int fam = families[f];

		if ((r = route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, fam, sp->table)) &&
		    r != -EEXIST)
			return r;
		if (!sp->bpf) {
			struct rule ru = { .family = fam, .prio = STEER_RULE_PRIO, .table = sp->table,
					   .mark = sp->mark };

			if ((r = nl_add_rule(nl, &ru)))
				return r;
			continue;
		}
		struct rule lo = { .family = fam, .prio = STEER_RULE_PRIO, .table = RT_TABLE_MAIN,
				   .iif_lo = true };

		if ((r = nl_add_rule(nl, &lo)))
			return r;
		for (int i = 0; i < s->nexclude; i++) {
			struct rule ru = { .family = fam, .prio = STEER_RULE_PRIO + 1,
					   .table = RT_TABLE_MAIN, .to = &s->exclude[i] };

			if (s->exclude[i].family == fam && (r = nl_add_rule(nl, &ru)))
				return r;
		}
		for (int i = 0; i < s->nsteer; i++) {
			if (s->steer[i].family != fam)
				continue;
			for (int j = 0; j < (s->nports ? s->nports : 1); j++) {
				struct rule ru = { .family = fam, .prio = STEER_RULE_PRIO + 2,
						   .table = sp->table, .to = &s->steer[i] };

				if (s->nports) {
					ru.dlo = s->ports[j].lo;
					ru.dhi = s->ports[j].hi;
				}
				if ((r = nl_add_rule(nl, &ru)))
					return r;
			}
		}
	}
	return 0;
}

/* ---- nftables ----------------------------------------------------------- */

/* Runs "nft -f -" with script on its standard input; 0 or -EIO (output logged). */
static int nft_run(const char *script, bool quiet)
{
	int in[2], st;
	pid_t pid;

	if (pipe(in))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[0]);
		close(in[1]);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 2);
			dup2(null, 1);
		}
		execlp("nft", "nft", "-f", "-", (char *)NULL);
		fprintf(stderr, "cannot run nft: %s\n", strerror(errno));
		_exit(127);
	}
	close(in[0]);
	size_t len = strlen(script), off = 0;

	while (off < len) {
		ssize_t w = write(in[1], script + off, len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(in[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -ENOENT;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static void nft_set(struct sbuf *b, const char *name, const char *type,
		    const struct steer_prefix *px, int n, int family)
{
	char a[80];
	bool first = true;

	sbuf_printf(b, "\tset %s { type %s; flags interval; auto-merge; ", name, type);
	for (int i = 0; i < n; i++) {
		if (px[i].family != family)
			continue;
		sbuf_printf(b, "%s%s", first ? "elements = { " : ", ", steer_prefix_str(&px[i], a, sizeof(a)));
		first = false;
	}
	sbuf_printf(b, "%s}\n", first ? "" : " } ");
}

/* The whole table, replacing any earlier one in the same transaction. */
static char *nft_script(const struct steer_params *sp, const struct steer_spec *s)
{
	struct sbuf b = { 0 };

	sbuf_printf(&b, "table inet " STEER_NFT_TABLE "\ndelete table inet " STEER_NFT_TABLE "\n"
		  "table inet " STEER_NFT_TABLE " {\n");
	nft_set(&b, "steer4", "ipv4_addr", s->steer, s->nsteer, AF_INET);
	nft_set(&b, "steer6", "ipv6_addr", s->steer, s->nsteer, AF_INET6);
	nft_set(&b, "exclude4", "ipv4_addr", s->exclude, s->nexclude, AF_INET);
	nft_set(&b, "exclude6", "ipv6_addr", s->exclude, s->nexclude, AF_INET6);
	sbuf_printf(&b, "\tset ports { type inet_service; flags interval; elements = { ");
	if (!s->nports)
		sbuf_printf(&b, "1-65535");
	for (int i = 0; i < s->nports; i++)
		sbuf_printf(&b, "%s%u-%u", i ? ", " : "", s->ports[i].lo, s->ports[i].hi);
	sbuf_printf(&b, " } }\n"
		  "\tchain prerouting {\n"
		  "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
		  "\t\tiif \"lo\" return\n"
		  "\t\tfib daddr type local return\n"
		  "\t\tip daddr @exclude4 return\n"
		  "\t\tip6 daddr @exclude6 return\n");
	for (int v6 = 0; v6 < 2; v6++)
		for (int udp = 0; udp < 2; udp++)
			if ((udp ? sp->udp_fd : sp->tcp_fd) >= 0)
				sbuf_printf(&b, "\t\tmeta l4proto %s %s daddr @steer%c th dport @ports "
					  "tproxy %s to :%u meta mark set 0x%x accept\n",
					  udp ? "udp" : "tcp", v6 ? "ip6" : "ip", v6 ? '6' : '4',
					  v6 ? "ip6" : "ip", sp->port, sp->mark);
	sbuf_printf(&b, "\t}\n}\n");
	if (b.failed) {
		sbuf_free(&b);
		return NULL;
	}
	return b.p;
}

static const char nft_delete[] = "table inet " STEER_NFT_TABLE "\n"
				 "delete table inet " STEER_NFT_TABLE "\n";

/* 1 if our nft table exists, 0 if not, -errno if nft cannot tell. */
static int nft_table_exists(void)
{
	static const char probe[] = "list table inet " STEER_NFT_TABLE "\n";

	int r = nft_run(probe, true);
	return r == 0 ? 1 : r == -EIO ? 0 : r;
}

/* ---- address watch -------------------------------------------------------- */

/*
 * sk_lookup steering only: nft steering skips local addresses with "fib
 * daddr type local", which follows address changes by itself.
 */
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
 * An address of this host joins the exclusions. Once the sk_lookup steering
 * is in place (an address that appears later), it also goes into the
 * excluded trie and gets an ip rule like the others.
 */
static void exclude_host(struct steer *st, const struct steer_prefix *p)
{
	struct rule ru = { .family = p->family, .prio = STEER_RULE_PRIO + 1,
			   .table = RT_TABLE_MAIN, .to = p };
	struct nl nl;
	char a[80];
	int r;

	if (!steer_add_exclude(&st->spec, p) || !st->bpf)
		return;
	steer_prefix_str(p, a, sizeof(a));
	if (!(r = bpf_steer_exclude(st->bpf, p)) && !(r = nl_open(&nl))) {
		r = nl_add_rule(&nl, &ru);
		mnl_socket_close(nl.sock);
	}
	if (r)
		log_warn("steering: cannot exclude %s, a new address of this host: %s", a,
			 strerror(-r));
	else
		log_info("steering: %s is a new address of this host; excluded", a);
}

/* This host's own addresses and loopback are never steered. */
static void exclude_own(struct steer *st)
{
	struct ifaddrs *ifa, *i;
	struct steer_prefix p;

	steer_parse_prefix("127.0.0.0/8", &p);
	exclude_host(st, &p);
	steer_parse_prefix("::1/128", &p);
	exclude_host(st, &p);
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && steer_host_prefix(i->ifa_addr, &p))
			exclude_host(st, &p);
	freeifaddrs(ifa);
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
	exclude_host(data, &p);
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
		log_warn("steering: address events overran; reading this host's addresses again");
		exclude_own(s);
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

/* ---- install / remove ----------------------------------------------------- */

int steer_install(struct steer **out, const struct steer_params *sp, const char **why)
{
	struct steer *st = calloc(1, sizeof(*st));
	struct nl nl;
	char *script = NULL;
	int r, left, owner;

	*out = NULL;
	if (!st) {
		*why = "out of memory";
		return -ENOMEM;
	}
	st->sp = *sp;
	st->spec = *sp->spec;
	st->sp.spec = &st->spec;
	/* A live daemon's steering is not a leftover: never replace it. */
	if ((st->lock = steer_lock(&owner)) < 0) {
		r = st->lock;
		*why = r == -EBUSY ? "another sslocal steers this network namespace (see the line above)" :
				     "cannot take the steering lock";
		if (r == -EBUSY)
			log_err("steering: sslocal pid %d already steers this network namespace; "
				"stop it first (its SIGTERM removes its rules)", owner);
		free(st);
		return r;
	}
	/* Subscribed before reading the addresses, so none added meanwhile is missed. */
	if (sp->bpf && (r = watch_open(st)))
		log_warn("steering: cannot watch this host's addresses (%s); one added later "
			 "will not be excluded until a restart", strerror(-r));
	exclude_own(st);
	/* Leftovers of a crashed run would duplicate or contradict ours. */
	left = steer_cleanup(sp->table, false);
	if (left > 0)
		log_info("steering: removed %d leftover rules/routes/tables of an earlier run", left);
	if (sp->bpf) {
		if ((r = bpf_steer_open(&st->bpf, &st->spec, sp->tcp_fd, sp->udp_fd, why)))
			goto fail;
	} else {
		if (!(script = nft_script(sp, &st->spec))) {
			*why = "out of memory for the nft rule set";
			r = -ENOMEM;
			goto fail;
		}
		if ((r = nft_run(script, false))) {
			*why = r == -ENOENT ? "the nft program is not installed (Debian: nftables)" :
					      "nft refused the TPROXY rules (see its message above)";
			goto fail;
		}
	}
	if ((r = nl_open(&nl))) {
		*why = "cannot open rtnetlink";
		goto fail;
	}
	r = nl_install(&nl, sp, &st->spec);
	mnl_socket_close(nl.sock);
	if (r) {
		*why = "cannot add the policy routing rules (rtnetlink)";
		goto fail;
	}
	free(script);
	log_info("steering (%s): %d prefixes, %d exclusions, %s, to port %u; table %u, rules at "
		 "priority %u-%u%s", sp->bpf ? "sk_lookup" : "nftables TPROXY", st->spec.nsteer,
		 st->spec.nexclude, st->spec.nports ? "selected ports" : "every port", sp->port,
		 sp->table, STEER_RULE_PRIO, STEER_RULE_PRIO + 2, sp->bpf ? "" : ", nft table inet "
		 STEER_NFT_TABLE);
	*out = st;
	return 0;
fail:
	free(script);
	steer_remove(st);
	return r;
}

void steer_remove(struct steer *s)
{
	if (!s)
		return;
	if (s->watch)
		mnl_socket_close(s->watch);
	if (s->bpf)
		bpf_steer_close(s->bpf);
	steer_cleanup(s->sp.table, false);
	close(s->lock);
	free(s);
}

int steer_cleanup(uint32_t table, bool verbose)
{
	struct nl nl;
	int n = 0, r;

	if ((r = nft_table_exists()) > 0) {
		if (!nft_run(nft_delete, true)) {
			n++;
			if (verbose)
				printf("removed nft table inet %s\n", STEER_NFT_TABLE);
		}
	}
	if ((r = nl_open(&nl)))
		return n ? n : r;
	r = nl_remove(&nl, table);
	mnl_socket_close(nl.sock);
	if (verbose && r)
		printf("removed %d policy routing rules and routes (priority %u-%u, table %u)\n", r,
		       STEER_RULE_PRIO, STEER_RULE_PRIO + 2, table);
	return n + r;
}
