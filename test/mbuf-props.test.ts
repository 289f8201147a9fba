/**
 * The mbuf layer's pools against each other: one random sequence of packet
 * operations (alloc, prepend, adj, append, trim, truncate, chain, attach,
 * refSlice, free) runs on a TsMempool at the default base, on a TsMempool
 * whose span crosses a 4 GB boundary (pointer words carry into the high word,
 * and one mbuf's address has a zero low word), and on a DPDK pool when DPDK is
 * usable; after every step each live packet must read the same in all of
 * them (fields of every segment, the bytes, shared-buffer refcounts), and at
 * the end every pool must be full again. Failures print fast-check's seed
 * (FC_SEED replays one).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { MBUF_DEFAULT_HEADROOM, NO_MBUF, TsMempool, type Mempool, type Mbuf } from '../src/mbuf/index.js';
import { Dpdk, type DpdkMempool } from '../src/pmd/dpdk.js';
import { pinnedSeed } from './helpers/seed.js';

const DATA_ROOM = 256;
const COUNT = 512;
const TWO32 = 2 ** 32;
// Element size 512 (128 header + 384 buffer), first mbuf at offset 64: mbuf
// #100 sits exactly at 3 * 2^32, and the ones before it below the boundary.
const CARRY_BASE = 3 * TWO32 - 64 - 512 * 100;

type Op =
  | { k: 'alloc'; len: number; fill: number }
  | { k: 'fromBytes'; len: number; fill: number }
  | { k: 'prepend' | 'adj' | 'append' | 'trim' | 'truncate'; i: number; len: number }
  | { k: 'chain'; i: number; j: number }
  | { k: 'refSlice'; i: number; off: number; len: number }
  | { k: 'attach'; i: number; seg: number }
  | { k: 'free'; i: number };

const idx = fc.nat(1000);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('alloc' as const), len: fc.nat(DATA_ROOM), fill: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fromBytes' as const), len: fc.integer({ min: 1, max: 1200 }), fill: fc.nat(255) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constantFrom('prepend' as const, 'adj' as const, 'append' as const, 'trim' as const, 'truncate' as const), i: idx, len: fc.nat(300) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('chain' as const), i: idx, j: idx }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('refSlice' as const), i: idx, off: fc.nat(1500), len: fc.integer({ min: 1, max: 1500 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('attach' as const), i: idx, seg: fc.nat(8) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('free' as const), i: idx }) },
);

/** One pool and the packets the sequence holds in it (same order in every pool). */
interface Side { name: string; pool: Mempool; pkts: Mbuf[] }

/** What a fresh mbuf must look like (rte_pktmbuf_reset). */
function expectReset(s: Side, m: Mbuf): void {
  const p = s.pool;
  const what = `${s.name}: fresh mbuf`;
  expect(p.next(m), what).to.equal(NO_MBUF);
  expect([p.dataOff(m), p.dataLen(m), p.pktLen(m), p.nbSegs(m), p.refcnt(m), p.port(m)], what)
    .to.deep.equal([MBUF_DEFAULT_HEADROOM, 0, 0, 1, 1, 0xffff]);
  expect([p.olFlagsLo(m), p.olFlagsHi(m), p.packetType(m), p.txOffloadLo(m), p.txOffloadHi(m)], what)
    .to.deep.equal([0, 0, 0, 0, 0]);
  expect(p.dv.getUint16(m + 42, true), `${what}: vlan_tci`).to.equal(0);
  expect(p.bufLenOf(m), `${what}: buf_len`).to.equal(p.bufLen);
  expect(p.isDirect(m), what).to.equal(true);
}

/** A packet's observable state: per-segment fields, owner refcounts, bytes. */
function snapshot(p: Mempool, m: Mbuf): unknown {
  const segs: unknown[] = [];
  for (let s = m; s !== NO_MBUF; s = p.next(s)) {
    const direct = p.isDirect(s);
    const owner = direct ? s : p.directOf(s);
    segs.push({
      dataOff: p.dataOff(s), dataLen: p.dataLen(s), refcnt: p.refcnt(s), direct, ownerRefcnt: p.refcnt(owner),
      bufLen: p.bufLenOf(s), headroom: p.headroom(s), tailroom: p.tailroom(s),
      // The data really lies in the owner's buffer.
      inOwner: p.mtod(s) - p.bufStart(s) === p.dataOff(s) && p.bufStart(s) === owner + 128 + p.privSize,
      // buf_addr and buf_iova as DPDK would see them: the owner's, word for word.
      addrIsOwners: p.dv.getBigUint64(s, true) === p.dv.getBigUint64(owner, true)
        && p.dv.getBigUint64(s + 8, true) === p.dv.getBigUint64(owner + 8, true),
      addr: p.dv.getBigUint64(s, true) === BigInt(p.baseAddr + p.bufStart(s)),
    });
  }
  return { pktLen: p.pktLen(m), nbSegs: p.nbSegs(m), countSegs: p.countSegs(m), segs, bytes: Array.from(p.toBytes(m)) };
}

