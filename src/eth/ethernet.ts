import { MbufLayout } from '../mbuf/layout.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { Mbuf } from '../mbuf/index.js';

/**
 * Ethernet II framing.
 *
 * ```
 *  0 destination MAC (6)   6 source MAC (6)   12 ethertype (2)   14 payload
 * ```
 * 802.1Q tags are not handled: a tagged frame has ethertype 0x8100 and is
 * dropped as an unknown ethertype.
 */
export const enum EthHdr {
  DST = 0,
  SRC = 6,
  TYPE = 12,
  /** Length of an untagged Ethernet header. */
  HDR_LEN = 14,
  /** Bytes of a MAC address. */
  ALEN = 6,
  /** Smallest frame on the wire without the FCS; shorter frames are padded. */
  MIN_FRAME = 60,
}

export const enum EtherType {
  IPV4 = 0x0800,
  ARP = 0x0806,
  VLAN = 0x8100,
  IPV6 = 0x86dd,
}

// Per-frame code uses the const enums (tsc inlines their numbers; an imported
// const is a load and an initialisation check per use); these names are the
// same values for everyone else.
export const ETH_DST: number = EthHdr.DST;
export const ETH_SRC: number = EthHdr.SRC;
export const ETH_TYPE: number = EthHdr.TYPE;
/** Length of an untagged Ethernet header. */
export const ETH_HDR_LEN: number = EthHdr.HDR_LEN;
/** Bytes of a MAC address. */
export const ETH_ALEN: number = EthHdr.ALEN;
/** Smallest frame on the wire without the FCS; shorter frames are padded. */
export const ETH_MIN_FRAME: number = EthHdr.MIN_FRAME;

export const ETHERTYPE_IPV4: number = EtherType.IPV4;
export const ETHERTYPE_ARP: number = EtherType.ARP;
export const ETHERTYPE_VLAN: number = EtherType.VLAN;
export const ETHERTYPE_IPV6: number = EtherType.IPV6;

/** Why a frame was dropped at the Ethernet level (received, or on its way to the port). */
export const ETH_DROP_REASONS = [
  'runt', 'headerSplit', 'notForUs', 'badSourceMac', 'unknownEthertype', 'cannotLinearize', 'closed',
] as const;
export type EthDropReason = typeof ETH_DROP_REASONS[number];

/** ff:ff:ff:ff:ff:ff */
export const BROADCAST_MAC: Uint8Array = Uint8Array.of(255, 255, 255, 255, 255, 255);
/** 00:00:00:00:00:00 */
export const ZERO_MAC: Uint8Array = new Uint8Array(6);

/**
 * The ethertype of the frame at {@link Mempool.mtod}, or -1 when the first
 * segment is too short to hold an Ethernet header.
 */
export function ethType(pool: Mempool, m: Mbuf): number {
  if (pool.dataLen(m) < EthHdr.HDR_LEN) return -1;
  return pool.dv.getUint16(pool.mtod(m) + EthHdr.TYPE);
}

/**
 * Prepend an Ethernet header in the headroom of `m`.
 * @param dst - destination MAC, read at `dstOff` (so a MAC may be copied
 *   straight out of a packet or a table without a subarray)
 * @returns the index of the header in `pool.u8`, or -1 without headroom
 */
export function prependEthHeader(pool: Mempool, m: Mbuf, dst: Uint8Array, dstOff: number, src: Uint8Array, type: number): number {
  const at = pool.prepend(m, EthHdr.HDR_LEN);
  if (at < 0) return -1;
  const u8 = pool.u8;
  for (let i = 0; i < EthHdr.ALEN; i++) {
    u8[at + EthHdr.DST + i] = dst[dstOff + i];
    u8[at + EthHdr.SRC + i] = src[i];
  }
  pool.dv.setUint16(at + EthHdr.TYPE, type);
  return at;
}

/**
 * Parse `aa:bb:cc:dd:ee:ff` (or with `-` separators).
 * @throws RangeError on anything else
 */
export function parseMac(s: string): Uint8Array {
  const parts = s.trim().split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new RangeError(`not a MAC address: ${JSON.stringify(s)}`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Colon-separated lower-case hex of the 6 bytes at `off`. */
export function formatMac(mac: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < EthHdr.ALEN; i++) {
    if (i) s += ':';
    s += mac[off + i].toString(16).padStart(2, '0');
  }
  return s;
}

/** Whether the 6 bytes at `off` are ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(b: Uint8Array, off = 0): boolean {
  return (b[off] & b[off + 1] & b[off + 2] & b[off + 3] & b[off + 4] & b[off + 5]) === 255;
}

/** Whether the group bit is set (multicast or broadcast). */
export function isMulticastMac(b: Uint8Array, off = 0): boolean {
  return (b[off] & 1) === 1;
}

/** Whether the 6 bytes at `off` are all zero. */
export function isZeroMac(b: Uint8Array, off = 0): boolean {
  return (b[off] | b[off + 1] | b[off + 2] | b[off + 3] | b[off + 4] | b[off + 5]) === 0;
}

/** Whether `a[aOff..+6]` equals `b[bOff..+6]`. */
export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2]
    && a[aOff + 3] === b[bOff + 3] && a[aOff + 4] === b[bOff + 4] && a[aOff + 5] === b[bOff + 5];
}

/**
 * Forget what the receiving NIC wrote into a packet's metadata (checksum and
 * RSS flags, stale tx_offload) before it is sent back out in place, keeping
 * the flags that say whose buffer it is.
 */
export function clearRxMetadata(pool: Mempool, m: Mbuf): void {
  pool.setOlFlags(m, 0, pool.olFlagsHi(m) & (MbufLayout.OL_INDIRECT_HI | MbufLayout.OL_EXTERNAL_HI));
  pool.setTxOffload(m, 0, 0, 0, 0);
}

/**
 * Make a received packet safe to answer in place: its first segment's
 * bytes and headroom must be ours alone. A direct, unshared head is
 * returned as it is (the normal case); an indirect or shared one — a
 * zero-copy sender on a memory link — is copied (slow path) and freed.
 * @returns the packet to write into, or {@link NO_MBUF} when the pool is empty
 *   (`m` is freed either way when a copy was needed)
 */
export function writableHead(pool: Mempool, m: Mbuf): Mbuf {
  if (pool.isDirect(m) && pool.refcnt(m) === 1) return m;
  const copy = pool.fromBytes(pool.toBytes(m));
  pool.free(m);
  return copy === NO_MBUF ? NO_MBUF : copy;
}
