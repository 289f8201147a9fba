/** SYN cookies (src/tcp/syncookie.ts, RFC 4987 §3.6) and the SipHash under them. */
import { expect } from 'chai';
import fc from 'fast-check';
import { SipHash } from '../src/util/siphash.js';
import {
  COOKIE_MSS_TABLE, SynCookies, cookieMinute, cookieMssIndex, cookieTsEcn, cookieTsSack, cookieTsVal, cookieTsWscale,
} from '../src/tcp/syncookie.js';
import { IsnGenerator } from '../src/tcp/isn.js';
import { pinnedSeed } from './helpers/seed.js';
import type { AddrKey } from '../src/tcp/route.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 1, max: 65535 });

describe('tcpx/syncookie', () => {
  it('SipHash-2-4 gives the reference vectors (key 00..0f, message 00..len-1)', () => {
    const key = new Uint8Array(16).map((_, i) => i);
    const s = new SipHash(key);
    for (let i = 0; i < 64; i++) s.buf[i] = i;
    const hex = (n: number): string => { const lo = s.hash(n); return s.hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0'); };
    expect(hex(0)).to.equal('726fdb47dd0e0e31');
    expect(hex(1)).to.equal('74f839c593dc67fd');
    expect(hex(15)).to.equal('a129ca6149be45e5'); // the example of the SipHash paper
    expect(hex(63)).to.equal('958a324ceb064572');
  });

  it('picks the largest table MSS not above the peer\'s', () => {
    expect(COOKIE_MSS_TABLE[cookieMssIndex(1460)]).to.equal(1460);
    expect(COOKIE_MSS_TABLE[cookieMssIndex(1459)]).to.equal(1440);
    expect(COOKIE_MSS_TABLE[cookieMssIndex(536)]).to.equal(536);
    expect(COOKIE_MSS_TABLE[cookieMssIndex(100)]).to.equal(216);
    expect(COOKIE_MSS_TABLE[cookieMssIndex(65535)]).to.equal(8960);
  });

  const g = new IsnGenerator(new Uint8Array(16).fill(3));
  const ck = new SynCookies(g.derive('a'), g.derive('b'));
  const seed = pinnedSeed(4987);
  const conn = fc.record({ lip: u32, lport: port, rip: u32, rport: port, isn: u32, mss: fc.integer({ min: 64, max: 65535 }), minute: u32 });

  it(`round-trips MSS, window scale, SACK and ECN (seed ${seed})`, () => {
    fc.assert(fc.property(conn, fc.integer({ min: -1, max: 14 }), fc.boolean(), fc.boolean(), u32, (k, ws, sack, ecn, tsNow) => {
      const idx = cookieMssIndex(k.mss);
      const c = ck.make((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, idx, k.minute);
      expect(ck.check((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, c, k.minute), 'same minute').to.equal(idx);
      expect(ck.check((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, c, (k.minute + 1) >>> 0), 'next minute').to.equal(idx);
      expect(COOKIE_MSS_TABLE[idx]).to.be.at.most(Math.max(k.mss, COOKIE_MSS_TABLE[0]));
      const ts = cookieTsVal(tsNow, ws, sack, ecn);
      expect(((tsNow - ts) >>> 0), 'never ahead of the clock, at most 63 behind').to.be.below(64);
      expect(cookieTsWscale(ts)).to.equal(ws);
      expect(cookieTsSack(ts)).to.equal(sack);
      expect(cookieTsEcn(ts)).to.equal(ecn);
    }), { seed, numRuns: 500 });
  });

  it(`refuses a cookie two or more minutes old, or from the future (seed ${seed})`, () => {
    fc.assert(fc.property(conn, fc.integer({ min: 2, max: 250 }), (k, age) => {
      const idx = cookieMssIndex(k.mss);
      const c = ck.make((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, idx, k.minute);
      expect(ck.check((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, c, (k.minute + age) >>> 0)).to.equal(-1);
      expect(ck.check((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, c, (k.minute - 1) >>> 0)).to.equal(-1);
    }), { seed, numRuns: 300 });
  });

  it(`refuses a tampered cookie, peer ISN or 4-tuple (seed ${seed})`, () => {
    fc.assert(fc.property(conn, fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 4 }), (k, bit, what) => {
      const idx = cookieMssIndex(k.mss);
      const c = ck.make((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, idx, k.minute);
      const f = (x: number): AddrKey => ((x ^ (1 << bit)) >>> 0) as AddrKey;
      const fp = (x: number): number => (x ^ (1 << (bit % 16))) & 0xffff || 1;
      const r = [
        () => ck.check((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, k.isn, f(c), k.minute),
        () => ck.check((k.lip as AddrKey), k.lport, (k.rip as AddrKey), k.rport, f(k.isn), c, k.minute),
        () => ck.check((k.lip as AddrKey), k.lport, f(k.rip) as AddrKey, k.rport, k.isn, c, k.minute),
        () => ck.check((k.lip as AddrKey), k.lport, (k.rip as AddrKey), fp(k.rport) === k.rport ? k.rport ^ 2 : fp(k.rport), k.isn, c, k.minute),
        () => ck.check(f(k.lip) as AddrKey, k.lport, (k.rip as AddrKey), k.rport, k.isn, c, k.minute),
      ][what]();
      expect(r).to.equal(-1);
    }), { seed, numRuns: 1000 });
  });

  it('differs under another secret, and counts minutes of the clock', () => {
    const other = new SynCookies(g.derive('c'), g.derive('d'));
    const c = ck.make(1 as AddrKey, 2, 3 as AddrKey, 4, 5, 6, 7);
    expect(other.check(1 as AddrKey, 2, 3 as AddrKey, 4, 5, c, 7)).to.equal(-1);
    expect(cookieMinute(59_999)).to.equal(0);
    expect(cookieMinute(60_000)).to.equal(1);
  });
});
