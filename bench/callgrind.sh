#!/usr/bin/env bash
# Instructions per TCP data segment, counted by callgrind (repeatable on a
# loaded machine, unlike time): bench/segcost.js runs twice with the same
# warm-up, for A and for B segments, and the difference of the two totals is
# divided by the difference of the segments, which cancels start-up, EAL
# and JIT warm-up.
#   bash bench/callgrind.sh [A] [B] [extra segcost flags, e.g. --conns 16 --link mem]
# Needs valgrind (Debian's package) and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
a=${1:-5000}; b=${2:-25000}; shift $(( $# >= 2 ? 2 : $# ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" node dist/bench/segcost.js \
    --segments "$1" --warmup 20000 --json "${@:2}" >"$out/json.$1" 2>"$out/log.$1" || { cat "$out/log.$1" >&2; exit 1; }
  grep -o 'Collected : [0-9]*' "$out/log.$1" | grep -o '[0-9]*$'
}
ia=$(count "$a" "$@")
ib=$(count "$b" "$@")
sa=$(node -p "JSON.parse(require('fs').readFileSync('$out/json.$a','utf8')).segments")
sb=$(node -p "JSON.parse(require('fs').readFileSync('$out/json.$b','utf8')).segments")
node -e "const d=($ib-$ia)/($sb-$sa); console.log(JSON.stringify({instructionsPerSegment: Math.round(d), segments: [$sa,$sb], instructions: [$ia,$ib], flags: process.argv.slice(1)}))" -- "$@"
