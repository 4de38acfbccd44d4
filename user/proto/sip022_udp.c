// SPDX-License-Identifier: MIT
/* SIP022 UDP packets: separate header, sessions, sliding window (sip022_udp.h). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "addr.h"
#include "aead2022.h"
#include "sip022_udp.h"

#define HDR 16          /* session ID + packet ID */
#define XNONCE 24       /* chacha20-poly1305: XChaCha20's nonce */
#define KEEP_OLD_S 60   /* a client keeps an old server session this long */

static bool is_chacha(const struct ss_method *m)
{
	return m->id == SS_M_CHACHA20_POLY1305;
}

/* ---- the sliding window ----------------------------------------------------- */

bool s22_window_check(const struct s22_window *w, uint64_t pid)
{
	if (pid == UINT64_MAX || pid < w->floor)
		return false;
	if (pid >= w->top)
		return true;
	if (w->top - pid > S22_WINDOW)
		return false;
	return !(w->bits[(pid / 64) % (S22_WINDOW / 64)] & (1ull << (pid % 64)));
}

void s22_window_mark(struct s22_window *w, uint64_t pid)
{
	if (pid >= w->top) {
		/* Clear the words the window slides over (all of them after a long jump). */
		uint64_t from = w->top / 64, to = pid / 64;

		if (w->top == 0 || to - from >= S22_WINDOW / 64)
			memset(w->bits, 0, sizeof(w->bits));
		else
			for (uint64_t i = from + 1; i <= to; i++)
				w->bits[i % (S22_WINDOW / 64)] = 0;
		w->top = pid + 1;
	}
	w->bits[(pid / 64) % (S22_WINDOW / 64)] |= 1ull << (pid % 64);
}

static int block(const struct ss_method *m, const uint8_t *psk, const uint8_t *in, uint8_t *out,
		 bool enc)
{
	return crypto_aes_block(psk, m->key_len, in, out, enc);
}

/* ---- sessions ------------------------------------------------------------------ */

size_t s22_udp_overhead(const struct ss_method *m, bool server)
{
	size_t body = 1 + 8 + (server ? S22_SID : 0) + 2;

	return (is_chacha(m) ? XNONCE + HDR : HDR) + body + SS_TAG;
}

/* chacha20-poly1305 seals every packet with XChaCha20-Poly1305 under the PSK itself. */
static const struct ss_method *xchacha(void)
{
	return crypto_method_find("xchacha20-ietf-poly1305", &(const char *){ 0 });
}

static int peer_key(const struct s22_udp *s, struct s22_peer *p, const uint8_t *sid)
{
	memcpy(p->sid, sid, S22_SID);
	if (is_chacha(s->m))
		return cipher_init(&p->c, xchacha(), SS_BACKEND_AUTO, s->psk);
	return cipher_init_subkey(&p->c, s->m, SS_BACKEND_AUTO, s->psk, sid, S22_SID);
}

int s22_udp_init(struct s22_udp *s, const struct ss_method *m, const uint8_t *psk, bool server)
{
	struct s22_peer self;
	int r;

	memset(s, 0, sizeof(*s));
	s->m = m;
	s->server = server;
	memcpy(s->psk, psk, m->key_len);
	randombytes_buf(s->sid, S22_SID);
	if ((r = peer_key(s, &self, s->sid)))
		return r;
	s->out = self.c;
	return 0;
}

void s22_udp_identify(struct s22_udp *s, const uint8_t *ipsk, const uint8_t *uhash)
{
	s->eih = true;
	memcpy(s->ipsk, ipsk, s->m->key_len);
	if (uhash)
		memcpy(s->uhash, uhash, sizeof(s->uhash));
}

/* Identity headers go from client to server only. */
static size_t eih_len(const struct s22_udp *s, bool to_server)
{
	return s->eih && !is_chacha(s->m) && to_server ? 16 : 0;
}

