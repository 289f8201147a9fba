/**
 * UDP sockets (`node:dgram`-shaped) over two stacks in memory, and against
 * Linux in a namespace (Python's and nc's UDP over net_af_packet).
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { TsMempool } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { createUdpSocket, udpLayerOf, type RemoteInfo, type UdpSocket } from '../src/udp/socket.js';
import { UDP_HEADROOM } from '../src/udp/layer.js';
import { VirtualClock } from '../src/util/clock.js';
import type { DpdkMempool, DpdkPort } from '../src/pmd/dpdk.js';
import { closeInterop, createVethNs, interopSuite, type VethNet } from './helpers/netns.js';
import { answer, startDnsResponder } from '../src/app/dns.js';
import { Harness, IP_A, IP_B, MAC_A, MAC_B, eth, ipv4, udp } from './stack-frames.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('udp: sockets over two stacks in memory', () => {
  let pool: TsMempool;
  let s1: Stack;
  let s2: Stack;
  let sockets: UdpSocket[];
  beforeEach(() => {
    pool = new TsMempool({ count: 1024 });
    const clock = new VirtualClock(0);
    const [a, b] = createLinkPair(pool);
    s1 = new Stack({ port: a, ip: '10.72.0.1/24', clock });
    s2 = new Stack({ port: b, ip: '10.72.0.2/24', clock });
    sockets = [];
  });
  afterEach(async () => {
    for (const s of sockets) { try { s.close(); } catch { /* closed by the test */ } }
    await s1.close();
    await s2.close();
    expect(pool.inUse(), 'mbufs leaked').to.equal(0);
  });
  const pump = (n = 10): void => { for (let i = 0; i < n; i++) { s1.poll(); s2.poll(); } };
  const sock = (s: Stack, opts?: Parameters<typeof createUdpSocket>[1]): UdpSocket => {
    const u = createUdpSocket(s, opts ?? 'udp4');
    sockets.push(u);
    return u;
  };

  it('echoes datagrams, with rinfo and listening events as dgram gives them', async () => {
    const server = sock(s2);
    server.on('message', (msg: Buffer, r: RemoteInfo) => server.send(msg, r.port, r.address));
    server.bind(7);
    await once(server, 'listening');
    expect(server.address()).to.deep.equal({ address: '0.0.0.0', family: 'IPv4', port: 7 });
    const client = sock(s1);
    const got: Array<[string, RemoteInfo]> = [];
    client.on('message', (m: Buffer, r: RemoteInfo) => got.push([m.toString(), r]));
    const sent: number[] = [];
    client.send('hello', 7, '10.72.0.2', (e: Error | null, n: number) => { expect(e).to.equal(null); sent.push(n); });
    client.send(Buffer.from('xxworldxx'), 2, 5, 7, '10.72.0.2');
    pump();
    await tick();
    pump();
    expect(got.map((g) => g[0])).to.deep.equal(['hello', 'world']);
    expect(got[0][1]).to.deep.equal({ address: '10.72.0.2', family: 'IPv4', port: 7, size: 5 });
    expect(sent).to.deep.equal([5]);
    const port = client.address().port;
    expect(port).to.be.within(49152, 65535);
    expect(s2.counters.udp4).to.include({ rx: 2, tx: 2, delivered: 2 });
  });

  it('carries a 20,000-byte datagram in IPv4 fragments, reassembled whole', () => {
    const server = sock(s2).bind(9000);
    const sizes: number[] = [];
    let ok = true;
    server.on('message', (m: Buffer) => { sizes.push(m.length); for (let i = 0; i < m.length; i++) if (m[i] !== ((i * 7) & 0xff)) ok = false; });
    const data = Buffer.alloc(20000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const c = sock(s1);
    // Resolve ARP first: fourteen fragments would overflow the queue of packets waiting for it.
    s1.icmp.ping(s2.localIp, 1, 1, 8);
    pump();
    c.send(data, 9000, '10.72.0.2');
    pump(20);
    expect(sizes).to.deep.equal([20000]);
    expect(ok).to.equal(true);
  });

  it('connected sockets: send without an address, only the peer gets in, port unreachable is ECONNREFUSED', async () => {
    const server = sock(s2).bind(5353);
    const stranger = sock(s2).bind(5354);
    const c = sock(s1);
    c.connect(5353, '10.72.0.2');
    await once(c, 'connect');
    expect(c.remoteAddress()).to.deep.equal({ address: '10.72.0.2', family: 'IPv4', port: 5353 });
    const got: string[] = [];
    c.on('message', (m: Buffer) => got.push(m.toString()));
    server.on('message', (_m: Buffer, r: RemoteInfo) => { server.send('from-server', r.port, r.address); stranger.send('from-stranger', r.port, r.address); });
    c.send('q');
    pump();
    await tick();
    pump();
    expect(got).to.deep.equal(['from-server']);
    expect(() => c.send('x', 1, '10.72.0.2')).to.throw().with.property('code', 'ERR_SOCKET_DGRAM_IS_CONNECTED');
    const errors: Array<{ code?: string }> = [];
    c.on('error', (e) => errors.push(e));
    c.disconnect();
    c.connect(1, '10.72.0.2');
    await once(c, 'connect');
    c.send('nobody home');
    pump();
    expect(errors.map((e) => e.code)).to.deep.equal(['ECONNREFUSED']);
    expect(s2.counters.icmp.errorsSent ?? s2.counters.udp.drops.noPort).to.be.greaterThan(0);
  });

  it('refuses broadcast without setBroadcast (EACCES) and sends it with', async () => {
    const rx = sock(s2).bind(6000);
    const got: string[] = [];
    rx.on('message', (m: Buffer) => got.push(m.toString()));
    const tx = sock(s1);
    const errs: Array<Error & { code?: string }> = [];
    tx.send('b1', 6000, '10.72.0.255', (e: (Error & { code?: string }) | null) => { if (e) errs.push(e); });
    await tick();
    expect(errs.map((e) => e.code)).to.deep.equal(['EACCES']);
    tx.setBroadcast(true);
    tx.send('b2', 6000, '10.72.0.255');
    pump();
    expect(got).to.deep.equal(['b2']);
  });

  it('EADDRINUSE unless both share with reuseAddr; EADDRNOTAVAIL for an address not ours', async () => {
    sock(s1).bind(7000);
    const b = sock(s1).bind(7000);
    const [e] = await once(b, 'error') as [Error & { code: string }];
    expect(e.code).to.equal('EADDRINUSE');
    sock(s1, { type: 'udp4', reuseAddr: true }).bind(7001);
    sock(s1, { type: 'udp4', reuseAddr: true }).bind(7001);
    const c = sock(s1).bind(7002, '10.9.9.9');
    const [e2] = await once(c, 'error') as [Error & { code: string }];
    expect(e2.code).to.equal('EADDRNOTAVAIL');
    expect(udpLayerOf(s1).boundCount).to.equal(3);
  });

  it('zero copy: sendMbuf takes a packet buffer, onMbuf hands one over, no payload copied', () => {
    const rx = sock(s2).bind(4000);
    const seen: Array<[number, string]> = [];
    rx.onMbuf((m, r) => { seen.push([pool.pktLen(m), r.address]); expect(pool.toBytes(m).subarray(0, 3)).to.deep.equal(Uint8Array.of(1, 2, 3)); pool.free(m); });
    const m = pool.alloc();
    expect(pool.headroom(m)).to.be.at.least(UDP_HEADROOM);
    pool.u8.set([1, 2, 3, 4], pool.append(m, 4));
    sock(s1).sendMbuf(m, 4000, '10.72.0.2');
    pump();
    expect(seen).to.deep.equal([[4, '10.72.0.1']]);
  });

  it('closing the stack closes its sockets (close event, port free)', async () => {
    const u = sock(s1).bind(4200);
    await once(u, 'listening');
    const closed = once(u, 'close');
    await s1.close();
    await closed;
    expect(udpLayerOf(s1).boundCount).to.equal(0);
  });
});

