/**
 * RACK, the SACK scoreboard and SackRecovery keep their numbers in the
 * array of RACK's records (loss-numbers.ts): a record's flags share a double
 * with its start, and the numbers survive the ring growing.
 */
import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import { Rack, SegFlag } from '../src/tcp/rack.js';
import { SackScoreboard } from '../src/tcp/sack.js';
import { SackRecovery } from '../src/tcp/loss.js';

const MSS = 1000;

describe('rack: loss numbers in the record array', () => {
  it('a flag change keeps the start, a start change keeps the flags, near 2^32', () => {
    const r = new Rack(16);
    const s0 = 0xfffffc18 as Seq;
    r.onSend(s0, ((s0 + MSS) >>> 0) as Seq, 1);
    const j = r.segs.at(0);
    r.segs.setFlags(j, SegFlag.Retrans | SegFlag.Eor | SegFlag.Lost | SegFlag.Sacked | SegFlag.Tlp);
    expect(r.segs.startOf(j)).to.equal(s0);
    expect(r.segs.endOf(j)).to.equal(((s0 + MSS) >>> 0));
    r.segs.setStart(j, 0xfffffffe as Seq);
    expect(r.segs.startOf(j)).to.equal(0xfffffffe);
    expect(r.segs.flagsOf(j)).to.equal(31);
    r.segs.setFlags(j, 0);
    expect(r.segs.flagsOf(j)).to.equal(0);
    expect(r.segs.startOf(j)).to.equal(0xfffffffe);
  });

  it('RACK and scoreboard numbers survive the ring growing', () => {
    const r = new Rack(16);
    const sb = new SackScoreboard(MSS, 0xffff0000 as Seq, 64, r);
    const base = 0xffff0000;
    r.onSend(base as Seq, ((base + MSS) >>> 0) as Seq, 10);
    sb.onSendNew(((base + MSS) >>> 0) as Seq);
    r.onAck(((base + MSS) >>> 0) as Seq, new Uint32Array(8), 0, 0, false, 0 as Seq, 0 as Seq, ((base + MSS) >>> 0) as Seq, 15.25);
    sb.update(((base + MSS) >>> 0) as Seq, new Uint32Array(8), 0, ((base + MSS) >>> 0) as Seq);
    const before = [r.xmitTs, r.endSeq, r.rtt, r.minRtt, r.fack, sb.sndUna, sb.highData];
    expect(before).to.deep.equal([10, (base + MSS) >>> 0, 5.25, 5.25, (base + MSS) >>> 0, (base + MSS) >>> 0, (base + MSS) >>> 0]);
    const arr = r.segs.r;
    let seq = (base + MSS) >>> 0;
    for (let i = 0; i < 100; i++) { r.onSend(seq as Seq, ((seq + MSS) >>> 0) as Seq, 20 + i); seq = (seq + MSS) >>> 0; }
    sb.onSendNew(seq as Seq);
    expect(r.segs.r).to.not.equal(arr); // grown
    expect([r.xmitTs, r.endSeq, r.rtt, r.minRtt, r.fack, sb.sndUna]).to.deep.equal(before.slice(0, 6));
    expect(sb.highData).to.equal(seq);
    expect(sb.pipe()).to.equal(100 * MSS);
    for (let i = 0; i < 100; i++) expect(r.segs.xmitTsOf(r.segs.at(i))).to.equal(20 + i);
  });

  it('SackRecovery timers read through the Rack after it grows', () => {
    const L = new SackRecovery(MSS, 0 as Seq);
    expect(L.nextAt()).to.equal(Infinity);
    L.tlpAt = 123.5;
    L.rackAt = 99.25;
    for (let i = 0; i < 600; i++) L.rack.onSend((i * MSS) as Seq, ((i + 1) * MSS) as Seq, i);
    expect(L.nextAt()).to.equal(99.25);
    expect(L.tlpAt).to.equal(123.5);
    expect(L.rack.segs.count).to.equal(600);
  });
});
