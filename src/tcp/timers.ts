/**
 * Per-connection timers on the layer's one {@link TimerQueue}: each
 * connection keeps a deadline per kind (retransmission, persist, keepalive,
 * delayed ACK, TIME-WAIT) and sits in the queue once, at the earliest. A
 * deadline that moves later is not pushed into the heap: the early wake-up
 * finds nothing due and re-queues, so an ACK stream costs no heap work.
 */
import type { Seq } from './seq.js';
import { TcpState, isClosed } from './state.js';
import type { TcpConnection } from './connection.js';
import { TcpError } from './connection.js';
import { tcpOutput, sendProbe, persistInterval } from './output.js';
import { seqDiff } from './seq.js';
import { lossOnRto } from './loss.js';
import { endEpisodeOnTimeout } from './recovery.js';
import { sndRewind } from './seq-space.js';

// ---- the deadlines, the backoff counts and RTT timing: their only writers ----

/** Start the retransmission timer unless it runs (RFC 6298 §5.1). */
export function armRtx(c: TcpConnection, now: number): void {
  if (c.rtxAt === Infinity) c.rtxAt = now + c.rtt.rto;
}

/** (Re)start the retransmission timer one RTO from now (RFC 6298 §5.3, a probe). */
export function restartRtx(c: TcpConnection, now: number): void {
  c.rtxAt = now + c.rtt.rto;
}

/** Stop the retransmission timer (everything acknowledged, RFC 6298 §5.2). */
export function stopRtx(c: TcpConnection): void {
  c.rtxAt = Infinity;
}

/** Start the persist timer unless it runs. */
export function armPersist(c: TcpConnection, now: number): void {
  if (c.persistAt === Infinity) c.persistAt = now + persistInterval(c);
}

/** Stop the persist timer, keeping its backoff (data went out: the retransmission timer covers it). */
export function stopPersistTimer(c: TcpConnection): void {
  c.persistAt = Infinity;
}

/** Stop the persist timer and forget its backoff (the window opened). */
export function resetPersist(c: TcpConnection): void {
  c.persistAt = Infinity;
  c.persistShift = 0;
}

/** An ACK is owed: send it after the delayed-ACK time. */
export function startDelack(c: TcpConnection, now: number): void {
  c.delackAt = now + c.cfg.delayedAckMs;
}

/** An ACK left: nothing owed. */
export function stopDelack(c: TcpConnection): void {
  c.delackAt = Infinity;
}

/** 2×MSL from now: TIME-WAIT's end, or the orphaned FIN-WAIT-2 limit. */
export function startTimeWaitTimer(c: TcpConnection, now: number): void {
  c.twAt = now + c.cfg.timeWaitMs;
}

/** Stop every per-connection timer (TIME-WAIT starts its own after; release keeps none). */
export function stopConnTimers(c: TcpConnection): void {
  c.rtxAt = c.persistAt = c.keepAt = c.delackAt = c.twAt = Infinity;
}

/** The handshake completed: the idle time counts from now, and keepalive (when on) waits it. */
export function startKeepalive(c: TcpConnection, now: number): void {
  c.lastRecvAt = now;
  if (c.keepalive) c.keepAt = now + c.cfg.keepaliveIdleMs;
}

/** An acceptable segment arrived: the peer is alive, no keepalive probe is outstanding. */
export function peerHeard(c: TcpConnection, now: number): void {
  c.lastRecvAt = now;
  c.keepProbes = 0;
}

/** Keepalive was turned on or off (or its idle time changed): restart its count and deadline. */
export function keepaliveChanged(c: TcpConnection, on: boolean): void {
  c.keepProbes = 0;
  c.keepAt = on ? c.lastRecvAt + c.cfg.keepaliveIdleMs : Infinity;
  if (on && c.keepAt < c.layer.now) c.keepAt = c.layer.now + c.cfg.keepaliveIdleMs;
  armTimers(c);
}

/** New data was acknowledged: the timeouts of the current segment start again from none. */
export function resetRetries(c: TcpConnection): void {
  c.retries = 0;
}

/** A retransmission outside the timer (a SYN resent at once for a smaller path MTU) counts as a timeout's. */
export function retried(c: TcpConnection): void {
  c.retries++;
}

/** Time the segment ending at `seq`, sent now (Karn timing, without timestamps). */
export function startRttTiming(c: TcpConnection, seq: Seq, now: number): void {
  c.rttTiming = true;
  c.rttSeq = seq;
  c.rttStart = now;
}

