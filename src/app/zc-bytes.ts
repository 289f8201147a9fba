/**
 * A zero-copy HTTP/1.1 download service: `GET /bytes/<n>` answers `n` bytes
 * of the /bytes pattern (byte i = (i × 31 + 7) mod 256, see pattern.ts)
 * without one payload byte copied by the stack — the example of the
 * zero-copy API end to end (`readMbuf` for the request, `writeMbuf` for the
 * answer).
 *
 * The body is never built: one 64 KiB pattern chain is filled once at start
 * and every chunk sent is an indirect slice of it (`pool.refSlice`), so a
 * 200 MB download references the same 64 KiB again and again, and TSO hands
 * the NIC up to 64 KB of it per segment. Each response ends with a FIN
 * (`Connection: close`). The chain goes back to the pool on {@link close}.
 */
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpLayer, TcpListener } from '../tcp/layer.js';
import { allocTxMbuf, txMbufFrom } from '../tcp/zc.js';
import { fillPattern, PATTERN_CHUNK } from './pattern.js';

/** Counters of the service. */
export interface ZeroCopyBytesStats {
  connections: number;
  requests: number;
  bytesSent: number;
  /** Writes refused (send buffer full or pool short) and retried. */
  refusals: number;
}

/** A running service. */
export interface ZeroCopyBytesHandle {
  readonly port: number;
  readonly stats: ZeroCopyBytesStats;
  /** Stop listening, abort open connections, give the pattern chain back. */
  close(): void;
}

const MAX_REQUEST = 8192;

/**
 * Serve `GET /bytes/<n>` on `port` of a stack's TCP layer, zero copy.
 * @param stack - anything with a pool and a TCP layer (a Stack)
 * @throws Error when the pool cannot hold the 64 KiB pattern chain
 */
export function startZeroCopyBytes(stack: { pool: Mempool; tcp: TcpLayer }, port = 8080): ZeroCopyBytesHandle {
  const pool = stack.pool;
  const pattern = allocTxMbuf(pool, PATTERN_CHUNK);
  if (pattern === NO_MBUF) throw new Error('zero-copy bytes: pool too small for the pattern chain');
  pool.copyIn(pattern, 0, fillPattern(new Uint8Array(PATTERN_CHUNK)));
  const stats: ZeroCopyBytesStats = { connections: 0, requests: 0, bytesSent: 0, refusals: 0 };
  const open = new Set<TcpConnection>();
  const listener: TcpListener = stack.tcp.listen(port);
  let closed = false;

  listener.onConnection = (c) => {
    stats.connections++;
    open.add(c);
    let req = '';
    let left = -1; // body bytes still to queue; -1 before the request
    let sent = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const pump = (): void => {
      retry = undefined;
      while (left > 0 && !closed) {
        const take = Math.min(left, PATTERN_CHUNK);
        // Chunks start at multiples of 256 of the body, where the pattern restarts.
        const m = pool.refSlice(pattern, 0, take);
        if (m === NO_MBUF) { stats.refusals++; retry = setTimeout(pump, 1); return; }
        if (!c.writeMbuf(m)) {
          pool.free(m);
          stats.refusals++;
          // onWritable follows an ACK or the pool's recovery; poll as a backstop.
          retry = setTimeout(pump, 5);
          return;
        }
        left -= take;
        sent += take;
        stats.bytesSent += take;
      }
      if (left === 0) { left = -2; c.shutdown(); }
    };
    c.onWritable = () => { if (retry !== undefined) { clearTimeout(retry); pump(); } };
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        if (left === -1 && req.length < MAX_REQUEST) {
          // Decode the request line in place (ASCII), segment by segment.
          for (let s = m; s !== NO_MBUF; s = pool.next(s)) {
            const at = pool.mtod(s);
            req += String.fromCharCode(...pool.u8.subarray(at, at + pool.dataLen(s)));
          }
        }
        pool.free(m);
      }
      if (left !== -1 || !req.includes('\r\n\r\n')) return;
      stats.requests++;
      const match = /^GET \/bytes\/(\d{1,15}) HTTP\/1\.[01]\r\n/.exec(req);
      const n = match ? Number(match[1]) : -1;
      const head = n >= 0
        ? `HTTP/1.1 200 OK\r\nserver: tzstack-zc\r\ncontent-type: application/octet-stream\r\ncontent-length: ${n}\r\nconnection: close\r\n\r\n`
        : 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n';
      const h = txMbufFrom(pool, new TextEncoder().encode(head));
      if (h === NO_MBUF || !c.writeMbuf(h)) { if (h !== NO_MBUF) pool.free(h); c.abort(); return; }
      left = n > 0 ? n : 0;
      pump();
    };
    c.onPeerFin = () => { if (left === -1) c.close(); };
    c.onClose = () => {
      open.delete(c);
      if (retry !== undefined) clearTimeout(retry);
      void sent;
    };
  };

  return {
    port,
    stats,
    close: () => {
      if (closed) return;
      closed = true;
      listener.close();
      for (const c of [...open]) c.abort();
      pool.free(pattern);
    },
  };
}
