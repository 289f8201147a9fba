/**
 * The bounded fragment table both reassemblers (src/ip/reassembly.ts for
 * IPv4, src/ip/reassembly6.ts for IPv6) run on: a fixed number of queues
 * made once, a bound on the buffer memory they hold, a bound on fragments
 * per datagram, overlap and duplicate detection in offset order, timeouts.
 * What differs by family is a parameter: the key (source, destination and
 * for IPv4 the protocol, as eight words), the drop reason names, whether an
 * overlap frees the entry (IPv4, as Linux) or keeps it dead until it times
 * out so the later fragments are dropped too (IPv6, RFC 5722), and whether
 * the first fragment is handed to the timeout callback with its headers
 * put back. The header work (validation, rewriting the reassembled header)
 * stays with each family.
 */
import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import type { Mempool } from '../mbuf/mempool.js';
import type { Mbuf } from '../mbuf/index.js';
import { TAGGED_NUMBER_FIELD } from '../util/double-field.js';

/** Table bounds (both families' configs have these fields). */
export interface FragTableLimits {
  /** How long a datagram may take to complete (ms). */
  timeoutMs: number;
  /** Datagrams being reassembled at once. */
  maxDatagrams: number;
  /** Buffer memory held by incomplete datagrams (mbuf segments × buf_len). */
  maxBytes: number;
  /** Fragments per datagram. */
  maxFragments: number;
}

/** The family's name for each reason the table drops a fragment. */
export interface FragDropNames<R extends string> {
  tableFull: R;
  overlap: R;
  /** A fragment of a datagram already abandoned (entries kept dead only). */
  afterOverlap: R;
  duplicate: R;
  tooManyFragments: R;
  /** A second last fragment that ends elsewhere. */
  lengthMismatch: R;
  timeout: R;
  closed: R;
}

/** How a family uses the table. */
export interface FragTableBehaviour<R extends string> {
  readonly names: FragDropNames<R>;
  /** An overlap keeps the entry, dead, until it times out (RFC 5722) instead of freeing it. */
  readonly keepDeadEntries: boolean;
  /** Put the first fragment's headers back (prepend `hdrLen`) before handing it to the timeout callback. */
  readonly restoreFirstOnTimeout: boolean;
}

/** One datagram being reassembled; reused, never made per packet. */
export class FragQueue {
  used = false;
  /** Abandoned after an overlap: nothing held, later fragments dropped until it times out. */
  dead = false;
  /** Source, destination (and whatever else the family keys on), eight words. */
  readonly key = new Uint32Array(8);
  id = 0;
  expiresAt = 0;
  /** Payload length once the last fragment arrived, else -1. */
  totalLen = -1;
  /** Payload bytes held. */
  received = 0;
  /** Buffer bytes held (for the table's memory bound). */
  truesize = 0;
  /** Of the first fragment, once it arrived: the header bytes taken off in front of its payload. */
  hdrLen = 0;
  /** Of the first fragment: two numbers the family keeps (IPv6: where the next-header byte naming the fragment header sits, and that next header). */
  prevNextAt = 0;
  nextHeader = 0;
  count = 0;
  /** Fragments sorted by offset: mbuf (mtod at the payload, headers kept in its headroom), offset, length. */
  readonly mbufs: Int32Array;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  constructor(max: number) {
    this.mbufs = new Int32Array(max);
    this.offs = new Int32Array(max);
    this.lens = new Int32Array(max);
  }
}

/** The table: fill {@link key} and call {@link insert}; a complete queue comes back to be rewritten and {@link take}n. */
export class FragTable<R extends string> {
  /** The key of the fragment being inserted: the family writes it before {@link insert}. */
  readonly key = new Uint32Array(8);
  private readonly queues: FragQueue[] = [];
  private inUseCount = 0;
  private bytes = 0;
  // Read by every poll's tick, written when an entry is due: a tagged field
  // (TAGGED_NUMBER_FIELD), so that the tick's test allocates nothing even
  // before the tick is optimised (baseline code boxes a copy of a double
  // field on every read). Infinity from the constructor on.
  private nextDue = TAGGED_NUMBER_FIELD;

