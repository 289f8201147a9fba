/**
 * The TCP layer: demultiplexing by 4-tuple, listeners with bounded SYN and
 * accept queues, ephemeral ports, the one timer queue of all connections,
 * the bounded TIME-WAIT table and the counters. Constructible without a
 * Stack (tests and packetdrill inject and capture at layer 3 through
 * {@link TcpEnv}).
 */
import type { Seq } from './seq.js';
import { MbufLayout } from '../mbuf/layout.js';
import { DEFAULT_TCP_CONFIG, WSCALE_AUTO, WSCALE_OFF, cloneConfig, resolveConfig, wscaleFor, type TcpConfig } from './config.js';
import { TcpOptLen } from './options.js';
import { TcpState, TCP_STATE_NAMES, setState, type StateHolder, type TransitionCause } from './state.js';
import { TcpConnection, TcpError, type TcpCloseErrorCode } from './connection.js';
import { rxChecksumsSettled } from '../ip/checksum.js';
import { DOUBLE_FIELD, TcpFlag, TcpSegment, parseTcp, tcpChecksumOk, tcpParseErrorName } from './header.js';
import { TimerQueue } from './timer-queue.js';
import { ConnTable } from './demux.js';
import { IsnGenerator } from './isn.js';
import { connInput, flushDeferredAck, synSentInput } from './input.js';
import { tcbConnect, tcbFromCookie, tcbFromSyn, tcbInit } from './tcb-init.js';
import { sendRstReply, tcpOutput, type TxRoomWait } from './output.js';
import { COOKIE_MSS_TABLE, COOKIE_RECENT_MS, SynCookies, cookieMinute, cookieOffer, cookieTsEcn, cookieTsSack, cookieTsWscale, sendCookieSynAck } from './syncookie.js';
import { SipHash } from '../util/siphash.js';
import { armTimers, runTimers, stopConnTimers } from './timers.js';
import { seqAdd, seqGt } from './seq.js';
import { createCongestionControl, type CongestionControl } from './cc/cc.js';
import { newLayerLossCounters } from './loss.js';
import { GroCollector, GroResult } from './gro.js';
import { newTcpDrops, type TcpDrops, type TcpDropReason } from './drops.js';
import type { L4Env } from '../ip/transport.js';
import type { Addr6 } from '../ip/addr6.js';
import { Tcp6Pair, fold6, key6, tcpChecksumOk6, type AddrKey } from './route.js';
import { icmpError4, icmpError6, packetTooBig6 } from './pmtu.js';
import { fastOpenConnect, fastOpenPassive } from './fastopen.js';
import { TAGGED_NUMBER_FIELD } from '../util/double-field.js';
import { ReusedList } from '../util/reused-list.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

/** What the TCP layer needs from below (see {@link L4Env}). */
export type TcpEnv = L4Env;

/** Layer-wide counters (a plain JSON-able object). */
export interface TcpCounters {
  rx: number;
  tx: number;
  rxBytes: number;
  txBytes: number;
  bytesAcked: number;
  bytesQueued: number;
  /** Payload bytes copied by the copying API, write() and read() (0 on the zero-copy path). */
  bytesCopied: number;
  /** Segments dropped, by reason (every reason present, from 0). */
  drops: TcpDrops;
  activeOpens: number;
  passiveOpens: number;
  established: number;
  resetsSent: number;
  resetsReceived: number;
  resetsUnread: number;
  resetsDataAfterClose: number;
  challengeAcks: number;
  /** Challenge ACKs not sent: the connection's own limit or the layer's budget of the second. */
  challengeAcksLimited: number;
  /** SYNs that found the listener's SYN queue full (then answered with a cookie, or dropped with synCookies 'never'). */
  synQueueOverflow: number;
  /** SYN-ACKs sent with a SYN cookie instead of a SYN queue entry. */
  synCookiesSent: number;
  /** ACKs to a listener whose cookie was good: a connection made straight into the accept queue. */
  synCookiesValid: number;
  /** ACKs to a listener checked as cookies (cookies sent lately, or 'always') and refused (answered with RST). */
  synCookiesInvalid: number;
  /** Half-open entries dropped after their SYN-ACK retransmissions went unanswered. */
  synAckTimeouts: number;
  /** Segments retransmitted, by cause (each counted once, where it is sent; SYN and SYN-ACK retransmissions are RTO ones). */
  retransmitsRto: number;
  retransmitsFast: number;
  retransmitsTlp: number;
  retransmitsRack: number;
  synAckRetransmits: number;
  timeouts: number;
  keepaliveProbes: number;
  keepaliveTimeouts: number;
  zeroWindowProbes: number;
  probesSent: number;
  delayedAcks: number;
  /** Times output held new data back because the stack's transmit queue had no room. */
  txQueueFull: number;
  /** Segments for no socket handed to {@link TcpLayer.onNoSocket} (the kernel exception path). */
  noSocketHandedOff: number;
  /**
   * Options ignored inside segments that were processed (RFC 9293 §3.1): a
   * known kind with a length wrong for it, and kinds we do not know. (Options
   * that drop their segment count as `drops.badOption`.)
   */
  optionsWrongLength: number;
  optionsUnknownKind: number;
  dupAcks: number;
  dupDataSegments: number;
  oooSegments: number;
  sackBlocksSent: number;
  sackBlocksReceived: number;
  timeWaitReuse: number;
  timeWaitEvicted: number;
  listenOverflows: number;
  txNoMbuf: number;
  /** Segments handed to the NIC for TCP segmentation offload, and their payload bytes. */
  tsoSegments: number;
  tsoBytes: number;
  /** GRO: segments merged into an earlier one of their burst, and aggregates of more than one segment. */
  groMerged: number;
  groAggregates: number;
  /** Tail loss probes sent (RFC 8985). */
  tlpProbes: number;
  /** IPv6 connections whose MSS a Packet Too Big lowered (RFC 8201). */
  pmtuDecreases: number;
  /** IPv6 connections in SYN-SENT ended by an ICMPv6 Destination Unreachable. */
  icmpUnreachables: number;
  /** Window reductions undone as spurious (D-SACK or Eifel). */
  undos: number;
  /** ICMP errors quoting a segment of an open connection outside SND.UNA..SND.NXT, ignored (Linux TcpExtOutOfWindowIcmps). */
  icmpOutOfWindow: number;
  /** State changes of connections, and those RFC 9293's diagram does not have (a bug: see setState). */
  stateTransitions: number;
  illegalTransitions: number;
  /** Loss recovery summed over connections: retransmissions by cause, spurious, SACK blocks (see cc/counters.ts). */
  loss: Record<string, number>;
  [k: string]: number | Record<string, number>;
}

/** A port outside 1-65535: a RangeError (as before) carrying code EINVAL. */
function badPort(port: number): RangeError & { code: 'EINVAL' } {
  return Object.assign(new RangeError(`bad port ${port}`), { code: 'EINVAL' as const });
}

/** Number of connection states (RFC 9293 §3.3.2). */
const STATES = TcpState.TimeWait + 1;

function newCounters(): TcpCounters {
  // The byte counters pass 2^31 after 2 GB: doubles from the start (DOUBLE_FIELD), then 0.
  const c: TcpCounters = {
    rx: 0, tx: 0, rxBytes: DOUBLE_FIELD, txBytes: DOUBLE_FIELD, bytesAcked: DOUBLE_FIELD, bytesQueued: DOUBLE_FIELD,
    bytesCopied: DOUBLE_FIELD, drops: newTcpDrops(),
    stateTransitions: 0, illegalTransitions: 0,
    activeOpens: 0, passiveOpens: 0, established: 0, resetsSent: 0, resetsReceived: 0, resetsUnread: 0,
    resetsDataAfterClose: 0, challengeAcks: 0, challengeAcksLimited: 0,
    synQueueOverflow: 0, synCookiesSent: 0, synCookiesValid: 0, synCookiesInvalid: 0, synAckTimeouts: 0, retransmitsRto: 0, retransmitsFast: 0,
    retransmitsTlp: 0, retransmitsRack: 0, synAckRetransmits: 0, timeouts: 0, keepaliveProbes: 0,
    keepaliveTimeouts: 0, zeroWindowProbes: 0, probesSent: 0, delayedAcks: 0, txQueueFull: 0, noSocketHandedOff: 0, optionsWrongLength: 0, optionsUnknownKind: 0, dupAcks: 0, dupDataSegments: 0,
    oooSegments: 0, sackBlocksSent: 0, sackBlocksReceived: 0, timeWaitReuse: 0, timeWaitEvicted: 0,
    listenOverflows: 0, txNoMbuf: 0, tsoSegments: 0, tsoBytes: DOUBLE_FIELD, groMerged: 0, groAggregates: 0,
    tlpProbes: 0, pmtuDecreases: 0, icmpUnreachables: 0, undos: 0, icmpOutOfWindow: 0, loss: newLayerLossCounters(),
  };
  c.rxBytes = 0; c.txBytes = 0; c.bytesAcked = 0; c.bytesQueued = 0; c.bytesCopied = 0; c.tsoBytes = 0;
  return c;
}

