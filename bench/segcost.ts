/**
 * What one TCP data segment costs, over a fixed number of segments rather
 * than a fixed time, so that an instruction counter (callgrind, perf stat)
 * sees the same work on every run: one zero-copy bulk connection (64 KB
 * `allocTxMbuf`+`writeMbuf` messages, `readMbuf`+free on the receiver)
 * between two stacks in this process, over the crossed `net_ring` pair or
 * the TypeScript memory link, with `conns` connections sharing the window.
 *
 * Figures per data segment (sender's data frames crossing the link): CPU ns,
 * JS heap bytes allocated (bench/heap-meter.ts: collections included), koffi
 * calls (with TZSTACK_COUNT_CALLS=1), and frames.
 *
 * With `split`, each poll of the sending stack (with the application's
 * writes) and of the receiving stack is timed apart, and the CPU time is
 * divided between the two sides in those proportions: the send side's and
 * the receive side's cost per data segment (ACKs included on each side).
 *
 * `node dist/bench/segcost.js [--segments N] [--warmup N] [--conns N] [--size B]
 *   [--link mem|net_ring] [--gro on|off] [--snd-buf B] [--mem MB] [--ring SLOTS] [--split] [--layout mss|packed|copy] [--writer event|poll] [--sim-clock NS] [--json]`
 * (`--sim-clock NS`: both stacks on a simulated clock moving NS per data
 * segment, see {@link SegCostOptions.simClockNsPerSegment}.)
 * `bench/callgrind.sh` runs it under callgrind with instrumentation
 * switched on for the measured window only (TZSTACK_CALLGRIND=1).
 */
import { callgrindInstrument } from './callgrind-window.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { allocTxMbuf } from '../src/tcp/zc.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { VirtualClock } from '../src/util/clock.js';
import { ReusedList } from '../src/util/reused-list.js';
import { HeapMeter } from './heap-meter.js';
import { createStackPair, type LinkKind, type StackPair } from './link.js';

/** What {@link segmentCost} measured. */
export interface SegCostResult {
  link: LinkKind;
  conns: number;
  size: number;
  /** Data frames the sender transmitted in the measured window. */
  segments: number;
  /** Frames both ports transmitted in the window (data and ACKs). */
  frames: number;
  cpuNsPerSegment: number;
  wallNsPerSegment: number;
  /** JS heap bytes allocated per segment, collections included (bench/heap-meter.ts). */
  bytesPerSegment: number;
  /** koffi calls per segment (null unless TZSTACK_COUNT_CALLS was set). */
  koffiCallsPerSegment: number | null;
  koffiCalls: Record<string, number> | null;
  bytesCopied: number;
  /** Retransmissions by the sender during the window (0 on a clean link). */
  retransmits: number;
  /** The retransmissions by cause: RTO, fast, TLP, RACK. */
  retransmitsBy: { rto: number; fast: number; tlp: number; rack: number };
  /** Frames the stacks' transmit batches dropped because they were full (should stay 0). */
  txOverflowDrops: number;
  /** Times TCP held new data back for want of transmit room. */
  txQueueFull: number;
  /** Connections timed out during the window. */
  rtoEvents: number;
  /** Frames both ports took and then dropped during the window (ring full under the old contract). */
  txDropped: number;
  /** Offers both ports handed back (device queue full) during the window; each retry counts again. */
  txRefused: number;
  /** Frames both stacks kept in their transmit batch for a later poll (refused by the port) during the window. */
  txDeferred: number;
  mbufsLeft: number;
  /** Frames from the receiver (ACKs) per data segment. */
  acksPerSegment: number;
  /** Whether both stacks coalesced received segments (GRO). */
  gro: boolean;
  /** Send buffer per connection (bytes). */
  sndBuf: number | null;
  /** With `split`: CPU ns per data segment of the sending side (its polls and the writes). */
  senderNsPerSegment: number | null;
  /** With `split`: CPU ns per data segment of the receiving side. */
  receiverNsPerSegment: number | null;
}

