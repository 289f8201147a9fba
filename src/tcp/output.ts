/**
 * Building and sending segments (RFC 9293 §3.8.6, the send policy of BSD's
 * tcp_output): what may be sent now under the peer's window, cwnd, Nagle and
 * SWS avoidance, and the segment itself — a small header mbuf whose data
 * room holds the TCP header and options (with headroom left for IP and
 * Ethernet) chained to an indirect, zero-copy slice of the send buffer; or,
 * when the payload is one whole mbuf of the send buffer with headroom for
 * every header (zero-copy writes laid out one MSS per mbuf), ONE indirect
 * mbuf over that payload with the headers written into its headroom; and
 * when it is one of the send buffer's own mbufs (the copying write's), that
 * mbuf itself, by reference (SendBuffer.headOwn), no mbuf allocated at all.
 */
import type { Seq } from './seq.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import { MbufLayout } from '../mbuf/layout.js';
import { TcpHdr, TcpFlag, TcpSegment, writeTcpHeader, setTcpChecksum, setTcpPseudoChecksum } from './header.js';
import { IpProto } from '../ip/ipv4-header.js';
import { TcpOpt, TcpOptLen, dataOptionsLength, synOptionsLength, writeDataOptions, writeSynOptions, type SynOptions } from './options.js';
import { seqAdd, seqDiff, seqGt, seqLt } from './seq.js';
import { TcpState } from './state.js';
import type { TcpConnection } from './connection.js';
import type { TcpLayer } from './layer.js';
import { evenSegments } from './tso.js';
import { countRetransmitCause } from './loss.js';
import { pacedLen, pacedSent } from './pacing.js';
import { RetransmitCause } from './cc/counters.js';
import { armPersist, armRtx, armTimers, markRtxTs, resetPersist, resetRetries, restartRtx, startRttTiming, stopDelack, stopPersistTimer,
  stopRtx, stopRttTiming } from './timers.js';
import { rcvAckSent, rcvAdvertised, sndRewind, sndSent, sndSentNew } from './seq-space.js';
import { finishChecksum6, output6, rstFlow6, tso6, type Tcp6Pair, type AddrKey } from './route.js';
import { fastOpenMaySend, fastOpenSynLen, fastOpenSynOptions } from './fastopen.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

// Numbers per-segment code uses, as a const enum so tsc inlines them.
const enum Out {
  /** Headroom a segment needs for the IP and Ethernet headers. */
  ETH_IP_HDR = 14 + 20,
  /**
   * Headroom left in front of a header written into the application's
   * buffer (SendBuffer.headSlice): room for Ethernet and the larger IP
   * header (IPv6's 40 bytes), so the same rule holds whichever IP version
   * carries the connection (≤ 54 + 60 bytes, within TX_HEADROOM's 128).
   */
  ETH_IP_MAX_HDR = 14 + 40,
  /** NOP, NOP, timestamps kind and length: the first word of RFC 7323 Appendix A's layout. */
  TS_OPTION_WORD = (TcpOpt.NOP << 24) | (TcpOpt.NOP << 16) | (TcpOpt.TS << 8) | TcpOptLen.TS,
}
/** ECN codepoints of the IP TOS byte's low two bits (RFC 3168 §5). */
export const enum Ecn {
  /** ECT(0). */
  ECT0 = 0x02,
  /** Congestion experienced. */
  CE = 0x03,
}
/** ECT(0) codepoint in the IP TOS byte (RFC 3168 §5). */
export const ECT0: number = Ecn.ECT0;
/** CE codepoint. */
export const ECN_CE: number = Ecn.CE;

// The window field tcpOutput's loop computed for its first segment (winFor: whose; reset per call).
let winFor: TcpConnection | undefined;
let winValue = 0;
// Scratch shared by every connection of the process: output never re-enters.
const synOpts: SynOptions = { mss: 0, wscale: -1, sackPermitted: false, hasTs: false, tsVal: 0, tsEcr: 0 };
const sackScratch = new Uint32Array(8);

/** Our TSval for `now`: a ms clock with a per-connection offset (RFC 7323 §5.4). */
export function tsNow(c: TcpConnection, now: number): number {
  return (Math.floor(now) + c.tsOffset) >>> 0;
}

/**
 * The window field for the next segment, and record its right edge in rcvAdv.
 * Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): a window smaller than a
 * quarter of the buffer and than one MSS is advertised as zero; the right
 * edge never moves left once advertised.
 */
function windowField(c: TcpConnection, syn: boolean): number {
  let space = c.cfg.rcvBuf - c.recvBuf.length;
  if (space < 0) space = 0;
  if (space < (c.cfg.rcvBuf >>> 2) && space < c.advMss) space = 0;
  if (syn) {
    const w = space > 0xffff ? 0xffff : space;
    rcvAdvertised(c, seqAdd(c.rcvNxt, w), 0);
    return w;
  }
  const shift = c.rcvWscale;
  let win = space >>> shift;
  if (win > 0xffff) win = 0xffff;
  const adv = seqDiff(c.rcvAdv, c.rcvNxt);
  if (adv > 0 && win * (1 << shift) < adv) {
    // Never shrink the window (RFC 9293 §3.8.6.2.2): round the promise up to
    // the scale's granularity; the peer may legally fill up to the rounded
    // edge (Linux tcp_select_window commits to it), so input accepts it.
    const w = Math.min(0xffff, Math.ceil(adv / (1 << shift)));
    // The rounded edge is accepted (rcvAdvSlack) but the window keeps its
    // basis at the real commitment, so the rounding never creeps.
    const slack = seqDiff(seqAdd(c.rcvNxt, w * (1 << shift)), c.rcvAdv);
    if (slack > c.rcvAdvSlack) rcvAdvertised(c, c.rcvAdv, slack);
    return w;
  }
  const edge = seqAdd(c.rcvNxt, win * (1 << shift));
  if (seqGt(edge, c.rcvAdv)) {
    const wire = seqAdd(c.rcvAdv, c.rcvAdvSlack);
    rcvAdvertised(c, edge, seqGt(wire, edge) ? seqDiff(wire, edge) : 0);
  }
  return win;
}

