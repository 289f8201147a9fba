import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { MbufLayout } from '../mbuf/layout.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Clock } from '../util/clock.js';
import { sameSubnet, type Ip4 } from './addr.js';
import { finish, sumBytes } from './checksum.js';
import { ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, IcmpLayer, type IcmpConfig } from './icmp.js';
import { IpProto, Ip4Hdr, IP_BROADCAST, isMulticastOrClassE } from './ipv4-header.js';
import { EtherType, EthHdr } from '../eth/ethernet.js';
import { randomBytes } from 'node:crypto';
import { Prng } from '../util/prng.js';
import { pullup } from './pullup.js';
import { Reassembler, type ReassemblyConfig } from './reassembly.js';
import { UdpClosed } from './udp.js';
import type { Mbuf } from '../mbuf/index.js';

export * from './ipv4-header.js';

const enum IpFrame {
  /**
   * Transport bytes guaranteed in the first segment on delivery: the fixed part
   * of a TCP header (UDP's and ICMP's are shorter). TCP pulls up its options
   * itself, so a zero-copy chain's payload is not copied into the header mbuf.
   */
  PULLUP_L4 = 20,

  /** Bytes of the Ethernet header that sits before the IP header (tx_offload l2_len). */
  L2_LEN = EthHdr.HDR_LEN,

  /** The Ethernet + IPv4 header the output fast path writes (its template: `tpl8`, then the `fW*` words). */
  FRAME_HDR_LEN = EthHdr.HDR_LEN + Ip4Hdr.HDR_LEN,
  /** Version 4, IHL 5 words, in the high byte of the first header word. */
  VER_IHL_WORD = (Ip4Hdr.VERSION_4 | (Ip4Hdr.HDR_LEN >>> 2)) << 8,
}

/**
 * A transport protocol's receive function: `m` has mtod at the L4 header,
 * pkt_len trimmed to the IP payload (the IP header stays in the first
 * segment's headroom); the handler owns `m`.
 */
export type IpHandler = (m: Mbuf, src: Ip4, dst: Ip4, tos: number) => void;

/** Where IPv4 sends what it built: the neighbour layer (ARP over Ethernet). */
export interface IpLink {
  /** Send a packet (mtod at the IP header) to `nextHop`; takes ownership. */
  output(m: Mbuf, nextHop: Ip4): void;
}

/**
 * What lets IPv4 write the Ethernet header together with its own for a
 * resolved next hop, instead of handing the packet to {@link IpLink.output}
 * (the ARP layer has these members).
 */
export interface EthNeighbours {
  /** Our MAC. */
  readonly mac: Uint8Array;
  /** Changes whenever a resolved neighbour's MAC changes or one goes: a cached MAC holds while this does. */
  readonly generation: number;
  /** The resolved neighbour for a (non-broadcast) next hop, else undefined. */
  neighbour(nextHop: Ip4): { readonly mac: Uint8Array; used: boolean } | undefined;
  /** Queue a complete Ethernet frame; takes ownership. */
  transmit(m: Mbuf): void;
}

/** What the IPv4 layer needs from the stack. */
export interface Ipv4Env {
  pool: Mempool;
  clock: Clock;
  /** Our address and netmask. */
  addr: Ip4;
  mask: number;
  /** Default gateway, or 0 for none. */
  gateway: Ip4;
  /** IP MTU of the port. */
  mtu: number;
  /** TX_OFFLOAD_* bits the port has enabled. */
  txOffloads: number;
  /** Checksums need neither be checked nor computed on this link (in-memory). */
  checksumUnneeded: boolean;
  /** Largest TSO payload the port takes (0 without TSO). */
  maxTsoSize: number;
  link: IpLink;
  /** When the link is Ethernet with a neighbour cache: the common-case output path uses it. */
  eth?: EthNeighbours;
}

/** IPv4 tunables. */
export interface Ipv4Config {
  /** TTL of the datagrams we send. Default 64. */
  ttl: number;
  reassembly: Partial<ReassemblyConfig>;
  icmp: Partial<IcmpConfig>;
  /**
   * Key of the hash that picks a fragmentable datagram's ID counter (16
   * bytes); random when omitted. Pass a fixed one for deterministic tests.
   */
  idSecret: Uint8Array;
}

