/**
 * Generic receive offload (GRO) for TCP, in software: within one receive
 * burst, in-order data segments of one flow are coalesced into one chain
 * before TCP input, so the state machine, the receive queue and ACK
 * generation run once per burst and flow instead of once per segment.
 *
 * Merge rules (as Linux's tcp_gro_receive): same 4-tuple and TOS byte,
 * sequence number exactly where the aggregate ends, identical header word
 * at offset 12 (data offset, flags, window) apart from PSH, same ACK number,
 * byte-identical options (so timestamps match), payload present, flags ACK
 * (and PSH) only — never SYN, FIN, RST, URG, ECE or CWR. A PSH segment is
 * merged and then ends its aggregate. The checksum of every segment is
 * verified (or trusted from the NIC) before it is offered here.
 *
 * An aggregate keeps the first segment's header at mtod of its head mbuf;
 * followers are `adj`'d past their own header and chained behind (no byte
 * is copied), and the head's pkt_len grows. Delayed ACKs stay correct:
 * input counts received bytes against "ACK every second full-sized
 * segment", measuring "full-sized" by the original segments' size (passed
 * with the aggregate), so an aggregate of N ≥ 2 segments is acknowledged at
 * once.
 *
 * Holding is opt-in per burst ({@link GroCollector.begin}/`flush`): a
 * standalone TcpLayer (packetdrill, tests injecting segments one by one)
 * processes every segment immediately.
 */
import { rxChecksumsSettled } from '../ip/checksum.js';
import { MbufLayout } from '../mbuf/layout.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { TcpHdr, TcpFlag, type TcpSegment } from './header.js';
import type { Addr6 } from '../ip/addr6.js';
import type { Mbuf } from '../mbuf/index.js';
import type { Ip4 } from '../ip/addr.js';

/** Largest aggregate (TCP header + payload): what one IPv4 datagram could carry, as Linux's 64 KB GRO limit. */
export const GRO_MAX_BYTES: number = TcpHdr.MaxSegBytes;
/** Most segments one aggregate holds. */
export const GRO_MAX_SEGS: number = 64;

/**
 * The limits as compile-time numbers for the per-segment code (an imported
 * or module-level `const` is a cell load and a not-yet-initialised check at
 * every use in optimised code; a const enum member is the number itself).
 */
const enum Lim {
  MaxBytes = TcpHdr.MaxSegBytes,
  MaxSegs = 64,
  /** Flows held at once within a burst; more are processed unmerged. */
  MaxFlows = 64,
}

/** {@link GroCollector.offer} results. */
export enum GroResult {
  /** Not held: the caller processes the segment now (its parse is intact). */
  Pass = 0,
  /** Held (merged or started an aggregate): the collector owns the mbuf. */
  Held = 1,
  /** Not held, and an aggregate was delivered first: the caller must parse again. */
  PassAfterFlush = 2,
}

const enum GroHdr {
  /** Offset of the data offset / flags / window word in the TCP header. */
  TCP_WORD12 = TcpHdr.DataOff,
  /** The two ports as one word (source high), as {@link GroCollector} keys flows. */
  TCP_PORTS = TcpHdr.SrcPort,
  TCP_SEQ_OFF = TcpHdr.Seq,
  TCP_ACK_OFF = TcpHdr.Ack,
  TCP_FLAGS_OFF = TcpHdr.Flags,
  /** PSH in that word (flags are its second byte). */
  WORD12_PSH = TcpFlag.PSH << 16,
  /** The IPv4 header without options. */
  IP_HDR = 20,
  /** Its first word with version 4, IHL 5, TOS and total length 0. */
  IP_VIHL_WORD = 0x45 << 24,
  /** Flags / fragment offset halfword, and MF with the offset in it (DF may be set). */
  IP_FRAG_OFF = 6,
  IP_FRAG_MASK = 0x3fff,
  /** The protocol in the word at offset 8 (TTL, protocol, checksum), and TCP there. */
  IP_PROTO_MASK = 0x00ff0000,
  IP_PROTO_TCP_WORD = 6 << 16,
  IP_SRC_OFF = 12,
  IP_DST_OFF = 16,
}

