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
 */
import { finish, pseudoHeaderSum, sumBytes, sumChain } from './ip/checksum.js';
import { IpProto } from './ip/ipv4-header.js';
import { MbufLayout } from './mbuf/layout.js';
import { NO_MBUF } from './mbuf/mempool.js';
import type { Port } from './pmd/port.js';
import type { Stack } from './stack.js';
import { udpLayerOf } from './udp/socket.js';

/** What went which way. */
export interface ExceptionCounters {
  /** Frames handed to the kernel, by why. */
  toKernel: { tcp: number; udp: number; ipProtocol: number; etherType: number; arp: number };
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
    toKernel: { tcp: 0, udp: 0, ipProtocol: 0, etherType: 0, arp: 0 }, fromKernel: 0,
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
  const enqueue = (frame: number): void => {
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
  const frameOfL4 = (m: number, proto: number, aggregate: boolean): number => {
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
          dv.setUint16(at + 16, finish(sumChain(pool, m, 0, l4len, pseudoHeaderSum(dv.getUint32(ip + 12), dv.getUint32(ip + 16), proto, l4len))));
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

  const toKernelL4 = (kind: 'tcp' | 'udp' | 'ipProtocol', m: number, proto: number, aggregate: boolean): boolean => {
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
  stack.addTicker(() => {
    if (!attached) return;
    flush();
    const n = kernel.rxBurst(rx, burst);
    for (let i = 0; i < n; i++) { counters.fromKernel++; stack.transmit(rx[i]); }
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
    },
  };
}
