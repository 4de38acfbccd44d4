// SPDX-License-Identifier: MIT
/* Method table, key schedule and single-chunk AEAD over libsodium or OpenSSL. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "blake3.h"
#include "crypto.h"

/*
 * Backends chosen by tools/bench-crypto on x86-64 with AES-NI/AVX2: OpenSSL's
 * AES-GCM and ChaCha20-Poly1305 assembly beat libsodium's (about 2.2x for
 * ChaCha20), and so does XChaCha20 built on OpenSSL's ChaCha20-Poly1305 with
 * libsodium's HChaCha20 for the subkey (OpenSSL has no XChaCha20 AEAD).
 */
static const struct ss_method methods[] = {
	{ "none", SS_M_NONE, 0, 0, 0, SS_BACKEND_AUTO, false },
	{ "aes-128-gcm", SS_M_AES_128_GCM, 16, 12, 16, SS_BACKEND_OPENSSL, false },
	{ "aes-192-gcm", SS_M_AES_192_GCM, 24, 12, 16, SS_BACKEND_OPENSSL, false },
	{ "aes-256-gcm", SS_M_AES_256_GCM, 32, 12, 16, SS_BACKEND_OPENSSL, false },
	{ "chacha20-ietf-poly1305", SS_M_CHACHA20_POLY1305, 32, 12, 16, SS_BACKEND_OPENSSL, false },
	{ "xchacha20-ietf-poly1305", SS_M_XCHACHA20_POLY1305, 32, 24, 16, SS_BACKEND_OPENSSL, false },
	/* SIP022: the AEAD of the id, keyed from a PSK with BLAKE3. */
	{ "2022-blake3-aes-128-gcm", SS_M_AES_128_GCM, 16, 12, 16, SS_BACKEND_OPENSSL, true },
	{ "2022-blake3-aes-256-gcm", SS_M_AES_256_GCM, 32, 12, 16, SS_BACKEND_OPENSSL, true },
	{ "2022-blake3-chacha20-poly1305", SS_M_CHACHA20_POLY1305, 32, 12, 16, SS_BACKEND_OPENSSL,
	  true },
};

/* Stream ciphers of old shadowsocks: refused by name (SIP004 deprecates them). */
static const char *const stream_ciphers[] = {
	"rc4", "rc4-md5", "table", "aes-128-cfb", "aes-192-cfb", "aes-256-cfb",
	"aes-128-ctr", "aes-192-ctr", "aes-256-ctr", "aes-128-cfb8", "aes-256-cfb8",
	"aes-128-cfb1", "bf-cfb", "camellia-128-cfb", "camellia-192-cfb",
	"camellia-256-cfb", "cast5-cfb", "des-cfb", "idea-cfb", "rc2-cfb", "seed-cfb",
	"salsa20", "chacha20", "chacha20-ietf",
};

const char *ss_result_str(int r)
{
	switch (r) {
	case SS_OK: return "ok";
	case SS_AGAIN: return "need more input";
	case SS_ERR: return "malformed input";
	case SS_ERR_TAG: return "authentication failed";
	case SS_ERR_LEN: return "bad chunk length";
	case SS_ERR_TRUNC: return "truncated stream";
	case SS_ERR_SPACE: return "output buffer too small";
	case SS_ERR_ATYP: return "unknown address type";
	case SS_ERR_REPLAY: return "replayed salt";
	case SS_ERR_TIME: return "timestamp more than 30 s off (a replay, or a wrong clock)";
	case SS_ERR_FULL: return "no room left in the SIP022 salt window";
	}
	return "unknown error";
}

int crypto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

const struct ss_method *crypto_method_at(size_t i)
{
	return i < ARRAY_SIZE(methods) ? &methods[i] : NULL;
}

