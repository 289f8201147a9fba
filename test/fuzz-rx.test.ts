/**
 * Property: any sequence of frames — valid ones, mutated ones, random
 * bytes, cut into arbitrary segment chains — goes through the whole receive
 * path of a Stack without throwing, without reading outside the packet
 * (each input runs under three pool poisons that must all agree:
 * test/helpers/fuzz-rx.ts), and without leaking an mbuf.
 */
import fc from 'fast-check';
import { Stack } from '../src/stack.js';
import { pinnedSeed } from './helpers/seed.js';
import { type FuzzFrame, type FuzzStackOptions, fuzzCheck, fuzzFrames, mutate, mutations } from './helpers/fuzz-rx.js';
import {
  BCAST, IP_A, IP_B, MAC_A, MAC_B, arp, eth, fragments, icmpEcho, ipv4, pattern, tcpSyn, udp,
} from './stack-frames.js';

const ZERO = new Uint8Array(6);
const IPF = (p: Uint8Array, proto: number, o = {}) => eth(MAC_A, MAC_B, 0x0800, ipv4(p, { proto, ...o }));

/** Valid frames of every kind the stack understands, to mutate from. */
const seeds: Uint8Array[] = [
  eth(BCAST, MAC_B, 0x0806, arp(1, MAC_B, IP_B, ZERO, IP_A)),
  eth(MAC_A, MAC_B, 0x0806, arp(2, MAC_B, IP_B, MAC_A, IP_A)),
  eth(BCAST, MAC_B, 0x0806, arp(1, MAC_B, IP_B, ZERO, IP_B)),
  IPF(icmpEcho(1, 1, pattern(56)), 1),
  IPF(icmpEcho(1, 2, pattern(1400)), 1),
  IPF(icmpEcho(0, 0, ipv4(pattern(8), { src: IP_A, dst: IP_B }), 3), 1),
  IPF(icmpEcho(1, 1, pattern(8)), 1, { options: Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 1) }),
  IPF(udp(IP_B, IP_A, 1000, 53, pattern(20)), 17),
  IPF(tcpSyn(IP_B, IP_A, 40000, 80), 6),
  IPF(pattern(30), 200),
  ...fragments(icmpEcho(9, 9, pattern(300)), 128, { id: 4242 }).map((f) => eth(MAC_A, MAC_B, 0x0800, f)),
];

const mutation = mutations({ pos: [64, 2000], cut: 1600, add: 80 });

const frameBytes = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: 4 })).map(([s, m]) => mutate(s, m)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  // random bytes behind a valid Ethernet header for us, ARP or IPv4
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(0x0800, 0x0806), fc.uint8Array({ maxLength: 200 })).map(([t, p]) => eth(MAC_A, MAC_B, t, p)) },
);

const fuzzFrame = fuzzFrames(frameBytes, 120, 40_000);

const options: FuzzStackOptions = {
  checksumUnneeded: false,
  // Fixed secrets: ISNs and IP IDs must not differ between the runs compared.
  stack: (port, clock) => new Stack({ port, ip: '10.72.0.1/24', clock, tcp: { isnSecret: new Uint8Array(16) }, ipv4: { idSecret: new Uint8Array(16) } }),
};
const check = (frames: FuzzFrame[]): void => fuzzCheck(frames, options);

describe('fuzz: receive path', function () {
  this.timeout(120_000);

  const seed = pinnedSeed(0x5eed_f00d, 'FUZZ_SEED');
  it(`never throws, never reads outside a packet, never leaks an mbuf (seed ${seed})`, () => {
    const numRuns = Number(process.env.FUZZ_RUNS ?? 150);
    try {
      fc.assert(fc.property(fc.array(fuzzFrame, { minLength: 1, maxLength: 8 }), (frames) => {
        check(frames);
      }), { seed, numRuns });
    } catch (e) {
      console.error(`fuzz-rx failed with seed ${seed} (rerun: FUZZ_SEED=${seed})`);
      throw e;
    }
  });

  // Inputs that once failed, kept as fixed cases.
  const regressions: Array<[string, FuzzFrame[]]> = [
    ['IP header split across segments, pulled up', [{ bytes: IPF(icmpEcho(1, 1, pattern(40)), 1), segs: [15, 3, 2], waitMs: 0 }]],
    ['empty segments in a chain', [{ bytes: IPF(icmpEcho(1, 1, pattern(40)), 1), segs: [0, 14, 0, 20, 0], waitMs: 0 }]],
    ['lone last fragment timing out', [{ bytes: seeds[seeds.length - 1], segs: null, waitMs: 40_000 }]],
  ];
  for (const [name, frames] of regressions) {
    it(`fixed case: ${name}`, () => {
      check(frames);
    });
  }
});
