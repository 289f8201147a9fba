import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Mbuf } from '../mbuf/index.js';

/**
 * Make the first `len` bytes of packet `m` contiguous in its first segment
 * (BSD's `m_pullup`), moving them from the following segments into the
 * first one's tailroom. Headers are parsed from the first segment only, and
 * a zero-copy chain (a reassembled datagram, a fragment made of indirect
 * mbufs) may leave the first one short or empty.
 *
 * Only the first segment's own buffer is written: it must be direct and
 * unshared. Following segments are only advanced (their view, not their
 * bytes), and freed once emptied; shared direct segments are left alone.
 * @returns false when it cannot be done (packet shorter than `len`, no
 *   tailroom, shared buffers); the packet is then unchanged or still valid
 */
export function pullup(pool: Mempool, m: Mbuf, len: number): boolean {
  let dl = pool.dataLen(m);
  if (dl >= len) return true;
  if (len > pool.pktLen(m) || !pool.isDirect(m) || pool.refcnt(m) !== 1 || pool.tailroom(m) < len - dl) return false;
  const u8 = pool.u8;
  let dst = pool.mtod(m) + dl;
  let need = len - dl;
  while (need > 0) {
    const n = pool.next(m);
    if (n === NO_MBUF || pool.refcnt(n) !== 1) return false;
    const ndl = pool.dataLen(n);
    const take = Math.min(need, ndl);
    const src = pool.mtod(n);
    u8.copyWithin(dst, src, src + take);
    dst += take;
    need -= take;
    dl += take;
    pool.setDataLen(m, dl);
    pool.setDataOff(n, pool.dataOff(n) + take);
    pool.setDataLen(n, ndl - take);
    if (ndl === take) {
      pool.setNext(m, pool.next(n));
      pool.setNext(n, NO_MBUF);
      pool.setNbSegs(n, 1);
      pool.setPktLen(n, 0);
      pool.free(n);
      pool.setNbSegs(m, pool.nbSegs(m) - 1);
    }
  }
  return true;
}
