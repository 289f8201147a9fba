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

/** One `assert` of a block. */
export interface TcpiAssertion {
  field: string;
  op: '==' | '!=' | '<' | '<=' | '>' | '>=';
  value: number;
  text: string;
}

// Linux enum tcp_ca_state; only the states we can tell apart are accepted.
const CA_STATES: Record<string, number> = { TCP_CA_Open: 0, TCP_CA_Disorder: 1, TCP_CA_Recovery: 3 };

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
  tcpi_ca_state: (c) => {
    const i = c.info();
    if (i.inRecovery) return CA_STATES.TCP_CA_Recovery;
    return i.dupAcks > 0 || i.sackedBytes > 0 ? CA_STATES.TCP_CA_Disorder : CA_STATES.TCP_CA_Open;
  },
};

const STATEMENT = /^assert\s+\(?\s*(tcpi_[a-z_]+)\s*(==|!=|<=|>=|<|>)\s*([A-Za-z_]+|0x[0-9a-fA-F]+|\d+)\s*\)?\s*(,.*)?$/;

/**
 * Parse a python block into assertions, or return why it cannot run.
 * @param code - the text between `%{` and `}%`
 */
export function parseTcpiBlock(code: string): TcpiAssertion[] | string {
  const out: TcpiAssertion[] = [];
  for (let stmt of code.split(/[\n;]/)) {
    stmt = stmt.replace(/#.*$/, '').trim();
    if (!stmt) continue;
    const m = STATEMENT.exec(stmt);
    if (!m) return `python statement \`${stmt.length > 60 ? stmt.slice(0, 57) + '...' : stmt}\``;
    const [, field, op, rhs] = m;
    if (!FIELDS[field]) return `tcp_info field ${field}`;
    let value: number;
    if (/^(0x[0-9a-fA-F]+|\d+)$/.test(rhs)) value = Number(rhs);
    else if (rhs in CA_STATES && field === 'tcpi_ca_state') value = CA_STATES[rhs];
    else return `tcp_info value ${rhs}`;
    out.push({ field, op: op as TcpiAssertion['op'], value, text: stmt.replace(/\s*,.*$/, '') });
  }
  return out.length > 0 ? out : 'empty python block';
}

/** Check the assertions against a connection: null when all hold, else the first failure's text. */
export function checkTcpi(asserts: TcpiAssertion[], c: TcpConnection): string | null {
  for (const a of asserts) {
    const v = FIELDS[a.field](c);
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
