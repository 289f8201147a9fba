/**
 * Instructions per data segment by function, from a callgrind profile of
 * segcost (bench/callgrind.sh with CALLGRIND_TOP=N): callgrind names
 * JIT-compiled JavaScript only by address, so the addresses are looked up
 * in the perf map node wrote (`--perf-basic-prof`, /tmp/perf-<pid>.map),
 * and every function's self cost is summed over its code objects (a
 * function recompiled inside the window has several) and divided by the
 * segments of the window.
 *
 * `node dist/bench/callgrind-top.js <callgrind file of the main thread> <perf map> <segments> [N] [UNIT] [EVENT]`
 * prints the N costliest functions (default 30), instructions per segment
 * (or per UNIT: the other harnesses count requests, pings or operations)
 * first: `*` marks TurboFan code, `^` Sparkplug (baseline), `~` the
 * interpreter — baseline or interpreted hot-path functions in the window
 * mean V8 had not finished optimising when it opened (warm up longer).
 * EVENT (a profile made with --cache-sim=yes) ranks by another of
 * callgrind's events instead of instructions, e.g. DLmr (last-level cache
 * read misses: DRAM reads) or D1mr, two decimals per unit.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

interface MapEntry { start: number; end: number; name: string }

/** The perf map's entries, sorted by start address (a later entry for the same range wins). */
export function readPerfMap(text: string): MapEntry[] {
  const out: MapEntry[] = [];
  for (const line of text.split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a <= 0 || b <= a) continue;
    const start = parseInt(line.slice(0, a), 16);
    const size = parseInt(line.slice(a + 1, b), 16);
    if (!Number.isFinite(start) || !Number.isFinite(size)) continue;
    out.push({ start, end: start + size, name: line.slice(b + 1) });
  }
  return out.sort((x, y) => x.start - y.start);
}

/** The entry covering `addr` (the nearest start at or below it whose range holds it), or undefined. */
export function lookup(map: MapEntry[], addr: number): string | undefined {
  let lo = 0;
  let hi = map.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid].start <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  for (let i = best; i >= 0 && i > best - 64; i--) if (map[i].start <= addr && addr < map[i].end) return map[i].name;
  return undefined;
}

/** Self instructions by function name from `callgrind_annotate` output, JIT addresses named through `map`. */
export function topFunctions(annotate: string, map: MapEntry[]): { total: number; fns: Map<string, number> } {
  const fns = new Map<string, number>();
  let total = 0;
  for (const line of annotate.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = Number(m[1].replace(/,/g, ''));
    let f = m[2];
    if (f.includes('PROGRAM TOTALS')) { total = v; continue; }
    if (f.startsWith('=>') || f.includes('events annotated')) continue;
    const jit = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(f);
    if (jit) f = lookup(map, parseInt(jit[1], 16)) ?? f;
    fns.set(f, (fns.get(f) ?? 0) + v);
  }
  return { total, fns };
}

function main(argv: string[]): void {
  const [cg, mapFile, segArg, nArg, unit = 'segment', event = 'Ir'] = argv;
  if (!cg || !mapFile || !segArg) {
    process.stderr.write('usage: callgrind-top.js <callgrind file> <perf map> <segments> [N] [UNIT] [EVENT]\n');
    process.exit(2);
  }
  const segments = Number(segArg);
  const n = Number(nArg ?? '30');
  const annotate = execFileSync('callgrind_annotate', ['--threshold=100', `--show=${event}`, `--sort=${event}`, cg], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const { total, fns } = topFunctions(annotate, readPerfMap(readFileSync(mapFile, 'utf8')));
  const fmt = (v: number): string => (event === 'Ir' ? String(Math.round(v / segments)) : (v / segments).toFixed(2));
  const what = event === 'Ir' ? 'instructions' : `${event} events`;
  process.stdout.write(`${fmt(total)} ${what} per ${unit} on this thread, by function (self):\n`);
  const rows = [...fns.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  for (const [f, v] of rows) process.stdout.write(`${fmt(v).padStart(7)}  ${f.replace(/file:\/\/\S*\/dist\//, '')}\n`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
