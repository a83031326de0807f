#!/bin/bash
# bench/vfio_dma.sh - DMA listener benchmark: time and map calls to DMA-map
# 1, 16 and 64 GiB of guest RAM on the recording backend (no kernel, no VFIO
# needed), and the backend calls of a firmware PAM/SMRAM sequence (must be 0).
# Builds its own binary from memory/, common/log.c and the vfio/ core files
# only, so it runs while other layers (vfio/pci.c) are being written.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BUILD:-build}/bench"
mkdir -p "$out"
"${CC:-cc}" -O2 -g -std=gnu11 -Wall -Wextra -Werror -I. -D_GNU_SOURCE -fno-strict-aliasing \
	-o "$out/bench_vfio_dma" bench/bench_vfio_dma.c memory/*.c common/log.c \
	vfio/backend.c vfio/record.c vfio/type1.c vfio/iommufd.c vfio/sysfs.c vfio/dma.c -lpthread
"$out/bench_vfio_dma"
