#!/bin/sh
# tests/integration/run.sh - vmm's integration tests: the firmware-style guests of
# tests/guests/ run under vmm, and vmm's CLI.
#
# usage: tests/integration/run.sh [--peer qemu] [--list] [TEST...]
#   --peer qemu  run the same guest images under QEMU TCG (-M pc) with the same checks,
#                to validate the images, or to compare; tests of vmm itself are skipped.
#                The environment variable PEER=qemu does the same.
#   --list       print the test names and exit
#   TEST...      run only these tests
# Environment: VMM (default build/vmm), GUESTS (default build/guests), TIMEOUT (seconds
# for one guest run, default 60), KEEP=1 keeps the scratch directory of outputs.
#
# Output: one line per test, `PASS NAME`, `FAIL NAME: reason` (then the end of its
# output) or `SKIP NAME: reason`, and last, alone on its line,
# `N passed, N failed, N skipped`. Exit status 1 if a test failed, 2 on bad usage, else 0.
# It is POSIX sh: the nested rig runs it under busybox ash.
#
# Without a usable /dev/kvm every test that runs a guest is SKIPPED, loudly; the CLI and
# --memory-map tests still run. A test of a vmm feature that is missing FAILS.
#
# How to add a test
# 1. A new guest: write tests/guests/NAME.S (lib.S has the helpers: COM1 output, debug-exit,
#    protected and long mode) and add a $(call guest,...) line to tests/guests/guests.mk.
#    Check it under QEMU first: tests/integration/run.sh --peer qemu NAME.
# 2. Here, a function t_NAME: one chain of lib.sh helpers that ends in `pass`, e.g.
#        t_hello() {
#        	run_guest hello 1 "$TIMEOUT" -- --firmware "$GUESTS/hello.bin" &&
#        		expect_line "HELLO real-mode" && pass
#        }
#    It starts with run_guest NAME STATUS TIMEOUT -- VMM_ARGS (runs a guest: skipped
#    without /dev/kvm; translated for QEMU with --peer) or run_cli NAME STATUS -- VMM_ARGS
#    (vmm alone, no guest, no KVM) or vmm_only/needs_kvm NAME; then expect_* checks.
#    A guest ending with debug-exit value v gives status (v << 1) | 1.
# 3. Add NAME to TESTS below.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/integration/lib.sh"

VMM=${VMM:-$ROOT/build/vmm}
GUESTS=${GUESTS:-$ROOT/build/guests}
TIMEOUT=${TIMEOUT:-60}
PEER=${PEER:-}

TESTS="
cli_unknown_flag cli_bad_memory cli_cpus_zero cli_serial_bogus cli_no_payload cli_help
cli_missing_kernel cli_missing_firmware fw_bad_size fw_too_large
cli_numa_bad cli_disk_no_path cli_disk_bad_field cli_net_bad_mac cli_net_no_backend cli_console_bogus
disk_missing
memmap_256m memmap_1100g memmap_physbits_refused dump_dtb dump_dtb_bad_path
hello hello_cpus4 hello_serial_file hello_debugcon modes romwrite
smp1 smp2 smp4 exit3 exit127 reset reset_cf9 triple trace_memslots pam holes bigmem smm fwcfg
"

# --- CLI: no guest runs, so no /dev/kvm is needed ----------------------------------------

t_cli_unknown_flag() {
	run_cli cli_unknown_flag 2 -- --no-such-flag && expect_stderr_lines 1 && pass
}

t_cli_bad_memory() {
	run_cli cli_bad_memory 2 -- --memory 12Q --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && pass
}

t_cli_cpus_zero() {
	run_cli cli_cpus_zero 2 -- --cpus 0 --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && pass
}

t_cli_serial_bogus() {
	run_cli cli_serial_bogus 2 -- --serial bogus --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && pass
}

t_cli_no_payload() {
	run_cli cli_no_payload 2 -- && expect_stderr_lines 1 && pass
}

