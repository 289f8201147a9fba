/**
 * HTTP benchmarking the way the papers do it: wrk in a Linux network
 * namespace against `tzstack serve` (Node's `http.Server` over tzstack
 * sockets) and against the same `http.Server` over Node's `net` and the
 * kernel, in one run, for several response sizes and connection counts.
 *
 * Targets (each in namespaces and devices this run creates and removes):
 * - `tzstack-tap`: `tzstack serve` on a net_tap device moved into the
 *   client's namespace (TSO and checksum offload toward the kernel);
 * - `tzstack-af_packet`: `tzstack serve` on net_af_packet at the near end of
 *   a veth pair whose far end is in the client's namespace (MTU 1500, no
 *   offloads: the kernel side has them switched off);
 * - `node-kernel`: the same HTTP server in one namespace, wrk in another,
 *   joined by a veth pair at MTU 1500 (the kernel's own GSO/GRO on).
 * wrk runs with one thread (the machine has two cores: one for the server,
 * one for the load), keep-alive, GET /bytes/<size>.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLoad, round } from './measure.js';
import { createVeth, type VethNet } from './veth.js';

/** What wrk was pointed at. */
export const HTTP_TARGETS = ['tzstack-tap', 'tzstack-af_packet', 'node-kernel'] as const;
export type HttpTarget = typeof HTTP_TARGETS[number];

/** One wrk run. */
export interface HttpPoint {
  target: HttpTarget;
  /** Response body bytes. */
  size: number;
  conns: number;
  requests: number;
  reqPerSec: number;
  /** Response bytes (headers included) per second, in MB/s. */
  mbPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  /** Socket errors, timeouts and non-2xx responses wrk counted. */
  errors: number;
  /** Latency distribution: [percentile, µs] pairs, for the CDF chart. */
  cdf: Array<[number, number]>;
}

/** Everything one `--http` run measured. */
export interface HttpReport {
  command: string;
  startedAt: string;
  machine: { loadavg1: number; cpus: number };
  secondsPerPoint: number;
  sizes: number[];
  conns: number[];
  targets: HttpTarget[];
  points: HttpPoint[];
  /** Targets that could not run, and why. */
  skipped: Array<{ target: HttpTarget; reason: string }>;
  /** CPUs the server and wrk were pinned to (taskset), or null when not pinned and why. */
  pinning?: { server: number; wrk: number } | { server: null; wrk: null; reason: string };
}

/** Options of {@link runHttpBench}. */
export interface HttpBenchOptions {
  sizes: number[];
  conns: number[];
  targets: HttpTarget[];
  /** wrk's -d per point, whole seconds. */
  seconds: number;
  /** Unrecorded wrk run before a target's first point, seconds (0: none). */
  warmupSeconds: number;
  command: string;
  /**
   * Pin every target's server to CPU 0 and wrk to CPU 1 with taskset
   * (default false; needs two CPUs and taskset). On the two-core machine
   * unpinned runs of one point vary by up to 1.5x from run to run (tzstack
   * 8 KB x 16: 8,900-13,200 req/s), because the scheduler moves wrk onto the
   * core tzstack busy-polls (its transmit syscall wakes wrk there). Pinning
   * raised both tzstack and the kernel alike (8 KB x 200: tzstack 15,009,
   * kernel 20,770 req/s pinned; 12,659 and 18,168 unpinned, one run each),
   * so the ratio stayed at about 0.7x; it is a knob for steadier figures,
   * not a fix.
   */
  pin?: boolean;
}

const CDF_PERCENTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 99.5, 99.9, 99.99];

/** wrk's `done` hook printing one JSON line (latencies in µs). */
const WRK_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  local cdf = {}
  for _, p in ipairs({${CDF_PERCENTILES.join(', ')}}) do
    cdf[#cdf + 1] = string.format("[%s,%d]", p, latency:percentile(p))
  end
  io.write(string.format('TZWRK {"requests":%d,"durationUs":%d,"bytes":%d,"errors":%d,"p50":%d,"p99":%d,"p999":%d,"cdf":[%s]}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), table.concat(cdf, ",")))
end
`;

const MAIN = (): string => fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const HTTPSERVE = (): string => fileURLToPath(new URL('./httpserve.js', import.meta.url));

function sh(argv: string[]): void {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${(r.stderr || String(r.error ?? '')).trim()}`);
}
function tryRun(argv: string[]): void { spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: 30000 }); }

