/**
 * What a shard's application module gets ({@link ShardContext}), and the
 * messages between the main thread and its shards.
 */
import { parseIpv4, type Ip4 } from '../ip/addr.js';
import type { DpdkAttachHandle } from '../pmd/dpdk.js';
import { rssHashTcp4, rssQueueOf, type RssConfig } from '../pmd/dpdk-rss.js';
import type { Stack, StackOptions } from '../stack.js';
import type { TcpConfig } from '../tcp/config.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { ShardPort, SteerCounters } from './steer.js';

/** Stack options that can travel to a worker (no port, address, clock or functions). */
export type ShardStackOptions = Omit<StackOptions, 'port' | 'ip' | 'gateway' | 'clock' | 'protocols' | 'mac'>;

/** @internal What the main thread hands each shard's worker. */
export interface ShardJob {
  shard: number;
  shards: number;
  handle: DpdkAttachHandle;
  portId: number;
  ip: string;
  gateway?: string;
  /** URL (file:) of the application module. */
  module: string;
  data: unknown;
  stackOptions: ShardStackOptions;
  rss: RssConfig | null;
  /** The whole ephemeral range the shards split, and this shard's block of it. */
  ephemeralLow: number;
  ephemeralHigh: number;
  block: { low: number; high: number };
  inbound: Array<SharedArrayBuffer | null>;
  outbound: Array<SharedArrayBuffer | null>;
  /** The flow table all shards share (see FlowTable). */
  flows: SharedArrayBuffer;
  /** This shard's part of the capture (merged by the main thread on close). */
  pcap?: string;
}

/** @internal Main thread → shard. */
export type ToShard =
  | { type: 'stats'; id: number }
  | { type: 'close' }
  | { type: 'app'; data: unknown }
  /** Take over the receive queue of a shard that ended. */
  | { type: 'adopt'; queue: number };

/** @internal Shard → main thread. */
export type ToMain =
  | { type: 'ready'; shard: number; lcoreId: number }
  | { type: 'stats'; id: number; shard: number; stats: Record<string, unknown> }
  | { type: 'closed'; shard: number; stats: Record<string, unknown> }
  | { type: 'crashed'; shard: number; message: string; stats?: Record<string, unknown> }
  | { type: 'app'; shard: number; data: unknown };

/**
 * What each shard's application module is called with: its own stack (on
 * its own queue, with its own connections, timers and ARP table) and the
 * shard-aware helpers. The module exports `default` (or `shard`), a
 * function taking this; the shard reports ready once it has returned (or
 * its promise has settled), so listen there.
 */
export interface ShardContext {
  /** This shard's index, 0..shards-1 (also its device queue). */
  readonly shard: number;
  readonly shards: number;
  /** This shard's stack (already polling). */
  readonly stack: Stack;
  /** What the application passed as `data` to `ShardedStack.start`. */
  readonly data: unknown;
  /** This thread's EAL lcore id (-1: unregistered). */
  readonly lcoreId: number;
  /** The device's RSS state (null: the device places frames by other rules, e.g. memif queue pairs). */
  readonly rss: RssConfig | null;
  /**
   * Open a TCP connection from this shard: the local port is one of this
   * shard's block whose RSS hash brings the replies back to this shard's
   * queue when the device hashes TCP; otherwise the stack's choice inside the
   * block, and replies landing on another queue are handed over in software.
   */
  connect(remote: string | number, remotePort: number, opts?: Partial<TcpConfig>): TcpConnection;
  /**
   * A local port for a connection to remote:remotePort from this shard (as
   * {@link connect} picks it), for the socket API:
   * `ctx.stack.connect({ host, port, localPort: ctx.localPortFor(host, port) })`;
   * 0 = let the stack pick (no usable hash).
   */
  localPortFor(remote: string | number, remotePort: number): number;
  /** Run `fn` before the stack closes (on `ShardedStack.close`). */
  onClose(fn: () => void | Promise<void>): void;
  /** Send a structured-clone value to the main thread (`ShardedStack` emits `'message'`). */
  post(data: unknown): void;
  /** Messages from the main thread (`ShardedStack.send`). */
  onMessage?: (data: unknown) => void;
  /** Numbers the application wants in the aggregated stats (summed across shards under `app`). */
  readonly appCounters: Record<string, number>;
  /**
   * More of the application's stats, read when stats are asked for: a JSON
   * tree merged under `app` beside {@link appCounters} (numeric leaves are
   * summed across shards on the main thread).
   */
  appStats?: () => Record<string, unknown>;
  /** The steering counters of this shard. */
  readonly steer: SteerCounters;
}

