/* SPDX-License-Identifier: MIT */
#ifndef SS_AEAD2022_H
#define SS_AEAD2022_H

/*
 * SIP022 (Shadowsocks 2022) TCP framing. A request stream is
 *   salt | seal(type 0, u64be time, u16be L) | seal(ATYP addr port, u16be pad
 *   length, padding, initial payload: L bytes) | [len + tag][payload + tag] ...
 * and a response stream
 *   salt | seal(type 1, u64be time, request salt, u16be L) | [L + tag] | ...
 * with chunks up to 0xFFFF. Everything the connection code sees is what
 * SIP004 gives it: the target address followed by the payload (the encoder
 * adds the padding, the decoder checks and drops it).
 */
#include <stdbool.h>

#include "chunks.h"
#include "crypto.h"

#define S22_MAX_PAYLOAD 0xFFFF
#define S22_MAX_PADDING 900
#define S22_TIME_WINDOW 30   /* seconds either way */
#define S22_SALT_KEEP 60     /* seconds a server remembers a request salt */
#define S22_TYPE_REQUEST 0
#define S22_TYPE_RESPONSE 1
#define S22_REQ_HEAD 11 /* a request's fixed header: type, time, length */

#define S22_EIH 16 /* SIP023: one identity header */

/* SIP023: one identity layer. */
struct s22_identity {
	uint8_t ipsk[SS_MAX_KEY]; /* the server's identity PSK */
	uint8_t uhash[S22_EIH];   /* blake3(user PSK)[0..16] */
};

struct s22_enc {
	struct ss_cipher c;
	uint8_t salt[SS_MAX_SALT];
	uint8_t req_salt[SS_MAX_SALT]; /* a response stream names its request */
	bool response;
	bool started;                  /* the salt and header are out */
	const struct s22_identity *id; /* a request with an identity header (SIP023) */
};

enum s22_dec_state { S22_HEAD, S22_VAR, S22_LEN, S22_DATA };

struct s22_dec {
	struct ss_cipher c;
	const struct ss_method *m;
	uint8_t psk[SS_MAX_KEY];
	uint8_t salt[SS_MAX_SALT];
	uint8_t req_salt[SS_MAX_SALT]; /* a client checks the response names its request */
	bool response;                 /* decodes a response stream (sslocal) */
	size_t eih;                    /* identity header bytes after the salt (already checked) */
	bool authentic;                /* the salt and fixed header passed */
	enum s22_dec_state state;
	struct chunks ch;              /* part holds S22_MAX_PAYLOAD + SS_TAG */
};

/* Big-endian fields of SIP022's headers (TCP and UDP). */
static inline void s22_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t s22_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Is a peer's timestamp within S22_TIME_WINDOW of now? */
bool s22_time_ok(uint64_t t);

/* Encoder of a request stream (sslocal); 0 or -errno. */
int s22_enc_init(struct s22_enc *e, const struct ss_method *m, const uint8_t *psk);
/* The request will carry an identity header naming id's user under id's iPSK. */
void s22_enc_identify(struct s22_enc *e, const struct s22_identity *id);
/* ssserver: requests carry an identity header (found and checked by the caller). */
void s22_dec_expect_identity(struct s22_dec *d);
/* SIP023: the identity header for salt: AES(derive_key(identity subkey, iPSK || salt), hash). */
int s22_identity_header(const struct ss_method *m, const uint8_t *ipsk, const uint8_t *salt,
			const uint8_t *in, uint8_t *out, bool enc);
/* Makes e the response stream to the request whose salt is req_salt. */
void s22_enc_respond(struct s22_enc *e, const uint8_t *req_salt);
void s22_enc_free(struct s22_enc *e);
size_t s22_enc_fit(const struct s22_enc *e, size_t cap);
/*
 * Encodes len bytes (the first call of a request: the SOCKS5-style target
 * address, then the initial payload, possibly none) into out; 0 or -EIO.
 */
int s22_enc_feed(struct s22_enc *e, const uint8_t *in, size_t len, uint8_t *out,
		 size_t *out_len);

/* Decoder of a request stream (ssserver); s22_dec_expect_response for sslocal's. */
int s22_dec_init(struct s22_dec *d, const struct ss_method *m, const uint8_t *psk);
void s22_dec_expect_response(struct s22_dec *d, const uint8_t *req_salt);
void s22_dec_free(struct s22_dec *d);
/*
 * As ss_dec_feed (aead.h). The salt and fixed header must come whole in the
 * first call (SIP022 section 3.1.4: one read); errors are sticky: SS_ERR_TAG,
 * SS_ERR_LEN, SS_ERR_TIME, SS_ERR_TRUNC, SS_ERR (malformed header).
 */
int s22_dec_feed(struct s22_dec *d, uint8_t *in, size_t len, size_t *consumed, uint8_t *out,
		 size_t out_cap, size_t *out_len);
int s22_dec_finish(const struct s22_dec *d);

#endif