/** Options of {@link segmentCost}. */
export interface SegCostOptions {
  segments: number;
  warmupSegments: number;
  conns: number;
  size: number;
  link: LinkKind;
  /** Reuse this pair (it is not closed); otherwise one is made and closed. */
  pair?: StackPair;
  /** GRO on both stacks (default on, as Stack). */
  gro?: boolean;
  /** Send buffer per connection (default the stack's). */
  sndBuf?: number;
  /** Pool size (default max(32767, conns * 512)). */
  mbufs?: number;
  /** DPDK memory in MB when this call brings EAL up (default 512). */
  memMb?: number;
  /** Slots per ring of the in-process link (createStackPair's ringSize). */
  ringSize?: number;
  /** Time the two sides apart (see the file comment). */
  split?: boolean;
  /**
   * How the writer lays out its messages: `mss` (default) one MSS of payload
   * per mbuf after full headroom (`allocTxMbufFor`: each segment leaves as
   * one mbuf), `packed` every buffer filled (a header mbuf and one or two
   * slices per segment), `copy` the copying `write()` of a reused
   * buffer (bytesCopied is then the payload, by design).
   */
  layout?: 'mss' | 'packed' | 'copy';
  /**
   * How the writer finds room: `event` (default) writes until refused and
   * resumes on onWritable; `poll` tops every connection up after every poll.
   */
  writer?: 'event' | 'poll';
  /** Called right before and after the measured window (alloc-sites profiles only the window). */
  window?: { open(): void; close(): void };
  /**
   * Run both stacks on a simulated clock that moves this many ns per data
   * segment sent (and 1 µs per poll besides) instead of the wall clock.
   * Under callgrind the program runs ~50x slower than natively, so on the
   * wall clock retransmission and loss-probe timers fire inside the window
   * that never fire at native speed (at 4,096 connections the queueing in
   * the ring alone is ~170 ms natively): the instruction count then depends
   * on how slow valgrind happened to be. On this clock it does not.
   */
  simClockNsPerSegment?: number;
}

let portSeq = 0;

