// SPDX-License-Identifier: MIT
/*
 * BLAKE3 against the official test vectors (BLAKE3-team/BLAKE3,
 * test_vectors/test_vectors.json): the input is 0, 1, ..., 250 repeated; the
 * derive_key context is "BLAKE3 2019-12-27 16:29:52 test vectors context".
 * Each case checks the first 32 bytes; some the whole 131-byte extended output.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blake3.h"
#include "test.h"

#define CONTEXT "BLAKE3 2019-12-27 16:29:52 test vectors context"

static const struct {
	size_t len;
	const char *hash, *derive;
} vectors[] = {
	{ 0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262e00f03e7b69af26b7faaf09fcd333050338ddfe085b8cc869ca98b206c08243a26f5487789e8f660afe6c99ef9e0c52b92e7393024a80459cf91f476f9ffdbda7001c22e159b402631f277ca96f2defdf1078282314e763699a31c5363165421cce14d",
	  "2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d905630c8be290dfcf3e6842f13bddd573c098c3f17361f1f206b8cad9d088aa4a3f746752c6b0ce6a83b0da81d59649257cdf8eb3e9f7d4998e41021fac119deefb896224ac99f860011f73609e6e0e4540f93b273e56547dfd3aa1a035ba6689d89a0" },
	{ 1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
	  "b3e2e340a117a499c6cf2398a19ee0d29cca2bb7404c73063382693bf66cb06c" },
	{ 1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
	  "74a16c1c3d44368a86e1ca6df64be6a2f64cce8f09220787450722d85725dea5" },
	{ 1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
	  "7356cd7720d5b66b6d0697eb3177d9f8d73a4a5c5e968896eb6a689684302706" },
	{ 1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
	  "effaa245f065fbf82ac186839a249707c3bddf6d3fdda22d1b95a3c970379bcb" },
	{ 2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
	  "7b2945cb4fef70885cc5d78a87bf6f6207dd901ff239201351ffac04e1088a23" },
	{ 2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b687952256303096de31d71d74103403822a2e0bc1eb193e7aecc9643a76b7bbc0c9f9c52e8783aae98764ca468962b5c2ec92f0c74eb5448d519713e09413719431c802f948dd5d90425a4ecdadece9eb178d80f26efccae630734dff63340285adec2aed3b51073ad3",
	  "2ea477c5515cc3dd606512ee72bb3e0e758cfae7232826f35fb98ca1bcbdf27316d8e9e79081a80b046b60f6a263616f33ca464bd78d79fa18200d06c7fc9bffd808cc4755277a7d5e09da0f29ed150f6537ea9bed946227ff184cc66a72a5f8c1e4bd8b04e81cf40fe6dc4427ad5678311a61f4ffc39d195589bdbc670f63ae70f4b6" },
	{ 3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2",
	  "050df97f8c2ead654d9bb3ab8c9178edcd902a32f8495949feadcc1e0480c46b" },
	{ 3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3",
	  "72613c9ec9ff7e40f8f5c173784c532ad852e827dba2bf85b2ab4b76f7079081" },
	{ 4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969",
	  "1e0d7f3db8c414c97c6307cbda6cd27ac3b030949da8e23be1a1a924ad2f25b9" },
	{ 4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995",
	  "aca51029626b55fda7117b42a7c211f8c6e9ba4fe5b7a8ca922f34299500ead8" },
	{ 5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833",
	  "7a7acac8a02adcf3038d74cdd1d34527de8a0fcc0ee3399d1262397ce5817f60" },
	{ 5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff",
	  "b07f01e518e702f7ccb44a267e9e112d403a7b3f4883a47ffbed4b48339b3c34" },
	{ 6144, "3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205",
	  "2a95beae63ddce523762355cf4b9c1d8f131465780a391286a5d01abb5683a15" },
	{ 6145, "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f",
	  "379bcc61d0051dd489f686c13de00d5b14c505245103dc040d9e4dd1facab8e5" },
	{ 7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a",
	  "11c37a112765370c94a51415d0d651190c288566e295d505defdad895dae2237" },
	{ 7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817",
	  "554b0a5efea9ef183f2f9b931b7497995d9eb26f5c5c6dad2b97d62fc5ac31d9" },
	{ 8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b",
	  "af1e0346e389b17c23200270a64aa4e1ead98c61695d917de7d5b00491c9b0f1" },
	{ 16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4",
	  "160e18b5878cd0df1c3af85eb25a0db5344d43a6fbd7a8ef4ed98d0714c3f7e1" },
	{ 31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47",
	  "39772aef80e0ebe60596361e45b061e8f417429d529171b6764468c22928e28e" },
	{ 102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085e01c59dab908c04c3342b816941a26d69c2605ebee5ec5291cc55e15b76146e6745f0601156c3596cb75065a9c57f35585a52e1ac70f69131c23d611ce11ee4ab1ec2c009012d236648e77be9295dd0426f29b764d65de58eb7d01dd42248204f45f8e",
	  "4652cff7a3f385a6103b5c260fc1593e13c778dbe608efb092fe7ee69df6e9c6d83a3e041bc3a48df2879f4a0a3ed40e7c961c73eff740f3117a0504c2dff4786d44fb17f1549eb0ba585e40ec29bf7732f0b7e286ff8acddc4cb1e23b87ff5d824a986458dcc6a04ac83969b80637562953df51ed1a7e90a7926924d2763778be8560" },
};

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* The hash of the case's input fed in pieces of step bytes, as hex of the expected length. */
static void run(size_t len, bool derive, size_t step, size_t out_len, char *out)
{
	uint8_t *in = malloc(len + 1), res[131];
	struct blake3 h;

	for (size_t i = 0; i < len; i++)
		in[i] = (uint8_t)(i % 251);
	if (derive)
		blake3_init_derive_key(&h, CONTEXT);
	else
		blake3_init(&h);
	for (size_t at = 0; at < len; at += step)
		blake3_update(&h, in + at, len - at < step ? len - at : step);
	blake3_final(&h, res, out_len);
	hex(res, out_len, out);
	free(in);
}

