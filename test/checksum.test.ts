import type { Ip4 } from '../src/ip/addr.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { TsMempool } from '../src/mbuf/index.js';
import { finish, fold, pseudoHeaderSum, sumBytes, sumChain, updateChecksum16, updateChecksum32 } from '../src/ip/checksum.js';
import { formatIpv4, parseCidr, parseIpv4 } from '../src/ip/addr.js';

/** Reference: 16-bit word sum straight from RFC 1071. */
function ref(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const dvOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

describe('ip/checksum', () => {
  it('matches the RFC 1071 worked example', () => {
    const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(fold(sumBytes(dvOf(b), 0, b.length))).to.equal(0xddf2);
    expect(finish(sumBytes(dvOf(b), 0, b.length))).to.equal(0x220d);
  });

  it('checks a known IPv4 header', () => {
    // 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7
    const h = Uint8Array.from([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
    expect(finish(sumBytes(dvOf(h), 0, 20))).to.equal(0);
    h[10] = 0; h[11] = 0;
    expect(finish(sumBytes(dvOf(h), 0, 20))).to.equal(0xb861);
  });

  it('equals the reference sum for any bytes, offset and length', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), (b, skip) => {
      const s = Math.min(skip, b.length);
      expect(fold(sumBytes(dvOf(b), s, b.length - s))).to.equal(ref(b.subarray(s)));
    }));
  });

  it('sums multi-segment packets with odd segment lengths', () => {
    const pool = new TsMempool({ count: 16, dataRoom: 7 });
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }), fc.nat(20), (b, off) => {
      const m = pool.fromBytes(b);
      try {
        const o = Math.min(off, b.length);
        expect(sumChain(pool, m, o, b.length - o)).to.equal(ref(b.subarray(o)));
        expect(sumChain(pool, m, o, b.length - o + 1)).to.equal(-1);
      } finally { pool.free(m); }
    }));
    expect(pool.inUse()).to.equal(0);
  });

  it('updates incrementally as a full recomputation would', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 40 }), fc.nat(0xffff), fc.nat(0xffffffff), (b, w, d) => {
      b = b.subarray(0, b.length & ~3);
      const dv = dvOf(b);
      const c0 = finish(sumBytes(dv, 0, b.length));
      const old16 = dv.getUint16(0);
      dv.setUint16(0, w);
      const c1 = updateChecksum16(c0, old16, w);
      const full1 = finish(sumBytes(dv, 0, b.length));
      // 0x0000 and 0xffff are the same value in ones' complement
      expect(c1 % 0xffff).to.equal(full1 % 0xffff);
      const old32 = dv.getUint32(4);
      dv.setUint32(4, d);
      const c2 = updateChecksum32(full1, old32, d);
      expect(c2 % 0xffff).to.equal(finish(sumBytes(dv, 0, b.length)) % 0xffff);
    }));
  });

  it('sums the pseudo-header', () => {
    const s = pseudoHeaderSum(parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), 6, 20);
    expect(fold(s)).to.equal(fold(0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 20));
  });
});

describe('ip/addr', () => {
  it('parses and formats', () => {
    expect(parseIpv4('10.0.0.1')).to.equal(0x0a000001);
    expect(parseIpv4('255.255.255.255')).to.equal(0xffffffff);
    expect(formatIpv4(0xc0a80001 as Ip4)).to.equal('192.168.0.1');
    expect(parseCidr('10.1.2.3/24')).to.deep.equal({ addr: 0x0a010203, prefixLen: 24, mask: 0xffffff00 });
    for (const bad of ['10.0.0', '256.1.1.1', '1.2.3.4.5', 'a.b.c.d', '']) expect(() => parseIpv4(bad)).to.throw(RangeError);
    expect(() => parseCidr('10.0.0.1/33')).to.throw(RangeError);
  });
});
