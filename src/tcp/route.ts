/**
 * What TCP does differently over IPv6, kept out of the IPv4 per-segment
 * code: the address pair a connection (or a segment being answered)
 * carries, the 32-bit demultiplexing key folded from it, the checksum over
 * the IPv6 pseudo-header (RFC 8200 §8.1) in software or as an offload
 * preset with the IPV6 `ol_flags`, and the hand-off to IPv6 with the
 * connection's RFC 6437 flow label.
 *
 * An IPv4 connection has `v6 === null` and never reaches this file; the
 * IPv4 hot path pays one null check per segment.
 */
import { MbufLayout } from '../mbuf/layout.js';
import type { Mempool } from '../mbuf/mempool.js';
import { copyAddr6, newAddr6, type Addr6 } from '../ip/addr6.js';
import { finish, fold, pseudoHeaderSum6, sumChain } from '../ip/checksum.js';
import { Ip6Proto } from '../ip/ipv6-header.js';
import type { L4Env } from '../ip/transport.js';
import type { Ip4 } from '../ip/addr.js';
import { TcpHdr } from './header.js';
import type { Mbuf } from '../mbuf/index.js';

/** Ethernet + IPv6 header bytes a segment needs in front of it. */
export const ETH_IP6_HDR = 14 + 40;

/** The IPv6 addresses of a connection (or of the segment being answered), its demux key and flow label. */
export class Tcp6Pair {
  /** Our address. */
  readonly local: Addr6 = newAddr6();
  /** The peer's. */
  readonly remote: Addr6 = newAddr6();
  /** {@link key6} of the pair: the inner key of the layer's IPv6 demux map. */
  key = 0;
  /** RFC 6437 flow label of the connection (0: not computed yet, for a segment answered without a connection). */
  flowLabel = 0;

  /** Set both addresses (copied) and the key; the flow label is reset. */
  set(local: Readonly<Addr6>, remote: Readonly<Addr6>): this {
    copyAddr6(this.local, local);
    copyAddr6(this.remote, remote);
    this.key = key6(local, remote);
    this.flowLabel = 0;
    return this;
  }

  /** Whether the pair holds exactly these addresses. */
  is(local: Readonly<Addr6>, remote: Readonly<Addr6>): boolean {
    const l = this.local;
    const r = this.remote;
    return r[3] === remote[3] && r[2] === remote[2] && r[1] === remote[1] && r[0] === remote[0]
      && l[3] === local[3] && l[2] === local[2] && l[1] === local[1] && l[0] === local[0];
  }
}

declare const fold6Brand: unique symbol;
/**
 * An IPv6 address folded to 32 bits ({@link fold6}). Its own type, not an
 * {@link Ip4}: a fold is a lookup key, never an address to send to.
 */
export type Fold6 = number & { readonly [fold6Brand]: 'Fold6' };

/**
 * The 32-bit address a connection is known by (`TcpConnection.localIp` /
 * `remoteIp`, the ISN and SYN-cookie hashes, the reply paths shared by both
 * families): the IPv4 address, or for IPv6 its {@link Fold6} (the
 * connection's `v6` pair then holds the real addresses). Code that sends
 * over IPv4 narrows it with `as Ip4` where `v6 === null` says it is one.
 */
export type AddrKey = Ip4 | Fold6;

/** An address folded to 32 bits (xor of its words): what `TcpConnection.localIp`/`remoteIp` hold for IPv6. */
export function fold6(a: Readonly<Addr6>): Fold6 {
  return ((a[0] ^ a[1] ^ a[2] ^ a[3]) >>> 0) as Fold6;
}

/**
 * The 32-bit demux key of an address pair: the remote fold mixed with the
 * local one (our link-local and global addresses share a peer's port
 * space). Collisions are possible and harmless: a lookup verifies the full
 * addresses ({@link Tcp6Pair.is}).
 */
export function key6(local: Readonly<Addr6>, remote: Readonly<Addr6>): number {
  return (fold6(remote) ^ Math.imul(fold6(local), 0x9e3779b1)) | 0;
}

/** Whether the TCP checksum of `m` (pkt_len bytes) is right over the IPv6 pseudo-header. */
export function tcpChecksumOk6(pool: Mempool, m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>): boolean {
  const len = pool.pktLen(m);
  return sumChain(pool, m, 0, len, pseudoHeaderSum6(src, dst, Ip6Proto.TCP, len)) === 0xffff;
}

