/**
 * The kernel exception path (src/exception.ts) over IPv6 against Linux, as
 * test/exception-path does for IPv4: tzstack drives a veth end
 * (net_af_packet) toward a namespace; a tap (net_tap), moved into a second
 * namespace that stands for "the kernel beside tzstack", carries tzstack's
 * MAC and IPv6 address there (no link-local address, no DAD: tzstack owns
 * the address on the wire). From the namespace, over IPv6, a kernel HTTP
 * server and UDP echo answer on tzstack's address while tzstack's own echo
 * and ping -6 answer too; the kernel learns its neighbour from the copies
 * of Neighbor Discovery.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { attachKernelPath, type KernelPath } from '../src/exception.js';
import { Addr6State } from '../src/ip/ipv6.js';
import { ipv6Of, ipv6Protocol } from '../src/ipv6-attach.js';
import type { DpdkMempool, DpdkPort } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import { macString } from './helpers/frames.js';
import { createKernelTapNs, createVethNs, enableIpv6, interopSuite, run, tapName, waitListening, type KernelNs, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzK6';
const NEAR6 = 'fd00:71:61::1';
const FAR6 = 'fd00:71:61::2';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PY_UDP6_ECHO = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('${NEAR6}', 9999))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(b'kernel6:' + d, a)
`;

interopSuite('exception path over IPv6: kernel services beside tzstack on one IPv6 address', PREFIX, {
  timeoutMs: 60000,
  needs: [{ cmd: ['sh', '-c', 'command -v curl && command -v nc && command -v python3'], missing: 'curl, nc or python3 is not installed' }],
}, (ctx) => {
  let pool: DpdkMempool;
  let nic: DpdkPort | undefined;
  let kernel: DpdkPort | undefined;
  let net: VethNet | undefined;
  let stack: Stack | undefined;
  let path: KernelPath | undefined;
  let tap = '';
  let kernelNs: KernelNs | undefined;
  let kns = '';
  const children: ChildProcess[] = [];
  let startInUse = 0;

  before(async () => {
    pool = ctx.dpdk.createPool({ count: 4096 });
    startInUse = pool.inUse();
    net = createVethNs(PREFIX, '10.71.61');
    // The namespace end speaks IPv6 (the helper turns it off).
    enableIpv6(net.ns, net.farIf, FAR6);
    nic = ctx.dpdk.openPort(net.devargs, { pool });
    tap = tapName(PREFIX);
    kernel = ctx.dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
    stack = new Stack({
      port: nic, ip: `${net.nearIp}/24`,
      protocols: [ipv6Protocol({ addresses: [`${NEAR6}/64`], linkLocal: false, nd: { routerSolicitations: 0 } })],
    });
    // IPv6 on the kernel's side: tzstack's address, no link-local address of its own, no DAD, no router solicitations.
    kernelNs = createKernelTapNs(tap, macString(stack.mac), `${net.nearIp}/24`, NEAR6);
    kns = kernelNs.ns;
    path = attachKernelPath(stack, kernel);
    stack.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(7);
    stack.start();
    const http = spawn('ip', ['netns', 'exec', kns, 'python3', '-m', 'http.server', '8088', '--bind', NEAR6], { stdio: 'ignore', cwd: '/tmp' });
    const udp = spawn('ip', ['netns', 'exec', kns, '/usr/bin/python3', '-c', PY_UDP6_ECHO], { stdio: 'ignore' });
    children.push(http, udp);
    // The kernel's servers listening, then a moment more.
    await waitListening(kns, [[8088, 'tcp'], [9999, 'udp']]);
    const v6 = ipv6Of(stack)!;
    for (let t = 0; t < 100 && !v6.ip6.addresses.every((a) => a.state === Addr6State.Preferred); t++) await sleep(50);
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

  it('a kernel HTTP server on the same IPv6 address answers curl -6; ND copies fill the kernel\'s neighbour table', async () => {
    const r = await net!.runAsync(['curl', '-6', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://[${NEAR6}]:8088/`], 20000);
    expect(r.stdout, `${r.stderr} ${JSON.stringify(path!.counters)}`).to.equal('200');
    expect(path!.counters.toKernel6.tcp).to.be.greaterThan(0);
    expect(path!.counters.toKernel6.nd).to.be.greaterThan(0);
    expect(path!.counters.fromKernel).to.be.greaterThan(0);
    expect(run(['ip', 'netns', 'exec', kns, 'ip', '-6', 'neigh', 'show', FAR6, 'dev', tap]).stdout).to.match(/lladdr/);
  });

  it("tzstack's own echo on port 7 answers over IPv6, and ping -6 is answered by tzstack", async () => {
    const r = await net!.runAsync(['sh', '-c', `printf 'via-tzstack6' | timeout 5 nc -6 -q 1 ${NEAR6} 7`], 10000);
    expect(r.stdout).to.equal('via-tzstack6');
    const echoes = stack!.counters.icmp6!.echoRepliesSent as number;
    const p = await net!.runAsync(['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', NEAR6], 10000);
    expect(p.status, p.stdout).to.equal(0);
    expect(stack!.counters.icmp6!.echoRepliesSent).to.be.at.least(echoes + 2);
  });

  it('UDP over IPv6 to a port no tzstack socket holds reaches the kernel', async () => {
    const r = await net!.runAsync(['sh', '-c', `printf 'dgram6' | timeout 3 nc -6 -u -w 2 ${NEAR6} 9999`], 10000);
    expect(r.stdout).to.equal('kernel6:dgram6');
    expect(path!.counters.toKernel6.udp).to.be.greaterThan(0);
  });
});
