/**
 * The network under a script run with `--ip_version=ipv6`: the stack's own
 * IPv6 layer (src/ip/ipv6.ts) between the TCP layer under test and the
 * script, so injected packets are whole IPv6 packets the stack validates
 * and what TCP sends leaves through IPv6 with the header the wire would
 * carry (traffic class, flow label, hop limit, payload length). The drill
 * builds and reads those packets with its own codec (packet6.ts); the
 * IPv6 layer gets no Neighbor Discovery: its link is the capture, the
 * scripted peer sits behind a configured default router, as in
 * packetdrill's tun set-up.
 *
 * ICMPv6 errors the stack receives go where src/ipv6-attach.ts sends them
 * (Packet Too Big to the TCP layer's path MTU code, the others to its
 * error handler), so a script's injected ICMPv6 acts as on a real stack.
 */
import type { Mempool } from '../mbuf/mempool.js';
import type { Clock } from '../util/clock.js';
import { parseIpv6, type Addr6 } from '../ip/addr6.js';
import { Addr6State, Ip6Proto, Ipv6Layer } from '../ip/ipv6.js';
import type { L4Ip6 } from '../ip/transport.js';
import type { TcpLayer } from '../tcp/layer.js';
import { tooBigBelieved6 } from '../tcp/pmtu.js';
import { addrBytes6, encodeIpv6, IP6_HDR_LEN, NH_TCP, pseudoSum6 } from './packet6.js';
import type { DrillProfile } from './defaults.js';
import type { Mbuf } from '../mbuf/index.js';

/** How the IPv6 header of an injected packet is written. */
export interface Inject6Spec {
  tclass: number;
  flowLabel: number;
  hopLimit: number;
}

/** packetdrill's default hop limit of injected packets (its `ttl` default, 64). */
export const DEFAULT_HOP_LIMIT = 64;

/** The stack's IPv6 layer wired to a script, with the run's two addresses. */
export class DrillNet6 {
  /** The stack's IPv6 layer (the code under test on the input side). */
  readonly ip6: Ipv6Layer;
  /** Our address and the peer's, as the stack holds them (words) and as bytes (for the drill's codec). */
  readonly local: Addr6;
  readonly remote: Addr6;
  readonly localBytes: Uint8Array;
  readonly remoteBytes: Uint8Array;

  /**
   * @param send - every packet the IPv6 layer sends (mtod at the IPv6 header); takes ownership
   * @throws RangeError when an address of the profile is not IPv6
   */
  constructor(private readonly pool: Mempool, clock: Clock, profile: DrillProfile, send: (m: Mbuf) => void) {
    this.local = parseIpv6(profile.localIp6);
    this.remote = parseIpv6(profile.remoteIp6);
    this.localBytes = addrBytes6(profile.localIp6);
    this.remoteBytes = addrBytes6(profile.remoteIp6);
    this.ip6 = new Ipv6Layer({ pool, clock, mtu: profile.mtu, txOffloads: 0, checksumUnneeded: false });
    this.ip6.setLink({ output: (m) => send(m) });
    // Configured, not autoconfigured: usable at once (no DAD without ND).
    this.ip6.addAddress(this.local, profile.prefixLen6, 'static', true);
    this.ip6.setRouter(parseIpv6(profile.gatewayIp6), Infinity);
  }

  /** What the TCP layer's environment gets as `ip6` (as src/ipv6-attach.ts gives a Stack's). */
  l4(): L4Ip6 {
    const ip6 = this.ip6;
    return {
      output: (m, src, dst, proto, tclass, flowLabel) => ip6.output(m, dst, proto, tclass, -1, src, flowLabel),
      selectSource: (dst) => ip6.selectSource(dst),
      isLocal: (a) => {
        const e = ip6.findAddress(a);
        return e !== undefined && (e.state === Addr6State.Preferred || e.state === Addr6State.Deprecated);
      },
      pathMtu: (dst) => ip6.pathMtu(dst),
    };
  }

  /** Deliver TCP segments and ICMPv6 errors to `tcp`, as src/ipv6-attach.ts does. */
  attach(tcp: TcpLayer): void {
    this.ip6.register(Ip6Proto.TCP, (m, s, d, t) => tcp.input6(m, s, d, t));
    this.ip6.icmp.onPacketTooBig = (mtu, m) => tcp.packetTooBig(mtu, m);
    this.ip6.icmp.believeTooBig = (m) => tooBigBelieved6(tcp, m);
    this.ip6.icmp.onError = (type, code, _src, m) => tcp.icmp6Error(type, code, m);
  }

  /** The pseudo-header sum of a TCP segment of `l4len` bytes from the peer to us (`inbound`) or back. */
  tcpPseudoSum(inbound: boolean, l4len: number): number {
    return inbound ? pseudoSum6(this.remoteBytes, this.localBytes, NH_TCP, l4len) : pseudoSum6(this.localBytes, this.remoteBytes, NH_TCP, l4len);
  }

  /** A whole IPv6 packet from the peer to us carrying `payload` (next header `nextHeader`). */
  packet(payload: Uint8Array, nextHeader: number, spec: Inject6Spec): Uint8Array {
    return encodeIpv6({ ...spec, nextHeader, src: this.remoteBytes, dst: this.localBytes }, payload);
  }

  /** Bytes of IPv6 header in front of what {@link packet} carries. */
  static readonly HDR_LEN = IP6_HDR_LEN;
}
