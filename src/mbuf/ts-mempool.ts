import { MbufLayout as L } from './layout.js';
import { Mempool, NO_MBUF, type Mbuf } from './mempool.js';

/** Options for {@link TsMempool}. */
export interface TsMempoolOptions {
  /** Number of mbufs. */
  count: number;
  /** Data room after the headroom (default 2048, as DPDK's default). */
  dataRoom?: number;
  /** Private area per mbuf (default 0). */
  privSize?: number;
  /** Name for messages. */
  name?: string;
  /**
   * The made-up virtual address of byte 0 (default 0x10000000; a multiple of
   * 64). Tests use one just below a 4 GB boundary so that pointer fields of
   * the pool carry into their high word.
   */
  baseAddr?: number;
}

// Objects are cache-line aligned as in a DPDK mempool; the first one starts
// one line in so that offset 0 is never a valid mbuf.
const ALIGN = 64;
// A made-up, page-aligned address for byte 0: non-zero so that a zero `next`
// pointer still means "no next segment".
const FAKE_BASE = 0x10000000;

/**
 * A mempool in pure TypeScript over one `ArrayBuffer`, with the same
 * `rte_mbuf` layout as DPDK, so every protocol test runs without DPDK and the
 * library works without a NIC. Unlike DPDK it detects double frees and frees
 * of foreign mbufs, and throws on them: those are bugs, not input.
 */
export class TsMempool extends Mempool {
  readonly capacity: number;
  private readonly eltSize: number;
  private readonly firstOff: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly taken: Uint8Array;

  constructor(opts: TsMempoolOptions) {
    const priv = opts.privSize ?? 0;
    const bufLen = L.MBUF_DEFAULT_HEADROOM + (opts.dataRoom ?? L.MBUF_DEFAULT_DATAROOM);
    if (bufLen > 0xffff) throw new RangeError(`data room too large: buf_len ${bufLen} exceeds 65535`);
    if (!(opts.count > 0)) throw new RangeError('mempool count must be positive');
    const elt = Math.ceil((L.MBUF_HEADER_SIZE + priv + bufLen) / ALIGN) * ALIGN;
    const mem = new ArrayBuffer(ALIGN + elt * opts.count);
    const base = opts.baseAddr ?? FAKE_BASE;
    if (!(Number.isSafeInteger(base) && base > 0 && base % ALIGN === 0)) throw new RangeError(`bad base address ${base}`);
    super(opts.name ?? 'ts-pool', mem, base, priv, bufLen);
    this.capacity = opts.count;
    this.eltSize = elt;
    this.firstOff = ALIGN;
    this.freeStack = new Int32Array(opts.count);
    this.taken = new Uint8Array(opts.count);
    for (let i = 0; i < opts.count; i++) {
      // Handles are made here, from the pool's layout, and nowhere else in this pool.
      const m = (ALIGN + i * elt) as Mbuf;
      this.initObject(m);
      this.freeStack[opts.count - 1 - i] = m;
    }
    this.freeTop = opts.count;
  }

  private initObject(m: Mbuf): void {
    this.write64(m + L.MBUF_BUF_ADDR, this.baseAddr + m + L.MBUF_HEADER_SIZE + this.privSize);
    this.write64(m + L.MBUF_BUF_IOVA, this.baseAddr + m + L.MBUF_HEADER_SIZE + this.privSize);
    this.u16[(m + L.MBUF_BUF_LEN) >>> 1] = this.bufLen;
    this.u16[(m + L.MBUF_PRIV_SIZE) >>> 1] = this.privSize;
    this.setRefcnt(m, 1);
    this.setOlFlags(m, 0, 0);
    this.reset(m);
  }

  private index(m: Mbuf): number {
    const i = (m - this.firstOff) / this.eltSize;
    if (!Number.isInteger(i) || i < 0 || i >= this.capacity) throw new Error(`${this.name}: ${m} is not an mbuf of this pool`);
    return i;
  }

  override available(): number { return this.freeTop; }

  override allocBulk(out: Uint32Array, n: number): boolean {
    if (n > this.freeTop) return false;
    for (let k = 0; k < n; k++) {
      const m = this.freeStack[--this.freeTop] as Mbuf;
      this.taken[this.index(m)] = 1;
      this.reset(m);
      out[k] = m;
    }
    return true;
  }

  override freeBulk(pkts: Uint32Array, n: number): void {
    for (let k = 0; k < n; k++) this.freeChain(pkts[k] as Mbuf);
  }

  private freeChain(m: Mbuf): void {
    while (m !== NO_MBUF) {
      const next = this.next(m);
      const seg = this.prefreeSeg(m);
      if (seg !== NO_MBUF) this.rawFree(seg);
      m = next;
    }
  }

  /** `rte_pktmbuf_prefree_seg`: drop one reference; the mbuf to return to the pool, if any. */
  private prefreeSeg(m: Mbuf): Mbuf {
    if (!this.taken[this.index(m)]) throw new Error(`${this.name}: double free of mbuf ${m}`);
    const rc = this.refcnt(m);
    if (rc === 0) throw new Error(`${this.name}: mbuf ${m} has refcnt 0`);
    if (rc !== 1) {
      this.setRefcnt(m, rc - 1);
      return NO_MBUF;
    }
    if (!this.isDirect(m)) this.detach(m);
    this.setNext(m, NO_MBUF);
    this.setNbSegs(m, 1);
    return m;
  }

  /** `rte_pktmbuf_detach`: give an indirect mbuf its own buffer back and drop its reference. */
  private detach(mi: Mbuf): void {
    const md = this.directOf(mi);
    this.write64(mi + L.MBUF_BUF_ADDR, this.baseAddr + mi + L.MBUF_HEADER_SIZE + this.privSize);
    this.write64(mi + L.MBUF_BUF_IOVA, this.baseAddr + mi + L.MBUF_HEADER_SIZE + this.privSize);
    this.u16[(mi + L.MBUF_BUF_LEN) >>> 1] = this.bufLen;
    this.u16[(mi + L.MBUF_PRIV_SIZE) >>> 1] = this.privSize;
    this.setOlFlags(mi, 0, 0);
    this.setDataOff(mi, L.MBUF_DEFAULT_HEADROOM);
    this.setDataLen(mi, 0);
    if (!this.taken[this.index(md)]) throw new Error(`${this.name}: indirect mbuf ${mi} points at free mbuf ${md}`);
    const rc = this.refcnt(md);
    if (rc === 1) {
      this.setNext(md, NO_MBUF);
      this.setNbSegs(md, 1);
      this.rawFree(md);
    } else {
      this.setRefcnt(md, rc - 1);
    }
  }

  private rawFree(m: Mbuf): void {
    this.setRefcnt(m, 1);
    this.taken[this.index(m)] = 0;
    this.freeStack[this.freeTop++] = m;
  }
}
