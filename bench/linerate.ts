/**
 * Line-rate mode: one process per host, one worker thread per queue of one
 * port. The main thread owns EAL, the pool and the port (it opens the port
 * with `queues` rx/tx queues and never polls it); each worker runs a whole
 * stack on its queue (see worker.ts). Server: sinks bulk data on port 5201
 * and echoes RPCs on 7007 until told to stop. Client: runs one workload
 * against the server and reports figures.
 *
 * The same path runs here over `net_memif` between two processes, with one
 * queue (the two-process bulk workload of the main bench and
 * test/bench-smoke.test.ts use it).
 */
import { Worker } from 'node:worker_threads';
import { parseMac } from '../src/eth/ethernet.js';
import { LatencyRecorder, progress, sleep, type Percentiles } from './measure.js';
import type { WorkerJob, WorkerReport } from './worker.js';

/** Options of a line-rate process. */
export interface PeerOptions {
  role: 'server' | 'client';
  /** DPDK devargs or PCI address (e.g. 0000:3b:00.0). */
  dev: string;
  /** Our address, a.b.c.d/len. */
  ip: string;
  /** The server's address (client). */
  peer?: string;
  /** The peer's MAC, aa:bb:cc:dd:ee:ff: static ARP in every worker (needed with several queues). */
  peerMac?: string;
  queues: number;
  workload: 'bulk' | 'rpc';
  api: 'zc' | 'copy';
  size: number;
  /** Connections per worker. */
  conns: number;
  warmupMs: number;
  durationMs: number;
  /** Server: stop after this long even without a signal. */
  maxSeconds: number;
  mbufs: number;
  /** EAL memory in MB (hugepage memory with `hugepages`). */
  memMb: number;
  /** Run EAL on hugepages (real NICs); default: on a PCI device yes, on a vdev no. */
  hugepages?: boolean;
  /** EAL cores (`Dpdk.init`'s lcores). */
  lcores?: string;
  /** Hugepage MB per NUMA socket, e.g. '4096,0'. */
  socketMem?: string;
  /** Called once every worker is ready (server: listening). */
  onReady?: () => void;
}

/** What a line-rate process reports. */
export interface PeerResult {
  role: 'server' | 'client';
  dev: string;
  queues: number;
  workload: string;
  api: string;
  size: number;
  conns: number;
  gbps: number;
  reqPerSec: number;
  latencyUs: Percentiles;
  seconds: number;
  bytes: number;
  connsEstablished: number;
  offloads: { tso: boolean; txChecksum: boolean; checksumUnneeded: boolean };
  /** RSS as enabled on the port (null: off, e.g. memif, or one queue). */
  rss: { hashFunctions: string[]; retaSize: number; retaKnown: boolean; key: string } | null;
  mbufsHeldAtExit: number;
  workers: Array<Omit<WorkerReport, 'samples'>>;
}

