/** The IPv4 connection lookup table (src/tcp/demux.ts) against a Map model, under random inserts and deletes. */
import { expect } from 'chai';
import fc from 'fast-check';
import { ConnTable } from '../src/tcp/demux.js';
import { pinnedSeed } from './helpers/seed.js';

describe('tcpx/demux', () => {
  it('finds, replaces and deletes by (ports, address)', () => {
    const t = new ConnTable<string>(4);
    t.set((80 << 16) | 1234, 0x0a000001, 'a');
    t.set((80 << 16) | 1234, 0x0a000002, 'b');
    t.set((65535 << 16) | 65535, -1, 'c'); // keys that are negative as int32
    expect(t.get((80 << 16) | 1234, 0x0a000001)).to.equal('a');
    expect(t.get((80 << 16) | 1234, 0x0a000002)).to.equal('b');
    expect(t.get((65535 << 16) | 65535, 0xffffffff)).to.equal('c');
    expect(t.get((80 << 16) | 1235, 0x0a000001)).to.equal(undefined);
    t.delete((80 << 16) | 1234, 0x0a000001, 'not a');
    expect(t.get((80 << 16) | 1234, 0x0a000001)).to.equal('a');
    t.delete((80 << 16) | 1234, 0x0a000001, 'a');
    expect(t.get((80 << 16) | 1234, 0x0a000001)).to.equal(undefined);
    expect(t.size).to.equal(2);
  });

  const seed = pinnedSeed(11);
  it(`behaves like a Map under random inserts and deletes, through growth (seed ${seed})`, () => {
    // Few distinct keys, so runs collide, wrap and shift back often.
    const key = fc.record({ lp: fc.constantFrom(80, 443, 65535), rp: fc.nat(40), ip: fc.constantFrom(1, 2, 0x0a000001, 0xffffffff) });
    const op = fc.record({ del: fc.boolean(), k: key });
    fc.assert(fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const t = new ConnTable<number>(2);
      const model = new Map<string, number>();
      const name = (k: { lp: number; rp: number; ip: number }): string => `${k.lp}/${k.rp}/${k.ip}`;
      ops.forEach((o, n) => {
        const ports = (o.k.lp << 16) | o.k.rp;
        const m = model.get(name(o.k));
        if (o.del) {
          if (m !== undefined) { t.delete(ports, o.k.ip, m); model.delete(name(o.k)); }
        } else { t.set(ports, o.k.ip, n); model.set(name(o.k), n); }
        expect(t.size).to.equal(model.size);
      });
      for (const lp of [80, 443, 65535]) for (let rp = 0; rp <= 40; rp++) for (const ip of [1, 2, 0x0a000001, 0xffffffff]) {
        expect(t.get((lp << 16) | rp, ip)).to.equal(model.get(`${lp}/${rp}/${ip}`));
      }
    }), { seed });
  });
});
