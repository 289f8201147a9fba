/**
 * ICMP and ICMPv6 errors for TCP. Path MTU discovery (RFC 1191 for IPv4,
 * RFC 8201 §5.2 for IPv6, RFC 9293 §3.7.3): a "fragmentation needed" or
 * Packet Too Big quoting one of our segments lowers that connection's MSS
 * to what the path carries (the IPv6 layer has already learnt the path MTU
 * for later connections; the IPv4 side keeps it per connection only).
 * Segments in flight that were too big are lost; loss recovery sends them
 * again, cut to the new MSS. And Destination Unreachable while opening
 * ({@link unreachable6}, {@link icmpError4}). A quote is believed only for
 * a sequence number in flight (RFC 5927 §4.1), so a blind attacker must
 * guess it.
 */
import type { Seq } from './seq.js';
import type { Mempool } from '../mbuf/mempool.js';
import { newAddr6, type Addr6 } from '../ip/addr6.js';
import { Ip6Hdr, Ip6Proto } from '../ip/ipv6-header.js';
import { Ip4Hdr, IpProto } from '../ip/ipv4-header.js';
import type { TcpLayer } from './layer.js';
import { TcpState } from './state.js';
import { tcpOutput } from './output.js';
import { TcpError, type TcpCloseErrorCode, type TcpConnection } from './connection.js';
import { seqGt, seqLt } from './seq.js';
import { sndRewind } from './seq-space.js';
import { retried, stopRttTiming } from './timers.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

/** Timestamp option bytes on every segment once timestamps are agreed (NOP NOP TS). */
const TS_OPTION_BYTES = 12;

/**
 * The send MSS: `base` is the largest payload without options (min of the
 * peer's MSS and ours, or what the path MTU carries); the effective MSS
 * leaves room for the timestamp option. The one writer of mssBase and mss,
 * whoever lowers or agrees them (the SYN's options, an ICMP too-big).
 */
export function setMss(c: TcpConnection, base: number): void {
  c.mssBase = base;
  c.mss = base - (c.tsOk ? TS_OPTION_BYTES : 0);
  // The controller counts its growth in segments of this size (a
  // controller registered from outside may not take the change).
  c.cc.setMss?.(c.mss);
}

/** The MSS we announce on our SYN (the interface's, or lower once the path says so). */
export function setAdvMss(c: TcpConnection, mss: number): void {
  c.advMss = mss;
}

/** ICMPv6 types (RFC 4443 §3) and the codes TCP tells apart. */
const enum Icmp6 {
  DEST_UNREACH = 1,
  TIME_EXCEEDED = 3,
  PARAM_PROBLEM = 4,
  UNREACH_ADMIN = 1,
  UNREACH_PORT = 4,
  /** Parameter problem: unrecognized Next Header, i.e. no TCP there. */
  PARAM_NEXT_HEADER = 1,
}

/** ICMP (RFC 792) type and the Destination Unreachable codes TCP tells apart. */
const enum Icmp4 {
  DEST_UNREACH = 3,
  NET_UNREACH = 0,
  PROTO_UNREACH = 2,
  PORT_UNREACH = 3,
  FRAG_NEEDED = 4,
  NET_UNKNOWN = 6,
  NET_PROHIBITED = 9,
  HOST_PROHIBITED = 10,
  NET_TOS = 11,
  /** Communication administratively prohibited (RFC 1812 §5.2.7.1). */
  FILTER_PROHIBITED = 13,
  /** Time Exceeded (RFC 792): a hard error while opening, reported as EHOSTUNREACH by both reference OSes. */
  TIME_EXCEEDED = 11,
  PARAM_PROBLEM = 12,
  HOST_UNREACH = 1,
  /** The invoking datagram starts after the 8-byte ICMP header; the next-hop MTU is at 6 (RFC 1191 §4). */
  QUOTE = 8,
  NEXT_HOP_MTU = 6,
  /** IPv4 + TCP headers without options. */
  HDRS = 40,
  /**
   * The smallest path MTU believed (Linux's min_pmtu): a forged "fragmentation
   * needed" must not shrink a connection to a few bytes a segment.
   */
  MIN_PMTU = 552,
}

/**
 * RFC 1191 §7's plateau table, for routers that announce no next-hop MTU
 * (an old RFC 792 "fragmentation needed" with the field 0): the largest
 * plateau below the quoted datagram's length.
 */
const PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

const enum Ptb {
  /** The invoking packet starts after the ICMPv6 header. */
  QUOTE = 8,
  /** Bytes of the quoted TCP header read: the two ports and the sequence number. */
  TCP_READ = 8,
  /** IPv6 + TCP headers without options. */
  HDRS = 60,
}

