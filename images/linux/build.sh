#!/bin/sh
# Assembles the guest's root filesystem from Debian packages, without
# installing anything on the host. Run by the rig (rig/src/guest_os/linux/image/build.rs):
#
#   sh build.sh WORK ABI
#
# WORK holds recipe/ (this directory's files), client_key.pub and pkg/, the
# packages the rig unpacked (rig/src/guest_os/linux/image/unpack.rs: from the
# kernel package, ~400 MB unpacked, only vmlinuz, the module metadata and the
# listed modules, or all modules of a user's kernel); this script fills
# WORK/root (the initramfs tree), WORK/vmlinuz and WORK/host_key.pub.
# The rig then packs root/ as a newc cpio, extracts the ELF from vmlinuz and
# records the manifest.
set -eu

work=$1 abi=$2
recipe=$work/recipe
pkg=$work/pkg           # the unpacked packages
root=$work/root         # the guest's /
mods=lib/modules/$abi
multiarch=lib/x86_64-linux-gnu

die() { echo "build.sh: $*" >&2; exit 1; }
# Lines of a recipe list, without comments and blank lines.
list() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$recipe/$1"; }

# A user's kernel (RIG_USER_KERNEL=1) may build a listed module in or leave it
# out, so the list is taken as a wish (see below).
user=${RIG_USER_KERNEL:-0}
[ -f "$pkg/boot/vmlinuz-$abi" ] || die "the rig unpacked no boot/vmlinuz-$abi into $pkg"
cp "$pkg/boot/vmlinuz-$abi" "$work/vmlinuz"

# --- the guest tree ------------------------------------------------------
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin lib64 "$multiarch" "$mods" \
	etc/dropbear proc sys dev tmp run var/log root/.ssh
chmod 700 root root/.ssh
chmod 1777 tmp

# busybox, with a symlink for each applet (bin/sh, sbin/modprobe, ...).
cp "$pkg/bin/busybox" bin/busybox
for applet in $("$pkg/bin/busybox" --list-full); do
	[ -e "$applet" ] || ln -s /bin/busybox "$applet"
done

# dropbear and its libraries, copied by soname (symlinks resolved inside the
# package tree: an absolute link must not escape to the host's files).
resolve() {
	f=$1
	while [ -L "$f" ]; do
		t=$(readlink "$f")
		case $t in
		/*) f=$pkg$t ;;
		*) f=$(dirname "$f")/$t ;;
		esac
	done
	echo "$f"
}
cp "$pkg/usr/sbin/dropbear" usr/sbin/dropbear
for so in ld-linux-x86-64.so.2 libc.so.6 libcrypt.so.1 libz.so.1 \
	libtomcrypt.so.1 libtommath.so.1 libgmp.so.10; do
	src=
	for d in "$pkg/$multiarch" "$pkg/usr/$multiarch"; do
		[ -e "$d/$so" ] && src=$(resolve "$d/$so") && break
	done
	[ -n "$src" ] || die "library $so not found in the unpacked packages"
	cp "$src" "$multiarch/$so"
done
ln -s "/$multiarch/ld-linux-x86-64.so.2" lib64/ld-linux-x86-64.so.2

# Kernel modules, under their kernel/... paths, and the index busybox modprobe reads.
cp "$pkg/$mods/modules.order" "$pkg/$mods/modules.builtin" "$mods/"
# A module file by name (`-` and `_` are one), under kernel/ of directory $1.
find_ko() { (cd "$1" && find kernel -name "$2.ko" -o -name "$(echo "$2" | tr _ -).ko" -o -name "$(echo "$2" | tr - _).ko" | head -n 1); }
copy_ko() { mkdir -p "$mods/$(dirname "$1")" && cp "$pkg/$mods/$1" "$mods/$1"; }
# Whether the kernel has module $1 built in.
is_builtin() { grep -q -e "/$1\.ko\$" -e "/$(echo "$1" | tr _ -)\.ko\$" -e "/$(echo "$1" | tr - _)\.ko\$" "$pkg/$mods/modules.builtin"; }
for m in $(list modules); do
	src=$(find_ko "$pkg/$mods" "$m")
	if [ -z "$src" ]; then
		[ "$user" = 1 ] || die "module $m not found in the kernel package"
		# The rig's configuration check refused kernels lacking what the guest
		# cannot do without; anything else built in or left out is said.
		is_builtin "$m" && echo "$m built in" >>"$work/module-notes" || echo "$m absent" >>"$work/module-notes"
		continue
	fi
	copy_ko "$src"
done
# Every dependency of a listed module must be listed too; a user's kernel may
# have others, which are copied (until none is missing).
missing=1
while [ "$missing" = 1 ]; do
	missing=0
	for ko in $(find "$mods/kernel" -name '*.ko'); do
		deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | tr ',' ' ')
		for dep in $deps; do
			[ -z "$(find_ko "$mods" "$dep")" ] || continue
			[ "$user" = 1 ] || die "module $(basename "$ko") needs $dep: add it to images/linux/modules"
			src=$(find_ko "$pkg/$mods" "$dep")
			[ -n "$src" ] || die "module $(basename "$ko") needs $dep, which the kernel package lacks"
			copy_ko "$src"
			missing=1
		done
	done
done
"$pkg/bin/busybox" depmod -b "$root" "$abi"

# Accounts and init.
echo 'root:x:0:0:root:/root:/bin/sh' >etc/passwd
echo 'root:x:0:' >etc/group
echo '/bin/sh' >etc/shells
echo 'rig-guest' >etc/hostname
cp "$recipe/init" init
chmod 755 init

# Keys: a fresh dropbear host key (its public half is pinned by the rig) and
# the client's public key, made by the rig, for root.
"$pkg/$multiarch/ld-linux-x86-64.so.2" \
	--library-path "$pkg/$multiarch:$pkg/usr/$multiarch" \
	"$pkg/usr/bin/dropbearkey" -t ed25519 -f etc/dropbear/dropbear_ed25519_host_key \
	| grep '^ssh-ed25519 ' >"$work/host_key.pub" || die "dropbearkey failed"
cp "$work/client_key.pub" root/.ssh/authorized_keys
chmod 600 root/.ssh/authorized_keys etc/dropbear/dropbear_ed25519_host_key
