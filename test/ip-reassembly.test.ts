import { expect } from 'chai';
import { Harness, IP_A, IP_B, MAC_A, MAC_B, dvOf, eth, fragments, icmpEcho, ipv4, pattern, reassembleFrames } from './stack-frames.js';

const frame = (ip: Uint8Array) => eth(MAC_A, MAC_B, 0x0800, ip);

describe('ip: fragment reassembly', () => {
  let h: Harness;
  beforeEach(() => { h = new Harness({}, { checksumUnneeded: false }); h.learnPeer(); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
  });
  const r = () => h.stack.counters.reassembly;

  /** An echo request of `n` data bytes cut into IP fragments of `size`. */
  const echoFrags = (n: number, size: number, id = 77) => fragments(icmpEcho(3, 4, pattern(n)), size, { id }).map(frame);
  const replyData = (out: Uint8Array[]) => {
    const d = reassembleFrames(out);
    expect(d).to.have.length(1);
    expect(d[0][0]).to.equal(0); // echo reply
    return d[0].subarray(8);
  };

  it('reassembles fragments in order and answers (the reply fragmented again)', () => {
    for (const f of echoFrags(3000, 1480)) h.send(f);
    const out = h.poll();
    expect(out.length).to.equal(3);
    expect(replyData(out)).to.deep.equal(pattern(3000));
    expect(r().tx).to.equal(1);
    expect(h.stack.ip.reassembly.pending).to.equal(0);
  });

  it('reassembles out of order and small fragments', () => {
    const fr = echoFrags(1000, 96);
    for (const i of [5, 0, 10, 3, 9, 1, 8, 2, 7, 4, 6]) h.send(fr[i]);
    expect(replyData(h.poll())).to.deep.equal(pattern(1000));
  });

  it('drops an exact duplicate alone and still completes', () => {
    const fr = echoFrags(200, 64);
    h.send(fr[0]); h.send(fr[1]); h.send(fr[1]); h.send(fr[2]); h.send(fr[3]);
    expect(replyData(h.poll())).to.deep.equal(pattern(200));
    expect(r().drops.duplicate).to.equal(1);
  });

  it('drops the whole datagram on overlap', () => {
    const data = icmpEcho(3, 4, pattern(200));
    h.send(frame(ipv4(data.subarray(0, 64), { id: 5, frag: 0x2000 })));
    h.send(frame(ipv4(data.subarray(56, 120), { id: 5, frag: 0x2000 | 7 }))); // starts at 56 < 64
    h.send(frame(ipv4(data.subarray(120), { id: 5, frag: 15 })));
    expect(h.poll()).to.have.length(0);
    expect(r().drops.overlap).to.equal(1);
    h.clock.advance(31_000);
    h.poll();
    expect(h.stack.ip.reassembly.pending).to.equal(0);
  });

  it('detects an inconsistent end as overlap', () => {
    const data = icmpEcho(3, 4, pattern(200));
    h.send(frame(ipv4(data.subarray(64, 128), { id: 6, frag: 8 })));        // last, ends at 128
    h.send(frame(ipv4(data.subarray(128, 200), { id: 6, frag: 0x2000 | 16 }))); // past the end
    expect(h.poll()).to.have.length(0);
    expect(r().drops.overlap).to.equal(1);
  });

  it('times out, sending Time Exceeded only when the first fragment came', () => {
    const fr = echoFrags(300, 128, 9);
    h.send(fr[0]);
    const fr2 = echoFrags(300, 128, 10);
    h.send(fr2[1]);
    expect(h.poll()).to.have.length(0);
    h.clock.advance(29_000);
    expect(h.poll()).to.have.length(0);
    h.clock.advance(1_000);
    const out = h.poll();
    expect(out).to.have.length(1);
    const e = out[0];
    expect([e[34], e[35]]).to.deep.equal([11, 1]);
    expect(dvOf(e).getUint32(30)).to.equal(IP_B);
    expect(dvOf(e).getUint16(42 + 4)).to.equal(9); // the quoted header's id
    expect(r().drops.timeout).to.equal(2);
    expect(h.stack.ip.reassembly.pending).to.equal(0);
  });

  it('bounds the table by datagrams', async () => {
    const h2 = new Harness({ ipv4: { reassembly: { maxDatagrams: 2 } } });
    for (let id = 1; id <= 3; id++) h2.send(echoFrags(300, 128, id)[0]);
    h2.poll();
    expect(h2.stack.counters.reassembly.drops.tableFull).to.equal(1);
    expect(h2.stack.ip.reassembly.pending).to.equal(2);
    // completing one makes room again
    h2.send(echoFrags(300, 128, 2)[1]);
    h2.send(echoFrags(300, 128, 2)[2]);
    expect(h2.poll()).to.have.length(1);
    h2.send(echoFrags(300, 128, 3)[0]);
    h2.poll();
    expect(h2.stack.ip.reassembly.pending).to.equal(2);
    await h2.close();
    expect(h2.pool.inUse()).to.equal(0);
  });

  it('bounds the table by buffer bytes', async () => {
    const h2 = new Harness({ ipv4: { reassembly: { maxBytes: 3 * h.pool.bufLen } } });
    for (let id = 1; id <= 5; id++) h2.send(echoFrags(300, 128, id)[0]);
    h2.poll();
    expect(h2.stack.counters.reassembly.drops.tableFull).to.equal(2);
    expect(h2.stack.ip.reassembly.heldBytes).to.equal(3 * h.pool.bufLen);
    await h2.close();
    expect(h2.pool.inUse()).to.equal(0);
  });

  it('rejects oversize (ping of death), empty and misaligned fragments', () => {
    h.send(frame(ipv4(pattern(64), { id: 1, frag: 0x1fff })));            // ends past 65535
    h.send(frame(ipv4(new Uint8Array(0), { id: 2, frag: 0x2000 | 1 })));  // empty
    h.send(frame(ipv4(pattern(60), { id: 3, frag: 0x2000 })));             // MF with 60 bytes
    expect(h.poll()).to.have.length(0);
    expect(r().drops).to.include({ tooBig: 1, emptyFragment: 1, badFragmentLength: 1 });
  });

  it('limits fragments per datagram', async () => {
    const h2 = new Harness({ ipv4: { reassembly: { maxFragments: 4 } } }, {}, 512);
    for (const f of echoFrags(100, 16)) h2.send(f);
    expect(h2.poll()).to.have.length(0);
    expect(h2.stack.counters.reassembly.drops.tooManyFragments).to.equal(1);
    await h2.close();
    expect(h2.pool.inUse()).to.equal(0);
  });

  it('frees incomplete datagrams on close', () => {
    h.send(echoFrags(300, 128)[0]);
    h.poll();
    expect(h.stack.ip.reassembly.pending).to.equal(1);
  });

  it('never sends an error about a non-first fragment', () => {
    // protocol 200 is unknown: the reassembled datagram gets one error, quoting the first fragment's header
    for (const f of fragments(pattern(100), 48, { id: 12, proto: 200 })) h.send(frame(f));
    const out = h.poll();
    expect(out).to.have.length(1);
    expect([out[0][34], out[0][35]]).to.deep.equal([3, 2]);
    expect(IP_A).to.equal(dvOf(out[0]).getUint32(26));
  });
});
