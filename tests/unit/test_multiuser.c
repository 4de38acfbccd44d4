// SPDX-License-Identifier: MIT
/* Ports and users from the config file, the key trial order, the manager protocol. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "key.h"
#include "manager_cmd.h"
#include "sbuf.h"
#include "test.h"

static int load(struct ss_config *c, const char *json, const char **why)
{
	int r;

	config_defaults(c, PROG_SERVER);
	r = config_apply_json(c, json, strlen(json), why);
	config_free(c);
	return r;
}

TEST(config_port_password_servers_and_users)
{
	struct ss_config c;
	const char *err = "";
	char path[] = "/tmp/ssbpf-unit-XXXXXX";
	char *argv[] = { "ssserver", "-c", path, NULL };
	const char *docs[] = {
		"{\"method\": \"aes-128-gcm\", \"port_password\": {\"8381\": \"a\", \"8382\": \"b\"}}",
		"{\"servers\": [{\"server_port\": 8381, \"password\": \"a\", \"method\": \"aes-256-gcm\"},"
		" {\"server\": \"::1\", \"server_port\": 8382, \"password\": \"b\","
		" \"method\": \"chacha20-ietf-poly1305\"}]}",
		"{\"server_port\": 8381, \"method\": \"aes-256-gcm\", \"users\":"
		" [{\"name\": \"a\", \"password\": \"1\"}, {\"name\": \"b\", \"password\": \"2\"}]}",
	};
	int want[] = { 2, 2, 1 };

	for (int i = 0; i < 3; i++) {
		int fd = mkstemp(path);

		CHECK(fd >= 0);
		CHECK(write(fd, docs[i], strlen(docs[i])) == (ssize_t)strlen(docs[i]));
		close(fd);
		CHECK_EQ(config_load(&c, PROG_SERVER, 3, argv, &err), 0);
		CHECK_EQ(c.nports, want[i]);
		unlink(path);
		strcpy(path, "/tmp/ssbpf-unit-XXXXXX");
		if (i == 1)
			CHECK(c.ports[1].m->id != c.ports[0].m->id && !strcmp(c.ports[1].server, "::1"));
		if (i == 2)
			CHECK(c.ports[0].nusers == 2 && !strcmp(c.ports[0].users[1].name, "b"));
		config_free(&c);
	}
	CHECK_EQ(load(&c, "{\"port_password\": {\"80x\": \"a\"}}", &err), -EINVAL);
	CHECK(strstr(err, "\"80x\" is not a port") != NULL);
	CHECK_EQ(load(&c, "{\"users\": [{\"name\": \"a\"}]}", &err), -EINVAL);
	CHECK(strstr(err, "users[0] needs") != NULL);
	CHECK_EQ(load(&c, "{\"users\": [{\"name\": \"a\", \"password\": \"x\"}, {\"name\": \"a\","
		      " \"password\": \"y\"}]}", &err), -EINVAL);
	CHECK(strstr(err, "appears twice") != NULL);
	CHECK_EQ(load(&c, "{\"servers\": [{\"server_port\": 1, \"colour\": 2}]}", &err),
		 -EINVAL);
	CHECK(strstr(err, "servers[0]: unknown key \"colour\"") != NULL);
}

/* A config file's text loaded as ssserver's; 0 or -errno with why. */
static int load_file(struct ss_config *c, const char *json, const char **why)
{
	char path[] = "/tmp/ssbpf-unit-XXXXXX";
	char *argv[] = { "ssserver", "-c", path, NULL };
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json))
		return -EIO;
	close(fd);
	r = config_load(c, PROG_SERVER, 3, argv, why);
	unlink(path);
	return r;
}

