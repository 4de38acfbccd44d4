// SPDX-License-Identifier: MIT
/* sslocal's several servers: "servers", repeated -s and --server-url, "balancer". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

/* sslocal with a config file holding doc and the extra flags. */
static int local(struct ss_config *c, const char *doc, char **extra, int nextra, const char **err)
{
	char path[] = "/tmp/ssbpf-unit-XXXXXX";
	char *argv[16] = { "sslocal", "-c", path };
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, doc, strlen(doc)) != (ssize_t)strlen(doc))
		return -EIO;
	close(fd);
	for (int i = 0; i < nextra && i < 12; i++)
		argv[3 + i] = extra[i];
	r = config_load(c, PROG_LOCAL, 3 + nextra, argv, err);
	unlink(path);
	return r;
}

TEST(sslocal_servers_list_each_with_its_own_key)
{
	const char *doc =
		"{\"servers\": [{\"server\": \"10.0.0.1\", \"server_port\": 8388, \"method\": "
		"\"aes-128-gcm\", \"password\": \"a\"}, {\"server\": \"10.0.0.2\", \"server_port\": "
		"8389, \"method\": \"chacha20-ietf-poly1305\", \"password\": \"b\", \"remarks\": \"b\"}, "
		"{\"server\": \"10.0.0.3\", \"server_port\": 1, \"password\": \"c\", \"disabled\": true}], "
		"\"balancer\": {\"mode\": \"fallback\", \"check_interval\": 3, \"max_server_rtt\": 0.5, "
		"\"check_target\": \"10.9.9.9:80\"}}";
	struct ss_config c;
	const char *err = "";

	CHECK_EQ(local(&c, doc, NULL, 0, &err), 0);
	CHECK_EQ(c.nupstreams, 2);
	CHECK(!strcmp(c.upstreams[0].host, "10.0.0.1") && c.upstreams[0].port == 8388);
	CHECK(!strcmp(c.upstreams[1].method, "chacha20-ietf-poly1305") &&
	      !strcmp(c.upstreams[1].password, "b"));
	CHECK_EQ(c.balance, BALANCE_FALLBACK);
	CHECK_EQ(c.check_interval, 3);
	CHECK_EQ(c.max_server_rtt, 500);
	CHECK(!strcmp(c.check_target, "10.9.9.9:80"));
	/* The first server stands in for the top-level keys (the log line, the steering). */
	CHECK(!strcmp(c.method, "aes-128-gcm") && c.server_port == 8388);
	config_free(&c);
}

TEST(sslocal_servers_from_flags_and_refusals)
{
	char *urls[] = { "--server-url", "ss://YWVzLTEyOC1nY206YQ@10.0.0.1:8388", "--server-url",
			 "ss://chacha20-ietf-poly1305:b@[fd00::2]:8389" };
	char *hosts[] = { "-s", "10.0.0.1", "-s", "10.0.0.2", "-p", "8388", "-m", "aes-256-gcm",
			  "-k", "x" };
	struct ss_config c;
	const char *err = "";

	CHECK_EQ(local(&c, "{}", urls, 4, &err), 0);
	CHECK_EQ(c.nupstreams, 2);
	CHECK(!strcmp(c.upstreams[0].method, "aes-128-gcm") && !strcmp(c.upstreams[0].password, "a"));
	CHECK(!strcmp(c.upstreams[1].host, "fd00::2") && c.upstreams[1].port == 8389);
	config_free(&c);
	CHECK_EQ(local(&c, "{}", hosts, 10, &err), 0);
	CHECK_EQ(c.nupstreams, 2);
	CHECK(!strcmp(c.upstreams[1].host, "10.0.0.2") && c.upstreams[1].port == 8388);
	CHECK(!strcmp(c.upstreams[1].method, "aes-256-gcm"));
	config_free(&c);
	/* A server without a method, every one disabled, a bad mode, a plugin per server. */
	CHECK(local(&c, "{\"servers\": [{\"server\": \"a\", \"server_port\": 1, \"method\": \"aes-128-gcm\", "
		   "\"password\": \"x\"}, {\"server\": \"b\", \"server_port\": 2, \"password\": \"y\"}], "
		   "\"method\": null}", NULL, 0, &err) != 0);
	config_free(&c);
	CHECK(local(&c, "{\"servers\": [{\"server\": \"a\", \"server_port\": 1, \"disabled\": true}]}",
		    NULL, 0, &err) != 0);
	CHECK(strstr(err, "disabled") != NULL);
	config_free(&c);
	CHECK(local(&c, "{\"server\": \"a\", \"server_port\": 1, \"method\": \"aes-128-gcm\", "
		    "\"password\": \"x\", \"balancer\": {\"mode\": \"fastest\"}}", NULL, 0, &err) != 0);
	CHECK(strstr(err, "mode") != NULL);
	config_free(&c);
	CHECK(local(&c, "{\"servers\": [{\"server\": \"a\", \"server_port\": 1, \"method\": "
		    "\"aes-128-gcm\", \"password\": \"x\", \"plugin\": \"obfs-local\"}]}", NULL, 0,
		    &err) != 0);
	CHECK(strstr(err, "plugin") != NULL);
	config_free(&c);
}

