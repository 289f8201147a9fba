import { expect } from 'chai';
import { ARP_DROP_REASONS } from '../src/eth/arp.js';
import { countDrop, newCounters } from '../src/eth/counters.js';
import { ETH_DROP_REASONS } from '../src/eth/ethernet.js';
import { ICMP_DROP_REASONS, ICMP_SUPPRESS_REASONS } from '../src/ip/icmp.js';
import { IPV4_DROP_REASONS } from '../src/ip/ipv4.js';
import { REASSEMBLY_DROP_REASONS } from '../src/ip/reassembly.js';
import { UDP_DROP_REASONS } from '../src/ip/udp.js';
import { Harness } from './stack-frames.js';

describe('stack: typed drop reasons', () => {
  it('creates every layer\'s counters with each of its reasons at zero, and nothing else', async () => {
    const h = new Harness();
    const c = h.stack.counters;
    const zeros = (rs: readonly string[]): Record<string, number> => Object.fromEntries(rs.map((r) => [r, 0]));
    expect(c.eth.drops).to.deep.equal(zeros(ETH_DROP_REASONS));
    expect(c.arp.drops).to.deep.equal(zeros(ARP_DROP_REASONS));
    expect(c.ip.drops).to.deep.equal(zeros(IPV4_DROP_REASONS));
    expect(c.reassembly.drops).to.deep.equal(zeros(REASSEMBLY_DROP_REASONS));
    expect(c.icmp.drops).to.deep.equal(zeros(ICMP_DROP_REASONS));
    expect(h.stack.icmp.suppressed).to.deep.equal(zeros(ICMP_SUPPRESS_REASONS));
    expect(c.udp.drops).to.deep.equal(zeros(UDP_DROP_REASONS));
    expect(c.ip.trimmed).to.equal(0);
    expect(c.arp.requestsSent).to.equal(1); // the gratuitous ARP
    await h.close();
  });

  it('counts a drop under its reason and keeps the object\'s keys', () => {
    const c = newCounters(['a', 'b'] as const, ['x'] as const);
    countDrop(c, 'b');
    countDrop(c, 'b');
    c.x++;
    expect(c).to.deep.equal({ rx: 0, tx: 0, drops: { a: 0, b: 2 }, x: 1 });
    // @ts-expect-error a reason the layer does not list does not compile
    countDrop(c, 'c');
  });
});
