/**
 * UDP over IPv6 (RFC 768 with RFC 8200 §8.1's mandatory checksum) and the
 * `node:dgram` socket for it (`createSocket('udp6')`): bind, send,
 * connect, `'message'`, close, with Node's address forms (`'::'`,
 * `'fd00::1'`) and `family: 'IPv6'`. Datagrams for no socket fall through to
 * the IPv6 layer's {@link Udp6Closed} (Port Unreachable); an ICMPv6 Port
 * Unreachable quoting a datagram of a connected socket is ECONNREFUSED.
 *
 * Dual stack as Node's: a udp6 socket bound to `::` also takes IPv4 on its
 * port (IPv4 peers appear as `::ffff:a.b.c.d`, and sends to such an
 * address go over IPv4) unless `ipv6Only`; bound to `::ffff:` + our IPv4
 * address it is an IPv4 socket, to one of our IPv6 addresses an IPv6 one.
 * Datagrams to our own addresses go through the stack's loopback.
 */
import { countDrop, newCounters, type Counters } from '../eth/counters.js';
import { copyAddr6, formatIpv6, isMulticast6, newAddr6, parseIpv6, UNSPECIFIED6, type Addr6 } from '../ip/addr6.js';
import { finish, pseudoHeaderSum6, sumChain } from '../ip/checksum.js';
import { Ip6Proto } from '../ip/ipv6-header.js';
import type { Ipv6Layer } from '../ip/ipv6.js';
import { checkUdpHeader, UDP_CSUM, UDP_DST_PORT, UDP_HDR_LEN, UDP_LEN, UDP_SRC_PORT, udpHeaderError } from '../ip/udp.js';
import { NO_MBUF, type Mempool } from '../mbuf/mempool.js';
import { socketError } from '../util/errors.js';
import { formatIpv4, type Ip4 } from '../ip/addr.js';
import { DgramSocket, nodeError, type DgramRemoteInfo } from './dgram.js';
import type { UdpEndpoint } from './layer.js';
import { acceptDatagram, rxL4ChecksumVerdict } from './datagram.js';
import { PortTable } from './ports.js';
import { layers6Of, udpEphemeralRangeOf, udpLayerOf, type UdpHost } from './socket.js';
import type { Mbuf } from '../mbuf/index.js';

/** Why a datagram over IPv6 was dropped by the socket layer. */
export const UDP6_LAYER_DROP_REASONS = ['truncated', 'headerSplit', 'badLength', 'zeroChecksum', 'badChecksum'] as const;
export type Udp6LayerDropReason = typeof UDP6_LAYER_DROP_REASONS[number];
const UDP6_EXTRAS = ['delivered', 'noSocket', 'icmpErrors', 'sendErrors'] as const;

/** Headroom a datagram handed to {@link Udp6Layer.output} needs (UDP + IPv6 + Ethernet). */
export const UDP6_HEADROOM = UDP_HDR_LEN + 40 + 14;

/** What the layer hands a socket. */
interface Udp6Endpoint {
  readonly localAddr: Addr6;
  readonly anyLocal: boolean;
  readonly localPort: number;
  readonly remoteAddr: Addr6;
  /** 0 when not connected. */
  readonly remotePort: number;
  readonly reuse: boolean;
  deliver(m: Mbuf, src: Addr6, sport: number): void;
  icmpError(type: number, code: number): void;
}

function eq6(a: Readonly<Addr6>, b: Readonly<Addr6>): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/** UDP over one IPv6 layer: sockets by local port, most specific first. */
export class Udp6Layer {
  readonly counters: Counters<Udp6LayerDropReason, typeof UDP6_EXTRAS[number]> = newCounters(UDP6_LAYER_DROP_REASONS, UDP6_EXTRAS);
  private readonly ports = new PortTable<Udp6Endpoint>();
  private readonly byPort = this.ports.byPort;
  private readonly qSrc = newAddr6();
  private readonly qDst = newAddr6();
  /** Where datagrams to our own addresses go instead of the wire (the stack's loopback, src/loopback.ts). */
  loopback: UdpLoopback6 | undefined;

  constructor(readonly ip: Ipv6Layer) {
    const closed = ip.udp;
    ip.register(Ip6Proto.UDP, (m, s, d, t, h, l) => this.input(m, s, d, t, h, l, closed));
    const prev = ip.icmp.onError;
    ip.icmp.onError = (type, code, src, m) => {
      if (prev) prev(type, code, src, m);
      this.onIcmpError(type, code, m);
    };
  }

