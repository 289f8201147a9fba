/**
 * `--report DIR`: one self-contained HTML page (inline SVG, no scripts, no
 * server needed) with the run's figures as charts beside their peers, plus
 * the same figures as JSON next to it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpPoint, HttpReport, HttpTarget } from './http.js';
import type { SuiteReport } from './suite.js';

/** One line of a chart. */
export interface Series { name: string; points: Array<[number, number]> }

/** How a chart lays out its axes. */
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Evenly spaced categories for x (connection counts, sizes), in this order; otherwise a log scale. */
  xCategories?: number[];
  /** Fixed y range (the CDF's 0..100); otherwise 0..a round number above the largest value. */
  yRange?: [number, number];
  xFormat?: (v: number) => string;
}

const COLORS: Record<string, string> = {
  'tzstack-tap': '#d6604d', 'tzstack-af_packet': '#f4a582', 'node-kernel': '#4393c3',
};
const FALLBACK = ['#1b9e77', '#7570b3', '#e7298a', '#66a61e', '#e6ab02'];
const colorOf = (name: string, i: number): string => COLORS[name] ?? FALLBACK[i % FALLBACK.length];

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Round numbers for an axis from 0 to at least `max`. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function shortNum(v: number): string {
  if (Math.abs(v) >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (Math.abs(v) >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

/** A line chart as an SVG element. */
export function lineChart(c: ChartSpec): string {
  const W = 600, H = 340, L = 70, R = 150, T = 34, B = 52;
  const pw = W - L - R, ph = H - T - B;
  const all = c.series.flatMap((s) => s.points);
  let xOf: (v: number) => number;
  let xTicks: number[];
  if (c.xCategories) {
    const cats = c.xCategories;
    xTicks = cats;
    xOf = (v) => L + (cats.length === 1 ? pw / 2 : (cats.indexOf(v) / (cats.length - 1)) * pw);
  } else {
    const xs = all.map((p) => p[0]).filter((v) => v > 0);
    const lo = Math.log10(Math.max(1e-9, Math.min(...xs, 1)));
    const hi = Math.log10(Math.max(...xs, 10));
    const lo10 = Math.floor(lo), hi10 = Math.ceil(hi);
    xTicks = [];
    for (let e = lo10; e <= hi10; e++) xTicks.push(10 ** e);
    xOf = (v) => L + ((Math.log10(Math.max(v, 10 ** lo10)) - lo10) / Math.max(1, hi10 - lo10)) * pw;
  }
  const y0 = c.yRange ? c.yRange[0] : 0;
  const yTicks = c.yRange ? niceTicks(c.yRange[1] - y0).map((t) => t + y0) : niceTicks(Math.max(0, ...all.map((p) => p[1])));
  const yMax = c.yRange ? c.yRange[1] : yTicks[yTicks.length - 1];
  const yOf = (v: number): number => T + ph - ((v - y0) / Math.max(1e-12, yMax - y0)) * ph;
  const fx = c.xFormat ?? shortNum;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(c.title)}">`);
  parts.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  for (const t of yTicks) {
    const y = yOf(t).toFixed(1);
    parts.push(`<line x1="${L}" x2="${L + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${y}" font-size="11" text-anchor="end" dominant-baseline="middle">${shortNum(t)}</text>`);
  }
  for (const t of xTicks) {
    const x = xOf(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`,
      `<text x="${x}" y="${T + ph + 16}" font-size="11" text-anchor="middle">${esc(fx(t))}</text>`);
  }
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${L + pw / 2}" y="${H - 10}" font-size="12" text-anchor="middle">${esc(c.xLabel)}</text>`);
  parts.push(`<text x="16" y="${T + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${T + ph / 2})">${esc(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    const col = colorOf(s.name, i);
    const pts = s.points.filter((p) => Number.isFinite(p[1]) && (!c.xCategories || c.xCategories.includes(p[0])))
      .map((p) => `${xOf(p[0]).toFixed(1)},${yOf(p[1]).toFixed(1)}`);
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (const p of pts) { const [x, y] = p.split(','); parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${col}"/>`); }
    const ly = T + 12 + i * 18;
    parts.push(`<line x1="${L + pw + 12}" x2="${L + pw + 30}" y1="${ly}" y2="${ly}" stroke="${col}" stroke-width="3"/>`,
      `<text x="${L + pw + 36}" y="${ly}" font-size="11" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

const sizeLabel = (b: number): string => (b >= 1024 && b % 1024 === 0 ? `${b / 1024} KB` : `${b} B`);

/** The charts of an HTTP run: per size, throughput and p99 against connections; throughput against size; latency CDFs. */
export function httpCharts(r: HttpReport): string[] {
  const targets = r.targets.filter((t) => r.points.some((p) => p.target === t));
  const pts = (t: HttpTarget, f: (p: HttpPoint) => boolean): HttpPoint[] => r.points.filter((p) => p.target === t && f(p));
  const charts: string[] = [];
  for (const size of r.sizes) {
    charts.push(lineChart({
      title: `Requests/s, ${sizeLabel(size)} responses`, xLabel: 'connections', yLabel: 'requests/s', xCategories: r.conns,
      series: targets.map((t) => ({ name: t, points: pts(t, (p) => p.size === size).map((p) => [p.conns, p.reqPerSec] as [number, number]) })),
    }));
    charts.push(lineChart({
      title: `p99 latency, ${sizeLabel(size)} responses`, xLabel: 'connections', yLabel: 'p99 (µs)', xCategories: r.conns,
      series: targets.map((t) => ({ name: t, points: pts(t, (p) => p.size === size).map((p) => [p.conns, p.p99Us] as [number, number]) })),
    }));
  }
  const conns = r.conns[Math.floor(r.conns.length / 2)];
  if (r.sizes.length > 1) {
    charts.push(lineChart({
      title: `Requests/s against response size, ${conns} connections`, xLabel: 'response size', yLabel: 'requests/s',
      xCategories: r.sizes, xFormat: sizeLabel,
      series: targets.map((t) => ({ name: t, points: pts(t, (p) => p.conns === conns).map((p) => [p.size, p.reqPerSec] as [number, number]) })),
    }));
  }
  for (const size of [r.sizes[0], r.sizes[r.sizes.length - 1]].filter((s, i, a) => a.indexOf(s) === i)) {
    charts.push(lineChart({
      title: `Latency CDF, ${sizeLabel(size)} × ${conns} connections`, xLabel: 'latency (µs, log scale)', yLabel: 'percentile', yRange: [0, 100],
      series: targets.map((t) => ({ name: t, points: (pts(t, (p) => p.size === size && p.conns === conns)[0]?.cdf ?? []).map(([q, us]) => [us, q] as [number, number]) })),
    }));
  }
  return charts;
}

function httpTableHtml(r: HttpReport): string {
  const head = ['size', 'conns', ...r.targets.flatMap((t) => [`${t} req/s`, 'p50 µs', 'p99 µs', 'p99.9 µs'])];
  const rows = r.sizes.flatMap((size) => r.conns.map((conns) => [sizeLabel(size), String(conns), ...r.targets.flatMap((t) => {
    const p = r.points.find((x) => x.target === t && x.size === size && x.conns === conns);
    return p ? [String(Math.round(p.reqPerSec)), String(p.p50Us), String(p.p99Us), String(p.p999Us)] : ['-', '-', '-', '-'];
  })]));
  return table(head, rows);
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>`
    + rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('') + '</tbody></table>';
}

function suiteHtml(s: SuiteReport): string {
  const rows = s.rows.map((x) => [x.workload, x.config, `${x.metric} (${x.unit})`, x.tzstack === null ? '-' : String(Number(x.tzstack.toPrecision(4))),
    x.peer, x.peerValue === null ? '-' : String(Number(x.peerValue.toPrecision(4))), x.ratio === null ? '-' : `${x.ratio.toFixed(2)}×`]);
  const ratios = lineChartBars(s);
  return `<h2>Suite (${esc(s.command)})</h2>${ratios}${table(['workload', 'config', 'metric', 'tzstack', 'peer', 'peer value', 'ratio'], rows)}`;
}

/** The suite's ratios as horizontal bars (1.0 = the peer). */
function lineChartBars(s: SuiteReport): string {
  const rows = s.rows.filter((x) => x.ratio !== null);
  if (rows.length === 0) return '';
  const W = 760, rowH = 18, L = 380, T = 24;
  const H = T + rows.length * rowH + 24;
  const max = Math.max(2, ...rows.map((x) => (x.higherIsBetter ? x.ratio! : 1 / x.ratio!)));
  const xOf = (v: number): number => L + (v / max) * (W - L - 20);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="ratios">`,
    `<text x="0" y="16" font-size="13" font-weight="bold">tzstack ÷ peer (higher is better; the line is 1.0)</text>`];
  rows.forEach((x, i) => {
    const v = x.higherIsBetter ? x.ratio! : 1 / x.ratio!;
    const y = T + i * rowH;
    parts.push(`<text x="${L - 6}" y="${y + 12}" font-size="11" text-anchor="end">${esc(`${x.workload} ${x.config} vs ${x.peer}`)}</text>`,
      `<rect x="${L}" y="${y + 3}" width="${(xOf(v) - L).toFixed(1)}" height="${rowH - 6}" fill="${v >= 1 ? '#d6604d' : '#92c5de'}"/>`,
      `<text x="${(xOf(v) + 4).toFixed(1)}" y="${y + 12}" font-size="10">${v.toFixed(2)}×</text>`);
  });
  parts.push(`<line x1="${xOf(1)}" x2="${xOf(1)}" y1="${T}" y2="${H - 20}" stroke="#333" stroke-dasharray="4 3"/>`, '</svg>');
  return parts.join('');
}

/** The whole page. */
export function renderReport(parts: { http?: HttpReport; suite?: SuiteReport }): string {
  const body: string[] = [];
  const h = parts.http;
  if (h) {
    body.push(`<h2>HTTP: wrk against tzstack serve and against Node http over the kernel</h2>`,
      `<p>${esc(h.command)} — started ${esc(h.startedAt)} — ${h.machine.cpus} CPUs, load ${h.machine.loadavg1} — wrk -t1, keep-alive, `
        + `GET /bytes/&lt;size&gt;, ${h.secondsPerPoint} s per point. Both servers are the same Node <code>http.Server</code>: `
        + `over tzstack sockets (net_tap with TSO, or net_af_packet on a veth) and over Node's <code>net</code> and the Linux kernel (veth, MTU 1500).</p>`);
    body.push(`<div class="charts">${httpCharts(h).join('\n')}</div>`, httpTableHtml(h));
    for (const s of h.skipped) body.push(`<p class="note">${esc(s.target)}: ${esc(s.reason)}</p>`);
  }
  if (parts.suite) body.push(suiteHtml(parts.suite));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tzstack bench report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
table { border-collapse: collapse; margin: 16px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #a33; }
</style></head><body>
<h1>tzstack bench report</h1>
${body.join('\n')}
</body></html>
`;
}

/** Write `index.html` and `report.json` into `dir` (created if missing); returns the page's path. */
export function writeReport(dir: string, parts: { http?: HttpReport; suite?: SuiteReport }): string {
  mkdirSync(dir, { recursive: true });
  const page = join(dir, 'index.html');
  writeFileSync(page, renderReport(parts));
  writeFileSync(join(dir, 'report.json'), JSON.stringify(parts, null, 2) + '\n');
  return page;
}
