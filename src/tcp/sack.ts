import type { Seq } from './seq.js';
import { seqAdd, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin } from './seq.js';
import { DOUBLE_FIELD } from '../util/double-field.js';
import { LossNum } from './loss-numbers.js';
import { SentSegments } from './rack.js';

/** The array of every set that never held a range: reads see count 0 and index nothing. */
const NO_RANGES = new Uint32Array(0);

/**
 * A bounded, sorted set of disjoint sequence ranges [start, end) held in one
 * Uint32Array (pairs). Adjacent and overlapping ranges are merged. All
 * comparisons are modulo 2^32 (the ranges live in a window < 2^31 wide).
 * The array is allocated when the first range is added (most connections
 * never lose a segment nor see a SACK block); nothing allocates after that.
 */
export class SeqRangeSet {
  /** Pairs start,end; entries [0, 2·count) are valid, ascending. */
  r: Uint32Array;
  /** Number of ranges. */
  count = 0;
  /** Maximum number of ranges. */
  readonly capacity: number;
  /** Inserts refused (or merged away) because the set was full. */
  overflows = 0;
  /**
   * @param capacity - maximum number of ranges
   * @param mergeOnOverflow - when full: true merges the two closest ranges
   *   (over-approximates: only for sets where that is safe), false drops the
   *   new range (under-approximates)
   */
  constructor(capacity = 64, private readonly mergeOnOverflow = false) {
    // Sequence numbers, positions and times: doubles from the start (DOUBLE_FIELD, src/util/double-field.ts), their real initial values from here on.
    this.gapEnd = 0 as Seq;
    this.capacity = capacity;
    this.r = NO_RANGES;
  }

  /** Removes every range. */
  clear(): void { this.count = 0; }
  /** Start of range i. */
  start(i: number): number { return this.r[2 * i]; }
  /** End (exclusive) of range i. */
  end(i: number): number { return this.r[2 * i + 1]; }

