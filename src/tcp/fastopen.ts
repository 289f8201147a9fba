/**
 * TCP Fast Open (RFC 7413): data on the SYN, accepted by the server before
 * the handshake completes when the SYN carries a cookie the server issued.
 *
 * Server: a listener with {@link TcpConfig.fastOpen} > 0 answers a cookie
 * request (an empty Fast Open option) with a cookie in the SYN-ACK; a SYN
 * whose cookie checks out has its data queued for the application and
 * acknowledged by the SYN-ACK, and the connection goes to the accept queue
 * at once (RFC 7413 §4.2.2), so the application reads it and may answer
 * before the third segment arrives. Cookies are SipHash-2-4 of the client's
 * and our address under a 16-byte key, 8 bytes, byte for byte as Linux's
 * `__tcp_fastopen_cookie_gen_cipher` (so Linux's packetdrill scripts can
 * check them); the key is random and replaced every
 * {@link TcpConfig.fastOpenKeyRotateMs} (a cookie under the previous key is
 * still valid) unless {@link TcpConfig.fastOpenKey} fixes it.
 *
 * Client: connect() with early data and {@link TcpConfig.fastOpenClient}
 * asks for a cookie on the first connection to a server and sends data on
 * the SYN of later ones (RFC 7413 §4.1); data the SYN-ACK does not
 * acknowledge is sent again after the handshake (§4.2.1). The cookie cache
 * is per layer, keyed by the server's address (§4.1.2).
 *
 * Both the RFC 7413 option (kind 34) and the pre-RFC experimental one
 * (kind 254, magic 0xF989) are read; the server answers in the kind the
 * client used (as Linux).
 *
 * Nothing here runs per data segment: only SYNs and SYN-ACKs of Fast Open
 * connections come here, so it may allocate.
 */
import { randomBytes } from 'node:crypto';
import { NO_MBUF } from '../mbuf/mempool.js';
import { SipHash } from '../util/siphash.js';
import type { Addr6 } from '../ip/addr6.js';
import { TcpFlag, type TcpSegment } from './header.js';
import { FASTOPEN_EXP_MAGIC, TcpOpt, type SynOptions } from './options.js';
import { trimFront } from './recv-buffer.js';
import { seqAdd, seqDiff } from './seq.js';
import { TcpState } from './state.js';
import { rcvAckSent, rcvTakeSynData, sndBufStart, sndRewind } from './seq-space.js';
import type { TcpConnection } from './connection.js';
import type { TcpLayer, TcpListener } from './layer.js';
import type { Mbuf } from '../mbuf/index.js';

/** Cookie lengths a client accepts (RFC 7413 §4.1.1: 4 to 16 bytes; even, as Linux and FreeBSD require). */
const COOKIE_MIN = 4;
const COOKIE_MAX = 16;
/** Our cookies' length (Linux TCP_FASTOPEN_COOKIE_SIZE). */
const COOKIE_SIZE = 8;
/** Option space kept free when sizing SYN data (Linux MAX_TCP_OPTION_SPACE: middleboxes may add options). */
const SYN_OPTION_RESERVE = 40;

/** Whether `len` is a cookie length a client may cache. */
export function validCookieLength(len: number): boolean {
  return len >= COOKIE_MIN && len <= COOKIE_MAX && (len & 1) === 0;
}

/** Per-connection Fast Open state ({@link TcpConnection.fo}). */
export class FastOpenConn {
  /** The Fast Open option our SYN / SYN-ACK carries: -1 none, 0 a cookie request, else the cookie's length. */
  optLen = -1;
  /** Send it as the experimental option (kind 254). */
  exp = false;
  cookie: Uint8Array | null = null;
  /** Client: bytes of early data the first SYN may carry. */
  synDataMax = 0;
  /** Client: bytes the SYN carried. */
  synDataSent = 0;
  /**
   * The SYN's data was accepted (server) or acknowledged by the SYN-ACK
   * (client): tcp_info's TCPI_OPT_SYN_DATA.
   */
  synData = false;
  /** Server: accepted on its SYN, in the accept queue before the handshake completed. */
  child = false;
}

