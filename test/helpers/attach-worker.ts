/**
 * Worker thread for test/dpdk-workers.test.ts: attaches to the main
 * thread's pool and port with `Dpdk.attach`, and loops frames through its
 * own queue of a `net_ring0` (tx queue q comes back on rx queue q).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Dpdk, type DpdkAttachHandle } from '../../src/pmd/dpdk.js';
import type { Mbuf } from '../../src/mbuf/index.js';

/** What the test hands the worker. */
export interface AttachJob { handle: DpdkAttachHandle; portId: number; queue: number; frames: number; register: boolean }

const job = workerData as AttachJob;
const wait = (): Promise<unknown> => new Promise((r) => parentPort!.once('message', r));

async function main(): Promise<void> {
  const dpdk = Dpdk.attach(job.handle, { registerThread: job.register });
  const pool = dpdk.pool();
  const q = dpdk.queue(job.portId, job.queue);
  // Singles go through the TypeScript stash: allocate some and free them.
  const singles: Mbuf[] = [];
  for (let i = 0; i < 40; i++) singles.push(pool.alloc());
  for (const m of singles) pool.free(m);
  parentPort!.postMessage({ type: 'stashed', lcoreId: dpdk.lcoreId, available: pool.available(), inUse: pool.inUse() });
  await wait();
  // Frames through the queue, each checked byte for byte.
  const tx = new Uint32Array(32);
  const rx = new Uint32Array(64);
  let sent = 0;
  let got = 0;
  let bad = 0;
  while (got < job.frames) {
    if (sent - got < 256 && sent < job.frames) {
      const n = Math.min(32, job.frames - sent);
      for (let i = 0; i < n; i++) {
        const m = pool.alloc();
        if (m < 0) throw new Error('pool empty');
        const at = pool.append(m, 64);
        pool.dv.setUint32(at, sent + i);
        pool.dv.setUint32(at + 4, job.queue);
        tx[i] = m;
      }
      const took = q.txBurst(tx, n);
      // Refused frames stay ours (Port contract): free them, the next round sends fresh ones.
      if (took < n) pool.freeBulk(tx.subarray(took, n), n - took);
      sent += took;
    }
    const r = q.rxBurst(rx, 64);
    for (let i = 0; i < r; i++) {
      const at = pool.mtod(rx[i] as Mbuf);
      if (pool.dv.getUint32(at + 4) !== job.queue || pool.pktLen(rx[i] as Mbuf) !== 64) bad++;
      pool.free(rx[i] as Mbuf);
    }
    got += r;
  }
  const stats = q.stats;
  dpdk.close();
  parentPort!.postMessage({ type: 'done', sent, got, bad, txPackets: stats.txPackets, rxPackets: stats.rxPackets });
}

main().catch((e: unknown) => parentPort!.postMessage({ type: 'error', message: e instanceof Error ? e.stack : String(e) }));
