/**
 * Receive-side scaling: the TypeScript Toeplitz hash against Microsoft's
 * published vectors and DPDK's own `rte_softrss`, the symmetric key, and a
 * port with several rx queues (net_tap here: the only vdev that takes an
 * RSS configuration; the kernel's tun driver, not Toeplitz, then picks the
 * queue of each frame, so only the configuration and the spreading are
 * checked, never which queue a flow lands on).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Dpdk, type DpdkMempool, type DpdkPort } from '../src/pmd/dpdk.js';
import {
  SYMMETRIC_RSS_KEY, defaultReta, pickLocalPort, rssHashIpv4, rssHashTcp4, rssHfMask, rssHashFunctions, rssQueueOf,
  symmetricRssKey, toeplitz, type RssConfig,
} from '../src/pmd/dpdk-rss.js';
import { loadShim } from '../src/pmd/dpdk-shim.js';
import { parseIpv4, type Ip4 } from '../src/ip/addr.js';
import { createTapNs, netnsAvailability, sweepStale, tapName, type TestNet } from './helpers/netns.js';

const PREFIX = 'tzN';

/** The key of Microsoft's "Verifying the RSS hash calculation" page. */
const MS_KEY = Uint8Array.from(Buffer.from(
  '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa', 'hex'));
/** [destination, dst port, source, src port, IPv4-only hash, IPv4+TCP hash] from that page. */
const MS_VECTORS: Array<[string, number, string, number, number, number]> = [
  ['161.142.100.80', 1766, '66.9.149.187', 2794, 0x323e8fc2, 0x51ccc178],
  ['65.69.140.83', 4739, '199.92.111.2', 14230, 0xd718262a, 0xc626b0ea],
  ['12.22.207.184', 38024, '24.19.198.95', 12898, 0xd2d0a5de, 0x5c2b394a],
  ['209.142.163.6', 2217, '38.27.205.30', 48228, 0x82989176, 0xafc7327f],
  ['202.188.127.2', 1303, '153.39.163.191', 44251, 0x5d1809c5, 0x10e828a2],
];

describe('rss: software Toeplitz', () => {
  it("matches Microsoft's verification vectors (IPv4 and IPv4 with TCP)", () => {
    for (const [dst, dport, src, sport, h2, h4] of MS_VECTORS) {
      expect(rssHashIpv4(MS_KEY, parseIpv4(src), parseIpv4(dst)) >>> 0, `${src}->${dst}`).to.equal(h2);
      expect(rssHashTcp4(MS_KEY, parseIpv4(src), parseIpv4(dst), sport, dport) >>> 0, `${src}:${sport}->${dst}:${dport}`).to.equal(h4);
    }
  });

  it('the symmetric key hashes both directions of a flow alike, at 40 and 52 bytes', () => {
    expect(SYMMETRIC_RSS_KEY).to.deep.equal(symmetricRssKey(40));
    for (const key of [SYMMETRIC_RSS_KEY, symmetricRssKey(52)]) {
      fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (a, b, pa, pb) =>
          rssHashTcp4(key, a as Ip4, b as Ip4, pa, pb) === rssHashTcp4(key, b as Ip4, a as Ip4, pb, pa)), { numRuns: 300 });
    }
  });

  it('names hash functions by rss_hf bit and back', () => {
    expect(rssHfMask(['ipv4', 'ipv4-tcp'])).to.equal((1n << 2n) | (1n << 4n));
    expect(rssHashFunctions((1n << 2n) | (1n << 4n) | (1n << 63n))).to.deep.equal(['ipv4', 'ipv4-tcp']);
    expect(() => rssHfMask(['ipv5' as 'ipv4'])).to.throw(/unknown RSS hash function/);
  });

  it('picks local ports whose replies land on the asked queue, through the table', () => {
    const rss: RssConfig = { key: SYMMETRIC_RSS_KEY, hashFunctions: ['ipv4-tcp'], queues: 4, reta: defaultReta(4), retaKnown: true };
    const local = parseIpv4('10.78.0.2');
    const remote = parseIpv4('10.78.0.1');
    const used = new Set<number>();
    for (let q = 0; q < 4; q++) {
      for (let i = 0; i < 5; i++) {
        const p = pickLocalPort(rss, local, remote, 5201, q, used);
        expect(p).to.be.within(32768, 60999);
        expect(rssQueueOf(rss, rssHashTcp4(rss.key, remote, local, 5201, p))).to.equal(q);
        // Symmetric: the SYN going out hashes the same way.
        expect(rssQueueOf(rss, rssHashTcp4(rss.key, local, remote, p, 5201))).to.equal(q);
      }
    }
    expect(used.size).to.equal(20);
  });

  it("agrees with DPDK's rte_softrss for any key and tuple", function () {
    let shim: ReturnType<typeof loadShim>;
    try { shim = loadShim(); } catch (e) { console.log(`    skipping: ${(e as Error).message}`); this.skip(); }
    const words = new Uint32Array(3);
    fc.assert(fc.property(fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }),
      (key, src, dst, sport, dport) => {
        // rte_softrss takes host-order words: src, dst, then sport in the high half.
        words[0] = src; words[1] = dst; words[2] = ((sport << 16) | dport) >>> 0;
        return shim.tz_softrss(words, 3, key) >>> 0 === rssHashTcp4(key, src as Ip4, dst as Ip4, sport, dport)
          && shim.tz_softrss(words, 2, key) >>> 0 === rssHashIpv4(key, src as Ip4, dst as Ip4);
      }), { numRuns: 500 });
    expect(toeplitz(MS_KEY, new Uint8Array(0))).to.equal(0);
  });
});

