# /usr/lib/standin/standin.sh: what the coal stand-in's init and its illumos command shims
# share (sourced; busybox ash). A test fixture imitating a SmartOS coal headnode as the rig
# sees it; see README.md in images/coal-stand-in/ for the fact behind each behaviour.

SI=/run/standin          # this boot's facts (tmpfs): console, platform, vmm, kernel variables
POOL=/zones              # the persistent "zones pool", saved as a tar at the start of the zpool disk
ZPOOL_DEV=/dev/vda
ZONES_RUN=/var/run/zones # the zones' states (tmpfs): every zone runs again after a boot
CRASH=/var/crash/volatile
MESSAGES=/var/adm/messages # the system log (syslogd's kern/daemon/err file); `dmesg` prints it
SVCLOG_DUMPADM=/var/svc/log/system-dumpadm:default.log # savecore's stderr at boot
VMM_ID=271               # vmm's module id (kept across reloads: the modctl stays)

CON=$(cat "$SI/console" 2>/dev/null || echo /dev/ttyS1)

# One line on the OS console, in one write.
con() { printf '%s\n' "$*" >"$CON"; }
# Console text without a line end (prompts, \r progress).
con_n() { printf '%b' "$*" >"$CON"; }

# One system log line (`<date> headnode <text>`), not on the console.
syslog() { printf '%s headnode %s\n' "$(date '+%b %e %H:%M:%S')" "$*" >>"$MESSAGES"; }
# One syslog line of priority err or above: to the log and, through /dev/sysmsg, the console.
syslog_err() { syslog "$*"; con "$(date '+%b %e %H:%M:%S') headnode $*"; }

# A fact of this boot, or a default.
fact() { cat "$SI/$1" 2>/dev/null || echo "${2:-}"; }
set_fact() { mkdir -p "$(dirname "$SI/$1")" && echo "$2" >"$SI/$1"; }

# The machine's CPUs (QEMU's -smp): the stand-in's own kernel brings up only the first
# (maxcpus=1 in syslinux.cfg), so /proc/cpuinfo shows one; `present` shows them all.
ncpus() { awk -F- '{print ($2 == "" ? 1 : $2 + 1)}' /sys/devices/system/cpu/present; }

# Sleeps $1 milliseconds.
sleep_ms() { usleep $(($1 * 1000)); }

# --- the zones pool (persistent state) -----------------------------------------------------
# A tar of /zones written with dd at offset 0 of the zpool disk; an empty (zeroed) disk reads
# as an empty archive. Writes are flushed (fsync) before anyone reboots.
pool_lock() {
	i=0
	while ! mkdir "$SI/pool.lock" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 500 ] && break
		usleep 10000
	done
}
pool_unlock() { rmdir "$SI/pool.lock" 2>/dev/null; }
pool_load() {
	mkdir -p "$POOL"
	dd if="$ZPOOL_DEV" bs=65536 count=256 2>/dev/null | tar -x -C "$POOL" -f - 2>/dev/null
	true
}
pool_save() {
	pool_lock
	tar -c -C "$POOL" -f - . 2>/dev/null | dd of="$ZPOOL_DEV" bs=65536 conv=notrunc,fsync 2>/dev/null
	rc=$?
	pool_unlock
	return $rc
}

# --- zones ---------------------------------------------------------------------------------
# $ZONES_RUN/<uuid>/: alias, id, state (running | shutting_down | down | installed) and,
# while a halt is in its window, late_zsd when vmm's ZSD key was created meanwhile.
zones_init() {
	mkdir -p "$ZONES_RUN"
	id=1
	grep -v '^#' /usr/lib/standin/zones | while read -r uuid alias; do
		[ -n "$uuid" ] || continue
		mkdir -p "$ZONES_RUN/$uuid"
		echo "$alias" >"$ZONES_RUN/$uuid/alias"
		echo "$id" >"$ZONES_RUN/$uuid/id"
		echo running >"$ZONES_RUN/$uuid/state"
		id=$((id + 1))
	done
}
zone_uuids() { grep -v '^#' /usr/lib/standin/zones | awk 'NF == 2 {print $1}'; }
zone_state() { cat "$ZONES_RUN/$1/state" 2>/dev/null; }
# A zone by UUID or alias; prints its UUID.
zone_find() {
	[ -d "$ZONES_RUN/$1" ] && [ -n "$1" ] && { echo "$1"; return 0; }
	for u in $(zone_uuids); do
		[ "$(cat "$ZONES_RUN/$u/alias")" = "$1" ] && { echo "$u"; return 0; }
	done
	return 1
}
running_zones() {
	for u in $(zone_uuids); do
		[ "$(zone_state "$u")" = running ] && echo "$u"
	done
}

