# tests/integration/lib.sh - helpers for run.sh. POSIX sh: it also runs under busybox ash
# in the nested rig. Sourced, not run.
#
# Contract
# - The caller sets VMM, GUESTS, WORK (a scratch directory), TIMEOUT (seconds for a guest
#   run) and PEER ("" for vmm, or "qemu" to run the same images under QEMU TCG).
# - Every helper returns 0 when the test may go on. A helper that ends the test prints its
#   one result line (PASS, FAIL or SKIP, with the test's name) and returns 1, so a test is
#   one chain: `run_guest ... && expect_line ... && pass`.
# - run_guest/run_cli set T (the test's name), T_OUT (stdout: the serial console unless
#   --serial says otherwise), T_ERR (stderr) and T_STATUS. The expect_* helpers check
#   those and name $T in what they print.

PASSED=0
FAILED=0
SKIPPED=0
T=
T_OUT=
T_ERR=
T_STATUS=

# --- results --------------------------------------------------------------------------

pass() {
	PASSED=$((PASSED + 1))
	echo "PASS $T"
	return 0
}

# fail REASON: the current test failed; shows the end of its output to say why.
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL $T: $*"
	show_tail "stdout" "$T_OUT"
	show_tail "stderr" "$T_ERR"
	return 1
}

skip() {
	SKIPPED=$((SKIPPED + 1))
	echo "SKIP $T: $*"
	return 1
}

show_tail() {
	[ -n "$2" ] && [ -s "$2" ] || return 0
	echo "    --- $1 ($2), last lines:"
	tail -n 15 "$2" | awk '{ print "    | " $0 }'
}

# results_line: the closing line, alone on its line.
results_line() {
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
}

# --- what a test needs ------------------------------------------------------------------

# kvm_usable: /dev/kvm exists and opens read-write (a stat is not enough: a node without
# a loaded kvm module fails only on open).
kvm_usable() {
	[ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null
}

# needs_kvm NAME: a test that runs a guest. QEMU TCG needs no /dev/kvm.
needs_kvm() {
	T=$1 T_OUT='' T_ERR=''
	[ -n "$PEER" ] && return 0
	[ -e /dev/kvm ] || { skip "/dev/kvm missing"; return 1; }
	kvm_usable || { skip "/dev/kvm cannot be opened read-write"; return 1; }
	return 0
}

# vmm_only NAME: a test of vmm itself (its CLI, traces, messages), not of the guest.
vmm_only() {
	T=$1 T_OUT='' T_ERR=''
	[ -z "$PEER" ] && return 0
	skip "tests vmm itself, not run against peer $PEER"
	return 1
}

have_vmm() {
	[ -n "$PEER" ] && return 0
	[ -x "$VMM" ] || { fail "no vmm binary at $VMM (make build/vmm)"; return 1; }
}

host_is_amd() {
	grep -q '^vendor_id.*AuthenticAMD' /proc/cpuinfo 2>/dev/null
}

# --- running ----------------------------------------------------------------------------

# run_timed SECONDS CMD...: CMD, killed after SECONDS. SIGKILL, because a program may
# catch SIGTERM and exit 0 (QEMU does), and busybox's timeout then reports that 0.
run_timed() {
	timeout -s KILL "$@"
}

# timed_out STATUS: a run that run_timed killed (137 = 128 + SIGKILL; 124 and 143 in case
# a timeout sends SIGTERM after all).
timed_out() {
	case $1 in 124 | 137 | 143) return 0 ;; esac
	return 1
}

# check_status WANT SECONDS
check_status() {
	if timed_out "$T_STATUS"; then
		fail "timed out after $2 s (status $T_STATUS)"
		return 1
	fi
	if [ "$T_STATUS" != "$1" ]; then
		fail "exit status $T_STATUS, want $1"
		return 1
	fi
	return 0
}

# run_guest NAME EXPECTED_STATUS TIMEOUT -- VMM_ARGS...
# Runs a guest under vmm, or under QEMU TCG when PEER=qemu (VMM_ARGS are translated:
# --firmware, --cpus, --memory, --serial, --debugcon). Skips when /dev/kvm is missing.
# QEMU_EXTRA, if set, is added to the QEMU command line (word-split).
run_guest() {
	needs_kvm "$1" || return 1
	_want=$2 _tmo=$3
	shift 3
	[ "$1" = -- ] && shift
	T_OUT=$WORK/$T.out T_ERR=$WORK/$T.err
	: >"$T_OUT"
	: >"$T_ERR"
	have_vmm || return 1
	_prev='' _img=''
	for _a; do
		[ "$_prev" = --firmware ] && _img=$_a
		_prev=$_a
	done
	if [ -n "$_img" ] && [ ! -f "$_img" ]; then
		fail "no guest image $_img (make guests)"
		return 1
	fi
	case $PEER in
	"")
		run_timed "$_tmo" "$VMM" "$@" </dev/null >"$T_OUT" 2>"$T_ERR"
		T_STATUS=$?
		;;
	qemu)
		run_qemu "$_tmo" "$@" || return 1
		;;
	*)
		fail "unknown peer '$PEER'"
		return 1
		;;
	esac
	check_status "$_want" "$_tmo"
}

