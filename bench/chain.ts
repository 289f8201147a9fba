/**
 * A microservice chain (`npm run bench:chain`): a client stack sends
 * requests of `size` bytes to a front stack (both polled by the main
 * thread, over a net_ring pair); the front hands each request body to a
 * service thread, which transforms it (every byte XOR 0x20) and hands it
 * back; the front writes the reply on the client's connection. `bad`
 * counts replies that were wrong or could not be written while measuring. Three ways
 * between front and service, in one run:
 *
 * - `ring`: the received mbufs themselves over a HandoffRing and back (the
 *   service changes them in place; the front `writeMbuf`s the same mbufs):
 *   no copy, no serialization, no second TCP pass;
 * - `post`: the body copied out of the mbufs, `postMessage` there and back
 *   (structured clone each way), `write` (a copy) on the way out — what a
 *   Node application does with worker_threads;
 * - `tcp`: the front proxies to a TCP service on a second stack in the
 *   service thread over a second net_ring pair (zero-copy on both stacks,
 *   but a second TCP pass each way) — what a service mesh does.
 *
 * Reports requests/s and p50/p99 latency per way and size, and the ratio to
 * `ring`. Wall-time figures: on a loaded machine compare ratios only.
 */
import { Worker } from 'node:worker_threads';
import { HandoffRing } from '../src/mbuf/handoff-ring.js';
import { MbufLayout as L } from '../src/mbuf/layout.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { Dpdk, type DpdkMempool } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpState } from '../src/tcp/state.js';
import type { ChainJob } from './chain-worker.js';
import { LatencyRecorder, machineLoad, nowNs, progress, round, type Percentiles } from './measure.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

const WORKER = new URL('./chain-worker.js', import.meta.url);

/** One chain figure. */
export interface ChainRow { way: 'ring' | 'post' | 'tcp'; size: number; conns: number; reqPerSec: number; latencyUs: Percentiles; bad: number; vsRing?: number }

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function runChain(dpdk: Dpdk, pool: DpdkMempool, way: ChainRow['way'], size: number, conns: number, warmupMs: number, durationMs: number): Promise<ChainRow> {
  const [pc, pf] = dpdk.openRingPair({ pool, ringSize: 4096 });
  const client = new Stack({ port: pc, ip: '10.79.0.2/24', idleBackoff: false, tcp: { noDelay: true } });
  const front = new Stack({ port: pf, ip: '10.79.0.1/24', idleBackoff: false, tcp: { noDelay: true } });
  const stop = new SharedArrayBuffer(4);
  let upstream: Stack | undefined;
  let pu: ReturnType<Dpdk['openRingPair']> | undefined;
  const req = HandoffRing.create(4096);
  const rep = HandoffRing.create(4096);
  const job: ChainJob = { mode: way, stop };
  if (way === 'ring') Object.assign(job, { handle: dpdk.attachHandle({ pools: [pool] }), req: req.buffer, rep: rep.buffer });
  if (way === 'tcp') {
    pu = dpdk.openRingPair({ pool, ringSize: 4096 });
    upstream = new Stack({ port: pu[0], ip: '10.79.1.1/24', idleBackoff: false, tcp: { noDelay: true } });
    Object.assign(job, { handle: dpdk.attachHandle({ pools: [pool], ports: [pu[1]] }), portId: pu[1].portId, ip: '10.79.1.2/24' });
  }
  const w = new Worker(WORKER, { workerData: job });
  const msgs: Array<Record<string, unknown>> = [];
  let onReply: ((m: { idx: number; data: Uint8Array }) => void) | undefined;
  w.on('message', (m: Record<string, unknown>) => { if (m.type === undefined && onReply) onReply(m as unknown as { idx: number; data: Uint8Array }); else msgs.push(m); });
  while (!msgs.some((m) => m.type === 'ready')) { if (msgs.some((m) => m.type === 'error')) throw new Error(String(msgs[0].message)); await turn(); }

  // ---- the front ----
  const fconns: TcpConnection[] = [];
  const ups: TcpConnection[] = [];
  const pending = new Uint32Array(8192);
  let pendingN = 0;
  const acc = Array.from({ length: conns }, () => new Uint8Array(size));
  const accLen = new Float64Array(conns);
  let bad = 0;
  const l = front.tcp.listen(80, { backlog: 256 });
  l.onConnection = (c) => {
    const idx = fconns.length;
    fconns.push(c);
    if (way === 'tcp') {
      const u = upstream!.tcp.connect(0x0a4f0102 as Ip4, 9000, { noDelay: true });
      ups.push(u);
      u.onReadable = () => { for (let m = u.readMbuf(); m !== NO_MBUF; m = u.readMbuf()) if (!c.writeMbuf(m)) { pool.free(m); if (measuring) bad++; } };
      c.onReadable = () => {
        if (u.state !== TcpState.Established) return; // read again once connected
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) if (!u.writeMbuf(m)) { pool.free(m); if (measuring) bad++; }
      };
      u.onConnect = () => c.onReadable?.();
    } else if (way === 'ring') {
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
          pool.dv.setUint32(m + L.MBUF_HASH, idx, true); // which connection the reply goes to
          if (pendingN < pending.length) pending[pendingN++] = m; else { pool.free(m); bad++; }
        }
      };
    } else {
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
          for (let s = m; s !== NO_MBUF; s = pool.next(s)) {
            const p = pool.mtod(s);
            const n = pool.dataLen(s);
            acc[idx].set(pool.u8.subarray(p, p + n), accLen[idx]);
            accLen[idx] += n;
          }
          pool.free(m);
          if (accLen[idx] === size) { accLen[idx] = 0; w.postMessage({ idx, data: acc[idx].slice() }); }
        }
      };
    }
  };
  onReply = (m) => { fconns[m.idx].write(m.data); };
  const repBuf = new Uint32Array(64);
  const frontWork = (): void => {
    if (way !== 'ring') return;
    if (pendingN > 0) {
      const k = req.enqueue(pending, pendingN);
      pending.copyWithin(0, k, pendingN);
      pendingN -= k;
    }
    const n = rep.dequeue(repBuf, 64);
    for (let i = 0; i < n; i++) {
      const m = repBuf[i] as Mbuf;
      const c = fconns[pool.dv.getUint32(m + L.MBUF_HASH, true)];
      if (c === undefined || !c.writeMbuf(m)) { pool.free(m); if (measuring) bad++; }
    }
  };

  // ---- the client ----
  const msg = new Uint8Array(size).fill(0x5a);
  const lat = new LatencyRecorder(1 << 18);
  let measuring = false;
  let requests = 0;
  const cconns = Array.from({ length: conns }, () => {
    const c = client.tcp.connect(0x0a4f0001 as Ip4, 80, { noDelay: true });
    let got = 0;
    let sentAt = 0;
    c.onConnect = () => { sentAt = nowNs(); c.write(msg); };
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        if (got === 0 && pool.u8[pool.mtod(m)] !== (0x5a ^ 0x20)) bad++;
        got += pool.pktLen(m);
        pool.free(m);
      }
      while (got >= size) {
        got -= size;
        const t = nowNs();
        if (measuring) { lat.record(t - sentAt); requests++; }
        sentAt = t;
        c.write(msg);
      }
    };
    return c;
  });
  const loop = async (ms: number): Promise<void> => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      for (let i = 0; i < 32; i++) { client.poll(); front.poll(); upstream?.poll(); frontWork(); }
      await turn();
    }
  };
  await loop(warmupMs);
  measuring = true;
  const t0 = performance.now();
  await loop(durationMs);
  const seconds = (performance.now() - t0) / 1000;
  measuring = false;
  for (const c of cconns) { c.onReadable = undefined; c.abort(); }
  for (const u of ups) u.abort();
  await loop(50);
  Atomics.store(new Int32Array(stop), 0, 1);
  if (way === 'post') w.postMessage('stop');
  else while (!msgs.some((m) => m.type === 'done')) await turn();
  await w.terminate();
  // Whatever is still between front and service comes back to the pool.
  req.drain(pool);
  rep.drain(pool);
  pool.freeBulk(pending, pendingN);
  await client.close();
  await front.close();
  await upstream?.close();
  pu?.[1].close();
  return { way, size, conns, reqPerSec: requests / seconds, latencyUs: lat.percentiles(), bad };
}

