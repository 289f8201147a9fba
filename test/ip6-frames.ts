/**
 * IPv6 frame builders for the IPv6 / ND / ICMPv6 tests: plain byte arrays
 * (tests are the slow path, clarity over speed), checksums computed
 * independently of src/ip/checksum.ts's IPv6 helpers.
 */
import { parseIpv6, type Addr6 } from '../src/ip/addr6.js';
import { concat, dvOf, eth } from './stack-frames.js';

export const MAC6_A = Uint8Array.of(2, 0, 0, 0, 0, 1);
export const MAC6_B = Uint8Array.of(2, 0, 0, 0, 0, 2);
/** The link-local address of MAC6_A by EUI-64 and a peer's. */
export const LL_A = 'fe80::ff:fe00:1';
export const LL_B = 'fe80::2';
export const GA_A = 'fd00:72::1';
export const GA_B = 'fd00:72::2';

export function bytes6(a: string): Uint8Array {
  const w = parseIpv6(a);
  const b = new Uint8Array(16);
  const dv = dvOf(b);
  for (let i = 0; i < 4; i++) dv.setUint32(4 * i, w[i]);
  return b;
}

/** 33:33 and the low 32 bits. */
export function mcastMac(a: string): Uint8Array {
  const b = bytes6(a);
  return Uint8Array.of(0x33, 0x33, b[12], b[13], b[14], b[15]);
}

export function solicited(a: string): string {
  const b = bytes6(a);
  return `ff02::1:ff${b[13].toString(16).padStart(2, '0')}:${((b[14] << 8) | b[15]).toString(16)}`;
}

export interface Ip6Opts {
  src?: string; dst?: string; nh?: number; hop?: number; tclass?: number; flow?: number; version?: number;
  payloadLen?: number;
}

export function ipv6(payload: Uint8Array, o: Ip6Opts = {}): Uint8Array {
  const h = new Uint8Array(40);
  const dv = dvOf(h);
  dv.setUint32(0, (((o.version ?? 6) << 28) | ((o.tclass ?? 0) << 20) | (o.flow ?? 0)) >>> 0);
  dv.setUint16(4, o.payloadLen ?? payload.length);
  h[6] = o.nh ?? 58;
  h[7] = o.hop ?? 64;
  h.set(bytes6(o.src ?? LL_B), 8);
  h.set(bytes6(o.dst ?? LL_A), 24);
  return concat(h, payload);
}

/** The Internet checksum of `data` over the IPv6 pseudo-header, computed 16 bits at a time. */
export function csum6(src: string, dst: string, nh: number, data: Uint8Array): number {
  const ph = new Uint8Array(40);
  ph.set(bytes6(src), 0); ph.set(bytes6(dst), 16);
  dvOf(ph).setUint32(32, data.length); ph[39] = nh;
  const all = concat(ph, data, data.length & 1 ? new Uint8Array(1) : new Uint8Array(0));
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += (all[i] << 8) | all[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An ICMPv6 message with its checksum for `src`→`dst`. */
export function icmp6(type: number, code: number, body: Uint8Array, src = LL_B, dst = LL_A, badChecksum = false): Uint8Array {
  const b = concat(Uint8Array.of(type, code, 0, 0), body);
  let c = csum6(src, dst, 58, b);
  if (badChecksum) c ^= 0x5a5a;
  dvOf(b).setUint16(2, c);
  return b;
}

export function echo6(id: number, seq: number, data: Uint8Array, src = LL_B, dst = LL_A, type = 128): Uint8Array {
  const body = new Uint8Array(4 + data.length);
  dvOf(body).setUint16(0, id); dvOf(body).setUint16(2, seq); body.set(data, 4);
  return icmp6(type, 0, body, src, dst);
}

/** A whole Ethernet frame: IPv6 header around `payload` (already with its upper-layer checksum). */
export function frame6(payload: Uint8Array, o: Ip6Opts = {}, dstMac?: Uint8Array, srcMac = MAC6_B): Uint8Array {
  const dst = o.dst ?? LL_A;
  const mac = dstMac ?? (dst.startsWith('ff') ? mcastMac(dst) : MAC6_A);
  return eth(mac, srcMac, 0x86dd, ipv6(payload, o));
}

/** An options header (hop-by-hop or destination options) carrying `opts` bytes, padded with PadN to a multiple of 8. */
export function optsHeader(nh: number, opts: Uint8Array): Uint8Array {
  let body = opts;
  const rem = (2 + body.length) % 8;
  if (rem !== 0) {
    const pad = 8 - rem;
    body = concat(body, pad === 1 ? Uint8Array.of(0) : concat(Uint8Array.of(1, pad - 2), new Uint8Array(pad - 2)));
  }
  return concat(Uint8Array.of(nh, (2 + body.length) / 8 - 1), body);
}

/** A routing header of `type` with `segLeft` segments left and one address. */
export function routingHeader(nh: number, type: number, segLeft: number): Uint8Array {
  const h = new Uint8Array(24);
  h[0] = nh; h[1] = 2; h[2] = type; h[3] = segLeft;
  h.set(bytes6('fd00::99'), 8);
  return h;
}

export function fragHeader(nh: number, off: number, more: boolean, id: number): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = nh;
  dvOf(h).setUint16(2, off | (more ? 1 : 0));
  dvOf(h).setUint32(4, id);
  return h;
}

/**
 * Frames carrying `l4` (next header `nh`) in fragments of `size` bytes of
 * fragmentable part (a multiple of 8 except the last).
 */
export function fragments6(l4: Uint8Array, nh: number, size: number, id: number, o: Ip6Opts = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < l4.length; off += size) {
    const n = Math.min(size, l4.length - off);
    out.push(frame6(concat(fragHeader(nh, off, off + n < l4.length, id), l4.subarray(off, off + n)), { ...o, nh: 44 }));
  }
  return out;
}