/**
 * A passive open on a port, with two queues (as Linux): the SYN queue of
 * half-open connections (SYN-RECEIVED, bounded by `synBacklog`; beyond it
 * SYNs get SYN cookies or are dropped, config `synCookies`) and the accept
 * queue of established connections not yet accepted (bounded by `backlog`;
 * while it is full SYNs are dropped, and a completing ACK is dropped with
 * the half-open entry kept, so a later ACK completes it). Completed
 * connections go to {@link onConnection} instead when it is set.
 */
export class TcpListener {
  /** @internal */ readonly queue: TcpConnection[] = [];
  /** @internal half-open connections (SYN-RECEIVED) in the SYN queue */ synQueued = 0;
  /** @internal of those, the ones whose SYN-ACK was not retransmitted yet */ synYoung = 0;
  /** @internal when a SYN cookie was last sent (cookie ACKs are checked only for a while after) */ lastCookieAt = -Infinity;
  /** Bound of the SYN queue. */
  readonly synBacklog: number;
  /** Called with each newly established connection (instead of queueing it for accept()). */
  onConnection?: (c: TcpConnection) => void;
  /** @internal */ closed = false;

  /**
   * Which families it accepts: 4 (IPv4 only), 6 (IPv6 only) or 0 for both
   * (a listener on `::` without `ipv6Only`, as Node's default).
   */
  readonly family: ListenFamily;
  /** The one IPv6 address it is bound to (family 6), or null: every address of its families. */
  readonly address6: Readonly<Addr6> | null;

  /** @internal use TcpLayer.listen */
  constructor(private readonly layer: TcpLayer, readonly port: number, readonly backlog: number, /** @internal */ readonly cfg: TcpConfig,
    family: ListenFamily = 0, address6: Readonly<Addr6> | null = null) {
    this.synBacklog = cfg.synBacklog;
    this.family = family;
    this.address6 = address6 === null ? null : Uint32Array.from(address6);
  }

  /** Half-open connections in the SYN queue. */
  halfOpen(): number { return this.synQueued; }

  /** The next established connection, or null. */
  accept(): TcpConnection | null {
    const c = this.queue.shift();
    if (c === undefined) return null;
    c.inAcceptQueue = false;
    c.parent = null;
    return c;
  }

  /** Connections waiting in the accept queue. */
  pending(): number { return this.queue.length; }

  /** Stop listening; queued connections not yet accepted are reset. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.removeListener(this);
    for (const c of this.queue.splice(0)) { c.inAcceptQueue = false; c.parent = null; c.abort(); }
  }
}

/** A SYN-ACK (with FIN: the caller's case) for a connection in SYN-SENT: processed, FIN and all (RFC 9293 §3.10.7.3). */
function synAckToSynSent(c: TcpConnection | undefined, seg: TcpSegment): boolean {
  return c !== undefined && c.state === TcpState.SynSent && (seg.flags & TcpFlag.ACK) !== 0;
}

/** The families a listener accepts: 4, 6, or 0 for both. */
export type ListenFamily = 0 | 4 | 6;

/**
 * TCP for one local IPv4 address and, once IPv6 is attached (`env.ip6`),
 * every IPv6 address of the stack: the same connection code for both, IPv6
 * connections carrying their addresses in `TcpConnection.v6`.
 */
export class TcpLayer {
  readonly env: TcpEnv;
  /** The layer's configuration (per-connection overrides are copies). */
  readonly config: TcpConfig;
  readonly counters: TcpCounters = newCounters();
  /** @internal one timer queue for all connections */
  readonly timers = new TimerQueue<TcpConnection>();
  /** @internal */ readonly isn: IsnGenerator;
  private readonly seg = new TcpSegment();
  /** ports key (local<<16|remote) → remote IP → connection */
  private readonly conns = new Map<number, Map<number, TcpConnection>>();
  /** The same IPv4 connections for the receive path's lookup (conns keeps their order for connections()). */
  private readonly demux = new ConnTable<TcpConnection>();
  private nConns = 0;
  private readonly listeners = new Map<number, TcpListener>();
  /** IPv6: ports key → {@link key6} of the address pair → connection (verified against the full addresses) */
  private readonly conns6 = new Map<number, Map<number, TcpConnection>>();
  /** listeners taking IPv6 (a dual one is in both maps) */
  private readonly listeners6 = new Map<number, TcpListener>();
  /** IPv6 listeners bound to one address of ours, by port (taken before the wildcard one: the more specific) */
  private readonly listeners6At = new Map<number, TcpListener[]>();
  /** the addresses of the IPv6 segment being processed (copied from IPv6's scratch) */
  private readonly rx6 = new Tcp6Pair();
  /** rx6 while a listener processes an IPv6 segment (null otherwise and for IPv4): what a passive open takes */
  private rxV6: Tcp6Pair | null = null;
  /**
   * Offered each segment for no listener or connection (mtod at the TCP
   * header; `aggregate` when GRO merged several, whose headers then describe
   * only the first): returning true means it took the mbuf (the kernel
   * exception path), false leaves the RST to us.
   */
  onNoSocket: ((m: Mbuf, src: Ip4, dst: Ip4, aggregate: boolean) => boolean) | undefined;
  /** {@link onNoSocket} for IPv6 segments (`src`/`dst` IPv6's scratch, valid during the call). */
  onNoSocket6: ((m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>) => boolean) | undefined;
  private readonly timeWait = new Set<TcpConnection>();
  private readonly blocked = new Set<TcpConnection>();
  private readonly poolWaiters = new Set<TcpConnection>();
  /** released connections whose received bytes the app has not read yet (freed by close()/abort()/TcpLayer.close) */
  private readonly unread = new Set<TcpConnection>();
  private readonly blockedScratch = new ReusedList<TcpConnection | null>(null);
  /** @internal the connections waiting for transmit room (output.ts's, made on first use) */
  txRoomWait: TxRoomWait | null = null;
  private ephemeralNext: number;
  /** @internal SYN cookies under keys derived from the RFC 6528 secret */
  readonly cookies: SynCookies;
  /** keyed generator of the challenge-ACK budgets (unpredictable without the secret) */
  private readonly challengeRand: SipHash;
  private challengeDraws = 0;
  private challengeSecond = -1;
  private challengeBudget = 0;
  /** connections whose owed ACK waits for the end of the receive burst */
  private readonly deferredAcks = new ReusedList<TcpConnection | null>(null);
  private inBurst = false;
  private closedLayer = false;
  // The tick's time, handed to every expiring connection's runTimers: a tagged
  // field (TAGGED_NUMBER_FIELD) holds the number the poll passed as it is,
  // where a double field would box a copy for each of those calls.
  private tickNow = TAGGED_NUMBER_FIELD;
  /** @internal TOS byte of the segment being processed (ECN codepoint in bits 0-1) */
  rxTos = 0;
  /** @internal payload size of the original segments of the GRO aggregate being processed; 0 when not an aggregate */
  rxSegLen = 0;
  /** Tracing: when set, called at every state change of every connection (before it applies). */
  traceState: ((c: TcpConnection, from: TcpState, to: TcpState, why: TransitionCause) => void) | null = null;
  /** state changes by from × to */
  private readonly moves = new Uint32Array(STATES * STATES);
  private readonly expireCb = (c: TcpConnection): void => {
    if (c.inSynQueue) this.synAckTimer(c);
    else runTimers(c, this.tickNow);
  };
  /** Receive coalescing within a burst (src/tcp/gro.ts); idle unless {@link beginRxBurst} was called. */
  readonly gro: GroCollector;
  /** The same for IPv6 flows (its rows hold the 16-byte addresses). */
  readonly gro6: GroCollector;
  private groDelivering = false;
  /** The connection the last IPv4 segment was looked up to (the direct receive path's one-entry cache). */
  private lastConn: TcpConnection | null = null;
  /** Segments {@link directFrame} took (the direct receive path). */
  rxDirect = 0;

