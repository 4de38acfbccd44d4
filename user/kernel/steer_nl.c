// SPDX-License-Identifier: MIT
/*
 * Steering's rtnetlink side (libmnl): the policy rules, and the routes of
 * the steering table, sent in batches (a list of 10^5 prefixes is 10^5
 * routes: one round trip per few hundred of them, not per route).
 */
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "steer_impl.h"

#define BATCH_BYTES (32u << 10)
/* Each acknowledgement is an skb of its own (about 1 KiB of receive buffer). */
#define BATCH_MSGS 128

int nl_open(struct nl *nl)
{
	int one = 1;

	nl->sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		if (nl->sock)
			mnl_socket_close(nl->sock);
		return r;
	}
	/* An error's answer carries the request's header only, not the whole request. */
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	/* A batch's answers never overrun the receive buffer (which would lose them). */
	setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVBUF, &(int){ 1 << 20 },
		   sizeof(int));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned)time(NULL);
	return 0;
}

void nl_close(struct nl *nl)
{
	mnl_socket_close(nl->sock);
}

/*
 * Requests queued in buf, sent together; each is acknowledged. An error
 * that forgiven() forgives (EEXIST on add, ENOENT/ESRCH on delete) is not one.
 */
struct batch {
	struct nl *nl;
	char *buf;
	size_t len;
	unsigned sent;
	int err;
};

static bool forgiven(int type, int err)
{
	if (type == RTM_NEWROUTE || type == RTM_NEWRULE)
		return err == -EEXIST;
	/* A rule deletion's ENOENT is the answer "none left" (nl_remove). */
	return type == RTM_DELROUTE && (err == -ENOENT || err == -ESRCH);
}

static int batch_flush(struct batch *b)
{
	struct nl *nl = b->nl;
	unsigned acked = 0;

	if (!b->sent)
		return b->err;
	if (mnl_socket_sendto(nl->sock, b->buf, b->len) < 0)
		return b->err = -errno;
	while (acked < b->sent) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		const struct nlmsghdr *h = (const struct nlmsghdr *)nl->buf;
		int left = (int)n;

		if (n <= 0)
			return b->err = n ? -errno : -EIO;
		for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			acked++;
			if (e->error && !forgiven(e->msg.nlmsg_type, e->error) && !b->err)
				b->err = e->error;
		}
	}
	b->len = b->sent = 0;
	return b->err;
}

/* Room for one more request of up to 512 bytes; returns where to build it. */
static char *batch_room(struct batch *b)
{
	if (b->len + 512 > BATCH_BYTES || b->sent >= BATCH_MSGS)
		batch_flush(b);
	return b->buf + b->len;
}

static void batch_queued(struct batch *b, struct nlmsghdr *nlh)
{
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++b->nl->seq;
	b->len += MNL_ALIGN(nlh->nlmsg_len);
	b->sent++;
}

static int batch_start(struct batch *b, struct nl *nl)
{
	*b = (struct batch){ .nl = nl, .buf = malloc(BATCH_BYTES) };
	return b->buf ? 0 : -ENOMEM;
}

static int batch_end(struct batch *b)
{
	int r = batch_flush(b);

	free(b->buf);
	return r;
}

/* A request of type with flags at buf (*nlh); returns its family header, len bytes. */
static void *nl_request(char *buf, int type, unsigned flags, size_t len, struct nlmsghdr **nlh)
{
	*nlh = mnl_nlmsg_put_header(buf);
	(*nlh)->nlmsg_type = (uint16_t)type;
	(*nlh)->nlmsg_flags = (uint16_t)flags;
	return mnl_nlmsg_put_extra_header(*nlh, len);
}

/* A policy rule: "[iif X] [dport lo-hi] [fwmark m] lookup table" at prio. */
struct rule {
	int family;
	uint32_t prio, table, mark;
	uint16_t dlo, dhi;
	const char *iif;
};

static void rule_put(struct batch *b, int type, unsigned flags, const struct rule *ru)
{
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh = nl_request(batch_room(b), type, flags, sizeof(*frh), &nlh);

	frh->family = (uint8_t)ru->family;
	frh->action = type == RTM_NEWRULE ? FR_ACT_TO_TBL : FR_ACT_UNSPEC;
	frh->table = RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, ru->prio);
	if (type == RTM_NEWRULE) {
		mnl_attr_put_u32(nlh, FRA_TABLE, ru->table);
		if (ru->mark) {
			mnl_attr_put_u32(nlh, FRA_FWMARK, ru->mark);
			mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffff);
		}
		if (ru->iif)
			mnl_attr_put_strz(nlh, FRA_IIFNAME, ru->iif);
		if (ru->dlo) {
			struct fib_rule_port_range pr = { ru->dlo, ru->dhi };

			mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof(pr), &pr);
		}
	}
	batch_queued(b, nlh);
}

/* A route of table: "local PREFIX dev lo", "throw PREFIX", or (p NULL) "local default dev lo". */
static void route_put(struct batch *b, int type, uint32_t table, int rtype, int family,
		      const struct steer_prefix *p)
{
	unsigned flags = type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_EXCL : 0;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm = nl_request(batch_room(b), type, flags, sizeof(*rtm), &nlh);

	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_table = RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = rtype == RTN_LOCAL ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = (uint8_t)rtype;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (p) {
		rtm->rtm_dst_len = p->len;
		mnl_attr_put(nlh, RTA_DST, family == AF_INET ? 4 : 16, p->addr);
	}
	if (rtype == RTN_LOCAL)
		mnl_attr_put_u32(nlh, RTA_OIF, if_nametoindex("lo"));
	batch_queued(b, nlh);
}

static const int families[] = { AF_INET, AF_INET6 };

