/**
 * RPC ping-pong: each connection has one request of `size` bytes in flight;
 * the server echoes it, the client sends the next as soon as the whole echo
 * is back. Throughput in requests/s and latency percentiles per request.
 *
 * tzstack: client and server stacks in one process over the in-process link,
 * driven by one polling loop, using the connection API directly (zero-copy
 * echo on the server: the received mbufs are sent back as they are).
 * Peer: Node's `net` over kernel loopback, client and server in one process.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { TcpState } from '../src/tcp/state.js';
import { LatencyRecorder, nowNs, type Percentiles } from './measure.js';
import type { StackPair } from './link.js';

/** What one RPC run measured. */
export interface RpcResult {
  reqPerSec: number;
  latencyUs: Percentiles;
  requests: number;
  seconds: number;
  /** Requests that never completed (0 in a healthy run). */
  stalled: number;
}

/** Parameters of an RPC run. */
export interface RpcParams { size: number; conns: number; warmupMs: number; durationMs: number }

const RPC_PORT = 7007;

/** Per-connection client state, kept in typed arrays indexed by connection number. */
class ClientState {
  readonly got: Float64Array;
  readonly sentAt: Float64Array;
  constructor(n: number) { this.got = new Float64Array(n); this.sentAt = new Float64Array(n); }
}

/** tzstack RPC over an in-process stack pair. */
export async function tzRpc(pair: StackPair, p: RpcParams): Promise<RpcResult> {
  const { a, b, pool } = pair;
  const port = RPC_PORT + (rpcSeq++ % 100);
  const listener = b.tcp.listen(port, { backlog: Math.max(128, p.conns) });
  const servers: TcpConnection[] = [];
  listener.onConnection = (c) => {
    servers.push(c);
    // Zero-copy echo: what arrived goes back out as it is.
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        if (!c.writeMbuf(m)) { pool.free(m); echoFailures++; }
      }
    };
  };
  let echoFailures = 0;
  const msg = new Uint8Array(p.size).fill(0x5a);
  const lat = new LatencyRecorder();
  const st = new ClientState(p.conns);
  let completed = 0;
  let measuring = false;
  const clients: TcpConnection[] = [];
  for (let i = 0; i < p.conns; i++) {
    const c = a.tcp.connect(b.localIp, port, { noDelay: true });
    const idx = i;
    c.onConnect = () => { st.sentAt[idx] = nowNs(); c.write(msg); };
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
        st.got[idx] += pool.pktLen(m);
        pool.free(m);
      }
      while (st.got[idx] >= p.size) {
        st.got[idx] -= p.size;
        const t = nowNs();
        if (measuring) { lat.record(t - st.sentAt[idx]); completed++; }
        st.sentAt[idx] = t;
        c.write(msg);
      }
    };
    clients.push(c);
  }
  // Warm-up (includes the handshakes), then the measured stretch; both bounded in time.
  const warmEnd = performance.now() + p.warmupMs;
  while (performance.now() < warmEnd) for (let i = 0; i < 64; i++) pair.poll();
  measuring = true;
  const t0 = performance.now();
  const end = t0 + p.durationMs;
  while (performance.now() < end) for (let i = 0; i < 64; i++) pair.poll();
  const seconds = (performance.now() - t0) / 1000;
  measuring = false;
  const stalled = clients.filter((c) => c.state !== TcpState.Established).length;
  for (const c of clients) { c.onReadable = undefined; c.abort(); }
  for (const c of servers) { c.onReadable = undefined; c.abort(); }
  listener.close();
  for (let i = 0; i < 16; i++) pair.poll();
  return { reqPerSec: completed / seconds, latencyUs: lat.percentiles(), requests: completed, seconds, stalled: stalled + (echoFailures > 0 ? 1 : 0) };
}
let rpcSeq = 0;

/** Node `net` RPC over kernel loopback in this process. */
export async function nodeRpc(p: RpcParams): Promise<RpcResult> {
  const srv = await nodeEchoServer('127.0.0.1', 0);
  try {
    return await nodeRpcClient('127.0.0.1', srv.port, p);
  } finally {
    await srv.close();
  }
}

/** A Node `net` echo server (the RPC peer's server side) on `host`:`port` (0: any free port). */
export async function nodeEchoServer(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer({ noDelay: true }, (s) => {
    sockets.push(s);
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(port, host, () => res()); });
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The client side of Node `net` RPC against an echo server at `host`:`port`. */
export async function nodeRpcClient(host: string, port: number, p: RpcParams): Promise<RpcResult> {
  const msg = Buffer.alloc(p.size, 0x5a);
  const lat = new LatencyRecorder();
  let completed = 0;
  let measuring = false;
  let running = true;
  const clients: Socket[] = [];
  await Promise.all(Array.from({ length: p.conns }, () => new Promise<void>((res, rej) => {
    const c = connect({ port, host, noDelay: true }, () => res());
    c.once('error', rej);
    clients.push(c);
  })));
  for (const c of clients) {
    let got = 0;
    let sentAt = nowNs();
    c.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= p.size) {
        got -= p.size;
        const t = nowNs();
        if (measuring) { lat.record(t - sentAt); completed++; }
        sentAt = t;
        if (running) c.write(msg);
      }
    });
    c.on('error', () => {});
    c.write(msg);
  }
  await new Promise((r) => setTimeout(r, p.warmupMs));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, p.durationMs));
  const seconds = (performance.now() - t0) / 1000;
  measuring = false;
  running = false;
  for (const c of clients) c.destroy();
  return { reqPerSec: completed / seconds, latencyUs: lat.percentiles(), requests: completed, seconds, stalled: 0 };
}