  constructor(env: TcpEnv, config?: Partial<TcpConfig>) {
    this.env = env;
    this.tickNow = 0;
    this.config = resolveConfig(DEFAULT_TCP_CONFIG, config);
    this.gro = new GroCollector(env.pool, (m, src, dst, tos, _segs, segLen) => {
      this.groDelivering = true;
      this.rxSegLen = segLen;
      try { this.input(m, src, dst, tos); } finally { this.groDelivering = false; this.rxSegLen = 0; }
    });
    this.gro6 = new GroCollector(env.pool, (m, _src, _dst, tclass, _segs, segLen) => {
      this.groDelivering = true;
      this.rxSegLen = segLen;
      try { this.input6(m, this.gro6.deliverSrc6, this.gro6.deliverDst6, tclass); } finally { this.groDelivering = false; this.rxSegLen = 0; }
    }, true);
    this.isn = new IsnGenerator(this.config.isnSecret !== undefined ? { secret: this.config.isnSecret } : undefined);
    this.cookies = new SynCookies(this.isn.derive('tzstack syncookie 0'), this.isn.derive('tzstack syncookie 1'));
    this.challengeRand = new SipHash(this.isn.derive('tzstack challenge-ack budget'));
    const span = this.config.ephemeralHigh - this.config.ephemeralLow + 1;
    this.ephemeralNext = this.config.ephemeralLow + ((this.isn.offset(env.localIp, 0, 0 as AddrKey, 0) >>> 0) % span);
  }

  /** Current time from the environment clock (ms). */
  get now(): number { return this.env.clock.now(); }

  // ==================== packets ====================

  /**
   * A TCP segment from IP: mtod at the TCP header, pkt_len the L4 length.
   * Takes ownership of `m`.
   */
  input(m: Mbuf, src: Ip4, dst: Ip4, tos: number): void {
    const pool = this.env.pool;
    this.rxTos = tos;
    const now = this.env.clock.now();
    const aggregate = this.groDelivering; // a GRO aggregate: counted and checked segment by segment already
    if (!aggregate) this.counters.rx++;
    if (this.closedLayer) { pool.free(m); this.drop('layerClosed'); return; }
    // Checksum: the NIC's verdict when it gave one, else ours unless the link is trusted.
    const rxf = pool.olFlagsLo(m) & MbufLayout.OL_RX_L4_CKSUM_MASK_LO;
    if (!aggregate && rxf === MbufLayout.OL_RX_L4_CKSUM_BAD_LO) { pool.free(m); this.drop('badChecksum'); return; }
    if (!aggregate && rxf !== MbufLayout.OL_RX_L4_CKSUM_GOOD_LO && !this.env.checksumUnneeded && !tcpChecksumOk(pool, m, src, dst)) {
      pool.free(m); this.drop('badChecksum'); return;
    }
    // The next segment of the flow GRO is collecting merges without a parse.
    if (!aggregate && this.gro.held > 0 && this.gro.active && this.gro.mergeNext(m, src, dst, tos)) return;
    const seg = this.seg;
    const err = parseTcp(pool, m, seg);
    if (err !== 0) { pool.free(m); this.drop(tcpParseErrorName(err)); return; }
    if (this.gro.active && !aggregate) {
      const r = this.gro.offer(m, seg, src, dst, tos);
      if (r === GroResult.Held) return;
      if (r === GroResult.PassAfterFlush) { this.rxTos = tos; parseTcp(pool, m, seg); }
    }
    if (seg.dstPort === 0 || seg.srcPort === 0) { pool.free(m); this.drop('portZero'); return; }
    // Senseless combinations (as Linux/BSD): SYN with RST or FIN is never legitimate.
    if ((seg.flags & (TcpFlag.SYN | TcpFlag.RST)) === (TcpFlag.SYN | TcpFlag.RST)) { pool.free(m); this.drop('synRst'); return; }
    // dropSynFin off (FreeBSD drop_synfin=0): a socket handles it as the SYN it starts with, the
    // FIN ignored; a closed port's RST still acknowledges the FIN too (FreeBSD tcp_dropwithreset).
    const synFin = (seg.flags & (TcpFlag.SYN | TcpFlag.FIN)) === (TcpFlag.SYN | TcpFlag.FIN);
    const c = this.lookup(seg.dstPort, seg.srcPort, src);
    // (Except a SYN-ACK with FIN for a connection in SYN-SENT, which Linux takes too.)
    if (synFin && this.config.dropSynFin && !synAckToSynSent(c, seg)) { pool.free(m); this.drop('synFin'); return; }
    if (c !== undefined) this.lastConn = c;
    if (c !== undefined
      && this.toConnection(c, c.state === TcpState.TimeWait ? this.listeners.get(seg.dstPort) : undefined, seg, m, synFin, now)) return;
    const l = this.listeners.get(seg.dstPort);
    if (l !== undefined) { if (synFin) seg.flags &= ~TcpFlag.FIN; this.listenInput(l, seg, m, src, dst, now); return; }
    // An exception path may take it to the kernel instead of our RST.
    if (this.onNoSocket !== undefined && this.onNoSocket(m, src, dst, this.groDelivering)) { this.counters.noSocketHandedOff++; return; }
    pool.free(m);
    this.drop('noSocket');
    sendRstReply(this, seg, dst, src);
  }

  /**
   * The receive fast path (src/tcp/gro.ts mergeFrame): a whole
   * frame (mtod at its `l2`-byte link header, its IPv4 header at `p`, `dl`
   * and `len` bytes from there in the first segment and in the packet) that
   * continues the newest GRO aggregate of this burst exactly is merged into
   * it without IPv4 input or the TCP parse, and counted here as {@link input}
   * counts it; the caller counts it for the layers below. Only for the layer
   * the IPv4 layer hands TCP to.
   * @returns false (m untouched) for everything else, which takes the normal path
   */
  mergeFrame(m: Mbuf, l2: number, p: number, dl: number, len: number): boolean {
    const gro = this.gro;
    if (!gro.active || this.closedLayer || !gro.mergeFrame(m, l2, p, dl, len, this.env.checksumUnneeded)) return false;
    this.counters.rx++;
    this.rxTos = this.env.pool.u8[p + 1];
    return true;
  }

