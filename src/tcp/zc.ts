/**
 * Zero-copy helpers for applications that hand payload to TCP as mbufs
 * (`conn.writeMbuf(m)`) instead of copying it in with `write()`.
 *
 * The mbufs these helpers allocate keep {@link TX_HEADROOM} bytes free in
 * front of the payload: enough for every header tzstack puts in front of TCP
 * payload — {@link TX_HEADER_BYTES} = 14 (Ethernet) + 20 (IPv4, no options)
 * + 60 (TCP with the largest option block) = 94 bytes — rounded up to DPDK's
 * own `RTE_PKTMBUF_HEADROOM` (128), so the headers can be prepended in place
 * when the stack chooses to, and the payload starts on a cache line.
 */
import { MbufLayout } from '../mbuf/layout.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { TcpConnection } from './connection.js';
import { canSend } from './state.js';
import { seqDiff } from './seq.js';
import type { Mbuf } from '../mbuf/index.js';

/** Bytes of header that can precede TCP payload: Ethernet 14 + IPv4 20 + TCP 60. */
export const TX_HEADER_BYTES = 14 + 20 + 60;

/** Headroom {@link allocTxMbuf} leaves before the payload (≥ {@link TX_HEADER_BYTES}). */
export const TX_HEADROOM = MbufLayout.MBUF_DEFAULT_HEADROOM;

/** From this many mbufs on, {@link allocTxMbuf} takes them in one bulk allocation (one native call on a DPDK pool, where single ones come from a stash). */
const BULK_FROM = 16;
/** The bulk allocation's array, grown when a message needs more (not per call). */
let scratch = new Uint32Array(64);

/** Anything that has a mempool: a `Stack`, or the pool itself. */
export type PoolSource = Mempool | { readonly pool: Mempool };

function poolOf(src: PoolSource): Mempool {
  return 'u8' in src ? src : src.pool;
}

/** Payload bytes the first mbuf of a chain from {@link allocTxMbuf} holds. */
export function txPayloadRoom(pool: Mempool): number {
  return Math.max(0, pool.bufLen - TX_HEADROOM);
}

/**
 * Allocate a packet with `len` bytes of payload room (data_len/pkt_len already
 * set to `len`, contents undefined) after {@link TX_HEADROOM} bytes of
 * headroom. When `len` is larger than one mbuf holds, the rest follows in
 * chained segments that use their whole buffer. Fill it in place through
 * `pool.u8` at `pool.mtod(seg)` per segment, or with `pool.copyIn(m, 0, bytes)`,
 * then pass it to `conn.writeMbuf(m)` (which takes ownership on success).
 *
 * With `segment` > 0 (a connection's MSS: {@link allocTxMbufFor}) every
 * mbuf of the chain instead gets {@link TX_HEADROOM} of headroom and at
 * most `segment` bytes of payload, one TCP segment per mbuf: the connection
 * then writes each segment's headers into its mbuf's headroom and sends it
 * as ONE indirect mbuf, where a packed chain costs a header mbuf and one or
 * two slices per segment (`SendBuffer.headSlice`). It takes more mbufs
 * (46 rather than 31 for 64 KB at MSS 1448).
 *
 * @param src - a stack (its pool is used) or a mempool
 * @param len - payload bytes, ≥ 1
 * @param segment - payload bytes per mbuf, each with full headroom (0: pack the buffers)
 * @returns the head mbuf, or {@link NO_MBUF} when the pool cannot supply all
 *   segments (nothing is leaked)
 */
