import { expect } from 'chai';
import { createCongestionControl, registerCongestionControl, congestionControlNames, SSTHRESH_INFINITE } from '../src/tcp/cc/cc.js';
import type { CongestionControl } from '../src/tcp/cc/cc.js';
import { NewReno } from '../src/tcp/cc/newreno.js';
import { Cubic } from '../src/tcp/cc/cubic.js';
import { Dctcp } from '../src/tcp/cc/dctcp.js';

const MSS = 1000;

/**
 * Delivers one RTT's worth of ACKs: the whole cwnd is in flight, acknowledged
 * one MSS per ACK, spread evenly over the RTT. Returns the time at the end.
 */
function oneRound(cc: CongestionControl, now: number, rttMs: number): number {
  const n = Math.max(1, Math.floor(cc.cwnd / MSS));
  let flight = n * MSS;
  for (let i = 0; i < n; i++) {
    now += rttMs / n;
    cc.onAck(MSS, rttMs, flight, now);
    flight -= MSS;
  }
  return now;
}

describe('cc: registry', () => {
  it('creates the built-ins with IW10 (RFC 6928) and infinite ssthresh', () => {
    for (const name of ['newreno', 'cubic', 'dctcp']) {
      const cc = createCongestionControl(name, 1448, 10);
      expect(cc.name).to.equal(name);
      expect(cc.cwnd).to.equal(14480);
      expect(cc.ssthresh).to.equal(SSTHRESH_INFINITE);
      expect(cc.pacingRate!()).to.equal(0);
    }
  });
  it('accepts registered algorithms and rejects unknown names', () => {
    registerCongestionControl('test-fixed', (mss) => {
      const r = new NewReno(mss, 4);
      return r;
    });
    expect(congestionControlNames()).to.include('test-fixed');
    expect(createCongestionControl('test-fixed', 100, 10).cwnd).to.equal(400);
    expect(() => createCongestionControl('nope', 1000, 10)).to.throw(RangeError);
  });
});

