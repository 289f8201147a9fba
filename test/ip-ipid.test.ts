import { expect } from 'chai';
import { parseIpv4, type Ip4 } from '../src/ip/addr.js';
import { IP_ID_BUCKETS, IpIdGenerator } from '../src/ip/ipv4.js';
import { Harness, IP_B, MAC_B, dvOf, pattern } from './stack-frames.js';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i * 17 + 3);

describe('ip: IP ID (RFC 6864 / RFC 7739)', () => {
  it('two destinations do not share one sequence, and each starts at its own offset', () => {
    const g = new IpIdGenerator(KEY);
    const d1 = parseIpv4('10.72.0.2');
    const d2 = parseIpv4('10.72.0.3');
    // Same clock millisecond: each destination's IDs step by one, alternating sends.
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 20; i++) { a.push(g.next(d1, 1, 5000)); b.push(g.next(d2, 1, 5000)); }
    // Interleaved as a global counter would make them: a[i], b[i], a[i+1] never a run of +1 across both.
    const merged = a.flatMap((x, i) => [x, b[i]]);
    let globalSteps = 0;
    for (let i = 1; i < merged.length; i++) if (((merged[i] - merged[i - 1]) & 0xffff) === 1) globalSteps++;
    expect(globalSteps).to.be.lessThan(3);
    for (let i = 1; i < a.length; i++) {
      expect((a[i] - a[i - 1]) & 0xffff).to.equal(1);
      expect((b[i] - b[i - 1]) & 0xffff).to.equal(1);
    }
    expect(g.hash(d1, 1) & (IP_ID_BUCKETS - 1)).to.not.equal(g.hash(d2, 1) & (IP_ID_BUCKETS - 1));
  });

  it('a counter jumps by a random amount after idle time, so a probe cannot count others\' datagrams', () => {
    const g = new IpIdGenerator(KEY);
    const d = parseIpv4('192.0.2.9');
    const first = g.next(d, 17, 1000);
    const steps = new Set<number>();
    let prev = first;
    for (let t = 2000; t < 12000; t += 1000) {
      const id = g.next(d, 17, t);
      steps.add((id - prev) & 0xffff);
      prev = id;
    }
    expect(steps.size).to.be.greaterThan(5);
  });

  it('the key decides the sequence: another key, other IDs', () => {
    const k2 = Uint8Array.from(KEY, (x) => x ^ 0x5a);
    const d = parseIpv4('10.72.0.2');
    expect(new IpIdGenerator(KEY).next(d, 1, 0)).to.equal(new IpIdGenerator(KEY).next(d, 1, 0));
    const a = [0, 1, 2, 3].map((i) => new IpIdGenerator(KEY).hash((d + i) as Ip4, 1));
    const b = [0, 1, 2, 3].map((i) => new IpIdGenerator(k2).hash((d + i) as Ip4, 1));
    expect(a).to.not.deep.equal(b);
  });

  it('a stack sends TCP with DF and ID 0, and ICMP/UDP with IDs not shared between destinations', async () => {
    const h = new Harness({ ipv4: { idSecret: KEY } });
    h.learnPeer();
    const ip3 = parseIpv4('10.72.0.3');
    h.stack.arp.addStatic(ip3, MAC_B);
    const send = (dst: Ip4, proto: number) => {
      const m = h.pool.alloc();
      h.pool.u8.set(pattern(20), h.pool.append(m, 20));
      h.stack.ip.output(m, dst, proto);
    };
    for (let i = 0; i < 6; i++) { send(IP_B, 6); send(IP_B, 17); send(ip3, 17); }
    const out = h.poll();
    expect(out).to.have.length(18);
    const ids = (dst: number, proto: number) => out
      .filter((f) => dvOf(f).getUint32(30) === dst && f[23] === proto).map((f) => dvOf(f).getUint16(18));
    const tcp = out.filter((f) => f[23] === 6);
    for (const f of tcp) expect(dvOf(f).getUint16(20) & 0x4000).to.equal(0x4000);
    expect(ids(IP_B, 6)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    const u2 = ids(IP_B, 17);
    const u3 = ids(ip3, 17);
    for (let i = 1; i < 6; i++) {
      expect((u2[i] - u2[i - 1]) & 0xffff).to.equal(1);
      expect((u3[i] - u3[i - 1]) & 0xffff).to.equal(1);
    }
    // Not one counter stepped by both: the two sequences start far apart.
    expect((u3[0] - u2[0]) & 0xffff).to.not.be.oneOf([1, 0xffff]);
    await h.close();
    expect(h.pool.inUse()).to.equal(0);
  });
});
