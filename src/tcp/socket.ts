/**
 * `TzSocket`: a `net.Socket`-like `Duplex` stream over one tzstack TCP
 * connection, so code written for Node's `net` (and `http` on top of it) runs
 * over tzstack unchanged.
 *
 * The stream boundary costs one copy per direction — Node streams deal in
 * Buffers, tzstack in mbufs. Code that wants none uses the connection itself
 * ({@link TzSocket.connection}: `writeMbuf` / `readMbuf`) and the helpers in
 * `zc.ts`; the socket only pulls from the connection while somebody reads the
 * stream, so the two styles do not fight over the data.
 *
 * TCP calls back synchronously from inside packet processing; the socket
 * defers all its work on those callbacks to `process.nextTick`, so user code
 * (`'data'` handlers writing back, `destroy()` in an `'end'` handler) never
 * re-enters the TCP layer while it is in the middle of a segment.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { socketError, type TzSocketError } from '../util/errors.js';
import { formatIpv4, type Ip4 } from '../ip/addr.js';
import type { AddrKey } from './route.js';
import { formatIpv6, type Addr6 } from '../ip/addr6.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { TcpState } from './state.js';
import type { Mbuf } from '../mbuf/index.js';

/** The error a TCP connection reports when it fails. */
export interface TcpErrorLike {
  readonly code: string;
  readonly message?: string;
}

/**
 * What the socket uses of a `TcpConnection` (src/tcp/connection.ts). Declared
 * structurally so that the socket can also wrap a test double.
 */
export interface SocketConnection {
  readonly state: TcpState;
  readonly localIp: AddrKey;
  readonly localPort: number;
  readonly remoteIp: AddrKey;
  readonly remotePort: number;
  /** An IPv6 connection's addresses (null or absent: IPv4). */
  readonly v6?: { readonly local: Readonly<Addr6>; readonly remote: Readonly<Addr6> } | null;
  writeMbuf(m: Mbuf): boolean;
  write(data: Uint8Array): number;
  sendSpace(): number;
  readMbuf(): Mbuf;
  readable(): number;
  readonly peerClosed: boolean;
  shutdown(): void;
  close(): void;
  abort(): void;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean, idleMs?: number): void;
  // Method syntax on purpose: it lets TcpConnection's `(err?: TcpError)` fit.
  onConnect?(): void;
  onReadable?(): void;
  onWritable?(): void;
  onPeerFin?(): void;
  onClose?(err?: TcpErrorLike): void;
}

/** Options of {@link TzSocket}. */
export interface TzSocketOptions {
  /** Keep the writable side open after the peer's FIN (default false, as `net.Socket`). */
  allowHalfOpen?: boolean;
  /** Readable high-water mark in bytes (default 64 KiB). */
  readableHighWaterMark?: number;
  /** Writable high-water mark in bytes (default 64 KiB). */
  writableHighWaterMark?: number;
  /**
   * True while the connection is still opening (an active open): writes wait
   * and `'connect'` follows. False for connections a listener accepted.
   */
  connecting?: boolean;
  /**
   * Node's caller-owned receive buffer (`net.connect({ onread })`): received
   * bytes are copied from TCP's receive queue straight into `buffer` (no
   * Buffer per read, no `'data'` events) and `callback(nread, buffer)` is
   * called; returning `false` stops reading until `resume()` or `read()`.
   * `buffer` may be a function returning the buffer to use next (called
   * before the first read and after every callback).
   */
  onread?: TzOnread;
  /** Destroy the socket with an `AbortError` when this signal aborts, as Node's `signal` option. */
  signal?: AbortSignal;
  /**
   * Report an IPv4 connection the way a dual-stack (`::`) socket does:
   * addresses as IPv4-mapped IPv6 (`::ffff:10.0.0.2`), families `'IPv6'`.
   */
  mapV4?: boolean;
}

/** The `onread` option of {@link TzSocketOptions}, as Node's. */
export interface TzOnread {
  buffer: Uint8Array | (() => Uint8Array);
  callback: (nread: number, buf: Uint8Array) => boolean | void;
}

export { socketError, type TzSocketError } from '../util/errors.js';

