import type { Seq } from './seq.js';
import type { Mempool } from '../mbuf/mempool.js';
import { finish, fold, pseudoHeaderSum, sumChain } from '../ip/checksum.js';
import { pullup } from '../ip/pullup.js';
import { TcpOpt, TcpOptLen } from './options.js';
import { IPPROTO_TCP, Ip4Hdr, IpProto } from '../ip/ipv4-header.js';
import type { TcpDropReason } from './drops.js';
import { DOUBLE_FIELD } from '../util/double-field.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

/**
 * The TCP header (RFC 9293 §3.1), read and written in place.
 *
 * ```
 *  0 source port (2)          2 destination port (2)
 *  4 sequence number (4)
 *  8 acknowledgment number (4)
 * 12 data offset (4 bits) | reserved (4 bits)   13 flags CWR ECE URG ACK PSH RST SYN FIN
 * 14 window (2)
 * 16 checksum (2)            18 urgent pointer (2)
 * 20 options (0-40), then payload
 * ```
 */
export const enum TcpHdr {
  SrcPort = 0,
  DstPort = 2,
  Seq = 4,
  Ack = 8,
  /** High nibble: header length in 32-bit words. */
  DataOff = 12,
  Flags = 13,
  Window = 14,
  Checksum = 16,
  Urg = 18,
  /** Header without options. */
  MinHdr = 20,
  /** Header with the full 40 bytes of options (data offset 15). */
  MaxHdr = 60,
  /** The largest TCP segment, header included, one IPv4 datagram carries (RFC 791 total length). */
  MaxSegBytes = Ip4Hdr.MAX_LEN - Ip4Hdr.HDR_LEN,
}

/** The flag bits of byte 13. */
export const enum TcpFlag {
  FIN = 1,
  SYN = 2,
  RST = 4,
  PSH = 8,
  ACK = 16,
  URG = 32,
  ECE = 64,
  CWR = 128,
}

// The const enums above are what per-segment code uses: tsc writes the number
// itself at each use, where an imported `export const` costs a module
// variable load and a not-yet-initialised check on every use (measured, see
// src/mbuf/layout.ts). The names below are the same values for other importers.
export const TCP_SRC_PORT: number = TcpHdr.SrcPort;
export const TCP_DST_PORT: number = TcpHdr.DstPort;
export const TCP_SEQ: number = TcpHdr.Seq;
export const TCP_ACK: number = TcpHdr.Ack;
/** High nibble: header length in 32-bit words. */
export const TCP_DATA_OFF: number = TcpHdr.DataOff;
export const TCP_FLAGS: number = TcpHdr.Flags;
export const TCP_WINDOW: number = TcpHdr.Window;
export const TCP_CHECKSUM: number = TcpHdr.Checksum;
export const TCP_URG: number = TcpHdr.Urg;
/** Header without options. */
export const TCP_MIN_HDR: number = TcpHdr.MinHdr;
/** Header with the full 40 bytes of options (data offset 15). */
export const TCP_MAX_HDR: number = TcpHdr.MaxHdr;
/** IP protocol number of TCP (defined with the IPv4 header; re-exported for TCP's users). */
export { IPPROTO_TCP };
/** The largest TCP segment, header included, one IPv4 datagram carries (RFC 791 total length). */
export const TCP_MAX_SEG_BYTES: number = TcpHdr.MaxSegBytes;

export const FIN: number = TcpFlag.FIN;
export const SYN: number = TcpFlag.SYN;
export const RST: number = TcpFlag.RST;
export const PSH: number = TcpFlag.PSH;
export const ACK: number = TcpFlag.ACK;
export const URG: number = TcpFlag.URG;
export const ECE: number = TcpFlag.ECE;
export const CWR: number = TcpFlag.CWR;

/**
 * Why {@link parseTcp} rejected a segment (0 means it did not). The caller
 * drops the segment and counts it under {@link tcpParseErrorName}.
 */
export enum TcpParseError {
  /** Fewer than 20 bytes, in the packet or in its first segment. */
  TooShort = 1,
  /** Data offset below 5 words or beyond the segment. */
  BadDataOffset = 2,
  /**
   * An option of length 0 or 1, or running past the header: the option list
   * cannot be delimited (a known kind of the wrong length is not this: it is
   * ignored, see {@link parseTcp}).
   */
  BadOption = 3,
  /** The header (with options) does not lie within the first mbuf segment. */
  HeaderSplit = 4,
}

const PARSE_ERROR_NAMES: readonly TcpDropReason[] = ['tooShort', 'tooShort', 'badDataOffset', 'badOption', 'headerSplit'];

