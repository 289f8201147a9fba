import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { TX_HEADROOM } from './zc.js';
import type { Mbuf } from '../mbuf/index.js';

// Compile-time numbers (a module-level `const` is a cell load and a
// not-yet-initialised check at every use in optimised code; a const enum
// member is the number itself).
const enum Ring {
  InitialSlots = 16,
  /** Write ends remembered (a power of two): beyond that, the newest is moved on. */
  WriteEnds = 16,
}

/**
 * The buffer's state is two typed arrays, one of doubles (the absolute
 * positions, which pass 2^31 after 2 GB, and the write and record ends)
 * and one of int32s (the ring, one entry per chain): with thousands of
 * connections a connection's state is cold whenever it is visited, and
 * each typed array (its object, its ArrayBuffer, its backing store) or
 * HeapNumber box of a double field read is a cache miss of its own. The
 * doubles, by index:
 */
const enum D {
  /** SND.UNA. */
  Una = 0,
  /** The head chain's first byte still held. */
  HeadStart = 1,
  /** After the last byte pushed. */
  Total = 2,
  /** Where the chain curK places after the head starts. */
  CurStart = 3,
  /** Where the segment cursor's segment (curSeg) starts. */
  CurSegAbs = 4,
  LastWriteEnd = 5,
  /** Ends of the application's writes no segment has passed yet (a ring of Ring.WriteEnds). */
  WEnds = 8,
  /** Record ends (MSG_EOR) no segment has reached yet (the same ring). */
  REnds = WEnds + Ring.WriteEnds,
  Count = REnds + Ring.WriteEnds,
}

/** The ring's int32s: one 16-byte entry per chain, 4 to a cache line; slot i's at 4i. */
const enum E {
  Mbuf = 0,
  /** The chain's length (uint32, as pkt_len: read back with `>>> 0`). */
  Len = 1,
  /**
   * For a chain of the buffer's own (pushOwn: one direct mbuf, the payload
   * fixed): the payload's data_off, since its fields may be changed by a
   * receiver while it is out by reference; -1 for every other chain.
   */
  Poff = 2,
  /**
   * 1 for the first mbuf of a write that pushSegments took apart (the
   * write boundary alignedLen keeps segments to), else 0.
   */
  Lead = 3,
}

/**
 * Headroom every mbuf of a chain must have for {@link SendBuffer.push} to
 * take the chain apart into mbufs of the buffer's own: the zero-copy
 * layout's (`allocTxMbuf` with a segment size leaves TX_HEADROOM in front
 * of every segment), more than the largest Ethernet + IP + TCP header.
 */
const OWN_HEADROOM: number = TX_HEADROOM;

/**
 * The send queue of a connection: the application's mbuf chains, kept until
 * the peer acknowledges them, addressed by byte offset from SND.UNA.
 *
 * Zero copy: {@link push} takes the chain as it is; {@link slice} makes
 * indirect mbufs (`pool.refSlice`) over any byte range for a segment, so
 * segmentation and retransmission never copy payload; {@link ack} frees
 * what is acknowledged. A slice holds references of its own, so freeing the
 * application's chain here while a slice is still queued for transmit (or
 * being retransmitted) is safe: the buffers live until the last reference
 * is freed.
 *
 * ```
 *   headStart  una                  sliceable: [una, total)             total
 *   |----------|=====================================================|
 *   head chain (maybe partly acked)   chain   chain   ...   tail chain
 * ```
 *
 * The copying write's full mbufs are the buffer's own ({@link pushOwn}):
 * a segment covering one goes out as that mbuf by reference
 * ({@link headOwn}), so while it is out (and, on an in-process link, held
 * by the receiver) its fields are not read: slices are cut from the
 * recorded payload position and the reference is dropped with
 * `Mempool.releaseRef`.
 *
 * Positions are absolute byte counts since creation (exact as doubles up to
 * 2^53 bytes); chains sit in a ring of 16-byte entries that grows by
 * doubling, in the same typed-array store as the positions.
 */
