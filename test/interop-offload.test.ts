/**
 * Offloads against Linux over DPDK `net_tap` moved into a namespace: a curl
 * in the namespace downloads from tzstack's zero-copy /bytes service while
 * tzstack hands the port TSO segments of up to 64 KB (net_tap cuts them in
 * software and fills the checksums). Checks: the body is byte-exact (sha256
 * of the documented pattern), TSO carried the data, Linux saw no checksum
 * error, the stack copied no payload byte, and every mbuf is back after close.
 *
 * The size defaults to 20 MB; `TZ_OFFLOAD_BYTES=209715200` runs the full
 * 200 MB check and prints the counters.
 */
import { expect } from 'chai';
import { patternSha256 } from '../src/app/pattern.js';
import { startZeroCopyBytes, type ZeroCopyBytesHandle } from '../src/app/zc-bytes.js';
import { TX_OFFLOAD_TCP_TSO } from '../src/mbuf/layout.js';
import { Dpdk, type DpdkMempool, type DpdkPort } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import { createTapNs, interopSuite, tapName, type TapNet } from './helpers/netns.js';

const PREFIX = 'tzO';
const SUBNET = '10.77.2';
const BYTES = Number(process.env.TZ_OFFLOAD_BYTES ?? 20 * 1024 * 1024);

function csumErrors(net: TapNet): number {
  const out = net.run(['nstat', '-asz', 'TcpInCsumErrors']).stdout;
  const m = /TcpInCsumErrors\s+(\d+)/.exec(out);
  return m ? Number(m[1]) : 0;
}

interopSuite('interop: TSO and zero copy over net_tap against Linux', PREFIX, {
  timeoutMs: 300000,
  // The suite needs a bigger EAL than the default, so it starts DPDK itself.
  initDpdk: false,
  needs: [{ cmd: ['curl', '--version'], missing: 'curl is not installed' }],
}, () => {
  let dpdk: Dpdk;
  let pool: DpdkMempool;
  let port: DpdkPort | undefined;
  let net: TapNet | undefined;
  let stack: Stack | undefined;
  let svc: ZeroCopyBytesHandle | undefined;

  before(function () {
    dpdk = Dpdk.init({ memMb: 512 });
    pool = dpdk.createPool({ count: 16383, name: `tzO-${process.pid}` });
  });

  afterEach(async () => {
    svc?.close();
    svc = undefined;
    if (stack) await stack.close();
    stack = undefined;
    port = undefined;
    net?.close();
    net = undefined;
  });

  after(() => {
    // Unset when the suite was skipped before DPDK came up.
    if (pool !== undefined) dpdk.destroyPool(pool);
  });

  it(`downloads ${BYTES} bytes byte-exact while tzstack sends 64 KB TSO segments, copying nothing`, async () => {
    const start = pool.inUse();
    const tap = tapName(PREFIX);
    port = dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
    expect(port.caps.txOffloads & TX_OFFLOAD_TCP_TSO, 'net_tap offers TSO here').to.not.equal(0);
    net = createTapNs(PREFIX, SUBNET, tap);
    stack = new Stack({ port, ip: `${net.nearIp}/24` });
    svc = startZeroCopyBytes(stack, 80);
    stack.start();
    const errs0 = csumErrors(net);
    const t0 = performance.now();
    const r = await net.runAsync(`curl -sS --max-time 240 http://${net.nearIp}/bytes/${BYTES} | sha256sum`, 260000);
    const secs = (performance.now() - t0) / 1000;
    expect(r.stderr.trim()).to.equal('');
    expect(r.stdout.split(' ')[0]).to.equal(patternSha256(BYTES));
    const k = stack.tcp.counters;
    const report = {
      bytes: BYTES, seconds: +secs.toFixed(2), gbps: +(BYTES * 8 / secs / 1e9).toFixed(2),
      tsoSegments: k.tsoSegments, tsoBytes: k.tsoBytes, avgTsoBytes: Math.round(k.tsoBytes / Math.max(1, k.tsoSegments)),
      tx: k.tx, txBytes: k.txBytes, bytesCopied: k.bytesCopied, txBridgeBytes: k.txBridgeBytes ?? 0,
      groMerged: k.groMerged, retransmits: k.loss, txNoMbuf: k.txNoMbuf, linuxCsumErrors: csumErrors(net) - errs0,
      port: { ...port.stats },
    };
    if (process.env.TZ_OFFLOAD_BYTES) console.log(JSON.stringify(report, null, 2));
    expect(k.tsoSegments).to.be.greaterThan(0);
    expect(k.tsoBytes).to.be.greaterThan(BYTES * 0.9); // nearly everything went out as TSO
    expect(report.avgTsoBytes).to.be.greaterThan(8 * 1448);
    expect(k.bytesCopied, 'zero-copy path copies no payload').to.equal(0);
    expect(report.linuxCsumErrors).to.equal(0);
    expect(port.stats.txDropped).to.equal(0);
    svc.close();
    svc = undefined;
    await stack.close();
    stack = undefined;
    expect(pool.inUse()).to.equal(start);
  });
});
