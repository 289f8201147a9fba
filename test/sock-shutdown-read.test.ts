import { expect } from 'chai';
import { once } from 'node:events';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { TzSocket } from '../src/tcp/socket.js';
import { fakePair } from './sock-fakes.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('sock: TzSocket.shutdownRead (shutdown(SHUT_RD))', () => {
  let pool: TsMempool;
  beforeEach(() => { pool = new TsMempool({ count: 512 }); });
  afterEach(() => { expect(pool.inUse()).to.equal(0); });

  it('delivers what was received, ends the stream, drops what comes later, keeps writing', async () => {
    const [ca, cb] = fakePair(pool, 65536);
    const a = new TzSocket(ca, pool);
    // allowHalfOpen: otherwise the stream ends its writable side after 'end', as after a FIN.
    const b = new TzSocket(cb, pool, { allowHalfOpen: true });
    b.pause();
    a.write(Buffer.from('before'));
    await tick(); await tick();
    b.shutdownRead();
    a.write(Buffer.from('after the shutdown'));
    const got: Buffer[] = [];
    b.on('data', (d: Buffer) => got.push(d));
    const ended = once(b, 'end');
    b.resume();
    await ended;
    await tick(); await tick();
    expect(Buffer.concat(got).toString()).to.equal('before');
    expect(b.bytesDiscarded).to.equal('after the shutdown'.length);
    expect(cb.readable()).to.equal(0); // nothing left to stall the peer's window
    // The writable side still works.
    const back: Buffer[] = [];
    a.on('data', (d: Buffer) => back.push(d));
    b.write('reply');
    await tick(); await tick();
    expect(Buffer.concat(back).toString()).to.equal('reply');
    a.destroy(); b.destroy();
    await tick();
  });

  it('a reader waiting for data gets end of stream at once', async () => {
    const [ca, cb] = fakePair(pool, 65536);
    const a = new TzSocket(ca, pool);
    const b = new TzSocket(cb, pool);
    const ended = once(b, 'end');
    b.resume(); // waiting: nothing has arrived
    await tick();
    b.shutdownRead();
    await ended;
    expect(b.bytesRead).to.equal(0);
    a.destroy(); b.destroy();
    await tick();
  });
});
