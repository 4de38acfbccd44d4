// SPDX-License-Identifier: MIT
/* SIP022 (Shadowsocks 2022) TCP framing; pure, no I/O (aead2022.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "addr.h"
#include "aead2022.h"
#include "key.h"

#define S22_LEN_UNIT (2 + SS_TAG)
#define S22_CHUNK_OVERHEAD (2 * SS_TAG + 2)

static void put_be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

bool s22_time_ok(uint64_t t)
{
	uint64_t now = (uint64_t)time(NULL);

	return t <= now + S22_TIME_WINDOW && now <= t + S22_TIME_WINDOW;
}

static size_t head_len(const struct ss_method *m, bool response)
{
	return S22_REQ_HEAD + (response ? m->key_len : 0);
}

int s22_enc_init(struct s22_enc *e, const struct ss_method *m, const uint8_t *psk)
{
	memset(e, 0, sizeof(*e));
	crypto_salt(e->salt, m->key_len);
	return cipher_init_subkey(&e->c, m, SS_BACKEND_AUTO, psk, e->salt, m->key_len);
}

void s22_enc_respond(struct s22_enc *e, const uint8_t *req_salt)
{
	e->response = true;
	memcpy(e->req_salt, req_salt, e->c.m->key_len);
}

void s22_enc_identify(struct s22_enc *e, const struct s22_identity *id)
{
	e->id = id;
}

int s22_identity_header(const struct ss_method *m, const uint8_t *ipsk, const uint8_t *salt,
			const uint8_t *in, uint8_t *out, bool enc)
{
	uint8_t sub[SS_MAX_KEY];
	int r;

	crypto_derive22("shadowsocks 2022 identity subkey", ipsk, m->key_len, salt, m->key_len, sub,
			m->key_len);
	r = crypto_aes_block(sub, m->key_len, in, out, enc);
	sodium_memzero(sub, sizeof(sub));
	return r;
}

void s22_enc_free(struct s22_enc *e)
{
	cipher_free(&e->c);
}

size_t s22_enc_fit(const struct s22_enc *e, size_t cap)
{
	const struct ss_method *m = e->c.m;
	size_t full = S22_MAX_PAYLOAD + S22_CHUNK_OVERHEAD, n, rest;
	/* The first flight: salt and header chunk, the padding, and a chunk of slack. */
	size_t head = e->started ? 0 :
		      m->key_len + (e->id ? S22_EIH : 0) + head_len(m, e->response) + SS_TAG + 2 +
			      S22_MAX_PADDING + S22_CHUNK_OVERHEAD;

	if (cap <= head)
		return 0;
	cap -= head;
	n = cap / full * S22_MAX_PAYLOAD;
	rest = cap % full;
	if (rest > S22_CHUNK_OVERHEAD)
		n += rest - S22_CHUNK_OVERHEAD;
	return n;
}

/*
 * The request's first flight: salt, fixed header, and the variable header
 * (address, padding length, padding, as much payload as one chunk holds).
 */
static int start_request(struct s22_enc *e, const uint8_t **in, size_t *len, uint8_t *out,
			 size_t *o)
{
	const struct ss_method *m = e->c.m;
	struct ss_addr a;
	size_t alen, pay, pad, first, l;
	uint8_t hdr[S22_REQ_HEAD], *v, *h;

	if (addr_parse(*in, *len, &a, &alen) != SS_OK)
		return -EIO;
	pay = *len - alen;
	/* Either payload or padding must be there (section 3.1.4). */
	pad = pay ? 0 : 1 + randombytes_uniform(S22_MAX_PADDING);
	first = MIN(pay, S22_MAX_PAYLOAD - alen - 2 - pad);
	l = alen + 2 + pad + first;
	memcpy(out, e->salt, m->key_len);
	h = out + m->key_len;
	/* SIP023: the identity header names the user to the server's iPSK. */
	if (e->id) {
		if (s22_identity_header(m, e->id->ipsk, e->salt, e->id->uhash, h, true))
			return -EIO;
		h += S22_EIH;
	}
	hdr[0] = S22_TYPE_REQUEST;
	s22_put_be64(hdr + 1, (uint64_t)time(NULL));
	put_be16(hdr + 9, l);
	if (cipher_seal(&e->c, h, hdr, sizeof(hdr)))
		return -EIO;
	v = h + sizeof(hdr) + SS_TAG;
	memcpy(v, *in, alen);
	put_be16(v + alen, pad);
	crypto_salt(v + alen + 2, pad);
	memcpy(v + alen + 2 + pad, *in + alen, first);
	if (cipher_seal(&e->c, v, v, l))
		return -EIO;
	*o = (size_t)(v - out) + l + SS_TAG;
	*in += alen + first;
	*len -= alen + first;
	return 0;
}

