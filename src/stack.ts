import { ARP_LEN, ArpLayer, type ArpConfig } from './eth/arp.js';
import { countDrop, newCounters, type Counters, type LayerCounters } from './eth/counters.js';
import { EtherType, EthHdr, ETH_DROP_REASONS, isMulticastMac, type EthDropReason } from './eth/ethernet.js';
import { parseCidr, parseIpv4, sameSubnet, type Ip4 } from './ip/addr.js';
import type { IcmpLayer } from './ip/icmp.js';
import { pullup } from './ip/pullup.js';
import { IPPROTO_TCP, Ipv4Layer, type Ipv4Config } from './ip/ipv4.js';
import type { L4Env } from './ip/transport.js';
import { MbufLayout } from './mbuf/layout.js';
import { NO_MBUF, type Mempool } from './mbuf/mempool.js';
import type { Port, RxClock } from './pmd/port.js';
import { PollClock, RealClock, type Clock } from './util/clock.js';
import { TcpLayer } from './tcp/layer.js';
import { Loopback, type LoopbackSink } from './loopback.js';
import type { Addr6 } from './ip/addr6.js';
import { attachIpv6, ipv6Of, type Ipv6Attachment, type Ipv6Options } from './ipv6-attach.js';
import { udp6LayerOf, Udp6Socket, type RemoteInfo6, type Udp6Host, type Udp6SocketOptions } from './udp/udp6.js';
import { createUdpSocket, udpLayerOf, type RemoteInfo, type UdpSocket, type UdpSocketOptions } from './udp/socket.js';
import type { TcpConfig } from './tcp/config.js';
import { connect, createServer, type TzConnectOptions, type TzServer, type TzServerOptions } from './tcp/server.js';
import type { TzSocket } from './tcp/socket.js';
import type { Mbuf } from './mbuf/index.js';
import { ReusedList } from './util/reused-list.js';

/** Options for {@link Stack}. */
export interface StackOptions {
  /** The port to receive from and transmit on; its pool is the stack's pool. */
  port: Port;
  /** Our address and prefix, `a.b.c.d/len` (a bare address means /32). */
  ip: string;
  /** Default gateway (must be on our subnet). */
  gateway?: string;
  /** Our MAC (default: the port's). */
  mac?: Uint8Array;
  /** Time source (default: wall clock). Tests pass a VirtualClock and call {@link Stack.poll}. */
  clock?: Clock;
  /** Packets per receive burst (default 32). */
  burst?: number;
  /**
   * Frames the transmit batch holds (default 256): it is flushed early when
   * full, and frames the port refuses wait in it for the next poll. TCP
   * stops sending new data while it has no room (see {@link Stack.txRoom}).
   */
  txBatch?: number;
  /** In {@link Stack.start}'s loop, sleep with growing timeouts while idle (default true). */
  idleBackoff?: boolean;
  /** Longest idle sleep in ms (default 4). */
  maxIdleDelayMs?: number;
  /** Busy polls per event-loop turn before yielding (default 64). */
  pollsPerTurn?: number;
  /** Longest busy stretch per event-loop turn in ms (default 1). */
  turnMs?: number;
  arp?: Partial<ArpConfig>;
  ipv4?: Partial<Ipv4Config>;
  /**
   * Further protocols (TCP is built in), called once at the end of
   * construction: each may `stack.ip.register(...)`, `stack.addTicker(...)`,
   * `stack.addCloseHook(...)`.
   */
  protocols?: Array<(stack: Stack) => void>;
  /** TCP configuration (defaults in src/tcp/config.ts). */
  tcp?: Partial<TcpConfig>;
  /** Coalesce TCP segments of a flow within a receive burst (GRO, default true). */
  gro?: boolean;
  /**
   * The receive fast path (default true): a frame that continues the flow
   * GRO is collecting joins its aggregate after a few word compares instead
   * of IPv4 input and the TCP parse (TcpLayer.mergeFrame); outside GRO, the
   * next segment for the connection the last one went to goes straight to
   * it (TcpLayer.directFrame). Off, every frame takes the normal path; the
   * results are the same.
   */
  rxFastPath?: boolean;
  /**
   * IPv6 (RFC 8200) with Neighbor Discovery and ICMPv6 beside IPv4, off
   * unless given: `{}` brings up the EUI-64 link-local address alone,
   * `{ addresses: ['fd00::1/64'], gateway: 'fe80::1' }` static ones too.
   * (TCP and UDP sockets are IPv4 only so far.)
   */
  ip6?: Ipv6Options;
}

