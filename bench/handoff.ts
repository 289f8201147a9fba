/**
 * Hand-off and sharding, in one run (`npm run bench:handoff`):
 *
 * 1. Moving a 64-byte payload from one thread to another and back, per
 *    payload per hop: the zero-copy HandoffRing (the mbuf handle moves, the
 *    far thread touches the payload in place), `postMessage` of the same
 *    payload (structured clone, copied each way; one payload per message and
 *    32 per message) and TCP between two stacks on the two threads over a
 *    net_ring pair (zero-copy echo). Same window of payloads in flight for
 *    each; wall ns per hop, CPU ns per hop (both threads, from
 *    /proc/thread-self/schedstat), and ratios against the ring.
 * 2. Shards: a server ShardedStack and a client ShardedStack over a
 *    net_memif pair with 1 and then 2 queues, 64 B ping-pong RPCs from every
 *    client shard; requests/s per shard and in total, the server shards'
 *    CPU ns per request, and from that a projection to 8 and 16 cores
 *    (a projection, not a measurement: shared-nothing shards scale with
 *    cores while the NIC spreads flows evenly and memory keeps up).
 *
 * The machine's cores are stated: with 2 cores, the 2-shard run has four
 * busy threads (two server, two client shards) on two cores, so its wall
 * figures understate what 2 shards do on cores of their own; the CPU ns per
 * request is the figure to project from.
 */
import { Worker } from 'node:worker_threads';
import { HandoffRing } from '../src/mbuf/handoff-ring.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { Dpdk } from '../src/pmd/dpdk.js';
import { ShardedStack } from '../src/shard/sharded.js';
import { Stack } from '../src/stack.js';
import { TcpState } from '../src/tcp/state.js';
import { allocTxMbuf } from '../src/tcp/zc.js';
import type { HandoffBenchJob } from './handoff-worker.js';
import { threadCpuNs } from './thread-cpu.js';
import { machineLoad, progress, round, sleep, yieldLoop } from './measure.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

const WORKER = new URL('./handoff-worker.js', import.meta.url);
const PAYLOAD = 64;
const WINDOW = 256;

/** One hand-off figure. */
export interface HandoffRow { means: string; payloads: number; wallNsPerHop: number; cpuNsPerHop: number; vsRingWall?: number; vsRingCpu?: number }

/** What one shard pays per request, measured in one thread (no waiting for a core), and the projection from it. */
export interface ShardCost {
  /** Requests in the window. */
  requests: number;
  /** Server stack's share of the thread's CPU time, per request (ns). */
  serverNsPerReq: number;
  /** Client stack's, per request (ns). */
  clientNsPerReq: number;
  /** cores × 1e9 / serverNsPerReq: requests/s of that many shards on cores of their own (a projection). */
  projected: Record<'1' | '2' | '8' | '16', number>;
}

/** One shard figure. */
export interface ShardRow {
  shards: number; totalReqPerSec: number; perShardReqPerSec: number[];
  /** Server shards' thread CPU time per request (includes idle spinning: a busy-polling thread never sleeps). */
  serverCpuNsPerReq: number;
  /** Share of the server shards' polls that found work (1 = saturated). */
  serverBusyPollShare: number;
}

function startWorker(job: HandoffBenchJob): { w: Worker; next: () => Promise<Record<string, unknown>> } {
  const w = new Worker(WORKER, { workerData: job });
  const q: Array<Record<string, unknown>> = [];
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  w.on('message', (m: Record<string, unknown>) => { const f = waiters.shift(); if (f) f(m); else q.push(m); });
  w.on('error', (e) => { const f = waiters.shift(); if (f) f({ type: 'error', message: e.message }); });
  return { w, next: () => new Promise((r) => { const m = q.shift(); if (m) r(m); else waiters.push(r); }) };
}

