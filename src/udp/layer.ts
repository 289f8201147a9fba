/**
 * UDP (RFC 768) over IPv4: datagrams demultiplexed to bound sockets by
 * local port (and address, and for connected sockets the remote end);
 * datagrams for no socket fall through to {@link UdpClosed}, which answers
 * Port Unreachable (RFC 1122 §4.1.3.1). ICMP errors that quote one of our
 * datagrams reach the socket that sent it.
 *
 * Payload stays in the mbufs it arrived in (or was written in): receive
 * strips the header in place, send prepends it into the headroom.
 */
import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { finish, fold, pseudoHeaderSum, sumChain } from '../ip/checksum.js';
import { IpProto } from '../ip/ipv4-header.js';
import { ICMP_DEST_UNREACH, ICMP_HDR_LEN, ICMP_UNREACH_FRAG_NEEDED, ICMP_UNREACH_PORT } from '../ip/icmp.js';
import type { Ipv4Layer } from '../ip/ipv4.js';
import { checkUdpHeader, UDP_CSUM, UDP_DST_PORT, UDP_HDR_LEN, UDP_LEN, UDP_SRC_PORT, udpHeaderError } from '../ip/udp.js';
import { MbufLayout } from '../mbuf/layout.js';
import { acceptDatagram, rxL4ChecksumVerdict } from './datagram.js';
import { PortTable } from './ports.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

/** Why a datagram was dropped. */
export const UDP_LAYER_DROP_REASONS = ['truncated', 'headerSplit', 'badLength', 'badChecksum', 'notConnectedPeer', 'queueFull'] as const;
export type UdpLayerDropReason = typeof UDP_LAYER_DROP_REASONS[number];
const UDP_EXTRAS = ['delivered', 'noSocket', 'icmpErrors', 'sendErrors'] as const;

/** Bytes of headroom a datagram handed to {@link UdpLayer.output} needs (UDP + IPv4 + Ethernet). */
export const UDP_HEADROOM = UDP_HDR_LEN + 20 + 14;

export { EPHEMERAL_HIGH, EPHEMERAL_LOW } from './ports.js';

/** A loopback queue for IPv4 datagrams to our own address (mtod at the UDP header; takes ownership). */
export interface UdpLoopback4 { sendUdp4(m: Mbuf, tos: number): void }

/** What the layer hands a socket. */
export interface UdpEndpoint {
  /** Local address bound (0 = any). */
  readonly localAddr: Ip4;
  readonly localPort: number;
  /** Remote address and port when connected (0 otherwise). */
  readonly remoteAddr: Ip4;
  readonly remotePort: number;
  /** A datagram for this socket: `m` at mtod of the payload; takes ownership. */
  deliver(m: Mbuf, src: Ip4, srcPort: number, dst: Ip4): void;
  /** An ICMP error quoting a datagram this socket sent to `dst:dstPort`. */
  icmpError(type: number, code: number, dst: Ip4, dstPort: number, mtu: number): void;
}

/** UDP over one IPv4 layer. */
export class UdpLayer {
  readonly counters: Counters<UdpLayerDropReason, typeof UDP_EXTRAS[number]> = newCounters(UDP_LAYER_DROP_REASONS, UDP_EXTRAS);
  private readonly ports = new PortTable<UdpEndpoint>();
  private readonly byPort = this.ports.byPort;
  /**
   * Offered each well-formed datagram no socket wants (mtod at the UDP
   * header); returning true means it took the mbuf (an exception path to
   * the kernel), false leaves the port-unreachable answer to us.
   */
  onNoSocket: ((m: Mbuf, src: Ip4, dst: Ip4) => boolean) | undefined;
  /** Where datagrams to our own address go instead of the wire (the stack's loopback, src/loopback.ts). */
  loopback: UdpLoopback4 | undefined;

  constructor(readonly ip: Ipv4Layer, readonly localIp: Ip4) {
    const closed = ip.udp;
    ip.register(IpProto.UDP, (m, src, dst, tos) => this.input(m, src, dst, tos, closed));
    const prev = ip.icmp.onError;
    ip.icmp.onError = (type, code, src, m) => {
      if (prev) prev(type, code, src, m);
      this.onIcmpError(type, code, m);
    };
  }

