#!/bin/bash
# make rig: assemble the payload (static build/vmm, the guest images, the
# integration scripts, tests/rig/payload/run-l1.sh) and run it in the nested
# rig, where /dev/kvm is real. Exit 77 from run.sh (no QEMU) is a loud skip.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
p=$top/build/rig/payload
rm -rf "$p"
mkdir -p "$p/guests" "$p/tests/integration"
cp "$top/build/vmm" "$p/vmm"
cp "$top"/build/guests/*.bin "$p/guests/"
cp "$top"/tests/integration/*.sh "$p/tests/integration/"
cp "$top/tests/rig/payload/run-l1.sh" "$p/run-l1.sh"
# Debian's SeaBIOS (package seabios), which the firmware tests boot
cp /usr/share/seabios/bios-256k.bin "$p/"
. "$top/tests/rig/lib.sh"

set +e
rig --timeout "${RIG_TIMEOUT:-900}" "$p" "$top/build/rig/rig.log"
rc=$?
set -e
if [ $rc -eq 77 ]; then
	echo "SKIP: rig not run (qemu-system-x86_64 missing); install it with 'make deps'" >&2
	exit 0
fi

# The passthrough rig: level 0 adds an emulated IOMMU, an edu and an e1000e that level 1
# binds to vfio-pci and hands to level-2 guests (tests/rig/payload/run-l1-vfio.sh).
pv=$top/build/rig/payload-vfio
vfio_payload "$pv" run-l1.sh
set +e
rig --vfio --timeout "${RIG_TIMEOUT:-600}" "$pv" "$top/build/rig/rig-vfio.log"
rcv=$?
set -e
[ $rc -ne 0 ] && exit $rc
exit $rcv
