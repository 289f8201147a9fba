/**
 * ICMP errors reaching TCP over IPv4 (src/tcp/pmtu.ts icmpError4): a
 * "fragmentation needed" lowers the quoted connection's MSS (RFC 1191, with
 * the plateau table when the router gives no MTU and Linux's 552 floor),
 * Destination Unreachable ends a connection still in SYN-SENT with the errno
 * a kernel socket's connect reports, a quote whose sequence number is not in
 * flight is not believed (RFC 5927 §4.1), and every mbuf comes back.
 */
import { expect } from 'chai';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import { finish, sumChain } from '../src/ip/checksum.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpState } from '../src/tcp/state.js';
import type { Port } from '../src/pmd/port.js';
import type { Ip4 } from '../src/ip/addr.js';

const A = 0x0a040001 as Ip4;
const B = 0x0a040002 as Ip4;

function pair() {
  const pool = new TsMempool({ count: 2048 });
  const clock = new VirtualClock(1000);
  const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false });
  const a = new Stack({ port: pa, ip: '10.4.0.1/24', clock });
  const b = new Stack({ port: pb, ip: '10.4.0.2/24', clock });
  const step = (ms: number) => { for (let t = 0; t < ms; t += 1) { clock.advance(1); a.poll(); b.poll(); } };
  return { pool, clock, a, b, step };
}

/** An ICMP error from `router` to B quoting a TCP segment B sent to `dst`:`dport` from `c`'s port with `seq`. */
function icmpTo(p: ReturnType<typeof pair>, c: TcpConnection, o: { type: number; code: number; mtu?: number; seq: number; dst: number; dport: number; quotedLen?: number }): void {
  const pool = p.pool;
  const m = pool.alloc();
  const body = 8 + 20 + 8;
  const at = pool.append(m, body);
  const dv = pool.dv;
  pool.u8.fill(0, at, at + body);
  dv.setUint8(at, o.type);
  dv.setUint8(at + 1, o.code);
  dv.setUint16(at + 6, o.mtu ?? 0);
  const q = at + 8;
  dv.setUint8(q, 0x45);
  dv.setUint16(q + 2, o.quotedLen ?? 1500);
  dv.setUint8(q + 8, 64);
  dv.setUint8(q + 9, 6);
  dv.setUint32(q + 12, B);
  dv.setUint32(q + 16, o.dst);
  dv.setUint16(q + 20, c.localPort);
  dv.setUint16(q + 22, o.dport);
  dv.setUint32(q + 24, o.seq);
  dv.setUint16(at + 2, finish(sumChain(pool, m, 0, body)));
  p.b.icmp.input(m, 0x0a0400fe as Ip4, B, 0);
}

