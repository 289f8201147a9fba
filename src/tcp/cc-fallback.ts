/**
 * A last-resort controller: a small RFC 5681 NewReno used when the
 * configured name is not registered in `src/tcp/cc/` (a misconfiguration
 * must not take connections down). The connection only ever talks to
 * {@link CongestionControl}.
 */

import type { CongestionControl } from './cc/cc.js';

/** RFC 5681 slow start and congestion avoidance with RFC 3465 byte counting (L = 2·SMSS). */
export class FallbackNewReno implements CongestionControl {
  readonly name = 'newreno';
  cwnd: number;
  ssthresh = 0x7fffffff;
  private prevCwnd = 0;
  private prevSsthresh = 0;
  private caAcc = 0;
  constructor(private readonly mss: number, initialCwndSegments: number) {
    this.cwnd = mss * initialCwndSegments;
  }
  onAck(ackedBytes: number): void {
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(ackedBytes, 2 * this.mss);
    } else {
      this.caAcc += ackedBytes;
      if (this.caAcc >= this.cwnd) { this.caAcc -= this.cwnd; this.cwnd += this.mss; }
    }
  }
  onCongestion(kind: 'fast' | 'rto' | 'ecn', bytesInFlight: number): void {
    this.prevCwnd = this.cwnd;
    this.prevSsthresh = this.ssthresh;
    this.ssthresh = Math.max(bytesInFlight >>> 1, 2 * this.mss);
    this.cwnd = kind === 'rto' ? this.mss : this.ssthresh;
    this.caAcc = 0;
  }
  onRecoveryExit(): void { this.cwnd = this.ssthresh; }
  onSpuriousUndo(): void {
    if (this.prevCwnd > 0) { this.cwnd = Math.max(this.cwnd, this.prevCwnd); this.ssthresh = Math.max(this.ssthresh, this.prevSsthresh); }
  }
  pacingRate(): number { return 0; }
}

/** Make the named controller; only NewReno exists until `src/tcp/cc/` lands. */
export function createFallbackCongestionControl(_name: string, mss: number, initialCwndSegments: number): CongestionControl {
  return new FallbackNewReno(mss, initialCwndSegments);
}
