/**
 * `dpdk.openRingPair()`: two DPDK ports back to back in one process (two
 * crossed rte_rings through the shim's `rte_eth_from_rings` wrapper), raw
 * and with two stacks talking TCP over it.
 */
import { expect } from 'chai';
import { Dpdk, type DpdkMempool } from '../src/pmd/dpdk.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { Stack } from '../src/stack.js';
import { TcpState } from '../src/tcp/state.js';
import type { Mbuf } from '../src/mbuf/index.js';

const avail = Dpdk.availability();

describe(avail.ok ? 'dpdk: ring pairs' : `dpdk: ring pairs (skipped: ${avail.reason})`, function () {
  this.timeout(60000);
  let dpdk: Dpdk;
  let pool: DpdkMempool | undefined;

  before(function () {
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    dpdk = Dpdk.init();
  });
  afterEach(() => {
    if (pool) {
      expect(pool.inUse(), 'mbufs left').to.equal(0);
      dpdk.destroyPool(pool);
      pool = undefined;
    }
  });

  it('crosses frames both ways, byte-exact, and frees frames still in the rings when both ends close', () => {
    const p = pool = dpdk.createPool({ count: 1023 });
    const [a, b] = dpdk.openRingPair({ pool: p, ringSize: 1000 });
    const [c, d] = dpdk.openRingPair({ pool: p });
    expect(a.name).to.match(/^net_ring_tzr\d+x\d+a$/);
    expect(b.name).to.equal(a.name.replace(/a$/, 'b'));
    expect(a.caps.checksumUnneeded).to.equal(true);
    expect(a.caps.mac).to.not.deep.equal(b.caps.mac);
    const rx = new Uint32Array(64);
    for (const [from, to] of [[a, b], [b, a], [c, d]] as const) {
      const frames = Array.from({ length: 10 }, (_, i) => new Uint8Array(60 + i * 100).map((_, k) => (k + i + from.portId) & 0xff));
      expect(from.txBurst(Uint32Array.from(frames.map((f) => p.fromBytes(f))), 10)).to.equal(10);
      expect(from.rxBurst(rx, 64), 'nothing loops back').to.equal(0);
      const n = to.rxBurst(rx, 64);
      expect(n).to.equal(10);
      for (let i = 0; i < n; i++) expect(p.toBytes(rx[i] as Mbuf)).to.deep.equal(frames[i]);
      p.freeBulk(rx, n);
    }
    // In flight when the ends close: closing b drains what waits for it;
    // a frame a sends after that stays in the ring until a closes too.
    expect(a.txBurst(Uint32Array.from({ length: 20 }, () => p.fromBytes(new Uint8Array(100))), 20)).to.equal(20);
    b.close();
    expect(p.inUse()).to.equal(0);
    expect(a.txBurst(Uint32Array.of(p.fromBytes(new Uint8Array(100))), 1)).to.equal(1);
    expect(p.inUse()).to.equal(1);
    a.close();
    expect(p.inUse(), 'freed with the rings').to.equal(0);
    c.close();
    d.close();
    expect(() => dpdk.openRingPair({ pool: p, name: 'x'.repeat(24) })).to.throw(/1-23/);
  });

  it('carries TCP between two stacks in one process', async () => {
    const p = pool = dpdk.createPool({ count: 4095 });
    const [pa, pb] = dpdk.openRingPair({ pool: p });
    const a = new Stack({ port: pa, ip: '10.78.3.1/24', idleBackoff: false });
    const b = new Stack({ port: pb, ip: '10.78.3.2/24', idleBackoff: false });
    try {
      const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
      const got: Uint8Array[] = [];
      let gotBytes = 0;
      b.tcp.listen(7000).onConnection = (c) => {
        c.onReadable = () => {
          for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { got.push(p.toBytes(m)); gotBytes += p.pktLen(m); p.free(m); }
        };
      };
      const conn = a.tcp.connect(b.localIp, 7000);
      let off = 0;
      for (let i = 0; i < 200_000 && gotBytes < data.length; i++) {
        if (conn.state === TcpState.Established && off < data.length) off += conn.write(data.subarray(off));
        a.poll();
        b.poll();
        if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
      }
      expect(gotBytes).to.equal(data.length);
      expect(Buffer.concat(got).equals(Buffer.from(data))).to.equal(true);
      expect(pa.stats.txPackets).to.be.greaterThan(100);
      expect(pb.stats.rxPackets).to.equal(pa.stats.txPackets);
      a.tcp.close();
      b.tcp.close();
      for (let i = 0; i < 16; i++) { a.poll(); b.poll(); }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
