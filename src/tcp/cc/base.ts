import type { CongestionControl, CongestionKind } from './cc.js';
import { DOUBLE_FIELD } from '../../util/double-field.js';

/** "Arbitrarily high" initial ssthresh (RFC 5681 §3.1). */
export const SSTHRESH_INFINITE = 0x7fffffff;

/**
 * Initial window in bytes: `segments`·SMSS (RFC 6928 IW10 when segments=10;
 * RFC 5681 §3.1's formula when segments ≤ 0 is given).
 */
export function initialWindow(mss: number, segments: number): number {
  if (segments > 0) return segments * mss;
  // RFC 5681 §3.1 eq. 1
  return mss > 2190 ? 2 * mss : mss > 1095 ? 3 * mss : 4 * mss;
}


/**
 * The window arithmetic every loss-based algorithm shares: RFC 3465 slow
 * start, RFC 5681/6582 reactions and recovery bookkeeping, RFC 3168 classic
 * ECN reaction once per window, undo of spurious reductions. Subclasses
 * override {@link WindowCcBase.congestionAvoidance} and
 * {@link WindowCcBase.reduce} (plus the undo hooks when they keep more state).
 */
export abstract class WindowCcBase implements CongestionControl {
  abstract readonly name: string;
  /** Sender maximum segment size, bytes (lowered by {@link setMss} when the path MTU drops). */
  mss: number;
  cwnd: number;
  ssthresh = SSTHRESH_INFINITE;

  /** In fast/SACK recovery (between onCongestion('fast') and onRecoveryExit). */
  protected recovering = false;
  /** Bytes added by RFC 6582 dup-ACK inflation, removed on partial/full ACK. */
  protected inflation = 0;
  /** RFC 3465 §2.1 bytes_acked counter for congestion avoidance. */
  protected bytesAcked = 0;
  /** Smoothed RTT from the samples given to onAck, ms (0 = none yet). */
  protected srttMs = DOUBLE_FIELD;
  /** Lowest RTT sample seen, ms (0 = none yet). */
  protected minRttMs = DOUBLE_FIELD;
  /** Total bytes acknowledged: a sequence-free clock for "one window of data". */
  protected totalAcked = 0;
  /** totalAcked value at which the current ECN reaction window ends (RFC 3168 §6.1.2). */
  protected cwrEnd = 0;
  /** The last event was an RTO with no ACK since (repeated timeouts keep ssthresh). */
  private afterRto = false;

  // Undo snapshot (state before the most recent reduction)
  private undoValid = false;
  private priorCwnd = 0;
  private priorSsthresh = 0;

  /**
   * Slow start as Linux (config `linuxSlowStart`): cwnd grows by whatever an
   * ACK acknowledges (no L cap), up to ssthresh, and only while cwnd is
   * below twice the flight.
   */
  linuxSlowStart = false;
  /** linuxSlowStart: the largest flight seen at an ACK, and the totalAcked at which that window ends. */
  private maxFlight = 0;
  private maxFlightEnd = 0;

  /** Counters visible through state(). */
  congestionEvents = 0;
  undos = 0;

  constructor(mss: number, initialCwndSegments: number) {
    if (!(mss > 0)) throw new RangeError(`mss must be positive, got ${mss}`);
    this.mss = mss;
    // Doubles from the start (DOUBLE_FIELD, src/util/double-field.ts), their real initial values from here on.
    this.srttMs = 0; this.minRttMs = 0;
    this.cwnd = initialWindow(mss, initialCwndSegments); // RFC 6928
  }

  /**
   * The connection's MSS changed (a smaller path MTU, RFC 1191): growth and
   * the segment-based limits count in the new size from now on; cwnd keeps
   * its bytes.
   */
  setMss(mss: number): void {
    if (mss > 0) this.mss = mss;
  }

  /** True while cwnd < ssthresh (RFC 5681 §3.1). */
  inSlowStart(): boolean { return this.cwnd < this.ssthresh; }
  /** True during fast/SACK recovery. */
  inRecovery(): boolean { return this.recovering; }

