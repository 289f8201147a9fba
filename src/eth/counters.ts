/**
 * Per-layer counters: plain, JSON-able objects so `stats()` can be written
 * out as they are. Every drop has a reason; the reasons a layer knows are
 * created up front (at zero) so the object keeps one shape on the hot path.
 */
export interface LayerCounters {
  /** Packets accepted by the layer on receive. */
  rx: number;
  /** Packets the layer sent down. */
  tx: number;
  /** Packets dropped, by reason. */
  drops: Record<string, number>;
  /** Further layer-specific counters. */
  [extra: string]: number | Record<string, number>;
}

/** Fresh counters with the given drop reasons (and extra counters) at zero. */
export function newCounters(reasons: readonly string[], extras: readonly string[] = []): LayerCounters {
  const drops: Record<string, number> = {};
  for (const r of reasons) drops[r] = 0;
  const c: LayerCounters = { rx: 0, tx: 0, drops };
  for (const e of extras) c[e] = 0;
  return c;
}

/** Count one drop for `reason`. */
export function countDrop(c: LayerCounters, reason: string): void {
  c.drops[reason] = (c.drops[reason] ?? 0) + 1;
}

/** Total drops of a layer. */
export function totalDrops(c: LayerCounters): number {
  let n = 0;
  for (const k in c.drops) n += c.drops[k];
  return n;
}
