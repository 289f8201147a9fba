import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { PcapPort } from '../src/pmd/pcap.js';

interface PcapRecord { sec: number; usec: number; incl: number; orig: number; data: Uint8Array }

/** A minimal reader of the classic little-endian pcap format. */
function readPcap(buf: Buffer): { snaplen: number; linktype: number; records: PcapRecord[] } {
  expect(buf.readUInt32LE(0)).to.equal(0xa1b2c3d4);
  expect(buf.readUInt16LE(4)).to.equal(2);
  expect(buf.readUInt16LE(6)).to.equal(4);
  const snaplen = buf.readUInt32LE(16);
  const linktype = buf.readUInt32LE(20);
  const records: PcapRecord[] = [];
  let p = 24;
  while (p < buf.length) {
    const incl = buf.readUInt32LE(p + 8);
    records.push({
      sec: buf.readUInt32LE(p), usec: buf.readUInt32LE(p + 4), incl, orig: buf.readUInt32LE(p + 12),
      data: new Uint8Array(buf.subarray(p + 16, p + 16 + incl)),
    });
    p += 16 + incl;
  }
  expect(p).to.equal(buf.length);
  return { snaplen, linktype, records };
}

/** An Ethernet frame carrying an IPv4/ICMP echo request, as tshark would decode it. */
function pingFrame(len: number, fill: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  const ipLen = len - 14;
  f.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 1, 0, 0, 64, 1, 0, 0, 10, 73, 0, 1, 10, 73, 0, 2], 14);
  let s = 0;
  for (let i = 14; i < 34; i += 2) s += (f[i] << 8) | f[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff;
  f[24] = s >> 8; f[25] = s & 0xff;
  f[34] = 8; // echo request
  for (let i = 42; i < len; i++) f[i] = (fill + i) & 0xff;
  return f;
}

describe('pmd: PcapPort', () => {
  let dir: string;
  let pool: TsMempool;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tzT-pcap-'));
    pool = new TsMempool({ count: 256 });
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    expect(pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  it('records transmitted and received frames whole, multi-segment included', () => {
    const path = join(dir, 'a.pcap');
    const [a, b] = createLinkPair(pool);
    let t = 1_700_000_000_123.456;
    const cap = new PcapPort(a, { path, now: () => t, bufferBytes: 70_000 });
    const frames = [pingFrame(60, 1), pingFrame(1514, 2), pingFrame(5000, 3), pingFrame(98, 4)];
    const v = new Uint32Array(4);
    // two out through the capture, two in from the far end
    v[0] = pool.fromBytes(frames[0]);
    v[1] = pool.fromBytes(frames[2]);
    expect(pool.nbSegs(v[1] as Mbuf)).to.be.greaterThan(1);
    cap.txBurst(v, 2);
    t += 1.5;
    v[0] = pool.fromBytes(frames[1]);
    v[1] = pool.fromBytes(frames[3]);
    b.txBurst(v, 2);
    expect(cap.rxBurst(v, 4)).to.equal(2);
    pool.freeBulk(v, 2);
    pool.freeBulk(v, b.rxBurst(v, 4));
    cap.close();
    b.close();
    const { snaplen, linktype, records } = readPcap(readFileSync(path));
    expect(snaplen).to.equal(65535);
    expect(linktype).to.equal(1);
    expect(records.map((r) => r.data)).to.deep.equal([frames[0], frames[2], frames[1], frames[3]]);
    expect(records.map((r) => r.orig)).to.deep.equal([60, 5000, 1514, 98]);
    expect(records[0].sec).to.equal(1_700_000_000);
    expect(records[0].usec).to.equal(123456);
    expect(records[2].usec).to.equal(124956);
    expect(cap.pcapStats.frames).to.equal(4);
  });

  it('cuts frames to the snaplen, keeping the original length', () => {
    const path = join(dir, 'b.pcap');
    const [a, b] = createLinkPair(pool);
    const cap = new PcapPort(a, { path, snaplen: 100 });
    const v = Uint32Array.of(pool.fromBytes(pingFrame(3000, 0)));
    cap.txBurst(v, 1);
    pool.freeBulk(v, b.rxBurst(v, 1));
    cap.close();
    b.close();
    const { records } = readPcap(readFileSync(path));
    expect(records[0].incl).to.equal(100);
    expect(records[0].orig).to.equal(3000);
    expect(cap.pcapStats.truncated).to.equal(1);
  });

  it('writes a valid empty capture and honours the direction filter', () => {
    const path = join(dir, 'c.pcap');
    const [a, b] = createLinkPair(pool);
    const cap = new PcapPort(a, { path, direction: 'rx' });
    expect(readFileSync(path).length).to.equal(24);
    const v = Uint32Array.of(pool.fromBytes(pingFrame(60, 0)));
    cap.txBurst(v, 1);
    pool.freeBulk(v, b.rxBurst(v, 1));
    cap.close();
    b.close();
    expect(readPcap(readFileSync(path)).records).to.have.length(0);
  });

  it('writes a file tshark reads', function () {
    if (spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status !== 0) this.skip();
    const path = join(dir, 'd.pcap');
    const [a, b] = createLinkPair(pool);
    const cap = new PcapPort(a, { path, bufferBytes: 1 });
    const v = new Uint32Array(1);
    for (let i = 0; i < 50; i++) {
      v[0] = pool.fromBytes(pingFrame(60 + i * 50, i));
      cap.txBurst(v, 1);
      pool.freeBulk(v, b.rxBurst(v, 1));
    }
    cap.close();
    b.close();
    const r = spawnSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.len', '-e', 'ip.dst', '-e', 'icmp.type'], { encoding: 'utf8', env: { ...process.env, HOME: dir } });
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).to.have.length(50);
    expect(lines[0].split('\t')).to.deep.equal(['60', '10.73.0.2', '8']);
    expect(lines[49].split('\t')[0]).to.equal(String(60 + 49 * 50));
  });
});
