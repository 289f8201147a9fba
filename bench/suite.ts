/**
 * The comparative suite: every workload, tzstack and its peer measured in
 * the same run, one table row per figure with the ratio tzstack / peer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { iperf3, tzBulk, type Api, type BulkResult } from './bulk.js';
import { createStackPair, dpdkUsable, type LinkKind, type StackPair } from './link.js';
import { machineLoad, progress, round, sleep } from './measure.js';
import type { PeerResult } from './linerate.js';
import { rawForwardLoop } from './pps.js';
import { nodeRpc, tzRpc, type RpcResult } from './rpc.js';
import { runLwip, type LwipReport } from './lwip.js';
import { createVeth, vethIperf3, vethNodeRpc } from './veth.js';
import { instructionsPerSegment, perfInstructionsSupported, project, SEG_CONFIGS, segcostChild, segFlags, type Projection } from './segrows.js';
import type { SegCostResult } from './segcost.js';

/** The peer names the rows use. */
export const PEER_LWIP = 'lwIP (C) on the same net_ring pair';
export const PEER_NODE_VETH = 'node net veth (2 netns, MTU 1500)';
export const PEER_IPERF_VETH = 'iperf3 veth (2 netns, MTU 1500)';

/** One figure of the table. */
export interface Row {
  workload: string;
  config: string;
  metric: string;
  unit: string;
  /** Whether a larger value is better (ratios read accordingly). */
  higherIsBetter: boolean;
  tzstack: number | null;
  peer: string;
  peerValue: number | null;
  /** tzstack / peer, or null when either is missing. */
  ratio: number | null;
  /** The wire or API the tzstack figure was measured over. */
  via: string;
  note?: string;
}

/** Options of the suite. */
export interface SuiteOptions {
  quick: boolean;
  /** Workloads to run (rpc, bulk, zc, pps). */
  only: string[];
  link: LinkKind;
  /** Override the measured stretch per figure (ms). */
  durationMs?: number;
  warmupMs?: number;
  /** Count instructions per segment with callgrind when perf cannot (minutes). */
  instructions?: boolean;
  /** Segments per per-segment figure (default 30,000, 120,000 without quick). */
  segments?: number;
  /** Connection counts of the per-segment rows (default 1, 16, 256, 4096). */
  segConns?: number[];
}

/** The suite's output: the table rows plus the context they were taken in. */
export interface SuiteReport {
  started: string;
  command: string;
  node: string;
  machine: { cpus: number; loadavg1Before: number; loadavg1After: number };
  quick: boolean;
  link: string;
  rows: Row[];
  /** The line-rate projection (a projection, not a measurement), or null when its inputs are missing. */
  projection: Projection | null;
  errors: string[];
  raw: Record<string, unknown>;
}

function ratio(a: number | null, b: number | null): number | null {
  return a !== null && b !== null && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? round(a / b, 3) : null;
}

function row(r: Omit<Row, 'ratio'>): Row {
  const fix = (v: number | null): number | null => (v === null || !Number.isFinite(v) ? null : round(v, 3));
  return { ...r, tzstack: fix(r.tzstack), peerValue: fix(r.peerValue), ratio: ratio(r.tzstack, r.peerValue) };
}

const benchMain = (): string => fileURLToPath(new URL('./main.js', import.meta.url));

