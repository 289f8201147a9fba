/**
 * The interpreter's own IPv6 header codec (RFC 8200 §3) over plain byte
 * arrays, for scripts run with `--ip_version=ipv6`. Like packet.ts it is
 * independent of the stack's IPv6 code (src/ip/ipv6.ts) it checks: the
 * drill builds the packets it injects and reads the ones the stack's IPv6
 * layer sends with this file alone.
 *
 * Header layout: 0 version<<4 | tclass>>4 · 1 tclass<<4 | flow label
 * bits 16-19 · 2 flow label bits 0-15 · 4 payload length · 6 next header ·
 * 7 hop limit · 8 source (16) · 24 destination (16) · 40 payload.
 */
import { sumBytes } from '../ip/checksum.js';

/** IPv6 header length; extension headers are not built (packetdrill's TCP packets carry none). */
export const IP6_HDR_LEN = 40;
/** Next header values the drill builds or reads. */
export const NH_TCP = 6;
export const NH_ICMPV6 = 58;
export const NH_FRAGMENT = 44;

/** Fields of an IPv6 header to build. */
export interface Ip6Fields {
  /** Traffic class byte (DSCP << 2 | ECN). */
  tclass: number;
  /** 20-bit RFC 6437 flow label. */
  flowLabel: number;
  hopLimit: number;
  nextHeader: number;
  /** 16 address bytes each. */
  src: Uint8Array;
  dst: Uint8Array;
}

/** A decoded IPv6 packet: its header fields and the upper-layer bytes. */
export interface WireIp6 extends Ip6Fields {
  version: number;
  payloadLen: number;
  /** The bytes after the header (exactly payloadLen of them). */
  payload: Uint8Array;
}

/** The 16 bytes of an address given as text (`fd3d::1`, `::ffff:192.0.2.1`). @throws RangeError on a bad one */
export function addrBytes6(text: string): Uint8Array {
  const t = text.trim().replace(/\/\d+$/, '');
  const bad = (): RangeError => new RangeError(`bad IPv6 address '${text}'`);
  const halves = t.split('::');
  if (halves.length > 2 || t.length === 0) throw bad();
  const words = (h: string, last: boolean): number[] => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (last && i === parts.length - 1 && p.includes('.')) {
        const o = p.split('.').map((x) => (/^\d{1,3}$/.test(x) ? Number(x) : NaN));
        if (o.length !== 4 || o.some((x) => !(x >= 0 && x <= 255))) throw bad();
        out.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(p)) throw bad();
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = words(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? words(halves[1], true) : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) throw bad();
  const all = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) { b[2 * i] = all[i] >>> 8; b[2 * i + 1] = all[i] & 0xff; }
  return b;
}

/** An address's bytes as text (lower-case, the longest run of zero groups as `::`, RFC 5952). */
export function formatAddr6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/**
 * The one's-complement sum (not folded, not complemented) of the IPv6
 * pseudo-header (RFC 8200 §8.1): source, destination, the upper-layer
 * length as 32 bits, three zero bytes and the next header.
 */
export function pseudoSum6(src: Uint8Array, dst: Uint8Array, nextHeader: number, l4len: number): number {
  const ph = new Uint8Array(40);
  ph.set(src, 0);
  ph.set(dst, 16);
  const dv = new DataView(ph.buffer);
  dv.setUint32(32, l4len >>> 0);
  ph[39] = nextHeader;
  return sumBytes(dv, 0, 40, 0);
}

/** An IPv6 packet: the header for `f` in front of `payload` (payload length from it). */
export function encodeIpv6(f: Ip6Fields, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(IP6_HDR_LEN + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, ((6 << 28) | ((f.tclass & 0xff) << 20) | (f.flowLabel & 0xfffff)) >>> 0);
  dv.setUint16(4, payload.length);
  b[6] = f.nextHeader;
  b[7] = f.hopLimit;
  b.set(f.src, 8);
  b.set(f.dst, 24);
  b.set(payload, IP6_HDR_LEN);
  return b;
}

/**
 * Decode an IPv6 packet the stack sent (bytes from the IPv6 header on);
 * `tso` when it is a TSO super-segment.
 * @returns the packet, or a string saying why it is not a well-formed one:
 *   short, not version 6, or a payload length that disagrees with the bytes sent
 */
export function decodeIpv6(b: Uint8Array, tso = false): WireIp6 | string {
  if (b.length < IP6_HDR_LEN) return `IPv6 packet of ${b.length} bytes is shorter than its header`;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const w0 = dv.getUint32(0);
  const version = w0 >>> 28;
  if (version !== 6) return `IP version ${version} in an IPv6 run`;
  const payloadLen = dv.getUint16(4);
  // (A TSO super-segment's length field is the NIC's to rewrite per piece; 65535 at most.)
  if (payloadLen !== b.length - IP6_HDR_LEN && !(tso && payloadLen === Math.min(b.length - IP6_HDR_LEN, 65535))) return `IPv6 payload length ${payloadLen} but ${b.length - IP6_HDR_LEN} bytes follow the header`;
  return {
    version, tclass: (w0 >>> 20) & 0xff, flowLabel: w0 & 0xfffff, payloadLen, nextHeader: b[6], hopLimit: b[7],
    src: b.slice(8, 24), dst: b.slice(24, 40), payload: b.subarray(IP6_HDR_LEN),
  };
}

/** Whether two 16-byte addresses are the same. */
export function sameAddr6(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}
