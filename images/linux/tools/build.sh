#!/bin/sh
# Builds the guest's small tools into the guest tree (static, so they need no libraries):
#
#   sh tools/build.sh WORK ABI
#
# kvm-churn: creates and runs tiny VMs in /dev/kvm (the kvm-reload-vm-churn case).
set -eu
work=$1
command -v gcc >/dev/null || { echo "tools/build.sh: building the guest tools needs gcc: apt-get install gcc" >&2; exit 1; }
gcc -static -O2 -Wall -o "$work/root/usr/bin/kvm-churn" "$work/recipe/tools/kvm-churn.c"
