/**
 * Expectations on what one side of a TcpPair put on the wire, in the spirit
 * of smoltcp's `recv!` / `recv_nothing!`: a cursor over the pair's log that
 * takes the next segment one side sent, checks the fields a test names and,
 * on a mismatch, prints the segment it saw with everything that side sent
 * since the cursor was made, instead of a bare "expected 2 to equal 1".
 *
 * Sequence numbers may be absolute (`seq`, `ack`) or relative to the
 * connection's initial sequence numbers as Wireshark shows them (`relSeq`
 * counts from our ISS, so a SYN is 0 and the first data byte 1; `relAck`
 * counts from the peer's ISS).
 */
import { expect } from 'chai';
import type { TcpPair, WireSeg } from '../tcp-harness.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import { ACK, CWR, ECE, FIN, PSH, RST, SYN, URG } from '../../src/tcp/header.js';

/** The fields a segment must have; those left out are not checked. */
export interface SegmentSpec {
  /** The whole flag byte, exactly. */
  flags?: number;
  /** Flags that must be set (the others may be anything). */
  flagsSet?: number;
  /** Flags that must be clear. */
  flagsClear?: number;
  seq?: number;
  ack?: number;
  /** Sequence number minus the sender's ISS (needs the connection). */
  relSeq?: number;
  /** Acknowledgment number minus the peer's ISS (needs the connection). */
  relAck?: number;
  /** Payload length. */
  len?: number;
  /** Window field as sent (unscaled). */
  window?: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  hasTs?: boolean;
  tsVal?: number;
  tsEcr?: number;
  sackCount?: number;
  /** SACK blocks, absolute, as [start, end, ...]. */
  sack?: number[];
  tos?: number;
  /** Virtual time at which it was sent. */
  at?: number;
}

/** Flag byte as `SYN|ACK`. */
export function flagNames(f: number): string {
  const n: string[] = [];
  for (const [bit, name] of [[SYN, 'SYN'], [FIN, 'FIN'], [RST, 'RST'], [PSH, 'PSH'], [ACK, 'ACK'], [URG, 'URG'], [ECE, 'ECE'], [CWR, 'CWR']] as const) {
    if (f & bit) n.push(name);
  }
  return n.join('|') || '-';
}

/** A spec as `{flags: SYN|ACK, relAck: 1}` for messages. */
export function specString(spec: SegmentSpec): string {
  const parts = Object.entries(spec).map(([k, v]) => `${k}: ${k.startsWith('flags') ? flagNames(v as number) : Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`);
  return `{${parts.join(', ')}}`;
}

/** Options of {@link wire}. */
export interface WireOptions {
  /**
   * The sending side's connection: only its segments (by port) are taken,
   * and it gives the bases of `relSeq` and `relAck`.
   */
  conn?: TcpConnection;
  /** Segments for which this returns false are passed over (as if not sent). */
  only?: (s: WireSeg) => boolean;
  /** Log index to start from (default: the end of the log now). */
  from?: number;
}

/** A cursor over the segments one side of a TcpPair sends. */
export class Wire {
  /** Log index of the next segment to look at. */
  pos: number;
  private readonly start: number;

  constructor(readonly p: TcpPair, readonly side: 'a' | 'b', private readonly opts: WireOptions = {}) {
    this.pos = opts.from ?? p.log.length;
    this.start = this.pos;
  }

  private mine(s: WireSeg): boolean {
    if (s.from !== this.side) return false;
    const c = this.opts.conn;
    if (c !== undefined && (s.srcPort !== c.localPort || s.dstPort !== c.remotePort)) return false;
    return this.opts.only === undefined || this.opts.only(s);
  }

  /** Sequence number of `s` relative to the sender's ISS (needs the connection). */
  relSeq(s: WireSeg): number {
    const c = this.conn();
    return (s.seq - c.iss) >>> 0;
  }

  /** Acknowledgment number of `s` relative to the peer's ISS (needs the connection). */
  relAck(s: WireSeg): number {
    const c = this.conn();
    return (s.ack - c.irs) >>> 0;
  }

  private conn(): TcpConnection {
    const c = this.opts.conn;
    if (c === undefined) throw new Error('relative sequence numbers need the connection: wire(p, side, { conn })');
    return c;
  }

  /** One line for a segment, as the mismatch message prints it. */
  describe(s: WireSeg): string {
    const c = this.opts.conn;
    const rel = c !== undefined ? ` (rel ${(s.seq - c.iss) >>> 0}/${(s.ack - c.irs) >>> 0})` : '';
    const opt: string[] = [];
    if (s.mss) opt.push(`mss=${s.mss}`);
    if (s.wscale >= 0 && s.flags & SYN) opt.push(`ws=${s.wscale}`);
    if (s.sackPermitted) opt.push('sackOK');
    if (s.hasTs) opt.push(`ts=${s.tsVal}/${s.tsEcr}`);
    if (s.sackCount) opt.push(`sack=${s.sack.join(',')}`);
    if (s.tos) opt.push(`tos=${s.tos}`);
    return `${s.from} ${s.srcPort}>${s.dstPort} ${flagNames(s.flags)} seq=${s.seq} ack=${s.ack}${rel} len=${s.len} win=${s.window}`
      + `${opt.length ? ` [${opt.join(' ')}]` : ''} at=${s.at}`;
  }

