/** CPU time of one thread, for the hand-off and shard benchmarks. */
import { readFileSync } from 'node:fs';

/** CPU time of the calling thread in ns (the kernel's per-thread schedstat; NaN where there is none). */
export function threadCpuNs(): number {
  try { return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]); } catch { return NaN; }
}
