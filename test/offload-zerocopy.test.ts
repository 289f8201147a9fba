/**
 * Zero copy, complete: segments reference the application's payload (never
 * copy it); retransmissions reference the same buffers; the application's
 * mbuf lives until acknowledged and until the last transmission holding it
 * is gone, and is freed exactly once (TsMempool throws on a double free);
 * an empty pool is backpressure with onWritable later; copying writes share
 * mbufs; bytesCopied stays 0 on the zero-copy path through two Stacks.
 */
import { expect } from 'chai';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { txMbufFrom } from '../src/tcp/zc.js';
import { VirtualClock } from '../src/util/clock.js';
import { IP_B, TcpPair, pattern } from './tcp-harness.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

describe('offload: zero copy, complete', () => {
  it('a retransmission still in the tx ring keeps the acked app mbuf alive; it is freed exactly once', () => {
    const p = new TcpPair({ checksumUnneeded: false });
    try {
      const l = p.b.listen(80);
      const c = p.a.connect(IP_B, 80);
      p.deliver();
      const s = l.accept()!;
      const data = pattern(2 * 1448, 11);
      const m = txMbufFrom(p.pool, data);
      const direct = m; // the head of the app's chain
      expect(c.writeMbuf(m)).to.equal(true);
      p.holding = true;
      p.deliver(); // the originals, held on the "wire"
      const originals = p.held.splice(0);
      expect(originals.length).to.be.greaterThan(0);
      // Segments reference the app's buffers: its refcount went up, no byte copied.
      expect(p.pool.refcnt(direct)).to.be.greaterThan(1);
      expect(p.a.counters.bytesCopied).to.equal(0);
      p.run(1500); // RTO: retransmissions, held too (still "in the tx ring")
      const rexmits = p.held.splice(0).filter((h) => h.from === 'a');
      expect(rexmits.length).to.be.greaterThan(0);
      // The originals arrive; the ACK frees the send buffer's hold on the app's chain.
      p.holding = false;
      for (const h of originals) h.to.input(h.m, h.src, h.dst, h.tos);
      p.deliver();
      expect(c.info().sndUna).to.equal(c.info().sndNxt);
      expect(c.sendQueued()).to.equal(0);
      // Acked, but the retransmissions still reference the buffer: alive, bytes intact.
      expect(p.pool.refcnt(direct)).to.be.greaterThan(0);
      const got = Buffer.from(s.read()!);
      expect(got.equals(Buffer.from(data))).to.equal(true);
      for (const h of rexmits) {
        const bytes = Buffer.from(p.pool.toBytes(h.m));
        const hdrLen = (bytes[12] >> 4) * 4;
        if (bytes.length > hdrLen) expect(Buffer.from(data).includes(bytes.subarray(hdrLen))).to.equal(true);
        p.pool.free(h.m); // the device finishes: the last references go, the buffer is freed once
      }
    } finally {
      p.close();
    }
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('an empty pool refuses writeMbuf and calls onWritable once mbufs are back; nothing lost or double-freed', () => {
    const p = new TcpPair({ checksumUnneeded: true, poolSize: 256 });
    try {
      const l = p.b.listen(80);
      const c = p.a.connect(IP_B, 80);
      p.deliver();
      const s = l.accept()!;
      // Someone else holds most of the pool.
      const hog: Mbuf[] = [];
      while (p.pool.available() > 10) hog.push(p.pool.alloc());
      const m = txMbufFrom(p.pool, pattern(1000, 12));
      expect(m).to.not.equal(NO_MBUF);
      let writable = 0;
      c.onWritable = () => { writable++; };
      expect(c.writeMbuf(m)).to.equal(false); // backpressure: the caller keeps m
      p.run(10);
      expect(writable).to.equal(0);
      for (const h of hog.splice(0)) p.pool.free(h);
      p.run(10);
      expect(writable).to.equal(1);
      expect(c.writeMbuf(m)).to.equal(true);
      p.run(100);
      expect(Buffer.from(s.read()!).equals(Buffer.from(pattern(1000, 12)))).to.equal(true);
    } finally {
      p.close();
    }
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('small copying writes share mbufs (tailroom fill)', () => {
    const p = new TcpPair({ checksumUnneeded: true, poolSize: 512 });
    try {
      const l = p.b.listen(80);
      const c = p.a.connect(IP_B, 80);
      p.deliver();
      const s = l.accept()!;
      c.setNoDelay(false);
      p.holding = true; // keep everything in the send buffer
      const before = p.pool.inUse();
      const all: number[] = [];
      for (let i = 0; i < 400; i++) { const b = [i & 0xff, (i * 7) & 0xff, 3]; all.push(...b); expect(c.write(Uint8Array.from(b))).to.equal(3); }
      // 1200 bytes in a few mbufs (not 400); plus the headers/slices of what was sent.
      expect(p.pool.inUse() - before).to.be.lessThan(20);
      p.holding = false;
      p.release();
      p.run(500);
      const got: number[] = [];
      for (let d = s.read(); d; d = s.read()) got.push(...d);
      expect(got).to.deep.equal(all);
    } finally {
      p.close();
    }
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('bytesCopied stays 0 through two Stacks on the zero-copy API (writeMbuf / readMbuf), pool back to full', () => {
    const pool = new TsMempool({ count: 8192 });
    const start = pool.inUse();
    const clock = new VirtualClock(0);
    const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false, mtu: 9000 });
    const a = new Stack({ port: pa, ip: '10.77.3.1/24', clock });
    const b = new Stack({ port: pb, ip: '10.77.3.2/24', clock });
    try {
      const l = b.tcp.listen(9);
      const c = a.tcp.connect(0x0a4d0302 as Ip4, 9);
      const step = (): void => { a.poll(); b.poll(); clock.advance(1); };
      for (let i = 0; i < 50 && l.pending() === 0; i++) step();
      const s = l.accept()!;
      expect(c.info().mss).to.equal(9000 - 40 - 12); // jumbo MSS from the MTU
      const total = 8 << 20;
      const chunk = pattern(60000, 13);
      let queued = 0;
      let got = 0;
      let ok = true;
      for (let i = 0; i < 100000 && got < total; i++) {
        while (queued < total) {
          const m = txMbufFrom(pool, chunk.subarray(0, Math.min(chunk.length, total - queued)));
          if (m === NO_MBUF) break;
          if (!c.writeMbuf(m)) { pool.free(m); break; }
          queued += Math.min(chunk.length, total - queued);
        }
        step();
        for (let m = s.readMbuf(); m !== NO_MBUF; m = s.readMbuf()) {
          const bytes = pool.toBytes(m); // the test looks; the stack did not copy
          for (let k = 0; k < bytes.length; k += 997) if (bytes[k] !== chunk[(got + k) % 60000]) ok = false;
          got += bytes.length;
          pool.free(m);
        }
      }
      expect(got).to.equal(total);
      expect(ok).to.equal(true);
      expect(a.tcp.counters.bytesCopied).to.equal(0);
      expect(b.tcp.counters.bytesCopied).to.equal(0);
      c.close(); s.close();
      for (let i = 0; i < 200; i++) step();
    } finally {
      await_(a.close()); await_(b.close());
    }
    expect(pool.inUse()).to.equal(start);
  });
});

/** Stack.close is async but finishes synchronously on memory ports. */
function await_(p: Promise<void>): void { void p; }
