import type { Mempool } from '../mbuf/mempool.js';

/** What a port can do and has been configured to do. */
export interface PortCaps {
  /** The port's Ethernet address (6 bytes). */
  readonly mac: Uint8Array;
  /** IP MTU: the largest L3 packet the port carries without segmentation. */
  readonly mtu: number;
  /** TX_OFFLOAD_* bits (src/mbuf/layout.ts) that are enabled on this port. */
  readonly txOffloads: number;
  /** RX_OFFLOAD_* bits that are enabled on this port. */
  readonly rxOffloads: number;
  /**
   * True when nothing between the two ends can corrupt a frame (an in-memory
   * link, memif between two tzstacks), so checksums may be neither computed
   * nor checked — what Linux does on loopback.
   */
  readonly checksumUnneeded: boolean;
  /** Largest TSO segment (IP payload) the port accepts, when TCP_TSO is enabled. */
  readonly maxTsoSize: number;
}

/** Packet and byte counters of a port. */
export interface PortStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /**
   * Packets txBurst took and then dropped: offered to a closed port, or not
   * packets of this port's pool (DPDK: offsets outside the pool's span).
   */
  txDropped: number;
  /**
   * Packets lost on receive before the stack saw them, every cause the
   * device knows: the sum of {@link rxMissed}, {@link rxNoMbuf},
   * {@link rxErrors} and {@link rxKernelDrops}.
   */
  rxDropped: number;
  /** Receive queue full in the device (DPDK `imissed`). */
  rxMissed: number;
  /** No mbuf to receive into (DPDK `rx_nombuf`). */
  rxNoMbuf: number;
  /** Erroneous frames received and dropped by the device (DPDK `ierrors`). */
  rxErrors: number;
  /** Frames the kernel dropped before the device saw them (net_af_packet: its ring was full). */
  rxKernelDrops: number;
  /** Frames the device failed to transmit after taking them (DPDK `oerrors`; included in txDropped). */
  txErrors: number;
  /**
   * Offers txBurst handed back to the caller because the device queue was
   * full (each frame counted every time it is refused).
   */
  txRefused: number;
}

/** Fresh zeroed counters. */
export function newPortStats(): PortStats {
  // The byte counts pass 2^31 after 2 GB: their fields are doubles from the
  // start (a first value that is not a small integer), so that moment does not
  // change the object's shape under optimised code (src/util/double-field.ts).
  const s: PortStats = { rxPackets: 0, rxBytes: 0.5, txPackets: 0, txBytes: 0.5, txDropped: 0, rxDropped: 0, txRefused: 0, rxMissed: 0, rxNoMbuf: 0, rxErrors: 0, rxKernelDrops: 0, txErrors: 0 };
  s.rxBytes = 0;
  s.txBytes = 0;
  return s;
}

/** Where a port leaves the time of its last receive burst (see {@link Port.rxClock}). */
export interface RxClock {
  /** The time, on the port's own clock (ms). */
  readonly slot: Float64Array;
  /** Added to `slot[0]`, the time on `performance.now()`'s clock. */
  readonly offset: number;
}

/**
 * One receive and one transmit queue of a network device. Packets cross it as
 * mbuf offsets in typed arrays: no object per packet.
 */
export interface Port {
  readonly name: string;
  /** The pool received mbufs come from (and the one the stack allocates from). */
  readonly pool: Mempool;
  readonly caps: PortCaps;
  readonly stats: PortStats;
  /** Receive up to `max` packets into `out`; returns how many. The caller owns them. */
  rxBurst(out: Uint32Array, max: number): number;
  /**
   * Present when the port's {@link rxBurst} reads the clock anyway (the DPDK
   * shim's does): when the last burst began is `slot[0] + offset`, in
   * `performance.now()` milliseconds, so a poll need not read the clock
   * itself (~400 instructions a reading from JavaScript).
   */
  readonly rxClock?: RxClock;
  /**
   * Transmit packets from the head of `pkts[0..n)`. The port takes the first
   * k of them (k is returned) and owns those from now on; `pkts[k..n)` are
   * left untouched and stay the caller's, who offers them again later (or
   * frees them) — backpressure: a full device queue refuses instead of
   * losing frames. Refused offers are counted in `txRefused`. A closed port
   * takes everything and frees it (`txDropped`).
   * @returns how many packets, from the head, the port took (0..n)
   */
  txBurst(pkts: Uint32Array, n: number): number;
  /** Stop the port; packets still queued inside it are freed. */
  close(): void;
}

/**
 * Transmit `pkts[0..n)` on `port` and free whatever it refused: the
 * fire-and-forget form for callers with nowhere to keep frames (tests,
 * tools). The Stack keeps refused frames instead (see Stack.flushTx).
 * @returns how many the port took
 */
export function txBurstOrFree(port: Port, pkts: Uint32Array, n: number): number {
  const k = port.txBurst(pkts, n);
  if (k < n) {
    if (k === 0) port.pool.freeBulk(pkts, n);
    else port.pool.freeBulk(pkts.subarray(k, n), n - k);
  }
  return k;
}