  /**
   * The direct receive path: outside GRO (a burst of one frame,
   * or GRO off), a whole frame (as for {@link mergeFrame}) for the
   * ESTABLISHED connection the last segment went to, with the common header
   * layout — IPv4 header of 20 bytes, total length the packet's, no
   * fragment bits, TTL not 0, protocol TCP, from the connection's peer to
   * its local address, checksums settled as IPv4 and TCP input would;
   * flags ACK or ACK+PSH, no options or exactly NOP NOP TS — is stripped of
   * the IPv4 and TCP headers, described in the layer's TcpSegment as
   * parseTcp would describe it (but payOff 0), counted as IPv4 and {@link input} count it (the caller
   * counts Ethernet and IPv4 rx) and handed to the connection without IPv4
   * input, the parse or the demultiplexing lookup.
   * @returns false (m untouched) for everything else, which takes the normal path
   */
  directFrame(m: Mbuf, l2: number, p: number, dl: number, len: number): boolean {
    const c = this.lastConn;
    if (c === null || c.state !== TcpState.Established || this.gro.active || this.closedLayer) return false;
    if (dl < 40 || len > 0xffff) return false;
    const env = this.env;
    const pool = env.pool;
    const dv = pool.dv;
    const w0 = dv.getInt32(p);
    // Version 4, IHL 5 (any TOS), total length == the packet's.
    if ((w0 & 0xff00ffff) !== ((0x45 << 24) | len)) return false;
    const w2 = dv.getInt32(p + 8);
    if ((dv.getUint16(p + 6) & 0x3fff) !== 0 || (w2 & 0x00ff0000) !== (6 << 16) || (w2 >>> 24) === 0) return false;
    const w3 = dv.getInt32(p + 12);
    const w4 = dv.getInt32(p + 16);
    if (w3 !== (c.remoteIp | 0) || w4 !== (c.localIp | 0)) return false;
    const t = p + 20;
    if (dv.getInt32(t) !== ((c.remotePort << 16) | c.localPort)) return false;
    const u8 = pool.u8;
    const flags = u8[t + 13];
    if ((flags & ~TcpFlag.PSH) !== TcpFlag.ACK) return false;
    const hdrLen = (u8[t + 12] >>> 4) << 2;
    const ts = hdrLen === 32 && dv.getInt32(t + 20) === 0x0101080a; // NOP NOP TS 10, parseTcp's fast layout
    if (!ts && hdrLen !== 20) return false;
    if (dl < 20 + hdrLen) return false;
    if (!rxChecksumsSettled(pool, m, p, w0, w2, w3, w4, env.checksumUnneeded)) return false;
    // As Ipv4Layer.deliverAt, both headers stripped from the lengths known,
    // and the TCP header with them (seg.payOff 0): connInput has nothing to trim.
    const tcpLen = len - 20;
    pool.setDataOff(m, pool.dataOff(m) + l2 + 20 + hdrLen);
    pool.setDataLen(m, dl - 20 - hdrLen);
    pool.setPktLen(m, tcpLen - hdrLen);
    this.counters.rx++;
    this.rxDirect++;
    this.rxTos = (w0 >>> 16) & 0xff;
    // As parseTcp.
    const seg = this.seg;
    seg.srcPort = c.remotePort;
    seg.dstPort = c.localPort;
    seg.seq = dv.getUint32(t + 4) as Seq;
    seg.ack = dv.getUint32(t + 8) as Seq;
    seg.flags = flags;
    seg.window = dv.getUint16(t + 14);
    seg.urgent = dv.getUint16(t + 18);
    seg.hdrLen = hdrLen;
    seg.payOff = 0;
    seg.payloadLen = tcpLen - hdrLen;
    seg.resetOptions();
    if (ts) {
      seg.hasTimestamps = true;
      seg.tsVal = dv.getUint32(t + 24);
      seg.tsEcr = dv.getUint32(t + 28);
    }
    connInput(c, seg, m, env.clock.now());
    return true;
  }

