/**
 * TCP option kinds and writers (RFC 9293 §3.2, RFC 7323, RFC 2018).
 *
 * Writers lay options out exactly as Linux does, so packet captures and
 * packetdrill scripts written against Linux line up byte for byte:
 *
 * ```
 * SYN, SACK and TS:   MSS(4) | sackOK(2) TS(10)       | NOP WS(3)
 * SYN, TS only:       MSS(4) | NOP NOP TS(10)         | NOP WS(3)
 * SYN, SACK only:     MSS(4) | NOP NOP sackOK(2)      | NOP WS(3)
 * data:               NOP NOP TS(10) | NOP NOP SACK(2 + 8n)
 * Fast Open, last:     FO(2 + n) NOP-padded | or EXP(4 + n): 254, len, 0xF989, cookie
 * ```
 *
 * Every writer returns the number of bytes written, always a multiple of 4
 * so it can be added to the 20-byte base header directly.
 */

/** Option kinds. */
export const enum TcpOpt {
  /** End of option list. */
  EOL = 0,
  /** No-operation (padding). */
  NOP = 1,
  /** Maximum segment size (SYN only), length 4. */
  MSS = 2,
  /** Window scale (SYN only), length 3. */
  WSCALE = 3,
  /** SACK permitted (SYN only), length 2. */
  SACK_PERM = 4,
  /** SACK blocks, length 2 + 8n. */
  SACK = 5,
  /** Timestamps, length 10. */
  TS = 8,
  /** TCP Fast Open cookie (RFC 7413 §4.1.1), length 2 + cookie. */
  FASTOPEN = 34,
  /** Experimental option (RFC 6994); with magic 0xF989 the pre-RFC Fast Open cookie, length 4 + cookie. */
  EXP = 254,
}

/** RFC 6994 experiment ID of the pre-RFC Fast Open option (kind 254) that Linux still accepts and sends. */
export const FASTOPEN_EXP_MAGIC = 0xf989;

/** Option lengths, and the limits they give. */
export const enum TcpOptLen {
  MSS = 4,
  WSCALE = 3,
  SACK_PERM = 2,
  SACK_BASE = 2,
  SACK_PERBLOCK = 8,
  TS = 10,
  /** Options may take at most 40 bytes (data offset 15 words). */
  MAX_OPTIONS = 40,
  /** The largest window shift RFC 7323 §2.3 allows. */
  MAX_WSCALE = 14,
  /** A window shift that is not there: no window-scale option sent or received. */
  WSCALE_NONE = -1,
  /** RFC 9293 §3.7.1: the MSS assumed when the peer announced none (576 − 40 for IPv4). */
  DEFAULT_MSS = 536,
  /** The same over IPv6: its 1280-byte minimum link MTU less 60 bytes of headers (RFC 8200 §5, RFC 9293 §3.7.1). */
  DEFAULT_MSS6 = 1220,
  /** SACK blocks that fit in a segment without timestamps (4 + 4·8 = 36 bytes). */
  MAX_SACK_BLOCKS = 4,
  /** SACK blocks that fit next to timestamps (12 + 4 + 3·8 = 40 bytes). */
  MAX_SACK_BLOCKS_WITH_TS = 3,
}

// Per-segment code uses the const enums (tsc inlines their numbers; an
// imported const is a load and an initialisation check per use); these names
// are the same values for everyone else.
/** End of option list. */
export const TCPOPT_EOL: number = TcpOpt.EOL;
/** No-operation (padding). */
export const TCPOPT_NOP: number = TcpOpt.NOP;
/** Maximum segment size (SYN only), length 4. */
export const TCPOPT_MSS: number = TcpOpt.MSS;
/** Window scale (SYN only), length 3. */
export const TCPOPT_WSCALE: number = TcpOpt.WSCALE;
/** SACK permitted (SYN only), length 2. */
export const TCPOPT_SACK_PERM: number = TcpOpt.SACK_PERM;
/** SACK blocks, length 2 + 8n. */
export const TCPOPT_SACK: number = TcpOpt.SACK;
/** Timestamps, length 10. */
export const TCPOPT_TS: number = TcpOpt.TS;