# Halts a running zone: its ZSD shutdown callbacks run, then the zone drains for a random
# 300-1500 ms and, on the stand-in, on until vmm is next loaded (at most ZONE_DRAIN_WAIT_S more)
# before it is down and its ZSD destroy callbacks run (zone_destroy). A vmm load in that window
# gave the zone a vmm ZSD with vz_active set that never saw a shutdown: on a DEBUG platform
# without the OS-7410 fix, vmm_zsd_destroy's ASSERT(!zsd->vz_active) fires. Why the window waits
# for a load: README.md, "OS-7410".
ZONE_DRAIN_WAIT_S=6
zone_halt() {
	d=$ZONES_RUN/$1
	[ "$(zone_state "$1")" = running ] || return 1
	rm -f "$d/late_zsd"
	[ -p "$d/load.fifo" ] || mkfifo "$d/load.fifo"
	echo shutting_down >"$d/state"
	sleep_ms $((300 + RANDOM % 1201))
	# vmm_load wakes the wait (a load between the test and the read only makes it wait longer).
	[ -e "$d/late_zsd" ] || read -r -t "$ZONE_DRAIN_WAIT_S" _ <>"$d/load.fifo"
	echo down >"$d/state"
	if [ -e "$d/late_zsd" ] && [ "$(fact debug)" = 1 ] && [ "$(fact os7410_fixed)" = 0 ]; then
		os7410_panic
	fi
	rm -f "$d/late_zsd"
	echo installed >"$d/state"
}
zone_boot() {
	d=$ZONES_RUN/$1
	[ "$(zone_state "$1")" = installed ] || return 1
	rm -f "$d/late_zsd"
	sleep_ms 200
	echo running >"$d/state"
}

