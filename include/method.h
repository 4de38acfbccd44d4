/* SPDX-License-Identifier: MIT */
#ifndef SS_METHOD_H
#define SS_METHOD_H

/*
 * The protocol seam: what the connection and UDP code need of a Shadowsocks
 * edition (request header in and out, stream chunk seal and open, the salts
 * that go into the replay filter, datagram seal and open). Two editions fill
 * a struct method_ops: SIP004 AEAD (aead2017.c) and SIP022 (aead2022.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "aead.h"
#include "aead2022.h"

struct ss_key;
/* A datagram session of an edition that keeps them (SIP022's: sip022_udp.h). */
struct udp_session;

/* Per-direction stream state of any edition. */
union method_enc {
	struct ss_enc aead2017;
	struct s22_enc aead2022;
};
union method_dec {
	struct ss_dec aead2017;
	struct s22_dec aead2022;
};

struct method_ops {
	const char *edition;
	/* Encrypting side of a stream under key k (key.h); 0 or -errno. */
	int (*enc_init)(union method_enc *e, const struct ss_key *k);
	void (*enc_free)(union method_enc *e);
	/* Largest plaintext whose encoding fits in cap bytes. */
	size_t (*enc_fit)(const union method_enc *e, size_t cap);
	/* Encodes len bytes into out (which holds what enc_fit allowed); 0 or SS_ERR. */
	int (*enc_feed)(union method_enc *e, const uint8_t *in, size_t len, uint8_t *out,
			size_t *out_len);
	/* The salt this side sends (for the replay filter). */
	const uint8_t *(*enc_salt)(const union method_enc *e);
	/* Decrypting side; dec_feed as ss_dec_feed; dec_finish at the end of the stream. */
	int (*dec_init)(union method_dec *d, const struct ss_key *k);
	void (*dec_free)(union method_dec *d);
	int (*dec_feed)(union method_dec *d, uint8_t *in, size_t len, size_t *consumed, uint8_t *out,
			size_t out_cap, size_t *out_len);
	int (*dec_finish)(const union method_dec *d);
	/* The peer's salt once it has arrived whole (SIP022: and authenticated), else NULL. */
	const uint8_t *(*dec_salt)(const union method_dec *d);
	/* Ciphertext the decoder holds in part (a read may release it as plaintext). */
	size_t (*dec_held)(const union method_dec *d);
	/*
	 * Both directions of a connection exist: server, e is the response to d's
	 * request; client, d decodes the response to e's request. NULL: nothing to do.
	 */
	void (*bind)(union method_enc *e, union method_dec *d, bool server);
	/* The request header (the target) at the start of the first payload. */
	int (*header_encode)(const struct ss_addr *a, uint8_t *out, size_t cap);
	int (*header_parse)(const uint8_t *in, size_t len, struct ss_addr *a, size_t *used);
	/* Datagrams. */
	size_t (*udp_overhead)(const struct ss_method *m);
	int (*udp_seal)(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
			size_t len, uint8_t *out, size_t cap, size_t *out_len);
	int (*udp_open)(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
			size_t len, uint8_t *out, size_t cap, size_t *out_len);
	/*
	 * Datagrams that belong to a session (an ID, a packet counter, the peer's
	 * replay window), for an edition that has them, else NULL: one session per
	 * client on either side, made under key k, sealing and opening as
	 * udp_seal and udp_open do (SS_ERR_REPLAY, SS_ERR_TIME for a packet the
	 * window or the clock refuses). udp_seal and udp_open then refuse.
	 */
	struct udp_session *(*session_new)(const struct ss_key *k, bool server);
	void (*session_free)(struct udp_session *s);
	int (*session_seal)(struct udp_session *s, const uint8_t *in, size_t len, uint8_t *out,
			    size_t cap, size_t *out_len);
	int (*session_open)(struct udp_session *s, const uint8_t *in, size_t len, uint8_t *out,
			    size_t cap, size_t *out_len);
	/*
	 * Several users on one port: does the start of a stream (probe_len
	 * bytes) authenticate under master? 1 yes, 0 no, SS_AGAIN for more.
	 */
	int (*dec_probe)(const struct ss_method *m, const uint8_t *master, const uint8_t *in,
			 size_t len);
	size_t (*probe_len)(const struct ss_method *m);
	/*
	 * SIP022: request salts go into the exact 60 s salt window (salt_window.h),
	 * not the Bloom filter, and a side's own salts are not remembered.
	 */
	bool exact_salts;
};

/* SIP004 AEAD (shadowsocks-libev and -rust's 2017 methods, and none/plain). */
extern const struct method_ops method_aead2017;
/* SIP022 (the 2022-blake3-* methods). */
extern const struct method_ops method_aead2022;

/* The edition that serves method m. */
const struct method_ops *method_ops_for(const struct ss_method *m);

#endif
