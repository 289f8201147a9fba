/**
 * SACK-based loss recovery, the {@link LossRecovery} of connections that
 * negotiated SACK: the RFC 6675 scoreboard ({@link SackScoreboard}) and
 * RACK-TLP (RFC 8985, {@link Rack}) as the loss detector, with the
 * duplicate-ACK threshold as the fallback, as Linux runs them. Connections
 * without SACK get recovery.ts's {@link noSackRecovery} (NewReno and limited
 * transmit); {@link lossInit} chooses once per connection.
 *
 * Through the interface: `onAck` for every acceptable ACK before SND.UNA
 * moves; `beforeOutput` at the start of tcpOutput (RFC 6675 §5 step C);
 * `sendWindow` and `onSent` for the data tcpOutput sends; `afterOutput` at
 * its end (arms the TLP timer); `onRto` when the retransmission timer fires;
 * `onTimers` when the RACK reordering or TLP timer is due.
 *
 * Spurious retransmissions are detected by D-SACK (RFC 2883/3708) and by
 * timestamps (Eifel, RFC 3522/4015) and undo the window reduction.
 */
import type { Seq } from './seq.js';
import { ACK, FIN, PSH } from './header.js';
import { LossNum } from './loss-numbers.js';
import { seqAdd, seqDiff, seqGeq, seqGt, seqLt, seqMin } from './seq.js';
import { NextSegKind, SackScoreboard, SeqRangeSet } from './sack.js';
import { Rack, TlpOutcome } from './rack.js';
import { Prr } from './prr.js';
import { RetransmitCause, createLossCounters, type LossCounters } from './cc/counters.js';
import { markRetransmit, sendSegment, tcpOutput, tsNow } from './output.js';
import { armRtx, restartRtx, stopRttTiming } from './timers.js';
import type { TcpSegment } from './header.js';
import type { TcpConnection } from './connection.js';
import { noSackRecovery, type LossInfo, type LossRecovery } from './recovery.js';

export { noSackRecovery, type LossInfo, type LossRecovery } from './recovery.js';
export { pacedLen } from './pacing.js';

/** Lowest probe timeout, ms (Linux floors the PTO at 10 ms too). */
const MIN_PTO_MS = 10;

/** Per-connection SACK/RACK recovery (only when SACK was negotiated). */
export class SackRecovery implements LossRecovery {
  // What every ACK and send reads comes first (one or two cache lines of the object).
  readonly sb: SackScoreboard;
  readonly rack: Rack;
  /** RFC 6937 PRR for SACK recovery (null: config prr off); active only in SACK recovery (sb.inRecovery). */
  readonly prr: Prr | null;
  /** An ACK arrived since the probe timer was last armed (reschedule it). */
  ackSeen = false;
  /**
   * A probe went out during SACK recovery and no ACK has advanced SND.UNA
   * since: no second one (see {@link lossAfterOutput}).
   */
  recProbe = false;
  /** New data was sent since the probe timer was last armed (linuxTlp reschedules it). */
  newSent = false;
  /** The next tcpOutput may send one new segment past cwnd (a TLP with new data). */
  probeNew = false;
  /**
   * A first timeout resent only the first segment and the next advancing ACK
   * decides whether the rest is lost (see {@link sackOnRto}); the end of that
   * first segment.
   */
  frtoPending = false;
  /** After an RTO until its RecoveryPoint is acknowledged (RFC 6675 §5.1). */
  rtoRecovery = false;
  /** An episode whose reduction may still be undone (see the undo fields below). */
  epValid = false;
  /** RACK marked something since the last recovery-entry check. */
  rackMarked = false;
  /**
   * Recovery just began: the first lost segment goes out whatever pipe says
   * (RFC 6675 §5 step 4.2 fast retransmit; Linux PRR forces one segment too),
   * or a small window with lost ACKs could stall until the RTO.
   */
  forceRtx = false;
  /** RACK's "mark lost" callback into the scoreboard, made once. */
  readonly markLost: (s: Seq, e: Seq) => void;
  /** RACK reordering timer deadline (ms, Infinity = off). */
  get rackAt(): number { return this.rack.r[LossNum.RecRackAt]; }
  set rackAt(v: number) { this.rack.r[LossNum.RecRackAt] = v; }
  /** Tail loss probe timer deadline (ms, Infinity = off). */
  get tlpAt(): number { return this.rack.r[LossNum.RecTlpAt]; }
  set tlpAt(v: number) { this.rack.r[LossNum.RecTlpAt] = v; }
  get frtoHeadEnd(): Seq { return this.rack.r[LossNum.RecFrtoHeadEnd] as Seq; }
  set frtoHeadEnd(v: Seq) { this.rack.r[LossNum.RecFrtoHeadEnd] = v; }
  /** First timeouts whose next ACK showed them spurious (nothing marked lost wholesale). */
  frtoSpurious = 0;
  /** Last transmission stamp given to RACK (strictly increasing, see {@link xmitStamp}). */
  get lastXmit(): number { return this.rack.r[LossNum.RecLastXmit]; }
  set lastXmit(v: number) { this.rack.r[LossNum.RecLastXmit] = v; }