const struct ss_method *crypto_method_find(const char *name, const char **why)
{
	if (!strcasecmp(name, "plain"))
		name = "none";
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (!strcasecmp(name, methods[i].name))
			return &methods[i];
	*why = "unknown method (supported: aes-128-gcm, aes-192-gcm, aes-256-gcm, "
	       "chacha20-ietf-poly1305, xchacha20-ietf-poly1305, 2022-blake3-aes-128-gcm, "
	       "2022-blake3-aes-256-gcm, 2022-blake3-chacha20-poly1305, none)";
	for (size_t i = 0; i < ARRAY_SIZE(stream_ciphers); i++)
		if (!strcasecmp(name, stream_ciphers[i]))
			*why = "stream ciphers are insecure and not supported; use an AEAD "
			       "method such as chacha20-ietf-poly1305 or aes-256-gcm";
	return NULL;
}

const char *crypto_backend_name(enum ss_backend b)
{
	switch (b) {
	case SS_BACKEND_SODIUM: return "libsodium";
	case SS_BACKEND_OPENSSL: return "openssl";
	default: return "auto";
	}
}

static const EVP_CIPHER *evp_cipher(enum ss_method_id id)
{
	switch (id) {
	case SS_M_AES_128_GCM: return EVP_aes_128_gcm();
	case SS_M_AES_192_GCM: return EVP_aes_192_gcm();
	case SS_M_AES_256_GCM: return EVP_aes_256_gcm();
	case SS_M_CHACHA20_POLY1305:
	case SS_M_XCHACHA20_POLY1305: return EVP_chacha20_poly1305();
	default: return NULL;
	}
}

bool crypto_backend_available(const struct ss_method *m, enum ss_backend b)
{
	if (b == SS_BACKEND_AUTO || m->id == SS_M_NONE)
		return true;
	if (b == SS_BACKEND_OPENSSL)
		return evp_cipher(m->id) != NULL;
	switch (m->id) {
	case SS_M_AES_256_GCM: return crypto_aead_aes256gcm_is_available();
	case SS_M_CHACHA20_POLY1305:
	case SS_M_XCHACHA20_POLY1305: return true;
	default: return false;
	}
}

int crypto_master_key(const char *password, uint8_t *key, size_t key_len)
{
	/* D_1 = MD5(pw), D_i = MD5(D_{i-1} || pw); key = D_1 || D_2 ... */
	uint8_t d[16];
	size_t pw_len = strlen(password), have = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = 0;

	if (!md)
		return -ENOMEM;
	while (have < key_len) {
		if (!EVP_DigestInit_ex(md, EVP_md5(), NULL) ||
		    (have && !EVP_DigestUpdate(md, d, sizeof(d))) ||
		    !EVP_DigestUpdate(md, password, pw_len) || !EVP_DigestFinal_ex(md, d, NULL)) {
			r = -EIO;
			break;
		}
		size_t n = MIN(sizeof(d), key_len - have);
		memcpy(key + have, d, n);
		have += n;
	}
	EVP_MD_CTX_free(md);
	sodium_memzero(d, sizeof(d));
	return r;
}

int crypto_psk_decode(const char *b64, uint8_t *key, size_t key_len)
{
	uint8_t buf[SS_MAX_KEY + 3];
	size_t n = 0;
	int r = -EINVAL;

	/* Standard base64 as `openssl rand -base64` prints it; URL-safe too. */
	if ((!sodium_base642bin(buf, sizeof(buf), b64, strlen(b64), NULL, &n, NULL,
				sodium_base64_VARIANT_ORIGINAL) ||
	     !sodium_base642bin(buf, sizeof(buf), b64, strlen(b64), NULL, &n, NULL,
				sodium_base64_VARIANT_URLSAFE)) &&
	    n == key_len) {
		memcpy(key, buf, key_len);
		r = 0;
	}
	sodium_memzero(buf, sizeof(buf));
	return r;
}

int crypto_psk_split(const struct ss_method *m, const char *password, uint8_t *ipsk,
		     const char **upsk)
{
	const char *colon = strchr(password, ':');
	char part[64];
	int r;

	*upsk = password;
	if (!colon || m->id == SS_M_CHACHA20_POLY1305 || strchr(colon + 1, ':') ||
	    (size_t)(colon - password) >= sizeof(part))
		return 0;
	memcpy(part, password, (size_t)(colon - password));
	part[colon - password] = 0;
	r = crypto_psk_decode(part, ipsk, m->key_len);
	sodium_memzero(part, sizeof(part));
	if (r)
		return r;
	*upsk = colon + 1;
	return 1;
}

