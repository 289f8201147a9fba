import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/index.js';
import type { Mempool } from '../src/mbuf/mempool.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { newPortStats, type Port, type PortCaps, type PortStats } from '../src/pmd/port.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { pinnedSeed } from './helpers/seed.js';

/**
 * A port whose device takes at most `perBurst()` frames per txBurst call
 * (a NIC ring with little room): what it refuses stays with the caller, as
 * the Port contract says.
 */
class ThrottledPort implements Port {
  readonly name: string;
  readonly pool: Mempool;
  readonly caps: PortCaps;
  readonly stats: PortStats = newPortStats();
  offered = 0;
  constructor(readonly inner: Port, readonly perBurst: () => number) {
    this.name = `throttled(${inner.name})`;
    this.pool = inner.pool;
    this.caps = inner.caps;
  }
  rxBurst(out: Uint32Array, max: number): number { return this.inner.rxBurst(out, max); }
  txBurst(pkts: Uint32Array, n: number): number {
    this.offered += n;
    const k = Math.min(n, Math.max(0, this.perBurst()));
    const took = k > 0 ? this.inner.txBurst(pkts, k) : 0;
    this.stats.txPackets += took;
    this.stats.txRefused += n - took;
    return took;
  }
  close(): void { this.inner.close(); }
}

interface Run {
  pool: TsMempool;
  s1: Stack;
  s2: Stack;
  tp: ThrottledPort;
  clock: VirtualClock;
}

function setup(perBurst: () => number, txBatch?: number): Run {
  const pool = new TsMempool({ count: 4096 });
  const clock = new VirtualClock(0);
  const [a, b] = createLinkPair(pool);
  const tp = new ThrottledPort(a, perBurst);
  const s1 = new Stack({ port: tp, ip: '10.72.0.1/24', clock, txBatch });
  const s2 = new Stack({ port: b, ip: '10.72.0.2/24', clock });
  return { pool, s1, s2, tp, clock };
}

/** Send `total` bytes from s1 to s2 in `writes` sized writes; returns what s2 read, and both ends. */
function transfer(r: Run, total: number, writeSize: number): { got: Uint8Array; tx: TcpConnection; rx: TcpConnection } {
  const { s1, s2, clock } = r;
  const l = s2.tcp.listen(5001);
  let rx: TcpConnection | undefined;
  const got = new Uint8Array(total);
  let have = 0;
  l.onConnection = (c) => {
    rx = c;
    c.onReadable = () => {
      for (let d = c.read(); d !== null; d = c.read()) { got.set(d, have); have += d.length; }
    };
  };
  const tx = s1.tcp.connect(s2.localIp, 5001);
  const data = new Uint8Array(total);
  for (let i = 0; i < total; i++) data[i] = (i * 31 + (i >>> 8)) & 0xff;
  let sent = 0;
  for (let i = 0; i < 200000 && have < total; i++) {
    if (tx.state === TcpState.Established && sent < total) {
      sent += tx.write(data.subarray(sent, Math.min(total, sent + writeSize)));
    }
    s1.poll();
    s2.poll();
    clock.advance(0.02);
  }
  expect(have, 'bytes received').to.equal(total);
  expect(got).to.deep.equal(data);
  return { got, tx, rx: rx! };
}

function retransmits(s: Stack): number {
  const c = s.tcp.counters;
  return c.retransmitsRto + c.retransmitsFast + c.retransmitsTlp + c.retransmitsRack;
}

async function closeAll(r: Run): Promise<void> {
  await r.s1.close();
  await r.s2.close();
  expect(r.pool.inUse(), 'mbufs leaked').to.equal(0);
}

