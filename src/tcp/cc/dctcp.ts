import { NewReno } from './newreno.js';

/** RFC 8257 §4.2: estimation gain g = 1/16. */
export const DCTCP_G = 1 / 16;

/**
 * DCTCP (RFC 8257): the sender estimates α, the fraction of bytes whose ACK
 * carried ECE, with an EWMA updated once per observation window (≈ one RTT),
 * and on ECE reduces cwnd to cwnd·(1 − α/2) at most once per window. Loss
 * is handled as NewReno (§3.5). One "window of data" is measured in bytes
 * acknowledged, so no sequence numbers are needed: a window ends when the
 * bytes in flight at its start have been acknowledged (SND.UNA > WindowEnd).
 */
export class Dctcp extends NewReno {
  override readonly name: string = 'dctcp';
  /** The marking fraction α needs the CE state of every segment echoed (RFC 8257 §3.2). */
  readonly echoCePerSegment = true;
  /** α, the estimated fraction of marked bytes (RFC 8257 §3.3: initialised to 1). */
  alpha = 1;
  /** Bytes acknowledged in the current observation window. */
  private winAcked = 0;
  /** Of those, bytes acknowledged by ACKs carrying ECE. */
  private winMarked = 0;
  /** totalAcked value at which the observation window ends; -1 = not started. */
  private windowEnd = -1;
  /** Bytes acknowledged as seen by onEcnEcho. */
  private ecnAcked = 0;
  /** ecnAcked value before which no further ECE reduction happens. */
  private ecnCwrEnd = 0;

  override onEcnEcho(ackedBytes: number, ece: boolean, bytesInFlight: number, _now: number): boolean {
    // Positions in "bytes acknowledged" space: prev ≈ SND.UNA before this
    // ACK, prev + bytesInFlight ≈ SND.NXT, acked ≈ SND.UNA after it.
    const prev = this.ecnAcked;
    const bytes = ackedBytes > 0 ? ackedBytes : 0;
    const acked = prev + bytes;
    this.ecnAcked = acked;
    this.winAcked += bytes;
    if (ece) this.winMarked += bytes;
    if (this.windowEnd < 0) this.windowEnd = prev + bytesInFlight;
    else if (acked > this.windowEnd) {
      // §3.3 steps 5–6: M = marked/acked; α = (1 − g)·α + g·M; WindowEnd = SND.NXT
      const m = this.winAcked > 0 ? this.winMarked / this.winAcked : 0;
      this.alpha = (1 - DCTCP_G) * this.alpha + DCTCP_G * m;
      this.winAcked = 0;
      this.winMarked = 0;
      this.windowEnd = prev + bytesInFlight;
    }
    if (!ece || this.recovering || acked <= this.ecnCwrEnd) return false;
    // §3.3 step 7: cwnd = cwnd · (1 − α/2), at most once per window of data
    this.congestionEvents++;
    this.cwnd = Math.max(Math.floor(this.cwnd * (1 - this.alpha / 2)), 2 * this.mss);
    this.ssthresh = this.cwnd;
    this.bytesAcked = 0;
    this.ecnCwrEnd = prev + bytesInFlight;
    return true;
  }

  /** Sets α (RFC 8257 §3.3: the initial value is a configuration choice; 1 is conservative). */
  resetAlpha(alpha = 1): void { this.alpha = alpha; }

  protected override extraState(): Record<string, number> {
    return { alpha: this.alpha };
  }
}
