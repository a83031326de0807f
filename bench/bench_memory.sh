#!/bin/bash
# bench/bench_memory.sh - memory engine benchmark: listener calls per PAM/SMRAM
# register write, and commit time against the number of regions.
# Builds its own binary from memory/ (the engine is self-contained: it needs
# only common/log.c), so it runs even while other layers do not build.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BUILD:-build}/bench"
mkdir -p "$out"
"${CC:-cc}" -O2 -g -std=gnu11 -Wall -Wextra -Werror -I. -D_GNU_SOURCE -fno-strict-aliasing \
	-o "$out/bench_memory" bench/bench_memory.c memory/*.c common/log.c -lpthread
"$out/bench_memory"