  /** Total bytes covered. */
  bytes(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) n += (this.r[2 * i + 1] - this.r[2 * i]) >>> 0;
    return n;
  }

  /**
   * Adds [start, end). @returns bytes newly covered (0 if none, or if the
   * range was dropped because the set is full).
   */
  add(start: Seq, end: Seq): number {
    start = (start >>> 0) as Seq; end = (end >>> 0) as Seq;
    if (!seqLt(start, end)) return 0;
    if (this.r === NO_RANGES) this.r = new Uint32Array(this.capacity * 2);
    const r = this.r;
    const n = this.count;
    // i: first range whose end ≥ start (overlaps, touches, or lies after)
    let i = 0;
    while (i < n && seqLt(r[2 * i + 1] as Seq, start)) i++;
    // j: last range whose start ≤ end
    let j = i - 1;
    while (j + 1 < n && seqLeq(r[2 * (j + 1)] as Seq, end)) j++;
    if (j < i) {
      if (n === this.capacity) {
        this.overflows++;
        if (!this.mergeOnOverflow) return 0;
        this.mergeClosest();
        return this.add(start, end);
      }
      r.copyWithin(2 * i + 2, 2 * i, 2 * n);
      r[2 * i] = start; r[2 * i + 1] = end;
      this.count = n + 1;
      return (end - start) >>> 0;
    }
    let had = 0;
    for (let k = i; k <= j; k++) had += (r[2 * k + 1] - r[2 * k]) >>> 0;
    const s = seqMin(start, r[2 * i] as Seq);
    const e = seqMax(end, r[2 * j + 1] as Seq);
    r[2 * i] = s; r[2 * i + 1] = e;
    if (j > i) {
      r.copyWithin(2 * i + 2, 2 * j + 2, 2 * n);
      this.count = n - (j - i);
    }
    return (((e - s) >>> 0) - had);
  }

  /** Removes [start, end) from the set. @returns bytes removed. */
  remove(start: Seq, end: Seq): number {
    start = (start >>> 0) as Seq; end = (end >>> 0) as Seq;
    if (!seqLt(start, end)) return 0;
    const r = this.r;
    let removed = 0;
    for (let i = 0; i < this.count; i++) {
      const s = r[2 * i] as Seq, e = r[2 * i + 1] as Seq;
      if (seqLeq(e, start)) continue;
      if (seqGeq(s, end)) break;
      const cs = seqMax(s, start), ce = seqMin(e, end);
      removed += (ce - cs) >>> 0;
      const keepLeft = seqLt(s, start), keepRight = seqGt(e, end);
      if (keepLeft && keepRight) {
        if (this.count === this.capacity) {
          // Cannot split: keep the left part only (removing more is the safe side
          // for every set this is used with: sacked and lost under-approximate,
          // rtx over-approximation is only a performance matter)
          this.overflows++;
          removed += (e - end) >>> 0;
          r[2 * i + 1] = start;
          continue;
        }
        r.copyWithin(2 * i + 2, 2 * i, 2 * this.count);
        this.count++;
        r[2 * i + 1] = start;
        r[2 * i + 2] = end;
        i++;
      } else if (keepLeft) {
        r[2 * i + 1] = start;
      } else if (keepRight) {
        r[2 * i] = end;
      } else {
        r.copyWithin(2 * i, 2 * i + 2, 2 * this.count);
        this.count--;
        i--;
      }
    }
    return removed;
  }

  /** Drops everything below `seq` (cumulative ACK). @returns bytes removed. */
  trimBelow(seq: Seq): number {
    const r = this.r;
    let removed = 0;
    let k = 0;
    while (k < this.count && seqLeq(r[2 * k + 1] as Seq, seq)) { removed += (r[2 * k + 1] - r[2 * k]) >>> 0; k++; }
    if (k > 0) { r.copyWithin(0, 2 * k, 2 * this.count); this.count -= k; }
    if (this.count > 0 && seqLt(r[0] as Seq, seq)) { removed += (seq - r[0]) >>> 0; r[0] = seq >>> 0; }
    return removed;
  }

  /** True if `seq` lies inside a range. */
  contains(seq: Seq): boolean {
    const r = this.r;
    for (let i = 0; i < this.count; i++) {
      if (seqLt(seq, r[2 * i] as Seq)) return false;
      if (seqLt(seq, r[2 * i + 1] as Seq)) return true;
    }
    return false;
  }

  /** Bytes of [a, b) covered by the set. */
  covered(a: number, b: number): number {
    const r = this.r;
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const s = r[2 * i], e = r[2 * i + 1];
      if (seqLeq(e, a)) continue;
      if (seqGeq(s, b)) break;
      n += (seqMin(e, b) - seqMax(s, a)) >>> 0;
    }
    return n;
  }

  /**
   * The first byte of [a, b) not covered by the set, or `b` if all are.
   * {@link SeqRangeSet.gapEnd} is set to the end of that uncovered run (≤ b).
   */
  firstGap(a: number, b: Seq): Seq {
    const r = this.r;
    let x = (a >>> 0) as Seq;
    for (let i = 0; i < this.count; i++) {
      const s = r[2 * i] as Seq, e = r[2 * i + 1] as Seq;
      if (seqLeq(e, x)) continue;
      if (seqGt(s, x)) { this.gapEnd = seqMin(s, b); return seqLt(x, b) ? x : (b >>> 0) as Seq; }
      x = e;
      if (seqGeq(x, b)) { this.gapEnd = (b >>> 0) as Seq; return (b >>> 0) as Seq; }
    }
    this.gapEnd = (b >>> 0) as Seq;
    return seqLt(x, b) ? x : (b >>> 0) as Seq;
  }
  /** End of the run found by the last firstGap call. */
  gapEnd = DOUBLE_FIELD as Seq;

  private mergeClosest(): void {
    const r = this.r;
    let best = 0, bestGap = Infinity;
    for (let i = 0; i + 1 < this.count; i++) {
      const g = (r[2 * i + 2] - r[2 * i + 1]) >>> 0;
      if (g < bestGap) { bestGap = g; best = i; }
    }
    r[2 * best + 1] = r[2 * best + 3];
    r.copyWithin(2 * best + 2, 2 * best + 4, 2 * this.count);
    this.count--;
  }
}