export class SendBuffer {
  // The stores (see D and E), then int fields (small integers: no HeapNumber box), the hottest first.
  private readonly d = new Float64Array(D.Count);
  private e = new Int32Array(Ring.InitialSlots * 4);
  private mask = Ring.InitialSlots - 1;
  private head = 0;
  private count = 0;
  // Sequential-slice cursor: the chain `curK` places after the head starts at d[D.CurStart].
  private curK = 0;
  /** Chains of the buffer's own held (headOwn's early out while there are none). */
  private owned = 0;
  // Segment cursor: a segment (still held) where the previous slice ended;
  // d[D.CurSegAbs] is the absolute position of its first byte. A slice that
  // starts at or after it walks on from there instead of from its chain's
  // head (a 64 KB zero-copy chain has ~33 segments: walking from the head
  // for every MSS-sized slice was quadratic). NO_MBUF when unknown.
  private curSeg = NO_MBUF;
  // Ends of the application's writes (d[D.WEnds...], absolute, increasing)
  // that no segment has passed yet: the segment reaching one carries PSH, as
  // Linux and BSD set it on the last segment of each write. A fixed ring, no
  // object per write.
  private wHead = 0;
  private wCount = 0;
  // Record ends (d[D.REnds...], MSG_EOR, absolute, increasing) no segment has
  // reached yet: no segment spans one (alignedLen cuts there).
  private rHead = 0;
  /** Record ends (MSG_EOR) still ahead of the segments sent: while > 0 the sender asks {@link alignedLen}. */
  records = 0;
  /** While set (a MSG_MORE write), {@link markWriteEnd} marks nothing: more of the write is to come, no PSH. */
  holdEnds = false;
  /** The last bytes queued came from a MSG_MORE write: the segment that empties the queue gets no PSH for it. */
  tailHeld = false;

  private readonly pool: Mempool;

  constructor(pool: Mempool) {
    this.pool = pool;
  }

  /** Bytes queued and not yet acknowledged (sent or not). */
  get length(): number { const d = this.d; return d[D.Total] - d[D.Una]; }

  /** Chains held. */
  get chains(): number { return this.count; }

  /**
   * Queue the chain `m` (mtod at the first payload byte, pkt_len bytes); the
   * buffer owns it from now on. An empty chain is freed at once; a chain
   * laid out one segment per mbuf is held as mbufs of the buffer's own
   * (see {@link pushSegments}).
   */
  push(m: Mbuf): void {
    const len = this.pool.pktLen(m);
    if (len === 0) { this.pool.free(m); return; }
    if (this.pool.nbSegs(m) > 1 && this.pushSegments(m, len)) return;
    if (this.count > this.mask) this.grow();
    const e = this.e;
    const x = (((this.head + this.count) & this.mask) << 2);
    e[x | E.Mbuf] = m;
    e[x | E.Len] = len;
    e[x | E.Poff] = -1;
    e[x | E.Lead] = 0;
    this.count++;
    this.d[D.Total] += len;
  }

  /**
   * Queue `m`, a direct single-segment mbuf of the connection's own (the
   * copying write's, fresh from the pool, or one of a zero-copy chain
   * {@link push} took apart; nothing else references it) holding
   * `len` payload bytes at `dataOff` (its data_len and data_off):
   * a segment covering it exactly goes out as `m` itself, by reference
   * ({@link headOwn}), and every later access trusts only the payload's
   * position recorded here, not `m`'s fields (a receiver of the same
   * process may be holding, trimming or chaining it meanwhile).
   */
  pushOwn(m: Mbuf, len: number, dataOff: number): void {
    if (this.count > this.mask) this.grow();
    const e = this.e;
    const x = (((this.head + this.count) & this.mask) << 2);
    e[x | E.Mbuf] = m;
    e[x | E.Len] = len;
    e[x | E.Poff] = dataOff;
    e[x | E.Lead] = 0;
    this.owned++;
    this.count++;
    this.d[D.Total] += len;
  }