/* Port ranges "A-B": in port_password and server_port; overlaps refused. */
TEST(config_port_ranges)
{
	const char *bads[] = { "3000-2000", "5-5", "1-70000", "-5", "1-", "1-2-3", "0", "a-b", "" };
	struct ss_config c;
	const char *err = "";
	struct cfg_port cp = { .port = 100, .port_hi = 199 };
	char label[16];
	int lo, hi;

	CHECK_EQ(config_port_range("20000-30000", &lo, &hi), 0);
	CHECK(lo == 20000 && hi == 30000);
	CHECK_EQ(config_port_range("8388", &lo, &hi), 0);
	CHECK(lo == 8388 && hi == 0);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		CHECK_EQ(config_port_range(bads[i], &lo, &hi), -EINVAL);
	CHECK(!strcmp(config_port_label(&cp, label, sizeof(label)), "100-199"));
	CHECK_EQ(load_file(&c, "{\"method\": \"aes-128-gcm\", \"port_password\":"
			   " {\"100-199\": \"a\", \"200\": \"b\"}}", &err), 0);
	CHECK(c.nports == 2);
	CHECK(c.ports[0].port + c.ports[1].port == 300 && c.ports[0].port_hi + c.ports[1].port_hi == 199);
	config_free(&c);
	CHECK_EQ(load_file(&c, "{\"method\": \"aes-128-gcm\", \"password\": \"x\","
			   " \"server_port\": \"4000-4100\"}", &err), 0);
	CHECK(c.nports == 1 && c.ports[0].port == 4000 && c.ports[0].port_hi == 4100);
	config_free(&c);
	CHECK(load_file(&c, "{\"method\": \"aes-128-gcm\", \"port_password\":"
			" {\"100-199\": \"a\", \"150\": \"b\"}}", &err) < 0);
	CHECK(strstr(err, "listed twice") != NULL);
	config_free(&c);
	/* Limits: per port and per user; a bad value names the key. */
	CHECK_EQ(load_file(&c, "{\"servers\": [{\"server_port\": 300, \"method\": \"aes-128-gcm\","
			   " \"rate_limit\": 1000, \"data_limit\": 5000000, \"users\": [{\"name\": \"a\","
			   " \"password\": \"x\", \"rate_limit\": 7, \"data_limit\": 9}]}]}", &err), 0);
	CHECK(c.ports[0].rate_limit == 1000 && c.ports[0].data_limit == 5000000);
	CHECK(c.ports[0].users[0].rate_limit == 7 && c.ports[0].users[0].data_limit == 9);
	config_free(&c);
	CHECK(load_file(&c, "{\"servers\": [{\"server_port\": 300, \"method\": \"aes-128-gcm\","
			" \"password\": \"x\", \"rate_limit\": -1}]}", &err) < 0);
	CHECK(strstr(err, "rate_limit") != NULL);
	config_free(&c);
	CHECK(load_file(&c, "{\"servers\": [{\"server_port\": 300, \"method\": \"aes-128-gcm\","
			" \"users\": [{\"name\": \"a\", \"password\": \"x\", \"data_limit\": \"5\"}]}]}",
			&err) < 0);
	CHECK(strstr(err, "data_limit") != NULL);
	config_free(&c);
}

/* A stream start sealed under key k: salt, sealed 2-byte length, tag. */
static size_t stream_start(const struct ss_key *k, uint8_t *out)
{
	union method_enc e;
	uint8_t one = 'x';
	size_t n = 0;

	k->ops->enc_init(&e, k);
	k->ops->enc_feed(&e, &one, 1, out, &n);
	k->ops->enc_free(&e);
	return n;
}

TEST(key_trial_finds_the_user_and_remembers_the_client)
{
	const struct ss_method *m = crypto_method_find("aes-256-gcm", &(const char *){ NULL });
	struct port_keys pk;
	struct sockaddr_storage a = { .ss_family = AF_INET }, b = { .ss_family = AF_INET };
	uint8_t buf[256];
	unsigned tries;
	char pw[16];

	inet_pton(AF_INET, "192.0.2.1", &((struct sockaddr_in *)&a)->sin_addr);
	inet_pton(AF_INET, "192.0.2.2", &((struct sockaddr_in *)&b)->sin_addr);
	CHECK_EQ(port_keys_alloc(&pk, 8388, 100), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(pw, sizeof(pw), "pw%d", i);
		CHECK_EQ(key_init(&pk.keys[i], m, pw, false, pw, 8388), 0);
	}
	size_t n = stream_start(&pk.keys[99], buf);

	CHECK_EQ(port_keys_find(&pk, &a, buf, 10, &tries), SS_AGAIN);
	CHECK_EQ(port_keys_find(&pk, &a, buf, n, &tries), 99);
	CHECK_EQ(tries, 100); /* the worst case: the last key */
	CHECK_EQ(port_keys_find(&pk, &a, buf, n, &tries), 99);
	CHECK_EQ(tries, 1);   /* the same client again: its key first */
	CHECK_EQ(port_keys_find(&pk, &b, buf, n, &tries), 99);
	CHECK_EQ(tries, 1);   /* another client: the most recent key first */
	buf[40] ^= 1;
	CHECK_EQ(port_keys_find(&pk, &a, buf, n, &tries), -1);
	CHECK_EQ(tries, 100);
	port_keys_free(&pk);
}

