// SPDX-License-Identifier: MIT
/* Recursive-descent JSON parser (RFC 8259) with a depth limit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "sbuf.h"

#define JSON_MAX_DEPTH 32

struct parser {
	const char *s, *end, *start;
	const char **why;
	bool failed;
};

static void fail(struct parser *p, const char *what)
{
	int line = 1, col = 1;

	if (p->failed)
		return;
	for (const char *c = p->start; c < p->s && c < p->end; c++) {
		if (*c == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	why_fmt(p->why, "line %d column %d: %s", line, col, what);
	p->failed = true;
}

static void skip_ws(struct parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_hex4(struct parser *p, unsigned *out)
{
	*out = 0;
	if (p->end - p->s < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int v = hexval(p->s[i]);

		if (v < 0)
			return -1;
		*out = *out << 4 | (unsigned)v;
	}
	p->s += 4;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Parses a string starting at the opening quote; returns a malloc'd copy. */
static char *parse_string(struct parser *p)
{
	const char *q = ++p->s;
	char *out, *o;

	/* Escapes only shrink, so the raw length bounds the output. */
	while (q < p->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	if (q >= p->end) {
		fail(p, "unterminated string");
		return NULL;
	}
	out = o = malloc((size_t)(q - p->s) + 1);
	if (!out) {
		fail(p, "out of memory");
		return NULL;
	}
	while (*p->s != '"') {
		unsigned char c = (unsigned char)*p->s++;

		if (c < 0x20) {
			fail(p, "control character in string");
			goto err;
		}
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		switch (*p->s++) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (read_hex4(p, &cp))
				goto bad_escape;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p->end - p->s < 2 || p->s[0] != '\\' || p->s[1] != 'u')
					goto bad_escape;
				p->s += 2;
				if (read_hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff)
					goto bad_escape;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				goto bad_escape;
			}
			if (cp == 0) {
				fail(p, "NUL character in string");
				goto err;
			}
			o += put_utf8(o, cp);
			break;
		}
		default:
			goto bad_escape;
		}
	}
	p->s++;
	*o = 0;
	return out;

bad_escape:
	fail(p, "invalid escape in string");
err:
	free(out);
	return NULL;
}

static struct json *parse_value(struct parser *p, int depth);

static struct json *new_node(struct parser *p, enum json_type t)
{
	struct json *j = calloc(1, sizeof(*j));

	if (!j)
		fail(p, "out of memory");
	else
		j->type = t;
	return j;
}

static struct json *parse_container(struct parser *p, int depth, bool object)
{
	struct json *j = new_node(p, object ? JSON_OBJECT : JSON_ARRAY), **tail;
	char close = object ? '}' : ']';

	if (!j)
		return NULL;
	tail = &j->child;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		struct json *v;

		skip_ws(p);
		if (object) {
			if (p->s >= p->end || *p->s != '"') {
				fail(p, "expected a member name in quotes");
				goto err;
			}
			if (!(key = parse_string(p)))
				goto err;
			skip_ws(p);
			if (p->s >= p->end || *p->s != ':') {
				free(key);
				fail(p, "expected ':' after member name");
				goto err;
			}
			p->s++;
		}
		if (!(v = parse_value(p, depth + 1))) {
			free(key);
			goto err;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == close) {
			p->s++;
			return j;
		}
		fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
		goto err;
	}
err:
	json_free(j);
	return NULL;
}

static struct json *parse_value(struct parser *p, int depth)
{
	struct json *j;