/** A server's cookie cache entry (client side). */
interface CacheEntry {
  cookie: Uint8Array | null;
  exp: boolean;
  /** The MSS the server announced (0: unknown). */
  mss: number;
  /** Fast Open towards this server is off until then (FreeBSD path disable). */
  disabledUntil: number;
  /** A request in the experimental kind went unanswered too: stay with kind 34 (Linux try_exp = 2). */
  triedExp: boolean;
}

/** Fast Open events of one layer ({@link fastOpenCounters}). */
export interface FastOpenCounters {
  /** Server: SYNs whose data (or cookie) was accepted. */
  accepted: number;
  /** Server: cookies sent in SYN-ACKs (requests and invalid cookies). */
  cookiesSent: number;
  /** Server: SYNs with a cookie that was not ours (or expired). */
  cookiesInvalid: number;
  /** Server: Fast Open SYNs handled as plain SYNs because the listener's Fast Open queue was full. */
  queueFull: number;
  /** Client: SYNs that carried data. */
  synDataSent: number;
  /** Client: SYN data acknowledged by the SYN-ACK. */
  synDataAcked: number;
}

/** Fast Open state of one layer: the server key and the client's cookie cache. */
class FastOpenLayer {
  readonly counters: FastOpenCounters = { accepted: 0, cookiesSent: 0, cookiesInvalid: 0, queueFull: 0, synDataSent: 0, synDataAcked: 0 };
  private key: SipHash | null = null;
  private prev: SipHash | null = null;
  private keyFrom: Uint8Array | undefined = undefined;
  private keyBorn = 0;
  /** Keyed by {@link peerKey}: an IPv4 address as a number, an IPv6 one as a string of its words. */
  readonly cache = new Map<number | string, CacheEntry>();
  /** Fast Open children per listener that have not completed the handshake (its queue, RFC 7413 §5.1). */
  readonly pending = new WeakMap<TcpListener, Set<TcpConnection>>();

  /** The key for `fixed` (or a random rotating one) at `now`, and the previous one. */
  keys(fixed: Uint8Array | undefined, rotateMs: number, now: number): [SipHash, SipHash | null] {
    if (fixed !== undefined) {
      if (this.key === null || this.keyFrom !== fixed) { this.key = new SipHash(fixed); this.prev = null; this.keyFrom = fixed; }
      return [this.key, null];
    }
    if (this.key === null || this.keyFrom !== undefined || now - this.keyBorn >= rotateMs) {
      this.prev = this.keyFrom === undefined && this.key !== null && now - this.keyBorn < 2 * rotateMs ? this.key : null;
      this.key = new SipHash(new Uint8Array(randomBytes(16)));
      this.keyFrom = undefined;
      this.keyBorn = now;
    }
    return [this.key, this.prev];
  }
}

const layers = new WeakMap<TcpLayer, FastOpenLayer>();
function stateOf(layer: TcpLayer): FastOpenLayer {
  let s = layers.get(layer);
  if (s === undefined) { s = new FastOpenLayer(); layers.set(layer, s); }
  return s;
}

/** The Fast Open counters of `layer` (all 0 until it sees Fast Open). */
export function fastOpenCounters(layer: TcpLayer): Readonly<FastOpenCounters> { return stateOf(layer).counters; }

/**
 * A Linux `tcp_fastopen_key` string (`%x-%x-%x-%x`, four 32-bit words) as
 * the 16 key bytes Linux uses (each word little-endian).
 * @returns null when it is not four hex words
 */
export function parseFastOpenKey(text: string): Uint8Array | null {
  const m = /^([0-9a-f]{1,8})-([0-9a-f]{1,8})-([0-9a-f]{1,8})-([0-9a-f]{1,8})$/i.exec(text.trim());
  if (!m) return null;
  const key = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const w = parseInt(m[i + 1], 16);
    key[4 * i] = w & 0xff; key[4 * i + 1] = (w >>> 8) & 0xff; key[4 * i + 2] = (w >>> 16) & 0xff; key[4 * i + 3] = (w >>> 24) & 0xff;
  }
  return key;
}