/** What {@link SackScoreboard.nextSeg} chose (RFC 6675 §4 NextSeg rules). */
export const enum NextSegKind {
  /** Nothing to send. */
  None = 0,
  /** Rule 1: retransmit data deemed lost. */
  Lost = 1,
  /** Rule 2: send new data (starting at HighData). */
  NewData = 2,
  /** Rule 3: retransmit unSACKed data not (yet) deemed lost. */
  Unsacked = 3,
}

/** RFC 6675 §2: DupThresh. */
export const DUP_THRESH = 3;

/**
 * The sender's SACK scoreboard and RFC 6675 loss recovery bookkeeping.
 *
 * Holds three bounded range sets over [HighACK, HighData): SACKed data,
 * data marked lost by an external detector (RACK, RTO) and data
 * retransmitted in the current recovery. The retransmitted set generalises
 * RFC 6675's HighRxt: while retransmissions go in order it is exactly
 * [HighACK, HighRxt); when RACK declares a retransmission lost
 * ({@link SackScoreboard.markLost}) it leaves the set so rule 1 sends it again.
 *
 * Per-ACK work is O(ranges) (≤ 64 each) and allocation-free.
 */
export class SackScoreboard {
  /** SMSS, bytes. */
  mss: number;
  /** Holds the connection's loss-recovery numbers (loss-numbers.ts: SND.UNA, HighData, RecoveryPoint, D-SACK range, NextSeg's start) in the array of its RACK records. */
  private readonly ns: SentSegments;
  /**
   * Some set may hold a range (false: all three are empty, and neither
   * ACKs nor sends need touch them: see {@link quiet}).
   */
  private held = false;
  /** HighACK: SND.UNA, the highest cumulatively acknowledged sequence number. */
  get sndUna(): Seq { return this.ns.r[LossNum.SbSndUna] as Seq; }
  set sndUna(v: Seq) { this.ns.r[LossNum.SbSndUna] = v; }
  /** HighData: one past the highest sequence number transmitted. */
  get highData(): Seq { return this.ns.r[LossNum.SbHighData] as Seq; }
  set highData(v: Seq) { this.ns.r[LossNum.SbHighData] = v; }
  /** Apply RFC 6675 IsLost (DupThresh) in addition to external marks. */
  useDupThresh = true;

  /** In SACK-based loss recovery (RFC 6675 §5 step 4 until RecoveryPoint is ACKed). */
  inRecovery = false;
  /** RecoveryPoint: HighData when recovery (or an RTO) began. */
  get recoveryPoint(): Seq { return this.ns.r[LossNum.SbRecoveryPoint] as Seq; }
  set recoveryPoint(v: Seq) { this.ns.r[LossNum.SbRecoveryPoint] = v; }
  /** A recovery may not begin until SND.UNA ≥ recoveryPoint (after an RTO, §5.1). */
  private recoveryBlocked = false;
  /** RFC 6675 DupAcks counter (ACKs with new SACK info and no cumulative advance). */
  dupAcks = 0;

  // Results of the last update() (fields, so update allocates nothing)
  /** Bytes newly cumulatively acknowledged. */
  ackedBytes = 0;
  /** Bytes newly SACKed. */
  newlySacked = 0;
  /** The ACK carried a D-SACK block (RFC 2883). */
  dsack = false;
  /** The D-SACK range. */
  get dsackStart(): Seq { return this.ns.r[LossNum.SbDsackStart] as Seq; }
  set dsackStart(v: Seq) { this.ns.r[LossNum.SbDsackStart] = v; }
  get dsackEnd(): Seq { return this.ns.r[LossNum.SbDsackEnd] as Seq; }
  set dsackEnd(v: Seq) { this.ns.r[LossNum.SbDsackEnd] = v; }
  /** Blocks ignored as invalid in the last update. */
  invalidBlocks = 0;

  /** SACKed ranges (drop on overflow: never claims unSACKed data as SACKed). */
  readonly sacked: SeqRangeSet;
  /** Ranges marked lost by RACK/RTO (drop on overflow). */
  readonly lost: SeqRangeSet;
  /** Ranges retransmitted in this recovery (merged on overflow). */
  readonly rtx: SeqRangeSet;

