// SPDX-License-Identifier: MIT
/* The manager protocol's commands, parsed from one datagram. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "json.h"
#include "manager_cmd.h"

#define MGR_MAX 4096

static int port_of(const struct json *j, int *port)
{
	char *end;
	double d = j->type == JSON_NUMBER ? j->number : j->type == JSON_STRING ?
		   strtod(j->string, &end) : -1;

	if (j->type == JSON_STRING && (!*j->string || *end))
		return -EINVAL;
	if (!(d >= 1 && d <= 65535) || d != (double)(int)d)
		return -EINVAL;
	*port = (int)d;
	return 0;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned c = s[i], n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 :
				       (c & 0xf0) == 0xe0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : 9;
		uint32_t cp = n ? c & (0x3f >> n) : c;

		if (n == 9 || len - i <= n)
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += n + 1;
	}
	return true;
}

/* A member's text: UTF-8 (list answers it as JSON) of at most max bytes. */
static int take_str(char **dst, const struct json *j, size_t max)
{
	size_t n;

	if (j->type != JSON_STRING)
		return -EINVAL;
	n = strlen(j->string);
	if (n > max || !utf8_valid((const uint8_t *)j->string, n))
		return -EINVAL;
	free(*dst);
	return (*dst = strdup(j->string)) ? 0 : -ENOMEM;
}

/* The members of add/remove: server_port, password, method, mode, plugin, plugin_opts. */
static int fields(const struct json *o, struct mgr_cmd *c, const char **why)
{
	static const char *const names[] = { "password", "method", "mode", "plugin", "plugin_opts" };
	static const size_t max[] = { MGR_PASSWORD_MAX, 64, 16, 255, 1024 };
	char **dst[] = { &c->password, &c->method, &c->mode, &c->plugin, &c->plugin_opts };
	bool port = false;

	for (const struct json *f = o->child; f; f = f->next) {
		size_t i = 0;

		if (!strcmp(f->key, "server_port")) {
			if (port_of(f, &c->port))
				return why_fmt(why, "server_port must be a port number 1-65535");
			port = true;
			continue;
		}
		if (!strcmp(f->key, "rate_limit") || !strcmp(f->key, "data_limit")) {
			double hi = f->key[0] == 'r' ? 4294967295.0 : 9007199254740992.0;

			if (f->type != JSON_NUMBER || f->number < 0 || f->number > hi ||
			    f->number != (double)(uint64_t)f->number)
				return why_fmt(why, "%s must be a number of bytes%s", f->key,
					       f->key[0] == 'r' ? " per second" : "");
			*(f->key[0] == 'r' ? &c->rate_limit : &c->data_limit) = (uint64_t)f->number;
			continue;
		}
		while (i < sizeof(names) / sizeof(names[0]) && strcmp(f->key, names[i]))
			i++;
		/* Options of libev's add that this manager takes from its own flags. */
		if (i == sizeof(names) / sizeof(names[0])) {
			if (!strcmp(f->key, "fast_open") || !strcmp(f->key, "no_delay"))
				continue;
			return why_fmt(why, "unknown key \"%.60s\"", f->key);
		}
		if (take_str(dst[i], f, max[i]))
			return why_fmt(why, "%s must be a UTF-8 string of at most %zu bytes",
					   names[i], max[i]);
	}
	if (!port)
		return why_fmt(why, "no server_port");
	if (c->kind == MGR_ADD && (!c->password || !*c->password))
		return why_fmt(why, "no password");
	if (c->mode && strcmp(c->mode, "tcp_only") && strcmp(c->mode, "udp_only") &&
	    strcmp(c->mode, "tcp_and_udp"))
		return why_fmt(why, "mode must be tcp_only, udp_only or tcp_and_udp");
	return 0;
}

/* stat: {"8388": 1234} */
static int stat_of(const struct json *o, struct mgr_cmd *c, const char **why)
{
	const struct json *f = o->child;
	struct json k;

	if (!f || f->next || f->type != JSON_NUMBER || f->number < 0)
		return why_fmt(why, "stat must be {\"PORT\": bytes}");
	k = (struct json){ .type = JSON_STRING, .string = f->key };
	if (port_of(&k, &c->port))
		return why_fmt(why, "stat: bad port");
	c->bytes = (uint64_t)f->number;
	return 0;
}

int mgr_cmd_parse(const char *buf, size_t len, struct mgr_cmd *c, const char **why)
{
	char text[MGR_MAX + 1];
	const char *jerr = "";
	size_t n = 0, start;
	struct json *j;
	int r;

	memset(c, 0, sizeof(*c));
	if (len > MGR_MAX || memchr(buf, 0, len) || !utf8_valid((const uint8_t *)buf, len))
		return why_fmt(why, "command too long or not UTF-8 text");
	memcpy(text, buf, len);
	/* Trailing newlines and NULs, as netcat and libev's clients send them. */
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	text[len] = 0;
	while (n < len && text[n] == ' ')
		n++;
	start = n;
	while (n < len && text[n] != ':' && text[n] != ' ')
		n++;
	text[n] = 0;
	if (!strcmp(text + start, "list") || !strcmp(text + start, "ping")) {
		c->kind = text[start] == 'l' ? MGR_LIST : MGR_PING;
		return n == len ? 0 : why_fmt(why, "%s takes no data", text + start);
	}
	if (!strcmp(text + start, "add"))
		c->kind = MGR_ADD;
	else if (!strcmp(text + start, "remove"))
		c->kind = MGR_REMOVE;
	else if (!strcmp(text + start, "stat"))
		c->kind = MGR_STAT;
	else
		return why_fmt(why, "unknown command \"%.40s\"", text + start);
	n++;
	while (n < len && (text[n] == ' ' || text[n] == ':'))
		n++;
	if (!(j = json_parse(text + n, len > n ? len - n : 0, &jerr)))
		return why_fmt(why, "invalid JSON: %s", jerr);
	if (j->type != JSON_OBJECT)
		r = why_fmt(why, "the data must be a JSON object");
	else
		r = c->kind == MGR_STAT ? stat_of(j, c, why) : fields(j, c, why);
	json_free(j);
	if (r)
		mgr_cmd_free(c);
	return r;
}

void mgr_cmd_free(struct mgr_cmd *c)
{
	free(c->password);
	free(c->method);
	free(c->mode);
	free(c->plugin);
	free(c->plugin_opts);
	memset(c, 0, sizeof(*c));
}
