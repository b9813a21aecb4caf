#!/usr/bin/env bash
# Times the two strategies of making a VM volume from content
# (assembler's BenchmarkStrategies, the real qemu craft): a qcow2 content
# blob of BYTES of random data (4 GiB by default), a volume under space
# (qemu-img create of an overlay; goal < 100 ms, < 1 MiB allocated) and
# under performance (the craft's full qemu-img convert, fsync and rename;
# goal within 1.1x of `qemu-img convert` alone on the same input, run in
# the same iteration, alternating order, synced between).
#
# Needs about 3x BYTES free under TMPDIR (the content blob, the craft's
# volume and convert's output); it refuses when df shows less.
#
#   bench/strategy.sh                  # BYTES=4 GiB RUNS=4
#   BYTES=$((256<<20)) bench/strategy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BYTES="${BYTES:-$((4 << 30))}"
RUNS="${RUNS:-4}"
tmp="${TMPDIR:-/tmp}"

for tool in go qemu-img df; do
	command -v "$tool" >/dev/null || { echo "strategy.sh: $tool is required (./scripts/setup)" >&2; exit 2; }
done
free=$(( $(df -Pk "$tmp" | awk 'NR == 2 { print $4 }') * 1024 ))
if (( free < 3 * BYTES + (1 << 30) )); then
	echo "strategy.sh: $tmp has $free bytes free, want 3x $BYTES plus 1 GiB" >&2
	exit 2
fi
EDGEWRIGHT_BENCH_BYTES="$BYTES" go test ./assembler -run '^$' -bench Strategies -benchtime "${RUNS}x" -timeout 60m | grep '^Benchmark'
