/**
 * A small seeded generator (xorshift128+ reduced to 32-bit words), so that
 * impairments and simulations replay exactly from a printed seed.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** @param seed - any integer; the same seed gives the same sequence */
  constructor(seed: number) {
    // splitmix32 spreads a small seed over the whole state
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next() | 1;
  }
  /** A uniform 32-bit unsigned integer (xoshiro128**). */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }
  /** A uniform float in [0, 1). */
  float(): number { return this.u32() / 4294967296; }
  /** A uniform integer in [0, n). */
  int(n: number): number { return Math.floor(this.float() * n); }
  /** True with probability p. */
  chance(p: number): boolean { return p > 0 && this.float() < p; }
}

function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }
