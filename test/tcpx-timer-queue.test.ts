import { expect } from 'chai';
import fc from 'fast-check';
import { TimerQueue, type TimerItem } from '../src/tcp/timer-queue.js';
import { IsnGenerator } from '../src/tcp/isn.js';
import { RttEstimator } from '../src/tcp/rtt.js';

class Item implements TimerItem {
  timerIndex = -1;
  timerAt = 0;
  constructor(readonly id: number) {}
}

describe('tcpx/timer-queue', () => {
  it('expires in deadline order and honours reschedule and cancel', () => {
    const q = new TimerQueue<Item>();
    const a = new Item(1), b = new Item(2), c = new Item(3);
    q.schedule(a, 30); q.schedule(b, 10); q.schedule(c, 20);
    expect(q.nextDeadline()).to.equal(10);
    q.schedule(b, 40); // later
    q.schedule(a, 5);  // earlier
    q.cancel(c);
    q.cancel(c);       // twice is harmless
    expect(q.size).to.equal(2);
    const got: number[] = [];
    expect(q.expire(4, (i) => got.push(i.id))).to.equal(0);
    expect(q.expire(40, (i) => got.push(i.id))).to.equal(2);
    expect(got).to.deep.equal([1, 2]);
    expect(q.nextDeadline()).to.equal(Infinity);
    expect(a.timerIndex).to.equal(-1);
  });

  it('lets a callback reschedule its item into the future', () => {
    const q = new TimerQueue<Item>();
    const a = new Item(1);
    q.schedule(a, 10);
    let runs = 0;
    q.expire(10, (i) => { runs++; q.schedule(i, 20); });
    expect(runs).to.equal(1);
    expect(q.nextDeadline()).to.equal(20);
    q.clear();
    expect(q.size).to.equal(0);
    expect(q.has(a)).to.equal(false);
  });

  it('behaves like a sorted reference model under random operations', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('s' as const), id: fc.nat(19), at: fc.nat(1000) }),
      fc.record({ k: fc.constant('c' as const), id: fc.nat(19) }),
      fc.record({ k: fc.constant('e' as const), now: fc.nat(1000) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const q = new TimerQueue<Item>();
      const items = Array.from({ length: 20 }, (_, i) => new Item(i));
      const model = new Map<number, number>();
      for (const o of ops) {
        if (o.k === 's') { q.schedule(items[o.id], o.at); model.set(o.id, o.at); }
        else if (o.k === 'c') { q.cancel(items[o.id]); model.delete(o.id); }
        else {
          const due = [...model].filter(([, at]) => at <= o.now).map(([id, at]) => [at, id]);
          const got: number[][] = [];
          q.expire(o.now, (i) => got.push([i.timerAt, i.id]));
          // deadline order; ties in any order
          for (let k = 1; k < got.length; k++) expect(got[k][0]).to.be.at.least(got[k - 1][0]);
          expect(got.map((x) => x[1]).sort((x, y) => x - y)).to.deep.equal(due.map((x) => x[1]).sort((x, y) => x - y));
          for (const [, id] of due) model.delete(id);
        }
        expect(q.size).to.equal(model.size);
        expect(q.nextDeadline()).to.equal(model.size ? Math.min(...model.values()) : Infinity);
        for (const it of items) expect(q.has(it)).to.equal(model.has(it.id));
      }
    }));
  });
});

