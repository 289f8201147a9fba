/**
 * evenSegments (src/tcp/tso.ts): chains handed to a checksumming device get
 * even-sized segments except the last, without writing the payload buffers,
 * with the same bytes in the same order and every mbuf accounted for.
 */
import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { evenSegments, forEachPiece } from '../src/tcp/tso.js';
import { sumChain } from '../src/ip/checksum.js';

describe('offload: even segments for checksumming devices', () => {
  it('keeps the bytes, makes every segment but the last even, leaks nothing (property)', () => {
    const pool = new TsMempool({ count: 512 });
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 12 }), (lens) => {
      const start = pool.inUse();
      const total = lens.reduce((a, b) => a + b, 0);
      const data = Uint8Array.from({ length: total }, (_, i) => (i * 7 + 3) & 0xff);
      // The app's buffers, then a packet: a 20-byte header mbuf + indirect slices of each.
      const src = pool.fromBytes(data);
      const hdr = pool.alloc();
      pool.append(hdr, 20);
      let off = 0;
      for (const n of lens) {
        const s = pool.refSlice(src, off, n);
        expect(s).to.not.equal(NO_MBUF);
        pool.chain(hdr, s);
        off += n;
      }
      const before = pool.toBytes(hdr);
      const srcBefore = pool.toBytes(src);
      const k: Record<string, unknown> = {};
      expect(evenSegments(pool, hdr, k)).to.equal(true);
      expect(Buffer.from(pool.toBytes(hdr)).equals(Buffer.from(before))).to.equal(true);
      expect(Buffer.from(pool.toBytes(src)).equals(Buffer.from(srcBefore))).to.equal(true);
      expect(pool.pktLen(hdr)).to.equal(20 + total);
      expect(pool.nbSegs(hdr)).to.equal(pool.countSegs(hdr));
      for (let s = hdr; pool.next(s) !== NO_MBUF; s = pool.next(s)) expect(pool.dataLen(s) % 2).to.equal(0);
      // A lane-blind per-segment sum (what net_tap does) now equals the real one.
      let naive = 0;
      for (let s = hdr; s !== NO_MBUF; s = pool.next(s)) naive += sumChain(pool, s, 0, pool.dataLen(s));
      while (naive > 0xffff) naive = (naive & 0xffff) + (naive >>> 16);
      expect(naive).to.equal(sumChain(pool, hdr, 0, pool.pktLen(hdr)));
      pool.free(hdr);
      pool.free(src);
      expect(pool.inUse()).to.equal(start);
    }), { seed: 0x7a0, numRuns: 300 });
  });

  it('forEachPiece walks a TSO send as MSS pieces', () => {
    const got: Array<[number, number]> = [];
    forEachPiece(0xfffffff0 as Seq, 3000, 1448, (s, l) => got.push([s, l]));
    expect(got).to.deep.equal([[0xfffffff0, 1448], [(0xfffffff0 + 1448) >>> 0, 1448], [(0xfffffff0 + 2896) >>> 0, 104]]);
  });
});
