#!/bin/sh
# bench/l1/firmware-l1.sh - runs in level 1 of the rig as /payload/run-l1.sh.
# SeaBIOS (Debian's bios-256k.bin) from launch to its boot step ("No bootable
# device" on the debug console), on vmm and on QEMU 7.2 -M q35 with the same
# image, RUNS times each; and the memslot calls over the whole firmware run:
# vmm's --trace memslots, QEMU's own kvm_set_user_memory trace event (one line
# per KVM_SET_USER_MEMORY_REGION; size=0 is a delete).
cd /payload || exit 1
RUNS=${RUNS:-5}
QEMU=/payload/qemu/qemu
fail=0
median() { sort -n "$1" | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "nan"; exit }
	print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_to_boot TAG CMD...: launch CMD in the background, wait for the boot step in
# /tmp/dbg (at most 60 s), kill it; the ms go to /tmp/TAG.ms.
run_to_boot() {
	tag=$1
	shift
	rm -f /tmp/dbg
	t0=$EPOCHREALTIME
	"$@" </dev/null >/dev/null 2>/tmp/$tag.err &
	pid=$!
	i=0
	while [ $i -lt 6000 ] && ! grep -q "No bootable device" /tmp/dbg 2>/dev/null; do
		sleep 0.01
		i=$((i + 1))
	done
	t1=$EPOCHREALTIME
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	if ! grep -q "No bootable device" /tmp/dbg 2>/dev/null; then
		echo "bench firmware: FAIL $tag did not reach the boot step: $(tail -n 3 /tmp/$tag.err /tmp/dbg 2>/dev/null | tr '\n' ' ')"
		fail=1
		return 1
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' >>/tmp/$tag.ms
}

: >/tmp/vmm.ms; : >/tmp/qemu.ms
i=0
while [ $i -lt "$RUNS" ]; do
	run_to_boot vmm ./vmm --firmware bios-256k.bin --memory 512M --serial null \
		--debugcon /tmp/dbg --trace memslots=/tmp/vmm.trace || break
	if [ -x $QEMU ]; then
		run_to_boot qemu $QEMU -M q35 -accel kvm -cpu host -m 512M -nodefaults -no-user-config \
			-display none -bios /payload/bios-256k.bin -chardev file,id=dbg,path=/tmp/dbg \
			-device isa-debugcon,iobase=0x402,chardev=dbg \
			-trace kvm_set_user_memory -D /tmp/qemu.trace || break
	fi
	i=$((i + 1))
done
[ $fail = 0 ] || exit 1
v_all=$(grep -cE '^(add|del)' /tmp/vmm.trace)
v_after=$(sed -n '/^start$/,$p' /tmp/vmm.trace | grep -cE '^(add|del)')
v_high=$(sed -n '/^start$/,$p' /tmp/vmm.trace | grep -E '^(add|del)' |
	awk '{ sub("gpa=0x", "", $3); if (length($3) > 5) n++ } END { print n + 0 }')
echo "bench firmware: vmm start->SeaBIOS boot step median $(median /tmp/vmm.ms) ms (n=$RUNS); memslot calls: $v_all in all, $v_after after start, $v_high of them at or above 1 MiB"
if [ -x $QEMU ]; then
	q_all=$(grep -c 'kvm_set_user_memory' /tmp/qemu.trace)
	q_del_high=$(grep 'kvm_set_user_memory' /tmp/qemu.trace |
		awk '{ for (i = 1; i <= NF; i++) { if ($i ~ /^gpa=/) g = substr($i, 7); if ($i ~ /^size=/) s = substr($i, 6) }
			if (s == "0x0") s = "0"
			if (s == "0" && length(g) > 5) n++ } END { print n + 0 }')
	q_ram1m_del=$(grep 'kvm_set_user_memory' /tmp/qemu.trace | grep -c 'gpa=0x100000 size=0x0 ')
	echo "bench firmware: qemu-7.2 -M q35 start->SeaBIOS boot step median $(median /tmp/qemu.ms) ms (n=$RUNS); memslot calls: $q_all in all, $q_del_high deletes at or above 1 MiB ($q_ram1m_del of the RAM slot at 1 MiB)"
	echo "bench firmware: ratio boot-step time vmm/qemu $(awk -v a="$(median /tmp/vmm.ms)" -v b="$(median /tmp/qemu.ms)" 'BEGIN { printf "%.3f", a / b }')"
	grep 'kvm_set_user_memory' /tmp/qemu.trace | grep 'gpa=0x100000 ' | sed 's/^/bench firmware: qemu trace: /' | head -n 8
fi
