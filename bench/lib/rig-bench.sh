# bench/lib/rig-bench.sh - sourced by the benchmarks that run in level 1 of the
# nested rig. rig_bench NAME PAYLOAD TIMEOUT: run PAYLOAD (a directory with
# run-l1.sh) in the rig with 3 GiB for level 1, print its "bench NAME:" lines
# and the rig's timing line; a missing QEMU is a loud skip (exit 0), a failed
# rig exits 1 with the log's path. The log is build/bench/NAME-rig.log. RIG_ARGS
# (e.g. --vfio) goes to tests/rig/run.sh. A broken level 1 (exit 75: a hang or a
# panic of the TCG-emulated level 1) runs again, up to twice, as in the tests
# (rig() of tests/rig/lib.sh); only the last attempt's lines are printed.
# shellcheck source=../../tests/rig/lib.sh
. "$top/tests/rig/lib.sh"

rig_bench() {
	local name=$1 payload=$2 timeout=$3 log out rc retries
	log=$top/build/bench/$name-rig.log
	set +e
	out=$(rig --mem 3G ${RIG_ARGS:-} --timeout "$timeout" "$payload" "$log" 2>&1)
	rc=$?
	set -e
	if [ $rc -eq 77 ]; then
		echo "bench $name: SKIP: the rig needs qemu-system-x86_64"
		exit 0
	fi
	printf '%s\n' "$out" | tr -d '\r' | awk '/^rig: level 1 broke/ { n = 0; next } { l[n++] = $0 }
		END { for (i = 0; i < n; i++) print l[i] }' |
		grep -E "^(bench $name:|rig: (FAIL|timings))" || true
	retries=$(printf '%s\n' "$out" | grep -c '^rig: level 1 broke' || true)
	if [ "$retries" -gt 0 ]; then
		echo "bench $name: level 1 broke $retries time(s); the numbers are from the last run"
	fi
	[ $rc -eq 0 ] || { echo "bench $name: FAIL rig exited $rc; see $log" >&2; exit 1; }
}
