/**
 * Two tzstacks talking IPv6 to each other over a memory link on one virtual
 * clock: DAD on both ends, address resolution both ways, echo at global and
 * link-local addresses, a fragmented echo reassembled on each side, and a
 * duplicate address found by DAD.
 */
import { expect } from 'chai';
import { formatIpv6, parseIpv6 } from '../src/ip/addr6.js';
import { Addr6State } from '../src/ip/ipv6.js';
import { NudState } from '../src/ip/nd.js';
import { ipv6Of, ipv6Protocol, type Ipv6Options } from '../src/ipv6-attach.js';
import { TsMempool } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';

function pair(a6: Ipv6Options, b6: Ipv6Options, checksumUnneeded = false) {
  const pool = new TsMempool({ count: 512 });
  const clock = new VirtualClock(1000);
  const [pa, pb] = createLinkPair(pool, { checksumUnneeded });
  const a = new Stack({ port: pa, ip: '10.9.0.1/24', clock, protocols: [ipv6Protocol(a6)] });
  const b = new Stack({ port: pb, ip: '10.9.0.2/24', clock, protocols: [ipv6Protocol(b6)] });
  const step = (ms: number) => {
    for (let t = 0; t < ms; t += 10) { clock.advance(10); a.poll(); b.poll(); }
  };
  return { pool, clock, a, b, step, a6: ipv6Of(a)!, b6: ipv6Of(b)! };
}

describe('ip/ipv6 between two tzstacks', () => {
  for (const unneeded of [false, true]) {
    it(`resolve each other and answer echo at both addresses, fragmented too (checksums ${unneeded ? 'unneeded' : 'checked'})`, async () => {
      const p = pair({ addresses: ['fd00:9::1/64'], nd: { routerSolicitations: 0 } },
        { addresses: ['fd00:9::2/64'], nd: { routerSolicitations: 0 } }, unneeded);
      p.step(1500);
      for (const s of [p.a6, p.b6]) expect(s.ip6.addresses.map((e) => Addr6State[e.state])).to.deep.equal(['Preferred', 'Preferred']);
      const replies: string[] = [];
      p.a6.icmp6.onEchoReply = (src, _id, seq, m) => { replies.push(`${formatIpv6(src)} ${seq} ${p.pool.pktLen(m)}`); };
      const bLl = p.b6.ip6.addresses[0].addr;
      p.a6.icmp6.ping(parseIpv6('fd00:9::2'), 1, 1, 56);
      p.a6.icmp6.ping(bLl, 1, 2, 56);
      p.a6.icmp6.ping(parseIpv6('fd00:9::2'), 1, 3, 4000);
      p.step(200);
      expect(replies.sort()).to.deep.equal([`fd00:9::2 1 64`, "fd00:9::2 3 4008", `${formatIpv6(bLl)} 2 64`]);
      expect(p.a6.nd.entry(parseIpv6('fd00:9::2'))!.state).to.equal(NudState.Reachable);
      // B learnt A from A's solicitation (stale), then sent to it (delay).
      expect(p.b6.nd.entry(parseIpv6('fd00:9::1'))).to.not.equal(undefined);
      expect(p.b6.ip6.reassembly.counters.tx).to.equal(1);
      expect(p.a6.ip6.reassembly.counters.tx).to.equal(1);
      await p.a.close();
      await p.b.close();
      expect(p.pool.inUse()).to.equal(0);
    });
  }

  it('finds a duplicate address by DAD', async () => {
    const p = pair({ addresses: ['fd00:9::7/64'], nd: { routerSolicitations: 0 } },
      { addresses: ['fd00:9::7/64'], nd: { routerSolicitations: 0 } });
    p.step(1500);
    // Both probed at the same moment: each sees the other's probe and gives the address up (RFC 4862 5.4.3).
    for (const s of [p.a6, p.b6]) {
      expect(Addr6State[s.ip6.findAddress(parseIpv6('fd00:9::7'))!.state]).to.equal('Duplicate');
      expect(s.nd.counters.dadConflicts).to.equal(1);
    }
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });
});
