/**
 * Proportional Rate Reduction (src/tcp/prr.ts) against RFC 6937's worked
 * examples and the counts Linux's packetdrill script
 * fast_recovery/prr-ss-ack-below-snd_una-cubic.pkt expects.
 */
import { expect } from 'chai';
import { Prr } from '../src/tcp/prr.js';
import { runScriptText } from '../src/drill/interpreter.js';
import { parseDefaults, type DrillProfile } from '../src/drill/defaults.js';

const MSS = 1000;

/**
 * RFC 6937 §5 (Figure 2, PRR row): 20 segments in flight, the first lost,
 * ssthresh = 10. Recovery starts on the third duplicate ACK; every ACK after
 * that SACKs one more segment. Returns the segments sent on each ACK from
 * the one that starts recovery, with pipe tracked as RFC 6675 does.
 */
function singleLoss(bound: 'linux' | 'rfc'): { sent: number[]; pipes: number[]; prr: Prr } {
  const prr = new Prr(bound);
  const ssthresh = 10 * MSS;
  prr.start(20 * MSS);
  // 20 out, 3 SACKed, 1 lost: pipe 16 when the third duplicate ACK arrives.
  let pipe = 16 * MSS;
  const sent: number[] = [];
  const pipes: number[] = [];
  for (let ack = 0; ack < 17; ack++) {
    if (ack > 0) pipe -= MSS; // this ACK SACKs one more segment
    pipes.push(pipe / MSS);
    const sndcnt = prr.onAck(MSS, pipe, ssthresh, MSS, false);
    const segs = Math.max(0, Math.floor(sndcnt / MSS));
    prr.onSent(segs * MSS);
    pipe += segs * MSS;
    sent.push(segs);
  }
  return { sent, pipes, prr };
}

describe('prr: RFC 6937 Proportional Rate Reduction', () => {
  it('single loss, 20 in flight, ssthresh 10: one segment every other ACK, then one per ACK at ssthresh (RFC 6937 Figure 2)', () => {
    for (const bound of ['linux', 'rfc'] as const) {
      const { sent, prr } = singleLoss(bound);
      // The retransmission on the ACK that starts recovery, then every other
      // ACK while pipe > ssthresh; once pipe has come down to ssthresh, one
      // segment per segment delivered.
      expect(sent, bound).to.deep.equal([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1]);
      // No burst: never more than one segment on one ACK.
      expect(Math.max(...sent)).to.equal(1);
      // By the end, what was sent equals ssthresh: the window came down to it without a gap.
      expect(prr.out).to.equal(10 * MSS);
      expect(prr.delivered).to.equal(17 * MSS);
    }
  });

  it('without PRR the same ACK would release cwnd − pipe at once: PRR sends one segment instead', () => {
    const prr = new Prr();
    prr.start(20 * MSS);
    // A pipe below ssthresh on entry (several losses): RFC 6675 alone sends ssthresh − pipe = 6 segments.
    const sndcnt = prr.onAck(MSS, 4 * MSS, 10 * MSS, MSS, false);
    expect(sndcnt).to.equal(MSS);
  });

  it('PRR-SSRB (rfc bound): below ssthresh it grows like slow start, DeliveredData + 1 MSS per ACK, capped at ssthresh − pipe', () => {
    const prr = new Prr('rfc');
    const ssthresh = 10 * MSS;
    prr.start(20 * MSS);
    let pipe = 4 * MSS; // a burst of losses took pipe far below ssthresh
    const sent: number[] = [];
    for (let i = 0; i < 6; i++) {
      const sndcnt = prr.onAck(MSS, pipe, ssthresh, MSS, false);
      const segs = Math.floor(sndcnt / MSS);
      prr.onSent(segs * MSS);
      pipe += segs * MSS - MSS; // the next ACK delivers one segment
      sent.push(segs);
    }
    // Each ACK: one delivered, two sent, so pipe climbs 4, 5, … until ssthresh − pipe = 1 caps it.
    expect(sent).to.deep.equal([2, 2, 2, 2, 2, 1]);
  });

  it('linux bound: DeliveredData + 1 MSS only on an ACK that acknowledges retransmitted data, else DeliveredData', () => {
    const prr = new Prr('linux');
    prr.start(10 * MSS);
    expect(prr.onAck(2 * MSS, 2 * MSS, 7 * MSS, MSS, false)).to.equal(2 * MSS); // forced first + delivered 2
    prr.onSent(2 * MSS);
    expect(prr.onAck(2 * MSS, 2 * MSS, 7 * MSS, MSS, false)).to.equal(2 * MSS);
    prr.onSent(2 * MSS);
    expect(prr.onAck(2 * MSS, 2 * MSS, 7 * MSS, MSS, true)).to.equal(3 * MSS);
  });

  it('the packetdrill prr-ss-ack-below-snd_una case: 1, then 3, then 2 segments (cubic ssthresh 7 of 10)', () => {
    const prr = new Prr();
    const ssthresh = 7 * MSS;
    prr.start(10 * MSS);
    // Third duplicate ACK SACKs 8001:9001: 1:1001 and 3001:8001 lost, pipe 1.
    let s = prr.onAck(MSS, 1 * MSS, ssthresh, MSS, false);
    expect(s).to.equal(MSS);
    prr.onSent(MSS);
    // ack 4001: 4 segments acked, 2 of them SACKed before: DeliveredData 2; the
    // retransmission 1:1001 is acknowledged; pipe 0 (the rest is lost).
    s = prr.onAck(2 * MSS, 0, ssthresh, MSS, true);
    expect(s).to.equal(3 * MSS);
    prr.onSent(3 * MSS);
    // ack 3001 (below SND.UNA) SACKing 5001:7001: DeliveredData 2, pipe 1.
    s = prr.onAck(2 * MSS, 1 * MSS, ssthresh, MSS, false);
    expect(s).to.equal(2 * MSS);
  });

  it('an ACK that delivers nothing leaves the window alone (-1), except that the first retransmission always goes', () => {
    const prr = new Prr();
    prr.start(10 * MSS);
    expect(prr.onAck(0, 12 * MSS, 7 * MSS, MSS, false)).to.equal(MSS);
    prr.onSent(MSS);
    expect(prr.onAck(0, 12 * MSS, 7 * MSS, MSS, false)).to.equal(-1);
    prr.stop();
    expect(prr.onAck(MSS, 5 * MSS, 7 * MSS, MSS, false)).to.equal(-1);
    prr.onSent(MSS); // ignored outside recovery
    expect(prr.out).to.equal(MSS);
  });

  it('sndcnt never exceeds ssthresh − pipe below ssthresh, and prr_out never runs past CEIL(prr_delivered·ssthresh/RecoverFS) above it (random ACK streams)', () => {
    let seed = 12345;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    for (let run = 0; run < 200; run++) {
      const prr = new Prr(run % 2 === 0 ? 'linux' : 'rfc');
      const fs = (5 + rnd(40)) * MSS;
      const ssthresh = Math.max(2 * MSS, Math.floor((fs * 7) / 10 / MSS) * MSS);
      prr.start(fs);
      let pipe = fs - MSS;
      for (let i = 0; i < 60; i++) {
        const del = rnd(3) * MSS;
        pipe = Math.max(0, pipe - del - (rnd(5) === 0 ? MSS : 0));
        const s = prr.onAck(del, pipe, ssthresh, MSS, rnd(4) === 0);
        if (s < 0) continue;
        if (prr.out > 0 && pipe <= ssthresh) expect(s, `run ${run}`).to.be.at.most(ssthresh - pipe);
        if (prr.out > 0 && pipe > ssthresh) {
          expect(prr.out + s, `run ${run}`).to.be.at.most(Math.ceil((prr.delivered * ssthresh) / fs / MSS) * MSS);
        }
        const segs = Math.floor(s / MSS);
        prr.onSent(segs * MSS);
        pipe += segs * MSS;
      }
    }
  });
});

