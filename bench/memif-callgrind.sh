#!/usr/bin/env bash
# One side of the memif bulk row under callgrind, with cache simulation:
# instructions and simulated cache misses per TCP segment, repeatable on a
# loaded machine (timing is not). The other side runs natively, so the
# measured one (~50x slower under callgrind) is never kept waiting. It
# switches instrumentation on for its measured window only
# (TZSTACK_CALLGRIND=1, bench/worker.ts): the client's measured stretch, or
# on the server DURATION_MS from WARMUP_MS after the connection arrived.
#   bash bench/memif-callgrind.sh [zc|copy] [DURATION_MS] [WARMUP_MS] [client|server]
# Per segment sent (client) or received (server). LL is simulated as 32 MB
# (this machine's L3): an LL miss is a DRAM access. CALLGRIND_TOP=N also
# prints the N functions with the most LL read misses.
set -euo pipefail
cd "$(dirname "$0")/.."
api=${1:-zc}; dur=${2:-4000}; warm=${3:-15000}; side=${4:-client}
out=$(mktemp -d)
sock=/tmp/tzX-cg-$$.sock
bg=
cleanup() { if [ -n "$bg" ]; then kill "$bg" 2>/dev/null || true; wait "$bg" 2>/dev/null || true; fi; rm -rf "$out" "$sock"; }
trap cleanup EXIT
cg=(env TZSTACK_CALLGRIND=1 valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no
  --cache-sim=yes --LL=33554432,16,64 --callgrind-out-file="$out/cg")
srv=(node dist/bench/main.js --role server --dev "net_memif0,role=server,socket=$sock" --ip 10.75.2.1/24
  --max-seconds $(( (dur + warm) / 1000 + 300 )) --warmup "$warm" --duration "$dur")
cli=(node dist/bench/main.js --role client --dev "net_memif0,role=client,socket=$sock" --ip 10.75.2.2/24
  --peer 10.75.2.1 --workload bulk --api "$api" --size 65536 --conns 1)
if [ "$side" = server ]; then
  "${cg[@]}" "${srv[@]}" >"$out/srv" 2>"$out/log" &
  bg=$!
  for _ in $(seq 600); do grep -q '"event":"ready"' "$out/srv" && break; sleep 0.1; done
  # Long enough for the server's window at callgrind's pace.
  "${cli[@]}" --warmup 1000 --duration $(( (warm + dur) * 3 )) >/dev/null 2>&1 || true
  kill "$bg"; wait "$bg" || true; bg=
  grep '^{"role":"server"' "$out/srv" >"$out/res"
else
  "${srv[@]}" >"$out/srv" 2>/dev/null &
  bg=$!
  for _ in $(seq 200); do grep -q '"event":"ready"' "$out/srv" && break; sleep 0.1; done
  "${cg[@]}" "${cli[@]}" --warmup "$warm" --duration "$dur" 2>"$out/log" | grep '^{"role":"client"' >"$out/res"
fi
# The stack's worker thread is the thread with the most instructions.
main=$(for f in "$out"/cg-*; do echo "$(grep '^totals:' "$f" | cut -d' ' -f2) $f"; done | sort -n | tail -1 | cut -d' ' -f2)
tot=$(callgrind_annotate --sort=DLmr "$main" 2>/dev/null | grep 'PROGRAM TOTALS')
node -e '
const [res, tot, api, side] = process.argv.slice(1);
const r = JSON.parse(require("fs").readFileSync(res, "utf8"));
const segs = r.workers[0].segments;
const n = tot.replace(/\([^)]*\)/g, "").replace(/,/g, "").trim().split(/\s+/).map(Number);
const per = (x) => +(x / segs).toFixed(2);
console.log(JSON.stringify({ side, api, segments: segs, bytes: r.workers[0].bytes, instructionsPerSegment: Math.round(n[0] / segs),
  d1ReadMisses: per(n[4]), d1WriteMisses: per(n[5]), llReadMisses: per(n[7]), llWriteMisses: per(n[8]),
  mbufsHeldAtExit: r.mbufsHeldAtExit }));
' "$out/res" "$tot" "$api" "$side"
top=${CALLGRIND_TOP:-0}
if [ "$top" -gt 0 ]; then
  callgrind_annotate --sort=DLmr,DLmw,Ir "$main" 2>/dev/null | sed -n '/file:function/,$p' | head -$(( top + 2 )) | cut -c1-220
fi
