/**
 * Worker threads on DPDK without a second EAL init: `Dpdk.attach` in each
 * worker over the main thread's pool and port, one queue per worker, with
 * the pool's accounting exact once the workers close.
 */
import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { Dpdk, type DpdkMempool, type DpdkPort } from '../src/pmd/dpdk.js';
import type { AttachJob } from './helpers/attach-worker.js';

const avail = Dpdk.availability();
const WORKER = new URL('./helpers/attach-worker.js', import.meta.url);

interface Msg { type: string; [k: string]: unknown }

function start(job: AttachJob): { w: Worker; next: () => Promise<Msg> } {
  const w = new Worker(WORKER, { workerData: job });
  const queue: Msg[] = [];
  const waiters: Array<(m: Msg) => void> = [];
  const push = (m: Msg): void => { const f = waiters.shift(); if (f) f(m); else queue.push(m); };
  w.on('message', push);
  w.on('error', (e) => push({ type: 'error', message: e.stack }));
  return { w, next: () => new Promise((r) => { const m = queue.shift(); if (m) r(m); else waiters.push(r); }) };
}

describe(avail.ok ? 'dpdk: worker threads (Dpdk.attach)' : `dpdk: worker threads (skipped: ${avail.reason})`, function () {
  this.timeout(60000);
  let dpdk: Dpdk;
  let pool: DpdkMempool | undefined;
  let port: DpdkPort | undefined;
  const workers: Worker[] = [];

  before(function () {
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    dpdk = Dpdk.init();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
    port?.close();
    port = undefined;
    if (pool) {
      expect(pool.inUse(), 'mbufs left').to.equal(0);
      dpdk.destroyPool(pool);
      pool = undefined;
    }
  });

  it('refuses a handle from another process', () => {
    const h = { pid: process.pid + 1, filePrefix: 'x', pools: [], ports: [] };
    expect(() => Dpdk.attach(h)).to.throw(/only in the process/);
  });

  for (const register of [true, false]) {
    it(`two workers${register ? ' registered as lcores' : ' (unregistered)'} loop frames through their own queues of one port and pool`, async () => {
      pool = dpdk.createPool({ count: 4095 });
      port = dpdk.openPort('net_ring0', { pool, rxQueues: 2, txQueues: 2 });
      const handle = dpdk.attachHandle({ ports: [port] });
      expect(handle.pools.map((p) => p.id)).to.deep.equal([pool.poolId]);
      const ws = [0, 1].map((queue) => start({ handle, portId: port!.portId, queue, frames: 20000, register }));
      workers.push(...ws.map((x) => x.w));
      const stashed = await Promise.all(ws.map((x) => x.next()));
      for (const s of stashed) expect(s.type, String(s.message)).to.equal('stashed');
      // Workers' stashes (40 singles each, a refill of 64 taken) count as in use from here until they close.
      expect(pool.inUse()).to.equal(128);
      // A worker sees the other's stash as in use once the other has stashed (they run concurrently).
      for (const s of stashed) expect(s.inUse).to.be.oneOf([0, 64]);
      const ids = stashed.map((s) => s.lcoreId as number);
      if (register) {
        expect(ids.every((id) => id > 0), `lcore ids ${ids}`).to.equal(true);
        expect(ids[0]).to.not.equal(ids[1]);
      } else {
        expect(ids).to.deep.equal([-1, -1]);
      }
      for (const x of ws) x.w.postMessage('go');
      const done = await Promise.all(ws.map((x) => x.next()));
      for (const d of done) {
        expect(d.type, String(d.message)).to.equal('done');
        expect(d).to.include({ sent: 20000, got: 20000, bad: 0, txPackets: 20000, rxPackets: 20000 });
      }
      expect(pool.inUse(), 'every mbuf back once the workers closed').to.equal(0);
    });
  }
});