const qSrc = newAddr6();
const qDst = newAddr6();

function readAddr(pool: Mempool, at: number, out: Addr6): Addr6 {
  const dv = pool.dv;
  out[0] = dv.getUint32(at); out[1] = dv.getUint32(at + 4); out[2] = dv.getUint32(at + 8); out[3] = dv.getUint32(at + 12);
  return out;
}

/** Whether a quoted segment's connection is open and `seq` one we sent and the peer has not acknowledged (RFC 5927 §4.1). */
function believed(c: TcpConnection | undefined, seq: Seq): c is TcpConnection {
  if (c === undefined || c.state === TcpState.Closed || c.state === TcpState.Listen) return false;
  // FreeBSD (bsdIcmp) wants the quote strictly below SND.MAX; Linux takes SND.NXT itself too.
  if (!seqLt(seq, c.sndUna) && (c.cfg.bsdIcmp ? seqLt(seq, c.sndMax) : !seqGt(seq, c.sndMax))) return true;
  c.layer.counters.icmpOutOfWindow++;
  return false;
}

/** A connection lowers its MSS to what a path MTU carries (`base`: the MTU less the IP and TCP headers). */
function lowerMss(layer: TcpLayer, c: TcpConnection, base: number): boolean {
  if (c.state === TcpState.SynSent) {
    // No peer MSS yet: the path bounds what we announce (and so the MSS the
    // handshake settles on), as Linux's tcp_sync_mss does before the SYN-ACK;
    // FreeBSD (bsdIcmp) keeps announcing its interface MSS.
    if (base >= c.advMss || c.cfg.bsdIcmp) return false;
    setAdvMss(c, base);
  } else if (base >= c.mssBase) return false;
  setMss(c, base);
  layer.counters.pmtuDecreases++;
  if (c.state === TcpState.SynSent && c.fo !== null && c.fo.synDataSent > 0 && c.retries === 0) {
    // A SYN whose early data was too big for the path: send the SYN again at
    // once, as a retransmission (no data, no Fast Open option; the data
    // follows the handshake), as Linux's tcp_v4_mtu_reduced does with
    // tcp_simple_retransmit, rather than waiting for the SYN's RTO.
    retried(c);
    stopRttTiming(c);
    sndRewind(c, c.iss);
  }
  tcpOutput(c, layer.now);
  return true;
}

/**
 * A hard error about our SYN-ACK to a connection request not yet accepted
 * (Linux tcp_req_err): parameter problem, time exceeded, network or host
 * unreachable quoting exactly our ISN drop the request quietly, so a later
 * ACK from that peer meets the listener (and its RST) instead of a
 * connection the path cannot reach. FreeBSD (bsdIcmp) keeps its syncache
 * entry until the SYN-ACK retransmissions say otherwise; Fast Open children
 * holding data are left alone.
 */
function dropRequest(layer: TcpLayer, c: TcpConnection, type: number, code: number, seq: Seq): boolean {
  if (c.cfg.bsdIcmp || c.parent === null || seq !== c.iss || (c.fo !== null && c.fo.synData)) return false;
  if (type === Icmp4.DEST_UNREACH && code !== Icmp4.NET_UNREACH && code !== Icmp4.HOST_UNREACH) return false;
  layer.counters.icmpUnreachables++;
  layer.release(c, undefined);
  return true;
}

/** An unreachable while opening ends the connection (see {@link unreachable6}). */
function refuseOpen(layer: TcpLayer, c: TcpConnection, code: TcpCloseErrorCode, why: string): void {
  layer.counters.icmpUnreachables++;
  layer.release(c, new TcpError(code, why));
}

/** The connection of the TCP segment an ICMPv6 error (`m` at its header) quotes, if it is ours. */
function quoted(layer: TcpLayer, m: Mbuf): TcpConnection | undefined {
  const pool = layer.env.pool;
  if (pool.dataLen(m) < Ptb.QUOTE + Ip6Hdr.HDR_LEN + Ptb.TCP_READ) return undefined;
  const q = pool.mtod(m) + Ptb.QUOTE;
  if (pool.u8[q + Ip6Hdr.NEXT_HDR] !== Ip6Proto.TCP) return undefined;
  const t = q + Ip6Hdr.HDR_LEN;
  const dv = pool.dv;
  // We sent it: its source is ours, its destination the peer.
  const c = layer.find6(readAddr(pool, q + Ip6Hdr.SRC, qSrc), dv.getUint16(t), readAddr(pool, q + Ip6Hdr.DST, qDst), dv.getUint16(t + 2));
  return believed(c, dv.getUint32(t + 4) as Seq) ? c : undefined;
}

