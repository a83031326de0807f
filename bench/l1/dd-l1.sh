#!/bin/sh
# bench/l1/dd-l1.sh - runs in level 1 of the rig as /payload/run-l1.sh. The cloud
# kernel at level 2 reads a 256 MiB raw image sequentially with dd (1 MiB blocks,
# page cache dropped) and writes 128 MiB with fsync, through virtio-blk: on vmm
# (io_uring) and on QEMU 7.2 -M q35 with virtio-blk-pci and the same image, in the
# same run. The image lives in level 1's tmpfs (RAM), so this measures the virtio
# path and the VMM, not a disk.
cd /payload || exit 1
QEMU=/payload/qemu/qemu
dd if=/dev/zero of=/tmp/dd.img bs=1M count=256 2>/dev/null
APPEND="console=ttyS0 panic=-1 l2-dd-bench"
timeout -s KILL 300 ./vmm --kernel /l2/bzImage --initrd /l2/initrd.cpio.gz --memory 512M \
	--serial file:/tmp/v.out --disk path=/tmp/dd.img --append "$APPEND" 2>/tmp/v.err
echo "bench dd: vmm rc=$? read: $(grep L2-DD-READ /tmp/v.out | sed 's/.*L2-DD-READ //' | tr -d '\r')"
echo "bench dd: vmm write: $(grep L2-DD-WRITE /tmp/v.out | sed 's/.*L2-DD-WRITE //' | tr -d '\r')"
if [ -x $QEMU ]; then
	timeout -s KILL 300 $QEMU -M q35 -accel kvm -cpu host -m 512M -nodefaults -no-user-config \
		-display none -no-reboot -serial file:/tmp/q.out -kernel /l2/bzImage \
		-initrd /l2/initrd.cpio.gz -append "$APPEND" \
		-drive file=/tmp/dd.img,format=raw,if=none,id=d0,cache=none,aio=io_uring \
		-device virtio-blk-pci,drive=d0 2>/tmp/q.err
	echo "bench dd: qemu rc=$? read: $(grep L2-DD-READ /tmp/q.out | sed 's/.*L2-DD-READ //' | tr -d '\r')"
	echo "bench dd: qemu write: $(grep L2-DD-WRITE /tmp/q.out | sed 's/.*L2-DD-WRITE //' | tr -d '\r')"
	[ -s /tmp/q.err ] && echo "bench dd: qemu stderr: $(head -c 300 /tmp/q.err | tr '\n' ' ')"
fi
