/**
 * `node:dgram`-shaped UDP sockets over tzstack: `bind`, `send`, `connect`,
 * `'message'`, broadcast, `close`, with Node's error codes; plus the
 * zero-copy pair {@link UdpSocket.sendMbuf} and {@link UdpSocket.onMbuf},
 * which hand mbufs across without copying payload.
 */
import { formatIpv4, parseIpv4, type Ip4 } from '../ip/addr.js';
import { IP_BROADCAST } from '../ip/ipv4-header.js';
import { ICMP_DEST_UNREACH, ICMP_UNREACH_FRAG_NEEDED, ICMP_UNREACH_PORT } from '../ip/icmp.js';
import type { Ipv4Layer } from '../ip/ipv4.js';
import type { Mempool } from '../mbuf/mempool.js';
import { socketError } from '../util/errors.js';
import { DgramSocket, nodeError, notFound, type DgramRemoteInfo } from './dgram.js';
import { checkEphemeralRange } from './ports.js';
import { UDP_HEADROOM, UdpLayer, type UdpEndpoint, type UdpLoopback4 } from './layer.js';
import type { Mbuf } from '../mbuf/index.js';

/** What a UDP socket needs from the host it runs on (a `Stack` has all of it). */
export interface UdpHost {
  readonly ip: Ipv4Layer;
  readonly localIp: Ip4;
  /** Run `fn` when the host closes (to close its sockets). */
  addCloseHook(fn: () => void): void;
  /** Per-layer counters, where the UDP layer puts its own (`udp4`). */
  readonly counters: Record<string, unknown>;
  /** Where datagrams to our own address go (the stack's loopback); without it they go to the wire. */
  readonly loopback?: UdpLoopback4;
}

/** Where a datagram came from, as Node's `rinfo`. */
export type RemoteInfo = DgramRemoteInfo<'IPv4'>;

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

const layers = new WeakMap<Ipv4Layer, UdpLayer>();
/** Ephemeral ranges set by {@link setUdpEphemeralRange}, by the host's IPv4 layer. */
const ranges = new WeakMap<Ipv4Layer, { low: number; high: number }>();

/**
 * Make the host's UDP sockets of both families (udp4, and udp6 through the
 * host as its `udp4` side) take ephemeral ports from `low`..`high`
 * (inclusive; default IANA's 49152-65535). A shard of a sharded stack calls
 * it with its block of the ephemeral range, as its TCP takes its ports from
 * that block (`ephemeralLow`/`ephemeralHigh`), so no two shards pick the
 * same local port and the port names the shard. Applies to layers already
 * made and to those made later; ports already bound stay.
 * @throws RangeError unless 1 <= low <= high <= 65535
 */
export function setUdpEphemeralRange(host: UdpHost, low: number, high: number): void {
  checkEphemeralRange(low, high);
  ranges.set(host.ip, { low, high });
  layers.get(host.ip)?.setEphemeralRange(low, high);
  for (const l6 of layers6Of.get(host.ip) ?? []) l6.setEphemeralRange(low, high);
}

/** @internal The range {@link setUdpEphemeralRange} set for `host`, if any. */
export function udpEphemeralRangeOf(host: UdpHost): { low: number; high: number } | undefined { return ranges.get(host.ip); }

/** @internal UDP-over-IPv6 layers whose IPv4 side is this host (so a later range reaches them too). */
export const layers6Of = new WeakMap<Ipv4Layer, Array<{ setEphemeralRange(low: number, high: number): void }>>();

/** The host's UDP layer, made on first use (it takes protocol 17 over from the closed-port stub). */
export function udpLayerOf(host: UdpHost): UdpLayer {
  let l = layers.get(host.ip);
  if (l === undefined) {
    l = new UdpLayer(host.ip, host.localIp);
    l.loopback = host.loopback;
    const r = ranges.get(host.ip);
    if (r !== undefined) l.setEphemeralRange(r.low, r.high);
    layers.set(host.ip, l);
    (host.counters as Record<string, unknown>).udp4 = l.counters;
  }
  return l;
}

function toAddr(host: string | undefined, fallback: Ip4): Ip4 {
  if (host === undefined || host === '') return fallback;
  if (host === 'localhost') return 0x7f000001 as Ip4;
  return parseIpv4(host);
}

/** The options, once their type is checked (before the socket registers anything with its host). */
function checkType(opts: UdpSocketOptions): UdpSocketOptions {
  if (opts.type !== 'udp4') throw nodeError('ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4', TypeError);
  return opts;
}

