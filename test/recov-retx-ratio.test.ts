/**
 * Retransmission efficiency on two stacks over the
 * impairment decorator: at 2 % loss each way, segments resent stay within
 * 1.15 × the data frames the impairment dropped, and few of them reach the
 * receiver twice. Ratios of counters, never times. The interop version
 * against Linux is test/interop-retx.test.ts; bigger runs: bench/retx.ts.
 */
import { expect } from 'chai';
import { retxRun } from '../bench/retx.js';
import { pinnedSeed } from './helpers/seed.js';

describe('recov: resends per frame lost at 2 % loss (two stacks, ImpairedPort)', () => {
  for (const seed of [1, 2, pinnedSeed(12)]) {
    it(`8 connections × 200 kB: resent ≤ 1.15 × data frames lost, duplicates ≤ 10 % of resends (seed ${seed})`, async function () {
      this.timeout(60000);
      const r = await retxRun({ bytes: 200_000, conns: 8, loss: 0.02, delayMs: 1, seed });
      const msg = `seed ${seed}: ${JSON.stringify(r)}`;
      expect(r.ok, msg).to.equal(true);
      expect(r.lostData, msg).to.be.greaterThan(10);
      expect(r.retrans, msg).to.be.at.most(1.15 * r.lostData);
      expect(r.dupSegs, msg).to.be.at.most(0.1 * r.retrans);
    });
  }
});
