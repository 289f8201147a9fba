/**
 * The receive fast path (Stack.receive -> TcpLayer.mergeFrame ->
 * GroCollector.mergeFrame) must behave exactly like the normal path: two
 * stacks in the same state, one with the fast path and one without
 * (`rxFastPath: false`), get the same random frames — a bulk flow's next
 * segments, most of them intact, the others with a header byte changed, a
 * wrong length, Ethernet padding, a truncation, a fragment bit, TTL 0, a
 * bad checksum, a split across mbuf segments, NIC checksum verdicts — in the
 * same bursts, and must answer with the same frames, deliver the same bytes,
 * count the same counters and give back every mbuf.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { finish, pseudoHeaderSum, sumBytes } from '../src/ip/checksum.js';
import { MbufLayout } from '../src/mbuf/layout.js';
import { txBurstOrFree } from '../src/pmd/port.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { Harness, IP_A, IP_B, MAC_A, MAC_B, chainFrom, eth } from './stack-frames.js';
import { pinnedSeed } from './helpers/seed.js';
import type { Ip4 } from '../src/ip/addr.js';

const SECRET = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const PORT_C = 40000;
const PORT_S = 80;

const dvOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

interface SegSpec { seq: number; ack: number; flags: number; win: number; tsVal?: number; tsEcr?: number; syn?: boolean; payload: Uint8Array; tos?: number }

/** An Ethernet + IPv4 + TCP frame from the peer (B) to the stack (A), checksums right. */
function tcpFrame(s: SegSpec): Uint8Array {
  const opts: number[] = [];
  if (s.syn) opts.push(2, 4, 0x05, 0xb4, 4, 2); // MSS 1460, sackOK
  if (s.tsVal !== undefined) {
    opts.push(1, 1, 8, 10, (s.tsVal >>> 24) & 255, (s.tsVal >>> 16) & 255, (s.tsVal >>> 8) & 255, s.tsVal & 255,
      ((s.tsEcr ?? 0) >>> 24) & 255, ((s.tsEcr ?? 0) >>> 16) & 255, ((s.tsEcr ?? 0) >>> 8) & 255, (s.tsEcr ?? 0) & 255);
  }
  while (opts.length % 4) opts.push(1);
  const hl = 20 + opts.length;
  const t = new Uint8Array(hl + s.payload.length);
  const dv = dvOf(t);
  dv.setUint16(0, PORT_C); dv.setUint16(2, PORT_S); dv.setUint32(4, s.seq >>> 0); dv.setUint32(8, s.ack >>> 0);
  t[12] = (hl / 4) << 4; t[13] = s.flags; dv.setUint16(14, s.win);
  t.set(opts, 20);
  t.set(s.payload, hl);
  dv.setUint16(16, finish(sumBytes(dv, 0, t.length, pseudoHeaderSum(IP_B, IP_A, 6, t.length))));
  const ip = new Uint8Array(20 + t.length);
  const iv = dvOf(ip);
  ip[0] = 0x45; ip[1] = s.tos ?? 0; iv.setUint16(2, ip.length); iv.setUint16(4, 7); iv.setUint16(6, 0x4000);
  ip[8] = 64; ip[9] = 6; iv.setUint32(12, IP_B); iv.setUint32(16, IP_A);
  iv.setUint16(10, finish(sumBytes(iv, 0, 20)));
  ip.set(t, 20);
  return eth(MAC_A, MAC_B, 0x0800, ip);
}

/** Recompute the IPv4 (20-byte header) and TCP checksums of a frame as it now is, as far as its bytes allow. */
function fixChecksums(f: Uint8Array, ip: boolean, tcp: boolean): void {
  if (f.length < 34) return;
  const dv = dvOf(f);
  if (ip) { dv.setUint16(24, 0); dv.setUint16(24, finish(sumBytes(dv, 14, 20))); }
  if (tcp && f.length >= 54) {
    const len = f.length - 34;
    dv.setUint16(50, 0);
    dv.setUint16(50, finish(sumBytes(dv, 34, len, pseudoHeaderSum(dv.getUint32(26) as Ip4, dv.getUint32(30) as Ip4, 6, len))));
  }
}

