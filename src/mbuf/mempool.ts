import { MbufLayout as L } from './layout.js';

// Inlined by tsc, as MbufLayout (see layout.ts): no module variable load per use.
const enum Nil { MBUF = -1 }

declare const mbufBrand: unique symbol;
/**
 * An mbuf handle: the byte offset of its `rte_mbuf` header in its pool's
 * memory (see {@link Mempool}). A plain number at run time; the brand exists
 * only for the type checker, so a handle is not mixed up with a length, an
 * offset into {@link Mempool.u8} or a sequence number. Handles are made by
 * the pools alone (the casts from number are in this file, ts-mempool.ts and
 * dpdk-mempool.ts, plus reads from the typed arrays that carry handles in
 * bursts).
 */
export type Mbuf = number & { readonly [mbufBrand]: 'Mbuf' };

/** The value functions return where DPDK would return a NULL mbuf pointer. */
export const NO_MBUF: Mbuf = Nil.MBUF as Mbuf;

const TWO32 = 4294967296;

/**
 * A pool of packet buffers laid out exactly as DPDK's `rte_mbuf`s, seen
 * through one `ArrayBuffer`.
 *
 * An mbuf is named by a plain integer: the byte offset of its `rte_mbuf`
 * header inside {@link u8}. Packet bytes are read and written in place
 * through {@link u8} / {@link dv} at the offset {@link mtod} returns, so no
 * JavaScript object is made per packet. Subclasses decide where the memory
 * comes from and how mbufs are taken and returned ({@link TsMempool} in
 * pure TypeScript, `DpdkMempool` through the shim); everything else — field
 * access, headroom arithmetic, chains, indirect (attached) mbufs — is here,
 * once, so both behave identically.
 */
export abstract class Mempool {
  /** Byte view of the pool's whole memory. */
  readonly u8: Uint8Array;
  /** DataView over the same memory (network byte order reads). */
  readonly dv: DataView;
  protected readonly u16: Uint16Array;
  protected readonly u32: Uint32Array;
  // Pointer fields (buf_addr, next) are handled as 32-bit words, never as
  // doubles: the view spans less than 2 GB, so an address inside it differs
  // from baseAddr by less than 2^31 and that offset is the int32 difference of
  // the low words alone.
  protected readonly i32: Int32Array;
  /** Low and high 32-bit words of {@link baseAddr} (as int32). */
  protected readonly baseLo: number;
  protected readonly baseHi: number;
  /** Offsets at or above this carry into the high word (0x7fffffff: none in the span). */
  protected readonly carryAt: number;
  /** Virtual address of byte 0 of {@link u8}, as DPDK stores it in `buf_addr`/`next`. */
  readonly baseAddr: number;
  /** Bytes of private area between the header and the data buffer. */
  readonly privSize: number;
  /** buf_len of a direct mbuf: headroom plus data room. */
  readonly bufLen: number;
  /** Number of mbufs in the pool. */
  abstract readonly capacity: number;
  /** A name for error messages and statistics. */
  readonly name: string;
  /**
   * Whether another thread may hold references to this pool's mbufs (a DPDK
   * pool whose handle was given out, or an instance attached to one): then
   * {@link releaseRef} and {@link attachSliceAt} update refcounts atomically.
   */
  protected threadShared = false;

  protected constructor(name: string, memory: ArrayBuffer, baseAddr: number, privSize: number, bufLen: number) {
    this.name = name;
    this.u8 = new Uint8Array(memory);
    this.dv = new DataView(memory);
    this.u16 = new Uint16Array(memory, 0, memory.byteLength >>> 1);
    this.u32 = new Uint32Array(memory, 0, memory.byteLength >>> 2);
    this.i32 = new Int32Array(memory, 0, memory.byteLength >>> 2);
    if (memory.byteLength >= 0x80000000) throw new RangeError(`${name}: a pool view must span less than 2 GB`);
    if (!(Number.isSafeInteger(baseAddr) && baseAddr > 0)) throw new RangeError(`${name}: bad base address ${baseAddr}`);
    this.baseAddr = baseAddr;
    const lo = baseAddr % TWO32;
    this.baseLo = lo | 0;
    this.baseHi = Math.floor(baseAddr / TWO32) | 0;
    this.carryAt = TWO32 - lo > 0x7fffffff ? 0x7fffffff : TWO32 - lo;
    this.privSize = privSize;
    this.bufLen = bufLen;
  }

