import { expect } from 'chai';
import { once } from 'node:events';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { TzSocket } from '../src/tcp/socket.js';
import { allocTxMbuf, TX_HEADROOM, txMbufFrom } from '../src/tcp/zc.js';
import { fakePair } from './sock-fakes.js';

/** Resolves when the stream has closed (also if it already has). */
function closed(s: TzSocket): Promise<unknown> {
  return s.closed ? Promise.resolve() : once(s, 'close');
}

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('sock: TzSocket stream semantics (over a fake connection pair)', () => {
  let pool: TsMempool;
  beforeEach(() => { pool = new TsMempool({ count: 2048 }); });
  afterEach(() => { expect(pool.inUse()).to.equal(0); });

  it('carries bytes both ways and reports addresses', async () => {
    const [ca, cb] = fakePair(pool);
    const a = new TzSocket(ca, pool);
    const b = new TzSocket(cb, pool);
    expect(a.remoteAddress).to.equal('10.74.0.2');
    expect(a.remotePort).to.equal(80);
    expect(a.localPort).to.equal(40000);
    expect(a.address()).to.deep.equal({ address: '10.74.0.1', family: 'IPv4', port: 40000 });
    expect(a.readyState).to.equal('open');
    const got: Buffer[] = [];
    b.on('data', (d: Buffer) => got.push(d));
    a.resume();
    a.write('hello ');
    a.end('world');
    await once(b, 'end');
    expect(Buffer.concat(got).toString()).to.equal('hello world');
    expect(b.bytesRead).to.equal(11);
    expect(a.bytesWritten).to.equal(11);
    // allowHalfOpen false: b ends itself, both close
    await Promise.all([closed(a), closed(b)]);
    expect(a.readyState).to.equal('closed');
  });

  it('applies backpressure: write() returns false and drain follows once the reader consumes', async () => {
    const [ca, cb] = fakePair(pool, 8192);
    const a = new TzSocket(ca, pool, { writableHighWaterMark: 16384 });
    const b = new TzSocket(cb, pool);
    b.pause();
    a.resume();
    const data = pattern(200_000);
    let off = 0;
    let falses = 0;
    while (off < data.length) {
      const ok = a.write(data.subarray(off, off + 4096));
      off += 4096;
      if (!ok) { falses++; break; }
    }
    expect(falses).to.equal(1);
    // Nobody reads b: the fake connection fills and stays full.
    await new Promise((r) => setImmediate(r));
    expect(cb.qBytes).to.be.at.most(8192);
    const got: Buffer[] = [];
    b.on('data', (d: Buffer) => got.push(d));
    b.resume();
    await once(a, 'drain');
    a.end(data.subarray(off));
    await once(b, 'end');
    expect(Buffer.compare(Buffer.concat(got), data)).to.equal(0);
    await closed(a);
  });

  it('keeps data in the connection while the consumer is paused', async () => {
    const [ca, cb] = fakePair(pool, 65536);
    const a = new TzSocket(ca, pool);
    const b = new TzSocket(cb, pool, { readableHighWaterMark: 1024 });
    b.pause();
    a.write(pattern(20000));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // The stream took at most one pull's worth; the rest waits in TCP.
    expect(cb.readable()).to.be.greaterThan(0);
    a.destroy();
    b.destroy();
    await Promise.all([closed(a), closed(b)]);
  });

  it('supports half-close with allowHalfOpen', async () => {
    const [ca, cb] = fakePair(pool);
    const a = new TzSocket(ca, pool, { allowHalfOpen: true });
    const b = new TzSocket(cb, pool, { allowHalfOpen: true });
    const got: Buffer[] = [];
    a.on('data', (d: Buffer) => got.push(d));
    a.end('request');
    b.on('data', () => {});
    await once(b, 'end');
    expect(b.readyState).to.equal('writeOnly');
    b.write('reply after half-close');
    b.end();
    await once(a, 'end');
    expect(Buffer.concat(got).toString()).to.equal('reply after half-close');
    await Promise.all([closed(a), closed(b)]);
  });

  it('turns a reset into ECONNRESET on the peer and destroy() aborts with unread data', async () => {
    const [ca, cb] = fakePair(pool);
    const a = new TzSocket(ca, pool);
    const b = new TzSocket(cb, pool);
    b.pause();
    a.write('unread');
    await new Promise((r) => setImmediate(r));
    const errP = once(a, 'error');
    b.destroy();
    const [err] = await errP;
    expect((err as { code: string }).code).to.equal('ECONNRESET');
    expect(cb.aborted).to.equal(true);
  });

  it('passes setNoDelay/setKeepAlive through and emits timeout', async () => {
    const [ca, cb] = fakePair(pool);
    const a = new TzSocket(ca, pool);
    const b = new TzSocket(cb, pool);
    a.setNoDelay();
    a.setKeepAlive(true, 1000);
    expect(ca.noDelay).to.equal(true);
    expect(ca.keepAlive).to.equal(true);
    expect(a.ref()).to.equal(a);
    a.setTimeout(5);
    await once(a, 'timeout');
    a.setTimeout(0);
    a.destroy();
    b.destroy();
  });

  it('writes mbufs without copying through writeMbuf', async () => {
    const [ca, cb] = fakePair(pool);
    const a = new TzSocket(ca, pool);
    const b = new TzSocket(cb, pool);
    const got: Buffer[] = [];
    b.on('data', (d: Buffer) => got.push(d));
    a.resume();
    const m = allocTxMbuf(pool, 5000);
    expect(pool.headroom(m)).to.equal(TX_HEADROOM);
    expect(pool.pktLen(m)).to.equal(5000);
    pool.copyIn(m, 0, pattern(5000));
    expect(a.writeMbuf(m)).to.equal(true);
    const m2 = txMbufFrom(pool, Buffer.from('!'));
    expect(a.writeMbuf(m2)).to.equal(true);
    a.end();
    await once(b, 'end');
    expect(Buffer.compare(Buffer.concat(got), Buffer.concat([pattern(5000), Buffer.from('!')]))).to.equal(0);
    await closed(a);
  });
});