/* The response's first flight: salt, header naming the request, the first chunk. */
static int start_response(struct s22_enc *e, const uint8_t **in, size_t *len, uint8_t *out,
			  size_t *o)
{
	const struct ss_method *m = e->c.m;
	size_t first = MIN(*len, (size_t)S22_MAX_PAYLOAD), hl = head_len(m, true);
	uint8_t hdr[S22_REQ_HEAD + SS_MAX_SALT];

	memcpy(out, e->salt, m->key_len);
	hdr[0] = S22_TYPE_RESPONSE;
	s22_put_be64(hdr + 1, (uint64_t)time(NULL));
	memcpy(hdr + 9, e->req_salt, m->key_len);
	put_be16(hdr + 9 + m->key_len, first);
	*o = m->key_len;
	if (cipher_seal(&e->c, out + *o, hdr, hl) ||
	    cipher_seal(&e->c, out + *o + hl + SS_TAG, *in, first))
		return -EIO;
	*o += hl + SS_TAG + first + SS_TAG;
	*in += first;
	*len -= first;
	return 0;
}

int s22_enc_feed(struct s22_enc *e, const uint8_t *in, size_t len, uint8_t *out,
		 size_t *out_len)
{
	size_t o = 0;
	int r;

	*out_len = 0;
	if (!len)
		return 0;
	if (!e->started) {
		r = e->response ? start_response(e, &in, &len, out, &o) :
				  start_request(e, &in, &len, out, &o);
		if (r)
			return r;
		e->started = true;
	}
	while (len) {
		size_t n = MIN(len, (size_t)S22_MAX_PAYLOAD);
		uint8_t be[2];

		put_be16(be, n);
		if (cipher_seal(&e->c, out + o, be, 2) ||
		    cipher_seal(&e->c, out + o + S22_LEN_UNIT, in, n))
			return -EIO;
		o += S22_LEN_UNIT + n + SS_TAG;
		in += n;
		len -= n;
	}
	*out_len = o;
	return 0;
}

int s22_dec_init(struct s22_dec *d, const struct ss_method *m, const uint8_t *psk)
{
	memset(d, 0, sizeof(*d));
	d->m = m;
	memcpy(d->psk, psk, m->key_len);
	d->ch.need = m->key_len + head_len(m, false) + SS_TAG;
	return 0;
}

void s22_dec_expect_identity(struct s22_dec *d)
{
	d->eih = S22_EIH;
	d->ch.need = d->m->key_len + S22_EIH + head_len(d->m, false) + SS_TAG;
}

void s22_dec_expect_response(struct s22_dec *d, const uint8_t *req_salt)
{
	d->response = true;
	d->eih = 0;
	memcpy(d->req_salt, req_salt, d->m->key_len);
	d->ch.need = d->m->key_len + head_len(d->m, true) + SS_TAG;
}

void s22_dec_free(struct s22_dec *d)
{
	cipher_free(&d->c);
	chunks_free(&d->ch);
	sodium_memzero(d->psk, sizeof(d->psk));
}

