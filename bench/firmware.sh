#!/bin/bash
# bench/firmware.sh - SeaBIOS on vmm against QEMU 7.2 -M q35 with the same
# firmware image (Debian's bios-256k.bin), both on the nested KVM of the rig's
# level 1, in the same run: time from launch to SeaBIOS's boot step, and the
# memslot calls over the whole firmware run (vmm: --trace memslots; QEMU: its
# kvm_set_user_memory trace event, one line per KVM_SET_USER_MEMORY_REGION).
# QEMU re-slices the RAM slot at 1 MiB while SeaBIOS programs PAM; vmm must
# show no call at or above 1 MiB after `start`. Run by `make bench`; ~2 min.
# Env: RUNS (5), RIG_TIMEOUT (400).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f build/vmm ] || { echo "bench firmware: build/vmm missing; run make" >&2; exit 1; }
[ -f /usr/share/seabios/bios-256k.bin ] || { echo "bench firmware: SKIP: no /usr/share/seabios/bios-256k.bin (apt-get install seabios)"; exit 0; }
p=$top/build/bench/firmware-payload
rm -rf "$p"
mkdir -p "$p"
cp build/vmm /usr/share/seabios/bios-256k.bin "$p/"
bash bench/lib/qemu-payload.sh "$p/qemu" || echo "bench firmware: no QEMU peer (qemu-system-x86_64 missing)"
{ echo "RUNS=${RUNS:-5}"; cat bench/l1/firmware-l1.sh; } >"$p/run-l1.sh"
. bench/lib/rig-bench.sh
rig_bench firmware "$p" "${RIG_TIMEOUT:-400}"
