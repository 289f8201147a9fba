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
import { finish } from '../ip/checksum.js';
import { MbufLayout } from '../mbuf/layout.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { TcpHdr, TcpFlag, type TcpSegment } from './header.js';

/** Largest aggregate (TCP header + payload): what one IPv4 datagram could carry, as Linux's 64 KB GRO limit. */
export const GRO_MAX_BYTES = TcpHdr.MaxSegBytes;
/** Most segments one aggregate holds. */
export const GRO_MAX_SEGS = 64;
/** Flows held at once within a burst; more are processed unmerged. */
const MAX_FLOWS = 64;

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
 * Delivers a finished aggregate (mtod at the TCP header; checksum already
 * settled) of `segments` original segments, the largest carrying `segLen`
 * payload bytes (what input measures the peer's segment size by, as Linux
 * uses gso_size).
 */
export type GroDeliver = (m: number, src: number, dst: number, tos: number, segments: number, segLen: number) => void;

/**
 * The per-burst set of aggregates, in typed arrays (no allocation per packet).
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
  private readonly head = new Int32Array(MAX_FLOWS);
  /** Last segment of each aggregate: chaining through it avoids walking the chain per merge. */
  private readonly tail = new Int32Array(MAX_FLOWS);
  private readonly src = new Uint32Array(MAX_FLOWS);
  private readonly dst = new Uint32Array(MAX_FLOWS);
  private readonly ports = new Uint32Array(MAX_FLOWS);
  private readonly tos = new Uint8Array(MAX_FLOWS);
  private readonly nextSeq = new Uint32Array(MAX_FLOWS);
  private readonly ack = new Uint32Array(MAX_FLOWS);
  private readonly word12 = new Uint32Array(MAX_FLOWS);
  private readonly hdrLen = new Uint8Array(MAX_FLOWS);
  private readonly segs = new Uint16Array(MAX_FLOWS);
  /** Largest original segment payload in each aggregate. */
  private readonly segLen = new Uint16Array(MAX_FLOWS);
  private readonly closed = new Uint8Array(MAX_FLOWS);
  // The head mbuf's pkt_len and nb_segs while held (written to it once, when
  // the aggregate is delivered: not read and rewritten per merge), and the
  // index in pool.u8 of its TCP header.
  private readonly aLen = new Uint32Array(MAX_FLOWS);
  private readonly aSegs = new Uint32Array(MAX_FLOWS);
  private readonly aHdr = new Int32Array(MAX_FLOWS);

  constructor(private readonly pool: Mempool, private readonly deliver: GroDeliver) {}

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
      this.pool.free(this.head[i]);
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
  offer(m: number, seg: TcpSegment, src: number, dst: number, tos: number): GroResult {
    const pool = this.pool;
    const ports = ((seg.srcPort << 16) | seg.dstPort) >>> 0;
    // Delivering an aggregate below re-parses into the layer's one TcpSegment: keep what we need.
    const seq = seg.seq;
    const ack = seg.ack;
    const flags = seg.flags;
    const hdrLen = seg.hdrLen;
    const plen = seg.payloadLen;
    const eligible = plen > 0 && (flags & ~TcpFlag.PSH) === TcpFlag.ACK;
    let i = 0;
    for (; i < this.n; i++) {
      if (this.ports[i] === ports && this.src[i] === src && this.dst[i] === dst) break;
    }
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
    if (eligible && this.n < MAX_FLOWS && hdrLen + plen <= GRO_MAX_BYTES) {
      const k = this.n++;
      const p = pool.mtod(m);
      this.head[k] = m;
      this.tail[k] = pool.lastSeg(m);
      this.aLen[k] = pool.pktLen(m);
      this.aSegs[k] = pool.nbSegs(m);
      this.aHdr[k] = p;
      this.src[k] = src;
      this.dst[k] = dst;
      this.ports[k] = ports;
      this.tos[k] = tos;
      this.nextSeq[k] = (seq + plen) >>> 0;
      this.ack[k] = ack;
      this.word12[k] = (pool.dv.getUint32(p + GroHdr.TCP_WORD12) & ~GroHdr.WORD12_PSH) >>> 0;
      this.hdrLen[k] = hdrLen;
      this.segs[k] = 1;
      this.segLen[k] = plen;
      this.closed[k] = (flags & TcpFlag.PSH) ? 1 : 0;
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
  mergeNext(m: number, src: number, dst: number, tos: number): boolean {
    const k = this.n - 1;
    if (k < 0 || this.closed[k] !== 0 || this.src[k] !== src || this.dst[k] !== dst || this.tos[k] !== tos) return false;
    const pool = this.pool;
    const hdrLen = this.hdrLen[k];
    const pktLen = pool.pktLen(m);
    const dl = pool.dataLen(m);
    // The header in the first segment (else the full parse pulls it up), and payload present.
    if (dl < hdrLen || pktLen <= hdrLen) return false;
    const off = pool.dataOff(m);
    return this.follow(k, m, pool.bufStart(m) + off, off, 0, hdrLen, pktLen - hdrLen, dl - hdrLen);
  }

  /**
   * The receive fast path (issue 10), before any layer has looked at the
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
  mergeFrame(m: number, l2: number, p: number, dl: number, len: number, checksumUnneeded: boolean): boolean {
    const k = this.n - 1;
    if (k < 0 || this.closed[k] !== 0) return false;
    const hdrLen = this.hdrLen[k];
    // Both headers in the first segment, payload present, a length the IPv4 header can state.
    if (dl < GroHdr.IP_HDR + hdrLen || len <= GroHdr.IP_HDR + hdrLen || len > 0xffff) return false;
    const pool = this.pool;
    const dv = pool.dv;
    const w0 = dv.getInt32(p);
    if (w0 !== ((GroHdr.IP_VIHL_WORD | (this.tos[k] << 16) | len) | 0)) return false;
    const w2 = dv.getInt32(p + 8);
    // No fragment bits (DF may be set), protocol TCP, TTL not 0.
    if ((dv.getUint16(p + GroHdr.IP_FRAG_OFF) & GroHdr.IP_FRAG_MASK) !== 0
      || (w2 & GroHdr.IP_PROTO_MASK) !== GroHdr.IP_PROTO_TCP_WORD || (w2 >>> 24) === 0) return false;
    if (dv.getUint32(p + GroHdr.IP_SRC_OFF) !== this.src[k] || dv.getUint32(p + GroHdr.IP_DST_OFF) !== this.dst[k]) return false;
    const fl = pool.olFlagsLo(m);
    if (!checksumUnneeded) {
      const f = fl & MbufLayout.OL_RX_IP_CKSUM_MASK_LO;
      if (f === MbufLayout.OL_RX_IP_CKSUM_BAD_LO) return false;
      if (f !== MbufLayout.OL_RX_IP_CKSUM_GOOD_LO && finish((w0 >>> 0) + dv.getUint32(p + 4) + (w2 >>> 0)
        + dv.getUint32(p + GroHdr.IP_SRC_OFF) + dv.getUint32(p + GroHdr.IP_DST_OFF)) !== 0) return false;
    }
    const l4 = fl & MbufLayout.OL_RX_L4_CKSUM_MASK_LO;
    if (l4 === MbufLayout.OL_RX_L4_CKSUM_BAD_LO || (l4 !== MbufLayout.OL_RX_L4_CKSUM_GOOD_LO && !checksumUnneeded)) return false;
    if (!this.follow(k, m, p + GroHdr.IP_HDR, pool.dataOff(m), l2 + GroHdr.IP_HDR, hdrLen,
      len - GroHdr.IP_HDR - hdrLen, dl - GroHdr.IP_HDR - hdrLen)) return false;
    this.fastMerged++;
    return true;
  }

  /**
   * {@link mergeNext}'s TCP checks and the merge itself, for `m` whose TCP
   * header is at `p` (index in `pool.u8`), `before + hdrLen` bytes after its
   * data offset `off`; `plen` payload bytes in the packet, `pdl` in its
   * first segment (the caller checked the header is there and plen > 0).
   */
  private follow(k: number, m: number, p: number, off: number, before: number, hdrLen: number, plen: number, pdl: number): boolean {
    const pool = this.pool;
    const dv = pool.dv;
    if (dv.getUint32(p + GroHdr.TCP_PORTS) !== this.ports[k]) return false;
    const w12 = dv.getUint32(p + GroHdr.TCP_WORD12);
    // Same data offset (so hdrLen), flags ACK (+PSH) as the head's, same window.
    if (((w12 & ~GroHdr.WORD12_PSH) >>> 0) !== this.word12[k]) return false;
    const nextSeq = this.nextSeq[k];
    if (dv.getUint32(p + GroHdr.TCP_SEQ_OFF) !== nextSeq || dv.getUint32(p + GroHdr.TCP_ACK_OFF) !== this.ack[k]) return false;
    const hLen = this.aLen[k];
    const segs = this.segs[k];
    if (segs >= GRO_MAX_SEGS || hLen + plen > GRO_MAX_BYTES) return false;
    const hSegs = this.aSegs[k];
    const mSegs = pool.nbSegs(m);
    if (hSegs + mSegs > 0xffff) return false;
    // Options byte-identical, compared a word at a time (the TCP header
    // length is a multiple of 4; the words need not be aligned).
    const a = this.aHdr[k];
    for (let j = 20; j < hdrLen; j += 4) if (dv.getInt32(a + j) !== dv.getInt32(p + j)) return false;
    // As append(k, ...), with the fields read above instead of read again:
    // m's headers trimmed (pool.adj), m chained behind the tail.
    pool.setDataOff(m, off + before + hdrLen);
    pool.setDataLen(m, pdl);
    pool.setPktLen(m, pdl);
    pool.setNext(this.tail[k], m);
    this.aSegs[k] = hSegs + mSegs;
    this.aLen[k] = hLen + plen;
    this.tail[k] = mSegs === 1 ? m : pool.lastSeg(m);
    this.nextSeq[k] = (nextSeq + plen) >>> 0;
    this.segs[k] = segs + 1;
    if (plen > this.segLen[k]) this.segLen[k] = plen;
    this.merged++;
    if ((w12 & GroHdr.WORD12_PSH) !== 0) {
      pool.u8[a + GroHdr.TCP_FLAGS_OFF] |= TcpFlag.PSH;
      this.closed[k] = 1;
    }
    return true;
  }

  /** Chain `m` (header `hdrLen`, `plen` payload bytes) behind aggregate `i`. @returns false (m untouched) if it cannot be trimmed */
  private append(i: number, m: number, hdrLen: number, plen: number, psh: boolean): boolean {
    const pool = this.pool;
    if (pool.adj(m, hdrLen) < 0) return false;
    // pool.chain(h, m), without walking h to its last segment (the head's
    // pkt_len and nb_segs are kept here until delivery).
    pool.setNext(this.tail[i], m);
    this.aSegs[i] += pool.nbSegs(m);
    this.aLen[i] += pool.pktLen(m);
    pool.setPktLen(m, pool.dataLen(m));
    this.tail[i] = pool.lastSeg(m);
    this.nextSeq[i] = (this.nextSeq[i] + plen) >>> 0;
    this.segs[i]++;
    if (plen > this.segLen[i]) this.segLen[i] = plen;
    this.merged++;
    if (psh) {
      pool.u8[this.aHdr[i] + GroHdr.TCP_FLAGS_OFF] |= TcpFlag.PSH;
      this.closed[i] = 1;
    }
    return true;
  }

  private canMerge(i: number, m: number, seg: TcpSegment, tos: number): boolean {
    if (this.closed[i] || seg.seq !== this.nextSeq[i] || seg.ack !== this.ack[i] || tos !== this.tos[i]) return false;
    if (seg.hdrLen !== this.hdrLen[i] || this.segs[i] >= GRO_MAX_SEGS) return false;
    const pool = this.pool;
    if (this.aLen[i] + seg.payloadLen > GRO_MAX_BYTES) return false;
    if (this.aSegs[i] + pool.nbSegs(m) > 0xffff) return false;
    const a = this.aHdr[i];
    const b = pool.mtod(m);
    const dv = pool.dv;
    if (((dv.getUint32(b + GroHdr.TCP_WORD12) & ~GroHdr.WORD12_PSH) >>> 0) !== this.word12[i]) return false;
    for (let k = 20; k < seg.hdrLen; k += 4) if (dv.getInt32(a + k) !== dv.getInt32(b + k)) return false;
    return true;
  }

  /** Deliver aggregate `i` now and close the gap it leaves (order of the rest kept). */
  private remove(i: number): void {
    this.writeBack(i);
    const m = this.head[i];
    const src = this.src[i];
    const dst = this.dst[i];
    const tos = this.tos[i];
    const segs = this.segs[i];
    const segLen = this.segLen[i];
    for (let k = i + 1; k < this.n; k++) {
      this.head[k - 1] = this.head[k];
      this.tail[k - 1] = this.tail[k];
      this.src[k - 1] = this.src[k];
      this.dst[k - 1] = this.dst[k];
      this.ports[k - 1] = this.ports[k];
      this.tos[k - 1] = this.tos[k];
      this.nextSeq[k - 1] = this.nextSeq[k];
      this.ack[k - 1] = this.ack[k];
      this.word12[k - 1] = this.word12[k];
      this.hdrLen[k - 1] = this.hdrLen[k];
      this.segs[k - 1] = this.segs[k];
      this.segLen[k - 1] = this.segLen[k];
      this.closed[k - 1] = this.closed[k];
      this.aLen[k - 1] = this.aLen[k];
      this.aSegs[k - 1] = this.aSegs[k];
      this.aHdr[k - 1] = this.aHdr[k];
    }
    this.n--;
    this.send(m, src, dst, tos, segs, segLen);
  }

  /** The head mbuf of aggregate `i` gets its pkt_len and nb_segs. */
  private writeBack(i: number): void {
    const h = this.head[i];
    this.pool.setPktLen(h, this.aLen[i]);
    this.pool.setNbSegs(h, this.aSegs[i]);
  }

  private emit(i: number): void {
    this.writeBack(i);
    this.send(this.head[i], this.src[i], this.dst[i], this.tos[i], this.segs[i], this.segLen[i]);
  }

  private send(m: number, src: number, dst: number, tos: number, segs: number, segLen: number): void {
    if (segs > 1) this.aggregates++;
    if (m !== NO_MBUF) this.deliver(m, src, dst, tos, segs, segLen);
  }
}
