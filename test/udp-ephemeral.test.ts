/**
 * UDP ephemeral ports from a range of the host's own (`setUdpEphemeralRange`,
 * src/udp/socket.ts): what a shard of a sharded stack sets to its block of
 * the ephemeral range, as its TCP takes its ports from that block. Both
 * families follow it (udp6 through its IPv4 side), for layers made before
 * and after it is set; without it the range stays IANA's 49152-65535.
 */
import { expect } from 'chai';
import { ipv6Protocol } from '../src/ipv6-attach.js';
import { TsMempool } from '../src/mbuf/index.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { shardPortBlock } from '../src/shard/steer.js';
import { Stack } from '../src/stack.js';
import { EPHEMERAL_HIGH, EPHEMERAL_LOW } from '../src/udp/layer.js';
import { setUdpEphemeralRange, udpLayerOf } from '../src/udp/socket.js';
import { VirtualClock } from '../src/util/clock.js';

function stack(): { s: Stack; close(): Promise<void> } {
  const pool = new TsMempool({ count: 1024 });
  const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false });
  const nd = { routerSolicitations: 0, dadTransmits: 0 };
  const s = new Stack({ port: pa, ip: '10.9.0.1/24', clock: new VirtualClock(1000), idleBackoff: false,
    protocols: [ipv6Protocol({ addresses: ['fd00:9::1/64'], nd })] });
  // The other end takes (and frees) what the stack announces.
  const peer = new Stack({ port: pb, ip: '10.9.0.2/24', clock: new VirtualClock(1000), idleBackoff: false });
  return { s, close: async () => { peer.poll(); await s.close(); await peer.close(); expect(pool.inUse()).to.equal(0); } };
}

/** Bind `n` sockets of `type` to ephemeral ports; their ports. */
function bindMany(s: Stack, type: 'udp4' | 'udp6', n: number): number[] {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = s.createSocket(type as 'udp4');
    u.bind(0);
    ports.push(u.address().port);
  }
  return ports;
}

describe('udp: ephemeral ports from the host\'s range (a shard\'s block)', () => {
  it('without a range: IANA\'s 49152-65535, both families', async () => {
    const { s, close } = stack();
    for (const p of [...bindMany(s, 'udp4', 20), ...bindMany(s, 'udp6', 20)]) {
      expect(p).to.be.within(EPHEMERAL_LOW, EPHEMERAL_HIGH);
    }
    await close();
  });

  it('a shard\'s block: every udp4 and udp6 (dual-stack) socket takes its port there, set before or after the layers exist', async () => {
    const block = shardPortBlock(1, 2, 32768, 60999);
    for (const early of [false, true]) {
      const { s, close } = stack();
      if (early) bindMany(s, 'udp4', 1); // the IPv4 layer exists before the range is set
      setUdpEphemeralRange(s, block.low, block.high);
      const ports = [...bindMany(s, 'udp4', 30), ...bindMany(s, 'udp6', 30)];
      for (const p of ports) expect(p, `port ${p}`).to.be.within(block.low, block.high);
      expect(new Set(ports).size, 'no port given twice').to.equal(ports.length);
      expect(udpLayerOf(s).ephemeralRange).to.deep.equal(block);
      await close();
    }
  });

  it('a small range runs out with EADDRINUSE, and wraps around to ports given up', async () => {
    const { s, close } = stack();
    setUdpEphemeralRange(s, 40000, 40003);
    const socks = [0, 1, 2, 3].map(() => { const u = s.createSocket('udp4'); u.bind(0); return u; });
    expect(socks.map((u) => u.address().port).sort()).to.deep.equal([40000, 40001, 40002, 40003]);
    const errors: Array<{ code?: string }> = [];
    const extra = s.createSocket('udp4');
    extra.on('error', (e: { code?: string }) => errors.push(e));
    extra.bind(0);
    await new Promise((r) => setImmediate(r));
    expect(errors.map((e) => e.code)).to.deep.equal(['EADDRINUSE']);
    const freed = socks[2].address().port;
    socks[2].close();
    const again = s.createSocket('udp4');
    again.bind(0);
    expect(again.address().port).to.equal(freed);
    await close();
  });

  it('refuses a range that is not one', async () => {
    const { s, close } = stack();
    for (const [lo, hi] of [[0, 10], [100, 99], [1, 65536], [1.5, 3]]) {
      expect(() => setUdpEphemeralRange(s, lo, hi)).to.throw(RangeError);
    }
    await close();
  });
});
