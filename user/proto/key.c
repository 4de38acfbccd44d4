// SPDX-License-Identifier: MIT
/* Keys of ports and users, and the trial order that finds a connection's user. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "blake3.h"
#include "common.h"
#include "key.h"

/* This key's PSK, and its identity hash (SIP023: what a request names). */
static int set_psk(struct ss_key *k, const char *b64)
{
	uint8_t h[BLAKE3_OUT_LEN];
	struct blake3 b;

	if (crypto_psk_decode(b64, k->master, k->m->key_len))
		return -EINVAL;
	blake3_init(&b);
	blake3_update(&b, k->master, k->m->key_len);
	blake3_final(&b, h, sizeof(h));
	memcpy(k->id.uhash, h, S22_EIH);
	return 0;
}

/* A 2022 password: "PSK", or sslocal's "iPSK:uPSK" (one identity layer). */
static int key_psk(struct ss_key *k, const char *password)
{
	const char *upsk;
	int r = crypto_psk_split(k->m, password, k->id.ipsk, &upsk);

	if (r < 0)
		return r;
	k->eih = r == 1;
	return set_psk(k, upsk);
}

int key_expect_identity(struct ss_key *k, const char *port_password)
{
	if (k->m->id == SS_M_CHACHA20_POLY1305 ||
	    crypto_psk_decode(port_password, k->id.ipsk, k->m->key_len))
		return -EINVAL;
	k->eih = true;
	return 0;
}

int key_init(struct ss_key *k, const struct ss_method *m, const char *password, bool raw,
	     const char *user, int port)
{
	memset(k, 0, sizeof(*k));
	k->m = m;
	k->ops = method_ops_for(m);
	k->port = port;
	k->port_slot = k->slot = -1;
	if (user)
		snprintf(k->user, sizeof(k->user), "%s", user);
	if (m->sip022)
		return key_psk(k, password);
	if (raw) /* libev's --key: the key itself */
		return crypto_psk_decode(password, k->master, m->key_len) ? -EINVAL : 0;
	return m->key_len ? crypto_master_key(password, k->master, m->key_len) : 0;
}

int port_keys_alloc(struct port_keys *pk, int port, unsigned n)
{
	memset(pk, 0, sizeof(*pk));
	pk->port = pk->port_last = port;
	pk->keys = calloc(n, sizeof(*pk->keys));
	pk->mru = calloc(n, sizeof(*pk->mru));
	if (!pk->keys || !pk->mru) {
		port_keys_free(pk);
		return -ENOMEM;
	}
	pk->n = n;
	for (unsigned i = 0; i < n; i++)
		pk->mru[i] = i;
	return 0;
}

void port_keys_free(struct port_keys *pk)
{
	if (pk->keys)
		explicit_bzero(pk->keys, pk->n * sizeof(*pk->keys));
	free(pk->server);
	free(pk->keys);
	free(pk->mru);
	free(pk->by_hash);
	memset(pk, 0, sizeof(*pk));
}

static uint32_t addr_hash(const struct sockaddr_storage *sa)
{
	const uint8_t *a;
	size_t n;
	uint32_t h = 2166136261u;

	if (sa->ss_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		n = 4;
	} else if (sa->ss_family == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		n = 16;
	} else {
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ a[i]) * 16777619u;
	return h | 1; /* 0 marks an empty slot */
}

static uint32_t identity_slot(const uint8_t *hash, unsigned slots)
{
	uint32_t h;

	memcpy(&h, hash, sizeof(h)); /* BLAKE3 output: already uniform */
	return h & (slots - 1);
}

int port_keys_index_identities(struct port_keys *pk)
{
	unsigned slots = 16;

	while (slots < 2 * pk->n)
		slots *= 2;
	free(pk->by_hash);
	if (!(pk->by_hash = calloc(slots, sizeof(*pk->by_hash))))
		return -ENOMEM;
	pk->hash_slots = slots;
	for (unsigned i = 0; i < pk->n; i++) {
		uint32_t at = identity_slot(pk->keys[i].id.uhash, slots);

		while (pk->by_hash[at])
			at = (at + 1) & (slots - 1);
		pk->by_hash[at] = (uint16_t)(i + 1);
	}
	return 0;
}

int port_keys_by_identity(const struct port_keys *pk, const uint8_t *hash)
{
	if (!pk->by_hash)
		return -1;
	for (uint32_t at = identity_slot(hash, pk->hash_slots); pk->by_hash[at];
	     at = (at + 1) & (pk->hash_slots - 1)) {
		const struct ss_key *k = &pk->keys[pk->by_hash[at] - 1];

		if (!sodium_memcmp(k->id.uhash, hash, S22_EIH))
			return pk->by_hash[at] - 1;
	}
	return -1;
}

/* Moves key i to the front of the recency list. */
static void touch(struct port_keys *pk, unsigned i)
{
	unsigned at = 0;

	while (at < pk->n && pk->mru[at] != i)
		at++;
	if (at == pk->n)
		return;
	memmove(pk->mru + 1, pk->mru, at * sizeof(*pk->mru));
	pk->mru[0] = i;
}

int port_keys_find(struct port_keys *pk, const struct sockaddr_storage *client, const uint8_t *in,
		   size_t len, unsigned *tries)
{
	const struct ss_key *k0 = &pk->keys[0];
	uint32_t h = addr_hash(client);
	unsigned slot = h % KEY_RECENT, first = pk->n;
	int r;

	*tries = 0;
	if (len < k0->ops->probe_len(k0->m))
		return SS_AGAIN;
	/* SIP023: the identity header after the salt names the user; no trial. */
	if (k0->eih) {
		uint8_t hash[S22_EIH];

		*tries = 1;
		if (s22_identity_header(k0->m, k0->id.ipsk, in, in + k0->m->key_len, hash, false))
			return -1;
		return port_keys_by_identity(pk, hash);
	}
	if (h && pk->recent_addr[slot] == h && pk->recent_key[slot] &&
	    pk->recent_key[slot] <= pk->n) {
		first = pk->recent_key[slot] - 1u;
		++*tries;
		if ((r = k0->ops->dec_probe(pk->keys[first].m, pk->keys[first].master, in, len)) == 1)
			goto found;
	}
	for (unsigned j = 0; j < pk->n; j++) {
		unsigned i = pk->mru[j];

		if (i == first)
			continue;
		++*tries;
		if (k0->ops->dec_probe(pk->keys[i].m, pk->keys[i].master, in, len) == 1) {
			first = i;
			goto found;
		}
	}
	return -1;
found:
	touch(pk, first);
	if (h) {
		pk->recent_addr[slot] = h;
		pk->recent_key[slot] = (uint16_t)(first + 1);
	}
	return (int)first;
}

int port_keys_open_dgram(struct port_keys *pk, const uint8_t *in, size_t len, uint8_t *out,
			 size_t cap, size_t *out_len)
{
	for (unsigned j = 0; j < pk->n; j++) {
		unsigned i = pk->mru[j];
		const struct ss_key *k = &pk->keys[i];

		if (!k->ops->udp_open(k->m, k->master, in, len, out, cap, out_len)) {
			touch(pk, i);
			return (int)i;
		}
	}
	return -1;
}
