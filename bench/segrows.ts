/**
 * Per data segment at 1, 16, 256 and 4,096 concurrent bulk connections:
 * bench/segcost.js in a child process per figure (fresh EAL, pools and
 * JIT), with koffi calls counted (TZSTACK_COUNT_CALLS=1), and instructions
 * per segment where the machine can count them (`perf stat`, or callgrind
 * through bench/callgrind.sh when asked), plus the line-rate projection.
 */
import { fileURLToPath } from 'node:url';
import { runCapture } from './bulk.js';
import type { SegCostResult } from './segcost.js';

/** One connection count's configuration. */
export interface SegConfig {
  conns: number;
  /** Bytes per writeMbuf message. */
  size: number;
  /** Send buffer per connection (undefined: the stack's default). */
  sndBuf?: number;
  mbufs?: number;
  memMb?: number;
}

/**
 * Slots per ring of the in-process link for every per-segment row: a NIC's
 * transmit ring and its peer's receive ring (512 each, a common default).
 * With 4,096 slots, the 4,096-connection row kept the ring full, each frame
 * waiting ~128 receive bursts between the two stacks, long enough to leave
 * the cache before the receiver read it (~4 of its ~19 last-level misses
 * per segment, callgrind's cache simulation); rows with fewer frames in
 * flight are not affected.
 */
export const SEG_RING_SLOTS = 1024;

/**
 * Many connections get smaller buffers and messages so that what is in
 * flight stays near 32 MB (4,096 x the default 1 MB would not fit the pool).
 */
export const SEG_CONFIGS: readonly SegConfig[] = [
  { conns: 1, size: 65536 },
  { conns: 16, size: 65536 },
  { conns: 256, size: 65536, sndBuf: 131072, mbufs: 65535, memMb: 1024 },
  { conns: 4096, size: 16384, sndBuf: 16384, mbufs: 65535, memMb: 1024 },
];

const SEGCOST = (): string => fileURLToPath(new URL('./segcost.js', import.meta.url));
const CALLGRIND = (): string => fileURLToPath(new URL('../../bench/callgrind.sh', import.meta.url));

/** segcost's flags for one configuration. */
export function segFlags(c: SegConfig, extra: { gro?: boolean; split?: boolean; link?: string } = {}): string[] {
  const f = ['--conns', String(c.conns), '--size', String(c.size)];
  if (c.sndBuf !== undefined) f.push('--snd-buf', String(c.sndBuf));
  if (c.mbufs !== undefined) f.push('--mbufs', String(c.mbufs));
  if (c.memMb !== undefined) f.push('--mem', String(c.memMb));
  f.push('--ring', String(SEG_RING_SLOTS));
  if (extra.gro === false) f.push('--gro', 'off');
  if (extra.split) f.push('--split');
  if (extra.link) f.push('--link', extra.link);
  return f;
}

/** Run segcost once in a child process. */
export async function segcostChild(flags: string[], segments: number, warmup: number, countCalls: boolean): Promise<SegCostResult> {
  const env = { ...process.env };
  if (countCalls) env.TZSTACK_COUNT_CALLS = '1';
  else delete env.TZSTACK_COUNT_CALLS;
  const r = await runCaptureEnv(process.execPath, [SEGCOST(), '--segments', String(segments), '--warmup', String(warmup), '--json', ...flags], env, 300000);
  const line = r.out.split('\n').find((l) => l.startsWith('{'));
  if (r.code !== 0 || !line) throw new Error(`segcost ${flags.join(' ')}: exited with ${r.code}: ${r.err.trim().split('\n').slice(-1)[0] ?? ''}`);
  return JSON.parse(line) as SegCostResult;
}

function runCaptureEnv(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): ReturnType<typeof runCapture> {
  return runCapture(cmd, args, timeoutMs, env);
}

/** Whether `perf stat -e instructions` counts here (it does not in most VMs). */
export async function perfInstructionsSupported(): Promise<boolean> {
  const r = await runCapture('perf', ['stat', '-x,', '-e', 'instructions:u', 'true'], 10000);
  if (r.code !== 0) return false;
  const line = r.err.split('\n').find((l) => l.includes('instructions'));
  return line !== undefined && /^\d+,/.test(line);
}

/**
 * Instructions per data segment. perf, when supported: two runs of
 * different lengths (same warm-up), the difference of their counts over the
 * difference of their segments, which cancels start-up. Else callgrind
 * (bench/callgrind.sh: the measured window alone is instrumented; minutes
 * per figure).
 */
export async function instructionsPerSegment(flags: string[], tool: 'perf' | 'callgrind', a = 5000, b = 25000): Promise<number> {
  if (tool === 'callgrind') {
    const r = await runCapture('bash', [CALLGRIND(), String(b - a), '50000', ...flags], 900000);
    const line = r.out.split('\n').find((l) => l.startsWith('{'));
    if (r.code !== 0 || !line) throw new Error(`callgrind.sh: exited with ${r.code}: ${r.err.trim().split('\n').slice(-1)[0] ?? ''}`);
    const j = JSON.parse(line) as { instructionsPerSegment: number; instructions: number; segments: number };
    if (!(j.instructionsPerSegment > 0)) throw new Error(`callgrind: no instructions counted for ${j.segments} segments`);
    return j.instructionsPerSegment;
  }
  const count = async (n: number): Promise<{ ins: number; seg: number }> => {
    const r = await runCapture('perf', ['stat', '-x,', '-e', 'instructions:u', process.execPath, SEGCOST(), '--segments', String(n), '--warmup', '20000', '--json', ...flags], 300000);
    const ins = r.err.split('\n').find((l) => l.includes('instructions'));
    const line = r.out.split('\n').find((l) => l.startsWith('{'));
    if (r.code !== 0 || !ins || !line || !/^\d+,/.test(ins)) throw new Error(`perf stat: exited with ${r.code}`);
    return { ins: Number(ins.split(',')[0]), seg: (JSON.parse(line) as SegCostResult).segments };
  };
  const x = await count(a);
  const y = await count(b);
  const d = Math.round((y.ins - x.ins) / (y.seg - x.seg));
  if (!(d > 0)) throw new Error(`perf stat: the longer run counted no more instructions (${x.ins} vs ${y.ins}): rerun`);
  return d;
}

