/**
 * The benchmark's peers produce figures (never how fast: no test asserts a
 * time or a speed): the lwIP harness over a net_ring pair (its own process),
 * the kernel between two network namespaces over veth (removed afterwards),
 * and the line-rate projection's arithmetic.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { Dpdk } from '../src/pmd/dpdk.js';
import { runLwip } from '../bench/lwip.js';
import { createVeth, vethIperf3, vethNodeRpc } from '../bench/veth.js';
import { LINE_RATE, OFFLOAD_UNIT, project } from '../bench/segrows.js';
import type { SegCostResult } from '../bench/segcost.js';

const has = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

describe('bench peers', function () {
  this.timeout(120000);

  it('lwIP harness: every RPC figure and the bulk one over the shim ring pair, every mbuf returned', async function () {
    const avail = Dpdk.availability();
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    if (!has('pkg-config', ['--exists', 'lwip'])) { console.log('    skipping: liblwip-dev is not installed (npm run setup)'); this.skip(); }
    const r = await runLwip({ warmupMs: 20, durationMs: 150, rpc: [[64, 1], [8192, 4]] });
    expect(r.lwip).to.match(/^2\./);
    expect(r.rpc.map((x) => [x.size, x.conns, x.connsEstablished])).to.deep.equal([[64, 1, 1], [8192, 4, 4]]);
    for (const x of r.rpc) {
      expect(x.requests, `${x.size} x ${x.conns}`).to.be.above(0);
      expect(x.stalled).to.equal(0);
      expect(x.latencyUs.p50).to.be.at.most(x.latencyUs.p99);
    }
    expect(r.bulk).to.not.equal(null);
    expect(r.bulk!.connsEstablished).to.equal(1);
    expect(r.bulk!.bytes).to.be.above(0);
    expect(r.bulk!.dataFrames).to.be.above(0);
    expect(r.writeFailures).to.equal(0);
    expect(r.mbufsLeft).to.equal(0);
  });

  it('veth: iperf3 and Node net RPC between two namespaces; both namespaces are gone afterwards', async function () {
    if (process.getuid?.() !== 0) { console.log('    skipping: needs root for network namespaces'); this.skip(); }
    if (!has('iperf3', ['--version'])) { console.log('    skipping: iperf3 is not installed'); this.skip(); }
    const net = createVeth(1500);
    try {
      const mtu = execFileSync('ip', ['-n', net.serverNs, '-o', 'link', 'show']).toString();
      expect(mtu).to.match(/mtu 1500/);
      const ip = await vethIperf3(net, 1);
      expect(ip, JSON.stringify(ip)).to.not.have.property('error');
      expect((ip as { bytes: number }).bytes).to.be.above(0);
      const rpc = await vethNodeRpc(net, [{ size: 64, conns: 1, warmupMs: 20, durationMs: 150 }, { size: 8192, conns: 4, warmupMs: 20, durationMs: 150 }]);
      expect(rpc).to.have.length(2);
      for (const r of rpc) {
        expect(r, JSON.stringify(r)).to.not.have.property('error');
        expect((r as { requests: number }).requests).to.be.above(0);
      }
    } finally {
      net.remove();
    }
    const left = execFileSync('ip', ['netns', 'list']).toString();
    expect(left).to.not.include(net.serverNs);
    expect(left).to.not.include(net.clientNs);
  });

  it('projection: cores = frames/s x ns per frame, TSO/LRO divide the stack\'s work by the segments per 64 KB', () => {
    const base = { senderNsPerSegment: 0, receiverNsPerSegment: 0, acksPerSegment: 0 } as unknown as SegCostResult;
    // Sender: 100 ns per send + 200 ns per ACK; receiver 300 ns with GRO, 500 ns without.
    const gro = { ...base, senderNsPerSegment: 100 + 0.1 * 200, receiverNsPerSegment: 300, acksPerSegment: 0.1 };
    const noGro = { ...base, senderNsPerSegment: 100 + 0.5 * 200, receiverNsPerSegment: 500, acksPerSegment: 0.5 };
    const p = project(gro, noGro);
    expect(p.note).to.match(/PROJECTION, not a measurement/);
    expect(p.inputs.perAckNs).to.be.closeTo(200, 1e-9);
    expect(p.inputs.perSendNs).to.be.closeTo(100, 1e-9);
    const [off1500, on1500, off9000, on9000] = p.rows;
    expect(off1500.pps).to.equal(LINE_RATE[0].pps);
    expect(off1500.senderCores).to.be.closeTo((8.127e6 * 120) / 1e9, 1e-9);
    expect(off1500.receiverCores).to.be.closeTo((8.127e6 * 300) / 1e9, 1e-9);
    const k = Math.floor(OFFLOAD_UNIT / 1448);
    expect(on1500.segsPerUnit).to.equal(k);
    expect(on1500.senderCores).to.be.closeTo((8.127e6 / k) * 100 / 1e9 + (8.127e6 * 0.1 * 200) / 1e9, 1e-9);
    expect(on1500.receiverCores).to.be.closeTo((8.127e6 / k) * 500 / 1e9, 1e-9);
    expect(off9000.receiverCores).to.be.closeTo((1.383e6 * 300) / 1e9, 1e-9);
    expect(on9000.segsPerUnit).to.equal(Math.floor(OFFLOAD_UNIT / 8948));
    // Noise that makes the ACK slope negative is clamped to no per-ACK cost.
    const q = project({ ...gro, senderNsPerSegment: 400 }, noGro);
    expect(q.inputs.perAckNs).to.equal(0);
    expect(q.inputs.perSendNs).to.equal(400);
  });
});
