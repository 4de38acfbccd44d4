// SPDX-License-Identifier: MIT
/* Known-answer tests for the key schedule and each AEAD backend. */
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto.h"
#include "test.h"

/* RFC 5869 appendix A.4-A.7 (the SHA-1 cases). */
TEST(hkdf_sha1_rfc5869)
{
	static const struct {
		const char *ikm, *salt, *info, *okm;
	} v[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
		  "f0f1f2f3f4f5f6f7f8f9",
		  "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2"
		  "c22e422478d305f3f896" },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
		  "404142434445464748494a4b4c4d4e4f",
		  "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
		  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
		  "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
		  "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
		  "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
		  "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		  "0bd770a74d1160f7c9f12cd5912a06ebff6adcae899d92191fe4305673ba2ffe"
		  "8fa3f1a4e5ad79f3f334b3b202b2173c486ea37ce3d397ed034c7f9dfeb15c5e"
		  "927336d0441f4c4300e2cff0d0900b52d3b4" },
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
		  "0ac1af7002b3d761d1e55298da9d0506b9ae52057220a306e07b6b87e8df21d0"
		  "ea00033de03984d34918" },
		{ "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "", "",
		  "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5"
		  "673a081d70cce7acfc48" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		unsigned char ikm[128], salt[128], info[128], okm[128], out[128];
		size_t ni = unhex(v[i].ikm, ikm, sizeof(ikm));
		size_t ns = unhex(v[i].salt, salt, sizeof(salt));
		size_t nf = unhex(v[i].info, info, sizeof(info));
		size_t no = unhex(v[i].okm, okm, sizeof(okm));

		CHECK_EQ(crypto_hkdf_sha1(ikm, ni, salt, ns, info, nf, out, no), 0);
		CHECK(memcmp(out, okm, no) == 0);
	}
}

TEST(master_key_matches_openssl)
{
	static const char *pw[] = { "", "a", "barfoo!", "password-long-enough-for-3-blocks",
				    "\xe5\xaf\x86\xe7\xa0\x81" };
	static const size_t lens[] = { 16, 24, 32 };

	for (size_t i = 0; i < ARRAY_SIZE(pw); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(lens); j++) {
			unsigned char ours[32], ref[32], iv[16];
			const EVP_CIPHER *c = lens[j] == 16 ? EVP_aes_128_cbc() :
					      lens[j] == 24 ? EVP_aes_192_cbc() :
							      EVP_aes_256_cbc();

			crypto_master_key(pw[i], ours, lens[j]);
			CHECK_EQ(EVP_BytesToKey(c, EVP_md5(), NULL, (const void *)pw[i],
						(int)strlen(pw[i]), 1, ref, iv),
				 (long long)lens[j]);
			CHECK(memcmp(ours, ref, lens[j]) == 0);
		}
	}
	/* A fixed value too, so a shared mistake in both would show. */
	unsigned char k[16], want[16];
	crypto_master_key("foobar", k, 16);
	unhex("3858f62230ac3c915f300c664312c63f", want, 16);
	CHECK(memcmp(k, want, 16) == 0);
}

static const char *ladies =
	"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
	"for the future, sunscreen would be it.";

struct kat {
	const char *method, *key, *nonce, *ad, *pt_hex, *ct, *tag;
};

/*
 * McGrew-Viega GCM test cases 3, 4, 9, 15 (the NIST GCM spec), RFC 8439
 * section 2.8.2, draft-irtf-cfrg-xchacha-03 appendix A.3.1.
 */
static const struct kat kats[] = {
	{ "aes-128-gcm", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	  "4d5c2af327cd64a62cf35abd2ba6fab4" },
	{ "aes-128-gcm", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "aes-192-gcm", "feffe9928665731c6d6a8f9467308308feffe9928665731c",
	  "cafebabefacedbaddecaf888", "",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
	  "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256",
	  "9924a7c8587336bfb118024db8674a14" },
	{ "aes-256-gcm", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "chacha20-ietf-poly1305",
	  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
	  "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7", NULL,
	  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	  "3ff4def08e4b7a9de576d26586cec64b6116",
	  "1ae10b594f09e26a7e902ecbd0600691" },
	{ "xchacha20-ietf-poly1305",
	  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
	  "404142434445464748494a4b4c4d4e4f5051525354555657",
	  "50515253c0c1c2c3c4c5c6c7", NULL,
	  "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
	  "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
	  "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
	  "21f9664c97637da9768812f615c68b13b52e",
	  "c0875924c1c7987947deafd8780acf49" },
};

