/**
 * Living beside the kernel on a NIC tzstack drives: an opt-in exception
 * path. Frames that no tzstack socket wants — TCP and UDP to ports with no
 * socket, IP protocols tzstack does not speak, ethertypes it does not know —
 * go to a kernel interface (a DPDK `net_tap` or `virtio_user` port whose
 * Linux side carries the same MAC and address), and whatever the kernel
 * sends there goes out of the NIC. ARP is seen by both: tzstack answers, and
 * the kernel learns its neighbours from a copy. Kernel services on the same
 * address (ssh, a metrics endpoint) keep working while tzstack serves its
 * own ports.
 *
 * Both families: with IPv6 attached (src/ipv6-attach.ts, before this is
 * called) TCP and UDP over IPv6 for no socket and next headers tzstack has
 * no handler for go the same way, and Neighbor Discovery is what ARP is for
 * IPv4: tzstack answers it, the kernel gets a copy (so its neighbour cache
 * fills). ICMP and ICMPv6 otherwise stay tzstack's (echo, errors) alike.
 */
import { finish, pseudoHeaderSum, sumBytes, sumChain } from './ip/checksum.js';
import { IpProto } from './ip/ipv4-header.js';
import { MbufLayout } from './mbuf/layout.js';
import { NO_MBUF } from './mbuf/mempool.js';
import type { Port } from './pmd/port.js';
import type { Addr6 } from './ip/addr6.js';
import { Ip6Proto } from './ip/ipv6-header.js';
import type { Ip6Handler } from './ip/ipv6.js';
import { ipv6Of } from './ipv6-attach.js';
import type { Stack } from './stack.js';
import { udpLayerOf } from './udp/socket.js';
import type { Mbuf } from './mbuf/index.js';
import type { Ip4 } from './ip/addr.js';

/** What went which way. */
export interface ExceptionCounters {
  /** Frames handed to the kernel, by why. */
  toKernel: { tcp: number; udp: number; ipProtocol: number; etherType: number; arp: number };
  /** IPv6 frames handed to the kernel, by why (`nd`: copies of Neighbor Discovery messages, as `arp` for IPv4). */
  toKernel6: { tcp: number; udp: number; ipProtocol: number; nd: number };
  /** Frames the kernel sent that went out of the NIC. */
  fromKernel: number;
  /** Frames the kernel port did not take (its ring full), or that could not be rebuilt. */
  dropped: { kernelTxFull: number; noHeadroom: number; noMbuf: number };
}

/** Options of {@link attachKernelPath}. */
export interface KernelPathOptions {
  /** Send TCP segments for ports with no tzstack listener or connection to the kernel instead of answering RST (default true). */
  tcp?: boolean;
  /** Same for UDP instead of port unreachable (default true). */
  udp?: boolean;
  /** IP protocols tzstack has no handler for (default true). */
  ipProtocols?: boolean;
  /** Ethertypes tzstack does not handle (default true). */
  etherTypes?: boolean;
  /** Copy ARP to the kernel so that its neighbour table fills (default true). */
  arp?: boolean;
  /** Copy IPv6 Neighbor Discovery messages to the kernel, as ARP (default true; IPv6 attached only). */
  nd?: boolean;
  /** Frames moved from the kernel per poll (default 32). */
  burst?: number;
}

/** A running exception path. */
export interface KernelPath {
  readonly counters: ExceptionCounters;
  /** Stop forwarding (the kernel port is the caller's to close). */
  detach(): void;
}

const ETH_HDR = 14;

/**
 * Forward what tzstack's sockets do not want to `kernel`, and what the
 * kernel sends back out of the stack's port. `kernel` must use the stack's
 * pool (open it with `{ pool: stack.pool }`); its Linux side should carry the
 * stack's MAC and address (`ip link set dev tap0 address <mac>`, `ip addr add`).
 */