/** A neighbour solicitation for `target` (with a source link-layer address option unless `lla` is null). */
export function ns(target: string, lla: Uint8Array | null = MAC6_B, src = LL_B, dst = solicited(target)): Uint8Array {
  const body = concat(new Uint8Array(4), bytes6(target), lla ? concat(Uint8Array.of(1, 1), lla) : new Uint8Array(0));
  return frame6(icmp6(135, 0, body, src, dst), { src, dst, hop: 255 });
}

/** A neighbour advertisement for `target`, flags R 0x80, S 0x40, O 0x20. */
export function na(target: string, flags: number, lla: Uint8Array | null = MAC6_B, src = LL_B, dst = LL_A): Uint8Array {
  const body = concat(Uint8Array.of(flags, 0, 0, 0), bytes6(target), lla ? concat(Uint8Array.of(2, 1), lla) : new Uint8Array(0));
  return frame6(icmp6(136, 0, body, src, dst), { src, dst, hop: 255 });
}

export interface RaOpts {
  hop?: number; lifetime?: number; reachable?: number; retrans?: number; mtu?: number;
  prefix?: { prefix: string; len: number; flags: number; valid: number; preferred: number };
  lla?: Uint8Array | null; src?: string;
}

/** A router advertisement to all nodes. */
export function ra(o: RaOpts = {}): Uint8Array {
  const fixed = new Uint8Array(12);
  const dv = dvOf(fixed);
  fixed[0] = o.hop ?? 64;
  dv.setUint16(2, o.lifetime ?? 1800);
  dv.setUint32(4, o.reachable ?? 0);
  dv.setUint32(8, o.retrans ?? 0);
  const parts: Uint8Array[] = [fixed];
  const lla = o.lla === undefined ? MAC6_B : o.lla;
  if (lla) parts.push(concat(Uint8Array.of(1, 1), lla));
  if (o.mtu !== undefined) { const m = new Uint8Array(8); m[0] = 5; m[1] = 1; dvOf(m).setUint32(4, o.mtu); parts.push(m); }
  if (o.prefix) {
    const p = new Uint8Array(32);
    const pv = dvOf(p);
    p[0] = 3; p[1] = 4; p[2] = o.prefix.len; p[3] = o.prefix.flags;
    pv.setUint32(4, o.prefix.valid); pv.setUint32(8, o.prefix.preferred);
    p.set(bytes6(o.prefix.prefix), 16);
    parts.push(p);
  }
  const src = o.src ?? LL_B;
  return frame6(icmp6(134, 0, concat(...parts), src, 'ff02::1'), { src, dst: 'ff02::1', hop: 255 });
}

/** A parsed IPv6 frame the stack sent (null when not IPv6). */
export interface Sent6 {
  dstMac: Uint8Array; srcMac: Uint8Array; src: string; dst: string; nh: number; hop: number; payload: Uint8Array;
  /** ICMPv6 type/code when nh is 58. */
  type: number; code: number;
  raw: Uint8Array;
}

function fmt(b: Uint8Array): string {
  // Through Node's own formatter: an independent check of src/ip/addr6.ts's output.
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(':');
}

import { SocketAddress } from 'node:net';
export function nodeFormat(b: Uint8Array): string {
  return new SocketAddress({ address: fmt(b), family: 'ipv6' }).address;
}

export function parse6(f: Uint8Array): Sent6 | null {
  if (f.length < 54 || ((f[12] << 8) | f[13]) !== 0x86dd) return null;
  const ip = f.subarray(14);
  const plen = dvOf(ip).getUint16(4);
  const payload = ip.subarray(40, 40 + plen);
  return {
    dstMac: f.subarray(0, 6), srcMac: f.subarray(6, 12), src: nodeFormat(ip.subarray(8, 24)), dst: nodeFormat(ip.subarray(24, 40)),
    nh: ip[6], hop: ip[7], payload, type: ip[6] === 58 ? payload[0] : -1, code: ip[6] === 58 ? payload[1] : -1, raw: f,
  };
}

/** The IPv6 frames among `frames`, parsed. */
export function sent6(frames: Uint8Array[]): Sent6[] {
  return frames.map(parse6).filter((x): x is Sent6 => x !== null);
}

export function addrWords(a: string): Addr6 { return parseIpv6(a); }