export type { L4Env } from './ip/transport.js';

/** Counters of every layer, by layer name (JSON-able; live objects). */
export interface StackCounters {
  eth: Counters<EthDropReason>;
  arp: ArpLayer['counters'];
  ip: Ipv4Layer['counters'];
  reassembly: Ipv4Layer['reassembly']['counters'];
  icmp: Ipv4Layer['icmp']['counters'];
  udp: Ipv4Layer['udp']['counters'];
  /** TCP's, and what further protocols add: at least `rx`, `tx` and `drops` by reason. */
  [layer: string]: LayerCounters;
}

/** What the transmit batch did (see {@link Stack.txQueue}). */
export interface TxQueueCounters {
  /** Frames the port refused and the batch kept for a later flush (counted each time). */
  deferred: number;
  /** Flushes that left frames behind (the port's queue was full). */
  stalls: number;
  /** Frames dropped because the batch itself was full (the port refusing for long). */
  overflowDrops: number;
  /** Frames still in the batch when the stack closed, freed. */
  closeDrops: number;
  /** Most frames the batch held after a flush (how far behind the port got). */
  maxBacklog: number;
}

/**
 * Frame bytes guaranteed in the first segment on receive: Ethernet plus an ARP
 * body, which is longer than a minimal IPv4 header. IPv4 pulls up its own
 * options; pulling more here would copy payload out of a zero-copy sender's
 * slices on every segment.
 */
const PULLUP_FRAME = EthHdr.HDR_LEN + ARP_LEN;
/** What an emptied slot of the transmit-room waiters holds. */
const noWaiter = (): void => {};

/**
 * A TCP/IP host on one port: Ethernet, ARP, IPv4, ICMP and TCP (built in;
 * further protocols plug in through `protocols`), driven by {@link poll}.
 *
 * Receive climbs the layers synchronously within a poll; everything the
 * layers send is collected in one transmit batch flushed once per poll.
 */
export class Stack {
  readonly port: Port;
  readonly pool: Mempool;
  /**
   * The clock every layer reads: the time of the poll's start within
   * {@link poll}, `opts.clock` itself outside it.
   */
  readonly clock: PollClock;
  /** Where the port leaves its receive bursts' time (null: the poll reads the clock). */
  private readonly rxClock: RxClock | null;
  readonly mac: Uint8Array;
  readonly localIp: Ip4;
  readonly prefixLen: number;
  readonly mask: number;
  /** Gateway address, 0 when none. */
  readonly gateway: Ip4;
  readonly arp: ArpLayer;
  readonly ip: Ipv4Layer;
  /** TCP over this stack's IPv4. */
  readonly tcp: TcpLayer;
  /** TCP segments to our own addresses, delivered to our own TCP at the next ticker run (src/loopback.ts). */
  readonly loopback: Loopback;
  /** IPv6, ND and ICMPv6 (`opts.ip6`), else undefined. */
  readonly ip6: Ipv6Attachment | undefined;
  /** Per-layer counters: `eth`, `arp`, `ip`, `reassembly`, `icmp`, `udp`, `tcp` (and what protocols add). */
  readonly counters: StackCounters;
  /** Ethernet counters. */
  readonly eth: Counters<EthDropReason> = newCounters(ETH_DROP_REASONS);

