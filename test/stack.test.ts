import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import { parseIpv4 } from '../src/ip/addr.js';
import { Harness, IP_A, IP_B, MAC_A, MAC_B, dvOf, eth, fragments, icmpEcho, ipv4, pattern } from './stack-frames.js';

describe('stack: two stacks over a memory link', () => {
  let pool: TsMempool;
  let clock: VirtualClock;
  let s1: Stack;
  let s2: Stack;
  beforeEach(() => {
    pool = new TsMempool({ count: 512 });
    clock = new VirtualClock(0);
    const [a, b] = createLinkPair(pool);
    s1 = new Stack({ port: a, ip: '10.72.0.1/24', clock });
    s2 = new Stack({ port: b, ip: '10.72.0.2/24', clock });
  });
  afterEach(async () => {
    await s1.close();
    await s2.close();
    expect(pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  const pump = (n = 10): void => { for (let i = 0; i < n; i++) { s1.poll(); s2.poll(); } };

  it('pings across ARP resolution', () => {
    const replies: Array<[number, number, number]> = [];
    s1.icmp.onEchoReply = (src, id, seq) => { replies.push([src, id, seq]); };
    expect(s1.icmp.ping(s2.localIp, 7, 1, 56)).to.equal(true);
    pump();
    expect(replies).to.deep.equal([[s2.localIp, 7, 1]]);
    expect(s1.arp.lookup(s2.localIp)).to.deep.equal(MAC_B);
    expect(s2.arp.lookup(s1.localIp)).to.deep.equal(MAC_A);
    expect(s2.counters.icmp.echoRepliesSent).to.equal(1);
    for (let i = 2; i <= 5; i++) s1.icmp.ping(s2.localIp, 7, i, 56);
    pump();
    expect(replies.map((r) => r[2])).to.deep.equal([1, 2, 3, 4, 5]);
  });

  it('pings with payloads spanning several segments (fragmented and reassembled both ways)', () => {
    let got = -1;
    let bytes: Uint8Array | undefined;
    s1.icmp.onEchoReply = (_src, _id, seq, m) => { got = seq; bytes = pool.toBytes(m); };
    s1.icmp.ping(s2.localIp, 1, 9, pattern(5000));
    pump(20);
    expect(got).to.equal(9);
    expect(bytes!.length).to.equal(5008);
    expect(bytes!.subarray(8)).to.deep.equal(pattern(5000));
    expect(s2.counters.ip.fragmentsReceived).to.be.greaterThan(1);
    expect(s2.counters.reassembly.tx).to.equal(1);
    expect(s1.counters.reassembly.tx).to.equal(1);
  });

  it('drops output with no route and counts it', () => {
    s1.icmp.ping(parseIpv4('192.0.2.1'), 1, 1, 8);
    pump(1);
    expect(s1.counters.ip.drops.noRoute).to.equal(1);
  });

  it('routes off-subnet through the gateway', async () => {
    const [a, b] = createLinkPair(pool, { macA: Uint8Array.of(2, 0, 0, 0, 1, 1), macB: Uint8Array.of(2, 0, 0, 0, 1, 2) });
    const s3 = new Stack({ port: a, ip: '10.72.1.1/24', gateway: '10.72.1.254', clock });
    const gw = new Stack({ port: b, ip: '10.72.1.254/24', clock });
    s3.icmp.ping(parseIpv4('8.8.8.8'), 1, 1, 8);
    for (let i = 0; i < 5; i++) { s3.poll(); gw.poll(); }
    expect(s3.arp.lookup(parseIpv4('10.72.1.254'))).to.not.equal(undefined);
    expect(gw.counters.ip.drops.notForUs).to.equal(1);
    await s3.close();
    await gw.close();
  });

  it('runs in the event loop with start() and stops cleanly', async () => {
    const real1 = s1;
    let got = 0;
    real1.icmp.onEchoReply = () => { got++; };
    s1.start();
    s2.start();
    s1.icmp.ping(s2.localIp, 1, 1, 8);
    for (let i = 0; i < 200 && got === 0; i++) await new Promise((r) => setTimeout(r, 1));
    s1.stop();
    s2.stop();
    expect(got).to.equal(1);
    expect(s1.isRunning).to.equal(false);
  });
});

describe('stack: ethernet receive', () => {
  let h: Harness;
  beforeEach(() => { h = new Harness(); h.learnPeer(); });
  afterEach(async () => {
    await h.close();
    expect(h.pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  it('drops runts, foreign MACs, multicast sources and unknown ethertypes', () => {
    h.send(new Uint8Array(10));
    h.send(eth(Uint8Array.of(2, 9, 9, 9, 9, 9), MAC_B, 0x0800, ipv4(icmpEcho(1, 1, pattern(8)))));
    h.send(eth(MAC_A, Uint8Array.of(1, 0, 0x5e, 0, 0, 1), 0x0800, ipv4(icmpEcho(1, 1, pattern(8)))));
    h.send(eth(MAC_A, MAC_B, 0x86dd, new Uint8Array(40)));
    h.send(eth(MAC_A, MAC_B, 0x8100, new Uint8Array(40)));
    expect(h.poll()).to.have.length(0);
    const d = h.stack.counters.eth.drops;
    expect(d.runt).to.equal(1);
    expect(d.notForUs).to.equal(1);
    expect(d.badSourceMac).to.equal(1);
    expect(d.unknownEthertype).to.equal(2);
  });

  it('hands registered ethertypes, multicast included, to their handler and keeps the built-in ones', () => {
    const got: number[] = [];
    h.stack.registerEtherType(0x86dd, (m) => { got.push(h.pool.pktLen(m)); h.pool.free(m); });
    expect(() => h.stack.registerEtherType(0x86dd, () => {})).to.throw(RangeError);
    expect(() => h.stack.registerEtherType(0x0800, () => {})).to.throw(RangeError);
    h.send(eth(MAC_A, MAC_B, 0x86dd, new Uint8Array(40)));
    h.send(eth(Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 1), MAC_B, 0x86dd, new Uint8Array(40)));
    h.send(eth(Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 1), MAC_B, 0x0800, ipv4(icmpEcho(1, 1, pattern(8)))));
    expect(h.poll()).to.have.length(0);
    expect(got).to.deep.equal([54, 54]);
    expect(h.stack.counters.eth.drops.notForUs).to.equal(1);
  });

  it('answers a ping in place, swapping addresses', () => {
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(icmpEcho(0x1234, 5, pattern(32)), { tos: 0x10 })));
    const out = h.poll();
    expect(out).to.have.length(1);
    const f = out[0];
    const dv = dvOf(f);
    expect(f.subarray(0, 6)).to.deep.equal(MAC_B);
    expect(dv.getUint16(12)).to.equal(0x0800);
    expect(dv.getUint32(14 + 12)).to.equal(IP_A);
    expect(dv.getUint32(14 + 16)).to.equal(IP_B);
    expect(f[14 + 1]).to.equal(0x10);
    expect(f[34]).to.equal(0);
    expect(dv.getUint16(38)).to.equal(0x1234);
    expect(f.subarray(42)).to.deep.equal(pattern(32));
  });

  it('flushes the tx batch early when it fills', async () => {
    const h2 = new Harness({ txBatch: 32 });
    h2.learnPeer();
    const sent0 = h2.a.stats.txPackets;
    for (let i = 0; i < 40; i++) h2.stack.icmp.ping(IP_B, 1, i, 0);
    expect(h2.a.stats.txPackets - sent0).to.equal(32); // a full batch went out before any poll
    expect(h2.poll()).to.have.length(40);
    await h2.close();
    expect(h2.pool.inUse()).to.equal(0);
  });

  it('reports the next due timer for the idle back-off', () => {
    const s = h.stack;
    expect(s.nextTimerDue()).to.equal(Infinity);
    s.icmp.ping(parseIpv4('10.72.0.77'), 1, 1, 0);
    h.poll();
    expect(s.nextTimerDue()).to.equal(h.clock.now() + 1000);
    let due = h.clock.now() + 10;
    s.addTicker(() => {}, () => due);
    expect(s.nextTimerDue()).to.equal(due);
    due = Infinity;
    expect(s.nextTimerDue()).to.equal(h.clock.now() + 1000);
  });

  it('stats() is a detached snapshot of the counters, port, pool, ARP and reassembly after known traffic', () => {
    const s = h.stack;
    const txAtStart = h.a.stats.txPackets; // the gratuitous ARP
    h.send(new Uint8Array(10)); // a runt
    h.send(eth(MAC_A, MAC_B, 0x86dd, new Uint8Array(40))); // an unknown ethertype
    for (let i = 1; i <= 2; i++) h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(icmpEcho(7, i, pattern(32)))));
    expect(h.poll()).to.have.length(2); // the two echo replies
    // Held by the stack when the snapshot is taken: a packet waiting for ARP, one fragment waiting for the rest.
    s.icmp.ping(parseIpv4('10.72.0.77'), 1, 1, 0);
    h.send(eth(MAC_A, MAC_B, 0x0800, fragments(icmpEcho(9, 9, pattern(300)), 128, { id: 4242 })[0]));
    const requests = h.poll().length; // the ARP request for 10.72.0.77
    expect(requests).to.equal(1);
    const st = s.stats() as Record<string, any>;
    expect(st.eth.drops.runt).to.equal(1);
    expect(st.eth.drops.unknownEthertype).to.equal(1);
    expect(st.icmp.echoRepliesSent).to.equal(2);
    expect(st.ip.fragmentsReceived).to.equal(1);
    expect(st.port.rxPackets).to.equal(5);
    expect(st.port.txPackets).to.equal(txAtStart + 3);
    expect(st.port).to.deep.equal({ ...h.a.stats });
    expect(st.pool.capacity).to.equal(256);
    expect(st.pool.inUse).to.equal(h.pool.inUse());
    expect(st.pool.inUse, 'the ARP-queued packet and the fragment').to.be.at.least(2);
    expect(st.arpQueued).to.equal(1);
    expect(st.arpEntries).to.equal(s.arp.entries().length);
    expect(st.fragmentsPending).to.equal(1);
    // Plain data only (what JSON can carry unchanged): numbers and strings, no NaN, nothing live.
    const leaves = (x: unknown, path: string): void => {
      if (typeof x === 'object' && x !== null && !Array.isArray(x)) { for (const [k, v] of Object.entries(x)) leaves(v, `${path}.${k}`); return; }
      if (Array.isArray(x)) { x.forEach((v, i) => leaves(v, `${path}[${i}]`)); return; }
      expect(typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)), `${path} = ${String(x)}`).to.equal(true);
    };
    leaves(st, 'stats');
    // A snapshot: later traffic changes the counters, not what was returned.
    h.send(new Uint8Array(10));
    h.poll();
    expect(s.counters.eth.drops.runt).to.equal(2);
    expect(st.eth.drops.runt).to.equal(1);
    expect((s.stats() as Record<string, any>).eth.drops.runt).to.equal(2);
  });
});

