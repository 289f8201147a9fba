import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { EthHdr } from '../eth/ethernet.js';
import { MbufLayout } from '../mbuf/layout.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Clock } from '../util/clock.js';
import { copyAddr6, isLinkLocal6, isMulticast6, multicastScope6, newAddr6, prefixMatch6, solicitedNode6, type Addr6 } from './addr6.js';
import { Icmp6, Icmp6Layer, type Icmp6Config } from './icmp6.js';
import { Ip6Ext, Ip6Frag, Ip6Hdr, Ip6Opt, Ip6Proto } from './ipv6-header.js';
import { pullup } from './pullup.js';
import { Reassembler6, type Reassembly6Config } from './reassembly6.js';
import { Udp6Closed } from './udp6.js';
import type { Mbuf } from '../mbuf/index.js';

export * from './ipv6-header.js';

const enum Ip6Limits {
  /** Extension headers walked per packet before giving up (RFC 8200 gives no limit; real chains are short). */
  MAX_EXT_HEADERS = 8,
  /** Transport bytes guaranteed in the first segment on delivery (a TCP header without options). */
  PULLUP_L4 = 20,
  /** Path MTU entries kept (learnt from Packet Too Big). */
  MAX_PMTU = 32,
  /** How long a learnt path MTU holds (ms; RFC 8201 §5.3 suggests 10 minutes). */
  PMTU_EXPIRY_MS = 600_000,
  /** Default routers and on-link prefixes kept. */
  MAX_ROUTERS = 8,
  MAX_PREFIXES = 16,
}

/**
 * An upper-layer protocol's receive function: `m` has mtod at its header,
 * pkt_len trimmed to it; the IPv6 header and the extension headers walked
 * (`hdrLen` bytes in all) stay just before it in the first segment, so an
 * ICMPv6 error can quote them. `src`/`dst` are the layer's own scratch
 * words, valid during the call only (copy them to keep them). The handler
 * owns `m`.
 */
export type Ip6Handler = (m: Mbuf, src: Addr6, dst: Addr6, tclass: number, hopLimit: number, hdrLen: number) => void;

/** Where IPv6 sends what it built: the neighbour layer (ND over Ethernet). */
export interface Ip6Link {
  /** Send a packet (mtod at the IPv6 header) to `nextHop` (an on-link or multicast address); takes ownership. */
  output(m: Mbuf, nextHop: Addr6): void;
}

/** What the IPv6 layer needs from the stack. */
export interface Ipv6Env {
  pool: Mempool;
  clock: Clock;
  /** IP MTU of the link. */
  mtu: number;
  /** TX_OFFLOAD_* bits the port has enabled. */
  txOffloads: number;
  /** Checksums need neither be checked nor computed on this link (in-memory). */
  checksumUnneeded: boolean;
}

/** IPv6 tunables. */
export interface Ipv6Config {
  /** Hop limit of unicast packets we send (a router advertisement may change it). Default 64. */
  hopLimit: number;
  reassembly: Partial<Reassembly6Config>;
  icmp: Partial<Icmp6Config>;
}

/** State of one of our addresses (RFC 4862 §5.5.4 / §5.4). */
export enum Addr6State {
  /** Duplicate address detection running: not used, packets to it dropped. */
  Tentative,
  /** Usable. */
  Preferred,
  /** Usable for what already uses it, not chosen as a source for new traffic. */
  Deprecated,
  /** DAD found another node with it: never used. */
  Duplicate,
}

/** How an address came to be ours. */
export type Addr6Origin = 'linkLocal' | 'static' | 'autoconf';

/** One of our unicast addresses. */
export class Addr6Entry {
  readonly addr: Addr6 = newAddr6();
  /** Its solicited-node multicast group, which we receive while the address exists. */
  readonly solicited: Addr6 = newAddr6();
  prefixLen = 128;
  state = Addr6State.Tentative;
  origin: Addr6Origin = 'static';
  /** Autoconfigured: when it becomes deprecated / goes (stack clock ms; Infinity for never). */
  preferredUntil = Infinity;
  validUntil = Infinity;
  /** DAD: solicitations still to send, and when the next one (or the verdict) is due. */
  dadLeft = 0;
  dadDueAt = 0;
}

/** A default router (from configuration or a router advertisement). */
export class Router6 {
  readonly addr: Addr6 = newAddr6();
  /** When its router lifetime ends (Infinity: configured). */
  expiresAt = Infinity;
}

/** An on-link prefix (from our addresses or a prefix information option). */
export class Prefix6 {
  readonly prefix: Addr6 = newAddr6();
  len = 64;
  expiresAt = Infinity;
}

