import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Clock } from '../util/clock.js';
import { TAGGED_NUMBER_FIELD } from '../util/double-field.js';
import { countDrop, newCounters, type Counters } from './counters.js';
import { NeighbourCache, NeighbourEntry } from './neighbour-cache.js';
import {
  BROADCAST_MAC, ETH_ALEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ZERO_MAC, clearRxMetadata, isMulticastMac, isZeroMac,
  macEquals, prependEthHeader, writableHead,
} from './ethernet.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

/**
 * ARP for IPv4 over Ethernet (RFC 826), with the neighbour cache.
 *
 * ```
 *  0 htype (2) = 1      2 ptype (2) = 0x0800   4 hlen (1) = 6   5 plen (1) = 4
 *  6 op (2) 1 request, 2 reply
 *  8 sender MAC (6)    14 sender IP (4)       18 target MAC (6) 24 target IP (4)
 * ```
 */
export const ARP_HTYPE = 0;
export const ARP_PTYPE = 2;
export const ARP_HLEN = 4;
export const ARP_PLEN = 5;
export const ARP_OP = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
/** Length of an ARP packet for IPv4 over Ethernet. */
export const ARP_LEN = 28;
export const ARP_HTYPE_ETHERNET = 1;
/** Protocol address length of IPv4. */
export const ARP_PLEN_IPV4 = 4;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

/** State of a neighbour cache entry. */
export enum ArpState {
  /** Resolution in progress: requests are being sent, packets wait. */
  Incomplete,
  /** A known MAC, confirmed less than `reachableMs` ago. */
  Reachable,
  /** A known MAC past its reachable time, still used while a request re-confirms it. */
  Refreshing,
  /** Set by the user; never expires, never overwritten by the wire. */
  Static,
}

/** ARP tunables. */
export interface ArpConfig {
  /** How long a learned MAC is trusted without confirmation (ms). Default 60000. */
  reachableMs: number;
  /** Interval between requests for an unresolved address (ms). Default 1000. */
  retransmitMs: number;
  /** Requests sent before giving up on an address. Default 3. */
  maxRequests: number;
  /** Packets queued per unresolved destination. Default 8. */
  queueLen: number;
  /** When the queue is full, drop the oldest queued packet (true) or the new one. Default true. */
  dropOldest: boolean;
  /** Most entries in the cache; past it new dynamic entries are refused. Default 1024. */
  maxEntries: number;
  /** Gratuitous ARP requests to send when the layer starts. Default 1. */
  gratuitous: number;
}

/** Defaults for {@link ArpConfig}. */
export const DEFAULT_ARP_CONFIG: Readonly<ArpConfig> = {
  reachableMs: 60_000, retransmitMs: 1000, maxRequests: 3, queueLen: 8, dropOldest: true, maxEntries: 1024, gratuitous: 1,
};

/** Where the ARP layer gets its addresses and sends its frames. */
export interface ArpEnv {
  pool: Mempool;
  clock: Clock;
  /** Our MAC. */
  mac: Uint8Array;
  /** Our IPv4 address. */
  ip: Ip4;
  /** Whether an IP next hop is a broadcast address (sent to ff:ff:ff:ff:ff:ff, never resolved). */
  isBroadcast(ip: Ip4): boolean;
  /** Queue a complete Ethernet frame for transmit; takes ownership. */
  transmit(m: Mbuf): void;
}

/**
 * One neighbour cache entry (MAC and waiting packets are the shared
 * {@link NeighbourEntry}'s). Entries are reused objects, not made per packet.
 */
export class ArpEntry extends NeighbourEntry<Ip4, ArpState> {
  ip = 0 as Ip4;
  state = ArpState.Incomplete;
  /** Reachable/Refreshing: when the MAC stops being trusted; Incomplete: unused. */
  expiresAt = 0;
  /** When the next request is due (Incomplete/Refreshing). */
  nextRequestAt = 0;
  /** Requests sent in the current resolution. */
  requests = 0;
  /** Whether a packet used the entry since it was last confirmed. */
  used = false;
  is(ip: Ip4): boolean { return this.ip === ip; }
  override reset(ip: Ip4): void {
    super.reset(ip);
    this.requests = 0;
    this.used = false;
  }
  protected setKey(ip: Ip4): void { this.ip = ip; }
}

