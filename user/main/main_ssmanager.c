// SPDX-License-Identifier: MIT
/* ssmanager: runs an ssserver per port, told by the manager protocol. */
#include "manager.h"

int main(int argc, char **argv)
{
	return manager_main(argc, argv);
}
