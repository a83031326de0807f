#!/bin/bash
# bench/blk.sh - virtio-blk engine against fio, same file, same run.
#
# 4 KiB random reads at queue depth 32 on a 256 MiB image:
#   - engine: bench/bench_blk.c drives virtio-pci + virtio core + virtio_blk
#     (io_uring) from a test "guest" (several requests per kick and per
#     interrupt); reports req/s and VMM CPU per request;
#   - peer: fio --ioengine=io_uring --rw=randread --bs=4k --iodepth=32 on the
#     same file; reports IOPS and fio's CPU per request;
#   and prints engine/fio (goal >= 0.8x).
# Page cache: it cannot be dropped here (no privileged VM control), so BOTH
# sides read cached data: the image is read once before the runs and fio runs
# with --invalidate=0 (its default would drop the file's cache and make it
# read the disk while the engine reads memory). On tmpfs the data is in
# memory anyway. By default one image on tmpfs (/dev/shm) and one on the
# disk's file system (${TMPDIR:-/tmp}); BLK_BENCH_DIRS overrides the list.
# Env: BLK_BENCH_DIRS, BLK_BENCH_SIZE_MB (256), BLK_BENCH_SECONDS (5),
# BLK_BENCH_QD (32). Builds its own binary (no Makefile), like
# bench_memory.sh, so it runs while other layers do not build.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BUILD:-build}/bench"
mkdir -p "$out"
"${CC:-cc}" -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wvla -I. -D_GNU_SOURCE \
	-fno-strict-aliasing -o "$out/bench_blk" bench/bench_blk.c devices/virtio_blk.c \
	devices/virtio.c devices/virtio_pci.c devices/pci.c devices/iobus.c memory/*.c \
	common/*.c -luring -lpthread

size=${BLK_BENCH_SIZE_MB:-256}
secs=${BLK_BENCH_SECONDS:-5}
qd=${BLK_BENCH_QD:-32}
dirs=${BLK_BENCH_DIRS:-/dev/shm ${TMPDIR:-/tmp}}
img=
trap 'if [ -n "$img" ]; then rm -f "$img"; fi' EXIT

echo "virtio-blk: 4 KiB random reads, QD $qd, ${size} MiB image, ${secs} s per run," \
	"$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for dir in $dirs; do
	[ -d "$dir" ] && [ -w "$dir" ] || { echo "skip $dir: not a writable directory"; continue; }
	img=$(mktemp "$dir/blkbench.XXXXXX")
	fs=$(stat -f -c %T "$dir")
	head -c $((size * 1024 * 1024)) /dev/urandom >"$img"
	cat "$img" >/dev/null
	echo "== $img ($fs; page cache not dropped: both sides read cached data)"

	set +e
	eng=$("$out/bench_blk" "$img" "$secs" "$qd")
	rc=$?
	set -e
	echo "$eng" | grep -v '^RESULT' | sed 's/^/  /'
	if [ $rc -eq 2 ]; then
		echo "  SKIP: io_uring unavailable"
		rm -f "$img"
		img=
		continue
	fi
	[ $rc -eq 0 ] || { echo "bench blk: engine failed ($rc)" >&2; exit 1; }
	e_iops=$(echo "$eng" | sed -n 's/^RESULT engine_iops=\([0-9.]*\).*/\1/p')
	e_cpu=$(echo "$eng" | sed -n 's/.*vmm_us_per_req=\([0-9.]*\).*/\1/p')

	if ! command -v fio >/dev/null; then
		echo "  fio: not installed, no peer figure"
	else
		# terse v3: 6 read KiB, 8 read IOPS, 9 runtime ms, 88 usr %, 89 sys %
		t=$(fio --name=randread --filename="$img" --ioengine=io_uring --rw=randread \
			--bs=4k --iodepth="$qd" --runtime="$secs" --time_based --invalidate=0 \
			--output-format=terse --terse-version=3 2>/dev/null | tail -n 1)
		f_iops=$(echo "$t" | awk -F';' '{print $8}')
		f_cpu=$(echo "$t" | awk -F';' '{ios = $6 / 4; u = $88; s = $89; sub("%", "", u);
			sub("%", "", s); if (ios > 0) printf "%.2f", (u + s) / 100 * $9 / 1000 / ios * 1e6}')
		echo "  fio:    $f_iops IOPS, CPU ${f_cpu} us/request (fio process: usr+sys)"
		awk -v e="$e_iops" -v f="$f_iops" -v ec="$e_cpu" -v fc="$f_cpu" 'BEGIN {
			c = (fc > 0) ? ec / fc : 0
			if (f > 0)
				printf "  ratio engine/fio: %.2fx throughput (goal >= 0.8x), %.2fx CPU per request\n", e / f, c
		}'
	fi
	rm -f "$img"
	img=
done
