#!/bin/sh
# bench/l1/vfio-l1.sh - runs in level 1 of the VFIO rig as /payload/run-l1.sh
# (bench/vfio.sh). Prints "bench vfio:" lines.
cd /payload || exit 1
modprobe vfio_pci 2>/dev/null
modprobe vfio_iommu_type1 2>/dev/null
EDU=''
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && EDU=${d##*/}
done
[ -n "$EDU" ] || { echo "bench vfio: FAIL no edu at level 1"; exit 1; }
echo vfio-pci >/sys/bus/pci/devices/$EDU/driver_override
[ -e /sys/bus/pci/devices/$EDU/driver ] && echo $EDU >/sys/bus/pci/devices/$EDU/driver/unbind
echo $EDU >/sys/bus/pci/drivers_probe

# run IMAGE MEMORY OPTS: wall seconds of one vmm run (0 on failure); its stderr in /tmp/b.err
run() {
	t0=$EPOCHREALTIME
	VMM_DEBUG=1 timeout -s KILL 120 ./vmm --firmware guests/$1 --memory $2 \
		--device vfio=$EDU$3 --serial file:/tmp/b.out 2>/tmp/b.err
	rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 1 ] || ! grep -q "EDU-BENCH done" /tmp/b.out; then
		echo "bench vfio: FAIL $1 $2 '$3' exited $rc: $(grep -v DEBUG /tmp/b.err | tail -n 2 | tr '\n' ' ')" >&2
		echo 0
		return
	fi
	echo "$t0 $t1" | awk '{ printf "%.4f", $2 - $1 }'
}
# best2 IMAGE MEMORY OPTS: the faster of two runs
best2() {
	b=''
	for i in 1 2; do
		t=$(run "$@")
		[ -z "$b" ] && b=$t
		b=$(echo "$b $t" | awk '{ print ($2 < $1 ? $2 : $1) }')
	done
	echo $b
}

# dma_map MEMORY LABEL: vmm's own figure for the DMA listener's registration
dma_map() {
	run edu_bench1.bin $1 "" >/dev/null
	ms=$(sed -n 's/.*DMA-mapped \([0-9]*\) MiB in \([0-9]*\) ranges in \([0-9.]*\) ms.*/\1 MiB in \2 ranges in \3 ms/p' /tmp/b.err)
	echo "bench vfio: DMA map, type1, --memory $1, $2: ${ms:-no figure}"
}
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
old_thp=$(sed 's/.*\[\(.*\)\].*/\1/' $thp 2>/dev/null)
dma_map 256M "shmem THP $old_thp"
dma_map 1G "shmem THP $old_thp"
# guest RAM is madvise(MADV_HUGEPAGE)d: with shmem THP on "advise", type1 pins 2 MiB runs
if [ -w $thp ] && echo advise >$thp 2>/dev/null; then
	dma_map 1G "shmem THP advise"
	echo "$old_thp" >$thp 2>/dev/null
fi

# mmapped reads never leave the guest: a million of them; trapped ones 20000
for mode in mmap trapped; do
	opts='' img=edu_bench_1m.bin n=1000000
	[ $mode = trapped ] && opts=,x-no-mmap=on img=edu_bench.bin n=20000
	t1=$(best2 edu_bench1.bin 256M "$opts")
	tn=$(best2 $img 256M "$opts")
	echo "$t1 $tn $n $mode" | awk '{ printf "bench vfio: BAR read round trip, %s: %.2f us per read (%d reads: %.3f s, 1 read: %.3f s)\n", $4, ($2 - $1) / ($3 - 1) * 1e6, $3, $2, $1 }'
done