  /** LISTEN (RFC 9293 §3.10.7.2), SYN queue and SYN cookies (RFC 4987 §3.6). */
  /**
   * A segment for a 4-tuple we hold, either family. A new SYN on one in
   * TIME-WAIT that listener `l` (looked up by the caller only then) would
   * take ends the TIME-WAIT instead (RFC 6191 when timestamps prove the SYN
   * new, RFC 1122 §4.2.2.13 by sequence otherwise).
   * @returns false when the TIME-WAIT was ended: the caller goes on as for no connection
   */
  private toConnection(c: TcpConnection, l: TcpListener | undefined, seg: TcpSegment, m: Mbuf, synFin: boolean, now: number): boolean {
    if (l !== undefined && (seg.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN
      && (c.tsOk ? (seg.hasTimestamps && seqGt(seg.tsVal, c.tsRecent)) : seqGt(seg.seq, c.rcvNxt))) {
      this.counters.timeWaitReuse++;
      this.release(c, undefined);
      return false;
    }
    // A SYN-ACK's FIN in SYN-SENT counts (RFC 9293 §3.10.7.3 goes on to the FIN step): CLOSE-WAIT.
    if (synFin && !(c.state === TcpState.SynSent && (seg.flags & TcpFlag.ACK) !== 0)) seg.flags &= ~TcpFlag.FIN;
    if (c.state === TcpState.SynSent) synSentInput(c, seg, m, now);
    else connInput(c, seg, m, now);
    return true;
  }

  private listenInput(l: TcpListener, seg: TcpSegment, m: Mbuf, src: AddrKey, dst: AddrKey, now: number): void {
    const pool = this.env.pool;
    const flags = seg.flags;
    const cfg = l.cfg;
    if (flags & TcpFlag.RST) { pool.free(m); this.drop('rstToListener'); return; }
    if (flags & TcpFlag.ACK) {
      // An ACK with no half-open entry: the third segment of a cookie handshake?
      const check = !(flags & TcpFlag.SYN)
        && (cfg.synCookies === 'always' || (cfg.synCookies === 'auto' && now - l.lastCookieAt < COOKIE_RECENT_MS));
      if (check && this.cookieAck(l, seg, m, src, dst, now)) return;
      pool.free(m);
      this.drop('ackToListener');
      sendRstReply(this, seg, dst, src, this.rxV6);
      return;
    }
    if (!(flags & TcpFlag.SYN)) { pool.free(m); this.drop('noSynToListener'); return; }
    // A full accept queue refuses SYNs whatever the SYN queue holds (Linux sk_acceptq_is_full).
    if (l.onConnection === undefined && l.queue.length >= l.backlog) {
      pool.free(m);
      this.counters.listenOverflows++;
      this.drop('listenOverflow');
      return;
    }
    const mode = cfg.synCookies;
    if (mode === 'always' || l.synQueued >= l.synBacklog) {
      pool.free(m);
      if (mode !== 'always') this.counters.synQueueOverflow++;
      if (mode === 'never') { this.counters.listenOverflows++; this.drop('listenOverflow'); return; }
      this.sendCookie(l, seg, src, dst, now);
      return;
    }
    const c = new TcpConnection(this, cloneConfig(cfg), dst, seg.dstPort, src, seg.srcPort, this.passivePair(seg));
    this.initConn(c, now);
    c.parent = l;
    c.inSynQueue = true;
    c.synYoung = true;
    l.synQueued++;
    l.synYoung++;
    c.cfg.synRetries = cfg.synAckRetries; // what timers.ts counts against; lowered under pressure (synAckTimer)
    tcbFromSyn(c, seg, now); // options, the peer's ISN and window, SYN-RECEIVED
    this.insert(c);
    this.counters.passiveOpens++;
    fastOpenPassive(c, l, seg, m, now); // RFC 7413 cookie check and SYN data (src/tcp/fastopen.ts); frees m
    tcpOutput(c, now);
    armTimers(c);
  }

  /** Our MSS and window shift for a listener's connections (as {@link initConn}); over IPv6 (`v6`) mtu − 60, by the path MTU. */
  private advMssOf(cfg: TcpConfig, v6: Tcp6Pair | null = null): number {
    if (v6 === null) return cfg.mss ?? Math.max(64, this.env.mtu - 40);
    const mtu = this.env.ip6 !== undefined ? this.env.ip6.pathMtu(v6.remote) : this.env.mtu;
    return cfg.mss ?? Math.max(64, mtu - 60);
  }

  /** The address pair of a passive open from the segment being processed: a copy of rx6 with its flow label, or null (IPv4). */
  private passivePair(seg: TcpSegment): Tcp6Pair | null {
    const rx = this.rxV6;
    if (rx === null) return null;
    const p = new Tcp6Pair().set(rx.local, rx.remote);
    p.flowLabel = this.isn.flowLabel6(rx.local, seg.dstPort, rx.remote, seg.srcPort);
    return p;
  }
  private rcvWscaleOf(cfg: TcpConfig): number {
    return cfg.wscale >= 0 ? Math.min(TcpOptLen.MAX_WSCALE, cfg.wscale) : cfg.wscale === WSCALE_AUTO ? wscaleFor(cfg.rcvBuf) : 0;
  }

  /** Answer a SYN with a cookie SYN-ACK, keeping no state. */
  private sendCookie(l: TcpListener, seg: TcpSegment, src: AddrKey, dst: AddrKey, now: number): void {
    const cfg = l.cfg;
    const v6 = this.rxV6;
    const o = cookieOffer(this.cookies, cfg, seg, dst, src, now, v6);
    const off = v6 === null ? this.isn.offset(dst, 0, src, 0) : this.isn.offset6(v6.local, 0, v6.remote, 0);
    const ts = o.ts ? (Math.floor(now) + off) >>> 0 : 0; // as tsNow() of the connection-to-be
    if (v6 !== null && v6.flowLabel === 0) v6.flowLabel = this.isn.flowLabel6(v6.local, seg.dstPort, v6.remote, seg.srcPort);
    if (!sendCookieSynAck(this.env, seg, dst, src, o, this.advMssOf(cfg, v6), this.rcvWscaleOf(cfg), cfg.rcvBuf, ts, v6)) {
      this.counters.txNoMbuf++;
      return;
    }
    this.counters.tx++;
    this.counters.synCookiesSent++;
    l.lastCookieAt = now;
  }

  /**
   * An ACK for a listener without a half-open entry: if `SEG.ACK − 1` is a
   * cookie of ours, create the connection (ESTABLISHED, into the accept
   * queue) and process the segment on it (it may carry data).
   * @returns false when it is no cookie of ours (`m` is still the caller's)
   */
  private cookieAck(l: TcpListener, seg: TcpSegment, m: Mbuf, src: AddrKey, dst: AddrKey, now: number): boolean {
    const v6 = this.rxV6;
    const idx = v6 === null ? this.cookies.check(dst, seg.dstPort, src, seg.srcPort, seqAdd(seg.seq, -1), seqAdd(seg.ack, -1), cookieMinute(now))
      : this.cookies.check6(v6.local, seg.dstPort, v6.remote, seg.srcPort, seqAdd(seg.seq, -1), seqAdd(seg.ack, -1), cookieMinute(now));
    if (idx < 0) { this.counters.synCookiesInvalid++; return false; }
    if (l.onConnection === undefined && l.queue.length >= l.backlog) {
      // Linux drops it too: the peer's next segment (it believes the handshake done) retries.
      this.env.pool.free(m);
      this.counters.listenOverflows++;
      this.drop('acceptQueueFull');
      return true;
    }
    this.counters.synCookiesValid++;
    const cfg = l.cfg;
    const c = new TcpConnection(this, cloneConfig(cfg), dst, seg.dstPort, src, seg.srcPort, this.passivePair(seg));
    // The cookie is our ISN + 1: no new ISN to draw (tcbFromCookie sets the sequence spaces from it).
    this.initConn(c, now, seqAdd(seg.ack, -1));
    c.parent = l;
    // What the SYN offered comes back in the echoed timestamp (none without timestamps).
    const ts = cfg.timestamps && seg.hasTimestamps;
    const ecr = seg.tsEcr;
    const ws = ts && cfg.wscale > WSCALE_OFF ? cookieTsWscale(ecr) : -1;
    tcbFromCookie(c, seg, ts && cfg.sack && cookieTsSack(ecr), ts, ws, COOKIE_MSS_TABLE[idx], ts && cfg.ecn && cookieTsEcn(ecr),
      Math.min(cfg.rcvBuf, 0xffff) /* what the SYN-ACK offered */, now);
    this.insert(c);
    this.counters.passiveOpens++;
    connInput(c, seg, m, now);
    return true;
  }

  /**
   * The timer of a half-open entry: as Linux's reqsk_timer_handler, when the
   * SYN queue is more than half full and mostly of entries already
   * retransmitted (peers that never answer), each gets fewer SYN-ACK
   * retransmissions, down to 2, so a flood's entries leave within seconds.
   * Unlike Linux an entry never gets retries back: once the first of a
   * flood's entries leave, the queue is no longer half full, and the rest
   * would otherwise stay their full minute.
   */
  private synAckTimer(c: TcpConnection): void {
    const l = c.parent!;
    let max = c.cfg.synRetries;
    const qlen = l.synQueued;
    if ((qlen << 1) > Math.max(8, l.synBacklog)) {
      let young = l.synYoung << 1;
      while (max > 2) {
        if (qlen < young) break;
        max--;
        young <<= 1;
      }
    }
    c.cfg.synRetries = max;
    runTimers(c, this.tickNow);
    if (c.state === TcpState.Closed) { this.counters.synAckTimeouts++; return; }
    if (c.synYoung && c.retries > 0) { c.synYoung = false; l.synYoung--; }
  }

  /** Sequence numbers, MSS and window shift of a new connection (`iss` when it is known already: a SYN cookie's). */
  private initConn(c: TcpConnection, now: number, known: Seq | -1 = -1): void {
    const cfg = c.cfg;
    const v6 = c.v6;
    const iss = known !== -1 ? known : v6 === null ? this.isn.next(c.localIp, c.localPort, c.remoteIp, c.remotePort, now)
      : this.isn.next6(v6.local, c.localPort, v6.remote, c.remotePort, now);
    // Per address pair, as Linux: TSvals stay monotonic across incarnations (RFC 6191 reuse).
    const tsOffset = v6 === null ? this.isn.offset(c.localIp, 0, c.remoteIp, 0) : this.isn.offset6(v6.local, 0, v6.remote, 0);
    tcbInit(c, now, this.advMssOf(cfg, v6), this.rcvWscaleOf(cfg), iss, tsOffset);
  }

  // ==================== IPv6 ====================

  /**
   * A TCP segment from IPv6 (an {@link Ip6Handler} for next header 6): mtod
   * at the TCP header, pkt_len the L4 length; `src`/`dst` are IPv6's
   * scratch (copied here). The same processing as {@link input} but for
   * the pseudo-header, the demux by address pair and no GRO (IPv4 only);
   * segments for no socket are offered to {@link onNoSocket6}. Takes ownership of `m`.
   */
  input6(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, tclass: number): void {
    const pool = this.env.pool;
    this.rxTos = tclass;
    const now = this.env.clock.now();
    const aggregate = this.groDelivering; // a GRO aggregate: counted and checked segment by segment already
    if (!aggregate) this.counters.rx++;
    if (this.closedLayer) { pool.free(m); this.drop('layerClosed'); return; }
    const rxf = pool.olFlagsLo(m) & MbufLayout.OL_RX_L4_CKSUM_MASK_LO;
    if (!aggregate && rxf === MbufLayout.OL_RX_L4_CKSUM_BAD_LO) { pool.free(m); this.drop('badChecksum'); return; }
    if (!aggregate && rxf !== MbufLayout.OL_RX_L4_CKSUM_GOOD_LO && !this.env.checksumUnneeded && !tcpChecksumOk6(pool, m, src, dst)) {
      pool.free(m); this.drop('badChecksum'); return;
    }
    const seg = this.seg;
    const err = parseTcp(pool, m, seg);
    if (err !== 0) { pool.free(m); this.drop(tcpParseErrorName(err)); return; }
    if (this.gro6.active && !aggregate) {
      const r = this.gro6.offer6(m, seg, src, dst, tclass);
      if (r === GroResult.Held) return;
      if (r === GroResult.PassAfterFlush) { this.rxTos = tclass; parseTcp(pool, m, seg); }
    }
    if (seg.dstPort === 0 || seg.srcPort === 0) { pool.free(m); this.drop('portZero'); return; }
    if ((seg.flags & (TcpFlag.SYN | TcpFlag.RST)) === (TcpFlag.SYN | TcpFlag.RST)) { pool.free(m); this.drop('synRst'); return; }
    const synFin = (seg.flags & (TcpFlag.SYN | TcpFlag.FIN)) === (TcpFlag.SYN | TcpFlag.FIN);
    const rx = this.rx6.set(dst, src);
    const c = this.lookup6(seg.dstPort, seg.srcPort, rx.local, rx.remote, rx.key);
    if (synFin && this.config.dropSynFin && !synAckToSynSent(c, seg)) { pool.free(m); this.drop('synFin'); return; }
    if (c !== undefined
      && this.toConnection(c, c.state === TcpState.TimeWait ? this.listener6(seg.dstPort, dst) : undefined, seg, m, synFin, now)) return;
    const l = this.listener6(seg.dstPort, dst);
    const s32 = fold6(src);
    const d32 = fold6(dst);
    if (l !== undefined) {
      if (synFin) seg.flags &= ~TcpFlag.FIN;
      this.rxV6 = rx;
      try { this.listenInput(l, seg, m, s32, d32, now); } finally { this.rxV6 = null; }
      return;
    }
    if (this.onNoSocket6 !== undefined && this.onNoSocket6(m, src, dst)) { this.counters.noSocketHandedOff++; return; }
    pool.free(m);
    this.drop('noSocket');
    sendRstReply(this, seg, d32, s32, rx);
  }

  /** The listener for IPv6 segments to `dst`:`port`: one bound to `dst`, else the wildcard one. */
  private listener6(port: number, dst: Readonly<Addr6>): TcpListener | undefined {
    const at = this.listeners6At.get(port);
    if (at !== undefined) {
      for (let i = 0; i < at.length; i++) {
        const a = at[i].address6!;
        if (a[0] === dst[0] && a[1] === dst[1] && a[2] === dst[2] && a[3] === dst[3]) return at[i];
      }
    }
    return this.listeners6.get(port);
  }

  private lookup6(localPort: number, remotePort: number, local: Readonly<Addr6>, remote: Readonly<Addr6>, key: number): TcpConnection | undefined {
    const inner = this.conns6.get((localPort << 16) | remotePort);
    if (inner === undefined) return undefined;
    const c = inner.get(key);
    // The key is a fold: the full addresses decide (another pair may share it).
    return c !== undefined && c.v6!.is(local, remote) ? c : undefined;
  }

  private insert6(c: TcpConnection, p: Tcp6Pair): void {
    let inner = this.conns6.get(c.portsKey);
    if (inner === undefined) { inner = new Map(); this.conns6.set(c.portsKey, inner); }
    inner.set(p.key, c);
    this.nConns++;
  }

  private unlink6(c: TcpConnection, p: Tcp6Pair): void {
    const inner = this.conns6.get(c.portsKey);
    if (inner !== undefined && inner.get(p.key) === c) {
      inner.delete(p.key);
      if (inner.size === 0) this.conns6.delete(c.portsKey);
      this.nConns--;
    }
  }

  /**
   * Whether a connection on these ports would collide in the IPv6 table:
   * the same pair in use, or another pair with the same key (refused
   * rather than chained; vanishingly rare for real addresses).
   */
  private taken6(localPort: number, remotePort: number, key: number): TcpConnection | undefined {
    return this.conns6.get((localPort << 16) | remotePort)?.get(key);
  }

  /**
   * Open a connection to an IPv6 peer (SYN now), from the source address
   * IPv6 selects for it (RFC 6724) unless `localAddress` is given.
   * @throws TcpError with code EADDRNOTAVAIL when the stack has no IPv6 or
   *   no usable source address, or no ephemeral port is free; the others as {@link connect}
   */
  connect6(remote: Readonly<Addr6>, remotePort: number, opts?: { localPort?: number; localAddress?: Readonly<Addr6>; earlyData?: Uint8Array } & Partial<TcpConfig>): TcpConnection {
    if (this.closedLayer) throw new TcpError('ENETDOWN', 'TCP layer closed');
    if (!(remotePort > 0 && remotePort < 65536)) throw badPort(remotePort);
    const ip6 = this.env.ip6;
    if (ip6 === undefined) throw new TcpError('EADDRNOTAVAIL', 'EADDRNOTAVAIL: this stack has no IPv6');
    const local = opts?.localAddress ?? ip6.selectSource(remote);
    if (local === undefined || !ip6.isLocal(local)) throw new TcpError('EADDRNOTAVAIL', 'EADDRNOTAVAIL: no IPv6 source address for this destination');
    const pair = new Tcp6Pair().set(local, remote);
    let localPort = opts?.localPort ?? 0;
    if (localPort !== 0) {
      const old = this.taken6(localPort, remotePort, pair.key);
      if (old !== undefined) {
        if (old.state === TcpState.TimeWait && old.v6!.is(local, remote)) this.release(old, undefined);
        else throw new TcpError('EADDRINUSE', `EADDRINUSE: ${localPort} → ${remotePort} in use`);
      }
    } else {
      localPort = this.ephemeralPort6(pair.key, remotePort);
    }
    pair.flowLabel = this.isn.flowLabel6(local, localPort, remote, remotePort);
    const now = this.env.clock.now();
    const { localAddress: _a, earlyData, ...rest } = opts ?? {};
    const cfg = resolveConfig(this.config, opts === undefined ? undefined : rest);
    return this.openActive(new TcpConnection(this, cfg, 0 as AddrKey, localPort, 0 as AddrKey, remotePort, pair), now, earlyData);
  }

  private ephemeralPort6(key: number, remotePort: number): number {
    const lo = this.config.ephemeralLow;
    const span = this.config.ephemeralHigh - lo + 1;
    for (let i = 0; i < span; i++) {
      const p = this.ephemeralNext;
      this.ephemeralNext = p >= this.config.ephemeralHigh ? lo : p + 1;
      if (this.listeners.has(p) || this.listeners6.has(p) || this.listeners6At.has(p)) continue;
      if (this.taken6(p, remotePort, key) === undefined) return p;
    }
    throw new TcpError('EADDRNOTAVAIL', 'EADDRNOTAVAIL: no free ephemeral port');
  }

  /** Whether IPv6 is attached below (`env.ip6`): listeners on `::` then take both families. */
  get hasIpv6(): boolean { return this.env.ip6 !== undefined; }

  /** Whether `a` is one of our usable IPv6 addresses. */
  isLocal6(a: Readonly<Addr6>): boolean { return this.env.ip6 !== undefined && this.env.ip6.isLocal(a); }

  /**
   * @internal the IPv6 connection of a quoted segment (for ICMPv6 errors):
   * we sent it from `local` port `localPort` to `remote` port `remotePort`
   */
  find6(local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number): TcpConnection | undefined {
    return this.lookup6(localPort, remotePort, local, remote, key6(local, remote));
  }

  /**
   * An ICMPv6 Packet Too Big (Icmp6Layer.onPacketTooBig): the connection
   * of the quoted segment lowers its MSS (RFC 8201 §5.2, src/tcp/pmtu.ts).
   */
  packetTooBig(mtu: number, m: Mbuf): void { packetTooBig6(this, mtu, m); }

  /**
   * An ICMPv6 error (Icmp6Layer.onError; `m` at its header, freed by the
   * caller): hard errors end a connection still opening (src/tcp/pmtu.ts
   * icmpError6).
   */
  icmp6Error(type: number, code: number, m: Mbuf): void { icmpError6(this, type, code, m); }

  /** The IPv4 connection a segment we sent belongs to: from `local` port `localPort` to `remote` port `remotePort`. */
  find4(local: Ip4, localPort: number, remote: Ip4, remotePort: number): TcpConnection | undefined {
    const c = this.lookup(localPort, remotePort, remote);
    return c !== undefined && c.localIp === (local >>> 0) ? c : undefined;
  }

  /**
   * An ICMP error (IcmpLayer.onError; `m` at its header, freed by the
   * caller): path MTU and unreachables while opening (src/tcp/pmtu.ts icmpError4).
   */
  icmpError(type: number, code: number, m: Mbuf): void { icmpError4(this, type, code, m); }

  // ==================== timers ====================

  /**
   * A receive burst begins: until {@link endRxBurst}, in-order data segments
   * of a flow are coalesced (GRO) and processed together.
   */
  beginRxBurst(): void {
    if (this.closedLayer) return;
    this.gro.begin();
    this.gro6.begin();
    this.inBurst = true;
  }

  /** The receive burst ended: process what GRO collected, then send the ACKs no reply carried. */
  endRxBurst(): void {
    this.inBurst = false;
    const g4 = this.gro.active || this.gro.held > 0;
    const g6 = this.gro6.active || this.gro6.held > 0;
    if (g4) this.gro.flush();
    if (g6) this.gro6.flush();
    if (g4 || g6) {
      this.counters.groMerged = this.gro.merged + this.gro6.merged;
      this.counters.groAggregates = this.gro.aggregates + this.gro6.aggregates;
    }
    if (this.deferredAcks.length > 0) this.flushDeferredAcks();
  }

  /** @internal the ACK `c` owes waits for the end of the receive burst (false: not in a burst, send it now) */
  deferAck(c: TcpConnection): boolean {
    if (!this.inBurst) return false;
    this.deferredAcks.push(c);
    return true;
  }

  private flushDeferredAcks(): void {
    const list = this.deferredAcks;
    const now = this.env.clock.now();
    for (let i = 0; i < list.length; i++) flushDeferredAck(list.at(i)!, now);
    list.clear();
  }

  /** Run expired timers and retry output that found the pool empty. */
  tick(now: number): void {
    this.tickNow = now;
    // The parser counts on the one segment record it reuses; publish once a poll.
    const oe = this.seg.optionErrors;
    this.counters.optionsWrongLength = oe.wrongLength;
    this.counters.optionsUnknownKind = oe.unknownKind;
    if (this.deferredAcks.length > 0 && !this.inBurst) this.flushDeferredAcks();
    if (this.poolWaiters.size > 0) this.wakePoolWaiters();
    if (this.timers.dueBy(now)) this.timers.expire(now, this.expireCb);
    if (this.blocked.size > 0) {
      // Snapshot first: a connection still short of mbufs re-adds itself.
      const list = this.blockedScratch;
      for (const c of this.blocked) list.push(c);
      this.blocked.clear();
      for (let i = 0; i < list.length; i++) {
        const c = list.at(i)!;
        if (c.state !== TcpState.Closed) { tcpOutput(c, now); armTimers(c); }
      }
      list.clear();
    }
  }

  /**
   * The earliest timer deadline (Infinity when none; 0 while output waits
   * for mbufs): lets a simulation jump the clock and an idle loop sleep.
   */
  nextDeadline(): number { return this.blocked.size > 0 ? 0 : this.timers.nextDeadline(); }

  // ==================== application ====================

  /**
   * Listen on `port`: IPv4 (`family` 4), IPv6 (6) or both (0); with
   * `address6` (family 6) on that one IPv6 address of ours only. Conflicts
   * as Linux's bind for listening sockets (SO_REUSEADDR does not let two
   * listeners share an address): a wildcard listener and any other of its
   * family on the port conflict; listeners on two different IPv6 addresses
   * do not; a dual listener conflicts with every other. `{ fastOpen: n }`
   * accepts TCP Fast Open (RFC 7413) with at most n such connections not
   * yet established (TcpConfig.fastOpen).
   * @throws TcpError with code EADDRINUSE when the port already has a listener,
   *   EINVAL (also a RangeError) for a port outside 1-65535
   */
  listen(port: number, opts?: { backlog?: number; family?: ListenFamily; address6?: Readonly<Addr6> } & Partial<TcpConfig>): TcpListener {
    if (!(port > 0 && port < 65536)) throw badPort(port);
    const family = opts?.family ?? 0;
    const a6 = family === 6 ? opts?.address6 ?? null : null;
    const at = this.listeners6At.get(port);
    const v6Taken = family !== 4 && (this.listeners6.has(port)
      || (at !== undefined && (a6 === null || at.some((o) => o.address6!.every((w, i) => w === a6[i])))));
    if ((family !== 6 && this.listeners.has(port)) || v6Taken) {
      throw new TcpError('EADDRINUSE', `EADDRINUSE: port ${port} already has a listener`);
    }
    const { family: _f, address6: _a, ...rest } = opts ?? {};
    const cfg = resolveConfig(this.config, opts === undefined ? undefined : rest);
    const l = new TcpListener(this, port, opts?.backlog ?? cfg.backlog, cfg, family, a6);
    if (family !== 6) this.listeners.set(port, l);
    if (a6 !== null) this.listeners6At.set(port, [...(at ?? []), l]);
    else if (family !== 4) this.listeners6.set(port, l);
    return l;
  }

  /**
   * Open a connection (SYN now). Events arrive through the connection's callbacks.
   * `earlyData` is queued as by a write() before the SYN leaves: with
   * `fastOpenClient` it rides on the SYN once the server gave a Fast Open
   * cookie (RFC 7413; the first connection asks for one), otherwise it is
   * sent after the handshake. Check `fastOpenCounters` / tcp_info for what the SYN carried.
   * @throws TcpError with code EADDRNOTAVAIL when no ephemeral port is free,
   *   EADDRINUSE when the 4-tuple is in use, ENETDOWN once the layer is closed,
   *   EINVAL (also a RangeError) for a port outside 1-65535
   */
  connect(remoteIp: Ip4, remotePort: number, opts?: { localPort?: number; earlyData?: Uint8Array } & Partial<TcpConfig>): TcpConnection {
    if (this.closedLayer) throw new TcpError('ENETDOWN', 'TCP layer closed');
    if (!(remotePort > 0 && remotePort < 65536)) throw badPort(remotePort);
    remoteIp = (remoteIp >>> 0) as Ip4;
    let localPort = opts?.localPort ?? 0;
    if (localPort !== 0) {
      const old = this.lookup(localPort, remotePort, remoteIp);
      if (old !== undefined) {
        if (old.state === TcpState.TimeWait) this.release(old, undefined);
        else throw new TcpError('EADDRINUSE', `EADDRINUSE: ${localPort} → ${remotePort} in use`);
      }
    } else {
      localPort = this.ephemeralPort(remoteIp, remotePort);
    }
    const now = this.env.clock.now();
    const cfg = resolveConfig(this.config, opts);
    return this.openActive(new TcpConnection(this, cfg, this.env.localIp, localPort, remoteIp, remotePort), now, opts?.earlyData);
  }

  /** An active open of either family (RFC 9293 §3.10.1): SYN-SENT, our SYN out, timers armed. */
  private openActive(c: TcpConnection, now: number, earlyData: Uint8Array | undefined): TcpConnection {
    this.initConn(c, now);
    tcbConnect(c, now); // SYN-SENT
    this.insert(c);
    this.counters.activeOpens++;
    // Early data: on the SYN with TCP Fast Open (fastOpenClient and a cached cookie), else after the handshake.
    if (earlyData !== undefined) fastOpenConnect(c, earlyData, now);
    tcpOutput(c, now);
    armTimers(c);
    return c;
  }

  private ephemeralPort(remoteIp: Ip4, remotePort: number): number {
    const lo = this.config.ephemeralLow;
    const span = this.config.ephemeralHigh - lo + 1;
    for (let i = 0; i < span; i++) {
      const p = this.ephemeralNext;
      this.ephemeralNext = p >= this.config.ephemeralHigh ? lo : p + 1;
      if (this.listeners.has(p)) continue;
      const old = this.lookup(p, remotePort, remoteIp);
      if (old === undefined) return p;
    }
    throw new TcpError('EADDRNOTAVAIL', 'EADDRNOTAVAIL: no free ephemeral port');
  }

  /** Every connection (any state but LISTEN), including TIME-WAIT. */
  *connections(): IterableIterator<TcpConnection> {
    for (const inner of this.conns.values()) yield* inner.values();
    for (const inner of this.conns6.values()) yield* inner.values();
  }

  /** Number of connections (any state, TIME-WAIT included). */
  connectionCount(): number { return this.nConns; }

  /** Connections (any state, TIME-WAIT included) by family. */
  connectionCountsByFamily(): { ipv4: number; ipv6: number } {
    let ipv6 = 0;
    for (const inner of this.conns6.values()) ipv6 += inner.size;
    return { ipv4: this.nConns - ipv6, ipv6 };
  }

  /** Abort everything: every connection freed (RST to synchronized peers), timers cleared. */
  close(): void {
    if (this.closedLayer) return;
    for (const l of new Set([...this.listeners.values(), ...this.listeners6.values(), ...[...this.listeners6At.values()].flat()])) l.close();
    for (const c of [...this.connections()]) {
      if (c.state === TcpState.TimeWait) this.release(c, undefined);
      else c.abort();
    }
    for (const c of this.unread) { c.recvBuf.clear(); c.ooo.clear(); }
    this.unread.clear();
    this.gro.clear();
    this.gro6.clear();
    this.deferredAcks.clear();
    this.inBurst = false;
    this.timers.clear();
    this.blocked.clear();
    this.poolWaiters.clear();
    this.closedLayer = true;
  }

  // ==================== internals ====================

  /** @internal count a drop by reason */
  drop(reason: TcpDropReason): void { this.counters.drops[reason]++; }

  /** @internal every state change, from {@link setState}: count it and trace it */
  onStateChange(c: StateHolder, from: TcpState, to: TcpState, why: TransitionCause, legal: boolean): void {
    this.counters.stateTransitions++;
    this.moves[from * STATES + to]++;
    if (!legal) this.counters.illegalTransitions++;
    if (this.traceState !== null) this.traceState(c as TcpConnection, from, to, why);
  }

  /** How often each state change happened, keyed `FROM>TO` by RFC name (only moves seen). */
  transitionCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.moves.length; i++) {
      if (this.moves[i] > 0) out[`${TCP_STATE_NAMES[(i / STATES) | 0]}>${TCP_STATE_NAMES[i % STATES]}`] = this.moves[i];
    }
    return out;
  }

