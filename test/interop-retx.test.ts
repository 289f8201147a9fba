/**
 * Retransmission efficiency against Linux: curl downloads
 * from `tzstack serve --impair loss=P` (both directions) over net_af_packet;
 * from the --stats JSON, segments tzstack retransmitted against frames the
 * impairment dropped. Ratios of counters, never times.
 *
 * TZ_RETX_BYTES (default 1 MB) and TZ_RETX_CONNS (parallel curls, default 20)
 * size it; TZ_RETX_LOSS sets the loss (default 0.02).
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTzstack, type Running } from './cli-helpers.js';
import { createVethNs, interopSuite, type VethNet } from './helpers/netns.js';
import { patternSha256 } from '../src/app/pattern.js';

const PREFIX = 'tzX';
const SIZE = Number(process.env.TZ_RETX_BYTES ?? 1_000_000);
const CONNS = Number(process.env.TZ_RETX_CONNS ?? 20);
const LOSS = Number(process.env.TZ_RETX_LOSS ?? 0.02);

interopSuite('interop: retransmissions per frame lost against Linux (--impair loss)', PREFIX,
  { initDpdk: false, timeoutMs: 900_000, needs: [{ cmd: ['curl', '--version'], missing: 'curl' }] }, () => {
    let net: VethNet | undefined;
    let proc: Running | undefined;
    let dir = '';
    afterEach(async () => {
      if (proc) { proc.kill(); await proc.exited(); proc = undefined; }
      net?.close();
      net = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    it(`curl fetches ${CONNS} × ${SIZE} bytes at ${LOSS * 100} % loss; resent segments ≤ 1.15 × frames lost`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'tzX-'));
      net = createVethNs(PREFIX, '10.79.13');
      const stats = join(dir, 'stats.json');
      proc = startTzstack(['serve', '--dev', net.devargs, '--ip', `${net.nearIp}/24`, '--services', 'http',
        '--impair', `loss=${LOSS},seed=5`, '--stats', stats, '--mem', '256']);
      await proc.waitFor(/ready/);
      const cmd = Array.from({ length: CONNS }, () =>
        `curl -sS --max-time 600 http://${net!.nearIp}/bytes/${SIZE} | sha256sum`).join(' & ') + ' & wait';
      const r = await net.runAsync(['sh', '-c', cmd], 700_000);
      expect(r.status, r.stderr).to.equal(0);
      const want = patternSha256(SIZE);
      const sums = r.stdout.trim().split('\n').map((l) => l.split(' ')[0]);
      expect(sums).to.deep.equal(new Array(CONNS).fill(want));
      proc.child.kill('SIGINT');
      expect(await proc.exited()).to.equal(0);
      for (const line of proc.stderr.split('\n')) if (line.startsWith('DIAG')) console.log(`      ${line}`);
      proc = undefined;
      const s = JSON.parse(readFileSync(stats, 'utf8'));
      const tcp = s.stack?.tcp ?? s.tcp;
      const l = tcp.loss as Record<string, number>;
      const resent = l.retransRack + l.retransFast + l.retransRto + l.retransTlp;
      const lostTx = s.impair.tx.lost as number;
      const lostRx = s.impair.rx.lost as number;
      const lost = lostTx + lostRx;
      console.log(`      lost: ${lostTx} data-direction + ${lostRx} ACK-direction; resent ${resent} `
        + `(rack ${l.retransRack}, fast ${l.retransFast}, rto ${l.retransRto}, tlp ${l.retransTlp}); `
        + `spurious ${l.spuriousRetrans}, dsack ${l.dsackReceived}, undos ${l.undos}, recoveries ${l.recoveries}`);
      console.log(`      port: ${JSON.stringify(s.port)}`);
      console.log(`      loss: ${JSON.stringify(l)}`);
      const ns = net.run(['nstat', '-az', 'TcpExtTCPDSACKOldSent', 'TcpExtTCPDSACKOfoSent', 'TcpExtTCPRcvQDrop', 'TcpExtTCPBacklogDrop',
        'TcpExtPruneCalled', 'TcpExtTCPOFODrop', 'TcpExtTCPZeroWindowDrop', 'TcpExtTCPOFOQueue', 'IpExtInNoRoutes', 'TcpInSegs']);
      console.log(`      linux: ${ns.stdout.split('\n').filter((x) => /^\w+\s+[1-9]/.test(x)).map((x) => x.replace(/\s+/g, ' ').replace(/ [0-9.]+$/, '')).join('; ')}`);
      console.log(`      resent / frames lost = ${(resent / lost).toFixed(3)}; resent / data frames lost = ${(resent / lostTx).toFixed(3)}`);
      expect(resent / lost).to.be.at.most(1.15);
    });
  });
