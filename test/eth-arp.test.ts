import { expect } from 'chai';
import { ArpState } from '../src/eth/arp.js';
import { formatMac, isBroadcastMac, parseMac, prependEthHeader, ethType } from '../src/eth/ethernet.js';
import { TsMempool } from '../src/mbuf/index.js';
import { parseIpv4 } from '../src/ip/addr.js';
import { BCAST, Harness, IP_A, IP_B, MAC_A, MAC_B, arp, concat, dvOf, eth } from './stack-frames.js';

const ZERO = new Uint8Array(6);
const MAC_C = Uint8Array.of(2, 0, 0, 0, 0, 3);
const IP_C = parseIpv4('10.72.0.3');

/** Parse an ARP frame the stack sent. */
function parseArp(f: Uint8Array) {
  const dv = dvOf(f);
  expect(dv.getUint16(12)).to.equal(0x0806);
  return {
    dst: f.subarray(0, 6), op: dv.getUint16(20), sha: f.subarray(22, 28), spa: dv.getUint32(28),
    tha: f.subarray(32, 38), tpa: dv.getUint32(38), len: f.length,
  };
}
const isArp = (f: Uint8Array) => dvOf(f).getUint16(12) === 0x0806;
const icmpSeqs = (frames: Uint8Array[]) => frames.filter((f) => !isArp(f)).map((f) => dvOf(f).getUint16(14 + 20 + 6));

describe('eth: ethernet helpers', () => {
  it('parses and formats MACs', () => {
    expect(parseMac('02:00:0a:ff:00:01')).to.deep.equal(Uint8Array.of(2, 0, 10, 255, 0, 1));
    expect(formatMac(Uint8Array.of(2, 0, 10, 255, 0, 1))).to.equal('02:00:0a:ff:00:01');
    expect(() => parseMac('02:00:0a:ff:00')).to.throw(RangeError);
    expect(() => parseMac('02:00:0a:ff:00:1g')).to.throw(RangeError);
    expect(isBroadcastMac(BCAST)).to.equal(true);
    expect(isBroadcastMac(MAC_A)).to.equal(false);
  });

  it('builds a header in the headroom and reads the ethertype with a length check', () => {
    const pool = new TsMempool({ count: 4 });
    const m = pool.alloc();
    expect(ethType(pool, m)).to.equal(-1);
    pool.append(m, 20);
    expect(prependEthHeader(pool, m, MAC_B, 0, MAC_A, 0x0800)).to.be.greaterThan(0);
    expect(ethType(pool, m)).to.equal(0x0800);
    const b = pool.toBytes(m);
    expect(b.subarray(0, 6)).to.deep.equal(MAC_B);
    expect(b.subarray(6, 12)).to.deep.equal(MAC_A);
    pool.setDataOff(m, 4);
    expect(prependEthHeader(pool, m, MAC_B, 0, MAC_A, 0x0800)).to.equal(-1);
    pool.free(m);
    expect(pool.inUse()).to.equal(0);
  });
});