/** Node's `AbortError` (`name` 'AbortError', `code` 'ABORT_ERR', the signal's reason as `cause`). */
export function abortError(reason?: unknown): Error & { code: string } {
  const e = new Error('The operation was aborted', reason !== undefined ? { cause: reason } : undefined) as Error & { code: string };
  e.code = 'ABORT_ERR';
  e.name = 'AbortError';
  return e;
}

/**
 * Apply the connect options that live on the socket rather than on TCP
 * (`onread`, `signal`) to a socket made without them — what `connect()`
 * does with its options (see src/tcp/server.ts). Must run in the same tick
 * as the socket's creation, before any data can have been delivered.
 */
export function applySocketOptions(s: TzSocket, o: Pick<TzSocketOptions, 'onread' | 'signal'>): TzSocket {
  s.useOnread(o.onread);
  if (o.signal) s.useSignal(o.signal);
  return s;
}

// Node's genericNodeError for a write after the peer's FIN with allowHalfOpen false.
function endedByPeer(): Error & { code: string } {
  return Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
}

const DEFAULT_HWM = 64 * 1024;

/**
 * A `net.Socket`-like duplex stream over a tzstack TCP connection.
 *
 * Events: `'connect'` and `'ready'` (active opens), `'data'`, `'end'` (peer's
 * FIN), `'finish'`, `'close'`, `'error'` (with `code` ECONNRESET, ETIMEDOUT,
 * ECONNREFUSED, EPIPE), `'drain'`, `'timeout'`.
 *
 * Backpressure works as in Node: `write()` returns false once more than the
 * writable high-water mark is waiting for room in TCP's send buffer, and
 * `'drain'` follows when it has been taken. On the read side, bytes stay in
 * TCP's receive buffer (so the advertised window closes) while the stream's
 * consumer is not reading.
 *
 * @example
 * ```ts
 * const sock = connect(stack, 80, '10.0.0.2', () => sock.end('GET / HTTP/1.0\r\n\r\n'));
 * sock.on('data', (b) => process.stdout.write(b));
 * ```
 */
export class TzSocket extends Duplex {
  /** The TCP connection underneath (for zero-copy `writeMbuf`/`readMbuf` and `info()`). */
  readonly connection: SocketConnection;
  /** The pool the connection's mbufs come from. */
  readonly pool: Mempool;
  /** True until an active open completes (as `net.Socket.connecting`). */
  connecting: boolean;
  /** Payload bytes received and delivered to the stream. */
  bytesRead = 0;
  /** An IPv4 connection reported as IPv4-mapped IPv6 (accepted on a dual-stack listener). */
  private readonly mapV4: boolean;

  private accepted = 0;
  private tcpClosed = false;
  private readEnded = false;
  /** After {@link shutdownRead}: bytes received before it still to deliver; -1 while the read side is open. */
  private readShutLeft = -1;
  /** Bytes received after {@link shutdownRead} and dropped. */
  bytesDiscarded = 0;
  private wantRead = false;
  private pullScheduled = false;
  private flushScheduled = false;
  // The chunks of the current _write/_writev call not yet taken by TCP.
  private pendingChunks: Buffer[] | null = null;
  private pendingIdx = 0;
  private pendingOff = 0;
  private pendingDone = 0;
  private pendingCb: ((err?: Error | null) => void) | null = null;
  private finalCb: ((err?: Error | null) => void) | null = null;
  private timeoutMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Immediate | null = null;
  /** The idle timeout set by {@link setTimeout} (undefined until it is called), as `net.Socket.timeout`. */
  timeout: number | undefined = undefined;
  // onread: the caller's buffer (or its generator) and callback; reading on/off.
  private orBuf: Uint8Array | null = null;
  private orGen: (() => Uint8Array) | null = null;
  private orCb: ((nread: number, buf: Uint8Array) => boolean | void) | null = null;
  private orOn = false;
  // An mbuf taken from TCP but only partly copied into the caller's buffer.
  private orM = NO_MBUF;
  private orOff = 0;
  private resetting = false;
  private hadError = false;
  private signal: AbortSignal | null = null;
  private onAbort: (() => void) | null = null;

