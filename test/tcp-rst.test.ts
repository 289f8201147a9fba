import { expect } from 'chai';
import { TcpPair, IP_B, inject, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { ACK, FIN, PSH, RST, SYN } from '../src/tcp/header.js';
import type { Ip4 } from '../src/ip/addr.js';

describe('tcp: RST, RFC 5961, TIME-WAIT, PAWS and bad input', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('RST at exactly RCV.NXT resets the connection', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    let err: string | undefined;
    server.onClose = (e) => { err = e?.code; };
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: server.info().rcvNxt, flags: RST });
    expect(server.state).to.equal(TcpState.Closed);
    expect(err).to.equal('ECONNRESET');
    expect(p.b.counters.resetsReceived).to.equal(1);
  });

  it('RST in the window but not exact draws a challenge ACK (RFC 5961 §3.2)', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const fromB = wire(p, 'b', server);
    const nxt = server.info().rcvNxt;
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (nxt + 1000) >>> 0, flags: RST });
    expect(server.state).to.equal(TcpState.Established);
    fromB.expectSegment({ flags: ACK, ack: nxt, len: 0 }, 'challenge ACK');
    fromB.expectNothing();
    expect(p.b.counters.challengeAcks).to.equal(1);
    expect(client.state).to.equal(TcpState.Established);
  });

  it('challenge ACKs are limited per connection (one per 500 ms, as Linux)', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const nxt = server.info().rcvNxt;
    for (let i = 0; i < 10; i++) inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (nxt + 10 + i) >>> 0, flags: RST });
    expect(p.b.counters.challengeAcks).to.equal(1);
    expect(p.b.counters.challengeAcksLimited).to.equal(9);
    p.run(499);
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (nxt + 5) >>> 0, flags: RST });
    expect(p.b.counters.challengeAcks).to.equal(1);
    p.run(1);
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (nxt + 5) >>> 0, flags: RST });
    expect(p.b.counters.challengeAcks).to.equal(2);
  });

  it('challenge ACKs across the layer are limited by a budget drawn each second from [limit/2, limit·3/2)', () => {
    p = new TcpPair({ b: { challengeAckLimit: 4, challengeAckIntervalMs: 0 } });
    const { client, server } = established(p);
    const nxt = server.info().rcvNxt;
    const perSecond: number[] = [];
    for (let s = 0; s < 12; s++) {
      const before = p.b.counters.challengeAcks;
      for (let i = 0; i < 10; i++) inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (nxt + 10 + i) >>> 0, flags: RST });
      perSecond.push(p.b.counters.challengeAcks - before);
      p.run(1000);
    }
    for (const n of perSecond) expect(n).to.be.within(2, 5);
    expect(new Set(perSecond).size, `budgets ${perSecond}`).to.be.greaterThan(1);
    expect(server.state).to.equal(TcpState.Established);
  });

  it('RST outside the window is dropped without an answer', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const fromA = wire(p, 'a');
    const fromB = wire(p, 'b');
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (server.info().rcvNxt + 0x40000000) >>> 0, flags: RST });
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (server.info().rcvNxt - 1) >>> 0, flags: RST | ACK, ack: server.info().sndNxt });
    expect(server.state).to.equal(TcpState.Established);
    fromB.expectNothing();
    fromA.expectNothing();
    expect(p.b.counters.drops.rstOutOfWindow).to.equal(2);
  });

  it('never answers a RST with a RST', () => {
    p = new TcpPair();
    p.b.listen(80);
    const fromB = wire(p, 'b');
    inject(p, 'b', { srcPort: 1234, dstPort: 99, seq: 1, flags: RST });
    inject(p, 'b', { srcPort: 1234, dstPort: 99, seq: 1, ack: 5, flags: RST | ACK });
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 1, ack: 5, flags: RST | ACK });
    fromB.expectNothing();
    expect(p.log.length).to.equal(0);
    expect(p.b.counters.resetsSent).to.equal(0);
  });

  it('answers an ACK to a listener or closed port with RST SEQ=SEG.ACK, data without ACK with RST,ACK', () => {
    p = new TcpPair();
    p.b.listen(80);
    const fromB = wire(p, 'b');
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 100, ack: 7777, flags: ACK });
    fromB.expectSegment({ flags: RST, seq: 7777, len: 0 });
    fromB.expectNothing();
    inject(p, 'b', { srcPort: 1234, dstPort: 99, seq: 100, flags: PSH, payload: pattern(10) });
    fromB.expectSegment({ flags: RST | ACK, seq: 0, ack: 110, len: 0 });
    fromB.expectNothing();
    expect(p.log.length).to.equal(2);
  });

  it('a SYN on an established connection draws a challenge ACK (RFC 5961 §4)', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const fromB = wire(p, 'b', server);
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: server.info().rcvNxt, flags: SYN });
    expect(server.state).to.equal(TcpState.Established);
    fromB.expectSegment({ flags: ACK, ack: server.info().rcvNxt, len: 0 }, 'challenge ACK');
    fromB.expectNothing();
    expect(p.b.counters.challengeAcks).to.equal(1);
  });

  it('an ACK for data never sent draws a challenge ACK and is ignored (RFC 5961 §5)', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const i = server.info();
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: i.rcvNxt, ack: (i.sndNxt + 5000) >>> 0, flags: ACK, payload: pattern(20) });
    expect(server.readable()).to.equal(0);
    expect(server.info().sndUna).to.equal(i.sndUna);
    expect(p.b.counters.drops.ackOutOfWindow).to.equal(1);
  });

  it('out-of-window data gets an ACK and is dropped', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const i = server.info();
    const fromB = wire(p, 'b', server);
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: (i.rcvNxt - 2000) >>> 0, ack: i.sndNxt, flags: ACK, payload: pattern(100) });
    expect(server.readable()).to.equal(0);
    fromB.expectSegment({ flags: ACK, ack: i.rcvNxt, len: 0 });
    fromB.expectNothing();
    expect(p.b.counters.drops.outOfWindow).to.equal(1);
  });

  it('PAWS drops a segment with an old timestamp and ACKs it (RFC 7323 §5)', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    client.write(pattern(10));
    p.deliver();
    expect(server.read()!.length).to.equal(10);
    const last = p.log.filter((s) => s.from === 'a' && s.hasTs).pop()!;
    const i = server.info();
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: i.rcvNxt, ack: i.sndNxt, flags: ACK, payload: pattern(50), ts: [(last.tsVal - 100) >>> 0, 0] });
    expect(server.readable()).to.equal(0);
    expect(p.b.counters.drops.paws).to.equal(1);
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: i.rcvNxt, ack: i.sndNxt, flags: ACK, payload: pattern(50), ts: [(last.tsVal + 1) >>> 0, 0] });
    expect(server.readable()).to.equal(50);
  });

  it('TIME-WAIT re-ACKs a retransmitted FIN and restarts 2MSL', () => {
    p = new TcpPair({ a: { timeWaitMs: 1000 } });
    const { client, server } = established(p);
    client.close();
    p.deliver();
    server.close();
    p.deliver();
    expect(client.state).to.equal(TcpState.TimeWait);
    p.run(600);
    const fin = p.log.filter((s) => s.from === 'b' && (s.flags & FIN)).pop()!;
    const fromA = wire(p, 'a', client);
    p.dropIf = (s) => s.from === 'a'; // the server is gone: its RST would end TIME-WAIT early (RFC 1337)
    inject(p, 'a', { srcPort: 80, dstPort: client.localPort, seq: fin.seq, ack: fin.ack, flags: FIN | ACK, ts: [fin.tsVal, fin.tsEcr] });
    fromA.expectSegment({ flags: ACK, ack: fin.seq + 1, len: 0 }, 'the FIN re-ACKed');
    fromA.expectNothing();
    p.run(600);
    expect(client.state).to.equal(TcpState.TimeWait);
    p.run(500);
    expect(client.state).to.equal(TcpState.Closed);
  });

  it('a new SYN with a larger timestamp reuses a TIME-WAIT connection (RFC 6191)', () => {
    p = new TcpPair({ b: { timeWaitMs: 60000 } });
    const { client, server } = established(p);
    const port = client.localPort;
    server.close();
    p.deliver();
    client.close();
    p.deliver();
    expect(server.state).to.equal(TcpState.TimeWait);
    p.run(2000);
    const again = p.a.connect(IP_B, 80, { localPort: port });
    p.deliver();
    expect(again.state).to.equal(TcpState.Established);
    expect(p.b.counters.timeWaitReuse).to.equal(1);
  });

  it('keeps the TIME-WAIT table bounded', () => {
    p = new TcpPair({ a: { timeWaitMax: 2 } });
    const l = p.b.listen(80);
    for (let i = 0; i < 4; i++) {
      const c = p.a.connect(IP_B, 80);
      p.deliver();
      const s = l.accept()!;
      c.close(); p.deliver(); s.close(); p.deliver();
      expect(c.state).to.be.oneOf([TcpState.TimeWait, TcpState.Closed]);
    }
    expect(p.a.connectionCount()).to.equal(2);
    expect(p.a.counters.timeWaitEvicted).to.equal(2);
  });

  it('counts bad checksums, data offsets and options as drops', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const i = server.info();
    inject(p, 'b', { srcPort: client.localPort, dstPort: 80, seq: i.rcvNxt, ack: i.sndNxt, flags: ACK, payload: pattern(10), badChecksum: true });
    expect(p.b.counters.drops.badChecksum).to.equal(1);
    // data offset past the segment
    const pool = p.pool;
    const craft = (bytes: number[]): void => {
      const m = pool.alloc();
      const at = pool.append(m, bytes.length);
      pool.u8.set(bytes, at);
      p.b.input(m, 0x0a000001 as Ip4, IP_B, 0);
    };
    const base = [(client.localPort >> 8) & 255, client.localPort & 255, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0];
    p.b.env.checksumUnneeded = true;
    craft([...base, 0xf0, ACK, 255, 255, 0, 0, 0, 0]);
    craft([...base, 0x30, ACK, 255, 255, 0, 0, 0, 0]);
    craft([...base, 0x60, ACK, 255, 255, 0, 0, 0, 0, 8, 1, 0, 0]);
    craft([...base, 0x60, ACK, 255, 255, 0, 0, 0, 0, 2, 8, 0, 0]);
    craft([1, 2, 3]);
    expect(p.b.counters.drops.badDataOffset).to.equal(2);
    expect(p.b.counters.drops.badOption).to.equal(2);
    expect(p.b.counters.drops.tooShort).to.equal(1);
    expect(server.state).to.equal(TcpState.Established);
  });

  it('drops senseless flag combinations without answering', () => {
    p = new TcpPair();
    p.b.listen(80);
    const fromB = wire(p, 'b');
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 1, flags: SYN | FIN });
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 1, flags: SYN | RST });
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 1, flags: 0 });
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 1, flags: FIN });
    fromB.expectNothing();
    expect(p.log.length).to.equal(0);
    expect(p.b.counters.drops.synFin).to.equal(1);
    expect(p.b.counters.drops.synRst).to.equal(1);
    expect(p.b.counters.drops.noSynToListener).to.equal(2);
    expect(p.b.connectionCount()).to.equal(0);
  });
});