/* The salt and fixed header: the stream's authenticity, type and age. */
static int dec_head(struct s22_dec *d, uint8_t *unit)
{
	const struct ss_method *m = d->m;
	size_t hl = head_len(m, d->response), l;
	uint8_t h[S22_REQ_HEAD + SS_MAX_SALT];
	int r;

	memcpy(d->salt, unit, m->key_len);
	if (cipher_init_subkey(&d->c, m, SS_BACKEND_AUTO, d->psk, d->salt, m->key_len))
		return SS_ERR;
	if ((r = cipher_open(&d->c, h, unit + m->key_len + d->eih, hl + SS_TAG)))
		return r;
	if (h[0] != (d->response ? S22_TYPE_RESPONSE : S22_TYPE_REQUEST))
		return SS_ERR;
	if (!s22_time_ok(s22_get_be64(h + 1)))
		return SS_ERR_TIME;
	if (d->response && sodium_memcmp(h + 9, d->req_salt, m->key_len))
		return SS_ERR;
	l = (size_t)h[hl - 2] << 8 | h[hl - 1];
	if (!l)
		return SS_ERR_LEN;
	d->authentic = true;
	d->state = d->response ? S22_DATA : S22_VAR;
	d->ch.need = l + SS_TAG;
	return SS_OK;
}

/* The request's variable header: the address stays, the padding goes. */
static int dec_var(uint8_t *pt, size_t l, size_t *kept)
{
	struct ss_addr a;
	size_t alen, pad, pay;

	if (addr_parse(pt, l, &a, &alen) != SS_OK || alen + 2 > l)
		return SS_ERR;
	pad = (size_t)pt[alen] << 8 | pt[alen + 1];
	if (pad > S22_MAX_PADDING || alen + 2 + pad > l)
		return SS_ERR;
	pay = l - alen - 2 - pad;
	if (!pay && !pad)
		return SS_ERR;
	memmove(pt + alen, pt + alen + 2 + pad, pay);
	*kept = alen + pay;
	return SS_OK;
}

/* Opens a payload (or variable header) chunk into out at *out_len. */
static int dec_payload(struct s22_dec *d, uint8_t *unit, uint8_t *out, size_t *out_len)
{
	size_t n = d->ch.need - SS_TAG, kept = n;
	uint8_t *pt = out + *out_len;
	int r;

	if ((r = chunks_open(&d->c, unit, d->ch.need, pt)))
		return r;
	if (d->state == S22_VAR && (r = dec_var(pt, n, &kept)))
		return r;
	*out_len += kept;
	d->state = S22_LEN;
	d->ch.need = S22_LEN_UNIT;
	return SS_OK;
}

static int dec_unit(struct s22_dec *d, uint8_t *unit, uint8_t *out, size_t *out_len)
{
	uint8_t be[2];
	size_t n;
	int r;

	switch (d->state) {
	case S22_HEAD:
		return dec_head(d, unit);
	case S22_LEN:
		if ((r = cipher_open(&d->c, be, unit, S22_LEN_UNIT)))
			return r;
		if (!(n = (size_t)be[0] << 8 | be[1]))
			return SS_ERR_LEN;
		d->state = S22_DATA;
		d->ch.need = n + SS_TAG;
		return SS_OK;
	case S22_VAR:
	case S22_DATA:
		return dec_payload(d, unit, out, out_len);
	}
	return SS_ERR;
}

static int unit_2022(void *dec, uint8_t *unit, uint8_t *out, size_t *out_len)
{
	return dec_unit(dec, unit, out, out_len);
}

static size_t releases_2022(const void *dec)
{
	const struct s22_dec *d = dec;

	return d->state == S22_DATA || d->state == S22_VAR ? d->ch.need - SS_TAG : 0;
}

static const struct chunk_ops ops_2022 = {
	.unit = unit_2022, .releases = releases_2022, .part_cap = S22_MAX_PAYLOAD + SS_TAG,
};

int s22_dec_feed(struct s22_dec *d, uint8_t *in, size_t len, size_t *consumed, uint8_t *out,
		 size_t out_cap, size_t *out_len)
{
	/* The salt and fixed header come in the first read, or the stream is not ours. */
	if (d->state == S22_HEAD && len && len < d->ch.need && !d->ch.err)
		d->ch.err = SS_ERR_TRUNC;
	return chunks_feed(&d->ch, &ops_2022, d, in, len, consumed, out, out_cap, out_len);
}

int s22_dec_finish(const struct s22_dec *d)
{
	if (d->ch.err)
		return d->ch.err;
	return d->ch.have == 0 && (d->state == S22_LEN || d->state == S22_HEAD) ? SS_OK :
									       SS_ERR_TRUNC;
}
