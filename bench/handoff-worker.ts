/**
 * The far thread of bench/handoff.ts: receives payloads and hands them
 * back, by one of three means — the zero-copy ring (mbuf handles, the
 * payload touched in place), `postMessage` (the payload copied by
 * structured clone each way) or TCP over a net_ring pair (a second Stack on
 * the pair's other port, echoing zero-copy). Reports its thread's CPU time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HandoffRing } from '../src/mbuf/handoff-ring.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { Dpdk, type DpdkAttachHandle } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import { threadCpuNs } from './thread-cpu.js';
import type { Mbuf } from '../src/mbuf/index.js';

/** What bench/handoff.ts hands the worker. */
export interface HandoffBenchJob {
  mode: 'ring' | 'post' | 'tcp';
  count: number;
  handle?: DpdkAttachHandle;
  there?: SharedArrayBuffer;
  back?: SharedArrayBuffer;
  /** tcp: the pair's far port, our address. */
  portId?: number;
  ip?: string;
  /** Int32Array: [0] becomes 1 when the worker must stop. */
  stop: SharedArrayBuffer;
}

const job = workerData as HandoffBenchJob;
const stop = new Int32Array(job.stop);
const port = parentPort!;

function ring(): void {
  const dpdk = Dpdk.attach(job.handle!);
  const pool = dpdk.pool();
  const there = HandoffRing.attach(job.there!);
  const back = HandoffRing.attach(job.back!);
  const buf = new Uint32Array(32);
  const cpu0 = threadCpuNs();
  let moved = 0;
  const u8 = pool.u8;
  while (Atomics.load(stop, 0) === 0) {
    const n = there.dequeue(buf, 32);
    // "Process" each payload in place: read its first byte, write a reply byte.
    for (let i = 0; i < n; i++) { const p = pool.mtod(buf[i] as Mbuf); u8[p + 1] = u8[p] ^ 1; }
    let sent = 0;
    while (sent < n) sent += back.enqueue(buf, n - sent, sent);
    moved += n;
    // Nothing there: sleep until the producer hands something over.
    if (n === 0) there.wait(5);
  }
  const cpu = threadCpuNs() - cpu0;
  dpdk.close();
  port.postMessage({ type: 'done', moved, cpuNs: cpu });
}

function post(): void {
  const cpu0 = threadCpuNs();
  let moved = 0;
  port.on('message', (m: Uint8Array | Uint8Array[] | 'stop') => {
    if (m === 'stop') { port.postMessage({ type: 'done', moved, cpuNs: threadCpuNs() - cpu0 }); port.close(); return; }
    if (Array.isArray(m)) { for (const a of m) a[1] = a[0] ^ 1; moved += m.length; } else { m[1] = m[0] ^ 1; moved++; }
    port.postMessage(m);
  });
  port.postMessage({ type: 'ready' });
}

function tcp(): void {
  const dpdk = Dpdk.attach(job.handle!);
  const q = dpdk.queue(job.portId!, 0);
  const stack = new Stack({ port: q, ip: job.ip!, idleBackoff: false, tcp: { noDelay: true } });
  const pool = stack.pool;
  let moved = 0;
  const l = stack.tcp.listen(7);
  l.onConnection = (c) => {
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        moved += pool.pktLen(m);
        if (!c.writeMbuf(m)) pool.free(m);
      }
    };
    c.onPeerFin = () => c.close();
  };
  port.postMessage({ type: 'ready' });
  const cpu0 = threadCpuNs();
  while (Atomics.load(stop, 0) === 0) for (let i = 0; i < 64; i++) stack.poll();
  const cpu = threadCpuNs() - cpu0;
  void stack.close().then(() => {
    dpdk.close();
    port.postMessage({ type: 'done', moved, cpuNs: cpu });
  });
}

if (job.mode === 'ring') ring();
else if (job.mode === 'post') post();
else tcp();