/** Why an IPv6 packet was dropped (received or sent). */
export const IPV6_DROP_REASONS = [
  'truncated', 'headerSplit', 'badVersion', 'jumbogram', 'hopLimitZero', 'badSource', 'badDestination', 'notForUs',
  'tentativeDestination', 'hopByHopNotFirst', 'badExtHeader', 'tooManyExtHeaders', 'unknownOption', 'badOption',
  'routingType0', 'routingHeader', 'badFragmentLength', 'fragmentTooBig', 'emptyFragment', 'incompleteChain',
  'nestedFragment', 'noNextHeader', 'unknownProtocol', 'noSourceAddress', 'noRoute', 'noHeadroom', 'tooBig', 'noMbuf',
  'noLink', 'closed',
] as const;
export type Ipv6DropReason = typeof IPV6_DROP_REASONS[number];
const IPV6_EXTRAS = ['trimmed', 'fragmentsSent', 'fragmentsReceived', 'atomicFragments', 'multicastReceived'] as const;

/**
 * The IPv6 layer (RFC 8200) of a host: validates every field of what
 * arrives against the frame, walks extension headers with a bounded loop,
 * reassembles fragments, and hands the payload to the protocol registered
 * for it; builds headers for what leaves (choosing the source address and
 * the next hop, fragmenting above the path MTU). It owns our addresses, the
 * on-link prefixes and the default routers; Neighbor Discovery
 * (src/ip/nd.ts) fills them in and resolves next hops.
 */
export class Ipv6Layer {
  /** `rx` packets delivered, `tx` packets sent, drops by reason, plus fragment and trim counts. */
  readonly counters: Counters<Ipv6DropReason, typeof IPV6_EXTRAS[number]> = newCounters(IPV6_DROP_REASONS, IPV6_EXTRAS);
  readonly reassembly: Reassembler6;
  readonly icmp: Icmp6Layer;
  /** The built-in UDP sink that answers Port Unreachable while no UDP layer is registered. */
  readonly udp: Udp6Closed;
  readonly config: { hopLimit: number };
  /** Our unicast addresses (bounded by the caller; a handful in practice). */
  readonly addresses: Addr6Entry[] = [];
  readonly routers: Router6[] = [];
  readonly prefixes: Prefix6[] = [];
  /** Further multicast groups received (beyond all-nodes and our solicited-node groups). */
  readonly groups: Addr6[] = [];
  private link: Ip6Link | undefined;
  private readonly handlers: Array<Ip6Handler | undefined> = new Array(256).fill(undefined);
  private nextId: number;
  private closed = false;
  /** The link MTU: the largest packet we send without fragmenting (RA MTU options may lower it). */
  linkMtu: number;
  // Receive scratch: the addresses handed to handlers.
  private readonly rxSrc = newAddr6();
  private readonly rxDst = newAddr6();
  // Output scratch: source and next hop of the packet being sent.
  private readonly txHop = newAddr6();
  private readonly pmtuAddr: Addr6[] = [];
  private readonly pmtuValue: number[] = [];
  private readonly pmtuExpires: number[] = [];

  constructor(private readonly env: Ipv6Env, config: Partial<Ipv6Config> = {}) {
    this.config = { hopLimit: config.hopLimit ?? 64 };
    this.linkMtu = env.mtu;
    this.nextId = (Math.floor(env.clock.now() * 7919) ^ 0x5bd1e995) >>> 0;
    this.icmp = new Icmp6Layer(this, config.icmp);
    this.reassembly = new Reassembler6(env.pool, config.reassembly, (m) => this.icmp.timeExceededReassembly(m));
    this.udp = new Udp6Closed(this);
    this.register(Ip6Proto.ICMPV6, (m, s, d, t, h, l) => this.icmp.input(m, s, d, t, h, l));
    this.register(Ip6Proto.UDP, (m, s, d, t, h, l) => this.udp.input(m, s, d, t, h, l));
  }

  get pool(): Mempool { return this.env.pool; }
  get clock(): Clock { return this.env.clock; }
  get checksumUnneeded(): boolean { return this.env.checksumUnneeded; }
  get txOffloads(): number { return this.env.txOffloads; }

  /** Set the neighbour layer output goes through (ND, made after this layer since it rides on ICMPv6). */
  setLink(link: Ip6Link): void { this.link = link; }

  /** Deliver next-header value `proto` to `handler` (replacing any previous one, including ICMPv6's). */
  register(proto: number, handler: Ip6Handler): void {
    if (!(proto >= 0 && proto <= 255)) throw new RangeError(`bad IPv6 next header ${proto}`);
    this.handlers[proto] = handler;
  }

  /** Whether next header `proto` has a handler. */
  hasHandler(proto: number): boolean { return this.handlers[proto] !== undefined; }

  /** The handler of next header `proto`, if any. */
  handler(proto: number): Ip6Handler | undefined { return this.handlers[proto]; }

  // ---- addresses, prefixes, routers ----

