#!/usr/bin/env bash
# Instructions per unit of work, counted by callgrind (repeatable on a loaded
# machine, unlike time). The harness runs under callgrind with
# instrumentation off (--instr-atstart=no) until its warm-up is done; it
# switches it on for the measured window and off after it
# (callgrind_control -i, when TZSTACK_CALLGRIND=1), so start-up, EAL and JIT
# warm-up are not counted.
#   bash bench/callgrind.sh [--harness seg|rpc|echo6|handoff] [N] [WARMUP] [flags]
# Harnesses (N and WARMUP default to the figures in brackets):
#   seg      dist/bench/segcost.js, per TCP data segment [20000 50000];
#            flags go to segcost, e.g. --conns 16 --link mem. Both stacks
#            run on segcost's simulated clock (--sim-clock 500: 500 ns per
#            data segment, about the native cost) so that timers fire as
#            they would at native speed, not 50x more often; --real-clock
#            runs them on the wall clock instead.
#   rpc      dist/bench/rpccost.js, per small RPC round trip (1 connection,
#            64 B request, zero-copy echo) [20000 100000]; flags go to
#            rpccost, e.g. --size 256 --link mem.
#   echo6    dist/bench/echo6cost.js, per ping round trip, once over IPv4
#            and once over IPv6 [20000 50000].
#   handoff  dist/bench/handoff-instr.js, per hand-off [100000 100000]; flags
#            are the kinds to run (ring clone post shard, the default all).
# instructionsPer* counts every thread; mainThreadInstructionsPer* (seg,
# rpc) only the JavaScript thread (the stacks' own work): V8 compiles on
# background threads, and functions that become hot only inside the window
# (per-ACK code runs ~10x less often than per-segment code) add ~2,000-4,000
# instr/seg of TurboFan work there, varying from run to run. V8 tiers up at
# its own pace: take the lowest of 3 runs. rpc's bytesPerRequest above 0
# marks a run whose window still ran baseline code (boxed doubles; seen as ^
# functions with CALLGRIND_TOP): its figure is ~1,000-5,000 high.
# With CALLGRIND_TOP=N it also prints the main thread's N costliest
# functions per unit (node runs with --perf-basic-prof so the JIT's code can
# be named: bench/callgrind-top.ts). CALLGRIND_CACHE=1 simulates the caches
# too (last level 32 MB, this machine's L3) and the top list then ranks by
# last-level read misses (DLmr: reads from DRAM) per unit.
# Needs valgrind (Debian's package) and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
harness=seg
if [ "${1:-}" = --harness ]; then harness=${2:?--harness takes seg, rpc, echo6 or handoff}; shift 2; fi
# unit: what the harness counts (its JSON has the count as UNITs).
case $harness in
  seg) dn=20000 dw=50000 unit=segment ;;
  rpc) dn=20000 dw=100000 unit=request ;;
  echo6) dn=20000 dw=50000 unit=ping ;;
  handoff) dn=100000 dw=100000 unit=op ;;
  *) echo "callgrind.sh: no harness '$harness' (seg, rpc, echo6, handoff)" >&2; exit 2 ;;
esac
n=${1:-$dn}; w=${2:-$dw}; shift $(( $# >= 2 ? 2 : $# ))
flags=("$@")
if [ "$harness" = seg ]; then
  case " ${flags[*]:-} " in
    *" --real-clock "*) kept=(); for f in "${flags[@]}"; do [ "$f" = --real-clock ] || kept+=("$f"); done; flags=("${kept[@]}") ;;
    *" --sim-clock "*) ;;
    *) flags=(--sim-clock 500 "${flags[@]}") ;;
  esac
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
top=${CALLGRIND_TOP:-0}
prof=(); [ "$top" -gt 0 ] && prof=(--perf-basic-prof)
cache=(); event=Ir
if [ "${CALLGRIND_CACHE:-0}" = 1 ]; then cache=(--cache-sim=yes --LL=33554432,16,64); event=DLmr; fi
runs=0

# count SCRIPT ARGS...: one harness run under callgrind, then its JSON line
# (and with CALLGRIND_TOP its costliest functions).
count() {
  local cg="$out/cg$((++runs))"
  TZSTACK_CALLGRIND=1 valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no "${cache[@]}" --callgrind-out-file="$cg" \
    node "${prof[@]}" "$@" >"$cg.json" 2>"$cg.log" \
    || { cat "$cg.log" >&2; exit 1; }
  local ins main
  ins=$(grep -o 'Collected : [0-9]*' "$cg.log" | grep -o '[0-9]*$')
  # With --separate-threads the main thread's counts are in cg-01.
  main=$(grep -o '^totals: [0-9]*' "$cg-01" | grep -o '[0-9]*$')
  node -e '
const [harness, ins, main, file, ...flags] = process.argv.slice(1);
const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
const [i, m] = [Number(ins), Number(main)];
const row = {
  seg: () => ({ instructionsPerSegment: Math.round(i / r.segments), mainThreadInstructionsPerSegment: Math.round(m / r.segments),
    segments: r.segments, instructions: i, mainThreadInstructions: m, flags }),
  rpc: () => ({ instructionsPerRequest: Math.round(i / r.requests), mainThreadInstructionsPerRequest: Math.round(m / r.requests),
    requests: r.requests, bytesPerRequest: r.bytesPerRequest, framesPerRequest: r.framesPerRequest, bytesCopied: r.bytesCopied,
    retransmits: r.retransmits, mbufsLeft: r.mbufsLeft, flags }),
  echo6: () => ({ family: r.family, pings: r.pings, instructions: i, instructionsPerPing: Math.floor(i / r.pings) }),
  handoff: () => ({ what: r.what, instructionsPerOp: Math.round(i / r.ops), ops: r.ops, instructions: i }),
}[harness]();
console.log(JSON.stringify(row));
' "$harness" "$ins" "$main" "$cg.json" "${flags[@]}"
  if [ "$top" -gt 0 ]; then
    local pid units
    pid=$(grep -o '^==[0-9]*==' "$cg.log" | head -1 | tr -d '=')
    units=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2] + "s"])' "$cg.json" "$unit")
    node dist/bench/callgrind-top.js "$cg-01" "/tmp/perf-$pid.map" "$units" "$top" "$unit" "$event"
    rm -f "/tmp/perf-$pid.map" isolate-*-"$pid"-v8.log
  fi
}

case $harness in
  seg) count dist/bench/segcost.js --segments "$n" --warmup "$w" --json "${flags[@]}" ;;
  rpc) count dist/bench/rpccost.js --requests "$n" --warmup "$w" --json "${flags[@]}" ;;
  echo6) for fam in 4 6; do count dist/bench/echo6cost.js --family "$fam" --pings "$n" --warmup "$w" --json "${flags[@]}"; done ;;
  handoff)
    [ ${#flags[@]} -gt 0 ] || flags=(ring clone post shard)
    for k in "${flags[@]}"; do count dist/bench/handoff-instr.js --what "$k" --n "$n" --warmup "$w"; done ;;
esac
