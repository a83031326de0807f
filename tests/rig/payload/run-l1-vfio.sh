#!/bin/sh
# Runs in level 1 of the rig started with --vfio (QEMU's intel-iommu, an edu and an
# e1000e at level 0): binds both to vfio-pci and passes them to level-2 guests.
#  - vfio-e1000e-probe: the generic stock kernel at level 2 with the e1000e passed
#    through; its own e1000e driver probes the device (BARs mmapped and trapped,
#    config virtualized, interrupts wired), and the guest powers off (vmm exits 0);
#  - vfio-edu-*: tests/guests/edu.S drives a passed-through edu: its ID through the
#    mmapped BAR, access widths, 8-byte accesses, DMA above 1 MiB, INTx, MSI, and PAM/SMRAM
#    rewritten thousands of times during DMA (seed 01); then the same with every BAR
#    access trapped, and trapped with x-split-qword (seed 02).
# Prints PASS/FAIL lines and "vfio: N passed, N failed".
cd /payload || exit 1
passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

modprobe vfio_pci 2>/dev/null
modprobe vfio_iommu_type1 2>/dev/null
EDU='' NIC=''
for d in /sys/bus/pci/devices/*; do
	case "$(cat $d/vendor):$(cat $d/device)" in
	0x1234:0x11e8) EDU=${d##*/} ;;
	0x8086:0x10d3) NIC=${d##*/} ;;
	esac
done
bind() {
	echo vfio-pci >/sys/bus/pci/devices/$1/driver_override
	[ -e /sys/bus/pci/devices/$1/driver ] && echo $1 >/sys/bus/pci/devices/$1/driver/unbind
	echo $1 >/sys/bus/pci/drivers_probe
}
[ -n "$NIC" ] && bind $NIC
[ -n "$EDU" ] && bind $EDU
echo "vfio: e1000e=$NIC edu=$EDU groups: $(ls /dev/vfio | tr '\n' ' ')"
# /payload/vfio-backend, when present, names the backend for every run (make check-iommufd)
BACKEND=''
[ -s /payload/vfio-backend ] && BACKEND="--vfio-backend $(cat /payload/vfio-backend)"
echo "vfio: backend ${BACKEND:-auto}"

if [ -z "$NIC" ]; then
	fail vfio-e1000e-probe "no e1000e at level 1"
else
	out=/tmp/vfio-e1000e.out
	timeout -s KILL 240 /payload/vmm --kernel /l2/stock-bzImage --initrd /l2/initrd.cpio.gz \
		--memory 512M --serial file:$out --device vfio=$NIC $BACKEND \
		--append "console=ttyS0 panic=-1 reboot=k" 2>/tmp/vfio-e1000e.err
	rc=$?
	sed "s/^/[vfio-e1000e] /" $out
	if [ $rc -ne 0 ]; then
		fail vfio-e1000e-probe "vmm exited $rc: $(tail -n 3 /tmp/vfio-e1000e.err | tr '\n' ' ')"
	elif grep -q "e1000e .*: (PCI Express" $out || grep -q "e1000e .* eth[0-9]: " $out; then
		pass vfio-e1000e-probe
	else
		fail vfio-e1000e-probe "no e1000e probe line: $(grep -i e1000e $out | tail -n 3 | tr '\n' ' ')"
	fi
fi

# edu_run NAME IMAGE OPTS: the edu guest (tests/guests/edu.S) with edu passed through;
# output in /tmp/NAME.out, the memslot/DMA trace in /tmp/NAME.trace. 0 when the guest
# says "EDU all ok" and vmm ends with its debug-exit status 1 and nothing on stderr.
edu_run() {
	timeout -s KILL 180 /payload/vmm --firmware /payload/guests/$2 --device vfio=$EDU$3 \
		$BACKEND --serial file:/tmp/$1.out --trace memslots=/tmp/$1.trace 2>/tmp/$1.err
	rc=$?
	sed "s/^/[$1] /" /tmp/$1.out
	grep -E "^(dma-|vfio )" /tmp/$1.trace | head -n 8 | sed "s/^/[$1 trace] /"
	if [ $rc -ne 1 ] || ! grep -q "EDU all ok" /tmp/$1.out || [ -s /tmp/$1.err ]; then
		why="vmm exited $rc: $(grep FAIL /tmp/$1.out | head -n 1) $(tail -n 3 /tmp/$1.err | tr '\n' ' ')"
		return 1
	fi
	return 0
}
# line NAME PREFIX: the rest of the guest's line starting with PREFIX
line() { grep "^$2 " /tmp/$1.out | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# after_start NAME: the trace lines after "start"
after_start() { sed '1,/^start$/d' /tmp/$1.trace; }
# dma_covers < TRACE: 1 when a dma-map before "start" covers RAM_A..RAM_B's end
dma_covers() {
	ok=0
	while read -r kind iova size rest; do
		[ "$kind" = start ] && break
		[ "$kind" = dma-map ] || continue
		i=$((${iova#iova=})) n=$((${size#size=}))
		[ $i -le $((0x300000)) ] && [ $((i + n)) -ge $((0x401000)) ] && ok=1
	done
	echo $ok
}
# count_high < TRACE-LINES: memslot adds/dels at or above 1 MiB, BAR0's (0xc0000000) aside
count_high() {
	n=0
	while read -r op slot gpa rest; do
		case $op in add | del) ;; *) continue ;; esac
		a=$((${gpa#gpa=}))
		[ $a -ge $((0x100000)) ] && [ $a -ne $((0xc0000000)) ] && n=$((n + 1))
	done
	echo $n
}
dmar_faults() { dmesg | grep -ciE "DMAR:.*fault|DMA (Read|Write).*fault|fault addr"; }

if [ -z "$EDU" ]; then
	fail vfio-edu "no edu at level 1"
else
	# 1. BAR0 mmapped into a memslot (the default): every check, and seed 01.
	f0=$(dmar_faults)
	if ! edu_run edu-mmap edu.bin ""; then
		fail vfio-edu-mmap "$why"
	else
		t=/tmp/edu-mmap.trace
		if grep -q "^add .*gpa=0xc0000000 size=0x100000" $t &&
			grep -q "^vfio vfio0 trapped window=0 pread=0$" $t &&
			[ "$(line edu-mmap EDU-ID)" = 010000ed ]; then
			pass vfio-edu-id-mmap
		else
			fail vfio-edu-id-mmap "BAR0 not a memslot, or accesses trapped: $(grep -E '0xc0000000|^vfio' $t | tr '\n' ' ')"
		fi
		# edu serves only dword accesses below 0x80 (bytes and words read 0 or ones) and
		# takes 8-byte ones at 0x80: what the device did, with nothing between.
		if [ "$(line edu-mmap EDU-Q80)" = 1122334455667788 ] && grep -q "^EDU-WIDTH ok" /tmp/edu-mmap.out; then
			pass vfio-edu-widths-mmap
		else
			fail vfio-edu-widths-mmap "$(grep -E 'EDU-(WIDTH|Q)' /tmp/edu-mmap.out | tr '\n' ' ')"
		fi
		# DMA above 1 MiB: RAM_A (3 MiB) and RAM_B (4 MiB) are inside one mapping made before start
		if grep -q "^EDU-DMA ok" /tmp/edu-mmap.out && [ "$(dma_covers < $t)" = 1 ]; then
			pass vfio-edu-dma
		else
			fail vfio-edu-dma "$(grep EDU-DMA /tmp/edu-mmap.out) $(grep '^dma-' $t | tr '\n' ' ')"
		fi
		# INTx: edu's pin A through the IOAPIC to the guest; the second interrupt comes
		# only if the resample irqfd unmasked the line in vfio-pci after the first EOI
		if [ "$(line edu-mmap EDU-INTX)" = "ok irqs=2" ]; then
			pass vfio-edu-intx
		else
			fail vfio-edu-intx "$(grep EDU-INTX /tmp/edu-mmap.out)"
		fi
		if [ "$(line edu-mmap EDU-MSI)" = "ok irqs=2" ]; then
			pass vfio-edu-msi
		else
			fail vfio-edu-msi "$(grep EDU-MSI /tmp/edu-mmap.out)"
		fi
		# seed 01: thousands of PAM/SMRAM writes while edu DMAs above 1 MiB, and the DMA
		# map never changes: no map or unmap after start, no memslot change at or
		# above 1 MiB but BAR0's own, no IOMMU fault at level 1.
		pd=$(line edu-mmap EDU-PAM-DMA)
		toggles=${pd##*toggles=}
		case $toggles in '' | *[!0-9]*) toggles=0 ;; esac
		dma_after=$(after_start edu-mmap | grep -c "^dma-")
		slots_after=$(after_start edu-mmap | count_high)
		pam_after=$(after_start edu-mmap | grep -cE "^(add|del) ")
		f1=$(dmar_faults)
		echo "vfio: seed-01 run: toggles=$toggles memslot-calls-after-start=$pam_after (above 1 MiB, not BAR0: $slots_after) dma-calls-after-start=$dma_after dmar-faults=$((f1 - f0))"
		if [ "${pd%% *}" = ok ] && [ "$toggles" -ge 2000 ] && [ "$dma_after" -eq 0 ] &&
			[ "$slots_after" -eq 0 ] && [ "$pam_after" -gt 100 ] && [ "$f1" -eq "$f0" ]; then
			pass vfio-edu-pam-dma
		else
			fail vfio-edu-pam-dma "guest: '$pd' toggles=$toggles dma-after-start=$dma_after slots-above-1MiB=$slots_after faults=$((f1 - f0))"
		fi
	fi

	# 2. Every BAR access trapped (x-no-mmap): the same results through vmm, one access
	#    of the guest's width each (8 bytes stay 8 bytes: an access window, not pread).
	if ! edu_run edu-trap edu_quick.bin ",x-no-mmap=on"; then
		fail vfio-edu-trapped "$why"
	else
		t=/tmp/edu-trap.trace
		w=$(sed -n 's/^vfio vfio0 trapped window=\([0-9]*\) pread=\([0-9]*\)$/\1 \2/p' $t)
		if ! grep -q "gpa=0xc0000000" $t && [ "${w%% *}" -gt 0 ] && [ "${w##* }" -eq 0 ] &&
			[ "$(line edu-trap EDU-ID)" = 010000ed ] && grep -q "^EDU-WIDTH ok" /tmp/edu-trap.out &&
			[ "$(line edu-trap EDU-Q00)" = "$(line edu-mmap EDU-Q00)" ] &&
			[ "$(line edu-trap EDU-Q80)" = 1122334455667788 ] &&
			grep -q "^EDU-DMA ok" /tmp/edu-trap.out && [ "$(line edu-trap EDU-MSI)" = "ok irqs=2" ]; then
			pass "vfio-edu-trapped (window=${w%% *} pread=${w##* })"
		else
			fail vfio-edu-trapped "trapped=($w) $(grep -E 'EDU-(ID|WIDTH|Q)' /tmp/edu-trap.out | tr '\n' ' ')"
		fi
	fi

	# 3. Trapped with x-split-qword (seed 02): an 8-byte access becomes two dwords, low
	#    then high: 0x00 reads ID | liveness << 32, and only the low half reaches 0x80.
	if ! edu_run edu-split edu_quick.bin ",x-no-mmap=on,x-split-qword=on"; then
		fail vfio-edu-split-qword "$why"
	elif [ "$(line edu-split EDU-Q00)" = edcba987010000ed ] &&
		[ "$(line edu-split EDU-Q80)" = ffffffff55667788 ]; then
		pass vfio-edu-split-qword
	else
		fail vfio-edu-split-qword "$(grep -E 'EDU-Q' /tmp/edu-split.out | tr '\n' ' ')"
	fi
fi
dmesg | grep -iE "dmar|iommu|vfio" | grep -iE "fault|error" | tail -n 5 | sed 's/^/vfio: level-1 dmesg: /'
echo "vfio: $passed passed, $failed failed"
[ $failed -eq 0 ]
