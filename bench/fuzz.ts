/**
 * Whole-stack fuzzing at scale.
 *
 *   npm run fuzz -- --frames N [--seed S] [--quiet]
 *
 * Drives structured and random frames — Ethernet, ARP, IPv4 (fragments
 * too), ICMP, UDP, TCP, valid and broken, single-segment and chained —
 * through a complete {@link Stack} whose TCP serves live connections: the
 * fuzzer plays the peer, opens connections with real handshakes, follows
 * each connection's sequence numbers from what the stack sends, and aims
 * segments inside and outside their windows, with valid, odd and malformed
 * options. The TCP of a fixed fifth of the peer's ports runs over IPv6
 * (the same segments in IPv6 frames, {@link toV6}), so the IPv6 demux,
 * pseudo-header checksums and IPv6 replies are fuzzed with the rest.
 *
 * Out-of-packet reads are made observable two ways:
 * - every buffer the pool hands out (and every spare byte around a frame
 *   the fuzzer injects) is filled with poison that depends on the byte's
 *   address, and no frame the stack sends may contain 8 or more consecutive
 *   poison bytes (it sent bytes nobody wrote);
 * - the same frames go, in lockstep, through a second world whose poison
 *   differs: every frame either stack sends and every counter must be
 *   identical, so a decision taken on a byte outside data_len shows.
 * Crashes (exceptions from the stack) are caught, counted and the worlds
 * rebuilt; at the end every mbuf must be back in the pools. The report
 * gives frames/s, crashes, out-of-packet reads, leaked mbufs and every
 * drop reason the stack counted.
 */
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import type { Port } from '../src/pmd/port.js';
import { Stack } from '../src/stack.js';
import { parseIpv6 } from '../src/ip/addr6.js';
import { ipv6Of, ipv6Protocol } from '../src/ipv6-attach.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import type { TcpListener } from '../src/tcp/layer.js';
import { TcpState } from '../src/tcp/state.js';
import { VirtualClock } from '../src/util/clock.js';
import { Prng } from '../src/util/prng.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

const MAC_US = Uint8Array.of(2, 0, 0, 0, 0, 1);
const MAC_PEER = Uint8Array.of(2, 0, 0, 0, 0, 2);
const BCAST = Uint8Array.of(255, 255, 255, 255, 255, 255);
const IP_US = 0x0a480001; // 10.72.0.1
const IP_PEER = 0x0a480002 as Ip4; // 10.72.0.2
const POOL_MBUFS = 2048;
/** The stack's and the peer's IPv6 addresses: TCP of a fifth of the peer's ports goes over IPv6 ({@link toV6}). */
const IP6_US = 'fd00:72::1';
const IP6_PEER = 'fd00:72::2';
const V6_US = parseIpv6(IP6_US);
const V6_PEER = parseIpv6(IP6_PEER);
/** Consecutive poison bytes in a sent frame that count as an out-of-packet read. */
const POISON_RUN = 8;
/** The application aborts a connection with nothing to read for this long (virtual ms). */
const IDLE_ABORT_MS = 300_000;

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  frames: number;
  seed: number;
  /** Print progress every this many frames (0: never). */
  progressEvery?: number;
  /** Called with world A's stack at each progress report (diagnostics). */
  inspect?: (stack: Stack) => void;
}

/** What a fuzz run found. */
export interface FuzzReport {
  frames: number;
  seed: number;
  /** Frames per second of wall time (both lockstep worlds together). */
  framesPerSec: number;
  crashes: number;
  /** Frames the two worlds answered differently, or frames carrying poison. */
  outOfPacketReads: number;
  /** Mbufs not back in the pools after the stacks closed. */
  leakedMbufs: number;
  /** First problems, with the frame index to replay from (seed, frames). */
  problems: string[];
  /** Frames the stack sent, connections the fuzzer completed handshakes for. */
  framesSent: number;
  connections: number;
  /** How deep the frames got: TCP connections the stack opened and established, payload bytes it took in and sent. */
  depth: { passiveOpens: number; established: number; tcpRxBytes: number; tcpTxBytes: number; icmpEchoes: number };
  /** Every non-zero drop counter, by "layer.reason". */
  drops: Record<string, number>;
}

// ---------------------------------------------------------------- bytes

function sum16(b: Uint8Array, off: number, len: number, acc = 0): number {
  let s = acc;
  for (let i = 0; i + 1 < len; i += 2) s += (b[off + i] << 8) | b[off + i + 1];
  if (len & 1) s += b[off + len - 1] << 8;
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
function put16(b: Uint8Array, o: number, v: number): void { b[o] = (v >>> 8) & 0xff; b[o + 1] = v & 0xff; }
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}
function get16(b: Uint8Array, o: number): number { return (b[o] << 8) | b[o + 1]; }
function get32(b: Uint8Array, o: number): number { return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0; }