/** What one random frame of a burst is, relative to the flow's next segment. */
interface FrameSpec {
  len: number;
  psh: boolean;
  /** 0 in order; else a sequence offset (a gap, a duplicate). */
  seqShift: number;
  mutation: { k: 'none' } | { k: 'byte'; pos: number; val: number } | { k: 'totalLen'; d: number } | { k: 'pad'; n: number }
    | { k: 'cut'; n: number } | { k: 'frag'; v: number } | { k: 'ttl0' } | { k: 'flags'; v: number } | { k: 'tos'; v: number }
    | { k: 'window'; d: number } | { k: 'tsval'; d: number } | { k: 'ack'; d: number };
  fixIp: boolean;
  fixTcp: boolean;
  split: number[] | null;
  ipFlag: number;
  l4Flag: number;
}

const IP_FLAGS = [0, MbufLayout.OL_RX_IP_CKSUM_GOOD_LO, MbufLayout.OL_RX_IP_CKSUM_BAD_LO, MbufLayout.OL_RX_IP_CKSUM_MASK_LO];
const L4_FLAGS = [0, MbufLayout.OL_RX_L4_CKSUM_GOOD_LO, MbufLayout.OL_RX_L4_CKSUM_BAD_LO, MbufLayout.OL_RX_L4_CKSUM_MASK_LO];

