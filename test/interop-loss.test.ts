/**
 * Loss recovery against Linux, as a new user would check it: `tzstack serve --impair loss=P` on a veth over DPDK
 * `net_af_packet`, and a 50 MB download by curl from the namespace, byte
 * exact; then the other direction, `tzstack fetch --impair loss=P` of a
 * 50 MB file from `python3 -m http.server` in the namespace. The loss is
 * injected on tzstack's port, both directions (data and ACKs).
 *
 * What is asserted: completion, byte-exactness (sha256), and from the
 * `--stats` JSON that SACK/RACK recovery did the work (more segments
 * retransmitted by fast/RACK/TLP recovery than by timeouts) when tzstack
 * sends, and that tzstack sent SACK blocks when it receives (Linux's own
 * counters, read with nstat in the namespace, are printed). No time or
 * speed is asserted; throughput is printed.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { patternSha256 } from '../src/app/pattern.js';
import { Dpdk } from '../src/pmd/dpdk.js';
import { createVethNs, interopSuite, nsSpawn, run, startProc as start, waitFor, type Proc, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzR';
const PYTHON = '/usr/bin/python3';
const SIZE = 50_000_000;
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Linux's TCP counters in a namespace (nstat, absolute values). */
function linuxCounters(net: VethNet): Record<string, number> {
  const r = net.run(['nstat', '-az', 'TcpRetransSegs', 'TcpExtTCPTimeouts', 'TcpExtTCPSackRecovery', 'TcpExtTCPLossProbes',
    'TcpExtTCPSACKReorder', 'TcpExtTCPDSACKRecv', 'TcpExtTCPFastRetrans', 'TcpExtTCPLostRetransmit', 'TcpExtTCPSackRecoveryFail']);
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(\w+)\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

type Stats = { stack: { tcp?: Record<string, unknown> }; tcp?: Record<string, unknown>; impair?: Record<string, unknown> };

/** The TCP counters from a --stats report (stack.tcp, or the report's own tcp). */
function tcpCounters(s: Stats): Record<string, unknown> {
  return (s.stack?.tcp ?? s.tcp) as Record<string, unknown>;
}

interopSuite('interop: loss recovery against Linux (50 MB, --impair loss)', PREFIX, {
  timeoutMs: 900_000,
  // tzstack runs in child processes (serve, fetch): this process needs no EAL.
  initDpdk: false,
  needs: [
    { cmd: ['curl', '--version'], missing: 'curl is not installed' },
    { cmd: [PYTHON, '--version'], missing: `${PYTHON} is missing` },
  ],
}, () => {
  for (const [i, loss] of [0.01, 0.05].entries()) {
    describe(`${loss * 100} % loss on tzstack's port`, () => {
      let net: VethNet | undefined;
      let dir: string | undefined;
      let serve: Proc | undefined;
      let httpd: ChildProcess | undefined;

      before(() => {
        net = createVethNs(PREFIX, `10.76.${i + 1}`);
        dir = mkdtempSync(join(tmpdir(), 'tzR-loss-'));
      });

      after(async () => {
        if (serve && serve.child.exitCode === null) { serve.child.kill('SIGKILL'); await serve.done; }
        httpd?.kill('SIGKILL');
        net?.close();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it('curl downloads 50 MB from tzstack serve byte-exact; SACK/RACK recovery, not timeouts, repairs the losses', async () => {
        const stats = join(dir!, 'serve.json');
        serve = start([process.execPath, CLI, 'serve', '--dev', net!.devargs, '--ip', `${net!.nearIp}/24`,
          '--services', 'http', '--impair', `loss=${loss},seed=${11 + i}`, '--stats', stats]);
        expect(await waitFor(() => serve!.stdout.includes('ready'), 30_000), serve.stderr).to.equal(true);
        const before = linuxCounters(net!);
        const t0 = performance.now();
        const r = await net!.runAsync(['sh', '-c',
          `curl -sS --max-time 600 http://${net!.nearIp}/bytes/${SIZE} | sha256sum`], 650_000);
        const secs = (performance.now() - t0) / 1000;
        serve.child.kill('SIGTERM');
        expect(await serve.done, serve.stderr).to.equal(0);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout.split(' ')[0], r.stderr).to.equal(patternSha256(SIZE));
        expect(existsSync(stats)).to.equal(true);
        const s = JSON.parse(readFileSync(stats, 'utf8')) as Stats;
        const tcp = tcpCounters(s);
        const l = tcp.loss as Record<string, number>;
        const linux = linuxCounters(net!);
        console.log(`      ${(SIZE / 1e6).toFixed(0)} MB in ${secs.toFixed(1)} s (${((SIZE * 8) / secs / 1e6).toFixed(1)} Mbit/s) at ${loss * 100} % loss`);
        console.log(`      tzstack (sender): ${JSON.stringify(l)}`);
        console.log(`      tzstack: retransmitsRto ${tcp.retransmitsRto} timeouts ${tcp.timeouts} tlpProbes ${tcp.tlpProbes} undos ${tcp.undos} sackBlocksReceived ${tcp.sackBlocksReceived}; impair ${JSON.stringify(s.impair)}`);
        console.log(`      linux (receiver, delta): ${JSON.stringify(delta(before, linux))}`);
        const recovered = l.retransFast + l.retransRack + l.retransTlp;
        expect(recovered, 'segments repaired by SACK/RACK/TLP').to.be.greaterThan(0);
        expect(recovered, 'recovery rather than timeouts').to.be.greaterThan(5 * l.retransRto);
        expect(l.recoveries).to.be.greaterThan(0);
        expect(l.sackBlocksReceived).to.be.greaterThan(0);
      });

      it('tzstack fetch gets 50 MB from python3 -m http.server byte-exact, sending SACK blocks', async () => {
        const file = join(dir!, 'big.bin');
        const h = createHash('sha256');
        const buf = Buffer.alloc(1 << 20);
        const parts: Buffer[] = [];
        for (let off = 0; off < SIZE; off += buf.length) {
          const n = Math.min(buf.length, SIZE - off);
          const b = Buffer.alloc(n);
          for (let k = 0; k < n; k++) b[k] = ((off + k) * 31 + ((off + k) >>> 13)) & 0xff;
          h.update(b);
          parts.push(b);
        }
        writeFileSync(file, Buffer.concat(parts));
        parts.length = 0;
        const sha = h.digest('hex');
        httpd = nsSpawn(net!.ns, [PYTHON, '-m', 'http.server', '8000', '--bind', net!.farIp, '--directory', dir!]);
        expect(await waitFor(() => net!.run(['sh', '-c', `ss -ltn | grep -q ${net!.farIp}:8000`]).status === 0, 10_000)).to.equal(true);
        const before = linuxCounters(net!);
        const out = join(dir!, 'got.bin');
        const stats = join(dir!, 'fetch.json');
        const t0 = performance.now();
        const f = start([process.execPath, CLI, 'fetch', '--dev', net!.devargs, '--ip', `${net!.nearIp}/24`, '--sha256', '--quiet',
          '--impair', `loss=${loss},seed=${21 + i}`, '--stats', stats, `http://${net!.farIp}:8000/big.bin`, '-o', out]);
        const code = await Promise.race([f.done, sleep(650_000).then(() => { f.child.kill('SIGKILL'); return -2; })]);
        const secs = (performance.now() - t0) / 1000;
        expect(code, f.stderr).to.equal(0);
        expect(f.stderr).to.contain(sha);
        const got = createHash('sha256').update(readFileSync(out)).digest('hex');
        expect(got).to.equal(sha);
        const s = JSON.parse(readFileSync(stats, 'utf8')) as Stats;
        const tcp = tcpCounters(s);
        const linux = delta(before, linuxCounters(net!));
        console.log(`      ${(SIZE / 1e6).toFixed(0)} MB in ${secs.toFixed(1)} s (${((SIZE * 8) / secs / 1e6).toFixed(1)} Mbit/s) at ${loss * 100} % loss`);
        console.log(`      tzstack (receiver): sackBlocksSent ${tcp.sackBlocksSent} oooSegments ${tcp.oooSegments} dupDataSegments ${tcp.dupDataSegments} drops ${JSON.stringify(tcp.drops)}`);
        console.log(`      linux (sender, delta): ${JSON.stringify(linux)}`);
        expect(tcp.sackBlocksSent as number).to.be.greaterThan(0);
      });
    });
  }
});

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b)) out[k] = b[k] - (a[k] ?? 0);
  return out;
}
