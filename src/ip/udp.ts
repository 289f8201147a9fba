import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { finish, pseudoHeaderSum, sumChain } from './checksum.js';
import { IPPROTO_UDP } from './ipv4-header.js';
import { ICMP_DEST_UNREACH, ICMP_UNREACH_PORT } from './icmp.js';
import type { Ipv4Layer } from './ipv4.js';

/**
 * The UDP header (RFC 768).
 *
 * ```
 *  0 source port (2)   2 destination port (2)   4 length (2)   6 checksum (2)
 * ```
 */
export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;
export const UDP_LEN = 4;
export const UDP_CSUM = 6;
export const UDP_HDR_LEN = 8;

/** Why a UDP datagram was dropped (every one is: there are no UDP sockets). */
export const UDP_DROP_REASONS = ['truncated', 'headerSplit', 'badLength', 'badChecksum', 'noPort'] as const;
export type UdpDropReason = typeof UDP_DROP_REASONS[number];

/**
 * tzstack has no UDP sockets: every well-formed datagram is for a closed
 * port and gets Port Unreachable, as RFC 1122 §3.2.2.1 and §4.1.3.1 ask of a
 * host. Malformed ones (length or checksum) are dropped silently, as Linux.
 */
export class UdpClosed {
  readonly counters: Counters<UdpDropReason> = newCounters(UDP_DROP_REASONS);

  constructor(private readonly ip: Ipv4Layer) {}

  /** An {@link IpHandler} for protocol 17. */
  input(m: number, src: number, dst: number, _tos: number): void {
    const pool = this.ip.pool;
    const len = pool.pktLen(m);
    if (len < UDP_HDR_LEN) return this.drop(m, 'truncated');
    if (pool.dataLen(m) < UDP_HDR_LEN) return this.drop(m, 'headerSplit');
    const p = pool.mtod(m);
    const ulen = pool.dv.getUint16(p + UDP_LEN);
    if (ulen < UDP_HDR_LEN || ulen > len) return this.drop(m, 'badLength');
    if (!this.ip.checksumUnneeded && pool.dv.getUint16(p + UDP_CSUM) !== 0) {
      if (finish(sumChain(pool, m, 0, ulen, pseudoHeaderSum(src, dst, IPPROTO_UDP, ulen))) !== 0) return this.drop(m, 'badChecksum');
    }
    this.counters.rx++;
    this.ip.icmp.sendError(m, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0);
    this.drop(m, 'noPort');
  }

  private drop(m: number, reason: UdpDropReason): void {
    countDrop(this.counters, reason);
    this.ip.pool.free(m);
  }
}
