/**
 * The sharded stack: software steering in one thread (ShardPort over a fake
 * queue: segments for another shard's ports handed over its ring, ARP copied
 * to every shard as a reply, the rest kept, counts exact), then two sharded
 * stacks of two shards each over a 2-queue `net_memif` pair in this process:
 * connections from both client shards, served by both server shards, stats
 * summed on the main thread, a crashing shard (a throw, a process.exit)
 * reported while the other keeps serving, and every mbuf back after close.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandoffRing } from '../src/mbuf/handoff-ring.js';
import { NO_MBUF, type Mempool } from '../src/mbuf/mempool.js';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { Dpdk } from '../src/pmd/dpdk.js';
import { newPortStats, type Port } from '../src/pmd/port.js';
import { parseIpv4 } from '../src/ip/addr.js';
import { SYMMETRIC_RSS_KEY, defaultReta, rssHashTcp4, rssQueueOf, type RssConfig } from '../src/pmd/dpdk-rss.js';
import { ShardContextImpl, type ShardJob } from '../src/shard/context.js';
import { FlowTable, ShardedStack, ShardPort, shardPortBlock, sumStats, type ShardExit } from '../src/shard/sharded.js';
import type { Stack } from '../src/stack.js';
import type { Mbuf } from '../src/mbuf/index.js';

/** A queue that hands out the frames pushed into it. */
class FakeQueue implements Port {
  readonly name = 'fake';
  readonly caps = { mac: Uint8Array.of(2, 0, 0, 0, 0, 1), mtu: 1500, txOffloads: 0, rxOffloads: 0, checksumUnneeded: true, maxTsoSize: 0 };
  readonly stats = newPortStats();
  readonly waiting: Mbuf[] = [];
  closed = false;
  constructor(readonly pool: Mempool) {}
  rxBurst(out: Uint32Array, max: number): number {
    let n = 0;
    while (n < max && this.waiting.length > 0) out[n++] = this.waiting.shift()!;
    return n;
  }
  txBurst(pkts: Uint32Array, n: number): number { this.pool.freeBulk(pkts, n); return n; }
  close(): void { this.closed = true; for (const m of this.waiting.splice(0)) this.pool.free(m); }
}

function tcpFrame(pool: Mempool, dport: number, fragOff = 0): Mbuf {
  const m = pool.alloc();
  const p = pool.append(m, 54);
  const u8 = pool.u8;
  u8.fill(0, p, p + 54);
  u8[p + 12] = 0x08; u8[p + 13] = 0x00;
  u8[p + 14] = 0x45; u8[p + 23] = 6;
  u8[p + 20] = fragOff >> 8; u8[p + 21] = fragOff & 0xff;
  u8[p + 34] = 0x1f; u8[p + 35] = 0x90; // sport 8080
  u8[p + 36] = dport >> 8; u8[p + 37] = dport & 0xff;
  return m;
}

function arpFrame(pool: Mempool, op: number): Mbuf {
  const m = pool.alloc();
  const p = pool.append(m, 60);
  const u8 = pool.u8;
  u8.fill(0, p, p + 60);
  u8.fill(0xff, p, p + 6);
  u8[p + 12] = 0x08; u8[p + 13] = 0x06;
  u8[p + 14 + 7] = op;
  u8[p + 22] = 0x02; u8[p + 27] = 0x09; // sender MAC 02:..:09
  return m;
}

/** Two ShardPorts over fake queues, joined by rings, sharing a flow table. */
function twoShards(pool: Mempool, now: () => number): { s0: ShardPort; s1: ShardPort; q0: FakeQueue; q1: FakeQueue; flows: FlowTable } {
  const r01 = HandoffRing.create(16);
  const r10 = HandoffRing.create(16);
  const q0 = new FakeQueue(pool);
  const q1 = new FakeQueue(pool);
  const flows = FlowTable.create();
  const s0 = new ShardPort(q0, { shard: 0, shards: 2, inbound: [undefined, r10], outbound: [undefined, r01], flows, now });
  const s1 = new ShardPort(q1, { shard: 1, shards: 2, inbound: [r01, undefined], outbound: [r10, undefined], flows, now });
  return { s0, s1, q0, q1, flows };
}

