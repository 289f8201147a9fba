/**
 * The zero-copy hand-off ring: order and wrap-around against a model queue,
 * a full ring's backpressure, a consumer that has gone, exact pool counts;
 * then across worker threads (integers without DPDK; DPDK mbufs handed
 * there and back, and a worker exiting mid-transfer with the owner draining
 * the ring).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { HandoffRing } from '../src/mbuf/handoff-ring.js';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { Dpdk, type DpdkMempool } from '../src/pmd/dpdk.js';
import { pinnedSeed } from './helpers/seed.js';
import type { HandoffJob } from './helpers/handoff-worker.js';
import type { Mbuf } from '../src/mbuf/index.js';

const SEED = pinnedSeed(1515);
const WORKER = new URL('./helpers/handoff-worker.js', import.meta.url);

interface Msg { type: string; [k: string]: unknown }

function start(job: HandoffJob): { w: Worker; next: () => Promise<Msg>; exited: Promise<number> } {
  const w = new Worker(WORKER, { workerData: job });
  const queue: Msg[] = [];
  const waiters: Array<(m: Msg) => void> = [];
  const push = (m: Msg): void => { const f = waiters.shift(); if (f) f(m); else queue.push(m); };
  w.on('message', push);
  w.on('error', (e) => push({ type: 'error', message: e.stack }));
  const exited = new Promise<number>((r) => w.once('exit', r));
  return { w, exited, next: () => new Promise((r) => { const m = queue.shift(); if (m) r(m); else waiters.push(r); }) };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe(`handoff ring: one thread (seed ${SEED})`, () => {
  it('rounds the capacity up to a power of two and refuses a foreign buffer', () => {
    expect(HandoffRing.create(5).capacity).to.equal(8);
    expect(HandoffRing.create(1).capacity).to.equal(1);
    expect(() => HandoffRing.create(0)).to.throw(RangeError);
    expect(() => HandoffRing.attach(new SharedArrayBuffer(1024))).to.throw(/bad magic/);
  });

  it('keeps order across wrap-around and takes only what fits (model queue)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 6 }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 })), { maxLength: 200 }), (logCap, ops) => {
        const ring = HandoffRing.create(1 << logCap);
        const cap = ring.capacity;
        const model: number[] = [];
        let next = 1;
        let refused = 0;
        const buf = new Uint32Array(64);
        for (const [isEnq, k] of ops) {
          if (isEnq) {
            for (let i = 0; i < k; i++) buf[i] = next + i;
            const took = ring.enqueue(buf, k);
            expect(took).to.equal(Math.min(k, cap - model.length));
            refused += k - took;
            for (let i = 0; i < took; i++) model.push(next + i);
            next += took;
          } else {
            const got = ring.dequeue(buf, k);
            expect(got).to.equal(Math.min(k, model.length));
            for (let i = 0; i < got; i++) expect(buf[i]).to.equal(model.shift());
          }
          expect(ring.count()).to.equal(model.length);
          expect(ring.free()).to.equal(cap - model.length);
        }
        expect(ring.refused).to.equal(refused);
      }), { seed: SEED, numRuns: 200 });
  });

  it('moves ownership: a full ring pushes back, the producer keeps the rest, and the pool count stays exact', () => {
    const pool = new TsMempool({ count: 64 });
    const ring = HandoffRing.create(16);
    const mine = new Uint32Array(40);
    expect(pool.allocBulk(mine, 40)).to.equal(true);
    const took = ring.enqueue(mine, 40);
    expect(took).to.equal(16);
    expect(ring.enqueueOne(mine[16] as Mbuf)).to.equal(false);
    expect(ring.refused).to.equal(25);
    expect(pool.inUse(), 'mbufs in the ring count as in use').to.equal(40);
    // The producer still owns mine[16..40): it frees them.
    pool.freeBulk(mine.subarray(16), 24);
    expect(pool.inUse()).to.equal(16);
    // The consumer gets exactly the 16 it was given, in order, and owns them.
    const got = new Uint32Array(32);
    expect(ring.dequeue(got, 32)).to.equal(16);
    for (let i = 0; i < 16; i++) expect(got[i]).to.equal(mine[i]);
    pool.freeBulk(got, 16);
    expect(pool.inUse()).to.equal(0);
  });

  it('takes nothing once the consumer has closed; drain frees what was left', () => {
    const pool = new TsMempool({ count: 32 });
    const ring = HandoffRing.create(8);
    const a = new Uint32Array(8);
    pool.allocBulk(a, 8);
    expect(ring.enqueue(a, 5)).to.equal(5);
    ring.closeConsumer();
    expect(ring.consumerClosed).to.equal(true);
    expect(ring.enqueue(a, 3, 5)).to.equal(0);
    pool.freeBulk(a.subarray(5), 3);
    expect(ring.drain(pool)).to.equal(5);
    expect(pool.inUse()).to.equal(0);
  });

  it('isExclusive: direct mbufs with refcount 1 only', () => {
    const pool = new TsMempool({ count: 8 });
    const m = pool.alloc();
    pool.append(m, 100);
    expect(HandoffRing.isExclusive(pool, m)).to.equal(true);
    const mi = pool.alloc();
    pool.attach(mi, m);
    expect(HandoffRing.isExclusive(pool, m), 'buffer shared with an indirect mbuf').to.equal(false);
    expect(HandoffRing.isExclusive(pool, mi), 'indirect').to.equal(false);
    pool.free(mi);
    expect(HandoffRing.isExclusive(pool, m)).to.equal(true);
    const t = pool.alloc();
    pool.chain(m, t);
    expect(HandoffRing.isExclusive(pool, m)).to.equal(true);
    pool.free(m);
    expect(pool.inUse()).to.equal(0);
  });
});

describe('handoff ring: two threads', function () {
  this.timeout(60000);

  it('passes 200,000 integers there and back through two 64-slot rings, in order', async () => {
    const there = HandoffRing.create(64);
    const back = HandoffRing.create(64);
    const total = 200000;
    const x = start({ mode: 'numbers', inRing: there.buffer, outRing: back.buffer, count: total });
    const buf = new Uint32Array(32);
    let sent = 0;
    let got = 0;
    let bad = 0;
    while (got < total) {
      const n = Math.min(32, total - sent);
      for (let i = 0; i < n; i++) buf[i] = sent + i;
      sent += there.enqueue(buf, n);
      const r = back.dequeue(buf, 32);
      for (let i = 0; i < r; i++) if (buf[i] !== got + i + 1) bad++;
      got += r;
      if (r === 0) await turn();
    }
    const done = await x.next();
    expect(done).to.include({ type: 'done', moved: total });
    expect(bad).to.equal(0);
    expect(there.refused + back.refused, 'a 64-slot ring filled up at least once (backpressure exercised)').to.be.greaterThan(0);
    await x.exited;
  });
});

describe('handoff ring: a sleeping consumer', function () {
  this.timeout(30000);
  it('wait() sleeps on an empty ring and the producer\'s enqueue wakes it', async () => {
    const ring = HandoffRing.create(8);
    expect(ring.wait(0), 'empty: nothing to wait for').to.equal(false);
    const x = start({ mode: 'sleepy', inRing: ring.buffer, count: 1 });
    expect((await x.next()).type).to.equal('waiting');
    await new Promise((r) => setTimeout(r, 100));
    expect(ring.enqueueOne(4242 as Mbuf)).to.equal(true);
    const woke = await x.next();
    expect(woke).to.include({ type: 'woke', woke: true, n: 1, value: 4242 });
    expect(woke.ms as number, 'woken by the enqueue, not by the 10 s timeout').to.be.below(9000);
    await x.exited;
    ring.enqueueOne(1 as Mbuf);
    expect(ring.wait(0), 'something there: returns at once').to.equal(true);
  });
});

const avail = Dpdk.availability();
describe(avail.ok ? 'handoff ring: DPDK mbufs between threads' : `handoff ring: DPDK mbufs between threads (skipped: ${avail.reason})`, function () {
  this.timeout(60000);
  let dpdk: Dpdk;
  let pool: DpdkMempool | undefined;
  const workers: Worker[] = [];

  before(function () {
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    dpdk = Dpdk.init();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
    if (pool) {
      expect(pool.inUse(), 'mbufs left').to.equal(0);
      dpdk.destroyPool(pool);
      pool = undefined;
    }
  });

  it('hands 20,000 mbufs to a worker and back: bytes rewritten in place, no copy, every mbuf returned', async () => {
    pool = dpdk.createPool({ count: 1023 });
    const there = HandoffRing.create(128);
    const back = HandoffRing.create(128);
    const total = 20000;
    const x = start({ mode: 'echo', inRing: there.buffer, outRing: back.buffer, count: total, handle: dpdk.attachHandle({ pools: [pool] }) });
    workers.push(x.w);
    const buf = new Uint32Array(32);
    const inFlight = new Set<number>();
    let sent = 0;
    let got = 0;
    let bad = 0;
    let pending = 0; // allocated, not yet taken by the ring
    while (got < total) {
      if (pending === 0 && sent < total) {
        pending = Math.min(32, total - sent);
        if (!pool.allocBulk(buf, pending)) { pending = 0; await turn(); continue; }
        for (let i = 0; i < pending; i++) {
          const at = pool.append(buf[i] as Mbuf, 64);
          pool.dv.setUint32(at, sent + i);
          pool.dv.setUint32(at + 4, (sent + i) ^ 0x5a5a5a5a);
        }
      }
      if (pending > 0) {
        const tx = buf.slice(0, pending);
        const took = there.enqueue(tx, pending);
        for (let i = 0; i < took; i++) inFlight.add(tx[i]);
        // Keep the refused ones for the next try (in order).
        buf.set(tx.subarray(took, pending));
        pending -= took;
        sent += took;
      }
      const rx = new Uint32Array(32);
      const r = back.dequeue(rx, 32);
      for (let i = 0; i < r; i++) {
        const m = rx[i] as Mbuf;
        if (!inFlight.delete(m)) bad++;
        const at = pool.mtod(m);
        if (pool.dv.getUint32(at + 4) !== ((pool.dv.getUint32(at) ^ 0xa5a5a5a5) >>> 0)) bad++;
      }
      pool.freeBulk(rx, r);
      got += r;
      if (r === 0) await turn();
    }
    const done = await x.next();
    expect(done).to.include({ type: 'done', moved: total, bad: 0 });
    expect(bad).to.equal(0);
    expect(inFlight.size).to.equal(0);
    await x.exited;
    expect(pool.inUse()).to.equal(0);
  });

  it('a consumer exiting mid-transfer: the owner closes its side and drains the ring, counts exact', async () => {
    pool = dpdk.createPool({ count: 1023 });
    const ring = HandoffRing.create(256);
    const x = start({ mode: 'consume-then-exit', inRing: ring.buffer, count: 100, handle: dpdk.attachHandle({ pools: [pool] }) });
    workers.push(x.w);
    const buf = new Uint32Array(200);
    expect(pool.allocBulk(buf, 200)).to.equal(true);
    expect(ring.enqueue(buf, 200)).to.equal(200);
    expect((await x.next()).type).to.equal('consumed');
    expect(await x.exited).to.equal(3);
    ring.closeConsumer();
    expect(ring.enqueue(buf, 1), 'nobody consumes any more').to.equal(0);
    expect(ring.drain(pool)).to.equal(100);
    expect(pool.inUse()).to.equal(0);
  });

  it('a producer exiting mid-transfer: what it handed over is drained by the owner, counts exact', async () => {
    pool = dpdk.createPool({ count: 1023 });
    const ring = HandoffRing.create(64);
    const x = start({ mode: 'produce-then-exit', outRing: ring.buffer, count: 200, handle: dpdk.attachHandle({ pools: [pool] }) });
    workers.push(x.w);
    expect(await x.next()).to.include({ type: 'produced', taken: 64 });
    expect(await x.exited).to.equal(4);
    expect(pool.inUse(), 'the 64 in the ring').to.equal(64);
    expect(ring.drain(pool)).to.equal(64);
    expect(pool.inUse()).to.equal(0);
  });
});