function ethFrame(dst: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0); f.set(MAC_PEER, 6); put16(f, 12, type); f.set(payload, 14);
  return f;
}

interface IpOpts { id?: number; frag?: number; ttl?: number; src?: number; dst?: number; ihlOpts?: Uint8Array; tos?: number }

function ipPacket(proto: number, payload: Uint8Array, o: IpOpts = {}): Uint8Array {
  const opt = o.ihlOpts ?? new Uint8Array(0);
  const hl = 20 + opt.length;
  const p = new Uint8Array(hl + payload.length);
  p[0] = 0x40 | (hl >>> 2); p[1] = o.tos ?? 0; put16(p, 2, p.length); put16(p, 4, o.id ?? 0);
  put16(p, 6, o.frag ?? 0x4000); p[8] = o.ttl ?? 64; p[9] = proto;
  put32(p, 12, o.src ?? IP_PEER); put32(p, 16, o.dst ?? IP_US);
  p.set(opt, 20);
  put16(p, 10, ~fold(sum16(p, 0, hl)) & 0xffff);
  p.set(payload, hl);
  return p;
}

/** Recompute the IPv4 header checksum and a TCP/UDP/ICMP checksum of an Ethernet frame, where it parses. */
function fixChecksums(f: Uint8Array): void {
  if (f.length < 34 || get16(f, 12) !== 0x0800) return;
  const hl = (f[14] & 15) << 2;
  if (hl < 20 || 14 + hl > f.length) return;
  put16(f, 24, 0);
  put16(f, 24, ~fold(sum16(f, 14, hl)) & 0xffff);
  const total = Math.min(get16(f, 16), f.length - 14);
  const l4 = 14 + hl;
  const len = total - hl;
  if (len < 8 || (get16(f, 20) & 0x3fff) !== 0) return;
  const proto = f[23];
  const pseudo = (): number => sum16(f, 26, 8, proto + len);
  if (proto === 6 && len >= 20) { put16(f, l4 + 16, 0); put16(f, l4 + 16, ~fold(sum16(f, l4, len, pseudo())) & 0xffff); }
  else if (proto === 17) { put16(f, l4 + 6, 0); put16(f, l4 + 6, ~fold(sum16(f, l4, len, pseudo())) & 0xffff || 0xffff); }
  else if (proto === 1) { put16(f, l4 + 2, 0); put16(f, l4 + 2, ~fold(sum16(f, l4, len)) & 0xffff); }
}

// ---------------------------------------------------------------- TCP over IPv6

/** Whether the peer's connections from `port` run over IPv6 (a fixed fifth of the ports, no randomness drawn). */
function v6Port(port: number): boolean { return (Math.imul(port, 0x9e3779b1) >>> 29) < 2; }

/**
 * The same TCP segment over IPv6: an IPv4 frame carrying TCP (unfragmented,
 * with lengths that parse) from a {@link v6Port} becomes an IPv6 frame
 * from the peer's IPv6 address to ours, its checksum recomputed over the
 * IPv6 pseudo-header when it was right over IPv4 (a deliberately wrong one
 * stays wrong). Anything else is returned as it is.
 */
function toV6(f: Uint8Array): Uint8Array {
  if (f.length < 34 || get16(f, 12) !== 0x0800 || f[23] !== 6) return f;
  const hl = (f[14] & 15) << 2;
  const total = get16(f, 16);
  if (hl < 20 || total < hl + 20 || 14 + total > f.length || (get16(f, 20) & 0x3fff) !== 0) return f;
  const t = 14 + hl;
  if (!v6Port(get16(f, t))) return f;
  const len = total - hl;
  const ok = fold(sum16(f, t, len, sum16(f, 26, 8, 6 + len))) === 0xffff;
  const g = new Uint8Array(14 + 40 + len);
  g.set(f.subarray(0, 12), 0);
  put16(g, 12, 0x86dd);
  put32(g, 14, (0x60000000 | (f[15] << 20)) >>> 0);
  put16(g, 18, len);
  g[20] = 6;
  g[21] = 64;
  for (let i = 0; i < 4; i++) { put32(g, 22 + 4 * i, V6_PEER[i]); put32(g, 38 + 4 * i, V6_US[i]); }
  g.set(f.subarray(t, t + len), 54);
  if (ok) {
    put16(g, 54 + 16, 0);
    put16(g, 54 + 16, ~fold(sum16(g, 54, len, sum16(g, 22, 32, 6 + len))) & 0xffff);
  }
  return g;
}

