import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { clearRxMetadata, writableHead } from '../eth/ethernet.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import { copyAddr6, isMulticast6, newAddr6, readAddr6, type Addr6 } from './addr6.js';
import { finish, pseudoHeaderSum6, sumBytes, sumChain, updateChecksum16 } from './checksum.js';
import { TokenBucket } from './token-bucket.js';
import { Ip6Hdr, Ip6Proto } from './ipv6-header.js';
import type { Ipv6Layer } from './ipv6.js';
import type { Mbuf } from '../mbuf/index.js';

/**
 * ICMPv6 (RFC 4443): layout, types and codes.
 *
 * ```
 *  0 type   1 code   2 checksum (2, over the IPv6 pseudo-header too)
 *  4 echo: identifier (2), sequence (2) | errors: unused / MTU / pointer (4)
 *  8 echo: data | errors: as much of the invoking packet as fits in 1280 bytes
 * ```
 */
export const enum Icmp6 {
  TYPE = 0,
  CODE = 1,
  CSUM = 2,
  ID = 4,
  SEQ = 6,
  /** Errors: the 32-bit word after the checksum (MTU, pointer). */
  INFO = 4,
  HDR_LEN = 8,

  DEST_UNREACH = 1,
  PACKET_TOO_BIG = 2,
  TIME_EXCEEDED = 3,
  PARAM_PROBLEM = 4,
  ECHO_REQUEST = 128,
  ECHO_REPLY = 129,
  MLD_QUERY = 130,
  MLD_REPORT = 131,
  MLD_DONE = 132,
  ROUTER_SOLICIT = 133,
  ROUTER_ADVERT = 134,
  NEIGHBOR_SOLICIT = 135,
  NEIGHBOR_ADVERT = 136,
  REDIRECT = 137,
  MLD2_REPORT = 143,

  UNREACH_NO_ROUTE = 0,
  UNREACH_ADMIN = 1,
  UNREACH_ADDRESS = 3,
  UNREACH_PORT = 4,
  EXC_HOP_LIMIT = 0,
  EXC_FRAGTIME = 1,
  /** Parameter problem codes: erroneous header field, unrecognised next header, unrecognised option, incomplete chain (RFC 7112). */
  PARAM_HEADER = 0,
  PARAM_NEXT_HEADER = 1,
  PARAM_OPTION = 2,
  PARAM_INCOMPLETE_CHAIN = 3,

  /** Largest error packet: the minimum MTU (RFC 4443 §2.4(c)). */
  ERROR_MAX_PACKET = 1280,
}

export const ICMP6_ECHO_REQUEST: number = Icmp6.ECHO_REQUEST;
export const ICMP6_ECHO_REPLY: number = Icmp6.ECHO_REPLY;

/** ICMPv6 tunables. */
export interface Icmp6Config {
  /** Errors per second allowed on average (token bucket rate). Default 1000. */
  errorRatePerSec: number;
  /** Errors allowed in a burst (bucket size). Default 50. */
  errorBurst: number;
  /** Ignore echo requests to a multicast address (Linux answers them: default false). */
  ignoreMulticastEcho: boolean;
}

/** Defaults for {@link Icmp6Config}. */
export const DEFAULT_ICMP6_CONFIG: Readonly<Icmp6Config> = { errorRatePerSec: 1000, errorBurst: 50, ignoreMulticastEcho: false };

/** Called for each echo reply received; `src` is scratch, `m` (mtod at the ICMPv6 header) is freed after the call. */
export type Echo6ReplyHandler = (src: Addr6, id: number, seq: number, m: Mbuf) => void;
/** Called for each ICMPv6 error received, `m` at the ICMPv6 header (the invoking packet at offset 8); freed after. */
export type Icmp6ErrorHandler = (type: number, code: number, src: Addr6, m: Mbuf) => void;
/**
 * Neighbor Discovery's receiver (types 133-137): `m` at the ICMPv6 header,
 * checksum verified; the handler owns `m`.
 */
export type NdHandler = (type: number, m: Mbuf, src: Addr6, dst: Addr6, hopLimit: number) => void;

