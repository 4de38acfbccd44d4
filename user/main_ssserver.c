// SPDX-License-Identifier: MIT
/* ssserver: the shadowsocks server side (AEAD on the left, targets on the right). */
#include "proxy.h"

int main(int argc, char **argv)
{
	return proxy_main(PROG_SERVER, argc, argv);
}
