import { expect } from 'chai';
import { TcpPair, IP_A, IP_B, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { ACK, FIN, RST, SYN } from '../src/tcp/header.js';

function readAll(c: TcpConnection, into: number[][]): void {
  for (;;) { const d = c.read(); if (d === null) break; into.push(Array.from(d)); }
}

function concat(parts: number[][]): Uint8Array {
  const n = parts.reduce((s, x) => s + x.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const x of parts) { out.set(x, o); o += x.length; }
  return out;
}

describe('tcp: handshake, data, close over a memory pair', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('three-way handshake with MSS, window scale, SACK-permitted and timestamps', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const a = wire(p, 'a', { conn: client, from: 0 });
    const b = wire(p, 'b', { conn: server, from: 0 });
    a.expectSegment({ flags: SYN, relSeq: 0, len: 0, mss: 1460, wscale: 7, sackPermitted: true, hasTs: true });
    b.expectSegment({ flags: SYN | ACK, relSeq: 0, relAck: 1, len: 0, mss: 1460, wscale: 7, sackPermitted: true, hasTs: true });
    a.expectSegment({ flags: ACK, relSeq: 1, relAck: 1, len: 0 });
    a.expectNothing();
    b.expectNothing();
    expect(p.log.map((s) => s.from).join('')).to.equal('aba');
    expect(client.info().timestamps).to.equal(true);
    expect(server.info().sack).to.equal(true);
    expect(client.info().mss).to.equal(1448);
    expect(client.localIp).to.equal(IP_A);
    expect(server.remotePort).to.equal(client.localPort);
  });

  it('handshake the other way round, and without options', () => {
    p = new TcpPair({ a: { timestamps: false, sack: false, wscale: -2 } });
    const l = p.a.listen(7);
    const c = p.b.connect(IP_A, 7);
    let connected = 0;
    c.onConnect = () => { connected++; };
    p.deliver();
    expect(connected).to.equal(1);
    const s = l.accept()!;
    expect(s.state).to.equal(TcpState.Established);
    expect(s.info().timestamps).to.equal(false);
    expect(c.info().sack).to.equal(false);
    expect(c.info().mss).to.equal(1460);
  });

  it('simultaneous open', () => {
    p = new TcpPair();
    const ca = p.a.connect(IP_B, 5000, { localPort: 6000 });
    const cb = p.b.connect(IP_A, 6000, { localPort: 5000 });
    p.deliver();
    expect(ca.state).to.equal(TcpState.Established);
    expect(cb.state).to.equal(TcpState.Established);
    ca.write(pattern(100));
    p.deliver();
    expect(cb.read()).to.deep.equal(pattern(100));
  });

  it('moves data both ways byte-exact', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const up = pattern(100000, 7);
    const down = pattern(70000, 9);
    let upOff = 0;
    let downOff = 0;
    const gotUp: number[][] = [];
    const gotDown: number[][] = [];
    for (let i = 0; i < 1000 && (upOff < up.length || downOff < down.length || client.sendQueued() > 0 || server.sendQueued() > 0); i++) {
      upOff += client.write(up.subarray(upOff, Math.min(up.length, upOff + 30000)));
      downOff += server.write(down.subarray(downOff, Math.min(down.length, downOff + 20000)));
      p.run(50);
      readAll(server, gotUp);
      readAll(client, gotDown);
    }
    expect(concat(gotUp)).to.deep.equal(up);
    expect(concat(gotDown)).to.deep.equal(down);
    expect(p.a.counters.bytesCopied).to.equal(up.length + down.length);
  });

  it('transfers 8 MB with window scaling, zero copy on the send side', () => {
    p = new TcpPair({ poolSize: 16384, checksumUnneeded: true });
    const { client, server } = established(p);
    const total = 8 << 20;
    const chunk = 1000;
    let sent = 0;
    let received = 0;
    let mismatch = -1;
    const pool = p.pool;
    const fill = (): void => {
      while (sent < total) {
        const m = pool.alloc();
        if (m === -1) return;
        const n = Math.min(chunk, total - sent);
        const at = pool.append(m, n);
        for (let i = 0; i < n; i++) pool.u8[at + i] = (sent + i) & 0xff;
        if (!client.writeMbuf(m)) { pool.free(m); return; }
        sent += n;
      }
    };
    server.onReadable = () => {
      for (;;) {
        const m = server.readMbuf();
        if (m === -1) break;
        for (let s = m; s !== -1; s = pool.next(s)) {
          const at = pool.mtod(s);
          const n = pool.dataLen(s);
          for (let i = 0; i < n; i++) if (mismatch < 0 && pool.u8[at + i] !== ((received + i) & 0xff)) mismatch = received + i;
          received += n;
        }
        pool.free(m);
      }
    };
    client.onWritable = fill;
    fill();
    for (let i = 0; i < 10000 && received < total; i++) { p.run(10); fill(); }
    expect(mismatch).to.equal(-1);
    expect(received).to.equal(total);
    expect(p.a.counters.bytesCopied).to.equal(0);
    expect(p.b.counters.bytesCopied).to.equal(0);
    expect(server.info().rcvWscale).to.equal(7);
    expect(client.info().sndWnd).to.be.greaterThan(65535);
  });

  it('active close, passive close, TIME-WAIT expiry', () => {
    p = new TcpPair({ a: { timeWaitMs: 1000 } });
    const { client, server } = established(p);
    let clientClosed = 0;
    let serverFin = 0;
    let serverClosed = 0;
    client.onClose = (e) => { expect(e).to.equal(undefined); clientClosed++; };
    server.onPeerFin = () => { serverFin++; };
    server.onClose = (e) => { expect(e).to.equal(undefined); serverClosed++; };
    client.write(pattern(10));
    client.close();
    p.deliver();
    expect(client.state).to.equal(TcpState.FinWait2);
    expect(server.state).to.equal(TcpState.CloseWait);
    expect(serverFin).to.equal(1);
    expect(server.read()).to.deep.equal(pattern(10));
    expect(server.peerClosed).to.equal(true);
    server.close();
    p.deliver();
    expect(server.state).to.equal(TcpState.Closed);
    expect(client.state).to.equal(TcpState.TimeWait);
    expect(clientClosed).to.equal(1);
    expect(serverClosed).to.equal(1);
    p.run(999);
    expect(client.state).to.equal(TcpState.TimeWait);
    p.run(2);
    expect(client.state).to.equal(TcpState.Closed);
    expect(p.a.connectionCount()).to.equal(0);
    expect(p.b.connectionCount()).to.equal(0);
  });

  it('simultaneous close goes through CLOSING to TIME-WAIT on both sides', () => {
    p = new TcpPair({ a: { timeWaitMs: 500 }, b: { timeWaitMs: 500 } });
    const { client, server } = established(p);
    const fin = (s: { flags: number }) => (s.flags & FIN) !== 0;
    const a = wire(p, 'a', { conn: client, only: fin });
    const b = wire(p, 'b', { conn: server, only: fin });
    client.close();
    server.close();
    p.deliver();
    expect(client.state).to.equal(TcpState.TimeWait);
    expect(server.state).to.equal(TcpState.TimeWait);
    a.expectSegment({ flags: FIN | ACK, relSeq: 1 });
    a.expectNothing('one FIN each');
    b.expectSegment({ flags: FIN | ACK, relSeq: 1 });
    b.expectNothing('one FIN each');
    expect(p.log.filter(fin).length).to.equal(2);
    p.run(600);
    expect(p.a.connectionCount() + p.b.connectionCount()).to.equal(0);
  });

  it('half-close: data keeps flowing the other way after FIN', () => {
    p = new TcpPair({ a: { timeWaitMs: 100 } });
    const { client, server } = established(p);
    client.shutdown();
    p.deliver();
    expect(client.state).to.equal(TcpState.FinWait2);
    expect(server.state).to.equal(TcpState.CloseWait);
    const data = pattern(50000, 3);
    let off = 0;
    const got: number[][] = [];
    for (let i = 0; i < 100 && (off < data.length || server.sendQueued() > 0); i++) {
      off += server.write(data.subarray(off));
      p.run(10);
      readAll(client, got);
    }
    expect(concat(got)).to.deep.equal(data);
    server.close();
    p.deliver();
    expect(client.state).to.equal(TcpState.TimeWait);
    expect(client.peerClosed).to.equal(true);
    p.run(200);
    expect(client.state).to.equal(TcpState.Closed);
  });

  it('close with unread data resets the connection (RFC 2525)', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    let err: string | undefined;
    client.onClose = (e) => { err = e?.code; };
    client.write(pattern(100));
    p.deliver();
    const b = wire(p, 'b', server);
    server.close();
    p.deliver();
    expect(server.state).to.equal(TcpState.Closed);
    expect(client.state).to.equal(TcpState.Closed);
    expect(err).to.equal('ECONNRESET');
    b.expectSegment({ flagsSet: RST, flagsClear: FIN | SYN, relSeq: 1, len: 0 }, 'a reset, not a FIN');
    b.expectNothing();
  });

  it('SYN to a closed port gets a RST and the connect fails with ECONNREFUSED', () => {
    p = new TcpPair();
    const c = p.a.connect(IP_B, 81);
    const b = wire(p, 'b', { from: 0 });
    let err: string | undefined;
    c.onClose = (e) => { err = e?.code; };
    p.deliver();
    expect(err).to.equal('ECONNREFUSED');
    expect(c.state).to.equal(TcpState.Closed);
    b.expectSegment({ flags: RST | ACK, seq: 0, ack: p.log[0].seq + 1, len: 0 });
    b.expectNothing();
    expect(p.log[0].flags).to.equal(SYN);
    expect(p.b.counters.drops.noSocket).to.equal(1);
  });

  it('retransmits with exponential backoff on a dropping wire, then ETIMEDOUT', () => {
    p = new TcpPair({ a: { maxRetries: 4 } });
    const { client } = established(p);
    p.dropIf = (s) => s.from === 'a';
    let err: string | undefined;
    client.onClose = (e) => { err = e?.code; };
    const a = wire(p, 'a', { conn: client, only: (s) => s.len > 0 });
    client.write(pattern(1000));
    p.run(100000);
    const data = a.expectSegments(5, { relSeq: 1, len: 1000 }, 'the segment and its 4 retransmissions');
    a.expectNothing();
    const gaps = data.slice(1).map((s, i) => s.at - data[i].at);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).to.equal(gaps[i - 1] * 2);
    expect(err).to.equal('ETIMEDOUT');
    expect(p.a.counters.retransmitsRto).to.equal(4);
  });

  it('recovers lost data by retransmission', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    let n = 0;
    p.dropIf = (s) => s.from === 'a' && s.len > 0 && (n++ % 3 === 1);
    const data = pattern(200000, 5);
    let off = 0;
    const got: number[][] = [];
    for (let i = 0; i < 2000 && (off < data.length || client.sendQueued() > 0); i++) {
      off += client.write(data.subarray(off));
      p.run(20);
      readAll(server, got);
    }
    expect(concat(got)).to.deep.equal(data);
  });

  it('hands connections to onConnection, and bounds the accept queue by the backlog (the ACK beyond it waits, as Linux)', () => {
    p = new TcpPair();
    const l = p.b.listen(80, { backlog: 2 });
    const cs = [p.a.connect(IP_B, 80), p.a.connect(IP_B, 80), p.a.connect(IP_B, 80)];
    p.deliver();
    expect(l.pending()).to.equal(2);
    // The third handshake's ACK found the accept queue full: dropped, the half-open entry kept.
    expect(cs.map((c) => c.state)).to.deep.equal([TcpState.Established, TcpState.Established, TcpState.Established]);
    expect(l.halfOpen()).to.equal(1);
    expect(p.b.counters.listenOverflows).to.equal(1);
    expect(p.b.counters.drops.acceptQueueFull).to.equal(1);
    // While the accept queue is full, a SYN is refused whatever the SYN queue holds.
    const c4 = p.a.connect(IP_B, 80);
    p.deliver();
    expect(c4.state).to.equal(TcpState.SynSent);
    expect(p.b.counters.drops.listenOverflow).to.equal(1);
    c4.abort();
    const got: TcpConnection[] = [];
    l.onConnection = (c) => { got.push(c); c.write(pattern(5)); };
    l.accept(); l.accept();
    p.run(1500); // the third SYN is retransmitted
    expect(cs[2].state).to.equal(TcpState.Established);
    expect(got.length).to.equal(1);
    expect(cs[2].read()).to.deep.equal(pattern(5));
  });

  it('treats an exhausted pool as backpressure: nothing lost, nothing leaked', () => {
    p = new TcpPair({ poolSize: 160, checksumUnneeded: true });
    const { client, server } = established(p);
    const data = pattern(600000, 21);
    let off = 0;
    const got: number[][] = [];
    let refused = 0;
    for (let i = 0; i < 20000 && (off < data.length || client.sendQueued() > 0); i++) {
      const want = data.length - off;
      const n = client.write(data.subarray(off));
      if (n < want) refused++;
      off += n;
      p.run(1);
      readAll(server, got);
    }
    readAll(server, got);
    expect(concat(got)).to.deep.equal(data);
    expect(refused).to.be.greaterThan(0);
  });

  for (const halfFirst of [false, true]) {
    it(`an orphaned FIN-WAIT-2 gives up after timeWaitMs (shutdown first: ${halfFirst})`, () => {
      p = new TcpPair({ a: { timeWaitMs: 3000 } });
      const { client, server } = established(p);
      if (halfFirst) { client.shutdown(); p.deliver(); p.run(10000); expect(client.state).to.equal(TcpState.FinWait2); }
      client.close();
      p.deliver();
      expect(client.state).to.equal(TcpState.FinWait2);
      expect(server.state).to.equal(TcpState.CloseWait);
      p.run(2990);
      expect(client.state).to.equal(TcpState.FinWait2);
      p.run(20);
      expect(client.state).to.equal(TcpState.Closed);
    });
  }
});
