/**
 * What each shard of a sharded stack wraps around its device queue: the
 * software side of flow placement.
 *
 * Every shard owns a block of the ephemeral port range (its stack's
 * `ephemeralLow`..`ephemeralHigh`), so every connection a shard opens has a
 * local port that names its owner. A device places received frames by its
 * own rules (RSS hash, the queue a memif peer sent on, a kernel fanout), and
 * {@link ShardPort} corrects what it gets wrong, before the stack sees it:
 *
 * - a TCP segment whose destination port lies in another shard's block is
 *   handed to that shard over a {@link HandoffRing} (zero copy; the mbuf
 *   moves, the frame is processed once, by its owner); with a device whose
 *   RSS hash a shard can predict, connect picks ports that come back to the
 *   right queue and nothing needs handing over (the counters say so);
 * - an ARP packet is processed where it lands (only that shard answers a
 *   request) and a copy goes to every other shard, turned into a reply, so
 *   all of them learn the sender (ARP learns from anything addressed to us
 *   and answers only requests); an IPv6 neighbour advertisement is copied
 *   to every shard as it is (the one that solicited it learns; the others
 *   ignore it), a solicitation is answered where it lands;
 * - frames the device cannot place, because the ports are not where it
 *   looks: IPv4 fragments all go to one shard, the fragment owner (shard 0
 *   by default), which holds a datagram's fragments until its first one
 *   (the one with the ports) says whose flow it is, then hands them all
 *   to that shard, whose stack reassembles them (fragments of a flow no
 *   shard claims, ping among them, are reassembled by the owner itself);
 *   an ICMP error goes to the shard of the connection whose segment it
 *   quotes, an echo reply to the shard that sent the request. Whose a flow
 *   is: a connection a shard opened, by its port block; an accepted one,
 *   the shard its SYN landed on (the device puts all the connection's
 *   unfragmented segments on that same queue); a UDP flow or an echo id,
 *   the shard that sent on it — learned into a {@link FlowTable} all
 *   shards share;
 * - everything else (listening ports, ICMP echo) stays where it landed:
 *   the frames of an accepted connection always come from the same peer
 *   tuple, so a hash or a fanout keeps them on one queue.
 *
 * Forwarded frames come out of {@link rxBurst} before the device's.
 */
import { HandoffRing } from '../mbuf/handoff-ring.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Port, PortCaps, PortStats } from '../pmd/port.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

/** Counters of one shard's steering (all present from the start). */
export interface SteerCounters {
  /** TCP segments handed to the shard owning their destination port. */
  forwardedOut: number;
  /** Frames other shards handed to this one (segments and ARP copies). */
  forwardedIn: number;
  /** Segments for another shard that could not be handed over (its ring full, or the shard gone): freed. */
  forwardDropped: number;
  /** ARP packets copied to other shards (one per other shard). */
  arpCopiesOut: number;
  /** ARP copies not made or not taken (no mbuf, ring full, shard gone). */
  arpCopyDropped: number;
  /** IPv6 neighbour advertisements copied to other shards (one per other shard). */
  ndCopiesOut: number;
  /** Neighbour advertisement copies not made or not taken (no mbuf, ring full, shard gone). */
  ndCopyDropped: number;
  /** IPv4 fragments this shard took off its queue and handed to the fragment owner. */
  fragmentsToOwner: number;
  /** Fragments the fragment owner handed to the shard whose flow they belong to. */
  fragmentsSteered: number;
  /** Fragments the fragment owner kept for its own stack (its flows, or no shard's: ping, UDP to a bound port). */
  fragmentsKept: number;
  /** Fragments freed by the owner: their first fragment never came (held too long), no room to hold them, or the target's ring full. */
  fragmentsDropped: number;
  /** ICMP errors handed to the shard of the connection they are about. */
  icmpErrorsForwarded: number;
  /** Flows recorded in the shared flow table (accepted connections' SYNs, UDP flows and echo ids sent on). */
  flowsLearned: number;
  /** Receive queues of ended shards this one took over. */
  queuesAdopted: number;
  /**
   * Frames off the device sent from our own MAC: another shard's transmits,
   * which Linux copies to every other packet socket of the interface
   * (net_af_packet with several queues). Freed before the stack sees them,
   * so a shard never takes another's DAD probe or gratuitous ARP for a
   * conflict, nor spends a receive on another's segments.
   */
  ownFramesDropped: number;
}