/** A TCP segment the stack sent over IPv6, as the IPv4 frame the peer's bookkeeping reads (null if it is none). */
function fromV6(f: Uint8Array): Uint8Array | null {
  if (f.length < 74 || get16(f, 12) !== 0x86dd || f[20] !== 6) return null;
  const len = Math.min(get16(f, 18), f.length - 54);
  const g = new Uint8Array(34 + len);
  g.set(f.subarray(0, 12), 0);
  put16(g, 12, 0x0800);
  g[14] = 0x45;
  put16(g, 16, 20 + len);
  g[23] = 6;
  g.set(f.subarray(54, 54 + len), 34);
  return g;
}

// ---------------------------------------------------------------- the peer's view of connections

interface PeerConn {
  port: number;
  /** Our next sequence number (the stack's RCV.NXT as last acknowledged). */
  seq: number;
  /** The stack's next sequence number as seen in what it sent (its SND.NXT). */
  theirs: number;
  synAcked: boolean;
  tsVal: number;
  /** The stack's last TSval (to echo). */
  tsEcr: number;
}

// ---------------------------------------------------------------- a world: pool, link, stack, application

/** A pool whose every handed-out buffer is filled with address-dependent poison first. */
class PoisonedPool extends TsMempool {
  constructor(count: number, readonly image: Uint8Array, name: string) {
    super({ count, name });
    // Each data buffer (headroom included), never the mbuf headers between them.
    const all = new Uint32Array(count);
    if (super.allocBulk(all, count)) {
      for (const m of all as Iterable<Mbuf>) this.poisonBuffer(m);
      this.freeBulk(all, count);
    }
  }
  override allocBulk(out: Uint32Array, n: number): boolean {
    if (!super.allocBulk(out, n)) return false;
    for (let k = 0; k < n; k++) this.poisonBuffer(out[k] as Mbuf);
    return true;
  }
  poisonBuffer(m: Mbuf): void {
    const s = this.bufStart(m);
    this.u8.set(this.image.subarray(s, s + this.bufLenOf(m)), s);
  }
}

function poisonImage(bytes: number, seed: number): Uint8Array {
  const img = new Uint8Array(bytes);
  const r = new Prng(seed);
  for (let i = 0; i < bytes; i += 4) {
    const v = r.u32();
    img[i] = v & 0xff; img[i + 1] = (v >>> 8) & 0xff; img[i + 2] = (v >>> 16) & 0xff; img[i + 3] = v >>> 24;
  }
  return img;
}

class World {
  readonly pool: PoisonedPool;
  readonly clock = new VirtualClock(1000);
  readonly stack: Stack;
  readonly peer: Port;
  private readonly listeners: TcpListener[] = [];
  private readonly conns: TcpConnection[] = [];
  private readonly lastActive = new Map<TcpConnection, number>();
  private readonly one = new Uint32Array(1);
  private readonly rx = new Uint32Array(64);
  /** Frames the stack sent in the last step (bytes, for comparison and parsing). */
  readonly out: Uint8Array[] = [];
  poisonHits = 0;

  constructor(image: Uint8Array, name: string) {
    this.pool = new PoisonedPool(POOL_MBUFS, image, name);
    const [a, b] = createLinkPair(this.pool, { checksumUnneeded: false });
    this.peer = b;
    this.stack = new Stack({
      port: a, ip: '10.72.0.1/24', clock: this.clock, idleBackoff: false,
      tcp: { isnSecret: new Uint8Array(16).fill(7) }, ipv4: { idSecret: new Uint8Array(16).fill(9) },
      protocols: [ipv6Protocol({ addresses: [`${IP6_US}/64`], linkLocal: false, nd: { dadTransmits: 0, routerSolicitations: 0 } })],
    });
    this.stack.arp.addStatic(IP_PEER, MAC_PEER);
    ipv6Of(this.stack)!.nd.addStatic(V6_PEER, MAC_PEER);
    for (const p of [80, 7]) this.listeners.push(this.stack.tcp.listen(p));
  }

  /** Inject one frame (split into segments of `segs` bytes when given), poll, run the application, collect output. */
  step(frame: Uint8Array, segs: number[] | null, advanceMs: number): void {
    const pool = this.pool;
    const m = segs ? this.chain(frame, segs) : this.single(frame);
    if (m >= 0) { this.one[0] = m; this.peer.txBurst(this.one, 1); }
    this.out.length = 0;
    this.stack.poll();
    this.app();
    this.stack.poll();
    this.drain();
    if (advanceMs > 0) {
      this.clock.advance(advanceMs);
      this.stack.poll();
      this.app();
      this.stack.poll();
      this.drain();
    }
    void pool;
  }

