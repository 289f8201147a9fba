/**
 * Model-based property tests of the TCP state machine.
 *
 * A standalone TcpLayer (no Stack) on a VirtualClock talks to a scripted
 * peer: fast-check generates sequences of application commands (connect,
 * listen, accept, send, recv, close, shutdown, abort), peer segments (SYN,
 * SYN-ACK, ACK, data, FIN, RST, RST-ACK with the sequence number left of the
 * receive window, at its edge, inside or right of it, and acknowledgment
 * numbers old, current or from the future) and clock advances. Each command
 * also advances a small pure model of every connection (test/helpers/tcp-model.ts:
 * state, SND.UNA, RCV.NXT, bytes written, readable and queued, FIN seen),
 * and after every command the harness checks:
 *
 * - the connection agrees with the model: the state it predicts (exactly
 *   where RFC 9293 leaves no choice, else one of the states the diagram
 *   allows), RCV.NXT and SND.UNA where predicted, bytes readable and bytes
 *   read, bytes queued for sending, what write() accepts, peerClosed;
 * - every connection object moves only along the RFC 9293 state diagram
 *   (and never leaves CLOSED);
 * - SND.UNA ≤ SND.NXT ≤ SND.MAX;
 * - every emitted segment parses, has a valid checksum, and when it carries
 *   ACK, acknowledges RCV.NXT of its connection (except a RST answering a
 *   segment without ACK, whose ack is SEG.SEQ+SEG.LEN by RFC 9293);
 *   segments without ACK are only SYNs and RSTs;
 * - no RST ever answers a RST;
 * - the bytes the application reads are a prefix of what the peer sent (the
 *   peer's byte at sequence number s is always f(s), so any mix of
 *   retransmitted, overlapping and out-of-window segments describes one
 *   stream);
 * - nothing throws on any input;
 * and at the end `layer.close()` returns every mbuf and timer.
 *
 * Failures print fast-check's seed and path; found failures are kept below
 * as fixed seeds. `TCP_MODEL_RUNS` sets the number of random runs; the
 * random runs' seed is fixed unless TCP_MODEL_SEED or TZSTACK_SEED sets it.
 */
import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { VirtualClock } from '../src/util/clock.js';
import { TcpLayer, type TcpEnv, type TcpListener } from '../src/tcp/layer.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpState } from '../src/tcp/state.js';
import {
  ACK, FIN, PSH, RST, SYN, URG, TcpSegment, parseTcp, setTcpChecksum, tcpChecksumOk, writeTcpHeader,
} from '../src/tcp/header.js';
import { dataOptionsLength, synOptionsLength, writeDataOptions, writeSynOptions, type SynOptions } from '../src/tcp/options.js';
import { seqAdd, seqDiff, seqLeq } from '../src/tcp/seq.js';
import {
  STATE_NAMES as NAMES, appStep, clockStep, newModel, reconcile, segmentStep, writeAccepts,
  type AppOp, type ConnModel, type ConnSnapshot, type Expectation, type PeerSegment,
} from './helpers/tcp-model.js';
import { pinnedSeed } from './helpers/seed.js';
import type { Ip4 } from '../src/ip/addr.js';

const LOCAL_IP = 0x0a000001 as Ip4;
const PEER_IP = 0x0a000002 as Ip4;
const LOCAL_PORT = 80;
const PEER_PORT = 5555;
const S = TcpState;
const SND_BUF = 1 << 16;
const TIME_WAIT_MS = 60000;

/** The peer's byte at sequence number s: one stream whatever the segment boundaries. */
function peerByte(s: number): number {
  return (Math.imul(s >>> 0, 2654435761) >>> 24) & 0xff;
}

/** Transitions observed (printed with TCP_MODEL_STATS=1, to see what the generator reaches). */
const STATS: Record<string, number> = {};

type SeqPos = 'left' | 'edge' | 'inside' | 'right';
type AckPos = 'old' | 'una' | 'mid' | 'nxt' | 'future';
type Kind = 'SYN' | 'SYN-ACK' | 'ACK' | 'DATA' | 'FIN' | 'RST' | 'RST-ACK'
  // senseless or unusual flag combinations (bad input)
  | 'NONE' | 'SYN-FIN' | 'FIN-NOACK' | 'URG-DATA' | 'SYN-RST';

interface Emitted { conn: TcpConnection | null; segLen: number; win: number; sack: number[]; flags: number; seq: Seq; ack: number; srcPort: number; dstPort: number; rcvNxt: number | null; note: string }

