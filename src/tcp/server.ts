/**
 * `net`-style entry points over a tzstack: {@link TzServer} (like
 * `net.Server`), {@link createServer}, {@link connect} / {@link createConnection}.
 *
 * An unmodified Node `http.Server` runs over a TzServer by forwarding its
 * connections: `tz.on('connection', (s) => httpServer.emit('connection', s))`;
 * and Node's `http.request` runs over tzstack with
 * `{ createConnection: () => connect(stack, port, host) }`.
 */
import { EventEmitter } from 'node:events';
import { formatIpv4, parseIpv4 } from '../ip/addr.js';
import type { Mempool } from '../mbuf/mempool.js';
import type { TcpConfig } from './config.js';
import { TcpLayer, type TcpEnv } from './layer.js';
import { IPPROTO_TCP } from '../ip/ipv4-header.js';
import { socketError, TzSocket, type SocketConnection, type TzOnread } from './socket.js';

/** The range `listen(0)` takes ports from (IANA's dynamic ports, RFC 6335). */
const EPHEMERAL_LOW = 49152;
const EPHEMERAL_HIGH = 65535;
/** Where the next `listen(0)` starts looking (rotates, so a closed port is not reused at once). */
let nextEphemeral = Math.floor(Math.random() * (EPHEMERAL_HIGH - EPHEMERAL_LOW + 1));

/** What the server uses of a `TcpListener`. */
export interface ListenerLike {
  readonly port: number;
  accept(): SocketConnection | null;
  onConnection?(c: SocketConnection): void;
  close(): void;
}

/** What these functions use of a `TcpLayer`. */
export interface TcpLayerLike {
  listen(port: number, opts?: { backlog?: number }): ListenerLike;
  connect(remoteIp: number, remotePort: number, opts?: { localPort?: number } & Partial<TcpConfig>): SocketConnection;
}

/**
 * What these functions use of a `Stack`: its pool and address, and its TCP
 * layer — `stack.tcp` when the stack has one; otherwise {@link tcpOf} attaches
 * a TcpLayer through the stack's plug-in hooks (`l4Env`, `ip.register`,
 * `addTicker`, `addCloseHook`) the first time it is needed.
 */
export interface TcpStackLike {
  readonly tcp?: TcpLayerLike;
  readonly pool: Mempool;
  readonly localIp: number;
  l4Env?(): TcpEnv;
  readonly ip?: { register(proto: number, handler: (m: number, src: number, dst: number, tos: number) => void): void };
  addTicker?(fn: (now: number) => void): void;
  addCloseHook?(fn: () => void): void;
}

const attached = new WeakMap<object, TcpLayer>();

/**
 * The TCP layer of `stack`: `stack.tcp`, or one attached on first use (see
 * {@link TcpStackLike}) with `config`.
 * @throws Error when the stack has neither
 */
export function tcpOf(stack: TcpStackLike, config?: Partial<TcpConfig>): TcpLayerLike {
  if (stack.tcp) return stack.tcp;
  let t = attached.get(stack);
  if (t) return t;
  if (!stack.l4Env || !stack.ip || !stack.addTicker) throw new Error('this stack has no TCP layer');
  const layer = new TcpLayer(stack.l4Env(), config);
  stack.ip.register(IPPROTO_TCP, (m, src, dst, tos) => layer.input(m, src, dst, tos));
  stack.addTicker((now) => layer.tick(now));
  stack.addCloseHook?.(() => layer.close());
  attached.set(stack, layer);
  t = layer;
  return t;
}

/** Options of {@link TzServer}. */
export interface TzServerOptions {
  /** Keep accepted sockets writable after the peer's FIN (default false, as `net`). */
  allowHalfOpen?: boolean;
  /** Turn Nagle off on accepted sockets. */
  noDelay?: boolean;
  /** Keepalive on accepted sockets. */
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Accepted sockets start paused (`net.createServer({ pauseOnConnect })`). */
  pauseOnConnect?: boolean;
  /** Readable and writable high-water mark of accepted sockets, in bytes. */
  highWaterMark?: number;
}

/** `server.listen(options)`, as Node's (no `path`, `ipv6Only` or `exclusive`). */
export interface TzListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

/** Options of {@link connect}. */
export interface TzConnectOptions extends Partial<TcpConfig> {
  port: number;
  /** Dotted-quad IPv4 address (no name resolution in tzstack). */
  host: string;
  localPort?: number;
  allowHalfOpen?: boolean;
  /** `setTimeout` on the new socket. */
  timeout?: number;
  /** Node's caller-owned receive buffer (see {@link TzOnread}). */
  onread?: TzOnread;
  /** Aborting destroys the socket with an `AbortError`. */
  signal?: AbortSignal;
}

/**
 * A TCP server on a tzstack, shaped like `net.Server`: `listen()`,
 * `'listening'`, `'connection'` (with a {@link TzSocket}), `'error'`,
 * `'close'` (after `close()` once every accepted socket has closed),
 * `address()`, `getConnections()`.
 */