  // ---- undo of the current episode (recovery or RTO), while epValid ----
  /** Bytes retransmitted in the episode, and those still not shown spurious. */
  readonly epRtx = new SeqRangeSet(64, true);
  epRtxBytes = 0;
  epDsackBytes = 0;
  /** TSval of the episode's first retransmission (Eifel). */
  get epRtxTs(): number { return this.rack.r[LossNum.RecEpRtxTs]; }
  set epRtxTs(v: number) { this.rack.r[LossNum.RecEpRtxTs] = v; }
  get epRtxStart(): Seq { return this.rack.r[LossNum.RecEpRtxStart] as Seq; }
  set epRtxStart(v: Seq) { this.rack.r[LossNum.RecEpRtxStart] = v; }
  epRtxValid = false;
  /** The Eifel check for this episode was made. */
  epEifelDone = false;

  constructor(mss: number, iss: Seq, prr = true) {
    // RACK's record array holds the numbers of this and the scoreboard too (loss-numbers.ts).
    const rack = new Rack(256);
    const n = rack.r;
    n[LossNum.RecRackAt] = Infinity; n[LossNum.RecTlpAt] = Infinity;
    n[LossNum.RecFrtoHeadEnd] = 0; n[LossNum.RecLastXmit] = -1; n[LossNum.RecEpRtxTs] = 0; n[LossNum.RecEpRtxStart] = 0;
    this.sb = new SackScoreboard(mss, iss, 64, rack);
    this.prr = prr ? new Prr() : null;
    this.rack = rack;
    const sb = this.sb;
    this.markLost = (s: Seq, e: Seq): void => { sb.markLost(s, e); this.rackMarked = true; };
  }

  /** Earliest of this state's timers. */
  nextAt(): number {
    const n = this.rack.r;
    const r = n[LossNum.RecRackAt], t = n[LossNum.RecTlpAt];
    return r < t ? r : t;
  }

  onAck(c: TcpConnection, seg: TcpSegment, now: number): void { sackOnAck(c, this, seg, now); }
  /** The scoreboard and RACK decide (in onAck): a duplicate ACK only counts. */
  onDuplicateAck(): void { /* counted by the caller */ }
  onAckAdvance(c: TcpConnection): void { c.dupAcks = 0; }
  beforeOutput(c: TcpConnection, now: number): boolean { return sackRetransmit(c, this, now); }

  /** With SACK the congestion window is filled against pipe (RFC 6675), not SND.NXT − SND.UNA. */
  sendWindow(c: TcpConnection, inFlight: number): number {
    const usable = Math.min(c.cc.cwnd - this.sb.pipe(), c.sndWnd - inFlight);
    // TLP: one segment past cwnd.
    return this.probeNew ? Math.max(usable, Math.min(c.mss, c.sndWnd - inFlight)) : usable;
  }

  onSent(c: TcpConnection, seq: Seq, len: number, oldMax: Seq, now: number): void {
    sackOnSent(c, this, seq, len, oldMax, now);
    this.probeNew = false;
  }

  /**
   * New data raises pipe and the flight by what is sent, so min(cwnd − pipe,
   * SND.WND − flight) falls by as much; except while a TLP may send one
   * segment past cwnd (the first send clears that).
   */
  batchSends(): boolean { return !this.probeNew; }
  tlpSending(): boolean { return this.probeNew; }
  onRecordEnd(end: Seq): void { this.rack.markEor(end); }

