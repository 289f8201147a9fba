import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { EtherType, EthHdr, formatMac, isMulticastMac, isZeroMac, macEquals, prependEthHeader } from '../eth/ethernet.js';
import { NeighbourCache, NeighbourEntry } from '../eth/neighbour-cache.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Clock } from '../util/clock.js';
import { Prng } from '../util/prng.js';
import {
  ALL_NODES6, ALL_ROUTERS6, UNSPECIFIED6, copyAddr6, eui64Address, formatIpv6, hashAddr6, isLinkLocal6, isMulticast6,
  isSolicitedNode6, isUnspecified6, multicastMac6, newAddr6, readAddr6, solicitedNode6, writeAddr6, type Addr6,
} from './addr6.js';
import { Icmp6 } from './icmp6.js';
import { pullup } from './pullup.js';
import { finish, pseudoHeaderSum6, sumBytes } from './checksum.js';
import { Addr6State, Ip6Hdr, Ip6Opt, Ip6Proto, type Addr6Entry, type Ip6Link, type Ipv6Layer } from './ipv6.js';
import type { Mbuf } from '../mbuf/index.js';

/**
 * Neighbor Discovery for IPv6 over Ethernet (RFC 4861) and stateless
 * address autoconfiguration's duplicate address detection (RFC 4862).
 *
 * ```
 * NS / NA:  0 type  1 code  2 checksum  4 flags (NA: R 0x80, S 0x40, O 0x20 in byte 4) / reserved
 *           8 target address (16)  24 options
 * RS:       4 reserved             8 options
 * RA:       4 cur hop limit  5 flags (M, O)  6 router lifetime (2, s)  8 reachable time (4, ms)
 *          12 retrans timer (4, ms)  16 options
 * option:   0 type  1 length (8-byte units, never 0)  2 ...
 * ```
 */
export const enum NdMsg {
  FLAGS = 4,
  TARGET = 8,
  /** NS and NA: fixed part, options start here. */
  NS_LEN = 24,
  RS_LEN = 8,
  RA_HOP_LIMIT = 4,
  RA_FLAGS = 5,
  RA_LIFETIME = 6,
  RA_REACHABLE = 8,
  RA_RETRANS = 12,
  RA_LEN = 16,
  NA_ROUTER = 0x80,
  NA_SOLICITED = 0x40,
  NA_OVERRIDE = 0x20,
  OPT_SLLA = 1,
  OPT_TLLA = 2,
  OPT_PREFIX = 3,
  OPT_MTU = 5,
  OPT_UNIT = 8,
  /** A link-layer address option for Ethernet: type, length 1, MAC. */
  LLA_LEN = 8,
  PREFIX_LEN = 2,
  PREFIX_FLAGS = 3,
  PREFIX_VALID = 4,
  PREFIX_PREFERRED = 8,
  PREFIX_ADDR = 16,
  PREFIX_OPT_LEN = 32,
  PREFIX_ONLINK = 0x80,
  PREFIX_AUTO = 0x40,
  MTU_VALUE = 4,
  /** Hop limit every ND message carries, so none can come from off the link (RFC 4861 §3.1). */
  HOP_LIMIT = 255,
}

/** Neighbour Unreachability Detection states (RFC 4861 §7.3.2), and Static. */
export enum NudState {
  /** Address resolution in progress: multicast solicitations sent, packets wait. */
  Incomplete,
  /** Confirmed within the reachable time. */
  Reachable,
  /** Not confirmed lately; used as it is until a packet is sent to it. */
  Stale,
  /** A packet went to a stale entry: wait for an upper-layer hint before probing. */
  Delay,
  /** Unicast solicitations being sent to re-confirm. */
  Probe,
  /** Set by the user: never expires, never changed by the wire. */
  Static,
}

/** ND tunables (RFC 4861 §10 constants as defaults). */
export interface NdConfig {
  /** BaseReachableTime (ms); each entry's reachable time is 0.5-1.5 times it. Default 30000. */
  reachableMs: number;
  /** RetransTimer: interval between solicitations (ms). Default 1000. */
  retransMs: number;
  /** MAX_MULTICAST_SOLICIT. Default 3. */
  maxMulticastSolicit: number;
  /** MAX_UNICAST_SOLICIT. Default 3. */
  maxUnicastSolicit: number;
  /** DELAY_FIRST_PROBE_TIME (ms). Default 5000. */
  delayFirstProbeMs: number;
  /** How long a stale entry nobody sends to is kept (ms; Linux's gc_stale_time). Default 60000. */
  staleGcMs: number;
  /** Packets queued per unresolved neighbour. Default 8. */
  queueLen: number;
  /** Most entries in the cache; past it new dynamic entries are refused (stale ones are reclaimed first). Default 1024. */
  maxEntries: number;
  /** DupAddrDetectTransmits (RFC 4862): 0 turns DAD off. Default 1. */
  dadTransmits: number;
  /** Router solicitations sent once the link-local address is usable (MAX_RTR_SOLICITATIONS). Default 3; 0 sends none. */
  routerSolicitations: number;
  /** RTR_SOLICITATION_INTERVAL (ms). Default 4000. */
  routerSolicitationIntervalMs: number;
  /** Form addresses from advertised prefixes with the A flag (RFC 4862 §5.5.3). Default true. */
  autoconf: boolean;
  /**
   * Announce the groups we receive (solicited-node groups) with MLDv2
   * reports (RFC 3810) when an address is added, and answer queries, so
   * switches that snoop MLD forward neighbour solicitations to us. Default true.
   */
  mldReports: boolean;
  /** Seed of the reachable-time randomisation (deterministic tests). Default 1. */
  seed: number;
}