/**
 * What the collector keeps per aggregate: one row of {@link St.Stride}
 * int32 words in one typed array (one array to load and bounds-check per
 * merge instead of sixteen). 32-bit unsigned values (addresses, ports,
 * sequence numbers, header words) are kept as int32 (`| 0`) and compared
 * with the header's words read as int32.
 */
const enum St {
  Head = 0,
  /** Last segment: chaining through it avoids walking the chain per merge. */
  Tail = 1,
  Src = 2,
  Dst = 3,
  /** Source port high, destination port low. */
  Ports = 4,
  Tos = 5,
  NextSeq = 6,
  Ack = 7,
  /** Header word 12 (data offset, flags, window) without PSH. */
  Word12 = 8,
  HdrLen = 9,
  Segs = 10,
  /** Largest original segment payload. */
  SegLen = 11,
  Closed = 12,
  // The head mbuf's pkt_len and nb_segs while held (written to it once, when
  // the aggregate is delivered: not read and rewritten per merge), and the
  // index in pool.u8 of its TCP header.
  ALen = 13,
  ASegs = 14,
  AHdr = 15,
  Stride = 16,
  Shift = 4,
}

/**
 * Delivers a finished aggregate (mtod at the TCP header; checksum already
 * settled) of `segments` original segments, the largest carrying `segLen`
 * payload bytes (what input measures the peer's segment size by, as Linux
 * uses gso_size).
 */
export type GroDeliver = (m: Mbuf, src: Ip4, dst: Ip4, tos: number, segments: number, segLen: number) => void;

/**
 * The per-burst set of aggregates, in one typed array (no allocation per packet).
 */
export class GroCollector {
  /** Whether segments are being collected (between begin and flush). */
  active = false;
  /** Segments merged into an earlier one (each saves a pass through input). */
  merged = 0;
  /** Aggregates delivered holding more than one segment. */
  aggregates = 0;
  /** Of {@link merged}, the segments {@link mergeFrame} merged (the receive fast path). */
  fastMerged = 0;

  private n = 0;
  private readonly st = new Int32Array(Lim.MaxFlows * St.Stride);
  /**
   * An IPv6 collector's full addresses, 8 words a row (source, then
   * destination), beside the rows' 32-bit folds: a flow is found by its
   * folds and ports and then compared in full, so two address pairs that
   * fold alike never merge. null in an IPv4 collector.
   */
  private readonly a6: Int32Array | null;
  /** The addresses of the aggregate being delivered (IPv6 collector): read them in the deliver callback. */
  readonly deliverSrc6: Addr6 = new Uint32Array(4);
  readonly deliverDst6: Addr6 = new Uint32Array(4);
  /** Set by {@link place} when it began a new row. */
  private placedNew = false;

  /**
   * @param v6 - a collector of IPv6 flows ({@link offer6}; `src`/`dst` given
   *   to `deliver` are then folds, the addresses in {@link deliverSrc6}/{@link deliverDst6})
   */
  constructor(private readonly pool: Mempool, private readonly deliver: GroDeliver, v6 = false) {
    this.a6 = v6 ? new Int32Array(Lim.MaxFlows * 8) : null;
  }

  /** Start collecting (a receive burst begins). */
  begin(): void { this.active = true; }

  /** Deliver every aggregate, in arrival order, and stop collecting. */
  flush(): void {
    this.active = false;
    const n = this.n;
    this.n = 0;
    for (let i = 0; i < n; i++) this.emit(i);
  }

  /** Free what is held (layer closing). */
  clear(): void {
    for (let i = 0; i < this.n; i++) {
      this.writeBack(i);
      this.pool.free(this.st[(i << St.Shift) + St.Head] as Mbuf);
    }
    this.n = 0;
    this.active = false;
  }

  /** Aggregates currently held. */
  get held(): number { return this.n; }