/** Run one line-rate process to completion. */
export async function runPeer(o: PeerOptions): Promise<PeerResult> {
  const { Dpdk, isPciAddress } = await import('../src/pmd/dpdk.js');
  const { TX_OFFLOAD_TCP_TSO, TX_OFFLOAD_TCP_CKSUM } = await import('../src/mbuf/layout.js');
  const pci = isPciAddress(o.dev);
  const hugepages = o.hugepages ?? pci;
  const dpdk = Dpdk.init({
    hugepages, memMb: o.socketMem ? undefined : o.memMb, socketMem: hugepages ? o.socketMem : undefined, lcores: o.lcores,
    // The whole --dev (address and any devargs after a comma) goes to EAL's allow-list.
    pci: pci ? [o.dev] : false,
  });
  const pool = dpdk.createPool({ count: o.mbufs, name: `tzX-lr-${process.pid}` });
  const workers: Worker[] = [];
  let port: import('../src/pmd/dpdk.js').DpdkPort | undefined;
  const stop = new SharedArrayBuffer(4);
  const stopFlag = new Int32Array(stop);
  const onSignal = (): void => { Atomics.store(stopFlag, 0, 1); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    port = dpdk.openPort(o.dev, {
      pool, rxQueues: o.queues, txQueues: o.queues,
      // Several queues: RSS with the symmetric key (the workers pick local ports by it).
      checksumUnneeded: /^net_memif/.test(o.dev),
    });
    // A memif server's link comes up when its client connects; a memif
    // client connects in EAL's interrupt thread; a NIC needs its link up.
    if (o.role === 'client' || pci) {
      for (let i = 0; i < 200 && !port.link().up; i++) await sleep(50);
      if (!port.link().up) progress(`${o.role}: link of ${o.dev} still down, starting anyway`);
    }
    const held0 = pool.inUse();
    const base: Omit<WorkerJob, 'queue'> = {
      role: o.role, queues: o.queues, portId: port.portId, dpdk: dpdk.attachHandle({ ports: [port] }), rss: port.rss,
      ip: o.ip, peer: o.peer, peerMac: o.peerMac ? Array.from(parseMac(o.peerMac)) : undefined,
      workload: o.workload, api: o.api, size: o.size, conns: o.conns,
      warmupMs: o.warmupMs, durationMs: o.durationMs, stop,
    };
    const reports: WorkerReport[] = [];
    let readyCount = 0;
    const done = Promise.all(Array.from({ length: o.queues }, (_, q) => new Promise<void>((res, rej) => {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...base, queue: q } });
      workers.push(w);
      w.on('message', (msg: { type: string; report?: WorkerReport; message?: string }) => {
        if (msg.type === 'ready' && ++readyCount === o.queues) o.onReady?.();
        else if (msg.type === 'result') { reports.push(msg.report!); res(); }
        else if (msg.type === 'error') rej(new Error(`worker ${q}: ${msg.message}`));
      });
      w.on('error', rej);
      w.on('exit', (code) => { if (code !== 0) rej(new Error(`worker ${q} exited with ${code}`)); else res(); });
    })));
    if (o.role === 'server') {
      const deadline = performance.now() + o.maxSeconds * 1000;
      while (!Atomics.load(stopFlag, 0) && performance.now() < deadline) await sleep(50);
      Atomics.store(stopFlag, 0, 1);
    } else {
      // Bounded: the workers stop by themselves after warm-up + duration.
      const t = setTimeout(onSignal, o.warmupMs + o.durationMs + 30000);
      await done.finally(() => clearTimeout(t));
    }
    await done;
    reports.sort((a, b) => a.queue - b.queue);
    const lat = new LatencyRecorder();
    for (const r of reports) if (r.samples) lat.recordAll(r.samples);
    const seconds = Math.max(...reports.map((r) => r.seconds), 1e-9);
    const bytes = reports.reduce((s, r) => s + r.bytes, 0);
    const requests = reports.reduce((s, r) => s + r.requests, 0);
    const txo = port.caps.txOffloads;
    const result: PeerResult = {
      role: o.role, dev: o.dev, queues: o.queues, workload: o.workload, api: o.api, size: o.size, conns: o.conns,
      gbps: (bytes * 8) / seconds / 1e9, reqPerSec: requests / seconds, latencyUs: lat.percentiles(), seconds, bytes,
      connsEstablished: reports.reduce((s, r) => s + r.connsEstablished, 0),
      offloads: { tso: (txo & TX_OFFLOAD_TCP_TSO) !== 0, txChecksum: (txo & TX_OFFLOAD_TCP_CKSUM) !== 0, checksumUnneeded: port.caps.checksumUnneeded },
      rss: port.rss && {
        hashFunctions: port.rss.hashFunctions, retaSize: port.rss.reta.length, retaKnown: port.rss.retaKnown,
        key: Buffer.from(port.rss.key).toString('hex'),
      },
      mbufsHeldAtExit: 0,
      workers: reports.map(({ samples: _s, ...r }) => r),
    };
    port.close();
    port = undefined;
    result.mbufsHeldAtExit = pool.inUse() - held0;
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    Atomics.store(stopFlag, 0, 1);
    await Promise.all(workers.map((w) => w.terminate()));
    port?.close();
    dpdk.close();
  }
}
