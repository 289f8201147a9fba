/**
 * The kernel exception path (src/exception.ts) against Linux: tzstack drives
 * a veth end (net_af_packet) toward a namespace; a tap (net_tap), moved into
 * a second namespace that stands for "the kernel beside tzstack", carries
 * tzstack's MAC and address there. (Not in the root namespace: it would also
 * take the frames the veth end delivers, as a NIC given to DPDK never does.) From the
 * namespace, a kernel service (Python HTTP and UDP echo) and tzstack's own
 * echo answer on the same address; counters say what went which way.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { attachKernelPath, type KernelPath } from '../src/exception.js';
import type { DpdkMempool, DpdkPort } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import { macString } from './helpers/frames.js';
import { createKernelTapNs, createVethNs, interopSuite, run, tapName, waitListening, type KernelNs, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzK';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PY_UDP_ECHO = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.71.60.1', 9999))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(b'kernel:' + d, a)
`;

interopSuite('exception path: kernel services beside tzstack on one address', PREFIX, {
  timeoutMs: 60000,
  needs: [{ cmd: ['sh', '-c', 'command -v curl && command -v nc'], missing: 'curl or nc is not installed' }],
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
    net = createVethNs(PREFIX, '10.71.60');
    nic = ctx.dpdk.openPort(net.devargs, { pool });
    tap = tapName(PREFIX);
    kernel = ctx.dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
    stack = new Stack({ port: nic, ip: `${net.nearIp}/24` });
    // The kernel's side of the tap wears tzstack's MAC and address.
    kernelNs = createKernelTapNs(tap, macString(stack.mac), `${net.nearIp}/24`);
    kns = kernelNs.ns;
    path = attachKernelPath(stack, kernel);
    // tzstack's own service: echo on 7.
    stack.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(7);
    stack.start();
    const http = spawn('ip', ['netns', 'exec', kns, 'python3', '-m', 'http.server', '8088', '--bind', net.nearIp], { stdio: 'ignore', cwd: '/tmp' });
    const udp = spawn('ip', ['netns', 'exec', kns, '/usr/bin/python3', '-c', PY_UDP_ECHO], { stdio: 'ignore' });
    children.push(http, udp);
    // The kernel's servers listening, then a moment more.
    await waitListening(kns, [[8088, 'tcp'], [9999, 'udp']]);
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

  it('a kernel HTTP server on the same address answers curl from the namespace', async () => {
    const r = await net!.runAsync(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://${net!.nearIp}:8088/`], 20000);
    expect(r.stdout, r.stderr).to.equal('200');
    expect(path!.counters.toKernel.tcp).to.be.greaterThan(0);
    expect(path!.counters.fromKernel).to.be.greaterThan(0);
    expect(stack!.counters.tcp.noSocketHandedOff).to.be.greaterThan(0);
  });

  it("tzstack's own echo on port 7 still answers, and ping is answered by tzstack", async () => {
    const r = await net!.runAsync(['sh', '-c', `printf 'via-tzstack' | timeout 5 nc -q 1 ${net!.nearIp} 7`], 10000);
    expect(r.stdout).to.equal('via-tzstack');
    const echoes = stack!.counters.icmp.echoRepliesSent;
    const p = await net!.runAsync(['ping', '-c', '2', '-i', '0.2', '-W', '2', net!.nearIp], 10000);
    expect(p.status, p.stdout).to.equal(0);
    expect(stack!.counters.icmp.echoRepliesSent).to.be.at.least(echoes + 2);
  });

  it('UDP to a port no tzstack socket holds reaches the kernel, and the ARP copy filled its neighbour table', async () => {
    const r = await net!.runAsync(['sh', '-c', `printf 'dgram' | timeout 3 nc -u -w 2 ${net!.nearIp} 9999`], 10000);
    expect(r.stdout).to.equal('kernel:dgram');
    expect(path!.counters.toKernel.udp).to.be.greaterThan(0);
    expect(path!.counters.toKernel.arp).to.be.greaterThan(0);
    expect(run(['ip', 'netns', 'exec', kns, 'ip', 'neigh', 'show', net!.farIp, 'dev', tap]).stdout).to.match(/lladdr/);
  });
});

describe('exception path: what goes to the kernel (in memory)', () => {
  it('unknown ethertypes, IP protocols, TCP and UDP for no socket and ARP copies go to the kernel port; its frames go out', async () => {
    const { Harness, IP_A, IP_B, MAC_A, MAC_B, eth, ipv4, udp, tcpSyn, arp } = await import('./stack-frames.js');
    const { createLinkPair } = await import('../src/pmd/memory-link.js');
    const h = new Harness({}, { checksumUnneeded: false });
    h.learnPeer();
    const [kStack, kKernel] = createLinkPair(h.pool);
    const path = attachKernelPath(h.stack, kStack);
    h.stack.createServer(() => {}).listen(80);
    h.send(eth(MAC_A, MAC_B, 0x88b5, new Uint8Array(46)));
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(new Uint8Array(20), { proto: 47 })));
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(tcpSyn(IP_B, IP_A, 40000, 22), { proto: 6 })));
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(udp(IP_B, IP_A, 5000, 5001, Buffer.from('x')), { proto: 17 })));
    h.send(eth(MAC_A, MAC_B, 0x0806, arp(1, MAC_B, IP_B, new Uint8Array(6), IP_A)));
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(tcpSyn(IP_B, IP_A, 40001, 80), { proto: 6 }))); // ours: a SYN-ACK, not the kernel's
    const out = h.poll(2);
    const rx = new Uint32Array(16);
    const n = kKernel.rxBurst(rx, 16);
    const types = [...rx.subarray(0, n)].map((m) => { const b = h.pool.toBytes(m); h.pool.free(m); return (b[12] << 8 | b[13]) === 0x0800 ? `ip${b[23]}` : (b[12] << 8 | b[13]).toString(16); });
    expect(types).to.deep.equal(['88b5', 'ip47', 'ip6', 'ip17', '806']);
    expect(path.counters.toKernel).to.deep.equal({ tcp: 1, udp: 1, ipProtocol: 1, etherType: 1, arp: 1 });
    // tzstack still answered the ARP request and the SYN to its own port, and sent no RST for port 22.
    expect(out.map((b) => (b[12] << 8 | b[13]).toString(16))).to.deep.equal(['806', '800']);
    // The kernel's frames leave through the stack's port.
    const k = h.pool.fromBytes(eth(MAC_B, MAC_A, 0x0800, ipv4(new Uint8Array(8), { src: IP_A, dst: IP_B, proto: 47 })));
    kKernel.txBurst(Uint32Array.of(k), 1);
    expect(h.poll(2)).to.have.length(1);
    expect(path.counters.fromKernel).to.equal(1);
    path.detach();
    await h.close();
    kStack.close(); kKernel.close();
    expect(h.pool.inUse()).to.equal(0);
  });
});
