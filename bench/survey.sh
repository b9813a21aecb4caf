#!/usr/bin/env bash
# Times a survey (inspector.Survey in its own process, bench/cmd/surveyonly)
# against `find DIR -printf '%s %T@\n'` on the same synthetic device roots
# of 1k, 10k and 100k volume files (half qcow2 with a real qemu-img header,
# half sparse raw), in the same run, warm cache for both.
#
# Prints per size the median wall times, the median of the per-repetition
# ratios survey/find (ratio; ratio_m is the ratio of the medians), and the
# median CPU time (user+sys) of each; then the median ratio at 10k (goal
# <= 1.5) and the survey's growth t(100k)/t(10k) (goal <= 12).
#
#   bench/survey.sh                  # REPS=9 SIZES="1000 10000 100000"
#   REPS=15 STRICT=1 bench/survey.sh # exit 1 when a goal is missed
set -euo pipefail
cd "$(dirname "$0")/.."

REPS="${REPS:-9}"
SIZES="${SIZES:-1000 10000 100000}"
STRICT="${STRICT:-0}"

for tool in go qemu-img find awk; do
	command -v "$tool" >/dev/null || { echo "survey.sh: $tool is required (./scripts/setup)" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/var/tmp}/ewsurvey.XXXXXX")"
trap 'rm -rf "$work"' EXIT

go build -o "$work/gentree" ./bench/cmd/gentree
go build -o "$work/surveyonly" ./bench/cmd/surveyonly
qemu-img create -q -f qcow2 "$work/template.qcow2" 8G

# One run of "$@", output discarded: prints wall microseconds (bash's
# EPOCHREALTIME, no extra process inside the timed interval) and CPU
# milliseconds, user+sys, of the command (bash's time keyword).
TIMEFORMAT='%3U %3S'
time_us() {
	local s e u y
	s=${EPOCHREALTIME//[.,]/}
	{ time "$@" >/dev/null; } 2>"$work/cpu"
	e=${EPOCHREALTIME//[.,]/}
	read -r u y <"$work/cpu"
	echo "$((e - s)) $(awk -v u="$u" -v y="$y" 'BEGIN {print (u + y) * 1000}')"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

declare -A med_find med_survey med_ratio
printf '%-8s %10s %10s %8s %8s %13s %13s %9s\n' files find_ms survey_ms ratio ratio_m find_cpu_ms survey_cpu_ms cpu_ratio
for n in $SIZES; do
	tree="$work/tree-$n"
	"$work/gentree" -dir "$tree" -n "$n" -qcow2 "$work/template.qcow2"
	# Check the survey really sees every file, then warm both up.
	got=$("$work/surveyonly" "$tree")
	case "$got" in
	"volumes=$n blobs=0 diagnostics=0 "*) ;;
	*) echo "survey.sh: surveyonly on $n files said: $got" >&2; exit 1 ;;
	esac
	find "$tree" -printf '%s %T@\n' >/dev/null
	fs=() ss=() rs=() fc=() sc=()
	for ((r = 0; r < REPS; r++)); do
		# Alternate which goes first, so neither always runs right after
		# the other's cache effects.
		if ((r % 2)); then
			read -r s scpu < <(time_us "$work/surveyonly" "$tree")
			read -r f fcpu < <(time_us find "$tree" -printf '%s %T@\n')
		else
			read -r f fcpu < <(time_us find "$tree" -printf '%s %T@\n')
			read -r s scpu < <(time_us "$work/surveyonly" "$tree")
		fi
		fs+=("$f") ss+=("$s") fc+=("$fcpu") sc+=("$scpu")
		rs+=("$(awk -v s="$s" -v f="$f" 'BEGIN {printf "%.4f", s / f}')")
	done
	med_find[$n]=$(printf '%s\n' "${fs[@]}" | median)
	med_survey[$n]=$(printf '%s\n' "${ss[@]}" | median)
	med_ratio[$n]=$(printf '%s\n' "${rs[@]}" | median)
	mfc=$(printf '%s\n' "${fc[@]}" | median)
	msc=$(printf '%s\n' "${sc[@]}" | median)
	awk -v n="$n" -v f="${med_find[$n]}" -v s="${med_survey[$n]}" -v r="${med_ratio[$n]}" -v fc="$mfc" -v sc="$msc" \
		'BEGIN {printf "%-8s %10.2f %10.2f %8.2f %8.2f %13.1f %13.1f %9.2f\n", n, f / 1000, s / 1000, r, s / f, fc, sc, (fc > 0 ? sc / fc : 0)}'
	rm -rf "$tree"
done

missed=0
if [[ -n "${med_ratio[10000]:-}" ]]; then
	awk -v r="${med_ratio[10000]}" 'BEGIN {printf "median ratio survey/find at 10k: %.2f (goal <= 1.5): %s\n", r, (r <= 1.5 ? "met" : "MISSED")}'
	awk -v r="${med_ratio[10000]}" 'BEGIN {exit !(r > 1.5)}' && missed=1
fi
if [[ -n "${med_survey[100000]:-}" && -n "${med_survey[10000]:-}" ]]; then
	awk -v a="${med_survey[100000]}" -v b="${med_survey[10000]}" -v fa="${med_find[100000]}" -v fb="${med_find[10000]}" \
		'BEGIN {g = a / b; printf "survey growth t(100k)/t(10k): %.2f (goal <= 12): %s; find: %.2f\n", g, (g <= 12 ? "met" : "MISSED"), fa / fb}'
	awk -v a="${med_survey[100000]}" -v b="${med_survey[10000]}" 'BEGIN {exit !(a / b > 12)}' && missed=1
fi
echo "reps=$REPS cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
if ((STRICT && missed)); then
	exit 1
fi