  /**
   * Offer a verified, parsed segment (`seg` describes `m`).
   * @returns whether the collector took it, see {@link GroResult}
   */
  offer(m: Mbuf, seg: TcpSegment, src: Ip4, dst: Ip4, tos: number): GroResult {
    const st = this.st;
    const ports = (seg.srcPort << 16) | seg.dstPort;
    const s32 = src | 0;
    const d32 = dst | 0;
    let i = 0;
    for (; i < this.n; i++) {
      const b = i << St.Shift;
      if (st[b + St.Ports] === ports && st[b + St.Src] === s32 && st[b + St.Dst] === d32) break;
    }
    return this.place(i, m, seg, ports, s32, d32, tos);
  }

  /**
   * {@link offer} for an IPv6 segment (a collector made with `v6`): the
   * same rules (Linux's tcp6_gro_receive adds none but the addresses),
   * `tclass` in the place of the TOS byte.
   */
  offer6(m: Mbuf, seg: TcpSegment, src: Readonly<Addr6>, dst: Readonly<Addr6>, tclass: number): GroResult {
    const st = this.st;
    const a6 = this.a6!;
    const ports = (seg.srcPort << 16) | seg.dstPort;
    const s32 = src[0] ^ src[1] ^ src[2] ^ src[3];
    const d32 = dst[0] ^ dst[1] ^ dst[2] ^ dst[3];
    let i = 0;
    for (; i < this.n; i++) {
      const b = i << St.Shift;
      if (st[b + St.Ports] !== ports || st[b + St.Src] !== s32 || st[b + St.Dst] !== d32) continue;
      const r = i << 3;
      if (a6[r] === (src[0] | 0) && a6[r + 1] === (src[1] | 0) && a6[r + 2] === (src[2] | 0) && a6[r + 3] === (src[3] | 0)
        && a6[r + 4] === (dst[0] | 0) && a6[r + 5] === (dst[1] | 0) && a6[r + 6] === (dst[2] | 0) && a6[r + 7] === (dst[3] | 0)) break;
      // Another address pair that folds alike: not collected (processed now).
      return GroResult.Pass;
    }
    this.placedNew = false;
    const res = this.place(i, m, seg, ports, s32, d32, tclass);
    if (this.placedNew) {
      // A new row, at the end: its addresses.
      const r = (this.n - 1) << 3;
      a6[r] = src[0]; a6[r + 1] = src[1]; a6[r + 2] = src[2]; a6[r + 3] = src[3];
      a6[r + 4] = dst[0]; a6[r + 5] = dst[1]; a6[r + 6] = dst[2]; a6[r + 7] = dst[3];
    }
    return res;
  }

  /** offer's second half: `i` is the flow's row, or {@link n} when it has none. */
  private place(i: number, m: Mbuf, seg: TcpSegment, ports: number, s32: number, d32: number, tos: number): GroResult {
    const pool = this.pool;
    const st = this.st;
    // Delivering an aggregate below re-parses into the layer's one TcpSegment: keep what we need.
    const seq = seg.seq;
    const ack = seg.ack;
    const flags = seg.flags;
    const hdrLen = seg.hdrLen;
    const plen = seg.payloadLen;
    const eligible = plen > 0 && (flags & ~TcpFlag.PSH) === TcpFlag.ACK;
    let flushed = false;
    if (i < this.n) {
      if (eligible && this.canMerge(i, m, seg, tos)) {
        // append fails (m untouched) only if the header were not in the first
        // mbuf, which parseTcp has ensured: then it is passed on intact.
        if (this.append(i, m, seg.hdrLen, seg.payloadLen, (seg.flags & TcpFlag.PSH) !== 0)) return GroResult.Held;
      }
      // Something else for this flow: what was collected goes first.
      this.remove(i);
      flushed = true;
    }
    if (eligible && this.n < Lim.MaxFlows && hdrLen + plen <= Lim.MaxBytes) {
      const b = (this.n++) << St.Shift;
      this.placedNew = true;
      const p = pool.mtod(m);
      st[b + St.Head] = m;
      st[b + St.Tail] = pool.lastSeg(m);
      st[b + St.ALen] = pool.pktLen(m);
      st[b + St.ASegs] = pool.nbSegs(m);
      st[b + St.AHdr] = p;
      st[b + St.Src] = s32;
      st[b + St.Dst] = d32;
      st[b + St.Ports] = ports;
      st[b + St.Tos] = tos;
      st[b + St.NextSeq] = (seq + plen) | 0;
      st[b + St.Ack] = ack | 0;
      st[b + St.Word12] = pool.dv.getInt32(p + GroHdr.TCP_WORD12) & ~GroHdr.WORD12_PSH;
      st[b + St.HdrLen] = hdrLen;
      st[b + St.Segs] = 1;
      st[b + St.SegLen] = plen;
      st[b + St.Closed] = (flags & TcpFlag.PSH) ? 1 : 0;
      return GroResult.Held;
    }
    return flushed ? GroResult.PassAfterFlush : GroResult.Pass;
  }

