import { expect } from 'chai';
import { finish, sumBytes } from '../src/ip/checksum.js';
import { parseIpv4 } from '../src/ip/addr.js';
import {
  OL_RX_IP_CKSUM_BAD_LO, OL_RX_IP_CKSUM_GOOD_LO, OL_TX_IP_CKSUM_HI, OL_TX_IPV4_HI, TX_OFFLOAD_IPV4_CKSUM,
  TX_OFFLOAD_MULTI_SEGS, type Mbuf,
} from '../src/mbuf/index.js';
import type { Port } from '../src/pmd/port.js';
import { Stack } from '../src/stack.js';
import {
  Harness, IP_A, IP_B, MAC_A, MAC_B, concat, dvOf, eth, icmpEcho, ipv4, pattern, udp, type Ipv4Opts,
} from './stack-frames.js';

const echo = (o: Ipv4Opts = {}, data = pattern(24)) => eth(MAC_A, MAC_B, 0x0800, ipv4(icmpEcho(1, 1, data), o));
const csumOk = (b: Uint8Array, off: number, len: number) => finish(sumBytes(dvOf(b), off, len)) === 0;

describe('ip: IPv4 receive validation', () => {
  let h: Harness;
  beforeEach(() => { h = new Harness({}, { checksumUnneeded: false }); h.learnPeer(); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
  });
  const drops = () => h.stack.counters.ip.drops;

  it('accepts a good datagram (baseline)', () => {
    h.send(echo());
    expect(h.poll()).to.have.length(1);
    expect(h.stack.counters.ip.rx).to.equal(1);
  });

  it('drops a datagram shorter than a header', () => {
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(new Uint8Array(0)).subarray(0, 12)));
    expect(h.poll()).to.have.length(0);
    expect(drops().truncated).to.equal(1);
  });

  it('drops IHL < 5', () => {
    h.send(echo({ ihl: 4 }));
    expect(h.poll()).to.have.length(0);
    expect(drops().badIhl).to.equal(1);
  });

  it('drops an IHL reaching past the frame', () => {
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(new Uint8Array(8), { ihl: 15 })));
    expect(h.poll()).to.have.length(0);
    expect(drops().ihlPastFrame).to.equal(1);
  });

  it('drops a total length larger than the frame', () => {
    h.send(echo({ totalLen: 20 + 8 + 24 + 1 }));
    expect(h.poll()).to.have.length(0);
    expect(drops().truncated).to.equal(1);
  });

  it('drops a total length smaller than the header', () => {
    h.send(echo({ totalLen: 19 }));
    expect(h.poll()).to.have.length(0);
    expect(drops().badTotalLength).to.equal(1);
  });

  it('trims Ethernet padding when the total length is smaller than the frame', () => {
    h.send(concat(echo({}, pattern(2)), new Uint8Array(16)));
    const out = h.poll();
    expect(out).to.have.length(1);
    expect(out[0].length).to.equal(14 + 20 + 8 + 2);
    expect(h.stack.counters.ip.trimmed).to.equal(1);
    expect(csumOk(out[0], 34, 10)).to.equal(true);
  });

  it('drops a bad header checksum', () => {
    h.send(echo({ badChecksum: true }));
    expect(h.poll()).to.have.length(0);
    expect(drops().badChecksum).to.equal(1);
  });

  it('trusts the NIC checksum flags when present', () => {
    h.sendWith(echo(), (m) => h.pool.setOlFlags(m, OL_RX_IP_CKSUM_BAD_LO, 0));
    expect(h.poll()).to.have.length(0);
    expect(drops().badChecksum).to.equal(1);
    h.sendWith(echo({ badChecksum: true }), (m) => h.pool.setOlFlags(m, OL_RX_IP_CKSUM_GOOD_LO, 0));
    expect(h.poll()).to.have.length(1);
  });

  it('drops a wrong version', () => {
    h.send(echo({ version: 6 }));
    expect(h.poll()).to.have.length(0);
    expect(drops().badVersion).to.equal(1);
  });

  it('drops datagrams not for us, TTL 0 and bad sources', () => {
    h.send(echo({ dst: parseIpv4('10.72.0.9') }));
    h.send(echo({ dst: parseIpv4('224.0.0.1') }));
    h.send(echo({ ttl: 0 }));
    h.send(echo({ src: parseIpv4('224.0.0.5') }));
    h.send(echo({ src: parseIpv4('10.72.0.255') }));
    expect(h.poll()).to.have.length(0);
    expect(drops()).to.include({ notForUs: 2, ttlZero: 1, badSource: 2 });
  });

  it('accepts options and chains split anywhere in the headers', () => {
    h.send(echo({ options: Uint8Array.of(1, 1, 1, 0) }));
    const f = echo({}, pattern(100));
    h.send(f, [3, 14, 7, 30]);
    h.send(f, [14 + 20, 0 + 1, 4]);
    const out = h.poll();
    expect(out).to.have.length(3);
    for (const o of out) expect(csumOk(o, 14, 20)).to.equal(true);
    expect(out[1].subarray(42)).to.deep.equal(pattern(100));
    expect(csumOk(out[1], 34, 108)).to.equal(true);
  });

  it('skips the checksum on links that declare it unneeded', async () => {
    const h2 = new Harness({}, { checksumUnneeded: true });
    h2.learnPeer();
    h2.send(echo({ badChecksum: true }));
    expect(h2.poll()).to.have.length(1);
    await h2.close();
    expect(h2.pool.inUse()).to.equal(0);
  });

  it('delivers to a registered protocol at the L4 header with pkt_len = payload', () => {
    const seen: number[][] = [];
    h.stack.ip.register(99, (m, src, dst, tos) => {
      seen.push([src, dst, tos, h.pool.pktLen(m), h.pool.u8[h.pool.mtod(m)]]);
      h.pool.free(m);
    });
    h.send(concat(eth(MAC_A, MAC_B, 0x0800, ipv4(Uint8Array.of(42, 1, 2), { proto: 99, tos: 0x28 })), new Uint8Array(20)));
    h.poll();
    expect(seen).to.deep.equal([[IP_B, IP_A, 0x28, 3, 42]]);
  });
});

