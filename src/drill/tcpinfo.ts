/**
 * The one kind of packetdrill python block we can run: plain assertions on
 * `tcp_info` fields, e.g.
 *
 * ```
 * +0 %{ assert tcpi_snd_cwnd == 7, tcpi_snd_cwnd }%
 * ```
 *
 * Each statement must be `assert tcpi_<field> <op> <integer or TCP_CA_*>`
 * (an optional `, message` after it). The fields are computed from
 * {@link TcpConnection.info} the way Linux's `tcp_get_info` reports them
 * (windows in segments, times in µs). Anything else in the block — other
 * python, a field we cannot compute, a congestion state we do not track —
 * makes the block unsupported, so the script is skipped rather than passed.
 */
import type { TcpConnection } from '../tcp/connection.js';
import { TcpState } from '../tcp/state.js';

/** One `assert` of a block. */
export interface TcpiAssertion {
  field: string;
  op: '==' | '!=' | '<' | '<=' | '>' | '>=';
  value: number;
  /** `(tcpi_options & MASK) op value`: the field is masked first. */
  mask?: number;
  text: string;
}

// Linux enum tcp_ca_state; only the states we can tell apart are accepted.
const CA_STATES: Record<string, number> = { TCP_CA_Open: 0, TCP_CA_Disorder: 1, TCP_CA_Recovery: 3 };

/** Linux's tcpi_state numbering (include/net/tcp_states.h); FreeBSD scripts name the same states TCPI_*. */
const STATE_NUM: Record<TcpState, number> = {
  [TcpState.Established]: 1, [TcpState.SynSent]: 2, [TcpState.SynReceived]: 3, [TcpState.FinWait1]: 4,
  [TcpState.FinWait2]: 5, [TcpState.TimeWait]: 6, [TcpState.Closed]: 7, [TcpState.CloseWait]: 8,
  [TcpState.LastAck]: 9, [TcpState.Listen]: 10, [TcpState.Closing]: 11,
};
const STATE_NAMES: Record<string, number> = {
  TCP_ESTABLISHED: 1, TCP_SYN_SENT: 2, TCP_SYN_RECV: 3, TCP_FIN_WAIT1: 4, TCP_FIN_WAIT2: 5, TCP_TIME_WAIT: 6,
  TCP_CLOSE: 7, TCP_CLOSE_WAIT: 8, TCP_LAST_ACK: 9, TCP_LISTEN: 10, TCP_CLOSING: 11,
  TCPI_ESTABLISHED: 1, TCPI_SYN_SENT: 2, TCPI_SYN_RECEIVED: 3, TCPI_FIN_WAIT_1: 4, TCPI_FIN_WAIT_2: 5,
  TCPI_TIME_WAIT: 6, TCPI_CLOSED: 7, TCPI_CLOSE_WAIT: 8, TCPI_LAST_ACK: 9, TCPI_LISTEN: 10, TCPI_CLOSING: 11,
};
/** tcpi_options bits (Linux and FreeBSD agree). */
const OPT_BITS: Record<string, number> = { TCPI_OPT_TIMESTAMPS: 1, TCPI_OPT_SACK: 2, TCPI_OPT_WSCALE: 4, TCPI_OPT_ECN: 8, TCPI_OPT_SYN_DATA: 32 };

/** tcpi_state of a connection, or of a listening socket when `c` is the string 'listen'. */
export function tcpiState(state: TcpState): number { return STATE_NUM[state]; }

/** Linux's "no ssthresh yet" value of tcpi_snd_ssthresh. */
const TCP_INFINITE_SSTHRESH = 0x7fffffff;

type Getter = (c: TcpConnection) => number;

/** The fields we compute, from `info()` (and advMss, which info() does not report). */
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
  tcpi_bytes_received: (c) => c.info().bytesReceived,
  // Linux counts whole segments (sacked_out, lost_out); the scoreboard counts bytes, so a partly SACKed or lost segment counts as one.
  tcpi_sacked: (c) => { const i = c.info(); return Math.ceil(i.sackedBytes / i.mss); },
  tcpi_lost: (c) => { const i = c.info(); return Math.ceil(i.lostBytes / i.mss); },
  // Linux icsk_ack.rcv_mss: the largest in-order segment seen (tcp_measure_rcv_mss), which the stack tracks too.
  tcpi_rcv_mss: (c) => c.rcvMss,
  tcpi_state: (c) => STATE_NUM[c.state],
  tcpi_options: (c) => {
    const i = c.info();
    // TCPI_OPT_SYN_DATA: the SYN's data was accepted (server) or acknowledged (client), RFC 7413.
    return (i.timestamps ? 1 : 0) | (i.sack ? 2 : 0) | (i.sndWscale > 0 || i.rcvWscale > 0 ? 4 : 0) | (i.ecn ? 8 : 0)
      | (c.fo !== null && c.fo.synData ? 32 : 0);
  },
  tcpi_ca_state: (c) => {
    const i = c.info();
    if (i.inRecovery) return CA_STATES.TCP_CA_Recovery;
    return i.dupAcks > 0 || i.sackedBytes > 0 ? CA_STATES.TCP_CA_Disorder : CA_STATES.TCP_CA_Open;
  },
};

