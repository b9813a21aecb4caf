#!/bin/sh
# bench/plan.sh: the bounds the foreman's plan keeps, measured in one run.
#
#   plan/copy : Plan of a device with 10,000 volumes, 10,000 content trees
#               and 50,000 blobs, divided by a deep copy of the same
#               Blueprint and Floorplan (bound: at most 3)
#   plan 1k   : CPU time of Plan at 1,000 volumes (bound: under 20 ms)
#
# Both come from BenchmarkRatios, which times Plan and the copy
# interleaved in one loop and takes medians of CPU time (getrusage), so a
# machine shared with other jobs disturbs them little. It runs with
# GOGC=off and a collection before each timed operation (untimed): each
# operation is charged its own work only. Then the ordinary per-scale
# benchmarks (collector on) report ns/op, allocs/op and allocs per material.
# Usage: bench/plan.sh [iterations]   (default 15)
set -eu
cd "$(dirname "$0")/.."
n="${1:-15}"
out="$(GOGC=off go test ./foreman/ -run '^$' -bench 'Ratios' -benchtime "${n}x" -count 1 -timeout 30m)"
echo "$out" | grep '^Benchmark'
echo "$out" | awk '/^BenchmarkRatios/ {
	for (i = 2; i <= NF; i++) v[$(i)] = $(i-1)
	printf "CPU time (median of %s): plan 1k %.1f ms, 10k %.1f ms; deep copy 1k %.1f ms, 10k %.1f ms\n", $2,
		v["plan1k-cpu-ns"]/1e6, v["plan10k-cpu-ns"]/1e6, v["copy1k-cpu-ns"]/1e6, v["copy10k-cpu-ns"]/1e6
	printf "plan/copy at 10k: %.2f (bound <= 3) %s\n", v["plan/copy"], (v["plan/copy"] <= 3 ? "ok" : "MISSED")
	printf "plan at 1k: %.1f ms CPU (bound < 20) %s\n", v["plan1k-cpu-ns"]/1e6, (v["plan1k-cpu-ns"] < 20e6 ? "ok" : "MISSED")
}'
go test ./foreman/ -run '^$' -bench 'BenchmarkPlan$|BenchmarkDeepCopy$|BenchmarkFingerprint$' -benchtime 5x -count 1 -timeout 30m | grep '^Benchmark'