/** Fresh zeroed steering counters. */
export function newSteerCounters(): SteerCounters {
  return {
    forwardedOut: 0, forwardedIn: 0, forwardDropped: 0, arpCopiesOut: 0, arpCopyDropped: 0, ndCopiesOut: 0, ndCopyDropped: 0,
    fragmentsToOwner: 0, fragmentsSteered: 0, fragmentsKept: 0, fragmentsDropped: 0, icmpErrorsForwarded: 0, flowsLearned: 0, queuesAdopted: 0, ownFramesDropped: 0,
  };
}

/** Slots of a {@link FlowTable} (a power of two). */
const FLOW_SLOTS = 4096;
const FLOW_WORDS = 4;

/**
 * Which shard holds each flow, keyed by (protocol, remote address, remote
 * port, local port) — an accepted TCP connection (learned when its SYN
 * lands on a shard), a UDP flow or an ICMP echo id (learned when a shard
 * sends on it: remote port = the id, local port 0): a cache in a
 * SharedArrayBuffer every shard writes and reads, to place a fragment or
 * an ICMP message about the flow. A slot is one flow; a newer one hashing
 * to the same slot replaces it (the older flow's fragments then stay with
 * the fragment owner). Each slot's owner word is cleared before its key is
 * written and set after, and a reader checks it before and after the key,
 * so a torn read is a miss, never a wrong shard.
 */
export class FlowTable {
  readonly buffer: SharedArrayBuffer;
  private readonly w: Int32Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.w = new Int32Array(buffer);
  }

  /** A new empty table. */
  static create(): FlowTable { return new FlowTable(new SharedArrayBuffer(FLOW_SLOTS * FLOW_WORDS * 4)); }

  /** The table in `buffer` (made by {@link create} in another thread). */
  static attach(buffer: SharedArrayBuffer): FlowTable { return new FlowTable(buffer); }

  private static slot(proto: number, remote: Ip4, remotePort: number, localPort: number): number {
    const h = Math.imul(remote ^ Math.imul(((remotePort << 16) | localPort) ^ (proto << 8), 0x9e3779b1), 0x85ebca6b);
    return ((h ^ (h >>> 15)) & (FLOW_SLOTS - 1)) * FLOW_WORDS;
  }

  /** Record that `shard` holds the flow. */
  set(proto: number, remote: Ip4, remotePort: number, localPort: number, shard: number): void {
    const w = this.w;
    const i = FlowTable.slot(proto, remote, remotePort, localPort);
    Atomics.store(w, i + 2, 0);
    Atomics.store(w, i, remote | 0);
    Atomics.store(w, i + 1, (remotePort << 16) | localPort);
    Atomics.store(w, i + 3, proto);
    Atomics.store(w, i + 2, shard + 1);
  }

  /** The shard holding the flow, or -1 (not recorded, or replaced). */
  get(proto: number, remote: Ip4, remotePort: number, localPort: number): number {
    const w = this.w;
    const i = FlowTable.slot(proto, remote, remotePort, localPort);
    const o = Atomics.load(w, i + 2);
    if (o === 0 || Atomics.load(w, i) !== (remote | 0) || Atomics.load(w, i + 1) !== ((remotePort << 16) | localPort)
      || Atomics.load(w, i + 3) !== proto) return -1;
    return Atomics.load(w, i + 2) === o ? o - 1 : -1;
  }
}

/** The block of the ephemeral range shard `shard` of `shards` owns: [low, high]. */
export function shardPortBlock(shard: number, shards: number, low = 32768, high = 60999): { low: number; high: number } {
  const size = Math.floor((high - low + 1) / shards);
  if (size < 1) throw new RangeError(`an ephemeral range of ${high - low + 1} ports cannot be split ${shards} ways`);
  return { low: low + shard * size, high: shard === shards - 1 ? high : low + (shard + 1) * size - 1 };
}

