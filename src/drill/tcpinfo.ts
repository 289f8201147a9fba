/**
 * packetdrill's python blocks: `tcp_info` of the socket under test, as
 * Linux's `tcp_get_info` reports it, offered to the small Python subset of
 * python.ts, e.g.
 *
 * ```
 * +0 %{ assert tcpi_snd_cwnd == 7, tcpi_snd_cwnd }%
 * +0 %{ assert 15000 <= tcpi_rtt <= 25000, 'rtt=%d' % tcpi_rtt }%
 * ```
 *
 * packetdrill (code.c) defines every `tcpi_*` field of a getsockopt(TCP_INFO)
 * snapshot and the `TCP_*` state, `TCP_CA_*` and `TCPI_OPT_*` names before
 * each block, and runs all blocks in one Python process. The fields here are
 * computed from the connection's own state (windows in segments, times in
 * µs); the segment counts Linux keeps per skb (`tcpi_unacked`,
 * `tcpi_delivered`, `tcpi_retrans`, `tcpi_reordering`) come from a
 * {@link SegLedger}: the segments the stack sent, in the order it sent them,
 * laid over its own SND.UNA and SACK scoreboard. A field not listed makes a
 * block unsupported, so the script is skipped rather than passed.
 */
import type { TcpConnection } from '../tcp/connection.js';
import { TcpState } from '../tcp/state.js';
import { parsePython, namesOf, PyStmt, PySyntaxError } from './python.js';

/** Linux's tcpi_state numbering (include/net/tcp_states.h); FreeBSD scripts name the same states TCPI_*. */
const STATE_NUM: Record<TcpState, number> = {
  [TcpState.Established]: 1, [TcpState.SynSent]: 2, [TcpState.SynReceived]: 3, [TcpState.FinWait1]: 4,
  [TcpState.FinWait2]: 5, [TcpState.TimeWait]: 6, [TcpState.Closed]: 7, [TcpState.CloseWait]: 8,
  [TcpState.LastAck]: 9, [TcpState.Listen]: 10, [TcpState.Closing]: 11,
};

/** The names packetdrill defines for every block (code.c), plus FreeBSD's TCPI_* state names. */
export const TCPI_CONSTANTS: Readonly<Record<string, number>> = {
  TCP_ESTABLISHED: 1, TCP_SYN_SENT: 2, TCP_SYN_RECV: 3, TCP_FIN_WAIT1: 4, TCP_FIN_WAIT2: 5, TCP_TIME_WAIT: 6,
  TCP_CLOSE: 7, TCP_CLOSE_WAIT: 8, TCP_LAST_ACK: 9, TCP_LISTEN: 10, TCP_CLOSING: 11,
  TCPI_ESTABLISHED: 1, TCPI_SYN_SENT: 2, TCPI_SYN_RECEIVED: 3, TCPI_FIN_WAIT_1: 4, TCPI_FIN_WAIT_2: 5,
  TCPI_TIME_WAIT: 6, TCPI_CLOSED: 7, TCPI_CLOSE_WAIT: 8, TCPI_LAST_ACK: 9, TCPI_LISTEN: 10, TCPI_CLOSING: 11,
  // Linux enum tcp_ca_state. (We never report CWR: the stack keeps no state for an ECN reduction in progress.)
  TCP_CA_Open: 0, TCP_CA_Disorder: 1, TCP_CA_CWR: 2, TCP_CA_Recovery: 3, TCP_CA_Loss: 4,
  // tcpi_options bits (Linux and FreeBSD agree on the first four).
  TCPI_OPT_TIMESTAMPS: 1, TCPI_OPT_SACK: 2, TCPI_OPT_WSCALE: 4, TCPI_OPT_ECN: 8, TCPI_OPT_ECN_SEEN: 16,
  TCPI_OPT_SYN_DATA: 32, TCPI_OPT_USEC_TS: 64, TCPI_OPT_TFO_CHILD: 128,
};

/** Values a script may compare tcpi_ca_state with that tzstack cannot produce: the block is unsupported. */
const UNTRACKED_VALUES = new Set(['TCP_CA_CWR']);