describe('cc: NewReno (RFC 5681, 6582, 3465)', () => {
  it('slow start grows by bytes acked, at most 2·SMSS per ACK (ABC L=2)', () => {
    const cc = new NewReno(MSS, 10);
    cc.onAck(MSS, 10, 10 * MSS, 1);
    expect(cc.cwnd).to.equal(11 * MSS);
    cc.onAck(5 * MSS, 10, 10 * MSS, 2); // stretch ACK: capped at L·SMSS
    expect(cc.cwnd).to.equal(13 * MSS);
    cc.onAck(300, 10, 10 * MSS, 3);
    expect(cc.cwnd).to.equal(13 * MSS + 300);
    expect(cc.inSlowStart()).to.equal(true);
  });

  it('doubles per RTT in slow start, then +1 SMSS per RTT in congestion avoidance', () => {
    const cc = new NewReno(MSS, 10);
    let now = oneRound(cc, 0, 100);
    expect(cc.cwnd).to.equal(20 * MSS);
    cc.ssthresh = 20 * MSS;
    for (let r = 0; r < 5; r++) {
      const before = cc.cwnd;
      now = oneRound(cc, now, 100);
      expect(cc.cwnd - before).to.equal(MSS);
    }
    expect(cc.cwnd).to.equal(25 * MSS);
  });

  it('fast recovery: ssthresh = FlightSize/2, no growth while recovering, cwnd = ssthresh on exit', () => {
    const cc = new NewReno(MSS, 10);
    cc.cwnd = 40 * MSS;
    cc.onCongestion('fast', 30 * MSS, 100);
    expect(cc.ssthresh).to.equal(15 * MSS);
    expect(cc.cwnd).to.equal(15 * MSS);
    expect(cc.inRecovery()).to.equal(true);
    cc.onAck(5 * MSS, 10, 30 * MSS, 110);
    expect(cc.cwnd).to.equal(15 * MSS);
    cc.onRecoveryExit(120);
    expect(cc.inRecovery()).to.equal(false);
    expect(cc.cwnd).to.equal(15 * MSS);
    cc.onAck(15 * MSS, 10, 15 * MSS, 130);
    expect(cc.cwnd).to.equal(16 * MSS); // congestion avoidance again
  });

  it('ssthresh is at least 2·SMSS', () => {
    const cc = new NewReno(MSS, 10);
    cc.onCongestion('fast', MSS, 0);
    expect(cc.ssthresh).to.equal(2 * MSS);
  });

  it('RFC 6582 window inflation without SACK, partial-ACK deflation, full-ACK deflation', () => {
    const cc = new NewReno(MSS, 10);
    cc.cwnd = 20 * MSS;
    cc.onCongestion('fast', 20 * MSS, 0);
    cc.onDupAck(3); // step 2: ssthresh + 3·SMSS
    expect(cc.cwnd).to.equal(13 * MSS);
    cc.onDupAck(1); // step 4
    cc.onDupAck(1);
    expect(cc.cwnd).to.equal(15 * MSS);
    cc.onAck(2 * MSS, undefined, 20 * MSS, 5); // step 5: partial ACK: −2 SMSS + 1 SMSS
    expect(cc.cwnd).to.equal(14 * MSS);
    cc.onRecoveryExit(6); // step 6
    expect(cc.cwnd).to.equal(10 * MSS);
  });

  it('RTO: loss window of 1 SMSS; repeated timeouts keep ssthresh', () => {
    const cc = new NewReno(MSS, 10);
    cc.cwnd = 40 * MSS;
    cc.onCongestion('rto', 40 * MSS, 0);
    expect(cc.cwnd).to.equal(MSS);
    expect(cc.ssthresh).to.equal(20 * MSS);
    cc.onCongestion('rto', MSS, 1000);
    expect(cc.ssthresh).to.equal(20 * MSS);
    expect(cc.cwnd).to.equal(MSS);
    cc.onAck(MSS, undefined, MSS, 1100);
    expect(cc.cwnd).to.equal(2 * MSS); // slow start again
  });

  it('undoes a spurious reduction', () => {
    const cc = new NewReno(MSS, 10);
    cc.cwnd = 40 * MSS;
    cc.ssthresh = 30 * MSS;
    cc.onCongestion('fast', 40 * MSS, 0);
    cc.onSpuriousUndo();
    expect(cc.cwnd).to.equal(40 * MSS);
    expect(cc.ssthresh).to.equal(30 * MSS);
    expect(cc.inRecovery()).to.equal(false);
    cc.onSpuriousUndo(); // nothing left to undo
    expect(cc.cwnd).to.equal(40 * MSS);
  });

  it('classic ECN reacts at most once per window of data (RFC 3168 §6.1.2)', () => {
    const cc = new NewReno(MSS, 10);
    cc.cwnd = 20 * MSS;
    expect(cc.onEcnEcho(MSS, true, 20 * MSS, 0)).to.equal(true);
    cc.onAck(MSS, 10, 20 * MSS, 0);
    expect(cc.cwnd).to.equal(10 * MSS);
    expect(cc.inRecovery()).to.equal(false);
    let reacted = 0;
    for (let i = 0; i < 19; i++) if (cc.onEcnEcho(MSS, true, 19 * MSS, i)) reacted++;
    for (let i = 0; i < 19; i++) cc.onAck(MSS, 10, 19 * MSS, i);
    expect(reacted).to.equal(0);
    expect(cc.onEcnEcho(MSS, true, 10 * MSS, 50)).to.equal(true);
    expect(cc.onEcnEcho(MSS, false, 10 * MSS, 51)).to.equal(false);
  });
});