/** Options of a {@link ShardPort}. */
export interface ShardPortOptions {
  /** This shard's index. */
  shard: number;
  /** Shards in all. */
  shards: number;
  /** Rings from every other shard to this one (index: the sending shard; this shard's own entry unused). */
  inbound: Array<HandoffRing | undefined>;
  /** Rings from this shard to every other one (index: the receiving shard). */
  outbound: Array<HandoffRing | undefined>;
  /** The ephemeral range all the shards split (default 32768-60999, TCP's default). */
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** Frames per device receive (default 64). */
  burst?: number;
  /** The shard that places IPv4 fragments (default 0). */
  fragmentOwner?: number;
  /** The flow table all shards share (default: one of this shard's own; accepted connections of other shards are then unknown). */
  flows?: FlowTable;
  /** Milliseconds, for how long fragments wait for their first one (default performance.now). */
  now?: () => number;
}

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
const IPPROTO_TCP = 6;
const IPPROTO_ICMP = 1;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const ND_NEIGHBOR_ADVERT = 136;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
/** classify(): the frame was taken care of (held, handed over or freed). */
const TAKEN = -2;
/** Fragment datagrams the owner tracks at once. */
const FRAG_SLOTS = 64;
/** Fragments held per datagram while its first fragment has not come. */
const FRAG_HELD = 48;
/** How long fragments wait for their datagram's first fragment, and how long a placed datagram is remembered (ms). */
const FRAG_HOLD_MS = 5000;
const FRAG_REMEMBER_MS = 30000;
const FRAG_UNKNOWN = -3;
/** Frames the owner delivers to its own stack from the fragment path (a FIFO drained by rxBurst). */
const LOCAL_FIFO = 256;
const ARP_OP_OFF = ETH_HLEN + 6;
const ARP_OP_REQUEST = 1;
const ARP_OP_REPLY = 2;
/** Bytes of an Ethernet frame carrying ARP (without padding). */
const ARP_FRAME = ETH_HLEN + 28;

/**
 * A device queue as one shard of a sharded stack sees it (see the module
 * comment). Transmit goes straight to the device queue.
 */
export class ShardPort implements Port {
  readonly name: string;
  readonly pool: Mempool;
  readonly caps: PortCaps;
  readonly counters: SteerCounters = newSteerCounters();
  readonly shard: number;
  readonly shards: number;
  private readonly inner: Port;
  private readonly inbound: Array<HandoffRing | undefined>;
  private readonly outbound: Array<HandoffRing | undefined>;
  private readonly low: number;
  private readonly high: number;
  private readonly blockSize: number;
  private readonly scratch: Uint32Array;
  private closed = false;
  private readonly fragOwner: number;
  private readonly flows: FlowTable;
  private readonly now: () => number;
  // The fragment owner's datagrams: key (source, id, protocol), target shard, last fragment's time, held fragments.
  private readonly fragSrc = new Int32Array(FRAG_SLOTS);
  private readonly fragKey = new Int32Array(FRAG_SLOTS);
  private readonly fragTarget = new Int32Array(FRAG_SLOTS).fill(FRAG_UNKNOWN);
  private readonly fragLast = new Float64Array(FRAG_SLOTS);
  private readonly fragUsed = new Uint8Array(FRAG_SLOTS);
  private readonly fragHeldN = new Uint8Array(FRAG_SLOTS);
  private readonly fragHeld = new Uint32Array(FRAG_SLOTS * FRAG_HELD);
  private fragActive = 0;
  private ticks = 0;
  private readonly fifo = new Uint32Array(LOCAL_FIFO);
  private fifoHead = 0;
  private fifoLen = 0;
  private readonly adopted: Port[] = [];
  /** Our MAC as a 32-bit and a 16-bit word (bytes 0-3, 4-5), for the source-address test. */
  private readonly macHi: number;
  private readonly macLo: number;

