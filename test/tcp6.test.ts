/**
 * TCP over IPv6 between two tzstacks on a memory link (one virtual clock):
 * the handshake, data both ways and close on the same connection code as
 * IPv4, a dual-stack listener taking both families, RST for a closed port,
 * SYN cookies, flow labels stable per connection, a Packet Too Big lowering
 * the MSS, and every mbuf back in the pool.
 */
import { expect } from 'chai';
import { formatIpv6, parseIpv6 } from '../src/ip/addr6.js';
import { ipv6Of, ipv6Protocol } from '../src/ipv6-attach.js';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConfig } from '../src/tcp/config.js';
import { negotiateOptions } from '../src/tcp/input.js';
import { fastOpenCounters } from '../src/tcp/fastopen.js';
import type { TcpSegment } from '../src/tcp/header.js';
import { GroCollector } from '../src/tcp/gro.js';
import type { Ip4 } from '../src/ip/addr.js';

const A6 = 'fd00:6::1';
const B6 = 'fd00:6::2';

function pair(opts: { checksumUnneeded?: boolean; tcp?: Partial<TcpConfig>; mtu?: number } = {}) {
  const pool = new TsMempool({ count: 2048 });
  const clock = new VirtualClock(1000);
  const [pa, pb] = createLinkPair(pool, { checksumUnneeded: opts.checksumUnneeded ?? false, ...(opts.mtu ? { mtu: opts.mtu } : {}) });
  const nd = { routerSolicitations: 0 };
  const a = new Stack({ port: pa, ip: '10.6.0.1/24', clock, tcp: opts.tcp, protocols: [ipv6Protocol({ addresses: [`${A6}/64`], nd })] });
  const b = new Stack({ port: pb, ip: '10.6.0.2/24', clock, tcp: opts.tcp, protocols: [ipv6Protocol({ addresses: [`${B6}/64`], nd })] });
  const step = (ms: number) => {
    for (let t = 0; t < ms; t += 1) { clock.advance(1); a.poll(); b.poll(); }
  };
  step(1500); // DAD
  return { pool, clock, a, b, step };
}

/** Frames B's port sends, captured by wrapping its transmit. */
function tapTx(s: Stack, pool: TsMempool, out: Uint8Array[]): void {
  const port = s.port as unknown as { txBurst(b: Uint32Array, n: number): number };
  const orig = port.txBurst.bind(port);
  port.txBurst = (bufs: Uint32Array, n: number) => {
    for (let i = 0; i < n; i++) {
      const m = bufs[i] as Mbuf;
      out.push(Uint8Array.from(pool.u8.subarray(pool.mtod(m), pool.mtod(m) + pool.dataLen(m))));
    }
    return orig(bufs, n);
  };
}

function collect(c: TcpConnection, into: number[]): void {
  const drain = (): void => {
    for (let d = c.read(); d !== null; d = c.read()) into.push(...d);
  };
  c.onReadable = drain;
  // Data that came on a Fast Open SYN is readable before the connection is handed over.
  drain();
}

