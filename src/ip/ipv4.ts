import { countDrop, newCounters, type LayerCounters } from '../eth/counters.js';
import {
  OL_RX_IP_CKSUM_BAD_LO, OL_RX_IP_CKSUM_GOOD_LO, OL_RX_IP_CKSUM_MASK_LO, OL_TX_IP_CKSUM_HI, OL_TX_IPV4_HI,
  OL_TX_L4_MASK_HI, OL_TX_TCP_SEG_HI, TX_OFFLOAD_IPV4_CKSUM,
} from '../mbuf/layout.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Clock } from '../util/clock.js';
import { sameSubnet } from './addr.js';
import { finish, sumBytes } from './checksum.js';
import { IcmpLayer, type IcmpConfig } from './icmp.js';
import {
  IP_BROADCAST, IP_CSUM, IP_DST, IP_FLAG_DF, IP_FLAG_MF, IP_FRAG, IP_HDR_LEN, IP_ID, IP_MAX_LEN,
  IP_OFFSET_MASK, IP_PROTO, IP_SRC, IP_TOS, IP_TOTAL_LEN, IP_TTL, IP_VER_IHL, IPPROTO_ICMP, IPPROTO_TCP,
  IPPROTO_UDP, isMulticastOrClassE,
} from './ipv4-header.js';
import { pullup } from './pullup.js';
import { Reassembler, type ReassemblyConfig } from './reassembly.js';
import { UdpClosed } from './udp.js';

export * from './ipv4-header.js';

/**
 * Transport bytes guaranteed in the first segment on delivery: the fixed part
 * of a TCP header (UDP's and ICMP's are shorter). TCP pulls up its options
 * itself, so a zero-copy chain's payload is not copied into the header mbuf.
 */
const PULLUP_L4 = 20;

/** Bytes of the Ethernet header that sits before the IP header (tx_offload l2_len). */
const L2_LEN = 14;

/**
 * A transport protocol's receive function: `m` has mtod at the L4 header,
 * pkt_len trimmed to the IP payload (the IP header stays in the first
 * segment's headroom); the handler owns `m`.
 */
export type IpHandler = (m: number, src: number, dst: number, tos: number) => void;

/** Where IPv4 sends what it built: the neighbour layer (ARP over Ethernet). */
export interface IpLink {
  /** Send a packet (mtod at the IP header) to `nextHop`; takes ownership. */
  output(m: number, nextHop: number): void;
}

/** What the IPv4 layer needs from the stack. */
export interface Ipv4Env {
  pool: Mempool;
  clock: Clock;
  /** Our address and netmask. */
  addr: number;
  mask: number;
  /** Default gateway, or 0 for none. */
  gateway: number;
  /** IP MTU of the port. */
  mtu: number;
  /** TX_OFFLOAD_* bits the port has enabled. */
  txOffloads: number;
  /** Checksums need neither be checked nor computed on this link (in-memory). */
  checksumUnneeded: boolean;
  /** Largest TSO payload the port takes (0 without TSO). */
  maxTsoSize: number;
  link: IpLink;
}

/** IPv4 tunables. */
export interface Ipv4Config {
  /** TTL of the datagrams we send. Default 64. */
  ttl: number;
  reassembly: Partial<ReassemblyConfig>;
  icmp: Partial<IcmpConfig>;
}

const DROP_REASONS = [
  'truncated', 'headerSplit', 'badVersion', 'badIhl', 'ihlPastFrame', 'badTotalLength', 'badChecksum',
  'ttlZero', 'badSource', 'notForUs', 'unknownProtocol', 'noRoute', 'noHeadroom', 'tooBig', 'fragNeededDf',
  'noMbuf', 'closed',
] as const;

/**
 * The IPv4 layer: validates what arrives and hands it to the protocol
 * registered for it (reassembling fragments first), and builds headers for
 * what leaves, in the headroom of the packet the upper layer gave it.
 */