/* Seals and opens every vector with every backend; counts what it checked. */
static void known_answers(int *checked)
{
	for (size_t i = 0; i < ARRAY_SIZE(kats); i++) {
		const struct kat *k = &kats[i];
		const char *why;
		const struct ss_method *m = crypto_method_find(k->method, &why);
		unsigned char key[32], nonce[24], ad[64], pt[256], ct[256], tag[16],
			out[256], back[256];
		size_t npt, nct, nad;

		CHECK(m != NULL);
		unhex(k->key, key, sizeof(key));
		unhex(k->nonce, nonce, sizeof(nonce));
		nad = unhex(k->ad, ad, sizeof(ad));
		if (k->pt_hex) {
			npt = unhex(k->pt_hex, pt, sizeof(pt));
		} else {
			npt = strlen(ladies);
			memcpy(pt, ladies, npt);
		}
		nct = unhex(k->ct, ct, sizeof(ct));
		unhex(k->tag, tag, sizeof(tag));
		CHECK_EQ(nct, npt);
		for (int b = SS_BACKEND_SODIUM; b <= SS_BACKEND_OPENSSL; b++) {
			struct ss_cipher c;

			if (!crypto_backend_available(m, b))
				continue;
			CHECK_EQ(cipher_init(&c, m, b, key), 0);
			CHECK_EQ(cipher_seal_ad(&c, out, pt, npt, ad, nad, nonce), 0);
			CHECK(memcmp(out, ct, nct) == 0);
			CHECK(memcmp(out + nct, tag, 16) == 0);
			CHECK_EQ(cipher_open_ad(&c, back, out, nct + 16, ad, nad, nonce), SS_OK);
			CHECK(memcmp(back, pt, npt) == 0);
			out[npt / 2] ^= 1;
			CHECK_EQ(cipher_open_ad(&c, back, out, nct + 16, ad, nad, nonce),
				 SS_ERR_TAG);
			cipher_free(&c);
			(*checked)++;
		}
	}
}

TEST(aead_known_answers_every_backend)
{
	int checked = 0;

	known_answers(&checked);
	/*
	 * Every vector has at least one backend; chacha20 and xchacha20 always
	 * have two (xchacha20 on OpenSSL through HChaCha20), aes-256 with AES-NI.
	 */
	CHECK(checked >= (int)ARRAY_SIZE(kats) + 2);
}

/*
 * A freed cipher's OpenSSL context serves the next cipher of its method and
 * direction (crypto.c keeps it, its key wiped): the known answers hold on
 * contexts that sealed and opened under other keys before.
 */
TEST(known_answers_on_recycled_contexts)
{
	uint8_t junk[SS_MAX_KEY], pt[64] = { 1 }, ct[64 + SS_TAG], back[64];
	int checked = 0;

	memset(junk, 0x5a, sizeof(junk));
	for (int round = 0; round < 2; round++) {
		/* Method 0 is none: no key. */
		for (size_t mi = 1; crypto_method_at(mi); mi++) {
			const struct ss_method *m = crypto_method_at(mi);
			struct ss_cipher e, d;

			if (!crypto_backend_available(m, SS_BACKEND_OPENSSL))
				continue;
			CHECK_EQ(cipher_init(&e, m, SS_BACKEND_OPENSSL, junk), 0);
			CHECK_EQ(cipher_init(&d, m, SS_BACKEND_OPENSSL, junk), 0);
			CHECK_EQ(cipher_seal(&e, ct, pt, sizeof(pt)), 0);
			CHECK_EQ(cipher_open(&d, back, ct, sizeof(ct)), SS_OK);
			cipher_free(&e);
			cipher_free(&d);
		}
		known_answers(&checked);
		junk[0]++;
	}
	CHECK(checked >= 2 * ((int)ARRAY_SIZE(kats) + 2));
}

TEST(nonce_is_little_endian_counter)
{
	unsigned char n[12] = { 0xff, 0xff, 0 };

	crypto_nonce_inc(n, 12);
	CHECK_EQ(n[0], 0);
	CHECK_EQ(n[1], 0);
	CHECK_EQ(n[2], 1);
	memset(n, 0xff, 12);
	crypto_nonce_inc(n, 12);
	for (int i = 0; i < 12; i++)
		CHECK_EQ(n[i], 0);
}

