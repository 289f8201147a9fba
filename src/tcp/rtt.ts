import type { Seq } from './seq.js';
import { DOUBLE_FIELD } from '../util/double-field.js';

/** Limits for {@link RttEstimator}, in milliseconds (the names match TcpConfig). */
export interface RttConfig {
  /** RTO before any sample (RFC 6298 §2.1 says 1 s). */
  initialRtoMs?: number;
  /** Lower bound of the RTO (RFC 6298 says 1 s; Linux uses 200 ms). */
  minRtoMs?: number;
  /** Upper bound of the RTO, also after back-off (RFC 6298 §2.5: at least 60 s). */
  maxRtoMs?: number;
  /** Clock granularity G of RFC 6298 §2 (default 1 ms). */
  granularityMs?: number;
  /** Estimate as Linux tcp_rtt_estimator (TcpConfig `linuxRto`) instead of RFC 6298. */
  linux?: boolean;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

/**
 * The retransmission timeout of RFC 6298:
 *
 * - first sample R: SRTT = R, RTTVAR = R/2;
 * - later samples R': RTTVAR = (1−β)·RTTVAR + β·|SRTT − R'|, then
 *   SRTT = (1−α)·SRTT + α·R' (α = 1/8, β = 1/4, in that order);
 * - RTO = SRTT + max(G, K·RTTVAR), K = 4, clamped to [minRto, maxRto];
 * - on expiry, {@link backoff} doubles the RTO up to maxRto (§5.5), and it
 *   stays backed off until the next valid sample (§5.7).
 *
 * Karn's rule is the caller's job: never feed {@link sample} a measurement
 * from a segment that was retransmitted, because the ACK may answer either
 * copy — unless the RTT comes from a timestamp echo (RFC 7323 §4), which
 * identifies the copy. Take at most one sample per window without
 * timestamps, as RFC 6298 §3 assumes.
 */
export class RttEstimator {
  /** Smoothed RTT (ms); 0 until the first sample. */
  srtt = DOUBLE_FIELD;
  /** RTT variation (ms); 0 until the first sample. */
  rttvar = DOUBLE_FIELD;
  /** Current RTO (ms), back-off included. */
  rto = DOUBLE_FIELD;
  /** Whether a sample has been taken since construction or {@link reset}. */
  hasSample = false;
  /** Consecutive back-offs since the last sample. */
  backoffs = 0;
  /** Most recent sample (ms); 0 before any. */
  latest = DOUBLE_FIELD;
  /** Smallest sample seen (ms); Infinity before any. */
  minRtt = Infinity;

  readonly initialRto: number;
  readonly minRto: number;
  readonly maxRto: number;
  readonly granularity: number;
  /** Linux's estimator (see {@link sampleLinux}). */
  readonly linux: boolean;
  /** Linux mdev_us, rttvar_us, mdev_max_us (ms, in Linux's scale: 4·RTTVAR) and rtt_seq. */
  private mdev = DOUBLE_FIELD;
  private rttvarL = DOUBLE_FIELD;
  private mdevMax = DOUBLE_FIELD;
  private rttSeq = DOUBLE_FIELD as Seq;

  constructor(cfg: RttConfig = {}) {
    this.linux = cfg.linux === true;
    // Times in ms: doubles from the start (DOUBLE_FIELD, src/util/double-field.ts), their real initial values from here on.
    this.srtt = 0; this.rttvar = 0; this.latest = 0;
    this.mdev = 0; this.rttvarL = 0; this.mdevMax = 0; this.rttSeq = 0 as Seq;
    this.minRto = cfg.minRtoMs ?? 200;
    this.maxRto = Math.max(cfg.maxRtoMs ?? 120000, this.minRto);
    this.initialRto = this.clamp(cfg.initialRtoMs ?? 1000);
    this.granularity = cfg.granularityMs ?? 1;
    this.rto = this.initialRto;
  }

  private clamp(v: number): number {
    // Math.min/max (maxRto >= minRto), not a conditional: its value, a bound
    // or v, would be boxed before the store into rto.
    return Math.min(Math.max(v, this.minRto), this.maxRto);
  }