/**
 * Build and transmit one segment of connection `c`.
 * @param seq - first sequence number (the SYN's for SYN segments)
 * @param len - payload bytes taken from the send buffer at `seq`
 * @param roomChecked - the caller already made sure the stack has transmit
 *   room (tcpOutput's loop); otherwise a data segment finds out here
 * @returns false when the pool had no mbuf or, for data, the stack no
 *   transmit room (nothing was sent; retried on a later poll)
 */
export function sendSegment(c: TcpConnection, seq: Seq, len: number, flags: number, now: number, roomChecked = false): boolean {
  const layer = c.layer;
  const pool = c.pool;
  const env = layer.env;
  if (len > 0 && !roomChecked && env.txRoom !== undefined && env.txRoom() <= 0) {
    // Retransmissions too: a frame the port refuses would be dropped when the batch overflows.
    waitTxRoom(c);
    return false;
  }
  if (len > 0) c.lastDataSentAt = now;
  let optLen: number;
  let sackCount = 0;
  if (flags & TcpFlag.SYN) {
    synOpts.mss = c.advMss;
    synOpts.wscale = c.wsOk ? c.rcvWscale : -1;
    synOpts.sackPermitted = c.state === TcpState.SynSent ? c.cfg.sack : c.sackOk;
    synOpts.hasTs = c.state === TcpState.SynSent ? c.cfg.timestamps : c.tsOk;
    synOpts.tsVal = tsNow(c, now);
    synOpts.tsEcr = c.state === TcpState.SynSent ? 0 : c.tsRecent;
    fastOpenSynOptions(c, synOpts); // RFC 7413 cookie / request (src/tcp/fastopen.ts)
    optLen = synOptionsLength(synOpts);
  } else {
    if (c.sackOk && (c.ooo.bytes > 0 || c.ooo.hasDsack)) {
      // The D-SACK block stays pending until a segment carrying it is actually sent.
      sackCount = c.ooo.sackBlocks(sackScratch, c.tsOk ? TcpOptLen.MAX_SACK_BLOCKS_WITH_TS : TcpOptLen.MAX_SACK_BLOCKS, true, false);
      // Options count against the MSS: a full-sized segment carries fewer (or no) SACK blocks, never more than the MTU.
      while (sackCount > 0 && len + dataOptionsLength(c.tsOk, sackCount) > c.mssBase) sackCount--;
    }
    optLen = dataOptionsLength(c.tsOk, sackCount);
  }
  const hdrLen = TcpHdr.MinHdr + optLen;
  let m = NO_MBUF;
  let at = 0;
  let bufOff = 0;
  // One mbuf for the whole segment when the payload is one whole mbuf of
  // the send buffer with headroom for every header (a zero-copy write laid
  // out one MSS per mbuf): an indirect mbuf over header room + payload.
  if (len > 0) {
    // (A Fast Open SYN's data starts at ISS + 1, the send buffer's first byte.)
    bufOff = seqDiff(seq, c.bufSeq) + (flags & TcpFlag.SYN ? 1 : 0);
    m = c.sendBuf.headOwn(pool, bufOff, len, hdrLen, Out.ETH_IP_MAX_HDR + hdrLen);
    if (m === NO_MBUF) m = c.sendBuf.headSlice(pool, bufOff, len, hdrLen, Out.ETH_IP_MAX_HDR + hdrLen);
    if (m !== NO_MBUF) at = pool.mtod(m);
  }
  if (m === NO_MBUF) {
    const hdr = pool.alloc();
    if (hdr === NO_MBUF) { blocked(c); return false; }
    // A fresh mbuf is one empty segment: the header goes straight into its
    // data room (no walk to the last segment as pool.append would make),
    // after the headroom the IP and Ethernet layers need.
    let off = pool.dataOff(hdr);
    if (off < Out.ETH_IP_HDR) { off = Out.ETH_IP_HDR; pool.setDataOff(hdr, off); }
    if (off + hdrLen > pool.bufLenOf(hdr)) { pool.free(hdr); blocked(c); return false; }
    at = pool.bufStart(hdr) + off;
    pool.setDataLen(hdr, hdrLen);
    // pkt_len once, for the whole segment (freed at once if the slice fails).
    pool.setPktLen(hdr, hdrLen + len);
    m = hdr;
    if (len > 0) {
      const payload = c.sendBuf.slice(pool, bufOff, len);
      if (payload === NO_MBUF) { pool.free(hdr); blocked(c); return false; }
      // As pool.chain(hdr, payload), knowing hdr is a single segment.
      pool.setNext(hdr, payload);
      pool.setNbSegs(hdr, 1 + pool.nbSegs(payload));
      pool.setPktLen(payload, pool.dataLen(payload));
      // A device that checksums (or segments) for us may sum the chain segment
      // by segment without minding odd byte lanes (net_tap does): even them out.
      if (!env.checksumUnneeded && (env.txOffloads & (MbufLayout.TX_OFFLOAD_TCP_CKSUM | MbufLayout.TX_OFFLOAD_TCP_TSO)) !== 0
        && !evenSegments(pool, hdr, layer.counters)) { pool.free(hdr); blocked(c); return false; }
    }
  }
  if (flags & TcpFlag.ACK) {
    rcvAckSent(c);
  }
  // ECN (RFC 3168 §6.1): ECE|CWR on our SYN offers it, ECE on the SYN-ACK
  // accepts; then ECE echoes CE, CWR answers an ECE once, and only new data
  // goes out ECT(0) (never pure ACKs, retransmissions or probes).
  let tos = 0;
  if (flags & TcpFlag.SYN) {
    if (c.state === TcpState.SynSent) { if (c.cfg.ecn) flags |= TcpFlag.ECE | TcpFlag.CWR; } else if (c.ecnOk) flags |= TcpFlag.ECE;
  } else if (c.ecnOk) {
    if (c.ecnEcho && (flags & TcpFlag.ACK)) flags |= TcpFlag.ECE;
    if (len > 0 && !seqLt(seq, c.sndMax)) {
      tos = Ecn.ECT0;
      if (c.ecnCwr) { flags |= TcpFlag.CWR; c.ecnCwr = false; }
    }
  }
  // In tcpOutput's loop nothing is received between segments: the window
  // field (and the edge it records) stays what the first segment computed.
  let win: number;
  if (roomChecked && winFor === c) win = winValue;
  else {
    win = windowField(c, (flags & TcpFlag.SYN) !== 0);
    if (roomChecked) { winFor = c; winValue = win; }
  }
  const dv = pool.dv;
  writeTcpHeader(dv, at, c.localPort, c.remotePort, seq, (flags & TcpFlag.ACK) ? c.rcvNxt : 0, flags, win, hdrLen);
  if (flags & TcpFlag.SYN) writeSynOptions(dv, at + TcpHdr.MinHdr, synOpts);
  else if (sackCount === 0 && c.tsOk) {
    // The usual data option block, NOP NOP TS(10) TSval TSecr, as three words.
    dv.setUint32(at + TcpHdr.MinHdr, Out.TS_OPTION_WORD);
    dv.setUint32(at + TcpHdr.MinHdr + 4, tsNow(c, now));
    dv.setUint32(at + TcpHdr.MinHdr + 8, c.tsRecent >>> 0);
  } else if (optLen > 0) writeDataOptions(dv, at + TcpHdr.MinHdr, c.tsOk, tsNow(c, now), c.tsRecent, sackScratch, sackCount);
  if (len > c.mss && (env.txOffloads & MbufLayout.TX_OFFLOAD_TCP_TSO) !== 0) {
    // Some PMDs (net_tap's software GSO) count the Ethernet header against the
    // MTU when checking tso_segsz: stay within what both readings allow.
    const segsz = Math.min(c.mssBase - optLen, env.mtu - 14 - 20 - hdrLen);
    // TSO (reference sheet): the NIC cuts the payload into segsz pieces and
    // computes every checksum from the pseudo-header sum without the length.
    if (c.v6 === null) {
      setTcpPseudoChecksum(pool, m, c.localIp as Ip4, c.remoteIp as Ip4, false);
      pool.setOlFlags(m, pool.olFlagsLo(m), pool.olFlagsHi(m) | MbufLayout.OL_TX_TCP_SEG_HI | MbufLayout.OL_TX_IPV4_HI);
      pool.setTxOffload(m, 14, 20, hdrLen, segsz);
    } else tso6(env, m, c.v6.local, c.v6.remote, hdrLen, segsz);
    layer.counters.tsoSegments++;
    layer.counters.tsoBytes += len;
  } else {
    if (c.v6 === null) finishChecksum(layer, m, c.localIp as Ip4, c.remoteIp as Ip4, hdrLen);
    else finishChecksum6(env, m, c.v6.local, c.v6.remote, hdrLen);
  }
  if (flags & TcpFlag.ACK) {
    c.ackNow = false;
    c.unackedBytes = 0;
    stopDelack(c);
    c.wndUpdate = false;
  }
  if (sackCount > 0) {
    c.sackBlocksSent += sackCount;
    layer.counters.sackBlocksSent += sackCount;
    if (c.ooo.hasDsack) c.ooo.clearDsack();
    c.lc.sackBlocksSent += sackCount;
    (layer.counters.loss as Record<string, number>).sackBlocksSent += sackCount;
  }
  layer.counters.tx++;
  layer.counters.txBytes += len;
  c.bytesSent += len;
  if (c.v6 === null) env.output(m, c.remoteIp as Ip4, IpProto.TCP, tos);
  else output6(env, m, c.v6, tos);
  return true;
}

