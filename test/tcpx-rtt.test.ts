/** The RTT estimator and RTO (src/tcp/rtt.ts) against RFC 6298's formulas. */
import { expect } from 'chai';
import fc from 'fast-check';
import { RttEstimator } from '../src/tcp/rtt.js';
import { pinnedSeed } from './helpers/seed.js';

describe('tcpx/rtt', () => {
  it('follows the RFC 6298 formulas step by step', () => {
    const r = new RttEstimator({ initialRtoMs: 1000, minRtoMs: 200, maxRtoMs: 120000 });
    expect(r.rto).to.equal(1000);
    r.sample(100);
    expect([r.srtt, r.rttvar]).to.deep.equal([100, 50]);
    expect(r.rto).to.equal(300); // 100 + 4*50
    r.sample(300);
    // RTTVAR first, with the old SRTT
    expect(r.rttvar).to.equal(0.75 * 50 + 0.25 * 200);
    expect(r.srtt).to.equal(0.875 * 100 + 0.125 * 300);
    expect(r.rto).to.equal(r.srtt + 4 * r.rttvar);
  });

  const seed = pinnedSeed(7);
  it(`matches a reference recurrence for any samples, within [minRto, maxRto] (seed ${seed})`, () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 200000, noNaN: true }), { minLength: 1, maxLength: 50 }), (xs) => {
      const r = new RttEstimator({ minRtoMs: 200, maxRtoMs: 60000 });
      let srtt = 0, rttvar = 0;
      xs.forEach((x, i) => {
        if (i === 0) { srtt = x; rttvar = x / 2; } else { rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - x); srtt = 0.875 * srtt + 0.125 * x; }
        r.sample(x);
        expect(r.srtt).to.be.closeTo(srtt, 1e-6 * (1 + srtt));
        expect(r.rttvar).to.be.closeTo(rttvar, 1e-6 * (1 + rttvar));
        const want = Math.min(60000, Math.max(200, srtt + Math.max(1, 4 * rttvar)));
        expect(r.rto).to.be.closeTo(want, 1e-6 * want);
      });
      expect(r.minRtt).to.equal(Math.min(...xs));
    }), { seed });
  });

  it('uses the clock granularity when RTTVAR is tiny', () => {
    const r = new RttEstimator({ minRtoMs: 0, granularityMs: 10 });
    r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50);
    r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50);
    expect(r.rto).to.be.closeTo(60, 1); // 50 + max(10, 4*small)
  });

  it('backs off exponentially up to maxRto, until the next sample', () => {
    const r = new RttEstimator({ initialRtoMs: 1000, minRtoMs: 200, maxRtoMs: 5000 });
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) { r.backoff(); seen.push(r.rto); }
    expect(seen).to.deep.equal([2000, 4000, 5000, 5000, 5000, 5000]);
    expect(r.backoffs).to.equal(6);
    r.sample(10);
    expect(r.backoffs).to.equal(0);
    expect(r.rto).to.equal(200);
    r.reset(3000);
    expect([r.rto, r.hasSample, r.srtt]).to.deep.equal([3000, false, 0]);
    r.reset();
    expect(r.rto).to.equal(1000);
    r.sample(-1); r.sample(NaN);
    expect(r.hasSample).to.equal(false);
  });
});
