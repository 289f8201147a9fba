/**
 * Frame builders and a one-stack harness shared by the eth/ip/stack/fuzz
 * tests (Engineer NET's). Builders are plain byte arrays: tests are the slow
 * path, clarity over speed.
 */
import { finish, pseudoHeaderSum, sumBytes } from '../src/ip/checksum.js';
import { parseIpv4, type Ip4 } from '../src/ip/addr.js';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { createLinkPair, type LinkPairOptions } from '../src/pmd/memory-link.js';
import { txBurstOrFree, type Port } from '../src/pmd/port.js';
import { Stack, type StackOptions } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';

export const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 1);
export const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 2);
export const BCAST = Uint8Array.of(255, 255, 255, 255, 255, 255);
export const IP_A = parseIpv4('10.72.0.1');
export const IP_B = parseIpv4('10.72.0.2');

const dvOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function eth(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(14);
  h.set(dst, 0); h.set(src, 6); dvOf(h).setUint16(12, type);
  return concat(h, payload);
}

export function arp(op: number, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): Uint8Array {
  const b = new Uint8Array(28);
  const dv = dvOf(b);
  dv.setUint16(0, 1); dv.setUint16(2, 0x0800); b[4] = 6; b[5] = 4; dv.setUint16(6, op);
  b.set(sha, 8); dv.setUint32(14, spa); b.set(tha, 18); dv.setUint32(24, tpa);
  return b;
}

export interface Ipv4Opts {
  src?: number; dst?: number; proto?: number; ttl?: number; id?: number; frag?: number; tos?: number;
  options?: Uint8Array; totalLen?: number; version?: number; ihl?: number; badChecksum?: boolean;
}

export function ipv4(payload: Uint8Array, o: Ipv4Opts = {}): Uint8Array {
  const opts = o.options ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const h = new Uint8Array(hl);
  const dv = dvOf(h);
  h[0] = ((o.version ?? 4) << 4) | (o.ihl ?? hl / 4);
  h[1] = o.tos ?? 0;
  dv.setUint16(2, o.totalLen ?? hl + payload.length);
  dv.setUint16(4, o.id ?? 1);
  dv.setUint16(6, o.frag ?? 0);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto ?? 1;
  dv.setUint32(12, o.src ?? IP_B);
  dv.setUint32(16, o.dst ?? IP_A);
  h.set(opts, 20);
  let c = finish(sumBytes(dv, 0, hl));
  if (o.badChecksum) c ^= 0x1234;
  dv.setUint16(10, c);
  return concat(h, payload);
}

export function icmpEcho(id: number, seq: number, data: Uint8Array, type = 8): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  const dv = dvOf(b);
  b[0] = type; dv.setUint16(4, id); dv.setUint16(6, seq); b.set(data, 8);
  dv.setUint16(2, finish(sumBytes(dv, 0, b.length)));
  return b;
}

export function udp(src: Ip4, dst: Ip4, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  const dv = dvOf(b);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint16(4, b.length); b.set(data, 8);
  const c = finish(sumBytes(dv, 0, b.length, pseudoHeaderSum(src, dst, 17, b.length)));
  dv.setUint16(6, c === 0 ? 0xffff : c);
  return b;
}

export function tcpSyn(src: Ip4, dst: Ip4, sport: number, dport: number): Uint8Array {
  const b = new Uint8Array(20);
  const dv = dvOf(b);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint32(4, 12345); b[12] = 5 << 4; b[13] = 2;
  dv.setUint16(14, 65535);
  dv.setUint16(16, finish(sumBytes(dv, 0, 20, pseudoHeaderSum(src, dst, 6, 20))));
  return b;
}