/**
 * tcpOutput's bulk case: `n` full-sized segments (c.mss each) of new data
 * from SND.NXT, flags ACK only — no SYN, FIN or PSH, no SACK blocks, no ECN,
 * no TSO (the caller checks) — in one pass: the window field, TSval, ports
 * and the data offset/flags/window word computed once for the batch, the
 * ACK bookkeeping and counters done once. Each segment whose payload is one
 * whole mbuf of the send buffer leaves as that one mbuf
 * (SendBuffer.headSlice, the header in its headroom); any other goes the
 * general way ({@link sendSegment}).
 * @returns segments sent: fewer than `n` when the pool ran short (the
 *   connection is then blocked, as after sendSegment's false)
 */
function sendBurst(c: TcpConnection, n: number, now: number): number {
  // SND.NXT read here, not passed: a double argument of a call is boxed.
  const seq = c.sndNxt;
  c.lastDataSentAt = now;
  const layer = c.layer;
  const env = layer.env;
  const pool = c.pool;
  const sb = c.sendBuf;
  const mss = c.mss;
  const ts = c.tsOk;
  const hdrLen = ts ? TcpHdr.MinHdr + TcpOptLen.TS + 2 : TcpHdr.MinHdr;
  const front = Out.ETH_IP_MAX_HDR + hdrLen;
  let win: number;
  if (winFor === c) win = winValue;
  else { win = windowField(c, false); winFor = c; winValue = win; }
  const ack = c.rcvNxt >>> 0;
  const ports = ((c.localPort << 16) | c.remotePort) >>> 0;
  const word3 = (((hdrLen >>> 2) << 28) | (TcpFlag.ACK << 16) | win) >>> 0;
  const tsVal = ts ? tsNow(c, now) : 0;
  const tsEcr = c.tsRecent >>> 0;
  const v6 = c.v6;
  const dv = pool.dv;
  // seq is not advanced in the loop: a loop variable holding seqAdd's result
  // would be boxed on every iteration for sendSegment's tagged use.
  const bufOff0 = seqDiff(seq, c.bufSeq);
  let bufOff = bufOff0;
  let sent = 0;
  let fast = 0;
  for (; sent < n; sent++) {
    // The copying write's own buffer by reference, else one indirect mbuf over the application's.
    let m = sb.headOwn(pool, bufOff, mss, hdrLen, front);
    if (m === NO_MBUF) m = sb.headSlice(pool, bufOff, mss, hdrLen, front);
    if (m === NO_MBUF) {
      if (!sendSegment(c, seqAdd(seq, bufOff - bufOff0), mss, TcpFlag.ACK, now, true)) break;
    } else {
      const at = pool.mtod(m);
      dv.setUint32(at + TcpHdr.SrcPort, ports);
      dv.setUint32(at + TcpHdr.Seq, seqAdd(seq, bufOff - bufOff0));
      dv.setUint32(at + TcpHdr.Ack, ack);
      dv.setUint32(at + TcpHdr.DataOff, word3);
      dv.setUint32(at + TcpHdr.Checksum, 0);
      if (ts) {
        dv.setUint32(at + TcpHdr.MinHdr, Out.TS_OPTION_WORD);
        dv.setUint32(at + TcpHdr.MinHdr + 4, tsVal);
        dv.setUint32(at + TcpHdr.MinHdr + 8, tsEcr);
      }
      fast++;
      if (v6 === null) {
        finishChecksum(layer, m, c.localIp as Ip4, c.remoteIp as Ip4, hdrLen);
        env.output(m, c.remoteIp as Ip4, IpProto.TCP, 0);
      } else {
        finishChecksum6(env, m, v6.local, v6.remote, hdrLen);
        output6(env, m, v6, 0);
      }
    }
    bufOff += mss;
  }
  if (sent > 0) {
    rcvAckSent(c);
    c.ackNow = false;
    c.unackedBytes = 0;
    stopDelack(c);
    c.wndUpdate = false;
  }
  if (fast > 0) {
    const counters = layer.counters;
    counters.tx += fast;
    counters.txBytes += fast * mss;
    c.bytesSent += fast * mss;
  }
  return sent;
}