describe('stack: TCP option anomalies are counted', () => {
  it('a SYN with an MSS option of the wrong length and an unknown kind is answered, and both are counted', async () => {
    const { Harness, IP_A, IP_B, MAC_A, MAC_B, eth, ipv4 } = await import('./stack-frames.js');
    const h = new Harness();
    h.learnPeer();
    h.stack.createServer(() => {}).listen(80);
    const b = new Uint8Array(28);
    const dv = new DataView(b.buffer);
    dv.setUint16(0, 40000); dv.setUint16(2, 80); dv.setUint32(4, 777); b[12] = 7 << 4; b[13] = 2; dv.setUint16(14, 65535);
    b.set([2, 3, 5, /* unknown kind */ 99, 2, 1, 1, 0], 20);
    h.send(eth(MAC_A, MAC_B, 0x0800, ipv4(b, { proto: 6, src: IP_B, dst: IP_A })));
    const out = h.poll(2);
    expect(out.some((f) => f[14 + 9] === 6 && (f[14 + 20 + 13] & 0x12) === 0x12), 'a SYN-ACK').to.equal(true);
    expect(h.stack.counters.tcp.optionsWrongLength).to.equal(1);
    expect(h.stack.counters.tcp.optionsUnknownKind).to.equal(1);
    await h.close();
    expect(h.pool.inUse()).to.equal(0);
  });
});