  constructor(inner: Port, o: ShardPortOptions) {
    this.inner = inner;
    this.name = `${inner.name}/shard${o.shard}`;
    this.pool = inner.pool;
    this.caps = inner.caps;
    this.shard = o.shard;
    this.shards = o.shards;
    this.inbound = o.inbound;
    this.outbound = o.outbound;
    this.low = o.ephemeralLow ?? 32768;
    this.high = o.ephemeralHigh ?? 60999;
    this.blockSize = Math.floor((this.high - this.low + 1) / o.shards);
    if (this.blockSize < 1) throw new RangeError('ephemeral range too small for the shards');
    this.scratch = new Uint32Array(o.burst ?? 64);
    this.fragOwner = o.fragmentOwner ?? 0;
    this.flows = o.flows ?? FlowTable.create();
    this.now = o.now ?? (() => performance.now());
    const mac = inner.caps.mac;
    this.macHi = ((mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3]) | 0;
    this.macLo = (mac[4] << 8) | mac[5];
  }

  get stats(): PortStats { return this.inner.stats; }

  /** The shard owning local port `p`, or -1 when `p` is outside the ephemeral range (a listening port). */
  ownerOf(p: number): number {
    if (p < this.low || p > this.high) return -1;
    const k = Math.floor((p - this.low) / this.blockSize);
    return k < this.shards ? k : this.shards - 1;
  }

  rxBurst(out: Uint32Array, max: number): number {
    if (this.closed) return 0;
    if (max > out.length) max = out.length;
    let n = 0;
    const inb = this.inbound;
    if (this.shards > 1) {
      n = this.drainFifo(out, n, max);
      const n0 = n;
      for (let k = 0; k < inb.length && n < max; k++) {
        const r = inb[k];
        if (r !== undefined) n += r.dequeue(out, max - n, n);
      }
      this.counters.forwardedIn += n - n0;
      if (this.shard === this.fragOwner) {
        // Fragments other shards handed here are placed like those off the queue.
        let k = n0;
        for (let i = n0; i < n; i++) {
          const m = out[i] as Mbuf;
          if (this.fragmentOf(m) === 0 || this.fragDispatch(m) !== TAKEN) out[k++] = m;
        }
        n = this.drainFifo(out, k, max);
        if (this.fragActive > 0 && (++this.ticks & 255) === 0) this.fragExpire(this.now());
      }
    }
    if (n >= max) return n;
    const sc = this.scratch;
    const want = max - n < sc.length ? max - n : sc.length;
    const got = this.inner.rxBurst(sc, want);
    if (this.shards === 1) {
      for (let i = 0; i < got; i++) out[n + i] = sc[i];
      return n + got;
    }
    n = this.place(sc, got, out, n);
    // Queues of shards that ended, taken over by this one: their frames are placed like this queue's.
    for (let k = 0; k < this.adopted.length && n < max; k++) {
      const w = max - n < sc.length ? max - n : sc.length;
      n = this.place(sc, this.adopted[k].rxBurst(sc, w), out, n);
    }
    return this.fifoLen > 0 ? this.drainFifo(out, n, max) : n;
  }

  /** Classify frames sc[0..got) off a device queue: into out[n..], onto another shard's ring, or taken. */
  private place(sc: Uint32Array, got: number, out: Uint32Array, n: number): number {
    for (let i = 0; i < got; i++) {
      const m = sc[i] as Mbuf;
      const owner = this.classify(m);
      if (owner === TAKEN) continue;
      if (owner < 0 || owner === this.shard) { out[n++] = m; continue; }
      const ring = this.outbound[owner];
      if (ring !== undefined && ring.enqueueOne(m)) this.counters.forwardedOut++;
      else { this.counters.forwardDropped++; this.pool.free(m); }
    }
    return n;
  }

  /**
   * Take over the receive queue of a shard that ended: poll it after this
   * shard's own, so what the device still puts there (new connections,
   * ARP, ping) is served here; segments of the ended shard's own
   * connections meet its closed ring and are dropped (counted), as those
   * connections are gone. Closed with this port.
   */
  adopt(queue: Port): void {
    if (this.closed) { queue.close(); return; }
    this.adopted.push(queue);
    this.counters.queuesAdopted++;
  }