  afterOutput(c: TcpConnection, now: number): void { sackAfterOutput(c, this, now); }
  onRto(c: TcpConnection): void { sackOnRto(c, this); }
  onTimers(c: TcpConnection, now: number): void { sackTimers(c, this, now); }

  info(): LossInfo {
    return {
      pipe: this.sb.pipe(), sacked: this.sb.sackedBytes(), lost: this.sb.lost.bytes(),
      minRtt: this.rack.minRtt, reordering: this.rack.reorderingSeen, reoWnd: this.rack.reoWnd,
    };
  }
}


const noBlocks = new Uint32Array(8);

/** SND.UNA moved without an ACK through lossOnAck (the SYN-ACK in SYN-SENT): catch up. */
function syncUna(c: TcpConnection, L: SackRecovery): void {
  if (seqGt(c.sndUna, L.sb.sndUna)) L.sb.update(c.sndUna, noBlocks, 0, c.sndMax);
}

/**
 * A transmission time for RACK: the clock, made strictly increasing per
 * connection. RACK orders transmissions by time and breaks ties by sequence
 * number, which is wrong for a retransmission sent in the same clock tick as
 * later data (it would look older and be declared lost again at once).
 */
function xmitStamp(L: SackRecovery, now: number): number {
  const t = now > L.lastXmit ? now : L.lastXmit + 1e-6;
  L.lastXmit = t;
  return t;
}

/** Choose the connection's recovery once options are agreed: SACK recovery when SACK is on, else NewReno. */
export function lossInit(c: TcpConnection): void {
  if (c.sackOk) {
    const L = new SackRecovery(c.mss, c.iss, c.cfg.prr !== false);
    L.rack.linuxRtt = c.cfg.linuxRackRtt;
    c.loss = L;
  } else c.loss = noSackRecovery;
}

/** An acceptable ACK (`seg.ack` ≤ SND.MAX) arrived; SND.UNA has not moved yet: the connection's recovery sees it. */
export function lossOnAck(c: TcpConnection, seg: TcpSegment, now: number): void {
  c.loss.onAck(c, seg, now);
}

/** Count a loss event into the connection's and the layer's counters. */
export function lossCount(c: TcpConnection, key: keyof LossCounters, n = 1): void {
  c.lc[key] += n;
  const agg = c.layer.counters.loss as unknown as LossCounters;
  agg[key] += n;
}

/** Count retransmitted segments by cause (per connection, per layer, and the flat layer counters). */
export function countRetransmitCause(c: TcpConnection, cause: RetransmitCause, segs = 1): void {
  const k = c.layer.counters;
  switch (cause) {
    case RetransmitCause.Rto: lossCount(c, 'retransRto', segs); k.retransmitsRto += segs; break;
    case RetransmitCause.Fast: lossCount(c, 'retransFast', segs); k.retransmitsFast += segs; c.fastRetransmits += segs; break;
    case RetransmitCause.Tlp: lossCount(c, 'retransTlp', segs); k.retransmitsTlp += segs; break;
    case RetransmitCause.Rack: lossCount(c, 'retransRack', segs); k.retransmitsRack += segs; break;
  }
}

/** Counters for the layer: a fresh set. */
export function newLayerLossCounters(): Record<string, number> {
  return createLossCounters() as unknown as Record<string, number>;
}

function startEpisode(L: SackRecovery): void {
  L.epValid = true;
  L.epRtx.clear();
  L.epRtxBytes = 0;
  L.epDsackBytes = 0;
  L.epRtxValid = false;
  L.epEifelDone = false;
}

function noteEpisodeRtx(c: TcpConnection, L: SackRecovery, start: Seq, len: number, now: number): void {
  if (!L.epValid) return;
  L.epRtx.add(start, seqAdd(start, len));
  L.epRtxBytes += len;
  if (!L.epRtxValid) { L.epRtxValid = true; L.epRtxTs = tsNow(c, now); L.epRtxStart = start; }
}

