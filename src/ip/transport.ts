import type { Mempool } from '../mbuf/mempool.js';
import type { Clock } from '../util/clock.js';
import type { Addr6 } from './addr6.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from './addr.js';

/**
 * IPv6 below a transport: set on an {@link L4Env} once IPv6 is attached
 * (src/ipv6-attach.ts), absent on IPv4-only stacks.
 */
export interface L4Ip6 {
  /**
   * Hand a segment (mtod at the L4 header, headroom for IPv6 + Ethernet) to
   * IPv6 from `src` (one of our addresses) to `dst`, with traffic class and
   * RFC 6437 flow label; takes ownership.
   */
  output(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, proto: number, tclass: number, flowLabel: number): void;
  /** Our source address for traffic to `dst` (RFC 6724, see Ipv6Layer.selectSource), or undefined when there is none yet. */
  selectSource(dst: Readonly<Addr6>): Addr6 | undefined;
  /** Whether `a` is one of our unicast addresses (any DAD state but duplicate). */
  isLocal(a: Readonly<Addr6>): boolean;
  /** The path MTU towards `dst` (link MTU unless a Packet Too Big taught less). */
  pathMtu(dst: Readonly<Addr6>): number;
}

/**
 * What a transport protocol (TCP today) is built with: a pool, a clock, the
 * port's limits and an IP output. The Stack makes one from its port and IP
 * layer; tests and the packetdrill interpreter make their own, which is how
 * TCP runs standalone with layer-3 inject and capture.
 */
export interface L4Env {
  pool: Mempool;
  clock: Clock;
  /** Our IPv4 address (as a number). */
  localIp: Ip4;
  /** IP MTU of the port: the MSS announced is mtu − 40 unless configured. */
  mtu: number;
  /** TX_OFFLOAD_* bits enabled on the port. */
  txOffloads: number;
  /** Neither compute nor check checksums (trusted in-memory links). */
  checksumUnneeded: boolean;
  /** Largest TSO segment the port takes (0 without TSO). */
  maxTsoSize: number;
  /** Hand a segment (mtod at the L4 header, headroom for IP + Ethernet) to IP; takes ownership. */
  output(m: Mbuf, dst: Ip4, proto: number, tos: number): void;
  /**
   * Frames the layer below can still queue for transmit now (the Stack's
   * transmit batch, whose frames the port may have refused). A transport
   * stops sending new data at 0 and asks {@link whenTxRoom} to resume.
   * Absent: no limit (standalone environments of tests and packetdrill).
   */
  txRoom?: () => number;
  /**
   * Call `fn` once, early in a later poll, when there is transmit room again.
   * A caller registers one callback per wait (not one per blocked sender).
   */
  whenTxRoom?: (fn: () => void) => void;
  /** IPv6 output and addresses, once IPv6 is attached; undefined on an IPv4-only stack. */
  ip6?: L4Ip6;
}