/** Run the measurement; see the file comment. */
export async function segmentCost(o: SegCostOptions): Promise<SegCostResult> {
  const own = o.pair === undefined;
  const sim = o.simClockNsPerSegment !== undefined && o.pair === undefined ? new VirtualClock(1000) : null;
  const pair = o.pair ?? await createStackPair({
    kind: o.link, mbufs: o.mbufs ?? Math.max(32767, o.conns * 512), gro: o.gro, memMb: o.memMb, ringSize: o.ringSize,
    tcp: o.sndBuf !== undefined ? { sndBuf: o.sndBuf } : undefined, clock: sim ?? undefined,
  });
  const { a, b, pool } = pair;
  const port = 7300 + (portSeq++ % 100);
  const listener = b.tcp.listen(port, { backlog: o.conns + 16 });
  const rxConns: TcpConnection[] = [];
  listener.onConnection = (c) => {
    rxConns.push(c);
    c.onReadable = () => { for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) pool.free(m); };
  };
  const txs: TcpConnection[] = [];
  const payload = new Uint8Array(o.size).fill(0x33);
  const layoutMss = (tx: TcpConnection): number => (o.layout === 'packed' ? 0 : tx.mss);
  // The polling writer tops every connection up after every poll while it
  // has room for a whole message: at 4,096 connections that scan cost more
  // instructions per segment than the stacks. The event writer is how an
  // application uses the API: write until a write is refused, then wait for
  // onWritable (the last message accepted may take the queue up to one
  // message past sndBuf, as a socket's send buffer allows).
  const fill = (tx: TcpConnection): void => {
    if (tx.state !== TcpState.Established) return;
    if (o.layout === 'copy') {
      while (tx.sendSpace() >= o.size) if (tx.write(payload) < o.size) break;
      return;
    }
    while (tx.sendSpace() >= o.size) {
      const m = allocTxMbuf(pool, o.size, layoutMss(tx));
      if (m === NO_MBUF) break;
      pool.u8[pool.mtod(m)] = 0x33;
      if (!tx.writeMbuf(m)) { pool.free(m); break; }
    }
  };
  // Connections the event writer must serve: onWritable fired, or the pool
  // had no mbuf for the next message (retried after the next poll).
  // ReusedLists: emptying an array by length = 0 gives its store up, and the
  // next onWritable's push (inside the poll) allocated a new one, 152 bytes.
  let ready = new ReusedList<TcpConnection | null>(null);
  let spare = new ReusedList<TcpConnection | null>(null);
  const fillUntilRefused = (tx: TcpConnection): void => {
    if (tx.state !== TcpState.Established) return;
    if (o.layout === 'copy') {
      while (tx.write(payload) === o.size) { /* a short write arms onWritable */ }
      return;
    }
    for (;;) {
      // With the buffer full, the write to be refused is one byte: no message is built only to be freed.
      const m = allocTxMbuf(pool, tx.sendSpace() > 0 ? o.size : 1, layoutMss(tx));
      if (m === NO_MBUF) { ready.push(tx); return; }
      pool.u8[pool.mtod(m)] = 0x33;
      if (!tx.writeMbuf(m)) { pool.free(m); return; } // refused: onWritable follows
    }
  };
  const event = o.writer !== 'poll';
  const serve = (): void => {
    if (!event) { for (let i = 0; i < txs.length; i++) fill(txs[i]); return; }
    if (ready.length === 0) return;
    const list = ready;
    ready = spare; // what fillUntilRefused queues again waits for the next poll
    for (let i = 0; i < list.length; i++) fillUntilRefused(list.at(i)!);
    list.clear();
    spare = list;
  };
  // Segments a's TCP sent: all data (b only acknowledges), no koffi call to read.
  const sent = (): number => a.tcp.counters.tx;
  const msPerSegment = (o.simClockNsPerSegment ?? 0) / 1e6;
  let sentAtTick = 0;
  // The simulated clock's step after each poll of both stacks (see simClockNsPerSegment).
  const tick = (): void => {
    if (sim === null) return;
    const now = sent();
    sim.advance(0.001 + (now - sentAtTick) * msPerSegment);
    sentAtTick = now;
  };
  let sendMs = 0;
  let recvMs = 0;
  const run = (n: number, split = false): void => {
    const until = sent() + n;
    for (let guard = 0; sent() < until; guard++) {
      if (guard > 100 * n + 1e5) throw new Error(`segcost: no progress (${sent()} of ${until} segments)`);
      if (split) {
        const t0 = performance.now();
        a.poll();
        serve();
        const t1 = performance.now();
        b.poll();
        sendMs += t1 - t0;
        recvMs += performance.now() - t1;
      } else {
        pair.poll();
        serve();
      }
      tick();
    }
  };
  // Connect in groups smaller than a ring, each handshaken before the next:
  // a storm of SYNs larger than the link's ring loses some, and their
  // retransmission waits a whole initial RTO.
  const opening = (from: number): boolean => {
    for (let j = from; j < txs.length; j++) if (txs[j].state !== TcpState.Established) return true;
    return false;
  };
  while (txs.length < o.conns) {
    const group = txs.length;
    while (txs.length < Math.min(o.conns, group + 128)) txs.push(a.tcp.connect(b.localIp, port));
    for (let k = 0; k < 20000 && opening(group); k++) { pair.poll(); tick(); }
  }
  // Stragglers of any group, then warm-up (the JIT settles; windows open).
  for (let k = 0; k < 20000 && opening(0); k++) { pair.poll(); tick(); }
  if (opening(0)) throw new Error('segcost: connections not established');
  if (event) for (const tx of txs) tx.onWritable = () => { ready.push(tx); };
  if (event) for (const tx of txs) ready.push(tx);
  run(o.warmupSegments);

  const tcpc = a.tcp.counters;
  const rtxCount = (): number => tcpc.retransmitsRto + tcpc.retransmitsFast + tcpc.retransmitsTlp + tcpc.retransmitsRack;
  const rtx0 = rtxCount();
  const by = (): number[] => [tcpc.retransmitsRto, tcpc.retransmitsFast, tcpc.retransmitsTlp, tcpc.retransmitsRack,
    a.txQueue.overflowDrops + b.txQueue.overflowDrops, Number(tcpc.txQueueFull ?? 0)];
  const by0 = by();
  const rto0 = tcpc.timeouts;
  const copied0 = a.tcp.counters.bytesCopied + b.tcp.counters.bytesCopied;
  const frames0 = a.port.stats.txPackets + b.port.stats.txPackets;
  const txStats = (): [number, number, number] => {
    const sa = a.port.stats; const sb = b.port.stats;
    return [sa.txDropped + sb.txDropped, sa.txRefused + sb.txRefused, a.txQueue.deferred + b.txQueue.deferred];
  };
  const tx0 = txStats();
  const acks0 = b.port.stats.txPackets;
  const seg0 = sent();
  const calls0 = await koffiCalls();
  const heap = new HeapMeter();
  // Under bench/callgrind.sh: count instructions of the measured window only.
  callgrindInstrument(true);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  o.window?.open();
  heap.start();
  run(o.segments, o.split === true);
  const allocated = heap.stop();
  o.window?.close();
  callgrindInstrument(false);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const calls1 = await koffiCalls();
  const segments = sent() - seg0;
  const tx1 = txStats();
  const by1 = by().map((v, i) => v - by0[i]);
  const frames = a.port.stats.txPackets + b.port.stats.txPackets - frames0;
  let calls: Record<string, number> | null = null;
  let callTotal = 0;
  if (calls0 && calls1) {
    calls = {};
    for (const k of Object.keys(calls1)) {
      const d = calls1[k] - (calls0[k] ?? 0);
      if (d > 0) { calls[k] = d; callTotal += d; }
    }
  }
  const res: SegCostResult = {
    link: pair.kind, conns: o.conns, size: o.size, segments, frames,
    cpuNsPerSegment: ((cpu.user + cpu.system) * 1000) / segments,
    wallNsPerSegment: (wall * 1e6) / segments,
    bytesPerSegment: allocated.bytes / segments,
    koffiCallsPerSegment: calls ? callTotal / segments : null,
    koffiCalls: calls,
    bytesCopied: a.tcp.counters.bytesCopied + b.tcp.counters.bytesCopied - copied0,
    retransmits: rtxCount() - rtx0,
    retransmitsBy: { rto: by1[0], fast: by1[1], tlp: by1[2], rack: by1[3] },
    txOverflowDrops: by1[4],
    txQueueFull: by1[5],
    rtoEvents: tcpc.timeouts - rto0,
    txDropped: tx1[0] - tx0[0],
    txRefused: tx1[1] - tx0[1],
    txDeferred: tx1[2] - tx0[2],
    mbufsLeft: -1,
    acksPerSegment: segments > 0 ? (b.port.stats.txPackets - acks0) / segments : NaN,
    gro: o.gro ?? true,
    sndBuf: o.sndBuf ?? null,
    senderNsPerSegment: null,
    receiverNsPerSegment: null,
  };
  if (o.split && sendMs + recvMs > 0) {
    res.senderNsPerSegment = (res.cpuNsPerSegment * sendMs) / (sendMs + recvMs);
    res.receiverNsPerSegment = (res.cpuNsPerSegment * recvMs) / (sendMs + recvMs);
  }
  for (const tx of txs) { tx.onWritable = undefined; tx.abort(); }
  for (const rx of rxConns) { rx.onReadable = undefined; rx.abort(); }
  listener.close();
  for (let i = 0; i < 16; i++) { pair.poll(); tick(); }
  if (own) res.mbufsLeft = await pair.close();
  return res;
}