t_cli_help() {
	run_cli cli_help 0 -- --help && expect_grep '^usage: ' "$T_OUT" stdout && pass
}

# A missing file is not a usage error: status 1 and a one-line reason. vmm opens /dev/kvm
# before it reads files, so only with KVM must the reason name the file.
t_cli_missing_kernel() {
	run_cli cli_missing_kernel 1 -- --kernel "$WORK/no-such-bzImage" &&
		expect_stderr_lines 1 &&
		{ ! kvm_usable || expect_grep 'no-such-bzImage' "$T_ERR" stderr; } && pass
}

t_cli_missing_firmware() {
	run_cli cli_missing_firmware 1 -- --firmware "$WORK/no-such-firmware" &&
		expect_stderr_lines 1 &&
		{ ! kvm_usable || expect_grep 'no-such-firmware' "$T_ERR" stderr; } && pass
}

# Firmware must be a multiple of 64 KiB; the check comes after vmm opens /dev/kvm.
t_fw_bad_size() {
	vmm_only fw_bad_size && needs_kvm fw_bad_size || return 1
	head -c 1000 "$GUESTS/hello.bin" >"$WORK/fw_1000.bin" 2>/dev/null
	run_cli fw_bad_size 1 -- --firmware "$WORK/fw_1000.bin" &&
		expect_stderr_lines 1 && expect_grep 'fw_1000' "$T_ERR" stderr && pass
}

# --memory-map: the layout as Linux prints its E820 map, without /dev/kvm.
t_memmap_256m() {
	run_cli memmap_256m 0 -- --memory 256M --memory-map &&
		e820_has usable 0000000000000000 000000000009fbff &&
		e820_has usable 0000000000100000 000000000fffffff &&
		expect_grep '^memslot' "$T_OUT" stdout && pass
}

# 1100 GiB reaches past the AMD HyperTransport hole (0xfd00000000 up to 1 TiB): on an AMD
# host it is reserved and RAM resumes at 1 TiB.
# A layout that does not fit the guest's phys-bits is refused before any guest runs (I3).
t_memmap_physbits_refused() {
	run_cli memmap_physbits_refused 1 -- --memory 1100G --phys-bits 40 --memory-map &&
		expect_stderr_lines 1 &&
		expect_grep 'needs 4[0-9] phys-bits, guest has 40' "$T_ERR" stderr && pass
}

t_memmap_1100g() {
	# On AMD the RAM above 4 GiB would cross the HyperTransport range, so it all
	# moves to 1 TiB (as QEMU >= 7.1 does); elsewhere it starts at 4 GiB.
	run_cli memmap_1100g 0 -- --memory 1100G --phys-bits 48 --memory-map || return 1
	if host_is_amd; then
		e820_covers reserved 000000fd00000000 000000ffffffffff &&
			e820_starts usable 0000010000000000 &&
			{ ! grep -qF "e820: [mem 0x0000000100000000-" "$T_OUT" ||
				fail "RAM left at 4 GiB"; } && pass
	else
		e820_starts usable 0000000100000000 && pass
	fi
}

t_cli_numa_bad() {
	run_cli cli_numa_bad 2 -- --numa 0 --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && expect_grep 'numa' "$T_ERR" stderr && pass
}

# Device options: each bad value is a usage error with one line.
t_cli_disk_no_path() {
	run_cli cli_disk_no_path 2 -- --disk readonly=on --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && expect_grep 'path=' "$T_ERR" stderr && pass
}
t_cli_disk_bad_field() {
	run_cli cli_disk_bad_field 2 -- --disk path=x.img,cache=none --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && expect_grep 'cache=none' "$T_ERR" stderr && pass
}
t_cli_net_bad_mac() {
	run_cli cli_net_bad_mac 2 -- --net tap=t0,mac=01:02:03:04:05:06 --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && expect_grep 'mac' "$T_ERR" stderr && pass
}
t_cli_net_no_backend() {
	run_cli cli_net_no_backend 2 -- --net mac=52:54:00:12:34:56 --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && expect_grep 'tap=NAME or fd=N' "$T_ERR" stderr && pass
}
t_cli_console_bogus() {
	run_cli cli_console_bogus 2 -- --console fifo:onlyone --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && expect_grep 'console' "$T_ERR" stderr && pass
}

