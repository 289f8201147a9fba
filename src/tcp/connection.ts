import type { Seq } from './seq.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { resolveConfig, type TcpConfig } from './config.js';
import { TCP_DEFAULT_MSS } from './options.js';
import { TcpState, TCP_STATE_NAMES, canSend, setState } from './state.js';
import { SendBuffer } from './send-buffer.js';
import { copyWrite } from './zc.js';
import { RecvBuffer, OooQueue } from './recv-buffer.js';
import { RttEstimator } from './rtt.js';
import { initialWindow, type CongestionControl } from './cc/cc.js';
import { seqAdd, seqDiff, seqGeq } from './seq.js';
import type { TcpLayer } from './layer.js';
import { tcpOutput, sendRstForConn } from './output.js';
import { armTimers, keepaliveChanged, startDelack, startTimeWaitTimer } from './timers.js';
import { createLossCounters, totalRetransmits, type LossCounters } from './cc/counters.js';
import { lossInfo, noSackRecovery, type LossRecovery } from './loss.js';
import { fold6, type Tcp6Pair, type AddrKey } from './route.js';
import { DOUBLE_FIELD } from '../util/double-field.js';
import type { Mbuf } from '../mbuf/index.js';

/** Why a connection ended, given to {@link TcpConnection.onClose}. */
/** TcpConnection.corked bits. */
const CORK = 1;
const MORE = 2;

export type TcpCloseErrorCode = 'ECONNRESET' | 'ETIMEDOUT' | 'ECONNREFUSED' | 'EPIPE' | 'EHOSTUNREACH' | 'ENETUNREACH';

/**
 * Why `TcpLayer.listen`/`connect` refused: the port or 4-tuple is taken, no
 * ephemeral port is free, the layer is closed (ENETDOWN), a port is out of
 * range (EINVAL), as the errno a socket call would set.
 */
export type TcpOpenErrorCode = 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'ENETDOWN' | 'EINVAL';

/** Every code a {@link TcpError} carries. */
export type TcpErrorCode = TcpCloseErrorCode | TcpOpenErrorCode;

/** An error ending a connection or refusing to open one, with a Node-style `code`. */
export class TcpError<C extends TcpErrorCode = TcpErrorCode> extends Error {
  constructor(readonly code: C, message?: string) {
    super(message ?? code);
    this.name = 'TcpError';
  }
}

/** Per-connection information, like `ss -ti`. */
export interface TcpInfo {
  state: string;
  mss: number;
  srtt: number;
  rttvar: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  sndWnd: number;
  rcvWnd: number;
  sndUna: Seq;
  sndNxt: Seq;
  rcvNxt: Seq;
  retransmits: { rto: number; fast: number; tlp: number; rack: number };
  bytesSent: number;
  bytesReceived: number;
  bytesRetransmitted: number;
  sackBlocksSent: number;
  sackBlocksReceived: number;
  timestamps: boolean;
  sack: boolean;
  sndWscale: number;
  rcvWscale: number;
  cc: string;
  /** ECN negotiated. */
  ecn: boolean;
  dupAcks: number;
  inRecovery: boolean;
  /** RFC 6675 pipe (bytes in flight; SND.MAX − SND.UNA without SACK). */
  pipe: number;
  /** Bytes SACKed above SND.UNA, and marked lost. */
  sackedBytes: number;
  lostBytes: number;
  /** RACK minimum RTT, ms (0 before a sample). */
  minRtt: number;
  /** RACK saw reordering; its current reordering window, ms. */
  reordering: boolean;
  reoWnd: number;
  /** Pacing rate from the congestion controller, bytes/s (0 = unpaced). */
  pacingRate: number;
  /** Loss-recovery counters: retransmissions by cause, probes, spurious, undos, SACK blocks. */
  loss: LossCounters;
}

const INF = Infinity;

/**
 * One TCP connection: the transmission control block of RFC 9293 §3.3.1,
 * its buffers and timers, and the application API. Segment arrival lives in
 * input.ts, segment building in output.ts, timers in timers.ts; this file
 * holds the state and what the application calls. The fields are grouped by
 * the module that writes them (tcb-init.ts the first values, seq-space.ts the
 * sequence spaces, timers.ts the timers, ...): see each group's header.
 *
 * Callbacks run synchronously from `TcpLayer.input`/`tick` (or from the
 * call that caused them): keep them short and do not re-enter the layer in a
 * way that expects the current segment to be finished.
 */
