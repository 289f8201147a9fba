/**
 * EAL arguments for the ways tzstack runs: the default (no hugepages, no
 * PCI: works anywhere), and hugepages with PCI devices for real NICs. The
 * hugepage run happens in a child process (EAL is once per process) and
 * only where hugepages are free.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Dpdk } from '../src/pmd/dpdk.js';

function freeHugepages(): number {
  try {
    const base = '/sys/kernel/mm/hugepages';
    return readdirSync(base).reduce((n, d) => n + (Number(readFileSync(`${base}/${d}/free_hugepages`, 'utf8')) || 0), 0);
  } catch {
    return 0;
  }
}

describe('dpdk: EAL arguments', () => {
  it('defaults to no hugepages, no PCI, one lcore, a per-process prefix', () => {
    const a = Dpdk.ealArgs();
    expect(a.slice(0, 4)).to.deep.equal(['tzstack', '--no-huge', '-m', '256']);
    expect(a).to.include('--no-pci');
    expect(a[a.indexOf('--file-prefix') + 1]).to.equal(`tzstack-${process.pid}`);
    expect(a[a.indexOf('-l') + 1]).to.match(/^\d+$/);
    expect(a).to.not.include('--in-memory');
  });

  it('runs on hugepages with an allow-list of PCI devices, cores and socket memory', () => {
    const a = Dpdk.ealArgs({ hugepages: true, pci: ['0000:3b:00.0', '3b:00.1,rxq_cqe_comp_en=0'], lcores: '2-5', socketMem: [4096, 0] });
    expect(a).to.not.include('--no-huge');
    expect(a).to.not.include('--no-pci');
    expect(a).to.not.include('-m');
    expect(a.join(' ')).to.include('--socket-mem 4096,0').and.include('-a 0000:3b:00.0 -a 3b:00.1,rxq_cqe_comp_en=0').and.include('-l 2-5');
    expect(Dpdk.ealArgs({ hugepages: true, memMb: 2048, pci: true }).join(' ')).to.match(/^tzstack -m 2048 /).and.not.include('pci');
    expect(Dpdk.ealArgs({ lcores: '(0-3)@2' }).join(' ')).to.include('--lcores (0-3)@2');
  });

  it('refuses combinations EAL would reject', () => {
    expect(() => Dpdk.ealArgs({ extraArgs: ['--in-memory'] })).to.throw(/--in-memory needs hugepages/);
    expect(() => Dpdk.ealArgs({ hugepages: true, extraArgs: ['--in-memory'] })).to.not.throw();
    expect(() => Dpdk.ealArgs({ socketMem: [1024] })).to.throw(/socketMem needs hugepages/);
    expect(() => Dpdk.ealArgs({ pci: ['eth0'] })).to.throw(/not a PCI address/);
    expect(() => Dpdk.ealArgs({ lcores: 'all' })).to.throw(/lcores/);
    expect(() => Dpdk.ealArgs({ hugepages: true, socketMem: '4G' })).to.throw(/socketMem/);
  });

  it('initialises EAL on hugepages (--in-memory) and moves frames over net_ring0, in a child process', function () {
    this.timeout(60000);
    const avail = Dpdk.availability();
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
    if (freeHugepages() < 16) { console.log('    skipping: fewer than 16 free hugepages (echo 32 > /proc/sys/vm/nr_hugepages to run it)'); this.skip(); }
    const dpdkJs = fileURLToPath(new URL('../src/pmd/dpdk.js', import.meta.url));
    const script = `
      const { Dpdk } = await import(${JSON.stringify(dpdkJs)});
      const dpdk = Dpdk.init({ hugepages: true, extraArgs: ['--in-memory'] });
      const pool = dpdk.createPool({ count: 1023 });
      const port = dpdk.openPort('net_ring0', { pool });
      const m = pool.fromBytes(new Uint8Array(64).fill(7));
      const sent = port.txBurst(Uint32Array.of(m), 1);
      const rx = new Uint32Array(4);
      const got = port.rxBurst(rx, 4);
      const ok = got === 1 && pool.toBytes(rx[0]).every((b) => b === 7);
      pool.freeBulk(rx, got);
      port.close();
      console.log(JSON.stringify({ args: dpdk.args, sent, got, ok, inUse: pool.inUse() }));
      dpdk.close();
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 50000 });
    expect(r.status, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { args: string[]; sent: number; got: number; ok: boolean; inUse: number };
    expect(out.args).to.not.include('--no-huge');
    expect(out).to.include({ sent: 1, got: 1, ok: true, inUse: 0 });
  });
});
