/**
 * TCP over IPv6 on a port with checksum offload and TSO, at layer 3 (a
 * TcpLayer with a capturing IPv6 environment): the IPv6 pseudo-header
 * preset with and without the length, the IPV6 `ol_flags` (never IPV4),
 * l3_len 40 and a TSO segment size that fits the MTU with the 40-byte
 * header; the software checksum otherwise; a bad checksum dropped.
 */
import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { VirtualClock } from '../src/util/clock.js';
import { TcpLayer } from '../src/tcp/layer.js';
import {
  OL_RX_L4_CKSUM_GOOD_LO, OL_TX_IPV4_HI, OL_TX_IPV6_HI, OL_TX_TCP_CKSUM_HI, OL_TX_TCP_SEG_HI, TX_OFFLOAD_TCP_CKSUM, TX_OFFLOAD_TCP_TSO,
} from '../src/mbuf/layout.js';
import { ACK, SYN, TCP_MIN_HDR, writeTcpHeader } from '../src/tcp/header.js';
import { fold, pseudoHeaderSum6 } from '../src/ip/checksum.js';
import { parseIpv6 } from '../src/ip/addr6.js';
import { tcpChecksumOk6, setTcpChecksum6 } from '../src/tcp/route.js';
import { TcpState } from '../src/tcp/state.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

const LOCAL = parseIpv6('fd00:5::1');
const PEER = parseIpv6('fd00:5::2');

describe('tcp over IPv6: checksum offload, TSO and the software checksum', () => {
  let pool: TsMempool;
  let out: Array<{ m: Mbuf; flow: number }>;
  let layer: TcpLayer;
  const make = (txOffloads: number, maxTsoSize = 0): void => {
    pool = new TsMempool({ count: 512 });
    out = [];
    layer = new TcpLayer({
      pool, clock: new VirtualClock(0), localIp: 0x0a000001 as Ip4, mtu: 1500, txOffloads, checksumUnneeded: false, maxTsoSize,
      output: (m) => { pool.free(m); throw new Error('an IPv4 output for an IPv6 connection'); },
      ip6: {
        output: (m, _s, _d, _p, _t, flow) => { out.push({ m, flow }); },
        selectSource: () => LOCAL,
        isLocal: (a) => a[3] === LOCAL[3],
        pathMtu: () => 1500,
      },
    }, { isnSecret: new Uint8Array(16) });
  };
  afterEach(() => {
    layer.close();
    for (const o of out) pool.free(o.m);
    expect(pool.inUse()).to.equal(0);
  });

  /** The peer's SYN-ACK to our SYN (checksum marked good by the "NIC"), MSS 1440. */
  const synAck = (ourSyn: Mbuf, seq: number): Mbuf => {
    const ack = (pool.dv.getUint32(pool.mtod(ourSyn) + 4) + 1) >>> 0;
    const lport = pool.dv.getUint16(pool.mtod(ourSyn));
    const m = pool.alloc();
    const at = pool.append(m, TCP_MIN_HDR + 4);
    writeTcpHeader(pool.dv, at, 80, lport, seq, ack, SYN | ACK, 65535, TCP_MIN_HDR + 4);
    pool.dv.setUint32(at + TCP_MIN_HDR, 0x020405a0); // MSS 1440
    pool.setOlFlags(m, OL_RX_L4_CKSUM_GOOD_LO, 0);
    return m;
  };

  it('presets the IPv6 pseudo-header sum with the length, TCP_CKSUM | IPV6, l3_len 40', () => {
    make(TX_OFFLOAD_TCP_CKSUM);
    const c = layer.connect6(PEER, 80);
    expect(out.length).to.equal(1);
    const { m, flow } = out[0];
    const hi = pool.olFlagsHi(m);
    expect(hi & OL_TX_TCP_CKSUM_HI).to.not.equal(0);
    expect(hi & OL_TX_IPV6_HI).to.not.equal(0);
    expect(hi & OL_TX_IPV4_HI).to.equal(0);
    expect(pool.dv.getUint16(pool.mtod(m) + 16)).to.equal(fold(pseudoHeaderSum6(LOCAL, PEER, 6, pool.pktLen(m))));
    const off = pool.txOffloadLo(m);
    expect([off & 0x7f, (off >>> 7) & 0x1ff]).to.deep.equal([14, 40]);
    expect(flow).to.equal(c.v6!.flowLabel);
    expect(c.advMss).to.equal(1440);
  });

  it('TSO: TCP_SEG | IPV6, the pseudo-header without the length, segments that fit 1500 with 40 + 20 + options', () => {
    make(TX_OFFLOAD_TCP_CKSUM | TX_OFFLOAD_TCP_TSO, 65536);
    const c = layer.connect6(PEER, 80);
    layer.input6(synAck(out[0].m, 5000), PEER, LOCAL, 0);
    expect(c.state).to.equal(TcpState.Established);
    for (const o of out) pool.free(o.m);
    out.length = 0;
    c.write(new Uint8Array(8000).fill(1));
    const tso = out.filter((o) => (pool.olFlagsHi(o.m) & OL_TX_TCP_SEG_HI) !== 0);
    expect(tso.length).to.be.greaterThan(0);
    const m = tso[0].m;
    expect(pool.olFlagsHi(m) & OL_TX_IPV6_HI).to.not.equal(0);
    expect(pool.olFlagsHi(m) & OL_TX_IPV4_HI).to.equal(0);
    expect(pool.dv.getUint16(pool.mtod(m) + 16)).to.equal(fold(pseudoHeaderSum6(LOCAL, PEER, 6, 0)));
    const off = pool.txOffloadLo(m);
    const hdrLen = (off >>> 16) & 0xff;
    expect((off >>> 7) & 0x1ff).to.equal(40);
    const segsz = pool.tsoSegsz(m);
    expect(segsz + hdrLen + 40 + 14).to.be.at.most(1500);
    expect(segsz).to.be.greaterThan(1000);
    expect(layer.counters.tsoSegments).to.be.greaterThan(0);
  });

  it('computes the IPv6 checksum in software without offload, and drops a bad one', () => {
    make(0);
    layer.listen(80);
    const m = pool.alloc();
    const at = pool.append(m, TCP_MIN_HDR);
    writeTcpHeader(pool.dv, at, 4000, 80, 1000, 0, SYN, 65535, TCP_MIN_HDR);
    setTcpChecksum6(pool, m, PEER, LOCAL);
    layer.input6(m, PEER, LOCAL, 0);
    expect(out.length).to.equal(1);
    expect(pool.olFlagsHi(out[0].m) & OL_TX_TCP_CKSUM_HI).to.equal(0);
    expect(tcpChecksumOk6(pool, out[0].m, LOCAL, PEER)).to.equal(true);
    const bad = pool.alloc();
    const at2 = pool.append(bad, TCP_MIN_HDR);
    writeTcpHeader(pool.dv, at2, 4001, 80, 1000, 0, SYN, 65535, TCP_MIN_HDR);
    setTcpChecksum6(pool, bad, PEER, LOCAL);
    pool.u8[at2 + 17] ^= 0x40;
    layer.input6(bad, PEER, LOCAL, 0);
    expect(layer.counters.drops.badChecksum).to.equal(1);
    expect(out.length).to.equal(1);
  });
});
