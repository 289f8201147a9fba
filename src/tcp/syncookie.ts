/**
 * SYN cookies (RFC 4987 §3.6), laid out as Linux does
 * (net/ipv4/syncookies.c): when a listener's SYN queue is full (or always,
 * by configuration) the SYN-ACK's sequence number carries what the
 * connection needs, and no state is kept until the ACK comes back:
 *
 * ```
 * ISS = H0(4-tuple) + ISN_peer + (minute mod 256) · 2^24 + MAC21(4-tuple, minute, mssIndex) · 2^3 + mssIndex
 * ```
 *
 * H0 and MAC21 are SipHash-2-4 under two keys derived from the layer's RFC
 * 6528 secret (src/tcp/isn.ts), MAC21 cut to 21 bits. The ACK's `SEG.ACK − 1`
 * is checked against the current and the previous minute; a valid cookie
 * gives back the index into {@link COOKIE_MSS_TABLE}. Unlike Linux, which
 * adds the index to its hash (so a cookie off by one decodes to a
 * neighbouring MSS), the index is covered by the MAC, as in FreeBSD: any
 * changed bit is refused, and a blind guess passes with probability 2^-21
 * per minute accepted, as with Linux's 24-bit field and 4 values.
 *
 * Window scale, SACK-permitted and ECN ride in the low 6 bits of our timestamp value, which the peer echoes (as Linux and
 * FreeBSD); without timestamps a cookie connection has none of them (Linux
 * clears those options from a cookie SYN-ACK when the SYN had no timestamps).
 *
 * Nothing here allocates per call.
 */
import { SipHash } from '../util/siphash.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import { MbufLayout } from '../mbuf/layout.js';
import { IpProto } from '../ip/ipv4-header.js';
import { putTuple, putTuple6 } from './isn.js';
import type { Addr6 } from '../ip/addr6.js';
import { TcpFlag, TcpHdr, writeTcpHeader, setTcpChecksum, setTcpPseudoChecksum, type TcpSegment } from './header.js';
import { TcpOptLen, synOptionsLength, writeSynOptions, type SynOptions } from './options.js';
import { WSCALE_OFF, type TcpConfig } from './config.js';
import type { TcpEnv } from './layer.js';
import { finishChecksum6, output6, type Tcp6Pair, type AddrKey } from './route.js';
import type { Ip4 } from '../ip/addr.js';

/**
 * MSS values a cookie can carry (3 bits): the largest not above the peer's
 * is chosen. Linux's IPv4 table (536, 1300, 1440, 1460) plus FreeBSD's small
 * and middle values and jumbo frames.
 */
export const COOKIE_MSS_TABLE: readonly number[] = [216, 536, 1200, 1300, 1400, 1440, 1460, 8960];

/** Cookies minted this many minutes ago or fewer are accepted (Linux MAX_SYNCOOKIE_AGE − 1). */
export const COOKIE_MAX_AGE_MINUTES = 1;

/** Cookies are checked at all only this long after the last one was sent (Linux tcp_synq_no_recent_overflow: 2 minutes). */
export const COOKIE_RECENT_MS = 120_000;

const enum Ck {
  BITS = 24,
  /** Bits of the MSS index, below the MAC. */
  IDX_BITS = 3,
  IDX_MASK = 7,
  MAC_MASK = 0x1fffff,
  /** Low bits of the timestamp value that carry options. */
  TS_BITS = 6,
  TS_MASK = 0x3f,
  TS_WSCALE_MASK = 0x0f,
  TS_SACK = 0x10,
  TS_ECN = 0x20,
}

/** The minute counter of clock time `nowMs`. */
export function cookieMinute(nowMs: number): number {
  return Math.floor(nowMs / 60000) >>> 0;
}

/** Index into {@link COOKIE_MSS_TABLE} for a peer that announced `peerMss` (536 when it announced none). */
export function cookieMssIndex(peerMss: number): number {
  const t = COOKIE_MSS_TABLE;
  for (let i = t.length - 1; i > 0; i--) if (t[i] <= peerMss) return i;
  return 0;
}

/**
 * Our timestamp value for a cookie SYN-ACK: `tsNow` with its low 6 bits
 * replaced by the options (peer window shift or 15 for none, SACK, ECN),
 * moved 64 back if that put it ahead of `tsNow`, so TSvals never run ahead.
 * @param wscale - the peer's window shift (0-14), or -1 when it sent none
 */
export function cookieTsVal(tsNow: number, wscale: number, sack: boolean, ecn: boolean): number {
  let o = wscale >= 0 ? Math.min(14, wscale) : Ck.TS_WSCALE_MASK;
  if (sack) o |= Ck.TS_SACK;
  if (ecn) o |= Ck.TS_ECN;
  let ts = ((tsNow & ~Ck.TS_MASK) | o) >>> 0;
  if (((ts - tsNow) | 0) > 0) ts = (ts - (1 << Ck.TS_BITS)) >>> 0;
  return ts;
}

