// SPDX-License-Identifier: MIT
/* SIP004 AEAD framing for TCP streams and UDP packets; pure, no I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "aead.h"
#include "key.h"
#include "method.h"

int ss_enc_init(struct ss_enc *e, const struct ss_method *m, enum ss_backend b,
		const uint8_t *master, const uint8_t *salt)
{
	memset(e, 0, sizeof(*e));
	if (salt)
		memcpy(e->salt, salt, m->key_len);
	else
		crypto_salt(e->salt, m->key_len);
	return cipher_init_subkey(&e->c, m, b, master, e->salt, m->key_len);
}

void ss_enc_free(struct ss_enc *e)
{
	cipher_free(&e->c);
}

size_t ss_enc_bound(const struct ss_enc *e, size_t len)
{
	const struct ss_method *m = e->c.m;
	size_t chunks = (len + SS_MAX_PAYLOAD - 1) / SS_MAX_PAYLOAD;

	if (m->id == SS_M_NONE)
		return len;
	return (e->salt_sent ? 0 : m->key_len) + len + chunks * SS_CHUNK_OVERHEAD;
}

size_t ss_enc_fit(const struct ss_enc *e, size_t cap)
{
	const struct ss_method *m = e->c.m;
	size_t full = SS_MAX_PAYLOAD + SS_CHUNK_OVERHEAD, n, rest;

	if (m->id == SS_M_NONE)
		return cap;
	if (!e->salt_sent) {
		if (cap < m->key_len)
			return 0;
		cap -= m->key_len;
	}
	n = cap / full * SS_MAX_PAYLOAD;
	rest = cap % full;
	if (rest > SS_CHUNK_OVERHEAD)
		n += rest - SS_CHUNK_OVERHEAD;
	return n;
}

int ss_enc_feed(struct ss_enc *e, const uint8_t *in, size_t len, uint8_t *out,
		size_t *out_len)
{
	size_t o = 0;

	if (e->c.m->id == SS_M_NONE) {
		memcpy(out, in, len);
		*out_len = len;
		return 0;
	}
	if (!e->salt_sent) {
		memcpy(out, e->salt, e->c.m->key_len);
		o = e->c.m->key_len;
		e->salt_sent = true;
	}
	while (len) {
		size_t n = MIN(len, (size_t)SS_MAX_PAYLOAD);
		uint8_t be[2] = { (uint8_t)(n >> 8), (uint8_t)n };

		if (cipher_seal(&e->c, out + o, be, 2) ||
		    cipher_seal(&e->c, out + o + SS_LEN_UNIT, in, n))
			return -EIO;
		o += SS_LEN_UNIT + n + SS_TAG;
		in += n;
		len -= n;
	}
	*out_len = o;
	return 0;
}

int ss_dec_init(struct ss_dec *d, const struct ss_method *m, enum ss_backend b,
		const uint8_t *master)
{
	memset(d, 0, sizeof(*d));
	d->m = m;
	d->backend = b;
	memcpy(d->master, master, m->key_len);
	if (m->id == SS_M_NONE) {
		d->state = SS_DEC_LEN; /* no salt, no framing */
		return cipher_init(&d->c, m, b, NULL);
	}
	d->ch.need = m->key_len;
	return 0;
}

void ss_dec_free(struct ss_dec *d)
{
	cipher_free(&d->c);
	chunks_free(&d->ch);
	memset(d->master, 0, sizeof(d->master));
}