  /**
   * A chain laid out one TCP segment per mbuf — every mbuf direct, held by
   * nothing else (refcnt 1), with {@link OWN_HEADROOM} in front of its data,
   * as `allocTxMbuf(pool, len, mss)` makes them — is taken apart into
   * mbufs of the buffer's own ({@link pushOwn}), one per segment: a segment
   * covering one then leaves as that mbuf itself, by reference
   * ({@link headOwn}), as the copying write's do, instead of as an indirect
   * mbuf allocated for it ({@link headSlice}). That saves the indirect
   * mbuf's allocation and the driver's detach on free, and — what matters
   * most on a copying device such as net_memif — keeps the payload mbufs
   * in the pool's single-mbuf stash (freed one by one as they are
   * acknowledged, taken again by the next bulk allocation), where a chain
   * freed at once goes through DPDK's per-lcore cache, whose overflow
   * hands the hot mbufs to the pool's ring and whose refill takes cold ones
   * (last touched a pool's worth of allocations ago) from it.
   * @returns false, changing nothing, when the chain is laid out otherwise
   */
  private pushSegments(m: Mbuf, len: number): boolean {
    const pool = this.pool;
    const n = pool.nbSegs(m);
    while (this.count + n > this.mask + 1) this.grow();
    // One pass: each mbuf checked and written into the free slots after the
    // tail, which count only once the whole chain has passed. The mbufs'
    // own fields (next, nb_segs, pkt_len) are left as they are: those of an
    // mbuf of our own are never read, and are rewritten whenever it is sent
    // by reference (refForTx) or released (releaseRef).
    const e = this.e;
    const mask = this.mask;
    let i = (this.head + this.count) & mask;
    let k = 0;
    let sum = 0;
    for (let s = m; s !== NO_MBUF; s = pool.next(s)) {
      const dl = pool.dataLen(s);
      const off = pool.dataOff(s);
      if (k === n || dl === 0 || off < OWN_HEADROOM || pool.refcnt(s) !== 1 || !pool.isDirect(s)) return false;
      const x = (i << 2);
      e[x | E.Mbuf] = s;
      e[x | E.Len] = dl;
      e[x | E.Poff] = off;
      e[x | E.Lead] = 0;
      i = (i + 1) & mask;
      sum += dl;
      k++;
    }
    if (k !== n || sum !== len) return false;
    e[(((this.head + this.count) & mask) << 2) | E.Lead] = 1;
    this.count += n;
    this.owned += n;
    this.d[D.Total] += len;
    return true;
  }

  private grow(): void {
    const n = (this.mask + 1) * 2;
    const e = new Int32Array(n * 4);
    const oe = this.e;
    for (let k = 0; k < this.count; k++) {
      const x = (((this.head + k) & this.mask) << 2);
      const y = (k << 2);
      e[y | E.Mbuf] = oe[x | E.Mbuf];
      e[y | E.Len] = oe[x | E.Len];
      e[y | E.Poff] = oe[x | E.Poff];
      e[y | E.Lead] = oe[x | E.Lead];
    }
    this.e = e;
    this.mask = n - 1;
    this.head = 0;
  }

  /**
   * The copying write path appended `bytes` to the last segment of `m` (in
   * its tailroom, pkt_len included): count them, if `m` is the tail chain.
   * @returns false, changing nothing, when `m` is not the tail chain
   */
  grewTail(m: Mbuf, bytes: number): boolean {
    if (this.count === 0 || !(bytes > 0)) return false;
    const e = this.e;
    const x = (((this.head + this.count - 1) & this.mask) << 2);
    if (e[x | E.Mbuf] !== m) return false;
    e[x | E.Len] = (e[x | E.Len] >>> 0) + bytes;
    this.d[D.Total] += bytes;
    return true;
  }

  /**
   * Offset from SND.D.Una of the tail chain's first byte (0 when empty): a
   * copying write appends to the tail chain's mbuf only while no byte of it
   * has been sent, so that its segments stay on the mbufs' boundaries.
   */
  tailStart(): number {
    if (this.count === 0) return 0;
    const d = this.d;
    return d[D.Total] - (this.e[(((this.head + this.count - 1) & this.mask) << 2) | E.Len] >>> 0) - d[D.Una];
  }

