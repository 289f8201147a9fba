/** The eleven connection states of RFC 9293 §3.3.2. */
export enum TcpState {
  Closed,
  Listen,
  SynSent,
  SynReceived,
  Established,
  FinWait1,
  FinWait2,
  CloseWait,
  Closing,
  LastAck,
  TimeWait,
}

/** Names as `ss` prints them, for info() and logs. */
export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2',
  'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
];

/** States after the three-way handshake has completed in at least one direction (RFC 9293 "synchronized"). */
export function isSynchronized(s: TcpState): boolean {
  return s >= TcpState.SynReceived;
}

/** States in which the application may still queue data. */
export function canSend(s: TcpState): boolean {
  return s === TcpState.Established || s === TcpState.CloseWait || s === TcpState.SynSent || s === TcpState.SynReceived;
}

/** States in which arriving segment text is accepted (RFC 9293 §3.10.7.4, seventh step). */
export function canReceive(s: TcpState): boolean {
  return s === TcpState.Established || s === TcpState.FinWait1 || s === TcpState.FinWait2;
}

/** States in which our FIN has been queued or sent. */
export function finQueuedState(s: TcpState): boolean {
  return s === TcpState.FinWait1 || s === TcpState.FinWait2 || s === TcpState.Closing
    || s === TcpState.LastAck || s === TcpState.TimeWait;
}

const bit = (...s: TcpState[]): number => s.reduce((m, x) => m | (1 << x), 0);

/**
 * The legal moves of a connection object, from RFC 9293 §3.3.2 (figure 5)
 * and §3.10: row = from, bits = to. A connection object is born CLOSED
 * (LISTEN belongs to the listener, so a passive open is CLOSED → SYN-RECEIVED
 * when the SYN arrives), and every state may end in CLOSED (RST, abort,
 * timeout; SYN-RECEIVED's "return to LISTEN" frees the child connection).
 */
const LEGAL: readonly number[] = [
  /* Closed      */ bit(TcpState.SynSent, TcpState.SynReceived),
  /* Listen      */ bit(TcpState.SynSent, TcpState.SynReceived, TcpState.Closed),
  /* SynSent     */ bit(TcpState.SynReceived, TcpState.Established, TcpState.Closed),
  /* SynReceived: ACK of our SYN (with a FIN queued by close: FIN-WAIT-1), the peer's FIN (§3.10.7.4 eighth step) */
  bit(TcpState.Established, TcpState.FinWait1, TcpState.CloseWait, TcpState.Closed),
  /* Established */ bit(TcpState.FinWait1, TcpState.CloseWait, TcpState.Closed),
  /* FinWait1    */ bit(TcpState.FinWait2, TcpState.Closing, TcpState.TimeWait, TcpState.Closed),
  /* FinWait2    */ bit(TcpState.TimeWait, TcpState.Closed),
  /* CloseWait   */ bit(TcpState.LastAck, TcpState.Closed),
  /* Closing     */ bit(TcpState.TimeWait, TcpState.Closed),
  /* LastAck     */ bit(TcpState.Closed),
  /* TimeWait    */ bit(TcpState.Closed),
];

/** Whether RFC 9293's state diagram has the move `from` → `to` (a state to itself is no move). */
export function isLegalTransition(from: TcpState, to: TcpState): boolean {
  return from === to || (LEGAL[from] & (1 << to)) !== 0;
}

/** The states reachable from `from` in one move, for tests and documentation. */
export function legalTransitions(from: TcpState): TcpState[] {
  const out: TcpState[] = [];
  for (let s = TcpState.Closed; s <= TcpState.TimeWait; s++) if (LEGAL[from] & (1 << s)) out.push(s);
  return out;
}

/** Why a connection changed state (for traces; a literal, so no allocation). */
export type TransitionCause =
  | 'connect' | 'passiveOpen' | 'simultaneousOpen' | 'handshakeDone' | 'shutdown'
  | 'finReceived' | 'finAcked' | 'simultaneousClose' | 'timeWait' | 'closed';

/** What {@link setState} needs of a connection (kept structural so state.ts imports nothing). */
export interface StateHolder {
  state: TcpState;
  readonly layer: { onStateChange(c: StateHolder, from: TcpState, to: TcpState, why: TransitionCause, legal: boolean): void };
}

/**
 * An illegal move throws (after being counted) unless NODE_ENV is
 * "production": it is a bug in the stack, which tests and development should
 * stop at; in production the connection carries on as before.
 */
export const STRICT_TRANSITIONS = typeof process === 'undefined' || process.env.NODE_ENV !== 'production';

/** An illegal state transition (a bug in the stack, never the peer's fault). */
export class TcpStateError extends Error {
  constructor(readonly from: TcpState, readonly to: TcpState, readonly why: TransitionCause) {
    super(`illegal TCP transition ${TCP_STATE_NAMES[from]} → ${TCP_STATE_NAMES[to]} (${why})`);
    this.name = 'TcpStateError';
  }
}

/**
 * The one place a connection's state changes: checks the move against
 * RFC 9293's diagram, has the layer count and trace it, then applies it.
 * Readers and writers hear of the change through the events the segment or
 * call raises (onConnect, onPeerFin, onClose, run once the connection is
 * consistent), not synchronously from here.
 */
export function setState(c: StateHolder, next: TcpState, why: TransitionCause): void {
  const from = c.state;
  if (from === next) return;
  const legal = (LEGAL[from] & (1 << next)) !== 0;
  c.layer.onStateChange(c, from, next, why, legal);
  if (!legal && STRICT_TRANSITIONS) throw new TcpStateError(from, next, why);
  c.state = next;
}

/**
 * Whether `c` is CLOSED now. A call, unlike `c.state === TcpState.Closed`
 * after an earlier test of `c.state`, is not narrowed away by the compiler
 * when a function in between may have closed the connection.
 */
export function isClosed(c: { readonly state: TcpState }): boolean {
  return c.state === TcpState.Closed;
}
