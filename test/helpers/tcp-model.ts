/**
 * A small pure model of one TCP connection, for the model-based test in
 * test/tcp-model.test.ts: what RFC 9293 (with RFC 5961 and RFC 2525) says
 * the connection's state, SND.UNA, RCV.NXT, bytes readable and queued, and
 * "FIN seen" become after an application call, a peer segment or the clock.
 *
 * The model predicts exactly where the RFCs leave no choice (a RST at
 * RCV.NXT, an in-order segment inside the advertised window acknowledging
 * new data, a FIN in order, shutdown() and close() in each state, TIME-WAIT
 * expiry with no segment since). Where the outcome depends on details the
 * model leaves out (window trimming, the out-of-order queue, PAWS, timers
 * other than TIME-WAIT) it names the states the connection may move to and
 * takes the connection's values after checking they are possible. Either
 * way every step is compared with the real connection.
 *
 * Functions here read no connection: they get plain snapshots.
 */
import { TcpState, legalTransitions } from '../../src/tcp/state.js';
import { ACK, FIN, RST, SYN, URG } from '../../src/tcp/header.js';
import { seqAdd, seqDiff, seqLeq, seqLt } from '../../src/tcp/seq.js';

const S = TcpState;

// ---------------------------------------------------------------------------
// RFC 9293 §3.3.2 transitions: the stack's own table (src/tcp/state.ts).
// ---------------------------------------------------------------------------

/**
 * Diagram edges for connection objects the model follows: state.ts's table,
 * except that CLOSED is final here (its moves to SYN-SENT/SYN-RECEIVED are a
 * connection's birth, before the model sees it, never a reopening).
 */
export const EDGES: Readonly<Record<number, readonly TcpState[]>> = Object.fromEntries(
  Array.from({ length: S.TimeWait + 1 }, (_, s) => [s, s === S.Closed ? [] : legalTransitions(s as TcpState)]),
);
/**
 * Paths one segment may take at once: its ACK completes the handshake and
 * its FIN closes the peer's side; with a FIN queued by shutdown() in
 * SYN-RECEIVED (RFC 9293 §3.10.4: sent once ESTABLISHED), the same segment
 * may also move on through FIN-WAIT-1.
 */
export const COMBOS: ReadonlySet<string> = new Set([
  `${S.SynSent}>${S.CloseWait}`, `${S.SynReceived}>${S.CloseWait}`,
  `${S.SynReceived}>${S.Closing}`, `${S.SynReceived}>${S.LastAck}`,
]);

/** May one command move a connection from `from` to `to`? */
export function allowed(from: TcpState, to: TcpState): boolean {
  return from === to || EDGES[from].includes(to) || COMBOS.has(`${from}>${to}`);
}

// --- end of the transition table -------------------------------------------

export const STATE_NAMES = ['Closed', 'Listen', 'SynSent', 'SynReceived', 'Established', 'FinWait1', 'FinWait2', 'CloseWait', 'Closing', 'LastAck', 'TimeWait'];

/** What the model carries for one connection between steps. */
export interface ConnModel {
  state: TcpState;
  iss: number;
  /** Peer's ISS once its SYN was seen. */
  irs: number | null;
  sndUna: number;
  rcvNxt: number;
  /** Bytes write() accepted, in total. */
  written: number;
  /** In-order bytes received and not yet read. */
  readable: number;
  /** The peer's FIN is inside RCV.NXT. */
  finSeen: boolean;
  /** shutdown() or close() queued our FIN. */
  finQueued: boolean;
  /** close() was called (reads are over; data arriving resets). */
  appClosed: boolean;
  /** End of data accepted beyond a hole (the out-of-order queue may hold bytes up to here). */
  oooEnd: number | null;
  /** Clock when TIME-WAIT was entered, or null. */
  twSince: number | null;
  /** A segment arrived in TIME-WAIT (its 2MSL timer may have restarted). */
  twTouched: boolean;
  /** A listener was closed while this connection lived (it may have been the one it would be handed to). */
  listenerClosed: boolean;
}

