import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { clearRxMetadata, writableHead } from '../eth/ethernet.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import { finish, sumBytes, sumChain, updateChecksum16 } from './checksum.js';
import { TokenBucket } from './token-bucket.js';
import {
  IP_DST, IP_FRAG, IP_HDR_LEN, IP_MAX_HDR_LEN, IP_OFFSET_MASK, IP_PROTO, IP_SRC, IP_TOTAL_LEN, IP_VER_IHL, IP_VERSION_4,
  IPPROTO_ICMP, isMulticastOrClassE,
} from './ipv4-header.js';
import type { Ipv4Layer } from './ipv4.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from './addr.js';

/**
 * ICMP (RFC 792) as a host needs it (RFC 1122 §3.2.2).
 *
 * ```
 *  0 type   1 code   2 checksum (2)
 *  4 echo: identifier (2), sequence (2) | errors: unused / pointer / next-hop MTU (4)
 *  8 echo: data | errors: the offending IP header and the start of its payload
 * ```
 */
export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CSUM = 2;
export const ICMP_ID = 4;
export const ICMP_SEQ = 6;
/** Errors: the 32-bit word after the checksum (unused, pointer or next-hop MTU). */
export const ICMP_INFO = 4;
export const ICMP_HDR_LEN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_TIMESTAMP = 13;
export const ICMP_TIMESTAMP_REPLY = 14;
/** The last query type (address mask reply, RFC 950). */
export const ICMP_ADDRESS_MASK_REPLY = 18;

export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
export const ICMP_UNREACH_FRAG_NEEDED = 4;
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

/** Largest error datagram (RFC 1812 §4.3.2.3: no more than 576 bytes). */
const ERROR_MAX_DATAGRAM = 576;

/** ICMP tunables. */
export interface IcmpConfig {
  /** Errors per second allowed on average (token bucket rate). Default 1000, as Linux. */
  errorRatePerSec: number;
  /** Errors allowed in a burst (bucket size). Default 50, as Linux. */
  errorBurst: number;
  /** Ignore echo requests sent to a broadcast address (Linux's default). Default true. */
  ignoreBroadcastEcho: boolean;
}

/** Defaults for {@link IcmpConfig}. */
export const DEFAULT_ICMP_CONFIG: Readonly<IcmpConfig> = { errorRatePerSec: 1000, errorBurst: 50, ignoreBroadcastEcho: true };

/** Called for each echo reply received; `m` (mtod at the ICMP header) is freed after the call. */
export type EchoReplyHandler = (src: Ip4, id: number, seq: number, m: Mbuf) => void;
/**
 * Called for each ICMP error received, with `m` at the ICMP header (the
 * offending datagram starts at offset 8); `m` is freed after the call.
 */
export type IcmpErrorHandler = (type: number, code: number, src: Ip4, m: Mbuf) => void;

/** Why a received ICMP message was dropped. */
export const ICMP_DROP_REASONS = ['truncated', 'headerSplit', 'badChecksum', 'broadcastEcho', 'unknownType', 'noMbuf'] as const;
export type IcmpDropReason = typeof ICMP_DROP_REASONS[number];
/** Why an ICMP error was not sent. */
export const ICMP_SUPPRESS_REASONS = ['aboutFragment', 'aboutError', 'toBroadcast', 'badSource', 'noHeader', 'rateLimited', 'noMbuf'] as const;
export type IcmpSuppressReason = typeof ICMP_SUPPRESS_REASONS[number];
const ICMP_EXTRAS = ['echoRepliesSent', 'echoRepliesReceived', 'echoRequestsSent', 'errorsSent', 'errorsReceived'] as const;

/** The query types (RFC 1122 3.2.2: errors are never sent about an error, only about these). */
function isQueryType(t: number): boolean {
  return t === ICMP_ECHO_REPLY || t === ICMP_ECHO || (t >= ICMP_TIMESTAMP && t <= ICMP_ADDRESS_MASK_REPLY);
}

/**
 * The ICMP layer: echo replies made in place from the request (zero copy),
 * errors about datagrams we could not deliver (rate limited, and never about
 * an error, a broadcast or a non-first fragment), and a small ping API.
 */
