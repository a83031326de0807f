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
# rig RUN.SH-ARGS...: one rig run; when level 1 itself broke (exit 75: a kernel panic or
# hang of the TCG-emulated level 1, seen about once in ten runs), it runs once more and
# says so. A payload failure is never retried.
# Call it with errexit off (set +e).
rig() {
	local rc
	bash "$top/tests/rig/run.sh" "$@"
	rc=$?
	if [ $rc -eq 75 ]; then
		echo "rig: level 1 broke (see the log above); running the payload once more" >&2
		bash "$top/tests/rig/run.sh" "$@"
		rc=$?
	fi
	return $rc
}

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
rm -rf "$pv"
mkdir -p "$pv/guests"
cp "$top/build/vmm" "$pv/vmm"
cp "$top/build/guests/edu.bin" "$top/build/guests/edu_quick.bin" "$pv/guests/"
cp "$top/tests/rig/payload/run-l1-vfio.sh" "$pv/run-l1.sh"
set +e
rig --vfio --timeout "${RIG_TIMEOUT:-600}" "$pv" "$top/build/rig/rig-vfio.log"
rcv=$?
set -e
[ $rc -ne 0 ] && exit $rc
exit $rcv
