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

/**
 * The first value of a number field that is written rarely and read often,
 * its value handed on to calls as it is (the time a poll holds): null, so
 * V8 gives the field the tagged representation, set to its real value
 * before it is first read.
 *
 * A double field ({@link DOUBLE_FIELD}) stores without allocating but hands
 * out a copy: each read whose value leaves optimised code as an argument,
 * a return value or an array element allocates a 16-byte HeapNumber. A
 * tagged field holds the HeapNumber itself: reads hand out that object, and
 * only a store of a value computed in optimised code allocates one (a value
 * that arrived as an object, such as a call's result, is stored as it is).
 */
export const TAGGED_NUMBER_FIELD = null as unknown as number;