/** tcpi_state of a state. */
export function tcpiState(state: TcpState): number { return STATE_NUM[state]; }

/** Linux's "no ssthresh yet" value of tcpi_snd_ssthresh. */
const TCP_INFINITE_SSTHRESH = 0x7fffffff;

/** The scoreboard of SACK recovery (src/tcp/loss.ts SackRecovery.sb), read-only here; absent without SACK. */
interface Ranges { covered(a: number, b: number): number; count: number }
interface Board { sacked: Ranges; lost: Ranges; rtx: Ranges }
function board(c: TcpConnection): Board | null {
  const sb = (c.loss as unknown as { sb?: Board }).sb;
  return sb ?? null;
}

const seqLeq = (a: number, b: number): boolean => ((a - b) | 0) <= 0;
const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;

/** One segment as the stack first sent it (a TSO burst counts as its MSS-sized pieces, as Linux's tcp_skb_pcount). */
interface Seg {
  start: number; end: number; retrans: boolean; sackedSeen: boolean; ackedSeen: boolean;
  /** Data a SYN carried (RFC 7413): Linux does not count it delivered when the SYN-ACK acknowledges it. */
  synData: boolean;
  /** Not counted in tcpi_delivered (see synData). */
  uncounted: boolean;
}

/**
 * The segments one connection sent, for the fields Linux counts per
 * segment: which are outstanding (tcpi_unacked), delivered (acked or
 * SACKed, tcpi_delivered, the SYN or SYN-ACK included), retransmitted and
 * outstanding (tcpi_retrans, the stack's own retransmission marks when it
 * keeps a scoreboard) and how far out of order the peer's SACKs showed
 * them arriving (tcpi_reordering, Linux tcp_check_sack_reordering: the
 * distance in segments from the highest SACKed sequence down to a newly
 * SACKed or ACKed segment that was never retransmitted; default 3).
 */
export class SegLedger {
  private readonly segs: Seg[] = [];
  private high: number | null = null;
  /** Highest sequence SACKed so far (Linux tcp_highest_sack_seq), null before any SACK. */
  private fack: number | null = null;
  reordering = 3;
  reordSeen = 0;
  private rtoEvents = 0;
  private synAcked = false;

  /** A segment the stack sent: [seq, seq + len + SYN + FIN). */
  onSent(c: TcpConnection, seq: number, len: number, syn: boolean, fin: boolean): void {
    // A timeout clears Linux's retransmission marks (tcp_enter_loss); the new retransmissions mark again.
    if (c.lc.rtoEvents !== this.rtoEvents) { this.rtoEvents = c.lc.rtoEvents; for (const s of this.segs) s.retrans = false; }
    const end = (seq + len + (syn ? 1 : 0) + (fin ? 1 : 0)) >>> 0;
    if (end === seq) return;
    let from = seq;
    if (this.high !== null && seqLt(seq, this.high)) {
      for (const s of this.segs) if (seqLt(s.start, end) && seqLt(seq, s.end) && !s.ackedSeen) s.retrans = true;
      if (seqLeq(end, this.high)) return;
      from = this.high;
    }
    // A SYN carrying data is two of Linux's skbs: the SYN and its data.
    if (syn && this.high === null && end !== ((from + 1) >>> 0)) {
      this.segs.push({ start: from, end: (from + 1) >>> 0, retrans: false, sackedSeen: false, ackedSeen: false, synData: false, uncounted: false });
      this.segs.push({ start: (from + 1) >>> 0, end, retrans: false, sackedSeen: false, ackedSeen: false, synData: true, uncounted: false });
      this.high = end;
      return;
    }
    this.segs.push({ start: from, end, retrans: false, sackedSeen: false, ackedSeen: false, synData: false, uncounted: false });
    this.high = end;
  }