/** Defaults for {@link NdConfig}. */
export const DEFAULT_ND_CONFIG: Readonly<NdConfig> = {
  reachableMs: 30_000, retransMs: 1000, maxMulticastSolicit: 3, maxUnicastSolicit: 3, delayFirstProbeMs: 5000,
  staleGcMs: 60_000, queueLen: 8, maxEntries: 1024, dadTransmits: 1, routerSolicitations: 3,
  routerSolicitationIntervalMs: 4000, autoconf: true, mldReports: true, seed: 1,
};

/** What ND needs besides the IPv6 layer. */
export interface NdEnv {
  pool: Mempool;
  clock: Clock;
  /** Our MAC. */
  mac: Uint8Array;
  /** Queue a complete Ethernet frame; takes ownership. */
  transmit(m: Mbuf): void;
}

/**
 * One neighbour cache entry (MAC and waiting packets are the shared
 * {@link NeighbourEntry}'s); reused, not made per packet.
 */
export class NdEntry extends NeighbourEntry<Addr6, NudState> {
  readonly addr: Addr6 = newAddr6();
  state = NudState.Incomplete;
  isRouter = false;
  /** When the state's timer fires: Reachable→Stale, Delay→Probe, Incomplete/Probe next solicitation, Stale GC. */
  dueAt = 0;
  /** Solicitations sent in the current resolution or probe. */
  probes = 0;
  is(a: Readonly<Addr6>): boolean {
    const o = this.addr;
    return o[3] === a[3] && o[2] === a[2] && o[1] === a[1] && o[0] === a[0];
  }
  override reset(addr: Readonly<Addr6>): void {
    super.reset(addr);
    this.probes = 0;
    this.isRouter = false;
  }
  protected setKey(addr: Readonly<Addr6>): void { copyAddr6(this.addr, addr); }
}

/** A read-only view of a cache entry, for display. */
export interface NdEntryInfo { addr: string; mac: string; state: string; router: boolean; queued: number }

/** Why an ND message, or a packet waiting on resolution, was dropped. */
export const ND_DROP_REASONS = [
  'truncated', 'headerSplit', 'badHopLimit', 'badCode', 'multicastTarget', 'badOptionLength', 'badDadSolicit',
  'solicitedToMulticast', 'badSourceMac', 'raNotLinkLocal', 'queueFull', 'resolutionFailed', 'cacheFull', 'noMbuf',
  'noHeadroom', 'closed',
] as const;
export type NdDropReason = typeof ND_DROP_REASONS[number];
const ND_EXTRAS = [
  'solicitsSent', 'advertsSent', 'solicitsReceived', 'advertsReceived', 'dadSent', 'dadConflicts', 'addressConflicts',
  'routerSolicitsSent', 'routerAdvertsReceived', 'routerSolicitsIgnored', 'redirectsIgnored', 'notOurTarget',
  'learned', 'updated', 'expired', 'queued', 'dequeued', 'addressesConfigured', 'mldReportsSent', 'mldQueriesReceived',
] as const;

/**
 * The ND layer: answers solicitations for our addresses, resolves next
 * hops for IPv6 (queueing packets meanwhile, bounded), runs Neighbour
 * Unreachability Detection on what it learnt, takes routers, prefixes and
 * the MTU from router advertisements, forms addresses from prefixes and
 * runs duplicate address detection on every address before it is used.
 * Driven by {@link tick}. It is the IPv6 layer's {@link Ip6Link}.
 */
export class NdLayer implements Ip6Link {
  readonly config: NdConfig;
  readonly counters: Counters<NdDropReason, typeof ND_EXTRAS[number]> = newCounters(ND_DROP_REASONS, ND_EXTRAS);
  /** The cache, hashed by {@link hashAddr6}; always drops the oldest waiting packet, as Linux's unres_qlen. */
  private readonly cache: NeighbourCache<Addr6, NdEntry, NdDropReason>;
  private nextDue = 0;
  private closed = false;
  private readonly prng: Prng;
  /** The current reachable time (ms): randomised from the base (RFC 4861 §6.3.2). */
  reachableTime: number;
  private rsLeft = 0;
  private rsDueAt = Infinity;
  private readonly scratch = newAddr6();
  private readonly scratch2 = newAddr6();
  private readonly scratch3 = newAddr6();
  private readonly macBuf = new Uint8Array(EthHdr.ALEN);
  /** The port's MTU: an advertised MTU may lower the link MTU below it, never raise it past it. */
  private readonly portMtu: number;

  constructor(private readonly env: NdEnv, private readonly ip: Ipv6Layer, config: Partial<NdConfig> = {}) {
    this.config = { ...DEFAULT_ND_CONFIG, ...config };
    if (!(this.config.queueLen >= 1)) throw new RangeError('nd queueLen must be at least 1');
    this.cache = new NeighbourCache(env.pool, this.counters, this.config, (n) => new NdEntry(n), (m, mac) => this.sendFrame(m, mac));
    this.prng = new Prng(this.config.seed);
    this.portMtu = ip.linkMtu;
    this.reachableTime = this.randomReachable();
    ip.setLink(this);
    ip.icmp.nd = (type, m, src, dst, hopLimit) => this.input(type, m, src, dst, hopLimit);
    if (this.config.mldReports) ip.icmp.mldQuery = (m, src, dst, hopLimit) => this.mldQuery(m, src, dst, hopLimit);
  }

