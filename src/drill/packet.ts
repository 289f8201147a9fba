/**
 * The interpreter's own TCP segment codec over plain byte arrays. It is
 * deliberately independent of `src/tcp/header.ts`: the drill is an oracle
 * for the stack, so it must not share the code it checks.
 *
 * Header layout (RFC 9293 §3.1): 0 sport · 2 dport · 4 seq · 8 ack ·
 * 12 data offset<<4 · 13 flags · 14 window · 16 checksum · 18 urgent ·
 * 20 options.
 */
import { finish, pseudoHeaderSum, sumBytes } from '../ip/checksum.js';
import type { PacketEvent, TcpOptionSpec } from './ast.js';
import type { Ip4 } from '../ip/addr.js';

export const F_FIN = 0x01;
export const F_SYN = 0x02;
export const F_RST = 0x04;
export const F_PSH = 0x08;
export const F_ACK = 0x10;
export const F_URG = 0x20;
export const F_ECE = 0x40;
export const F_CWR = 0x80;

const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERM = 4;
const OPT_SACK = 5;
const OPT_TS = 8;
const OPT_FASTOPEN = 34;
const OPT_EXP = 254;
const FASTOPEN_MAGIC = 0xf989;

const hex = (b: Uint8Array, from: number, to: number): string => {
  let s = '';
  for (let i = from; i < to; i++) s += b[i].toString(16).padStart(2, '0');
  return s;
};

/** Script flag letters to header bits. */
export function flagsToBits(flags: string): number {
  let b = 0;
  for (const c of flags) {
    switch (c) {
      case 'F': b |= F_FIN; break;
      case 'S': b |= F_SYN; break;
      case 'R': b |= F_RST; break;
      case 'P': b |= F_PSH; break;
      case '.': b |= F_ACK; break;
      case 'U': b |= F_URG; break;
      case 'E': b |= F_ECE; break;
      case 'W': b |= F_CWR; break;
      default: break; // 'A' (AccECN AE bit) has no place in the 8-bit flags byte we model
    }
  }
  return b;
}

/** Header bits to packetdrill's flag letters (`S.`, `P.`, `F.`, `R`, `.`). */
export function bitsToFlags(b: number): string {
  let s = '';
  if (b & F_FIN) s += 'F';
  if (b & F_SYN) s += 'S';
  if (b & F_RST) s += 'R';
  if (b & F_PSH) s += 'P';
  if (b & F_URG) s += 'U';
  if (b & F_ECE) s += 'E';
  if (b & F_CWR) s += 'W';
  if (b & F_ACK) s += '.';
  return s === '' ? '-' : s;
}

/** A decoded option as found on the wire. */
export type WireOption = TcpOptionSpec | { kind: 'unknown'; code: number; length: number };

/** A decoded outgoing segment. */
export interface WireSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urg: number;
  hdrLen: number;
  options: WireOption[];
  payloadLen: number;
  /** False when the options area is malformed (a TCP bug). */
  optionsOk: boolean;
  /** Checksum verified against the pseudo-header. */
  checksumOk: boolean;
}

/**
 * Decode a segment whose bytes start at the TCP header.
 * @returns the segment, or a string saying why the bytes are not a valid TCP header
 */
export function decodeSegment(b: Uint8Array, src: Ip4, dst: Ip4): WireSegment | string {
  return decodeSegmentSum(b, pseudoHeaderSum(src, dst, 6, b.length));
}

/**
 * {@link decodeSegment} with the pseudo-header's sum given (IPv6's, from
 * src/drill/packet6.ts): the checksum is verified against it.
 */
export function decodeSegmentSum(b: Uint8Array, pseudoSum: number): WireSegment | string {
  if (b.length < 20) return `segment of ${b.length} bytes is shorter than a TCP header`;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hdrLen = (b[12] >>> 4) * 4;
  if (hdrLen < 20 || hdrLen > b.length) return `bad data offset ${hdrLen} for a ${b.length}-byte segment`;
  const options: WireOption[] = [];
  let optionsOk = true;
  for (let i = 20; i < hdrLen;) {
    const kind = b[i];
    if (kind === OPT_EOL) { options.push({ kind: 'eol' }); i++; continue; }
    if (kind === OPT_NOP) { options.push({ kind: 'nop' }); i++; continue; }
    if (i + 1 >= hdrLen) { optionsOk = false; break; }
    const len = b[i + 1];
    if (len < 2 || i + len > hdrLen) { optionsOk = false; break; }
    switch (kind) {
      case OPT_MSS: options.push(len === 4 ? { kind: 'mss', value: dv.getUint16(i + 2) } : { kind: 'unknown', code: kind, length: len }); break;
      case OPT_WSCALE: options.push(len === 3 ? { kind: 'wscale', value: b[i + 2] } : { kind: 'unknown', code: kind, length: len }); break;
      case OPT_SACK_PERM: options.push(len === 2 ? { kind: 'sackOK' } : { kind: 'unknown', code: kind, length: len }); break;
      case OPT_TS: options.push(len === 10 ? { kind: 'timestamp', val: dv.getUint32(i + 2), ecr: dv.getUint32(i + 6) } : { kind: 'unknown', code: kind, length: len }); break;
      case OPT_SACK: {
        if ((len - 2) % 8 !== 0) { options.push({ kind: 'unknown', code: kind, length: len }); break; }
        const blocks: Array<[number, number]> = [];
        for (let j = i + 2; j < i + len; j += 8) blocks.push([dv.getUint32(j), dv.getUint32(j + 4)]);
        options.push({ kind: 'sack', blocks });
        break;
      }
      case OPT_FASTOPEN: options.push({ kind: 'fastopen', exp: false, cookie: hex(b, i + 2, i + len) }); break;
      case OPT_EXP:
        if (len >= 4 && dv.getUint16(i + 2) === FASTOPEN_MAGIC) options.push({ kind: 'fastopen', exp: true, cookie: hex(b, i + 4, i + len) });
        else options.push({ kind: 'unknown', code: kind, length: len });
        break;
      default: options.push({ kind: 'unknown', code: kind, length: len });
    }
    i += len;
  }
  const sum = sumBytes(dv, 0, b.length, pseudoSum);
  return {
    srcPort: dv.getUint16(0), dstPort: dv.getUint16(2), seq: dv.getUint32(4), ack: dv.getUint32(8),
    flags: b[13], window: dv.getUint16(14), urg: dv.getUint16(18), hdrLen, options,
    payloadLen: b.length - hdrLen, optionsOk, checksumOk: finish(sum) === 0,
  };
}

