/**
 * What each shard of a sharded stack wraps around its device queue: the
 * software side of flow placement.
 *
 * Every shard owns a block of the ephemeral port range (its stack's
 * `ephemeralLow`..`ephemeralHigh`), so every connection a shard opens has a
 * local port that names its owner. A device places received frames by its
 * own rules (RSS hash, the queue a memif peer sent on, a kernel fanout), and
 * {@link ShardPort} corrects what it gets wrong, before the stack sees it:
 *
 * - a TCP segment whose destination port lies in another shard's block is
 *   handed to that shard over a {@link HandoffRing} (zero copy; the mbuf
 *   moves, the frame is processed once, by its owner); with a device whose
 *   RSS hash a shard can predict, connect picks ports that come back to the
 *   right queue and nothing needs handing over (the counters say so);
 * - an ARP packet is processed where it lands (only that shard answers a
 *   request) and a copy goes to every other shard, turned into a reply, so
 *   all of them learn the sender (ARP learns from anything addressed to us
 *   and answers only requests);
 * - everything else (listening ports, ICMP, fragments) stays where it
 *   landed: the frames of an accepted connection always come from the same
 *   peer tuple, so a hash or a fanout keeps them on one queue.
 *
 * Forwarded frames come out of {@link rxBurst} before the device's.
 */
import { HandoffRing } from '../mbuf/handoff-ring.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Port, PortCaps, PortStats } from '../pmd/port.js';

/** Counters of one shard's steering (all present from the start). */
export interface SteerCounters {
  /** TCP segments handed to the shard owning their destination port. */
  forwardedOut: number;
  /** Frames other shards handed to this one (segments and ARP copies). */
  forwardedIn: number;
  /** Segments for another shard that could not be handed over (its ring full, or the shard gone): freed. */
  forwardDropped: number;
  /** ARP packets copied to other shards (one per other shard). */
  arpCopiesOut: number;
  /** ARP copies not made or not taken (no mbuf, ring full, shard gone). */
  arpCopyDropped: number;
}

/** Fresh zeroed steering counters. */
export function newSteerCounters(): SteerCounters {
  return { forwardedOut: 0, forwardedIn: 0, forwardDropped: 0, arpCopiesOut: 0, arpCopyDropped: 0 };
}

/** The block of the ephemeral range shard `shard` of `shards` owns: [low, high]. */
export function shardPortBlock(shard: number, shards: number, low = 32768, high = 60999): { low: number; high: number } {
  const size = Math.floor((high - low + 1) / shards);
  if (size < 1) throw new RangeError(`an ephemeral range of ${high - low + 1} ports cannot be split ${shards} ways`);
  return { low: low + shard * size, high: shard === shards - 1 ? high : low + (shard + 1) * size - 1 };
}

/** Options of a {@link ShardPort}. */
export interface ShardPortOptions {
  /** This shard's index. */
  shard: number;
  /** Shards in all. */
  shards: number;
  /** Rings from every other shard to this one (index: the sending shard; this shard's own entry unused). */
  inbound: Array<HandoffRing | undefined>;
  /** Rings from this shard to every other one (index: the receiving shard). */
  outbound: Array<HandoffRing | undefined>;
  /** The ephemeral range all the shards split (default 32768-60999, TCP's default). */
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** Frames per device receive (default 64). */
  burst?: number;
}

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const IPPROTO_TCP = 6;
const ARP_OP_OFF = ETH_HLEN + 6;
const ARP_OP_REQUEST = 1;
const ARP_OP_REPLY = 2;
/** Bytes of an Ethernet frame carrying ARP (without padding). */
const ARP_FRAME = ETH_HLEN + 28;

/**
 * A device queue as one shard of a sharded stack sees it (see the module
 * comment). Transmit goes straight to the device queue.
 */
export class ShardPort implements Port {
  readonly name: string;
  readonly pool: Mempool;
  readonly caps: PortCaps;
  readonly counters: SteerCounters = newSteerCounters();
  readonly shard: number;
  readonly shards: number;
  private readonly inner: Port;
  private readonly inbound: Array<HandoffRing | undefined>;
  private readonly outbound: Array<HandoffRing | undefined>;
  private readonly low: number;
  private readonly high: number;
  private readonly blockSize: number;
  private readonly scratch: Uint32Array;
  private closed = false;

  constructor(inner: Port, o: ShardPortOptions) {
    this.inner = inner;
    this.name = `${inner.name}/shard${o.shard}`;
    this.pool = inner.pool;
    this.caps = inner.caps;
    this.shard = o.shard;
    this.shards = o.shards;
    this.inbound = o.inbound;
    this.outbound = o.outbound;
    this.low = o.ephemeralLow ?? 32768;
    this.high = o.ephemeralHigh ?? 60999;
    this.blockSize = Math.floor((this.high - this.low + 1) / o.shards);
    if (this.blockSize < 1) throw new RangeError('ephemeral range too small for the shards');
    this.scratch = new Uint32Array(o.burst ?? 64);
  }

