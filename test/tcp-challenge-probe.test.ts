/**
 * The off-path challenge-ACK probe of CVE-2016-5696: an
 * attacker sends spoofed RSTs into a guessed window of a victim connection,
 * then RSTs on its own connection to the same host, and counts the
 * challenge ACKs it gets back. With one shared, fixed budget per second the
 * count said whether the guess was in the window (900 against 1000); with
 * per-connection limits and a randomized budget it says nothing.
 */
import { expect } from 'chai';
import { TcpPair, IP_B, inject } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { ACK, RST } from '../src/tcp/header.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import type { TcpConfig } from '../src/tcp/config.js';
import { TcpState } from '../src/tcp/state.js';
import { pinnedSeed } from './helpers/seed.js';

/** b's challenge ACKs to `port` since log index `from`. */
function challengeAcksTo(p: TcpPair, port: number, from: number): number {
  let n = 0;
  for (let i = from; i < p.log.length; i++) {
    const s = p.log[i];
    if (s.from === 'b' && s.dstPort === port && s.flags === ACK && s.len === 0) n++;
  }
  return n;
}

/** One trial: `victimRsts` spoofed RSTs in (or outside) the victim's window, then one RST on each attacker connection `rounds` times. */
function trial(secret: number, inWindow: boolean, victimRsts: number, attackers: number, rounds: number, b: Partial<TcpConfig>): number {
  const sec = new Uint8Array(16);
  new DataView(sec.buffer).setUint32(0, secret);
  const p = new TcpPair({ b: { ...b, isnSecret: sec } });
  try {
    const { client: victim, server: vs } = established(p);
    const own: TcpConnection[] = [];
    for (let i = 0; i < attackers; i++) { own.push(p.a.connect(IP_B, 80)); }
    p.deliver();
    p.clock.set(Math.ceil(p.clock.now() / 1000) * 1000 + 10 + (secret % 500)); // all within one second
    const vNxt = vs.info().rcvNxt;
    for (let i = 0; i < victimRsts; i++) {
      const seq = inWindow ? vNxt + 100 + i : vNxt + 0x40000000 + i;
      inject(p, 'b', { srcPort: victim.localPort, dstPort: 80, seq: seq >>> 0, flags: RST });
    }
    expect(vs.state).to.equal(TcpState.Established);
    const mark = p.log.length;
    let seen = 0;
    for (const c of own) {
      const nxt = c.info().sndNxt; // the server's RCV.NXT for it
      for (let r = 0; r < rounds; r++) inject(p, 'b', { srcPort: c.localPort, dstPort: 80, seq: (nxt + 100 + r) >>> 0, flags: RST });
      seen += challengeAcksTo(p, c.localPort, mark);
    }
    return seen;
  } finally {
    p.close();
  }
}

/** Accuracy of the best threshold rule telling `a` from `b` (0.5 = a coin). */
function bestThresholdAccuracy(a: number[], b: number[]): number {
  let best = 0;
  for (const t of [...a, ...b]) {
    for (const dir of [1, -1]) {
      const ok = a.filter((x) => dir * x <= dir * t).length + b.filter((x) => dir * x > dir * t).length;
      best = Math.max(best, ok / (a.length + b.length));
    }
  }
  return best;
}

describe('tcp: challenge ACKs are no side channel (CVE-2016-5696)', () => {
  const seed = pinnedSeed(5696);

  it(`the published probe (100 spoofed RSTs in the victim's window, then 1000 on the attacker's connection) gets the same count either way (seed ${seed})`, () => {
    const inW: number[] = [];
    const outW: number[] = [];
    for (let t = 0; t < 8; t++) {
      inW.push(trial(seed + t, true, 100, 1, 1000, {}));
      outW.push(trial(seed + t, false, 100, 1, 1000, {}));
    }
    // One per connection per 500 ms: the attacker's own connection yields 1, whatever the victim got.
    expect(inW).to.deep.equal(outW);
    expect(new Set(inW)).to.deep.equal(new Set([1]));
  });

  it(`many attacker connections against the randomized budget: in-window and out-of-window guesses are indistinguishable (seed ${seed})`, () => {
    // Scaled down: a budget of 100 (drawn from [50, 150)), 150 attacker connections, 20 spoofed RSTs.
    const cfg = { challengeAckLimit: 100 };
    const inW: number[] = [];
    const outW: number[] = [];
    for (let t = 0; t < 16; t++) {
      inW.push(trial(seed * 31 + t, true, 20, 150, 1, cfg));
      outW.push(trial(seed * 31 + 1000 + t, false, 20, 150, 1, cfg));
    }
    const mean = (x: number[]): number => x.reduce((s, v) => s + v, 0) / x.length;
    const sd = (x: number[]): number => Math.sqrt(x.reduce((s, v) => s + (v - mean(x)) ** 2, 0) / (x.length - 1));
    // Each count is the second's random budget (less the victim's one challenge ACK when the guess hit).
    for (const n of [...inW, ...outW]) expect(n).to.be.within(49, 150);
    const diff = Math.abs(mean(inW) - mean(outW));
    const se = Math.sqrt(sd(inW) ** 2 / inW.length + sd(outW) ** 2 / outW.length);
    expect(diff, `means ${mean(inW)} vs ${mean(outW)}, se ${se}`).to.be.below(2 * se);
    expect(sd(inW), 'the budget varies').to.be.greaterThan(10);
    expect(bestThresholdAccuracy(inW, outW), `in ${inW} out ${outW}`).to.be.below(0.8);
  });
});
