/**
 * `tzstack/testing`: what tzstack's own simulation tests are built from, as a
 * public API, so applications can write deterministic property tests of
 * their protocols over tzstack.
 *
 * - {@link VirtualClock}: time that moves only when told to;
 * - {@link createLinkPair}: two ports joined in memory (zero copy);
 * - {@link ImpairedPort}: a seeded lossy / duplicating / reordering / delaying link;
 * - {@link createStackPair}: two complete stacks (Ethernet, ARP, IPv4, TCP)
 *   over an impaired in-memory link, driven by one virtual clock, with
 *   Node-style sockets on top.
 *
 * @example
 * ```ts
 * import { createStackPair } from 'tzstack/testing';
 * import fc from 'fast-check';
 *
 * await fc.assert(fc.asyncProperty(fc.integer(), fc.uint8Array({ maxLength: 100_000 }), async (seed, data) => {
 *   const pair = createStackPair({ seed, impair: { loss: 0.05, reorder: 0.02, dup: 0.01 } });
 *   const server = pair.createServer((s) => s.pipe(s)).listen(7);
 *   const client = pair.connect(7);
 *   const got: Buffer[] = [];
 *   client.on('data', (d) => got.push(d));
 *   client.end(data);
 *   let ended = false;
 *   client.on('end', () => { ended = true; });
 *   const ok = await pair.run(() => ended, { maxMs: 120_000 });
 *   server.close();
 *   await pair.close();
 *   return ok && Buffer.concat(got).equals(data) && pair.pool.inUse() === 0;
 * }));
 * ```
 */
import { parseIpv4 } from './ip/addr.js';
import { TsMempool } from './mbuf/ts-mempool.js';
import { ImpairedPort, type ImpairDirection } from './pmd/impaired.js';
import { createLinkPair } from './pmd/memory-link.js';
import type { Port } from './pmd/port.js';
import { Stack } from './stack.js';
import type { TcpConfig } from './tcp/config.js';
import type { TcpLayer } from './tcp/layer.js';
import { connect, createServer, type TzConnectOptions, type TzServer, type TzServerOptions } from './tcp/server.js';
import type { TzSocket } from './tcp/socket.js';
import { VirtualClock } from './util/clock.js';

export { VirtualClock } from './util/clock.js';
export { Prng } from './util/prng.js';
export { createLinkPair, type LinkPairOptions } from './pmd/memory-link.js';
export { ImpairedPort, parseImpairSpec, type ImpairDirection, type ImpairOptions, type ImpairStats } from './pmd/impaired.js';
export { TsMempool } from './mbuf/ts-mempool.js';
export { TzSocket } from './tcp/socket.js';
export { TzServer, connect, createServer } from './tcp/server.js';

/** Options of {@link createStackPair}. */
export interface StackPairOptions {
  /** Seeds the impairments and the TCP ISN secrets: the same seed replays the same run (default 1). */
  seed?: number;
  /** Impairments applied to both directions (independently drawn). */
  impair?: ImpairDirection;
  /** Impairments of packets from a to b (replaces `impair` for that direction). */
  impairAtoB?: ImpairDirection;
  /** Impairments of packets from b to a (replaces `impair` for that direction). */
  impairBtoA?: ImpairDirection;
  /** IP MTU of the link (default 1500). */
  mtu?: number;
  /** TCP configuration of both stacks (e.g. a short `timeWaitMs`). */
  tcp?: Partial<TcpConfig>;
  /** Mbufs in the shared pool (default 16384). */
  poolSize?: number;
  /** Addresses (default 10.0.0.1/24 and 10.0.0.2/24). */
  ipA?: string;
  ipB?: string;
  /**
   * Whether the link promises intact frames, so checksums are skipped
   * (default false: checksums are computed and verified, as on a wire).
   */
  checksumUnneeded?: boolean;
  /** Virtual time at the start, in ms (default 1000). */
  startMs?: number;
}

/** Options of {@link StackPair.run}. */
export interface RunOptions {
  /** Give up after this much virtual time (default 60 000 ms). */
  maxMs?: number;
  /** Clock step while packets are held in the impaired link (default 1 ms). */
  stepMs?: number;
  /** Largest clock jump while the link is empty and no TCP timer is due sooner (default 50 ms). */
  idleStepMs?: number;
}

