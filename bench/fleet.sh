#!/usr/bin/env bash
# Fleet simulation: an initial converge of 50-volume devices from empty
# (architect, foreman and the real executor over the in-memory device),
# then an image update rolled out to half of each device's OS volumes.
# One CPU (GOMAXPROCS=1), one run per size. Reports reconciles (survey,
# plan, apply passes) and whole converges per CPU second, the rollout's
# CPU seconds and the live heap per device once converged.
#
#   bench/fleet.sh                 # 1,000, 10,000 and 100,000 devices
#   FLEET_DEVICES=1000 bench/fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export FLEET_DEVICES="${FLEET_DEVICES:-1000,10000,100000}"
go test -run '^$' -bench '^BenchmarkFleet$' -benchtime 1x -cpu 1 -timeout 60m ./fleet