  /**
   * Add one of our unicast addresses (tentative until DAD says otherwise,
   * unless `preferred`); a static address's prefix becomes on-link when
   * shorter than 128.
   */
  addAddress(addr: Readonly<Addr6>, prefixLen: number, origin: Addr6Origin, preferred = false): Addr6Entry {
    let e = this.findAddress(addr);
    if (e === undefined) {
      e = new Addr6Entry();
      copyAddr6(e.addr, addr);
      solicitedNode6(addr, e.solicited);
      this.addresses.push(e);
    }
    e.prefixLen = prefixLen;
    e.origin = origin;
    e.state = preferred ? Addr6State.Preferred : Addr6State.Tentative;
    // A configured prefix is on-link; an autoconfigured address says nothing about on-link (RFC 5942).
    if (origin === 'static' && prefixLen < 128 && !isLinkLocal6(addr)) this.addPrefix(addr, prefixLen, Infinity);
    return e;
  }

  /** Remove one of our addresses. */
  removeAddress(addr: Readonly<Addr6>): boolean {
    const i = this.addresses.findIndex((e) => prefixMatch6(e.addr, addr, 128));
    if (i < 0) return false;
    this.addresses.splice(i, 1);
    return true;
  }

  /** The entry of one of our addresses (any state). */
  findAddress(addr: Readonly<Addr6>): Addr6Entry | undefined {
    const a = this.addresses;
    for (let i = 0; i < a.length; i++) {
      const w = a[i].addr;
      if (w[0] === addr[0] && w[1] === addr[1] && w[2] === addr[2] && w[3] === addr[3]) return a[i];
    }
    return undefined;
  }

  /** Make `prefix/len` on-link until `expiresAt` (Infinity: for good); false when the table is full. */
  addPrefix(prefix: Readonly<Addr6>, len: number, expiresAt: number): boolean {
    for (const p of this.prefixes) {
      if (p.len === len && prefixMatch6(p.prefix, prefix, len)) {
        // A configured prefix (no expiry) stays; an advertised one takes the new lifetime.
        if (p.expiresAt !== Infinity) p.expiresAt = expiresAt;
        return true;
      }
    }
    if (this.prefixes.length >= Ip6Limits.MAX_PREFIXES) return false;
    const p = new Prefix6();
    copyAddr6(p.prefix, prefix);
    p.len = len;
    p.expiresAt = expiresAt;
    this.prefixes.push(p);
    return true;
  }

  /** Add or refresh a default router until `expiresAt`; a lifetime in the past removes it. False when full. */
  setRouter(addr: Readonly<Addr6>, expiresAt: number): boolean {
    const now = this.env.clock.now();
    const i = this.routers.findIndex((r) => prefixMatch6(r.addr, addr, 128));
    if (expiresAt <= now) { if (i >= 0) this.routers.splice(i, 1); return true; }
    if (i >= 0) { if (this.routers[i].expiresAt !== Infinity) this.routers[i].expiresAt = expiresAt; return true; }
    if (this.routers.length >= Ip6Limits.MAX_ROUTERS) return false;
    const r = new Router6();
    copyAddr6(r.addr, addr);
    r.expiresAt = expiresAt;
    this.routers.push(r);
    return true;
  }

  /** Receive multicast group `g` too (beyond all-nodes and the solicited-node groups). */
  joinGroup(g: Readonly<Addr6>): void {
    if (!this.groups.some((x) => prefixMatch6(x, g, 128))) this.groups.push(copyAddr6(newAddr6(), g));
  }

  /** Whether we receive multicast `dst[0..3]`: all-nodes, a solicited-node group of ours (tentative ones too, for DAD), a joined group. */
  private isGroupMember(w0: number, w1: number, w2: number, w3: number): boolean {
    if (w0 === 0xff020000 && w1 === 0 && w2 === 0 && w3 === 1) return true;
    if (w0 === 0xff020000 && w1 === 0 && w2 === 1) {
      const a = this.addresses;
      for (let i = 0; i < a.length; i++) if (a[i].solicited[3] === w3) return true;
      return false;
    }
    const g = this.groups;
    for (let i = 0; i < g.length; i++) if (g[i][0] === w0 && g[i][1] === w1 && g[i][2] === w2 && g[i][3] === w3) return true;
    return false;
  }

  /**
   * The source address for traffic to `dst` (RFC 6724, simplified to what a
   * host with one link needs): the link-local address for link-local and
   * link-scope multicast destinations, else a preferred address whose
   * prefix holds `dst`, else any preferred global, else the link-local one.
   */
  selectSource(dst: Readonly<Addr6>): Addr6 | undefined {
    const a = this.addresses;
    let linkLocal: Addr6 | undefined;
    let global: Addr6 | undefined;
    for (let i = 0; i < a.length; i++) {
      const e = a[i];
      if (e.state !== Addr6State.Preferred) continue;
      if (isLinkLocal6(e.addr)) { linkLocal ??= e.addr; continue; }
      if (e.prefixLen < 128 && prefixMatch6(e.addr, dst, e.prefixLen)) return e.addr;
      global ??= e.addr;
    }
    if (isLinkLocal6(dst) || (isMulticast6(dst) && multicastScope6(dst) <= 2)) return linkLocal ?? global;
    return global ?? linkLocal;
  }

