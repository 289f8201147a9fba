import type { Seq } from './seq.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { seqAdd, seqDiff, seqGt, seqLeq, seqLt } from './seq.js';
import { DOUBLE_FIELD } from '../util/double-field.js';
import type { Mbuf } from '../mbuf/index.js';

const INITIAL_SLOTS = 16;

/**
 * Drop the first `n` bytes of packet `m` (n < pkt_len), freeing leading
 * segments that become empty. Works on indirect mbufs too: only data_off and
 * the lengths change, never payload.
 * @returns the new head of the packet
 */
export function trimFront(pool: Mempool, m: Mbuf, n: number): Mbuf {
  if (n <= 0) return m;
  let total = pool.pktLen(m) - n;
  let segs = pool.nbSegs(m);
  let dl = pool.dataLen(m);
  while (n >= dl) {
    const nx = pool.next(m);
    if (nx === NO_MBUF) break; // n < pkt_len makes this unreachable
    pool.setNext(m, NO_MBUF);
    pool.setNbSegs(m, 1);
    pool.setPktLen(m, dl);
    pool.free(m);
    n -= dl;
    segs--;
    m = nx;
    dl = pool.dataLen(m);
  }
  pool.setDataOff(m, pool.dataOff(m) + n);
  pool.setDataLen(m, dl - n);
  pool.setPktLen(m, total);
  pool.setNbSegs(m, segs);
  return m;
}

/**
 * In-order received payload waiting for the application: a queue of mbuf
 * chains with mtod at the first unread byte.
 *
 * {@link shift} hands chains over without copying (the caller frees them);
 * {@link read} copies and frees what it consumed, trimming a partly read
 * chain in place (data_off moves, nothing is copied twice).
 */
export class RecvBuffer {
  private readonly pool: Mempool;
  private ring = new Int32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(pool: Mempool) {
    this.pool = pool;
  }

  /** Bytes ready to read. */
  get length(): number { return this.bytes; }

  /** Chains held. */
  get chains(): number { return this.count; }

  /** Append the in-order payload chain `m` (mtod at payload); the buffer owns it. Empty chains are freed. */
  push(m: Mbuf): void {
    const len = this.pool.pktLen(m);
    if (len === 0) { this.pool.free(m); return; }
    if (this.count === this.ring.length) {
      const n = this.ring.length * 2;
      const ring = new Int32Array(n);
      for (let k = 0; k < this.count; k++) ring[k] = this.ring[(this.head + k) & this.mask];
      this.ring = ring;
      this.mask = n - 1;
      this.head = 0;
    }
    this.ring[(this.head + this.count) & this.mask] = m;
    this.count++;
    this.bytes += len;
  }

  /** Take the next chain (zero copy; the caller owns and frees it), or {@link NO_MBUF}. */
  shift(): Mbuf {
    if (this.count === 0) return NO_MBUF;
    const m = this.ring[this.head] as Mbuf;
    this.head = (this.head + 1) & this.mask;
    this.count--;
    this.bytes -= this.pool.pktLen(m);
    return m;
  }

  /**
   * Copy up to `dst.length - dstOff` bytes into `dst` at `dstOff`, freeing
   * what is consumed.
   * @returns bytes copied
   */
  read(dst: Uint8Array, dstOff = 0): number {
    const pool = this.pool;
    let want = dst.length - dstOff;
    let done = 0;
    while (want > 0 && this.count > 0) {
      const m = this.ring[this.head] as Mbuf;
      const len = pool.pktLen(m);
      if (len <= want) {
        pool.copyOut(m, 0, dst, dstOff + done, len);
        this.shift();
        pool.free(m);
        done += len;
        want -= len;
      } else {
        pool.copyOut(m, 0, dst, dstOff + done, want);
        this.ring[this.head] = trimFront(pool, m, want);
        this.bytes -= want;
        done += want;
        want = 0;
      }
    }
    return done;
  }

  /**
   * Copy up to `dst.length - dstOff` bytes into `dst` at `dstOff` without
   * consuming them (recv's MSG_PEEK): the next read returns the same bytes.
   * @returns bytes copied
   */
  peek(dst: Uint8Array, dstOff = 0): number {
    const pool = this.pool;
    let want = dst.length - dstOff;
    let done = 0;
    for (let k = 0; want > 0 && k < this.count; k++) {
      const m = this.ring[(this.head + k) & this.mask] as Mbuf;
      const n = Math.min(pool.pktLen(m), want);
      pool.copyOut(m, 0, dst, dstOff + done, n);
      done += n;
      want -= n;
    }
    return done;
  }

