/**
 * A sharded stack: one DPDK port with N queues, N worker threads, each
 * running its own {@link Stack} on one queue (shared nothing: connections,
 * timers, ARP table), all with one address — the `node:cluster` habit for a
 * userspace stack. The application gives a module every worker loads
 * (`export default function (ctx: ShardContext) {...}`), which typically
 * listens on its shard's stack: connections land where the device puts
 * them, as with SO_REUSEPORT.
 *
 * Placement (see src/shard/steer.ts): each shard owns a block of the
 * ephemeral port range; `ctx.connect` picks a local port whose RSS hash
 * returns to the shard's queue when the device hashes TCP (the symmetric
 * key of src/pmd/dpdk-rss.ts), and a TCP segment that lands on another
 * shard's queue anyway is handed to its owner over a {@link HandoffRing},
 * zero copy. ARP is answered by the shard it lands on and copied to all the
 * others (as a reply, so they learn the sender without answering). IPv4
 * fragments go to one shard (0), which hands each datagram's fragments to
 * the shard holding its flow once the first fragment names it; ICMP errors
 * and echo replies go to the shard of the flow they are about (a shared
 * {@link FlowTable} says whose accepted connections, UDP flows and echo ids
 * are).
 *
 * The main thread owns EAL, the pool, the port and the rings; it never
 * polls. {@link stats} asks every shard and sums; {@link info} reads each
 * queue's counters without asking; {@link close} closes every shard (each
 * frees what its stack holds), drains the rings and the port, reports the
 * pool's count and merges the per-shard captures into one pcap file; a
 * shard that throws closes its stack, is reported (`'shardExit'`), its
 * queue is drained and the first live shard polls it from then on.
 *
 * Limits: listening ports must lie outside the ephemeral range (a segment
 * to a port inside it is steered by port block, for TCP and UDP alike: each
 * shard takes its ephemeral ports of both from its own block); fragments of an ICMP error stay with shard 0; the
 * connections of a shard that died are gone (their segments are dropped,
 * peers time out or get RSTs). Hand-off rings need a DPDK pool (`TsMempool`
 * memory is private to its thread), and between processes a DPDK secondary
 * process with shared hugepages (none on this machine).
 */
import { EventEmitter } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HandoffRing } from '../mbuf/handoff-ring.js';
import { Dpdk, type DpdkMempool, type DpdkPort, type DpdkPortOptions } from '../pmd/dpdk.js';
import type { RssConfig } from '../pmd/dpdk-rss.js';
import { mergePcapFiles, type PcapMergeResult } from '../pmd/pcap.js';
import type { PortStats } from '../pmd/port.js';
import type { ShardJob, ShardStackOptions, ToMain, ToShard } from './context.js';
import { FlowTable, shardPortBlock } from './steer.js';

export type { ShardContext, ShardStackOptions } from './context.js';
export { mergePcapFiles, type PcapMergeResult } from '../pmd/pcap.js';
export { FlowTable, ShardPort, shardPortBlock, newSteerCounters, type SteerCounters, type ShardPortOptions } from './steer.js';

/** Options of {@link ShardedStack.start}. */
export interface ShardedStackOptions {
  /** DPDK devargs (`net_memif0,role=server,socket=/run/x.sock`, a PCI address, ...). */
  dev: string;
  /** Our address for every shard, a.b.c.d/len. */
  ip: string;
  gateway?: string;
  /** Shards = worker threads = device queues (default 1). */
  shards?: number;
  /** The application module every shard loads: a path or a file: URL. */
  module: string | URL;
  /** Structured-clone data for the module (`ctx.data`). */
  data?: unknown;
  /** An initialised Dpdk (default: `Dpdk.init()` with `memMb`). */
  dpdk?: Dpdk;
  /** EAL memory when this call initialises DPDK (default 256 MB). */
  memMb?: number;
  /** A pool to use (default: one made here with `mbufs` mbufs, destroyed on close). */
  pool?: DpdkMempool;
  /** Mbufs of the pool made here (default 8191 per shard, at most 65535). */
  mbufs?: number;
  /** More port options (offloads, ring size, RSS key, checksumUnneeded). */
  portOptions?: Omit<DpdkPortOptions, 'pool' | 'rxQueues' | 'txQueues'>;
  /** Stack options for every shard (structured-clone values only). */
  stack?: ShardStackOptions;
  /** Slots of each shard-to-shard ring (default 1024). */
  ringSize?: number;
  /** How long {@link ShardedStack.start} waits for every shard to be ready (default 30 s). */
  readyTimeoutMs?: number;
  /**
   * Capture every frame of the device to this pcap file: each shard records
   * what it takes from and gives to its own queue (`<pcap>.shard<i>`, so no
   * lock between threads), and {@link ShardedStack.close} merges the parts
   * in timestamp order into this one file and removes them. Frames handed
   * between shards are recorded once, where they came off the device.
   */
  pcap?: string;
}