/** The peer's window shift from the echoed timestamp, or -1 for none. */
export function cookieTsWscale(tsEcr: number): number {
  const w = tsEcr & Ck.TS_WSCALE_MASK;
  return w === Ck.TS_WSCALE_MASK ? -1 : w;
}

/** SACK-permitted from the echoed timestamp. */
export function cookieTsSack(tsEcr: number): boolean { return (tsEcr & Ck.TS_SACK) !== 0; }

/** ECN from the echoed timestamp. */
export function cookieTsEcn(tsEcr: number): boolean { return (tsEcr & Ck.TS_ECN) !== 0; }

/** Minting and checking cookies under one secret. */
export class SynCookies {
  private readonly h0: SipHash;
  private readonly h1: SipHash;

  /** @param key0, key1 - two independent 16-byte keys (IsnGenerator.derive) */
  constructor(key0: Uint8Array, key1: Uint8Array) {
    this.h0 = new SipHash(key0);
    this.h1 = new SipHash(key1);
  }

  private hash(h: SipHash, localIp: AddrKey, localPort: number, remoteIp: AddrKey, remotePort: number, minute: number, idx: number): number {
    const b = h.buf;
    putTuple(b, localIp, localPort, remoteIp, remotePort);
    b[12] = minute >>> 24; b[13] = minute >>> 16; b[14] = minute >>> 8; b[15] = minute;
    b[16] = idx;
    return h.hash(17);
  }

  /**
   * Our ISS for a SYN from (remoteIp, remotePort) with sequence number
   * `peerIsn`, carrying `mssIndex` (0-7), minted in `minute`.
   */
  make(localIp: AddrKey, localPort: number, remoteIp: AddrKey, remotePort: number, peerIsn: number, mssIndex: number, minute: number): number {
    const a = this.hash(this.h0, localIp, localPort, remoteIp, remotePort, 0, 0);
    const mac = this.hash(this.h1, localIp, localPort, remoteIp, remotePort, minute, mssIndex) & Ck.MAC_MASK;
    const low = (((minute & 0xff) << Ck.BITS) | (mac << Ck.IDX_BITS) | (mssIndex & Ck.IDX_MASK)) >>> 0;
    return (a + peerIsn + low) >>> 0;
  }

  private hash6(h: SipHash, local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number, minute: number, idx: number): number {
    const b = h.buf;
    putTuple6(b, local, localPort, remote, remotePort);
    b[36] = minute >>> 24; b[37] = minute >>> 16; b[38] = minute >>> 8; b[39] = minute;
    b[40] = idx;
    return h.hash(41);
  }

  /** {@link make} for an IPv6 4-tuple: the same layout, hashed over the 16-byte addresses. */
  make6(local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number, peerIsn: number, mssIndex: number, minute: number): number {
    const a = this.hash6(this.h0, local, localPort, remote, remotePort, 0, 0);
    const mac = this.hash6(this.h1, local, localPort, remote, remotePort, minute, mssIndex) & Ck.MAC_MASK;
    const low = (((minute & 0xff) << Ck.BITS) | (mac << Ck.IDX_BITS) | (mssIndex & Ck.IDX_MASK)) >>> 0;
    return (a + peerIsn + low) >>> 0;
  }

  /** {@link check} for an IPv6 4-tuple. */
  check6(local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number, peerIsn: number, cookie: number, minute: number): number {
    const a = this.hash6(this.h0, local, localPort, remote, remotePort, 0, 0);
    const v = (cookie - a - peerIsn) >>> 0;
    const diff = (minute - (v >>> Ck.BITS)) & 0xff;
    if (diff > COOKIE_MAX_AGE_MINUTES) return -1;
    const idx = v & Ck.IDX_MASK;
    const mac = this.hash6(this.h1, local, localPort, remote, remotePort, (minute - diff) >>> 0, idx) & Ck.MAC_MASK;
    return mac === ((v >>> Ck.IDX_BITS) & Ck.MAC_MASK) ? idx : -1;
  }

  /**
   * Check `cookie` (the ACK's SEG.ACK − 1) for a connection whose peer ISN
   * was `peerIsn` (SEG.SEQ − 1), at `minute`.
   * @returns the MSS index it carries, or -1 when it is not ours, was
   *   tampered with or is older than {@link COOKIE_MAX_AGE_MINUTES}
   */
  check(localIp: AddrKey, localPort: number, remoteIp: AddrKey, remotePort: number, peerIsn: number, cookie: number, minute: number): number {
    const a = this.hash(this.h0, localIp, localPort, remoteIp, remotePort, 0, 0);
    const v = (cookie - a - peerIsn) >>> 0;
    const diff = (minute - (v >>> Ck.BITS)) & 0xff;
    if (diff > COOKIE_MAX_AGE_MINUTES) return -1;
    const idx = v & Ck.IDX_MASK;
    const mac = this.hash(this.h1, localIp, localPort, remoteIp, remotePort, (minute - diff) >>> 0, idx) & Ck.MAC_MASK;
    return mac === ((v >>> Ck.IDX_BITS) & Ck.MAC_MASK) ? idx : -1;
  }
}