/** Apply one operation to one side; returns a comparable outcome. */
function apply(s: Side, op: Op, appendOk: boolean): unknown {
  const p = s.pool;
  const n = s.pkts.length;
  switch (op.k) {
    case 'alloc': {
      const m = p.alloc();
      if (m === NO_MBUF) return 'empty';
      expectReset(s, m);
      const at = p.append(m, op.len);
      p.u8.fill(op.fill, at, at + op.len);
      s.pkts.push(m);
      return at >= 0;
    }
    case 'fromBytes': {
      const b = new Uint8Array(op.len);
      for (let i = 0; i < b.length; i++) b[i] = (op.fill + i) & 0xff;
      const m = p.fromBytes(b);
      if (m === NO_MBUF) return 'empty';
      s.pkts.push(m);
      return true;
    }
    case 'free': {
      if (n === 0) return null;
      const [m] = s.pkts.splice(op.i % n, 1);
      p.free(m);
      return true;
    }
    case 'chain': {
      if (n < 2) return null;
      const i = op.i % n;
      let j = op.j % (n - 1);
      if (j >= i) j++;
      const ok = p.chain(s.pkts[i], s.pkts[j]);
      if (ok) s.pkts.splice(j, 1);
      return ok;
    }
    case 'refSlice': {
      if (n === 0) return null;
      const m = s.pkts[op.i % n];
      const r = p.refSlice(m, op.off % (p.pktLen(m) + 1), op.len);
      if (r !== NO_MBUF) s.pkts.push(r);
      return r !== NO_MBUF;
    }
    case 'attach': {
      if (n === 0) return null;
      let seg = s.pkts[op.i % n];
      for (let k = 0; k < op.seg && p.next(seg) !== NO_MBUF; k++) seg = p.next(seg);
      const mi = p.alloc();
      if (mi === NO_MBUF) return 'empty';
      p.attach(mi, seg);
      s.pkts.push(mi);
      return true;
    }
    default: {
      if (n === 0) return null;
      const m = s.pkts[op.i % n];
      // Shared data must not be grown into: only the front and back of an unshared last segment.
      if (op.k === 'prepend') {
        const at = p.prepend(m, op.len);
        // The headroom's old bytes differ from pool to pool.
        if (at >= 0) p.u8.fill(0xa5, at, at + op.len);
        return at >= 0;
      }
      if (op.k === 'adj') return p.adj(m, op.len) >= 0;
      if (op.k === 'append') {
        if (!appendOk) return null;
        const at = p.append(m, op.len);
        if (at >= 0) p.u8.fill(0x5a, at, at + op.len);
        return at >= 0;
      }
      if (op.k === 'trim') return p.trim(m, op.len);
      return p.truncate(m, op.len % (p.pktLen(m) + 2));
    }
  }
}

/**
 * Run `ops`; after each op with `check` set, flush every pool (a DPDK pool
 * defers the frees it cannot stash: until then refcounts held by freed
 * packets still count) and compare every packet.
 */