/** What the real connection shows (read by the test, handed to the model). */
export interface ConnSnapshot {
  state: TcpState;
  iss: number;
  irs: number;
  sndUna: number;
  sndMax: number;
  rcvNxt: number;
  /** Right edge of the window last advertised. */
  rcvAdv: number;
  readable: number;
  sendQueued: number;
  peerClosed: boolean;
  /** Timestamps in use on this connection. */
  ts: boolean;
}

/** The model's expectation for the step just taken. */
export interface Expectation {
  /** States the connection may be in after the step; one element is an exact prediction. */
  states: TcpState[];
  /** Exact RCV.NXT, when predicted. */
  rcvNxt?: number;
  /** Exact SND.UNA, when predicted. */
  sndUna?: number;
  /** Whether a move to CLOSED is an orderly end (readable bytes kept); undefined: either. */
  orderly?: boolean;
  /** The model after the step, before it takes the connection's unpredicted values. */
  next: ConnModel;
}

/** A new connection as connect() or a SYN to the listener makes it. */
export function newModel(snap: ConnSnapshot): ConnModel {
  return {
    state: snap.state, iss: snap.iss, irs: snap.state === S.SynReceived ? snap.irs : null,
    sndUna: snap.sndUna, rcvNxt: snap.rcvNxt, written: 0, readable: 0, finSeen: false, finQueued: false,
    appClosed: false, oooEnd: null, twSince: null, twTouched: false, listenerClosed: false,
  };
}

const same = (m: ConnModel, extra: Partial<Expectation> = {}): Expectation => ({ states: [m.state], rcvNxt: m.rcvNxt, sndUna: m.sndUna, next: { ...m }, ...extra });

/** Application calls on a live connection. */
export type AppOp = 'send' | 'recv' | 'close' | 'shutdown' | 'abort' | 'other';

/** shutdown(): FIN after the queued data (RFC 9293 §3.10.4). */
function shutdownState(s: TcpState): TcpState {
  switch (s) {
    case S.SynSent: return S.Closed;
    case S.Established: return S.FinWait1;
    case S.CloseWait: return S.LastAck;
    default: return s;
  }
}

/**
 * An application call. `pendingListenerClose`: the call closed the listener,
 * which resets connections it had not handed out yet.
 */
export function appStep(m: ConnModel, op: AppOp, pendingListenerClose = false): Expectation {
  const e = same(m);
  const n = e.next;
  switch (op) {
    case 'recv':
      n.readable = 0;
      break;
    case 'abort':
      if (m.state !== S.Closed) { n.state = S.Closed; e.orderly = false; }
      n.appClosed = true;
      n.readable = 0;
      break;
    case 'shutdown':
      n.state = shutdownState(m.state);
      if (m.state === S.SynSent) e.orderly = false;
      if (m.state === S.SynReceived || m.state === S.Established || m.state === S.CloseWait) n.finQueued = true;
      break;
    case 'close':
      if (m.appClosed) break;
      n.appClosed = true;
      if (m.state === S.Closed || m.state === S.TimeWait) { n.readable = 0; break; }
      if (m.readable > 0) { n.state = S.Closed; n.readable = 0; e.orderly = false; break; } // RFC 2525 §2.17
      n.state = shutdownState(m.state);
      if (m.state === S.SynSent) e.orderly = false;
      if (m.state === S.SynReceived || m.state === S.Established || m.state === S.CloseWait) n.finQueued = true;
      if (m.oooEnd !== null) { e.states = [n.state, S.Closed]; e.orderly = undefined; } // out-of-order bytes count as unread
      break;
    default:
      break;
  }
  e.states = e.states.includes(n.state) ? e.states : [n.state];
  if (pendingListenerClose && n.state !== S.Closed) {
    n.listenerClosed = true;
    e.states = [...new Set([...e.states, S.Closed])];
    e.orderly = undefined;
  }
  return e;
}