export class Ipv4Layer {
  /** `rx` datagrams delivered, `tx` datagrams sent, drops by reason, plus trimmed/fragmentsSent. */
  readonly counters: LayerCounters = newCounters(DROP_REASONS, ['trimmed', 'fragmentsSent', 'fragmentsReceived']);
  readonly reassembly: Reassembler;
  readonly icmp: IcmpLayer;
  /** The built-in UDP sink that answers Port Unreachable while no UDP layer is registered. */
  readonly udp: UdpClosed;
  readonly config: { ttl: number };
  private readonly handlers: Array<IpHandler | undefined> = new Array(256).fill(undefined);
  private readonly subnetBroadcast: number;
  private nextId: number;
  private closed = false;

  constructor(private readonly env: Ipv4Env, config: Partial<Ipv4Config> = {}) {
    this.config = { ttl: config.ttl ?? 64 };
    // /31 and /32 have no subnet broadcast address (RFC 3021).
    this.subnetBroadcast = env.mask >>> 0 >= 0xfffffffe ? IP_BROADCAST : (env.addr | ~env.mask) >>> 0;
    this.nextId = (env.addr ^ Math.floor(env.clock.now())) & 0xffff;
    this.icmp = new IcmpLayer(this, config.icmp);
    this.reassembly = new Reassembler(env.pool, config.reassembly, (m) => this.icmp.timeExceededReassembly(m));
    this.udp = new UdpClosed(this);
    this.register(IPPROTO_ICMP, (m, s, d, t) => this.icmp.input(m, s, d, t));
    this.register(IPPROTO_UDP, (m, s, d, t) => this.udp.input(m, s, d, t));
  }

  get pool(): Mempool { return this.env.pool; }
  get clock(): Clock { return this.env.clock; }
  /** Our address. */
  get localIp(): number { return this.env.addr; }
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

  /** Whether `a` is the limited or our subnet's broadcast address. */
  isBroadcast(a: number): boolean {
    return a === IP_BROADCAST || a === this.subnetBroadcast;
  }

  /**
   * The next hop for `dst`: itself on our subnet (or broadcast), else the
   * gateway; -1 when there is no route.
   */
  nextHop(dst: number): number {
    const env = this.env;
    if (dst === env.addr || (isMulticastOrClassE(dst) && dst !== IP_BROADCAST)) return -1;
    if (dst === IP_BROADCAST || sameSubnet(dst, env.addr, env.mask)) return dst;
    return env.gateway !== 0 ? env.gateway : -1;
  }