/** Checksum per the port: skipped on trusted links, offloaded, or computed. */
function finishChecksum(layer: TcpLayer, m: Mbuf, src: Ip4, dst: Ip4, hdrLen: number): void {
  const env = layer.env;
  const pool = env.pool;
  if (env.checksumUnneeded) return; // the field stays 0
  if (env.txOffloads & MbufLayout.TX_OFFLOAD_TCP_CKSUM) {
    setTcpPseudoChecksum(pool, m, src, dst, true);
    pool.setOlFlags(m, pool.olFlagsLo(m), pool.olFlagsHi(m) | MbufLayout.OL_TX_TCP_CKSUM_HI | MbufLayout.OL_TX_IPV4_HI);
    pool.setTxOffload(m, 14, 20, hdrLen, 0);
    return;
  }
  setTcpChecksum(pool, m, src, dst);
}

function blocked(c: TcpConnection): void {
  c.outputBlocked = true;
  c.layer.counters.txNoMbuf++;
  c.layer.markBlocked(c);
}

/**
 * Connections of one layer whose data waits for transmit room (the Stack's
 * batch full because the port refuses frames), resumed in order when the
 * stack reports room: one callback registered per wait, not one per
 * connection, and a connection that blocks again goes to the back.
 *
 * A FIFO of connections, each in it at most once (its `txWaiting` flag),
 * in a ring that only grows: at thousands of connections the port refuses
 * frames many times per segment sent; a Set's add/delete churn left its
 * table full of holes that every wake-up walked again from the start, and
 * an array emptied from the front and compacted now and then gave up and
 * regrew its store (1.8 heap bytes per segment at 4,096 connections).
 */
export class TxRoomWait {
  /** Waiting connections from `head` on, `count` of them; other slots are null (released connections are not kept). */
  private q: (TcpConnection | null)[] = new Array<TcpConnection | null>(64).fill(null);
  private head = 0;
  private count = 0;
  registered = false;
  constructor(private readonly layer: TcpLayer) {}
  /** Queue `c` at the back unless it waits already. */
  add(c: TcpConnection): void {
    if (c.txWaiting) return;
    c.txWaiting = true;
    if (this.count === this.q.length) this.grow();
    this.q[(this.head + this.count) & (this.q.length - 1)] = c;
    this.count++;
  }
  register(): void {
    if (this.registered) return;
    this.registered = true;
    this.layer.env.whenTxRoom!(this.wake);
  }
  readonly wake = (): void => {
    this.registered = false;
    const env = this.layer.env;
    const now = this.layer.now;
    // Entries added during the walk go to the back: visit only those there now.
    let n = this.count;
    while (n-- > 0) {
      const q = this.q; // add() may grow it under the walk
      const c = q[this.head]!;
      q[this.head] = null;
      this.head = (this.head + 1) & (q.length - 1);
      this.count--;
      c.txWaiting = false;
      if (c.state !== TcpState.Closed) { tcpOutput(c, now); armTimers(c); }
      if (env.txRoom!() <= 0) break;
    }
    if (this.count > 0) this.register();
  };
  private grow(): void {
    const old = this.q;
    const mask = old.length - 1;
    const q = new Array<TcpConnection | null>(old.length * 2).fill(null);
    for (let i = 0; i < this.count; i++) q[i] = old[(this.head + i) & mask];
    this.q = q;
    this.head = 0;
  }
}

/** Output of `c` stops for want of transmit room: resume when the stack has some. */
function waitTxRoom(c: TcpConnection): void {
  const layer = c.layer;
  c.outputBlocked = true;
  layer.counters.txQueueFull++;
  if (layer.env.whenTxRoom === undefined) { layer.markBlocked(c); return; }
  let w = layer.txRoomWait;
  if (w === null) { w = new TxRoomWait(layer); layer.txRoomWait = w; }
  w.add(c);
  w.register();
}

/**
 * Send what the state, windows and policies allow (BSD tcp_output): new
 * data, retransmissions after an RTO rewound SND.NXT, the SYN/FIN, and a
 * pure ACK or window update when one is owed.
 */
