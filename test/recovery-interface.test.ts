/**
 * The loss recovery a connection gets is chosen once, when the SYN options
 * are agreed: SACK recovery (RFC 6675 + RACK-TLP) when both ends offer SACK,
 * the shared NewReno + limited transmit object otherwise. Plus the
 * congestion controllers' ECN-echo capability and the fallback to NewReno.
 */
import { expect } from 'chai';
import { TcpPair, IP_B } from './tcp-harness.js';
import { SackRecovery, noSackRecovery } from '../src/tcp/loss.js';
import { createCongestionControl } from '../src/tcp/cc/cc.js';
import { NewReno } from '../src/tcp/cc/newreno.js';
import type { TcpConfig } from '../src/tcp/config.js';

describe('loss recovery: one object per connection, chosen at the handshake', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  function connect(a: Partial<TcpConfig>, b: Partial<TcpConfig>) {
    p = new TcpPair({ a, b });
    const l = p.b.listen(80);
    const client = p.a.connect(IP_B, 80);
    expect(client.loss, 'before the handshake').to.equal(noSackRecovery);
    p.deliver();
    const server = l.accept()!;
    return { client, server };
  }

  it('SACK on both ends: a SackRecovery of its own per connection', () => {
    const { client, server } = connect({}, {});
    expect(client.loss).to.be.instanceOf(SackRecovery);
    expect(server.loss).to.be.instanceOf(SackRecovery);
    expect(client.loss).to.not.equal(server.loss);
    expect(client.info().pipe).to.equal(0);
  });

  it('SACK refused by the peer: the shared NewReno recovery, and info reports the flight as the pipe', () => {
    const { client, server } = connect({}, { sack: false });
    expect(client.loss).to.equal(noSackRecovery);
    expect(server.loss).to.equal(noSackRecovery);
    expect(client.loss.nextAt()).to.equal(Infinity);
    expect(client.info()).to.include({ pipe: 0, sackedBytes: 0, lostBytes: 0 });
  });
});

describe('congestion control capabilities', () => {
  it('only DCTCP echoes CE per segment (RFC 8257 §3.2)', () => {
    expect(createCongestionControl('dctcp', 1448, 10).echoCePerSegment).to.equal(true);
    expect(createCongestionControl('newreno', 1448, 10).echoCePerSegment ?? false).to.equal(false);
    expect(createCongestionControl('cubic', 1448, 10).echoCePerSegment ?? false).to.equal(false);
  });

  it('an unknown controller name in the configuration falls back to the registered NewReno', () => {
    const p = new TcpPair({ a: { cc: 'no-such-cc' } });
    try {
      const cc = p.a.makeCc(p.a.config, 1448);
      expect(cc).to.be.instanceOf(NewReno);
      expect(cc.name).to.equal('newreno');
      expect(cc.cwnd).to.equal(p.a.config.initialCwndSegments * 1448);
      expect(() => p.a.makeCc(p.a.config, 1448, true), 'strict').to.throw();
    } finally {
      p.close();
    }
  });
});
