// SPDX-License-Identifier: MIT
/*
 * The UDP NAT table: one upstream socket per client address, in a hash with
 * an LRU (oldest first) for the cap and the idle timeout; domain targets
 * resolved through the worker's resolver, one datagram waiting per entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "counters.h"
#include "ctx.h"
#include "dns.h"
#include "log.h"
#include "sockopts.h"
#include "udp_relay.h"

const struct ss_key *nat_key(const struct nat *n)
{
	return n->key ? n->key : &n->r->p->key;
}

static void lru_unlink(struct udp_relay *r, struct nat *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		r->lru_head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		r->lru_tail = n->prev;
	n->prev = n->next = NULL;
}

static void lru_append(struct udp_relay *r, struct nat *n)
{
	n->prev = r->lru_tail;
	n->next = NULL;
	if (r->lru_tail)
		r->lru_tail->next = n;
	else
		r->lru_head = n;
	r->lru_tail = n;
}

void nat_touch(struct nat *n)
{
	n->last_active = loop_now(n->r->p->loop);
	if (n->r->lru_tail != n) {
		lru_unlink(n->r, n);
		lru_append(n->r, n);
	}
}

static unsigned sid_bucket(const uint8_t *sid)
{
	uint32_t h;

	memcpy(&h, sid, sizeof(h)); /* session IDs are random */
	return h % UDP_BUCKETS;
}

static unsigned bucket_of(const struct nat *n)
{
	return n->by_sid ? sid_bucket(n->sid) : ss_sa_hash(&n->client) % UDP_BUCKETS;
}

/* Closes the NAT socket now; the memory goes at the end of the epoll batch. */
void nat_kill(struct nat *n)
{
	struct udp_relay *r = n->r;
	struct nat **pp = &r->buckets[bucket_of(n)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
	lru_unlink(r, n);
	dns_cancel(n->q);
	n->q = NULL;
	free(n->pending);
	n->pending = NULL;
	if (n->sess) {
		nat_key(n)->ops->session_free(n->sess);
		n->sess = NULL;
	}
	loop_forget(r->p->loop, &n->h);
	close(n->h.fd);
	n->dead = true;
	/* The relay's first dead entry of this batch: it is on the worker's list to reap. */
	if (!r->dead) {
		r->reap_next = r->p->udp_reap;
		r->p->udp_reap = r;
	}
	n->next = r->dead;
	r->dead = n;
	r->n--;
	r->p->ctr->udp_assoc_live--;
}

struct nat *nat_find_sid(struct udp_relay *r, const uint8_t *sid)
{
	for (struct nat *n = r->buckets[sid_bucket(sid)]; n; n = n->hnext)
		if (n->by_sid && !memcmp(n->sid, sid, S22_SID))
			return n;
	return NULL;
}

struct nat *nat_get(struct udp_relay *r, const struct sockaddr_storage *client, socklen_t len,
		    const uint8_t *sid)
{
	unsigned b = sid ? sid_bucket(sid) : ss_sa_hash(client) % UDP_BUCKETS;
	struct nat *n;
	char cs[64];

	if (sid && (n = nat_find_sid(r, sid))) {
		n->client = *client;
		n->client_len = len;
		return n;
	}
	for (n = sid ? NULL : r->buckets[b]; n; n = n->hnext)
		if (!n->by_sid && ss_sa_equal(&n->client, client))
			return n;
	if (r->n >= r->p->udp_max && r->lru_head) {
		r->p->ctr->udp.evicted++;
		log_info("udp: %u associations (the cap); evicting the oldest, %s", r->n,
			 ss_sa_str(&r->lru_head->client, cs, sizeof(cs)));
		nat_kill(r->lru_head);
	}
	if (!(n = calloc(1, sizeof(*n))))
		return NULL;
	n->h.fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->h.fd < 0) {
		log_warn("udp: socket: %s", strerror(errno));
		free(n);
		return NULL;
	}
	setsockopt(n->h.fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 0 }, sizeof(int));
	sock_outbound_udp(r->p->cfg, n->h.fd);
	n->h.on_event = udp_on_nat_event;
	n->r = r;
	n->client = *client;
	n->client_len = len;
	if ((n->by_sid = sid != NULL))
		memcpy(n->sid, sid, S22_SID);
	if (loop_watch(r->p->loop, &n->h, EPOLLIN)) {
		close(n->h.fd);
		free(n);
		return NULL;
	}
	n->hnext = r->buckets[b];
	r->buckets[b] = n;
	n->last_active = loop_now(r->p->loop);
	lru_append(r, n);
	r->n++;
	r->p->ctr->udp_assoc_live++;
	r->p->ctr->udp_assoc_opened++;
	log_debug("udp: new association for %s (%u live)", ss_sa_str(client, cs, sizeof(cs)), r->n);
	return n;
}

static void nat_sendto(struct nat *n, const struct sockaddr_storage *to, const uint8_t *data,
		       size_t len)
{
	struct sockaddr_in6 s6;
	socklen_t sl = ss_sa_to_v6(to, &s6);
	const char *rule;

	if (n->r->kind->serves &&
	    (rule = policy_refuses(&n->r->p->policy, (const struct sockaddr *)to))) {
		char ts[64];

		n->r->p->ctr->udp.refused++;
		log_debug("udp: target %s refused by policy: %s", ss_sa_str(to, ts, sizeof(ts)), rule);
		return;
	}
	if (sendto(n->h.fd, data, len, 0, (struct sockaddr *)&s6, sl) < 0) {
		n->r->p->ctr->udp.send_failed++;
		log_debug("udp: sendto: %s", strerror(errno));
		return;
	}
	n->r->p->ctr->udp.in++;
}

static void on_nat_resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct nat *n = arg;
	struct sockaddr_storage to;

	n->q = NULL;
	if (!err) {
		memset(&to, 0, sizeof(to));
		memcpy(&to, sa, len);
		nat_sendto(n, &to, n->pending, n->pending_len);
	} else {
		n->r->p->ctr->udp.unresolved++;
	}
	free(n->pending);
	n->pending = NULL;
}

/* Sends towards dst (numeric or a name resolved through the shared resolver). */
void nat_send(struct nat *n, const struct ss_addr *dst, const uint8_t *data, size_t len)
{
	struct sockaddr_storage to;
	socklen_t tl;
	int r;

	if (dst->atyp != SS_ATYP_DOMAIN) {
		addr_to_sockaddr(dst, &to);
		nat_sendto(n, &to, data, len);
		return;
	}
	if (n->q) { /* one datagram waits per association; this one is dropped */
		n->r->p->ctr->udp.unresolved++;
		return;
	}
	r = dns_resolve(n->r->p->dns, dst->host, dst->port, &to, &tl, on_nat_resolved, n, &n->q);
	if (r == 0) {
		nat_sendto(n, &to, data, len);
	} else if (r < 0 || !(n->pending = malloc(len))) {
		dns_cancel(n->q);
		n->q = NULL;
		n->r->p->ctr->udp.unresolved++;
	} else {
		memcpy(n->pending, data, len);
		n->pending_len = len;
	}
}

void nat_reap(struct udp_relay *r)
{
	while (r->dead) {
		struct nat *n = r->dead;

		r->dead = n->next;
		upstream_put(n->upstream);
		free(n);
	}
}
