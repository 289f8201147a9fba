/**
 * The token bucket both ICMP layers (src/ip/icmp.ts, src/ip/icmp6.ts)
 * limit the errors they send with (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)):
 * `errorBurst` tokens at most, refilled at `errorRatePerSec`, one per error.
 */
import type { Clock } from '../util/clock.js';

/** The limits, read at each take (a layer's config may be changed after it is made). */
export interface ErrorRateLimit {
  /** Tokens added per second. */
  errorRatePerSec: number;
  /** Tokens held at most (and at start). */
  errorBurst: number;
}

/** A token bucket over a clock; allocates nothing per take. */
export class TokenBucket {
  private tokens: number;
  private lastRefill: number;

  constructor(private readonly clock: Clock, private readonly limit: Readonly<ErrorRateLimit>) {
    this.tokens = limit.errorBurst;
    this.lastRefill = clock.now();
  }

  /** Take a token: false when none is left (the error is suppressed). */
  take(): boolean {
    const now = this.clock.now();
    const l = this.limit;
    if (now > this.lastRefill) {
      this.tokens = Math.min(l.errorBurst, this.tokens + ((now - this.lastRefill) * l.errorRatePerSec) / 1000);
      this.lastRefill = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
