/**
 * The IPv6 header (RFC 8200 §3) and the extension headers a host walks.
 *
 * ```
 *  0 version(4) traffic class(8) flow label(20)
 *  4 payload length (2)    6 next header    7 hop limit
 *  8 source address (16)
 * 24 destination address (16)
 * 40 extension headers, then the upper-layer header
 * ```
 */
export const enum Ip6Hdr {
  /** Version, traffic class and flow label: one 32-bit word. */
  VER_TC_FLOW = 0,
  PAYLOAD_LEN = 4,
  NEXT_HDR = 6,
  HOP_LIMIT = 7,
  SRC = 8,
  DST = 24,
  /** Length of the fixed header. */
  HDR_LEN = 40,
  /** Bytes of an IPv6 address. */
  ALEN = 16,
  /** Version 6 in the top nibble of the first byte. */
  VERSION_6 = 6,
  /** Smallest link MTU IPv6 may run over (RFC 8200 §5). */
  MIN_MTU = 1280,
  /** Largest payload length (no jumbograms). */
  MAX_PAYLOAD = 65535,
}

/**
 * Hop-by-hop / destination options and routing headers share this start:
 * next header, then the header length in 8-byte units not counting the first 8.
 *
 * ```
 *  0 next header   1 hdr ext len   2 ... (options | routing type, segments left)
 * ```
 */
export const enum Ip6Ext {
  NEXT = 0,
  LEN = 1,
  /** Routing header: routing type, segments left. */
  RT_TYPE = 2,
  RT_SEGLEFT = 3,
  /** Smallest extension header (and the unit of hdr ext len). */
  UNIT = 8,
  /** log2 of UNIT. */
  UNIT_SHIFT = 3,
  /** Options start after next header and length. */
  OPTS = 2,
}

/**
 * The fragment header (RFC 8200 §4.5).
 *
 * ```
 *  0 next header   1 reserved   2 offset(13) res(2) M(1)   4 identification (4)
 * ```
 */
export const enum Ip6Frag {
  NEXT = 0,
  RESERVED = 1,
  OFF_FLAGS = 2,
  ID = 4,
  LEN = 8,
  /** The M (more fragments) bit of OFF_FLAGS. */
  FLAG_M = 1,
  /** The offset bits of OFF_FLAGS: already in bytes (8-byte units << 3). */
  OFFSET_MASK = 0xfff8,
  UNIT = 8,
}

/** Option types of hop-by-hop and destination options headers (RFC 8200 §4.2). */
export const enum Ip6Opt {
  PAD1 = 0,
  PADN = 1,
  /** The two top bits of an option type say what to do when it is not recognised. */
  ACTION_SHIFT = 6,
  ACTION_SKIP = 0,
  ACTION_DISCARD = 1,
  ACTION_DISCARD_ICMP = 2,
  ACTION_DISCARD_ICMP_UNICAST = 3,
  /** Router alert (RFC 2711): a host ignores it. */
  ROUTER_ALERT = 5,
}

/** Next-header values (IANA protocol numbers) IPv6 knows. */
export const enum Ip6Proto {
  HOPOPTS = 0,
  TCP = 6,
  UDP = 17,
  ROUTING = 43,
  FRAGMENT = 44,
  ESP = 50,
  AH = 51,
  ICMPV6 = 58,
  NONE = 59,
  DSTOPTS = 60,
}

export const IP6_HDR_LEN: number = Ip6Hdr.HDR_LEN;
export const IP6_MIN_MTU: number = Ip6Hdr.MIN_MTU;
export const IPPROTO_ICMPV6: number = Ip6Proto.ICMPV6;
export const IPPROTO_HOPOPTS: number = Ip6Proto.HOPOPTS;
export const IPPROTO_ROUTING: number = Ip6Proto.ROUTING;
export const IPPROTO_FRAGMENT: number = Ip6Proto.FRAGMENT;
export const IPPROTO_DSTOPTS: number = Ip6Proto.DSTOPTS;
export const IPPROTO_NONE: number = Ip6Proto.NONE;
