/**
 * One line-rate worker: a whole Stack on one queue of the process's port,
 * shared-nothing (its own ARP table, TCP layer, connections and timers).
 * Server workers sink bulk data and echo RPCs; client workers run one
 * workload and post their figures. Started by linerate.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseIpv4 } from '../src/ip/addr.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { Stack } from '../src/stack.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpState } from '../src/tcp/state.js';
import { allocTxMbufFor } from '../src/tcp/zc.js';
import { LatencyRecorder, nowNs } from './measure.js';
import { Dpdk, type DpdkAttachHandle } from '../src/pmd/dpdk.js';
import { pickLocalPort, type RssConfig } from './rss.js';
import { UNDER_CALLGRIND, callgrindInstrument } from './callgrind-window.js';

/** TCP port of the bulk sink. */
export const SINK_PORT = 5201;
/** TCP port of the RPC echo service. */
export const ECHO_PORT = 7007;

/** What linerate.ts hands each worker. */
export interface WorkerJob {
  role: 'server' | 'client';
  queue: number;
  queues: number;
  portId: number;
  /** The main thread's pool and port, for `Dpdk.attach` (no second EAL init). */
  dpdk: DpdkAttachHandle;
  /** The port's RSS state (null when the device spreads nothing by hash, e.g. memif pairs queue i with i). */
  rss: RssConfig | null;
  ip: string;
  peer?: string;
  peerMac?: number[];
  workload: 'bulk' | 'rpc';
  api: 'zc' | 'copy';
  size: number;
  conns: number;
  warmupMs: number;
  durationMs: number;
  /** Int32Array over a SharedArrayBuffer: [0] becomes 1 when the worker must stop. */
  stop: SharedArrayBuffer;
}

/** What a worker posts back. */
export interface WorkerReport {
  queue: number;
  role: 'server' | 'client';
  /** Bytes the client's peer acknowledged (bulk) or the server received. */
  bytes: number;
  requests: number;
  seconds: number;
  /** Latency samples in ns (client RPC only). */
  samples?: Float64Array;
  connsEstablished: number;
  /** TCP segments the client sent in its measured window (under callgrind: the server's received in its window). */
  segments?: number;
  stack: Record<string, unknown>;
  /** The worker's EAL lcore id (-1: not registered, no per-lcore mempool cache). */
  lcoreId?: number;
}

const job = workerData as WorkerJob;
const stopFlag = new Int32Array(job.stop);
const stopped = (): boolean => Atomics.load(stopFlag, 0) !== 0;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function main(): Promise<WorkerReport> {
  const dpdk = Dpdk.attach(job.dpdk);
  try {
    const port = dpdk.queue(job.portId, job.queue);
    const stack = new Stack({ port, ip: job.ip, idleBackoff: false, tcp: { noDelay: true } });
    if (job.peer && job.peerMac) stack.arp.addStatic(parseIpv4(job.peer), Uint8Array.from(job.peerMac));
    let report: WorkerReport;
    try {
      report = job.role === 'server' ? await server(stack) : await client(stack);
    } finally {
      await stack.close();
    }
    report.stack = stack.stats();
    report.lcoreId = dpdk.lcoreId;
    return report;
  } finally {
    // Hands this thread's stashed mbufs back, so the main thread's count is exact.
    dpdk.close();
  }
}

/** Poll for up to `ms` (one event-loop turn), checking the stop flag. */
function pollFor(stack: Stack, ms: number, each?: () => void): void {
  const end = performance.now() + ms;
  while (performance.now() < end && !stopped()) {
    for (let i = 0; i < 32; i++) { stack.poll(); each?.(); }
  }
}

async function server(stack: Stack): Promise<WorkerReport> {
  const pool = stack.pool;
  let bytes = 0;
  let conns = 0;
  const sink = stack.tcp.listen(SINK_PORT, { backlog: 1024 });
  sink.onConnection = (c) => {
    conns++;
    c.onReadable = () => { for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { bytes += pool.pktLen(m); pool.free(m); } };
    c.onPeerFin = () => c.close();
  };
  const echo = stack.tcp.listen(ECHO_PORT, { backlog: 1024 });
  echo.onConnection = (c) => {
    conns++;
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        bytes += pool.pktLen(m);
        if (!c.writeMbuf(m)) pool.free(m);
      }
    };
    c.onPeerFin = () => c.close();
  };
  parentPort!.postMessage({ type: 'ready', queue: job.queue });
  const t0 = performance.now();
  // Under callgrind: a window of the run's duration, opened the warm-up after the first connection.
  let windowAt = Infinity;
  let windowEnd = Infinity;
  let segs0 = 0;
  let bytes0 = 0;
  let segments: number | undefined;
  let windowBytes: number | undefined;
  while (!stopped()) {
    pollFor(stack, 20);
    if (UNDER_CALLGRIND) {
      const now = performance.now();
      if (conns > 0 && windowAt === Infinity) windowAt = now + job.warmupMs;
      if (now >= windowAt && windowEnd === Infinity) {
        callgrindInstrument(true);
        segs0 = stack.tcp.counters.rx;
        bytes0 = bytes;
        windowEnd = performance.now() + job.durationMs;
      } else if (now >= windowEnd && segments === undefined) {
        segments = stack.tcp.counters.rx - segs0;
        windowBytes = bytes - bytes0;
        callgrindInstrument(false);
      }
    }
    await turn();
  }
  return {
    queue: job.queue, role: 'server', bytes: windowBytes ?? bytes, requests: 0, seconds: (performance.now() - t0) / 1000,
    connsEstablished: conns, segments, stack: {},
  };
}

