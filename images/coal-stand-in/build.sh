#!/bin/sh
# Assembles the coal stand-in's initrd overlay from its unpacked Debian packages, without
# installing anything on the host. Run by the rig (rig/src/guest_os/illumos/coal/stand_in/):
#
#   sh build.sh WORK ABI
#
# WORK holds recipe/ (this directory's files), pkg/ (the packages the rig unpacked: syslinux,
# mtools, mbr.bin, gptmbr.bin; from the kernel package only vmlinuz, the module metadata and
# the listed modules), busybox and busybox-static (the /bin/busybox of each package, which
# would replace each other in pkg/). This script fills WORK/vmlinuz (the kernel's bzImage, which
# syslinux boots) and WORK/root (the overlay the rig packs as a cpio and appends to the
# linux image's initrd: init, the illumos command shims, dropbearkey, the modules).
set -eu

work=$1 abi=$2
recipe=$work/recipe
pkg=$work/pkg
root=$work/root
mods=lib/modules/$abi

die() { echo "build.sh: $*" >&2; exit 1; }
list() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$recipe/$1"; }

[ -f "$pkg/boot/vmlinuz-$abi" ] || die "the rig unpacked no boot/vmlinuz-$abi into $pkg"
for f in busybox busybox-static; do
	[ -x "$work/$f" ] || die "the rig extracted no $f"
done
cp "$pkg/boot/vmlinuz-$abi" "$work/vmlinuz"
for f in usr/bin/syslinux usr/bin/mtools usr/lib/syslinux/mbr/mbr.bin usr/lib/syslinux/mbr/gptmbr.bin; do
	[ -e "$pkg/$f" ] || die "$f is not in the unpacked packages"
done

mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/usr/lib/standin" "$root/$mods" \
	"$root/usbkey" "$root/zones" "$root/root/.ssh" "$root/etc"
echo headnode >"$root/etc/hostname"
cp "$recipe/init" "$root/init"
cp "$recipe/lib/standin.sh" "$recipe/lib/grub-menu.sh" "$recipe/zones" "$recipe/questions" "$root/usr/lib/standin/"
# The shims live in /usr/sbin; busybox applets of the same name (modinfo, reboot) are
# replaced wherever they are, so no PATH order reaches them (init calls busybox directly).
mkdir -p "$root/bin" "$root/sbin"
for f in "$recipe"/sbin/*; do
	cp "$f" "$root/usr/sbin/"
	for d in bin sbin usr/bin; do
		ln -s "/usr/sbin/$(basename "$f")" "$root/$d/$(basename "$f")"
	done
done
chmod 755 "$root/init" "$root"/usr/sbin/*
cp "$pkg/usr/bin/dropbearkey" "$root/usr/bin/dropbearkey"
# /bin/busybox (so /bin/sh and every applet) becomes Debian's dynamic busybox, whose ash and
# exec look commands up on PATH. The linux image's static busybox runs its own applets first
# (sh, setsid, time, ...), so `modinfo` or `reboot` would never reach the shims. It needs
# libresolv besides the libraries the linux image has.
cp "$work/busybox" "$root/bin/busybox"
mkdir -p "$root/lib/x86_64-linux-gnu"
cp -L "$pkg/lib/x86_64-linux-gnu/libresolv.so.2" "$root/lib/x86_64-linux-gnu/"

# Modules, their dependencies checked, and a modules.dep for busybox modprobe.
cp "$pkg/$mods/modules.order" "$pkg/$mods/modules.builtin" "$root/$mods/"
for m in $(list modules); do
	src=$(cd "$pkg/$mods" && find kernel -name "$m.ko" | head -n 1)
	[ -n "$src" ] || die "module $m not found in the kernel package"
	mkdir -p "$root/$mods/$(dirname "$src")"
	cp "$pkg/$mods/$src" "$root/$mods/$src"
done
for ko in $(find "$root/$mods/kernel" -name '*.ko'); do
	deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | tr ',' ' ')
	for dep in $deps; do
		[ -n "$(find "$root/$mods/kernel" -name "$dep.ko" -o -name "$(echo "$dep" | tr _ -).ko")" ] ||
			die "module $(basename "$ko") needs $dep: add it to images/coal-stand-in/modules"
	done
done
"$work/busybox-static" depmod -b "$root" "$abi"
