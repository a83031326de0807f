#!/bin/bash
# make check-iommufd: the passthrough rig on the iommufd backend.
#
# No Debian kernel has iommufd with the VFIO cdev, so level 1 boots the Linux 6.12 that
# tests/rig/iommufd-kernel.sh builds once (about 9 minutes on 2 cores, then cached) and
# run.sh --l1-kernel puts in place of Debian's. The payload is the VFIO part of
# tests/rig/check.sh (build/vmm, the guest images, tests/rig/payload/run-l1-vfio.sh) plus
# /payload/vfio-backend holding "iommufd", which makes every vmm run there pass
# --vfio-backend iommufd; a wrapper around it lists /dev/iommu and /dev/vfio/devices from
# level 1, so the log shows the path. Log: build/rig/rig-iommufd.log.
#
# Exit status: run.sh's (0 all passed; 1 a failure, with one line saying which); also 1
# when the kernel cannot be built (linux-source-6.12 or build tools missing: make deps) or
# the log does not show the iommufd backend in use. Exit 77 from run.sh (no QEMU) is a
# loud skip, as in check.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
p=$top/build/rig/payload-iommufd
log=$top/build/rig/rig-iommufd.log

for f in "$top/build/vmm" "$top/build/guests/edu.bin"; do
	[[ -f $f ]] || { echo "check-iommufd: $f missing: run 'make check-iommufd'" >&2; exit 1; }
done

echo "check-iommufd: the level-1 kernel (tests/rig/iommufd-kernel.sh; a first build takes minutes)"
if ! kernel=$(bash "$top/tests/rig/iommufd-kernel.sh"); then
	echo "check-iommufd: FAIL: no iommufd kernel (see above)" >&2
	exit 1
fi
echo "check-iommufd: level 1 boots $kernel"

. "$top/tests/rig/lib.sh"
vfio_payload "$p" run-l1-vfio.sh
echo iommufd >"$p/vfio-backend"
cat >"$p/run-l1.sh" <<'EOF'
#!/bin/sh
# Written by tests/rig/check-iommufd.sh: the VFIO payload on the iommufd backend, with
# level 1's iommufd device and VFIO cdevs listed before and after (the payload binds the
# devices to vfio-pci, and they stay bound).
echo "iommufd: level 1 runs $(uname -r); ls /dev/iommu /dev/vfio/devices:"
ls /dev/iommu /dev/vfio/devices 2>&1 | sed 's/^/iommufd:   /'
sh ./run-l1-vfio.sh
rc=$?
echo "iommufd: after the payload, ls /dev/iommu /dev/vfio/devices:"
ls /dev/iommu /dev/vfio/devices 2>&1 | sed 's/^/iommufd:   /'
for d in /sys/bus/pci/devices/*/vfio-dev/vfio*; do
	[ -e "$d" ] && echo "iommufd:   $(echo "$d" | cut -d/ -f6) vfio-dev/$(basename "$d") dev $(cat "$d/dev" 2>/dev/null || echo none)"
done
exit $rc
EOF

set +e
rig --vfio --l1-kernel "$kernel" --timeout "${RIG_TIMEOUT:-600}" "$p" "$log"
rc=$?
set -e
if [ $rc -eq 77 ]; then
	echo "SKIP: check-iommufd not run (qemu-system-x86_64 missing); install it with 'make deps'" >&2
	exit 0
fi
# The run proves the path only if the payload used iommufd on a kernel that has it.
if ! grep -q "^vfio: backend --vfio-backend iommufd" "$log"; then
	echo "check-iommufd: FAIL: the payload did not take the iommufd backend (no 'vfio: backend --vfio-backend iommufd' in $log)" >&2
	exit 1
fi
if ! grep -q "^iommufd:   /dev/iommu$" "$log"; then
	echo "check-iommufd: FAIL: level 1 has no /dev/iommu (see $log)" >&2
	exit 1
fi
echo "check-iommufd: $(grep -E '^vfio: [0-9]+ passed' "$log" | tail -n 1 || echo 'no result line') (log $log)"
exit $rc