int crypto_psk_new(const struct ss_method *m, char *out, size_t cap)
{
	uint8_t k[SS_MAX_KEY];

	if (!m->key_len || cap < sodium_base64_ENCODED_LEN(m->key_len, sodium_base64_VARIANT_ORIGINAL))
		return -EINVAL;
	randombytes_buf(k, m->key_len);
	sodium_bin2base64(out, cap, k, m->key_len, sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(k, sizeof(k));
	return 0;
}

/*
 * One fetched SHA-1 and one digest context per process (the workers are
 * processes): an implicit fetch and a context per digest cost more than the
 * SHA-1 blocks of a key schedule.
 */
static EVP_MD_CTX *sha1_ctx(const EVP_MD **md)
{
	static EVP_MD *sha1;
	static EVP_MD_CTX *ctx;

	if (!sha1 && !(sha1 = EVP_MD_fetch(NULL, "SHA1", NULL)))
		return NULL;
	if (!ctx && !(ctx = EVP_MD_CTX_new()))
		return NULL;
	*md = sha1;
	return ctx;
}

/* HMAC-SHA1 (RFC 2104) over three message parts. */
static int hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *m1, size_t m1_len,
		     const uint8_t *m2, size_t m2_len, const uint8_t *m3, size_t m3_len,
		     uint8_t out[20])
{
	uint8_t k[64] = { 0 }, pad[64], inner[20];
	const EVP_MD *md;
	EVP_MD_CTX *ctx = sha1_ctx(&md);
	int ok;

	if (!ctx)
		return -ENOMEM;
	if (key_len > sizeof(k)) {
		ok = EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, key, key_len) &&
		     EVP_DigestFinal_ex(ctx, k, NULL);
	} else {
		memcpy(k, key, key_len);
		ok = 1;
	}
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	ok = ok && EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
	     EVP_DigestUpdate(ctx, m1, m1_len) && EVP_DigestUpdate(ctx, m2, m2_len) &&
	     EVP_DigestUpdate(ctx, m3, m3_len) && EVP_DigestFinal_ex(ctx, inner, NULL);
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = ok && EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
	     EVP_DigestUpdate(ctx, inner, 20) && EVP_DigestFinal_ex(ctx, out, NULL);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	return ok ? 0 : -EIO;
}

int crypto_hkdf_sha1(const uint8_t *key, size_t key_len, const uint8_t *salt,
		     size_t salt_len, const uint8_t *info, size_t info_len,
		     uint8_t *out, size_t out_len)
{
	/* RFC 5869 section 2: extract then expand; at most 255 blocks. */
	static const uint8_t zero[20];
	uint8_t prk[20], t[20];
	size_t have = 0;
	uint8_t i = 0;
	int r;

	if (out_len > 255 * 20)
		return -EINVAL;
	if (!salt_len) {
		salt = zero;
		salt_len = sizeof(zero);
	}
	r = hmac_sha1(salt, salt_len, key, key_len, NULL, 0, NULL, 0, prk);
	while (!r && have < out_len) {
		i++;
		r = hmac_sha1(prk, sizeof(prk), t, i > 1 ? sizeof(t) : 0, info, info_len, &i, 1, t);
		size_t n = MIN(sizeof(t), out_len - have);
		memcpy(out + have, t, n);
		have += n;
	}
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	return r;
}

void crypto_derive22(const char *context, const uint8_t *a, size_t a_len, const uint8_t *b,
		     size_t b_len, uint8_t *out, size_t out_len)
{
	/* The two contexts' keys are computed once per process, not per session. */
	static struct blake3 base[2];
	static const char *ctx[2];
	struct blake3 h;
	int i = ctx[0] && strcmp(ctx[0], context) ? 1 : 0;

	if (!ctx[i] || strcmp(ctx[i], context)) {
		blake3_init_derive_key(&base[i], context);
		ctx[i] = context;
	}
	h = base[i];
	blake3_update(&h, a, a_len);
	blake3_update(&h, b, b_len);
	blake3_final(&h, out, out_len);
	sodium_memzero(&h, sizeof(h));
}