async function ringRun(dpdk: Dpdk, count: number): Promise<HandoffRow> {
  const pool = dpdk.createPool({ count: 2047, name: `tzX-ho-${process.pid}` });
  const there = HandoffRing.create(1024);
  const back = HandoffRing.create(1024);
  const stop = new SharedArrayBuffer(4);
  const x = startWorker({ mode: 'ring', count, handle: dpdk.attachHandle({ pools: [pool] }), there: there.buffer, back: back.buffer, stop });
  const win = new Uint32Array(WINDOW);
  if (!pool.allocBulk(win, WINDOW)) throw new Error('pool empty');
  for (let i = 0; i < WINDOW; i++) { const p = pool.append(win[i] as Mbuf, PAYLOAD); pool.u8.fill(i & 0xff, p, p + PAYLOAD); }
  const buf = new Uint32Array(64);
  let pending = WINDOW; // in `win`, not yet enqueued
  let done = 0;
  const c0 = threadCpuNs();
  const t0 = performance.now();
  let off = 0;
  while (done < count) {
    if (pending > 0) { const k = there.enqueue(win, pending, off); off += k; pending -= k; }
    const n = back.dequeue(buf, 64);
    if (n > 0) {
      done += n;
      // The payloads come back to us: send them again.
      if (pending === 0) off = 0;
      win.set(buf.subarray(0, n), off + pending);
      pending += n;
    }
  }
  const wall = (performance.now() - t0) * 1e6;
  const cpuMain = threadCpuNs() - c0;
  Atomics.store(new Int32Array(stop), 0, 1);
  const r = await x.next();
  // Everything is back with us or in the rings: drain, free, check.
  there.drain(pool);
  back.drain(pool);
  pool.freeBulk(win.subarray(off), pending);
  await x.w.terminate();
  const left = pool.inUse();
  dpdk.destroyPool(pool);
  if (left !== 0) throw new Error(`ring run: ${left} mbufs left`);
  const hops = 2 * done;
  return { means: 'HandoffRing (zero copy)', payloads: done, wallNsPerHop: wall / hops, cpuNsPerHop: (cpuMain + (r.cpuNs as number)) / hops };
}

/**
 * What one hand-off costs without waiting for the other thread: enqueue and
 * dequeue of the same handles in one thread (bursts of 32), against
 * structured-clone serialization of the same payload (what postMessage does
 * each way, without the messaging).
 */
function intrinsicRows(count: number): HandoffRow[] {
  const ring = HandoffRing.create(1024);
  const h = new Uint32Array(32).map((_, i) => 64 + i * 2304);
  const out = new Uint32Array(32);
  const rounds = Math.ceil(count / 32);
  for (let w = 0; w < 2; w++) {
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) { ring.enqueue(h, 32); ring.dequeue(out, 32); }
    const ns = (performance.now() - t0) * 1e6;
    if (w === 1) {
      const payload = new Uint8Array(PAYLOAD).fill(7);
      const n = Math.min(count, 200000);
      structuredClone(payload);
      const t1 = performance.now();
      for (let i = 0; i < n; i++) structuredClone(payload);
      const cns = (performance.now() - t1) * 1e6;
      return [
        { means: 'one thread: HandoffRing enqueue + dequeue, bursts of 32', payloads: rounds * 32, wallNsPerHop: ns / (rounds * 32), cpuNsPerHop: ns / (rounds * 32) },
        { means: `one thread: structuredClone of the ${PAYLOAD} B payload`, payloads: n, wallNsPerHop: cns / n, cpuNsPerHop: cns / n },
      ];
    }
  }
  return [];
}

async function postRun(count: number, batch: number): Promise<HandoffRow> {
  const stop = new SharedArrayBuffer(4);
  const x = startWorker({ mode: 'post', count, stop });
  await x.next();
  let done = 0;
  const c0 = threadCpuNs();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const onMsg = (m: Uint8Array | Uint8Array[]): void => {
      done += Array.isArray(m) ? m.length : 1;
      if (done >= count) { x.w.off('message', onMsg); resolve(); return; }
      x.w.postMessage(m);
    };
    x.w.on('message', onMsg);
    for (let i = 0; i < WINDOW / batch; i++) {
      if (batch === 1) x.w.postMessage(new Uint8Array(PAYLOAD).fill(i));
      else x.w.postMessage(Array.from({ length: batch }, (_, k) => new Uint8Array(PAYLOAD).fill(i + k)));
    }
  });
  const wall = (performance.now() - t0) * 1e6;
  const cpuMain = threadCpuNs() - c0;
  x.w.postMessage('stop');
  let r = await x.next();
  while (r.type !== 'done') r = await x.next();
  await x.w.terminate();
  const hops = 2 * done;
  return {
    means: batch === 1 ? 'postMessage, 1 payload per message (copied)' : `postMessage, ${batch} payloads per message (copied)`,
    payloads: done, wallNsPerHop: wall / hops, cpuNsPerHop: (cpuMain + (r.cpuNs as number)) / hops,
  };
}