/** How a shard ended before {@link ShardedStack.close} (the `'shardExit'` event). */
export interface ShardExit {
  shard: number;
  /** The error it died of (its stack was closed when it could be). */
  message: string;
  exitCode: number | null;
  /** Frames taken out of its queue and its inbound rings by the main thread after it ended. */
  drained: number;
  /** The shard that took over its receive queue (-1: none left). */
  adoptedBy: number;
}

/** What {@link ShardedStack.close} reports. */
export interface ShardedCloseReport {
  /** Every shard's last stats (those that closed normally). */
  shards: Array<Record<string, unknown> | undefined>;
  /** Shards that ended early. */
  exits: ShardExit[];
  /** Mbufs still taken from the pool once everything closed (0 unless a shard died without cleaning up). */
  mbufsInUse: number;
  /** The device's counters (all queues), read once every shard had stopped. */
  port: PortStats;
  /** The merged capture, with `pcap` set. */
  pcap?: { path: string; parts: number } & PcapMergeResult;
}

interface ShardState {
  index: number;
  worker: Worker;
  alive: boolean;
  closed: boolean;
  lcoreId: number;
  lastStats?: Record<string, unknown>;
  /** Receive queues this shard polls: its own, then those of ended shards it took over. */
  queues: number[];
}

/** Keys of a shard's stats that are not counters (not summed). */
const NOT_SUMMED = new Set(['pool', 'lcoreId', 'name']);

/** Sum the numeric leaves of several JSON trees (missing leaves count 0). */
export function sumStats(trees: Array<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const t of trees) {
    for (const [k, v] of Object.entries(t)) {
      if (NOT_SUMMED.has(k)) continue;
      if (typeof v === 'number') out[k] = ((out[k] as number | undefined) ?? 0) + v;
      else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        out[k] = sumStats([(out[k] as Record<string, unknown> | undefined) ?? {}, v as Record<string, unknown>]);
      }
    }
  }
  return out;
}

/**
 * N shards over one port (see the module comment). Events: `'message'`
 * (shard, data) for `ctx.post`, `'shardExit'` ({@link ShardExit}) when a
 * shard ends before {@link close}.
 */
export class ShardedStack extends EventEmitter {
  readonly shards: number;
  readonly port: DpdkPort;
  readonly pool: DpdkMempool;
  readonly dpdk: Dpdk;
  /** RSS as enabled on the port (null: the device does not hash, or one shard). */
  readonly rss: RssConfig | null;
  private readonly ownPool: boolean;
  private readonly states: ShardState[] = [];
  /** rings[i][j]: from shard i to shard j. */
  private readonly rings: Array<Array<HandoffRing | undefined>>;
  private readonly exits: ShardExit[] = [];
  private statsSeq = 0;
  private readonly statsWaiters = new Map<number, { want: number; got: Map<number, Record<string, unknown>>; done: () => void }>();
  private closing = false;
  private closeReport?: ShardedCloseReport;
  private pcapPath?: string;

  private constructor(dpdk: Dpdk, pool: DpdkMempool, ownPool: boolean, port: DpdkPort, shards: number, rings: Array<Array<HandoffRing | undefined>>) {
    super();
    this.dpdk = dpdk;
    this.pool = pool;
    this.ownPool = ownPool;
    this.port = port;
    this.shards = shards;
    this.rss = port.rss;
    this.rings = rings;
  }

  /**
   * Bring up the port with one queue per shard and start every shard;
   * resolves once each has loaded the module and its function returned.
   * @throws Error when the device cannot give that many queues, the module
   *   cannot be loaded or a shard fails while starting (everything started
   *   is closed again)
   */
  static async start(o: ShardedStackOptions): Promise<ShardedStack> {
    const shards = o.shards ?? 1;
    if (!(Number.isInteger(shards) && shards >= 1 && shards <= 64)) throw new RangeError(`shards must be 1-64, not ${shards}`);
    const dpdk = o.dpdk ?? Dpdk.init({ memMb: o.memMb ?? 256 });
    const ownPool = o.pool === undefined;
    const pool = o.pool ?? dpdk.createPool({ count: o.mbufs ?? Math.min(65535, 8191 * shards) });
    let port: DpdkPort;
    try {
      port = dpdk.openPort(o.dev, { ...o.portOptions, pool, rxQueues: shards, txQueues: shards });
    } catch (e) {
      if (ownPool) dpdk.destroyPool(pool);
      const why = (e as Error).message;
      throw new Error(/supports \d+ rx/.test(why) ? `${why}: run fewer shards (a device without several queues works with shards: 1)` : why);
    }
    const rings: Array<Array<HandoffRing | undefined>> = [];
    for (let i = 0; i < shards; i++) {
      rings.push([]);
      for (let j = 0; j < shards; j++) rings[i].push(i === j ? undefined : HandoffRing.create(o.ringSize ?? 1024));
    }
    const s = new ShardedStack(dpdk, pool, ownPool, port, shards, rings);
    s.pcapPath = o.pcap;
    try {
      await s.spawn(o);
    } catch (e) {
      await s.close().catch(() => undefined);
      throw e;
    }
    return s;
  }

