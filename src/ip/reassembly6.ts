import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { Ip6Frag, Ip6Hdr } from './ipv6-header.js';

/** IPv6 reassembly tunables. */
export interface Reassembly6Config {
  /** How long a packet may take to complete (ms). Default 60000 (RFC 8200 §4.5). */
  timeoutMs: number;
  /** Packets being reassembled at once. Default 64. */
  maxDatagrams: number;
  /** Buffer memory held by incomplete packets (mbuf segments × buf_len). Default 4 MiB, as Linux. */
  maxBytes: number;
  /** Fragments per packet. Default 64. */
  maxFragments: number;
}

/** Defaults for {@link Reassembly6Config}. */
export const DEFAULT_REASSEMBLY6_CONFIG: Readonly<Reassembly6Config> = {
  timeoutMs: 60_000, maxDatagrams: 64, maxBytes: 4 << 20, maxFragments: 64,
};

/** One packet being reassembled; reused, never made per packet. */
class Frag6Queue {
  used = false;
  /**
   * An overlap was seen (RFC 5722): everything held was freed and every
   * further fragment of the packet is dropped until the entry times out.
   */
  dead = false;
  /** Source then destination, four words each. */
  readonly key = new Uint32Array(8);
  id = 0;
  expiresAt = 0;
  /** Fragmentable part length once the last fragment (M clear) arrived, else -1. */
  totalLen = -1;
  received = 0;
  truesize = 0;
  /** Of the first fragment: bytes before its fragment header, and where the next-header byte naming it sits. */
  unfragLen = 0;
  prevNextAt = 0;
  /** The next header of the first fragment's fragment header. */
  nextHeader = 0;
  count = 0;
  /** Fragments by offset: mbuf (mtod at the fragment data, its headers in the headroom), offset, length. */
  readonly mbufs: Int32Array;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  constructor(max: number) {
    this.mbufs = new Int32Array(max);
    this.offs = new Int32Array(max);
    this.lens = new Int32Array(max);
  }
}

/** Why an IPv6 fragment was dropped by the reassembler. */
export const REASSEMBLY6_DROP_REASONS = ['tableFull', 'overlap', 'afterOverlap', 'duplicate', 'tooManyFragments',
  'lengthMismatch', 'timeout', 'closed'] as const;
export type Reassembly6DropReason = typeof REASSEMBLY6_DROP_REASONS[number];

/**
 * IPv6 fragment reassembly (RFC 8200 §4.5) with a bounded table.
 *
 * An overlap abandons the packet and drops its later fragments too (RFC
 * 5722, as amended by erratum 3089: an exact duplicate is dropped alone).
 * The result is the fragments chained into one multi-segment mbuf, their
 * payload not copied; the first fragment's headers are moved over its
 * fragment header (in its own segment) so they lead the packet.
 */
export class Reassembler6 {
  readonly config: Reassembly6Config;
  /** `rx` fragments taken, `tx` packets completed, drops by reason. */
  readonly counters: Counters<Reassembly6DropReason, 'timeExceededSent'> = newCounters(REASSEMBLY6_DROP_REASONS, ['timeExceededSent']);
  private readonly queues: Frag6Queue[] = [];
  private inUseCount = 0;
  private bytes = 0;
  private nextDue = Infinity;

  /**
   * @param onTimeout - called with the first fragment (mtod at its IPv6
   *   header, whole headers in the first segment) of a packet that timed
   *   out, so ICMPv6 can send Time Exceeded; freed afterwards by the reassembler
   */
  constructor(private readonly pool: Mempool, config: Partial<Reassembly6Config> = {},
    private readonly onTimeout?: (firstFragment: number) => void) {
    this.config = { ...DEFAULT_REASSEMBLY6_CONFIG, ...config };
    for (let i = 0; i < this.config.maxDatagrams; i++) this.queues.push(new Frag6Queue(this.config.maxFragments));
  }

