#!/usr/bin/env bash
# Times the snapshot craft (assembler/crafts/snapshot, its Benchmark*
# functions) on the issue's cases: a 4 GiB qcow2 with 1 GiB allocated,
# snapshot (goal < 100 ms) and rollback with 1 GiB written since the
# snapshot (goal < 1 s), in place and across generations (the move of the
# old generation's file, goal < 1 s; the convert it replaces, for
# comparison); a fully allocated 1 GiB raw volume, snapshot and
# rollback, on the temp dir's file system (ext4 here: a byte copy) and on
# a loop-mounted XFS with reflink=1 (needs root and xfsprogs). Only the
# operation is timed, not the 1 GiB writes between runs.
#
# Prints go test's benchmark lines (ns/op, bytes-copied), then the qcow2
# medians against their goals.
#
#   bench/snapshot.sh                 # RUNS=5 COUNT=3
#   STRICT=1 bench/snapshot.sh        # exit 1 when a qcow2 goal is missed
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
COUNT="${COUNT:-3}"
STRICT="${STRICT:-0}"

for tool in go qemu-img qemu-io awk; do
	command -v "$tool" >/dev/null || { echo "snapshot.sh: $tool is required (./scripts/setup)" >&2; exit 2; }
done

out="$(go test -run '^$' -bench . -benchtime "${RUNS}x" -count "$COUNT" ./assembler/crafts/snapshot/)"
echo "$out" | grep '^Benchmark'
echo "$out" | awk -v strict="$STRICT" '
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	/^BenchmarkQcow2\/snapshot/ { s[++ns] = $3 / 1e6 }
	/^BenchmarkQcow2\/rollback/ { r[++nr] = $3 / 1e6 }
	/^BenchmarkQcow2MoveFrom/ { m[++nm] = $3 / 1e6 }
	END {
		if (ns == 0 || nr == 0) { print "snapshot.sh: no qcow2 figures"; exit 2 }
		ms = median(s, ns); mr = median(r, nr)
		printf "qcow2 snapshot median %.1f ms (goal < 100 ms: %s)\n", ms, ms < 100 ? "met" : "missed"
		printf "qcow2 rollback median %.1f ms (goal < 1000 ms: %s)\n", mr, mr < 1000 ? "met" : "missed"
		mm = nm ? median(m, nm) : 0
		if (nm) printf "qcow2 rollback across generations (move) median %.1f ms (goal < 1000 ms: %s)\n", mm, mm < 1000 ? "met" : "missed"
		if (strict == "1" && (ms >= 100 || mr >= 1000 || mm >= 1000)) exit 1
	}'