  /**
   * The fast path for the common case, tried before the segment is parsed:
   * `m` (checksum settled, mtod at the TCP header) continues the flow of the
   * newest aggregate exactly (same 4-tuple and TOS, sequence number where it
   * ends, same ACK, header word 12 and options). The checks are
   * {@link offer}'s for that case, read from the header in place.
   * @returns true when `m` was merged (the collector owns it); false leaves
   *   `m` untouched for the full parse and {@link offer}
   */
  mergeNext(m: Mbuf, src: Ip4, dst: Ip4, tos: number): boolean {
    const b = (this.n - 1) << St.Shift;
    const st = this.st;
    if (b < 0 || st[b + St.Closed] !== 0 || st[b + St.Src] !== (src | 0) || st[b + St.Dst] !== (dst | 0)
      || st[b + St.Tos] !== tos) return false;
    const pool = this.pool;
    const hdrLen = st[b + St.HdrLen];
    const pktLen = pool.pktLen(m);
    const dl = pool.dataLen(m);
    // The header in the first segment (else the full parse pulls it up), and payload present.
    if (dl < hdrLen || pktLen <= hdrLen) return false;
    const off = pool.dataOff(m);
    return this.follow(b, m, pool.bufStart(m) + off, off, 0, hdrLen, pktLen - hdrLen, dl - hdrLen);
  }

