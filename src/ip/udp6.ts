import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import type { Addr6 } from './addr6.js';
import { finish, pseudoHeaderSum6, sumChain } from './checksum.js';
import { Icmp6 } from './icmp6.js';
import { Ip6Proto } from './ipv6-header.js';
import type { Ipv6Layer } from './ipv6.js';
import { checkUdpHeader, UDP_CSUM, UDP_HDR_LEN, udpHeaderError } from './udp.js';
import type { Mbuf } from '../mbuf/index.js';

/** Why a UDP datagram over IPv6 for no socket was dropped (every one is; udp6 sockets, src/udp/udp6.ts, take the rest). */
export const UDP6_DROP_REASONS = ['truncated', 'headerSplit', 'badLength', 'zeroChecksum', 'badChecksum', 'noPort'] as const;
export type Udp6DropReason = typeof UDP6_DROP_REASONS[number];

/**
 * UDP over IPv6 for no socket (all of it until a udp6 socket exists, then
 * what src/udp/udp6.ts hands back), as {@link UdpClosed} is for IPv4: a
 * well-formed datagram to one of our unicast addresses gets Port
 * Unreachable (RFC 4443 §3.1), to a group nothing; a zero checksum is
 * refused (RFC 8200 §8.1: mandatory over IPv6), malformed ones are dropped
 * silently.
 */
export class Udp6Closed {
  readonly counters: Counters<Udp6DropReason> = newCounters(UDP6_DROP_REASONS);

  /**
   * Offered each well-formed datagram no socket takes (mtod at the UDP
   * header, `hdrLen` the IPv6 headers before it) before Port Unreachable:
   * returning true means it took the mbuf (the kernel exception path).
   */
  onNoSocket: ((m: Mbuf, src: Addr6, dst: Addr6, hdrLen: number) => boolean) | undefined;

  constructor(private readonly ip: Ipv6Layer) {}

  /** An {@link Ip6Handler} for next header 17. */
  input(m: Mbuf, src: Addr6, dst: Addr6, _tclass: number, _hopLimit: number, hdrLen: number): void {
    const pool = this.ip.pool;
    const ulen = checkUdpHeader(pool, m);
    if (ulen < 0) return this.drop(m, udpHeaderError(ulen));
    const p = pool.mtod(m);
    if (pool.dv.getUint16(p + UDP_CSUM) === 0) return this.drop(m, 'zeroChecksum');
    if (!this.ip.checksumUnneeded
      && finish(sumChain(pool, m, 0, ulen, pseudoHeaderSum6(src, dst, Ip6Proto.UDP, ulen))) !== 0) return this.drop(m, 'badChecksum');
    if (this.onNoSocket !== undefined && this.onNoSocket(m, src, dst, hdrLen)) { this.counters.rx++; return; }
    this.counters.rx++;
    // sendError refuses a multicast destination itself (RFC 4443 §2.4(e)).
    this.ip.icmp.sendError(m, hdrLen, Icmp6.DEST_UNREACH, Icmp6.UNREACH_PORT, 0);
    this.drop(m, 'noPort');
  }

  private drop(m: Mbuf, reason: Udp6DropReason): void {
    countDrop(this.counters, reason);
    this.ip.pool.free(m);
  }
}
