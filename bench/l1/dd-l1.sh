#!/bin/sh
# bench/l1/dd-l1.sh - runs in level 1 of the rig as /payload/run-l1.sh. The cloud
# kernel at level 2 reads a 256 MiB raw image sequentially with dd (1 MiB blocks,
# page cache dropped) and writes 128 MiB with fsync, through virtio-blk: on vmm
# (io_uring) and on QEMU 7.2 -M q35 with virtio-blk-pci and the same image, in the
# same run. The image lives in level 1's tmpfs (RAM), so this measures the virtio
# path and the VMM, not a disk.
cd /payload || exit 1
QEMU=/payload/qemu/qemu
# rate KIND FILE: "kind MB/s" from the guest's L2-DD-KIND bytes=NxM start=S end=E line
rate() {
	grep "L2-DD-$1" "$2" | tr -d '\r' | sed 's/.*bytes=\([0-9]*\)x\([0-9]*\) start=\([0-9.]*\) end=\([0-9.]*\).*/\1 \2 \3 \4/' |
		awk -v k="$1" '{ s = $4 - $3; if (s <= 0) s = 0.01; printf "%s %.1f MB/s (%.2f s)", tolower(k), $1 * $2 / s / 1e6, s }'
}
dd if=/dev/zero of=/tmp/dd.img bs=1M count=256 2>/dev/null
APPEND="console=ttyS0 panic=-1 l2-dd-bench"
timeout -s KILL 300 ./vmm --kernel /l2/bzImage --initrd /l2/initrd.cpio.gz --memory 512M \
	--serial file:/tmp/v.out --disk path=/tmp/dd.img --append "$APPEND" 2>/tmp/v.err
echo "bench dd: vmm rc=$? $(rate READ /tmp/v.out) $(rate WRITE /tmp/v.out)"
if [ -x $QEMU ]; then
	timeout -s KILL 300 $QEMU -M q35 -accel kvm -cpu host -m 512M -nodefaults -no-user-config \
		-display none -no-reboot -serial file:/tmp/q.out -kernel /l2/bzImage \
		-initrd /l2/initrd.cpio.gz -append "$APPEND" \
		-drive file=/tmp/dd.img,format=raw,if=none,id=d0,aio=io_uring \
		-device virtio-blk-pci,drive=d0 2>/tmp/q.err
	echo "bench dd: qemu-7.2 q35 virtio-blk-pci rc=$? $(rate READ /tmp/q.out) $(rate WRITE /tmp/q.out)"
	[ -s /tmp/q.err ] && echo "bench dd: qemu stderr: $(head -c 300 /tmp/q.err | tr '\n' ' ')"
fi
true