/**
 * Whether TCP believes a Packet Too Big (`m` at the ICMPv6 header;
 * Icmp6Layer.believeTooBig): a quote of a TCP segment only for a connection
 * with that sequence number in flight (RFC 5927 §4.1); a quote of another
 * protocol is not TCP's to judge.
 */
export function tooBigBelieved6(layer: TcpLayer, m: Mbuf): boolean {
  const pool = layer.env.pool;
  if (pool.dataLen(m) < Ptb.QUOTE + Ip6Hdr.HDR_LEN || pool.u8[pool.mtod(m) + Ptb.QUOTE + Ip6Hdr.NEXT_HDR] !== Ip6Proto.TCP) return true;
  return quoted(layer, m) !== undefined;
}

/**
 * An ICMPv6 Destination Unreachable quoting the SYN of a connection in
 * SYN-SENT (RFC 1122 §4.2.3.9 lets TCP abort on hard errors while opening;
 * Linux does): port unreachable ends it with ECONNREFUSED, the other codes
 * (no route, administratively prohibited, address unreachable, …) with
 * EHOSTUNREACH, as a kernel socket's connect reports them. Once the
 * connection is synchronized they are soft errors (RFC 5461): ignored,
 * the retransmission timer decides.
 * @returns whether a connection was ended
 */
export function unreachable6(layer: TcpLayer, code: number, m: Mbuf): boolean {
  const c = quoted(layer, m);
  if (c === undefined || c.state !== TcpState.SynSent || !c.cfg.icmpMayReset) return false;
  if (code === Icmp6.UNREACH_PORT || (code === Icmp6.UNREACH_ADMIN && c.cfg.bsdIcmp)) refuseOpen(layer, c, 'ECONNREFUSED', 'connection refused (ICMPv6 port unreachable)');
  else refuseOpen(layer, c, 'EHOSTUNREACH', `host unreachable (ICMPv6 destination unreachable, code ${code})`);
  return true;
}

/**
 * An ICMPv6 error other than Packet Too Big (Icmp6Layer.onError; `m` at its
 * header): destination unreachable as {@link unreachable6}; time exceeded
 * ends a connection in SYN-SENT with EHOSTUNREACH (Linux's tcp_v6_err and
 * FreeBSD's icmp6_errmap); with TcpConfig.bsdIcmp, a parameter problem
 * "unrecognized next header" refuses it (ECONNREFUSED), as FreeBSD.
 * @returns whether a connection changed
 */
export function icmpError6(layer: TcpLayer, type: number, code: number, m: Mbuf): boolean {
  if (type === Icmp6.DEST_UNREACH) return unreachable6(layer, code, m);
  if (type !== Icmp6.TIME_EXCEEDED && type !== Icmp6.PARAM_PROBLEM) return false;
  const c = quoted(layer, m);
  if (c === undefined || c.state !== TcpState.SynSent || !c.cfg.icmpMayReset) return false;
  if (type === Icmp6.TIME_EXCEEDED) refuseOpen(layer, c, 'EHOSTUNREACH', `host unreachable (ICMPv6 time exceeded, code ${code})`);
  else if (c.cfg.bsdIcmp && code === Icmp6.PARAM_NEXT_HEADER) refuseOpen(layer, c, 'ECONNREFUSED', 'connection refused (ICMPv6 unrecognized next header)');
  else return false;
  return true;
}

/**
 * A Packet Too Big announcing `mtu`, `m` at its ICMPv6 header (the caller
 * frees it). Quotes of anything but a TCP segment of ours straight after
 * the IPv6 header (no extension headers: we send none) are ignored, as
 * are MTUs not below the connection's current segment size.
 * @returns whether a connection lowered its MSS
 */
export function packetTooBig6(layer: TcpLayer, mtu: number, m: Mbuf): boolean {
  const c = quoted(layer, m);
  if (c === undefined) return false;
  // RFC 8201 §5: an MTU below the minimum is raised to it.
  const pmtu = mtu < Ip6Hdr.MIN_MTU ? Ip6Hdr.MIN_MTU : mtu;
  return lowerMss(layer, c, pmtu - Ptb.HDRS);
}

