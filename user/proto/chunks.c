// SPDX-License-Identifier: MIT
/* Unit collection for the stream decoders of both editions (chunks.h). */
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "common.h"

int chunks_feed(struct chunks *ch, const struct chunk_ops *ops, void *dec, uint8_t *in, size_t len,
		size_t *consumed, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t pos = 0;
	int r;

	*consumed = 0;
	if (ch->err)
		return ch->err;
	for (;;) {
		uint8_t *unit;
		bool whole = ch->have == 0 && len - pos >= ch->need;

		/* A unit is opened only when it is complete and its plaintext fits. */
		if (ch->have && ch->have == ch->need) {
			unit = ch->part;
		} else if (whole) {
			unit = in + pos;
		} else if (pos < len) {
			size_t n = MIN(ch->need - ch->have, len - pos);

			if (!ch->part && !(ch->part = malloc(ops->part_cap)))
				return ch->err = SS_ERR;
			memcpy(ch->part + ch->have, in + pos, n);
			ch->have += n;
			pos += n;
			if (ch->have == ch->need)
				continue;
			break;
		} else {
			break;
		}
		if (out_cap - *out_len < ops->releases(dec))
			break;
		if (whole && unit == in + pos)
			pos += ch->need;
		else
			ch->have = 0;
		if ((r = ops->unit(dec, unit, out, out_len))) {
			*consumed = pos;
			return ch->err = r;
		}
	}
	*consumed = pos;
	return SS_OK;
}

void chunks_free(struct chunks *ch)
{
	free(ch->part);
	ch->part = NULL;
}

static bool overlaps(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return a < b + blen && b < a + alen;
}

int chunks_open(struct ss_cipher *c, uint8_t *unit, size_t len, uint8_t *dst)
{
	size_t n = len - SS_TAG;
	int r;

	if (!overlaps(unit, len, dst, n))
		return cipher_open(c, dst, unit, len);
	if ((r = cipher_open(c, unit, unit, len)))
		return r;
	memmove(dst, unit, n);
	return SS_OK;
}
