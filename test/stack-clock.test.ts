import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { PollClock, type Clock, VirtualClock } from '../src/util/clock.js';

/** A clock that counts its readings and moves 1 ms on each. */
class CountingClock implements Clock {
  reads = 0;
  now(): number { return ++this.reads; }
}

describe('stack: one clock reading per poll (PollClock)', () => {
  it('reads the source on every call outside a poll and once within one', () => {
    const src = new CountingClock();
    const c = new PollClock(src);
    expect(c.now()).to.equal(1);
    expect(c.now()).to.equal(2);
    expect(c.beginPoll()).to.equal(3);
    expect([c.now(), c.now(), c.now()]).to.deep.equal([3, 3, 3]);
    c.endPoll();
    expect(c.now()).to.equal(4);
    expect(src.reads).to.equal(4);
  });

  it('keeps the outer reading when a poll is entered again from within one', () => {
    const src = new CountingClock();
    const c = new PollClock(src);
    expect(c.beginPoll()).to.equal(1);
    expect(c.beginPoll()).to.equal(1);
    c.endPoll();
    expect(c.now()).to.equal(1);
    c.endPoll();
    expect(c.now()).to.equal(2);
    c.endPoll(); // unbalanced: harmless
    expect(c.now()).to.equal(3);
  });

  it('a stack reads its clock once per poll, and the wrapper follows a VirtualClock between polls', async () => {
    const pool = new TsMempool({ count: 256 });
    const [a, b] = createLinkPair(pool);
    const src = new CountingClock();
    const s1 = new Stack({ port: a, ip: '10.72.0.1/24', clock: src });
    const vc = new VirtualClock(500);
    const s2 = new Stack({ port: b, ip: '10.72.0.2/24', clock: vc });
    try {
      expect(s1.icmp.ping(s2.localIp, 1, 1, 56)).to.equal(true);
      for (let i = 0; i < 5; i++) {
        const before = src.reads;
        s1.poll();
        expect(src.reads - before, 'readings in one poll').to.equal(1);
        s2.poll();
      }
      expect(s2.clock.now()).to.equal(500);
      vc.advance(25);
      expect(s2.clock.now()).to.equal(525);
      let seen = -1;
      s2.addTicker((now) => { seen = now; });
      s2.poll();
      expect(seen).to.equal(525);
    } finally {
      await s1.close();
      await s2.close();
    }
    expect(pool.inUse(), 'mbufs leaked').to.equal(0);
  });
});