  /** Copy and consume up to `max` bytes into a new array (empty when nothing is ready). */
  readBytes(max = Infinity): Uint8Array {
    const out = new Uint8Array(Math.min(max, this.bytes));
    this.read(out, 0);
    return out;
  }

  /** Free everything held. */
  clear(): void {
    while (this.count > 0) this.pool.free(this.shift());
    this.head = 0;
    this.bytes = 0;
  }
}

/**
 * Segments received beyond RCV.NXT, kept by sequence number until the hole
 * before them fills (RFC 9293 §3.10.7.4: "segments with higher beginning
 * sequence numbers SHOULD be held for later processing").
 *
 * Entries never overlap: a new segment is trimmed against what is held,
 * which wins (as in Linux); held segments the new one covers entirely are
 * replaced. The queue is bounded in bytes; a segment that does not fit is
 * dropped and counted. Every sequence number it holds must lie within 2^31
 * of the others (true for anything inside a receive window).
 *
 * It also produces the receiver's SACK blocks (RFC 2018) with the block of
 * the most recently received segment first, and one pending D-SACK block
 * (RFC 2883) reported first of all.
 */
export class OooQueue {
  private readonly pool: Mempool;
  /** Byte bound. */
  readonly maxBytes: number;
  private starts = new Uint32Array(INITIAL_SLOTS);
  private ends = new Uint32Array(INITIAL_SLOTS);
  private mbufs = new Int32Array(INITIAL_SLOTS);
  private n = 0;
  private held = 0;
  // Anchors (a sequence number inside the block) of recently received segments, most recent first.
  private readonly recent = new Uint32Array(4);
  private nRecent = 0;
  private dsackPending = false;
  private dsackStart = DOUBLE_FIELD as Seq;
  private dsackEnd = DOUBLE_FIELD as Seq;
  /** Segments dropped because they did not fit in {@link maxBytes}. */
  droppedSegments = 0;
  /** Bytes of those segments. */
  droppedBytes = 0;
  /** Segments that brought nothing new (entirely held already). */
  duplicateSegments = 0;

  constructor(pool: Mempool, maxBytes: number) {
    // Sequence numbers, positions and times: doubles from the start (DOUBLE_FIELD, src/util/double-field.ts), their real initial values from here on.
    this.dsackStart = 0 as Seq; this.dsackEnd = 0 as Seq;
    this.pool = pool;
    this.maxBytes = maxBytes;
  }

  /** Bytes held. */
  get bytes(): number { return this.held; }
  /** Segments held. */
  get segments(): number { return this.n; }
  /** Whether nothing is held. */
  get empty(): boolean { return this.n === 0; }
  /** Lowest sequence number held (meaningless when empty). */
  firstSeq(): number { return this.starts[0]; }
  /** Sequence number after the highest byte held (meaningless when empty). */
  lastEnd(): number { return this.ends[this.n - 1]; }