	if (depth > JSON_MAX_DEPTH) {
		fail(p, "nested too deeply");
		return NULL;
	}
	skip_ws(p);
	if (p->s >= p->end) {
		fail(p, "unexpected end of input");
		return NULL;
	}
	switch (*p->s) {
	case '{':
		return parse_container(p, depth, true);
	case '[':
		return parse_container(p, depth, false);
	case '"':
		if (!(j = new_node(p, JSON_STRING)))
			return NULL;
		if (!(j->string = parse_string(p))) {
			free(j);
			return NULL;
		}
		return j;
	}
	static const struct {
		const char *word;
		enum json_type t;
		bool b;
	} words[] = { { "true", JSON_BOOL, true }, { "false", JSON_BOOL, false },
		      { "null", JSON_NULL, false } };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i].word);

		if ((size_t)(p->end - p->s) >= n && !memcmp(p->s, words[i].word, n)) {
			p->s += n;
			if ((j = new_node(p, words[i].t)))
				j->boolean = words[i].b;
			return j;
		}
	}
	/* Number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	const char *q = p->s;
	char buf[64];
	if (q < p->end && *q == '-')
		q++;
	if (q >= p->end || *q < '0' || *q > '9') {
		fail(p, "unexpected character");
		return NULL;
	}
	if (*q == '0' && q + 1 < p->end && q[1] >= '0' && q[1] <= '9') {
		fail(p, "leading zero in number");
		return NULL;
	}
	while (q < p->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' ||
			      *q == 'E' || *q == '+' || *q == '-'))
		q++;
	if ((size_t)(q - p->s) >= sizeof(buf)) {
		fail(p, "number too long");
		return NULL;
	}
	memcpy(buf, p->s, (size_t)(q - p->s));
	buf[q - p->s] = 0;
	char *endp;
	double d = strtod(buf, &endp);
	if (*endp || !isfinite(d)) {
		fail(p, "malformed number");
		return NULL;
	}
	p->s = q;
	if ((j = new_node(p, JSON_NUMBER)))
		j->number = d;
	return j;
}

struct json *json_parse(const char *text, size_t len, const char **why)
{
	struct parser p = { text, text + len, text, why, false };
	struct json *j = parse_value(&p, 0);

	if (!j)
		return NULL;
	skip_ws(&p);
	if (p.s != p.end) {
		fail(&p, "trailing characters after the value");
		json_free(j);
		return NULL;
	}
	return j;
}

void json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;

		json_free(j->child);
		free(j->key);
		free(j->string);
		free(j);
		j = next;
	}
}

const char *json_type_name(enum json_type t)
{
	static const char *const names[] = { "null", "boolean", "number", "string", "array",
					     "object" };
	return names[t];
}

void json_write(const struct json *j, struct sbuf *out)
{
	switch (j->type) {
	case JSON_NULL:
		sbuf_printf(out, "null");
		break;
	case JSON_BOOL:
		sbuf_printf(out, "%s", j->boolean ? "true" : "false");
		break;
	case JSON_NUMBER:
		sbuf_printf(out, j->number == (double)(long long)j->number ? "%.0f" : "%g", j->number);
		break;
	case JSON_STRING:
		sbuf_json_str(out, j->string);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		sbuf_printf(out, "%c", j->type == JSON_ARRAY ? '[' : '{');
		for (const struct json *e = j->child; e; e = e->next) {
			if (j->type == JSON_OBJECT) {
				sbuf_json_str(out, e->key);
				sbuf_printf(out, ": ");
			}
			json_write(e, out);
			sbuf_printf(out, "%s", e->next ? ", " : "");
		}
		sbuf_printf(out, "%c", j->type == JSON_ARRAY ? ']' : '}');
		break;
	}
}

const struct json *json_member(const struct json *o, const char *key)
{
	for (const struct json *f = o && o->type == JSON_OBJECT ? o->child : NULL; f; f = f->next)
		if (!strcmp(f->key, key))
			return f;
	return NULL;
}

const char *json_member_str(const struct json *o, const char *key, const char *dflt)
{
	const struct json *f = json_member(o, key);

	return f && f->type == JSON_STRING ? f->string : dflt;
}

double json_member_num(const struct json *o, const char *key)
{
	const struct json *f = json_member(o, key);

	return f && f->type == JSON_NUMBER ? f->number : 0;
}
