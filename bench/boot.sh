#!/bin/bash
# bench/boot.sh - boot time and peak RSS of vmm against QEMU, both measured in
# level 1 of the nested rig (tests/rig, the only place here with a real
# /dev/kvm), in the same run, on the same nested KVM.
#
# bench/l1/boot-l1.sh: firmware hello.bin launch->exit (vmm against QEMU -M pc
# -bios, 20 runs each) and Linux PVH vmlinux+initrd to /init (vmm against QEMU
# -M microvm, 5 runs each): median/min ms, peak RSS, and the ratios with the
# goals of issue 2. QEMU is Debian's, copied with its libraries by
# bench/lib/qemu-payload.sh. Run by `make bench`; about 3 minutes.
# Env: HELLO_RUNS (20), LINUX_RUNS (5), RIG_TIMEOUT (400).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/lib/rig-bench.sh
HELLO_RUNS=${HELLO_RUNS:-20} LINUX_RUNS=${LINUX_RUNS:-5}
for f in build/vmm build/guests/hello.bin; do
	[ -f "$f" ] || { echo "bench boot: $f missing; run make" >&2; exit 1; }
done

# --- level 1: vmm on nested KVM ---
p=$top/build/bench/payload
rm -rf "$p"
mkdir -p "$p"
cp build/vmm "$p/vmm"
cp build/guests/hello.bin "$p/hello.bin"
"${CC:-cc}" -O2 -static -Wall -Wextra -Werror -o "$p/maxrss" bench/lib/maxrss.c
# the peer: Debian's QEMU with its libraries, run by level 1 on the same nested KVM
bash bench/lib/qemu-payload.sh "$p/qemu" || echo "bench boot: no QEMU peer (qemu-system-x86_64 missing)"
{
	echo "HELLO_RUNS=$HELLO_RUNS LINUX_RUNS=$LINUX_RUNS"
	cat bench/l1/boot-l1.sh
} >"$p/run-l1.sh"
rig_bench boot "$p" "${RIG_TIMEOUT:-400}"