  /**
   * Wrap a connection. Usually made by `connect()` or a `TzServer`, not directly.
   * @param conn - the connection; the socket takes over its callbacks
   * @param pool - the mempool its mbufs come from
   */
  constructor(conn: SocketConnection, pool: Mempool, opts: TzSocketOptions = {}) {
    const dopts: DuplexOptions = {
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.readableHighWaterMark ?? DEFAULT_HWM,
      writableHighWaterMark: opts.writableHighWaterMark ?? DEFAULT_HWM,
      decodeStrings: true,
      emitClose: true,
      autoDestroy: true,
    };
    super(dopts);
    this.connection = conn;
    this.pool = pool;
    this.connecting = opts.connecting ?? false;
    this.mapV4 = opts.mapV4 ?? false;
    conn.onConnect = () => process.nextTick(() => this.onTcpConnect());
    // Arriving bytes are activity for setTimeout even while nobody reads them
    // (Node reads them off the kernel into the stream at once).
    conn.onReadable = () => { this.touch(); this.schedulePull(); };
    conn.onPeerFin = () => this.schedulePull();
    conn.onWritable = () => this.scheduleFlush();
    conn.onClose = (err) => process.nextTick(() => this.onTcpClose(err));
    // As net.Socket: with allowHalfOpen false the stream ends our side after
    // the peer's FIN; a write after that fails with EPIPE and destroys.
    this.on('end', () => { if (!this.allowHalfOpen) this.write = this.writeAfterFin; });
    this.useOnread(opts.onread);
    if (opts.signal) this.useSignal(opts.signal);
    // A connection accepted before we took over its callbacks may already hold
    // data, a FIN, or be gone.
    if (conn.state === TcpState.Closed) {
      this.tcpClosed = true;
      process.nextTick(() => this.onTcpClose());
    } else if (!this.connecting && (conn.readable() > 0 || conn.peerClosed)) {
      this.schedulePull();
    }
  }

