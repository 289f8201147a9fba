/**
 * The benchmark runs and produces figures (never how fast: no test asserts
 * a time or a speed). Everything runs in child processes, so EAL in the
 * mocha process is untouched, with tiny durations.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Dpdk } from '../src/pmd/dpdk.js';

const MAIN = fileURLToPath(new URL('../bench/main.js', import.meta.url));

interface Run { code: number | null; out: string; err: string }

function start(args: string[]): { child: ChildProcess; done: Promise<Run>; lines: string[] } {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const lines: string[] = [];
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); lines.splice(0, lines.length, ...out.split('\n')); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<Run>((res) => child.once('close', (code) => res({ code, out, err })));
  return { child, done, lines };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('bench smoke', function () {
  this.timeout(120000);
  const children: ChildProcess[] = [];
  const files: string[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const f of files.splice(0)) rmSync(f, { force: true });
  });

  it('runs the in-process workloads over the memory link and writes every table figure to --json', async () => {
    const json = `/tmp/tzX-smoke-${process.pid}.json`;
    files.push(json);
    const r = start(['--only', 'rpc,zc', '--link', 'mem', '--warmup', '20', '--duration', '60', '--json', json]);
    children.push(r.child);
    const res = await r.done;
    expect(res.code, res.err).to.equal(0);
    expect(res.out).to.match(/throughput \(req\/s\)/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { rows: Array<{ workload: string; tzstack: number | null; peerValue: number | null }>; link: string };
    expect(report.link).to.match(/memory link/);
    expect(report.rows.filter((x) => x.workload === 'rpc')).to.have.length(16);
    expect(report.rows.filter((x) => x.workload === 'zero-copy')).to.have.length(3);
    // Every throughput figure was produced (a number, whatever its size).
    for (const x of report.rows) expect(x.tzstack === null || typeof x.tzstack === 'number').to.equal(true);
    expect(report.rows.some((x) => typeof x.tzstack === 'number')).to.equal(true);
  });

  it('line-rate mode: server and client processes over net_memif with two queues, one worker thread per queue', async function () {
    const avail = Dpdk.availability();
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    const sock = `/tmp/tzX-smoke-${process.pid}.sock`;
    files.push(sock);
    const server = start(['--role', 'server', '--dev', `net_memif0,role=server,socket=${sock}`, '--ip', '10.75.3.1/24', '--max-seconds', '60', '--queues', '2', '--mbufs', '8191', '--mem', '256']);
    children.push(server.child);
    expect(await waitFor(() => server.lines.some((l) => l.includes('"event":"ready"')), 30000), 'server ready').to.equal(true);
    for (const workload of ['bulk', 'rpc']) {
      const client = start(['--role', 'client', '--dev', `net_memif0,role=client,socket=${sock}`, '--ip', '10.75.3.2/24', '--peer', '10.75.3.1',
        '--workload', workload, '--size', workload === 'bulk' ? '16384' : '64', '--conns', '2', '--queues', '2', '--warmup', '20', '--duration', '150', '--mbufs', '8191', '--mem', '256']);
      children.push(client.child);
      const res = await client.done;
      expect(res.code, res.err).to.equal(0);
      const line = res.out.split('\n').find((l) => l.startsWith('{"role":"client"'));
      expect(line, res.out + res.err).to.not.equal(undefined);
      const r = JSON.parse(line!) as { connsEstablished: number; bytes: number; gbps: number; reqPerSec: number; mbufsHeldAtExit: number; workers: unknown[] };
      // Two workers (one per memif queue), two connections each.
      expect(r.connsEstablished).to.equal(4);
      expect(r.workers).to.have.length(2);
      expect(r.mbufsHeldAtExit).to.equal(0);
      expect(typeof r.gbps).to.equal('number');
      expect(typeof r.reqPerSec).to.equal('number');
    }
    server.child.kill('SIGTERM');
    const s = await server.done;
    expect(s.code, s.err).to.equal(0);
    const summary = JSON.parse(s.out.split('\n').find((l) => l.startsWith('{"role":"server"'))!) as { connsEstablished: number; mbufsHeldAtExit: number };
    expect(summary.connsEstablished).to.be.at.least(8);
    expect(summary.mbufsHeldAtExit).to.equal(0);
  });
});