  /**
   * @param counters - the family's (`rx` fragments taken, `tx` datagrams completed, drops, `timeExceededSent`)
   * @param onTimeout - called with the first fragment of a datagram that timed out (freed afterwards)
   */
  constructor(private readonly pool: Mempool, private readonly limits: Readonly<FragTableLimits>,
    private readonly counters: Counters<R, 'timeExceededSent'>, private readonly how: FragTableBehaviour<R>,
    private readonly onTimeout?: (firstFragment: Mbuf) => void) {
    this.nextDue = Infinity;
    for (let i = 0; i < limits.maxDatagrams; i++) this.queues.push(new FragQueue(limits.maxFragments));
  }

  /** Datagrams currently incomplete (dead ones included). */
  get pending(): number { return this.inUseCount; }
  /** Buffer bytes currently held. */
  get heldBytes(): number { return this.bytes; }

  /**
   * Take one fragment of `len` payload bytes at `off` (`more`: not the
   * last), keyed by {@link key} and `id`; `hdrLen` header bytes before its
   * payload are stripped (kept in the headroom). Takes ownership.
   * @returns the queue, now complete (rewrite its first fragment's header,
   *   then {@link take} it), or null (held, or dropped and counted)
   */
  insert(m: Mbuf, id: number, off: number, len: number, more: boolean, hdrLen: number,
    prevNextAt: number, nextHeader: number, now: number): FragQueue | null {
    const pool = this.pool;
    const names = this.how.names;
    const end = off + len;
    const truesize = pool.nbSegs(m) * pool.bufLen;
    const k = this.key;
    const k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7];
    let q: FragQueue | undefined;
    let free: FragQueue | undefined;
    for (let i = 0; i < this.queues.length; i++) {
      const e = this.queues[i];
      if (!e.used) { if (free === undefined) free = e; continue; }
      const x = e.key;
      if (e.id === id && x[0] === k0 && x[1] === k1 && x[2] === k2 && x[3] === k3
        && x[4] === k4 && x[5] === k5 && x[6] === k6 && x[7] === k7) { q = e; break; }
    }
    if (q !== undefined && q.dead) return this.dropOne(m, names.afterOverlap);
    if (this.bytes + truesize > this.limits.maxBytes) return this.dropOne(m, names.tableFull);
    if (q === undefined) {
      if (free === undefined) return this.dropOne(m, names.tableFull);
      q = free;
      q.used = true;
      q.dead = false;
      q.key.set(k);
      q.id = id;
      q.expiresAt = now + this.limits.timeoutMs;
      q.totalLen = -1; q.received = 0; q.truesize = 0; q.hdrLen = 0; q.count = 0;
      this.inUseCount++;
      if (q.expiresAt < this.nextDue) this.nextDue = q.expiresAt;
    }