/** Every way at 64 B and 8 KB. */
export async function runChainBench(o: { quick?: boolean } = {}): Promise<{ machine: ReturnType<typeof machineLoad>; rows: ChainRow[]; mbufsLeft: number }> {
  const a = Dpdk.availability();
  if (!a.ok) throw new Error(a.reason);
  const dpdk = Dpdk.init({ memMb: 512 });
  const pool = dpdk.createPool({ count: 16383, name: `tzX-chain-${process.pid}` });
  const machine = machineLoad();
  const rows: ChainRow[] = [];
  for (const size of [64, 8192]) {
    for (const way of ['ring', 'post', 'tcp'] as const) {
      progress(`chain: ${way}, ${size} B, 8 connections`);
      rows.push(await runChain(dpdk, pool, way, size, 8, o.quick ? 300 : 1000, o.quick ? 1000 : 3000));
    }
  }
  for (const r of rows) r.vsRing = r.reqPerSec / rows.find((x) => x.way === 'ring' && x.size === r.size)!.reqPerSec;
  const mbufsLeft = pool.inUse();
  if (mbufsLeft === 0) dpdk.destroyPool(pool);
  return { machine, rows, mbufsLeft };
}

async function main(argv: string[]): Promise<void> {
  const r = await runChainBench({ quick: argv.includes('--quick') });
  if (argv.includes('--json')) { process.stdout.write(`${JSON.stringify(r)}\n`); return; }
  const out = [`microservice chain: client → front → service thread → front → client (${r.machine.cpus} cores, load ${r.machine.loadavg1})`,
    'way | size | req/s | p50 µs | p99 µs | × ring | bad'];
  for (const x of r.rows) out.push(`${x.way} | ${x.size} | ${Math.round(x.reqPerSec)} | ${round(x.latencyUs.p50, 1)} | ${round(x.latencyUs.p99, 1)} | ${round(x.vsRing!, 2)} | ${x.bad}`);
  out.push(`mbufs left after the run: ${r.mbufsLeft}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`bench/chain: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