export function attachKernelPath(stack: Stack, kernel: Port, opts: KernelPathOptions = {}): KernelPath {
  if (kernel.pool !== stack.pool) throw new RangeError('the kernel port must receive into the stack\'s pool');
  const pool = stack.pool;
  const counters: ExceptionCounters = {
    toKernel: { tcp: 0, udp: 0, ipProtocol: 0, etherType: 0, arp: 0 },
    toKernel6: { tcp: 0, udp: 0, ipProtocol: 0, nd: 0 }, fromKernel: 0,
    dropped: { kernelTxFull: 0, noHeadroom: 0, noMbuf: 0 },
  };
  const burst = opts.burst ?? 32;
  const toKernel = new Uint32Array(256);
  let queued = 0;
  const rx = new Uint32Array(burst);
  let attached = true;

  const flush = (): void => {
    if (queued === 0) return;
    const took = kernel.txBurst(toKernel, queued);
    // What the port refused is still ours (Port contract): the kernel's ring is full, drop it.
    if (took < queued) {
      counters.dropped.kernelTxFull += queued - took;
      pool.freeBulk(toKernel.subarray(took, queued), queued - took);
    }
    queued = 0;
  };
  const enqueue = (frame: Mbuf): void => {
    toKernel[queued++] = frame;
    if (queued === toKernel.length) flush();
  };

  /**
   * Rebuild the frame of an IP payload (mtod at the L4 header) from the
   * headers still in the headroom. GRO may have merged several TCP
   * segments behind the first one's headers: then the IP length and both
   * checksums are made to describe the whole (the kernel takes over-MTU
   * frames from a tap as it takes GRO's).
   */
  const frameOfL4 = (m: Mbuf, proto: number, aggregate: boolean): Mbuf => {
    const u8 = pool.u8;
    const dv = pool.dv;
    const at = pool.mtod(m);
    const room = pool.headroom(m);
    for (let ihl = 20; ihl <= 60 && ihl + ETH_HDR <= room; ihl += 4) {
      const ip = at - ihl;
      const v = u8[ip];
      if (v >> 4 !== 4 || (v & 15) * 4 !== ihl || u8[ip + 9] !== proto) continue;
      const l4len = pool.pktLen(m);
      if (aggregate || dv.getUint16(ip + 2) !== ihl + l4len) {
        if (ihl + l4len > 0xffff) break;
        dv.setUint16(ip + 2, ihl + l4len);
        dv.setUint16(ip + 10, 0);
        dv.setUint16(ip + 10, finish(sumBytes(dv, ip, ihl)));
        if (proto === IpProto.TCP) {
          dv.setUint16(at + 16, 0);
          dv.setUint16(at + 16, finish(sumChain(pool, m, 0, l4len, pseudoHeaderSum(dv.getUint32(ip + 12) as Ip4, dv.getUint32(ip + 16) as Ip4, proto, l4len))));
        }
      }
      pool.prepend(m, ihl + ETH_HDR);
      // Receive metadata (checksum verdicts, GRO) means nothing to the kernel's side.
      pool.setOlFlags(m, 0, pool.olFlagsHi(m) & (MbufLayout.OL_INDIRECT_HI | MbufLayout.OL_EXTERNAL_HI));
      return m;
    }
    counters.dropped.noHeadroom++;
    pool.free(m);
    return NO_MBUF;
  };

  /**
   * The IPv6 counterpart of frameOfL4: the IPv6 header sits `hdrLen` before
   * the L4 header (found by its addresses when the caller does not know
   * `hdrLen`: extension headers are multiples of 8 bytes). The payload
   * length is rewritten (reassembly may have changed it), the Ethernet
   * header rebuilt in place: destination ours (or the group's for a
   * multicast destination), the sender's source MAC kept (after reassembly
   * it is whatever the headroom holds, its group bit cleared: Linux does
   * not look at it).
   */
  const frameOfL4v6 = (m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, hdrLen: number): Mbuf => {
    const u8 = pool.u8;
    const dv = pool.dv;
    const at = pool.mtod(m);
    const room = pool.headroom(m);
    let ip = -1;
    if (hdrLen >= 40) {
      if (hdrLen + ETH_HDR <= room && u8[at - hdrLen] >> 4 === 6) ip = at - hdrLen;
    } else {
      for (let h = 40; h <= 40 + 8 * 32 && h + ETH_HDR <= room; h += 8) {
        const q = at - h;
        if (u8[q] >> 4 === 6
          && dv.getUint32(q + 8) === src[0] && dv.getUint32(q + 12) === src[1] && dv.getUint32(q + 16) === src[2] && dv.getUint32(q + 20) === src[3]
          && dv.getUint32(q + 24) === dst[0] && dv.getUint32(q + 28) === dst[1] && dv.getUint32(q + 32) === dst[2] && dv.getUint32(q + 36) === dst[3]) {
          ip = q; hdrLen = h; break;
        }
      }
    }
    const plen = hdrLen - 40 + pool.pktLen(m);
    if (ip < 0 || plen > 0xffff) { counters.dropped.noHeadroom++; pool.free(m); return NO_MBUF; }
    dv.setUint16(ip + 4, plen);
    const e = ip - ETH_HDR;
    if ((dst[0] >>> 24) === 0xff) {
      u8[e] = 0x33; u8[e + 1] = 0x33; dv.setUint32(e + 2, dst[3]);
    } else {
      u8.set(stack.mac, e);
    }
    u8[e + 6] &= 0xfe;
    dv.setUint16(e + 12, 0x86dd);
    pool.prepend(m, hdrLen + ETH_HDR);
    pool.setOlFlags(m, 0, pool.olFlagsHi(m) & (MbufLayout.OL_INDIRECT_HI | MbufLayout.OL_EXTERNAL_HI));
    return m;
  };

  const toKernelL4v6 = (kind: 'tcp' | 'udp' | 'ipProtocol', m: Mbuf, src: Readonly<Addr6>, dst: Readonly<Addr6>, hdrLen: number): boolean => {
    if (!attached) return false;
    const f = frameOfL4v6(m, src, dst, hdrLen);
    if (f !== NO_MBUF) { counters.toKernel6[kind]++; enqueue(f); }
    return true;
  };

  const toKernelL4 = (kind: 'tcp' | 'udp' | 'ipProtocol', m: Mbuf, proto: number, aggregate: boolean): boolean => {
    if (!attached) return false;
    const f = frameOfL4(m, proto, aggregate);
    if (f !== NO_MBUF) { counters.toKernel[kind]++; enqueue(f); }
    return true;
  };

  const udp = udpLayerOf(stack);
  if (opts.tcp !== false) stack.tcp.onNoSocket = (m, _s, _d, aggregate) => toKernelL4('tcp', m, IpProto.TCP, aggregate);
  if (opts.udp !== false) udp.onNoSocket = (m) => toKernelL4('udp', m, IpProto.UDP, false);
  const taken: number[] = [];
  if (opts.ipProtocols !== false) {
    for (let p = 0; p < 256; p++) {
      if (stack.ip.hasHandler(p)) continue;
      const proto = p;
      stack.ip.register(p, (m) => {
        if (!toKernelL4('ipProtocol', m, proto, false)) pool.free(m);
      });
      taken.push(p);
    }
  }
  if (opts.etherTypes !== false) {
    stack.setEtherFallback((m) => {
      if (!attached) { pool.free(m); return; }
      counters.toKernel.etherType++;
      enqueue(m);
    });
  }
  if (opts.arp !== false) {
    stack.onArpFrame = (m) => {
      if (!attached) return;
      // A copy: tzstack's ARP layer consumes the original.
      const bytes = pool.toBytes(m);
      const c = pool.fromBytes(bytes);
      if (c === NO_MBUF) { counters.dropped.noMbuf++; return; }
      counters.toKernel.arp++;
      enqueue(c);
    };
  }
  // IPv6, when attached: the same for TCP, UDP and unhandled next headers; ND copied as ARP is.
  const v6 = ipv6Of(stack);
  if (v6 !== undefined) {
    const ip6 = v6.ip6;
    if (opts.tcp !== false) stack.tcp.onNoSocket6 = (m, s, d) => toKernelL4v6('tcp', m, s, d, 0);
    if (opts.udp !== false) ip6.udp.onNoSocket = (m, s, d, l) => toKernelL4v6('udp', m, s, d, l);
    if (opts.ipProtocols !== false) {
      for (let p = 0; p < 256; p++) {
        // Extension headers are walked by the IPv6 layer itself, never handed over.
        if (ip6.hasHandler(p) || p === Ip6Proto.HOPOPTS || p === Ip6Proto.ROUTING || p === Ip6Proto.FRAGMENT
          || p === Ip6Proto.DSTOPTS || p === Ip6Proto.NONE) continue;
        const h: Ip6Handler = (m, s, d, _t, _h, l) => { if (!toKernelL4v6('ipProtocol', m, s, d, l)) pool.free(m); };
        ip6.register(p, h);
      }
    }
    if (opts.nd !== false) {
      v6.icmp6.onNdMessage = (m, hdrLen) => {
        if (!attached) return;
        const at = pool.mtod(m);
        const back = hdrLen + ETH_HDR;
        if (pool.headroom(m) < back) { counters.dropped.noHeadroom++; return; }
        // A copy (ND consumes the original), with the headers in front of it.
        const l4 = pool.toBytes(m);
        const bytes = new Uint8Array(back + l4.length);
        bytes.set(pool.u8.subarray(at - back, at), 0);
        bytes.set(l4, back);
        const c = pool.fromBytes(bytes);
        if (c === NO_MBUF) { counters.dropped.noMbuf++; return; }
        counters.toKernel6.nd++;
        enqueue(c);
      };
    }
  }
  stack.addTicker(() => {
    if (!attached) return;
    flush();
    const n = kernel.rxBurst(rx, burst);
    for (let i = 0; i < n; i++) { counters.fromKernel++; stack.transmit(rx[i] as Mbuf); }
  });
  stack.addCloseHook(() => { flush(); attached = false; });
  return {
    counters,
    detach: () => {
      flush();
      attached = false;
      stack.tcp.onNoSocket = undefined;
      udp.onNoSocket = undefined;
      // Protocols tzstack does not speak are dropped from now on (their handlers stay registered).
      stack.setEtherFallback(undefined);
      stack.onArpFrame = undefined;
      if (v6 !== undefined) {
        stack.tcp.onNoSocket6 = undefined;
        v6.ip6.udp.onNoSocket = undefined;
        v6.icmp6.onNdMessage = undefined;
      }
    },
  };
}
