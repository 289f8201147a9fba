/**
 * Loss recovery driven by cumulative ACKs: RFC 5681 fast retransmit on the
 * third duplicate ACK and RFC 6582 NewReno partial-ACK handling.
 *
 * The seam for issue 4: input.ts calls only {@link onDuplicateAck} and
 * {@link onAckAdvance}; SACK-based recovery (RFC 6675) and RACK-TLP replace
 * these two functions (or are consulted first) without touching the state
 * machine. Window arithmetic stays in the {@link CongestionControl}.
 */
import type { TcpConnection } from './connection.js';
import { markRetransmit, sendSegment } from './output.js';
import { ACK } from './header.js';
import { countRetransmitCause } from './loss.js';
import { RetransmitCause } from './cc/counters.js';
import { seqDiff, seqGt, seqGeq } from './seq.js';

/** RFC 5681 §3.2 duplicate ACK threshold. */
export const DUPACK_THRESHOLD = 3;

/**
 * A duplicate ACK arrived (RFC 5681 §2: no data, no window change,
 * outstanding data, ack = SND.UNA).
 */
export function onDuplicateAck(c: TcpConnection, now: number): void {
  c.dupAcks++;
  if (c.loss !== null) return; // SACK: the scoreboard and RACK decide (loss.ts)
  const cc = c.cc;
  if (c.inRecovery) {
    // RFC 6582 §3.2 step 4: inflate by one segment that left the network.
    if (cc.onDupAck) cc.onDupAck(1); else cc.cwnd += c.mss;
    return;
  }
  if (c.dupAcks !== DUPACK_THRESHOLD) return;
  // RFC 6582 §3.2 step 2: a new recovery only if the ACK covers more than
  // `recover` (avoids repeated reductions for one window of losses).
  if (!seqGt(c.sndUna, c.recover)) return;
  c.inRecovery = true;
  c.recover = c.sndMax;
  cc.onCongestion('fast', seqDiff(c.sndMax, c.sndUna), now);
  if (cc.onDupAck) cc.onDupAck(DUPACK_THRESHOLD); else cc.cwnd += DUPACK_THRESHOLD * c.mss;
  retransmitFirst(c, now);
}

/**
 * SND.UNA advanced to `ack`. During recovery, a partial ACK retransmits the
 * next hole (RFC 6582 §3.2 step 5); a full ACK ends recovery (step 6).
 */
export function onAckAdvance(c: TcpConnection, now: number): void {
  if (!c.inRecovery || c.loss !== null) { c.dupAcks = 0; return; }
  if (seqGeq(c.sndUna, c.recover)) {
    c.inRecovery = false;
    c.dupAcks = 0;
    c.cc.onRecoveryExit(now);
    return;
  }
  retransmitFirst(c, now);
  // RFC 6582 step 5: reset the retransmit timer only for the first partial ACK.
}

/** Retransmit the segment at SND.UNA (fast retransmit). */
function retransmitFirst(c: TcpConnection, now: number): void {
  let len = Math.min(c.mss, c.sendBuf.length - Math.max(0, seqDiff(c.sndUna, c.bufSeq)));
  if (len < 0) len = 0;
  if (len === 0) return;
  if (sendSegment(c, c.sndUna, len, ACK, now)) {
    countRetransmitCause(c, RetransmitCause.Fast);
    c.bytesRetransmitted += len;
    c.rttTiming = false;
    markRetransmit(c, now);
    c.rtxAt = now + c.rtt.rto;
  }
}
