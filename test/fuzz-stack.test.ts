/**
 * The whole-stack fuzzer (bench/fuzz.ts, `npm run fuzz -- --frames N`) at a
 * small size: structured and random frames through a stack serving live
 * TCP connections, in lockstep with a second stack over differently
 * poisoned pools. No crash, no out-of-packet read, no leaked mbuf.
 */
import { expect } from 'chai';
import { runFuzz } from '../bench/fuzz.js';
import { pinnedSeed } from './helpers/seed.js';

describe('fuzz: whole stack, live connections, poisoned pools (bench/fuzz.ts)', () => {
  for (const seed of [1, pinnedSeed(20261204, 'FUZZ_SEED')]) {
    it(`4,000 frames run clean (seed ${seed}; replay: npm run fuzz -- --frames 4000 --seed ${seed})`, async function () {
      this.timeout(120_000);
      const r = await runFuzz({ frames: 4000, seed });
      const msg = JSON.stringify({ ...r, drops: undefined });
      expect(r.crashes, msg).to.equal(0);
      expect(r.outOfPacketReads, msg).to.equal(0);
      expect(r.leakedMbufs, msg).to.equal(0);
      // The frames reached deep: connections were opened and TCP, IP and ARP all counted drops.
      expect(r.connections, msg).to.be.greaterThan(50);
      expect(Object.keys(r.drops).some((k) => k.startsWith('tcp.')), msg).to.equal(true);
      expect(Object.keys(r.drops).some((k) => k.startsWith('reassembly.')), msg).to.equal(true);
    });
  }
});
