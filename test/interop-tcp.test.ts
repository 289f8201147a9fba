/**
 * TCP interop with a real Linux host: tzstack runs over DPDK `net_af_packet`
 * on a veth whose far end sits in a namespace. Linux clients (curl, python)
 * talk to tzstack's services, and tzstack's HTTP client fetches from a
 * `python3 -m http.server` in the namespace — on a clean link and with 2 %
 * loss injected on tzstack's side (both directions).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { httpFetch } from '../src/app/fetch.js';
import { patternSha256 } from '../src/app/pattern.js';
import { startServices, type ServicesHandle } from '../src/app/services.js';
import type { DpdkMempool } from '../src/pmd/dpdk.js';
import { ImpairedPort } from '../src/pmd/impaired.js';
import type { Port } from '../src/pmd/port.js';
import { Stack } from '../src/stack.js';
import { createVethNs, interopSuite, nsSpawn, runAsync, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzS';
const PYTHON = '/usr/bin/python3';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Echo client: N connections in parallel, each sends `size` random bytes, half-closes, and checks the echo. */
const PY_ECHO = `
import socket, sys, os, threading
host, port, conns, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad = []
def one(i):
    try:
        data = os.urandom(size)
        s = socket.create_connection((host, port), timeout=30)
        def send():
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=send); t.start()
        got = bytearray()
        while True:
            b = s.recv(65536)
            if not b: break
            got += b
        t.join(); s.close()
        if bytes(got) != data: bad.append((i, len(got)))
    except Exception as e:
        bad.append((i, repr(e)))
ts = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
print('OK' if not bad else 'BAD %r' % bad[:5])
`;

