/**
 * The set-up both exception-path suites against Linux share
 * (test/exception-path for IPv4, test/exception-ipv6-netns for IPv6):
 * tzstack drives a veth end (net_af_packet) toward a namespace; a tap
 * (net_tap), moved into a second namespace that stands for "the kernel
 * beside tzstack" ({@link createKernelTapNs}), wears tzstack's MAC and
 * addresses there and runs a Python HTTP server on 8088 and a UDP echo on
 * 9999 (answering `kernel:` / `kernel6:` + the datagram); tzstack's own
 * echo listens on 7. `after` removes it all and checks the pool is full again.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { attachKernelPath, type KernelPath } from '../../src/exception.js';
import { Addr6State } from '../../src/ip/ipv6.js';
import { ipv6Of, ipv6Protocol } from '../../src/ipv6-attach.js';
import type { DpdkMempool, DpdkPort } from '../../src/pmd/dpdk.js';
import { Stack } from '../../src/stack.js';
import { macString } from './frames.js';
import {
  createKernelTapNs, createVethNs, enableIpv6, tapName, waitListening, type InteropContext, type KernelNs, type VethNet,
} from './netns.js';

/** What the tests of a {@link kernelBeside} suite use (read inside tests: `before` fills it in). */
export interface KernelBeside {
  readonly net: VethNet;
  readonly stack: Stack;
  readonly path: KernelPath;
  /** The kernel's namespace and its tap there. */
  readonly kns: string;
  readonly tap: string;
}

/** Options of {@link kernelBeside}. */
export interface KernelBesideOptions {
  /** The veth subnet (tzstack at .1, the namespace at .2). */
  subnet: string;
  /** Over IPv6: tzstack's address (the kernel's too) and the namespace end's; the kernel's services then bind the IPv6 one. */
  ipv6?: { near: string; far: string };
}

/** The kernel's UDP echo on 9999, bound to `addr`. */
function udpEcho(addr: string, v6: boolean): string {
  return `
import socket
s = socket.socket(socket.${v6 ? 'AF_INET6' : 'AF_INET'}, socket.SOCK_DGRAM)
s.bind(('${addr}', 9999))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(b'${v6 ? 'kernel6:' : 'kernel:'}' + d, a)
`;
}

/** Register the `before`/`after` hooks of an exception-path suite (call inside its body). */
export function kernelBeside(ctx: InteropContext, prefix: string, o: KernelBesideOptions): KernelBeside {
  let pool: DpdkMempool | undefined;
  let nic: DpdkPort | undefined;
  let kernel: DpdkPort | undefined;
  let net: VethNet | undefined;
  let stack: Stack | undefined;
  let path: KernelPath | undefined;
  let tap = '';
  let kernelNs: KernelNs | undefined;
  const children: ChildProcess[] = [];
  let startInUse = 0;
  const v6 = o.ipv6;

  before(async () => {
    pool = ctx.dpdk.createPool({ count: 4096 });
    startInUse = pool.inUse();
    net = createVethNs(prefix, o.subnet);
    // The namespace end speaks IPv6 (the helper turns it off).
    if (v6) enableIpv6(net.ns, net.farIf, v6.far);
    nic = ctx.dpdk.openPort(net.devargs, { pool });
    tap = tapName(prefix);
    kernel = ctx.dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
    stack = v6
      ? new Stack({
        port: nic, ip: `${net.nearIp}/24`,
        protocols: [ipv6Protocol({ addresses: [`${v6.near}/64`], linkLocal: false, nd: { routerSolicitations: 0 } })],
      })
      : new Stack({ port: nic, ip: `${net.nearIp}/24` });
    // The kernel's side of the tap wears tzstack's MAC and addresses.
    kernelNs = createKernelTapNs(tap, macString(stack.mac), `${net.nearIp}/24`, v6?.near);
    const kns = kernelNs.ns;
    path = attachKernelPath(stack, kernel);
    // tzstack's own service: echo on 7.
    stack.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(7);
    stack.start();
    const bind = v6 ? v6.near : net.nearIp;
    const http = spawn('ip', ['netns', 'exec', kns, 'python3', '-m', 'http.server', '8088', '--bind', bind], { stdio: 'ignore', cwd: '/tmp' });
    const udp = spawn('ip', ['netns', 'exec', kns, '/usr/bin/python3', '-c', udpEcho(bind, v6 !== undefined)], { stdio: 'ignore' });
    children.push(http, udp);
    // The kernel's servers listening, then a moment more.
    await waitListening(kns, [[8088, 'tcp'], [9999, 'udp']]);
    if (v6) {
      const six = ipv6Of(stack)!;
      for (let t = 0; t < 100 && !six.ip6.addresses.every((a) => a.state === Addr6State.Preferred); t++) await sleep(50);
    }
    await sleep(800);
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    path?.detach();
    if (stack) await stack.close(); else nic?.close();
    kernel?.close();
    net?.close();
    kernelNs?.close();
    if (pool) {
      expect(pool.inUse(), 'mbufs left after close').to.equal(startInUse);
      ctx.dpdk.destroyPool(pool);
    }
  });

  return {
    get net() { return net!; },
    get stack() { return stack!; },
    get path() { return path!; },
    get kns() { return kernelNs!.ns; },
    get tap() { return tap; },
  };
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }
