#!/usr/bin/env bash
# Compare the feed-ingest benchmark of two commits on this machine: builds
# each commit's test binary with this work tree's benchmark (so that both
# are measured the same way), runs them in turns (the machine's speed
# drifts by tens of percent within an hour, so two runs taken minutes
# apart do not compare), and prints each side's medians. A commit older
# than Store.WaitForMerges (6a81c56) is measured without the work its
# merges leave at the end, which flatters it. The process's CPU time a
# round while crier ran drifts less with the machine than the times, and
# is printed too.
# Usage: bash bench/ingest-ab.sh OLD NEW [rounds, default 40] [turns, default 6]
# OLD and NEW are commits (NEW may be "." for the work tree as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bash bench/ingest-ab.sh OLD NEW [rounds] [turns]}
new=${2:?usage: bash bench/ingest-ab.sh OLD NEW [rounds] [turns]}
rounds=${3:-40}
turns=${4:-6}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
build() { # build REV OUT
	if [ "$1" = "." ]; then
		go test -c -o "$2" ./internal/ingest
	else
		git worktree add --quiet --detach --force "$work/tree" "$1"
		cp internal/ingest/bench_test.go "$work/tree/internal/ingest/bench_test.go"
		(cd "$work/tree" && go test -c -o "$2" ./internal/ingest)
		git worktree remove --force "$work/tree"
	fi
}
build "$old" "$work/old"
build "$new" "$work/new"
for i in $(seq "$turns"); do
	for side in old new; do
		(cd internal/ingest && "$work/$side" -test.run '^$' -test.bench FeedIngest -test.benchtime "${rounds}x") |
			awk -v side="$side" '/ns\/op/ { for (i = 4; i < NF; i++) v[$(i + 1)] = $i; print side, v["crier_items/s"], v["gofeed_items/s"], v["x_gofeed_time"], v["crier_cpu_ms/round"] }' >> "$work/runs"
	done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for side in old new; do
	rev=$old
	[ "$side" = new ] && rev=$new
	grep "^$side " "$work/runs" > "$work/$side.runs"
	printf '%s (%s), %d rounds, %d runs: crier %s items/s, gofeed %s items/s, %s x gofeed'"'"'s time, crier %s ms of CPU a round (medians); each run: %s\n' \
		"$side" "$rev" "$rounds" "$turns" \
		"$(cut -d' ' -f2 "$work/$side.runs" | median)" \
		"$(cut -d' ' -f3 "$work/$side.runs" | median)" \
		"$(cut -d' ' -f4 "$work/$side.runs" | median)" \
		"$(cut -d' ' -f5 "$work/$side.runs" | median)" \
		"$(cut -d' ' -f4 "$work/$side.runs" | tr '\n' ' ')"
done
