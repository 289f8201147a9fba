/**
 * Neighbor Discovery on a virtual clock with crafted frames: DAD (and its
 * conflicts), answering solicitations, address resolution with its bounded
 * queue, every NUD transition, router advertisements (router, prefix,
 * autoconfigured address, MTU, hop limit), the cache bound, and each
 * malformed ND message counted under its own reason.
 */
import { expect } from 'chai';
import { formatIpv6, parseIpv6 } from '../src/ip/addr6.js';
import { Addr6State } from '../src/ip/ipv6.js';
import { NudState } from '../src/ip/nd.js';
import { ipv6Of, ipv6Protocol, type Ipv6Attachment, type Ipv6Options } from '../src/ipv6-attach.js';
import { concat, Harness, pattern } from './stack-frames.js';
import {
  bytes6, csum6, echo6, frame6, GA_A, GA_B, icmp6, LL_A, LL_B, MAC6_A, MAC6_B, mcastMac, na, ns, ra, sent6, solicited,
  type Sent6,
} from './ip6-frames.js';

function setup(o: Ipv6Options = {}): { h: Harness; v6: Ipv6Attachment } {
  const h = new Harness({
    protocols: [ipv6Protocol({ addresses: [`${GA_A}/64`], ...o, nd: { routerSolicitations: 0, ...o.nd } })],
  }, { checksumUnneeded: false });
  return { h, v6: ipv6Of(h.stack)! };
}

function icmpOut(frames: Uint8Array[]): Sent6[] {
  const out = sent6(frames).filter((s) => s.nh === 58);
  for (const s of out) expect(csum6(s.src, s.dst, 58, s.payload), `checksum of type ${s.type}`).to.equal(0);
  return out;
}
const target = (s: Sent6): string => formatIpv6(parseIpv6(
  [...s.payload.subarray(8, 24)].reduce((acc, b, i) => acc + (i % 2 === 0 && i ? ':' : '') + b.toString(16).padStart(2, '0'), '')));
const state = (v6: Ipv6Attachment, a: string) => v6.nd.entry(parseIpv6(a))?.state;
const addrState = (v6: Ipv6Attachment, a: string) => v6.ip6.findAddress(parseIpv6(a))?.state;
/** Let the stack time out `ms` in 100 ms polls, collecting what it sent. */
function run(h: Harness, ms: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let t = 0; t < ms; t += 100) { h.clock.advance(100); out.push(...h.poll()); }
  return out;
}