describe('cc: CUBIC window growth (RFC 9438)', () => {
  const C = 0.4;
  const BETA = 0.7;

  function afterLossAt(wMaxSeg: number): Cubic {
    const cc = new Cubic(MSS, 10);
    cc.cwnd = wMaxSeg * MSS;
    cc.onCongestion('fast', wMaxSeg * MSS, 0);
    cc.onRecoveryExit(0);
    return cc;
  }

  it('reduces by β = 0.7 and sets W_max', () => {
    const cc = afterLossAt(100);
    expect(cc.cwnd).to.equal(70 * MSS);
    expect(cc.ssthresh).to.equal(70 * MSS);
    expect(cc.state().wMax).to.equal(100);
  });

  it('follows W_cubic(t) = C(t−K)³ + W_max with K = ∛(W_max(1−β)/C)', () => {
    // Large enough that the Reno-friendly estimate stays below the curve
    const wMax = 1000;
    const cc = afterLossAt(wMax);
    // Independent reference (RFC 9438 eq. 1 and 2): cwnd_epoch = β·W_max
    const K = Math.cbrt((wMax - BETA * wMax) / C);
    const W = (t: number) => C * Math.pow(t - K, 3) + wMax;
    const rtt = 100;
    let now = 0;
    let maxErr = 0;
    let rounds = 0;
    while (now < 14000) {
      now = oneRound(cc, now, rtt);
      rounds++;
      const t = now / 1000;
      const got = cc.cwnd / MSS;
      const want = W(t);
      maxErr = Math.max(maxErr, Math.abs(got - want) / want);
      if (process.env.CC_DEBUG) console.log(t.toFixed(2), got.toFixed(2), want.toFixed(2));
    }
    expect(rounds).to.be.greaterThan(50);
    // cwnd tracks the curve closely (it aims at W(t + RTT) one RTT ahead)
    expect(maxErr).to.be.lessThan(0.01);
    // concave then convex: near W_max at K, well above it by t = 8 s
    expect(cc.cwnd / MSS).to.be.closeTo(W(now / 1000), 0.03 * W(now / 1000));
    expect(cc.cwnd / MSS).to.be.greaterThan(wMax + 0.4 * Math.pow(13.5 - K, 3));
    expect(cc.state().wEst).to.be.lessThan(cc.cwnd / MSS);
  });

  it('plateaus around W_max near t = K', () => {
    const cc = afterLossAt(100);
    const K = Math.cbrt(30 / C);
    let now = 0;
    while (now < K * 1000) now = oneRound(cc, now, 100);
    expect(cc.cwnd / MSS).to.be.within(98, 101.5);
  });

  it('uses the Reno-friendly estimate W_est when it is larger (short RTT)', () => {
    const cc = afterLossAt(100);
    const alpha = (3 * (1 - BETA)) / (1 + BETA);
    const rtt = 2;
    let now = 0;
    // Reference: W_est grows by α per RTT (α_cubic until W_est reaches cwnd_prior, then 1)
    let west = 70;
    let maxErr = 0;
    for (let r = 0; r < 60; r++) {
      const n = Math.floor(cc.cwnd / MSS);
      now = oneRound(cc, now, rtt);
      west += (west >= 100 ? 1 : alpha) * (n / west);
      maxErr = Math.max(maxErr, Math.abs(cc.cwnd / MSS - west));
    }
    const t = now / 1000;
    const K = Math.cbrt(30 / C);
    expect(C * Math.pow(t - K, 3) + 100).to.be.lessThan(west); // cubic curve is below
    expect(maxErr).to.be.lessThan(1.5);
    expect(cc.cwnd / MSS).to.be.greaterThan(95);
  });

  it('fast convergence lowers W_max when losses repeat below it', () => {
    const cc = afterLossAt(100);
    cc.onCongestion('fast', 70 * MSS, 10); // cwnd 70 < W_max 100
    expect(cc.state().wMax).to.be.closeTo((70 * (1 + BETA)) / 2, 1e-9);
    expect(cc.cwnd).to.equal(49 * MSS);
  });

  it('never grows more than 1.5× cwnd per RTT in the convex region', () => {
    const cc = new Cubic(MSS, 10);
    cc.ssthresh = 10 * MSS; // straight to congestion avoidance, no W_max
    let now = 0;
    for (let r = 0; r < 100; r++) {
      const before = cc.cwnd;
      now = oneRound(cc, now, 500);
      expect(cc.cwnd).to.be.at.most(Math.ceil(1.5 * before) + MSS);
      expect(cc.cwnd).to.be.at.least(before);
    }
  });

  it('undo restores cwnd, ssthresh and the curve (RFC 9438 §4.9)', () => {
    const cc = afterLossAt(100);
    let now = 0;
    for (let r = 0; r < 10; r++) now = oneRound(cc, now, 100);
    const cwnd = cc.cwnd;
    const st = cc.state();
    cc.onCongestion('fast', cwnd, now);
    expect(cc.cwnd).to.be.lessThan(cwnd);
    cc.onSpuriousUndo();
    expect(cc.cwnd).to.equal(cwnd);
    expect(cc.ssthresh).to.equal(70 * MSS);
    expect(cc.state().wMax).to.equal(st.wMax);
    expect(cc.state().k).to.equal(st.k);
  });

  it('RTO: cwnd = 1 SMSS, ssthresh = β·cwnd', () => {
    const cc = new Cubic(MSS, 10);
    cc.cwnd = 50 * MSS;
    cc.onCongestion('rto', 50 * MSS, 0);
    expect(cc.cwnd).to.equal(MSS);
    expect(cc.ssthresh).to.equal(35 * MSS);
  });
});