  /** Move what the fragment path kept for this shard's stack into out[n..max). */
  private drainFifo(out: Uint32Array, n: number, max: number): number {
    while (this.fifoLen > 0 && n < max) {
      out[n++] = this.fifo[this.fifoHead];
      this.fifoHead = (this.fifoHead + 1) % LOCAL_FIFO;
      this.fifoLen--;
    }
    return n;
  }

  /**
   * The shard a received frame belongs to (-1: this one, no opinion). ARP is
   * copied to the others here. Reads only within the first segment's data.
   */
  private classify(m: Mbuf): number {
    const pool = this.pool;
    const dl = pool.dataLen(m);
    if (dl < ETH_HLEN + 20) return -1;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    const dv = pool.dv;
    if (dv.getInt32(p + 6) === this.macHi && dv.getUint16(p + 10) === this.macLo) {
      this.counters.ownFramesDropped++;
      pool.free(m);
      return TAKEN;
    }
    const type = (u8[p + 12] << 8) | u8[p + 13];
    if (type === ETHERTYPE_ARP) return this.arpFanOut(m);
    if (type === ETHERTYPE_IPV6) {
      // TCP over IPv6 right after the fixed header: by port block, as for IPv4 (ICMPv6 and the rest stay here).
      const next = u8[p + ETH_HLEN + 6];
      if (ETH_HLEN + 40 + 4 > dl) return -1;
      // A neighbour advertisement answers whichever shard solicited: every shard gets a copy (one without an entry ignores it, RFC 4861 7.2.5).
      if (next === IPPROTO_ICMPV6 && u8[p + ETH_HLEN + 40] === ND_NEIGHBOR_ADVERT) { this.copyToOthers(m, dl); return -1; }
      if (next !== IPPROTO_TCP) return -1;
      return this.ownerOf((u8[p + ETH_HLEN + 42] << 8) | u8[p + ETH_HLEN + 43]);
    }
    if (type !== ETHERTYPE_IPV4) return -1;
    const vihl = u8[p + ETH_HLEN];
    if ((vihl >> 4) !== 4) return -1;
    const proto = u8[p + ETH_HLEN + 9];
    // MF or an offset: the fragment owner places it (a later fragment has no ports).
    if (((u8[p + ETH_HLEN + 6] & 0x3f) | u8[p + ETH_HLEN + 7]) !== 0) return this.fragment(m);
    const l4 = ETH_HLEN + ((vihl & 0xf) << 2);
    if (proto === IPPROTO_ICMP) return this.icmpOwner(p, l4, dl);
    // UDP from a shard's ephemeral block (setUdpEphemeralRange) goes back to that shard, as TCP does.
    if (proto === IPPROTO_UDP) return l4 + 8 <= dl ? this.ownerOf((u8[p + l4 + 2] << 8) | u8[p + l4 + 3]) : -1;
    if (proto !== IPPROTO_TCP || l4 + 14 > dl) return -1;
    const dport = (u8[p + l4 + 2] << 8) | u8[p + l4 + 3];
    const owner = this.ownerOf(dport);
    // A SYN (no ACK) to a listening port: this shard will hold the connection, as the device keeps its segments here.
    if (owner < 0 && (u8[p + l4 + 13] & 0x12) === 0x02) {
      this.flows.set(IPPROTO_TCP, pool.dv.getInt32(p + ETH_HLEN + 12) as Ip4, (u8[p + l4] << 8) | u8[p + l4 + 1], dport, this.shard);
      this.counters.flowsLearned++;
    }
    return owner;
  }

  /**
   * The shard holding the flow (remote, remotePort) ↔ (us, localPort) of
   * `proto`: a TCP connection or UDP socket a shard opened by its local port's block,
   * anything else by the flow table; -1 when no shard claims it.
   */
  flowOwner(proto: number, remote: Ip4, remotePort: number, localPort: number): number {
    const o = proto === IPPROTO_TCP || proto === IPPROTO_UDP ? this.ownerOf(localPort) : -1;
    return o >= 0 ? o : this.flows.get(proto, remote, remotePort, localPort);
  }

