/**
 * SentSegments.pushRun (one call per transmitted batch) writes exactly the
 * records push() per MSS-sized piece would: same boundaries (the last piece
 * short), across sequence wrap, growing the ring when needed.
 */
import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import { SentSegments } from '../src/tcp/rack.js';
import { pinnedSeed } from './helpers/seed.js';
import { Prng } from '../src/util/prng.js';

describe('rack: SentSegments.pushRun', () => {
  const seed = pinnedSeed(77);
  it(`matches push per MSS piece (seed ${seed})`, () => {
    const prng = new Prng(seed);
    for (let round = 0; round < 50; round++) {
      const a = new SentSegments(16);
      const b = new SentSegments(16);
      const mss = 500 + prng.int(1000);
      let seq = ((0xffffffff - prng.int(200000)) >>> 0) as Seq; // near the wrap
      for (let k = 0; k < 1 + prng.int(8); k++) {
        const len = 1 + prng.int(40 * mss);
        const end = ((seq + len) >>> 0) as Seq;
        const now = round * 100 + k;
        a.pushRun(seq, end, mss, now);
        for (let s = seq, left = len; left > 0;) {
          const t = left > mss ? mss : left;
          b.push(s, ((s + t) >>> 0) as Seq, now);
          s = ((s + t) >>> 0) as Seq;
          left -= t;
        }
        seq = end;
        if (prng.int(3) === 0) { const n = prng.int(a.count); for (let i = 0; i < n; i++) { a.shift(); b.shift(); } }
      }
      expect(a.count).to.equal(b.count);
      for (let i = 0; i < a.count; i++) {
        const ja = a.at(i); const jb = b.at(i);
        expect([a.startOf(ja), a.endOf(ja), a.xmitTsOf(ja), a.flagsOf(ja)]).to.deep.equal([b.startOf(jb), b.endOf(jb), b.xmitTsOf(jb), b.flagsOf(jb)]);
      }
    }
  });
});
