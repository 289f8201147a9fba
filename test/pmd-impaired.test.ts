import { expect } from 'chai';
import fc from 'fast-check';
import { NO_MBUF, TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { ImpairedPort, parseImpairSpec, copyPacket, type ImpairOptions } from '../src/pmd/impaired.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { txBurstOrFree } from '../src/pmd/port.js';
import type { Port } from '../src/pmd/port.js';
import { VirtualClock } from '../src/util/clock.js';

/** A frame of `len` bytes whose first 4 bytes carry `seq` and the rest a fixed pattern. */
function frame(pool: TsMempool, seq: number, len = 100): Mbuf {
  const m = pool.alloc();
  const at = pool.append(m, len);
  pool.dv.setUint32(at, seq);
  for (let i = 4; i < len; i++) pool.u8[at + i] = (i * 7) & 0xff;
  return m;
}

interface Harness {
  pool: TsMempool;
  clock: VirtualClock;
  imp: ImpairedPort;
  far: Port;
}

/** An impaired port on end A of an in-memory link, the clean end B as the peer. */
function harness(opts: ImpairOptions, count = 4096): Harness {
  const pool = new TsMempool({ count });
  const clock = new VirtualClock();
  const [a, b] = createLinkPair(pool, { ringSize: 16384 });
  const imp = new ImpairedPort(a, { clock, ...opts });
  return { pool, clock, imp, far: b };
}

/** Transmit `n` numbered frames through the impaired port in bursts. */
function sendMany(h: Harness, n: number, len = 100, start = 0): void {
  const v = new Uint32Array(32);
  for (let i = 0; i < n; i += 32) {
    const k = Math.min(32, n - i);
    for (let j = 0; j < k; j++) v[j] = frame(h.pool, start + i + j, len);
    h.imp.txBurst(v, k);
  }
}

/** Receive everything waiting on `port`, returning sequence numbers; frees the mbufs. */
function drain(pool: TsMempool, port: Port, check?: (m: Mbuf) => void): number[] {
  const v = new Uint32Array(64);
  const seqs: number[] = [];
  for (;;) {
    const n = port.rxBurst(v, 64);
    if (n === 0) return seqs;
    for (let i = 0; i < n; i++) {
      if (check) check(v[i] as Mbuf);
      seqs.push(pool.dv.getUint32(pool.mtod(v[i] as Mbuf)));
    }
    pool.freeBulk(v, n);
  }
}

function close(h: Harness): void {
  h.imp.close();
  h.far.close();
  expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
}

describe('pmd: ImpairedPort', () => {
  it('passes everything through unchanged with no impairment', () => {
    const h = harness({});
    sendMany(h, 500);
    const got = drain(h.pool, h.far);
    expect(got).to.deep.equal([...Array(500).keys()]);
    expect(h.imp.stats.txPackets).to.equal(500);
    expect(h.imp.impairStats.tx.out).to.equal(500);
    close(h);
  });

  it('loses packets at the configured rate, deterministically per seed', () => {
    const run = (seed: number): number[] => {
      const h = harness({ seed, tx: { loss: 0.1 } }, 12000);
      sendMany(h, 10000);
      const got = drain(h.pool, h.far);
      expect(h.imp.impairStats.tx.lost).to.equal(10000 - got.length);
      expect(got.length).to.be.within(8800, 9200);
      // order kept and no duplicates
      for (let i = 1; i < got.length; i++) expect(got[i]).to.be.greaterThan(got[i - 1]);
      close(h);
      return got;
    };
    const a = run(7);
    expect(run(7)).to.deep.equal(a);
    expect(run(8)).to.not.deep.equal(a);
  });

  it('duplicates into fresh mbufs, never the same mbuf twice', () => {
    const h = harness({ seed: 3, tx: { dup: 0.05 } });
    const seen = new Set<number>();
    let pairs = 0;
    const v = new Uint32Array(64);
    const sent = new Uint32Array(1);
    for (let i = 0; i < 4000; i++) {
      sent[0] = frame(h.pool, i);
      h.imp.txBurst(sent, 1);
      const n = h.far.rxBurst(v, 64);
      seen.clear();
      for (let j = 0; j < n; j++) {
        expect(seen.has(v[j]), 'same mbuf delivered twice').to.equal(false);
        seen.add(v[j]);
        expect(h.pool.dv.getUint32(h.pool.mtod(v[j] as Mbuf))).to.equal(i);
        expect(h.pool.pktLen(v[j] as Mbuf)).to.equal(100);
        expect(h.pool.u8[h.pool.mtod(v[j] as Mbuf) + 50]).to.equal((50 * 7) & 0xff);
      }
      if (n === 2) pairs++;
      else expect(n).to.equal(1);
      h.pool.freeBulk(v, n);
    }
    expect(pairs).to.equal(h.imp.impairStats.tx.duplicated);
    expect(pairs).to.be.within(140, 260);
    close(h);
  });

  it('copies multi-segment packets whole', () => {
    const pool = new TsMempool({ count: 64 });
    const bytes = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
    const m = pool.fromBytes(bytes);
    const c = copyPacket(pool, m);
    expect(c).to.not.equal(NO_MBUF);
    expect(pool.nbSegs(c)).to.equal(pool.nbSegs(m));
    expect(pool.toBytes(c)).to.deep.equal(bytes);
    pool.free(m);
    pool.free(c);
    // pool exhaustion: nothing leaks
    const small = new TsMempool({ count: 4 });
    const big = small.fromBytes(bytes);
    expect(copyPacket(small, big)).to.equal(NO_MBUF);
    expect(small.inUse()).to.equal(3);
    small.free(big);
    expect(pool.inUse()).to.equal(0);
    expect(small.inUse()).to.equal(0);
  });

  it('reorders: a held packet is overtaken by the next `gap` packets, all delivered once', () => {
    for (const gap of [1, 3]) {
      const h = harness({ seed: 11, tx: { reorder: 0.05, reorderGap: gap } }, 6000);
      sendMany(h, 5000);
      h.imp.flush();
      const got = drain(h.pool, h.far);
      expect([...got].sort((x, y) => x - y)).to.deep.equal([...Array(5000).keys()]);
      let late = 0;
      for (let i = 0; i < got.length; i++) {
        // a late packet is one smaller than its predecessor
        if (i > 0 && got[i] < got[i - 1]) {
          late++;
          expect(got[i - 1] - got[i]).to.equal(gap);
        }
      }
      expect(late).to.equal(h.imp.impairStats.tx.reordered);
      expect(late).to.be.within(150, 350);
      close(h);
    }
  });

  it('releases a held packet after the hold time when traffic stops', () => {
    const h = harness({ tx: { reorder: 1, reorderHoldMs: 20 } });
    sendMany(h, 1);
    expect(drain(h.pool, h.far)).to.deep.equal([]);
    expect(h.imp.pending()).to.equal(1);
    expect(h.imp.nextDue()).to.equal(20);
    h.clock.advance(19);
    h.imp.rxBurst(new Uint32Array(4), 4);
    expect(drain(h.pool, h.far)).to.deep.equal([]);
    h.clock.advance(1);
    h.imp.rxBurst(new Uint32Array(4), 4);
    expect(drain(h.pool, h.far)).to.deep.equal([0]);
    close(h);
  });

  it('delays by the clock, in order, releasing on later bursts', () => {
    const h = harness({ tx: { delayMs: 5 } });
    expect(h.imp.nextDue()).to.equal(Infinity);
    sendMany(h, 10);
    expect(h.imp.nextDue()).to.equal(5);
    h.clock.advance(2);
    sendMany(h, 10, 100, 10);
    expect(drain(h.pool, h.far)).to.deep.equal([]);
    expect(h.imp.pending()).to.equal(20);
    h.clock.advance(3);
    h.imp.rxBurst(new Uint32Array(4), 4);
    expect(drain(h.pool, h.far)).to.deep.equal([...Array(10).keys()]);
    h.clock.advance(2);
    h.imp.txBurst(new Uint32Array(0), 0);
    expect(drain(h.pool, h.far)).to.deep.equal([...Array(10).keys()].map((i) => i + 10));
    expect(h.imp.impairStats.tx.delayed).to.equal(20);
    expect(h.imp.pending()).to.equal(0);
    close(h);
  });

  it('delays received packets too, and jitter never reorders', () => {
    const h = harness({ seed: 5, rx: { delayMs: 10, jitterMs: 8 } });
    const v = new Uint32Array(32);
    for (let i = 0; i < 32; i++) v[i] = frame(h.pool, i);
    h.far.txBurst(v, 32);
    const out = new Uint32Array(64);
    expect(h.imp.rxBurst(out, 64)).to.equal(0);
    const got: number[] = [];
    for (let t = 0; t < 20; t++) {
      h.clock.advance(1);
      const n = h.imp.rxBurst(out, 64);
      for (let i = 0; i < n; i++) got.push(h.pool.dv.getUint32(h.pool.mtod(out[i] as Mbuf)));
      h.pool.freeBulk(out, n);
    }
    expect(got).to.deep.equal([...Array(32).keys()]);
    expect(h.imp.impairStats.rx.delayed).to.equal(32);
    close(h);
  });

  it('corrupts exactly one byte of a corrupted packet and marks the port as needing checksums', () => {
    const h = harness({ seed: 9, tx: { corrupt: 0.1 } });
    expect(h.imp.caps.checksumUnneeded).to.equal(false);
    sendMany(h, 2000, 64);
    let bad = 0;
    const got = drain(h.pool, h.far, (m) => {
      const at = h.pool.mtod(m);
      let diffs = 0;
      for (let i = 4; i < 64; i++) if (h.pool.u8[at + i] !== ((i * 7) & 0xff)) diffs++;
      if (diffs > 0) bad++;
      expect(diffs).to.be.at.most(1);
    });
    expect(got.length).to.equal(2000);
    const c = h.imp.impairStats.tx.corrupted;
    expect(c).to.be.within(150, 250);
    // a flip in the 4 sequence bytes is not seen by the checker above
    expect(bad).to.be.within(c - 30, c);
    close(h);
  });

  it('corrupts a private copy when the bytes are shared with another mbuf', () => {
    const h = harness({ tx: { corrupt: 1 } });
    const orig = frame(h.pool, 42, 200);
    const before = h.pool.toBytes(orig);
    const v = new Uint32Array(1);
    v[0] = h.pool.refSlice(orig, 0, 200);
    h.imp.txBurst(v, 1);
    const out = new Uint32Array(4);
    expect(h.far.rxBurst(out, 4)).to.equal(1);
    expect(h.pool.toBytes(out[0] as Mbuf)).to.not.deep.equal(before);
    expect(h.pool.toBytes(orig)).to.deep.equal(before);
    h.pool.free(out[0] as Mbuf);
    h.pool.free(orig);
    close(h);
  });

  it('limits the rate with a token bucket, queueing a bounded amount then dropping', () => {
    // 100 kB/s with a 10 kB bucket and a 20 kB queue; offer 1000-byte frames
    // at 400 kB/s for one simulated second.
    const h = harness({ tx: { rateBytesPerSec: 100_000, burstBytes: 10_000, queueBytes: 20_000 } });
    let bytes = 0;
    for (let ms = 0; ms < 1000; ms++) {
      if (ms % 10 === 0) sendMany(h, 4, 1000, ms);
      h.clock.advance(1);
      h.imp.rxBurst(new Uint32Array(1), 1);
      bytes += drain(h.pool, h.far).length * 1000;
    }
    const s = h.imp.impairStats.tx;
    // bucket + one second of rate (+ one frame of debt)
    expect(bytes).to.be.within(100_000, 111_000);
    expect(s.rateDropped).to.be.greaterThan(250);
    expect(s.rateQueued).to.be.greaterThan(0);
    expect(h.imp.pending()).to.be.at.most(20);
    close(h);
  });

  it('drops whatever exceeds the rate with queue=0', () => {
    const h = harness({ tx: { rateBytesPerSec: 10_000, burstBytes: 3000, queueBytes: 0 } });
    sendMany(h, 10, 1000);
    expect(drain(h.pool, h.far).length).to.equal(3);
    expect(h.imp.impairStats.tx.rateDropped).to.equal(7);
    expect(h.imp.stats.txDropped).to.equal(7);
    close(h);
  });

  it('close() frees every held packet', () => {
    const h = harness({ seed: 2, tx: { delayMs: 100, reorder: 0.3, dup: 0.3 }, rx: { delayMs: 100, rateBytesPerSec: 1000, burstBytes: 100 } });
    sendMany(h, 200);
    const v = new Uint32Array(32);
    for (let i = 0; i < 32; i++) v[i] = frame(h.pool, i);
    h.far.txBurst(v, 32);
    h.imp.rxBurst(new Uint32Array(1), 0);
    expect(h.imp.pending()).to.be.greaterThan(200);
    close(h);
  });

  it('property: any impairments and any sequence of operations conserve packets and leak nothing', () => {
    const dirArb = fc.record({
      loss: fc.double({ min: 0, max: 1, noNaN: true }),
      dup: fc.double({ min: 0, max: 1, noNaN: true }),
      reorder: fc.double({ min: 0, max: 1, noNaN: true }),
      reorderGap: fc.integer({ min: 1, max: 4 }),
      reorderHoldMs: fc.integer({ min: 0, max: 20 }),
      delayMs: fc.integer({ min: 0, max: 10 }),
      jitterMs: fc.integer({ min: 0, max: 5 }),
      corrupt: fc.double({ min: 0, max: 1, noNaN: true }),
      rateBytesPerSec: fc.constantFrom(0, 1000, 50_000),
      queueBytes: fc.constantFrom(0, 500, 5000),
    }, { requiredKeys: [] });
    const op = fc.oneof(
      fc.record({ k: fc.constant('tx' as const), n: fc.integer({ min: 0, max: 40 }), len: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ k: fc.constant('rx' as const), n: fc.integer({ min: 0, max: 40 }), len: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ k: fc.constant('tick' as const), n: fc.integer({ min: 0, max: 10 }), len: fc.constant(0) }),
      fc.record({ k: fc.constant('flush' as const), n: fc.constant(0), len: fc.constant(0) }),
    );
    fc.assert(fc.property(fc.integer(), dirArb, dirArb, fc.array(op, { maxLength: 30 }), (seed, tx, rx, ops) => {
      const h = harness({ seed, tx, rx, queueLimit: 64 }, 512);
      const v = new Uint32Array(64);
      const bytesOf = (n: number): Uint8Array => new Uint8Array(n).fill(0xab);
      const mk = (n: number, len: number): number => {
        let k = 0;
        for (; k < n; k++) {
          const m = h.pool.fromBytes(bytesOf(len));
          if (m === NO_MBUF) break;
          v[k] = m;
        }
        return k;
      };
      for (const o of ops) {
        if (o.k === 'tx') {
          const k = mk(o.n, o.len);
          const refused0 = h.imp.stats.txRefused;
          const took = h.imp.txBurst(v, k);
          // What a full pipeline refuses stays ours (the Port contract): counted, and freed here.
          expect(h.imp.stats.txRefused - refused0).to.equal(k - took);
          h.pool.freeBulk(v.subarray(took, k), k - took);
        }
        if (o.k === 'rx') { const k = mk(o.n, o.len); txBurstOrFree(h.far, v, k); }
        if (o.k === 'tick') h.clock.advance(o.n);
        if (o.k === 'flush') h.imp.flush();
        const n = h.imp.rxBurst(v, 64);
        h.pool.freeBulk(v, n);
        h.pool.freeBulk(v, h.far.rxBurst(v, 64));
        for (const s of [h.imp.impairStats.tx, h.imp.impairStats.rx]) {
          expect(s.in + s.duplicated).to.be.at.least(s.lost + s.rateDropped + s.overflow + s.out);
        }
      }
      h.imp.flush();
      h.pool.freeBulk(v, h.imp.rxBurst(v, 64));
      for (const s of [h.imp.impairStats.tx, h.imp.impairStats.rx]) {
        // after a flush nothing is held except what the rx queue still has ready
        expect(s.in + s.duplicated - s.lost - s.rateDropped - s.overflow - s.out).to.equal(0);
      }
      close(h);
    }), { numRuns: 200 });
  });
});

describe('pmd: parseImpairSpec', () => {
  it('parses every key, for both directions by default', () => {
    const s = parseImpairSpec('loss=0.02,dup=0.01,reorder=0.01,delay=5,seed=7,rate=100mbit,corrupt=0.001');
    expect(s.seed).to.equal(7);
    expect(s.tx).to.deep.equal({ loss: 0.02, dup: 0.01, reorder: 0.01, delayMs: 5, rateBytesPerSec: 12_500_000, corrupt: 0.001 });
    expect(s.rx).to.deep.equal(s.tx);
    expect(s.rx).to.not.equal(s.tx);
  });

  it('honours dir, percentages and units', () => {
    const s = parseImpairSpec('loss=2%,dir=rx,rate=8000,burst=16k,queue=1m,jitter=2ms,gap=3');
    expect(s.tx).to.equal(undefined);
    expect(s.rx).to.deep.equal({ loss: 0.02, rateBytesPerSec: 8000, burstBytes: 16384, queueBytes: 1 << 20, jitterMs: 2, reorderGap: 3 });
    expect(parseImpairSpec('dir=tx,delay=1').rx).to.equal(undefined);
    expect(parseImpairSpec('').seed).to.equal(1);
  });

  it('rejects bad specs with a message naming the key', () => {
    const bad: Array<[string, RegExp]> = [
      ['loss=2', /'loss'.*between 0 and 1/],
      ['loss=abc', /'loss'/],
      ['dup=-0.1', /'dup'/],
      ['delay=fast', /'delay'/],
      ['seed=1.5', /'seed'/],
      ['rate=10mbps', /'rate'/],
      ['dir=up', /'dir'/],
      ['colour=red', /unknown impairment 'colour'/],
      ['loss', /not key=value/],
      ['loss=0.1,loss=0.2', /'loss' given twice/],
      ['gap=0', /'gap'/],
    ];
    for (const [spec, re] of bad) expect(() => parseImpairSpec(spec), spec).to.throw(re);
  });
});
