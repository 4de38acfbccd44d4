// SPDX-License-Identifier: MIT
/*
 * SIP022 behind the protocol seam (method.h): streams framed by aead2022.c,
 * datagrams in sessions of sip022_udp.c. It sits above both, which share
 * aead2022.c's headers and clock check. Pure, no I/O.
 */
#include <stdlib.h>

#include "aead2022.h"
#include "key.h"
#include "method.h"
#include "sip022_udp.h"

static int m_enc_init(union method_enc *e, const struct ss_key *k)
{
	int r = s22_enc_init(&e->aead2022, k->m, k->master);

	if (!r && k->eih)
		s22_enc_identify(&e->aead2022, &k->id);
	return r;
}

static void m_enc_free(union method_enc *e)
{
	s22_enc_free(&e->aead2022);
}

static size_t m_enc_fit(const union method_enc *e, size_t cap)
{
	return s22_enc_fit(&e->aead2022, cap);
}

static int m_enc_feed(union method_enc *e, const uint8_t *in, size_t len, uint8_t *out,
		      size_t *out_len)
{
	return s22_enc_feed(&e->aead2022, in, len, out, out_len);
}

static const uint8_t *m_enc_salt(const union method_enc *e)
{
	return e->aead2022.salt;
}

static int m_dec_init(union method_dec *d, const struct ss_key *k)
{
	int r = s22_dec_init(&d->aead2022, k->m, k->master);

	/* A response (sslocal) has none: bind clears it. */
	if (!r && k->eih)
		s22_dec_expect_identity(&d->aead2022);
	return r;
}

static void m_dec_free(union method_dec *d)
{
	s22_dec_free(&d->aead2022);
}

static int m_dec_feed(union method_dec *d, uint8_t *in, size_t len, size_t *consumed,
		      uint8_t *out, size_t out_cap, size_t *out_len)
{
	return s22_dec_feed(&d->aead2022, in, len, consumed, out, out_cap, out_len);
}

static int m_dec_finish(const union method_dec *d)
{
	return s22_dec_finish(&d->aead2022);
}

static const uint8_t *m_dec_salt(const union method_dec *d)
{
	return d->aead2022.authentic ? d->aead2022.salt : NULL;
}

static size_t m_dec_held(const union method_dec *d)
{
	return d->aead2022.ch.have;
}

static void m_bind(union method_enc *e, union method_dec *d, bool server)
{
	if (server)
		s22_enc_respond(&e->aead2022, d->aead2022.salt);
	else
		s22_dec_expect_response(&d->aead2022, e->aead2022.salt);
}

/* The larger of the two directions' overheads (a server's reply names the client session). */
static size_t m_udp_overhead(const struct ss_method *m)
{
	return s22_udp_overhead(m, true) + S22_EIH;
}

/*
 * SIP022 datagrams belong to sessions (sip022_udp.h), which the UDP relay keeps; there
 * is no stand-alone packet, and no stream trial of several users (SIP023).
 */
static int m_udp_stateless(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
			   size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	(void)m, (void)master, (void)in, (void)len, (void)out, (void)cap, (void)out_len;
	return SS_ERR;
}

static struct udp_session *m_session_new(const struct ss_key *k, bool server)
{
	struct udp_session *s = malloc(sizeof(*s));

	if (s && s22_udp_init(&s->s22, k->m, k->master, server)) {
		free(s);
		return NULL;
	}
	/* SIP023: a client names its user; a server reads the identity header under ipsk. */
	if (s && k->eih)
		s22_udp_identify(&s->s22, k->id.ipsk, server ? NULL : k->id.uhash);
	return s;
}

static void m_session_free(struct udp_session *s)
{
	if (!s)
		return;
	s22_udp_free(&s->s22);
	free(s);
}

static int m_session_seal(struct udp_session *s, const uint8_t *in, size_t len, uint8_t *out,
			  size_t cap, size_t *out_len)
{
	return s22_udp_seal(&s->s22, in, len, out, cap, out_len);
}

static int m_session_open(struct udp_session *s, const uint8_t *in, size_t len, uint8_t *out,
			  size_t cap, size_t *out_len)
{
	return s22_udp_open(&s->s22, in, len, out, cap, out_len);
}

static int m_dec_probe(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
		       size_t len)
{
	(void)m, (void)master, (void)in, (void)len;
	return SS_ERR;
}

/* SIP023: a port with users reads the salt, identity header and fixed header in one read. */
static size_t m_probe_len(const struct ss_method *m)
{
	return m->key_len + S22_EIH + S22_REQ_HEAD + SS_TAG;
}

const struct method_ops method_aead2022 = {
	.edition = "SIP022",
	.enc_init = m_enc_init, .enc_free = m_enc_free, .enc_fit = m_enc_fit,
	.enc_feed = m_enc_feed, .enc_salt = m_enc_salt,
	.dec_init = m_dec_init, .dec_free = m_dec_free, .dec_feed = m_dec_feed,
	.dec_finish = m_dec_finish, .dec_salt = m_dec_salt, .dec_held = m_dec_held,
	.bind = m_bind,
	.udp_overhead = m_udp_overhead, .udp_seal = m_udp_stateless, .udp_open = m_udp_stateless,
	.session_new = m_session_new, .session_free = m_session_free,
	.session_seal = m_session_seal, .session_open = m_session_open,
	.dec_probe = m_dec_probe, .probe_len = m_probe_len,
	.header_encode = addr_encode, .header_parse = addr_parse, /* ATYP, address, port */
	.exact_salts = true,
};