/** An IPv4 frame (to 10.153.0.1) with 8 bytes of layer 4: ports and TCP flags when given. */
function ipFrame(pool: Mempool, o: { proto: number; src: number; id: number; fragWord: number; sport?: number; dport?: number; tcpFlags?: number }): Mbuf {
  const m = pool.alloc();
  const p = pool.append(m, 14 + 20 + 20);
  const u8 = pool.u8;
  const dv = pool.dv;
  u8.fill(0, p, p + 54);
  u8[p + 12] = 0x08;
  u8[p + 14] = 0x45;
  dv.setUint16(p + 18, o.id);
  dv.setUint16(p + 20, o.fragWord);
  u8[p + 23] = o.proto;
  dv.setUint32(p + 26, o.src);
  dv.setUint32(p + 30, parseIpv4('10.153.0.1'));
  dv.setUint16(p + 34, o.sport ?? 0);
  dv.setUint16(p + 36, o.dport ?? 0);
  u8[p + 47] = o.tcpFlags ?? 0;
  return m;
}

/** An ICMP destination unreachable quoting our TCP segment localPort → remote:remotePort. */
function icmpError(pool: Mempool, remote: number, localPort: number, remotePort: number): Mbuf {
  const m = pool.alloc();
  const p = pool.append(m, 14 + 20 + 8 + 28);
  const u8 = pool.u8;
  const dv = pool.dv;
  u8.fill(0, p, p + 70);
  u8[p + 12] = 0x08;
  u8[p + 14] = 0x45;
  u8[p + 23] = 1;
  dv.setUint32(p + 26, remote);
  u8[p + 34] = 3; u8[p + 35] = 1;
  const q = p + 42;
  u8[q] = 0x45;
  u8[q + 9] = 6;
  dv.setUint32(q + 12, parseIpv4('10.153.0.1'));
  dv.setUint32(q + 16, remote);
  dv.setUint16(q + 20, localPort);
  dv.setUint16(q + 22, remotePort);
  return m;
}

