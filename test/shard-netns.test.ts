/**
 * The sharded stack against Linux: two shards on a `net_af_packet` port with
 * two queue pairs (the kernel's PACKET_FANOUT hash spreads flows over the
 * queues; the device has no RSS of its own), in a namespace over a veth.
 * curl's connections land on both shards (the per-shard counters show it),
 * and each shard's own connections to a Python HTTP server in the
 * namespace complete, with replies the fanout puts on the other queue
 * handed over in software. Every mbuf back after close.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ShardedStack, sumStats } from '../src/shard/sharded.js';
import { createVethNs, interopSuite, nsSpawn, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzH';
const APP = new URL('./helpers/shard-http-app.js', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interopSuite('shard: two shards on net_af_packet with 2 queue pairs, Linux in a namespace', PREFIX,
  { timeoutMs: 90000, needs: [{ cmd: ['curl', '--version'], missing: 'curl is not installed' }] }, (ctx) => {
    let net: VethNet | undefined;
    let sharded: ShardedStack | undefined;
    let py: ChildProcess | undefined;
    let dir: string | undefined;

    afterEach(async () => {
      py?.kill('SIGKILL');
      py = undefined;
      if (sharded) { const r = await sharded.close(); sharded = undefined; expect(r.mbufsInUse, 'mbufs left').to.equal(0); }
      net?.close();
      net = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it('curl from the namespace is served by both shards; each shard fetches from the namespace', async () => {
      net = createVethNs(PREFIX, '10.152.0.0');
      sharded = await ShardedStack.start({
        dpdk: ctx.dpdk, dev: `${net.devargs},qpairs=2`, shards: 2, ip: `${net.nearIp}/24`, module: APP, mbufs: 4095,
      });
      expect(sharded.info()).to.include({ shards: 2, steering: 'software' });
      const bodies: string[] = [];
      for (let i = 0; i < 16; i++) {
        const r = await net.runAsync(['curl', '-s', '--max-time', '10', `http://${net.nearIp}/`]);
        expect(r.status, r.stderr).to.equal(0);
        bodies.push(r.stdout.trim());
      }
      const st = await sharded.stats();
      const per = st.shards.map((s) => (s!.app as { requests: number }).requests);
      console.log(`      curl requests per shard: ${per.join(' / ')}`);
      expect(per[0] + per[1]).to.equal(16);
      expect(per[0], 'shard 0 served some').to.be.greaterThan(0);
      expect(per[1], 'shard 1 served some').to.be.greaterThan(0);
      for (const b of bodies) expect(b).to.match(/^hello from shard [01]$/);

      // Each shard connects out; the fanout puts some replies on the other queue.
      dir = mkdtempSync(join(tmpdir(), 'tzH-'));
      writeFileSync(join(dir, 'index.html'), 'sharded-fetch-ok\n');
      py = nsSpawn(net.ns, ['python3', '-m', 'http.server', '-b', net.farIp, '8000', '-d', dir], { stdio: 'ignore' });
      for (let i = 0; i < 50 && net.run(['sh', '-c', `ss -ltn | grep -q ':8000'`]).status !== 0; i++) await sleep(100);
      const res = await new Promise<Array<{ shard: number; ok: number }>>((resolve) => {
        const got: Array<{ shard: number; ok: number }> = [];
        sharded!.on('message', (_s: number, d: { shard: number; ok: number }) => { got.push(d); if (got.length === 2) resolve(got); });
        sharded!.send(-1, { fetch: net!.farIp, port: 8000, n: 4 });
      });
      for (const r of res) expect(r.ok, `shard ${r.shard}`).to.equal(4);
      // The final counters, once every shard has stopped: whatever one shard handed over, the other took.
      const rep = await sharded.close();
      sharded = undefined;
      expect(rep.mbufsInUse, 'mbufs left').to.equal(0);
      const steer = sumStats(rep.shards.map((s) => s!)).steer as Record<string, number>;
      console.log(`      segments handed to their shard in software: ${steer.forwardedOut}, ARP copies: ${steer.arpCopiesOut}`);
      expect(steer.forwardedIn, 'handed over = taken (segments, ARP and ND copies, fragments)')
        .to.equal(steer.forwardedOut + steer.arpCopiesOut + steer.ndCopiesOut + steer.fragmentsToOwner + steer.fragmentsSteered);
      expect(steer.forwardDropped).to.equal(0);
    });
  });
