/**
 * `node:dgram`-shaped UDP sockets over tzstack: `bind`, `send`, `connect`,
 * `'message'`, broadcast, `close`, with Node's error codes; plus the
 * zero-copy pair {@link UdpSocket.sendMbuf} and {@link UdpSocket.onMbuf},
 * which hand mbufs across without copying payload.
 */
import { EventEmitter } from 'node:events';
import { formatIpv4, parseIpv4 } from '../ip/addr.js';
import { IP_BROADCAST } from '../ip/ipv4-header.js';
import { ICMP_DEST_UNREACH, ICMP_UNREACH_FRAG_NEEDED, ICMP_UNREACH_PORT } from '../ip/icmp.js';
import type { Ipv4Layer } from '../ip/ipv4.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import { socketError } from '../util/errors.js';
import { UDP_HEADROOM, UdpLayer, type UdpEndpoint, type UdpLoopback4 } from './layer.js';

/** What a UDP socket needs from the host it runs on (a `Stack` has all of it). */
export interface UdpHost {
  readonly ip: Ipv4Layer;
  readonly localIp: number;
  /** Run `fn` when the host closes (to close its sockets). */
  addCloseHook(fn: () => void): void;
  /** Per-layer counters, where the UDP layer puts its own (`udp4`). */
  readonly counters: Record<string, unknown>;
  /** Where datagrams to our own address go (the stack's loopback); without it they go to the wire. */
  readonly loopback?: UdpLoopback4;
}

/** Where a datagram came from, as Node's `rinfo`. */
export interface RemoteInfo { address: string; family: 'IPv4'; port: number; size: number }

/** Options of {@link createUdpSocket}, as `dgram.createSocket`'s. */
export interface UdpSocketOptions {
  type: 'udp4';
  /** Share the port with other sockets that also ask (SO_REUSEADDR). */
  reuseAddr?: boolean;
  /** Datagrams waiting for no listener are not kept: like Node, 'message' is emitted at once. */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Aborting closes the socket. */
  signal?: AbortSignal;
}

type SendCallback = (error: Error | null, bytes: number) => void;
type Msg = string | Uint8Array | ReadonlyArray<string | Uint8Array>;

const layers = new WeakMap<Ipv4Layer, UdpLayer>();

/** The host's UDP layer, made on first use (it takes protocol 17 over from the closed-port stub). */
export function udpLayerOf(host: UdpHost): UdpLayer {
  let l = layers.get(host.ip);
  if (l === undefined) {
    l = new UdpLayer(host.ip, host.localIp);
    l.loopback = host.loopback;
    layers.set(host.ip, l);
    (host.counters as Record<string, unknown>).udp4 = l.counters;
  }
  return l;
}

/** getaddrinfo's error for a host name tzstack cannot resolve (it resolves none). */
function notFound(hostname: string | undefined): Error {
  return Object.assign(socketError('ENOTFOUND', 'getaddrinfo'), { hostname });
}

function nodeError(code: string, message: string, Kind: typeof Error = Error): Error {
  return Object.assign(new Kind(message), { code });
}

function toAddr(host: string | undefined, fallback: number): number {
  if (host === undefined || host === '') return fallback;
  if (host === 'localhost') return 0x7f000001;
  return parseIpv4(host);
}

/**
 * A UDP socket, as Node's `dgram.Socket`. Events: `'listening'`,
 * `'message'` (msg: Buffer, rinfo), `'connect'`, `'close'`, `'error'`.
 */
export class UdpSocket extends EventEmitter {
  private state: 'unbound' | 'binding' | 'bound' | 'closed' = 'unbound';
  private ep: (UdpEndpoint & { reuse: boolean }) | undefined;
  private localAddr = 0;
  private localPort = 0;
  private remoteAddr = 0;
  private remotePort = 0;
  private connectState: 'none' | 'connecting' | 'connected' = 'none';
  private broadcast = false;
  private ttl = 64;
  private mbufReceiver: ((m: number, rinfo: RemoteInfo) => void) | undefined;
  private readonly layer: UdpLayer;

  constructor(private readonly host: UdpHost, private readonly opts: UdpSocketOptions = { type: 'udp4' }) {
    super();
    if (opts.type !== 'udp4') throw nodeError('ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4', TypeError);
    this.layer = udpLayerOf(host);
    host.addCloseHook(() => { if (this.state !== 'closed') this.close(); });
    if (opts.signal) {
      if (opts.signal.aborted) queueMicrotask(() => this.close());
      else opts.signal.addEventListener('abort', () => { if (this.state !== 'closed') this.close(); }, { once: true });
    }
  }

