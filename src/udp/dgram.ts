/**
 * What the udp4 and udp6 sockets (src/udp/socket.ts, src/udp/udp6.ts)
 * share: Node's `dgram.Socket` argument forms and errors for `bind`,
 * `connect`, `send`, `close`, `address` and `remoteAddress`, the socket's
 * life cycle, and delivery as `'message'` or to an mbuf receiver. What
 * differs by family (parsing and formatting addresses, the endpoints a
 * binding makes, how a datagram goes out) each subclass supplies.
 */
import { EventEmitter } from 'node:events';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { socketError } from '../util/errors.js';
import type { Mbuf } from '../mbuf/index.js';

/** A Node-style error: `code` on an `Error` (or `TypeError`, `RangeError`) with Node's message. */
export function nodeError(code: string, message: string, Kind: typeof Error = Error): Error {
  return Object.assign(new Kind(message), { code });
}

/** getaddrinfo's error for a host name tzstack cannot resolve (it resolves none). */
export function notFound(hostname: string | undefined): Error {
  return Object.assign(socketError('ENOTFOUND', 'getaddrinfo'), { hostname });
}

/** `send`'s callback, as Node's. */
export type SendCallback = (error: Error | null, bytes: number) => void;
/** What `send` takes: a string, bytes, or a list of them (sent as one datagram). */
export type Msg = string | Uint8Array | ReadonlyArray<string | Uint8Array>;

/** Where a datagram came from, as Node's `rinfo`. */
export interface DgramRemoteInfo<F extends 'IPv4' | 'IPv6'> { address: string; family: F; port: number; size: number }

/** What a socket's `bind` takes as its first argument. */
export type BindPort = number | { port?: number; address?: string; exclusive?: boolean } | (() => void);

/**
 * A datagram socket of one family `F` whose addresses are `A` (a number for
 * IPv4, an `Addr6` for IPv6). Events: `'listening'`, `'message'` (msg:
 * Buffer, rinfo), `'connect'`, `'close'`, `'error'`.
 */
export abstract class DgramSocket<F extends 'IPv4' | 'IPv6', A> extends EventEmitter {
  protected state: 'unbound' | 'bound' | 'closed' = 'unbound';
  protected localPort = 0;
  /** 0 when not connected. */
  protected remotePort = 0;
  protected connected = false;
  private mbufReceiver: ((m: Mbuf, rinfo: DgramRemoteInfo<F>) => void) | undefined;

