// SPDX-License-Identifier: MIT
/* Replay filter and target policy. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "policy.h"
#include "replay.h"
#include "test.h"

TEST(replay_detects_repeats_and_forgets_only_old_salts)
{
	struct replay r;
	unsigned long long s = 77;
	unsigned char salts[3000][32];

	CHECK_EQ(replay_init(&r, 2000, 1e-6), 0);
	/* A fixed hash key makes the run repeatable: with a random one, about one run in
	 * a few hundred meets a false positive among its 3,000 fresh salts. */
	memset(r.sh->key, 7, sizeof(r.sh->key));
	for (int i = 0; i < 3000; i++)
		prng_fill(&s, salts[i], 32);
	for (int i = 0; i < 1000; i++)
		CHECK(!replay_check_add(&r, salts[i], 32));
	for (int i = 0; i < 1000; i++)
		CHECK(replay_check_add(&r, salts[i], 32)); /* every repeat caught */
	/* 2,000 more fill the other filter and rotate once: the newest half stays. */
	for (int i = 1000; i < 3000; i++)
		CHECK(!replay_check_add(&r, salts[i], 32));
	for (int i = 2000; i < 3000; i++)
		CHECK(replay_check_add(&r, salts[i], 32));
	/* Memory is fixed by capacity and rate: about 2 x 1000 x 28.8 bits. */
	CHECK(replay_bytes(&r) < 8000);
	CHECK(replay_bytes(&r) > 6000);
	replay_free(&r);
	CHECK_EQ(replay_init(&r, 100, 0), -EINVAL);
}

TEST(replay_false_positive_rate_is_near_the_configured_one)
{
	struct replay r;
	unsigned long long s = 5;
	unsigned char salt[32];
	int fp = 0;

	CHECK_EQ(replay_init(&r, 20000, 1e-2), 0);
	for (int i = 0; i < 10000; i++) {
		prng_fill(&s, salt, 32);
		replay_check_add(&r, salt, 32);
	}
	for (int i = 0; i < 100000; i++) {
		prng_fill(&s, salt, 32);
		salt[0] ^= 0x5a;
		fp += replay_check_add(&r, salt, 32);
		if (r.sh->count >= r.half - 1)
			break;
	}
	/* At most a few times the target rate (fresh salts are added as they go). */
	CHECK(fp < 400);
	replay_free(&r);
}

static const char *judge(const struct policy *p, const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (void *)&ss;
	struct sockaddr_in6 *s6 = (void *)&ss;

	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return policy_refuses(p, (struct sockaddr *)&ss);
}

TEST(policy_refuses_internal_ranges_by_default)
{
	struct policy p;
	const char *err = "";
	static const char *refused[] = { "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
					 "192.168.1.1", "169.254.169.254", "100.64.0.1",
					 "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1",
					 "::ffff:10.0.0.1", "224.0.0.1" };
	static const char *allowed[] = { "8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1",
					 "192.169.0.1", "11.0.0.1" };

	CHECK_EQ(policy_init(&p, false, false, NULL, &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		CHECK(judge(&p, refused[i]) != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		CHECK(judge(&p, allowed[i]) == NULL);
	CHECK(strstr(judge(&p, "169.254.169.254"), "link-local") != NULL);
	CHECK(strstr(judge(&p, "::ffff:127.0.0.1"), "loopback") != NULL);
	policy_free(&p);
	/* An ACL file comes before the defaults: an allow exception and an extra deny. */
	char path[] = "/tmp/ssbpf-acl.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fputs("# exceptions\nallow 10.9.0.0/16\n  deny 8.8.4.0/24   # resolver\n\n", f);
	fclose(f);
	CHECK_EQ(policy_init(&p, false, false, path, &err), 0);
	CHECK(judge(&p, "10.9.1.1") == NULL);
	CHECK(judge(&p, "10.8.1.1") != NULL);
	CHECK(strstr(judge(&p, "8.8.4.4"), "ACL deny") != NULL);
	policy_free(&p);
	f = fopen(path, "w");
	fputs("allow 10.0.0.0/8\nallow nonsense\n", f);
	fclose(f);
	CHECK_EQ(policy_init(&p, false, false, path, &err), -EINVAL);
	CHECK(strstr(err, "line 2") != NULL);
	policy_free(&p);
	unlink(path);
	CHECK_EQ(policy_init(&p, false, false, NULL, &err), 0);
	struct policy q;
	CHECK_EQ(policy_init(&q, false, true, NULL, &err), 0);
	CHECK(judge(&q, "127.0.0.1") == NULL);
	CHECK_EQ(policy_add_line(&q, "deny 8.8.4.0/24", &err), 0);
	CHECK(strstr(judge(&q, "8.8.4.4"), "ACL deny 8.8.4.0/24") != NULL);
	CHECK(judge(&q, "8.8.8.8") == NULL);
	CHECK_EQ(policy_add_line(&q, "permit 1.2.3.4", &err), -EINVAL);
	CHECK(strstr(err, "expected") != NULL);
	CHECK_EQ(policy_add_line(&q, "allow 1.2.3.4/33", &err), -EINVAL);
	policy_free(&q);
	policy_free(&p);
}

TEST(policy_refuses_ipv6_forms_that_lead_to_refused_ipv4)
{
	struct policy p, open;
	const char *err = "";
	/* Compatible, translated, NAT64 (well-known and local-use), 6to4, Teredo, site-local. */
	static const char *refused[] = { "::127.0.0.1", "::10.0.0.1", "::ffff:0:127.0.0.1",
					 "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe",
					 "64:ff9b:1::8.8.8.8", "2002:7f00:1::1", "2002:c0a8:101::5",
					 "2001:0:7f00:1::1", "2001:0:808:808::f5ff:fffe", "fec0::1" };
	/* The same forms around public IPv4 addresses stay allowed. */
	static const char *allowed[] = { "::8.8.8.8", "::ffff:0:8.8.8.8", "64:ff9b::8.8.8.8",
					 "2002:808:808::1", "2001:0:808:808::f7f7:f7f7" };

	CHECK_EQ(policy_init(&p, false, false, NULL, &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		if (!judge(&p, refused[i]))
			fprintf(stderr, "  not refused: %s\n", refused[i]);
		CHECK(judge(&p, refused[i]) != NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		if (judge(&p, allowed[i]))
			fprintf(stderr, "  refused: %s: %s\n", allowed[i], judge(&p, allowed[i]));
		CHECK(judge(&p, allowed[i]) == NULL);
	}
	CHECK(strstr(judge(&p, "64:ff9b::127.0.0.1"), "embeds") != NULL);
	policy_free(&p);
	/* --allow-private lifts all of it. */
	CHECK_EQ(policy_init(&open, false, true, NULL, &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		CHECK(judge(&open, refused[i]) == NULL);
	policy_free(&open);
}