/** Run the suite; never throws for a failed workload (it becomes an error line and empty cells). */
export async function runSuite(o: SuiteOptions, command: string): Promise<SuiteReport> {
  const warmupMs = o.warmupMs ?? (o.quick ? 200 : 1000);
  const durationMs = o.durationMs ?? (o.quick ? 1000 : 5000);
  const report: SuiteReport = {
    started: new Date().toISOString(), command, node: process.version,
    machine: { cpus: machineLoad().cpus, loadavg1Before: machineLoad().loadavg1, loadavg1After: 0 },
    quick: o.quick, link: 'none (no in-process workload ran)', rows: [], projection: null, errors: [], raw: {},
  };
  const dpdk = await dpdkUsable();
  if (!dpdk.ok) report.errors.push(`DPDK not usable (${dpdk.reason}): in-process figures use the TypeScript memory link, memif and raw-loop figures are skipped`);
  const want = (w: string): boolean => o.only.includes(w);
  const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (e) {
      const msg = `${what}: ${(e as Error).message.split('\n')[0]}`;
      report.errors.push(msg);
      progress(`error: ${msg}`);
      return null;
    }
  };

  let pair: StackPair | null = null;
  const getPair = async (): Promise<StackPair> => {
    pair ??= await createStackPair({ kind: o.link, mbufs: 32767 });
    report.link = pair.kind === 'net_ring' ? 'net_ring (crossed rte_eth_from_rings pair, zero copy)' : 'TypeScript memory link';
    return pair;
  };
  const pairKind = (): string => (pair as StackPair | null)?.kind ?? o.link;

  const rpcSizes = [64, 8192];
  const rpcConns = [1, 64];
  const rpcCfg = (size: number, conns: number): string => `${size >= 1024 ? `${size / 1024} KB` : `${size} B`} x ${conns} conn${conns > 1 ? 's' : ''}`;
  const num = (v: number | undefined | null): number | null => (v === undefined || v === null || v < 0 ? null : v);
  try {
    // The peers first, each in its own processes: lwIP on the same kind of ring pair, the kernel over veth.
    let lwip: LwipReport | null = null;
    if (want('lwip')) {
      progress('lwIP (C) harness over a net_ring pair: rpc and bulk');
      lwip = dpdk.ok ? await attempt('lwIP', () => runLwip({ warmupMs, durationMs })) : null;
      report.raw.lwip = lwip;
      if (lwip && lwip.mbufsLeft !== 0) report.errors.push(`lwIP harness: ${lwip.mbufsLeft} mbufs still taken at its end`);
    }
    let vethIp: { gbps: number } | null = null;
    const vethRpc = new Map<string, RpcResult>();
    if (want('veth')) {
      const net = await attempt('veth', async () => createVeth(1500));
      if (net) {
        try {
          progress('iperf3 between two network namespaces over veth');
          vethIp = await attempt('iperf3 veth', async () => {
            const r = await vethIperf3(net, durationMs / 1000);
            if ('error' in r) throw new Error(r.error);
            return r;
          });
          if (want('rpc')) {
            progress('node net rpc between two network namespaces over veth');
            const params = rpcSizes.flatMap((size) => rpcConns.map((conns) => ({ size, conns, warmupMs, durationMs })));
            const res = await attempt('node net veth', () => vethNodeRpc(net, params));
            res?.forEach((r, i) => {
              if ('error' in r) report.errors.push(`node net veth ${rpcCfg(params[i].size, params[i].conns)}: ${r.error}`);
              else vethRpc.set(rpcCfg(params[i].size, params[i].conns), r);
            });
          }
        } finally {
          net.remove();
        }
      }
      report.raw.veth = { iperf3: vethIp, rpc: Object.fromEntries(vethRpc) };
    }

    if (want('rpc')) {
      for (const size of rpcSizes) {
        for (const conns of rpcConns) {
          const cfg = rpcCfg(size, conns);
          progress(`rpc ${cfg}: tzstack`);
          const p = { size, conns, warmupMs, durationMs };
          const tz: RpcResult | null = await attempt(`rpc ${cfg} tzstack`, async () => tzRpc(await getPair(), p));
          progress(`rpc ${cfg}: node net`);
          const nd: RpcResult | null = await attempt(`rpc ${cfg} node`, () => nodeRpc(p));
          report.raw[`rpc ${cfg}`] = { tzstack: tz, node: nd };
          const via = pairKind();
          report.rows.push(row({ workload: 'rpc', config: cfg, metric: 'throughput', unit: 'req/s', higherIsBetter: true, tzstack: tz?.reqPerSec ?? null, peer: 'node net', peerValue: nd?.reqPerSec ?? null, via, note: tz && tz.stalled ? `${tz.stalled} stalled` : undefined }));
          for (const [k, name] of [['p50', 'p50'], ['p99', 'p99'], ['p999', 'p99.9']] as const) {
            report.rows.push(row({ workload: 'rpc', config: cfg, metric: `latency ${name}`, unit: 'us', higherIsBetter: false, tzstack: tz?.latencyUs[k] ?? null, peer: 'node net', peerValue: nd?.latencyUs[k] ?? null, via }));
          }
          const peers: Array<[string, RpcResult | null, string | undefined]> = [];
          if (want('lwip')) {
            const lw = lwip?.rpc.find((x) => x.size === size && x.conns === conns) ?? null;
            peers.push([PEER_LWIP, lw, lw && lw.stalled ? `lwIP: ${lw.stalled} stalled` : undefined]);
          }
          if (want('veth')) peers.push([PEER_NODE_VETH, vethRpc.get(cfg) ?? null, undefined]);
          for (const [peer, pr, note] of peers) {
            report.rows.push(row({ workload: 'rpc', config: cfg, metric: 'throughput', unit: 'req/s', higherIsBetter: true, tzstack: tz?.reqPerSec ?? null, peer, peerValue: num(pr?.reqPerSec), via, note }));
            for (const [k, name] of [['p50', 'p50'], ['p99', 'p99'], ['p999', 'p99.9']] as const) {
              report.rows.push(row({ workload: 'rpc', config: cfg, metric: `latency ${name}`, unit: 'us', higherIsBetter: false, tzstack: tz?.latencyUs[k] ?? null, peer, peerValue: num(pr?.latencyUs[k]), via }));
            }
          }
        }
      }
    }

    if (want('bulk')) {
      progress('bulk: iperf3 over loopback');
      const ip = await attempt('iperf3', async () => {
        const r = await iperf3(durationMs / 1000);
        if ('error' in r) throw new Error(r.error);
        return r;
      });
      report.raw.iperf3 = ip;
      for (const api of ['zc', 'copy'] as const) {
        progress(`bulk: tzstack over net_memif, two processes, ${api === 'zc' ? 'zero-copy' : 'copying'} API`);
        const tz = dpdk.ok ? await attempt(`bulk memif ${api}`, () => memifBulk(api, warmupMs, durationMs)) : null;
        report.raw[`bulk memif ${api}`] = tz;
        const cfg = `1 conn, 64 KB writes, ${api === 'zc' ? 'writeMbuf' : 'write'}`;
        const note = tz ? `TSO ${tz.offloads.tso ? 'on' : 'off'}` : undefined;
        report.rows.push(row({ workload: 'bulk', config: cfg, metric: 'goodput', unit: 'Gb/s', higherIsBetter: true, tzstack: tz?.gbps ?? null, peer: 'iperf3 loopback', peerValue: ip?.gbps ?? null, via: 'net_memif (2 processes)', note }));
        if (want('veth')) report.rows.push(row({ workload: 'bulk', config: cfg, metric: 'goodput', unit: 'Gb/s', higherIsBetter: true, tzstack: tz?.gbps ?? null, peer: PEER_IPERF_VETH, peerValue: vethIp?.gbps ?? null, via: 'net_memif (2 processes)', note }));
      }
    }

    let zc64: BulkResult | null = null;
    if (want('zc') || want('pps')) {
      const sizes = want('zc') ? [1024, 8192, 65536] : [65536];
      for (const size of sizes) {
        const res: Partial<Record<Api, BulkResult | null>> = {};
        for (const api of ['zc', 'copy'] as const) {
          progress(`zero-copy vs copy: ${size / 1024} KB messages, ${api}`);
          res[api] = await attempt(`zc ${size} ${api}`, async () => tzBulk(await getPair(), { size, api, warmupMs, durationMs }));
        }
        if (size === 65536) zc64 = res.zc ?? null;
        report.raw[`zc ${size}`] = res;
        if (want('zc')) {
          report.rows.push(row({ workload: 'zero-copy', config: `1 conn, ${size / 1024} KB messages`, metric: 'goodput', unit: 'Gb/s', higherIsBetter: true, tzstack: res.zc?.gbps ?? null, peer: 'tzstack copying API', peerValue: res.copy?.gbps ?? null, via: pairKind() }));
        }
      }
    }

    if (want('lwip') && (want('zc') || want('pps'))) {
      report.rows.push(row({ workload: 'bulk', config: '1 conn in-process, 64 KB writeMbuf', metric: 'goodput', unit: 'Gb/s', higherIsBetter: true, tzstack: zc64?.gbps ?? null, peer: PEER_LWIP, peerValue: lwip?.bulk?.gbps ?? null, via: pairKind(), note: 'lwIP copies on tx and checksums in software' }));
      report.rows.push(row({ workload: 'per packet', config: 'bulk 1 conn in-process, both stacks', metric: 'CPU ns per data segment', unit: 'ns', higherIsBetter: false, tzstack: zc64?.cpuNsPerSegment ?? null, peer: PEER_LWIP, peerValue: lwip?.bulk?.cpuNsPerSegment ?? null, via: pairKind() }));
    }

    if (want('pps')) {
      progress('cost per packet: raw forwarding loop over net_ring');
      const raw = dpdk.ok ? await attempt('raw loop', () => rawForwardLoop({ burst: 32, warmupMs, durationMs })) : null;
      report.raw.rawLoop = raw;
      report.raw.stackPerFrame = zc64;
      const cfg = 'bulk 64 KB zero-copy, both stacks';
      const peer = 'raw rx/tx loop (shim)';
      const via = pairKind();
      report.rows.push(row({ workload: 'per packet', config: cfg, metric: 'CPU ns per frame', unit: 'ns', higherIsBetter: false, tzstack: zc64?.cpuNsPerFrame ?? null, peer, peerValue: raw?.cpuNsPerPacket ?? null, via, note: 'frames both ways; tx and rx work of both stacks' }));
      report.rows.push(row({ workload: 'per packet', config: cfg, metric: 'CPU ns per data segment', unit: 'ns', higherIsBetter: false, tzstack: zc64?.cpuNsPerSegment ?? null, peer, peerValue: raw?.cpuNsPerPacket ?? null, via, note: 'send + receive + its share of ACKs' }));
      report.rows.push(row({ workload: 'per packet', config: cfg, metric: 'wall ns per frame', unit: 'ns', higherIsBetter: false, tzstack: zc64?.nsPerFrame ?? null, peer, peerValue: raw?.nsPerPacket ?? null, via, note: 'inflated by other load on the cores' }));
    }
    if (want('seg')) await segRows(o, report, lwip, attempt);
  } finally {
    if (pair) {
      const left = await (pair as StackPair).close();
      if (left !== 0) report.errors.push(`in-process pair: ${left} mbufs still taken after close`);
    }
    report.machine.loadavg1After = machineLoad().loadavg1;
  }
  return report;
}

