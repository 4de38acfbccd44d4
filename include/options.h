/* SPDX-License-Identifier: MIT */
#ifndef SS_OPTIONS_H
#define SS_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>

#include "config.h"

struct json;

/*
 * The one option table: each option is one row with its JSON key, long and
 * short flag, type, range and the programs it applies to. The config file
 * and the command line both go through options_set, so they accept the same
 * values and refuse the same ones.
 */
struct option_desc;

/* The row whose JSON key is key, or NULL. */
const struct option_desc *options_by_key(const char *key);
/* The row of a long flag (without "--") or a short flag (long NULL), or NULL. */
const struct option_desc *options_by_flag(const char *lng, char shrt);
/* Does the row take a value on the command line? */
int options_flag_has_arg(const struct option_desc *o);
/*
 * Applies one value: from the config file (j set, label "key \"x\""), or from
 * the command line (text set or NULL for a flag without value, label "-x" or
 * "--x"). 0, or -EINVAL with one line naming the option in *why.
 */
int options_set(struct ss_config *c, const struct option_desc *o, const struct json *j,
		const char *text, const char *label, const char **why);

/* Fills the getopt tables from the rows (long options end with a zero row). */
/* getopt code of --genkey (below the table rows' 256 + i). */
#define OPT_GENKEY 255
void options_getopt(char *short_opts, size_t short_len, struct option *long_opts,
		    size_t long_len);
/* The value's name and the one-line help of a row (NULL for a synonym). */
const char *options_arg(const struct option_desc *o);
const char *options_help(const struct option_desc *o);
/* Do two rows set the same field (a key and its other spelling)? */
bool options_same_field(const struct option_desc *a, const struct option_desc *b);
/* Is the row an option of this build (not a key ignored or not done yet)? */
bool options_documented(const struct option_desc *o);
/* Does the row apply to prog? */
bool options_for(const struct option_desc *o, enum prog_kind prog);
/* One line per flag of prog: "  -s, --server HOST   help". */
void options_print_flags(enum prog_kind prog, FILE *f);
/* Number of rows, and row i, for tests that walk every option. */
size_t options_count(void);
const struct option_desc *options_at(size_t i);
/* A row's JSON key, long flag and short flag (NULL / 0 when it has none). */
const char *options_key(const struct option_desc *o);
const char *options_long(const struct option_desc *o);
char options_short(const struct option_desc *o);

#endif