export const TCPOLEN_MSS: number = TcpOptLen.MSS;
export const TCPOLEN_WSCALE: number = TcpOptLen.WSCALE;
export const TCPOLEN_SACK_PERM: number = TcpOptLen.SACK_PERM;
export const TCPOLEN_SACK_BASE: number = TcpOptLen.SACK_BASE;
export const TCPOLEN_SACK_PERBLOCK: number = TcpOptLen.SACK_PERBLOCK;
export const TCPOLEN_TS: number = TcpOptLen.TS;
/** Options may take at most 40 bytes (data offset 15 words). */
export const TCP_MAX_OPTIONS: number = TcpOptLen.MAX_OPTIONS;
/** The largest window shift RFC 7323 §2.3 allows. */
export const TCP_MAX_WSCALE: number = TcpOptLen.MAX_WSCALE;
/** A window shift that is not there: no window-scale option sent or received. */
export const WSCALE_NONE: number = TcpOptLen.WSCALE_NONE;
/** RFC 9293 §3.7.1: the MSS assumed when the peer announced none (576 − 40 for IPv4). */
export const TCP_DEFAULT_MSS: number = TcpOptLen.DEFAULT_MSS;
/** SACK blocks that fit in a segment without timestamps (4 + 4·8 = 36 bytes). */
export const MAX_SACK_BLOCKS: number = TcpOptLen.MAX_SACK_BLOCKS;
/** SACK blocks that fit next to timestamps (12 + 4 + 3·8 = 40 bytes). */
export const MAX_SACK_BLOCKS_WITH_TS: number = TcpOptLen.MAX_SACK_BLOCKS_WITH_TS;

/** What a SYN or SYN-ACK announces. Reuse one object per connection; nothing here is retained. */
export interface SynOptions {
  /** MSS to announce; 0 leaves the option out. */
  mss: number;
  /** Window shift to announce, or {@link WSCALE_NONE} for no window-scale option. */
  wscale: number;
  sackPermitted: boolean;
  hasTs: boolean;
  tsVal: number;
  tsEcr: number;
  /** Fast Open option (RFC 7413): -1 none, 0 a cookie request, else the cookie's length in {@link foCookie}. */
  foLen?: number;
  /** Send the Fast Open option as the experimental kind 254 / 0xF989. */
  foExp?: boolean;
  /** The cookie (its first {@link foLen} bytes). */
  foCookie?: Uint8Array | null;
}

/** Bytes of the Fast Open option as written (NOP-padded to a word), 0 when there is none. */
function foOptionLength(o: SynOptions): number {
  const n = o.foLen ?? -1;
  if (n < 0) return 0;
  const len = (o.foExp ? 4 : 2) + n;
  return (len + 3) & ~3;
}

/** Bytes {@link writeSynOptions} will write for `o`. */
export function synOptionsLength(o: SynOptions): number {
  let n = o.mss > 0 ? 4 : 0;
  if (o.hasTs) n += 12; // sackOK+TS or NOP NOP TS
  if (o.wscale >= 0) n += 4;
  if (o.sackPermitted && !o.hasTs) n += 4;
  return n + foOptionLength(o);
}

/** Bytes {@link writeDataOptions} will write (SACK blocks are clamped to what fits). */
export function dataOptionsLength(hasTs: boolean, sackCount: number): number {
  const blocks = clampSackCount(hasTs, sackCount);
  return (hasTs ? 12 : 0) + (blocks > 0 ? 4 + 8 * blocks : 0);
}

/**
 * Option bytes of a segment, to size headroom before writing: SYN options
 * when `syn` is given (a SYN never carries SACK blocks), data options otherwise.
 */
export function optionsLength(syn: SynOptions | null, hasTs: boolean, sackCount: number): number {
  return syn !== null ? synOptionsLength(syn) : dataOptionsLength(hasTs, sackCount);
}

function clampSackCount(hasTs: boolean, n: number): number {
  const max = hasTs ? TcpOptLen.MAX_SACK_BLOCKS_WITH_TS : TcpOptLen.MAX_SACK_BLOCKS;
  return n < 0 ? 0 : n > max ? max : n;
}

/**
 * Write SYN options at `at` in Linux order (`mss, sackOK, TS, nop, wscale`).
 * @returns bytes written (a multiple of 4, at most 40)
 */