/**
 * A UDP socket, as Node's `dgram.Socket`. Events: `'listening'`,
 * `'message'` (msg: Buffer, rinfo), `'connect'`, `'close'`, `'error'`.
 * The dgram API itself (argument forms, errors, life cycle) is
 * {@link DgramSocket}'s; this class holds what is IPv4's.
 */
export class UdpSocket extends DgramSocket<'IPv4', number> {
  private ep: (UdpEndpoint & { reuse: boolean }) | undefined;
  private localAddr = 0 as Ip4;
  private remoteAddr = 0 as Ip4;
  private broadcast = false;
  private ttl = 64;
  private readonly layer: UdpLayer;

  constructor(private readonly host: UdpHost, private readonly opts: UdpSocketOptions = { type: 'udp4' }) {
    super('IPv4', host, checkType(opts).signal);
    this.layer = udpLayerOf(host);
  }

  protected get pool(): Mempool { return this.host.ip.pool; }

  protected bindTo(a: string | undefined, p: number): void {
    let addr: Ip4;
    try {
      addr = a === undefined || a === '0.0.0.0' ? 0 as Ip4 : toAddr(a, 0 as Ip4);
    } catch {
      throw notFound(a);
    }
    this.bindNow(addr, p);
  }

  protected bindAny(): void { this.bindNow(0 as Ip4, 0); }

  private bindNow(addr: Ip4, port: number): void {
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
        deliver: (m: Mbuf, src: Ip4, sport: number) => self.deliverFrom(m, formatIpv4(src), sport),
        icmpError: (type: number, code: number, dst: Ip4, dport: number, mtu: number) => self.onIcmpError(type, code, dst, dport, mtu),
      };
      this.ep = ep;
      return ep;
    }, addr, port, reuse);
    this.state = 'bound';
  }

  protected setRemote(address: string | undefined): void {
    try { this.remoteAddr = toAddr(address, 0x7f000001 as Ip4); } catch { throw notFound(address); }
  }

  protected clearRemote(): void { this.remoteAddr = 0 as Ip4; }

  protected get remote(): number { return this.remoteAddr; }

  protected parseAddress(address: string | undefined): Ip4 { return toAddr(address, 0x7f000001 as Ip4); }

  protected sendNow(m: Mbuf, dst: Ip4, dport: number): Error | null {
    const pool = this.host.ip.pool;
    if (this.state === 'closed') { pool.free(m); return nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running'); }
    try { this.ensureBound(); } catch (e) { pool.free(m); return e as Error; }
    if ((dst === IP_BROADCAST || this.host.ip.isBroadcast(dst)) && !this.broadcast) { pool.free(m); return socketError('EACCES', 'send', formatIpv4(dst), dport); }
    if (pool.pktLen(m) > 65507) { pool.free(m); return socketError('EMSGSIZE', 'send', formatIpv4(dst), dport); }
    if (pool.headroom(m) < UDP_HEADROOM) { pool.free(m); return socketError('EINVAL', 'send'); }
    return this.layer.output(m, this.localPort, dst, dport) ? null : socketError('EMSGSIZE', 'send');
  }

  private onIcmpError(type: number, code: number, dst: Ip4, dport: number, _mtu: number): void {
    // As Linux without IP_RECVERR: only a connected socket hears of errors.
    if (!this.connected) return;
    if (type === ICMP_DEST_UNREACH && code === ICMP_UNREACH_PORT) {
      this.emit('error', socketError('ECONNREFUSED', 'recvmsg', formatIpv4(dst), dport));
    } else if (type === ICMP_DEST_UNREACH && code !== ICMP_UNREACH_FRAG_NEEDED) {
      this.emit('error', socketError('EHOSTUNREACH', 'recvmsg', formatIpv4(dst), dport));
    }
  }

  protected unbindAll(): void {
    if (this.ep) this.layer.unbind(this.ep);
    this.ep = undefined;
  }

  protected formatLocal(): string { return formatIpv4(this.localAddr); }

  protected formatRemote(): string { return formatIpv4(this.remoteAddr); }

  /** Allow sending to broadcast addresses (SO_BROADCAST). */
  setBroadcast(flag: boolean): void { this.broadcast = flag; }
  /** Hop limit of what this socket sends (recorded; the IPv4 layer's TTL applies today). */
  setTTL(ttl: number): number {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw socketError('EINVAL', 'setTTL');
    this.ttl = ttl;
    return ttl;
  }
}

/** `dgram.createSocket` over a tzstack host. */
export function createUdpSocket(host: UdpHost, type: 'udp4' | UdpSocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): UdpSocket {
  const s = new UdpSocket(host, typeof type === 'string' ? { type } : type);
  if (listener) s.on('message', listener);
  return s;
}
