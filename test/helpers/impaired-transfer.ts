/**
 * The seeded transfer the send-path tests check their layout under: a sends
 * 40 writes of seeded sizes (the first 10 up to 70,000 B, then up to
 * 9,000 B) to b, clean until the 8th write, then with 5 % loss, 5 %
 * reordering and 3 % duplication; b's bytes must arrive exact, the impaired
 * half must have retransmitted, both ends close, and every mbuf comes back.
 * A test says only how a writes and what it looks for in a's data frames.
 */
import { expect } from 'chai';
import { TcpState } from '../../src/tcp/state.js';
import { Prng } from '../../src/util/prng.js';
import { IP_B, TcpPair, pattern, type PairOptions } from '../tcp-harness.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import type { Mbuf } from '../../src/mbuf/index.js';
import type { Ip4 } from '../../src/ip/addr.js';

/** Where the writer is: `k` writes of `sizes` begun, `wo` bytes of `data` accepted. */
export interface WriteCursor {
  readonly sizes: readonly number[];
  readonly data: Uint8Array;
  k: number;
  wo: number;
}

/** What {@link impairedTransfer} varies. */
export interface ImpairedTransferOptions {
  seed: number;
  pair: PairOptions;
  /** Offer a's connection what the buffer takes this turn, advancing the cursor. */
  write: (c: TcpConnection, w: WriteCursor, p: TcpPair) => void;
  /** Sees every frame a sends longer than 60 B (the data segments), before the wire does. */
  tap: (m: Mbuf, p: TcpPair) => void;
  /** Turns of the wire (5 ms each) at the most. */
  turns: number;
  /** b reads on every `readEvery`-th turn only (default every turn). */
  readEvery?: number;
}

/** What a test may check after the transfer (the pair is closed by then). */
export interface ImpairedTransferResult {
  p: TcpPair;
  total: number;
  retransmits: ReturnType<TcpConnection['info']>['retransmits'];
}

/** Run the transfer and its common checks; see the module comment. */
export function impairedTransfer(o: ImpairedTransferOptions): ImpairedTransferResult {
  const { seed: s } = o;
  const prng = new Prng(s);
  const p = new TcpPair(o.pair);
  let total = 0;
  let retransmits: ImpairedTransferResult['retransmits'];
  try {
    const l = p.b.listen(80);
    const c = p.a.connect(IP_B, 80);
    p.run(10);
    const server = l.accept()!;
    expect(server).to.not.equal(null);
    const sizes: number[] = [];
    for (let i = 0; i < 40; i++) sizes.push(1 + prng.int(i < 10 ? 70000 : 9000));
    total = sizes.reduce((a, b) => a + b, 0);
    const w: WriteCursor = { sizes, data: pattern(total, s), k: 0, wo: 0 };
    const got: Uint8Array[] = [];
    let have = 0;
    const env = p.a.env as { output: (m: Mbuf, dst: Ip4, proto: number, tos: number) => void };
    const out = env.output;
    env.output = (m, dst, proto, tos) => {
      if (p.pool.pktLen(m) > 60) o.tap(m, p);
      out(m, dst, proto, tos);
    };
    const every = o.readEvery ?? 1;
    for (let i = 0; i < o.turns && have < total; i++) {
      if (w.k >= 8 && p.impair === undefined) p.impair = { prng, loss: 0.05, reorder: 0.05, dup: 0.03 };
      o.write(c, w, p);
      p.run(5);
      if (i % every === 0) for (let d = server.read(); d; d = server.read()) { got.push(d); have += d.length; }
    }
    expect(Buffer.concat(got).equals(Buffer.from(w.data)), `seed ${s}: bytes`).to.equal(true);
    retransmits = c.info().retransmits;
    const r = retransmits;
    expect(r.rto + r.fast + r.tlp + r.rack, 'the impaired half retransmitted').to.be.greaterThan(0);
    p.impair = undefined;
    c.close();
    server.close();
    p.run(200000);
    expect(c.state).to.equal(TcpState.Closed);
  } finally {
    p.close();
  }
  expect(p.pool.inUse(), `seed ${s}: mbufs leaked`).to.equal(p.startInUse);
  return { p, total, retransmits };
}