/** The last window reduction was spurious: undo it (Linux tcp_undo_cwnd_reduction). */
function undo(c: TcpConnection, L: SackRecovery): void {
  L.epValid = false;
  L.prr?.stop();
  c.cc.onSpuriousUndo();
  lossCount(c, 'undos');
  c.layer.counters.undos++;
}

/**
 * An acceptable ACK (ack ≤ SND.MAX) arrived; SND.UNA has not moved yet.
 * Updates the scoreboard and RACK, detects losses, enters or leaves
 * recovery, and applies D-SACK/Eifel undo and the TLP outcome.
 */
function sackOnAck(c: TcpConnection, L: SackRecovery, seg: TcpSegment, now: number): void {
  const ack = seg.ack;
  const sb = L.sb;
  const rack = L.rack;
  // RFC 8985 §7.2: only an ACK that cumulatively acknowledges new data re-arms
  // the probe timer (Linux FLAG_SET_XMIT_TIMER); a SACK-only ACK does not.
  if (seqGt(ack, c.sndUna)) { L.ackSeen = true; L.recProbe = false; }
  sb.mss = c.mss;
  const oldUna = c.sndUna;
  const sackedBefore = L.prr !== null ? sb.sackedBytes() : 0;
  sb.update(ack, seg.sackBlocks, seg.sackCount, c.sndMax);
  if (seg.sackCount > 0) {
    const valid = seg.sackCount - (sb.dsack ? 1 : 0) - sb.invalidBlocks;
    if (valid > 0) lossCount(c, 'sackBlocksReceived', valid);
    if (sb.invalidBlocks > 0) lossCount(c, 'sackBlocksInvalid', sb.invalidBlocks);
  }
  const newUna = seqGt(ack, c.sndUna) ? ack : c.sndUna;
  const exiting = sb.recoveryDone();
  const echo = c.tsOk && seg.hasTimestamps && seg.tsEcr !== 0 ? seg.tsEcr : -1;
  // The numbers go in RackAck's slots (see RackAck): as arguments each would be boxed.
  const n = L.rack.r;
  n[LossNum.AckUna] = newUna; n[LossNum.AckNxt] = c.sndMax; n[LossNum.AckTsEcr] = echo; n[LossNum.AckTsOffset] = c.tsOffset;
  if (sb.dsack) { n[LossNum.AckDsackStart] = n[LossNum.SbDsackStart]; n[LossNum.AckDsackEnd] = n[LossNum.SbDsackEnd]; }
  const outcome = rack.onAckIn(seg.sackBlocks, sb.dsack ? 1 : 0, seg.sackCount, sb.dsack, now, exiting,
    L.frtoPending && seqGt(ack, L.frtoHeadEnd));
  if (exiting) {
    sb.exitRecovery();
    L.prr?.stop();
    c.inRecovery = false;
    c.cc.onRecoveryExit(now);
  }
  if (L.rtoRecovery && seqGeq(newUna, sb.recoveryPoint)) L.rtoRecovery = false;

  // ---- spurious retransmissions ----
  if (sb.dsack) {
    lossCount(c, 'dsackReceived');
    if (L.epValid) {
      const cov = L.epRtx.covered(sb.dsackStart, sb.dsackEnd);
      if (cov > 0) {
        L.epRtx.remove(sb.dsackStart, sb.dsackEnd);
        L.epDsackBytes += cov;
        lossCount(c, 'spuriousRetrans', Math.max(1, Math.ceil(cov / c.mss)));
        if (L.epDsackBytes >= L.epRtxBytes) undo(c, L); // every retransmission was a duplicate
      }
    }
  }
  if (L.epValid && L.epRtxValid && !L.epEifelDone && seqGt(ack, L.epRtxStart) && c.tsOk && seg.hasTimestamps) {
    L.epEifelDone = true;
    // Eifel (RFC 3522): the ACK for the first retransmitted byte echoes a
    // TSval older than that retransmission, so the original arrived.
    if (seg.tsEcr !== 0 && seqLt(seg.tsEcr, L.epRtxTs)) {
      lossCount(c, 'spuriousRetrans');
      undo(c, L);
    }
  }

  // ---- the first ACK to advance after a first timeout (see sackOnRto) ----
  if (L.frtoPending && seqGt(ack, oldUna)) {
    L.frtoPending = false;
    // Evidence the timeout was spurious: the ACK echoes a TSval older than
    // the retransmission (Eifel, just undone above), or it acknowledges
    // original transmissions beyond the one segment resent (F-RTO, RFC 5682).
    const spurious = !L.epValid || seqGt(ack, L.frtoHeadEnd);
    if (spurious) {
      L.frtoSpurious++;
      lossCount(c, 'frtoSpurious');
      // Nothing more is deemed lost wholesale: RACK judges the rest by time.
      if (!L.epValid) { L.rtoRecovery = false; sb.unblockRecovery(); }
    } else if (seqLt(ack, sb.recoveryPoint)) {
      sb.markLost(ack, sb.recoveryPoint); // RFC 6675 §5.1: the timeout was real
    }
  }

  // ---- tail loss probe outcome (RFC 8985 §7.4) ----
  if (outcome === TlpOutcome.LossRepaired) {
    lossCount(c, 'tlpRecoveries');
    const flight = seqDiff(c.sndMax, c.sndUna);
    c.cc.onCongestion('fast', flight, now);
    c.cc.onRecoveryExit(now);
  }

  detect(c, L, now);
  // PRR is active only in SACK recovery (started and stopped with it): outside it the Prr object is not read.
  if (sb.inRecovery && L.prr !== null && L.prr.active) prrOnAck(c, L, oldUna, newUna, sackedBefore);
}