  /** @internal */
  bind(ep: (port: number) => Udp6Endpoint, addr: Readonly<Addr6>, any: boolean, port: number, reuse: boolean): number {
    // An ephemeral port is one nobody holds.
    return this.ports.bind(ep, port, (o) => (o.anyLocal || any || eq6(o.localAddr, addr)) && !(reuse && o.reuse), () => false);
  }

  /** @internal */
  unbind(ep: Udp6Endpoint): void { this.ports.unbind(ep); }

  /** Take ephemeral ports from `low`..`high` from now on (default 49152-65535). */
  setEphemeralRange(low: number, high: number): void { this.ports.setEphemeralRange(low, high); }

  /** Where ephemeral ports come from: [low, high]. */
  get ephemeralRange(): { low: number; high: number } { return this.ports.ephemeralRange; }

  /** An {@link Ip6Handler} for next header 17; `closed` takes what no socket wants. */
  input(m: Mbuf, src: Addr6, dst: Addr6, tclass: number, hopLimit: number, hdrLen: number,
    closed: { input(m: Mbuf, src: Addr6, dst: Addr6, t: number, h: number, l: number): void }): void {
    const pool = this.ip.pool;
    const ulen = checkUdpHeader(pool, m);
    if (ulen < 0) return this.drop(m, udpHeaderError(ulen));
    const len = pool.pktLen(m);
    const p = pool.mtod(m);
    const dv = pool.dv;
    const sport = dv.getUint16(p + UDP_SRC_PORT);
    const ep = this.lookup(dv.getUint16(p + UDP_DST_PORT), dst, src, sport);
    if (ep === undefined) { this.counters.noSocket++; closed.input(m, src, dst, tclass, hopLimit, hdrLen); return; }
    if (dv.getUint16(p + UDP_CSUM) === 0) return this.drop(m, 'zeroChecksum');
    if (!this.ip.checksumUnneeded) {
      const v = rxL4ChecksumVerdict(pool, m);
      if (v < 0 || (v === 0 && finish(sumChain(pool, m, 0, ulen, pseudoHeaderSum6(src, dst, Ip6Proto.UDP, ulen))) !== 0)) return this.drop(m, 'badChecksum');
    }
    acceptDatagram(pool, m, ulen, len, this.counters);
    ep.deliver(m, src, sport);
  }

  private lookup(port: number, dst: Readonly<Addr6>, src: Readonly<Addr6>, sport: number): Udp6Endpoint | undefined {
    const list = this.byPort.get(port);
    if (list === undefined) return undefined;
    let best: Udp6Endpoint | undefined;
    let bestScore = -1;
    for (const o of list) {
      if (!o.anyLocal && !eq6(o.localAddr, dst)) continue;
      if (o.remotePort !== 0 && (o.remotePort !== sport || !eq6(o.remoteAddr, src))) continue;
      const score = (o.remotePort !== 0 ? 2 : 0) + (o.anyLocal ? 0 : 1);
      if (score > bestScore) { best = o; bestScore = score; }
    }
    return best;
  }

  /**
   * Send a datagram: `m` holds the payload at mtod with {@link UDP6_HEADROOM}
   * bytes of headroom. The checksum is computed here (mandatory over IPv6;
   * fragments carry it too). Takes ownership.
   * @param src - our source address, or undefined to let IPv6 choose (RFC 6724)
   * @returns false (and frees `m`) when it cannot be sent
   */
  output(m: Mbuf, src: Readonly<Addr6> | undefined, srcPort: number, dst: Readonly<Addr6>, dstPort: number): boolean {
    const ip = this.ip;
    const pool = ip.pool;
    const from = src ?? ip.selectSource(dst);
    const ulen = pool.pktLen(m) + UDP_HDR_LEN;
    if (from === undefined || ulen > 65535) { this.counters.sendErrors++; pool.free(m); return false; }
    const p = pool.prepend(m, UDP_HDR_LEN);
    if (p < 0) { this.counters.sendErrors++; pool.free(m); return false; }
    const dv = pool.dv;
    dv.setUint16(p + UDP_SRC_PORT, srcPort);
    dv.setUint16(p + UDP_DST_PORT, dstPort);
    dv.setUint16(p + UDP_LEN, ulen);
    dv.setUint16(p + UDP_CSUM, 0);
    if (!ip.checksumUnneeded) {
      const c = finish(sumChain(pool, m, 0, ulen, pseudoHeaderSum6(from, dst, Ip6Proto.UDP, ulen)));
      dv.setUint16(p + UDP_CSUM, c === 0 ? 0xffff : c);
    } else dv.setUint16(p + UDP_CSUM, 0xffff); // never 0 over IPv6, even on a trusted link
    this.counters.tx++;
    if (this.loopback !== undefined && ip.findAddress(dst) !== undefined) { this.loopback.sendUdp6(m, from, dst, 0); return true; }
    ip.output(m, dst, Ip6Proto.UDP, 0, -1, from);
    return true;
  }

