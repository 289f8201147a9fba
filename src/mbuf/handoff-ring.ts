/**
 * Zero-copy hand-off of mbufs between threads: a lock-free
 * single-producer/single-consumer ring of mbuf handles in a
 * SharedArrayBuffer.
 *
 * An mbuf handle is the uint32 offset of its header in the pool's memory
 * (see {@link Mempool}). Two threads of one process that see the same pool
 * memory — every worker's `DpdkMempool` over a DPDK pool, which is
 * process-wide memory (`Dpdk.attach`) — can move a packet by moving that
 * integer: no copy, no serialization, no second protocol pass.
 *
 * Ownership moves with the handle. Whatever {@link HandoffRing.enqueue}
 * accepted belongs to the ring until {@link HandoffRing.dequeue} hands it to
 * the consumer; the producer must not touch it again (nor keep a reference
 * into its buffer that it could attach to later: the JavaScript refcount
 * increment of `Mempool.attach` is not atomic, while DPDK's frees are, so
 * buffers shared between threads are safe only when no thread adds
 * references; {@link isExclusive} checks the simple case). Pool accounting
 * stays exact: mbufs in the ring count as in use, and whoever ends the ring
 * ({@link drain}) frees what is left.
 *
 * A full ring is backpressure: `enqueue` takes as many handles as fit, in
 * order, and returns how many; the producer keeps the rest. A ring whose
 * consumer has gone ({@link closeConsumer}, or a crashed thread marked by the
 * owner) takes nothing.
 *
 * `TsMempool` cannot be shared this way: its memory is a private
 * `ArrayBuffer` and its free list is per-instance JavaScript state, so the
 * rings need a DPDK pool (or any pool whose memory and allocator are shared
 * by both threads).
 *
 * Memory order: the producer writes the slots (and, before that, the packet
 * bytes) with plain stores and publishes them with one `Atomics.store` of
 * the head; the consumer reads the head with `Atomics.load` before reading
 * the slots. Sequentially consistent atomics order the plain accesses around
 * them (x86 TSO; release/acquire instructions on ARM), so the consumer sees
 * the packet bytes the producer wrote.
 */
import type { Mbuf, Mempool } from './mempool.js';

// Int32 slots of the header (each hot index on a cache line of its own).
const enum H {
  /** Producer index: handles enqueued so far (free-running, mod 2^32). */
  HEAD = 0,
  /** Consumer index: handles dequeued so far. */
  TAIL = 16,
  /** Bit 0: producer closed; bit 1: consumer closed. */
  FLAGS = 32,
  /** Capacity (a power of two), for attach. */
  CAP = 33,
  /** Magic, for attach of a wrong buffer. */
  MAGIC = 34,
  /** Handles the producer offered that did not fit (backpressure events, counted). */
  REFUSED = 48,
  /** Non-zero while the consumer sleeps in {@link HandoffRing.wait} (the producer then wakes it). */
  SLEEPING = 49,
  /** Int32 slots in the header (192 bytes: three cache lines). */
  WORDS = 64,
}
const HEADER_BYTES = H.WORDS * 4;
const MAGIC = 0x747a7267; // 'tzrg'
const PRODUCER_CLOSED = 1;
const CONSUMER_CLOSED = 2;

/** Largest capacity: indices are compared as int32 differences. */
export const HANDOFF_RING_MAX = 1 << 24;

/**
 * A single-producer/single-consumer ring of mbuf handles over a
 * SharedArrayBuffer. Make it in one thread with {@link create}, pass
 * {@link buffer} to the other (postMessage or `workerData`; a
 * SharedArrayBuffer is shared, not copied) and {@link attach} there. Exactly
 * one thread enqueues and one dequeues.
 */
export class HandoffRing {
  /** The shared memory: header then `capacity` uint32 slots. */
  readonly buffer: SharedArrayBuffer;
  /** Slots (a power of two). */
  readonly capacity: number;
  private readonly hdr: Int32Array;
  private readonly slots: Uint32Array;
  private readonly mask: number;

