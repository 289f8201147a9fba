import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { MbufLayout } from '../mbuf/layout.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from './addr.js';

/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are accumulated over big-endian 32-bit words into a float64 (exact up
 * to 2^53, i.e. for any packet we will ever see) and folded at the end: since
 * 2^16 ≡ 1 (mod 0xffff), folding 32-bit words gives the same ones' complement
 * sum as adding 16-bit words, with half the additions and DataView reads that
 * need no alignment.
 */

/**
 * Add the bytes [start, start+len) of `dv` to an unfolded sum.
 * An odd final byte is padded with a zero byte, as the RFC says.
 */
export function sumBytes(dv: DataView, start: number, len: number, acc = 0): number {
  let i = start;
  const end = start + len;
  // unrolled: 8 words per turn
  const end32 = end - 32;
  while (i <= end32) {
    acc += dv.getUint32(i) + dv.getUint32(i + 4) + dv.getUint32(i + 8) + dv.getUint32(i + 12)
      + dv.getUint32(i + 16) + dv.getUint32(i + 20) + dv.getUint32(i + 24) + dv.getUint32(i + 28);
    i += 32;
  }
  while (i + 4 <= end) { acc += dv.getUint32(i); i += 4; }
  if (i + 2 <= end) { acc += dv.getUint16(i); i += 2; }
  if (i < end) acc += dv.getUint8(i) << 8;
  return acc;
}

/** Fold an unfolded sum to 16 bits (ones' complement addition, not complemented). */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc % 65536) + Math.floor(acc / 65536);
  return acc;
}

/** The checksum field value for a folded or unfolded sum: `~fold(acc)`. */
export function finish(acc: number): number {
  return (~fold(acc)) & 0xffff;
}

/** Swap the two bytes of a 16-bit value. */
export function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/**
 * Sum `len` bytes of a (possibly multi-segment) packet starting `off` bytes in.
 * Segments of odd length shift the byte lanes of what follows; that is
 * undone by swapping the partial sum (RFC 1071 §2(B)).
 * @returns a folded 16-bit sum, or -1 when the packet is shorter than off+len
 */
export function sumChain(pool: Mempool, m: Mbuf, off: number, len: number, acc = 0): number {
  let seg = m;
  let odd = false;
  let total = fold(acc);
  while (len > 0) {
    if (seg === NO_MBUF) return -1;
    const dl = pool.dataLen(seg);
    if (off >= dl) { off -= dl; seg = pool.next(seg); continue; }
    const take = Math.min(len, dl - off);
    const part = fold(sumBytes(pool.dv, pool.mtod(seg) + off, take));
    total += odd ? swap16(part) : part;
    if (take & 1) odd = !odd;
    len -= take;
    off = 0;
    seg = pool.next(seg);
  }
  return fold(total);
}

/** Unfolded sum of the IPv4 pseudo-header (src, dst, zero, protocol, L4 length). */
export function pseudoHeaderSum(src: Ip4, dst: Ip4, proto: number, l4len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4len;
}

/**
 * Update a checksum field after one 16-bit word of the covered data changed
 * from `oldWord` to `newWord` (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
 */
export function updateChecksum16(csum: number, oldWord: number, newWord: number): number {
  return finish((~csum & 0xffff) + (~oldWord & 0xffff) + newWord);
}

/** {@link updateChecksum16} for a 32-bit field (e.g. an address or sequence number). */
export function updateChecksum32(csum: number, oldVal: number, newVal: number): number {
  return finish((~csum & 0xffff) + (~(oldVal >>> 16) & 0xffff) + (~oldVal & 0xffff) + (newVal >>> 16) + (newVal & 0xffff));
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source and destination
 * read from the packet at `srcAt`/`dstAt` of `dv` (where the IPv6 header
 * holds them), the upper-layer length as 32 bits and the next header value.
 * Added as 16-bit words, so the result stays below 2^21: a small integer V8
 * never boxes (32-bit words above 2^31 would be heap numbers when passed on).
 */
export function pseudoHeaderSum6At(dv: DataView, srcAt: number, dstAt: number, proto: number, l4len: number): number {
  let s = (l4len >>> 16) + (l4len & 0xffff) + proto;
  for (let i = 0; i < 16; i += 2) s += dv.getUint16(srcAt + i) + dv.getUint16(dstAt + i);
  return s;
}

/**
 * {@link pseudoHeaderSum6At} from addresses held as four 32-bit words each
 * (src/ip/addr6.ts), also summed as 16-bit halves.
 */
export function pseudoHeaderSum6(src: ArrayLike<number>, dst: ArrayLike<number>, proto: number, l4len: number): number {
  let s = (l4len >>> 16) + (l4len & 0xffff) + proto;
  for (let i = 0; i < 4; i++) {
    const a = src[i];
    const b = dst[i];
    s += (a >>> 16) + (a & 0xffff) + (b >>> 16) + (b & 0xffff);
  }
  return s;
}

/**
 * The receive fast paths' checksum test (src/tcp/gro.ts mergeFrame,
 * TcpLayer.directFrame): whether both checksums of a frame with a 20-byte
 * IPv4 header at `p` (index in `pool.u8`; `w0`, `w2`, `w3`, `w4` its words
 * 0, 2, 3 and 4, already read) are settled as IPv4 and TCP input would
 * settle them — the NIC's verdicts, or the IPv4 header summed here — on a
 * link that is not `trusted`. False (the slow path decides, and counts the
 * drop) for a bad verdict, a bad header sum, or a TCP checksum software
 * would have to compute.
 */
export function rxChecksumsSettled(pool: Mempool, m: Mbuf, p: number, w0: number, w2: number, w3: number, w4: number, trusted: boolean): boolean {
  const fl = pool.olFlagsLo(m);
  if (!trusted) {
    const f = fl & MbufLayout.OL_RX_IP_CKSUM_MASK_LO;
    if (f === MbufLayout.OL_RX_IP_CKSUM_BAD_LO) return false;
    if (f !== MbufLayout.OL_RX_IP_CKSUM_GOOD_LO && finish((w0 >>> 0) + pool.dv.getUint32(p + 4) + (w2 >>> 0)
      + (w3 >>> 0) + (w4 >>> 0)) !== 0) return false;
  }
  const l4 = fl & MbufLayout.OL_RX_L4_CKSUM_MASK_LO;
  return l4 !== MbufLayout.OL_RX_L4_CKSUM_BAD_LO && (l4 === MbufLayout.OL_RX_L4_CKSUM_GOOD_LO || trusted);
}
