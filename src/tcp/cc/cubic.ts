import type { CongestionKind } from './cc.js';
import { WindowCcBase } from './base.js';
import { DOUBLE_FIELD } from '../../util/double-field.js';

/** RFC 9438 §5.1: C = 0.4 (segments/s³). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: multiplicative decrease factor β_cubic = 0.7. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: α_cubic = 3(1 − β)/(1 + β), Reno-friendly additive increase. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/**
 * CUBIC (RFC 9438). Windows inside the formulas are in segments (floats);
 * `cwnd` is exposed in bytes. Time t is in seconds from the `now` (ms)
 * values passed in. Slow start is Reno's with ABC (no HyStart++).
 */
export class Cubic extends WindowCcBase {
  readonly name: string = 'cubic';
  /** Fast convergence (RFC 9438 §4.7), on by default. */
  fastConvergence = true;

  /** W_max, segments: window just before the last reduction. */
  protected wMax = DOUBLE_FIELD;
  /** K, seconds: time to grow back to W_max (RFC 9438 eq. 2). */
  protected k = DOUBLE_FIELD;
  /** Start of the current congestion-avoidance epoch, ms; -1 = not started. */
  protected epochStart = DOUBLE_FIELD;
  /** cwnd at the start of the epoch, segments. */
  protected cwndEpoch = DOUBLE_FIELD;
  /** W_est, segments: the Reno-friendly estimate (RFC 9438 §4.3). */
  protected wEst = DOUBLE_FIELD;
  /** cwnd_prior, segments: cwnd before the last reduction. */
  protected cwndPrior = DOUBLE_FIELD;
  /** α_cubic in use (becomes 1 once W_est ≥ cwnd_prior, §4.3). */
  protected alpha = CUBIC_ALPHA;
  /** Fractional cwnd in bytes (cwnd is kept integral). */
  private cwndF = DOUBLE_FIELD;

  private u = { wMax: DOUBLE_FIELD, k: DOUBLE_FIELD, epochStart: DOUBLE_FIELD, cwndEpoch: DOUBLE_FIELD, wEst: DOUBLE_FIELD, cwndPrior: DOUBLE_FIELD, alpha: CUBIC_ALPHA };

  constructor(mss: number, initialCwndSegments: number) {
    super(mss, initialCwndSegments);
    // Doubles from the start (DOUBLE_FIELD, src/util/double-field.ts), their real initial values from here on.
    this.wMax = 0; this.k = 0; this.epochStart = -1; this.cwndEpoch = 0; this.wEst = 0; this.cwndPrior = 0; this.cwndF = 0;
    const u = this.u;
    u.wMax = 0; u.k = 0; u.epochStart = -1; u.cwndEpoch = 0; u.wEst = 0; u.cwndPrior = 0;
  }

  protected override onSlowStart(_now: number): void {
    this.epochStart = -1;
  }

  protected congestionAvoidance(ackedBytes: number, _bytesInFlight: number, now: number): void {
    const mss = this.mss;
    // The connection may have set cwnd (idle restart): resynchronise the float.
    if (Math.floor(this.cwndF) !== this.cwnd) this.cwndF = this.cwnd;
    let cwndSeg = this.cwndF / mss;
    if (this.epochStart < 0) this.startEpoch(now, cwndSeg);
    const t = (now - this.epochStart) / 1000;
    const rttSec = (this.srttMs > 0 ? this.srttMs : 100) / 1000;
    const segAcked = ackedBytes / mss;

    // RFC 9438 §4.3: W_est += α_cubic · segments_acked / cwnd
    this.wEst += (this.alpha * segAcked) / cwndSeg;
    if (this.alpha !== 1 && this.wEst >= this.cwndPrior) this.alpha = 1;

    // W_cubic(t) = C·(t − K)³ + W_max (RFC 9438 eq. 1), in segments, written
    // out where it is used: a method's double argument and result were boxed
    // on every ACK whenever the call was not inlined.
    const d = t - this.k;
    if (CUBIC_C * d * d * d + this.wMax < this.wEst) {
      // Reno-friendly region (§4.3): cwnd = W_est
      cwndSeg = Math.max(cwndSeg, this.wEst);
    } else {
      // Concave (§4.4) and convex (§4.5) regions: target = W_cubic(t + RTT),
      // clamped to [cwnd, 1.5·cwnd] (§4.2); cwnd += (target − cwnd)/cwnd per ACK.
      const dr = t + rttSec - this.k;
      let target = CUBIC_C * dr * dr * dr + this.wMax;
      if (target < cwndSeg) target = cwndSeg;
      else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg;
      cwndSeg += ((target - cwndSeg) / cwndSeg) * segAcked;
    }
    this.cwndF = cwndSeg * mss;
    this.cwnd = Math.floor(this.cwndF);
  }

  /** RFC 9438 §4.2: a new congestion-avoidance stage begins. */
  private startEpoch(now: number, cwndSeg: number): void {
    this.epochStart = now;
    this.cwndEpoch = cwndSeg;
    this.wEst = cwndSeg;
    if (this.wMax > cwndSeg) {
      // eq. 2: K = ∛((W_max − cwnd_epoch) / C)
      this.k = Math.cbrt((this.wMax - cwndSeg) / CUBIC_C);
    } else {
      // No earlier reduction (or already above it): grow convexly from here
      this.k = 0;
      this.wMax = cwndSeg;
    }
  }

  protected reduce(_kind: CongestionKind, _bytesInFlight: number, _now: number): void {
    const mss = this.mss;
    const cwndSeg = this.cwnd / mss;
    this.cwndPrior = cwndSeg;
    // §4.7 fast convergence: release bandwidth when W_max keeps shrinking
    if (this.fastConvergence && cwndSeg < this.wMax) this.wMax = (cwndSeg * (1 + CUBIC_BETA)) / 2;
    else this.wMax = cwndSeg;
    // §4.6: ssthresh = cwnd · β_cubic, at least 2 segments
    this.ssthresh = Math.max(Math.floor(this.cwnd * CUBIC_BETA), 2 * mss);
    this.epochStart = -1;
    this.alpha = CUBIC_ALPHA;
    this.cwndF = 0;
  }

  protected override saveUndo(): void {
    const u = this.u;
    u.wMax = this.wMax; u.k = this.k; u.epochStart = this.epochStart; u.cwndEpoch = this.cwndEpoch;
    u.wEst = this.wEst; u.cwndPrior = this.cwndPrior; u.alpha = this.alpha;
  }

  /** RFC 9438 §4.9: restore the state saved before the spurious reduction. */
  protected override restoreUndo(): void {
    const u = this.u;
    this.wMax = u.wMax; this.k = u.k; this.epochStart = u.epochStart; this.cwndEpoch = u.cwndEpoch;
    this.wEst = u.wEst; this.cwndPrior = u.cwndPrior; this.alpha = u.alpha;
    this.cwndF = this.cwnd;
  }

  protected override extraState(): Record<string, number> {
    return { wMax: this.wMax, k: this.k, wEst: this.wEst, epochStart: this.epochStart };
  }
}
