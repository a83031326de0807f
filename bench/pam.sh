#!/bin/bash
# bench/pam.sh - PAM register writes in a running guest, measured in level 1
# of the nested rig (the only place here with a real /dev/kvm):
#   - µs per PAM write, from the guest's write to resumed execution, minus a
#     baseline of the same two port writes to a read-only register (the
#     guest counts writes per RTC second: tests/guests/pambench.S);
#   - memslot calls per PAM write (from --trace memslots, after `start`),
#     and how many of them are at or above 1 MiB (must be 0).
# Level 1 runs under TCG, so absolute times are far above bare metal; the
# difference pam - base is the memory-map update's share. Run by `make bench`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
for f in build/vmm build/guests/pambench.bin; do
	[ -f "$f" ] || { echo "bench pam: $f missing; run make" >&2; exit 1; }
done
p=$top/build/bench/pam-payload
rm -rf "$p"
mkdir -p "$p"
cp build/vmm build/guests/pambench.bin "$p/"
cat >"$p/run-l1.sh" <<'EOF'
#!/bin/sh
cd /payload || exit 1
timeout -s KILL 120 ./vmm --firmware pambench.bin --serial file:/tmp/pb.out \
	--trace memslots=/tmp/pb.trace
rc=$?
[ $rc -eq 1 ] || { echo "bench pam: FAIL vmm exited $rc"; cat /tmp/pb.out; exit 1; }
line=$(grep PAMBENCH /tmp/pb.out | tr -d '\r')
calls=$(sed -n '/^start$/,$p' /tmp/pb.trace | grep -c -E '^(add|del)')
high=$(sed -n '/^start$/,$p' /tmp/pb.trace | grep -E '^(add|del)' |
	awk '{ sub("gpa=0x", "", $3); if (length($3) > 5) n++ } END { print n + 0 }')
echo "bench pam: raw $line calls_after_start=$calls calls_at_or_above_1MiB=$high"
EOF
log=$top/build/bench/pam-rig.log
set +e
out=$(bash tests/rig/run.sh --timeout "${RIG_TIMEOUT:-170}" "$p" "$log" 2>&1)
rc=$?
set -e
if [ $rc -eq 77 ]; then
	echo "bench pam: SKIP: the rig needs qemu-system-x86_64"
	exit 0
fi
raw=$(printf '%s\n' "$out" | tr -d '\r' | grep '^bench pam: raw' || true)
if [ $rc -ne 0 ] || [ -z "$raw" ]; then
	echo "bench pam: FAIL rig exited $rc; see $log" >&2
	printf '%s\n' "$out" | tail -n 20 >&2
	exit 1
fi
# PAMBENCH seconds=S pam=P base=B (hex), calls over both phases: only pam writes change PAM
printf '%s\n' "$raw" | sed 's/.*seconds=\([0-9a-f]*\) pam=\([0-9a-f]*\) base=\([0-9a-f]*\) calls_after_start=\([0-9]*\) calls_at_or_above_1MiB=\([0-9]*\).*/\1 \2 \3 \4 \5/' |
	while read -r s p b c h; do
		s=$((16#$s)) p=$((16#$p)) b=$((16#$b))
		awk -v s="$s" -v p="$p" -v b="$b" -v c="$c" -v h="$h" 'BEGIN {
			up = s * 1e6 / p; ub = s * 1e6 / b
			printf "bench pam: [level 2 in the rig] PAM write %.1f us, baseline port writes %.1f us, PAM share %.1f us (%d and %d writes in %d s each)\n", up, ub, up - ub, p, b, s
			printf "bench pam: memslot calls per PAM write %.2f (%d calls / %d writes); calls at or above 1 MiB after start: %d\n", c / p, c, p, h
		}'
	done
