/**
 * What one small RPC round trip costs, over a fixed number of requests
 * rather than a fixed time, so that an instruction counter (callgrind) sees
 * the same work on every run: the RPC of bench/rpc.ts `tzRpc` (client: a
 * copying `write()` of `size` bytes with noDelay, `readMbuf`+free of the
 * echo; server: zero-copy echo, `readMbuf` → `writeMbuf`), one request in
 * flight per connection, between two stacks in this process over the
 * crossed `net_ring` pair (or the TypeScript memory link).
 *
 * `node dist/bench/rpccost.js [--requests N] [--warmup N] [--conns N] [--size B] [--link mem|net_ring] [--json]`
 * `bash bench/callgrind.sh --harness rpc` runs it under callgrind with instrumentation
 * switched on for the measured window only (TZSTACK_CALLGRIND=1).
 */
import { callgrindInstrument } from './callgrind-window.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpState } from '../src/tcp/state.js';
import { HeapMeter } from './heap-meter.js';
import { createStackPair, type LinkKind } from './link.js';
import { koffiCalls } from './segcost.js';

/** What {@link rpcCost} measured. */
export interface RpcCostResult {
  link: LinkKind;
  conns: number;
  size: number;
  /** Requests completed (echo fully back) in the measured window. */
  requests: number;
  /** Frames both ports transmitted per request (data and pure ACKs). */
  framesPerRequest: number;
  cpuNsPerRequest: number;
  /** JS heap bytes allocated per request, collections included (bench/heap-meter.ts). */
  bytesPerRequest: number;
  /** koffi calls per request (null unless TZSTACK_COUNT_CALLS was set). */
  koffiCallsPerRequest: number | null;
  koffiCalls: Record<string, number> | null;
  /** Bytes copied by both stacks in the window (the client's copying writes: size per request). */
  bytesCopied: number;
  retransmits: number;
  mbufsLeft: number;
}

/** Options of {@link rpcCost}. */
export interface RpcCostOptions { requests: number; warmup: number; conns: number; size: number; link: LinkKind }

const RPC_PORT = 7107;

/** Run the measurement; see the file comment. */
export async function rpcCost(o: RpcCostOptions): Promise<RpcCostResult> {
  const pair = await createStackPair({ kind: o.link, mbufs: Math.max(8191, o.conns * 64) });
  const { a, b, pool } = pair;
  const listener = b.tcp.listen(RPC_PORT, { backlog: Math.max(128, o.conns) });
  const servers: TcpConnection[] = [];
  let echoFailures = 0;
  listener.onConnection = (c) => {
    servers.push(c);
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        if (!c.writeMbuf(m)) { pool.free(m); echoFailures++; }
      }
    };
  };
  const msg = new Uint8Array(o.size).fill(0x5a);
  const got = new Float64Array(o.conns);
  let completed = 0;
  const clients: TcpConnection[] = [];
  for (let i = 0; i < o.conns; i++) {
    const c = a.tcp.connect(b.localIp, RPC_PORT, { noDelay: true });
    const idx = i;
    c.onConnect = () => { c.write(msg); };
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        got[idx] += pool.pktLen(m);
        pool.free(m);
      }
      while (got[idx] >= o.size) {
        got[idx] -= o.size;
        completed++;
        c.write(msg);
      }
    };
    clients.push(c);
  }
  const run = (n: number): void => {
    const want = completed + n;
    let idle = 0;
    while (completed < want) {
      if (pair.poll() === 0 && ++idle > 1_000_000) throw new Error(`rpccost: stalled after ${completed} requests`);
    }
  };
  run(o.warmup);
  const rtxOf = (t: typeof a.tcp.counters): number => t.retransmitsRto + t.retransmitsFast + t.retransmitsTlp + t.retransmitsRack;
  const rtx = (): number => rtxOf(a.tcp.counters) + rtxOf(b.tcp.counters);
  const copied0 = a.tcp.counters.bytesCopied + b.tcp.counters.bytesCopied;
  const rtx0 = rtx();
  const frames0 = a.port.stats.txPackets + b.port.stats.txPackets;
  const calls0 = await koffiCalls();
  const heap = new HeapMeter();
  heap.start();
  const done0 = completed;
  // Under bench/callgrind.sh --harness rpc: count instructions of the measured window only.
  callgrindInstrument(true);
  const cpu0 = process.cpuUsage();
  run(o.requests);
  const cpu = process.cpuUsage(cpu0);
  callgrindInstrument(false);
  const allocated = heap.stop();
  const requests = completed - done0;
  const calls1 = await koffiCalls();
  let calls: Record<string, number> | null = null;
  let callTotal = 0;
  if (calls0 && calls1) {
    calls = {};
    for (const k of Object.keys(calls1)) {
      const d = calls1[k] - (calls0[k] ?? 0);
      if (d > 0) { calls[k] = d / requests; callTotal += d; }
    }
  }
  const res: RpcCostResult = {
    link: pair.kind, conns: o.conns, size: o.size, requests,
    framesPerRequest: (a.port.stats.txPackets + b.port.stats.txPackets - frames0) / requests,
    cpuNsPerRequest: ((cpu.user + cpu.system) * 1000) / requests,
    bytesPerRequest: allocated.bytes / requests,
    koffiCallsPerRequest: calls ? callTotal / requests : null,
    koffiCalls: calls,
    bytesCopied: a.tcp.counters.bytesCopied + b.tcp.counters.bytesCopied - copied0,
    retransmits: rtx() - rtx0,
    mbufsLeft: -1,
  };
  const stalled = clients.filter((c) => c.state !== TcpState.Established).length + (echoFailures > 0 ? 1 : 0);
  if (stalled > 0) throw new Error(`rpccost: ${stalled} connections failed`);
  for (const c of clients) { c.onReadable = undefined; c.abort(); }
  for (const c of servers) { c.onReadable = undefined; c.abort(); }
  listener.close();
  for (let i = 0; i < 16; i++) pair.poll();
  res.mbufsLeft = await pair.close();
  return res;
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const r = await rpcCost({
    requests: Number(arg('requests', '20000')),
    warmup: Number(arg('warmup', '50000')),
    conns: Number(arg('conns', '1')),
    size: Number(arg('size', '64')),
    link: arg('link', 'net_ring') as LinkKind,
  });
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    process.stdout.write(`${r.link} conns=${r.conns} size=${r.size} requests=${r.requests} frames/req=${r.framesPerRequest.toFixed(3)} ` +
      `cpu_ns/req=${r.cpuNsPerRequest.toFixed(0)} bytes/req=${r.bytesPerRequest.toFixed(1)} ` +
      `koffi/req=${r.koffiCallsPerRequest === null ? '-' : r.koffiCallsPerRequest.toFixed(3)} copied=${r.bytesCopied} rtx=${r.retransmits} left=${r.mbufsLeft}\n`);
    if (r.koffiCalls) process.stdout.write(`${JSON.stringify(r.koffiCalls)}\n`);
  }
  process.exit(r.mbufsLeft === 0 ? 0 : 1);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1); });
}
