/**
 * Property: the IPv6 receive path (IPv6, extension headers, reassembly,
 * ICMPv6, Neighbor Discovery) takes any sequence of frames — valid ones,
 * mutated ones, random bytes behind an IPv6 Ethernet header, cut into
 * arbitrary segment chains — without throwing, without reading outside the
 * packet, and without leaking an mbuf. As in test/fuzz-rx.test.ts, each
 * input runs on fresh stacks whose pools were filled with zeros and two
 * random poisons, and everything the stacks do must agree. Half the runs
 * declare checksums unneeded, so mutated ND messages get past the checksum
 * and into the ND state machine.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ipv6Protocol } from '../src/ipv6-attach.js';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import { Prng } from '../src/util/prng.js';
import { pinnedSeed } from './helpers/seed.js';
import { chainFrom, concat, eth, pattern } from './stack-frames.js';
import {
  echo6, fragHeader, fragments6, frame6, GA_A, GA_B, LL_A, LL_B, MAC6_A, MAC6_B, na, ns, optsHeader, ra, routingHeader,
  solicited,
} from './ip6-frames.js';

interface FuzzFrame { bytes: Uint8Array; segs: number[] | null; waitMs: number }

const seeds: Uint8Array[] = [
  frame6(echo6(1, 1, pattern(56))),
  frame6(echo6(1, 2, pattern(56), GA_B, GA_A), { src: GA_B, dst: GA_A }),
  frame6(echo6(1, 3, pattern(8), LL_B, 'ff02::1'), { dst: 'ff02::1' }),
  ns(LL_A, MAC6_B, LL_B, solicited(LL_A)),
  ns(GA_A, null, '::'),
  ns(GA_B, MAC6_B, GA_B, LL_A),
  na(GA_B, 0x60, MAC6_B, GA_B, GA_A),
  na(LL_B, 0x20, Uint8Array.of(2, 0, 0, 0, 0, 9), LL_B, 'ff02::1'),
  ra({ mtu: 1400, prefix: { prefix: 'fd00:99::', len: 64, flags: 0xc0, valid: 600, preferred: 300 } }),
  ra({ lifetime: 0 }),
  frame6(concat(optsHeader(43, Uint8Array.of(1, 2, 0, 0)), routingHeader(58, 0, 1), echo6(2, 2, pattern(8))), { nh: 60 }),
  frame6(concat(optsHeader(58, Uint8Array.of(0xc2, 4, 0, 0, 0, 0)), echo6(2, 3, pattern(8))), { nh: 0 }),
  frame6(concat(fragHeader(58, 0, false, 3), echo6(2, 4, pattern(8))), { nh: 44 }),
  ...fragments6(echo6(9, 9, pattern(300)), 58, 128, 4242),
];

type Mutation = { k: 'set'; pos: number; val: number } | { k: 'cut'; len: number } | { k: 'add'; bytes: Uint8Array };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('set' as const), pos: fc.oneof(fc.nat(100), fc.nat(400)), val: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant('cut' as const), len: fc.nat(500) }),
  fc.record({ k: fc.constant('add' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
);
function mutate(b: Uint8Array, muts: Mutation[]): Uint8Array {
  let out: Uint8Array = b.slice();
  for (const mu of muts) {
    // Mostly past the Ethernet header, where the IPv6 fields are.
    if (mu.k === 'set' && out.length > 14) out[14 + (mu.pos % (out.length - 14))] = mu.val;
    else if (mu.k === 'cut') out = out.slice(0, mu.len % (out.length + 1));
    else if (mu.k === 'add') out = concat(out, mu.bytes);
  }
  return out;
}

const frameBytes = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: 4 })).map(([s, m]) => mutate(s, m)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((p) => eth(MAC6_A, MAC6_B, 0x86dd, p)) },
);
const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.record({
  bytes: frameBytes,
  segs: fc.option(fc.array(fc.nat(80), { minLength: 1, maxLength: 6 }), { freq: 3 }),
  waitMs: fc.oneof(fc.constant(0), fc.nat(3000), fc.nat(70_000)),
});

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

interface Outcome { sent: string[]; stats: string; leaked: number }

function run(frames: FuzzFrame[], poisonSeed: number, checksumUnneeded: boolean): Outcome {
  const pool = new TsMempool({ count: 160 });
  poison(pool, poisonSeed);
  const clock = new VirtualClock(1000);
  const [a, b] = createLinkPair(pool, { checksumUnneeded });
  const stack = new Stack({
    port: a, ip: '10.72.0.1/24', clock, tcp: { isnSecret: new Uint8Array(16) },
    protocols: [ipv6Protocol({ addresses: [`${GA_A}/64`], gateway: LL_B })],
  });
  const one = new Uint32Array(1);
  const rx = new Uint32Array(64);
  const sent: string[] = [];
  const drain = (): void => {
    for (let n = b.rxBurst(rx, 64); n > 0; n = b.rxBurst(rx, 64)) {
      for (let i = 0; i < n; i++) { sent.push(Buffer.from(pool.toBytes(rx[i] as Mbuf)).toString('hex')); pool.free(rx[i] as Mbuf); }
    }
  };
  // Let DAD finish so the addresses take traffic.
  for (let i = 0; i < 3; i++) { clock.advance(600); stack.poll(); drain(); }
  for (const f of frames) {
    const m = f.segs ? chainFrom(pool, f.bytes, f.segs) : pool.fromBytes(f.bytes);
    if (m >= 0) { one[0] = m; b.txBurst(one, 1); }
    stack.poll();
    drain();
    clock.advance(f.waitMs);
    stack.poll();
    drain();
  }
  for (let i = 0; i < 40; i++) { clock.advance(5000); stack.poll(); drain(); }
  const stats = JSON.stringify(stack.stats());
  void stack.close();
  b.close();
  drain();
  return { sent, stats, leaked: pool.inUse() };
}

function check(frames: FuzzFrame[], checksumUnneeded: boolean): void {
  const x = run(frames, 0, checksumUnneeded);
  expect(x.leaked, 'mbufs leaked').to.equal(0);
  for (const p of [1, 2]) {
    const y = run(frames, p, checksumUnneeded);
    expect(y.leaked, 'mbufs leaked').to.equal(0);
    expect(y.stats, 'behaviour depends on bytes outside the packet').to.equal(x.stats);
    expect(y.sent, 'output depends on bytes outside the packet').to.deep.equal(x.sent);
  }
}

describe('fuzz: IPv6 receive path', function () {
  this.timeout(180_000);
  const seed = pinnedSeed(86_1106, 'FUZZ6_SEED');
  const numRuns = Number(process.env.FUZZ6_RUNS ?? 60);

  it(`never throws, never reads outside a packet, never leaks an mbuf (seed ${seed})`, () => {
    fc.assert(fc.property(fc.array(fuzzFrame, { minLength: 1, maxLength: 8 }), fc.boolean(), (frames, unneeded) => {
      check(frames, unneeded);
    }), { seed, numRuns });
  });
});
