#!/usr/bin/env bash
# ab.sh REV [PAIRS] [peers flags...]: this harness built against the
# library at git revision REV ("old") and against the working tree
# ("new"), run in turn PAIRS times (6 by default), old first in odd rounds
# and new first in even ones so that a drift of the machine falls on both
# alike; then the paired comparison (go run . -compare). Both builds use
# this working tree's harness, so that only the library differs. The
# reports stay in the directory it prints. Flags after PAIRS go to every
# run; by default -systems gochatter,raw.
#
#	./ab.sh 89a955d 10 -only payload1k,conns
#	make bench-peers-ab REV=89a955d PAIRS=10 PEERSFLAGS="-only conns"
set -euo pipefail
cd "$(dirname "$0")"
if [ $# -lt 1 ]; then
	echo "usage: $0 REV [PAIRS] [peers flags...]" >&2
	exit 2
fi
rev=$1
pairs=${2:-6}
if ! [[ $pairs =~ ^[1-9][0-9]*$ ]]; then
	echo "$0: PAIRS must be a positive number, not \"$pairs\"" >&2
	exit 2
fi
shift $(($# >= 2 ? 2 : 1))
flags=("$@")
if [[ " ${flags[*]-} " != *" -systems "* ]]; then
	flags+=(-systems gochatter,raw)
fi
GO=${GO:-go}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
out=$(mktemp -d)
cleanup() {
	git -C "$root" worktree remove --force "$work/tree" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

git -C "$root" worktree add --detach "$work/tree" "$rev" >/dev/null
rm -rf "$work/tree/test/peers"
mkdir -p "$work/tree/test/peers"
# The harness's own files only: a report or binary lying here stays.
cp ./*.go go.mod go.sum "$work/tree/test/peers/"
(cd "$work/tree/test/peers" && "$GO" build -o "$work/peers-old" .)
"$GO" build -o "$work/peers-new" .
echo "old: $rev; new: the working tree; $pairs pairs; reports in $out" >&2
for i in $(seq 1 "$pairs"); do
	order="old new"
	if [ $((i % 2)) -eq 0 ]; then order="new old"; fi
	for v in $order; do
		echo "pair $i/$pairs: $v" >&2
		"$work/peers-$v" "${flags[@]}" -o "$out/$v-$i.md" >/dev/null
	done
done
"$GO" run . -compare "$out"
