/**
 * TCP over IPv6 against Linux in a namespace, as a new user would check it:
 *
 * - over `net_af_packet` on a veth: `tzstack serve --ip6` serves curl -6
 *   byte-exact (clean and with `--impair loss=0.02`); a Python client
 *   echoes with half-close through tzstack's echo service (Linux connects
 *   to us); `tzstack fetch http://[addr]:port/` downloads from
 *   `python3 -m http.server --bind ::` byte-exact; a Stack in this process
 *   connects to a Python echo server over IPv6 with half-close (we connect
 *   to Linux);
 * - over `net_tap` with TSO on: curl -6 downloads from a Stack in this
 *   process byte-exact, the stack handing the port TSO segments;
 * - UDP: a udp6 socket against a Python UDP echo (fragments both ways) and
 *   ECONNREFUSED from Linux's port unreachable.
 *
 * Sizes keep the run short (`TZ_V6_BYTES`, `TZ_V6_LOSSY_BYTES`, `TZ_V6_FETCH_BYTES` make them bigger,
 * e.g. 50000000). No time or speed is asserted; throughput is printed.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { patternSha256 } from '../src/app/pattern.js';
import { startServices } from '../src/app/services.js';
import { ipv6Of, ipv6Protocol } from '../src/ipv6-attach.js';
import { Addr6State } from '../src/ip/ipv6.js';
import type { DpdkMempool, DpdkPort } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import {
  createTapNs6, createVethNs6, drainRx, interopSuite, nsRun, nsRunAsync, nsSpawn, startProc as start, waitFor,
  type Net6, type Proc, type Veth6Net,
} from './helpers/netns.js';

const PREFIX = 'tzT6';
const PYTHON = '/usr/bin/python3';
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const BIG = Number(process.env.TZ_V6_BYTES ?? 8_000_000);
const LOSSY = Number(process.env.TZ_V6_LOSSY_BYTES ?? 3_000_000);
const NEAR = 'fd00:77::1';
const FAR = 'fd00:77::2';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** curl -6 of /bytes/n from tzstack in the namespace; resolves with its sha256 line. */
function curl6(ns: string, n: number, port = 80): Promise<{ status: number; stdout: string; stderr: string }> {
  return nsRunAsync(ns, ['sh', '-c', `curl -6 -sS --max-time 600 http://[${NEAR}]:${port}/bytes/${n} | sha256sum`], 650_000);
}

const ECHO_CLIENT = `
import socket, sys
data = bytes((i * 7 + 3) & 255 for i in range(300000))
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.sendall(data)
s.shutdown(socket.SHUT_WR)   # half-close: the echo keeps sending back
got = bytearray()
while True:
    b = s.recv(65536)
    if not b: break
    got += b
s.close()
print('OK' if bytes(got) == data else 'BAD %d' % len(got))
`;

const ECHO_SERVER = `
import socket
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('::', 9007)); srv.listen(1)
print('listening', flush=True)
c, peer = srv.accept()
buf = bytearray()
while True:
    b = c.recv(65536)
    if not b: break
    buf += b
c.sendall(bytes(buf))   # after our peer's FIN: a half-closed connection still carries data
c.shutdown(socket.SHUT_WR)
c.close()
print('peer', peer[0], len(buf), flush=True)
`;

const UDP_ECHO = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('::', 9009))
print('listening', flush=True)
while True:
    d, a = s.recvfrom(65536)
    s.sendto(d, a)
