// SPDX-License-Identifier: MIT
/* libFuzzer: ACL files in libev's format, then one decision of each kind. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct acl *a;
	const char *err = "";

	/*
	 * Back-references and counted repeats make POSIX regexes exponential or
	 * huge by design; an operator's own file is trusted with them, so the
	 * fuzzer leaves them out and looks at everything else.
	 */
	for (size_t i = 0; i < size; i++)
		if (data[i] == '{' || (data[i] == '\\' && i + 1 < size && data[i + 1] >= '1' &&
				       data[i + 1] <= '9'))
			return 0;
	if (acl_parse(&a, (const char *)data, size, "fuzz", &err))
		return 0;
	inet_pton(AF_INET, "10.1.2.3", &s4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	acl_client_refused(a, (struct sockaddr *)&s4);
	acl_bypass_addr(a, (struct sockaddr *)&s6);
	acl_outbound_blocked_host(a, "www.example.com");
	acl_bypass_host(a, "a.b.example.org");
	acl_free(a);
	return 0;
}
