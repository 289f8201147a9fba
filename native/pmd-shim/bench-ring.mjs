// Cost of one rx_burst + tx_burst round through koffi and the shim over a
// net_ring0 loopback (frames circulate: what is received is sent again).
// Usage: node native/pmd-shim/bench-ring.mjs [dist dir, default dist] [burst, default 32]
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const distDir = resolve(process.argv[2] ?? 'dist');
const burst = Number(process.argv[3] ?? 32);
const { Dpdk } = await import(pathToFileURL(`${distDir}/src/pmd/dpdk.js`).href);
const dpdk = Dpdk.init();
const pool = dpdk.createPool({ count: 4096 });
const port = dpdk.openPort('net_ring0', { pool });
const buf = new Uint32Array(burst);
pool.allocBulk(buf, burst);
for (let i = 0; i < burst; i++) pool.append(buf[i], 60);
port.txBurst(buf, burst);
function rounds(n) {
  let pkts = 0;
  for (let i = 0; i < n; i++) {
    const got = port.rxBurst(buf, burst);
    pkts += got;
    port.txBurst(buf, got);
  }
  return pkts;
}
rounds(200000); // warm up the JIT
const N = 2000000;
const t0 = process.hrtime.bigint();
const pkts = rounds(N);
const ns = Number(process.hrtime.bigint() - t0);
console.log(`burst ${burst}: ${(ns / N).toFixed(1)} ns per rx+tx round, ${(ns / pkts).toFixed(2)} ns per packet, ${(pkts / ns * 1e3).toFixed(1)} Mpps`);
port.close();
console.log(`pool in use after close: ${pool.inUse()}`);
dpdk.close();
