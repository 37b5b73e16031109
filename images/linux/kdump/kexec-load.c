/*
 * kexec-load: load a crash (capture) kernel with kexec_file_load(2), for the rig's
 * linux-kdump image. Debian's kexec-tools pulls in Xen libraries; this is all the guest needs.
 *
 *   kexec-load KERNEL INITRD CMDLINE
 *
 * After a panic the kernel jumps into KERNEL with INITRD and CMDLINE, where /proc/vmcore holds
 * the panicked kernel's memory.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef KEXEC_FILE_ON_CRASH
#define KEXEC_FILE_ON_CRASH 0x00000002
#endif

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: kexec-load KERNEL INITRD CMDLINE\n");
		return 2;
	}
	int kernel = open(argv[1], O_RDONLY | O_CLOEXEC);
	int initrd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (kernel < 0 || initrd < 0) {
		perror("kexec-load: open");
		return 1;
	}
	/* The length includes the terminating NUL. */
	if (syscall(SYS_kexec_file_load, kernel, initrd, strlen(argv[3]) + 1, argv[3], KEXEC_FILE_ON_CRASH) != 0) {
		perror("kexec-load: kexec_file_load");
		return 1;
	}
	return 0;
}