export function tcpOutput(c: TcpConnection, now: number): void {
  // Every write and writeMbuf ends in a call here (TcpConnection.kick) and
  // none runs in the middle of one: what is queued now ends a write.
  c.sendBuf.markWriteEnd();
  const st = c.state;
  if (st === TcpState.Closed || st === TcpState.Listen) return;
  c.outputBlocked = false;
  if (st === TcpState.TimeWait) {
    if (c.ackNow) sendSegment(c, c.sndMax, 0, TcpFlag.ACK, now);
    return;
  }
  if (st === TcpState.SynSent || (st === TcpState.SynReceived && !fastOpenMaySend(c))) {
    if (c.sndNxt === c.iss) {
      // (Re)transmit the SYN / SYN-ACK; a Fast Open SYN carries data (RFC 7413).
      const synLen = c.fo === null ? 0 : fastOpenSynLen(c);
      if (!sendSegment(c, c.iss, synLen, st === TcpState.SynSent ? TcpFlag.SYN : TcpFlag.SYN | TcpFlag.ACK, now)) return;
      if (c.retries > 0) { markRetransmit(c, now); stopRttTiming(c); countRetransmitCause(c, RetransmitCause.Rto); }
      sndSent(c, seqAdd(c.iss, 1 + synLen));
      armRtx(c, now);
    } else if (c.ackNow && st === TcpState.SynReceived) {
      sendSegment(c, c.sndNxt, 0, TcpFlag.ACK, now);
    }
    return;
  }
  if (c.sndWnd === 0 && seqGt(c.sndNxt, c.sndUna)) {
    // The peer closed its window on data in flight (BSD tcp_output): pull
    // SND.NXT back and let the persist timer probe, so a receiver that keeps
    // answering is never timed out.
    sndRewind(c, c.sndUna);
    stopRtx(c);
    resetRetries(c);
  }
  const L = c.loss;
  // Recovery's retransmissions first (with SACK, RFC 6675 §5 step C: what NextSeg picks).
  if (!L.beforeOutput(c, now)) return;
  const maxSeg = tsoMax(c);
  const paced = c.cc.pacingRate !== undefined;
  if (c.sendBuf.length === 0 && c.sndNxt === c.sndMax && c.sndUna === c.sndMax && !c.finPending && !c.ackNow && !c.wndUpdate) {
    // Nothing queued, in flight or owed (every other call of a request/response
    // exchange: after the ACK of the last byte in flight): the loop below would
    // send nothing, so only what it and the persist check leave behind is done.
    if (paced && c.paceLast !== -1 && burstable(c, st, maxSeg)) c.paceLast = -1; // (unpaced, it stays -1: not asked)
    c.forceProbe = false;
    if (c.persistAt !== Infinity) resetPersist(c);
    L.afterOutput(c, now);
    return;
  }
  if (sendLone(c, L, st, now)) return;
  // Sending processes no ACK: what is queued, and where it ends, hold for the whole loop.
  const buffered = c.sendBuf.length;
  // Transmit room below (the Stack's batch): asked once, then counted down, asked again at 0.
  const roomFn = c.layer.env.txRoom;
  let room = 0;
  // What the window allows, asked once and then counted down while only
  // new data goes out (L.batchSends); -1: ask recovery again.
  let usable = -1;
  // A burst of new-data segments not yet told to recovery (L.onSent once for it).
  let bStart = 0 as Seq;
  let bLen = 0;
  // The next write end (offset from SND.UNA): only a segment reaching it asks endsWrite.
  let wEnd = c.sendBuf.nextWriteEnd();
  // A Fast Open child's SYN-ACK is no data in flight: its window starts past the SYN, as
  // Linux's child's snd_una does (the request tracks the SYN-ACK).
  const synByte = st === TcpState.SynReceived ? 1 : 0;
  // pshOnBurst: segments of the current GSO-sized packet so far, and that size (linuxGsoSegs).
  let runSegs = 0;
  let gsoSegs = 0;
  winFor = undefined;
  const mss = c.mss;
  // Full-sized new-data segments may go out as a batch (sendBurst).
  const canBurst = burstable(c, st, maxSeg);
  if (canBurst && paced) c.paceLast = -1; // as pacedLen does while the rate is 0
  for (let guard = 0; guard < 100000; guard++) {
    let off = seqDiff(c.sndNxt, c.bufSeq);
    if (off < 0) off = 0;
    const inFlight = seqDiff(c.sndNxt, c.sndUna) - synByte;
    if (usable < 0) {
      usable = L.sendWindow(c, inFlight);
      if (usable < 0) usable = 0;
    }
    let avail = buffered - off;
    if (avail < 0) avail = 0;
    if (canBurst && usable >= mss && avail > mss && c.sndNxt === c.sndMax && L.batchSends()) {
      // The segments that neither empty the queue nor reach the next write's
      // end (those carry PSH and go one by one below), within the window
      // and the transmit room.
      let lim = avail - 1;
      if (usable < lim) lim = usable;
      if (wEnd - off - 1 < lim) lim = wEnd - off - 1;
      let k = lim >= mss ? Math.floor(lim / mss) : 0;
      if (k > 0 && roomFn !== undefined) {
        if (room <= 0) room = roomFn();
        if (k > room) k = room;
      }
      if (k > 0) {
        const seq = c.sndNxt;
        const done = sendBurst(c, k, now);
        if (roomFn !== undefined) room -= done;
        if (done > 0) {
          const bytes = done * mss;
          if (bLen === 0) bStart = seq;
          bLen += bytes;
          usable -= bytes;
          if (!c.rttTiming && !c.tsOk) startRttTiming(c, seqAdd(seq, mss), now);
          if (c.quickAcks > 0 && now - c.lastDataRcvAt < c.cfg.delayedAckMs) c.quickAcks = 0;
          sndSentNew(c, seqAdd(seq, bytes));
          if (c.rtxAt === Infinity) { restartRtx(c, now); stopPersistTimer(c); }
          c.forceProbe = false;
        }
        if (done < k) break;
        continue;
      }
    }
    let len = Math.min(avail, usable, maxSeg);
    if (len > 0 && paced) len = pacedLen(c, len, now);
    // Keep segments on the mbufs of multi-mbuf writes (SendBuffer.alignedLen):
    // a cut one ends a write, so it goes now whatever Nagle would say.
    let cut = false;
    let recEnd = false;
    if (len > 0 && (len < avail || c.sendBuf.records > 0)) {
      const a = c.sendBuf.alignedLen(off, len, c.mss);
      if (a < len) { len = a; cut = true; }
      if (c.sendBuf.records > 0) recEnd = c.sendBuf.endsRecord(off, len);
    }
    // SND.NXT + len is the end of the data queued (as offsets: no sequence number leaves as a call's result).
    const fin = c.finPending && seqDiff(c.sndNxt, c.bufSeq) + len === buffered && (len === avail);
    const rexmit = seqLt(c.sndNxt, c.sndMax);
    let send = false;
    if (len > 0) {
      if (len >= c.mss || cut) send = true;
      // Nagle; a Fast Open child's SYN-ACK in flight is no small segment (Linux's Minshall check);
      // TCP_CORK / MSG_MORE (corked) hold the partial segment (the persist timer sends it after an RTO);
      // nagleMinshall (Linux tcp_minshall_check): held only while a short segment is unacknowledged.
      else if (len === avail && c.corked === 0 && (c.noDelay || inFlight === 0 || fin || (st === TcpState.SynReceived && inFlight === 1)
        || (c.cfg.nagleMinshall && (!seqGt(c.sndSml, c.sndUna) || seqGt(c.sndSml, c.sndNxt))))) send = true;
      else if (c.maxSndWnd > 0 && len >= (c.maxSndWnd >>> 1)) send = true; // sender SWS
      else if (rexmit) send = true;
      else if (c.forceProbe) send = true; // persist timer: push what the small window takes
    }
    if (fin) send = true;
    if (c.ackNow || c.wndUpdate) send = true;
    if (!send) break;
    if (len > 0 && roomFn !== undefined) {
      if (room <= 0) room = roomFn();
      if (room <= 0) {
        // The port is refusing frames: hold new data (it would only be lost),
        // but still answer with a pure ACK when one is owed.
        waitTxRoom(c);
        if (c.ackNow || c.wndUpdate) sendSegment(c, c.sndMax, 0, TcpFlag.ACK, now);
        break;
      }
      room--;
    }
    let flags = TcpFlag.ACK;
    if (fin) flags |= TcpFlag.FIN;
    // PSH on the segment that empties the queue or ends a write (RFC 9293
    // §3.9.1.2; Linux and BSD mark each write's last segment).
    if (len > 0 && ((len === avail && !c.sendBuf.tailHeld) || (off + len >= wEnd && c.sendBuf.endsWrite(off, len)))) flags |= TcpFlag.PSH;
    if (len > 0 && c.cfg.pshOnBurst) {
      // Linux tcp_write_wakeup marks what the persist timer sends (a loss probe goes out through tcp_write_xmit).
      if (c.forceProbe && !L.tlpSending()) flags |= TcpFlag.PSH;
      if (gsoSegs === 0) gsoSegs = linuxGsoSegs(c, inFlight);
      // A record end ends its skb, so its GSO packet too.
      if (len > c.mss || runSegs + 1 >= gsoSegs || recEnd || burstEnds(c, avail - len, usable - len, maxSeg)) {
        if (runSegs > 0 || len > c.mss) flags |= TcpFlag.PSH;
        runSegs = 0;
      } else runSegs++;
    }
    if (len > 0 && off + len >= wEnd) wEnd = c.sendBuf.nextWriteEnd();
    // A pure ACK carries SND.MAX: after an RTO rewound SND.NXT the peer may
    // already hold data beyond it, and would find an older sequence number
    // unacceptable and drop the ACK (BSD tcp_output does the same).
    const pureAck = len === 0 && !fin;
    const seq = c.sndNxt;
    if (!sendSegment(c, pureAck ? c.sndMax : seq, len, flags, now, true)) break;
    if (rexmit) {
      c.bytesRetransmitted += len;
      markRetransmit(c, now);
      if (len > 0) countRetransmitCause(c, RetransmitCause.Rto, Math.ceil(len / c.mss));
    }
    if (len > 0 && !rexmit && !fin && L.batchSends()) {
      // New data: into the burst; a segment shorter than the MSS ends it, so
      // recovery's per-MSS records still match the segments on the wire.
      if (bLen === 0) bStart = seq;
      bLen += len;
      if (len !== c.mss || recEnd) { L.onSent(c, bStart, bLen, bStart, now); bLen = 0; }
      if (recEnd) L.onRecordEnd(seqAdd(seq, len));
      usable -= len;
    } else {
      if (bLen > 0) { L.onSent(c, bStart, bLen, bStart, now); bLen = 0; }
      if (len > 0 || fin) L.onSent(c, seq, len + (fin ? 1 : 0), c.sndMax, now);
      if (recEnd) L.onRecordEnd(seqAdd(seq, len));
      usable = -1;
    }
    if (len > 0) pacedSent(c, len);
    if (len > 0 && len < c.mss && !rexmit) c.sndSml = seqAdd(seq, len); // the last short new segment (Minshall's Nagle)
    if (len > 0 && !c.rttTiming && !c.tsOk && !rexmit) {
      startRttTiming(c, seqAdd(seq, len), now);
    }
    // An answer within the delayed-ACK time: interactive, leave quick-ACK mode (Linux pingpong).
    if (len > 0 && c.quickAcks > 0 && now - c.lastDataRcvAt < c.cfg.delayedAckMs) c.quickAcks = 0;
    sndSent(c, seqAdd(seq, len + (fin ? 1 : 0)));
    if ((len > 0 || fin) && c.rtxAt === Infinity) { restartRtx(c, now); stopPersistTimer(c); }
    c.forceProbe = false;
    if (len === 0 && !fin) break;
    if (fin) break;
  }
  if (bLen > 0) L.onSent(c, bStart, bLen, bStart, now);
  winFor = undefined;
  c.forceProbe = false;
  // Persist (BSD tcp_setpersist): data waits but nothing is in flight, so no
  // ACK will come to reopen a closed (or SWS-small) window by itself.
  const waiting = c.sendBuf.length - Math.max(0, seqDiff(c.sndNxt, c.bufSeq)) > 0;
  if (waiting && c.sndNxt === c.sndUna && c.rtxAt === Infinity) {
    armPersist(c, now);
  } else if (c.persistAt !== Infinity) {
    resetPersist(c);
  }
  L.afterOutput(c, now);
}

