import type { Ip4 } from '../ip/addr.js';
/**
 * Receive-side scaling: the Toeplitz hash a NIC computes over a packet's
 * addresses and ports, the key the port is programmed with, and the
 * redirection table that turns a hash into a queue.
 *
 * One source of truth: {@link Dpdk.openPort} programs the device with the
 * key and hash functions from here, and software that must predict the
 * device's choice (a client picking local ports whose replies come back to
 * its own queue) hashes with the same key and table via {@link RssConfig}.
 */

/** Header fields a device may hash, by `rss_hf` bit (RTE_ETH_RSS_*, rte_ethdev.h). */
export const RSS_HASH_FUNCTION_BITS = {
  /** IPv4 addresses of any IPv4 packet the more specific kinds do not cover. */
  'ipv4': 2,
  'ipv4-frag': 3,
  /** IPv4 addresses and TCP ports. */
  'ipv4-tcp': 4,
  'ipv4-udp': 5,
  'ipv4-sctp': 6,
  'ipv4-other': 7,
  'ipv6': 8,
  'ipv6-frag': 9,
  'ipv6-tcp': 10,
  'ipv6-udp': 11,
  'ipv6-sctp': 12,
  'ipv6-other': 13,
} as const;

/** A kind of packet a device can spread by hash (an `rss_hf` bit). */
export type RssHashFunction = keyof typeof RSS_HASH_FUNCTION_BITS;

/** What tzstack asks for by default: IPv4 and TCP over IPv4. */
export const DEFAULT_RSS_HASH_FUNCTIONS: readonly RssHashFunction[] = ['ipv4', 'ipv4-tcp'];

/** The `rss_hf` mask of a list of hash functions. */
export function rssHfMask(fns: readonly RssHashFunction[]): bigint {
  let m = 0n;
  for (const f of fns) {
    const bit = RSS_HASH_FUNCTION_BITS[f];
    if (bit === undefined) throw new RangeError(`unknown RSS hash function '${f}' (one of ${Object.keys(RSS_HASH_FUNCTION_BITS).join(', ')})`);
    m |= 1n << BigInt(bit);
  }
  return m;
}

/** The hash functions named by an `rss_hf` mask (bits tzstack has no name for are left out). */
export function rssHashFunctions(mask: bigint): RssHashFunction[] {
  return (Object.keys(RSS_HASH_FUNCTION_BITS) as RssHashFunction[]).filter((f) => (mask >> BigInt(RSS_HASH_FUNCTION_BITS[f])) & 1n);
}

/**
 * The symmetric Toeplitz key (0x6d, 0x5a repeated) of `len` bytes: its
 * 16-bit period makes hash(src, dst, sport, dport) = hash(dst, src, dport,
 * sport), so both directions of a flow land on the same queue number.
 */
export function symmetricRssKey(len = 40): Uint8Array {
  return new Uint8Array(len).map((_, i) => (i % 2 === 0 ? 0x6d : 0x5a));
}

/** The 40-byte symmetric key, tzstack's default (devices with another key size get it repeated to their size). */
export const SYMMETRIC_RSS_KEY: Uint8Array = symmetricRssKey(40);

/**
 * Toeplitz hash of `input` under `key`, as a NIC computes it (and DPDK's
 * `rte_softrss`). The key must be at least `input.length + 4` bytes.
 */
export function toeplitz(key: Uint8Array, input: Uint8Array, len = input.length): number {
  if (key.length < len + 4) throw new RangeError(`a Toeplitz key for ${len} input bytes needs ${len + 4} bytes, not ${key.length}`);
  let result = 0;
  // The 32-bit window of the key starting at the current input bit.
  let window = ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0;
  for (let i = 0; i < len; i++) {
    const next = key[i + 4];
    const b = input[i];
    for (let bit = 7; bit >= 0; bit--) {
      if ((b >> bit) & 1) result = (result ^ window) >>> 0;
      window = ((window << 1) | ((next >> bit) & 1)) >>> 0;
    }
  }
  return result >>> 0;
}

const tuple = new Uint8Array(12);
const tupleDv = new DataView(tuple.buffer);

/**
 * The hash a device computes for a received TCP/IPv4 packet from src:sport
 * to dst:dport (with the `ipv4-tcp` hash function), no allocation.
 */
export function rssHashTcp4(key: Uint8Array, src: Ip4, dst: Ip4, sport: number, dport: number): number {
  tupleDv.setUint32(0, src >>> 0);
  tupleDv.setUint32(4, dst >>> 0);
  tupleDv.setUint16(8, sport);
  tupleDv.setUint16(10, dport);
  return toeplitz(key, tuple, 12);
}

/** The hash of an IPv4 packet hashed on its addresses only (`ipv4`: ICMP, fragments, ...). */
export function rssHashIpv4(key: Uint8Array, src: Ip4, dst: Ip4): number {
  tupleDv.setUint32(0, src >>> 0);
  tupleDv.setUint32(4, dst >>> 0);
  return toeplitz(key, tuple, 8);
}

/**
 * How a port spreads received packets over its queues: key, hash functions
 * and redirection table (entry `hash % reta.length` names the queue).
 * Structured-clone safe, so it can travel to worker threads.
 */
export interface RssConfig {
  /** The key in use (read back from the device when it can say, else the one given). */
  key: Uint8Array;
  hashFunctions: RssHashFunction[];
  /** Receive queues the table spreads over. */
  queues: number;
  /** Redirection table; entry i is the queue of hashes with hash % length == i. */
  reta: Uint16Array;
  /**
   * Whether the table is known (programmed by tzstack or read back) rather
   * than assumed (entry i → queue i % queues, what most drivers default to).
   */
  retaKnown: boolean;
}

/** The queue a device would pick for `hash`. */
export function rssQueueOf(rss: RssConfig, hash: number): number {
  return rss.reta[(hash >>> 0) % rss.reta.length];
}

/** The default table: entry i → queue i % queues, `size` entries (128 when the device gives no size). */
export function defaultReta(queues: number, size = 128): Uint16Array {
  return Uint16Array.from({ length: size }, (_, i) => i % queues);
}

/**
 * A local port in [low, high] whose TCP replies from remote:remotePort to
 * local:port the device steers to `queue`, skipping and then adding to
 * `used`; -1 when none does.
 */
export function pickLocalPort(rss: RssConfig, local: Ip4, remote: Ip4, remotePort: number,
  queue: number, used: Set<number>, low = 32768, high = 60999): number {
  for (let p = low; p <= high; p++) {
    if (used.has(p)) continue;
    if (rssQueueOf(rss, rssHashTcp4(rss.key, remote, local, remotePort, p)) === queue) { used.add(p); return p; }
  }
  return -1;
}
