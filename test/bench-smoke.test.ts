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

type SegRun = { mbufsLeft: number; bytesCopied: number } | null;

interface Run { code: number | null; out: string; err: string }

interface Row {
  workload: string; config: string; metric: string; unit: string; higherIsBetter: boolean;
  tzstack: number | null; peer: string; peerValue: number | null; ratio: number | null; via: string;
}

/** A table row has its shape, and its ratio is tzstack / peer (rounded as the suite rounds) or null. */
function checkRow(x: Row): void {
  const what = `${x.workload} / ${x.config} / ${x.metric} / ${x.peer}`;
  for (const k of ['workload', 'config', 'metric', 'unit', 'peer', 'via'] as const) expect(x[k], `${what}: ${k}`).to.be.a('string').and.not.equal('');
  expect(x.higherIsBetter, what).to.be.a('boolean');
  for (const k of ['tzstack', 'peerValue', 'ratio'] as const) {
    if (x[k] !== null) expect(Number.isFinite(x[k]), `${what}: ${k}`).to.equal(true);
  }
  if (x.tzstack !== null && x.peerValue !== null && x.peerValue !== 0) {
    // Each of the three is rounded to 3 decimals: allow for that much, no more.
    const r = x.tzstack / x.peerValue;
    const tol = 0.0005 + Math.abs(r) * (0.0005 / Math.max(Math.abs(x.tzstack), 1e-9) + 0.0005 / Math.abs(x.peerValue)) * 1.01;
    expect(x.ratio, what).to.be.closeTo(r, tol);
  } else {
    expect(x.ratio, what).to.equal(null);
  }
}

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
    const report = JSON.parse(readFileSync(json, 'utf8')) as { rows: Row[]; link: string; errors: string[]; projection: unknown };
    expect(report.link).to.match(/memory link/);
    const rpc = report.rows.filter((x) => x.workload === 'rpc');
    // 4 configurations x (throughput + 3 percentiles) against node net only (no lwip/veth asked).
    expect(rpc).to.have.length(16);
    expect(new Set(rpc.map((x) => x.peer))).to.deep.equal(new Set(['node net']));
    expect(new Set(rpc.map((x) => x.config))).to.deep.equal(new Set(['64 B x 1 conn', '64 B x 64 conns', '8 KB x 1 conn', '8 KB x 64 conns']));
    expect(report.rows.filter((x) => x.workload === 'zero-copy')).to.have.length(3);
    for (const x of report.rows) checkRow(x);
    // Every throughput and goodput figure was produced on both sides.
    for (const x of report.rows.filter((r) => r.metric === 'throughput' || r.metric === 'goodput')) {
      expect(x.tzstack, `${x.workload} ${x.config}`).to.be.a('number');
      expect(x.peerValue, `${x.workload} ${x.config}`).to.be.a('number');
      expect(x.ratio).to.be.a('number');
    }
    expect(report.projection).to.equal(null);
    expect(report.errors.filter((e) => /mbufs still taken/.test(e))).to.deep.equal([]);
  });

  it('per-segment rows and the projection: one child process per figure, mbufs all returned', async () => {
    const json = `/tmp/tzX-smoke-seg-${process.pid}.json`;
    files.push(json);
    const r = start(['--only', 'seg', '--quick', '--segments', '1500', '--seg-conns', '1,16', '--json', json]);
    children.push(r.child);
    const res = await r.done;
    expect(res.code, res.err).to.equal(0);
    expect(res.out).to.match(/projection — PROJECTION, not a measurement/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { rows: Row[]; errors: string[]; raw: Record<string, { mbufsLeft: number; bytesCopied: number } | null>; projection: { rows: Array<{ mtu: number; offloads: string; senderCores: number; receiverCores: number }> } | null };
    for (const x of report.rows) checkRow(x);
    const seg = report.rows.filter((x) => x.workload === 'per segment');
    expect(new Set(seg.map((x) => x.config.split(',')[0]))).to.deep.equal(new Set(['1 bulk conn', '16 bulk conns']));
    for (const m of ['CPU ns per data segment', 'heap bytes per data segment', 'koffi calls per data segment']) {
      expect(seg.filter((x) => x.metric === m), m).to.have.length(2);
    }
    for (const x of seg.filter((r) => r.metric === 'CPU ns per data segment' || r.metric === 'koffi calls per data segment')) expect(x.tzstack, x.metric).to.be.a('number');
    // 16 connections are compared with 1 connection of the same run.
    const cpu1 = seg.find((x) => x.config.startsWith('1 bulk') && x.metric === 'CPU ns per data segment')!;
    const cpu16 = seg.find((x) => x.config.startsWith('16 bulk') && x.metric === 'CPU ns per data segment')!;
    expect(cpu16.peerValue).to.equal(cpu1.tzstack);
    const runs = [report.raw['segcost 1'], report.raw['segcost 16'],
      ...(report.raw['projection runs GRO on'] as unknown as SegRun[]), ...(report.raw['projection runs GRO off'] as unknown as SegRun[])];
    // Quick: the row run and one more with GRO on, two with GRO off.
    expect(runs).to.have.length(6);
    for (const x of runs) {
      expect(x).to.not.equal(null);
      expect(x!.mbufsLeft).to.equal(0);
      expect(x!.bytesCopied).to.equal(0);
    }
    expect(report.errors.filter((e) => /mbufs still taken|segcost/.test(e))).to.deep.equal([]);
    expect(report.projection).to.not.equal(null);
    const p = report.projection!.rows;
    expect(p.map((x) => `${x.mtu} ${x.offloads}`)).to.deep.equal(['1500 TSO/LRO off', '1500 TSO/LRO on', '9000 TSO/LRO off', '9000 TSO/LRO on']);
    for (const x of p) { expect(x.senderCores).to.be.at.least(0); expect(x.receiverCores).to.be.at.least(0); }
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
