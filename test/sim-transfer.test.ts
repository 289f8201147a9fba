import { expect } from 'chai';
import fc from 'fast-check';
import { createStackPair, type StackPair } from '../src/testing.js';
import type { TzSocket } from '../src/tcp/socket.js';
import { pinnedSeed } from './helpers/seed.js';

/** Deterministic bytes from a seed (xorshift), so a failing case prints small. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = (seed | 1) >>> 0;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}

/** Write `data` in chunks of the given sizes (cycled), honouring backpressure, then end(). */
function writeChunked(s: TzSocket, data: Buffer, chunks: number[]): void {
  let off = 0;
  let k = 0;
  const go = (): void => {
    while (off < data.length) {
      const n = Math.max(1, chunks[k++ % chunks.length]);
      const ok = s.write(data.subarray(off, off + n));
      off += n;
      if (!ok) { s.once('drain', go); return; }
    }
    s.end();
  };
  go();
}

interface Case { seed: number; loss: number; reorder: number; dup: number; sizeAB: number; sizeBA: number; chunks: number[] }

/**
 * a connects to b; both send their payload and end; each checks what it got.
 * Returns a description of what went wrong, or '' when all is well.
 */
async function exchange(c: Case): Promise<string> {
  if (process.env.TZ_SIM_LOG) console.log(`case ${JSON.stringify(c)}`);
  const pair: StackPair = createStackPair({
    seed: c.seed,
    impair: { loss: c.loss, reorder: c.reorder, dup: c.dup },
    tcp: { timeWaitMs: 2000 },
  });
  const dataAB = bytes(c.sizeAB, c.seed * 2 + 1);
  const dataBA = bytes(c.sizeBA, c.seed * 2 + 2);
  const gotA: Buffer[] = [];
  const gotB: Buffer[] = [];
  let endA = false;
  let endB = false;
  let closedA = false;
  let closedB = false;
  const errors: string[] = [];
  const server = pair.createServer((s) => {
    s.on('data', (d: Buffer) => gotB.push(d));
    s.on('end', () => { endB = true; });
    s.on('close', () => { closedB = true; });
    s.on('error', (e) => errors.push(`b: ${e.message}`));
    writeChunked(s, dataBA, c.chunks);
  }, { allowHalfOpen: true });
  server.listen(5001);
  const client = pair.connect(5001, { allowHalfOpen: true });
  client.on('data', (d: Buffer) => gotA.push(d));
  client.on('end', () => { endA = true; });
  client.on('close', () => { closedA = true; });
  client.on('error', (e) => errors.push(`a: ${e.message}`));
  client.on('connect', () => writeChunked(client, dataAB, c.chunks));
  try {
    const done = await pair.run(() => (endA && endB && closedA && closedB) || errors.length > 0, { maxMs: 600_000 });
    if (errors.length) return errors.join('; ');
    if (!done) {
      if (process.env.TZ_SIM_DEBUG) {
        for (const [n, t] of [['a', pair.tcpA], ['b', pair.tcpB]] as const) {
          for (const conn of t.connections()) console.log(n, JSON.stringify(conn.info()), 'sendQueued', conn.sendQueued(), 'readable', conn.readable());
          console.log(n, JSON.stringify(t.counters));
        }
        console.log(JSON.stringify(pair.link?.impairStats));
        console.log('A', JSON.stringify(pair.a.stats()));
        console.log('B', JSON.stringify(pair.b.stats()));
      }
      return `not done: endA ${endA} endB ${endB} closedA ${closedA} closedB ${closedB} `
        + `gotA ${Buffer.concat(gotA).length}/${c.sizeBA} gotB ${Buffer.concat(gotB).length}/${c.sizeAB}`;
    }
    if (!Buffer.concat(gotB).equals(dataAB)) return `a→b bytes differ (${Buffer.concat(gotB).length}/${c.sizeAB})`;
    if (process.env.TZ_SIM_DEBUG && !Buffer.concat(gotA).equals(dataBA)) {
      console.log('gotA', gotA.map((b) => b.length), 'endA', endA);
    }
    if (!Buffer.concat(gotA).equals(dataBA)) return `b→a bytes differ (${Buffer.concat(gotA).length}/${c.sizeBA})`;
    server.close();
    // Both sides closed: after TIME_WAIT nothing may remain.
    if (!(await pair.drain({ maxMs: 60_000 }))) {
      return `connections left: a ${pair.tcpA.connectionCount()} b ${pair.tcpB.connectionCount()}`;
    }
    if (pair.pool.inUse() !== 0) return `mbufs held after every connection ended: ${pair.pool.inUse()}`;
    return '';
  } finally {
    await pair.close();
    if (pair.pool.inUse() !== 0) errors.push(`mbufs leaked after close: ${pair.pool.inUse()}`);
  }
}

describe('sim: two stacks over an impaired link (TzSocket streams)', function () {
  this.timeout(600_000);

  it('clean link, 200 KB each way', async () => {
    expect(await exchange({ seed: 1, loss: 0, reorder: 0, dup: 0, sizeAB: 200_000, sizeBA: 200_000, chunks: [65536] })).to.equal('');
  });

  it('5% loss, reordering and duplication, 100 KB each way', async () => {
    expect(await exchange({ seed: 7, loss: 0.05, reorder: 0.02, dup: 0.02, sizeAB: 100_000, sizeBA: 100_000, chunks: [1000, 3000, 70000] })).to.equal('');
  });

  // Failures the property found once, kept as regressions (shrunk cases).
  const FOUND: Case[] = [
    { seed: 1400295766, loss: 0, reorder: 0.02524737524800003, dup: 0, sizeAB: 2817, sizeBA: 1, chunks: [1] },
    // 12-byte writes: one side's send buffer drained the shared pool; the other must retry when it refills.
    { seed: 986160431, loss: 0.003, reorder: 0.099, dup: 0.019, sizeAB: 217830, sizeBA: 98381, chunks: [12] },
    { seed: 914307972, loss: 0.002, reorder: 0.07, dup: 0.049, sizeAB: 12, sizeBA: 16, chunks: [53801] },
    { seed: 613798604, loss: 0.006, reorder: 0.096, dup: 0.014, sizeAB: 14, sizeBA: 15, chunks: [2] },
    // A 12-byte request then an 80 KB write on the other side: b→a received nothing.
    { seed: 1104981751, loss: 0.007, reorder: 0.06, dup: 0.046, sizeAB: 12, sizeBA: 98456, chunks: [80453] },
  ];
  for (const c of FOUND) {
    it(`found case seed ${c.seed}`, async () => {
      expect(await exchange(c)).to.equal('');
    });
  }

  // fast-check's seed, pinned (TZ_SIM_SEED or TZSTACK_SEED explore others); a failure prints it with the shrunk case.
  const propSeed = pinnedSeed(1203, 'TZ_SIM_SEED');
  it(`property: random payloads arrive byte-exact both ways under 0–20% loss (seed ${propSeed})`, async () => {
    const runs = Number(process.env.TZ_SIM_RUNS ?? 12);
    await fc.assert(fc.asyncProperty(
      fc.record({
        seed: fc.integer({ min: 1, max: 0x7fffffff }),
        loss: fc.integer({ min: 0, max: 200 }).map((k) => k / 1000),
        reorder: fc.integer({ min: 0, max: 100 }).map((k) => k / 1000),
        dup: fc.integer({ min: 0, max: 50 }).map((k) => k / 1000),
        sizeAB: fc.integer({ min: 0, max: 300_000 }),
        sizeBA: fc.integer({ min: 0, max: 100_000 }),
        chunks: fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 4 }),
      }),
      async (c) => {
        const why = await exchange(c);
        if (why) throw new Error(`${why} — case ${JSON.stringify(c)}`);
      },
    ), {
      numRuns: runs,
      seed: propSeed,
      // Shrinking re-runs whole transfers; the failing case (and fast-check's seed) is printed either way.
      endOnFailure: !process.env.TZ_SIM_SHRINK,
      verbose: 1,
    });
  });
});
