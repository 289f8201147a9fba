/**
 * Proportional Rate Reduction (RFC 6937) for SACK recovery.
 *
 * Without it, entering recovery sets cwnd = ssthresh and RFC 6675 sends
 * cwnd − pipe at once, a burst right after a loss. PRR instead spreads the
 * reduction over the recovery episode: while pipe > ssthresh it sends in
 * proportion to what the peer reports delivered (ssthresh / RecoverFS of
 * it), and once pipe has fallen to ssthresh or below it grows back towards
 * ssthresh no faster than slow start (the Slow-Start Reduction Bound).
 *
 * Quantities are bytes. The proportional part rounds up to whole segments,
 * as Linux does in packets (and as RFC 6937's figures count), so a
 * connection sends on the first ACK of a halving rather than the second.
 *
 * Two bounds for pipe ≤ ssthresh:
 * - `linux` (default): Linux 3.x–5.10 `tcp_cwnd_reduction`: the SSRB limit
 *   max(prr_delivered − prr_out, DeliveredData) + MSS only on an ACK that
 *   cumulatively acknowledges retransmitted data; otherwise at most
 *   DeliveredData (so a SACK of N segments releases N segments, which
 *   packetdrill's prr-ss-ack-below-snd_una checks).
 * - `rfc`: RFC 6937 §3.1 PRR-SSRB on every ACK.
 */
export type PrrBound = 'linux' | 'rfc';

/** One recovery episode's PRR state (reused across episodes; no allocation per ACK). */
export class Prr {
  /** Between {@link start} and {@link stop}. */
  active = false;
  /** prr_delivered: bytes the peer reported delivered during recovery. */
  delivered = 0;
  /** prr_out: bytes sent during recovery (retransmissions and new data). */
  out = 0;
  /** RecoverFS: the flight size when recovery began. */
  recoverFs = 0;

  constructor(public bound: PrrBound = 'linux') {}

  /** Recovery begins (RFC 6937 §3 "on entering recovery"). */
  start(flightSize: number): void {
    this.active = true;
    this.delivered = 0;
    this.out = 0;
    this.recoverFs = flightSize > 0 ? flightSize : 1;
  }

  /** Recovery ended or was undone. */
  stop(): void { this.active = false; }

  /** `bytes` went out while recovering (any segment: retransmission, new data, probe). */
  onSent(bytes: number): void {
    if (this.active && bytes > 0) this.out += bytes;
  }

  /**
   * An ACK during recovery: RFC 6937 §3 "on every ACK".
   * @param deliveredData - DeliveredData: change in SND.UNA plus change in SACKed bytes (≤ 0: nothing sent more)
   * @param pipe - RFC 6675 pipe after this ACK's scoreboard update and loss marking
   * @param ssthresh - the reduced window, bytes
   * @param mss - sender MSS
   * @param rtxAcked - the ACK cumulatively acknowledged retransmitted data (used by the `linux` bound)
   * @returns sndcnt: bytes that may be sent now (cwnd = pipe + sndcnt), or -1 when the ACK
   *   delivered nothing and the window stays as it was (Linux leaves cwnd alone then)
   */
  onAck(deliveredData: number, pipe: number, ssthresh: number, mss: number, rtxAcked: boolean): number {
    if (!this.active) return -1;
    let sndcnt = -1;
    if (deliveredData > 0) {
      this.delivered += deliveredData;
      if (pipe > ssthresh) {
        // Proportional part: CEIL(prr_delivered · ssthresh / RecoverFS) − prr_out, in whole segments.
        const target = Math.ceil((this.delivered * ssthresh) / this.recoverFs / mss) * mss;
        sndcnt = target - this.out;
      } else {
        const room = ssthresh - pipe;
        let limit: number;
        if (this.bound === 'rfc' || rtxAcked) {
          // PRR-SSRB: limit = MAX(prr_delivered − prr_out, DeliveredData) + MSS
          limit = Math.max(this.delivered - this.out, deliveredData) + mss;
        } else {
          limit = deliveredData;
        }
        sndcnt = Math.min(room, limit);
      }
    }
    // The first retransmission goes out whatever the numbers say (RFC 6675
    // fast retransmit; Linux forces it while prr_out is 0).
    if (this.out === 0 && sndcnt < mss) return mss;
    if (deliveredData <= 0) return -1;
    return sndcnt > 0 ? sndcnt : 0;
  }
}