async function tcpRun(dpdk: Dpdk, count: number): Promise<HandoffRow> {
  const pool = dpdk.createPool({ count: 8191, name: `tzX-hot-${process.pid}` });
  const [pa, pb] = dpdk.openRingPair({ pool, ringSize: 4096 });
  const stop = new SharedArrayBuffer(4);
  const x = startWorker({ mode: 'tcp', count, handle: dpdk.attachHandle({ pools: [pool], ports: [pb] }), portId: pb.portId, ip: '10.76.0.2/24', stop });
  await x.next();
  const stack = new Stack({ port: pa, ip: '10.76.0.1/24', idleBackoff: false, tcp: { noDelay: true } });
  const c = stack.tcp.connect(0x0a4c0002 as Ip4, 7, { noDelay: true });
  for (let i = 0; i < 200000 && c.state !== TcpState.Established; i++) { stack.poll(); if (i % 1000 === 0) await yieldLoop(); }
  if (c.state !== TcpState.Established) throw new Error('tcp run: no connection');
  let got = 0;
  let sent = 0;
  c.onReadable = () => { for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { got += pool.pktLen(m); pool.free(m); } };
  const total = count * PAYLOAD;
  const c0 = threadCpuNs();
  const t0 = performance.now();
  while (got < total) {
    while (sent - got < WINDOW * PAYLOAD && sent < total) {
      const m = allocTxMbuf(pool, PAYLOAD);
      if (m === NO_MBUF) break;
      if (!c.writeMbuf(m)) { pool.free(m); break; }
      sent += PAYLOAD;
    }
    stack.poll();
  }
  const wall = (performance.now() - t0) * 1e6;
  const cpuMain = threadCpuNs() - c0;
  Atomics.store(new Int32Array(stop), 0, 1);
  const r = await x.next();
  c.abort();
  stack.poll();
  await stack.close();
  await x.w.terminate();
  pb.close();
  const left = pool.inUse();
  dpdk.destroyPool(pool);
  if (left !== 0) progress(`tcp run: ${left} mbufs left`);
  const hops = 2 * count;
  return { means: 'TCP over net_ring between two stacks (zero-copy echo)', payloads: count, wallNsPerHop: wall / hops, cpuNsPerHop: (cpuMain + (r.cpuNs as number)) / hops };
}

async function shardRun(dpdk: Dpdk, shards: number, conns: number, warmupMs: number, durationMs: number): Promise<ShardRow> {
  const sock = `/tmp/tzshard-bench-${process.pid}-${shards}.sock`;
  const module = new URL('./shard-rpc-app.js', import.meta.url);
  const common = { dpdk, shards, module, mbufs: 8191, portOptions: { checksumUnneeded: true }, stack: { idleBackoff: false, tcp: { noDelay: true } } };
  const server = await ShardedStack.start({ ...common, dev: `net_memif${10 + shards * 2},role=server,socket=${sock}`, ip: '10.77.0.1/24', data: { role: 'server' } });
  const client = await ShardedStack.start({ ...common, dev: `net_memif${11 + shards * 2},role=client,socket=${sock}`, ip: '10.77.0.2/24', data: { role: 'client' } });
  try {
    for (let i = 0; i < 200 && !(server.port.link().up && client.port.link().up); i++) await sleep(25);
    type Cpu = { cpuNs: number; busyPolls: number; idlePolls: number };
    const cpuOf = async (s: ShardedStack): Promise<Cpu[]> => {
      const out: Cpu[] = Array.from({ length: s.shards }, () => ({ cpuNs: 0, busyPolls: 0, idlePolls: 0 }));
      await new Promise<void>((resolve) => {
        let n = 0;
        const on = (_i: number, d: { kind: string; shard: number } & Cpu): void => {
          if (d.kind !== 'cpu') return;
          out[d.shard] = { cpuNs: d.cpuNs, busyPolls: d.busyPolls, idlePolls: d.idlePolls };
          if (++n === s.shards) { s.off('message', on); resolve(); }
        };
        s.on('message', on);
        s.send(-1, 'cpu');
      });
      return out;
    };
    const results = new Promise<Array<{ shard: number; requests: number; seconds: number; cpuNs: number }>>((resolve) => {
      const got: Array<{ shard: number; requests: number; seconds: number; cpuNs: number }> = [];
      const on = (_i: number, d: { kind: string; shard: number; requests: number; seconds: number; cpuNs: number }): void => {
        if (d.kind !== 'result') return;
        got.push(d);
        if (got.length === client.shards) { client.off('message', on); resolve(got.sort((a, b) => a.shard - b.shard)); }
      };
      client.on('message', on);
    });
    client.send(-1, { peer: '10.77.0.1', conns, size: 64, warmupMs, durationMs });
    await sleep(warmupMs);
    const s0 = await cpuOf(server);
    const res = await results;
    const s1 = await cpuOf(server);
    const perShard = res.map((r) => r.requests / r.seconds);
    const total = perShard.reduce((a, b) => a + b, 0);
    const serverCpu = s1.reduce((a, b, i) => a + (b.cpuNs - s0[i].cpuNs), 0);
    const reqs = res.reduce((a, r) => a + r.requests, 0);
    const busyPolls = s1.reduce((a, b, i) => a + (b.busyPolls - s0[i].busyPolls), 0);
    const idlePolls = s1.reduce((a, b, i) => a + (b.idlePolls - s0[i].idlePolls), 0);
    return {
      shards, totalReqPerSec: total, perShardReqPerSec: perShard, serverCpuNsPerReq: serverCpu / Math.max(1, reqs),
      serverBusyPollShare: busyPolls / Math.max(1, busyPolls + idlePolls),
    };
  } finally {
    const rc = await client.close();
    const rs = await server.close();
    if (rc.mbufsInUse + rs.mbufsInUse !== 0) progress(`shards ${shards}: ${rc.mbufsInUse + rs.mbufsInUse} mbufs left`);
  }
}

