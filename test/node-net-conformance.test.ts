/**
 * Node `net` conformance: a sample of the behaviours Node's own
 * test/parallel/test-net-*.js check (written here from scratch), run with the
 * same expectations against `node:net` over loopback and against tzstack
 * (two stacks in memory, `createStackPair`, driven on a virtual clock in this
 * process). Where tzstack deliberately differs, the test says so and why, and
 * states each side's behaviour.
 *
 * Each behaviour names the Node test it follows (test-net-<name>.js).
 */
import { expect } from 'chai';
import net from 'node:net';
import { applySocketOptions, type TzSocket } from '../src/tcp/socket.js';
import type { TzServer } from '../src/tcp/server.js';
import { createStackPair, type StackPair } from '../src/testing.js';

/** What a test needs of one implementation of `net`. */
interface Net {
  readonly name: string;
  /** The address the server listens on (and the client connects to). */
  readonly host: string;
  /** Start a server; resolves with its port. */
  listen(opts: { allowHalfOpen?: boolean }, onConnection: (s: net.Socket) => void): Promise<number>;
  /** `net.connect` with the options this file uses. */
  connect(opts: ConnectOpts): net.Socket;
  /** A port nothing listens on. */
  closedPort(): Promise<number>;
  /** Let the implementation run until `p` settles. */
  wait<T>(p: Promise<T>): Promise<T>;
  /** Let it run a little (a few turns of the event loop / a few ms of virtual time). */
  settle(): Promise<void>;
  teardown(): Promise<void>;
}

interface ConnectOpts {
  port: number;
  allowHalfOpen?: boolean;
  onread?: { buffer: Uint8Array | (() => Uint8Array); callback: (n: number, b: Uint8Array) => boolean };
  signal?: AbortSignal;
}

function nodeNet(): Net {
  const servers: net.Server[] = [];
  const sockets: net.Socket[] = [];
  const track = (s: net.Socket): net.Socket => { sockets.push(s); return s; };
  return {
    name: 'node:net',
    host: '127.0.0.1',
    listen: (opts, onConnection) => new Promise((resolve, reject) => {
      const srv = net.createServer(opts, (s) => onConnection(track(s)));
      servers.push(srv);
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port));
    }),
    connect: (o) => track(net.connect({ host: '127.0.0.1', ...o })),
    closedPort: () => new Promise((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(port));
      });
    }),
    wait: <T>(p: Promise<T>) => {
      let t: NodeJS.Timeout | undefined;
      const guard = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error('node:net: not settled in 10 s')), 10_000); });
      return Promise.race([p, guard]).finally(() => clearTimeout(t));
    },
    settle: () => new Promise((r) => setTimeout(r, 30)),
    async teardown() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
    },
  };
}

function tzNet(): Net {
  const pair: StackPair = createStackPair({ seed: 16, tcp: { timeWaitMs: 1000 } });
  const servers: TzServer[] = [];
  const sockets: TzSocket[] = [];
  let nextPort = 5000;
  const wait = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    const q = p.finally(() => { settled = true; });
    q.catch(() => {});
    // In slices of virtual time with a real millisecond between them: the idle
    // timer of setTimeout runs on wall-clock time, as Node's does.
    for (let i = 0; i < 120 && !settled; i++) {
      if (!(await pair.run(() => settled, { maxMs: 1000 }))) await new Promise((r) => setTimeout(r, 1));
    }
    if (!settled) throw new Error('tzstack: not settled in 120 s of virtual time');
    return q;
  };
  return {
    name: 'tzstack',
    host: '10.0.0.2',
    listen: async (opts, onConnection) => {
      const port = nextPort++;
      const srv = pair.createServer((s) => { sockets.push(s); onConnection(s as unknown as net.Socket); }, opts);
      servers.push(srv);
      await wait(new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(port, resolve); }));
      return port;
    },
    connect: (o) => {
      const { onread, signal, ...rest } = o;
      // The pair's connect takes TCP options only; applySocketOptions applies
      // onread/signal as connect() in src/tcp/server.ts does.
      const s = applySocketOptions(pair.connect(o.port, rest), { onread, signal });
      sockets.push(s);
      return s as unknown as net.Socket;
    },
    closedPort: async () => 4999,
    wait,
    settle: async () => { const end = pair.clock.now() + 20; await pair.run(() => pair.clock.now() >= end); },
    async teardown() {
      for (const s of sockets) s.destroy();
      for (const srv of servers) if (srv.listening) srv.close();
      await pair.run(() => false, { maxMs: 10 });
      await pair.close();
      expect(pair.pool.inUse(), 'mbufs in use after close').to.equal(0);
    },
  };
}