/**
 * Buckets of the IP ID table (a power of two). As Linux's `ip_idents`: a
 * bounded table of counters that destinations share by keyed hash, so the
 * memory never grows with the number of peers.
 */
export const IP_ID_BUCKETS = 2048;

/**
 * IPv4 Identification values, per RFC 6864 and RFC 7739.
 *
 * Atomic datagrams (DF set, not fragmented: every TCP segment we send) carry
 * ID 0: RFC 6864 section 4.1 lets a source put any value there, nothing
 * reassembles them, and a constant says nothing about our traffic — a
 * global counter let anyone who probes us twice count the datagrams we sent
 * in between (nmap's "Incremental", the idle-scan zombie). Linux sends 0 on
 * its SYN-ACKs and RSTs for the same reason; GRO at receivers accepts fixed
 * IDs on DF datagrams. It also keeps the fast output path free of a counter.
 *
 * Fragmentable datagrams (ICMP, UDP, anything without DF) need IDs that do
 * not repeat within a reassembly lifetime for the same source/destination/
 * protocol (RFC 791, RFC 6864 section 4.2): each takes the next value of a
 * counter chosen by a keyed hash of destination and protocol, offset by
 * that hash. A peer sees its own sequence only, starting anywhere; two
 * destinations never share a visible sequence unless they collide in the
 * keyed hash, which an outsider cannot aim for. As in Linux (after
 * CVE-2019-10638) a counter also jumps by a random amount up to the
 * milliseconds since it was last used, so probing one bucket does not count
 * the datagrams others sent through it.
 */
export class IpIdGenerator {
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;
  private readonly counters = new Uint16Array(IP_ID_BUCKETS);
  /** Clock milliseconds (floored) of each bucket's last use. */
  private readonly stamps = new Float64Array(IP_ID_BUCKETS);
  private readonly prng: Prng;

  constructor(secret?: Uint8Array) {
    const k = secret !== undefined && secret.length >= 16 ? secret : new Uint8Array(randomBytes(16));
    const dv = new DataView(k.buffer, k.byteOffset, 16);
    this.k0 = dv.getUint32(0); this.k1 = dv.getUint32(4); this.k2 = dv.getUint32(8); this.k3 = dv.getUint32(12);
    this.prng = new Prng(this.k0 ^ this.k3);
  }

