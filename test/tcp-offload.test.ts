import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { VirtualClock } from '../src/util/clock.js';
import { TcpLayer } from '../src/tcp/layer.js';
import { OL_RX_L4_CKSUM_BAD_LO, OL_RX_L4_CKSUM_GOOD_LO, OL_TX_TCP_CKSUM_HI, TX_OFFLOAD_TCP_CKSUM } from '../src/mbuf/layout.js';
import { SYN, TCP_MIN_HDR, writeTcpHeader, setTcpChecksum } from '../src/tcp/header.js';
import { fold, pseudoHeaderSum } from '../src/ip/checksum.js';
import { OL_TX_TCP_SEG_HI, TX_OFFLOAD_TCP_TSO } from '../src/mbuf/layout.js';
import { TcpPair, IP_B, pattern } from './tcp-harness.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

const LOCAL = 0x0a000001 as Ip4;
const PEER = 0x0a000002 as Ip4;

describe('tcp: checksum offload and receive checksum flags', () => {
  let pool: TsMempool;
  let out: Mbuf[];
  let layer: TcpLayer;
  const make = (txOffloads: number): void => {
    pool = new TsMempool({ count: 256 });
    out = [];
    layer = new TcpLayer({
      pool, clock: new VirtualClock(0), localIp: LOCAL, mtu: 1500, txOffloads, checksumUnneeded: false, maxTsoSize: 0,
      output: (m) => { out.push(m); },
    }, { isnSecret: new Uint8Array(16) });
  };
  afterEach(() => {
    layer.close();
    for (const m of out) pool.free(m);
    expect(pool.inUse()).to.equal(0);
  });

  const syn = (olLo: number, corrupt: boolean): Mbuf => {
    const m = pool.alloc();
    const at = pool.append(m, TCP_MIN_HDR);
    writeTcpHeader(pool.dv, at, 4000, 80, 1000, 0, SYN, 65535, TCP_MIN_HDR);
    setTcpChecksum(pool, m, PEER, LOCAL);
    if (corrupt) pool.u8[at + 16] ^= 0xff;
    pool.setOlFlags(m, olLo, 0);
    return m;
  };

  it('presets the pseudo-header sum with the length and sets TX_TCP_CKSUM when the port offloads', () => {
    make(TX_OFFLOAD_TCP_CKSUM);
    layer.connect(PEER, 80);
    expect(out.length).to.equal(1);
    const m = out[0];
    expect(pool.olFlagsHi(m) & OL_TX_TCP_CKSUM_HI).to.not.equal(0);
    const field = pool.dv.getUint16(pool.mtod(m) + 16);
    expect(field).to.equal(fold(pseudoHeaderSum(LOCAL, PEER, 6, pool.pktLen(m))));
    expect(pool.txOffloadLo(m) & 0x7f).to.equal(14);
  });

  it('computes the checksum in software otherwise', () => {
    make(0);
    layer.listen(80);
    layer.input(syn(0, false), PEER, LOCAL, 0);
    expect(out.length).to.equal(1);
    expect(pool.olFlagsHi(out[0]) & OL_TX_TCP_CKSUM_HI).to.equal(0);
  });

  it('trusts RX L4 GOOD and BAD flags, and checks itself when there are none', () => {
    make(0);
    layer.listen(80);
    layer.input(syn(OL_RX_L4_CKSUM_BAD_LO, false), PEER, LOCAL, 0);
    expect(layer.counters.drops.badChecksum).to.equal(1);
    layer.input(syn(0, true), PEER, LOCAL, 0);
    expect(layer.counters.drops.badChecksum).to.equal(2);
    layer.input(syn(OL_RX_L4_CKSUM_GOOD_LO, true), PEER, LOCAL, 0);
    expect(out.length).to.equal(1); // SYN-ACK: the NIC's verdict was taken
  });

  it('hands the NIC 64 KB TSO segments with tso_segsz within the MTU (Ethernet header included) and the pseudo-header sum without length', () => {
    make(0); // unused layer for afterEach
    const p = new TcpPair({ checksumUnneeded: true, txOffloadsA: TX_OFFLOAD_TCP_TSO | TX_OFFLOAD_TCP_CKSUM, maxTsoSizeA: 65536, poolSize: 8192, a: { tso: true } });
    const seen: Array<{ len: number; segsz: number; seg: boolean; csum: number; expect: number }> = [];
    const origOutput = p.a.env.output;
    p.a.env.output = (m, dst, proto, tos) => {
      const hi = p.pool.olFlagsHi(m);
      seen.push({
        len: p.pool.pktLen(m), segsz: p.pool.tsoSegsz(m), seg: (hi & OL_TX_TCP_SEG_HI) !== 0,
        csum: p.pool.dv.getUint16(p.pool.mtod(m) + 16), expect: fold(pseudoHeaderSum(0x0a000001 as Ip4, IP_B, 6, 0)),
      });
      origOutput(m, dst, proto, tos);
    };
    try {
      const l = p.b.listen(80);
      const c = p.a.connect(IP_B, 80);
      p.deliver();
      const s = l.accept()!;
      const data = pattern(1 << 20, 3);
      let off = 0;
      const got: Uint8Array[] = [];
      for (let i = 0; i < 1000 && got.reduce((a, x) => a + x.length, 0) < data.length; i++) {
        off += c.write(data.subarray(off));
        p.run(10);
        for (let d = s.read(); d; d = s.read()) got.push(d);
      }
      expect(Buffer.concat(got).equals(Buffer.from(data))).to.equal(true);
      const tso = seen.filter((x) => x.seg);
      expect(tso.length).to.be.greaterThan(0);
      expect(Math.max(...tso.map((x) => x.len))).to.be.greaterThan(60000);
      for (const x of tso) { expect(x.segsz).to.equal(1500 - 14 - 20 - 32); expect(x.csum).to.equal(x.expect); }
      expect(p.a.counters.tsoSegments).to.equal(tso.length);
    } finally {
      p.close();
    }
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });
});
