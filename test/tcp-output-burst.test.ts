/**
 * tcpOutput sends new data in bursts: the window is asked once and counted
 * down, and recovery hears of a burst of MSS-sized segments once
 * (LossRecovery.batchSends / onSent). Checked here: a burst never exceeds
 * cwnd or the peer's window, RACK still holds one record per segment on the
 * wire (with the segments' exact boundaries, short ones included), and the
 * window field is the same on every segment of a burst.
 */
import { expect } from 'chai';
import { SackRecovery } from '../src/tcp/loss.js';
import { allocTxMbufFor } from '../src/tcp/zc.js';
import { IP_B, TcpPair, pattern } from './tcp-harness.js';

describe('tcp/output: bursts of new data', () => {
  for (const sack of [true, false]) {
    it(`a burst fills cwnd exactly and RACK records match the wire segments (SACK ${sack ? 'on' : 'off'})`, () => {
      const p = new TcpPair({ a: { sack }, b: { sack } });
      try {
        const l = p.b.listen(80);
        const c = p.a.connect(IP_B, 80);
        p.deliver();
        const s = l.accept()!;
        expect(s).to.not.equal(null);
        p.log.length = 0;
        p.holding = true;
        // Writes of a size that is no MSS multiple, laid out one MSS per mbuf: short segments at write ends.
        for (let i = 0; i < 6; i++) {
          const m = allocTxMbufFor(c, 5000);
          p.pool.copyIn(m, 0, pattern(5000, i + 1));
          expect(c.writeMbuf(m)).to.equal(true);
        }
        p.deliver();
        const data = p.log.filter((w) => w.from === 'a' && w.len > 0);
        const bytes = data.reduce((n, w) => n + w.len, 0);
        const cwnd = c.cc.cwnd;
        expect(bytes).to.be.at.most(cwnd);
        // Filled: what is left of cwnd is less than one segment.
        expect(cwnd - bytes).to.be.below(c.mss);
        expect(new Set(data.map((w) => w.window)).size, 'one window field per burst').to.equal(1);
        if (sack) {
          const rack = (c.loss as SackRecovery).rack;
          const recs: [number, number][] = [];
          for (let i = 0; i < rack.segs.count; i++) {
            const j = rack.segs.at(i);
            recs.push([rack.segs.startOf(j), rack.segs.endOf(j)]);
          }
          expect(recs).to.deep.equal(data.map((w) => [w.seq, (w.seq + w.len) >>> 0]));
        }
        p.release();
        p.run(2000);
        let got = 0;
        for (let d = s.read(); d; d = s.read()) got += d.length;
        expect(got).to.equal(30000);
      } finally {
        p.close();
      }
      expect(p.pool.inUse()).to.equal(p.startInUse);
    });
  }

  it("a burst stops at the peer's window", () => {
    const p = new TcpPair({ b: { rcvBuf: 6000 } });
    try {
      const l = p.b.listen(80);
      const c = p.a.connect(IP_B, 80);
      p.deliver();
      const s = l.accept()!;
      p.log.length = 0;
      p.holding = true;
      c.write(pattern(20000, 3));
      p.deliver();
      const bytes = p.log.filter((w) => w.from === 'a').reduce((n, w) => n + w.len, 0);
      expect(bytes).to.be.at.most(6000);
      expect(bytes).to.be.above(6000 - c.mss);
      p.release();
      let got = 0;
      for (let i = 0; i < 200 && got < 20000; i++) { p.run(50); for (let d = s.read(); d; d = s.read()) got += d.length; }
      expect(got).to.equal(20000);
    } finally {
      p.close();
    }
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });
});