  /** What the side sent since this cursor was made (for messages). */
  private history(): string {
    const lines = this.p.log.slice(this.start).filter((s) => this.mine(s)).map((s) => `    ${this.describe(s)}`);
    return lines.length ? lines.join('\n') : '    (nothing)';
  }

  /** Segments of this side from the cursor on, without moving it. */
  pending(): WireSeg[] {
    return this.p.log.slice(this.pos).filter((s) => this.mine(s));
  }

  /** Fields of `s` that differ from `spec`, as "name: got ≠ want". */
  mismatches(s: WireSeg, spec: SegmentSpec): string[] {
    const bad: string[] = [];
    const cmp = (name: string, got: unknown, want: unknown): void => {
      if (want !== undefined && JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${name}: ${String(got)} ≠ ${String(want)}`);
    };
    if (spec.flags !== undefined && s.flags !== spec.flags) bad.push(`flags: ${flagNames(s.flags)} ≠ ${flagNames(spec.flags)}`);
    if (spec.flagsSet !== undefined && (s.flags & spec.flagsSet) !== spec.flagsSet) bad.push(`flags: ${flagNames(s.flags)} lacks ${flagNames(spec.flagsSet & ~s.flags)}`);
    if (spec.flagsClear !== undefined && (s.flags & spec.flagsClear) !== 0) bad.push(`flags: ${flagNames(s.flags)} has ${flagNames(s.flags & spec.flagsClear)}`);
    cmp('seq', s.seq, spec.seq === undefined ? undefined : spec.seq >>> 0);
    cmp('ack', s.ack, spec.ack === undefined ? undefined : spec.ack >>> 0);
    if (spec.relSeq !== undefined) cmp('relSeq', this.relSeq(s), spec.relSeq >>> 0);
    if (spec.relAck !== undefined) cmp('relAck', this.relAck(s), spec.relAck >>> 0);
    cmp('len', s.len, spec.len);
    cmp('window', s.window, spec.window);
    cmp('mss', s.mss, spec.mss);
    cmp('wscale', s.wscale, spec.wscale);
    cmp('sackPermitted', s.sackPermitted, spec.sackPermitted);
    cmp('hasTs', s.hasTs, spec.hasTs);
    cmp('tsVal', s.tsVal, spec.tsVal);
    cmp('tsEcr', s.tsEcr, spec.tsEcr);
    cmp('sackCount', s.sackCount, spec.sackCount);
    if (spec.sack !== undefined) cmp('sack', s.sack.join(','), spec.sack.map((x) => x >>> 0).join(','));
    cmp('tos', s.tos, spec.tos);
    cmp('at', s.at, spec.at);
    return bad;
  }

  /**
   * Take the next segment this side sent and check it against `spec`;
   * returns it. Fails when there is none or a field differs.
   */
  expectSegment(spec: SegmentSpec = {}, why = ''): WireSeg {
    const log = this.p.log;
    while (this.pos < log.length && !this.mine(log[this.pos])) this.pos++;
    const label = `${why ? `${why}: ` : ''}expected a segment from ${this.side} ${specString(spec)}`;
    if (this.pos >= log.length) expect.fail(`${label}, but it sent nothing more; since the mark it sent:\n${this.history()}`);
    const s = log[this.pos++];
    const bad = this.mismatches(s, spec);
    if (bad.length) {
      expect.fail(`${label}, but it sent\n    ${this.describe(s)}\n  (${bad.join('; ')}); since the mark it sent:\n${this.history()}`);
    }
    return s;
  }

  /** Take the next `n` segments, each checked against `spec`. */
  expectSegments(n: number, spec: SegmentSpec = {}, why = ''): WireSeg[] {
    const out: WireSeg[] = [];
    for (let i = 0; i < n; i++) out.push(this.expectSegment(spec, `${why ? `${why}, ` : ''}segment ${i + 1} of ${n}`));
    return out;
  }

  /** Fail if this side sent anything after the cursor. */
  expectNothing(why = ''): void {
    const rest = this.pending();
    if (rest.length) {
      expect.fail(`${why ? `${why}: ` : ''}expected nothing more from ${this.side}, but it sent\n${rest.map((s) => `    ${this.describe(s)}`).join('\n')}`);
    }
  }

  /** Take every remaining segment of this side (each checked against `spec`), moving the cursor to the end. */
  takeAll(spec: SegmentSpec = {}, why = ''): WireSeg[] {
    const out: WireSeg[] = [];
    while (this.pending().length) out.push(this.expectSegment(spec, why));
    this.pos = this.p.log.length;
    return out;
  }

  /** Move the cursor to the end of the log (forget what was sent so far). */
  skip(): this {
    this.pos = this.p.log.length;
    return this;
  }
}

/** A cursor over what `side` sends from now on (see {@link Wire}). */
export function wire(p: TcpPair, side: 'a' | 'b', opts: WireOptions | TcpConnection = {}): Wire {
  return new Wire(p, side, isConn(opts) ? { conn: opts } : opts);
}

function isConn(x: WireOptions | TcpConnection): x is TcpConnection {
  return typeof (x as TcpConnection).info === 'function';
}
