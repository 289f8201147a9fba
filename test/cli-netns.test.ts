import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTzstack, type Running } from './cli-helpers.js';
import { createTapNs, createVethNs, interopSuite, run, tapName, type TestNet } from './helpers/netns.js';

const PREFIX = 'tzT';

/** Byte i of GET /bytes/<n> (src/app/pattern.ts). */
function patternSha256(n: number): string {
  const h = createHash('sha256');
  const chunk = new Uint8Array(65536);
  for (let done = 0; done < n; done += chunk.length) {
    const k = Math.min(chunk.length, n - done);
    for (let i = 0; i < k; i++) chunk[i] = ((done + i) * 31 + 7) & 0xff;
    h.update(chunk.subarray(0, k));
  }
  return h.digest('hex');
}

// The stack runs in tzstack's own process: DPDK must be usable, but is not initialised here.
interopSuite('cli: tzstack serve into a namespace (net_af_packet, net_tap)', PREFIX, { initDpdk: false }, () => {
  let net: TestNet | undefined;
  let proc: Running | undefined;
  let dir: string;

  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tzT-netns-')); });
  afterEach(async () => {
    if (proc) {
      proc.kill();
      await proc.exited();
      proc = undefined;
    }
    net?.close();
    net = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 5 pings and ARP, serves HTTP, and writes its stats on SIGINT', async () => {
    const veth = createVethNs(PREFIX, '10.73.1');
    net = veth;
    const stats = join(dir, 'stats.json');
    proc = startTzstack(['serve', '--dev', veth.devargs, '--ip', `${net.nearIp}/24`, '--stats', stats, '--mem', '128', '--pcap', join(dir, 'cap.pcap')]);
    await proc.waitFor(/ready/);
    const mac = /mac ([0-9a-f:]{17})/.exec(proc.stdout)![1];

    const ping = await net.runAsync(['ping', '-c', '5', '-i', '0.2', '-W', '2', net.nearIp], 30000);
    expect(ping.stdout, ping.stderr).to.match(/5 packets transmitted, 5 received/);
    expect(net.neighbour(net.nearIp)).to.include(mac);

    const curlOk = run(['curl', '--version']).status === 0;
    if (curlOk && /tcp services/.test(proc.stdout)) {
      const page = await net.runAsync(['curl', '-sS', '--max-time', '20', `http://${net.nearIp}/`], 30000);
      expect(page.status, page.stderr).to.equal(0);
      expect(page.stdout).to.match(/tzstack/);
      const n = 1 << 20;
      const body = await net.runAsync(`curl -sS --max-time 60 http://${net.nearIp}/bytes/${n} | sha256sum`, 90000);
      expect(body.status, body.stderr).to.equal(0);
      expect(body.stdout.split(' ')[0]).to.equal(patternSha256(n));
    }

    proc.child.kill('SIGINT');
    expect(await proc.exited()).to.equal(0);
    proc = undefined;
    const s = JSON.parse(readFileSync(stats, 'utf8'));
    expect(s.pool.inUseAtExit).to.equal(0);
    expect(s.port.rxPackets).to.be.at.least(6);
    expect(s.port.txPackets).to.be.at.least(6);
    expect(s.pcap.frames).to.be.at.least(12);
    if (run(['tshark', '-v']).status === 0) {
      const t = run(['tshark', '-r', join(dir, 'cap.pcap'), '-Y', 'icmp.type == 0']);
      expect(t.status, t.stderr).to.equal(0);
      expect(t.stdout.trim().split('\n')).to.have.length(5);
    }
    const ns = net.ns;
    net.close();
    net = undefined;
    expect(run(['ip', 'netns', 'list']).stdout).to.not.include(ns);
  });

  it('keeps answering with loss injected on its side', async () => {
    const veth = createVethNs(PREFIX, '10.73.2');
    net = veth;
    proc = startTzstack(['serve', '--dev', veth.devargs, '--ip', `${net.nearIp}/24`, '--mem', '128', '--services', 'none',
      '--impair', 'loss=0.3,seed=5,dir=rx']);
    await proc.waitFor(/ready/);
    const ping = await net.runAsync(['ping', '-c', '20', '-i', '0.05', '-W', '1', net.nearIp], 30000);
    const m = /(\d+) received/.exec(ping.stdout);
    expect(m, ping.stdout + ping.stderr).to.not.equal(null);
    const got = Number(m![1]);
    // about 70% arrive (ARP is impaired too); never all of 20 at 30% loss with this seed, never none
    expect(got).to.be.within(3, 19);
    proc.child.kill('SIGTERM');
    expect(await proc.exited()).to.equal(0);
    proc = undefined;
  });

  it('answers ping over net_tap0 moved into a namespace', async () => {
    const tap = tapName(PREFIX);
    const stats = join(dir, 'stats.json');
    proc = startTzstack(['serve', '--dev', `net_tap0,iface=${tap}`, '--ip', '10.73.3.1/24', '--mem', '128', '--services', 'none', '--stats', stats]);
    await proc.waitFor(/ready/);
    net = createTapNs(PREFIX, '10.73.3', tap);
    const ping = await net.runAsync(['ping', '-c', '5', '-i', '0.2', '-W', '2', net.nearIp], 30000);
    expect(ping.stdout, ping.stderr).to.match(/5 packets transmitted, 5 received/);
    proc.child.kill('SIGTERM');
    expect(await proc.exited()).to.equal(0);
    proc = undefined;
    expect(JSON.parse(readFileSync(stats, 'utf8')).pool.inUseAtExit).to.equal(0);
  });
});
