#!/bin/sh
# Runs in level 1 of the rig started with --vfio (QEMU's intel-iommu, an edu and an
# e1000e at level 0): binds both to vfio-pci and passes them to level-2 guests.
#  - vfio-e1000e-probe: the generic stock kernel at level 2 with the e1000e passed
#    through; its own e1000e driver probes the device (BARs mmapped and trapped,
#    config virtualized, interrupts wired), and the guest powers off (vmm exits 0);
#  - vfio-edu-dma-map: an edu passed to a firmware guest: the type1 container maps
#    guest RAM for DMA and the VM starts and ends cleanly.
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

if [ -z "$NIC" ]; then
	fail vfio-e1000e-probe "no e1000e at level 1"
else
	out=/tmp/vfio-e1000e.out
	timeout -s KILL 240 /payload/vmm --kernel /l2/stock-bzImage --initrd /l2/initrd.cpio.gz \
		--memory 512M --serial file:$out --device vfio=$NIC \
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

if [ -z "$EDU" ]; then
	fail vfio-edu-dma-map "no edu at level 1"
else
	timeout -s KILL 60 /payload/vmm --firmware /payload/guests/hello.bin --device vfio=$EDU \
		--serial file:/tmp/edu.out 2>/tmp/edu.err
	rc=$?
	if [ $rc -eq 1 ] && grep -q "HELLO real-mode" /tmp/edu.out && [ ! -s /tmp/edu.err ]; then
		pass vfio-edu-dma-map
	else
		fail vfio-edu-dma-map "vmm exited $rc: $(tail -n 3 /tmp/edu.err | tr '\n' ' ')"
	fi
fi
dmesg | grep -iE "dmar|iommu|vfio" | grep -iE "fault|error" | tail -n 5 | sed 's/^/vfio: level-1 dmesg: /'
echo "vfio: $passed passed, $failed failed"
[ $failed -eq 0 ]
