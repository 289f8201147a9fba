/**
 * The `struct rte_mbuf` layout of DPDK 22.11 (x86_64, `enable_iova_as_pa=true`).
 *
 * tzstack reads and writes these fields directly in the mempool's memory, so a
 * wrong offset here would corrupt packets silently. The DPDK shim reports
 * `offsetof()` for every field at start-up and {@link checkLayout} refuses to
 * run on any mismatch; the pure TypeScript pool uses the same constants so the
 * protocol code cannot tell the two apart.
 *
 * ```
 *  0 buf_addr (8)       8 buf_iova (8)     16 data_off (2)  18 refcnt (2)
 * 20 nb_segs (2)       22 port (2)         24 ol_flags (8)
 * 32 packet_type (4)   36 pkt_len (4)      40 data_len (2)  42 vlan_tci (2)
 * 44 hash (8)          52 vlan_tci_outer (2)                54 buf_len (2)
 * 56 pool (8)          64 next (8)         72 tx_offload (8)
 * 80 shinfo (8)        88 priv_size (2)    90 timesync (2)  92 dynfield1 (36)
 * 128 private area (priv_size bytes), then the data buffer (buf_len bytes)
 * ```
 */
/**
 * Every constant of this file as a `const enum`: tsc writes the number itself
 * where a member is used, while an imported `export const` is a module
 * variable load (and TDZ check) on every use, ~30 % of the instructions of
 * the mbuf accessors (measured). The exported names below are the same
 * values for code that imports them by name; hot code imports this.
 */
export const enum MbufLayout {
  MBUF_BUF_ADDR = 0,
  MBUF_BUF_IOVA = 8,
  MBUF_DATA_OFF = 16,
  MBUF_REFCNT = 18,
  MBUF_NB_SEGS = 20,
  MBUF_PORT = 22,
  MBUF_OL_FLAGS = 24,
  MBUF_PACKET_TYPE = 32,
  MBUF_PKT_LEN = 36,
  MBUF_DATA_LEN = 40,
  MBUF_VLAN_TCI = 42,
  MBUF_HASH = 44,
  MBUF_VLAN_TCI_OUTER = 52,
  MBUF_BUF_LEN = 54,
  MBUF_POOL = 56,
  MBUF_NEXT = 64,
  MBUF_TX_OFFLOAD = 72,
  MBUF_SHINFO = 80,
  MBUF_PRIV_SIZE = 88,
  MBUF_HEADER_SIZE = 128,
  MBUF_DEFAULT_HEADROOM = 128,
  MBUF_DEFAULT_DATAROOM = 2048,
  OL_RX_IP_CKSUM_BAD_LO = 1 << 4,
  OL_RX_IP_CKSUM_GOOD_LO = 1 << 7,
  OL_RX_IP_CKSUM_MASK_LO = (1 << 4) | (1 << 7),
  OL_RX_L4_CKSUM_BAD_LO = 1 << 3,
  OL_RX_L4_CKSUM_GOOD_LO = 1 << 8,
  OL_RX_L4_CKSUM_MASK_LO = (1 << 3) | (1 << 8),
  OL_RX_RSS_HASH_LO = 1 << 1,
  OL_RX_LRO_LO = 1 << 16,
  OL_TX_TCP_SEG_HI = 1 << (50 - 32),
  OL_TX_TCP_CKSUM_HI = 1 << (52 - 32),
  OL_TX_UDP_CKSUM_HI = 3 << (52 - 32),
  OL_TX_L4_MASK_HI = 3 << (52 - 32),
  OL_TX_IP_CKSUM_HI = 1 << (54 - 32),
  OL_TX_IPV4_HI = 1 << (55 - 32),
  OL_TX_IPV6_HI = 1 << (56 - 32),
  OL_EXTERNAL_HI = 1 << (61 - 32),
  OL_INDIRECT_HI = 1 << (62 - 32),
  TX_OFFLOAD_IPV4_CKSUM = 1 << 1,
  TX_OFFLOAD_UDP_CKSUM = 1 << 2,
  TX_OFFLOAD_TCP_CKSUM = 1 << 3,
  TX_OFFLOAD_TCP_TSO = 1 << 5,
  TX_OFFLOAD_MULTI_SEGS = 1 << 15,
  RX_OFFLOAD_IPV4_CKSUM = 1 << 1,
  RX_OFFLOAD_TCP_CKSUM = 1 << 3,
  RX_OFFLOAD_TCP_LRO = 1 << 4,
  RX_OFFLOAD_SCATTER = 1 << 13,
}

