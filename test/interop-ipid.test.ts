import { expect } from 'chai';
import { startTzstack, type Running } from './cli-helpers.js';
import { createVethNs, interopSuite, type TestNet } from './helpers/netns.js';

const PREFIX = 'tzH';

// nmap's OS detection classifies the IP IDs of tzstack's answers: a global counter showed as "Incremental" (an idle-scan zombie).
interopSuite('interop: nmap -O sees no incremental IP ID sequence', PREFIX,
  { initDpdk: false, timeoutMs: 120000, needs: [{ cmd: ['nmap', '--version'], missing: 'nmap' }] }, () => {
    let net: TestNet | undefined;
    let proc: Running | undefined;
    afterEach(async () => {
      if (proc) { proc.kill(); await proc.exited(); proc = undefined; }
      net?.close();
      net = undefined;
    });

    it('IP ID Sequence Generation is not "Incremental"', async () => {
      net = createVethNs(PREFIX, '10.79.12');
      proc = startTzstack(['serve', '--dev', (net as ReturnType<typeof createVethNs>).devargs,
        '--ip', `${net.nearIp}/24`, '--mem', '128']);
      await proc.waitFor(/ready/);
      // One open (80) and one closed port are all -O needs; -n and a short port list keep it quick.
      const r = await net.runAsync(['nmap', '-n', '-O', '-v', '--max-retries', '1', '-p', '80,81', net.nearIp], 100000);
      expect(r.status, r.stderr).to.equal(0);
      const m = /IP ID Sequence Generation: (.*)/.exec(r.stdout);
      expect(m, r.stdout).to.not.equal(null);
      console.log(`      nmap: IP ID Sequence Generation: ${m![1]}`);
      expect(m![1]).to.not.match(/Incremental/);
    });
  });
