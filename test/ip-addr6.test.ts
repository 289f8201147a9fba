import { expect } from 'chai';
import fc from 'fast-check';
import { SocketAddress } from 'node:net';
import {
  eui64Address, formatIpv6, isLinkLocal6, isMulticast6, isV4Mapped, multicastMac6, parseCidr6, parseIpv6,
  prefixMatch6, solicitedNode6, v4Mapped, addr6,
} from '../src/ip/addr6.js';
import { finish, pseudoHeaderSum6, pseudoHeaderSum6At, sumBytes } from '../src/ip/checksum.js';
import { pinnedSeed } from './helpers/seed.js';
import { csum6, bytes6 } from './ip6-frames.js';

const nodeFormat = (s: string): string => new SocketAddress({ address: s, family: 'ipv6' }).address;

describe('ip/addr6', () => {
  it('writes addresses exactly as Node does (fixed cases)', () => {
    const cases = ['::', '::1', 'fe80::1', '1::', '0:0:1::', '1:0:0:1:0:0:0:1', '2001:db8:0:0:1:0:0:1', '::ffff:1.2.3.4',
      '::1.2.3.4', '::ffff:0:1.2.3.4', '::2', 'ff02::1:ff00:1', '2001:DB8::0001', 'fe80:0:0:0:200:ff:fe00:1',
      '1:2:3:4:5:6:7:8', '1:0:2:0:3:0:4:0', '0:1:0:0:2:0:0:0', '::ffff:0.0.0.0'];
    for (const c of cases) expect(formatIpv6(parseIpv6(c)), c).to.equal(nodeFormat(c));
  });

  const seed = pinnedSeed(614);
  it(`writes any address as Node does and parses it back (seed ${seed})`, () => {
    // Words biased towards zero so runs of zero groups and the IPv4 forms come up often.
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (g) => {
      const text = g.map((x) => x.toString(16)).join(':');
      const a = parseIpv6(text);
      const s = formatIpv6(a);
      expect(s, text).to.equal(nodeFormat(text));
      expect([...parseIpv6(s)]).to.deep.equal([...a]);
    }), { seed, numRuns: 2000 });
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', ':', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '12345::', '1:2:3:4:5:6:7', '::1.2.3',
      '::256.1.1.1', 'fe80::1%eth0', '1.2.3.4', '1:2:3:4:5:6:7::8:9']) {
      expect(() => parseIpv6(bad), bad).to.throw(RangeError);
    }
    expect(() => parseCidr6('fd00::1/129')).to.throw(RangeError);
    expect(parseCidr6('fd00::1/64').prefixLen).to.equal(64);
    expect(parseCidr6('fd00::1').prefixLen).to.equal(128);
  });

  it('derives the EUI-64 link-local, solicited-node group and multicast MAC', () => {
    const mac = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
    const ll = eui64Address(mac);
    expect(formatIpv6(ll)).to.equal('fe80::5054:ff:fe12:3456');
    expect(isLinkLocal6(ll)).to.equal(true);
    const sn = solicitedNode6(ll);
    expect(formatIpv6(sn)).to.equal('ff02::1:ff12:3456');
    expect(isMulticast6(sn)).to.equal(true);
    const out = new Uint8Array(6);
    multicastMac6(sn, out);
    expect([...out]).to.deep.equal([0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
    expect(formatIpv6(eui64Address(mac, parseIpv6('fd00:1:2:3::')))).to.equal('fd00:1:2:3:5054:ff:fe12:3456');
  });

  it('knows IPv4-mapped addresses and prefixes', () => {
    const m = v4Mapped(0x0a000001);
    expect(formatIpv6(m)).to.equal('::ffff:10.0.0.1');
    expect(isV4Mapped(m)).to.equal(true);
    expect(isV4Mapped(addr6(0, 0, 0, 1))).to.equal(false);
    expect(prefixMatch6(parseIpv6('fd00:1::5'), parseIpv6('fd00:1::'), 64)).to.equal(true);
    expect(prefixMatch6(parseIpv6('fd00:2::5'), parseIpv6('fd00:1::'), 64)).to.equal(false);
    expect(prefixMatch6(parseIpv6('fd00:1::5'), parseIpv6('fd00:1::'), 127)).to.equal(false);
    expect(prefixMatch6(parseIpv6('fd00:1::5'), parseIpv6('fd00:1::4'), 127)).to.equal(true);
    expect(prefixMatch6(parseIpv6('1::'), parseIpv6('2::'), 0)).to.equal(true);
  });

  it('sums the IPv6 pseudo-header as RFC 8200 §8.1 lays it out', () => {
    const src = 'fe80::1', dst = 'ff02::1:ff00:2';
    const data = Uint8Array.of(135, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3);
    const dv = new DataView(data.buffer);
    const expected = csum6(src, dst, 58, data);
    expect(finish(sumBytes(dv, 0, data.length, pseudoHeaderSum6(parseIpv6(src), parseIpv6(dst), 58, data.length)))).to.equal(expected);
    const hdr = new Uint8Array(32);
    hdr.set(bytes6(src), 0); hdr.set(bytes6(dst), 16);
    const hdv = new DataView(hdr.buffer);
    expect(finish(sumBytes(dv, 0, data.length, pseudoHeaderSum6At(hdv, 0, 16, 58, data.length)))).to.equal(expected);
  });
});
