#!/bin/sh
# Makes the guest able to dump itself (kdump), for the linux-kdump image:
#
#   sh kdump/build.sh WORK ABI
#
# Puts the compressed kernel at /boot/vmlinuz, a static kexec_file_load loader at
# /usr/sbin/kexec-load, and a capture initramfs at /boot/capture.cpio.gz: the same guest tree
# (its init sees rig.capture=1 and only brings up SSH, so the rig can fetch /proc/vmcore).
set -eu
work=$1
root=$work/root
busybox=$work/pkg/bin/busybox
die() { echo "kdump/build.sh: $*" >&2; exit 1; }
command -v gcc >/dev/null || die "building kexec-load needs gcc: apt-get install gcc"
gcc -static -O2 -Wall -o "$root/usr/sbin/kexec-load" "$work/recipe/kdump/kexec-load.c"
# The capture initramfs: the guest tree as it is now (before the kernel goes in).
(cd "$root" && find . | sort | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -9 >"$work/capture.cpio.gz"
[ -s "$work/capture.cpio.gz" ] || die "making the capture initramfs failed"
mkdir -p "$root/boot"
mv "$work/capture.cpio.gz" "$root/boot/capture.cpio.gz"
cp "$work/vmlinuz" "$root/boot/vmlinuz"
