# bench/lib/rig-bench.sh - sourced by the benchmarks that run in level 1 of the
# nested rig. rig_bench NAME PAYLOAD TIMEOUT: run PAYLOAD (a directory with
# run-l1.sh) in the rig with 3 GiB for level 1, print its "bench NAME:" lines
# and the rig's timing line; a missing QEMU is a loud skip (exit 0), a failed
# rig exits 1 with the log's path. The log is build/bench/NAME-rig.log. RIG_ARGS
# (e.g. --vfio) goes to tests/rig/run.sh.
rig_bench() {
	local name=$1 payload=$2 timeout=$3 log out rc
	log=$top/build/bench/$name-rig.log
	set +e
	out=$(bash "$top/tests/rig/run.sh" --mem 3G ${RIG_ARGS:-} --timeout "$timeout" "$payload" "$log" 2>&1)
	rc=$?
	set -e
	if [ $rc -eq 77 ]; then
		echo "bench $name: SKIP: the rig needs qemu-system-x86_64"
		exit 0
	fi
	printf '%s\n' "$out" | tr -d '\r' | grep -E "^(bench $name:|rig: (FAIL|timings))" || true
	[ $rc -eq 0 ] || { echo "bench $name: FAIL rig exited $rc; see $log" >&2; exit 1; }
}