  private single(frame: Uint8Array): Mbuf {
    const pool = this.pool;
    const m = pool.fromBytes(frame);
    return m;
  }

  private chain(frame: Uint8Array, sizes: number[]): number {
    const pool = this.pool;
    let head = -1 as Mbuf;
    let off = 0;
    for (let i = 0; off < frame.length || i === 0; i++) {
      const n = i < sizes.length ? Math.min(sizes[i], frame.length - off) : frame.length - off;
      const m = pool.alloc();
      if (m < 0) { if (head >= 0) pool.free(head); return -1; }
      const at = pool.append(m, n);
      pool.u8.set(frame.subarray(off, off + n), at);
      off += n;
      if (head < 0) head = m; else pool.chain(head, m);
      if (i > 64) break;
    }
    return head;
  }

  /** The application: accept, echo what arrives, close after a while. Identical in both worlds. */
  private app(): void {
    for (const l of this.listeners) {
      for (let c = l.accept(); c !== null; c = l.accept()) this.conns.push(c);
    }
    const now = this.clock.now();
    for (let i = this.conns.length - 1; i >= 0; i--) {
      const c = this.conns[i];
      for (let d = c.read(); d !== null; d = c.read()) {
        this.lastActive.set(c, now);
        if (d.length > 0 && d[0] === 0x51 /* 'Q' */) c.close();
        else c.write(d);
      }
      if (c.state === TcpState.CloseWait) c.close(); // the peer finished: so do we
      // Connections the fuzzer forgot would otherwise idle forever (no keepalive): abort them.
      const last = this.lastActive.get(c) ?? now;
      if (!this.lastActive.has(c)) this.lastActive.set(c, now);
      if (now - last > IDLE_ABORT_MS && c.state !== TcpState.Closed) c.abort();
      if (c.state === TcpState.Closed) { this.conns.splice(i, 1); this.lastActive.delete(c); }
    }
  }

  private drain(): void {
    const pool = this.pool;
    const rx = this.rx;
    for (let n = this.peer.rxBurst(rx, 64); n > 0; n = this.peer.rxBurst(rx, 64)) {
      for (let i = 0; i < n; i++) {
        if (this.carriesPoison(rx[i] as Mbuf)) this.poisonHits++;
        this.out.push(pool.toBytes(rx[i] as Mbuf));
        pool.free(rx[i] as Mbuf);
      }
    }
  }

  /** Whether any segment of `m` has POISON_RUN consecutive bytes equal to the poison at their address. */
  private carriesPoison(m: Mbuf): boolean {
    const pool = this.pool;
    const u8 = pool.u8;
    const img = pool.image;
    for (let s = m; s >= 0; s = pool.next(s)) {
      const off = pool.mtod(s);
      const end = off + pool.dataLen(s);
      let run = 0;
      for (let i = off; i < end; i++) {
        if (u8[i] === img[i]) { if (++run >= POISON_RUN) return true; } else run = 0;
      }
    }
    return false;
  }

  async close(): Promise<number> {
    for (const c of this.conns) c.abort();
    await this.stack.close();
    this.peer.close();
    return this.pool.inUse();
  }

  stats(): Record<string, unknown> { return this.stack.stats(); }
}

// ---------------------------------------------------------------- the generator

class Generator {
  readonly conns: PeerConn[] = [];
  private nextPort = 20000;
  private ipId = 1;
  connections = 0;

  constructor(private readonly r: Prng) {}

  /** Learn from what the stack sent: SYN-ACKs, data, ACKs and RSTs of our connections. */
  observe(out: Uint8Array[]): void {
    for (const sent of out) {
      const f = fromV6(sent) ?? sent;
      if (f.length < 54 || get16(f, 12) !== 0x0800 || f[23] !== 6) continue;
      const hl = (f[14] & 15) << 2;
      const t = 14 + hl;
      if (t + 20 > f.length) continue;
      const dport = get16(f, t + 2);
      const c = this.conns.find((x) => x.port === dport);
      if (!c) continue;
      const seq = get32(f, t + 4);
      const ack = get32(f, t + 8);
      const flags = f[t + 13];
      const doff = (f[t + 12] >>> 4) << 2;
      const len = get16(f, 16) - hl - doff;
      if (flags & 0x04) { this.conns.splice(this.conns.indexOf(c), 1); continue; }
      if (flags & 0x02) { c.theirs = (seq + 1) >>> 0; c.synAcked = true; }
      const end = (seq + Math.max(0, len) + (flags & 0x01 ? 1 : 0)) >>> 0;
      if (((end - c.theirs) | 0) > 0) c.theirs = end;
      if (flags & 0x10) c.seq = ack;
      for (let o = t + 20; o + 1 < t + doff;) {
        const k = f[o];
        if (k === 0) break;
        if (k === 1) { o++; continue; }
        if (k === 8 && o + 10 <= t + doff) c.tsEcr = get32(f, o + 2);
        o += Math.max(2, f[o + 1]);
      }
    }
  }

