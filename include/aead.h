/* SPDX-License-Identifier: MIT */
#ifndef SS_AEAD_H
#define SS_AEAD_H

#include "chunks.h"
#include "crypto.h"

/* SIP004 TCP framing: salt | [len(2, BE) + tag][payload + tag] ... */
#define SS_MAX_PAYLOAD 0x3FFF
#define SS_LEN_UNIT (2 + SS_TAG)
#define SS_CHUNK_OVERHEAD (2 * SS_TAG + 2)

/* Encrypting side of one direction of a connection. */
struct ss_enc {
	struct ss_cipher c;
	uint8_t salt[SS_MAX_SALT];
	bool salt_sent;
};

/* Derives the subkey for salt (random when salt is NULL). 0 or -errno. */
int ss_enc_init(struct ss_enc *e, const struct ss_method *m, enum ss_backend b,
		const uint8_t *master, const uint8_t *salt);
void ss_enc_free(struct ss_enc *e);
/* Largest output that encoding len plaintext bytes can produce now. */
size_t ss_enc_bound(const struct ss_enc *e, size_t len);
/* Largest plaintext whose encoding fits in cap bytes (0 if none fits). */
size_t ss_enc_fit(const struct ss_enc *e, size_t cap);
/*
 * Encodes all len bytes into out, which must hold ss_enc_bound(e, len) bytes
 * and must not overlap in. Emits the salt first on the first call.
 */
int ss_enc_feed(struct ss_enc *e, const uint8_t *in, size_t len, uint8_t *out,
		size_t *out_len);

enum ss_dec_state { SS_DEC_SALT, SS_DEC_LEN, SS_DEC_DATA };

/* Decrypting side: a resumable state machine fed any split of the stream. */
struct ss_dec {
	struct ss_cipher c;
	const struct ss_method *m;
	enum ss_backend backend;
	uint8_t master[SS_MAX_KEY];
	uint8_t salt[SS_MAX_SALT];
	enum ss_dec_state state;
	struct chunks ch; /* units of the stream; part holds SS_MAX_PAYLOAD + SS_TAG */
	uint64_t chunks; /* chunks authenticated so far */
};

int ss_dec_init(struct ss_dec *d, const struct ss_method *m, enum ss_backend b,
		const uint8_t *master);
void ss_dec_free(struct ss_dec *d);
/* True once the whole salt has arrived (d->salt is then valid). */
static inline bool ss_dec_has_salt(const struct ss_dec *d)
{
	return d->state != SS_DEC_SALT;
}
/*
 * Consumes ciphertext from in[0..len) and appends plaintext to out, up to
 * out_cap bytes in total (*out_len is the fill on entry and on return).
 * Plaintext is released only after its chunk authenticates. in may be
 * modified (chunks are decrypted in place when they arrive whole) and out may
 * point into in. Input is always consumed whole except when a complete chunk
 * does not fit in out: then SS_OK returns with *consumed < len (a chunk that
 * completed inside the decoder's own buffer waits there for the next call).
 * Plaintext out never exceeds len plus one chunk's payload. Errors are sticky:
 * SS_ERR_TAG, SS_ERR_LEN, SS_ERR (allocation failure).
 */
int ss_dec_feed(struct ss_dec *d, uint8_t *in, size_t len, size_t *consumed,
		uint8_t *out, size_t out_cap, size_t *out_len);
/* At end of stream: SS_OK on a chunk boundary, SS_ERR_TRUNC otherwise. */
int ss_dec_finish(const struct ss_dec *d);

/* UDP (SIP004): salt | seal(payload) with a zero nonce and a fresh salt. */
size_t ss_udp_overhead(const struct ss_method *m);
int ss_udp_seal(const struct ss_method *m, enum ss_backend b, const uint8_t *master,
		const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);
int ss_udp_open(const struct ss_method *m, enum ss_backend b, const uint8_t *master,
		const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