/** The TCP layer under test plus the scripted peer and the invariants. */
class Harness {
  readonly pool = new TsMempool({ count: 1024 });
  readonly clock = new VirtualClock(1000);
  readonly layer: TcpLayer;
  listener: TcpListener | null = null;
  /** Every connection object seen, with its last observed state. */
  readonly seen = new Map<TcpConnection, TcpState>();
  /** The model of every connection seen. */
  readonly models = new Map<TcpConnection, ConnModel>();
  /** What the model expects of each connection after the command being run. */
  private expected = new Map<TcpConnection, Expectation>();
  /** Last observed RCV.NXT and SND.UNA per connection (they never move back). */
  readonly marks = new Map<TcpConnection, { rcvNxt: Seq; sndUna: Seq; sndMax: Seq }>();
  /** Highest right window edge each connection has offered. */
  readonly edges = new Map<TcpConnection, Seq>();
  /** Bytes read per connection. */
  readonly delivered = new Map<TcpConnection, number[]>();
  emitted: Emitted[] = [];
  private readonly seg = new TcpSegment();
  private readonly sackBuf = new Uint32Array(8);
  /** Peer's view: options it uses and its timestamp clock. */
  peerTs: boolean;
  peerSack: boolean;
  peerWs: number;
  peerTsClock = 1;
  lastTsSeen = 0;
  readonly log: string[] = [];
  /** TCP_MODEL_TRACE=1 prints every step as it happens (to find a hang). */
  private readonly trace = process.env.TCP_MODEL_TRACE !== undefined;
  note(line: string): void {
    this.log.push(line);
    // eslint-disable-next-line no-console
    if (this.trace) console.error(line);
  }

  constructor(cfg: { ts: boolean; sack: boolean; ws: number; ourTs: boolean; ourSack: boolean }) {
    this.peerTs = cfg.ts;
    this.peerSack = cfg.sack;
    this.peerWs = cfg.ws;
    const env: TcpEnv = {
      pool: this.pool,
      clock: this.clock,
      localIp: LOCAL_IP,
      mtu: 1500,
      txOffloads: 0,
      checksumUnneeded: false,
      maxTsoSize: 0,
      output: (m, dst, proto) => this.capture(m, dst, proto),
    };
    this.layer = new TcpLayer(env, {
      isnSecret: new Uint8Array(16).fill(42), timestamps: cfg.ourTs, sack: cfg.ourSack, rcvBuf: 1 << 16, sndBuf: SND_BUF,
      timeWaitMs: TIME_WAIT_MS, cc: 'newreno',
    });
  }

  /** The live connection on our 4-tuple, if any. */
  conn(): TcpConnection | null {
    for (const c of this.layer.connections()) {
      if (c.localPort === LOCAL_PORT && c.remotePort === PEER_PORT && c.remoteIp === PEER_IP) return c;
    }
    return null;
  }

  private capture(m: Mbuf, dst: Ip4, proto: number): void {
    const pool = this.pool;
    try {
      expect(proto, 'IP protocol').to.equal(6);
      expect(dst, 'destination').to.equal(PEER_IP);
      expect(tcpChecksumOk(pool, m, LOCAL_IP, dst), 'emitted checksum').to.equal(true);
      const seg = this.seg;
      expect(parseTcp(pool, m, seg), 'emitted header parses').to.equal(0);
      const c = this.conn();
      const match = c !== null && seg.srcPort === c.localPort && seg.dstPort === c.remotePort;
      if (seg.hasTimestamps) this.lastTsSeen = seg.tsVal;
      if (match && !(seg.flags & (RST | SYN)) && (seg.flags & ACK)) {
        // the right edge we offer never moves left (RFC 9293 §3.8.6.2.2)
        const edge = seqAdd(seg.ack, seg.window * (1 << c.rcvWscale));
        const prev = this.edges.get(c);
        // Tolerance: less than one unit of the window scale. The layer rounds a
        // scaled window up to keep its promise but then holds RCV.ADV at the
        // unrounded edge, so the next ACK may offer up to 2^shift − 1 bytes less
        // (reported to Engineer TCP; Linux commits to the rounded edge).
        if (prev !== undefined) {
          expect(seqDiff(prev, edge) < (1 << c.rcvWscale), `window shrank: edge ${prev} → ${edge}: ${flagStr(seg.flags)} ack=${seg.ack} win=${seg.window}`).to.equal(true);
        }
        if (prev === undefined || seqLeq(prev, edge)) this.edges.set(c, edge);
      }
      if (match && !(seg.flags & (RST | SYN)) && seg.payloadLen > 1) {
        // new data stays inside the peer's window (a 1-byte zero-window probe may not)
        const maxBefore = this.marks.get(c)?.sndMax;
        const end = seqAdd(seg.seq, seg.payloadLen);
        if (maxBefore === undefined || seqLeq(maxBefore, seg.seq)) {
          expect(seqLeq(end, seqAdd(c.sndUna, c.sndWnd)), `new data beyond the peer's window (una ${c.sndUna} wnd ${c.sndWnd}): seq=${seg.seq} len=${seg.payloadLen}`).to.equal(true);
        }
      }
      this.emitted.push({
        conn: match ? c : null, segLen: seg.segLen(), win: seg.window,
        sack: Array.from(seg.sackBlocks.subarray(0, 2 * seg.sackCount)),
        flags: seg.flags, seq: seg.seq, ack: seg.ack, srcPort: seg.srcPort, dstPort: seg.dstPort,
        rcvNxt: match ? c.rcvNxt : null,
        note: `${flagStr(seg.flags)} seq=${seg.seq} ack=${seg.ack} len=${seg.payloadLen}${seg.sackCount ? ` sack=${Array.from(seg.sackBlocks.subarray(0, 2 * seg.sackCount)).join(',')}` : ''}${match ? ` [${NAMES[c.state]} rcvNxt=${c.rcvNxt}]` : ''}`,
      });
    } finally {
      pool.free(m);
    }
  }

