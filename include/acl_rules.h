/* SPDX-License-Identifier: MIT */
#ifndef SS_ACL_RULES_H
#define SS_ACL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * One list of an ACL: address prefixes in a binary trie per family, host
 * names as exact and suffix sets (hash tables), and regular expressions.
 */
struct trie_node {
	uint32_t child[2]; /* 0: none (the root is node 0 and never a child) */
	uint8_t end;       /* a prefix ends here */
};

struct trie {
	struct trie_node *n;
	uint32_t len, cap;
};

struct name_set {
	char **slot;
	size_t cap, len;
};

struct rule_set {
	struct trie v4, v6;
	struct name_set exact, suffix;
	void *regex; /* regex_t[] */
	size_t nregex, cap_regex;
	size_t rules;
};

/* Adds one line (an address, CIDR, |exact, ||suffix or regex); 0, -EINVAL or -ENOMEM. */
int rules_add(struct rule_set *s, const char *line);
bool rules_match_addr(const struct rule_set *s, const struct sockaddr *sa);
bool rules_match_host(const struct rule_set *s, const char *host);
/* Each address prefix (not those under a shorter one of the same list). */
void rules_each_prefix(const struct rule_set *s,
		       void (*cb)(void *arg, int family, const uint8_t *addr, unsigned len), void *arg);
size_t rules_bytes(const struct rule_set *s);
void rules_free(struct rule_set *s);

#endif
