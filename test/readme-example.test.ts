import { expect } from 'chai';
import http from 'node:http';
import { createStackPair } from '../src/testing.js';
import { NO_MBUF, type TzSocket } from '../src/index.js';

// The README's library example, run over the deterministic in-memory pair
// instead of a veth, so the documented API cannot drift from the real one.
describe('README example', () => {
  it('serves an unmodified Node http server and a zero-copy echo over tzstack', async () => {
    const pair = createStackPair({ seed: 3 });
    const { a: stack, pool } = pair;

    const web = http.createServer((req, res) => res.end('hello from tzstack\n'));
    const webServer = stack.createServer((sock: TzSocket) => web.emit('connection', sock)).listen(80);

    const echo = stack.createServer((sock: TzSocket) => {
      const conn = sock.connection;
      conn.onReadable = () => {
        for (let m = conn.readMbuf(); m !== NO_MBUF; m = conn.readMbuf()) {
          if (!conn.writeMbuf(m)) pool.free(m);
        }
      };
    }).listen(7);

    // An HTTP request from the other stack.
    const client = pair.b.connect(80, '10.0.0.1');
    const got: Buffer[] = [];
    let ended = false;
    client.on('data', (d: Buffer) => got.push(d));
    client.on('end', () => { ended = true; });
    client.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await pair.run(() => ended, { maxMs: 10_000 })).to.equal(true);
    expect(Buffer.concat(got).toString()).to.match(/^HTTP\/1\.1 200 OK[\s\S]*hello from tzstack\n$/);

    // Bytes through the zero-copy echo.
    const e = pair.b.connect(7, '10.0.0.1');
    const echoed: Buffer[] = [];
    e.on('data', (d: Buffer) => echoed.push(d));
    const payload = Buffer.from('zero copy both ways'.repeat(500));
    e.write(payload);
    expect(await pair.run(() => Buffer.concat(echoed).length >= payload.length, { maxMs: 10_000 })).to.equal(true);
    expect(Buffer.concat(echoed).equals(payload)).to.equal(true);
    e.destroy();

    webServer.close();
    echo.close();
    await pair.close();
    expect(pool.inUse()).to.equal(0);
  });
});