# run_qemu SECONDS VMM_ARGS...: the same machine under QEMU TCG. -no-reboot makes a guest
# reset end QEMU with status 0, as it ends vmm.
run_qemu() {
	_tmo=$1
	shift
	_n=$# _mem=256M _serial=stdio
	while [ "$_n" -gt 0 ]; do
		_a=$1
		shift
		_n=$((_n - 1))
		case $_a in
		--firmware) set -- "$@" -bios "$1" ;;
		--cpus) set -- "$@" -smp "$1" ;;
		--memory) _mem=$1 ;;
		--serial) case $1 in
			stdio | null) _serial=$1 ;;
			file:?*) _serial=$1 ;;
			*) fail "no QEMU form for --serial $1"; return 1 ;;
			esac ;;
		--debugcon) set -- "$@" -debugcon "file:$1" -global isa-debugcon.iobase=0x402 ;;
		*) fail "no QEMU form for vmm argument $_a"; return 1 ;;
		esac
		shift
		_n=$((_n - 1))
	done
	# shellcheck disable=SC2086 # QEMU_EXTRA is a list of words
	run_timed "$_tmo" qemu-system-x86_64 -M pc -accel tcg -nodefaults -no-user-config \
		-display none -no-reboot -m "$_mem" -serial "$_serial" \
		-device isa-debug-exit,iobase=0x501,iosize=2 $QEMU_EXTRA "$@" \
		</dev/null >"$T_OUT" 2>"$T_ERR"
	T_STATUS=$?
	return 0
}

# run_cli NAME EXPECTED_STATUS -- VMM_ARGS...: vmm without a guest (no /dev/kvm needed).
run_cli() {
	vmm_only "$1" || return 1
	_want=$2
	shift 2
	[ "$1" = -- ] && shift
	T_OUT=$WORK/$T.out T_ERR=$WORK/$T.err
	: >"$T_OUT"
	: >"$T_ERR"
	have_vmm || return 1
	run_timed 30 "$VMM" "$@" </dev/null >"$T_OUT" 2>"$T_ERR"
	T_STATUS=$?
	check_status "$_want" 30
}

# --- assertions -------------------------------------------------------------------------

# expect_line TEXT [FILE]: FILE (default: stdout) has a line exactly TEXT.
expect_line() {
	grep -qxF -- "$1" "${2:-$T_OUT}" && return 0
	fail "no line '$1' in ${2:-stdout}"
}

expect_no_line() {
	grep -qxF -- "$1" "${2:-$T_OUT}" || return 0
	fail "unexpected line '$1' in ${2:-stdout}"
}

# expect_in_order TEXT...: these lines are in stdout, in this order.
expect_in_order() {
	_prev=0
	for _l; do
		_at=$(grep -nxF -- "$_l" "$T_OUT" | head -n 1 | cut -d: -f1)
		[ -n "$_at" ] || { fail "no line '$_l' in stdout"; return 1; }
		[ "$_at" -gt "$_prev" ] || { fail "line '$_l' out of order"; return 1; }
		_prev=$_at
	done
	return 0
}

# expect_count N ERE [FILE]: exactly N lines match ERE (whole line).
expect_count() {
	_c=$(grep -cxE -- "$2" "${3:-$T_OUT}")
	[ "$_c" = "$1" ] && return 0
	fail "$_c lines match '$2' in ${3:-stdout}, want $1"
}

# expect_distinct N ERE: exactly N different lines match ERE.
expect_distinct() {
	_c=$(grep -xE -- "$2" "$T_OUT" | sort -u | grep -c '')
	[ "$_c" = "$1" ] && return 0
	fail "$_c different lines match '$2', want $1"
}

# expect_stderr_lines N: exactly N lines on stderr (a last line without newline counts).
expect_stderr_lines() {
	_c=$(grep -c '' "$T_ERR")
	[ "$_c" = "$1" ] && return 0
	fail "$_c lines on stderr, want $1"
}

# expect_grep ERE FILE WHAT: some line of FILE matches ERE (case-insensitive).
expect_grep() {
	grep -qiE -- "$1" "$2" && return 0
	fail "no line matching '$1' in $3"
}

# e820_has TYPE START END: a --memory-map line `e820: [mem 0xSTART-0xEND] TYPE` exactly
# (START and END as 16 lowercase hex digits).
e820_has() {
	expect_line "e820: [mem 0x$2-0x$3] $1"
}

# e820_covers TYPE START END: one e820 line of TYPE covers START..END. The fields are
# fixed-width lowercase hex, so comparing them as strings compares the numbers.
e820_covers() {
	sed -n 's/^e820: \[mem 0x\([0-9a-f]\{16\}\)-0x\([0-9a-f]\{16\}\)\] \(.*\)$/\1 \2 \3/p' "$T_OUT" |
		awk -v t="$1" -v s="$2" -v e="$3" \
			'$3 == t && ("x" $1) <= ("x" s) && ("x" $2) >= ("x" e) { f = 1 } END { exit !f }' &&
		return 0
	fail "no $1 e820 line covers 0x$2-0x$3"
}

# e820_starts TYPE START: an e820 line of TYPE starts at START.
e820_starts() {
	grep -q "^e820: \[mem 0x$2-0x[0-9a-f]\{16\}\] $1\$" "$T_OUT" && return 0
	fail "no $1 e820 line starts at 0x$2"
}