  /**
   * The application's write ended here: everything pushed so far is one
   * write more (a no-op when nothing was pushed since the last call). With
   * Ring.WriteEnds ends already waiting, the newest moves to here
   * instead (its segment then goes without PSH).
   */
  markWriteEnd(): void {
    const d = this.d;
    const t = d[D.Total];
    if (t <= d[D.LastWriteEnd]) return;
    d[D.LastWriteEnd] = t;
    if (this.holdEnds) { this.tailHeld = true; return; } // MSG_MORE: these bytes end no write
    this.tailHeld = false;
    if (this.wCount === Ring.WriteEnds) { d[D.WEnds + ((this.wHead + Ring.WriteEnds - 1) & (Ring.WriteEnds - 1))] = t; return; }
    d[D.WEnds + ((this.wHead + this.wCount) & (Ring.WriteEnds - 1))] = t;
    this.wCount++;
  }

  /**
   * Offset from SND.D.Una of the oldest write end not yet passed (Infinity:
   * none): a segment ending before it cannot end a write, so the sender
   * asks {@link endsWrite} only for a segment that reaches it.
   */
  nextWriteEnd(): number {
    if (this.wCount === 0) return Infinity;
    const d = this.d;
    return d[D.WEnds + this.wHead] - d[D.Una];
  }

  /**
   * Whether bytes [offset, offset+len) from SND.D.Una reach the end of a write
   * (PSH). Write ends at or before `offset` are forgotten: segments are
   * asked in sequence order, and a retransmission of older bytes only
   * misses a PSH.
   */
  endsWrite(offset: number, len: number): boolean {
    if (this.wCount === 0) return false;
    const d = this.d;
    const start = d[D.Una] + offset;
    while (this.wCount > 0 && d[D.WEnds + this.wHead] <= start) {
      this.wHead = (this.wHead + 1) & (Ring.WriteEnds - 1);
      this.wCount--;
    }
    return this.wCount > 0 && d[D.WEnds + this.wHead] <= start + len;
  }

  /**
   * A new chain of indirect mbufs referencing bytes [offset, offset+len)
   * counted from SND.D.Una; the caller owns it (prepend a header mbuf, send,
   * free). No payload byte is copied.
   * @returns the chain, or {@link NO_MBUF} when the pool ran out (nothing
   *   leaks) or the range is empty or not held
   */
  slice(pool: Mempool, offset: number, len: number): Mbuf {
    const d = this.d;
    if (!(offset >= 0) || !(len > 0) || offset + len > d[D.Total] - d[D.Una]) return NO_MBUF;
    let abs = d[D.Una] + offset;
    const e = this.e;
    const mask = this.mask;
    let x = (this.chainAt(abs) << 2);
    let out = NO_MBUF;
    let tail = NO_MBUF;
    let segs = 0;
    let total = 0;
    for (;;) {
      const curStart = d[D.CurStart];
      const clen = e[x | E.Len] >>> 0;
      const avail = clen - (abs - curStart);
      let take = len < avail ? len : avail;
      const po = e[x | E.Poff];
      if (po >= 0) {
        // One of ours (pushOwn): its fields may not be its own just now; the payload's place is known.
        const mi = pool.alloc();
        if (mi === NO_MBUF) {
          if (out !== NO_MBUF) pool.free(out);
          return NO_MBUF;
        }
        pool.attachSliceAt(mi, e[x | E.Mbuf] as Mbuf, po + (abs - curStart), take);
        if (out === NO_MBUF) out = mi; else pool.setNext(tail, mi);
        tail = mi;
        segs++;
        total += take;
        len -= take;
        abs += take;
        this.curSeg = NO_MBUF;
        if (len === 0) break;
        d[D.CurStart] = curStart + clen;
        this.curK++;
        x = (((this.head + this.curK) & mask) << 2);
        continue;
      }
      // Where to start walking: the cursor when it lies in this chain at or before abs.
      let seg = e[x | E.Mbuf] as Mbuf;
      let segAbs = curStart;
      if (this.curSeg !== NO_MBUF && d[D.CurSegAbs] >= curStart && d[D.CurSegAbs] <= abs) {
        seg = this.curSeg;
        segAbs = d[D.CurSegAbs];
      }
      // As pool.refSlice(chain, abs - chainStart, take), but from seg.
      let off = abs - segAbs;
      let dl = pool.dataLen(seg);
      while (off >= dl) { off -= dl; segAbs += dl; seg = pool.next(seg); dl = pool.dataLen(seg); }
      for (;;) {
        const mi = pool.alloc();
        if (mi === NO_MBUF) {
          if (out !== NO_MBUF) pool.free(out);
          return NO_MBUF;
        }
        const piece = Math.min(take, dl - off);
        // mi is fresh from alloc: attachSlice writes only what a reset mbuf lacks.
        pool.attachSlice(mi, seg, off, piece);
        if (out === NO_MBUF) out = mi; else pool.setNext(tail, mi);
        tail = mi;
        segs++;
        total += piece;
        take -= piece;
        len -= piece;
        abs += piece;
        this.curSeg = seg;
        d[D.CurSegAbs] = segAbs;
        if (take === 0) break;
        segAbs += dl;
        off = 0;
        seg = pool.next(seg);
        dl = pool.dataLen(seg);
      }
      if (len === 0) break;
      d[D.CurStart] = curStart + clen;
      this.curK++;
      x = (((this.head + this.curK) & mask) << 2);
    }
    pool.setPktLen(out, total);
    pool.setNbSegs(out, segs);
    return out;
  }

