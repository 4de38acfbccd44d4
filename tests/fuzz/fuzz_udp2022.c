// SPDX-License-Identifier: MIT
/*
 * libFuzzer: SIP022 UDP packets into a server's and a client's sessions.
 * Random bytes rarely authenticate, so half the inputs are sealed properly by
 * a session of either side around a fuzzer-chosen address and payload (and
 * sometimes a flipped byte): the checks after the AEAD get fuzzed too.
 * Input: [mode] bytes...
 */
#include <assert.h>
#include <string.h>

#include "sip022_udp.h"

static const char *const names[] = { "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
				     "2022-blake3-chacha20-poly1305", "2022-blake3-aes-128-gcm" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t psk[32] = { 2, 0, 2, 2 };
	static uint8_t pkt[70000], out[70000];
	static int inited;
	const struct ss_method *m;
	struct s22_udp srv, cli, peer;
	uint8_t sid[S22_SID];
	size_t n = size, got;
	int r;

	if (!inited) {
		crypto_init();
		inited = 1;
	}
	if (size < 1 || size > 60000)
		return 0;
	m = crypto_method_find(names[data[0] & 3], &(const char *){ 0 });
	s22_udp_init(&srv, m, psk, true);
	s22_udp_init(&cli, m, psk, false);
	memcpy(pkt, data + 1, size - 1);
	n = size - 1;
	if (data[0] & 4) {
		/* A well-sealed packet whose body is the fuzzer's: from a peer client, or server. */
		bool from_server = data[0] & 8;

		s22_udp_init(&peer, m, psk, from_server);
		if (from_server)
			memcpy(peer.cur.sid, cli.sid, S22_SID);
		if (!s22_udp_seal(&peer, data + 1, size - 1, pkt, sizeof(pkt), &n) && (data[0] & 16))
			pkt[n / 2] ^= 1;
		s22_udp_free(&peer);
	}
	if (s22_udp_peek_sid(m, psk, pkt, n, sid) == SS_OK) {
		r = s22_udp_open(&srv, pkt, n, out, sizeof(out), &got);
		assert(r != SS_OK || got <= n);
	}
	r = s22_udp_open(&cli, pkt, n, out, sizeof(out), &got);
	assert(r != SS_OK || got <= n);
	s22_udp_free(&srv);
	s22_udp_free(&cli);
	return 0;
}