export class TzServer extends EventEmitter {
  /** True between `listen()` and `close()`. */
  listening = false;
  /** Refuse (reset) connections beyond this many open sockets, when set. */
  maxConnections?: number;
  private listener: ListenerLike | null = null;
  private host = '0.0.0.0';
  private readonly sockets = new Set<TzSocket>();
  private readonly seen = new WeakSet<SocketConnection>();
  private closing = false;

  /**
   * @param stack - the stack to listen on
   * @param connectionListener - added as a `'connection'` listener
   */
  constructor(readonly stack: TcpStackLike, private readonly opts: TzServerOptions = {}, connectionListener?: (s: TzSocket) => void) {
    super();
    if (connectionListener) this.on('connection', connectionListener);
  }

  /**
   * Start listening on `port` of the stack's address (0 or none: an
   * ephemeral port, see {@link address}), as `net.Server.listen(port[, host][, backlog][, cb])`
   * or `listen(options[, cb])`. `host`, when given, must be the stack's own
   * address or `0.0.0.0`.
   */
  listen(port?: number | TzListenOptions | (() => void), host?: string | number | (() => void), backlogOrCb?: number | (() => void), cb?: () => void): this {
    let signal: AbortSignal | undefined;
    let backlog: number | undefined;
    if (typeof port === 'function') { cb = port; port = undefined; host = undefined; }
    else if (typeof port === 'object' && port !== null) {
      const o = port;
      if (typeof host === 'function') cb = host;
      port = o.port; host = o.host; backlog = o.backlog; signal = o.signal;
    } else {
      if (typeof host === 'function') { cb = host; host = undefined; }
      else if (typeof host === 'number') { backlogOrCb = host; host = undefined; }
      if (typeof backlogOrCb === 'function') cb = backlogOrCb; else backlog = backlogOrCb;
    }
    const p = port ?? 0;
    const h = host as string | undefined;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) {
      throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${String(p)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    if (cb) this.once('listening', cb);
    try {
      if (this.listener) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
      if (h !== undefined && h !== '0.0.0.0' && h !== '::' && parseIpv4(h) !== this.stack.localIp) {
        throw socketError('EADDRNOTAVAIL', 'listen', h, p);
      }
      const where = h && h !== '::' ? h : '0.0.0.0';
      const l = p === 0 ? this.listenEphemeral(backlog) : this.listenOn(p, backlog, where);
      this.listener = l;
      this.host = where;
      l.onConnection = (c) => process.nextTick(() => this.acceptAll(c));
      this.listening = true;
      this.closing = false;
      if (signal) {
        if (signal.aborted) process.nextTick(() => { if (this.listener === l) this.close(); });
        else signal.addEventListener('abort', () => { if (this.listener === l) this.close(); }, { once: true });
      }
      process.nextTick(() => { this.emit('listening'); this.acceptAll(); });
    } catch (e) {
      const err = e as Error & { code?: string };
      process.nextTick(() => this.emit('error', err));
    }
    return this;
  }

  /** Listen on `port`, with the error Node gives when it is taken. */
  private listenOn(port: number, backlog: number | undefined, where: string): ListenerLike {
    try {
      return tcpOf(this.stack).listen(port, backlog !== undefined ? { backlog } : undefined);
    } catch (e) {
      const err = e as Error & { code?: string };
      if (err.code === 'EADDRINUSE') {
        const ne = socketError('EADDRINUSE', 'listen', where, port);
        ne.message = `listen EADDRINUSE: address already in use ${where}:${port}`;
        throw ne;
      }
      throw e;
    }
  }

  /** `listen(0)`: the first free port of the ephemeral range from a rotating start. */
  private listenEphemeral(backlog: number | undefined): ListenerLike {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = nextEphemeral;
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      try {
        const l = tcpOf(this.stack).listen(port, backlog !== undefined ? { backlog } : undefined);
        nextEphemeral = (start + i + 1) % span;
        return l;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
      }
    }
    throw socketError('EADDRINUSE', 'listen', '0.0.0.0', 0, 'no free port in the ephemeral range');
  }

  /** Take every connection waiting in the listener's backlog (and `direct`, if handed over). */
  private acceptAll(direct?: SocketConnection): void {
    const l = this.listener;
    if (!l) return;
    for (let c = l.accept(); c; c = l.accept()) this.adopt(c);
    if (direct) this.adopt(direct);
  }

