import { MBUF_PACKET_TYPE, MBUF_TX_OFFLOAD, OL_EXTERNAL_HI, OL_INDIRECT_HI, OL_RX_IP_CKSUM_MASK_LO, OL_RX_L4_CKSUM_MASK_LO } from '../mbuf/layout.js';
import { type Mempool, NO_MBUF } from '../mbuf/mempool.js';
import { type Clock, RealClock } from '../util/clock.js';
import { Prng } from '../util/prng.js';
import { newPortStats, type Port, type PortCaps, type PortStats } from './port.js';
import type { Mbuf } from '../mbuf/index.js';

/**
 * Impairments applied to one direction of an {@link ImpairedPort}.
 *
 * A packet meets them in this order, as it would on a bad path: loss →
 * corruption → duplication → reordering → delay → rate limit.
 */
export interface ImpairDirection {
  /** Probability a packet is dropped (0..1). */
  loss?: number;
  /** Probability a packet is followed by a copy of itself (0..1). */
  dup?: number;
  /** Probability a packet is held back and released after the next {@link reorderGap} packets (0..1). */
  reorder?: number;
  /** How many later packets overtake a held-back one (default 1). */
  reorderGap?: number;
  /**
   * Longest time a held-back packet waits for the packets that should
   * overtake it, so a quiet link does not keep it forever (ms, default 50).
   */
  reorderHoldMs?: number;
  /** Fixed one-way delay (ms, default 0). */
  delayMs?: number;
  /**
   * Extra random delay in [0, jitterMs) per packet (ms, default 0). Release
   * times never go backwards, so jitter alone does not reorder.
   */
  jitterMs?: number;
  /** Probability one random byte of a packet is flipped (0..1). */
  corrupt?: number;
  /** Rate limit in bytes per second (0 or absent = unlimited). */
  rateBytesPerSec?: number;
  /** Token bucket depth in bytes (default max(16 KiB, 5 ms at the rate)). */
  burstBytes?: number;
  /**
   * Bytes waiting for tokens before further packets are dropped (default
   * max(64 KiB, 50 ms at the rate)); 0 means drop whatever exceeds the rate.
   */
  queueBytes?: number;
}

/** Options for {@link ImpairedPort}. */
export interface ImpairOptions {
  /** Seed of the generators; the same seed replays the same impairments (default 1). */
  seed?: number;
  /** Time source for delay, reorder hold and rate (default: real time). */
  clock?: Clock;
  /** Impairments on packets the stack transmits. */
  tx?: ImpairDirection;
  /** Impairments on packets the stack receives. */
  rx?: ImpairDirection;
  /** Most packets held in any one internal queue before new ones are dropped (default 8192). */
  queueLimit?: number;
}

/** What one direction of an {@link ImpairedPort} did, packet by packet. */
export interface ImpairDirectionStats {
  /** Packets that entered the impairment pipeline. */
  in: number;
  /** Packets that left it (towards the device on tx, towards the stack on rx). */
  out: number;
  /** Dropped by the loss probability. */
  lost: number;
  /** Extra copies made. */
  duplicated: number;
  /** Copies not made because the pool was empty. */
  dupFailed: number;
  /** Packets held back to be overtaken. */
  reordered: number;
  /** Packets that went through the delay queue. */
  delayed: number;
  /** Packets with a flipped byte. */
  corrupted: number;
  /** Corruptions skipped: the bytes were shared and no private copy could be made. */
  corruptFailed: number;
  /** Packets that waited for rate tokens. */
  rateQueued: number;
  /** Packets dropped because the rate queue was full. */
  rateDropped: number;
  /** Packets dropped because an internal queue hit {@link ImpairOptions.queueLimit}. */
  overflow: number;
}

/** Both directions' impairment counters. */
export interface ImpairStats { tx: ImpairDirectionStats; rx: ImpairDirectionStats }