/**
 * RFC 6937 on an ACK in SACK recovery: cwnd = pipe + sndcnt, so the
 * retransmissions and new data tcpOutput sends next stay within sndcnt.
 * @param sackedBefore - SACKed bytes before this ACK
 */
function prrOnAck(c: TcpConnection, L: SackRecovery, oldUna: number, newUna: number, sackedBefore: number): void {
  const sb = L.sb;
  const prr = L.prr!;
  // DeliveredData = change in SND.UNA + change in SACKed bytes (SACKed data
  // that became cumulatively acknowledged counts once).
  const ackDelta = seqDiff(newUna, oldUna);
  const delivered = ackDelta + sb.sackedBytes() - sackedBefore;
  const rtxAcked = ackDelta > 0 && L.epRtx.covered(oldUna, newUna) > 0;
  const pipe = sb.pipe();
  const sndcnt = prr.onAck(delivered, pipe, c.cc.ssthresh, c.mss, rtxAcked);
  if (sndcnt >= 0) c.cc.cwnd = pipe + sndcnt; // as Linux tcp_cwnd_reduction; recovery exit restores ssthresh
}

/** RACK detection, then recovery entry (RFC 6675 §5 / RFC 8985 §6.2). */
function detect(c: TcpConnection, L: SackRecovery, now: number): void {
  const sb = L.sb;
  const inRec = sb.inRecovery || L.rtoRecovery;
  // Nothing recorded, SACKed or lost (a reply that acknowledged the whole
  // flight): RACK has no record to judge nor a timer to arm, and recovery
  // nothing to begin on (rackMarked is only set inside detectLoss).
  if (L.rack.segs.count === 0 && !sb.hasSacked() && !sb.hasLost()) {
    L.rack.noteReoWnd(c.rtt.srtt, inRec);
    L.rackAt = Infinity;
    return;
  }
  const sackedSegs = Math.floor(sb.sackedBytes() / c.mss);
  const wait = L.rack.detectLoss(now, c.rtt.srtt, inRec, sackedSegs, L.markLost);
  L.rackAt = wait > 0 ? now + wait : Infinity;
  if (!sb.inRecovery && !L.rtoRecovery && (L.rackMarked || sb.shouldEnterRecovery())) {
    sb.enterRecovery();
    L.rack.cancelTlp();
    L.tlpAt = Infinity;
    c.cc.onCongestion('fast', seqDiff(c.sndMax, c.sndUna), now);
    L.prr?.start(seqDiff(c.sndMax, c.sndUna));
    c.inRecovery = true;
    c.recover = c.sndMax;
    lossCount(c, 'recoveries');
    startEpisode(L);
    L.forceRtx = true;
    L.recProbe = false;
  }
  L.rackMarked = false;
}

