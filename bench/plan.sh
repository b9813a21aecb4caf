#!/bin/sh
# bench/plan.sh: the foreman's speed goals, measured in one run.
#
#   plan/copy : Plan of a device with 10,000 volumes, 10,000 content trees
#               and 50,000 blobs, divided by a deep copy of the same
#               Blueprint and Floorplan (goal ≤ 3)
#   10x input : Plan at 100,000 volumes (500,000 blobs) divided by Plan
#               at 10,000 (the issue's goal: ≤ 12), and the same growth at
#               the small end, 10,000 divided by 1,000
#
# Both ratios come from BenchmarkRatios, which times the four things
# interleaved in one loop and takes medians of CPU time (getrusage), so a
# machine shared with other jobs disturbs them little. It runs with
# GOGC=off and a collection before each timed operation (untimed): each
# operation is charged its own work only, not a share of collections the
# others' garbage (and half a gigabyte of live benchmark input) caused.
# Then the ordinary per-scale benchmarks (collector on) report ns/op,
# allocs/op and allocs per material.
# Usage: bench/plan.sh [iterations]   (default 15)
set -eu
cd "$(dirname "$0")/.."
n="${1:-15}"
out="$(GOGC=off go test ./foreman/ -run '^$' -bench 'Ratios' -benchtime "${n}x" -count 1 -timeout 60m)"
echo "$out" | grep '^Benchmark'
echo "$out" | awk '/^BenchmarkRatios/ {
	for (i = 2; i <= NF; i++) v[$(i)] = $(i-1)
	printf "CPU time (median of %s): plan 1k %.1f ms, 10k %.1f ms, 100k %.1f ms; deep copy 1k %.1f ms, 10k %.1f ms, 100k %.1f ms\n", $2,
		v["plan1k-cpu-ns"]/1e6, v["plan10k-cpu-ns"]/1e6, v["plan100k-cpu-ns"]/1e6, v["copy1k-cpu-ns"]/1e6, v["copy10k-cpu-ns"]/1e6, v["copy100k-cpu-ns"]/1e6
	printf "plan/copy at 10k: %.2f (goal <= 3) %s   (at 100k: %.2f)\n", v["plan/copy"], (v["plan/copy"] <= 3 ? "ok" : "MISSED"), v["plan/copy@100k"]
	printf "10x input, 10k -> 100k (the issue'"'"'s): %.2f (goal <= 12) %s   (deep copy: %.2f)\n", v["100k/10k"], (v["100k/10k"] <= 12 ? "ok" : "MISSED"), v["copy100k/10k"]
	printf "10x input at the small end, 1k -> 10k: %.2f (goal <= 12) %s   (deep copy: %.2f)\n", v["10k/1k"], (v["10k/1k"] <= 12 ? "ok" : "MISSED"), v["copy10k/1k"]
}'
go test ./foreman/ -run '^$' -bench 'BenchmarkPlan$|BenchmarkDeepCopy$|BenchmarkFingerprint$' -benchtime 5x -count 1 -timeout 60m | grep '^Benchmark'