describe('ip/nd', () => {
  let h: Harness;
  let v6: Ipv6Attachment;
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs in use after close').to.equal(0);
  });

  describe('duplicate address detection (RFC 4862)', () => {
    beforeEach(() => { ({ h, v6 } = setup()); });

    it('probes each address from :: to its solicited-node group, then uses it', () => {
      const dad = icmpOut(h.announced);
      expect(dad.map((s) => [s.type, s.src, s.dst, s.hop])).to.deep.equal([
        [135, '::', solicited(LL_A), 255], [135, '::', solicited(GA_A), 255]]);
      expect(dad.map(target)).to.deep.equal([LL_A, GA_A]);
      expect(dad.every((s) => s.payload.length === 24), 'no source link-layer option from ::').to.equal(true);
      expect([...dad[0].dstMac]).to.deep.equal([...mcastMac(solicited(LL_A))]);
      expect(addrState(v6, GA_A)).to.equal(Addr6State.Tentative);
      // Packets to a tentative address are dropped.
      h.send(frame6(echo6(1, 1, pattern(8), GA_B, GA_A), { src: GA_B, dst: GA_A }));
      expect(icmpOut(h.poll())).to.have.length(0);
      expect(v6.ip6.counters.drops.tentativeDestination).to.equal(1);
      run(h, 1000);
      expect(addrState(v6, GA_A)).to.equal(Addr6State.Preferred);
      expect(addrState(v6, LL_A)).to.equal(Addr6State.Preferred);
    });

    it('joins each solicited-node group with an MLDv2 report before probing, and answers queries (RFC 3810)', () => {
      const mld = (frames: Uint8Array[]) => sent6(frames).filter((s) => s.nh === 0).map((s) => {
        const icmp = s.payload.subarray(8);
        expect([...s.payload.subarray(0, 8)], 'hop-by-hop with router alert').to.deep.equal([58, 0, 5, 2, 0, 0, 1, 0]);
        expect(csum6(s.src, s.dst, 58, icmp), 'MLD checksum').to.equal(0);
        const group = formatIpv6(parseIpv6([...icmp.subarray(12, 28)]
          .reduce((acc, b, i) => acc + (i % 2 === 0 && i ? ':' : '') + b.toString(16).padStart(2, '0'), '')));
        return [icmp[0], s.src, s.dst, s.hop, icmp[8], group];
      });
      // fe80::ff:fe00:1 and fd00:72::1 share their solicited-node group (the low 24 bits): one report.
      expect(solicited(LL_A)).to.equal(solicited(GA_A));
      expect(mld(h.announced)).to.deep.equal([[143, '::', 'ff02::16', 1, 4, solicited(LL_A)]]);
      run(h, 1000);
      const q = new Uint8Array(24);
      h.send(frame6(icmp6(130, 0, q.subarray(4), LL_B, 'ff02::1'), { dst: 'ff02::1', hop: 1 }));
      expect(mld(h.poll())).to.deep.equal([[143, LL_A, 'ff02::16', 1, 2, solicited(LL_A)]]);
      // An address with another group joins it.
      v6.nd.addAddress(parseIpv6('fd00:72::1:2345'), 64, 'static');
      expect(mld(h.poll())).to.deep.equal([[143, LL_A, 'ff02::16', 1, 4, 'ff02::1:ff01:2345']]);
      expect(v6.nd.counters.mldQueriesReceived).to.equal(1);
    });

    it('gives up an address another node probes for or advertises', () => {
      h.send(ns(GA_A, null, '::'));
      h.send(na(LL_A, 0x20, MAC6_B, LL_B, 'ff02::1'));
      h.poll();
      expect(addrState(v6, GA_A)).to.equal(Addr6State.Duplicate);
      expect(addrState(v6, LL_A)).to.equal(Addr6State.Duplicate);
      expect(v6.nd.counters.dadConflicts).to.equal(2);
      run(h, 2000);
      expect(addrState(v6, GA_A)).to.equal(Addr6State.Duplicate);
      expect(v6.ip6.selectSource(parseIpv6(GA_B))).to.equal(undefined);
    });
  });

  describe('with usable addresses', () => {
    beforeEach(() => { ({ h, v6 } = setup({ nd: { dadTransmits: 0 } })); });

    it('answers a solicitation with a solicited, override advertisement and learns the sender as stale', () => {
      h.send(ns(LL_A, MAC6_B, LL_B, solicited(LL_A)));
      const r = icmpOut(h.poll());
      expect(r).to.have.length(1);
      const a = r[0];
      expect([a.type, a.src, a.dst, a.hop, a.payload[4]]).to.deep.equal([136, LL_A, LL_B, 255, 0x60]);
      expect(target(a)).to.equal(LL_A);
      expect([...a.payload.subarray(24, 32)]).to.deep.equal([2, 1, ...MAC6_A]);
      expect([...a.dstMac]).to.deep.equal([...MAC6_B]);
      // Learnt as STALE, then at once DELAY: the advertisement itself was a packet sent to it (RFC 4861 7.3.3).
      expect(state(v6, LL_B)).to.equal(NudState.Delay);
      // A DAD probe for an address we hold is answered to all nodes, not solicited.
      h.send(ns(GA_A, null, '::'));
      const d = icmpOut(h.poll());
      expect([d[0].type, d[0].dst, d[0].payload[4]]).to.deep.equal([136, 'ff02::1', 0x20]);
      // A solicitation for someone else's address is ignored.
      h.send(ns('fd00:72::77', MAC6_B, LL_B, LL_A));
      expect(h.poll()).to.have.length(0);
      expect(v6.nd.counters.notOurTarget).to.equal(1);
    });

    it('resolves a neighbour, holding a bounded queue meanwhile', () => {
      for (let i = 0; i < 10; i++) v6.icmp6.ping(parseIpv6(GA_B), 1, i, 8);
      const sol = icmpOut(h.poll());
      expect(sol.map((s) => [s.type, s.src, s.dst])).to.deep.equal([[135, GA_A, solicited(GA_B)]]);
      expect([...sol[0].payload.subarray(24, 32)]).to.deep.equal([1, 1, ...MAC6_A]);
      expect(state(v6, GA_B)).to.equal(NudState.Incomplete);
      expect(v6.nd.queuedPackets()).to.equal(8);
      expect(v6.nd.counters.drops.queueFull).to.equal(2);
      h.send(na(GA_B, 0x60, MAC6_B, GA_B, GA_A));
      const out = icmpOut(h.poll());
      expect(out.map((s) => dataView(s).getUint16(6))).to.deep.equal([2, 3, 4, 5, 6, 7, 8, 9]);
      expect(out.every((s) => s.type === 128 && s.dstMac.every((b, i) => b === MAC6_B[i]))).to.equal(true);
      expect(state(v6, GA_B)).to.equal(NudState.Reachable);
    });

    it('gives up after three multicast solicitations and frees the queue', () => {
      v6.icmp6.ping(parseIpv6(GA_B), 1, 1, 8);
      const sent = icmpOut([...h.poll(), ...run(h, 4000)]);
      expect(sent.filter((s) => s.type === 135)).to.have.length(3);
      expect(v6.nd.counters.drops.resolutionFailed).to.equal(1);
      expect(v6.nd.entry(parseIpv6(GA_B))).to.equal(undefined);
    });

    it('walks REACHABLE → STALE → DELAY → PROBE → REACHABLE, and drops an entry whose probes go unanswered', () => {
      v6.icmp6.ping(parseIpv6(GA_B), 1, 1, 8);
      h.poll();
      h.send(na(GA_B, 0x60, MAC6_B, GA_B, GA_A));
      h.poll();
      expect(state(v6, GA_B)).to.equal(NudState.Reachable);
      run(h, 45_000); // at most 1.5 × BaseReachableTime
      expect(state(v6, GA_B)).to.equal(NudState.Stale);
      v6.icmp6.ping(parseIpv6(GA_B), 1, 2, 8);
      expect(icmpOut(h.poll()).map((s) => s.type)).to.deep.equal([128]); // sent at once to the stale MAC
      expect(state(v6, GA_B)).to.equal(NudState.Delay);
      const probe = icmpOut(run(h, 5000));
      expect(state(v6, GA_B)).to.equal(NudState.Probe);
      expect(probe.map((s) => [s.type, s.dst])).to.deep.equal([[135, GA_B]]);
      expect([...probe[0].dstMac]).to.deep.equal([...MAC6_B]);
      h.send(na(GA_B, 0x40, MAC6_B, GA_B, GA_A));
      h.poll();
      expect(state(v6, GA_B)).to.equal(NudState.Reachable);
      // Again, and this time nobody answers the probes.
      run(h, 45_000);
      v6.icmp6.ping(parseIpv6(GA_B), 1, 3, 8);
      h.poll();
      const probes = icmpOut(run(h, 10_000)).filter((s) => s.type === 135);
      expect(probes.map((s) => s.dst)).to.deep.equal([GA_B, GA_B, GA_B]);
      expect(v6.nd.entry(parseIpv6(GA_B))).to.equal(undefined);
    });

    it('applies RFC 4861 7.2.5 to advertisements: override updates, no override only casts doubt', () => {
      const other = Uint8Array.of(2, 0, 0, 0, 0, 9);
      v6.icmp6.ping(parseIpv6(GA_B), 1, 1, 8);
      h.poll();
      h.send(na(GA_B, 0x60, MAC6_B, GA_B, GA_A));
      h.poll();
      h.send(na(GA_B, 0x00, other, GA_B, GA_A));
      h.poll();
      expect(state(v6, GA_B)).to.equal(NudState.Stale);
      expect([...v6.nd.lookup(parseIpv6(GA_B))!]).to.deep.equal([...MAC6_B]);
      h.send(na(GA_B, 0x20, other, GA_B, 'ff02::1'));
      h.poll();
      expect([...v6.nd.lookup(parseIpv6(GA_B))!]).to.deep.equal([...other]);
      expect(v6.nd.counters.updated).to.equal(1);
      // An unsolicited advertisement for an unknown address makes no entry.
      h.send(na('fd00:72::55', 0x20, other, 'fd00:72::55', 'ff02::1'));
      h.poll();
      expect(v6.nd.entry(parseIpv6('fd00:72::55'))).to.equal(undefined);
    });

    it('refuses new entries past maxEntries, reclaiming stale ones first', async () => {
      await h.close();
      ({ h, v6 } = setup({ nd: { dadTransmits: 0, maxEntries: 3 } }));
      for (let i = 0; i < 5; i++) v6.icmp6.ping(parseIpv6(`fd00:72::${i + 10}`), 1, i, 8);
      h.poll();
      expect(v6.nd.counters.drops.cacheFull).to.equal(2);
      expect(v6.nd.entries()).to.have.length(3);
    });

    describe('drops each malformed ND message under its own reason', () => {
      const nsBody = (t: string, opt: Uint8Array) => concat(new Uint8Array(4), bytes6(t), opt);
      const cases: Array<[string, () => Uint8Array]> = [
        ['badHopLimit', () => frame6(icmp6(135, 0, nsBody(LL_A, new Uint8Array(0)), LL_B, solicited(LL_A)), { dst: solicited(LL_A), hop: 64 })],
        ['badCode', () => frame6(icmp6(135, 1, nsBody(LL_A, new Uint8Array(0)), LL_B, solicited(LL_A)), { dst: solicited(LL_A), hop: 255 })],
        ['truncated', () => frame6(icmp6(135, 0, new Uint8Array(16), LL_B, LL_A), { hop: 255 })],
        ['multicastTarget', () => frame6(icmp6(135, 0, nsBody('ff02::1', new Uint8Array(0)), LL_B, LL_A), { hop: 255 })],
        ['badOptionLength', () => frame6(icmp6(135, 0, nsBody(LL_A, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)), LL_B, LL_A), { hop: 255 })],
        ['badOptionLength', () => frame6(icmp6(135, 0, nsBody(LL_A, Uint8Array.of(1, 2, 0, 0, 0, 0, 0, 0)), LL_B, LL_A), { hop: 255 })],
        ['badDadSolicit', () => ns(LL_A, MAC6_B, '::')],
        ['badDadSolicit', () => ns(LL_A, null, '::', LL_A)],
        ['badSourceMac', () => ns(LL_A, Uint8Array.of(1, 0, 0, 0, 0, 1))],
        ['solicitedToMulticast', () => na(LL_B, 0x40, MAC6_B, LL_B, 'ff02::1')],
        ['raNotLinkLocal', () => ra({ src: GA_B })],
        ['truncated', () => frame6(icmp6(134, 0, new Uint8Array(8), LL_B, 'ff02::1'), { dst: 'ff02::1', hop: 255 })],
      ];
      for (const [reason, make] of cases) {
        it(reason, () => {
          const before = { ...v6.nd.counters.drops };
          h.send(make());
          expect(h.poll()).to.have.length(0);
          const r = reason as keyof typeof before;
          expect(v6.nd.counters.drops[r] - before[r]).to.equal(1);
        });
      }
    });
  });

  describe('router advertisements', () => {
    beforeEach(() => { ({ h, v6 } = setup({ addresses: [], nd: { routerSolicitations: 3 } })); });

    it('solicits once the link-local address is usable, and stops when a router answers', () => {
      const rs = icmpOut(run(h, 1100)).filter((s) => s.type === 133);
      expect(rs.map((s) => [s.src, s.dst, s.hop])).to.deep.equal([[LL_A, 'ff02::2', 255]]);
      expect([...rs[0].payload.subarray(8, 16)]).to.deep.equal([1, 1, ...MAC6_A]);
      expect(icmpOut(run(h, 4000)).filter((s) => s.type === 133)).to.have.length(1);
      h.send(ra({ lifetime: 600 }));
      h.poll();
      expect(icmpOut(run(h, 20_000)).filter((s) => s.type === 133)).to.have.length(0);
      expect(v6.nd.counters.routerSolicitsSent).to.equal(2);
    });

    it('takes the router, prefix, autoconfigured address, MTU and hop limit from an advertisement', () => {
      run(h, 1100);
      h.send(ra({ hop: 32, lifetime: 1800, mtu: 1400, reachable: 20_000,
        prefix: { prefix: 'fd00:99::', len: 64, flags: 0xc0, valid: 86400, preferred: 14400 } }));
      const dad = icmpOut(h.poll());
      const auto = 'fd00:99::ff:fe00:1';
      expect(dad.map((s) => [s.type, s.src, target(s)])).to.deep.equal([[135, '::', auto]]);
      expect(v6.ip6.routers.map((r) => formatIpv6(r.addr))).to.deep.equal([LL_B]);
      expect(v6.ip6.prefixes.map((p) => `${formatIpv6(p.prefix)}/${p.len}`)).to.deep.equal(['fd00:99::/64']);
      expect(v6.ip6.linkMtu).to.equal(1400);
      expect(v6.ip6.config.hopLimit).to.equal(32);
      expect(state(v6, LL_B)).to.equal(NudState.Stale);
      expect(v6.nd.entry(parseIpv6(LL_B))!.isRouter).to.equal(true);
      run(h, 1000);
      expect(addrState(v6, auto)).to.equal(Addr6State.Preferred);
      // Off-link traffic goes to the router's MAC, from the autoconfigured address, with the advertised hop limit.
      v6.icmp6.ping(parseIpv6('2001:db8::1'), 1, 1, 8);
      const p = icmpOut(h.poll());
      expect(p.map((s) => [s.type, s.src, s.dst, s.hop])).to.deep.equal([[128, auto, '2001:db8::1', 32]]);
      expect([...p[0].dstMac]).to.deep.equal([...MAC6_B]);
      // Lifetime 0 withdraws the router; the MTU option never raises the link's MTU.
      h.send(ra({ lifetime: 0, mtu: 9000 }));
      h.poll();
      expect(v6.ip6.routers).to.have.length(0);
      expect(v6.ip6.linkMtu).to.equal(1400);
      expect(v6.nd.counters.addressesConfigured).to.equal(1);
    });

    it('expires the router, and deprecates then removes the autoconfigured address', () => {
      run(h, 1100);
      h.send(ra({ lifetime: 10, prefix: { prefix: 'fd00:98::', len: 64, flags: 0xc0, valid: 30, preferred: 20 } }));
      h.poll();
      run(h, 11_000);
      expect(v6.ip6.routers).to.have.length(0);
      expect(addrState(v6, 'fd00:98::ff:fe00:1')).to.equal(Addr6State.Preferred);
      run(h, 10_000);
      expect(addrState(v6, 'fd00:98::ff:fe00:1')).to.equal(Addr6State.Deprecated);
      expect(v6.ip6.selectSource(parseIpv6('2001:db8::1'))).to.not.deep.equal(parseIpv6('fd00:98::ff:fe00:1'));
      run(h, 10_000);
      expect(v6.ip6.findAddress(parseIpv6('fd00:98::ff:fe00:1'))).to.equal(undefined);
      expect(v6.ip6.prefixes).to.have.length(0);
    });
  });
});

function dataView(s: Sent6): DataView { return new DataView(s.payload.buffer, s.payload.byteOffset, s.payload.byteLength); }