const STATEMENT = /^assert\s+\(?\s*(tcpi_[a-z_]+)\s*(==|!=|<=|>=|<|>)\s*(\([A-Z_0-9 |]+\)|[A-Za-z_][A-Za-z_0-9]*|0x[0-9a-fA-F]+|\d+)\s*\)?\s*(,.*)?$/;

const MASKED = /^assert\s+\(\s*(tcpi_options)\s*&\s*(\(?[A-Z_ |]+\)?)\s*\)\s*(==|!=)\s*(0x[0-9a-fA-F]+|\d+)\s*(,.*)?$/;

/**
 * Parse a python block into assertions, or return why it cannot run.
 * @param code - the text between `%{` and `}%`
 */
export function parseTcpiBlock(code: string): TcpiAssertion[] | string {
  const out: TcpiAssertion[] = [];
  for (let stmt of code.split(/[\n;]/)) {
    stmt = stmt.replace(/#.*$/, '').trim();
    if (!stmt) continue;
    // `(tcpi_options & TCPI_OPT_X) != 0`: the masked form Linux's Fast Open scripts use.
    const mm = MASKED.exec(stmt);
    if (mm) {
      let mask = 0;
      for (const n of mm[2].replace(/[()]/g, '').split('|').map((x) => x.trim())) {
        if (!(n in OPT_BITS)) return `tcp_info value ${n}`;
        mask |= OPT_BITS[n];
      }
      out.push({ field: mm[1], op: mm[3] as TcpiAssertion['op'], value: Number(mm[4]), mask, text: stmt.replace(/\s*,.*$/, '') });
      continue;
    }
    const m = STATEMENT.exec(stmt);
    if (!m) return `python statement \`${stmt.length > 60 ? stmt.slice(0, 57) + '...' : stmt}\``;
    const [, field, op, rhs] = m;
    if (!FIELDS[field]) return `tcp_info field ${field}`;
    let value: number;
    if (/^(0x[0-9a-fA-F]+|\d+)$/.test(rhs)) value = Number(rhs);
    else if (rhs in CA_STATES && field === 'tcpi_ca_state') value = CA_STATES[rhs];
    else if (rhs in STATE_NAMES && field === 'tcpi_state') value = STATE_NAMES[rhs];
    else if (field === 'tcpi_options' && /^\(?[A-Z_ |]+\)?$/.test(rhs)) {
      value = 0;
      for (const n of rhs.replace(/[()]/g, '').split('|').map((x) => x.trim())) {
        if (!(n in OPT_BITS)) return `tcp_info value ${n}`;
        value |= OPT_BITS[n];
      }
    } else return `tcp_info value ${rhs}`;
    out.push({ field, op: op as TcpiAssertion['op'], value, text: stmt.replace(/\s*,.*$/, '') });
  }
  return out.length > 0 ? out : 'empty python block';
}

/** Check the assertions against a connection: null when all hold, else the first failure's text. */
export function checkTcpi(asserts: TcpiAssertion[], c: TcpConnection | ((field: string) => number | null)): string | null {
  for (const a of asserts) {
    let v = typeof c === 'function' ? c(a.field) : FIELDS[a.field](c);
    if (v !== null && a.mask !== undefined) v &= a.mask;
    if (v === null) return `tcp_info assertion on ${a.field} but the socket under test has no connection`;
    let ok: boolean;
    switch (a.op) {
      case '==': ok = v === a.value; break;
      case '!=': ok = v !== a.value; break;
      case '<': ok = v < a.value; break;
      case '<=': ok = v <= a.value; break;
      case '>': ok = v > a.value; break;
      case '>=': ok = v >= a.value; break;
    }
    if (!ok) return `tcp_info assertion failed: ${a.text} (actual ${a.field} = ${v})`;
  }
  return null;
}