int crypto_subkey22(const struct ss_method *m, const uint8_t *psk, const uint8_t *salt,
		    size_t salt_len, uint8_t *subkey)
{
	crypto_derive22("shadowsocks 2022 session subkey", psk, m->key_len, salt, salt_len, subkey,
			m->key_len);
	return 0;
}

/*
 * One context each way per process, re-keyed only when another key comes (a
 * server serves one PSK in the common case; identity subkeys change per
 * connection, which costs a key schedule, as it must).
 */
int crypto_aes_block(const uint8_t *key, size_t key_len, const uint8_t *in, uint8_t *out, bool enc)
{
	static EVP_CIPHER_CTX *ctx[2];
	static uint8_t have[2][SS_MAX_KEY];
	static size_t have_len[2];
	int n, e = enc;

	if (key_len != 16 && key_len != 32)
		return -EINVAL;
	if (!ctx[e] && !(ctx[e] = EVP_CIPHER_CTX_new()))
		return -ENOMEM;
	if (have_len[e] != key_len || memcmp(have[e], key, key_len)) {
		have_len[e] = 0;
		if (!EVP_CipherInit_ex(ctx[e], key_len == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb(),
				       NULL, key, NULL, e))
			return -EIO;
		EVP_CIPHER_CTX_set_padding(ctx[e], 0);
		memcpy(have[e], key, key_len);
		have_len[e] = key_len;
	}
	return EVP_CipherUpdate(ctx[e], out, &n, in, 16) && n == 16 ? 0 : -EIO;
}

int crypto_subkey(const struct ss_method *m, const uint8_t *master,
		  const uint8_t *salt, uint8_t *subkey)
{
	static const uint8_t info[] = "ss-subkey";

	if (m->sip022)
		return crypto_subkey22(m, master, salt, m->key_len, subkey);
	return crypto_hkdf_sha1(master, m->key_len, salt, m->key_len, info,
				sizeof(info) - 1, subkey, m->key_len);
}

static struct {
	uint8_t buf[4096];
	size_t left;
} salt_pool;

static void salt_pool_drop(void)
{
	sodium_memzero(&salt_pool, sizeof(salt_pool));
}

void crypto_salt(void *buf, size_t len)
{
	static bool hooked;
	uint8_t *from;

	if (!hooked)
		hooked = !pthread_atfork(NULL, NULL, salt_pool_drop);
	if (!hooked || len > sizeof(salt_pool.buf) / 8) {
		randombytes_buf(buf, len);
		return;
	}
	if (salt_pool.left < len) {
		randombytes_buf(salt_pool.buf, sizeof(salt_pool.buf));
		salt_pool.left = sizeof(salt_pool.buf);
	}
	from = salt_pool.buf + sizeof(salt_pool.buf) - salt_pool.left;
	memcpy(buf, from, len);
	sodium_memzero(from, len);
	salt_pool.left -= len;
}

void crypto_nonce_inc(uint8_t *nonce, size_t n)
{
	sodium_increment(nonce, n);
}

int cipher_init(struct ss_cipher *c, const struct ss_method *m,
		enum ss_backend backend, const uint8_t *key)
{
	memset(c, 0, sizeof(*c));
	c->m = m;
	c->backend = backend == SS_BACKEND_AUTO ? m->backend : backend;
	if (m->id == SS_M_NONE)
		return 0;
	if (!crypto_backend_available(m, c->backend))
		return -ENOTSUP;
	memcpy(c->key, key, m->key_len);
	return 0;
}

/*
 * EVP contexts outlive their connection: a freed cipher's context, its key
 * wiped by re-keying it with zeros, waits here for the next cipher of the
 * same method and direction, which then only sets its key. A connection's
 * set-up neither allocates a context nor looks its cipher up again. Per
 * process (each worker has its own after the fork).
 */
#define EVP_SPARES 64
static struct {
	EVP_CIPHER_CTX *ctx[EVP_SPARES];
	unsigned n;
} evp_spares[SS_M_XCHACHA20_POLY1305 + 1][2];

static EVP_CIPHER_CTX *evp_spare_take(enum ss_method_id id, bool enc)
{
	unsigned *n = &evp_spares[id][enc].n;

	return *n ? evp_spares[id][enc].ctx[--*n] : NULL;
}

