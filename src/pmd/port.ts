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
  /** Packets handed to txBurst that the device did not take (freed by the port). */
  txDropped: number;
  /** Packets the device dropped on receive (ring full, no mbuf). */
  rxDropped: number;
}

/** Fresh zeroed counters. */
export function newPortStats(): PortStats {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDropped: 0, rxDropped: 0 };
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
   * Transmit `n` packets from `pkts`. The port takes ownership of all of them:
   * any the device does not accept are freed and counted in `txDropped`.
   * @returns how many the device accepted
   */
  txBurst(pkts: Uint32Array, n: number): number;
  /** Stop the port; packets still queued inside it are freed. */
  close(): void;
}
