/**
 * `tzstack serve --shards 2` against Linux: the CLI server on a sharded
 * stack over `net_af_packet` with two queue pairs (the kernel's fanout
 * spreads flows over the queues), in a namespace over a veth. curl's
 * connections are served by both shards (the `X-Tzstack-Shard` header and
 * the per-shard counters in `--stats` show it), ping answers, SIGINT stops
 * it with every mbuf back and one merged capture of the whole device.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { startTzstack, type Running } from './cli-helpers.js';
import { createVethNs, interopSuite, run, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzV';
const FRAG_TCP = fileURLToPath(new URL('../../test/helpers/frag-tcp.py', import.meta.url));

interface ShardReport {
  app: { services: { http: number; requests: Record<string, number> } };
  steer: Record<string, number>;
  port: { rxPackets: number };
  icmp: { errorsReceived: number; echoRepliesSent: number };
  reassembly: Record<string, number>;
}

interopSuite('cli: tzstack serve --shards 2 into a namespace (net_af_packet, qpairs=2)', PREFIX,
  { initDpdk: false, timeoutMs: 120000, needs: [{ cmd: ['curl', '--version'], missing: 'curl is not installed' }] }, () => {
    let net: VethNet | undefined;
    let proc: Running | undefined;
    let dir: string;

    beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tzV-')); });
    afterEach(async () => {
      if (proc) { proc.kill(); await proc.exited(); proc = undefined; }
      net?.close();
      net = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    it('curl is served by both shards, ping answers, SIGINT: per-shard stats, one capture, every mbuf back', async () => {
      net = createVethNs(PREFIX, '10.153.0');
      const stats = join(dir, 'stats.json');
      const cap = join(dir, 'all.pcap');
      proc = startTzstack(['serve', '--dev', `${net.devargs},qpairs=2`, '--shards', '2', '--ip', `${net.nearIp}/24`,
        '--stats', stats, '--mem', '256', '--mbufs', '4095', '--pcap', cap]);
      await proc.waitFor(/ready/, 60000);
      expect(proc.stdout).to.match(/2 shards/);

      const ping = await net.runAsync(['ping', '-c', '3', '-i', '0.2', '-W', '2', net.nearIp], 30000);
      expect(ping.stdout, ping.stderr).to.match(/3 packets transmitted, 3 received/);

      const answeredBy = [0, 0];
      for (let i = 0; i < 16; i++) {
        const r = await net.runAsync(['curl', '-sS', '-i', '--max-time', '10', `http://${net.nearIp}/`]);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.match(/Hello from tzstack/);
        const m = /x-tzstack-shard: ([01])/i.exec(r.stdout);
        expect(m, r.stdout).to.not.equal(null);
        answeredBy[Number(m![1])]++;
      }
      console.log(`      curls answered per shard: ${answeredBy.join(' / ')}`);
      expect(answeredBy[0], 'shard 0 answered some').to.be.greaterThan(0);
      expect(answeredBy[1], 'shard 1 answered some').to.be.greaterThan(0);

      // SIGUSR2: the per-shard lines while it runs.
      proc.child.kill('SIGUSR2');
      await proc.waitFor(/shard 1: rx \d+/, 10000);
      expect(proc.stdout).to.not.match(/stopping/);
      proc.child.kill('SIGINT');
      expect(await proc.exited()).to.equal(0);
      const out = proc.stdout;
      proc = undefined;
      expect(out).to.match(/shard 0: rx \d+/);
      expect(out).to.match(/shard 1: rx \d+/);
      const s = JSON.parse(readFileSync(stats, 'utf8')) as {
        shards: number; pool: { inUseAtExit: number }; perShard: ShardReport[]; services: { http: number };
        stack: { icmp: { echoRepliesSent: number } }; pcap: { frames: number; parts: number }; port: { rxPackets: number };
      };
      expect(s.shards).to.equal(2);
      expect(s.pool.inUseAtExit, 'mbufs in use at exit').to.equal(0);
      expect(s.perShard.map((x) => x.app.services.http)).to.deep.equal(answeredBy);
      expect(s.services.http).to.equal(16);
      expect(s.stack.icmp.echoRepliesSent).to.equal(3);
      expect(s.pcap.parts).to.equal(2);
      expect(s.pcap.frames, 'the capture holds what the device received and sent').to.be.at.least(16 * 6);
      expect(readdirSync(dir).filter((f) => f.includes('.shard')), 'the per-shard parts are removed').to.deep.equal([]);
      if (run(['tshark', '-v']).status === 0) {
        const t = run(['tshark', '-r', cap, '-Y', 'http.response.code == 200']);
        expect(t.status, t.stderr).to.equal(0);
        expect(t.stdout.trim().split('\n')).to.have.length(16);
      }
    });
  
    it('fragments and ICMP errors: a fragmented ping is answered; fragmented requests reach the shard of their connection; ICMP errors too', async () => {
      net = createVethNs(PREFIX, '10.153.1');
      const stats = join(dir, 'stats.json');
      proc = startTzstack(['serve', '--dev', `${net.devargs},qpairs=2`, '--shards', '2', '--ip', `${net.nearIp}/24`,
        '--stats', stats, '--mem', '256', '--mbufs', '4095', '--services', 'http']);
      await proc.waitFor(/ready/, 60000);
      // 1628-byte datagrams: Linux sends two fragments, tzstack's reply goes out in two. (DPDK's af_packet PMD joins
      // its queues with PACKET_FANOUT_FLAG_DEFRAG: the kernel reassembles before the fanout, so each datagram reaches
      // one queue whole; one larger than the ring's 2 KB frames would be truncated there.)
      const ping = await net.runAsync(['ping', '-c', '3', '-s', '1600', '-i', '0.2', '-W', '2', net.nearIp], 30000);
      expect(ping.stdout, ping.stderr).to.match(/3 packets transmitted, 3 received/);

      // A raw client at an address the namespace's kernel does not own (no RSTs from it): 12 connections.
      const conns = 12;
      const r = await net.runAsync(['python3', FRAG_TCP, net.farIf, '10.153.1.3', net.nearIp, '80', String(conns)], 60000);
      expect(r.status, r.stderr).to.equal(0);
      const res = JSON.parse(r.stdout) as Array<{ sport: number; shard: number; ok: boolean }>;
      const owned = [0, 0];
      for (const c of res) { expect(c, JSON.stringify(c)).to.include({ ok: true }); owned[c.shard]++; }
      console.log(`      fragmented requests answered per shard: ${owned.join(' / ')}`);

      proc.child.kill('SIGTERM');
      expect(await proc.exited()).to.equal(0);
      proc = undefined;
      const s = JSON.parse(readFileSync(stats, 'utf8')) as { pool: { inUseAtExit: number }; perShard: ShardReport[]; stack: ShardReport };
      expect(s.pool.inUseAtExit).to.equal(0);
      const st = s.perShard.map((x) => x.steer);
      console.log(`      steering: ${JSON.stringify(st.map((x) => ({ toOwner: x.fragmentsToOwner, steered: x.fragmentsSteered, kept: x.fragmentsKept, icmp: x.icmpErrorsForwarded, learned: x.flowsLearned })))}`);
      // Over af_packet the kernel has joined the fragments before the fanout (see above): the shards see whole
      // datagrams, placed with their flow. Fragments reaching a queue as fragments are placed by the owner (test/shard-stack).
      expect(st[0].fragmentsDropped + st[1].fragmentsDropped).to.equal(0);
      // The ICMP error about each connection reached the shard holding it.
      expect(s.perShard.map((x) => x.icmp.errorsReceived)).to.deep.equal(owned);
      expect(s.stack.icmp.echoRepliesSent).to.equal(3);
    });
  });