describe('tcpx/isn', () => {
  const key = new Uint8Array(16).fill(7);
  it('is deterministic with a fixed secret and differs per 4-tuple and secret', () => {
    const g1 = new IsnGenerator({ secret: key });
    const g2 = new IsnGenerator(key);
    const g3 = new IsnGenerator({ secret: new Uint8Array(16).fill(8) });
    expect(g1.next(1, 2, 3, 4, 0)).to.equal(g2.next(1, 2, 3, 4, 0));
    expect(g1.next(1, 2, 3, 4, 0)).to.not.equal(g1.next(1, 2, 3, 5, 0));
    expect(g1.next(1, 2, 3, 4, 0)).to.not.equal(g3.next(1, 2, 3, 4, 0));
    expect(new IsnGenerator().next(1, 2, 3, 4, 0)).to.not.equal(new IsnGenerator().next(1, 2, 3, 4, 0));
  });
  it('advances one per 4 µs and wraps unsigned', () => {
    const g = new IsnGenerator(key);
    const f = g.offset(1, 2, 3, 4);
    expect(g.next(1, 2, 3, 4, 0)).to.equal(f);
    expect(g.next(1, 2, 3, 4, 1)).to.equal((f + 250) >>> 0);
    expect(g.next(1, 2, 3, 4, 0.004)).to.equal((f + 1) >>> 0);
    fc.assert(fc.property(fc.double({ min: 0, max: 1e12, noNaN: true }), (t) => {
      const v = g.next(1, 2, 3, 4, t);
      expect(v).to.be.within(0, 0xffffffff);
      expect(Number.isInteger(v)).to.equal(true);
    }));
  });
});

describe('tcpx/rtt', () => {
  it('follows the RFC 6298 formulas step by step', () => {
    const r = new RttEstimator({ initialRtoMs: 1000, minRtoMs: 200, maxRtoMs: 120000 });
    expect(r.rto).to.equal(1000);
    r.sample(100);
    expect([r.srtt, r.rttvar]).to.deep.equal([100, 50]);
    expect(r.rto).to.equal(300); // 100 + 4*50
    r.sample(300);
    // RTTVAR first, with the old SRTT
    expect(r.rttvar).to.equal(0.75 * 50 + 0.25 * 200);
    expect(r.srtt).to.equal(0.875 * 100 + 0.125 * 300);
    expect(r.rto).to.equal(r.srtt + 4 * r.rttvar);
  });

  it('matches a reference recurrence for any samples, within [minRto, maxRto]', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 200000, noNaN: true }), { minLength: 1, maxLength: 50 }), (xs) => {
      const r = new RttEstimator({ minRtoMs: 200, maxRtoMs: 60000 });
      let srtt = 0, rttvar = 0;
      xs.forEach((x, i) => {
        if (i === 0) { srtt = x; rttvar = x / 2; } else { rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - x); srtt = 0.875 * srtt + 0.125 * x; }
        r.sample(x);
        expect(r.srtt).to.be.closeTo(srtt, 1e-6 * (1 + srtt));
        expect(r.rttvar).to.be.closeTo(rttvar, 1e-6 * (1 + rttvar));
        const want = Math.min(60000, Math.max(200, srtt + Math.max(1, 4 * rttvar)));
        expect(r.rto).to.be.closeTo(want, 1e-6 * want);
      });
      expect(r.minRtt).to.equal(Math.min(...xs));
    }));
  });

  it('uses the clock granularity when RTTVAR is tiny', () => {
    const r = new RttEstimator({ minRtoMs: 0, granularityMs: 10 });
    r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50);
    r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50); r.sample(50);
    expect(r.rto).to.be.closeTo(60, 1); // 50 + max(10, 4*small)
  });

  it('backs off exponentially up to maxRto, until the next sample', () => {
    const r = new RttEstimator({ initialRtoMs: 1000, minRtoMs: 200, maxRtoMs: 5000 });
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) { r.backoff(); seen.push(r.rto); }
    expect(seen).to.deep.equal([2000, 4000, 5000, 5000, 5000, 5000]);
    expect(r.backoffs).to.equal(6);
    r.sample(10);
    expect(r.backoffs).to.equal(0);
    expect(r.rto).to.equal(200);
    r.reset(3000);
    expect([r.rto, r.hasSample, r.srtt]).to.deep.equal([3000, false, 0]);
    r.reset();
    expect(r.rto).to.equal(1000);
    r.sample(-1); r.sample(NaN);
    expect(r.hasSample).to.equal(false);
  });
});
