import { EthHdr, EtherType } from './eth/ethernet.js';
import type { LayerCounters } from './eth/counters.js';
import { isLinkLocal6, parseCidr6, parseIpv6, prefixMatch6, type Addr6 } from './ip/addr6.js';
import type { Icmp6Layer } from './ip/icmp6.js';
import { Addr6State, Ip6Proto, Ipv6Layer, type Ipv6Config } from './ip/ipv6.js';
import { NdLayer, type NdConfig } from './ip/nd.js';
import type { Stack } from './stack.js';
import { tooBigBelieved6 } from './tcp/pmtu.js';

/** What {@link attachIpv6} sets up. */
export interface Ipv6Options {
  /** Static addresses with their prefix (`'fd00::1/64'`); each runs DAD before use. */
  addresses?: string[];
  /** A default router (link-local, or inside one of the static prefixes). Router advertisements may add others. */
  gateway?: string;
  /** Form the link-local address from the MAC (modified EUI-64) and run DAD on it. Default true. */
  linkLocal?: boolean;
  ipv6?: Partial<Ipv6Config>;
  nd?: Partial<NdConfig>;
}

/** The IPv6 layers attached to a stack. */
export interface Ipv6Attachment {
  readonly ip6: Ipv6Layer;
  readonly nd: NdLayer;
  readonly icmp6: Icmp6Layer;
}

const attached = new WeakMap<Stack, Ipv6Attachment>();

/**
 * Attach IPv6, Neighbor Discovery and ICMPv6 to a stack through its public
 * hooks: frames of ethertype 0x86dd (multicast ones included) go to the
 * IPv6 layer, ND and reassembly run as a ticker, everything is freed by a
 * close hook, and the counters appear as `stack.counters.ip6`,
 * `reassembly6`, `icmp6`, `nd` and `udp6`.
 * @throws RangeError on a bad address, or a gateway that is not on-link
 */
export function attachIpv6(stack: Stack, opts: Ipv6Options = {}): Ipv6Attachment {
  if (attached.has(stack)) throw new RangeError('IPv6 is already attached to this stack');
  const statics = (opts.addresses ?? []).map((s) => parseCidr6(s));
  let gateway: Addr6 | undefined;
  if (opts.gateway !== undefined) {
    gateway = parseIpv6(opts.gateway);
    const g = gateway;
    if (!isLinkLocal6(g) && !statics.some((c) => c.prefixLen < 128 && prefixMatch6(c.addr, g, c.prefixLen))) {
      throw new RangeError(`gateway ${opts.gateway} is not on-link (link-local, or inside one of ${opts.addresses?.join(', ') ?? 'no prefixes'})`);
    }
  }
  const caps = stack.port.caps;
  const ip6 = new Ipv6Layer({
    pool: stack.pool, clock: stack.clock, mtu: caps.mtu, txOffloads: caps.txOffloads, checksumUnneeded: caps.checksumUnneeded,
  }, opts.ipv6);
  const nd = new NdLayer({ pool: stack.pool, clock: stack.clock, mac: stack.mac, transmit: (m) => stack.transmit(m) }, ip6, opts.nd);
  const pool = stack.pool;
  stack.registerEtherType(EtherType.IPV6, (m) => {
    const p = pool.mtod(m);
    ip6.inputFrame(m, EthHdr.HDR_LEN, p + EthHdr.HDR_LEN, pool.dataLen(m) - EthHdr.HDR_LEN, pool.pktLen(m) - EthHdr.HDR_LEN);
  });
  stack.addTicker((now) => { nd.tick(now); ip6.tick(now); }, () => Math.min(nd.nextDeadline(), ip6.nextDeadline()));
  stack.addCloseHook(() => { nd.close(); ip6.close(); });
  const c = stack.counters;
  c.ip6 = ip6.counters as unknown as LayerCounters;
  c.reassembly6 = ip6.reassembly.counters as unknown as LayerCounters;
  c.icmp6 = ip6.icmp.counters as unknown as LayerCounters;
  c.nd = nd.counters as unknown as LayerCounters;
  c.udp6 = ip6.udp.counters as unknown as LayerCounters;
  // TCP over IPv6: the same TcpLayer, its environment given IPv6 output and addresses.
  const tcp = stack.tcp;
  tcp.env.ip6 = {
    output: (m, src, dst, proto, tclass, flowLabel) => {
      // To one of our own addresses: loopback delivery, not the wire.
      if (proto === Ip6Proto.TCP && ip6.findAddress(dst) !== undefined) stack.loopback.send6(m, src, dst, tclass);
      else ip6.output(m, dst, proto, tclass, -1, src, flowLabel);
    },
    selectSource: (dst) => ip6.selectSource(dst),
    isLocal: (a) => {
      const e = ip6.findAddress(a);
      return e !== undefined && (e.state === Addr6State.Preferred || e.state === Addr6State.Deprecated);
    },
    pathMtu: (dst) => ip6.pathMtu(dst),
  };
  ip6.register(Ip6Proto.TCP, (m, s, d, t) => tcp.input6(m, s, d, t));
  ip6.icmp.onPacketTooBig = (mtu, m) => tcp.packetTooBig(mtu, m);
  ip6.icmp.believeTooBig = (m) => tooBigBelieved6(tcp, m);
  const prevError = ip6.icmp.onError;
  ip6.icmp.onError = (type, code, src, m) => {
    if (prevError) prevError(type, code, src, m);
    tcp.icmp6Error(type, code, m);
  };
  if (opts.linkLocal ?? true) nd.addLinkLocal();
  for (const s of statics) nd.addAddress(s.addr, s.prefixLen, 'static');
  if (gateway !== undefined) ip6.setRouter(gateway, Infinity);
  const a: Ipv6Attachment = { ip6, nd, icmp6: ip6.icmp };
  attached.set(stack, a);
  return a;
}

/** {@link attachIpv6} as a `protocols:` entry of StackOptions. */
export function ipv6Protocol(opts: Ipv6Options = {}): (stack: Stack) => void {
  return (stack) => { attachIpv6(stack, opts); };
}

/** The IPv6 layers of a stack {@link attachIpv6} set up, if any. */
export function ipv6Of(stack: Stack): Ipv6Attachment | undefined { return attached.get(stack); }