  private bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.r.u32() & 0xff;
    return b;
  }

  private tcpOptions(syn: boolean, c: PeerConn | null): Uint8Array {
    const r = this.r;
    const o: number[] = [];
    const pick = r.int(10);
    if (pick < 5 && c) {
      o.push(1, 1, 8, 10);
      const ts = new Uint8Array(8); put32(ts, 0, c.tsVal = (c.tsVal + 1 + r.int(3)) >>> 0); put32(ts, 4, c.tsEcr);
      o.push(...ts);
    }
    if (syn && r.chance(0.8)) o.push(2, 4, 5, 0xb4, 4, 2, 1, 3, 3, r.int(16));
    if (!syn && c && r.chance(0.3)) {
      const n = 1 + r.int(3);
      o.push(1, 1, 5, 2 + 8 * n);
      for (let i = 0; i < n; i++) {
        const b = new Uint8Array(8);
        const s = (c.theirs - r.int(20000) + r.int(4000)) >>> 0;
        put32(b, 0, s); put32(b, 4, (s + 1 + r.int(3000)) >>> 0);
        o.push(...b);
      }
    }
    if (r.chance(0.1)) {
      // malformed: a zero or one length, a known kind with a wrong length, an unknown kind, a length past the end
      switch (r.int(4)) {
        case 0: o.push(r.int(40), r.int(2)); break;
        case 1: o.push(8, 6, 0, 0, 0, 0); break;
        case 2: o.push(99, 4, 1, 2); break;
        default: o.push(5, 30); break;
      }
    }
    while (o.length % 4 !== 0) o.push(r.chance(0.5) ? 1 : 0);
    return Uint8Array.from(o.slice(0, 40));
  }

  private tcp(c: PeerConn | null, sport: number, dport: number, seq: number, ack: number, flags: number, payload: Uint8Array): Uint8Array {
    const opts = this.tcpOptions((flags & 0x02) !== 0, c);
    const h = new Uint8Array(20 + opts.length + payload.length);
    put16(h, 0, sport); put16(h, 2, dport); put32(h, 4, seq); put32(h, 8, ack);
    h[12] = ((20 + opts.length) >>> 2) << 4; h[13] = flags; put16(h, 14, this.r.chance(0.05) ? 0 : 65535);
    if (this.r.chance(0.02)) put16(h, 18, this.r.int(65536));
    h.set(opts, 20); h.set(payload, 20 + opts.length);
    const f = ethFrame(MAC_US, 0x0800, ipPacket(6, h, { id: this.ipId++ & 0xffff, tos: this.r.chance(0.05) ? 3 : 0 }));
    fixChecksums(f);
    return f;
  }

  private liveTcp(): Uint8Array {
    const r = this.r;
    const c = this.conns[r.int(this.conns.length)];
    if (!c.synAcked) return this.tcp(c, c.port, 80, c.seq, 0, 0x02, new Uint8Array(0));
    // Mostly in the window; sometimes just outside, sometimes anywhere.
    const d = r.int(10);
    const seq = d < 7 ? c.seq : d < 9 ? (c.seq + (r.chance(0.5) ? 1 : -1) * (1 + r.int(70000))) >>> 0 : r.u32();
    const a = r.int(10);
    const ack = a < 7 ? c.theirs : a < 9 ? (c.theirs - r.int(3000)) >>> 0 : r.u32();
    let flags = 0x10;
    const f = r.int(100);
    if (f < 4) flags |= 0x01; // FIN
    else if (f < 6) flags = 0x04 | (r.chance(0.5) ? 0x10 : 0); // RST
    else if (f < 8) flags |= 0x02; // SYN on a live connection
    else if (f < 10) flags = r.int(256);
    if (r.chance(0.5)) flags |= 0x08;
    const len = r.chance(0.4) ? 0 : r.chance(0.9) ? r.int(600) : r.int(1461);
    const p = this.bytes(len);
    if (len > 0 && p[0] === 0x51 && r.chance(0.8)) p[0] = 0x52; // closes are rarer than 'Q' bytes
    return this.tcp(c, c.port, 80, seq, ack, flags, p);
  }

  /** A SYN for a new connection; when the table is full, first an exact RST that ends the oldest. */
  private newSyn(): Uint8Array[] {
    const r = this.r;
    const port = this.nextPort = this.nextPort >= 65000 ? 20000 : this.nextPort + 1;
    const dport = r.chance(0.8) ? 80 : r.chance(0.5) ? 7 : 1 + r.int(65535);
    const c: PeerConn = { port, seq: r.u32(), theirs: 0, synAcked: false, tsVal: r.u32(), tsEcr: 0 };
    const out: Uint8Array[] = [];
    if (dport === 80) {
      if (this.conns.length >= 32) {
        const old = this.conns.shift()!;
        if (old.synAcked) out.push(this.bareTcp(old.port, 80, old.seq, 0, 0x04));
      }
      this.conns.push(c);
      this.connections++;
    }
    out.push(this.tcp(c, port, dport, c.seq, 0, 0x02, new Uint8Array(0)));
    c.seq = (c.seq + 1) >>> 0;
    return out;
  }

  /** A TCP segment without options (the RST that retires a connection). */
  private bareTcp(sport: number, dport: number, seq: number, ack: number, flags: number): Uint8Array {
    const h = new Uint8Array(20);
    put16(h, 0, sport); put16(h, 2, dport); put32(h, 4, seq); put32(h, 8, ack);
    h[12] = 5 << 4; h[13] = flags; put16(h, 14, 65535);
    const f = ethFrame(MAC_US, 0x0800, ipPacket(6, h, { id: this.ipId++ & 0xffff }));
    fixChecksums(f);
    return f;
  }

  private handshakeAck(): Uint8Array | null {
    const c = this.conns.find((x) => x.synAcked && x.theirs !== 0);
    if (!c) return null;
    return this.tcp(c, c.port, 80, c.seq, c.theirs, 0x10, new Uint8Array(0));
  }

  private arpFrame(): Uint8Array {
    const r = this.r;
    const a = new Uint8Array(28);
    put16(a, 0, 1); put16(a, 2, 0x0800); a[4] = 6; a[5] = 4; put16(a, 6, r.chance(0.5) ? 1 : 2);
    a.set(MAC_PEER, 8); put32(a, 14, r.chance(0.8) ? IP_PEER : (IP_PEER & 0xffffff00) | r.int(256));
    a.set(r.chance(0.5) ? MAC_US : new Uint8Array(6), 18); put32(a, 24, r.chance(0.8) ? IP_US : r.u32());
    return ethFrame(r.chance(0.5) ? BCAST : MAC_US, 0x0806, a);
  }

  private icmp(): Uint8Array {
    const r = this.r;
    let body: Uint8Array;
    if (r.chance(0.6)) {
      body = new Uint8Array(8 + r.int(r.chance(0.9) ? 120 : 1472));
      body[0] = 8; put16(body, 4, r.int(65536)); put16(body, 6, r.int(65536));
      body.set(this.bytes(body.length - 8), 8);
    } else {
      // An error quoting one of our connections' segments (or garbage).
      const c = this.conns.length > 0 ? this.conns[r.int(this.conns.length)] : null;
      const q = new Uint8Array(20);
      put16(q, 0, 80); put16(q, 2, c ? c.port : r.int(65536)); put32(q, 4, c ? c.theirs : r.u32());
      const inner = ipPacket(6, q, { src: IP_US, dst: IP_PEER });
      body = new Uint8Array(8 + inner.length - (r.chance(0.3) ? r.int(20) : 0));
      body[0] = r.chance(0.7) ? 3 : [4, 5, 11, 12][r.int(4)]; body[1] = r.int(16);
      put16(body, 6, r.chance(0.5) ? 576 + r.int(1000) : r.int(65536));
      body.set(inner.subarray(0, body.length - 8), 8);
    }
    const f = ethFrame(MAC_US, 0x0800, ipPacket(1, body, { id: this.ipId++ & 0xffff, frag: 0 }));
    fixChecksums(f);
    return f;
  }

  private fragmentSet(): Uint8Array[] {
    const r = this.r;
    const id = r.int(65536);
    const payload = new Uint8Array(8 + 8 * (1 + r.int(200)));
    payload[0] = 8; payload.set(this.bytes(payload.length - 8), 8);
    put16(payload, 2, ~fold(sum16(payload, 0, payload.length)) & 0xffff);
    const step = 8 * (1 + r.int(60));
    const out: Uint8Array[] = [];
    for (let off = 0; off < payload.length; off += step) {
      const n = Math.min(step, payload.length - off);
      const more = off + n < payload.length ? 0x2000 : 0;
      const o = r.chance(0.1) ? r.int(8192) : off >>> 3;
      const f = ethFrame(MAC_US, 0x0800, ipPacket(1, payload.subarray(off, off + n + (r.chance(0.05) ? 8 : 0)),
        { id, frag: more | (o & 0x1fff) }));
      out.push(f);
    }
    if (r.chance(0.3)) out.reverse();
    if (r.chance(0.2) && out.length > 1) out.splice(r.int(out.length), 1);
    if (r.chance(0.2)) out.push(out[r.int(out.length)]);
    return out;
  }

  private udpFrame(): Uint8Array {
    const r = this.r;
    const p = this.bytes(8 + r.int(200));
    put16(p, 2, r.chance(0.5) ? 53 : r.int(65536)); put16(p, 4, r.chance(0.9) ? p.length : r.int(65536));
    const f = ethFrame(r.chance(0.9) ? MAC_US : BCAST, 0x0800, ipPacket(17, p, { frag: 0, dst: r.chance(0.9) ? IP_US : 0x0a4800ff }));
    fixChecksums(f);
    return f;
  }

  /** Flip, cut or extend a frame; re-checksum it half of the time so the damage reaches deeper parsers. */
  private mutate(f: Uint8Array): Uint8Array {
    const r = this.r;
    let out = f;
    const n = 1 + r.int(3);
    for (let i = 0; i < n; i++) {
      const k = r.int(10);
      if (k < 6 && out.length > 0) {
        // bias towards headers: the first 64 bytes
        const pos = r.chance(0.8) ? r.int(Math.min(64, out.length)) : r.int(out.length);
        out[pos] = r.chance(0.5) ? out[pos] ^ (1 << r.int(8)) : r.int(256);
      } else if (k < 8) {
        out = out.slice(0, r.int(out.length + 1));
      } else {
        const x = new Uint8Array(out.length + 1 + r.int(60));
        x.set(out); x.set(this.bytes(x.length - out.length), out.length);
        out = x;
      }
    }
    if (r.chance(0.5)) fixChecksums(out);
    return out;
  }

  /** The next frames to inject (usually one; a fragment set gives several). */
  next(): Uint8Array[] {
    const r = this.r;
    const k = r.int(100);
    let frames: Uint8Array[];
    if (k < 40 && this.conns.length > 0) frames = [this.liveTcp()];
    else if (k < 50) frames = this.newSyn();
    else if (k < 56) { const a = this.handshakeAck(); frames = a ? [a] : this.newSyn(); }
    else if (k < 63) frames = [this.arpFrame()];
    else if (k < 72) frames = [this.icmp()];
    else if (k < 78) frames = this.fragmentSet();
    else if (k < 83) frames = [this.udpFrame()];
    else if (k < 90) frames = [ethFrame(MAC_US, r.chance(0.5) ? 0x0800 : 0x0806, this.bytes(r.int(120)))];
    else if (k < 93) frames = [this.bytes(r.int(100))];
    else frames = [this.liveOrSyn()];
    if (r.chance(0.25)) frames = frames.map((f) => this.mutate(f));
    return frames;
  }

  private liveOrSyn(): Uint8Array { return this.conns.length > 0 ? this.liveTcp() : this.newSyn()[0]; }
}

