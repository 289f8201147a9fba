import { expect } from 'chai';
import { TcpPair, IP_B, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
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
    const { client } = established(p);
    const t0 = p.clock.now();
    const mark = p.log.length;
    client.write(pattern(100));
    p.deliver();
    expect(fromB(p, mark).length).to.equal(0);
    p.run(39);
    expect(fromB(p, mark).length).to.equal(0);
    p.run(2);
    const acks = fromB(p, mark);
    expect(acks.length).to.equal(1);
    expect(acks[0].at).to.equal(t0 + 40);
    expect(p.b.counters.delayedAcks).to.equal(1);
  });

  it('ACKs every second full-sized segment at once', () => {
    p = new TcpPair();
    const { client } = established(p);
    const mark = p.log.length;
    client.write(pattern(2 * 1448));
    p.deliver();
    const acks = fromB(p, mark);
    expect(acks.length).to.equal(1);
    expect(acks[0].ack).to.equal((fromA(p, mark)[1].seq + 1448) >>> 0);
  });

  it('ACKs out-of-order data at once with a SACK block, and the hole filling too', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    let dropped = 0;
    p.dropIf = (s) => s.from === 'a' && s.len > 0 && dropped++ === 0;
    const mark = p.log.length;
    client.setNoDelay(true);
    client.write(pattern(1000));
    client.write(pattern(500));
    p.deliver();
    const acks = fromB(p, mark);
    // (on this zero-delay wire RACK may already have resent the hole: more ACKs follow)
    expect(acks.length).to.be.greaterThanOrEqual(1);
    expect(acks[0].sackCount).to.equal(1);
    p.run(1000); // RACK or the RTO retransmits the first segment
    expect(server.readable()).to.equal(1500);
    const after = fromB(p, mark);
    expect(after[after.length - 1].sackCount).to.equal(0);
  });

  it("Nagle holds a small segment while one is unacknowledged; noDelay doesn't", () => {
    p = new TcpPair();
    const { client } = established(p);
    let mark = p.log.length;
    client.write(pattern(10));
    client.write(pattern(10));
    p.deliver();
    expect(fromA(p, mark).filter((s) => s.len > 0).map((s) => s.len)).to.deep.equal([10]);
    p.run(50); // the delayed ACK releases the second
    expect(fromA(p, mark).filter((s) => s.len > 0).map((s) => s.len)).to.deep.equal([10, 10]);
    p.run(100);
    client.setNoDelay(true);
    mark = p.log.length;
    client.write(pattern(10));
    client.write(pattern(10));
    p.deliver();
    expect(fromA(p, mark).filter((s) => s.len > 0).map((s) => s.len)).to.deep.equal([10, 10]);
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
    const c = p.a.connect(IP_B, 80);
    let err: string | undefined;
    c.onClose = (e) => { err = e?.code; };
    p.run(60000);
    expect(p.log.length).to.equal(3);
    expect(p.log[1].at - p.log[0].at).to.equal(1000);
    expect(p.log[2].at - p.log[1].at).to.equal(2000);
    expect(err).to.equal('ETIMEDOUT');
  });
});