  /**
   * @internal a congestion controller by the configured name, NewReno fallback
   * @param strict - throw for an unknown name instead of falling back (socket option)
   */
  makeCc(cfg: TcpConfig, mss: number, strict = false): CongestionControl {
    let cc: CongestionControl;
    try {
      cc = createCongestionControl(cfg.cc, mss, cfg.initialCwndSegments);
    } catch (e) {
      if (strict) throw e;
      cc = createCongestionControl('newreno', mss, cfg.initialCwndSegments);
    }
    if (cfg.linuxSlowStart && cc.linuxSlowStart !== undefined) cc.linuxSlowStart = true;
    return cc;
  }

  /**
   * @internal RFC 5961 §7 rate limit across the layer (after the
   * connection's own, input.ts): a budget per second drawn at random from
   * [limit/2, limit/2 + limit) as Linux since 4.7, so an off-path prober
   * counting challenge ACKs cannot tell whether another connection took
   * some (CVE-2016-5696).
   */
  challengeAllowed(now: number): boolean {
    const sec = Math.floor(now / 1000);
    if (sec !== this.challengeSecond) {
      this.challengeSecond = sec;
      const lim = this.config.challengeAckLimit;
      this.challengeBudget = lim > 0 ? ((lim + 1) >>> 1) + (this.challengeRandom() % lim) : 0;
    }
    if (this.challengeBudget <= 0) return false;
    this.challengeBudget--;
    return true;
  }

