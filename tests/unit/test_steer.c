// SPDX-License-Identifier: MIT
/* Steering specs for sslocal redir: prefixes, host bits, ports, lists of any length, files. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "steer.h"
#include "test.h"

static int parse(struct steer_spec *s, const char *steer, const char *exclude, const char *ports,
		 const char **err)
{
	struct steer_sources src = { .steer = steer, .exclude = exclude, .ports = ports };

	return steer_parse(s, &src, err);
}

static const char *str(const struct steer_prefix *p)
{
	static char buf[80];

	return steer_prefix_str(p, buf, sizeof(buf));
}

TEST(steer_prefixes_and_ports)
{
	struct steer_spec s;
	const char *err = "";

	CHECK_EQ(parse(&s, "10.1.2.3/16, ::/0,192.0.2.7", "fd00::1", "80,443,8000-8100", &err), 0);
	CHECK_EQ(s.steer.n, 3);
	/* Sorted (IPv4 first), host bits cleared; a bare address is a host prefix. */
	CHECK(!strcmp(str(&s.steer.p[0]), "10.1.0.0/16"));
	CHECK(!strcmp(str(&s.steer.p[1]), "192.0.2.7/32"));
	CHECK(!strcmp(str(&s.steer.p[2]), "::/0"));
	CHECK_EQ(s.exclude.n, 1);
	CHECK(!strcmp(str(&s.exclude.p[0]), "fd00::1/128"));
	CHECK_EQ(s.nports, 3);
	CHECK_EQ(s.ports[2].lo, 8000);
	CHECK_EQ(s.ports[2].hi, 8100);
	steer_spec_free(&s);
	CHECK_EQ(parse(&s, "0.0.0.0/0", NULL, NULL, &err), 0);
	CHECK_EQ(s.nports, 0);
	steer_spec_free(&s);
}

TEST(steer_rejects_bad_input)
{
	static const char *const bad_prefix[] = { "10.0.0.0/33", "::/129", "10.0.0/8", "x",
						   "10.0.0.0/", "10.0.0.0/-1", "1.2.3.4/8x" };
	static const char *const bad_ports[] = { "0", "65536", "80-70", "a", "80-", "-80", "1,,x" };
	struct steer_spec s;
	const char *err = "";

	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(bad_prefix[0]); i++) {
		CHECK_EQ(parse(&s, bad_prefix[i], NULL, NULL, &err), -EINVAL);
		CHECK(strstr(err, "--steer") != NULL);
		steer_spec_free(&s);
	}
	for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		CHECK_EQ(parse(&s, "0.0.0.0/0", NULL, bad_ports[i], &err), -EINVAL);
		CHECK(strstr(err, "--steer-ports") != NULL);
		steer_spec_free(&s);
	}
}

TEST(steer_exclude_addr_unmaps_and_dedups)
{
	struct steer_spec s;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	const char *err = "";

	CHECK_EQ(parse(&s, "0.0.0.0/0", NULL, NULL, &err), 0);
	inet_pton(AF_INET6, "::ffff:10.0.0.9", &a6.sin6_addr);
	steer_exclude_addr(&s, (struct sockaddr *)&a6);
	steer_exclude_addr(&s, (struct sockaddr *)&a6);
	CHECK_EQ(s.exclude.n, 1);
	CHECK(!strcmp(str(&s.exclude.p[0]), "10.0.0.9/32"));
	steer_spec_free(&s);
}

/* Covered prefixes go; lookups find the one that covers; an exclusion wins over a steered prefix. */
TEST(steer_lists_normalize_and_cover)
{
	struct steer_spec s;
	struct steer_list eff;
	struct steer_prefix p;
	const char *err = "";

	CHECK_EQ(parse(&s, "10.0.0.0/8,10.9.0.0/16,172.16.0.0/12,192.168.1.0/24",
		       "10.1.2.0/24,10.1.0.0/16,10.1.2.3,172.16.0.0/12,fd00::/8", NULL, &err), 0);
	CHECK_EQ(s.steer.n, 3); /* 10.9/16 was inside 10/8 */
	CHECK_EQ(s.exclude.n, 3); /* 10.1.2.0/24 and 10.1.2.3 were inside 10.1/16 */
	steer_parse_prefix("10.1.200.7", &p);
	CHECK(steer_list_covers(&s.exclude, &p));
	steer_parse_prefix("10.2.0.0/16", &p);
	CHECK(!steer_list_covers(&s.exclude, &p));
	CHECK(steer_list_covers(&s.steer, &p));
	steer_parse_prefix("0.0.0.0/0", &p);
	CHECK(!steer_list_covers(&s.steer, &p));
	CHECK_EQ(steer_effective(&s, &eff), 0);
	CHECK_EQ(eff.n, 2); /* 172.16/12 is excluded whole */
	CHECK(!strcmp(str(&eff.p[0]), "10.0.0.0/8"));
	CHECK(!strcmp(str(&eff.p[1]), "192.168.1.0/24"));
	free(eff.p);
	steer_spec_free(&s);
}

