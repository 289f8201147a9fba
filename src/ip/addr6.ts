/**
 * IPv6 addresses as four unsigned 32-bit words, most significant first
 * (fe80::1 is [0xfe800000, 0, 0, 1]) in a `Uint32Array(4)`: the receive path
 * compares them with four `getUint32` reads from the packet and no object,
 * and output writes them with four stores. Text is parsed and written the
 * way Node writes addresses (`'::'`, `'fe80::1'`, `'::ffff:10.0.0.1'`): RFC
 * 5952's canonical form, with the dotted tail Node (glibc/libuv
 * `inet_ntop`) gives IPv4-mapped and IPv4-compatible addresses.
 */

/** An IPv6 address: four big-endian words. */
export type Addr6 = Uint32Array;

/** A fresh all-zero address (`::`). */
export function newAddr6(): Addr6 { return new Uint32Array(4); }

/** An address from its four words. */
export function addr6(w0: number, w1: number, w2: number, w3: number): Addr6 {
  return Uint32Array.of(w0, w1, w2, w3);
}

/** `::` */
export const UNSPECIFIED6: Readonly<Addr6> = addr6(0, 0, 0, 0);
/** `::1` */
export const LOOPBACK6: Readonly<Addr6> = addr6(0, 0, 0, 1);
/** `ff02::1`, all nodes on the link. */
export const ALL_NODES6: Readonly<Addr6> = addr6(0xff020000, 0, 0, 1);
/** `ff02::2`, all routers on the link. */
export const ALL_ROUTERS6: Readonly<Addr6> = addr6(0xff020000, 0, 0, 2);

const DOTTED4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEXGROUP = /^[0-9a-fA-F]{1,4}$/;

function bad(s: string): RangeError { return new RangeError(`not an IPv6 address: ${JSON.stringify(s)}`); }

/**
 * Parse an IPv6 address in any RFC 4291 §2.2 text form (`::` compression,
 * a dotted IPv4 tail). A zone (`%eth0`) is refused: tzstack has one link.
 * @throws RangeError on anything else
 */
export function parseIpv6(s: string, out: Addr6 = newAddr6()): Addr6 {
  const t = s.trim();
  if (t.length === 0 || t.length > 45 || t.includes('%')) throw bad(s);
  const groups: number[] = [];
  let gap = -1;
  const halves = t.split('::');
  if (halves.length > 2) throw bad(s);
  const parseHalf = (h: string, last: boolean): number[] => {
    if (h === '') return [];
    const parts = h.split(':');
    const g: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (last && i === parts.length - 1 && p.includes('.')) {
        const m = DOTTED4.exec(p);
        if (!m) throw bad(s);
        const o = [1, 2, 3, 4].map((k) => Number(m[k]));
        if (o.some((x) => x > 255)) throw bad(s);
        g.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
      } else {
        if (!HEXGROUP.test(p)) throw bad(s);
        g.push(parseInt(p, 16));
      }
    }
    return g;
  };
  if (halves.length === 2) {
    const a = parseHalf(halves[0], false);
    const b = parseHalf(halves[1], true);
    // '::' stands for at least one zero group (RFC 4291 §2.2).
    if (a.length + b.length > 7) throw bad(s);
    groups.push(...a);
    gap = groups.length;
    for (let i = a.length + b.length; i < 8; i++) groups.push(0);
    groups.push(...b);
  } else {
    groups.push(...parseHalf(t, true));
    if (groups.length !== 8) throw bad(s);
  }
  void gap;
  for (let i = 0; i < 4; i++) out[i] = ((groups[2 * i] << 16) | groups[2 * i + 1]) >>> 0;
  return out;
}

/**
 * Text of an address as Node writes it: RFC 5952 (lower case, no leading
 * zeros, the longest run of two or more zero groups — the first of equal
 * runs — as `::`), and `::a.b.c.d` / `::ffff:a.b.c.d` for IPv4-compatible
 * and IPv4-mapped addresses (the forms `inet_ntop` prints).
 */
