import type { Ip4 } from '../ip/addr.js';
/**
 * Injected ICMPv4 packets, as packetdrill builds them (icmp_packet.c):
 *
 * ```
 * < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]
 * < icmp unreachable port_unreachable [0:0(0)]
 * < icmp time_exceeded ttl_exceeded_in_transit
 * ```
 *
 * `TYPE [CODE] [mtu N] [id N] ['[' seq:end(len) ']' | '[' udp(len) ']']`:
 * type and code by name (or `type_N` / `code_N`), the next-hop MTU of a
 * "fragmentation needed", and the packet it quotes: an IPv4 header (our
 * address to the peer's, total length 20 + 20 + len, protocol TCP) and the
 * first 8 bytes of the TCP header — the ports of the socket under test and
 * the sequence number, relative to our ISN (packetdrill's
 * map_inbound_icmp_tcp_packet). Without the brackets the quote says
 * sequence 0, i.e. our ISN.
 */

/** ICMPv4 types by packetdrill's names. */
const TYPES: Record<string, number> = {
  echo_reply: 0, unreachable: 3, source_quench: 4, redirect: 5, echo_request: 8, time_exceeded: 11,
  parameter_problem: 12, timestamp_request: 13, timestamp_reply: 14, information_request: 15,
  information_reply: 16, address_mask_request: 17, address_mask_reply: 18,
};

/** Destination Unreachable codes by packetdrill's names (RFC 792, 1122, 1812). */
const UNREACH_CODES: Record<string, number> = {
  net_unreachable: 0, host_unreachable: 1, protocol_unreachable: 2, port_unreachable: 3, frag_needed: 4,
  source_route_failed: 5, net_unknown: 6, host_unknown: 7, source_host_isolated: 8, net_prohibited: 9,
  host_prohibited: 10, net_unreachable_for_tos: 11, host_unreachable_for_tos: 12, packet_filtered: 13,
  precedence_violation: 14, precedence_cutoff: 15,
};

/** One parsed `< icmp ...` line. */
export interface IcmpSpec {
  type: number;
  code: number;
  /** Next-hop MTU (frag_needed only), or -1. */
  mtu: number;
  /** The quoted TCP segment's script sequence number and payload length; null when a UDP datagram is quoted. */
  quote: { seq: number; len: number } | null;
  /** Payload length of a quoted UDP datagram. */
  udpLen: number;
}

/**
 * Parse the words after `icmp` (the tokens the parser kept, space-separated).
 * @param defines - `--define`d names (run_all.py's `-D CODE=host_unreachable`)
 * @returns the spec, or why it cannot be built
 */
export function parseIcmpSpec(text: string, defines: (name: string) => string | undefined): IcmpSpec | string {
  const toks = text.trim().split(/\s+/).filter((t) => t.length > 0).map((t) => defines(t) ?? t);
  let i = 0;
  const typeName = toks[i++];
  if (typeName === undefined) return 'icmp packet without a type';
  let type = TYPES[typeName];
  const tm = /^type_(\d+)$/.exec(typeName);
  if (tm) type = Number(tm[1]);
  if (type === undefined || type > 255) return `ICMP type ${typeName}`;
  let code = 0;
  const c = toks[i];
  if (c !== undefined && c !== 'mtu' && c !== 'id' && c !== '[') {
    i++;
    const cm = /^code_(\d+)$/.exec(c);
    if (cm) code = Number(cm[1]);
    else if (type === 3 && c in UNREACH_CODES) code = UNREACH_CODES[c];
    else if (type === 11 && (c === 'ttl_exceeded_in_transit' || c === 'frag_reass_exceeded')) code = c === 'ttl_exceeded_in_transit' ? 0 : 1;
    else return `ICMP code ${c}`;
    if (code > 255) return `ICMP code ${c}`;
  }
  let mtu = -1;
  if (toks[i] === 'mtu') {
    mtu = Number(toks[i + 1]);
    i += 2;
    if (!Number.isInteger(mtu) || mtu < 0 || mtu > 0xffff) return 'ICMP MTU';
    if (type !== 3 || code !== 4) return 'ICMPv4 MTU is only valid for unreachable-frag_needed';
  }
  if (toks[i] === 'id') return 'ICMP echo id';
  let quote: IcmpSpec['quote'] = { seq: 0, len: 0 };
  let udpLen = 0;
  if (toks[i] === '[') {
    const inner = toks.slice(i + 1).join(' ');
    const m = /^(\d+) : (\d+) \( (\d+) \) \]$/.exec(inner);
    const u = /^udp \( (\d+) \) \]$/.exec(inner);
    if (m) {
      const seq = Number(m[1]);
      const end = Number(m[2]);
      const len = Number(m[3]);
      if (seq > 0xffffffff || ((seq + len) >>> 0) !== (end >>> 0)) return `ICMP quote [${m[1]}:${m[2]}(${m[3]})]`;
      quote = { seq, len };
    } else if (u) {
      quote = null;
      udpLen = Number(u[1]);
    } else {
      // e.g. `[0:0(0)/udp(9811 > 1)]`: a TCP sequence over UDP encapsulation.
      return /\/\s*udp/.test(inner) ? 'TCP over UDP encapsulation (not in tzstack, by design)' : `ICMP quote [${inner}`;
    }
  } else if (i < toks.length) {
    return `ICMP word ${toks[i]}`;
  }
  return { type, code, mtu, quote, udpLen };
}

/**
 * The ICMP message (from its header on) for a spec: 8-byte header with the
 * MTU in bytes 6-7, a 20-byte IPv4 header and 8 bytes of the TCP header.
 * @param localIp / remoteIp / localPort / remotePort - the quoted segment went from us to the peer
 * @param seq - the live sequence number to quote
 */
export function buildIcmp(spec: IcmpSpec, localIp: Ip4, remoteIp: Ip4, localPort: number, remotePort: number, seq: number): Uint8Array {
  const out = new Uint8Array(8 + 20 + 8);
  const dv = new DataView(out.buffer);
  out[0] = spec.type;
  out[1] = spec.code;
  if (spec.mtu >= 0) dv.setUint16(6, spec.mtu);
  const q = 8;
  out[q] = 0x45;
  const l4 = spec.quote ? 20 : 8;
  dv.setUint16(q + 2, 20 + l4 + (spec.quote ? spec.quote.len : spec.udpLen));
  dv.setUint16(q + 6, 0x4000); // DF, as every segment we send
  out[q + 8] = 64;
  out[q + 9] = spec.quote ? 6 : 17;
  dv.setUint32(q + 12, localIp >>> 0);
  dv.setUint32(q + 16, remoteIp >>> 0);
  dv.setUint16(q + 10, ipChecksum(out.subarray(q, q + 20)));
  const t = q + 20;
  dv.setUint16(t, localPort);
  dv.setUint16(t + 2, remotePort);
  if (spec.quote) dv.setUint32(t + 4, seq >>> 0);
  else dv.setUint16(t + 4, 8 + spec.udpLen);
  dv.setUint16(2, ipChecksum(out));
  return out;
}

function ipChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
