import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import { Rack, SegFlag, TlpOutcome, SentSegments } from '../src/tcp/rack.js';
import { SackScoreboard, NextSegKind } from '../src/tcp/sack.js';
import { createLossCounters, countRetransmit, RetransmitCause, addLossCounters, totalRetransmits } from '../src/tcp/cc/counters.js';

const MSS = 1000;
const RTT = 100;
const NONE = new Uint32Array(8);
const blk = new Uint32Array(8);

/** Sends segments [from, to) (indices), segment k at time t0 + k·gap. */
function sendSegs(r: Rack, base: number, from: number, to: number, t0: number, gap = 1): void {
  for (let k = from; k < to; k++) r.onSend(((base + k * MSS) >>> 0) as Seq, ((base + (k + 1) * MSS) >>> 0) as Seq, t0 + (k - from) * gap);
}
/** ACK: cumulative to segment index `cum`, SACK of segment indices [s, e). */
function ackSegs(r: Rack, base: number, cum: number, sacks: Array<[number, number]>, sndNxtSeg: number, now: number,
  dsack?: [number, number]): TlpOutcome {
  let n = 0;
  if (dsack) { blk[0] = (base + dsack[0] * MSS) >>> 0; blk[1] = (base + dsack[1] * MSS) >>> 0; n = 1; }
  for (const [s, e] of sacks) { blk[2 * n] = (base + s * MSS) >>> 0; blk[2 * n + 1] = (base + e * MSS) >>> 0; n++; }
  return r.onAck(((base + cum * MSS) >>> 0) as Seq, blk, dsack ? 1 : 0, n, !!dsack, blk[0] as Seq, blk[1] as Seq, ((base + sndNxtSeg * MSS) >>> 0) as Seq, now);
}

