// SPDX-License-Identifier: MIT
/* ACL files in libev's format: sections, rule kinds, decisions, a large list. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "test.h"

static struct sockaddr_storage sa_of(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return ss;
}

#define SA(ip) ((struct sockaddr *)&(struct { struct sockaddr_storage s; }){ sa_of(ip) }.s)

static struct acl *parse(const char *text)
{
	struct acl *a = NULL;
	const char *err = "";

	if (acl_parse(&a, text, strlen(text), "t.acl", &err))
		fprintf(stderr, "  %s\n", err);
	return a;
}

TEST(acl_server_lists_judge_the_client_and_block_targets)
{
	struct acl *a = parse("# a libev server list\n[reject_all]\n[white_list]\n10.1.0.0/16\n"
			      "::1\n[outbound_block_list]\n127.0.0.0/8\n(^|\\.)ads\\.example\\.com$\n"
			      "||track.example.org\n|exact.example.net\n^reg[0-9]+\\.example\\.(com|net)$\n");

	CHECK(a != NULL);
	CHECK(!acl_client_refused(a, SA("10.1.2.3")));
	CHECK(!acl_client_refused(a, SA("::ffff:10.1.200.1")));
	CHECK(!acl_client_refused(a, SA("::1")));
	CHECK(acl_client_refused(a, SA("10.2.0.1")));
	CHECK(acl_client_refused(a, SA("::2")));
	CHECK(acl_outbound_blocked_addr(a, SA("127.0.0.53")));
	CHECK(!acl_outbound_blocked_addr(a, SA("128.0.0.1")));
	CHECK(acl_outbound_blocked_host(a, "ads.example.com"));
	CHECK(acl_outbound_blocked_host(a, "x.y.ADS.example.com"));
	CHECK(!acl_outbound_blocked_host(a, "badads.example.com"));
	CHECK(acl_outbound_blocked_host(a, "track.example.org"));
	CHECK(acl_outbound_blocked_host(a, "a.track.example.org"));
	CHECK(acl_outbound_blocked_host(a, "exact.example.net"));
	CHECK(!acl_outbound_blocked_host(a, "sub.exact.example.net"));
	CHECK(acl_outbound_blocked_host(a, "reg42.example.net"));
	CHECK(!acl_outbound_blocked_host(a, "reg.example.net"));
	acl_free(a);
	a = parse("[accept_all]\n[black_list]\n192.0.2.0/24\n");
	CHECK(a != NULL);
	CHECK(acl_client_refused(a, SA("192.0.2.9")));
	CHECK(!acl_client_refused(a, SA("192.0.3.9")));
	acl_free(a);
}

TEST(acl_local_bypass_and_proxy_lists)
{
	struct acl *a = parse("[proxy_all]\n[bypass_list]\n(^|\\.)cn$\n192.168.0.0/16\n");

	CHECK(a != NULL);
	CHECK(acl_bypass_host(a, "www.example.cn"));
	CHECK(!acl_bypass_host(a, "www.example.com"));
	CHECK(acl_bypass_addr(a, SA("192.168.1.1")));
	CHECK(!acl_bypass_addr(a, SA("8.8.8.8")));
	acl_free(a);
	a = parse("[bypass_all]\n[proxy_list]\n||google.com\n8.8.8.0/24\n[remote_dns]\n8.8.8.8\n");
	CHECK(a != NULL);
	CHECK(!acl_bypass_host(a, "mail.google.com"));
	CHECK(acl_bypass_host(a, "example.org"));
	CHECK(!acl_bypass_addr(a, SA("8.8.8.8")));
	CHECK(acl_bypass_addr(a, SA("1.1.1.1")));
	acl_free(a);
}

TEST(acl_errors_name_the_line)
{
	struct acl *a = NULL;
	const char *err = "";
	const char *bad_section = "[white_list]\n1.2.3.4\n[whitelist]\n";
	const char *bad_cidr = "[white_list]\n1.2.3.4/33\n";
	const char *bad_regex = "[outbound_block_list]\n(unclosed\n";

	CHECK_EQ(acl_parse(&a, bad_section, strlen(bad_section), "f", &err), -EINVAL);
	CHECK(strstr(err, "f line 3: unknown section [whitelist]") != NULL);
	CHECK_EQ(acl_parse(&a, bad_cidr, strlen(bad_cidr), "f", &err), -EINVAL);
	CHECK(strstr(err, "line 2") != NULL);
	CHECK_EQ(acl_parse(&a, bad_regex, strlen(bad_regex), "f", &err), -EINVAL);
	CHECK(strstr(err, "line 2") != NULL);
}

/* 100,000 CIDRs, as a country's ranges: loaded and matched quickly, in bounded memory. */
TEST(acl_100000_cidrs_load_and_match)
{
	size_t cap = 100000 * 24 + 64, n = 0, rules, bytes;
	char *text = malloc(cap);
	struct acl *a;
	struct timespec t0, t1;
	unsigned long long s = 7;
	int hits = 0;

	CHECK(text != NULL);
	n += (size_t)snprintf(text, cap, "[bypass_all]\n[proxy_list]\n");
	for (int i = 0; i < 100000; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		n += (size_t)snprintf(text + n, cap - n, "%u.%u.%u.0/24\n", (unsigned)(s >> 56),
				      (unsigned)(s >> 48) & 255, (unsigned)(s >> 40) & 255);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	a = parse(text);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(a != NULL);
	acl_stats(a, &rules, &bytes);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "  100000 CIDRs: loaded in %.1f ms, %zu rules, %zu KiB\n", ms, rules,
		bytes / 1024);
	CHECK(ms < 1000);
	CHECK_EQ(rules, 100000);
	/* Every listed /24 matches, at any host address. */
	s = 7;
	for (int i = 0; i < 100000; i++) {
		char ip[32];

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		snprintf(ip, sizeof(ip), "%u.%u.%u.%d", (unsigned)(s >> 56), (unsigned)(s >> 48) & 255,
			 (unsigned)(s >> 40) & 255, i & 255);
		hits += !acl_bypass_addr(a, SA(ip));
	}
	CHECK_EQ(hits, 100000);
	acl_free(a);
	free(text);
}