  /**
   * SND.D.Una advanced by `bytes`: free every chain now fully acknowledged, and
   * the fully acknowledged leading segments of a partly acknowledged chain.
   * @returns the bytes actually acknowledged (at most {@link length})
   */
  ack(bytes: number): number {
    const d = this.d;
    const e = this.e;
    const una = d[D.Una];
    const room = d[D.Total] - una;
    const n = bytes < 0 ? 0 : Math.min(bytes, room);
    const una2 = una + n;
    d[D.Una] = una2;
    const pool = this.pool;
    let start = d[D.HeadStart];
    {
      // Whole chains acknowledged, in a loop over locals (a bulk writer's
      // are one mbuf per segment: this runs for every segment).
      const mask = this.mask;
      let h = this.head;
      let count = this.count;
      let curK = this.curK;
      let owned = this.owned;
      const count0 = count;
      while (count > 0) {
        const x = (h << 2);
        const len = e[x | E.Len] >>> 0;
        if (una2 < start + len) break;
        if (e[x | E.Poff] >= 0) { pool.releaseRef(e[x | E.Mbuf] as Mbuf); owned--; } else pool.free(e[x | E.Mbuf] as Mbuf);
        start += len;
        h = (h + 1) & mask;
        count--;
        if (curK > 0) curK--;
      }
      if (count !== count0) {
        this.head = h;
        this.count = count;
        d[D.HeadStart] = start;
        this.curK = curK;
        this.owned = owned;
        // The cursor's chain was freed: it names the new head chain (which starts at headStart).
        if (curK === 0) d[D.CurStart] = start;
      }
    }
    // Partly acknowledged: give back whole leading segments early, cut
    // off as one chain (one free, its head's fields written once). One of
    // ours is one segment: nothing to cut (and its fields are not to be read).
    const hx = (this.head << 2);
    if (this.count > 0 && e[hx | E.Poff] < 0) {
      let m = e[hx | E.Mbuf] as Mbuf;
      let dl = pool.dataLen(m);
      let nx = pool.next(m);
      const acked = una2 - start;
      let bytes = 0;
      let k = 0;
      let last = NO_MBUF;
      const first = m;
      while (acked - bytes >= dl && nx !== NO_MBUF) {
        bytes += dl;
        k++;
        last = m;
        m = nx;
        dl = pool.dataLen(m);
        nx = pool.next(m);
      }
      if (k > 0) {
        pool.setNbSegs(m, pool.nbSegs(first) - k);
        pool.setPktLen(m, pool.pktLen(first) - bytes);
        pool.setNext(last, NO_MBUF);
        pool.setNbSegs(first, k);
        pool.setPktLen(first, bytes);
        pool.free(first);
        start += bytes;
        d[D.HeadStart] = start;
        e[hx | E.Len] = (e[hx | E.Len] >>> 0) - bytes;
        e[hx | E.Mbuf] = m;
      }
    }
    if (this.count > 0 && this.curK === 0) d[D.CurStart] = start;
    // Everything before headStart was freed: so may the cursor's segment have been.
    if (d[D.CurSegAbs] < start) this.curSeg = NO_MBUF;
    return n;
  }

