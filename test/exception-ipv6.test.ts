/**
 * The kernel exception path (src/exception.ts) for IPv6, in memory: TCP and
 * UDP over IPv6 for no socket, next headers tzstack has no handler for, and
 * copies of Neighbor Discovery go to the kernel port as their IPv4
 * counterparts (and ARP) do; tzstack's own sockets, ND and echo still answer.
 */
import { expect } from 'chai';
import { attachKernelPath } from '../src/exception.js';
import { ipv6Protocol } from '../src/ipv6-attach.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { concat, dvOf, Harness } from './stack-frames.js';
import { csum6, echo6, fragments6, frame6, GA_A, GA_B, ns, optsHeader } from './ip6-frames.js';
import type { Mbuf } from '../src/mbuf/index.js';

function tcp6Syn(src: string, dst: string, sport: number, dport: number): Uint8Array {
  const b = new Uint8Array(20);
  const dv = dvOf(b);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint32(4, 1000);
  b[12] = 5 << 4; b[13] = 0x02; dv.setUint16(14, 65535);
  dv.setUint16(16, csum6(src, dst, 6, b));
  return b;
}

function udp6(src: string, dst: string, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const b = concat(new Uint8Array(8), data);
  const dv = dvOf(b);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint16(4, b.length);
  dv.setUint16(6, csum6(src, dst, 17, b));
  return b;
}

describe('exception path over IPv6 (in memory)', () => {
  it('TCP/UDP for no socket, unknown next headers and ND copies go to the kernel port byte-exact; our listener, ND and echo answer', async () => {
    const h = new Harness({ protocols: [ipv6Protocol({ addresses: [`${GA_A}/64`], linkLocal: false, nd: { dadTransmits: 0, routerSolicitations: 0 } })] },
      { checksumUnneeded: false }, 512);
    const [kStack, kKernel] = createLinkPair(h.pool);
    const path = attachKernelPath(h.stack, kStack);
    h.stack.createServer(() => {}).listen(80);
    const o = { src: GA_B, dst: GA_A };
    const sent: Uint8Array[] = [];
    const send = (f: Uint8Array, toKernel: boolean): void => { if (toKernel) sent.push(f); h.send(f); };
    // ND: tzstack answers (and learns GA_B's MAC), the kernel gets a copy.
    send(ns(GA_A, undefined, GA_B), true);
    send(frame6(tcp6Syn(GA_B, GA_A, 40000, 22), { ...o, nh: 6 }), true);
    send(frame6(udp6(GA_B, GA_A, 5000, 5001, Buffer.from('to the kernel')), { ...o, nh: 17 }), true);
    send(frame6(new Uint8Array(8), { ...o, nh: 47 }), true);
    // Behind a hop-by-hop header: the IPv6 header is found by its addresses.
    send(frame6(concat(optsHeader(6, new Uint8Array(4)), tcp6Syn(GA_B, GA_A, 40002, 23)), { ...o, nh: 0 }), true);
    send(frame6(tcp6Syn(GA_B, GA_A, 40001, 80), { ...o, nh: 6 }), false); // ours: a SYN-ACK
    send(frame6(echo6(7, 1, new Uint8Array(8), GA_B, GA_A), o), false); // ours: an echo reply
    const out = h.poll(3);
    const rx = new Uint32Array(32);
    const take = (): Uint8Array[] => {
      const n = kKernel.rxBurst(rx, 32);
      return [...rx.subarray(0, n) as Iterable<Mbuf>].map((m) => { const b = h.pool.toBytes(m); h.pool.free(m); return b; });
    };
    const got = take();
    expect(got.map((b) => Buffer.from(b).toString('hex'))).to.deep.equal(sent.map((b) => Buffer.from(b).toString('hex')));
    expect(path.counters.toKernel6).to.deep.equal({ tcp: 2, udp: 1, ipProtocol: 1, nd: 1 });
    expect(h.stack.counters.tcp.noSocketHandedOff).to.equal(2);
    // tzstack: the NA, the SYN-ACK and the echo reply; no RST for 22/23, no port or parameter unreachable.
    const kinds = out.map((b) => (b[20] === 58 ? `icmp6-${b[54]}` : b[20] === 6 ? `tcp-${b[54 + 13].toString(16)}` : `nh${b[20]}`));
    expect(kinds.sort()).to.deep.equal(['icmp6-129', 'icmp6-136', 'tcp-12']);
    // Once a udp6 socket exists, datagrams for other ports still go to the kernel; a fragmented one reassembled.
    const sock = h.stack.createSocket('udp6');
    sock.bind(6000);
    h.poll();
    const big = udp6(GA_B, GA_A, 5000, 5002, new Uint8Array(3000).fill(7));
    for (const f of fragments6(big, 17, 1448, 99, o)) h.send(f);
    h.poll(2);
    const frag = take();
    expect(frag).to.have.length(1);
    const f = frag[0];
    expect(dvOf(f).getUint16(12)).to.equal(0x86dd);
    expect(f[20]).to.equal(17);
    expect(dvOf(f).getUint16(18)).to.equal(big.length);
    expect(Buffer.from(f.subarray(54)).equals(Buffer.from(big))).to.equal(true);
    expect(Buffer.from(f.subarray(0, 6)).equals(Buffer.from(h.stack.mac))).to.equal(true);
    expect(path.counters.toKernel6.udp).to.equal(2);
    sock.close();
    path.detach();
    // Detached: a SYN for no socket gets tzstack's RST again.
    h.send(frame6(tcp6Syn(GA_B, GA_A, 40003, 22), { ...o, nh: 6 }));
    const after = h.poll(2);
    expect(after.some((b) => b[20] === 6 && (b[54 + 13] & 0x04) !== 0)).to.equal(true);
    expect(take()).to.have.length(0);
    await h.close();
    kStack.close(); kKernel.close();
    expect(h.pool.inUse()).to.equal(0);
  });

  it('datagrams to our own closed ports stay loopback drops with the exception path attached (nothing to the kernel)', async () => {
    const h = new Harness({ protocols: [ipv6Protocol({ addresses: [`${GA_A}/64`], linkLocal: false, nd: { dadTransmits: 0, routerSolicitations: 0 } })] },
      { checksumUnneeded: false }, 512);
    const [kStack, kKernel] = createLinkPair(h.pool);
    const path = attachKernelPath(h.stack, kStack);
    const s4 = h.stack.createSocket('udp4');
    const s6 = h.stack.createSocket({ type: 'udp6', ipv6Only: true });
    s4.send('x', 7999, '10.72.0.1');
    s6.send('y', 7999, GA_A);
    for (let i = 0; i < 4; i++) { h.poll(); await new Promise((r) => setImmediate(r)); }
    expect(h.stack.counters.loopback.drops.udpNoSocket).to.equal(2);
    expect(path.counters.toKernel.udp + path.counters.toKernel6.udp + path.counters.dropped.noHeadroom).to.equal(0);
    expect(kKernel.rxBurst(new Uint32Array(8), 8)).to.equal(0);
    s4.close(); s6.close();
    path.detach();
    await h.close();
    kStack.close(); kKernel.close();
    expect(h.pool.inUse()).to.equal(0);
  });
});