describe('tcp over IPv6 between two tzstacks', () => {
  for (const unneeded of [false, true]) {
    it(`handshake, data both ways, close (checksums ${unneeded ? 'unneeded' : 'checked'}); pool back to 0`, async () => {
      const p = pair({ checksumUnneeded: unneeded });
      const l = p.a.tcp.listen(8080);
      let server: TcpConnection | undefined;
      const atServer: number[] = [];
      l.onConnection = (c) => { server = c; collect(c, atServer); };
      const c = p.b.tcp.connect6(parseIpv6(A6), 8080);
      expect(c.v6).to.not.equal(null);
      const atClient: number[] = [];
      collect(c, atClient);
      p.step(100);
      expect(c.state).to.equal(TcpState.Established);
      expect(server).to.not.equal(undefined);
      expect(formatIpv6(server!.v6!.remote)).to.equal(B6);
      expect(formatIpv6(server!.v6!.local)).to.equal(A6);
      expect(server!.v6!.flowLabel).to.not.equal(0);
      // MSS over IPv6: mtu − 60.
      expect(server!.info().mss).to.equal(1500 - 60 - 12);
      const data = new Uint8Array(200_000).map((_, i) => (i * 31 + 7) & 0xff);
      let off = 0;
      const pump = () => { while (off < data.length) { const n = c.write(data.subarray(off)); if (n === 0) break; off += n; } };
      c.onWritable = pump;
      pump();
      server!.write(new TextEncoder().encode('hello over v6'));
      for (let i = 0; i < 200 && atServer.length < data.length; i++) { pump(); p.step(10); }
      expect(atServer.length).to.equal(data.length);
      expect(Buffer.from(atServer).equals(Buffer.from(data))).to.equal(true);
      expect(Buffer.from(atClient).toString()).to.equal('hello over v6');
      c.close();
      p.step(50);
      server!.close();
      p.step(200);
      expect(server!.state).to.equal(TcpState.Closed);
      expect(p.a.counters.tcp.drops).to.satisfy((d: Record<string, number>) => Object.values(d).every((v) => v === 0));
      await p.a.close();
      await p.b.close();
      expect(p.pool.inUse()).to.equal(0);
    });
  }

  it('a dual-stack listener takes IPv4 and IPv6; a v4-only and a v6-only listener share a port', async () => {
    const p = pair();
    const l = p.a.tcp.listen(9000);
    const got: TcpConnection[] = [];
    l.onConnection = (c) => got.push(c);
    p.b.tcp.connect6(parseIpv6(A6), 9000);
    p.b.tcp.connect(p.a.localIp, 9000);
    p.step(100);
    expect(got.map((c) => (c.v6 === null ? 4 : 6)).sort()).to.deep.equal([4, 6]);
    expect(() => p.a.tcp.listen(9000, { family: 6 })).to.throw(/EADDRINUSE/);
    l.close();
    const l4 = p.a.tcp.listen(9001, { family: 4 });
    const l6 = p.a.tcp.listen(9001, { family: 6 });
    const g4: TcpConnection[] = [];
    const g6: TcpConnection[] = [];
    l4.onConnection = (c) => g4.push(c);
    l6.onConnection = (c) => g6.push(c);
    p.b.tcp.connect6(parseIpv6(A6), 9001);
    p.b.tcp.connect(p.a.localIp, 9001);
    p.step(100);
    expect(g4.length).to.equal(1);
    expect(g6.length).to.equal(1);
    expect(g4[0].v6).to.equal(null);
    expect(g6[0].v6).to.not.equal(null);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('a SYN to a closed IPv6 port gets RST (ECONNREFUSED), and an IPv6-only listener refuses IPv4', async () => {
    const p = pair();
    const errs: string[] = [];
    const c = p.b.tcp.connect6(parseIpv6(A6), 4444);
    c.onClose = (e) => errs.push(e?.code ?? 'none');
    p.step(50);
    expect(errs).to.deep.equal(['ECONNREFUSED']);
    expect(p.a.counters.tcp.resetsSent).to.equal(1);
    expect((p.a.counters.tcp.drops as Record<string, number>).noSocket).to.equal(1);
    p.a.tcp.listen(4445, { family: 6 });
    const c4 = p.b.tcp.connect(p.a.localIp, 4445);
    c4.onClose = (e) => errs.push(e?.code ?? 'none');
    p.step(50);
    expect(errs).to.deep.equal(['ECONNREFUSED', 'ECONNREFUSED']);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('SYN cookies over IPv6 (synCookies always): the connection completes and carries data', async () => {
    const p = pair({ tcp: { synCookies: 'always' } });
    const l = p.a.tcp.listen(7000);
    const atServer: number[] = [];
    l.onConnection = (c) => collect(c, atServer);
    const c = p.b.tcp.connect6(parseIpv6(A6), 7000);
    p.step(50);
    expect(c.state).to.equal(TcpState.Established);
    c.write(new TextEncoder().encode('cookie'));
    p.step(50);
    expect(Buffer.from(atServer).toString()).to.equal('cookie');
    expect(p.a.counters.tcp.synCookiesSent).to.equal(1);
    expect(p.a.counters.tcp.synCookiesValid).to.equal(1);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('every segment of a connection carries the same nonzero flow label; another connection another', async () => {
    const p = pair();
    const frames: Uint8Array[] = [];
    tapTx(p.b, p.pool, frames);
    const l = p.a.tcp.listen(7100);
    l.onConnection = () => {};
    const c1 = p.b.tcp.connect6(parseIpv6(A6), 7100);
    p.step(50);
    c1.write(new Uint8Array(5000));
    p.step(50);
    const c2 = p.b.tcp.connect6(parseIpv6(A6), 7100);
    p.step(50);
    const labels = new Map<number, Set<number>>();
    for (const f of frames) {
      if (f[12] !== 0x86 || f[13] !== 0xdd || f[14 + 6] !== 6) continue;
      const dv = new DataView(f.buffer, f.byteOffset);
      const sport = dv.getUint16(14 + 40);
      const fl = dv.getUint32(14) & 0xfffff;
      if (!labels.has(sport)) labels.set(sport, new Set());
      labels.get(sport)!.add(fl);
    }
    expect([...labels.keys()].sort()).to.deep.equal([c1.localPort, c2.localPort].sort());
    const l1 = [...labels.get(c1.localPort)!];
    const l2 = [...labels.get(c2.localPort)!];
    expect(l1.length).to.equal(1);
    expect(l2.length).to.equal(1);
    expect(l1[0]).to.not.equal(0);
    expect(l1[0]).to.equal(c1.v6!.flowLabel);
    expect(l1[0]).to.not.equal(l2[0]);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('a Packet Too Big lowers the MSS of the quoted connection (RFC 8201) and the data still arrives', async () => {
    const p = pair();
    const l = p.a.tcp.listen(7200);
    const atServer: number[] = [];
    l.onConnection = (c) => collect(c, atServer);
    const c = p.b.tcp.connect6(parseIpv6(A6), 7200);
    p.step(50);
    expect(c.info().mss).to.equal(1500 - 60 - 12);
    // A router on the path says 1400: quote a segment B sent (B's address to A's).
    const ip6 = ipv6Of(p.b)!.ip6;
    const pool = p.pool;
    const m = pool.alloc();
    const body = 8 + 40 + 20;
    const at = pool.append(m, body);
    const dv = pool.dv;
    pool.u8.fill(0, at, at + body);
    dv.setUint8(at, 2); // Packet Too Big
    dv.setUint32(at + 4, 1400);
    const q = at + 8;
    dv.setUint32(q, 0x60000000);
    dv.setUint16(q + 4, 20);
    dv.setUint8(q + 6, 6);
    dv.setUint8(q + 7, 64);
    const src = parseIpv6(B6);
    const dst = parseIpv6(A6);
    for (let i = 0; i < 4; i++) { dv.setUint32(q + 8 + 4 * i, src[i]); dv.setUint32(q + 24 + 4 * i, dst[i]); }
    dv.setUint16(q + 40, c.localPort);
    dv.setUint16(q + 42, 7200);
    dv.setUint32(q + 44, c.sndUna); // a sequence number in flight (RFC 5927 §4.1), else the quote is not believed
    // Deliver it as if from A (checksums: the ICMPv6 layer checks, so compute one).
    const { pseudoHeaderSum6, sumChain, finish } = await import('../src/ip/checksum.js');
    const ck = finish(sumChain(pool, m, 0, body, pseudoHeaderSum6(dst, src, 58, body)));
    dv.setUint16(at + 2, ck);
    ip6.icmp.input(m, dst, src, 0, 64, 40);
    expect(c.info().mss).to.equal(1400 - 60 - 12);
    expect(p.b.counters.tcp.pmtuDecreases).to.equal(1);
    const data = new Uint8Array(50_000).map((_, i) => i & 0xff);
    let off = 0;
    const frames: Uint8Array[] = [];
    tapTx(p.b, pool, frames);
    for (let i = 0; i < 100 && atServer.length < data.length; i++) {
      if (off < data.length) off += c.write(data.subarray(off));
      p.step(10);
    }
    expect(atServer.length).to.equal(data.length);
    for (const f of frames) if (f[12] === 0x86 && f[13] === 0xdd) expect(f.length - 14).to.be.at.most(1400);
    await p.a.close();
    await p.b.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('an ICMPv6 Destination Unreachable quoting our SYN ends the connect (port: ECONNREFUSED, else EHOSTUNREACH); a wrong sequence number is ignored', async () => {
    const p = pair();
    const { pseudoHeaderSum6, sumChain, finish } = await import('../src/ip/checksum.js');
    const ip6 = ipv6Of(p.b)!.ip6;
    const pool = p.pool;
    const unreach = (c: TcpConnection, code: number, seq: number): void => {
      const m = pool.alloc();
      const body = 8 + 40 + 20;
      const at = pool.append(m, body);
      const dv = pool.dv;
      pool.u8.fill(0, at, at + body);
      dv.setUint8(at, 1);
      dv.setUint8(at + 1, code);
      const q = at + 8;
      dv.setUint32(q, 0x60000000); dv.setUint16(q + 4, 20); dv.setUint8(q + 6, 6); dv.setUint8(q + 7, 64);
      const src = parseIpv6(B6);
      const dst = parseIpv6('fd00:6::99');
      for (let i = 0; i < 4; i++) { dv.setUint32(q + 8 + 4 * i, src[i]); dv.setUint32(q + 24 + 4 * i, dst[i]); }
      dv.setUint16(q + 40, c.localPort); dv.setUint16(q + 42, 80); dv.setUint32(q + 44, seq);
      const router = parseIpv6(A6);
      dv.setUint16(at + 2, finish(sumChain(pool, m, 0, body, pseudoHeaderSum6(router, src, 58, body))));
      ip6.icmp.input(m, router, src, 0, 64, 40);
    };
    const errs: string[] = [];
    // An address on the link that nobody has: the SYN waits in ND, the error comes from "a router".
    const c1 = p.b.tcp.connect6(parseIpv6('fd00:6::99'), 80);
    c1.onClose = (e) => errs.push(e?.code ?? 'none');
    unreach(c1, 4, (c1.iss + 7) >>> 0);
    expect(c1.state).to.equal(TcpState.SynSent);
    unreach(c1, 4, c1.iss);
    expect(errs).to.deep.equal(['ECONNREFUSED']);
    const c2 = p.b.tcp.connect6(parseIpv6('fd00:6::99'), 80);
    c2.onClose = (e) => errs.push(e?.code ?? 'none');
    unreach(c2, 3, c2.iss);
    expect(errs).to.deep.equal(['ECONNREFUSED', 'EHOSTUNREACH']);
    expect(p.b.counters.tcp.icmpUnreachables).to.equal(2);
    await p.a.close();
    await p.b.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('a peer that announces no MSS is assumed to take 1220 bytes over IPv6 (RFC 8200 minimum MTU), 536 over IPv4', async () => {
    const p = pair();
    p.a.tcp.listen(7400);
    const c6 = p.b.tcp.connect6(parseIpv6(A6), 7400);
    const c4 = p.b.tcp.connect(0x0a060001 as Ip4, 7400);
    const noMss = { sackPermitted: false, hasTimestamps: false, tsVal: 0, wscale: -1, mss: 0 } as unknown as TcpSegment;
    negotiateOptions(c6, noMss, p.clock.now(), false);
    negotiateOptions(c4, noMss, p.clock.now(), false);
    expect(c6.info().mss).to.equal(1220);
    expect(c4.info().mss).to.equal(536);
    c6.abort();
    c4.abort();
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('TCP Fast Open over IPv6 (RFC 7413): a cookie request, then data on the SYN read before the handshake completes; the cookie hashes both 16-byte addresses, so it differs from the same SYN\'s over IPv4', async () => {
    const p = pair({ checksumUnneeded: true, tcp: { fastOpenClient: true } });
    const pool = p.pool;
    const l = p.a.tcp.listen(7500, { fastOpen: -1 });
    const atServer: number[] = [];
    l.onConnection = (c) => collect(c, atServer);
    const fo = fastOpenCounters(p.a.tcp);
    const tx: Uint8Array[] = [];
    tapTx(p.a, pool, tx);
    const c1 = p.b.tcp.connect6(parseIpv6(A6), 7500, { earlyData: new Uint8Array([1, 2, 3]) });
    p.step(50);
    expect(fo.cookiesSent, 'the request gets our cookie').to.equal(1);
    expect(c1.fo!.synData, 'no cookie yet: the data waited for the handshake').to.equal(false);
    expect(atServer).to.deep.equal([1, 2, 3]);
    c1.close();
    p.step(300);
    const c2 = p.b.tcp.connect6(parseIpv6(A6), 7500, { earlyData: new Uint8Array(100).fill(9) });
    p.step(50);
    expect(fo.accepted, 'the cached cookie is accepted').to.equal(1);
    expect(c2.fo!.synData, 'the SYN-ACK acknowledged the SYN data').to.equal(true);
    expect(atServer.length).to.equal(103);
    c2.close();
    p.step(300);
    // The same SYN with a cookie request over IPv4 gets another cookie (of the IPv4 pair).
    const cookies: string[] = [];
    const c4 = p.b.tcp.connect(p.a.localIp, 7500, { earlyData: new Uint8Array([5]) });
    p.step(50);
    for (const f of tx) {
      // A SYN-ACK's Fast Open option (kind 34, length 10): its 8 cookie bytes.
      const i = Buffer.from(f).indexOf(Buffer.from([34, 10]));
      if (i > 0) cookies.push(Buffer.from(f.subarray(i + 2, i + 10)).toString('hex'));
    }
    expect(cookies, 'one cookie for the IPv6 request, one for the IPv4 request').to.have.length(2);
    expect(cookies[0]).to.not.equal(cookies[1]);
    expect(fo.cookiesSent).to.equal(2);
    c4.close();
    p.step(300);
    await p.a.close();
    await p.b.close();
    expect(pool.inUse()).to.equal(0);
  });
});

describe('GRO over IPv6 (src/tcp/gro.ts offer6)', () => {
  it('coalesces a bulk transfer between two stacks over IPv6 and delivers it byte-exact, ACKing per aggregate', () => {
    const pool = new TsMempool({ count: 8192 });
    const clock = new VirtualClock(1000);
    const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false });
    const nd = { routerSolicitations: 0 };
    const a = new Stack({ port: pa, ip: '10.6.0.1/24', clock, burst: 32, protocols: [ipv6Protocol({ addresses: [`${A6}/64`], nd })] });
    const b = new Stack({ port: pb, ip: '10.6.0.2/24', clock, burst: 32, protocols: [ipv6Protocol({ addresses: [`${B6}/64`], nd })] });
    const step = (): void => { a.poll(); b.poll(); clock.advance(1); };
    for (let i = 0; i < 1500; i++) step(); // DAD
    const l = b.tcp.listen(5006);
    let s: TcpConnection | undefined;
    l.onConnection = (x) => { s = x; };
    const c = a.tcp.connect6(parseIpv6(B6), 5006);
    for (let i = 0; i < 50 && s === undefined; i++) step();
    const data = new Uint8Array(2 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >>> 11)) & 0xff;
    let off = 0;
    const got: Uint8Array[] = [];
    let n = 0;
    for (let i = 0; i < 200000 && n < data.length; i++) {
      if (off < data.length) off += c.write(data.subarray(off, Math.min(data.length, off + 65536)));
      step();
      for (let d = s!.read(); d; d = s!.read()) { got.push(d); n += d.length; }
    }
    expect(Buffer.concat(got).equals(Buffer.from(data))).to.equal(true);
    expect(b.tcp.gro6.merged, 'IPv6 segments merged').to.be.greaterThan(0);
    expect(b.tcp.counters.groMerged).to.equal(b.tcp.gro6.merged + b.tcp.gro.merged);
    expect(a.tcp.counters.rx).to.be.lessThan((b.tcp.counters.rx as number) / 2 + 50);
    c.close(); s!.close();
    for (let i = 0; i < 300; i++) step();
    a.close(); b.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('keeps apart two flows whose addresses fold to the same 32 bits, and delivers each with its own addresses', () => {
    const pool = new TsMempool({ count: 512 });
    const got: string[] = [];
    const gro = new GroCollector(pool, (m, _s, _d, _t, segs) => {
      got.push(`${formatIpv6(gro.deliverSrc6)} ${segs} ${pool.pktLen(m)}`);
      pool.free(m);
    }, true);
    const seg = (seq: number): { m: Mbuf; seg: TcpSegment } => {
      const m = pool.alloc();
      const at = pool.append(m, 20 + 100);
      pool.u8.fill(0, at, at + 120);
      const dv = pool.dv;
      dv.setUint16(at, 40000); dv.setUint16(at + 2, 80); dv.setUint32(at + 4, seq); dv.setUint32(at + 8, 1);
      dv.setUint8(at + 12, 5 << 4); dv.setUint8(at + 13, 0x10); dv.setUint16(at + 14, 1000);
      const s: TcpSegment = { srcPort: 40000, dstPort: 80, seq, ack: 1, flags: 0x10, hdrLen: 20, payloadLen: 100 } as TcpSegment;
      return { m, seg: s };
    };
    // fd00:0:0:1:0:1:0:1 and fd00::1 fold alike (the xor of their words is the same).
    const x = parseIpv6('fd00::1');
    const y = parseIpv6('fd00:0:0:1:0:1:0:1');
    expect(x[0] ^ x[1] ^ x[2] ^ x[3]).to.equal(y[0] ^ y[1] ^ y[2] ^ y[3]);
    const dst = parseIpv6(B6);
    gro.begin();
    const s1 = seg(1000); expect(gro.offer6(s1.m, s1.seg, x, dst, 0)).to.equal(1);
    const s2 = seg(1100); expect(gro.offer6(s2.m, s2.seg, y, dst, 0), 'the other pair is not merged').to.equal(0);
    pool.free(s2.m);
    const s3 = seg(1100); expect(gro.offer6(s3.m, s3.seg, x, dst, 0), 'the same pair merges').to.equal(1);
    gro.flush();
    expect(got).to.deep.equal(['fd00::1 2 220']);
    expect(pool.inUse()).to.equal(0);
  });
});