describe('ip: IPv4 output', () => {
  let h: Harness;
  beforeEach(() => { h = new Harness(); h.learnPeer(); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  const l4 = (n: number) => {
    const m = h.pool.alloc();
    h.pool.u8.set(pattern(n), h.pool.append(m, n));
    return m;
  };

  it('prepends a header: DF and ID 0 for TCP, a per-destination ID otherwise, valid checksum, TTL 64', () => {
    h.stack.ip.output(l4(20), IP_B, 6);
    h.stack.ip.output(l4(20), IP_B, 17, 0x10);
    const [a, b] = h.poll();
    const da = dvOf(a);
    const db = dvOf(b);
    expect(a[14]).to.equal(0x45);
    expect(da.getUint16(16)).to.equal(40);
    expect(da.getUint16(20)).to.equal(0x4000);
    expect(db.getUint16(20)).to.equal(0);
    expect(b[15]).to.equal(0x10);
    expect(da.getUint16(18)).to.equal(0);
    expect(a[22]).to.equal(64);
    expect(a[23]).to.equal(6);
    expect(da.getUint32(26)).to.equal(IP_A);
    expect(da.getUint32(30)).to.equal(IP_B);
    expect(csumOk(a, 14, 20)).to.equal(true);
    expect(a.subarray(34)).to.deep.equal(pattern(20));
  });

  it('leaves the checksum to the NIC when the port offloads it', async () => {
    const h2 = new Harness();
    const caps = { ...h2.a.caps, txOffloads: TX_OFFLOAD_IPV4_CKSUM | TX_OFFLOAD_MULTI_SEGS };
    const port = Object.create(h2.a, { caps: { value: caps } }) as Port;
    const s = new Stack({ port, ip: '10.72.0.1/24', clock: h2.clock });
    s.arp.addStatic(IP_B, MAC_B);
    const m = h2.pool.alloc();
    h2.pool.append(m, 8);
    s.ip.output(m, IP_B, 17);
    s.poll();
    const rx = new Uint32Array(8);
    const n = h2.b.rxBurst(rx, 8);
    const got = (rx.subarray(0, n).find((x) => h2.pool.dv.getUint16(h2.pool.mtod(x as Mbuf) + 12) === 0x0800) as Mbuf | undefined)!;
    const pool = h2.pool;
    expect(pool.olFlagsHi(got) & (OL_TX_IP_CKSUM_HI | OL_TX_IPV4_HI)).to.equal(OL_TX_IP_CKSUM_HI | OL_TX_IPV4_HI);
    expect(pool.txOffloadLo(got) & 0x7f).to.equal(14);
    expect((pool.txOffloadLo(got) >>> 7) & 0x1ff).to.equal(20);
    expect(pool.dv.getUint16(pool.mtod(got) + 24)).to.equal(0);
    for (let i = 0; i < n; i++) pool.free(rx[i] as Mbuf);
    await s.close();
    await h2.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('fragments datagrams over the MTU without copying, but never TCP', () => {
    h.stack.ip.output(h.pool.fromBytes(pattern(4000)), IP_B, 17);
    const out = h.poll();
    expect(out.map((f) => f.length)).to.deep.equal([1514, 1514, 14 + 20 + 4000 - 2960]);
    expect(h.stack.counters.ip.fragmentsSent).to.equal(3);
    for (const f of out) expect(csumOk(f, 14, 20)).to.equal(true);
    expect(concat(...out.map((f) => f.subarray(34)))).to.deep.equal(pattern(4000));
    h.stack.ip.output(h.pool.fromBytes(pattern(2000)), IP_B, 6);
    expect(h.poll()).to.have.length(0);
    expect(h.stack.counters.ip.drops.fragNeededDf).to.equal(1);
  });

  it('counts a drop when there is no route or no headroom', () => {
    h.stack.ip.output(l4(8), parseIpv4('192.0.2.1'), 17);
    const m = l4(8);
    h.pool.setDataOff(m, 10);
    h.stack.ip.output(m, IP_B, 17);
    expect(h.poll()).to.have.length(0);
    expect(h.stack.counters.ip.drops).to.include({ noRoute: 1, noHeadroom: 1 });
  });
});

describe('ip: ICMP', () => {
  let h: Harness;
  beforeEach(() => { h = new Harness({}, { checksumUnneeded: false }); h.learnPeer(); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  it('answers echo with a valid checksum and the same data, even from a multi-segment request', () => {
    const data = pattern(1400, 3);
    h.send(echo({}, data), [40, 300, 17, 500]);
    const [r] = h.poll();
    expect(r[34]).to.equal(0);
    expect(r.length).to.equal(14 + 20 + 8 + 1400);
    expect(csumOk(r, 34, 1408)).to.equal(true);
    expect(r.subarray(42)).to.deep.equal(data);
  });

  it('copies before answering in place when the request shares its buffer (zero-copy sender)', () => {
    const f = echo({}, pattern(64));
    const orig = h.pool.fromBytes(f);
    const slice = h.pool.refSlice(orig, 0, f.length); // indirect: the bytes belong to `orig`
    h.b.txBurst(Uint32Array.of(slice), 1);
    const [r] = h.poll();
    expect(r[34]).to.equal(0);
    expect(r.subarray(42)).to.deep.equal(pattern(64));
    expect(h.pool.toBytes(orig)).to.deep.equal(f); // the sender's bytes are untouched
    h.pool.free(orig);
  });

  it('ignores broadcast echo, drops bad checksums and truncated messages', () => {
    h.send(echo({ dst: parseIpv4('10.72.0.255') }));
    h.send(echo({ dst: 0xffffffff }));
    const bad = icmpEcho(1, 1, pattern(8));
    bad[9] ^= 1;
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(bad)));
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(Uint8Array.of(8, 0, 0, 0))));
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(icmpEcho(1, 1, pattern(4), 42))));
    expect(h.poll()).to.have.length(0);
    expect(h.stack.counters.icmp.drops).to.include({ broadcastEcho: 2, badChecksum: 1, truncated: 1, unknownType: 1 });
  });

  it('sends protocol unreachable for unknown protocols, quoting the datagram', () => {
    const dgram = ipv4(pattern(30), { proto: 200 });
    h.send(eth(MAC_A, MAC_B, 0x0800, dgram));
    const [e] = h.poll();
    expect(e[23]).to.equal(1);
    expect(e[15]).to.equal(0xc0);
    expect([e[34], e[35]]).to.deep.equal([3, 2]);
    expect(csumOk(e, 34, e.length - 34)).to.equal(true);
    expect(e.subarray(42)).to.deep.equal(dgram);
    expect(h.stack.counters.ip.drops.unknownProtocol).to.equal(1);
  });

  it('sends port unreachable for UDP (no UDP sockets), not for bad UDP nor to broadcast', () => {
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(udp(IP_B, IP_A, 5000, 53, pattern(10)), { proto: 17 })));
    const badSum = udp(IP_B, IP_A, 5000, 53, pattern(10));
    badSum[8] ^= 0xff;
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(badSum, { proto: 17 })));
    const bcast = parseIpv4('10.72.0.255');
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(udp(IP_B, bcast, 5000, 53, pattern(10)), { proto: 17, dst: bcast })));
    const out = h.poll();
    expect(out).to.have.length(1);
    expect([out[0][34], out[0][35]]).to.deep.equal([3, 3]);
    expect(h.stack.counters.udp.drops).to.include({ badChecksum: 1, noPort: 2 });
    expect(h.stack.icmp.suppressed.toBroadcast).to.equal(1);
  });

  it('never sends an error about an error', () => {
    h.stack.ip.register(1, (m) => { h.stack.icmp.sendError(m, 3, 3, 0); h.pool.free(m); });
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(icmpEcho(0, 0, pattern(28), 3))));
    expect(h.poll()).to.have.length(0);
    expect(h.stack.icmp.suppressed.aboutError).to.equal(1);
    h.send(echo());
    expect(h.poll()).to.have.length(1);
  });

  it('rate-limits errors with a token bucket', async () => {
    const h2 = new Harness({ ipv4: { icmp: { errorBurst: 3, errorRatePerSec: 10 } } });
    h2.learnPeer();
    const syn = eth(MAC_A, MAC_B, 0x0800, ipv4(pattern(20), { proto: 253 }));
    for (let i = 0; i < 10; i++) h2.send(syn);
    expect(h2.poll()).to.have.length(3);
    expect(h2.stack.icmp.suppressed.rateLimited).to.equal(7);
    h2.clock.advance(200);
    for (let i = 0; i < 10; i++) h2.send(syn);
    expect(h2.poll()).to.have.length(2);
    await h2.close();
    expect(h2.pool.inUse()).to.equal(0);
  });

  it('reports received errors and echo replies to hooks', () => {
    const errs: number[][] = [];
    const replies: number[][] = [];
    h.stack.icmp.onError = (type, code, src) => errs.push([type, code, src]);
    h.stack.icmp.onEchoReply = (src, id, seq) => replies.push([src, id, seq]);
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(icmpEcho(0, 0, ipv4(pattern(8)), 11))));
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(icmpEcho(5, 6, pattern(8), 0))));
    h.poll();
    expect(errs).to.deep.equal([[11, 0, IP_B]]);
    expect(replies).to.deep.equal([[IP_B, 5, 6]]);
  });
});