// ==================== the cookie SYN-ACK ====================

/** What a cookie SYN-ACK offers, decided from the SYN and the listener's config. */
export interface CookieOffer {
  /** Our ISS (the cookie). */
  iss: number;
  /** Timestamps agreed (the SYN had them and we use them): the options ride in our TSval. */
  ts: boolean;
  /** The peer's window shift, or -1 (also without timestamps: nowhere to keep it). */
  wscale: number;
  sack: boolean;
  ecn: boolean;
}

const synOpts: SynOptions = { mss: 0, wscale: -1, sackPermitted: false, hasTs: false, tsVal: 0, tsEcr: 0 };
const offer: CookieOffer = { iss: 0, ts: false, wscale: -1, sack: false, ecn: false };

/**
 * What a cookie SYN-ACK to `seg` offers (one shared object, overwritten by
 * the next call). Without timestamps there is nowhere to keep window scale,
 * SACK and ECN, so none is offered (as Linux, tcp_clear_options).
 */
export function cookieOffer(cookies: SynCookies, cfg: TcpConfig, seg: TcpSegment, local: AddrKey, remote: AddrKey, now: number,
  v6: Tcp6Pair | null = null): CookieOffer {
  const ts = cfg.timestamps && seg.hasTimestamps;
  offer.ts = ts;
  offer.wscale = ts && cfg.wscale > WSCALE_OFF && seg.wscale >= 0 ? Math.min(TcpOptLen.MAX_WSCALE, seg.wscale) : -1;
  offer.sack = ts && cfg.sack && seg.sackPermitted;
  offer.ecn = ts && cfg.ecn && (seg.flags & (TcpFlag.ECE | TcpFlag.CWR)) === (TcpFlag.ECE | TcpFlag.CWR);
  const idx = cookieMssIndex(seg.mss > 0 ? seg.mss : (v6 !== null ? TcpOptLen.DEFAULT_MSS6 : TcpOptLen.DEFAULT_MSS));
  offer.iss = v6 === null ? cookies.make(local, seg.dstPort, remote, seg.srcPort, seg.seq, idx, cookieMinute(now))
    : cookies.make6(v6.local, seg.dstPort, v6.remote, seg.srcPort, seg.seq, idx, cookieMinute(now));
  return offer;
}

/**
 * Send the SYN-ACK of a cookie: `<SEQ=cookie><ACK=SEG.SEQ+1><CTL=SYN,ACK>`
 * with the options of `o`, keeping no state.
 * @param advMss - the MSS we announce
 * @param rcvWscale - our window shift (announced when the peer offered one)
 * @param tsNow - our TSval clock for this address pair (the options go in its low bits)
 * @returns false when the pool had no mbuf
 */
export function sendCookieSynAck(
  env: TcpEnv, seg: TcpSegment, local: AddrKey, remote: AddrKey, o: CookieOffer,
  advMss: number, rcvWscale: number, window: number, tsNow: number, v6: Tcp6Pair | null = null,
): boolean {
  const pool = env.pool;
  const m = pool.alloc();
  if (m === NO_MBUF) return false;
  synOpts.mss = advMss;
  synOpts.wscale = o.wscale >= 0 ? rcvWscale : -1;
  synOpts.sackPermitted = o.sack;
  synOpts.hasTs = o.ts;
  synOpts.tsVal = o.ts ? cookieTsVal(tsNow, o.wscale, o.sack, o.ecn) : 0;
  synOpts.tsEcr = seg.tsVal;
  const hdrLen = TcpHdr.MinHdr + synOptionsLength(synOpts);
  if (pool.headroom(m) < 14 + 40) pool.setDataOff(m, 14 + 40);
  const at = pool.append(m, hdrLen);
  const flags = TcpFlag.SYN | TcpFlag.ACK | (o.ecn ? TcpFlag.ECE : 0);
  writeTcpHeader(pool.dv, at, seg.dstPort, seg.srcPort, o.iss, (seg.seq + 1) >>> 0, flags, window > 0xffff ? 0xffff : window, hdrLen);
  writeSynOptions(pool.dv, at + TcpHdr.MinHdr, synOpts);
  if (v6 !== null) { finishChecksum6(env, m, v6.local, v6.remote, hdrLen); output6(env, m, v6, 0); return true; }
  // As output.ts finishChecksum: skipped on trusted links, offloaded, or computed.
  if (!env.checksumUnneeded) {
    if (env.txOffloads & MbufLayout.TX_OFFLOAD_TCP_CKSUM) {
      setTcpPseudoChecksum(pool, m, local as Ip4, remote as Ip4, true);
      pool.setOlFlags(m, pool.olFlagsLo(m), pool.olFlagsHi(m) | MbufLayout.OL_TX_TCP_CKSUM_HI | MbufLayout.OL_TX_IPV4_HI);
      pool.setTxOffload(m, 14, 20, hdrLen, 0);
    } else {
      setTcpChecksum(pool, m, local as Ip4, remote as Ip4);
    }
  }
  env.output(m, remote as Ip4, IpProto.TCP, 0);
  return true;
}