/** The retransmission timer fired (not in the handshake): counted, then the connection's recovery reacts. */
export function lossOnRto(c: TcpConnection, now: number): void {
  lossCount(c, 'rtoEvents');
  c.loss.onRto(c, now);
}

/** RFC 6675 §5.1 with RACK's bookkeeping: everything unSACKed is lost, resent through NextSeg. */
function sackOnRto(c: TcpConnection, L: SackRecovery): void {
  syncUna(c, L);
  // The MSS may have fallen since the last ACK (a path MTU decrease for a
  // flight no ACK answered): NextSeg cuts what it resends by the current one.
  L.sb.mss = c.mss;
  L.sb.onSendNew(c.sndMax);
  // A first timeout resends only the first segment (RFC 5682 F-RTO's first
  // step): a timeout is often spurious (a delay spike; ACKs still waiting in
  // the receive ring while the process was descheduled), and marking the
  // whole flight lost then resends it all — the duplicates D-SACK reports.
  // The next advancing ACK decides (sackOnAck): the rest is marked lost
  // unless the timeout proves spurious. A repeated timeout marks everything.
  const first = c.retries <= 1 && !L.rtoRecovery;
  L.sb.onRto(first);
  L.frtoPending = first;
  L.frtoHeadEnd = seqAdd(c.sndUna, c.mss);
  L.rack.cancelTlp();
  L.tlpAt = Infinity;
  L.rackAt = Infinity;
  L.rtoRecovery = true;
  L.prr?.stop();
  // The first lost segment goes out whatever pipe says: the unmarked rest
  // still counts as in flight, and cwnd is one segment.
  L.forceRtx = first;
  L.recProbe = false;
  c.inRecovery = false;
  startEpisode(L);
}

/**
 * Bookkeeping after tcpOutput sent [seq, seq + len) (len counts a FIN):
 * new data becomes RACK records (one per MSS piece), resent data updates them.
 * @param oldMax - SND.MAX before the segment was sent
 */
function sackOnSent(c: TcpConnection, L: SackRecovery, seq: Seq, len: number, oldMax: Seq, now: number): void {
  if (len <= 0) return;
  syncUna(c, L);
  const end = seqAdd(seq, len);
  let s = seq;
  now = xmitStamp(L, now);
  if (seqGt(end, oldMax)) L.newSent = true;
  if (seqLt(s, oldMax)) {
    const re = seqMin(end, oldMax);
    const segs = L.rack.segs;
    // Resent data sent before this recovery existed (a Fast Open SYN's) has no
    // record yet: it gets one, as a retransmission, when nothing recorded follows it.
    if (segs.count === 0 || !seqGt(segs.endOf(segs.at(segs.count - 1)), s)) L.rack.onResendUnrecorded(s, re, now);
    else L.rack.onRetransmit(s, re, now);
    s = re;
  }
  // One record per MSS-sized piece (SACK blocks match record boundaries), written in one loop.
  L.rack.onSendRun(s, end, c.mss, now);
  L.sb.onSendNew(end);
  if (L.sb.inRecovery) L.prr?.onSent(len); // PRR counts only in SACK recovery
}

/**
 * Send `[start, start + len)` again (data, and the FIN when the range covers it).
 * @returns sequence numbers sent (FIN counts 1), 0 if nothing to send, -1 if the pool was empty
 */
function resend(c: TcpConnection, L: SackRecovery, start: Seq, len: number, now: number, tlp: boolean): number {
  const dataEnd = c.dataEnd();
  let dlen = seqDiff(dataEnd, start);
  if (dlen > len) dlen = len;
  if (dlen < 0) dlen = 0;
  const fin = c.finPending && seqGt(seqAdd(start, len), dataEnd) && seqGeq(c.sndMax, seqAdd(dataEnd, 1));
  if (dlen === 0 && !fin) return 0;
  let flags = ACK;
  if (fin) flags |= FIN;
  // PSH where the queue ends, and at a MSG_EOR record's end (a write's end: it had PSH when first sent).
  if (dlen > 0 && (seqAdd(start, dlen) === dataEnd || L.rack.endsEor(seqAdd(start, dlen)))) flags |= PSH;
  if (!sendSegment(c, start, dlen, flags, now)) return -1;
  const n = dlen + (fin ? 1 : 0);
  c.bytesRetransmitted += dlen;
  stopRttTiming(c);
  markRetransmit(c, now);
  L.rack.onRetransmit(start, seqAdd(start, n), xmitStamp(L, now), tlp);
  L.prr?.onSent(n);
  armRtx(c, now);
  return n;
}

