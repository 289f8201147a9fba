/**
 * A small authoritative DNS responder (RFC 1035) on a tzstack UDP socket:
 * A queries answered from a fixed table of names, NXDOMAIN for other names
 * in no table, FORMERR for what does not parse. An example of the UDP API
 * (and a peer `dig` can query in the interop tests), not a name server.
 */
import { parseIpv4 } from '../ip/addr.js';
import type { RemoteInfo, UdpHost, UdpSocket } from '../udp/socket.js';
import { createUdpSocket } from '../udp/socket.js';

/**
 * The DNS message header (RFC 1035 §4.1.1), 12 bytes:
 * ```
 *  0 ID (2)  2 flags: QR opcode(4) AA TC RD | RA Z(3) RCODE(4)  4 QDCOUNT  6 ANCOUNT  8 NSCOUNT  10 ARCOUNT
 * ```
 */
const enum Dns {
  ID = 0, FLAGS = 2, QDCOUNT = 4, ANCOUNT = 6, NSCOUNT = 8, ARCOUNT = 10, HDR_LEN = 12,
  QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, OPCODE_MASK = 0x7800,
  RCODE_FORMERR = 1, RCODE_NXDOMAIN = 3, RCODE_NOTIMP = 4,
  TYPE_A = 1, TYPE_ANY = 255, CLASS_IN = 1,
  /** Longest name on the wire (RFC 1035 §2.3.4). */
  MAX_NAME = 255,
  /** Longest answer over plain UDP without EDNS. */
  MAX_UDP = 512,
}

/** What {@link startDnsResponder} counts. */
export interface DnsCounters { queries: number; answered: number; nxdomain: number; formerr: number; notimp: number }

/** A running responder. */
export interface DnsResponder {
  readonly socket: UdpSocket;
  readonly counters: DnsCounters;
  close(): void;
}

/**
 * Answer DNS on `port` (default 53) of `host` from `records`: names
 * (case-insensitive, without the trailing dot) to IPv4 addresses.
 */
export function startDnsResponder(host: UdpHost, records: Record<string, string>, port = 53, ttl = 60): DnsResponder {
  const table = new Map<string, number>();
  for (const [name, addr] of Object.entries(records)) table.set(name.toLowerCase().replace(/\.$/, ''), parseIpv4(addr));
  const counters: DnsCounters = { queries: 0, answered: 0, nxdomain: 0, formerr: 0, notimp: 0 };
  const socket = createUdpSocket(host, 'udp4');
  socket.on('message', (msg: Buffer, r: RemoteInfo) => {
    counters.queries++;
    const reply = answer(msg, table, ttl, counters);
    if (reply) socket.send(reply, r.port, r.address);
  });
  socket.bind(port);
  return { socket, counters, close: () => socket.close() };
}

/** The reply to one query, or null when it is not worth one (a response, or shorter than a header). */
export function answer(q: Uint8Array, table: Map<string, number>, ttl: number, c: DnsCounters): Buffer | null {
  if (q.length < Dns.HDR_LEN) { c.formerr++; return null; }
  const dv = new DataView(q.buffer, q.byteOffset, q.byteLength);
  const flags = dv.getUint16(Dns.FLAGS);
  if (flags & Dns.QR) return null; // never answer answers (no reflection loops)
  const err = (rcode: number, withQuestion: number): Buffer => {
    const out = Buffer.alloc(Dns.HDR_LEN + withQuestion);
    out.writeUInt16BE(dv.getUint16(Dns.ID), Dns.ID);
    out.writeUInt16BE(Dns.QR | (flags & (Dns.OPCODE_MASK | Dns.RD)) | rcode | (rcode === Dns.RCODE_NXDOMAIN ? Dns.AA : 0), Dns.FLAGS);
    if (withQuestion > 0) { out.writeUInt16BE(1, Dns.QDCOUNT); out.set(q.subarray(Dns.HDR_LEN, Dns.HDR_LEN + withQuestion), Dns.HDR_LEN); }
    return out;
  };
  if ((flags & Dns.OPCODE_MASK) !== 0) { c.notimp++; return err(Dns.RCODE_NOTIMP, 0); }
  if (dv.getUint16(Dns.QDCOUNT) !== 1) { c.formerr++; return err(Dns.RCODE_FORMERR, 0); }
  // The question: labels (no compression in a question we accept), then type and class.
  let p = Dns.HDR_LEN;
  const labels: string[] = [];
  for (let n = 0; ; n++) {
    if (p >= q.length || n > 127) { c.formerr++; return err(Dns.RCODE_FORMERR, 0); }
    const len = q[p];
    if (len === 0) { p++; break; }
    if (len > 63 || p + 1 + len > q.length || p + 1 + len - Dns.HDR_LEN > Dns.MAX_NAME) { c.formerr++; return err(Dns.RCODE_FORMERR, 0); }
    labels.push(Buffer.from(q.subarray(p + 1, p + 1 + len)).toString('latin1').toLowerCase());
    p += 1 + len;
  }
  if (p + 4 > q.length) { c.formerr++; return err(Dns.RCODE_FORMERR, 0); }
  const qtype = dv.getUint16(p);
  const qclass = dv.getUint16(p + 2);
  p += 4;
  const qlen = p - Dns.HDR_LEN;
  const addr = table.get(labels.join('.'));
  if (addr === undefined) { c.nxdomain++; return err(Dns.RCODE_NXDOMAIN, qlen); }
  const wantA = (qtype === Dns.TYPE_A || qtype === Dns.TYPE_ANY) && qclass === Dns.CLASS_IN;
  // Name known, no record of that type: NOERROR with no answer (NODATA, RFC 2308 §2.2).
  const an = wantA ? 16 : 0;
  const out = Buffer.alloc(Dns.HDR_LEN + qlen + an);
  out.writeUInt16BE(dv.getUint16(Dns.ID), Dns.ID);
  out.writeUInt16BE(Dns.QR | Dns.AA | (flags & Dns.RD), Dns.FLAGS);
  out.writeUInt16BE(1, Dns.QDCOUNT);
  out.writeUInt16BE(wantA ? 1 : 0, Dns.ANCOUNT);
  out.set(q.subarray(Dns.HDR_LEN, p), Dns.HDR_LEN);
  if (wantA) {
    let o = Dns.HDR_LEN + qlen;
    out.writeUInt16BE(0xc000 | Dns.HDR_LEN, o); // the name: a pointer to the question's
    out.writeUInt16BE(Dns.TYPE_A, o + 2);
    out.writeUInt16BE(Dns.CLASS_IN, o + 4);
    out.writeUInt32BE(ttl, o + 6);
    out.writeUInt16BE(4, o + 10);
    out.writeUInt32BE(addr >>> 0, o + 12);
    o += 16;
  }
  if (out.length > Dns.MAX_UDP) return err(Dns.TC, qlen);
  c.answered++;
  return out;
}
