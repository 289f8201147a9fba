/**
 * TCP_NOTSENT_LOWAT (TcpConfig.notsentLowat): a write takes data only while
 * less than the mark is unsent, one size goal at a time; the connection
 * reports room to write (sendSpace) only once less than half of it is
 * unsent. Off (0), the send buffer alone limits a write.
 */
import { expect } from 'chai';
import { TcpPair, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';

describe('tcp: TCP_NOTSENT_LOWAT', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('stops a write once the unsent bytes reach the mark, and reports room below half of it', () => {
    p = new TcpPair({ a: { cc: 'newreno' } });
    const { client } = established(p);
    client.cfg.notsentLowat = 4000;
    const n = client.write(pattern(200_000, 1));
    expect(n).to.be.lessThan(200_000);
    // What was taken: the window's worth went out, at least the mark is left unsent.
    expect(client.unsentBytes()).to.be.at.least(4000);
    expect(client.sendSpace()).to.equal(0);
    expect(client.write(pattern(1000, 2))).to.equal(0);
    // ACKs open the window: data leaves, and below 2000 unsent there is room again.
    for (let i = 0; i < 50 && client.unsentBytes() * 2 >= 4000; i++) p.deliver();
    expect(client.unsentBytes() * 2).to.be.lessThan(4000);
    expect(client.sendSpace()).to.be.greaterThan(0);
  });

  it('is off at 0: the send buffer alone limits a write', () => {
    p = new TcpPair({ a: { cc: 'newreno' } });
    const { client } = established(p);
    const n = client.write(pattern(50_000, 1));
    expect(n).to.equal(50_000);
  });
});
