/**
 * The controller a connection gets when the configured name is not
 * registered (a misconfiguration must not take connections down): the
 * registered NewReno of `src/tcp/cc/newreno.ts`, not a second copy of it.
 */
import type { CongestionControl } from './cc/cc.js';
import { NewReno } from './cc/newreno.js';

/** A NewReno for a connection whose configured controller (`_name`) is unknown. */
export function createFallbackCongestionControl(_name: string, mss: number, initialCwndSegments: number): CongestionControl {
  return new NewReno(mss, initialCwndSegments);
}
