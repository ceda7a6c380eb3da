// SPDX-License-Identifier: GPL-2.0-only
/*
 * pk-exit: hand an exit status to the host through QEMU's isa-debug-exit
 * device (iobase 0xf4); QEMU then exits with (status << 1) | 1.
 *
 *   pk-exit STATUS     STATUS in 0..127
 *   pk-exit            (run as /init of the accelerator probe) status 42
 *
 * If the port write does not stop the machine (no such device), this
 * program says so and exits 3, so the caller can fall back to reboot -f.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0xf4
#define PROBE_STATUS 42

int main(int argc, char **argv)
{
	long status = PROBE_STATUS;
	char *end;

	if (argc > 1) {
		status = strtol(argv[1], &end, 0);
		if (*end || status < 0 || status > 127) {
			fprintf(stderr, "pk-exit: status must be 0..127, got '%s'\n", argv[1]);
			return 2;
		}
	}
	if (ioperm(DEBUG_EXIT_PORT, 4, 1)) {
		perror("pk-exit: ioperm(0xf4)");
		return 3;
	}
	outb((unsigned char)status, DEBUG_EXIT_PORT);
	/* Still here: the device is missing. */
	sleep(1);
	fprintf(stderr, "pk-exit: isa-debug-exit did not stop the machine\n");
	return 3;
}
