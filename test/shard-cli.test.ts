/**
 * `tzstack serve --shards`: what it refuses before touching a device (exit
 * code 2, one line naming the problem) and what its help says.
 */
import { expect } from 'chai';
import { tzstack } from './cli-helpers.js';

describe('cli: serve --shards, refused combinations', () => {
  it('--shards outside 1..64 is a usage error naming the flag', () => {
    const r = tzstack(['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--shards', '0']);
    expect(r.status).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/--shards: 0 is out of range 1\.\.64/);
  });

  it('--shards with --dev mem or with --impair: exit 2 with the reason', () => {
    const mem = tzstack(['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--shards', '2']);
    expect(mem.status).to.equal(2);
    expect(mem.stderr).to.match(/--shards needs a DPDK device with 2 queue\(s\).*qpairs=2/);
    const imp = tzstack(['serve', '--dev', 'net_af_packet0,iface=nonexistent0', '--ip', '10.0.0.1/24', '--shards', '2', '--impair', 'loss=0.1']);
    expect(imp.status).to.equal(2);
    expect(imp.stderr).to.match(/--impair is not available with --shards/);
  });

  it('help lists --shards with what it needs', () => {
    const r = tzstack(['serve', '--help']);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/--shards <n>/);
    expect(r.stdout).to.match(/qpairs=n for net_af_packet/);
  });
});
