import type { Seq } from './seq.js';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import { LossNum } from './loss-numbers.js';

/** Flags of a {@link SentSegments} record. */
export const enum SegFlag {
  /** Retransmitted at least once (xmitTs is the latest transmission). */
  Retrans = 1,
  /** Selectively acknowledged. */
  Sacked = 2,
  /** Deemed lost (and not retransmitted since). */
  Lost = 4,
  /** The latest transmission was a tail loss probe. */
  Tlp = 8,
  /** Ends a MSG_EOR record: a resend never runs past it. */
  Eor = 16,
}

/** 2^32: a record's flags sit above its start sequence number in one double. */
const FLAG_UNIT = 4294967296;
/** Index of ring slot 0's first double: the connection's loss-recovery numbers come first. */
const REC = LossNum.Count;

/**
 * The per-connection record of transmitted, not yet cumulatively
 * acknowledged segments, in sequence order: one record per transmitted
 * segment (record each MSS-sized piece of a TSO burst separately so SACK
 * blocks match record boundaries). A ring of records in one Float64Array,
 * three doubles each: start + flags·2^32 ({@link SegFlag}), end, and the
 * time of the latest (re)transmission — what an ACK reads of a record is
 * in one place, not in four arrays (with thousands of connections each
 * array touched is a cache miss of its own). It grows (doubling) only
 * when more segments are in flight than ever before, so steady state
 * allocates nothing.
 *
 * The array's first {@link LossNum.Count} doubles are no records: they are
 * the connection's loss-recovery numbers (loss-numbers.ts), so that RACK,
 * the SACK scoreboard and SackRecovery (which hold this object for them)
 * and the records are one typed array, and an ACK reads one array header.
 */
export class SentSegments {
  /** The numbers ({@link LossNum} slots), then the records: [R+3j] start + flags·2^32, [R+3j+1] end, [R+3j+2] xmit_ts (ms) of ring slot j (R = LossNum.Count). */
  r: Float64Array;
  private mask: number;
  /** Ring index of the oldest record. */
  head = 0;
  /** Number of records. */
  count = 0;

  constructor(capacity = 1024) {
    let c = 16;
    while (c < capacity) c <<= 1;
    this.r = new Float64Array(REC + 3 * c);
    this.mask = c - 1;
  }

  /** Ring index of the i-th oldest record (0 ≤ i < count). */
  at(i: number): number { return (this.head + i) & this.mask; }

  /** First sequence number of the record in ring slot j. */
  startOf(j: number): Seq { return (this.r[REC + 3 * j] >>> 0) as Seq; }
  /** One past the last sequence number of the record in ring slot j. */
  endOf(j: number): Seq { return this.r[REC + 3 * j + 1] as Seq; }
  /** Time of the latest (re)transmission of the record in ring slot j, ms. */
  xmitTsOf(j: number): number { return this.r[REC + 3 * j + 2]; }
  /** {@link SegFlag} bits of the record in ring slot j. */
  flagsOf(j: number): number { return (this.r[REC + 3 * j] / FLAG_UNIT) | 0; }
  /** Sets the flags of ring slot j. */
  setFlags(j: number, f: number): void { const k = REC + 3 * j; this.r[k] = (this.r[k] >>> 0) + f * FLAG_UNIT; }
  /** Sets the start of ring slot j (its flags kept). */
  setStart(j: number, start: Seq): void { const k = REC + 3 * j; this.r[k] = (start >>> 0) + ((this.r[k] / FLAG_UNIT) | 0) * FLAG_UNIT; }
  /** Sets the transmission time of ring slot j. */
  setXmitTs(j: number, t: number): void { this.r[REC + 3 * j + 2] = t; }

  /** Removes every record. */
  clear(): void { this.head = 0; this.count = 0; }

  /** Appends a new-data segment [start, end) sent at `now`. */
  push(start: Seq, end: Seq, now: number): void {
    if (this.count > this.mask) this.grow();
    const k = REC + 3 * ((this.head + this.count) & this.mask);
    const r = this.r;
    r[k] = start >>> 0;
    r[k + 1] = end >>> 0;
    r[k + 2] = now;
    this.count++;
  }

