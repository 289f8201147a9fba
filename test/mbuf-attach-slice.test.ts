import { expect } from 'chai';
import fc from 'fast-check';
import { NO_MBUF, TsMempool } from '../src/mbuf/index.js';
import { pinnedSeed } from './helpers/seed.js';

/**
 * Mempool.attachSlice (the transmit path's short attach) must leave a fresh
 * mbuf exactly as attach followed by setting data_off, data_len and pkt_len
 * would: every byte of the mbuf header the same, the owner's refcount taken.
 */
describe('mbuf: attachSlice equals attach + data fields', () => {
  const seed = pinnedSeed(0x5a11ce);
  it(`matches attach byte for byte over random segments and ranges (seed ${seed})`, () => {
    const pool = new TsMempool({ count: 64 });
    fc.assert(fc.property(fc.integer({ min: 1, max: 5000 }), fc.nat(), fc.nat(), (size, o, l) => {
      const m = pool.fromBytes(new Uint8Array(size).map((_, i) => i & 0xff));
      expect(m).to.not.equal(NO_MBUF);
      // Pick a segment of the chain and a range inside its data.
      let seg = m;
      for (let k = o % pool.nbSegs(m); k > 0; k--) seg = pool.next(seg);
      const dl = pool.dataLen(seg);
      const off = o % dl;
      const len = 1 + (l % (dl - off));
      const a = pool.alloc();
      const b = pool.alloc();
      pool.attach(a, seg);
      pool.setDataOff(a, pool.dataOff(seg) + off);
      pool.setDataLen(a, len);
      pool.setPktLen(a, len);
      const rc = pool.refcnt(seg);
      pool.attachSlice(b, seg, off, len);
      expect(pool.refcnt(seg)).to.equal(rc + 1);
      expect(pool.mtod(b)).to.equal(pool.mtod(seg) + off);
      expect(Array.from(pool.u8.subarray(b, b + 128))).to.deep.equal(Array.from(pool.u8.subarray(a, a + 128)));
      pool.free(a);
      pool.free(b);
      expect(pool.refcnt(seg)).to.equal(1);
      pool.free(m);
      expect(pool.inUse()).to.equal(0);
    }), { seed, numRuns: 200 });
  });
});