  /** What the model is shown of a connection. */
  snapshot(c: TcpConnection): ConnSnapshot {
    return {
      state: c.state, iss: c.iss, irs: c.irs, sndUna: c.sndUna, sndMax: c.sndMax, rcvNxt: c.rcvNxt, rcvAdv: c.rcvAdv,
      readable: c.readable(), sendQueued: c.sendQueued(), peerClosed: c.peerClosed, ts: c.info().timestamps,
    };
  }

  /** The model's step for every connection: `live` (the one on our 4-tuple) gets `step`, the others stay put. */
  plan(step: ((m: ConnModel, snap: ConnSnapshot) => Expectation) | null, others: (m: ConnModel) => Expectation = (m) => appStep(m, 'other')): void {
    const live = this.conn();
    this.expected = new Map();
    for (const [c, m] of this.models) this.expected.set(c, c === live && step !== null ? step(m, this.snapshot(c)) : others(m));
  }

  /** write() accepted `n` bytes on `c`. */
  addWritten(c: TcpConnection, n: number): void {
    const x = this.expected.get(c);
    if (x !== undefined) x.next.written += n;
  }

  /** The model of the connection on our 4-tuple, if there is one. */
  model(): ConnModel | undefined {
    const c = this.conn();
    return c === null ? undefined : this.models.get(c);
  }

  /** Compare every connection with what the model expected of it, and carry the model on. */
  private reconcileAll(): void {
    for (const [c, m] of this.models) {
      const x = this.expected.get(c) ?? appStep(m, 'other');
      STATS[x.states.length === 1 ? 'modelExactState' : 'modelOpenState'] = (STATS[x.states.length === 1 ? 'modelExactState' : 'modelOpenState'] ?? 0) + 1;
      if (x.rcvNxt !== undefined && m.state !== S.Closed) STATS.modelExactRcvNxt = (STATS.modelExactRcvNxt ?? 0) + 1;
      const { errors, model } = reconcile(x, m, this.snapshot(c), this.clock.now());
      if (errors.length) throw new Error(`connection ${c.localPort}>${c.remotePort} iss ${c.iss} disagrees with the model: ${errors.join('; ')}`);
      this.models.set(c, model);
    }
    this.expected = new Map();
  }