  /**
   * The next hop for `dst`, written into `out`: `dst` itself when on-link
   * (link-local, multicast, inside an on-link prefix), else a default
   * router. Returns false when there is none.
   */
  route(dst: Readonly<Addr6>, out: Addr6): boolean {
    if (isMulticast6(dst) || isLinkLocal6(dst)) { copyAddr6(out, dst); return true; }
    const p = this.prefixes;
    for (let i = 0; i < p.length; i++) if (prefixMatch6(p[i].prefix, dst, p[i].len)) { copyAddr6(out, dst); return true; }
    if (this.routers.length === 0) return false;
    copyAddr6(out, this.routers[0].addr);
    return true;
  }

  /** The path MTU towards `dst`: the link MTU unless a Packet Too Big taught a smaller one. */
  pathMtu(dst: Readonly<Addr6>): number {
    const n = this.pmtuAddr.length;
    for (let i = 0; i < n; i++) if (prefixMatch6(this.pmtuAddr[i], dst, 128)) return Math.min(this.pmtuValue[i], this.linkMtu);
    return this.linkMtu;
  }

  /** Lower the path MTU towards `dst` (RFC 8201; never below 1280). */
  learnPathMtu(dst: Readonly<Addr6>, mtu: number): void {
    if (mtu < Ip6Hdr.MIN_MTU) mtu = Ip6Hdr.MIN_MTU;
    if (mtu >= this.linkMtu) return;
    const until = this.env.clock.now() + Ip6Limits.PMTU_EXPIRY_MS;
    for (let i = 0; i < this.pmtuAddr.length; i++) {
      if (prefixMatch6(this.pmtuAddr[i], dst, 128)) { this.pmtuValue[i] = Math.min(mtu, this.pmtuValue[i]); this.pmtuExpires[i] = until; return; }
    }
    if (this.pmtuAddr.length >= Ip6Limits.MAX_PMTU) { this.pmtuAddr.shift(); this.pmtuValue.shift(); this.pmtuExpires.shift(); }
    this.pmtuAddr.push(copyAddr6(newAddr6(), dst));
    this.pmtuValue.push(mtu);
    this.pmtuExpires.push(until);
  }

  // ---- receive ----

  /** Receive an IPv6 packet (mtod at the IPv6 header). Takes ownership. */
  input(m: Mbuf): void {
    const pool = this.env.pool;
    this.inputFrame(m, 0, pool.mtod(m), pool.dataLen(m), pool.pktLen(m));
  }

  /**
   * Receive an IPv6 packet with `l2` bytes of link header before it in the
   * first segment (mtod at the link header). Takes ownership.
   * @param p - index in `pool.u8` of the IPv6 header
   * @param dl - bytes of the first segment from the IPv6 header on
   * @param len - bytes of the packet from the IPv6 header on
   */
  inputFrame(m: Mbuf, l2: number, p: number, dl: number, len: number): void {
    const env = this.env;
    const pool = env.pool;
    if (len < Ip6Hdr.HDR_LEN) return this.drop(m, 'truncated');
    if (dl < Ip6Hdr.HDR_LEN) {
      if (!pullup(pool, m, l2 + Ip6Hdr.HDR_LEN)) return this.drop(m, 'headerSplit');
      dl = pool.dataLen(m) - l2;
    }
    const u8 = pool.u8;
    const dv = pool.dv;
    if (u8[p] >>> 4 !== Ip6Hdr.VERSION_6) return this.drop(m, 'badVersion');
    const plen = (u8[p + Ip6Hdr.PAYLOAD_LEN] << 8) | u8[p + Ip6Hdr.PAYLOAD_LEN + 1];
    const total = Ip6Hdr.HDR_LEN + plen;
    if (total > len) return this.drop(m, 'truncated');
    // Payload length 0 with hop-by-hop options is a jumbogram (RFC 2675), which no link of ours carries.
    if (plen === 0 && u8[p + Ip6Hdr.NEXT_HDR] === Ip6Proto.HOPOPTS) return this.drop(m, 'jumbogram');
    const hopLimit = u8[p + Ip6Hdr.HOP_LIMIT];
    // As IPv4's TTL 0 (RFC 1122 3.2.1.7): no correct sender or router hands a host a packet with none left.
    if (hopLimit === 0) return this.drop(m, 'hopLimitZero');
    const src = this.rxSrc;
    const s0 = src[0] = dv.getUint32(p + Ip6Hdr.SRC);
    const s1 = src[1] = dv.getUint32(p + Ip6Hdr.SRC + 4);
    const s2 = src[2] = dv.getUint32(p + Ip6Hdr.SRC + 8);
    const s3 = src[3] = dv.getUint32(p + Ip6Hdr.SRC + 12);
    // RFC 4291: never a multicast source (2.7), never ::1 from a link (2.5.3), never IPv4-mapped on the wire (2.5.5.2).
    if ((s0 >>> 24) === 0xff || ((s0 | s1 | s2) === 0 && s3 === 1) || (s0 === 0 && s1 === 0 && s2 === 0xffff)) {
      return this.drop(m, 'badSource');
    }
    const dst = this.rxDst;
    const d0 = dst[0] = dv.getUint32(p + Ip6Hdr.DST);
    const d1 = dst[1] = dv.getUint32(p + Ip6Hdr.DST + 4);
    const d2 = dst[2] = dv.getUint32(p + Ip6Hdr.DST + 8);
    const d3 = dst[3] = dv.getUint32(p + Ip6Hdr.DST + 12);
    const multicast = (d0 >>> 24) === 0xff;
    if (multicast) {
      // Scope 0 is reserved (RFC 4291 2.7); scope 1 is interface-local and never on a wire.
      const scope = (d0 >>> 16) & 0xf;
      if (scope === 0 || scope === 1) return this.drop(m, 'badDestination');
      if (!this.isGroupMember(d0, d1, d2, d3)) return this.drop(m, 'notForUs');
      this.counters.multicastReceived++;
    } else {
      const e = this.findAddress(dst);
      if (e === undefined) return this.drop(m, 'notForUs');
      // RFC 4862 5.4: a tentative address receives nothing but DAD's own (multicast) messages.
      if (e.state === Addr6State.Tentative || e.state === Addr6State.Duplicate) return this.drop(m, 'tentativeDestination');
    }
    if (this.closed) return this.drop(m, 'closed');
    // Ethernet pads short frames: the packet is what the header says.
    if (total < len) {
      pool.truncate(m, l2 + total);
      this.counters.trimmed++;
      if (dl > total) dl = total;
    }
    if (l2 !== 0) pool.adj(m, l2);
    this.walk(m, p, dl, total, false, Ip6Hdr.NEXT_HDR, Ip6Hdr.HDR_LEN, hopLimit);
  }