/** Why a received ICMPv6 message was dropped. */
export const ICMP6_DROP_REASONS = ['truncated', 'headerSplit', 'badChecksum', 'multicastEcho', 'unspecifiedSource', 'unknownType', 'mldIgnored',
  'noNd', 'badError', 'noSource', 'noMbuf'] as const;
export type Icmp6DropReason = typeof ICMP6_DROP_REASONS[number];
/** Why an ICMPv6 error was not sent. */
export const ICMP6_SUPPRESS_REASONS = ['aboutError', 'toMulticast', 'badSource', 'noSource', 'rateLimited', 'noMbuf'] as const;
export type Icmp6SuppressReason = typeof ICMP6_SUPPRESS_REASONS[number];
const ICMP6_EXTRAS = ['echoRepliesSent', 'echoRepliesReceived', 'echoRequestsSent', 'errorsSent', 'errorsReceived',
  'packetTooBigReceived'] as const;

/**
 * The ICMPv6 layer: echo replies made in place (zero copy), the errors a
 * host sends (rate limited; never about an error, to a multicast address
 * or from an unspecified or multicast source), Packet Too Big acted on
 * (the path MTU, RFC 8201), a ping API, and the hand-off to Neighbor
 * Discovery.
 */
export class Icmp6Layer {
  readonly config: Icmp6Config;
  /** `rx`/`tx` messages, `drops` by reason, plus echo and error counts. */
  readonly counters: Counters<Icmp6DropReason, typeof ICMP6_EXTRAS[number]> = newCounters(ICMP6_DROP_REASONS, ICMP6_EXTRAS);
  /** Errors we chose not to send, by reason. */
  readonly suppressed = {} as Record<Icmp6SuppressReason, number>;
  onEchoReply?: Echo6ReplyHandler;
  onError?: Icmp6ErrorHandler;
  /**
   * Called for each Packet Too Big whose quote holds the invoking IPv6
   * header (after the path MTU is learnt): `mtu` as announced, `m` at the
   * ICMPv6 header, the quoted packet at offset 8 (bounds not checked past
   * the IPv6 header); freed after the call. TCP lowers the MSS of the
   * quoted connection (RFC 8201 §5.2).
   */
  onPacketTooBig?: (mtu: number, m: Mbuf) => void;
  /**
   * Asked before a Packet Too Big is acted on (`m` at the ICMPv6 header):
   * false keeps the path MTU as it was and skips {@link onPacketTooBig}.
   * TCP answers false for a quote of a segment it has no sequence number in
   * flight for (RFC 5927 §4.1; Linux's tcp_v6_err drops such an error before
   * it updates the route), so a forged or stale error cannot shrink a path.
   */
  believeTooBig?: (m: Mbuf) => boolean;
  /** Set by Neighbor Discovery. */
  nd?: NdHandler;
  /** Set by Neighbor Discovery to answer multicast listener queries (our groups); the handler owns `m`. */
  mldQuery?: (m: Mbuf, src: Addr6, dst: Addr6, hopLimit: number) => void;
  /**
   * Shown each Neighbor Discovery message (router/neighbor solicitation and
   * advertisement, redirect) before ND takes it: `m` at the ICMPv6 header,
   * `hdrLen` the IPv6 headers before it. The callee must not keep or free
   * `m` (the kernel exception path copies it, as it copies ARP).
   */
  onNdMessage?: (m: Mbuf, hdrLen: number) => void;
  /** The error rate limit. */
  private readonly bucket: TokenBucket;
  private readonly scratch = newAddr6();
  private readonly errDst = newAddr6();

  constructor(private readonly ip: Ipv6Layer, config: Partial<Icmp6Config> = {}) {
    this.config = { ...DEFAULT_ICMP6_CONFIG, ...config };
    for (const r of ICMP6_SUPPRESS_REASONS) this.suppressed[r] = 0;
    this.counters.suppressed = this.suppressed;
    this.bucket = new TokenBucket(ip.clock, this.config);
  }

