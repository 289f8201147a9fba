/**
 * Loss recovery over a TcpLayer pair (src/tcp/loss.ts wiring the RFC 6675
 * scoreboard and RACK-TLP into the connection): scripted loss patterns with
 * the expected retransmission sequence and no RTO, spurious-retransmission
 * undo by D-SACK and by timestamps, and a seeded comparison of NewReno
 * without SACK, NewReno + SACK and CUBIC + SACK under random loss.
 */
import { expect } from 'chai';
import { TcpPair, pattern, inject, pump, type WireSeg } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import { Prng } from '../src/util/prng.js';
import { ACK } from '../src/tcp/header.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import type { TcpConfig } from '../src/tcp/config.js';

const MSS = 1448;

/** Relative sequence numbers of a's data segments from log index `from`. */
function dataFromA(p: TcpPair, iss: number, from = 0): { rel: number; len: number; seg: WireSeg }[] {
  return p.log.slice(from).filter((s) => s.from === 'a' && s.len > 0).map((s) => ({ rel: (s.seq - iss - 1) >>> 0, len: s.len, seg: s }));
}

describe('recov: SACK / RACK-TLP loss recovery on the memory pair', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  /**
   * Send 40 segments; drop a's data segments whose transmission index is in
   * `drop` (counting every data segment a sends, retransmissions included).
   */
  function scripted(drop: number[], cfg: Partial<TcpConfig> = {}, n = 40): { client: TcpConnection; iss: number; mark: number } {
    p = new TcpPair({ a: { cc: 'newreno', ...cfg }, b: {} });
    const { client, server } = established(p);
    const iss = p.log[0].seq;
    const mark = p.log.length;
    let k = 0;
    p.dropIf = (s) => s.from === 'a' && s.len > 0 && drop.includes(k++);
    const data = pattern(n * MSS, 3);
    const got = pump(p, client, server, data);
    expect(got.equals(Buffer.from(data)), 'byte-exact').to.equal(true);
    return { client, iss, mark };
  }

  /** Segments sent more than once, in the order of their retransmissions. */
  function retransmitted(iss: number, mark: number): number[] {
    const seen = new Set<number>();
    const out: number[] = [];
    for (const d of dataFromA(p, iss, mark)) {
      if (seen.has(d.rel)) out.push(d.rel / MSS);
      seen.add(d.rel);
    }
    return out;
  }

  it('single loss: one retransmission of the hole, no RTO', () => {
    const { client, iss, mark } = scripted([4]);
    expect(retransmitted(iss, mark)).to.deep.equal([4]);
    const l = client.info().loss;
    expect(l.rtoEvents).to.equal(0);
    expect(l.retransRto).to.equal(0);
    expect(l.recoveries).to.equal(1);
    expect(l.retransFast + l.retransRack).to.equal(1);
    expect(client.info().inRecovery).to.equal(false);
  });

  it('burst loss: the holes are resent in order, once each, no RTO', () => {
    const { client, iss, mark } = scripted([3, 4, 5, 6]);
    expect(retransmitted(iss, mark)).to.deep.equal([3, 4, 5, 6]);
    const l = client.info().loss;
    expect(l.rtoEvents).to.equal(0);
    expect(l.recoveries).to.equal(1);
  });

  it('two holes in one window are one recovery episode', () => {
    const { client, iss, mark } = scripted([2, 7]);
    expect(retransmitted(iss, mark)).to.deep.equal([2, 7]);
    expect(client.info().loss.recoveries).to.equal(1);
    expect(client.info().loss.rtoEvents).to.equal(0);
  });

  it('tail loss: a tail loss probe (RFC 8985 §7) repairs it before the RTO', () => {
    // 10 segments (the initial window): the last two are lost, nothing follows.
    const { client, iss, mark } = scripted([8, 9], {}, 10);
    const l = client.info().loss;
    expect(l.tlpProbes).to.be.greaterThan(0);
    expect(l.retransTlp).to.equal(1);
    expect(l.rtoEvents).to.equal(0);
    const rtx = retransmitted(iss, mark);
    expect(rtx[0], 'the probe resends the last segment').to.equal(9);
    expect([...rtx].sort((a, b) => a - b)).to.deep.equal([8, 9]);
  });

  it('lost retransmission: RACK sees it lost once later data is delivered, no RTO', () => {
    // Transmission 4 is segment 4; its first retransmission is lost too.
    let firstRtx = -1;
    p = new TcpPair({ a: { cc: 'newreno' } });
    const { client, server } = established(p);
    const iss = p.log[0].seq;
    const mark = p.log.length;
    const sent = new Set<number>();
    p.dropIf = (s) => {
      if (s.from !== 'a' || s.len === 0) return false;
      const rel = (s.seq - iss - 1) >>> 0;
      const again = sent.has(rel);
      sent.add(rel);
      if (rel === 4 * MSS && !again) return true;
      if (rel === 4 * MSS && again && firstRtx < 0) { firstRtx = p.log.length; return true; }
      return false;
    };
    const data = pattern(60 * MSS, 5);
    expect(pump(p, client, server, data).equals(Buffer.from(data))).to.equal(true);
    expect(firstRtx).to.be.greaterThan(0);
    const rtx = retransmitted(iss, mark);
    expect(rtx.filter((x) => x === 4).length).to.equal(2);
    const l = client.info().loss;
    expect(l.rtoEvents, JSON.stringify(l)).to.equal(0);
    expect(l.retransRack).to.be.greaterThan(0);
  });

  it('D-SACK of every retransmission undoes the window reduction (RFC 2883, RFC 3708)', () => {
    p = new TcpPair({ a: { cc: 'cubic', timestamps: false }, b: { timestamps: false } });
    const { client, server } = established(p);
    const iss = p.log[0].seq;
    const mss = client.info().mss; // 1460: no timestamp option
    const data = pattern(30 * mss, 6);
    // Segment 3 is "delayed": dropped now, a copy of the original arrives after its retransmission.
    let held = false;
    p.dropIf = (s) => {
      if (s.from === 'a' && s.len > 0 && ((s.seq - iss - 1) >>> 0) === 3 * mss && !held) { held = true; return true; }
      return false;
    };
    const ssthreshBefore = client.info().ssthresh;
    client.write(data);
    p.deliver();
    const mid = client.info();
    expect(mid.loss.recoveries).to.equal(1);
    expect(mid.ssthresh).to.be.lessThan(ssthreshBefore);
    // The late original: the receiver already has it and answers with a D-SACK block.
    inject(p, 'b', {
      srcPort: client.localPort, dstPort: 80, seq: (iss + 1 + 3 * mss) >>> 0, ack: client.info().rcvNxt, flags: ACK,
      payload: data.subarray(3 * mss, 4 * mss),
    });
    p.run(100);
    const got: Uint8Array[] = [];
    for (let d = server.read(); d; d = server.read()) got.push(d);
    expect(Buffer.concat(got).equals(Buffer.from(data))).to.equal(true);
    const l = client.info().loss;
    expect(l.dsackReceived).to.be.greaterThan(0);
    expect(l.spuriousRetrans).to.equal(1);
    expect(l.undos).to.equal(1);
    expect(client.info().ssthresh).to.equal(ssthreshBefore);
  });

  it('a spurious RTO is undone by the timestamps of the late ACK (Eifel, RFC 3522)', () => {
    p = new TcpPair({ a: { cc: 'newreno' } });
    const { client } = established(p);
    const cwnd0 = client.info().cwnd;
    client.write(pattern(1000, 7));
    p.deliver(); // the data arrives; b's delayed ACK is what we hold back
    p.holding = true;
    p.run(300); // delayed ACK (held), then the RTO retransmits (held)
    expect(client.info().loss.rtoEvents).to.equal(1);
    expect(client.info().cwnd).to.be.lessThan(cwnd0);
    p.release(); // the ACK for the original arrives, echoing its older TSval
    p.run(10);
    const l = client.info().loss;
    expect(l.undos).to.equal(1);
    expect(l.spuriousRetrans).to.be.greaterThan(0);
    expect(client.info().cwnd).to.be.at.least(cwnd0);
  });

  it('counts retransmissions by cause per connection and per layer, with pipe and RACK state in info()', () => {
    const { client } = scripted([4, 20]);
    const info = client.info();
    const agg = p.a.counters.loss;
    expect(agg.retransRack + agg.retransFast).to.equal(info.loss.retransRack + info.loss.retransFast);
    expect(agg.recoveries).to.equal(info.loss.recoveries);
    expect(info.pipe).to.equal(0);
    expect(info.sackedBytes).to.equal(0);
    expect(info.retransmits.rack + info.retransmits.fast).to.equal(2);
    expect(p.b.counters.loss.sackBlocksSent).to.be.greaterThan(0);
  });

  it('setCongestionControl chooses the algorithm before data, rejects unknown names', () => {
    p = new TcpPair();
    const { client } = established(p);
    client.setCongestionControl('newreno');
    expect(client.info().cc).to.equal('newreno');
    expect(() => client.setCongestionControl('nope')).to.throw(RangeError);
    client.write(pattern(5000));
    p.deliver();
    expect(() => client.setCongestionControl('cubic')).to.throw(/already sent/);
  });

  it('limited transmit (RFC 3042) without SACK: the first two duplicate ACKs each release a new segment', () => {
    p = new TcpPair({ a: { sack: false, cc: 'newreno', initialCwndSegments: 4 }, b: { sack: false } });
    const { client, server } = established(p);
    const a = wire(p, 'a', { conn: client, only: (s) => s.len > 0 });
    let k = 0;
    p.dropIf = (s) => s.from === 'a' && s.len > 0 && k++ === 0;
    client.setNoDelay(true);
    client.write(pattern(12 * MSS, 8));
    p.deliver();
    // IW 4: segments 0-3, the first lost; two dup ACKs release 4 and 5, the third triggers fast retransmit.
    for (const i of [0, 1, 2, 3]) a.expectSegment({ relSeq: 1 + i * MSS, len: MSS }, `initial window, segment ${i}`);
    for (const i of [4, 5]) a.expectSegment({ relSeq: 1 + i * MSS, len: MSS }, `limited transmit of segment ${i}`);
    a.expectSegment({ relSeq: 1, len: MSS }, 'fast retransmit of segment 0 on the third duplicate ACK');
    p.run(1000);
    expect(server.readable()).to.equal(12 * MSS);
    expect(client.info().loss.rtoEvents).to.equal(0);
  });
});