/**
 * tcpOutput's lone-segment case: everything queued is new data of at most
 * one MSS that goes now (a request or a response of an RPC exchange, or a
 * small write): sent, told to recovery and timed exactly as tcpOutput's
 * loop would in its one iteration that sends, without the loop's per-segment
 * decisions (bursts, Nagle, cuts, FIN, retransmission, records) that cannot
 * apply. At ~1,450 instructions a call tcpOutput was the costliest function
 * of a small RPC.
 * @returns false when the case does not apply (nothing done: tcpOutput
 *   goes on), true when handled (tcpOutput returns)
 */
function sendLone(c: TcpConnection, L: TcpConnection['loss'], st: TcpState, now: number): boolean {
  const sb = c.sendBuf;
  if ((st !== TcpState.Established && st !== TcpState.CloseWait) || c.sndNxt !== c.sndMax || c.finPending
    || sb.records !== 0 || sb.tailHeld || c.corked !== 0 || c.forceProbe || c.cfg.pshOnBurst) return false;
  const off = seqDiff(c.sndNxt, c.bufSeq);
  const len = sb.length - off;
  const mss = c.mss;
  if (off < 0 || len <= 0 || len > mss) return false;
  const inFlight = seqDiff(c.sndNxt, c.sndUna);
  // Nagle (and Minshall) hold a short segment only with data in flight.
  if (len < mss && !c.noDelay && inFlight !== 0) return false;
  // Recovery's TLP may send past cwnd, one segment at a time: its own path.
  if (!L.batchSends()) return false;
  if (L.sendWindow(c, inFlight) < len) return false;
  // Unpaced: pacedLen would only record that (paceLast −1) and allow len.
  if (c.cc.pacingRate !== undefined && c.cc.pacingRate() > 0) return false;
  c.paceLast = -1;
  winFor = undefined;
  const roomFn = c.layer.env.txRoom;
  if (roomFn !== undefined && roomFn() <= 0) {
    // As the loop: hold the data, answer with a pure ACK if one is owed.
    waitTxRoom(c);
    if (c.ackNow || c.wndUpdate) sendSegment(c, c.sndMax, 0, TcpFlag.ACK, now);
  } else {
    const seq = c.sndNxt;
    // PSH: the segment empties the queue.
    if (sendSegment(c, seq, len, TcpFlag.ACK | TcpFlag.PSH, now, true)) {
      // (A short segment ends the loop's burst at once, a full one at the loop's end: the same call, at the same point.)
      if (len !== mss) L.onSent(c, seq, len, seq, now);
      if (len < mss) c.sndSml = seqAdd(seq, len);
      if (!c.rttTiming && !c.tsOk) startRttTiming(c, seqAdd(seq, len), now);
      if (c.quickAcks > 0 && now - c.lastDataRcvAt < c.cfg.delayedAckMs) c.quickAcks = 0;
      sndSent(c, seqAdd(seq, len));
      if (c.rtxAt === Infinity) { restartRtx(c, now); stopPersistTimer(c); }
      if (len === mss) L.onSent(c, seq, len, seq, now);
    }
  }
  winFor = undefined;
  c.forceProbe = false;
  // The loop's end: nothing waits (all sent) unless the send failed.
  const waiting = sb.length - Math.max(0, seqDiff(c.sndNxt, c.bufSeq)) > 0;
  if (waiting && c.sndNxt === c.sndUna && c.rtxAt === Infinity) armPersist(c, now);
  else if (c.persistAt !== Infinity) resetPersist(c);
  L.afterOutput(c, now);
  return true;
}

