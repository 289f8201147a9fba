/**
 * Measurement helpers shared by every workload: a bounded latency recorder
 * with percentiles, the run's time budget, and progress lines on stderr.
 */
import { availableParallelism, loadavg } from 'node:os';

/** Nanoseconds since an arbitrary origin, as a double (sub-µs resolution for hours). */
export function nowNs(): number { return Number(process.hrtime.bigint()); }

/**
 * Latency samples in a preallocated array: recording allocates nothing and
 * never grows past `capacity` (later samples replace random earlier ones, a
 * reservoir, so a long run still yields unbiased percentiles).
 */
export class LatencyRecorder {
  private readonly samples: Float64Array;
  private n = 0;
  private seen = 0;
  private seed = 0x2545f491;

  constructor(capacity = 1 << 20) { this.samples = new Float64Array(capacity); }

  /** Add one sample in nanoseconds. */
  record(ns: number): void {
    const s = this.seen++;
    if (this.n < this.samples.length) { this.samples[this.n++] = ns; return; }
    // xorshift32: a cheap generator, allocation-free.
    let x = this.seed;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.seed = x >>> 0;
    const j = this.seed % (s + 1);
    if (j < this.samples.length) this.samples[j] = ns;
  }

  /** Samples recorded in total. */
  get count(): number { return this.seen; }

  /** The samples kept (a copy, to post to another thread). */
  samplesCopy(): Float64Array { return this.samples.slice(0, this.n); }

  /** Add many samples in nanoseconds. */
  recordAll(a: Float64Array): void { for (let i = 0; i < a.length; i++) this.record(a[i]); }

  /** Forget everything (after warm-up). */
  reset(): void { this.n = 0; this.seen = 0; }

  /** p50/p99/p99.9 in microseconds (NaN when empty). */
  percentiles(): Percentiles {
    const a = this.samples.slice(0, this.n).sort();
    const at = (q: number): number => (a.length === 0 ? NaN : a[Math.min(a.length - 1, Math.floor(q * a.length))] / 1000);
    return { p50: at(0.5), p99: at(0.99), p999: at(0.999) };
  }
}

/** Latency percentiles in microseconds. */
export interface Percentiles { p50: number; p99: number; p999: number }

/** Progress to stderr (stdout carries only the table). */
export function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** Let Node's event loop run once (I/O, timers) without sleeping. */
export function yieldLoop(): Promise<void> { return new Promise((r) => setImmediate(r)); }

/** The machine's load when a figure was taken (1-minute load average, cores). */
export function machineLoad(): { loadavg1: number; cpus: number } {
  return { loadavg1: Math.round(loadavg()[0] * 100) / 100, cpus: availableParallelism() };
}

/** Round to `d` significant-ish decimals for the table and JSON. */
export function round(v: number, d = 3): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** d;
  return Math.round(v * f) / f;
}
