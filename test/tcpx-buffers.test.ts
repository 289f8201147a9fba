import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { NO_MBUF, TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { SendBuffer } from '../src/tcp/send-buffer.js';
import { OooQueue, RecvBuffer, trimFront } from '../src/tcp/recv-buffer.js';
import { seqAdd, seqDiff } from '../src/tcp/seq.js';

function pattern(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt * 7 + (i >> 8)) & 0xff;
  return b;
}

describe('tcpx/send-buffer', () => {
  it('slices any range without copying and frees exactly once on ack', () => {
    // small data room: application chains span several segments
    const pool = new TsMempool({ count: 2048, dataRoom: 50 });
    const op = fc.oneof(
      fc.record({ k: fc.constant('push' as const), len: fc.integer({ min: 0, max: 300 }) }),
      fc.record({ k: fc.constant('slice' as const), off: fc.nat(2000), len: fc.integer({ min: 1, max: 400 }), keep: fc.boolean() }),
      fc.record({ k: fc.constant('ack' as const), n: fc.nat(500) }),
      fc.record({ k: fc.constant('freeSlices' as const) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const sb = new SendBuffer(pool);
      let model: number[] = [];
      let salt = 0;
      const inflight: Array<{ m: Mbuf; bytes: Uint8Array }> = [];
      for (const o of ops) {
        if (o.k === 'push') {
          const b = pattern(o.len, ++salt);
          const m = o.len === 0 ? pool.alloc() : pool.fromBytes(b);
          sb.push(m);
          model = model.concat(Array.from(b));
        } else if (o.k === 'slice') {
          const s = sb.slice(pool, o.off, o.len);
          if (o.off + o.len > model.length) { expect(s).to.equal(NO_MBUF); continue; }
          expect(s).to.not.equal(NO_MBUF);
          const want = Uint8Array.from(model.slice(o.off, o.off + o.len));
          expect(pool.pktLen(s)).to.equal(o.len);
          expect(pool.countSegs(s)).to.equal(pool.nbSegs(s));
          expect(pool.toBytes(s)).to.deep.equal(want);
          for (let x = s; x !== NO_MBUF; x = pool.next(x)) expect(pool.isDirect(x)).to.equal(false);
          if (o.keep) inflight.push({ m: s, bytes: want }); else pool.free(s);
        } else if (o.k === 'ack') {
          const got = sb.ack(o.n);
          expect(got).to.equal(Math.min(o.n, model.length));
          model = model.slice(got);
        } else {
          // slices outlive the acknowledged application chains, bytes intact
          for (const f of inflight) { expect(pool.toBytes(f.m)).to.deep.equal(f.bytes); pool.free(f.m); }
          inflight.length = 0;
        }
        expect(sb.length).to.equal(model.length);
      }
      for (const f of inflight) { expect(pool.toBytes(f.m)).to.deep.equal(f.bytes); pool.free(f.m); }
      sb.clear();
      expect(sb.length).to.equal(0);
      expect(pool.inUse()).to.equal(0);
    }));
  });

  it('gives back acknowledged leading segments of a partly acknowledged chain', () => {
    const pool = new TsMempool({ count: 64, dataRoom: 100 });
    const sb = new SendBuffer(pool);
    sb.push(pool.fromBytes(pattern(1000, 1)));
    expect(pool.inUse()).to.equal(10);
    sb.ack(250);
    expect(pool.inUse()).to.equal(8);
    const s = sb.slice(pool, 0, 750);
    expect(pool.toBytes(s)).to.deep.equal(pattern(1000, 1).subarray(250));
    pool.free(s);
    sb.ack(10000);
    expect(pool.inUse()).to.equal(0);
  });

  it('returns NO_MBUF without leaking when the pool runs dry', () => {
    const pool = new TsMempool({ count: 12, dataRoom: 100 });
    const sb = new SendBuffer(pool);
    sb.push(pool.fromBytes(pattern(1000, 2))); // 10 mbufs
    expect(sb.slice(pool, 0, 1000)).to.equal(NO_MBUF); // needs 10 more, 2 left
    expect(pool.inUse()).to.equal(10);
    const s = sb.slice(pool, 50, 150);
    expect(pool.toBytes(s)).to.deep.equal(pattern(1000, 2).subarray(50, 200));
    pool.free(s);
    sb.clear();
    expect(pool.inUse()).to.equal(0);
  });

  it('grows its ring past 16 chains and slices across many of them', () => {
    const pool = new TsMempool({ count: 256 });
    const sb = new SendBuffer(pool);
    const all: number[] = [];
    for (let i = 0; i < 100; i++) { const b = pattern(7, i); sb.push(pool.fromBytes(b)); all.push(...b); }
    expect(sb.chains).to.equal(100);
    const s = sb.slice(pool, 3, 690);
    expect(Array.from(pool.toBytes(s))).to.deep.equal(all.slice(3, 693));
    pool.free(s);
    sb.ack(350);
    const s2 = sb.slice(pool, 0, 10);
    expect(Array.from(pool.toBytes(s2))).to.deep.equal(all.slice(350, 360));
    pool.free(s2);
    sb.clear();
    expect(pool.inUse()).to.equal(0);
  });
});

