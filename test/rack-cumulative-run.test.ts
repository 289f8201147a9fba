/**
 * Rack.onAck delivers a run of plain records (never retransmitted, not
 * SACKed) covered by one cumulative ACK through its last record alone (plus
 * the reordering test on its first): the state must be exactly what
 * delivering them one at a time leaves. The reference delivers the same
 * records one by one, through a SACK block covering them before the same
 * cumulative ACK (the SACK path handles each record on its own).
 */
import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { Rack } from '../src/tcp/rack.js';
import { pinnedSeed } from './helpers/seed.js';

const MSS = 1000;

function state(r: Rack): unknown {
  return { xmitTs: r.xmitTs, endSeq: r.endSeq, rtt: r.rtt, minRtt: r.minRtt, fack: r.fack, reorderingSeen: r.reorderingSeen, count: r.segs.count };
}

describe('RACK: a cumulative ACK over a run of plain records', () => {
  const seed = pinnedSeed(2026);
  it(`leaves the state delivering them one by one leaves (seed ${seed})`, () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 40 }), // time steps between sends (0: same burst)
      fc.nat(39), fc.nat(39), fc.option(fc.tuple(fc.nat(39), fc.nat(5))), fc.integer({ min: 1, max: 50 }),
      (gaps, a, b, early, rttExtra) => {
        const n = gaps.length;
        const r1 = new Rack();
        const r2 = new Rack();
        let t = 0;
        for (let k = 0; k < n; k++) {
          t += gaps[k];
          r1.onSend((k * MSS) as Seq, ((k + 1) * MSS) as Seq, t);
          r2.onSend((k * MSS) as Seq, ((k + 1) * MSS) as Seq, t);
        }
        const blocks = new Uint32Array(8);
        const now = t + rttExtra;
        // Optionally an earlier SACK of a later record (fack ahead: reordering seen when the run is delivered).
        if (early) {
          const s = Math.min(early[0] + early[1], n - 1);
          blocks[0] = s * MSS; blocks[1] = (s + 1) * MSS;
          r1.onAck(0 as Seq, blocks, 0, 1, false, 0 as Seq, 0 as Seq, (n * MSS) as Seq, now - 1);
          r2.onAck(0 as Seq, blocks, 0, 1, false, 0 as Seq, 0 as Seq, (n * MSS) as Seq, now - 1);
        }
        const cum = (Math.max(a, b) % n) + 1; // records [0, cum) acknowledged
        // r2: the records [0, cum) one by one, as a SACK block, then the cumulative ACK.
        blocks[0] = 0; blocks[1] = cum * MSS;
        r2.onAck(0 as Seq, blocks, 0, 1, false, 0 as Seq, 0 as Seq, (n * MSS) as Seq, now);
        r2.onAck((cum * MSS) as Seq, blocks, 0, 0, false, 0 as Seq, 0 as Seq, (n * MSS) as Seq, now);
        r1.onAck((cum * MSS) as Seq, blocks, 0, 0, false, 0 as Seq, 0 as Seq, (n * MSS) as Seq, now);
        expect(state(r1)).to.deep.equal(state(r2));
      }), { numRuns: 500, seed });
  });
});
