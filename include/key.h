/* SPDX-License-Identifier: MIT */
#ifndef SS_KEY_H
#define SS_KEY_H

#include <stdint.h>
#include <sys/socket.h>

#include "crypto.h"
#include "method.h"

#define KEY_USER_MAX 64
#define KEY_RECENT 1024 /* client addresses remembered per port for the trial order */

/* One key a stream or datagram can be under: a port's password, or one user's. */
struct ss_key {
	const struct ss_method *m;
	const struct method_ops *ops;
	uint8_t master[SS_MAX_KEY];
	char user[KEY_USER_MAX]; /* "" for a port's one password */
	int port;                /* the server port it serves */
	int port_slot, slot;     /* traffic counters of the port, and of the user (or -1) */
	uint32_t rate;           /* ssserver: rate_limit, bytes/s each way; 0: none */
	uint64_t data_limit;     /* ssserver: bytes its limit_slot may carry; 0: none */
	int limit_slot;          /* the user's slot when the user has the limit, else the port's */
	/*
	 * SIP023 identity headers (2022 AES methods): sslocal with "iPSK:uPSK"
	 * sends one; on ssserver a port with users and a password (the iPSK)
	 * expects one in every request. id holds the iPSK and this key's hash.
	 */
	bool eih;
	struct s22_identity id;
};

/*
 * A server port's keys. With several users, a connection's user is found by
 * trying each key on the stream's first length chunk: first the key that
 * last served the same client address, then the others by recency.
 */
struct port_keys {
	struct port_keys *next;  /* the worker's list of ports, or of retired ones */
	struct port_keys *same_bucket; /* its bucket of the worker's port index (port_index.h) */
	unsigned refs;           /* connections that came in on it */
	char *server;            /* its own listen address, or NULL */
	int port;
	int port_last;           /* a range's last port; else port */
	uint32_t serve_mask;     /* --bpf: the listen addresses serving it (serve.h); 0: sockets */
	struct ss_key *keys;
	unsigned n;
	unsigned *mru;                      /* key indexes, most recent first */
	/*
	 * SIP023 (the users' keys have eih and the port's identity PSK in id):
	 * key index + 1 by identity hash, open addressed.
	 */
	uint16_t *by_hash;
	unsigned hash_slots;
	uint32_t recent_addr[KEY_RECENT];   /* hash of a client address */
	uint16_t recent_key[KEY_RECENT];    /* its key index + 1; 0: empty */
};

/*
 * A key from a method and a password; 0 or -errno. A 2022 AES method takes
 * "iPSK:uPSK" (an identity layer, SIP023) as well as one base64 key; raw:
 * the password is a 2017 method's key itself, base64 (libev --key).
 */
int key_init(struct ss_key *k, const struct ss_method *m, const char *password, bool raw,
	     const char *user, int port);
/* ssserver: the users of a 2022 port with a password expect identity headers under it. */
int key_expect_identity(struct ss_key *k, const char *port_password);
/* n keys, all zeroed first; 0 or -ENOMEM. */
int port_keys_alloc(struct port_keys *pk, int port, unsigned n);
void port_keys_free(struct port_keys *pk);
/*
 * The key under which the stream start in (len bytes, from client) opens:
 * its index, -1 when none does (a probe or a wrong password), or SS_AGAIN
 * (1) while fewer than the method's probe_len bytes are there. *tries counts
 * the keys tried.
 */
int port_keys_find(struct port_keys *pk, const struct sockaddr_storage *client, const uint8_t *in,
		   size_t len, unsigned *tries);
/* SIP023: the user whose PSK hash is hash (16 bytes), in O(1); -1 if none. */
int port_keys_by_identity(const struct port_keys *pk, const uint8_t *hash);
/* Fills the identity hash table once the keys are set; 0 or -ENOMEM. */
int port_keys_index_identities(struct port_keys *pk);
/* Datagrams: the key under which a whole packet opens, the plaintext in out; -1 if none. */
int port_keys_open_dgram(struct port_keys *pk, const uint8_t *in, size_t len, uint8_t *out,
			 size_t cap, size_t *out_len);

#endif