const once = <T = unknown>(e: NodeJS.EventEmitter, ev: string): Promise<T> => new Promise((r) => e.once(ev, (x: T) => r(x)));

/** A connected client `c` and the server's socket `s`. */
async function connected(n: Net, srvOpts: { allowHalfOpen?: boolean } = {}, cliOpts: Partial<ConnectOpts> = {}): Promise<{ c: net.Socket; s: net.Socket; port: number }> {
  let gotServer!: (s: net.Socket) => void;
  const server = new Promise<net.Socket>((r) => { gotServer = r; });
  const port = await n.listen(srvOpts, (s) => gotServer(s));
  const c = n.connect({ port, ...cliOpts });
  const [s] = await n.wait(Promise.all([server, once(c, 'connect')]));
  return { c, s, port };
}

function pattern(len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

for (const make of [nodeNet, tzNet]) {
  describe(`node-net conformance: ${make === nodeNet ? 'node:net over loopback' : 'tzstack (two stacks in memory)'}`, function () {
    this.timeout(60_000);
    let n: Net;
    beforeEach(() => { n = make(); });
    afterEach(async () => { await n.teardown(); });

    it('connect refused: ECONNREFUSED with errno, syscall, address, port and Node\'s message (test-net-connect-immediate-finish, test-net-better-error-messages-port)', async () => {
      const port = await n.closedPort();
      const c = n.connect({ port });
      const ev: string[] = [];
      c.on('close', (hadError: boolean) => ev.push(`close:${hadError}`));
      const closed = once(c, 'close');
      const e = await n.wait(once<NodeJS.ErrnoException & { address: string; port: number }>(c, 'error'));
      expect(e.code).to.equal('ECONNREFUSED');
      expect(e.errno).to.equal(-111);
      expect(e.syscall).to.equal('connect');
      expect(e.address).to.equal(n.host);
      expect(e.port).to.equal(port);
      expect(e.message).to.equal(`connect ECONNREFUSED ${n.host}:${port}`);
      await n.wait(closed);
      expect(ev).to.deep.equal(['close:true']);
      expect(c.destroyed).to.equal(true);
    });

    it('connecting, pending and readyState through open and close (test-net-connect-options, test-net-socket-ready-state)', async () => {
      const port = await n.listen({}, (s) => s.end());
      const c = n.connect({ port });
      expect(c.connecting).to.equal(true);
      expect(c.pending).to.equal(true);
      expect(c.readyState).to.equal('opening');
      expect(c.remoteAddress).to.equal(undefined);
      expect(c.remotePort).to.equal(undefined);
      let readyFirst = '';
      c.once('connect', () => { readyFirst ||= 'connect'; });
      c.once('ready', () => { readyFirst ||= 'ready'; });
      await n.wait(once(c, 'connect'));
      expect(readyFirst).to.equal('connect');
      expect(c.connecting).to.equal(false);
      expect(c.pending).to.equal(false);
      expect(c.readyState).to.equal('open');
      c.resume();
      await n.wait(once(c, 'close'));
      expect(c.readyState).to.equal('closed');
    });

    it('allowHalfOpen false (the default): the peer\'s FIN ends our side too; events end, finish, close (test-net-socket-end-callback, test-net-allow-half-open)', async () => {
      const { c, s } = await connected(n);
      expect(c.allowHalfOpen).to.equal(false);
      const ce: string[] = [];
      const se: string[] = [];
      for (const e of ['end', 'finish', 'close']) { c.on(e, () => ce.push(e)); s.on(e, () => se.push(e)); }
      c.resume(); s.resume();
      s.end('bye');
      await n.wait(Promise.all([once(c, 'close'), once(s, 'close')]));
      expect(ce).to.deep.equal(['end', 'finish', 'close']);
      expect(se).to.deep.equal(['finish', 'end', 'close']);
    });

    it('allowHalfOpen false: a write after the peer\'s FIN fails with EPIPE "This socket has been ended by the other party" (test-net-write-after-end-nt)', async () => {
      const { c, s } = await connected(n);
      c.resume();
      s.end();
      await n.wait(once(c, 'end'));
      const err = await n.wait(new Promise<NodeJS.ErrnoException>((resolve) => setImmediate(() => {
        c.on('error', () => {});
        c.write('late', (e) => resolve(e as NodeJS.ErrnoException));
      })));
      expect(err.code).to.equal('EPIPE');
      expect(err.message).to.equal('This socket has been ended by the other party');
    });

    it('allowHalfOpen true: after the peer\'s FIN we stay writable and the peer reads what we send (test-net-allow-half-open)', async () => {
      const { c, s } = await connected(n, {}, { allowHalfOpen: true });
      expect(c.allowHalfOpen).to.equal(true);
      let got = '';
      s.on('data', (d: Buffer) => { got += d.toString(); });
      c.resume();
      s.end();
      await n.wait(once(c, 'end'));
      await n.settle();
      expect(c.readyState).to.equal('writeOnly');
      expect(c.writable).to.equal(true);
      c.end('late data');
      await n.wait(Promise.all([once(c, 'close'), once(s, 'close')]));
      expect(got).to.equal('late data');
    });

    it('setNoDelay, setKeepAlive and setTimeout return the socket (test-net-socket-setnodelay, test-net-persistent-keepalive)', async () => {
      const { c } = await connected(n);
      expect(c.setNoDelay(true)).to.equal(c);
      expect(c.setNoDelay()).to.equal(c);
      expect(c.setKeepAlive(true, 1000)).to.equal(c);
      expect(c.setKeepAlive(false)).to.equal(c);
      expect(c.setTimeout(0)).to.equal(c);
      expect(c.timeout).to.equal(0);
    });

    it('write after end: ERR_STREAM_WRITE_AFTER_END to the callback and as an error event (test-net-write-after-end-nt)', async () => {
      const { c } = await connected(n);
      c.end();
      const fromEvent = once<NodeJS.ErrnoException>(c, 'error');
      const fromCb = new Promise<NodeJS.ErrnoException>((resolve) => c.write('x', (e) => resolve(e as NodeJS.ErrnoException)));
      const [a, b] = await n.wait(Promise.all([fromEvent, fromCb]));
      expect(a.code).to.equal('ERR_STREAM_WRITE_AFTER_END');
      expect(b.code).to.equal('ERR_STREAM_WRITE_AFTER_END');
      expect(a.message).to.equal('write after end');
    });

    it('destroy(err): error then close(hadError true) here, an orderly end at the peer (test-net-socket-destroy-send, test-net-destroy)', async () => {
      const { c, s } = await connected(n);
      const ev: string[] = [];
      c.on('error', (e: Error) => ev.push(`error:${e.message}`));
      c.on('close', (h: boolean) => ev.push(`close:${h}`));
      const pe: string[] = [];
      s.on('error', (e: NodeJS.ErrnoException) => pe.push(`error:${e.code}`));
      s.on('end', () => pe.push('end'));
      s.resume();
      c.destroy(new Error('boom'));
      expect(c.destroyed).to.equal(true);
      await n.wait(Promise.all([once(c, 'close'), once(s, 'close')]));
      expect(ev).to.deep.equal(['error:boom', 'close:true']);
      expect(pe).to.deep.equal(['end']);
    });

    it('bytesRead and bytesWritten count payload both ways (test-net-bytes-read, test-net-bytes-stats)', async () => {
      const { c, s } = await connected(n);
      const data = pattern(20_000);
      s.on('data', (d: Buffer) => s.write(d));
      let got = 0;
      c.on('data', (d: Buffer) => { got += d.length; if (got === data.length) c.end(); });
      s.on('end', () => s.end());
      c.write(data);
      await n.wait(Promise.all([once(c, 'close'), once(s, 'close')]));
      expect(c.bytesWritten).to.equal(data.length);
      expect(c.bytesRead).to.equal(data.length);
      expect(s.bytesRead).to.equal(data.length);
      expect(s.bytesWritten).to.equal(data.length);
    });

    it('address(), remoteAddress, remotePort, remoteFamily, localAddress and localPort agree between the ends (test-net-remote-address, test-net-local-address-port)', async () => {
      const { c, s, port } = await connected(n);
      expect(c.remoteAddress).to.equal(n.host);
      expect(c.remotePort).to.equal(port);
      expect(c.remoteFamily).to.equal('IPv4');
      expect(s.localPort).to.equal(port);
      expect(s.localAddress).to.equal(n.host);
      expect(s.remotePort).to.equal(c.localPort);
      expect(s.remoteAddress).to.equal(c.localAddress);
      expect(c.address()).to.deep.equal({ address: c.localAddress, family: 'IPv4', port: c.localPort });
      expect(s.address()).to.deep.equal({ address: n.host, family: 'IPv4', port });
    });

    it('pause() holds data back and resume() delivers all of it (test-net-pause-resume-connecting, test-net-pingpong)', async () => {
      const { c, s } = await connected(n);
      const data = pattern(50_000);
      let got = 0;
      c.on('data', (d: Buffer) => { got += d.length; });
      c.pause();
      expect(c.isPaused()).to.equal(true);
      await n.wait(new Promise<void>((resolve) => s.write(data, () => resolve())));
      await n.settle();
      expect(got).to.equal(0);
      c.resume();
      s.end();
      await n.wait(once(c, 'end'));
      expect(got).to.equal(data.length);
    });

    it('setTimeout: timeout fires after idleness, the socket stays open, activity re-arms it (test-net-socket-timeout, test-net-settimeout)', async () => {
      const { c, s } = await connected(n);
      let fired = 0;
      c.on('timeout', () => { fired++; });
      c.setTimeout(20);
      expect(c.timeout).to.equal(20);
      await n.wait(once(c, 'timeout'));
      expect(c.destroyed).to.equal(false);
      s.write('x');
      await n.wait(once(c, 'timeout'));
      expect(fired).to.equal(2);
      c.setTimeout(0);
      expect(c.timeout).to.equal(0);
      expect(() => c.setTimeout(-1)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
    });

    it('resetAndDestroy(): the peer sees ECONNRESET, our side closes without an error (test-net-socket-reset-send)', async () => {
      const { c, s } = await connected(n);
      const local: string[] = [];
      c.on('error', (e: NodeJS.ErrnoException) => local.push(`error:${e.code}`));
      c.on('close', (h: boolean) => local.push(`close:${h}`));
      const peer = once<NodeJS.ErrnoException>(s, 'error');
      expect(c.resetAndDestroy()).to.equal(c);
      expect(c.destroyed).to.equal(true);
      const e = await n.wait(peer);
      expect(e.code).to.equal('ECONNRESET');
      expect(e.errno).to.equal(-104);
      expect(e.syscall).to.equal('read');
      expect(e.message).to.equal('read ECONNRESET');
      expect(e).to.not.have.property('address');
      await n.settle();
      expect(local).to.deep.equal(['close:false']);
    });

    it('onread with a caller-owned buffer: no data events, callback(nread, buf) with the same buffer, false pauses until resume() (test-net-onread-static-buffer)', async () => {
      const data = pattern(100_000);
      const port = await n.listen({}, (s) => { s.end(data); });
      const buf = new Uint8Array(1000);
      const parts: Buffer[] = [];
      let calls = 0;
      let sameBuffer = true;
      let dataEvents = 0;
      let resume!: () => void;
      const pausedOnce = new Promise<void>((r) => { resume = r; });
      const c = n.connect({
        port,
        onread: {
          buffer: buf,
          callback: (nread, b) => {
            calls++;
            if (b !== buf) sameBuffer = false;
            parts.push(Buffer.from(b.subarray(0, nread)));
            if (calls === 1) { resume(); return false; }
            return true;
          },
        },
      });
      c.on('data', () => { dataEvents++; });
      await n.wait(pausedOnce);
      await n.settle();
      expect(calls, 'no callback while reading is stopped').to.equal(1);
      c.resume();
      await n.wait(once(c, 'end'));
      expect(Buffer.concat(parts).equals(data)).to.equal(true);
      expect(sameBuffer).to.equal(true);
      expect(dataEvents).to.equal(0);
      expect(c.bytesRead).to.equal(data.length);
      expect(calls).to.be.at.least(Math.ceil(data.length / buf.length));
    });

    it('onread with a buffer function: called for each next buffer (test-net-onread-static-buffer)', async () => {
      const data = pattern(30_000);
      const port = await n.listen({}, (s) => { s.end(data); });
      let made = 0;
      let total = 0;
      const c = n.connect({
        port,
        onread: { buffer: () => { made++; return new Uint8Array(4096); }, callback: (nread) => { total += nread; return true; } },
      });
      await n.wait(once(c, 'end'));
      expect(total).to.equal(data.length);
      expect(made).to.be.at.least(2);
    });

    it('signal: abort destroys with AbortError, before and after connecting (test-net-connect-abort-controller)', async () => {
      const port = await n.listen({}, () => {});
      const early = new AbortController();
      early.abort();
      const c1 = n.connect({ port, signal: early.signal });
      const e1 = await n.wait(once<Error & { code: string }>(c1, 'error'));
      expect(e1.name).to.equal('AbortError');
      expect(e1.code).to.equal('ABORT_ERR');
      const late = new AbortController();
      const c2 = n.connect({ port, signal: late.signal });
      await n.wait(once(c2, 'connect'));
      const e2p = once<Error & { code: string }>(c2, 'error');
      late.abort();
      const e2 = await n.wait(e2p);
      expect(e2.name).to.equal('AbortError');
      expect(e2.message).to.equal('The operation was aborted');
      expect(c2.destroyed).to.equal(true);
    });

    it('bufferSize is writableLength, undefined once destroyed (test-net-socket-write-after-close, deprecated DEP0XXX bufferSize)', async () => {
      const { c } = await connected(n);
      c.write('abc');
      expect(c.bufferSize).to.equal(c.writableLength);
      c.destroy();
      expect(c.bufferSize).to.equal(undefined);
    });

    it('Symbol.asyncDispose destroys the socket and resolves once it has closed', async () => {
      const { c } = await connected(n);
      await n.wait(Promise.resolve((c as unknown as AsyncDisposable)[Symbol.asyncDispose]()));
      expect(c.destroyed).to.equal(true);
      expect(c.closed).to.equal(true);
    });

    it('a bad port throws ERR_SOCKET_BAD_PORT synchronously (test-net-connect-options-port)', () => {
      expect(() => n.connect({ port: 70000 })).to.throw(RangeError).with.property('code', 'ERR_SOCKET_BAD_PORT');
    });
  });
}
