/**
 * The receive-path fuzzing that test/fuzz-rx.test.ts (IPv4, ARP) and
 * test/fuzz-rx6.test.ts (IPv6, ND) share: frames mutated from valid seeds or
 * random, cut into segment chains, fed to a Stack over a memory link.
 *
 * "Never reads outside the packet" is made observable: the pool's view is
 * one large buffer, so an out-of-packet read returns a neighbour's bytes
 * rather than failing. Each input therefore runs on fresh stacks whose pools
 * had every byte of every data buffer (headroom included) filled with zeros
 * or one of two random poison patterns, and everything the stack does —
 * every frame it sends and every counter — must agree between the runs; a
 * read of a byte that is not part of the packet (or a write of a frame with
 * an unwritten byte) makes them differ.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { TsMempool, type Mbuf } from '../../src/mbuf/index.js';
import { createLinkPair } from '../../src/pmd/memory-link.js';
import type { Stack } from '../../src/stack.js';
import { VirtualClock } from '../../src/util/clock.js';
import { Prng } from '../../src/util/prng.js';
import { chainFrom, concat } from '../stack-frames.js';

/** One input frame: its bytes, the segment lengths to chain it from (null: one mbuf), the time to let pass after it. */
export interface FuzzFrame { bytes: Uint8Array; segs: number[] | null; waitMs: number }

/** An edit of a seed frame. */
export type Mutation = { k: 'set'; pos: number; val: number } | { k: 'cut'; len: number } | { k: 'add'; bytes: Uint8Array };

/** Mutations: a byte set at a position below one of `pos`, a cut below `cut` bytes, up to `add` random bytes appended. */
export function mutations(o: { pos: [number, number]; cut: number; add: number }): fc.Arbitrary<Mutation> {
  return fc.oneof(
    fc.record({ k: fc.constant('set' as const), pos: fc.oneof(fc.nat(o.pos[0]), fc.nat(o.pos[1])), val: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ k: fc.constant('cut' as const), len: fc.nat(o.cut) }),
    fc.record({ k: fc.constant('add' as const), bytes: fc.uint8Array({ maxLength: o.add }) }),
  );
}

/** `b` with `muts` applied; bytes are set only at or past `from` (to aim past a header). */
export function mutate(b: Uint8Array, muts: Mutation[], from = 0): Uint8Array {
  let out: Uint8Array = b.slice();
  for (const mu of muts) {
    if (mu.k === 'set' && out.length > from) out[from + (mu.pos % (out.length - from))] = mu.val;
    else if (mu.k === 'cut') out = out.slice(0, mu.len % (out.length + 1));
    else if (mu.k === 'add') out = concat(out, mu.bytes);
  }
  return out;
}

/** Frames of `bytes`, chained from segments up to `maxSeg` bytes in a third of them, followed by waits up to `maxWaitMs`. */
export function fuzzFrames(bytes: fc.Arbitrary<Uint8Array>, maxSeg: number, maxWaitMs: number): fc.Arbitrary<FuzzFrame> {
  return fc.record({
    bytes,
    segs: fc.option(fc.array(fc.nat(maxSeg), { minLength: 1, maxLength: 6 }), { freq: 3 }),
    waitMs: fc.oneof(fc.constant(0), fc.nat(3000), fc.nat(maxWaitMs)),
  });
}

function poison(pool: TsMempool, seed: number): void {
  const all = new Uint32Array(pool.capacity);
  expect(pool.allocBulk(all, pool.capacity)).to.equal(true);
  const rng = new Prng(seed);
  for (const m of all as Iterable<Mbuf>) {
    const s = pool.bufStart(m);
    for (let i = 0; i < pool.bufLenOf(m); i++) pool.u8[s + i] = seed === 0 ? 0 : rng.u32() & 0xff;
  }
  pool.freeBulk(all, all.length);
}

/** What a run did, to compare between poisons. */
export interface Outcome { sent: string[]; stats: string; leaked: number }

/** How {@link fuzzRun} builds and starts its stack. */
export interface FuzzStackOptions {
  checksumUnneeded: boolean;
  /** The stack under test on `port` (fixed secrets: runs compared must not differ in ISNs or IP IDs). */
  stack: (port: ReturnType<typeof createLinkPair>[0], clock: VirtualClock) => Stack;
  /** Steps of 600 ms to poll before the first frame (IPv6: until DAD is done). */
  settleSteps?: number;
}

/** Feed `frames` to a fresh stack over a pool poisoned with `poisonSeed`, then let every timer run out. */
export function fuzzRun(frames: FuzzFrame[], poisonSeed: number, o: FuzzStackOptions): Outcome {
  const pool = new TsMempool({ count: 160 });
  poison(pool, poisonSeed);
  const clock = new VirtualClock(1000);
  const [a, b] = createLinkPair(pool, { checksumUnneeded: o.checksumUnneeded });
  const stack = o.stack(a, clock);
  const one = new Uint32Array(1);
  const rx = new Uint32Array(64);
  const sent: string[] = [];
  const drain = (): void => {
    for (let n = b.rxBurst(rx, 64); n > 0; n = b.rxBurst(rx, 64)) {
      for (let i = 0; i < n; i++) { sent.push(Buffer.from(pool.toBytes(rx[i] as Mbuf)).toString('hex')); pool.free(rx[i] as Mbuf); }
    }
  };
  for (let i = 0; i < (o.settleSteps ?? 0); i++) { clock.advance(600); stack.poll(); drain(); }
  for (const f of frames) {
    const m = f.segs ? chainFrom(pool, f.bytes, f.segs) : pool.fromBytes(f.bytes);
    if (m >= 0) { one[0] = m; b.txBurst(one, 1); }
    stack.poll();
    drain();
    clock.advance(f.waitMs);
    stack.poll();
    drain();
  }
  // Let every timer (ARP and ND retries, reassembly, TCP) run out.
  for (let i = 0; i < 40; i++) { clock.advance(5000); stack.poll(); drain(); }
  const stats = JSON.stringify(stack.stats());
  void stack.close();
  b.close();
  drain();
  return { sent, stats, leaked: pool.inUse() };
}

/**
 * Run `frames` under three poisons: zeros (what a careless out-of-packet
 * read would most likely get away with) and two random patterns; all must
 * agree and none may leak.
 */
export function fuzzCheck(frames: FuzzFrame[], o: FuzzStackOptions): void {
  const x = fuzzRun(frames, 0, o);
  expect(x.leaked, 'mbufs leaked').to.equal(0);
  for (const p of [1, 2]) {
    const y = fuzzRun(frames, p, o);
    expect(y.leaked, 'mbufs leaked').to.equal(0);
    expect(y.stats, 'behaviour depends on bytes outside the packet').to.equal(x.stats);
    expect(y.sent, 'output depends on bytes outside the packet').to.deep.equal(x.sent);
  }
}