  /**
   * Walk the extension headers (mtod at the IPv6 header `p`, `dl` bytes of
   * it in the first segment, `total` in the packet) from the next-header
   * byte at `prevNextAt`, the first of them at `off`, and deliver.
   */
  private walk(m: Mbuf, p: number, dl: number, total: number, reassembled: boolean, prevNextAt: number, off: number,
    hopLimit: number): void {
    const pool = this.env.pool;
    const u8 = pool.u8;
    let nh = u8[p + prevNextAt];
    for (let n = 0; ; n++) {
      if (n === Ip6Limits.MAX_EXT_HEADERS) return this.drop(m, 'tooManyExtHeaders');
      if (nh === Ip6Proto.HOPOPTS || nh === Ip6Proto.DSTOPTS) {
        // RFC 8200 4.1: hop-by-hop only right after the IPv6 header.
        if (nh === Ip6Proto.HOPOPTS && off !== Ip6Hdr.HDR_LEN) {
          this.icmp.paramProblem(m, Icmp6.PARAM_NEXT_HEADER, prevNextAt);
          return this.drop(m, 'hopByHopNotFirst');
        }
        if (off + Ip6Ext.UNIT > total) return this.drop(m, 'badExtHeader');
        if (off + Ip6Ext.UNIT > dl) { if (!pullup(pool, m, off + Ip6Ext.UNIT)) return this.drop(m, 'headerSplit'); dl = pool.dataLen(m); }
        const hl = (u8[p + off + Ip6Ext.LEN] + 1) << Ip6Ext.UNIT_SHIFT;
        if (off + hl > total) return this.drop(m, 'badExtHeader');
        if (off + hl > dl) { if (!pullup(pool, m, off + hl)) return this.drop(m, 'headerSplit'); dl = pool.dataLen(m); }
        // Options: bounded by the header's own length, each at least one byte.
        const end = off + hl;
        for (let q = off + Ip6Ext.OPTS; q < end;) {
          const t = u8[p + q];
          if (t === Ip6Opt.PAD1) { q++; continue; }
          if (q + 2 > end) return this.drop(m, 'badOption');
          const olen = u8[p + q + 1];
          if (q + 2 + olen > end) return this.drop(m, 'badOption');
          if (t !== Ip6Opt.PADN && !(t === Ip6Opt.ROUTER_ALERT && nh === Ip6Proto.HOPOPTS)) {
            const action = t >>> Ip6Opt.ACTION_SHIFT;
            if (action !== Ip6Opt.ACTION_SKIP) {
              if (action === Ip6Opt.ACTION_DISCARD_ICMP
                || (action === Ip6Opt.ACTION_DISCARD_ICMP_UNICAST && (this.rxDst[0] >>> 24) !== 0xff)) {
                this.icmp.paramProblem(m, Icmp6.PARAM_OPTION, q);
              }
              return this.drop(m, 'unknownOption');
            }
          }
          q += 2 + olen;
        }
        prevNextAt = off;
        nh = u8[p + off + Ip6Ext.NEXT];
        off = end;
        continue;
      }
      if (nh === Ip6Proto.ROUTING) {
        if (off + Ip6Ext.UNIT > total) return this.drop(m, 'badExtHeader');
        if (off + Ip6Ext.UNIT > dl) { if (!pullup(pool, m, off + Ip6Ext.UNIT)) return this.drop(m, 'headerSplit'); dl = pool.dataLen(m); }
        const hl = (u8[p + off + Ip6Ext.LEN] + 1) << Ip6Ext.UNIT_SHIFT;
        if (off + hl > total) return this.drop(m, 'badExtHeader');
        if (off + hl > dl) { if (!pullup(pool, m, off + hl)) return this.drop(m, 'headerSplit'); dl = pool.dataLen(m); }
        if (u8[p + off + Ip6Ext.RT_SEGLEFT] !== 0) {
          // A host routes nothing: every routing type with segments left is one we do not recognise
          // (RFC 8200 4.4), and type 0 is deprecated outright (RFC 5095).
          const type = u8[p + off + Ip6Ext.RT_TYPE];
          this.icmp.paramProblem(m, Icmp6.PARAM_HEADER, off + Ip6Ext.RT_TYPE);
          return this.drop(m, type === 0 ? 'routingType0' : 'routingHeader');
        }
        prevNextAt = off;
        nh = u8[p + off + Ip6Ext.NEXT];
        off += hl;
        continue;
      }
      if (nh === Ip6Proto.FRAGMENT) {
        if (reassembled) return this.drop(m, 'nestedFragment');
        if (off + Ip6Frag.LEN > total) return this.drop(m, 'badExtHeader');
        if (off + Ip6Frag.LEN > dl) { if (!pullup(pool, m, off + Ip6Frag.LEN)) return this.drop(m, 'headerSplit'); dl = pool.dataLen(m); }
        const dv = pool.dv;
        const offFlags = dv.getUint16(p + off + Ip6Frag.OFF_FLAGS);
        const foff = offFlags & Ip6Frag.OFFSET_MASK;
        const more = (offFlags & Ip6Frag.FLAG_M) !== 0;
        if (foff === 0 && !more) {
          // An atomic fragment (RFC 6946): processed alone, never mixed with a reassembly.
          this.counters.atomicFragments++;
          prevNextAt = off;
          nh = u8[p + off + Ip6Frag.NEXT];
          off += Ip6Frag.LEN;
          continue;
        }
        const flen = total - off - Ip6Frag.LEN;
        if (more && (flen & (Ip6Frag.UNIT - 1)) !== 0) {
          this.icmp.paramProblem(m, Icmp6.PARAM_HEADER, Ip6Hdr.PAYLOAD_LEN);
          return this.drop(m, 'badFragmentLength');
        }
        if (foff + flen > Ip6Hdr.MAX_PAYLOAD) {
          this.icmp.paramProblem(m, Icmp6.PARAM_HEADER, off + Ip6Frag.OFF_FLAGS);
          return this.drop(m, 'fragmentTooBig');
        }
        if (flen === 0) return this.drop(m, 'emptyFragment');
        if (foff === 0 && !this.chainComplete(m, p, off + Ip6Frag.LEN, u8[p + off + Ip6Frag.NEXT], total)) {
          // RFC 8200 4.5 / RFC 7112: the first fragment carries the whole header chain.
          this.icmp.paramProblem(m, Icmp6.PARAM_INCOMPLETE_CHAIN, 0);
          return this.drop(m, 'incompleteChain');
        }
        this.counters.fragmentsReceived++;
        const whole = this.reassembly.insert(m, off, prevNextAt, this.env.clock.now());
        if (whole === NO_MBUF) return;
        m = whole;
        p = pool.mtod(m);
        dl = pool.dataLen(m);
        total = pool.pktLen(m);
        reassembled = true;
        // The fragment header is gone: its next header now sits at prevNextAt, the header after it at off.
        nh = u8[p + prevNextAt];
        continue;
      }
      if (nh === Ip6Proto.NONE) return this.drop(m, 'noNextHeader');
      break;
    }
    // Only ND and MLD speak from :: (RFC 4861 7.2.2, RFC 3810 5.2.13): nothing else can be answered.
    const rs = this.rxSrc;
    if ((rs[0] | rs[1] | rs[2] | rs[3]) === 0 && nh !== Ip6Proto.ICMPV6) return this.drop(m, 'badSource');
    const h = this.handlers[nh];
    if (h === undefined) {
      this.icmp.paramProblem(m, Icmp6.PARAM_NEXT_HEADER, prevNextAt);
      return this.drop(m, 'unknownProtocol');
    }
    // Every header walked is in the first segment (pulled up as it was read), so off <= dl.
    const l4len = total - off;
    pool.setDataOff(m, pool.dataOff(m) + off);
    pool.setDataLen(m, dl - off);
    pool.setPktLen(m, l4len);
    const want = l4len < Ip6Limits.PULLUP_L4 ? l4len : Ip6Limits.PULLUP_L4;
    if (dl - off < want && !pullup(pool, m, want)) return this.drop(m, 'headerSplit');
    this.counters.rx++;
    const tclass = (u8[p] << 4 | u8[p + 1] >>> 4) & 0xff;
    h(m, this.rxSrc, this.rxDst, tclass, hopLimit, off);
  }