export class TcpConnection {
  // Each group's header names the modules that write its fields (a field's own
  // comment may name its writers instead); test/tcb-ownership checks every write
  // in src/tcp against it. Moving a write elsewhere means calling the owner's function.
  // Declaration order is the object's field order (and its HeapNumbers'
  // allocation order): what the data path reads comes first and what only
  // the handshake or close reads last, within a group as well, so that a
  // connection visited cold (thousands of connections) costs fewer cache lines.

  // ---- identity (readonly) and state (written by state.ts: setState) ----
  /** Current state (read-only for applications). */
  state: TcpState = TcpState.Closed;
  /** Our IPv4 address (for an IPv6 connection: its address folded to 32 bits, see {@link v6}). */
  readonly localIp: AddrKey;
  readonly localPort: number;
  /** The peer's IPv4 address (for an IPv6 connection: folded to 32 bits, see {@link v6}). */
  readonly remoteIp: AddrKey;
  readonly remotePort: number;
  /**
   * The IPv6 addresses and flow label of an IPv6 connection; null for IPv4
   * (so the IPv4 path keeps its numbers and pays one null check).
   */
  readonly v6: Tcp6Pair | null;
  /** @internal */ readonly layer: TcpLayer;
  /** @internal */ readonly pool: Mempool;
  /** @internal */ readonly cfg: TcpConfig;
  /** @internal connection key in the demux map */
  readonly portsKey: number;

  // ---- app-facing buffers: the application API below queues and takes data (written by connection.ts, zc.ts: copyWrite) ----
  // (input.ts fills recvBuf/ooo and ACKs free sendBuf through their methods.)
  /** @internal */ readonly sendBuf: SendBuffer;
  /** @internal the application asked for a FIN (shutdown/close) */ finPending = false;
  /** @internal */ readonly recvBuf: RecvBuffer;
  /** @internal */ readonly ooo: OooQueue;
  /** @internal the last mbuf write() queued (its tailroom takes the next write), or NO_MBUF */
  copyTail = NO_MBUF;
  /** @internal the app hit a full buffer: tell it when space frees (writableAgain) */ wantWritable = false;

  // ---- send sequence space, RFC 9293 §3.3.1 (written by seq-space.ts; first values by tcb-init.ts) ----
  /** @internal */ sndUna = 0 as Seq;
  /** @internal */ sndNxt = 0 as Seq;
  /** @internal highest sequence sent (sndNxt is rewound on RTO) */ sndMax = 0 as Seq;
  /** @internal peer's window, scaled, bytes */ sndWnd = 0;
  /** @internal */ sndWl1 = 0 as Seq;
  /** @internal */ sndWl2 = 0 as Seq;
  /** @internal largest window the peer offered (sender SWS avoidance) */ maxSndWnd = 0;
  /** @internal sequence number of the first byte in sendBuf */ bufSeq = 0 as Seq;
  /** @internal (written by tcb-init.ts) */ iss = 0 as Seq;

  // ---- receive sequence space, RFC 9293 §3.3.1 (written by seq-space.ts; first values by tcb-init.ts) ----
  /** @internal */ rcvNxt = 0 as Seq;
  /** @internal right edge of the window we advertised last */ rcvAdv = 0 as Seq;
  /** @internal bytes past rcvAdv the peer may send because the scaled window field was rounded up */ rcvAdvSlack = 0;
  /** @internal RCV.NXT on the last ACK we sent (RFC 7323 Last.ACK.sent) */ lastAckSent = 0 as Seq;
  /** @internal (written by tcb-init.ts) */ irs = 0 as Seq;

  // ---- the peer's FIN (written by input.ts) ----
  /** @internal sequence number of a FIN that arrived out of order, or -1 */ oooFin: Seq | -1 = -1;
  /** @internal a FIN was received (rcvNxt covers it) */ finReceived = false;

  // ---- options agreed on the SYN (written by tcb-init.ts: negotiateOptions, applyOptions) ----
  /** @internal */ tsOk = false;
  /** @internal */ sackOk = false;
  /** @internal shift applied to the peer's window field */ sndWscale = 0;
  /** @internal our window shift */ rcvWscale = 0;
  /** @internal ECN negotiated (RFC 3168 §6.1.1): data goes out ECT(0), CE is echoed as ECE */ ecnOk = false;
  /** @internal random offset of our TSval clock */ tsOffset = 0;
  /** @internal window scaling offered (SYN-SENT) or agreed */ wsOk = false;

  // ---- MSS (written by pmtu.ts: setMss, setAdvMss) ----
  /** @internal largest segment payload without options: min(peer MSS, ours) */ mssBase = TCP_DEFAULT_MSS;
  /** @internal effective send MSS (mssBase minus the fixed option bytes) */ mss = TCP_DEFAULT_MSS;
  /** @internal the MSS we announce */ advMss = TCP_DEFAULT_MSS;

  // ---- TS.Recent, RFC 7323 §4.3 (written by input.ts; first value by tcb-init.ts) ----
  /** @internal */ tsRecent = 0;
  /** @internal clock ms when tsRecent was set */ tsRecentAge = 0;

  // ---- ECN state (written by input.ts; ecnCwr also by output.ts, which sends the CWR) ----
  /** @internal receiver: echo ECE on ACKs (classic: until CWR; DCTCP: while the last segment had CE) */ ecnEcho = false;
  /** @internal sender: set CWR on the next new data segment, window reduced for an ECE (written by input.ts, output.ts) */
  ecnCwr = false;

  // ---- RTT sampling, Karn's rule, retransmission backoff (written by timers.ts) ----
  /** @internal */ readonly rtt: RttEstimator;
  /** @internal Karn timing without timestamps: a segment ending at rttSeq sent at rttStart */
  rttTiming = false;
  /** @internal */ rttSeq = 0 as Seq;
  /** @internal */ rttStart = 0;
  /** @internal consecutive timeouts of the current segment */ retries = 0;
  /** @internal our TSval at the last retransmission: older echoes are ambiguous (Karn for timestamps) */
  rtxTsVal = 0;
  /** @internal {@link rtxTsVal} applies (data sent before it is still unacknowledged) */
  rtxTsValid = false;

  // ---- congestion control and the loss-recovery algorithm (written by tcb-init.ts, connection.ts; loss by loss.ts) ----
  /** @internal chosen with the options, or by setCongestionControl */ cc: CongestionControl;
  /** @internal loss recovery, chosen when the options are agreed (src/tcp/recovery.ts; written by loss.ts) */ loss: LossRecovery = noSackRecovery;
  /** @internal loss-recovery counters (also summed into layer.counters.loss) */ readonly lc: LossCounters = createLossCounters();

  // ---- recovery episode (written by recovery.ts, loss.ts; see each field) ----
  /** @internal (written by recovery.ts, loss.ts) */ dupAcks = 0;
  /** @internal NewReno recovery in progress (written by recovery.ts, loss.ts) */ inRecovery = false;
  /**
   * @internal RFC 6582 recover point (written by recovery.ts — also after a timeout, RFC 6582 §3.2,
   * and an ECN reduction —, loss.ts; tcb-init.ts its first value)
   */
  recover = 0 as Seq;

  // ---- pacing (written by pacing.ts; see each field) ----
  /** @internal pacing: bytes that may still leave before the next refill, and when it was last refilled */
  paceCredit = 0;
  /** @internal (written by pacing.ts, output.ts) */ paceLast = -1;
  /** @internal pacing wake-up, ms, Infinity = none (written by pacing.ts, timers.ts: it fired) */ paceAt = INF;

  // ---- timers: absolute ms, Infinity = off, their backoff and basis (written by timers.ts) ----
  /** @internal */ rtxAt = INF;
  /** @internal */ persistAt = INF;
  /** @internal */ keepAt = INF;
  /** @internal */ delackAt = INF;
  /** @internal TIME-WAIT expiry, or the orphaned FIN-WAIT-2 limit */ twAt = INF;
  /** @internal */ persistShift = 0;
  /** @internal */ keepProbes = 0;
  /** @internal when the peer was last heard from (keepalive idle time; written by timers.ts, tcb-init.ts) */ lastRecvAt = 0;
  /** @internal userTimeoutMs: when the data now being retransmitted was last sent or acknowledged before the first timeout */ rtxStartAt = 0;

  // ---- timer-queue membership (written by timer-queue.ts) ----
  /** @internal its slot in the layer's TimerQueue, -1 when not queued */
  timerSlot = -1;
  /** @internal deadline the queue holds for this connection */
  timerAt = 0;
  /** @internal the earliest of the connection's deadlines and the recovery's, as last computed: what TimerQueue.scheduleDue schedules (written by timers.ts) */
  timerDue = INF;