  /** Take `n` mbufs into `out` (reset, refcnt 1): all of them, or none and `false`. */
  abstract allocBulk(out: Uint32Array, n: number): boolean;
  /** Free `n` packets (whole chains, honouring refcnt and indirect mbufs). */
  abstract freeBulk(pkts: Uint32Array, n: number): void;
  /** Mbufs currently available in the pool (including any per-core cache). */
  abstract available(): number;

  /** Mbufs currently taken from the pool. */
  inUse(): number { return this.capacity - this.available(); }

  /**
   * Whether at least `n` mbufs are available, as `available() >= n` but
   * cheaper where the pool can tell without counting (a DPDK pool answers
   * from its TypeScript stash, without a koffi call, when that holds `n`).
   * Prefer it to {@link available} for threshold checks on the hot path.
   */
  hasAtLeast(n: number): boolean { return this.available() >= n; }

  /**
   * Mbufs available, as last seen: {@link available} where counting is
   * cheap (this pure TypeScript pool), an estimate kept in JavaScript where
   * it is not (a DPDK pool: its last exact count, moved by the refills and
   * drains of its stash and its own frees, re-read with one native call
   * every so often). For the per-write threshold checks of the send path
   * (one native call per write was ~150 ns): a caller that would refuse
   * work on it asks {@link available} first, so a refusal is always exact.
   */
  recentAvailable(): number { return this.available(); }

  /**
   * Drop the estimate {@link recentAvailable} keeps, so its next answer is
   * exact (a poll loop may call it once per poll; a no-op where counting is
   * exact anyway).
   */
  refreshAvailable(): void { /* exact already */ }

  /**
   * Complete frees the pool batches (a DPDK pool collects packets it cannot
   * stash for one bulk free). Correctness never depends on it: counts,
   * allocation failures and destroy flush by themselves. A poll loop may call
   * it once per iteration; a no-op for pools that free at once.
   */
  flush(): void { /* frees are immediate here */ }

  private readonly one = new Uint32Array(1);
  /** Take one reset mbuf, or {@link Nil.MBUF} when the pool is empty. */
  alloc(): Mbuf {
    return this.allocBulk(this.one, 1) ? this.one[0] as Mbuf : Nil.MBUF as Mbuf;
  }
  /** Free one packet (the whole chain). */
  free(m: Mbuf): void {
    this.one[0] = m;
    this.freeBulk(this.one, 1);
  }

  // ---- 64-bit fields as JS numbers (addresses fit in 53 bits) ----
  protected read64(p: number): number { return this.u32[(p + 4) >>> 2] * TWO32 + this.u32[p >>> 2]; }
  protected write64(p: number, v: number): void {
    this.u32[p >>> 2] = v >>> 0;
    this.u32[(p + 4) >>> 2] = Math.floor(v / TWO32);
  }