  /**
   * Whether the headers after a first fragment's fragment header (from
   * `off`, next header `nh`) end inside the fragment, with the fixed part
   * of a known upper-layer header there too. Reads only bytes it checked.
   */
  private chainComplete(m: Mbuf, p: number, off: number, nh: number, total: number): boolean {
    const pool = this.env.pool;
    for (let n = 0; n < Ip6Limits.MAX_EXT_HEADERS; n++) {
      if (nh === Ip6Proto.HOPOPTS || nh === Ip6Proto.DSTOPTS || nh === Ip6Proto.ROUTING) {
        if (off + Ip6Ext.UNIT > total || !pullup(pool, m, off + Ip6Ext.UNIT)) return false;
        const hl = (pool.u8[p + off + Ip6Ext.LEN] + 1) << Ip6Ext.UNIT_SHIFT;
        nh = pool.u8[p + off + Ip6Ext.NEXT];
        off += hl;
        continue;
      }
      const need = nh === Ip6Proto.TCP ? 20 : nh === Ip6Proto.UDP ? 8 : nh === Ip6Proto.ICMPV6 ? 4 : 0;
      return off + need <= total;
    }
    return false;
  }

  // ---- send ----

  /**
   * Send an upper-layer packet: `m` holds it at mtod, with headroom for the
   * IPv6 and Ethernet headers. Prepends the IPv6 header (source chosen by
   * {@link selectSource} unless given), fragments above the path MTU,
   * routes and hands it to the link. Takes ownership of `m`.
   * @param hopLimit - default: the configured one for unicast, 1 for multicast
   * @param src - a source address (the unspecified address for DAD)
   * @param flowLabel - the RFC 6437 flow label (20 bits; TCP hashes one per connection)
   */
  output(m: Mbuf, dst: Readonly<Addr6>, proto: number, tclass = 0, hopLimit = -1, src?: Readonly<Addr6>, flowLabel = 0): void {
    const env = this.env;
    const pool = env.pool;
    if (this.closed) return this.drop(m, 'closed');
    const link = this.link;
    if (link === undefined) return this.drop(m, 'noLink');
    const from = src ?? this.selectSource(dst);
    if (from === undefined) return this.drop(m, 'noSourceAddress');
    const hop = this.txHop;
    if (!this.route(dst, hop)) return this.drop(m, 'noRoute');
    if (hopLimit < 0) hopLimit = isMulticast6(dst) ? 1 : this.config.hopLimit;
    const payload = pool.pktLen(m);
    const tso = (pool.olFlagsHi(m) & MbufLayout.OL_TX_TCP_SEG_HI) !== 0;
    const mtu = this.pmtuAddr.length === 0 ? this.linkMtu : this.pathMtu(dst);
    if (payload + Ip6Hdr.HDR_LEN > mtu && !tso) return this.fragmentOutput(m, from, dst, proto, tclass, hopLimit, mtu, link, flowLabel);
    if (payload > Ip6Hdr.MAX_PAYLOAD && !tso) return this.drop(m, 'tooBig');
    const p = pool.prepend(m, Ip6Hdr.HDR_LEN);
    if (p < 0) return this.drop(m, 'noHeadroom');
    this.writeHeader(p, Math.min(payload, Ip6Hdr.MAX_PAYLOAD), proto, tclass, hopLimit, from, dst, flowLabel);
    const hi = pool.olFlagsHi(m);
    if ((hi & (MbufLayout.OL_TX_L4_MASK_HI | MbufLayout.OL_TX_TCP_SEG_HI)) !== 0) {
      // L4 offloads (set by the upper layer) need the IPV6 flag and the header lengths.
      pool.setOlFlags(m, pool.olFlagsLo(m), hi | MbufLayout.OL_TX_IPV6_HI);
      pool.setTxOffload(m, EthHdr.HDR_LEN, Ip6Hdr.HDR_LEN, (pool.txOffloadLo(m) >>> 16) & 0xff, pool.tsoSegsz(m));
    }
    this.counters.tx++;
    link.output(m, hop);
  }