# A disk image that does not exist: status 1 and one line naming it (after /dev/kvm opens).
t_disk_missing() {
	vmm_only disk_missing && needs_kvm disk_missing || return 1
	run_cli disk_missing 1 -- --disk "path=$WORK/no-such.img" --firmware "$GUESTS/hello.bin" &&
		expect_stderr_lines 1 && expect_grep 'no-such.img' "$T_ERR" stderr && pass
}

# More than the 16 MiB flash window below 4 GiB: refused with one line naming the file.
t_fw_too_large() {
	vmm_only fw_too_large && needs_kvm fw_too_large || return 1
	head -c $((17 * 1024 * 1024)) /dev/zero >"$WORK/fw_17m.bin" 2>/dev/null
	run_cli fw_too_large 1 -- --firmware "$WORK/fw_17m.bin" &&
		expect_stderr_lines 1 && expect_grep 'fw_17m.*larger' "$T_ERR" stderr && pass
}

# --dump-dtb: the machine description as an FDT, read back with the dtc tools.
t_dump_dtb() {
	vmm_only dump_dtb || return 1
	if ! command -v fdtget >/dev/null || ! command -v dtc >/dev/null; then
		skip "fdtget/dtc not installed (apt-get install device-tree-compiler)"
		return 1
	fi
	_d=$WORK/machine.dtb
	run_cli dump_dtb 0 -- --memory 1100G --phys-bits 48 --amd-hole on --cpus 3 \
		--kernel "$GUESTS/hello.bin" --append "console=ttyS0 dtb-marker" --rng \
		--disk "path=$WORK/none.img" --dump-dtb "$_d" ||
		return 1
	[ "$(fdtget -l "$_d" /pci@b0000000 | tr '\n' ' ')" = "host-bridge@0 virtio-rng@1 virtio-blk@2 " ] ||
		{ fail "PCI devices: '$(fdtget -l "$_d" /pci@b0000000 | tr '\n' ' ')'"; return 1; }
	dtc -I dtb -O dts -o "$WORK/machine.dts" "$_d" 2>"$WORK/dtc.err" ||
		{ fail "dtc cannot read it: $(cat "$WORK/dtc.err")"; return 1; }
	[ "$(fdtget "$_d" /chosen bootargs)" = "console=ttyS0 dtb-marker" ] ||
		{ fail "bootargs: '$(fdtget "$_d" /chosen bootargs)'"; return 1; }
	[ "$(fdtget -l "$_d" /cpus | grep -c '^cpu@')" = 3 ] || { fail "want 3 cpu nodes"; return 1; }
	[ "$(fdtget -t x "$_d" /reserved-memory/amd-ht-hole@fd00000000 reg)" = "fd 0 3 0" ] ||
		{ fail "amd-ht-hole reg: '$(fdtget -t x "$_d" /reserved-memory/amd-ht-hole@fd00000000 reg)'"; return 1; }
	[ "$(fdtget -t x "$_d" /memory@10000000000 reg)" = "100 0 112 80000000" ] ||
		{ fail "RAM above 1 TiB: '$(fdtget -t x "$_d" /memory@10000000000 reg)'"; return 1; }
	# every device is on bus 0: ECAM is described for that bus alone, as in MCFG
	[ "$(fdtget "$_d" /pci@b0000000 bus-range)" = "0 0" ] &&
		[ "$(fdtget -t x "$_d" /pci@b0000000 reg)" = "0 b0000000 0 100000" ] ||
		{ fail "ECAM: bus-range '$(fdtget "$_d" /pci@b0000000 bus-range)'"; return 1; }
	pass
}