  /** Receive an ICMPv6 message (an {@link Ip6Handler}). Takes ownership. */
  input(m: Mbuf, src: Addr6, dst: Addr6, tclass: number, hopLimit: number, hdrLen: number): void {
    const ip = this.ip;
    const pool = ip.pool;
    const len = pool.pktLen(m);
    if (len < 4) return this.drop(m, 'truncated');
    if (pool.dataLen(m) < 4) return this.drop(m, 'headerSplit');
    if (!ip.checksumUnneeded && finish(sumChain(pool, m, 0, len, pseudoHeaderSum6(src, dst, Ip6Proto.ICMPV6, len))) !== 0) {
      return this.drop(m, 'badChecksum');
    }
    let p = pool.mtod(m);
    const u8 = pool.u8;
    const dv = pool.dv;
    const type = u8[p + Icmp6.TYPE];
    const c = this.counters;
    switch (type) {
      case Icmp6.ECHO_REQUEST: {
        if (len < Icmp6.HDR_LEN) return this.drop(m, 'truncated');
        // An echo from :: has nobody to answer.
        if ((src[0] | src[1] | src[2] | src[3]) === 0) return this.drop(m, 'unspecifiedSource');
        const mcast = isMulticast6(dst);
        if (mcast && this.config.ignoreMulticastEcho) return this.drop(m, 'multicastEcho');
        c.rx++;
        // The request becomes the reply: our address it was sent to answers (RFC 4443 §4.2).
        const from = mcast ? ip.selectSource(src) : dst;
        if (from === undefined) return this.drop(m, 'noSource');
        const to = copyAddr6(this.scratch, src);
        const fromCopy = copyAddr6(this.errDst, from);
        m = writableHead(pool, m);
        if (m === NO_MBUF) { countDrop(c, 'noMbuf'); return; }
        p = pool.mtod(m);
        u8[p + Icmp6.TYPE] = Icmp6.ECHO_REPLY;
        if (mcast) {
          // Our source is not the address asked: the pseudo-header changed, sum it all again.
          dv.setUint16(p + Icmp6.CSUM, 0);
          dv.setUint16(p + Icmp6.CSUM, finish(sumChain(pool, m, 0, len, pseudoHeaderSum6(fromCopy, to, Ip6Proto.ICMPV6, len))));
        } else {
          // Source and destination only swap places, which leaves the pseudo-header's sum as it was:
          // only the type changed (RFC 1624).
          const code = u8[p + Icmp6.CODE];
          dv.setUint16(p + Icmp6.CSUM, updateChecksum16(dv.getUint16(p + Icmp6.CSUM), (Icmp6.ECHO_REQUEST << 8) | code,
            (Icmp6.ECHO_REPLY << 8) | code));
        }
        clearRxMetadata(pool, m);
        c.tx++;
        c.echoRepliesSent++;
        ip.output(m, to, Ip6Proto.ICMPV6, tclass, -1, fromCopy);
        return;
      }
      case Icmp6.ECHO_REPLY:
        if (len < Icmp6.HDR_LEN) return this.drop(m, 'truncated');
        c.rx++;
        c.echoRepliesReceived++;
        if (this.onEchoReply) this.onEchoReply(src, dv.getUint16(p + Icmp6.ID), dv.getUint16(p + Icmp6.SEQ), m);
        pool.free(m);
        return;
      case Icmp6.ROUTER_SOLICIT:
      case Icmp6.ROUTER_ADVERT:
      case Icmp6.NEIGHBOR_SOLICIT:
      case Icmp6.NEIGHBOR_ADVERT:
      case Icmp6.REDIRECT:
        if (this.onNdMessage !== undefined) this.onNdMessage(m, hdrLen);
        if (this.nd === undefined) return this.drop(m, 'noNd');
        c.rx++;
        this.nd(type, m, src, dst, hopLimit);
        return;
      case Icmp6.MLD_QUERY:
        if (this.mldQuery === undefined) return this.drop(m, 'mldIgnored');
        c.rx++;
        this.mldQuery(m, src, dst, hopLimit);
        return;
      case Icmp6.MLD_REPORT:
      case Icmp6.MLD_DONE:
      case Icmp6.MLD2_REPORT:
        return this.drop(m, 'mldIgnored');
      default:
        break;
    }
    if (type >= 128) return this.drop(m, 'unknownType'); // unknown informational: discarded (RFC 4443 §2.4(b))
    // Errors, known or not, go up (RFC 4443 §2.4(b)); they must quote at least the invoking IPv6 header.
    if (len < Icmp6.HDR_LEN + Ip6Hdr.HDR_LEN) return this.drop(m, 'badError');
    c.rx++;
    c.errorsReceived++;
    if (type === Icmp6.PACKET_TOO_BIG) {
      c.packetTooBigReceived++;
      // The invoking packet's destination is the path that is narrower.
      const q = Icmp6.HDR_LEN + Ip6Hdr.DST;
      if (pool.dataLen(m) >= q + Ip6Hdr.ALEN && (this.believeTooBig === undefined || this.believeTooBig(m))) {
        ip.learnPathMtu(readAddr6(dv, p + q, this.scratch), dv.getUint32(p + Icmp6.INFO));
        // RFC 8201 §5.2: the transport of the quoted packet lowers its segment size too.
        if (this.onPacketTooBig) this.onPacketTooBig(dv.getUint32(p + Icmp6.INFO), m);
      }
    }
    if (this.onError) this.onError(type, u8[p + Icmp6.CODE], src, m);
    pool.free(m);
  }

