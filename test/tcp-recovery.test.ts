import { expect } from 'chai';
import { TcpPair, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import type { TcpConnection } from '../src/tcp/connection.js';

describe('tcp: fast retransmit and NewReno (RFC 5681, RFC 6582)', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  function transfer(dropIdx: number[], sack: boolean): { client: TcpConnection; server: TcpConnection } {
    p = new TcpPair({ a: { sack, cc: 'newreno' }, b: { sack } });
    const { client, server } = established(p);
    let k = 0;
    p.dropIf = (s) => s.from === 'a' && s.len > 0 && dropIdx.includes(k++);
    const data = pattern(40 * 1448, 8);
    expect(client.write(data)).to.equal(data.length);
    p.deliver();
    p.dropIf = undefined;
    const got: Uint8Array[] = [];
    for (let i = 0; i < 100 && got.reduce((a, x) => a + x.length, 0) < data.length; i++) {
      p.run(5);
      for (let d = server.read(); d; d = server.read()) got.push(d);
    }
    expect(Buffer.concat(got).equals(Buffer.from(data))).to.equal(true);
    return { client, server };
  }

  for (const sack of [false, true]) {
    it(`retransmits a single loss on the third duplicate ACK, before any RTO (sack=${sack})`, () => {
      const { client } = transfer([2], sack);
      // With SACK, RACK (RFC 8985) usually finds the loss before the third duplicate ACK.
      expect(p.a.counters.retransmitsFast + p.a.counters.retransmitsRack).to.equal(1);
      expect(p.a.counters.retransmitsRto).to.equal(0);
      expect(client.info().inRecovery).to.equal(false);
      expect(p.b.counters.oooSegments).to.be.greaterThan(2);
      if (sack) expect(p.a.counters.sackBlocksReceived).to.be.greaterThan(0);
    });

    it(`repairs a second hole on the partial ACK (sack=${sack})`, () => {
      const { client } = transfer([2, 5], sack);
      expect(p.a.counters.retransmitsFast + p.a.counters.retransmitsRack).to.equal(2);
      expect(p.a.counters.retransmitsRto).to.equal(0);
      expect(client.info().ssthresh).to.be.lessThan(0x7fffffff);
    });
  }

  it('uses the configured congestion control, with info() like ss -ti', () => {
    p = new TcpPair({ a: { cc: 'cubic' } });
    const { client } = established(p);
    const i = client.info();
    expect(i.cc).to.equal('cubic');
    expect(i.cwnd).to.equal(10 * 1448);
    expect(i.state).to.equal('ESTABLISHED');
  });

  it('falls back to NewReno for an unknown algorithm name', () => {
    p = new TcpPair({ a: { cc: 'no-such-cc' } });
    const { client } = established(p);
    expect(client.info().cc).to.equal('newreno');
  });
});