// ---------------------------------------------------------------- the run

function firstDiff(a: Uint8Array[], b: Uint8Array[]): string | null {
  if (a.length !== b.length) return `sent ${a.length} frames vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x.length !== y.length) return `frame ${i}: ${x.length} bytes vs ${y.length}`;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return `frame ${i} byte ${j}: ${x[j]} vs ${y[j]}`;
  }
  return null;
}

function collectDrops(stats: unknown, prefix: string, out: Record<string, number>): void {
  if (stats === null || typeof stats !== 'object') return;
  for (const [k, v] of Object.entries(stats as Record<string, unknown>)) {
    if (k === 'drops' && v !== null && typeof v === 'object') {
      for (const [r, n] of Object.entries(v as Record<string, unknown>)) {
        if (typeof n === 'number' && n > 0) out[`${prefix}${r}`] = (out[`${prefix}${r}`] ?? 0) + n;
      }
    } else if (v !== null && typeof v === 'object') collectDrops(v, `${prefix}${k}.`, out);
  }
}

/** Run the fuzzer (see the file comment). Deterministic for a seed. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const seed = o.seed >>> 0;
  const r = new Prng(seed);
  const sizeProbe = new TsMempool({ count: POOL_MBUFS, name: 'probe' });
  const imgA = poisonImage(sizeProbe.u8.length, seed ^ 0x5eed);
  const imgB = poisonImage(sizeProbe.u8.length, seed ^ 0xbad);
  let A = new World(imgA, 'fuzz');
  let B = new World(imgB, 'fuzz');
  let gen = new Generator(r);
  const rep: FuzzReport = {
    frames: 0, seed, framesPerSec: 0, crashes: 0, outOfPacketReads: 0, leakedMbufs: 0, problems: [],
    framesSent: 0, connections: 0, drops: {},
    depth: { passiveOpens: 0, established: 0, tcpRxBytes: 0, tcpTxBytes: 0, icmpEchoes: 0 },
  };
  const note = (s: string): void => { if (rep.problems.length < 20) rep.problems.push(s); };
  const finishWorlds = async (): Promise<void> => {
    const st = A.stats() as { tcp?: Record<string, number>; icmp?: Record<string, number> };
    collectDrops(st, '', rep.drops);
    const t = st.tcp ?? {};
    rep.depth.passiveOpens += t.passiveOpens ?? 0;
    rep.depth.established += t.established ?? 0;
    rep.depth.tcpRxBytes += t.rxBytes ?? 0;
    rep.depth.tcpTxBytes += t.txBytes ?? 0;
    rep.depth.icmpEchoes += st.icmp?.echoRepliesSent ?? 0;
    rep.connections += gen.connections;
    const la = await A.close();
    const lb = await B.close();
    if (la + lb > 0) note(`frame ${rep.frames}: ${la}+${lb} mbufs leaked`);
    rep.leakedMbufs += la + lb;
  };
  const t0 = performance.now();
  let statsCheck = 0;
  while (rep.frames < o.frames) {
    const frames = gen.next();
    for (const f4 of frames) {
      const f = toV6(f4);
      if (rep.frames >= o.frames) break;
      const segs = r.chance(0.12) ? Array.from({ length: 1 + r.int(5) }, () => r.int(120)) : null;
      const adv = r.chance(0.7) ? r.int(3) : r.chance(0.9) ? r.int(500) : r.int(70_000);
      const idx = rep.frames++;
      try {
        A.step(f, segs, adv);
        B.step(f, segs, adv);
      } catch (e) {
        rep.crashes++;
        note(`frame ${idx}: crash ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
        try { await finishWorlds(); } catch { /* a broken world */ }
        A = new World(imgA, 'fuzz'); B = new World(imgB, 'fuzz'); gen = new Generator(r);
        continue;
      }
      rep.framesSent += A.out.length;
      const d = firstDiff(A.out, B.out);
      gen.observe(A.out);
      if (d !== null) {
        rep.outOfPacketReads++;
        note(`frame ${idx}: worlds differ (${d})`);
        // Start over, so one bad read is counted once rather than as every divergence after it.
        await finishWorlds();
        A = new World(imgA, 'fuzz'); B = new World(imgB, 'fuzz'); gen = new Generator(r);
        continue;
      }
      if (++statsCheck >= 1000) {
        statsCheck = 0;
        if (JSON.stringify(A.stats()) !== JSON.stringify(B.stats())) {
          rep.outOfPacketReads++;
          note(`frame ${idx}: counters differ between the worlds`);
          await finishWorlds();
          A = new World(imgA, 'fuzz'); B = new World(imgB, 'fuzz'); gen = new Generator(r);
        }
      }
      if (o.progressEvery && rep.frames % o.progressEvery === 0) {
        const s = (performance.now() - t0) / 1000;
        console.error(`fuzz: ${rep.frames} frames, ${(rep.frames / s).toFixed(0)}/s, crashes ${rep.crashes}, `
          + `out-of-packet ${rep.outOfPacketReads + A.poisonHits}, in use ${A.pool.inUse()}`);
        o.inspect?.(A.stack);
      }
    }
  }
  const hits = A.poisonHits + B.poisonHits;
  if (hits > 0) note(`${hits} sent frames carried ${POISON_RUN}+ bytes of poison`);
  rep.outOfPacketReads += hits;
  await finishWorlds();
  rep.framesPerSec = Math.round(rep.frames / ((performance.now() - t0) / 1000));
  return rep;
}

async function main(): Promise<void> {
  const a = process.argv.slice(2);
  const arg = (n: string, d: number): number => {
    const i = a.indexOf(n);
    if (i < 0) return d;
    const v = Number(a[i + 1]);
    if (!Number.isFinite(v)) { console.error(`fuzz: ${n} needs a number`); process.exit(2); }
    return v;
  };
  const frames = arg('--frames', 100_000);
  const seed = arg('--seed', (Date.now() & 0x7fffffff));
  const quiet = a.includes('--quiet');
  console.error(`fuzz: ${frames} frames, seed ${seed} (replay: npm run fuzz -- --frames ${frames} --seed ${seed})`);
  const rep = await runFuzz({ frames, seed, progressEvery: quiet ? 0 : 100_000 });
  console.log(JSON.stringify(rep, null, 2));
  process.exit(rep.crashes + rep.outOfPacketReads + rep.leakedMbufs === 0 ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