export function allocTxMbuf(src: PoolSource, len: number, segment = 0): Mbuf {
  const pool = poolOf(src);
  if (!(len > 0) || !Number.isInteger(len)) throw new RangeError(`allocTxMbuf: bad length ${len}`);
  if (!(segment >= 0) || !Number.isInteger(segment)) throw new RangeError(`allocTxMbuf: bad segment size ${segment}`);
  const first = txPayloadRoom(pool);
  if (first <= 0) throw new RangeError(`allocTxMbuf: pool ${pool.name} buffers (${pool.bufLen} B) leave no room after ${TX_HEADROOM} B of headroom`);
  // Every mbuf of a pool has the same buffer: the count is known up front.
  const per = segment > 0 ? Math.min(segment, first) : 0;
  const n = per > 0 ? Math.ceil(len / per) : len <= first ? 1 : 1 + Math.ceil((len - first) / pool.bufLen);
  if (n >= BULK_FROM) {
    // Many at once: one bulk allocation, then the fields in a loop without calls.
    if (n > scratch.length) scratch = new Uint32Array(Math.max(n, scratch.length * 2));
    if (!pool.allocBulk(scratch, n)) return NO_MBUF;
    const head = scratch[0] as Mbuf;
    let tail = head;
    let left = len;
    for (let k = 0; k < n; k++) {
      const m = scratch[k] as Mbuf;
      const headroom = k === 0 || per > 0 ? TX_HEADROOM : 0;
      // A reset mbuf's data_off is already the default headroom (TX_HEADROOM).
      if (headroom !== TX_HEADROOM) pool.setDataOff(m, headroom);
      const room = per > 0 ? per : pool.bufLen - headroom;
      const take = left < room ? left : room;
      pool.setDataLen(m, take);
      // pkt_len counts only in the head (set below); the others keep alloc's 0.
      if (k > 0) pool.setNext(tail, m);
      tail = m;
      left -= take;
    }
    pool.setNbSegs(head, n);
    pool.setPktLen(head, len);
    return head;
  }
  let head = NO_MBUF;
  // Linked by hand through the tail: pool.chain would walk the whole chain
  // for every segment (quadratic in the message size).
  let tail = NO_MBUF;
  let segs = 0;
  let left = len;
  while (left > 0) {
    const m = pool.alloc();
    if (m === NO_MBUF) {
      if (head !== NO_MBUF) pool.free(head);
      return NO_MBUF;
    }
    const headroom = head === NO_MBUF || segment > 0 ? TX_HEADROOM : 0;
    // A reset mbuf's data_off is already the default headroom (TX_HEADROOM).
    if (pool.dataOff(m) !== headroom) pool.setDataOff(m, headroom);
    let take = Math.min(left, pool.bufLenOf(m) - headroom);
    if (segment > 0 && take > segment) take = segment;
    pool.setDataLen(m, take);
    // pkt_len counts only in the head (set below); the others keep alloc's 0.
    if (head === NO_MBUF) head = m;
    else pool.setNext(tail, m);
    tail = m;
    segs++;
    left -= take;
  }
  pool.setNbSegs(head, segs);
  pool.setPktLen(head, len);
  return head;
}

/**
 * {@link allocTxMbuf} laid out for connection `c`: one segment's payload
 * (its current MSS) per mbuf, each after {@link TX_HEADROOM}, so that every
 * full segment leaves as one mbuf with its headers in that headroom. When
 * the connection sends TSO bursts (the port segments up to 64 KB per send)
 * the buffers are packed instead: a burst is a header mbuf and slices
 * either way, and packed buffers make fewer of them.
 */
export function allocTxMbufFor(c: TcpConnection, len: number): Mbuf {
  const tso = c.cfg.tso && (c.layer.env.txOffloads & MbufLayout.TX_OFFLOAD_TCP_TSO) !== 0 && c.layer.env.maxTsoSize > 0;
  return allocTxMbuf(c.pool, len, tso ? 0 : c.mss);
}

/**
 * A packet holding a copy of `bytes` with transmit headroom (see
 * {@link allocTxMbuf}): the one copy an application makes when its data does
 * not already live in an mbuf.
 * @returns the head mbuf, or {@link NO_MBUF} when the pool is short
 */
export function txMbufFrom(src: PoolSource, bytes: Uint8Array): Mbuf {
  const pool = poolOf(src);
  const m = allocTxMbuf(pool, bytes.length);
  if (m !== NO_MBUF) pool.copyIn(m, 0, bytes);
  return m;
}

/**
 * The copying `write()` of connection `c` (`TcpConnection.write` calls it):
 * queue a copy of `data` laid out as {@link allocTxMbufFor} lays out a
 * zero-copy write — at most one segment's payload (the MSS) per mbuf, after
 * {@link TX_HEADROOM} bytes of headroom — so that a full segment leaves as
 * ONE mbuf with its Ethernet, IP and TCP headers written into that headroom
 * (`SendBuffer.headSlice`), instead of a header mbuf and the one or two
 * slices a segment across packed 2 KB buffers takes. With TSO the buffers
 * are packed, as there (a burst is a header mbuf and slices either way).
 *
 * Each full mbuf is the send buffer's own (`SendBuffer.pushOwn`): a segment
 * covering it exactly leaves as that mbuf itself, by reference (a second
 * reference for the transmission; no mbuf is allocated for the segment at
 * all). A last, partly filled one is the connection's `copyTail`: the
 * next write fills it up to one segment's payload first, so small writes
 * share mbufs; a write that does not fit in it only while none of it has
 * been sent (a segment starting inside it would run across mbufs, and
 * every later one too). The pool's count is the estimate the pool keeps in JS
 * (`Mempool.recentAvailable`), re-read exactly before refusing.
 * @returns bytes accepted, fewer than `data.length` when the buffer or pool is short
 */