/** The drop reason a {@link TcpParseError} is counted under (e.g. `badDataOffset`). */
export function tcpParseErrorName(e: TcpParseError): TcpDropReason {
  return PARSE_ERROR_NAMES[e] ?? 'tooShort';
}

/** Option anomalies by case (see {@link parseTcp}). */
export interface TcpOptionErrors {
  /** Length byte 0 or 1: segment dropped (`badOption`). */
  lengthBelowTwo: number;
  /** Option, or a kind byte without its length, past the header: segment dropped (`badOption`). */
  pastHeader: number;
  /** Known kind with a length wrong for it: option ignored, segment processed. */
  wrongLength: number;
  /** Kind we do not know, skipped by its length: segment processed. */
  unknownKind: number;
}

/** Re-exported for the TCP modules that import it from here (it lives in src/util/double-field.ts). */
export { DOUBLE_FIELD };

/**
 * One parsed TCP header. The input path owns ONE instance and {@link parseTcp}
 * refills it for every segment, so parsing allocates nothing; copy out what
 * must outlive the segment.
 */
export class TcpSegment {
  srcPort = 0;
  dstPort = 0;
  /** Sequence number (unsigned). */
  seq = DOUBLE_FIELD as Seq;
  /** Acknowledgment number (unsigned; meaningful only with ACK). */
  ack = DOUBLE_FIELD as Seq;
  /** The flag byte (FIN … CWR). */
  flags = 0;
  /** Window as sent, not yet scaled. */
  window = 0;
  /** Header length in bytes, options included. */
  hdrLen = 0;
  /** Bytes after the header (pkt_len − hdrLen). */
  payloadLen = 0;
  /**
   * Where the payload starts in the segment's mbuf, from its data: `hdrLen`
   * (parseTcp), or 0 when the receive path stripped the TCP header with the
   * IPv4 one already (TcpLayer's direct path).
   */
  payOff = 0;
  urgent = 0;
  /** Announced MSS; 0 when absent (or not a SYN). */
  mss = 0;
  /** Announced window shift (clamped to 14); {@link WSCALE_NONE} when absent (or not a SYN). */
  wscale: number = TcpOptLen.WSCALE_NONE;
  /** SACK-permitted seen (SYN only). */
  sackPermitted = false;
  hasTimestamps = false;
  tsVal = DOUBLE_FIELD;
  tsEcr = DOUBLE_FIELD;
  /** Number of SACK blocks in {@link sackBlocks}. */
  sackCount = 0;
  /** SACK blocks as (start, end) pairs, at most 4. */
  readonly sackBlocks = new Uint32Array(8);
  /**
   * Malformed or unknown options seen by every parse into this instance
   * (the input path owns one, so these count per TCP layer), each case
   * under its own name; see {@link parseTcp} for what each does.
   */
  readonly optionErrors: TcpOptionErrors = { lengthBelowTwo: 0, pastHeader: 0, wrongLength: 0, unknownKind: 0 };

  constructor() {
    // The 32-bit unsigned fields start as doubles (DOUBLE_FIELD) and hold 0 from here on.
    this.seq = 0 as Seq;
    this.ack = 0 as Seq;
    this.tsVal = 0;
    this.tsEcr = 0;
  }

  /** Sequence space the segment occupies: payload plus one for SYN and one for FIN. */
  segLen(): number {
    return this.payloadLen + (this.flags & TcpFlag.SYN ? 1 : 0) + (this.flags & TcpFlag.FIN ? 1 : 0);
  }