  /**
   * Send an echo request to `dst` with `payload` (bytes, or a length of a
   * 0,1,2… pattern); replies arrive at {@link onEchoReply}.
   * @returns false when the pool is empty or no source address exists yet
   */
  ping(dst: Readonly<Addr6>, id: number, seq: number, payload: Uint8Array | number = 56): boolean {
    const ip = this.ip;
    const pool = ip.pool;
    const from = ip.selectSource(dst);
    if (from === undefined) return false;
    const bytes = typeof payload === 'number' ? Uint8Array.from({ length: payload }, (_, i) => i & 0xff) : payload;
    const m = pool.fromBytes(bytes);
    if (m === NO_MBUF) { countDrop(this.counters, 'noMbuf'); return false; }
    const p = pool.prepend(m, Icmp6.HDR_LEN);
    const dv = pool.dv;
    dv.setUint16(p + Icmp6.TYPE, Icmp6.ECHO_REQUEST << 8);
    dv.setUint16(p + Icmp6.CSUM, 0);
    dv.setUint16(p + Icmp6.ID, id);
    dv.setUint16(p + Icmp6.SEQ, seq);
    const len = pool.pktLen(m);
    dv.setUint16(p + Icmp6.CSUM, finish(sumChain(pool, m, 0, len, pseudoHeaderSum6(from, dst, Ip6Proto.ICMPV6, len))));
    this.counters.tx++;
    this.counters.echoRequestsSent++;
    ip.output(m, dst, Ip6Proto.ICMPV6, 0, -1, from);
    return true;
  }

  /**
   * Send an ICMPv6 message we built: `m` holds it at mtod from the type on
   * (checksum field ignored), filled in here over the pseudo-header; then
   * straight to the link (on-link destination, no routing) with the given
   * source and hop limit. Takes ownership. Neighbor Discovery sends through this.
   */
  sendMessage(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, hopLimit: number): void {
    const ip = this.ip;
    const pool = ip.pool;
    const dv = pool.dv;
    const p = pool.mtod(m);
    const len = pool.pktLen(m);
    dv.setUint16(p + Icmp6.CSUM, 0);
    dv.setUint16(p + Icmp6.CSUM, finish(sumChain(pool, m, 0, len, pseudoHeaderSum6(src, dst, Ip6Proto.ICMPV6, len))));
    this.counters.tx++;
    ip.outputDirect(m, src, dst, Ip6Proto.ICMPV6, hopLimit);
  }

  /** Parameter Problem about a packet with mtod at its IPv6 header; `pointer` is an offset from that header. */
  paramProblem(m: Mbuf, code: number, pointer: number): boolean {
    return this.sendError(m, 0, Icmp6.PARAM_PROBLEM, code, pointer);
  }

