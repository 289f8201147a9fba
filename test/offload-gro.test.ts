/**
 * GRO (src/tcp/gro.ts): in-order data segments of one flow that arrive in
 * one receive burst are coalesced before TCP input — never across a gap,
 * other flags, other timestamps or another flow — and the receiver ACKs
 * an aggregate of N ≥ 2 full segments at once, as it would the segments.
 */
import { expect } from 'chai';
import { FIN, PSH, URG } from '../src/tcp/header.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import { TcpPair, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import type { Ip4 } from '../src/ip/addr.js';

type Held = TcpPair['held'][number];

/** Feed held segments to b as one receive burst; returns the segments b sent in answer. */
function burst(p: TcpPair, segs: Held[]): number {
  const fromB = wire(p, 'b');
  p.b.beginRxBurst();
  for (const h of segs) h.to.input(h.m, h.src, h.dst, h.tos);
  p.b.endRxBurst();
  p.holding = false;
  p.deliver();
  return fromB.takeAll().length;
}

/** Run `send` with a's output held; returns a's segments (anything else is delivered). */
function hold(p: TcpPair, send: () => void): Held[] {
  p.deliver();
  p.holding = true;
  send();
  p.deliver();
  p.holding = false;
  const all = p.held.splice(0);
  const mine = all.filter((h) => h.from === 'a');
  for (const h of all) if (h.from !== 'a') h.to.input(h.m, h.src, h.dst, h.tos);
  return mine;
}

function readAll(s: TcpConnection): Buffer {
  const parts: Uint8Array[] = [];
  for (let d = s.read(); d; d = s.read()) parts.push(d);
  return Buffer.concat(parts);
}

const FLAGS_AT = 13;

