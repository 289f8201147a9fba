/**
 * The SYN queue and SYN cookies over a memory pair (src/tcp/layer.ts,
 * src/tcp/syncookie.ts): cookie handshakes with and without timestamps,
 * floods of spoofed SYNs from sources that never answer, stale and forged
 * cookie ACKs, and half-open entries that leave within seconds under
 * pressure.
 */
import { expect } from 'chai';
import { TcpPair, IP_A, IP_B, inject, pattern, pump } from './tcp-harness.js';
import { wire } from './helpers/segments.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { ACK, SYN, RST, writeTcpHeader, setTcpChecksum, TCP_MIN_HDR } from '../src/tcp/header.js';
import { writeSynOptions, synOptionsLength } from '../src/tcp/options.js';
import { COOKIE_RECENT_MS } from '../src/tcp/syncookie.js';
import type { TcpConfig } from '../src/tcp/config.js';
import type { Ip4 } from '../src/ip/addr.js';

/** Spoofed sources use ports below this; the wire drops what b sends them (they never answer). */
const SPOOF_PORT_MAX = 30000;

/** A SYN from (ip, port) with Linux's options, straight into b's input. */
function spoofSyn(p: TcpPair, ip: Ip4, port: number, seq: number): void {
  const pool = p.pool;
  const m = pool.alloc();
  const o = { mss: 1460, wscale: 7, sackPermitted: true, hasTs: true, tsVal: 12345, tsEcr: 0 };
  const hdr = TCP_MIN_HDR + synOptionsLength(o);
  const at = pool.append(m, hdr);
  writeTcpHeader(pool.dv, at, port, 80, seq >>> 0, 0, SYN, 64240, hdr);
  writeSynOptions(pool.dv, at + TCP_MIN_HDR, o);
  setTcpChecksum(pool, m, ip, IP_B);
  p.b.input(m, ip, IP_B, 0);
}

function spoofedPair(b: Partial<TcpConfig>): TcpPair {
  const p = new TcpPair({ b });
  p.dropIf = (s) => s.from === 'b' && s.dstPort < SPOOF_PORT_MAX;
  return p;
}

