/**
 * Congestion control as an interface: one file per algorithm,
 * chosen per connection by name. The connection owns sequence numbers,
 * the scoreboard and the loss detector; a congestion controller only turns
 * "bytes delivered", "congestion seen" and "recovery over" into a window.
 *
 * Units: `cwnd` and `ssthresh` are in bytes, `now` and RTTs in
 * milliseconds from the stack {@link Clock}. Every per-ACK method is
 * allocation-free.
 *
 * Call protocol (what the connection does):
 * - every ACK that advances SND.UNA (and, during recovery, every ACK that
 *   newly SACKs data if the caller wants to count it): `onAck(bytes newly
 *   delivered, RTT sample or undefined, bytes in flight before this ACK, now)`.
 *   During recovery the controller does not grow the window (RFC 5681 §3.2,
 *   RFC 6675 §5); it only deflates an RFC 6582 inflated window.
 * - entering fast/SACK recovery, or on an RTO, or on an ECN echo for
 *   classic ECN: `onCongestion(kind, FlightSize, now)` once per event.
 *   For ECN prefer {@link CongestionControl.onEcnEcho}, which applies the
 *   once-per-window rule (RFC 3168 §6.1.2) and DCTCP's marking fraction.
 * - leaving recovery (SND.UNA ≥ RecoveryPoint): `onRecoveryExit(now)`.
 * - after D-SACK/timestamps prove the last reduction was spurious:
 *   `onSpuriousUndo()` (RFC 9438 §4.9; Linux tcp_undo_cwnd_reduction).
 */

// Built-in algorithms (they import only types from this file, so there is no cycle).
import { NewReno } from './newreno.js';
import { Cubic } from './cubic.js';
import { Dctcp } from './dctcp.js';

/** What caused a window reduction. */
export type CongestionKind = 'fast' | 'rto' | 'ecn';

/** Names of the built-in algorithms (others may be registered). */
export type CongestionControlName = 'newreno' | 'cubic' | 'dctcp';

/**
 * A congestion controller for one connection.
 */
export interface CongestionControl {
  /** Algorithm name as registered (shown in connection info). */
  readonly name: string;
  /** Congestion window, bytes. The connection may set it (e.g. restart after idle, RFC 5681 §4.1). */
  cwnd: number;
  /** Slow-start threshold, bytes (initially "arbitrarily high", RFC 5681 §3.1). */
  ssthresh: number;
  /**
   * The connection's MSS changed (the path MTU dropped): count growth in the
   * new size. Optional for controllers registered from outside.
   */
  setMss?(mss: number): void;
  /**
   * New data was delivered (cumulatively acknowledged).
   * @param ackedBytes - bytes newly acknowledged by this ACK
   * @param rttMs - an RTT sample taken from this ACK (Karn-safe), or undefined
   * @param bytesInFlight - FlightSize before this ACK was processed
   * @param now - current time, ms
   */
  onAck(ackedBytes: number, rttMs: number | undefined, bytesInFlight: number, now: number): void;
  /**
   * A congestion event: loss detected by dup-ACKs/SACK/RACK ('fast'), the
   * retransmission timer ('rto') or an ECN echo ('ecn'). Call once per event
   * (once per recovery episode / per window of data).
   * @param bytesInFlight - FlightSize (RFC 5681 eq. 4), bytes
   */
  onCongestion(kind: CongestionKind, bytesInFlight: number, now: number): void;
  /** Fast/SACK recovery completed (RecoveryPoint acknowledged). */
  onRecoveryExit(now: number): void;
  /** The last reduction was caused by a spurious retransmission: restore the state saved before it. */
  onSpuriousUndo(): void;
  /**
   * The receiver echoes congestion per segment (DCTCP, RFC 8257 §3.2): ECE
   * on an ACK says exactly whether the latest data segment arrived CE-marked,
   * and a change is acknowledged at once, instead of RFC 3168 §6.1.3's ECE
   * repeated until CWR. Absent means false.
   */
  readonly echoCePerSegment?: boolean;
  /** Pacing hook: target sending rate in bytes/s, 0 = unpaced. */
  pacingRate?(): number;
  /**
   * ECN feedback for an ACK (call on every ACK of an ECN-capable connection).
   * @param ackedBytes - bytes newly acknowledged by this ACK
   * @param ece - the ACK carried ECE (its ackedBytes count as CE-marked for DCTCP)
   * @param bytesInFlight - FlightSize before this ACK
   * @returns true if the window was reduced now: the connection must set CWR
   *   on the next new data segment (RFC 3168 §6.1.2)
   */
  onEcnEcho?(ackedBytes: number, ece: boolean, bytesInFlight: number, now: number): boolean;
  /**
   * A duplicate ACK during fast recovery without SACK: RFC 6582 §3.2 step 4
   * window inflation by one SMSS (pass `segments` = 3 right after entering
   * recovery for step 2's ssthresh + 3·SMSS). Do not call with SACK (RFC 6675
   * uses pipe instead).
   */
  onDupAck?(segments: number): void;
  /** True while cwnd < ssthresh. */
  inSlowStart?(): boolean;
  /** Slow start as Linux tcp_slow_start (config `linuxSlowStart`), for the algorithms that have it. */
  linuxSlowStart?: boolean;
  /** True between onCongestion('fast'|'ecn') and onRecoveryExit. */
  inRecovery?(): boolean;
  /** A snapshot of internal state for connection info (numbers only). */
  state?(): Record<string, number>;
}

/** Creates a controller for one connection. */
export type CongestionControlFactory = (mss: number, initialCwndSegments: number) => CongestionControl;

const registry = new Map<string, CongestionControlFactory>();

/**
 * Makes an algorithm available to {@link createCongestionControl} by name
 * (replacing any previous one of that name).
 */
export function registerCongestionControl(name: string, factory: CongestionControlFactory): void {
  registry.set(name, factory);
}

/** Names currently registered. */
export function congestionControlNames(): string[] {
  return [...registry.keys()];
}

/**
 * A new controller for one connection.
 * @param name - 'newreno', 'cubic', 'dctcp' or a registered name
 * @param mss - sender maximum segment size (SMSS), bytes
 * @param initialCwndSegments - initial window in segments (RFC 6928: 10)
 * @throws RangeError for an unknown name (a configuration error, never packet-driven)
 */
export function createCongestionControl(
  name: CongestionControlName | string, mss: number, initialCwndSegments: number,
): CongestionControl {
  const f = registry.get(name);
  if (!f) throw new RangeError(`unknown congestion control '${name}' (have: ${congestionControlNames().join(', ')})`);
  return f(mss, initialCwndSegments);
}

export { SSTHRESH_INFINITE, initialWindow } from './base.js';

// Built-in algorithms
registerCongestionControl('newreno', (mss, iw) => new NewReno(mss, iw));
registerCongestionControl('cubic', (mss, iw) => new Cubic(mss, iw));
registerCongestionControl('dctcp', (mss, iw) => new Dctcp(mss, iw));
