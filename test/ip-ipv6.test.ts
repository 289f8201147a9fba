/**
 * The IPv6 layer with crafted frames over a memory link: every drop reason,
 * the extension-header walk, ICMPv6 errors (and their rate limit), echo,
 * reassembly (overlaps per RFC 5722, atomic fragments per RFC 6946),
 * fragmentation on output and Packet Too Big. DAD and router solicitation
 * are off here (test/ip-nd.test.ts covers them); the peer is a static
 * neighbour.
 */
import { expect } from 'chai';
import { parseIpv6 } from '../src/ip/addr6.js';
import { attachIpv6, ipv6Of, ipv6Protocol, type Ipv6Attachment, type Ipv6Options } from '../src/ipv6-attach.js';
import { TsMempool } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { concat, dvOf, Harness, pattern } from './stack-frames.js';
import {
  csum6, echo6, fragHeader, fragments6, frame6, GA_A, GA_B, icmp6, LL_A, LL_B, MAC6_B, optsHeader, routingHeader,
  sent6, type Sent6,
} from './ip6-frames.js';

function setup(o: Ipv6Options = {}, poolCount = 256): { h: Harness; v6: Ipv6Attachment } {
  const h = new Harness({
    protocols: [ipv6Protocol({ addresses: [`${GA_A}/64`], ...o, nd: { dadTransmits: 0, routerSolicitations: 0, ...o.nd } })],
  }, { checksumUnneeded: false }, poolCount);
  const v6 = ipv6Of(h.stack)!;
  v6.nd.addStatic(parseIpv6(LL_B), MAC6_B);
  v6.nd.addStatic(parseIpv6(GA_B), MAC6_B);
  return { h, v6 };
}

/** ICMPv6 messages among the frames, checksum verified. */
function icmpOut(frames: Uint8Array[]): Sent6[] {
  const out = sent6(frames).filter((s) => s.nh === 58);
  for (const s of out) expect(csum6(s.src, s.dst, 58, s.payload), `checksum of type ${s.type}`).to.equal(0);
  return out;
}

const drops = (v6: Ipv6Attachment) => v6.ip6.counters.drops;

