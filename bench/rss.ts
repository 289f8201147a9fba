/**
 * Receive-side scaling seen from software: the Toeplitz hash a NIC computes
 * over a TCP/IPv4 4-tuple, so a client worker can pick local ports whose
 * replies the NIC steers to the worker's own queue (the server side needs
 * nothing: a flow's packets all hash to the queue its SYN came in on).
 *
 * This only holds when the NIC uses the same key and the default
 * redirection table (entry i → queue i mod n), which the port set-up has to
 * program; see bench/README.md.
 */

/**
 * A symmetric key (0x6d5a repeated): hash(a→b) = hash(b→a), so both
 * directions of a flow land on the same queue number.
 */
export const SYMMETRIC_RSS_KEY = new Uint8Array(40).map((_, i) => (i % 2 === 0 ? 0x6d : 0x5a));

/** Toeplitz hash of `input` bytes under `key` (key must be ≥ input length + 4 bytes). */
export function toeplitz(key: Uint8Array, input: Uint8Array): number {
  let result = 0;
  // The 32-bit window of the key starting at the current input bit.
  let window = ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0;
  for (let i = 0; i < input.length; i++) {
    const next = key[i + 4] ?? 0;
    for (let bit = 7; bit >= 0; bit--) {
      if ((input[i] >> bit) & 1) result = (result ^ window) >>> 0;
      window = ((window << 1) | ((next >> bit) & 1)) >>> 0;
    }
  }
  return result >>> 0;
}

/** The hash of a received TCP/IPv4 packet from src:sport to dst:dport. */
export function rssHashTcp4(key: Uint8Array, src: number, dst: number, sport: number, dport: number): number {
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, src >>> 0);
  dv.setUint32(4, dst >>> 0);
  dv.setUint16(8, sport);
  dv.setUint16(10, dport);
  return toeplitz(key, b);
}

/**
 * A local port in [low, high] whose replies (remote → local) land on
 * `queue` of `queues`, skipping ports in `used`; -1 when none does.
 */
export function pickLocalPort(key: Uint8Array, local: number, remote: number, remotePort: number,
  queue: number, queues: number, used: Set<number>, low = 32768, high = 60999): number {
  for (let p = low; p <= high; p++) {
    if (used.has(p)) continue;
    if (rssHashTcp4(key, remote, local, remotePort, p) % queues === queue) { used.add(p); return p; }
  }
  return -1;
}