/**
 * An ICMP error (IcmpLayer.onError; `m` at its ICMP header, freed by the
 * caller) about one of our IPv4 segments: "fragmentation needed and DF set"
 * lowers the connection's MSS (RFC 1191; every TCP segment we send has DF);
 * any other Destination Unreachable, and Time Exceeded, end a connection
 * still in SYN-SENT (unless TcpConfig.icmpMayReset is off), as Linux does:
 * ECONNREFUSED for port and protocol unreachable, ENETUNREACH for the
 * network codes, EHOSTUNREACH for the rest and for time exceeded; with
 * TcpConfig.bsdIcmp the prohibited codes refuse, as FreeBSD's icmp_errmap.
 * Once synchronized they are soft errors (RFC 1122 §4.2.3.9, RFC 5461):
 * the retransmission timer decides. Source quench is ignored (RFC 6633),
 * as is parameter problem.
 * @returns whether a connection changed
 */
export function icmpError4(layer: TcpLayer, type: number, code: number, m: Mbuf): boolean {
  if (type !== Icmp4.DEST_UNREACH && type !== Icmp4.TIME_EXCEEDED && type !== Icmp4.PARAM_PROBLEM) return false;
  const pool = layer.env.pool;
  const len = pool.dataLen(m);
  if (len < Icmp4.QUOTE + Ip4Hdr.HDR_LEN) return false;
  const q = pool.mtod(m) + Icmp4.QUOTE;
  const u8 = pool.u8;
  const ihl = (u8[q + Ip4Hdr.VER_IHL] & 0x0f) * 4;
  if (ihl < Ip4Hdr.HDR_LEN || u8[q + Ip4Hdr.PROTO] !== IpProto.TCP) return false;
  // RFC 792 quotes at least 8 bytes past the header: the ports and the sequence number.
  if (len < Icmp4.QUOTE + ihl + Ptb.TCP_READ) return false;
  const dv = pool.dv;
  const t = q + ihl;
  // We sent it: its source is ours, its destination the peer.
  const c = layer.find4(dv.getUint32(q + Ip4Hdr.SRC) as Ip4, dv.getUint16(t), dv.getUint32(q + Ip4Hdr.DST) as Ip4, dv.getUint16(t + 2));
  if (!believed(c, dv.getUint32(t + 4) as Seq)) return false;
  if (type === Icmp4.DEST_UNREACH && code === Icmp4.FRAG_NEEDED) {
    let mtu = dv.getUint16(pool.mtod(m) + Icmp4.NEXT_HOP_MTU);
    if (mtu === 0) {
      const sent = dv.getUint16(q + Ip4Hdr.TOTAL_LEN);
      mtu = PLATEAUS.find((p) => p < sent) ?? Icmp4.MIN_PMTU;
    }
    return lowerMss(layer, c, (mtu < Icmp4.MIN_PMTU ? Icmp4.MIN_PMTU : mtu) - Icmp4.HDRS);
  }
  // Linux tcp_v4_err: a Fast Open child with data, not accepted yet, takes a hard error as in
  // SYN-SENT (and stays queued for accept(), closed: readAfterReset); other requests are dropped.
  const foChild = c.fo !== null && c.fo.synData && c.inAcceptQueue && !c.cfg.bsdIcmp;
  if (c.state === TcpState.SynReceived && !c.activeOpen && !foChild) return dropRequest(layer, c, type, code, dv.getUint32(t + 4) as Seq);
  if (type === Icmp4.PARAM_PROBLEM || (c.state !== TcpState.SynSent && !foChild) || !c.cfg.icmpMayReset) return false;
  if (type === Icmp4.TIME_EXCEEDED) refuseOpen(layer, c, 'EHOSTUNREACH', `host unreachable (ICMP time exceeded, code ${code})`);
  else if (c.cfg.bsdIcmp && (code === Icmp4.NET_PROHIBITED || code === Icmp4.HOST_PROHIBITED || code === Icmp4.FILTER_PROHIBITED)) {
    refuseOpen(layer, c, 'ECONNREFUSED', `connection refused (ICMP administratively prohibited, code ${code})`);
  } else if (code === Icmp4.PORT_UNREACH || code === Icmp4.PROTO_UNREACH) refuseOpen(layer, c, 'ECONNREFUSED', `connection refused (ICMP ${code === Icmp4.PORT_UNREACH ? 'port' : 'protocol'} unreachable)`);
  else if (code === Icmp4.NET_UNREACH || code === Icmp4.NET_UNKNOWN || code === Icmp4.NET_PROHIBITED || code === Icmp4.NET_TOS) {
    refuseOpen(layer, c, 'ENETUNREACH', `network unreachable (ICMP destination unreachable, code ${code})`);
  } else refuseOpen(layer, c, 'EHOSTUNREACH', `host unreachable (ICMP destination unreachable, code ${code})`);
  return true;
}