  private readonly burst: number;
  private readonly rxBuf: Uint32Array;
  private readonly txBuf: Uint32Array;
  private txCount = 0;
  /** The port refused frames in this poll already: do not offer again before the poll's own flush. */
  private txStalled = false;
  /** Room kept for control frames (ACKs, ARP, RSTs) once TCP data is held back. */
  private readonly txReserve: number;
  /** Callbacks waiting for room in the batch ({@link L4Env.whenTxRoom}), called once each. */
  private txWaiters = new ReusedList<() => void>(noWaiter);
  private txWaitersSpare = new ReusedList<() => void>(noWaiter);
  /** What the transmit batch did: deferrals, stalls, drops. */
  readonly txQueue: TxQueueCounters = { deferred: 0, stalls: 0, overflowDrops: 0, closeDrops: 0, maxBacklog: 0 };
  private readonly tickers: Array<(now: number) => void> = [];
  private readonly deadlines: Array<() => number> = [];
  private readonly closeHooks: Array<() => void> = [];
  /** Receivers of further ethertypes (IPv6, an exception path), by ethertype. */
  private readonly etherHandlers = new Map<number, (m: Mbuf) => void>();
  /** Where frames of ethertypes nobody registered go instead of being dropped (an exception path). */
  private etherFallback: ((m: Mbuf) => void) | undefined;
  /**
   * Sees every ARP frame (mtod at the Ethernet header) before the ARP layer
   * takes it; must not keep or free it (the exception path copies it to the kernel).
   */
  onArpFrame: ((m: Mbuf) => void) | undefined;
  // Our MAC as a big-endian int32 (bytes 0-3) and uint16 (bytes 4-5): receive
  // compares a frame's destination in two DataView reads, not six byte loads.
  private readonly macHi: number;
  private readonly macLo: number;
  private readonly multiSeg: boolean;
  private readonly gro: boolean;
  private readonly rxFast: boolean;
  /** The handler this stack gave IPv4 for TCP: the receive fast path runs only while it is still the one. */
  private readonly tcpInput: (m: Mbuf, src: Ip4, dst: Ip4, tos: number) => void;
  private running = false;
  private closed = false;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private timeout: ReturnType<typeof setTimeout> | undefined;
  private idlePolls = 0;
  private idleDelay = 0;
  private readonly idleBackoff: boolean;
  private readonly maxIdleDelay: number;
  private readonly pollsPerTurn: number;
  private readonly turnMs: number;

