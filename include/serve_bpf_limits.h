/* SPDX-License-Identifier: MIT */
#ifndef SS_SERVE_BPF_LIMITS_H
#define SS_SERVE_BPF_LIMITS_H

/* The limits of bpf/serve.bpf.c's maps, for the programs and the daemon alike. */
#define SERVE_ADDRS 16   /* distinct listen addresses (bits of a port's mask) */
#define SERVE_WORKERS 64 /* worker processes */

#endif