/** No RTT sample from the timed segment: it was sampled, or retransmitted (Karn). */
export function stopRttTiming(c: TcpConnection): void {
  c.rttTiming = false;
}

/** A retransmission left with TSval `tsVal`: echoes of older TSvals are ambiguous (Karn for timestamps). */
export function markRtxTs(c: TcpConnection, tsVal: number): void {
  c.rtxTsVal = tsVal;
  c.rtxTsValid = true;
}

/** Nothing retransmitted is outstanding any more: every echo samples again. */
export function clearRtxTs(c: TcpConnection): void {
  c.rtxTsValid = false;
}

/**
 * The earliest of a connection's deadlines, into `c.timerDue` (where
 * TimerQueue.scheduleDue takes it from): a double stored in a field
 * allocates nothing, where the same double returned from a call that is not
 * inlined (armTimers' callers are large) is boxed.
 */
function noteEarliest(c: TcpConnection): void {
  let t = c.rtxAt;
  if (c.persistAt < t) t = c.persistAt;
  if (c.keepAt < t) t = c.keepAt;
  if (c.delackAt < t) t = c.delackAt;
  if (c.twAt < t) t = c.twAt;
  if (c.paceAt < t) t = c.paceAt;
  const l = c.loss.nextAt();
  if (l < t) t = l;
  c.timerDue = t;
}

/** Make the timer queue hold the connection at (no later than) its earliest deadline. */
export function armTimers(c: TcpConnection): void {
  const q = c.layer.timers;
  if (c.state === TcpState.Closed) { q.cancel(c); return; }
  // The connection-establishment limit (TcpConfig.connectTimeoutMs) rides on the keepalive
  // deadline, unused before ESTABLISHED; lastRecvAt is still the connect() time.
  if (c.state === TcpState.SynSent && c.keepAt === Infinity && c.cfg.connectTimeoutMs > 0) c.keepAt = c.lastRecvAt + c.cfg.connectTimeoutMs;
  noteEarliest(c);
  const t = c.timerDue;
  // The entry moves with the deadline, later as well as earlier: an entry
  // left early (an ACK restarted the retransmission timer) fires for nothing,
  // and at thousands of connections that visit reads a cold connection's
  // deadlines and recovery state (~10 cache misses); moving it is a few
  // steps through the queue's typed arrays.
  if (t === Infinity) { q.cancel(c); return; }
  if (t !== c.timerAt || !q.has(c)) q.scheduleDue(c);
}

/** Run whatever is due on `c` (called by TcpLayer.tick for expired entries). */
export function runTimers(c: TcpConnection, now: number): void {
  if (c.state === TcpState.Closed) return;
  if (c.twAt <= now) {
    c.twAt = Infinity;
    if (c.state === TcpState.TimeWait || c.state === TcpState.FinWait2) {
      c.layer.release(c, undefined);
      return;
    }
  }
  // linuxTlp: a probe timer cut to the RTO's expiry takes the RTO's place (the probe re-arms it).
  if (c.cfg.linuxTlp) {
    const l = c.loss.nextAt();
    if (l <= now && l <= c.rtxAt) {
      c.loss.onTimers(c, now);
      if (isClosed(c)) return;
    }
  }
  if (c.rtxAt <= now) {
    c.rtxAt = Infinity;
    if (!onRetransmitTimeout(c, now)) return;
  }
  if (c.loss.nextAt() <= now) {
    c.loss.onTimers(c, now); // with SACK: RACK reordering timer, tail loss probe
    if (isClosed(c)) return;
  }
  if (c.paceAt <= now) {
    c.paceAt = Infinity;
    tcpOutput(c, now);
  }
  if (c.persistAt <= now) {
    c.persistAt = Infinity;
    onPersist(c, now);
  }
  if (c.keepAt <= now) {
    c.keepAt = Infinity;
    if (!onKeepalive(c, now)) return;
  }
  if (c.delackAt <= now) {
    c.delackAt = Infinity;
    c.ackNow = true;
    c.layer.counters.delayedAcks++;
    tcpOutput(c, now);
  }
  if (!isClosed(c)) {
    noteEarliest(c);
    if (c.timerDue !== Infinity) c.layer.timers.scheduleDue(c);
  }
}

/**
 * RFC 6298 §5.4–5.6: retransmit the earliest unacknowledged segment, back
 * off, and give up with ETIMEDOUT after the configured number of retries.
 * @returns false when the connection was closed
 */