  /** Observe every connection and check the invariants after a command. */
  check(injected: { flags: number } | null): void {
    this.reconcileAll();
    const c = this.conn();
    if (c !== null && !this.seen.has(c)) {
      expect([S.SynSent, S.SynReceived], `new connection state ${NAMES[c.state]}`).to.include(c.state);
      this.seen.set(c, c.state);
      this.delivered.set(c, []);
      this.models.set(c, newModel(this.snapshot(c)));
    }
    // what we send lies in [SND.UNA − 1 (keepalive/probe), SND.MAX]
    for (const e of this.emitted) {
      const k = e.conn;
      if (k === null || (e.flags & RST)) continue;
      const una0 = this.marks.get(k)?.sndUna ?? k.iss;
      expect(seqLeq(seqAdd(una0, -1), e.seq), `segment below SND.UNA−1 (${una0}): ${e.note}`).to.equal(true);
      expect(seqLeq(seqAdd(e.seq, e.segLen), k.sndMax), `segment beyond SND.MAX ${k.sndMax}: ${e.note}`).to.equal(true);
    }
    for (const [k, before] of this.seen) {
      const now = k.state;
      if (before !== now) STATS[`${NAMES[before]}>${NAMES[now]}`] = (STATS[`${NAMES[before]}>${NAMES[now]}`] ?? 0) + 1;
      this.seen.set(k, now);
      if (now !== S.Closed) {
        expect(seqLeq(k.sndUna, k.sndNxt), `SND.UNA ${k.sndUna} ≤ SND.NXT ${k.sndNxt}`).to.equal(true);
        expect(seqLeq(k.sndNxt, k.sndMax), `SND.NXT ${k.sndNxt} ≤ SND.MAX ${k.sndMax}`).to.equal(true);
        const mk = this.marks.get(k);
        if (mk !== undefined && before !== S.SynSent) {
          expect(seqLeq(mk.rcvNxt, k.rcvNxt), `RCV.NXT moved back ${mk.rcvNxt} → ${k.rcvNxt}`).to.equal(true);
          expect(seqLeq(mk.sndUna, k.sndUna), `SND.UNA moved back ${mk.sndUna} → ${k.sndUna}`).to.equal(true);
        }
        this.marks.set(k, { rcvNxt: k.rcvNxt, sndUna: k.sndUna, sndMax: k.sndMax });
      }
      // bytes read are the peer's stream from IRS+1
      const d = this.delivered.get(k)!;
      for (let i = 0; i < d.length; i++) {
        if (d[i] !== peerByte(seqAdd(k.irs, 1 + i))) throw new Error(`byte ${i} delivered wrong: ${d[i]} != ${peerByte(seqAdd(k.irs, 1 + i))}`);
      }
    }
    const answeringNoAck = injected !== null && (injected.flags & ACK) === 0;
    STATS.emitted = (STATS.emitted ?? 0) + this.emitted.length;
    for (const e of this.emitted) {
      if (injected !== null && (injected.flags & RST)) {
        expect(e.flags & RST, `RST answering a RST: ${e.note}`).to.equal(0);
      }
      // SACK blocks (RFC 2018): non-empty, above the cumulative ACK; a first block at or
      // below it, or inside the second one, is a D-SACK (RFC 2883 §4)
      if (e.sack.length) STATS.sackSegs = (STATS.sackSegs ?? 0) + 1;
      for (let i = 0; i < e.sack.length; i += 2) {
        const [bs, be] = [e.sack[i], e.sack[i + 1]];
        expect(seqDiff(be, bs), `SACK block not empty: ${e.note}`).to.be.greaterThan(0);
        const dsack = i === 0 && (seqLeq(be, e.ack) || (e.sack.length >= 4 && seqLeq(e.sack[2], bs) && seqLeq(be, e.sack[3])));
        if (!dsack) expect(seqDiff(bs, e.ack), `SACK block above the ACK: ${e.note}`).to.be.greaterThan(0);
      }
      if (e.flags & ACK) {
        const rstReply = (e.flags & RST) !== 0 && answeringNoAck;
        if (!rstReply && e.rcvNxt !== null) expect(e.ack, `ack = RCV.NXT: ${e.note}`).to.equal(e.rcvNxt);
      } else {
        expect(e.flags & (SYN | RST), `segment without ACK must be SYN or RST: ${e.note}`).to.not.equal(0);
      }
    }
    for (const e of this.emitted) this.note(`  < ${e.note}`);
    this.emitted = [];
  }