  /** After the stack took an ACK: note newly delivered segments and what they say of reordering. */
  onAck(c: TcpConnection): void {
    const sb = board(c);
    const priorFack = this.fack ?? c.sndUna;
    let reord: number | null = null;
    let fack = this.fack;
    for (const s of this.segs) {
      if (s.ackedSeen) continue;
      const acked = seqLeq(s.end, c.sndUna);
      const sacked = !acked && sb !== null && sb.sacked.covered(s.start, s.end) === ((s.end - s.start) >>> 0);
      if (sacked && !s.sackedSeen) {
        s.sackedSeen = true;
        // Newly SACKed below the highest SACK seen before this ACK, never retransmitted: it arrived out of order.
        if (!s.retrans && this.fack !== null && seqLt(s.start, this.fack) && (reord === null || seqLt(s.start, reord))) reord = s.start;
        if (fack === null || seqLt(fack, s.end)) fack = s.end;
      }
      if (acked) {
        if (s.synData && !this.synAcked) s.uncounted = true;
        // Cumulatively ACKed below the highest SACK without being SACKed or retransmitted: out of order too.
        if (!s.sackedSeen && !s.retrans && seqLt(s.start, priorFack) && this.fack !== null && (reord === null || seqLt(s.start, reord))) reord = s.start;
        s.ackedSeen = true;
      }
    }
    this.fack = fack;
    if (c.state !== TcpState.SynSent) this.synAcked = true;
    if (reord !== null && fack !== null && seqLt(reord, fack)) {
      const mss = c.mss;
      const metric = (fack - reord) >>> 0;
      if (metric > this.reordering * mss) this.reordering = Math.min(Math.ceil(metric / mss), 300);
      this.reordSeen++;
    }
  }

  /**
   * Segments of the current MSS in [a, b): Linux re-counts an skb's
   * segments (tcp_set_skb_tso_segs) when the MSS changes, e.g. after a
   * SYN-ACK lowers it below what the SYN's data was sent with.
   */
  private pcount(c: TcpConnection, a: number, b: number): number {
    const n = (b - a) >>> 0;
    return n <= 1 ? 1 : Math.ceil(n / c.mss);
  }

  unacked(c: TcpConnection): number {
    let n = 0;
    for (const s of this.segs) if (seqLt(c.sndUna, s.end)) n += this.pcount(c, seqLt(s.start, c.sndUna) ? c.sndUna : s.start, s.end);
    return n;
  }

  delivered(c: TcpConnection): number {
    const sb = board(c);
    let n = 0;
    for (const s of this.segs) {
      if (s.uncounted) continue;
      if (seqLeq(s.end, c.sndUna) || s.sackedSeen || (sb !== null && sb.sacked.covered(s.start, s.end) === ((s.end - s.start) >>> 0))) n++;
    }
    return n;
  }

  retrans(c: TcpConnection): number {
    const sb = board(c);
    let n = 0;
    for (const s of this.segs) {
      if (seqLeq(s.end, c.sndUna)) continue;
      const from = seqLt(s.start, c.sndUna) ? c.sndUna : s.start;
      if (sb === null) { if (s.retrans) n += this.pcount(c, from, s.end); continue; }
      const cov = sb.rtx.covered(from, s.end);
      if (cov > 0) n += cov <= 1 ? 1 : Math.ceil(cov / c.mss);
      // Sent again outside the scoreboard's recovery (a Fast Open SYN's data after a SYN-ACK
      // that left it unacknowledged: Linux's tcp_rcv_fastopen_synack retransmits it) and not SACKed.
      else if (s.retrans && c.fo !== null && sb.sacked.covered(from, s.end) === 0) n += this.pcount(c, from, s.end);
    }
    return n;
  }
}

const enum Chrono { Unspec = 0, Busy = 1, RwndLimited = 2, SndbufLimited = 3 }

/**
 * Linux's chrono statistics (tcp_chrono_start/stop, tcpi_busy_time,
 * tcpi_rwnd_limited, tcpi_sndbuf_limited), from the connection's state at
 * each step of the run — the state only changes at those steps: busy while
 * data is queued or unacknowledged; receive-window limited while data waits
 * that the congestion window would let out but the peer's window does not
 * (tcp_write_xmit's tcp_snd_wnd_test); send-buffer limited while everything
 * queued is sent, the application wants to write more and the buffer is
 * full (tcp_cwnd_validate with SOCK_NOSPACE). Times in µs, counted in whole
 * ms as Linux's jiffies (HZ 1000).
 */
