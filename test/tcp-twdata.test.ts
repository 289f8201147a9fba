import { expect } from 'chai';
import { TcpPair, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';

// Received bytes outlive the connection after an orderly end (peer's FIN, no
// error), as with BSD sockets: still readable once the connection has left the
// demux table, freed when the app reads them, closes, aborts, or the layer closes.

const TW_MS = 1000;
const N = 100_000;

function send(p: TcpPair, c: TcpConnection, data: Uint8Array): void {
  let off = 0;
  for (let guard = 0; off < data.length && guard < 10_000; guard++) {
    off += c.write(data.subarray(off));
    p.run(10);
  }
  expect(off, 'all written').to.equal(data.length);
}

function readAll(c: TcpConnection): Uint8Array {
  const parts: Uint8Array[] = [];
  for (;;) { const d = c.read(); if (d === null) break; parts.push(d); }
  const out = new Uint8Array(parts.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const x of parts) { out.set(x, o); o += x.length; }
  return out;
}

/** b closes first (FIN-WAIT-2), then a sends N bytes + FIN: b is in TIME-WAIT holding unread data. */
function timeWaitWithUnread(p: TcpPair, port = 80): { client: TcpConnection; server: TcpConnection; data: Uint8Array } {
  const { client, server } = established(p, port);
  let closes = 0;
  server.onClose = (err) => { expect(err).to.equal(undefined); closes++; };
  server.shutdown();
  p.run(10);
  expect(server.state).to.equal(TcpState.FinWait2);
  const data = pattern(N, 7);
  send(p, client, data);
  client.close();
  p.run(10);
  expect(server.state).to.equal(TcpState.TimeWait);
  expect(server.readable()).to.equal(N);
  p.run(TW_MS + 100);
  expect(server.state, 'released').to.equal(TcpState.Closed);
  expect(closes).to.equal(1);
  expect([...p.b.connections()]).to.not.include(server);
  return { client, server, data };
}

/** a sends N bytes + FIN; b (not reading) half-closes: LAST-ACK → CLOSED with the data unread. */
function lastAckWithUnread(p: TcpPair, port = 80): { client: TcpConnection; server: TcpConnection; data: Uint8Array } {
  const { client, server } = established(p, port);
  const data = pattern(N, 9);
  send(p, client, data);
  client.shutdown();
  p.run(10);
  expect(server.state).to.equal(TcpState.CloseWait);
  server.shutdown();
  p.run(10);
  expect(server.state, 'released from LAST-ACK').to.equal(TcpState.Closed);
  expect(client.state).to.equal(TcpState.TimeWait);
  return { client, server, data };
}

describe('tcp: received data outlives the released connection', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('TIME-WAIT expiry keeps unread bytes readable; reading them all frees them', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const { server, data } = timeWaitWithUnread(p);
    expect(server.readable()).to.equal(N);
    expect(server.peerClosed).to.equal(false);
    // Zero-copy read works too.
    const m = server.readMbuf();
    expect(m).to.not.equal(NO_MBUF);
    const first = p.pool.pktLen(m);
    const head = new Uint8Array(first);
    p.pool.copyOut(m, 0, head, 0, first);
    p.pool.free(m);
    expect(head).to.deep.equal(data.subarray(0, first));
    const rest = readAll(server);
    expect(rest).to.deep.equal(data.subarray(first));
    expect(server.readable()).to.equal(0);
    expect(server.peerClosed).to.equal(true);
    expect(server.read()).to.equal(null);
    expect(server.readMbuf()).to.equal(NO_MBUF);
    expect(p.pool.inUse(), 'read to the end: nothing held').to.equal(p.startInUse);
  });

  it('close() on the released connection frees what is left', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const { server, data } = timeWaitWithUnread(p);
    expect(server.read(1000)).to.deep.equal(data.subarray(0, 1000));
    const a = wire(p, 'a');
    const b = wire(p, 'b');
    server.close();
    expect(server.readable()).to.equal(0);
    expect(server.peerClosed).to.equal(true);
    p.run(10);
    b.expectNothing('nothing sent for a released connection');
    a.expectNothing();
    expect(p.pool.inUse(), 'pool back to full').to.equal(p.startInUse);
    server.close(); // idempotent
    server.abort();
  });

  it('abort() on the released connection frees what is left', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const { server } = timeWaitWithUnread(p);
    server.abort();
    expect(server.readable()).to.equal(0);
    expect(p.pool.inUse(), 'pool back to full').to.equal(p.startInUse);
  });

  it('LAST-ACK → CLOSED keeps unread bytes readable', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const { server, data } = lastAckWithUnread(p);
    expect(server.readable()).to.equal(N);
    p.run(TW_MS + 100); // the peer's TIME-WAIT ends too; nothing changes here
    expect(readAll(server)).to.deep.equal(data);
    expect(server.peerClosed).to.equal(true);
    server.close();
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('LAST-ACK → CLOSED then close() without reading frees everything', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const { server } = lastAckWithUnread(p);
    server.close();
    p.run(TW_MS + 100);
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('close() in TIME-WAIT frees unread data at once, without a RST', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const { client, server } = established(p);
    server.shutdown();
    p.run(10);
    send(p, client, pattern(5000));
    client.close();
    p.run(10);
    expect(server.state).to.equal(TcpState.TimeWait);
    const b = wire(p, 'b');
    server.close();
    p.run(10);
    b.expectNothing('no RST from TIME-WAIT');
    expect(server.readable()).to.equal(0);
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('TcpLayer.close() frees unread data of released connections', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const tw = timeWaitWithUnread(p);
    const la = lastAckWithUnread(p, 81);
    expect(tw.server.readable()).to.equal(N);
    expect(la.server.readable()).to.equal(N);
    expect(p.pool.inUse()).to.be.greaterThan(p.startInUse);
    // afterEach: p.close() closes both layers and checks the pool is full again.
  });

  it('a reset still discards what was received (the error path is unchanged)', () => {
    p = new TcpPair({ a: { timeWaitMs: TW_MS }, b: { timeWaitMs: TW_MS } });
    const { client, server } = established(p);
    let err: string | undefined;
    server.onClose = (e) => { err = e?.code; };
    send(p, client, pattern(3000));
    client.shutdown();
    p.run(10);
    expect(server.state).to.equal(TcpState.CloseWait);
    client.abort(); // RST from FIN-WAIT-2
    p.run(10);
    expect(err).to.equal('ECONNRESET');
    expect(server.readable()).to.equal(0);
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });
});