  /** Index of the last entry starting at or before `seq`, or -1. */
  private floor(seq: Seq): number {
    let lo = 0;
    let hi = this.n - 1;
    let r = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (seqLeq(this.starts[mid] as Seq, seq)) { r = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return r;
  }

  /**
   * Hold the payload `m` (mtod at payload, pkt_len bytes) that starts at
   * sequence number `seq`. The queue owns `m` whatever the outcome: trimmed
   * and kept, or freed. Parts already held are reported as D-SACK (see
   * {@link dsack}). The caller trims anything before RCV.NXT first.
   * @returns true when new bytes were stored; false for a duplicate or a
   *   segment that does not fit (counted in {@link droppedSegments})
   */
  insert(pool: Mempool, seq: Seq, m: Mbuf): boolean {
    const len = pool.pktLen(m);
    if (len === 0) { pool.free(m); return false; }
    let s = (seq >>> 0) as Seq;
    let e = seqAdd(s, len);
    // Plan: clip against the entry at or before s, then against later ones.
    const p = this.floor(s);
    let dupOpen = false;
    if (p >= 0 && seqGt(this.ends[p] as Seq, s)) {
      const pe = this.ends[p] as Seq;
      if (seqLeq(e, pe)) return this.duplicate(pool, m, s, e);
      this.dsack(s, pe);
      dupOpen = true;
      s = pe;
    }
    // Entries from `first` to `last` (exclusive) are covered by [s, e) and will be replaced.
    const first = p + 1;
    let last = first;
    let removed = 0;
    while (last < this.n && seqLt(this.starts[last] as Seq, e)) {
      if (seqGt(this.ends[last] as Seq, e)) {
        const ps = this.starts[last] as Seq;
        if (dupOpen) this.extendDsack(ps, e); else { this.dsack(ps, e); dupOpen = true; }
        e = ps; // partial overlap at the right: held data wins
        break;
      }
      if (dupOpen) this.extendDsack(this.starts[last] as Seq, this.ends[last] as Seq);
      else { this.dsack(this.starts[last], this.ends[last]); dupOpen = true; }
      removed += seqDiff(this.ends[last], this.starts[last]);
      last++;
    }
    const keep = seqDiff(e, s);
    if (keep <= removed) return this.duplicate(pool, m, (seq >>> 0) as Seq, seqAdd(seq, len)); // nothing new
    if (this.held - removed + keep > this.maxBytes) {
      this.droppedSegments++;
      this.droppedBytes += len;
      pool.free(m);
      return false;
    }
    // Commit: trim m to [s, e).
    const front = seqDiff(s, (seq >>> 0) as Seq);
    if (front > 0) m = trimFront(pool, m, front);
    if (keep < pool.pktLen(m)) pool.truncate(m, keep);
    for (let k = first; k < last; k++) pool.free(this.mbufs[k] as Mbuf);
    const delta = 1 - (last - first);
    if (delta > 0 && this.n + delta > this.starts.length) this.grow();
    if (delta !== 0) {
      this.starts.copyWithin(first + 1, last, this.n);
      this.ends.copyWithin(first + 1, last, this.n);
      this.mbufs.copyWithin(first + 1, last, this.n);
    }
    this.starts[first] = s;
    this.ends[first] = e;
    this.mbufs[first] = m;
    this.n += delta;
    this.held += keep - removed;
    this.noteRecent(s);
    return true;
  }

  private duplicate(pool: Mempool, m: Mbuf, s: Seq, e: Seq): boolean {
    this.dsack(s, e);
    this.duplicateSegments++;
    pool.free(m);
    this.noteRecent(s);
    return false;
  }

  private grow(): void {
    const c = this.starts.length * 2;
    const st = new Uint32Array(c); st.set(this.starts); this.starts = st;
    const en = new Uint32Array(c); en.set(this.ends); this.ends = en;
    const mb = new Int32Array(c); mb.set(this.mbufs); this.mbufs = mb;
  }

  private noteRecent(anchor: Seq): void {
    // Move to front: drop an older anchor of the same block, else the oldest.
    const r = this.recent;
    let k = 0;
    const blk = this.blockOf(anchor);
    while (k < this.nRecent && (blk < 0 || this.blockOf(r[k] as Seq) !== blk)) k++;
    if (k === this.nRecent) { if (this.nRecent < r.length) this.nRecent++; k = this.nRecent - 1; }
    for (; k > 0; k--) r[k] = r[k - 1];
    r[0] = anchor;
  }

  /** Index of the first entry of the contiguous block holding `seq`, or -1. */
  private blockOf(seq: Seq): number {
    let i = this.floor(seq);
    if (i < 0 || !seqGt(this.ends[i] as Seq, seq)) return -1;
    while (i > 0 && this.ends[i - 1] === this.starts[i]) i--;
    return i;
  }

  /**
   * Remember [seqStart, seqEnd) as the D-SACK block (RFC 2883) to report
   * first in the next ACK, e.g. for a duplicate segment below RCV.NXT.
   * Replaces any block not yet reported.
   */
  dsack(seqStart: number, seqEnd: number): void {
    this.dsackPending = true;
    this.dsackStart = (seqStart >>> 0) as Seq;
    this.dsackEnd = (seqEnd >>> 0) as Seq;
  }

  /** Grow the pending D-SACK block by [s, e) when the two touch (one block must stay all duplicate). */
  private extendDsack(s: Seq, e: Seq): void {
    if (seqGt(s, this.dsackEnd) || seqLt(e, this.dsackStart)) return;
    if (seqLt(s, this.dsackStart)) this.dsackStart = (s >>> 0) as Seq;
    if (seqGt(e, this.dsackEnd)) this.dsackEnd = (e >>> 0) as Seq;
  }

  /** Whether a D-SACK block waits to be reported. */
  get hasDsack(): boolean { return this.dsackPending; }

  /** Forget the pending D-SACK block without reporting it. */
  clearDsack(): void { this.dsackPending = false; }

  /**
   * Fill `out` with up to `maxBlocks` SACK blocks as (start, end) pairs:
   * first the pending D-SACK block, if any; then, with `recentFirst`, the
   * blocks of the most recently received segments, most recent first
   * (RFC 2018 §4); then the other blocks in ascending order. Each block is a
   * maximal run of held data.
   * @param consumeDsack - clear the D-SACK block once written (pass false
   *   when only sizing the option)
   * @returns the number of blocks written
   */
  sackBlocks(out: Uint32Array, maxBlocks: number, recentFirst = true, consumeDsack = true): number {
    const max = Math.min(maxBlocks, out.length >> 1);
    let c = 0;
    if (this.dsackPending && c < max) {
      out[0] = this.dsackStart;
      out[1] = this.dsackEnd;
      c = 1;
      if (consumeDsack) this.dsackPending = false;
    }
    const firstReal = c;
    if (recentFirst) {
      for (let k = 0; k < this.nRecent && c < max; k++) {
        const b = this.blockOf(this.recent[k] as Seq);
        if (b >= 0) c = this.addBlock(out, firstReal, c, b);
      }
    }
    for (let i = 0; i < this.n && c < max; i++) {
      if (i > 0 && this.ends[i - 1] === this.starts[i]) continue;
      c = this.addBlock(out, firstReal, c, i);
    }
    return c;
  }

  private addBlock(out: Uint32Array, firstReal: number, c: number, i: number): number {
    const s = this.starts[i];
    for (let k = firstReal; k < c; k++) if (out[2 * k] === s) return c; // already listed
    let j = i;
    while (j + 1 < this.n && this.ends[j] === this.starts[j + 1]) j++;
    out[2 * c] = s;
    out[2 * c + 1] = this.ends[j];
    return c + 1;
  }

  /**
   * Take out the data that became in order: every held segment starting at
   * or before `rcvNxt`, trimmed to begin at `rcvNxt` and linked into one
   * chain (segments wholly before `rcvNxt` are freed). Call again with the
   * advanced RCV.NXT until it returns {@link NO_MBUF}: a chain stops short
   * before 65535 segments.
   * @returns the chain (mtod at RCV.NXT; advance RCV.NXT by its pkt_len), or {@link NO_MBUF}
   */
  drain(rcvNxt: number): Mbuf {
    const pool = this.pool;
    let nxt = (rcvNxt >>> 0) as Seq;
    let head = NO_MBUF;
    let tail = NO_MBUF;
    let segs = 0;
    let total = 0;
    let k = 0;
    while (k < this.n && seqLeq(this.starts[k] as Seq, nxt)) {
      let m = this.mbufs[k] as Mbuf;
      const s = this.starts[k] as Seq;
      const e = this.ends[k] as Seq;
      // In-order data that arrived again over held bytes (held entries never
      // overlap each other, so only the first ones can start before `nxt`):
      // report the repeated part as D-SACK (RFC 2883 §4, duplicate of
      // out-of-order data), unless a block is already waiting.
      if (seqLt(s, nxt)) {
        const de = seqLeq(e, nxt) ? e : nxt;
        if (this.dsackPending) this.extendDsack(s, de); else this.dsack(s, de);
      }
      if (seqLeq(e, nxt)) {
        pool.free(m);
        this.held -= seqDiff(e, s);
        k++;
        continue;
      }
      const front = seqDiff(nxt, s);
      if (segs + pool.nbSegs(m) > 0xffff) break;
      if (front > 0) {
        m = trimFront(pool, m, front);
        this.mbufs[k] = m;
      }
      this.held -= seqDiff(e, s);
      const len = pool.pktLen(m);
      if (head === NO_MBUF) head = m; else pool.setNext(tail, m);
      segs += pool.nbSegs(m);
      total += len;
      tail = pool.lastSeg(m);
      nxt = e;
      k++;
    }
    if (k > 0) {
      this.starts.copyWithin(0, k, this.n);
      this.ends.copyWithin(0, k, this.n);
      this.mbufs.copyWithin(0, k, this.n);
      this.n -= k;
    }
    if (head !== NO_MBUF) {
      pool.setPktLen(head, total);
      pool.setNbSegs(head, segs);
    }
    return head;
  }

  /** Free everything held and forget SACK state. */
  clear(): void {
    for (let i = 0; i < this.n; i++) this.pool.free(this.mbufs[i] as Mbuf);
    this.n = 0;
    this.held = 0;
    this.nRecent = 0;
    this.dsackPending = false;
  }
}