export const MBUF_BUF_ADDR: number = MbufLayout.MBUF_BUF_ADDR;
export const MBUF_BUF_IOVA: number = MbufLayout.MBUF_BUF_IOVA;
export const MBUF_DATA_OFF: number = MbufLayout.MBUF_DATA_OFF;
export const MBUF_REFCNT: number = MbufLayout.MBUF_REFCNT;
export const MBUF_NB_SEGS: number = MbufLayout.MBUF_NB_SEGS;
export const MBUF_PORT: number = MbufLayout.MBUF_PORT;
export const MBUF_OL_FLAGS: number = MbufLayout.MBUF_OL_FLAGS;
export const MBUF_PACKET_TYPE: number = MbufLayout.MBUF_PACKET_TYPE;
export const MBUF_PKT_LEN: number = MbufLayout.MBUF_PKT_LEN;
export const MBUF_DATA_LEN: number = MbufLayout.MBUF_DATA_LEN;
export const MBUF_VLAN_TCI: number = MbufLayout.MBUF_VLAN_TCI;
export const MBUF_HASH: number = MbufLayout.MBUF_HASH;
export const MBUF_VLAN_TCI_OUTER: number = MbufLayout.MBUF_VLAN_TCI_OUTER;
export const MBUF_BUF_LEN: number = MbufLayout.MBUF_BUF_LEN;
export const MBUF_POOL: number = MbufLayout.MBUF_POOL;
export const MBUF_NEXT: number = MbufLayout.MBUF_NEXT;
export const MBUF_TX_OFFLOAD: number = MbufLayout.MBUF_TX_OFFLOAD;
export const MBUF_SHINFO: number = MbufLayout.MBUF_SHINFO;
export const MBUF_PRIV_SIZE: number = MbufLayout.MBUF_PRIV_SIZE;
/** sizeof(struct rte_mbuf). */
export const MBUF_HEADER_SIZE: number = MbufLayout.MBUF_HEADER_SIZE;
/** RTE_PKTMBUF_HEADROOM in Debian's build. */
export const MBUF_DEFAULT_HEADROOM: number = MbufLayout.MBUF_DEFAULT_HEADROOM;
/** RTE_MBUF_DEFAULT_DATAROOM: 2048 bytes of data after the headroom. */
export const MBUF_DEFAULT_DATAROOM: number = MbufLayout.MBUF_DEFAULT_DATAROOM;

/** Field names and offsets as the shim reports them, in this order. */
export const LAYOUT_FIELDS: ReadonlyArray<readonly [string, number]> = [
  ['buf_addr', MBUF_BUF_ADDR],
  ['buf_iova', MBUF_BUF_IOVA],
  ['data_off', MBUF_DATA_OFF],
  ['refcnt', MBUF_REFCNT],
  ['nb_segs', MBUF_NB_SEGS],
  ['port', MBUF_PORT],
  ['ol_flags', MBUF_OL_FLAGS],
  ['packet_type', MBUF_PACKET_TYPE],
  ['pkt_len', MBUF_PKT_LEN],
  ['data_len', MBUF_DATA_LEN],
  ['vlan_tci', MBUF_VLAN_TCI],
  ['hash', MBUF_HASH],
  ['buf_len', MBUF_BUF_LEN],
  ['pool', MBUF_POOL],
  ['next', MBUF_NEXT],
  ['tx_offload', MBUF_TX_OFFLOAD],
  ['shinfo', MBUF_SHINFO],
  ['priv_size', MBUF_PRIV_SIZE],
  ['sizeof', MBUF_HEADER_SIZE],
];

/**
 * Compare the offsets a DPDK build reports with ours.
 * @param reported - offsets in {@link LAYOUT_FIELDS} order
 * @throws Error naming every field that differs
 */
