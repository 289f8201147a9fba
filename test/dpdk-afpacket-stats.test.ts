/**
 * Drops the device knows reach the port's stats: a net_af_packet port whose
 * kernel ring is too small for a burst from the namespace reports the
 * kernel's drops (rxKernelDrops, in rxDropped too), and a port opened
 * without ring devargs gets a ring sized for thousands of connections.
 */
import { expect } from 'chai';
import type { DpdkMempool } from '../src/pmd/dpdk.js';
import { AF_PACKET_FRAMES, withAfPacketRing } from '../src/pmd/dpdk.js';
import { createVethNs, interopSuite, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzW';
/** Debian's python3 has scapy; the first python3 on PATH may not. */
const PYTHON = '/usr/bin/python3';

describe('pmd: net_af_packet ring defaults', () => {
  it('adds a large ring only when the devargs size none, scaled for the MTU', () => {
    expect(withAfPacketRing('net_af_packet0,iface=v0')).to.equal(`net_af_packet0,iface=v0,blocksz=65536,framesz=2048,framecnt=${AF_PACKET_FRAMES}`);
    expect(withAfPacketRing('net_af_packet0,iface=v0', 9000)).to.equal(`net_af_packet0,iface=v0,blocksz=65536,framesz=16384,framecnt=${AF_PACKET_FRAMES}`);
    expect(withAfPacketRing('net_af_packet0,iface=v0,framecnt=64')).to.equal('net_af_packet0,iface=v0,framecnt=64');
    expect(withAfPacketRing('net_tap0,iface=t0')).to.equal('net_tap0,iface=t0');
  });
});

interopSuite('pmd: net_af_packet drops in the port stats', PREFIX, {
  timeoutMs: 60000,
  needs: [{ cmd: [PYTHON, '-c', 'import scapy'], missing: `${PYTHON} has no scapy (apt-get install python3-scapy)` }],
}, (ctx) => {
  let net: VethNet;
  let pool: DpdkMempool;
  before(() => {
    net = createVethNs(PREFIX, '10.71.40');
    pool = ctx.dpdk.createPool({ count: 4095, name: `tzW${process.pid}` });
  });
  after(() => {
    net?.close();
    if (pool) ctx.dpdk.destroyPool(pool);
  });

  it('counts frames the kernel ring dropped while the port was not polled', async () => {
    const port = ctx.dpdk.openPort(`${net.devargs},blocksz=4096,framesz=2048,framecnt=64`, { pool });
    try {
      const mac = [...port.caps.mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
      const r = net.run([PYTHON, '-c', `
from scapy.all import Ether, IP, UDP, Raw, sendp
f = Ether(dst='${mac}') / IP(src='${net.farIp}', dst='${net.nearIp}') / UDP(sport=9, dport=9) / Raw(b'x' * 64)
sendp([f] * 1500, iface='${net.farIf}', verbose=False)
`], 40000);
      expect(r.status, r.stderr).to.equal(0);
      const s = port.stats;
      // 64 slots, 1,500 frames, nobody reading: most were dropped in the kernel.
      expect(s.rxKernelDrops).to.be.greaterThan(1000);
      expect(s.rxDropped).to.be.at.least(s.rxKernelDrops);
      expect(port.hwStats().kernel).to.not.equal(null);
      // What did arrive is still there to read, and is freed.
      const v = new Uint32Array(64);
      for (let n = port.rxBurst(v, 64); n > 0; n = port.rxBurst(v, 64)) pool.freeBulk(v, n);
    } finally {
      port.close();
    }
    expect(pool.inUse()).to.equal(0);
  });

  it('opens with the large ring by default and reports the fields at 0 on a quiet link', () => {
    const port = ctx.dpdk.openPort(net.devargs, { pool });
    try {
      expect(port.devargs).to.contain(`framecnt=${AF_PACKET_FRAMES}`);
      const s = port.stats;
      expect(s).to.include({ rxKernelDrops: 0, rxMissed: 0, rxNoMbuf: 0, txErrors: 0 });
      expect(port.hwStats().queueErrors).to.have.length(1);
    } finally {
      port.close();
    }
  });
});
