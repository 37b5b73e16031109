/*
 * kvm-churn: create, run and destroy tiny VMs in /dev/kvm as fast as possible, for the rig's
 * kvm-reload-vm-churn case (a kvm_amd/kvm_intel reload loop races against VM creation).
 *
 *   kvm-churn [SECONDS]        (default 5)
 *
 * Each round opens /dev/kvm, creates a VM with one page of memory holding real-mode code
 * (out 0x10, al; hlt), creates a vCPU, runs it until it halts and closes everything. Errors
 * are expected while the module reloads (/dev/kvm gone, EAGAIN): they are counted, not fatal.
 * Prints "vms=N errors=E".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* One VM from creation to destruction; 0 when the guest code ran to its hlt. */
static int one_vm(void)
{
	static const unsigned char code[] = { 0xb0, 0x42, 0xe6, 0x10, 0xf4 }; /* mov al,0x42; out 0x10,al; hlt */
	int ret = -1, kvm = -1, vm = -1, vcpu = -1;
	void *mem = MAP_FAILED;
	struct kvm_run *run = MAP_FAILED;
	long run_size = 0;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		goto out;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		goto out;
	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		goto out;
	memcpy(mem, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000, .userspace_addr = (unsigned long)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		goto out;
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		goto out;
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		goto out;
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		goto out;
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		goto out;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		goto out;
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 0x2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		goto out;
	for (int i = 0; i < 10; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			goto out;
		if (run->exit_reason == KVM_EXIT_HLT) {
			ret = 0;
			break;
		}
		if (run->exit_reason != KVM_EXIT_IO)
			break;
	}
out:
	if (run != MAP_FAILED)
		munmap(run, run_size);
	if (mem != MAP_FAILED)
		munmap(mem, 0x1000);
	if (vcpu >= 0)
		close(vcpu);
	if (vm >= 0)
		close(vm);
	if (kvm >= 0)
		close(kvm);
	return ret;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5.0;
	double end = now() + secs;
	unsigned long vms = 0, errors = 0;

	while (now() < end) {
		if (one_vm() == 0) {
			vms++;
		} else {
			errors++;
			usleep(1000);
		}
	}
	printf("vms=%lu errors=%lu\n", vms, errors);
	return vms > 0 ? 0 : 1;
}
