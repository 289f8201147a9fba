/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982 style).
 *
 * TCP sequence numbers wrap, so `a < b` means "b lies less than 2^31 bytes
 * after a", computed as the sign of the 32-bit difference. All inputs are
 * treated as unsigned 32-bit values; all sequence results are returned
 * unsigned (`>>> 0`) so they can be compared with `===` and stored in
 * `Uint32Array`s without surprises.
 */

/** Signed difference `a − b` in (−2^31, 2^31]: how far `a` lies after `b`. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a` comes strictly before `b`. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a` comes before or equals `b`. */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a` comes strictly after `b`. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a` comes after or equals `b`. */
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** `a + n` modulo 2^32, unsigned (`n` may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The later of `a` and `b` in sequence space (unsigned). */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a >>> 0 : b >>> 0;
}

/** The earlier of `a` and `b` in sequence space (unsigned). */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) <= 0 ? a >>> 0 : b >>> 0;
}

/**
 * `lo ≤ x < hiExclusive` in sequence space. An empty range (lo = hi) holds
 * nothing. Computed as unsigned offsets from `lo`, so it is correct for any
 * range shorter than 2^32 even across the wrap.
 */
export function seqInRange(x: number, lo: number, hiExclusive: number): boolean {
  return ((x - lo) >>> 0) < ((hiExclusive - lo) >>> 0);
}
