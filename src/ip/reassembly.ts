import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { finish, sumBytes } from './checksum.js';
import {
  IP_CSUM, IP_DST, IP_FLAG_MF, IP_FRAG, IP_FRAG_UNIT, IP_ID, IP_MAX_LEN, IP_OFFSET_MASK, IP_PROTO, IP_SRC, IP_TOTAL_LEN,
} from './ipv4-header.js';

/** Reassembly tunables. */
export interface ReassemblyConfig {
  /** How long a datagram may take to complete (ms). Default 30000 (RFC 791 asks at least 15 s). */
  timeoutMs: number;
  /** Datagrams being reassembled at once. Default 64. */
  maxDatagrams: number;
  /** Buffer memory held by incomplete datagrams (mbuf segments × buf_len). Default 4 MiB, as Linux. */
  maxBytes: number;
  /** Fragments per datagram. Default 64. */
  maxFragments: number;
}

/** Defaults for {@link ReassemblyConfig}. */
export const DEFAULT_REASSEMBLY_CONFIG: Readonly<ReassemblyConfig> = {
  timeoutMs: 30_000, maxDatagrams: 64, maxBytes: 4 << 20, maxFragments: 64,
};

/** One datagram being reassembled; reused, never made per packet. */
class FragQueue {
  used = false;
  src = 0;
  dst = 0;
  id = 0;
  proto = 0;
  expiresAt = 0;
  /** Payload length once the last fragment (MF clear) arrived, else -1. */
  totalLen = -1;
  /** Payload bytes held. */
  received = 0;
  /** Buffer bytes held (for the table's memory bound). */
  truesize = 0;
  /** IHL*4 of the first fragment, once it arrived. */
  firstIhl = 0;
  count = 0;
  /** Fragments sorted by offset: mbuf (mtod at the payload, IP header kept in its headroom), offset, length. */
  readonly mbufs: Int32Array;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  constructor(max: number) {
    this.mbufs = new Int32Array(max);
    this.offs = new Int32Array(max);
    this.lens = new Int32Array(max);
  }
}

/** Why a fragment was dropped. */
export const REASSEMBLY_DROP_REASONS = ['emptyFragment', 'badFragmentLength', 'tooBig', 'tableFull', 'overlap', 'duplicate',
  'tooManyFragments', 'timeout', 'closed'] as const;
export type ReassemblyDropReason = typeof REASSEMBLY_DROP_REASONS[number];

/**
 * IPv4 fragment reassembly (RFC 791 §3.2, RFC 815) with a bounded table.
 *
 * Overlapping fragments drop the whole datagram, as Linux does since 4.19
 * (and RFC 5722 asks for IPv6): overlaps are only ever made by attackers;
 * an exact duplicate is dropped alone. The result is the fragments chained
 * into one multi-segment mbuf, payloads not copied.
 */
export class Reassembler {
  readonly config: ReassemblyConfig;
  /** `rx` fragments taken, `tx` datagrams completed, drops by reason. */
  readonly counters: Counters<ReassemblyDropReason, 'timeExceededSent'> = newCounters(REASSEMBLY_DROP_REASONS, ['timeExceededSent']);
  private readonly queues: FragQueue[] = [];
  private inUseCount = 0;
  private bytes = 0;
  private nextDue = Infinity;

  /**
   * @param onTimeout - called with the first fragment (mtod at its payload,
   *   its IP header just before) of a datagram that timed out, so the IP layer
   *   can send Time Exceeded; the mbuf is freed afterwards by the reassembler
   */
  constructor(private readonly pool: Mempool, config: Partial<ReassemblyConfig> = {},
    private readonly onTimeout?: (firstFragment: number) => void) {
    this.config = { ...DEFAULT_REASSEMBLY_CONFIG, ...config };
    for (let i = 0; i < this.config.maxDatagrams; i++) this.queues.push(new FragQueue(this.config.maxFragments));
  }

  /** Datagrams currently incomplete. */
  get pending(): number { return this.inUseCount; }
  /** Buffer bytes currently held. */
  get heldBytes(): number { return this.bytes; }