describe('udp: received frames', () => {
  let h: Harness;
  beforeEach(() => { h = new Harness({}, { checksumUnneeded: false }); h.learnPeer(); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  it('delivers good datagrams and drops bad checksums, lengths and truncation under their reasons', () => {
    const u = createUdpSocket(h.stack, 'udp4').bind(4100);
    const got: string[] = [];
    u.on('message', (m: Buffer) => got.push(m.toString()));
    const good = udp(IP_B, IP_A, 1234, 4100, Buffer.from('good'));
    const badSum = Uint8Array.from(good); badSum[8] ^= 0xff;
    const badLen = Uint8Array.from(good); new DataView(badLen.buffer).setUint16(4, 200);
    const noSum = Uint8Array.from(good); noSum[6] = 0; noSum[7] = 0;
    for (const d of [good, badSum, badLen, noSum, good.subarray(0, 6)]) h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(d, { proto: 17 })));
    h.poll();
    expect(got).to.deep.equal(['good', 'good']);
    const c = udpLayerOf(h.stack).counters;
    expect(c.drops).to.include({ badChecksum: 1, badLength: 1, truncated: 1 });
    u.close();
  });

  it('answers a datagram for a closed port with port unreachable quoting it', () => {
    createUdpSocket(h.stack, 'udp4').bind(4101).close();
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(udp(IP_B, IP_A, 1234, 4101, Buffer.from('x')), { proto: 17 })));
    const out = h.poll();
    expect(out).to.have.length(1);
    expect(out[0][14 + 9]).to.equal(1); // ICMP
    expect(out[0][14 + 20]).to.equal(3); // destination unreachable
    expect(out[0][14 + 21]).to.equal(3); // port
  });
});