static void evp_spare_put(struct ss_cipher *c)
{
	static const uint8_t zero[SS_MAX_KEY];
	unsigned *n = &evp_spares[c->m->id][c->evp_enc].n;

	if (*n < EVP_SPARES && EVP_CipherInit_ex(c->evp, NULL, NULL, zero, NULL, c->evp_enc))
		evp_spares[c->m->id][c->evp_enc].ctx[(*n)++] = c->evp;
	else
		EVP_CIPHER_CTX_free(c->evp);
}

void cipher_free(struct ss_cipher *c)
{
	if (c->evp)
		evp_spare_put(c);
	c->evp = NULL;
	sodium_memzero(c->key, sizeof(c->key));
}

int cipher_init_subkey(struct ss_cipher *c, const struct ss_method *m, enum ss_backend backend,
		       const uint8_t *master, const uint8_t *salt, size_t salt_len)
{
	uint8_t subkey[SS_MAX_KEY];
	int r = 0;

	if (m->sip022)
		r = crypto_subkey22(m, master, salt, salt_len, subkey);
	else if (m->key_len)
		r = crypto_subkey(m, master, salt, subkey);
	if (!r)
		r = cipher_init(c, m, backend, subkey);
	sodium_memzero(subkey, sizeof(subkey));
	return r;
}

int cipher_rekey(struct ss_cipher *c, const struct ss_method *m,
		 enum ss_backend backend, const uint8_t *key)
{
	if (!c->m || c->m != m || c->backend != (backend == SS_BACKEND_AUTO ? m->backend : backend)) {
		if (c->m)
			cipher_free(c);
		return cipher_init(c, m, backend, key);
	}
	memcpy(c->key, key, m->key_len);
	memset(c->nonce, 0, sizeof(c->nonce));
	c->evp_stale = true;
	return 0;
}

/*
 * The EVP context is keyed once per direction; each chunk only resets the IV.
 * A new key for the same cipher and direction keeps the context; a new
 * cipher takes a spare one when there is one.
 */
static int evp_prepare(struct ss_cipher *c, bool enc)
{
	/* XChaCha20's key goes in per call (evp_start): none to set here. */
	const uint8_t *key = c->m->id == SS_M_XCHACHA20_POLY1305 ? NULL : c->key;

	if (!c->evp && (c->evp = evp_spare_take(c->m->id, enc))) {
		c->evp_enc = enc;
		c->evp_stale = true;
	}
	if (c->evp && c->evp_enc == enc) {
		if (c->evp_stale && key && !EVP_CipherInit_ex(c->evp, NULL, NULL, key, NULL, enc))
			return -EIO;
		c->evp_stale = false;
		return 0;
	}
	if (!c->evp && !(c->evp = EVP_CIPHER_CTX_new()))
		return -ENOMEM;
	if (!EVP_CipherInit_ex(c->evp, evp_cipher(c->m->id), NULL, NULL, NULL, enc) ||
	    !EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_IVLEN,
				 c->m->id == SS_M_XCHACHA20_POLY1305 ? 12 : (int)c->m->nonce_len,
				 NULL) ||
	    (key && !EVP_CipherInit_ex(c->evp, NULL, NULL, key, NULL, enc)))
		return -EIO;
	c->evp_enc = enc;
	c->evp_stale = false;
	return 0;
}

/*
 * Keys the EVP context for one AEAD call: the nonce only, or for XChaCha20
 * (draft-irtf-cfrg-xchacha) the HChaCha20 subkey of the nonce's first 16
 * bytes with 4 zero bytes and its last 8 as the ChaCha20-Poly1305 nonce.
 */
static int evp_start(struct ss_cipher *c, const uint8_t *nonce, bool enc)
{
	uint8_t sub[32], iv[12] = { 0 };
	int ok;

	if (evp_prepare(c, enc))
		return -EIO;
	if (c->m->id != SS_M_XCHACHA20_POLY1305)
		return EVP_CipherInit_ex(c->evp, NULL, NULL, NULL, nonce, enc) ? 0 : -EIO;
	crypto_core_hchacha20(sub, nonce, c->key, NULL);
	memcpy(iv + 4, nonce + 16, 8);
	ok = EVP_CipherInit_ex(c->evp, NULL, NULL, sub, iv, enc);
	sodium_memzero(sub, sizeof(sub));
	return ok ? 0 : -EIO;
}