  /** Receive an IPv4 packet (mtod at the IP header, Ethernet header stripped). Takes ownership. */
  input(m: number): void {
    const env = this.env;
    const pool = env.pool;
    const len = pool.pktLen(m);
    const dl = pool.dataLen(m);
    if (dl < IP_HDR_LEN) return this.drop(m, len < IP_HDR_LEN ? 'truncated' : 'headerSplit');
    const p = pool.mtod(m);
    const u8 = pool.u8;
    const dv = pool.dv;
    const vihl = u8[p + IP_VER_IHL];
    if (vihl >>> 4 !== 4) return this.drop(m, 'badVersion');
    const ihl = (vihl & 15) << 2;
    if (ihl < IP_HDR_LEN) return this.drop(m, 'badIhl');
    if (ihl > len) return this.drop(m, 'ihlPastFrame');
    if (ihl > dl && !pullup(pool, m, ihl)) return this.drop(m, 'headerSplit');
    const total = dv.getUint16(p + IP_TOTAL_LEN);
    if (total < ihl) return this.drop(m, 'badTotalLength');
    if (total > len) return this.drop(m, 'truncated');
    if (!env.checksumUnneeded) {
      const f = pool.olFlagsLo(m) & OL_RX_IP_CKSUM_MASK_LO;
      if (f === OL_RX_IP_CKSUM_BAD_LO) return this.drop(m, 'badChecksum');
      if (f !== OL_RX_IP_CKSUM_GOOD_LO && finish(sumBytes(dv, p, ihl)) !== 0) return this.drop(m, 'badChecksum');
    }
    // RFC 1122 3.2.1.7: no host sends TTL 0, so such a datagram is malformed.
    if (u8[p + IP_TTL] === 0) return this.drop(m, 'ttlZero');
    const src = dv.getUint32(p + IP_SRC);
    if (isMulticastOrClassE(src) || src === this.subnetBroadcast) return this.drop(m, 'badSource');
    const dst = dv.getUint32(p + IP_DST);
    if (dst !== env.addr && !this.isBroadcast(dst)) return this.drop(m, 'notForUs');
    if (this.closed) return this.drop(m, 'closed');
    // Ethernet pads short frames: the datagram is what the header says.
    if (total < len) {
      pool.truncate(m, total);
      (this.counters.trimmed as number)++;
    }
    if ((dv.getUint16(p + IP_FRAG) & (IP_FLAG_MF | IP_OFFSET_MASK)) !== 0) {
      (this.counters.fragmentsReceived as number)++;
      const whole = this.reassembly.insert(m, ihl, env.clock.now());
      if (whole === NO_MBUF) return;
      this.deliver(whole, pool.mtod(whole));
      return;
    }
    this.deliver(m, p);
  }