async function client(stack: Stack): Promise<WorkerReport> {
  const pool = stack.pool;
  const peer = parseIpv4(job.peer!);
  const remotePort = job.workload === 'bulk' ? SINK_PORT : ECHO_PORT;
  const used = new Set<number>();
  const conns: TcpConnection[] = [];
  const written = new Float64Array(job.conns);
  const got = new Float64Array(job.conns);
  const sentAt = new Float64Array(job.conns);
  const lat = new LatencyRecorder(1 << 18);
  const msg = new Uint8Array(job.size).fill(0x77);
  let measuring = false;
  let requests = 0;
  for (let i = 0; i < job.conns; i++) {
    // With RSS over several queues, choose a local port whose replies the NIC steers to this queue.
    const localPort = job.rss && job.queues > 1
      ? pickLocalPort(job.rss, stack.localIp, peer, remotePort, job.queue, used)
      : undefined;
    const c = stack.tcp.connect(peer, remotePort, localPort !== undefined && localPort > 0 ? { localPort, noDelay: true } : { noDelay: true });
    const idx = i;
    if (job.workload === 'bulk') {
      const fill = (): void => {
        if (c.state !== TcpState.Established) return;
        while (c.sendSpace() >= job.size) {
          if (job.api === 'zc') {
            const m = allocTxMbufFor(c, job.size);
            if (m === NO_MBUF) break;
            if (!c.writeMbuf(m)) { pool.free(m); break; }
          } else if (c.write(msg) < job.size) {
            break;
          }
          written[idx] += job.size;
        }
      };
      c.onConnect = fill;
      c.onWritable = fill;
    } else {
      c.onConnect = () => { sentAt[idx] = nowNs(); c.write(msg); };
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { got[idx] += pool.pktLen(m); pool.free(m); }
        while (got[idx] >= job.size) {
          got[idx] -= job.size;
          const t = nowNs();
          if (measuring) { lat.record(t - sentAt[idx]); requests++; }
          sentAt[idx] = t;
          c.write(msg);
        }
      };
    }
    conns.push(c);
  }
  parentPort!.postMessage({ type: 'ready', queue: job.queue });
  const acked = (): number => {
    let s = 0;
    for (let i = 0; i < conns.length; i++) s += written[i] - conns[i].sendQueued();
    return s;
  };
  const refill = job.workload === 'bulk' ? (): void => { for (const c of conns) c.onWritable?.(); } : undefined;
  const runUntil = async (until: number): Promise<void> => {
    while (performance.now() < until && !stopped()) { pollFor(stack, Math.min(20, until - performance.now()), refill); await turn(); }
  };
  // Handshakes first (ARP, a memif peer still attaching, a lost SYN's RTO), bounded.
  const connectBy = performance.now() + 15000;
  while (!stopped() && performance.now() < connectBy && conns.some((c) => c.state === TcpState.SynSent)) {
    pollFor(stack, 20, refill);
    await turn();
  }
  await runUntil(performance.now() + job.warmupMs);
  callgrindInstrument(true);
  const bytes0 = acked();
  const segs0 = stack.tcp.counters.tx;
  measuring = true;
  const t0 = performance.now();
  await runUntil(t0 + job.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  measuring = false;
  const bytes = acked() - bytes0;
  const segments = stack.tcp.counters.tx - segs0;
  callgrindInstrument(false);
  const established = conns.filter((c) => c.state === TcpState.Established).length;
  for (const c of conns) { c.onWritable = undefined; c.onReadable = undefined; c.abort(); }
  pollFor(stack, 5);
  return {
    queue: job.queue, role: 'client', bytes, requests, seconds, connsEstablished: established, segments,
    samples: lat.samplesCopy(), stack: {},
  };
}

main().then(
  (r) => parentPort!.postMessage({ type: 'result', report: r }),
  (e: unknown) => parentPort!.postMessage({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) }),
);
