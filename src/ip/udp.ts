import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { finish, pseudoHeaderSum, sumChain } from './checksum.js';
import { IPPROTO_UDP } from './ipv4-header.js';
import { ICMP_DEST_UNREACH, ICMP_UNREACH_PORT } from './icmp.js';
import type { Ipv4Layer } from './ipv4.js';
import type { Mempool } from '../mbuf/mempool.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from './addr.js';

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

/** What can be wrong with a UDP header before its checksum (a drop reason of every UDP receiver). */
export type UdpHeaderError = 'truncated' | 'headerSplit' | 'badLength';
const UDP_HEADER_ERRORS: readonly UdpHeaderError[] = ['truncated', 'headerSplit', 'badLength'];

/**
 * The UDP length of the datagram at mtod (8 or more) once checked against
 * the packet (the header wholly in the first segment, the length within the
 * packet), or a negative code for {@link udpHeaderError}. Shared by every
 * UDP receiver, both families.
 */
export function checkUdpHeader(pool: Mempool, m: Mbuf): number {
  const len = pool.pktLen(m);
  if (len < UDP_HDR_LEN) return -1;
  if (pool.dataLen(m) < UDP_HDR_LEN) return -2;
  const ulen = pool.dv.getUint16(pool.mtod(m) + UDP_LEN);
  return ulen < UDP_HDR_LEN || ulen > len ? -3 : ulen;
}

/** The drop reason of a negative {@link checkUdpHeader} result. */
export function udpHeaderError(code: number): UdpHeaderError { return UDP_HEADER_ERRORS[-code - 1]; }

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
  input(m: Mbuf, src: Ip4, dst: Ip4, _tos: number): void {
    const pool = this.ip.pool;
    const ulen = checkUdpHeader(pool, m);
    if (ulen < 0) return this.drop(m, udpHeaderError(ulen));
    const p = pool.mtod(m);
    if (!this.ip.checksumUnneeded && pool.dv.getUint16(p + UDP_CSUM) !== 0) {
      if (finish(sumChain(pool, m, 0, ulen, pseudoHeaderSum(src, dst, IPPROTO_UDP, ulen))) !== 0) return this.drop(m, 'badChecksum');
    }
    this.counters.rx++;
    this.ip.icmp.sendError(m, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0);
    this.drop(m, 'noPort');
  }

  private drop(m: Mbuf, reason: UdpDropReason): void {
    countDrop(this.counters, reason);
    this.ip.pool.free(m);
  }
}
