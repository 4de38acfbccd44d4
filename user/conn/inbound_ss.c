// SPDX-License-Identifier: MIT
/*
 * ssserver's inbound kind: the client leg carries Shadowsocks. INIT reads
 * the salt (a port with several users finds the user whose key opens the
 * first chunk), ADDR the address header in the first chunk(s). A failed
 * authentication, a replay or a truncated request gets no answer: the
 * connection is held until the handshake deadline, as every probe is.
 */
#include <errno.h>
#include <string.h>

#include "pair.h"
#include "traffic.h"
#include "ctx.h"
#include "log.h"
#include "policy.h"

/*
 * ssserver: a FIN after some bytes but before the address header (a probe,
 * or a truncated request) gets no reaction either: reading stops, and the
 * connection closes at the handshake deadline, like every other probe.
 */
static enum hs_outcome hold_after_fin(struct conn *c)
{
	c->up.eof = true;
	return HS_HOLD;
}

/* A failed authentication: nothing is sent, the connection is held until the deadline. */
static enum hs_outcome auth_failed(struct conn *c, int derr)
{
	log_info("conn %llu: authentication failed from %s (%s); holding until timeout",
		 (unsigned long long)c->id, c->peer, ss_result_str(derr));
	c->bad_auth = true;
	/* SIP022: a timestamp out of the window is a replay too. */
	ctr_fail(c, derr == SS_ERR_REPLAY || derr == SS_ERR_TIME ? FAIL_REPLAY : FAIL_AUTH);
	stream_buf_release(c->p, &c->up.out);
	return HS_HOLD;
}

/*
 * A port with several users: the stream's first length chunk (salt, sealed
 * length, tag) is read into c->hs, each user's key is tried on it (key.c
 * orders them), and the one that opens it decrypts the stream from there.
 */
static enum hs_outcome find_user(struct conn *c, const char **why)
{
	const struct ss_key *k0 = &c->pk->keys[0];
	size_t need = k0->ops->probe_len(k0->m), got = 0;
	unsigned tries;
	ssize_t n = conn_recv(c, c->local.h.fd, c->hs + c->hs_len, need - c->hs_len);
	int i;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return HS_AGAIN;
		*why = n < 0 ? strerror(errno) : "client closed before the address header";
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return n == 0 && c->hs_len ? hold_after_fin(c) : HS_CLOSE;
	}
	c->hs_len = (uint16_t)(c->hs_len + n);
	/* SIP022 section 3.1.4: the salt and headers come in one read, or it is a probe. */
	if (c->hs_len < need)
		return k0->m->sip022 ? auth_failed(c, SS_ERR_TRUNC) : HS_AGAIN;
	if ((i = port_keys_find(c->pk, &c->peer_sa, c->hs, c->hs_len, &tries)) < 0)
		return auth_failed(c, SS_ERR_TAG);
	c->key = &c->pk->keys[i];
	if (c->key->ops->dec_init(&c->dec, c->key) ||
	    stream_buf_reserve(c->p, &c->up.out)) {
		*why = "cipher set-up failed";
		return HS_CLOSE;
	}
	c->dec_ready = true;
	log_debug("conn %llu: user \"%s\" of port %d (key %u tried)", (unsigned long long)c->id,
		  c->key->user, c->key->port, tries);
	if (c->key->ops->dec_feed(&c->dec, c->hs, c->hs_len, &got, c->up.out.data, POOL_BUF_CAP,
				  &c->up.out.len) != SS_OK)
		return auth_failed(c, SS_ERR_TAG);
	c->hs_len = 0;
	if (stream_salt_replayed(c, false))
		return auth_failed(c, SS_ERR_REPLAY);
	return HS_MORE;
}

/* ssserver: read and decrypt into c->up.out; a failed authentication holds. */
static enum hs_outcome ss_read(struct conn *c, const char **why)
{
	bool had_salt;
	int derr = 0;
	ssize_t n;

	if (!c->key && !c->bad_auth)
		return find_user(c, why);
	had_salt = !c->bad_auth && c->key->ops->dec_salt(&c->dec) != NULL;
	if (c->bad_auth) {
		/* Probe resistance: swallow everything, close only at the deadline. */
		n = conn_recv(c, c->local.h.fd, c->p->scratch, POOL_BUF_CAP);
		*why = NULL;
		if (n == 0)
			return hold_after_fin(c);
		return n < 0 && errno != EAGAIN && errno != EINTR ? HS_CLOSE : HS_AGAIN;
	}
	n = stream_read(c, &c->up, c->local.h.fd, &derr);
	/* Nothing decrypted yet (a silent or slow client): no relay buffer held meanwhile. */
	if (!c->up.out.len)
		stream_buf_release(c->p, &c->up.out);
	if (n != -EAGAIN && stream_salt_replayed(c, had_salt)) {
		n = -EBADMSG;
		derr = SS_ERR_REPLAY;
	}
	if (n == -EAGAIN)
		return HS_AGAIN;
	if (n == -EBADMSG)
		return auth_failed(c, derr);
	if (n == 0 && c->up.bytes) {
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return hold_after_fin(c);
	}
	if (n == 0) { /* closed without a byte: a port check; nothing to hide */
		*why = "client closed before the address header";
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return HS_CLOSE;
	}
	if (n < 0) {
		*why = strerror((int)-n);
		ctr_fail(c, FAIL_EARLY_CLOSE);
		return HS_CLOSE;
	}
	return HS_MORE;
}

/* ssserver INIT/ADDR: the salt, then the address header in the first chunk(s). */
static enum hs_outcome ss_parse(struct conn *c, const char **why)
{
	size_t used;
	int r;

	if (c->key->ops->dec_salt(&c->dec) && c->stage == ST_INIT)
		return HS_ADDR;
	if (!c->up.out.len)
		return HS_AGAIN;
	r = c->key->ops->header_parse(c->up.out.data, c->up.out.len, &c->target, &used);
	if (r == SS_AGAIN)
		return HS_AGAIN;
	if (r != SS_OK) {
		*why = r == SS_ERR_ATYP ? "unknown address type in header" : "malformed address header";
		ctr_fail(c, FAIL_BAD_REQUEST);
		return HS_CLOSE;
	}
	c->up.out.off = used;
	c->up.out.len -= used;
	c->up.bytes -= MIN(c->up.bytes, used);
	if (traffic_spent(c->p->traffic, c->key)) {
		*why = "its data limit is spent";
		ctr_fail(c, FAIL_POLICY);
		return HS_CLOSE;
	}
	/* A name on the ACL's outbound block list is refused before any DNS. */
	if (c->target.atyp == SS_ATYP_DOMAIN && policy_refuses_host(&c->p->policy, c->target.host)) {
		*why = "target name on the ACL's [outbound_block_list]";
		ctr_fail(c, FAIL_POLICY);
		return HS_CLOSE;
	}
	if (log_enabled(LOG_DEBUG)) {
		char t[300];

		log_debug("conn %llu: %s wants %s", (unsigned long long)c->id, c->peer,
			  addr_str(&c->target, t, sizeof(t)));
	}
	return HS_TARGET;
}

static enum hs_outcome ss_start(struct conn *c, const char **why)
{
	(void)c, (void)why;
	return HS_MORE;
}

const struct inbound_ops inbound_ss = {
	.name = "shadowsocks", .start = ss_start, .read = ss_read, .parse = ss_parse, .serves = true,
};
