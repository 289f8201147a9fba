import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { DOUBLE_FIELD } from '../util/double-field.js';
import { TX_HEADROOM } from './zc.js';
import type { Mbuf } from '../mbuf/index.js';

const INITIAL_SLOTS = 16;
/** Write ends remembered (a power of two): beyond that, the newest is moved on. */
const WRITE_ENDS = 16;
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
 * 2^53 bytes); chains sit in a ring of typed arrays that grows by doubling.
 */
export class SendBuffer {
  private readonly pool: Mempool;
  private ring = new Int32Array(INITIAL_SLOTS);
  private lens = new Float64Array(INITIAL_SLOTS);
  // For a chain of the buffer's own (pushOwn: one direct mbuf, the payload
  // fixed): the payload's data_off, since its fields may be changed by a
  // receiver while it is out by reference; -1 for every other chain.
  private poff = new Int32Array(INITIAL_SLOTS);
  // 1 for the first mbuf of a write that pushSegments took apart (the
  // write boundary alignedLen keeps segments to), else 0.
  private lead = new Uint8Array(INITIAL_SLOTS);
  /** Chains of the buffer's own held (headOwn's early out while there are none). */
  private owned = 0;
  private mask = INITIAL_SLOTS - 1;
  private head = 0;
  private count = 0;
  /** Absolute position of SND.UNA. */
  private una = DOUBLE_FIELD;
  /** Absolute position of the head chain's first byte still held. */
  private headStart = DOUBLE_FIELD;
  /** Absolute position after the last byte pushed. */
  private total = DOUBLE_FIELD;
  // Sequential-slice cursor: the chain `curK` places after the head starts at `curStart`.
  private curK = 0;
  private curStart = DOUBLE_FIELD;
  // Segment cursor: a segment (still held) where the previous slice ended, and
  // the absolute position of its first byte. A slice that starts at or after
  // it walks on from there instead of from its chain's head (a 64 KB
  // zero-copy chain has ~33 segments: walking from the head for every
  // MSS-sized slice was quadratic). NO_MBUF when unknown.
  private curSeg = NO_MBUF;
  private curSegAbs = DOUBLE_FIELD;
  // Ends of the application's writes (absolute, increasing) that no segment
  // has passed yet: the segment reaching one carries PSH, as Linux and BSD
  // set it on the last segment of each write. A fixed ring, no object per write.
  private readonly wEnds = new Float64Array(WRITE_ENDS);
  private wHead = 0;
  private wCount = 0;
  private lastWriteEnd = DOUBLE_FIELD;
  // Record ends (MSG_EOR, absolute, increasing) no segment has reached yet:
  // no segment spans one (alignedLen cuts there). Same fixed ring as wEnds.
  private readonly rEnds = new Float64Array(WRITE_ENDS);
  private rHead = 0;
  /** Record ends (MSG_EOR) still ahead of the segments sent: while > 0 the sender asks {@link alignedLen}. */
  records = 0;
  /** While set (a MSG_MORE write), {@link markWriteEnd} marks nothing: more of the write is to come, no PSH. */
  holdEnds = false;
  /** The last bytes queued came from a MSG_MORE write: the segment that empties the queue gets no PSH for it. */
  tailHeld = false;

  constructor(pool: Mempool) {
    // Absolute byte positions pass 2^31 after 2 GB: doubles from the start (DOUBLE_FIELD, src/util/double-field.ts), their real initial values from here on.
    this.una = 0; this.headStart = 0; this.total = 0; this.curStart = 0; this.curSegAbs = 0; this.lastWriteEnd = 0;
    this.pool = pool;
  }