  // ---- addresses ----
  /** Peer address in dotted-quad form; undefined while connecting, as in Node (no peer yet). */
  get remoteAddress(): string | undefined { return this.connecting ? undefined : this.peerAddress(); }
  /** Peer port; undefined while connecting, as in Node. */
  get remotePort(): number | undefined { return this.connecting ? undefined : this.connection.remotePort || undefined; }
  /** `'IPv6'` for an IPv6 connection (and an IPv4 one on a dual-stack listener, see {@link TzSocketOptions.mapV4}), else `'IPv4'`. */
  get remoteFamily(): string { return this.family(); }
  get localAddress(): string | undefined {
    const c = this.connection;
    return c.v6 ? formatIpv6(c.v6.local) : c.localIp ? this.v4Text(c.localIp as Ip4) : undefined;
  }
  get localPort(): number | undefined { return this.connection.localPort || undefined; }
  get localFamily(): string { return this.family(); }
  private peerAddress(): string | undefined {
    const c = this.connection;
    return c.v6 ? formatIpv6(c.v6.remote) : c.remoteIp ? this.v4Text(c.remoteIp as Ip4) : undefined;
  }
  private family(): string { return this.connection.v6 || this.mapV4 ? 'IPv6' : 'IPv4'; }
  private v4Text(a: Ip4): string { return this.mapV4 ? `::ffff:${formatIpv4(a)}` : formatIpv4(a); }
  /** `{ address, family, port }` of the local end, as `net.Socket.address()`. */
  address(): { address: string; family: string; port: number } {
    const c = this.connection;
    return { address: c.v6 ? formatIpv6(c.v6.local) : this.v4Text(c.localIp as Ip4), family: this.family(), port: c.localPort };
  }
  /** Bytes written to the socket so far (taken by TCP plus still buffered in the stream). */
  get bytesWritten(): number { return this.accepted + this.writableLength - this.pendingDone; }
  /**
   * Bytes written and not yet taken by TCP, as Node's deprecated
   * `net.Socket.bufferSize` (= `writableLength`; undefined once destroyed).
   */
  get bufferSize(): number | undefined { return this.destroyed ? undefined : this.writableLength; }
  /** True before the connection exists (as `net.Socket.pending`). */
  get pending(): boolean { return this.connecting; }
  /** `'opening'`, `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as `net.Socket.readyState`. */
  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  // ---- options ----
  /** Turn Nagle's algorithm off (true, the default argument) or on. */
  setNoDelay(noDelay = true): this {
    if (!this.tcpClosed) this.connection.setNoDelay(noDelay);
    return this;
  }
  /** Keepalive probes after `initialDelay` ms idle (0 keeps the configured idle time). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (!this.tcpClosed) this.connection.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }
  /**
   * Emit `'timeout'` after `ms` of inactivity (no bytes in or out); 0 disables.
   * Like Node this only notifies: the socket stays open until destroyed. The
   * idle timer runs on wall-clock time, as Node's does.
   */
  setTimeout(ms: number, cb?: () => void): this {
    if (typeof ms !== 'number') {
      throw Object.assign(new TypeError(`The "msecs" argument must be of type number. Received ${typeof ms}`), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    if (!(ms >= 0)) {
      throw Object.assign(new RangeError(`The value of "msecs" is out of range. It must be >= 0. Received ${ms}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    this.timeout = ms;
    this.timeoutMs = ms > 0 ? ms : 0;
    if (cb) { if (this.timeoutMs) this.once('timeout', cb); else this.removeListener('timeout', cb); }
    this.clearTimer();
    if (this.timeoutMs && !this.destroyed) {
      // The timer stays set after it fires: activity (touch → refresh) arms it
      // again, so a socket idle twice times out twice, as in Node. Unref'd as
      // Node's: a pending idle timeout does not keep the process alive.
      this.timer = setTimeout(() => { if (!this.destroyed) this.emit('timeout'); }, this.timeoutMs);
      this.timer.unref();
    }
    return this;
  }
  /** Accepted for compatibility; the stack's poll loop decides what keeps Node alive. */
  ref(): this { return this; }
  /** Accepted for compatibility; see {@link ref}. */
  unref(): this { return this; }
  /** End the writable side and destroy once it has finished (used by Node's http server). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /**
   * Reset the connection, as `net.Socket.resetAndDestroy()`: TCP sends RST
   * (so the peer sees ECONNRESET) and drops whatever is queued in both
   * directions, and the socket is destroyed. As in Node, our side closes
   * without an `'error'`; a socket still connecting resets once connected.
   */
  resetAndDestroy(): this {
    if (this.destroyed) {
      this.destroy(Object.assign(new Error('Socket is closed'), { code: 'ERR_SOCKET_CLOSED' }));
    } else if (this.connecting) {
      this.once('connect', () => { this.resetting = true; this.destroy(); });
    } else {
      this.resetting = true;
      this.destroy();
    }
    return this;
  }

  /**
   * Take Node's `onread` option (see {@link TzSocketOptions.onread}); an
   * option of the wrong shape is ignored, as Node does.
   * @internal used by the constructor and {@link applySocketOptions}
   */
  useOnread(o: TzOnread | undefined): void {
    if (!o || typeof o !== 'object' || typeof o.callback !== 'function') return;
    if (o.buffer instanceof Uint8Array) { this.orBuf = o.buffer; this.orGen = null; }
    else if (typeof o.buffer === 'function') { this.orBuf = null; this.orGen = o.buffer; }
    else return;
    this.orCb = o.callback;
    // Node starts reading into the buffer as soon as it can, without a consumer.
    this.orOn = true;
    if (!this.connecting) this.schedulePull();
  }

  /**
   * Take Node's `signal` option: abort destroys the socket with an
   * `AbortError` (on the next tick when the signal is already aborted).
   * @internal used by the constructor and {@link applySocketOptions}
   */
  useSignal(signal: AbortSignal): void {
    const onAbort = (): void => { this.dropSignal(); this.destroy(abortError(signal.reason)); };
    if (signal.aborted) { process.nextTick(onAbort); return; }
    this.dropSignal();
    this.signal = signal;
    this.onAbort = onAbort;
    signal.addEventListener('abort', onAbort, { once: true });
  }

  private dropSignal(): void {
    if (this.signal && this.onAbort) this.signal.removeEventListener('abort', this.onAbort);
    this.signal = null;
    this.onAbort = null;
  }

  // What `write` becomes after the peer's FIN ended our side (allowHalfOpen false): Node's writeAfterFIN.
  private readonly writeAfterFin = (chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
    if (!this.writableEnded) return (Duplex.prototype.write as (c: unknown, e?: unknown, f?: unknown) => boolean).call(this, chunk, enc, cb);
    const done = typeof enc === 'function' ? enc : cb;
    const er = endedByPeer();
    if (typeof done === 'function') process.nextTick(done as (e: Error) => void, er);
    this.destroy(er);
    return false;
  };

  // onread: reading stops when the callback returns false and starts again on
  // resume()/read(), as in Node (the stream machinery alone would not call _read again).
  override pause(): this {
    if (this.orCb) this.orOn = false;
    return super.pause();
  }

  override resume(): this {
    if (this.orCb && !this.orOn) { this.orOn = true; this.schedulePull(); }
    return super.resume();
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override read(size?: number): any {
    if (this.orCb && !this.orOn) { this.orOn = true; this.schedulePull(); }
    return super.read(size);
  }

  /**
   * `shutdown(SHUT_RD)`: end the readable side. What TCP had received before
   * the call is still delivered, then `'end'` (a paused reader reads it,
   * then gets end of stream) — so a read waiting for more data gets end of
   * stream instead of blocking, as on Linux and FreeBSD. Bytes that arrive
   * afterwards are taken from TCP and dropped (counted in
   * {@link bytesDiscarded}), so a peer that keeps sending is not stalled by a
   * window nobody will open. The writable side is untouched, except that
   * with `allowHalfOpen: false` (the default, as `net.Socket`) the stream
   * ends it after `'end'`, as it does after the peer's FIN.
   */
  shutdownRead(): this {
    if (this.readShutLeft >= 0 || this.readEnded || this.destroyed) return this;
    this.readShutLeft = this.connecting ? 0 : this.connection.readable();
    this.wantRead = true; // end of stream and the discards need no consumer
    this.schedulePull();
    return this;
  }

  /**
   * Zero-copy write: hand an mbuf chain (payload at mtod, e.g. from
   * `allocTxMbuf`) straight to TCP. Only possible when nothing is waiting in
   * the stream ahead of it, so byte order is kept.
   * @returns true when TCP took ownership of `m`; false when the caller keeps it
   */
  writeMbuf(m: Mbuf): boolean {
    if (this.connecting || this.tcpClosed || this.destroyed || this.writableEnded || this.writableLength > 0) return false;
    const len = this.pool.pktLen(m);
    if (!this.connection.writeMbuf(m)) return false;
    this.accepted += len;
    this.touch();
    return true;
  }

  // ---- TCP callbacks (deferred) ----
  private onTcpConnect(): void {
    if (this.destroyed || !this.connecting) return;
    this.connecting = false;
    this.emit('connect');
    this.emit('ready');
    this.flushPending();
    this.finishIfPending();
    if (this.wantRead) this.schedulePull();
  }

  private onTcpClose(err?: TcpErrorLike): void {
    this.tcpClosed = true;
    if (this.destroyed) return;
    if (err) {
      // As Node's: address and port on connect errors only (`connect ECONNREFUSED 10.0.0.2:80`,
      // `read ECONNRESET`, `write EPIPE`).
      if (this.connecting) this.destroy(socketError(err.code, 'connect', this.peerAddress(), this.connection.remotePort));
      else this.destroy(socketError(err.code, err.code === 'EPIPE' ? 'write' : 'read'));
      return;
    }
    // An orderly close: whatever was received has been read or is readable now.
    // Bytes still unread stay readable; 'end' follows them (pull pushes it).
    this.pull();
    if (!this.readEnded && !(this.connection.readable() > 0) && this.orM === NO_MBUF) this.endRead();
    if (this.pendingCb || this.finalCb) {
      this.destroy(socketError('EPIPE', 'write'));
    }
  }

  private schedulePull(): void {
    if (this.pullScheduled) return;
    this.pullScheduled = true;
    process.nextTick(() => { this.pullScheduled = false; this.pull(); });
  }

  private scheduleRetry(): void {
    if (this.retry) return;
    this.retry = setImmediate(() => { this.retry = null; this.flushPending(); });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => { this.flushScheduled = false; this.flushPending(); });
  }

  /** End of stream on the readable side (in onread mode also emits `'end'`, which no reader would pull). */
  private endRead(): void {
    this.readEnded = true;
    this.push(null);
    if (this.orCb) super.read(0);
  }

  /** Move received bytes from TCP into the stream while the consumer wants them. */
  private pull(): void {
    if (this.destroyed || this.connecting) return;
    if (this.readShutLeft >= 0) { this.pullShut(); return; }
    if (this.readEnded) return;
    if (this.orCb) { this.pullInto(); return; }
    const conn = this.connection;
    const pool = this.pool;
    while (this.wantRead) {
      const avail = conn.readable();
      if (avail <= 0) break;
      // Coalesce whatever is ready into one Buffer: one copy, one 'data' event.
      const buf = Buffer.allocUnsafe(avail);
      let off = 0;
      while (off < avail) {
        const m = conn.readMbuf();
        if (m === NO_MBUF) break;
        const len = pool.pktLen(m);
        if (off + len > avail) {
          // More than readable() announced: deliver it separately rather than drop it.
          const extra = Buffer.allocUnsafe(len);
          pool.copyOut(m, 0, extra, 0, len);
          pool.free(m);
          if (off > 0) this.push(buf.subarray(0, off));
          this.deliver(extra);
          off = -1;
          break;
        }
        pool.copyOut(m, 0, buf, off, len);
        pool.free(m);
        off += len;
      }
      if (off < 0) continue;
      if (off === 0) break;
      this.deliver(off === avail ? buf : buf.subarray(0, off));
    }
    if (conn.peerClosed && conn.readable() <= 0 && !this.readEnded) this.endRead();
  }

  /**
   * {@link pull} in onread mode: copy from TCP's receive queue into the
   * caller's buffer, one callback per filled (or last partly filled) buffer.
   * An mbuf larger than the room left is kept, with the offset reached, for
   * the next buffer. Allocates nothing per read.
   */
  private pullInto(): void {
    const conn = this.connection;
    const pool = this.pool;
    while (this.orOn && !this.destroyed) {
      if (this.orM === NO_MBUF && !(conn.readable() > 0)) break;
      let buf = this.orBuf;
      if (buf === null) {
        const b = this.orGen!();
        if (!(b instanceof Uint8Array)) break;
        buf = this.orBuf = b;
      }
      let n = 0;
      while (n < buf.length) {
        if (this.orM === NO_MBUF) {
          const m = conn.readMbuf();
          if (m === NO_MBUF) break;
          this.orM = m;
          this.orOff = 0;
        }
        const len = pool.pktLen(this.orM);
        const take = Math.min(len - this.orOff, buf.length - n);
        pool.copyOut(this.orM, this.orOff, buf, n, take);
        n += take;
        this.orOff += take;
        if (this.orOff >= len) { pool.free(this.orM); this.orM = NO_MBUF; this.orOff = 0; }
      }
      if (n === 0) break; // a zero-length buffer: nothing can be read into it
      this.bytesRead += n;
      this.touch();
      const more = this.orCb!(n, buf);
      if (this.orGen) {
        const next = this.orGen();
        if (next instanceof Uint8Array) this.orBuf = next;
      }
      if (more === false) this.orOn = false;
    }
    if (this.orM === NO_MBUF && conn.peerClosed && !(conn.readable() > 0) && !this.readEnded && !this.destroyed) this.endRead();
  }

  /** {@link pull} after {@link shutdownRead}: the bytes from before it, then end, then discard. */
  private pullShut(): void {
    const conn = this.connection;
    const pool = this.pool;
    while (!this.readEnded && this.readShutLeft > 0 && this.wantRead) {
      const m = conn.readMbuf();
      if (m === NO_MBUF) { this.readShutLeft = 0; break; }
      const len = pool.pktLen(m);
      const take = Math.min(len, this.readShutLeft);
      const b = Buffer.allocUnsafe(take);
      pool.copyOut(m, 0, b, 0, take);
      pool.free(m);
      this.bytesDiscarded += len - take;
      this.readShutLeft -= take;
      this.deliver(b);
    }
    if (this.readShutLeft > 0) return; // the consumer is paused: the rest follows when it reads
    if (!this.readEnded) { this.readEnded = true; this.push(null); }
    for (let m = conn.readMbuf(); m !== NO_MBUF; m = conn.readMbuf()) {
      this.bytesDiscarded += pool.pktLen(m);
      pool.free(m);
    }
  }

  private deliver(b: Buffer): void {
    this.bytesRead += b.length;
    this.touch();
    if (!this.push(b)) this.wantRead = false;
  }

  /** Offer the current write's remaining chunks to TCP. */
  private flushPending(): void {
    const chunks = this.pendingChunks;
    if (!chunks || this.connecting || this.destroyed) return;
    if (this.tcpClosed) { this.failPending(); return; }
    const conn = this.connection;
    while (this.pendingIdx < chunks.length) {
      const c = chunks[this.pendingIdx];
      while (this.pendingOff < c.length) {
        const n = conn.write(this.pendingOff === 0 ? c : c.subarray(this.pendingOff));
        if (!(n > 0)) {
          // Normally onWritable follows once ACKs free send-buffer space. With
          // space left the refusal was the shared pool running short, which
          // no ACK of ours may ever signal: try again on a later turn.
          if (conn.sendSpace() > 0) this.scheduleRetry();
          return;
        }
        this.pendingOff += n;
        this.pendingDone += n;
        this.accepted += n;
        this.touch();
      }
      this.pendingIdx++;
      this.pendingOff = 0;
    }
    const cb = this.pendingCb;
    this.pendingChunks = null;
    this.pendingCb = null;
    this.pendingDone = 0;
    if (cb) cb();
  }

  private failPending(): void {
    const cb = this.pendingCb;
    this.pendingChunks = null;
    this.pendingCb = null;
    this.pendingDone = 0;
    if (cb) cb(socketError('EPIPE', 'write'));
  }

  private finishIfPending(): void {
    const cb = this.finalCb;
    if (!cb || this.connecting) return;
    this.finalCb = null;
    if (!this.tcpClosed) this.connection.shutdown();
    cb();
  }

  private touch(): void {
    if (this.timer) this.timer.refresh();
  }

  private clearTimer(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
  }

  /**
   * `'close'` carries `hadError` (true when destroyed with an error), as
   * `net.Socket`'s does; the stream machinery emits it without arguments.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override emit(event: string | symbol, ...args: any[]): boolean {
    if (event === 'close' && args.length === 0) return super.emit('close', this.hadError);
    return super.emit(event, ...args);
  }

  // ---- Duplex implementation ----
  override _read(): void {
    this.wantRead = true;
    if (this.orCb) this.orOn = true;
    this.schedulePull();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pendingChunks = [chunk];
    this.startWrite(cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: (err?: Error | null) => void): void {
    // Writes that queued up behind a full send buffer go to TCP as one copy,
    // not as one small mbuf each.
    this.pendingChunks = [chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk))];
    this.startWrite(cb);
  }

  private startWrite(cb: (err?: Error | null) => void): void {
    this.pendingIdx = 0;
    this.pendingOff = 0;
    this.pendingDone = 0;
    this.pendingCb = cb;
    if (this.tcpClosed) { this.failPending(); return; }
    this.flushPending();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.tcpClosed) { cb(); return; }
    this.finalCb = cb;
    this.finishIfPending();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.hadError = !!err;
    this.clearTimer();
    this.dropSignal();
    if (this.retry) { clearImmediate(this.retry); this.retry = null; }
    if (this.orM !== NO_MBUF) { this.pool.free(this.orM); this.orM = NO_MBUF; }
    this.connecting = false;
    const conn = this.connection;
    conn.onConnect = conn.onReadable = conn.onWritable = conn.onPeerFin = undefined;
    conn.onClose = undefined;
    if (!this.tcpClosed && conn.state !== TcpState.Closed) {
      this.tcpClosed = true;
      // Like Node (which closes the descriptor whether or not there is an
      // error): FIN after the queued data when everything received was read,
      // RST otherwise (TCP decides, as close(2)). resetAndDestroy() resets.
      if (this.resetting) conn.abort();
      else conn.close();
    } else {
      // Already closed by TCP: close() releases whatever it still holds for us
      // (unread data), as closing the descriptor of a dead socket does.
      this.tcpClosed = true;
      try { conn.close(); } catch { /* nothing left to release */ }
    }
    this.pendingChunks = null;
    this.pendingCb = null;
    this.finalCb = null;
    cb(err);
  }
}
