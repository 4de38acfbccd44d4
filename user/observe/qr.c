// SPDX-License-Identifier: MIT
/* A QR code in the terminal (libqrencode), for phone clients to scan an ss:// URI. */
#include <errno.h>
#include <qrencode.h>
#include <stdbool.h>
#include <stdio.h>

#include "qr.h"

#define QUIET 2 /* modules of light margin around the code */

/* Light modules are drawn lit (a terminal's dark background is the code's dark). */
static bool light(const QRcode *q, int x, int y)
{
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return true;
	return !(q->data[y * q->width + x] & 1);
}

int qr_print(FILE *f, const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);

	if (!q)
		return -(errno ? errno : EINVAL);
	/* Two rows of modules per line of text, in half blocks. */
	for (int y = -QUIET; y < q->width + QUIET; y += 2) {
		for (int x = -QUIET; x < q->width + QUIET; x++) {
			bool top = light(q, x, y), bottom = light(q, x, y + 1);

			fputs(top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ", f);
		}
		fputc('\n', f);
	}
	QRcode_free(q);
	return 0;
}