t_dump_dtb_bad_path() {
	run_cli dump_dtb_bad_path 1 -- --dump-dtb "$WORK/no-such-dir/m.dtb" &&
		expect_stderr_lines 1 && expect_grep 'no-such-dir' "$T_ERR" stderr && pass
}

# --- guests ------------------------------------------------------------------------------

t_hello() {
	run_guest hello 1 "$TIMEOUT" -- --firmware "$GUESTS/hello.bin" &&
		expect_line "HELLO real-mode" && pass
}

# The APs stay in wait-for-SIPI; the run still ends with the BSP's debug-exit.
t_hello_cpus4() {
	run_guest hello_cpus4 1 "$TIMEOUT" -- --firmware "$GUESTS/hello.bin" --cpus 4 &&
		expect_line "HELLO real-mode" && pass
}

t_hello_serial_file() {
	run_guest hello_serial_file 1 "$TIMEOUT" -- --firmware "$GUESTS/hello.bin" \
		--serial "file:$WORK/hello_serial_file.serial" &&
		expect_line "HELLO real-mode" "$WORK/hello_serial_file.serial" &&
		expect_no_line "HELLO real-mode" && pass
}

t_hello_debugcon() {
	run_guest hello_debugcon 1 "$TIMEOUT" -- --firmware "$GUESTS/hello.bin" \
		--debugcon "$WORK/hello_debugcon.dbg" &&
		expect_line "HELLO debugcon" "$WORK/hello_debugcon.dbg" &&
		expect_line "HELLO real-mode" && pass
}

t_modes() {
	run_guest modes 1 "$TIMEOUT" -- --firmware "$GUESTS/modes.bin" &&
		expect_in_order "MODE real" "MODE prot32" "MODE long64" "RAM ok" && pass
}

t_romwrite() {
	run_guest romwrite 1 "$TIMEOUT" -- --firmware "$GUESTS/romwrite.bin" &&
		expect_in_order "ROM alias ok" "ROM ro ok" && pass
}

# smp_test N: N CPUs each print "CPU <LAPIC id> up" once, and the BSP counts them.
smp_test() {
	run_guest "smp$1" 1 "$TIMEOUT" -- --firmware "$GUESTS/smp.bin" --cpus "$1" &&
		expect_line "CPU 0 up" &&
		expect_count "$1" 'CPU [0-9]+ up' &&
		expect_distinct "$1" 'CPU [0-9]+ up' &&
		expect_line "SMP ok n=$1" && pass
}
t_smp1() { smp_test 1; }
t_smp2() { smp_test 2; }
t_smp4() { smp_test 4; }

t_exit3() {
	run_guest exit3 7 "$TIMEOUT" -- --firmware "$GUESTS/exit3.bin" &&
		expect_line "EXIT 3" && pass
}

t_exit127() {
	run_guest exit127 255 "$TIMEOUT" -- --firmware "$GUESTS/exit127.bin" &&
		expect_line "EXIT 127" && pass
}

t_reset() {
	run_guest reset 0 "$TIMEOUT" -- --firmware "$GUESTS/reset.bin" &&
		expect_line "RESET" && expect_no_line "NORESET" && pass
}

t_reset_cf9() {
	run_guest reset_cf9 0 "$TIMEOUT" -- --firmware "$GUESTS/reset_cf9.bin" &&
		expect_line "RESET" && expect_no_line "NORESET" && pass
}

# vmm: a triple fault is fatal, status 1 with one line saying so. QEMU -no-reboot treats
# it as a reset (status 0); its reset log says whether it was a triple fault.
t_triple() {
	if [ "$PEER" = qemu ]; then
		QEMU_EXTRA="-d cpu_reset -D $WORK/triple.qemu.log"
		run_guest triple 0 "$TIMEOUT" -- --firmware "$GUESTS/triple.bin"
		_r=$?
		QEMU_EXTRA=
		[ $_r = 0 ] && expect_line "TRIPLE" && expect_no_line "NOFAULT" &&
			expect_grep 'triple fault' "$WORK/triple.qemu.log" "QEMU's log" && pass
		return
	fi
	run_guest triple 1 "$TIMEOUT" -- --firmware "$GUESTS/triple.bin" &&
		expect_line "TRIPLE" && expect_no_line "NOFAULT" &&
		expect_stderr_lines 1 && expect_grep 'triple|shutdown' "$T_ERR" stderr && pass
}

