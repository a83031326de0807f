#!/bin/bash
# bench/boot.sh - boot time and peak RSS of vmm, measured in level 1 of the
# nested rig (tests/rig, the only place with a real /dev/kvm), plus QEMU on
# this host as a reference peer.
#
# Level 1 (bench/l1/boot-l1.sh): firmware hello.bin launch->exit (20 runs)
# and Linux PVH vmlinux+initrd to /init (5 runs): median/min ms, peak RSS.
# Level 0: the same hello.bin under qemu-system-x86_64 -accel tcg (no KVM on
# this host), 20 runs. NOT apples to apples: TCG, a full PC machine model, and
# level 0 rather than level 1. Run by `make bench`; about 1 minute.
# Env: HELLO_RUNS (20), LINUX_RUNS (5), QEMU_RUNS (20), RIG_TIMEOUT (170).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
HELLO_RUNS=${HELLO_RUNS:-20} LINUX_RUNS=${LINUX_RUNS:-5} QEMU_RUNS=${QEMU_RUNS:-20}
for f in build/vmm build/guests/hello.bin; do
	[ -f "$f" ] || { echo "bench boot: $f missing; run make" >&2; exit 1; }
done

stats() { sort -n "$1" | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%s %s %s %d\n", m, v[1], v[NR], NR }'; }

# --- level 0: QEMU TCG peer ---
if command -v qemu-system-x86_64 >/dev/null; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	: >"$tmp/ms"; : >"$tmp/rss"
	for ((i = 0; i < QEMU_RUNS; i++)); do
		rm -f "$tmp/q"
		t0=$EPOCHREALTIME
		set +e
		/usr/bin/time -o "$tmp/t" -f '%M' timeout -s KILL 20 qemu-system-x86_64 -M pc -accel tcg \
			-bios build/guests/hello.bin -display none -serial file:"$tmp/q" \
			-device isa-debug-exit,iobase=0x501,iosize=2
		rc=$?
		set -e
		t1=$EPOCHREALTIME
		if [ $rc -ne 1 ] || ! grep -q "HELLO real-mode" "$tmp/q"; then
			echo "bench boot: FAIL qemu run $i exited $rc" >&2; exit 1
		fi
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }' >>"$tmp/ms"
		tail -n 1 "$tmp/t" >>"$tmp/rss"
	done
	read -r qm qmin qmax n < <(stats "$tmp/ms")
	read -r rm_ rmin rmax _ < <(stats "$tmp/rss")
	echo "bench boot: [peer, level 0] qemu-system-x86_64 -M pc -accel tcg hello.bin launch->exit median $qm ms min $qmin ms (max $qmax, n=$n), peak RSS $rm_ KiB (min $rmin max $rmax)"
	echo "bench boot: [peer] NOT apples to apples: QEMU runs TCG at level 0 (this host has no usable KVM), vmm runs KVM at level 1 inside a TCG guest"
else
	echo "bench boot: SKIP qemu peer: qemu-system-x86_64 not installed"
fi

# --- level 1: vmm on nested KVM ---
p=$top/build/bench/payload
rm -rf "$p"
mkdir -p "$p"
cp build/vmm "$p/vmm"
cp build/guests/hello.bin "$p/hello.bin"
{
	echo "HELLO_RUNS=$HELLO_RUNS LINUX_RUNS=$LINUX_RUNS"
	cat bench/l1/boot-l1.sh
} >"$p/run-l1.sh"
log=$top/build/bench/boot-rig.log
set +e
bash tests/rig/run.sh --timeout "${RIG_TIMEOUT:-170}" "$p" "$log" >"$top/build/bench/boot-rig.out" 2>&1
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