  /** A 32-bit value nobody without the secret can predict (SipHash of a counter). */
  private challengeRandom(): number {
    const b = this.challengeRand.buf;
    const n = ++this.challengeDraws;
    b[0] = n; b[1] = n >>> 8; b[2] = n >>> 16; b[3] = n >>> 24;
    return this.challengeRand.hash(4);
  }

  /** @internal a write of `c` was refused for want of mbufs: onWritable once the pool recovers */
  waitForPool(c: TcpConnection): void { this.poolWaiters.add(c); }

  private wakePoolWaiters(): void {
    const pool = this.env.pool;
    // The same reserve the write paths keep (TcpConnection.poolReserve).
    if (pool.available() < Math.max(16, pool.capacity >>> 3) * 2) return;
    const list = [...this.poolWaiters];
    this.poolWaiters.clear();
    for (const c of list) {
      if (c.state === TcpState.Closed || !c.writableAgain()) continue;
      c.onWritable?.();
    }
  }

  /** @internal output of `c` waits for mbufs */
  markBlocked(c: TcpConnection): void { this.blocked.add(c); }

  /** @internal the connection entered TIME-WAIT: bound the table */
  addTimeWait(c: TcpConnection): void {
    this.timeWait.add(c);
    if (this.timeWait.size > this.config.timeWaitMax) {
      const oldest = this.timeWait.values().next().value as TcpConnection;
      this.counters.timeWaitEvicted++;
      this.release(oldest, undefined);
    }
  }

