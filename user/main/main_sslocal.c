// SPDX-License-Identifier: MIT
/* sslocal: SOCKS5 or tunnel on the left, an ssserver on the right. */
#include "supervisor.h"

int main(int argc, char **argv)
{
	return supervisor_main(PROG_LOCAL, argc, argv);
}