/** The 8-byte cookie of client `client` talking to our address `server` under `h`. */
/** The cookie cache's key for a server: its IPv4 address, or its IPv6 address's four words. */
function peerKey(remote: number | Readonly<Addr6>): number | string {
  return typeof remote === 'number' ? remote >>> 0 : `${remote[0]}:${remote[1]}:${remote[2]}:${remote[3]}`;
}

/** The server a connection's cookie belongs to. */
function serverOf(c: TcpConnection): number | Readonly<Addr6> {
  return c.v6 === null ? c.remoteIp : c.v6.remote;
}

/**
 * The cookie of a client → server pair of IPv6 addresses: SipHash of the
 * two 16-byte addresses, source first (Linux's __tcp_fastopen_cookie_gen_cipher
 * hashes the SYN's IPv6 saddr and daddr, 32 bytes).
 */
function cookieOf6(h: SipHash, client: Readonly<Addr6>, server: Readonly<Addr6>): Uint8Array {
  const b = h.buf;
  for (let i = 0; i < 4; i++) {
    const x = client[i], y = server[i];
    b[4 * i] = x >>> 24; b[4 * i + 1] = (x >>> 16) & 0xff; b[4 * i + 2] = (x >>> 8) & 0xff; b[4 * i + 3] = x & 0xff;
    b[16 + 4 * i] = y >>> 24; b[17 + 4 * i] = (y >>> 16) & 0xff; b[18 + 4 * i] = (y >>> 8) & 0xff; b[19 + 4 * i] = y & 0xff;
  }
  const lo = h.hash(32);
  const hi = h.hi;
  return Uint8Array.of(lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24, hi & 0xff, (hi >>> 8) & 0xff, (hi >>> 16) & 0xff, hi >>> 24);
}

/** The cookie of connection `c`'s client → server pair under `h`, in either family. */
function cookieFor(h: SipHash, c: TcpConnection): Uint8Array {
  return c.v6 === null ? cookieOf(h, c.remoteIp, c.localIp) : cookieOf6(h, c.v6.remote, c.v6.local);
}

function cookieOf(h: SipHash, client: number, server: number): Uint8Array {
  const b = h.buf;
  b[0] = client >>> 24; b[1] = (client >>> 16) & 0xff; b[2] = (client >>> 8) & 0xff; b[3] = client & 0xff;
  b[4] = server >>> 24; b[5] = (server >>> 16) & 0xff; b[6] = (server >>> 8) & 0xff; b[7] = server & 0xff;
  const lo = h.hash(8);
  const hi = h.hi;
  return Uint8Array.of(lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24, hi & 0xff, (hi >>> 8) & 0xff, (hi >>> 16) & 0xff, hi >>> 24);
}

