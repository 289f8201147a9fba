/** Initial sequence numbers (src/tcp/isn.ts, RFC 6528): keyed per 4-tuple, one tick per 4 µs. */
import { expect } from 'chai';
import fc from 'fast-check';
import { IsnGenerator } from '../src/tcp/isn.js';
import { pinnedSeed } from './helpers/seed.js';
import type { AddrKey } from '../src/tcp/route.js';

describe('tcpx/isn', () => {
  const key = new Uint8Array(16).fill(7);
  it('is deterministic with a fixed secret and differs per 4-tuple and secret', () => {
    const g1 = new IsnGenerator({ secret: key });
    const g2 = new IsnGenerator(key);
    const g3 = new IsnGenerator({ secret: new Uint8Array(16).fill(8) });
    expect(g1.next(1 as AddrKey, 2, 3 as AddrKey, 4, 0)).to.equal(g2.next(1 as AddrKey, 2, 3 as AddrKey, 4, 0));
    expect(g1.next(1 as AddrKey, 2, 3 as AddrKey, 4, 0)).to.not.equal(g1.next(1 as AddrKey, 2, 3 as AddrKey, 5, 0));
    expect(g1.next(1 as AddrKey, 2, 3 as AddrKey, 4, 0)).to.not.equal(g3.next(1 as AddrKey, 2, 3 as AddrKey, 4, 0));
    expect(new IsnGenerator().next(1 as AddrKey, 2, 3 as AddrKey, 4, 0)).to.not.equal(new IsnGenerator().next(1 as AddrKey, 2, 3 as AddrKey, 4, 0));
  });
  const seed = pinnedSeed(6);
  it(`advances one per 4 µs and wraps unsigned (seed ${seed})`, () => {
    const g = new IsnGenerator(key);
    const f = g.offset(1 as AddrKey, 2, 3 as AddrKey, 4);
    expect(g.next(1 as AddrKey, 2, 3 as AddrKey, 4, 0)).to.equal(f);
    expect(g.next(1 as AddrKey, 2, 3 as AddrKey, 4, 1)).to.equal((f + 250) >>> 0);
    expect(g.next(1 as AddrKey, 2, 3 as AddrKey, 4, 0.004)).to.equal((f + 1) >>> 0);
    fc.assert(fc.property(fc.double({ min: 0, max: 1e12, noNaN: true }), (t) => {
      const v = g.next(1 as AddrKey, 2, 3 as AddrKey, 4, t);
      expect(v).to.be.within(0, 0xffffffff);
      expect(Number.isInteger(v)).to.equal(true);
    }), { seed });
  });
});