/* Handles one complete unit; returns SS_OK or a sticky error. */
static int dec_unit(struct ss_dec *d, uint8_t *unit, uint8_t *out, size_t *out_len)
{
	uint8_t be[2];
	size_t n;
	int r;

	switch (d->state) {
	case SS_DEC_SALT:
		memcpy(d->salt, unit, d->m->key_len);
		if (cipher_init_subkey(&d->c, d->m, d->backend, d->master, d->salt, d->m->key_len))
			return SS_ERR;
		d->state = SS_DEC_LEN;
		d->ch.need = SS_LEN_UNIT;
		return SS_OK;
	case SS_DEC_LEN:
		if ((r = cipher_open(&d->c, be, unit, SS_LEN_UNIT)))
			return r;
		n = (size_t)be[0] << 8 | be[1];
		/* SIP004: the two high bits are reserved and must be zero. */
		if (n == 0 || n > SS_MAX_PAYLOAD)
			return SS_ERR_LEN;
		d->state = SS_DEC_DATA;
		d->ch.need = n + SS_TAG;
		return SS_OK;
	case SS_DEC_DATA:
		if ((r = chunks_open(&d->c, unit, d->ch.need, out + *out_len)))
			return r;
		*out_len += d->ch.need - SS_TAG;
		d->chunks++;
		d->state = SS_DEC_LEN;
		d->ch.need = SS_LEN_UNIT;
		return SS_OK;
	}
	return SS_ERR;
}

static int unit_2017(void *dec, uint8_t *unit, uint8_t *out, size_t *out_len)
{
	return dec_unit(dec, unit, out, out_len);
}

static size_t releases_2017(const void *dec)
{
	const struct ss_dec *d = dec;

	return d->state == SS_DEC_DATA ? d->ch.need - SS_TAG : 0;
}

static const struct chunk_ops ops_2017 = {
	.unit = unit_2017, .releases = releases_2017, .part_cap = SS_MAX_PAYLOAD + SS_TAG,
};

int ss_dec_feed(struct ss_dec *d, uint8_t *in, size_t len, size_t *consumed,
		uint8_t *out, size_t out_cap, size_t *out_len)
{
	if (d->m->id == SS_M_NONE && !d->ch.err) {
		size_t n = MIN(len, out_cap - *out_len);

		if (out + *out_len != in)
			memmove(out + *out_len, in, n);
		*out_len += n;
		*consumed = n;
		return SS_OK;
	}
	return chunks_feed(&d->ch, &ops_2017, d, in, len, consumed, out, out_cap, out_len);
}

int ss_dec_finish(const struct ss_dec *d)
{
	if (d->ch.err)
		return d->ch.err;
	if (d->m->id == SS_M_NONE)
		return SS_OK;
	return d->ch.have == 0 && d->state != SS_DEC_DATA ? SS_OK : SS_ERR_TRUNC;
}

size_t ss_udp_overhead(const struct ss_method *m)
{
	return m->key_len + m->tag_len;
}

/*
 * One cipher per process serves every UDP packet, re-keyed per packet (each
 * has its own salt): the EVP context is made once, not once per packet.
 */
static struct ss_cipher *udp_cipher(const struct ss_method *m, enum ss_backend b,
				    const uint8_t *master, const uint8_t *salt)
{
	static struct ss_cipher c;
	uint8_t subkey[SS_MAX_KEY];
	int r;

	if (m->key_len && crypto_subkey(m, master, salt, subkey))
		return NULL;
	r = cipher_rekey(&c, m, b, subkey);
	sodium_memzero(subkey, sizeof(subkey));
	return r ? NULL : &c;
}

int ss_udp_seal(const struct ss_method *m, enum ss_backend b, const uint8_t *master,
		const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct ss_cipher *c;

	if (cap < len + ss_udp_overhead(m))
		return SS_ERR_SPACE;
	crypto_salt(out, m->key_len);
	if (!(c = udp_cipher(m, b, master, out)) || cipher_seal(c, out + m->key_len, in, len))
		return -EIO;
	*out_len = len + ss_udp_overhead(m);
	return 0;
}

int ss_udp_open(const struct ss_method *m, enum ss_backend b, const uint8_t *master,
		const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct ss_cipher *c;
	size_t ov = ss_udp_overhead(m);
	int r;

	if (len < ov)
		return SS_ERR_TRUNC;
	if (cap < len - ov)
		return SS_ERR_SPACE;
	if (!(c = udp_cipher(m, b, master, in)))
		return SS_ERR;
	r = cipher_open(c, out, in + m->key_len, len - m->key_len);
	if (r == SS_OK)
		*out_len = len - ov;
	return r;
}

