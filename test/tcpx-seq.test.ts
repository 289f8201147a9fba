import { expect } from 'chai';
import fc from 'fast-check';
import { seqAdd, seqDiff, seqGeq, seqGt, seqInRange, seqLeq, seqLt, seqMax, seqMin } from '../src/tcp/seq.js';

const u32 = fc.nat({ max: 0xffffffff });
/** Offsets well inside half the sequence space, where order is defined. */
const off = fc.integer({ min: -0x7fffffff, max: 0x7fffffff });

describe('tcpx/seq', () => {
  it('orders across the wrap', () => {
    expect(seqLt(0xffffffff, 0)).to.equal(true);
    expect(seqGt(0, 0xffffffff)).to.equal(true);
    expect(seqLt(0xfffffff0, 0x10)).to.equal(true);
    expect(seqLeq(5, 5)).to.equal(true);
    expect(seqGeq(5, 5)).to.equal(true);
    expect(seqLt(5, 5)).to.equal(false);
    expect(seqAdd(0xffffffff, 1)).to.equal(0);
    expect(seqAdd(0, -1)).to.equal(0xffffffff);
    expect(seqDiff(0, 0xffffffff)).to.equal(1);
    expect(seqDiff(0xffffffff, 0)).to.equal(-1);
    expect(seqMax(0xfffffff0, 3)).to.equal(3);
    expect(seqMin(0xfffffff0, 3)).to.equal(0xfffffff0);
    expect(seqInRange(0xffffffff, 0xfffffffe, 2)).to.equal(true);
    expect(seqInRange(2, 0xfffffffe, 2)).to.equal(false);
    expect(seqInRange(7, 7, 7)).to.equal(false);
  });

  it('a + d compares as d and diff inverts add, for any base', () => {
    fc.assert(fc.property(u32, off, (a, d) => {
      const b = seqAdd(a, d);
      expect(b).to.be.at.least(0).and.at.most(0xffffffff);
      expect(seqDiff(b, a)).to.equal(d);
      expect(seqLt(a, b)).to.equal(d > 0);
      expect(seqGt(a, b)).to.equal(d < 0);
      expect(seqLeq(a, b)).to.equal(d >= 0);
      expect(seqGeq(a, b)).to.equal(d <= 0);
      expect(seqMax(a, b)).to.equal(d >= 0 ? b : a);
      expect(seqMin(a, b)).to.equal(d >= 0 ? a : b);
    }));
  });

  it('inRange agrees with the offset from lo', () => {
    fc.assert(fc.property(u32, fc.nat({ max: 0x7fffffff }), off, (lo, len, d) => {
      const hi = seqAdd(lo, len);
      const x = seqAdd(lo, d);
      expect(seqInRange(x, lo, hi)).to.equal(d >= 0 && d < len);
    }));
  });
});