  // ---- ACK state: input.ts decides an ACK is due, output.ts clears it when one leaves (see each field) ----
  /** @internal an ACK must go out at the next output (written by input.ts, output.ts, timers.ts: the delayed ACK is due) */
  ackNow = false;
  /** @internal in-order bytes received since the last ACK we sent (written by input.ts, output.ts) */ unackedBytes = 0;
  /** @internal quick ACKs left, config quickAck (written by input.ts, output.ts; tcb-init.ts its first value) */ quickAcks = 0;
  /**
   * @internal the peer's segment payload size as we see it (Linux rcv_mss): starts
   * at min(TCP_DEFAULT_MSS, send MSS), rises to the largest payload received (a GRO aggregate
   * counts by its original segments), never above our MSS. "ACK every second
   * full-sized segment" (RFC 5681 §4.2) measures by it, so a peer sending
   * segments smaller than our MSS still gets an ACK every second one.
   * (written by input.ts; tcb-init.ts with the MSS)
   */ rcvMss = TCP_DEFAULT_MSS;
  /** @internal when in-order data last arrived, ends quick-ACK mode if the app answers soon after (written by input.ts, fastopen.ts) */
  lastDataRcvAt = -Infinity;
  /** @internal a window update is worth sending (written by connection.ts, output.ts) */ wndUpdate = false;
  /**
   * @internal an ACK owed for in-order data waits until the application's
   * handlers have run (or the receive burst ends), so that a reply can carry it
   * (written by connection.ts, input.ts; layer.ts drops it on release)
   */
  ackDeferred = false;
  /** @internal the application's callbacks for a segment are running, input.ts fire (written by input.ts) */
  inEvents = false;
  /** @internal when the last challenge ACK was allowed, per-connection limit config challengeAckIntervalMs (written by input.ts) */
  lastChallengeAt = -Infinity;

  // ---- output's own state (written by output.ts; see each field) ----
  /** @internal output could not allocate: retry on the next tick */ outputBlocked = false;
  /** @internal in its layer's wait for transmit room (output.ts TxRoomWait), at most once */ txWaiting = false;
  /** @internal send a probe at the next output, persist/keepalive (written by output.ts, timers.ts, loss.ts: a loss probe) */
  forceProbe = false;
  /** @internal end of the last data segment shorter than the MSS sent (Linux snd_sml, for nagleMinshall) */ sndSml = 0 as Seq;
  /** @internal when data was last sent, new or again (Linux lsndtime, for slowStartAfterIdle at a window update) */ lastDataSentAt = -Infinity;

  // ---- application-side flags (written by connection.ts) ----
  /** @internal */ noDelay: boolean;
  /** @internal */ keepalive: boolean;
  /** @internal TCP_CORK (1) and a MSG_MORE write in progress (2): partial segments wait */ corked = 0;
  /** @internal close() was called: no more reads, data arriving gets a RST */ appClosed = false;
  /** @internal onClose already delivered */ closeNotified = false;
  /** Why the connection closed, once it has (null: an orderly close, or not closed yet). */
  closeError: TcpCloseErrorCode | null = null;

  // ---- statistics (counted where the event happens: see each field) ----
  /** @internal (written by output.ts) */ bytesSent = 0;
  /** @internal (written by input.ts, fastopen.ts: SYN data) */ bytesReceived = 0;
  /** @internal (written by output.ts, loss.ts, recovery.ts) */ bytesRetransmitted = 0;
  /** @internal (written by loss.ts) */ fastRetransmits = 0;
  /** @internal (written by output.ts) */ sackBlocksSent = 0;
  /** @internal (written by input.ts) */ sackBlocksReceived = 0;

  // ---- application callbacks (written by the application: in src/tcp, socket.ts) ----
  /** Connection established (both active and passive opens). */
  onConnect?: () => void;
  /** New in-order data can be read. */
  onReadable?: () => void;
  /** Send space became available after a write was refused or cut short. */
  onWritable?: () => void;
  /** The peer sent FIN (end of its data; more may still be buffered for reading). */
  onPeerFin?: () => void;
  /** The connection is finished for the application (closed, reset, timed out, or in TIME-WAIT). */
  onClose?: (err?: TcpError<TcpCloseErrorCode>) => void;

  // ---- listener and accept-queue membership (written by layer.ts) ----
  /** @internal the listener that created us (passive open), until accepted or gone */
  parent: import('./layer.js').TcpListener | null = null;
  /** @internal counted in the parent listener's SYN queue (half-open, passive) */
  inSynQueue = false;
  /** @internal in the SYN queue and its SYN-ACK not yet retransmitted (Linux "young") */
  synYoung = false;
  /** @internal in the layer's accept queue, not yet accepted */ inAcceptQueue = false;
  /** @internal listener whose onConnection must hear of us once this segment is processed (TcpLayer.announce) */
  announceTo: import('./layer.js').TcpListener | null = null;