  private deliver(m: number, p: number): void {
    const pool = this.env.pool;
    const dv = pool.dv;
    const u8 = pool.u8;
    const ihl = (u8[p + IP_VER_IHL] & 15) << 2;
    const proto = u8[p + IP_PROTO];
    const tos = u8[p + IP_TOS];
    const src = dv.getUint32(p + IP_SRC);
    const dst = dv.getUint32(p + IP_DST);
    pool.adj(m, ihl);
    // Transport headers are read from the first segment; a zero-copy chain
    // (reassembled, or sent as indirect mbufs) may start short.
    const want = Math.min(pool.pktLen(m), PULLUP_L4);
    if (pool.dataLen(m) < want && !pullup(pool, m, want)) return this.drop(m, 'headerSplit');
    const h = this.handlers[proto];
    if (h === undefined) {
      this.icmp.sendError(m, 3, 2, 0); // protocol unreachable (RFC 1122 3.2.2.1)
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
  output(m: number, dst: number, proto: number, tos = 0): void {
    const env = this.env;
    const pool = env.pool;
    dst >>>= 0;
    if (this.closed) return this.drop(m, 'closed');
    const hop = this.nextHop(dst);
    if (hop < 0) return this.drop(m, 'noRoute');
    const payload = pool.pktLen(m);
    const tso = (pool.olFlagsHi(m) & OL_TX_TCP_SEG_HI) !== 0;
    if (payload + IP_HDR_LEN > env.mtu && !tso) {
      if (proto === IPPROTO_TCP) return this.drop(m, 'fragNeededDf');
      return this.fragmentOutput(m, dst, proto, tos, hop);
    }
    if (payload + IP_HDR_LEN > IP_MAX_LEN && !tso) return this.drop(m, 'tooBig');
    const p = pool.prepend(m, IP_HDR_LEN);
    if (p < 0) return this.drop(m, 'noHeadroom');
    const id = this.nextId;
    this.nextId = (id + 1) & 0xffff;
    this.writeHeader(m, p, Math.min(payload + IP_HDR_LEN, IP_MAX_LEN), id,
      proto === IPPROTO_TCP ? IP_FLAG_DF : 0, proto, dst, tos);
    this.counters.tx++;
    env.link.output(m, hop);
  }

  /** Write a header at `p` and settle its checksum (offloaded or computed). */
  private writeHeader(m: number, p: number, total: number, id: number, frag: number, proto: number, dst: number, tos: number): void {
    const env = this.env;
    const pool = env.pool;
    const dv = pool.dv;
    const u8 = pool.u8;
    u8[p + IP_VER_IHL] = 0x45;
    u8[p + IP_TOS] = tos;
    dv.setUint16(p + IP_TOTAL_LEN, total);
    dv.setUint16(p + IP_ID, id);
    dv.setUint16(p + IP_FRAG, frag);
    u8[p + IP_TTL] = this.config.ttl;
    u8[p + IP_PROTO] = proto;
    dv.setUint16(p + IP_CSUM, 0);
    dv.setUint32(p + IP_SRC, env.addr);
    dv.setUint32(p + IP_DST, dst);
    const hi = pool.olFlagsHi(m);
    if ((env.txOffloads & TX_OFFLOAD_IPV4_CKSUM) !== 0) {
      pool.setOlFlags(m, pool.olFlagsLo(m), hi | OL_TX_IP_CKSUM_HI | OL_TX_IPV4_HI);
      this.setL2L3(m);
    } else {
      // RFC 1071 over the ten 16-bit words just written, from the values
      // themselves rather than read back from the packet.
      let sum = (0x4500 | (tos & 0xff)) + (total & 0xffff) + (id & 0xffff) + (frag & 0xffff)
        + (((this.config.ttl & 0xff) << 8) | (proto & 0xff))
        + (env.addr >>> 16) + (env.addr & 0xffff) + (dst >>> 16) + (dst & 0xffff);
      sum = (sum & 0xffff) + (sum >>> 16);
      sum = (sum & 0xffff) + (sum >>> 16);
      dv.setUint16(p + IP_CSUM, ~sum & 0xffff);
      // L4 offloads (set by TCP) still need the IPV4 flag and the header lengths.
      if ((hi & (OL_TX_L4_MASK_HI | OL_TX_TCP_SEG_HI)) !== 0) {
        pool.setOlFlags(m, pool.olFlagsLo(m), hi | OL_TX_IPV4_HI);
        this.setL2L3(m);
      }
    }
  }

  /** Set l2_len/l3_len, keeping the l4_len and tso_segsz TCP put there. */
  private setL2L3(m: number): void {
    const pool = this.env.pool;
    pool.setTxOffload(m, L2_LEN, IP_HDR_LEN, (pool.txOffloadLo(m) >>> 16) & 0xff, pool.tsoSegsz(m));
  }

  /**
   * Fragment an over-MTU datagram: each fragment is a fresh header mbuf
   * chained to indirect mbufs over the original payload — no payload copy.
   */
  private fragmentOutput(m: number, dst: number, proto: number, tos: number, hop: number): void {
    const env = this.env;
    const pool = env.pool;
    const payload = pool.pktLen(m);
    if (payload + IP_HDR_LEN > IP_MAX_LEN) return this.drop(m, 'tooBig');
    const step = (env.mtu - IP_HDR_LEN) & ~7;
    if (step <= 0) return this.drop(m, 'tooBig');
    const id = this.nextId;
    this.nextId = (id + 1) & 0xffff;
    for (let off = 0; off < payload; off += step) {
      const n = Math.min(step, payload - off);
      const h = pool.alloc();
      if (h === NO_MBUF) return this.drop(m, 'noMbuf');
      const body = pool.refSlice(m, off, n);
      if (body === NO_MBUF) { pool.free(h); return this.drop(m, 'noMbuf'); }
      pool.chain(h, body);
      const p = pool.prepend(h, IP_HDR_LEN);
      const more = off + n < payload ? IP_FLAG_MF : 0;
      this.writeHeader(h, p, n + IP_HDR_LEN, id, more | (off >>> 3), proto, dst, tos);
      (this.counters.fragmentsSent as number)++;
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
    this.reassembly.close();
  }

  private drop(m: number, reason: string): void {
    countDrop(this.counters, reason);
    this.env.pool.free(m);
  }
}