  // Cumulative counters
  /** SACK blocks received (valid or not, excluding D-SACK). */
  blocksReceived = 0;
  /** D-SACK blocks received. */
  dsacksReceived = 0;
  /** SACK blocks rejected (outside [SND.UNA, SND.NXT] or empty). */
  blocksInvalid = 0;

  // Output of nextSeg()
  /** Start of the segment chosen by nextSeg. */
  get segStart(): Seq { return this.ns.r[LossNum.SbSegStart] as Seq; }
  set segStart(v: Seq) { this.ns.r[LossNum.SbSegStart] = v; }
  /** Length of the segment chosen by nextSeg (≤ SMSS). */
  segLen = 0;

  /**
   * @param mss - SMSS
   * @param iss - initial send sequence number (SND.UNA = SND.NXT = iss)
   * @param capacity - ranges per set
   * @param numbers - the connection's RACK record, which holds its loss-recovery numbers; a new one by default
   */
  constructor(mss: number, iss = 0 as Seq, capacity = 64, numbers: SentSegments = new SentSegments(16)) {
    this.ns = numbers;
    const n = numbers.r;
    n[LossNum.SbDsackStart] = 0; n[LossNum.SbDsackEnd] = 0; n[LossNum.SbSegStart] = 0; // sndUna, highData, recoveryPoint: reset() below
    this.mss = mss;
    this.sacked = new SeqRangeSet(capacity, false);
    this.lost = new SeqRangeSet(capacity, false);
    this.rtx = new SeqRangeSet(capacity, true);
    this.reset(iss);
  }

  /** Forgets everything; SND.UNA = HighData = `seq`. */
  reset(seq: Seq): void {
    this.sndUna = this.highData = this.recoveryPoint = (seq >>> 0) as Seq;
    this.sacked.clear(); this.lost.clear(); this.rtx.clear();
    this.held = false;
    this.inRecovery = false; this.recoveryBlocked = false;
    this.dupAcks = 0;
  }

  /** New data was transmitted up to `sndNxt` (HighData only grows). */
  onSendNew(sndNxt: Seq): void {
    const n = this.ns.r;
    if (seqGt(sndNxt, n[LossNum.SbHighData] as Seq)) n[LossNum.SbHighData] = sndNxt >>> 0;
  }

  /**
   * Whether the SACKed, lost and retransmitted sets are all empty; while
   * none has held a range since it was last found so, the sets themselves
   * (three objects and their arrays) are not read.
   */
  quiet(): boolean {
    if (!this.held) return true;
    if (this.sacked.count !== 0 || this.lost.count !== 0 || this.rtx.count !== 0) return false;
    this.held = false;
    return true;
  }

  /** Some data is SACKed above SND.UNA. */
  hasSacked(): boolean { return this.held && this.sacked.count !== 0; }
  /** Some data is marked lost. */
  hasLost(): boolean { return this.held && this.lost.count !== 0; }