/**
 * Whether tcpOutput may send full-sized new-data segments as a batch
 * (sendBurst) now: none of what its loop decides per segment applies.
 * (Every congestion control has pacingRate; unpaced is a rate of 0.)
 */
function burstable(c: TcpConnection, st: TcpState, maxSeg: number): boolean {
  return (st === TcpState.Established || st === TcpState.CloseWait) && maxSeg === c.mss && !c.ecnOk
    && !(c.sackOk && (c.ooo.bytes > 0 || c.ooo.hasDsack)) && !(c.cc.pacingRate !== undefined && c.cc.pacingRate() > 0)
    // Linux's PSH per GSO packet and record ends (MSG_EOR) are decided segment by segment.
    && !c.cfg.pshOnBurst && c.sendBuf.records === 0;
}

/**
 * A retransmission went out: an ACK echoing an older TSval may answer the
 * lost-ACK original, so it must not give an RTT sample (Karn's rule applied
 * to timestamps; otherwise a lost ACK feeds the RTO its own backoff).
 */
export function markRetransmit(c: TcpConnection, now: number): void {
  markRtxTs(c, tsNow(c, now));
}

/**
 * Largest payload one segment may carry: the MSS, or with TSO a multiple of
 * it up to the port's limit (and what a 16-bit IP length holds), so each
 * send hands the NIC up to 64 KB.
 */
/**
 * How many MSS-sized segments Linux puts in one GSO packet now
 * (tcp_tso_autosize): about 1 ms at the pacing rate tcp_update_pacing_rate
 * keeps (cwnd, or what is in flight if more, per smoothed RTT, 200 % of it
 * in early slow start and 120 % after), plus 64 KB >> (min RTT / 512 µs),
 * at most 64 KB and at least `minTsoSegs` (tcp_min_tso_segs, 2); and no more
 * than half the congestion window (tcp_cwnd_test).
 */
function linuxGsoSegs(c: TcpConnection, inFlight: number): number {
  const cc = c.cc;
  const ratio = cc.cwnd < cc.ssthresh / 2 ? 2 : 1.2;
  const srttUs = c.rtt.srtt * 1000;
  let bytes = srttUs > 0 ? (Math.max(cc.cwnd, inFlight) * ratio * 1e6 / srttUs) / 1024 : 65536;
  const minRttUs = c.rtt.minRtt * 1000;
  if (minRttUs !== Infinity) {
    const r = Math.floor(minRttUs) >>> 9;
    if (r < 32) bytes += 65536 >>> r;
  }
  const segs = Math.max(c.cfg.minTsoSegs, Math.floor(Math.min(bytes, 65536) / c.mss));
  // tcp_cwnd_test: no GSO packet over half the window ("at least 2 GSO packets in flight").
  return Math.min(segs, Math.max(1, Math.floor(cc.cwnd / c.mss) >>> 1));
}