/* ---- the protocol seam (method.h) --------------------------------------- */

static int m_enc_init(union method_enc *e, const struct ss_key *k)
{
	return ss_enc_init(&e->aead2017, k->m, SS_BACKEND_AUTO, k->master, NULL);
}

static void m_enc_free(union method_enc *e)
{
	ss_enc_free(&e->aead2017);
}

static size_t m_enc_fit(const union method_enc *e, size_t cap)
{
	return ss_enc_fit(&e->aead2017, cap);
}

static int m_enc_feed(union method_enc *e, const uint8_t *in, size_t len, uint8_t *out,
		      size_t *out_len)
{
	return ss_enc_feed(&e->aead2017, in, len, out, out_len);
}

static const uint8_t *m_enc_salt(const union method_enc *e)
{
	return e->aead2017.salt;
}

static int m_dec_init(union method_dec *d, const struct ss_key *k)
{
	return ss_dec_init(&d->aead2017, k->m, SS_BACKEND_AUTO, k->master);
}

static void m_dec_free(union method_dec *d)
{
	ss_dec_free(&d->aead2017);
}

static int m_dec_feed(union method_dec *d, uint8_t *in, size_t len, size_t *consumed,
		      uint8_t *out, size_t out_cap, size_t *out_len)
{
	return ss_dec_feed(&d->aead2017, in, len, consumed, out, out_cap, out_len);
}

static int m_dec_finish(const union method_dec *d)
{
	return ss_dec_finish(&d->aead2017);
}

static const uint8_t *m_dec_salt(const union method_dec *d)
{
	return ss_dec_has_salt(&d->aead2017) ? d->aead2017.salt : NULL;
}

static size_t m_dec_held(const union method_dec *d)
{
	return d->aead2017.ch.have;
}

static int m_udp_seal(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
		      size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	return ss_udp_seal(m, SS_BACKEND_AUTO, master, in, len, out, cap, out_len);
}

static int m_udp_open(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
		      size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	return ss_udp_open(m, SS_BACKEND_AUTO, master, in, len, out, cap, out_len);
}

/*
 * Multi-user ports: does the first length chunk (salt, 2 sealed length bytes,
 * tag) open under master? The cheapest authenticated read of a stream.
 */
static int m_dec_probe(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
		       size_t len)
{
	struct ss_cipher *c;
	uint8_t out[2];

	if (len < m->key_len + 2 + m->tag_len)
		return SS_AGAIN;
	if (!m->key_len)
		return 1;
	if (!(c = udp_cipher(m, SS_BACKEND_AUTO, master, in)))
		return SS_ERR;
	return cipher_open(c, out, in + m->key_len, 2 + m->tag_len) == SS_OK;
}

static size_t m_probe_len(const struct ss_method *m)
{
	return m->key_len + 2 + m->tag_len;
}

const struct method_ops method_aead2017 = {
	.edition = "SIP004 AEAD",
	.enc_init = m_enc_init, .enc_free = m_enc_free, .enc_fit = m_enc_fit,
	.enc_feed = m_enc_feed, .enc_salt = m_enc_salt,
	.dec_init = m_dec_init, .dec_free = m_dec_free, .dec_feed = m_dec_feed,
	.dec_finish = m_dec_finish, .dec_salt = m_dec_salt, .dec_held = m_dec_held,
	.header_encode = addr_encode, .header_parse = addr_parse, /* ATYP, address, port */
	.udp_overhead = ss_udp_overhead, .udp_seal = m_udp_seal, .udp_open = m_udp_open,
	.dec_probe = m_dec_probe, .probe_len = m_probe_len,
};

const struct method_ops *method_ops_for(const struct ss_method *m)
{
	return m->sip022 ? &method_aead2022 : &method_aead2017;
}
