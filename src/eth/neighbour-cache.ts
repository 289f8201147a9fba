/**
 * The bounded neighbour cache ARP (src/eth/arp.ts, IPv4) and Neighbor
 * Discovery (src/ip/nd.ts, IPv6) both keep: entries by a 32-bit hash of the
 * protocol address with collision chains, at most `maxEntries` of them,
 * entry objects reused (a spare list) rather than made per packet, the
 * entry the last output used remembered, and on each entry the neighbour's
 * MAC and a bounded ring of packets waiting for resolution. What the states
 * mean and when they change (ARP's refresh, ND's NUD) stays with each
 * protocol; state 0 is "incomplete" (no MAC yet) in both.
 *
 * Lookups walk with no closure and allocate nothing.
 */
import type { Mempool } from '../mbuf/mempool.js';
import { countDrop, type LayerCounters } from './counters.js';
import { ETH_ALEN } from './ethernet.js';
import type { Mbuf } from '../mbuf/index.js';

/** The state every entry starts in: resolution in progress, no MAC, packets wait. */
export const NEIGHBOUR_INCOMPLETE = 0;

/** Spare entries kept for reuse at most. */
const SPARE_MAX = 64;

/**
 * One entry: the protocol's subclass adds its address (`K`) and its own
 * state fields. `S` is the protocol's state enum (0: incomplete).
 */
export abstract class NeighbourEntry<K, S extends number = number> {
  abstract state: S;
  readonly mac = new Uint8Array(ETH_ALEN);
  /** Next entry in the same hash bucket. */
  chain: this | undefined = undefined;
  /** Packets waiting for resolution: a ring of mbufs. */
  readonly queue: Int32Array;
  qHead = 0;
  qCount = 0;
  constructor(queueLen: number) { this.queue = new Int32Array(queueLen); }
  /** Whether this entry is `key`'s. */
  abstract is(key: Readonly<K>): boolean;
  /**
   * Make a fresh entry for `key`: no MAC, nothing queued, incomplete; a
   * subclass resets its own fields and calls this.
   */
  reset(key: Readonly<K>): void {
    this.setKey(key);
    this.state = NEIGHBOUR_INCOMPLETE as S;
    this.qHead = 0;
    this.qCount = 0;
    this.mac.fill(0);
  }
  /** Store `key` as this entry's address. */
  protected abstract setKey(key: Readonly<K>): void;
}

/** The counters a neighbour cache writes (both protocols' counters have them). */
export interface NeighbourCounters<R extends string> extends LayerCounters<R | 'queueFull'> {
  queued: number;
  dequeued: number;
}

/** Sizes of a {@link NeighbourCache}. */
export interface NeighbourCacheConfig {
  /** Packets queued per unresolved neighbour (at least 1). */
  queueLen: number;
  /** Most entries; past it {@link NeighbourCache.create} refuses new ones unless forced. */
  maxEntries: number;
  /** When a queue is full, drop the oldest queued packet (true, the default) or the new one. */
  dropOldest?: boolean;
}

/**
 * A neighbour cache of entries `E` keyed by protocol addresses `K`; drop
 * reasons `R` are the protocol's (`queueFull` among them).
 */
export class NeighbourCache<K, E extends NeighbourEntry<K>, R extends string> {
  private readonly buckets = new Map<number, E>();
  private readonly spare: E[] = [];
  /** Entries now. */
  size = 0;
  /** The entry the last output used (the protocol sets it; a released entry is forgotten). */
  last: E | undefined = undefined;

  /**
   * @param make - a new entry object (called only when the spare list is empty)
   * @param send - where {@link flush} sends a waiting packet (made once by the protocol, not per call)
   */
  constructor(
    private readonly pool: Mempool,
    private readonly counters: NeighbourCounters<R>,
    readonly config: Readonly<NeighbourCacheConfig>,
    private readonly make: (queueLen: number) => E,
    private readonly send: (m: Mbuf, mac: Uint8Array) => void,
  ) {
    if (!(config.queueLen >= 1)) throw new RangeError('neighbour cache queueLen must be at least 1');
  }