  private spawn(o: ShardedStackOptions): Promise<void> {
    const shards = this.shards;
    const handle = this.dpdk.attachHandle({ pools: [this.pool], ports: [this.port] });
    const module = o.module instanceof URL ? o.module.href : /^file:/.test(o.module) ? o.module : pathToFileURL(o.module).href;
    const tcp = o.stack?.tcp ?? {};
    const low = tcp.ephemeralLow ?? 32768;
    const high = tcp.ephemeralHigh ?? 60999;
    let ready = 0;
    const flows = FlowTable.create();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`shards not ready after ${o.readyTimeoutMs ?? 30000} ms`)), o.readyTimeoutMs ?? 30000);
      const fail = (e: Error): void => { clearTimeout(timer); reject(e); };
      for (let i = 0; i < shards; i++) {
        const job: ShardJob = {
          shard: i, shards, handle, portId: this.port.portId, ip: o.ip, gateway: o.gateway, module, data: o.data,
          stackOptions: o.stack ?? {}, rss: this.rss, ephemeralLow: low, ephemeralHigh: high,
          block: shardPortBlock(i, shards, low, high),
          flows: flows.buffer,
          pcap: o.pcap === undefined ? undefined : ShardedStack.pcapPart(o.pcap, i),
          inbound: this.rings.map((row) => row[i]?.buffer ?? null),
          outbound: this.rings[i].map((r) => r?.buffer ?? null),
        };
        const w = new Worker(new URL('./worker-entry.js', import.meta.url), { workerData: job });
        const st: ShardState = { index: i, worker: w, alive: true, closed: false, lcoreId: -1, queues: [i] };
        this.states.push(st);
        let crashMessage: string | undefined;
        w.on('message', (m: ToMain) => {
          if (m.type === 'ready') {
            st.lcoreId = m.lcoreId;
            if (++ready === shards) { clearTimeout(timer); resolve(); }
          } else if (m.type === 'stats') {
            this.gotStats(m.id, m.shard, m.stats);
          } else if (m.type === 'closed') {
            st.closed = true;
            st.lastStats = m.stats;
          } else if (m.type === 'crashed') {
            crashMessage = m.message;
            st.lastStats = m.stats;
            if (ready < shards) fail(new Error(`shard ${i}: ${m.message}`));
          } else if (m.type === 'app') {
            this.emit('message', m.shard, m.data);
          }
        });
        w.on('error', (e) => { crashMessage ??= e.stack ?? e.message; });
        w.on('exit', (code) => {
          st.alive = false;
          if (!st.closed) {
            const exit = this.reap(i, crashMessage ?? `exited with code ${code}`, code);
            if (ready < shards) fail(new Error(`shard ${i}: ${exit.message}`));
            else if (!this.closing) this.emit('shardExit', exit);
          }
          // A stats request still waiting for this shard completes without it.
          for (const [id, wt] of this.statsWaiters) { wt.want--; if (wt.got.size >= wt.want) { this.statsWaiters.delete(id); wt.done(); } }
        });
      }
    });
  }

  /** The capture file shard `i` writes before {@link close} merges them. */
  static pcapPart(path: string, i: number): string { return `${path}.shard${i}`; }

  /** A shard ended early: stop its rings and drain its queue from here (its thread no longer uses it). */
  private reap(i: number, message: string, exitCode: number | null): ShardExit {
    let drained = 0;
    for (let k = 0; k < this.shards; k++) {
      const r = this.rings[k][i];
      if (r) { r.closeConsumer(); drained += r.drain(this.pool); }
      this.rings[i][k]?.closeProducer();
    }
    const queues = this.states[i].queues;
    const buf = new Uint32Array(64);
    for (const qi of queues) {
      const q = this.port.queue(qi);
      for (let n = q.rxBurst(buf, 64), t = 0; n > 0 && t < 1024; n = q.rxBurst(buf, 64), t++) { this.pool.freeBulk(buf, n); drained += n; }
    }
    // The device keeps putting flows on these queues: the first live shard polls them from now on (the main thread no longer does).
    const heir = this.closing ? undefined : this.states.find((s) => s.alive && !s.closed && s.index !== i);
    if (heir) {
      for (const qi of queues) heir.worker.postMessage({ type: 'adopt', queue: qi } satisfies ToShard);
      heir.queues.push(...queues);
    }
    this.states[i].queues = [];
    const exit: ShardExit = { shard: i, message, exitCode, drained, adoptedBy: heir?.index ?? -1 };
    this.exits.push(exit);
    return exit;
  }

  private gotStats(id: number, shard: number, stats: Record<string, unknown>): void {
    const w = this.statsWaiters.get(id);
    if (!w) return;
    w.got.set(shard, stats);
    if (w.got.size >= w.want) { this.statsWaiters.delete(id); w.done(); }
  }

  /** Shards still running. */
  alive(): number[] { return this.states.filter((s) => s.alive && !s.closed).map((s) => s.index); }

  /**
   * Every running shard's stats (its stack's counters, port queue, steering,
   * `ctx.appCounters`) and their sum; the pool as the main thread sees it.
   */
  async stats(): Promise<{ shards: Array<Record<string, unknown> | null>; total: Record<string, unknown>; pool: { capacity: number; inUse: number } }> {
    const live = this.states.filter((s) => s.alive && !s.closed);
    const id = ++this.statsSeq;
    const got = new Map<number, Record<string, unknown>>();
    if (live.length > 0) {
      await new Promise<void>((done) => {
        this.statsWaiters.set(id, { want: live.length, got, done });
        for (const s of live) s.worker.postMessage({ type: 'stats', id } satisfies ToShard);
      });
    }
    const shards = this.states.map((s) => got.get(s.index) ?? null);
    return {
      shards,
      total: sumStats(shards.filter((x): x is Record<string, unknown> => x !== null)),
      pool: { capacity: this.pool.capacity, inUse: this.pool.inUse() },
    };
  }

  /** What runs where (no round trip to the shards). */
  info(): Record<string, unknown> {
    return {
      dev: this.port.devargs, driver: this.port.info.driverName, shards: this.shards, alive: this.alive(),
      lcores: this.states.map((s) => s.lcoreId), mac: Buffer.from(this.port.caps.mac).toString('hex').replace(/(..)(?!$)/g, '$1:'),
      rss: this.rss && { hashFunctions: this.rss.hashFunctions, queues: this.rss.queues, retaSize: this.rss.reta.length, retaKnown: this.rss.retaKnown },
      steering: this.rss && this.rss.hashFunctions.includes('ipv4-tcp') ? 'rss' : 'software',
      // Each queue's packet counts, as the shim keeps them (read here, no round trip to the shards).
      queues: this.states.map((s) => {
        const q = this.port.queue(s.index).stats;
        return { shard: s.index, alive: s.alive && !s.closed, rxPackets: q.rxPackets, txPackets: q.txPackets };
      }),
      pcap: this.pcapPath,
      exits: [...this.exits],
    };
  }

  /** Post `data` to one shard's `ctx.onMessage` (or every shard with `shard` = -1). */
  send(shard: number, data: unknown): void {
    for (const s of this.states) if ((shard === -1 || s.index === shard) && s.alive && !s.closed) s.worker.postMessage({ type: 'app', data } satisfies ToShard);
  }

  /**
   * Close every shard (its `onClose` hooks, then its stack: every mbuf it
   * holds goes back), drain the rings and the port, close the port and, if
   * made here, destroy the pool (when all its mbufs are back). Idempotent.
   */
  async close(timeoutMs = 10000): Promise<ShardedCloseReport> {
    if (this.closeReport) return this.closeReport;
    this.closing = true;
    await Promise.all(this.states.map((s) => new Promise<void>((res) => {
      if (!s.alive) { res(); return; }
      const t = setTimeout(() => { void s.worker.terminate(); }, timeoutMs);
      s.worker.once('exit', () => { clearTimeout(t); res(); });
      s.worker.postMessage({ type: 'close' } satisfies ToShard);
    })));
    for (const row of this.rings) for (const r of row) { if (r) { r.closeConsumer(); r.drain(this.pool); } }
    const port = { ...this.port.stats };
    this.port.close();
    const inUse = this.pool.inUse();
    if (this.ownPool && inUse === 0) this.dpdk.destroyPool(this.pool);
    this.closeReport = { shards: this.states.map((s) => s.lastStats), exits: [...this.exits], mbufsInUse: inUse, port };
    if (this.pcapPath !== undefined) {
      const parts = this.states.flatMap((s) => [
        ShardedStack.pcapPart(this.pcapPath!, s.index),
        // Queues it took over from ended shards, each captured in a part of its own.
        ...s.queues.filter((q) => q !== s.index).map((q) => `${ShardedStack.pcapPart(this.pcapPath!, s.index)}.q${q}`),
      ]).filter((p) => existsSync(p));
      const merged = mergePcapFiles(parts, this.pcapPath);
      for (const p of parts) rmSync(p, { force: true });
      this.closeReport.pcap = { path: this.pcapPath, parts: parts.length, ...merged };
    }
    return this.closeReport;
  }
}