  /**
   * Processes an ACK (RFC 6675 §4 Update(); RFC 2883 D-SACK detection).
   * Results are left in ackedBytes, newlySacked, dsack*, dupAcks.
   * @param ack - the cumulative acknowledgment (callers pass only ACKs ≤ SND.NXT)
   * @param blocks - SACK blocks as start,end pairs
   * @param count - number of blocks
   * @param sndNxt - the highest sequence sent so far (HighData)
   * @returns true if the ACK is a "duplicate" in RFC 6675's sense (no cumulative
   *   advance, new SACK information)
   */
  update(ack: Seq, blocks: Uint32Array, count: number, sndNxt: Seq): boolean {
    this.onSendNew(sndNxt);
    ack = (ack >>> 0) as Seq;
    this.ackedBytes = 0; this.newlySacked = 0; this.dsack = false; this.invalidBlocks = 0;
    let first = 0;
    // RFC 2883 §4: the first block reports a duplicate if it lies below the
    // cumulative ACK or inside the second block.
    if (count > 0) {
      const s0 = blocks[0] as Seq, e0 = blocks[1] as Seq;
      const below = seqLt(s0, ack) && seqLt(s0, e0);
      const inside = count > 1 && seqGeq(s0, blocks[2] as Seq) && seqLeq(e0, blocks[3] as Seq) && seqLt(s0, e0);
      if (below || inside) {
        this.dsack = true; this.dsackStart = s0; this.dsackEnd = e0;
        this.dsacksReceived++;
        first = 1;
      }
    }
    const nums = this.ns.r;
    const una = nums[LossNum.SbSndUna] as Seq;
    if (seqGt(ack, una) && seqLeq(ack, nums[LossNum.SbHighData] as Seq)) {
      this.ackedBytes = (ack - una) >>> 0;
      nums[LossNum.SbSndUna] = ack;
      if (this.held) { this.sacked.trimBelow(ack); this.lost.trimBelow(ack); this.rtx.trimBelow(ack); }
      if (this.recoveryBlocked && seqGeq(ack, this.recoveryPoint)) this.recoveryBlocked = false;
    }
    for (let i = first; i < count; i++) {
      this.blocksReceived++;
      let s = blocks[2 * i] as Seq, e = blocks[2 * i + 1] as Seq;
      // Validate: non-empty, within [SND.UNA, HighData]; partly-acked blocks are trimmed
      if (!seqLt(s, e) || seqGt(e, this.highData) || seqLeq(e, this.sndUna)) {
        this.invalidBlocks++; this.blocksInvalid++;
        continue;
      }
      if (seqLt(s, this.sndUna)) s = this.sndUna;
      this.held = true;
      const added = this.sacked.add(s, e);
      if (added > 0) {
        this.newlySacked += added;
        // SACKed data is neither lost nor in flight any more
        this.lost.remove(s, e);
        this.rtx.remove(s, e);
      }
    }
    if (this.ackedBytes > 0) { this.dupAcks = 0; return false; }
    if (this.newlySacked > 0) { this.dupAcks++; return true; }
    return false;
  }

  /** Highest SACKed sequence number + 1 (HighACK if nothing is SACKed). */
  highSacked(): number {
    const n = this.held ? this.sacked.count : 0;
    return n > 0 ? this.sacked.end(n - 1) : this.sndUna;
  }

  /** Total SACKed bytes above SND.UNA. */
  sackedBytes(): number { return this.held ? this.sacked.bytes() : 0; }

  /**
   * RFC 6675 §4 IsLost(seq) for an unSACKed sequence number: DupThresh
   * discontiguous SACKed ranges above it, or more than (DupThresh − 1)·SMSS
   * SACKed bytes above it; or marked lost by RACK/RTO.
   */
  isLost(seq: Seq): boolean {
    if (this.lost.contains(seq)) return true;
    return this.useDupThresh && this.lostByDupThresh(seq);
  }

  /** The DupThresh part of IsLost. */
  lostByDupThresh(seq: Seq): boolean {
    const r = this.sacked.r;
    let ranges = 0, bytes = 0;
    for (let i = this.sacked.count - 1; i >= 0; i--) {
      const s = r[2 * i] as Seq, e = r[2 * i + 1] as Seq;
      if (seqLeq(e, seq)) break;
      ranges++;
      bytes += (e - seqMax(s, seqAdd(seq, 1))) >>> 0;
      if (ranges >= DUP_THRESH || bytes > (DUP_THRESH - 1) * this.mss) return true;
    }
    return false;
  }

  /**
   * RFC 6675 §5 step (2)/(1): should the sender enter loss recovery now?
   * (DupAcks ≥ DupThresh, or IsLost(HighACK + 1)), unless already in recovery
   * or an RTO recovery is not yet complete.
   */
  shouldEnterRecovery(): boolean {
    if (this.inRecovery || this.recoveryBlocked) return false;
    if (!this.hasSacked() && !this.hasLost()) return false;
    return this.dupAcks >= DUP_THRESH || this.isLost(this.sndUna);
  }

  /** RFC 6675 §5 step (4): RecoveryPoint = HighData; HighRxt = HighACK. */
  enterRecovery(): void {
    this.inRecovery = true;
    this.recoveryPoint = this.highData;
  }