describe('tcp: ICMP errors over IPv4 (RFC 1191, RFC 5927)', () => {
  it('fragmentation needed lowers the MSS of the quoted connection and the data still arrives; a quote out of flight is ignored', async () => {
    const p = pair();
    const l = p.a.tcp.listen(7300);
    let got = 0;
    l.onConnection = (s) => { s.onReadable = () => { for (let d = s.read(); d !== null; d = s.read()) got += d.length; }; };
    const c = p.b.tcp.connect(A, 7300);
    p.step(50);
    expect(c.info().mss).to.equal(1500 - 40 - 12);
    icmpTo(p, c, { type: 3, code: 4, mtu: 1400, seq: (c.sndUna + 100_000) >>> 0, dst: A, dport: 7300 });
    expect(c.info().mss, 'a sequence number not in flight').to.equal(1500 - 40 - 12);
    icmpTo(p, c, { type: 3, code: 4, mtu: 1400, seq: c.sndUna, dst: A, dport: 7300 });
    expect(c.info().mss).to.equal(1400 - 40 - 12);
    expect((c.cc as unknown as { mss: number }).mss, 'the congestion controller counts in the new MSS').to.equal(1400 - 40 - 12);
    expect(p.b.counters.tcp.pmtuDecreases).to.equal(1);
    // A larger MTU does not raise it; a tiny one stops at Linux's 552.
    icmpTo(p, c, { type: 3, code: 4, mtu: 1450, seq: c.sndUna, dst: A, dport: 7300 });
    expect(c.info().mss).to.equal(1400 - 40 - 12);
    icmpTo(p, c, { type: 3, code: 4, mtu: 100, seq: c.sndUna, dst: A, dport: 7300 });
    expect(c.info().mss).to.equal(552 - 40 - 12);
    const data = new Uint8Array(40_000).fill(7);
    let off = 0;
    for (let i = 0; i < 200 && got < data.length; i++) { if (off < data.length) off += c.write(data.subarray(off)); p.step(10); }
    expect(got).to.equal(data.length);
    expect(c.state).to.equal(TcpState.Established);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('after fragmentation needed for a whole flight with nothing new to send, the timeout resends at the lowered MSS (the SACK scoreboard takes the new MSS too)', async () => {
    // B's port is a router whose next link carries 1280-byte packets: bigger
    // frames are dropped and answered (after the poll) with "fragmentation needed".
    const pool = new TsMempool({ count: 2048 });
    const clock = new VirtualClock(1000);
    const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false });
    const dropped: number[] = [];
    const narrow: Port = {
      name: pb.name, pool: pb.pool, caps: pb.caps, stats: pb.stats,
      rxBurst: (out, max) => pb.rxBurst(out, max),
      txBurst: (pkts, n) => {
        let k = 0;
        for (let i = 0; i < n; i++) {
          const m = pkts[i] as Mbuf;
          if (pool.pktLen(m) > 14 + 1280) { dropped.push(pool.dv.getUint32(pool.mtod(m) + 14 + 20 + 4)); pool.free(m); } else pkts[k++] = m;
        }
        const took = pb.txBurst(pkts, k);
        for (let i = took; i < k; i++) pool.free(pkts[i] as Mbuf);
        return n;
      },
      close: () => pb.close(),
    };
    const a = new Stack({ port: pa, ip: '10.4.0.1/24', clock });
    const b = new Stack({ port: narrow, ip: '10.4.0.2/24', clock });
    const p = { pool, clock, a, b, step: (ms: number) => { for (let t = 0; t < ms; t += 1) { clock.advance(1); a.poll(); b.poll(); } } };
    const l = a.tcp.listen(7302);
    let got = 0;
    l.onConnection = (s) => { s.onReadable = () => { for (let d = s.read(); d !== null; d = s.read()) got += d.length; }; };
    const c = b.tcp.connect(A, 7302);
    p.step(50);
    const mss = c.info().mss;
    // Exactly one initial window of full segments: all of it in flight, nothing left to send after.
    const data = new Uint8Array(10 * mss).fill(3);
    expect(c.write(data)).to.equal(data.length);
    for (let i = 0; i < 3000 && got < data.length; i++) {
      clock.advance(1); a.poll(); b.poll();
      while (dropped.length > 0) icmpTo(p, c, { type: 3, code: 4, mtu: 1280, seq: dropped.shift()!, dst: A, dport: 7302 });
    }
    expect(got).to.equal(data.length);
    expect(c.info().mss).to.equal(1280 - 40 - 12);
    expect(c.state).to.equal(TcpState.Established);
    await a.close();
    await b.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('a router that gives no MTU (RFC 792): the plateau below the quoted length', async () => {
    const p = pair();
    p.a.tcp.listen(7301);
    const c = p.b.tcp.connect(A, 7301);
    p.step(50);
    icmpTo(p, c, { type: 3, code: 4, mtu: 0, quotedLen: 1500, seq: c.sndUna, dst: A, dport: 7301 });
    expect(c.info().mss).to.equal(1492 - 40 - 12);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('Destination Unreachable and Time Exceeded end a connect in SYN-SENT (port/protocol: ECONNREFUSED, network: ENETUNREACH, host and time exceeded: EHOSTUNREACH, as Linux and FreeBSD); established connections ignore them', async () => {
    const p = pair();
    const far = 0x0a040063 as Ip4; // on the link, nobody: the SYN waits for ARP
    const errs: string[] = [];
    const open = (): TcpConnection => { const c = p.b.tcp.connect(far, 80); c.onClose = (e) => errs.push(e?.code ?? 'none'); return c; };
    const c1 = open();
    icmpTo(p, c1, { type: 3, code: 3, seq: (c1.iss + 9) >>> 0, dst: far, dport: 80 });
    expect(c1.state, 'wrong sequence number').to.equal(TcpState.SynSent);
    icmpTo(p, c1, { type: 3, code: 3, seq: c1.iss, dst: far, dport: 80 });
    const c2 = open();
    icmpTo(p, c2, { type: 3, code: 0, seq: c2.iss, dst: far, dport: 80 });
    const c3 = open();
    icmpTo(p, c3, { type: 3, code: 1, seq: c3.iss, dst: far, dport: 80 });
    const c4 = open();
    icmpTo(p, c4, { type: 11, code: 0, seq: c4.iss, dst: far, dport: 80 });
    expect(errs).to.deep.equal(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EHOSTUNREACH']);
    expect(c4.state).to.equal(TcpState.Closed);
    expect(p.b.counters.tcp.icmpUnreachables).to.equal(4);
    p.a.tcp.listen(7302);
    const e = p.b.tcp.connect(A, 7302);
    p.step(50);
    icmpTo(p, e, { type: 3, code: 1, seq: e.sndUna, dst: A, dport: 7302 });
    expect(e.state, 'soft error once synchronized (RFC 5461)').to.equal(TcpState.Established);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });
});
