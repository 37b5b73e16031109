#!/bin/sh
# The coal stand-in's reader of a GRUB-era key's boot/grub/menu.lst, written from the Solaris
# GRUB's builtins (illumos-gate usr/src/grub: `default`, `timeout`, `variable`, `title`,
# `kernel$`/`module$` expanding ${name}, `kernel`/`module` not) and sharing nothing with the
# rig's writer (rig/src/guest_os/illumos/coal/menu_lst.rs), so a wrong edit fails here, outside the rig's code.
#
# Usage: grub-menu.sh <menu.lst> <key root>. Prints shell assignments for the stand-in's init:
#   menu_timeout, menu_title, menu_kernel (expanded), menu_flags, menu_console, menu_nmi,
#   menu_pi (the platform the kernel path names), menu_missing (the first kernel or module file
#   the key lacks: GRUB stops there with "Error 15: File not found"), menu_error.
# Exits non-zero when the menu names no bootable default entry.
menu=$1
root=$2
awk -v root="$root" -v sq="'" '
function expand(s,    out, name, i, j) {
	out = ""
	while ((i = index(s, "${")) > 0) {
		j = index(substr(s, i + 2), "}")
		if (j == 0) break
		name = substr(s, i + 2, j - 1)
		out = out substr(s, 1, i - 1) vars[name]
		s = substr(s, i + 2 + j)
	}
	return out s
}
function q(s,    out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		out = out (c == sq ? sq "\\" sq sq : c)
	}
	return sq out sq
}
function exists(p,    cmd, r) {
	cmd = "test -f " q(root p)
	r = system(cmd)
	return r == 0
}
BEGIN { entry = -1; def = 0; timeout = "" }
/^[ \t]*(#|$)/ { next }
{
	cmd = $1
	rest = $0
	sub(/^[ \t]*[^ \t]+[ \t]*/, "", rest)
	if (cmd == "title") { entry++; title[entry] = rest; next }
	if (entry < 0) {
		if (cmd == "default") def = rest + 0
		else if (cmd == "timeout") timeout = rest + 0
		else if (cmd == "variable") { split(rest, kv, /[ \t]+/); vars[kv[1]] = kv[2] }
		next
	}
	if (cmd == "kernel$" || cmd == "kernel") kernel[entry] = (cmd == "kernel$") ? "$" rest : rest
	if (cmd == "module$" || cmd == "module") nmod[entry]++ ; if (cmd ~ /^module/) mod[entry, nmod[entry]] = rest
}
END {
	if (entry < 0 || def > entry || !(def in kernel)) {
		print "menu_error=" q("default " def " names no entry with a kernel")
		exit 1
	}
	k = kernel[def]
	if (substr(k, 1, 1) == "$") k = expand(substr(k, 2))
	n = split(k, w, /[ \t]+/)
	path = w[1]; flags = ""; props = ""
	for (i = 2; i <= n; i++) {
		if (w[i] == "-B") { props = w[i + 1]; i++ } else flags = flags " " w[i]
	}
	console = ""; nmi = ""
	np = split(props, p, /,/)
	for (i = 1; i <= np; i++) {
		if (p[i] ~ /^console=/) console = substr(p[i], 9)
		if (p[i] ~ /^nmi=/) nmi = substr(p[i], 5)
	}
	pi = path
	if (sub(/^\/os\//, "", pi) && sub(/\/platform\/.*$/, "", pi)) {} else pi = ""
	missing = ""
	if (!exists(path)) missing = path
	for (i = 1; i <= nmod[def] && missing == ""; i++) {
		split(mod[def, i], mw, /[ \t]+/)
		if (!exists(mw[1])) missing = mw[1]
	}
	print "menu_timeout=" q(timeout)
	print "menu_title=" q(title[def])
	print "menu_kernel=" q(k)
	print "menu_flags=" q(substr(flags, 2))
	print "menu_console=" q(console)
	print "menu_nmi=" q(nmi)
	print "menu_pi=" q(pi)
	print "menu_missing=" q(missing)
}' "$menu"
