/**
 * Two TcpLayers wired back to back in memory for tests: each layer's
 * env.output queues the segment and {@link TcpPair.deliver} hands it to the
 * other layer's input (queued, so a layer is never re-entered while it is
 * sending). A VirtualClock drives both; {@link TcpPair.run} jumps it from
 * deadline to deadline.
 */
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { VirtualClock } from '../src/util/clock.js';
import { Prng } from '../src/util/prng.js';
import { TcpLayer, type TcpEnv } from '../src/tcp/layer.js';
import type { TcpConfig } from '../src/tcp/config.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpSegment, parseTcp } from '../src/tcp/header.js';

export const IP_A = 0x0a000001 as Ip4;
export const IP_B = 0x0a000002 as Ip4;

/** One segment seen on the wire (a copy of its header fields). */
export interface WireSeg {
  from: 'a' | 'b';
  srcPort: number; dstPort: number;
  seq: number; ack: number; flags: number; window: number; len: number;
  hasTs: boolean; tsVal: number; tsEcr: number; sackCount: number; mss: number; wscale: number; sackPermitted: boolean;
  /** SACK blocks as [start, end, start, end, ...] (sackCount pairs). */
  sack: number[];
  /** IP TOS byte the segment was sent with (ECN codepoint in bits 0-1). */
  tos: number;
  at: number;
}

interface Pending { to: TcpLayer; m: Mbuf; src: Ip4; dst: Ip4; from: 'a' | 'b'; tos: number; late?: boolean }

export interface PairOptions {
  poolSize?: number;
  checksumUnneeded?: boolean;
  mtu?: number;
  /** TX offloads and TSO limit of side a (the wire delivers TSO segments whole, as LRO would). */
  txOffloadsA?: number;
  maxTsoSizeA?: number;
  a?: Partial<TcpConfig>;
  b?: Partial<TcpConfig>;
}

export class TcpPair {
  readonly clock = new VirtualClock(1000);
  readonly pool: TsMempool;
  readonly a: TcpLayer;
  readonly b: TcpLayer;
  readonly log: WireSeg[] = [];
  /** Return true to drop a segment instead of delivering it. */
  dropIf?: (s: WireSeg) => boolean;
  /** Return true to mark a segment CE (as a congested router would) on delivery. */
  ceMark?: (s: WireSeg) => boolean;
  /** Seeded random loss, reordering (sent behind what is queued) and duplication. */
  impair?: { prng: Prng; loss: number; reorder: number; dup: number };
  /** Hold segments instead of delivering them (inspect with {@link held}). */
  holding = false;
  readonly held: Pending[] = [];
  private readonly q: Pending[] = [];
  private readonly seg = new TcpSegment();
  readonly startInUse: number;

  constructor(opts: PairOptions = {}) {
    this.pool = new TsMempool({ count: opts.poolSize ?? 8192 });
    this.startInUse = this.pool.inUse();
    const env = (self: Ip4, peer: () => TcpLayer, from: 'a' | 'b'): TcpEnv => ({
      pool: this.pool, clock: this.clock, localIp: self, mtu: opts.mtu ?? 1500,
      txOffloads: from === 'a' ? opts.txOffloadsA ?? 0 : 0,
      checksumUnneeded: opts.checksumUnneeded ?? false, maxTsoSize: from === 'a' ? opts.maxTsoSizeA ?? 0 : 0,
      output: (m, dst, _proto, tos) => { this.q.push({ to: peer(), m, src: self, dst, from, tos }); },
    });
    this.a = new TcpLayer(env(IP_A, () => this.b, 'a'), { isnSecret: new Uint8Array(16).fill(1), ...opts.a });
    this.b = new TcpLayer(env(IP_B, () => this.a, 'b'), { isnSecret: new Uint8Array(16).fill(2), ...opts.b });
  }

  private record(p: Pending): WireSeg {
    const s = this.seg;
    parseTcp(this.pool, p.m, s);
    const w: WireSeg = {
      from: p.from, srcPort: s.srcPort, dstPort: s.dstPort, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, len: s.payloadLen,
      hasTs: s.hasTimestamps, tsVal: s.tsVal, tsEcr: s.tsEcr, sackCount: s.sackCount, mss: s.mss, wscale: s.wscale,
      sackPermitted: s.sackPermitted, sack: Array.from(s.sackBlocks.subarray(0, 2 * s.sackCount)), tos: p.tos, at: this.clock.now(),
    };
    this.log.push(w);
    return w;
  }