  /**
   * Bind to `port` (0 or omitted: an ephemeral one) on `address` (default:
   * any). Emits `'listening'` once bound (asynchronously, as Node).
   */
  bind(port?: number | { port?: number; address?: string; exclusive?: boolean } | (() => void), address?: string | (() => void), cb?: () => void): this {
    let p = 0;
    let a: string | undefined;
    if (typeof port === 'function') { cb = port; }
    else if (typeof port === 'object' && port !== null) { p = port.port ?? 0; a = port.address; if (typeof address === 'function') cb = address; }
    else { p = port ?? 0; if (typeof address === 'function') cb = address; else a = address; }
    if (this.state === 'closed') throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    if (this.state !== 'unbound') throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be >= 0 and < 65536. Received ${String(p)}.`, RangeError);
    if (cb) this.once('listening', cb);
    this.state = 'binding';
    let addr: number;
    try {
      addr = a === undefined || a === '0.0.0.0' ? 0 : toAddr(a, 0);
    } catch (e) {
      this.state = 'unbound';
      process.nextTick(() => this.emit('error', notFound(a)));
      return this;
    }
    try {
      this.bindNow(addr, p);
    } catch (e) {
      this.state = 'unbound';
      process.nextTick(() => this.emit('error', e));
      return this;
    }
    process.nextTick(() => { if (this.state === 'bound') this.emit('listening'); });
    return this;
  }

  private bindNow(addr: number, port: number): void {
    if (addr !== 0 && addr !== this.host.localIp) {
      throw socketError('EADDRNOTAVAIL', 'bind', formatIpv4(addr), port);
    }
    this.localAddr = addr;
    const reuse = this.opts.reuseAddr === true;
    this.localPort = this.layer.bind((lp) => {
      const self = this; // eslint-disable-line @typescript-eslint/no-this-alias
      const ep = {
        reuse,
        get localAddr() { return self.localAddr; },
        localPort: lp,
        get remoteAddr() { return self.remoteAddr; },
        get remotePort() { return self.remotePort; },
        deliver: (m: number, src: number, sport: number) => self.deliver(m, src, sport),
        icmpError: (type: number, code: number, dst: number, dport: number, mtu: number) => self.onIcmpError(type, code, dst, dport, mtu),
      };
      this.ep = ep;
      return ep;
    }, addr, port, reuse);
    this.state = 'bound';
  }

  /** Bind implicitly (as Node does on the first send). */
  private ensureBound(): void {
    if (this.state === 'unbound') {
      this.bindNow(0, 0);
      process.nextTick(() => { if (this.state === 'bound') this.emit('listening'); });
    }
  }

  /** Associate the socket with one remote end: `send` needs no address, only its datagrams arrive. */
  connect(port: number, address?: string | (() => void), cb?: () => void): void {
    if (typeof address === 'function') { cb = address; address = undefined; }
    if (this.connectState !== 'none') throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`, RangeError);
    if (cb) this.once('connect', cb);
    this.connectState = 'connecting';
    let addr: number;
    try { addr = toAddr(address, 0x7f000001); } catch {
      this.connectState = 'none';
      process.nextTick(() => this.emit('error', notFound(address)));
      return;
    }
    try { this.ensureBound(); } catch (e) { this.connectState = 'none'; process.nextTick(() => this.emit('error', e)); return; }
    this.remoteAddr = addr;
    this.remotePort = port;
    this.connectState = 'connected';
    process.nextTick(() => this.emit('connect'));
  }

  /** Undo {@link connect}. */
  disconnect(): void {
    if (this.connectState !== 'connected') throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.remoteAddr = 0;
    this.remotePort = 0;
    this.connectState = 'none';
  }

  /**
   * Send a datagram (copying `msg` into packet buffers), as Node's
   * `send(msg[, offset, length][, port][, address][, callback])`.
   */
  send(msg: Msg, ...rest: unknown[]): void {
    let cb: SendCallback | undefined;
    if (typeof rest[rest.length - 1] === 'function') cb = rest.pop() as SendCallback;
    let data = typeof msg === 'string' ? Buffer.from(msg) : Array.isArray(msg) ? Buffer.concat((msg as ReadonlyArray<string | Uint8Array>).map((x) => (typeof x === 'string' ? Buffer.from(x) : x))) : msg as Uint8Array;
    if (rest.length >= 2 && typeof rest[0] === 'number' && typeof rest[1] === 'number' && (rest.length >= 3 || this.connectState === 'connected')) {
      // (msg, offset, length, ...)
      const off = rest.shift() as number;
      const len = rest.shift() as number;
      data = data.subarray(off, off + len);
    }
    const [port, address] = rest as [number | undefined, string | undefined];
    let dst: number;
    let dport: number;
    if (this.connectState === 'connected') {
      if (port !== undefined) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
      dst = this.remoteAddr;
      dport = this.remotePort;
    } else {
      if (port === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be > 0 and < 65536. Received ${String(port)}.`, RangeError);
      }
      try { dst = toAddr(address, 0x7f000001); } catch {
        const e = notFound(address);
        if (cb) process.nextTick(cb, e, 0); else process.nextTick(() => this.emit('error', e));
        return;
      }
      dport = port;
    }
    const m = this.copyToMbuf(data);
    if (m === NO_MBUF) {
      const e = socketError('ENOBUFS', 'send');
      if (cb) process.nextTick(cb, e, 0); else process.nextTick(() => this.emit('error', e));
      return;
    }
    const err = this.sendNow(m, dst, dport);
    if (cb) process.nextTick(cb, err, err ? 0 : data.length);
    else if (err) process.nextTick(() => this.emit('error', err));
  }

  /**
   * Zero-copy send: `m` holds the payload at mtod with {@link UDP_HEADROOM}
   * bytes of headroom (a chain is fine). Takes ownership, also on error.
   * @throws errors as `send` reports them (`EMSGSIZE`, `EACCES` for broadcast without {@link setBroadcast}, …)
   */
  sendMbuf(m: number, port?: number, address?: string): void {
    let dst = this.remoteAddr;
    let dport = this.remotePort;
    if (this.connectState !== 'connected') {
      if (port === undefined) { this.host.ip.pool.free(m); throw nodeError('ERR_SOCKET_BAD_PORT', 'a port is needed when not connected', RangeError); }
      dst = toAddr(address, 0x7f000001);
      dport = port;
    }
    const err = this.sendNow(m, dst, dport);
    if (err) throw err;
  }

  private sendNow(m: number, dst: number, dport: number): Error | null {
    const pool = this.host.ip.pool;
    if (this.state === 'closed') { pool.free(m); return nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running'); }
    try { this.ensureBound(); } catch (e) { pool.free(m); return e as Error; }
    if ((dst === IP_BROADCAST || this.host.ip.isBroadcast(dst)) && !this.broadcast) { pool.free(m); return socketError('EACCES', 'send', formatIpv4(dst), dport); }
    if (pool.pktLen(m) > 65507) { pool.free(m); return socketError('EMSGSIZE', 'send', formatIpv4(dst), dport); }
    if (pool.headroom(m) < UDP_HEADROOM) { pool.free(m); return socketError('EINVAL', 'send'); }
    return this.layer.output(m, this.localPort, dst, dport) ? null : socketError('EMSGSIZE', 'send');
  }

  /** Copy bytes into a chain of pool buffers (each with the default headroom, which fits the headers). */
  private copyToMbuf(data: Uint8Array): number { return this.host.ip.pool.fromBytes(data); }

  /**
   * Receive datagrams as mbufs instead of `'message'` Buffers: `fn` gets
   * the payload at mtod and owns it (free it with the pool). `undefined`
   * goes back to `'message'`.
   */
  onMbuf(fn: ((m: number, rinfo: RemoteInfo) => void) | undefined): this { this.mbufReceiver = fn; return this; }

  private deliver(m: number, src: number, sport: number): void {
    const pool = this.host.ip.pool;
    const size = pool.pktLen(m);
    const rinfo: RemoteInfo = { address: formatIpv4(src), family: 'IPv4', port: sport, size };
    if (this.mbufReceiver) { this.mbufReceiver(m, rinfo); return; }
    const buf = Buffer.allocUnsafe(size);
    pool.copyOut(m, 0, buf, 0, size);
    pool.free(m);
    this.emit('message', buf, rinfo);
  }

  private onIcmpError(type: number, code: number, dst: number, dport: number, _mtu: number): void {
    // As Linux without IP_RECVERR: only a connected socket hears of errors.
    if (this.connectState !== 'connected') return;
    if (type === ICMP_DEST_UNREACH && code === ICMP_UNREACH_PORT) {
      this.emit('error', socketError('ECONNREFUSED', 'recvmsg', formatIpv4(dst), dport));
    } else if (type === ICMP_DEST_UNREACH && code !== ICMP_UNREACH_FRAG_NEEDED) {
      this.emit('error', socketError('EHOSTUNREACH', 'recvmsg', formatIpv4(dst), dport));
    }
  }

  /** Stop receiving and give up the port; emits `'close'`. */
  close(cb?: () => void): this {
    if (this.state === 'closed') throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    if (cb) this.once('close', cb);
    if (this.ep) this.layer.unbind(this.ep);
    this.ep = undefined;
    this.state = 'closed';
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** `{ address, family, port }` of the bound socket. */
  address(): { address: string; family: 'IPv4'; port: number } {
    if (this.state !== 'bound') throw socketError('EBADF', 'getsockname');
    return { address: formatIpv4(this.localAddr), family: 'IPv4', port: this.localPort };
  }

  /** The connected peer. */
  remoteAddress(): { address: string; family: 'IPv4'; port: number } {
    if (this.connectState !== 'connected') throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: formatIpv4(this.remoteAddr), family: 'IPv4', port: this.remotePort };
  }

  /** Allow sending to broadcast addresses (SO_BROADCAST). */
  setBroadcast(flag: boolean): void { this.broadcast = flag; }
  /** Hop limit of what this socket sends (recorded; the IPv4 layer's TTL applies today). */
  setTTL(ttl: number): number {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw socketError('EINVAL', 'setTTL');
    this.ttl = ttl;
    return ttl;
  }
  /** Nothing keeps the event loop alive per socket here: the stack's poll loop does. */
  ref(): this { return this; }
  unref(): this { return this; }

  [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    return new Promise((r) => this.close(() => r()));
  }
}

/** `dgram.createSocket` over a tzstack host. */
export function createUdpSocket(host: UdpHost, type: 'udp4' | UdpSocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): UdpSocket {
  const s = new UdpSocket(host, typeof type === 'string' ? { type } : type);
  if (listener) s.on('message', listener);
  return s;
}
