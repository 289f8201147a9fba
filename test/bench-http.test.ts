/**
 * The HTTP benchmark (`tzstack bench --http`) and its HTML report: the page
 * is built from the figures (checked on a fixed report), and a one-point run
 * of wrk against both stacks produces figures (never how fast they are).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatHttpTable, type HttpPoint, type HttpReport } from '../bench/http.js';
import { lineChart, niceTicks, renderReport } from '../bench/report-html.js';
import { interopSuite } from './helpers/netns.js';

const MAIN = fileURLToPath(new URL('../bench/main.js', import.meta.url));

function point(target: HttpPoint['target'], size: number, conns: number, reqPerSec: number): HttpPoint {
  return {
    target, size, conns, requests: reqPerSec * 2, reqPerSec, mbPerSec: 1, p50Us: 100, p99Us: 300, p999Us: 900, errors: 0,
    cdf: [[1, 50], [50, 100], [99, 300], [99.9, 900]],
  };
}

const FIXED: HttpReport = {
  command: 'tzstack bench --http', startedAt: '2026-12-04T00:00:00Z', machine: { loadavg1: 0.5, cpus: 2 }, secondsPerPoint: 2,
  sizes: [64, 8192], conns: [1, 16], targets: ['tzstack-tap', 'node-kernel'],
  points: [
    point('tzstack-tap', 64, 1, 30000), point('tzstack-tap', 64, 16, 90000), point('tzstack-tap', 8192, 1, 20000), point('tzstack-tap', 8192, 16, 50000),
    point('node-kernel', 64, 1, 15000), point('node-kernel', 64, 16, 45000), point('node-kernel', 8192, 1, 10000), point('node-kernel', 8192, 16, 40000),
  ],
  skipped: [{ target: 'tzstack-af_packet', reason: 'not asked for' }],
};

describe('bench --http: report', () => {
  it('draws one chart per size and metric, the size sweep and the CDFs, with every series and no NaN', () => {
    const html = renderReport({ http: FIXED });
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    // per size: req/s and p99 (4), req/s against size (1), CDFs of the smallest and largest size (2)
    expect(svgs).to.have.length(7);
    for (const s of svgs) {
      expect(s).to.include('tzstack-tap').and.include('node-kernel');
      expect(s).to.not.match(/NaN|undefined|Infinity/);
    }
    expect(html).to.include('not asked for');
    expect(html).to.not.match(/<script/i);
  });

  it('puts points where their values say: the larger value higher on the chart', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', xCategories: [1, 2], series: [{ name: 'a', points: [[1, 10], [2, 20]] }] });
    const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(ys).to.have.length(2);
    expect(ys[1]).to.be.lessThan(ys[0]);
  });

  it('chooses round axis ticks that cover the largest value', () => {
    expect(niceTicks(95)).to.deep.equal([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(12000).at(-1)).to.be.at.least(12000);
    expect(niceTicks(0)).to.deep.equal([0, 1]);
  });

  it('prints a table with tzstack against the kernel as a ratio', () => {
    const t = formatHttpTable(FIXED);
    expect(t).to.match(/64 B\s+1\s+30000\s+300\s+15000\s+300\s+2\.00×/);
    expect(t).to.include('note: tzstack-af_packet: not asked for');
  });
});

interopSuite('bench --http: one point against each stack', 'tzh', {
  initDpdk: false, timeoutMs: 120000,
  needs: [{ cmd: ['sh', '-c', 'command -v wrk'], missing: 'wrk is not installed' }],
}, () => {
  it('measures tzstack (tap and af_packet) and Node over the kernel, and writes the page', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tzT-http-'));
    try {
      const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [MAIN, '--http', '--http-sizes', '1024', '--http-conns', '4', '--duration', '1000', '--warmup', '0',
          '--json', join(dir, 'r.json'), '--report', join(dir, 'rep')], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '', stderr = '';
        c.stdout.on('data', (d) => { stdout += d; });
        c.stderr.on('data', (d) => { stderr += d; });
        c.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      expect(out.code, out.stderr).to.equal(0);
      const r = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as HttpReport;
      expect(r.skipped, JSON.stringify(r.skipped)).to.deep.equal([]);
      expect(r.points.map((p) => p.target).sort()).to.deep.equal(['node-kernel', 'tzstack-af_packet', 'tzstack-tap']);
      for (const p of r.points) {
        expect(p.requests, p.target).to.be.greaterThan(0);
        expect(p.errors, p.target).to.equal(0);
        expect(p.p50Us, p.target).to.be.greaterThan(0);
      }
      expect(existsSync(join(dir, 'rep', 'index.html'))).to.equal(true);
      const ns = spawn('ip', ['netns', 'list']);
      let list = '';
      ns.stdout.on('data', (d) => { list += d; });
      await new Promise((res) => ns.on('close', res));
      expect(list).to.not.include(`tzh-`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