/** Bytes write() must accept: all that fits in the send buffer while sending is allowed. */
export function writeAccepts(m: ConnModel, snap: ConnSnapshot, n: number, sndBuf: number): number {
  const sending = m.state === S.Established || m.state === S.CloseWait || m.state === S.SynSent || m.state === S.SynReceived;
  if (!sending || m.finQueued) return 0;
  return Math.min(n, Math.max(0, sndBuf - snap.sendQueued));
}

/** A segment from the peer, as injected. */
export interface PeerSegment {
  flags: number;
  seq: number;
  ack: number;
  len: number;
  corrupt: boolean;
  oldTs: boolean;
}

/** Has our FIN been sent (SND.MAX is past it)? */
function finSent(m: ConnModel, snap: ConnSnapshot): boolean {
  return m.finQueued && seqDiff(snap.sndMax, seqAdd(m.iss, 1)) === m.written + 1;
}

/** Every state this one may reach in one step, for the cases the model leaves open. */
function reachable(s: TcpState): TcpState[] {
  return [s, ...EDGES[s], ...[...COMBOS].filter((k) => k.startsWith(`${s}>`)).map((k) => Number(k.split('>')[1]) as TcpState)];
}

/** A peer segment reaching a connection (`snap` is the connection before it). */
export function segmentStep(m: ConnModel, snap: ConnSnapshot, seg: PeerSegment): Expectation {
  const e = same(m);
  const n = e.next;
  const open = (): Expectation => ({ states: reachable(m.state), orderly: undefined, next: n });
  if (seg.corrupt || m.state === S.Closed) return e; // a bad checksum is dropped before TCP looks at it
  const f = seg.flags;
  if ((f & SYN) && (f & (RST | FIN))) return e; // senseless combinations: dropped, never answered
  if (m.state === S.TimeWait) { n.twTouched = true; return open(); }

  if (m.state === S.SynSent) {
    const ackOk = (f & ACK) !== 0 && seg.ack === seqAdd(m.iss, 1);
    if ((f & ACK) && !ackOk) return e; // answered with a RST, no change (RFC 9293 §3.10.7.3)
    if (f & RST) {
      if (!ackOk) return e;
      n.state = S.Closed; n.readable = 0;
      return { ...e, states: [S.Closed], orderly: false };
    }
    if (!(f & SYN)) return e;
    if (seg.len > 0 || (f & FIN)) return open();
    n.irs = seg.seq;
    n.rcvNxt = seqAdd(seg.seq, 1);
    n.state = ackOk ? S.Established : S.SynReceived;
    if (ackOk) n.sndUna = seg.ack;
    return { ...e, states: [n.state], rcvNxt: n.rcvNxt, sndUna: n.sndUna };
  }

  // Synchronized states (and SYN-RECEIVED).
  if (f & RST) {
    if (seg.oldTs && snap.ts) return open();
    if (seg.seq !== m.rcvNxt) return e; // outside: dropped; inside: a challenge ACK (RFC 5961 §3.2)
    // In CLOSING and LAST-ACK the reset is the end the app expected: no error (RFC 9293 §3.10.7.4 second step).
    const orderly = m.state === S.Closing || m.state === S.LastAck;
    n.state = S.Closed;
    if (!orderly) n.readable = 0;
    return { ...e, states: [S.Closed], orderly };
  }
  const inOrder = seg.seq === m.rcvNxt;
  // Data beyond a hole may wait in the out-of-order queue (whether it does depends on the window and the queue).
  if (!inOrder && seg.len > 0 && seqLt(m.rcvNxt, seg.seq)) {
    const end = seqAdd(seg.seq, seg.len);
    n.oooEnd = m.oooEnd === null || seqLt(m.oooEnd, end) ? end : m.oooEnd;
  }
  if (m.state === S.SynReceived) {
    // The handshake's last ACK, alone and in order: ESTABLISHED, or on to FIN-WAIT-1 with a FIN queued (RFC 9293 §3.10.7.4).
    const plain = (f & (ACK | SYN | FIN | URG)) === ACK && inOrder && seg.len === 0 && !(seg.oldTs && snap.ts);
    if (plain && !m.listenerClosed && seg.ack === seqAdd(m.iss, 1) && snap.sndMax === seg.ack) {
      n.state = m.finQueued ? S.FinWait1 : S.Established;
      n.sndUna = seg.ack;
      return { ...e, states: [n.state], rcvNxt: n.rcvNxt, sndUna: n.sndUna, next: n };
    }
    return open(); // SYN-ACK retransmission, RST, data or FIN with the ACK
  }
  if (f & SYN) return e; // a challenge ACK (RFC 5961 §4)
  if (!(f & ACK)) return e; // RFC 9293 §3.10.7.4 fifth: no ACK, drop
  if (seg.oldTs && snap.ts) return e; // PAWS (RFC 7323 §5): dropped, answered with an ACK
  if (seqLt(snap.sndMax, seg.ack)) return e; // ACK of data never sent: challenge ACK, dropped (RFC 5961 §5.2)
  if (f & URG) return open();
  if (seqLt(seg.ack, m.sndUna)) return open(); // old ACK: accepted or dropped depending on the window
  if (!inOrder) return open(); // left of the window, beyond a hole or past the window
  const wnd = Math.max(0, seqDiff(snap.rcvAdv, m.rcvNxt));
  if (seg.len > wnd) return open();
  if (m.oooEnd !== null && seg.len > 0) return open(); // may fill a hole: RCV.NXT jumps
  // Acknowledgment (RFC 9293 §3.10.7.4 fifth step).
  if (seqLt(m.sndUna, seg.ack)) n.sndUna = seg.ack;
  const finAcked = finSent(m, snap) && seg.ack === snap.sndMax;
  if (finAcked) {
    if (m.state === S.FinWait1) n.state = S.FinWait2;
    else if (m.state === S.Closing) n.state = S.TimeWait;
    else if (m.state === S.LastAck) { n.state = S.Closed; e.orderly = true; }
  }
  // Text (seventh step): taken in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 only.
  const receiving = m.state === S.Established || m.state === S.FinWait1 || m.state === S.FinWait2;
  if (receiving && seg.len > 0) {
    if (m.appClosed) return open(); // data after close(): a reset (RFC 2525 §2.17)
    n.rcvNxt = seqAdd(n.rcvNxt, seg.len);
    n.readable += seg.len;
  }
  // FIN (eighth step).
  if ((f & FIN) && receiving) {
    n.rcvNxt = seqAdd(n.rcvNxt, 1);
    n.finSeen = true;
    if (m.state === S.Established) n.state = S.CloseWait;
    else if (m.state === S.FinWait1) n.state = finAcked ? S.TimeWait : S.Closing;
    else n.state = S.TimeWait;
  }
  return { ...e, states: [n.state], rcvNxt: n.rcvNxt, sndUna: n.sndUna, next: n };
}

