/* SPDX-License-Identifier: MIT */
#ifndef SS_QR_H
#define SS_QR_H

#include <stdio.h>

/*
 * Prints text as a QR code (error correction M) in Unicode half blocks, light
 * modules lit, with a two-module margin: for a terminal with a dark
 * background, as `qrencode -t UTF8` draws it. 0 or -errno.
 */
int qr_print(FILE *f, const char *text);

#endif