  /**
   * An ICMP message: an echo reply to the shard that sent the request (by
   * its id), an error quoting one of our TCP segments or UDP datagrams to
   * the shard of its flow; -1: keep it here.
   */
  private icmpOwner(p: number, l4: number, dl: number): number {
    const u8 = this.pool.u8;
    const dv = this.pool.dv;
    const t = u8[p + l4];
    if (t === ICMP_ECHO_REPLY) return l4 + 8 > dl ? -1 : this.flows.get(IPPROTO_ICMP, dv.getInt32(p + ETH_HLEN + 12) as Ip4, dv.getUint16(p + l4 + 4), 0);
    // Destination unreachable, source quench, redirect, time exceeded, parameter problem.
    if (!(t === 3 || t === 4 || t === 5 || t === 11 || t === 12)) return -1;
    const inner = l4 + 8;
    if (inner + 20 > dl || (u8[p + inner] >> 4) !== 4) return -1;
    const proto = u8[p + inner + 9];
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return -1;
    const il4 = inner + ((u8[p + inner] & 0xf) << 2);
    if (il4 + 4 > dl) return -1;
    // The quoted packet is ours: its source port is our local one, its destination the peer.
    const owner = this.flowOwner(proto, dv.getInt32(p + inner + 16) as Ip4, (u8[p + il4 + 2] << 8) | u8[p + il4 + 3], (u8[p + il4] << 8) | u8[p + il4 + 1]);
    if (owner >= 0 && owner !== this.shard) this.counters.icmpErrorsForwarded++;
    return owner;
  }

  /**
   * Learn from what this shard sends: a UDP flow, or an ICMP echo id, is
   * this shard's (so the replies' fragments and the echo replies come back
   * here). Only a header read for TCP frames.
   */
  private learnTx(m: Mbuf): void {
    const pool = this.pool;
    const dl = pool.dataLen(m);
    if (dl < ETH_HLEN + 20) return;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    if (u8[p + 12] !== 0x08 || u8[p + 13] !== 0x00) return;
    const proto = u8[p + ETH_HLEN + 9];
    if ((proto !== IPPROTO_UDP && proto !== IPPROTO_ICMP) || (((u8[p + ETH_HLEN + 6] & 0x1f) | u8[p + ETH_HLEN + 7]) !== 0)) return;
    const dv = pool.dv;
    // The layer-4 header may start the next segment (a header mbuf in front of the payload, as fragments are built).
    let l4 = ETH_HLEN + ((u8[p + ETH_HLEN] & 0xf) << 2);
    let q = p;
    if (l4 >= dl) {
      const next = pool.next(m);
      if (next === NO_MBUF) return;
      l4 -= dl;
      q = pool.mtod(next);
      if (l4 + 8 > pool.dataLen(next)) return;
    } else if (l4 + 8 > dl) return;
    const remote = dv.getInt32(p + ETH_HLEN + 16) as Ip4;
    let rport: number;
    let lport: number;
    if (proto === IPPROTO_UDP) { lport = dv.getUint16(q + l4); rport = dv.getUint16(q + l4 + 2); } else if (u8[q + l4] === ICMP_ECHO_REQUEST) { rport = dv.getUint16(q + l4 + 4); lport = 0; } else return;
    if (this.flows.get(proto, remote, rport, lport) !== this.shard) { this.flows.set(proto, remote, rport, lport, this.shard); this.counters.flowsLearned++; }
  }

  /** 0 when `m` is not an IPv4 fragment, else its flags/offset word (non-zero). */
  private fragmentOf(m: Mbuf): number {
    const pool = this.pool;
    if (pool.dataLen(m) < ETH_HLEN + 20) return 0;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    if (((u8[p + 12] << 8) | u8[p + 13]) !== ETHERTYPE_IPV4 || (u8[p + ETH_HLEN] >> 4) !== 4) return 0;
    return ((u8[p + ETH_HLEN + 6] & 0x3f) << 8) | u8[p + ETH_HLEN + 7];
  }

  /** A fragment off this shard's queue: to the fragment owner (or placed here, when this is it or it is gone). */
  private fragment(m: Mbuf): number {
    if (this.shard === this.fragOwner) return this.fragDispatch(m);
    const r = this.outbound[this.fragOwner];
    if (r !== undefined && !r.consumerClosed && r.enqueueOne(m)) { this.counters.fragmentsToOwner++; return TAKEN; }
    return -1;
  }

