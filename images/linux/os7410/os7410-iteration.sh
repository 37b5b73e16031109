#!/bin/sh
# One iteration of the OS-7410 race, for the rig's engine to run over SSH:
#
#   /usr/lib/rig/os7410-iteration.sh [ZONES]      (default 3)
#
# Creates and boots ZONES zones with vmm loaded, starts the vmm reload loop
# (os7410-reload-loop.sh) in the background, halts the zones one after the
# other with a random 0-JITTER_MS pause between halts, waits until every halt
# is over, stops the loop and destroys the zones. Prints one line:
#
#   os7410: iteration N: ZONES zones halted, reloads=R, windows=W, window_hits=H, no panic
#
# window_hits counts destroy callbacks that ran without a shutdown before: the
# OS-7410 window was hit (on the fixed build; the debug build panics there).
#
# OS7410_DRAIN_PERMILLE=Q makes the race rare: each halt opens its drain
# window (zones.ko's drain_permille) with probability Q/1000 and otherwise goes
# straight to DOWN; OS7410_DRAIN_MS=MS sets the window's length (drain_ms, default
# 300). Both are written to /sys/module/zones/parameters when given, and stay
# until the guest reboots. windows=W in the summary line counts the windows
# opened in this iteration. The rare setting of testcases/os-7410-rare.yaml
# (Q=30, MS=1500) panicked the debug build in 19 of 240 iterations (7.9%).
#
# OS7410_RELOAD=0 leaves vmm alone (no initial load, no reload loop), for a
# caller that reloads vmm itself (e.g. the engine's background reload_module).
#
# On the debug build a reload that lands in a zone's drain window makes
# vmm_zsd_destroy() trip its assertion: the guest panics instead
# (oops=panic) and this script never returns.
set -eu
zones=${1:-3}
jitter=${OS7410_JITTER_MS:-150}
reload=${OS7410_RELOAD:-1}
lib=/usr/lib/rig
stop=/run/os7410.stop
count=/run/os7410.iterations

it=$(($(cat $count 2>/dev/null || echo 0) + 1))
echo $it >$count
names=
for i in $(seq 1 "$zones"); do
	names="$names i$it-z$i"
done

params=/sys/module/zones/parameters
[ -z "${OS7410_DRAIN_PERMILLE:-}" ] || echo "$OS7410_DRAIN_PERMILLE" >$params/drain_permille
[ -z "${OS7410_DRAIN_MS:-}" ] || echo "$OS7410_DRAIN_MS" >$params/drain_ms
hits=$params/destroy_without_shutdown
windows=$params/drain_windows
hits0=$(cat $hits) windows0=$(cat $windows)
[ "$reload" = 0 ] || modprobe vmm
for z in $names; do
	zoneadm -z "$z" create
	zoneadm -z "$z" boot
done

rm -f $stop
trap 'touch $stop' EXIT
if [ "$reload" = 0 ]; then
	echo "reloads=external" >/run/os7410.loop.out
	touch $stop
	loop=
else
	sh $lib/os7410-reload-loop.sh $stop >/run/os7410.loop.out 2>&1 &
	loop=$!
fi

for z in $names; do
	r=$RANDOM
	[ -n "$r" ] || r=$(od -An -N2 -tu2 /dev/urandom)
	usleep $((r % (jitter + 1) * 1000))
	zoneadm -z "$z" halt
done
for z in $names; do
	timeout 60 zoneadm -z "$z" wait
done

touch $stop
[ -z "$loop" ] || wait $loop || { cat /run/os7410.loop.out >&2; exit 1; }
for z in $names; do
	zoneadm -z "$z" destroy
done
echo "os7410: iteration $it: $zones zones halted, $(cat /run/os7410.loop.out)," \
	"windows=$(($(cat $windows) - windows0)), window_hits=$(($(cat $hits) - hits0)), no panic"