const avail = Dpdk.availability();

describe(avail.ok ? 'rss: ports with several rx queues' : `rss: ports with several rx queues (skipped: ${avail.reason})`, function () {
  let dpdk: Dpdk;
  let pool: DpdkMempool;
  const ports: DpdkPort[] = [];
  const nets: TestNet[] = [];

  before(function () {
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    dpdk = Dpdk.init();
    pool = dpdk.createPool({ count: 4096 });
  });
  afterEach(() => {
    for (const p of ports.splice(0)) p.close();
    for (const n of nets.splice(0)) n.close();
    expect(pool.inUse(), 'mbufs left').to.equal(0);
  });
  after(() => { if (pool) dpdk.destroyPool(pool); });

  it('leaves RSS off where the device offers none (net_ring)', () => {
    const ring = dpdk.openPort('net_ring0', { pool, rxQueues: 2, txQueues: 2 });
    ports.push(ring);
    expect(ring.rss).to.equal(null);
    expect(ring.info.rssOffloads).to.deep.equal([]);
  });

  describe('net_tap', function () {
    before(function () {
      const ns = netnsAvailability();
      if (!ns.ok) { console.log(`    skipping: ${ns.reason}`); this.skip(); }
      sweepStale(PREFIX);
    });

    it('enables IPv4/TCP hashing with the symmetric key on two queues, reports it, refuses a wrong-sized key', () => {
      const tap = tapName(PREFIX);
      expect(() => dpdk.openPort(`net_tap0,iface=${tap}`, { pool, rxQueues: 2, txQueues: 2, rss: { key: new Uint8Array(16) } }))
        .to.throw(/40-byte RSS key/);
      const one = dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
      ports.push(one);
      expect(one.rss, 'one queue: no RSS').to.equal(null);
      expect(one.info.rssOffloads).to.include.members(['ipv4', 'ipv4-tcp']);
      ports.pop()!.close();
      const port = dpdk.openPort(`net_tap0,iface=${tap}`, { pool, rxQueues: 2, txQueues: 2, rss: { hashFunctions: ['ipv4-tcp', 'ipv6-tcp'] } });
      ports.push(port);
      expect(port.rss).to.not.equal(null);
      expect(port.rss!.hashFunctions).to.deep.equal(['ipv4-tcp', 'ipv6-tcp']);
      expect(port.rss!.key).to.deep.equal(SYMMETRIC_RSS_KEY);
      expect(port.rss!.queues).to.equal(2);
      // net_tap has no redirection table: the default (i % queues) is assumed, and said so.
      expect(port.rss!.retaKnown).to.equal(port.info.retaSize > 0);
      expect([...new Set(port.rss!.reta)].sort()).to.deep.equal([0, 1]);
    });

    it('receives on both queues when the kernel sends many flows', async () => {
      const tap = tapName(PREFIX);
      const port = dpdk.openPort(`net_tap0,iface=${tap}`, { pool, rxQueues: 2, txQueues: 2 });
      ports.push(port);
      const net = createTapNs(PREFIX, '10.78.1', tap);
      nets.push(net);
      const mac = [...port.caps.mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
      net.exec(['ip', 'neigh', 'replace', net.nearIp, 'lladdr', mac, 'dev', tap]);
      // 64 UDP flows (source ports differ), 4 datagrams each.
      const send = net.runAsync(['/usr/bin/python3', '-c', `
import socket
for p in range(64):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('${net.farIp}', 20000 + p))
    for i in range(4): s.sendto(b'x' * 32, ('${net.nearIp}', 9))
    s.close()
`], 20000);
      const got = [0, 0];
      const rx = new Uint32Array(64);
      const end = Date.now() + 8000;
      let done = false;
      void send.then(() => { done = true; });
      while (Date.now() < end && (got[0] + got[1] < 256 || !done)) {
        for (let q = 0; q < 2; q++) {
          const n = port.queue(q).rxBurst(rx, 64);
          got[q] += n;
          pool.freeBulk(rx, n);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      const r = await send;
      expect(r.status, r.stderr).to.equal(0);
      console.log(`      frames per queue: ${got.join(' / ')}`);
      expect(got[0] + got[1]).to.be.at.least(256);
      expect(got[0], 'queue 0').to.be.greaterThan(0);
      expect(got[1], 'queue 1').to.be.greaterThan(0);
    });
  });
});
