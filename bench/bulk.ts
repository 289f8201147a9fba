/**
 * Bulk transfer over one connection inside one process (the zero-copy
 * against copying experiment, and the per-segment cost), and the kernel
 * peer `iperf3` over loopback.
 */
import { spawn } from 'node:child_process';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { allocTxMbufFor } from '../src/tcp/zc.js';
import { TcpState } from '../src/tcp/state.js';
import type { StackPair } from './link.js';

/** The two application APIs: zero copy (mbufs in and out) or copying (bytes in and out). */
export type Api = 'zc' | 'copy';

/** What a bulk run measured. */
export interface BulkResult {
  gbps: number;
  bytes: number;
  seconds: number;
  /** Frames the two ports transmitted during the measured stretch. */
  frames: number;
  /** Frames carrying data (sender to receiver). */
  dataFrames: number;
  /** Wall-clock ns per frame crossing the link (both stacks' work, tx and rx). */
  nsPerFrame: number;
  /** Wall-clock ns per data segment (sending, receiving and its share of ACKs). */
  nsPerSegment: number;
  /** CPU seconds this process used during the measured stretch (user + system). */
  cpuSeconds: number;
  /** CPU ns per frame: unlike wall-clock, not inflated when other work shares the cores. */
  cpuNsPerFrame: number;
  /** CPU ns per data segment. */
  cpuNsPerSegment: number;
}

let bulkSeq = 0;

/**
 * One connection from `pair.a` to `pair.b`: `size`-byte messages written as
 * fast as the send buffer takes them, read on the other side with the same
 * API, for `durationMs` after `warmupMs`.
 */
export async function tzBulk(pair: StackPair, p: { size: number; api: Api; warmupMs: number; durationMs: number }): Promise<BulkResult> {
  const { a, b, pool } = pair;
  const port = 7100 + (bulkSeq++ % 100);
  const listener = b.tcp.listen(port);
  let received = 0;
  let rx: import('../src/tcp/connection.js').TcpConnection | undefined;
  const readBuf = new Uint8Array(256 * 1024);
  listener.onConnection = (c) => {
    rx = c;
    c.onReadable = p.api === 'zc'
      ? () => { for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { received += pool.pktLen(m); pool.free(m); } }
      : () => { for (let d = c.read(readBuf.length); d !== null; d = c.read(readBuf.length)) received += d.length; };
  };
  const msg = new Uint8Array(p.size).fill(0x33);
  const tx = a.tcp.connect(b.localIp, port);
  const fill = (): void => {
    if (tx.state !== TcpState.Established) return;
    if (p.api === 'zc') {
      while (tx.sendSpace() >= p.size) {
        // The application builds its message in place, after headroom for the headers.
        const m = allocTxMbufFor(tx, p.size);
        if (m === NO_MBUF) break;
        pool.u8[pool.mtod(m)] = 0x33;
        if (!tx.writeMbuf(m)) { pool.free(m); break; }
      }
    } else {
      while (tx.sendSpace() >= p.size) if (tx.write(msg) < p.size) break;
    }
  };
  tx.onConnect = fill;
  tx.onWritable = fill;
  const loop = (until: number): void => {
    while (performance.now() < until) {
      for (let i = 0; i < 32; i++) { pair.poll(); fill(); }
    }
  };
  loop(performance.now() + p.warmupMs);
  const frames0 = a.port.stats.txPackets + b.port.stats.txPackets;
  const data0 = a.port.stats.txPackets;
  const bytes0 = received;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  loop(t0 + p.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const bytes = received - bytes0;
  const frames = a.port.stats.txPackets + b.port.stats.txPackets - frames0;
  const dataFrames = a.port.stats.txPackets - data0;
  tx.onWritable = undefined;
  tx.abort();
  if (rx) { rx.onReadable = undefined; rx.abort(); }
  listener.close();
  for (let i = 0; i < 16; i++) pair.poll();
  return {
    gbps: (bytes * 8) / seconds / 1e9, bytes, seconds, frames, dataFrames,
    nsPerFrame: frames > 0 ? (seconds * 1e9) / frames : NaN,
    nsPerSegment: dataFrames > 0 ? (seconds * 1e9) / dataFrames : NaN,
    cpuSeconds,
    cpuNsPerFrame: frames > 0 ? (cpuSeconds * 1e9) / frames : NaN,
    cpuNsPerSegment: dataFrames > 0 ? (cpuSeconds * 1e9) / dataFrames : NaN,
  };
}

/** What iperf3 measured (receiver side). */
export interface IperfResult { gbps: number; seconds: number; bytes: number }

/** Where iperf3 runs: loopback in this namespace, or server and client in two network namespaces. */
export interface IperfWhere { host: string; serverNs?: string; clientNs?: string }

/** `cmd args` inside network namespace `ns` (as is without one). */
export function inNetns(ns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return ns === undefined ? [cmd, args] : ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

/** Run `iperf3 -c <host> -J` against a one-off `iperf3 -s` on a free port; an error when iperf3 is missing or fails. */
export async function iperf3(seconds: number, where: IperfWhere = { host: '127.0.0.1' }): Promise<IperfResult | { error: string }> {
  const port = 25000 + (process.pid % 5000);
  const [scmd, sargs] = inNetns(where.serverNs, 'iperf3', ['-s', '-1', '-p', String(port), '-B', where.host]);
  const server = spawn(scmd, sargs, { stdio: 'ignore' });
  const serverFailed = new Promise<string>((res) => server.once('error', (e) => res(e.message)));
  try {
    await new Promise((r) => setTimeout(r, 300));
    const [ccmd, cargs] = inNetns(where.clientNs, 'iperf3', ['-c', where.host, '-p', String(port), '-t', String(Math.max(1, Math.round(seconds))), '-J']);
    const run = await Promise.race([
      runCapture(ccmd, cargs, (seconds + 20) * 1000),
      serverFailed.then((e) => ({ code: -1, out: '', err: e })),
    ]);
    if (run.code !== 0) return { error: `iperf3 failed (${run.code}): ${run.err.trim() || run.out.slice(0, 200)}` };
    const j = JSON.parse(run.out) as { end?: { sum_received?: { bits_per_second: number; seconds: number; bytes: number } }; error?: string };
    const r = j.end?.sum_received;
    if (!r) return { error: `iperf3: ${j.error ?? 'no sum_received in its JSON'}` };
    return { gbps: r.bits_per_second / 1e9, seconds: r.seconds, bytes: r.bytes };
  } finally {
    if (server.exitCode === null) server.kill('SIGTERM');
  }
}

/** Run a program to completion (killed after `timeoutMs`), capturing its output. */
export function runCapture(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (e) => { clearTimeout(t); res({ code: -1, out, err: e.message }); });
    p.once('close', (code) => { clearTimeout(t); res({ code: code ?? -1, out, err }); });
  });
}