/* 100,000 prefixes through a file with comments and ipset lines, plus a bad line. */
TEST(steer_exclude_file_of_any_length)
{
	char path[] = "/tmp/ssbpf-steer-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct steer_sources src = { .steer = "0.0.0.0/0", .exclude_files = path };
	struct steer_spec s;
	const char *err = "";

	CHECK(f != NULL);
	fprintf(f, "# a comment\n\ncreate chnroute hash:net family inet\n");
	for (unsigned i = 0; i < 100000; i++) {
		unsigned a = 0x0b000000u + i * 256;

		fprintf(f, i % 2 ? "add chnroute %u.%u.%u.0/24\n" : "%u.%u.%u.0/24  # x\n",
			a >> 24, a >> 16 & 255, a >> 8 & 255);
	}
	fclose(f);
	CHECK_EQ(steer_parse(&s, &src, &err), 0);
	CHECK_EQ(s.exclude.n, 100000);
	CHECK_EQ(s.from_files, 100000);
	steer_spec_free(&s);
	f = fopen(path, "a");
	fprintf(f, "add chnroute not-a-prefix\n");
	fclose(f);
	CHECK_EQ(steer_parse(&s, &src, &err), -EINVAL);
	CHECK(strstr(err, "line 100004") != NULL);
	steer_spec_free(&s);
	unlink(path);
}

static void acl_file(char *path, const char *text)
{
	int fd = mkstemp(path);

	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* A libev ACL on redir: [proxy_all] excludes its bypass list; [bypass_all] steers its proxy list. */
TEST(steer_lists_from_a_libev_acl)
{
	char p1[] = "/tmp/ssbpf-acl-XXXXXX", p2[] = "/tmp/ssbpf-acl-XXXXXX";
	struct steer_sources src = { .steer = "0.0.0.0/0,::/0", .acl = p1 };
	struct steer_spec s;
	const char *err = "";

	acl_file(p1, "[proxy_all]\n\n[bypass_list]\n1.0.1.0/24\n1.0.2.0/23\n1.0.2.0/24\n"
		     "(^|\\.)example\\.cn$\n2400:3200::/32\n");
	CHECK_EQ(steer_parse(&s, &src, &err), 0);
	CHECK_EQ(s.steer.n, 2);
	CHECK_EQ(s.exclude.n, 3); /* names stay with the daemon; 1.0.2.0/24 is inside /23 */
	CHECK_EQ(s.from_acl, 3);
	CHECK(!strcmp(str(&s.exclude.p[1]), "1.0.2.0/23"));
	CHECK(!strcmp(str(&s.exclude.p[2]), "2400:3200::/32"));
	steer_spec_free(&s);
	acl_file(p2, "[bypass_all]\n[proxy_list]\n8.8.0.0/16\n9.9.9.9\n||google.com\n");
	src.acl = p2;
	src.steer = "8.0.0.0/8,9.9.9.0/24,10.0.0.0/8";
	CHECK_EQ(steer_parse(&s, &src, &err), 0);
	CHECK_EQ(s.steer.n, 2); /* the proxy list within --steer: 10/8 has no proxy entry */
	CHECK(!strcmp(str(&s.steer.p[0]), "8.8.0.0/16"));
	CHECK(!strcmp(str(&s.steer.p[1]), "9.9.9.9/32"));
	CHECK_EQ(s.exclude.n, 0);
	steer_spec_free(&s);
	unlink(p1);
	unlink(p2);
}
