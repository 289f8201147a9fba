/**
 * IPv4 addresses are plain numbers throughout tzstack: the 32-bit address as
 * an unsigned integer (10.0.0.1 is 0x0a000001), so comparing, hashing and
 * writing them into headers needs no object.
 */

declare const ip4Brand: unique symbol;
/**
 * An IPv4 address: the unsigned 32-bit number (host order, as read with
 * `DataView.getUint32`). A number at run time; the brand exists only for
 * the type checker, so an address is not passed as a port, a sequence
 * number or an mbuf. Made by {@link parseIpv4} and, with an `as Ip4` cast,
 * where addresses are read from packets.
 */
export type Ip4 = number & { readonly [ip4Brand]: 'Ip4' };

/** An address with its prefix, as given on a command line (`10.0.0.1/24`). */
export interface Cidr {
  addr: Ip4;
  prefixLen: number;
  /** Netmask as an unsigned 32-bit number. */
  mask: number;
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parse dotted-quad notation.
 * @throws RangeError on anything that is not exactly four octets 0-255
 */
export function parseIpv4(s: string): Ip4 {
  const m = DOTTED.exec(s.trim());
  if (!m) throw new RangeError(`not an IPv4 address: ${JSON.stringify(s)}`);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) throw new RangeError(`not an IPv4 address: ${JSON.stringify(s)}`);
    v = v * 256 + o;
  }
  return (v >>> 0) as Ip4;
}

/** Dotted-quad text of an address. */
export function formatIpv4(a: Ip4): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** The netmask of a prefix length (0-32) as an unsigned number. */
export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/**
 * Parse `a.b.c.d/len` (or a bare address, taken as /32).
 * @throws RangeError on a bad address or prefix length
 */
export function parseCidr(s: string): Cidr {
  const [a, p, extra] = s.trim().split('/');
  if (extra !== undefined) throw new RangeError(`not an address/prefix: ${JSON.stringify(s)}`);
  const addr = parseIpv4(a);
  let prefixLen = 32;
  if (p !== undefined) {
    if (!/^\d{1,2}$/.test(p) || Number(p) > 32) throw new RangeError(`bad prefix length in ${JSON.stringify(s)}`);
    prefixLen = Number(p);
  }
  return { addr, prefixLen, mask: prefixMask(prefixLen) };
}

/** Whether `a` and `b` are in the same subnet under `mask`. */
export function sameSubnet(a: number, b: number, mask: number): boolean {
  return ((a ^ b) & mask) === 0;
}
