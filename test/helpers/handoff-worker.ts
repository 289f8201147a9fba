/**
 * Worker thread for test/handoff-ring.test.ts. Modes:
 * - `numbers`: dequeue integers from `inRing` and enqueue each plus one into
 *   `outRing` until `count` have passed (no pool: ring mechanics only);
 * - `echo`: attach to the DPDK pool, dequeue mbufs, check their bytes,
 *   rewrite them in place and hand them back (ownership both ways);
 * - `consume-then-exit`: free `count` mbufs from `inRing`, then exit
 *   abruptly, leaving the rest in the ring;
 * - `produce-then-exit`: allocate `count` mbufs, hand what fits to
 *   `outRing`, free the rest, exit abruptly;
 * - `sleepy`: sleep in `inRing.wait` (up to 10 s) until one handle arrives,
 *   then post it and how long the wait took.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HandoffRing } from '../../src/mbuf/handoff-ring.js';
import { Dpdk, type DpdkAttachHandle } from '../../src/pmd/dpdk.js';
import type { Mbuf } from '../../src/mbuf/index.js';

/** What the test hands the worker. */
export interface HandoffJob {
  mode: 'numbers' | 'echo' | 'consume-then-exit' | 'produce-then-exit' | 'sleepy';
  inRing?: SharedArrayBuffer;
  outRing?: SharedArrayBuffer;
  count: number;
  handle?: DpdkAttachHandle;
}

const job = workerData as HandoffJob;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function main(): Promise<void> {
  const inRing = job.inRing ? HandoffRing.attach(job.inRing) : undefined;
  const outRing = job.outRing ? HandoffRing.attach(job.outRing) : undefined;
  const buf = new Uint32Array(32);
  if (job.mode === 'sleepy') {
    parentPort!.postMessage({ type: 'waiting' });
    const t0 = performance.now();
    const woke = inRing!.wait(10000);
    const ms = performance.now() - t0;
    const n = inRing!.dequeue(buf, 32);
    parentPort!.postMessage({ type: 'woke', woke, ms, n, value: buf[0] });
    return;
  }
  if (job.mode === 'numbers') {
    let moved = 0;
    while (moved < job.count) {
      const n = inRing!.dequeue(buf, 32);
      for (let i = 0; i < n; i++) buf[i] += 1;
      let sent = 0;
      while (sent < n) { sent += outRing!.enqueue(buf, n - sent, sent); if (sent < n) await turn(); }
      moved += n;
      if (n === 0) await turn();
    }
    parentPort!.postMessage({ type: 'done', moved });
    return;
  }
  const dpdk = Dpdk.attach(job.handle!);
  const pool = dpdk.pool();
  if (job.mode === 'echo') {
    let moved = 0;
    let bad = 0;
    while (moved < job.count) {
      const n = inRing!.dequeue(buf, 32);
      for (let i = 0; i < n; i++) {
        const m = buf[i] as Mbuf;
        const at = pool.mtod(m);
        const seq = pool.dv.getUint32(at);
        if (pool.pktLen(m) !== 64 || pool.dv.getUint32(at + 4) !== (seq ^ 0x5a5a5a5a)) bad++;
        pool.dv.setUint32(at + 4, seq ^ 0xa5a5a5a5); // the reply, written in place
      }
      let sent = 0;
      while (sent < n) { sent += outRing!.enqueue(buf, n - sent, sent); if (sent < n) await turn(); }
      moved += n;
      if (n === 0) await turn();
    }
    dpdk.close();
    parentPort!.postMessage({ type: 'done', moved, bad });
    return;
  }
  if (job.mode === 'consume-then-exit') {
    let freed = 0;
    while (freed < job.count) {
      const n = inRing!.dequeue(buf, Math.min(32, job.count - freed));
      pool.freeBulk(buf, n); // straight to DPDK: nothing stays in this thread's stash
      freed += n;
      if (n === 0) await turn();
    }
    parentPort!.postMessage({ type: 'consumed', freed });
    process.exit(3); // abrupt: no close, the ring still holds the rest
  }
  if (job.mode === 'produce-then-exit') {
    const all = new Uint32Array(job.count);
    if (!pool.allocBulk(all, job.count)) throw new Error('pool empty');
    const taken = outRing!.enqueue(all, job.count);
    pool.freeBulk(all.subarray(taken), job.count - taken);
    parentPort!.postMessage({ type: 'produced', taken });
    process.exit(4);
  }
}

main().catch((e: unknown) => parentPort!.postMessage({ type: 'error', message: e instanceof Error ? e.stack : String(e) }));