/** @internal */
export class ShardContextImpl implements ShardContext {
  readonly shard: number;
  readonly shards: number;
  readonly stack: Stack;
  readonly data: unknown;
  readonly lcoreId: number;
  readonly rss: RssConfig | null;
  readonly appCounters: Record<string, number> = {};
  appStats?: () => Record<string, unknown>;
  onMessage?: (data: unknown) => void;
  private readonly port: ShardPort;
  private readonly job: ShardJob;
  private readonly send: (m: ToMain) => void;
  private readonly closeHooks: Array<() => void | Promise<void>> = [];
  private cursor: number;
  /** Whether the device's hash covers TCP ports (so a local port can choose the queue). */
  private readonly hashesPorts: boolean;

  constructor(job: ShardJob, stack: Stack, port: ShardPort, lcoreId: number, send: (m: ToMain) => void) {
    this.job = job;
    this.shard = job.shard;
    this.shards = job.shards;
    this.stack = stack;
    this.data = job.data;
    this.lcoreId = lcoreId;
    this.rss = job.rss;
    this.port = port;
    this.send = send;
    this.cursor = job.block.low;
    this.hashesPorts = job.rss !== null && job.shards > 1 && job.rss.hashFunctions.includes('ipv4-tcp');
  }

  get steer(): SteerCounters { return this.port.counters; }

  localPortFor(remote: string | number, remotePort: number): number {
    if (!this.hashesPorts) return 0;
    const rss = this.rss!;
    const r = typeof remote === 'string' ? parseIpv4(remote) : (remote >>> 0) as Ip4;
    const { low, high } = this.job.block;
    const span = high - low + 1;
    for (let i = 0; i < span; i++) {
      const p = this.cursor;
      this.cursor = p >= high ? low : p + 1;
      if (rssQueueOf(rss, rssHashTcp4(rss.key, r, this.stack.localIp, remotePort, p)) === this.shard) return p;
    }
    return 0;
  }

  connect(remote: string | number, remotePort: number, opts?: Partial<TcpConfig>): TcpConnection {
    const r = typeof remote === 'string' ? parseIpv4(remote) : (remote >>> 0) as Ip4;
    if (!this.hashesPorts) return this.stack.tcp.connect(r, remotePort, opts);
    // A candidate in use towards the same peer: try the next one.
    for (let tries = 0; tries < 64; tries++) {
      const p = this.localPortFor(r, remotePort);
      if (p === 0) break;
      try {
        return this.stack.tcp.connect(r, remotePort, { ...opts, localPort: p });
      } catch (e) {
        if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
      }
    }
    return this.stack.tcp.connect(r, remotePort, opts);
  }

  onClose(fn: () => void | Promise<void>): void { this.closeHooks.push(fn); }

  post(data: unknown): void { this.send({ type: 'app', shard: this.shard, data }); }

  /** @internal */
  deliver(data: unknown): void { this.onMessage?.(data); }

  /** @internal */
  async runCloseHooks(): Promise<void> {
    for (const h of this.closeHooks.splice(0)) await h();
  }

  /** @internal More of the shard's own stats (its capture), set by the worker. */
  shardStats?: () => Record<string, unknown>;

  /** @internal The shard's stats: the stack's, steering, app counters. */
  stats(): Record<string, unknown> {
    return {
      ...this.stack.stats(),
      ...this.shardStats?.(),
      steer: { ...this.port.counters },
      app: { ...this.appCounters, ...this.appStats?.() },
      lcoreId: this.lcoreId,
    };
  }
}
