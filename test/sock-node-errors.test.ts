/**
 * tzstack-only checks of the Node API shapes that node:net cannot be made to
 * show on loopback in a test (a connect that times out), and of what onread
 * must not leak (an mbuf partly copied into the caller's buffer).
 */
import { expect } from 'chai';
import { applySocketOptions, socketError, abortError } from '../src/tcp/socket.js';
import { createStackPair, type StackPair } from '../src/testing.js';

async function drive<T>(pair: StackPair, p: Promise<T>, maxMs = 600_000): Promise<T> {
  let settled = false;
  const q = p.finally(() => { settled = true; });
  q.catch(() => {});
  if (!(await pair.run(() => settled, { maxMs }))) throw new Error(`not settled after ${maxMs} ms of virtual time`);
  return q;
}

describe('sock: Node-shaped errors and onread bookkeeping over two stacks', function () {
  this.timeout(60_000);
  let pair: StackPair;
  beforeEach(() => { pair = createStackPair({ seed: 5, tcp: { timeWaitMs: 1000 } }); });
  afterEach(async () => {
    await pair.close();
    expect(pair.pool.inUse()).to.equal(0);
  });

  it('a connect nobody answers fails with ETIMEDOUT, errno -110, syscall connect, address and port', async () => {
    const c = pair.a.connect(80, '10.0.0.77'); // on the subnet, no such host: ARP never answers
    const e = await drive(pair, new Promise<NodeJS.ErrnoException & { address?: string; port?: number }>((r) => c.on('error', r)));
    expect(e.code).to.equal('ETIMEDOUT');
    expect(e.errno).to.equal(-110);
    expect(e.syscall).to.equal('connect');
    expect(e.address).to.equal('10.0.0.77');
    expect(e.port).to.equal(80);
    expect(e.message).to.equal('connect ETIMEDOUT 10.0.0.77:80');
  });

  it('destroying an onread socket that stopped reading mid-mbuf returns that mbuf to the pool', async () => {
    const data = Buffer.alloc(200_000, 7);
    const srv = pair.createServer((s) => { s.on('error', () => {}); s.end(data); }).listen(81); // our close with unread data resets it
    let calls = 0;
    const c = applySocketOptions(pair.connect(81), {
      onread: { buffer: new Uint8Array(100), callback: () => { calls++; return false; } },
    });
    await drive(pair, new Promise<void>((r) => { const t = setInterval(() => { if (calls > 0) { clearInterval(t); r(); } }, 1); }));
    expect(calls).to.equal(1);
    expect(c.bytesRead).to.equal(100);
    c.destroy();
    srv.close();
    await drive(pair, new Promise((r) => c.once('close', r)));
  });

  it('an abort with a reason: the AbortError carries it as cause, as Node\'s', async () => {
    const ac = new AbortController();
    const c = applySocketOptions(pair.connect(82), { signal: ac.signal });
    ac.abort(new Error('why'));
    const e = await drive(pair, new Promise<Error & { code: string; cause?: unknown }>((r) => c.on('error', r)));
    expect(e.name).to.equal('AbortError');
    expect(e.code).to.equal('ABORT_ERR');
    expect((e.cause as Error).message).to.equal('why');
  });

  it('socketError and abortError build what Node builds', () => {
    const r = socketError('ECONNRESET', 'read');
    expect({ ...r }).to.deep.equal({ errno: -104, code: 'ECONNRESET', syscall: 'read' });
    expect(r.message).to.equal('read ECONNRESET');
    const u = socketError('ENETUNREACH', 'connect', '10.9.9.9', 80);
    expect({ ...u }).to.deep.equal({ errno: -101, code: 'ENETUNREACH', syscall: 'connect', address: '10.9.9.9', port: 80 });
    const a = abortError();
    expect(a.name).to.equal('AbortError');
    expect(a.message).to.equal('The operation was aborted');
  });
});
