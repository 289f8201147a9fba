import koffi from 'koffi';
import { Mempool } from '../mbuf/mempool.js';
import {
  POOL_BASE, POOL_BUF_LEN, POOL_CHUNKS, POOL_ELT_SIZE, POOL_INFO_COUNT, POOL_PRIV_SIZE, POOL_SIZE, POOL_SPAN,
  shimError, type Shim,
} from './dpdk-shim.js';

/** Options for `Dpdk.createPool`. */
export interface DpdkMempoolOptions {
  /** Number of mbufs. */
  count: number;
  /** Data room after the headroom (default 2048, as DPDK's default and TsMempool). */
  dataRoom?: number;
  /** Per-lcore cache (default 256, capped by DPDK's limits for small pools). */
  cacheSize?: number;
  /** Name (unique in the process; default tz-pool-<n>). */
  name?: string;
}

let poolSeq = 0;

/**
 * A DPDK `rte_pktmbuf` pool seen through ONE `koffi.view` over the memory
 * span that covers all of its chunks, so every accessor of {@link Mempool}
 * works on it unchanged and mbufs are plain offsets into that view.
 *
 * Allocation and freeing go through DPDK (`rte_pktmbuf_alloc_bulk`,
 * `rte_pktmbuf_free_bulk`), which honours chains, refcounts and indirect
 * mbufs exactly as the TypeScript pool does. Unlike `TsMempool` it cannot
 * detect double frees: DPDK does not check.
 */
export class DpdkMempool extends Mempool {
  readonly capacity: number;
  /** The shim's handle for this pool. */
  readonly poolId: number;
  /** Bytes per mempool object (header, private area, buffer). */
  readonly eltSize: number;
  /** Memory chunks the view spans. */
  readonly chunks: number;
  private readonly shim: Shim;
  private destroyed = false;

  private constructor(shim: Shim, id: number, name: string, memory: ArrayBuffer, info: BigUint64Array) {
    super(name, memory, Number(info[POOL_BASE]), Number(info[POOL_PRIV_SIZE]), Number(info[POOL_BUF_LEN]));
    this.shim = shim;
    this.poolId = id;
    this.capacity = Number(info[POOL_SIZE]);
    this.eltSize = Number(info[POOL_ELT_SIZE]);
    this.chunks = Number(info[POOL_CHUNKS]);
  }

  /** @internal Use `Dpdk.createPool` (EAL must be initialised first). */
  static create(shim: Shim, opts: DpdkMempoolOptions): DpdkMempool {
    if (!(Number.isInteger(opts.count) && opts.count > 0)) throw new RangeError('mempool count must be a positive integer');
    const dataRoom = opts.dataRoom ?? 2048;
    // DPDK refuses a cache larger than count / 1.5 (and above 512).
    const cache = Math.min(opts.cacheSize ?? 256, 512, Math.floor(opts.count / 1.5));
    const name = opts.name ?? `tz-pool-${process.pid}-${poolSeq++}`;
    const info = new BigUint64Array(POOL_INFO_COUNT);
    const id = shim.tz_pool_create(name, opts.count, cache, dataRoom, info);
    if (id < 0) throw shimError(shim, `creating mempool ${name} (${opts.count} mbufs, data room ${dataRoom})`, id);
    const memory = koffi.view(info[POOL_BASE], Number(info[POOL_SPAN]));
    return new DpdkMempool(shim, id, name, memory, info);
  }

  override allocBulk(out: Uint32Array, n: number): boolean {
    if (n > out.length) throw new RangeError(`allocBulk: ${n} mbufs do not fit an array of ${out.length}`);
    if (n <= 0) return true;
    return this.shim.tz_pool_alloc_bulk(this.poolId, out, n) === 0;
  }

  override freeBulk(pkts: Uint32Array, n: number): void {
    if (n > pkts.length) throw new RangeError(`freeBulk: ${n} mbufs but the array holds ${pkts.length}`);
    if (n > 0) this.shim.tz_pool_free_bulk(this.poolId, pkts, n);
  }

  override available(): number {
    return this.shim.tz_pool_avail(this.poolId);
  }

  /**
   * Give the pool's memory back to DPDK. Every mbuf must have been freed and
   * no port may still use the pool; the views must not be touched afterwards.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.shim.tz_pool_destroy(this.poolId);
  }
}