    if (!more) {
      // A second last fragment that ends elsewhere, or one before data already held.
      if (q.totalLen >= 0 && q.totalLen !== end) return this.abandon(q, m, names.lengthMismatch);
      if (q.count > 0 && q.offs[q.count - 1] + q.lens[q.count - 1] > end) return this.abandon(q, m, names.overlap);
    } else if (q.totalLen >= 0 && end > q.totalLen) {
      return this.abandon(q, m, names.overlap);
    }
    // Where it goes in offset order, and whether it touches a neighbour.
    let i = q.count;
    while (i > 0 && q.offs[i - 1] > off) i--;
    if (i > 0) {
      const po = q.offs[i - 1];
      if (po === off && q.lens[i - 1] === len) return this.dropOne(m, names.duplicate);
      if (po + q.lens[i - 1] > off) return this.abandon(q, m, names.overlap);
    }
    if (i < q.count && q.offs[i] < end) return this.abandon(q, m, names.overlap);
    if (q.count === this.limits.maxFragments) return this.abandon(q, m, names.tooManyFragments);
    if (!more) q.totalLen = end;
    if (off === 0) { q.hdrLen = hdrLen; q.prevNextAt = prevNextAt; q.nextHeader = nextHeader; }
    // Keep the headers in the headroom: the first one's lead the datagram, and ICMP errors quote them.
    pool.adj(m, hdrLen);
    for (let j = q.count; j > i; j--) {
      q.mbufs[j] = q.mbufs[j - 1]; q.offs[j] = q.offs[j - 1]; q.lens[j] = q.lens[j - 1];
    }
    q.mbufs[i] = m; q.offs[i] = off; q.lens[i] = len;
    q.count++;
    q.received += len;
    q.truesize += truesize;
    this.bytes += truesize;
    this.counters.rx++;
    // No overlaps and every byte of [0, totalLen) present: complete.
    return q.totalLen >= 0 && q.received === q.totalLen ? q : null;
  }

  /** The complete datagram of `q` (its first fragment's header rewritten by the family): the fragments chained, the entry freed. */
  take(q: FragQueue): Mbuf {
    const pool = this.pool;
    const head = q.mbufs[0] as Mbuf;
    for (let j = 1; j < q.count; j++) pool.chain(head, q.mbufs[j] as Mbuf);
    q.count = 0;
    this.bytes -= q.truesize;
    q.truesize = 0;
    q.used = false;
    this.inUseCount--;
    this.counters.tx++;
    return head;
  }

  /** Time out datagrams that did not complete. */
  tick(now: number): void {
    if (now < this.nextDue) return;
    let next = Infinity;
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i];
      if (!q.used) continue;
      if (now >= q.expiresAt) {
        if (!q.dead) {
          countDrop(this.counters, this.how.names.timeout);
          if (q.count > 0 && q.offs[0] === 0 && this.onTimeout) {
            const m = q.mbufs[0] as Mbuf;
            if (this.how.restoreFirstOnTimeout) this.pool.prepend(m, q.hdrLen);
            this.counters.timeExceededSent++;
            this.onTimeout(m);
          }
        }
        this.release(q);
      } else if (q.expiresAt < next) next = q.expiresAt;
    }
    this.nextDue = next;
  }

  /** When {@link tick} next has work (may be early, never late). */
  nextDeadline(): number { return this.nextDue; }

  /** Free everything held. */
  close(): void {
    for (const q of this.queues) if (q.used) { if (q.count > 0) countDrop(this.counters, this.how.names.closed); this.release(q); }
  }

  /** Drop one fragment (counted under the family's `reason`); returns null for the caller's convenience. */
  dropOne(m: Mbuf, reason: R): null {
    countDrop(this.counters, reason);
    this.pool.free(m);
    return null;
  }

  private freeFragments(q: FragQueue): void {
    for (let j = 0; j < q.count; j++) this.pool.free(q.mbufs[j] as Mbuf);
    q.count = 0;
    this.bytes -= q.truesize;
    q.truesize = 0;
  }

  private release(q: FragQueue): void {
    this.freeFragments(q);
    q.used = false;
    q.dead = false;
    this.inUseCount--;
  }

  /** Give up the datagram: its fragments freed, the entry freed or kept dead. */
  private abandon(q: FragQueue, m: Mbuf, reason: R): null {
    countDrop(this.counters, reason);
    this.pool.free(m);
    if (this.how.keepDeadEntries) { this.freeFragments(q); q.dead = true; } else this.release(q);
    return null;
  }
}

/**
 * What both reassemblers share around their table: config, counters, the
 * table's bookkeeping; each adds its `insert` (header parsing and rewrite).
 */
export abstract class FragReassembler<R extends string> {
  readonly config: FragTableLimits;
  /** `rx` fragments taken, `tx` datagrams completed, drops by reason. */
  readonly counters: Counters<R, 'timeExceededSent'>;
  /** @internal */ protected readonly table: FragTable<R>;

  constructor(protected readonly pool: Mempool, config: FragTableLimits, reasons: readonly R[], how: FragTableBehaviour<R>,
    onTimeout?: (firstFragment: Mbuf) => void) {
    this.config = config;
    this.counters = newCounters(reasons, ['timeExceededSent'] as const);
    this.table = new FragTable(pool, config, this.counters, how, onTimeout);
  }

  /** Datagrams currently incomplete (IPv6's dead ones included). */
  get pending(): number { return this.table.pending; }
  /** Buffer bytes currently held. */
  get heldBytes(): number { return this.table.heldBytes; }

  /** Time out datagrams that did not complete. */
  tick(now: number): void { this.table.tick(now); }

  /** When {@link tick} next has work (may be early, never late). */
  nextDeadline(): number { return this.table.nextDeadline(); }

  /** Free everything held. */
  close(): void { this.table.close(); }
}