export class ChronoStats {
  private type = Chrono.Unspec;
  private start = 0;
  private readonly stat = [0, 0, 0, 0];

  /** The connection's state now (virtual ms). */
  observe(c: TcpConnection, now: number): void {
    const t = chronoType(c);
    if (t === this.type) return;
    if (this.type !== Chrono.Unspec) this.stat[this.type] += now - this.start;
    this.type = t;
    this.start = now;
  }

  /** Accumulated µs of one kind up to `now`; busy is the sum of all three (tcp_get_info_chrono_stats). */
  usecs(kind: 'busy' | 'rwnd' | 'sndbuf', now: number): number {
    const at = (t: Chrono): number => Math.floor(this.stat[t] + (this.type === t ? now - this.start : 0)) * 1000;
    if (kind === 'rwnd') return at(Chrono.RwndLimited);
    if (kind === 'sndbuf') return at(Chrono.SndbufLimited);
    return at(Chrono.Busy) + at(Chrono.RwndLimited) + at(Chrono.SndbufLimited);
  }
}

function chronoType(c: TcpConnection): Chrono {
  if (c.state === TcpState.Closed || c.state === TcpState.SynSent || c.state === TcpState.Listen) return Chrono.Unspec;
  const queued = c.sendBuf.length;
  if (queued === 0) return Chrono.Unspec;
  const sent = Math.max(0, ((c.sndNxt - c.bufSeq) | 0));
  const unsent = Math.max(0, queued - sent);
  if (unsent > 0) {
    const next = Math.min(unsent, c.mss);
    const inFlight = Math.max(0, (c.sndNxt - c.sndUna) | 0);
    const cwndOpen = inFlight + next <= c.cc.cwnd;
    const wndEnd = (c.sndUna + c.sndWnd) | 0;
    if (cwndOpen && (((c.sndNxt + next) | 0) - wndEnd | 0) > 0) return Chrono.RwndLimited;
    return Chrono.Busy;
  }
  return c.wantWritable && c.sendSpace() < c.mss ? Chrono.SndbufLimited : Chrono.Busy;
}

/** What a field needs besides the connection. */
export interface TcpiContext {
  ledger: SegLedger;
  /** Virtual now, ms. */
  now: number;
  /** When the connection became established (ms), or null. */
  establishedAt: number | null;
  chrono: ChronoStats;
}

type Getter = (c: TcpConnection, x: TcpiContext) => number;

const caState = (c: TcpConnection): number => {
  const i = c.info();
  const rtoRecovery = (c.loss as unknown as { rtoRecovery?: boolean }).rtoRecovery === true;
  if (rtoRecovery || (c.retries > 0 && !i.sack)) return TCPI_CONSTANTS.TCP_CA_Loss;
  if (i.inRecovery) return TCPI_CONSTANTS.TCP_CA_Recovery;
  return i.dupAcks > 0 || i.sackedBytes > 0 ? TCPI_CONSTANTS.TCP_CA_Disorder : TCPI_CONSTANTS.TCP_CA_Open;
};

