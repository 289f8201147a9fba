import { expect } from 'chai';
import { request, type IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { httpFetch } from '../src/app/fetch.js';
import { checkPattern, fillPattern } from '../src/app/pattern.js';
import { startServices } from '../src/app/services.js';
import { connect } from '../src/tcp/server.js';
import type { TzSocket } from '../src/tcp/socket.js';
import { createStackPair, type StackPair } from '../src/testing.js';

/** Drive the pair until `p` settles; returns its value (or throws its error). */
async function drive<T>(pair: StackPair, p: Promise<T>, maxMs = 120_000): Promise<T> {
  let settled = false;
  const q = p.finally(() => { settled = true; });
  q.catch(() => {});
  const ok = await pair.run(() => settled, { maxMs });
  if (!ok) throw new Error(`not settled after ${maxMs} ms of virtual time`);
  return q;
}

function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

function closed(s: TzSocket): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));
}

describe('sock: sockets, servers and services over two real stacks', function () {
  this.timeout(60_000);
  let pair: StackPair;
  beforeEach(() => { pair = createStackPair({ seed: 3, tcp: { timeWaitMs: 1000 } }); });
  afterEach(async () => {
    await pair.close();
    expect(pair.pool.inUse()).to.equal(0);
  });

  it('echo service: 300 KB round trip, half-close, then no connection left', async () => {
    const svc = startServices(pair.b, { services: ['echo'] });
    const data = Buffer.from(fillPattern(new Uint8Array(300_000), 11));
    const c = pair.connect(7, { allowHalfOpen: true });
    let connected = false;
    c.on('connect', () => { connected = true; });
    const got = collect(c);
    c.end(data);
    const echoed = await drive(pair, got);
    expect(connected).to.equal(true);
    expect(echoed.equals(data)).to.equal(true);
    expect(c.remoteAddress).to.equal('10.0.0.2');
    expect(c.remotePort).to.equal(7);
    expect(c.localAddress).to.equal('10.0.0.1');
    expect(c.bytesRead).to.equal(data.length);
    expect(c.bytesWritten).to.equal(data.length);
    await drive(pair, closed(c));
    const closing = svc.close();
    await drive(pair, closing);
    expect(await pair.drain()).to.equal(true);
    expect(svc.counters.echo).to.equal(1);
  });

  it('write() returns false under backpressure and drain follows', async () => {
    const svc = startServices(pair.b, { services: ['discard'] });
    const c = pair.connect(9);
    const chunk = Buffer.alloc(64 * 1024, 1);
    let falses = 0;
    let drains = 0;
    c.on('drain', () => { drains++; });
    const wrote = new Promise<void>((resolve) => {
      let left = 40; // 2.5 MB: more than TCP's 1 MB send buffer
      const go = (): void => {
        while (left > 0) {
          left--;
          if (!c.write(chunk)) { falses++; c.once('drain', go); return; }
        }
        c.end(resolve);
      };
      c.on('connect', go);
    });
    await drive(pair, wrote);
    expect(falses).to.be.greaterThan(0);
    expect(drains).to.be.greaterThan(0);
    c.resume();
    await drive(pair, closed(c));
    await drive(pair, svc.close());
  });

  it('refused connection reports ECONNREFUSED', async () => {
    const c = pair.a.connect(4444, '10.0.0.2');
    const err = new Promise<NodeJS.ErrnoException>((resolve) => c.on('error', resolve));
    const e = await drive(pair, err);
    expect(e.code).to.equal('ECONNREFUSED');
    expect(e.syscall).to.equal('connect');
  });

  it('bad addresses fail asynchronously with an error event', async () => {
    const c = connect(pair.a, 80, 'not-an-ip');
    const e = await new Promise<NodeJS.ErrnoException>((resolve) => c.on('error', resolve));
    expect(e.code).to.equal('EINVAL');
  });

  it('an unmodified http.Server serves a raw HTTP request from a tzstack socket', async () => {
    const svc = startServices(pair.b, { services: ['http'] });
    const c = pair.connect(80);
    c.on('connect', () => c.write('GET / HTTP/1.1\r\nHost: 10.0.0.2\r\nConnection: close\r\n\r\n'));
    const text = (await drive(pair, collect(c))).toString();
    expect(text).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).to.contain('tzstack');
    await drive(pair, closed(c));
    await drive(pair, svc.close());
  });

  it("Node's http client over tzstack: GET /bytes/2000000 checked, POST /echo", async () => {
    const svc = startServices(pair.b, { services: ['http'] });
    const get = (path: string): Promise<IncomingMessage> => new Promise((resolve, reject) => {
      request({ host: '10.0.0.2', port: 80, path, createConnection: () => pair.connect(80) }, resolve).on('error', reject).end();
    });
    const res = await drive(pair, get('/bytes/2000000'));
    expect(res.statusCode).to.equal(200);
    const body = await drive(pair, collect(res));
    expect(body.length).to.equal(2_000_000);
    expect(checkPattern(body)).to.equal(-1);

    const payload = Buffer.from(fillPattern(new Uint8Array(150_000), 99));
    const post = new Promise<IncomingMessage>((resolve, reject) => {
      const r = request({
        host: '10.0.0.2', port: 80, method: 'POST', path: '/echo',
        headers: { 'content-type': 'application/x-test', 'content-length': payload.length },
        createConnection: () => pair.connect(80),
      }, resolve);
      r.on('error', reject);
      r.end(payload);
    });
    const er = await drive(pair, post);
    expect(er.headers['content-type']).to.equal('application/x-test');
    expect((await drive(pair, collect(er))).equals(payload)).to.equal(true);
    await drive(pair, svc.close());
    expect(svc.counters.requests['/bytes']).to.equal(1);
    expect(svc.counters.requests['/echo']).to.equal(1);
  });

  it('httpFetch (tzstack fetch) gets a body with its sha256 and reports non-2xx statuses', async () => {
    const svc = startServices(pair.b, { services: ['http'] });
    const sink = new PassThrough();
    const parts: Buffer[] = [];
    sink.on('data', (d: Buffer) => parts.push(d));
    const r = await drive(pair, httpFetch(pair.a, 'http://10.0.0.2/bytes/123457', { output: sink, sha256: true }));
    expect(r.status).to.equal(200);
    expect(r.bytes).to.equal(123457);
    const body = Buffer.concat(parts);
    expect(r.sha256).to.equal(createHash('sha256').update(body).digest('hex'));
    expect(checkPattern(body)).to.equal(-1);
    const nf = await drive(pair, httpFetch(pair.a, 'http://10.0.0.2/missing'));
    expect(nf.status).to.equal(404);
    await drive(pair, svc.close());
  });
});
