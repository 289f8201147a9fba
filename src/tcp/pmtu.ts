/**
 * ICMPv6 errors for TCP. Path MTU discovery (RFC 8201 §5.2, RFC 9293 §3.7.3):
 * a Packet Too Big quoting one of our segments lowers that connection's
 * MSS to what the path carries (the IPv6 layer has already learnt the path
 * MTU for later connections). Segments in flight that were too big are
 * lost; loss recovery sends them again, cut to the new MSS. And
 * Destination Unreachable while opening ({@link unreachable6}). A quote is
 * believed only for a sequence number in flight (RFC 5927 §4.1), so a blind
 * attacker must guess it.
 */
import type { Mempool } from '../mbuf/mempool.js';
import { newAddr6, type Addr6 } from '../ip/addr6.js';
import { Ip6Hdr, Ip6Proto } from '../ip/ipv6-header.js';
import type { TcpLayer } from './layer.js';
import { TcpState } from './state.js';
import { tcpOutput } from './output.js';
import { TcpError, type TcpConnection } from './connection.js';
import { seqGt, seqLt } from './seq.js';

/** ICMPv6 Destination Unreachable code 4 (RFC 4443 §3.1). */
const UNREACH_PORT = 4;

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

/** The connection of the TCP segment an ICMPv6 error (`m` at its header) quotes, if it is ours. */
function quoted(layer: TcpLayer, m: number): TcpConnection | undefined {
  const pool = layer.env.pool;
  if (pool.dataLen(m) < Ptb.QUOTE + Ip6Hdr.HDR_LEN + Ptb.TCP_READ) return undefined;
  const q = pool.mtod(m) + Ptb.QUOTE;
  if (pool.u8[q + Ip6Hdr.NEXT_HDR] !== Ip6Proto.TCP) return undefined;
  const t = q + Ip6Hdr.HDR_LEN;
  const dv = pool.dv;
  // We sent it: its source is ours, its destination the peer.
  const c = layer.find6(readAddr(pool, q + Ip6Hdr.SRC, qSrc), dv.getUint16(t), readAddr(pool, q + Ip6Hdr.DST, qDst), dv.getUint16(t + 2));
  if (c === undefined || c.state === TcpState.Closed || c.state === TcpState.Listen) return undefined;
  // The quoted sequence number must be one we sent and the peer has not acknowledged (RFC 5927 §4.1).
  const seq = dv.getUint32(t + 4);
  if (seqLt(seq, c.sndUna) || seqGt(seq, c.sndMax)) return undefined;
  return c;
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
export function unreachable6(layer: TcpLayer, code: number, m: number): boolean {
  const c = quoted(layer, m);
  if (c === undefined || c.state !== TcpState.SynSent) return false;
  layer.counters.icmpUnreachables++;
  layer.release(c, code === UNREACH_PORT ? new TcpError('ECONNREFUSED', 'connection refused (ICMPv6 port unreachable)')
    : new TcpError('EHOSTUNREACH', `host unreachable (ICMPv6 destination unreachable, code ${code})`));
  return true;
}

/**
 * A Packet Too Big announcing `mtu`, `m` at its ICMPv6 header (the caller
 * frees it). Quotes of anything but a TCP segment of ours straight after
 * the IPv6 header (no extension headers: we send none) are ignored, as
 * are MTUs not below the connection's current segment size.
 * @returns whether a connection lowered its MSS
 */
export function packetTooBig6(layer: TcpLayer, mtu: number, m: number): boolean {
  const c = quoted(layer, m);
  if (c === undefined) return false;
  // RFC 8201 §5: an MTU below the minimum is raised to it.
  const pmtu = mtu < Ip6Hdr.MIN_MTU ? Ip6Hdr.MIN_MTU : mtu;
  const base = pmtu - Ptb.HDRS;
  if (base >= c.mssBase) return false;
  c.mssBase = base;
  c.mss = base - (c.tsOk ? 12 : 0);
  layer.counters.pmtuDecreases++;
  tcpOutput(c, layer.now);
  return true;
}