  // ---- field accessors ----
  dataOff(m: Mbuf): number { return this.u16[(m + L.MBUF_DATA_OFF) >>> 1]; }
  setDataOff(m: Mbuf, v: number): void { this.u16[(m + L.MBUF_DATA_OFF) >>> 1] = v; }
  refcnt(m: Mbuf): number { return this.u16[(m + L.MBUF_REFCNT) >>> 1]; }
  setRefcnt(m: Mbuf, v: number): void { this.u16[(m + L.MBUF_REFCNT) >>> 1] = v; }
  /** Add `d` to the refcount and return the new value. */
  refcntUpdate(m: Mbuf, d: number): number {
    const v = (this.u16[(m + L.MBUF_REFCNT) >>> 1] + d) & 0xffff;
    this.u16[(m + L.MBUF_REFCNT) >>> 1] = v;
    return v;
  }
  nbSegs(m: Mbuf): number { return this.u16[(m + L.MBUF_NB_SEGS) >>> 1]; }
  setNbSegs(m: Mbuf, v: number): void { this.u16[(m + L.MBUF_NB_SEGS) >>> 1] = v; }
  port(m: Mbuf): number { return this.u16[(m + L.MBUF_PORT) >>> 1]; }
  setPort(m: Mbuf, v: number): void { this.u16[(m + L.MBUF_PORT) >>> 1] = v; }
  /** ol_flags bits 0-31 (the receive flags live here). */
  olFlagsLo(m: Mbuf): number { return this.u32[(m + L.MBUF_OL_FLAGS) >>> 2]; }
  /** ol_flags bits 32-63 (the transmit flags live here). */
  olFlagsHi(m: Mbuf): number { return this.u32[(m + L.MBUF_OL_FLAGS + 4) >>> 2]; }
  setOlFlags(m: Mbuf, lo: number, hi: number): void {
    this.u32[(m + L.MBUF_OL_FLAGS) >>> 2] = lo >>> 0;
    this.u32[(m + L.MBUF_OL_FLAGS + 4) >>> 2] = hi >>> 0;
  }
  packetType(m: Mbuf): number { return this.u32[(m + L.MBUF_PACKET_TYPE) >>> 2]; }
  pktLen(m: Mbuf): number { return this.u32[(m + L.MBUF_PKT_LEN) >>> 2]; }
  setPktLen(m: Mbuf, v: number): void { this.u32[(m + L.MBUF_PKT_LEN) >>> 2] = v; }
  dataLen(m: Mbuf): number { return this.u16[(m + L.MBUF_DATA_LEN) >>> 1]; }
  setDataLen(m: Mbuf, v: number): void { this.u16[(m + L.MBUF_DATA_LEN) >>> 1] = v; }
  /** The RSS hash the NIC computed (valid when OL_RX_RSS_HASH_LO is set). */
  rssHash(m: Mbuf): number { return this.u32[(m + L.MBUF_HASH) >>> 2]; }
  bufLenOf(m: Mbuf): number { return this.u16[(m + L.MBUF_BUF_LEN) >>> 1]; }
  /** Offset of the next segment, or {@link Nil.MBUF}. */
  next(m: Mbuf): Mbuf {
    const k = (m + L.MBUF_NEXT) >> 2;
    const lo = this.i32[k];
    // NULL is both words zero: an address in the span may have a zero low word.
    if ((lo | this.i32[k + 1]) === 0) return Nil.MBUF as Mbuf;
    return ((lo - this.baseLo) | 0) as Mbuf;
  }
  setNext(m: Mbuf, n: Mbuf): void {
    const k = (m + L.MBUF_NEXT) >> 2;
    if (n === Nil.MBUF) {
      this.i32[k] = 0;
      this.i32[k + 1] = 0;
    } else {
      this.i32[k] = (this.baseLo + n) | 0;
      this.i32[k + 1] = n >= this.carryAt ? this.baseHi + 1 : this.baseHi;
    }
  }
  /** Set tx_offload's l2_len, l3_len, l4_len and tso_segsz. */
  setTxOffload(m: Mbuf, l2: number, l3: number, l4: number, tsoSegsz: number): void {
    this.u32[(m + L.MBUF_TX_OFFLOAD) >>> 2] = (l2 | (l3 << 7) | (l4 << 16) | ((tsoSegsz & 0xff) << 24)) >>> 0;
    this.u32[(m + L.MBUF_TX_OFFLOAD + 4) >>> 2] = tsoSegsz >>> 8;
  }
  txOffloadLo(m: Mbuf): number { return this.u32[(m + L.MBUF_TX_OFFLOAD) >>> 2]; }
  txOffloadHi(m: Mbuf): number { return this.u32[(m + L.MBUF_TX_OFFLOAD + 4) >>> 2]; }
  /** tso_segsz from tx_offload. */
  tsoSegsz(m: Mbuf): number {
    return (this.u32[(m + L.MBUF_TX_OFFLOAD) >>> 2] >>> 24) | ((this.u32[(m + L.MBUF_TX_OFFLOAD + 4) >>> 2] & 0xff) << 8);
  }
  /** Whether the mbuf owns its buffer (not attached to another's). */
  isDirect(m: Mbuf): boolean { return (this.olFlagsHi(m) & (L.OL_INDIRECT_HI | L.OL_EXTERNAL_HI)) === 0; }

  /** Index in {@link u8} where this mbuf's buffer starts. */
  bufStart(m: Mbuf): number { return (this.i32[(m + L.MBUF_BUF_ADDR) >> 2] - this.baseLo) | 0; }
  /** Index in {@link u8} of the first data byte of this segment (`rte_pktmbuf_mtod`). */
  mtod(m: Mbuf): number {
    return ((this.i32[(m + L.MBUF_BUF_ADDR) >> 2] - this.baseLo) | 0) + this.u16[(m + L.MBUF_DATA_OFF) >> 1];
  }
  headroom(m: Mbuf): number { return this.dataOff(m); }
  tailroom(m: Mbuf): number { return this.bufLenOf(m) - this.dataOff(m) - this.dataLen(m); }