static int evp_seal(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len,
		    const uint8_t *ad, size_t ad_len, const uint8_t *nonce)
{
	int n, fin;

	if (evp_start(c, nonce, true) ||
	    (ad_len && !EVP_CipherUpdate(c->evp, NULL, &n, ad, (int)ad_len)) ||
	    !EVP_CipherUpdate(c->evp, out, &n, in, (int)len) ||
	    !EVP_CipherFinal_ex(c->evp, out + n, &fin) ||
	    !EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_GET_TAG, SS_TAG, out + len))
		return -EIO;
	return 0;
}

static int evp_open(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len,
		    const uint8_t *ad, size_t ad_len, const uint8_t *nonce)
{
	uint8_t tag[SS_TAG];
	size_t ct_len = len - SS_TAG;
	int n, fin;

	memcpy(tag, in + ct_len, SS_TAG);
	if (evp_start(c, nonce, false) ||
	    (ad_len && !EVP_CipherUpdate(c->evp, NULL, &n, ad, (int)ad_len)) ||
	    !EVP_CipherUpdate(c->evp, out, &n, in, (int)ct_len) ||
	    !EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_TAG, SS_TAG, tag) ||
	    EVP_CipherFinal_ex(c->evp, out + n, &fin) <= 0)
		return SS_ERR_TAG;
	return SS_OK;
}

int cipher_seal_ad(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len,
		   const uint8_t *ad, size_t ad_len, const uint8_t *nonce)
{
	unsigned long long clen;
	int r = 0;

	if (c->m->id == SS_M_NONE) {
		if (out != in)
			memmove(out, in, len);
		return 0;
	}
	if (c->backend == SS_BACKEND_OPENSSL)
		return evp_seal(c, out, in, len, ad, ad_len, nonce);
	switch (c->m->id) {
	case SS_M_XCHACHA20_POLY1305:
		r = crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, in, len, ad,
							       ad_len, NULL, nonce, c->key);
		break;
	case SS_M_CHACHA20_POLY1305:
		r = crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad,
							      ad_len, NULL, nonce, c->key);
		break;
	default:
		r = crypto_aead_aes256gcm_encrypt(out, &clen, in, len, ad, ad_len, NULL,
						  nonce, c->key);
		break;
	}
	return r ? -EIO : 0;
}

int cipher_open_ad(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len,
		   const uint8_t *ad, size_t ad_len, const uint8_t *nonce)
{
	unsigned long long mlen;
	int r;

	if (c->m->id == SS_M_NONE) {
		if (out != in)
			memmove(out, in, len);
		return SS_OK;
	}
	if (len < SS_TAG)
		return SS_ERR_TAG;
	if (c->backend == SS_BACKEND_OPENSSL)
		return evp_open(c, out, in, len, ad, ad_len, nonce);
	switch (c->m->id) {
	case SS_M_XCHACHA20_POLY1305:
		r = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, len, ad,
							       ad_len, nonce, c->key);
		break;
	case SS_M_CHACHA20_POLY1305:
		r = crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, len, ad,
							      ad_len, nonce, c->key);
		break;
	default:
		r = crypto_aead_aes256gcm_decrypt(out, &mlen, NULL, in, len, ad, ad_len,
						  nonce, c->key);
		break;
	}
	return r ? SS_ERR_TAG : SS_OK;
}

int cipher_seal(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len)
{
	int r = cipher_seal_ad(c, out, in, len, NULL, 0, c->nonce);

	crypto_nonce_inc(c->nonce, c->m->nonce_len);
	return r;
}

int cipher_open(struct ss_cipher *c, uint8_t *out, const uint8_t *in, size_t len)
{
	int r = cipher_open_ad(c, out, in, len, NULL, 0, c->nonce);

	crypto_nonce_inc(c->nonce, c->m->nonce_len);
	return r;
}