# --- vmm -----------------------------------------------------------------------------------
moddebug_on() { [ "$(fact kvar/moddebug 0)" != 0 ]; }
vmm_load() {
	[ "$(fact vmm/loaded 0)" = 1 ] && return 0
	# vmm's _init: zone_key_create() gives every zone below ZONE_IS_DOWN a ZSD, including a
	# zone whose shutdown callbacks already ran (the OS-7410 window).
	for d in "$ZONES_RUN"/*; do
		if [ "$(cat "$d/state" 2>/dev/null)" = shutting_down ]; then
			: >"$d/late_zsd"
			# Opened read-write, so it never blocks; a zone not waiting yet finds late_zsd.
			echo loaded 1<>"$d/load.fifo"
		fi
	done
	set_fact vmm/loadcnt $(($(fact vmm/loadcnt 0) + 1))
	set_fact vmm/loaded 1
	if moddebug_on; then
		con "load 'drv/vmm' id $VMM_ID loaded @ 0xfffffffff7b8d000/0xfffffffff7c3e260 size 721016/4664"
		con "installing vmm, module id $VMM_ID."
	fi
	return 0
}
# A switch of the platform's unix (a stand-in's own: `NAME=1` in the file).
platform_flag() {
	grep -q "$1=1" "/usbkey/os/$(fact platform)/platform/i86pc/kernel/amd64/unix" 2>/dev/null
}
# Returns the errno of a failed unload: EINVAL (22) when vmm is not loaded, EBUSY (16) when it
# attached and its sdev plugin refuses to unregister, or when the platform pins it.
vmm_unload() {
	if [ "$(fact vmm/loaded 0)" != 1 ]; then
		echo "can't unload the module: Invalid argument" >&2
		return 22
	fi
	# Once vmm attached (usable SVM/VMX) its sdev plugin refuses to unregister.
	if platform_flag VMM_PINNED ||
		{ [ "$(fact vmm_capable 0)" = 1 ] && [ "$(fact kvar/sdev_plugin_unregister_allowed 0)" = 0 ]; }; then
		echo "can't unload the module: Device busy" >&2
		return 16
	fi
	set_fact vmm/loaded 0
	if moddebug_on; then
		con "uninstalled vmm"
		con "unloading vmm, module id $VMM_ID, loadcnt $(fact vmm/loadcnt 1)."
	fi
	return 0
}

# --- panic, dump, reboot -------------------------------------------------------------------
# The OS-7410 panic as the seed report shows it; the "dump" is recorded in the pool, and the
# machine reboots at once.
os7410_panic() {
	panic "assertion failed: !zsd->vz_active, file: ../../i86pc/io/vmm/vmm_zsd.c, line: 162" "\
fffffe0021b5cbf0 genunix:process_type+16c0d0 ()
fffffe0021b5cc20 vmm:vmm_zsd_destroy+e8 ()
fffffe0021b5cca0 genunix:zsd_apply_destroy+165 ()
fffffe0021b5ccf0 genunix:zsd_apply_all_keys+5f ()
fffffe0021b5cd40 genunix:zone_zsd_callbacks+10e ()
fffffe0021b5cda0 genunix:zone_destroy+124 ()
fffffe0021b5cef0 genunix:zone+1e7 ()
fffffe0021b5cf00 unix:brand_sys_syscall+320 ()"
}
# A panic with message $1 and the stack's frames $2 (one per line).
panic() {
	msg=$1
	mkdir "$SI/panicking" 2>/dev/null || { while :; do sleep 60; done; }
	# (other processes keep running: freezing them with kill -STOP -1 left the next boot hung)
	con ""
	con "panic[cpu3]/thread=fffffe17a84c8200: $msg"
	con ""
	printf '%s\n' "$2" | while read -r line; do con "$line"; done
	con ""
	# With kmdb loaded, panicsys() enters the debugger unless nopanicdebug is set (mdb -kw).
	if [ "$(fact kmdb 0)" = 1 ] && [ "$(fact kvar/nopanicdebug 0)" = 0 ]; then
		# The console stays open for reading from before the prompt shows: an answer typed at
		# once would be dropped while no process holds the tty open.
		exec 3<"$CON"
		con "panic: entering debugger (continue to save dump)"
		con_n "\n[3]> "
		# A debugger wedged at its prompt (the tests' fault: `$SI/kmdb_wedged`) takes what is
		# typed and does nothing more: a guest frozen at a prompt, which the rig must end.
		# As kmdb stops every CPU, every other process stops too (here only: a stand-in that
		# reboots must leave them running, see above).
		if [ "$(fact kmdb_wedged 0)" = 1 ]; then
			kill -STOP -1
			while :; do read -r cmd <&3 || sleep 1; done
		fi
		while read -r cmd <&3; do
			case $cmd in *:c*) break ;; esac
			con_n "[3]> "
		done
		exec 3<&-
	fi
	mkdir -p "$POOL/standin"
	{
		echo "message=$msg"
		echo "time=$(date +%s)"
		echo "platform=$(fact platform)"
	} >"$POOL/standin/dump.pending"
	con "dumping to /dev/zvol/dsk/zones/dump, offset 65536, content: kernel"
	con_n "dumping:  0:00   0% done"
	sleep_ms 200
	con_n "\rdumping:  0:01  37% done"
	pool_save
	con_n "\rdumping:  0:02  81% done"
	sleep_ms 200
	con_n "\r100% done: 412346 pages dumped, dump succeeded\n"
	con "rebooting..."
	# reboot(2) at once, as init does at setup (see README.md on sysrq-b).
	/bin/busybox reboot -f
	while :; do sleep 60; done
}

# The host's ctime for an epoch (`Thu Dec  6 01:30:12 2018`).
ctime() { date -d "@$1" '+%a %b %e %H:%M:%S %Y'; }