/** A read-only view of a cache entry, for display. */
export interface ArpEntryInfo { ip: Ip4; mac: string; state: string; expiresInMs: number; queued: number }

/** Why an ARP packet, or an IP packet waiting on resolution, was dropped. */
export const ARP_DROP_REASONS = [
  'truncated', 'badHtype', 'badPtype', 'badHlen', 'badPlen', 'badOp', 'badSenderMac', 'badSenderIp',
  'addressConflict', 'queueFull', 'resolutionFailed', 'cacheFull', 'noMbuf', 'noHeadroom', 'closed',
] as const;
export type ArpDropReason = typeof ARP_DROP_REASONS[number];
const ARP_EXTRAS = ['requestsSent', 'repliesSent', 'learned', 'updated', 'expired', 'queued', 'dequeued'] as const;

/**
 * The ARP layer: answers requests for our address, learns neighbours,
 * resolves next hops for the IP layer (queueing packets meanwhile) and
 * expires what it learnt. Driven by {@link tick} from the stack's poll loop.
 */
export class ArpLayer {
  readonly config: ArpConfig;
  /** Counters: `rx`/`tx` ARP packets, `drops` by reason, plus requests/replies sent, entries learnt. */
  readonly counters: Counters<ArpDropReason, typeof ARP_EXTRAS[number]> = newCounters(ARP_DROP_REASONS, ARP_EXTRAS);
  /** The cache, keyed (and hashed) by the IPv4 address itself. */
  private readonly cache: NeighbourCache<number, ArpEntry, ArpDropReason>;
  /** Earliest time {@link tick} has something to do. */
  // Read by every poll's tick, written when an entry is due: a tagged field
  // (TAGGED_NUMBER_FIELD), so that the tick's test allocates nothing even
  // before the tick is optimised (baseline code boxes a copy of a double
  // field on every read). Infinity from the constructor on.
  private nextDue = TAGGED_NUMBER_FIELD;
  private closed = false;
  /**
   * Changes whenever a resolved entry's MAC changes or an entry goes (or the
   * layer closes): a MAC cached from {@link neighbour} holds while this does.
   */
  generation = 0;

  constructor(private readonly env: ArpEnv, config: Partial<ArpConfig> = {}) {
    this.nextDue = Infinity;
    this.config = { ...DEFAULT_ARP_CONFIG, ...config };
    if (!(this.config.queueLen >= 1)) throw new RangeError('arp queueLen must be at least 1');
    this.cache = new NeighbourCache(env.pool, this.counters, this.config, (n) => new ArpEntry(n), (m, mac) => this.sendFrame(m, mac));
  }

  /** Announce our address (gratuitous ARP requests, RFC 5227 §3). */
  announce(): void {
    for (let i = 0; i < this.config.gratuitous; i++) this.sendRequest(this.env.ip, BROADCAST_MAC);
  }

  /** The entry for `ip`, if any (any state). */
  entry(ip: Ip4): ArpEntry | undefined { ip = (ip >>> 0) as Ip4; return this.cache.find(ip, ip); }

  /** Our MAC: the source of every frame sent. */
  get mac(): Uint8Array { return this.env.mac; }

  /**
   * The resolved entry {@link output} would send to for next hop `ip` (not
   * a broadcast address), else undefined. For a caller that writes the
   * Ethernet header itself, with the MAC cached while {@link generation}
   * holds; it marks the entry used on every frame, as output does.
   */
  neighbour(ip: Ip4): ArpEntry | undefined {
    if (this.closed) return undefined;
    ip = (ip >>> 0) as Ip4;
    const e = this.cache.find(ip, ip);
    return e !== undefined && e.state !== ArpState.Incomplete ? e : undefined;
  }