describe('ip/ipv6', () => {
  let h: Harness;
  let v6: Ipv6Attachment;
  beforeEach(() => { ({ h, v6 } = setup()); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs in use after close').to.equal(0);
  });

  it('answers echo to its link-local and its global address, from the address asked', () => {
    for (const [me, peer] of [[LL_A, LL_B], [GA_A, GA_B]]) {
      h.send(frame6(echo6(7, 1, pattern(100), peer, me), { src: peer, dst: me }));
      const r = icmpOut(h.poll());
      expect(r, me).to.have.length(1);
      expect(r[0].type).to.equal(129);
      expect(r[0].src).to.equal(me);
      expect(r[0].dst).to.equal(peer);
      expect([...r[0].dstMac]).to.deep.equal([...MAC6_B]);
      expect([...r[0].payload.subarray(8)]).to.deep.equal([...pattern(100)]);
    }
    expect(v6.icmp6.counters.echoRepliesSent).to.equal(2);
  });

  it('answers echo to all-nodes from its link-local address', () => {
    h.send(frame6(echo6(7, 2, pattern(8), LL_B, 'ff02::1'), { src: LL_B, dst: 'ff02::1' }));
    const r = icmpOut(h.poll());
    expect(r).to.have.length(1);
    expect(r[0].src).to.equal(LL_A);
  });

  it('reads headers split across segments (pulled up, never read past a segment)', () => {
    const f = frame6(concat(optsHeader(43, Uint8Array.of(1, 4, 0, 0, 0, 0)), routingHeader(58, 4, 0), echo6(5, 5, pattern(64))), { nh: 60 });
    for (const cut of [[14, 10], [20, 30, 3], [54, 9, 9, 9], [60, 24, 1, 1]]) {
      h.send(f, cut);
      expect(icmpOut(h.poll()).map((s) => s.type), cut.join(',')).to.deep.equal([129]);
    }
  });

  it('drops what comes from :: unless it is ICMPv6, and an echo from :: as well', () => {
    h.send(frame6(new Uint8Array(20), { src: '::', nh: 6 }));
    h.send(frame6(echo6(1, 1, pattern(8), '::', LL_A), { src: '::' }));
    expect(h.poll()).to.have.length(0);
    expect(drops(v6).badSource).to.equal(1);
    expect(v6.icmp6.counters.drops.unspecifiedSource).to.equal(1);
  });

  it('answers UDP to a closed port with Port Unreachable, quoting the datagram; refuses a zero UDP checksum', () => {
    const u = new Uint8Array(8 + 12);
    const uv = dvOf(u);
    uv.setUint16(0, 5000); uv.setUint16(2, 53); uv.setUint16(4, u.length);
    uv.setUint16(6, csum6(GA_B, GA_A, 17, u));
    const f = frame6(u, { src: GA_B, dst: GA_A, nh: 17 });
    h.send(f);
    const e = icmpOut(h.poll());
    expect(e.map((s) => [s.type, s.code, s.src, s.dst])).to.deep.equal([[1, 4, GA_A, GA_B]]);
    expect([...e[0].payload.subarray(8)]).to.deep.equal([...f.subarray(14)]);
    // To all nodes: no error; with checksum 0: refused.
    uv.setUint16(6, 0);
    uv.setUint16(6, csum6(GA_B, 'ff02::1', 17, u));
    h.send(frame6(u, { src: GA_B, dst: 'ff02::1', nh: 17 }));
    uv.setUint16(6, 0);
    h.send(frame6(u, { src: GA_B, dst: GA_A, nh: 17 }));
    expect(icmpOut(h.poll())).to.have.length(0);
    expect(v6.ip6.udp.counters.drops.noPort).to.equal(2);
    expect(v6.ip6.udp.counters.drops.zeroChecksum).to.equal(1);
    expect(v6.icmp6.suppressed.toMulticast).to.equal(1);
  });

  it('counts a bad ICMPv6 checksum', () => {
    h.send(frame6(icmp6(128, 0, new Uint8Array(8), LL_B, LL_A, true)));
    expect(h.poll()).to.have.length(0);
    expect(v6.icmp6.counters.drops.badChecksum).to.equal(1);
  });

  describe('drops each malformed packet under its own reason', () => {
    const ok = () => echo6(1, 1, pattern(8));
    const cases: Array<[string, () => Uint8Array]> = [
      ['truncated', () => frame6(ok()).subarray(0, 14 + 39)],
      ['truncated', () => frame6(ok(), { payloadLen: 500 })],
      ['badVersion', () => frame6(ok(), { version: 4 })],
      ['jumbogram', () => frame6(new Uint8Array(0), { nh: 0, payloadLen: 0 })],
      ['hopLimitZero', () => frame6(ok(), { hop: 0 })],
      ['badSource', () => frame6(ok(), { src: 'ff02::1' })],
      ['badSource', () => frame6(ok(), { src: '::1' })],
      ['badSource', () => frame6(ok(), { src: '::ffff:10.0.0.1' })],
      ['badDestination', () => frame6(ok(), { dst: 'ff00::1' })],
      ['badDestination', () => frame6(ok(), { dst: 'ff01::1' })],
      ['notForUs', () => frame6(ok(), { dst: 'fd00:72::99' })],
      ['notForUs', () => frame6(ok(), { dst: 'ff02::5' })],
      ['notForUs', () => frame6(ok(), { dst: '::1' })],
      ['badExtHeader', () => frame6(Uint8Array.of(58, 4, 1, 2, 0, 0, 0, 0), { nh: 60 })],
      ['badExtHeader', () => frame6(Uint8Array.of(58, 0, 0, 0), { nh: 60 })],
      ['tooManyExtHeaders', () => {
        let body = ok();
        let nh = 58;
        for (let i = 0; i < 9; i++) { body = concat(optsHeader(nh, new Uint8Array(0)), body); nh = 60; }
        return frame6(body, { nh: 60 });
      }],
      ['unknownOption', () => frame6(concat(optsHeader(58, Uint8Array.of(0x47, 0)), ok()), { nh: 60 })],
      ['badOption', () => frame6(concat(Uint8Array.of(58, 0, 1, 9, 0, 0, 0, 0), ok()), { nh: 60 })],
      ['noNextHeader', () => frame6(new Uint8Array(8), { nh: 59 })],
      ['emptyFragment', () => frame6(fragHeader(58, 8, false, 5), { nh: 44 })],
      ['badExtHeader', () => frame6(Uint8Array.of(58, 0, 0), { nh: 44 })],
    ];
    for (const [reason, make] of cases) {
      it(reason, () => {
        const before = { ...drops(v6) };
        h.send(make());
        const out = h.poll();
        expect(drops(v6)[reason as keyof typeof before] - before[reason as keyof typeof before]).to.equal(1);
        expect(icmpOut(out).filter((s) => s.type < 128), 'no ICMPv6 error for this one').to.have.length(0);
      });
    }
  });

  /** Send `f`, expect the drop and one Parameter Problem with `code` and `pointer` quoting the packet. */
  function expectParamProblem(f: Uint8Array, reason: string, code: number, pointer: number): void {
    const before = drops(v6)[reason as 'truncated'];
    h.send(f);
    const errs = icmpOut(h.poll());
    expect(drops(v6)[reason as 'truncated'] - before, reason).to.equal(1);
    expect(errs, `${reason}: one error`).to.have.length(1);
    const e = errs[0];
    expect(e.type).to.equal(4);
    expect(e.code, `${reason}: code`).to.equal(code);
    expect(dvOf(e.payload).getUint32(4), `${reason}: pointer`).to.equal(pointer);
    expect([...e.payload.subarray(8, 8 + 40)]).to.deep.equal([...f.subarray(14, 14 + 40)]);
    expect(e.dst).to.equal(LL_B);
  }

  it('refuses a routing header of type 0 with Parameter Problem at the routing type (RFC 5095)', () => {
    expectParamProblem(frame6(concat(routingHeader(58, 0, 1), echo6(1, 1, pattern(8))), { nh: 43 }), 'routingType0', 0, 42);
  });

  it('refuses other routing types with segments left, and ignores a routing header with none left', () => {
    expectParamProblem(frame6(concat(routingHeader(58, 4, 2), echo6(1, 1, pattern(8))), { nh: 43 }), 'routingHeader', 0, 42);
    h.send(frame6(concat(routingHeader(58, 4, 0), echo6(1, 1, pattern(8))), { nh: 43 }));
    expect(icmpOut(h.poll()).map((s) => s.type)).to.deep.equal([129]);
  });

  it('sends Parameter Problem for hop-by-hop after another header, an unknown next header, an option asking for it', () => {
    const e = () => echo6(1, 1, pattern(8));
    expectParamProblem(frame6(concat(optsHeader(0, new Uint8Array(0)), optsHeader(58, new Uint8Array(0)), e()), { nh: 60 }),
      'hopByHopNotFirst', 1, 40);
    expectParamProblem(frame6(new Uint8Array(16), { nh: 250 }), 'unknownProtocol', 1, 6);
    expectParamProblem(frame6(concat(optsHeader(58, Uint8Array.of(0x87, 1, 0)), e()), { nh: 60 }), 'unknownOption', 2, 42);
    // Options with action 11 answer only unicast; to all-nodes the drop is silent.
    h.send(frame6(concat(optsHeader(58, Uint8Array.of(0xc7, 0)), echo6(1, 1, pattern(8), LL_B, 'ff02::1')), { nh: 60, dst: 'ff02::1' }));
    expect(icmpOut(h.poll())).to.have.length(0);
  });

  it('skips PadN, Pad1 and router alert and delivers', () => {
    h.send(frame6(concat(optsHeader(60, Uint8Array.of(5, 2, 0, 0, 0, 1, 0)), optsHeader(58, Uint8Array.of(0, 0, 1, 1, 0)),
      echo6(1, 1, pattern(8))), { nh: 0 }));
    expect(icmpOut(h.poll()).map((s) => s.type)).to.deep.equal([129]);
  });

  it('checks fragment lengths and offsets with Parameter Problem (RFC 8200 §4.5)', () => {
    expectParamProblem(frame6(concat(fragHeader(58, 0, true, 9), new Uint8Array(15)), { nh: 44 }), 'badFragmentLength', 0, 4);
    expectParamProblem(frame6(concat(fragHeader(58, 65528, false, 9), new Uint8Array(16)), { nh: 44 }), 'fragmentTooBig', 0, 42);
    // A first fragment whose destination options header does not end inside it (RFC 7112).
    expectParamProblem(frame6(concat(fragHeader(60, 0, true, 9), Uint8Array.of(58, 3, 0, 0, 0, 0, 0, 0)), { nh: 44 }),
      'incompleteChain', 3, 0);
    expect(v6.ip6.reassembly.pending).to.equal(0);
  });

  /** Replace the fixture's stack by one with other options (the old one closed and checked). */
  async function reset(o: Ipv6Options): Promise<void> {
    await h.close();
    expect(h.pool.inUse()).to.equal(0);
    ({ h, v6 } = setup(o));
  }

  it('rate-limits the errors it sends', async () => {
    await reset({ ipv6: { icmp: { errorBurst: 5, errorRatePerSec: 1 } } });
    for (let i = 0; i < 12; i++) h.send(frame6(new Uint8Array(16), { nh: 250 }));
    const errs = icmpOut(h.poll());
    expect(errs).to.have.length(5);
    expect(v6.icmp6.suppressed.rateLimited).to.equal(7);
    expect(drops(v6).unknownProtocol).to.equal(12);
  });

  it('processes an atomic fragment alone (RFC 6946)', () => {
    h.send(frame6(concat(fragHeader(58, 0, false, 77), echo6(3, 3, pattern(20))), { nh: 44 }));
    expect(icmpOut(h.poll()).map((s) => s.type)).to.deep.equal([129]);
    expect(v6.ip6.counters.atomicFragments).to.equal(1);
    expect(v6.ip6.reassembly.pending).to.equal(0);
  });

  describe('reassembly', () => {
    const big = () => echo6(9, 1, pattern(2000, 3));

    it('reassembles in order and out of order, and answers the whole echo', () => {
      for (const order of [[0, 1, 2], [2, 0, 1]]) {
        const f = fragments6(big(), 58, 800, 100 + order[0]);
        for (const i of order) h.send(f[i]);
        const out = h.poll();
        // The reply is 2008 bytes of ICMPv6: fragmented again on the way out.
        const frags = sent6(out);
        expect(frags.length, 'reply fragments').to.equal(2);
        expect(frags.every((s) => s.nh === 44 && s.raw.length <= 14 + 1500)).to.equal(true);
      }
      expect(v6.ip6.reassembly.counters.tx).to.equal(2);
      expect(v6.ip6.counters.fragmentsReceived).to.equal(6);
      expect(v6.ip6.counters.fragmentsSent).to.equal(4);
    });

    it('keeps the unfragmentable headers before the fragment header', () => {
      const l4 = big();
      const f = fragments6(l4, 58, 1200, 5).map((x) => {
        // Insert a destination options header (unfragmentable part) before each fragment header.
        const ip = x.subarray(14);
        const rest = ip.subarray(40);
        return frame6(concat(optsHeader(44, new Uint8Array(0)), rest), { nh: 60 });
      });
      for (const x of f) h.send(x);
      expect(sent6(h.poll()).length).to.equal(2);
      expect(v6.icmp6.counters.echoRepliesSent).to.equal(1);
    });

    it('drops an overlapping packet and its later fragments (RFC 5722), a duplicate alone', () => {
      const l4 = big();
      const f = fragments6(l4, 58, 800, 42);
      h.send(f[0]);
      h.send(f[0]); // exact duplicate: dropped alone
      h.poll();
      expect(v6.ip6.reassembly.counters.drops.duplicate).to.equal(1);
      // A fragment overlapping the first (offset 400).
      h.send(frame6(concat(fragHeader(58, 400, true, 42), l4.subarray(400, 1200)), { nh: 44 }));
      h.poll();
      expect(v6.ip6.reassembly.counters.drops.overlap).to.equal(1);
      h.send(f[1]);
      h.send(f[2]);
      expect(sent6(h.poll())).to.have.length(0);
      expect(v6.ip6.reassembly.counters.drops.afterOverlap).to.equal(2);
      expect(v6.ip6.reassembly.heldBytes).to.equal(0);
      // The dead entry goes at the timeout without a Time Exceeded.
      h.clock.advance(60_001);
      expect(icmpOut(h.poll())).to.have.length(0);
      expect(v6.ip6.reassembly.pending).to.equal(0);
      // The same id later reassembles again.
      for (const x of f) h.send(x);
      expect(sent6(h.poll()).length).to.equal(2);
    });

    it('sends Time Exceeded (code 1) when a packet with its first fragment times out', () => {
      const f = fragments6(big(), 58, 800, 43);
      h.send(f[0]); h.send(f[2]);
      expect(h.poll()).to.have.length(0);
      h.clock.advance(59_000);
      expect(h.poll()).to.have.length(0);
      h.clock.advance(1_001);
      const e = icmpOut(h.poll());
      expect(e.map((s) => [s.type, s.code])).to.deep.equal([[3, 1]]);
      expect(v6.ip6.reassembly.counters.drops.timeout).to.equal(1);
      expect([...e[0].payload.subarray(8, 48)]).to.deep.equal([...f[0].subarray(14, 54)]);
    });

    it('drops a fragment header inside a reassembled packet', () => {
      const inner = concat(fragHeader(58, 0, true, 1), new Uint8Array(1600));
      const f = fragments6(inner, 44, 808, 44);
      for (const x of f) h.send(x);
      h.poll();
      expect(drops(v6).nestedFragment).to.equal(1);
    });

    it('refuses fragments past the table bound', async () => {
      await reset({ ipv6: { reassembly: { maxDatagrams: 2 } } });
      for (let id = 0; id < 4; id++) h.send(fragments6(big(), 58, 800, id)[0]);
      h.poll();
      expect(v6.ip6.reassembly.counters.drops.tableFull).to.equal(2);
      expect(v6.ip6.reassembly.pending).to.equal(2);
    });
  });

  it('fragments on output without copying payload, and learns a smaller path MTU from Packet Too Big', () => {
    expect(v6.icmp6.ping(parseIpv6(GA_B), 1, 1, 3000)).to.equal(true);
    let f = sent6(h.poll());
    expect(f.length).to.equal(3);
    for (const s of f) expect(s.raw.length).to.be.at.most(1514);
    // Reassemble what was sent and check the ICMPv6 checksum over the whole message.
    const parts = f.map((s) => ({ off: dvOf(s.payload).getUint16(2) & 0xfff8, data: s.payload.subarray(8) }));
    const whole = concat(...parts.sort((a, b) => a.off - b.off).map((x) => x.data));
    expect(whole.length).to.equal(3008);
    expect(csum6(GA_A, GA_B, 58, whole)).to.equal(0);
    // A router says 1280: the next one goes in 1280-byte packets.
    const quoted = f[0].raw.subarray(14, 14 + 1232);
    const ptb = icmp6(2, 0, concat(Uint8Array.of(0, 0, 5, 0), quoted), 'fd00:99::1', GA_A);
    h.send(frame6(ptb, { src: 'fd00:99::1', dst: GA_A }));
    h.poll();
    expect(v6.icmp6.counters.packetTooBigReceived).to.equal(1);
    expect(v6.ip6.pathMtu(parseIpv6(GA_B))).to.equal(1280);
    v6.icmp6.ping(parseIpv6(GA_B), 1, 2, 3000);
    f = sent6(h.poll());
    expect(f.length).to.equal(3);
    for (const s of f) expect(s.raw.length).to.be.at.most(14 + 1280);
  });

  it('refuses a gateway that is not on-link and a second attach; routes off-link traffic to a configured gateway', async () => {
    expect(() => attachIpv6(h.stack)).to.throw(RangeError, /already/);
    const pool2 = new TsMempool({ count: 16 });
    const [pa] = createLinkPair(pool2);
    const s2 = new Stack({ port: pa, ip: '10.0.0.1/24' });
    expect(() => attachIpv6(s2, { addresses: ['fd00:1::1/64'], gateway: 'fd00:2::1' })).to.throw(RangeError, /not on-link/);
    expect(() => attachIpv6(s2, { addresses: ['fd00:1::1/129'] })).to.throw(RangeError);
    await s2.close();
    await reset({ gateway: LL_B });
    v6.icmp6.ping(parseIpv6('2001:db8::5'), 1, 1, 8);
    const out = icmpOut(h.poll());
    expect(out.map((x) => [x.src, x.dst])).to.deep.equal([[GA_A, '2001:db8::5']]);
    expect([...out[0].dstMac]).to.deep.equal([...MAC6_B]);
  });

  it('counts what it cannot route or source', () => {
    expect(v6.icmp6.ping(parseIpv6('2001:db8::1'), 1, 1, 8)).to.equal(true);
    h.poll();
    expect(drops(v6).noRoute).to.equal(1);
  });

  it('counts output it cannot send: no source yet, no headroom, too big to fragment, after close', async () => {
    await reset({ nd: { dadTransmits: 1 } });
    const pool = h.pool;
    const ga = parseIpv6(GA_B);
    // Addresses still tentative: no source for a global destination.
    v6.ip6.output(pool.fromBytes(pattern(20)), ga, 253);
    expect(drops(v6).noSourceAddress).to.equal(1);
    run1s();
    const m = pool.fromBytes(pattern(20));
    pool.prepend(m, pool.headroom(m));
    v6.ip6.output(m, ga, 253);
    expect(drops(v6).noHeadroom).to.equal(1);
    const huge = pool.fromBytes(new Uint8Array(65530));
    v6.ip6.output(huge, ga, 253);
    expect(drops(v6).tooBig).to.equal(1);
    v6.ip6.close();
    v6.ip6.output(pool.fromBytes(pattern(20)), ga, 253);
    expect(drops(v6).closed).to.equal(1);
  });

  /** Let DAD finish. */
  function run1s(): void { for (let i = 0; i < 11; i++) { h.clock.advance(100); h.poll(); } }

  it('counts unknown informational types, MLD, short errors; passes errors up', () => {
    const errs: number[] = [];
    v6.icmp6.onError = (type) => { errs.push(type); };
    h.send(frame6(icmp6(200, 0, new Uint8Array(4))));
    h.send(frame6(icmp6(131, 0, new Uint8Array(20)), { hop: 1 }));
    h.send(frame6(icmp6(1, 4, new Uint8Array(8))));
    // A Destination Unreachable quoting a whole IPv6 header, and an unknown error type: both go up.
    h.send(frame6(icmp6(1, 4, concat(new Uint8Array(4), new Uint8Array(48)))));
    h.send(frame6(icmp6(100, 0, concat(new Uint8Array(4), new Uint8Array(48)))));
    expect(h.poll()).to.have.length(0);
    const d = v6.icmp6.counters.drops;
    expect([d.unknownType, d.mldIgnored, d.badError]).to.deep.equal([1, 1, 1]);
    expect(errs).to.deep.equal([1, 100]);
  });

  it('frees what it holds on close', async () => {
    h.send(fragments6(echo6(9, 1, pattern(2000)), 58, 800, 1)[0]);
    h.poll();
    expect(v6.ip6.reassembly.pending).to.equal(1);
  });
});