function newDirectionStats(): ImpairDirectionStats {
  return {
    in: 0, out: 0, lost: 0, duplicated: 0, dupFailed: 0, reordered: 0, delayed: 0,
    corrupted: 0, corruptFailed: 0, rateQueued: 0, rateDropped: 0, overflow: 0,
  };
}

/** A bounded FIFO of mbufs, each with a time (release time or byte length). */
class TimedFifo {
  private readonly m: Int32Array;
  private readonly t: Float64Array;
  private head = 0;
  private count = 0;
  constructor(size: number) {
    this.m = new Int32Array(size);
    this.t = new Float64Array(size);
  }
  get length(): number { return this.count; }
  push(m: Mbuf, t: number): boolean {
    if (this.count === this.m.length) return false;
    const i = (this.head + this.count) % this.m.length;
    this.m[i] = m;
    this.t[i] = t;
    this.count++;
    return true;
  }
  /** Put `m` back in front (room is there: it was just shifted out). */
  unshift(m: Mbuf, t: number): void {
    this.head = (this.head - 1 + this.m.length) % this.m.length;
    this.m[this.head] = m;
    this.t[this.head] = t;
    this.count++;
  }
  /** Time of the oldest entry (undefined behaviour when empty: check length). */
  peekTime(): number { return this.t[this.head]; }
  shift(): Mbuf {
    const m = this.m[this.head] as Mbuf;
    this.head = (this.head + 1) % this.m.length;
    this.count--;
    return m;
  }
}

/**
 * A private copy of packet `m` (every segment copied into a fresh mbuf, the
 * offload metadata of the head kept), or {@link NO_MBUF} when the pool ran
 * out — in which case nothing is leaked.
 */
export function copyPacket(pool: Mempool, m: Mbuf): Mbuf {
  let head = NO_MBUF;
  for (let seg = m; seg !== NO_MBUF; seg = pool.next(seg)) {
    const len = pool.dataLen(seg);
    const n = pool.alloc();
    if (n === NO_MBUF || len > pool.bufLenOf(n)) {
      if (n !== NO_MBUF) pool.free(n);
      if (head !== NO_MBUF) pool.free(head);
      return NO_MBUF;
    }
    // Keep the same headroom where it fits, so layers may still prepend.
    pool.setDataOff(n, Math.min(pool.dataOff(seg), pool.bufLenOf(n) - len));
    pool.setDataLen(n, len);
    pool.setPktLen(n, len);
    const src = pool.mtod(seg);
    pool.u8.copyWithin(pool.mtod(n), src, src + len);
    if (head === NO_MBUF) head = n;
    else pool.chain(head, n);
  }
  if (head === NO_MBUF) return NO_MBUF;
  pool.setOlFlags(head, pool.olFlagsLo(m), pool.olFlagsHi(m) & ~(OL_INDIRECT_HI | OL_EXTERNAL_HI));
  pool.dv.setUint32(head + MBUF_TX_OFFLOAD, pool.txOffloadLo(m), true);
  pool.dv.setUint32(head + MBUF_TX_OFFLOAD + 4, pool.txOffloadHi(m), true);
  pool.dv.setUint32(head + MBUF_PACKET_TYPE, pool.packetType(m), true);
  pool.setPort(head, pool.port(m));
  return head;
}

/** Whether the bytes of segment `seg` may be seen through another mbuf. */
function isShared(pool: Mempool, seg: Mbuf): boolean {
  return !pool.isDirect(seg) || pool.refcnt(seg) > 1;
}

/**
 * One direction's impairment pipeline. Packets enter with {@link push} and
 * come out, when due, into {@link out}; {@link pump} moves time along.
 */
