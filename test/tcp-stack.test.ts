import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import { parseIpv4 } from '../src/ip/addr.js';
import { TcpState } from '../src/tcp/state.js';
import { pattern } from './tcp-harness.js';

describe('tcp: wired into two stacks over a memory link', () => {
  for (const checksumUnneeded of [true, false]) {
    it(`connects, moves 1 MB both ways and closes (checksumUnneeded=${checksumUnneeded})`, async () => {
      const pool = new TsMempool({ count: 8192 });
      const clock = new VirtualClock(0);
      const [pa, pb] = createLinkPair(pool, { checksumUnneeded });
      const s1 = new Stack({ port: pa, ip: '10.73.0.1/24', clock, tcp: { timeWaitMs: 100 } });
      const s2 = new Stack({ port: pb, ip: '10.73.0.2/24', clock });
      const pump = (n = 50): void => { for (let i = 0; i < n; i++) { clock.advance(1); s1.poll(); s2.poll(); } };
      const l = s2.tcp.listen(80);
      const c = s1.tcp.connect(parseIpv4('10.73.0.2'), 80);
      pump();
      const s = l.accept()!;
      expect(c.state).to.equal(TcpState.Established);
      const up = pattern(1 << 20, 11);
      const down = pattern(1 << 20, 12);
      let uo = 0; let dn = 0;
      const gu: Uint8Array[] = []; const gd: Uint8Array[] = [];
      for (let i = 0; i < 5000 && (gu.reduce((a, x) => a + x.length, 0) < up.length || gd.reduce((a, x) => a + x.length, 0) < down.length); i++) {
        uo += c.write(up.subarray(uo));
        dn += s.write(down.subarray(dn));
        pump(2);
        for (let d = s.read(); d; d = s.read()) gu.push(d);
        for (let d = c.read(); d; d = c.read()) gd.push(d);
      }
      expect(Buffer.concat(gu).equals(Buffer.from(up))).to.equal(true);
      expect(Buffer.concat(gd).equals(Buffer.from(down))).to.equal(true);
      c.close(); pump(); s.close(); pump(200);
      expect(c.state).to.equal(TcpState.Closed);
      expect(s.state).to.equal(TcpState.Closed);
      await s1.close();
      await s2.close();
      expect(pool.inUse(), 'mbufs leaked').to.equal(0);
    });
  }
});
