/**
 * mergePcapFiles: the per-shard captures of a sharded stack joined into one
 * file in timestamp order (ties in input order), a part cut short by a dying
 * writer contributing its whole records, foreign files refused.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergePcapFiles } from '../src/pmd/pcap.js';

function pcap(records: Array<{ sec: number; usec: number; byte: number; len: number }>, cutTail = 0): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const recs = records.map((r) => {
    const b = Buffer.alloc(16 + r.len, r.byte);
    b.writeUInt32LE(r.sec, 0);
    b.writeUInt32LE(r.usec, 4);
    b.writeUInt32LE(r.len, 8);
    b.writeUInt32LE(r.len, 12);
    return b;
  });
  const all = Buffer.concat([head, ...recs]);
  return all.subarray(0, all.length - cutTail);
}

function records(b: Buffer): Array<{ ts: number; byte: number; len: number }> {
  const out: Array<{ ts: number; byte: number; len: number }> = [];
  for (let at = 24; at < b.length;) {
    const len = b.readUInt32LE(at + 8);
    out.push({ ts: b.readUInt32LE(at) * 1e6 + b.readUInt32LE(at + 4), byte: b[at + 16], len });
    at += 16 + len;
  }
  return out;
}

describe('pcap: merging per-shard captures', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tz-pcap-merge-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('interleaves records by timestamp, keeps input order on ties, and leaves out a cut-off last record', () => {
    const a = join(dir, 'a.pcap');
    const b = join(dir, 'b.pcap');
    const out = join(dir, 'all.pcap');
    writeFileSync(a, pcap([{ sec: 10, usec: 5, byte: 1, len: 60 }, { sec: 10, usec: 900, byte: 3, len: 70 }, { sec: 11, usec: 0, byte: 5, len: 1514 }]));
    // b's writer died inside its last record.
    writeFileSync(b, pcap([{ sec: 10, usec: 5, byte: 2, len: 42 }, { sec: 10, usec: 901, byte: 4, len: 60 }, { sec: 12, usec: 0, byte: 6, len: 100 }], 30));
    const r = mergePcapFiles([a, b], out);
    expect(r).to.deep.equal({ frames: 5, bytes: 60 + 70 + 1514 + 42 + 60, truncatedInputs: 1 });
    const got = records(readFileSync(out));
    expect(got.map((x) => x.byte)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(got.map((x) => x.len)).to.deep.equal([60, 42, 70, 60, 1514]);
    expect(readFileSync(out).readUInt32LE(0)).to.equal(0xa1b2c3d4);
  });

  it('refuses a file that is not a microsecond Ethernet pcap', () => {
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, Buffer.alloc(24, 7));
    expect(() => mergePcapFiles([bad], join(dir, 'x.pcap'))).to.throw(/not a little-endian microsecond pcap/);
  });
});