TEST(method_table_and_stream_cipher_refusal)
{
	const char *why = NULL;

	CHECK(crypto_method_find("chacha20-ietf-poly1305", &why)->key_len == 32);
	CHECK(crypto_method_find("aes-128-gcm", &why)->key_len == 16);
	CHECK(crypto_method_find("aes-192-gcm", &why)->key_len == 24);
	CHECK(crypto_method_find("xchacha20-ietf-poly1305", &why)->nonce_len == 24);
	CHECK(crypto_method_find("plain", &why)->id == SS_M_NONE);
	CHECK(crypto_method_find("none", &why)->id == SS_M_NONE);
	CHECK(crypto_method_find("aes-256-cfb", &why) == NULL);
	CHECK(strstr(why, "stream ciphers are insecure") != NULL);
	CHECK(crypto_method_find("rc4-md5", &why) == NULL);
	CHECK(strstr(why, "stream ciphers") != NULL);
	CHECK(crypto_method_find("bogus-cipher", &why) == NULL);
	CHECK(strstr(why, "unknown method") != NULL);
}

/* A re-keyed cipher (UDP: a key per packet) seals and opens as a fresh one. */
TEST(rekey_matches_a_fresh_cipher_every_backend)
{
	static const enum ss_backend backends[] = { SS_BACKEND_SODIUM, SS_BACKEND_OPENSSL };
	uint8_t k1[SS_MAX_KEY], k2[SS_MAX_KEY], pt[300], a[300 + SS_TAG], b[300 + SS_TAG],
		back[300];

	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7);
	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	/* Method 0 is none: no key. */
	for (size_t mi = 1; crypto_method_at(mi); mi++) {
		const struct ss_method *m = crypto_method_at(mi);

		for (size_t bi = 0; bi < 2; bi++) {
			struct ss_cipher re = { 0 }, fresh;

			if (!crypto_backend_available(m, backends[bi]))
				continue;
			/* Used with k1 in both directions, then re-keyed to k2. */
			CHECK_EQ(cipher_rekey(&re, m, backends[bi], k1), 0);
			CHECK_EQ(cipher_seal(&re, a, pt, sizeof(pt)), 0);
			CHECK_EQ(cipher_rekey(&re, m, backends[bi], k1), 0);
			CHECK_EQ(cipher_open(&re, back, a, sizeof(a)), SS_OK);
			CHECK_EQ(cipher_rekey(&re, m, backends[bi], k2), 0);
			CHECK_EQ(cipher_seal(&re, a, pt, sizeof(pt)), 0);
			CHECK_EQ(cipher_init(&fresh, m, backends[bi], k2), 0);
			CHECK_EQ(cipher_seal(&fresh, b, pt, sizeof(pt)), 0);
			CHECK(!memcmp(a, b, sizeof(a)));
			/* Opening under the old key fails once the key changed. */
			CHECK_EQ(cipher_rekey(&re, m, backends[bi], k1), 0);
			CHECK_EQ(cipher_open(&re, back, b, sizeof(b)), SS_ERR_TAG);
			CHECK_EQ(cipher_rekey(&re, m, backends[bi], k2), 0);
			CHECK_EQ(cipher_open(&re, back, b, sizeof(b)), SS_OK);
			CHECK(!memcmp(back, pt, sizeof(pt)));
			cipher_free(&re);
			cipher_free(&fresh);
		}
	}
}

/* Salts: all different, and a forked child never repeats its parent's next one. */
TEST(salts_differ_and_a_forked_child_gets_its_own)
{
	uint8_t s[64][32], mine[32], child[32];
	int fds[2];
	pid_t pid;

	for (int i = 0; i < 64; i++) {
		crypto_salt(s[i], sizeof(s[i]));
		for (int j = 0; j < i; j++)
			CHECK(memcmp(s[i], s[j], sizeof(s[i])));
	}
	CHECK_EQ(pipe(fds), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		crypto_salt(child, sizeof(child));
		_exit(write(fds[1], child, sizeof(child)) == sizeof(child) ? 0 : 1);
	}
	crypto_salt(mine, sizeof(mine));
	CHECK_EQ(read(fds[0], child, sizeof(child)), sizeof(child));
	waitpid(pid, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	CHECK(memcmp(mine, child, sizeof(mine)));
}
