#!/usr/bin/env bash
# Instructions per TCP data segment, counted by callgrind (repeatable on a
# loaded machine, unlike time): bench/segcost.js runs under callgrind with
# instrumentation off (--instr-atstart=no) until its warm-up is done; it
# switches it on for the measured window and off after it
# (callgrind_control -i), so start-up, EAL and JIT warm-up are not counted.
# instructionsPerSegment counts every thread; mainThreadInstructionsPerSegment
# only the JavaScript thread (the stacks' own work): V8 compiles on
# background threads, and functions that become hot only inside the window
# (per-ACK code runs ~10x less often than per-segment code) add ~2,000-4,000
# instr/seg of TurboFan work there, varying from run to run.
#   bash bench/callgrind.sh [SEGMENTS] [WARMUP] [extra segcost flags, e.g. --conns 16 --link mem]
# With CALLGRIND_TOP=N it also prints the main thread's N costliest functions
# in instructions per segment (node runs with --perf-basic-prof so the JIT's
# code can be named: bench/callgrind-top.ts).
# Needs valgrind (Debian's package) and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}; w=${2:-50000}; shift $(( $# >= 2 ? 2 : $# ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
top=${CALLGRIND_TOP:-0}
prof=(); [ "$top" -gt 0 ] && prof=(--perf-basic-prof)
TZSTACK_CALLGRIND=1 valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no --callgrind-out-file="$out/cg" \
  node "${prof[@]}" dist/bench/segcost.js --segments "$n" --warmup "$w" --json "$@" >"$out/json" 2>"$out/log" \
  || { cat "$out/log" >&2; exit 1; }
ins=$(grep -o 'Collected : [0-9]*' "$out/log" | grep -o '[0-9]*$')
# With --separate-threads the main thread's counts are in cg-01.
main=$(grep -o '^totals: [0-9]*' "$out/cg-01" | grep -o '[0-9]*$')
node -e '
const [ins, main, file] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
console.log(JSON.stringify({ instructionsPerSegment: Math.round(ins / r.segments), mainThreadInstructionsPerSegment: Math.round(main / r.segments),
  segments: r.segments, instructions: ins, mainThreadInstructions: main, flags: process.argv.slice(4) }));
' "$ins" "$main" "$out/json" "$@"
if [ "$top" -gt 0 ]; then
  pid=$(grep -o '^==[0-9]*==' "$out/log" | head -1 | tr -d '=')
  node dist/bench/callgrind-top.js "$out/cg-01" "/tmp/perf-$pid.map" "$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).segments)' "$out/json")" "$top"
  rm -f "/tmp/perf-$pid.map" isolate-*-"$pid"-v8.log
fi
