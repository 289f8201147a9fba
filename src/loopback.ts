/**
 * Loopback delivery: TCP segments and UDP datagrams a stack sends to one of
 * its own addresses (its IPv4 address, any of its IPv6 ones) are delivered
 * to its own TCP and UDP instead of the wire, as a kernel's loopback does,
 * so a connect or a send to our own address works.
 *
 * Delivery is deferred to the stack's next ticker run (within the same
 * poll's turn, never inside the call that sent): TCP sends from inside its
 * own input processing, and re-entering it there would clobber the segment
 * being processed. The queue is bounded; a segment that finds it full is
 * dropped (counted) and recovered by TCP like any loss (a datagram is
 * lost, as UDP may be). A datagram no socket takes is dropped and counted
 * (`udpNoSocket`): no ICMP error goes to ourselves. Checksums are not
 * computed on this path (nothing can corrupt the bytes): segments arrive
 * marked L4-checksum-good, offload requests cleared.
 */
import { newCounters, countDrop, type Counters } from './eth/counters.js';
import { MbufLayout } from './mbuf/layout.js';
import type { Mempool } from './mbuf/mempool.js';
import type { Addr6 } from './ip/addr6.js';
import type { Mbuf } from './mbuf/index.js';
import type { Ip4 } from './ip/addr.js';

/** Why a looped-back segment was dropped. */
export const LOOPBACK_DROP_REASONS = ['queueFull', 'closed', 'udpNoSocket'] as const;
export type LoopbackDropReason = typeof LOOPBACK_DROP_REASONS[number];

/** Segments queued at most (both families). */
const LOOPBACK_QUEUE = 4096;

/** Where looped-back segments are delivered (mtod at the TCP or UDP header; each takes ownership). */
export interface LoopbackSink {
  input(m: Mbuf, src: Ip4, dst: Ip4, tos: number): void;
  input6(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, tclass: number): void;
  udp(m: Mbuf, src: Ip4, dst: Ip4, tos: number): void;
  udp6(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, tclass: number): void;
}

// meta word: tos/tclass in bits 0-7, then the family and the protocol.
const META_V6 = 0x100;
const META_UDP = 0x200;

/** The loopback queue of one stack (TCP and UDP, both families). */
export class Loopback {
  /** `tx` segments queued, `rx` delivered, drops by reason. */
  readonly counters: Counters<LoopbackDropReason> = newCounters(LOOPBACK_DROP_REASONS);
  // A ring of plain numbers: mbuf, family/tos, and for IPv6 the two addresses (8 words).
  private readonly mbufs = new Int32Array(LOOPBACK_QUEUE);
  private readonly meta = new Int32Array(LOOPBACK_QUEUE);
  private readonly addrs = new Uint32Array(LOOPBACK_QUEUE * 8);
  private head = 0;
  private count = 0;
  private closed = false;
  private readonly src6 = new Uint32Array(4);
  private readonly dst6 = new Uint32Array(4);
  /** What the UDP layers get for a looped-back datagram no socket takes: dropped and counted, no ICMP error. */
  readonly closedUdp = {
    input: (m: Mbuf): void => { this.pool.free(m); countDrop(this.counters, 'udpNoSocket'); },
  };

  constructor(private readonly pool: Mempool, private readonly localIp: Ip4, private readonly sink: () => LoopbackSink) {}

  /** Segments waiting for delivery. */
  get pending(): number { return this.count; }

  /** Queue an IPv4 TCP segment (mtod at the TCP header) to our own address; takes ownership. */
  send4(m: Mbuf, tos: number): void {
    const i = this.slot(m);
    if (i < 0) return;
    this.meta[i] = tos & 0xff;
  }

  /** Queue an IPv4 UDP datagram (mtod at the UDP header) to our own address; takes ownership. */
  sendUdp4(m: Mbuf, tos: number): void {
    const i = this.slot(m);
    if (i < 0) return;
    this.meta[i] = META_UDP | (tos & 0xff);
  }

  /** Queue an IPv6 TCP segment from `src` to `dst` (both ours); takes ownership. */
  send6(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, tclass: number): void {
    this.queue6(m, src, dst, tclass & 0xff);
  }

  /** Queue an IPv6 UDP datagram (mtod at the UDP header) from `src` to `dst` (both ours); takes ownership. */
  sendUdp6(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, tclass: number): void {
    this.queue6(m, src, dst, META_UDP | (tclass & 0xff));
  }

  private queue6(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, meta: number): void {
    const i = this.slot(m);
    if (i < 0) return;
    this.meta[i] = META_V6 | meta;
    const a = this.addrs;
    const o = i * 8;
    a[o] = src[0]; a[o + 1] = src[1]; a[o + 2] = src[2]; a[o + 3] = src[3];
    a[o + 4] = dst[0]; a[o + 5] = dst[1]; a[o + 6] = dst[2]; a[o + 7] = dst[3];
  }

  private slot(m: Mbuf): number {
    const pool = this.pool;
    if (this.closed) { pool.free(m); countDrop(this.counters, 'closed'); return -1; }
    if (this.count >= LOOPBACK_QUEUE) { pool.free(m); countDrop(this.counters, 'queueFull'); return -1; }
    // As a receive: the checksum is good (never computed here), no transmit
    // offload left over. The INDIRECT and EXTERNAL bits stay: they say how
    // the mbuf holds its buffer (a zero-copy segment is an indirect mbuf
    // over the application's buffer), and without them freeing it would
    // not drop that buffer's reference (a leak of every buffer looped back).
    pool.setOlFlags(m, MbufLayout.OL_RX_L4_CKSUM_GOOD_LO,
      pool.olFlagsHi(m) & (MbufLayout.OL_INDIRECT_HI | MbufLayout.OL_EXTERNAL_HI));
    pool.setTxOffload(m, 0, 0, 0, 0);
    const i = (this.head + this.count) % LOOPBACK_QUEUE;
    this.mbufs[i] = m;
    this.count++;
    this.counters.tx++;
    return i;
  }

  /** Deliver what is queued now (what delivery sends back waits for the next call). */
  deliver(): void {
    let n = this.count;
    if (n === 0) return;
    const sink = this.sink();
    while (n-- > 0 && this.count > 0) {
      const i = this.head;
      this.head = (i + 1) % LOOPBACK_QUEUE;
      this.count--;
      const m = this.mbufs[i] as Mbuf;
      const meta = this.meta[i];
      this.counters.rx++;
      if ((meta & META_V6) === 0) {
        if ((meta & META_UDP) === 0) sink.input(m, this.localIp, this.localIp, meta & 0xff);
        else sink.udp(m, this.localIp, this.localIp, meta & 0xff);
        continue;
      }
      const a = this.addrs;
      const o = i * 8;
      const s = this.src6;
      const d = this.dst6;
      s[0] = a[o]; s[1] = a[o + 1]; s[2] = a[o + 2]; s[3] = a[o + 3];
      d[0] = a[o + 4]; d[1] = a[o + 5]; d[2] = a[o + 6]; d[3] = a[o + 7];
      if ((meta & META_UDP) === 0) sink.input6(m, s, d, meta & 0xff);
      else sink.udp6(m, s, d, meta & 0xff);
    }
  }

  /** Free what is queued; refuse more. */
  close(): void {
    this.closed = true;
    while (this.count > 0) {
      this.pool.free(this.mbufs[this.head] as Mbuf);
      this.head = (this.head + 1) % LOOPBACK_QUEUE;
      this.count--;
    }
  }
}