describe('shard: software steering (ShardPort)', () => {
  it('splits the ephemeral range into one block per shard', () => {
    expect(shardPortBlock(0, 2)).to.deep.equal({ low: 32768, high: 32768 + 14115 });
    expect(shardPortBlock(1, 2)).to.deep.equal({ low: 32768 + 14116, high: 60999 });
    expect(shardPortBlock(0, 1)).to.deep.equal({ low: 32768, high: 60999 });
  });

  it('hands segments for another shard to it, copies ARP to all as a reply, keeps the rest; every mbuf accounted', () => {
    const pool = new TsMempool({ count: 64 });
    const r01 = HandoffRing.create(4);
    const r10 = HandoffRing.create(4);
    const q0 = new FakeQueue(pool);
    const q1 = new FakeQueue(pool);
    const s0 = new ShardPort(q0, { shard: 0, shards: 2, inbound: [undefined, r10], outbound: [undefined, r01] });
    const s1 = new ShardPort(q1, { shard: 1, shards: 2, inbound: [r01, undefined], outbound: [r10, undefined] });
    const b1 = shardPortBlock(1, 2);
    // On queue 0: a segment for shard 1's port, one for shard 0's, two for listening ports, an ARP request.
    const forOne = tcpFrame(pool, b1.low + 5);
    q0.waiting.push(forOne, tcpFrame(pool, 33000), tcpFrame(pool, 80), tcpFrame(pool, 443), arpFrame(pool, 1));
    const out = new Uint32Array(32);
    const n0 = s0.rxBurst(out, 32);
    expect(n0).to.equal(4);
    expect(s0.counters).to.include({ forwardedOut: 1, arpCopiesOut: 1, forwardDropped: 0 });
    // The ARP request stays here as a request (this shard answers it).
    expect(pool.u8[pool.mtod(out[3] as Mbuf) + 21]).to.equal(1);
    pool.freeBulk(out, n0);
    const n1 = s1.rxBurst(out, 32);
    expect(n1).to.equal(2);
    expect(out[0], 'the same mbuf, zero copy').to.equal(forOne);
    // Shard 1 gets a reply carrying the same sender.
    const a = pool.mtod(out[1] as Mbuf);
    expect(pool.u8[a + 21]).to.equal(2);
    expect(pool.u8[a + 27]).to.equal(0x09);
    expect(pool.pktLen(out[1] as Mbuf)).to.equal(42);
    expect(s1.counters.forwardedIn).to.equal(2);
    pool.freeBulk(out, n1);
    // A full ring: the rest is dropped and counted, never lost.
    for (let i = 0; i < 6; i++) q0.waiting.push(tcpFrame(pool, b1.low + i));
    expect(s0.rxBurst(out, 32)).to.equal(0);
    expect(s0.counters.forwardedOut).to.equal(5);
    expect(s0.counters.forwardDropped).to.equal(2);
    expect(pool.inUse()).to.equal(4);
    // Closing shard 1 frees what waits for it; later hand-overs are refused and freed.
    s1.close();
    expect(pool.inUse()).to.equal(0);
    q0.waiting.push(tcpFrame(pool, b1.low));
    expect(s0.rxBurst(out, 32)).to.equal(0);
    expect(s0.counters.forwardDropped).to.equal(3);
    s0.close();
    expect(pool.inUse()).to.equal(0);
    expect(pool.alloc()).to.not.equal(NO_MBUF);
  });

  it('UDP to a port of another shard\'s block goes to that shard (its ephemeral ports come from there); other UDP stays', () => {
    const pool = new TsMempool({ count: 16 });
    const r01 = HandoffRing.create(4);
    const r10 = HandoffRing.create(4);
    const q0 = new FakeQueue(pool);
    const s0 = new ShardPort(q0, { shard: 0, shards: 2, inbound: [undefined, r10], outbound: [undefined, r01] });
    const s1 = new ShardPort(new FakeQueue(pool), { shard: 1, shards: 2, inbound: [r01, undefined], outbound: [r10, undefined] });
    const udp = (dport: number): Mbuf => {
      const m = tcpFrame(pool, dport);
      pool.u8[pool.mtod(m) + 23] = 17;
      return m;
    };
    const forOne = udp(shardPortBlock(1, 2).low + 9);
    q0.waiting.push(forOne, udp(53), udp(shardPortBlock(0, 2).low + 9));
    const out = new Uint32Array(8);
    const n0 = s0.rxBurst(out, 8);
    expect(n0, 'DNS port and own block stay').to.equal(2);
    pool.freeBulk(out, n0);
    expect(s1.rxBurst(out, 8)).to.equal(1);
    expect(out[0]).to.equal(forOne);
    pool.free(out[0] as Mbuf);
    s0.close(); s1.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('IPv4 fragments: all to the fragment owner, held until the first says whose flow, then to that shard (zero copy); unclaimed ones kept; stale ones freed', () => {
    const pool = new TsMempool({ count: 64 });
    let now = 1000;
    const { s0, s1, q0, q1, flows } = twoShards(pool, () => now);
    const b1 = shardPortBlock(1, 2);
    const out = new Uint32Array(32);
    const remote = parseIpv4('10.153.0.2');
    // A later fragment lands on shard 1 first: it goes to the owner, which holds it (no ports yet).
    const later = ipFrame(pool, { proto: 6, src: remote, id: 7, fragWord: 0x00b9 });
    q1.waiting.push(later);
    expect(s1.rxBurst(out, 32)).to.equal(0);
    expect(s1.counters.fragmentsToOwner).to.equal(1);
    expect(s0.rxBurst(out, 32)).to.equal(0);
    expect(s0.fragmentsHeld()).to.equal(1);
    // Its first fragment (MF, ports of a connection shard 1 opened) lands on shard 0: both go to shard 1.
    const first = ipFrame(pool, { proto: 6, src: remote, id: 7, fragWord: 0x2000, sport: 80, dport: b1.low + 3 });
    q0.waiting.push(first);
    expect(s0.rxBurst(out, 32)).to.equal(0);
    expect(s0.counters).to.include({ fragmentsSteered: 2, fragmentsKept: 0 });
    expect(s1.rxBurst(out, 32)).to.equal(2);
    expect([...out.subarray(0, 2)].sort()).to.deep.equal([later, first].sort());
    pool.freeBulk(out, 2);
    // An accepted connection: its SYN landed on shard 1 (learned); its fragments, wherever they land, go there.
    q1.waiting.push(ipFrame(pool, { proto: 6, src: remote, id: 1, fragWord: 0, sport: 5555, dport: 80, tcpFlags: 0x02 }));
    expect(s1.rxBurst(out, 32)).to.equal(1);
    pool.free(out[0] as Mbuf);
    expect(s1.counters.flowsLearned).to.equal(1);
    expect(flows.get(6, remote, 5555, 80)).to.equal(1);
    q0.waiting.push(ipFrame(pool, { proto: 6, src: remote, id: 8, fragWord: 0x2000, sport: 5555, dport: 80 }));
    q0.waiting.push(ipFrame(pool, { proto: 6, src: remote, id: 8, fragWord: 0x0100 }));
    expect(s0.rxBurst(out, 32)).to.equal(0);
    expect(s1.rxBurst(out, 32)).to.equal(2);
    pool.freeBulk(out, 2);
    expect(s0.counters.fragmentsSteered).to.equal(4);
    // A fragmented ping, both halves on shard 1: the owner reassembles it itself.
    q1.waiting.push(ipFrame(pool, { proto: 1, src: remote, id: 9, fragWord: 0x2000 }), ipFrame(pool, { proto: 1, src: remote, id: 9, fragWord: 0x00b9 }));
    expect(s1.rxBurst(out, 32)).to.equal(0);
    expect(s0.rxBurst(out, 32)).to.equal(2);
    pool.freeBulk(out, 2);
    expect(s0.counters.fragmentsKept).to.equal(2);
    // A later fragment whose first never comes is freed after 5 s.
    q0.waiting.push(ipFrame(pool, { proto: 17, src: remote, id: 10, fragWord: 0x00b9 }));
    expect(s0.rxBurst(out, 32)).to.equal(0);
    expect(pool.inUse()).to.equal(1);
    now += 6000;
    for (let i = 0; i < 256; i++) s0.rxBurst(out, 32);
    expect(s0.counters.fragmentsDropped).to.equal(1);
    expect(pool.inUse()).to.equal(0);
    s0.close();
    s1.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('TCP over IPv6 is placed by port block like IPv4; a neighbour advertisement is copied to every shard; other IPv6 stays', () => {
    const pool = new TsMempool({ count: 16 });
    const { s0, s1, q0 } = twoShards(pool, () => 0);
    const b1 = shardPortBlock(1, 2);
    const six = (next: number, dport: number): Mbuf => {
      const m = pool.alloc();
      const p = pool.append(m, 14 + 40 + 20);
      pool.u8.fill(0, p, p + 74);
      pool.u8[p + 12] = 0x86; pool.u8[p + 13] = 0xdd;
      pool.u8[p + 14] = 0x60;
      pool.u8[p + 20] = next;
      pool.dv.setUint16(p + 56, dport);
      return m;
    };
    const forOne = six(6, b1.low + 1);
    const na = six(58, 0);
    pool.u8[pool.mtod(na) + 54] = 136; // a neighbour advertisement
    q0.waiting.push(forOne, six(6, 80), six(58, b1.low + 1), na);
    const out = new Uint32Array(8);
    expect(s0.rxBurst(out, 8)).to.equal(3);
    expect(out[2]).to.equal(na);
    pool.freeBulk(out, 3);
    expect(s1.rxBurst(out, 8)).to.equal(2);
    expect(out[0]).to.equal(forOne);
    expect(s0.counters.ndCopiesOut).to.equal(1);
    expect(pool.u8[pool.mtod(out[1] as Mbuf) + 54], 'a copy of the advertisement').to.equal(136);
    pool.freeBulk(out, 2);
    s0.close();
    s1.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('frames from our own MAC (another shard\'s transmits, copied back by Linux to every packet socket) are freed and counted', () => {
    const pool = new TsMempool({ count: 8 });
    const { s0, s1, q0 } = twoShards(pool, () => 0);
    const own = tcpFrame(pool, 80);
    pool.u8.set(q0.caps.mac, pool.mtod(own) + 6);
    q0.waiting.push(own, tcpFrame(pool, 80));
    const out = new Uint32Array(8);
    expect(s0.rxBurst(out, 8)).to.equal(1);
    expect(out[0]).to.not.equal(own);
    pool.free(out[0] as Mbuf);
    expect(s0.counters.ownFramesDropped).to.equal(1);
    s0.close();
    s1.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('ICMP errors go to the shard of the connection they quote (by port block or by the flow table); others stay', () => {
    const pool = new TsMempool({ count: 64 });
    const { s0, s1, q0, flows } = twoShards(pool, () => 0);
    const b1 = shardPortBlock(1, 2);
    const out = new Uint32Array(32);
    const remote = parseIpv4('10.153.0.2');
    flows.set(6, remote, 5555, 80, 1);
    const aboutOpened = icmpError(pool, remote, b1.low + 9, 8000);
    const aboutAccepted = icmpError(pool, remote, 80, 5555);
    const aboutNobody = icmpError(pool, remote, 80, 6666);
    q0.waiting.push(aboutOpened, aboutAccepted, aboutNobody);
    expect(s0.rxBurst(out, 32)).to.equal(1);
    expect(out[0]).to.equal(aboutNobody);
    pool.free(out[0] as Mbuf);
    expect(s0.counters.icmpErrorsForwarded).to.equal(2);
    expect(s1.rxBurst(out, 32)).to.equal(2);
    expect([...out.subarray(0, 2)]).to.deep.equal([aboutOpened, aboutAccepted]);
    pool.freeBulk(out, 2);
    s0.close();
    s1.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('with a device hashing TCP, connect picks ports of the shard\'s block whose replies hash to its queue (both directions)', () => {
    const rss: RssConfig = { key: SYMMETRIC_RSS_KEY, hashFunctions: ['ipv4', 'ipv4-tcp'], queues: 2, reta: defaultReta(2, 128), retaKnown: true };
    const local = parseIpv4('10.153.0.1');
    const remote = parseIpv4('10.153.0.2');
    const tried: number[] = [];
    const fakeStack = {
      localIp: local,
      tcp: {
        connect: (_r: number, _p: number, o?: { localPort?: number }) => {
          tried.push(o?.localPort ?? 0);
          // The first candidate is taken towards this peer: connect must move on.
          if (tried.length === 1) throw Object.assign(new Error('in use'), { code: 'EADDRINUSE' });
          return { localPort: o?.localPort ?? 0 };
        },
      },
    } as unknown as Stack;
    for (const shard of [0, 1]) {
      tried.length = 0;
      const block = shardPortBlock(shard, 2);
      const job = { shard, shards: 2, rss, block, data: null } as unknown as ShardJob;
      const ctx = new ShardContextImpl(job, fakeStack, {} as ShardPort, -1, () => {});
      for (let i = 0; i < 50; i++) {
        const p = ctx.localPortFor(remote, 80);
        expect(p).to.be.within(block.low, block.high);
        expect(rssQueueOf(rss, rssHashTcp4(rss.key, remote, local, 80, p)), 'reply').to.equal(shard);
        expect(rssQueueOf(rss, rssHashTcp4(rss.key, local, remote, p, 80)), 'SYN').to.equal(shard);
      }
      const c = ctx.connect(remote, 80);
      expect(tried).to.have.length(2);
      expect(c.localPort).to.equal(tried[1]);
      expect(rssQueueOf(rss, rssHashTcp4(rss.key, remote, local, 80, c.localPort))).to.equal(shard);
    }
    // Without a TCP hash the stack picks (0 = its own choice inside the block).
    const noTcp = new ShardContextImpl({ shard: 0, shards: 2, rss: { ...rss, hashFunctions: ['ipv4'] }, block: shardPortBlock(0, 2) } as unknown as ShardJob,
      fakeStack, {} as ShardPort, -1, () => {});
    expect(noTcp.localPortFor(remote, 80)).to.equal(0);
  });

  it('sums stats trees, leaving pool and lcore ids out', () => {
    expect(sumStats([{ a: 1, b: { c: 2 }, pool: { inUse: 3 }, lcoreId: 4 }, { a: 2, b: { c: 5, d: 1 }, lcoreId: 9 }]))
      .to.deep.equal({ a: 3, b: { c: 7, d: 1 } });
  });
});

const avail = Dpdk.availability();
const APP = new URL('./helpers/shard-app.js', import.meta.url);
const FRAG_APP = new URL('./helpers/shard-frag-app.js', import.meta.url);

describe(avail.ok ? 'shard: two sharded stacks over net_memif with 2 queues' : `shard: sharded stacks (skipped: ${avail.reason})`, function () {
  this.timeout(60000);
  let dpdk: Dpdk;
  const open: ShardedStack[] = [];

  before(function () {
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    dpdk = Dpdk.init();
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  async function pair(tag: string, serverPcap?: string): Promise<{ server: ShardedStack; client: ShardedStack }> {
    const sock = `/tmp/tzshard-${process.pid}-${tag}.sock`;
    const common = { dpdk, shards: 2, module: APP, mbufs: 4095, portOptions: { checksumUnneeded: true } };
    const server = await ShardedStack.start({ ...common, dev: `net_memif${open.length},role=server,socket=${sock}`, ip: '10.151.0.1/24', data: { role: 'server' }, pcap: serverPcap });
    open.push(server);
    const client = await ShardedStack.start({ ...common, dev: `net_memif${open.length},role=client,socket=${sock}`, ip: '10.151.0.2/24', data: { role: 'client' } });
    open.push(client);
    for (let i = 0; i < 200 && !(server.port.link().up && client.port.link().up); i++) await new Promise((r) => setTimeout(r, 25));
    return { server, client };
  }

  function run(client: ShardedStack, conns: number): Promise<Array<{ shard: number; ok: number; ports: number[] }>> {
    return new Promise((resolve) => {
      const got: Array<{ shard: number; ok: number; ports: number[] }> = [];
      const on = (_s: number, d: { shard: number; ok: number; ports: number[] }): void => {
        got.push(d);
        if (got.length === client.shards) { client.off('message', on); resolve(got.sort((a, b) => a.shard - b.shard)); }
      };
      client.on('message', on);
      client.send(-1, { peer: '10.151.0.1', conns, size: 3000 });
    });
  }

  it('connections from both client shards are echoed by both server shards; stats summed; every mbuf back', async () => {
    const { server, client } = await pair('a');
    expect(server.info()).to.include({ shards: 2, steering: 'software' });
    const res = await run(client, 4);
    for (const r of res) expect(r.ok, `client shard ${r.shard}`).to.equal(4);
    // Each client shard's ports come from its own block.
    for (const r of res) {
      const b = shardPortBlock(r.shard, 2);
      for (const p of r.ports) expect(p).to.be.within(b.low, b.high);
    }
    const st = await server.stats();
    const per = st.shards.map((s) => (s!.app as { connections: number }).connections);
    expect(per, 'connections per server shard').to.deep.equal([4, 4]);
    expect((st.total.app as { connections: number; bytes: number })).to.deep.equal({ connections: 8, bytes: 8 * 3000, held: 0 });
    const cst = await client.stats();
    expect((cst.total.steer as { forwardedOut: number }).forwardedOut, 'memif pairs queue i with i: nothing to hand over').to.equal(0);
    expect((cst.total.steer as { arpCopiesOut: number }).arpCopiesOut, 'ARP replies copied to the other shard').to.be.greaterThan(0);
    const rs = await server.close();
    const rc = await client.close();
    open.splice(0);
    expect(rs.mbufsInUse).to.equal(0);
    expect(rc.mbufsInUse).to.equal(0);
    expect(rs.exits).to.deep.equal([]);
  });

  it('a crashing shard is reported, its queue drained and taken over: the other shard serves the flows the device still puts there; every mbuf back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tzshard-pcap-'));
    const cap = join(dir, 'server.pcap');
    const { server, client } = await pair('b', cap);
    const exited = new Promise<ShardExit>((r) => server.once('shardExit', r));
    server.send(1, 'crash');
    const exit = await exited;
    expect(exit.shard).to.equal(1);
    expect(exit.message).to.match(/boom in shard 1/);
    expect(exit.adoptedBy, 'shard 0 took queue 1 over').to.equal(0);
    expect(server.alive()).to.deep.equal([0]);
    expect((server.info().queues as Array<{ alive: boolean }>).map((q) => q.alive)).to.deep.equal([true, false]);
    // Client shard 0 reaches server shard 0 on queue 0; client shard 1's connections arrive on queue 1 (memif pairs
    // queue i with i), the dead shard's, and are served by shard 0 polling it.
    for (const shard of [0, 1]) {
      const res = await new Promise<{ shard: number; ok: number }>((resolve) => {
        client.once('message', (_s: number, d: { shard: number; ok: number }) => resolve(d));
        client.send(shard, { peer: '10.151.0.1', conns: 2, size: 500 });
      });
      expect(res).to.include({ shard, ok: 2 });
    }
    const st = await server.stats();
    expect((st.shards[0]!.steer as { queuesAdopted: number }).queuesAdopted).to.equal(1);
    expect((st.shards[0]!.app as { connections: number }).connections, 'all four on shard 0').to.equal(4);
    const rs = await server.close();
    const rc = await client.close();
    open.splice(0);
    expect(rs.exits.map((e) => e.shard)).to.deep.equal([1]);
    expect(rs.mbufsInUse, 'the crashed shard closed its stack before it ended').to.equal(0);
    expect(rc.mbufsInUse).to.equal(0);
    // One capture: shard 0's part, the dead shard's, and queue 1 as shard 0 polled it afterwards.
    expect(rs.pcap).to.include({ path: cap, parts: 3, truncatedInputs: 0 });
    expect(readdirSync(dir)).to.deep.equal(['server.pcap']);
    // The SYNs of the four connections made after the crash (two on each queue) are in it.
    const b = readFileSync(cap);
    let syns = 0;
    for (let at = 24; at + 16 <= b.length; at += 16 + b.readUInt32LE(at + 8)) {
      const f = at + 16;
      if (b.readUInt16BE(f + 12) === 0x0800 && b[f + 23] === 6 && (b[f + 14 + 20 + 13] & 0x12) === 0x02) syns++;
    }
    expect(syns, 'SYNs received, on queue 0 and on the taken-over queue 1').to.equal(4);
    rmSync(dir, { recursive: true, force: true });
  });

  it('fragmented UDP and ping from each client shard: answered, and each reply comes back to the shard that sent', async () => {
    const sock = `/tmp/tzshard-${process.pid}-f.sock`;
    const common = { dpdk, shards: 2, module: FRAG_APP, mbufs: 4095, portOptions: { checksumUnneeded: true } };
    const server = await ShardedStack.start({ ...common, dev: `net_memif${open.length},role=server,socket=${sock}`, ip: '10.151.0.1/24', data: { role: 'server' } });
    open.push(server);
    const client = await ShardedStack.start({ ...common, dev: `net_memif${open.length},role=client,socket=${sock}`, ip: '10.151.0.2/24', data: { role: 'client' } });
    open.push(client);
    for (let i = 0; i < 200 && !(server.port.link().up && client.port.link().up); i++) await new Promise((r) => setTimeout(r, 25));
    for (const shard of [0, 1]) {
      const res = await new Promise<{ shard: number; udp: boolean; ping: boolean }>((resolve) => {
        client.once('message', (_s: number, d: { shard: number; udp: boolean; ping: boolean }) => resolve(d));
        client.send(shard, { peer: '10.151.0.1', size: 4000 });
      });
      expect(res).to.deep.equal({ shard, udp: true, ping: true });
    }
    const ss = await server.stats();
    const cs = await client.stats();
    const steer = (s: Record<string, unknown> | null): Record<string, number> => s!.steer as Record<string, number>;
    // memif pairs queue i with i: client shard 1's fragments reach server shard 1, which hands them to the owner (0);
    // the replies leave server shard 0 for client queue 0, whose owner hands them to client shard 1.
    expect(steer(ss.shards[1]).fragmentsToOwner, 'server shard 1 → owner').to.equal(6);
    expect(steer(ss.shards[0]).fragmentsKept, 'the owner reassembles what no shard claims').to.equal(12);
    expect(steer(cs.shards[0]).fragmentsSteered, 'client owner → shard 1 (UDP by flow, echo reply by id)').to.equal(6);
    expect(steer(cs.shards[0]).fragmentsKept).to.equal(6);
    expect((ss.total.app as { udpEchoed: number }).udpEchoed).to.equal(2);
    const rs = await server.close();
    const rc = await client.close();
    open.splice(0);
    expect(rs.mbufsInUse).to.equal(0);
    expect(rc.mbufsInUse).to.equal(0);
  });

  it('a shard whose application calls process.exit mid-transfer: reported with its code, its mbufs still come back', async () => {
    const { server, client } = await pair('c');
    // Data the exiting shard has received and not read: mbufs its stack holds.
    client.send(0, { hold: '10.151.0.1' });
    let held = 0;
    for (let i = 0; i < 100 && held === 0; i++) {
      await new Promise((r) => setTimeout(r, 30));
      held = ((await server.stats()).shards[0]!.app as { held: number }).held;
    }
    expect(held).to.equal(1);
    let rx = 0;
    for (let i = 0; i < 100 && rx < 20000; i++) {
      await new Promise((r) => setTimeout(r, 30));
      rx = ((await server.stats()).shards[0]!.port as { rxBytes: number }).rxBytes;
    }
    expect(rx, 'the 20 KB reached shard 0 (and wait there unread)').to.be.at.least(20000);
    const exited = new Promise<ShardExit>((r) => server.once('shardExit', r));
    server.send(0, 'exit');
    const exit = await exited;
    expect(exit).to.include({ shard: 0, exitCode: 7 });
    expect(server.alive()).to.deep.equal([1]);
    const rs = await server.close();
    const rc = await client.close();
    open.splice(0);
    expect(rs.mbufsInUse, 'the exit handler closed the stack and flushed the stash').to.equal(0);
    expect(rc.mbufsInUse).to.equal(0);
  });
});
