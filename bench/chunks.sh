#!/usr/bin/env bash
# Incremental VM image download benchmark (issue 17): v1 of SIZE_MIB MiB
# pseudo-random bytes and v2 (5% of v1 rewritten as scattered 64 KiB
# blocks plus 10 MiB inserted in the middle; bench/cmd/genversions) are
# published on the same throttled loopback server (bench/cmd/throttled,
# MBIT Mbit/s for all connections together, counting the bytes it sends),
# chunked by `wright chunk` and by Debian's `casync make`. Then, RUNS
# times and interleaved, each side builds v2 on a device that holds v1:
#
#   - wright: bench/cmd/chunkget, the fetcher `wright apply` uses for HTTP
#     datastores (chunkfetch: index, seeds from the blob directory, missing
#     chunks in parallel, sha256 of each chunk and of the whole blob
#     verified, committed into the blob directory of a fresh root that
#     holds v1 as a blob);
#   - casync: `casync extract --seed=v1 --store=http://…/castr
#     http://…/v2.caibx OUT` (casync's defaults: 64 KiB average chunks).
#
# It reports, per side, the bytes the server sent and the wall time
# (medians), and the ratios wright/casync (goal: bytes <= 1, time <= 0.8).
#
# Usage: bench/chunks.sh   (env: SIZE_MIB=1024 RUNS=3 MBIT=100 WORK=/var/tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
MBIT=${MBIT:-100}
for bin in casync curl; do
	command -v "$bin" >/dev/null || { echo "chunks.sh: $bin is missing (run ./scripts/setup)" >&2; exit 1; }
done
work=$(mktemp -d "${WORK:-/var/tmp}/ewchunks.XXXXXX")
srvpid=""
cleanup() {
	set +e
	if [ -n "$srvpid" ]; then kill "$srvpid" 2>/dev/null; wait "$srvpid" 2>/dev/null; fi
	rm -rf "$work"
}
trap cleanup EXIT

for c in throttled genversions chunkget; do go build -o "$work/$c" "./bench/cmd/$c"; done
go build -o "$work/wright" ./examples/wright
pub="$work/pub"
mkdir -p "$pub"
"$work/genversions" -size-mib "$SIZE_MIB" "$pub/v1.raw" "$pub/v2.raw"
sum2=$(sha256sum "$pub/v2.raw" | cut -d' ' -f1)
size2=$(stat -c %s "$pub/v2.raw")
"$work/wright" chunk "$pub/v1.raw" --out "$pub" >/dev/null
"$work/wright" chunk "$pub/v2.raw" --out "$pub" >/dev/null
casync make --store="$pub/castr" "$pub/v1.caibx" "$pub/v1.raw" >/dev/null
casync make --store="$pub/castr" "$pub/v2.caibx" "$pub/v2.raw" >/dev/null

"$work/throttled" -dir "$pub" -mbit "$MBIT" -portfile "$work/addr" &
srvpid=$!
for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
addr=$(cat "$work/addr")
base="http://$addr"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
calc() { awk "BEGIN {printf \"%.4f\", $1}"; }
served() { curl -s "$base/__bytes"; }
wb=(); wt=(); cb=(); ct=()
for i in $(seq "$RUNS"); do
	# wright: a fresh root holding v1 as a blob (not timed), then v2.
	root="$work/root$i"
	mkdir -p "$root"
	"$work/chunkget" -root "$root" -seed "$pub/v1.raw"
	curl -s "$base/__reset"
	t0=$(now)
	"$work/chunkget" -root "$root" -url "$base/v2.raw" -sha256 "$sum2" >/dev/null
	t1=$(now)
	read -r bytes reqs < <(served)
	[ "$(sha256sum "$root/persist/blobs/sha256/$sum2" | cut -d' ' -f1)" = "$sum2" ] || { echo "wright: wrong blob" >&2; exit 1; }
	wb+=("$bytes"); wt+=("$(secs "$t0" "$t1")")
	echo "run $i wright: $bytes bytes in $reqs requests, $(secs "$t0" "$t1") s"
	rm -rf "$root"

	out="$work/out$i.raw"
	curl -s "$base/__reset"
	t0=$(now)
	casync extract --seed="$pub/v1.raw" --store="$base/castr" "$base/v2.caibx" "$out" >/dev/null 2>&1
	t1=$(now)
	read -r bytes reqs < <(served)
	[ "$(sha256sum "$out" | cut -d' ' -f1)" = "$sum2" ] || { echo "casync: wrong output" >&2; exit 1; }
	cb+=("$bytes"); ct+=("$(secs "$t0" "$t1")")
	echo "run $i casync: $bytes bytes in $reqs requests, $(secs "$t0" "$t1") s"
	rm -f "$out"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mwb=$(median "${wb[@]}"); mwt=$(median "${wt[@]}"); mcb=$(median "${cb[@]}"); mct=$(median "${ct[@]}")
echo "v2: $size2 bytes; link: $MBIT Mbit/s; runs: $RUNS"
printf 'wright: median %d bytes (%.2f%% of v2), %.2f s\n' "$mwb" "$(calc "100*$mwb/$size2")" "$mwt"
printf 'casync: median %d bytes (%.2f%% of v2), %.2f s\n' "$mcb" "$(calc "100*$mcb/$size2")" "$mct"
printf 'wright/casync: bytes %.2f (goal <= 1), time %.2f (goal <= 0.8)\n' "$(calc "$mwb/$mcb")" "$(calc "$mwt/$mct")"