  /** The last segment of a chain. */
  lastSeg(m: Mbuf): Mbuf {
    let n = this.next(m);
    while (n !== Nil.MBUF) { m = n; n = this.next(m); }
    return m;
  }

  /**
   * Grow the packet at the front by `len` bytes (`rte_pktmbuf_prepend`).
   * @returns the new {@link mtod}, or -1 when the headroom is too small
   */
  prepend(m: Mbuf, len: number): number {
    const off = this.dataOff(m);
    if (len > off) return -1;
    this.setDataOff(m, off - len);
    this.setDataLen(m, this.dataLen(m) + len);
    this.setPktLen(m, this.pktLen(m) + len);
    return this.mtod(m);
  }
  /**
   * Remove `len` bytes from the front of the first segment (`rte_pktmbuf_adj`).
   * @returns the new {@link mtod}, or -1 when the first segment is shorter
   */
  adj(m: Mbuf, len: number): number {
    const dl = this.dataLen(m);
    if (len > dl) return -1;
    this.setDataOff(m, this.dataOff(m) + len);
    this.setDataLen(m, dl - len);
    this.setPktLen(m, this.pktLen(m) - len);
    return this.mtod(m);
  }
  /**
   * Grow the packet at the end by `len` bytes, in its last segment (`rte_pktmbuf_append`).
   * @returns index in {@link u8} of the first appended byte, or -1 without tailroom
   */
  append(m: Mbuf, len: number): number {
    const last = this.lastSeg(m);
    if (len > this.tailroom(last)) return -1;
    const at = this.mtod(last) + this.dataLen(last);
    this.setDataLen(last, this.dataLen(last) + len);
    this.setPktLen(m, this.pktLen(m) + len);
    return at;
  }
  /**
   * Remove `len` bytes from the end of the last segment (`rte_pktmbuf_trim`).
   * @returns false when the last segment is shorter than `len`
   */
  trim(m: Mbuf, len: number): boolean {
    const last = this.lastSeg(m);
    if (len > this.dataLen(last)) return false;
    this.setDataLen(last, this.dataLen(last) - len);
    this.setPktLen(m, this.pktLen(m) - len);
    return true;
  }
  /**
   * Cut a packet to `len` bytes in total, freeing any segments past it.
   * @returns false when the packet is shorter than `len`
   */
  truncate(m: Mbuf, len: number): boolean {
    if (len > this.pktLen(m)) return false;
    this.setPktLen(m, len);
    let seg = m;
    let nsegs = 1;
    for (;;) {
      const dl = this.dataLen(seg);
      if (len <= dl) {
        this.setDataLen(seg, len);
        const rest = this.next(seg);
        if (rest !== Nil.MBUF) {
          this.setNext(seg, Nil.MBUF as Mbuf);
          this.setNbSegs(rest, this.countSegs(rest));
          this.setPktLen(rest, 0);
          this.free(rest);
        }
        this.setNbSegs(m, nsegs);
        return true;
      }
      len -= dl;
      seg = this.next(seg);
      nsegs++;
    }
  }

  /** Count the segments of a chain by walking it (ignores nb_segs). */
  countSegs(m: Mbuf): number {
    let n = 0;
    for (let s = m; s !== Nil.MBUF; s = this.next(s)) n++;
    return n;
  }

  /**
   * Append packet `tail` to packet `head` (`rte_pktmbuf_chain`).
   * @returns false when the chain would exceed 65535 segments
   */
  chain(head: Mbuf, tail: Mbuf): boolean {
    const segs = this.nbSegs(head) + this.nbSegs(tail);
    if (segs > 0xffff) return false;
    this.setNext(this.lastSeg(head), tail);
    this.setNbSegs(head, segs);
    this.setPktLen(head, this.pktLen(head) + this.pktLen(tail));
    this.setPktLen(tail, this.dataLen(tail));
    return true;
  }