  private constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEADER_BYTES + 4) {
      throw new TypeError('HandoffRing: not a ring buffer (a SharedArrayBuffer from HandoffRing.create)');
    }
    this.buffer = buffer;
    this.hdr = new Int32Array(buffer, 0, H.WORDS);
    if (this.hdr[H.MAGIC] !== MAGIC) throw new TypeError('HandoffRing: not a ring buffer (bad magic)');
    this.capacity = this.hdr[H.CAP];
    this.mask = this.capacity - 1;
    this.slots = new Uint32Array(buffer, HEADER_BYTES, this.capacity);
  }

  /** A new, empty ring of at least `capacity` slots (rounded up to a power of two). */
  static create(capacity: number): HandoffRing {
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= HANDOFF_RING_MAX)) {
      throw new RangeError(`HandoffRing: capacity must be an integer in 1..${HANDOFF_RING_MAX}, not ${capacity}`);
    }
    let cap = 1;
    while (cap < capacity) cap *= 2;
    const buf = new SharedArrayBuffer(HEADER_BYTES + cap * 4);
    const h = new Int32Array(buf, 0, H.WORDS);
    h[H.CAP] = cap;
    Atomics.store(h, H.MAGIC, MAGIC);
    return new HandoffRing(buf);
  }

  /** The same ring, seen from another thread. */
  static attach(buffer: SharedArrayBuffer): HandoffRing {
    return new HandoffRing(buffer);
  }

  /**
   * Producer: move up to `n` handles from `handles` (in order) into the
   * ring; returns how many it took (0 when full or when the consumer has
   * closed). The ones taken belong to the ring now; the caller keeps
   * `handles[taken..n)`. No allocation.
   */
  enqueue(handles: Uint32Array, n: number, from = 0): number {
    const h = this.hdr;
    if (n > handles.length - from) throw new RangeError(`HandoffRing.enqueue: ${n} handles from ${from} but the array holds ${handles.length}`);
    if (n <= 0) return 0;
    if ((Atomics.load(h, H.FLAGS) & CONSUMER_CLOSED) !== 0) { Atomics.add(h, H.REFUSED, n); return 0; }
    const head = h[H.HEAD]; // only this thread writes it
    const free = this.capacity - ((head - Atomics.load(h, H.TAIL)) | 0);
    const k = n < free ? n : free;
    if (k < n) Atomics.add(h, H.REFUSED, n - k);
    if (k === 0) return 0;
    const s = this.slots;
    const mask = this.mask;
    for (let i = 0; i < k; i++) s[(head + i) & mask] = handles[from + i];
    Atomics.store(h, H.HEAD, (head + k) | 0);
    if (Atomics.load(h, H.SLEEPING) !== 0) Atomics.notify(h, H.HEAD);
    return k;
  }

  /** Producer: one handle; true when the ring took it. */
  enqueueOne(m: Mbuf): boolean {
    const h = this.hdr;
    if ((Atomics.load(h, H.FLAGS) & CONSUMER_CLOSED) !== 0) { Atomics.add(h, H.REFUSED, 1); return false; }
    const head = h[H.HEAD];
    if (((head - Atomics.load(h, H.TAIL)) | 0) >= this.capacity) { Atomics.add(h, H.REFUSED, 1); return false; }
    this.slots[head & this.mask] = m;
    Atomics.store(h, H.HEAD, (head + 1) | 0);
    if (Atomics.load(h, H.SLEEPING) !== 0) Atomics.notify(h, H.HEAD);
    return true;
  }

  /**
   * Consumer: block this thread until the ring holds something or
   * `timeoutMs` passes (`Atomics.wait`; in Node's main thread this stalls
   * its event loop, so call it from workers). Returns whether something is there. A consumer
   * that would otherwise spin on an empty ring sleeps here instead, and the
   * producer wakes it (one futex wake, only while it sleeps: an enqueue
   * costs one more atomic load otherwise).
   */
  wait(timeoutMs: number): boolean {
    const h = this.hdr;
    const head = Atomics.load(h, H.HEAD);
    if (((head - h[H.TAIL]) | 0) !== 0) return true;
    // Announce the sleep, then look again: a producer that published before
    // seeing the flag is caught by this second look (both are seq-cst).
    Atomics.store(h, H.SLEEPING, 1);
    if (Atomics.load(h, H.HEAD) === head) Atomics.wait(h, H.HEAD, head, timeoutMs);
    Atomics.store(h, H.SLEEPING, 0);
    return ((Atomics.load(h, H.HEAD) - h[H.TAIL]) | 0) !== 0;
  }

  /**
   * Consumer: move up to `max` handles (oldest first) into `out` from index
   * `at`; returns how many. The caller owns them now. No allocation.
   */
  dequeue(out: Uint32Array, max: number, at = 0): number {
    const h = this.hdr;
    const tail = h[H.TAIL]; // only this thread writes it
    const avail = (Atomics.load(h, H.HEAD) - tail) | 0;
    const room = out.length - at;
    let k = avail < max ? avail : max;
    if (k > room) k = room;
    if (k <= 0) return 0;
    const s = this.slots;
    const mask = this.mask;
    for (let i = 0; i < k; i++) out[at + i] = s[(tail + i) & mask];
    Atomics.store(h, H.TAIL, (tail + k) | 0);
    return k;
  }

  /** Handles in the ring now (either side; exact for the calling side's own index). */
  count(): number { return (Atomics.load(this.hdr, H.HEAD) - Atomics.load(this.hdr, H.TAIL)) | 0; }

  /** Free slots now. */
  free(): number { return this.capacity - this.count(); }

  /** Handles the producer offered that the ring refused (full or consumer gone), since creation. */
  get refused(): number { return Atomics.load(this.hdr, H.REFUSED); }

  /** The producer will enqueue nothing more (the consumer may drain and stop). */
  closeProducer(): void { Atomics.or(this.hdr, H.FLAGS, PRODUCER_CLOSED); }

  /** The consumer takes nothing more: later enqueues return 0 (the producer keeps, or frees, its mbufs). */
  closeConsumer(): void { Atomics.or(this.hdr, H.FLAGS, CONSUMER_CLOSED); }

  get producerClosed(): boolean { return (Atomics.load(this.hdr, H.FLAGS) & PRODUCER_CLOSED) !== 0; }
  get consumerClosed(): boolean { return (Atomics.load(this.hdr, H.FLAGS) & CONSUMER_CLOSED) !== 0; }

  /**
   * Free every handle still in the ring into `pool` (whole chains, refcounts
   * honoured); returns how many packets. Call it as the consumer, or from
   * any thread once both sides have stopped (e.g. the owner after a worker
   * died): it acts as the consumer.
   */
  drain(pool: Mempool): number {
    const tmp = new Uint32Array(64);
    let total = 0;
    for (let n = this.dequeue(tmp, 64); n > 0; n = this.dequeue(tmp, 64)) {
      pool.freeBulk(tmp, n);
      total += n;
    }
    return total;
  }

  /**
   * Whether `m` is safe to hand to another thread without further thought:
   * every segment is a direct mbuf with refcount 1 (no buffer shared with an
   * mbuf that stays behind). Walks the chain; meant for assertions, not for
   * the hot path.
   */
  static isExclusive(pool: Mempool, m: Mbuf): boolean {
    for (let s = m, i = 0; s !== -1; s = pool.next(s), i++) {
      if (i > 0xffff) return false;
      if (pool.refcnt(s) !== 1) return false;
      if (!pool.isDirect(s)) return false;
    }
    return true;
  }
}