/** koffi calls so far by function (null unless TZSTACK_COUNT_CALLS was set when the shim loaded). */
export async function koffiCalls(): Promise<Record<string, number> | null> {
  if (!process.env.TZSTACK_COUNT_CALLS) return null;
  const { shimCalls } = await import('../src/pmd/dpdk-shim.js');
  return { ...shimCalls };
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const r = await segmentCost({
    segments: Number(arg('segments', '100000')),
    warmupSegments: Number(arg('warmup', '20000')),
    conns: Number(arg('conns', '1')),
    size: Number(arg('size', '65536')),
    link: arg('link', 'net_ring') as LinkKind,
    gro: arg('gro', 'on') !== 'off',
    sndBuf: argv.includes('--snd-buf') ? Number(arg('snd-buf', '0')) : undefined,
    writer: arg('writer', 'event') === 'poll' ? 'poll' : 'event',
    mbufs: argv.includes('--mbufs') ? Number(arg('mbufs', '0')) : undefined,
    memMb: argv.includes('--mem') ? Number(arg('mem', '512')) : undefined,
    ringSize: argv.includes('--ring') ? Number(arg('ring', '4096')) : undefined,
    split: argv.includes('--split'),
    layout: ((l) => (l === 'packed' || l === 'copy' ? l : 'mss'))(arg('layout', 'mss')),
    simClockNsPerSegment: argv.includes('--sim-clock') ? Number(arg('sim-clock', '500')) : undefined,
  });
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    process.stdout.write(`${r.link} conns=${r.conns} segments=${r.segments} frames=${r.frames} ` +
      `cpu_ns/seg=${r.cpuNsPerSegment.toFixed(0)} wall_ns/seg=${r.wallNsPerSegment.toFixed(0)} ` +
      `bytes/seg=${r.bytesPerSegment.toFixed(1)} ` +
      `koffi/seg=${r.koffiCallsPerSegment === null ? '-' : r.koffiCallsPerSegment.toFixed(3)} ` +
      `copied=${r.bytesCopied} rtx=${r.retransmits} rto=${r.rtoEvents} tx_dropped=${r.txDropped} tx_refused=${r.txRefused} tx_deferred=${r.txDeferred} tx_overflow=${r.txOverflowDrops} tcp_tx_full=${r.txQueueFull} ` +
      `rtx_by=${JSON.stringify(r.retransmitsBy)} left=${r.mbufsLeft} acks/seg=${r.acksPerSegment.toFixed(3)}` +
      (r.senderNsPerSegment === null ? '' : ` send_ns/seg=${r.senderNsPerSegment.toFixed(0)} recv_ns/seg=${r.receiverNsPerSegment!.toFixed(0)}`) + '\n');
    if (r.koffiCalls) process.stdout.write(`${JSON.stringify(r.koffiCalls)}\n`);
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`segcost: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