  /** Reset the packet fields of a freshly taken mbuf (`rte_pktmbuf_reset`). */
  reset(m: Mbuf): void {
    this.setNext(m, Nil.MBUF as Mbuf);
    this.setPktLen(m, 0);
    this.u32[(m + L.MBUF_TX_OFFLOAD) >>> 2] = 0;
    this.u32[(m + L.MBUF_TX_OFFLOAD + 4) >>> 2] = 0;
    this.u16[(m + L.MBUF_VLAN_TCI) >>> 1] = 0;
    this.u16[(m + L.MBUF_VLAN_TCI_OUTER) >>> 1] = 0;
    this.setNbSegs(m, 1);
    this.setPort(m, 0xffff);
    this.setOlFlags(m, 0, this.olFlagsHi(m) & L.OL_EXTERNAL_HI);
    this.u32[(m + L.MBUF_PACKET_TYPE) >>> 2] = 0;
    this.setDataOff(m, Math.min(L.MBUF_DEFAULT_HEADROOM, this.bufLenOf(m)));
    this.setDataLen(m, 0);
  }

  /** The mbuf whose buffer an indirect mbuf points into (`rte_mbuf_from_indirect`). */
  directOf(m: Mbuf): Mbuf {
    return (((this.i32[(m + L.MBUF_BUF_ADDR) >> 2] - this.baseLo) | 0) - L.MBUF_HEADER_SIZE - this.u16[(m + L.MBUF_PRIV_SIZE) >> 1]) as Mbuf;
  }

  /**
   * {@link attach} for the one case the transmit path needs, in fewer
   * stores: `mi` straight from {@link alloc} (reset: no next, one segment,
   * no offload fields, packet_type 0 — every pool hands mbufs out that way)
   * becomes an indirect mbuf over the `len` bytes at `off` in segment `m`'s
   * data. Only what a reset mbuf lacks is written (the reference on the
   * buffer's owner, priv_size, ol_flags, buf_addr/buf_iova, buf_len,
   * data_off, data_len, pkt_len); port, tx_offload and packet_type stay as
   * reset, which is what a slice about to be chained behind a header
   * segment wants (the header segment carries them). Each typed-array
   * access is ~10 instructions in optimised code, and a segment makes ~1.7
   * slices, so the ~10 stores attach would spend on fields that are
   * overwritten or already right are worth skipping.
   */
  attachSlice(mi: Mbuf, m: Mbuf, off: number, len: number): void {
    const u16 = this.u16;
    const i32 = this.i32;
    const a = (m + L.MBUF_BUF_ADDR) >> 2;
    const lo = i32[a];
    const owner = ((lo - this.baseLo) | 0) - L.MBUF_HEADER_SIZE - u16[(m + L.MBUF_PRIV_SIZE) >> 1];
    const rc = (owner + L.MBUF_REFCNT) >> 1;
    u16[rc] = (u16[rc] + 1) & 0xffff;
    u16[(mi + L.MBUF_PRIV_SIZE) >> 1] = u16[(m + L.MBUF_PRIV_SIZE) >> 1];
    const f = (m + L.MBUF_OL_FLAGS) >> 2;
    const fi = (mi + L.MBUF_OL_FLAGS) >> 2;
    i32[fi] = i32[f];
    i32[fi + 1] = i32[f + 1] | L.OL_INDIRECT_HI;
    this.copyBufAddrs(mi, m);
    u16[(mi + L.MBUF_BUF_LEN) >> 1] = u16[(m + L.MBUF_BUF_LEN) >> 1];
    u16[(mi + L.MBUF_DATA_OFF) >> 1] = u16[(m + L.MBUF_DATA_OFF) >> 1] + off;
    u16[(mi + L.MBUF_DATA_LEN) >> 1] = len;
    this.u32[(mi + L.MBUF_PKT_LEN) >> 2] = len;
  }