export function checkLayout(reported: ArrayLike<number>): void {
  const bad: string[] = [];
  LAYOUT_FIELDS.forEach(([name, off], i) => {
    if (reported[i] !== off) bad.push(`${name}: DPDK says ${reported[i]}, tzstack assumes ${off}`);
  });
  if (bad.length) throw new Error(`rte_mbuf layout mismatch, refusing to run: ${bad.join('; ')}`);
}

// ol_flags is 64 bits wide; tzstack keeps it as two 32-bit halves so the hot
// path never touches BigInt. `_LO` constants live in bits 0-31, `_HI` in 32-63.

/** RX: IP checksum flags (low word). BAD and GOOD both set means NONE. */
export const OL_RX_IP_CKSUM_BAD_LO: number = MbufLayout.OL_RX_IP_CKSUM_BAD_LO;
export const OL_RX_IP_CKSUM_GOOD_LO: number = MbufLayout.OL_RX_IP_CKSUM_GOOD_LO;
export const OL_RX_IP_CKSUM_MASK_LO: number = MbufLayout.OL_RX_IP_CKSUM_MASK_LO;
/** RX: L4 checksum flags (low word). BAD and GOOD both set means NONE. */
export const OL_RX_L4_CKSUM_BAD_LO: number = MbufLayout.OL_RX_L4_CKSUM_BAD_LO;
export const OL_RX_L4_CKSUM_GOOD_LO: number = MbufLayout.OL_RX_L4_CKSUM_GOOD_LO;
export const OL_RX_L4_CKSUM_MASK_LO: number = MbufLayout.OL_RX_L4_CKSUM_MASK_LO;
export const OL_RX_RSS_HASH_LO: number = MbufLayout.OL_RX_RSS_HASH_LO;
export const OL_RX_LRO_LO: number = MbufLayout.OL_RX_LRO_LO;
/** TX flags (high word; bit N of ol_flags is bit N-32 here). */
export const OL_TX_TCP_SEG_HI: number = MbufLayout.OL_TX_TCP_SEG_HI;
export const OL_TX_TCP_CKSUM_HI: number = MbufLayout.OL_TX_TCP_CKSUM_HI;
export const OL_TX_UDP_CKSUM_HI: number = MbufLayout.OL_TX_UDP_CKSUM_HI;
export const OL_TX_L4_MASK_HI: number = MbufLayout.OL_TX_L4_MASK_HI;
export const OL_TX_IP_CKSUM_HI: number = MbufLayout.OL_TX_IP_CKSUM_HI;
export const OL_TX_IPV4_HI: number = MbufLayout.OL_TX_IPV4_HI;
export const OL_TX_IPV6_HI: number = MbufLayout.OL_TX_IPV6_HI;
/** RTE_MBUF_F_EXTERNAL (bit 61) and RTE_MBUF_F_INDIRECT (bit 62). */
export const OL_EXTERNAL_HI: number = MbufLayout.OL_EXTERNAL_HI;
export const OL_INDIRECT_HI: number = MbufLayout.OL_INDIRECT_HI;

/** Port offload capability bits (rte_eth_dev_info tx/rx_offload_capa). */
export const TX_OFFLOAD_IPV4_CKSUM: number = MbufLayout.TX_OFFLOAD_IPV4_CKSUM;
export const TX_OFFLOAD_TCP_CKSUM: number = MbufLayout.TX_OFFLOAD_TCP_CKSUM;
export const TX_OFFLOAD_TCP_TSO: number = MbufLayout.TX_OFFLOAD_TCP_TSO;
export const TX_OFFLOAD_MULTI_SEGS: number = MbufLayout.TX_OFFLOAD_MULTI_SEGS;
export const RX_OFFLOAD_IPV4_CKSUM: number = MbufLayout.RX_OFFLOAD_IPV4_CKSUM;
export const RX_OFFLOAD_TCP_CKSUM: number = MbufLayout.RX_OFFLOAD_TCP_CKSUM;
export const RX_OFFLOAD_TCP_LRO: number = MbufLayout.RX_OFFLOAD_TCP_LRO;
export const RX_OFFLOAD_SCATTER: number = MbufLayout.RX_OFFLOAD_SCATTER;
