/**
 * The TCB's first values (RFC 9293 §3.3.1, §3.10.1, §3.10.7.2-3): what a
 * new connection holds before its first segment (ISS, MSS, window shift,
 * TSval offset), what connect() and a listener's SYN set up, what a SYN
 * cookie's ACK restores, and what the peer's SYN settles in SYN-SENT, with
 * the options agreed on the SYN. One function per case; after the handshake
 * the sequence spaces move only through seq-space.ts, the timers through
 * timers.ts, the MSS through pmtu.ts (connection.ts names each group's writer).
 */
import type { Seq } from './seq.js';
import { TcpFlag, type TcpSegment } from './header.js';
import { WSCALE_OFF } from './config.js';
import { TcpOptLen } from './options.js';
import { seqAdd } from './seq.js';
import { TcpState, setState } from './state.js';
import type { TcpConnection } from './connection.js';
import { tsNow } from './output.js';
import { lossInit } from './loss.js';
import { setAdvMss, setMss } from './pmtu.js';
import { markRtxTs, startRttTiming } from './timers.js';

/**
 * A new connection's sequence numbers, MSS and window shift (before its SYN
 * or its answer to one): values the layer chose for it.
 */
export function tcbInit(c: TcpConnection, now: number, advMss: number, rcvWscale: number, iss: Seq, tsOffset: number): void {
  setAdvMss(c, advMss);
  setMss(c, Math.min(c.v6 !== null ? TcpOptLen.DEFAULT_MSS6 : TcpOptLen.DEFAULT_MSS, c.advMss));
  c.rcvMss = c.mss;
  c.quickAcks = c.cfg.quickAck;
  c.rcvWscale = rcvWscale;
  c.iss = iss;
  c.sndUna = iss;
  c.sndNxt = iss;
  c.sndMax = iss;
  c.recover = iss;
  c.bufSeq = seqAdd(iss, 1);
  c.tsOffset = tsOffset;
  c.lastRecvAt = now;
}

/** Apply the SYN's options to the connection (RFC 7323, RFC 2018, MSS). */
export function negotiateOptions(c: TcpConnection, seg: TcpSegment, now: number, offeredWs: boolean): void {
  applyOptions(c, c.cfg.sack && seg.sackPermitted, c.cfg.timestamps && seg.hasTimestamps, seg.tsVal,
    offeredWs ? seg.wscale : -1, seg.mss > 0 ? seg.mss : (c.v6 !== null ? TcpOptLen.DEFAULT_MSS6 : TcpOptLen.DEFAULT_MSS), now);
}

/**
 * Apply agreed options: from a SYN ({@link negotiateOptions}) or from a SYN
 * cookie's ACK ({@link tcbFromCookie}).
 * @param tsVal - the peer's TSval, TS.Recent from now on (with `ts`)
 * @param wscale - the peer's window shift, -1 when window scaling is not agreed
 * @param peerMss - the MSS the peer announced (536 for none; 1220 over IPv6)
 */
export function applyOptions(c: TcpConnection, sack: boolean, ts: boolean, tsVal: number, wscale: number, peerMss: number, now: number): void {
  c.sackOk = sack;
  c.tsOk = ts;
  if (ts) { c.tsRecent = tsVal; c.tsRecentAge = now; }
  if (wscale >= 0) {
    c.wsOk = true;
    c.sndWscale = wscale;
  } else {
    c.wsOk = false;
    c.sndWscale = 0;
    c.rcvWscale = 0;
  }
  setMss(c, Math.max(64, Math.min(peerMss, c.advMss)));
  c.rcvMss = Math.min(TcpOptLen.DEFAULT_MSS, c.mss);
  c.cc = c.layer.makeCc(c.cfg, c.mss);
  lossInit(c);
}

/** connect(): SYN-SENT, window scaling offered when configured, the SYN timed (RFC 9293 §3.10.1). */
export function tcbConnect(c: TcpConnection, now: number): void {
  c.activeOpen = true;
  c.wsOk = c.cfg.wscale > WSCALE_OFF;
  setState(c, TcpState.SynSent, 'connect');
  c.rcvAdv = 0 as Seq;
  startRttTiming(c, seqAdd(c.iss, 1), now);
}

