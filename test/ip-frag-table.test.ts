/**
 * The fragment table both reassemblers share (src/ip/frag-table.ts),
 * driven through each family's reassembler directly: any order of
 * fragments with duplicates reassembles byte-exact with the header
 * rewritten, counters as each family had them; an overlap frees an IPv4
 * entry but keeps an IPv6 one dead (RFC 5722), every mbuf returned.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Reassembler } from '../src/ip/reassembly.js';
import { Reassembler6 } from '../src/ip/reassembly6.js';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { pinnedSeed } from './helpers/seed.js';

function v4Frag(payload: Uint8Array, off: number, len: number, more: boolean, id: number): Uint8Array {
  const b = new Uint8Array(20 + len);
  const dv = new DataView(b.buffer);
  b[0] = 0x45; dv.setUint16(2, 20 + len); dv.setUint16(4, id); dv.setUint16(6, (more ? 0x2000 : 0) | (off / 8)); b[8] = 64; b[9] = 17;
  dv.setUint32(12, 0x0a000002); dv.setUint32(16, 0x0a000001);
  b.set(payload.subarray(off, off + len), 20);
  return b;
}

function v6Frag(payload: Uint8Array, off: number, len: number, more: boolean, id: number): Uint8Array {
  const b = new Uint8Array(48 + len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x60000000); dv.setUint16(4, 8 + len); b[6] = 44; b[7] = 64;
  dv.setUint32(8, 0xfd000000); dv.setUint32(20, 2); dv.setUint32(24, 0xfd000000); dv.setUint32(36, 1);
  b[40] = 17; dv.setUint16(42, off | (more ? 1 : 0)); dv.setUint32(44, id);
  b.set(payload.subarray(off, off + len), 48);
  return b;
}

interface Family {
  name: string;
  make(pool: TsMempool): { insert(bytes: Uint8Array, now: number): Mbuf; r: Reassembler | Reassembler6 };
  frag: typeof v4Frag;
  hdr: number;
}

const FAMILIES: Family[] = [
  {
    name: 'IPv4', hdr: 20, frag: v4Frag,
    make: (pool) => {
      const r = new Reassembler(pool);
      return { r, insert: (b, now) => r.insert(pool.fromBytes(b), 20, now) };
    },
  },
  {
    name: 'IPv6', hdr: 40, frag: v6Frag,
    make: (pool) => {
      const r = new Reassembler6(pool);
      return { r, insert: (b, now) => r.insert(pool.fromBytes(b), 40, 6, now) };
    },
  },
];

describe('ip: the shared fragment table', () => {
  for (const fam of FAMILIES) {
    const seed = pinnedSeed(2026_1204 + fam.hdr, 'FRAG_SEED');
    it(`${fam.name}: any order with duplicates reassembles byte-exact, header rewritten (seed ${seed})`, () => {
      fc.assert(fc.property(
        fc.integer({ min: 9, max: 6000 }), fc.integer({ min: 1, max: 180 }), fc.array(fc.nat(), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 5 }),
        (n, units, order, dups) => {
          const pool = new TsMempool({ count: 256 });
          const { r, insert } = fam.make(pool);
          const payload = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
          const size = Math.max(units, Math.ceil(n / 512)) * 8; // at most 64 fragments (the default bound)
          const frags: Uint8Array[] = [];
          for (let off = 0; off < n; off += size) frags.push(fam.frag(payload, off, Math.min(size, n - off), off + size < n, 4242));
          // A permutation from `order`, then duplicates of some.
          const idx = frags.map((_, i) => i);
          for (let i = 0; i < idx.length && i < order.length; i++) {
            const j = order[i] % idx.length;
            [idx[i], idx[j]] = [idx[j], idx[i]];
          }
          const seq = [...idx];
          for (const d of dups) seq.splice((d >> 8) % (seq.length + 1), 0, idx[d % idx.length]);
          let whole = NO_MBUF;
          let dupSeen = 0;
          const seen = new Set<number>();
          for (const i of seq) {
            if (whole !== NO_MBUF) break;
            if (seen.has(i)) dupSeen++;
            seen.add(i);
            whole = insert(frags[i], 1000);
          }
          expect(whole).to.not.equal(NO_MBUF);
          const out = pool.toBytes(whole);
          pool.free(whole);
          expect(out.length).to.equal(fam.hdr + n);
          expect(Buffer.from(out.subarray(fam.hdr)).equals(Buffer.from(payload))).to.equal(true);
          const dv = new DataView(out.buffer, out.byteOffset);
          if (fam.hdr === 20) {
            expect([dv.getUint16(2), dv.getUint16(6)]).to.deep.equal([20 + n, 0]);
          } else {
            expect([dv.getUint16(4), out[6]]).to.deep.equal([n, 17]);
          }
          expect(r.counters.tx).to.equal(1);
          expect(r.counters.rx).to.equal(frags.length);
          expect(r.counters.drops.duplicate).to.equal(dupSeen);
          expect(r.pending).to.equal(0);
          expect(r.heldBytes).to.equal(0);
          r.close();
          expect(pool.inUse()).to.equal(0);
        },
      ), { seed, numRuns: 150 });
    });
  }

  it('an overlap frees an IPv4 entry; an IPv6 one stays dead and drops the later fragments until it times out', () => {
    const pool = new TsMempool({ count: 64 });
    const payload = new Uint8Array(64).fill(3);
    const v4 = FAMILIES[0].make(pool);
    const v6 = FAMILIES[1].make(pool);
    for (const [fam, x] of [[FAMILIES[0], v4], [FAMILIES[1], v6]] as const) {
      expect(x.insert(fam.frag(payload, 0, 32, true, 9), 0)).to.equal(NO_MBUF);
      expect(x.insert(fam.frag(payload, 16, 32, true, 9), 0)).to.equal(NO_MBUF); // overlaps [16, 32)
      expect(x.insert(fam.frag(payload, 48, 16, false, 9), 0)).to.equal(NO_MBUF);
    }
    const d4 = v4.r.counters.drops as Record<string, number>;
    const d6 = v6.r.counters.drops as Record<string, number>;
    // IPv4: the entry went with the overlap; the last fragment starts a new one.
    expect([d4.overlap, v4.r.pending, v4.r.counters.rx]).to.deep.equal([1, 1, 2]);
    // IPv6: the entry is dead; the last fragment is dropped after it.
    expect([d6.overlap, d6.afterOverlap, v6.r.pending, v6.r.counters.rx]).to.deep.equal([1, 1, 1, 1]);
    v4.r.tick(60_001);
    v6.r.tick(60_001);
    expect([d4.timeout, d6.timeout, v4.r.pending, v6.r.pending]).to.deep.equal([1, 0, 0, 0]);
    expect(pool.inUse()).to.equal(0);
  });
});