  /** Packets currently incomplete (dead ones included). */
  get pending(): number { return this.inUseCount; }
  /** Buffer bytes currently held. */
  get heldBytes(): number { return this.bytes; }

  /**
   * Take one fragment: `m` with mtod at a validated IPv6 header whose
   * packet is exactly its payload length long, the headers up to and
   * including the fragment header at `fragAt` in the first segment, and the
   * fragment's length already checked (a multiple of 8 unless last, not past
   * 65535, not empty). Takes ownership.
   * @param prevNextAt - offset in the packet of the next-header byte that names the fragment header
   * @returns the complete packet (mtod at its IPv6 header, the fragment
   *   header gone, payload length set) or {@link NO_MBUF}
   */
  insert(m: number, fragAt: number, prevNextAt: number, now: number): number {
    const pool = this.pool;
    const dv = pool.dv;
    const p = pool.mtod(m);
    const f = p + fragAt;
    const offFlags = dv.getUint16(f + Ip6Frag.OFF_FLAGS);
    const more = (offFlags & Ip6Frag.FLAG_M) !== 0;
    const off = offFlags & Ip6Frag.OFFSET_MASK;
    const id = dv.getUint32(f + Ip6Frag.ID);
    const len = pool.pktLen(m) - fragAt - Ip6Frag.LEN;
    const end = off + len;
    const s0 = dv.getUint32(p + Ip6Hdr.SRC), s1 = dv.getUint32(p + Ip6Hdr.SRC + 4);
    const s2 = dv.getUint32(p + Ip6Hdr.SRC + 8), s3 = dv.getUint32(p + Ip6Hdr.SRC + 12);
    const d0 = dv.getUint32(p + Ip6Hdr.DST), d1 = dv.getUint32(p + Ip6Hdr.DST + 4);
    const d2 = dv.getUint32(p + Ip6Hdr.DST + 8), d3 = dv.getUint32(p + Ip6Hdr.DST + 12);
    const truesize = pool.nbSegs(m) * pool.bufLen;

    let q: Frag6Queue | undefined;
    let free: Frag6Queue | undefined;
    for (let i = 0; i < this.queues.length; i++) {
      const e = this.queues[i];
      if (!e.used) { if (free === undefined) free = e; continue; }
      const k = e.key;
      if (e.id === id && k[0] === s0 && k[1] === s1 && k[2] === s2 && k[3] === s3
        && k[4] === d0 && k[5] === d1 && k[6] === d2 && k[7] === d3) { q = e; break; }
    }
    if (q !== undefined && q.dead) return this.dropOne(m, 'afterOverlap');
    if (this.bytes + truesize > this.config.maxBytes) return this.dropOne(m, 'tableFull');
    if (q === undefined) {
      if (free === undefined) return this.dropOne(m, 'tableFull');
      q = free;
      q.used = true;
      q.dead = false;
      const k = q.key;
      k[0] = s0; k[1] = s1; k[2] = s2; k[3] = s3; k[4] = d0; k[5] = d1; k[6] = d2; k[7] = d3;
      q.id = id;
      q.expiresAt = now + this.config.timeoutMs;
      q.totalLen = -1; q.received = 0; q.truesize = 0; q.count = 0; q.unfragLen = 0;
      this.inUseCount++;
      if (q.expiresAt < this.nextDue) this.nextDue = q.expiresAt;
    }

    if (!more) {
      // A second "last" fragment that ends elsewhere, or one before data already held.
      if (q.totalLen >= 0 && q.totalLen !== end) return this.kill(q, m, 'lengthMismatch');
      if (q.count > 0 && q.offs[q.count - 1] + q.lens[q.count - 1] > end) return this.kill(q, m, 'overlap');
    } else if (q.totalLen >= 0 && end > q.totalLen) {
      return this.kill(q, m, 'overlap');
    }
    let i = q.count;
    while (i > 0 && q.offs[i - 1] > off) i--;
    if (i > 0) {
      const po = q.offs[i - 1];
      if (po === off && q.lens[i - 1] === len) return this.dropOne(m, 'duplicate');
      if (po + q.lens[i - 1] > off) return this.kill(q, m, 'overlap');
    }
    if (i < q.count && q.offs[i] < end) return this.kill(q, m, 'overlap');
    if (q.count === this.config.maxFragments) return this.kill(q, m, 'tooManyFragments');
    if (!more) q.totalLen = end;
    if (off === 0) {
      q.unfragLen = fragAt;
      q.prevNextAt = prevNextAt;
      q.nextHeader = pool.u8[f + Ip6Frag.NEXT];
    }
    // Keep the headers in the headroom: the first one's lead the packet, and ICMPv6 errors quote them.
    pool.adj(m, fragAt + Ip6Frag.LEN);
    for (let k = q.count; k > i; k--) {
      q.mbufs[k] = q.mbufs[k - 1]; q.offs[k] = q.offs[k - 1]; q.lens[k] = q.lens[k - 1];
    }
    q.mbufs[i] = m; q.offs[i] = off; q.lens[i] = len;
    q.count++;
    q.received += len;
    q.truesize += truesize;
    this.bytes += truesize;
    this.counters.rx++;
    if (q.totalLen < 0 || q.received !== q.totalLen) return NO_MBUF;
    return this.assemble(q);
  }

