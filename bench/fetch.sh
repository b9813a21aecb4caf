#!/usr/bin/env bash
# Fetch benchmark (issue 6): a single-layer image of SIZE_MIB MiB (default
# 1024) in Debian's docker-registry on loopback. In one run it times, RUNS
# times each and interleaved, `ocifetch` (assembler/oci: resolve, walk,
# one streaming fetch of the layer into a file with its sha256 checked in
# the same pass) against `curl -o` of the same layer blob, and reports the
# median wall times, the median of the per-run ratios (goal <= 1.3) and ocifetch's peak RSS
# from /usr/bin/time -v (goal <= 64 MiB).
#
# Then (PULL=1, the default; needs root, containerd and ctr) it starts a
# confined containerd (content_sharing_policy isolated, so one namespace
# never finds another's blobs) and times, each into a fresh namespace and
# a fresh root, the real `wright apply --containerd SOCK --namespace NS`
# of a config whose container volume comes from that image (survey, plan,
# resolve and latch the tag, fetch into containerd inside the tree's lease
# with the digest verified at commit, gc labels, unpack the layer from the
# content store into <uuid>#1.container, image record, journal) against
# `ctr images pull --plain-http` (fetch, store, unpack into a snapshot);
# goal: median ratio <= 0.8, and wright apply's peak RSS <= 64 MiB.
# OCIPULL=1 also times `ocipull` (the same crafts without plan and journal).
#
# Usage: bench/fetch.sh   (env: SIZE_MIB=1024 RUNS=5 FETCH=1 PULL=1 OCIPULL=0 WRIGHT_FLAGS=-v WORK=/var/tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-5}
for bin in docker-registry curl /usr/bin/time; do
	command -v "$bin" >/dev/null || { echo "fetch.sh: $bin is missing (run ./scripts/setup)" >&2; exit 1; }
done

PULL=${PULL:-1}
work=$(mktemp -d "${WORK:-/var/tmp}/ewfetch.XXXXXX")
regpid=""
ctrdpid=""
cleanup() {
	set +e
	if [ -n "$regpid" ]; then kill "$regpid" 2>/dev/null || true; wait "$regpid" 2>/dev/null || true; fi
	if [ -n "$ctrdpid" ]; then kill "$ctrdpid" 2>/dev/null || true; wait "$ctrdpid" 2>/dev/null || true; fi
	# containerd may leave overlay mounts of its snapshots behind.
	grep -o " $work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/ocipush" ./bench/cmd/ocipush
go build -o "$work/ocifetch" ./bench/cmd/ocifetch
go build -o "$work/ocipull" ./bench/cmd/ocipull
go build -o "$work/wright" ./examples/wright

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
median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

if [ "${FETCH:-1}" = 1 ]; then

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
}'
fi