for (const base of [0, 0xfffffc00]) {
  describe(`RACK-TLP (RFC 8985), ISS ${base.toString(16)}`, () => {
    it('reordering within the window is not loss; the timer covers the wait', () => {
      const r = new Rack();
      sendSegs(r, base, 0, 10, 0);
      ackSegs(r, base, 1, [], 10, RTT); // segment 0, RTT 100
      expect(r.minRtt).to.equal(RTT);
      ackSegs(r, base, 1, [[2, 3]], 10, RTT + 2); // segment 1 is late
      const lost: number[] = [];
      const wait = r.detectLoss(RTT + 2, RTT, false, 1, (s) => lost.push((s - base) >>> 0));
      expect(lost).to.deep.equal([]);
      expect(r.reoWnd).to.equal(RTT / 4); // min_RTT / 4
      expect(wait).to.equal(1 + RTT + RTT / 4 - (RTT + 2)); // xmit_ts(1) + rtt + reo_wnd − now
      ackSegs(r, base, 3, [], 10, RTT + 10); // segment 1 arrives: reordering
      expect(r.reorderingSeen).to.equal(true);
      expect(r.detectLoss(RTT + 10, RTT, false, 0, (s) => lost.push(s))).to.equal(0);
      expect(lost).to.deep.equal([]);
      expect(r.lostCount()).to.equal(0);
    });

    it('a segment still missing when the reordering timer fires is lost', () => {
      const r = new Rack();
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 10 * MSS) >>> 0) as Seq);
      sendSegs(r, base, 0, 10, 0);
      ackSegs(r, base, 1, [], 10, RTT);
      ackSegs(r, base, 1, [[2, 3]], 10, RTT + 2);
      const onLost = (s: Seq, e: Seq) => sb.markLost(s, e);
      const wait = r.detectLoss(RTT + 2, RTT, false, 1, onLost);
      expect(r.lostCount()).to.equal(0);
      // the RACK reordering timer fires
      expect(r.detectLoss(RTT + 2 + wait, RTT, false, 1, onLost)).to.equal(0);
      expect(r.lostCount()).to.equal(1);
      expect(sb.isLost(((base + MSS) >>> 0) as Seq)).to.equal(true);
      expect(sb.isLost(((base + 3 * MSS) >>> 0) as Seq)).to.equal(false);
    });

    it('with DupThresh SACKed segments and no reordering seen, reo_wnd is 0: immediate loss', () => {
      const r = new Rack();
      sendSegs(r, base, 0, 10, 0);
      ackSegs(r, base, 1, [[2, 5]], 10, RTT + 4);
      const lost: number[] = [];
      r.detectLoss(RTT + 4, RTT, false, 3, (s) => lost.push(((s - base) >>> 0) / MSS));
      expect(r.reoWnd).to.equal(0);
      expect(lost).to.deep.equal([1]);
    });

    it('detects a lost retransmission by time, which DupThresh cannot', () => {
      const r = new Rack();
      sendSegs(r, base, 0, 10, 0);
      ackSegs(r, base, 1, [[2, 5]], 10, RTT + 4);
      r.detectLoss(RTT + 4, RTT, true, 3);
      expect(r.segs.flagsOf(r.segs.at(0)) & SegFlag.Lost).to.equal(SegFlag.Lost);
      r.onRetransmit(((base + MSS) >>> 0) as Seq, ((base + 2 * MSS) >>> 0) as Seq, 110);
      expect(r.segs.flagsOf(r.segs.at(0))).to.equal(SegFlag.Retrans);
      sendSegs(r, base, 10, 12, 111); // new data after the retransmission
      ackSegs(r, base, 1, [[2, 10]], 12, 200);
      const lost: number[] = [];
      r.detectLoss(200, RTT, true, 8, (s) => lost.push(((s - base) >>> 0) / MSS));
      expect(lost).to.deep.equal([]); // the retransmission could still be in flight
      ackSegs(r, base, 1, [[2, 11]], 12, 211); // segment 10 (sent at 111, after the rtx) delivered
      r.detectLoss(211, RTT, true, 9, (s) => lost.push(((s - base) >>> 0) / MSS));
      expect(lost).to.deep.equal([1]);
    });

    it('D-SACK widens the reordering window (reo_wnd_mult)', () => {
      const r = new Rack();
      sendSegs(r, base, 0, 10, 0);
      ackSegs(r, base, 2, [], 10, RTT);
      ackSegs(r, base, 3, [], 10, RTT + 1, [1, 2]);
      expect(r.reoWndMult).to.equal(2);
      expect(r.reorderingWindow(1000, false, 0)).to.equal((r.minRtt * 2) / 4);
      ackSegs(r, base, 4, [], 10, RTT + 2, [1, 2]); // same round: no further increase
      expect(r.reoWndMult).to.equal(2);
      expect(r.reorderingWindow(30, false, 0)).to.equal(30); // capped at SRTT
    });

    it('D-SACK rounds grow reo_wnd_mult, which persists for 16 recoveries, then resets', () => {
      const r = new Rack();
      sendSegs(r, base, 0, 40, 0);
      ackSegs(r, base, 2, [], 40, RTT);
      ackSegs(r, base, 3, [], 10, RTT + 1, [1, 2]); // round ends at SND.NXT = segment 10
      ackSegs(r, base, 11, [], 20, RTT + 2, [1, 2]); // a new round: +1
      expect(r.reoWndMult).to.equal(3);
      expect(r.reoWndPersist).to.equal(16);
      for (let i = 0; i < 15; i++) r.onAck(((base + 12 * MSS) >>> 0) as Seq, NONE, 0, 0, false, 0 as Seq, 0 as Seq, ((base + 20 * MSS) >>> 0) as Seq, RTT + 3, true);
      expect(r.reoWndMult).to.equal(3);
      r.onAck(((base + 12 * MSS) >>> 0) as Seq, NONE, 0, 0, false, 0 as Seq, 0 as Seq, ((base + 20 * MSS) >>> 0) as Seq, RTT + 3, true);
      expect(r.reoWndMult).to.equal(1);
    });

    it('a retransmission restarts its clock: not lost again before RACK.rtt + reo_wnd from its own send', () => {
      const r = new Rack();
      sendSegs(r, base, 0, 10, 0);
      ackSegs(r, base, 0, [[1, 10]], 10, RTT + 9); // segment 0 missing
      const lost: number[] = [];
      r.detectLoss(RTT + 9, RTT, true, 9, (s) => lost.push(((s - base) >>> 0) / MSS));
      expect(lost).to.deep.equal([0]);
      r.onRetransmit((base >>> 0) as Seq, ((base + MSS) >>> 0) as Seq, RTT + 9);
      expect(r.segs.xmitTsOf(r.segs.at(0))).to.equal(RTT + 9);
      // Later ACKs of the older data do not make the retransmission lost.
      ackSegs(r, base, 0, [[1, 10]], 10, RTT + 50);
      expect(r.detectLoss(RTT + 50, RTT, true, 9, (s) => lost.push(s))).to.equal(0);
      expect(lost).to.deep.equal([0]);
    });

    it('a cumulative ACK echoing a TSval older than a retransmission does not take its time (no spurious marking)', () => {
      const r = new Rack();
      sendSegs(r, base, 0, 10, 0);
      ackSegs(r, base, 0, [], 10, 50);
      r.onRetransmit((base >>> 0) as Seq, ((base + MSS) >>> 0) as Seq, 300); // a timeout resent segment 0 at 300 ms
      // The late ACK of the original segments 0 and 1 (TSecr = 0, from time 0) arrives at 310.
      blk[0] = 0;
      r.onAck(((base + 2 * MSS) >>> 0) as Seq, blk, 0, 0, false, 0 as Seq, 0 as Seq, ((base + 10 * MSS) >>> 0) as Seq, 310, false, 0, 0);
      expect(r.xmitTs).to.equal(1); // segment 1's original transmission, not the retransmission at 300
      const lost: number[] = [];
      r.detectLoss(310, RTT, true, 0, (s) => lost.push(s));
      expect(lost).to.deep.equal([]);
      // The same ACK echoing the retransmission's TSval would have taken it.
      const r2 = new Rack();
      sendSegs(r2, base, 0, 10, 0);
      r2.onRetransmit((base >>> 0) as Seq, ((base + MSS) >>> 0) as Seq, 300);
      r2.onAck(((base + MSS) >>> 0) as Seq, blk, 0, 0, false, 0 as Seq, 0 as Seq, ((base + 10 * MSS) >>> 0) as Seq, 310, false, 300, 0);
      expect(r2.xmitTs).to.equal(300);
    });

    it('TLP: PTO = 2·SRTT, plus the delayed-ACK allowance with one segment in flight', () => {
      const r = new Rack();
      expect(r.pto(0, 3)).to.equal(1000);
      expect(r.pto(100, 3)).to.equal(200);
      expect(r.pto(100, 1)).to.equal(400);
      expect(r.pto(100, 1, 40)).to.equal(240);
      expect(r.canArmTlp(false, true)).to.equal(false); // nothing in flight
      sendSegs(r, base, 0, 1, 0);
      expect(r.canArmTlp(false, true)).to.equal(true);
      expect(r.canArmTlp(true, true)).to.equal(false);
      expect(r.canArmTlp(false, false)).to.equal(false);
    });

    it('tail loss: the probe retransmits the last segment, its SACK lets RACK find the other loss', () => {
      const r = new Rack();
      const sb = new SackScoreboard(MSS, base as Seq);
      const counters = createLossCounters();
      sendSegs(r, base, 0, 10, 0);
      sb.onSendNew(((base + 10 * MSS) >>> 0) as Seq);
      ackSegs(r, base, 8, [], 10, RTT + 7); // 8 and 9 lost
      sb.update(((base + 8 * MSS) >>> 0) as Seq, NONE, 0, ((base + 10 * MSS) >>> 0) as Seq);
      expect(r.canArmTlp(false, true)).to.equal(true);
      const fireAt = RTT + 7 + r.pto(RTT, 2);
      // no new data: probe with the last segment
      expect(r.lastSegment()).to.equal(true);
      expect(((r.lastStart - base) >>> 0) / MSS).to.equal(9);
      r.onRetransmit(r.lastStart, r.lastEnd, fireAt, true);
      r.onTlpSent(true, ((base + 10 * MSS) >>> 0) as Seq);
      counters.tlpProbes++;
      countRetransmit(counters, RetransmitCause.Tlp);
      expect(r.canArmTlp(false, true)).to.equal(false);
      // the probe arrives: SACK of 9
      expect(ackSegs(r, base, 8, [[9, 10]], 10, fireAt + RTT)).to.equal(TlpOutcome.None);
      blk[0] = (base + 9 * MSS) >>> 0; blk[1] = (base + 10 * MSS) >>> 0;
      sb.update(((base + 8 * MSS) >>> 0) as Seq, blk, 1, ((base + 10 * MSS) >>> 0) as Seq);
      const lost: number[] = [];
      r.detectLoss(fireAt + RTT, RTT, false, 1, (s, e) => { lost.push(((s - base) >>> 0) / MSS); sb.markLost(s, e); });
      expect(lost).to.deep.equal([8]);
      // RACK's mark drives the scoreboard's NextSeg rule 1
      sb.enterRecovery();
      r.cancelTlp(); // entering recovery ends the probe episode (one reduction)
      expect(sb.nextSeg(0)).to.equal(NextSegKind.Lost);
      expect(((sb.segStart - base) >>> 0) / MSS).to.equal(8);
      countRetransmit(counters, RetransmitCause.Rack);
      expect(totalRetransmits(counters)).to.equal(2);
    });

    it('TLP outcome: D-SACK of the probe means no loss; an ACK beyond it means the probe repaired a loss', () => {
      let r = new Rack();
      sendSegs(r, base, 0, 4, 0);
      ackSegs(r, base, 3, [], 4, RTT);
      r.onRetransmit(((base + 3 * MSS) >>> 0) as Seq, ((base + 4 * MSS) >>> 0) as Seq, 300, true);
      r.onTlpSent(true, ((base + 4 * MSS) >>> 0) as Seq);
      expect(ackSegs(r, base, 4, [], 4, 310)).to.equal(TlpOutcome.None); // maybe a D-SACK follows
      expect(ackSegs(r, base, 4, [], 4, 311, [3, 4])).to.equal(TlpOutcome.NoLoss);

      r = new Rack();
      sendSegs(r, base, 0, 4, 0);
      ackSegs(r, base, 3, [], 4, RTT);
      r.onRetransmit(((base + 3 * MSS) >>> 0) as Seq, ((base + 4 * MSS) >>> 0) as Seq, 300, true);
      r.onTlpSent(true, ((base + 4 * MSS) >>> 0) as Seq);
      sendSegs(r, base, 4, 5, 301);
      expect(ackSegs(r, base, 5, [], 5, 400)).to.equal(TlpOutcome.LossRepaired);

      r = new Rack(); // a new-data probe: no inference
      sendSegs(r, base, 0, 4, 0);
      ackSegs(r, base, 3, [], 4, RTT);
      sendSegs(r, base, 4, 5, 300);
      r.onTlpSent(false, ((base + 5 * MSS) >>> 0) as Seq);
      expect(ackSegs(r, base, 5, [], 5, 400)).to.equal(TlpOutcome.NoLoss);
    });
  });
}

describe('SentSegments ring', () => {
  it('grows past its capacity, wraps, and finds records by sequence', () => {
    const s = new SentSegments(16);
    let seq = 0xffffff00 as Seq;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 40; i++) { s.push(seq, ((seq + 100) >>> 0) as Seq, i); seq = ((seq + 100) >>> 0) as Seq; }
      for (let i = 0; i < 30; i++) s.shift();
    }
    expect(s.count).to.equal(50);
    const first = s.startOf(s.head);
    expect(s.firstEndingAfter(first)).to.equal(0);
    expect(s.firstEndingAfter(((first + 250) >>> 0) as Seq)).to.equal(2);
    expect(s.firstEndingAfter(seq)).to.equal(50);
  });

  it('per-stack counter sums', () => {
    const a = createLossCounters(), b = createLossCounters();
    countRetransmit(a, RetransmitCause.Rto, 2);
    countRetransmit(b, RetransmitCause.Fast, 3);
    b.sackBlocksSent = 5;
    addLossCounters(a, b);
    expect(a.retransRto).to.equal(2);
    expect(a.retransFast).to.equal(3);
    expect(a.sackBlocksSent).to.equal(5);
  });
});