  /** Build and inject a peer segment. */
  inject(p: PeerSeg): { flags: number; seg: PeerSegment } {
    const c = this.conn();
    const flags = {
      'SYN': SYN, 'SYN-ACK': SYN | ACK, 'ACK': ACK, 'DATA': ACK | PSH, 'FIN': FIN | ACK, 'RST': RST, 'RST-ACK': RST | ACK,
      'NONE': 0, 'SYN-FIN': SYN | FIN, 'FIN-NOACK': FIN, 'URG-DATA': ACK | URG | PSH, 'SYN-RST': SYN | RST | ACK,
    }[p.kind];
    let seq: number;
    if (c !== null && c.state !== S.SynSent && c.state !== S.Closed) {
      const base = c.rcvNxt;
      const wnd = Math.max(0, seqDiff(c.rcvAdv, c.rcvNxt));
      switch (p.seqPos) {
        case 'left': seq = seqAdd(base, -(1 + (p.k % 3000))); break;
        case 'edge': seq = base; break;
        case 'inside': seq = seqAdd(base, wnd > 1 ? 1 + (p.k % (wnd - 1)) : 0); break;
        default: seq = seqAdd(base, wnd + (p.k % 3000)); break;
      }
    } else {
      seq = p.isn >>> 0;
    }
    let ack: number;
    if (c !== null) {
      const una = c.sndUna;
      const max = c.sndMax;
      const span = Math.max(0, seqDiff(max, una));
      switch (p.ackPos) {
        case 'old': ack = seqAdd(una, -(1 + (p.k % 70000))); break;
        case 'una': ack = una; break;
        case 'mid': ack = seqAdd(una, p.k % (span + 1)); break;
        case 'nxt': ack = max; break;
        default: ack = seqAdd(max, 1 + (p.k % 70000)); break;
      }
    } else {
      ack = p.k >>> 0;
    }
    if (!(flags & ACK)) ack = 0;
    const len = p.kind === 'DATA' || p.kind === 'URG-DATA' ? 1 + (p.len % 1400)
      : p.kind === 'FIN' || p.kind === 'NONE' || p.kind === 'SYN' ? p.len % 3 === 0 ? p.len % 500 : 0 : 0;
    const syn = (flags & SYN) !== 0;
    let optLen: number;
    const so: SynOptions = { mss: 1460, wscale: this.peerWs, sackPermitted: this.peerSack, hasTs: this.peerTs, tsVal: this.peerTsClock, tsEcr: flags & ACK ? this.lastTsSeen : 0 };
    // SACK blocks (when the peer uses SACK): up to 3 blocks somewhere in [SND.UNA, SND.MAX], some bogus
    const blocks = this.sackBuf;
    let nBlocks = 0;
    if (!syn && (flags & ACK) && this.peerSack && c !== null && p.sack !== undefined && p.sack > 0) {
      nBlocks = 1 + (p.sack % 3);
      const span = Math.max(1, seqDiff(c.sndMax, c.sndUna));
      for (let i = 0; i < nBlocks; i++) {
        const r = Math.imul(p.sack + i, 2654435761) >>> 0;
        const a = r % span;
        const b = a + 1 + ((r >>> 8) % Math.max(1, span - a));
        blocks[2 * i] = seqAdd(c.sndUna, (r & 7) === 0 ? -a : a);
        blocks[2 * i + 1] = seqAdd(c.sndUna, (r & 0x70) === 0 ? b + 70000 : b);
      }
    }
    if (syn) optLen = synOptionsLength(so); else optLen = dataOptionsLength(this.peerTs, nBlocks);
    const hdr = 20 + optLen;
    const pool = this.pool;
    const m = pool.alloc();
    if (m < 0) throw new Error('test pool exhausted');
    const at = pool.append(m, hdr + len);
    if (at < 0) throw new Error('segment too large for one mbuf');
    writeTcpHeader(pool.dv, at, PEER_PORT, LOCAL_PORT, seq, ack, flags, p.win, hdr);
    if (syn) writeSynOptions(pool.dv, at + 20, so);
    else writeDataOptions(pool.dv, at + 20, this.peerTs, p.oldTs ? (this.peerTsClock - 100000) >>> 0 : this.peerTsClock, this.lastTsSeen, blocks, nBlocks);
    if (flags & URG) pool.dv.setUint16(at + 18, 1 + (p.k % 100));
    this.peerTsClock = (this.peerTsClock + 1) >>> 0;
    const first = seqAdd(seq, syn ? 1 : 0);
    for (let i = 0; i < len; i++) pool.u8[at + hdr + i] = peerByte(seqAdd(first, i));
    setTcpChecksum(pool, m, PEER_IP, LOCAL_IP);
    if (p.corrupt) pool.u8[at + 4] ^= 0x10;
    const seg: PeerSegment = { flags, seq, ack, len, corrupt: p.corrupt, oldTs: p.oldTs === true && this.peerTs };
    this.plan((m, snap) => segmentStep(m, snap, seg));
    this.note(`> ${p.kind} seq=${seq} ack=${ack} len=${len} win=${p.win}${nBlocks ? ` sack=${Array.from(blocks.subarray(0, 2 * nBlocks)).join(',')}` : ''}${p.corrupt ? ' (bad checksum)' : ''}${p.oldTs ? ' (old TSval)' : ''} flags=${flagStr(flags)}${c ? ` [${NAMES[c.state]} rcvNxt=${c.rcvNxt} una=${c.sndUna} max=${c.sndMax}]` : ''}`);
    this.layer.input(m, PEER_IP, LOCAL_IP, 0);
    return { flags: p.corrupt ? 0 : flags, seg };
  }

  /** Read everything readable; returns how many bytes that was. */
  recv(): number {
    const c = this.conn();
    if (c === null) return 0;
    const d = this.delivered.get(c) ?? [];
    this.delivered.set(c, d);
    const before = d.length;
    for (let b = c.read(); b !== null; b = c.read()) d.push(...b);
    STATS.bytesRead = (STATS.bytesRead ?? 0) + d.length;
    return d.length - before;
  }
}