/**
 * Run the pair with a one-way delay of 1 ms (each segment waits one clock
 * step in the harness's hold queue) until the server has read `data`.
 */
function pumpDelayed(p: TcpPair, client: TcpConnection, server: TcpConnection, data: Uint8Array, maxMs: number): Buffer {
  const got: Uint8Array[] = [];
  let have = 0;
  let off = 0;
  p.holding = true;
  for (let i = 0; i < maxMs && have < data.length; i++) {
    if (off < data.length) off += client.write(data.subarray(off));
    const batch = p.held.splice(0);
    for (const h of batch) h.to.input(h.m, h.src, h.dst, h.tos);
    p.deliver(); // what they sent joins the hold queue (after the random loss)
    for (let d = server.read(); d; d = server.read()) { got.push(d); have += d.length; }
    const now = p.clock.now() + 1;
    p.clock.set(now);
    p.a.tick(now);
    p.b.tick(now);
    p.deliver();
  }
  p.holding = false;
  return Buffer.concat(got);
}

describe('recov: seeded random loss, SACK against no SACK (goodput printed, not asserted)', () => {
  const SIZE = 1 << 20;
  const kinds: { name: string; cfg: Partial<TcpConfig> }[] = [
    { name: 'newreno, no SACK', cfg: { sack: false, cc: 'newreno' } },
    { name: 'newreno + SACK', cfg: { sack: true, cc: 'newreno' } },
    { name: 'cubic + SACK', cfg: { sack: true, cc: 'cubic' } },
  ];
  for (const loss of [0.001, 0.01, 0.05]) {
    it(`${loss * 100} % loss: every variant completes byte-exact; SACK times out less`, () => {
      const res: Record<string, { ms: number; rtxBytes: number; rtos: number }> = {};
      for (const k of kinds) {
        const seed = 4242;
        const p = new TcpPair({ a: k.cfg, b: { sack: k.cfg.sack } });
        const { client, server } = established(p);
        p.impair = { prng: new Prng(seed), loss, reorder: 0, dup: 0 };
        const data = pattern(SIZE, 11);
        const t0 = p.clock.now();
        const got = pumpDelayed(p, client, server, data, 600_000);
        const ms = p.clock.now() - t0;
        expect(got.equals(Buffer.from(data)), `${k.name}: byte-exact`).to.equal(true);
        const info = client.info();
        res[k.name] = { ms, rtxBytes: info.bytesRetransmitted, rtos: info.loss.rtoEvents };
        console.log(`      ${k.name.padEnd(18)} ${(SIZE / 1024).toFixed(0)} KiB in ${ms} ms virtual at 2 ms RTT (${((SIZE * 8) / Math.max(1, ms) / 1000).toFixed(1)} Mbit/s), `
          + `${info.bytesRetransmitted} bytes resent, RTOs ${info.loss.rtoEvents}, by cause ${JSON.stringify(info.retransmits)}`);
        p.close();
        expect(p.pool.inUse()).to.equal(p.startInUse);
      }
      const noSack = res['newreno, no SACK'];
      const sack = res['newreno + SACK'];
      // (Bytes resent are printed, not compared: the same seed loses different
      // segments once the two senders' trajectories part.)
      expect(sack.rtos, 'SACK recovery times out no more').to.be.at.most(noSack.rtos);
      if (loss >= 0.05) expect(sack.rtos, 'SACK recovery times out less').to.be.lessThan(noSack.rtos);
      expect(res['cubic + SACK'].rtos).to.be.at.most(noSack.rtos);
    });
  }
});