TEST(manager_commands_parse_and_refuse_with_a_reason)
{
	struct mgr_cmd c;
	const char *err = "";
	const char *add = "add: {\"server_port\": 8381, \"password\": \"p\\\"w\", \"method\": \"aes-128-gcm\"}\n";

	CHECK_EQ(mgr_cmd_parse(add, strlen(add), &c, &err), 0);
	CHECK(c.kind == MGR_ADD && c.port == 8381 && !strcmp(c.password, "p\"w"));
	mgr_cmd_free(&c);
	CHECK_EQ(mgr_cmd_parse("ping", 4, &c, &err), 0);
	CHECK(c.kind == MGR_PING);
	CHECK_EQ(mgr_cmd_parse("list\n", 5, &c, &err), 0);
	CHECK_EQ(mgr_cmd_parse("stat: {\"8381\":1234}", 19, &c, &err), 0);
	CHECK(c.kind == MGR_STAT && c.port == 8381 && c.bytes == 1234);
	CHECK_EQ(mgr_cmd_parse("remove: {\"server_port\":\"8381\"}", 30, &c, &err), 0);
	CHECK(c.kind == MGR_REMOVE && c.port == 8381);
	const char *bad[] = { "add: {\"server_port\": 8381", "hello", "add: {\"server_port\": 0, \"password\": \"x\"}",
			      "add: {\"server_port\": 1}", "add: [1]", "add: {\"server_port\": 1, \"password\": 2}",
			      "remove: {}", "ping now", "stat: {\"x\": 1}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = "";
		CHECK_EQ(mgr_cmd_parse(bad[i], strlen(bad[i]), &c, &err), -EINVAL);
		CHECK(err[0] != 0);
	}
	/* Text that list could not answer as JSON, and sizes without bound, change nothing. */
	const char *not_utf8[] = { "add: {\"server_port\": 1, \"password\": \"\xff\xfe\"}",
				   "add: {\"server_port\": 1, \"password\": \"\\udcff\"}",
				   "add: {\"server_port\": 1, \"password\": \"\xc0\xaf\"}",
				   "add: {\"server_port\": 1, \"password\": \"\xed\xa0\x80\"}" };
	for (size_t i = 0; i < sizeof(not_utf8) / sizeof(not_utf8[0]); i++)
		CHECK_EQ(mgr_cmd_parse(not_utf8[i], strlen(not_utf8[i]), &c, &err),
			 -EINVAL);
	char big[600];
	int n = snprintf(big, sizeof(big), "add: {\"server_port\": 1, \"password\": \"%0300d\"}", 0);
	CHECK_EQ(mgr_cmd_parse(big, (size_t)n, &c, &err), -EINVAL);
	CHECK(strstr(err, "at most") != NULL);
	const char *ok = "add: {\"server_port\": 1, \"password\": \"p\xc3\xa4ss\xf0\x9f\x94\x91\"}";
	CHECK_EQ(mgr_cmd_parse(ok, strlen(ok), &c, &err), 0);
	mgr_cmd_free(&c);
	struct sbuf b = { 0 };

	sbuf_json_str(&b, "a\"b\\\n");
	CHECK(b.p && !strcmp(b.p, "\"a\\\"b\\\\\\u000a\""));
	sbuf_free(&b);
}