export function formatIpv6(a: Readonly<Addr6>): string {
  const g = [a[0] >>> 16, a[0] & 0xffff, a[1] >>> 16, a[1] & 0xffff, a[2] >>> 16, a[2] & 0xffff, a[3] >>> 16, a[3] & 0xffff];
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestBase = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    // An IPv4 tail: ::a.b.c.d (compatible, not :: or ::1) and ::ffff:a.b.c.d (mapped).
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff))) {
      const v = a[3];
      s += `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
      return s;
    }
    s += g[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) s += ':';
  return s;
}

/** An address with its prefix length (`fd00::1/64`). */
export interface Cidr6 { addr: Addr6; prefixLen: number }

/**
 * Parse `addr/len` (a bare address means /128).
 * @throws RangeError on a bad address or prefix length
 */
export function parseCidr6(s: string): Cidr6 {
  const [a, p, extra] = s.trim().split('/');
  if (extra !== undefined) throw new RangeError(`not an address/prefix: ${JSON.stringify(s)}`);
  const addr = parseIpv6(a);
  let prefixLen = 128;
  if (p !== undefined) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 128) throw new RangeError(`bad prefix length in ${JSON.stringify(s)}`);
    prefixLen = Number(p);
  }
  return { addr, prefixLen };
}

/** Whether `a` equals `b`. */
export function addr6Equals(a: Readonly<Addr6>, b: Readonly<Addr6>): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/** Whether the 16 bytes at `p` of `dv` are address `a`. */
export function addr6EqualsAt(dv: DataView, p: number, a: Readonly<Addr6>): boolean {
  return dv.getUint32(p) === a[0] && dv.getUint32(p + 4) === a[1] && dv.getUint32(p + 8) === a[2] && dv.getUint32(p + 12) === a[3];
}

/** Read the 16 bytes at `p` into `out`. */
export function readAddr6(dv: DataView, p: number, out: Addr6): Addr6 {
  out[0] = dv.getUint32(p); out[1] = dv.getUint32(p + 4); out[2] = dv.getUint32(p + 8); out[3] = dv.getUint32(p + 12);
  return out;
}

/** Write `a` as 16 bytes at `p`. */
export function writeAddr6(dv: DataView, p: number, a: Readonly<Addr6>): void {
  dv.setUint32(p, a[0]); dv.setUint32(p + 4, a[1]); dv.setUint32(p + 8, a[2]); dv.setUint32(p + 12, a[3]);
}

/** Copy `src` into `dst`. */
export function copyAddr6(dst: Addr6, src: Readonly<Addr6>): Addr6 {
  dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]; dst[3] = src[3];
  return dst;
}

/** Whether the first `len` bits of `a` and `b` agree. */
export function prefixMatch6(a: Readonly<Addr6>, b: Readonly<Addr6>, len: number): boolean {
  for (let i = 0; i < 4 && len > 0; i++, len -= 32) {
    const mask = len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
    if (((a[i] ^ b[i]) & mask) !== 0) return false;
  }
  return true;
}

/** Whether `a` is multicast (ff00::/8). */
export function isMulticast6(a: Readonly<Addr6>): boolean { return (a[0] >>> 24) === 0xff; }
/** Whether `a` is link-local unicast (fe80::/10). */
export function isLinkLocal6(a: Readonly<Addr6>): boolean { return (a[0] >>> 22) === (0xfe80 >>> 6); }
/** Whether `a` is `::`. */
export function isUnspecified6(a: Readonly<Addr6>): boolean { return (a[0] | a[1] | a[2] | a[3]) === 0; }
/** Whether `a` is `::1`. */
export function isLoopback6(a: Readonly<Addr6>): boolean { return (a[0] | a[1] | a[2]) === 0 && a[3] === 1; }
/** Whether `a` is IPv4-mapped (`::ffff:0:0/96`). */
export function isV4Mapped(a: Readonly<Addr6>): boolean { return a[0] === 0 && a[1] === 0 && a[2] === 0xffff; }
/** The IPv4-mapped address of IPv4 address `v4` (`::ffff:a.b.c.d`). */
export function v4Mapped(v4: number, out: Addr6 = newAddr6()): Addr6 {
  out[0] = 0; out[1] = 0; out[2] = 0xffff; out[3] = v4 >>> 0;
  return out;
}
/** The multicast scope of a multicast address (RFC 4291 §2.7: 1 interface, 2 link, 5 site, 0xe global). */
export function multicastScope6(a: Readonly<Addr6>): number { return (a[0] >>> 16) & 0xf; }

/** The solicited-node multicast address of `a`: ff02::1:ff00:0/104 and its low 24 bits (RFC 4291 §2.7.1). */
export function solicitedNode6(a: Readonly<Addr6>, out: Addr6 = newAddr6()): Addr6 {
  out[0] = 0xff020000; out[1] = 0; out[2] = 1; out[3] = (0xff000000 | (a[3] & 0xffffff)) >>> 0;
  return out;
}

/** Whether `a` is a solicited-node multicast address. */
export function isSolicitedNode6(a: Readonly<Addr6>): boolean {
  return a[0] === 0xff020000 && a[1] === 0 && a[2] === 1 && (a[3] >>> 24) === 0xff;
}

/** Write the Ethernet multicast MAC of multicast address `a` (33:33 and its low 32 bits, RFC 2464 §7) at `off`. */
export function multicastMac6(a: Readonly<Addr6>, out: Uint8Array, off = 0): void {
  out[off] = 0x33; out[off + 1] = 0x33;
  out[off + 2] = a[3] >>> 24; out[off + 3] = (a[3] >>> 16) & 255; out[off + 4] = (a[3] >>> 8) & 255; out[off + 5] = a[3] & 255;
}

/**
 * `prefix` (its first 64 bits) with the modified EUI-64 interface identifier
 * of `mac` (RFC 4291 appendix A: ff:fe in the middle, the universal/local bit
 * inverted). With the default prefix, the link-local address of `mac`.
 */
export function eui64Address(mac: Uint8Array, prefix: Readonly<Addr6> = addr6(0xfe800000, 0, 0, 0), out: Addr6 = newAddr6()): Addr6 {
  out[0] = prefix[0];
  out[1] = prefix[1];
  out[2] = ((((mac[0] ^ 2) << 24) | (mac[1] << 16) | (mac[2] << 8) | 0xff) >>> 0);
  out[3] = ((0xfe << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0;
  return out;
}

/**
 * A 32-bit number mixing the four words, for hash tables keyed by address.
 * Takes the address itself: its words above 2^31 would be boxed as
 * arguments, read from the array they stay unboxed.
 */
export function hashAddr6(a: Readonly<Addr6>): number {
  let h = Math.imul(a[0] ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ a[1], 0xc2b2ae35);
  h = Math.imul(h ^ a[2], 0x85ebca6b);
  h = Math.imul(h ^ a[3], 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}
