/**
 * The stack's notion of time, in milliseconds. Everything that waits —
 * retransmission, delayed ACK, ARP expiry, reassembly, impairment delay —
 * reads time from a Clock, so tests can run on a {@link VirtualClock}.
 */
export interface Clock {
  /** Current time in milliseconds (fractional allowed). */
  now(): number;
}

/** Wall-clock time from `performance.now()`. */
export class RealClock implements Clock {
  now(): number { return performance.now(); }
}

/**
 * A clock that moves only when told to: deterministic tests and simulations
 * advance it explicitly.
 */
export class VirtualClock implements Clock {
  private t: number;
  constructor(start = 0) { this.t = start; }
  now(): number { return this.t; }
  /** Move time forward by `ms` (never backwards). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms}`);
    this.t += ms;
  }
  /** Jump to an absolute time (must not be in the past). */
  set(t: number): void {
    if (t < this.t) throw new RangeError(`clock cannot go back from ${this.t} to ${t}`);
    this.t = t;
  }
}