static void rules_put(struct batch *b, const struct steer_params *sp, const struct steer_spec *s,
		      int fam)
{
	struct rule lo = { .family = fam, .prio = STEER_RULE_PRIO, .table = RT_TABLE_MAIN,
			   .iif = "lo" };
	int niif = s->niif ? s->niif : 1, nports = s->nports ? s->nports : 1;

	if (!sp->bpf) {
		struct rule ru = { .family = fam, .prio = STEER_RULE_PRIO, .table = sp->table,
				   .mark = sp->mark };

		route_put(b, RTM_NEWROUTE, sp->table, RTN_LOCAL, fam, NULL);
		rule_put(b, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, &ru);
		return;
	}
	/* Locally generated traffic keeps the main table. */
	rule_put(b, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, &lo);
	for (int i = 0; i < niif; i++)
		for (int j = 0; j < nports; j++) {
			struct rule ru = { .family = fam, .prio = STEER_RULE_PRIO + 2,
					   .table = sp->table, .iif = s->niif ? s->iif[i] : NULL };

			if (s->nports) {
				ru.dlo = s->ports[j].lo;
				ru.dhi = s->ports[j].hi;
			}
			rule_put(b, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, &ru);
		}
}

int nl_install_rules(struct nl *nl, const struct steer_params *sp, const struct steer_spec *s)
{
	struct batch b;
	int r;

	if ((r = batch_start(&b, nl)))
		return r;
	for (int f = 0; f < 2; f++)
		rules_put(&b, sp, s, families[f]);
	return batch_end(&b);
}

struct routes_op {
	struct batch *b;
	uint32_t table;
	int type, rtype;
};

static int route_one(void *arg, const struct steer_prefix *p)
{
	struct routes_op *o = arg;

	route_put(o->b, o->type, o->table, o->rtype, p->family, p);
	return 0;
}

int nl_routes_update(struct nl *nl, uint32_t table, const struct steer_list *old_eff,
		     const struct steer_list *old_exclude, const struct steer_list *eff,
		     const struct steer_list *exclude)
{
	struct batch b;
	struct routes_op add_throw = { &b, table, RTM_NEWROUTE, RTN_THROW },
			 add_local = { &b, table, RTM_NEWROUTE, RTN_LOCAL },
			 del_local = { &b, table, RTM_DELROUTE, RTN_LOCAL },
			 del_throw = { &b, table, RTM_DELROUTE, RTN_THROW };
	int r;

	if ((r = batch_start(&b, nl)))
		return r;
	/* Each phase is flushed before the next: the kernel sees them in this order. */
	steer_list_each_new(exclude, old_exclude, route_one, &add_throw);
	batch_flush(&b);
	steer_list_each_new(eff, old_eff, route_one, &add_local);
	batch_flush(&b);
	steer_list_each_new(old_eff, eff, route_one, &del_local);
	batch_flush(&b);
	steer_list_each_new(old_exclude, exclude, route_one, &del_throw);
	return batch_end(&b);
}

/* ---- removal ---------------------------------------------------------------- */

struct dump {
	struct steer_list local, thr; /* the table's routes, by type */
	uint32_t table;
	int r;
};

/* A route of the dumped table: kept for deletion after the dump. */
static int on_route(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *at;
	struct steer_prefix p = { .family = rtm->rtm_family, .len = rtm->rtm_dst_len };
	uint32_t table = rtm->rtm_table;

	mnl_attr_for_each(at, nlh, sizeof(*rtm)) {
		if (mnl_attr_get_type(at) == RTA_TABLE)
			table = mnl_attr_get_u32(at);
		else if (mnl_attr_get_type(at) == RTA_DST && mnl_attr_get_payload_len(at) <= 16)
			memcpy(p.addr, mnl_attr_get_payload(at), mnl_attr_get_payload_len(at));
	}
	if (table == d->table && !d->r)
		d->r = steer_list_add(rtm->rtm_type == RTN_THROW ? &d->thr : &d->local, &p);
	return MNL_CB_OK;
}

/* Dumps one family's routes, keeping those of d->table. */
static int dump_routes(struct nl *nl, struct dump *d, int family)
{
	char req[64];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm = nl_request(req, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP,
				       sizeof(*rtm), &nlh);
	unsigned seq = ++nl->seq;
	int r = MNL_CB_OK;

	rtm->rtm_family = (uint8_t)family;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while (r > MNL_CB_STOP) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));

		if (n < 0)
			return -errno;
		r = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, on_route, d);
	}
	return r < 0 ? -errno : d->r;
}

/* Deletes the routes of table; returns how many. */
static int remove_routes(struct nl *nl, uint32_t table)
{
	struct steer_list none = { 0 };
	struct dump d = { .table = table };
	int n = 0;

	for (int f = 0; f < 2; f++)
		dump_routes(nl, &d, families[f]);
	n = (int)(d.local.n + d.thr.n);
	nl_routes_update(nl, table, &d.local, &d.thr, &none, &none);
	free(d.local.p);
	free(d.thr.p);
	return n;
}

int nl_remove(struct nl *nl, uint32_t table)
{
	struct batch b;
	int n;

	n = remove_routes(nl, table);
	if (batch_start(&b, nl))
		return n;
	for (int f = 0; f < 2; f++)
		for (uint32_t prio = STEER_RULE_PRIO; prio <= STEER_RULE_PRIO + 2; prio++) {
			struct rule ru = { .family = families[f], .prio = prio };

			/* One rule deleted per request, until none is left at prio (bounded). */
			for (int i = 0; i < (1 << 14); i++) {
				rule_put(&b, RTM_DELRULE, 0, &ru);
				if (batch_flush(&b))
					break;
				n++;
			}
			b.err = 0;
		}
	batch_end(&b);
	return n;
}
