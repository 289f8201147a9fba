#!/bin/bash
# The big SYN-flood run: `tzstack serve` on a veth
# (net_af_packet) whose far end sits in a namespace it makes; from there a
# flood of spoofed SYNs (scripts/synflood.py: random sources in the /24 that
# never answer, random ports, Linux's options) at full speed, while a
# legitimate client opens a connection to port 80 with curl every 50 ms;
# one second after the flood, 10 more in parallel. Reports the share of curls that succeeded during the
# flood and in the first second after it, and tzstack's SYN counters.
#
#   sudo bash scripts/synflood.sh [SYNS=100000] [RATE=0 (full speed)]
#
# Done when: >= 90 % during, 100 % within 1 s after. Needs root, DPDK, curl,
# python3; removes everything it made.
set -u
SYNS=${1:-100000}
RATE=${2:-0}
cd "$(dirname "$0")/.."
NS=tzsf$$; NEAR=tzsf$$v; FAR=tzsf$$f; NET=10.79.$(( $$ % 200 + 10 ))
DIR=$(mktemp -d /tmp/tzsf.XXXXXX)
TZ=
cleanup() {
  [ -n "$TZ" ] && kill -INT "$TZ" 2>/dev/null && wait "$TZ" 2>/dev/null
  ip link del "$NEAR" 2>/dev/null; ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$NS"
ip link add "$NEAR" type veth peer name "$FAR"
ip link set "$FAR" netns "$NS"
for d in "$NEAR"; do sysctl -qw net.ipv6.conf.$d.disable_ipv6=1; ethtool -K $d tx off rx off tso off gso off gro off >/dev/null 2>&1; done
ip netns exec "$NS" sysctl -qw net.ipv6.conf.$FAR.disable_ipv6=1
ip netns exec "$NS" ethtool -K "$FAR" tx off rx off tso off gso off gro off >/dev/null 2>&1
ip link set "$NEAR" up
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip addr add $NET.2/24 dev "$FAR"
ip netns exec "$NS" ip link set "$FAR" up

node dist/src/cli/main.js serve --dev net_af_packet0,iface=$NEAR --ip $NET.1/24 --stats "$DIR/stats.json" --mem 512 >"$DIR/serve.out" 2>"$DIR/serve.err" &
TZ=$!
for i in $(seq 100); do grep -q ready "$DIR/serve.out" 2>/dev/null && break; sleep 0.1; done
grep ready "$DIR/serve.out" || { echo "tzstack serve did not start:"; cat "$DIR/serve.err"; exit 1; }
MAC=$(grep -o 'mac [0-9a-f:]\{17\}' "$DIR/serve.out" | cut -d' ' -f2)
ip netns exec "$NS" ping -c 1 -W 2 $NET.1 >/dev/null || { echo "no ping"; exit 1; }

curl1() { # $1 = file to append the HTTP code to
  ip netns exec "$NS" curl -sS -o /dev/null -w '%{http_code}\n' --max-time 5 http://$NET.1/ >>"$1" 2>/dev/null
}
curls() { local p=; for i in $(seq 10); do curl1 "$1" & p="$p $!"; done; wait $p; }
echo "flooding $SYNS spoofed SYNs at ${RATE:-0} frames/s (0 = full speed) ..."
ip netns exec "$NS" /usr/bin/python3 scripts/synflood.py "$FAR" "$MAC" $NET.1 80 "$SYNS" 7 "$RATE" >"$DIR/flood.out" &
FL=$!
until grep -q sending "$DIR/flood.out" 2>/dev/null || ! kill -0 $FL 2>/dev/null; do sleep 0.01; done
# A new connection every 50 ms while the flood lasts (each may take up to 5 s).
PIDS=
while kill -0 $FL 2>/dev/null; do curl1 "$DIR/during" & PIDS="$PIDS $!"; sleep 0.05; done
wait $FL
END=$(date +%s.%N)
grep sent "$DIR/flood.out"
sleep 1
curls "$DIR/after"
wait $PIDS
AFTER_AT=$(echo "$(date +%s.%N) - $END" | bc)
count() { [ -f "$1" ] && grep -c "$2" "$1" || echo 0; }
DT=$(count "$DIR/during" .); DOK=$(count "$DIR/during" '^200$')
AT=$(count "$DIR/after" .); AOK=$(count "$DIR/after" '^200$')
kill -INT "$TZ"; wait "$TZ"; TZ=
echo "curls during the flood: $DOK / $DT succeeded ($(( DT > 0 ? 100 * DOK / DT : 0 )) %)"
echo "curls 1 s after it ended (done ${AFTER_AT} s after): $AOK / $AT succeeded"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const find = (o) => { if (o && typeof o === "object") { if ("synCookiesSent" in o) return o; for (const v of Object.values(o)) { const r = find(v); if (r) return r; } } return null; };
const t = find(s) || {};
for (const k of ["synQueueOverflow", "synCookiesSent", "synCookiesValid", "synCookiesInvalid", "synAckTimeouts", "listenOverflows", "passiveOpens", "established"]) console.log(`  tcp.${k} ${t[k]}`);
const pool = JSON.stringify(s).match(/"(inUse|poolInUse)":(\d+)/); if (pool) console.log(`  pool in use at exit ${pool[2]}`);
' "$DIR/stats.json"
rm -rf "$DIR"
[ "$DT" -gt 0 ] && [ $(( 100 * DOK )) -ge $(( 90 * DT )) ] && [ "$AOK" = "$AT" ]