  /** Queue a complete Ethernet frame built by a caller of {@link neighbour}; takes ownership. */
  transmit(m: Mbuf): void { this.env.transmit(m); }

  /** The MAC for `ip` when resolved, else undefined. */
  lookup(ip: Ip4): Uint8Array | undefined {
    ip = (ip >>> 0) as Ip4;
    const e = this.cache.find(ip, ip);
    return e && e.state !== ArpState.Incomplete ? e.mac : undefined;
  }

  /** Add or replace a static entry (never expires, never changed by received ARP). */
  addStatic(ip: Ip4, mac: Uint8Array): void {
    const e = this.getOrCreate((ip >>> 0) as Ip4, true)!;
    e.mac.set(mac.subarray(0, ETH_ALEN));
    e.state = ArpState.Static;
    this.generation++;
    this.flushQueue(e);
  }

  /** Remove an entry (static or learnt), dropping any packets waiting on it. */
  remove(ip: Ip4): boolean {
    ip = (ip >>> 0) as Ip4;
    const e = this.cache.find(ip, ip);
    if (!e) return false;
    this.cache.dropQueue(e, 'resolutionFailed');
    this.release(e);
    return true;
  }

  /** Snapshot of the cache, for display and tests. */
  entries(): ArpEntryInfo[] {
    const now = this.env.clock.now();
    const out: ArpEntryInfo[] = [];
    for (const e of this.cache.entries()) {
      out.push({
        ip: e.ip, mac: [...e.mac].map((b) => b.toString(16).padStart(2, '0')).join(':'), state: ArpState[e.state],
        expiresInMs: e.state === ArpState.Static ? Infinity : Math.max(0, e.expiresAt - now), queued: e.qCount,
      });
    }
    return out;
  }

  /**
   * Send an IPv4 packet (mtod at the IP header) to next hop `nextHop`:
   * prepend the Ethernet header and transmit when the MAC is known,
   * otherwise queue it and resolve. Takes ownership of `m`.
   */
  output(m: Mbuf, nextHop: Ip4): void {
    const env = this.env;
    if (this.closed) { countDrop(this.counters, 'closed'); env.pool.free(m); return; }
    nextHop = (nextHop >>> 0) as Ip4;
    // Most traffic goes to one next hop (the gateway, a single peer): skip the map then.
    const cache = this.cache;
    let e = cache.last;
    if (e === undefined || e.ip !== nextHop) {
      if (env.isBroadcast(nextHop)) { this.sendFrame(m, BROADCAST_MAC); return; }
      e = cache.find(nextHop, nextHop);
      if (e !== undefined) cache.last = e;
    }
    if (e !== undefined && e.state !== ArpState.Incomplete) {
      e.used = true;
      this.sendFrame(m, e.mac);
      return;
    }
    if (e === undefined) {
      e = this.getOrCreate(nextHop, false);
      if (e === undefined) { countDrop(this.counters, 'cacheFull'); env.pool.free(m); return; }
      e.state = ArpState.Incomplete;
      e.requests = 0;
      cache.enqueue(e, m);
      this.request(e, env.clock.now());
      return;
    }
    cache.enqueue(e, m);
  }