  /** The RTO without back-off, from the current estimates. */
  baseRto(): number {
    if (!this.hasSample) return this.initialRto;
    // Linux __tcp_set_rto: SRTT + rttvar_us, where rttvar_us never falls below the minimum RTO.
    if (this.linux) return Math.min(this.srtt + this.rttvarL, this.maxRto);
    return this.clamp(this.srtt + Math.max(this.granularity, K * this.rttvar));
  }

  /**
   * Feed one RTT measurement (ms); resets the back-off. Negative or non-finite samples are ignored.
   * @param sndUna - SND.UNA after the ACK that gave the sample (Linux's estimator only)
   * @param sndNxt - the highest sequence number sent (Linux's estimator only)
   */
  sample(rttMs: number, sndUna = 0 as Seq, sndNxt = 0 as Seq): void {
    if (!(rttMs >= 0) || rttMs === Infinity) return;
    if (this.linux) this.sampleLinux(rttMs, sndUna, sndNxt);
    else if (!this.hasSample) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
      this.hasSample = true;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - rttMs);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * rttMs;
    }
    this.hasSample = true;
    this.latest = rttMs;
    if (rttMs < this.minRtt) this.minRtt = rttMs;
    this.backoffs = 0;
    this.rto = this.baseRto();
  }

  /**
   * Linux tcp_rtt_estimator (Van Jacobson's, as Linux keeps it): the RTO
   * adds to SRTT Linux's rttvar_us, the largest mean deviation (4·RTTVAR in RFC
   * 6298's terms) seen in the current round trip, at least the minimum RTO,
   * decaying by a quarter of its excess per round trip (a round ends when
   * SND.UNA passes the SND.NXT of its start); a falling RTT moves the
   * deviation by an eighth of RFC 6298's gain. The RTO is SRTT + rttvar:
   * never below SRTT + minimum RTO (first sample R: 3·R, at least R + 200 ms).
   * {@link rttvar} is the mean deviation (Linux's tcpi_rttvar, mdev_us / 4).
   */
  private sampleLinux(m: number, sndUna: Seq, sndNxt: Seq): void {
    if (m <= 0) m = 0.001; // Linux: a 0 us sample counts as 1 us
    if (!this.hasSample) {
      this.srtt = m;
      this.mdev = 2 * m;
      this.rttvarL = Math.max(this.mdev, this.minRto);
      this.mdevMax = this.rttvarL;
      this.rttSeq = (sndNxt >>> 0) as Seq;
      this.rttvar = this.mdev / 4;
      return;
    }
    let e = m - this.srtt;
    this.srtt += e / 8;
    if (e < 0) {
      e = -e - this.mdev / 4;
      if (e > 0) e /= 8;
    } else {
      e -= this.mdev / 4;
    }
    this.mdev += e;
    if (this.mdev > this.mdevMax) {
      this.mdevMax = this.mdev;
      if (this.mdevMax > this.rttvarL) this.rttvarL = this.mdevMax;
    }
    if (((sndUna - this.rttSeq) | 0) > 0) {
      if (this.mdevMax < this.rttvarL) this.rttvarL -= (this.rttvarL - this.mdevMax) / 4;
      this.rttSeq = (sndNxt >>> 0) as Seq;
      this.mdevMax = this.minRto;
    }
    this.rttvar = this.mdev / 4;
  }

  /** The retransmission timer expired: double the RTO, bounded by maxRto (RFC 6298 §5.5). */
  backoff(): void {
    this.backoffs++;
    this.rto = Math.min(this.rto * 2, this.maxRto);
  }

  /**
   * Forget all estimates (e.g. a new path), returning to `rtoMs` (default the
   * initial RTO). RFC 6298 §5.7: after a SYN timed out, data transmission
   * begins with an RTO of 3 s if the estimator has no sample.
   */
  reset(rtoMs?: number): void {
    this.srtt = 0;
    this.rttvar = 0;
    this.mdev = 0;
    this.rttvarL = 0;
    this.mdevMax = 0;
    this.hasSample = false;
    this.backoffs = 0;
    this.latest = 0;
    this.minRtt = Infinity;
    this.rto = rtoMs === undefined ? this.initialRto : this.clamp(rtoMs);
  }
}
