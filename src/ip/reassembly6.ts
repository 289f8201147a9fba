import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { FragReassembler, type FragTableBehaviour, type FragTableLimits } from './frag-table.js';
import { Ip6Frag, Ip6Hdr } from './ipv6-header.js';
import type { Mbuf } from '../mbuf/index.js';

/** IPv6 reassembly tunables. */
export type Reassembly6Config = FragTableLimits;

/** Defaults for {@link Reassembly6Config}: 60 s to complete (RFC 8200 §4.5), 64 packets of 64 fragments, 4 MiB (as Linux). */
export const DEFAULT_REASSEMBLY6_CONFIG: Readonly<Reassembly6Config> = {
  timeoutMs: 60_000, maxDatagrams: 64, maxBytes: 4 << 20, maxFragments: 64,
};

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
export class Reassembler6 extends FragReassembler<Reassembly6DropReason> {
  declare readonly config: Reassembly6Config;

  /**
   * @param onTimeout - called with the first fragment (mtod at its IPv6
   *   header, whole headers in the first segment) of a packet that timed
   *   out, so ICMPv6 can send Time Exceeded; freed afterwards by the reassembler
   */
  constructor(pool: Mempool, config: Partial<Reassembly6Config> = {}, onTimeout?: (firstFragment: Mbuf) => void) {
    super(pool, { ...DEFAULT_REASSEMBLY6_CONFIG, ...config }, REASSEMBLY6_DROP_REASONS, IPV6_TABLE, onTimeout);
  }

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
  insert(m: Mbuf, fragAt: number, prevNextAt: number, now: number): Mbuf {
    const pool = this.pool;
    const dv = pool.dv;
    const t = this.table;
    const p = pool.mtod(m);
    const f = p + fragAt;
    const offFlags = dv.getUint16(f + Ip6Frag.OFF_FLAGS);
    // Keyed by source and destination (and the ID).
    const k = t.key;
    for (let i = 0; i < 4; i++) { k[i] = dv.getUint32(p + Ip6Hdr.SRC + 4 * i); k[4 + i] = dv.getUint32(p + Ip6Hdr.DST + 4 * i); }
    const q = t.insert(m, dv.getUint32(f + Ip6Frag.ID), offFlags & Ip6Frag.OFFSET_MASK, pool.pktLen(m) - fragAt - Ip6Frag.LEN,
      (offFlags & Ip6Frag.FLAG_M) !== 0, fragAt + Ip6Frag.LEN, prevNextAt, pool.u8[f + Ip6Frag.NEXT], now);
    if (q === null) return NO_MBUF;
    // Complete: the unfragmentable part of the first fragment moves 8 bytes up, over its fragment header.
    const u8 = pool.u8;
    const head = q.mbufs[0] as Mbuf;
    const unfrag = q.hdrLen - Ip6Frag.LEN;
    const d = pool.mtod(head);
    u8.copyWithin(d - unfrag, d - Ip6Frag.LEN - unfrag, d - Ip6Frag.LEN);
    const h = pool.prepend(head, unfrag);
    dv.setUint16(h + Ip6Hdr.PAYLOAD_LEN, unfrag - Ip6Hdr.HDR_LEN + q.totalLen);
    u8[h + q.prevNextAt] = q.nextHeader;
    return t.take(q);
  }
}

/**
 * IPv6 on the shared table: an overlap abandons the packet and its later
 * fragments too (RFC 5722), the entry kept dead until it times out; a
 * timed-out first fragment goes to ICMPv6 with its headers back in front.
 */
const IPV6_TABLE: FragTableBehaviour<Reassembly6DropReason> = {
  names: {
    tableFull: 'tableFull', overlap: 'overlap', afterOverlap: 'afterOverlap', duplicate: 'duplicate',
    tooManyFragments: 'tooManyFragments', lengthMismatch: 'lengthMismatch', timeout: 'timeout', closed: 'closed',
  },
  keepDeadEntries: true,
  restoreFirstOnTimeout: true,
};