  /** An ICMPv6 error (`m` at its header, the invoking packet at 8) quoting a datagram we sent. */
  private onIcmpError(type: number, code: number, m: Mbuf): void {
    const pool = this.ip.pool;
    const q = pool.mtod(m) + 8;
    if (pool.dataLen(m) < 8 + 40 + UDP_HDR_LEN || pool.u8[q + 6] !== Ip6Proto.UDP) return;
    const dv = pool.dv;
    const src = this.qSrc;
    const dst = this.qDst;
    for (let i = 0; i < 4; i++) { src[i] = dv.getUint32(q + 8 + 4 * i); dst[i] = dv.getUint32(q + 24 + 4 * i); }
    const sport = dv.getUint16(q + 40 + UDP_SRC_PORT);
    const dport = dv.getUint16(q + 40 + UDP_DST_PORT);
    const ep = this.byPort.get(sport)?.find((o) => (o.anyLocal || eq6(o.localAddr, src)) && o.remotePort === dport && eq6(o.remoteAddr, dst));
    if (ep === undefined) return;
    this.counters.icmpErrors++;
    ep.icmpError(type, code);
  }

  private drop(m: Mbuf, reason: Udp6LayerDropReason): void {
    countDrop(this.counters, reason);
    if (m !== NO_MBUF) this.ip.pool.free(m);
  }
}

/** A loopback queue for IPv6 datagrams to our own addresses (mtod at the UDP header; takes ownership). */
export interface UdpLoopback6 { sendUdp6(m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, tclass: number): void }

