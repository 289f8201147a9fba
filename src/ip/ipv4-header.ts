import type { Ip4 } from './addr.js';
/**
 * The IPv4 header (RFC 791).
 *
 * ```
 *  0 version(4) IHL(4)   1 TOS/DSCP+ECN   2 total length (2)
 *  4 identification (2)                  6 flags(3) fragment offset(13)
 *  8 TTL   9 protocol   10 header checksum (2)
 * 12 source address (4)                 16 destination address (4)
 * 20 options (IHL*4 - 20 bytes)
 * ```
 */
export const enum Ip4Hdr {
  VER_IHL = 0,
  TOS = 1,
  TOTAL_LEN = 2,
  ID = 4,
  FRAG = 6,
  TTL = 8,
  PROTO = 9,
  CSUM = 10,
  SRC = 12,
  DST = 16,
  /** Header length without options. */
  HDR_LEN = 20,
  /** Version 4 in the high nibble of the version/IHL byte. */
  VERSION_4 = 0x40,
  /** Bytes of an IPv4 address. */
  ALEN = 4,
  /** Header length with the most options. */
  MAX_HDR_LEN = 60,
  /** Fragment field bits. */
  FLAG_RESERVED = 0x8000,
  FLAG_DF = 0x4000,
  FLAG_MF = 0x2000,
  OFFSET_MASK = 0x1fff,
  /** The fragment offset counts 8-byte units: every fragment but the last carries a multiple of 8. */
  FRAG_UNIT = 8,
  /** log2 of FRAG_UNIT. */
  FRAG_SHIFT = 3,
  /** Largest datagram (total length field). */
  MAX_LEN = 65535,
}

/** IP protocol numbers. */
export const enum IpProto {
  ICMP = 1,
  TCP = 6,
  UDP = 17,
}

// Per-packet code uses the const enums (tsc inlines their numbers; an
// imported const is a load and an initialisation check per use); these names
// are the same values for everyone else.
export const IP_VER_IHL: number = Ip4Hdr.VER_IHL;
export const IP_TOS: number = Ip4Hdr.TOS;
export const IP_TOTAL_LEN: number = Ip4Hdr.TOTAL_LEN;
export const IP_ID: number = Ip4Hdr.ID;
export const IP_FRAG: number = Ip4Hdr.FRAG;
export const IP_TTL: number = Ip4Hdr.TTL;
export const IP_PROTO: number = Ip4Hdr.PROTO;
export const IP_CSUM: number = Ip4Hdr.CSUM;
export const IP_SRC: number = Ip4Hdr.SRC;
export const IP_DST: number = Ip4Hdr.DST;
/** Header length without options. */
export const IP_HDR_LEN: number = Ip4Hdr.HDR_LEN;
/** Version 4 in the high nibble of the version/IHL byte. */
export const IP_VERSION_4: number = Ip4Hdr.VERSION_4;
/** Bytes of an IPv4 address. */
export const IP_ALEN: number = Ip4Hdr.ALEN;
/** Header length with the most options. */
export const IP_MAX_HDR_LEN: number = Ip4Hdr.MAX_HDR_LEN;
/** Fragment field bits. */
export const IP_FLAG_RESERVED: number = Ip4Hdr.FLAG_RESERVED;
export const IP_FLAG_DF: number = Ip4Hdr.FLAG_DF;
export const IP_FLAG_MF: number = Ip4Hdr.FLAG_MF;
export const IP_OFFSET_MASK: number = Ip4Hdr.OFFSET_MASK;
/** The fragment offset counts 8-byte units: every fragment but the last carries a multiple of 8. */
export const IP_FRAG_UNIT: number = Ip4Hdr.FRAG_UNIT;
/** log2 of {@link IP_FRAG_UNIT}. */
export const IP_FRAG_SHIFT: number = Ip4Hdr.FRAG_SHIFT;
/** Largest datagram (total length field). */
export const IP_MAX_LEN: number = Ip4Hdr.MAX_LEN;

export const IPPROTO_ICMP: number = IpProto.ICMP;
export const IPPROTO_TCP: number = IpProto.TCP;
export const IPPROTO_UDP: number = IpProto.UDP;

/** The limited broadcast address 255.255.255.255. */
export const IP_BROADCAST = 0xffffffff as Ip4;

/** Whether `a` is a multicast (224/4) or reserved class E (240/4) address. */
export function isMulticastOrClassE(a: number): boolean {
  return (a >>> 28) >= 14;
}