  // ---- how the connection opened (written by tcb-init.ts) ----
  /** @internal active open (SYN-SENT origin) */ activeOpen = false;
  /** @internal the handshake was completed, for ECONNREFUSED vs ECONNRESET (written by input.ts) */ wasEstablished = false;
  /** @internal TCP Fast Open state; null when the connection does not use it (written by fastopen.ts) */
  fo: import('./fastopen.js').FastOpenConn | null = null;

  /** @internal use TcpLayer.connect / TcpListener */
  constructor(layer: TcpLayer, cfg: TcpConfig, localIp: AddrKey, localPort: number, remoteIp: AddrKey, remotePort: number,
    v6: Tcp6Pair | null = null) {
    this.layer = layer;
    this.pool = layer.env.pool;
    this.cfg = cfg;
    this.v6 = v6;
    this.localIp = v6 === null ? localIp : fold6(v6.local);
    this.localPort = localPort;
    this.remoteIp = v6 === null ? remoteIp : fold6(v6.remote);
    this.remotePort = remotePort;
    this.portsKey = (localPort << 16) | remotePort;
    this.sendBuf = new SendBuffer(this.pool);
    this.recvBuf = new RecvBuffer(this.pool);
    this.ooo = new OooQueue(this.pool, cfg.oooMaxBytes ?? cfg.rcvBuf);
    this.rtt = new RttEstimator({ initialRtoMs: cfg.initialRtoMs, minRtoMs: cfg.minRtoMs, maxRtoMs: cfg.maxRtoMs, linux: cfg.linuxRto });
    this.noDelay = cfg.noDelay;
    this.keepalive = cfg.keepalive;
    this.cc = layer.makeCc(cfg, TCP_DEFAULT_MSS);
    // Sequence numbers, timestamps, fractional-ms times and byte counters
    // become double fields before anything reads them
    // (src/util/double-field.ts), then get their declared initial values back.
    // The first connection's map changes here, while it is the only object
    // with that map; every later connection is created with them as doubles.
    // Seq: the double goes to the sequence fields too (a Seq is a number).
    const d = DOUBLE_FIELD as Seq;
    this.iss = this.sndUna = this.sndNxt = this.sndMax = this.sndWl1 = this.sndWl2 = this.bufSeq = d;
    this.irs = this.rcvNxt = this.rcvAdv = this.lastAckSent = this.oooFin = this.recover = this.sndSml = d;
    this.tsRecent = this.tsRecentAge = this.tsOffset = this.rtxTsVal = this.rttSeq = this.rttStart = d;
    this.paceCredit = this.paceLast = this.rtxStartAt = this.lastRecvAt = this.timerAt = d;
    this.bytesSent = this.bytesReceived = this.bytesRetransmitted = d;
    this.iss = this.sndUna = this.sndNxt = this.sndMax = this.sndWl1 = this.sndWl2 = this.bufSeq = 0 as Seq;
    this.irs = this.rcvNxt = this.rcvAdv = this.lastAckSent = this.recover = this.sndSml = 0 as Seq;
    this.oooFin = -1;
    this.tsRecent = this.tsRecentAge = this.tsOffset = this.rtxTsVal = this.rttSeq = this.rttStart = 0 as Seq;
    this.paceCredit = this.rtxStartAt = this.lastRecvAt = this.timerAt = 0;
    this.paceLast = -1;
    this.bytesSent = this.bytesReceived = this.bytesRetransmitted = 0;
  }

  // ==================== application API ====================

  /**
   * Queue an mbuf chain for sending without copying it (zero copy). On
   * success the connection owns `m` and frees it once the peer has
   * acknowledged every byte; its payload is sent as indirect slices.
   * @returns false, leaving `m` with the caller, when the connection cannot
   *   send, the send buffer is full or the pool is nearly empty
   */
  writeMbuf(m: Mbuf): boolean {
    if (m === NO_MBUF || !canSend(this.state) || this.finPending) return false;
    if (this.cfg.slowStartAfterIdle) this.restartAfterIdle();
    const len = this.pool.pktLen(m);
    if (len === 0) { this.pool.free(m); return true; }
    if (this.sendBuf.length >= this.cfg.sndBuf || (this.pool.recentAvailable() < this.poolReserve() && this.pool.available() < this.poolReserve())) {
      this.wantWritable = true;
      // Pool refusal: onWritable once mbufs are back, even with nothing in flight to be ACKed.
      if (this.sendBuf.length < this.cfg.sndBuf) this.layer.waitForPool(this);
      return false;
    }
    this.copyTail = NO_MBUF; // never append into an application's mbuf
    this.sendBuf.push(m);
    this.layer.counters.bytesQueued += len;
    this.kick();
    return true;
  }