/**
 * One shard's cost per request without threads: a server and a client Stack
 * over a 1-queue net_memif pair polled by this thread in turn, each behind a
 * ShardPort of a 2-shard layout (so the per-frame steering check is paid),
 * 8 connections of 64 B ping-pong. The thread's CPU time is split between
 * the two stacks by the wall time of their polls.
 */
async function shardCost(dpdk: Dpdk, ms: number): Promise<ShardCost> {
  const { ShardPort } = await import('../src/shard/steer.js');
  const pool = dpdk.createPool({ count: 8191, name: `tzX-sc-${process.pid}` });
  const sock = `/tmp/tzshard-cost-${process.pid}.sock`;
  const a = dpdk.openPort(`net_memif30,role=server,socket=${sock}`, { pool, checksumUnneeded: true });
  const b = dpdk.openPort(`net_memif31,role=client,socket=${sock}`, { pool, checksumUnneeded: true });
  for (let i = 0; i < 200 && !(a.link().up && b.link().up); i++) await sleep(25);
  // The other shard of the layout does not run: what this one hands it (its ARP copies) waits in `toOther`, drained at the end.
  const toOther: HandoffRing[] = [];
  const wrap = (p: typeof a): InstanceType<typeof ShardPort> => {
    const out = HandoffRing.create(64);
    toOther.push(out);
    return new ShardPort(p, { shard: 0, shards: 2, inbound: [undefined, HandoffRing.create(64)], outbound: [undefined, out] });
  };
  const sa = new Stack({ port: wrap(a), ip: '10.78.0.1/24', idleBackoff: false, tcp: { noDelay: true } });
  const sb = new Stack({ port: wrap(b), ip: '10.78.0.2/24', idleBackoff: false, tcp: { noDelay: true, ephemeralLow: 32768, ephemeralHigh: 40000 } });
  const l = sa.tcp.listen(7);
  l.onConnection = (c) => { c.onReadable = () => { for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) if (!c.writeMbuf(m)) pool.free(m); }; };
  const msg = new Uint8Array(64).fill(0x42);
  let requests = 0;
  const conns = Array.from({ length: 8 }, () => {
    const c = sb.tcp.connect(0x0a4e0001 as Ip4, 7, { noDelay: true });
    let got = 0;
    c.onConnect = () => { c.write(msg); };
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { got += pool.pktLen(m); pool.free(m); }
      while (got >= 64) { got -= 64; requests++; c.write(msg); }
    };
    return c;
  });
  const run = (until: number): { ta: number; tb: number } => {
    let ta = 0;
    let tb = 0;
    while (performance.now() < until) {
      const t0 = performance.now(); sa.poll(); const t1 = performance.now(); sb.poll(); tb += performance.now() - t1; ta += t1 - t0;
    }
    return { ta, tb };
  };
  run(performance.now() + Math.min(500, ms / 2));
  const r0 = requests;
  const c0 = threadCpuNs();
  const { ta, tb } = run(performance.now() + ms);
  const cpu = threadCpuNs() - c0;
  const n = Math.max(1, requests - r0);
  for (const c of conns) { c.onReadable = undefined; c.abort(); }
  for (let i = 0; i < 50; i++) { sa.poll(); sb.poll(); }
  await sa.close();
  await sb.close();
  for (const r of toOther) { r.closeConsumer(); r.drain(pool); }
  const left = pool.inUse();
  dpdk.destroyPool(pool);
  if (left !== 0) progress(`shard cost: ${left} mbufs left`);
  const server = (cpu * ta) / (ta + tb) / n;
  const client = (cpu * tb) / (ta + tb) / n;
  return {
    requests: n, serverNsPerReq: server, clientNsPerReq: client,
    projected: { 1: 1e9 / server, 2: 2e9 / server, 8: 8e9 / server, 16: 16e9 / server },
  };
}