  /** Receive an ARP packet (mtod at the ARP header, Ethernet header stripped). Takes ownership. */
  input(m: Mbuf): void {
    const env = this.env;
    const pool = env.pool;
    const c = this.counters;
    if (pool.dataLen(m) < ARP_LEN) return this.drop(m, 'truncated');
    let p = pool.mtod(m);
    const dv = pool.dv;
    const u8 = pool.u8;
    if (dv.getUint16(p + ARP_HTYPE) !== ARP_HTYPE_ETHERNET) return this.drop(m, 'badHtype');
    if (dv.getUint16(p + ARP_PTYPE) !== ETHERTYPE_IPV4) return this.drop(m, 'badPtype');
    if (u8[p + ARP_HLEN] !== ETH_ALEN) return this.drop(m, 'badHlen');
    if (u8[p + ARP_PLEN] !== ARP_PLEN_IPV4) return this.drop(m, 'badPlen');
    const op = dv.getUint16(p + ARP_OP);
    if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return this.drop(m, 'badOp');
    // A group or zero sender MAC is never a neighbour's address.
    if (isMulticastMac(u8, p + ARP_SHA) || isZeroMac(u8, p + ARP_SHA)) return this.drop(m, 'badSenderMac');
    const spa = dv.getUint32(p + ARP_SPA) as Ip4;
    const tpa = dv.getUint32(p + ARP_TPA);
    if (spa === env.ip && !macEquals(u8, p + ARP_SHA, env.mac, 0)) return this.drop(m, 'addressConflict');
    // 224/4 multicast and 240/4 class E (the top four bits 1110 or 1111) are never a host.
    if ((spa !== 0 && (spa >>> 28) >= 0b1110) || env.isBroadcast(spa)) return this.drop(m, 'badSenderIp');
    if (this.closed) return this.drop(m, 'closed');
    c.rx++;
    const now = env.clock.now();
    // RFC 826 merge: refresh what we already know about the sender, whoever
    // the packet was for (this is how gratuitous ARP moves an address).
    let merged = false;
    if (spa !== 0) {
      const e = this.cache.find(spa, spa);
      if (e !== undefined) {
        merged = true;
        if (e.state !== ArpState.Static) this.confirm(e, u8, p + ARP_SHA, now);
      }
    }
    if (tpa !== env.ip) { pool.free(m); return; }
    // Addressed to us: learn the sender (ARP probes with sender 0.0.0.0 teach nothing).
    if (!merged && spa !== 0) {
      const e = this.getOrCreate(spa, false);
      if (e === undefined) countDrop(c, 'cacheFull');
      else this.confirm(e, u8, p + ARP_SHA, now);
    }
    if (op !== ARP_OP_REQUEST) { pool.free(m); return; }
    // Answer in place: the request becomes the reply (zero copy).
    m = writableHead(pool, m);
    if (m === NO_MBUF) { countDrop(c, 'noMbuf'); return; }
    p = pool.mtod(m);
    dv.setUint16(p + ARP_OP, ARP_OP_REPLY);
    u8.copyWithin(p + ARP_THA, p + ARP_SHA, p + ARP_SPA + ARP_PLEN_IPV4); // target := sender (MAC and IP)
    u8.set(env.mac, p + ARP_SHA);
    dv.setUint32(p + ARP_SPA, env.ip);
    // Drop Ethernet padding and anything after the ARP packet.
    if (pool.pktLen(m) > ARP_LEN) pool.truncate(m, ARP_LEN);
    clearRxMetadata(pool, m);
    if (prependEthHeader(pool, m, u8, p + ARP_THA, env.mac, ETHERTYPE_ARP) < 0) return this.drop(m, 'noHeadroom');
    c.tx++;
    c.repliesSent++;
    env.transmit(m);
  }

  /** Retransmit requests, give up on unresolved addresses, expire old entries. */
  tick(now: number): void {
    if (now < this.nextDue) return;
    let next = Infinity;
    for (const e of this.cache.entries()) {
      switch (e.state) {
        case ArpState.Incomplete:
        case ArpState.Refreshing:
          if (now >= e.nextRequestAt) {
            if (e.requests >= this.config.maxRequests) {
              this.counters.expired++;
              this.cache.dropQueue(e, 'resolutionFailed');
              this.release(e);
              continue;
            }
            this.request(e, now);
          }
          if (e.nextRequestAt < next) next = e.nextRequestAt;
          break;
        case ArpState.Reachable:
          if (now >= e.expiresAt) {
            if (!e.used) {
              this.counters.expired++;
              this.release(e);
              continue;
            }
            // Still in use: keep the MAC while asking again (like Linux's STALE/PROBE).
            e.state = ArpState.Refreshing;
            e.requests = 0;
            this.request(e, now);
            if (e.nextRequestAt < next) next = e.nextRequestAt;
          } else if (e.expiresAt < next) next = e.expiresAt;
          break;
        default:
          break;
      }
    }
    this.nextDue = next;
  }

