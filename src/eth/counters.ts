/**
 * Per-layer counters: plain, JSON-able objects so `stats()` can be written
 * out as they are. Every drop has a reason from the layer's closed list; the
 * reasons (and the extra counters) are created up front at zero, so the
 * object keeps one shape on the hot path and a misspelt reason does not
 * compile.
 */
export interface LayerCounters<R extends string = string> {
  /** Packets accepted by the layer on receive. */
  rx: number;
  /** Packets the layer sent down. */
  tx: number;
  /** Packets dropped, by reason. */
  drops: Record<R, number>;
  /** Further layer-specific counters. */
  [extra: string]: number | Record<string, number>;
}

/** A layer's counters with its drop reasons `R` and its extra counters `X` (plain numbers). */
export type Counters<R extends string, X extends string = never> = LayerCounters<R> & { [K in X]: number };

/** Fresh counters with the given drop reasons (and extra counters) at zero. */
export function newCounters<R extends string, X extends string = never>(
  reasons: readonly R[], extras: readonly X[] = [],
): Counters<R, X> {
  const drops = {} as Record<R, number>;
  for (const r of reasons) drops[r] = 0;
  const c = { rx: 0, tx: 0, drops } as LayerCounters<R>;
  for (const e of extras) c[e] = 0;
  return c as Counters<R, X>;
}

/** Count one drop for `reason` (one of the layer's reasons, created at zero). */
export function countDrop<R extends string>(c: LayerCounters<R>, reason: R): void {
  c.drops[reason]++;
}

/** Total drops of a layer. */
export function totalDrops(c: LayerCounters): number {
  let n = 0;
  for (const k in c.drops) n += c.drops[k];
  return n;
}
