/**
 * Retransmission efficiency under random loss: one bulk
 * transfer from stack b to stack a over the in-memory link with the
 * impairment decorator (seeded loss each way, a fixed delay), on the
 * virtual clock. Prints frames the impairment dropped (data direction and
 * ACK direction), segments b retransmitted by cause, the duplicates a
 * received, and their ratios — counters only, no times.
 *
 *   node dist/bench/retx.js [--bytes N] [--loss P] [--delay MS] [--seed S] [--rate BYTES/S]
 */
import { createStackPair } from '../src/testing.js';
import type { TcpConnection } from '../src/tcp/connection.js';

/** What one run measured. */
export interface RetxResult {
  bytes: number;
  /** Data-direction (b→a) frames the impairment dropped. */
  lostData: number;
  /** ACK-direction (a→b) frames dropped. */
  lostAcks: number;
  /** Segments b retransmitted, and by cause. */
  retrans: number;
  rack: number; fast: number; rto: number; tlp: number;
  /** Duplicate data segments a received (each one a spurious resend or a resent frame whose original arrived). */
  dupSegs: number;
  spurious: number;
  recoveries: number;
  /** Virtual ms the transfer took. */
  ms: number;
  ok: boolean;
}

/** Run `conns` parallel transfers of `bytes` each from b to a. */
export async function retxRun(o: { bytes: number; loss: number; delayMs: number; seed: number; rate?: number; conns?: number; jitterMs?: number }): Promise<RetxResult> {
  const dir = { loss: o.loss, delayMs: o.delayMs, jitterMs: o.jitterMs ?? 0, rateBytesPerSec: o.rate ?? 0 };
  const pair = createStackPair({ seed: o.seed, impair: dir, poolSize: 65536, checksumUnneeded: true });
  const n = o.conns ?? 1;
  const l = pair.tcpB.listen(5001);
  const clients: TcpConnection[] = [];
  const servers: TcpConnection[] = [];
  for (let i = 0; i < n; i++) clients.push(pair.tcpA.connect(pair.b.ip.localIp, 5001));
  await pair.run(() => {
    for (let s = l.accept(); s !== null; s = l.accept()) servers.push(s);
    return servers.length === n;
  }, { maxMs: 60000 });
  const chunk = new Uint8Array(65536);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  const sent = new Array<number>(n).fill(0);
  const got = new Array<number>(n).fill(0);
  let bad = false;
  const t0 = pair.clock.now();
  const ok = await pair.run(() => {
    let done = 0;
    for (let k = 0; k < n; k++) {
      const server = servers[k];
      while (sent[k] < o.bytes) {
        const off = sent[k] % chunk.length;
        const w = server.write(chunk.subarray(off, Math.min(chunk.length, off + o.bytes - sent[k])));
        if (w <= 0) break;
        sent[k] += w;
      }
      // a reads clients[k]'s data (servers may be accepted in any order: check per connection)
      for (let d = clients[k].read(); d; d = clients[k].read()) {
        for (let i = 0; i < d.length; i += 4093) if (d[i] !== ((((got[k] + i) % 65536) * 31 + 7) & 0xff)) bad = true;
        got[k] += d.length;
      }
      if (got[k] >= o.bytes) done++;
    }
    return done === n;
  }, { maxMs: 3_600_000 });
  const ms = pair.clock.now() - t0;
  const st = pair.link!.impairStats;
  const k = pair.tcpB.counters;
  const loss = k.loss as unknown as Record<string, number>;
  const r: RetxResult = {
    bytes: o.bytes * n, lostData: st.rx.lost + st.rx.rateDropped + st.rx.overflow, lostAcks: st.tx.lost + st.tx.rateDropped + st.tx.overflow,
    retrans: k.retransmitsRack + k.retransmitsFast + k.retransmitsRto + k.retransmitsTlp,
    rack: k.retransmitsRack, fast: k.retransmitsFast, rto: k.retransmitsRto, tlp: k.retransmitsTlp,
    dupSegs: pair.tcpA.counters.dupDataSegments,
    spurious: loss.spuriousRetrans, recoveries: loss.recoveries,
    ms, ok: ok && !bad,
  };
  await pair.close();
  return r;
}

async function main(): Promise<void> {
  const a = process.argv.slice(2);
  const arg = (n: string, d: number): number => { const i = a.indexOf(n); return i >= 0 ? Number(a[i + 1]) : d; };
  const r = await retxRun({ bytes: arg('--bytes', 20_000_000), loss: arg('--loss', 0.02), delayMs: arg('--delay', 5),
    seed: arg('--seed', 1), rate: arg('--rate', 0), conns: arg('--conns', 1), jitterMs: arg('--jitter', 0) });
  const lost = r.lostData + r.lostAcks;
  console.log(JSON.stringify(r));
  console.log(`resent/lost(all) ${(r.retrans / lost).toFixed(3)}  resent/lost(data) ${(r.retrans / r.lostData).toFixed(3)}  dup/resent ${(r.dupSegs / r.retrans).toFixed(3)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
