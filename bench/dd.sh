#!/bin/bash
# bench/dd.sh - guest-side dd throughput on virtio-blk, vmm against QEMU 7.2 with
# the same image, both in level 1 of the nested rig in the same run
# (bench/l1/dd-l1.sh; it also prints level 1's stage-2 fault counts and vmm's
# virtio-blk stage accounting). Run by `make bench`; about 4 minutes.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f build/vmm ] || { echo "bench dd: build/vmm missing; run make" >&2; exit 1; }
p=$top/build/bench/dd-payload
rm -rf "$p"
mkdir -p "$p"
cp build/vmm "$p/"
bash bench/lib/qemu-payload.sh "$p/qemu" || echo "bench dd: no QEMU peer (qemu-system-x86_64 missing)"
cp bench/l1/dd-l1.sh "$p/run-l1.sh"
. bench/lib/rig-bench.sh
rig_bench dd "$p" "${RIG_TIMEOUT:-600}"
