/**
 * DPDK through the shim: layout, pools, and real ports (net_ring loopback,
 * net_af_packet on a veth, net_tap moved into a namespace).
 *
 * EAL can be initialised once per process, so every DPDK test in the mocha
 * process shares `Dpdk.init()` and never calls `dpdk.close()`; each test
 * closes its own ports and destroys its own pools instead.
 */
import { expect } from 'chai';
import {
  LAYOUT_FIELDS, MBUF_DEFAULT_HEADROOM, NO_MBUF, TX_OFFLOAD_IPV4_CKSUM, TX_OFFLOAD_MULTI_SEGS, TX_OFFLOAD_TCP_CKSUM,
  TX_OFFLOAD_TCP_TSO, checkLayout, type Mbuf,
} from '../src/mbuf/index.js';
import { Dpdk, type DpdkMempool, type DpdkPort } from '../src/pmd/dpdk.js';
import { arpFrame, macString, parseArp, receiveUntil, sendBytes } from './helpers/frames.js';
import { createTapNs, createVethNs, netnsAvailability, sweepStale, tapName, type TestNet } from './helpers/netns.js';

const PREFIX = 'tzA';
const avail = Dpdk.availability();
const title = avail.ok ? 'dpdk' : `dpdk (skipped: ${avail.reason})`;

