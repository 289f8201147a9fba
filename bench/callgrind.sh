#!/usr/bin/env bash
# Instructions per TCP data segment, counted by callgrind (repeatable on a
# loaded machine, unlike time): bench/segcost.js runs under callgrind with
# instrumentation off (--instr-atstart=no) until its warm-up is done; it
# switches it on for the measured window and off after it
# (callgrind_control -i), so start-up, EAL and JIT warm-up are not counted.
#   bash bench/callgrind.sh [SEGMENTS] [WARMUP] [extra segcost flags, e.g. --conns 16 --link mem]
# Needs valgrind (Debian's package) and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}; w=${2:-50000}; shift $(( $# >= 2 ? 2 : $# ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
TZSTACK_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg" \
  node dist/bench/segcost.js --segments "$n" --warmup "$w" --json "$@" >"$out/json" 2>"$out/log" \
  || { cat "$out/log" >&2; exit 1; }
ins=$(grep -o 'Collected : [0-9]*' "$out/log" | grep -o '[0-9]*$')
node -e '
const [ins, file] = [Number(process.argv[1]), process.argv[2]];
const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
console.log(JSON.stringify({ instructionsPerSegment: Math.round(ins / r.segments), segments: r.segments, instructions: ins, flags: process.argv.slice(3) }));
' "$ins" "$out/json" "$@"