export function copyWrite(c: TcpConnection, data: Uint8Array): number {
  if (!canSend(c.state) || c.finPending) return 0;
  const pool = c.pool;
  const sb = c.sendBuf;
  const env = c.layer.env;
  const total = data.length;
  const queued = sb.length > 0;
  const tso = c.cfg.tso && (env.txOffloads & MbufLayout.TX_OFFLOAD_TCP_TSO) !== 0 && env.maxTsoSize > 0;
  // (A pool whose buffers leave no room after the headroom gets them packed.)
  const headroom = tso || pool.bufLen <= TX_HEADROOM ? 0 : TX_HEADROOM;
  let per = pool.bufLen - headroom;
  if (headroom !== 0 && c.mss < per) per = c.mss;
  let space = c.cfg.sndBuf - sb.length;
  let done = 0;
  // Fill the mbuf the previous write left partly used, up to one segment's payload.
  const t = c.copyTail;
  if (t !== NO_MBUF) {
    const dl = pool.dataLen(t);
    let take = pool.tailroom(t);
    const limit = pool.dataOff(t) >= TX_HEADROOM && headroom !== 0 ? per - dl : take;
    if (limit < take) take = limit;
    if (total < take) take = total;
    if (space < take) take = space;
    // A write that runs on past it only while none of it has been sent: a
    // segment starting inside it would otherwise run across into the next
    // mbuf, and so would every later one.
    if (take > 0 && take < total && seqDiff(c.sndMax, c.bufSeq) > sb.tailStart()) take = -1;
    if (take > 0 && sb.grewTail(t, take)) {
      pool.u8.set(take === total ? data : data.subarray(0, take), pool.mtod(t) + dl);
      pool.setDataLen(t, dl + take);
      pool.setPktLen(t, pool.pktLen(t) + take);
      done = take;
      space -= take;
    } else if (take !== 0 || dl >= per) {
      c.copyTail = NO_MBUF;
    }
  }
  if (done < total) {
    const reserve = Math.max(16, pool.capacity >>> 3);
    let avail = pool.recentAvailable();
    // The estimate may lag (frees since it was read): refuse on an exact count only.
    if (avail <= reserve && space > 0) avail = pool.available();
    const u8 = pool.u8;
    while (done < total) {
      if (space <= 0 || avail <= reserve) {
        if (space > 0) c.layer.waitForPool(c);
        break;
      }
      let take = total - done;
      if (per < take) take = per;
      if (space < take) take = space;
      const m = pool.alloc();
      if (m === NO_MBUF) break;
      avail--;
      // A reset mbuf's data_off is the default headroom (TX_HEADROOM).
      if (headroom !== TX_HEADROOM) pool.setDataOff(m, headroom);
      // The whole write in one mbuf (a small write): no subarray view to make.
      u8.set(done === 0 && take === total ? data : data.subarray(done, done + take), pool.mtod(m));
      pool.setDataLen(m, take);
      pool.setPktLen(m, take);
      done += take;
      space -= take;
      if (take < per) {
        if (done === total && !queued && headroom === TX_HEADROOM) {
          // A whole small write into an empty buffer (a request or a reply
          // of an RPC exchange): the buffer's own, so that its segment goes
          // out as this mbuf by reference (headOwn), not through a clone
          // made to leave room for a later write to fill it (a copyTail);
          // the next write, if one comes before it is sent, takes a new one.
          sb.pushOwn(m, take, TX_HEADROOM);
          c.copyTail = NO_MBUF;
          break;
        }
        // The last, partly filled: where the next write continues.
        sb.push(m);
        c.copyTail = m;
        break;
      }
      // A full one: the send buffer's own, sent by reference when a segment covers it (SendBuffer.headOwn).
      if (headroom === TX_HEADROOM) sb.pushOwn(m, take, TX_HEADROOM); else sb.push(m);
      c.copyTail = NO_MBUF;
    }
  }
  c.layer.counters.bytesCopied += done;
  c.layer.counters.bytesQueued += done;
  if (done < total) c.wantWritable = true;
  if (done > 0) c.kick();
  return done;
}