  /**
   * Take one fragment: `m` with mtod at a validated IPv4 header of `ihl`
   * bytes, pkt_len equal to its total length. Takes ownership.
   * @returns the complete datagram (mtod at its IP header, rewritten as an
   *   unfragmented header with a valid checksum) or {@link NO_MBUF}
   */
  insert(m: number, ihl: number, now: number): number {
    const pool = this.pool;
    const dv = pool.dv;
    const c = this.counters;
    const p = pool.mtod(m);
    const frag = dv.getUint16(p + IP_FRAG);
    const more = (frag & IP_FLAG_MF) !== 0;
    const off = (frag & IP_OFFSET_MASK) * IP_FRAG_UNIT;
    const len = dv.getUint16(p + IP_TOTAL_LEN) - ihl;
    if (len <= 0) return this.dropOne(m, 'emptyFragment');
    if (more && (len & (IP_FRAG_UNIT - 1)) !== 0) return this.dropOne(m, 'badFragmentLength');
    const end = off + len;
    if (end + ihl > IP_MAX_LEN) return this.dropOne(m, 'tooBig');
    const src = dv.getUint32(p + IP_SRC);
    const dst = dv.getUint32(p + IP_DST);
    const id = dv.getUint16(p + IP_ID);
    const proto = pool.u8[p + IP_PROTO];
    const truesize = pool.nbSegs(m) * pool.bufLen;

    let q: FragQueue | undefined;
    let free: FragQueue | undefined;
    for (let i = 0; i < this.queues.length; i++) {
      const e = this.queues[i];
      if (!e.used) { if (free === undefined) free = e; continue; }
      if (e.id === id && e.src === src && e.dst === dst && e.proto === proto) { q = e; break; }
    }
    if (this.bytes + truesize > this.config.maxBytes) return this.dropOne(m, 'tableFull');
    if (q === undefined) {
      if (free === undefined) return this.dropOne(m, 'tableFull');
      q = free;
      q.used = true;
      q.src = src; q.dst = dst; q.id = id; q.proto = proto;
      q.expiresAt = now + this.config.timeoutMs;
      q.totalLen = -1; q.received = 0; q.truesize = 0; q.firstIhl = 0; q.count = 0;
      this.inUseCount++;
      if (q.expiresAt < this.nextDue) this.nextDue = q.expiresAt;
    }

    if (!more) {
      if (q.totalLen >= 0 && q.totalLen !== end) return this.dropQueue(q, m, 'overlap');
      if (q.count > 0 && q.offs[q.count - 1] + q.lens[q.count - 1] > end) return this.dropQueue(q, m, 'overlap');
    } else if (q.totalLen >= 0 && end > q.totalLen) {
      return this.dropQueue(q, m, 'overlap');
    }
    // Where it goes in offset order, and whether it touches a neighbour.
    let i = q.count;
    while (i > 0 && q.offs[i - 1] > off) i--;
    if (i > 0) {
      const po = q.offs[i - 1];
      if (po === off && q.lens[i - 1] === len) return this.dropOne(m, 'duplicate');
      if (po + q.lens[i - 1] > off) return this.dropQueue(q, m, 'overlap');
    }
    if (i < q.count && q.offs[i] < end) return this.dropQueue(q, m, 'overlap');
    if (q.count === this.config.maxFragments) return this.dropQueue(q, m, 'tooManyFragments');
    if (!more) q.totalLen = end;

    pool.adj(m, ihl); // keep the header in the headroom: reassembly and ICMP errors need it
    if (off === 0) q.firstIhl = ihl;
    for (let k = q.count; k > i; k--) {
      q.mbufs[k] = q.mbufs[k - 1]; q.offs[k] = q.offs[k - 1]; q.lens[k] = q.lens[k - 1];
    }
    q.mbufs[i] = m; q.offs[i] = off; q.lens[i] = len;
    q.count++;
    q.received += len;
    q.truesize += truesize;
    this.bytes += truesize;
    c.rx++;
    if (q.totalLen < 0 || q.received !== q.totalLen) return NO_MBUF;
    // No overlaps and every byte of [0, totalLen) present: complete.
    return this.assemble(q);
  }

  /** Time out datagrams that did not complete. */
  tick(now: number): void {
    if (now < this.nextDue) return;
    let next = Infinity;
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i];
      if (!q.used) continue;
      if (now >= q.expiresAt) {
        countDrop(this.counters, 'timeout');
        if (q.count > 0 && q.offs[0] === 0 && this.onTimeout) {
          this.counters.timeExceededSent++;
          this.onTimeout(q.mbufs[0]);
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
    for (const q of this.queues) if (q.used) { countDrop(this.counters, 'closed'); this.release(q); }
  }

  private assemble(q: FragQueue): number {
    const pool = this.pool;
    const head = q.mbufs[0];
    const ihl = q.firstIhl;
    const p = pool.prepend(head, ihl);
    const dv = pool.dv;
    dv.setUint16(p + IP_TOTAL_LEN, ihl + q.totalLen);
    dv.setUint16(p + IP_FRAG, 0);
    dv.setUint16(p + IP_CSUM, 0);
    dv.setUint16(p + IP_CSUM, finish(sumBytes(dv, p, ihl)));
    for (let k = 1; k < q.count; k++) pool.chain(head, q.mbufs[k]);
    q.count = 0;
    this.bytes -= q.truesize;
    q.used = false;
    this.inUseCount--;
    this.counters.tx++;
    return head;
  }

  private release(q: FragQueue): void {
    for (let k = 0; k < q.count; k++) this.pool.free(q.mbufs[k]);
    q.count = 0;
    this.bytes -= q.truesize;
    q.used = false;
    this.inUseCount--;
  }

  private dropOne(m: number, reason: ReassemblyDropReason): number {
    countDrop(this.counters, reason);
    this.pool.free(m);
    return NO_MBUF;
  }

  private dropQueue(q: FragQueue, m: number, reason: ReassemblyDropReason): number {
    countDrop(this.counters, reason);
    this.pool.free(m);
    this.release(q);
    return NO_MBUF;
  }
}
