/**
 * "ACK at least every second full-sized segment" (RFC 5681 §4.2, RFC 9293
 * §3.8.6.3) measured by the size of the segments the peer actually sends
 * (Linux rcv_mss), not by our MSS: a peer whose MSS is smaller than ours
 * must not be ACKed only every third segment. A GRO aggregate is measured by
 * its original segments, not its total length.
 */
import { expect } from 'chai';
import type { TcpConnection } from '../src/tcp/connection.js';
import { createStackPair } from '../src/testing.js';
import { TcpPair, pattern, type WireSeg } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import { ACK } from '../src/tcp/header.js';

type Held = TcpPair['held'][number];

function drain(s: TcpConnection): number {
  let n = 0;
  for (let d = s.read(); d; d = s.read()) n += d.length;
  return n;
}

/** The distinct ACK numbers b sent after `from` (in log order), beginning with `start`. */
function ackSteps(log: WireSeg[], from: number, start: number): number[] {
  const acks = [start];
  for (const w of log.slice(from)) {
    if (w.from === 'b' && w.ack !== acks[acks.length - 1]) acks.push(w.ack);
  }
  const steps: number[] = [];
  for (let i = 1; i < acks.length; i++) steps.push((acks[i] - acks[i - 1]) >>> 0);
  return steps;
}

describe('tcp: delayed ACKs count the peer\'s segment size', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('ACKs at least every second segment of a peer sending 1000-byte segments (MSS 1000 < ours)', () => {
    p = new TcpPair({ checksumUnneeded: true, a: { mss: 1000 } });
    const { client: c, server: s } = established(p);
    const seg = c.info().mss;
    expect(seg).to.be.below(1000); // 988 with timestamps: smaller than b's full segment (1448)
    const start = c.info().sndUna;
    const from = p.log.length;
    const fromA = wire(p, 'a', { conn: c, only: (w) => w.len > 0 });
    const total = 200 * seg;
    const data = pattern(total, 3);
    // No reads until the end: window updates (ACKs of their own) stay out of the count.
    expect(c.write(data)).to.equal(total);
    p.deliver();
    p.run(200);
    expect(s.readable()).to.equal(total);
    expect(drain(s)).to.equal(total);
    const dataSegs = fromA.takeAll();
    expect(dataSegs.every((w) => w.len <= seg)).to.equal(true);
    const steps = ackSteps(p.log, from, start);
    expect((start + steps.reduce((x, y) => x + y, 0)) >>> 0).to.equal((start + total) >>> 0);
    // Never more than two of the peer's segments between one ACK and the next.
    expect(Math.max(...steps)).to.be.at.most(2 * seg);
    expect(steps.length).to.be.at.least(Math.floor(dataSegs.length / 2));
  });

  it('measures a GRO aggregate by its original segments, not its total length', () => {
    p = new TcpPair({ checksumUnneeded: true, a: { mss: 1000 } });
    const { client: c, server: s } = established(p);
    const seg = c.info().mss;
    /** Send `n` segments from a and feed them to b as one receive burst; returns b's segments in answer. */
    const burst = (n: number, seed: number): number => {
      p.deliver();
      p.holding = true;
      expect(c.write(pattern(n * seg, seed))).to.equal(n * seg);
      p.deliver();
      p.holding = false;
      const held: Held[] = p.held.splice(0);
      expect(held.filter((h) => h.from === 'a').length).to.equal(n);
      const fromB = wire(p, 'b', s);
      p.b.beginRxBurst();
      for (const h of held) h.to.input(h.m, h.src, h.dst, h.tos);
      p.b.endRxBurst();
      p.deliver();
      return fromB.takeAll({ flags: ACK, len: 0 }).length;
    };
    const agg0 = p.b.counters.groAggregates;
    // Three segments in one aggregate (2964 bytes): one ACK, and the size
    // estimate becomes 988, not the aggregate's length.
    expect(burst(3, 1)).to.equal(1);
    // Two more segments, as one aggregate: still "two full segments" → ACK now.
    expect(burst(2, 2)).to.equal(1);
    expect(p.b.counters.groAggregates - agg0).to.equal(2);
    expect(drain(s)).to.equal(5 * seg);
    p.run(100);
  });

  it('still delays the ACK of small (interactive) segments', () => {
    p = new TcpPair({ checksumUnneeded: true, a: { noDelay: true } });
    const { client: c, server: s } = established(p);
    // Warm up: the first read sends a window update (the SYN's window was unscaled).
    c.write(pattern(100, 9));
    p.deliver();
    drain(s);
    p.run(100);
    const delayed0 = p.b.counters.delayedAcks;
    for (let i = 0; i < 3; i++) {
      const a = wire(p, 'a', { conn: c, only: (w) => w.len > 0 });
      const b = wire(p, 'b', s);
      expect(c.write(pattern(100, i + 1))).to.equal(100);
      p.deliver();
      // The 100-byte segment went out and b said nothing yet.
      a.expectSegment({ len: 100 });
      a.expectNothing();
      b.expectNothing('the ACK is delayed');
      expect(drain(s)).to.equal(100);
      const t = p.clock.now();
      p.run(p.b.config.delayedAckMs + 1);
      b.expectSegment({ flags: ACK, ack: c.info().sndNxt, len: 0, at: t + p.b.config.delayedAckMs }, 'the delayed ACK');
      b.expectNothing();
    }
    expect(p.b.counters.delayedAcks - delayed0).to.equal(3);
  });
});

describe('tcp: ACK every second segment through GRO on a stack pair', () => {
  it('two 988-byte segments merged by GRO are ACKed at once, as two segments', async () => {
    const pair = createStackPair({ seed: 7, checksumUnneeded: true });
    let got = 0;
    const server = pair.createServer((sock) => { sock.on('data', (d: Buffer) => { got += d.length; }); }).listen(80);
    const client = pair.connect(80, { mss: 1000 });
    let connected = false;
    client.on('connect', () => { connected = true; });
    expect(await pair.run(() => connected)).to.equal(true);
    const conn = pair.tcpA.connections().next().value as TcpConnection;
    const seg = conn.info().mss;
    expect(seg).to.be.below(1000);
    let want = 0;
    const round = async (segs: number, seed: number): Promise<void> => {
      want += segs * seg;
      client.write(Buffer.from(pattern(segs * seg, seed)));
      expect(await pair.run(() => got === want)).to.equal(true);
    };
    await round(2, 1); // warm-up: the receiver learns the size (and sends its first window update)
    await pair.run(() => false, { maxMs: 200 });
    const b = pair.tcpB.counters;
    const tx0 = b.tx;
    const delayed0 = b.delayedAcks;
    const agg0 = b.groAggregates;
    const t0 = pair.clock.now();
    for (let i = 0; i < 20; i++) await round(2, i + 2);
    expect(b.groAggregates - agg0).to.equal(20); // each pair of segments arrived as one aggregate
    expect(b.tx - tx0).to.equal(20); // ... and was ACKed at once
    expect(b.delayedAcks - delayed0).to.equal(0);
    expect(pair.clock.now()).to.equal(t0); // no timer was waited for
    client.destroy();
    server.close();
    await pair.close();
    expect(pair.pool.inUse()).to.equal(0);
  });
});