  /** Time out packets that did not complete. */
  tick(now: number): void {
    if (now < this.nextDue) return;
    let next = Infinity;
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i];
      if (!q.used) continue;
      if (now >= q.expiresAt) {
        if (!q.dead) {
          countDrop(this.counters, 'timeout');
          if (q.count > 0 && q.offs[0] === 0 && this.onTimeout) {
            // Give the handler the fragment as it arrived: mtod back at its IPv6 header.
            const m = q.mbufs[0];
            this.pool.prepend(m, q.unfragLen + Ip6Frag.LEN);
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
    for (const q of this.queues) if (q.used) { if (q.count > 0) countDrop(this.counters, 'closed'); this.release(q); }
  }

  private assemble(q: Frag6Queue): number {
    const pool = this.pool;
    const u8 = pool.u8;
    const head = q.mbufs[0];
    const unfrag = q.unfragLen;
    const p = pool.mtod(head);
    // The unfragmentable part moves 8 bytes up, over the fragment header.
    u8.copyWithin(p - unfrag, p - Ip6Frag.LEN - unfrag, p - Ip6Frag.LEN);
    const h = pool.prepend(head, unfrag);
    pool.dv.setUint16(h + Ip6Hdr.PAYLOAD_LEN, unfrag - Ip6Hdr.HDR_LEN + q.totalLen);
    u8[h + q.prevNextAt] = q.nextHeader;
    for (let k = 1; k < q.count; k++) pool.chain(head, q.mbufs[k]);
    q.count = 0;
    this.bytes -= q.truesize;
    q.truesize = 0;
    q.used = false;
    this.inUseCount--;
    this.counters.tx++;
    return head;
  }

  private freeFragments(q: Frag6Queue): void {
    for (let k = 0; k < q.count; k++) this.pool.free(q.mbufs[k]);
    q.count = 0;
    this.bytes -= q.truesize;
    q.truesize = 0;
  }

  private release(q: Frag6Queue): void {
    this.freeFragments(q);
    q.used = false;
    q.dead = false;
    this.inUseCount--;
  }

  private dropOne(m: number, reason: Reassembly6DropReason): number {
    countDrop(this.counters, reason);
    this.pool.free(m);
    return NO_MBUF;
  }

  /** Abandon the packet (RFC 5722): free what it holds and refuse its later fragments until it times out. */
  private kill(q: Frag6Queue, m: number, reason: Reassembly6DropReason): number {
    countDrop(this.counters, reason);
    this.pool.free(m);
    this.freeFragments(q);
    q.dead = true;
    return NO_MBUF;
  }
}