describe('tcp: SYN queue and SYN cookies', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('with synCookies always: no SYN queue entry, the cookie ACK makes the connection with MSS, window scale, SACK and timestamps', () => {
    p = new TcpPair({ b: { synCookies: 'always' } });
    const l = p.b.listen(80);
    const fromB = wire(p, 'b');
    const client = p.a.connect(IP_B, 80);
    p.deliver(1); // the SYN only
    expect(l.halfOpen()).to.equal(0);
    expect(p.b.connectionCount()).to.equal(0);
    p.deliver(1); // the SYN-ACK
    const sa = fromB.expectSegment({ flags: SYN | ACK, mss: 1460, wscale: 7, sackPermitted: true, hasTs: true });
    expect(sa.tsVal & 0x3f, 'options in the TSval: ws 7, SACK').to.equal(7 | 0x10);
    p.deliver();
    const server = l.accept()!;
    expect(server, 'accepted').to.not.equal(null);
    expect(client.state).to.equal(TcpState.Established);
    expect(server.state).to.equal(TcpState.Established);
    const si = server.info();
    expect([si.mss, si.sndWscale, si.rcvWscale, si.sack, si.timestamps]).to.deep.equal([1448, 7, 7, true, true]);
    expect(server.info().rcvWscale).to.equal(client.info().sndWscale);
    expect(p.b.counters.synCookiesSent).to.equal(1);
    expect(p.b.counters.synCookiesValid).to.equal(1);
    const data = pattern(300_000, 5);
    expect(Buffer.compare(pump(p, client, server, data), Buffer.from(data))).to.equal(0);
    const back = pattern(100_000, 6);
    expect(Buffer.compare(pump(p, server, client, back), Buffer.from(back))).to.equal(0);
  });

  it('a cookie without timestamps offers neither window scale nor SACK, and ECN rides in the TSval', () => {
    p = new TcpPair({ a: { timestamps: false }, b: { synCookies: 'always' } });
    const l = p.b.listen(80);
    const fromB = wire(p, 'b');
    const client = p.a.connect(IP_B, 80);
    p.deliver();
    fromB.expectSegment({ flags: SYN | ACK, mss: 1460, wscale: -1, sackPermitted: false, hasTs: false });
    const server = l.accept()!;
    expect([server.info().mss, server.info().sack, server.info().sndWscale, server.info().rcvWscale]).to.deep.equal([1460, false, 0, 0]);
    expect([client.info().sndWscale, client.info().rcvWscale]).to.deep.equal([0, 0]);
    const data = pattern(100_000, 7);
    expect(Buffer.compare(pump(p, client, server, data), Buffer.from(data))).to.equal(0);
    p.close();

    p = new TcpPair({ a: { ecn: true }, b: { synCookies: 'always', ecn: true } });
    const l2 = p.b.listen(80);
    const c2 = p.a.connect(IP_B, 80);
    p.deliver();
    const s2 = l2.accept()!;
    expect([c2.info().ecn, s2.info().ecn]).to.deep.equal([true, true]);
  });

  it('a lost cookie ACK is made good by the first data segment, which is delivered', () => {
    p = new TcpPair({ b: { synCookies: 'always' } });
    const l = p.b.listen(80);
    let dropped = 0;
    p.dropIf = (s) => s.from === 'a' && s.flags === ACK && s.len === 0 && dropped++ === 0;
    const client = p.a.connect(IP_B, 80);
    p.deliver();
    expect(l.pending()).to.equal(0);
    client.write(pattern(100));
    p.deliver();
    const server = l.accept()!;
    expect(server.read()).to.deep.equal(pattern(100));
    expect(p.b.counters.synCookiesValid).to.equal(1);
  });

  it('refuses a forged or stale cookie ACK with RST, and checks ACKs as cookies only while cookies are recent', () => {
    p = new TcpPair({ b: { synCookies: 'auto', synBacklog: 0 } });
    const l = p.b.listen(80);
    const fromB = wire(p, 'b');
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 100, ack: 7777, flags: ACK });
    fromB.expectSegment({ flags: RST, seq: 7777 });
    expect(p.b.counters.synCookiesInvalid, 'no cookie sent yet: an ordinary ACK to a listener').to.equal(0);
    // Every SYN now gets a cookie (SYN queue of 0); hold the client's ACK.
    let hold = true;
    p.dropIf = (s) => hold && s.from === 'a' && (s.flags & ACK) !== 0 && (s.flags & SYN) === 0;
    const client = p.a.connect(IP_B, 80);
    p.deliver();
    expect(client.state).to.equal(TcpState.Established);
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 100, ack: 7777, flags: ACK });
    fromB.expectSegment({ flags: SYN | ACK });
    fromB.expectSegment({ flags: RST, seq: 7777 });
    expect(p.b.counters.synCookiesInvalid).to.equal(1);
    // Three minutes on, the cookie the client holds is stale: its data is refused with RST
    // (checked because another client's SYN just got a cookie).
    p.clock.set(p.clock.now() + 3 * 60_000);
    hold = false;
    const other = p.a.connect(IP_B, 80);
    p.deliver();
    expect(l.accept()?.remotePort).to.equal(other.localPort);
    let err: string | undefined;
    client.onClose = (e) => { err = e?.code; };
    client.write(pattern(10));
    p.deliver();
    expect(l.pending()).to.equal(0);
    expect(p.b.counters.synCookiesInvalid).to.equal(2);
    expect(err).to.equal('ECONNRESET');
    // Long after the last cookie, ACKs are not checked as cookies any more.
    p.clock.set(p.clock.now() + COOKIE_RECENT_MS);
    inject(p, 'b', { srcPort: 1234, dstPort: 80, seq: 100, ack: 7777, flags: ACK });
    expect(p.b.counters.synCookiesInvalid).to.equal(2);
  });

  it('a cookie ACK finding the accept queue full is dropped; the client\'s data later makes the connection', () => {
    p = new TcpPair({ b: { synCookies: 'always' } });
    const l = p.b.listen(80, { backlog: 1 });
    const c1 = p.a.connect(IP_B, 80);
    const c2 = p.a.connect(IP_B, 80);
    p.deliver();
    expect([c1.state, c2.state]).to.deep.equal([TcpState.Established, TcpState.Established]);
    expect(l.pending()).to.equal(1);
    expect(p.b.counters.drops.acceptQueueFull).to.equal(1);
    expect(l.accept()!.remotePort).to.equal(c1.localPort);
    c2.write(pattern(20));
    p.deliver();
    const s2 = l.accept()!;
    expect(s2.remotePort).to.equal(c2.localPort);
    expect(s2.read()).to.deep.equal(pattern(20));
  });

  it('during a flood of spoofed SYNs every legitimate connection succeeds (auto), memory stays bounded, and the flood\'s entries leave within seconds', () => {
    p = spoofedPair({ synBacklog: 64 });
    const l = p.b.listen(80);
    const clients: TcpConnection[] = [];
    let ip = 0x0a010000;
    for (let i = 0; i < 3000; i++) {
      spoofSyn(p, ip++ as Ip4, 1024 + (i % 20000), i * 7919);
      if (i % 100 === 50) clients.push(p.a.connect(IP_B, 80));
      p.deliver();
      if (i % 500 === 0) p.run(100);
    }
    p.deliver();
    expect(clients.map((c) => TcpState[c.state]).filter((s) => s !== 'Established'), 'legitimate clients not established').to.deep.equal([]);
    expect(l.pending()).to.equal(clients.length);
    expect(l.halfOpen()).to.equal(64);
    expect(p.b.connectionCount()).to.equal(64 + clients.length);
    // The first client came before the queue was full (a queue entry); the others got cookies.
    expect(p.b.counters.synQueueOverflow).to.equal(3000 - 64 + clients.length - 1);
    expect(p.b.counters.synCookiesSent).to.equal(p.b.counters.synQueueOverflow);
    expect(p.b.counters.synCookiesValid).to.equal(clients.length - 1);
    // The queue is full of entries never answered: each gets 2 retransmissions, 1 + 2 + 4 s.
    p.run(7500);
    expect(l.halfOpen()).to.equal(0);
    expect(p.b.counters.synAckTimeouts).to.equal(64);
    for (const c of clients) c.abort();
    for (let s = l.accept(); s; s = l.accept()) s.abort();
  });

  it('without cookies (never) the same flood shuts legitimate clients out, as before', () => {
    p = spoofedPair({ synBacklog: 64, synCookies: 'never' });
    p.b.listen(80);
    let ip = 0x0a010000;
    for (let i = 0; i < 200; i++) spoofSyn(p, ip++ as Ip4, 1024 + i, i * 7919);
    const c = p.a.connect(IP_B, 80);
    p.deliver();
    expect(c.state).to.equal(TcpState.SynSent);
    expect(p.b.counters.drops.listenOverflow).to.equal(200 - 64 + 1);
    expect(p.b.counters.synCookiesSent).to.equal(0);
    c.abort();
  });

  it('an unanswered half-open entry without pressure gets synAckRetries (5) retransmissions, about 63 s', () => {
    p = spoofedPair({});
    const l = p.b.listen(80);
    spoofSyn(p, 0x0a0100aa as Ip4, 4444, 1);
    p.run(62_000);
    expect(l.halfOpen()).to.equal(1);
    p.run(2_000);
    expect(l.halfOpen()).to.equal(0);
    expect(p.b.counters.synAckTimeouts).to.equal(1);
    expect(p.b.connectionCount()).to.equal(0);
  });

  it('a client reusing a 4-tuple the old connection holds in TIME-WAIT: its old ACK gets RST <SEQ=SEG.ACK>, the entry stays, the retry succeeds', () => {
    p = new TcpPair();
    const l = p.b.listen(80);
    const old = p.a.connect(IP_B, 80);
    p.deliver();
    const s0 = l.accept()!;
    old.close(); p.deliver(); s0.close(); p.deliver();
    expect(old.state).to.equal(TcpState.TimeWait);
    const port = old.localPort;
    const oldAck = old.info().rcvNxt;
    const oldSeq = old.info().sndNxt;
    // A SYN on that 4-tuple from a raw sender (as hping3/scapy would) ...
    const fromB = wire(p, 'b');
    p.dropIf = (s) => s.from === 'b' && (s.flags & SYN) !== 0; // ... whose SYN-ACK we answer by hand, as the TIME-WAIT end does
    const isn = 0x12345678;
    const pool = p.pool;
    const m = pool.alloc();
    const at = pool.append(m, TCP_MIN_HDR);
    writeTcpHeader(pool.dv, at, port, 80, isn, 0, SYN, 65535, TCP_MIN_HDR);
    setTcpChecksum(pool, m, IP_A, IP_B);
    p.b.input(m, IP_A, IP_B, 0);
    p.deliver();
    fromB.expectSegment({ flags: SYN | ACK, ack: isn + 1 });
    expect(l.halfOpen()).to.equal(1);
    // Linux's TIME-WAIT answers the SYN-ACK with the old connection's ACK.
    inject(p, 'b', { srcPort: port, dstPort: 80, seq: oldSeq, ack: oldAck, flags: ACK });
    fromB.expectSegment({ flags: RST, seq: oldAck, len: 0 }, 'RST for the unacceptable ACK');
    fromB.expectNothing();
    expect(p.b.counters.drops.badAckSynReceived).to.equal(1);
    expect(l.halfOpen(), 'the entry stays').to.equal(1);
    // The retried SYN (same ISN) draws the SYN-ACK again, and its ACK completes the handshake.
    p.dropIf = undefined;
    const m2 = pool.alloc();
    const at2 = pool.append(m2, TCP_MIN_HDR);
    writeTcpHeader(pool.dv, at2, port, 80, isn, 0, SYN, 65535, TCP_MIN_HDR);
    setTcpChecksum(pool, m2, IP_A, IP_B);
    p.b.input(m2, IP_A, IP_B, 0);
    p.deliver();
    const sa = fromB.expectSegment({ flags: SYN | ACK, ack: isn + 1 });
    inject(p, 'b', { srcPort: port, dstPort: 80, seq: isn + 1, ack: (sa.seq + 1) >>> 0, flags: ACK });
    const s1 = l.accept();
    expect(s1?.state).to.equal(TcpState.Established);
    s1!.abort();
  });
});
