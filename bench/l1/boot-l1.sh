#!/bin/sh
# bench/l1/boot-l1.sh - runs in level 1 of the rig as /payload/run-l1.sh
# (busybox ash, cwd /payload, real nested /dev/kvm). vmm and its QEMU peer
# (bench/lib/qemu-payload.sh, in /payload/qemu) in the same run, the same way:
#  (a) firmware hello.bin launch -> exit: vmm --firmware against
#      QEMU -M pc -accel kvm -bios, HELLO_RUNS timed runs each, and as many
#      under /payload/maxrss for peak RSS;
#  (b) Linux PVH vmlinux + initrd (512M) to /init's marker and power-off
#      (l2-boot-bench on the command line: the rig's level-2 init prints its
#      marker and powers off, skipping its device checks and sleeps): vmm
#      against QEMU -M microvm -accel kvm with the same kernel and initramfs,
#      LINUX_RUNS runs each under /payload/maxrss (wall time and RSS).
# Wall time is $EPOCHREALTIME around the run (fork+exec included); RSS is
# the child's ru_maxrss from wait4 (bench/lib/maxrss.c; busybox `time -v`
# reports it 4x too large). Output: "bench boot: ..." lines, then the ratios.
cd /payload || exit 1
HELLO_RUNS=${HELLO_RUNS:-20}
LINUX_RUNS=${LINUX_RUNS:-5}
VMM=/payload/vmm
QEMU=/payload/qemu/qemu
fail=0

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }'; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "nan"; exit }
	print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n "$1" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }

# measure TAG RUNS WANT_RC MARKER SEPARATE_RSS CMD...: serial goes to /tmp/s.
# Leaves TAG.ms and TAG.rss in /tmp. SEPARATE_RSS=1 times plain runs and
# takes RSS from extra runs under maxrss (short runs), 0 does both at once.
measure() {
	tag=$1 runs=$2 want=$3 marker=$4 sep=$5
	shift 5
	: >/tmp/$tag.ms; : >/tmp/$tag.rss
	i=0
	while [ $i -lt "$runs" ]; do
		rm -f /tmp/s
		t0=$EPOCHREALTIME
		if [ "$sep" = 1 ]; then
			timeout -s KILL 90 "$@" </dev/null >/dev/null 2>/tmp/$tag.err
		else
			timeout -s KILL 90 /payload/maxrss /tmp/$tag.t "$@" </dev/null >/dev/null 2>/tmp/$tag.err
		fi
		rc=$?
		t1=$EPOCHREALTIME
		if [ $rc -ne "$want" ] || ! grep -q "$marker" /tmp/s 2>/dev/null; then
			echo "bench boot: FAIL $tag run $i: exited $rc (want $want): $(tail -n 3 /tmp/$tag.err /tmp/$tag.t 2>/dev/null | tr '\n' ' ') serial: $(tail -n 3 /tmp/s 2>/dev/null | tr '\n' ' ')"
			fail=1
			return 1
		fi
		ms "$t0" "$t1" >>/tmp/$tag.ms
		if [ "$sep" = 1 ]; then
			timeout -s KILL 90 /payload/maxrss /tmp/$tag.t "$@" </dev/null >/dev/null 2>/dev/null
		fi
		cat /tmp/$tag.t >>/tmp/$tag.rss
		i=$((i + 1))
	done
	echo "bench boot: $tag launch->exit median $(median /tmp/$tag.ms) ms min $(minimum /tmp/$tag.ms) ms, peak RSS median $(median /tmp/$tag.rss) KiB (n=$runs)"
}

echo "bench boot: level 1 $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPU, $(awk '/MemTotal/ {print $2}' /proc/meminfo) KiB"
have_qemu=0
if [ -x $QEMU ] && $QEMU --version >/dev/null 2>&1; then
	have_qemu=1
	echo "bench boot: peer $($QEMU --version | head -n 1)"
else
	echo "bench boot: SKIP peer: no QEMU in the payload"
fi

measure vmm-hello "$HELLO_RUNS" 1 "HELLO real-mode" 1 \
	$VMM --firmware /payload/hello.bin --serial file:/tmp/s
[ $have_qemu = 1 ] && measure qemu-pc-hello "$HELLO_RUNS" 1 "HELLO real-mode" 1 \
	$QEMU -M pc -accel kvm -cpu host -nodefaults -no-user-config -display none \
	-bios /payload/hello.bin -serial file:/tmp/s -device isa-debug-exit,iobase=0x501,iosize=2

measure vmm-linux "$LINUX_RUNS" 0 "L2-INIT-OK" 0 \
	$VMM --kernel /l2/vmlinux --initrd /l2/initrd.cpio.gz --memory 512M --serial file:/tmp/s \
	--append "console=ttyS0 reboot=k panic=-1 l2-boot-bench"
[ $have_qemu = 1 ] && measure qemu-microvm-linux "$LINUX_RUNS" 0 "L2-INIT-OK" 0 \
	$QEMU -M microvm -accel kvm -cpu host -m 512M -nodefaults -no-user-config -display none \
	-no-reboot -serial file:/tmp/s -kernel /l2/vmlinux -initrd /l2/initrd.cpio.gz \
	-append "console=ttyS0 reboot=t panic=-1 l2-boot-bench"

if [ $fail = 0 ] && [ $have_qemu = 1 ]; then
	echo "bench boot: ratio hello wall vmm/qemu $(ratio "$(median /tmp/vmm-hello.ms)" "$(median /tmp/qemu-pc-hello.ms)") (goal <= 0.25), peak RSS vmm/qemu $(ratio "$(median /tmp/vmm-hello.rss)" "$(median /tmp/qemu-pc-hello.rss)") (goal <= 0.15)"
	echo "bench boot: ratio linux wall vmm/qemu-microvm $(ratio "$(median /tmp/vmm-linux.ms)" "$(median /tmp/qemu-microvm-linux.ms)") (goal <= 0.5), peak RSS $(ratio "$(median /tmp/vmm-linux.rss)" "$(median /tmp/qemu-microvm-linux.rss)")"
fi
[ $fail -eq 0 ]
