/**
 * ACKs that wait for the application's reply: an ACK
 * decided while a segment is processed (quick-ACK mode, every second
 * full-sized segment, the window update of the app's read) goes out only if,
 * after the app's handlers ran, or at the end of the receive burst, no
 * data segment carried it.
 */
import { expect } from 'chai';
import { TcpPair, IP_A, IP_B, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { ACK, FIN, SYN } from '../src/tcp/header.js';
import type { TcpConfig } from '../src/tcp/config.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { flagNames } from './helpers/segments.js';
import { createStackPair } from '../src/testing.js';

/** An echo server on b's end: what it reads it writes back at once. */
function echo(server: TcpConnection): void {
  server.onReadable = () => { for (let d = server.read(); d; d = server.read()) server.write(d); };
}

/** Run `n` request/reply exchanges of `size` bytes; returns the segments sent after the handshake. */
function exchange(p: TcpPair, client: TcpConnection, n: number, size: number): { from: string; len: number; flags: number }[] {
  let got = 0;
  client.onReadable = () => { for (let d = client.read(); d; d = client.read()) got += d.length; };
  const from = p.log.length;
  for (let i = 0; i < n; i++) {
    client.write(pattern(size, i + 1));
    const want = (i + 1) * size;
    for (let k = 0; k < 50 && got < want; k++) { p.deliver(); if (got < want) p.run(1); }
    expect(got, `reply ${i + 1}`).to.equal(want);
    p.run(1);
  }
  return p.log.slice(from).map((s) => ({ from: s.from, len: s.len, flags: s.flags }));
}

describe('tcp: the reply carries the ACK', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  for (const [name, b] of [['delayed ACKs', {}], ['quick-ACK mode (Linux\'s 16 at start)', { quickAck: 16 }]] as [string, Partial<TcpConfig>][]) {
    it(`an echo sends one segment per request direction, no bare ACK between request and reply (${name})`, () => {
      p = new TcpPair({ b, a: { noDelay: true } });
      const { client, server } = established(p);
      echo(server);
      const segs = exchange(p, client, 20, 64);
      const fromB = segs.filter((s) => s.from === 'b');
      expect(fromB.filter((s) => s.len === 0).map((s) => flagNames(s.flags)), 'bare segments from the server').to.deep.equal([]);
      expect(fromB.length).to.equal(20);
      expect(p.b.counters.delayedAcks).to.equal(0);
    });
  }

  it('a request of two full segments (an immediate ACK is due) is answered by the reply alone', () => {
    p = new TcpPair({ a: { noDelay: true } });
    const { client, server } = established(p);
    echo(server);
    const segs = exchange(p, client, 5, 2 * 1448);
    const fromB = segs.filter((s) => s.from === 'b');
    expect(fromB.filter((s) => s.len === 0).length, 'bare ACKs from the server').to.equal(0);
    expect(fromB.reduce((n, s) => n + s.len, 0)).to.equal(5 * 2 * 1448);
  });

  it('bulk data that the app only reads still gets an ACK every second full-sized segment', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    let got = 0;
    server.onReadable = () => { for (let d = server.read(); d; d = server.read()) got += d.length; };
    const from = p.log.length;
    const total = 40 * 1448;
    let off = 0;
    const data = pattern(total, 3);
    for (let i = 0; i < 200 && got < total; i++) { off += client.write(data.subarray(off)); p.deliver(); p.run(1); }
    expect(got).to.equal(total);
    const log = p.log.slice(from);
    const dataSegs = log.filter((s) => s.from === 'a' && s.len > 0).length;
    const acks = log.filter((s) => s.from === 'b' && s.len === 0 && (s.flags & (SYN | FIN)) === 0);
    expect(dataSegs).to.equal(40);
    expect(acks.length, 'one ACK per two segments').to.be.within(20, 21);
    expect(p.b.counters.delayedAcks).to.equal(0);
  });

  it('in a receive burst the ACK waits for its end, and a reply before then carries it', () => {
    p = new TcpPair({ b: { quickAck: 16 } });
    const { client, server } = established(p);
    const layer = p.b;
    let read = 0;
    server.onReadable = () => { for (let d = server.read(); d; d = server.read()) read += d.length; };
    // The request arrives inside a burst; the app answers only when the burst is over.
    const burst = (reply: boolean): number => {
      client.write(pattern(100));
      p.holding = true;
      p.deliver();
      const held = p.held.splice(0);
      p.holding = false;
      const tx0 = layer.counters.tx;
      layer.beginRxBurst();
      for (const h of held) layer.input(h.m, h.src, h.dst, h.tos);
      const inBurst = layer.counters.tx - tx0;
      if (reply) server.write(pattern(10));
      layer.endRxBurst();
      expect(inBurst, 'nothing sent during the burst').to.equal(0);
      return layer.counters.tx - tx0;
    };
    const log0 = p.log.length;
    expect(burst(false), 'no reply: the bare ACK at the end of the burst').to.equal(1);
    p.deliver();
    expect(p.log.slice(log0).filter((s) => s.from === 'b').map((s) => [flagNames(s.flags), s.len])).to.deep.equal([['ACK', 0]]);
    const log1 = p.log.length;
    expect(burst(true), 'the reply alone').to.equal(1);
    p.deliver();
    expect(p.log.slice(log1).filter((s) => s.from === 'b').map((s) => [flagNames(s.flags), s.len])).to.deep.equal([['PSH|ACK', 10]]);
    expect(read).to.equal(200);
    void IP_A; void IP_B; void ACK;
  });

  it('a Node-style echo server (TzSocket, reads on nextTick) answers a new connection\'s first request with one segment, no bare window update first', async () => {
    const pair = createStackPair({});
    const srv = pair.createServer((s) => { s.on('data', (d) => s.write(d)); }).listen(7);
    for (let k = 0; k < 5; k++) {
      const c = pair.connect(7);
      let got = 0;
      c.on('data', (d: Buffer) => { got += d.length; });
      expect(await pair.run(() => c.readyState === 'open')).to.equal(true);
      await pair.run(() => false, { maxMs: 5 });
      const tx0 = pair.tcpB.counters.tx;
      for (let i = 1; i <= 3; i++) {
        c.write(Buffer.alloc(64, i));
        expect(await pair.run(() => got >= 64 * i)).to.equal(true);
      }
      expect(pair.tcpB.counters.tx - tx0, `connection ${k}: server segments for 3 requests`).to.equal(3);
      c.destroy();
      await pair.run(() => false, { maxMs: 50 });
    }
    srv.close();
    await pair.close();
    expect(pair.pool.inUse()).to.equal(0);
  });
});
