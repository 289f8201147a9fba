import { expect } from 'chai';
import fc from 'fast-check';
import { finish, sumBytes } from '../src/ip/checksum.js';
import { Harness, IP_A, IP_B, MAC_A, MAC_B, dvOf, eth, ipv4 } from './stack-frames.js';

/** Frames the output fast path writes must be byte for byte what the layered path wrote. */
describe('ip: output fast path (cached destination, Ethernet + IPv4 from a template)', () => {
  const MAC_C = Uint8Array.of(2, 0, 0, 0, 0, 3);

  /** Send `payload` as protocol `proto` from the stack with headroom `headroom`; returns the frame sent. */
  function send(h: Harness, payload: Uint8Array, proto: number, tos: number, headroom = 128): Uint8Array {
    const pool = h.pool;
    const m = pool.alloc();
    pool.setDataOff(m, headroom);
    const at = pool.append(m, payload.length);
    pool.u8.set(payload, at);
    h.stack.ip.output(m, IP_B, proto, tos);
    const frames = h.poll();
    expect(frames).to.have.length(1);
    return frames[0];
  }

  /** What the layered path writes: Ethernet to `mac`, then IPv4 with the layer's next ID. */
  function expected(payload: Uint8Array, proto: number, tos: number, id: number, mac = MAC_B, ttl = 64): Uint8Array {
    return eth(mac, MAC_A, 0x0800, ipv4(payload, {
      src: IP_A, dst: IP_B, proto, tos, id, ttl, frag: proto === 6 ? 0x4000 : 0,
    }));
  }
  const idOf = (f: Uint8Array): number => dvOf(f).getUint16(18);

  it('writes the headers the layered path wrote, for even and odd headroom, any TOS and length (seed printed)', async () => {
    const h = new Harness();
    h.learnPeer();
    const seed = Number(process.env.SEED ?? 20261203);
    console.log(`      seed ${seed}`);
    try {
      fc.assert(fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1400 }), fc.constantFrom(6, 17, 99), fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 34, max: 120 }),
        (payload, proto, tos, headroom) => {
          const f = send(h, payload, proto, tos, headroom);
          const want = expected(payload, proto, tos, idOf(f));
          expect(f).to.deep.equal(want);
          expect(finish(sumBytes(dvOf(f), 14, 20))).to.equal(0);
        }), { seed, numRuns: 200 });
    } finally {
      await h.close();
    }
    expect(h.pool.inUse()).to.equal(0);
  });

  it('follows a neighbour whose MAC changes, a TTL change and a removed entry', async () => {
    const h = new Harness();
    h.learnPeer();
    const data = Uint8Array.of(1, 2, 3, 4);
    let f = send(h, data, 17, 0);
    expect(f).to.deep.equal(expected(data, 17, 0, idOf(f)));
    const id0 = idOf(f);
    h.stack.arp.addStatic(IP_B, MAC_C);
    f = send(h, data, 17, 0);
    expect(f).to.deep.equal(expected(data, 17, 0, (id0 + 1) & 0xffff, MAC_C));
    h.stack.ip.config.ttl = 9;
    f = send(h, data, 17, 0);
    expect(f).to.deep.equal(expected(data, 17, 0, (id0 + 2) & 0xffff, MAC_C, 9));
    // Without the entry the packet waits for ARP: a request goes out instead.
    h.stack.arp.remove(IP_B);
    const pool = h.pool;
    const m = pool.alloc();
    pool.u8.set(data, pool.append(m, data.length));
    h.stack.ip.output(m, IP_B, 17, 0);
    const frames = h.poll();
    expect(frames).to.have.length(1);
    expect(dvOf(frames[0]).getUint16(12)).to.equal(0x0806);
    expect(h.stack.arp.queuedPackets()).to.equal(1);
    await h.close();
    expect(h.pool.inUse()).to.equal(0);
  });

  it('leaves fragmentation, no headroom and closed to the layered path, with its counted drops', async () => {
    const h = new Harness();
    h.learnPeer();
    const pool = h.pool;
    // No headroom for 34 bytes: the layered path's drop.
    const m = pool.alloc();
    pool.setDataOff(m, 20);
    pool.append(m, 8);
    h.stack.ip.output(m, IP_B, 17, 0);
    expect(h.poll()).to.have.length(0);
    expect(h.stack.counters.arp.drops.noHeadroom).to.equal(1);
    // Over the MTU: UDP is fragmented, TCP is refused.
    const big = new Uint8Array(3000);
    const u = pool.alloc();
    pool.u8.set(big.subarray(0, 1000), pool.append(u, 1000));
    const u2 = pool.alloc();
    pool.u8.set(big.subarray(1000), pool.append(u2, 2000));
    pool.chain(u, u2);
    h.stack.ip.output(u, IP_B, 17, 0);
    expect(h.poll()).to.have.length(3);
    h.stack.ip.close();
    const c = pool.alloc();
    pool.append(c, 8);
    h.stack.ip.output(c, IP_B, 17, 0);
    expect(h.stack.counters.ip.drops.closed).to.equal(1);
    await h.close();
    expect(pool.inUse()).to.equal(0);
  });
});