  onAck(ackedBytes: number, rttMs: number | undefined, bytesInFlight: number, now: number): void {
    if (rttMs !== undefined && rttMs >= 0) {
      // Two stores, not one of a conditional: the conditional's value (the
      // sample as it came, or a double computed here) would be boxed first.
      if (this.srttMs === 0) this.srttMs = rttMs;
      else this.srttMs += (rttMs - this.srttMs) / 8;
      if (this.minRttMs === 0 || rttMs < this.minRttMs) this.minRttMs = rttMs;
    }
    if (!(ackedBytes > 0)) return;
    if (this.linuxSlowStart && (bytesInFlight > this.maxFlight || this.totalAcked >= this.maxFlightEnd)) {
      // tcp_cwnd_validate's max_packets_out: the largest flight of the last window of data.
      this.maxFlight = bytesInFlight;
      this.maxFlightEnd = this.totalAcked + bytesInFlight;
    }
    this.totalAcked += ackedBytes;
    this.afterRto = false;
    if (this.recovering) {
      // RFC 6582 §3.2 step 5: a partial ACK deflates the inflated window by
      // the amount acknowledged, adding back one SMSS if ≥ SMSS was acked.
      // With SACK (no inflation) cwnd stays at ssthresh (RFC 6675 §5).
      if (this.inflation > 0) {
        const deflate = Math.min(ackedBytes, this.inflation);
        this.inflation -= deflate;
        this.cwnd -= deflate;
        if (ackedBytes >= this.mss) { this.cwnd += this.mss; this.inflation += this.mss; }
      }
      return;
    }
    if (this.cwnd < this.ssthresh) {
      if (!this.linuxSlowStart) {
        // RFC 3465 §2.2: slow start with appropriate byte counting, L = 2·SMSS
        this.cwnd += Math.min(ackedBytes, 2 * this.mss);
        this.onSlowStart(now);
        return;
      }
      // Linux tcp_slow_start: only while the window is used (tcp_is_cwnd_limited:
      // cwnd below twice the window's largest flight), by all that is acked
      // up to ssthresh; the rest goes to congestion avoidance.
      if (this.cwnd >= 2 * this.maxFlight) return;
      const inc = Math.min(ackedBytes, this.ssthresh - this.cwnd);
      this.cwnd += inc;
      this.onSlowStart(now);
      ackedBytes -= inc;
      if (ackedBytes <= 0) return;
    }
    this.congestionAvoidance(ackedBytes, bytesInFlight, now);
  }

  onCongestion(kind: CongestionKind, bytesInFlight: number, now: number): void {
    if (kind === 'rto' && this.afterRto) {
      // Repeated timeout of the same data: RFC 5681 §3.1 keeps ssthresh
      // (FlightSize has not changed); only the loss window applies again.
      this.cwnd = this.mss;
      return;
    }
    this.congestionEvents++;
    this.saveUndo();
    this.priorCwnd = this.cwnd - this.inflation;
    this.priorSsthresh = this.ssthresh;
    this.undoValid = true;
    this.cwnd -= this.inflation;
    this.inflation = 0;
    this.bytesAcked = 0;
    this.reduce(kind, bytesInFlight, now);
    if (kind === 'rto') {
      // RFC 5681 §3.1 eq. 5: loss window = 1 SMSS; recovery is abandoned
      this.cwnd = this.mss;
      this.recovering = false;
      this.afterRto = true;
    } else {
      this.cwnd = Math.max(this.ssthresh, this.mss);
      this.recovering = kind === 'fast';
    }
    // No further ECN reaction for one window of data (RFC 3168 §6.1.2)
    this.cwrEnd = this.totalAcked + bytesInFlight;
  }

  onRecoveryExit(_now: number): void {
    if (!this.recovering) return;
    this.recovering = false;
    // RFC 6582 §3.2 step 6 / RFC 6675 §5: deflate to ssthresh on full ACK
    this.cwnd = Math.max(this.ssthresh, this.mss);
    this.inflation = 0;
    this.bytesAcked = 0;
  }

  onSpuriousUndo(): void {
    if (!this.undoValid) return;
    this.undoValid = false;
    this.undos++;
    this.recovering = false;
    this.afterRto = false;
    this.inflation = 0;
    // Linux tcp_undo_cwnd_reduction: never shrink on undo
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.priorSsthresh);
    this.restoreUndo();
  }

  onDupAck(segments: number): void {
    if (!this.recovering || !(segments > 0)) return;
    // RFC 6582 §3.2 steps 2 and 4: artificially inflate by the segments that left the network
    const add = segments * this.mss;
    this.cwnd += add;
    this.inflation += add;
  }

  onEcnEcho(ackedBytes: number, ece: boolean, bytesInFlight: number, now: number): boolean {
    // Classic ECN (RFC 3168 §6.1.2): an ECE is a congestion signal, reacted
    // to at most once per window of data and not while recovering from loss.
    if (!ece) return false;
    if (this.recovering || this.totalAcked + ackedBytes <= this.cwrEnd) return false;
    this.onCongestion('ecn', bytesInFlight, now);
    return true;
  }

  pacingRate(): number { return 0; }

  state(): Record<string, number> {
    return {
      cwnd: this.cwnd, ssthresh: this.ssthresh, recovering: this.recovering ? 1 : 0,
      srttMs: this.srttMs, minRttMs: this.minRttMs, congestionEvents: this.congestionEvents, undos: this.undos,
      ...this.extraState(),
    };
  }

  /** Congestion avoidance growth for `ackedBytes` newly delivered. */
  protected abstract congestionAvoidance(ackedBytes: number, bytesInFlight: number, now: number): void;
  /** Sets ssthresh (and algorithm state) for a congestion event; cwnd is set by the caller. */
  protected abstract reduce(kind: CongestionKind, bytesInFlight: number, now: number): void;
  /** Called after slow-start growth (for algorithms that track epochs). */
  protected onSlowStart(_now: number): void { /* none */ }
  /** Save algorithm state before a reduction (for onSpuriousUndo). */
  protected saveUndo(): void { /* none */ }
  /** Restore the state saved by saveUndo. */
  protected restoreUndo(): void { /* none */ }
  /** Extra numbers for state(). */
  protected extraState(): Record<string, number> { return {}; }

  /** RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2·SMSS). */
  protected halfFlight(bytesInFlight: number): number {
    return Math.max(Math.floor(bytesInFlight / 2), 2 * this.mss);
  }
}
