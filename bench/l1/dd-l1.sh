#!/bin/sh
# bench/l1/dd-l1.sh - runs in level 1 of the rig as /payload/run-l1.sh. The cloud
# kernel at level 2 reads a 256 MiB raw image sequentially with dd (1 MiB blocks,
# page cache dropped) and writes 128 MiB with fsync, through virtio-blk: on vmm
# (io_uring) and on QEMU 7.2 -M q35 with virtio-blk-pci and the same image, in the
# same run. The image lives in level 1's tmpfs (RAM), so this measures the virtio
# path and the VMM, not a disk.
#
# Besides the rates: the guest's queue limits and disk stat (L2-DD-QUEUE/STAT), level
# 1's KVM counters for each VM (pf_fixed: stage-2 faults, one per 4 KiB page touched
# when guest RAM has no huge pages), and vmm's virtio-blk stage accounting (its debug
# lines at teardown). The read is bound by the guest touching 256 MiB of fresh page
# cache. KVM maps guest RAM in 2 MiB stage-2 pages only where the host backs it with
# huge pages at a host address congruent to the guest address modulo 2 MiB; otherwise
# the read takes ~87k stage-2 faults (QEMU: ~730), each one slow under the emulated
# level 1. pf_fixed shows which one a run got.
cd /payload || exit 1
QEMU=/payload/qemu/qemu
THP=/sys/kernel/mm/transparent_hugepage
# rate KIND FILE: "kind MB/s" from the guest's L2-DD-KIND bytes=NxM start=S end=E line
rate() {
	grep "L2-DD-$1" "$2" | tr -d '\r' | sed 's/.*bytes=\([0-9]*\)x\([0-9]*\) start=\([0-9.]*\) end=\([0-9.]*\).*/\1 \2 \3 \4/' |
		awk -v k="$1" '{ s = $4 - $3; if (s <= 0) s = 0.01; printf "%s %.1f MB/s (%.2f s)", tolower(k), $1 * $2 / s / 1e6, s }'
}
# l2info NAME FILE: the guest's queue limits and disk stat
l2info() { grep -E "L2-DD-(QUEUE|STAT)" "$2" | tr -d '\r' | sed "s/.*L2-DD-/bench dd: $1 /"; }
# KVM's per-VM counters vanish with the VM: sample them while it runs.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
kvmstat_start() {
	rm -f /tmp/kvmstat
	(while :; do
		for d in /sys/kernel/debug/kvm/*-*; do
			[ -f "$d/pf_fixed" ] && echo "pf_fixed=$(cat $d/pf_fixed) exits=$(cat $d/exits)" \
				"mmio_exits=$(cat $d/mmio_exits) io_exits=$(cat $d/io_exits)" >/tmp/kvmstat
		done
		sleep 1
	done) &
	KVMSTAT=$!
}
kvmstat_stop() {
	kill $KVMSTAT
	wait $KVMSTAT 2>/dev/null
	echo "bench dd: $1 kvm $(cat /tmp/kvmstat 2>/dev/null || echo 'no debugfs counters')"
}
dd if=/dev/zero of=/tmp/dd.img bs=1M count=256 2>/dev/null
APPEND="console=ttyS0 panic=-1 l2-dd-bench"
echo "bench dd: level 1 THP enabled=$(sed 's/.*\[\(.*\)\].*/\1/' $THP/enabled)" \
	"shmem_enabled=$(sed 's/.*\[\(.*\)\].*/\1/' $THP/shmem_enabled)"
# run_vmm NAME: one vmm run; VMM_DEBUG (vmm has no -v) for virtio-blk's accounting
run_vmm() {
	kvmstat_start
	VMM_DEBUG=1 timeout -s KILL 300 ./vmm --kernel /l2/bzImage --initrd /l2/initrd.cpio.gz \
		--memory 512M --serial file:/tmp/v.out --disk path=/tmp/dd.img --append "$APPEND" \
		2>/tmp/v.err
	rc=$?
	kvmstat_stop "$1"
	echo "bench dd: $1 rc=$rc $(rate READ /tmp/v.out) $(rate WRITE /tmp/v.out)"
	l2info "$1" /tmp/v.out
	grep "debug: virtio-blk" /tmp/v.err | sed "s/^vmm: debug: virtio-blk [^:]*:/bench dd: $1/"
}
run_vmm vmm
if [ -x $QEMU ]; then
	kvmstat_start
	timeout -s KILL 300 $QEMU -M q35 -accel kvm -cpu host -m 512M -nodefaults -no-user-config \
		-display none -no-reboot -serial file:/tmp/q.out -kernel /l2/bzImage \
		-initrd /l2/initrd.cpio.gz -append "$APPEND" \
		-drive file=/tmp/dd.img,format=raw,if=none,id=d0,aio=io_uring \
		-device virtio-blk-pci,drive=d0 2>/tmp/q.err
	rc=$?
	kvmstat_stop qemu
	echo "bench dd: qemu-7.2 q35 virtio-blk-pci rc=$rc $(rate READ /tmp/q.out) $(rate WRITE /tmp/q.out)"
	l2info qemu /tmp/q.out
	[ -s /tmp/q.err ] && echo "bench dd: qemu stderr: $(head -c 300 /tmp/q.err | tr '\n' ' ')"
fi
true