  /**
   * Appends the new-data segments of [start, end) sent at `now`, one record
   * per `mss` bytes (the last one shorter when the range is no multiple):
   * what {@link push} per segment does, in one loop over the array.
   */
  pushRun(start: Seq, end: Seq, mss: number, now: number): void {
    let len = (end - start) >>> 0;
    let n = Math.ceil(len / mss);
    while (this.count + n > this.mask + 1) this.grow();
    const r = this.r;
    const mask = this.mask;
    let j = (this.head + this.count) & mask;
    let s = start >>> 0;
    this.count += n;
    for (; n > 0; n--) {
      const take = len > mss ? mss : len;
      const k = REC + 3 * j;
      r[k] = s;
      s = (s + take) >>> 0;
      r[k + 1] = s;
      r[k + 2] = now;
      len -= take;
      j = (j + 1) & mask;
    }
  }

  /** Drops the oldest record. */
  shift(): void {
    this.head = (this.head + 1) & this.mask;
    this.count--;
  }

  /** Order of the first record whose end is after `seq` (count if none): binary search. */
  firstEndingAfter(seq: Seq): number {
    const r = this.r;
    let lo = 0, hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLeq(r[REC + 3 * this.at(mid) + 1] as Seq, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(): void {
    const n = (this.mask + 1) * 2;
    const r = new Float64Array(REC + 3 * n);
    for (let k = 0; k < REC; k++) r[k] = this.r[k];
    for (let i = 0; i < this.count; i++) {
      const k = REC + 3 * this.at(i);
      const d = REC + 3 * i;
      r[d] = this.r[k]; r[d + 1] = this.r[k + 1]; r[d + 2] = this.r[k + 2];
    }
    this.r = r;
    this.mask = n - 1;
    this.head = 0;
  }
}

/** Result of {@link Rack.onAck} concerning the tail loss probe (RFC 8985 §7.4). */
export const enum TlpOutcome {
  /** No TLP episode ended with this ACK. */
  None = 0,
  /** The probe episode ended without evidence of loss (D-SACK of the probe, or a new-data probe delivered). */
  NoLoss = 1,
  /** The probe repaired a loss: the caller must reduce the window once (RFC 8985 §7.4.2). */
  LossRepaired = 2,
}

/** Default worst-case delayed-ACK time (RFC 8985 §7.2 WCDelAckT), ms. */
export const WC_DEL_ACK_MS = 200;

/**
 * The numbers of one ACK for {@link Rack.onAckIn}, stored by the caller:
 * a double stored allocates nothing, where each double argument of a call
 * that is not inlined is boxed (onAck is large, its callers too). They are
 * {@link LossNum} slots of the connection's {@link SentSegments} array.
 */
export class RackAck {
  constructor(private readonly s: SentSegments) {}
  /** The new SND.UNA (after this ACK). */
  get sndUna(): Seq { return this.s.r[LossNum.AckUna] as Seq; }
  set sndUna(v: Seq) { this.s.r[LossNum.AckUna] = v; }
  /** The D-SACK block, when the ACK carried one. */
  get dsackStart(): Seq { return this.s.r[LossNum.AckDsackStart] as Seq; }
  set dsackStart(v: Seq) { this.s.r[LossNum.AckDsackStart] = v; }
  get dsackEnd(): Seq { return this.s.r[LossNum.AckDsackEnd] as Seq; }
  set dsackEnd(v: Seq) { this.s.r[LossNum.AckDsackEnd] = v; }
  /** SND.NXT. */
  get sndNxt(): Seq { return this.s.r[LossNum.AckNxt] as Seq; }
  set sndNxt(v: Seq) { this.s.r[LossNum.AckNxt] = v; }
  /** The ACK's echoed timestamp, or -1 without timestamps. */
  get tsEcr(): number { return this.s.r[LossNum.AckTsEcr]; }
  set tsEcr(v: number) { this.s.r[LossNum.AckTsEcr] = v; }
  /** Offset of our TSval clock: TSval = floor(ms) + tsOffset. */
  get tsOffset(): number { return this.s.r[LossNum.AckTsOffset]; }
  set tsOffset(v: number) { this.s.r[LossNum.AckTsOffset] = v; }
}

/**
 * RACK-TLP loss detection (RFC 8985) over a {@link SentSegments} record.
 *
 * The connection calls, in this order:
 * - on every transmission: {@link Rack.onSend} (new data) or
 *   {@link Rack.onRetransmit};
 * - on every ACK: {@link Rack.onAck} (cumulative ACK + SACK blocks + D-SACK),
 *   then {@link Rack.detectLoss} which marks lost segments (reported through
 *   the callback, e.g. into SackScoreboard.markLost) and returns the
 *   reordering-timer delay;
 * - when the reordering timer fires: {@link Rack.detectLoss} again;
 * - to arm the probe timer: {@link Rack.pto}; when it fires, send a probe and
 *   call {@link Rack.onTlpSent}.
 * Times are ms from the stack clock. Nothing allocates per ACK.
 *
 * A Rack is its own {@link SentSegments} (the in-flight records, {@link segs}):
 * the ring's fields and RACK's share one object, one cache miss fewer on
 * every ACK and send of a connection whose state is cold. Its sequence
 * numbers and times are {@link LossNum} slots of the record's array.
 */
export class Rack extends SentSegments {
  // After SentSegments' fields, those an ACK reads first, so they share the object's first cache lines.
  private unaValid = false;
  private fackValid = false;
  /** RACK.reordering_seen. */
  reorderingSeen = false;
  /** A probe is outstanding (TLP.end_seq ≠ None). */
  tlpOutstanding = false;
  private dsackRoundValid = false;
  private retransAmbiguous = false;
  /**
   * RACK.rtt as Linux tcp_rack_advance keeps it (TcpConfig linuxRackRtt): the
   * RTT of every segment delivered, in sequence order, SACKed ones first and
   * then the cumulatively acknowledged, not only of the one sent last
   * (RFC 8985 §6.2 step 2 processes them in order of transmission).
   */
  linuxRtt = false;
  /** Records SACKed and not yet cumulatively acknowledged (whole records: a block covering part of one does not count). */
  sackedRecords = 0;
  /** RACK.reo_wnd_mult (§6.2 step 4). */
  reoWndMult = 1;
  /** RACK.reo_wnd_persist. */
  reoWndPersist = 0;
  /** TLP.is_retrans. */
  tlpIsRetrans = false;
  /** Segments marked lost by detectLoss (cumulative). */
  lostMarked = 0;
  /** The current ACK's numbers for {@link onAckIn}. */
  readonly ackIn: RackAck;

  /** The in-flight segment records (and the connection's loss-recovery numbers): this object. */
  get segs(): SentSegments { return this; }

  /** RACK.xmit_ts: latest transmission time of the most recently delivered segment (-1 = none). */
  get xmitTs(): number { return this.r[LossNum.RackXmitTs]; }
  /** RACK.end_seq: its end. */
  get endSeq(): Seq { return this.r[LossNum.RackEndSeq] as Seq; }
  /** RACK.rtt: RTT of that segment, ms. */
  get rtt(): number { return this.r[LossNum.RackRtt]; }
  /** RACK.min_RTT, ms (0 = none). */
  get minRtt(): number { return this.r[LossNum.RackMinRtt]; }
  /** RACK.fack: highest end sequence delivered. */
  get fack(): Seq { return this.r[LossNum.RackFack] as Seq; }
  /** Reordering window used by the last detectLoss, ms. */
  get reoWnd(): number { return this.r[LossNum.RackReoWnd]; }
  /** TLP.end_seq (valid when tlpOutstanding). */
  get tlpEndSeq(): Seq { return this.r[LossNum.RackTlpEndSeq] as Seq; }
  /** Output of lastSegment(). */
  get lastStart(): Seq { return this.r[LossNum.RackLastStart] as Seq; }
  get lastEnd(): Seq { return this.r[LossNum.RackLastEnd] as Seq; }

  /**
   * @param capacity - records before the ring first grows
   */
  constructor(capacity = 1024) {
    super(capacity);
    const n = this.r;
    this.ackIn = new RackAck(this);
    n[LossNum.RackXmitTs] = -1; n[LossNum.RackEndSeq] = 0; n[LossNum.RackRtt] = 0; n[LossNum.RackMinRtt] = 0;
    n[LossNum.RackFack] = 0; n[LossNum.RackDsackRound] = 0; n[LossNum.RackReoWnd] = 0; n[LossNum.RackTlpEndSeq] = 0;
    n[LossNum.RackUna] = 0; n[LossNum.RackLastStart] = 0; n[LossNum.RackLastEnd] = 0;
    n[LossNum.AckUna] = 0; n[LossNum.AckDsackStart] = 0; n[LossNum.AckDsackEnd] = 0; n[LossNum.AckNxt] = 0;
    n[LossNum.AckTsEcr] = -1; n[LossNum.AckTsOffset] = 0;
  }

  /** Forget everything (connection reset). */
  reset(): void {
    const n = this.r;
    this.clear();
    n[LossNum.RackXmitTs] = -1; n[LossNum.RackRtt] = 0; n[LossNum.RackMinRtt] = 0; this.fackValid = false;
    this.reorderingSeen = false; this.reoWndMult = 1; this.reoWndPersist = 0;
    this.dsackRoundValid = false; this.tlpOutstanding = false; this.unaValid = false;
    this.sackedRecords = 0;
  }

  /** New data [start, end) sent at `now` (one call per MSS-sized segment). */
  onSend(start: Seq, end: Seq, now: number): void {
    this.push(start, end, now);
  }

  /** New data [start, end) sent at `now` as segments of `mss` bytes (the last may be shorter): {@link onSend} for each, in one call. */
  onSendRun(start: Seq, end: Seq, mss: number, now: number): void {
    if (!seqLt(start, end)) return;
    // One segment (an RPC's request or reply): pushRun's division and loop for one record.
    if (((end - start) >>> 0) <= mss) this.push(start, end, now);
    else this.pushRun(start, end, mss, now);
  }

  /** Resend of [start, end) never recorded (beyond every record): one record, marked retransmitted. */
  onResendUnrecorded(start: Seq, end: Seq, now: number): void {
    if (!seqLt(start, end)) return;
    const s: SentSegments = this;
    s.push(start, end, now);
    s.setFlags(s.at(s.count - 1), SegFlag.Retrans);
  }

  /**
   * Retransmission of [start, end) at `now` (RFC 8985 §6.1: xmit_ts updated,
   * the lost mark cleared). @param tlp - this is a tail loss probe
   */
  onRetransmit(start: Seq, end: Seq, now: number, tlp = false): void {
    const s: SentSegments = this;
    for (let i = s.firstEndingAfter(start); i < s.count; i++) {
      const j = s.at(i);
      if (seqGeq(s.startOf(j), end)) break;
      s.setXmitTs(j, now);
      s.setFlags(j, (s.flagsOf(j) & ~(SegFlag.Lost | SegFlag.Tlp)) | SegFlag.Retrans | (tlp ? SegFlag.Tlp : 0));
    }
  }

  /**
   * Processes an ACK: the cumulative acknowledgment and SACK blocks deliver
   * segments, updating RACK.xmit_ts/end_seq/rtt/min_RTT (RFC 8985 §6.2
   * steps 1–3), the reordering window state (step 4) and the TLP episode
   * (§7.4).
   * @param sndUna - the new SND.UNA (after this ACK)
   * @param blocks - SACK blocks (start,end pairs), D-SACK excluded
   * @param first - index of the first non-D-SACK block in `blocks`
   * @param count - number of blocks in `blocks` (including any D-SACK)
   * @param dsack - the ACK carried a D-SACK block [dsackStart, dsackEnd)
   * @param sndNxt - SND.NXT
   * @param inRecovery - the connection is in fast/SACK or RTO recovery
   * @param exitingRecovery - this ACK ends a recovery episode
   * @param tsEcr - the ACK's echoed timestamp, or -1 without timestamps
   * @param tsOffset - offset of our TSval clock: TSval = floor(ms) + tsOffset
   * @param retransAmbiguous - whether retransmitted records this ACK delivers may
   *   have been delivered by their original transmission (the caller knows, e.g.
   *   after a timeout, when the ACK also covers originals beyond the one resent):
   *   they do not advance RACK.xmit_ts then
   */
  onAck(
    sndUna: Seq, blocks: Uint32Array, first: number, count: number,
    dsack: boolean, dsackStart: Seq, dsackEnd: Seq,
    sndNxt: Seq, now: number, exitingRecovery = false, tsEcr = -1, tsOffset = 0, retransAmbiguous = false,
  ): TlpOutcome {
    const a = this.ackIn;
    a.sndUna = sndUna; a.dsackStart = dsackStart; a.dsackEnd = dsackEnd; a.sndNxt = sndNxt; a.tsEcr = tsEcr; a.tsOffset = tsOffset;
    return this.onAckIn(blocks, first, count, dsack, now, exitingRecovery, retransAmbiguous);
  }

  /** {@link onAck} with its numbers in {@link ackIn} (stored by the caller). */
  onAckIn(blocks: Uint32Array, first: number, count: number, dsack: boolean, now: number, exitingRecovery: boolean, retransAmbiguous: boolean): TlpOutcome {
    const s: SentSegments = this;
    const n = this.r;
    const sndUna = n[LossNum.AckUna] as Seq;
    this.retransAmbiguous = retransAmbiguous;
    const prevUna = n[LossNum.RackUna] as Seq;
    const advanced = this.unaValid && seqGt(sndUna, prevUna);
    const oldUna = this.unaValid ? prevUna : sndUna;
    n[LossNum.RackUna] = sndUna >>> 0;
    this.unaValid = true;
    // Cumulatively acknowledged records (a partially acknowledged head is
    // trimmed). A run of plain records (never retransmitted, not SACKed:
    // originals, sent in sequence order, so their xmit_ts never decrease)
    // changes RACK's state as its last record alone does, plus step 3's
    // reordering test on its first: the last has the latest xmit_ts, the
    // highest end and the smallest RTT of the run; the first the lowest end.
    // A bulk ACK covers a whole burst: one delivered() per run, not per MSS.
    let runFirst = -1;
    let runLast = -1;
    while (s.count > 0) {
      const j = s.head;
      if (seqLeq(s.endOf(j), sndUna)) {
        const f = s.flagsOf(j);
        if (f === 0) {
          if (runFirst < 0) runFirst = j;
          runLast = j;
        } else {
          if (runFirst >= 0) { this.deliveredRun(runFirst, runLast, now); runFirst = -1; }
          if ((f & SegFlag.Sacked) === 0) this.delivered(j, now, true);
          else this.sackedRecords--;
        }
        s.shift();
      } else {
        if (seqLt(s.startOf(j), sndUna)) s.setStart(j, sndUna);
        break;
      }
    }
    // The run's ring slots were shifted out but not overwritten (nothing is pushed in between).
    if (runFirst >= 0) this.deliveredRun(runFirst, runLast, now);
    if (count > first) {
      // linuxRtt: Linux tags SACKs before it cleans the cumulatively acknowledged: their RTT is the last.
      const cumRtt = n[LossNum.RackRtt];
      const cumDelivered = this.linuxRtt && seqGt(sndUna, oldUna);
      // SACKed records: only those fully covered by a block
      for (let b = first; b < count; b++) {
        const bs = blocks[2 * b] as Seq, be = blocks[2 * b + 1] as Seq;
        if (!seqLt(bs, be)) continue;
        for (let i = s.firstEndingAfter(bs); i < s.count; i++) {
          const j = s.at(i);
          if (seqGt(s.endOf(j), be)) break;
          if (seqLt(s.startOf(j), bs)) continue;
          const f = s.flagsOf(j);
          if ((f & SegFlag.Sacked) === 0) {
            s.setFlags(j, (f | SegFlag.Sacked) & ~SegFlag.Lost);
            this.sackedRecords++;
            this.delivered(j, now, false);
          }
        }
      }
      if (cumDelivered) n[LossNum.RackRtt] = cumRtt;
    }
    this.updateReoWnd(dsack, exitingRecovery);
    return this.tlpOnAck(advanced, dsack);
  }

  /**
   * {@link delivered} (cumulative) for the plain records from ring slot
   * `first` to `last` in sequence order, with the state they leave when
   * delivered one by one: step 3's test on the lowest end (`first`'s: any
   * record ending below RACK.fack is), then the last record.
   */
  private deliveredRun(first: number, last: number, now: number): void {
    if (first !== last && this.fackValid && seqLt(this.endOf(first), this.r[LossNum.RackFack] as Seq)) this.reorderingSeen = true;
    this.delivered(last, now, true);
  }

  /**
   * §6.2 steps 2–3 for one newly delivered record.
   * @param cumulative - delivered by the cumulative ACK (not a SACK block)
   */
  private delivered(j: number, now: number, cumulative: boolean): void {
    const s: SentSegments = this;
    const n = this.r;
    const ts = s.xmitTsOf(j);
    const end = s.endOf(j);
    const rtt = now - ts;
    const minRtt = n[LossNum.RackMinRtt];
    if ((s.flagsOf(j) & SegFlag.Retrans) !== 0) {
      // Step 2: an ACK faster than min_RTT after a retransmission most likely
      // acknowledges the original transmission: ambiguous, skip it.
      if (minRtt > 0 && rtt < minRtt) return;
      // So does a cumulative ACK echoing a TSval older than the
      // retransmission (RFC 8985 §6.2 step 2's timestamp test): taking the
      // retransmission's time as RACK.xmit_ts would then deem lost every
      // original sent before it, delivered or not — after a spurious
      // timeout, the whole flight. Only cumulative: a SACK for data above a
      // hole echoes the TSval of the last in-order segment (RFC 7323 §4.3),
      // which says nothing about which transmission arrived.
      if (cumulative) {
        const e = n[LossNum.AckTsEcr];
        if (e >= 0 && seqLt(e, (Math.floor(ts) + n[LossNum.AckTsOffset]) >>> 0)) return;
        if (this.retransAmbiguous) return;
      }
    } else if (this.fackValid && seqLt(end, n[LossNum.RackFack] as Seq)) {
      // Step 3: an original transmission delivered below the highest delivered sequence
      this.reorderingSeen = true;
    }
    if (!this.fackValid || seqGt(end, n[LossNum.RackFack] as Seq)) { n[LossNum.RackFack] = end; this.fackValid = true; }
    if (rtt >= 0 && (minRtt === 0 || rtt < minRtt)) n[LossNum.RackMinRtt] = rtt;
    if (this.linuxRtt) n[LossNum.RackRtt] = rtt; // Linux tcp_rack_advance: every delivered segment
    const x = n[LossNum.RackXmitTs];
    if (x < 0 || ts > x || (ts === x && seqGt(end, n[LossNum.RackEndSeq] as Seq))) {
      n[LossNum.RackXmitTs] = ts;
      n[LossNum.RackEndSeq] = end;
      n[LossNum.RackRtt] = rtt;
    }
  }

  /** §6.2 step 4 (RACK_update_reo_wnd's D-SACK adaptation). */
  private updateReoWnd(dsack: boolean, exitingRecovery: boolean): void {
    const n = this.r;
    if (this.dsackRoundValid && seqGeq(n[LossNum.AckUna] as Seq, n[LossNum.RackDsackRound] as Seq)) this.dsackRoundValid = false;
    if (!this.dsackRoundValid && dsack) {
      n[LossNum.RackDsackRound] = n[LossNum.AckNxt] >>> 0;
      this.dsackRoundValid = true;
      this.reoWndMult++;
      this.reoWndPersist = 16;
    } else if (exitingRecovery) {
      this.reoWndPersist--;
      if (this.reoWndPersist <= 0) this.reoWndMult = 1;
    }
  }

  /**
   * The reordering window (RFC 8985 §6.2 step 4): 0 until reordering has been
   * seen when in recovery or with ≥ DupThresh SACKed segments; otherwise
   * min(min_RTT · reo_wnd_mult / 4, SRTT).
   * @param srttMs - the connection's smoothed RTT
   * @param inRecovery - in fast/SACK or RTO recovery
   * @param sackedSegments - SACKed segments outstanding (DupAcks proxy)
   */
  reorderingWindow(srttMs: number, inRecovery: boolean, sackedSegments: number): number {
    if (!this.reorderingSeen && (inRecovery || sackedSegments >= 3)) return 0;
    const w = (this.r[LossNum.RackMinRtt] * this.reoWndMult) / 4;
    return srttMs > 0 ? Math.min(w, srttMs) : w;
  }

  /** What {@link detectLoss} leaves when no record is outstanding: the reordering window it used. */
  noteReoWnd(srttMs: number, inRecovery: boolean): void {
    if (this.r[LossNum.RackXmitTs] >= 0) this.r[LossNum.RackReoWnd] = this.reorderingWindow(srttMs, inRecovery, 0);
  }

  /**
   * RFC 8985 §6.2 step 5 (RACK_detect_loss): marks lost every segment sent
   * before the most recently delivered one by more than the reordering
   * window, i.e. with xmit_ts + RACK.rtt + reo_wnd ≤ now.
   * @param onLost - called with [start, end) of each newly lost segment
   * @returns ms until the next segment would be deemed lost (arm the RACK
   *   reordering timer for that long), or 0 if none
   */
  detectLoss(now: number, srttMs: number, inRecovery: boolean, sackedSegments: number,
    onLost?: (start: Seq, end: Seq) => void): number {
    const n = this.r;
    const rackTs = n[LossNum.RackXmitTs];
    if (rackTs < 0) return 0;
    const reoWnd = this.reorderingWindow(srttMs, inRecovery, sackedSegments);
    n[LossNum.RackReoWnd] = reoWnd;
    const rackEnd = n[LossNum.RackEndSeq] as Seq;
    const s: SentSegments = this;
    let timeout = 0;
    for (let i = 0; i < s.count; i++) {
      const j = s.at(i);
      const f = s.flagsOf(j);
      if ((f & (SegFlag.Sacked | SegFlag.Lost)) !== 0) continue;
      const ts = s.xmitTsOf(j);
      // RACK_sent_after(RACK.xmit_ts, RACK.end_seq, seg.xmit_ts, seg.end_seq)
      const before = rackTs > ts || (rackTs === ts && seqGt(rackEnd, s.endOf(j)));
      if (!before) {
        // Records are in sequence order: once an original transmission is newer
        // than RACK.xmit_ts, every later record was sent (or resent) later still.
        if ((f & SegFlag.Retrans) === 0) break;
        continue;
      }
      const remaining = ts + n[LossNum.RackRtt] + reoWnd - now;
      if (remaining <= 0) {
        s.setFlags(j, f | SegFlag.Lost);
        this.lostMarked++;
        if (onLost) onLost(s.startOf(j), s.endOf(j));
      } else if (remaining > timeout) timeout = remaining;
    }
    return timeout;
  }

  /**
   * RFC 8985 §7.2: the probe timeout. PTO = 2·SRTT, plus the worst-case
   * delayed-ACK time when only one segment is in flight; 1 s without an
   * RTT sample. The caller fires at min(PTO, RTO).
   */
  pto(srttMs: number, segmentsInFlight: number, maxAckDelayMs = WC_DEL_ACK_MS): number {
    if (!(srttMs > 0)) return 1000;
    let pto = 2 * srttMs;
    if (segmentsInFlight <= 1) pto += maxAckDelayMs;
    return pto;
  }

  /**
   * RFC 8985 §7.1: may a probe timer be armed? Not during recovery, not while
   * a probe is outstanding, only with SACK negotiated and data in flight.
   */
  canArmTlp(inRecovery: boolean, sackOk: boolean): boolean {
    return sackOk && !inRecovery && !this.tlpOutstanding && this.count > 0;
  }

  /**
   * RFC 8985 §7.3: the probe was sent. @param isRetrans - it retransmitted
   * the last segment (no new data could be sent) @param sndNxt - SND.NXT after sending
   */
  onTlpSent(isRetrans: boolean, sndNxt: Seq): void {
    this.tlpOutstanding = true;
    this.tlpIsRetrans = isRetrans;
    this.r[LossNum.RackTlpEndSeq] = sndNxt >>> 0;
  }

  /** Range [lastSegStart, lastSegEnd) of the highest outstanding record (for a retransmitted probe); false if none. */
  lastSegment(): boolean {
    const s: SentSegments = this;
    if (s.count === 0) return false;
    const j = s.at(s.count - 1);
    this.r[LossNum.RackLastStart] = s.startOf(j);
    this.r[LossNum.RackLastEnd] = s.endOf(j);
    return true;
  }
  /**
   * End of the record holding sequence number `seq` when that record is not
   * SACKed; `seq + 1` otherwise or when no record holds it.
   */
  recordEndAt(seq: Seq): Seq {
    const s: SentSegments = this;
    const i = s.firstEndingAfter(seq);
    if (i < s.count) {
      const j = s.at(i);
      if (seqLeq(s.startOf(j), seq) && (s.flagsOf(j) & SegFlag.Sacked) === 0) return s.endOf(j);
    }
    return ((seq + 1) >>> 0) as Seq;
  }

  /** The record ending at `end` ends a MSG_EOR record ({@link SegFlag.Eor}). */
  markEor(end: Seq): void {
    const s: SentSegments = this;
    const i = s.firstEndingAfter(((end - 1) >>> 0) as Seq);
    if (i < s.count) {
      const j = s.at(i);
      if (s.endOf(j) === (end >>> 0)) s.setFlags(j, s.flagsOf(j) | SegFlag.Eor);
    }
  }

  /**
   * The first MSG_EOR record end after `start` and before `end` (a resend of
   * [start, end) stops there), or `end` when there is none.
   */
  eorBefore(start: Seq, end: Seq): Seq {
    const s: SentSegments = this;
    for (let i = s.firstEndingAfter(start); i < s.count; i++) {
      const j = s.at(i);
      if (!seqLt(s.endOf(j), end)) break;
      if ((s.flagsOf(j) & SegFlag.Eor) !== 0) return s.endOf(j);
    }
    return end;
  }

  /** Whether a record ending at `end` ends a MSG_EOR record. */
  endsEor(end: Seq): boolean {
    const s: SentSegments = this;
    const i = s.firstEndingAfter(((end - 1) >>> 0) as Seq);
    return i < s.count && s.endOf(s.at(i)) === (end >>> 0) && (s.flagsOf(s.at(i)) & SegFlag.Eor) !== 0;
  }

  /**
   * RFC 8985 §7.4 (as Linux tcp_process_tlp_ack): did this ACK end the probe
   * episode, and how?
   */
  private tlpOnAck(advanced: boolean, dsack: boolean): TlpOutcome {
    if (!this.tlpOutstanding) return TlpOutcome.None;
    const n = this.r;
    const sndUna = n[LossNum.AckUna] as Seq, dsackStart = n[LossNum.AckDsackStart] as Seq, dsackEnd = n[LossNum.AckDsackEnd] as Seq;
    const tlpEnd = n[LossNum.RackTlpEndSeq] as Seq;
    if (seqLt(sndUna, tlpEnd)) return TlpOutcome.None;
    if (!this.tlpIsRetrans) {
      // A new-data probe: any loss it revealed is RACK's business
      this.tlpOutstanding = false;
      return TlpOutcome.NoLoss;
    }
    if (dsack && seqLt(dsackStart, tlpEnd) && seqLeq(dsackEnd, tlpEnd)) {
      // §7.4.1: the probe was a duplicate: the original arrived, nothing was lost
      this.tlpOutstanding = false;
      return TlpOutcome.NoLoss;
    }
    if (seqGt(sndUna, tlpEnd)) {
      // §7.4.2: ACKed beyond the probe with no D-SACK: the probe repaired a loss
      this.tlpOutstanding = false;
      return TlpOutcome.LossRepaired;
    }
    if (!advanced) {
      // A pure duplicate ACK at TLP.end_seq: both original and probe arrived
      this.tlpOutstanding = false;
      return TlpOutcome.NoLoss;
    }
    return TlpOutcome.None; // ACK = TLP.end_seq: a D-SACK may still follow
  }

  /** Abandon a probe episode (RTO, or connection restart). */
  cancelTlp(): void { this.tlpOutstanding = false; }

  /** Lost, not yet retransmitted records (for tests and info). */
  lostCount(): number {
    const s: SentSegments = this;
    let n = 0;
    for (let i = 0; i < s.count; i++) if ((s.flagsOf(s.at(i)) & SegFlag.Lost) !== 0) n++;
    return n;
  }

  /** Bytes from SND.UNA covered by in-flight records (sanity checks). */
  span(): number {
    const s: SentSegments = this;
    if (s.count === 0) return 0;
    return seqDiff(s.endOf(s.at(s.count - 1)), s.startOf(s.head));
  }
}