  /** Bytes queued and not yet acknowledged (sent or not). */
  get length(): number { return this.total - this.una; }

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
    if (this.count === this.ring.length) this.grow();
    const i = (this.head + this.count) & this.mask;
    this.ring[i] = m;
    this.lens[i] = len;
    this.poff[i] = -1;
    this.lead[i] = 0;
    this.count++;
    this.total += len;
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
    if (this.count === this.ring.length) this.grow();
    const i = (this.head + this.count) & this.mask;
    this.ring[i] = m;
    this.lens[i] = len;
    this.poff[i] = dataOff;
    this.lead[i] = 0;
    this.owned++;
    this.count++;
    this.total += len;
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
    while (this.count + n > this.ring.length) this.grow();
    // One pass: each mbuf checked and written into the free slots after the
    // tail, which count only once the whole chain has passed. The mbufs'
    // own fields (next, nb_segs, pkt_len) are left as they are: those of an
    // mbuf of our own are never read, and are rewritten whenever it is sent
    // by reference (refForTx) or released (releaseRef).
    const ring = this.ring;
    const lens = this.lens;
    const poff = this.poff;
    const lead = this.lead;
    const mask = this.mask;
    let i = (this.head + this.count) & mask;
    let k = 0;
    let sum = 0;
    for (let s = m; s !== NO_MBUF; s = pool.next(s)) {
      const dl = pool.dataLen(s);
      const off = pool.dataOff(s);
      if (k === n || dl === 0 || off < OWN_HEADROOM || pool.refcnt(s) !== 1 || !pool.isDirect(s)) return false;
      ring[i] = s;
      lens[i] = dl;
      poff[i] = off;
      lead[i] = 0;
      i = (i + 1) & mask;
      sum += dl;
      k++;
    }
    if (k !== n || sum !== len) return false;
    lead[(this.head + this.count) & mask] = 1;
    this.count += n;
    this.owned += n;
    this.total += len;
    return true;
  }

  private grow(): void {
    const n = this.ring.length * 2;
    const ring = new Int32Array(n);
    const lens = new Float64Array(n);
    const poff = new Int32Array(n);
    const lead = new Uint8Array(n);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & this.mask;
      ring[k] = this.ring[i];
      lens[k] = this.lens[i];
      poff[k] = this.poff[i];
      lead[k] = this.lead[i];
    }
    this.ring = ring;
    this.lens = lens;
    this.poff = poff;
    this.lead = lead;
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
    const i = (this.head + this.count - 1) & this.mask;
    if (this.ring[i] !== m) return false;
    this.lens[i] += bytes;
    this.total += bytes;
    return true;
  }

  /**
   * Offset from SND.UNA of the tail chain's first byte (0 when empty): a
   * copying write appends to the tail chain's mbuf only while no byte of it
   * has been sent, so that its segments stay on the mbufs' boundaries.
   */
  tailStart(): number {
    if (this.count === 0) return 0;
    return this.total - this.lens[(this.head + this.count - 1) & this.mask] - this.una;
  }

  /**
   * The application's write ended here: everything pushed so far is one
   * write more (a no-op when nothing was pushed since the last call). With
   * {@link WRITE_ENDS} ends already waiting, the newest moves to here
   * instead (its segment then goes without PSH).
   */
  markWriteEnd(): void {
    const t = this.total;
    if (t <= this.lastWriteEnd) return;
    if (this.holdEnds) { this.lastWriteEnd = t; this.tailHeld = true; return; } // MSG_MORE: these bytes end no write
    this.tailHeld = false;
    this.lastWriteEnd = t;
    if (this.wCount === WRITE_ENDS) { this.wEnds[(this.wHead + WRITE_ENDS - 1) & (WRITE_ENDS - 1)] = t; return; }
    this.wEnds[(this.wHead + this.wCount) & (WRITE_ENDS - 1)] = t;
    this.wCount++;
  }

  /**
   * Offset from SND.UNA of the oldest write end not yet passed (Infinity:
   * none): a segment ending before it cannot end a write, so the sender
   * asks {@link endsWrite} only for a segment that reaches it.
   */
  nextWriteEnd(): number {
    return this.wCount === 0 ? Infinity : this.wEnds[this.wHead] - this.una;
  }

  /**
   * Whether bytes [offset, offset+len) from SND.UNA reach the end of a write
   * (PSH). Write ends at or before `offset` are forgotten: segments are
   * asked in sequence order, and a retransmission of older bytes only
   * misses a PSH.
   */
  endsWrite(offset: number, len: number): boolean {
    if (this.wCount === 0) return false;
    const start = this.una + offset;
    while (this.wCount > 0 && this.wEnds[this.wHead] <= start) {
      this.wHead = (this.wHead + 1) & (WRITE_ENDS - 1);
      this.wCount--;
    }
    return this.wCount > 0 && this.wEnds[this.wHead] <= start + len;
  }

  /**
   * A new chain of indirect mbufs referencing bytes [offset, offset+len)
   * counted from SND.UNA; the caller owns it (prepend a header mbuf, send,
   * free). No payload byte is copied.
   * @returns the chain, or {@link NO_MBUF} when the pool ran out (nothing
   *   leaks) or the range is empty or not held
   */
  slice(pool: Mempool, offset: number, len: number): Mbuf {
    if (!(offset >= 0) || !(len > 0) || offset + len > this.total - this.una) return NO_MBUF;
    let abs = this.una + offset;
    const mask = this.mask;
    let i = this.chainAt(abs);
    let out = NO_MBUF;
    let tail = NO_MBUF;
    let segs = 0;
    let total = 0;
    for (;;) {
      const avail = this.lens[i] - (abs - this.curStart);
      let take = len < avail ? len : avail;
      const po = this.poff[i];
      if (po >= 0) {
        // One of ours (pushOwn): its fields may not be its own just now; the payload's place is known.
        const mi = pool.alloc();
        if (mi === NO_MBUF) {
          if (out !== NO_MBUF) pool.free(out);
          return NO_MBUF;
        }
        pool.attachSliceAt(mi, this.ring[i] as Mbuf, po + (abs - this.curStart), take);
        if (out === NO_MBUF) out = mi; else pool.setNext(tail, mi);
        tail = mi;
        segs++;
        total += take;
        len -= take;
        abs += take;
        this.curSeg = NO_MBUF;
        if (len === 0) break;
        this.curStart += this.lens[i];
        this.curK++;
        i = (this.head + this.curK) & mask;
        continue;
      }
      // Where to start walking: the cursor when it lies in this chain at or before abs.
      let seg = this.ring[i] as Mbuf;
      let segAbs = this.curStart;
      if (this.curSeg !== NO_MBUF && this.curSegAbs >= this.curStart && this.curSegAbs <= abs) {
        seg = this.curSeg;
        segAbs = this.curSegAbs;
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
        this.curSegAbs = segAbs;
        if (take === 0) break;
        segAbs += dl;
        off = 0;
        seg = pool.next(seg);
        dl = pool.dataLen(seg);
      }
      if (len === 0) break;
      this.curStart += this.lens[i];
      this.curK++;
      i = (this.head + this.curK) & mask;
    }
    pool.setPktLen(out, total);
    pool.setNbSegs(out, segs);
    return out;
  }

  /**
   * SND.UNA advanced by `bytes`: free every chain now fully acknowledged, and
   * the fully acknowledged leading segments of a partly acknowledged chain.
   * @returns the bytes actually acknowledged (at most {@link length})
   */
  ack(bytes: number): number {
    const n = bytes < 0 ? 0 : Math.min(bytes, this.total - this.una);
    this.una += n;
    const pool = this.pool;
    {
      // Whole chains acknowledged, in a loop over locals (a bulk writer's
      // are one mbuf per segment: this runs for every segment).
      const ring = this.ring;
      const lens = this.lens;
      const poff = this.poff;
      const mask = this.mask;
      const una = this.una;
      let h = this.head;
      let count = this.count;
      let start = this.headStart;
      let curK = this.curK;
      let owned = this.owned;
      const count0 = count;
      while (count > 0) {
        const len = lens[h];
        if (una < start + len) break;
        if (poff[h] >= 0) { pool.releaseRef(ring[h] as Mbuf); owned--; } else pool.free(ring[h] as Mbuf);
        start += len;
        h = (h + 1) & mask;
        count--;
        if (curK > 0) curK--;
      }
      if (count !== count0) {
        this.head = h;
        this.count = count;
        this.headStart = start;
        this.curK = curK;
        this.owned = owned;
        // The cursor's chain was freed: it names the new head chain (which starts at headStart).
        if (curK === 0) this.curStart = start;
      }
    }
    // Partly acknowledged: give back whole leading segments early, cut
    // off as one chain (one free, its head's fields written once). One of
    // ours is one segment: nothing to cut (and its fields are not to be read).
    if (this.count > 0 && this.poff[this.head] < 0) {
      const h = this.head;
      let m = this.ring[h] as Mbuf;
      let dl = pool.dataLen(m);
      let nx = pool.next(m);
      const acked = this.una - this.headStart;
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
        this.headStart += bytes;
        this.lens[h] -= bytes;
        this.ring[h] = m;
      }
    }
    if (this.count > 0 && this.curK === 0) this.curStart = this.headStart;
    // Everything before headStart was freed: so may the cursor's segment have been.
    if (this.curSegAbs < this.headStart) this.curSeg = NO_MBUF;
    return n;
  }

  /**
   * The chain cursor at absolute position `abs` (held, ≥ headStart): the ring
   * index of the chain holding it; curK/curStart name that chain after the call.
   */
  private chainAt(abs: number): number {
    if (abs < this.curStart || this.curK >= this.count) { this.curK = 0; this.curStart = this.headStart; }
    const mask = this.mask;
    let i = (this.head + this.curK) & mask;
    while (abs >= this.curStart + this.lens[i]) {
      this.curStart += this.lens[i];
      this.curK++;
      i = (this.head + this.curK) & mask;
    }
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
    if (!(offset >= 0) || !(len > 0) || offset + len > this.total - this.una) return NO_MBUF;
    const abs = this.una + offset;
    let seg = this.curSeg;
    // In order, the segment cursor already names this segment (left there
    // by the previous call): no chain or segment walk.
    if (seg !== NO_MBUF && abs === this.curSegAbs) return this.headRefAt(pool, seg, abs, len, hdrLen, front);
    const i = this.chainAt(abs);
    if (this.poff[i] >= 0) return NO_MBUF; // ours: headOwn, or slice
    seg = this.ring[i] as Mbuf;
    let segAbs = this.curStart;
    if (this.curSeg !== NO_MBUF && this.curSegAbs >= this.curStart && this.curSegAbs <= abs) {
      seg = this.curSeg;
      segAbs = this.curSegAbs;
    }
    let dl = pool.dataLen(seg);
    while (abs - segAbs >= dl) { segAbs += dl; seg = pool.next(seg); dl = pool.dataLen(seg); }
    // Walked to the segment holding abs: remember it for the next slice either way.
    this.curSeg = seg;
    this.curSegAbs = segAbs;
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
    if (!(offset >= 0) || !(len > 0) || offset + len > this.total - this.una) return NO_MBUF;
    const abs = this.una + offset;
    const i = this.chainAt(abs);
    const po = this.poff[i];
    if (po < front || abs !== this.curStart || len !== this.lens[i]) return NO_MBUF;
    return pool.refForTx(this.ring[i] as Mbuf, po, hdrLen, len);
  }

  /** {@link headSlice} at held segment `seg` starting at `abs`; on a whole segment the cursor moves to the next. */
  private headRefAt(pool: Mempool, seg: Mbuf, abs: number, len: number, hdrLen: number, front: number): Mbuf {
    const dl = pool.dataLen(seg);
    if (len > dl) return NO_MBUF;
    const mi = pool.headRef(seg, front, hdrLen, len);
    if (mi !== NO_MBUF && len === dl) {
      // The next segment of the same chain (at a chain's end the cursor stays: the next chain is found by position).
      const n = pool.next(seg);
      if (n !== NO_MBUF) { this.curSeg = n; this.curSegAbs = abs + dl; }
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
    if (this.records > 0) {
      // MSG_EOR: a segment ends at a record end inside it (ends passed are forgotten).
      const a = this.una + offset;
      while (this.records > 0 && this.rEnds[this.rHead] <= a) { this.rHead = (this.rHead + 1) & (WRITE_ENDS - 1); this.records--; }
      if (this.records > 0 && this.rEnds[this.rHead] < a + len) return this.rEnds[this.rHead] - a;
    }
    if (!(offset >= 0) || !(len > 0) || offset + len >= this.total - this.una) return len;
    const abs = this.una + offset;
    const i = this.chainAt(abs);
    const end = this.curStart + this.lens[i];
    if (abs + len <= end || this.curK + 1 >= this.count) return len;
    const j = (i + 1) & this.mask;
    // One of ours: the first of a write pushSegments took apart counts as such a chain's head.
    if (this.poff[j] >= 0) return this.lead[j] !== 0 && this.lens[j] <= mss ? end - abs : len;
    const next = this.ring[j] as Mbuf;
    const pool = this.pool;
    return pool.nbSegs(next) > 1 && pool.dataLen(next) <= mss ? end - abs : len;
  }

  /**
   * A segment boundary with PSH at `offset` from SND.UNA, ahead of every end
   * already marked (a record end and a write end there): a Fast Open
   * client's unacknowledged SYN data is sent again as the segment it was.
   */
  splitAt(offset: number): void {
    const a = this.una + offset;
    if (!(offset > 0) || a > this.total) return;
    const m = WRITE_ENDS - 1;
    if (this.records < WRITE_ENDS && (this.records === 0 || this.rEnds[this.rHead] > a)) {
      this.rHead = (this.rHead + m) & m;
      this.rEnds[this.rHead] = a;
      this.records++;
    }
    if (this.wCount < WRITE_ENDS && (this.wCount === 0 || this.wEnds[this.wHead] > a)) {
      this.wHead = (this.wHead + m) & m;
      this.wEnds[this.wHead] = a;
      this.wCount++;
    }
  }

  /**
   * MSG_EOR: whether the segment [offset, offset + len) that {@link alignedLen}
   * just sized ends exactly at a record end.
   */
  endsRecord(offset: number, len: number): boolean {
    return this.records > 0 && this.rEnds[this.rHead] === this.una + offset + len;
  }

  /**
   * MSG_EOR: what is queued so far ends a record; no segment will carry
   * bytes from both sides of it (Linux: the skb is marked eor and never
   * extended). With {@link WRITE_ENDS} ends already ahead, the newest moves here.
   */
  markRecordEnd(): void {
    const t = this.total;
    if (t <= this.una) return;
    if (this.records > 0 && this.rEnds[(this.rHead + this.records - 1) & (WRITE_ENDS - 1)] >= t) return;
    if (this.records === WRITE_ENDS) { this.rEnds[(this.rHead + WRITE_ENDS - 1) & (WRITE_ENDS - 1)] = t; return; }
    this.rEnds[(this.rHead + this.records) & (WRITE_ENDS - 1)] = t;
    this.records++;
  }

  /** Free everything held (connection closed or aborted). */
  clear(): void {
    while (this.count > 0) {
      const h = this.head;
      if (this.poff[h] >= 0) { this.pool.releaseRef(this.ring[h] as Mbuf); this.owned--; } else this.pool.free(this.ring[h] as Mbuf);
      this.head = (this.head + 1) & this.mask;
      this.count--;
    }
    this.head = 0;
    this.una = this.total;
    this.headStart = this.total;
    this.curK = 0;
    this.curStart = this.total;
    this.curSeg = NO_MBUF;
    this.wCount = 0;
    this.lastWriteEnd = this.total;
    this.records = 0;
  }
}