function flagStr(f: number): string {
  const n: string[] = [];
  if (f & SYN) n.push('SYN'); if (f & FIN) n.push('FIN'); if (f & RST) n.push('RST'); if (f & PSH) n.push('PSH'); if (f & ACK) n.push('ACK'); if (f & URG) n.push('URG');
  return n.join('|') || '-';
}

interface PeerSeg { kind: Kind; seqPos: SeqPos; ackPos: AckPos; k: number; len: number; win: number; isn: number; corrupt: boolean; sack?: number; oldTs?: boolean }

type Model = Record<string, never>;
type Cmd = fc.Command<Model, Harness>;

class AppCmd implements Cmd {
  constructor(readonly op: 'connect' | 'listen' | 'accept' | 'send' | 'recv' | 'close' | 'shutdown' | 'abort' | 'closeListener', readonly n = 0) {}
  check(): boolean { return true; }
  run(_m: Model, h: Harness): void {
    const c = h.conn();
    h.note(`app ${this.toString()}${c ? ` [${NAMES[c.state]}]` : ''}`);
    const op: AppOp = this.op === 'send' || this.op === 'recv' || this.op === 'close' || this.op === 'shutdown' || this.op === 'abort' ? this.op : 'other';
    if (this.op === 'closeListener') {
      // Closing the listener resets the connections it has not handed out.
      h.plan(null, (m) => appStep(m, 'other', h.listener !== null));
    } else {
      h.plan((m) => appStep(m, op));
    }
    const model = h.model();
    switch (this.op) {
      case 'connect':
        if (c === null) {
          const nc = h.layer.connect(PEER_IP, PEER_PORT, { localPort: LOCAL_PORT });
          expect(nc.state).to.equal(S.SynSent);
        }
        break;
      case 'listen':
        if (h.listener === null) h.listener = h.layer.listen(LOCAL_PORT);
        break;
      case 'closeListener':
        h.listener?.close();
        h.listener = null;
        break;
      case 'accept':
        h.listener?.accept();
        break;
      case 'send':
        if (c !== null) {
          const b = new Uint8Array(this.n);
          for (let i = 0; i < b.length; i++) b[i] = i & 0xff;
          const want = model !== undefined ? writeAccepts(model, h.snapshot(c), this.n, SND_BUF) : -1;
          const got = c.write(b);
          expect(got).to.be.within(0, this.n);
          // (a pool running low may take less: the model leaves the pool out)
          if (want >= 0 && h.pool.available() > 400) expect(got, `write(${this.n}) accepted`).to.equal(want);
          if (model !== undefined) h.addWritten(c, got);
        }
        break;
      case 'recv': {
        const want = model?.readable ?? 0;
        const got = h.recv();
        expect(got, 'bytes read = bytes the model holds readable').to.equal(want);
        break;
      }
      case 'close': c?.close(); break;
      case 'shutdown': c?.shutdown(); break;
      case 'abort': c?.abort(); break;
    }
    h.check(null);
  }
  toString(): string { return this.op === 'send' ? `send(${this.n})` : this.op; }
}

class PeerCmd implements Cmd {
  constructor(readonly p: PeerSeg) {}
  check(): boolean { return true; }
  run(_m: Model, h: Harness): void {
    const inj = h.inject(this.p);
    h.check(inj);
  }
  toString(): string { return `peer(${JSON.stringify(this.p)})`; }
}

/** ooo: data beyond a hole; dup: data already received (D-SACK). */
type SmartChoice = 'data' | 'fin' | 'finUna' | 'ack' | 'ooo' | 'dup';

/** A well-behaved peer move for the current state, so runs get deep into the diagram. */
class SmartPeerCmd implements Cmd {
  constructor(readonly choice: SmartChoice, readonly len: number, readonly isn: number) {}
  check(): boolean { return true; }
  run(_m: Model, h: Harness): void {
    const c = h.conn();
    let kind: Kind;
    if (c === null) kind = 'SYN';
    else if (c.state === S.SynSent) kind = 'SYN-ACK';
    else if (c.state === S.SynReceived) kind = 'ACK';
    else kind = this.choice === 'ack' ? 'ACK' : this.choice === 'fin' || this.choice === 'finUna' ? 'FIN' : 'DATA';
    const seqPos: SeqPos = this.choice === 'ooo' ? 'inside' : this.choice === 'dup' ? 'left' : 'edge';
    // 'finUna' does not acknowledge our FIN: simultaneous close (CLOSING)
    const ackPos: AckPos = this.choice === 'finUna' ? 'una' : 'nxt';
    const inj = h.inject({ kind, seqPos, ackPos, k: this.len * 7, len: this.len, win: 65535, isn: this.isn, corrupt: false });
    h.check(inj);
  }
  toString(): string { return `smartPeer(${this.choice},${this.len},${this.isn})`; }
}