  /**
   * The fragment owner's placement of one fragment (see the module
   * comment). Always takes the mbuf.
   */
  private fragDispatch(m: Mbuf): number {
    const pool = this.pool;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    const dv = pool.dv;
    const src = dv.getInt32(p + ETH_HLEN + 12) as Ip4;
    const key = (dv.getUint16(p + ETH_HLEN + 4) << 8) | u8[p + ETH_HLEN + 9];
    const first = (dv.getUint16(p + ETH_HLEN + 6) & 0x1fff) === 0;
    const now = this.now();
    let e = -1;
    let free = -1;
    let oldest = 0;
    for (let i = 0; i < FRAG_SLOTS; i++) {
      if (this.fragUsed[i] === 0) { if (free < 0) free = i; continue; }
      if (this.fragSrc[i] === src && this.fragKey[i] === key) { e = i; break; }
      if (this.fragLast[i] < this.fragLast[oldest] || this.fragUsed[oldest] === 0) oldest = i;
    }
    if (e < 0) {
      e = free >= 0 ? free : oldest;
      if (free < 0) this.fragRelease(e);
      this.fragUsed[e] = 1;
      this.fragSrc[e] = src;
      this.fragKey[e] = key;
      this.fragTarget[e] = FRAG_UNKNOWN;
      this.fragHeldN[e] = 0;
      this.fragActive++;
    }
    this.fragLast[e] = now;
    if (first && this.fragTarget[e] === FRAG_UNKNOWN) {
      let t = -1;
      const l4 = ETH_HLEN + ((u8[p + ETH_HLEN] & 0xf) << 2);
      const proto = u8[p + ETH_HLEN + 9];
      if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && l4 + 4 <= pool.dataLen(m)) {
        t = this.flowOwner(proto, src, (u8[p + l4] << 8) | u8[p + l4 + 1], (u8[p + l4 + 2] << 8) | u8[p + l4 + 3]);
      } else if (proto === IPPROTO_ICMP && l4 + 8 <= pool.dataLen(m) && u8[p + l4] === ICMP_ECHO_REPLY) {
        t = this.flows.get(IPPROTO_ICMP, src, dv.getUint16(p + l4 + 4), 0);
      }
      if (t < 0 || this.outbound[t]?.consumerClosed === true) t = this.shard;
      this.fragTarget[e] = t;
      const base = e * FRAG_HELD;
      for (let i = 0; i < this.fragHeldN[e]; i++) this.fragSend(this.fragHeld[base + i] as Mbuf, t);
      this.fragHeldN[e] = 0;
    }
    const t = this.fragTarget[e];
    if (t !== FRAG_UNKNOWN) { this.fragSend(m, t); return TAKEN; }
    if (this.fragHeldN[e] >= FRAG_HELD) { this.counters.fragmentsDropped++; pool.free(m); return TAKEN; }
    this.fragHeld[e * FRAG_HELD + this.fragHeldN[e]++] = m;
    return TAKEN;
  }

  private fragSend(m: Mbuf, t: number): void {
    if (t === this.shard) {
      if (this.fifoLen >= LOCAL_FIFO) { this.counters.fragmentsDropped++; this.pool.free(m); return; }
      this.fifo[(this.fifoHead + this.fifoLen) % LOCAL_FIFO] = m;
      this.fifoLen++;
      this.counters.fragmentsKept++;
      return;
    }
    const r = this.outbound[t];
    if (r !== undefined && r.enqueueOne(m)) this.counters.fragmentsSteered++;
    else { this.counters.fragmentsDropped++; this.pool.free(m); }
  }

  /** Forget datagram slot `e`, freeing the fragments it still holds. */
  private fragRelease(e: number): void {
    const base = e * FRAG_HELD;
    for (let i = 0; i < this.fragHeldN[e]; i++) { this.pool.free(this.fragHeld[base + i] as Mbuf); this.counters.fragmentsDropped++; }
    this.fragHeldN[e] = 0;
    this.fragUsed[e] = 0;
    this.fragActive--;
  }

  /** Free what waited too long for its first fragment; forget datagrams placed long ago. */
  private fragExpire(now: number): void {
    for (let e = 0; e < FRAG_SLOTS; e++) {
      if (this.fragUsed[e] === 0) continue;
      const age = now - this.fragLast[e];
      if (age > (this.fragTarget[e] === FRAG_UNKNOWN ? FRAG_HOLD_MS : FRAG_REMEMBER_MS)) this.fragRelease(e);
    }
  }

  /** Fragments the owner holds while their first fragment has not come. */
  fragmentsHeld(): number {
    let n = 0;
    for (let e = 0; e < FRAG_SLOTS; e++) n += this.fragHeldN[e];
    return n;
  }

  /** Copy an ARP packet, as a reply, to every other shard; the original stays here. */
  private arpFanOut(m: Mbuf): number {
    const pool = this.pool;
    const p = pool.mtod(m);
    const u8 = pool.u8;
    if (pool.dataLen(m) < ARP_FRAME || ((u8[p + 12] << 8) | u8[p + 13]) !== ETHERTYPE_ARP) return -1;
    const op = (u8[p + ARP_OP_OFF] << 8) | u8[p + ARP_OP_OFF + 1];
    if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return -1;
    for (let k = 0; k < this.shards; k++) {
      if (k === this.shard) continue;
      const ring = this.outbound[k];
      const c = ring === undefined || ring.consumerClosed ? NO_MBUF : pool.alloc();
      if (c === NO_MBUF) { this.counters.arpCopyDropped++; continue; }
      const at = pool.append(c, ARP_FRAME);
      if (at < 0) { pool.free(c); this.counters.arpCopyDropped++; continue; }
      pool.u8.copyWithin(at, p, p + ARP_FRAME);
      // A reply teaches the sender's address without making the other shard answer.
      u8[at + ARP_OP_OFF] = 0;
      u8[at + ARP_OP_OFF + 1] = ARP_OP_REPLY;
      if (ring!.enqueueOne(c)) this.counters.arpCopiesOut++;
      else { pool.free(c); this.counters.arpCopyDropped++; }
    }
    return -1;
  }

  /** Copy the first `len` bytes of `m` (a whole small frame) to every other shard; the original stays here. */
  private copyToOthers(m: Mbuf, len: number): void {
    const pool = this.pool;
    const p = pool.mtod(m);
    for (let k = 0; k < this.shards; k++) {
      if (k === this.shard) continue;
      const ring = this.outbound[k];
      const c = ring === undefined || ring.consumerClosed ? NO_MBUF : pool.alloc();
      if (c === NO_MBUF) { this.counters.ndCopyDropped++; continue; }
      const at = pool.append(c, len);
      if (at < 0) { pool.free(c); this.counters.ndCopyDropped++; continue; }
      pool.u8.copyWithin(at, p, p + len);
      if (ring!.enqueueOne(c)) this.counters.ndCopiesOut++;
      else { pool.free(c); this.counters.ndCopyDropped++; }
    }
  }

  txBurst(pkts: Uint32Array, n: number): number {
    if (this.shards > 1) for (let i = 0; i < n; i++) this.learnTx(pkts[i] as Mbuf);
    return this.inner.txBurst(pkts, n);
  }

  /**
   * Stop: take nothing more from other shards (their later hand-overs are
   * refused and freed on their side), free what is waiting in the inbound
   * rings, close the device queue.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let e = 0; e < FRAG_SLOTS; e++) if (this.fragUsed[e] !== 0) this.fragRelease(e);
    for (; this.fifoLen > 0; this.fifoLen--) { this.pool.free(this.fifo[this.fifoHead] as Mbuf); this.fifoHead = (this.fifoHead + 1) % LOCAL_FIFO; }
    for (const r of this.inbound) {
      if (r === undefined) continue;
      r.closeConsumer();
      r.drain(this.pool);
    }
    for (const r of this.outbound) r?.closeProducer();
    for (const q of this.adopted.splice(0)) q.close();
    this.inner.close();
  }
}