/** Wire bytes of an option list in the order given (the script's order). */
export function encodeOptions(opts: TcpOptionSpec[]): Uint8Array {
  const out: number[] = [];
  const u16 = (v: number): void => { out.push((v >>> 8) & 0xff, v & 0xff); };
  const u32 = (v: number): void => { out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff); };
  for (const o of opts) {
    switch (o.kind) {
      case 'nop': out.push(OPT_NOP); break;
      case 'eol': out.push(OPT_EOL); break;
      case 'mss': out.push(OPT_MSS, 4); u16(o.value); break;
      case 'wscale': out.push(OPT_WSCALE, 3, o.value); break;
      case 'sackOK': out.push(OPT_SACK_PERM, 2); break;
      case 'timestamp': out.push(OPT_TS, 10); u32(o.val); u32(o.ecr); break;
      case 'sack': out.push(OPT_SACK, 2 + 8 * o.blocks.length); for (const [a, b] of o.blocks) { u32(a); u32(b); } break;
      case 'fastopen': {
        // The cookie as hex digits (names are resolved by the caller); an odd digit count drops the last.
        const bytes: number[] = [];
        for (let i = 0; i + 1 < o.cookie.length; i += 2) bytes.push(parseInt(o.cookie.slice(i, i + 2), 16));
        if (o.exp) { out.push(OPT_EXP, 4 + bytes.length); u16(FASTOPEN_MAGIC); } else out.push(OPT_FASTOPEN, 2 + bytes.length);
        out.push(...bytes);
        break;
      }
    }
  }
  return Uint8Array.from(out);
}

/** Fields of a segment to build. */
export interface SegmentFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urg: number;
  options: Uint8Array;
  payloadLen: number;
}

/** Build a segment (payload zero-filled, like packetdrill's) with a correct checksum. */
export function encodeSegment(f: SegmentFields, src: Ip4, dst: Ip4): Uint8Array {
  return encodeSegmentSum(f, (l4len) => pseudoHeaderSum(src, dst, 6, l4len));
}

/** {@link encodeSegment} with the pseudo-header's sum made by `pseudoSum` from the segment's length (IPv6's). */
export function encodeSegmentSum(f: SegmentFields, pseudoSum: (l4len: number) => number): Uint8Array {
  const hdr = 20 + f.options.length;
  const b = new Uint8Array(hdr + f.payloadLen);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, f.srcPort);
  dv.setUint16(2, f.dstPort);
  dv.setUint32(4, f.seq >>> 0);
  dv.setUint32(8, f.ack >>> 0);
  b[12] = (hdr / 4) << 4;
  b[13] = f.flags;
  dv.setUint16(14, f.window);
  dv.setUint16(18, f.urg);
  b.set(f.options, 20);
  dv.setUint16(16, finish(sumBytes(dv, 0, b.length, pseudoSum(b.length))));
  return b;
}

/** packetdrill's text for an option list. */
export function formatOptions(opts: WireOption[] | null): string {
  if (opts === null) return ' <...>';
  if (opts.length === 0) return '';
  const parts = opts.map((o) => {
    switch (o.kind) {
      case 'nop': return 'nop';
      case 'eol': return 'eol';
      case 'mss': return `mss ${o.value}`;
      case 'wscale': return `wscale ${o.value}`;
      case 'sackOK': return 'sackOK';
      case 'timestamp': return `TS val ${o.val} ecr ${o.ecr}`;
      case 'sack': return `sack ${o.blocks.map(([a, b]) => `${a}:${b}`).join(' ')}`;
      case 'fastopen': return `${o.exp ? 'FOEXP' : 'FO'}${o.cookie ? ' ' + o.cookie : ''}`;
      case 'unknown': return `opt${o.code}(len ${o.length})`;
    }
  });
  return ` <${parts.join(',')}>`;
}

/** A script packet as packetdrill would print it. */
export function formatScriptPacket(p: PacketEvent): string {
  let s = `${p.direction === 'in' ? '<' : '>'} ${p.flags === '' ? '-' : p.flags} ${p.seq}:${p.end}(${p.len})`;
  if (p.ack !== null) s += ` ack ${p.ack}`;
  if (p.win !== null) s += ` win ${p.win}`;
  if (p.urg) s += ` urg ${p.urg}`;
  return s + formatOptions(p.options);
}

/** An actual segment, already mapped into script sequence space. */
export function formatActualPacket(s: WireSegment): string {
  let t = `> ${bitsToFlags(s.flags)} ${s.seq}:${(s.seq + s.payloadLen) >>> 0}(${s.payloadLen})`;
  if (s.flags & F_ACK) t += ` ack ${s.ack}`;
  t += ` win ${s.window}`;
  if (s.urg) t += ` urg ${s.urg}`;
  return t + formatOptions(s.options);
}
