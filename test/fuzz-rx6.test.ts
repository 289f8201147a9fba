/**
 * Property: the IPv6 receive path (IPv6, extension headers, reassembly,
 * ICMPv6, Neighbor Discovery) takes any sequence of frames — valid ones,
 * mutated ones, random bytes behind an IPv6 Ethernet header, cut into
 * arbitrary segment chains — without throwing, without reading outside the
 * packet, and without leaking an mbuf. As in test/helpers/fuzz-rx.ts, each
 * input runs on fresh stacks whose pools were filled with zeros and two
 * random poisons, and everything the stacks do must agree. Half the runs
 * declare checksums unneeded, so mutated ND messages get past the checksum
 * and into the ND state machine.
 */
import fc from 'fast-check';
import { ipv6Protocol } from '../src/ipv6-attach.js';
import { Stack } from '../src/stack.js';
import { pinnedSeed } from './helpers/seed.js';
import { type FuzzFrame, fuzzCheck, fuzzFrames, mutate, mutations } from './helpers/fuzz-rx.js';
import { concat, eth, pattern } from './stack-frames.js';
import {
  echo6, fragHeader, fragments6, frame6, GA_A, GA_B, LL_A, LL_B, MAC6_A, MAC6_B, na, ns, optsHeader, ra, routingHeader,
  solicited,
} from './ip6-frames.js';

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

const mutation = mutations({ pos: [100, 400], cut: 500, add: 64 });

const frameBytes = fc.oneof(
  // Bytes set past the Ethernet header, where the IPv6 fields are.
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: 4 })).map(([s, m]) => mutate(s, m, 14)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((p) => eth(MAC6_A, MAC6_B, 0x86dd, p)) },
);
const fuzzFrame = fuzzFrames(frameBytes, 80, 70_000);

function check(frames: FuzzFrame[], checksumUnneeded: boolean): void {
  fuzzCheck(frames, {
    checksumUnneeded,
    stack: (port, clock) => new Stack({
      port, ip: '10.72.0.1/24', clock, tcp: { isnSecret: new Uint8Array(16) },
      protocols: [ipv6Protocol({ addresses: [`${GA_A}/64`], gateway: LL_B })],
    }),
    settleSteps: 3,
  });
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