  /** Deliver queued segments (and those they cause) until the wire is quiet. */
  deliver(max = 1e7): number {
    let n = 0;
    while (this.q.length > 0 && n < max) {
      const p = this.q.shift()!;
      const w = this.record(p);
      n++;
      if (this.dropIf?.(w)) { this.pool.free(p.m); continue; }
      const imp = this.impair;
      if (imp) {
        if (imp.prng.chance(imp.loss)) { this.pool.free(p.m); continue; }
        if (!p.late && imp.prng.chance(imp.reorder)) { p.late = true; this.q.push(p); continue; }
        if (imp.prng.chance(imp.dup)) {
          const d = this.pool.refSlice(p.m, 0, this.pool.pktLen(p.m));
          if (d !== -1) this.q.push({ ...p, m: d, late: true });
        }
      }
      if (this.holding) { this.held.push(p); continue; }
      const tos = this.ceMark?.(w) ? (p.tos | 3) : p.tos;
      p.to.input(p.m, p.src, p.dst, tos);
    }
    return n;
  }

  /** Inject held segments (in order) and stop holding. */
  release(): void {
    this.holding = false;
    for (const p of this.held.splice(0)) this.q.push(p);
    this.deliver();
  }

  /** Free held segments. */
  discardHeld(): void {
    for (const p of this.held.splice(0)) this.pool.free(p.m);
  }

  /** Tick both layers at the current time and deliver. */
  tick(): void {
    const now = this.clock.now();
    this.a.tick(now);
    this.b.tick(now);
    this.deliver();
  }

  /** Advance the clock by `ms`, stopping at every timer deadline on the way. */
  run(ms: number): void {
    const end = this.clock.now() + ms;
    this.deliver();
    for (let guard = 0; guard < 1e6; guard++) {
      const next = Math.min(this.a.nextDeadline(), this.b.nextDeadline());
      const t = next > this.clock.now() ? next : this.clock.now() + 1; // blocked output: retry each ms
      if (t > end) break;
      this.clock.set(t);
      this.tick();
    }
    this.clock.set(end);
    this.tick();
  }

  /** Close both layers and free anything still on the wire. */
  close(): void {
    this.deliver();
    this.discardHeld();
    this.a.close();
    this.b.close();
    for (const p of this.q.splice(0)) this.pool.free(p.m);
  }
}

/**
 * Write `data` from `client` and step the pair until `server` has read it all
 * (or `maxSteps` steps of `stepMs` have passed); returns what was read.
 */
export function pump(p: TcpPair, client: TcpConnection, server: TcpConnection, data: Uint8Array, stepMs = 5, maxSteps = 20000): Buffer {
  const got: Uint8Array[] = [];
  let have = 0;
  let off = 0;
  for (let i = 0; i < maxSteps && have < data.length; i++) {
    if (off < data.length) off += client.write(data.subarray(off));
    p.deliver();
    for (let d = server.read(); d; d = server.read()) { got.push(d); have += d.length; }
    if (have >= data.length) break;
    p.run(stepMs);
    for (let d = server.read(); d; d = server.read()) { got.push(d); have += d.length; }
  }
  return Buffer.concat(got);
}

/** Deterministic test bytes. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

import { writeTcpHeader, setTcpChecksum, TCP_MIN_HDR } from '../src/tcp/header.js';
import { writeDataOptions } from '../src/tcp/options.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

/** Fields of a hand-made segment. */
export interface Craft {
  srcPort: number; dstPort: number; seq: number; ack?: number; flags: number; window?: number;
  payload?: Uint8Array; ts?: [number, number]; badChecksum?: boolean;
}

/**
 * Build a segment as if sent by the other side and feed it to `to`'s input
 * (after delivering anything queued). Replies land on the wire log.
 */
export function inject(p: TcpPair, to: 'a' | 'b', f: Craft): void {
  const pool = p.pool;
  const m = pool.alloc();
  const optLen = f.ts ? 12 : 0;
  const hdr = TCP_MIN_HDR + optLen;
  const plen = f.payload?.length ?? 0;
  const at = pool.append(m, hdr + plen);
  writeTcpHeader(pool.dv, at, f.srcPort, f.dstPort, f.seq, f.ack ?? 0, f.flags, f.window ?? 65535, hdr);
  if (f.ts) writeDataOptions(pool.dv, at + TCP_MIN_HDR, true, f.ts[0], f.ts[1], new Uint32Array(8), 0);
  if (f.payload) pool.u8.set(f.payload, at + hdr);
  const src = to === 'a' ? IP_B : IP_A;
  const dst = to === 'a' ? IP_A : IP_B;
  setTcpChecksum(pool, m, src, dst);
  if (f.badChecksum) pool.u8[at + 16] ^= 0x55;
  p.deliver();
  (to === 'a' ? p.a : p.b).input(m, src, dst, 0);
  p.deliver();
}