# --trace memslots: every slot is set before the first KVM_RUN; the firmware is read-only
# below 4 GiB and at its low mirror, RAM at 0 is read-write.
t_trace_memslots() {
	vmm_only trace_memslots || return 1
	_tr=$WORK/trace_memslots.trace
	run_guest trace_memslots 1 "$TIMEOUT" -- --firmware "$GUESTS/hello.bin" \
		--trace "memslots=$_tr" &&
		expect_line "HELLO real-mode" && expect_line start "$_tr" || return 1
	_start=$(grep -nx start "$_tr" | head -n 1 | cut -d: -f1)
	head -n "$_start" "$_tr" >"$_tr.before"
	expect_grep '^add slot=[0-9]+ gpa=0xfffe0000 size=0x20000 flags=ro$' "$_tr.before" \
		"the trace before start" &&
		expect_grep '^add slot=[0-9]+ gpa=0xe0000 size=0x[0-9a-f]+ flags=ro$' "$_tr.before" \
			"the trace before start" &&
		expect_grep '^add slot=[0-9]+ gpa=0x0 size=0x[0-9a-f]+ flags=rw$' "$_tr.before" \
			"the trace before start" && pass
}

# PAM and SMRAM on the Q35 host bridge, per the Intel datasheet. Not a peer test: QEMU
# 7.2 -M q35 fails it at segment 0 step 5 (it reads DRAM in write-only mode).
t_pam() {
	vmm_only pam || return 1
	run_guest pam 1 "$TIMEOUT" -- --firmware "$GUESTS/pam.bin" &&
		expect_count 13 'PAM seg [0-9]+ ok' &&
		expect_in_order "PAM seg 12 ok" "PAM ok" "SMRAM ok" && pass
}

# The hole detector (I1): one vCPU checks RAM above 1 MiB while the other rewrites
# PAM/SMRAM 2048 times. No mismatch, no MMIO exit on RAM, and no memslot call at or
# above 1 MiB after `start`.
t_holes() {
	vmm_only holes || return 1
	_tr=$WORK/holes.trace
	run_guest holes 1 $((TIMEOUT * 3)) -- --firmware "$GUESTS/holes.bin" --cpus 2 \
		--trace "memslots=$_tr" &&
		expect_grep '^HOLES ok writes=2k passes=[0-9]+' "$T_OUT" stdout || return 1
	if grep -q 'MMIO exits landed in guest RAM' "$T_ERR"; then
		fail "vmm saw MMIO exits on RAM: $(cat "$T_ERR")"
		return 1
	fi
	_calls=$(sed -n '/^start$/,$p' "$_tr" | grep -c '^add\|^del')
	_high=$(sed -n '/^start$/,$p' "$_tr" |
		awk '/^(add|del)/ { sub("gpa=0x", "", $3); if (length($3) > 5) print }' |
		head -n 3)
	if [ -n "$_high" ]; then
		fail "memslot calls at or above 1 MiB after start: $_high"
		return 1
	fi
	[ "$_calls" -gt 500 ] || { fail "only $_calls memslot calls after start: PAM writes did not reach KVM"; return 1; }
	pass
}