`;

interopSuite('interop: TCP over IPv6 with a Linux host', PREFIX, {
  timeoutMs: 300_000,
  needs: [
    { cmd: ['curl', '--version'], missing: 'curl is not installed' },
    { cmd: [PYTHON, '--version'], missing: `${PYTHON} is missing` },
  ],
}, (ctx) => {
  describe('over net_af_packet', () => {
    let net: Veth6Net | undefined;
    let dir: string | undefined;
    let serve: Proc | undefined;
    let helper: ChildProcess | undefined;

    before(() => {
      net = createVethNs6(PREFIX, FAR, '10.77.0.2/24');
      dir = mkdtempSync(join(tmpdir(), 'tzT6-'));
    });

    afterEach(async () => {
      if (serve && serve.child.exitCode === null) { serve.child.kill('SIGKILL'); await serve.done; }
      serve = undefined;
      helper?.kill('SIGKILL');
      helper = undefined;
    });

    after(() => {
      net?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const startServe = async (extra: string[], stats: string): Promise<Proc> => {
      const s = start([process.execPath, CLI, 'serve', '--dev', `net_af_packet0,iface=${net!.near}`, '--ip', '10.77.0.1/24',
        '--ip6', `${NEAR}/64`, '--services', 'echo,http', '--stats', stats, ...extra]);
      expect(await waitFor(() => s.stdout.includes('ready') || s.child.exitCode !== null, 30_000), s.stderr).to.equal(true);
      // DAD: the address answers once its solicitation went unanswered (a second).
      expect(await waitFor(() => nsRun(net!.ns, ['ping', '-6', '-c', '1', '-W', '1', NEAR]).status === 0, 15_000), s.stderr).to.equal(true);
      return s;
    };

    it(`curl -6 downloads ${BIG} bytes from tzstack serve --ip6 byte-exact; a Python client echoes 300 KB with half-close; curl -4 on the same listener; RST for a closed port`, async () => {
      const stats = join(dir!, 'serve.json');
      serve = await startServe([], stats);
      const t0 = performance.now();
      const r = await curl6(net!.ns, BIG);
      const secs = (performance.now() - t0) / 1000;
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.split(' ')[0], r.stderr).to.equal(patternSha256(BIG));
      console.log(`      ${BIG} bytes over IPv6 in ${secs.toFixed(1)} s (${((BIG * 8) / secs / 1e6).toFixed(1)} Mbit/s)`);
      const e = await nsRunAsync(net!.ns, [PYTHON, '-c', ECHO_CLIENT, NEAR, '7'], 60_000);
      expect(e.stdout.trim(), e.stderr).to.equal('OK');
      // The same listeners take IPv4 (a dual-stack '::' listener), and a closed IPv6 port answers RST.
      const v4 = await nsRunAsync(net!.ns, ['sh', '-c', 'curl -4 -sS --max-time 30 http://10.77.0.1/bytes/100000 | sha256sum'], 40_000);
      expect(v4.stdout.split(' ')[0], v4.stderr).to.equal(patternSha256(100000));
      const refused = await nsRunAsync(net!.ns, ['curl', '-6', '-sS', '--max-time', '10', `http://[${NEAR}]:81/`], 20_000);
      expect(refused.status, refused.stderr).to.equal(7); // curl: failed to connect
      expect(refused.stderr).to.match(/Couldn.t connect|refused/i);
      serve.child.kill('SIGTERM');
      expect(await serve.done, serve.stderr).to.equal(0);
      const s = JSON.parse(readFileSync(stats, 'utf8'));
      expect(s.pool.inUseAtExit).to.equal(0);
      const tcp = s.stack.tcp;
      expect(tcp.passiveOpens).to.be.at.least(3);
      expect(tcp.resetsSent).to.be.at.least(1);
      expect(tcp.drops.badChecksum).to.equal(0);
    });

    it(`curl -6 downloads ${LOSSY} bytes byte-exact with --impair loss=0.02`, async () => {
      const stats = join(dir!, 'serve-loss.json');
      serve = await startServe(['--impair', 'loss=0.02,seed=6'], stats);
      const t0 = performance.now();
      let r = await curl6(net!.ns, LOSSY);
      // The ping that waited for DAD may itself have been lost: a failed connect is retried once.
      if (r.status !== 0 || r.stdout.startsWith(patternSha256(0))) r = await curl6(net!.ns, LOSSY);
      const secs = (performance.now() - t0) / 1000;
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.split(' ')[0], r.stderr).to.equal(patternSha256(LOSSY));
      serve.child.kill('SIGTERM');
      expect(await serve.done, serve.stderr).to.equal(0);
      const s = JSON.parse(readFileSync(stats, 'utf8'));
      const l = s.stack.tcp.loss as Record<string, number>;
      console.log(`      ${LOSSY} bytes at 2 % loss in ${secs.toFixed(1)} s; loss ${JSON.stringify(l)}`);
      expect(s.pool.inUseAtExit).to.equal(0);
      expect(l.retransFast + l.retransRack + l.retransTlp + l.retransRto).to.be.greaterThan(0);
    });

    it('tzstack fetch http://[addr]:8000/ downloads from python3 -m http.server --bind :: byte-exact', async () => {
      const size = Number(process.env.TZ_V6_FETCH_BYTES ?? 4_000_000);
      const body = Buffer.alloc(size);
      for (let k = 0; k < size; k++) body[k] = (k * 13 + (k >>> 11)) & 0xff;
      writeFileSync(join(dir!, 'f.bin'), body);
      const sha = createHash('sha256').update(body).digest('hex');
      helper = nsSpawn(net!.ns, [PYTHON, '-m', 'http.server', '8000', '--bind', '::', '--directory', dir!]);
      expect(await waitFor(() => nsRun(net!.ns, ['sh', '-c', 'ss -ltn | grep -q ":8000 "']).status === 0, 10_000)).to.equal(true);
      const out = join(dir!, 'got.bin');
      const stats = join(dir!, 'fetch.json');
      const f = start([process.execPath, CLI, 'fetch', '--dev', `net_af_packet0,iface=${net!.near}`, '--ip', '10.77.0.1/24',
        '--ip6', `${NEAR}/64`, '--sha256', '--quiet', '--stats', stats, `http://[${FAR}]:8000/f.bin`, '-o', out]);
      const code = await Promise.race([f.done, sleep(120_000).then(() => { f.child.kill('SIGKILL'); return -2; })]);
      expect(code, f.stderr).to.equal(0);
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).to.equal(sha);
      const s = JSON.parse(readFileSync(stats, 'utf8'));
      expect(s.pool.inUseAtExit).to.equal(0);
      expect(s.stack.tcp.activeOpens).to.equal(1);
    });

    it('a Stack connects to a Python echo server over IPv6 and half-closes; every mbuf back after close', async () => {
      helper = nsSpawn(net!.ns, [PYTHON, '-u', '-c', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
      let pyOut = '';
      helper.stdout!.on('data', (d) => { pyOut += d; });
      expect(await waitFor(() => pyOut.includes('listening'), 10_000)).to.equal(true);
      const pool: DpdkMempool = ctx.dpdk.createPool({ count: 4096 });
      const base = pool.inUse();
      const port: DpdkPort = ctx.dpdk.openPort(`net_af_packet1,iface=${net!.near}`, { pool });
      const stack = new Stack({ port, ip: '10.77.0.1/24', protocols: [ipv6Protocol({ addresses: [`${NEAR}/64`] })] });
      stack.start();
      try {
        const v6 = ipv6Of(stack)!;
        expect(await waitFor(() => v6.ip6.addresses.every((a) => a.state === Addr6State.Preferred), 10_000)).to.equal(true);
        const data = Buffer.alloc(200_000);
        for (let i = 0; i < data.length; i++) data[i] = (i * 5 + 1) & 0xff;
        const s = stack.connect({ port: 9007, host: FAR, allowHalfOpen: true });
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        const ended = new Promise<void>((res, rej) => { s.on('end', () => res()); s.on('error', rej); });
        s.end(data);
        await Promise.race([ended, sleep(60_000).then(() => { throw new Error('no end from the echo server'); })]);
        expect(Buffer.concat(parts).equals(data)).to.equal(true);
        expect(s.remoteAddress).to.equal(FAR);
        expect(s.remoteFamily).to.equal('IPv6');
        expect(await waitFor(() => pyOut.includes('peer'), 5000)).to.equal(true);
        expect(pyOut).to.contain(`peer ${NEAR} ${data.length}`);
      } finally {
        await stack.close();
        expect(pool.inUse()).to.equal(base);
        ctx.dpdk.destroyPool(pool);
      }
    });
  });

  describe('UDP over IPv6 (net_af_packet)', () => {
    it("a udp6 socket exchanges datagrams with a Python UDP echo on '::', fragmented ones too; port unreachable is ECONNREFUSED", async () => {
      const net = createVethNs6(PREFIX, FAR, '10.77.0.2/24');
      const py = nsSpawn(net.ns, [PYTHON, '-u', '-c', UDP_ECHO], { stdio: ['ignore', 'pipe', 'pipe'] });
      let pyOut = '';
      py.stdout!.on('data', (d) => { pyOut += d; });
      const pool: DpdkMempool = ctx.dpdk.createPool({ count: 4096 });
      const base = pool.inUse();
      let stack: Stack | undefined;
      try {
        expect(await waitFor(() => pyOut.includes('listening'), 10_000)).to.equal(true);
        const port: DpdkPort = ctx.dpdk.openPort(`net_af_packet2,iface=${net.near}`, { pool });
        stack = new Stack({ port, ip: '10.77.2.1/24', protocols: [ipv6Protocol({ addresses: [`${NEAR}/64`] })] });
        stack.start();
        const v6 = ipv6Of(stack)!;
        expect(await waitFor(() => v6.ip6.addresses.every((a) => a.state === Addr6State.Preferred), 10_000)).to.equal(true);
        const sock = stack.createSocket('udp6');
        const got: Array<{ n: number; from: string; family: string }> = [];
        sock.on('message', (m, r) => got.push({ n: m.length, from: r.address, family: r.family }));
        sock.bind(0);
        const sizes = [5, 1200, 4000];
        for (let i = 0; i < 3 && got.length < sizes.length; i++) {
          got.length = 0;
          for (const n of sizes) sock.send(Buffer.alloc(n, 0x61), 9009, FAR);
          await waitFor(() => got.length === sizes.length, 3000);
        }
        expect(got.map((g) => g.n).sort((a, b) => a - b)).to.deep.equal(sizes);
        expect(got.every((g) => g.from === FAR && g.family === 'IPv6')).to.equal(true);
        const c = stack.createSocket('udp6');
        const errs: string[] = [];
        c.on('error', (e: Error & { code?: string }) => errs.push(e.code ?? ''));
        c.connect(9999, FAR, () => c.send('anyone?'));
        expect(await waitFor(() => errs.length > 0, 5000)).to.equal(true);
        expect(errs[0]).to.equal('ECONNREFUSED');
        sock.close(); c.close();
      } finally {
        py.kill('SIGKILL');
        if (stack) await stack.close();
        net.close();
        expect(pool.inUse()).to.equal(base);
        ctx.dpdk.destroyPool(pool);
      }
    });
  });

  describe('over net_tap with TSO', () => {
    it(`curl -6 downloads ${BIG} bytes byte-exact while tzstack hands the port TSO segments`, async () => {
      const pool: DpdkMempool = ctx.dpdk.createPool({ count: 8191 });
      const base = pool.inUse();
      const tap = `${PREFIX}${process.pid}t1`;
      const port: DpdkPort = ctx.dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
      let stack: Stack | undefined;
      let net: Net6 | undefined;
      try {
        // net_tap gives the kernel end the port's MAC: another one, or both form the same link-local address.
        net = createTapNs6(PREFIX, tap, '02:77:00:00:00:02', FAR);
        const ns = net.ns;
        drainRx(port);
        stack = new Stack({ port, ip: '10.77.1.1/24', protocols: [ipv6Protocol({ addresses: [`${NEAR}/64`] })] });
        const svc = startServices(stack, { services: ['http'] });
        stack.start();
        const v6 = ipv6Of(stack)!;
        const states = () => v6.ip6.addresses.map((a) => Addr6State[a.state]).join(',');
        expect(await waitFor(() => v6.ip6.addresses.every((a) => a.state === Addr6State.Preferred), 15_000), states()).to.equal(true);
        expect(stack.port.caps.maxTsoSize, 'the tap offers TSO').to.be.greaterThan(0);
        const t0 = performance.now();
        const r = await curl6(ns, BIG);
        const secs = (performance.now() - t0) / 1000;
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout.split(' ')[0], r.stderr).to.equal(patternSha256(BIG));
        const tcp = stack.tcp.counters;
        console.log(`      ${BIG} bytes over IPv6 in ${secs.toFixed(1)} s; tsoSegments ${tcp.tsoSegments} (${Math.round(tcp.tsoBytes / Math.max(1, tcp.tsoSegments))} B avg), bytesCopied ${tcp.bytesCopied}`);
        expect(tcp.tsoSegments).to.be.greaterThan(0);
        await svc.close();
      } finally {
        if (stack) await stack.close(); else port.close();
        net?.close();
        expect(pool.inUse()).to.equal(base);
        ctx.dpdk.destroyPool(pool);
      }
    });
  });
});
