import koffi from 'koffi';
import { Mempool, NO_MBUF } from '../mbuf/mempool.js';
import { MbufLayout as L } from '../mbuf/layout.js';
import {
  POOL_BASE, POOL_BUF_LEN, POOL_CHUNKS, POOL_ELT_SIZE, POOL_INFO_COUNT, POOL_PRIV_SIZE, POOL_SIZE, POOL_SPAN,
  shimError, type Shim,
} from './dpdk-shim.js';
import type { Mbuf } from '../mbuf/index.js';

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

/**
 * What another thread of this process needs to see a pool (structured-clone
 * safe: pass it in `workerData`). Made by `DpdkMempool.handle()`.
 */
export interface DpdkPoolHandle {
  /** The shim's pool id. */
  id: number;
  name: string;
  /** Virtual address and length of the memory span the pool's view covers. */
  base: number;
  span: number;
  privSize: number;
  bufLen: number;
  capacity: number;
  eltSize: number;
  chunks: number;
}

let poolSeq = 0;

/**
 * Mbufs the TypeScript side keeps between single allocs and frees: a
 * sixteenth of the pool, at least 256 and at most 1,024. A bulk sender's
 * payload mbufs circulate through it (freed one by one as acknowledged,
 * taken again for the next write: one by one by a copying write, in bulk by
 * `allocTxMbuf`, see {@link DpdkMempool.allocBulk}); with less room than a send
 * buffer's worth (1 MB at MSS 1448 is ~725 mbufs) they overflow into DPDK's
 * per-lcore cache, whose overflow pushes the hot ones to the pool's ring
 * and whose refill takes cold ones from it (last touched a pool's worth of
 * allocations ago: from DRAM on a 65,535-mbuf pool).
 */
const STASH_MIN = 256;
const STASH_MAX = 1024;
/** How many mbufs one refill takes from DPDK (one koffi call). */
const REFILL = 64;
/** Packets {@link DpdkMempool.free} collects for DPDK before one `tz_pool_free_bulk`. */
const PENDING_PACKETS = 64;
/** ... or segments (head nb_segs summed), so that few mbufs hide from a NIC's receive refill. */
const PENDING_SEGS = 256;
/** {@link DpdkMempool.recentAvailable} re-reads DPDK's count (one koffi call) once per this many answers (a power of two). */
const RECENT_READS = 32;

/**
 * A DPDK `rte_pktmbuf` pool seen through ONE `koffi.view` over the memory
 * span that covers all of its chunks, so every accessor of {@link Mempool}
 * works on it unchanged and mbufs are plain offsets into that view.
 *
 * Allocation and freeing go through DPDK (`rte_pktmbuf_alloc_bulk`,
 * `rte_pktmbuf_free_bulk`), which honours chains, refcounts and indirect
 * mbufs exactly as the TypeScript pool does. Unlike `TsMempool` it cannot
 * detect double frees: DPDK does not check.
 *
 * A koffi call costs far more than the work of allocating one mbuf, and the
 * stack allocates and frees one at a time (a header here, a slice there), so
 * single {@link alloc}/{@link free} go through a small stash on the
 * TypeScript side, refilled and drained in bulk. Only plain mbufs enter the
 * stash (one segment, refcnt 1, direct), reset as they enter it, so
 * {@link alloc} is a pop. Packets that need DPDK's free logic (chains,
 * shared or attached buffers) are collected and freed in one koffi call per
 * 64 packets or 256 segments; until then they count as in use and the
 * references they hold still count (a buffer an unflushed indirect mbuf
 * points at reads refcnt 2). {@link flush} frees them at once; counts,
 * a failing allocation, {@link flushStash} and {@link destroy} do so by
 * themselves. Stashed mbufs count as available.
 *
 * Several threads: a worker thread sees the same pool through its own
 * instance (`Dpdk.attach`, {@link attach}) with its own view and its own
 * stash, so no two threads ever touch one stash. DPDK's get and put are
 * thread-safe (the pool's ring is multi-producer/multi-consumer, and a
 * thread registered as an lcore has its own per-lcore cache; an
 * unregistered one goes to the ring directly). Accounting: each instance's
 * {@link available} is DPDK's count (ring plus every lcore cache) plus its
 * OWN stash, so the mbufs stashed in each other instance (up to 1,024) show as in
 * use from here; {@link flushStash} (called by `DpdkAttached.close()` and
 * {@link destroy}) gives a stash back, after which every instance agrees.
 */