/** A Python UDP echo server in the namespace; prints 'ready' once bound. */
const PY_ECHO = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9999))
print('ready', flush=True)
while True:
    data, addr = s.recvfrom(65535)
    # Replies longer than one frame come back to net_af_packet merged into one over-MTU frame, which the
    # af_packet ring truncates (counted by tzstack as IPv4 'truncated'): answer those with their length.
    s.sendto(data if len(data) <= 1473 else b'len=%d' % len(data), addr)
`;

interopSuite('udp: against Linux in a namespace (net_af_packet)', 'tzU', {
  timeoutMs: 60000,
  needs: [{ cmd: ['sh', '-c', 'command -v nc'], missing: 'nc is not installed' }],
}, (ctx) => {
  let pool: DpdkMempool;
  let port: DpdkPort | undefined;
  let net: VethNet | undefined;
  let stack: Stack | undefined;
  let startInUse = 0;
  before(() => {
    pool = ctx.dpdk.createPool({ count: 2048 });
    startInUse = pool.inUse();
    net = createVethNs('tzU', '10.71.40');
    port = ctx.dpdk.openPort(net.devargs, { pool });
    stack = new Stack({ port, ip: `${net.nearIp}/24` });
    stack.start();
  });
  after(() => closeInterop(ctx, { stack, port, net, pool, startInUse }));

  it("exchanges datagrams with Python's UDP echo: 1 to 1,473 bytes echoed, 8,000 and 30,000 (tzstack's fragments) acknowledged by length", async () => {
    const { spawn } = await import('node:child_process');
    const py = spawn('ip', ['netns', 'exec', net!.ns, '/usr/bin/python3', '-c', PY_ECHO], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error('python echo not ready')), 10000);
        py.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(t); res(); } });
      });
      const u = createUdpSocket(stack!, 'udp4');
      const replies = new Map<number, Buffer>();
      u.on('message', (m: Buffer) => {
        const long = /^len=(\d+)$/.exec(m.toString('latin1'));
        replies.set(long ? Number(long[1]) : m.length, m);
      });
      const sizes = [1, 100, 1472, 1473, 8000, 30000];
      for (let round = 0; round < 5 && replies.size < sizes.length; round++) {
        for (const n of sizes) if (!replies.has(n)) u.send(Buffer.alloc(n, n & 0xff), 9999, net!.farIp);
        const end = Date.now() + 1000;
        while (replies.size < sizes.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      }
      expect([...replies.keys()].sort((a, b) => a - b), JSON.stringify({ ip: stack!.counters.ip, r: stack!.counters.reassembly, eth: stack!.counters.eth, udp: stack!.counters.udp4, port: stack!.port.stats })).to.deep.equal(sizes);
      for (const n of sizes.filter((x) => x <= 1473)) expect(replies.get(n)!.equals(Buffer.alloc(n, n & 0xff)), `size ${n}`).to.equal(true);
      u.close();
    } finally {
      py.kill('SIGKILL');
    }
  });

  it('answers dig from the namespace with the DNS responder example (A, NXDOMAIN)', async () => {
    const dns = startDnsResponder(stack!, { 'web.tz.test': '10.71.40.80' }, 5353);
    try {
      await once(dns.socket, 'listening');
      const a = await net!.runAsync(['dig', '+short', '+tries=3', '+time=1', '-p', '5353', `@${net!.nearIp}`, 'WEB.tz.test', 'A'], 15000);
      expect(a.stdout.trim(), a.stderr).to.equal('10.71.40.80');
      const nx = await net!.runAsync(['dig', '+tries=3', '+time=1', '-p', '5353', `@${net!.nearIp}`, 'nope.tz.test', 'A'], 15000);
      expect(nx.stdout).to.match(/status: NXDOMAIN/);
      expect(dns.counters.answered).to.be.at.least(1);
      expect(dns.counters.nxdomain).to.be.at.least(1);
    } finally {
      dns.close();
    }
  });

  it('answers nc -u from the namespace through a tzstack echo socket', async () => {
    const u = createUdpSocket(stack!, 'udp4');
    u.on('message', (m: Buffer, r: RemoteInfo) => u.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
    u.bind(7777);
    await once(u, 'listening');
    const r = await net!.runAsync(['sh', '-c', `printf 'ping-udp' | timeout 3 nc -u -w 2 ${net!.nearIp} 7777`], 10000);
    expect(r.stdout).to.equal('echo:ping-udp');
    u.close();
  });
});

describe('udp: the DNS responder example on malformed queries', () => {
  const table = new Map([['a.test', 0x0a000001]]);
  const q = (name: string, type = 1, extra: Partial<{ flags: number; qd: number }> = {}): Buffer => {
    const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
    const b = Buffer.alloc(12 + labels.length + 1 + 4);
    b.writeUInt16BE(0x1234, 0); b.writeUInt16BE(extra.flags ?? 0x0100, 2); b.writeUInt16BE(extra.qd ?? 1, 4);
    Buffer.from(labels).copy(b, 12); b.writeUInt16BE(type, 12 + labels.length + 1); b.writeUInt16BE(1, 12 + labels.length + 3);
    return b;
  };
  it('answers A, NODATA for other types, NXDOMAIN, FORMERR for what does not parse, nothing for responses', () => {
    const c = { queries: 0, answered: 0, nxdomain: 0, formerr: 0, notimp: 0 };
    const a = answer(q('a.test'), table, 60, c)!;
    expect(a.readUInt16BE(6)).to.equal(1);
    expect(a.readUInt32BE(a.length - 4)).to.equal(0x0a000001);
    expect(answer(q('a.test', 28), table, 60, c)!.readUInt16BE(6)).to.equal(0);
    expect(answer(q('b.test'), table, 60, c)!.readUInt16BE(2) & 0xf).to.equal(3);
    const cut = q('a.test').subarray(0, 15);
    expect(answer(cut, table, 60, c)!.readUInt16BE(2) & 0xf).to.equal(1);
    const overlong = Buffer.from(q('a.test')); overlong[12] = 200;
    expect(answer(overlong, table, 60, c)!.readUInt16BE(2) & 0xf).to.equal(1);
    expect(answer(q('a.test', 1, { flags: 0x8100 }), table, 60, c)).to.equal(null);
    expect(answer(Buffer.alloc(5), table, 60, c)).to.equal(null);
    expect(answer(q('a.test', 1, { qd: 2 }), table, 60, c)!.readUInt16BE(2) & 0xf).to.equal(1);
  });
});

describe('udp and ipv6 through the Stack', () => {
  it('stack.createSocket is dgram.createSocket; ip6 in the options brings up IPv6', async () => {
    const pool = new TsMempool({ count: 256 });
    const [a, b] = createLinkPair(pool);
    const clock = new VirtualClock(0);
    const s1 = new Stack({ port: a, ip: '10.72.0.1/24', clock, ip6: { addresses: ['fd00::1/64'] } });
    const s2 = new Stack({ port: b, ip: '10.72.0.2/24', clock });
    expect(s1.ip6).to.not.equal(undefined);
    expect(s2.ip6).to.equal(undefined);
    expect(s1.stats()).to.have.property('ndEntries');
    const got: string[] = [];
    const u = s2.createSocket('udp4', (m) => got.push(m.toString())).bind(53);
    s1.createSocket('udp4').send('q', 53, '10.72.0.2');
    for (let i = 0; i < 10; i++) { s1.poll(); s2.poll(); }
    expect(got).to.deep.equal(['q']);
    u.close();
    await s1.close();
    await s2.close();
    expect(pool.inUse()).to.equal(0);
  });
});
