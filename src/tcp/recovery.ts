/**
 * Loss recovery behind one interface (as gVisor's lossRecovery): a
 * connection chooses its {@link LossRecovery} once, when the SYN options are
 * agreed — RFC 6675 SACK recovery with RACK-TLP (loss.ts) when SACK was
 * negotiated, otherwise {@link noSackRecovery}: RFC 5681 fast retransmit on
 * the third duplicate ACK, RFC 6582 NewReno partial-ACK handling and RFC
 * 3042 limited transmit. Input, output and the timers call the interface and
 * never ask which one runs. Window arithmetic stays in the
 * {@link CongestionControl}.
 */
import type { Seq } from './seq.js';
import type { TcpConnection } from './connection.js';
import type { TcpSegment } from './header.js';
import { markRetransmit, sendSegment } from './output.js';
import { restartRtx, stopRttTiming } from './timers.js';
import { sndRewind } from './seq-space.js';
import { ACK } from './header.js';
import { countRetransmitCause } from './loss.js';
import { RetransmitCause } from './cc/counters.js';
import { seqDiff, seqGt, seqGeq, seqLt } from './seq.js';

/** RFC 5681 §3.2 duplicate ACK threshold. */
export const DUPACK_THRESHOLD = 3;

/** What `connection info` shows of the recovery state. */
export interface LossInfo { pipe: number; sacked: number; lost: number; minRtt: number; reordering: boolean; reoWnd: number }

/**
 * One connection's loss recovery. Every method is allocation-free; `c` is
 * the connection the object belongs to.
 */
export interface LossRecovery {
  /**
   * An acceptable ACK (`seg.ack` ≤ SND.MAX) arrived; SND.UNA has not moved
   * yet. (The ACK is read from `seg`: a sequence number passed on as an
   * argument is boxed when it is 2^31 or more.)
   */
  onAck(c: TcpConnection, seg: TcpSegment, now: number): void;
  /** A duplicate ACK (RFC 5681 §2) arrived; `c.dupAcks` already counts it. */
  onDuplicateAck(c: TcpConnection, now: number): void;
  /** SND.UNA advanced (after the congestion controller saw the ACK). */
  onAckAdvance(c: TcpConnection, now: number): void;
  /**
   * Start of tcpOutput: retransmissions recovery wants before new data.
   * @returns false when output ran out of mbufs (tcpOutput stops)
   */
  beforeOutput(c: TcpConnection, now: number): boolean;
  /** Bytes the congestion window lets tcpOutput send now (may be negative), given SND.NXT − SND.UNA. */
  sendWindow(c: TcpConnection, inFlight: number): number;
  /**
   * tcpOutput sent [seq, seq + len) (len counts a FIN, > 0): one segment, or
   * a burst of new-data segments of one MSS each (the last may be shorter)
   * sent back to back at `now` (see {@link batchSends}).
   * @param oldMax - SND.MAX before the segment
   */
  onSent(c: TcpConnection, seq: Seq, len: number, oldMax: Seq, now: number): void;
  /**
   * Whether tcpOutput may, from now on in this call, send new data without
   * asking again: {@link sendWindow} falls by exactly the bytes of new data
   * sent, and {@link onSent} may be told once for a burst of back-to-back
   * MSS-sized new-data segments (one clock reading, so RACK sees one
   * transmission time for the burst, recorded per MSS) instead of per segment.
   */
  batchSends(): boolean;
  /** tcpOutput is sending a tail loss probe's new segment (not the persist timer's probe). */
  tlpSending(): boolean;
  /** The new-data segment ending at `end`, already told to {@link onSent}, ends a MSG_EOR record: resends stop there. */
  onRecordEnd(end: Seq): void;
  /** End of tcpOutput (arm or stop recovery's own timers). */
  afterOutput(c: TcpConnection, now: number): void;
  /** The retransmission timer fired on an established connection (after the window reduction). */
  onRto(c: TcpConnection, now: number): void;
  /** Earliest of recovery's own timers (ms, Infinity = none). */
  nextAt(): number;
  /** Recovery's own timers may be due ({@link nextAt} ≤ now). */
  onTimers(c: TcpConnection, now: number): void;
  /** Numbers for connection info. */
  info(c: TcpConnection): LossInfo;
}

