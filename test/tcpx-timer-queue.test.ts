/** The connection timer queue (src/tcp/timer-queue.ts): deadline order, reschedule and cancel, against a sorted model. */
import { expect } from 'chai';
import fc from 'fast-check';
import { TimerQueue, type TimerItem } from '../src/tcp/timer-queue.js';
import { pinnedSeed } from './helpers/seed.js';

class Item implements TimerItem {
  timerSlot = -1;
  timerAt = 0;
  timerDue = 0;
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
    expect(a.timerSlot).to.equal(-1);
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

  const seed = pinnedSeed(5);
  it(`behaves like a sorted reference model under random operations (seed ${seed})`, () => {
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
    }), { seed });
  });
});