export function writeSynOptions(dv: DataView, at: number, o: SynOptions): number {
  let p = at;
  if (o.mss > 0) {
    dv.setUint8(p, TcpOpt.MSS); dv.setUint8(p + 1, TcpOptLen.MSS); dv.setUint16(p + 2, o.mss & 0xffff);
    p += 4;
  }
  if (o.hasTs) {
    if (o.sackPermitted) {
      dv.setUint8(p, TcpOpt.SACK_PERM); dv.setUint8(p + 1, TcpOptLen.SACK_PERM);
    } else {
      dv.setUint8(p, TcpOpt.NOP); dv.setUint8(p + 1, TcpOpt.NOP);
    }
    dv.setUint8(p + 2, TcpOpt.TS); dv.setUint8(p + 3, TcpOptLen.TS);
    dv.setUint32(p + 4, o.tsVal >>> 0); dv.setUint32(p + 8, o.tsEcr >>> 0);
    p += 12;
  }
  if (o.sackPermitted && !o.hasTs) {
    // Linux (tcp_options_write): without timestamps sackOK follows the MSS as NOP NOP sackOK
    dv.setUint8(p, TcpOpt.NOP); dv.setUint8(p + 1, TcpOpt.NOP);
    dv.setUint8(p + 2, TcpOpt.SACK_PERM); dv.setUint8(p + 3, TcpOptLen.SACK_PERM);
    p += 4;
  }
  if (o.wscale >= 0) {
    dv.setUint8(p, TcpOpt.NOP); dv.setUint8(p + 1, TcpOpt.WSCALE); dv.setUint8(p + 2, TcpOptLen.WSCALE);
    dv.setUint8(p + 3, o.wscale > TcpOptLen.MAX_WSCALE ? TcpOptLen.MAX_WSCALE : o.wscale);
    p += 4;
  }
  const foLen = o.foLen ?? -1;
  if (foLen >= 0) {
    // Linux tcp_options_write: the Fast Open option last, NOP-padded to a word.
    const len = (o.foExp ? 4 : 2) + foLen;
    if (o.foExp) { dv.setUint8(p, TcpOpt.EXP); dv.setUint8(p + 1, len); dv.setUint16(p + 2, FASTOPEN_EXP_MAGIC); }
    else { dv.setUint8(p, TcpOpt.FASTOPEN); dv.setUint8(p + 1, len); }
    const q = p + (o.foExp ? 4 : 2);
    for (let i = 0; i < foLen; i++) dv.setUint8(q + i, o.foCookie![i]);
    const padded = (len + 3) & ~3;
    for (let i = len; i < padded; i++) dv.setUint8(p + i, TcpOpt.NOP);
    p += padded;
  }
  return p - at;
}

/**
 * Write the options of a non-SYN segment: timestamps, then SACK blocks
 * (pairs start,end in `sackBlocks`, at most 4, or 3 next to timestamps; the
 * first ones are kept, so put the most recent block first per RFC 2018).
 * @returns bytes written (a multiple of 4, at most 40)
 */
export function writeDataOptions(
  dv: DataView, at: number, hasTs: boolean, tsVal: number, tsEcr: number,
  sackBlocks: Uint32Array, sackCount: number,
): number {
  let p = at;
  if (hasTs) {
    dv.setUint32(p, (TcpOpt.NOP << 24) | (TcpOpt.NOP << 16) | (TcpOpt.TS << 8) | TcpOptLen.TS);
    dv.setUint32(p + 4, tsVal >>> 0); dv.setUint32(p + 8, tsEcr >>> 0);
    p += 12;
  }
  const n = clampSackCount(hasTs, sackCount);
  if (n > 0) {
    dv.setUint32(p, (TcpOpt.NOP << 24) | (TcpOpt.NOP << 16) | (TcpOpt.SACK << 8) | (TcpOptLen.SACK_BASE + 8 * n));
    p += 4;
    for (let i = 0; i < n; i++) {
      dv.setUint32(p, sackBlocks[2 * i]); dv.setUint32(p + 4, sackBlocks[2 * i + 1]);
      p += 8;
    }
  }
  return p - at;
}