  /**
   * Take `port` (0: an ephemeral one) on `addr` (0: any) for `ep`.
   * @returns the port bound
   * @throws an error with code `EADDRINUSE` when another socket holds it and not both asked to share
   */
  bind(ep: (port: number) => UdpEndpoint, addr: Ip4, port: number, reuse: boolean): number {
    const sameAddr = (o: UdpEndpoint): boolean => o.localAddr === 0 || addr === 0 || o.localAddr === addr;
    return this.ports.bind(ep, port, (o) => sameAddr(o) && !(reuse && (o as { reuse?: boolean }).reuse), (list) => !list.some(sameAddr));
  }

  /** Give up a binding. */
  unbind(ep: UdpEndpoint): void { this.ports.unbind(ep); }

  /** Take ephemeral ports from `low`..`high` from now on (default 49152-65535). */
  setEphemeralRange(low: number, high: number): void { this.ports.setEphemeralRange(low, high); }

  /** Where ephemeral ports come from: [low, high]. */
  get ephemeralRange(): { low: number; high: number } { return this.ports.ephemeralRange; }

  /** Sockets bound now. */
  get boundCount(): number { return this.ports.size; }

  /**
   * An IP handler for protocol 17: `closed` takes what no socket wants
   * (after {@link onNoSocket}, unless `offerNoSocket` is false: looped-back
   * datagrams have no IP header for the kernel path to rebuild).
   */
  input(m: Mbuf, src: Ip4, dst: Ip4, tos: number, closed: { input(m: Mbuf, src: Ip4, dst: Ip4, tos: number): void },
    offerNoSocket = true): void {
    const pool = this.ip.pool;
    const ulen = checkUdpHeader(pool, m);
    if (ulen < 0) return this.drop(m, udpHeaderError(ulen));
    const len = pool.pktLen(m);
    const p = pool.mtod(m);
    const dv = pool.dv;
    const dport = dv.getUint16(p + UDP_DST_PORT);
    const ep = this.lookup(dport, dst, src, dv.getUint16(p + UDP_SRC_PORT));
    if (ep === undefined) {
      this.counters.noSocket++;
      if (offerNoSocket && this.onNoSocket !== undefined && this.onNoSocket(m, src, dst)) return;
      return closed.input(m, src, dst, tos);
    }
    if (!this.ip.checksumUnneeded && dv.getUint16(p + UDP_CSUM) !== 0) {
      const v = rxL4ChecksumVerdict(pool, m);
      if (v < 0 || (v === 0 && finish(sumChain(pool, m, 0, ulen, pseudoHeaderSum(src, dst, IpProto.UDP, ulen))) !== 0)) return this.drop(m, 'badChecksum');
    }
    const sport = dv.getUint16(p + UDP_SRC_PORT);
    acceptDatagram(pool, m, ulen, len, this.counters);
    ep.deliver(m, src, sport, dst);
  }

  /** The most specific socket for a datagram: connected match, then bound address, then wildcard. */
  private lookup(port: number, dst: Ip4, src: Ip4, sport: number): UdpEndpoint | undefined {
    const list = this.byPort.get(port);
    if (list === undefined) return undefined;
    let best: UdpEndpoint | undefined;
    let bestScore = -1;
    for (const o of list) {
      if (o.localAddr !== 0 && o.localAddr !== dst) continue;
      if (o.remotePort !== 0 && (o.remoteAddr !== src || o.remotePort !== sport)) continue;
      const score = (o.remotePort !== 0 ? 2 : 0) + (o.localAddr !== 0 ? 1 : 0);
      if (score > bestScore) { best = o; bestScore = score; }
    }
    return best;
  }