  private randomReachable(): number {
    return Math.round(this.config.reachableMs * (0.5 + this.prng.float()));
  }

  // ---- addresses and DAD ----

  /**
   * Add one of our addresses and run DAD on it (RFC 4862 §5.4); it becomes
   * usable once DAD passes (at once with `dadTransmits` 0).
   */
  addAddress(addr: Readonly<Addr6>, prefixLen: number, origin: Addr6Entry['origin']): Addr6Entry {
    const low24 = addr[3] & 0xffffff;
    const known = this.ip.addresses.some((a) => (a.solicited[3] & 0xffffff) === low24);
    const e = this.ip.addAddress(addr, prefixLen, origin, this.config.dadTransmits === 0);
    // RFC 4862 5.4.2: join the solicited-node group before probing for the address.
    if (!known && this.config.mldReports) this.sendMldReport(e.solicited, MldRecord.CHANGE_TO_EXCLUDE);
    if (e.state === Addr6State.Tentative) {
      e.dadLeft = this.config.dadTransmits;
      e.dadDueAt = this.env.clock.now();
      this.sendDad(e);
    } else {
      this.addressUsable(e);
    }
    return e;
  }

  /** The link-local address from our MAC (modified EUI-64, RFC 4862 §5.3), with DAD. */
  addLinkLocal(): Addr6Entry {
    return this.addAddress(eui64Address(this.env.mac), 64, 'linkLocal');
  }

  private sendDad(e: Addr6Entry): void {
    e.dadLeft--;
    e.dadDueAt = this.env.clock.now() + this.config.retransMs;
    if (e.dadDueAt < this.nextDue) this.nextDue = e.dadDueAt;
    this.counters.dadSent++;
    this.sendNs(e.addr, solicitedNode6(e.addr, this.scratch2), UNSPECIFIED6);
  }

  private addressUsable(e: Addr6Entry): void {
    if (e.origin === 'autoconf') this.counters.addressesConfigured++;
    if (isLinkLocal6(e.addr) && this.config.routerSolicitations > 0 && this.rsLeft === 0 && this.rsDueAt === Infinity) {
      this.rsLeft = this.config.routerSolicitations;
      this.rsDueAt = this.env.clock.now();
      this.nextDue = Math.min(this.nextDue, this.rsDueAt);
    }
  }

  private dadFailed(e: Addr6Entry): void {
    this.counters.dadConflicts++;
    e.state = Addr6State.Duplicate;
    e.dadLeft = 0;
  }

  // ---- the neighbour cache ----

  /** The entry for `addr`, if any (any state). */
  entry(addr: Readonly<Addr6>): NdEntry | undefined {
    const l = this.cache.last;
    if (l !== undefined && l.is(addr)) return l;
    return this.cache.find(hashAddr6(addr), addr);
  }

  /** The MAC for `addr` when resolved, else undefined. */
  lookup(addr: Readonly<Addr6>): Uint8Array | undefined {
    const e = this.entry(addr);
    return e && e.state !== NudState.Incomplete ? e.mac : undefined;
  }

  /** Add or replace a static entry. */
  addStatic(addr: Readonly<Addr6>, mac: Uint8Array): void {
    const e = this.getOrCreate(addr, true)!;
    e.mac.set(mac.subarray(0, EthHdr.ALEN));
    e.state = NudState.Static;
    this.cache.flush(e);
  }

  /** Remove an entry, dropping packets waiting on it. */
  remove(addr: Readonly<Addr6>): boolean {
    const e = this.entry(addr);
    if (e === undefined) return false;
    this.cache.dropQueue(e, 'resolutionFailed');
    this.release(e);
    return true;
  }

  /** An upper layer saw forward progress with `addr` (RFC 4861 §7.3.1): it is reachable. */
  confirm(addr: Readonly<Addr6>): void {
    const e = this.entry(addr);
    if (e === undefined || e.state === NudState.Incomplete || e.state === NudState.Static) return;
    this.setReachable(e);
  }

  /** Snapshot of the cache, for display and tests. */
  entries(): NdEntryInfo[] {
    const out: NdEntryInfo[] = [];
    for (const e of this.cache.entries()) {
      out.push({ addr: formatIpv6(e.addr), mac: formatMac(e.mac), state: NudState[e.state], router: e.isRouter, queued: e.qCount });
    }
    return out;
  }

  /** Packets currently waiting for resolution. */
  queuedPackets(): number { return this.cache.queuedPackets(); }

  private getOrCreate(addr: Readonly<Addr6>, force: boolean): NdEntry | undefined {
    const found = this.entry(addr);
    if (found !== undefined) return found;
    if (!force && this.cache.full && !this.reclaimStale()) return undefined;
    return this.cache.create(hashAddr6(addr), addr, true);
  }

  /** Free one stale entry to make room; false when there is none. */
  private reclaimStale(): boolean {
    let victim: NdEntry | undefined;
    for (const e of this.cache.entries()) if (e.state === NudState.Stale) { victim = e; break; }
    if (victim === undefined) return false;
    this.counters.expired++;
    this.release(victim);
    return true;
  }