if [ "$PULL" != 1 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
	echo "pull benchmark skipped: needs root, containerd and ctr" >&2
	exit 0
fi
ctrd="$work/ctrd"
mkdir -p "$ctrd"
cat >"$ctrd/config.toml" <<TOML
version = 2
root = "$ctrd/root"
state = "$ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$ctrd/c.sock"
[ttrpc]
  address = "$ctrd/t.sock"
[debug]
  address = "$ctrd/d.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ctrd/opt"
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
TOML
containerd --config "$ctrd/config.toml" >"$ctrd/log" 2>&1 &
ctrdpid=$!
for _ in $(seq 100); do [ -S "$ctrd/c.sock" ] && break; sleep 0.1; done
[ -S "$ctrd/c.sock" ] || { echo "containerd did not start:"; cat "$ctrd/log"; exit 1; } >&2
sock="$ctrd/c.sock"

run_ocipull() {
	/usr/bin/time -v -o "$work/tv" "$work/ocipull" -containerd "$sock" -namespace "ew$1" -fqdn "docker://$host" -url bench/big:latest -out "$work/vol$1" >>"$work/pull.log"
	e=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/tv")
	m=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/tv")
	echo "$e" >>"$work/pull.times"; echo "$m" >>"$work/pull.rss"
	[ "$(stat -c %s "$work/vol$1/big.bin")" = "$((SIZE_MIB * 1048576))" ] || { echo "ocipull unpacked a wrong size" >&2; exit 1; }
	rm -rf "$work/vol$1"
	"$work/ocipull" -containerd "$sock" -namespace "ew$1" -url bench/big:latest -delete
}
tree=0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e31
vol=7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f31
cat >"$work/config.json" <<JSON
{
  "datastores": [{"id": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d31", "dType": "DsContainerRegistry", "fqdn": "docker://$host"}],
  "contentInfo": [{"uuid": "$tree", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d31", "URL": "bench/big:latest", "iformat": "CONTAINER", "displayName": "big"}],
  "volumes": [{"uuid": "$vol", "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "$tree"}, "generationCount": "1", "displayName": "big"}]
}
JSON
run_wright() {
	/usr/bin/time -v -o "$work/tv" "$work/wright" apply --config "$work/config.json" --root "$work/root$1" --containerd "$sock" --namespace "wr$1" --containerd-content "$ctrd/root/io.containerd.content.v1.content" ${WRIGHT_FLAGS:-} >>"$work/wright.log" 2>&1 \
		|| { echo "wright apply failed:"; cat "$work/wright.log"; exit 1; } >&2
	e=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/tv")
	m=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/tv")
	echo "$e" >>"$work/wright.times"; echo "$m" >>"$work/wright.rss"
	[ "$(stat -c %s "$work/root$1/persist/vault/volumes/$vol#1.container/big.bin")" = "$((SIZE_MIB * 1048576))" ] || { echo "wright apply unpacked a wrong size" >&2; exit 1; }
	rm -rf "$work/root$1"
	ctr --address "$sock" -n "wr$1" images rm --sync "$tree-bench/big:latest" >/dev/null
}
run_ctr() {
	/usr/bin/time -f '%e %M' -o "$work/t" ctr --address "$sock" -n "ctr$1" images pull --plain-http "$host/bench/big:latest" >/dev/null
	read -r e m <"$work/t"; echo "$e" >>"$work/ctr.times"
	ctr --address "$sock" -n "ctr$1" images rm --sync "$host/bench/big:latest" >/dev/null
}
OCIPULL=${OCIPULL:-0}
: >"$work/pull.times"; : >"$work/pull.rss"; : >"$work/ctr.times"; : >"$work/pratios"
: >"$work/wright.times"; : >"$work/wright.rss"; : >"$work/wratios"
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) -eq 1 ]; then run_ctr "$i"; run_wright "$i"; else run_wright "$i"; run_ctr "$i"; fi
	awk -v f="$(tail -1 "$work/wright.times")" -v c="$(tail -1 "$work/ctr.times")" 'BEGIN {print f / c}' >>"$work/wratios"
	line="pull run $i: ctr images pull $(tail -1 "$work/ctr.times")s  wright apply $(tail -1 "$work/wright.times")s ($(tail -1 "$work/wright.rss") KiB peak RSS)  ratio $(tail -1 "$work/wratios")"
	if [ "$OCIPULL" = 1 ]; then
		run_ocipull "$i"
		awk -v f="$(tail -1 "$work/pull.times")" -v c="$(tail -1 "$work/ctr.times")" 'BEGIN {print f / c}' >>"$work/pratios"
		line="$line  ocipull $(tail -1 "$work/pull.times")s"
	fi
	echo "$line"
done
mctr=$(median "$work/ctr.times")
mw=$(median "$work/wright.times")
mwr=$(median "$work/wratios")
wrss=$(sort -n "$work/wright.rss" | tail -1)
awk -v mc="$mctr" -v mp="$mw" -v mr="$mwr" -v rss="$wrss" -v runs="$RUNS" 'BEGIN {
	printf "\npull benchmark: %d runs, fresh namespace (and root) each, same confined containerd\n", runs
	printf "  ctr images pull --plain-http  median %.2fs\n", mc
	printf "  wright apply --containerd (plan, fetch, verify, store in containerd, unpack, journal)  median %.2fs\n", mp
	printf "  median of per-run ratios wright apply/ctr = %.2f (goal <= 0.8): %s  (ratio of medians %.2f)\n", mr, (mr <= 0.8 ? "met" : "NOT met"), mp / mc
	printf "  wright apply peak RSS = %.1f MiB (goal <= 64 MiB): %s\n", rss/1024, (rss/1024 <= 64 ? "met" : "NOT met")
}'
if [ -n "${WRIGHT_FLAGS:-}" ]; then sed "s/^/  wright: /" "$work/wright.log"; fi
if [ "$OCIPULL" = 1 ]; then
	sed "s/^/  ocipull: /" "$work/pull.log"
	awk -v mp="$(median "$work/pull.times")" -v mr="$(median "$work/pratios")" -v rss="$(sort -n "$work/pull.rss" | tail -1)" 'BEGIN {
		printf "  ocipull (the crafts without plan and journal)  median %.2fs, peak RSS %.1f MiB, median ratio to ctr %.2f\n", mp, rss/1024, mr
	}'
fi