export function pattern(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/**
 * One stack on port A of a memory link; the test plays the peer on port B
 * with raw frames. Virtual time; the test calls {@link poll}.
 */
export class Harness {
  readonly pool: TsMempool;
  readonly clock = new VirtualClock(1000);
  readonly a: Port;
  readonly b: Port;
  readonly stack: Stack;
  private readonly one = new Uint32Array(1);
  private readonly rx = new Uint32Array(64);

  constructor(opts: Partial<StackOptions> = {}, link: LinkPairOptions = {}, poolCount = 256) {
    this.pool = new TsMempool({ count: poolCount });
    [this.a, this.b] = createLinkPair(this.pool, link);
    this.stack = new Stack({ port: this.a, ip: '10.72.0.1/24', clock: this.clock, ...opts });
    this.announced = this.poll(); // the gratuitous ARP
  }
  /** What the stack sent when it started (its gratuitous ARP). */
  readonly announced: Uint8Array[];

  /** Send raw frame bytes (optionally split into segments of the given sizes) from the peer. */
  send(frame: Uint8Array, segSizes?: number[]): void {
    const m = segSizes ? chainFrom(this.pool, frame, segSizes) : this.pool.fromBytes(frame);
    if (m < 0) throw new Error('pool empty');
    this.one[0] = m;
    txBurstOrFree(this.b, this.one, 1);
  }

  /** Send a frame after letting `tweak` set mbuf metadata (e.g. RX offload flags). */
  sendWith(frame: Uint8Array, tweak: (m: Mbuf) => void): void {
    const m = this.pool.fromBytes(frame);
    tweak(m);
    this.one[0] = m;
    txBurstOrFree(this.b, this.one, 1);
  }

  /** Poll the stack (once by default) and collect every frame it sent. */
  poll(times = 1): Uint8Array[] {
    for (let i = 0; i < times; i++) this.stack.poll();
    return this.drain();
  }

  /** Frames waiting at the peer. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (;;) {
      const n = this.b.rxBurst(this.rx, this.rx.length);
      if (n === 0) return out;
      for (let i = 0; i < n; i++) { out.push(this.pool.toBytes(this.rx[i] as Mbuf)); this.pool.free(this.rx[i] as Mbuf); }
    }
  }

  /** Teach the stack our MAC so its output needs no ARP round trip. */
  learnPeer(): void { this.stack.arp.addStatic(IP_B, MAC_B); }

  async close(): Promise<void> {
    await this.stack.close();
    this.b.close();
    this.drain();
  }
}

/** A chain holding `bytes` cut into segments of the given sizes (the last takes the rest). */
export function chainFrom(pool: TsMempool, bytes: Uint8Array, sizes: number[]): Mbuf {
  let head = -1 as Mbuf;
  let off = 0;
  for (let i = 0; off < bytes.length || head < 0; i++) {
    const take = i < sizes.length ? Math.min(sizes[i], bytes.length - off) : bytes.length - off;
    const m = pool.alloc();
    if (m < 0) { if (head >= 0) pool.free(head); return -1 as Mbuf; }
    const at = pool.append(m, take);
    pool.u8.set(bytes.subarray(off, off + take), at);
    off += take;
    if (head < 0) head = m; else pool.chain(head, m);
  }
  return head;
}

/** Cut an IP payload into fragments of `size` bytes (a multiple of 8 except the last). */
export function fragments(payload: Uint8Array, size: number, o: Ipv4Opts = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const n = Math.min(size, payload.length - off);
    const more = off + n < payload.length ? 0x2000 : 0;
    out.push(ipv4(payload.subarray(off, off + n), { ...o, frag: more | (off / 8) }));
  }
  return out;
}

/** Reassemble IPv4 frames (with Ethernet headers) the stack sent; returns the L4 bytes of each datagram. */
export function reassembleFrames(frames: Uint8Array[]): Uint8Array[] {
  const byId = new Map<number, Array<{ off: number; data: Uint8Array; more: boolean }>>();
  const whole: Uint8Array[] = [];
  for (const f of frames) {
    const ip = f.subarray(14);
    const dv = dvOf(ip);
    const ihl = (ip[0] & 15) * 4;
    const frag = dv.getUint16(6);
    const data = ip.subarray(ihl, dv.getUint16(2));
    if ((frag & 0x3fff) === 0) { whole.push(data); continue; }
    const id = dv.getUint16(4);
    const list = byId.get(id) ?? [];
    list.push({ off: (frag & 0x1fff) * 8, data, more: (frag & 0x2000) !== 0 });
    byId.set(id, list);
  }
  for (const list of byId.values()) {
    list.sort((x, y) => x.off - y.off);
    whole.push(concat(...list.map((x) => x.data)));
  }
  return whole;
}

export { dvOf };
