import type { CongestionKind } from './cc.js';
import { WindowCcBase } from './base.js';

/**
 * NewReno window arithmetic: RFC 5681 slow start and congestion avoidance
 * with RFC 3465 appropriate byte counting (L = 2·SMSS), RFC 6582 fast
 * recovery (window inflation via onDupAck when SACK is off), ssthresh =
 * max(FlightSize/2, 2·SMSS) (RFC 5681 eq. 4).
 */
export class NewReno extends WindowCcBase {
  readonly name: string = 'newreno';

  /**
   * RFC 3465 §2.1: count bytes acknowledged; when they reach cwnd, grow by
   * one SMSS (≈ +1 SMSS per RTT, RFC 5681 eq. 3).
   */
  protected congestionAvoidance(ackedBytes: number, _bytesInFlight: number, _now: number): void {
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  protected reduce(_kind: CongestionKind, bytesInFlight: number, _now: number): void {
    this.ssthresh = this.halfFlight(bytesInFlight);
  }
}