  /**
   * The transmit path's one-mbuf segment: a new indirect mbuf over the
   * `hdrLen` bytes in front of direct segment `m`'s data and its first
   * `len` data bytes, when `m` allows writing a header there — it is direct
   * (owns its buffer), nothing else references it (refcnt 1, so no earlier
   * indirect view of it is still queued or held anywhere) and it has at
   * least `front` bytes of headroom (`front` ≥ `hdrLen`: the layers below
   * prepend theirs in the rest). `m` must be of this pool (any mbuf offset
   * valid in this pool's view is): the new mbuf then already has `m`'s
   * priv_size and buf_len, so only what a reset mbuf lacks is written, each
   * field of `m` read once (this runs once per TCP segment).
   * @returns the new mbuf (data_len = pkt_len = hdrLen + len, mtod `hdrLen`
   *   bytes before `m`'s), or {@link Nil.MBUF} when `m` does not allow it or
   *   the pool is empty
   */
  headRef(m: Mbuf, front: number, hdrLen: number, len: number): Mbuf {
    const u16 = this.u16;
    const i32 = this.i32;
    const doff = u16[(m + L.MBUF_DATA_OFF) >> 1];
    const rc = (m + L.MBUF_REFCNT) >> 1;
    const f = (m + L.MBUF_OL_FLAGS) >> 2;
    const hi = i32[f + 1];
    if (doff < front || u16[rc] !== 1 || (hi & (L.OL_INDIRECT_HI | L.OL_EXTERNAL_HI)) !== 0) return Nil.MBUF as Mbuf;
    const mi = this.alloc();
    if (mi === Nil.MBUF) return Nil.MBUF as Mbuf;
    u16[rc] = 2;
    const fi = (mi + L.MBUF_OL_FLAGS) >> 2;
    i32[fi] = i32[f];
    i32[fi + 1] = hi | L.OL_INDIRECT_HI;
    this.copyBufAddrs(mi, m);
    u16[(mi + L.MBUF_DATA_OFF) >> 1] = doff - hdrLen;
    u16[(mi + L.MBUF_DATA_LEN) >> 1] = hdrLen + len;
    this.u32[(mi + L.MBUF_PKT_LEN) >> 2] = hdrLen + len;
    return mi;
  }

  /**
   * {@link attachSlice} over a direct mbuf `m` whose data_off, data_len,
   * next and ol_flags others may be changing (a buffer the transmit path
   * sent by reference, now held by a receiver as well): the slice starts at
   * `dataOff` (from the buffer's start) and reads only what a direct mbuf
   * never changes (buf_addr, buf_iova, buf_len, priv_size). The reference is
   * taken atomically (another thread may be dropping one).
   */
  attachSliceAt(mi: Mbuf, m: Mbuf, dataOff: number, len: number): void {
    const u16 = this.u16;
    const i32 = this.i32;
    const rc = (m + L.MBUF_REFCNT) >> 1;
    if (this.threadShared) Atomics.add(u16, rc, 1); else u16[rc] = (u16[rc] + 1) & 0xffff;
    u16[(mi + L.MBUF_PRIV_SIZE) >> 1] = u16[(m + L.MBUF_PRIV_SIZE) >> 1];
    const fi = (mi + L.MBUF_OL_FLAGS) >> 2;
    i32[fi] = 0;
    i32[fi + 1] = L.OL_INDIRECT_HI;
    this.copyBufAddrs(mi, m);
    u16[(mi + L.MBUF_BUF_LEN) >> 1] = u16[(m + L.MBUF_BUF_LEN) >> 1];
    u16[(mi + L.MBUF_DATA_OFF) >> 1] = dataOff;
    u16[(mi + L.MBUF_DATA_LEN) >> 1] = len;
    this.u32[(mi + L.MBUF_PKT_LEN) >> 2] = len;
  }

  /**
   * Transmit a direct single-segment mbuf of the caller's BY REFERENCE: when
   * nothing else holds it (refcnt 1), take a second reference for the
   * transmission and make it one packet of `hdrLen` header bytes in front
   * of the `len` payload bytes at `dataOff` (data_off, data_len, pkt_len;
   * next, nb_segs, ol_flags and tx_offload reset: a receiver that held it
   * before may have changed them). The caller keeps its reference and must
   * drop it with {@link releaseRef}, never with free (a receiver may have
   * chained it).
   * @returns `m` (mtod at the header), or {@link Nil.MBUF} while others hold it
   */
  refForTx(m: Mbuf, dataOff: number, hdrLen: number, len: number): Mbuf {
    const u16 = this.u16;
    const u32 = this.u32;
    const w = m >> 2;
    // data_off and refcnt share one word: refcnt must be 1.
    if ((u32[w + (L.MBUF_DATA_OFF >> 2)] >>> 16) !== 1) return Nil.MBUF as Mbuf;
    u32[w + (L.MBUF_DATA_OFF >> 2)] = (2 << 16) | (dataOff - hdrLen);
    u32[w + (L.MBUF_NB_SEGS >> 2)] = (u32[w + (L.MBUF_NB_SEGS >> 2)] & 0xffff0000) | 1;
    u32[w + (L.MBUF_OL_FLAGS >> 2)] = 0;
    u32[w + (L.MBUF_OL_FLAGS >> 2) + 1] = 0;
    u32[w + (L.MBUF_PKT_LEN >> 2)] = hdrLen + len;
    u16[(m + L.MBUF_DATA_LEN) >> 1] = hdrLen + len;
    u32[w + (L.MBUF_NEXT >> 2)] = 0;
    u32[w + (L.MBUF_NEXT >> 2) + 1] = 0;
    u32[w + (L.MBUF_TX_OFFLOAD >> 2)] = 0;
    u32[w + (L.MBUF_TX_OFFLOAD >> 2) + 1] = 0;
    return m;
  }