function sameBytes(a: Uint8Array, b: Uint8Array, len: number): boolean {
  if (a.length < len || b.length < len) return false;
  for (let i = 0; i < len; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The Fast Open option of a segment: length (-1 none, 0 request), its kind and its bytes. */
interface FoOption { len: number; exp: boolean; cookie: Uint8Array | null }

/**
 * Find the Fast Open option in the options of `m` (mtod at the TCP header,
 * `hdrLen` bytes of header). Malformed options end the walk, as the parser's.
 */
export function readFastOpenOption(layer: TcpLayer, m: Mbuf, hdrLen: number): FoOption {
  const pool = layer.env.pool;
  const out: FoOption = { len: -1, exp: false, cookie: null };
  if (pool.dataLen(m) < hdrLen) return out;
  const u8 = pool.u8;
  const base = pool.mtod(m);
  for (let i = 20; i < hdrLen;) {
    const kind = u8[base + i];
    if (kind === TcpOpt.EOL) break;
    if (kind === TcpOpt.NOP) { i++; continue; }
    if (i + 1 >= hdrLen) break;
    const len = u8[base + i + 1];
    if (len < 2 || i + len > hdrLen) break;
    if (kind === TcpOpt.FASTOPEN) {
      out.len = len - 2; out.exp = false;
      out.cookie = u8.slice(base + i + 2, base + i + len);
      return out;
    }
    if (kind === TcpOpt.EXP && len >= 4 && ((u8[base + i + 2] << 8) | u8[base + i + 3]) === FASTOPEN_EXP_MAGIC) {
      out.len = len - 4; out.exp = true;
      out.cookie = u8.slice(base + i + 4, base + i + len);
      return out;
    }
    i += len;
  }
  return out;
}

// ==================== server ====================

/**
 * A listener's new half-open connection `c` for SYN `seg` (mbuf `m`, which
 * this takes): check the Fast Open option (Linux tcp_try_fastopen). With a
 * valid cookie (or none needed) the SYN's data goes into the receive buffer
 * and `c` into the accept queue; a request or an invalid cookie gets our
 * cookie on the SYN-ACK. Called before the SYN-ACK is sent.
 */
export function fastOpenPassive(c: TcpConnection, l: TcpListener, seg: TcpSegment, m: Mbuf, now: number): void {
  const layer = c.layer;
  const pool = layer.env.pool;
  const cfg = l.cfg;
  const plen = seg.payloadLen;
  const qlen = cfg.fastOpen < 0 ? l.backlog : cfg.fastOpen;
  if (!cfg.fastOpenServer || qlen <= 0 || (plen === 0 && !optionMayBeThere(seg))) { pool.free(m); return; }
  const opt = readFastOpenOption(layer, m, seg.hdrLen);
  if (opt.len < 0 && plen === 0) { pool.free(m); return; }
  const st = stateOf(layer);
  let pend = st.pending.get(l);
  if (pend === undefined) { pend = new Set(); st.pending.set(l, pend); }
  for (const x of pend) if (x.state !== TcpState.SynReceived) pend.delete(x);
  if (pend.size >= qlen) { pool.free(m); st.counters.queueFull++; return; }
  let accept = cfg.fastOpenServerNoCookie;
  let issue: Uint8Array | null = null;
  if (!accept && opt.len >= 0) {
    const [key, prev] = st.keys(cfg.fastOpenKey, cfg.fastOpenKeyRotateMs, now);
    const good = cookieFor(key, c);
    if (opt.len === COOKIE_SIZE && (sameBytes(opt.cookie!, good, COOKIE_SIZE)
      || (prev !== null && sameBytes(opt.cookie!, cookieFor(prev, c), COOKIE_SIZE)))) {
      accept = true;
    } else {
      // A request, or a cookie that is not (or no longer) ours: issue the current one.
      issue = good;
      if (opt.len > 0) st.counters.cookiesInvalid++;
    }
  }
  if (!accept && issue === null) { pool.free(m); return; } // data without a Fast Open option: a plain SYN
  const fo = new FastOpenConn();
  c.fo = fo;
  if (issue !== null) {
    fo.optLen = issue.length; fo.cookie = issue; fo.exp = opt.exp;
    st.counters.cookiesSent++;
  }
  if (!accept) { pool.free(m); return; }
  // RFC 7413 §4.2.2: the SYN's data is the application's now; the SYN-ACK acknowledges it.
  st.counters.accepted++;
  if (plen > 0) {
    let p = trimFront(pool, m, seg.hdrLen);
    if (pool.pktLen(p) > plen) pool.truncate(p, plen);
    if (plen > cfg.rcvBuf) { pool.free(p); p = NO_MBUF; } // more than the buffer: the SYN-ACK acks the SYN only
    if (p !== NO_MBUF) {
      c.recvBuf.push(p);
      rcvTakeSynData(c, plen);
      rcvAckSent(c);
      layer.counters.rxBytes += plen;
      c.bytesReceived += plen;
      fo.synData = true;
    }
  } else {
    pool.free(m);
  }
  // Into the accept queue now (RFC 7413 §4.2.2): the application may read and answer in SYN-RECEIVED.
  if (l.onConnection === undefined && layer.acceptEstablished(c)) {
    fo.child = true;
    pend.add(c);
  }
}

/** Whether the SYN's option area can hold a Fast Open option at all (saves the walk for plain SYNs). */
function optionMayBeThere(seg: TcpSegment): boolean {
  return seg.hdrLen > 20;
}

/** Whether a Fast Open child in SYN-RECEIVED may send data before the handshake completes (Linux does). */
export function fastOpenMaySend(c: TcpConnection): boolean {
  // Only data: a bare ACK or window update means nothing before the peer acknowledged our SYN.
  return c.fo !== null && c.fo.child && c.sndNxt !== c.iss && c.sendBuf.length > seqDiff(c.sndNxt, c.bufSeq);
}

// ==================== client ====================

/**
 * connect() with early data `data` (before the SYN goes out): decide the
 * Fast Open option and how much data the SYN may carry, then queue the
 * data. With Fast Open off, or towards a server where it failed, the data
 * simply waits for the handshake.
 * @returns bytes queued (as {@link TcpConnection.write})
 */
export function fastOpenConnect(c: TcpConnection, data: Uint8Array, now: number): number {
  const cfg = c.cfg;
  if (cfg.fastOpenClient) {
    const st = stateOf(c.layer);
    const k = peerKey(serverOf(c));
    let e = st.cache.get(k);
    if (e === undefined) {
      e = { cookie: null, exp: false, mss: 0, disabledUntil: -Infinity, triedExp: false };
      st.cache.set(k, e);
    }
    if (now >= e.disabledUntil) {
      const fo = new FastOpenConn();
      fo.exp = e.exp;
      const cap = fastOpenSynRoom(c.layer, serverOf(c), c.advMss);
      if (e.cookie !== null) {
        fo.optLen = e.cookie.length; fo.cookie = e.cookie;
        fo.synDataMax = cap;
      } else if (cfg.fastOpenClientNoCookie) {
        fo.synDataMax = cap; // data without any option (Linux TFO_CLIENT_NO_COOKIE)
      } else {
        fo.optLen = 0; // a cookie request (RFC 7413 §4.1.3)
      }
      c.fo = fo;
    }
  }
  return data.length > 0 ? c.write(data) : 0;
}

/** Bytes of early data a SYN to `remote` (an IPv4 or IPv6 address) may carry with our MSS `advMss` (the server's cached MSS bounds it too). */
export function fastOpenSynRoom(layer: TcpLayer, remote: number | Readonly<Addr6>, advMss: number): number {
  const e = stateOf(layer).cache.get(peerKey(remote));
  const mss = Math.min(advMss, e !== undefined && e.mss > 0 ? e.mss : advMss);
  return Math.max(0, mss - SYN_OPTION_RESERVE);
}

/** Forget every cached cookie and disabled path (FreeBSD `fastopen.client_enable=0`, Linux `ip tcp_metrics flush`). */
export function fastOpenFlushCache(layer: TcpLayer): void {
  stateOf(layer).cache.clear();
}

/** Whether the cache holds a cookie for `remote`, an IPv4 or IPv6 address (what a Linux non-blocking sendto(MSG_FASTOPEN) depends on). */
export function fastOpenHasCookie(layer: TcpLayer, remote: number | Readonly<Addr6>, now: number): boolean {
  const e = stateOf(layer).cache.get(peerKey(remote));
  return e !== undefined && e.cookie !== null && now >= e.disabledUntil;
}

/** Bytes of early data the (first) SYN of `c` carries now. */
export function fastOpenSynLen(c: TcpConnection): number {
  const fo = c.fo;
  if (fo === null || c.state !== TcpState.SynSent || c.retries > 0) return 0;
  const n = Math.min(fo.synDataMax, c.sendBuf.length);
  if (n > 0 && fo.synDataSent === 0) stateOf(c.layer).counters.synDataSent++;
  fo.synDataSent = n;
  return n;
}

/** Fill the Fast Open fields of SYN options for `c`'s SYN or SYN-ACK. */
export function fastOpenSynOptions(c: TcpConnection, o: SynOptions): void {
  const fo = c.fo;
  // Only on the first transmission: a retransmitted SYN or SYN-ACK goes without it (Linux and
  // FreeBSD: the option may be what a middlebox drops).
  // (A client's cookie never goes on the SYN-ACK of a simultaneous open.)
  if (fo === null || fo.optLen < 0 || c.retries > 0
    || !(c.state === TcpState.SynSent || (c.state === TcpState.SynReceived && !c.activeOpen))) { o.foLen = -1; return; }
  o.foLen = fo.optLen; o.foExp = fo.exp; o.foCookie = fo.cookie;
}

/**
 * A SYN-ACK for `c` (segment `seg` in `m`, not yet freed): cache the cookie
 * it carries (or note that the server has none), and rewind SND.NXT over
 * SYN data it did not acknowledge so that output sends it again
 * (RFC 7413 §4.2.1). Call before SND.UNA is advanced.
 */
export function fastOpenSynAck(c: TcpConnection, seg: TcpSegment, m: Mbuf, now: number): void {
  const fo = c.fo;
  if (fo === null || !(seg.flags & TcpFlag.ACK)) return;
  const layer = c.layer;
  const opt = readFastOpenOption(layer, m, seg.hdrLen);
  const st = stateOf(layer);
  const k = peerKey(serverOf(c));
  let e = st.cache.get(k);
  if (e === undefined) { e = { cookie: null, exp: false, mss: 0, disabledUntil: -Infinity, triedExp: false }; st.cache.set(k, e); }
  const disableMs = c.cfg.fastOpenPathDisableMs;
  const dataAcked = fo.synDataSent > 0 && seg.ack === seqAdd(c.iss, 1 + fo.synDataSent);
  // (A cookie we did not ask for, our SYN carrying no option, is not cached: Linux, RFC 7413 §4.1.3.)
  if (opt.len >= 0 && validCookieLength(opt.len) && fo.optLen >= 0) {
    e.cookie = opt.cookie!.slice(0, opt.len);
    e.exp = opt.exp;
    e.mss = seg.mss;
    e.disabledUntil = -Infinity;
  } else if (disableMs > 0 && !dataAcked) {
    // FreeBSD tcp_fastopen_disable_path: a request or a rejected cookie answered without a
    // (valid) cookie, no Fast Open to this server for a while. (A cookie that worked is kept.)
    e.cookie = null;
    e.mss = 0;
    e.disabledUntil = now + disableMs;
  } else if (opt.len < 0 && fo.optLen === 0 && fo.synDataSent === 0 && c.retries === 0) {
    // Linux try_exp: a request without an answer; the next one tries the experimental kind,
    // and after that went unanswered too, kind 34 for good.
    if (!fo.exp && !e.triedExp) { e.exp = true; e.triedExp = true; } else e.exp = false;
  }
  if (seg.mss > 0 && now >= e.disabledUntil) e.mss = seg.mss; // (Linux caches the MSS with or without a cookie)
  // SYN data the SYN-ACK acknowledges leaves the send buffer; the rest goes out again after the handshake.
  let acked = seqDiff(seg.ack, c.bufSeq);
  if (acked > c.sendBuf.length) acked = c.sendBuf.length;
  if (acked > 0) {
    c.sendBuf.ack(acked);
    sndBufStart(c, seqAdd(c.bufSeq, acked));
    layer.counters.bytesAcked += acked;
    if (acked === fo.synDataSent) { fo.synData = true; st.counters.synDataAcked++; }
  }
  sndRewind(c, seqAdd(c.iss, 1));
  // fastOpenSynDataSegment: what the SYN carried and the SYN-ACK left goes again as that segment.
  if (c.cfg.fastOpenSynDataSegment && fo.synDataSent > 0 && acked < fo.synDataSent) c.sendBuf.splitAt(fo.synDataSent - Math.max(acked, 0));
  // Data still queued is a writer that waited for the handshake: it goes out at once, which
  // Linux counts as an answer to the SYN-ACK (sk_write_pending: quick-ACK mode, then pingpong),
  // so the connection leaves quick-ACK mode as after any prompt reply. SYN data the SYN-ACK
  // left unacknowledged is a retransmission instead (tcp_rcv_fastopen_synack), no answer:
  // quick-ACK mode stays, and the peer's first data is ACKed at once.
  if (c.sendBuf.length > 0 && !(fo.synDataSent > 0 && acked < fo.synDataSent)) c.lastDataRcvAt = now;
}