  private release(e: NdEntry): void { this.cache.release(e, hashAddr6(e.addr)); }

  private setReachable(e: NdEntry): void {
    e.state = NudState.Reachable;
    e.probes = 0;
    e.dueAt = this.env.clock.now() + this.reachableTime;
    if (e.dueAt < this.nextDue) this.nextDue = e.dueAt;
  }

  private setStale(e: NdEntry): void {
    e.state = NudState.Stale;
    e.probes = 0;
    e.dueAt = this.env.clock.now() + this.config.staleGcMs;
    if (e.dueAt < this.nextDue) this.nextDue = e.dueAt;
  }

  // ---- output (the IPv6 layer's link) ----

  /**
   * Send an IPv6 packet (mtod at its header) to `nextHop`: multicast to its
   * group MAC, unicast to the neighbour's MAC once known (queued and
   * resolved meanwhile). Takes ownership.
   */
  output(m: Mbuf, nextHop: Addr6): void {
    const env = this.env;
    if (this.closed) return this.drop(m, 'closed');
    if ((nextHop[0] >>> 24) === 0xff) {
      multicastMac6(nextHop, this.macBuf);
      this.sendFrame(m, this.macBuf);
      return;
    }
    let e = this.entry(nextHop);
    if (e === undefined) {
      e = this.getOrCreate(nextHop, false);
      if (e === undefined) return this.drop(m, 'cacheFull');
      this.cache.enqueue(e, m);
      e.probes = 0;
      this.solicit(e, true);
      return;
    }
    this.cache.last = e;
    switch (e.state) {
      case NudState.Incomplete:
        this.cache.enqueue(e, m);
        return;
      case NudState.Stale:
        // RFC 4861 7.3.3: sending to a stale entry starts the delay before probing.
        e.state = NudState.Delay;
        e.dueAt = env.clock.now() + this.config.delayFirstProbeMs;
        if (e.dueAt < this.nextDue) this.nextDue = e.dueAt;
        break;
      default:
        break;
    }
    this.sendFrame(m, e.mac);
  }

  private sendFrame(m: Mbuf, mac: Uint8Array): void {
    const env = this.env;
    if (prependEthHeader(env.pool, m, mac, 0, env.mac, EtherType.IPV6) < 0) return this.drop(m, 'noHeadroom');
    env.transmit(m);
  }

  /** Send the next solicitation of a resolution (multicast) or probe (unicast). */
  private solicit(e: NdEntry, multicast: boolean): void {
    e.probes++;
    e.dueAt = this.env.clock.now() + this.config.retransMs;
    if (e.dueAt < this.nextDue) this.nextDue = e.dueAt;
    // RFC 4861 7.2.2: the source of the packet that prompted it, when it is ours.
    let src: Addr6 | undefined;
    if (e.qCount > 0) {
      const pool = this.env.pool;
      const a = readAddr6(pool.dv, pool.mtod(e.queue[e.qHead] as Mbuf) + Ip6Hdr.SRC, this.scratch);
      const mine = this.ip.findAddress(a);
      if (mine !== undefined && mine.state !== Addr6State.Tentative && mine.state !== Addr6State.Duplicate) src = mine.addr;
    }
    src ??= this.ip.selectSource(e.addr);
    if (src === undefined) return;
    this.sendNs(e.addr, multicast ? solicitedNode6(e.addr, this.scratch2) : e.addr, src);
  }

  // ---- timers ----

  /** Advance NUD, resolution retries, DAD and router solicitation. */
  tick(now: number): void {
    if (now < this.nextDue || this.closed) return;
    let next = Infinity;
    const c = this.config;
    const dead: NdEntry[] = [];
    for (const e of this.cache.entries()) {
      if (e.state === NudState.Static) continue;
      if (now >= e.dueAt) {
        switch (e.state) {
          case NudState.Incomplete:
            if (e.probes >= c.maxMulticastSolicit) { dead.push(e); continue; }
            this.solicit(e, true);
            break;
          case NudState.Reachable:
            this.setStale(e);
            break;
          case NudState.Stale:
            dead.push(e);
            continue;
          case NudState.Delay:
            e.state = NudState.Probe;
            e.probes = 0;
            this.solicit(e, false);
            break;
          case NudState.Probe:
            if (e.probes >= c.maxUnicastSolicit) { dead.push(e); continue; }
            this.solicit(e, false);
            break;
          default:
            break;
        }
      }
      if (e.dueAt < next) next = e.dueAt;
    }
    for (const e of dead) {
      this.counters.expired++;
      this.cache.dropQueue(e, 'resolutionFailed');
      if (e.isRouter) this.ip.setRouter(e.addr, 0);
      this.release(e);
    }
    for (const a of this.ip.addresses) {
      if (a.state === Addr6State.Tentative) {
        if (now >= a.dadDueAt) {
          if (a.dadLeft > 0) this.sendDad(a);
          else { a.state = Addr6State.Preferred; this.addressUsable(a); }
        }
        if (a.state === Addr6State.Tentative && a.dadDueAt < next) next = a.dadDueAt;
      }
      if (a.origin === 'autoconf') {
        if (now >= a.validUntil) { this.ip.removeAddress(a.addr); continue; }
        if (now >= a.preferredUntil && a.state === Addr6State.Preferred) a.state = Addr6State.Deprecated;
        next = Math.min(next, a.state === Addr6State.Preferred ? a.preferredUntil : a.validUntil);
      }
    }
    if (this.rsLeft > 0 && now >= this.rsDueAt) {
      this.rsLeft--;
      this.sendRs();
      this.rsDueAt = this.rsLeft > 0 ? now + c.routerSolicitationIntervalMs : Infinity;
    }
    if (this.rsDueAt < next) next = this.rsDueAt;
    this.nextDue = next;
  }

