import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { checkPattern, fillPattern, patternByte } from '../src/app/pattern.js';
import { createServicesHttpServer } from '../src/app/services.js';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { TzSocket } from '../src/tcp/socket.js';
import { fakePair } from './sock-fakes.js';

describe('sock: Node http over TzSocket (fake connection pair)', () => {
  let pool: TsMempool;
  beforeEach(() => { pool = new TsMempool({ count: 4096 }); });
  afterEach(() => { expect(pool.inUse()).to.equal(0); });

  it('documents the /bytes pattern', () => {
    expect([0, 1, 2, 3, 8, 256, 257].map(patternByte)).to.deep.equal([7, 0x26, 0x45, 0x64, 0xff, 7, 0x26]);
    const b = fillPattern(new Uint8Array(1000), 300);
    expect(checkPattern(b, 300)).to.equal(-1);
    expect(checkPattern(b, 301)).to.equal(0);
  });

  it('an unmodified http.Server answers a raw HTTP/1.1 request', async () => {
    const hs = createServicesHttpServer();
    const [ca, cb] = fakePair(pool);
    const client = new TzSocket(ca, pool);
    hs.emit('connection', new TzSocket(cb, pool, { allowHalfOpen: true }));
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    client.write('GET / HTTP/1.1\r\nHost: tz\r\nConnection: close\r\n\r\n');
    await once(client, 'end');
    const text = Buffer.concat(chunks).toString();
    expect(text).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).to.contain('tzstack');
    if (!client.closed) await once(client, 'close');
    hs.close();
  });

  it("Node's http client runs over tzstack via createConnection: GET /bytes and POST /echo", async () => {
    const hs = createServicesHttpServer();
    const sockets: TzSocket[] = [];
    const mk = (): TzSocket => {
      const [ca, cb] = fakePair(pool, 32768);
      const server = new TzSocket(cb, pool, { allowHalfOpen: true });
      sockets.push(server);
      hs.emit('connection', server);
      return new TzSocket(ca, pool);
    };
    const n = 3_000_001;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ host: '10.74.0.2', port: 80, path: `/bytes/${n}`, createConnection: mk }, resolve).on('error', reject).end();
    });
    expect(res.statusCode).to.equal(200);
    expect(res.headers['content-length']).to.equal(String(n));
    const h = createHash('sha256');
    let got = 0;
    let bad = -1;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (bad < 0) { const k = checkPattern(chunk, got); if (k >= 0) bad = got + k; }
      h.update(chunk);
      got += chunk.length;
    }
    expect(bad).to.equal(-1);
    expect(got).to.equal(n);

    const body = Buffer.from(fillPattern(new Uint8Array(100_000), 5));
    const echo = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = request({ host: '10.74.0.2', port: 80, method: 'POST', path: '/echo', createConnection: mk, headers: { 'content-length': body.length } }, resolve);
      r.on('error', reject);
      r.end(body);
    });
    expect(echo.statusCode).to.equal(200);
    const parts: Buffer[] = [];
    for await (const c of echo as AsyncIterable<Buffer>) parts.push(c);
    expect(Buffer.compare(Buffer.concat(parts), body)).to.equal(0);

    const missing = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ host: '10.74.0.2', port: 80, path: '/nope', createConnection: mk }, resolve).on('error', reject).end();
    });
    expect(missing.statusCode).to.equal(404);
    missing.resume();
    await once(missing, 'end');
    hs.closeAllConnections();
    hs.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => setImmediate(r));
  });
});
