/**
 * The moves of the send and receive sequence spaces (RFC 9293 §3.3.1), the
 * only writers of those fields once tcb-init.ts has set their first values:
 * the sender advances SND.NXT/SND.MAX and rewinds SND.NXT to resend, an ACK
 * moves SND.UNA, a window update SND.WND/WL1/WL2; in-order data moves
 * RCV.NXT, and each segment sent records the window edge and the ACK it
 * carried. Small enough for V8 to inline on the per-segment paths.
 */
import type { Seq } from './seq.js';
import type { TcpConnection } from './connection.js';
import { seqAdd, seqGt, seqLt } from './seq.js';

// ---- send ----

/** A segment ending at `end` (SYN and FIN counted) went out: SND.NXT there, SND.MAX at least there. */
export function sndSent(c: TcpConnection, end: Seq): void {
  c.sndNxt = end;
  if (seqGt(end, c.sndMax)) c.sndMax = end;
}

/** New data ending at `end` went out from SND.MAX: both move there. */
export function sndSentNew(c: TcpConnection, end: Seq): void {
  c.sndNxt = end;
  c.sndMax = end;
}

/** Send again from `seq` (a timeout, a smaller path MTU, a repeated SYN, go-back-N); SND.MAX stays. */
export function sndRewind(c: TcpConnection, seq: Seq): void {
  c.sndNxt = seq;
}

/** An acceptable ACK of new data: SND.UNA to `ack`, SND.NXT no lower. */
export function sndAcked(c: TcpConnection, ack: Seq): void {
  c.sndUna = ack;
  if (seqLt(c.sndNxt, ack)) c.sndNxt = ack;
}

/** Acknowledged data left the send buffer: its first byte is now `seq`. */
export function sndBufStart(c: TcpConnection, seq: Seq): void {
  c.bufSeq = seq;
}

/** A window update (SND.WL1/WL2 rule passed, or the handshake's ACK): SND.WND, and the largest window seen. */
export function sndWindow(c: TcpConnection, wnd: number, wl1: Seq, wl2: Seq): void {
  c.sndWnd = wnd;
  if (wnd > c.maxSndWnd) c.maxSndWnd = wnd;
  c.sndWl1 = wl1;
  c.sndWl2 = wl2;
}

// ---- receive ----

/** `n` more sequence numbers arrived in order (data, or 1 for the FIN): RCV.NXT moves. */
export function rcvTake(c: TcpConnection, n: number): void {
  c.rcvNxt = seqAdd(c.rcvNxt, n);
}

/**
 * Data on a SYN or SYN-ACK taken: RCV.NXT past it and the advertised edge
 * with it (what the handshake's window offered is used up by it).
 */
export function rcvTakeSynData(c: TcpConnection, n: number): void {
  c.rcvNxt = seqAdd(c.rcvNxt, n);
  c.rcvAdv = c.rcvNxt;
}

/** A segment sent carried a window field: its right edge, and how far past it the field's rounding lets the peer go. */
export function rcvAdvertised(c: TcpConnection, edge: Seq, slack: number): void {
  c.rcvAdv = edge;
  c.rcvAdvSlack = slack;
}

/** A segment sent carried ACK = RCV.NXT (RFC 7323 Last.ACK.sent). */
export function rcvAckSent(c: TcpConnection): void {
  c.lastAckSent = c.rcvNxt;
}