  private adopt(c: SocketConnection): void {
    if (this.seen.has(c)) return;
    this.seen.add(c);
    if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
      // As Node: the refused client sees an orderly close (FIN), not a reset.
      c.close();
      this.emit('drop', {
        localAddress: formatIpv4(c.localIp), localPort: c.localPort, localFamily: 'IPv4',
        remoteAddress: formatIpv4(c.remoteIp), remotePort: c.remotePort, remoteFamily: 'IPv4',
      });
      return;
    }
    const hwm = this.opts.highWaterMark;
    const s = new TzSocket(c, this.stack.pool, {
      allowHalfOpen: this.opts.allowHalfOpen,
      ...(hwm !== undefined ? { readableHighWaterMark: hwm, writableHighWaterMark: hwm } : {}),
    });
    if (this.opts.pauseOnConnect) s.pause();
    if (this.opts.noDelay) s.setNoDelay(true);
    if (this.opts.keepAlive) s.setKeepAlive(true, this.opts.keepAliveInitialDelay);
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      this.maybeEmitClose();
    });
    this.emit('connection', s);
  }

  /** `{ address, family, port }` the server listens on, or null. */
  address(): { address: string; family: string; port: number } | null {
    if (!this.listener) return null;
    return { address: this.host, family: 'IPv4', port: this.listener.port };
  }

  /** Number of open accepted sockets, as `net.Server.getConnections`. */
  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  /** The accepted sockets that are still open. */
  connections(): IterableIterator<TzSocket> { return this.sockets.values(); }

  /**
   * Stop accepting; `'close'` follows once every accepted socket has closed.
   * Connections still in the backlog are reset.
   */
  close(cb?: (err?: Error) => void): this {
    if (!this.listener) {
      if (cb) process.nextTick(() => cb(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })));
      return this;
    }
    if (cb) this.once('close', () => cb());
    const l = this.listener;
    this.listener = null;
    this.listening = false;
    this.closing = true;
    l.onConnection = undefined;
    for (let c = l.accept(); c; c = l.accept()) c.abort();
    l.close();
    this.maybeEmitClose();
    return this;
  }

  /** Destroy every accepted socket (what `http.Server.closeAllConnections` does for its own). */
  destroyAll(): void {
    for (const s of [...this.sockets]) s.destroy();
  }

  private maybeEmitClose(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }

  ref(): this { return this; }
  unref(): this { return this; }

  /** `await using server = …`: close, resolving once `'close'` follows. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.listener) return;
    await new Promise<void>((res, rej) => this.close((e) => (e ? rej(e) : res())));
  }
}

/**
 * A server on `stack`, like `net.createServer([options], [connectionListener])`.
 */
export function createServer(stack: TcpStackLike, optsOrListener?: TzServerOptions | ((s: TzSocket) => void), listener?: (s: TzSocket) => void): TzServer {
  if (typeof optsOrListener === 'function') return new TzServer(stack, {}, optsOrListener);
  return new TzServer(stack, optsOrListener ?? {}, listener);
}

/**
 * Open a connection from `stack`, like `net.connect(port, host, [cb])` or
 * `net.connect({ port, host, ... }, [cb])`. Errors (ECONNREFUSED, ETIMEDOUT,
 * a bad address) arrive as `'error'` events on the returned socket.
 */
export function connect(stack: TcpStackLike, port: number | TzConnectOptions, host?: string | (() => void), cb?: () => void): TzSocket {
  let o: TzConnectOptions;
  if (typeof port === 'object') {
    o = port;
    if (typeof host === 'function') cb = host;
  } else {
    if (typeof host === 'function') { cb = host; host = undefined; }
    o = { port, host: host ?? '127.0.0.1' };
  }
  const { port: p, host: h, localPort, allowHalfOpen, timeout, onread, signal, ...tcp } = o;
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    // As Node: an impossible port is the caller's mistake, thrown at once.
    throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${typeof p === 'number' ? `type number (${p})` : String(p)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
  }
  let ip: number;
  try {
    ip = parseIpv4(h);
    if (!Number.isInteger(p) || p <= 0 || p > 65535) throw new RangeError(`port must be 1-65535, got ${p}`);
  } catch (e) {
    return failedSocket(stack, socketError('EINVAL', 'connect', h, p, (e as Error).message));
  }
  let conn: SocketConnection;
  try {
    conn = tcpOf(stack).connect(ip, p, { ...tcp, ...(localPort !== undefined ? { localPort } : {}) });
  } catch (e) {
    const err = e as Error & { code?: string };
    return failedSocket(stack, socketError(err.code ?? 'EADDRNOTAVAIL', 'connect', h, p, err.message));
  }
  const s = new TzSocket(conn, stack.pool, { allowHalfOpen, connecting: true, onread, signal });
  if (cb) s.once('connect', cb);
  if (timeout) s.setTimeout(timeout);
  return s;
}

/** Alias of {@link connect}, as `net.createConnection`. */
export const createConnection = connect;

/** A socket that only reports `err` (what Node does for a connect that cannot start). */
function failedSocket(stack: TcpStackLike, err: Error): TzSocket {
  const dead: SocketConnection = {
    state: 0, localIp: stack.localIp, localPort: 0, remoteIp: 0, remotePort: 0,
    writeMbuf: () => false, write: () => 0, sendSpace: () => 0, readMbuf: () => -1, readable: () => 0,
    peerClosed: false, shutdown() {}, close() {}, abort() {}, setNoDelay() {}, setKeepAlive() {},
  };
  const s = new TzSocket(dead, stack.pool, { connecting: true });
  // The constructor saw a Closed connection and schedules an orderly close;
  // the error must come first.
  s.destroy(err);
  return s;
}
