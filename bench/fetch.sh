#!/usr/bin/env bash
# Fetch benchmark (issue 6): a single-layer image of SIZE_MIB MiB (default
# 1024) in Debian's docker-registry on loopback. In one run it times, RUNS
# times each and interleaved, `ocifetch` (assembler/oci: resolve, walk,
# one streaming fetch of the layer into a file with its sha256 checked in
# the same pass) against `curl -o` of the same layer blob, and reports the
# median wall times, the median of the per-run ratios (goal <= 1.3) and ocifetch's peak RSS
# from /usr/bin/time -v (goal <= 64 MiB).
#
# The `wright apply` vs `ctr images pull --plain-http` half of issue 6's
# benchmark needs the OCI crafts wired into the engine; it is not run here.
#
# Usage: bench/fetch.sh   (env: SIZE_MIB=1024 RUNS=5 WORK=/var/tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-5}
for bin in docker-registry curl /usr/bin/time; do
	command -v "$bin" >/dev/null || { echo "fetch.sh: $bin is missing (run ./scripts/setup)" >&2; exit 1; }
done

work=$(mktemp -d "${WORK:-/var/tmp}/ewfetch.XXXXXX")
regpid=""
cleanup() {
	if [ -n "$regpid" ]; then kill "$regpid" 2>/dev/null || true; wait "$regpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/ocipush" ./bench/cmd/ocipush
go build -o "$work/ocifetch" ./bench/cmd/ocifetch

host=$("$work/ocipush" -freeport)
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $host
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
regpid=$!
for _ in $(seq 100); do
	curl -fsS -o /dev/null "http://$host/v2/" 2>/dev/null && break
	sleep 0.1
done
curl -fsS -o /dev/null "http://$host/v2/" || { echo "docker-registry did not start:"; cat "$work/registry.log"; exit 1; } >&2

echo "making a ${SIZE_MIB} MiB single-file layer (incompressible)..."
mkdir -p "$work/rootfs" "$work/out"
head -c "${SIZE_MIB}M" /dev/urandom >"$work/rootfs/big.bin"
tar -C "$work/rootfs" -cf "$work/layer.tar" big.bin
rm -rf "$work/rootfs"
read -r digest size < <("$work/ocipush" -host "$host" -repo bench/big -tag latest -layer "$work/layer.tar")
rm -f "$work/layer.tar"
echo "pushed bench/big:latest to docker-registry at $host: layer $digest ($size bytes)"
blob="http://$host/v2/bench/big/blobs/$digest"

# Warm the registry's page cache once so both sides read from memory.
curl -fsS -o /dev/null "$blob"

run_curl() {
	rm -f "$work/out/curl.bin"
	/usr/bin/time -f '%e %M' -o "$work/t" curl -fsS -o "$work/out/curl.bin" "$blob"
	[ "$(stat -c %s "$work/out/curl.bin")" = "$size" ] || { echo "curl fetched a wrong size" >&2; exit 1; }
	read -r e m <"$work/t"; echo "$e" >>"$work/curl.times"; echo "$m" >>"$work/curl.rss"
}
run_fetch() {
	rm -f "$work/out/${digest#sha256:}"
	/usr/bin/time -v -o "$work/tv" "$work/ocifetch" -fqdn "docker://$host" -url bench/big:latest -out "$work/out" >/dev/null
	e=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/tv")
	m=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/tv")
	echo "$e" >>"$work/fetch.times"; echo "$m" >>"$work/fetch.rss"
}
: >"$work/curl.times"; : >"$work/curl.rss"; : >"$work/fetch.times"; : >"$work/fetch.rss"; : >"$work/ratios"
for i in $(seq "$RUNS"); do
	# Alternate which goes first so neither always gets the warmer cache.
	if [ $((i % 2)) -eq 1 ]; then run_curl; run_fetch; else run_fetch; run_curl; fi
	awk -v f="$(tail -1 "$work/fetch.times")" -v c="$(tail -1 "$work/curl.times")" 'BEGIN {print f / c}' >>"$work/ratios"
	echo "run $i: curl $(tail -1 "$work/curl.times")s  ocifetch $(tail -1 "$work/fetch.times")s ($(tail -1 "$work/fetch.rss") KiB peak RSS)  ratio $(tail -1 "$work/ratios")"
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
mc=$(median "$work/curl.times")
mf=$(median "$work/fetch.times")
mr=$(median "$work/ratios")
rss=$(sort -n "$work/fetch.rss" | tail -1)
curlrss=$(sort -n "$work/curl.rss" | tail -1)
awk -v mc="$mc" -v mf="$mf" -v mr="$mr" -v rss="$rss" -v crss="$curlrss" -v size="$size" -v runs="$RUNS" 'BEGIN {
	ratio = mr
	printf "\nfetch benchmark: %d runs, layer %.0f MiB, docker-registry on loopback\n", runs, size/1048576
	printf "  curl -o        median %.2fs  (%.0f MiB/s, peak RSS %.1f MiB)\n", mc, size/1048576/mc, crss/1024
	printf "  ocifetch       median %.2fs  (%.0f MiB/s, peak RSS %.1f MiB, sha256 verified)\n", mf, size/1048576/mf, rss/1024
	printf "  median of per-run ratios ocifetch/curl = %.2f (goal <= 1.3): %s  (ratio of medians %.2f)\n", ratio, (ratio <= 1.3 ? "met" : "NOT met"), mf / mc
	printf "  ocifetch peak RSS = %.1f MiB (goal <= 64 MiB): %s\n", rss/1024, (rss/1024 <= 64 ? "met" : "NOT met")
	printf "  wright apply vs ctr images pull: not run (needs the OCI crafts wired into the engine)\n"
}'