interopSuite('interop: TCP with a Linux host', PREFIX, {
  timeoutMs: 240_000,
  needs: [
    { cmd: ['curl', '--version'], missing: 'curl is not installed' },
    { cmd: [PYTHON, '--version'], missing: `${PYTHON} is missing` },
  ],
}, (ctx) => {
  for (const lossy of [false, true]) {
    describe(lossy ? 'with 2% loss injected on tzstack\'s side' : 'on a clean link', () => {
      let pool: DpdkMempool;
      let net: VethNet | undefined;
      let stack: Stack | undefined;
      let impaired: ImpairedPort | undefined;
      let services: ServicesHandle | undefined;
      let httpd: ChildProcess | undefined;
      let dir: string | undefined;
      let startInUse = 0;

      before(async () => {
        net = createVethNs(PREFIX, lossy ? '10.74.31' : '10.74.30');
        pool = ctx.dpdk.createPool({ count: 16383 });
        startInUse = pool.inUse();
        let port: Port = ctx.dpdk.openPort(net.devargs, { pool });
        if (lossy) port = impaired = new ImpairedPort(port, { seed: 74, tx: { loss: 0.02 }, rx: { loss: 0.02 } });
        stack = new Stack({ port, ip: `${net.nearIp}/24` });
        stack.start();
        services = startServices(stack);
        // A Linux HTTP server in the namespace for tzstack's client.
        dir = mkdtempSync(join(tmpdir(), 'tzS-http-'));
        const file = Buffer.alloc(3 * 1024 * 1024);
        for (let i = 0; i < file.length; i++) file[i] = (i * 7 + (i >>> 11)) & 0xff;
        writeFileSync(join(dir, 'file.bin'), file);
        httpd = nsSpawn(net.ns, [PYTHON, '-m', 'http.server', '8000', '--bind', net.farIp, '--directory', dir]);
        for (let i = 0; i < 50; i++) {
          if (net.run(['sh', '-c', `ss -ltn | grep -q ${net.farIp}:8000`]).status === 0) break;
          await sleep(100);
        }
      });

      after(async () => {
        httpd?.kill('SIGKILL');
        if (services) await Promise.race([services.close(), sleep(3000)]);
        if (stack) await stack.close();
        net?.close();
        if (dir) rmSync(dir, { recursive: true, force: true });
        if (pool) {
          expect(pool.inUse(), 'mbufs left after stack.close()').to.equal(startInUse);
          ctx.dpdk.destroyPool(pool);
        }
      });

      it('curl GET / gets the tzstack page from an unmodified Node http.Server', async () => {
        const r = await net!.runAsync(['curl', '-sS', '--max-time', '60', `http://${net!.nearIp}/`], 90_000);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.contain('tzstack');
      });

      it('curl GET /bytes/<n>: the body matches the documented pattern by sha256', async () => {
        const n = lossy ? 5_000_000 : 50_000_000;
        const r = await net!.runAsync(['sh', '-c', `curl -sS --max-time 180 http://${net!.nearIp}/bytes/${n} | sha256sum`], 200_000);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout.split(' ')[0]).to.equal(patternSha256(n));
      });

      it('python echo clients (20 in parallel, half-close) get every byte back', async () => {
        const r = await net!.runAsync([PYTHON, '-c', PY_ECHO, net!.nearIp, '7', lossy ? '5' : '20', '200000'], 120_000);
        expect(r.stdout.trim(), r.stderr).to.equal('OK');
      });

      it('100 concurrent curl connections', async function () {
        if (lossy) this.skip();
        const cmd = `seq 100 | xargs -P 100 -I{} curl -sS -o /dev/null -w '%{http_code}\\n' --max-time 60 http://${net!.nearIp}/bytes/10000 | sort | uniq -c`;
        const r = await net!.runAsync(['sh', '-c', cmd], 120_000);
        expect(r.stdout.trim(), r.stderr).to.equal('100 200');
      });

      it('tzstack fetches a file from python3 -m http.server in the namespace', async () => {
        const parts: Buffer[] = [];
        const { PassThrough } = await import('node:stream');
        const sink = new PassThrough();
        sink.on('data', (d: Buffer) => parts.push(d));
        const res = await httpFetch(stack!, `http://${net!.farIp}:8000/file.bin`, { output: sink, sha256: true, idleTimeoutMs: 60_000 });
        expect(res.status).to.equal(200);
        const file = Buffer.alloc(3 * 1024 * 1024);
        for (let i = 0; i < file.length; i++) file[i] = (i * 7 + (i >>> 11)) & 0xff;
        expect(res.bytes).to.equal(file.length);
        expect(res.sha256).to.equal(createHash('sha256').update(file).digest('hex'));
        expect(Buffer.concat(parts).equals(file)).to.equal(true);
        if (lossy) expect(impaired!.impairStats.rx.lost + impaired!.impairStats.tx.lost).to.be.greaterThan(0);
      });
    });
  }

  describe('tzstack fetch (the CLI, its own process) against python3 -m http.server', () => {
    let net: VethNet | undefined;
    let httpd: ChildProcess | undefined;
    let dir: string | undefined;
    let file: Buffer;

    before(async () => {
      net = createVethNs(PREFIX, '10.74.32');
      dir = mkdtempSync(join(tmpdir(), 'tzS-cli-'));
      file = Buffer.alloc(2 * 1024 * 1024);
      for (let i = 0; i < file.length; i++) file[i] = (i * 13 + (i >>> 9)) & 0xff;
      writeFileSync(join(dir, 'file.bin'), file);
      httpd = nsSpawn(net.ns, [PYTHON, '-m', 'http.server', '8000', '--bind', net.farIp, '--directory', dir]);
      for (let i = 0; i < 50; i++) {
        if (net.run(['sh', '-c', `ss -ltn | grep -q ${net.farIp}:8000`]).status === 0) break;
        await sleep(100);
      }
    });

    after(() => {
      httpd?.kill('SIGKILL');
      net?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const impair of [undefined, 'loss=0.02,seed=5']) {
      it(`saves the body with -o and exits 0${impair ? ` (--impair ${impair})` : ''}`, async () => {
        const out = join(dir!, `got-${impair ? 'lossy' : 'clean'}.bin`);
        const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
        const argv = [process.execPath, cli, 'fetch', '--dev', net!.devargs, '--ip', `${net!.nearIp}/24`, '--mem', '128', '--sha256',
          ...(impair ? ['--impair', impair] : []), `http://${net!.farIp}:8000/file.bin`, '-o', out];
        const r = await runAsync(argv, 120_000);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stderr).to.contain('200 OK');
        expect(r.stderr).to.contain(createHash('sha256').update(file).digest('hex'));
        expect(readFileSync(out).equals(file)).to.equal(true);
      });
    }

    it('exits non-zero on a 404', async () => {
      const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
      const r = await runAsync([process.execPath, cli, 'fetch', '--dev', net!.devargs, '--ip', `${net!.nearIp}/24`, '--mem', '128',
        `http://${net!.farIp}:8000/nope`, '-o', '/dev/null'], 60_000);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.contain('404');
    });
  });
});