  /**
   * The receive fast path, before any layer has looked at the
   * frame beyond its Ethernet header: `m` is a whole frame (mtod at its
   * `l2`-byte link header, `p` the index in `pool.u8` of its IPv4 header,
   * `dl` and `len` the bytes from there in the first segment and in the
   * packet) that continues the newest aggregate exactly. A few word compares
   * stand for the whole of IPv4 input and the TCP parse: an IPv4 header of
   * 20 bytes with version 4, the aggregate's TOS and a total length that is
   * the packet's (nothing to trim), no fragment bits, TTL not 0, protocol
   * TCP, the aggregate's addresses (which passed IPv4's checks when it
   * began), both checksums settled as IPv4 and TCP input would settle them
   * (the NIC's verdict, or the IPv4 header summed here; a TCP checksum that
   * software would have to compute is left to the slow path), then
   * {@link mergeNext}'s checks on the TCP header. The caller counts the
   * frame as the layers below would have (Ethernet, IPv4 and TCP rx).
   * @param checksumUnneeded - the link is trusted (as IPv4 and TCP input's env)
   * @returns true when `m` was merged (the collector owns it); false leaves
   *   `m` untouched for the normal path, which handles everything else (and
   *   counts every bad frame as the drop it is)
   */
  mergeFrame(m: Mbuf, l2: number, p: number, dl: number, len: number, checksumUnneeded: boolean): boolean {
    const b = (this.n - 1) << St.Shift;
    const st = this.st;
    if (b < 0 || st[b + St.Closed] !== 0) return false;
    const hdrLen = st[b + St.HdrLen];
    // Both headers in the first segment, payload present, a length the IPv4 header can state.
    if (dl < GroHdr.IP_HDR + hdrLen || len <= GroHdr.IP_HDR + hdrLen || len > 0xffff) return false;
    const pool = this.pool;
    const dv = pool.dv;
    const w0 = dv.getInt32(p);
    if (w0 !== (GroHdr.IP_VIHL_WORD | (st[b + St.Tos] << 16) | len)) return false;
    const w2 = dv.getInt32(p + 8);
    // No fragment bits (DF may be set), protocol TCP, TTL not 0.
    if ((dv.getUint16(p + GroHdr.IP_FRAG_OFF) & GroHdr.IP_FRAG_MASK) !== 0
      || (w2 & GroHdr.IP_PROTO_MASK) !== GroHdr.IP_PROTO_TCP_WORD || (w2 >>> 24) === 0) return false;
    const w3 = dv.getInt32(p + GroHdr.IP_SRC_OFF);
    const w4 = dv.getInt32(p + GroHdr.IP_DST_OFF);
    if (w3 !== st[b + St.Src] || w4 !== st[b + St.Dst]) return false;
    if (!rxChecksumsSettled(pool, m, p, w0, w2, w3, w4, checksumUnneeded)) return false;
    // follow(b, m, p + IP_HDR, ...) written out: one call less per segment
    // on the path every bulk segment takes (keep the two the same).
    const t = p + GroHdr.IP_HDR;
    if (dv.getInt32(t + GroHdr.TCP_PORTS) !== st[b + St.Ports]) return false;
    const w12 = dv.getInt32(t + GroHdr.TCP_WORD12);
    if ((w12 & ~GroHdr.WORD12_PSH) !== st[b + St.Word12]) return false;
    const nextSeq = st[b + St.NextSeq];
    if (dv.getInt32(t + GroHdr.TCP_SEQ_OFF) !== nextSeq || dv.getInt32(t + GroHdr.TCP_ACK_OFF) !== st[b + St.Ack]) return false;
    const plen = len - GroHdr.IP_HDR - hdrLen;
    const hLen = st[b + St.ALen];
    const segs = st[b + St.Segs];
    if (segs >= Lim.MaxSegs || hLen + plen > Lim.MaxBytes) return false;
    const hSegs = st[b + St.ASegs];
    const mSegs = pool.nbSegs(m);
    if (hSegs + mSegs > 0xffff) return false;
    const a = st[b + St.AHdr];
    if (hdrLen === 32) {
      if (dv.getInt32(a + 20) !== dv.getInt32(t + 20) || dv.getInt32(a + 24) !== dv.getInt32(t + 24)
        || dv.getInt32(a + 28) !== dv.getInt32(t + 28)) return false;
    } else {
      for (let j = 20; j < hdrLen; j += 4) if (dv.getInt32(a + j) !== dv.getInt32(t + j)) return false;
    }
    const pdl = dl - GroHdr.IP_HDR - hdrLen;
    pool.setDataOff(m, pool.dataOff(m) + l2 + GroHdr.IP_HDR + hdrLen);
    pool.setDataLen(m, pdl);
    pool.setPktLen(m, pdl);
    pool.setNext(st[b + St.Tail] as Mbuf, m);
    st[b + St.ASegs] = hSegs + mSegs;
    st[b + St.ALen] = hLen + plen;
    st[b + St.Tail] = mSegs === 1 ? m : pool.lastSeg(m);
    st[b + St.NextSeq] = nextSeq + plen;
    st[b + St.Segs] = segs + 1;
    if (plen > st[b + St.SegLen]) st[b + St.SegLen] = plen;
    this.merged++;
    this.fastMerged++;
    if ((w12 & GroHdr.WORD12_PSH) !== 0) {
      pool.u8[a + GroHdr.TCP_FLAGS_OFF] |= TcpFlag.PSH;
      st[b + St.Closed] = 1;
    }
    return true;
  }