  /** Time Exceeded (fragment reassembly time exceeded) about a first fragment (mtod at its IPv6 header). */
  timeExceededReassembly(m: Mbuf): void {
    this.sendError(m, 0, Icmp6.TIME_EXCEEDED, Icmp6.EXC_FRAGTIME, 0);
  }

  /**
   * Send an ICMPv6 error about the received packet `m`, whose IPv6 header
   * sits `back` bytes before mtod in the first segment (0 when mtod is at
   * it; an {@link Ip6Handler}'s `hdrLen` for an upper layer). Does not take
   * ownership.
   * @param info - the 32-bit word after the checksum (MTU, pointer)
   * @returns whether an error was sent
   */
  sendError(m: Mbuf, back: number, type: number, code: number, info: number): boolean {
    const ip = this.ip;
    const pool = ip.pool;
    const u8 = pool.u8;
    const dv = pool.dv;
    const hp = pool.mtod(m) - back;
    const osrc = readAddr6(dv, hp + Ip6Hdr.SRC, newAddr6());
    const odst = readAddr6(dv, hp + Ip6Hdr.DST, this.errDst);
    // RFC 4443 §2.4(e): not to a multicast destination, except Packet Too Big and an unrecognised option that asks for it.
    if (isMulticast6(odst) && type !== Icmp6.PACKET_TOO_BIG && !(type === Icmp6.PARAM_PROBLEM && code === Icmp6.PARAM_OPTION)) {
      return this.suppress('toMulticast');
    }
    if ((osrc[0] | osrc[1] | osrc[2] | osrc[3]) === 0 || isMulticast6(osrc)) return this.suppress('badSource');
    // Never about an error: look at the upper-layer header when the IPv6 header names ICMPv6 directly.
    if (u8[hp + Ip6Hdr.NEXT_HDR] === Ip6Proto.ICMPV6) {
      const l4 = back === 0 ? Ip6Hdr.HDR_LEN : back;
      if (pool.dataLen(m) + back < l4 + 1 || u8[hp + l4] < 128) return this.suppress('aboutError');
    }
    const from = isMulticast6(odst) || ip.findAddress(odst) === undefined ? ip.selectSource(osrc) : odst;
    if (from === undefined) return this.suppress('noSource');
    const fromCopy = copyAddr6(newAddr6(), from);
    if (!this.bucket.take()) return this.suppress('rateLimited');
    const max = Icmp6.ERROR_MAX_PACKET - Ip6Hdr.HDR_LEN - Icmp6.HDR_LEN;
    const quoted = Math.min(back + pool.pktLen(m), max);
    const e = pool.alloc();
    if (e === NO_MBUF) return this.suppress('noMbuf');
    const at = pool.append(e, Icmp6.HDR_LEN + quoted);
    if (at < 0) { pool.free(e); return this.suppress('noMbuf'); }
    u8[at + Icmp6.TYPE] = type;
    u8[at + Icmp6.CODE] = code;
    dv.setUint16(at + Icmp6.CSUM, 0);
    dv.setUint32(at + Icmp6.INFO, info >>> 0);
    const head = Math.min(back, quoted);
    u8.copyWithin(at + Icmp6.HDR_LEN, hp, hp + head);
    pool.copyOut(m, 0, u8, at + Icmp6.HDR_LEN + head, quoted - head);
    const len = Icmp6.HDR_LEN + quoted;
    dv.setUint16(at + Icmp6.CSUM, finish(sumBytes(dv, at, len, pseudoHeaderSum6(fromCopy, osrc, Ip6Proto.ICMPV6, len))));
    this.counters.tx++;
    this.counters.errorsSent++;
    ip.output(e, osrc, Ip6Proto.ICMPV6, 0, -1, fromCopy);
    return true;
  }

  private suppress(reason: Icmp6SuppressReason): boolean {
    this.suppressed[reason]++;
    return false;
  }

  private drop(m: Mbuf, reason: Icmp6DropReason): void {
    countDrop(this.counters, reason);
    this.ip.pool.free(m);
  }
}