class ClockCmd implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean { return true; }
  run(_m: Model, h: Harness): void {
    h.clock.advance(this.ms);
    h.plan(null, (m) => clockStep(m, h.clock.now(), TIME_WAIT_MS));
    h.note(`clock +${this.ms} → ${h.clock.now()}`);
    h.layer.tick(h.clock.now());
    h.check(null);
  }
  toString(): string { return `advance(${this.ms})`; }
}

const peerSegArb: fc.Arbitrary<PeerSeg> = fc.record({
  kind: fc.constantFrom<Kind>('SYN', 'SYN-ACK', 'ACK', 'ACK', 'DATA', 'DATA', 'DATA', 'FIN', 'RST', 'RST-ACK',
    'NONE', 'SYN-FIN', 'FIN-NOACK', 'URG-DATA', 'SYN-RST'),
  seqPos: fc.constantFrom<SeqPos>('left', 'edge', 'edge', 'edge', 'inside', 'right'),
  ackPos: fc.constantFrom<AckPos>('old', 'una', 'mid', 'nxt', 'nxt', 'nxt', 'future'),
  k: fc.nat(),
  len: fc.nat(),
  win: fc.constantFrom(0, 1, 1000, 65535, 65535),
  isn: fc.constantFrom(0, 0xfffffff0, 123456789, 0x7fffffff),
  corrupt: fc.nat(9).map((x) => x === 0),
  sack: fc.oneof(fc.constant(0), fc.nat()),
  oldTs: fc.nat(9).map((x) => x === 0),
});

const smartArb = fc.record({
  choice: fc.constantFrom<SmartChoice>('data', 'data', 'ack', 'ack', 'fin', 'finUna', 'ooo', 'ooo', 'dup'),
  len: fc.nat(3000),
  isn: fc.constantFrom(0, 0xfffffff0, 123456789, 0x7fffffff),
}).map((r) => new SmartPeerCmd(r.choice, r.len, r.isn));

const commandsArb = fc.commands([
  fc.constant(new AppCmd('connect')),
  fc.constant(new AppCmd('connect')),
  fc.constant(new AppCmd('listen')),
  fc.constant(new AppCmd('listen')),
  fc.constant(new AppCmd('accept')),
  fc.constant(new AppCmd('closeListener')),
  fc.integer({ min: 1, max: 5000 }).map((n) => new AppCmd('send', n)),
  fc.constant(new AppCmd('recv')),
  fc.constant(new AppCmd('close')),
  fc.constant(new AppCmd('shutdown')),
  fc.constant(new AppCmd('abort')),
  peerSegArb.map((p) => new PeerCmd(p)),
  peerSegArb.map((p) => new PeerCmd(p)),
  peerSegArb.map((p) => new PeerCmd(p)),
  smartArb, smartArb, smartArb, smartArb, smartArb,
  fc.constantFrom(1, 10, 40, 200, 1000, 3000, 30000, 61000, 130000).map((ms) => new ClockCmd(ms)),
], { maxCommands: 80, size: 'large' });

const configArb = fc.record({
  ts: fc.boolean(), sack: fc.constantFrom(true, true, false), ws: fc.constantFrom(-1, 0, 7, 14), ourTs: fc.boolean(),
  ourSack: fc.constantFrom(true, true, false),
});

function property(): fc.IPropertyWithHooks<[{ ts: boolean; sack: boolean; ws: number; ourTs: boolean; ourSack: boolean }, Iterable<Cmd>]> {
  return fc.property(configArb, commandsArb, (cfg, cmds) => {
    const h = new Harness(cfg);
    h.note(`--- run ${JSON.stringify(cfg)}`);
    try {
      fc.modelRun(() => ({ model: {} as Model, real: h }), cmds);
      h.layer.close();
      expect(h.layer.connectionCount(), 'connections after close()').to.equal(0);
      expect(h.layer.timers.size, 'timers after close()').to.equal(0);
      for (const [c] of h.seen) expect(c.state, 'state after close()').to.equal(S.Closed);
      expect(h.pool.inUse(), 'mbufs after close()').to.equal(0);
    } catch (e) {
      (e as Error).message += `\n--- trace (config ${JSON.stringify(cfg)}) ---\n${h.log.slice(-60).join('\n')}`;
      throw e;
    }
  });
}

