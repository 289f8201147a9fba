import { expect } from 'chai';
import { TcpPair, IP_B, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import { ACK, SYN } from '../src/tcp/header.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import type { TcpConfig } from '../src/tcp/config.js';

const fromB = (p: TcpPair, since: number) => p.log.slice(since).filter((s) => s.from === 'b');
const fromA = (p: TcpPair, since: number) => p.log.slice(since).filter((s) => s.from === 'a');

describe('tcp: delayed ACK, Nagle, persist, keepalive, SWS', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('delays the ACK of a lone segment by delayedAckMs', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const t0 = p.clock.now();
    const b = wire(p, 'b', server);
    client.write(pattern(100));
    p.deliver();
    b.expectNothing();
    p.run(39);
    b.expectNothing();
    p.run(2);
    b.expectSegment({ flags: ACK, relAck: 1 + 100, len: 0, at: t0 + 40 }, 'the delayed ACK');
    b.expectNothing();
    expect(p.b.counters.delayedAcks).to.equal(1);
  });

  it('ACKs every second full-sized segment at once', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const a = wire(p, 'a', client);
    const b = wire(p, 'b', server);
    client.write(pattern(2 * 1448));
    p.deliver();
    a.expectSegment({ relSeq: 1, len: 1448 });
    a.expectSegment({ relSeq: 1 + 1448, len: 1448 });
    b.expectSegment({ flags: ACK, relAck: 1 + 2 * 1448, len: 0 }, 'ACK of the second segment, at once');
    b.expectNothing();
  });

  it('ACKs out-of-order data at once with a SACK block, and the hole filling too', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    let dropped = 0;
    p.dropIf = (s) => s.from === 'a' && s.len > 0 && dropped++ === 0;
    const b = wire(p, 'b', server);
    client.setNoDelay(true);
    client.write(pattern(1000));
    client.write(pattern(500));
    p.deliver();
    // (on this zero-delay wire RACK may already have resent the hole: more ACKs follow)
    b.expectSegment({ flags: ACK, relAck: 1, sackCount: 1, len: 0 }, 'ACK of out-of-order data, at once');
    p.run(1000); // RACK or the RTO retransmits the first segment
    expect(server.readable()).to.equal(1500);
    const after = b.takeAll();
    expect(after.length, 'the ACK of the hole filling').to.be.greaterThan(0);
    const last = after[after.length - 1];
    expect(last.sackCount).to.equal(0);
    expect(b.relAck(last)).to.equal(1 + 1500);
  });

  it("Nagle holds a small segment while one is unacknowledged; noDelay doesn't", () => {
    p = new TcpPair();
    const { client } = established(p);
    const data = { conn: client, only: (s: { len: number }) => s.len > 0 };
    let a = wire(p, 'a', data);
    client.write(pattern(10));
    client.write(pattern(10));
    p.deliver();
    a.expectSegment({ relSeq: 1, len: 10 });
    a.expectNothing('Nagle holds the second');
    p.run(50); // the delayed ACK releases the second
    a.expectSegment({ relSeq: 11, len: 10 });
    a.expectNothing();
    p.run(100);
    client.setNoDelay(true);
    a = wire(p, 'a', data);
    client.write(pattern(10));
    client.write(pattern(10));
    p.deliver();
    a.expectSegment({ relSeq: 21, len: 10 });
    a.expectSegment({ relSeq: 31, len: 10 }, 'noDelay sends at once');
    a.expectNothing();
  });

  it('probes a zero window with backoff and resumes when the reader drains', () => {
    p = new TcpPair();
    const { client, server } = established(p, { listen: { rcvBuf: 16384 } });
    const data = pattern(60000, 4);
    let off = client.write(data);
    p.run(20000);
    expect(client.info().sndWnd).to.equal(0);
    expect(server.readable()).to.be.at.most(16384 + 128);
    const una = client.info().sndUna;
    const probes = fromA(p, 0).filter((s) => s.len === 0 && s.seq === ((una - 1) >>> 0));
    expect(probes.length).to.be.greaterThanOrEqual(3);
    expect(p.a.counters.zeroWindowProbes).to.equal(probes.length);
    const gaps = probes.slice(1).map((s, i) => s.at - probes[i].at);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).to.equal(gaps[i - 1] * 2);
    expect(client.state).to.equal(TcpState.Established);
    // The reader drains, but its window update is lost: the next probe's answer reopens the window.
    let lost = 0;
    p.dropIf = (s) => s.from === 'b' && s.window > 0 && lost++ === 0;
    const got: Uint8Array[] = [];
    for (let d = server.read(); d; d = server.read()) got.push(d);
    p.deliver();
    expect(lost).to.equal(1);
    for (let i = 0; i < 2000 && got.reduce((a, x) => a + x.length, 0) < data.length; i++) {
      off += client.write(data.subarray(off));
      p.run(100);
      for (let d = server.read(); d; d = server.read()) got.push(d);
    }
    expect(Buffer.concat(got).equals(Buffer.from(data))).to.equal(true);
  });

  it('does not advance the right window edge by small amounts (receiver SWS avoidance)', () => {
    p = new TcpPair();
    const { client, server } = established(p, { listen: { rcvBuf: 16384 } });
    client.write(pattern(16384 - 700));
    p.run(100);
    expect(server.readable()).to.equal(16384 - 700);
    const edge = (s: { ack: number; window: number }): number => (s.ack + s.window * 128) >>> 0;
    const before = edge(fromB(p, 0).pop()!);
    server.read(300); // 1000 free: below one MSS and a quarter of the buffer
    client.write(pattern(10));
    p.run(100);
    expect((edge(fromB(p, 0).pop()!) - before) >>> 0).to.be.below(128); // at most the scale's rounding
  });

  it('keepalive probes an idle peer and times out when it is gone', () => {
    p = new TcpPair({ a: { keepaliveIntervalMs: 1000, keepaliveProbes: 3 } });
    const { client } = established(p);
    let err: string | undefined;
    client.onClose = (e) => { err = e?.code; };
    client.setKeepAlive(true, 5000);
    p.run(5001);
    expect(p.a.counters.keepaliveProbes).to.equal(1);
    p.run(3000); // answered: stays up
    expect(client.state).to.equal(TcpState.Established);
    p.dropIf = (s) => s.from === 'b';
    p.run(20000);
    expect(err).to.equal('ETIMEDOUT');
    expect(p.a.counters.keepaliveTimeouts).to.equal(1);
  });

  it('keepalive is off by default', () => {
    p = new TcpPair();
    established(p);
    p.run(3 * 3600 * 1000);
    expect(p.a.counters.keepaliveProbes).to.equal(0);
  });

  it('gives up a SYN after synRetries with ETIMEDOUT', () => {
    p = new TcpPair({ a: { synRetries: 2 } });
    p.dropIf = () => true;
    const t0 = p.clock.now();
    const c = p.a.connect(IP_B, 80);
    const a = wire(p, 'a', { conn: c, from: 0 });
    let err: string | undefined;
    c.onClose = (e) => { err = e?.code; };
    p.run(60000);
    a.expectSegment({ flags: SYN, relSeq: 0, len: 0, at: t0 });
    a.expectSegment({ flags: SYN, relSeq: 0, len: 0, at: t0 + 1000 }, 'first retry after the initial RTO');
    a.expectSegment({ flags: SYN, relSeq: 0, len: 0, at: t0 + 3000 }, 'second retry, backed off');
    a.expectNothing();
    expect(p.log.length).to.equal(3);
    expect(err).to.equal('ETIMEDOUT');
  });
});