/**
 * A listener's SYN (RFC 9293 §3.10.7.2): options agreed, the peer's ISN
 * and window taken, SYN-RECEIVED, the SYN-ACK timed as connect() times the
 * SYN (Linux tcp_synack_rtt_meas: the first RTO and probe timeout then
 * follow the path, not the 1 s default).
 */
export function tcbFromSyn(c: TcpConnection, seg: TcpSegment, now: number): void {
  const flags = seg.flags;
  c.wsOk = true;
  negotiateOptions(c, seg, now, c.cfg.wscale > WSCALE_OFF);
  // RFC 3168 §6.1.1 (ecnPassive: accept, never ask).
  c.ecnOk = (c.cfg.ecn || c.cfg.ecnPassive) && (flags & (TcpFlag.ECE | TcpFlag.CWR)) === (TcpFlag.ECE | TcpFlag.CWR);
  c.irs = seg.seq;
  c.rcvNxt = seqAdd(seg.seq, 1);
  c.rcvAdv = c.rcvNxt;
  c.lastAckSent = c.rcvNxt;
  c.sndWnd = seg.window; // unscaled in a SYN
  c.maxSndWnd = c.sndWnd;
  c.sndWl1 = seg.seq;
  c.sndWl2 = c.iss;
  setState(c, TcpState.SynReceived, 'passiveOpen');
  startRttTiming(c, seqAdd(c.iss, 1), now);
}

/**
 * The ACK completing a SYN cookie handshake: our ISN is SEG.ACK − 1, the
 * peer's SEG.SEQ − 1; the options the SYN offered come back from the cookie
 * (`sack`, `ts`, `wscale`, `peerMss`, `ecn`); the SYN-ACK offered `synWnd`.
 */
export function tcbFromCookie(c: TcpConnection, seg: TcpSegment, sack: boolean, ts: boolean, wscale: number, peerMss: number,
  ecn: boolean, synWnd: number, now: number): void {
  c.iss = seqAdd(seg.ack, -1);
  c.sndUna = c.iss;
  c.sndNxt = seg.ack;
  c.sndMax = seg.ack;
  c.recover = c.iss;
  c.bufSeq = seg.ack;
  c.wsOk = wscale >= 0;
  applyOptions(c, sack, ts, seg.tsVal, wscale, peerMss, now);
  c.ecnOk = ecn;
  c.irs = seqAdd(seg.seq, -1);
  c.rcvNxt = seg.seq;
  c.rcvAdv = seqAdd(c.rcvNxt, synWnd);
  c.lastAckSent = c.rcvNxt;
  c.sndWl1 = c.irs;
  c.sndWl2 = c.iss;
  // The echoed TSval had its low bits replaced: no RTT sample from it.
  if (ts) markRtxTs(c, (tsNow(c, now) + 1) >>> 0);
  setState(c, TcpState.SynReceived, 'passiveOpen');
}

/**
 * SYN-SENT takes the peer's SYN (a SYN-ACK, or a simultaneous open's SYN):
 * its ISN, options and window (never scaled in a SYN, RFC 7323 §2.2);
 * ECN as a SYN-ACK agrees it (RFC 3168 §6.1.1: ECE without CWR).
 */
export function tcbSynSent(c: TcpConnection, seg: TcpSegment, now: number): void {
  c.irs = seg.seq;
  c.rcvNxt = seqAdd(seg.seq, 1);
  c.lastAckSent = c.rcvNxt;
  negotiateOptions(c, seg, now, c.wsOk);
  c.rcvAdv = c.rcvNxt;
  c.sndWnd = seg.window;
  c.maxSndWnd = c.sndWnd;
  c.sndWl1 = seg.seq;
  c.sndWl2 = seg.ack;
  c.ecnOk = c.cfg.ecn && (seg.flags & (TcpFlag.ECE | TcpFlag.CWR)) === TcpFlag.ECE;
}

/**
 * Simultaneous open (RFC 9293 §3.5, figure 8): SYN-RECEIVED. The peer's SYN
 * is an ECN-setup SYN when it has both ECE and CWR (RFC 3168 §6.1.1), answered with ECE.
 */
export function tcbSimultaneousOpen(c: TcpConnection, flags: number): void {
  c.ecnOk = (c.cfg.ecn || c.cfg.ecnPassive) && (flags & (TcpFlag.ECE | TcpFlag.CWR)) === (TcpFlag.ECE | TcpFlag.CWR);
  setState(c, TcpState.SynReceived, 'simultaneousOpen');
}