class Pipeline {
  readonly stats = newDirectionStats();
  /** Packets ready to leave the pipeline. */
  readonly out: TimedFifo;
  private readonly prng: Prng;
  private readonly loss: number;
  private readonly dup: number;
  private readonly reorder: number;
  private readonly reorderGap: number;
  private readonly reorderHoldMs: number;
  private readonly delayMs: number;
  private readonly jitterMs: number;
  private readonly corrupt: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly queueBytes: number;
  private readonly delayQ: TimedFifo;
  private readonly rateQ: TimedFifo;
  private rateQBytes = 0;
  private tokens: number;
  private lastRefill: number;
  private lastRelease = 0;
  private held = NO_MBUF;
  private heldSince = 0;
  private heldCountdown = 0;

  constructor(private readonly pool: Mempool, private readonly clock: Clock, seed: number, o: ImpairDirection, limit: number, readonly rxSide: boolean) {
    this.prng = new Prng(seed);
    this.loss = prob('loss', o.loss);
    this.dup = prob('dup', o.dup);
    this.reorder = prob('reorder', o.reorder);
    this.corrupt = prob('corrupt', o.corrupt);
    this.reorderGap = nonNeg('reorderGap', o.reorderGap ?? 1, true);
    if (this.reorderGap < 1) throw new RangeError('reorderGap must be at least 1');
    this.reorderHoldMs = nonNeg('reorderHoldMs', o.reorderHoldMs ?? 50);
    this.delayMs = nonNeg('delayMs', o.delayMs ?? 0);
    this.jitterMs = nonNeg('jitterMs', o.jitterMs ?? 0);
    this.rate = nonNeg('rateBytesPerSec', o.rateBytesPerSec ?? 0);
    this.burst = nonNeg('burstBytes', o.burstBytes ?? Math.max(16384, this.rate * 0.005));
    this.queueBytes = nonNeg('queueBytes', o.queueBytes ?? Math.max(65536, this.rate * 0.05));
    this.tokens = this.burst;
    this.lastRefill = clock.now();
    this.delayQ = new TimedFifo(limit);
    this.rateQ = new TimedFifo(limit);
    this.out = new TimedFifo(limit);
  }

  /** Packets held inside (not counting {@link out}). */
  heldCount(): number { return this.delayQ.length + this.rateQ.length + (this.held === NO_MBUF ? 0 : 1); }

  /** A packet enters; the pipeline owns it from now on. */
  push(m: Mbuf, now: number): void {
    this.stats.in++;
    if (this.prng.chance(this.loss)) {
      this.stats.lost++;
      this.pool.free(m);
      return;
    }
    if (this.prng.chance(this.corrupt)) m = this.corruptOne(m);
    let copy = NO_MBUF;
    if (this.prng.chance(this.dup)) {
      copy = copyPacket(this.pool, m);
      if (copy === NO_MBUF) this.stats.dupFailed++;
      else this.stats.duplicated++;
    }
    this.reorderStage(m, now);
    if (copy !== NO_MBUF) this.reorderStage(copy, now);
  }

  /** Flip one random byte; shared bytes are first made private so no other packet changes. */
  private corruptOne(m: Mbuf): Mbuf {
    const len = this.pool.pktLen(m);
    if (len === 0) return m;
    let off = this.prng.int(len);
    const flip = 1 + this.prng.int(255);
    let seg = m;
    while (seg !== NO_MBUF && off >= this.pool.dataLen(seg)) { off -= this.pool.dataLen(seg); seg = this.pool.next(seg); }
    if (seg === NO_MBUF) return m; // pkt_len larger than the chain: leave it for the stack to reject
    if (isShared(this.pool, seg)) {
      // A TCP segment referencing the send buffer: corrupting in place would
      // corrupt every retransmission too, which no wire does.
      const c = copyPacket(this.pool, m);
      if (c === NO_MBUF) { this.stats.corruptFailed++; return m; }
      this.pool.free(m);
      return this.corruptOne(c);
    }
    this.pool.u8[this.pool.mtod(seg) + off] ^= flip;
    if (this.rxSide) {
      // The device's verdict no longer holds: "unknown" makes the stack verify in software.
      this.pool.setOlFlags(m, this.pool.olFlagsLo(m) & ~(OL_RX_IP_CKSUM_MASK_LO | OL_RX_L4_CKSUM_MASK_LO), this.pool.olFlagsHi(m));
    }
    this.stats.corrupted++;
    return m;
  }