/** The per-segment rows (one child process per figure) and the projection. */
async function segRows(o: SuiteOptions, report: SuiteReport, lwip: LwipReport | null,
  attempt: <T>(what: string, f: () => Promise<T>) => Promise<T | null>): Promise<void> {
  const link = o.link === 'mem' || !(await dpdkUsable()).ok ? 'mem' : undefined;
  const perf = await perfInstructionsSupported();
  const tool = perf ? 'perf' : o.instructions ? 'callgrind' : null;
  const via = `${link ?? 'net_ring'} (segcost, own process)`;
  let one: SegCostResult | null = null;
  // Long enough for V8 to have compiled the whole path before the window opens.
  const segments = o.segments ?? (o.quick ? 60000 : 180000);
  // The warm-up is what V8 needs (segments, not time: 200,000 take well
  // under a second): after 30,000 the quick rows' CPU time still included
  // TurboFan compiling on its own threads (1,730-2,029 CPU ns/seg at one
  // connection, CPU above wall time, against 345 after 100,000).
  const warmup = (): number => Math.max(200000, o.segments !== undefined ? Math.ceil(o.segments / 2) : 0);
  // The 1-connection run feeds the projection: always made.
  for (const c of SEG_CONFIGS.filter((x) => x.conns === 1 || !o.segConns || o.segConns.includes(x.conns))) {
    progress(`per segment: ${c.conns} bulk connection(s)`);
    // CPU time from a plain run; koffi calls from a short second run (the
    // counting wrappers and the split timing would inflate the CPU figure).
    const flags = segFlags(c, { split: false, link });
    const plain = await attempt(`segcost ${c.conns} conns`, () => segcostChild(flags, segments, warmup(), false));
    const counted = plain ? await attempt(`segcost ${c.conns} conns, koffi calls`, () => segcostChild(flags, 10000, 10000, true)) : null;
    const r = plain && counted ? { ...plain, koffiCallsPerSegment: counted.koffiCallsPerSegment, koffiCalls: counted.koffiCalls } : plain;
    report.raw[`segcost ${c.conns}`] = r;
    if (c.conns === 1) one = r;
    if (r && r.mbufsLeft !== 0) report.errors.push(`segcost ${c.conns} conns: ${r.mbufsLeft} mbufs still taken`);
    const cfg = `${c.conns} bulk conn${c.conns > 1 ? 's' : ''}, ${c.size / 1024} KB writeMbuf${c.sndBuf ? `, sndBuf ${c.sndBuf / 1024} KB` : ''}`;
    const base = { workload: 'per segment', config: cfg, higherIsBetter: false, via };
    // Many connections run smaller messages and buffers (SEG_CONFIGS), and a
    // message's short last segment and per-write work weigh more per segment
    // in 16 KB than in 64 KB: their peer is one connection with the same
    // messages and buffer, so the ratio is the cost of the connections alone.
    let alike = one;
    if (c.conns > 1 && (c.size !== SEG_CONFIGS[0].size || c.sndBuf !== SEG_CONFIGS[0].sndBuf)) {
      const same = { conns: 1, size: c.size, sndBuf: c.sndBuf };
      progress(`per segment: 1 bulk connection with ${c.conns} connections' messages, the peer of that row`);
      alike = await attempt(`segcost 1 conn, ${c.size / 1024} KB`, () => segcostChild(segFlags(same, { link }), segments, warmup(), false));
      report.raw[`segcost 1 like ${c.conns}`] = alike;
    }
    const cpuPeer: [string, number | null] = c.conns === 1
      ? [PEER_LWIP, lwip?.bulk?.cpuNsPerSegment ?? null]
      : [alike === one ? 'tzstack, 1 conn' : `tzstack, 1 conn, ${c.size / 1024} KB${c.sndBuf ? `, sndBuf ${c.sndBuf / 1024} KB` : ''}`, alike?.cpuNsPerSegment ?? null];
    report.rows.push(row({ ...base, metric: 'CPU ns per data segment', unit: 'ns', tzstack: r?.cpuNsPerSegment ?? null, peer: cpuPeer[0], peerValue: cpuPeer[1], note: r ? `${r.segments} segments, both stacks` : undefined }));
    report.rows.push(row({ ...base, metric: 'heap bytes per data segment', unit: 'B', tzstack: r?.bytesPerSegment ?? null, peer: '-', peerValue: null, note: 'JIT compilation in the window counts too' }));
    report.rows.push(row({ ...base, metric: 'koffi calls per data segment', unit: 'calls', tzstack: r?.koffiCallsPerSegment ?? null, peer: '-', peerValue: null }));
    if (tool && (tool === 'perf' || c.conns === 1)) {
      progress(`per segment: instructions with ${tool} (${c.conns} conns)${tool === 'callgrind' ? ', about 3 minutes' : ''}`);
      const ins = await attempt(`instructions ${c.conns} conns`, () => instructionsPerSegment(flags.filter((f) => f !== '--split'), tool));
      report.raw[`instructions ${c.conns}`] = ins;
      report.rows.push(row({ ...base, metric: 'instructions per data segment', unit: 'instr', tzstack: ins, peer: '-', peerValue: null, note: tool }));
    }
    if (c.conns === 4096) {
      report.rows.push(row({ ...base, metric: 'retransmissions in the window', unit: 'segs', tzstack: r?.retransmits ?? null, peer: '-', peerValue: null }));
      report.rows.push(row({ ...base, metric: 'RTO events in the window', unit: 'events', tzstack: r?.rtoEvents ?? null, peer: '-', peerValue: null }));
    }
  }
  if (!tool) report.errors.push('instructions per segment: perf stat cannot count instructions here; pass --instructions to count them with callgrind (about 3 minutes)');
  // CPU time on shared cores only ever inflates: the projection takes the least of a few runs each.
  const repeats = o.quick ? 2 : 3;
  const pick = async (gro: boolean, have: SegCostResult[]): Promise<SegCostResult | null> => {
    const runs = have.slice();
    for (let i = runs.length; i < repeats; i++) {
      progress(`per segment: GRO ${gro ? 'on' : 'off'}, 1 conn, run ${i + 1} of ${repeats}, for the projection`);
      const r = await attempt(`segcost GRO ${gro ? 'on' : 'off'}`, () => segcostChild(segFlags(SEG_CONFIGS[0], { gro, split: true, link }), segments, warmup(), false));
      if (r) runs.push(r);
    }
    report.raw[`projection runs GRO ${gro ? 'on' : 'off'}`] = runs;
    const ok = runs.filter((r) => r.senderNsPerSegment !== null && r.mbufsLeft === 0);
    return ok.length ? ok.reduce((m, r) => (r.cpuNsPerSegment < m.cpuNsPerSegment ? r : m)) : null;
  };
  const gro = await pick(true, []);
  const noGro = await pick(false, []);
  if (gro && noGro) report.projection = project(gro, noGro);
}