describe('offload: GRO within a receive burst', () => {
  let p: TcpPair;
  beforeEach(() => { p = new TcpPair({ checksumUnneeded: true }); });
  afterEach(() => {
    p.close();
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('merges a burst of in-order segments into one aggregate and ACKs it once', () => {
    const { client: c, server: s } = established(p);
    const data = pattern(10 * 1448, 1);
    const held = hold(p, () => { expect(c.write(data)).to.equal(data.length); });
    expect(held.length).to.equal(10);
    const rx0 = p.b.counters.rx;
    const acks = burst(p, held);
    expect(p.b.counters.groMerged).to.equal(9);
    expect(p.b.counters.groAggregates).to.equal(1);
    expect(p.b.counters.rx - rx0).to.equal(10); // segments are still counted one by one
    expect(acks).to.equal(1); // one immediate ACK for the whole aggregate
    expect(readAll(s).equals(Buffer.from(data))).to.equal(true);
    p.run(100);
    expect(c.info().sndUna).to.equal(c.info().sndNxt);
  });

  it('a single full segment in a burst still waits for the delayed ACK; two are ACKed at once', () => {
    const { client: c } = established(p);
    expect(burst(p, hold(p, () => { c.write(pattern(1448, 2)); }))).to.equal(0);
    p.run(100); // the delayed ACK goes out
    expect(p.b.counters.delayedAcks).to.be.greaterThan(0);
    const held = hold(p, () => { c.write(pattern(2 * 1448, 3)); });
    expect(held.length).to.equal(2);
    expect(burst(p, held)).to.equal(1);
    expect(p.b.counters.groMerged).to.equal(1);
  });

  it('never merges across a gap: the hole is SACKed and filled, the data byte-exact', () => {
    const { client: c, server: s } = established(p);
    const data = pattern(10 * 1448, 4);
    const held = hold(p, () => { c.write(data); });
    const lost = held.splice(4, 1)[0];
    burst(p, held);
    // 0-3 merged (3), 5-9 merged behind the gap as a second aggregate (4).
    expect(p.b.counters.groMerged).to.equal(7);
    expect(p.b.counters.groAggregates).to.equal(2);
    expect(p.b.counters.oooSegments).to.equal(1);
    p.pool.free(lost.m);
    p.run(3000); // retransmission repairs the hole
    expect(readAll(s).equals(Buffer.from(data))).to.equal(true);
  });

  it('keeps flows apart, and stops at FIN, URG and changed timestamps; PSH ends an aggregate', () => {
    const { client: c1, server: s1 } = established(p, 80);
    const { client: c2, server: s2 } = established(p, 81);
    const held = hold(p, () => { c1.write(pattern(4 * 1448, 5)); c2.write(pattern(4 * 1448, 6)); });
    expect(held.length).to.equal(8);
    // Interleave the two flows: each still forms its own aggregate.
    const mixed = [0, 4, 1, 5, 2, 6, 3, 7].map((i) => held[i]);
    burst(p, mixed);
    expect(p.b.counters.groMerged).to.equal(6);
    expect(p.b.counters.groAggregates).to.equal(2);
    expect(readAll(s1).equals(Buffer.from(pattern(4 * 1448, 5)))).to.equal(true);
    expect(readAll(s2).equals(Buffer.from(pattern(4 * 1448, 6)))).to.equal(true);

    // Flags: segment 1 gets URG, segment 3 a different TSval; segment 0 PSH.
    const h2 = hold(p, () => { c1.write(pattern(6 * 1448, 7)); });
    expect(h2.length).to.equal(6);
    const u8 = p.pool.u8;
    const hdr = (h: Held): number => p.pool.mtod(h.m);
    u8[hdr(h2[1]) + FLAGS_AT] |= URG;
    u8[hdr(h2[3]) + 20 + 4 + 3] ^= 1; // TSval low byte (NOP NOP TS layout)
    const merged0 = p.b.counters.groMerged as number;
    burst(p, h2);
    // [0] alone (URG follows), [1] alone (URG), [2] alone and [3] alone (its
    // TSval differs from both neighbours), [4]+[5]: 1 merge.
    expect((p.b.counters.groMerged as number) - merged0).to.equal(1);
    readAll(s1);

    const h3 = hold(p, () => { c1.write(pattern(3 * 1448, 8)); });
    u8[hdr(h3[1]) + FLAGS_AT] |= PSH; // merged, then the aggregate is closed
    const merged1 = p.b.counters.groMerged as number;
    burst(p, h3);
    expect((p.b.counters.groMerged as number) - merged1).to.equal(1);
    expect(readAll(s1).equals(Buffer.from(pattern(3 * 1448, 8)))).to.equal(true);

    // FIN: never merged, even onto the data right before it.
    const h4 = hold(p, () => { c1.write(pattern(1448 + 100, 10)); c1.shutdown(); }); // Nagle holds the 100 bytes until the FIN
    expect(h4.length).to.equal(2);
    expect(u8[hdr(h4[1]) + FLAGS_AT] & FIN).to.equal(FIN);
    const merged2 = p.b.counters.groMerged as number;
    burst(p, h4);
    expect(p.b.counters.groMerged).to.equal(merged2);
    expect(readAll(s1).equals(Buffer.from(pattern(1448 + 100, 10)))).to.equal(true);
    expect(s1.peerClosed).to.equal(true);
  });
});

describe('offload: GRO in the Stack receive loop', () => {
  it('coalesces a bulk transfer between two stacks and delivers it byte-exact', () => {
    const pool = new TsMempool({ count: 8192 });
    const start = pool.inUse();
    const clock = new VirtualClock(0);
    const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false });
    const a = new Stack({ port: pa, ip: '10.77.0.1/24', clock, burst: 32 });
    const b = new Stack({ port: pb, ip: '10.77.0.2/24', clock, burst: 32 });
    try {
      const l = b.tcp.listen(5001);
      const c = a.tcp.connect(0x0a4d0002 as Ip4, 5001);
      const step = (): void => { a.poll(); b.poll(); clock.advance(1); };
      for (let i = 0; i < 50 && l.pending() === 0; i++) step();
      const s = l.accept()!;
      const data = pattern(4 << 20, 9);
      let off = 0;
      const got: Uint8Array[] = [];
      let n = 0;
      for (let i = 0; i < 200000 && n < data.length; i++) {
        if (off < data.length) off += c.write(data.subarray(off, Math.min(data.length, off + 65536)));
        step();
        for (let d = s.read(); d; d = s.read()) { got.push(d); n += d.length; }
      }
      expect(Buffer.concat(got).equals(Buffer.from(data))).to.equal(true);
      expect(b.tcp.counters.groMerged).to.be.greaterThan(0);
      // Far fewer ACKs than data segments: ACK generation runs per aggregate.
      expect(a.tcp.counters.rx).to.be.lessThan((b.tcp.counters.rx as number) / 2 + 50);
      c.close(); s.close();
      for (let i = 0; i < 200; i++) step();
    } finally {
      a.close(); b.close();
    }
    expect(pool.inUse()).to.equal(start);
  });
});