describe(title, function () {
  let dpdk: Dpdk;
  const pools: DpdkMempool[] = [];
  const ports: DpdkPort[] = [];
  const nets: TestNet[] = [];

  before(function () {
    if (!avail.ok) { console.log(`    skipping DPDK tests: ${avail.reason}`); this.skip(); }
    dpdk = Dpdk.init();
  });
  afterEach(() => {
    for (const p of ports.splice(0)) p.close();
    for (const n of nets.splice(0)) n.close();
    for (const p of pools.splice(0)) {
      expect(p.inUse(), `mbufs leaked from ${p.name}`).to.equal(0);
      dpdk.destroyPool(p);
    }
  });

  function pool(count = 1024): DpdkMempool {
    const p = dpdk.createPool({ count });
    pools.push(p);
    return p;
  }
  function open(devargs: string, p: DpdkMempool, opts: Parameters<Dpdk['openPort']>[1] | object = {}): DpdkPort {
    const port = dpdk.openPort(devargs, { pool: p, ...opts });
    ports.push(port);
    return port;
  }

  it('reports the rte_mbuf layout tzstack assumes', () => {
    const got = Dpdk.reportedLayout();
    expect(got).to.deep.equal(LAYOUT_FIELDS.map(([, off]) => off));
    expect(() => checkLayout(got)).to.not.throw();
    const bad = [...got];
    bad[8] += 4;
    expect(() => checkLayout(bad)).to.throw(/pkt_len/);
  });

  it('creates a pool and accounts for allocations and frees', () => {
    const p = pool(512);
    expect(p.capacity).to.equal(512);
    expect(p.available()).to.equal(512);
    expect(p.bufLen).to.equal(MBUF_DEFAULT_HEADROOM + 2048);
    const a = new Uint32Array(100);
    expect(p.allocBulk(a, 100)).to.equal(true);
    expect(p.inUse()).to.equal(100);
    for (const m of a as Iterable<Mbuf>) {
      expect(p.dataOff(m)).to.equal(MBUF_DEFAULT_HEADROOM);
      expect(p.refcnt(m)).to.equal(1);
      expect(p.tailroom(m)).to.equal(2048);
      expect(p.next(m)).to.equal(NO_MBUF);
      expect(m + 128 + p.bufLen).to.be.at.most(p.u8.length);
    }
    expect(new Set(a).size).to.equal(100);
    const big = new Uint32Array(1000);
    expect(p.allocBulk(big, 1000)).to.equal(false);
    expect(p.inUse()).to.equal(100);
    p.freeBulk(a, 100);
    expect(p.inUse()).to.equal(0);
  });

  it('frees chains and indirect mbufs made in TypeScript through DPDK', () => {
    const p = pool(256);
    const data = new Uint8Array(5000).map((_, i) => (i * 13) & 0xff);
    const m = p.fromBytes(data);
    expect(p.nbSegs(m)).to.equal(3);
    expect(p.toBytes(m)).to.deep.equal(data);
    const slice = p.refSlice(m, 1000, 3000);
    expect(slice).to.not.equal(NO_MBUF);
    expect(p.toBytes(slice)).to.deep.equal(data.subarray(1000, 4000));
    expect(p.inUse()).to.equal(5);
    p.free(m);
    // The slice still holds the buffers it references.
    expect(p.inUse()).to.be.greaterThan(2);
    expect(p.toBytes(slice)).to.deep.equal(data.subarray(1000, 4000));
    p.free(slice);
    expect(p.inUse()).to.equal(0);
  });

  it('loops frames back over net_ring0, byte-exact, with the pool full afterwards', () => {
    const p = pool(1024);
    const port = open('net_ring0', p);
    expect(port.caps.mtu).to.equal(1500);
    expect(port.caps.mac.some((b) => b !== 0)).to.equal(true);
    expect(port.caps.txOffloads & TX_OFFLOAD_MULTI_SEGS).to.equal(TX_OFFLOAD_MULTI_SEGS);
    const frames: Uint8Array[] = [];
    const tx = new Uint32Array(32);
    for (let i = 0; i < 32; i++) {
      // Sizes from a minimum frame to a three-segment chain.
      const len = i === 31 ? 5000 : 60 + i * 45;
      const f = new Uint8Array(len).map((_, k) => (k * 7 + i) & 0xff);
      frames.push(f);
      tx[i] = p.fromBytes(f);
    }
    expect(port.txBurst(tx, 32)).to.equal(32);
    const rx = new Uint32Array(64);
    const n = port.rxBurst(rx, 64);
    expect(n).to.equal(32);
    for (let i = 0; i < n; i++) expect(p.toBytes(rx[i] as Mbuf), `frame ${i}`).to.deep.equal(frames[i]);
    const bytes = frames.reduce((s, f) => s + f.length, 0);
    expect(port.stats).to.include({ txPackets: 32, rxPackets: 32, txBytes: bytes, rxBytes: bytes, txDropped: 0 });
    p.freeBulk(rx, n);
    expect(p.inUse()).to.equal(0);
  });

  it('refuses transmit offsets outside the pool and frees what is left in the ring on close', () => {
    const p = pool(256);
    const port = open('net_ring0', p);
    const tx = Uint32Array.of(p.fromBytes(new Uint8Array(64)), 0xfffffff0, p.fromBytes(new Uint8Array(64)));
    // All three consumed: two sent, the bad offset counted and skipped (never handed back).
    expect(port.txBurst(tx, 3)).to.equal(3);
    expect(port.hwStats().txBadOffset).to.equal(1);
    expect(p.inUse()).to.equal(2);
    port.close();
    expect(p.inUse()).to.equal(0);
  });

  it('serves extra queues as ports of their own', () => {
    const p = pool(256);
    const port = open('net_ring0', p, { rxQueues: 2, txQueues: 2 });
    expect(() => open('net_ring0', p)).to.throw(/already open.*net_ring1/);
    const q1 = port.queue(1);
    expect(() => port.queue(2)).to.throw(RangeError);
    expect(q1.txBurst(Uint32Array.of(p.fromBytes(new Uint8Array(100).fill(9))), 1)).to.equal(1);
    const rx = new Uint32Array(4);
    // net_ring pairs tx queue k with rx queue k.
    expect(port.rxBurst(rx, 4)).to.equal(0);
    expect(q1.rxBurst(rx, 4)).to.equal(1);
    expect(p.pktLen(rx[0] as Mbuf)).to.equal(100);
    p.free(rx[0] as Mbuf);
  });

  it('joins two ports over net_memif (server and client in one process), checksums declared unneeded', async () => {
    const p = pool(1024);
    const sock = `/tmp/${PREFIX}-${process.pid}-memif.sock`;
    const server = open(`net_memif0,role=server,socket=${sock},id=1`, p, { checksumUnneeded: true });
    const client = open(`net_memif1,role=client,socket=${sock},id=1`, p, { checksumUnneeded: true });
    expect(server.caps.checksumUnneeded).to.equal(true);
    const rx = new Uint32Array(8);
    const frame = new Uint8Array(200).map((_, i) => i);
    let sent = 0;
    // memif connects in EAL's interrupt thread, and the receiving side must
    // poll once to post its buffers before the sender's ring has room; a
    // refused frame stays ours and is offered again.
    const one = Uint32Array.of(p.fromBytes(frame));
    for (let i = 0; i < 300 && sent === 0; i++) {
      client.rxBurst(rx, 8);
      sent = server.txBurst(one, 1);
      if (sent === 0) await new Promise((r) => setTimeout(r, 10));
    }
    if (sent === 0) p.free(one[0] as Mbuf);
    expect(sent, 'memif never connected').to.equal(1);
    let n = 0;
    for (let i = 0; i < 100 && n === 0; i++) {
      n = client.rxBurst(rx, 8);
      if (n === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(n).to.equal(1);
    expect(p.toBytes(rx[0] as Mbuf)).to.deep.equal(frame);
    p.freeBulk(rx, n);
    // Client first, then let EAL's interrupt thread handle the disconnect
    // before the server goes: memif's control channel races a close in the
    // same process otherwise (DPDK logs "Invalid memory").
    client.close();
    await new Promise((r) => setTimeout(r, 50));
    server.close();
  });

  describe('with the kernel', function () {
    before(function () {
      const ns = netnsAvailability();
      if (!ns.ok) { console.log(`    skipping: ${ns.reason}`); this.skip(); }
      sweepStale(PREFIX);
    });

    it('net_af_packet on a veth: sees the namespace ARP for us, and the kernel learns our reply', async () => {
      const p = pool(1024);
      const net = createVethNs(PREFIX, '10.71.10');
      nets.push(net);
      const port = open(net.devargs, p);
      const mac = port.caps.mac;
      const pinging = net.runAsync(['ping', '-c', '3', '-i', '0.3', '-W', '1', net.nearIp], 10000);
      const req = await receiveUntil(port, p, (f) => {
        const a = parseArp(f);
        return a !== null && a.op === 1 && a.targetIp === net.nearIp && a.senderIp === net.farIp;
      }, 5000);
      expect(req, 'ARP request from the namespace').to.not.equal(null);
      const asker = parseArp(req!)!;
      expect(sendBytes(port, p, arpFrame(2, asker.senderMac, mac, mac, net.nearIp, asker.senderMac, net.farIp))).to.equal(true);
      // With our MAC learnt, the pings come to us.
      const echo = await receiveUntil(port, p, (f) => f[12] === 0x08 && f[13] === 0x00 && f[23] === 1 && f[34] === 8, 5000);
      expect(echo, 'ICMP echo request to our MAC').to.not.equal(null);
      expect(macString(echo!.subarray(0, 6))).to.equal(macString(mac));
      expect(net.neighbour(net.nearIp)).to.include(macString(mac));
      await pinging;
      expect(port.stats.rxPackets).to.be.greaterThan(1);
      expect(port.stats.txPackets).to.equal(1);
    });

    it('net_tap: comes up with TSO and checksum offloads, and still works moved into a namespace', async () => {
      const p = pool(1024);
      const tap = tapName(PREFIX);
      const port = open(`net_tap0,iface=${tap}`, p);
      const want = TX_OFFLOAD_TCP_TSO | TX_OFFLOAD_IPV4_CKSUM | TX_OFFLOAD_TCP_CKSUM;
      expect(port.info.txOffloadCapa & want).to.equal(want);
      expect(port.caps.txOffloads & want).to.equal(want);
      expect(port.caps.maxTsoSize).to.be.greaterThan(60000);
      expect(port.caps.checksumUnneeded).to.equal(false);
      const net = createTapNs(PREFIX, '10.71.11', tap);
      nets.push(net);
      const mac = port.caps.mac;
      const pinging = net.runAsync(['ping', '-c', '2', '-i', '0.3', '-W', '1', net.nearIp], 10000);
      const req = await receiveUntil(port, p, (f) => {
        const a = parseArp(f);
        return a !== null && a.op === 1 && a.targetIp === net.nearIp;
      }, 5000);
      expect(req, 'ARP request through the tap').to.not.equal(null);
      const asker = parseArp(req!)!;
      expect(sendBytes(port, p, arpFrame(2, asker.senderMac, mac, mac, net.nearIp, asker.senderMac, net.farIp))).to.equal(true);
      const echo = await receiveUntil(port, p, (f) => f[12] === 0x08 && f[13] === 0x00 && f[23] === 1, 5000);
      expect(echo, 'ICMP echo request through the tap').to.not.equal(null);
      expect(net.neighbour(net.nearIp)).to.include(macString(mac));
      await pinging;
    });

    it('refuses checksumUnneeded on a device that can corrupt frames', () => {
      const p = pool(256);
      const net = createVethNs(PREFIX, '10.71.12');
      nets.push(net);
      expect(() => open(net.devargs, p, { checksumUnneeded: true })).to.throw(/only allowed/);
    });
  });
});
