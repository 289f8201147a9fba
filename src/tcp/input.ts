/**
 * Segment arrival, RFC 9293 §3.10.7 in its order: per-state handling of
 * LISTEN and SYN-SENT, then for synchronized states PAWS (RFC 7323 §5), the
 * sequence acceptability test, RST (RFC 5961 §3), SYN (RFC 5961 §4), ACK
 * (RFC 5961 §5, SND.WL1/WL2 window updates), URG (ignored), segment text and
 * FIN. The caller (TcpLayer.input) has checked the checksum, parsed the header
 * into the layer's one TcpSegment and found the connection; every function
 * here owns `m` and either hands it to a receive queue or frees it.
 */
import type { Seq } from './seq.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import { trimFront } from './recv-buffer.js';
import { fastOpenSynAck } from './fastopen.js';
import { TcpFlag, type TcpSegment } from './header.js';
import { seqAdd, seqDiff, seqGeq, seqGt, seqInRange, seqLeq, seqLt } from './seq.js';
import { TcpState, canReceive, setState } from './state.js';
import { TcpError, type TcpConnection } from './connection.js';
import { Ecn, sendChallengeAck, sendRstForConn, sendRstReply, sendSegment, tcpOutput, tsNow } from './output.js';
import { markEcnReduction, onAckAdvance, onDuplicateAck } from './recovery.js';
import { armTimers, clearRtxTs, peerHeard, resetPersist, resetRetries, restartRtx, startDelack, startKeepalive, startTimeWaitTimer,
  stopConnTimers, stopRtx, stopRttTiming } from './timers.js';
import { rcvTake, rcvTakeSynData, sndAcked, sndBufStart, sndRewind, sndWindow } from './seq-space.js';
import { tcbSimultaneousOpen, tcbSynSent } from './tcb-init.js';
import { lossOnAck } from './loss.js';
import type { Mbuf } from '../mbuf/index.js';

/** RFC 7323 §5.5: a TS.Recent older than 24 days is invalid. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

// Events raised while processing one segment; callbacks run at the end so
// the connection is consistent when the application sees it.
const EV_CONNECT = 1;
const EV_READABLE = 2;
const EV_PEER_FIN = 4;
const EV_WRITABLE = 8;

export { applyOptions, negotiateOptions } from './tcb-init.js';

/** The connection completed its handshake. */
function established(c: TcpConnection, now: number): void {
  setState(c, c.finPending ? TcpState.FinWait1 : TcpState.Established, 'handshakeDone');
  c.wasEstablished = true;
  c.layer.counters.established++;
  startKeepalive(c, now);
}

/** Enter TIME-WAIT for 2×MSL (bounded table). */
export function enterTimeWait(c: TcpConnection, now: number): void {
  setState(c, TcpState.TimeWait, 'timeWait');
  stopConnTimers(c);
  startTimeWaitTimer(c, now);
  c.sendBuf.clear();
  sndBufStart(c, c.sndUna);
  c.layer.addTimeWait(c);
  c.notifyClose();
}

