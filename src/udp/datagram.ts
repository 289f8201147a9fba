/**
 * What both UDP layers (src/udp/layer.ts for IPv4, src/udp/udp6.ts for
 * IPv6) do with a received datagram around their family's own steps
 * (header check in src/ip/udp.ts, pseudo-header, socket lookup): take the
 * NIC's checksum verdict when it gave one, and hand the payload over.
 */
import { MbufLayout } from '../mbuf/layout.js';
import type { Mempool } from '../mbuf/mempool.js';
import { UDP_HDR_LEN } from '../ip/udp.js';
import type { Mbuf } from '../mbuf/index.js';

/** The NIC's L4 checksum verdict on a received `m`: 1 good, -1 bad, 0 none given (sum it in software). */
export function rxL4ChecksumVerdict(pool: Mempool, m: Mbuf): number {
  const ol = pool.olFlagsLo(m) & MbufLayout.OL_RX_L4_CKSUM_MASK_LO;
  return ol === MbufLayout.OL_RX_L4_CKSUM_BAD_LO ? -1 : ol === MbufLayout.OL_RX_L4_CKSUM_GOOD_LO ? 1 : 0;
}

/**
 * A checked datagram of `ulen` UDP bytes in a packet of `len` (IP may have
 * left link padding beyond the UDP length) becomes its payload at mtod, and
 * is counted as received and delivered.
 */
export function acceptDatagram(pool: Mempool, m: Mbuf, ulen: number, len: number, counters: { rx: number; delivered: number }): void {
  if (ulen < len) pool.trim(m, len - ulen);
  pool.adj(m, UDP_HDR_LEN);
  counters.rx++;
  counters.delivered++;
}