TEST(blake3_official_vectors_hash_and_derive_key)
{
	static const size_t steps[] = { 1, 63, 64, 65, 1024, 1 << 20 };
	char got[300];
	int checked = 0;

	for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++)
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++)
			for (int d = 0; d < 2; d++) {
				const char *want = d ? vectors[v].derive : vectors[v].hash;

				run(vectors[v].len, d, steps[s], strlen(want) / 2, got);
				if (strncmp(got, want, strlen(want) & ~1u)) {
					fprintf(stderr, "  len %zu step %zu %s: %s\n", vectors[v].len,
						steps[s], d ? "derive_key" : "hash", got);
					CHECK(0);
				}
				checked++;
			}
	CHECK(checked > 200);
}

TEST(blake3_derive_key_one_shot_matches_the_stream)
{
	uint8_t a[64], b[64];
	const char *ctx = "shadowsocks 2022 session subkey";
	uint8_t material[64];
	struct blake3 h;

	for (int i = 0; i < 64; i++)
		material[i] = (uint8_t)(i * 7);
	blake3_derive_key(ctx, material, sizeof(material), a, sizeof(a));
	blake3_init_derive_key(&h, ctx);
	blake3_update(&h, material, 10);
	blake3_update(&h, material + 10, 54);
	blake3_final(&h, b, sizeof(b));
	CHECK(!memcmp(a, b, sizeof(a)));
}

/* b3sum (Debian's b3sum package) as a second oracle: random inputs, both modes. */
TEST(blake3_agrees_with_b3sum)
{
	static const size_t lens[] = { 0, 17, 64, 1000, 1024, 1025, 4096 * 3 + 5, 70000 };
	unsigned long long s = 2026;
	char path[] = "/tmp/ssbpf-b3-XXXXXX", cmd[512], line[300], want[160];
	uint8_t *in = malloc(70000), out[48];

	CHECK(in != NULL);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		int fd = mkstemp(path);

		CHECK(fd >= 0);
		for (size_t i = 0; i < lens[k]; i++)
			in[i] = (uint8_t)((s = s * 6364136223846793005ull + 1) >> 56);
		CHECK(write(fd, in, lens[k]) == (ssize_t)lens[k]);
		close(fd);
		for (int d = 0; d < 2; d++) {
			FILE *p;
			struct blake3 h;

			snprintf(cmd, sizeof(cmd), "b3sum --no-names --length 48 %s %s", d ?
				 "--derive-key 'shadowsocks 2022 session subkey'" : "", path);
			p = popen(cmd, "r");
			CHECK(p != NULL);
			CHECK(fgets(line, sizeof(line), p) != NULL);
			CHECK_EQ(pclose(p), 0);
			if (d)
				blake3_init_derive_key(&h, "shadowsocks 2022 session subkey");
			else
				blake3_init(&h);
			blake3_update(&h, in, lens[k]);
			blake3_final(&h, out, sizeof(out));
			hex(out, sizeof(out), want);
			if (strncmp(line, want, 96)) {
				fprintf(stderr, "  len %zu %s: b3sum %.96s, ours %s\n", lens[k],
					d ? "derive_key" : "hash", line, want);
				CHECK(0);
			}
		}
		unlink(path);
		strcpy(path, "/tmp/ssbpf-b3-XXXXXX");
	}
	free(in);
}