  private reorderStage(m: Mbuf, now: number): void {
    if (this.held === NO_MBUF && this.prng.chance(this.reorder)) {
      this.held = m;
      this.heldSince = now;
      this.heldCountdown = this.reorderGap;
      this.stats.reordered++;
      return;
    }
    this.delayStage(m, now);
    if (this.held !== NO_MBUF && --this.heldCountdown === 0) this.releaseHeld(now);
  }

  private releaseHeld(now: number): void {
    const h = this.held;
    this.held = NO_MBUF;
    this.delayStage(h, now);
  }

  private delayStage(m: Mbuf, now: number): void {
    if (this.delayMs === 0 && this.jitterMs === 0) { this.rateStage(m); return; }
    let at = now + this.delayMs + (this.jitterMs > 0 ? this.prng.float() * this.jitterMs : 0);
    if (at < this.lastRelease) at = this.lastRelease;
    this.lastRelease = at;
    if (!this.delayQ.push(m, at)) { this.stats.overflow++; this.pool.free(m); return; }
    this.stats.delayed++;
  }

  private rateStage(m: Mbuf): void {
    if (this.rate === 0) { this.emit(m); return; }
    const len = this.pool.pktLen(m);
    // Tokens may go negative by one packet: large frames pass on an empty-ish
    // bucket and the debt keeps the long-run rate exact.
    if (this.rateQ.length === 0 && this.tokens > 0) {
      this.tokens -= len;
      this.emit(m);
      return;
    }
    if (this.rateQBytes + len > this.queueBytes || !this.rateQ.push(m, len)) {
      this.stats.rateDropped++;
      this.pool.free(m);
      return;
    }
    this.rateQBytes += len;
    this.stats.rateQueued++;
  }

  private emit(m: Mbuf): void {
    if (!this.out.push(m, 0)) { this.stats.overflow++; this.pool.free(m); return; }
    this.stats.out++;
  }

  /** Release whatever is due at `now` into {@link out}. */
  pump(now: number): void {
    if (this.rate > 0) {
      const dt = now - this.lastRefill;
      if (dt > 0) {
        this.tokens = Math.min(this.burst, this.tokens + (this.rate * dt) / 1000);
        this.lastRefill = now;
      }
      while (this.rateQ.length > 0 && this.tokens > 0) {
        const len = this.rateQ.peekTime();
        const m = this.rateQ.shift();
        this.rateQBytes -= len;
        this.tokens -= len;
        this.emit(m);
      }
    }
    if (this.held !== NO_MBUF && now - this.heldSince >= this.reorderHoldMs) this.releaseHeld(now);
    while (this.delayQ.length > 0 && this.delayQ.peekTime() <= now) this.rateStage(this.delayQ.shift());
  }

  /** Earliest time something held becomes due (Infinity when nothing waits on time). */
  nextDue(): number {
    let t = Infinity;
    if (this.out.length > 0) return -Infinity;
    if (this.held !== NO_MBUF) t = Math.min(t, this.heldSince + this.reorderHoldMs);
    if (this.delayQ.length > 0) t = Math.min(t, this.delayQ.peekTime());
    // Tokens become positive again after -tokens / rate seconds.
    if (this.rateQ.length > 0) t = Math.min(t, this.lastRefill + Math.max(0, -this.tokens) * 1000 / this.rate);
    return t;
  }

  /** Release everything held, ignoring time and rate (tests, shutdown drains). */
  flush(now: number): void {
    if (this.held !== NO_MBUF) this.releaseHeld(now);
    while (this.delayQ.length > 0) this.rateStage(this.delayQ.shift());
    while (this.rateQ.length > 0) {
      this.rateQBytes -= this.rateQ.peekTime();
      this.emit(this.rateQ.shift());
    }
  }