  /** When {@link tick} next has work (an upper bound may be early, never late). */
  nextDeadline(): number { return this.nextDue; }

  /** Drop every queued packet and forget every entry. */
  close(): void {
    this.closed = true;
    this.generation++;
    for (const e of this.cache.entries()) {
      this.cache.dropQueue(e, 'closed');
    }
    this.cache.clear();
  }

  /** Packets currently waiting for resolution (all entries). */
  queuedPackets(): number { return this.cache.queuedPackets(); }

  // ---- internals ----

  private drop(m: Mbuf, reason: ArpDropReason): void {
    countDrop(this.counters, reason);
    this.env.pool.free(m);
  }

  private getOrCreate(ip: Ip4, force: boolean): ArpEntry | undefined {
    return this.cache.find(ip, ip) ?? this.cache.create(ip, ip, force);
  }

  private release(e: ArpEntry): void {
    this.cache.release(e, e.ip);
    this.generation++;
  }

  private confirm(e: ArpEntry, src: Uint8Array, off: number, now: number): void {
    const wasKnown = e.state !== ArpState.Incomplete;
    if (wasKnown) {
      if (!macEquals(e.mac, 0, src, off)) { this.counters.updated++; this.generation++; }
    } else {
      this.counters.learned++;
      this.generation++;
    }
    for (let i = 0; i < ETH_ALEN; i++) e.mac[i] = src[off + i];
    e.state = ArpState.Reachable;
    e.expiresAt = now + this.config.reachableMs;
    e.used = false;
    e.requests = 0;
    if (e.expiresAt < this.nextDue) this.nextDue = e.expiresAt;
    this.flushQueue(e);
  }

  private request(e: ArpEntry, now: number): void {
    e.requests++;
    e.nextRequestAt = now + this.config.retransmitMs;
    if (e.nextRequestAt < this.nextDue) this.nextDue = e.nextRequestAt;
    this.sendRequest(e.ip, BROADCAST_MAC);
  }

  /** Build and send a request for `target` (a gratuitous one when target is our own IP). */
  private sendRequest(target: Ip4, dstMac: Uint8Array): void {
    const env = this.env;
    const pool = env.pool;
    const m = pool.alloc();
    if (m === NO_MBUF) { countDrop(this.counters, 'noMbuf'); return; }
    const p = pool.append(m, ARP_LEN);
    const dv = pool.dv;
    dv.setUint16(p + ARP_HTYPE, ARP_HTYPE_ETHERNET);
    dv.setUint16(p + ARP_PTYPE, ETHERTYPE_IPV4);
    pool.u8[p + ARP_HLEN] = ETH_ALEN;
    pool.u8[p + ARP_PLEN] = ARP_PLEN_IPV4;
    dv.setUint16(p + ARP_OP, ARP_OP_REQUEST);
    pool.u8.set(env.mac, p + ARP_SHA);
    dv.setUint32(p + ARP_SPA, env.ip);
    pool.u8.set(ZERO_MAC, p + ARP_THA);
    dv.setUint32(p + ARP_TPA, target);
    prependEthHeader(pool, m, dstMac, 0, env.mac, ETHERTYPE_ARP);
    this.counters.tx++;
    this.counters.requestsSent++;
    env.transmit(m);
  }

  private sendFrame(m: Mbuf, mac: Uint8Array): void {
    if (prependEthHeader(this.env.pool, m, mac, 0, this.env.mac, ETHERTYPE_IPV4) < 0) {
      countDrop(this.counters, 'noHeadroom');
      this.env.pool.free(m);
      return;
    }
    this.env.transmit(m);
  }

  /** Send what waited for `e` to resolve (each packet uses the entry). */
  private flushQueue(e: ArpEntry): void {
    if (e.qCount > 0) e.used = true;
    this.cache.flush(e);
  }
}