/** Run everything; `quick` shortens each part. */
export async function runHandoffBench(o: { quick?: boolean; only?: 'handoff' | 'shards' } = {}): Promise<{ machine: ReturnType<typeof machineLoad>; handoff: HandoffRow[]; shards: ShardRow[]; shardCost?: ShardCost }> {
  const a = Dpdk.availability();
  if (!a.ok) throw new Error(a.reason);
  const dpdk = Dpdk.init({ memMb: 512 });
  const count = o.quick ? 100000 : 1000000;
  const machine = machineLoad();
  progress(`handoff: ${count} payloads of ${PAYLOAD} B each way, window ${WINDOW}; ${machine.cpus} cores, load ${machine.loadavg1}`);
  const handoff: HandoffRow[] = [];
  if (o.only !== 'shards') {
    handoff.push(await ringRun(dpdk, count));
    handoff.push(await postRun(Math.min(count, 200000), 1));
    handoff.push(await postRun(count, 32));
    handoff.push(await tcpRun(dpdk, count));
    const ring = handoff[0];
    for (const r of handoff) { r.vsRingWall = r.wallNsPerHop / ring.wallNsPerHop; r.vsRingCpu = r.cpuNsPerHop / ring.cpuNsPerHop; }
    const intr = intrinsicRows(count);
    for (const r of intr) { r.vsRingWall = r.wallNsPerHop / intr[0].wallNsPerHop; r.vsRingCpu = r.cpuNsPerHop / intr[0].cpuNsPerHop; }
    handoff.push(...intr);
  }
  const shards: ShardRow[] = [];
  for (const n of o.only === 'handoff' ? [] : [1, 2]) {
    progress(`shards: ${n} server + ${n} client shards over net_memif with ${n} queue(s)`);
    shards.push(await shardRun(dpdk, n, 8, o.quick ? 500 : 1000, o.quick ? 1500 : 4000));
  }
  let cost: ShardCost | undefined;
  if (o.only !== 'handoff') {
    progress('shard cost: server and client stack of one shard in one thread');
    cost = await shardCost(dpdk, o.quick ? 1500 : 4000);
  }
  return { machine, handoff, shards, shardCost: cost };
}

function table(r: Awaited<ReturnType<typeof runHandoffBench>>): string {
  const lines: string[] = [];
  lines.push(`hand-off of a ${PAYLOAD} B payload between two threads (${r.machine.cpus} cores, load ${r.machine.loadavg1})`);
  lines.push('means | payloads | wall ns/hop | CPU ns/hop | × ring (wall) | × ring (CPU)');
  for (const h of r.handoff) {
    lines.push(`${h.means} | ${h.payloads} | ${round(h.wallNsPerHop, 1)} | ${round(h.cpuNsPerHop, 1)} | ${round(h.vsRingWall!, 2)} | ${round(h.vsRingCpu!, 2)}`);
  }
  lines.push('');
  lines.push(`sharded RPC, 64 B, 8 connections per client shard, net_memif (server and client shards share the ${r.machine.cpus} cores)`);
  lines.push('shards | total req/s | req/s per shard | server thread CPU ns/req (idle spin included) | server polls with work');
  for (const s of r.shards) {
    lines.push(`${s.shards} | ${Math.round(s.totalReqPerSec)} | ${s.perShardReqPerSec.map((x) => Math.round(x)).join(' / ')} | ${Math.round(s.serverCpuNsPerReq)} | ${round(s.serverBusyPollShare * 100, 3)} %`);
  }
  const c = r.shardCost;
  if (c) {
    lines.push('');
    lines.push(`one shard's cost per request, server and client stacks in one thread (no waiting for a core): server ${Math.round(c.serverNsPerReq)} CPU ns, client ${Math.round(c.clientNsPerReq)} CPU ns (${c.requests} requests)`);
    lines.push(`projected server req/s with shards on cores of their own (cores × 1e9 / server ns per request; a projection, not a measurement): 1: ${Math.round(c.projected[1])} · 2: ${Math.round(c.projected[2])} · 8: ${Math.round(c.projected[8])} · 16: ${Math.round(c.projected[16])}`);
  }
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--only');
  const only = i >= 0 ? argv[i + 1] : undefined;
  if (only !== undefined && only !== 'handoff' && only !== 'shards') throw new Error(`--only handoff|shards, not ${only}`);
  const r = await runHandoffBench({ quick: argv.includes('--quick'), only });
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`${table(r)}\n`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`bench/handoff: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
