#!/usr/bin/env bash
# The tzstack demo: installs what is missing (scripts/setup.sh), then brings
# tzstack up on a veth pair over DPDK's af_packet driver and lets a real
# Linux host in a network namespace talk to it: ping, ARP, and (when the
# build has TCP services) an HTTP page and a download checked by sha256.
# Everything it creates is removed on exit, also on failure or Ctrl-C.
#
# Usage: bash scripts/demo.sh        (as root)
# Environment: DEMO_BYTES=<n> size of the HTTP download (default 10 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NS=tzT-demo
NEAR=tzTd-near
FAR=tzTd-far
NET=10.73.0
TZ_IP=$NET.1
HOST_IP=$NET.2
BYTES=${DEMO_BYTES:-10485760}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
  echo "demo: needs root (it creates a network namespace and opens a DPDK port); run: sudo bash scripts/demo.sh" >&2
  exit 1
fi

say "Installing whatever is missing (scripts/setup.sh)"
[ -f scripts/setup.sh ] || fail "scripts/setup.sh is missing from this checkout"
bash scripts/setup.sh
MAIN=$ROOT/dist/src/cli/main.js
[ -f "$MAIN" ] || fail "$MAIN was not built by scripts/setup.sh"

WORK=$(mktemp -d /tmp/tzstack-demo.XXXXXX)
LOG=$WORK/serve.log
STATS=$WORK/stats.json
TZ_PID=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$TZ_PID" ] && kill -0 "$TZ_PID" 2>/dev/null; then
    kill -INT "$TZ_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$TZ_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$TZ_PID" 2>/dev/null || true
  fi
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$NEAR" 2>/dev/null || true
  rm -rf "$WORK"
  if [ "$rc" = 0 ]; then echo; echo "demo: OK (namespace, veth and temporary files removed)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "Creating namespace $NS with a veth pair ($NEAR <-> $FAR), host $HOST_IP/24"
# A previous run killed hard may have left these behind.
ip netns del "$NS" 2>/dev/null || true
ip link del "$NEAR" 2>/dev/null || true
ip netns add "$NS"
ip link add "$NEAR" type veth peer name "$FAR"
ip link set "$FAR" netns "$NS"
# Frames must be on the wire exactly as each side wrote them: no checksum or
# segmentation offload on either veth end; no IPv6 chatter.
sysctl -qw "net.ipv6.conf.$NEAR.disable_ipv6=1" || true
ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$FAR.disable_ipv6=1" || true
ethtool -K "$NEAR" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$NS" ethtool -K "$FAR" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
ip link set "$NEAR" up
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip addr add "$HOST_IP/24" dev "$FAR"
ip netns exec "$NS" ip link set "$FAR" up

say "Starting: tzstack serve --dev net_af_packet0,iface=$NEAR --ip $TZ_IP/24"
node "$MAIN" serve --dev "net_af_packet0,iface=$NEAR" --ip "$TZ_IP/24" --stats "$STATS" >"$LOG" 2>&1 &
TZ_PID=$!
for _ in $(seq 300); do
  grep -q ready "$LOG" && break
  kill -0 "$TZ_PID" 2>/dev/null || { cat "$LOG"; fail "tzstack exited before it was ready"; }
  sleep 0.1
done
grep -q ready "$LOG" || { cat "$LOG"; fail "tzstack did not report ready within 30 s"; }
cat "$LOG"

say "ping -c 5 $TZ_IP (from the namespace)"
ip netns exec "$NS" ping -c 5 -W 2 "$TZ_IP" || fail "ping did not get 5 replies"

say "The namespace's neighbour table (tzstack's MAC learned by ARP)"
ip netns exec "$NS" ip neigh show dev "$FAR"
MAC=$(sed -n 's/.*ready .* mac \([0-9a-f:]\{17\}\).*/\1/p' "$LOG" | head -1)
ip netns exec "$NS" ip neigh show "$TZ_IP" dev "$FAR" | grep -q "$MAC" || fail "the neighbour table does not hold tzstack's MAC $MAC"

if grep -q 'tcp services' "$LOG"; then
  say "curl http://$TZ_IP/"
  ip netns exec "$NS" curl -sS --max-time 20 "http://$TZ_IP/" || fail "GET / failed"

  say "Downloading /bytes/$BYTES and checking its sha256"
  SPEED=$(ip netns exec "$NS" curl -sS --max-time 120 -o "$WORK/bytes" -w '%{speed_download}' "http://$TZ_IP/bytes/$BYTES") \
    || fail "GET /bytes/$BYTES failed"
  echo "received $(stat -c %s "$WORK/bytes") bytes at $(awk -v s="$SPEED" 'BEGIN { printf "%.1f", s * 8 / 1e6 }') Mbit/s"
  GOT=$(sha256sum "$WORK/bytes" | cut -d' ' -f1)
  rm -f "$WORK/bytes"
  # byte i of /bytes/<n> is (i * 31 + 7) mod 256 (src/app/pattern.ts)
  WANT=$(node -e '
    const n = Number(process.argv[1]); const h = require("crypto").createHash("sha256");
    const c = new Uint8Array(65536);
    for (let d = 0; d < n; d += c.length) { const k = Math.min(c.length, n - d);
      for (let i = 0; i < k; i++) c[i] = ((d + i) * 31 + 7) & 255; h.update(c.subarray(0, k)); }
    console.log(h.digest("hex"));' "$BYTES")
  echo "sha256 received $GOT"
  echo "sha256 expected $WANT"
  [ "$GOT" = "$WANT" ] || fail "the download does not match the documented pattern"

  say "POST /echo"
  REPLY=$(ip netns exec "$NS" curl -sS --max-time 20 --data-binary 'hello tzstack' "http://$TZ_IP/echo") || fail "POST /echo failed"
  echo "$REPLY"
  [ "$REPLY" = 'hello tzstack' ] || fail "POST /echo returned something else"
else
  say "This build has no TCP services: skipping HTTP"
fi

say "Stopping tzstack with SIGINT"
kill -INT "$TZ_PID"
RC=0
wait "$TZ_PID" || RC=$?
TZ_PID=
tail -n 2 "$LOG"
[ "$RC" = 0 ] || fail "tzstack exited with $RC"
[ -s "$STATS" ] || fail "tzstack wrote no stats"

say "Counters tzstack wrote to --stats"
node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const st = s.stack || {};
  const drops = (c) => Object.entries((c && c.drops) || {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ") || "none";
  console.log(`device    rx ${s.port.rxPackets} pkts / ${s.port.rxBytes} B, tx ${s.port.txPackets} pkts / ${s.port.txBytes} B, dropped rx ${s.port.rxDropped} tx ${s.port.txDropped}`);
  for (const layer of ["eth", "arp", "ip", "icmp", "tcp"]) {
    const c = st[layer] || s[layer];
    if (c && typeof c.rx === "number") console.log(`${layer.padEnd(9)} rx ${c.rx}, tx ${c.tx}, drops: ${drops(c)}`);
  }
  if (s.services) console.log(`services  ${JSON.stringify(s.services)}`);
  console.log(`mbufs     ${s.pool.inUseAtExit} of ${s.pool.capacity} still in use at exit`);
  if (s.pool.inUseAtExit !== 0) process.exit(1);
' "$STATS" || fail "mbufs were still in use at exit"
