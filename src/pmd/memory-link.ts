import { TX_OFFLOAD_MULTI_SEGS } from '../mbuf/layout.js';
import type { Mempool } from '../mbuf/mempool.js';
import { newPortStats, type Port, type PortCaps, type PortStats } from './port.js';
import type { Mbuf } from '../mbuf/index.js';

/** Options for {@link createLinkPair}. */
export interface LinkPairOptions {
  /** MAC addresses of the two ends (defaults 02:00:00:00:00:01 and :02). */
  macA?: Uint8Array;
  macB?: Uint8Array;
  /** IP MTU of both ends (default 1500). */
  mtu?: number;
  /** Packets each direction holds; txBurst refuses beyond that (default 4096). */
  ringSize?: number;
  /** Whether the link declares checksums unnecessary (default true, as Linux loopback). */
  checksumUnneeded?: boolean;
}

/** A bounded FIFO of mbuf offsets. */
class Ring {
  private readonly buf: Uint32Array;
  private head = 0;
  private count = 0;
  constructor(size: number) { this.buf = new Uint32Array(size); }
  get length(): number { return this.count; }
  push(m: Mbuf): boolean {
    if (this.count === this.buf.length) return false;
    this.buf[(this.head + this.count) % this.buf.length] = m;
    this.count++;
    return true;
  }
  shift(): Mbuf {
    const m = this.buf[this.head] as Mbuf;
    this.head = (this.head + 1) % this.buf.length;
    this.count--;
    return m;
  }
}

/** One end of an in-memory link. */
class MemoryPort implements Port {
  readonly stats: PortStats = newPortStats();
  peer!: MemoryPort;
  closed = false;
  constructor(readonly name: string, readonly pool: Mempool, readonly caps: PortCaps, readonly rx: Ring) {}

  rxBurst(out: Uint32Array, max: number): number {
    let n = 0;
    while (n < max && this.rx.length > 0) {
      const m = this.rx.shift();
      this.stats.rxPackets++;
      this.stats.rxBytes += this.pool.pktLen(m);
      out[n++] = m;
    }
    return n;
  }

  txBurst(pkts: Uint32Array, n: number): number {
    if (n <= 0) return 0;
    if (this.closed || this.peer.closed) {
      // Nobody will ever receive them: taken and dropped.
      this.stats.txDropped += n;
      this.pool.freeBulk(pkts, n);
      return n;
    }
    let sent = 0;
    while (sent < n && this.peer.rx.push(pkts[sent] as Mbuf)) {
      this.stats.txPackets++;
      this.stats.txBytes += this.pool.pktLen(pkts[sent] as Mbuf);
      sent++;
    }
    // The peer's ring is full: the rest stays with the caller.
    this.stats.txRefused += n - sent;
    return sent;
  }

  close(): void {
    this.closed = true;
    while (this.rx.length > 0) this.pool.free(this.rx.shift());
  }
}

/**
 * Two ports joined back to back in memory: what one transmits the other
 * receives, by passing mbuf offsets (zero copy). Both ends share one pool.
 */
export function createLinkPair(pool: Mempool, opts: LinkPairOptions = {}): [Port, Port] {
  const mtu = opts.mtu ?? 1500;
  const ring = opts.ringSize ?? 4096;
  const caps = (mac: Uint8Array): PortCaps => ({
    mac, mtu, txOffloads: TX_OFFLOAD_MULTI_SEGS, rxOffloads: 0,
    checksumUnneeded: opts.checksumUnneeded ?? true, maxTsoSize: 0,
  });
  const a = new MemoryPort('mem-a', pool, caps(opts.macA ?? Uint8Array.of(2, 0, 0, 0, 0, 1)), new Ring(ring));
  const b = new MemoryPort('mem-b', pool, caps(opts.macB ?? Uint8Array.of(2, 0, 0, 0, 0, 2)), new Ring(ring));
  a.peer = b;
  b.peer = a;
  return [a, b];
}