  /**
   * {@link mergeNext}'s TCP checks and the merge itself into the aggregate
   * at row `b` of the state, for `m` whose TCP header is at `p` (index in
   * `pool.u8`), `before + hdrLen` bytes after its data offset `off`; `plen`
   * payload bytes in the packet, `pdl` in its first segment (the caller
   * checked the header is there and plen > 0).
   */
  private follow(b: number, m: Mbuf, p: number, off: number, before: number, hdrLen: number, plen: number, pdl: number): boolean {
    const pool = this.pool;
    const st = this.st;
    const dv = pool.dv;
    if (dv.getInt32(p + GroHdr.TCP_PORTS) !== st[b + St.Ports]) return false;
    const w12 = dv.getInt32(p + GroHdr.TCP_WORD12);
    // Same data offset (so hdrLen), flags ACK (+PSH) as the head's, same window.
    if ((w12 & ~GroHdr.WORD12_PSH) !== st[b + St.Word12]) return false;
    const nextSeq = st[b + St.NextSeq];
    if (dv.getInt32(p + GroHdr.TCP_SEQ_OFF) !== nextSeq || dv.getInt32(p + GroHdr.TCP_ACK_OFF) !== st[b + St.Ack]) return false;
    const hLen = st[b + St.ALen];
    const segs = st[b + St.Segs];
    if (segs >= Lim.MaxSegs || hLen + plen > Lim.MaxBytes) return false;
    const hSegs = st[b + St.ASegs];
    const mSegs = pool.nbSegs(m);
    if (hSegs + mSegs > 0xffff) return false;
    // Options byte-identical, compared a word at a time (the TCP header
    // length is a multiple of 4; the words need not be aligned): the
    // timestamps layout (12 bytes) unrolled.
    const a = st[b + St.AHdr];
    if (hdrLen === 32) {
      if (dv.getInt32(a + 20) !== dv.getInt32(p + 20) || dv.getInt32(a + 24) !== dv.getInt32(p + 24)
        || dv.getInt32(a + 28) !== dv.getInt32(p + 28)) return false;
    } else {
      for (let j = 20; j < hdrLen; j += 4) if (dv.getInt32(a + j) !== dv.getInt32(p + j)) return false;
    }
    // As append(...), with the fields read above instead of read again:
    // m's headers trimmed (pool.adj), m chained behind the tail.
    pool.setDataOff(m, off + before + hdrLen);
    pool.setDataLen(m, pdl);
    pool.setPktLen(m, pdl);
    pool.setNext(st[b + St.Tail] as Mbuf, m);
    st[b + St.ASegs] = hSegs + mSegs;
    st[b + St.ALen] = hLen + plen;
    st[b + St.Tail] = mSegs === 1 ? m : pool.lastSeg(m);
    st[b + St.NextSeq] = nextSeq + plen;
    st[b + St.Segs] = segs + 1;
    if (plen > st[b + St.SegLen]) st[b + St.SegLen] = plen;
    this.merged++;
    if ((w12 & GroHdr.WORD12_PSH) !== 0) {
      pool.u8[a + GroHdr.TCP_FLAGS_OFF] |= TcpFlag.PSH;
      st[b + St.Closed] = 1;
    }
    return true;
  }

  /** Chain `m` (header `hdrLen`, `plen` payload bytes) behind aggregate `i`. @returns false (m untouched) if it cannot be trimmed */
  private append(i: number, m: Mbuf, hdrLen: number, plen: number, psh: boolean): boolean {
    const pool = this.pool;
    const st = this.st;
    const b = i << St.Shift;
    if (pool.adj(m, hdrLen) < 0) return false;
    // pool.chain(h, m), without walking h to its last segment (the head's
    // pkt_len and nb_segs are kept here until delivery).
    pool.setNext(st[b + St.Tail] as Mbuf, m);
    st[b + St.ASegs] += pool.nbSegs(m);
    st[b + St.ALen] += pool.pktLen(m);
    pool.setPktLen(m, pool.dataLen(m));
    st[b + St.Tail] = pool.lastSeg(m);
    st[b + St.NextSeq] = st[b + St.NextSeq] + plen;
    st[b + St.Segs]++;
    if (plen > st[b + St.SegLen]) st[b + St.SegLen] = plen;
    this.merged++;
    if (psh) {
      pool.u8[st[b + St.AHdr] + GroHdr.TCP_FLAGS_OFF] |= TcpFlag.PSH;
      st[b + St.Closed] = 1;
    }
    return true;
  }

