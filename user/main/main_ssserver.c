// SPDX-License-Identifier: MIT
/* ssserver: the shadowsocks server side (AEAD on the left, targets on the right). */
#include "supervisor.h"

int main(int argc, char **argv)
{
	return supervisor_main(PROG_SERVER, argc, argv);
}
