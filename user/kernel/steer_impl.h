/* SPDX-License-Identifier: MIT */
#ifndef SS_STEER_IMPL_H
#define SS_STEER_IMPL_H

/* Private to steer.c, steer_nl.c and steer_nft.c. */
#include <libmnl/libmnl.h>

#include "steer.h"

/* ---- rtnetlink (steer_nl.c) ---- */

struct nl {
	struct mnl_socket *sock;
	unsigned seq, portid;
	char buf[1 << 16];
};

int nl_open(struct nl *nl);
void nl_close(struct nl *nl);
/*
 * The rules: iif lo keeps the main table; then, in sk_lookup mode, LAN
 * packets (per port range and --steer-iif interface) look up the table; in
 * nft mode, marked packets do. The table's "local default" route (nft).
 */
int nl_install_rules(struct nl *nl, const struct steer_params *sp, const struct steer_spec *s);
/*
 * sk_lookup mode's routes from (old effective steer, old exclude) to (eff,
 * exclude): throw routes added, local routes added, local routes removed,
 * throw routes removed, in that order; 0 or -errno.
 */
int nl_routes_update(struct nl *nl, uint32_t table, const struct steer_list *old_eff,
		     const struct steer_list *old_exclude, const struct steer_list *eff,
		     const struct steer_list *exclude);
/* Deletes every rule at our priorities and every route of table; returns how many. */
int nl_remove(struct nl *nl, uint32_t table);

/* ---- nftables (steer_nft.c) ---- */

/* Replaces the table inet ssbpf with the one for spec, in one transaction; 0 or -errno. */
int nft_apply(const struct steer_params *sp, const struct steer_spec *s, const char **why);
/* Deletes the table; 1 when there was one, 0 when not, -errno. */
int nft_remove(void);

#endif
