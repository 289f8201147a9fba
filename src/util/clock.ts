import { TAGGED_NUMBER_FIELD } from './double-field.js';

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

/**
 * The clock the stack hands its layers: within a poll, the time read once
 * when the poll began; outside one (application calls from Node callbacks),
 * the underlying clock itself.
 *
 * A poll processes a burst in microseconds, so one reading serves every
 * segment of it, where reading `performance.now()` per segment and per write
 * cost about as much as the IPv4 layer. A {@link VirtualClock} does not move
 * during a poll, so under one nothing changes.
 */
export class PollClock implements Clock {
  /** Polls running (a poll may be entered again from a callback it runs). */
  private depth = 0;
  // Read for every segment and write and passed on to every layer, written
  // once a poll: a tagged field (TAGGED_NUMBER_FIELD), so that now() hands
  // out the number stored (the source's result, or beginPollAt's, boxed once
  // a poll) instead of boxing a copy of a double field on every read. Set by
  // beginPoll or beginPollAt before now() reads it.
  private t = TAGGED_NUMBER_FIELD;
  /** @param source - the clock read at each poll's start and outside polls */
  constructor(readonly source: Clock) {}
  now(): number { return this.depth > 0 ? this.t : this.source.now(); }
  /** Read the source once (unless a poll is already running) and hold that time until {@link endPoll}. */
  beginPoll(): number {
    if (this.depth++ === 0) this.t = this.source.now();
    return this.t;
  }
  /**
   * As {@link beginPoll}, with the time `t` read elsewhere on the source's
   * clock (a port's receive burst, see Port.rxClock) instead of reading the
   * source.
   */
  beginPollAt(t: number): number {
    if (this.depth++ === 0) this.t = t;
    return this.t;
  }
  /** End what {@link beginPoll} began: the outermost end goes back to reading the source. */
  endPoll(): void { if (this.depth > 0) this.depth--; }
}
