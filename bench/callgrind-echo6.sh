#!/usr/bin/env bash
# Instructions per echo round trip over IPv4 and over IPv6, counted by
# callgrind with instrumentation on for the measured window only (as
# bench/callgrind.sh does for TCP segments): bench/echo6cost.js.
#   bash bench/callgrind-echo6.sh [PINGS] [WARMUP]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}; w=${2:-50000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for fam in 4 6; do
  TZSTACK_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg$fam" \
    node dist/bench/echo6cost.js --family "$fam" --pings "$n" --warmup "$w" --json >"$out/json$fam" 2>"$out/log$fam" \
    || { cat "$out/log$fam" >&2; exit 1; }
  ins=$(grep -o 'Collected : [0-9]*' "$out/log$fam" | grep -o '[0-9]*$')
  echo "{\"family\":$fam,\"pings\":$n,\"instructions\":$ins,\"instructionsPerPing\":$((ins / n))}"
done