  /**
   * @param family - what `address()` and `rinfo` say
   * @param host - closing it closes the socket
   * @param signal - aborting it closes the socket
   */
  constructor(private readonly family: F, host: { addCloseHook(fn: () => void): void }, signal: AbortSignal | undefined) {
    super();
    host.addCloseHook(() => { if (this.state !== 'closed') this.close(); });
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.close());
      else signal.addEventListener('abort', () => { if (this.state !== 'closed') this.close(); }, { once: true });
    }
  }

  // ---- what each family supplies ----

  /** The pool datagrams are copied into (may throw when the family is missing). */
  protected abstract get pool(): Mempool;
  /** Bind to `address` (undefined: any) and `port` (0: ephemeral), or throw the error `bind` emits. */
  protected abstract bindTo(address: string | undefined, port: number): void;
  /** Bind to any address and an ephemeral port (the implicit bind of a first send or connect). */
  protected abstract bindAny(): void;
  /** Set the connected peer's address from `connect`'s argument, or throw the error `connect` emits. */
  protected abstract setRemote(address: string | undefined): void;
  /** Forget the connected peer's address. */
  protected abstract clearRemote(): void;
  /** The connected peer's address. */
  protected abstract get remote(): A;
  /** `send`'s and `sendMbuf`'s destination (undefined: loopback); throws when it is not an address. */
  protected abstract parseAddress(address: string | undefined): A;
  /** Send `m` (payload at mtod, headroom for the headers) to dst:dport; takes ownership. */
  protected abstract sendNow(m: Mbuf, dst: A, dport: number): Error | null;
  /** Give up every binding the socket holds. */
  protected abstract unbindAll(): void;
  /** The bound local address, as Node writes it. */
  protected abstract formatLocal(): string;
  /** The connected peer's address, as Node writes it. */
  protected abstract formatRemote(): string;

  // ---- the dgram API ----

  /**
   * Bind to `port` (0 or omitted: an ephemeral one) on `address` (default:
   * any). Emits `'listening'` once bound (asynchronously, as Node).
   */
  bind(port?: BindPort, address?: string | (() => void), cb?: () => void): this {
    let p = 0;
    let a: string | undefined;
    if (typeof port === 'function') { cb = port; }
    else if (typeof port === 'object' && port !== null) { p = port.port ?? 0; a = port.address; if (typeof address === 'function') cb = address; }
    else { p = port ?? 0; if (typeof address === 'function') cb = address; else a = address; }
    if (this.state === 'closed') throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    if (this.state !== 'unbound') throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be >= 0 and < 65536. Received ${String(p)}.`, RangeError);
    if (cb) this.once('listening', cb);
    try {
      this.bindTo(a, p);
    } catch (e) {
      this.state = 'unbound';
      process.nextTick(() => this.emit('error', e));
      return this;
    }
    process.nextTick(() => { if (this.state === 'bound') this.emit('listening'); });
    return this;
  }

  /** Bind implicitly (as Node does on the first send). */
  protected ensureBound(): void {
    if (this.state === 'unbound') {
      this.bindAny();
      process.nextTick(() => { if (this.state === 'bound') this.emit('listening'); });
    }
  }

  /** Associate the socket with one remote end: `send` needs no address, only its datagrams arrive. */
  connect(port: number, address?: string | (() => void), cb?: () => void): void {
    if (typeof address === 'function') { cb = address; address = undefined; }
    if (this.connected) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`, RangeError);
    if (cb) this.once('connect', cb);
    try {
      this.setRemote(address);
      this.ensureBound();
    } catch (e) { process.nextTick(() => this.emit('error', e)); return; }
    this.remotePort = port;
    this.connected = true;
    process.nextTick(() => this.emit('connect'));
  }

  /** Undo {@link connect}. */
  disconnect(): void {
    if (!this.connected) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.clearRemote();
    this.remotePort = 0;
    this.connected = false;
  }

  /**
   * Send a datagram (copying `msg` into packet buffers), as Node's
   * `send(msg[, offset, length][, port][, address][, callback])`.
   */
  send(msg: Msg, ...rest: unknown[]): void {
    let cb: SendCallback | undefined;
    if (typeof rest[rest.length - 1] === 'function') cb = rest.pop() as SendCallback;
    let data = typeof msg === 'string' ? Buffer.from(msg) : Array.isArray(msg) ? Buffer.concat((msg as ReadonlyArray<string | Uint8Array>).map((x) => (typeof x === 'string' ? Buffer.from(x) : x))) : msg as Uint8Array;
    if (rest.length >= 2 && typeof rest[0] === 'number' && typeof rest[1] === 'number' && (rest.length >= 3 || this.connected)) {
      // (msg, offset, length, ...)
      const off = rest.shift() as number;
      const len = rest.shift() as number;
      data = data.subarray(off, off + len);
    }
    const [port, address] = rest as [number | undefined, string | undefined];
    let dst: A;
    let dport: number;
    if (this.connected) {
      if (port !== undefined) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
      dst = this.remote;
      dport = this.remotePort;
    } else {
      if (port === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`, RangeError);
      }
      try { dst = this.parseAddress(address); } catch { this.fail(cb, notFound(address)); return; }
      dport = port;
    }
    const m = this.pool.fromBytes(data);
    if (m === NO_MBUF) { this.fail(cb, socketError('ENOBUFS', 'send')); return; }
    const err = this.sendNow(m, dst, dport);
    if (err) this.fail(cb, err);
    else if (cb) process.nextTick(cb, null, data.length);
  }

  /** A send's error: to its callback when it has one, else as `'error'` (asynchronously, as Node). */
  private fail(cb: SendCallback | undefined, e: Error): void {
    if (cb) process.nextTick(cb, e, 0); else process.nextTick(() => this.emit('error', e));
  }

  /**
   * Zero-copy send: `m` holds the payload at mtod with the family's
   * headroom (`UDP_HEADROOM`, `UDP6_HEADROOM`; a chain is fine). Takes
   * ownership, also on error.
   * @throws errors as `send` reports them (`EMSGSIZE`, `EACCES` for broadcast without `setBroadcast`, …)
   */
  sendMbuf(m: Mbuf, port?: number, address?: string): void {
    let dst = this.remote;
    let dport = this.remotePort;
    if (!this.connected) {
      if (port === undefined) { this.pool.free(m); throw nodeError('ERR_SOCKET_BAD_PORT', 'a port is needed when not connected', RangeError); }
      dst = this.parseAddress(address);
      dport = port;
    }
    const err = this.sendNow(m, dst, dport);
    if (err) throw err;
  }

  /**
   * Receive datagrams as mbufs instead of `'message'` Buffers: `fn` gets
   * the payload at mtod and owns it (free it with the pool). `undefined`
   * goes back to `'message'`.
   */
  onMbuf(fn: ((m: Mbuf, rinfo: DgramRemoteInfo<F>) => void) | undefined): this { this.mbufReceiver = fn; return this; }

  /** A datagram for this socket from `address`:`sport` (payload at mtod); takes ownership. */
  protected deliverFrom(m: Mbuf, address: string, sport: number): void {
    const pool = this.pool;
    const size = pool.pktLen(m);
    const rinfo: DgramRemoteInfo<F> = { address, family: this.family, port: sport, size };
    if (this.mbufReceiver) { this.mbufReceiver(m, rinfo); return; }
    const buf = Buffer.allocUnsafe(size);
    pool.copyOut(m, 0, buf, 0, size);
    pool.free(m);
    this.emit('message', buf, rinfo);
  }

  /** Stop receiving and give up the port; emits `'close'`. */
  close(cb?: () => void): this {
    if (this.state === 'closed') throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    if (cb) this.once('close', cb);
    this.unbindAll();
    this.state = 'closed';
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** `{ address, family, port }` of the bound socket. */
  address(): { address: string; family: F; port: number } {
    if (this.state !== 'bound') throw socketError('EBADF', 'getsockname');
    return { address: this.formatLocal(), family: this.family, port: this.localPort };
  }

  /** The connected peer. */
  remoteAddress(): { address: string; family: F; port: number } {
    if (!this.connected) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: this.formatRemote(), family: this.family, port: this.remotePort };
  }

  /** Nothing keeps the event loop alive per socket here: the stack's poll loop does. */
  ref(): this { return this; }
  unref(): this { return this; }

  [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    return new Promise((r) => this.close(() => r()));
  }
}