export class IcmpLayer {
  readonly config: IcmpConfig;
  /** `rx`/`tx` messages, `drops` by reason, plus echo and error counts. */
  readonly counters: Counters<IcmpDropReason, typeof ICMP_EXTRAS[number]> = newCounters(ICMP_DROP_REASONS, ICMP_EXTRAS);
  /** Errors we chose not to send, by reason. */
  readonly suppressed = {} as Record<IcmpSuppressReason, number>;
  /** Set to receive echo replies (ping). */
  onEchoReply?: EchoReplyHandler;
  /** Set to learn about errors received (e.g. for TCP). */
  onError?: IcmpErrorHandler;
  /** The error rate limit. */
  private readonly bucket: TokenBucket;

  constructor(private readonly ip: Ipv4Layer, config: Partial<IcmpConfig> = {}) {
    this.config = { ...DEFAULT_ICMP_CONFIG, ...config };
    for (const r of ICMP_SUPPRESS_REASONS) this.suppressed[r] = 0;
    this.counters.suppressed = this.suppressed;
    this.bucket = new TokenBucket(ip.clock, this.config);
  }

  /** Receive an ICMP message (an {@link IpHandler}). Takes ownership. */
  input(m: Mbuf, src: Ip4, dst: Ip4, tos: number): void {
    const pool = this.ip.pool;
    const len = pool.pktLen(m);
    if (len < ICMP_HDR_LEN) return this.drop(m, 'truncated');
    if (pool.dataLen(m) < ICMP_HDR_LEN) return this.drop(m, 'headerSplit');
    if (!this.ip.checksumUnneeded && finish(sumChain(pool, m, 0, len)) !== 0) return this.drop(m, 'badChecksum');
    let p = pool.mtod(m);
    const u8 = pool.u8;
    const type = u8[p + ICMP_TYPE];
    const c = this.counters;
    switch (type) {
      case ICMP_ECHO: {
        if (this.config.ignoreBroadcastEcho && this.ip.isBroadcast(dst)) return this.drop(m, 'broadcastEcho');
        c.rx++;
        // The request becomes the reply: type 8 -> 0, checksum patched (RFC 1624).
        m = writableHead(pool, m);
        if (m === NO_MBUF) { countDrop(c, 'noMbuf'); return; }
        p = pool.mtod(m);
        const code = u8[p + ICMP_CODE];
        u8[p + ICMP_TYPE] = ICMP_ECHO_REPLY;
        const dv = pool.dv;
        dv.setUint16(p + ICMP_CSUM, updateChecksum16(dv.getUint16(p + ICMP_CSUM), (ICMP_ECHO << 8) | code, code));
        clearRxMetadata(pool, m);
        c.tx++;
        c.echoRepliesSent++;
        this.ip.output(m, src, IPPROTO_ICMP, tos);
        return;
      }
      case ICMP_ECHO_REPLY:
        c.rx++;
        c.echoRepliesReceived++;
        if (this.onEchoReply) this.onEchoReply(src, pool.dv.getUint16(p + ICMP_ID), pool.dv.getUint16(p + ICMP_SEQ), m);
        pool.free(m);
        return;
      case ICMP_DEST_UNREACH:
      case ICMP_SOURCE_QUENCH:
      case ICMP_REDIRECT:
      case ICMP_TIME_EXCEEDED:
      case ICMP_PARAM_PROBLEM:
        c.rx++;
        c.errorsReceived++;
        if (this.onError) this.onError(type, u8[p + ICMP_CODE], src, m);
        pool.free(m);
        return;
      default:
        return this.drop(m, 'unknownType');
    }
  }

  /**
   * Send an echo request to `dst` with `payload` (bytes, or a length of a
   * 0,1,2… pattern); replies arrive at {@link onEchoReply}.
   * @returns false when the pool is empty
   */
  ping(dst: Ip4, id: number, seq: number, payload: Uint8Array | number = 56): boolean {
    const pool = this.ip.pool;
    const bytes = typeof payload === 'number' ? Uint8Array.from({ length: payload }, (_, i) => i & 0xff) : payload;
    const m = pool.fromBytes(bytes);
    if (m === NO_MBUF) { countDrop(this.counters, 'noMbuf'); return false; }
    const p = pool.prepend(m, ICMP_HDR_LEN);
    const dv = pool.dv;
    dv.setUint16(p + ICMP_TYPE, ICMP_ECHO << 8);
    dv.setUint16(p + ICMP_CSUM, 0);
    dv.setUint16(p + ICMP_ID, id);
    dv.setUint16(p + ICMP_SEQ, seq);
    dv.setUint16(p + ICMP_CSUM, finish(sumChain(pool, m, 0, pool.pktLen(m))));
    this.counters.tx++;
    this.counters.echoRequestsSent++;
    this.ip.output(m, dst, IPPROTO_ICMP, 0);
    return true;
  }

