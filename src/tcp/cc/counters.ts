/**
 * Loss-recovery counters kept per connection (and summed per stack):
 * retransmissions by cause, spurious retransmissions, SACK blocks.
 * Plain numeric fields so the hot path increments without allocation.
 */
export interface LossCounters {
  /** Segments retransmitted because the retransmission timer expired. */
  retransRto: number;
  /** Segments retransmitted by fast/SACK recovery (RFC 6582 / RFC 6675 NextSeg rules 1, 3, 4). */
  retransFast: number;
  /** Tail loss probes that retransmitted data (RFC 8985 §7.3). */
  retransTlp: number;
  /** Segments retransmitted because RACK marked them lost (RFC 8985 §6). */
  retransRack: number;
  /** Tail loss probes sent (new data or retransmission). */
  tlpProbes: number;
  /** Probes that repaired a loss (RFC 8985 §7.4.2). */
  tlpRecoveries: number;
  /** Retransmissions shown unnecessary (D-SACK, RFC 2883/3708, or timestamps, RFC 4015). */
  spuriousRetrans: number;
  /** Window reductions undone because they were spurious. */
  undos: number;
  /** First timeouts the next advancing ACK showed to be spurious (F-RTO, RFC 5682, or Eifel). */
  frtoSpurious: number;
  /** Fast/SACK recovery episodes entered. */
  recoveries: number;
  /** Retransmission timeouts. */
  rtoEvents: number;
  /** SACK blocks sent to the peer. */
  sackBlocksSent: number;
  /** SACK blocks received from the peer (excluding D-SACK). */
  sackBlocksReceived: number;
  /** D-SACK blocks received. */
  dsackReceived: number;
  /** SACK blocks rejected as invalid. */
  sackBlocksInvalid: number;
}

/** Cause of a retransmission, for {@link countRetransmit}. */
export const enum RetransmitCause { Rto = 0, Fast = 1, Tlp = 2, Rack = 3 }

/** A zeroed counter set. */
export function createLossCounters(): LossCounters {
  return {
    retransRto: 0, retransFast: 0, retransTlp: 0, retransRack: 0, tlpProbes: 0, tlpRecoveries: 0,
    spuriousRetrans: 0, undos: 0, frtoSpurious: 0, recoveries: 0, rtoEvents: 0,
    sackBlocksSent: 0, sackBlocksReceived: 0, dsackReceived: 0, sackBlocksInvalid: 0,
  };
}

/** Counts `segments` retransmitted segments under `cause`. */
export function countRetransmit(c: LossCounters, cause: RetransmitCause, segments = 1): void {
  switch (cause) {
    case RetransmitCause.Rto: c.retransRto += segments; break;
    case RetransmitCause.Fast: c.retransFast += segments; break;
    case RetransmitCause.Tlp: c.retransTlp += segments; break;
    case RetransmitCause.Rack: c.retransRack += segments; break;
  }
}

/** Adds every counter of `from` into `into` (per-stack totals). */
export function addLossCounters(into: LossCounters, from: LossCounters): void {
  const a = into as unknown as Record<string, number>;
  const b = from as unknown as Record<string, number>;
  for (const k of Object.keys(b)) a[k] = (a[k] ?? 0) + b[k];
}

/** Total retransmitted segments, all causes. */
export function totalRetransmits(c: LossCounters): number {
  return c.retransRto + c.retransFast + c.retransTlp + c.retransRack;
}
