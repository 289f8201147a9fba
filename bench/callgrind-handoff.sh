#!/usr/bin/env bash
# Instructions per hand-off, counted by callgrind (repeatable on a loaded
# machine): bench/handoff-instr.js runs each kind of operation with
# instrumentation on for the measured window only.
#   bash bench/callgrind-handoff.sh [N] [WARMUP] [KINDS...]   (kinds: ring clone post shard)
# Needs valgrind and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}; w=${2:-100000}; shift $(( $# >= 2 ? 2 : $# ))
kinds=("$@"); [ ${#kinds[@]} -gt 0 ] || kinds=(ring clone post shard)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for k in "${kinds[@]}"; do
  TZSTACK_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg-$k" \
    node dist/bench/handoff-instr.js --what "$k" --n "$n" --warmup "$w" >"$out/json-$k" 2>"$out/log-$k" \
    || { cat "$out/log-$k" >&2; exit 1; }
  ins=$(grep -o 'Collected : [0-9]*' "$out/log-$k" | grep -o '[0-9]*$')
  node -e '
const [ins, file] = [Number(process.argv[1]), process.argv[2]];
const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
console.log(JSON.stringify({ what: r.what, instructionsPerOp: Math.round(ins / r.ops), ops: r.ops, instructions: ins }));
' "$ins" "$out/json-$k"
done