int s22_udp_peek_user(const struct ss_method *m, const uint8_t *ipsk, const uint8_t *in,
		      size_t len, uint8_t hash[16])
{
	uint8_t hdr[HDR];

	if (len < 16 + s22_udp_overhead(m, false) || is_chacha(m))
		return SS_ERR_TRUNC;
	if (block(m, ipsk, in, hdr, false) || block(m, ipsk, in + HDR, hash, false))
		return SS_ERR;
	for (int i = 0; i < 16; i++)
		hash[i] ^= hdr[i];
	return SS_OK;
}

void s22_udp_free(struct s22_udp *s)
{
	cipher_free(&s->out);
	cipher_free(&s->cur.c);
	cipher_free(&s->old.c);
	sodium_memzero(s->psk, sizeof(s->psk));
}

int s22_udp_seal(struct s22_udp *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		 size_t *out_len)
{
	bool x = is_chacha(s->m);
	size_t eih = eih_len(s, !s->server), ov = s22_udp_overhead(s->m, s->server) + eih, o;
	uint8_t hdr[HDR], *body, nonce[XNONCE];

	if (cap < len + ov)
		return SS_ERR_SPACE;
	memcpy(hdr, s->sid, S22_SID);
	s22_put_be64(hdr + S22_SID, s->pid++);
	/* The body is laid out where it is sealed (in place). */
	body = out + (x ? XNONCE : HDR + eih);
	o = 0;
	if (x) {
		memcpy(body, hdr, HDR);
		o = HDR;
	}
	body[o++] = s->server ? S22_TYPE_RESPONSE : S22_TYPE_REQUEST;
	s22_put_be64(body + o, (uint64_t)time(NULL));
	o += 8;
	if (s->server) {
		memcpy(body + o, s->cur.sid, S22_SID);
		o += S22_SID;
	}
	body[o++] = 0; /* no padding: the path's MTU matters more for datagrams */
	body[o++] = 0;
	memcpy(body + o, in, len);
	o += len;
	if (x) {
		randombytes_buf(nonce, XNONCE);
		memcpy(out, nonce, XNONCE);
		if (cipher_seal_ad(&s->out, body, body, o, NULL, 0, nonce))
			return -EIO;
		*out_len = XNONCE + o + SS_TAG;
		return 0;
	}
	if (eih) {
		/* SIP023: AES(iPSK, hash(uPSK)[0..16] ^ session ID | packet ID). */
		uint8_t x16[16];

		for (int i = 0; i < 16; i++)
			x16[i] = s->uhash[i] ^ hdr[i];
		if (block(s->m, s->ipsk, x16, out + HDR, true))
			return -EIO;
	}
	if (block(s->m, eih ? s->ipsk : s->psk, hdr, out, true) ||
	    cipher_seal_ad(&s->out, body, body, o, NULL, 0, hdr + 4))
		return -EIO;
	*out_len = HDR + eih + o + SS_TAG;
	return 0;
}

int s22_udp_peek_sid(const struct ss_method *m, const uint8_t *psk, const uint8_t *in, size_t len,
		     uint8_t sid[S22_SID])
{
	/* One cipher per process, re-keyed when another PSK comes: no EVP context per packet. */
	static struct ss_cipher c;
	uint8_t hdr[HDR], body[UINT16_MAX];

	if (len < s22_udp_overhead(m, false))
		return SS_ERR_TRUNC;
	if (!is_chacha(m)) {
		if (block(m, psk, in, hdr, false))
			return SS_ERR;
		memcpy(sid, hdr, S22_SID);
		return SS_OK;
	}
	if (len - XNONCE > sizeof(body) + SS_TAG)
		return SS_ERR;
	if ((!c.m || memcmp(c.key, psk, m->key_len)) &&
	    cipher_rekey(&c, xchacha(), SS_BACKEND_AUTO, psk))
		return SS_ERR;
	if (cipher_open_ad(&c, body, in + XNONCE, len - XNONCE, NULL, 0, in))
		return SS_ERR_TAG;
	memcpy(sid, body, S22_SID);
	return SS_OK;
}

