/**
 * Pacing: with a non-zero `cc.pacingRate()` (bytes/s), at most rate ×
 * elapsed bytes leave, with a burst allowance of two segments; when the
 * budget is short, a wake-up is set on `c.paceAt` (timers.ts runs tcpOutput
 * then). The state is the connection's `paceCredit`, `paceLast` (−1 while
 * unpaced) and `paceAt`.
 */
import type { TcpConnection } from './connection.js';

/**
 * How many of `len` bytes may be sent now.
 * @returns `len`, fewer (at least one MSS's worth when any), or 0 (wait for `c.paceAt`)
 */
export function pacedLen(c: TcpConnection, len: number, now: number): number {
  const rate = c.cc.pacingRate !== undefined ? c.cc.pacingRate() : 0;
  if (!(rate > 0)) { c.paceLast = -1; return len; }
  const burst = 2 * c.mss;
  if (c.paceLast < 0) { c.paceCredit = burst; c.paceLast = now; }
  else if (now > c.paceLast) {
    c.paceCredit = Math.min(burst, c.paceCredit + (rate * (now - c.paceLast)) / 1000);
    c.paceLast = now;
  }
  const credit = Math.floor(c.paceCredit);
  if (credit >= len) return len;
  const need = Math.min(len, c.mss);
  if (credit >= need) return credit;
  const wait = Math.max(1, Math.ceil(((need - c.paceCredit) * 1000) / rate));
  const at = now + wait;
  if (at < c.paceAt) c.paceAt = at;
  return 0;
}

/** `len` payload bytes left: spend them from the credit (while paced). */
export function pacedSent(c: TcpConnection, len: number): void {
  if (c.paceLast >= 0) c.paceCredit -= len;
}
