/**
 * Where the send/receive hot path allocates JS heap: segcost's bulk run
 * under V8's sampling heap profiler (collected objects included), the
 * allocation sites by bytes per data segment.
 *   node dist/bench/alloc-sites.js [--segments N] [--warmup N] [--layout mss|packed|copy] [--size B] [--top N]
 */
import { Session } from 'node:inspector/promises';
import { segmentCost } from './segcost.js';

interface Node { callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; selfSize: number; children: Node[] }

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const segments = Number(arg('segments', '50000'));
  const warmup = Number(arg('warmup', '50000'));
  const layout = arg('layout', 'mss') as 'mss' | 'packed' | 'copy';
  const size = Number(arg('size', '65536'));
  const top = Number(arg('top', '25'));
  // Warm up first (JIT settles), then profile a second run on a fresh pair.
  await segmentCost({ segments: warmup, warmupSegments: warmup, conns: 1, size, link: 'net_ring', layout });
  const s = new Session();
  s.connect();
  await s.post('HeapProfiler.enable');
  await s.post('HeapProfiler.startSampling', { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const r = await segmentCost({ segments, warmupSegments: 2000, conns: 1, size, link: 'net_ring', layout });
  const { profile } = await s.post('HeapProfiler.stopSampling') as unknown as { profile: { head: Node } };
  const sites = new Map<string, number>();
  const walk = (n: Node, path: string): void => {
    const f = n.callFrame;
    const here = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/dist\//, '')}:${f.lineNumber + 1}`;
    if (n.selfSize > 0) sites.set(`${here}  <- ${path}`, (sites.get(`${here}  <- ${path}`) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c, here.split(' ')[0]);
  };
  walk(profile.head, '');
  const rows = [...sites.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const segs = r.segments + 2000;
  process.stdout.write(`${layout} size ${size}: ${segs} segments (with setup); bytes/seg by site (approximate, sampled):\n`);
  for (const [k, v] of rows) process.stdout.write(`${(v / segs).toFixed(2).padStart(8)}  ${k}\n`);
  s.disconnect();
}

main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
