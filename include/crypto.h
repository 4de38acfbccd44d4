/* SPDX-License-Identifier: MIT */
#ifndef SS_CRYPTO_H
#define SS_CRYPTO_H

#include <stdbool.h>
#include "common.h"

#define SS_MAX_KEY 32
#define SS_MAX_SALT 32
#define SS_MAX_NONCE 24
#define SS_TAG 16

enum ss_method_id {
	SS_M_NONE,
	SS_M_AES_128_GCM,
	SS_M_AES_192_GCM,
	SS_M_AES_256_GCM,
	SS_M_CHACHA20_POLY1305,
	SS_M_XCHACHA20_POLY1305,
};

/* Which library performs the AEAD operation for a method. */
enum ss_backend {
	SS_BACKEND_AUTO,     /* the measured default for the method */
	SS_BACKEND_SODIUM,
	SS_BACKEND_OPENSSL,
};

struct ss_method {
	const char *name;
	enum ss_method_id id;
	size_t key_len;   /* == salt length (SIP004) */
	size_t nonce_len; /* 12, or 24 for xchacha20 */
	size_t tag_len;   /* 16, or 0 for none */
	enum ss_backend backend; /* fastest correct backend on x86-64 (tools/bench-crypto) */
	bool sip022;      /* Shadowsocks 2022: id is the AEAD, the password a base64 PSK */
};

/* Global library set-up (libsodium init); returns 0 or -errno. */
int crypto_init(void);

/*
 * Looks a method up by name ("none" and "plain" are the same method).
 * On failure returns NULL and points *why at a one-line reason, which names
 * stream ciphers as insecure and unsupported.
 */
const struct ss_method *crypto_method_find(const char *name, const char **why);
const struct ss_method *crypto_method_at(size_t i); /* NULL past the end */
bool crypto_backend_available(const struct ss_method *m, enum ss_backend b);
const char *crypto_backend_name(enum ss_backend b);

/* OpenSSL EVP_BytesToKey(MD5, no salt, 1 iteration) as shadowsocks uses it; 0 or -errno. */
int crypto_master_key(const char *password, uint8_t *key, size_t key_len);

/*
 * SIP022: the password is the key itself, base64 of exactly key_len bytes.
 * 0, or -EINVAL (not base64, or another length).
 */
int crypto_psk_decode(const char *b64, uint8_t *key, size_t key_len);
/*
 * SIP023 on a client: "iPSK:uPSK" names an identity layer (AES 2022 methods,
 * one layer). Decodes iPSK into ipsk and points *upsk at the user's part:
 * 1 then, 0 when password is one key (*upsk = password), -EINVAL when the
 * identity part is not a base64 key of the method's length.
 */
int crypto_psk_split(const struct ss_method *m, const char *password, uint8_t *ipsk,
		     const char **upsk);
/* A fresh key for method m, base64, in out (at least 64 bytes); 0 or -EINVAL. */
int crypto_psk_new(const struct ss_method *m, char *out, size_t cap);

/* HKDF-SHA1(ikm=key, salt, info) of out_len bytes; returns 0 or -EINVAL. */
int crypto_hkdf_sha1(const uint8_t *key, size_t key_len, const uint8_t *salt,
		     size_t salt_len, const uint8_t *info, size_t info_len,
		     uint8_t *out, size_t out_len);

/*
 * Per-session subkey, key_len bytes: HKDF-SHA1(master, salt, "ss-subkey"),
 * or for SIP022 BLAKE3 derive_key("shadowsocks 2022 session subkey", psk || salt).
 */
/* One AES block (ECB, no padding) under a 16- or 32-byte key: SIP022 headers. 0 or -EIO. */
int crypto_aes_block(const uint8_t *key, size_t key_len, const uint8_t *in, uint8_t *out, bool enc);
/* BLAKE3 derive_key(context, a || b), key_len bytes (SIP022 and SIP023 subkeys). */
void crypto_derive22(const char *context, const uint8_t *a, size_t a_len, const uint8_t *b,
		     size_t b_len, uint8_t *out, size_t out_len);
/* SIP022's derivation with a salt of any length (UDP: the 8-byte session ID). */
int crypto_subkey22(const struct ss_method *m, const uint8_t *psk, const uint8_t *salt,
		    size_t salt_len, uint8_t *subkey);
int crypto_subkey(const struct ss_method *m, const uint8_t *master,
		  const uint8_t *salt, uint8_t *subkey);

/*
 * Random bytes for values sent in clear (salts): served from a pool refilled
 * 4 KiB at a time, one getrandom instead of one per salt; a forked child
 * drops the pool it inherited, so two workers never send the same salt.
 */
void crypto_salt(void *buf, size_t len);

/* Little-endian increment of an n-byte counter (SIP004 nonce). */
void crypto_nonce_inc(uint8_t *nonce, size_t n);

/* One AEAD key with its running nonce. */
struct ss_cipher {
	const struct ss_method *m;
	enum ss_backend backend;
	uint8_t key[SS_MAX_KEY];
	uint8_t nonce[SS_MAX_NONCE];
	void *evp; /* EVP_CIPHER_CTX when the backend is OpenSSL */
	bool evp_enc; /* direction the EVP context was set up for */
	bool evp_stale; /* key changed since the EVP context was keyed */
};

/*
 * Sets up a cipher with raw key bytes and a zero nonce; backend AUTO takes the
 * method's default. Returns 0, -ENOTSUP (backend lacks the method) or -ENOMEM.
 */
int cipher_init(struct ss_cipher *c, const struct ss_method *m,
		enum ss_backend backend, const uint8_t *key);
/*
 * Gives an initialised cipher a new key and a zero nonce, keeping its EVP
 * context when the method and backend are the same (UDP: a key per packet).
 */
int cipher_rekey(struct ss_cipher *c, const struct ss_method *m,
		 enum ss_backend backend, const uint8_t *key);
void cipher_free(struct ss_cipher *c);
/*
 * cipher_init with a session subkey of master and salt (crypto_subkey; SIP022
 * takes a salt of any length, salt_len). Method none needs neither.
 */
int cipher_init_subkey(struct ss_cipher *c, const struct ss_method *m, enum ss_backend backend,
		       const uint8_t *master, const uint8_t *salt, size_t salt_len);

/*
 * Seals len bytes of in into out (len bytes + tag) with the current nonce and
 * advances it. out may equal in. Returns 0 or -EIO.
 */
int cipher_seal(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len);

/* Opens len bytes (ciphertext + tag) into out; SS_OK or SS_ERR_TAG. */
int cipher_open(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len);

/* Raw AEAD with an explicit nonce and associated data (used by known-answer tests). */
int cipher_seal_ad(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len,
		   const uint8_t *ad, size_t ad_len, const uint8_t *nonce);
int cipher_open_ad(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len,
		   const uint8_t *ad, size_t ad_len, const uint8_t *nonce);

#endif