export class DpdkMempool extends Mempool {
  readonly capacity: number;
  /** The shim's handle for this pool. */
  readonly poolId: number;
  /** Bytes per mempool object (header, private area, buffer). */
  readonly eltSize: number;
  /** Memory chunks the view spans. */
  readonly chunks: number;
  /** Whether this instance attached to a pool another thread created (it cannot destroy it). */
  readonly attached: boolean;
  private readonly shim: Shim;
  private destroyed = false;
  // Every stashed mbuf is in the state rte_pktmbuf_alloc returns it (reset,
  // refcnt 1): DPDK hands refills out that way and free() resets what it stashes,
  // so alloc() is a pop.
  private readonly stash: Uint32Array;
  private stashLen = 0;
  // Packets free() could not stash (chains, shared or indirect mbufs), for
  // DPDK's free logic in one koffi call; still in use until flushed.
  private readonly pending = new Uint32Array(PENDING_PACKETS);
  private pendingLen = 0;
  private pendingSegs = 0;
  /** data_off of a reset direct mbuf of this pool (with refcnt 1 in the upper half: one 32-bit store). */
  private readonly resetOffRef: number;
  // recentAvailable's estimate of DPDK's own count (ring and lcore caches,
  // without the stash): the last exact count, less what refills took since,
  // plus what drains and flushes gave back; -1: unknown (read it).
  private dpdkAvail = -1;
  private recentReads = 0;