  /*
   * Neither entering nor leaving recovery forgets the retransmitted set
   * (RFC 6675 resets HighRxt per recovery): a range resent in one episode
   * is still in flight in the next, and only RACK (markLost), SACK or the
   * cumulative ACK may take it out. Clearing it made rule 1 (and the
   * DupThresh rule) resend such a range again when one recovery ended and
   * the next began on the same ACK — a duplicate the receiver D-SACKed.
   */

  /** True once the ACK covers RecoveryPoint (RFC 6675 §5: recovery ends). */
  recoveryDone(): boolean {
    return this.inRecovery && seqGeq(this.sndUna, this.recoveryPoint);
  }

  /** Leaves recovery (call when recoveryDone()). */
  exitRecovery(): void {
    this.inRecovery = false;
  }

  /**
   * RFC 6675 §5.1: a retransmission timeout. Everything unSACKed in flight is
   * lost (or only the first segment, `headOnly`); RecoveryPoint = HighData;
   * no new recovery until it is ACKed.
   * SACK information is kept (Update() keeps running); a receiver that
   * reneges is handled by retransmitting from SND.UNA anyway.
   */
  onRto(headOnly = false): void {
    this.inRecovery = false;
    this.recoveryPoint = this.highData;
    this.recoveryBlocked = seqLt(this.sndUna, this.highData);
    this.rtx.clear();
    this.lost.clear();
    // headOnly: the first segment alone (F-RTO's first step, RFC 5682 §2.1);
    // the caller marks the rest when the next ACK shows the timeout was real.
    const head = seqAdd(this.sndUna, this.mss);
    this.markLost(this.sndUna, headOnly && seqLt(head, this.highData) ? head : this.highData);
    this.dupAcks = 0;
  }

  /** A timeout turned out spurious: recovery may begin again before RecoveryPoint is acknowledged. */
  unblockRecovery(): void { this.recoveryBlocked = false; }

  /**
   * An external detector (RACK) declares [start, end) lost. Parts already
   * SACKed are ignored; parts that were retransmitted lose that mark (the
   * retransmission itself was lost) so rule 1 sends them again.
   */
  markLost(start: Seq, end: Seq): void {
    if (seqLt(start, this.sndUna)) start = this.sndUna;
    if (seqGt(end, this.highData)) end = this.highData;
    if (!seqLt(start, end)) return;
    this.held = true;
    this.lost.add(start, end);
    this.rtx.remove(start, end);
    // Keep the set disjoint from SACKed data
    const r = this.sacked.r;
    for (let i = 0; i < this.sacked.count; i++) {
      if (seqLeq(r[2 * i + 1] as Seq, start)) continue;
      if (seqGeq(r[2 * i] as Seq, end)) break;
      this.lost.remove(r[2 * i] as Seq, r[2 * i + 1] as Seq);
    }
  }

  /**
   * RFC 6675 §4 SetPipe(): octets in flight. For each unSACKed octet in
   * [HighACK, HighData): +1 if not lost, +1 if retransmitted (and the
   * retransmission not itself lost).
   */
  pipe(): number {
    // Nothing SACKed, lost or retransmitted (every segment of a clean bulk
    // transfer asks): the pipe is the flight.
    if (this.quiet()) {
      const una = this.ns.r[LossNum.SbSndUna], high = this.ns.r[LossNum.SbHighData];
      return seqLt(una, high) ? (high - una) >>> 0 : 0;
    }
    const n = this.sacked.count;
    const sr = this.sacked.r;
    let pipe = 0;
    let a = this.sndUna;
    // Suffix sums of SACKed bytes/ranges decide IsLost per hole (constant within a hole)
    let bytesAbove = this.sacked.bytes();
    for (let i = 0; i <= n; i++) {
      const b = i < n ? sr[2 * i] as Seq : this.highData;
      if (seqLt(a, b)) {
        const rangesAbove = n - i;
        const dupLost = this.useDupThresh && i < n &&
          (rangesAbove >= DUP_THRESH || bytesAbove > (DUP_THRESH - 1) * this.mss);
        const len = (b - a) >>> 0;
        if (!dupLost) pipe += len - this.lost.covered(a, b);
        pipe += this.rtx.covered(a, b);
      }
      if (i < n) {
        bytesAbove -= (sr[2 * i + 1] - sr[2 * i]) >>> 0;
        a = sr[2 * i + 1] as Seq;
      }
    }
    return pipe;
  }