/** 100GbE line rate (reference sheet): frames per second and TCP payload per frame at each MTU. */
export const LINE_RATE = [
  { mtu: 1500, pps: 8.127e6, mss: 1448, goodputGbps: 94.1 },
  { mtu: 9000, pps: 1.383e6, mss: 8948, goodputGbps: 99.0 },
] as const;

/** Bytes per TSO send or LRO aggregate assumed by the projection. */
export const OFFLOAD_UNIT = 65536;

/** One projected configuration. */
export interface ProjectionRow {
  mtu: number;
  offloads: 'TSO/LRO off' | 'TSO/LRO on';
  /** Data frames per second on the wire. */
  pps: number;
  /** Segments per TSO send / LRO aggregate (1 when off). */
  segsPerUnit: number;
  /** Cores the sending host needs. */
  senderCores: number;
  /** Cores the receiving host needs. */
  receiverCores: number;
}

/** The line-rate projection: inputs measured in this run, the model and its result. */
export interface Projection {
  note: string;
  inputs: {
    /** CPU ns per data segment, receive side, software GRO on / off. */
    receiveNsGro: number;
    receiveNsNoGro: number;
    /** CPU ns per data segment, send side (its ACK processing included), with the ACK ratios seen. */
    sendNsGro: number;
    sendNsNoGro: number;
    acksPerSegmentGro: number;
    acksPerSegmentNoGro: number;
    /** Derived: CPU ns per ACK the sender processes, and per data segment sent without ACKs. */
    perAckNs: number;
    perSendNs: number;
  };
  assumptions: string[];
  rows: ProjectionRow[];
}

/**
 * From two split runs (GRO on and off: the receiver then ACKs at different
 * ratios), the per-ACK and per-send costs of the sender, then the cores for
 * 100 Gb/s line rate at MTU 1500 and 9000 with TSO/LRO off and on.
 */
export function project(gro: SegCostResult, noGro: SegCostResult): Projection {
  const S1 = gro.senderNsPerSegment!, S0 = noGro.senderNsPerSegment!;
  const a1 = gro.acksPerSegment, a0 = noGro.acksPerSegment;
  // S = perSend + acks/segment x perAck, from the two ACK ratios; noise can make the slope negative: clamp.
  let perAck = a0 !== a1 ? (S0 - S1) / (a0 - a1) : 0;
  if (!Number.isFinite(perAck) || perAck < 0) perAck = 0;
  perAck = Math.min(perAck, Math.min(S0, S1) / Math.max(a0, a1, 1e-9));
  const perSend = Math.max(0, S1 - a1 * perAck);
  const R1 = gro.receiverNsPerSegment!, R0 = noGro.receiverNsPerSegment!;
  const rows: ProjectionRow[] = [];
  for (const l of LINE_RATE) {
    for (const on of [false, true]) {
      const k = on ? Math.floor(OFFLOAD_UNIT / l.mss) : 1;
      // Off: every frame costs a measured segment. On: the stack handles one
      // 64 KB unit per k frames at the cost of one segment; the sender still
      // processes the ACKs (at the GRO run's ratio per segment, receiver ACKing aggregates).
      const send = on ? (l.pps / k) * perSend + l.pps * a1 * perAck : l.pps * (perSend + a1 * perAck);
      const recv = on ? (l.pps / k) * R0 : l.pps * R1;
      rows.push({ mtu: l.mtu, offloads: on ? 'TSO/LRO on' : 'TSO/LRO off', pps: l.pps, segsPerUnit: k, senderCores: send / 1e9, receiverCores: recv / 1e9 });
    }
  }
  return {
    note: 'PROJECTION, not a measurement: measured per-segment costs from this run scaled to 100GbE line rate',
    inputs: { receiveNsGro: R1, receiveNsNoGro: R0, sendNsGro: S1, sendNsNoGro: S0, acksPerSegmentGro: a1, acksPerSegmentNoGro: a0, perAckNs: perAck, perSendNs: perSend },
    assumptions: [
      'costs per segment are those of one 64 KB zero-copy bulk connection over the in-process net_ring pair, both stacks in one process, CPU time split by the time each side\'s polls took',
      'cost per frame does not depend on its size (zero copy; checksums offloaded by the NIC), so MTU 9000 only divides the frame rate',
      'TSO on: one send of 64 KB costs what one segment send costs (the header and bookkeeping are per send); ACKs arrive at the GRO run\'s ratio',
      'LRO on: one 64 KB aggregate costs what one segment costs without GRO',
      'no cost for the NIC driver beyond the shim\'s bursts; one core = 1e9 CPU ns per second',
    ],
    rows,
  };
}