/** The clock moved to `now`. */
export function clockStep(m: ConnModel, now: number, timeWaitMs: number): Expectation {
  const e = same(m);
  if (m.state === S.TimeWait && m.twSince !== null && !m.twTouched) {
    const over = now - m.twSince >= timeWaitMs;
    if (over) { e.next.state = S.Closed; e.orderly = true; }
    e.states = [e.next.state];
    return e;
  }
  if (m.state === S.Closed) return e;
  // Retransmission, SYN and FIN-WAIT-2 timers: the model leaves their timing out.
  return { ...e, states: [m.state, S.Closed], orderly: undefined };
}

/**
 * Compare the connection after the step with the expectation; returns what
 * is wrong (empty when all agrees) and the model to carry on with.
 */
export function reconcile(x: Expectation, prev: ConnModel, snap: ConnSnapshot, now: number): { errors: string[]; model: ConnModel } {
  const errors: string[] = [];
  const name = (s: TcpState): string => STATE_NAMES[s];
  const n: ConnModel = { ...x.next };
  if (!x.states.includes(snap.state)) errors.push(`state ${name(snap.state)}, model says ${x.states.map(name).join(' or ')}`);
  if (!allowed(prev.state, snap.state)) errors.push(`illegal transition ${name(prev.state)} → ${name(snap.state)}`);
  n.state = snap.state;
  if (snap.state !== S.Closed) {
    if (x.rcvNxt !== undefined && x.rcvNxt !== snap.rcvNxt) errors.push(`RCV.NXT ${snap.rcvNxt}, model says ${x.rcvNxt}`);
    if (x.sndUna !== undefined && x.sndUna !== snap.sndUna) errors.push(`SND.UNA ${snap.sndUna}, model says ${x.sndUna}`);
    if (prev.irs === null && snap.state !== S.SynSent) n.irs = snap.irs;
    // Bytes readable follow RCV.NXT: what it moved past, less the FIN.
    const newFin = !prev.finSeen && (snap.state === S.CloseWait || snap.state === S.Closing || snap.state === S.LastAck || snap.state === S.TimeWait);
    if (newFin) n.finSeen = true;
    if (x.rcvNxt === undefined && (prev.state === S.SynSent ? snap.state !== S.SynSent : prev.irs !== null)) {
      // (from SYN-SENT the stream starts after the peer's SYN, just seen)
      const from = prev.state === S.SynSent ? seqAdd(snap.irs, 1) : prev.rcvNxt;
      const moved = seqDiff(snap.rcvNxt, from) - (newFin ? 1 : 0);
      if (moved < 0) errors.push(`RCV.NXT moved back ${from} → ${snap.rcvNxt}`);
      else n.readable += moved;
    }
    n.rcvNxt = snap.rcvNxt;
    if (x.sndUna === undefined && prev.state !== S.SynSent && seqLt(snap.sndUna, prev.sndUna)) errors.push(`SND.UNA moved back ${prev.sndUna} → ${snap.sndUna}`);
    n.sndUna = snap.sndUna;
    if (n.oooEnd !== null && seqLeq(n.oooEnd, n.rcvNxt)) n.oooEnd = null;
    // What was written and not acknowledged is what the send buffer holds.
    const acked = Math.min(n.written, Math.max(0, seqDiff(snap.sndUna, seqAdd(n.iss, 1))));
    if (snap.sendQueued !== n.written - acked) errors.push(`send buffer ${snap.sendQueued} bytes, model says ${n.written - acked} (written ${n.written}, acked ${acked})`);
    const limit = seqAdd(n.iss, 1 + n.written + (n.finQueued ? 1 : 0));
    if (!seqLeq(snap.sndMax, limit)) errors.push(`SND.MAX ${snap.sndMax} past what was written (${limit})`);
  } else if (prev.state !== S.Closed) {
    // Released: the bytes received stay readable only after an orderly end the app has not closed.
    const keep = n.finSeen && !n.appClosed;
    const orderly = x.orderly;
    if (orderly === false || !keep) n.readable = 0;
    else if (orderly === undefined && snap.readable !== n.readable) n.readable = 0;
    if (snap.sendQueued !== 0) errors.push(`send buffer ${snap.sendQueued} bytes after release`);
  }
  if (snap.state === S.TimeWait && prev.state !== S.TimeWait) { n.twSince = now; n.twTouched = false; }
  if (snap.readable !== n.readable) errors.push(`readable ${snap.readable}, model says ${n.readable}`);
  if (snap.peerClosed !== (n.finSeen && n.readable === 0)) errors.push(`peerClosed ${snap.peerClosed}, model says ${n.finSeen && n.readable === 0} (FIN seen ${n.finSeen}, readable ${n.readable})`);
  return { errors, model: n };
}