  /**
   * Queue a copy of `data` (the one copy the copying API makes).
   * @returns bytes accepted, fewer than `data.length` when the buffer or pool is short
   */
  write(data: Uint8Array): number {
    if (!canSend(this.state) || this.finPending) return 0;
    if (this.cfg.slowStartAfterIdle) this.restartAfterIdle();
    if (this.cfg.notsentLowat > 0) return this.writeBelowLowat(data);
    return this.writeSome(data);
  }

  /** Bytes queued that were never sent (TCP_NOTSENT_LOWAT counts these). */
  unsentBytes(): number {
    const sent = seqDiff(this.sndNxt, this.bufSeq);
    return this.sendBuf.length - (sent > 0 ? sent : 0);
  }

  /**
   * TCP_NOTSENT_LOWAT: take `data` one size goal at a time, each only while
   * less than the low-water mark is unsent, sending after each (Linux
   * tcp_sendmsg_locked's new skb and its tcp_push_one).
   */
  private writeBelowLowat(data: Uint8Array): number {
    const goal = Math.max(this.mss, Math.floor(Math.min(65536, this.maxSndWnd >>> 1) / this.mss) * this.mss);
    let done = 0;
    while (done < data.length && this.unsentBytes() < this.cfg.notsentLowat) {
      const n = this.writeSome(data.subarray(done, Math.min(data.length, done + goal)));
      if (n === 0) break;
      done += n;
    }
    if (done < data.length) this.wantWritable = true;
    return done;
  }

  private writeSome(data: Uint8Array): number {
    // One MSS per mbuf after the headers' headroom (src/tcp/zc.ts copyWrite).
    return copyWrite(this, data);
  }


  /**
   * Mbufs the send path leaves in the pool for headers, slices and received
   * segments: queuing the whole pool as payload would leave nothing to send
   * it with.
   */
  private poolReserve(): number { return Math.max(16, this.pool.capacity >>> 3); }

  /** Bytes the application may still queue. */
  sendSpace(): number {
    if (!canSend(this.state) || this.finPending) return 0;
    // TCP_NOTSENT_LOWAT: room only once less than half the mark is unsent (tcp_stream_memory_free, wake).
    if (this.cfg.notsentLowat > 0 && this.unsentBytes() * 2 >= this.cfg.notsentLowat) return 0;
    return Math.max(0, this.cfg.sndBuf - this.sendBuf.length);
  }

  /** Bytes queued but not yet acknowledged by the peer. */
  sendQueued(): number { return this.sendBuf.length; }

  /**
   * The next in-order payload, zero copy: mtod at the payload, possibly a
   * chain. The caller owns it and must free it.
   * @returns the mbuf, or NO_MBUF when nothing is buffered
   */
  readMbuf(): Mbuf {
    const m = this.recvBuf.shift();
    if (m !== NO_MBUF) this.afterRead();
    return m;
  }

  /**
   * Read (copy) up to `max` buffered bytes.
   * @returns the bytes, or null when nothing is buffered
   */
  read(max = Infinity): Uint8Array | null {
    const n = Math.min(this.recvBuf.length, max);
    if (n <= 0) return null;
    const out = new Uint8Array(n);
    const got = this.recvBuf.read(out);
    this.layer.counters.bytesCopied += got;
    this.afterRead();
    return got === n ? out : out.subarray(0, got);
  }

  /** Bytes ready to read. */
  readable(): number { return this.recvBuf.length; }

  /** The peer sent FIN and every byte before it has been read. */
  get peerClosed(): boolean { return this.finReceived && this.recvBuf.length === 0; }

  /** Half-close: send FIN after the queued data; reading continues. */
  shutdown(): void {
    switch (this.state) {
      case TcpState.SynSent:
        this.layer.release(this, undefined);
        return;
      case TcpState.SynReceived:
        this.finPending = true; // FIN once established (RFC 9293 §3.10.4)
        return;
      case TcpState.Established:
        this.finPending = true;
        setState(this, TcpState.FinWait1, 'shutdown');
        break;
      case TcpState.CloseWait:
        this.finPending = true;
        setState(this, TcpState.LastAck, 'shutdown');
        break;
      default:
        return;
    }
    this.kick();
  }