/** A server under test and the namespace wrk runs in. */
interface Env {
  clientNs: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Start a process and resolve once a line of its stdout matches `ready`. */
function startUntil(argv: string[], ready: RegExp, what: string): Promise<ChildProcess> {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${what}: not ready after 30 s: ${err.trim()}`)); }, 30000);
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (ready.test(out)) { clearTimeout(t); resolve(child); } });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`${what} exited (${c}) before ready: ${err.trim()}`)); });
  });
}

/** SIGINT, then SIGKILL after `ms`; resolves once the process is gone. */
function stopProcess(child: ChildProcess, ms = 10000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGINT');
  });
}

const TZ_PREFIX = 'tzh';

/** CPUs the server and wrk run on (see {@link HttpBenchOptions.pin}); null = unpinned. */
let pinned: { server: number; wrk: number } | null = null;

/** Why pinning is not possible here, or null when it is. */
function pinUnavailable(): string | null {
  if (cpus().length < 2) return 'fewer than two CPUs';
  const t = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  return t.error || t.status !== 0 ? 'taskset is not usable' : null;
}

/** `argv` run on `cpu` when pinning (taskset's affinity survives ip netns exec and exec). */
function onCpu(which: 'server' | 'wrk', argv: string[]): string[] {
  return pinned === null ? argv : ['taskset', '-c', String(pinned[which]), ...argv];
}

function names(kind: string): { ns: string; near: string; far: string } {
  const id = `${process.pid}`;
  return { ns: `${TZ_PREFIX}-${id}-${kind}`, near: `${TZ_PREFIX}${id}${kind}n`.slice(0, 15), far: `${TZ_PREFIX}${id}${kind}f`.slice(0, 15) };
}

async function setUpKernel(): Promise<Env> {
  const net: VethNet = createVeth(1500);
  try {
    const server = await startUntil(onCpu('server', ['ip', 'netns', 'exec', net.serverNs, process.execPath, HTTPSERVE(), net.serverIp, '8080']),
      /"ready"/, 'node http server');
    return {
      clientNs: net.clientNs, host: net.serverIp, port: 8080,
      close: async () => { await stopProcess(server); net.remove(); },
    };
  } catch (e) {
    net.remove();
    throw e;
  }
}

async function setUpAfPacket(): Promise<Env> {
  const n = names('a');
  const cleanup = (): void => { tryRun(['ip', 'link', 'del', n.near]); tryRun(['ip', 'netns', 'del', n.ns]); };
  process.once('exit', cleanup);
  try {
    sh(['ip', 'netns', 'add', n.ns]);
    sh(['ip', 'link', 'add', n.near, 'type', 'veth', 'peer', 'name', n.far]);
    sh(['ip', 'link', 'set', n.far, 'netns', n.ns]);
    // The kernel would leave TCP checksums to the "NIC" and send GSO frames.
    tryRun(['ethtool', '-K', n.near, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    tryRun(['ip', 'netns', 'exec', n.ns, 'ethtool', '-K', n.far, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    sh(['ip', 'link', 'set', n.near, 'up']);
    sh(['ip', '-n', n.ns, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', n.ns, 'addr', 'add', '10.78.1.2/24', 'dev', n.far]);
    sh(['ip', '-n', n.ns, 'link', 'set', n.far, 'up']);
    const server = await startUntil(onCpu('server', [process.execPath, MAIN(), 'serve', '--dev', `net_af_packet0,iface=${n.near}`,
      '--ip', '10.78.1.1/24', '--services', 'http', '--mem', '256', '--busy-poll']), /ready/, 'tzstack serve (af_packet)');
    return {
      clientNs: n.ns, host: '10.78.1.1', port: 80,
      close: async () => { await stopProcess(server); cleanup(); process.removeListener('exit', cleanup); },
    };
  } catch (e) {
    cleanup();
    process.removeListener('exit', cleanup);
    throw e;
  }
}

async function setUpTap(): Promise<Env> {
  const n = names('t');
  const tap = n.near;
  const cleanup = (): void => { tryRun(['ip', '-n', n.ns, 'link', 'del', tap]); tryRun(['ip', 'netns', 'del', n.ns]); };
  process.once('exit', cleanup);
  let server: ChildProcess | undefined;
  try {
    server = await startUntil(onCpu('server', [process.execPath, MAIN(), 'serve', '--dev', `net_tap0,iface=${tap}`,
      '--ip', '10.78.2.1/24', '--services', 'http', '--mem', '256', '--busy-poll']), /ready/, 'tzstack serve (tap)');
    sh(['ip', 'netns', 'add', n.ns]);
    sh(['ip', 'link', 'set', tap, 'netns', n.ns]);
    // Requests are small: the kernel sends them unsegmented, but leaves checksums to the device.
    tryRun(['ip', 'netns', 'exec', n.ns, 'ethtool', '-K', tap, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off']);
    sh(['ip', '-n', n.ns, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', n.ns, 'addr', 'add', '10.78.2.2/24', 'dev', tap]);
    sh(['ip', '-n', n.ns, 'link', 'set', tap, 'up']);
    const s = server;
    return {
      clientNs: n.ns, host: '10.78.2.1', port: 80,
      close: async () => { await stopProcess(s); cleanup(); process.removeListener('exit', cleanup); },
    };
  } catch (e) {
    if (server) await stopProcess(server);
    cleanup();
    process.removeListener('exit', cleanup);
    throw e;
  }
}

const SETUP: Record<HttpTarget, () => Promise<Env>> = {
  'tzstack-tap': setUpTap, 'tzstack-af_packet': setUpAfPacket, 'node-kernel': setUpKernel,
};

interface WrkOut { requests: number; durationUs: number; bytes: number; errors: number; p50: number; p99: number; p999: number; cdf: Array<[number, number]> }

/** One wrk run inside `ns`; resolves with its figures or an error message. */
function wrk(ns: string, url: string, conns: number, seconds: number, lua: string): Promise<WrkOut | { error: string }> {
  return new Promise((resolve) => {
    const argv = onCpu('wrk', ['ip', 'netns', 'exec', ns, 'wrk', '-t1', `-c${conns}`, `-d${seconds}s`, '--timeout', '5s', '-s', lua, url]);
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const t = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('error', (e) => { clearTimeout(t); resolve({ error: `wrk: ${e.message}` }); });
    child.once('close', (code) => {
      clearTimeout(t);
      const line = /TZWRK (\{.*\})/.exec(out);
      if (code !== 0 || !line) { resolve({ error: `wrk exited ${code}: ${(err || out).trim().slice(0, 300)}` }); return; }
      resolve(JSON.parse(line[1]) as WrkOut);
    });
  });
}

/** A status line that updates in place on a terminal and says nothing otherwise. */
class StatusLine {
  private readonly tty = process.stderr.isTTY === true;
  update(msg: string): void { if (this.tty) process.stderr.write(`\r\x1b[K${msg}`); }
  done(msg: string): void { if (this.tty) process.stderr.write(`\r\x1b[K${msg}\n`); }
}

/** Whether wrk and network namespaces are usable here; otherwise why not. */
export function httpBenchAvailability(): { ok: true } | { ok: false; reason: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, reason: 'network namespaces need root' };
  const w = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (w.error) return { ok: false, reason: 'wrk is not installed (npm run setup installs it)' };
  return { ok: true };
}

/** Run every target over every size × connection count. */
export async function runHttpBench(opts: HttpBenchOptions): Promise<HttpReport> {
  const report: HttpReport = {
    command: opts.command, startedAt: new Date().toISOString(), machine: machineLoad(),
    secondsPerPoint: opts.seconds, sizes: opts.sizes, conns: opts.conns, targets: opts.targets, points: [], skipped: [],
    pinning: { server: null, wrk: null, reason: 'not asked' },
  };
  const why = opts.pin !== true ? 'not asked' : pinUnavailable();
  pinned = why === null ? { server: 0, wrk: 1 } : null;
  report.pinning = pinned ?? { server: null, wrk: null, reason: why! };
  const avail = httpBenchAvailability();
  if (!avail.ok) {
    for (const target of opts.targets) report.skipped.push({ target, reason: avail.reason });
    return report;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tzstack-wrk-'));
  const lua = join(dir, 'report.lua');
  writeFileSync(lua, WRK_LUA);
  const status = new StatusLine();
  try {
    for (const target of opts.targets) {
      let env: Env;
      status.update(`http: ${target}: setting up`);
      try {
        env = await SETUP[target]();
      } catch (e) {
        report.skipped.push({ target, reason: (e as Error).message });
        status.done(`http: ${target}: skipped (${(e as Error).message.slice(0, 100)})`);
        continue;
      }
      try {
        const url = (size: number): string => `http://${env.host}:${env.port}/bytes/${size}`;
        if (opts.warmupSeconds > 0) {
          status.update(`http: ${target}: warming up`);
          await wrk(env.clientNs, url(opts.sizes[0]), Math.max(...opts.conns), opts.warmupSeconds, lua);
        }
        const total = opts.sizes.length * opts.conns.length;
        let k = 0;
        let failure: string | undefined;
        for (const size of opts.sizes) {
          for (const conns of opts.conns) {
            status.update(`http: ${target}: ${size} B × ${conns} conns (${++k}/${total})`);
            const r = await wrk(env.clientNs, url(size), conns, opts.seconds, lua);
            if ('error' in r) { failure ??= r.error; continue; }
            const s = r.durationUs / 1e6;
            report.points.push({
              target, size, conns, requests: r.requests, reqPerSec: round(r.requests / s, 1),
              mbPerSec: round(r.bytes / s / 1e6, 2), p50Us: r.p50, p99Us: r.p99, p999Us: r.p999, errors: r.errors, cdf: r.cdf,
            });
          }
        }
        if (failure !== undefined) report.skipped.push({ target, reason: `some points failed: ${failure}` });
        const best = report.points.filter((p) => p.target === target).reduce((a, p) => Math.max(a, p.reqPerSec), 0);
        status.done(`http: ${target}: ${k} points, best ${Math.round(best)} req/s`);
      } finally {
        await env.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return report;
}

/** The text table: one row per size × connections, each target's req/s and p99, and tzstack's ratio to the kernel. */
export function formatHttpTable(r: HttpReport): string {
  const get = (t: HttpTarget, size: number, conns: number): HttpPoint | undefined =>
    r.points.find((p) => p.target === t && p.size === size && p.conns === conns);
  const cols = ['size', 'conns', ...r.targets.flatMap((t) => [`${t} req/s`, 'p99 µs']),
    ...r.targets.filter((t) => t !== 'node-kernel' && r.targets.includes('node-kernel')).map((t) => `${t.replace('tzstack-', '')}/kernel`)];
  const rows: string[][] = [];
  for (const size of r.sizes) {
    for (const conns of r.conns) {
      const row = [`${size} B`, String(conns)];
      for (const t of r.targets) {
        const p = get(t, size, conns);
        row.push(p ? String(Math.round(p.reqPerSec)) : '-', p ? String(p.p99Us) : '-');
      }
      const k = get('node-kernel', size, conns);
      for (const t of r.targets) {
        if (t === 'node-kernel' || !r.targets.includes('node-kernel')) continue;
        const p = get(t, size, conns);
        row.push(p && k && k.reqPerSec > 0 ? `${(p.reqPerSec / k.reqPerSec).toFixed(2)}×` : '-');
      }
      rows.push(row);
    }
  }
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [
    `HTTP GET /bytes/<size>, wrk -t1 keep-alive, ${r.secondsPerPoint} s per point; node-kernel = the same Node http.Server over the kernel (veth, MTU 1500)`,
    ...(r.pinning ? [r.pinning.server === null ? `not pinned (${r.pinning.reason})`
      : `server on CPU ${r.pinning.server}, wrk on CPU ${r.pinning.wrk} (taskset)`] : []),
    line(cols), ...rows.map(line),
  ];
  for (const s of r.skipped) out.push(`note: ${s.target}: ${s.reason}`);
  return out.join('\n') + '\n';
}
