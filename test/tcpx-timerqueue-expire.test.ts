import { expect } from 'chai';
import fc from 'fast-check';
import { TimerQueue, type TimerItem } from '../src/tcp/timer-queue.js';

class Item implements TimerItem {
  timerSlot = -1;
  timerAt = 0;
  timerDue = 0;
  constructor(readonly id: number) {}
}

/** What an expire callback does to the item it got (or to another one). */
type Act = { kind: 'none' } | { kind: 'later'; dt: number } | { kind: 'cancelOther'; other: number }
  | { kind: 'scheduleOther'; other: number; at: number } | { kind: 'checkHas' };

/** The reference: a plain map of deadlines, expired by scanning for the minimum. */
class Model {
  readonly at = new Map<number, number>();
  next(): number { let t = Infinity; for (const v of this.at.values()) if (v < t) t = v; return t; }
}

describe('tcpx/timer-queue: expire with callbacks that reschedule (the in-place path)', () => {
  const seed = Number(process.env.TZSTACK_SEED ?? 20261203);
  it(`matches a reference model under random schedules, cancels and callbacks (seed ${seed})`, () => {
    const act: fc.Arbitrary<Act> = fc.oneof(
      fc.constant<Act>({ kind: 'none' }),
      fc.record({ kind: fc.constant('later' as const), dt: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('cancelOther' as const), other: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ kind: fc.constant('scheduleOther' as const), other: fc.integer({ min: 0, max: 15 }), at: fc.integer({ min: 0, max: 200 }) }),
      fc.constant<Act>({ kind: 'checkHas' }),
    );
    const op = fc.oneof(
      fc.record({ op: fc.constant('schedule' as const), id: fc.integer({ min: 0, max: 15 }), at: fc.integer({ min: 0, max: 200 }) }),
      fc.record({ op: fc.constant('cancel' as const), id: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ op: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 40 }), acts: fc.array(act, { minLength: 1, maxLength: 8 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const q = new TimerQueue<Item>();
      const items = Array.from({ length: 16 }, (_, i) => new Item(i));
      const m = new Model();
      let now = 0;
      for (const o of ops) {
        if (o.op === 'schedule') { q.schedule(items[o.id], o.at); m.at.set(o.id, o.at); }
        else if (o.op === 'cancel') { q.cancel(items[o.id]); m.at.delete(o.id); }
        else {
          now += o.dt;
          let k = 0;
          const got: number[] = [];
          const want: number[] = [];
          q.expire(now, (it) => {
            got.push(it.id);
            // the model's next due item, in deadline order (ties: any order, so compare deadlines)
            const t = m.next();
            expect(t).to.be.at.most(now);
            expect(m.at.get(it.id)).to.equal(t);
            want.push(it.id);
            m.at.delete(it.id);
            expect(q.has(it)).to.equal(false);
            expect(q.size).to.equal(m.at.size);
            expect(q.nextDeadline()).to.equal(m.next());
            const a = o.acts[k++ % o.acts.length];
            if (a.kind === 'later') { q.schedule(it, now + a.dt); m.at.set(it.id, now + a.dt); }
            else if (a.kind === 'cancelOther') { q.cancel(items[a.other]); m.at.delete(a.other); }
            else if (a.kind === 'scheduleOther' && a.other !== it.id) { q.schedule(items[a.other], Math.max(now + 1, a.at)); m.at.set(a.other, Math.max(now + 1, a.at)); }
          });
          expect(got).to.deep.equal(want);
        }
        expect(q.size).to.equal(m.at.size);
        expect(q.nextDeadline()).to.equal(m.next());
        for (const it of items) expect(q.has(it)).to.equal(m.at.has(it.id));
      }
    }), { seed, numRuns: 300 });
  });

  it('drops an item whose callback throws, as if it had not rescheduled', () => {
    const q = new TimerQueue<Item>();
    const a = new Item(1), b = new Item(2);
    q.schedule(a, 1); q.schedule(b, 5);
    expect(() => q.expire(2, () => { throw new Error('boom'); })).to.throw('boom');
    expect(q.has(a)).to.equal(false);
    expect(q.size).to.equal(1);
    expect(q.nextDeadline()).to.equal(5);
  });
});