  /** Free every packet held, including those ready in {@link out}. */
  drop(): void {
    if (this.held !== NO_MBUF) { this.pool.free(this.held); this.held = NO_MBUF; }
    while (this.delayQ.length > 0) this.pool.free(this.delayQ.shift());
    while (this.rateQ.length > 0) this.pool.free(this.rateQ.shift());
    this.rateQBytes = 0;
    while (this.out.length > 0) this.pool.free(this.out.shift());
  }
}

function prob(name: string, p: number | undefined): number {
  if (p === undefined) return 0;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${name} must be a probability in [0, 1], got ${p}`);
  return p;
}

function nonNeg(name: string, v: number, integer = false): number {
  if (!(v >= 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new RangeError(`${name} must be a non-negative ${integer ? 'integer' : 'number'}, got ${v}`);
  }
  return v;
}

const BURST = 64;

/**
 * A {@link Port} decorator that makes the path behind it bad on purpose:
 * seeded loss, duplication, reordering, delay, corruption and a rate limit,
 * per direction. Simulations and `tzstack serve --impair` use it.
 *
 * It has no thread of its own: held packets are released by the next
 * {@link rxBurst} or {@link txBurst} call once their time has come (a poll
 * loop calls rxBurst constantly), or by {@link flush}. Every mbuf it holds is
 * freed by {@link close}; duplicates are always fresh copies, never the same
 * mbuf twice.
 *
 * Corruption flips a byte before the device sees the packet: on transmit
 * with checksum offload the device then checksums the corrupted bytes, so
 * only corruption on receive (or transmit without offload) is detectable by
 * the peer, as with memory corruption in a real host.
 */
export class ImpairedPort implements Port {
  readonly name: string;
  readonly pool: Mempool;
  readonly caps: PortCaps;
  /** Counters of the upper edge: what the stack handed in and was given. */
  readonly stats: PortStats = newPortStats();
  /** What each impairment did. */
  readonly impairStats: ImpairStats;
  private readonly clock: Clock;
  private readonly tx: Pipeline;
  private readonly rx: Pipeline;
  private readonly scratch = new Uint32Array(BURST);
  private closed = false;
  private readonly limit: number;

  constructor(readonly inner: Port, opts: ImpairOptions = {}) {
    this.name = `impaired(${inner.name})`;
    this.pool = inner.pool;
    this.clock = opts.clock ?? new RealClock();
    const seed = (opts.seed ?? 1) >>> 0;
    const limit = opts.queueLimit ?? 8192;
    if (!(limit >= 1 && Number.isInteger(limit))) throw new RangeError(`queueLimit must be a positive integer, got ${limit}`);
    this.limit = limit;
    this.tx = new Pipeline(this.pool, this.clock, seed, opts.tx ?? {}, limit, false);
    // A different stream per direction: each replays on its own whatever the interleaving.
    this.rx = new Pipeline(this.pool, this.clock, (seed ^ 0x9e3779b9) >>> 0, opts.rx ?? {}, limit, true);
    this.impairStats = { tx: this.tx.stats, rx: this.rx.stats };
    const corrupts = (opts.tx?.corrupt ?? 0) > 0 || (opts.rx?.corrupt ?? 0) > 0;
    // A link that corrupts can no longer promise checksums are unneeded.
    this.caps = corrupts ? { ...inner.caps, checksumUnneeded: false } : inner.caps;
  }

  rxBurst(out: Uint32Array, max: number): number {
    if (this.closed) return 0;
    const now = this.clock.now();
    this.pumpTx(now);
    const got = this.inner.rxBurst(this.scratch, Math.min(max, BURST));
    for (let i = 0; i < got; i++) this.rx.push(this.scratch[i] as Mbuf, now);
    this.rx.pump(now);
    let n = 0;
    const q = this.rx.out;
    while (n < max && q.length > 0) {
      const m = q.shift();
      this.stats.rxPackets++;
      this.stats.rxBytes += this.pool.pktLen(m);
      out[n++] = m;
    }
    return n;
  }

  txBurst(pkts: Uint32Array, n: number): number {
    if (this.closed) {
      if (n > 0) this.pool.freeBulk(pkts, n);
      this.stats.txDropped += n > 0 ? n : 0;
      return n > 0 ? n : 0;
    }
    const now = this.clock.now();
    // Release what is due first (an empty burst only does that), so the room
    // below counts what is really still held.
    this.pumpTx(now);
    if (n <= 0) return 0;
    // Backpressure: take no more than the pipeline holds (its queue limit);
    // a device behind that refuses frames fills `out` and so pushes back too.
    let room = this.limit - this.tx.heldCount() - this.tx.out.length;
    if (room < 0) room = 0;
    const take = n < room ? n : room;
    const dropsBefore = this.tx.stats.rateDropped + this.tx.stats.overflow;
    for (let i = 0; i < take; i++) {
      this.stats.txPackets++;
      this.stats.txBytes += this.pool.pktLen(pkts[i] as Mbuf);
      this.tx.push(pkts[i] as Mbuf, now);
    }
    this.pumpTx(now);
    // A lossy wire (or a full rate queue, as a router's) still takes what it loses.
    this.stats.txDropped += this.tx.stats.rateDropped + this.tx.stats.overflow - dropsBefore;
    this.stats.txRefused += n - take;
    return take;
  }

  private pumpTx(now: number): void {
    this.tx.pump(now);
    this.sendOut();
  }

  /** Hand what is ready to the device; what it refuses waits at the head of `out`. */
  private sendOut(): void {
    const q = this.tx.out;
    while (q.length > 0) {
      let k = 0;
      while (k < BURST && q.length > 0) this.scratch[k++] = q.shift();
      const took = this.inner.txBurst(this.scratch, k);
      if (took < k) {
        for (let i = k - 1; i >= took; i--) q.unshift(this.scratch[i] as Mbuf, 0);
        return;
      }
    }
  }

  /** Packets held inside the decorator (both directions), not yet released. */
  pending(): number { return this.tx.heldCount() + this.rx.heldCount() + this.tx.out.length + this.rx.out.length; }

  /**
   * Earliest clock time at which a held packet becomes due, so a poll loop
   * that sleeps when idle can wake for it; -Infinity when received packets
   * are ready now, Infinity when nothing is held.
   */
  nextDue(): number { return Math.min(this.tx.nextDue(), this.rx.nextDue()); }

  /**
   * Release every held packet now, ignoring delay, reorder hold and rate:
   * transmit ones go to the device, received ones wait for the next rxBurst.
   */
  flush(): void {
    const now = this.clock.now();
    this.tx.flush(now);
    this.sendOut();
    this.rx.flush(now);
  }

  /** Free every packet held and close the device behind. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tx.drop();
    this.rx.drop();
    this.inner.close();
  }
}

/** Options parsed from an impairment spec by {@link parseImpairSpec}. */
export interface ParsedImpairSpec {
  seed: number;
  tx?: ImpairDirection;
  rx?: ImpairDirection;
}

const RATE_UNITS: Record<string, number> = { '': 1, bit: 1 / 8, kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1 << 20, mb: 1 << 20 };

/**
 * Parse `loss=0.02,dup=0.01,reorder=0.01,delay=5,seed=7,rate=100mbit,corrupt=0.001,dir=rx|tx|both`.
 *
 * Keys: `loss`, `dup`, `reorder`, `corrupt` (probabilities 0..1, or a
 * percentage such as `2%`); `gap` (packets overtaking a reordered one,
 * default 1); `delay`, `jitter` (ms); `rate` (bytes/s, or with a unit
 * `bit`, `kbit`, `mbit`, `gbit`); `burst`, `queue` (bytes, suffix `k` or
 * `m` allowed); `seed` (integer); `dir` (`tx`, `rx` or `both`, default
 * `both`: the same impairments, independently drawn, each way).
 * @throws Error with a message naming the offending key
 */
export function parseImpairSpec(spec: string): ParsedImpairSpec {
  const d: ImpairDirection = {};
  let seed = 1;
  let dir = 'both';
  const seen = new Set<string>();
  for (const part of spec.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`impairment '${item}' is not key=value`);
    const key = item.slice(0, eq).trim().toLowerCase();
    const val = item.slice(eq + 1).trim();
    if (seen.has(key)) throw new Error(`impairment '${key}' given twice`);
    seen.add(key);
    switch (key) {
      case 'loss': d.loss = parseProb(key, val); break;
      case 'dup': d.dup = parseProb(key, val); break;
      case 'reorder': d.reorder = parseProb(key, val); break;
      case 'corrupt': d.corrupt = parseProb(key, val); break;
      case 'gap': d.reorderGap = parseNum(key, val, true); if (d.reorderGap < 1) throw new Error("impairment 'gap' must be at least 1"); break;
      case 'delay': d.delayMs = parseNum(key, val.replace(/ms$/i, '')); break;
      case 'jitter': d.jitterMs = parseNum(key, val.replace(/ms$/i, '')); break;
      case 'rate': d.rateBytesPerSec = parseUnit(key, val, RATE_UNITS, 'bytes/s or a unit bit, kbit, mbit, gbit'); break;
      case 'burst': d.burstBytes = parseUnit(key, val, SIZE_UNITS, 'bytes, or with k or m'); break;
      case 'queue': d.queueBytes = parseUnit(key, val, SIZE_UNITS, 'bytes, or with k or m'); break;
      case 'seed': seed = parseNum(key, val, true); break;
      case 'dir':
        if (val !== 'rx' && val !== 'tx' && val !== 'both') throw new Error(`impairment 'dir' must be rx, tx or both, got '${val}'`);
        dir = val;
        break;
      default:
        throw new Error(`unknown impairment '${key}' (known: loss, dup, reorder, gap, corrupt, delay, jitter, rate, burst, queue, seed, dir)`);
    }
  }
  const out: ParsedImpairSpec = { seed };
  if (dir !== 'rx') out.tx = { ...d };
  if (dir !== 'tx') out.rx = { ...d };
  return out;
}

function parseProb(key: string, val: string): number {
  const pct = val.endsWith('%');
  const s = pct ? val.slice(0, -1) : val;
  if (!/^(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(s)) throw new Error(`impairment '${key}' must be a probability (0..1 or N%), got '${val}'`);
  const p = Number(s) / (pct ? 100 : 1);
  if (!(p >= 0 && p <= 1)) throw new Error(`impairment '${key}' must be between 0 and 1, got '${val}'`);
  return p;
}

function parseNum(key: string, val: string, integer = false): number {
  const ok = integer ? /^\d+$/.test(val) : /^(\d+\.?\d*|\.\d+)$/.test(val);
  if (!ok) throw new Error(`impairment '${key}' must be a non-negative ${integer ? 'integer' : 'number'}, got '${val}'`);
  const n = Number(val);
  if (integer && !Number.isSafeInteger(n)) throw new Error(`impairment '${key}' is too large: '${val}'`);
  return n;
}

function parseUnit(key: string, val: string, units: Record<string, number>, what: string): number {
  const m = /^(\d+\.?\d*|\.\d+)\s*([a-z]*)$/i.exec(val);
  const mult = m ? units[m[2].toLowerCase()] : undefined;
  if (!m || mult === undefined) throw new Error(`impairment '${key}' must be ${what}, got '${val}'`);
  return Number(m[1]) * mult;
}