let memifSeq = 0;

/** Bulk between two tzstack processes over net_memif, through the line-rate code path. */
async function memifBulk(api: Api, warmupMs: number, durationMs: number): Promise<PeerResult> {
  const sock = `/tmp/tzX-${process.pid}-${memifSeq++}.sock`;
  const children: ChildProcess[] = [];
  try {
    const server = spawn(process.execPath, [benchMain(), '--role', 'server', '--dev', `net_memif0,role=server,socket=${sock}`,
      '--ip', '10.75.2.1/24', '--max-seconds', String(Math.ceil((warmupMs + durationMs) / 1000) + 30)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    await waitForLine(server, (l) => l.includes('"event":"ready"'), 20000, 'memif server');
    const client = spawn(process.execPath, [benchMain(), '--role', 'client', '--dev', `net_memif0,role=client,socket=${sock}`,
      '--ip', '10.75.2.2/24', '--peer', '10.75.2.1', '--workload', 'bulk', '--api', api, '--size', '65536', '--conns', '1',
      '--warmup', String(warmupMs), '--duration', String(durationMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(client);
    const line = await waitForLine(client, (l) => l.startsWith('{"role":"client"'), warmupMs + durationMs + 40000, 'memif client');
    const r = JSON.parse(line) as PeerResult;
    if (r.connsEstablished === 0) throw new Error('the connection was not established');
    return r;
  } finally {
    for (const c of children.reverse()) await stopChild(c);
    rmSync(sock, { force: true });
  }
}

/** Resolve with the first stdout line matching `pred`; reject on exit or timeout. */
function waitForLine(p: ChildProcess, pred: (l: string) => boolean, timeoutMs: number, what: string): Promise<string> {
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`${what}: nothing after ${timeoutMs} ms`)), timeoutMs);
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (pred(l)) { clearTimeout(t); res(l); }
      }
    });
    p.once('exit', (code) => { clearTimeout(t); rej(new Error(`${what} exited with ${code}`)); });
  });
}

/** SIGTERM, then SIGKILL after 10 s. */
async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(t);
  await sleep(0);
}
