/**
 * Where a SACK connection's loss-recovery doubles live: one Float64Array
 * shared by its {@link Rack}, {@link RackAck}, {@link SackScoreboard} and
 * SackRecovery (loss.ts), one slot per number.
 *
 * As object fields each of these sequence numbers and times is a HeapNumber
 * box of its own (this V8 does not unbox double fields): with thousands of
 * connections, whose state no longer fits the last-level cache, every box an
 * ACK or a send touches is a cache miss of its own. In one array the numbers
 * of the common path (in-order data, no loss, no SACK blocks) sit together,
 * first, in two or three cache lines.
 *
 * Sequence numbers stay unsigned 32-bit values (a double holds them exactly).
 * @module
 */

/** Slots of a {@link lossNumbers} array. The hot ones come first. */
export const enum LossNum {
  // ---- Rack, RackAck: every ACK ----
  /** RackAck.sndUna */
  AckUna = 0,
  /** RackAck.sndNxt */
  AckNxt,
  /** RackAck.tsEcr */
  AckTsEcr,
  /** RackAck.tsOffset */
  AckTsOffset,
  /** Rack: SND.UNA of the previous ACK */
  RackUna,
  /** Rack.xmitTs */
  RackXmitTs,
  /** Rack.endSeq */
  RackEndSeq,
  /** Rack.rtt */
  RackRtt,
  /** Rack.minRtt */
  RackMinRtt,
  /** Rack.fack */
  RackFack,
  /** Rack.reoWnd */
  RackReoWnd,
  // ---- SackScoreboard, SackRecovery: every ACK and send ----
  /** SackScoreboard.sndUna */
  SbSndUna,
  /** SackScoreboard.highData */
  SbHighData,
  /** SackRecovery.lastXmit */
  RecLastXmit,
  /** SackRecovery.tlpAt */
  RecTlpAt,
  /** SackRecovery.rackAt */
  RecRackAt,
  // ---- colder: D-SACK, probes, recovery, timeouts ----
  /** RackAck.dsackStart */
  AckDsackStart,
  /** RackAck.dsackEnd */
  AckDsackEnd,
  /** Rack: RACK.dsack_round */
  RackDsackRound,
  /** Rack.tlpEndSeq */
  RackTlpEndSeq,
  /** Rack.lastStart */
  RackLastStart,
  /** Rack.lastEnd */
  RackLastEnd,
  /** SackScoreboard.recoveryPoint */
  SbRecoveryPoint,
  /** SackScoreboard.dsackStart */
  SbDsackStart,
  /** SackScoreboard.dsackEnd */
  SbDsackEnd,
  /** SackScoreboard.segStart */
  SbSegStart,
  /** SackRecovery.frtoHeadEnd */
  RecFrtoHeadEnd,
  /** SackRecovery.epRtxTs */
  RecEpRtxTs,
  /** SackRecovery.epRtxStart */
  RecEpRtxStart,
  /** Number of slots. */
  Count,
}

/** A fresh, zeroed array of every {@link LossNum} slot. */
export function lossNumbers(): Float64Array {
  return new Float64Array(LossNum.Count);
}