describe('cc: DCTCP (RFC 8257)', () => {
  let ackNo = 0;
  /** w ACKs of one MSS each with a constant flight of w segments; every `every`-th ACK carries ECE. */
  function window(cc: Dctcp, w: number, every: number, now: number): boolean {
    const flight = w * MSS;
    let reduced = false;
    for (let i = 0; i < w; i++) {
      const ece = every > 0 && ackNo % every === 0;
      ackNo++;
      if (cc.onEcnEcho(MSS, ece, flight, now)) reduced = true;
      cc.onAck(MSS, 1, flight, now);
    }
    return reduced;
  }

  it('α follows the EWMA with g = 1/16 and converges to the marking fraction', () => {
    const cc = new Dctcp(MSS, 10);
    cc.ssthresh = 1;
    ackNo = 0;
    // WindowEnd = SND.NXT at the first ACK; the window ends when SND.UNA passes it
    window(cc, 20, 4, 0);
    expect(cc.alpha).to.equal(1);
    window(cc, 20, 4, 1); // the first window closed at its 21st ACK (6 of 21 marked)
    let expected = (15 / 16) * 1 + (6 / 21) / 16;
    expect(cc.alpha).to.be.closeTo(expected, 1e-12);
    for (let n = 0; n < 100; n++) {
      window(cc, 20, 4, n); // every later window: 20 ACKs, 5 marked
      expected = (15 / 16) * expected + 0.25 / 16;
      expect(cc.alpha).to.be.closeTo(expected, 1e-12);
    }
    expect(cc.alpha).to.be.closeTo(0.25, 0.01);
  });

  it('α decays towards 0 without marks; cwnd·(1 − α/2) once per window on ECE', () => {
    const cc = new Dctcp(MSS, 10);
    cc.ssthresh = 1;
    ackNo = 0;
    for (let n = 0; n < 200; n++) window(cc, 20, 0, n);
    expect(cc.alpha).to.be.lessThan(0.001);
    cc.alpha = 0.5;
    cc.cwnd = 100 * MSS;
    let reductions = 0;
    let flight = 100 * MSS;
    let expectCwnd = 0;
    for (let i = 0; i < 100; i++) {
      if (cc.onEcnEcho(MSS, true, flight, 0)) {
        reductions++;
        expectCwnd = Math.floor(100 * MSS * (1 - cc.alpha / 2));
        expect(cc.cwnd).to.equal(expectCwnd);
      }
      flight -= MSS;
    }
    expect(reductions).to.equal(1);
    expect(expectCwnd).to.be.within(70 * MSS, 77 * MSS);
    expect(cc.ssthresh).to.equal(expectCwnd);
  });

  it('falls back to NewReno halving on loss', () => {
    const cc = new Dctcp(MSS, 10);
    cc.cwnd = 40 * MSS;
    cc.onCongestion('fast', 40 * MSS, 0);
    expect(cc.cwnd).to.equal(20 * MSS);
  });
});
