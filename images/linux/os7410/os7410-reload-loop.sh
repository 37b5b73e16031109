#!/bin/sh
# The OS-7410 background load: reload vmm.ko over and over, with random
# pauses, until STOPFILE exists (vmm was free to reload on AMD in 2018).
#
#   os7410-reload-loop.sh [STOPFILE]     (default /run/os7410.stop)
#
# Each cycle: modprobe vmm, stay loaded LOADED_MS, rmmod vmm, stay unloaded
# UNLOADED_MS, both drawn uniformly from the ranges below (ms, "min-max").
# Prints "reloads=N" and leaves vmm unloaded.
stop=${1:-/run/os7410.stop}
loaded=${OS7410_LOADED_MS:-150-450}
unloaded=${OS7410_UNLOADED_MS:-20-120}

# A uniform random integer in [min, max] from a "min-max" range.
rand_ms() {
	lo=${1%-*} hi=${1#*-}
	r=$RANDOM
	[ -n "$r" ] || r=$(od -An -N2 -tu2 /dev/urandom)
	echo $((lo + r % (hi - lo + 1)))
}

n=0
while [ ! -e "$stop" ]; do
	modprobe vmm || { echo "os7410-reload-loop: modprobe vmm failed" >&2; exit 1; }
	usleep $(($(rand_ms "$loaded") * 1000))
	rmmod vmm || { echo "os7410-reload-loop: rmmod vmm failed" >&2; exit 1; }
	n=$((n + 1))
	[ -e "$stop" ] && break
	usleep $(($(rand_ms "$unloaded") * 1000))
done
echo "reloads=$n"