describe('eth: ARP', () => {
  let h: Harness;
  beforeEach(() => { h = new Harness(); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  it('announces itself with a gratuitous ARP at start', () => {
    expect(h.announced).to.have.length(1);
    const a = parseArp(h.announced[0]);
    expect(isBroadcastMac(a.dst)).to.equal(true);
    expect(a.op).to.equal(1);
    expect(a.spa).to.equal(IP_A);
    expect(a.tpa).to.equal(IP_A);
    expect(a.sha).to.deep.equal(MAC_A);
  });

  it('answers a request for our address in place and learns the requester', () => {
    // padded to the 60-byte Ethernet minimum, as on a wire
    h.send(concat(eth(BCAST, MAC_B, 0x0806, arp(1, MAC_B, IP_B, ZERO, IP_A)), new Uint8Array(18)));
    const out = h.poll();
    expect(out).to.have.length(1);
    const r = parseArp(out[0]);
    expect(r.len).to.equal(42);
    expect(r.dst).to.deep.equal(MAC_B);
    expect(r.op).to.equal(2);
    expect(r.sha).to.deep.equal(MAC_A);
    expect(r.spa).to.equal(IP_A);
    expect(r.tha).to.deep.equal(MAC_B);
    expect(r.tpa).to.equal(IP_B);
    expect(h.stack.arp.lookup(IP_B)).to.deep.equal(MAC_B);
    expect(h.stack.counters.arp.repliesSent).to.equal(1);
  });

  it('ignores requests for other addresses and does not learn from them', () => {
    h.send(eth(BCAST, MAC_B, 0x0806, arp(1, MAC_B, IP_B, ZERO, IP_C)));
    expect(h.poll()).to.have.length(0);
    expect(h.stack.arp.entry(IP_B)).to.equal(undefined);
    expect(h.stack.counters.arp.rx).to.equal(1);
  });

  it('counts every malformed packet as a drop with its reason', () => {
    const good = arp(1, MAC_B, IP_B, ZERO, IP_A);
    const bad = (f: (b: Uint8Array) => void) => { const b = good.slice(); f(b); return eth(BCAST, MAC_B, 0x0806, b); };
    h.send(eth(BCAST, MAC_B, 0x0806, good.subarray(0, 27)));
    h.send(bad((b) => { b[1] = 6; }));
    h.send(bad((b) => { b[2] = 0x86; b[3] = 0xdd; }));
    h.send(bad((b) => { b[4] = 8; }));
    h.send(bad((b) => { b[5] = 16; }));
    h.send(bad((b) => { b[7] = 3; }));
    h.send(bad((b) => { b[8] = 1; }));          // multicast sender MAC
    h.send(bad((b) => { b.fill(0, 8, 14); }));  // zero sender MAC
    h.send(bad((b) => { dvOf(b).setUint32(14, IP_A); })); // someone else claims our address
    h.send(bad((b) => { dvOf(b).setUint32(14, parseIpv4('224.0.0.1')); }));
    h.send(bad((b) => { dvOf(b).setUint32(14, parseIpv4('10.72.0.255')); }));
    expect(h.poll()).to.have.length(0);
    const d = h.stack.counters.arp.drops;
    expect(d).to.include({ truncated: 1, badHtype: 1, badPtype: 1, badHlen: 1, badPlen: 1, badOp: 1, badSenderMac: 2, addressConflict: 1, badSenderIp: 2 });
    expect(h.stack.arp.entries()).to.have.length(0);
  });

  it('resolves on a miss, queues the packet and sends it when the reply comes', () => {
    h.stack.icmp.ping(IP_B, 1, 1, 0);
    const out = h.poll();
    expect(out).to.have.length(1);
    const req = parseArp(out[0]);
    expect(isBroadcastMac(req.dst)).to.equal(true);
    expect(req.op).to.equal(1);
    expect(req.tpa).to.equal(IP_B);
    expect(req.spa).to.equal(IP_A);
    expect(h.stack.arp.entry(IP_B)!.state).to.equal(ArpState.Incomplete);
    h.send(eth(MAC_A, MAC_B, 0x0806, arp(2, MAC_B, IP_B, MAC_A, IP_A)));
    const sent = h.poll();
    expect(icmpSeqs(sent)).to.deep.equal([1]);
    expect(sent[0].subarray(0, 6)).to.deep.equal(MAC_B);
    expect(h.stack.arp.entry(IP_B)!.state).to.equal(ArpState.Reachable);
  });

  it('bounds the queue per destination, dropping the oldest', () => {
    const h2 = new Harness({ arp: { queueLen: 3 } });
    for (let i = 1; i <= 5; i++) h2.stack.icmp.ping(IP_B, 1, i, 0);
    h2.poll();
    expect(h2.stack.counters.arp.drops.queueFull).to.equal(2);
    h2.send(eth(MAC_A, MAC_B, 0x0806, arp(2, MAC_B, IP_B, MAC_A, IP_A)));
    expect(icmpSeqs(h2.poll())).to.deep.equal([3, 4, 5]);
    return h2.close().then(() => expect(h2.pool.inUse()).to.equal(0));
  });

  it('or dropping the new packet when configured so', async () => {
    const h2 = new Harness({ arp: { queueLen: 3, dropOldest: false } });
    for (let i = 1; i <= 5; i++) h2.stack.icmp.ping(IP_B, 1, i, 0);
    h2.poll();
    h2.send(eth(MAC_A, MAC_B, 0x0806, arp(2, MAC_B, IP_B, MAC_A, IP_A)));
    expect(icmpSeqs(h2.poll())).to.deep.equal([1, 2, 3]);
    await h2.close();
    expect(h2.pool.inUse()).to.equal(0);
  });

  it('retransmits requests and drops the queue when resolution fails', () => {
    for (let i = 1; i <= 4; i++) h.stack.icmp.ping(IP_B, 1, i, 0);
    let requests = h.poll().length;
    for (let t = 0; t < 10; t++) { h.clock.advance(500); requests += h.poll().length; }
    expect(requests).to.equal(3);
    expect(h.stack.counters.arp.drops.resolutionFailed).to.equal(4);
    expect(h.stack.arp.entry(IP_B)).to.equal(undefined);
    expect(h.pool.inUse()).to.equal(0);
  });

  it('expires unused entries after the reachable time', () => {
    h.stack.arp.addStatic(IP_C, MAC_C);
    h.send(eth(BCAST, MAC_B, 0x0806, arp(1, MAC_B, IP_B, ZERO, IP_A)));
    h.poll();
    h.clock.advance(59_000);
    h.poll();
    expect(h.stack.arp.lookup(IP_B)).to.deep.equal(MAC_B);
    h.clock.advance(1000);
    expect(h.poll()).to.have.length(0);
    expect(h.stack.arp.entry(IP_B)).to.equal(undefined);
    expect(h.stack.arp.lookup(IP_C)).to.deep.equal(MAC_C); // static entries stay
  });

  it('refreshes an entry in use by re-requesting, keeping the MAC meanwhile', () => {
    h.send(eth(BCAST, MAC_B, 0x0806, arp(1, MAC_B, IP_B, ZERO, IP_A)));
    h.poll();
    h.clock.advance(30_000);
    h.stack.icmp.ping(IP_B, 1, 1, 0);
    expect(icmpSeqs(h.poll())).to.deep.equal([1]);
    h.clock.advance(30_000);
    const out = h.poll();
    expect(out).to.have.length(1);
    expect(parseArp(out[0]).tpa).to.equal(IP_B);
    expect(h.stack.arp.entry(IP_B)!.state).to.equal(ArpState.Refreshing);
    h.stack.icmp.ping(IP_B, 1, 2, 0);
    expect(icmpSeqs(h.poll())).to.deep.equal([2]); // still sent with the old MAC
    h.send(eth(MAC_A, MAC_B, 0x0806, arp(2, MAC_B, IP_B, MAC_A, IP_A)));
    h.poll();
    expect(h.stack.arp.entry(IP_B)!.state).to.equal(ArpState.Reachable);
  });

  it('merges: a known neighbour moving its address is followed (RFC 826), static entries are not', () => {
    h.send(eth(BCAST, MAC_B, 0x0806, arp(1, MAC_B, IP_B, ZERO, IP_A)));
    h.poll();
    h.stack.arp.addStatic(IP_C, MAC_C);
    const MAC_D = Uint8Array.of(2, 0, 0, 0, 0, 4);
    // gratuitous ARPs, not addressed to us
    h.send(eth(BCAST, MAC_D, 0x0806, arp(1, MAC_D, IP_B, ZERO, IP_B)));
    h.send(eth(BCAST, MAC_D, 0x0806, arp(1, MAC_D, IP_C, ZERO, IP_C)));
    h.poll();
    expect(h.stack.arp.lookup(IP_B)).to.deep.equal(MAC_D);
    expect(h.stack.arp.lookup(IP_C)).to.deep.equal(MAC_C);
    expect(h.stack.counters.arp.updated).to.equal(1);
    expect(h.stack.arp.remove(IP_C)).to.equal(true);
    expect(h.stack.arp.lookup(IP_C)).to.equal(undefined);
  });

  it('sends broadcasts without resolving', () => {
    h.stack.icmp.ping(parseIpv4('10.72.0.255'), 1, 1, 0);
    const out = h.poll();
    expect(out).to.have.length(1);
    expect(isBroadcastMac(out[0])).to.equal(true);
    expect(dvOf(out[0]).getUint16(12)).to.equal(0x0800);
  });

  it('frees queued packets on close', async () => {
    h.stack.icmp.ping(IP_B, 1, 1, 0);
    h.stack.icmp.ping(IP_B, 1, 2, 0);
    expect(h.stack.arp.queuedPackets()).to.equal(2);
    // afterEach closes and checks the pool
  });
});