  constructor(opts: StackOptions) {
    this.port = opts.port;
    this.pool = opts.port.pool;
    this.clock = new PollClock(opts.clock ?? new RealClock());
    // Only on the wall clock: a simulated one is the test's to move.
    this.rxClock = opts.clock === undefined ? opts.port.rxClock ?? null : null;
    this.mac = Uint8Array.from(opts.mac ?? opts.port.caps.mac);
    if (this.mac.length !== 6) throw new RangeError('a MAC address has 6 bytes');
    this.macHi = (this.mac[0] << 24) | (this.mac[1] << 16) | (this.mac[2] << 8) | this.mac[3];
    this.macLo = (this.mac[4] << 8) | this.mac[5];
    const cidr = parseCidr(opts.ip);
    this.localIp = cidr.addr;
    this.prefixLen = cidr.prefixLen;
    this.mask = cidr.mask;
    this.gateway = opts.gateway ? parseIpv4(opts.gateway) : 0 as Ip4;
    if (this.gateway !== 0 && !sameSubnet(this.gateway, this.localIp, this.mask)) {
      throw new RangeError(`gateway ${opts.gateway} is not on ${opts.ip}`);
    }
    this.burst = opts.burst ?? 32;
    this.rxBuf = new Uint32Array(this.burst);
    this.txBuf = new Uint32Array(Math.max(opts.txBatch ?? 256, this.burst));
    this.txReserve = Math.max(1, this.txBuf.length >>> 3);
    this.idleBackoff = opts.idleBackoff ?? true;
    this.maxIdleDelay = opts.maxIdleDelayMs ?? 4;
    this.pollsPerTurn = opts.pollsPerTurn ?? 64;
    this.turnMs = opts.turnMs ?? 1;
    const caps = this.port.caps;
    this.multiSeg = (caps.txOffloads & MbufLayout.TX_OFFLOAD_MULTI_SEGS) !== 0;
    this.gro = opts.gro ?? true;
    this.rxFast = opts.rxFastPath ?? true;

    const transmit = (m: Mbuf): void => this.transmit(m);
    this.arp = new ArpLayer({
      pool: this.pool, clock: this.clock, mac: this.mac, ip: this.localIp,
      isBroadcast: (a) => this.ip.isBroadcast(a), transmit,
    }, opts.arp);
    this.ip = new Ipv4Layer({
      pool: this.pool, clock: this.clock, addr: this.localIp, mask: this.mask, gateway: this.gateway,
      mtu: caps.mtu, txOffloads: caps.txOffloads, checksumUnneeded: caps.checksumUnneeded,
      maxTsoSize: caps.maxTsoSize, link: this.arp, eth: this.arp,
    }, opts.ipv4);
    this.counters = {
      eth: this.eth, arp: this.arp.counters, ip: this.ip.counters, reassembly: this.ip.reassembly.counters,
      icmp: this.ip.icmp.counters, udp: this.ip.udp.counters,
    };
    this.arp.announce();
    // Loopback delivery: TCP to the TcpLayer, UDP to the UDP layers (made by the socket that sent).
    const lo = this.loopback = new Loopback(this.pool, this.localIp, () => sink);
    const sink: LoopbackSink = {
      input: (m, src, dst, tos) => tcp.input(m, src, dst, tos),
      input6: (m, src, dst, tclass) => tcp.input6(m, src, dst, tclass),
      udp: (m, src, dst, tos) => udpLayerOf(this).input(m, src, dst, tos, lo.closedUdp, false),
      udp6: (m, src, dst, tclass) => {
        const h = this.udp6Host();
        if (h.ip6 === undefined) { lo.closedUdp.input(m); return; }
        udp6LayerOf(h).input(m, src as Addr6, dst as Addr6, tclass, 64, 40, lo.closedUdp);
      },
    };
    const tcp = this.tcp = new TcpLayer(this.l4Env(), opts.tcp);
    this.ip.register(IPPROTO_TCP, this.tcpInput = (m, src, dst, tos) => tcp.input(m, src, dst, tos));
    const icmpPrev = this.ip.icmp.onError;
    this.ip.icmp.onError = (type, code, src, m) => { if (icmpPrev) icmpPrev(type, code, src, m); tcp.icmpError(type, code, m); };
    this.addTicker((now) => tcp.tick(now), () => tcp.nextDeadline());
    this.addTicker(() => lo.deliver(), () => (lo.pending > 0 ? 0 : Infinity));
    this.addCloseHook(() => tcp.close());
    this.addCloseHook(() => lo.close());
    this.counters.tcp = tcp.counters as unknown as LayerCounters; // same shape: rx, tx, drops, more numbers
    this.counters.loopback = lo.counters as unknown as LayerCounters;
    this.ip6 = opts.ip6 ? attachIpv6(this, opts.ip6) : undefined;
    for (const p of opts.protocols ?? []) p(this);
  }

  /** The ICMP layer (ping API, error hooks). */
  get icmp(): IcmpLayer { return this.ip.icmp; }

  /** A `net.Server`-like TCP server on this stack (see src/tcp/server.ts). */
  createServer(optsOrListener?: TzServerOptions | ((s: TzSocket) => void), listener?: (s: TzSocket) => void): TzServer {
    return createServer(this, optsOrListener, listener);
  }

  /** Open a TCP connection, like `net.connect(port, host, [cb])`; returns a `net.Socket`-like Duplex. */
  connect(port: number | TzConnectOptions, host?: string | (() => void), cb?: () => void): TzSocket {
    return connect(this, port, host, cb);
  }