  private constructor(shim: Shim, id: number, name: string, memory: ArrayBuffer, info: BigUint64Array, attached = false) {
    super(name, memory, Number(info[POOL_BASE]), Number(info[POOL_PRIV_SIZE]), Number(info[POOL_BUF_LEN]));
    this.shim = shim;
    this.attached = attached;
    this.poolId = id;
    this.capacity = Number(info[POOL_SIZE]);
    this.stash = new Uint32Array(Math.min(STASH_MAX, Math.max(STASH_MIN, this.capacity >>> 4)));
    this.eltSize = Number(info[POOL_ELT_SIZE]);
    this.chunks = Number(info[POOL_CHUNKS]);
    this.resetOffRef = (1 << 16) | Math.min(L.MBUF_DEFAULT_HEADROOM, this.bufLen);
    this.threadShared = attached;
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

  /**
   * @internal Use `Dpdk.attach`: this pool, created by another thread of
   * this process, seen through a view of this thread's own over the same
   * memory (mbuf offsets mean the same thing in every thread).
   */
  static attach(shim: Shim, h: DpdkPoolHandle): DpdkMempool {
    const info = new BigUint64Array(POOL_INFO_COUNT);
    info[POOL_BASE] = BigInt(h.base);
    info[POOL_SPAN] = BigInt(h.span);
    info[POOL_SIZE] = BigInt(h.capacity);
    info[POOL_BUF_LEN] = BigInt(h.bufLen);
    info[POOL_PRIV_SIZE] = BigInt(h.privSize);
    info[POOL_ELT_SIZE] = BigInt(h.eltSize);
    info[POOL_CHUNKS] = BigInt(h.chunks);
    return new DpdkMempool(shim, h.id, h.name, koffi.view(info[POOL_BASE], h.span), info, true);
  }

  /** What another thread needs to attach to this pool. */
  handle(): DpdkPoolHandle {
    this.threadShared = true;
    return {
      id: this.poolId, name: this.name, base: this.baseAddr, span: this.u8.byteLength, privSize: this.privSize,
      bufLen: this.bufLen, capacity: this.capacity, eltSize: this.eltSize, chunks: this.chunks,
    };
  }

  /** Give every stashed and pending mbuf back to DPDK (so other instances' counts agree with this one's). */
  flushStash(): void {
    this.flush();
    this.drainStash(this.stashLen);
  }

  /**
   * Hand the packets {@link free} has collected to DPDK now (one koffi call).
   * Never needed for correctness: it happens by itself when 64 packets or
   * 256 segments are pending, before an allocation fails, and in
   * {@link available}, {@link inUse}, {@link flushStash} and {@link destroy}.
   * A poll loop may call it once per iteration so that freed chains return
   * (and buffers they reference are released) without waiting for a batch.
   */
  override flush(): void {
    const n = this.pendingLen;
    if (n === 0) return;
    // Segments DPDK gets back: all of them unless some are still referenced
    // (then the estimate is high until the next exact read).
    if (this.dpdkAvail >= 0) this.dpdkAvail += this.pendingSegs;
    this.pendingLen = 0;
    this.pendingSegs = 0;
    this.shim.tz_pool_free_bulk(this.poolId, this.pending, n);
  }

  override allocBulk(out: Uint32Array, n: number): boolean {
    if (n > out.length) throw new RangeError(`allocBulk: ${n} mbufs do not fit an array of ${out.length}`);
    if (n <= 0) return true;
    const k = this.stashLen - n;
    if (k >= 0) {
      // From the stash's top, the mbufs freed last (in cache): a writer
      // taking its messages in bulk gets back the ones its acknowledged
      // segments were, instead of DPDK's, which may come cold from its ring.
      const st = this.stash;
      for (let j = 0; j < n; j++) out[j] = st[k + j];
      this.stashLen = k;
      return true;
    }
    if (this.shim.tz_pool_alloc_bulk(this.poolId, out, n) !== 0) {
      if (this.pendingLen === 0) { this.dpdkAvail = -1; return false; }
      this.flush();
      if (this.shim.tz_pool_alloc_bulk(this.poolId, out, n) !== 0) { this.dpdkAvail = -1; return false; }
    }
    if (this.dpdkAvail >= 0) this.dpdkAvail = n <= this.dpdkAvail ? this.dpdkAvail - n : 0;
    return true;
  }

  override freeBulk(pkts: Uint32Array, n: number): void {
    if (n > pkts.length) throw new RangeError(`freeBulk: ${n} mbufs but the array holds ${pkts.length}`);
    if (n <= 0) return;
    this.shim.tz_pool_free_bulk(this.poolId, pkts, n);
    // At least one mbuf per packet unless shared: the estimate, until the next exact read.
    if (this.dpdkAvail >= 0) this.dpdkAvail += n;
  }

  /** Mbufs available: DPDK's count (a koffi call, after {@link flush}) plus this instance's stash. See {@link hasAtLeast}. */
  override available(): number {
    const n = this.pendingLen;
    if (n === 0) {
      const a = this.shim.tz_pool_avail(this.poolId);
      this.dpdkAvail = a;
      return a + this.stashLen;
    }
    // Pending frees go first, in the same native call as the count (a
    // writer asks once per write: one koffi call instead of two).
    this.pendingLen = 0;
    this.pendingSegs = 0;
    const a = this.shim.tz_pool_free_bulk_avail(this.poolId, this.pending, n);
    this.dpdkAvail = a;
    return a + this.stashLen;
  }

  /**
   * {@link available} as last seen, without a koffi call: DPDK's last exact
   * count moved by this instance's own refills, drains and flushes, plus the
   * stash; read exactly (one call) when unknown and once per 32 answers, so
   * what others do to the pool (a PMD's receive refill, other threads,
   * buffers freed natively after transmit) shows within that many writes.
   */
  override recentAvailable(): number {
    const a = this.dpdkAvail;
    if (a < 0 || (++this.recentReads & (RECENT_READS - 1)) === 0) return this.available();
    return a + this.stashLen;
  }

  override refreshAvailable(): void { this.dpdkAvail = -1; }

  /**
   * Whether at least `n` mbufs are available: answered from the stash
   * without a koffi call when it holds `n`, else exactly as
   * `available() >= n`. Use it where a caller only compares the count with
   * a threshold (per write, per segment).
   */
  override hasAtLeast(n: number): boolean {
    return n <= this.stashLen || this.available() >= n;
  }

  override alloc(): Mbuf {
    if (this.stashLen === 0 && !this.refill()) return NO_MBUF;
    return this.stash[--this.stashLen] as Mbuf;
  }

  private refill(): boolean {
    const shim = this.shim;
    let got = shim.tz_pool_alloc_bulk(this.poolId, this.stash, REFILL) === 0 ? REFILL : 0;
    if (got === 0) {
      // Short of mbufs: first give DPDK what is pending, then take what is there.
      this.flush();
      got = shim.tz_pool_alloc_bulk(this.poolId, this.stash, REFILL) === 0 ? REFILL
        : shim.tz_pool_alloc_bulk(this.poolId, this.stash, 1) === 0 ? 1 : 0;
    }
    this.stashLen = got;
    if (got < REFILL) this.dpdkAvail = -1; // short: read it exactly next time
    else if (this.dpdkAvail >= 0) this.dpdkAvail = got <= this.dpdkAvail ? this.dpdkAvail - got : 0;
    return got !== 0;
  }

  /** Free one packet (the whole chain); {@link NO_MBUF} is ignored, as rte_pktmbuf_free(NULL). */
  override free(m: Mbuf): void {
    if (m < 0) return;
    const u16 = this.u16;
    const u32 = this.u32;
    const i32 = this.i32;
    const nx = (m + L.MBUF_NEXT) >> 2;
    if ((i32[nx] | i32[nx + 1]) === 0 && u16[(m + L.MBUF_REFCNT) >> 1] === 1
      && (u32[(m + L.MBUF_OL_FLAGS + 4) >> 2] & (L.OL_INDIRECT_HI | L.OL_EXTERNAL_HI)) === 0) {
      this.stashPlain(m);
      return;
    }
    this.pending[this.pendingLen++] = m;
    this.pendingSegs += u16[(m + L.MBUF_NB_SEGS) >> 1];
    if (this.pendingLen === PENDING_PACKETS || this.pendingSegs >= PENDING_SEGS) this.flush();
  }

  /**
   * {@link Mempool.releaseRef}, the last reference's free done here: the
   * mbuf is a send buffer's own (direct, single, of this pool, no external
   * buffer), so it goes straight to the stash, reset in whole words (its
   * next included, which a zero-copy chain taken apart leaves stale), without
   * free()'s checks and without the base class's resets before them.
   */
  override releaseRef(m: Mbuf): void {
    if (!this.dropRef(m)) return;
    const nx = (m + L.MBUF_NEXT) >> 2;
    this.i32[nx] = 0;
    this.i32[nx + 1] = 0;
    this.stashPlain(m);
  }

  /**
   * Stash `m`, a plain direct single-segment mbuf of this pool (next
   * already NULL), reset as rte_pktmbuf_prefree_seg and alloc would leave
   * it, in whole words: data_off+refcnt (refcnt 1), nb_segs+port, ol_flags,
   * packet_type, pkt_len, data_len+vlan_tci, vlan_tci_outer, tx_offload.
   */
  private stashPlain(m: Mbuf): void {
    const u32 = this.u32;
    const w = m >> 2;
    u32[w + (L.MBUF_DATA_OFF >> 2)] = this.resetOffRef;
    u32[w + (L.MBUF_NB_SEGS >> 2)] = 0xffff0001;
    u32[w + (L.MBUF_OL_FLAGS >> 2)] = 0;
    u32[w + (L.MBUF_OL_FLAGS >> 2) + 1] = 0;
    u32[w + (L.MBUF_PACKET_TYPE >> 2)] = 0;
    u32[w + (L.MBUF_PKT_LEN >> 2)] = 0;
    u32[w + (L.MBUF_DATA_LEN >> 2)] = 0;
    this.u16[(m + L.MBUF_VLAN_TCI_OUTER) >> 1] = 0;
    u32[w + (L.MBUF_TX_OFFLOAD >> 2)] = 0;
    u32[w + (L.MBUF_TX_OFFLOAD >> 2) + 1] = 0;
    if (this.stashLen === this.stash.length) this.drainStash(this.stash.length >>> 1);
    this.stash[this.stashLen++] = m;
  }

  /** Give `n` stashed mbufs back to DPDK (the most recently stashed stay). */
  private drainStash(n: number): void {
    n = Math.min(n, this.stashLen);
    if (n === 0) return;
    this.shim.tz_pool_free_bulk(this.poolId, this.stash, n);
    this.stash.copyWithin(0, n, this.stashLen);
    this.stashLen -= n;
    if (this.dpdkAvail >= 0) this.dpdkAvail += n;
  }

  /**
   * Give the pool's memory back to DPDK. Every mbuf must have been freed and
   * no port may still use the pool; the views must not be touched afterwards.
   * On an attached instance this only flushes the stash: the pool belongs to
   * the thread that created it.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.drainStash(this.stashLen);
    this.destroyed = true;
    if (!this.attached) this.shim.tz_pool_destroy(this.poolId);
  }
}
