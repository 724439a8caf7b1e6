// SPDX-License-Identifier: GPL-2.0
/*
 * ntsync-coverage-mark OP [LABEL]: issues the insn-profile plugin's marker OP
 * (1 starts counting, 2 stops it, 3 ends a region) from the guest's shell
 * scripts, which cannot execute an instruction themselves. For OP 3 it then
 * appends "dump LABEL" to /tmp/ntsync-coverage.log, so that the log names
 * each region in the order the plugin wrote them. Built static for the test
 * VM by tools/testing/coverage.
 */

#include <stdio.h>
#include <stdlib.h>

#define MARKER(op) asm volatile(".byte 0x0f, 0x1f, 0x80, " #op ", 0x53, 0x54, 0x4e")

int main(int argc, char **argv)
{
	FILE *log;

	if (argc < 2)
		return 2;
	switch (atoi(argv[1])) {
	case 1:
		MARKER(1);
		return 0;
	case 2:
		MARKER(2);
		return 0;
	case 3:
		MARKER(3);
		break;
	default:
		return 2;
	}
	log = fopen("/tmp/ntsync-coverage.log", "a");
	if (!log)
		return 1;
	fprintf(log, "dump %s\n", argc > 2 ? argv[2] : "-");
	return fclose(log) ? 1 : 0;
}