/**
 * Without SACK: recovery from cumulative ACKs alone. Its state lives in the
 * connection (`dupAcks`, `inRecovery`, `recover`), so one object serves
 * every connection.
 */
class NewRenoRecovery implements LossRecovery {
  onAck(): void { /* duplicate ACKs and SND.UNA advances are all it needs */ }

  onDuplicateAck(c: TcpConnection, now: number): void {
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

  /** During recovery a partial ACK retransmits the next hole (RFC 6582 §3.2 step 5); a full ACK ends it (step 6). */
  onAckAdvance(c: TcpConnection, now: number): void {
    if (!c.inRecovery) { c.dupAcks = 0; return; }
    if (seqGeq(c.sndUna, c.recover)) {
      c.inRecovery = false;
      c.dupAcks = 0;
      c.cc.onRecoveryExit(now);
      return;
    }
    retransmitFirst(c, now);
    // RFC 6582 step 5: reset the retransmit timer only for the first partial ACK.
  }

  beforeOutput(): boolean { return true; }

  /** RFC 3042 limited transmit: the first two duplicate ACKs each release one new segment. */
  sendWindow(c: TcpConnection, inFlight: number): number {
    const lt = !c.inRecovery && c.dupAcks > 0 && c.dupAcks < DUPACK_THRESHOLD && !seqLt(c.sndNxt, c.sndMax) ? c.dupAcks * c.mss : 0;
    return Math.min(c.sndWnd, c.cc.cwnd + lt) - inFlight;
  }

  onSent(): void { /* nothing per segment */ }
  /** sendWindow is min(SND.WND, cwnd) − flight: new data only shrinks it by what is sent. */
  batchSends(): boolean { return true; }
  tlpSending(): boolean { return false; }
  onRecordEnd(): void { /* go-back-N resends through tcpOutput, which cuts at record ends it still knows */ }
  afterOutput(): void { /* no timers of its own */ }

  /** Go back N (RFC 5681 §3.1 after a timeout): resend from SND.UNA. */
  onRto(c: TcpConnection): void { sndRewind(c, c.sndUna); }

  nextAt(): number { return Infinity; }
  onTimers(): void { /* no timers of its own */ }

  info(c: TcpConnection): LossInfo {
    return { pipe: seqDiff(c.sndMax, c.sndUna), sacked: 0, lost: 0, minRtt: 0, reordering: false, reoWnd: 0 };
  }
}

/** The recovery of connections without SACK (stateless: shared). */
export const noSackRecovery: LossRecovery = new NewRenoRecovery();

/**
 * A retransmission timeout ended whatever recovery was running: no
 * duplicate ACKs counted, and RFC 6582 §3.2 step 1's recover point moves to
 * the highest sequence sent, so ACKs below it start no fast retransmit.
 */
export function endEpisodeOnTimeout(c: TcpConnection): void {
  c.inRecovery = false;
  c.dupAcks = 0;
  c.recover = c.sndMax;
}

/** An ECN reduction was made: the next one waits for data sent after this moment (once per window, RFC 3168 §6.1.2). */
export function markEcnReduction(c: TcpConnection): void {
  c.recover = c.sndMax;
}

/**
 * A duplicate ACK arrived (RFC 5681 §2: no data, no window change,
 * outstanding data, ack = SND.UNA).
 */
export function onDuplicateAck(c: TcpConnection, now: number): void {
  c.dupAcks++;
  c.loss.onDuplicateAck(c, now);
}

/** SND.UNA advanced: recovery's partial/full ACK handling. */
export function onAckAdvance(c: TcpConnection, now: number): void {
  c.loss.onAckAdvance(c, now);
}

/** Retransmit the segment at SND.UNA (fast retransmit). */
function retransmitFirst(c: TcpConnection, now: number): void {
  let len = Math.min(c.mss, c.sendBuf.length - Math.max(0, seqDiff(c.sndUna, c.bufSeq)));
  if (len < 0) len = 0;
  if (len === 0) return;
  if (sendSegment(c, c.sndUna, len, ACK, now)) {
    countRetransmitCause(c, RetransmitCause.Fast);
    c.bytesRetransmitted += len;
    stopRttTiming(c);
    markRetransmit(c, now);
    restartRtx(c, now);
  }
}