  /**
   * A UDP socket on this stack, as `dgram.createSocket`: `'udp4'` (see
   * src/udp/socket.ts) or, with IPv6 attached, `'udp6'` (src/udp/udp6.ts).
   */
  createSocket(type: 'udp4' | UdpSocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): UdpSocket;
  createSocket(type: 'udp6' | Udp6SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo6) => void): Udp6Socket;
  createSocket(type: 'udp4' | 'udp6' | UdpSocketOptions | Udp6SocketOptions,
    listener?: ((msg: Buffer, rinfo: RemoteInfo) => void) | ((msg: Buffer, rinfo: RemoteInfo6) => void)): UdpSocket | Udp6Socket {
    const t = typeof type === 'string' ? type : type.type;
    if (t === 'udp6') {
      const o = typeof type === 'string' ? {} : type as Udp6SocketOptions;
      const s = new Udp6Socket(this.udp6Host(), o);
      if (listener) s.on('message', listener);
      return s;
    }
    return createUdpSocket(this, type as 'udp4' | UdpSocketOptions, listener as (msg: Buffer, rinfo: RemoteInfo) => void);
  }

  /** What udp6 sockets use of this stack: IPv6, IPv4 for mapped traffic, the loopback. */
  private udp6Host(): Udp6Host {
    return { ip6: ipv6Of(this)?.ip6, addCloseHook: (fn) => this.addCloseHook(fn), counters: this.counters, udp4: this, loopback: this.loopback };
  }

  /** Alias of {@link connect}, as `net.createConnection`. */
  createConnection(port: number | TzConnectOptions, host?: string | (() => void), cb?: () => void): TzSocket {
    return connect(this, port, host, cb);
  }

  /**
   * What a transport protocol needs to run over this stack. TCP to our own
   * address goes to {@link loopback}, not the wire.
   */
  l4Env(): L4Env {
    const caps = this.port.caps;
    const ip = this.ip;
    const self = this.localIp;
    const lo = this.loopback;
    return {
      pool: this.pool, clock: this.clock, localIp: this.localIp, mtu: caps.mtu, txOffloads: caps.txOffloads,
      checksumUnneeded: caps.checksumUnneeded, maxTsoSize: caps.maxTsoSize,
      output: (m, dst, proto, tos) => {
        if (dst === self && proto === IPPROTO_TCP) lo.send4(m, tos);
        else ip.output(m, dst, proto, tos);
      },
      txRoom: () => this.txRoom(),
      whenTxRoom: (fn) => { this.txWaiters.push(fn); },
    };
  }

  /**
   * Frames a transport may still queue for transmit now: the batch's free
   * slots less a reserve for control frames. When the batch is full it is
   * flushed first (once per poll while the port keeps refusing), so this is
   * 0 only while the port's queue is full.
   */
  txRoom(): number {
    const limit = this.txBuf.length - this.txReserve;
    if (this.txCount >= limit && !this.txStalled) this.flushTx();
    const room = limit - this.txCount;
    return room > 0 ? room : 0;
  }

  /** Frames in the transmit batch (waiting for this poll's flush, or refused by the port). */
  get txBacklog(): number { return this.txCount; }

  /**
   * Call `fn(now)` every poll, after receive processing and before the
   * transmit flush.
   * @param nextDeadline - when the ticker next has work (stack clock ms;
   *   Infinity for none), so the idle back-off of {@link start} never sleeps
   *   past it; without it the back-off is bounded by `maxIdleDelayMs` only
   */
  addTicker(fn: (now: number) => void, nextDeadline?: () => number): void {
    this.tickers.push(fn);
    if (nextDeadline) this.deadlines.push(nextDeadline);
  }

  /** The earliest time (stack clock) a timer of any layer is due; Infinity if none. */
  nextTimerDue(): number {
    // Senders wait for transmit room: poll on, the port takes frames again soon.
    if (this.txWaiters.length > 0) return this.clock.now();
    let due = Math.min(this.arp.nextDeadline(), this.ip.reassembly.nextDeadline());
    for (const d of this.deadlines) due = Math.min(due, d());
    return due;
  }
  /** Call `fn` from {@link close}, before the stack frees what it holds. */
  addCloseHook(fn: () => void): void { this.closeHooks.push(fn); }

  /**
   * Deliver frames of `etherType` (other than IPv4 and ARP, which are built
   * in) to `fn`, which takes ownership of the mbuf (mtod at the Ethernet
   * header, its destination already checked to be us or broadcast/multicast
   * as the handler decides). One handler per ethertype.
   */
  registerEtherType(etherType: number, fn: (m: Mbuf) => void): void {
    if (etherType === EtherType.IPV4 || etherType === EtherType.ARP) {
      throw new RangeError(`ethertype 0x${etherType.toString(16)} is built in`);
    }
    if (this.etherHandlers.has(etherType)) throw new RangeError(`ethertype 0x${etherType.toString(16)} already has a handler`);
    this.etherHandlers.set(etherType, fn);
  }

  /**
   * Hand frames of ethertypes with no handler (and multicast frames of
   * them) to `fn`, which takes ownership, instead of dropping them as
   * `unknownEthertype`; `undefined` restores dropping.
   */
  setEtherFallback(fn: ((m: Mbuf) => void) | undefined): void { this.etherFallback = fn; }

  /**
   * Queue a complete Ethernet frame for transmit (flushed at the end of the
   * poll, or now when the batch is full). Takes ownership.
   */
  transmit(m: Mbuf): void {
    const pool = this.pool;
    if (this.closed) { countDrop(this.eth, 'closed'); pool.free(m); return; }
    if (!this.multiSeg && pool.nbSegs(m) > 1) {
      m = this.linearize(m);
      if (m === NO_MBUF) return;
    }
    if (this.txCount === this.txBuf.length) {
      if (!this.txStalled) this.flushTx();
      if (this.txCount === this.txBuf.length) {
        // The port has refused frames for so long the batch is full: the one
        // place a frame is lost here (TCP stopped queuing data before this).
        this.txQueue.overflowDrops++;
        pool.free(m);
        return;
      }
    }
    this.eth.tx++;
    this.txBuf[this.txCount++] = m;
  }

  /**
   * Hand the transmit batch to the port. Frames it refuses stay at the head
   * of the batch, in order, for the next flush.
   * @returns how many frames the port took
   */
  flushTx(): number {
    const n = this.txCount;
    if (n === 0) return 0;
    const k = this.port.txBurst(this.txBuf, n);
    if (k >= n) { this.txCount = 0; return n; }
    if (k > 0) this.txBuf.copyWithin(0, k, n);
    const left = n - k;
    this.txCount = left;
    this.txStalled = true;
    const q = this.txQueue;
    q.deferred += left;
    q.stalls++;
    if (left > q.maxBacklog) q.maxBacklog = left;
    return k;
  }

  /** Call what waits for transmit room (a transport's blocked senders), while there is room. */
  private wakeTxWaiters(): void {
    if (this.txRoom() <= 0) return;
    const list = this.txWaiters;
    this.txWaiters = this.txWaitersSpare;
    for (let i = 0; i < list.length; i++) list.at(i)();
    list.clear();
    this.txWaitersSpare = list;
  }

  /**
   * One iteration: receive a burst and process it, run the tickers, flush
   * the transmit batch.
   * @returns frames received plus frames sent (0 = nothing happened)
   */
  poll(): number {
    if (this.closed) return 0;
    const clock = this.clock;
    // The port's receive burst may read the wall clock itself (rxClock): the
    // poll's time is then the burst's, not a reading of its own.
    const rxc = this.rxClock;
    let n = -1;
    let now: number;
    if (rxc === null) now = clock.beginPoll();
    else {
      n = this.port.rxBurst(this.rxBuf, this.burst);
      now = clock.beginPollAt(rxc.slot[0] + rxc.offset);
    }
    this.txStalled = false;
    try {
      if (n < 0) n = this.port.rxBurst(this.rxBuf, this.burst);
      // GRO: TCP coalesces in-order segments of a flow within the burst (src/tcp/gro.ts).
      const gro = n > 1 && this.gro;
      if (gro) this.tcp.beginRxBurst();
      for (let i = 0; i < n; i++) this.receive(this.rxBuf[i] as Mbuf);
      if (gro) this.tcp.endRxBurst();
      if (this.txWaiters.length > 0) this.wakeTxWaiters();
      this.arp.tick(now);
      this.ip.tick(now);
      const t = this.tickers;
      for (let i = 0; i < t.length; i++) t[i](now);
      const sent = this.flushTx();
      // Frees the pool collects for one bulk call wait for 64 packets while
      // traffic flows; once it stops, give them back (the buffers they hold too).
      if (n === 0 && sent === 0 && this.txCount === 0) this.pool.flush();
      return n + sent;
    } finally {
      clock.endPoll();
    }
  }

  /** Process one received frame (mtod at the Ethernet header). Takes ownership. */
  receive(m: Mbuf): void {
    const pool = this.pool;
    const len = pool.pktLen(m);
    if (len < EthHdr.HDR_LEN) return this.drop(m, 'runt');
    // Ethernet, IP and the start of L4 are parsed from the first segment.
    const want = len < PULLUP_FRAME ? len : PULLUP_FRAME;
    let dl = pool.dataLen(m);
    if (dl < want) {
      if (!pullup(pool, m, want)) return this.drop(m, 'headerSplit');
      dl = pool.dataLen(m);
    }
    const p = pool.mtod(m);
    const u8 = pool.u8;
    const dv = pool.dv;
    const type = dv.getUint16(p + EthHdr.TYPE);
    // Ours (compared as two words) or broadcast; multicast other than
    // broadcast (IPv6 neighbour discovery) reaches only a registered handler
    // (or the exception path's fallback).
    const dHi = dv.getInt32(p);
    const dLo = dv.getUint16(p + 4);
    if (!(dHi === this.macHi && dLo === this.macLo) && !(dHi === -1 && dLo === 0xffff)
      && !(isMulticastMac(u8, p) && (this.etherHandlers.has(type) || (this.etherFallback !== undefined
        && type !== EtherType.IPV4 && type !== EtherType.ARP)))) return this.drop(m, 'notForUs');
    if (isMulticastMac(u8, p + EthHdr.SRC)) return this.drop(m, 'badSourceMac');
    if (type === EtherType.IPV4) {
      this.eth.rx++;
      // The receive fast path: the next segment of the flow GRO is collecting
      // goes straight into its aggregate (TcpLayer.mergeFrame), counted as IPv4 would.
      // Outside GRO, the next segment for the connection the last one went to
      // goes straight to it (TcpLayer.directFrame).
      if (this.rxFast && this.ip.handlerOf(IPPROTO_TCP) === this.tcpInput) {
        const tcp = this.tcp;
        const at = p + EthHdr.HDR_LEN;
        const ipDl = dl - EthHdr.HDR_LEN;
        const ipLen = len - EthHdr.HDR_LEN;
        if (tcp.mergeFrame(m, EthHdr.HDR_LEN, at, ipDl, ipLen) || tcp.directFrame(m, EthHdr.HDR_LEN, at, ipDl, ipLen)) {
          this.ip.counters.rx++;
          return;
        }
      }
      // IPv4 strips both headers at once.
      this.ip.inputFrame(m, EthHdr.HDR_LEN, p + EthHdr.HDR_LEN, dl - EthHdr.HDR_LEN, len - EthHdr.HDR_LEN);
    } else if (type === EtherType.ARP) {
      this.eth.rx++;
      if (this.onArpFrame !== undefined) this.onArpFrame(m);
      pool.adj(m, EthHdr.HDR_LEN);
      this.arp.input(m);
    } else {
      const h = this.etherHandlers.get(type) ?? this.etherFallback;
      if (h === undefined) return this.drop(m, 'unknownEthertype');
      this.eth.rx++;
      h(m);
    }
  }

  /**
   * Poll from Node's event loop: bursts of busy polling (up to
   * `pollsPerTurn` polls or `turnMs`), then `setImmediate` so timers and
   * I/O run; with `idleBackoff`, sleep 1, 2, 4… ms (up to `maxIdleDelayMs`)
   * after a long run of empty polls, never past the next due timer
   * ({@link nextTimerDue}).
   */
  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.idlePolls = 0;
    this.idleDelay = 0;
    this.immediate = setImmediate(this.turn);
  }

  /** Stop the poll loop (the stack keeps its state; {@link start} resumes). */
  stop(): void {
    this.running = false;
    if (this.immediate !== undefined) { clearImmediate(this.immediate); this.immediate = undefined; }
    if (this.timeout !== undefined) { clearTimeout(this.timeout); this.timeout = undefined; }
  }

  /** Whether {@link start}'s loop is running. */
  get isRunning(): boolean { return this.running; }

  private readonly turn = (): void => {
    this.immediate = undefined;
    this.timeout = undefined;
    if (!this.running) return;
    const t0 = performance.now();
    for (let i = 0; i < this.pollsPerTurn; i++) {
      if (this.poll() === 0) {
        // An empty poll right after another: nothing is flowing, yield early.
        if (++this.idlePolls % 8 === 0) break;
      } else {
        this.idlePolls = 0;
        this.idleDelay = 0;
      }
      if (!this.running || performance.now() - t0 >= this.turnMs) break;
    }
    if (!this.running) return;
    // Sleep only when idle for a while and no timer falls within the sleep.
    const wait = this.idleBackoff && this.idlePolls >= 256 ? this.nextTimerDue() - this.clock.now() : 0;
    if (wait >= 1) {
      this.idleDelay = this.idleDelay === 0 ? 1 : Math.min(this.maxIdleDelay, this.idleDelay * 2);
      this.timeout = setTimeout(this.turn, Math.min(this.idleDelay, Math.floor(wait)));
    } else {
      this.immediate = setImmediate(this.turn);
    }
  };

  /**
   * Stop, run the close hooks, free every mbuf the stack holds (ARP
   * queues, fragments, the transmit batch after a last flush) and close the
   * port. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stop();
    let error: unknown;
    for (const h of this.closeHooks) {
      try { h(); } catch (e) { error ??= e; }
    }
    this.arp.close();
    this.ip.close();
    this.txStalled = false;
    this.flushTx();
    if (this.txCount > 0) {
      // The port would not take them in time: freed, and counted.
      this.txQueue.closeDrops += this.txCount;
      this.pool.freeBulk(this.txBuf, this.txCount);
      this.txCount = 0;
    }
    this.txWaiters.clear();
    this.closed = true;
    this.port.close();
    if (error !== undefined) throw error;
  }

  /** A JSON snapshot of every counter, the port statistics and pool usage. */
  stats(): Record<string, unknown> {
    return JSON.parse(JSON.stringify({
      ...this.counters,
      port: this.port.stats,
      txQueue: { ...this.txQueue, backlog: this.txCount },
      pool: { name: this.pool.name, capacity: this.pool.capacity, inUse: this.pool.inUse() },
      arpEntries: this.arp.entries().length,
      arpQueued: this.arp.queuedPackets(),
      fragmentsPending: this.ip.reassembly.pending,
      tcpConnections: this.tcp.connectionCountsByFamily(),
      ...(this.ip6 ? {
        ndEntries: this.ip6.nd.entries().length, ndQueued: this.ip6.nd.queuedPackets(),
        fragmentsPending6: this.ip6.ip6.reassembly.pending,
      } : {}),
    })) as Record<string, unknown>;
  }

  private drop(m: Mbuf, reason: EthDropReason): void {
    countDrop(this.eth, reason);
    this.pool.free(m);
  }

  /** Copy a chain into one mbuf for a port without multi-segment transmit. */
  private linearize(m: Mbuf): Mbuf {
    const pool = this.pool;
    const len = pool.pktLen(m);
    const one = pool.alloc();
    if (one === NO_MBUF) { this.drop(m, 'cannotLinearize'); return NO_MBUF; }
    const at = pool.append(one, len);
    if (at < 0) { pool.free(one); this.drop(m, 'cannotLinearize'); return NO_MBUF; }
    pool.copyOut(m, 0, pool.u8, at, len);
    pool.setOlFlags(one, 0, pool.olFlagsHi(m) & ~(MbufLayout.OL_INDIRECT_HI | MbufLayout.OL_EXTERNAL_HI));
    pool.setTxOffload(one, pool.txOffloadLo(m) & 0x7f, (pool.txOffloadLo(m) >>> 7) & 0x1ff,
      (pool.txOffloadLo(m) >>> 16) & 0xff, pool.tsoSegsz(m));
    pool.free(m);
    return one;
  }
}