TEST(sip008_documents_are_taken_whole)
{
	const char *good = "{\"version\": 1, \"servers\": [{\"id\": \"1\", \"remarks\": \"a\", "
			   "\"server\": \"10.0.0.1\", \"server_port\": 8388, \"method\": \"aes-128-gcm\", "
			   "\"password\": \"a\"}, {\"server\": \"10.0.0.2\", \"server_port\": 1, \"method\": "
			   "\"aes-128-gcm\", \"password\": \"b\", \"plugin\": \"obfs-local\"}], "
			   "\"bytes_used\": 1}";
	const char *bad[] = {
		"{\"servers\": []}", "[1]", "{\"version\": 1, \"servers\": {}}",
		"{\"version\": 1, \"servers\": []}",
		"{\"version\": 1, \"servers\": [{\"server\": \"h\", \"server_port\": 70000, "
		"\"method\": \"aes-128-gcm\", \"password\": \"a\"}]}",
		"{\"version\": 1, \"servers\": [{\"server\": \"h\", \"server_port\": 1, "
		"\"method\": \"aes-128-gcm\", \"password\": \"a\"}, {\"server\": \"h\", "
		"\"server_port\": 2, \"method\": \"nope\", \"password\": \"a\"}]}",
		"{\"version\": 1, \"servers\": [{\"server\": \"h\", \"server_port\": 1, "
		"\"method\": \"2022-blake3-aes-128-gcm\", \"password\": \"short\"}]}",
	};
	struct cfg_server *list;
	int n, skipped;
	const char *err = "";

	CHECK_EQ(sip008_parse(good, strlen(good), &list, &n, &skipped, &err), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(skipped, 1);
	CHECK(list[0].online && list[0].port == 8388 && !strcmp(list[0].host, "10.0.0.1"));
	config_server_list_free(list, n);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(sip008_parse(bad[i], strlen(bad[i]), &list, &n, &skipped, &err) < 0);
		CHECK(list == NULL && n == 0);
	}
}

TEST(online_config_keys_and_refusals)
{
	struct ss_config c;
	const char *err = "";
	char *flags[] = { "--ca-file", "/etc/ssl/certs/ca-certificates.crt" };

	CHECK_EQ(local(&c, "{\"online_config\": {\"config_url\": \"https://h/s.json\"}}", flags, 2,
		       &err), 0);
	CHECK(c.online_only && c.online_interval == 3600 && !strcmp(c.online_url, "https://h/s.json"));
	config_free(&c);
	CHECK_EQ(local(&c, "{\"server\": \"10.0.0.1\", \"server_port\": 1, \"method\": \"aes-128-gcm\", "
		       "\"password\": \"a\", \"online_config\": {\"config_url\": \"file:///x\", "
		       "\"update_interval\": 60}}", NULL, 0, &err), 0);
	CHECK(!c.online_only && c.online_interval == 60);
	config_free(&c);
	CHECK(local(&c, "{\"online_config\": {\"config_url\": \"http://h/s\"}}", NULL, 0, &err) < 0);
	CHECK(strstr(err, "only over TLS") != NULL);
	config_free(&c);
	CHECK(local(&c, "{\"online_config\": {\"update_interval\": 5}}", NULL, 0, &err) < 0);
	config_free(&c);
}
