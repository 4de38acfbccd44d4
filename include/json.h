/* SPDX-License-Identifier: MIT */
#ifndef SS_JSON_H
#define SS_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* A small RFC 8259 JSON reader for configuration files and manager commands. */
enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	char *key;          /* member name when inside an object */
	bool boolean;
	double number;
	char *string;       /* NUL-terminated; strings with NUL bytes are rejected */
	struct json *child; /* first element / member */
	struct json *next;  /* next sibling */
};

/*
 * Parses text[0..len). Returns the tree or NULL with a message of the form
 * "line L column C: what" in *why.
 */
struct json *json_parse(const char *text, size_t len, const char **why);
void json_free(struct json *j);
/* Object o's member named key; NULL when o is not an object (or NULL) or has none. */
const struct json *json_member(const struct json *o, const char *key);
/* Member key of o as a string (dflt when absent or of another type), or as a number (0). */
const char *json_member_str(const struct json *o, const char *key, const char *dflt);
double json_member_num(const struct json *o, const char *key);
const char *json_type_name(enum json_type t);
struct sbuf;
/* Writes j back as JSON text. */
void json_write(const struct json *j, struct sbuf *out);

#endif
