#!/bin/sh
# Rig self-test: runs in level 1 (busybox sh, cwd /payload). Checks what every payload
# relies on: a usable /dev/kvm, the level-2 assets, and the busybox applets tests use.
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# An open, not only a stat: a node without a bound kvm_amd would fail here.
if [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	pass rig-kvm-open
else
	fail rig-kvm-open "/dev/kvm missing or cannot be opened"
fi

for f in vmlinux bzImage; do
	# ELF magic for vmlinux; "HdrS" at 0x202 for the bzImage.
	case $f in
	vmlinux) want="7f454c46" got=$(od -An -tx1 -N4 /l2/$f 2>/dev/null | tr -d ' ') ;;
	bzImage) want="48647253" got=$(od -An -tx1 -j 514 -N4 /l2/$f 2>/dev/null | tr -d ' ') ;;
	esac
	if [ "$got" = "$want" ]; then pass rig-l2-$f; else fail rig-l2-$f "bad magic '$got' in /l2/$f"; fi
done

if zcat /l2/initrd.cpio.gz | cpio -t 2>/dev/null | grep -qx init; then
	pass rig-l2-initrd
else
	fail rig-l2-initrd "/l2/initrd.cpio.gz has no /init"
fi

missing=
for a in sh timeout grep cmp od dd seq awk sed modprobe; do
	command -v $a >/dev/null || missing="$missing $a"
done
if [ -z "$missing" ]; then pass rig-applets; else fail rig-applets "missing:$missing"; fi

if [ "$(pwd)" = /payload ]; then pass rig-cwd; else fail rig-cwd "cwd is $(pwd)"; fi

# run.sh --vfio: an IOMMU, QEMU's edu (1234:11e8) and an e1000e (8086:10d3). Bind edu to
# vfio-pci the way a passthrough test will, and check its group node appears.
if grep -q intel_iommu=on /proc/cmdline; then
	edu='' nic=''
	for d in /sys/bus/pci/devices/*; do
		case "$(cat "$d/vendor"):$(cat "$d/device")" in
		0x1234:0x11e8) edu=${d##*/} ;;
		0x8086:0x10d3) nic=${d##*/} ;;
		esac
	done
	if [ -n "$edu" ] && [ -n "$nic" ]; then
		pass rig-vfio-devices
		echo "INFO edu $edu, e1000e $nic, $(find /sys/kernel/iommu_groups -mindepth 1 -maxdepth 1 | wc -l) IOMMU groups"
		modprobe vfio_pci && modprobe vfio_iommu_type1
		echo vfio-pci >"/sys/bus/pci/devices/$edu/driver_override"
		echo "$edu" >/sys/bus/pci/drivers_probe
		g=$(basename "$(readlink "/sys/bus/pci/devices/$edu/iommu_group")")
		if [ -c "/dev/vfio/$g" ]; then
			pass rig-vfio-bind
		else
			fail rig-vfio-bind "no /dev/vfio/$g after binding $edu to vfio-pci"
		fi
	else
		fail rig-vfio-devices "edu '$edu' or e1000e '$nic' not found"
	fi
else
	echo "SKIP rig-vfio: run.sh without --vfio"
fi

echo "rig selftest: $fails failed"
[ $fails -eq 0 ]
