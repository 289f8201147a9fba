#!/usr/bin/env bash
# Instructions per small RPC round trip (bench/rpccost.js: 1 connection,
# 64 B request, zero-copy echo), counted by callgrind with instrumentation on
# for the measured window only, as bench/callgrind.sh does for segments.
# mainThreadInstructionsPerRequest is the JavaScript thread's (the stacks'
# own work); instructionsPerRequest adds V8's background compiler threads.
# V8 tiers up at its own pace: take the lowest of 3 runs. bytesPerRequest
# above 0 marks a run whose window still ran baseline code (boxed doubles;
# seen as ^ functions with CALLGRIND_TOP): its figure is ~1,000-5,000 high.
#   bash bench/callgrind-rpc.sh [REQUESTS] [WARMUP] [extra rpccost flags, e.g. --size 256 --link mem]
# With CALLGRIND_TOP=N it also prints the main thread's N costliest
# functions in instructions per request (bench/callgrind-top.ts).
# Needs valgrind and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}; w=${2:-100000}; shift $(( $# >= 2 ? 2 : $# ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
top=${CALLGRIND_TOP:-0}
prof=(); [ "$top" -gt 0 ] && prof=(--perf-basic-prof)
TZSTACK_CALLGRIND=1 valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no --callgrind-out-file="$out/cg" \
  node "${prof[@]}" dist/bench/rpccost.js --requests "$n" --warmup "$w" --json "$@" >"$out/json" 2>"$out/log" \
  || { cat "$out/log" >&2; exit 1; }
ins=$(grep -o 'Collected : [0-9]*' "$out/log" | grep -o '[0-9]*$')
main=$(grep -o '^totals: [0-9]*' "$out/cg-01" | grep -o '[0-9]*$')
node -e '
const [ins, main, file] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
console.log(JSON.stringify({ instructionsPerRequest: Math.round(ins / r.requests), mainThreadInstructionsPerRequest: Math.round(main / r.requests),
  requests: r.requests, bytesPerRequest: r.bytesPerRequest, framesPerRequest: r.framesPerRequest, bytesCopied: r.bytesCopied, retransmits: r.retransmits, mbufsLeft: r.mbufsLeft, flags: process.argv.slice(4) }));
' "$ins" "$main" "$out/json" "$@"
if [ "$top" -gt 0 ]; then
  pid=$(grep -o '^==[0-9]*==' "$out/log" | head -1 | tr -d '=')
  node dist/bench/callgrind-top.js "$out/cg-01" "/tmp/perf-$pid.map" "$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).requests)' "$out/json")" "$top"
  rm -f "/tmp/perf-$pid.map" isolate-*-"$pid"-v8.log
fi