  get stats(): PortStats { return this.inner.stats; }

  /** The shard owning local port `p`, or -1 when `p` is outside the ephemeral range (a listening port). */
  ownerOf(p: number): number {
    if (p < this.low || p > this.high) return -1;
    const k = Math.floor((p - this.low) / this.blockSize);
    return k < this.shards ? k : this.shards - 1;
  }

  rxBurst(out: Uint32Array, max: number): number {
    if (this.closed) return 0;
    if (max > out.length) max = out.length;
    let n = 0;
    const inb = this.inbound;
    if (this.shards > 1) {
      for (let k = 0; k < inb.length && n < max; k++) {
        const r = inb[k];
        if (r !== undefined) n += r.dequeue(out, max - n, n);
      }
      this.counters.forwardedIn += n;
    }
    if (n >= max) return n;
    const sc = this.scratch;
    const want = max - n < sc.length ? max - n : sc.length;
    const got = this.inner.rxBurst(sc, want);
    if (this.shards === 1) {
      for (let i = 0; i < got; i++) out[n + i] = sc[i];
      return n + got;
    }
    for (let i = 0; i < got; i++) {
      const m = sc[i];
      const owner = this.classify(m);
      if (owner < 0 || owner === this.shard) { out[n++] = m; continue; }
      const ring = this.outbound[owner];
      if (ring !== undefined && ring.enqueueOne(m)) this.counters.forwardedOut++;
      else { this.counters.forwardDropped++; this.pool.free(m); }
    }
    return n;
  }

  /**
   * The shard a received frame belongs to (-1: this one, no opinion). ARP is
   * copied to the others here. Reads only within the first segment's data.
   */
  private classify(m: number): number {
    const pool = this.pool;
    const dl = pool.dataLen(m);
    if (dl < ETH_HLEN + 20) return -1;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    const type = (u8[p + 12] << 8) | u8[p + 13];
    if (type === ETHERTYPE_ARP) return this.arpFanOut(m);
    if (type !== ETHERTYPE_IPV4) return -1;
    const vihl = u8[p + ETH_HLEN];
    if ((vihl >> 4) !== 4 || u8[p + ETH_HLEN + 9] !== IPPROTO_TCP) return -1;
    // Not a later fragment (no ports there); a first fragment carries them.
    if (((u8[p + ETH_HLEN + 6] & 0x1f) | u8[p + ETH_HLEN + 7]) !== 0) return -1;
    const l4 = ETH_HLEN + ((vihl & 0xf) << 2);
    if (l4 + 4 > dl) return -1;
    return this.ownerOf((u8[p + l4 + 2] << 8) | u8[p + l4 + 3]);
  }

  /** Copy an ARP packet, as a reply, to every other shard; the original stays here. */
  private arpFanOut(m: number): number {
    const pool = this.pool;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    if (pool.dataLen(m) < ARP_FRAME || ((u8[p + 12] << 8) | u8[p + 13]) !== ETHERTYPE_ARP) return -1;
    const op = (u8[p + ARP_OP_OFF] << 8) | u8[p + ARP_OP_OFF + 1];
    if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return -1;
    for (let k = 0; k < this.shards; k++) {
      if (k === this.shard) continue;
      const ring = this.outbound[k];
      const c = ring === undefined || ring.consumerClosed ? NO_MBUF : pool.alloc();
      if (c === NO_MBUF) { this.counters.arpCopyDropped++; continue; }
      const at = pool.append(c, ARP_FRAME);
      if (at < 0) { pool.free(c); this.counters.arpCopyDropped++; continue; }
      pool.u8.copyWithin(at, p, p + ARP_FRAME);
      // A reply teaches the sender's address without making the other shard answer.
      u8[at + ARP_OP_OFF] = 0;
      u8[at + ARP_OP_OFF + 1] = ARP_OP_REPLY;
      if (ring!.enqueueOne(c)) this.counters.arpCopiesOut++;
      else { pool.free(c); this.counters.arpCopyDropped++; }
    }
    return -1;
  }

  txBurst(pkts: Uint32Array, n: number): number {
    return this.inner.txBurst(pkts, n);
  }

  /**
   * Stop: take nothing more from other shards (their later hand-overs are
   * refused and freed on their side), free what is waiting in the inbound
   * rings, close the device queue.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.inbound) {
      if (r === undefined) continue;
      r.closeConsumer();
      r.drain(this.pool);
    }
    for (const r of this.outbound) r?.closeProducer();
    this.inner.close();
  }
}
