/**
 * JS heap bytes allocated over a stretch of code, collections included:
 * how much the used heap grew plus what every GC in between freed. V8's
 * GCProfiler hands over each GC's before and after figures synchronously
 * at stop(); the PerformanceObserver used before delivers its gc entries
 * later, so a window whose scavenge it had not yet reported read as
 * GC-free, and the heap's shrinking made that window's figure 0.
 *
 * A full (mark-compact) GC in the window also frees garbage made before it
 * started: the figure can then read high, never low (`fullGcs` says so).
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';

/** What one {@link HeapMeter} window measured. */
export interface HeapWindow {
  /** Bytes allocated on the JS heap in the window. */
  bytes: number;
  /** Collections in the window (scavenges and full ones). */
  gcs: number;
  /** Full collections among them (the figure may include older garbage). */
  fullGcs: number;
}

/** One window at a time: start(), the code, stop(). */
export class HeapMeter {
  private prof: GCProfiler | null = null;
  private used0 = 0;

  start(): void {
    this.prof = new GCProfiler();
    this.prof.start();
    this.used0 = getHeapStatistics().used_heap_size;
  }

  stop(): HeapWindow {
    const used1 = getHeapStatistics().used_heap_size;
    const r = this.prof?.stop();
    this.prof = null;
    let freed = 0;
    let full = 0;
    const stats = r?.statistics ?? [];
    for (const s of stats) {
      freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
      if (s.gcType !== 'Scavenge' && s.gcType !== 'MinorMarkCompact') full++;
    }
    return { bytes: Math.max(0, used1 - this.used0 + freed), gcs: stats.length, fullGcs: full };
  }
}
