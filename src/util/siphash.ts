/**
 * SipHash-2-4 (Aumasson & Bernstein, 2012): a keyed pseudo-random function
 * with a 128-bit key, the one Linux uses for ISNs and SYN cookies
 * (secure_tcp_seq, __cookie_v4_init_sequence). Written on 32-bit halves so
 * that it runs on plain JS numbers without BigInt and allocates nothing per
 * call: the message goes into {@link SipHash.buf}, then {@link SipHash.hash}.
 */

/** SipHash-2-4 under one key, with a reusable message buffer. */
export class SipHash {
  /** Message bytes for the next {@link hash} call (64 bytes). */
  readonly buf = new Uint8Array(64);
  /** High 32 bits of the last result ({@link hash} returns the low 32). */
  hi = 0;
  private readonly k = new Uint32Array(4); // k0 lo, k0 hi, k1 lo, k1 hi
  private readonly v = new Uint32Array(8); // v0..v3 as lo, hi

  /** @param key - 16 bytes (read little-endian, as the reference implementation) */
  constructor(key: Uint8Array) {
    if (key.length < 16) throw new RangeError('SipHash key needs 16 bytes');
    for (let i = 0; i < 4; i++) {
      this.k[i] = (key[4 * i] | (key[4 * i + 1] << 8) | (key[4 * i + 2] << 16) | (key[4 * i + 3] << 24)) >>> 0;
    }
  }

  /**
   * SipHash-2-4 of the first `len` bytes of {@link buf}.
   * @returns the low 32 bits of the 64-bit result (the high ones in {@link hi})
   */
  hash(len: number): number {
    const v = this.v;
    const k = this.k;
    v[0] = k[0] ^ 0x70736575; v[1] = k[1] ^ 0x736f6d65;
    v[2] = k[2] ^ 0x6e646f6d; v[3] = k[3] ^ 0x646f7261;
    v[4] = k[0] ^ 0x6e657261; v[5] = k[1] ^ 0x6c796765;
    v[6] = k[2] ^ 0x79746573; v[7] = k[3] ^ 0x74656462;
    const b = this.buf;
    const full = len & ~7;
    let i = 0;
    for (; i < full; i += 8) {
      const lo = (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
      const hi = (b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24)) >>> 0;
      this.block(lo, hi);
    }
    // Last block: the remaining bytes, the length's low byte in the top byte.
    let lo = 0;
    let hi = (len & 0xff) << 24;
    const rest = len - full;
    for (let j = 0; j < rest; j++) {
      if (j < 4) lo |= b[i + j] << (8 * j);
      else hi |= b[i + j] << (8 * (j - 4));
    }
    this.block(lo >>> 0, hi >>> 0);
    v[4] ^= 0xff;
    this.round(); this.round(); this.round(); this.round();
    this.hi = (v[1] ^ v[3] ^ v[5] ^ v[7]) >>> 0;
    return (v[0] ^ v[2] ^ v[4] ^ v[6]) >>> 0;
  }

  private block(lo: number, hi: number): void {
    const v = this.v;
    v[6] ^= lo; v[7] ^= hi;
    this.round(); this.round();
    v[0] ^= lo; v[1] ^= hi;
  }

  /** One SipRound on v0..v3 (each a lo, hi pair). */
  private round(): void {
    const v = this.v;
    let v0l = v[0], v0h = v[1], v1l = v[2], v1h = v[3], v2l = v[4], v2h = v[5], v3l = v[6], v3h = v[7];
    let l: number, h: number;
    // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    l = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
    h = ((v1h << 13) | (v1l >>> 19)) >>> 0; l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
    v1l = (l ^ v0l) >>> 0; v1h = (h ^ v0h) >>> 0;
    l = v0l; v0l = v0h; v0h = l;
    // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
    l = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
    h = ((v3h << 16) | (v3l >>> 16)) >>> 0; l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
    v3l = (l ^ v2l) >>> 0; v3h = (h ^ v2h) >>> 0;
    // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
    l = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
    h = ((v3h << 21) | (v3l >>> 11)) >>> 0; l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
    v3l = (l ^ v0l) >>> 0; v3h = (h ^ v0h) >>> 0;
    // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    l = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
    h = ((v1h << 17) | (v1l >>> 15)) >>> 0; l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
    v1l = (l ^ v2l) >>> 0; v1h = (h ^ v2h) >>> 0;
    l = v2l; v2l = v2h; v2h = l;
    v[0] = v0l; v[1] = v0h; v[2] = v1l; v[3] = v1h; v[4] = v2l; v[5] = v2h; v[6] = v3l; v[7] = v3h;
  }
}