  /** The entry for `key` whose hash is `hash`, if any (any state). */
  find(hash: number, key: Readonly<K>): E | undefined {
    const l = this.last;
    if (l !== undefined && l.is(key)) return l;
    let e = this.buckets.get(hash);
    while (e !== undefined && !e.is(key)) e = e.chain;
    return e;
  }

  /** Whether no new dynamic entry fits. */
  get full(): boolean { return this.size >= this.config.maxEntries; }

  /**
   * A fresh (incomplete) entry for `key`, which must not have one; undefined
   * when the cache is {@link full} and not `force`d (static entries are).
   */
  create(hash: number, key: Readonly<K>, force: boolean): E | undefined {
    if (!force && this.size >= this.config.maxEntries) return undefined;
    const e = this.spare.pop() ?? this.make(this.config.queueLen);
    e.reset(key);
    e.chain = this.buckets.get(hash);
    this.buckets.set(hash, e);
    this.size++;
    return e;
  }

  /** Take `e` (hashed `hash`) out of the cache; its queue must be empty (flushed or dropped). */
  release(e: E, hash: number): void {
    let p = this.buckets.get(hash);
    if (p === e) {
      if (e.chain === undefined) this.buckets.delete(hash); else this.buckets.set(hash, e.chain);
    } else {
      while (p !== undefined && p.chain !== e) p = p.chain;
      if (p !== undefined) p.chain = e.chain;
    }
    e.chain = undefined;
    this.size--;
    if (this.last === e) this.last = undefined;
    if (this.spare.length < SPARE_MAX) this.spare.push(e);
  }

  /** Every entry; the one just yielded may be released before the next is asked for. */
  *entries(): IterableIterator<E> {
    for (const head of this.buckets.values()) {
      for (let e: E | undefined = head; e !== undefined;) {
        const n: E | undefined = e.chain;
        yield e;
        e = n;
      }
    }
  }

  /** Forget every entry (their queues must be empty: see {@link dropQueue}). */
  clear(): void {
    this.buckets.clear();
    this.size = 0;
    this.last = undefined;
  }

  /** Packets waiting for resolution, all entries. */
  queuedPackets(): number {
    let n = 0;
    for (const e of this.entries()) n += e.qCount;
    return n;
  }

  /** Queue `m` on `e` until it resolves; a full queue drops (counted `queueFull`) its oldest or `m`. Takes ownership. */
  enqueue(e: E, m: Mbuf): void {
    const q = e.queue;
    if (e.qCount === q.length) {
      countDrop(this.counters, 'queueFull');
      if (this.config.dropOldest === false) { this.pool.free(m); return; }
      this.pool.free(q[e.qHead] as Mbuf);
      e.qHead = (e.qHead + 1) % q.length;
      e.qCount--;
    }
    q[(e.qHead + e.qCount) % q.length] = m;
    e.qCount++;
    this.counters.queued++;
  }

  /** Send what waits on `e` to its MAC, oldest first. */
  flush(e: E): void {
    const q = e.queue;
    while (e.qCount > 0) {
      const m = q[e.qHead] as Mbuf;
      e.qHead = (e.qHead + 1) % q.length;
      e.qCount--;
      this.counters.dequeued++;
      this.send(m, e.mac);
    }
    e.qHead = 0;
  }

  /** Drop what waits on `e`, each counted under `reason`. */
  dropQueue(e: E, reason: R): void {
    const q = e.queue;
    while (e.qCount > 0) {
      countDrop(this.counters, reason);
      this.pool.free(q[e.qHead] as Mbuf);
      e.qHead = (e.qHead + 1) % q.length;
      e.qCount--;
    }
    e.qHead = 0;
  }
}