# RAM above 1 TiB in a 1100 GiB guest (MAP_NORESERVE: only touched pages cost), with the
# AMD HyperTransport range and 4 GiB-1 TiB empty. The host needs 42 phys-bits.
t_bigmem() {
	vmm_only bigmem && needs_kvm bigmem || return 1
	if ! "$VMM" --memory 1100G --amd-hole on --memory-map >/dev/null 2>"$WORK/bigmem.pb"; then
		skip "this host cannot hold the layout: $(cat "$WORK/bigmem.pb")"
		return 1
	fi
	run_guest bigmem 1 "$TIMEOUT" -- --firmware "$GUESTS/bigmem.bin" --memory 1100G \
		--amd-hole on &&
		expect_in_order "BIG ram ok" "BIG holes ok" && pass
}

# SMM (KVM address space 1): SMRAM closed outside SMM is DRAM inside it. Skipped loudly
# when KVM has no SMM (vmm says so under VMM_DEBUG).
t_smm() {
	vmm_only smm || return 1
	export VMM_DEBUG=1
	run_guest smm 1 "$TIMEOUT" -- --firmware "$GUESTS/smm.bin" --trace "memslots=$WORK/smm.trace"
	_r=$?
	unset VMM_DEBUG
	if grep -q "SMM not entered" "$T_OUT" 2>/dev/null &&
		grep -q "KVM has no SMM" "$T_ERR" 2>/dev/null; then
		skip "this KVM has no SMM address space (KVM_CAP_X86_SMM)"
		return 1
	fi
	[ $_r = 0 ] && expect_line "SMM ok" &&
		expect_grep '^add slot=65[0-9]+ gpa=0xa0000 size=0x20000 flags=rw,smm$' \
			"$WORK/smm.trace" "the memslot trace (SMRAM in address space 1)" && pass
}

# fw_cfg from the guest: signature, ID, DMA, and bad DMA requests (no RAM at the target,
# the access structure outside RAM, an unknown key) that get a defined reply.
t_fwcfg() {
	run_guest fwcfg 1 "$TIMEOUT" -- --firmware "$GUESTS/fwcfg.bin" &&
		expect_line "FWCFG ok" && pass
}

# --- main --------------------------------------------------------------------------------

usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--peer) [ $# -ge 2 ] || usage; PEER=$2; shift 2 ;;
	--peer=*) PEER=${1#*=}; shift ;;
	--list) for t in $TESTS; do echo "$t"; done; exit 0 ;;
	-h | --help) usage ;;
	-*) echo "run.sh: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
case $PEER in
"") ;;
qemu)
	command -v qemu-system-x86_64 >/dev/null || {
		echo "run.sh: --peer qemu needs qemu-system-x86_64" >&2
		exit 2
	}
	;;
*) echo "run.sh: unknown peer '$PEER' (want qemu)" >&2; exit 2 ;;
esac
command -v timeout >/dev/null || { echo "run.sh: needs timeout" >&2; exit 2; }

SELECTED=${*:-$TESTS}
for t in $SELECTED; do
	case " $TESTS " in
	*[[:space:]]"$t"[[:space:]]*) ;;
	*) echo "run.sh: no test '$t' (see --list)" >&2; exit 2 ;;
	esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmm-integration.XXXXXX") || exit 2

NOKVM=
if [ -z "$PEER" ] && ! kvm_usable; then
	NOKVM="/dev/kvm missing or not usable: every test that runs a guest is SKIPPED"
	echo "######## WARNING: $NOKVM ########"
fi
if [ -n "$PEER" ]; then
	echo "# peer $PEER: guests run under QEMU TCG, tests of vmm itself are skipped"
else
	echo "# vmm $VMM, guests $GUESTS"
fi

for t in $SELECTED; do
	_before=$((PASSED + FAILED + SKIPPED))
	T=$t T_OUT='' T_ERR=''
	"t_$t"
	if [ $((PASSED + FAILED + SKIPPED)) = "$_before" ]; then
		fail "the test reported no result"
	fi
done

[ -n "$NOKVM" ] && echo "######## WARNING: $NOKVM ########"
if [ "$FAILED" = 0 ] && [ -z "$KEEP" ]; then
	rm -rf "$WORK"
else
	echo "# outputs kept in $WORK"
fi
results_line
[ "$FAILED" = 0 ]
