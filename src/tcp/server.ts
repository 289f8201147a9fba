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
import { formatIpv4, parseIpv4, type Ip4 } from '../ip/addr.js';
import { formatIpv6, parseIpv6, type Addr6 } from '../ip/addr6.js';
import type { Mempool } from '../mbuf/mempool.js';
import type { TcpConfig } from './config.js';
import { TcpLayer, type TcpEnv } from './layer.js';
import { IPPROTO_TCP } from '../ip/ipv4-header.js';
import { socketError, TzSocket, type SocketConnection, type TzOnread } from './socket.js';
import type { Mbuf } from '../mbuf/index.js';

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
  listen(port: number, opts?: { backlog?: number; family?: 0 | 4 | 6; address6?: Readonly<Addr6> }): ListenerLike;
  connect(remoteIp: Ip4, remotePort: number, opts?: { localPort?: number } & Partial<TcpConfig>): SocketConnection;
  /** An IPv6 active open (TcpLayer.connect6); absent on layers without IPv6. */
  connect6?(remote: Readonly<Addr6>, remotePort: number, opts?: { localPort?: number; localAddress?: Readonly<Addr6> } & Partial<TcpConfig>): SocketConnection;
  /** Whether IPv6 is attached below (TcpLayer.hasIpv6). */
  readonly hasIpv6?: boolean;
  /** Whether `a` is one of our IPv6 addresses (TcpLayer.isLocal6). */
  isLocal6?(a: Readonly<Addr6>): boolean;
}

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`): its IPv4 address, else -1. */
function mappedV4(a: Readonly<Addr6>): Ip4 {
  return a[0] === 0 && a[1] === 0 && a[2] === 0xffff ? (a[3] >>> 0) as Ip4 : -1 as Ip4;
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
  readonly localIp: Ip4;
  l4Env?(): TcpEnv;
  readonly ip?: { register(proto: number, handler: (m: Mbuf, src: Ip4, dst: Ip4, tos: number) => void): void };
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

/** `server.listen(options)`, as Node's (no `path` or `exclusive`). */
export interface TzListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
  /** On `::`, take IPv6 only (default false: IPv4 too, reported as IPv4-mapped addresses). */
  ipv6Only?: boolean;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

/** Options of {@link connect}. */
export interface TzConnectOptions extends Partial<TcpConfig> {
  port: number;
  /**
   * An IPv4 (`'10.0.0.1'`) or IPv6 (`'fd00::1'`, `'::ffff:10.0.0.1'`)
   * address; no name resolution in tzstack.
   */
  host: string;
  localPort?: number;
  /** IPv6 source address (one of the stack's); default: chosen per RFC 6724. */
  localAddress?: string;
  /** 4 or 6: the family `host` must be (as Node's `family`, which there steers the lookup). */
  family?: number;
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
  /** Families the listener takes: 0 both (IPv4 reported mapped), 4, 6. */
  private family: 0 | 4 | 6 = 4;
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
   * or `listen(options[, cb])`. Without `host`, or with `'::'`, a stack
   * with IPv6 takes both families (IPv4 peers reported IPv4-mapped, as
   * Node's dual-stack sockets; `ipv6Only` for IPv6 alone); `'0.0.0.0'` or
   * the stack's IPv4 address take IPv4, one of its IPv6 addresses
   * connections to that address only. Any other host: EADDRNOTAVAIL.
   * EADDRINUSE as Linux gives listening sockets (Node's have SO_REUSEADDR,
   * which does not let listeners share): a wildcard listener (`'::'`,
   * `'0.0.0.0'`) and another of its family on the same port conflict, two
   * listeners on different IPv6 addresses do not; `'::'` without
   * `ipv6Only` conflicts with every IPv4 listener of the port too.
   */
  listen(port?: number | TzListenOptions | (() => void), host?: string | number | (() => void), backlogOrCb?: number | (() => void), cb?: () => void): this {
    let signal: AbortSignal | undefined;
    let backlog: number | undefined;
    let ipv6Only = false;
    if (typeof port === 'function') { cb = port; port = undefined; host = undefined; }
    else if (typeof port === 'object' && port !== null) {
      const o = port;
      if (typeof host === 'function') cb = host;
      port = o.port; host = o.host; backlog = o.backlog; signal = o.signal; ipv6Only = o.ipv6Only === true;
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
      const { where, family, address6 } = this.listenAddress(h, ipv6Only, p);
      const l = p === 0 ? this.listenEphemeral(backlog, family, address6) : this.listenOn(p, backlog, where, family, address6);
      this.listener = l;
      this.host = where;
      this.family = family;
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

  /**
   * Which families `host` means, as Node: none or `::` both (when the
   * stack has IPv6; `ipv6Only` IPv6 alone), `0.0.0.0` or our IPv4 address
   * IPv4, one of our IPv6 addresses IPv6 on that address only (`address6`),
   * `::ffff:` + our IPv4 address IPv4.
   * @throws EADDRNOTAVAIL for an address that is not ours
   */
  private listenAddress(h: string | undefined, ipv6Only: boolean, p: number): { where: string; family: 0 | 4 | 6; address6?: Addr6 } {
    const tcp = tcpOf(this.stack);
    const v6 = tcp.hasIpv6 === true;
    if (h === undefined || h === '::') return v6 ? { where: '::', family: ipv6Only ? 6 : 0 } : { where: '0.0.0.0', family: 0 };
    if (h === '0.0.0.0') return { where: h, family: v6 ? 4 : 0 };
    if (h.includes(':')) {
      let a: Addr6;
      try { a = parseIpv6(h); } catch { throw socketError('EADDRNOTAVAIL', 'listen', h, p); }
      const m = mappedV4(a);
      if (m >= 0 && m === this.stack.localIp) return { where: formatIpv4(m), family: 4 };
      if (m < 0 && tcp.isLocal6?.(a)) return { where: formatIpv6(a), family: 6, address6: a };
      throw socketError('EADDRNOTAVAIL', 'listen', h, p);
    }
    let a4 = -1;
    try { a4 = parseIpv4(h); } catch { /* not ours either way */ }
    if (a4 !== this.stack.localIp) throw socketError('EADDRNOTAVAIL', 'listen', h, p);
    return { where: h, family: v6 ? 4 : 0 };
  }

  /** Listen on `port`, with the error Node gives when it is taken. */
  private listenOn(port: number, backlog: number | undefined, where: string, family: 0 | 4 | 6, address6?: Addr6): ListenerLike {
    try {
      return tcpOf(this.stack).listen(port, listenOpts(backlog, family, address6));
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
  private listenEphemeral(backlog: number | undefined, family: 0 | 4 | 6, address6?: Addr6): ListenerLike {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = nextEphemeral;
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      try {
        const l = tcpOf(this.stack).listen(port, listenOpts(backlog, family, address6));
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
      const fam = c.v6 || this.dual ? 'IPv6' : 'IPv4';
      const text = (a: Ip4, a6: Readonly<Addr6> | undefined) => a6 ? formatIpv6(a6) : this.dual ? `::ffff:${formatIpv4(a)}` : formatIpv4(a);
      this.emit('drop', {
        localAddress: text(c.localIp as Ip4, c.v6?.local), localPort: c.localPort, localFamily: fam,
        remoteAddress: text(c.remoteIp as Ip4, c.v6?.remote), remotePort: c.remotePort, remoteFamily: fam,
      });
      return;
    }
    const hwm = this.opts.highWaterMark;
    const s = new TzSocket(c, this.stack.pool, {
      allowHalfOpen: this.opts.allowHalfOpen,
      mapV4: this.dual && !c.v6,
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

  /** Listening on `::` for both families: IPv4 peers are reported as IPv4-mapped IPv6, as Node's dual-stack sockets do. */
  private get dual(): boolean { return this.family === 0 && this.host === '::'; }

  /** `{ address, family, port }` the server listens on, or null. */
  address(): { address: string; family: string; port: number } | null {
    if (!this.listener) return null;
    return { address: this.host, family: this.host.includes(':') ? 'IPv6' : 'IPv4', port: this.listener.port };
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
  const { port: p, host: h, localPort, localAddress, family, allowHalfOpen, timeout, onread, signal, ...tcp } = o;
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    // As Node: an impossible port is the caller's mistake, thrown at once.
    throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${typeof p === 'number' ? `type number (${p})` : String(p)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
  }
  let ip = -1 as Ip4;
  let ip6: Addr6 | undefined;
  let local6: Addr6 | undefined;
  let mapV4 = false;
  try {
    if (typeof h === 'string' && h.includes(':')) {
      const a = parseIpv6(h);
      ip = mappedV4(a);
      if (ip < 0) ip6 = a; else mapV4 = true;
    } else ip = parseIpv4(h);
    if (family === 4 && ip6 !== undefined) throw new RangeError(`${h} is not an IPv4 address`);
    if (family === 6 && ip6 === undefined && !mapV4) throw new RangeError(`${h} is not an IPv6 address`);
    if (localAddress !== undefined && ip6 !== undefined) local6 = parseIpv6(localAddress);
    if (!Number.isInteger(p) || p <= 0 || p > 65535) throw new RangeError(`port must be 1-65535, got ${p}`);
  } catch (e) {
    return failedSocket(stack, socketError('EINVAL', 'connect', h, p, (e as Error).message));
  }
  let conn: SocketConnection;
  try {
    const layer = tcpOf(stack);
    const lp = localPort !== undefined ? { localPort } : {};
    if (ip6 !== undefined) {
      if (layer.connect6 === undefined || layer.hasIpv6 !== true) throw Object.assign(new Error('this stack has no IPv6'), { code: 'EADDRNOTAVAIL' });
      conn = layer.connect6(ip6, p, { ...tcp, ...lp, ...(local6 ? { localAddress: local6 } : {}) });
    } else conn = layer.connect(ip, p, { ...tcp, ...lp });
  } catch (e) {
    const err = e as Error & { code?: string };
    return failedSocket(stack, socketError(err.code ?? 'EADDRNOTAVAIL', 'connect', h, p, err.message));
  }
  const s = new TzSocket(conn, stack.pool, { allowHalfOpen, connecting: true, onread, signal, mapV4 });
  if (cb) s.once('connect', cb);
  if (timeout) s.setTimeout(timeout);
  return s;
}

/** Alias of {@link connect}, as `net.createConnection`. */
export const createConnection = connect;

function listenOpts(backlog: number | undefined, family: 0 | 4 | 6, address6?: Addr6):
  { backlog?: number; family?: 0 | 4 | 6; address6?: Addr6 } | undefined {
  if (backlog === undefined && family === 0) return undefined;
  return { ...(backlog !== undefined ? { backlog } : {}), ...(family !== 0 ? { family } : {}), ...(address6 !== undefined ? { address6 } : {}) };
}

/** A socket that only reports `err` (what Node does for a connect that cannot start). */
function failedSocket(stack: TcpStackLike, err: Error): TzSocket {
  const dead: SocketConnection = {
    state: 0, localIp: stack.localIp, localPort: 0, remoteIp: 0 as Ip4, remotePort: 0,
    writeMbuf: () => false, write: () => 0, sendSpace: () => 0, readMbuf: () => -1 as Mbuf, readable: () => 0,
    peerClosed: false, shutdown() {}, close() {}, abort() {}, setNoDelay() {}, setKeepAlive() {},
  };
  const s = new TzSocket(dead, stack.pool, { connecting: true });
  // The constructor saw a Closed connection and schedules an orderly close;
  // the error must come first.
  s.destroy(err);
  return s;
}
