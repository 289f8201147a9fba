/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982 style).
 *
 * TCP sequence numbers wrap, so `a < b` means "b lies less than 2^31 bytes
 * after a", computed as the sign of the 32-bit difference. All inputs are
 * treated as unsigned 32-bit values; all sequence results are returned
 * unsigned (`>>> 0`) so they can be compared with `===` and stored in
 * `Uint32Array`s without surprises.
 */

declare const seqBrand: unique symbol;
/**
 * A TCP sequence (or acknowledgment) number: an unsigned 32-bit value in
 * sequence space. A number at run time; the brand exists only for the type
 * checker, so that a sequence number is not mixed up with a length, an
 * address or an mbuf. Arithmetic done by hand on a Seq gives a number and is
 * cast back with `as Seq` where the result is a sequence number (the value
 * never changes).
 *
 * The functions here also serve other 32-bit modular values (timestamps,
 * timer deadlines), so each takes either two Seqs or two plain numbers:
 * what they refuse is a Seq compared with, or added to as if it were, a
 * number that is not one.
 */
export type Seq = number & { readonly [seqBrand]: 'Seq' };

/** A number that is not a {@link Seq} (for the plain-number signatures). */
type Plain<T> = T extends Seq ? never : T;

/** Signed difference `a − b` in (−2^31, 2^31]: how far `a` lies after `b`. */
export function seqDiff(a: Seq, b: Seq): number;
export function seqDiff<A extends number, B extends number>(a: A & Plain<A>, b: B & Plain<B>): number;
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a` comes strictly before `b`. */
export function seqLt(a: Seq, b: Seq): boolean;
export function seqLt<A extends number, B extends number>(a: A & Plain<A>, b: B & Plain<B>): boolean;
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a` comes before or equals `b`. */
export function seqLeq(a: Seq, b: Seq): boolean;
export function seqLeq<A extends number, B extends number>(a: A & Plain<A>, b: B & Plain<B>): boolean;
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a` comes strictly after `b`. */
export function seqGt(a: Seq, b: Seq): boolean;
export function seqGt<A extends number, B extends number>(a: A & Plain<A>, b: B & Plain<B>): boolean;
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a` comes after or equals `b`. */
export function seqGeq(a: Seq, b: Seq): boolean;
export function seqGeq<A extends number, B extends number>(a: A & Plain<A>, b: B & Plain<B>): boolean;
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** `a + n` modulo 2^32, unsigned (`n` may be negative). */
export function seqAdd(a: Seq, n: number): Seq;
export function seqAdd<A extends number>(a: A & Plain<A>, n: number): number;
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The later of `a` and `b` in sequence space (unsigned). */
export function seqMax(a: Seq, b: Seq): Seq;
export function seqMax<A extends number, B extends number>(a: A & Plain<A>, b: B & Plain<B>): number;
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a >>> 0 : b >>> 0;
}

/** The earlier of `a` and `b` in sequence space (unsigned). */
export function seqMin(a: Seq, b: Seq): Seq;
export function seqMin<A extends number, B extends number>(a: A & Plain<A>, b: B & Plain<B>): number;
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) <= 0 ? a >>> 0 : b >>> 0;
}

/**
 * `lo ≤ x < hiExclusive` in sequence space. An empty range (lo = hi) holds
 * nothing. Computed as unsigned offsets from `lo`, so it is correct for any
 * range shorter than 2^32 even across the wrap.
 */
export function seqInRange(x: Seq, lo: Seq, hiExclusive: Seq): boolean;
export function seqInRange<X extends number, L extends number, H extends number>(x: X & Plain<X>, lo: L & Plain<L>, hiExclusive: H & Plain<H>): boolean;
export function seqInRange(x: number, lo: number, hiExclusive: number): boolean {
  return ((x - lo) >>> 0) < ((hiExclusive - lo) >>> 0);
}