  /**
   * Close: FIN after the queued data, no more reading. With unread data (or
   * data arriving later) the connection is reset instead (RFC 2525 §2.17).
   */
  close(): void {
    if (this.appClosed) return;
    this.appClosed = true;
    if (this.state === TcpState.Closed || this.state === TcpState.TimeWait) {
      this.layer.dropUnread(this); // nobody will read what is left
      return;
    }
    if (this.recvBuf.length > 0 || this.ooo.bytes > 0) {
      this.layer.counters.resetsUnread++;
      this.abort();
      return;
    }
    this.shutdown();
    if (this.state === TcpState.FinWait2) {
      // Orphaned FIN-WAIT-2: nobody will read, so do not wait for the peer forever.
      startTimeWaitTimer(this, this.layer.now);
      armTimers(this);
    }
  }

  /** Reset now: RST to the peer (when synchronized), everything freed. */
  abort(): void {
    if (this.state === TcpState.Closed) {
      this.appClosed = true;
      this.layer.dropUnread(this);
      return;
    }
    if (this.state !== TcpState.SynSent && this.state !== TcpState.TimeWait && this.state !== TcpState.Listen) {
      sendRstForConn(this);
    }
    this.appClosed = true;
    this.layer.release(this, undefined);
  }

  /** Turn Nagle's algorithm off (true) or on. */
  setNoDelay(on: boolean): void {
    this.noDelay = on;
    if (!on) return;
    // Linux TCP_NODELAY: what is pending goes now, even while corked (TCP_NAGLE_PUSH).
    const k = this.corked;
    this.corked = 0;
    this.kick();
    this.corked = k;
  }

  /**
   * TCP_CORK (Linux): while on, a segment shorter than the MSS waits (full
   * ones go) — until cork is off, or the persist timer sends it after an
   * RTO with nothing in flight; turning it off sends what is pending.
   */
  setCork(on: boolean): void {
    this.corked = on ? this.corked | CORK : this.corked & ~CORK;
    if (!on) this.kick();
  }

  /**
   * send(MSG_MORE) (Linux): {@link write}, but the output it starts holds
   * a short last segment as TCP_CORK would, and its last byte ends no write
   * (no PSH): more of the message is to come. Output started later (an ACK)
   * follows the socket's own Nagle setting again.
   */
  writeMore(data: Uint8Array): number {
    this.corked |= MORE;
    this.sendBuf.holdEnds = true;
    try {
      return this.write(data);
    } finally {
      this.corked &= ~MORE;
      this.sendBuf.holdEnds = false;
    }
  }

  /** Turn keepalive on or off, optionally with a new idle time. */
  setKeepAlive(on: boolean, idleMs?: number): void {
    this.keepalive = on;
    if (idleMs !== undefined && idleMs > 0) this.cfg.keepaliveIdleMs = idleMs;
    keepaliveChanged(this, on);
  }

  /**
   * Choose the congestion control algorithm ('cubic', 'newreno', 'dctcp' or
   * a registered name) before data flows, like Linux's TCP_CONGESTION
   * socket option.
   * @throws RangeError for an unknown name, Error once data has been sent
   */
  setCongestionControl(name: string): void {
    if (seqDiff(this.sndMax, this.iss) > 1) throw new Error('setCongestionControl: data already sent');
    this.cc = this.layer.makeCc(resolveConfig(this.cfg, { cc: name }), this.mss, true);
    this.cfg.cc = name;
  }

  /** Total retransmitted segments, all causes. */
  retransmits(): number { return totalRetransmits(this.lc); }

