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
export const IP_VER_IHL = 0;
export const IP_TOS = 1;
export const IP_TOTAL_LEN = 2;
export const IP_ID = 4;
export const IP_FRAG = 6;
export const IP_TTL = 8;
export const IP_PROTO = 9;
export const IP_CSUM = 10;
export const IP_SRC = 12;
export const IP_DST = 16;
/** Header length without options. */
export const IP_HDR_LEN = 20;
/** Version 4 in the high nibble of the version/IHL byte. */
export const IP_VERSION_4 = 0x40;
/** Bytes of an IPv4 address. */
export const IP_ALEN = 4;
/** Header length with the most options. */
export const IP_MAX_HDR_LEN = 60;
/** Fragment field bits. */
export const IP_FLAG_RESERVED = 0x8000;
export const IP_FLAG_DF = 0x4000;
export const IP_FLAG_MF = 0x2000;
export const IP_OFFSET_MASK = 0x1fff;
/** The fragment offset counts 8-byte units: every fragment but the last carries a multiple of 8. */
export const IP_FRAG_UNIT = 8;
/** log2 of {@link IP_FRAG_UNIT}. */
export const IP_FRAG_SHIFT = 3;
/** Largest datagram (total length field). */
export const IP_MAX_LEN = 65535;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** The limited broadcast address 255.255.255.255. */
export const IP_BROADCAST = 0xffffffff;

/** Whether `a` is a multicast (224/4) or reserved class E (240/4) address. */
export function isMulticastOrClassE(a: number): boolean {
  return (a >>> 28) >= 14;
}
