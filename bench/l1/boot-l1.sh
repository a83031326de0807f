#!/bin/sh
# bench/l1/boot-l1.sh - runs in level 1 of the rig as /payload/run-l1.sh
# (busybox ash, cwd /payload, real nested /dev/kvm). Measures vmm boot:
#  (a) firmware hello.bin, launch -> exit, HELLO_RUNS timed runs plain and
#      HELLO_RUNS more under `busybox time -v` for peak RSS;
#  (b) Linux PVH (/l2/vmlinux + /l2/initrd.cpio.gz, 512M) to /init's reboot,
#      LINUX_RUNS runs under `busybox time -v` (wall time and RSS together;
#      the wrapper's cost is noise against a multi-second boot).
# Wall time is busybox ash's $EPOCHREALTIME (microseconds) around the run, so
# it includes fork+exec of the vmm binary. Peak RSS is the child's ru_maxrss
# from wait4(), which also covers the forked busybox child before its exec
# (small: a fork of busybox time); the reference line `vmm --memory-map`
# (vmm without creating a VM) shows the static binary's own footprint.
# Output: one "bench boot: ..." line per figure; exit non-zero on any failure.
cd /payload || exit 1
HELLO_RUNS=${HELLO_RUNS:-20}
LINUX_RUNS=${LINUX_RUNS:-5}
VMM=/payload/vmm
fail=0

# ms between two $EPOCHREALTIME values
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }'; }
# median and min (and max) of the numbers in file $1
stats() { sort -n "$1" | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "none"; exit }
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "median %s min %s max %s (n=%d)\n", m, v[1], v[NR], NR }'; }
rss() { sed -n 's/.*Maximum resident set size (kbytes): *//p' "$1"; }

echo "bench boot: level 1 $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPU, $(awk '/MemTotal/ {print $2}' /proc/meminfo) KiB"
if ! busybox time -v $VMM --memory 512M --memory-map >/dev/null 2>/tmp/floor.t; then
	echo "bench boot: FAIL busybox time -v vmm --memory-map: $(tr '\n' ' ' </tmp/floor.t)"
	exit 1
fi
echo "bench boot: reference: vmm --memory-map (no VM created) peak RSS $(rss /tmp/floor.t) KiB"

# (a) firmware hello: writes 0 to port 0x501, so vmm exits 1.
: >/tmp/h.ms; : >/tmp/h.rss
i=0
while [ $i -lt "$HELLO_RUNS" ]; do
	rm -f /tmp/s
	t0=$EPOCHREALTIME
	timeout -s KILL 20 $VMM --firmware /payload/hello.bin --serial file:/tmp/s
	rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 1 ] || ! grep -q "HELLO real-mode" /tmp/s; then
		echo "bench boot: FAIL hello run $i: vmm exited $rc, serial '$(head -c 80 /tmp/s | tr '\n' ' ')'"
		fail=1; break
	fi
	ms "$t0" "$t1" >>/tmp/h.ms
	timeout -s KILL 20 busybox time -v $VMM --firmware /payload/hello.bin --serial file:/tmp/s 2>/tmp/h.t
	rss /tmp/h.t >>/tmp/h.rss
	i=$((i + 1))
done
if [ $fail -eq 0 ]; then
	echo "bench boot: firmware hello launch->exit ms: $(stats /tmp/h.ms)"
	echo "bench boot: firmware hello peak RSS KiB: $(stats /tmp/h.rss)"
	echo "bench boot: firmware hello launch->exit median $(stats /tmp/h.ms | awk '{print $2}') ms min $(stats /tmp/h.ms | awk '{print $4}') ms, peak RSS $(stats /tmp/h.rss | awk '{print $2}') KiB"
fi

# (b) Linux PVH to /init (prints L2-INIT-OK, reboots: vmm exits 0).
: >/tmp/l.ms; : >/tmp/l.rss
i=0
while [ $i -lt "$LINUX_RUNS" ]; do
	rm -f /tmp/ls
	t0=$EPOCHREALTIME
	timeout -s KILL 60 busybox time -v $VMM --kernel /l2/vmlinux --initrd /l2/initrd.cpio.gz \
		--memory 512M --serial file:/tmp/ls \
		--append "console=ttyS0 reboot=k panic=-1" 2>/tmp/l.t
	rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 0 ] || ! grep -q "L2-INIT-OK" /tmp/ls; then
		echo "bench boot: FAIL linux run $i: vmm exited $rc: $(grep -v '^	' /tmp/l.t | tail -n 3 | tr '\n' ' ') serial: $(tail -n 3 /tmp/ls | tr '\n' ' ')"
		fail=1; break
	fi
	ms "$t0" "$t1" >>/tmp/l.ms
	rss /tmp/l.t >>/tmp/l.rss
	i=$((i + 1))
done
if [ $fail -eq 0 ]; then
	echo "bench boot: linux pvh launch->exit ms: $(stats /tmp/l.ms)"
	echo "bench boot: linux pvh peak RSS KiB: $(stats /tmp/l.rss)"
	echo "bench boot: linux pvh (512M, initrd to /init, reboot) launch->exit median $(stats /tmp/l.ms | awk '{print $2}') ms min $(stats /tmp/l.ms | awk '{print $4}') ms, peak RSS $(stats /tmp/l.rss | awk '{print $2}') KiB"
	# guest-side view: the kernel's own timestamp at reboot (last run)
	echo "bench boot: linux pvh guest clock at reboot (last run): $(sed -n 's/^\[ *\([0-9.]*\)\] reboot: Restarting.*/\1/p' /tmp/ls | tr -d '\r') s"
fi
[ $fail -eq 0 ]
