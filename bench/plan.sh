#!/bin/sh
# bench/plan.sh: the foreman's speed goals, measured in one run.
#
#   plan/copy : Plan of a device with 10,000 volumes, 10,000 content trees
#               and 50,000 blobs, divided by a deep copy of the same
#               Blueprint and Floorplan (goal ≤ 3)
#   10x/1x    : Plan at 10,000 volumes divided by Plan at 1,000 (goal ≤ 12)
#
# Both ratios come from BenchmarkRatios, which times the three things
# interleaved in one loop and takes medians, so a busy machine slows them
# alike. Then the per-scale benchmarks report allocs/op and allocs/material.
# Usage: bench/plan.sh [iterations]   (default 25)
set -eu
cd "$(dirname "$0")/.."
n="${1:-25}"
out="$(go test ./foreman/ -run '^$' -bench 'Ratios' -benchtime "${n}x" -count 1)"
echo "$out" | grep '^Benchmark'
echo "$out" | awk '/^BenchmarkRatios/ {
	for (i = 2; i <= NF; i++) {
		if ($(i) == "plan/copy") pc = $(i-1)
		if ($(i) == "10x/1x") sc = $(i-1)
		if ($(i) == "plan10k-ns") p10 = $(i-1)
		if ($(i) == "plan1k-ns") p1 = $(i-1)
		if ($(i) == "copy10k-ns") c10 = $(i-1)
	}
	printf "plan 1k %.1f ms, plan 10k %.1f ms, deep copy 10k %.1f ms\n", p1/1e6, p10/1e6, c10/1e6
	printf "plan/copy at 10k: %.2f (goal <= 3) %s\n", pc, (pc <= 3 ? "ok" : "MISSED")
	printf "10x input / 1x input: %.2f (goal <= 12) %s\n", sc, (sc <= 12 ? "ok" : "MISSED")
}'
go test ./foreman/ -run '^$' -bench 'BenchmarkPlan$|BenchmarkDeepCopy$|BenchmarkFingerprint$' -benchtime 10x -count 1 | grep '^Benchmark'
