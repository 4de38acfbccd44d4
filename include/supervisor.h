/* SPDX-License-Identifier: MIT */
#ifndef SS_SUPERVISOR_H
#define SS_SUPERVISOR_H

#include "config.h"

/*
 * Runs the ssserver or sslocal described by argv: one worker, or --workers N
 * worker processes that it restarts and signals; returns the exit status.
 */
int supervisor_main(enum prog_kind prog, int argc, char **argv);


#endif
