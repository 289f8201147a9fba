#!/usr/bin/env node
/**
 * Print the functions with the most self time in a V8 `.cpuprofile`
 * (written by `node --cpu-prof`), so a profile can be read without
 * DevTools: `node dist/bench/profile-top.js <file.cpuprofile> [count]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Self time per function (µs), largest first. */
export function topFunctions(p: Profile): Array<{ name: string; where: string; selfUs: number; share: number }> {
  const byNode = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { name: string; where: string; selfUs: number }>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byNode.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    if (!n) continue;
    total += dt;
    const f = n.callFrame;
    const where = `${f.url.replace(/^.*\/(dist|\.build\/[^/]+)\//, '')}:${f.lineNumber + 1}`;
    const key = `${f.functionName}@${where}`;
    const e = self.get(key) ?? { name: f.functionName || '(anonymous)', where, selfUs: 0 };
    e.selfUs += dt;
    self.set(key, e);
  }
  return [...self.values()].sort((a, b) => b.selfUs - a.selfUs).map((e) => ({ ...e, share: total ? e.selfUs / total : 0 }));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile-top.js <file.cpuprofile> [count]\n');
    process.exit(2);
  }
  const count = Number(process.argv[3] ?? 25);
  const rows = topFunctions(JSON.parse(readFileSync(file, 'utf8')) as Profile).slice(0, count);
  for (const r of rows) process.stdout.write(`${(r.share * 100).toFixed(1).padStart(5)}%  ${(r.selfUs / 1000).toFixed(1).padStart(8)} ms  ${r.name}  ${r.where}\n`);
}