  /**
   * Send a datagram: `m` holds the payload at mtod with {@link UDP_HEADROOM}
   * bytes of headroom. Prepends the header, fills the checksum (by offload
   * when the port has it) and hands it to IP. Takes ownership.
   * @returns false (and frees `m`) when the headroom is missing or the datagram is too long
   */
  output(m: Mbuf, srcPort: number, dst: Ip4, dstPort: number, tos = 0): boolean {
    const pool = this.ip.pool;
    const plen = pool.pktLen(m);
    const ulen = plen + UDP_HDR_LEN;
    if (ulen > 65535 - 20) { this.counters.sendErrors++; pool.free(m); return false; }
    const p = pool.prepend(m, UDP_HDR_LEN);
    if (p < 0) { this.counters.sendErrors++; pool.free(m); return false; }
    const dv = pool.dv;
    dv.setUint16(p + UDP_SRC_PORT, srcPort);
    dv.setUint16(p + UDP_DST_PORT, dstPort);
    dv.setUint16(p + UDP_LEN, ulen);
    dv.setUint16(p + UDP_CSUM, 0);
    const ip = this.ip;
    if (!ip.checksumUnneeded) {
      const src = this.localIp;
      // Offload only what fits in one IPv4 packet: fragments carry the checksum computed here.
      if ((ip.txOffloads & MbufLayout.TX_OFFLOAD_UDP_CKSUM) !== 0 && ulen + 20 <= ip.mtu) {
        // The pseudo-header sum folded, not complemented: what checksum offload expects in the field.
        dv.setUint16(p + UDP_CSUM, fold(pseudoHeaderSum(src, dst, IpProto.UDP, ulen)));
        pool.setOlFlags(m, pool.olFlagsLo(m), (pool.olFlagsHi(m) & ~MbufLayout.OL_TX_L4_MASK_HI) | MbufLayout.OL_TX_UDP_CKSUM_HI | MbufLayout.OL_TX_IPV4_HI);
        pool.setTxOffload(m, 14, 20, 0, 0);
      } else {
        const c = finish(sumChain(pool, m, 0, ulen, pseudoHeaderSum(src, dst, IpProto.UDP, ulen)));
        // A computed 0 is sent as all ones: 0 means "no checksum" (RFC 768).
        dv.setUint16(p + UDP_CSUM, c === 0 ? 0xffff : c);
      }
    }
    this.counters.tx++;
    if (dst === this.localIp && this.loopback !== undefined) { this.loopback.sendUdp4(m, tos); return true; }
    ip.output(m, dst, IpProto.UDP, tos);
    return true;
  }

  /** An ICMP error (`m` at the ICMP header) quoting a UDP datagram we sent: tell its socket. */
  private onIcmpError(type: number, code: number, m: Mbuf): void {
    const pool = this.ip.pool;
    const len = pool.dataLen(m);
    const q = pool.mtod(m) + ICMP_HDR_LEN;
    if (len < ICMP_HDR_LEN + 20 + UDP_HDR_LEN) return;
    const u8 = pool.u8;
    const dv = pool.dv;
    const ihl = (u8[q] & 0x0f) * 4;
    if ((u8[q] >> 4) !== 4 || ihl < 20 || u8[q + 9] !== IpProto.UDP || len < ICMP_HDR_LEN + ihl + UDP_HDR_LEN) return;
    const src = dv.getUint32(q + 12) as Ip4;
    const dst = dv.getUint32(q + 16) as Ip4;
    const sport = dv.getUint16(q + ihl + UDP_SRC_PORT);
    const dport = dv.getUint16(q + ihl + UDP_DST_PORT);
    const ep = this.lookupSender(sport, src, dst, dport);
    if (ep === undefined) return;
    this.counters.icmpErrors++;
    const mtu = type === ICMP_DEST_UNREACH && code === ICMP_UNREACH_FRAG_NEEDED ? dv.getUint16(pool.mtod(m) + 6) : 0;
    ep.icmpError(type, code, dst, dport, mtu);
  }

  private lookupSender(sport: number, src: Ip4, dst: Ip4, dport: number): UdpEndpoint | undefined {
    const list = this.byPort.get(sport);
    if (!list) return undefined;
    return list.find((o) => (o.localAddr === 0 || o.localAddr === src) && (o.remotePort === 0 || (o.remoteAddr === dst && o.remotePort === dport)));
  }

  private drop(m: Mbuf, reason: UdpLayerDropReason): void {
    countDrop(this.counters, reason);
    if (m !== NO_MBUF) this.ip.pool.free(m);
  }
}


export { ICMP_UNREACH_PORT };