  /** When {@link tick} next has work (may be early, never late). */
  nextDeadline(): number { return this.nextDue; }

  /** Drop every queued packet and forget every entry. */
  close(): void {
    this.closed = true;
    for (const e of this.cache.entries()) this.cache.dropQueue(e, 'closed');
    this.cache.clear();
  }

  // ---- receive ----

  /** Receive an ND message (from ICMPv6, checksum checked; mtod at the ICMPv6 header). Takes ownership. */
  input(type: number, m: Mbuf, src: Addr6, dst: Addr6, hopLimit: number): void {
    const pool = this.env.pool;
    if (this.closed) return this.drop(m, 'closed');
    // RFC 4861 7.1.1/7.1.2/6.1.2: hop limit 255 proves the sender is on the link.
    if (hopLimit !== NdMsg.HOP_LIMIT) return this.drop(m, 'badHopLimit');
    const len = pool.pktLen(m);
    if (len > pool.dataLen(m) && !pullupAll(pool, m)) return this.drop(m, 'headerSplit');
    const p = pool.mtod(m);
    if (pool.u8[p + Icmp6.CODE] !== 0) return this.drop(m, 'badCode');
    switch (type) {
      case Icmp6.NEIGHBOR_SOLICIT: return this.inputNs(m, p, len, src, dst);
      case Icmp6.NEIGHBOR_ADVERT: return this.inputNa(m, p, len, dst);
      case Icmp6.ROUTER_ADVERT: return this.inputRa(m, p, len, src);
      case Icmp6.ROUTER_SOLICIT:
        // Hosts do not answer solicitations (RFC 4861 6.1.1 is for routers).
        this.counters.routerSolicitsIgnored++;
        pool.free(m);
        return;
      default:
        this.counters.redirectsIgnored++;
        pool.free(m);
    }
  }

  /**
   * Walk the options from `start` to `len`: every option at least 8 bytes
   * and inside the message (RFC 4861 4.6). Returns the offset of the last
   * option of `want` (a link-layer address option must hold a MAC), -1 for
   * none, -2 when the options are malformed.
   */
  private findOption(p: number, start: number, len: number, want: number): number {
    const u8 = this.env.pool.u8;
    let found = -1;
    for (let q = start; q < len;) {
      if (q + 2 > len) return -2;
      const olen = u8[p + q + 1] * NdMsg.OPT_UNIT;
      if (olen === 0 || q + olen > len) return -2;
      if (u8[p + q] === want) found = q;
      q += olen;
    }
    return found;
  }

  private inputNs(m: Mbuf, p: number, len: number, src: Addr6, dst: Addr6): void {
    const pool = this.env.pool;
    const c = this.counters;
    const dv = pool.dv;
    if (len < NdMsg.NS_LEN) return this.drop(m, 'truncated');
    const target = readAddr6(dv, p + NdMsg.TARGET, this.scratch);
    if (isMulticast6(target)) return this.drop(m, 'multicastTarget');
    const slla = this.findOption(p, NdMsg.NS_LEN, len, NdMsg.OPT_SLLA);
    if (slla === -2) return this.drop(m, 'badOptionLength');
    const dad = isUnspecified6(src);
    // RFC 4861 7.1.1: a DAD probe goes to a solicited-node group and carries no source link-layer address.
    if (dad && (!isSolicitedNode6(dst) || slla >= 0)) return this.drop(m, 'badDadSolicit');
    if (slla >= 0 && !this.validLla(p + slla)) return this.drop(m, 'badSourceMac');
    c.solicitsReceived++;
    const mine = this.ip.findAddress(target);
    if (mine === undefined || mine.state === Addr6State.Duplicate) { c.notOurTarget++; pool.free(m); return; }
    if (mine.state === Addr6State.Tentative) {
      // RFC 4862 5.4.3: someone else probing for the same address: it is not ours to take.
      if (dad) this.dadFailed(mine);
      pool.free(m);
      return;
    }
    if (!dad && slla >= 0) this.learn(src, pool.u8, p + slla + 2);
    // Answer: solicited (unless a DAD probe, answered to all nodes), override, with our MAC.
    const to = dad ? copyAddr6(this.scratch2, ALL_NODES6) : copyAddr6(this.scratch2, src);
    const from = copyAddr6(this.scratch3, mine.addr);
    pool.free(m);
    this.sendNa(from, to, (dad ? 0 : NdMsg.NA_SOLICITED) | NdMsg.NA_OVERRIDE);
  }