  /**
   * Send a packet to an on-link neighbour or a link-scope group without
   * routing or fragmentation: Neighbor Discovery's own messages (their next
   * hop is their destination, their source may be `::` during DAD). Takes
   * ownership of `m` (mtod at the upper-layer header).
   */
  outputDirect(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, proto: number, hopLimit: number): void {
    const pool = this.env.pool;
    if (this.closed) return this.drop(m, 'closed');
    const link = this.link;
    if (link === undefined) return this.drop(m, 'noLink');
    const payload = pool.pktLen(m);
    if (payload + Ip6Hdr.HDR_LEN > this.linkMtu) return this.drop(m, 'tooBig');
    const p = pool.prepend(m, Ip6Hdr.HDR_LEN);
    if (p < 0) return this.drop(m, 'noHeadroom');
    this.writeHeader(p, payload, proto, 0, hopLimit, src, dst);
    this.counters.tx++;
    link.output(m, copyAddr6(this.txHop, dst));
  }

  private writeHeader(p: number, plen: number, nh: number, tclass: number, hopLimit: number, src: Readonly<Addr6>, dst: Readonly<Addr6>, flowLabel = 0): void {
    const dv = this.env.pool.dv;
    dv.setUint32(p, ((Ip6Hdr.VERSION_6 << 28) | ((tclass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0);
    dv.setUint16(p + Ip6Hdr.PAYLOAD_LEN, plen);
    dv.setUint8(p + Ip6Hdr.NEXT_HDR, nh);
    dv.setUint8(p + Ip6Hdr.HOP_LIMIT, hopLimit);
    dv.setUint32(p + Ip6Hdr.SRC, src[0]); dv.setUint32(p + Ip6Hdr.SRC + 4, src[1]);
    dv.setUint32(p + Ip6Hdr.SRC + 8, src[2]); dv.setUint32(p + Ip6Hdr.SRC + 12, src[3]);
    dv.setUint32(p + Ip6Hdr.DST, dst[0]); dv.setUint32(p + Ip6Hdr.DST + 4, dst[1]);
    dv.setUint32(p + Ip6Hdr.DST + 8, dst[2]); dv.setUint32(p + Ip6Hdr.DST + 12, dst[3]);
  }

  /**
   * Fragment an over-MTU packet (RFC 8200 §4.5): each fragment is a fresh
   * header mbuf (IPv6 + fragment header) chained to indirect mbufs over the
   * original payload — no payload copy.
   */
  private fragmentOutput(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, proto: number, tclass: number,
    hopLimit: number, mtu: number, link: Ip6Link, flowLabel: number): void {
    const pool = this.env.pool;
    const payload = pool.pktLen(m);
    if (payload > Ip6Hdr.MAX_PAYLOAD - Ip6Frag.LEN) return this.drop(m, 'tooBig');
    const step = (mtu - Ip6Hdr.HDR_LEN - Ip6Frag.LEN) & ~(Ip6Frag.UNIT - 1);
    if (step <= 0) return this.drop(m, 'tooBig');
    const id = this.nextId;
    this.nextId = (id + 1) >>> 0;
    const dv = pool.dv;
    const hop = this.txHop;
    for (let off = 0; off < payload; off += step) {
      const n = Math.min(step, payload - off);
      const h = pool.alloc();
      if (h === NO_MBUF) return this.drop(m, 'noMbuf');
      const body = pool.refSlice(m, off, n);
      if (body === NO_MBUF) { pool.free(h); return this.drop(m, 'noMbuf'); }
      pool.chain(h, body);
      const p = pool.prepend(h, Ip6Hdr.HDR_LEN + Ip6Frag.LEN);
      this.writeHeader(p, Ip6Frag.LEN + n, Ip6Proto.FRAGMENT, tclass, hopLimit, src, dst, flowLabel);
      const f = p + Ip6Hdr.HDR_LEN;
      dv.setUint8(f + Ip6Frag.NEXT, proto);
      dv.setUint8(f + Ip6Frag.RESERVED, 0);
      dv.setUint16(f + Ip6Frag.OFF_FLAGS, off | (off + n < payload ? Ip6Frag.FLAG_M : 0));
      dv.setUint32(f + Ip6Frag.ID, id);
      this.counters.fragmentsSent++;
      link.output(h, hop);
    }
    this.counters.tx++;
    pool.free(m);
  }

  /** Run timers: reassembly timeouts, expiry of routers, prefixes, learnt path MTUs. */
  tick(now: number): void {
    this.reassembly.tick(now);
    const r = this.routers;
    for (let i = r.length - 1; i >= 0; i--) if (r[i].expiresAt <= now) r.splice(i, 1);
    const pf = this.prefixes;
    for (let i = pf.length - 1; i >= 0; i--) if (pf[i].expiresAt <= now) pf.splice(i, 1);
    for (let i = this.pmtuAddr.length - 1; i >= 0; i--) {
      if (this.pmtuExpires[i] <= now) { this.pmtuAddr.splice(i, 1); this.pmtuValue.splice(i, 1); this.pmtuExpires.splice(i, 1); }
    }
  }

  /** When {@link tick} next has work (may be early, never late). */
  nextDeadline(): number {
    let due = this.reassembly.nextDeadline();
    for (const r of this.routers) due = Math.min(due, r.expiresAt);
    for (const p of this.prefixes) due = Math.min(due, p.expiresAt);
    for (const e of this.pmtuExpires) due = Math.min(due, e);
    return due;
  }

  /** Free everything held (fragments being reassembled); refuse further work. */
  close(): void {
    this.closed = true;
    this.reassembly.close();
  }

  /** Whether {@link close} ran. */
  get isClosed(): boolean { return this.closed; }

  private drop(m: Mbuf, reason: Ipv6DropReason): void {
    countDrop(this.counters, reason);
    this.env.pool.free(m);
  }
}