  /** Statistics and state, like `ss -ti`. */
  info(): TcpInfo {
    const li = lossInfo(this);
    return {
      state: TCP_STATE_NAMES[this.state],
      mss: this.mss,
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      rto: this.rtt.rto,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      sndWnd: this.sndWnd,
      rcvWnd: Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt)),
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      rcvNxt: this.rcvNxt,
      retransmits: { rto: this.lc.retransRto, fast: this.lc.retransFast, tlp: this.lc.retransTlp, rack: this.lc.retransRack },
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      bytesRetransmitted: this.bytesRetransmitted,
      sackBlocksSent: this.sackBlocksSent,
      sackBlocksReceived: this.sackBlocksReceived,
      timestamps: this.tsOk,
      sack: this.sackOk,
      sndWscale: this.sndWscale,
      rcvWscale: this.rcvWscale,
      cc: this.cc.name,
      ecn: this.ecnOk,
      dupAcks: this.dupAcks,
      inRecovery: this.inRecovery,
      pipe: li.pipe,
      sackedBytes: li.sacked,
      lostBytes: li.lost,
      minRtt: li.minRtt,
      reordering: li.reordering,
      reoWnd: li.reoWnd,
      pacingRate: this.cc.pacingRate?.() ?? 0,
      loss: { ...this.lc },
    };
  }

  // ==================== internals ====================

  /** @internal run output now (the app queued data or changed a setting) */
  /**
   * RFC 5681 §4.1 restart window as Linux tcp_cwnd_restart (config
   * slowStartAfterIdle): nothing in flight and idle for longer than the
   * RTO: cwnd halves per RTO idle, not below min(initial window, cwnd).
   */
  private restartAfterIdle(): void {
    if (this.sendBuf.length > 0) return;
    this.restartIdleSince(this.lastRecvAt);
  }

  /**
   * @internal slowStartAfterIdle's restart with nothing in flight, idle counted
   * from `since`; input.ts calls it when a window update finds data waiting
   * (Linux tcp_ack_update_window's tcp_slow_start_after_idle_check, idle since
   * the last transmission: a window that was closed for a while).
   */
  restartIdleSince(since: number): void {
    if (this.sndUna !== this.sndMax) return;
    let idle = this.layer.now - since;
    const rto = this.rtt.rto;
    if (!(idle > rto)) return;
    const cc = this.cc;
    let cwnd = cc.cwnd;
    const restart = Math.min(initialWindow(this.mss, this.cfg.initialCwndSegments), cwnd);
    cc.ssthresh = Math.max(cc.ssthresh, (cwnd >>> 1) + (cwnd >>> 2)); // tcp_current_ssthresh
    while ((idle -= rto) > 0 && cwnd > restart) cwnd = Math.floor(cwnd / 2);
    cc.cwnd = Math.max(cwnd, restart);
  }

  /**
   * MSG_EOR: the bytes written so far end a record; later writes never
   * share a segment with them (Linux tcp_sendmsg with MSG_EOR).
   */
  endRecord(): void {
    this.sendBuf.markRecordEnd();
    // Already sent (the write went out at once): loss recovery marks its last segment.
    const end = seqAdd(this.bufSeq, this.sendBuf.length);
    if (this.sendBuf.length > 0 && seqGeq(this.sndMax, end)) this.loss.onRecordEnd(end);
    this.copyTail = NO_MBUF; // the next write starts a new mbuf
  }

  kick(): void {
    tcpOutput(this, this.layer.now);
    armTimers(this);
  }

  /** @internal the app consumed data: maybe announce the larger window */
  private afterRead(): void {
    if (this.state === TcpState.Closed) {
      if (this.recvBuf.length === 0) this.layer.dropUnread(this); // read to the end: no longer tracked
      return;
    }
    // Window update when the window can grow by two segments or half the buffer (RFC 9293 §3.8.6.2.2).
    const adv = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    const space = this.cfg.rcvBuf - this.recvBuf.length;
    const grow = space - adv;
    // Linux tcp_cleanup_rbuf (TcpConfig windowUpdateDoubling): only when the window at least doubles.
    const clamp = Math.min(this.cfg.rcvBuf, 0xffff * (1 << this.rcvWscale));
    if (this.cfg.windowUpdateDoubling ? (2 * adv <= clamp && Math.min(space, clamp) >= 2 * adv)
      : (grow >= 2 * this.advMss || grow >= (this.cfg.rcvBuf >>> 1))) {
      this.wndUpdate = true;
      // Read from a data handler: the reply it may write carries the update;
      // input sends it bare after the handlers only if none did.
      if (this.inEvents) { this.ackDeferred = true; return; }
      // The peer still holds the window of our SYN-ACK (at most 64 KB,
      // unscaled) and room for four segments: the first read after a passive
      // open only turns it into the scaled window, and nothing waits on
      // that. The next segment (the app's reply, an ACK) carries it, or the
      // delayed-ACK timer sends it; the reply then goes alone instead of
      // right after a bare update.
      if (this.rcvWscale > 0 && adv >= 4 * this.advMss
        && this.rcvAdv === seqAdd(this.irs, 1 + Math.min(this.cfg.rcvBuf, 0xffff))) {
        if (this.delackAt === INF) { startDelack(this, this.layer.now); armTimers(this); }
        return;
      }
      this.kick();
    }
  }

  /**
   * @internal the application waits for send space (a write was refused or
   * cut short) and there is some now: true once, when onWritable is due
   */
  writableAgain(): boolean {
    if (!this.wantWritable || this.sendSpace() <= 0) return false;
    this.wantWritable = false;
    return true;
  }

  /** @internal sequence number just past the last data byte queued */
  dataEnd(): Seq { return seqAdd(this.bufSeq, this.sendBuf.length); }

  /** @internal notify the app once, with an optional error */
  notifyClose(err?: TcpError<TcpCloseErrorCode>): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.closeError = err?.code ?? null;
    this.onClose?.(err);
  }
}
