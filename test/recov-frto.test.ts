/**
 * A first retransmission timeout resends only the first segment (RFC 5682
 * F-RTO's first step); the next ACK that advances decides whether the rest
 * of the flight is lost (go-back-N after spurious timeouts was a large
 * share of the duplicates Linux D-SACKed).
 */
import { expect } from 'chai';
import { TcpPair, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import type { TcpConnection } from '../src/tcp/connection.js';

const resent = (c: TcpConnection): number => {
  const l = c.info().loss;
  return l.retransRto + l.retransFast + l.retransRack + l.retransTlp;
};

describe('recov: first timeout resends one segment, the next ACK decides (F-RTO)', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  /** 10 segments reach b; b's ACKs are held until after a's RTO. */
  function heldAcks(): TcpConnection {
    p = new TcpPair({ a: { cc: 'newreno' } });
    const { client } = established(p);
    p.holding = true;
    client.write(pattern(10 * 1000, 3));
    p.deliver();
    // Hand the data to b ourselves; its ACKs then wait in `held`.
    for (const h of p.held.splice(0)) h.to.input(h.m, h.src, h.dst, h.tos);
    p.deliver();
    expect(p.held.length).to.be.greaterThan(0);
    return client;
  }

  it('a spurious timeout (ACKs late, timestamps on) resends the first segment only', () => {
    const client = heldAcks();
    p.run(300); // the RTO fires while the ACKs are held
    expect(client.info().loss.rtoEvents).to.equal(1);
    expect(resent(client)).to.equal(1);
    p.release(); // the ACKs arrive, echoing TSvals older than the retransmission
    p.run(1000);
    expect(client.info().sndUna).to.equal(client.info().sndNxt);
    expect(resent(client)).to.equal(1);
    expect(client.info().loss.undos).to.equal(1);
  });

  it('without timestamps, ACKs of original data beyond the resent segment also stop the go-back-N', () => {
    p = new TcpPair({ a: { cc: 'newreno', timestamps: false }, b: { timestamps: false } });
    const { client } = established(p);
    p.holding = true;
    client.write(pattern(10 * 1000, 3));
    p.deliver();
    for (const h of p.held.splice(0)) h.to.input(h.m, h.src, h.dst, h.tos);
    p.deliver();
    p.run(300);
    expect(client.info().loss.rtoEvents).to.equal(1);
    p.release();
    p.run(1000);
    expect(client.info().sndUna).to.equal(client.info().sndNxt);
    expect(resent(client)).to.equal(1);
  });

  it('a real timeout (the flight and the probe lost) still resends every segment', () => {
    p = new TcpPair({ a: { cc: 'newreno' } });
    const { client } = established(p);
    const t0 = p.clock.now();
    // Everything a sends before its RTO (the flight, the tail loss probe) is lost.
    p.dropIf = (w) => w.from === 'a' && w.len > 0 && w.at < t0 + 150;
    client.write(pattern(10 * 1000, 3));
    p.run(5000);
    expect(client.info().sndUna).to.equal(client.info().sndNxt);
    expect(client.info().loss.rtoEvents).to.equal(1);
    // The 7 segments of the flight (6 × 1448 + 1312): every one resent, none twice.
    expect(resent(client)).to.equal(7);
    expect(client.info().loss.spuriousRetrans).to.equal(0);
  });
});