describe('stack: transmit backpressure (a port that refuses frames)', () => {
  it('keeps refused frames for the next poll: a transfer over a port taking 3 frames a burst loses nothing', async () => {
    const r = setup(() => 3, 32);
    transfer(r, 600_000, 65536);
    const q = r.s1.txQueue;
    expect(q.deferred, 'frames deferred').to.be.greaterThan(0);
    expect(q.stalls).to.be.greaterThan(0);
    expect(q.overflowDrops, 'batch overflow').to.equal(0);
    expect(r.tp.stats.txRefused).to.be.greaterThan(0);
    expect(r.s1.port.stats.txDropped).to.equal(0);
    expect(Number(r.s1.tcp.counters.txQueueFull ?? 0), 'TCP held data back').to.be.greaterThan(0);
    expect(retransmits(r.s1), 'retransmissions').to.equal(0);
    // In order: nothing overtook a deferred frame.
    expect(r.s2.tcp.counters.oooSegments).to.equal(0);
    expect(r.s2.tcp.counters.dupDataSegments).to.equal(0);
    const st = r.s1.stats() as { txQueue: { deferred: number; backlog: number } };
    expect(st.txQueue.deferred).to.equal(q.deferred);
    await closeAll(r);
  });

  it('a port that takes nothing for whole polls: TCP waits, resumes, the batch never overflows', async () => {
    const seed = pinnedSeed(7);
    let x = seed >>> 0 || 1;
    // Refuse everything two polls in three; otherwise take 0..7 frames (xorshift, seeded).
    let poll = 0;
    const r = setup(() => {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      return (poll++ % 3) !== 0 ? 0 : x % 8;
    }, 64);
    transfer(r, 300_000, 10_000);
    expect(r.s1.txQueue.overflowDrops, `seed ${seed}`).to.equal(0);
    expect(r.s1.txQueue.deferred).to.be.greaterThan(0);
    expect(retransmits(r.s1), `seed ${seed}`).to.equal(0);
    expect(r.s2.tcp.counters.oooSegments).to.equal(0);
    await closeAll(r);
  });

  it('many connections share the room: every one completes, none retransmits', async () => {
    const r = setup(() => 4, 32);
    const { s1, s2, clock } = r;
    const l = s2.tcp.listen(5002, { backlog: 64 });
    const per = 40_000;
    const n = 24;
    const got = new Map<TcpConnection, number>();
    l.onConnection = (c) => {
      got.set(c, 0);
      c.onReadable = () => { for (let d = c.read(); d !== null; d = c.read()) got.set(c, got.get(c)! + d.length); };
    };
    // Resolve ARP first: its queue (8 per destination) would drop most of 24 SYNs.
    s1.icmp.ping(s2.localIp, 1, 1, 8);
    for (let i = 0; i < 10; i++) { s1.poll(); s2.poll(); clock.advance(0.02); }
    const txs: TcpConnection[] = [];
    for (let i = 0; i < n; i++) txs.push(s1.tcp.connect(s2.localIp, 5002));
    const sent = new Array<number>(n).fill(0);
    const chunk = new Uint8Array(8192).fill(0x5a);
    const done = (): boolean => got.size === n && [...got.values()].every((v) => v === per);
    for (let i = 0; i < 200000 && !done(); i++) {
      for (let k = 0; k < n; k++) {
        if (txs[k].state === TcpState.Established && sent[k] < per) {
          sent[k] += txs[k].write(chunk.subarray(0, Math.min(chunk.length, per - sent[k])));
        }
      }
      s1.poll();
      s2.poll();
      clock.advance(0.02);
    }
    expect(done(), 'all transfers complete').to.equal(true);
    expect(r.s1.txQueue.overflowDrops).to.equal(0);
    expect(r.s1.txQueue.deferred).to.be.greaterThan(0);
    const c = r.s1.tcp.counters;
    expect(retransmits(r.s1), JSON.stringify([c.retransmitsRto, c.retransmitsFast, c.retransmitsTlp, c.retransmitsRack, c.loss])).to.equal(0);
    await closeAll(r);
  });

  it('frames still refused when the stack closes are freed and counted', async () => {
    let open = true;
    const r = setup(() => (open ? 64 : 0));
    const { s1, s2, clock } = r;
    s2.tcp.listen(5003).onConnection = (c) => { c.onReadable = () => { while (c.read() !== null) { /* drain */ } }; };
    const tx = s1.tcp.connect(s2.localIp, 5003);
    for (let i = 0; i < 50 && tx.state !== TcpState.Established; i++) { s1.poll(); s2.poll(); clock.advance(0.1); }
    expect(tx.state).to.equal(TcpState.Established);
    open = false;
    tx.write(new Uint8Array(20_000));
    s1.poll();
    expect(s1.txBacklog, 'frames waiting').to.be.greaterThan(0);
    await s1.close();
    expect(s1.txQueue.closeDrops).to.be.greaterThan(0);
    await s2.close();
    expect(r.pool.inUse(), 'mbufs leaked').to.equal(0);
  });
});