  /** Clear the option fields (done by {@link parseTcp} before each parse). */
  resetOptions(): void {
    this.mss = 0;
    this.wscale = TcpOptLen.WSCALE_NONE;
    this.sackPermitted = false;
    this.hasTimestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/**
 * Parse the TCP header at `mtod(m)` into `seg`. `pkt_len` is the L4 length
 * (the IP layer has trimmed padding). The whole header, options included,
 * must lie in the first segment: headers split over segments are rejected
 * rather than gathered, since no sane sender or NIC produces them.
 *
 * Option handling (RFC 9293 section 3.1, MUST-4 to MUST-7), compared with
 * Linux's `tcp_parse_options`:
 * - EOL ends the list; NOP is skipped; unknown kinds are skipped by their
 *   length (MUST-6), counted in {@link TcpSegment.optionErrors}`.unknownKind`.
 * - A known kind with the wrong length for it (MSS must be 4, WS 3, sackOK
 *   2, TS 10, SACK 2 + 8n with 1 ≤ n ≤ 4) is ignored and parsing goes on
 *   after it by its length, as Linux does: the length still delimits the
 *   option, so the rest of the list is sound and is used. Counted as
 *   `wrongLength`; the segment is processed.
 * - A length of 0 or 1, or an option (or a lone kind byte) running past the
 *   header, rejects the segment with {@link TcpParseError.BadOption}
 *   (counted `badOption`, and `lengthBelowTwo` / `pastHeader` in
 *   `optionErrors`). Here no length delimits the option, so there is no
 *   "rest" to process: MUST-7 asks only that we survive it (suggesting a
 *   reset). Linux stops parsing and keeps the segment with whatever options
 *   came before; we drop it, because its options are unreadable — a SYN
 *   would be answered without its MSS/WS/SACK and a data segment judged
 *   without its timestamps — and a checksum-valid segment like that comes
 *   only from a broken or hostile sender. Nothing is read past the header
 *   in either case.
 * - MSS, WS and sackOK are read only on SYN segments, as Linux does; on other
 *   segments they are skipped. A window shift above 14 is used as 14
 *   (RFC 7323 §2.3). More than 4 SACK blocks cannot fit in 40 bytes.
 *
 * @returns 0 when `seg` holds a valid header, else the reason for the drop
 */
export function parseTcp(pool: Mempool, m: Mbuf, seg: TcpSegment): TcpParseError | 0 {
  const pktLen = pool.pktLen(m);
  const dataLen = pool.dataLen(m);
  if (pktLen < TcpHdr.MinHdr || dataLen < TcpHdr.MinHdr) return TcpParseError.TooShort;
  const p = pool.mtod(m);
  const u8 = pool.u8;
  const hdrLen = (u8[p + TcpHdr.DataOff] >>> 4) << 2;
  if (hdrLen < TcpHdr.MinHdr || hdrLen > pktLen) return TcpParseError.BadDataOffset;
  // IP guarantees only the fixed 20 bytes; options split off into a following
  // segment are pulled up here rather than below, so payload is never copied.
  if (hdrLen > dataLen && !pullup(pool, m, hdrLen)) return TcpParseError.HeaderSplit;
  seg.srcPort = (u8[p] << 8) | u8[p + 1];
  seg.dstPort = (u8[p + 2] << 8) | u8[p + 3];
  seg.seq = (((u8[p + 4] << 24) | (u8[p + 5] << 16) | (u8[p + 6] << 8) | u8[p + 7]) >>> 0) as Seq;
  seg.ack = (((u8[p + 8] << 24) | (u8[p + 9] << 16) | (u8[p + 10] << 8) | u8[p + 11]) >>> 0) as Seq;
  const flags = u8[p + TcpHdr.Flags];
  seg.flags = flags;
  seg.window = (u8[p + 14] << 8) | u8[p + 15];
  seg.urgent = (u8[p + 18] << 8) | u8[p + 19];
  seg.hdrLen = hdrLen;
  seg.payOff = hdrLen;
  seg.payloadLen = pktLen - hdrLen;
  seg.resetOptions();
  if (hdrLen === TcpHdr.MinHdr) return 0;
  // Fast path: the NOP NOP TS layout nearly every data segment carries (Linux, us).
  if (hdrLen === TcpHdr.MinHdr + 12 && u8[p + 20] === TcpOpt.NOP && u8[p + 21] === TcpOpt.NOP
    && u8[p + 22] === TcpOpt.TS && u8[p + 23] === TcpOptLen.TS) {
    seg.hasTimestamps = true;
    seg.tsVal = rd32(u8, p + 24);
    seg.tsEcr = rd32(u8, p + 28);
    return 0;
  }
  return parseOptions(u8, p + TcpHdr.MinHdr, p + hdrLen, (flags & TcpFlag.SYN) !== 0, seg);
}

function rd32(u8: Uint8Array, i: number): number {
  return ((u8[i] << 24) | (u8[i + 1] << 16) | (u8[i + 2] << 8) | u8[i + 3]) >>> 0;
}

function parseOptions(u8: Uint8Array, i: number, end: number, syn: boolean, seg: TcpSegment): TcpParseError | 0 {
  while (i < end) {
    const kind = u8[i];
    if (kind === TcpOpt.EOL) return 0;
    if (kind === TcpOpt.NOP) { i++; continue; }
    if (i + 2 > end) { seg.optionErrors.pastHeader++; return TcpParseError.BadOption; }
    const len = u8[i + 1];
    if (len < 2) { seg.optionErrors.lengthBelowTwo++; return TcpParseError.BadOption; }
    if (i + len > end) { seg.optionErrors.pastHeader++; return TcpParseError.BadOption; }
    switch (kind) {
      case TcpOpt.MSS:
        if (len !== TcpOptLen.MSS) seg.optionErrors.wrongLength++;
        else if (syn) seg.mss = (u8[i + 2] << 8) | u8[i + 3];
        break;
      case TcpOpt.WSCALE:
        if (len !== TcpOptLen.WSCALE) seg.optionErrors.wrongLength++;
        else if (syn) seg.wscale = u8[i + 2] > TcpOptLen.MAX_WSCALE ? TcpOptLen.MAX_WSCALE : u8[i + 2];
        break;
      case TcpOpt.SACK_PERM:
        if (len !== TcpOptLen.SACK_PERM) seg.optionErrors.wrongLength++;
        else if (syn) seg.sackPermitted = true;
        break;
      case TcpOpt.TS:
        if (len !== TcpOptLen.TS) seg.optionErrors.wrongLength++;
        else {
          seg.hasTimestamps = true;
          seg.tsVal = rd32(u8, i + 2);
          seg.tsEcr = rd32(u8, i + 6);
        }
        break;
      case TcpOpt.SACK: {
        const body = len - TcpOptLen.SACK_BASE;
        if (body >= TcpOptLen.SACK_PERBLOCK && body % TcpOptLen.SACK_PERBLOCK === 0) {
          const n = body >>> 3; // ≤ 4: 2 + 8n ≤ 40
          const b = seg.sackBlocks;
          for (let k = 0; k < n; k++) {
            b[2 * k] = rd32(u8, i + 2 + 8 * k);
            b[2 * k + 1] = rd32(u8, i + 6 + 8 * k);
          }
          seg.sackCount = n;
        } else {
          seg.optionErrors.wrongLength++;
        }
        break;
      }
      default:
        seg.optionErrors.unknownKind++;
        break;
    }
    i += len;
  }
  return 0;
}

/**
 * Write a TCP header without options at `at` (the caller writes options at
 * `at + 20` and includes them in `hdrLen`). The checksum field is zeroed:
 * fill it with {@link setTcpChecksum} or a pseudo-header sum for offload.
 */
export function writeTcpHeader(
  dv: DataView, at: number, srcPort: number, dstPort: number, seq: number, ack: number,
  flags: number, window: number, hdrLen: number, urgent = 0,
): void {
  // Five 32-bit stores: ports, SEQ, ACK, data offset|flags|window, checksum (0)|urgent.
  dv.setUint32(at + TcpHdr.SrcPort, ((srcPort << 16) | dstPort) >>> 0);
  dv.setUint32(at + TcpHdr.Seq, seq >>> 0);
  dv.setUint32(at + TcpHdr.Ack, ack >>> 0);
  dv.setUint32(at + TcpHdr.DataOff, (((hdrLen >>> 2) << 28) | ((flags & 0xff) << 16) | (window > 0xffff ? 0xffff : window)) >>> 0);
  dv.setUint32(at + TcpHdr.Checksum, urgent & 0xffff);
}

/**
 * Verify the checksum of the TCP segment `m` (header at mtod, pkt_len bytes
 * over the whole chain) from `src` to `dst`.
 */
export function tcpChecksumOk(pool: Mempool, m: Mbuf, src: Ip4, dst: Ip4): boolean {
  const len = pool.pktLen(m);
  const s = sumChain(pool, m, 0, len, pseudoHeaderSum(src, dst, IpProto.TCP, len));
  return s === 0xffff;
}

/** Compute and store the checksum of the TCP segment `m` (pkt_len bytes over the whole chain). */
export function setTcpChecksum(pool: Mempool, m: Mbuf, src: Ip4, dst: Ip4): void {
  const p = pool.mtod(m);
  pool.u8[p + TcpHdr.Checksum] = 0;
  pool.u8[p + TcpHdr.Checksum + 1] = 0;
  const len = pool.pktLen(m);
  const c = finish(sumChain(pool, m, 0, len, pseudoHeaderSum(src, dst, IpProto.TCP, len)));
  pool.u8[p + TcpHdr.Checksum] = c >>> 8;
  pool.u8[p + TcpHdr.Checksum + 1] = c & 0xff;
}

/**
 * Preset the checksum field for hardware offload (reference sheet): the
 * folded pseudo-header sum, not complemented, with the L4 length for plain
 * checksum offload (`withLength`) and without it for TSO.
 */
export function setTcpPseudoChecksum(pool: Mempool, m: Mbuf, src: Ip4, dst: Ip4, withLength: boolean): void {
  const p = pool.mtod(m);
  const c = fold(pseudoHeaderSum(src, dst, IpProto.TCP, withLength ? pool.pktLen(m) : 0));
  pool.u8[p + TcpHdr.Checksum] = c >>> 8;
  pool.u8[p + TcpHdr.Checksum + 1] = c & 0xff;
}