  /**
   * @internal whether the accept queue of `c`'s listener can take it now;
   * when not, the completing segment is dropped (counted) and the half-open
   * entry waits for the next one (Linux without tcp_abort_on_overflow)
   */
  acceptRoom(c: TcpConnection): boolean {
    const l = c.parent;
    if (l === null || l.closed || l.onConnection !== undefined || l.queue.length < l.backlog) return true;
    this.counters.listenOverflows++;
    this.drop('acceptQueueFull');
    return false;
  }

  /** @internal a passive connection completed: hand it to the app or queue it (false: the listener is gone) */
  acceptEstablished(c: TcpConnection): boolean {
    const l = c.parent;
    if (l === null) return true;
    if (c.inSynQueue) this.leaveSynQueue(c);
    if (l.closed) return false;
    if (l.onConnection !== undefined) {
      c.parent = null;
      c.announceTo = l; // called once the handshake segment is fully processed
      return true;
    }
    c.inAcceptQueue = true;
    l.queue.push(c);
    return true;
  }

  /** @internal the handshake segment is processed: the listener's onConnection hears of `c`, once */
  announce(c: TcpConnection): void {
    const l = c.announceTo;
    if (l === null) return;
    c.announceTo = null;
    if (c.state !== TcpState.Closed) l.onConnection?.(c);
  }

  private leaveSynQueue(c: TcpConnection): void {
    const l = c.parent!;
    c.inSynQueue = false;
    l.synQueued--;
    if (c.synYoung) { c.synYoung = false; l.synYoung--; }
  }

  /** @internal */
  removeListener(l: TcpListener): void {
    if (this.listeners.get(l.port) === l) this.listeners.delete(l.port);
    if (this.listeners6.get(l.port) === l) this.listeners6.delete(l.port);
    const at = this.listeners6At.get(l.port);
    if (at !== undefined && at.includes(l)) {
      const rest = at.filter((o) => o !== l);
      if (rest.length === 0) this.listeners6At.delete(l.port); else this.listeners6At.set(l.port, rest);
    }
  }

  private lookup(localPort: number, remotePort: number, remoteIp: Ip4): TcpConnection | undefined {
    return this.demux.get((localPort << 16) | remotePort, remoteIp);
  }

  private insert(c: TcpConnection): void {
    if (c.v6 !== null) { this.insert6(c, c.v6); return; }
    let inner = this.conns.get(c.portsKey);
    if (inner === undefined) { inner = new Map(); this.conns.set(c.portsKey, inner); }
    inner.set(c.remoteIp | 0, c);
    this.demux.set(c.portsKey, c.remoteIp, c);
    this.nConns++;
  }

  /**
   * @internal The connection is gone (CLOSED): out of every table, every
   * mbuf freed, the application told (once).
   */
  release(c: TcpConnection, err: TcpError<TcpCloseErrorCode> | undefined): void {
    if (c.state === TcpState.Closed && c.closeNotified) return;
    setState(c, TcpState.Closed, 'closed');
    if (this.lastConn === c) this.lastConn = null;
    if (c.v6 !== null) this.unlink6(c, c.v6);
    else {
      const inner = this.conns.get(c.portsKey);
      if (inner !== undefined && inner.get(c.remoteIp | 0) === c) {
        inner.delete(c.remoteIp | 0);
        this.demux.delete(c.portsKey, c.remoteIp, c);
        if (inner.size === 0) this.conns.delete(c.portsKey);
        this.nConns--;
      }
    }
    this.timers.cancel(c);
    stopConnTimers(c);
    this.timeWait.delete(c);
    c.ackDeferred = false;
    this.blocked.delete(c);
    this.poolWaiters.delete(c);
    // readAfterReset (Linux tcp_done): a connection ended by an error (reset, ICMP, timeout)
    // keeps what it received, and one waiting in the accept queue stays there for accept().
    const keep = c.cfg.readAfterReset && err !== undefined && !this.closedLayer;
    const l = c.parent;
    if (l !== null) {
      if (c.inSynQueue) this.leaveSynQueue(c);
      if (c.inAcceptQueue && !keep) {
        const i = l.queue.indexOf(c);
        if (i >= 0) l.queue.splice(i, 1);
        c.inAcceptQueue = false;
      }
      if (!c.inAcceptQueue) c.parent = null;
    }
    c.sendBuf.clear();
    c.ooo.clear();
    // After an orderly end (the peer's FIN, no error) the bytes received stay
    // readable until the app reads them or closes, as with BSD sockets.
    if ((keep || (err === undefined && c.finReceived)) && !c.appClosed && c.recvBuf.length > 0 && !this.closedLayer) this.unread.add(c);
    else c.recvBuf.clear();
    c.notifyClose(err);
  }

  /** @internal free what a released connection still holds for the app (close, abort, read to the end) */
  dropUnread(c: TcpConnection): void {
    c.recvBuf.clear();
    c.ooo.clear();
    this.unread.delete(c);
  }
}