function run(sides: Side[], ops: Array<[Op, boolean]>): void {
  try {
    for (const [op, check] of ops) {
      // Whether the last segment may grow: decided on the first pool, whose
      // frees are immediate (a deferred free may keep a refcount up elsewhere).
      let appendOk = false;
      if (op.k === 'append' && sides[0].pkts.length > 0) {
        const p = sides[0].pool;
        const last = p.lastSeg(sides[0].pkts[op.i % sides[0].pkts.length]);
        appendOk = p.isDirect(last) && p.refcnt(last) === 1;
      }
      const outcomes = sides.map((s) => apply(s, op, appendOk));
      for (let k = 1; k < sides.length; k++) expect(outcomes[k], `${sides[k].name}: outcome of ${JSON.stringify(op)}`).to.deep.equal(outcomes[0]);
      for (let k = 1; k < sides.length; k++) expect(sides[k].pkts.length).to.equal(sides[0].pkts.length);
      if (!check) continue;
      for (const s of sides) s.pool.flush();
      for (let i = 0; i < sides[0].pkts.length; i++) {
        const want = snapshot(sides[0].pool, sides[0].pkts[i]);
        for (let k = 1; k < sides.length; k++) {
          expect(snapshot(sides[k].pool, sides[k].pkts[i]), `${sides[k].name}: packet ${i} after ${JSON.stringify(op)}`).to.deep.equal(want);
        }
      }
    }
  } finally {
    for (const s of sides) for (const m of s.pkts.splice(0)) s.pool.free(m);
  }
  for (const s of sides) {
    expect(s.pool.inUse(), `${s.name}: mbufs left`).to.equal(0);
    expect(s.pool.available(), `${s.name}: available`).to.equal(s.pool.capacity);
    expect(s.pool.hasAtLeast(s.pool.capacity), `${s.name}: hasAtLeast(capacity)`).to.equal(true);
    expect(s.pool.hasAtLeast(s.pool.capacity + 1), `${s.name}: hasAtLeast(capacity + 1)`).to.equal(false);
  }
}

const seed = pinnedSeed(271_828_182, 'FC_SEED');

describe('mbuf: pools agree (property)', function () {
  const avail = Dpdk.availability();
  let dpdkPool: DpdkMempool | undefined;
  let dpdk: Dpdk | undefined;

  before(function () {
    console.log(`    fast-check seed ${seed}${avail.ok ? '' : ` (no DPDK pool: ${avail.reason})`}`);
    if (avail.ok) {
      dpdk = Dpdk.init();
      dpdkPool = dpdk.createPool({ count: COUNT, dataRoom: DATA_ROOM, cacheSize: 0 });
    }
  });
  after(() => { if (dpdk && dpdkPool) dpdk.destroyPool(dpdkPool); });

  it('the carrying pool really straddles a 4 GB boundary, and a zero low word is not NULL', () => {
    const p = new TsMempool({ count: COUNT, dataRoom: DATA_ROOM, baseAddr: CARRY_BASE });
    const got: Mbuf[] = [];
    for (let m = p.alloc(); m !== NO_MBUF; m = p.alloc()) got.push(m);
    const zeroLo = got.find((m) => (p.baseAddr + m) % TWO32 === 0);
    expect(zeroLo, 'an mbuf at a multiple of 4 GB').to.not.equal(undefined);
    const below = got.find((m) => p.baseAddr + m < 3 * TWO32)!;
    for (const [a, b] of [[below, zeroLo!], [zeroLo!, below], [below, got[got.length - 1]]]) {
      p.setNext(a, b);
      expect(p.next(a)).to.equal(b);
      expect(p.dv.getBigUint64(a + 64, true)).to.equal(BigInt(p.baseAddr + b));
      p.setNext(a, NO_MBUF);
      expect(p.next(a)).to.equal(NO_MBUF);
    }
    for (const m of got) {
      expect(p.mtod(m)).to.equal(m + 128 + MBUF_DEFAULT_HEADROOM);
      expect(p.bufStart(m)).to.equal(m + 128);
    }
    for (const m of got) p.free(m);
    expect(p.inUse()).to.equal(0);
  });

  it('random packet operations leave the same fields in every pool, and every mbuf comes back', () => {
    const ts = new TsMempool({ count: COUNT, dataRoom: DATA_ROOM, name: 'ts' });
    const carry = new TsMempool({ count: COUNT, dataRoom: DATA_ROOM, name: 'ts-carry', baseAddr: CARRY_BASE });
    fc.assert(fc.property(fc.array(fc.tuple(opArb, fc.boolean()), { maxLength: 80 }), (ops) => {
      const sides: Side[] = [{ name: 'ts', pool: ts, pkts: [] }, { name: 'ts-carry', pool: carry, pkts: [] }];
      if (dpdkPool) sides.push({ name: 'dpdk', pool: dpdkPool, pkts: [] });
      run(sides, ops);
    }), { seed, numRuns: 150 });
  });
});
