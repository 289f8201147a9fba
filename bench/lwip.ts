/**
 * The C anchor: lwIP (Debian's liblwip, raw TCP API) over the same crossed
 * net_ring pair and shim as tzstack's in-process figures, in its own
 * process (bench/lwip/lwipbench.c; built here with make when missing or
 * stale, never committed). See that file for what it copies.
 */
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RUNTIME_DIR } from '../src/pmd/dpdk.js';
import { runCapture } from './bulk.js';
import type { RpcResult } from './rpc.js';

/** One RPC figure of the harness. */
export interface LwipRpc extends RpcResult { size: number; conns: number; connsEstablished: number }

/** The harness's JSON line. */
export interface LwipReport {
  lwip: string;
  rpc: LwipRpc[];
  bulk: { connsEstablished: number; gbps: number; bytes: number; seconds: number; frames: number; dataFrames: number; cpuNsPerFrame: number; cpuNsPerSegment: number } | null;
  txDrops: number;
  allocFailures: number;
  writeFailures: number;
  mbufsLeft: number;
  copies: string;
}

const DIR = (): string => fileURLToPath(new URL('../../bench/lwip/', import.meta.url));

/** Build the harness (make is a no-op when it is up to date); throws with make's message. */
export async function buildLwip(): Promise<string> {
  const dir = DIR();
  if (!existsSync(`${dir}lwipbench.c`)) throw new Error(`lwIP harness source not found in ${dir}`);
  const r = await runCapture('make', ['-s', '-C', dir], 120000);
  if (r.code !== 0) throw new Error(`building the lwIP harness: ${(r.err || r.out).trim().split('\n').slice(-2).join(' ')}`);
  return `${dir}lwipbench`;
}

/** Run every lwIP figure in one process: RPC `rpc` (size x conns) and one bulk connection. */
export async function runLwip(p: { warmupMs: number; durationMs: number; rpc?: Array<[number, number]>; bulk?: boolean }): Promise<LwipReport> {
  const bin = await buildLwip();
  const rpc = (p.rpc ?? [[64, 1], [64, 64], [8192, 1], [8192, 64]]).map(([s, c]) => `${s}x${c}`).join(',');
  const args = ['--mem', '256', '--prefix', `tzX-lwip-${process.pid}`, '--warmup', String(p.warmupMs), '--duration', String(p.durationMs),
    '--rpc', rpc, '--bulk', p.bulk === false ? '0' : '1'];
  const n = rpc.split(',').length + (p.bulk === false ? 0 : 1);
  let r: Awaited<ReturnType<typeof runCapture>>;
  try {
    r = await runCapture(bin, args, n * (p.warmupMs + p.durationMs + 6000) + 30000);
  } finally {
    // DPDK leaves its runtime directory (the file prefix's) behind the process.
    rmSync(`${RUNTIME_DIR}/tzX-lwip-${process.pid}`, { recursive: true, force: true });
  }
  const line = r.out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`lwIP harness exited with ${r.code}: ${r.err.trim().split('\n').slice(-1)[0] ?? ''}`);
  const j = JSON.parse(line) as LwipReport & { error?: string };
  if (j.error) throw new Error(`lwIP harness: ${j.error}`);
  return j;
}
