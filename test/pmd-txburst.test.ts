import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { ImpairedPort } from '../src/pmd/impaired.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { PcapPort } from '../src/pmd/pcap.js';
import { txBurstOrFree, type Port } from '../src/pmd/port.js';
import { VirtualClock } from '../src/util/clock.js';

/** The Port contract of txBurst: the port takes a prefix and leaves the rest with the caller. */

function frames(pool: TsMempool, n: number, first = 0): Uint32Array {
  const v = new Uint32Array(n);
  for (let i = 0; i < n; i++) v[i] = pool.fromBytes(new Uint8Array(60).fill((first + i) & 0xff));
  return v;
}

function drain(pool: TsMempool, port: Port): number[] {
  const out: number[] = [];
  const v = new Uint32Array(64);
  for (let n = port.rxBurst(v, 64); n > 0; n = port.rxBurst(v, 64)) {
    for (let i = 0; i < n; i++) out.push(pool.u8[pool.mtod(v[i] as Mbuf)]);
    pool.freeBulk(v, n);
  }
  return out;
}

describe('pmd: txBurst takes a prefix and leaves the rest with the caller', () => {
  it('memory link: a full ring refuses the tail, untouched; offered again it goes out in order', () => {
    const pool = new TsMempool({ count: 256 });
    const [a, b] = createLinkPair(pool, { ringSize: 8 });
    const v = frames(pool, 12);
    const before = Array.from(v);
    expect(a.txBurst(v, 12)).to.equal(8);
    expect(Array.from(v)).to.deep.equal(before);
    expect(a.stats).to.include({ txPackets: 8, txRefused: 4, txDropped: 0 });
    expect(drain(pool, b)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(a.txBurst(v.subarray(8), 4)).to.equal(4);
    expect(drain(pool, b)).to.deep.equal([8, 9, 10, 11]);
    expect(pool.inUse()).to.equal(0);
    // A closed peer takes everything and drops it: the caller never retries forever.
    b.close();
    const w = frames(pool, 3);
    expect(a.txBurst(w, 3)).to.equal(3);
    expect(a.stats.txDropped).to.equal(3);
    expect(pool.inUse()).to.equal(0);
    a.close();
  });

  it('txBurstOrFree frees what the port refused', () => {
    const pool = new TsMempool({ count: 64 });
    const [a, b] = createLinkPair(pool, { ringSize: 4 });
    expect(txBurstOrFree(a, frames(pool, 10), 10)).to.equal(4);
    expect(pool.inUse()).to.equal(4);
    drain(pool, b);
    expect(pool.inUse()).to.equal(0);
    a.close(); b.close();
  });

  it('impaired port: holds what the device behind refuses and sends it later; refuses once its own queue is full', () => {
    const pool = new TsMempool({ count: 512 });
    const clock = new VirtualClock(0);
    const [a, b] = createLinkPair(pool, { ringSize: 4 });
    const imp = new ImpairedPort(a, { clock, queueLimit: 16 });
    const v = frames(pool, 10);
    // The ring behind takes 4; 6 wait inside the impaired port, which took all 10.
    expect(imp.txBurst(v, 10)).to.equal(10);
    expect(imp.pending()).to.equal(6);
    const w = frames(pool, 20, 10);
    // Room for 10 more (16 − 6): the rest is refused, left with us.
    expect(imp.txBurst(w, 20)).to.equal(10);
    expect(imp.stats.txRefused).to.equal(10);
    pool.freeBulk(w.subarray(10), 10);
    const got: number[] = [];
    for (let i = 0; i < 10 && got.length < 20; i++) { got.push(...drain(pool, b)); imp.rxBurst(new Uint32Array(1), 1); }
    got.push(...drain(pool, b));
    expect(got).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(imp.impairStats.tx.overflow).to.equal(0);
    imp.close(); b.close();
    expect(pool.inUse()).to.equal(0);
  });

  it('pcap port: a refused frame is recorded once, when the device finally takes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tzhot-pcap-'));
    try {
      const pool = new TsMempool({ count: 64 });
      const [a, b] = createLinkPair(pool, { ringSize: 3 });
      const path = join(dir, 'x.pcap');
      const cap = new PcapPort(a, { path, flushIntervalMs: 0 });
      const v = frames(pool, 5);
      expect(cap.txBurst(v, 5)).to.equal(3);
      expect(cap.pcapStats.frames).to.equal(3);
      drain(pool, b);
      expect(cap.txBurst(v.subarray(3), 2)).to.equal(2);
      expect(cap.pcapStats.frames).to.equal(5);
      drain(pool, b);
      cap.close(); b.close();
      const f = readFileSync(path);
      const firstBytes: number[] = [];
      for (let at = 24; at < f.length;) {
        const incl = f.readUInt32LE(at + 8);
        firstBytes.push(f[at + 16]);
        at += 16 + incl;
      }
      expect(firstBytes).to.deep.equal([0, 1, 2, 3, 4]);
      expect(pool.inUse()).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