const frameSpec: fc.Arbitrary<FrameSpec> = fc.record({
  len: fc.oneof(fc.constant(1448), fc.integer({ min: 1, max: 1448 })),
  psh: fc.integer({ min: 0, max: 7 }).map((x) => x === 0),
  seqShift: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3000, max: 3000 }) }),
  mutation: fc.oneof(
    { weight: 12, arbitrary: fc.constant({ k: 'none' as const }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('byte' as const), pos: fc.nat(14 + 20 + 32 + 4), val: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('totalLen' as const), d: fc.integer({ min: -60, max: 60 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('pad' as const), n: fc.integer({ min: 1, max: 40 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('cut' as const), n: fc.integer({ min: 1, max: 1600 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('frag' as const), v: fc.integer({ min: 1, max: 0x3fff }) }) },
    { weight: 1, arbitrary: fc.constant({ k: 'ttl0' as const }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('flags' as const), v: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('tos' as const), v: fc.integer({ min: 1, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('window' as const), d: fc.integer({ min: 1, max: 100 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('tsval' as const), d: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('ack' as const), d: fc.integer({ min: -5, max: 5 }) }) },
  ),
  fixIp: fc.boolean(),
  fixTcp: fc.boolean(),
  split: fc.oneof({ weight: 6, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 3 }) }),
  ipFlag: fc.constantFrom(...IP_FLAGS),
  l4Flag: fc.constantFrom(...L4_FLAGS),
});

/** One stack with a listener and an established connection from the peer, and what it answered. */
class World {
  readonly h: Harness;
  readonly out: string[] = [];
  readonly data: number[] = [];
  conn: TcpConnection | null = null;
  constructor(fast: boolean, checksumUnneeded: boolean, gro = true) {
    this.h = new Harness({ rxFastPath: fast, gro, tcp: { isnSecret: SECRET }, ipv4: { idSecret: SECRET } }, { checksumUnneeded }, 1024);
    this.h.learnPeer();
    const l = this.h.stack.tcp.listen(PORT_S);
    l.onConnection = (c) => { this.conn = c; };
  }
  /** Send frames as one burst (each with its mbuf layout and NIC flags), poll, record what went out and read. */
  burst(frames: Array<{ bytes: Uint8Array; split: number[] | null; ol: number }>): Uint8Array[] {
    const pool = this.h.pool;
    const ms = new Uint32Array(frames.length);
    frames.forEach((f, i) => {
      const m = f.split ? chainFrom(pool, f.bytes, f.split) : pool.fromBytes(f.bytes);
      if (m < 0) throw new Error('pool empty');
      pool.setOlFlags(m, f.ol, 0);
      ms[i] = m;
    });
    if (frames.length > 0) txBurstOrFree(this.h.b, ms, frames.length);
    const sent = this.h.poll();
    for (const s of sent) this.out.push(Buffer.from(s).toString('hex'));
    if (this.conn) for (let d = this.conn.read(); d; d = this.conn.read()) for (const b of d) this.data.push(b);
    return sent;
  }
}

function runCase(seed: number, checksumUnneeded: boolean, bursts: FrameSpec[][], withTs = true, gro = true): { fastMerged: number; direct: number } {
  const fast = new World(true, checksumUnneeded, gro);
  const slow = new World(false, checksumUnneeded, gro);
  try {
    const C_ISN = (seed * 2654435761) >>> 0;
    let ts = 1000;
    const syn = tcpFrame({ seq: C_ISN, ack: 0, flags: 2, win: 65535, syn: true, tsVal: withTs ? ts : undefined, payload: new Uint8Array(0) });
    const good = MbufLayout.OL_RX_IP_CKSUM_GOOD_LO | MbufLayout.OL_RX_L4_CKSUM_GOOD_LO;
    const synAck = fast.burst([{ bytes: syn, split: null, ol: good }]);
    slow.burst([{ bytes: syn, split: null, ol: good }]);
    const sa = synAck.find((f) => f.length >= 54 && f[12] === 8 && f[47] === 0x12);
    if (!sa) throw new Error('no SYN-ACK');
    const S_ISN = dvOf(sa).getUint32(38);
    let seq = (C_ISN + 1) >>> 0;
    const ack = (S_ISN + 1) >>> 0;
    const ackF = tcpFrame({ seq, ack, flags: 16, win: 65535, tsVal: withTs ? ts : undefined, tsEcr: 0, payload: new Uint8Array(0) });
    fast.burst([{ bytes: ackF, split: null, ol: good }]);
    slow.burst([{ bytes: ackF, split: null, ol: good }]);
    expect(fast.conn, 'established').to.not.equal(null);
    let fill = seed & 255;
    for (const specs of bursts) {
      ts += 1;
      const frames = specs.map((s) => {
        const payload = Uint8Array.from({ length: s.len }, () => (fill = (fill * 31 + 7) & 255));
        const m = s.mutation;
        const f = tcpFrame({
          seq: (seq + s.seqShift) >>> 0, ack: m.k === 'ack' ? (ack + m.d) >>> 0 : ack,
          flags: m.k === 'flags' ? m.v : 16 | (s.psh ? 8 : 0), win: m.k === 'window' ? 65535 - m.d : 65535,
          tsVal: !withTs ? undefined : m.k === 'tsval' ? ts + m.d : ts, tsEcr: 0, payload, tos: m.k === 'tos' ? m.v : 0,
        });
        if (s.seqShift === 0 && m.k === 'none') seq = (seq + s.len) >>> 0;
        let bytes = f;
        const dv = dvOf(f);
        switch (m.k) {
          case 'byte': if (m.pos < f.length) f[m.pos] = m.val; break;
          case 'totalLen': dv.setUint16(16, (dv.getUint16(16) + m.d) & 0xffff); break;
          case 'pad': bytes = new Uint8Array(f.length + m.n); bytes.set(f); break;
          case 'cut': bytes = f.subarray(0, Math.max(1, f.length - m.n)); break;
          case 'frag': dv.setUint16(20, m.v); break;
          case 'ttl0': f[22] = 0; break;
          default: break;
        }
        if (m.k !== 'none') fixChecksums(bytes, s.fixIp, s.fixTcp);
        return { bytes: Uint8Array.from(bytes), split: s.split, ol: s.ipFlag | s.l4Flag };
      });
      const a = fast.burst(frames.map((x) => ({ ...x, bytes: Uint8Array.from(x.bytes) })));
      const b = slow.burst(frames);
      expect(a.map((x) => Buffer.from(x).toString('hex')).join(' '), 'frames sent in answer').to.equal(b.map((x) => Buffer.from(x).toString('hex')).join(' '));
      fast.h.clock.advance(1);
      slow.h.clock.advance(1);
    }
    // Let delayed ACKs and timers run the same way on both.
    for (let i = 0; i < 5; i++) {
      fast.h.clock.advance(50); slow.h.clock.advance(50);
      fast.burst([]); slow.burst([]);
    }
    expect(fast.out).to.deep.equal(slow.out);
    expect(fast.data.length).to.equal(slow.data.length);
    expect(Buffer.from(fast.data).equals(Buffer.from(slow.data))).to.equal(true);
    const statsOf = (w: World): Record<string, unknown> => w.h.stack.stats();
    expect(statsOf(fast)).to.deep.equal(statsOf(slow));
    expect(slow.h.stack.tcp.gro.fastMerged).to.equal(0);
    expect(slow.h.stack.tcp.rxDirect).to.equal(0);
    return { fastMerged: fast.h.stack.tcp.gro.fastMerged, direct: fast.h.stack.tcp.rxDirect };
  } finally {
    for (const w of [fast, slow]) {
      void w.h.stack.close(); // synchronous in effect: nothing in it awaits
      w.h.b.close();
      w.h.drain();
      expect(w.h.pool.inUse(), 'every mbuf returned').to.equal(0);
    }
  }
}

describe('receive fast path (Stack -> GRO mergeFrame) behaves as the normal path', () => {
  for (const checksumUnneeded of [true, false]) {
    const seed = pinnedSeed(checksumUnneeded ? 20261207 : 20261208, 'TZSTACK_RXFAST_SEED');
    it(`random bursts of a bulk flow, intact and damaged, checksumUnneeded=${checksumUnneeded} (seed ${seed}; replay: TZSTACK_RXFAST_SEED=${seed})`, () => {
      let merged = 0;
      fc.assert(fc.property(fc.array(fc.array(frameSpec, { minLength: 0, maxLength: 24 }), { minLength: 1, maxLength: 12 }), fc.nat(), (bursts, s) => {
        merged += runCase(s, checksumUnneeded, bursts).fastMerged;
      }), { seed, numRuns: 60 });
      expect(merged, 'the fast path was taken').to.be.greaterThan(0);
    });
  }

  for (const checksumUnneeded of [true, false]) {
    const seed = pinnedSeed(checksumUnneeded ? 20261209 : 20261210, 'TZSTACK_RXFAST_SEED');
    it(`bursts outside GRO (the direct path to the connection), checksumUnneeded=${checksumUnneeded} (seed ${seed}; replay: TZSTACK_RXFAST_SEED=${seed})`, () => {
      let direct = 0;
      // Bursts of one or two frames with GRO on; of up to eight with GRO off.
      fc.assert(fc.property(fc.boolean(), fc.array(fc.array(frameSpec, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 40 }),
        fc.nat(), fc.boolean(), (gro, bursts, s, withTs) => {
          const b = gro ? bursts.map((x) => x.slice(0, 2)) : bursts;
          direct += runCase(s, checksumUnneeded, b, withTs, gro).direct;
        }), { seed, numRuns: 60 });
      expect(direct, 'the direct path was taken').to.be.greaterThan(0);
    });
  }

  it('takes the direct path with GRO off too, and answers as the normal path does', () => {
    const specs: FrameSpec[] = Array.from({ length: 8 }, () => ({
      len: 1448, psh: false, seqShift: 0, mutation: { k: 'none' }, fixIp: false, fixTcp: false, split: null,
      ipFlag: MbufLayout.OL_RX_IP_CKSUM_GOOD_LO, l4Flag: MbufLayout.OL_RX_L4_CKSUM_GOOD_LO,
    }));
    expect(runCase(13, true, [specs, specs], true, false).direct).to.equal(16);
  });

  it('takes the direct path for single in-order segments, without and with timestamps', () => {
    const one: FrameSpec = {
      len: 100, psh: true, seqShift: 0, mutation: { k: 'none' }, fixIp: false, fixTcp: false, split: null,
      ipFlag: MbufLayout.OL_RX_IP_CKSUM_GOOD_LO, l4Flag: MbufLayout.OL_RX_L4_CKSUM_GOOD_LO,
    };
    expect(runCase(11, false, Array.from({ length: 10 }, () => [one])).direct).to.equal(10);
    expect(runCase(12, true, Array.from({ length: 10 }, () => [one]), false).direct).to.equal(10);
  });

  it('takes the fast path for an intact in-order burst and counts it as the normal path does', () => {
    const specs: FrameSpec[] = Array.from({ length: 16 }, () => ({
      len: 1448, psh: false, seqShift: 0, mutation: { k: 'none' }, fixIp: false, fixTcp: false, split: null,
      ipFlag: MbufLayout.OL_RX_IP_CKSUM_GOOD_LO, l4Flag: MbufLayout.OL_RX_L4_CKSUM_GOOD_LO,
    }));
    const r = runCase(7, false, [specs, specs]);
    expect(r.fastMerged).to.equal(30); // 15 followers in each of the two bursts
  });
});