/** Compute and store the TCP checksum of `m` over the IPv6 pseudo-header. */
export function setTcpChecksum6(pool: Mempool, m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>): void {
  const p = pool.mtod(m);
  pool.u8[p + TcpHdr.Checksum] = 0;
  pool.u8[p + TcpHdr.Checksum + 1] = 0;
  const len = pool.pktLen(m);
  const c = finish(sumChain(pool, m, 0, len, pseudoHeaderSum6(src, dst, Ip6Proto.TCP, len)));
  pool.u8[p + TcpHdr.Checksum] = c >>> 8;
  pool.u8[p + TcpHdr.Checksum + 1] = c & 0xff;
}

/** The offload preset: the folded IPv6 pseudo-header sum, not complemented, with or without the length. */
function setPseudo6(pool: Mempool, m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, withLength: boolean): void {
  const p = pool.mtod(m);
  const c = fold(pseudoHeaderSum6(src, dst, Ip6Proto.TCP, withLength ? pool.pktLen(m) : 0));
  pool.u8[p + TcpHdr.Checksum] = c >>> 8;
  pool.u8[p + TcpHdr.Checksum + 1] = c & 0xff;
}

/**
 * The checksum of an IPv6 segment per the port, as output.ts finishChecksum
 * for IPv4: skipped on trusted links, offloaded (`TCP_CKSUM`; the IPv6
 * layer adds `IPV6` and the header lengths), or computed.
 */
export function finishChecksum6(env: L4Env, m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, hdrLen: number): void {
  const pool = env.pool;
  if (env.checksumUnneeded) return;
  if (env.txOffloads & MbufLayout.TX_OFFLOAD_TCP_CKSUM) {
    setPseudo6(pool, m, src, dst, true);
    pool.setOlFlags(m, pool.olFlagsLo(m), pool.olFlagsHi(m) | MbufLayout.OL_TX_TCP_CKSUM_HI | MbufLayout.OL_TX_IPV6_HI);
    pool.setTxOffload(m, 14, 40, hdrLen, 0);
    return;
  }
  setTcpChecksum6(pool, m, src, dst);
}

/**
 * Mark an IPv6 segment for TSO: `TCP_SEG | IPV6` (no IP checksum in IPv6),
 * the pseudo-header sum without the length, l3_len 40, and the segment size
 * cut so each piece fits the MTU with the 40-byte header (and, as for IPv4,
 * with the Ethernet header counted as net_tap's GSO counts it).
 */
export function tso6(env: L4Env, m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, hdrLen: number, segsz: number): void {
  const pool = env.pool;
  const sz = Math.min(segsz, env.mtu - ETH_IP6_HDR - hdrLen);
  setPseudo6(pool, m, src, dst, false);
  pool.setOlFlags(m, pool.olFlagsLo(m), pool.olFlagsHi(m) | MbufLayout.OL_TX_TCP_SEG_HI | MbufLayout.OL_TX_IPV6_HI);
  pool.setTxOffload(m, 14, 40, hdrLen, sz);
}

/** Hand a segment of `pair` to IPv6 (traffic class `tclass`, the pair's flow label); freed when the stack has no IPv6. */
export function output6(env: L4Env, m: Mbuf, pair: Tcp6Pair, tclass: number): void {
  const ip6 = env.ip6;
  if (ip6 === undefined) { env.pool.free(m); return; }
  ip6.output(m, pair.local, pair.remote, Ip6Proto.TCP, tclass, pair.flowLabel);
}

/**
 * The pair a RST answering `seg` leaves on, with its flow label: a
 * connection's own, or for a segment no connection holds the label the
 * 4-tuple would have (RFC 6437 §3: the same hash, so it stays stable).
 */
export function rstFlow6(layer: { readonly isn: { flowLabel6(l: Readonly<Addr6>, lp: number, r: Readonly<Addr6>, rp: number): number } },
  seg: { readonly srcPort: number; readonly dstPort: number }, pair: Tcp6Pair): Tcp6Pair {
  if (pair.flowLabel === 0) pair.flowLabel = layer.isn.flowLabel6(pair.local, seg.dstPort, pair.remote, seg.srcPort);
  return pair;
}
