/**
 * The first value of a field that will hold numbers outside the small-integer
 * range (unsigned 32-bit sequence numbers and timestamps, times in fractional
 * ms, byte counters past 2^31), set to its real initial value in the
 * constructor.
 *
 * V8 keeps a field that was first given a small integer as one, and the first
 * value of 2^31 or more, or with a fraction, then changes the field's
 * representation to a double: the class's object map is deprecated, optimised
 * code that depends on it is thrown away, inline caches that saw the old map
 * recompute their handlers, and every live object is migrated to the new map
 * the next time it is touched. With thousands of connections that migration
 * runs inside the hot path long after start-up (bench/alloc-sites.ts,
 * `node --trace-migration`). A first value that is not a small integer makes
 * the field a double from the start; small integers stored later stay doubles,
 * and storing into a double field allocates nothing.
 */
export const DOUBLE_FIELD = 0.5;
