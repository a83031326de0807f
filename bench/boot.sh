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
HELLO_RUNS=${HELLO_RUNS:-20} LINUX_RUNS=${LINUX_RUNS:-5}
for f in build/vmm build/guests/hello.bin; do
	[ -f "$f" ] || { echo "bench boot: $f missing; run make" >&2; exit 1; }
done

stats() { sort -n "$1" | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%s %s %s %d\n", m, v[1], v[NR], NR }'; }

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
log=$top/build/bench/boot-rig.log
set +e
bash tests/rig/run.sh --mem 3G --timeout "${RIG_TIMEOUT:-400}" "$p" "$log" >"$top/build/bench/boot-rig.out" 2>&1
rc=$?
set -e
if [ $rc -eq 77 ]; then
	echo "bench boot: SKIP level 1: rig needs qemu-system-x86_64"
	exit 0
fi
grep -E '^(bench boot:|rig: (FAIL|timings))' "$top/build/bench/boot-rig.out" | tr -d '\r' || true
if [ $rc -ne 0 ]; then
	echo "bench boot: FAIL rig exited $rc; see $log" >&2
	tail -n 20 "$top/build/bench/boot-rig.out" >&2
	exit 1
fi