function onRetransmitTimeout(c: TcpConnection, now: number): boolean {
  const layer = c.layer;
  if (c.sndUna === c.sndMax) return true; // nothing outstanding
  const syn = c.state === TcpState.SynSent || c.state === TcpState.SynReceived;
  // The first timeout of an episode: its data went out (or was last acknowledged) one RTO ago.
  if (c.retries === 0) c.rtxStartAt = now - c.rtt.rto;
  c.retries++;
  const ut = c.cfg.userTimeoutMs;
  // TCP_USER_TIMEOUT replaces the retry counts (Linux retransmits_timed_out): due once
  // retransmitting has gone on that long, never at the first timeout.
  if (ut > 0 ? c.retries > 1 && now - c.rtxStartAt >= ut : c.retries > (syn ? c.cfg.synRetries : c.cfg.maxRetries)) {
    layer.counters.timeouts++;
    if (c.state === TcpState.SynReceived && c.parent !== null) {
      layer.release(c, undefined); // a half-open passive connection dies quietly
    } else {
      layer.release(c, new TcpError('ETIMEDOUT', 'connection timed out'));
    }
    return false;
  }
  c.rtt.backoff();
  if (!syn) {
    const flight = seqDiff(c.sndMax, c.sndUna);
    c.cc.onCongestion('rto', flight, now);
    endEpisodeOnTimeout(c);
    // Without SACK go back N; with SACK everything unSACKed is lost and the
    // scoreboard resends only the holes.
    lossOnRto(c, now);
  }
  c.rttTiming = false; // Karn: no sample from retransmitted data
  if (syn) sndRewind(c, c.iss);
  tcpOutput(c, now);
  if (c.rtxAt === Infinity && c.sndUna !== c.sndMax) c.rtxAt = now + c.rtt.rto;
  // Linux tcp_clamp_rto_to_user_timeout: the next timeout no later than the user timeout's end.
  if (ut > 0 && c.rtxAt !== Infinity) c.rtxAt = Math.min(c.rtxAt, Math.max(now + 1, c.rtxStartAt + ut));
  return true;
}

/**
 * Persist timer (RFC 9293 §3.8.6.1): a closed window is probed with a
 * segment the peer must ACK; a window too small for SWS avoidance gets what
 * fits. Backs off like the RTO; never gives up while the peer answers.
 */
function onPersist(c: TcpConnection, now: number): void {
  const waiting = c.sendBuf.length - Math.max(0, seqDiff(c.sndNxt, c.bufSeq));
  if (waiting <= 0 || c.sndNxt !== c.sndUna) { c.persistShift = 0; return; }
  c.persistShift++;
  if (c.sndWnd === 0) {
    sendProbe(c, now);
    c.layer.counters.zeroWindowProbes++;
    c.persistAt = now + persistInterval(c);
    return;
  }
  c.forceProbe = true;
  tcpOutput(c, now);
}

/**
 * Keepalive (RFC 1122 §4.2.3.6): after keepaliveIdleMs without a segment
 * from the peer, probe every keepaliveIntervalMs; after keepaliveProbes
 * unanswered probes, ETIMEDOUT.
 * @returns false when the connection was closed
 */
function onKeepalive(c: TcpConnection, now: number): boolean {
  if (c.state === TcpState.SynSent && c.cfg.connectTimeoutMs > 0) {
    const due = c.lastRecvAt + c.cfg.connectTimeoutMs;
    if (now < due) { c.keepAt = due; return true; }
    c.layer.counters.timeouts++;
    c.layer.release(c, new TcpError('ETIMEDOUT', 'connection timed out'));
    return false;
  }
  if (!c.keepalive || c.state < TcpState.Established || c.state === TcpState.TimeWait) return true;
  const idleDue = c.lastRecvAt + c.cfg.keepaliveIdleMs;
  if (c.keepProbes === 0 && now < idleDue) { c.keepAt = idleDue; return true; }
  if (c.keepProbes > 0 && now - c.lastRecvAt < c.cfg.keepaliveIdleMs) {
    c.keepProbes = 0; c.keepAt = idleDue; return true;
  }
  if (c.keepProbes >= c.cfg.keepaliveProbes) {
    c.layer.counters.keepaliveTimeouts++;
    c.layer.release(c, new TcpError('ETIMEDOUT', 'keepalive timed out'));
    return false;
  }
  sendProbe(c, now);
  c.layer.counters.keepaliveProbes++;
  c.keepProbes++;
  c.keepAt = now + c.cfg.keepaliveIntervalMs;
  return true;
}