describe('prr: in SACK recovery on a TcpLayer (drill, linux profile)', () => {
  // 10 segments of 1000 bytes; 1:1001, 3001:8001 are missing when the third
  // duplicate ACK arrives (cubic: ssthresh 7 of cwnd 10, pipe 1). RFC 6675
  // alone would send cwnd − pipe = 6 segments on it; PRR sends the one
  // retransmission, then on the ACK of that retransmission
  // DeliveredData + 1 = 3 segments.
  const SCRIPT = `
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 8>
+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
+.01  < . 1:1(0) ack 1 win 320
+0    accept(3, ..., ...) = 4
+0    write(4, ..., 10000) = 10000
+0    > P. 1:10001(10000) ack 1
+.01  < . 1:1(0) ack 1 win 320 <sack 1001:2001,nop,nop>
+0    < . 1:1(0) ack 1 win 320 <sack 1001:3001,nop,nop>
+0    < . 1:1(0) ack 1 win 320 <sack 1001:3001 8001:9001,nop,nop>
+0    > . 1:1001(1000) ack 1
+.012 < . 1:1(0) ack 4001 win 320 <sack 8001:9001,nop,nop>
+0    > . 4001:7001(3000) ack 1
`;
  const profile = (): DrillProfile => parseDefaults('', 'test').linux;

  it('one segment on entering recovery, three on the ACK of the retransmission', () => {
    const r = runScriptText(SCRIPT, { profile: profile() });
    expect(r.status, `${r.line}: ${r.message}`).to.equal('pass');
  });

  it('with prr off, recovery sends cwnd − pipe at once (the same script fails on the entry burst)', () => {
    const p = profile();
    p.tcp = { ...p.tcp, prr: false };
    const r = runScriptText(SCRIPT, { profile: p });
    expect(r.status).to.equal('fail');
    expect(r.line).to.be.greaterThanOrEqual(16);
  });
});