  private inputNa(m: Mbuf, p: number, len: number, dst: Addr6): void {
    const pool = this.env.pool;
    const c = this.counters;
    const u8 = pool.u8;
    if (len < NdMsg.NS_LEN) return this.drop(m, 'truncated');
    const target = readAddr6(pool.dv, p + NdMsg.TARGET, this.scratch);
    if (isMulticast6(target)) return this.drop(m, 'multicastTarget');
    const flags = u8[p + NdMsg.FLAGS];
    const solicited = (flags & NdMsg.NA_SOLICITED) !== 0;
    if (solicited && isMulticast6(dst)) return this.drop(m, 'solicitedToMulticast');
    const tlla = this.findOption(p, NdMsg.NS_LEN, len, NdMsg.OPT_TLLA);
    if (tlla === -2) return this.drop(m, 'badOptionLength');
    if (tlla >= 0 && !this.validLla(p + tlla)) return this.drop(m, 'badSourceMac');
    c.advertsReceived++;
    const mine = this.ip.findAddress(target);
    if (mine !== undefined) {
      if (mine.state === Addr6State.Tentative) this.dadFailed(mine); // RFC 4862 5.4.4
      else c.addressConflicts++;
      pool.free(m);
      return;
    }
    const e = this.entry(target);
    if (e === undefined || e.state === NudState.Static) { pool.free(m); return; } // unsolicited: no entry made (7.2.5)
    const at = p + tlla + 2;
    const override = (flags & NdMsg.NA_OVERRIDE) !== 0;
    const router = (flags & NdMsg.NA_ROUTER) !== 0;
    if (e.state === NudState.Incomplete) {
      if (tlla < 0) { pool.free(m); return; }
      for (let i = 0; i < EthHdr.ALEN; i++) e.mac[i] = u8[at + i];
      c.learned++;
      if (solicited) this.setReachable(e); else this.setStale(e);
      e.isRouter = router;
      pool.free(m);
      this.cache.flush(e);
      return;
    }
    const differs = tlla >= 0 && !macEquals(e.mac, 0, u8, at);
    if (!override && differs) {
      // RFC 4861 7.2.5: a different address without override only casts doubt.
      if (e.state === NudState.Reachable) this.setStale(e);
      pool.free(m);
      return;
    }
    if (differs) { for (let i = 0; i < EthHdr.ALEN; i++) e.mac[i] = u8[at + i]; c.updated++; }
    if (solicited) this.setReachable(e);
    else if (differs) this.setStale(e);
    if (e.isRouter && !router) this.ip.setRouter(e.addr, 0);
    e.isRouter = router;
    pool.free(m);
  }

  private inputRa(m: Mbuf, p: number, len: number, src: Addr6): void {
    const pool = this.env.pool;
    const c = this.counters;
    const u8 = pool.u8;
    const dv = pool.dv;
    // RFC 4861 6.1.2: routers speak from their link-local address.
    if (!isLinkLocal6(src)) return this.drop(m, 'raNotLinkLocal');
    if (len < NdMsg.RA_LEN) return this.drop(m, 'truncated');
    // Validate every option before acting on any.
    if (this.findOption(p, NdMsg.RA_LEN, len, 0) === -2) return this.drop(m, 'badOptionLength');
    const slla = this.findOption(p, NdMsg.RA_LEN, len, NdMsg.OPT_SLLA);
    if (slla >= 0 && !this.validLla(p + slla)) return this.drop(m, 'badSourceMac');
    c.routerAdvertsReceived++;
    const now = this.env.clock.now();
    const hop = u8[p + NdMsg.RA_HOP_LIMIT];
    if (hop !== 0) this.ip.config.hopLimit = hop;
    const lifetime = dv.getUint16(p + NdMsg.RA_LIFETIME);
    this.ip.setRouter(src, lifetime === 0 ? 0 : now + lifetime * 1000);
    const reach = dv.getUint32(p + NdMsg.RA_REACHABLE);
    if (reach !== 0 && reach <= 3_600_000 && reach !== this.config.reachableMs) {
      this.config.reachableMs = reach;
      this.reachableTime = this.randomReachable();
    }
    const retrans = dv.getUint32(p + NdMsg.RA_RETRANS);
    if (retrans !== 0) this.config.retransMs = retrans;
    if (slla >= 0) {
      const e = this.learn(src, u8, p + slla + 2);
      if (e !== undefined) e.isRouter = true;
    }
    // Options were checked above: each is at least 8 bytes and inside the message.
    for (let q = NdMsg.RA_LEN; q < len;) {
      const t = u8[p + q];
      const olen = u8[p + q + 1] * NdMsg.OPT_UNIT;
      if (t === NdMsg.OPT_MTU && olen === NdMsg.OPT_UNIT) {
        const mtu = dv.getUint32(p + q + NdMsg.MTU_VALUE);
        // RFC 4861 6.3.4: only within what IPv6 and the link allow.
        if (mtu >= Ip6Hdr.MIN_MTU && mtu <= this.portMtu) this.ip.linkMtu = mtu;
      } else if (t === NdMsg.OPT_PREFIX && olen === NdMsg.PREFIX_OPT_LEN) {
        this.prefixOption(p + q, now);
      }
      q += olen;
    }
    // A router answered: no more solicitations.
    this.rsLeft = 0;
    this.rsDueAt = Infinity;
    pool.free(m);
  }


