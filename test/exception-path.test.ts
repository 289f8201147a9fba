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
import { attachKernelPath } from '../src/exception.js';
import { kernelBeside } from './helpers/kernel-beside.js';
import { interopSuite, run } from './helpers/netns.js';
import type { Mbuf } from '../src/mbuf/index.js';

const PREFIX = 'tzK';

interopSuite('exception path: kernel services beside tzstack on one address', PREFIX, {
  timeoutMs: 60000,
  needs: [{ cmd: ['sh', '-c', 'command -v curl && command -v nc'], missing: 'curl or nc is not installed' }],
}, (ctx) => {
  const k = kernelBeside(ctx, PREFIX, { subnet: '10.71.60' });

  it('a kernel HTTP server on the same address answers curl from the namespace', async () => {
    const r = await k.net.runAsync(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://${k.net.nearIp}:8088/`], 20000);
    expect(r.stdout, r.stderr).to.equal('200');
    expect(k.path.counters.toKernel.tcp).to.be.greaterThan(0);
    expect(k.path.counters.fromKernel).to.be.greaterThan(0);
    expect(k.stack.counters.tcp.noSocketHandedOff).to.be.greaterThan(0);
  });

  it("tzstack's own echo on port 7 still answers, and ping is answered by tzstack", async () => {
    const r = await k.net.runAsync(['sh', '-c', `printf 'via-tzstack' | timeout 5 nc -q 1 ${k.net.nearIp} 7`], 10000);
    expect(r.stdout).to.equal('via-tzstack');
    const echoes = k.stack.counters.icmp.echoRepliesSent;
    const p = await k.net.runAsync(['ping', '-c', '2', '-i', '0.2', '-W', '2', k.net.nearIp], 10000);
    expect(p.status, p.stdout).to.equal(0);
    expect(k.stack.counters.icmp.echoRepliesSent).to.be.at.least(echoes + 2);
  });

  it('UDP to a port no tzstack socket holds reaches the kernel, and the ARP copy filled its neighbour table', async () => {
    const r = await k.net.runAsync(['sh', '-c', `printf 'dgram' | timeout 3 nc -u -w 2 ${k.net.nearIp} 9999`], 10000);
    expect(r.stdout).to.equal('kernel:dgram');
    expect(k.path.counters.toKernel.udp).to.be.greaterThan(0);
    expect(k.path.counters.toKernel.arp).to.be.greaterThan(0);
    expect(run(['ip', 'netns', 'exec', k.kns, 'ip', 'neigh', 'show', k.net.farIp, 'dev', k.tap]).stdout).to.match(/lladdr/);
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
    const types = [...rx.subarray(0, n) as Iterable<Mbuf>].map((m) => { const b = h.pool.toBytes(m); h.pool.free(m); return (b[12] << 8 | b[13]) === 0x0800 ? `ip${b[23]}` : (b[12] << 8 | b[13]).toString(16); });
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