/** Input for a connection in SYN-SENT (RFC 9293 §3.10.7.3). */
export function synSentInput(c: TcpConnection, seg: TcpSegment, m: Mbuf, now: number): void {
  const layer = c.layer;
  const flags = seg.flags;
  if (flags & TcpFlag.ACK) {
    if (seqLeq(seg.ack, c.iss) || seqGt(seg.ack, c.sndMax)) {
      c.pool.free(m);
      layer.drop('badAck');
      if (!(flags & TcpFlag.RST)) sendRstReply(layer, seg, c.localIp, c.remoteIp, c.v6);
      return;
    }
    // A SYN-ACK echoing a timestamp we never sent (before our first SYN or in the future) is
    // refused with a reset, as Linux tcp_rcv_synsent_state_process (PAWSActiveRejected).
    if ((flags & (TcpFlag.SYN | TcpFlag.RST)) === TcpFlag.SYN && c.cfg.timestamps && seg.hasTimestamps && seg.tsEcr !== 0) {
      const lo = tsNow(c, c.lastRecvAt);
      if (((seg.tsEcr - lo) >>> 0) > ((tsNow(c, now) - lo) >>> 0)) {
        c.pool.free(m);
        layer.drop('paws');
        sendRstReply(layer, seg, c.localIp, c.remoteIp, c.v6);
        return;
      }
    }
  }
  // TCP Fast Open (RFC 7413): the SYN-ACK's cookie, and SYN data it did not acknowledge.
  const synAck = (flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === (TcpFlag.SYN | TcpFlag.ACK);
  if (c.fo !== null && synAck) fastOpenSynAck(c, seg, m, now);
  // Text on a SYN-ACK is the peer's first data (RFC 9293 §3.10.7.3 "continue processing at the
  // sixth step"; FreeBSD queues it, as Linux does after Fast Open): keep it for the receive buffer.
  let text = NO_MBUF;
  const plen = seg.payloadLen;
  if (synAck && plen > 0 && plen <= c.cfg.rcvBuf) {
    text = trimFront(c.pool, m, seg.hdrLen);
    if (c.pool.pktLen(text) > plen) c.pool.truncate(text, plen);
  } else {
    c.pool.free(m);
  }
  if (flags & TcpFlag.RST) {
    if (flags & TcpFlag.ACK) {
      layer.counters.resetsReceived++;
      layer.release(c, new TcpError('ECONNREFUSED', 'connection refused'));
    } else {
      layer.drop('rstWithoutAck');
    }
    return;
  }
  if (!(flags & TcpFlag.SYN)) { layer.drop('noSyn'); return; }
  tcbSynSent(c, seg, now); // the peer's ISN, options and window
  if (flags & TcpFlag.ACK) {
    // SYN-ACK: our SYN is acknowledged.
    takeRttSample(c, seg, now, seg.ack);
    if (c.retries > 0 && !c.rtt.hasSample) c.rtt.reset(3000); // RFC 6298 §5.7
    sndAcked(c, seg.ack);
    resetRetries(c);
    stopRtx(c);
    established(c, now);
    if (text !== NO_MBUF) {
      c.recvBuf.push(text);
      rcvTakeSynData(c, plen);
      layer.counters.rxBytes += plen;
      c.bytesReceived += plen;
      c.lastDataRcvAt = now;
    }
    // A FIN on the SYN-ACK (after all its text, else it is out of order): CLOSE-WAIT
    // (RFC 9293 §3.10.7.3 goes on at the sixth step, so the eighth, the FIN, applies; Linux too).
    const fin = (flags & TcpFlag.FIN) !== 0 && (text !== NO_MBUF || plen === 0) && receiveFin(c, now);
    c.ackNow = true;
    tcpOutput(c, now);
    armTimers(c);
    c.onConnect?.();
    if ((text !== NO_MBUF || fin) && c.state !== TcpState.Closed) {
      c.inEvents = true;
      try { fire(c, (text !== NO_MBUF ? EV_READABLE : 0) | (fin ? EV_PEER_FIN : 0)); } finally { c.inEvents = false; }
    }
    return;
  }
  // Simultaneous open (RFC 9293 §3.5, figure 8): SYN-RECEIVED, SYN-ACK with our ISS.
  tcbSimultaneousOpen(c, flags);
  sndRewind(c, c.iss);
  stopRtx(c);
  tcpOutput(c, now);
  armTimers(c);
}

/**
 * Bytes of [a, b) delivered before this ACK: what the SACK scoreboard holds,
 * or without SACK one segment per duplicate ACK, at least one segment left
 * to this ACK (Linux tcp_remove_reno_sacks).
 */
function sackedIn(c: TcpConnection, a: number, b: number): number {
  const sb = (c.loss as { sb?: { sacked: { covered(a: number, b: number): number } } }).sb;
  if (sb !== undefined) return sb.sacked.covered(a, b);
  if (c.sackOk || c.dupAcks === 0) return 0;
  return Math.max(0, Math.min(c.dupAcks * c.mss, seqDiff(b, a) - c.mss));
}

function takeRttSample(c: TcpConnection, seg: TcpSegment, now: number, ack: Seq): number | undefined {
  let rtt: number | undefined;
  if (c.tsOk && seg.hasTimestamps && seg.tsEcr !== 0) {
    if (!c.rtxTsValid || seqGeq(seg.tsEcr, c.rtxTsVal)) {
      const d = (tsNow(c, now) - seg.tsEcr) >>> 0;
      if (d < 0x7fffffff) rtt = d;
    }
  } else if (c.rttTiming && seqGeq(ack, c.rttSeq)) {
    rtt = now - c.rttStart;
    stopRttTiming(c);
  }
  // The sequence numbers only for Linux's estimator: passed, each would be boxed.
  if (rtt !== undefined) {
    if (c.rtt.linux) c.rtt.sample(rtt, ack, c.sndMax);
    else c.rtt.sample(rtt);
  }
  return rtt;
}

/** Whether the segment passes the four-case acceptability test (RFC 9293 §3.10.7.4). */
function acceptable(c: TcpConnection, seq: Seq, segLen: number, rcvWnd: number): boolean {
  if (segLen === 0) {
    return rcvWnd === 0 ? seq === c.rcvNxt : seqInRange(seq, c.rcvNxt, seqAdd(c.rcvNxt, rcvWnd));
  }
  if (rcvWnd === 0) return false;
  const hi = seqAdd(c.rcvNxt, rcvWnd);
  return seqInRange(seq, c.rcvNxt, hi) || seqInRange(seqAdd(seq, segLen - 1), c.rcvNxt, hi);
}

/**
 * Input for a connection in a synchronized state or SYN-RECEIVED
 * (RFC 9293 §3.10.7.4).
 */
export function connInput(c: TcpConnection, seg: TcpSegment, m: Mbuf, now: number): void {
  const layer = c.layer;
  const pool = c.pool;
  let flags = seg.flags;
  let ev = 0;
  // An ACK held for a reply in this burst goes before the next segment is processed.
  if (c.ackDeferred) flushDeferredAck(c, now);
  let seq = seg.seq;
  let plen = seg.payloadLen;
  let payOff = seg.payOff;
  const ack = seg.ack;
  // Header prediction (BSD tcp_input, Linux's fast path): the next in-order
  // segment of an established connection, ACK set and no other control bit,
  // passing PAWS, inside the window last advertised, acknowledging nothing
  // beyond SND.MAX nor below SND.UNA, passes every check below unchanged
  // (acceptable, nothing to trim, no RST or SYN, an acceptable ACK): they
  // are skipped.
  if (c.state === TcpState.Established && (flags & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST | TcpFlag.ACK)) === TcpFlag.ACK
    && seq === c.rcvNxt && plen <= seqDiff(c.rcvAdv, c.rcvNxt) + c.rcvAdvSlack
    && !(c.tsOk && seg.hasTimestamps && seqLt(seg.tsVal, c.tsRecent))
    && seqGeq(ack, c.sndUna) && seqLeq(ack, c.sndMax)) {
    peerHeard(c, now);
  } else {
    if (c.state === TcpState.TimeWait && c.cfg.bsdTimeWait) { timeWaitBsd(c, seg, m, now); return; }

    // ---- SYN-RECEIVED: an unacceptable ACK gets a RST (RFC 9293 §3.10.7.4) ----
    // Checked before the sequence number, as Linux tcp_check_req: the typical
    // case is a peer whose old incarnation of the 4-tuple sits in TIME-WAIT and
    // answers our SYN-ACK with that connection's ACK, out of our window. A bare
    // ACK back would ping-pong; <SEQ=SEG.ACK><CTL=RST> ends its TIME-WAIT, and
    // the entry stays (the RFC does not remove it) for the peer's SYN retry.
    // A RST keeps the RFC's order (its sequence number decides, second check).
    if (c.state === TcpState.SynReceived && (flags & (TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.ACK
      && !(seqGt(seg.ack, c.sndUna) && seqLeq(seg.ack, c.sndMax))) {
      pool.free(m);
      layer.drop('badAckSynReceived');
      sendRstReply(layer, seg, c.localIp, c.remoteIp, c.v6);
      return;
    }

    // ---- PAWS (RFC 7323 §5.3) ----
    if (c.tsOk && seg.hasTimestamps && !(flags & TcpFlag.RST) && seqLt(seg.tsVal, c.tsRecent)) {
      if (now - c.tsRecentAge > PAWS_IDLE_MS) {
        c.tsRecent = seg.tsVal; c.tsRecentAge = now;
      } else {
        layer.drop('paws');
        pool.free(m);
        c.ackNow = true;
        tcpOutput(c, now);
        armTimers(c);
        return;
      }
    }

    // ---- sequence acceptability ----
    const segLen = seg.segLen();
    // Up to the edge the peer saw: rcvAdv plus the scale rounding of the last window field.
    let rcvWnd = Math.max(0, seqDiff(c.rcvAdv, c.rcvNxt) + c.rcvAdvSlack);
    // Not for a listener's half-open entry (FreeBSD's syncache has the advertised window only)
    // nor in TIME-WAIT (FreeBSD's tcptw keeps no buffer).
    if (c.cfg.rcvWndFromBuffer && c.state !== TcpState.TimeWait
      && !(c.state === TcpState.SynReceived && c.parent !== null && !c.activeOpen)) {
      const space = c.cfg.rcvBuf - c.recvBuf.length;
      if (space > rcvWnd) rcvWnd = space;
    }
    if (!acceptable(c, seq, segLen, rcvWnd)) {
      // A zero window still takes valid ACKs and RSTs at RCV.NXT (§3.10.7.4).
      if (rcvWnd === 0 && seq === c.rcvNxt) {
        plen = 0;
        flags &= ~(TcpFlag.FIN | TcpFlag.SYN);
        layer.drop('zeroWindow');
      } else {
        pool.free(m);
        if (flags & TcpFlag.RST) { layer.drop('rstOutOfWindow'); return; }
        if (c.state === TcpState.SynReceived && (flags & TcpFlag.SYN) && !(flags & TcpFlag.ACK) && seq === c.irs) {
          // Our SYN-ACK was lost: the peer repeats its SYN.
          sndRewind(c, c.iss);
          layer.counters.synAckRetransmits++;
          tcpOutput(c, now);
          armTimers(c);
          return;
        }
        layer.drop('outOfWindow');
        // An entirely old segment is a duplicate: name it in a D-SACK block (RFC 2883).
        if (c.sackOk && seg.payloadLen > 0 && seqLeq(seqAdd(seq, seg.payloadLen), c.rcvNxt)) {
          c.ooo.dsack(seq, seqAdd(seq, seg.payloadLen));
          layer.counters.dupDataSegments++;
        }
        if (c.state === TcpState.TimeWait && (flags & TcpFlag.FIN)) startTimeWaitTimer(c, now);
        c.ackNow = true;
        tcpOutput(c, now);
        armTimers(c);
        return;
      }
    }
    peerHeard(c, now);

    // ---- trim to the window ----
    let dropFront = seqDiff(c.rcvNxt, seq);
    if (dropFront > 0) {
      if (flags & TcpFlag.SYN) { flags &= ~TcpFlag.SYN; seq = seqAdd(seq, 1); dropFront--; }
      if (dropFront > 0) {
        if (dropFront >= plen) {
          if (dropFront > plen) flags &= ~TcpFlag.FIN; // the FIN is old too
          dropFront = plen;
        }
        payOff += dropFront;
        plen -= dropFront;
        seq = seqAdd(seq, dropFront);
        c.ackNow = true; // duplicate data: answer at once
        if (c.sackOk) c.ooo.dsack(seqAdd(seq, -dropFront), seq); // RFC 2883
        layer.counters.dupDataSegments++;
      }
    }
    const over = seqDiff(seqAdd(seq, plen + ((flags & TcpFlag.SYN) ? 1 : 0)), seqAdd(c.rcvNxt, rcvWnd));
    if (over > 0) {
      flags &= ~TcpFlag.FIN;
      if (over >= plen) plen = 0; else plen -= over;
      c.ackNow = true;
    }

    // ---- RST (RFC 5961 §3.2) ----
    if (flags & TcpFlag.RST) {
      pool.free(m);
      if (c.state === TcpState.TimeWait) {
        // RFC 1337 (TIME-WAIT assassination), as FreeBSD tcp_twcheck: an RST does not
        // end TIME-WAIT. Releasing here would also free received bytes the application
        // has not read yet (sockets read on a later tick), e.g. when a closed peer
        // answers a duplicate of our last ACK with RST.
        layer.drop('rstInTimeWait');
        return;
      }
      // (The acceptability test above put seg.seq in the window: RFC 793 accepts it as it is.)
      if (seg.seq !== c.rcvNxt && !c.cfg.rstAcceptInWindow) {
        layer.drop('rstNotExact');
        challengeAck(c, now);
        armTimers(c);
        return;
      }
      layer.counters.resetsReceived++;
      switch (c.state) {
        case TcpState.SynReceived:
          // A Fast Open child is the application's already: reset, as a synchronized socket (Linux tcp_reset).
          if (c.fo !== null && c.fo.child) layer.release(c, new TcpError('ECONNRESET', 'connection reset by peer'));
          else if (c.parent !== null && !c.activeOpen) layer.release(c, undefined);
          else layer.release(c, new TcpError('ECONNREFUSED', 'connection refused'));
          return;
        case TcpState.Established:
        case TcpState.FinWait1:
        case TcpState.FinWait2:
        case TcpState.CloseWait:
        // CLOSING and LAST-ACK too: RFC 9293 says only "enter CLOSED", but the socket may still be
        // open (after shutdown) and both Linux (tcp_reset) and FreeBSD (tcp_do_segment) report it.
        case TcpState.Closing:
        case TcpState.LastAck:
          layer.release(c, new TcpError('ECONNRESET', 'connection reset by peer'));
          return;
        default:
          layer.release(c, undefined);
          return;
      }
    }

    // ---- SYN in a synchronized state (RFC 5961 §4.2) ----
    if (flags & TcpFlag.SYN) {
      pool.free(m);
      if (c.state === TcpState.SynReceived && c.parent !== null && !c.activeOpen) {
        layer.drop('synInSynReceived');
        layer.release(c, undefined); // back to LISTEN (§3.10.7.4, fourth step)
        return;
      }
      // RFC 793 (cfg.synInWindowReset, FreeBSD insecure_syn=1): a SYN in the window (trimming
      // above cleared the SYN bit of one before RCV.NXT) is an error: RST, ECONNRESET. Not in
      // TIME-WAIT, where a SYN may open a new incarnation (layer.ts; FreeBSD tcp_twcheck), nor in
      // a simultaneous open's SYN-RECEIVED (FreeBSD's check is for synchronized states only).
      if (c.cfg.synInWindowReset && c.state !== TcpState.TimeWait && c.state !== TcpState.SynReceived) {
        layer.drop('synInWindow');
        sendRstForConn(c);
        layer.release(c, new TcpError('ECONNRESET', 'connection reset: SYN in window'));
        return;
      }
      layer.drop('synInWindow');
      challengeAck(c, now);
      armTimers(c);
      return;
    }

    // ---- ACK ----
    if (!(flags & TcpFlag.ACK)) { pool.free(m); layer.drop('noAck'); return; }
    if (c.state === TcpState.SynReceived) {
      if (seqGt(ack, c.sndUna) && seqLeq(ack, c.sndMax)) {
        // A full accept queue: drop the segment, keep the entry (its SYN-ACK retransmission draws another ACK).
        // (A Fast Open child is in the accept queue, or accepted, since its SYN.)
        const queued = c.inAcceptQueue || (c.fo !== null && c.fo.child);
        if (c.parent !== null && !queued && !layer.acceptRoom(c)) { pool.free(m); return; }
        if (c.retries > 0 && !c.rtt.hasSample && !c.tsOk) c.rtt.reset(3000); // RFC 6298 §5.7
        established(c, now);
        sndWindow(c, seg.window << c.sndWscale, seg.seq, ack);
        ev |= EV_CONNECT;
        if (c.parent !== null && !queued) {
          if (!layer.acceptEstablished(c)) { pool.free(m); sendRstForConn(c); layer.release(c, undefined); return; }
        }
      } else {
        pool.free(m);
        layer.drop('badAckSynReceived');
        sendRstReply(layer, seg, c.localIp, c.remoteIp, c.v6);
        return;
      }
    }
    // RFC 5961 §5.2: acceptable if SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT.
    if (seqGt(ack, c.sndMax) || seqLt(ack, seqAdd(c.sndUna, -Math.max(c.maxSndWnd, 65535)))) {
      pool.free(m);
      layer.drop('ackOutOfWindow');
      if (c.cfg.unsentAckSilentDrop && seqGt(ack, c.sndMax)) return; // Linux tcp_ack: no answer
      challengeAck(c, now);
      armTimers(c);
      return;
    }
  }
  // RFC 7323 §4.3: TS.Recent from segments at or before the last ACK we sent.
  if (c.tsOk && seg.hasTimestamps && seqLeq(seg.seq, c.lastAckSent) && seqGeq(seg.tsVal, c.tsRecent)) {
    c.tsRecent = seg.tsVal;
    c.tsRecentAge = now;
  }
  const wndBefore = c.sndWnd;
  const newWnd = seg.window << c.sndWscale;
  if (c.ecnOk) ecnSender(c, flags, ack, now);
  // linuxSlowStart: what this ACK covers that was SACKed before was delivered then, and
  // SACKs alone never grow cwnd (Linux tcp_may_raise_cwnd): it grows by the rest.
  const sackedBefore = c.cfg.linuxSlowStart && seqGt(ack, c.sndUna) ? sackedIn(c, c.sndUna, ack) : 0;
  lossOnAck(c, seg, now); // with SACK: scoreboard, RACK-TLP, recovery entry/exit
  if (seqGt(ack, c.sndUna)) {
    if (processNewAck(c, seg, ack, now, sackedBefore)) ev |= EV_WRITABLE;
  } else if (ack === c.sndUna && plen === 0 && !(flags & TcpFlag.FIN) && newWnd === wndBefore
    && newWnd > 0 && c.sndMax !== c.sndUna && c.state !== TcpState.SynReceived) {
    layer.counters.dupAcks++;
    onDuplicateAck(c, now);
  }
  if (c.sackOk && seg.sackCount > 0) { c.sackBlocksReceived += seg.sackCount; layer.counters.sackBlocksReceived += seg.sackCount; }
  // Window update (SND.WL1/WL2 rule).
  if (seqLt(c.sndWl1, seg.seq) || (c.sndWl1 === seg.seq && seqLeq(c.sndWl2, ack))) {
    // slowStartAfterIdle: a window change with data waiting may end an idle period
    // (Linux tcp_ack_update_window: idle since the last transmission).
    if (c.cfg.slowStartAfterIdle && newWnd !== c.sndWnd && c.unsentBytes() > 0) c.restartIdleSince(c.lastDataSentAt);
    sndWindow(c, newWnd, seg.seq, ack);
    if (newWnd > 0 && wndBefore === 0) resetPersist(c);
  }
  // State changes driven by our FIN being acknowledged.
  const finAcked = c.finPending && c.sndUna === seqAdd(c.dataEnd(), 1);
  switch (c.state) {
    case TcpState.FinWait1:
      if (finAcked) {
        setState(c, TcpState.FinWait2, 'finAcked');
        if (c.appClosed) startTimeWaitTimer(c, now); // orphaned FIN-WAIT-2 limit
      }
      break;
    case TcpState.Closing:
      if (finAcked) { pool.free(m); enterTimeWait(c, now); tcpOutput(c, now); armTimers(c); return; }
      break;
    case TcpState.LastAck:
      if (finAcked) { pool.free(m); layer.release(c, undefined); return; }
      break;
    case TcpState.TimeWait:
      // Only a retransmitted FIN is answered (RFC 9293 §3.10.7.4): ACKing
      // every ACK would ping-pong forever between two TIME-WAIT ends.
      if (flags & TcpFlag.FIN) { startTimeWaitTimer(c, now); c.ackNow = true; }
      break;
    default:
      break;
  }

  // ---- URG: ignored (RFC 6093 deprecates it; the data is delivered inline) ----

  if (c.ecnOk) ecnReceiver(c, flags, plen);

  // ---- segment text ----
  let ackForData = false; // an immediate ACK owed only for in-order data: it may wait for the app's reply
  if (plen > 0 && canReceive(c.state)) {
    if (c.appClosed) {
      // Data for a closed socket: reset (RFC 2525 §2.17), in answer to the segment
      // (<SEQ=SEG.ACK><CTL=RST>), as Linux (tcp_rcv_state_process returns 1 and
      // tcp_v4_do_rcv sends tcp_v4_send_reset) and FreeBSD (dropwithreset) do.
      layer.counters.resetsDataAfterClose++;
      sendRstReply(layer, seg, c.localIp, c.remoteIp, c.v6);
      pool.free(m);
      layer.release(c, undefined);
      return;
    }
    let p = trimFront(pool, m, payOff);
    if (pool.pktLen(p) > plen) pool.truncate(p, plen);
    m = NO_MBUF;
    layer.counters.rxBytes += plen;
    c.bytesReceived += plen;
    if (seq === c.rcvNxt) {
      const hadHole = c.ooo.bytes > 0;
      c.recvBuf.push(p);
      rcvTake(c, plen);
      if (hadHole) {
        drainOoo(c);
        c.ackNow = true; // filled (part of) a hole: ACK at once (RFC 5681 §4.2)
      } else {
        c.unackedBytes += plen;
        c.lastDataRcvAt = now;
        measureRcvMss(c, plen);
        const owed = c.ackNow;
        if (c.quickAcks > 0) { c.quickAcks--; c.ackNow = true; } // quick-ACK mode (config quickAck)
        else if (c.unackedBytes >= 2 * c.rcvMss) c.ackNow = true; // every second full-size segment
        else if (c.cfg.ackEverySecondSegment && c.delackAt !== Infinity) c.ackNow = true; // FreeBSD: every second segment
        else if (c.delackAt === Infinity) startDelack(c, now);
        ackForData = !owed && c.ackNow;
      }
      ev |= EV_READABLE;
    } else {
      const dropped = c.ooo.droppedSegments;
      if (!c.ooo.insert(pool, seq, p) && c.ooo.droppedSegments !== dropped) layer.drop('oooFull');
      c.ackNow = true; // out of order: immediate duplicate ACK (with SACK)
      layer.counters.oooSegments++;
    }
  } else if (plen > 0) {
    layer.drop('dataAfterFin');
  }
  if (m !== NO_MBUF) pool.free(m);

  // ---- FIN ----
  if (flags & TcpFlag.FIN) {
    const finSeq = seqAdd(seq, plen);
    if (finSeq === c.rcvNxt) {
      if (receiveFin(c, now)) ev |= EV_PEER_FIN;
    } else if (seqGt(finSeq, c.rcvNxt)) {
      c.oooFin = finSeq; // processed when the hole before it fills
      c.ackNow = true;
    }
  }
  if (c.oooFin !== -1 && c.rcvNxt === c.oooFin && !c.finReceived) {
    c.oooFin = -1;
    if (receiveFin(c, now)) ev |= EV_PEER_FIN;
  }

  if (c.state !== TcpState.Closed) {
    // The app hears of the data below and may answer at once: hold the ACK
    // so its reply carries it (sent bare after the handlers, or at the end
    // of the receive burst, only if nothing did).
    // Output waits too (one tcpOutput, not two): the app's write sends what
    // is due, else flushDeferredAck does.
    if (ackForData && c.ackNow && !(flags & TcpFlag.FIN) && c.onReadable !== undefined) {
      c.ackNow = false;
      c.ackDeferred = true;
    } else {
      if (c.ackNow && c.cfg.ackRepeatsFin) repeatFin(c, now);
      tcpOutput(c, now);
    }
    armTimers(c);
  }
  if (ev !== 0) {
    c.inEvents = true;
    try { fire(c, ev); } finally { c.inEvents = false; }
  }
  if (c.ackDeferred && !layer.deferAck(c)) flushDeferredAck(c, now);
}

/**
 * TIME-WAIT as FreeBSD's tcp_twcheck (TcpConfig.bsdTimeWait): no window
 * test; RST and segments without ACK dropped (RFC 1337); a duplicate FIN
 * restarts 2MSL; anything but an exact duplicate of the last ACK is ACKed.
 */
function timeWaitBsd(c: TcpConnection, seg: TcpSegment, m: Mbuf, now: number): void {
  const layer = c.layer;
  c.pool.free(m);
  const flags = seg.flags;
  if (flags & TcpFlag.RST) { layer.drop('rstInTimeWait'); return; }
  if (!(flags & TcpFlag.ACK)) { layer.drop('noAck'); return; }
  if ((flags & TcpFlag.FIN) && seqAdd(seg.seq, seg.payloadLen + (flags & TcpFlag.SYN ? 1 : 0) + 1) === c.rcvNxt) {
    startTimeWaitTimer(c, now);
  }
  if (flags === TcpFlag.ACK && seg.payloadLen === 0
    && seg.seq === c.rcvNxt && seg.ack === c.sndMax) return; // a duplicate of the last ACK
  c.ackNow = true;
  tcpOutput(c, now);
  armTimers(c);
}

/**
 * The ACK owed carries our unacknowledged FIN again, at its own sequence
 * number (TcpConfig.ackRepeatsFin, FreeBSD's tcp_output).
 */
function repeatFin(c: TcpConnection, now: number): void {
  const st = c.state;
  if (st !== TcpState.FinWait1 && st !== TcpState.Closing && st !== TcpState.LastAck) return;
  const finSeq = c.dataEnd();
  if (!c.finPending || c.sndMax !== seqAdd(finSeq, 1) || c.sndNxt !== c.sndMax || !seqLeq(c.sndUna, finSeq)) return;
  sendSegment(c, finSeq, 0, TcpFlag.ACK | TcpFlag.FIN, now);
}

/**
 * Send the ACK `c` held for the application's reply, unless a segment
 * since carried it (and the window update the app's read made, if any).
 */
export function flushDeferredAck(c: TcpConnection, now: number): void {
  if (!c.ackDeferred) return;
  c.ackDeferred = false;
  if (c.state === TcpState.Closed) return;
  // A segment sent since (the reply) carried the ACK, and that output ran
  // sent all that was due; else the ACK goes now with whatever is due.
  if (c.lastAckSent === c.rcvNxt && !c.wndUpdate) return;
  c.ackNow = true;
  tcpOutput(c, now);
  armTimers(c);
}

/**
 * A challenge ACK (RFC 5961), at most one per connection per
 * challengeAckIntervalMs (Linux tcp_oow_rate_limited), then within the
 * layer's randomized budget (TcpLayer.challengeAllowed). A connection's own
 * limit keeps one prober from draining the shared budget, and what one
 * connection sends says nothing of another's (CVE-2016-5696).
 */
function challengeAck(c: TcpConnection, now: number): void {
  const iv = c.cfg.challengeAckIntervalMs;
  if (iv > 0) {
    const d = now - c.lastChallengeAt;
    if (d >= 0 && d < iv) { c.layer.counters.challengeAcksLimited++; return; }
    c.lastChallengeAt = now;
  }
  sendChallengeAck(c, now);
}

/**
 * Raise the estimate of the peer's full segment size (Linux
 * tcp_measure_rcv_mss) from one in-order data segment of `plen` bytes; a GRO
 * aggregate is measured by its original segments' size, not its total.
 */
function measureRcvMss(c: TcpConnection, plen: number): void {
  const segLen = c.layer.rxSegLen > 0 ? c.layer.rxSegLen : plen;
  if (segLen > c.rcvMss) c.rcvMss = Math.min(segLen, c.advMss);
}

function drainOoo(c: TcpConnection): void {
  for (;;) {
    const ch = c.ooo.drain(c.rcvNxt);
    if (ch === NO_MBUF) break;
    rcvTake(c, c.pool.pktLen(ch));
    c.recvBuf.push(ch);
  }
}

/** An in-order FIN. @returns true when the application should hear of it */
function receiveFin(c: TcpConnection, now: number): boolean {
  if (c.finReceived) { c.ackNow = true; return false; }
  c.finReceived = true;
  rcvTake(c, 1);
  c.ackNow = true;
  switch (c.state) {
    case TcpState.SynReceived:
    case TcpState.Established:
      setState(c, TcpState.CloseWait, 'finReceived');
      break;
    case TcpState.FinWait1:
      if (c.finPending && c.sndUna === seqAdd(c.dataEnd(), 1)) enterTimeWait(c, now);
      else setState(c, TcpState.Closing, 'simultaneousClose');
      break;
    case TcpState.FinWait2:
      enterTimeWait(c, now);
      break;
    default:
      break;
  }
  return true;
}

/**
 * SND.UNA advances to `ack`: free acknowledged data, take an RTT sample,
 * grow the window, restart or stop the retransmission timer.
 * @returns true when the application should hear that send space opened
 */
function processNewAck(c: TcpConnection, seg: TcpSegment, ack: Seq, now: number, sackedBefore = 0): boolean {
  const layer = c.layer;
  const acked = seqDiff(ack, c.sndUna);
  const flight = seqDiff(c.sndMax, c.sndUna);
  let dataAcked = seqDiff(ack, c.bufSeq);
  if (dataAcked > c.sendBuf.length) dataAcked = c.sendBuf.length;
  if (dataAcked > 0) {
    c.sendBuf.ack(dataAcked);
    sndBufStart(c, seqAdd(c.bufSeq, dataAcked));
  }
  const rtt = takeRttSample(c, seg, now, ack);
  sndAcked(c, ack);
  if (c.sndUna === c.sndMax) clearRtxTs(c); // nothing retransmitted is outstanding
  resetRetries(c);
  c.cc.onAck(acked - sackedBefore, rtt, flight, now);
  onAckAdvance(c, now);
  if (c.sndUna === c.sndMax) stopRtx(c);
  else restartRtx(c, now);
  layer.counters.bytesAcked += dataAcked > 0 ? dataAcked : 0;
  return c.writableAgain();
}

/**
 * Receiver side of ECN: CE on an arriving segment makes our ACKs carry ECE.
 * Classic RFC 3168 §6.1.3 repeats ECE until the sender's CWR; DCTCP
 * (RFC 8257 §3.2) echoes exactly whether the latest segment was marked and
 * ACKs at once when that changes.
 */
function ecnReceiver(c: TcpConnection, flags: number, plen: number): void {
  const ce = (c.layer.rxTos & Ecn.CE) === Ecn.CE;
  if (c.cc.echoCePerSegment === true) {
    if (ce !== c.ecnEcho) { c.ecnEcho = ce; c.ackNow = true; }
    return;
  }
  if (flags & TcpFlag.CWR) c.ecnEcho = false;
  if (ce && plen > 0) { c.ecnEcho = true; c.ackNow = true; }
}

/** Sender side of ECN: feed ECE to the congestion controller; CWR follows a reduction. */
function ecnSender(c: TcpConnection, flags: number, ack: Seq, now: number): void {
  const acked = seqGt(ack, c.sndUna) ? seqDiff(ack, c.sndUna) : 0;
  const ece = (flags & TcpFlag.ECE) !== 0;
  if (c.cc.onEcnEcho) {
    if (c.cc.onEcnEcho(acked, ece, seqDiff(c.sndMax, c.sndUna), now)) c.ecnCwr = true;
  } else if (ece && !c.inRecovery && seqGt(ack, c.recover)) {
    c.cc.onCongestion('ecn', seqDiff(c.sndMax, c.sndUna), now);
    markEcnReduction(c);
    c.ecnCwr = true;
  }
}

/** Run the application callbacks collected while processing a segment. */
export function fire(c: TcpConnection, ev: number): void {
  if (ev === 0) return;
  if (ev & EV_CONNECT) {
    c.layer.announce(c);
    c.onConnect?.();
  }
  if ((ev & EV_READABLE) && c.recvBuf.length > 0) c.onReadable?.();
  if (ev & EV_PEER_FIN) c.onPeerFin?.();
  if ((ev & EV_WRITABLE) && c.state !== TcpState.Closed) c.onWritable?.();
}
