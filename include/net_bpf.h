/* SPDX-License-Identifier: MIT */
#ifndef SS_NET_BPF_H
#define SS_NET_BPF_H

/*
 * For the BPF programs: the socket API's constants, which vmlinux.h (the
 * kernel's types, not its macros) does not carry.
 */
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

#endif