  /** A prefix information option at `o` (RFC 4861 6.3.4, RFC 4862 5.5.3). */
  private prefixOption(o: number, now: number): void {
    const u8 = this.env.pool.u8;
    const dv = this.env.pool.dv;
    const plen = u8[o + NdMsg.PREFIX_LEN];
    const flags = u8[o + NdMsg.PREFIX_FLAGS];
    const valid = dv.getUint32(o + NdMsg.PREFIX_VALID);
    const preferred = dv.getUint32(o + NdMsg.PREFIX_PREFERRED);
    const prefix = readAddr6(dv, o + NdMsg.PREFIX_ADDR, this.scratch);
    if (plen > 128 || isLinkLocal6(prefix) || isMulticast6(prefix)) return;
    const until = (s: number): number => (s === 0xffffffff ? Infinity : now + s * 1000);
    if ((flags & NdMsg.PREFIX_ONLINK) !== 0) this.ip.addPrefix(prefix, plen, until(valid));
    if ((flags & NdMsg.PREFIX_AUTO) === 0 || !this.config.autoconf || plen !== 64 || preferred > valid) return;
    const addr = eui64Address(this.env.mac, prefix, this.scratch2);
    let e = this.ip.findAddress(addr);
    const v = until(valid);
    if (e === undefined) {
      if (valid === 0) return;
      e = this.addAddress(addr, 64, 'autoconf');
      e.validUntil = v;
    } else if (e.origin !== 'autoconf') {
      return;
    } else {
      // RFC 4862 5.5.3(e): a short advertised lifetime cuts an existing address to no less than two hours.
      const twoHours = now + 7_200_000;
      e.validUntil = v > twoHours || v > e.validUntil ? v : Math.min(e.validUntil, twoHours);
    }
    e.preferredUntil = until(preferred);
    if (e.state === Addr6State.Deprecated && now < e.preferredUntil) e.state = Addr6State.Preferred;
    this.nextDue = Math.min(this.nextDue, e.preferredUntil, e.validUntil);
  }

  /** Whether the link-layer address option at `o` holds a usable unicast MAC. */
  private validLla(o: number): boolean {
    const u8 = this.env.pool.u8;
    if (u8[o + 1] !== 1) return false; // Ethernet: length 1 (8 bytes), RFC 2464 §6
    return !isMulticastMac(u8, o + 2) && !isZeroMac(u8, o + 2);
  }

  /**
   * RFC 4861 7.2.3 / 6.3.4: a solicitation or advertisement named the
   * sender's MAC: create the entry as stale, or move it to stale when the
   * MAC changed; a waiting queue goes out.
   */
  private learn(addr: Readonly<Addr6>, src: Uint8Array, off: number): NdEntry | undefined {
    const e = this.getOrCreate(addr, false);
    if (e === undefined) { countDrop(this.counters, 'cacheFull'); return undefined; }
    if (e.state === NudState.Static) return e;
    if (e.state === NudState.Incomplete) {
      for (let i = 0; i < EthHdr.ALEN; i++) e.mac[i] = src[off + i];
      this.counters.learned++;
      this.setStale(e);
      this.cache.flush(e);
      return e;
    }
    if (!macEquals(e.mac, 0, src, off)) {
      for (let i = 0; i < EthHdr.ALEN; i++) e.mac[i] = src[off + i];
      this.counters.updated++;
      this.setStale(e);
    }
    return e;
  }

  // ---- messages we send ----

  /** A fresh mbuf with `len` bytes appended, or NO_MBUF (counted). */
  private message(len: number): Mbuf {
    const pool = this.env.pool;
    const m = pool.alloc();
    if (m === NO_MBUF) { countDrop(this.counters, 'noMbuf'); return NO_MBUF; }
    if (pool.append(m, len) < 0) { pool.free(m); countDrop(this.counters, 'noMbuf'); return NO_MBUF; }
    pool.u8.fill(0, pool.mtod(m), pool.mtod(m) + len);
    return m;
  }

  private writeLla(at: number, type: number): void {
    const u8 = this.env.pool.u8;
    u8[at] = type;
    u8[at + 1] = 1;
    u8.set(this.env.mac, at + 2);
  }

  /** A neighbour solicitation for `target` to `dst` from `src` (`::` for DAD: then without our MAC). */
  private sendNs(target: Readonly<Addr6>, dst: Readonly<Addr6>, src: Readonly<Addr6>): void {
    const withLla = !isUnspecified6(src);
    const m = this.message(NdMsg.NS_LEN + (withLla ? NdMsg.LLA_LEN : 0));
    if (m === NO_MBUF) return;
    const pool = this.env.pool;
    const p = pool.mtod(m);
    pool.u8[p + Icmp6.TYPE] = Icmp6.NEIGHBOR_SOLICIT;
    writeAddr6(pool.dv, p + NdMsg.TARGET, target);
    if (withLla) this.writeLla(p + NdMsg.NS_LEN, NdMsg.OPT_SLLA);
    this.counters.tx++;
    this.counters.solicitsSent++;
    this.ip.icmp.sendMessage(m, src, dst, NdMsg.HOP_LIMIT);
  }

  /** A neighbour advertisement for our address `target` to `dst`. */
  private sendNa(target: Readonly<Addr6>, dst: Readonly<Addr6>, flags: number): void {
    const m = this.message(NdMsg.NS_LEN + NdMsg.LLA_LEN);
    if (m === NO_MBUF) return;
    const pool = this.env.pool;
    const p = pool.mtod(m);
    pool.u8[p + Icmp6.TYPE] = Icmp6.NEIGHBOR_ADVERT;
    pool.u8[p + NdMsg.FLAGS] = flags;
    writeAddr6(pool.dv, p + NdMsg.TARGET, target);
    this.writeLla(p + NdMsg.NS_LEN, NdMsg.OPT_TLLA);
    this.counters.tx++;
    this.counters.advertsSent++;
    this.ip.icmp.sendMessage(m, target, dst, NdMsg.HOP_LIMIT);
  }

