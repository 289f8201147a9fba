import { createHash } from 'node:crypto';

/**
 * The deterministic byte pattern `GET /bytes/<n>` serves, so a client can
 * check a download of any size without a reference file:
 *
 *     byte i of the body = (i × 31 + 7) mod 256        (i counted from 0)
 *
 * It repeats every 256 bytes (31 is odd, so i ↦ 31i+7 is a bijection mod
 * 256), so the first bytes are 07 26 45 64 83 a2 c1 e0 ff 1e …. In Python:
 * `bytes((i * 31 + 7) & 0xff for i in range(n))`.
 */

/** Byte `i` of the pattern. */
export function patternByte(i: number): number {
  return (((i % 256) * 31) + 7) & 0xff;
}

/** Fill `buf` with the pattern as it runs from absolute offset `start`. */
export function fillPattern(buf: Uint8Array, start = 0): Uint8Array {
  for (let k = 0; k < buf.length; k++) buf[k] = patternByte(start + k);
  return buf;
}

/** Bytes per chunk the server writes; a multiple of the 256-byte period. */
export const PATTERN_CHUNK = 64 * 1024;

let chunk: Buffer | null = null;
/**
 * One shared, never-modified chunk of {@link PATTERN_CHUNK} pattern bytes
 * starting at offset 0 (hence at any multiple of 256): the server writes it
 * again and again instead of building `n` bytes.
 */
export function patternChunk(): Buffer {
  if (!chunk) chunk = Buffer.from(fillPattern(new Uint8Array(PATTERN_CHUNK)));
  return chunk;
}

/**
 * Check that `data` equals the pattern from absolute offset `start`.
 * @returns the index (relative to `data`) of the first wrong byte, or -1
 */
export function checkPattern(data: Uint8Array, start = 0): number {
  for (let k = 0; k < data.length; k++) if (data[k] !== patternByte(start + k)) return k;
  return -1;
}

/**
 * The SHA-256 (hex) of the first `n` bytes of the pattern, computed by
 * streaming the shared chunk: what a client compares a `/bytes/<n>` download
 * against without building `n` bytes.
 */
export function patternSha256(n: number): string {
  const h = createHash('sha256');
  const c = patternChunk();
  for (let done = 0; done < n; done += PATTERN_CHUNK) h.update(c.subarray(0, Math.min(PATTERN_CHUNK, n - done)));
  return h.digest('hex');
}
