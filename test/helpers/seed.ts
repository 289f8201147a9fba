/**
 * Seeds of the randomised tests. A run is reproducible only if its seed is
 * known, so no seed comes from the clock: each test has a fixed default, and
 * TZSTACK_SEED (or a test's own older variable) overrides it to explore;
 * tests print the seed they use in their title.
 */

/** The seed to use: the first of `envNames` (then TZSTACK_SEED) that is set, else `fixed`. */
export function pinnedSeed(fixed: number, ...envNames: string[]): number {
  for (const name of [...envNames, 'TZSTACK_SEED']) {
    const v = process.env[name];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`${name}=${v}: a seed is an integer`);
    return n | 0;
  }
  return fixed | 0;
}