describe('tcpx/recv-buffer', () => {
  it('trimFront drops whole leading segments and moves data_off', () => {
    const pool = new TsMempool({ count: 16, dataRoom: 10 });
    const b = pattern(35, 3);
    let m = pool.fromBytes(b);
    m = trimFront(pool, m, 23);
    expect(pool.nbSegs(m)).to.equal(2);
    expect(pool.toBytes(m)).to.deep.equal(b.subarray(23));
    pool.free(m);
    expect(pool.inUse()).to.equal(0);
  });

  it('reads byte-exact with shift and partial copying reads', () => {
    const pool = new TsMempool({ count: 1024, dataRoom: 40 });
    fc.assert(fc.property(
      fc.array(fc.oneof(
        fc.record({ k: fc.constant('push' as const), len: fc.nat(200) }),
        fc.record({ k: fc.constant('read' as const), len: fc.nat(150) }),
        fc.record({ k: fc.constant('shift' as const) }),
      ), { maxLength: 60 }),
      (ops) => {
        const rb = new RecvBuffer(pool);
        let sent: number[] = [];
        const got: number[] = [];
        let salt = 0;
        for (const o of ops) {
          if (o.k === 'push') {
            const b = pattern(o.len, ++salt);
            rb.push(o.len ? pool.fromBytes(b) : pool.alloc());
            sent = sent.concat(Array.from(b));
          } else if (o.k === 'read') {
            const dst = new Uint8Array(o.len + 3);
            const n = rb.read(dst, 3);
            got.push(...dst.subarray(3, 3 + n));
          } else {
            const m = rb.shift();
            if (m !== NO_MBUF) { got.push(...pool.toBytes(m)); pool.free(m); }
          }
          expect(rb.length).to.equal(sent.length - got.length);
          expect(got).to.deep.equal(sent.slice(0, got.length));
        }
        got.push(...rb.readBytes());
        expect(got).to.deep.equal(sent);
        rb.clear();
        expect(pool.inUse()).to.equal(0);
      }));
  });
});

/** Byte offsets → maximal [start, end) runs. */
function runs(held: Set<number>): Array<[number, number]> {
  const xs = [...held].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (const x of xs) {
    if (out.length && out[out.length - 1][1] === x) out[out.length - 1][1] = x + 1;
    else out.push([x, x + 1]);
  }
  return out;
}

