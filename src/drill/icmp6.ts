/**
 * ICMPv6 packets in scripts of an ipv6 run (packetdrill's `< icmp ...`
 * lines, RFC 4443): read from the line's text and built with the drill's
 * own codec, quoting the IPv6 header and first 8 TCP bytes of a segment of
 * the socket under test, as packetdrill's icmp_packet.c builds them. Only
 * injected errors quoting TCP: an expected (`>`) ICMPv6 packet, a quoted
 * UDP datagram (`/udp(...)`) or an echo stays unsupported.
 *
 * Names are packetdrill's ICMPv6 tables: `unreachable` (no_route,
 * admin_prohibited, not_neighbour, address_unreachable, port_unreachable),
 * `packet_too_big` with `mtu N`, `time_exceeded` (exceeded_hop_limit,
 * exceeded_frag_time), `parameter_problem` (header_field,
 * unknown_next_header, unknown_option), and `type_N` / `code_N`.
 */
import { finish, sumBytes } from '../ip/checksum.js';
import { encodeIpv6, NH_ICMPV6, NH_TCP, pseudoSum6 } from './packet6.js';

/** An ICMPv6 error to inject: type, code, the 32-bit field after them (MTU or pointer), the quoted TCP sequence range in script space. */
export interface Icmp6Spec {
  type: number;
  code: number;
  /** Packet Too Big's MTU (0 for the others: the field is unused). */
  mtu: number;
  /** Quoted segment: sequence number (relative to our ISN, as the script writes it) and payload length. */
  seq: number;
  len: number;
}

const TYPES: Record<string, { type: number; codes: Record<string, number> }> = {
  unreachable: { type: 1, codes: { no_route: 0, admin_prohibited: 1, not_neighbour: 2, address_unreachable: 3, port_unreachable: 4 } },
  packet_too_big: { type: 2, codes: {} },
  time_exceeded: { type: 3, codes: { exceeded_hop_limit: 0, exceeded_frag_time: 1 } },
  parameter_problem: { type: 4, codes: { header_field: 0, unknown_next_header: 1, unknown_option: 2 } },
};

/**
 * Read an ICMP line's text (tokens joined by spaces, as the parser keeps
 * it: `< icmp unreachable port_unreachable [ 0 : 0 ( 0 ) ]`).
 * @returns the spec, or a string naming what is not supported
 */
export function parseIcmp6Line(text: string): Icmp6Spec | string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (!t.startsWith('< icmp ')) return t.startsWith('> ') ? 'expected (outbound) ICMPv6 packet' : 'icmp packet';
  const m = /^< icmp ([a-z_0-9]+)(?: ([a-z_][a-z_0-9]*))?(?: mtu (\d+))?(?: \[ (\d+) : (\d+) \( (\d+) \) \])?$/.exec(t);
  if (!m) return /\/ ?udp/.test(t) ? 'ICMPv6 packet quoting a UDP datagram' : `ICMPv6 packet \`${t.slice(2)}\``;
  const [, typeName, codeName, mtuText, seqText, endText, lenText] = m;
  let type: number;
  let codes: Record<string, number> = {};
  const tn = /^type_(\d+)$/.exec(typeName);
  if (tn) type = Number(tn[1]);
  else if (typeName in TYPES) { type = TYPES[typeName].type; codes = TYPES[typeName].codes; } else return `ICMPv6 type ${typeName}`;
  if (type === 128 || type === 129 || type >= 256) return `ICMPv6 type ${typeName}`;
  let code = 0;
  if (codeName !== undefined) {
    const cn = /^code_(\d+)$/.exec(codeName);
    if (cn) code = Number(cn[1]);
    else if (codeName in codes) code = codes[codeName];
    // packetdrill: a name not in the type's table is an error (e.g. ICMPv4's frag_needed in an ipv6 run).
    else return `ICMPv6 code ${codeName} for type ${typeName} (packetdrill rejects it too)`;
    if (code > 255) return `ICMPv6 code ${codeName}`;
  }
  if (mtuText !== undefined && type !== 2) return 'an ICMPv6 MTU on a type other than packet_too_big';
  const seq = seqText === undefined ? 0 : Number(seqText);
  const len = lenText === undefined ? 0 : Number(lenText);
  if (seqText !== undefined && ((seq + len) % 2 ** 32) !== Number(endText) % 2 ** 32) return `ICMPv6 quote ${seqText}:${endText}(${lenText}) whose end is not start + length`;
  return { type, code, mtu: mtuText === undefined ? 0 : Number(mtuText), seq, len };
}

/** Addresses and ports of the quoted segment: the one we sent, from `local` to `remote`. */
export interface QuotedTcp {
  local: Uint8Array;
  remote: Uint8Array;
  localPort: number;
  remotePort: number;
  /** Live sequence number of the quoted segment. */
  seq: number;
}

/**
 * The whole IPv6 packet of an ICMPv6 error from the peer's address to
 * ours: type, code, checksum, MTU/unused, then the quoted IPv6 header
 * (our address to the peer's, next header TCP, payload length a
 * 20-byte header plus the quoted length) and the first 8 bytes of its TCP
 * header (ports and sequence number).
 */
export function buildIcmp6(spec: Icmp6Spec, q: QuotedTcp, hopLimit: number): Uint8Array {
  const quoteTcp = new Uint8Array(8);
  const qdv = new DataView(quoteTcp.buffer);
  qdv.setUint16(0, q.localPort);
  qdv.setUint16(2, q.remotePort);
  qdv.setUint32(4, q.seq >>> 0);
  const quotedIp = encodeIpv6({ tclass: 0, flowLabel: 0, hopLimit: 64, nextHeader: NH_TCP, src: q.local, dst: q.remote }, quoteTcp);
  new DataView(quotedIp.buffer).setUint16(4, 20 + spec.len);
  const icmp = new Uint8Array(8 + quotedIp.length);
  const dv = new DataView(icmp.buffer);
  icmp[0] = spec.type;
  icmp[1] = spec.code;
  dv.setUint32(4, spec.mtu >>> 0);
  icmp.set(quotedIp, 8);
  dv.setUint16(2, finish(sumBytes(dv, 0, icmp.length, pseudoSum6(q.remote, q.local, NH_ICMPV6, icmp.length))));
  return encodeIpv6({ tclass: 0, flowLabel: 0, hopLimit, nextHeader: NH_ICMPV6, src: q.remote, dst: q.local }, icmp);
}