/** Failures found earlier, replayed first (seed, path as fast-check printed them). */
const REGRESSIONS: Array<{ seed: number; path?: string; why: string }> = [
  // Seed of the first failure found (shutdown() in SYN-RECEIVED, then ACK+FIN: SYN-RECEIVED → CLOSING,
  // a legal path the model first rejected). The generators have grown since, so the exact case
  // lives on as the first scripted regression below; the seed stays as one more fixed run.
  { seed: 3, path: '127', why: 'fixed seed of the first failure' },
];

describe('tcp model: state machine properties (fast-check commands)', function () {
  this.timeout(120000);

  for (const r of REGRESSIONS) {
    it(`regression seed ${r.seed} (${r.why})`, () => {
      fc.assert(property(), { seed: r.seed, path: r.path, numRuns: 1, endOnFailure: true });
    });
  }

  /** Scripted regressions: exact command lists, independent of the generators. */
  const SCRIPTS: Array<{ name: string; cmds: () => Cmd[] }> = [
    {
      name: 'shutdown() in SYN-RECEIVED, then one segment with ACK+FIN (→ CLOSING through the queued FIN)',
      cmds: () => [
        new AppCmd('listen'), new SmartPeerCmd('ack', 0, 0), new AppCmd('shutdown'), new AppCmd('accept'),
        new PeerCmd({ kind: 'FIN', seqPos: 'edge', ackPos: 'nxt', k: 0, len: 55, win: 65535, isn: 0, corrupt: false }),
        new ClockCmd(1000), new SmartPeerCmd('ack', 0, 0), new ClockCmd(61000),
      ],
    },
    {
      name: 'simultaneous open and close',
      cmds: () => [
        new AppCmd('connect'),
        new PeerCmd({ kind: 'SYN', seqPos: 'edge', ackPos: 'nxt', k: 0, len: 0, win: 65535, isn: 0xfffffff0, corrupt: false }),
        new SmartPeerCmd('ack', 0, 0), new AppCmd('send', 3000), new SmartPeerCmd('data', 2000, 0),
        new AppCmd('recv'), new AppCmd('close'), new SmartPeerCmd('finUna', 0, 0), new SmartPeerCmd('ack', 0, 0),
        new ClockCmd(130000),
      ],
    },
    {
      name: 'RSTs left, at, inside and right of the window; RST answering nothing',
      cmds: () => [
        new AppCmd('listen'), new SmartPeerCmd('ack', 0, 7), new SmartPeerCmd('ack', 0, 7),
        ...(['left', 'inside', 'right'] as SeqPos[]).map((seqPos) => new PeerCmd({ kind: 'RST', seqPos, ackPos: 'nxt', k: 5, len: 0, win: 0, isn: 0, corrupt: false })),
        new PeerCmd({ kind: 'RST-ACK', seqPos: 'edge', ackPos: 'nxt', k: 0, len: 0, win: 0, isn: 0, corrupt: false }),
        new PeerCmd({ kind: 'RST', seqPos: 'edge', ackPos: 'nxt', k: 0, len: 0, win: 0, isn: 0, corrupt: false }),
      ],
    },
  ];
  for (const sc of SCRIPTS) {
    it(`script: ${sc.name}`, () => {
      const cfg = { ts: true, sack: true, ws: 7, ourTs: true, ourSack: true };
      const h = new Harness(cfg);
      try {
        fc.modelRun(() => ({ model: {} as Model, real: h }), sc.cmds());
        h.layer.close();
        expect(h.pool.inUse()).to.equal(0);
      } catch (e) {
        (e as Error).message += `\n--- trace ---\n${h.log.join('\n')}`;
        throw e;
      }
    });
  }

  // Pinned (TCP_MODEL_SEED or TZSTACK_SEED explore others); a failure prints fast-check's seed and path,
  // which join REGRESSIONS above.
  const seed = pinnedSeed(911, 'TCP_MODEL_SEED');
  it(`random command sequences keep every invariant (seed ${seed})`, () => {
    const runs = Number(process.env.TCP_MODEL_RUNS ?? 150);
    try {
      fc.assert(property(), { numRuns: runs, seed, endOnFailure: process.env.TCP_MODEL_NO_SHRINK !== undefined });
      // eslint-disable-next-line no-console
      if (process.env.TCP_MODEL_STATS) console.log(STATS);
    } catch (e) {
      // eslint-disable-next-line no-console
      console.error(`tcp-model failed with seed ${seed} (rerun: TCP_MODEL_SEED=${seed})`);
      throw e;
    }
  });
});
