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
 * ```
 *
 * Every writer returns the number of bytes written, always a multiple of 4
 * so it can be added to the 20-byte base header directly.
 */

/** End of option list. */
export const TCPOPT_EOL = 0;
/** No-operation (padding). */
export const TCPOPT_NOP = 1;
/** Maximum segment size (SYN only), length 4. */
export const TCPOPT_MSS = 2;
/** Window scale (SYN only), length 3. */
export const TCPOPT_WSCALE = 3;
/** SACK permitted (SYN only), length 2. */
export const TCPOPT_SACK_PERM = 4;
/** SACK blocks, length 2 + 8n. */
export const TCPOPT_SACK = 5;
/** Timestamps, length 10. */
export const TCPOPT_TS = 8;

export const TCPOLEN_MSS = 4;
export const TCPOLEN_WSCALE = 3;
export const TCPOLEN_SACK_PERM = 2;
export const TCPOLEN_SACK_BASE = 2;
export const TCPOLEN_SACK_PERBLOCK = 8;
export const TCPOLEN_TS = 10;
/** Options may take at most 40 bytes (data offset 15 words). */
export const TCP_MAX_OPTIONS = 40;
/** The largest window shift RFC 7323 §2.3 allows. */
export const TCP_MAX_WSCALE = 14;
/** A window shift that is not there: no window-scale option sent or received. */
export const WSCALE_NONE = -1;
/** RFC 9293 §3.7.1: the MSS assumed when the peer announced none (576 − 40 for IPv4). */
export const TCP_DEFAULT_MSS = 536;
/** SACK blocks that fit in a segment without timestamps (4 + 4·8 = 36 bytes). */
export const MAX_SACK_BLOCKS = 4;
/** SACK blocks that fit next to timestamps (12 + 4 + 3·8 = 40 bytes). */
export const MAX_SACK_BLOCKS_WITH_TS = 3;

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
}

/** Bytes {@link writeSynOptions} will write for `o`. */
export function synOptionsLength(o: SynOptions): number {
  let n = o.mss > 0 ? 4 : 0;
  if (o.hasTs) n += 12; // sackOK+TS or NOP NOP TS
  if (o.wscale >= 0) n += 4;
  if (o.sackPermitted && !o.hasTs) n += 4;
  return n;
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
  const max = hasTs ? MAX_SACK_BLOCKS_WITH_TS : MAX_SACK_BLOCKS;
  return n < 0 ? 0 : n > max ? max : n;
}

/**
 * Write SYN options at `at` in Linux order (`mss, sackOK, TS, nop, wscale`).
 * @returns bytes written (a multiple of 4, at most 20)
 */
export function writeSynOptions(dv: DataView, at: number, o: SynOptions): number {
  let p = at;
  if (o.mss > 0) {
    dv.setUint8(p, TCPOPT_MSS); dv.setUint8(p + 1, TCPOLEN_MSS); dv.setUint16(p + 2, o.mss & 0xffff);
    p += 4;
  }
  if (o.hasTs) {
    if (o.sackPermitted) {
      dv.setUint8(p, TCPOPT_SACK_PERM); dv.setUint8(p + 1, TCPOLEN_SACK_PERM);
    } else {
      dv.setUint8(p, TCPOPT_NOP); dv.setUint8(p + 1, TCPOPT_NOP);
    }
    dv.setUint8(p + 2, TCPOPT_TS); dv.setUint8(p + 3, TCPOLEN_TS);
    dv.setUint32(p + 4, o.tsVal >>> 0); dv.setUint32(p + 8, o.tsEcr >>> 0);
    p += 12;
  }
  if (o.sackPermitted && !o.hasTs) {
    // Linux (tcp_options_write): without timestamps sackOK follows the MSS as NOP NOP sackOK
    dv.setUint8(p, TCPOPT_NOP); dv.setUint8(p + 1, TCPOPT_NOP);
    dv.setUint8(p + 2, TCPOPT_SACK_PERM); dv.setUint8(p + 3, TCPOLEN_SACK_PERM);
    p += 4;
  }
  if (o.wscale >= 0) {
    dv.setUint8(p, TCPOPT_NOP); dv.setUint8(p + 1, TCPOPT_WSCALE); dv.setUint8(p + 2, TCPOLEN_WSCALE);
    dv.setUint8(p + 3, o.wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : o.wscale);
    p += 4;
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
    dv.setUint32(p, (TCPOPT_NOP << 24) | (TCPOPT_NOP << 16) | (TCPOPT_TS << 8) | TCPOLEN_TS);
    dv.setUint32(p + 4, tsVal >>> 0); dv.setUint32(p + 8, tsEcr >>> 0);
    p += 12;
  }
  const n = clampSackCount(hasTs, sackCount);
  if (n > 0) {
    dv.setUint32(p, (TCPOPT_NOP << 24) | (TCPOPT_NOP << 16) | (TCPOPT_SACK << 8) | (TCPOLEN_SACK_BASE + 8 * n));
    p += 4;
    for (let i = 0; i < n; i++) {
      dv.setUint32(p, sackBlocks[2 * i]); dv.setUint32(p + 4, sackBlocks[2 * i + 1]);
      p += 8;
    }
  }
  return p - at;
}