  /**
   * Drop the caller's reference on a direct single-segment mbuf it may have
   * sent by reference ({@link refForTx}): freed (its fields reset first:
   * a receiver may have chained it) when that was the last reference; else
   * only the count drops, atomically, and whoever holds the last frees it.
   */
  releaseRef(m: Mbuf): void {
    if (!this.dropRef(m)) return;
    // The last reference: the caller's alone now.
    this.u16[(m + L.MBUF_REFCNT) >> 1] = 1;
    this.setNext(m, Nil.MBUF as Mbuf);
    this.setNbSegs(m, 1);
    this.setPktLen(m, this.dataLen(m));
    const f = (m + L.MBUF_OL_FLAGS + 4) >> 2;
    this.u32[f] = this.u32[f] & L.OL_EXTERNAL_HI;
    this.free(m);
  }

  /**
   * Drop one reference to `m` (atomically where another thread may be
   * dropping theirs): true when it was the last, which the caller then
   * frees, setting the refcnt again (it reads 1, or 0 after an atomic drop).
   */
  protected dropRef(m: Mbuf): boolean {
    const rc = (m + L.MBUF_REFCNT) >> 1;
    const u16 = this.u16;
    const v = u16[rc];
    if (v === 1) return true;
    if (!this.threadShared) { u16[rc] = v - 1; return false; }
    return Atomics.sub(u16, rc, 1) === 1;
  }

  /**
   * Copy `m`'s buf_addr and buf_iova (adjacent, 16 bytes) into `mi` as raw
   * words: DPDK reads both, so they must be exactly what `m` holds, and
   * 32-bit words keep a 64-bit address out of JavaScript numbers.
   */
  private copyBufAddrs(mi: Mbuf, m: Mbuf): void {
    const i32 = this.i32;
    const a = (m + L.MBUF_BUF_ADDR) >> 2;
    const ai = (mi + L.MBUF_BUF_ADDR) >> 2;
    i32[ai] = i32[a];
    i32[ai + 1] = i32[a + 1];
    i32[ai + 2] = i32[a + 2];
    i32[ai + 3] = i32[a + 3];
  }

  /**
   * Make `mi` (a fresh direct mbuf) an indirect mbuf over the data of
   * segment `m`, taking a reference on the buffer's owner (`rte_pktmbuf_attach`).
   * Freeing `mi` later drops that reference, in TypeScript or in DPDK alike.
   */
  attach(mi: Mbuf, m: Mbuf): void {
    this.refcntUpdate(this.directOf(m), 1);
    this.u16[(mi + L.MBUF_PRIV_SIZE) >>> 1] = this.u16[(m + L.MBUF_PRIV_SIZE) >>> 1];
    this.setOlFlags(mi, this.olFlagsLo(m), this.olFlagsHi(m) | L.OL_INDIRECT_HI);
    this.setPort(mi, this.port(m));
    this.u32[(mi + L.MBUF_TX_OFFLOAD) >>> 2] = this.u32[(m + L.MBUF_TX_OFFLOAD) >>> 2];
    this.u32[(mi + L.MBUF_TX_OFFLOAD + 4) >>> 2] = this.u32[(m + L.MBUF_TX_OFFLOAD + 4) >>> 2];
    this.u32[(mi + L.MBUF_PACKET_TYPE) >>> 2] = this.u32[(m + L.MBUF_PACKET_TYPE) >>> 2];
    this.setDataOff(mi, this.dataOff(m));
    this.setDataLen(mi, this.dataLen(m));
    this.copyBufAddrs(mi, m);
    this.u16[(mi + L.MBUF_BUF_LEN) >>> 1] = this.bufLenOf(m);
    this.setNext(mi, Nil.MBUF as Mbuf);
    this.setPktLen(mi, this.dataLen(mi));
    this.setNbSegs(mi, 1);
  }