  /**
   * RFC 6675 §4 NextSeg(): what to send next. The caller checks
   * cwnd − pipe ≥ SMSS first, transmits [segStart, segStart + segLen) and
   * then calls {@link SackScoreboard.onTransmit} with the returned kind.
   * @param newDataAvailable - bytes of new data that may be sent now (queued
   *   beyond HighData and allowed by the receive window), for rule 2
   */
  nextSeg(newDataAvailable: number): NextSegKind {
    const mss = this.mss;
    const sr = this.sacked.r;
    const n = this.sacked.count;
    // Rule 1: smallest unSACKed, not-yet-retransmitted octet that IsLost
    let a = this.sndUna;
    let bytesAbove = this.sacked.bytes();
    for (let i = 0; i <= n; i++) {
      const b = i < n ? sr[2 * i] as Seq : this.highData;
      if (seqLt(a, b)) {
        const dupLost = this.useDupThresh && i < n &&
          (n - i >= DUP_THRESH || bytesAbove > (DUP_THRESH - 1) * mss);
        if (dupLost) {
          if (this.pickUncovered(a, b, this.rtx)) return NextSegKind.Lost;
        } else if (this.pickLostMarked(a, b)) return NextSegKind.Lost;
      }
      if (i < n) {
        bytesAbove -= (sr[2 * i + 1] - sr[2 * i]) >>> 0;
        a = sr[2 * i + 1] as Seq;
      }
    }
    // Rule 2: new data
    if (newDataAvailable > 0) {
      this.segStart = this.highData;
      this.segLen = Math.min(mss, newDataAvailable);
      return NextSegKind.NewData;
    }
    // Rule 3: unSACKed, not retransmitted, below the highest SACKed octet
    a = this.sndUna;
    for (let i = 0; i < n; i++) {
      const b = sr[2 * i] as Seq;
      if (seqLt(a, b) && this.pickUncovered(a, b, this.rtx)) return NextSegKind.Unsacked;
      a = sr[2 * i + 1] as Seq;
    }
    // Rule 4 (the rescue retransmission) is left out, as Linux does: the
    // tail is RACK-TLP's job, and packetdrill scripts written against Linux
    // expect no rescue.
    this.segLen = 0;
    return NextSegKind.None;
  }

  /**
   * Records a transmission chosen by nextSeg (RFC 6675 §5 steps C.3/C.4):
   * retransmissions join the retransmitted set (HighRxt), new data
   * advances HighData.
   */
  onTransmit(kind: NextSegKind, start: Seq, len: number): void {
    const end = seqAdd(start, len);
    switch (kind) {
      case NextSegKind.Lost:
      case NextSegKind.Unsacked:
        this.held = true;
        this.rtx.add(start, end);
        break;
      case NextSegKind.NewData:
        this.onSendNew(end);
        break;
      default:
        break;
    }
  }

  /** First octets of [a, b) not in `set`, clipped to SMSS, into segStart/segLen. */
  private pickUncovered(a: number, b: Seq, set: SeqRangeSet): boolean {
    const x = set.firstGap(a, b);
    if (!seqLt(x, b)) return false;
    this.segStart = x;
    this.segLen = Math.min(this.mss, (set.gapEnd - x) >>> 0);
    return true;
  }

  /** First octets of [a, b) marked lost and not retransmitted. */
  private pickLostMarked(a: Seq, b: Seq): boolean {
    const lr = this.lost.r;
    for (let k = 0; k < this.lost.count; k++) {
      const s = lr[2 * k] as Seq, e = lr[2 * k + 1] as Seq;
      if (seqLeq(e, a)) continue;
      if (seqGeq(s, b)) return false;
      if (this.pickUncovered(seqMax(s, a), seqMin(e, b), this.rtx)) return true;
    }
    return false;
  }
}
