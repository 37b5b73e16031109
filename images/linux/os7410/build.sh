#!/bin/sh
# Builds the OS-7410 fixture (zones.ko, vmm.ko) against the guest kernel's
# headers and installs it into the guest tree. Run by the rig after
# images/linux/build.sh, for the linux-os7410-* images:
#
#   sh os7410/build.sh WORK ABI debug|fixed
#
# WORK/headers holds linux-headers-ABI, linux-headers-*-common and
# linux-kbuild-*, unpacked by the rig (nothing is installed on the host); the modules are compiled with the host's make and the gcc the
# headers name (Debian 12: gcc-12), then go to /lib/modules/ABI/extra with a
# fresh modules.dep, next to zoneadm and the race scripts.
set -eu

work=$1 abi=$2 flavour=$3
src=$work/recipe/os7410
root=$work/root
hdr=$work/headers
obj=$work/os7410-build
busybox=$work/pkg/bin/busybox

die() { echo "os7410/build.sh: $*" >&2; exit 1; }
case $flavour in
debug) fixed=0 ;;
fixed) fixed=1 ;;
*) die "flavour must be debug or fixed, not '$flavour'" ;;
esac
for tool in make gcc; do
	command -v $tool >/dev/null || die "building the fixture modules needs $tool: apt-get install make gcc"
done

kdir=$hdr/usr/src/linux-headers-$abi
[ -f "$kdir/Makefile" ] || die "no kernel headers for $abi in the unpacked packages"
# The headers' Makefile includes the -common tree by absolute path.
sed -i "s|^include /usr/src/|include $hdr/usr/src/|" "$kdir/Makefile"
# The compiler the kernel was built with (Debian's .kernelvariables: CC = ... gcc-12).
cc=$(sed -n 's/^CC = .*[) ]\(gcc-[0-9][0-9]*\)$/\1/p' "$kdir/.kernelvariables")
[ -n "$cc" ] || die "cannot tell the kernel's compiler from $kdir/.kernelvariables"
command -v "$cc" >/dev/null || die "the guest kernel was built with $cc: apt-get install $cc"

mkdir -p "$obj"
cp "$src/Kbuild" "$src/zones.c" "$src/zones.h" "$src/vmm.c" "$obj/"
make -s -C "$kdir" M="$obj" OS7410_FIXED=$fixed modules >"$obj/make.log" 2>&1 ||
	{ cat "$obj/make.log" >&2; die "make failed"; }

extra=$root/lib/modules/$abi/extra
mkdir -p "$extra" "$root/usr/lib/rig"
cp "$obj/zones.ko" "$obj/vmm.ko" "$extra/"
"$busybox" depmod -b "$root" "$abi"
cp "$src/zoneadm" "$root/usr/sbin/zoneadm"
cp "$src/os7410-iteration.sh" "$src/os7410-reload-loop.sh" "$root/usr/lib/rig/"
chmod 755 "$root/usr/sbin/zoneadm" "$root/usr/lib/rig/"os7410-*.sh
echo "$flavour" >"$root/etc/os7410-build"
rm -rf "$hdr" "$obj"