  /**
   * The chain cursor at absolute position `abs` (held, ≥ headStart): the ring
   * index of the chain holding it; curK and d[D.CurStart] name that chain after the call.
   */
  private chainAt(abs: number): number {
    // Locals, stored once at the end: a store into a typed array makes
    // optimised code forget every field and length it has loaded.
    const d = this.d;
    const e = this.e;
    const mask = this.mask;
    const head = this.head;
    const start0 = d[D.CurStart];
    let curStart = start0;
    let curK = this.curK;
    if (abs < curStart || curK >= this.count) { curK = 0; curStart = d[D.HeadStart]; }
    let i = (head + curK) & mask;
    let len: number;
    while (abs >= curStart + (len = e[(i << 2) | E.Len] >>> 0)) {
      curStart += len;
      curK++;
      i = (head + curK) & mask;
    }
    this.curK = curK;
    if (curStart !== start0) d[D.CurStart] = curStart;
    return i;
  }

  /**
   * {@link slice} for the case one mbuf can carry a whole segment: when bytes
   * [offset, offset+len) lie in one held mbuf segment and start at its first
   * data byte, and that segment is a direct mbuf that nothing else references
   * (refcnt 1: no earlier transmission of it is still queued or held by a
   * receiver) with at least `front` bytes of headroom, ONE indirect mbuf
   * over the `hdrLen` bytes in front of the payload and the payload
   * (data_len = pkt_len = hdrLen + len). The caller writes its header into
   * those `hdrLen` bytes of the buffer's headroom (unused: the buffer is the
   * application's, given to the connection, and nothing else points at it)
   * and the layers below prepend theirs in front of it, so the segment goes
   * out as one mbuf instead of a header mbuf and ~1.7 slices. Zero-copy
   * writers get this for every segment by giving each mbuf one MSS of
   * payload after `TX_HEADROOM` (`allocTxMbuf(pool, len, conn.mss)`).
   * @returns the mbuf, or {@link NO_MBUF} when the case does not hold or the
   *   pool is empty (nothing changes; {@link slice} is the general way)
   */
  headSlice(pool: Mempool, offset: number, len: number, hdrLen: number, front: number): Mbuf {
    const d = this.d;
    const una = d[D.Una];
    if (!(offset >= 0) || !(len > 0) || offset + len > d[D.Total] - una) return NO_MBUF;
    const abs = una + offset;
    let seg = this.curSeg;
    // In order, the segment cursor already names this segment (left there
    // by the previous call): no chain or segment walk.
    if (seg !== NO_MBUF && abs === d[D.CurSegAbs]) return this.headRefAt(pool, seg, abs, len, hdrLen, front);
    const x = (this.chainAt(abs) << 2);
    const e = this.e;
    if (e[x | E.Poff] >= 0) return NO_MBUF; // ours: headOwn, or slice
    seg = e[x | E.Mbuf] as Mbuf;
    const curStart = d[D.CurStart];
    let segAbs = curStart;
    if (this.curSeg !== NO_MBUF && d[D.CurSegAbs] >= curStart && d[D.CurSegAbs] <= abs) {
      seg = this.curSeg;
      segAbs = d[D.CurSegAbs];
    }
    let dl = pool.dataLen(seg);
    while (abs - segAbs >= dl) { segAbs += dl; seg = pool.next(seg); dl = pool.dataLen(seg); }
    // Walked to the segment holding abs: remember it for the next slice either way.
    this.curSeg = seg;
    d[D.CurSegAbs] = segAbs;
    if (abs !== segAbs) return NO_MBUF;
    return this.headRefAt(pool, seg, abs, len, hdrLen, front);
  }