/** Two stacks on one in-memory link, see {@link createStackPair}. */
export interface StackPair {
  readonly a: Stack;
  readonly b: Stack;
  /** The clock both stacks and the link run on. */
  readonly clock: VirtualClock;
  /** The one pool both stacks share (check `pool.inUse()` after `close()`). */
  readonly pool: TsMempool;
  /** The impairment decorator on a's port (a's tx is a→b, its rx b→a), when impairments were asked for. */
  readonly link?: ImpairedPort;
  /** The TCP layers of a and b. */
  readonly tcpA: TcpLayer;
  readonly tcpB: TcpLayer;
  /** `net.createServer` on stack b. */
  createServer(listener?: (s: TzSocket) => void, opts?: TzServerOptions): TzServer;
  /** `net.connect` from stack a to `port` on b. */
  connect(port: number, opts?: Partial<TzConnectOptions>): TzSocket;
  /**
   * Drive both stacks: poll until quiet, let Node deliver stream events,
   * check `until`, advance the virtual clock, repeat.
   * @returns true when `until()` became true, false when `maxMs` of virtual time passed first
   */
  run(until: () => boolean, opts?: RunOptions): Promise<boolean>;
  /** Run until both TCP layers hold no connection (TIME_WAIT included) and no timer. */
  drain(opts?: RunOptions): Promise<boolean>;
  /** Close both stacks (every connection aborted, every mbuf returned to the pool). */
  close(): Promise<void>;
}

/**
 * Two complete tzstacks (a = 10.0.0.1, b = 10.0.0.2 by default) over an
 * in-memory link with seeded impairments, on one {@link VirtualClock}. Nothing
 * uses real timers: {@link StackPair.run} moves time, so a run with the same
 * seed and the same application behaviour replays exactly.
 */
export function createStackPair(opts: StackPairOptions = {}): StackPair {
  const seed = (opts.seed ?? 1) >>> 0;
  const clock = new VirtualClock(opts.startMs ?? 1000);
  const pool = new TsMempool({ count: opts.poolSize ?? 16384, name: `pair-${seed}` });
  const [pa, pb] = createLinkPair(pool, { mtu: opts.mtu ?? 1500, checksumUnneeded: opts.checksumUnneeded ?? false });
  const toB = opts.impairAtoB ?? opts.impair;
  const toA = opts.impairBtoA ?? opts.impair;
  let link: ImpairedPort | undefined;
  let portA: Port = pa;
  if (toB || toA) portA = link = new ImpairedPort(pa, { seed, clock, tx: toB ?? {}, rx: toA ?? {} });
  const ipA = opts.ipA ?? '10.0.0.1/24';
  const ipB = opts.ipB ?? '10.0.0.2/24';
  const secret = (k: number): Uint8Array => {
    const s = new Uint8Array(16);
    for (let i = 0; i < 16; i++) s[i] = (seed >>> ((i & 3) * 8)) ^ (k * 31 + i);
    return s;
  };
  const mk = (port: Port, ip: string, k: number): { stack: Stack; tcp: TcpLayer } => {
    const cfg: Partial<TcpConfig> = { isnSecret: secret(k), ...opts.tcp };
    const stack = new Stack({ port, ip, clock, idleBackoff: false, tcp: cfg, ipv4: { idSecret: secret(k + 2) } });
    return { stack, tcp: stack.tcp };
  };
  const A = mk(portA, ipA, 1);
  const B = mk(pb, ipB, 2);
  const ipOfB = ipB.split('/')[0];
  parseIpv4(ipOfB);

  const pollQuiet = (): number => {
    let total = 0;
    for (let i = 0; ; i++) {
      const w = A.stack.poll() + B.stack.poll();
      total += w;
      if (w === 0) return total;
      // Packets bouncing forever at one instant of virtual time: a livelock (e.g. an ACK war).
      if (i >= 100_000) throw new Error(`stacks never go quiet at t=${clock.now()} ms: livelock (seed ${seed})`);
    }
  };
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  const run = async (until: () => boolean, ro: RunOptions = {}): Promise<boolean> => {
    const maxMs = ro.maxMs ?? 60_000;
    const stepMs = ro.stepMs ?? 1;
    const idleStepMs = ro.idleStepMs ?? 50;
    const end = clock.now() + maxMs;
    for (;;) {
      // Poll and let stream callbacks run until neither side has anything to do at this instant.
      for (let i = 0; i < 1000; i++) {
        const w = pollQuiet();
        await turn();
        if (w === 0 && pollQuiet() === 0) break;
      }
      if (until()) return true;
      const now = clock.now();
      if (now >= end) return false;
      let next = now + (link && link.pending() > 0 ? stepMs : idleStepMs);
      const due = Math.min(A.tcp.nextDeadline(), B.tcp.nextDeadline());
      if (due > now && due < next) next = due;
      clock.set(Math.min(Math.max(next, now + 0.001), end));
    }
  };

  return {
    a: A.stack,
    b: B.stack,
    clock,
    pool,
    link,
    tcpA: A.tcp,
    tcpB: B.tcp,
    createServer: (listener, so) => createServer(B.stack, so ?? {}, listener),
    connect: (port, co) => connect(A.stack, { host: ipOfB, ...co, port }),
    run,
    drain: (ro) => run(() => A.tcp.connectionCount() === 0 && B.tcp.connectionCount() === 0
      && A.tcp.nextDeadline() === Infinity && B.tcp.nextDeadline() === Infinity, ro),
    async close(): Promise<void> {
      await A.stack.close();
      await B.stack.close();
      pb.close();
    },
  };
}