/** The fields we compute. */
const FIELDS: Record<string, Getter> = {
  tcpi_snd_cwnd: (c) => { const i = c.info(); return Math.floor(i.cwnd / i.mss); },
  tcpi_snd_ssthresh: (c) => {
    const i = c.info();
    return !Number.isFinite(i.ssthresh) || i.ssthresh >= TCP_INFINITE_SSTHRESH ? TCP_INFINITE_SSTHRESH : Math.floor(i.ssthresh / i.mss);
  },
  tcpi_snd_mss: (c) => c.info().mss,
  tcpi_advmss: (c) => c.advMss,
  tcpi_rto: (c) => Math.round(c.info().rto * 1000),
  tcpi_rtt: (c) => Math.round(c.info().srtt * 1000),
  tcpi_rttvar: (c) => Math.round(c.info().rttvar * 1000),
  tcpi_min_rtt: (c) => Math.round(c.info().minRtt * 1000),
  tcpi_bytes_received: (c) => c.info().bytesReceived,
  tcpi_bytes_retrans: (c) => c.info().bytesRetransmitted,
  tcpi_total_retrans: (c) => c.retransmits(),
  // Linux counts whole segments (sacked_out, lost_out); the scoreboard counts bytes, so a partly SACKed or lost segment counts as one.
  tcpi_sacked: (c) => { const i = c.info(); return Math.ceil(i.sackedBytes / i.mss); },
  tcpi_lost: (c) => { const i = c.info(); return Math.ceil(i.lostBytes / i.mss); },
  tcpi_unacked: (c, x) => x.ledger.unacked(c),
  tcpi_delivered: (c, x) => x.ledger.delivered(c),
  tcpi_retrans: (c, x) => x.ledger.retrans(c),
  tcpi_reordering: (_c, x) => x.ledger.reordering,
  tcpi_reord_seen: (_c, x) => x.ledger.reordSeen,
  // Linux icsk_retransmits: timeouts of the current segment without an answer.
  tcpi_retransmits: (c) => c.retries,
  // Linux icsk_ack.rcv_mss: the largest in-order segment seen (tcp_measure_rcv_mss), which the stack tracks too.
  tcpi_rcv_mss: (c) => c.rcvMss,
  tcpi_snd_wscale: (c) => c.info().sndWscale,
  tcpi_rcv_wscale: (c) => c.info().rcvWscale,
  tcpi_snd_wnd: (c) => c.info().sndWnd,
  tcpi_rcv_wnd: (c) => c.info().rcvWnd,
  // Linux icsk_ack.lrcvtime: the last in-order data, or the handshake's end before any (tcp_finish_connect); ms ago.
  tcpi_last_data_recv: (c, x) => {
    const at = Math.max(c.lastDataRcvAt, x.establishedAt ?? -Infinity);
    return Number.isFinite(at) ? Math.floor(x.now - at) : 0;
  },
  tcpi_busy_time: (_c, x) => x.chrono.usecs('busy', x.now),
  tcpi_rwnd_limited: (_c, x) => x.chrono.usecs('rwnd', x.now),
  tcpi_sndbuf_limited: (_c, x) => x.chrono.usecs('sndbuf', x.now),
  tcpi_state: (c) => STATE_NUM[c.state],
  tcpi_options: (c) => {
    const i = c.info();
    // TCPI_OPT_SYN_DATA: the SYN's data was accepted (server) or acknowledged (client), RFC 7413.
    return (i.timestamps ? 1 : 0) | (i.sack ? 2 : 0) | (i.sndWscale > 0 || i.rcvWscale > 0 ? 4 : 0) | (i.ecn ? 8 : 0)
      | (c.fo !== null && c.fo.synData ? 32 : 0);
  },
  tcpi_ca_state: caState,
};

/** A field of the connection, or undefined when we do not compute it. */
export function tcpiField(name: string, c: TcpConnection, x: TcpiContext): number | undefined {
  const g = FIELDS[name];
  return g ? g(c, x) : undefined;
}

/** Whether tcpiField computes `name`. */
export function isTcpiField(name: string): boolean { return name in FIELDS; }

/**
 * Parse a python block and check it only reads what we can give it: tcp_info
 * fields we compute, packetdrill's constants, and variables the script
 * assigns somewhere (`assigned`, over all its blocks).
 * @returns the statements, or why the block cannot run
 */
export function compileTcpiBlock(code: string, assigned: ReadonlySet<string>): PyStmt[] | string {
  let stmts: PyStmt[];
  try {
    stmts = parsePython(code);
  } catch (e) {
    if (e instanceof PySyntaxError) return `python ${e.message}`;
    throw e;
  }
  if (stmts.length === 0) return 'empty python block';
  const { reads } = namesOf(stmts);
  for (const n of reads) {
    if (UNTRACKED_VALUES.has(n)) return `tcp_info value ${n}`;
    if (n in FIELDS || n in TCPI_CONSTANTS || assigned.has(n)) continue;
    return n.startsWith('tcpi_') ? `tcp_info field ${n}` : `python name ${n}`;
  }
  return stmts;
}

/** Names a block assigns (so other blocks may read them); empty when it does not parse. */
export function assignedNames(code: string): Set<string> {
  try {
    return namesOf(parsePython(code)).writes;
  } catch {
    return new Set();
  }
}