  private canMerge(i: number, m: Mbuf, seg: TcpSegment, tos: number): boolean {
    const st = this.st;
    const b = i << St.Shift;
    if (st[b + St.Closed] || (seg.seq | 0) !== st[b + St.NextSeq] || (seg.ack | 0) !== st[b + St.Ack] || tos !== st[b + St.Tos]) return false;
    if (seg.hdrLen !== st[b + St.HdrLen] || st[b + St.Segs] >= Lim.MaxSegs) return false;
    const pool = this.pool;
    if (st[b + St.ALen] + seg.payloadLen > Lim.MaxBytes) return false;
    if (st[b + St.ASegs] + pool.nbSegs(m) > 0xffff) return false;
    const a = st[b + St.AHdr];
    const p = pool.mtod(m);
    const dv = pool.dv;
    if ((dv.getInt32(p + GroHdr.TCP_WORD12) & ~GroHdr.WORD12_PSH) !== st[b + St.Word12]) return false;
    for (let k = 20; k < seg.hdrLen; k += 4) if (dv.getInt32(a + k) !== dv.getInt32(p + k)) return false;
    return true;
  }

  /** Deliver aggregate `i` now and close the gap it leaves (order of the rest kept). */
  private remove(i: number): void {
    this.writeBack(i);
    const st = this.st;
    const b = i << St.Shift;
    const m = st[b + St.Head] as Mbuf;
    const src = st[b + St.Src];
    const dst = st[b + St.Dst];
    const tos = st[b + St.Tos];
    const segs = st[b + St.Segs];
    const segLen = st[b + St.SegLen];
    const a6 = this.a6;
    if (a6 !== null) {
      this.addrsOut(i);
      a6.copyWithin(i << 3, (i + 1) << 3, this.n << 3);
    }
    st.copyWithin(b, b + St.Stride, this.n << St.Shift);
    this.n--;
    this.send(m, (src >>> 0) as Ip4, (dst >>> 0) as Ip4, tos, segs, segLen);
  }

  /** The head mbuf of aggregate `i` gets its pkt_len and nb_segs. */
  private writeBack(i: number): void {
    const st = this.st;
    const b = i << St.Shift;
    const h = st[b + St.Head] as Mbuf;
    this.pool.setPktLen(h, st[b + St.ALen]);
    this.pool.setNbSegs(h, st[b + St.ASegs]);
  }

  /** An IPv6 row's addresses into {@link deliverSrc6}/{@link deliverDst6}. */
  private addrsOut(i: number): void {
    const a6 = this.a6!;
    const r = i << 3;
    const s = this.deliverSrc6, d = this.deliverDst6;
    s[0] = a6[r]; s[1] = a6[r + 1]; s[2] = a6[r + 2]; s[3] = a6[r + 3];
    d[0] = a6[r + 4]; d[1] = a6[r + 5]; d[2] = a6[r + 6]; d[3] = a6[r + 7];
  }

  private emit(i: number): void {
    this.writeBack(i);
    if (this.a6 !== null) this.addrsOut(i);
    const st = this.st;
    const b = i << St.Shift;
    this.send(st[b + St.Head] as Mbuf, (st[b + St.Src] >>> 0) as Ip4, (st[b + St.Dst] >>> 0) as Ip4, st[b + St.Tos], st[b + St.Segs], st[b + St.SegLen]);
  }

  private send(m: Mbuf, src: Ip4, dst: Ip4, tos: number, segs: number, segLen: number): void {
    if (segs > 1) this.aggregates++;
    if (m !== NO_MBUF) this.deliver(m, src, dst, tos, segs, segLen);
  }
}