/** New data tcpOutput could send now: queued beyond SND.MAX and inside the peer's window. */
function newDataRoom(c: TcpConnection): number {
  const unsent = c.sendBuf.length - seqDiff(c.sndMax, c.bufSeq);
  const wnd = c.sndWnd - seqDiff(c.sndMax, c.sndUna);
  const n = Math.min(unsent, wnd);
  return n > 0 ? n : 0;
}

/**
 * RFC 6675 §5 step (C): while cwnd − pipe ≥ SMSS, retransmit what NextSeg
 * picks. New data (rule 2) is left to tcpOutput's loop, which follows.
 * @returns false when output ran out of mbufs
 */
function sackRetransmit(c: TcpConnection, L: SackRecovery, now: number): boolean {
  const sb = L.sb;
  if (!sb.inRecovery && !sb.hasLost()) return true;
  sb.onSendNew(c.sndMax);
  const mss = c.mss;
  for (let guard = 0; guard < 4096; guard++) {
    const room = c.cc.cwnd - sb.pipe();
    if (room < mss && !L.forceRtx) break;
    const k = sb.nextSeg(newDataRoom(c));
    if (L.forceRtx) {
      L.forceRtx = false;
      if (k !== NextSegKind.Lost && room < mss) break;
    }
    if (k === NextSegKind.None || k === NextSegKind.NewData) break;
    const start = sb.segStart;
    const cause = L.rtoRecovery ? RetransmitCause.Rto
      : (k === NextSegKind.Lost && sb.lost.contains(start)) ? RetransmitCause.Rack : RetransmitCause.Fast;
    let segLen = sb.segLen;
    // MSG_EOR: no resend spans a record end either (Linux never coalesces across an eor skb).
    segLen = seqDiff(L.rack.eorBefore(start, seqAdd(start, segLen)), start);
    if (c.cfg.resendWholeSegments) {
      // The rest of the segment the hole ends in goes too (Linux resends skbs whole).
      const e = L.rack.recordEndAt(seqAdd(start, segLen - 1));
      const whole = seqDiff(e, start);
      if (whole > segLen && whole <= mss) segLen = whole;
    }
    const n = resend(c, L, start, segLen, now, false);
    if (n < 0) return false;
    if (n === 0) break;
    sb.onTransmit(k, start, n);
    countRetransmitCause(c, cause);
    noteEpisodeRtx(c, L, start, n, now);
  }
  return true;
}

/**
 * May a probe be armed or sent now? Outside recovery, RFC 8985 §7.2. In
 * SACK recovery too (once per advance of SND.UNA), which RFC 8985 and Linux
 * do not do but FreeBSD's RACK stack does: when the ACKs that end a flight
 * are all lost and the peer has nothing more to say (a Linux receiver may
 * acknowledge a whole flight with one ACK, sent when its application
 * reads), only a probe or the RTO breaks the silence, and the probe comes
 * after 2·SRTT instead of 200 ms. Not in RTO recovery.
 */
function probeAllowed(c: TcpConnection, L: SackRecovery): boolean {
  // linuxTlp: only in the Open state (Linux tcp_schedule_loss_probe): not in recovery nor
  // in Disorder, where SACKed or lost segments are outstanding. Linux SACKs whole
  // segments (tcp_match_skb_to_sack): a block covering part of the last one leaves it Open.
  if (c.cfg.linuxTlp) {
    return L.rack.canArmTlp(L.sb.inRecovery || L.rtoRecovery, true) && L.rack.sackedRecords === 0 && !L.sb.hasLost();
  }
  if (L.sb.inRecovery && !L.rtoRecovery) return !L.recProbe && L.rack.segs.count > 0;
  return L.rack.canArmTlp(L.sb.inRecovery || L.rtoRecovery, true);
}

/**
 * After tcpOutput: stop the loss timers when nothing is outstanding, else
 * (re)arm the tail loss probe (RFC 8985 §7.2) when allowed ({@link probeAllowed}).
 */
