#!/bin/bash
# bench/vfio.sh - passthrough figures from the VFIO rig (level 0 QEMU with an
# emulated VT-d and an edu; level 1 binds edu to vfio-pci and runs vmm):
#  - the time to DMA-map guest RAM on the real type1 backend at level-1 sizes
#    (vmm's own measurement around the DMA listener's registration), with level
#    1's shmem THP setting as it is and on "advise" (guest RAM asks for it);
#  - the round trip of one trapped BAR read (--device ...,x-no-mmap=on) against
#    one read through the mmapped BAR, from 20000 (trapped) or 1000000 (mmapped)
#    reads of edu's ID register by the guest (tests/guests/edu.S built with
#    -DBENCH), net of a 1-read run.
# The recording-backend figures for 1/16/64 GiB are bench/vfio_dma.sh's.
# Run by `make bench`; about 3 minutes.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f build/vmm ] && [ -f build/guests/edu_bench.bin ] || { echo "bench vfio: run make first" >&2; exit 1; }
p=$top/build/bench/vfio-payload
rm -rf "$p"
mkdir -p "$p/guests"
cp build/vmm "$p/"
cp build/guests/edu_bench.bin build/guests/edu_bench1.bin build/guests/edu_bench_1m.bin "$p/guests/"
cp bench/l1/vfio-l1.sh "$p/run-l1.sh"
. bench/lib/rig-bench.sh
RIG_ARGS=--vfio rig_bench vfio "$p" "${RIG_TIMEOUT:-600}"