  /**
   * A new packet of indirect mbufs referencing bytes [off, off+len) of
   * packet `m`: no payload byte is copied. The referenced buffers stay alive
   * until every reference is freed.
   * @returns the head of the new chain, or {@link Nil.MBUF} when the pool ran
   *   out or the range lies outside the packet (nothing is leaked either way)
   */
  refSlice(m: Mbuf, off: number, len: number): Mbuf {
    if (off < 0 || len <= 0 || off + len > this.pktLen(m)) return Nil.MBUF as Mbuf;
    let seg = m;
    while (off >= this.dataLen(seg)) { off -= this.dataLen(seg); seg = this.next(seg); }
    let head = Nil.MBUF as Mbuf;
    let tail = Nil.MBUF as Mbuf;
    let total = 0;
    let segs = 0;
    while (len > 0) {
      const mi = this.alloc();
      if (mi === Nil.MBUF) { if (head !== Nil.MBUF) this.free(head); return Nil.MBUF as Mbuf; }
      this.attach(mi, seg);
      const take = Math.min(len, this.dataLen(seg) - off);
      this.setDataOff(mi, this.dataOff(seg) + off);
      this.setDataLen(mi, take);
      this.setPktLen(mi, take);
      if (head === Nil.MBUF) head = mi; else this.setNext(tail, mi);
      tail = mi;
      total += take;
      segs++;
      len -= take;
      off = 0;
      seg = this.next(seg);
    }
    this.setPktLen(head, total);
    this.setNbSegs(head, segs);
    return head;
  }

  /** Copy `len` bytes starting `off` bytes into packet `m` into `dst` at `dstOff`; returns bytes copied. */
  copyOut(m: Mbuf, off: number, dst: Uint8Array, dstOff: number, len: number): number {
    let seg = m;
    let done = 0;
    while (seg !== Nil.MBUF && len > 0) {
      const dl = this.dataLen(seg);
      if (off >= dl) { off -= dl; seg = this.next(seg); continue; }
      const take = Math.min(len, dl - off);
      const p = this.mtod(seg) + off;
      dst.set(this.u8.subarray(p, p + take), dstOff + done);
      done += take; len -= take; off = 0;
      seg = this.next(seg);
    }
    return done;
  }

  /** Copy `src` into packet `m` starting `off` bytes in (the bytes must already exist); returns bytes copied. */
  copyIn(m: Mbuf, off: number, src: Uint8Array): number {
    let seg = m;
    let done = 0;
    let len = src.length;
    while (seg !== Nil.MBUF && len > 0) {
      const dl = this.dataLen(seg);
      if (off >= dl) { off -= dl; seg = this.next(seg); continue; }
      const take = Math.min(len, dl - off);
      this.u8.set(src.subarray(done, done + take), this.mtod(seg) + off);
      done += take; len -= take; off = 0;
      seg = this.next(seg);
    }
    return done;
  }

  /** A copy of the whole packet's bytes (for tests, captures and slow paths). */
  toBytes(m: Mbuf): Uint8Array {
    const out = new Uint8Array(this.pktLen(m));
    this.copyOut(m, 0, out, 0, out.length);
    return out;
  }

  /**
   * A new single- or multi-segment packet holding a copy of `bytes`, with the
   * default headroom before it; {@link Nil.MBUF} when the pool is empty.
   */
  fromBytes(bytes: Uint8Array): Mbuf {
    const room = this.bufLen - L.MBUF_DEFAULT_HEADROOM;
    let head = Nil.MBUF as Mbuf;
    let done = 0;
    do {
      const m = this.alloc();
      if (m === Nil.MBUF) { if (head !== Nil.MBUF) this.free(head); return Nil.MBUF as Mbuf; }
      const take = Math.min(room, bytes.length - done);
      const at = this.append(m, take);
      this.u8.set(bytes.subarray(done, done + take), at);
      done += take;
      if (head === Nil.MBUF) head = m; else this.chain(head, m);
    } while (done < bytes.length);
    return head;
  }
}