  /** Time Exceeded (fragment reassembly time exceeded) about a first fragment. */
  timeExceededReassembly(m: Mbuf): void {
    this.sendError(m, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, 0);
  }

  /**
   * Send an ICMP error about the received datagram `m`: mtod at its IP
   * payload, with its IP header still just before it in the first segment
   * (as every {@link IpHandler} receives it). Does not take ownership.
   * @param info - the 32-bit word after the checksum (pointer, next-hop MTU)
   * @returns whether an error was sent
   */
  sendError(m: Mbuf, type: number, code: number, info: number): boolean {
    const ip = this.ip;
    const pool = ip.pool;
    const ihl = this.findHeader(m);
    if (ihl < 0) return this.suppress('noHeader');
    const u8 = pool.u8;
    const dv = pool.dv;
    const hp = pool.mtod(m) - ihl;
    if ((dv.getUint16(hp + IP_FRAG) & IP_OFFSET_MASK) !== 0) return this.suppress('aboutFragment');
    const osrc = dv.getUint32(hp + IP_SRC) as Ip4;
    const odst = dv.getUint32(hp + IP_DST);
    if (ip.isBroadcast(odst) || isMulticastOrClassE(odst)) return this.suppress('toBroadcast');
    if (osrc === 0 || ip.isBroadcast(osrc) || isMulticastOrClassE(osrc)) return this.suppress('badSource');
    if (u8[hp + IP_PROTO] === IPPROTO_ICMP) {
      if (pool.pktLen(m) < 1 || pool.dataLen(m) < 1 || !isQueryType(u8[pool.mtod(m)])) return this.suppress('aboutError');
    }
    if (!this.bucket.take()) return this.suppress('rateLimited');
    const quoted = Math.min(ihl + pool.pktLen(m), ERROR_MAX_DATAGRAM - IP_HDR_LEN - ICMP_HDR_LEN);
    const e = pool.alloc();
    if (e === NO_MBUF) return this.suppress('noMbuf');
    const at = pool.append(e, ICMP_HDR_LEN + quoted);
    if (at < 0) { pool.free(e); return this.suppress('noMbuf'); }
    u8[at + ICMP_TYPE] = type;
    u8[at + ICMP_CODE] = code;
    dv.setUint16(at + ICMP_CSUM, 0);
    dv.setUint32(at + ICMP_INFO, info >>> 0);
    u8.copyWithin(at + ICMP_HDR_LEN, hp, hp + ihl);
    pool.copyOut(m, 0, u8, at + ICMP_HDR_LEN + ihl, quoted - ihl);
    dv.setUint16(at + ICMP_CSUM, finish(sumBytes(dv, at, ICMP_HDR_LEN + quoted)));
    this.counters.tx++;
    this.counters.errorsSent++;
    ip.output(e, osrc, IPPROTO_ICMP, 0xc0); // precedence "internetwork control", as Linux
    return true;
  }

  /**
   * IHL of the IP header just before mtod(m): the one candidate whose
   * version/IHL byte and total length agree with where it sits; -1 if none.
   */
  private findHeader(m: Mbuf): number {
    const pool = this.ip.pool;
    const room = pool.headroom(m);
    const p = pool.mtod(m);
    const len = pool.pktLen(m);
    for (let ihl = IP_HDR_LEN; ihl <= IP_MAX_HDR_LEN && ihl <= room; ihl += 4) {
      const hp = p - ihl;
      if (pool.u8[hp + IP_VER_IHL] === (IP_VERSION_4 | (ihl >>> 2)) && pool.dv.getUint16(hp + IP_TOTAL_LEN) === ihl + len) return ihl;
    }
    return -1;
  }

  private suppress(reason: IcmpSuppressReason): boolean {
    this.suppressed[reason]++;
    return false;
  }

  private drop(m: Mbuf, reason: IcmpDropReason): void {
    countDrop(this.counters, reason);
    this.ip.pool.free(m);
  }
}