/**
 * Whether a data segment ends its burst: after it, what is queued
 * (`nAvail`) and what the window allows (`nUsable`) leave no full segment
 * to follow at once (nor the queue's tail under TCP_NODELAY). Linux sends
 * such a burst as one GSO packet and marks every GSO packet PSH
 * (__tcp_transmit_skb: "Force a PSH flag on all (GSO) packets to expedite
 * GRO flush at receiver"); with `pshOnBurst` the last segment of each such
 * packet of two or more segments carries PSH, whether or not the device
 * segments it.
 */
function burstEnds(c: TcpConnection, nAvail: number, nUsable: number, maxSeg: number): boolean {
  if (nAvail <= 0) return false;
  const n = Math.min(nAvail, nUsable < 0 ? 0 : nUsable, maxSeg);
  return n < c.mss && !(n === nAvail && c.noDelay);
}

function tsoMax(c: TcpConnection): number {
  const env = c.layer.env;
  if (!c.cfg.tso || (env.txOffloads & MbufLayout.TX_OFFLOAD_TCP_TSO) === 0 || env.maxTsoSize <= 0) return c.mss;
  const limit = Math.min(env.maxTsoSize, TcpHdr.MaxSegBytes) - (c.mssBase - c.mss) - TcpHdr.MinHdr;
  const n = Math.floor(limit / c.mss);
  return n > 1 ? n * c.mss : c.mss;
}

/** The persist interval: RTO backed off per probe, clamped to [minRto, maxRto] (RFC 1122 §4.2.2.17). */
export function persistInterval(c: TcpConnection): number {
  const base = Math.max(c.rtt.rto, c.cfg.minRtoMs);
  return Math.min(c.cfg.maxRtoMs, base * (1 << Math.min(c.persistShift, 16)));
}

/**
 * A probe the peer must answer with an ACK: one already-acknowledged
 * sequence number (SND.UNA − 1) and no data, as Linux does for zero-window
 * and keepalive probes.
 */
export function sendProbe(c: TcpConnection, now: number): void {
  sendSegment(c, seqAdd(c.sndUna, -1), 0, TcpFlag.ACK, now);
  c.layer.counters.probesSent++;
}

/** A pure ACK now. */
export function sendAck(c: TcpConnection, now: number): void {
  sendSegment(c, c.sndMax, 0, TcpFlag.ACK, now);
}

/**
 * A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate-limited across the layer
 * (§7) so it cannot be used to amplify.
 */
export function sendChallengeAck(c: TcpConnection, now: number): void {
  const layer = c.layer;
  if (!layer.challengeAllowed(now)) { layer.counters.challengeAcksLimited++; return; }
  layer.counters.challengeAcks++;
  sendSegment(c, c.sndMax, 0, TcpFlag.ACK, now);
}

/** RST for an existing connection (abort): SEQ = SND.MAX (the peer's RCV.NXT when nothing is lost), with ACK. */
export function sendRstForConn(c: TcpConnection): void {
  const layer = c.layer;
  const now = layer.now;
  const pool = c.pool;
  const m = pool.alloc();
  if (m === NO_MBUF) { layer.counters.txNoMbuf++; return; }
  if (pool.headroom(m) < Out.ETH_IP_HDR) pool.setDataOff(m, Out.ETH_IP_HDR);
  // RFC 7323 §3.2: once negotiated, timestamps SHOULD be on a RST too (Linux
  // and FreeBSD put them on a connection's RST), with the current TSval.
  const hdrLen = TcpHdr.MinHdr + (c.tsOk ? 12 : 0);
  const at = pool.append(m, hdrLen);
  writeTcpHeader(pool.dv, at, c.localPort, c.remotePort, c.sndMax, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK, 0, hdrLen);
  if (c.tsOk) writeDataOptions(pool.dv, at + TcpHdr.MinHdr, true, tsNow(c, now), c.tsRecent, sackScratch, 0);
  if (c.v6 === null) finishChecksum(layer, m, c.localIp as Ip4, c.remoteIp as Ip4, hdrLen);
  else finishChecksum6(layer.env, m, c.v6.local, c.v6.remote, hdrLen);
  layer.counters.tx++;
  layer.counters.resetsSent++;
  if (c.v6 === null) layer.env.output(m, c.remoteIp as Ip4, IpProto.TCP, 0);
  else output6(layer.env, m, c.v6, 0);
}

/**
 * RST in answer to a segment that belongs to no connection, or that a state
 * rejects (RFC 9293 §3.10.7.1): if it had ACK, `<SEQ=SEG.ACK><CTL=RST>`;
 * otherwise `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. Never in answer to a RST.
 * @param local - our address (the segment's destination)
 * @param remote - the segment's source
 * @param v6 - for an IPv6 segment, its addresses (then `local`/`remote` are not used)
 */
export function sendRstReply(layer: TcpLayer, seg: TcpSegment, local: AddrKey, remote: AddrKey, v6: Tcp6Pair | null = null): void {
  if (seg.flags & TcpFlag.RST) return;
  const pool = layer.env.pool;
  const m = pool.alloc();
  if (m === NO_MBUF) { layer.counters.txNoMbuf++; return; }
  if (pool.headroom(m) < Out.ETH_IP_HDR) pool.setDataOff(m, Out.ETH_IP_HDR);
  const at = pool.append(m, TcpHdr.MinHdr);
  if (seg.flags & TcpFlag.ACK) {
    writeTcpHeader(pool.dv, at, seg.dstPort, seg.srcPort, seg.ack, 0, TcpFlag.RST, 0, TcpHdr.MinHdr);
  } else {
    writeTcpHeader(pool.dv, at, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, seg.segLen()), TcpFlag.RST | TcpFlag.ACK, 0, TcpHdr.MinHdr);
  }
  if (v6 === null) finishChecksum(layer, m, local as Ip4, remote as Ip4, TcpHdr.MinHdr);
  else finishChecksum6(layer.env, m, v6.local, v6.remote, TcpHdr.MinHdr);
  layer.counters.tx++;
  layer.counters.resetsSent++;
  if (v6 === null) layer.env.output(m, remote as Ip4, IpProto.TCP, 0);
  else output6(layer.env, m, rstFlow6(layer, seg, v6), 0);
}
