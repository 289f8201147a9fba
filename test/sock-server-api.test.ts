/**
 * The `net.Server` surface of TzServer where it follows Node: listen(0) and
 * listen(options), the EADDRINUSE error's shape, Symbol.asyncDispose,
 * pauseOnConnect, maxConnections with an orderly 'drop', and connect's
 * synchronous ERR_SOCKET_BAD_PORT.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { createStackPair, type StackPair } from '../src/testing.js';

describe('sock: net.Server surface of TzServer', () => {
  let pair: StackPair;
  beforeEach(() => { pair = createStackPair({ seed: 16 }); });
  afterEach(async () => {
    await pair.close();
    expect(pair.pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  it('listen(0) and listen() take an ephemeral port; listen(options) honours port, backlog and signal', async () => {
    const a = pair.b.createServer(() => {}).listen(0);
    await once(a, 'listening');
    const pa = a.address()!.port;
    expect(pa).to.be.within(49152, 65535);
    const b = pair.b.createServer(() => {}).listen();
    await once(b, 'listening');
    expect(b.address()!.port).to.be.within(49152, 65535).and.not.equal(pa);
    const ac = new AbortController();
    const c = pair.b.createServer(() => {}).listen({ port: 8123, backlog: 4, signal: ac.signal });
    await once(c, 'listening');
    expect(c.address()!.port).to.equal(8123);
    ac.abort();
    await once(c, 'close');
    expect(c.listening).to.equal(false);
    a.close(); b.close();
  });

  it('EADDRINUSE looks like Node\'s; a bad port throws ERR_SOCKET_BAD_PORT at once', async () => {
    const a = pair.b.createServer(() => {}).listen(8200);
    await once(a, 'listening');
    const b = pair.b.createServer(() => {}).listen(8200);
    const [e] = await once(b, 'error') as [NodeJS.ErrnoException & { address: string; port: number }];
    expect(e.message).to.equal('listen EADDRINUSE: address already in use 0.0.0.0:8200');
    expect(e).to.include({ code: 'EADDRINUSE', errno: -98, syscall: 'listen', address: '0.0.0.0', port: 8200 });
    expect(() => pair.b.createServer().listen(70000)).to.throw(RangeError).with.property('code', 'ERR_SOCKET_BAD_PORT');
    expect(() => pair.connect(70000)).to.throw(RangeError).with.property('code', 'ERR_SOCKET_BAD_PORT');
    a.close();
  });

  it('await using closes the server; pauseOnConnect hands over paused sockets', async () => {
    let paused: boolean | undefined;
    const srv = pair.b.createServer({ pauseOnConnect: true }, (s) => { paused = s.isPaused(); s.destroy(); }).listen(8300);
    await once(srv, 'listening');
    const c = pair.connect(8300);
    c.on('error', () => {});
    await pair.run(() => paused !== undefined, { maxMs: 5000 });
    expect(paused).to.equal(true);
    c.destroy();
    await pair.run(() => false, { maxMs: 200 }).catch(() => undefined);
    const closed = srv[Symbol.asyncDispose]();
    await pair.run(() => !srv.listening, { maxMs: 2000 }).catch(() => undefined);
    await closed;
    expect(srv.listening).to.equal(false);
  });

  it("maxConnections: the refused client sees an orderly end and 'drop' reports both ends", async () => {
    const drops: Array<Record<string, unknown>> = [];
    const srv = pair.b.createServer(() => {}).listen(8400);
    srv.maxConnections = 0;
    srv.on('drop', (d) => drops.push(d));
    await once(srv, 'listening');
    const c = pair.connect(8400);
    let ended = false;
    let err: string | undefined;
    c.on('end', () => { ended = true; });
    c.on('error', (e: NodeJS.ErrnoException) => { err = e.code; });
    c.resume();
    await pair.run(() => ended || err !== undefined, { maxMs: 5000 });
    expect(err).to.equal(undefined);
    expect(ended).to.equal(true);
    expect(drops).to.have.length(1);
    expect(drops[0]).to.include({ localPort: 8400, localFamily: 'IPv4', remoteFamily: 'IPv4' });
    c.destroy();
    srv.close();
  });
});
