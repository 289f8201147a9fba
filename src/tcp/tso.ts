/**
 * Helpers for checksum offload and TCP segmentation offload (TSO) on the
 * send side; output.ts decides when a segment goes out as TSO (up to 64 KB
 * with `TCP_SEG | IPV4 | IP_CKSUM`, l2/l3/l4 lengths, tso_segsz within the
 * MTU and the pseudo-header sum without the length).
 *
 * Everything that counts segments (the SACK scoreboard, RACK) must see a
 * TSO send as the MSS-sized pieces the device cuts: {@link forEachPiece}.
 */
import type { Seq } from './seq.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Mbuf } from '../mbuf/index.js';

/**
 * Call `fn(seq, len)` for each MSS-sized piece of a send of `len` bytes at
 * `seq` (the last piece may be shorter): how the wire sees a TSO send, for
 * per-segment bookkeeping such as RACK and the SACK scoreboard.
 */
export function forEachPiece(seq: Seq, len: number, mss: number, fn: (seq: Seq, len: number) => void): void {
  if (len <= 0) return;
  for (let off = 0; off < len; off += mss) {
    fn(((seq + off) >>> 0) as Seq, Math.min(mss, len - off));
  }
}

/**
 * Make every segment of the packet `m` except the last one even-sized, so
 * a device that sums a chain segment by segment with no regard for odd
 * byte lanes — DPDK 22.11's net_tap does exactly that for its checksum
 * offload and for the pieces its software TSO cuts — computes the right
 * TCP checksum. An odd segment gives its last byte to a new 2-byte bridge
 * mbuf, which also takes the first byte of the following segment; the
 * following segment's view starts one byte later. Only views move: the
 * payload buffers are never written, and at most 2 bytes per odd boundary
 * are copied (counted in `txBridgeBytes`).
 *
 * The first segment (Ethernet, IP and TCP headers, always even) is never
 * changed.
 * @returns false when the pool had no mbuf for a bridge (the packet is
 *   still valid, but not evened out)
 */
export function evenSegments(pool: Mempool, m: Mbuf, counters: Record<string, unknown>): boolean {
  let prev = m;
  let s = pool.next(m);
  const u8 = pool.u8;
  let bridged = 0;
  let ok = true;
  while (s !== NO_MBUF) {
    let nx = pool.next(s);
    // Empty segments in the middle carry nothing; drop them.
    while (nx !== NO_MBUF && pool.dataLen(nx) === 0) {
      pool.setNext(s, pool.next(nx));
      pool.setNext(nx, NO_MBUF);
      pool.setNbSegs(nx, 1);
      pool.free(nx);
      nx = pool.next(s);
    }
    if (nx === NO_MBUF) break;
    const dl = pool.dataLen(s);
    if ((dl & 1) === 0) { prev = s; s = nx; continue; }
    const b = pool.alloc();
    if (b === NO_MBUF) { ok = false; break; }
    pool.setDataOff(b, 0);
    const at = pool.mtod(b);
    u8[at] = u8[pool.mtod(s) + dl - 1];
    u8[at + 1] = u8[pool.mtod(nx)];
    pool.setDataLen(b, 2);
    pool.setPktLen(b, 2);
    pool.setDataLen(s, dl - 1);
    pool.setDataOff(nx, pool.dataOff(nx) + 1);
    pool.setDataLen(nx, pool.dataLen(nx) - 1);
    pool.setNext(b, nx);
    bridged += 2;
    if (dl === 1) {
      // `s` is empty now: the bridge replaces it.
      pool.setNext(prev, b);
      pool.setNext(s, NO_MBUF);
      pool.setNbSegs(s, 1);
      pool.free(s);
    } else {
      pool.setNext(s, b);
    }
    prev = b;
    if (pool.dataLen(nx) === 0) {
      // `nx` gave its only byte: unlink it too.
      pool.setNext(b, pool.next(nx));
      pool.setNext(nx, NO_MBUF);
      pool.setNbSegs(nx, 1);
      pool.free(nx);
      s = pool.next(b);
    } else {
      s = nx;
    }
  }
  if (bridged > 0) counters.txBridgeBytes = ((counters.txBridgeBytes as number | undefined) ?? 0) + bridged;
  pool.setNbSegs(m, pool.countSegs(m));
  return ok;
}
