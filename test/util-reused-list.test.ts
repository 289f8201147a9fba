/** ReusedList (src/util/reused-list.ts): a list emptied and refilled without giving its storage up. */
import { expect } from 'chai';
import { Session } from 'node:inspector';
import { ReusedList } from '../src/util/reused-list.js';

/** Bytes the JS heap allocates (collected objects included) while `fn` runs, by V8's sampling heap profiler. */
function sampledBytes(fn: () => void): number {
  const s = new Session();
  s.connect();
  let total = -1;
  s.post('HeapProfiler.enable');
  s.post('HeapProfiler.startSampling', { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  fn();
  s.post('HeapProfiler.stopSampling', (err, res) => {
    if (err) throw err;
    interface N { selfSize: number; children: N[] }
    const sum = (n: N): number => n.children.reduce((a, c) => a + sum(c), n.selfSize);
    total = sum((res as unknown as { profile: { head: N } }).profile.head);
  });
  s.disconnect();
  return total;
}

describe('util/reused-list', () => {
  it('pushes, reads back and clears', () => {
    const filler = { id: -1 };
    const l = new ReusedList(filler);
    const a = { id: 1 }, b = { id: 2 };
    l.push(a); l.push(b);
    expect(l.length).to.equal(2);
    expect(l.at(0)).to.equal(a);
    expect(l.at(1)).to.equal(b);
    l.clear();
    expect(l.length).to.equal(0);
    // The emptied slots hold the filler, not what was in them.
    expect(l.at(0)).to.equal(filler);
    expect(l.at(1)).to.equal(filler);
    l.push(b);
    expect(l.length).to.equal(1);
    expect(l.at(0)).to.equal(b);
  });

  it('refills without allocating, where an array emptied by length = 0 allocates a new store each time', () => {
    const fn = (): void => {};
    const cycles = 100000;
    const l = new ReusedList<() => void>(fn);
    const a: Array<() => void> = [];
    const refillList = (): void => { for (let k = 0; k < 8; k++) l.push(fn); l.clear(); };
    const refillArray = (): void => { for (let k = 0; k < 8; k++) a.push(fn); a.length = 0; };
    for (let i = 0; i < cycles; i++) { refillList(); refillArray(); } // warm up (the JIT)
    const listBytes = sampledBytes(() => { for (let i = 0; i < cycles; i++) refillList(); });
    const arrayBytes = sampledBytes(() => { for (let i = 0; i < cycles; i++) refillArray(); });
    expect(arrayBytes / cycles).to.be.greaterThan(100); // the measurement sees what it should
    expect(listBytes / cycles).to.be.lessThan(4); // the profiler's own allocations, spread over the cycles
  });
});
