/**
 * Segments that leave as ONE mbuf: when a segment's payload is one whole
 * mbuf of the send buffer with headroom for every header (zero-copy writes
 * laid out one MSS per mbuf, `allocTxMbuf(pool, len, mss)`), output writes
 * the TCP header into that mbuf's headroom and sends a single indirect mbuf
 * over header + payload (`SendBuffer.headSlice`); segments keep to such
 * writes' mbufs (`SendBuffer.alignedLen`). Checked here: the unit cases,
 * the byte-exact transfer under seeded loss/reordering/duplication (where
 * retransmissions of still-referenced buffers fall back to slices), no byte
 * copied, and every mbuf back in the pool.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import type { Mbuf } from '../src/mbuf/index.js';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { SendBuffer } from '../src/tcp/send-buffer.js';
import { TX_HEADROOM, allocTxMbuf, allocTxMbufFor } from '../src/tcp/zc.js';
import { pattern } from './tcp-harness.js';
import { pinnedSeed } from './helpers/seed.js';
import { impairedTransfer } from './helpers/impaired-transfer.js';

describe('tcpx/send-buffer: one mbuf per segment (headers in the headroom)', () => {
  it('allocTxMbuf with a segment size gives every mbuf full headroom and that much payload', () => {
    const pool = new TsMempool({ count: 256 });
    const m = allocTxMbuf(pool, 5000, 1448);
    expect(pool.nbSegs(m)).to.equal(4);
    expect(pool.pktLen(m)).to.equal(5000);
    const lens: number[] = [];
    for (let s = m; s !== NO_MBUF; s = pool.next(s)) { lens.push(pool.dataLen(s)); expect(pool.headroom(s)).to.equal(TX_HEADROOM); }
    expect(lens).to.deep.equal([1448, 1448, 1448, 656]);
    pool.free(m);
    expect(() => allocTxMbuf(pool, 10, -1)).to.throw(RangeError);
    expect(pool.inUse()).to.equal(0);
  });

  it('allocTxMbuf lays out small and large messages (single and bulk allocation) as the model says', () => {
    const pool = new TsMempool({ count: 4096, dataRoom: 1000 }); // 1128-byte buffers
    fc.assert(fc.property(fc.integer({ min: 1, max: 60000 }), fc.constantFrom(0, 100, 700, 1000, 5000), (len, seg) => {
      const m = allocTxMbuf(pool, len, seg);
      const want: [number, number][] = [];
      for (let left = len, k = 0; left > 0; k++) {
        const head = k === 0 || seg > 0 ? TX_HEADROOM : 0;
        let take = Math.min(left, 1128 - head);
        if (seg > 0) take = Math.min(take, seg);
        want.push([head, take]);
        left -= take;
      }
      const got: [number, number][] = [];
      for (let x = m; x !== NO_MBUF; x = pool.next(x)) got.push([pool.headroom(x), pool.dataLen(x)]);
      expect(got).to.deep.equal(want);
      expect(pool.nbSegs(m)).to.equal(want.length);
      expect(pool.pktLen(m)).to.equal(len);
      pool.free(m);
      expect(pool.inUse()).to.equal(0);
    }), { numRuns: 200, seed: pinnedSeed(43) });
    // All or nothing when the pool is short.
    const small = new TsMempool({ count: 20 });
    expect(allocTxMbuf(small, 60000, 1000)).to.equal(NO_MBUF);
    expect(small.inUse()).to.equal(0);
  });

  it('headSlice: one indirect mbuf over header room + a whole segment, only when that is safe', () => {
    const pool = new TsMempool({ count: 256 });
    const sb = new SendBuffer(pool);
    // Three single-mbuf writes (a chain laid out per segment is taken apart instead: below).
    const bytes = pattern(3000, 5);
    const ms = [0, 1, 2].map((k) => {
      const x = allocTxMbuf(pool, 1000, 1000);
      pool.copyIn(x, 0, bytes.subarray(k * 1000, k * 1000 + 1000));
      sb.push(x);
      return x;
    });
    const second = ms[1];
    // The second mbuf's payload, 1000 bytes, with 40 bytes of header room in front.
    const h = sb.headSlice(pool, 1000, 1000, 40, 74);
    expect(h).to.not.equal(NO_MBUF);
    expect(pool.nbSegs(h)).to.equal(1);
    expect(pool.dataLen(h)).to.equal(1040);
    expect(pool.pktLen(h)).to.equal(1040);
    expect(pool.mtod(h)).to.equal(pool.mtod(second) - 40);
    expect(pool.headroom(h)).to.equal(TX_HEADROOM - 40);
    expect(Buffer.from(pool.toBytes(h).subarray(40)).equals(Buffer.from(bytes.subarray(1000, 2000)))).to.equal(true);
    expect(pool.refcnt(second)).to.equal(2);
    // The same buffer again while that transmission is alive: refused (its header room is in use).
    expect(sb.headSlice(pool, 1000, 1000, 40, 74)).to.equal(NO_MBUF);
    pool.free(h);
    expect(pool.refcnt(second)).to.equal(1);
    // Not at a segment's first byte, longer than the segment, or too little headroom: refused.
    expect(sb.headSlice(pool, 1001, 500, 40, 74)).to.equal(NO_MBUF);
    expect(sb.headSlice(pool, 0, 1001, 40, 74)).to.equal(NO_MBUF);
    expect(sb.headSlice(pool, 0, 1000, 40, TX_HEADROOM + 1)).to.equal(NO_MBUF);
    // A shorter segment at a segment's start is fine (window-limited).
    const part = sb.headSlice(pool, 2000, 300, 20, 54);
    expect(pool.dataLen(part)).to.equal(320);
    pool.free(part);
    sb.clear();
    expect(pool.inUse()).to.equal(0);
  });

  it('a chain laid out one segment per mbuf is taken apart: each segment leaves as its mbuf, by reference', () => {
    const pool = new TsMempool({ count: 256 });
    const sb = new SendBuffer(pool);
    const m = allocTxMbuf(pool, 2500, 1000);
    const bytes = pattern(2500, 9);
    pool.copyIn(m, 0, bytes);
    const segs: Mbuf[] = [];
    for (let s = m; s !== NO_MBUF; s = pool.next(s)) segs.push(s);
    sb.push(m);
    expect(sb.chains).to.equal(3);
    expect(sb.length).to.equal(2500);
    expect(sb.headSlice(pool, 1000, 1000, 40, 74)).to.equal(NO_MBUF);
    const h = sb.headOwn(pool, 1000, 1000, 40, 74);
    expect(h).to.equal(segs[1]);
    expect(pool.refcnt(h)).to.equal(2);
    expect(pool.nbSegs(h)).to.equal(1);
    expect(pool.next(h)).to.equal(NO_MBUF);
    expect(pool.dataLen(h)).to.equal(1040);
    expect(Buffer.from(pool.toBytes(h).subarray(40)).equals(Buffer.from(bytes.subarray(1000, 2000)))).to.equal(true);
    // Held by the transmission: refused, and a slice is cut from the recorded payload position.
    expect(sb.headOwn(pool, 1000, 1000, 40, 74)).to.equal(NO_MBUF);
    const sl = sb.slice(pool, 500, 1000);
    expect(Buffer.from(pool.toBytes(sl)).equals(Buffer.from(bytes.subarray(500, 1500)))).to.equal(true);
    pool.free(sl);
    pool.free(h); // the transmission's reference (as a driver frees it)
    expect(sb.headOwn(pool, 2000, 500, 20, 54)).to.equal(segs[2]);
    pool.free(segs[2]);
    sb.ack(1000);
    expect(pool.inUse()).to.equal(2);
    sb.clear();
    expect(pool.inUse()).to.equal(0);
    // Kept as a chain: a packed chain, a segment with too little headroom, a shared segment.
    const packed = allocTxMbuf(pool, 5000);
    sb.push(packed);
    expect(sb.chains).to.equal(1);
    const low = allocTxMbuf(pool, 2000, 1000);
    pool.setDataOff(pool.next(low), 100);
    sb.push(low);
    expect(sb.chains).to.equal(2);
    const shared = allocTxMbuf(pool, 2000, 1000);
    const other = pool.next(shared);
    pool.refcntUpdate(other, 1); // as if another view of it were alive
    sb.push(shared);
    expect(sb.chains).to.equal(3);
    sb.clear();
    pool.free(other);
    expect(pool.inUse()).to.equal(0);
  });

  it('headSlice never writes into an indirect (shared) mbuf the application queued', () => {
    const pool = new TsMempool({ count: 256 });
    const sb = new SendBuffer(pool);
    const orig = allocTxMbuf(pool, 1000, 1000);
    const ref = pool.refSlice(orig, 0, 1000); // e.g. an echoed readMbuf
    pool.free(orig);
    sb.push(ref);
    expect(pool.refcnt(pool.directOf(ref))).to.equal(1);
    expect(sb.headSlice(pool, 0, 1000, 40, 74)).to.equal(NO_MBUF);
    const s = sb.slice(pool, 0, 1000);
    expect(s).to.not.equal(NO_MBUF);
    pool.free(s);
    sb.clear();
    expect(pool.inUse()).to.equal(0);
  });

  it('alignedLen stops a segment at the end of a write when the next write is laid out one segment per mbuf', () => {
    const pool = new TsMempool({ count: 256 });
    const sb = new SendBuffer(pool);
    sb.push(allocTxMbuf(pool, 2500, 1000)); // [0, 2500): 1000, 1000, 500
    sb.push(allocTxMbuf(pool, 2500, 1000)); // [2500, 5000)
    sb.push(allocTxMbuf(pool, 100)); // [5000, 5100): single-mbuf writes coalesce
    sb.push(allocTxMbuf(pool, 100)); // [5100, 5200)
    sb.push(allocTxMbuf(pool, 5000)); // [5200, 10200): packed, 2048-byte first mbuf
    sb.push(allocTxMbuf(pool, 3000, 1000)); // [10200, 13200)
    expect(sb.alignedLen(0, 1000, 1000)).to.equal(1000);
    expect(sb.alignedLen(2000, 1000, 1000)).to.equal(500); // runs into a per-segment write
    expect(sb.alignedLen(2100, 1000, 1000)).to.equal(400); // from anywhere in the write
    expect(sb.alignedLen(4500, 1000, 1000)).to.equal(1000); // into a single-mbuf write: as asked
    expect(sb.alignedLen(5000, 150, 1000)).to.equal(150);
    expect(sb.alignedLen(5100, 1000, 1000)).to.equal(1000); // into a packed write: as asked
    expect(sb.alignedLen(9700, 1000, 1000)).to.equal(500); // packed into per-segment
    expect(sb.alignedLen(9700, 1000, 900)).to.equal(1000); // that write's mbufs exceed this MSS: not per segment
    expect(sb.alignedLen(12500, 1000, 1000)).to.equal(1000); // the last write: nothing to cut for
    sb.clear();
    expect(pool.inUse()).to.equal(0);
  });

  const seed = pinnedSeed(41);
  it(`slices of random layouts and ranges carry the model bytes, one mbuf where headSlice applies (seed ${seed})`, () => {
    fc.assert(fc.property(
      fc.array(fc.record({ len: fc.integer({ min: 1, max: 4000 }), seg: fc.constantFrom(0, 300, 1000) }), { minLength: 1, maxLength: 12 }),
      fc.array(fc.record({ back: fc.nat(1500), len: fc.integer({ min: 1, max: 1200 }), hdr: fc.constantFrom(20, 32, 60), ack: fc.nat(1500) }), { maxLength: 40 }),
      (writes, ops) => {
        const pool = new TsMempool({ count: 4096, dataRoom: 1200 });
        const sb = new SendBuffer(pool);
        const model: number[] = [];
        let salt = 1;
        for (const w of writes) {
          const m = allocTxMbuf(pool, w.len, w.seg);
          const b = pattern(w.len, salt++);
          pool.copyIn(m, 0, b);
          sb.push(m);
          for (const x of b) model.push(x);
        }
        let una = 0;
        let next = 0;
        for (const o of ops) {
          const off = Math.max(0, next - o.back);
          let len = Math.min(o.len, sb.length - off);
          if (len <= 0) break;
          len = sb.alignedLen(off, len, 1000);
          const h = sb.headSlice(pool, off, len, o.hdr, 34 + o.hdr);
          const m = h !== NO_MBUF ? h : sb.slice(pool, off, len);
          expect(m).to.not.equal(NO_MBUF);
          const skip = h !== NO_MBUF ? o.hdr : 0;
          if (h !== NO_MBUF) expect(pool.nbSegs(h)).to.equal(1);
          expect(pool.pktLen(m)).to.equal(len + skip);
          const out = new Uint8Array(len);
          pool.copyOut(m, skip, out, 0, len);
          expect(Array.from(out)).to.deep.equal(model.slice(una + off, una + off + len));
          pool.free(m);
          next = Math.max(next, off + len);
          const n = Math.min(o.ack, next);
          sb.ack(n);
          una += n;
          next -= n;
        }
        sb.clear();
        expect(pool.inUse()).to.equal(0);
      }), { numRuns: 150, seed });
  });

  for (const s of [1, 2, 3, pinnedSeed(77)]) {
    it(`zero-copy writes one MSS per mbuf arrive byte-exact under loss, reordering and duplication (seed ${s})`, function () {
      this.timeout(60000);
      let single = 0;
      let multi = 0;
      // Clean first (most segments go as one mbuf), then impaired.
      const { p, retransmits } = impairedTransfer({
        seed: s,
        pair: { a: { timeWaitMs: 2000, sndBuf: 96 * 1024 }, b: { timeWaitMs: 2000 } },
        turns: 20000,
        tap: (m, p) => {
          if (p.pool.nbSegs(m) === 1) single++;
          else { multi++; if (process.env.DEBUG_HEADROOM) console.log('multi', p.pool.pktLen(m), p.pool.nbSegs(m), p.pool.dataLen(p.pool.next(m))); }
        },
        write: (c, w, p) => {
          while (w.k < w.sizes.length && c.sendSpace() >= w.sizes[w.k]) {
            const m = allocTxMbufFor(c, w.sizes[w.k]);
            p.pool.copyIn(m, 0, w.data.subarray(w.wo, w.wo + w.sizes[w.k]));
            expect(c.writeMbuf(m)).to.equal(true);
            w.wo += w.sizes[w.k++];
          }
        },
      });
      expect(p.a.counters.bytesCopied).to.equal(0);
      expect(single, 'segments sent as one mbuf').to.be.greaterThan(multi);
      if (process.env.DEBUG_HEADROOM) console.log({ single, multi, r: retransmits });
    });
  }
});