/* The body after its sealed header fields: type, time, [client session ID], padding. */
static int check_body(const struct s22_udp *s, const uint8_t *b, size_t n, size_t *skip)
{
	size_t o = 1 + 8, pad;

	if (n < o + (s->server ? 0 : S22_SID) + 2)
		return SS_ERR_TRUNC;
	if (b[0] != (s->server ? S22_TYPE_REQUEST : S22_TYPE_RESPONSE))
		return SS_ERR;
	if (!s22_time_ok(s22_get_be64(b + 1)))
		return SS_ERR_TIME;
	if (!s->server) {
		if (memcmp(b + o, s->sid, S22_SID))
			return SS_ERR; /* a reply to another client session */
		o += S22_SID;
	}
	pad = (size_t)b[o] << 8 | b[o + 1];
	o += 2;
	if (pad > n - o)
		return SS_ERR;
	*skip = o + pad;
	return SS_OK;
}

/* Which peer session a packet belongs to: the current one, the old one, or a new one (tmp). */
static struct s22_peer *peer_for(struct s22_udp *s, const uint8_t *sid, struct s22_peer *tmp)
{
	if (s->cur.set && !memcmp(s->cur.sid, sid, S22_SID))
		return &s->cur;
	if (s->old.set && !memcmp(s->old.sid, sid, S22_SID))
		return &s->old;
	memset(tmp, 0, sizeof(*tmp));
	return peer_key(s, tmp, sid) ? NULL : tmp;
}

/* A new peer session passed every check: it becomes the current one. */
static int adopt(struct s22_udp *s, struct s22_peer *tmp, uint64_t now)
{
	if (s->server && s->cur.set)
		return SS_ERR; /* a server session serves one client session */
	if (s->old.set && now - s->old.last < KEEP_OLD_S)
		return SS_ERR; /* two server sessions at once already: refuse a third */
	cipher_free(&s->old.c);
	s->old = s->cur;
	s->cur = *tmp;
	s->cur.set = true;
	return SS_OK;
}

int s22_udp_open(struct s22_udp *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		 size_t *out_len)
{
	bool x = is_chacha(s->m);
	size_t eih = eih_len(s, s->server), skip, o = x ? HDR : 0, n;
	uint8_t hdr[HDR];
	struct s22_peer tmp, *p;
	const uint8_t *ct = in + (x ? XNONCE : HDR + eih);
	uint64_t pid, now = (uint64_t)time(NULL);
	int r;

	if (len < s22_udp_overhead(s->m, !s->server) + eih)
		return SS_ERR_TRUNC;
	n = len - (size_t)(ct - in);
	if (n - SS_TAG > cap)
		return SS_ERR_SPACE;
	if (x) {
		/* The IDs are inside: open with the PSK first, then find the session. */
		if ((r = cipher_open_ad(&s->out, out, ct, n, NULL, 0, in)))
			return r;
		memcpy(hdr, out, HDR);
	} else if (block(s->m, eih ? s->ipsk : s->psk, in, hdr, false)) {
		return SS_ERR;
	}
	pid = s22_get_be64(hdr + S22_SID);
	if (!(p = peer_for(s, hdr, &tmp)))
		return SS_ERR;
	r = !s22_window_check(&p->win, pid) ? SS_ERR_REPLAY :
	    x ? SS_OK : cipher_open_ad(&p->c, out, ct, n, NULL, 0, hdr + 4);
	if (!r)
		r = check_body(s, out + o, n - SS_TAG - o, &skip);
	if (!r && p == &tmp)
		r = adopt(s, &tmp, now);
	if (r) {
		if (p == &tmp)
			cipher_free(&tmp.c);
		return r;
	}
	p = p == &tmp ? &s->cur : p;
	s22_window_mark(&p->win, pid);
	p->last = now;
	*out_len = n - SS_TAG - o - skip;
	memmove(out, out + o + skip, *out_len);
	return SS_OK;
}
