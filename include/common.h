/* SPDX-License-Identifier: MIT */
#ifndef SS_COMMON_H
#define SS_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Three-way result of parsers and decoders; errors are distinct negatives. */
enum ss_result {
	SS_OK = 0,
	SS_AGAIN = 1,       /* need more input */
	SS_ERR = -1,        /* malformed input */
	SS_ERR_TAG = -2,    /* AEAD authentication failed */
	SS_ERR_LEN = -3,    /* chunk length 0, over 0x3FFF or reserved bits set */
	SS_ERR_TRUNC = -4,  /* stream ended in the middle of a unit */
	SS_ERR_SPACE = -5,  /* output buffer too small */
	SS_ERR_ATYP = -6,   /* unknown address type */
	SS_ERR_REPLAY = -7, /* salt seen before */
	SS_ERR_TIME = -8,   /* SIP022: timestamp outside the 30 s window */
	SS_ERR_FULL = -9,   /* SIP022: the salt window has no room */
};

const char *ss_result_str(int r);

/*
 * The daemon's one error convention: a call that can fail returns 0 or a
 * negative errno and sets *why to a line for the operator (a string literal,
 * strerror's, or one formatted here). why_fmt formats it into one of a few
 * slots that are reused in turn, so a caller may wrap the reason it was given
 * ("file X: %s") and must print or copy it before many more calls; it returns
 * -EINVAL.
 */
int why_fmt(const char **why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The release; `make` passes the one in the VERSION file. */
#ifndef SSBPF_VERSION
#define SSBPF_VERSION "0.0.0-dev"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#endif