/** What a udp6 socket needs from its host (a Stack with IPv6 attached). */
export interface Udp6Host {
  /** The stack's IPv6 layer (undefined: the stack has no IPv6, and binding fails with EAFNOSUPPORT). */
  readonly ip6: Ipv6Layer | undefined;
  addCloseHook(fn: () => void): void;
  /** Where the layer puts its counters (`udp6sockets`). */
  readonly counters: Record<string, unknown>;
  /** The IPv4 side for IPv4-mapped traffic (dual-stack sockets); without it a udp6 socket is IPv6-only. */
  readonly udp4?: UdpHost;
  /** Where datagrams to our own addresses go (the stack's loopback); without it they go to the wire. */
  readonly loopback?: UdpLoopback6;
}

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`): its IPv4 address, else -1. */
function mappedV4(a: Readonly<Addr6>): Ip4 | -1 {
  return a[0] === 0 && a[1] === 0 && a[2] === 0xffff ? (a[3] >>> 0) as Ip4 : -1;
}

/** Options of a udp6 socket, as `dgram.createSocket`'s. */
export interface Udp6SocketOptions {
  type: 'udp6';
  /** Share the port with other sockets that also ask (SO_REUSEADDR). */
  reuseAddr?: boolean;
  /** Bound to `::`, take IPv6 only (default false: IPv4 too, as IPv4-mapped addresses). */
  ipv6Only?: boolean;
  /** Aborting closes the socket. */
  signal?: AbortSignal;
}

/** Where a datagram came from, as Node's `rinfo` for udp6. */
export type RemoteInfo6 = DgramRemoteInfo<'IPv6'>;

const layers6 = new WeakMap<Ipv6Layer, Udp6Layer>();

/** The UDP-over-IPv6 layer of an IPv6 layer, made on first use. */
export function udp6LayerOf(host: Udp6Host): Udp6Layer {
  const ip6 = host.ip6;
  if (ip6 === undefined) throw Object.assign(new Error('this stack has no IPv6'), { code: 'EAFNOSUPPORT' });
  let l = layers6.get(ip6);
  if (l === undefined) {
    l = new Udp6Layer(ip6);
    l.loopback = host.loopback;
    if (host.udp4 !== undefined) {
      // Its ephemeral ports follow the IPv4 side's range (a dual-stack bind takes the same port in both).
      const r = udpEphemeralRangeOf(host.udp4);
      if (r !== undefined) l.setEphemeralRange(r.low, r.high);
      const list = layers6Of.get(host.udp4.ip) ?? [];
      list.push(l);
      layers6Of.set(host.udp4.ip, list);
    }
    layers6.set(ip6, l);
    host.counters.udp6sockets = l.counters;
  }
  return l;
}

function toAddr6(host: string | undefined): Addr6 {
  if (host === undefined || host === '' || host === 'localhost') return parseIpv6('::1');
  return parseIpv6(host);
}

/**
 * A UDP socket over IPv6, as Node's `dgram.Socket` of type `'udp6'`.
 * Events: `'listening'`, `'message'` (msg, rinfo), `'connect'`, `'close'`, `'error'`.
 * The dgram API itself is {@link DgramSocket}'s; this class holds what is
 * IPv6's (and the IPv4 side of a dual-stack binding).
 */
export class Udp6Socket extends DgramSocket<'IPv6', Addr6> {
  private ep: Udp6Endpoint | undefined;
  private readonly localAddr = newAddr6();
  private anyLocal = true;
  private readonly remoteAddr = newAddr6();
  /** The IPv4 side of a dual-stack (or IPv4-mapped) binding. */
  private ep4: (UdpEndpoint & { reuse: boolean }) | undefined;

  constructor(private readonly host: Udp6Host, private readonly opts: { reuseAddr?: boolean; signal?: AbortSignal; ipv6Only?: boolean } = {}) {
    super('IPv6', host, opts.signal);
  }

  private get layer(): Udp6Layer { return udp6LayerOf(this.host); }

  protected get pool(): Mempool { return this.layer.ip.pool; }

  /** Bind to `address` (default `::`, every address of ours). */
  protected bindTo(a: string | undefined, p: number): void {
    try {
      const addr = a === undefined || a === '::' ? UNSPECIFIED6 : parseIpv6(a);
      this.bindNow(addr, p);
    } catch (e) {
      throw (e as { code?: string }).code ? e : socketError('EADDRNOTAVAIL', 'bind', a, p);
    }
  }

  protected bindAny(): void { this.bindNow(UNSPECIFIED6, 0); }

  private bindNow(addr: Readonly<Addr6>, port: number): void {
    const layer = this.layer;
    const any = (addr[0] | addr[1] | addr[2] | addr[3]) === 0;
    const m4 = mappedV4(addr);
    const h4 = this.host.udp4;
    if (m4 >= 0) {
      // `::ffff:` + our IPv4 address: an IPv4 socket on that address.
      if (h4 === undefined || m4 !== h4.localIp) throw socketError('EADDRNOTAVAIL', 'bind', formatIpv6(addr), port);
      copyAddr6(this.localAddr, addr);
      this.anyLocal = false;
      this.localPort = this.bind4(h4, m4 as Ip4, port);
      this.state = 'bound';
      return;
    }
    if (!any && layer.ip.findAddress(addr) === undefined) throw socketError('EADDRNOTAVAIL', 'bind', formatIpv6(addr), port);
    // Dual stack: the port must be free in both families (an ephemeral one is looked for again when not).
    const dual = any && this.opts.ipv6Only !== true && h4 !== undefined;
    for (let tries = 0; ; tries++) {
      this.bind6(addr, any, port);
      if (!dual) break;
      try {
        this.bind4(h4, 0 as Ip4, this.localPort);
        break;
      } catch (e) {
        layer.unbind(this.ep!);
        this.ep = undefined;
        if (port !== 0 || tries >= 64) { this.state = 'unbound'; throw e; }
      }
    }
    this.state = 'bound';
  }

  /** The IPv4 endpoint: `addr` 0 for any; remote as {@link connect} set it (an IPv6 peer matches no IPv4 datagram). */
  private bind4(h4: UdpHost, addr: Ip4, port: number): number {
    const self = this; // eslint-disable-line @typescript-eslint/no-this-alias
    return udpLayerOf(h4).bind((lp) => {
      const ep = {
        localAddr: addr, localPort: lp, reuse: self.opts.reuseAddr === true,
        // 255.255.255.255 is never a source: connected to an IPv6 peer, no IPv4 datagram matches.
        get remoteAddr() {
          if (!self.connected) return 0 as Ip4;
          const r = mappedV4(self.remoteAddr);
          return r < 0 ? 0xffffffff as Ip4 : r as Ip4;
        },
        get remotePort() { return self.connected ? self.remotePort : 0; },
        deliver: (m: Mbuf, src: Ip4, sport: number) => self.deliverFrom(m, `::ffff:${formatIpv4(src)}`, sport),
        icmpError: (type: number, code: number) => self.onIcmpError4(type, code),
      };
      self.ep4 = ep;
      return ep;
    }, addr, port, this.opts.reuseAddr === true);
  }

  private bind6(addr: Readonly<Addr6>, any: boolean, port: number): void {
    const layer = this.layer;
    copyAddr6(this.localAddr, addr);
    this.anyLocal = any;
    const self = this; // eslint-disable-line @typescript-eslint/no-this-alias
    this.localPort = layer.bind((lp) => {
      const ep: Udp6Endpoint = {
        localAddr: self.localAddr, anyLocal: any, localPort: lp, remoteAddr: self.remoteAddr,
        get remotePort() { return self.remotePort; },
        reuse: self.opts.reuseAddr === true,
        deliver: (m, src, sport) => self.deliver(m, src, sport),
        icmpError: (type, code) => self.onIcmpError(type, code),
      };
      this.ep = ep;
      return ep;
    }, addr, any, port, this.opts.reuseAddr === true);
  }

  protected setRemote(address: string | undefined): void { copyAddr6(this.remoteAddr, toAddr6(address)); }

  protected clearRemote(): void { this.remoteAddr.fill(0); }

  protected get remote(): Addr6 { return this.remoteAddr; }

  protected parseAddress(address: string | undefined): Addr6 { return toAddr6(address); }

  protected sendNow(m: Mbuf, dst: Readonly<Addr6>, dport: number): Error | null {
    const layer = this.layer;
    const pool = layer.ip.pool;
    if (this.state === 'closed') { pool.free(m); return nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running'); }
    try { this.ensureBound(); } catch (e) { pool.free(m); return e as Error; }
    if (pool.pktLen(m) > 65527) { pool.free(m); return socketError('EMSGSIZE', 'send', formatIpv6(dst), dport); }
    if (pool.headroom(m) < UDP6_HEADROOM) { pool.free(m); return socketError('EINVAL', 'send'); }
    const d4 = mappedV4(dst);
    const bound4 = mappedV4(this.localAddr) >= 0;
    if (d4 >= 0 || bound4) {
      // IPv4-mapped: over IPv4, from a socket that has an IPv4 side.
      if (d4 < 0 || this.ep4 === undefined || this.host.udp4 === undefined) { pool.free(m); return socketError('ENETUNREACH', 'send', formatIpv6(dst), dport); }
      if (pool.pktLen(m) > 65507) { pool.free(m); return socketError('EMSGSIZE', 'send', formatIpv6(dst), dport); }
      return udpLayerOf(this.host.udp4).output(m, this.localPort, d4 as Ip4, dport) ? null : socketError('EADDRNOTAVAIL', 'send', formatIpv6(dst), dport);
    }
    const src = this.anyLocal || isMulticast6(dst) ? undefined : this.localAddr;
    return layer.output(m, src, this.localPort, dst, dport) ? null : socketError('EADDRNOTAVAIL', 'send', formatIpv6(dst), dport);
  }

  private deliver(m: Mbuf, src: Addr6, sport: number): void { this.deliverFrom(m, formatIpv6(src), sport); }

  private onIcmpError(type: number, code: number): void {
    if (!this.connected) return;
    const where = formatIpv6(this.remoteAddr);
    if (type === 1 && code === 4) this.emit('error', socketError('ECONNREFUSED', 'recvmsg', where, this.remotePort));
    else if (type === 1) this.emit('error', socketError('EHOSTUNREACH', 'recvmsg', where, this.remotePort));
  }

  /** An ICMP error quoting a datagram we sent over IPv4 (type 3 destination unreachable, code 3 port). */
  private onIcmpError4(type: number, code: number): void {
    if (!this.connected) return;
    const where = formatIpv6(this.remoteAddr);
    if (type === 3 && code === 3) this.emit('error', socketError('ECONNREFUSED', 'recvmsg', where, this.remotePort));
    else if (type === 3) this.emit('error', socketError('EHOSTUNREACH', 'recvmsg', where, this.remotePort));
  }

  protected unbindAll(): void {
    if (this.ep) this.layer.unbind(this.ep);
    this.ep = undefined;
    if (this.ep4 && this.host.udp4) udpLayerOf(this.host.udp4).unbind(this.ep4);
    this.ep4 = undefined;
  }

  protected formatLocal(): string { return formatIpv6(this.localAddr); }

  protected formatRemote(): string { return formatIpv6(this.remoteAddr); }
}