  /** A router solicitation to all routers (RFC 4861 6.3.7), from our link-local address with our MAC. */
  private sendRs(): void {
    const src = this.ip.selectSource(ALL_ROUTERS6);
    const withLla = src !== undefined;
    const m = this.message(NdMsg.RS_LEN + (withLla ? NdMsg.LLA_LEN : 0));
    if (m === NO_MBUF) return;
    const pool = this.env.pool;
    const p = pool.mtod(m);
    pool.u8[p + Icmp6.TYPE] = Icmp6.ROUTER_SOLICIT;
    if (withLla) this.writeLla(p + NdMsg.RS_LEN, NdMsg.OPT_SLLA);
    this.counters.tx++;
    this.counters.routerSolicitsSent++;
    this.ip.icmp.sendMessage(m, src ?? UNSPECIFIED6, ALL_ROUTERS6, NdMsg.HOP_LIMIT);
  }

  /** A multicast listener query (RFC 3810 §5.1, or MLDv1's): report every group we receive, at once. */
  private mldQuery(m: Mbuf, _src: Addr6, _dst: Addr6, hopLimit: number): void {
    const pool = this.env.pool;
    this.counters.mldQueriesReceived++;
    // Queries come from the link only (hop limit 1), with 24 bytes at least.
    const ok = hopLimit === 1 && pool.pktLen(m) >= MldMsg.QUERY_LEN;
    pool.free(m);
    if (!ok || this.closed) return;
    const seen = new Set<number>();
    for (const a of this.ip.addresses) {
      if (seen.has(a.solicited[3])) continue;
      seen.add(a.solicited[3]);
      this.sendMldReport(a.solicited, MldRecord.MODE_IS_EXCLUDE);
    }
  }

  /**
   * An MLDv2 report with one record for `group` (RFC 3810 §5.2): from our
   * link-local address or `::` before we have one, hop limit 1, behind a
   * hop-by-hop header with Router Alert (RFC 2711), to all MLDv2 routers.
   */
  private sendMldReport(group: Readonly<Addr6>, record: number): void {
    const pool = this.env.pool;
    const m = this.message(MldMsg.HBH_LEN + MldMsg.REPORT_LEN);
    if (m === NO_MBUF) return;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    const dv = pool.dv;
    // Hop-by-hop: next header ICMPv6, length 0 (8 bytes), Router Alert (MLD), PadN of 0.
    u8[p] = Ip6Proto.ICMPV6; u8[p + 1] = 0;
    u8[p + 2] = Ip6Opt.ROUTER_ALERT; u8[p + 3] = 2; dv.setUint16(p + 4, 0);
    u8[p + 6] = Ip6Opt.PADN; u8[p + 7] = 0;
    const q = p + MldMsg.HBH_LEN;
    u8[q + Icmp6.TYPE] = Icmp6.MLD2_REPORT;
    dv.setUint16(q + MldMsg.NRECORDS, 1);
    u8[q + MldMsg.RECORD] = record;
    writeAddr6(dv, q + MldMsg.RECORD + MldMsg.REC_GROUP, group);
    let src: Readonly<Addr6> = UNSPECIFIED6;
    for (const a of this.ip.addresses) if (isLinkLocal6(a.addr) && a.state === Addr6State.Preferred) { src = a.addr; break; }
    dv.setUint16(q + Icmp6.CSUM, finish(sumBytes(dv, q, MldMsg.REPORT_LEN,
      pseudoHeaderSum6(src, ALL_MLDV2_ROUTERS, Ip6Proto.ICMPV6, MldMsg.REPORT_LEN))));
    this.counters.tx++;
    this.counters.mldReportsSent++;
    this.ip.outputDirect(m, src, ALL_MLDV2_ROUTERS, Ip6Proto.HOPOPTS, 1);
  }

  private drop(m: Mbuf, reason: NdDropReason): void {
    countDrop(this.counters, reason);
    this.env.pool.free(m);
  }
}

/** MLDv2 report layout (RFC 3810 §5.2) and the hop-by-hop header in front of it. */
const enum MldMsg {
  HBH_LEN = 8,
  NRECORDS = 6,
  RECORD = 8,
  /** In a record: type, aux data length, number of sources (2), then the group. */
  REC_GROUP = 4,
  /** Header and one record without sources. */
  REPORT_LEN = 8 + 20,
  /** The shortest query (MLDv1's). */
  QUERY_LEN = 24,
}

/** MLDv2 record types: "is exclude {}" answers a query, "change to exclude {}" joins. */
const enum MldRecord {
  MODE_IS_EXCLUDE = 2,
  CHANGE_TO_EXCLUDE = 4,
}

/** ff02::16, all MLDv2-capable routers. */
const ALL_MLDV2_ROUTERS = Uint32Array.of(0xff020000, 0, 0, 0x16);

/** Make the whole (short) ND message contiguous in its first segment. */
function pullupAll(pool: Mempool, m: Mbuf): boolean {
  const len = pool.pktLen(m);
  return len <= 1500 && pullup(pool, m, len);
}