  /** The keyed hash of (destination, protocol): 32 bits, unpredictable without the key. */
  hash(dst: Ip4, proto: number): number {
    // Two rounds of multiply-xorshift with key words mixed between them;
    // cheap, and it runs only for fragmentable datagrams.
    let h = Math.imul((dst ^ this.k0) >>> 0, 0x9e3779b1);
    h ^= (h >>> 15) ^ this.k1;
    h = Math.imul(h ^ ((proto & 0xff) << 8) ^ this.k2, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h ^ this.k3, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** The ID for the next fragmentable datagram to `dst`/`proto` at clock time `now` (ms). */
  next(dst: Ip4, proto: number, now: number): number {
    const h = this.hash((dst >>> 0) as Ip4, proto);
    const b = h & (IP_ID_BUCKETS - 1);
    const t = Math.floor(now);
    let step = 1;
    const old = this.stamps[b];
    if (t > old) {
      const gap = t - old;
      step += this.prng.int(gap < 65536 ? gap : 65536);
      this.stamps[b] = t;
    }
    const c = (this.counters[b] + step) & 0xffff;
    this.counters[b] = c;
    return ((h >>> 16) + c) & 0xffff;
  }
}

/** Why an IPv4 datagram was dropped (received or sent). */
export const IPV4_DROP_REASONS = [
  'truncated', 'headerSplit', 'badVersion', 'badIhl', 'ihlPastFrame', 'badTotalLength', 'badChecksum',
  'ttlZero', 'badSource', 'notForUs', 'unknownProtocol', 'noRoute', 'noHeadroom', 'tooBig', 'fragNeededDf',
  'noMbuf', 'closed',
] as const;
export type Ipv4DropReason = typeof IPV4_DROP_REASONS[number];
const IPV4_EXTRAS = ['trimmed', 'fragmentsSent', 'fragmentsReceived'] as const;

/**
 * The IPv4 layer: validates what arrives and hands it to the protocol
 * registered for it (reassembling fragments first), and builds headers for
 * what leaves, in the headroom of the packet the upper layer gave it.
 */
export class Ipv4Layer {
  /** `rx` datagrams delivered, `tx` datagrams sent, drops by reason, plus trimmed/fragmentsSent. */
  readonly counters: Counters<Ipv4DropReason, typeof IPV4_EXTRAS[number]> = newCounters(IPV4_DROP_REASONS, IPV4_EXTRAS);
  readonly reassembly: Reassembler;
  readonly icmp: IcmpLayer;
  /** The built-in UDP sink that answers Port Unreachable while no UDP layer is registered. */
  readonly udp: UdpClosed;
  readonly config: { ttl: number };
  private readonly handlers: Array<IpHandler | undefined> = new Array(256).fill(undefined);
  private readonly subnetBroadcast: Ip4;
  /** IDs of fragmentable datagrams (atomic ones carry 0, see {@link IpIdGenerator}). */
  readonly ids: IpIdGenerator;
  private closed = false;
  // The output fast path's cache: the last destination and protocol, their
  // neighbour (valid while the ARP generation holds) and the frame header
  // template (network byte order in `tpl8`, whence the `fW*` words).
  private fDst = -1 as Ip4;
  private fProto = -1;
  private fTtl = -1;
  private fGen = -1;
  /** Whether the cached destination's datagrams are atomic (DF): then their ID is 0. */
  private fDf = false;
  private fEntry: { readonly mac: Uint8Array; used: boolean } | undefined = undefined;
  /** Unfolded checksum sum of the template's fixed words (all but TOS, total length, ID). */
  private fSum = 0;
  // The cached frame's 34 header bytes as big-endian words for DataView
  // stores (bytes 0-3, 4-7, 8-11, 12-15 without TOS, 20-23, the source's high
  // half, 28-31, 32-33): nine stores per datagram, no template loads.
  private fW0 = 0;
  private fW1 = 0;
  private fW2 = 0;
  private fW3 = 0;
  private fW5 = 0;
  private fW6lo = 0;
  private fW7 = 0;
  private fW8 = 0;
  private readonly tpl8 = new Uint8Array(IpFrame.FRAME_HDR_LEN);

  constructor(private readonly env: Ipv4Env, config: Partial<Ipv4Config> = {}) {
    this.config = { ttl: config.ttl ?? 64 };
    // /31 and /32 have no subnet broadcast address (RFC 3021).
    this.subnetBroadcast = env.mask >>> 0 >= 0xfffffffe ? IP_BROADCAST : ((env.addr | ~env.mask) >>> 0) as Ip4;
    this.ids = new IpIdGenerator(config.idSecret);
    this.icmp = new IcmpLayer(this, config.icmp);
    this.reassembly = new Reassembler(env.pool, config.reassembly, (m) => this.icmp.timeExceededReassembly(m));
    this.udp = new UdpClosed(this);
    this.register(IpProto.ICMP, (m, s, d, t) => this.icmp.input(m, s, d, t));
    this.register(IpProto.UDP, (m, s, d, t) => this.udp.input(m, s, d, t));
  }

  get pool(): Mempool { return this.env.pool; }
  get clock(): Clock { return this.env.clock; }
  /** Our address. */
  get localIp(): Ip4 { return this.env.addr; }
  get mask(): number { return this.env.mask; }
  get gateway(): number { return this.env.gateway; }
  get mtu(): number { return this.env.mtu; }
  get txOffloads(): number { return this.env.txOffloads; }
  get checksumUnneeded(): boolean { return this.env.checksumUnneeded; }
  get maxTsoSize(): number { return this.env.maxTsoSize; }

  /**
   * Deliver protocol `proto` to `handler` (replacing any previous one,
   * including the built-in ICMP and UDP ones).
   */
  register(proto: number, handler: IpHandler): void {
    if (!(proto >= 0 && proto <= 255)) throw new RangeError(`bad IP protocol ${proto}`);
    this.handlers[proto] = handler;
  }

  /** Whether protocol `proto` has a handler (built in or registered). */
  hasHandler(proto: number): boolean { return this.handlers[proto] !== undefined; }

  /** The handler of protocol `proto` (undefined when none). */
  handlerOf(proto: number): IpHandler | undefined { return this.handlers[proto]; }

  /** Whether `a` is the limited or our subnet's broadcast address. */
  isBroadcast(a: number): boolean {
    return a === IP_BROADCAST || a === this.subnetBroadcast;
  }

  /**
   * The next hop for `dst`: itself on our subnet (or broadcast), else the
   * gateway; -1 when there is no route.
   */
  nextHop(dst: Ip4): Ip4 {
    const env = this.env;
    if (dst === env.addr || (isMulticastOrClassE(dst) && dst !== IP_BROADCAST)) return -1 as Ip4;
    if (dst === IP_BROADCAST || sameSubnet(dst, env.addr, env.mask)) return dst;
    return env.gateway !== 0 ? env.gateway : -1 as Ip4;
  }

  /** Receive an IPv4 packet (mtod at the IP header, Ethernet header stripped). Takes ownership. */
  input(m: Mbuf): void {
    const pool = this.env.pool;
    this.inputFrame(m, 0, pool.mtod(m), pool.dataLen(m), pool.pktLen(m));
  }

  /**
   * Receive an IPv4 packet that still has `l2` bytes of link header before
   * it in the first segment (mtod at the link header): the stack's receive
   * path, which hands over what it already read so nothing is read twice and
   * both headers are stripped at once. Takes ownership.
   * @param p - index in `pool.u8` of the IP header
   * @param dl - bytes of the first segment from the IP header on
   * @param len - bytes of the packet from the IP header on
   */
  inputFrame(m: Mbuf, l2: number, p: number, dl: number, len: number): void {
    const env = this.env;
    const pool = env.pool;
    if (dl < Ip4Hdr.HDR_LEN) return this.drop(m, len < Ip4Hdr.HDR_LEN ? 'truncated' : 'headerSplit');
    const u8 = pool.u8;
    const dv = pool.dv;
    const vihl = u8[p + Ip4Hdr.VER_IHL];
    if (vihl >>> 4 !== 4) return this.drop(m, 'badVersion');
    const ihl = (vihl & 15) << 2;
    if (ihl < Ip4Hdr.HDR_LEN) return this.drop(m, 'badIhl');
    if (ihl > len) return this.drop(m, 'ihlPastFrame');
    if (ihl > dl) {
      // pullup appends to the first segment: p stays where it was.
      if (!pullup(pool, m, l2 + ihl)) return this.drop(m, 'headerSplit');
      dl = pool.dataLen(m) - l2;
    }
    const total = (u8[p + Ip4Hdr.TOTAL_LEN] << 8) | u8[p + Ip4Hdr.TOTAL_LEN + 1];
    if (total < ihl) return this.drop(m, 'badTotalLength');
    if (total > len) return this.drop(m, 'truncated');
    if (!env.checksumUnneeded) {
      const f = pool.olFlagsLo(m) & MbufLayout.OL_RX_IP_CKSUM_MASK_LO;
      if (f === MbufLayout.OL_RX_IP_CKSUM_BAD_LO) return this.drop(m, 'badChecksum');
      if (f !== MbufLayout.OL_RX_IP_CKSUM_GOOD_LO) {
        const sum = ihl === Ip4Hdr.HDR_LEN
          ? dv.getUint32(p) + dv.getUint32(p + 4) + dv.getUint32(p + 8) + dv.getUint32(p + 12) + dv.getUint32(p + 16)
          : sumBytes(dv, p, ihl);
        if (finish(sum) !== 0) return this.drop(m, 'badChecksum');
      }
    }
    // RFC 1122 3.2.1.7: no host sends TTL 0, so such a datagram is malformed.
    if (u8[p + Ip4Hdr.TTL] === 0) return this.drop(m, 'ttlZero');
    const src = dv.getUint32(p + Ip4Hdr.SRC) as Ip4;
    if (isMulticastOrClassE(src) || src === this.subnetBroadcast) return this.drop(m, 'badSource');
    const dst = dv.getUint32(p + Ip4Hdr.DST) as Ip4;
    if (dst !== env.addr && dst !== IP_BROADCAST && dst !== this.subnetBroadcast) return this.drop(m, 'notForUs');
    if (this.closed) return this.drop(m, 'closed');
    // Ethernet pads short frames: the datagram is what the header says.
    if (total < len) {
      pool.truncate(m, l2 + total);
      this.counters.trimmed++;
      if (dl > total) dl = total;
      len = total;
    }
    if ((((u8[p + Ip4Hdr.FRAG] << 8) | u8[p + Ip4Hdr.FRAG + 1]) & (Ip4Hdr.FLAG_MF | Ip4Hdr.OFFSET_MASK)) !== 0) {
      this.counters.fragmentsReceived++;
      if (l2 !== 0) pool.adj(m, l2);
      const whole = this.reassembly.insert(m, ihl, env.clock.now());
      if (whole === NO_MBUF) return;
      this.deliver(whole, pool.mtod(whole));
      return;
    }
    this.deliverAt(m, p, l2 + ihl, src, dst, dl - ihl, len - ihl);
  }

  /** Deliver a reassembled datagram (mtod at its IP header `p`). */
  private deliver(m: Mbuf, p: number): void {
    const pool = this.env.pool;
    const dv = pool.dv;
    const ihl = (pool.u8[p + Ip4Hdr.VER_IHL] & 15) << 2;
    this.deliverAt(m, p, ihl, dv.getUint32(p + Ip4Hdr.SRC) as Ip4, dv.getUint32(p + Ip4Hdr.DST) as Ip4,
      pool.dataLen(m) - ihl, pool.pktLen(m) - ihl);
  }

  /**
   * Strip `strip` bytes (link and IP headers, the IP header at `p`) and hand the payload to its protocol.
   * @param l4dl - payload bytes in the first segment
   * @param l4len - payload bytes in the packet
   */
  private deliverAt(m: Mbuf, p: number, strip: number, src: Ip4, dst: Ip4, l4dl: number, l4len: number): void {
    const pool = this.env.pool;
    const u8 = pool.u8;
    const proto = u8[p + Ip4Hdr.PROTO];
    const tos = u8[p + Ip4Hdr.TOS];
    // rte_pktmbuf_adj by the headers, from the lengths already known.
    pool.setDataOff(m, pool.dataOff(m) + strip);
    pool.setDataLen(m, l4dl);
    pool.setPktLen(m, l4len);
    // Transport headers are read from the first segment; a zero-copy chain
    // (reassembled, or sent as indirect mbufs) may start short.
    const want = l4len < IpFrame.PULLUP_L4 ? l4len : IpFrame.PULLUP_L4;
    if (l4dl < want && !pullup(pool, m, want)) return this.drop(m, 'headerSplit');
    const h = this.handlers[proto];
    if (h === undefined) {
      this.icmp.sendError(m, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0); // RFC 1122 3.2.2.1
      return this.drop(m, 'unknownProtocol');
    }
    this.counters.rx++;
    h(m, src, dst, tos);
  }

  /**
   * Send an L4 segment: `m` holds it at mtod, with headroom for the IP and
   * Ethernet headers. Prepends the IPv4 header (checksum by offload when
   * the port has it), fragments when it exceeds the MTU (never TCP: DF),
   * resolves the next hop and queues the frame. Takes ownership of `m`.
   */
  output(m: Mbuf, dst: Ip4, proto: number, tos = 0): void {
    dst = (dst >>> 0) as Ip4;
    const eth = this.env.eth;
    if (eth !== undefined && (dst !== this.fDst || proto !== this.fProto || eth.generation !== this.fGen
        || this.config.ttl !== this.fTtl)) {
      this.cacheDestination(eth, dst, proto);
    }
    if (dst === this.fDst && proto === this.fProto && this.fastOutput(m, tos)) return;
    this.slowOutput(m, dst, proto, tos);
  }

  /**
   * Make the fast path's template for `dst`/`proto` when the common case
   * holds (a route, a resolved unicast next hop), else clear the cache.
   */
  private cacheDestination(eth: EthNeighbours, dst: Ip4, proto: number): void {
    this.fDst = -1 as Ip4;
    this.fProto = -1;
    this.fEntry = undefined;
    if (this.closed) return;
    const hop = this.nextHop(dst);
    if (hop < 0 || this.isBroadcast(hop)) return;
    const e = eth.neighbour(hop);
    if (e === undefined) return;
    const env = this.env;
    const t = this.tpl8;
    const ttl = this.config.ttl;
    const frag = proto === IpProto.TCP ? Ip4Hdr.FLAG_DF : 0;
    for (let i = 0; i < EthHdr.ALEN; i++) {
      t[EthHdr.DST + i] = e.mac[i];
      t[EthHdr.SRC + i] = eth.mac[i];
    }
    const dv = new DataView(t.buffer);
    dv.setUint16(EthHdr.TYPE, EtherType.IPV4);
    const ip = EthHdr.HDR_LEN;
    dv.setUint16(ip + Ip4Hdr.VER_IHL, IpFrame.VER_IHL_WORD);
    dv.setUint16(ip + Ip4Hdr.TOTAL_LEN, 0);
    dv.setUint16(ip + Ip4Hdr.ID, 0);
    dv.setUint16(ip + Ip4Hdr.FRAG, frag);
    t[ip + Ip4Hdr.TTL] = ttl;
    t[ip + Ip4Hdr.PROTO] = proto;
    dv.setUint16(ip + Ip4Hdr.CSUM, 0);
    dv.setUint32(ip + Ip4Hdr.SRC, env.addr);
    dv.setUint32(ip + Ip4Hdr.DST, dst);
    this.fW0 = dv.getInt32(0);
    this.fW1 = dv.getInt32(4);
    this.fW2 = dv.getInt32(8);
    this.fW3 = dv.getInt32(12); // TOS (byte 15) is 0 here, or-ed in per datagram
    this.fW5 = dv.getInt32(20);
    this.fW6lo = dv.getUint16(26);
    this.fW7 = dv.getInt32(28);
    this.fW8 = dv.getUint16(32);
    // The words that never change; TOS, total length and ID are added per datagram.
    this.fSum = IpFrame.VER_IHL_WORD + frag + (((ttl & 0xff) << 8) | (proto & 0xff))
      + (env.addr >>> 16) + (env.addr & 0xffff) + (dst >>> 16) + (dst & 0xffff);
    this.fTtl = ttl;
    this.fDf = frag !== 0;
    this.fGen = eth.generation;
    this.fEntry = e;
    this.fDst = dst;
    this.fProto = proto;
  }

  /**
   * The common case of {@link output} for the cached destination: no
   * fragmentation, headroom for both headers. Writes the Ethernet and IPv4
   * headers from the template in one pass and queues the frame.
   * @returns false (nothing done) when the case does not hold
   */
  private fastOutput(m: Mbuf, tos: number): boolean {
    const env = this.env;
    const pool = env.pool;
    const payload = pool.pktLen(m);
    const hi = pool.olFlagsHi(m);
    const tso = (hi & MbufLayout.OL_TX_TCP_SEG_HI) !== 0;
    if ((payload + Ip4Hdr.HDR_LEN > env.mtu || payload + Ip4Hdr.HDR_LEN > Ip4Hdr.MAX_LEN) && !tso) return false;
    const f = pool.prepend(m, IpFrame.FRAME_HDR_LEN);
    if (f < 0) return false;
    const total = Math.min(payload + Ip4Hdr.HDR_LEN, Ip4Hdr.MAX_LEN);
    // Atomic (DF) datagrams carry ID 0. The ID of a fragmentable one is
    // drawn here, behind a call V8 does not see through: with the hashed
    // generator inlined into this function every TCP segment cost twice the
    // instructions (callgrind 10,727 → 22,021-30,929 instr/segment).
    const id = this.fDf ? 0 : this.fragmentableId();
    tos &= 0xff;
    const csumOffload = (env.txOffloads & MbufLayout.TX_OFFLOAD_IPV4_CKSUM) !== 0;
    let csum = 0;
    if (!csumOffload) {
      // RFC 1071 from the field values, the template's fixed words pre-summed.
      let sum = this.fSum + tos + total + id;
      sum = (sum & 0xffff) + (sum >>> 16);
      sum = (sum & 0xffff) + (sum >>> 16);
      csum = ~sum & 0xffff;
    }
    const dv = pool.dv;
    dv.setInt32(f, this.fW0);
    dv.setInt32(f + 4, this.fW1);
    dv.setInt32(f + 8, this.fW2);
    dv.setInt32(f + 12, this.fW3 | tos);
    dv.setInt32(f + 16, (total << 16) | id);
    dv.setInt32(f + 20, this.fW5);
    dv.setInt32(f + 24, (csum << 16) | this.fW6lo);
    dv.setInt32(f + 28, this.fW7);
    dv.setUint16(f + 32, this.fW8);
    if (csumOffload) {
      pool.setOlFlags(m, pool.olFlagsLo(m), hi | MbufLayout.OL_TX_IP_CKSUM_HI | MbufLayout.OL_TX_IPV4_HI);
      this.setL2L3(m);
    } else if ((hi & (MbufLayout.OL_TX_L4_MASK_HI | MbufLayout.OL_TX_TCP_SEG_HI)) !== 0) {
      // L4 offloads (set by TCP) still need the IPV4 flag and the header lengths.
      pool.setOlFlags(m, pool.olFlagsLo(m), hi | MbufLayout.OL_TX_IPV4_HI);
      this.setL2L3(m);
    }
    this.counters.tx++;
    this.fEntry!.used = true;
    env.eth!.transmit(m);
    return true;
  }

  /** The next ID for the cached destination's fragmentable datagrams (kept out of the fast path's body). */
  private fragmentableId(): number {
    return this.ids.next(this.fDst, this.fProto, this.env.clock.now());
  }

  private slowOutput(m: Mbuf, dst: Ip4, proto: number, tos: number): void {
    const env = this.env;
    const pool = env.pool;
    if (this.closed) return this.drop(m, 'closed');
    const hop = this.nextHop(dst);
    if (hop < 0) return this.drop(m, 'noRoute');
    const payload = pool.pktLen(m);
    const tso = (pool.olFlagsHi(m) & MbufLayout.OL_TX_TCP_SEG_HI) !== 0;
    if (payload + Ip4Hdr.HDR_LEN > env.mtu && !tso) {
      if (proto === IpProto.TCP) return this.drop(m, 'fragNeededDf');
      return this.fragmentOutput(m, dst, proto, tos, hop);
    }
    if (payload + Ip4Hdr.HDR_LEN > Ip4Hdr.MAX_LEN && !tso) return this.drop(m, 'tooBig');
    const p = pool.prepend(m, Ip4Hdr.HDR_LEN);
    if (p < 0) return this.drop(m, 'noHeadroom');
    const df = proto === IpProto.TCP;
    const id = df ? 0 : this.ids.next(dst, proto, env.clock.now());
    this.writeHeader(m, p, Math.min(payload + Ip4Hdr.HDR_LEN, Ip4Hdr.MAX_LEN), id,
      df ? Ip4Hdr.FLAG_DF : 0, proto, dst, tos);
    this.counters.tx++;
    env.link.output(m, hop);
  }

  /** Write a header at `p` and settle its checksum (offloaded or computed). */
  private writeHeader(m: Mbuf, p: number, total: number, id: number, frag: number, proto: number, dst: Ip4, tos: number): void {
    const env = this.env;
    const pool = env.pool;
    const dv = pool.dv;
    const u8 = pool.u8;
    u8[p + Ip4Hdr.VER_IHL] = 0x45;
    u8[p + Ip4Hdr.TOS] = tos;
    dv.setUint16(p + Ip4Hdr.TOTAL_LEN, total);
    dv.setUint16(p + Ip4Hdr.ID, id);
    dv.setUint16(p + Ip4Hdr.FRAG, frag);
    u8[p + Ip4Hdr.TTL] = this.config.ttl;
    u8[p + Ip4Hdr.PROTO] = proto;
    dv.setUint16(p + Ip4Hdr.CSUM, 0);
    dv.setUint32(p + Ip4Hdr.SRC, env.addr);
    dv.setUint32(p + Ip4Hdr.DST, dst);
    const hi = pool.olFlagsHi(m);
    if ((env.txOffloads & MbufLayout.TX_OFFLOAD_IPV4_CKSUM) !== 0) {
      pool.setOlFlags(m, pool.olFlagsLo(m), hi | MbufLayout.OL_TX_IP_CKSUM_HI | MbufLayout.OL_TX_IPV4_HI);
      this.setL2L3(m);
    } else {
      // RFC 1071 over the ten 16-bit words just written, from the values
      // themselves rather than read back from the packet.
      let sum = (0x4500 | (tos & 0xff)) + (total & 0xffff) + (id & 0xffff) + (frag & 0xffff)
        + (((this.config.ttl & 0xff) << 8) | (proto & 0xff))
        + (env.addr >>> 16) + (env.addr & 0xffff) + (dst >>> 16) + (dst & 0xffff);
      sum = (sum & 0xffff) + (sum >>> 16);
      sum = (sum & 0xffff) + (sum >>> 16);
      dv.setUint16(p + Ip4Hdr.CSUM, ~sum & 0xffff);
      // L4 offloads (set by TCP) still need the IPV4 flag and the header lengths.
      if ((hi & (MbufLayout.OL_TX_L4_MASK_HI | MbufLayout.OL_TX_TCP_SEG_HI)) !== 0) {
        pool.setOlFlags(m, pool.olFlagsLo(m), hi | MbufLayout.OL_TX_IPV4_HI);
        this.setL2L3(m);
      }
    }
  }

  /** Set l2_len/l3_len, keeping the l4_len and tso_segsz TCP put there. */
  private setL2L3(m: Mbuf): void {
    const pool = this.env.pool;
    pool.setTxOffload(m, IpFrame.L2_LEN, Ip4Hdr.HDR_LEN, (pool.txOffloadLo(m) >>> 16) & 0xff, pool.tsoSegsz(m));
  }

  /**
   * Fragment an over-MTU datagram: each fragment is a fresh header mbuf
   * chained to indirect mbufs over the original payload — no payload copy.
   */
  private fragmentOutput(m: Mbuf, dst: Ip4, proto: number, tos: number, hop: Ip4): void {
    const env = this.env;
    const pool = env.pool;
    const payload = pool.pktLen(m);
    if (payload + Ip4Hdr.HDR_LEN > Ip4Hdr.MAX_LEN) return this.drop(m, 'tooBig');
    const step = (env.mtu - Ip4Hdr.HDR_LEN) & ~(Ip4Hdr.FRAG_UNIT - 1);
    if (step <= 0) return this.drop(m, 'tooBig');
    const id = this.ids.next(dst, proto, env.clock.now());
    for (let off = 0; off < payload; off += step) {
      const n = Math.min(step, payload - off);
      const h = pool.alloc();
      if (h === NO_MBUF) return this.drop(m, 'noMbuf');
      const body = pool.refSlice(m, off, n);
      if (body === NO_MBUF) { pool.free(h); return this.drop(m, 'noMbuf'); }
      pool.chain(h, body);
      const p = pool.prepend(h, Ip4Hdr.HDR_LEN);
      const more = off + n < payload ? Ip4Hdr.FLAG_MF : 0;
      this.writeHeader(h, p, n + Ip4Hdr.HDR_LEN, id, more | (off >>> Ip4Hdr.FRAG_SHIFT), proto, dst, tos);
      this.counters.fragmentsSent++;
      env.link.output(h, hop);
    }
    this.counters.tx++;
    pool.free(m);
  }

  /** Run timers (reassembly timeouts, ICMP rate limiter). */
  tick(now: number): void {
    this.reassembly.tick(now);
  }

  /** Free everything held (fragments being reassembled); refuse further work. */
  close(): void {
    this.closed = true;
    this.fDst = -1 as Ip4;
    this.fEntry = undefined;
    this.reassembly.close();
  }

  private drop(m: Mbuf, reason: Ipv4DropReason): void {
    countDrop(this.counters, reason);
    this.env.pool.free(m);
  }
}
