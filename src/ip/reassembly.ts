import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { finish, sumBytes } from './checksum.js';
import { FragReassembler, type FragTableBehaviour, type FragTableLimits } from './frag-table.js';
import {
  IP_CSUM, IP_DST, IP_FLAG_MF, IP_FRAG, IP_FRAG_UNIT, IP_ID, IP_MAX_LEN, IP_OFFSET_MASK, IP_PROTO, IP_SRC, IP_TOTAL_LEN,
} from './ipv4-header.js';
import type { Mbuf } from '../mbuf/index.js';

/** Reassembly tunables. */
export type ReassemblyConfig = FragTableLimits;

/** Defaults for {@link ReassemblyConfig}: 30 s to complete (RFC 791 asks at least 15 s), 64 datagrams of 64 fragments, 4 MiB (as Linux). */
export const DEFAULT_REASSEMBLY_CONFIG: Readonly<ReassemblyConfig> = {
  timeoutMs: 30_000, maxDatagrams: 64, maxBytes: 4 << 20, maxFragments: 64,
};

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
export class Reassembler extends FragReassembler<ReassemblyDropReason> {
  declare readonly config: ReassemblyConfig;

  /**
   * @param onTimeout - called with the first fragment (mtod at its payload,
   *   its IP header just before) of a datagram that timed out, so the IP layer
   *   can send Time Exceeded; the mbuf is freed afterwards by the reassembler
   */
  constructor(pool: Mempool, config: Partial<ReassemblyConfig> = {}, onTimeout?: (firstFragment: Mbuf) => void) {
    super(pool, { ...DEFAULT_REASSEMBLY_CONFIG, ...config }, REASSEMBLY_DROP_REASONS, IPV4_TABLE, onTimeout);
  }

  /**
   * Take one fragment: `m` with mtod at a validated IPv4 header of `ihl`
   * bytes, pkt_len equal to its total length. Takes ownership.
   * @returns the complete datagram (mtod at its IP header, rewritten as an
   *   unfragmented header with a valid checksum) or {@link NO_MBUF}
   */
  insert(m: Mbuf, ihl: number, now: number): Mbuf {
    const pool = this.pool;
    const dv = pool.dv;
    const t = this.table;
    const p = pool.mtod(m);
    const frag = dv.getUint16(p + IP_FRAG);
    const more = (frag & IP_FLAG_MF) !== 0;
    const off = (frag & IP_OFFSET_MASK) * IP_FRAG_UNIT;
    const len = dv.getUint16(p + IP_TOTAL_LEN) - ihl;
    if (len <= 0) { t.dropOne(m, 'emptyFragment'); return NO_MBUF; }
    if (more && (len & (IP_FRAG_UNIT - 1)) !== 0) { t.dropOne(m, 'badFragmentLength'); return NO_MBUF; }
    if (off + len + ihl > IP_MAX_LEN) { t.dropOne(m, 'tooBig'); return NO_MBUF; }
    // Keyed by source, destination, protocol (and the ID).
    const k = t.key;
    k[0] = dv.getUint32(p + IP_SRC);
    k[1] = dv.getUint32(p + IP_DST);
    k[2] = pool.u8[p + IP_PROTO];
    const q = t.insert(m, dv.getUint16(p + IP_ID), off, len, more, ihl, 0, 0, now);
    if (q === null) return NO_MBUF;
    // Complete: the first fragment's header becomes the datagram's.
    const head = q.mbufs[0] as Mbuf;
    const h = pool.prepend(head, q.hdrLen);
    dv.setUint16(h + IP_TOTAL_LEN, q.hdrLen + q.totalLen);
    dv.setUint16(h + IP_FRAG, 0);
    dv.setUint16(h + IP_CSUM, 0);
    dv.setUint16(h + IP_CSUM, finish(sumBytes(dv, h, q.hdrLen)));
    return t.take(q);
  }
}

/** IPv4 on the shared table: an overlap frees the entry (Linux), a second last fragment elsewhere is an overlap. */
const IPV4_TABLE: FragTableBehaviour<ReassemblyDropReason> = {
  names: {
    tableFull: 'tableFull', overlap: 'overlap', afterOverlap: 'overlap', duplicate: 'duplicate',
    tooManyFragments: 'tooManyFragments', lengthMismatch: 'overlap', timeout: 'timeout', closed: 'closed',
  },
  keepDeadEntries: false,
  restoreFirstOnTimeout: false,
};
