import { expect } from 'chai';
import { lookup, readPerfMap, topFunctions } from '../bench/callgrind-top.js';

describe('bench/callgrind-top: JIT addresses named from the perf map', () => {
  const map = readPerfMap('1000 100 JS:*a file:///x/dist/src/a.js:1:1\n2000 50 JS:^b file:///x/dist/src/b.js:2:2\nbad line\n3000 10 JS:*a file:///x/dist/src/a.js:1:1\n');
  it('looks addresses up by range', () => {
    expect(lookup(map, 0x1000)).to.equal('JS:*a file:///x/dist/src/a.js:1:1');
    expect(lookup(map, 0x10ff)).to.equal('JS:*a file:///x/dist/src/a.js:1:1');
    expect(lookup(map, 0x1100)).to.equal(undefined);
    expect(lookup(map, 0x2010)).to.equal('JS:^b file:///x/dist/src/b.js:2:2');
    expect(lookup(map, 0x10)).to.equal(undefined);
  });
  it('sums self costs per function over its code objects, skipping call edges', () => {
    const annotate = [
      '100,000 (100.0%)  PROGRAM TOTALS',
      ' 40,000 (40.00%)  ???:0x0000000000001010 [???]',
      ' 30,000 (30.00%)  ???:0x0000000000003004 [???]',
      ' 20,000 (20.00%)  ???:0x0000000000002000 [???]',
      '  9,000 ( 9.00%)  => ???:rte_pktmbuf_free_bulk (435x)',
      '  5,000 ( 5.00%)  ???:rte_pktmbuf_free_bulk [/usr/lib/librte_mbuf.so]',
    ].join('\n');
    const { total, fns } = topFunctions(annotate, map);
    expect(total).to.equal(100000);
    expect(fns.get('JS:*a file:///x/dist/src/a.js:1:1')).to.equal(70000);
    expect(fns.get('JS:^b file:///x/dist/src/b.js:2:2')).to.equal(20000);
    expect(fns.get('???:rte_pktmbuf_free_bulk [/usr/lib/librte_mbuf.so]')).to.equal(5000);
    expect(fns.size).to.equal(3);
  });
});