describe('tcpx/ooo-queue', () => {
  it('reports SACK blocks most recent first and D-SACK for a duplicate (RFC 2018, 2883)', () => {
    const pool = new TsMempool({ count: 64 });
    const q = new OooQueue(pool, 1 << 20);
    const seg = (seq: Seq, len: number) => q.insert(pool, seq, pool.fromBytes(new Uint8Array(len)));
    const out = new Uint32Array(8);
    expect(seg(2000 as Seq, 100)).to.equal(true);
    expect(seg(3000 as Seq, 100)).to.equal(true);
    expect(seg(4000 as Seq, 100)).to.equal(true);
    let n = q.sackBlocks(out, 4);
    expect(Array.from(out.subarray(0, 2 * n))).to.deep.equal([4000, 4100, 3000, 3100, 2000, 2100]);
    expect(seg(2100 as Seq, 50)).to.equal(true);
    n = q.sackBlocks(out, 4);
    expect(Array.from(out.subarray(0, 2 * n))).to.deep.equal([2000, 2150, 4000, 4100, 3000, 3100]);
    n = q.sackBlocks(out, 4, false);
    expect(Array.from(out.subarray(0, 2 * n))).to.deep.equal([2000, 2150, 3000, 3100, 4000, 4100]);
    // a duplicate inside held data: D-SACK first, then its containing block (RFC 2883 §4)
    expect(seg(3020 as Seq, 30)).to.equal(false);
    expect(q.hasDsack).to.equal(true);
    n = q.sackBlocks(out, 3, true, false);
    expect(Array.from(out.subarray(0, 2 * n))).to.deep.equal([3020, 3050, 3000, 3100, 2000, 2150]);
    n = q.sackBlocks(out, 4);
    expect(n).to.equal(4);
    expect(q.hasDsack).to.equal(false);
    n = q.sackBlocks(out, 4);
    expect(Array.from(out.subarray(0, 2 * n))).to.deep.equal([3000, 3100, 2000, 2150, 4000, 4100]);
    // a duplicate below RCV.NXT, remembered by the caller
    q.dsack(500, 600);
    n = q.sackBlocks(out, 2);
    expect(Array.from(out.subarray(0, 2 * n))).to.deep.equal([500, 600, 3000, 3100]);
    // partial overlap at both ends and covering: held data wins, D-SACK the overlap
    expect(seg(2950 as Seq, 200)).to.equal(true); // [2950,3150): keeps 2950-3000 and 3100-3150
    n = q.sackBlocks(out, 4);
    expect(Array.from(out.subarray(0, 2 * n))).to.deep.equal([3000, 3100, 2950, 3150, 2000, 2150, 4000, 4100]);
    expect(q.bytes).to.equal(150 + 200 + 100);
    const m = q.drain(2000);
    expect(pool.pktLen(m)).to.equal(150);
    pool.free(m);
    expect(q.drain(2150)).to.equal(NO_MBUF);
    q.clear();
    expect(pool.inUse()).to.equal(0);
  });

  it('reassembles byte-exact from any arrival order, overlap and duplicates; SACK blocks describe exactly the held data', () => {
    const arb = fc.record({
      base: fc.oneof(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0xffffff00, max: 0xffffffff })),
      total: fc.integer({ min: 1, max: 1500 }),
      segs: fc.array(fc.record({ at: fc.nat(1499), len: fc.integer({ min: 1, max: 300 }) }), { maxLength: 40 }),
      bound: fc.oneof(fc.constant(1 << 20), fc.integer({ min: 50, max: 800 })),
    });
    fc.assert(fc.property(arb, ({ base, total, segs, bound }) => {
      const pool = new TsMempool({ count: 2048, dataRoom: 64 });
      const stream = pattern(total, base & 0xff);
      const q = new OooQueue(pool, bound);
      const rb = new RecvBuffer(pool);
      let rcvNxt = base >>> 0;
      let delivered = 0; // offset of rcvNxt in the stream
      const held = new Set<number>();
      const out = new Uint32Array(2 * 64);
      const arrive = (at: number, len: number): void => {
        const end = Math.min(total, at + len);
        if (at >= end) return;
        const seq = seqAdd(base, at);
        if (at <= delivered) {
          if (end <= delivered) { q.dsack(seq, seqAdd(base, end)); return; }
          const m = pool.fromBytes(stream.subarray(delivered, end));
          rb.push(m);
          rcvNxt = seqAdd(rcvNxt, end - delivered);
          delivered = end;
          for (let d = q.drain(rcvNxt); d !== NO_MBUF; d = q.drain(rcvNxt)) {
            const l = pool.pktLen(d);
            rb.push(d);
            rcvNxt = seqAdd(rcvNxt, l);
            delivered += l;
          }
          for (const x of [...held]) if (x < delivered) held.delete(x);
          return;
        }
        const before = q.bytes;
        const dropsBefore = q.droppedSegments;
        const ok = q.insert(pool, seq as Seq, pool.fromBytes(stream.subarray(at, end)));
        const fresh: number[] = [];
        for (let x = at; x < end; x++) if (!held.has(x)) fresh.push(x);
        if (q.droppedSegments > dropsBefore) {
          expect(ok).to.equal(false);
          expect(before + fresh.length).to.be.greaterThan(bound);
        } else {
          expect(ok).to.equal(fresh.length > 0);
          for (const x of fresh) held.add(x);
          if (fresh.length < end - at) {
            // some of it was already held: a D-SACK block lying within held, duplicated data
            expect(q.hasDsack).to.equal(true);
            q.sackBlocks(out, 1, true, false);
            const ds = seqDiff(out[0], base), de = seqDiff(out[1], base);
            expect(ds).to.be.at.least(at); expect(de).to.be.at.most(end); expect(de).to.be.greaterThan(ds);
            for (let x = ds; x < de; x++) expect(held.has(x)).to.equal(true);
          }
          if (ok || fresh.length === 0) {
            // the first real block contains the segment just received
            q.clearDsack();
            const n = q.sackBlocks(out, 4);
            expect(n).to.be.greaterThan(0);
            const s0 = seqDiff(out[0], base), e0 = seqDiff(out[1], base);
            expect(s0).to.be.at.most(at); expect(e0).to.be.at.least(at + 1);
          }
        }
        expect(q.bytes).to.equal(held.size);
        expect(q.bytes).to.be.at.most(bound);
      };
      for (const s of segs) {
        arrive(s.at, s.len);
        // SACK blocks (ascending) are exactly the held data as maximal runs
        q.clearDsack();
        const n = q.sackBlocks(out, 64, false);
        const blocks: Array<[number, number]> = [];
        for (let i = 0; i < n; i++) blocks.push([seqDiff(out[2 * i], base), seqDiff(out[2 * i + 1], base)]);
        expect(blocks).to.deep.equal(runs(held));
        // and in recent-first order the same set
        const n2 = q.sackBlocks(out, 64, true);
        const b2: Array<[number, number]> = [];
        for (let i = 0; i < n2; i++) b2.push([seqDiff(out[2 * i], base), seqDiff(out[2 * i + 1], base)]);
        expect(b2.sort((a, b) => a[0] - b[0])).to.deep.equal(blocks);
        for (const [s0] of blocks) expect(s0).to.be.greaterThan(delivered);
      }
      // the sender fills every hole in order at the end
      arrive(delivered, total - delivered);
      expect(delivered).to.equal(total);
      expect(q.empty).to.equal(true);
      expect(q.bytes).to.equal(0);
      expect(rb.readBytes()).to.deep.equal(stream);
      q.clear();
      rb.clear();
      expect(pool.inUse()).to.equal(0);
    }), { numRuns: 300 });
  });
});