function sackAfterOutput(c: TcpConnection, L: SackRecovery, now: number): void {
  const newSent = L.newSent;
  L.newSent = false;
  if (c.sndUna === c.sndMax) { L.tlpAt = Infinity; L.rackAt = Infinity; return; }
  if (!probeAllowed(c, L)) { L.tlpAt = Infinity; return; }
  const linux = c.cfg.linuxTlp;
  if (L.tlpAt !== Infinity && !L.ackSeen && !(linux && newSent)) return;
  L.ackSeen = false;
  if (linux) {
    // Linux tcp_schedule_loss_probe: 2·SRTT + TCP_TIMEOUT_MIN (2 ms), or + the minimum RTO
    // for a lone segment (its ACK may be delayed); cut to the RTO, which it then replaces.
    const segs = L.rack.segs.count;
    const pto = c.rtt.hasSample ? 2 * c.rtt.srtt + (segs <= 1 ? c.cfg.minRtoMs : 2) : c.cfg.initialRtoMs;
    const at = now + pto;
    L.tlpAt = at < c.rtxAt ? at : c.rtxAt;
    return;
  }
  const srtt = c.rtt.hasSample ? Math.max(c.rtt.srtt, 0.001) : 0;
  const pto = Math.max(MIN_PTO_MS, L.rack.pto(srtt, L.rack.segs.count));
  const at = now + pto;
  L.tlpAt = at < c.rtxAt ? at : Infinity; // the RTO comes first: no probe
}

/**
 * The RACK reordering timer or the probe timer is due.
 */
function sackTimers(c: TcpConnection, L: SackRecovery, now: number): void {
  if (L.rackAt <= now) {
    L.rackAt = Infinity;
    const wasIn = L.sb.inRecovery;
    detect(c, L, now);
    // prrOnRackTimer (Linux tcp_rack_reo_timeout): recovery begun by the timer sends as
    // PRR allows for one segment delivered, not cwnd − pipe at once.
    if (!wasIn && L.sb.inRecovery && L.prr !== null && c.cfg.prrOnRackTimer) {
      const pipe = L.sb.pipe();
      const sndcnt = L.prr.onAck(c.mss, pipe, c.cc.ssthresh, c.mss, false);
      if (sndcnt >= 0) c.cc.cwnd = pipe + sndcnt;
    }
    tcpOutput(c, now);
  }
  if (L.tlpAt <= now) {
    L.tlpAt = Infinity;
    sendProbe(c, L, now);
  }
}

/**
 * RFC 8985 §7.3: one new segment if the window allows, else the last segment
 * again. A probe in SACK recovery is not a TLP episode for RACK (§7.4's
 * outcome would reduce cwnd a second time): recovery's own bookkeeping
 * handles what the peer's answer reveals.
 */
function sendProbe(c: TcpConnection, L: SackRecovery, now: number): void {
  if (c.sndUna === c.sndMax || !probeAllowed(c, L)) return;
  const inRec = L.sb.inRecovery && !L.rtoRecovery;
  const before = c.sndMax;
  if (newDataRoom(c) > 0) {
    L.probeNew = true;
    c.forceProbe = true;
    tcpOutput(c, now);
    L.probeNew = false;
  }
  if (c.sndMax !== before) {
    if (inRec) L.recProbe = true;
    else L.rack.onTlpSent(false, c.sndMax);
    L.tlpAt = Infinity;
  } else {
    if (!L.rack.lastSegment()) return;
    const start = L.rack.lastStart;
    const n = resend(c, L, start, seqDiff(L.rack.lastEnd, start), now, !inRec);
    if (n <= 0) return;
    if (inRec) L.recProbe = true;
    else L.rack.onTlpSent(true, c.sndMax);
    L.tlpAt = Infinity;
    countRetransmitCause(c, RetransmitCause.Tlp);
  }
  lossCount(c, 'tlpProbes');
  c.layer.counters.tlpProbes++;
  restartRtx(c, now); // RFC 8985 §7.3: the RTO is re-armed after a probe
}

/** Numbers for connection info: pipe, SACKed/lost bytes, RACK state. */
export function lossInfo(c: TcpConnection): LossInfo {
  return c.loss.info(c);
}