  /**
   * The copying write's segment: when bytes [offset, offset+len) are exactly
   * one chain of the buffer's own ({@link pushOwn}) and nothing else holds
   * it (no earlier transmission of it still queued or held by a receiver),
   * that mbuf itself, by reference (`Mempool.refForTx`: a second reference
   * for the transmission, `hdrLen` bytes of header room in front of the
   * payload), with no new mbuf at all, when the payload has at least
   * `front` bytes in front of it (≥ hdrLen): the caller writes its header
   * there and the layers below prepend theirs.
   * @returns the mbuf, or NO_MBUF when the case does not hold
   */
  headOwn(pool: Mempool, offset: number, len: number, hdrLen: number, front: number): Mbuf {
    if (this.owned === 0) return NO_MBUF;
    const d = this.d;
    const una = d[D.Una];
    if (!(offset >= 0) || !(len > 0) || offset + len > d[D.Total] - una) return NO_MBUF;
    const abs = una + offset;
    // chainAt, with every load before the cursor's stores (per segment:
    // optimised code reloads the arrays' fields after a store into one).
    const e = this.e;
    const mask = this.mask;
    const head = this.head;
    const start0 = d[D.CurStart];
    let curStart = start0;
    let curK = this.curK;
    if (abs < curStart || curK >= this.count) { curK = 0; curStart = d[D.HeadStart]; }
    let x = ((head + curK) & mask) << 2;
    let clen: number;
    while (abs >= curStart + (clen = e[x | E.Len] >>> 0)) {
      curStart += clen;
      curK++;
      x = ((head + curK) & mask) << 2;
    }
    const po = e[x | E.Poff];
    const m = e[x | E.Mbuf] as Mbuf;
    this.curK = curK;
    if (curStart !== start0) d[D.CurStart] = curStart;
    if (po < front || abs !== curStart || len !== clen) return NO_MBUF;
    return pool.refForTx(m, po, hdrLen, len);
  }

  /** {@link headSlice} at held segment `seg` starting at `abs`; on a whole segment the cursor moves to the next. */
  private headRefAt(pool: Mempool, seg: Mbuf, abs: number, len: number, hdrLen: number, front: number): Mbuf {
    const dl = pool.dataLen(seg);
    if (len > dl) return NO_MBUF;
    const mi = pool.headRef(seg, front, hdrLen, len);
    if (mi !== NO_MBUF && len === dl) {
      // The next segment of the same chain (at a chain's end the cursor stays: the next chain is found by position).
      const n = pool.next(seg);
      if (n !== NO_MBUF) { this.curSeg = n; this.d[D.CurSegAbs] = abs + dl; }
    }
    return mi;
  }

