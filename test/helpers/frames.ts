/**
 * Tiny frame builders and parsers for DPDK interop tests (the stack's own
 * Ethernet/ARP code is what these tests must not depend on).
 */
import type { Mempool } from '../../src/mbuf/mempool.js';
import type { Port } from '../../src/pmd/port.js';
import type { Mbuf } from '../../src/mbuf/index.js';

export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV4 = 0x0800;

/** '10.1.2.3' → [10, 1, 2, 3]. */
export function ipBytes(ip: string): number[] { return ip.split('.').map(Number); }

/** 'aa:bb:..' of 6 bytes. */
export function macString(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** An ARP frame (request op 1, reply op 2), 60 bytes with padding. */
export function arpFrame(op: 1 | 2, dstMac: Uint8Array, srcMac: Uint8Array, senderMac: Uint8Array, senderIp: string,
  targetMac: Uint8Array, targetIp: string): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  f[12] = 0x08; f[13] = 0x06;
  f.set([0, 1, 8, 0, 6, 4, 0, op], 14);
  f.set(senderMac, 22);
  f.set(ipBytes(senderIp), 28);
  f.set(targetMac, 32);
  f.set(ipBytes(targetIp), 38);
  return f;
}

/** Parsed fields of an ARP frame, or null for anything else. */
export function parseArp(f: Uint8Array): { op: number; senderMac: Uint8Array; senderIp: string; targetIp: string } | null {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06) return null;
  return {
    op: (f[20] << 8) | f[21],
    senderMac: f.slice(22, 28),
    senderIp: [...f.subarray(28, 32)].join('.'),
    targetIp: [...f.subarray(38, 42)].join('.'),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Receive from `port` until `match` accepts a frame or `timeoutMs` passes,
 * freeing every frame. Sleeps a millisecond between empty polls so the
 * event loop (child processes, timers) keeps running.
 */
export async function receiveUntil(port: Port, pool: Mempool, match: (f: Uint8Array) => boolean,
  timeoutMs: number): Promise<Uint8Array | null> {
  const buf = new Uint32Array(32);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const n = port.rxBurst(buf, buf.length);
    let found: Uint8Array | null = null;
    for (let i = 0; i < n; i++) {
      const f = pool.toBytes(buf[i] as Mbuf);
      if (!found && match(f)) found = f;
    }
    pool.freeBulk(buf, n);
    if (found) return found;
    if (n === 0) await sleep(1);
  }
  return null;
}

/** Transmit one copy of `bytes`; true when the device took it. */
export function sendBytes(port: Port, pool: Mempool, bytes: Uint8Array): boolean {
  const m = pool.fromBytes(bytes);
  if (m < 0) return false;
  if (port.txBurst(Uint32Array.of(m), 1) === 1) return true;
  pool.free(m); // refused: it stayed ours
  return false;
}