  /**
   * How many of the `len` bytes at `offset` the next segment should take so
   * that segments keep to the mbufs of writes laid out one segment per mbuf
   * (see {@link headSlice}): a segment that would run from one write into
   * the next stops at the write's end when the next write is a chain of
   * more than one mbuf whose first holds at most `mss` bytes (kept as a
   * chain, or taken apart by {@link push} into mbufs of its own). That costs
   * one short segment at such a write's end (it carries PSH anyway) and
   * keeps every segment of the next write on its own mbuf; without it, one
   * write whose size is no multiple of the MSS would shift every later
   * segment across two mbufs. Small single-mbuf writes still coalesce, and
   * packed chains (buffers larger than a segment) are never cut.
   * @returns `len`, or the shorter length up to the write's end
   */
  alignedLen(offset: number, len: number, mss: number): number {
    const d = this.d;
    const una = d[D.Una];
    if (this.records > 0) {
      // MSG_EOR: a segment ends at a record end inside it (ends passed are forgotten).
      const a = una + offset;
      while (this.records > 0 && d[D.REnds + this.rHead] <= a) { this.rHead = (this.rHead + 1) & (Ring.WriteEnds - 1); this.records--; }
      if (this.records > 0 && d[D.REnds + this.rHead] < a + len) return d[D.REnds + this.rHead] - a;
    }
    if (!(offset >= 0) || !(len > 0) || offset + len >= d[D.Total] - una) return len;
    const abs = una + offset;
    const i = this.chainAt(abs);
    const e = this.e;
    const end = d[D.CurStart] + (e[(i << 2) | E.Len] >>> 0);
    if (abs + len <= end || this.curK + 1 >= this.count) return len;
    const y = (((i + 1) & this.mask) << 2);
    // One of ours: the first of a write pushSegments took apart counts as such a chain's head.
    if (e[y | E.Poff] >= 0) return e[y | E.Lead] !== 0 && (e[y | E.Len] >>> 0) <= mss ? end - abs : len;
    const next = e[y | E.Mbuf] as Mbuf;
    const pool = this.pool;
    return pool.nbSegs(next) > 1 && pool.dataLen(next) <= mss ? end - abs : len;
  }

  /**
   * A segment boundary with PSH at `offset` from SND.D.Una, ahead of every end
   * already marked (a record end and a write end there): a Fast Open
   * client's unacknowledged SYN data is sent again as the segment it was.
   */
  splitAt(offset: number): void {
    const d = this.d;
    const a = d[D.Una] + offset;
    if (!(offset > 0) || a > d[D.Total]) return;
    const m = Ring.WriteEnds - 1;
    if (this.records < Ring.WriteEnds && (this.records === 0 || d[D.REnds + this.rHead] > a)) {
      this.rHead = (this.rHead + m) & m;
      d[D.REnds + this.rHead] = a;
      this.records++;
    }
    if (this.wCount < Ring.WriteEnds && (this.wCount === 0 || d[D.WEnds + this.wHead] > a)) {
      this.wHead = (this.wHead + m) & m;
      d[D.WEnds + this.wHead] = a;
      this.wCount++;
    }
  }

  /**
   * MSG_EOR: whether the segment [offset, offset + len) that {@link alignedLen}
   * just sized ends exactly at a record end.
   */
  endsRecord(offset: number, len: number): boolean {
    return this.records > 0 && this.d[D.REnds + this.rHead] === this.d[D.Una] + offset + len;
  }

  /**
   * MSG_EOR: what is queued so far ends a record; no segment will carry
   * bytes from both sides of it (Linux: the skb is marked eor and never
   * extended). With Ring.WriteEnds ends already ahead, the newest moves here.
   */
  markRecordEnd(): void {
    const d = this.d;
    const t = d[D.Total];
    if (t <= d[D.Una]) return;
    if (this.records > 0 && d[D.REnds + ((this.rHead + this.records - 1) & (Ring.WriteEnds - 1))] >= t) return;
    if (this.records === Ring.WriteEnds) { d[D.REnds + ((this.rHead + Ring.WriteEnds - 1) & (Ring.WriteEnds - 1))] = t; return; }
    d[D.REnds + ((this.rHead + this.records) & (Ring.WriteEnds - 1))] = t;
    this.records++;
  }

  /** Free everything held (connection closed or aborted). */
  clear(): void {
    const e = this.e;
    while (this.count > 0) {
      const x = (this.head << 2);
      if (e[x | E.Poff] >= 0) { this.pool.releaseRef(e[x | E.Mbuf] as Mbuf); this.owned--; } else this.pool.free(e[x | E.Mbuf] as Mbuf);
      this.head = (this.head + 1) & this.mask;
      this.count--;
    }
    const d = this.d;
    const t = d[D.Total];
    this.head = 0;
    d[D.Una] = t;
    d[D.HeadStart] = t;
    this.curK = 0;
    d[D.CurStart] = t;
    this.curSeg = NO_MBUF;
    this.wCount = 0;
    d[D.LastWriteEnd] = t;
    this.records = 0;
  }
}
